"""The CSMS state kept in a database (`ocppfast.csms.store`, `ocppfast.storage`), on SQLite and
on PostgreSQL (the `database_url` fixture: both, each a real database).

What is checked: the schema migrates once and refuses a newer one; a batch commits whole or not
at all; what stations send is in the database once the answer is out (issue 6: "committed
before the CALLRESULT is sent"), survives a restart, and is stored once however often a station
repeats it; one station cannot touch another's transaction.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from typing import Any

import pytest
from websockets.asyncio.client import connect

from ocppfast import v16, v201
from ocppfast._core import BACKEND, Backend
from ocppfast.asyncio import Connection, Server
from ocppfast.csms import default_csms
from ocppfast.csms.state import TransactionIds
from ocppfast.csms.store import MIGRATIONS, StoredState
from ocppfast.exceptions import SessionClosedError
from ocppfast.storage import Database, StorageError, open_database
from ocppfast.transport.websocket import WebSocketTransport
from tests.aio import run, until
from tests.test_csms_default import station

T0 = datetime.datetime(2026, 11, 21, 9, 30, tzinfo=datetime.timezone.utc)


async def opened(url: str, **options: Any) -> StoredState:
    state = StoredState(open_database(url), **options)
    await state.open()
    return state


async def rows(database: Database, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return await database.fetch(sql, *params)


def meter_value(at: datetime.datetime, wh: int, context: str | None = None) -> v16.MeterValue:
    sampled = v16.SampledValue(value=str(wh))
    if context is not None:
        sampled = v16.SampledValue(value=str(wh), context=v16.ReadingContext(context))
    return v16.MeterValue(timestamp=at, sampled_value=[sampled])


# -- the database layer -----------------------------------------------------------------------


def test_migrations_apply_once_and_a_newer_schema_is_refused(database_url: str) -> None:
    async def main() -> None:
        database = open_database(database_url)
        await database.open()
        try:
            assert await database.migrate("csms", MIGRATIONS) == len(MIGRATIONS)
            assert await database.migrate("csms", MIGRATIONS) == len(MIGRATIONS)
            versions = await database.fetch(
                "SELECT version FROM schema_migrations WHERE component = ?", "csms"
            )
            assert [v for (v,) in versions] == list(range(1, len(MIGRATIONS) + 1))
            with pytest.raises(StorageError, match="newer than this ocppfast knows"):
                await database.migrate("csms", MIGRATIONS[:-1] if len(MIGRATIONS) > 1 else [])
        finally:
            await database.close()

    run(main())


def test_a_batch_commits_whole_or_not_at_all_and_values_round_trip(database_url: str) -> None:
    async def main() -> None:
        database = open_database(database_url)
        await database.open()
        try:
            await database.migrate("csms", MIGRATIONS)
            insert = "INSERT INTO meta (key, value) VALUES (?, ?)"
            await database.write([(insert, [("a", "1"), ("b", "2")])])
            with pytest.raises(StorageError):  # the second statement breaks the primary key
                await database.write([(insert, [("c", "3")]), (insert, [("a", "again")])])
            assert sorted(await database.fetch("SELECT key, value FROM meta")) == [
                ("a", "1"),
                ("b", "2"),
            ]
            await database.write(
                [
                    (
                        "INSERT INTO id_tokens (key, id_token, status, expires_at, updated_at)"
                        " VALUES (?, ?, ?, ?, ?)",
                        [("x", "X", "Accepted", T0, T0.astimezone(datetime.timezone.max))],
                    )
                ]
            )
            from ocppfast.storage import timestamp

            ((expires, updated),) = await database.fetch(
                "SELECT expires_at, updated_at FROM id_tokens WHERE key = ?", "x"
            )
            assert timestamp(expires) == T0 and timestamp(updated) == T0
        finally:
            await database.close()

    run(main())


def test_urls_in_logs_and_messages_hide_passwords() -> None:
    """Security by default: a database password is never logged (libpq also takes it in the
    query)."""
    url = open_database("postgresql://csms:s3cr@t@db.example:5432/ocpp?password=x").display_url
    assert url == "postgresql://csms:***@db.example:5432/ocpp"
    assert "s3cr" not in url and "x" not in url.rpartition("/")[2]
    plain = "postgresql://csms@db.example/ocpp"
    assert open_database(plain).display_url == plain
    assert open_database("sqlite:////var/x.sqlite3").display_url == "sqlite:////var/x.sqlite3"


def test_storage_errors_say_what_to_do(tmp_path: Any) -> None:
    with pytest.raises(StorageError, match="sqlite:///path"):
        open_database("mysql://x")
    blocker = tmp_path / "file"
    blocker.write_text("")

    async def main() -> None:
        database = open_database(f"sqlite:///{blocker}/sub/db.sqlite3")
        with pytest.raises(StorageError, match="writable"):
            await database.open()

    run(main())


# -- 1.6 transaction ids ----------------------------------------------------------------------


def test_transaction_ids_are_unique_positive_32_bit_and_keyed() -> None:
    """C16 4.8: an integer id per transaction; ours are unique across stations and do not
    follow from one another (a keyed permutation of a counter)."""
    ids = TransactionIds(bytes(16))
    first = [ids.next() for _ in range(50_000)]
    assert len(set(first)) == len(first)
    assert all(1 <= i <= 2**31 - 1 for i in first)
    assert first != sorted(first)
    again = TransactionIds(bytes(16))
    assert [again.next() for _ in range(100)] == first[:100]
    other = TransactionIds(bytes(range(16)))
    assert [other.next() for _ in range(100)] != first[:100]
    resumed = TransactionIds(bytes(16), counter=40_000)
    assert resumed.next() == first[40_000]


# -- what stations send, stored -----------------------------------------------------------------


def test_v16_session_is_stored_before_each_answer_and_survives_a_restart(
    core: Backend, database_url: str
) -> None:
    """Boot, status, start, meter values, stop: each answer comes once its writes are committed
    (the rows are there when it arrives, read through another connection), and all of it is
    there again after the state is reopened."""

    async def main() -> int:
        state = await opened(database_url)
        db = state.database
        async with station(core, "ocpp1.6", state) as cs:
            await cs.call(
                v16.BootNotificationRequest(charge_point_vendor="V", charge_point_model="M")
            )
            assert await rows(db, "SELECT registration_status FROM stations WHERE key = 'cp1'") == [
                ("Accepted",)
            ]
            await cs.call(
                v16.StatusNotificationRequest(
                    connector_id=1,
                    error_code=v16.ChargePointErrorCode.NoError,
                    status=v16.ChargePointStatus.Preparing,
                )
            )
            assert await rows(db, "SELECT status FROM connectors WHERE station_key = 'cp1'") == [
                ("Preparing",)
            ]
            started = await cs.call(
                v16.StartTransactionRequest(
                    connector_id=1, id_tag="TAG1", meter_start=1000, timestamp=T0
                )
            )
            tx = started.transaction_id
            assert await rows(
                db, "SELECT meter_start, ended FROM transactions WHERE transaction_id = ?", str(tx)
            ) == [(1000.0, False)]
            await cs.call(
                v16.MeterValuesRequest(
                    connector_id=1,
                    transaction_id=tx,
                    meter_value=[meter_value(T0 + datetime.timedelta(minutes=1), 1500)],
                )
            )
            assert len(await rows(db, "SELECT id FROM meter_values")) == 1
            await cs.call(
                v16.StopTransactionRequest(
                    transaction_id=tx,
                    meter_stop=2500,
                    timestamp=T0 + datetime.timedelta(minutes=2),
                    reason=v16.Reason.EVDisconnected,
                    transaction_data=[
                        meter_value(T0 + datetime.timedelta(minutes=2), 2500, "Transaction.End")
                    ],
                )
            )
            assert await rows(db, "SELECT ended, meter_stop, stop_reason FROM transactions") == [
                (True, 2500.0, "EVDisconnected")
            ]
        await state.close()

        again = await opened(database_url)
        try:
            station_record = again.station("CP1")
            assert station_record is not None
            assert station_record.registration_status == "Accepted"
            assert station_record.boot is not None and station_record.boot.vendor == "V"
            assert station_record.connectors[(0, 1)].status == "Preparing"
            assert station_record.disconnected_at is not None
            assert again.active_transactions() == []
            record = await again.load_transaction("CP1", tx)
            assert record
            loaded = again.transaction("cp1", tx)
            assert loaded is not None and loaded.ended and loaded.energy_wh == 1500.0
            values = await rows(
                again.database,
                "SELECT value, context FROM meter_values WHERE transaction_id = ? ORDER BY id",
                str(tx),
            )
            assert values == [(1500.0, None), (2500.0, "Transaction.End")]
        finally:
            await again.close()
        return tx

    run(main())


def test_v16_transaction_ids_never_repeat_across_restarts(database_url: str) -> None:
    async def main() -> None:
        seen = set()
        for restart in range(3):
            state = await opened(database_url)
            async with station(BACKEND, "ocpp1.6", state) as cs:
                for n in range(3):
                    started = await cs.call(
                        v16.StartTransactionRequest(
                            connector_id=n,
                            id_tag="TAG",
                            meter_start=0,
                            timestamp=T0 + datetime.timedelta(hours=restart),
                        )
                    )
                    seen.add(started.transaction_id)
            await state.close()
        assert len(seen) == 9

    run(main())


def test_v16_start_transaction_retried_with_a_new_message_id_is_one_transaction(
    core: Backend, database_url: str
) -> None:
    """Issue 6 idempotency; C16 3.7.1 / 4.8: a StartTransaction repeated (its answer lost) gets
    the same transactionId, and one transaction is stored."""

    async def main() -> None:
        state = await opened(database_url)
        request = v16.StartTransactionRequest(
            connector_id=1, id_tag="TAG", meter_start=10, timestamp=T0
        )
        async with station(core, "ocpp1.6", state) as cs:
            first = await cs.call(request)
            second = await cs.call(request)  # a new CALL: a new message id
        assert first.transaction_id == second.transaction_id
        assert await rows(state.database, "SELECT transaction_id FROM transactions") == [
            (str(first.transaction_id),)
        ]
        await state.close()

    run(main())


def test_v2_transaction_event_retried_is_stored_once(core: Backend, database_url: str) -> None:
    """Issue 6 idempotency; TC_E_53_CSMS (seqNo tracking): a TransactionEvent sent again is
    answered and stored once, its meter values too; a gap in seqNo is kept as missing."""

    def event(seq_no: int, kind: str, wh: float) -> v201.TransactionEventRequest:
        return v201.TransactionEventRequest(
            event_type=v201.TransactionEventEnum(kind),
            timestamp=T0 + datetime.timedelta(minutes=seq_no),
            trigger_reason=v201.TriggerReasonEnum.MeterValuePeriodic,
            seq_no=seq_no,
            transaction_info=v201.Transaction(transaction_id="tx-1"),
            evse=v201.EVSE(id=1, connector_id=1),
            meter_value=[
                v201.MeterValue(
                    timestamp=T0 + datetime.timedelta(minutes=seq_no),
                    sampled_value=[v201.SampledValue(value=wh)],
                )
            ],
        )

    async def main() -> None:
        state = await opened(database_url)
        async with station(core, "ocpp2.0.1", state) as cs:
            await cs.call(event(0, "Started", 100))
            await cs.call(event(1, "Updated", 200))
            await cs.call(event(1, "Updated", 200))  # repeated
            await cs.call(event(3, "Updated", 400))  # seqNo 2 still on its way
        db = state.database
        assert await rows(db, "SELECT seq_no FROM transaction_events ORDER BY seq_no") == [
            (0,),
            (1,),
            (3,),
        ]
        assert len(await rows(db, "SELECT id FROM meter_values")) == 3
        await state.close()
        again = await opened(database_url)
        try:
            record = again.transaction("CP1", "tx-1")
            assert record is not None and record.active
            assert record.missing_seq_nos() == [2]
        finally:
            await again.close()

    run(main())


def test_a_station_cannot_stop_another_stations_transaction(
    core: Backend, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 6: a StopTransaction (or MeterValues) for another station's transaction is answered
    and changes nothing."""

    async def main() -> None:
        state = await opened(database_url)
        async with station(core, "ocpp1.6", state, "CP-A") as a:
            started = await a.call(
                v16.StartTransactionRequest(
                    connector_id=1, id_tag="TAG", meter_start=0, timestamp=T0
                )
            )
        tx = started.transaction_id
        async with station(core, "ocpp1.6", state, "CP-B") as b:
            answer = await b.call(
                v16.StopTransactionRequest(
                    transaction_id=tx, meter_stop=99, timestamp=T0, id_tag="TAG"
                )
            )
            assert answer.id_tag_info is not None
            await b.call(
                v16.MeterValuesRequest(
                    connector_id=1, transaction_id=tx, meter_value=[meter_value(T0, 50)]
                )
            )
        record = state.transaction("CP-A", tx)
        assert record is not None and record.active and record.meter_stop is None
        assert await rows(state.database, "SELECT station_key, ended FROM transactions") == [
            ("cp-a", False)
        ]
        assert await rows(
            state.database, "SELECT station_key, transaction_id FROM meter_values"
        ) == [("cp-b", None)]
        await state.close()

    with caplog.at_level(logging.INFO):
        run(main())
    assert any("does not have" in r.getMessage() for r in caplog.records)


