"""`StoredState`: the CSMS state kept in a database, SQLite or PostgreSQL (`ocppfast.storage`).

It is a `CsmsState` whose every change is also written: the in-memory records stay the
working copy that handlers read and change synchronously (no query per message), and what
changed is committed in groups (`GroupCommit`) before the answers that acknowledge it leave:
`barrier()` gives the connection the commit to wait for (issue 6: "writes that acknowledge a
station's message are committed before the CALLRESULT is sent").

- At `open()`: the schema is migrated, and stations, connector statuses, id tokens and the
  transactions not yet ended are loaded.
- Rows that are state (a station, a connector, a transaction) are written as they are at commit
  time, once per batch however many messages changed them; rows that are history (meter values,
  transaction events, notifications and reports) are appended.
- A finished transaction may have left memory (`max_finished_transactions`); a message about
  one that is not in memory loads it first (`missing()` / `load_transaction()`), so a late or
  repeated message never overwrites what is stored with a partial record.

One `ocppfast serve` process per database: the state in memory is this process's.
"""

from __future__ import annotations

import collections
import datetime
import logging
from collections.abc import Iterable
from typing import Any

import msgspec

from ..asyncio.auth import PasswordRecord
from ..storage import Database, GroupCommit, Migration, Statement, open_database, timestamp
from .operations import Operation, ProfileRecord, Reservation
from .state import (
    BootInfo,
    ConnectorStatus,
    CsmsState,
    EventStream,
    FrameRecord,
    IdTokenRecord,
    OperationStatus,
    Report,
    Sample,
    SecurityEvent,
    StationRecord,
    TransactionEventData,
    TransactionIds,
    TransactionKey,
    TransactionRecord,
)

__all__ = ["MIGRATIONS", "StoredState", "close_state", "open_state"]

log = logging.getLogger("ocppfast.csms")

MIGRATIONS: list[Migration] = [
    # 1: stations, connectors, id tokens, transactions and their events and meter values,
    # and the other messages stations send (notifications, report parts).
    """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE stations (
    key TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    version TEXT NOT NULL,
    registration_status TEXT,
    boot {json},
    booted_at {timestamp},
    connected_at {timestamp},
    disconnected_at {timestamp},
    last_seen {timestamp},
    last_heartbeat {timestamp},
    operations {json}
);
CREATE TABLE connectors (
    station_key TEXT NOT NULL REFERENCES stations (key) ON DELETE CASCADE,
    evse_id INTEGER NOT NULL,
    connector_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    timestamp {timestamp} NOT NULL,
    error_code TEXT,
    info TEXT,
    vendor_id TEXT,
    vendor_error_code TEXT,
    PRIMARY KEY (station_key, evse_id, connector_id)
);
CREATE TABLE id_tokens (
    key TEXT PRIMARY KEY,
    id_token TEXT NOT NULL,
    type TEXT,
    status TEXT NOT NULL,
    expires_at {timestamp},
    parent_id TEXT,
    group_id TEXT,
    updated_at {timestamp} NOT NULL
);
CREATE TABLE transactions (
    station_key TEXT NOT NULL REFERENCES stations (key) ON DELETE CASCADE,
    transaction_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    version TEXT NOT NULL,
    evse_id INTEGER,
    connector_id INTEGER,
    id_token TEXT,
    id_token_type TEXT,
    stop_id_token TEXT,
    started_at {timestamp},
    ended_at {timestamp},
    ended {bool} NOT NULL,
    meter_start {float},
    meter_stop {float},
    stop_reason TEXT,
    charging_state TEXT,
    remote_start_id INTEGER,
    reservation_id INTEGER,
    offline {bool} NOT NULL,
    last_seq_no INTEGER,
    first_reading_at {timestamp},
    first_reading {float},
    last_reading_at {timestamp},
    last_reading {float},
    PRIMARY KEY (station_key, transaction_id)
);
CREATE INDEX transactions_by_state ON transactions (ended, station_key);
CREATE TABLE transaction_events (
    station_key TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    seq_no INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    trigger_reason TEXT NOT NULL,
    timestamp {timestamp} NOT NULL,
    offline {bool} NOT NULL,
    PRIMARY KEY (station_key, transaction_id, seq_no),
    FOREIGN KEY (station_key, transaction_id)
        REFERENCES transactions (station_key, transaction_id) ON DELETE CASCADE
);
CREATE TABLE meter_values (
    id {serial},
    station_key TEXT NOT NULL REFERENCES stations (key) ON DELETE CASCADE,
    transaction_id TEXT,
    location_id INTEGER,
    timestamp {timestamp} NOT NULL,
    value_text TEXT NOT NULL,
    value {float},
    measurand TEXT NOT NULL,
    unit TEXT,
    phase TEXT,
    location TEXT,
    context TEXT,
    signed {bool} NOT NULL
);
CREATE INDEX meter_values_by_transaction ON meter_values (station_key, transaction_id);
CREATE TABLE events (
    id {serial},
    station_key TEXT NOT NULL REFERENCES stations (key) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    request_id INTEGER,
    received_at {timestamp} NOT NULL,
    data {json} NOT NULL
);
CREATE INDEX events_by_station ON events (station_key, kind, id);
""",
    # 2: registration (registered, the operator's decision, the Basic auth password's scrypt
    # record), and the traffic log. Stations stored by version 1 were all accepted and recorded
    # under the "open" policy: registered.
    """
ALTER TABLE stations ADD COLUMN registered {bool} NOT NULL DEFAULT TRUE;
ALTER TABLE stations ADD COLUMN approval TEXT;
ALTER TABLE stations ADD COLUMN password TEXT;
CREATE TABLE frames (
    id {serial},
    station_key TEXT NOT NULL,
    at {timestamp} NOT NULL,
    direction TEXT NOT NULL,
    frame TEXT NOT NULL
);
CREATE INDEX frames_by_station ON frames (station_key, id);
CREATE INDEX frames_by_time ON frames (at);
""",
    # 3: what operators asked stations to do (ocppfast.csms.operations): firmware updates and
    # log uploads, reservations, and the charging profiles 1.6 stations accepted, one row each
    # (kind "operation", "reservation", "profile"), as JSON.
    """
CREATE TABLE station_items (
    station_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    data {json} NOT NULL,
    PRIMARY KEY (station_key, kind, item_id)
);
""",
    # 4: security (issue 10): the station's security profile (SW A05.FR.09: no connection
    # below it; NULL: not yet known), and the pending new password of a rotation (SW A01),
    # a scrypt record like `password`.
    """
ALTER TABLE stations ADD COLUMN security_profile INTEGER;
ALTER TABLE stations ADD COLUMN password_pending TEXT;
""",
]

