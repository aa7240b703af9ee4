"""The database interface every storage backend implements, and what they share: migrations
written once for both dialects, timestamps, and group commit.

A `Database` runs SQL written once, with `?` placeholders and the portable subset of SQL that
SQLite (3.24 and later) and PostgreSQL share: `INSERT ... ON CONFLICT (...) DO UPDATE SET
col = excluded.col` among it. Schema scripts name their column types through a few words that
each dialect spells its own way (`{timestamp}`, `{json}`, `{serial}`, ...: `DIALECT_TYPES`).

Values passed in and read back are Python values: `str`, `int`, `float`, `bool`, `None`, and
aware `datetime` for `{timestamp}` columns (SQLite keeps them as text, in one fixed format so
that they sort; read them back with `timestamp()`, which takes either form). `{json}` columns
take and give text (encode it yourself: asyncpg's jsonb codec and SQLite both work on text).
"""

from __future__ import annotations

import abc
import asyncio
import datetime
import logging
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "DIALECT_TYPES",
    "Database",
    "GroupCommit",
    "Migration",
    "Statement",
    "StorageError",
    "timestamp",
]

log = logging.getLogger("ocppfast.storage")

RETRY_SECONDS = 1.0
"""Seconds before writes whose commit failed are tried again."""

Statement = tuple[str, Sequence[Sequence[Any]]]
"""One statement and the rows of parameters it runs with (executemany)."""

Migration = str
"""A schema script: statements separated by `;` at the end of a line, types as `{name}`."""

DIALECT_TYPES: dict[str, dict[str, str]] = {
    "sqlite": {
        # Text in one fixed format (`_SQLITE_TIMESTAMP`): it sorts as time does.
        "timestamp": "TEXT",
        "json": "TEXT",
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "bool": "BOOLEAN",
        "float": "REAL",
        "bigint": "INTEGER",
    },
    "postgresql": {
        "timestamp": "TIMESTAMPTZ",
        "json": "JSONB",
        "serial": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "bool": "BOOLEAN",
        "float": "DOUBLE PRECISION",
        "bigint": "BIGINT",
    },
}

# Microseconds always written, UTC always "+00:00": every stored timestamp has the same length
# and the same offset, so text comparison (ORDER BY, <) is time comparison.
_SQLITE_TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%f+00:00"


class StorageError(Exception):
    """The database failed or refused what was asked (the message says which and what to do)."""


def sqlite_timestamp(value: datetime.datetime) -> str:
    """An aware datetime as SQLite keeps it: UTC text in one fixed format."""
    if value.tzinfo is None:
        raise ValueError(f"naive timestamp {value!r}: storage keeps aware (UTC) times only")
    return value.astimezone(datetime.timezone.utc).strftime(_SQLITE_TIMESTAMP)


def timestamp(value: Any) -> datetime.datetime | None:
    """A `{timestamp}` column as read from either dialect: an aware UTC datetime, or None."""
    if value is None or isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.fromisoformat(value)


def render(migration: Migration, dialect: str) -> list[str]:
    """The statements of `migration` in `dialect`."""
    text = migration.format(**DIALECT_TYPES[dialect])
    return [part.strip() for part in text.split(";\n") if part.strip()]