def test_a_message_about_a_transaction_that_left_memory_loads_it_first(
    core: Backend, database_url: str
) -> None:
    """A finished transaction beyond `max_finished_transactions` is no longer in memory; a
    repeated StopTransaction for it finds it in the database, and does not overwrite it."""

    async def main() -> None:
        state = await opened(database_url, max_finished_transactions=1)
        ids = []
        async with station(core, "ocpp1.6", state) as cs:
            for n in range(3):
                started = await cs.call(
                    v16.StartTransactionRequest(
                        connector_id=1, id_tag="TAG", meter_start=n, timestamp=T0
                    )
                )
                await cs.call(
                    v16.StopTransactionRequest(
                        transaction_id=started.transaction_id, meter_stop=100 + n, timestamp=T0
                    )
                )
                ids.append(started.transaction_id)
            assert state.transaction("CP1", ids[0]) is None  # left memory
            await cs.call(
                v16.StopTransactionRequest(transaction_id=ids[0], meter_stop=999, timestamp=T0)
            )
        assert await rows(
            state.database,
            "SELECT meter_stop FROM transactions WHERE transaction_id = ?",
            str(ids[0]),
        ) == [(100.0,)]
        await state.close()

    run(main())


class _BlockingDatabase:
    """Wraps a database: writes wait for `release` (or fail when `fail` is set)."""

    def __init__(self, inner: Database) -> None:
        self.inner = inner
        self.release = asyncio.Event()
        self.entered = asyncio.Event()  # a write has begun (and waits for `release`)
        self.fail = False
        self.dialect = inner.dialect
        self.display_url = inner.display_url

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def fetch(self, sql: str, *params: Any) -> Any:
        return await self.inner.fetch(sql, *params)

    async def migrate(self, component: str, migrations: Any) -> int:
        return await self.inner.migrate(component, migrations)

    async def write(self, statements: Any) -> None:
        self.entered.set()
        await self.release.wait()
        if self.fail:
            raise StorageError("disk on fire")
        await self.inner.write(statements)