_STATION_COLUMNS = (
    "key, identity, version, registration_status, boot, booted_at, connected_at,"
    " disconnected_at, last_seen, last_heartbeat, operations, registered, approval, password,"
    " security_profile, password_pending"
)
_CONNECTOR_COLUMNS = (
    "station_key, evse_id, connector_id, status, timestamp, error_code, info, vendor_id,"
    " vendor_error_code"
)
_TRANSACTION_COLUMNS = (
    "station_key, transaction_id, identity, version, evse_id, connector_id, id_token,"
    " id_token_type, stop_id_token, started_at, ended_at, ended, meter_start, meter_stop,"
    " stop_reason, charging_state, remote_start_id, reservation_id, offline, last_seq_no,"
    " first_reading_at, first_reading, last_reading_at, last_reading"
)


def _upsert(table: str, columns: str, key: str) -> str:
    names = [name.strip() for name in columns.split(",")]
    keys = {name.strip() for name in key.split(",")}
    updates = ", ".join(f"{name} = excluded.{name}" for name in names if name not in keys)
    marks = ", ".join("?" for _ in names)
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({marks})"
        f" ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


_UPSERT_STATION = _upsert("stations", _STATION_COLUMNS, "key")
_UPSERT_CONNECTOR = _upsert("connectors", _CONNECTOR_COLUMNS, "station_key, evse_id, connector_id")
_UPSERT_TRANSACTION = _upsert("transactions", _TRANSACTION_COLUMNS, "station_key, transaction_id")
_INSERT_EVENT = (
    "INSERT INTO transaction_events (station_key, transaction_id, seq_no, event_type,"
    " trigger_reason, timestamp, offline) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (station_key, transaction_id, seq_no) DO NOTHING"
)
_INSERT_SAMPLE = (
    "INSERT INTO meter_values (station_key, transaction_id, location_id, timestamp, value_text,"
    " value, measurand, unit, phase, location, context, signed)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_MESSAGE = (
    "INSERT INTO events (station_key, kind, request_id, received_at, data) VALUES (?, ?, ?, ?, ?)"
)
_INSERT_FRAME = "INSERT INTO frames (station_key, at, direction, frame) VALUES (?, ?, ?, ?)"
_SAMPLE_COLUMNS = "timestamp, value_text, value, measurand, unit, phase, location, context, signed"
_UPSERT_META = _upsert("meta", "key, value", "key")
_UPSERT_TOKEN = _upsert(
    "id_tokens", "key, id_token, type, status, expires_at, parent_id, group_id, updated_at", "key"
)
_DELETE_TOKEN = "DELETE FROM id_tokens WHERE key = ?"
_UPSERT_ITEM = _upsert(
    "station_items", "station_key, kind, item_id, data", "station_key, kind, item_id"
)
_DELETE_ITEM = "DELETE FROM station_items WHERE station_key = ? AND kind = ? AND item_id = ?"
_ITEMS: dict[str, tuple[msgspec.json.Decoder[Any], str]] = {
    "operation": (msgspec.json.Decoder(Operation), "operations"),
    "reservation": (msgspec.json.Decoder(Reservation), "reservations"),
    "profile": (msgspec.json.Decoder(ProfileRecord), "profiles"),
}

