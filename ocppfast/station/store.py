"""What a charging station keeps across restarts and power cuts, in SQLite (WAL).

A real charger must not lose transaction data whatever happens to its link or its power
(C16 3.7, 2.0.1 E11/E13: TC_E_40..45_CS). Every station therefore keeps, in a `StationData`:

- `settings`: what the CSMS configured: 1.6 configuration keys, 2.x device model attribute
  values (text, as on the wire). Passwords are kept here too, never read back over OCPP.
- `state`: what the station was doing: transactions in progress, availability, counters,
  list versions (JSON values, by name).
- `tokens`: id token lists by kind (the authorization cache, the local authorization list), each
  token with its JSON info.
- `queue`: the messages still to deliver, in the order they happened, each written to disk
  before it is considered sent; removed once the CSMS has answered it (or it was given up).

Writes are synchronous calls that return the future of the commit holding them: one SQLite
transaction per event-loop turn for every station of the process (`storage.GroupCommit`), so a
thousand stations metering at once cost one fsync, not a thousand. Await the future where the
spec needs the write on disk first (a queued message before it is sent); the writes of one
station are committed in the order they were made.

`StationData.in_memory(identity)` keeps the same things without a file (library use and tests:
nothing survives the process). `StationStore.open(path)` opens (or creates) the file; many
stations share one store, each under its identity. One process at a time: SQLite lets several
processes open one file (its own locks are per transaction), and two simulators running the same
stations would undo each other's data, so `open` refuses a file another process holds
(`DataFileLocked`).
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..storage import GroupCommit, Statement
from ..storage.sqlite import SQLiteDatabase

__all__ = [
    "DEFAULT_QUEUE_LIMIT",
    "NEVER_SHED",
    "SHED_FIRST",
    "SHED_LATER",
    "DataFileLocked",
    "Queued",
    "StationData",
    "StationStore",
]

log = logging.getLogger("ocppfast.station")

DEFAULT_QUEUE_LIMIT = 10_000
"""Messages a station's queue holds before it sheds (at about 1 KiB each, 10 MiB of disk)."""

# What a full queue gives up first (the issue: never a transaction's start or end).
SHED_FIRST = 2
"""Not transaction-related (a StatusNotification, a MeterValues outside a transaction)."""
SHED_LATER = 1
"""Transaction-related samples: 1.6 MeterValues of a transaction, 2.x TransactionEvent Updated."""
NEVER_SHED = 0
"""A transaction's start and end (1.6 Start/StopTransaction, 2.x TransactionEvent Started and
Ended) and anything else whose loss the spec forbids (security events)."""

MIGRATIONS = [
    """
CREATE TABLE station_settings (
    station TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (station, name)
);
CREATE TABLE station_state (
    station TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (station, name)
);
CREATE TABLE station_tokens (
    station TEXT NOT NULL,
    kind TEXT NOT NULL,
    token TEXT NOT NULL,
    info TEXT NOT NULL,
    PRIMARY KEY (station, kind, token)
);
CREATE TABLE station_queue (
    station TEXT NOT NULL,
    seq INTEGER NOT NULL,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    shed INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    PRIMARY KEY (station, seq)
)
"""
]


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class DataFileLocked(RuntimeError):
    """Another process holds the station data file (`path`); `holder` is its process id when
    it wrote one."""

    def __init__(self, path: Path, holder: int | None) -> None:
        by = f"process {holder}" if holder is not None else "another process"
        super().__init__(f"{path} is in use by {by}")
        self.path = path
        self.holder = holder


