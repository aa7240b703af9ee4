"""Registration policies, the rules for a station not accepted, DataTransfer vendor handlers and
the traffic log of the CSMS (issue 6, part 2 and 3), over real WebSockets on 127.0.0.1, on
both core backends, with the state in memory and in SQLite and PostgreSQL (the `state_url`
fixture).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ocppfast import v16, v201
from ocppfast._core import Backend
from ocppfast.asyncio import Connection, Server
from ocppfast.asyncio.auth import Credentials
from ocppfast.csms import CsmsState, default_csms
from ocppfast.csms.store import StoredState, close_state, open_state
from ocppfast.csms.traffic import TrafficLog
from ocppfast.exceptions import CallNotAllowedError, OCPPError, SecurityError
from ocppfast.storage import open_database
from ocppfast.transport.websocket import WebSocketTransport
from tests.aio import run, until

BOOT16 = v16.BootNotificationRequest(charge_point_vendor="V", charge_point_model="M")
BOOT201 = v201.BootNotificationRequest(
    charging_station=v201.ChargingStation(model="M", vendor_name="V"),
    reason=v201.BootReasonEnum.PowerUp,
)
STATUS201 = v201.StatusNotificationRequest(
    timestamp=datetime.datetime(2026, 11, 21, tzinfo=datetime.timezone.utc),
    connector_status=v201.ConnectorStatusEnum.Available,
    evse_id=1,
    connector_id=1,
)


@contextlib.asynccontextmanager
async def csms(core: Backend, state: CsmsState, **options: Any) -> AsyncIterator[Server]:
    server = Server(
        default_csms(state, options.pop("vendors", None)),
        host="127.0.0.1",
        port=0,
        core=core,
        credentials=state.credentials,
        admits=state.admits,
        **options,
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def station(
    core: Backend, server: Server, identity: str, version: str, password: str | None = None
) -> AsyncIterator[Connection]:
    headers = {}
    if password is not None:
        secret = base64.b64encode(f"{identity}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {secret}"
    async with connect(
        f"{server.url}/{identity}",
        subprotocols=[version],  # type: ignore[list-item]
        additional_headers=headers,
    ) as ws:
        cs = Connection(WebSocketTransport(ws), role="station", identity=identity, core=core)
        task = asyncio.create_task(cs.run())
        try:
            yield cs
        finally:
            await cs.close()
            await task


async def refused_status(server: Server, identity: str, password: str | None = None) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with station(BACKEND_UNUSED, server, identity, "ocpp1.6", password):
            pass
    return refused.value.response.status_code


BACKEND_UNUSED: Any = None


# -- registration policies ----------------------------------------------------------------


def test_open_policy_accepts_and_records_any_identity(core: Backend, state_url: str) -> None:
    """ "open": any identity connects, is recorded as registered and Accepted at boot; the
    record survives a restart."""

    async def main() -> None:
        state = await open_state(state_url)
        async with csms(core, state) as server, station(core, server, "CP-Open", "ocpp1.6") as cs:
            boot = await cs.call(BOOT16)
            assert boot.status == v16.RegistrationStatus.Accepted
            record = state.station("cp-open")
            assert record is not None and record.registered and record.approval == "Accepted"
            await cs.call(v16.HeartbeatRequest())
        await close_state(state)
        if state_url != "memory":
            again = await open_state(state_url)
            record = again.station("CP-Open")
            assert record is not None and record.registered
            assert (record.approval, record.registration_status) == ("Accepted", "Accepted")
            await close_state(again)

    run(main())


def test_known_policy_refuses_unknown_stations_with_404_before_the_upgrade(
    core: Backend, state_url: str
) -> None:
    """ "known" (J201 3.2, J21 3.3: the CSMS "does not recognize the Charging Station
    identifier" -> HTTP 404): only registered stations connect; one unregistered is refused
    again, and its history is kept."""

    async def main() -> None:
        state = await open_state(state_url, registration_policy="known")
        async with csms(core, state) as server:
            assert await refused_status(server, "Stranger") == 404
            state.register_station("CP-K")
            async with station(core, server, "cp-k", "ocpp2.0.1") as cs:
                boot = await cs.call(BOOT201)
                assert boot.status == v201.RegistrationStatusEnum.Accepted
                await cs.call(STATUS201)
            assert state.unregister_station("CP-K")
            assert await refused_status(server, "CP-K") == 404
            record = state.station("CP-K")
            assert record is not None and (0, 1) not in record.connectors
            assert record.connectors[(1, 1)].status == "Available"
        await close_state(state)

    run(main())


def test_pending_policy_and_the_rules_for_a_station_not_accepted(
    core: Backend, state_url: str
) -> None:
    """ "pending": an unknown station boots Pending (B02) until the operator accepts it. Before
    it is accepted its CALLs but BootNotification get SecurityError (TC_B_30_CSMS, B02.FR.09);
    while Pending it may send a NotifyReport and what a TriggerMessage asked for (B02,
    TC_B_31_CSMS); once accepted and booted again, everything is answered."""

    async def main() -> None:
        state = await open_state(state_url, registration_policy="pending", boot_retry_interval=20)
        async with csms(core, state) as server, station(core, server, "CP-P", "ocpp2.0.1") as cs:
            with pytest.raises(SecurityError):  # nothing before the boot
                await cs.call(v201.HeartbeatRequest())
            boot = await cs.call(BOOT201)
            assert (boot.status, boot.interval) == (v201.RegistrationStatusEnum.Pending, 20)
            with pytest.raises(SecurityError):
                await cs.call(STATUS201)
            await cs.call(
                v201.NotifyReportRequest(
                    request_id=1,
                    generated_at=datetime.datetime.now(datetime.timezone.utc),
                    seq_no=0,
                )
            )
            # The CSMS triggers a StatusNotification: that one is answered, once.
            csms_end = server.connection("CP-P")
            assert csms_end is not None
            await cs_answers_trigger(cs, csms_end)
            await cs.call(STATUS201)
            with pytest.raises(SecurityError):
                await cs.call(STATUS201)
            state.register_station("CP-P", "Accepted")
            boot = await cs.call(BOOT201)
            assert boot.status == v201.RegistrationStatusEnum.Accepted
            await cs.call(STATUS201)
            await cs.call(v201.HeartbeatRequest())
        await close_state(state)

    run(main())


async def cs_answers_trigger(cs: Connection, csms_end: Connection) -> None:
    """The CSMS sends TriggerMessage(StatusNotification); the station's Connection (no
    handlers) answers NotSupported, which is enough: the CSMS has sent it."""
    with contextlib.suppress(Exception):
        await csms_end.call(
            v201.TriggerMessageRequest(
                requested_message=v201.MessageTriggerEnum.StatusNotification
            ),
            timeout=5,
        )


def test_rejected_station_gets_security_error_and_no_calls_from_the_csms(
    core: Backend, state_url: str
) -> None:
    """A station the operator rejected boots Rejected; its other CALLs get SecurityError
    (J16E 5.6 for 1.6, B03.FR.07), and the CSMS sends it nothing (B03.FR.03 as E201 2.3.1
    rephrased it): `call()` raises CallNotAllowedError and nothing is sent."""

    async def main() -> None:
        state = await open_state(state_url)
        state.register_station("CP-R", "Rejected")
        async with csms(core, state) as server, station(core, server, "CP-R", "ocpp1.6") as cs:
            boot = await cs.call(BOOT16)
            assert boot.status == v16.RegistrationStatus.Rejected
            with pytest.raises(SecurityError):
                await cs.call(v16.HeartbeatRequest())
            csms_end = server.connection("CP-R")
            assert csms_end is not None
            with pytest.raises(CallNotAllowedError):
                await csms_end.call(v16.ResetRequest(type=v16.ResetType.Soft))
        await close_state(state)

    run(main())


def test_a_station_accepted_before_a_restart_is_not_asked_to_boot_again(
    core: Backend, database_url: str
) -> None:
    """A station accepted before the CSMS restarted (its registration status stored) sends its
    messages without a new boot: 1.6 stations boot at power-up only (C16 4.2)."""

    async def main() -> None:
        state = await open_state(database_url, registration_policy="pending")
        state.register_station("CP-A", "Accepted")
        async with csms(core, state) as server, station(core, server, "CP-A", "ocpp1.6") as cs:
            assert (await cs.call(BOOT16)).status == v16.RegistrationStatus.Accepted
        await close_state(state)
        state = await open_state(database_url, registration_policy="pending")
        async with csms(core, state) as server, station(core, server, "CP-A", "ocpp1.6") as cs:
            await cs.call(v16.HeartbeatRequest())
        await close_state(state)

    run(main())


def test_passwords_set_per_station_are_required_of_that_station_only(
    core: Backend, state_url: str
) -> None:
    """A station given a password must authenticate with it (401 without, SW A00.FR.202-205);
    one without a password connects without; the password's hash survives a restart and is
    never stored in clear."""

    async def main() -> None:
        state = await open_state(state_url)
        password = "correct-horse-battery"
        state.register_station("CP-S")
        state.set_password("CP-S", state.credentials.hash_password(password))
        async with csms(core, state) as server:
            assert await refused_status(server, "CP-S") == 401
            assert await refused_status(server, "CP-S", "wrong-password-000") == 401
            async with station(core, server, "CP-S", "ocpp1.6", password) as cs:
                await cs.call(BOOT16)
            async with station(core, server, "CP-Other", "ocpp1.6") as cs:
                await cs.call(BOOT16)
        await close_state(state)
        if state_url != "memory":
            database = open_database(state_url)
            await database.open()
            rows = await database.fetch("SELECT password FROM stations WHERE key = 'cp-s'")
            await database.close()
            assert rows[0][0].startswith("scrypt$") and password not in rows[0][0]
            again = await open_state(state_url)
            assert again.credentials.verify("CP-S", password.encode())
            again.set_password("CP-S", None)
            await close_state(again)
            again = await open_state(state_url)
            assert not again.credentials.known("CP-S")
            await close_state(again)

    run(main())


def test_credentials_required_refuses_identities_without_a_password(core: Backend) -> None:
    """`Credentials(required=True)` (a --credentials file): every station must authenticate."""

    async def main() -> None:
        state = CsmsState(credentials=Credentials(required=True, n=2**10))
        async with csms(core, state) as server:
            assert await refused_status(server, "CP-None") == 401

    run(main())


# -- DataTransfer ---------------------------------------------------------------------------


def test_data_transfer_goes_to_the_vendors_handler(core: Backend) -> None:
    """C16 4.3, P02: a vendor's handler answers its DataTransfer (sync or async, vendorId
    compared case-insensitively); another vendor gets UnknownVendorId without data
    (P02.FR.06, TC_P_02_CSMS)."""
    seen: list[tuple[str, Any, Any]] = []

    def sync_handler(identity: str, message_id: str | None, data: Any) -> tuple[str, Any]:
        seen.append((identity, message_id, data))
        return "Accepted", data if isinstance(data, str) else {"echo": data}  # 1.6: a string

    async def async_handler(identity: str, message_id: str | None, data: Any) -> tuple[str, Any]:
        await asyncio.sleep(0)
        return "Rejected", None

    vendors = {"com.Example": sync_handler, "org.async": async_handler}

    async def main() -> None:
        state = CsmsState()
        async with csms(core, state, vendors=vendors) as server:
            async with station(core, server, "CP-D", "ocpp2.0.1") as cs:
                await cs.call(BOOT201)
                answer = await cs.call(
                    v201.DataTransferRequest(vendor_id="COM.EXAMPLE", message_id="m", data=[1])
                )
                assert answer.status == v201.DataTransferStatusEnum.Accepted
                assert answer.data == {"echo": [1]}
                answer = await cs.call(v201.DataTransferRequest(vendor_id="org.async"))
                assert answer.status == v201.DataTransferStatusEnum.Rejected
                answer = await cs.call(v201.DataTransferRequest(vendor_id="com.other"))
                assert answer.status == v201.DataTransferStatusEnum.UnknownVendorId
            async with station(core, server, "CP-D16", "ocpp1.6") as cs:
                answer = await cs.call(v16.DataTransferRequest(vendor_id="com.example", data="x"))
                assert answer.status == v16.DataTransferStatus.Accepted
        assert seen == [("CP-D", "m", [1]), ("CP-D16", None, "x")]

    run(main())


# -- the traffic log ------------------------------------------------------------------------


def test_traffic_log_keeps_every_frame_in_order_pages_and_hides_credentials(
    core: Backend, state_url: str
) -> None:
    """Every frame in and out is kept with its time and direction, newest first, paged by id;
    one that may carry a credential is kept as a note only; old frames are dropped."""

    async def main() -> None:
        state = await open_state(state_url)
        async with (
            csms(core, state, observer=TrafficLog(state)) as server,
            station(core, server, "CP-T", "ocpp1.6") as cs,
        ):
            await cs.call(BOOT16)
            for _ in range(3):
                await cs.call(v16.HeartbeatRequest())
            csms_end = server.connection("CP-T")
            assert csms_end is not None
            with contextlib.suppress(Exception):  # the station answers NotSupported
                await csms_end.call(
                    v16.ChangeConfigurationRequest(key="AuthorizationKey", value="00" * 20),
                    timeout=5,
                )
        frames = await state.traffic("cp-t", limit=100)
        assert len(frames) == 10
        assert [f.direction for f in reversed(frames)] == ["in", "out"] * 4 + ["out", "in"]
        assert frames[-1].frame.startswith('[2,"') and "BootNotification" in frames[-1].frame
        assert "not shown: may carry a credential" in frames[1].frame
        assert "00" * 20 not in " ".join(f.frame for f in frames)
        assert all(f.identity == "CP-T" for f in frames)
        ids = [f.id for f in frames]
        assert ids == sorted(ids, reverse=True)
        page = await state.traffic("CP-T", before=frames[3].id, limit=4)
        assert page == frames[4:8]
        assert await state.traffic("CP-Nobody") == []
        dropped = await state.purge_traffic(frames[0].at + datetime.timedelta(seconds=1))
        assert dropped == 10 and await state.traffic("CP-T") == []
        await close_state(state)

    run(main())


# -- the operator's queries -----------------------------------------------------------------


def test_transaction_queries_page_filter_and_read_meter_values(state_url: str) -> None:
    """`transactions_page` (newest first, by station, active or not), `find_transactions` and
    `transaction_samples` answer the same in memory and from the database, also for a finished
    transaction that has left memory."""
    from ocppfast.csms.state import Sample

    t0 = datetime.datetime(2026, 11, 21, 8, tzinfo=datetime.timezone.utc)

    async def main() -> None:
        state = await open_state(state_url, max_finished_transactions=1)
        started = []
        for n, identity in enumerate(["A", "B", "A"]):
            state.station_connected(identity, "ocpp1.6", t0)
            record, _ = state.start_transaction(
                identity, 1, "TAG", 100, t0 + datetime.timedelta(minutes=n)
            )
            sample = Sample(t0 + datetime.timedelta(minutes=n), str(200 + n), 200.0 + n)
            state.meter_values(identity, 1, record.transaction_id, [sample])
            started.append(record.transaction_id)
        state.stop_transaction("A", started[0], 500, t0 + datetime.timedelta(hours=1))
        state.stop_transaction("B", started[1], 500, t0 + datetime.timedelta(hours=1))
        page = await state.transactions_page()
        expected = list(reversed(started))
        if state_url == "memory":  # the first finished one has left memory for good
            expected = expected[:2]
        assert [r.transaction_id for r in page] == expected
        assert [r.transaction_id for r in await state.transactions_page(active=True)] == [
            started[2]
        ]
        a = await state.transactions_page(identity="a", active=False)
        assert [r.transaction_id for r in a] == ([started[0]] if state_url != "memory" else [])
        assert [r.transaction_id for r in await state.transactions_page(limit=1, offset=1)] == [
            started[1]
        ]
        found = await state.find_transactions(str(started[1]))
        assert [(r.identity, r.ended, r.meter_stop) for r in found] == [("B", True, 500.0)]
        assert await state.find_transactions(str(started[1]), "A") == []
        samples = await state.transaction_samples(found[0])
        assert [(s.text, s.value) for s in samples] == [("201", 201.0)]
        await close_state(state)

    run(main())


def test_traffic_log_drops_only_expired_frames_in_chunks(
    state_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`purge_traffic` drops the frames older than the cut-off and keeps the newer ones; with a
    database it does so a chunk at a time (here 2), so that no single write holds the writer
    for long."""
    from ocppfast.csms import store

    monkeypatch.setattr(store, "PURGE_CHUNK", 2)
    t0 = datetime.datetime(2026, 11, 21, 8, tzinfo=datetime.timezone.utc)

    async def main() -> None:
        state = await open_state(state_url)
        for n in range(7):
            state.log_frame("CP-X", "in", f'[2,"{n}","Heartbeat",{{}}]', t0.replace(minute=n))
        assert await state.purge_traffic(t0.replace(minute=5)) == 5
        kept = await state.traffic("CP-X")
        assert [f.at.minute for f in kept] == [6, 5]
        assert await state.purge_traffic(t0.replace(minute=5)) == 0
        await close_state(state)

    run(main())