def test_no_answer_before_its_commit_and_a_failed_commit_closes_the_connection(
    core: Backend, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Over a real WebSocket on 127.0.0.1: the Heartbeat's answer waits for the commit; when a
    commit fails, nothing is acknowledged and the connection closes with 1011 (the station
    reconnects and sends again), and what it held is written by the next commit."""

    async def main() -> None:
        blocking = _BlockingDatabase(open_database(database_url))
        state = StoredState(blocking)  # type: ignore[arg-type]
        blocking.release.set()
        await state.open()
        server = Server(default_csms(state), host="127.0.0.1", port=0, core=core)
        await server.start()
        try:
            async with connect(f"{server.url}/CP9", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
                cs = Connection(WebSocketTransport(ws), role="station", core=core)
                task = asyncio.create_task(cs.run())
                blocking.release.clear()
                blocking.entered.clear()
                call = asyncio.ensure_future(cs.call(v16.HeartbeatRequest()))
                await asyncio.wait_for(blocking.entered.wait(), 5)  # its commit has begun
                await asyncio.sleep(0)
                assert not call.done()  # held until the commit
                blocking.release.set()
                await asyncio.wait_for(call, 5)
                blocking.fail = True
                with pytest.raises(SessionClosedError):  # closed, never answered
                    await cs.call(
                        v16.StatusNotificationRequest(
                            connector_id=7,
                            error_code=v16.ChargePointErrorCode.NoError,
                            status=v16.ChargePointStatus.Faulted,
                        ),
                        timeout=5,
                    )
                await until(lambda: cs.closed)
                assert cs.close_code == 1011
                await task
            # The change whose commit failed is kept, and written by the next commit.
            blocking.fail = False
            await state.flush()
            assert await rows(
                blocking.inner, "SELECT status FROM connectors WHERE connector_id = 7"
            ) == [("Faulted",)]
        finally:
            await server.stop()
            blocking.fail = False
            await state.close()

    with caplog.at_level(logging.ERROR):
        run(main())
    assert any("storage failed" in r.getMessage() for r in caplog.records)


def test_every_station_message_of_the_corpus_is_answered_and_stored(
    version: str, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every example request of every station-initiated action (tests/messages) is answered
    with the database behind the state, and what it recorded is there after a restart."""
    from ocppfast._core.actions import STATION_INITIATED, STATION_SENDS
    from tests.payloads import corpus
    from tests.test_csms_default import typed

    async def main() -> None:
        state = await opened(database_url)
        async with station(BACKEND, version, state) as cs:
            for action in sorted(STATION_INITIATED[version]):
                for payload in corpus(version)[action]["request"]:
                    await cs.call(typed(version, action, payload))
            for action in sorted(STATION_SENDS[version]):
                for payload in corpus(version)[action]["request"]:
                    await cs.send(typed(version, action, payload))
            await cs.call(typed(version, "Heartbeat", {}))
        await state.close()
        again = await opened(database_url)
        try:
            kinds = {kind for (kind,) in await again.database.fetch("SELECT kind FROM events")}
            assert "SecurityEventNotification" in kinds
            if version != "ocpp1.6":
                assert {"NotifyReport", "NotifyEvent"} <= kinds
            record = again.station("CP1")
            assert record is not None and record.boot is not None and record.connectors
            assert await again.database.fetch("SELECT COUNT(*) FROM meter_values") != [(0,)]
        finally:
            await again.close()

    with caplog.at_level(logging.WARNING):
        run(main())
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert problems == []


def test_id_tokens_are_stored_and_answered_with_expiry_parent_and_group(
    database_url: str,
) -> None:
    """Issue 6: Authorize against stored id tokens (status, expiry, parent id, group): C16 7.14
    IdTagInfo expiryDate/parentIdTag; 2.0.1 IdTokenInfo cacheExpiryDateTime/groupIdToken; an
    id token past its expiry is Expired."""
    from ocppfast.csms.state import IdTokenRecord

    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)
    earlier = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)

    async def main() -> None:
        state = await opened(database_url, default_token_status="Invalid")
        state.set_token(IdTokenRecord("Card-1", "Accepted", later, "PARENT", "GROUP"))
        state.set_token(IdTokenRecord("Old", "Accepted", earlier))
        state.set_token(IdTokenRecord("Gone", "Blocked"))
        assert state.delete_token("GONE")
        await state.close()
        state = await opened(database_url, default_token_status="Invalid")
        assert set(state.tokens) == {"card-1", "old"}
        async with station(BACKEND, "ocpp1.6", state) as cs:
            card = await cs.call(v16.AuthorizeRequest(id_tag="CARD-1"))
            assert card.id_tag_info.status == v16.AuthorizationStatus.Accepted
            assert card.id_tag_info.parent_id_tag == "PARENT"
            assert card.id_tag_info.expiry_date == later
            old = await cs.call(v16.AuthorizeRequest(id_tag="old"))
            assert old.id_tag_info.status == v16.AuthorizationStatus.Expired
            unknown = await cs.call(v16.AuthorizeRequest(id_tag="nobody"))
            assert unknown.id_tag_info.status == v16.AuthorizationStatus.Invalid
        async with station(BACKEND, "ocpp2.0.1", state, "CP2") as cs:
            answer = await cs.call(
                v201.AuthorizeRequest(
                    id_token=v201.IdToken(id_token="card-1", type=v201.IdTokenEnum.ISO14443)
                )
            )
            info = answer.id_token_info
            assert info.status == v201.AuthorizationStatusEnum.Accepted
            assert info.cache_expiry_date_time == later
            assert info.group_id_token.id_token == "GROUP"
        await state.close()

    run(main())