_encode = msgspec.json.Encoder().encode


class _SecurityEventData(msgspec.Struct, rename="camel"):
    # What `record()` stored of a SecurityEventNotification (its JSON, as on the wire).
    type: str
    timestamp: datetime.datetime
    tech_info: str | None = None


_SECURITY_EVENT_DATA = msgspec.json.Decoder(_SecurityEventData)
_OPERATIONS = msgspec.json.Decoder(dict[str, OperationStatus])
_BOOT = msgspec.json.Decoder(BootInfo)
# Frames of the traffic log dropped per write when they expire.
PURGE_CHUNK = 5000
# Transactions whose absence from the database was looked up, remembered so that a station
# repeating a message about one does not cost a query each time; forgotten beyond this many.
_ABSENT_LIMIT = 10_000


def _json(value: Any) -> str:
    return _encode(value).decode()


def _text_id(transaction_id: int | str) -> str:
    return str(transaction_id)


class StoredState(CsmsState):
    """A `CsmsState` kept in `database` (open it with `await state.open()`, close it with
    `await state.close()`); the other arguments are `CsmsState`'s."""

    def __init__(self, database: Database, **options: Any) -> None:
        super().__init__(**options)
        self.database = database
        self.committer = GroupCommit(database, self._collect, self._restore)
        self._stations: dict[str, StationRecord] = {}
        self._connectors: set[tuple[str, int, int]] = set()
        self._transactions: dict[TransactionKey, TransactionRecord] = {}
        self._appended: list[tuple[str, tuple[Any, ...]]] = []
        self._meta = False
        self._collected: tuple[Any, ...] | None = None
        self._absent: dict[TransactionKey, None] = {}
        self._awaited = False  # changes that answers must wait for are pending
        # A rotated password the station used (Server -> Credentials.promote): store the row.
        self.credentials.promoted = self._password_promoted

    # -- opening and closing -------------------------------------------------------------

    async def open(self) -> None:
        """Open the database, migrate its schema, and load what a running CSMS keeps in memory."""
        await self.database.open()
        await self.database.migrate("csms", MIGRATIONS)
        meta = dict(await self.database.fetch("SELECT key, value FROM meta"))
        if "transaction_id_key" in meta:
            self.transaction_ids = TransactionIds(
                bytes.fromhex(meta["transaction_id_key"]), int(meta["transaction_id_counter"])
            )
        else:  # a new key, written now
            self._meta = True
            self._changed()
        if "file_secret" in meta:
            self.file_secret = bytes.fromhex(meta["file_secret"])
        else:  # kept from now on, so that the URLs given to stations outlive a restart
            self._append(_UPSERT_META, ("file_secret", self.file_secret.hex()))
        await self._load_stations()
        for key, kind, item_id, data in await self.database.fetch(
            "SELECT station_key, kind, item_id, data FROM station_items ORDER BY item_id"
        ):
            decoder, name = _ITEMS[kind]
            item = decoder.decode(data)
            getattr(self, name).setdefault(key, {})[item_id] = item
        for mine in self.operations.values():  # by creation, as the API lists them
            ordered = sorted(mine.values(), key=lambda o: o.created_at)
            mine.clear()
            mine.update((o.id, o) for o in ordered)
        for token, kind, status, expires, parent, group in await self.database.fetch(
            "SELECT id_token, type, status, expires_at, parent_id, group_id FROM id_tokens"
        ):
            super().set_token(IdTokenRecord(token, status, timestamp(expires), parent, group, kind))
        await self._load_transactions("t.ended = ?", False)
        log.info(
            "%s: %d stations, %d transactions in progress",
            self.database.display_url,
            len(self.stations),
            len(self.active_transactions()),
        )

    async def close(self) -> None:
        """Commit what is pending, then close the database."""
        try:
            await self.flush()
        finally:
            await self.database.close()

    async def _load_stations(self) -> None:
        for row in await self.database.fetch("SELECT " + _STATION_COLUMNS + " FROM stations"):
            (
                key,
                identity,
                version,
                status,
                boot,
                booted,
                connected,
                disconnected,
                seen,
                beat,
                ops,
                registered,
                approval,
                password,
                security_profile,
                password_pending,
            ) = row
            record = StationRecord(identity, version)
            record.security_profile = security_profile
            record.registration_status = status
            record.registered = bool(registered)
            record.approval = approval
            if password:
                self.credentials.set_record(identity, PasswordRecord.decode(password))
            if password_pending:
                self.credentials.set_pending(identity, PasswordRecord.decode(password_pending))
            record.boot = _BOOT.decode(boot) if boot else None
            record.booted_at = timestamp(booted)
            record.connected_at = timestamp(connected)
            record.disconnected_at = timestamp(disconnected)
            record.last_seen = timestamp(seen)
            record.last_heartbeat = timestamp(beat)
            if ops:
                record.operations = _OPERATIONS.decode(ops)
            self.stations[key] = record
        for row in await self.database.fetch("SELECT " + _CONNECTOR_COLUMNS + " FROM connectors"):
            station = self.stations.get(row[0])
            if station is not None:
                station.connectors[(row[1], row[2])] = ConnectorStatus(
                    row[3], timestamp(row[4]) or datetime.datetime.min, *row[5:]
                )

    async def _read_transactions(
        self, where: str, params: tuple[Any, ...], tail: str = ""
    ) -> list[tuple[TransactionKey, TransactionRecord]]:
        """The transactions `WHERE where` (on the transactions table, t), ordered and limited
        by `tail`, with the seqNo of their events: two queries, however many transactions."""
        chosen = f"SELECT t.station_key, t.transaction_id FROM transactions t WHERE {where} {tail}"
        seq_nos: dict[tuple[str, str], set[int]] = {}
        for station_key, transaction_id, seq_no in await self.database.fetch(
            "SELECT e.station_key, e.transaction_id, e.seq_no FROM transaction_events e"
            f" JOIN ({chosen}) c ON c.station_key = e.station_key"
            " AND c.transaction_id = e.transaction_id",
            *params,
        ):
            seq_nos.setdefault((station_key, transaction_id), set()).add(seq_no)
        found = []
        columns = ", ".join("t." + name.strip() for name in _TRANSACTION_COLUMNS.split(","))
        for row in await self.database.fetch(
            f"SELECT {columns} FROM transactions t WHERE {where} {tail}", *params
        ):
            station_key, transaction_id = row[0], row[1]
            version = row[3]
            record = TransactionRecord(
                row[2],
                int(transaction_id) if version == "ocpp1.6" else transaction_id,
                version,
                evse_id=row[4],
                connector_id=row[5],
                id_token=row[6],
                id_token_type=row[7],
                stop_id_token=row[8],
                started_at=timestamp(row[9]),
                ended_at=timestamp(row[10]),
                ended=bool(row[11]),
                meter_start=row[12],
                meter_stop=row[13],
                stop_reason=row[14],
                charging_state=row[15],
                remote_start_id=row[16],
                reservation_id=row[17],
                offline=bool(row[18]),
                last_seq_no=row[19],
                samples=collections.deque(maxlen=self.max_samples),
            )
            if row[20] is not None:
                record.first_reading = (timestamp(row[20]), row[21])  # type: ignore[assignment]
            if row[22] is not None:
                record.last_reading = (timestamp(row[22]), row[23])  # type: ignore[assignment]
            record.seq_nos = seq_nos.get((station_key, transaction_id), set())
            found.append(((station_key, record.transaction_id), record))
        return found

    async def _load_transactions(self, where: str, *params: Any) -> list[TransactionRecord]:
        """Load the transactions `WHERE where` into memory (see `_read_transactions`)."""
        loaded = []
        for key, record in await self._read_transactions(where, params):
            self.transactions[key] = record
            if record.ended:
                self._finished.append((key, record))
            else:
                self._active.setdefault(key[0], set()).add(key)
            loaded.append(record)
        return loaded

    # -- transactions that left memory ---------------------------------------------------

    def missing(self, identity: str, transaction_id: int | str) -> bool:
        """Whether the transaction is neither in memory nor known to be absent from the
        database: `load_transaction()` it before handling a message about it."""
        key = (identity.casefold(), transaction_id)
        return key not in self.transactions and key not in self._absent

    async def load_transaction(self, identity: str, transaction_id: int | str) -> bool:
        """Load a transaction from the database into memory; return whether it was there."""
        key: TransactionKey = (identity.casefold(), transaction_id)
        if key in self.transactions:
            return True
        loaded = await self._load_transactions(
            "t.station_key = ? AND t.transaction_id = ?",
            key[0],
            _text_id(transaction_id),
        )
        if loaded:
            return True
        if key not in self.transactions:  # nor created while the query ran
            self._absent[key] = None
            while len(self._absent) > _ABSENT_LIMIT:
                del self._absent[next(iter(self._absent))]
        return False

    # -- what is to be written -----------------------------------------------------------

    def barrier(self) -> Any:
        """The commit that the answers to what was handled until now wait for, if any: one
        holding what messages changed (the traffic log's rows alone hold no answer back)."""
        return self.committer.barrier() if self._awaited else None

    async def flush(self) -> None:
        """Wait until every change made until now is committed."""
        await self.committer.flush()

    def _changed(self) -> None:
        # Every change asks for a commit, which answers wait for: the first of a batch
        # schedules it.
        self._awaited = True
        if not self.committer.pending:
            self.committer.barrier()

    def _station_changed(self, key: str, record: StationRecord) -> None:
        self._stations[key] = record
        self._changed()

    def _transaction_changed(self, record: TransactionRecord) -> None:
        key = record.identity.casefold()
        self._stations.setdefault(key, self.stations[key])  # the row it refers to
        self._transactions[(key, record.transaction_id)] = record
        self._absent.pop((key, record.transaction_id), None)
        self._changed()

    def _append(self, sql: str, row: tuple[Any, ...]) -> None:
        self._appended.append((sql, row))
        self._changed()

    def _samples(
        self,
        identity: str,
        transaction_id: int | str | None,
        location_id: int | None,
        samples: Iterable[Sample],
    ) -> None:
        key = identity.casefold()
        tx = None if transaction_id is None else _text_id(transaction_id)
        append = self._appended.append
        self._changed()
        for s in samples:
            append(
                (
                    _INSERT_SAMPLE,
                    (
                        key,
                        tx,
                        location_id,
                        s.timestamp,
                        s.text,
                        s.value,
                        s.measurand,
                        s.unit,
                        s.phase,
                        s.location,
                        s.context,
                        s.signed,
                    ),
                )
            )

    def _message(
        self, identity: str, kind: str, request_id: int | None, now: datetime.datetime, data: Any
    ) -> None:
        # The station's row, which this one refers to, is written with it: the state's
        # method that calls this one changed the station (`CsmsState._station`).
        self._append(_INSERT_MESSAGE, (identity.casefold(), kind, request_id, now, _json(data)))

    def _collect(self) -> list[Statement]:
        stations, connectors = self._stations, self._connectors
        transactions, appended, meta = self._transactions, self._appended, self._meta
        self._stations, self._connectors, self._transactions, self._appended = {}, set(), {}, []
        self._meta = self._awaited = False
        self._collected = (stations, connectors, transactions, appended, meta)
        statements: list[Statement] = []
        if stations:
            statements.append(
                (_UPSERT_STATION, [self._station_row(k, r) for k, r in stations.items()])
            )
        if connectors:
            rows = []
            for key, evse_id, connector_id in connectors:
                status = self.stations[key].connectors[(evse_id, connector_id)]
                rows.append(
                    (
                        key,
                        evse_id,
                        connector_id,
                        status.status,
                        status.timestamp,
                        status.error_code,
                        status.info,
                        status.vendor_id,
                        status.vendor_error_code,
                    )
                )
            statements.append((_UPSERT_CONNECTOR, rows))
        if transactions:
            statements.append(
                (_UPSERT_TRANSACTION, [self._transaction_row(r) for r in transactions.values()])
            )
        if meta:
            ids = self.transaction_ids
            statements.append(
                (
                    _UPSERT_META,
                    [
                        ("transaction_id_key", ids.key.hex()),
                        ("transaction_id_counter", str(ids.counter)),
                    ],
                )
            )
        # History rows, in order, a statement per run of the same kind.
        run_sql: str | None = None
        run: list[tuple[Any, ...]] = []
        for sql, row in appended:
            if sql != run_sql:
                if run_sql is not None:
                    statements.append((run_sql, run))
                run_sql, run = sql, []
            run.append(row)
        if run_sql is not None:
            statements.append((run_sql, run))
        return statements

    def _restore(self) -> None:
        if self._collected is None:
            return
        stations, connectors, transactions, appended, meta = self._collected
        self._collected = None
        for key, value in stations.items():
            self._stations.setdefault(key, value)
        self._connectors |= connectors
        for key, value in transactions.items():
            self._transactions.setdefault(key, value)
        self._appended[:0] = appended
        self._meta = self._meta or meta

    def _station_row(self, key: str, r: StationRecord) -> tuple[Any, ...]:
        password = self.credentials.record(key)
        pending = self.credentials.pending(key)
        return (
            key,
            r.identity,
            r.version,
            r.registration_status,
            _json(r.boot) if r.boot is not None else None,
            r.booted_at,
            r.connected_at,
            r.disconnected_at,
            r.last_seen,
            r.last_heartbeat,
            _json(r.operations) if r.operations else None,
            r.registered,
            r.approval,
            password.encode() if password is not None else None,
            r.security_profile,
            pending.encode() if pending is not None else None,
        )

    @staticmethod
    def _transaction_row(r: TransactionRecord) -> tuple[Any, ...]:
        first = r.first_reading or (None, None)
        last = r.last_reading or (None, None)
        return (
            r.identity.casefold(),
            _text_id(r.transaction_id),
            r.identity,
            r.version,
            r.evse_id,
            r.connector_id,
            r.id_token,
            r.id_token_type,
            r.stop_id_token,
            r.started_at,
            r.ended_at,
            r.ended,
            r.meter_start,
            r.meter_stop,
            r.stop_reason,
            r.charging_state,
            r.remote_start_id,
            r.reservation_id,
            r.offline,
            r.last_seq_no,
            first[0],
            first[1],
            last[0],
            last[1],
        )

    # -- CsmsState, written ----------------------------------------------------------------

    def connector_status(
        self, identity: str, evse_id: int, connector_id: int, status: ConnectorStatus
    ) -> ConnectorStatus | None:
        previous = super().connector_status(identity, evse_id, connector_id, status)
        self._connectors.add((identity.casefold(), evse_id, connector_id))
        return previous

    def _item_changed(self, kind: str, identity: str, item_id: int, item: Any) -> None:
        key = identity.casefold()
        if item is None:
            self._append(_DELETE_ITEM, (key, kind, item_id))
        else:
            self._append(_UPSERT_ITEM, (key, kind, item_id, _json(item)))

    def set_password(self, identity: str, password: PasswordRecord | None) -> None:
        super().set_password(identity, password)
        self._station(identity)  # the row that keeps it, written with the next commit

    def _password_promoted(self, identity: str) -> None:
        self._station(identity)  # its row, with the new password, goes with the next commit

    def set_pending_password(self, identity: str, password: PasswordRecord | None) -> None:
        super().set_pending_password(identity, password)
        self._station(identity)  # kept, so that a rotation survives a restart (SW A01)

    def set_token(self, record: IdTokenRecord) -> None:
        super().set_token(record)
        self._append(
            _UPSERT_TOKEN,
            (
                record.id_token.casefold(),
                record.id_token,
                record.type,
                record.status,
                record.expires_at,
                record.parent_id,
                record.group_id,
                datetime.datetime.now(datetime.timezone.utc),
            ),
        )

    def delete_token(self, id_token: str) -> bool:
        known = super().delete_token(id_token)
        if known:
            self._append(_DELETE_TOKEN, (id_token.casefold(),))
        return known

    def start_transaction(
        self,
        identity: str,
        connector_id: int,
        id_tag: str,
        meter_start: int,
        timestamp: datetime.datetime,
        reservation_id: int | None = None,
    ) -> tuple[TransactionRecord, bool]:
        record, new = super().start_transaction(
            identity, connector_id, id_tag, meter_start, timestamp, reservation_id
        )
        if new:
            self._meta = True  # the counter of transaction ids moved, written with it
            self._transaction_changed(record)
        return record, new

    def stop_transaction(
        self,
        identity: str,
        transaction_id: int,
        meter_stop: int,
        timestamp: datetime.datetime,
        reason: str | None = None,
        id_tag: str | None = None,
        samples: Iterable[Sample] = (),
    ) -> tuple[TransactionRecord | None, bool]:
        samples = list(samples)
        record, ended = super().stop_transaction(
            identity, transaction_id, meter_stop, timestamp, reason, id_tag, samples
        )
        if record is not None and ended:
            self._transaction_changed(record)
            self._samples(identity, transaction_id, record.connector_id, samples)
        return record, ended

    def transaction_event(
        self, identity: str, version: str, event: TransactionEventData
    ) -> tuple[TransactionRecord, bool]:
        record, new = super().transaction_event(identity, version, event)
        if new:
            self._transaction_changed(record)
            key = identity.casefold()
            self._append(
                _INSERT_EVENT,
                (
                    key,
                    event.transaction_id,
                    event.seq_no,
                    event.event_type,
                    event.trigger_reason,
                    event.timestamp,
                    event.offline,
                ),
            )
            self._samples(identity, event.transaction_id, record.evse_id, event.samples)
        return record, new

    def meter_values(
        self,
        identity: str,
        location_id: int,
        transaction_id: int | str | None,
        samples: Iterable[Sample],
    ) -> TransactionRecord | None:
        samples = list(samples)
        record = super().meter_values(identity, location_id, transaction_id, samples)
        if record is not None:
            self._transaction_changed(record)
        self._samples(identity, record.transaction_id if record else None, location_id, samples)
        return record

    def report(
        self,
        identity: str,
        kind: str,
        request_id: int,
        items: Iterable[Any],
        now: datetime.datetime,
        *,
        seq_no: int | None = None,
        tbc: bool = False,
        generated_at: datetime.datetime | None = None,
    ) -> Report:
        items = list(items)
        station = self.station(identity)
        earlier = station.reports.get((kind, request_id)) if station is not None else None
        repeat = seq_no is not None and earlier is not None and seq_no in earlier.seq_nos
        report = super().report(
            identity,
            kind,
            request_id,
            items,
            now,
            seq_no=seq_no,
            tbc=tbc,
            generated_at=generated_at,
        )
        if not repeat:
            self._message(
                identity,
                kind,
                request_id,
                now,
                {"seqNo": seq_no, "tbc": tbc, "generatedAt": generated_at, "items": items},
            )
        return report

    def record(self, identity: str, kind: str, data: Any, now: datetime.datetime) -> None:
        super().record(identity, kind, data, now)
        request_id = getattr(data, "request_id", None)  # absent (or UNSET) in most
        self._message(
            identity, kind, request_id if isinstance(request_id, int) else None, now, data
        )

    def open_event_stream(
        self,
        identity: str,
        stream_id: int,
        now: datetime.datetime,
        *,
        variable_monitoring_id: int | None = None,
        interval: int | None = None,
        values_per_message: int | None = None,
    ) -> bool:
        accepted = super().open_event_stream(
            identity,
            stream_id,
            now,
            variable_monitoring_id=variable_monitoring_id,
            interval=interval,
            values_per_message=values_per_message,
        )
        self._message(
            identity,
            "OpenPeriodicEventStream",
            stream_id,
            now,
            {
                "interval": interval,
                "values": values_per_message,
                "variableMonitoringId": variable_monitoring_id,
            },
        )
        return accepted

    def close_event_stream(self, identity: str, stream_id: int, now: datetime.datetime) -> None:
        super().close_event_stream(identity, stream_id, now)
        self._message(identity, "ClosePeriodicEventStream", stream_id, now, {})

    def event_stream_data(
        self,
        identity: str,
        stream_id: int,
        values: int,
        pending: int,
        basetime: datetime.datetime,
        now: datetime.datetime,
    ) -> EventStream:
        stream = super().event_stream_data(identity, stream_id, values, pending, basetime, now)
        self._message(
            identity,
            "NotifyPeriodicEventStream",
            stream_id,
            now,
            {"values": values, "pending": pending, "basetime": basetime},
        )
        return stream

    # -- the traffic log and the operator's queries ----------------------------------------
    # Read from the database once what is pending is committed: it holds the finished
    # transactions that left memory, and the meter values memory does not keep.

    def log_frame(self, identity: str, direction: str, frame: str, now: datetime.datetime) -> None:
        # Written with the next commit, which no frame waits for: the log of a frame never
        # holds that frame back, and a failure to write it closes no connection.
        if self.traffic_limit:
            self._appended.append((_INSERT_FRAME, (identity.casefold(), now, direction, frame)))
            if not self.committer.pending:
                self.committer.barrier()

    async def traffic(
        self, identity: str, *, before: int | None = None, limit: int = 100
    ) -> list[FrameRecord]:
        await self.flush()
        where = "station_key = ?"
        params: list[Any] = [identity.casefold()]
        if before is not None:
            where += " AND id < ?"
            params.append(before)
        station = self.station(identity)
        name = station.identity if station is not None else identity
        return [
            FrameRecord(row[0], name, timestamp(row[1]) or datetime.datetime.min, row[2], row[3])
            for row in await self.database.fetch(
                f"SELECT id, at, direction, frame FROM frames WHERE {where}"
                " ORDER BY id DESC LIMIT ?",
                *params,
                limit,
            )
        ]

    async def purge_traffic(self, older_than: datetime.datetime) -> int:
        # In chunks, each its own write: one DELETE of a week of frames would hold the writer
        # (and so every answer waiting for a commit) for as long as it takes.
        await self.flush()  # the frames logged until now are in the table
        dropped = 0
        while True:
            rows = await self.database.fetch(
                "SELECT id FROM frames WHERE at < ? ORDER BY id LIMIT ?", older_than, PURGE_CHUNK
            )
            if not rows:
                return dropped
            await self.database.write(
                [("DELETE FROM frames WHERE id <= ? AND at < ?", [(rows[-1][0], older_than)])]
            )
            dropped += len(rows)
            if len(rows) < PURGE_CHUNK:
                return dropped

    async def security_events(
        self, identity: str, *, limit: int = 100, offset: int = 0
    ) -> list[SecurityEvent]:
        # Every one received: rows of `events` (migration 1), by the index on (station_key,
        # kind, id).
        await self.flush()
        found = []
        for received_at, data in await self.database.fetch(
            "SELECT received_at, data FROM events WHERE station_key = ? AND kind = ?"
            " ORDER BY id DESC LIMIT ? OFFSET ?",
            identity.casefold(),
            "SecurityEventNotification",
            limit,
            offset,
        ):
            event = _SECURITY_EVENT_DATA.decode(data)
            found.append(
                SecurityEvent(
                    event.type,
                    event.timestamp,
                    event.tech_info,
                    timestamp(received_at) or datetime.datetime.min,
                )
            )
        return found

    def _in_memory(
        self, found: list[tuple[TransactionKey, TransactionRecord]]
    ) -> list[TransactionRecord]:
        # The record in memory, where there is one: the same content, and its samples.
        return [self.transactions.get(key, record) for key, record in found]

    async def transactions_page(
        self,
        *,
        identity: str | None = None,
        active: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[TransactionRecord]:
        await self.flush()
        conditions = ["1 = 1"]
        params: list[Any] = []
        if identity is not None:
            conditions.append("t.station_key = ?")
            params.append(identity.casefold())
        if active is not None:
            conditions.append("t.ended = ?")
            params.append(not active)
        found = await self._read_transactions(
            " AND ".join(conditions),
            (*params, limit, offset),
            "ORDER BY (t.started_at IS NULL), t.started_at DESC, t.transaction_id LIMIT ? OFFSET ?",
        )
        return self._in_memory(found)

    async def find_transactions(
        self, transaction_id: str, identity: str | None = None
    ) -> list[TransactionRecord]:
        await self.flush()
        where, params = "t.transaction_id = ?", [transaction_id]
        if identity is not None:
            where += " AND t.station_key = ?"
            params.append(identity.casefold())
        return self._in_memory(await self._read_transactions(where, tuple(params)))

    async def transaction_samples(
        self, record: TransactionRecord, *, limit: int = 1000, offset: int = 0
    ) -> list[Sample]:
        await self.flush()
        return [
            Sample(
                timestamp(row[0]) or datetime.datetime.min,
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                row[6],
                row[7],
                bool(row[8]),
            )
            for row in await self.database.fetch(
                f"SELECT {_SAMPLE_COLUMNS} FROM meter_values"
                " WHERE station_key = ? AND transaction_id = ? ORDER BY id LIMIT ? OFFSET ?",
                record.identity.casefold(),
                _text_id(record.transaction_id),
                limit,
                offset,
            )
        ]


async def open_state(database: str, *, metrics: Any = None, **options: Any) -> CsmsState:
    """The CSMS state of a `--database` value: a `CsmsState` for "memory", else a
    `StoredState` on that database URL, opened (migrated and loaded). `metrics` (an
    `ocppfast.metrics.Metrics`), when given, counts its commits; `options` are CsmsState's.
    Raises StorageError when the database cannot be opened. Close it with `close_state`."""
    if database == "memory":
        return CsmsState(**options)
    state = StoredState(open_database(database), **options)
    if metrics is not None:
        state.committer.on_commit = metrics.commit
        state.committer.on_failure = metrics.commit_failed
    await state.open()
    return state


async def close_state(state: CsmsState) -> None:
    """Close what `open_state` opened: a `StoredState` stores what is pending (StorageError
    when it cannot); an in-memory state has nothing to close."""
    if isinstance(state, StoredState):
        await state.close()