class Database(abc.ABC):
    """A connection (or pool) to one database. Open it with `open()`, which also applies the
    migrations given; `close()` when done."""

    dialect: str
    """"sqlite" or "postgresql"."""

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def display_url(self) -> str:
        """The URL for logs and messages: without its password, nor its query (libpq takes
        `?password=` too)."""
        parts = urllib.parse.urlsplit(self.url)
        if parts.password is None and not parts.query:
            return self.url
        netloc = parts.netloc
        if parts.password is not None:
            netloc = f"{parts.username}:***@{netloc.rpartition('@')[2]}"
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect (creating the database file where the dialect does)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close every connection. Writes in progress complete first."""

    @abc.abstractmethod
    async def fetch(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """The rows of one query."""

    @abc.abstractmethod
    async def write(self, statements: Sequence[Statement]) -> None:
        """Run `statements` in order, each with its rows, in one database transaction: all of
        them are committed (durably: SQLite fsyncs its log, PostgreSQL its WAL) or none."""

    async def migrate(self, component: str, migrations: Sequence[Migration]) -> int:
        """Apply the migrations of `component` that this database has not had yet, each in its
        own transaction, in order; return the schema version now in force (the number of
        migrations). A database with a newer schema than this code knows is refused."""
        await self.write(
            [
                (
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " component TEXT NOT NULL, version INTEGER NOT NULL,"
                    f" applied_at {DIALECT_TYPES[self.dialect]['timestamp']} NOT NULL,"
                    " PRIMARY KEY (component, version))",
                    [()],
                )
            ]
        )
        rows = await self.fetch(
            "SELECT MAX(version) FROM schema_migrations WHERE component = ?", component
        )
        current = rows[0][0] or 0
        if current > len(migrations):
            raise StorageError(
                f"{self.display_url} has {component} schema version {current}, newer than this "
                f"ocppfast knows ({len(migrations)}): upgrade ocppfast, or use another database"
            )
        for version in range(current + 1, len(migrations) + 1):
            statements: list[Statement] = [
                (sql, [()]) for sql in render(migrations[version - 1], self.dialect)
            ]
            statements.append(
                (
                    "INSERT INTO schema_migrations (component, version, applied_at)"
                    " VALUES (?, ?, ?)",
                    [(component, version, datetime.datetime.now(datetime.timezone.utc))],
                )
            )
            await self.write(statements)
            log.info("%s: %s schema migrated to version %d", self.display_url, component, version)
        return len(migrations)


class GroupCommit:
    """Commits what the event loop gathered, many messages' writes in one database transaction.

    `barrier()` says that something will be written: it returns the future of the commit that
    will hold it. The first barrier of a batch schedules the commit for the next turn of the
    loop, so every message read in this turn shares it; while one commit runs, the next batch
    gathers. When the commit runs, `collect()` returns the statements to write: the state as it
    is then (a record changed by ten messages is written once). If the write fails,
    `restore()` is called, to mark what was collected as still to write (it is retried with the
    next batch), and the batch's future fails: whoever waited on it must not acknowledge what
    was not stored.

    For metrics: `on_commit(seconds, rows)` is called after each successful commit with the
    seconds its write took and the rows of parameters it wrote; `on_failure()` after each
    failed one. Both are attributes too, so they can be set after construction.
    """

    def __init__(
        self,
        database: Database,
        collect: Callable[[], list[Statement]],
        restore: Callable[[], None],
        *,
        on_commit: Callable[[float, int], None] | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self.database = database
        self._collect = collect
        self._restore = restore
        self.on_commit = on_commit
        self.on_failure = on_failure
        self._next: asyncio.Future[None] | None = None  # the batch being gathered
        self._running: asyncio.Task[None] | None = None

    def barrier(self) -> asyncio.Future[None]:
        """The future of the commit that will include what was changed until now."""
        next_commit = self._next
        if next_commit is None:
            loop = asyncio.get_running_loop()
            next_commit = self._next = loop.create_future()
            if self._running is None:
                loop.call_soon(self._start)
        return next_commit

    @property
    def pending(self) -> bool:
        """Whether a batch is waiting to be committed."""
        return self._next is not None

    def _start(self) -> None:
        if self._running is None and self._next is not None:
            self._running = asyncio.ensure_future(self._commit())

    async def _commit(self) -> None:
        try:
            while self._next is not None:
                batch, self._next = self._next, None
                statements = self._collect()
                started = time.perf_counter()
                try:
                    if statements:
                        await self.database.write(statements)
                except Exception as exc:
                    self._restore()
                    log.error(
                        "%s: commit failed (%s); unacknowledged messages are not answered",
                        self.database.display_url,
                        exc,
                    )
                    if self.on_failure is not None:
                        self._report(self.on_failure)
                    if not batch.done():
                        batch.set_exception(StorageError(f"commit failed: {exc}"))
                        batch.exception()  # retrieved: a waiter may have gone
                    # What was restored is tried again, after a pause (not in a tight loop
                    # while the database is down).
                    asyncio.get_running_loop().call_later(RETRY_SECONDS, self._retry)
                    continue
                if not batch.done():
                    batch.set_result(None)
                if statements and self.on_commit is not None:
                    rows = sum(len(params) for _, params in statements)
                    self._report(self.on_commit, time.perf_counter() - started, rows)
        finally:
            self._running = None

    def _report(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            callback(*args)
        except Exception:  # a metrics callback never stops the commits
            log.exception("%s: commit callback %r failed", self.database.display_url, callback)

    def _retry(self) -> None:
        if self._next is None:
            self.barrier()

    async def flush(self) -> None:
        """Wait until everything changed until now is committed, including what a failed
        commit left to retry (raises StorageError if the commit fails)."""
        # Shielded: the batch's future is shared, and a cancelled waiter must not cancel it.
        await asyncio.shield(self.barrier())