def test_the_guard_holds_for_actions_with_an_after_hook(core: Backend) -> None:
    """A DefaultCSMS subclass with an @after hook: the hooked action of a station not accepted
    still gets SecurityError (the hook wraps the handler looked up at each message, which the
    guard shadows), and the hook runs once the station is accepted."""
    from ocppfast.asyncio import after
    from ocppfast.csms import DefaultCSMS

    hooked: list[str] = []

    class Hooked(DefaultCSMS):
        @after("Heartbeat")
        def beat(self, request: Any, response: Any) -> None:
            hooked.append(self.identity)

    async def main() -> None:
        state = CsmsState(registration_policy="pending")
        server = Server(lambda: Hooked(state), host="127.0.0.1", port=0, core=core)
        await server.start()
        try:
            async with station(core, server, "CP-H", "ocpp1.6") as cs:
                with pytest.raises(SecurityError):
                    await cs.call(v16.HeartbeatRequest())
                state.register_station("CP-H", "Accepted")
                assert (await cs.call(BOOT16)).status == v16.RegistrationStatus.Accepted
                await cs.call(v16.HeartbeatRequest())
                await until(lambda: hooked == ["CP-H"])
        finally:
            await server.stop()

    run(main())


def test_the_traffic_log_holds_no_frame_back_and_its_failure_closes_nothing(
    core: Backend, database_url: str
) -> None:
    """The rows of the traffic log go with the next commit but no frame waits for it: the
    CSMS's own CALL goes out while commits are failing, and the connection stays open."""
    from tests.test_csms_store import _BlockingDatabase

    async def main() -> None:
        blocking = _BlockingDatabase(open_database(database_url))
        blocking.release.set()
        state = StoredState(blocking)  # type: ignore[arg-type]
        await state.open()
        async with (
            csms(core, state, observer=TrafficLog(state)) as server,
            station(core, server, "CP-F", "ocpp1.6") as cs,
        ):
            await cs.call(BOOT16)
            await state.flush()
            blocking.fail = True
            csms_end = server.connection("CP-F")
            assert csms_end is not None
            # The station has no handlers: it answers NotSupported, which is an answer.
            with pytest.raises(OCPPError):
                await csms_end.call(v16.ResetRequest(type=v16.ResetType.Soft), timeout=5)
            assert not cs.closed and not csms_end.closed
            blocking.fail = False
            await state.flush()
        frames = await state.traffic("CP-F")
        assert [f.direction for f in frames[:2]] == ["in", "out"]  # the Reset and its answer
        await state.close()

    run(main())