def _lock(path: Path) -> int:
    """Lock the data file `path` for this process (the descriptor that holds the lock), or raise
    `DataFileLocked` at once. The lock is an exclusive `flock` on `<path>.lock` (created beside
    it, with the holder's process id in it); the system drops it when the descriptor is closed
    or the process ends, however it ends. Creates the folder."""
    lock_path = path.with_name(path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder: int | None = int(os.read(fd, 32).decode().strip())
        except (OSError, ValueError):
            holder = None
        os.close(fd)
        raise DataFileLocked(path, holder) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _settle(written: asyncio.Future[None], commit: asyncio.Future[None]) -> None:
    """Give one write's future the outcome of the commit that holds it (`StationStore.write`)."""
    if written.done():  # its waiter was cancelled
        return
    if commit.cancelled():
        written.cancel()
        return
    error = commit.exception()
    if error is None:
        written.set_result(None)
    else:
        written.set_exception(error)
        written.exception()  # retrieved: the commit's failure is logged once, by GroupCommit


@dataclass(eq=False)
class Queued:
    """A message waiting for delivery: `payload` is its JSON text, `shed` its class
    (`NEVER_SHED`, `SHED_LATER`, `SHED_FIRST`), `attempts` the deliveries the CSMS failed to
    process so far. `seq` orders the queue (it grows, never reused within a station)."""

    seq: int
    action: str
    payload: str
    shed: int = NEVER_SHED
    attempts: int = 0
    # The commit that put it on disk (already done for one loaded at start).
    stored: asyncio.Future[None] | None = field(default=None, repr=False)

    def decoded(self) -> Any:
        """The payload as Python values."""
        return orjson.loads(self.payload)


class StationData:
    """What one station keeps across restarts (module docstring). Read the attributes; change
    them only through the methods, which write through to the store."""

    def __init__(self, identity: str, store: StationStore | None = None) -> None:
        self.identity = identity
        self.settings: dict[str, str] = {}
        self.state: dict[str, Any] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.queue: list[Queued] = []
        self.queue_limit = DEFAULT_QUEUE_LIMIT
        self._store = store
        self._next_seq = 1
        self._settled: asyncio.Future[None] | None = None

    @classmethod
    def in_memory(cls, identity: str) -> StationData:
        """Data that lives as long as the object (no file): nothing survives the process."""
        return cls(identity)

    @property
    def persistent(self) -> bool:
        """Whether the data survives the process (it has a store)."""
        return self._store is not None

    # -- writes -------------------------------------------------------------------------------

    def set_setting(self, name: str, value: str | None) -> asyncio.Future[None]:
        """Keep a setting's text (None forgets it)."""
        if value is None:
            self.settings.pop(name, None)
            return self._write(
                "DELETE FROM station_settings WHERE station = ? AND name = ?", (name,)
            )
        self.settings[name] = value
        return self._write(
            "INSERT INTO station_settings (station, name, value) VALUES (?, ?, ?)"
            " ON CONFLICT (station, name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def set_state(self, name: str, value: Any) -> asyncio.Future[None]:
        """Keep a JSON-encodable value under `name` (None forgets it)."""
        if value is None:
            self.state.pop(name, None)
            return self._write("DELETE FROM station_state WHERE station = ? AND name = ?", (name,))
        self.state[name] = value
        return self._write(
            "INSERT INTO station_state (station, name, value) VALUES (?, ?, ?)"
            " ON CONFLICT (station, name) DO UPDATE SET value = excluded.value",
            (name, _json(value)),
        )

    def set_token(self, kind: str, token: str, info: Any) -> asyncio.Future[None]:
        """Keep a token's JSON-encodable info in list `kind` (None removes the token)."""
        tokens = self.tokens.setdefault(kind, {})
        if info is None:
            tokens.pop(token, None)
            return self._write(
                "DELETE FROM station_tokens WHERE station = ? AND kind = ? AND token = ?",
                (kind, token),
            )
        tokens[token] = info
        return self._write(
            "INSERT INTO station_tokens (station, kind, token, info) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (station, kind, token) DO UPDATE SET info = excluded.info",
            (kind, token, _json(info)),
        )

    def clear_tokens(self, kind: str) -> asyncio.Future[None]:
        """Empty list `kind`."""
        self.tokens.pop(kind, None)
        return self._write("DELETE FROM station_tokens WHERE station = ? AND kind = ?", (kind,))

    def push(
        self, action: str, payload: str, shed: int = NEVER_SHED
    ) -> tuple[Queued | None, list[Queued]]:
        """Append a message (its JSON text) to the queue; return it (with `stored`, the future
        of the commit that puts it on disk) and the messages shed to make room for it.

        When the queue holds `queue_limit` messages, the oldest message of the highest `shed`
        class present goes (SHED_FIRST before SHED_LATER) if it is not more precious than the
        new one; otherwise the new one is not queued (None, and it is the one shed). NEVER_SHED
        messages are never dropped, even beyond the limit."""
        shed_now: list[Queued] = []
        if len(self.queue) >= self.queue_limit:
            for wanted in (SHED_FIRST, SHED_LATER):
                victim = next((item for item in self.queue if item.shed == wanted), None)
                if victim is not None and wanted >= shed:
                    self.remove(victim)
                    shed_now.append(victim)
                    break
            else:
                if shed != NEVER_SHED:
                    # Nothing less precious to drop: this one is the one to go.
                    return None, [Queued(0, action, payload, shed)]
        item = Queued(self._next_seq, action, payload, shed)
        self._next_seq += 1
        self.queue.append(item)
        item.stored = self._write(
            "INSERT INTO station_queue (station, seq, action, payload, shed, attempts)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (item.seq, action, payload, shed, 0),
        )
        return item, shed_now

    def update(self, item: Queued) -> asyncio.Future[None]:
        """Write a queued message's changed payload or attempts."""
        return self._write(
            "UPDATE station_queue SET payload = ?, attempts = ? WHERE station = ? AND seq = ?",
            (item.payload, item.attempts, self.identity, item.seq),
            scoped=False,
        )

    def remove(self, item: Queued) -> asyncio.Future[None]:
        """Take a message out of the queue (delivered, or given up)."""
        if item in self.queue:
            self.queue.remove(item)
        return self._write("DELETE FROM station_queue WHERE station = ? AND seq = ?", (item.seq,))

    def clear_queue(self) -> asyncio.Future[None]:
        """Empty the queue."""
        self.queue.clear()
        return self._write("DELETE FROM station_queue WHERE station = ?", ())

    async def flush(self) -> None:
        """Wait until every write made so far is on disk."""
        if self._store is not None:
            await self._store.flush()

    def _write(
        self, sql: str, params: tuple[Any, ...], *, scoped: bool = True
    ) -> asyncio.Future[None]:
        if self._store is None:
            return self._done()
        return self._store.write(sql, (self.identity, *params) if scoped else params)

    def _done(self) -> asyncio.Future[None]:
        # One settled future serves every write that needs no commit: awaiting a done future
        # never suspends, so no waiter can cancel it, and it never holds an exception.
        if self._settled is None:
            self._settled = asyncio.get_running_loop().create_future()
            self._settled.set_result(None)
        return self._settled

    def _loaded(self, kind: str, rows: Iterable[tuple[Any, ...]]) -> None:
        if kind == "settings":
            self.settings = {name: value for name, value in rows}
        elif kind == "state":
            self.state = {name: orjson.loads(value) for name, value in rows}
        elif kind == "tokens":
            for list_kind, token, info in rows:
                self.tokens.setdefault(list_kind, {})[token] = orjson.loads(info)
        else:
            done = self._done()
            self.queue = [
                Queued(seq, action, payload, shed, attempts, done)
                for seq, action, payload, shed, attempts in rows
            ]
            self._next_seq = (self.queue[-1].seq + 1) if self.queue else 1


class StationStore:
    """The SQLite file of one or many stations (WAL, `synchronous=FULL`: a commit survives a
    power cut), held by one process. Open with `await StationStore.open(path)`, then
    `await store.load(identity)` for each station; `await store.close()` at the end (it commits
    what is pending and lets another process have the file)."""

    def __init__(self, database: SQLiteDatabase, lock: int | None = None) -> None:
        self.database = database
        self._lock = lock  # the descriptor holding the file's lock (`_lock`)
        self._pending: list[Statement] = []
        self._collected: list[Statement] = []
        self._commits = GroupCommit(database, self._collect, self._restore)

    @classmethod
    async def open(cls, path: str | os.PathLike[str], *, lock: bool = True) -> StationStore:
        """Open (creating it and its folder if need be) the SQLite file at `path`, locked for
        this store until `close()`: `DataFileLocked` if another process (or store) holds it.
        `lock=False` opens it without the lock: a look at a file another store holds (what is
        on disk now), never to run stations on."""
        file = Path(path).absolute()
        held = _lock(file) if lock else None
        try:
            database = SQLiteDatabase(f"sqlite:///{file}")
            await database.open()
            try:
                await database.migrate("station", MIGRATIONS)
            except BaseException:
                await database.close()
                raise
        except BaseException:
            if held is not None:
                os.close(held)
            raise
        return cls(database, held)

    async def load(self, identity: str) -> StationData:
        """Everything stored for station `identity` (empty for a new one)."""
        data = StationData(identity, self)
        fetch = self.database.fetch
        data._loaded(
            "settings",
            await fetch("SELECT name, value FROM station_settings WHERE station = ?", identity),
        )
        data._loaded(
            "state",
            await fetch("SELECT name, value FROM station_state WHERE station = ?", identity),
        )
        data._loaded(
            "tokens",
            await fetch("SELECT kind, token, info FROM station_tokens WHERE station = ?", identity),
        )
        data._loaded(
            "queue",
            await fetch(
                "SELECT seq, action, payload, shed, attempts FROM station_queue"
                " WHERE station = ? ORDER BY seq",
                identity,
            ),
        )
        return data

    def write(self, sql: str, params: tuple[Any, ...]) -> asyncio.Future[None]:
        """Schedule one statement; return the future of the commit that holds it.

        Each write gets its own future, settled when the shared commit is: a waiter that is
        cancelled must not cancel the commit for all. A failed commit is logged once by
        `GroupCommit`; the futures of its writes raise `StorageError` to whoever awaits them,
        but their exception counts as retrieved, so the writes nobody awaits (most of them)
        do not each log "Future exception was never retrieved"."""
        self._pending.append((sql, [params]))
        commit = self._commits.barrier()
        written: asyncio.Future[None] = commit.get_loop().create_future()
        commit.add_done_callback(functools.partial(_settle, written))
        return written

    async def flush(self) -> None:
        """Wait until every write made so far is committed."""
        if self._pending or self._commits.pending:
            await self._commits.flush()

    async def close(self) -> None:
        """Commit what is pending and close the file."""
        try:
            await self.flush()
        finally:
            try:
                await self.database.close()
            finally:
                if self._lock is not None:
                    os.close(self._lock)  # closing drops the flock
                    self._lock = None

    def _collect(self) -> list[Statement]:
        self._collected, self._pending = self._pending, []
        return self._collected

    def _restore(self) -> None:
        self._pending[:0] = self._collected
        self._collected = []