def test_every_change_of_a_station_record_is_written(database_url: str) -> None:
    """Each `CsmsState` method that changes a station's record tells the stored state
    (`CsmsState._station_changed`), which writes it: all of them survive a restart, down to the
    password that unregistering a station that was never registered removes (its row holds it)."""

    async def main() -> None:
        state = await opened(database_url, registration_policy="known")
        state.station_connected("CP-1", "ocpp1.6", T0)
        state.heartbeat("CP-1", T0 + datetime.timedelta(seconds=1))
        state.operation_status("CP-1", "firmware", "Installed", 7, T0)
        state.station_disconnected("CP-1", T0 + datetime.timedelta(seconds=2))
        state.register_station("CP-2", "Pending")
        state.set_password("CP-3", state.credentials.hash_password("never-registered-3"))
        await state.close()
        state = await opened(database_url, registration_policy="known")
        one = state.station("CP-1")
        assert one is not None
        assert one.version == "ocpp1.6"
        assert one.last_heartbeat == T0 + datetime.timedelta(seconds=1)
        assert one.disconnected_at == T0 + datetime.timedelta(seconds=2)
        assert one.operations["firmware"].status == "Installed"
        two = state.station("CP-2")
        assert two is not None and two.registered and two.approval == "Pending"
        assert state.credentials.known("CP-3")
        assert not state.unregister_station("CP-3")  # not registered, but its password goes
        assert state.unregister_station("CP-2")
        await state.close()
        state = await opened(database_url, registration_policy="known")
        assert not state.credentials.known("CP-3")
        two = state.station("CP-2")
        assert two is not None and not two.registered and two.approval is None
        await state.close()

    run(main())
