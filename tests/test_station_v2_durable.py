"""What the OCPP 2.0.1 / 2.1 station (`StationV2`) keeps across outages, restarts and power cuts,
and how it authorizes: persistence through a real `StationStore` file, the persistent queue
(E11-E13: offline true, order, retries, shedding), OfflineThreshold (B04), power loss, the
local authorization list (D01, D02), the authorization cache (C10-C12), offline authorization
(C12, C13, C15), StopTxOnInvalidId (E05) and group ids (C09). Each test names the requirement
or the P6 test case (TC_*_CS) it covers; the test CSMS, the clock and the helpers are those of
tests/test_station_v2.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ocppfast import v201
from ocppfast._core import Backend
from ocppfast._core.message import UNSET
from ocppfast.asyncio import on
from ocppfast.asyncio.client import BackOff
from ocppfast.station import v2 as station_v2
from ocppfast.station.config import StationConfig
from ocppfast.station.store import StationData, StationStore
from ocppfast.station.v2 import StationError, StationV2
from tests import aio
from tests.test_station_v2 import (
    MODULES,
    NOW,
    STATIONS,
    V2,
    Clock,
    Csms,
    booted,
    clock_of,
    connect,
    energy,
    get,
    is_ended,
    make_station,
    put,
    ready,
    run,
    set_variables,
)


@pytest.fixture(params=V2, name="v2")
def both_versions(request: pytest.FixtureRequest) -> str:
    """OCPP 2.0.1 and 2.1, as in tests/test_station_v2.py: one implementation serves both."""
    return str(request.param)


@contextlib.asynccontextmanager
async def opened(path: Path) -> AsyncIterator[StationStore]:
    """A StationStore on `path`; at the end, the stations made meanwhile shut down (as the CLI
    does on exit) before the store is closed."""
    store = await StationStore.open(path)
    try:
        yield store
    finally:
        while STATIONS:
            await STATIONS.pop().shutdown()
        await store.close()


async def drained(station: StationV2) -> None:
    """Wait until the station has delivered everything it queued."""
    await aio.until(lambda: not station.data.queue, timeout=5)


def local_list(m: Any, version: int, update: str, *entries: tuple[str, str | None]) -> Any:
    """A SendLocalListRequest: (id token, status or None for an entry without idTokenInfo)."""
    return m.SendLocalListRequest(
        version_number=version,
        update_type=update,
        local_authorization_list=[
            m.AuthorizationData(
                id_token=m.IdToken(id_token=token, type="ISO14443"),
                id_token_info=UNSET if status is None else m.IdTokenInfo(status=status),
            )
            for token, status in entries
        ]
        or UNSET,
    )


def events(csms: Csms) -> list[tuple[str, int, str]]:
    """The TransactionEvents the CSMS got: (eventType, seqNo, triggerReason)."""
    return [(e.event_type, e.seq_no, e.trigger_reason) for e in csms.of("TransactionEvent")]


# ------------------------------------------------------------------------------------------
# Persistence


def test_persistence_round_trip_through_a_station_store(
    core: Backend, v2: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Part 1 4.3 (persistent variables), TC_C_32_CS (C10.FR.02: the cache survives a reboot),
    TC_G_18_CS (G03.FR.08: an EVSE's availability persists; TC_G_21_CS, the whole station's, is
    oca::test_TC_G_21_CS_station_unavailable_persists_across_reboot), D01 / D02 (the local
    list and its version), B09 (network profiles), A01 / A201 3.1.15 (BasicAuthPassword: kept,
    used for the next connection, never readable over OCPP, never logged): a station built from
    the same StationStore file after a restart has everything the CSMS set."""
    path = tmp_path / "station.sqlite3"
    password = "s3cret-Passw0rd.xyz"

    async def main() -> None:
        m = MODULES[v2]
        async with opened(path) as store:
            station = make_station(v2, data=await store.load("CP1"))
            csms = Csms()
            async with connect(core, station, csms, v2) as connection:
                await ready(station, csms)
                assert (
                    await set_variables(
                        connection,
                        put(m, "OCPPCommCtrlr", "OfflineThreshold", "300"),
                        put(m, "EVSE", "Power", "7400", "MaxSet", evse=1),
                        put(m, "AuthCtrlr", "LocalPreAuthorize", "true"),
                        put(
                            m,
                            "OCPPCommCtrlr",
                            "MessageAttempts",
                            "5",
                            variable_instance="TransactionEvent",
                        ),
                    )
                    == ["Accepted"] * 4
                )
                unavailable = m.ChangeAvailabilityRequest(
                    operational_status="Inoperative", evse=m.EVSE(id=2)
                )
                assert (await connection.call(unavailable)).status == "Accepted"
                assert await station.authorize("TAG-C")
                listed = local_list(m, 3, "Full", ("TAG-L1", "Accepted"), ("TAG-L2", "Blocked"))
                assert (await connection.call(listed)).status == "Accepted"
                profile = m.SetNetworkProfileRequest(
                    configuration_slot=2,
                    connection_data=m.NetworkConnectionProfile(
                        ocpp_version="OCPP20",
                        ocpp_transport="JSON",
                        ocpp_csms_url="wss://csms.example.com/ocpp/CP1",
                        message_timeout=30,
                        security_profile=2,
                        ocpp_interface="Wired0",
                    ),
                )
                assert (await connection.call(profile)).status == "Accepted"
                password_set = put(m, "SecurityCtrlr", "BasicAuthPassword", password)
                assert await set_variables(connection, password_set) == ["Accepted"]
                # The answers waited for the commit (write_barrier): the file has it all.
                reader = await StationStore.open(path, lock=False)
                try:
                    on_disk = await reader.load("CP1")
                finally:
                    await reader.close()
                assert sorted(on_disk.tokens["local"]) == ["TAG-L1", "TAG-L2"]
                assert on_disk.state["local_list_version"] == 3
                assert password in on_disk.settings.values()
                # TC_A_09_CS step 3: the station reconnects with its new password.
                await asyncio.wait_for(connection.wait_closed(), 10)

        async with opened(path) as store:
            station = make_station(v2, data=await store.load("CP1"))
            model = station.device_model
            assert model.get("OCPPCommCtrlr", "OfflineThreshold") == "300"
            assert model.get("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent") == "5"
            power = model.find("EVSE", "Power", evse=1)
            assert power is not None and power.attributes["MaxSet"].read() == "7400"
            assert station.basic_auth_password == password  # the next connection's
            assert (station.connector_status(1), station.connector_status(2)) == (
                "Available",
                "Unavailable",
            )
            assert station.network_profiles[2].security_profile == 2
            # Offline (LocalAuthorizeOffline): the cache and the list as they were.
            assert await station.authorize("TAG-C")
            assert await station.authorize("TAG-L1")
            assert not await station.authorize("TAG-L2")
            csms = Csms()
            async with connect(core, station, csms, v2) as connection:
                await ready(station, csms)
                statuses = {s.evse_id: s.connector_status for s in csms.of("StatusNotification")}
                assert statuses == {1: "Available", 2: "Unavailable"}  # TC_G_18_CS
                got = await connection.call(
                    m.GetVariablesRequest(
                        get_variable_data=[
                            get(m, "SecurityCtrlr", "BasicAuthPassword"),
                            get(m, "LocalAuthListCtrlr", "Entries"),
                        ]
                    )
                )
                password_result, entries = got.get_variable_result
                assert (password_result.attribute_status, password_result.attribute_value) == (
                    "Rejected",
                    UNSET,
                )
                assert entries.attribute_value == "2"
                version = await connection.call(m.GetLocalListVersionRequest())
                assert version.version_number == 3
                # LocalPreAuthorize (kept) and the cache (kept): no AuthorizeRequest.
                assert await station.authorize("TAG-C")
                assert csms.of("Authorize") == []

    with caplog.at_level(logging.DEBUG, logger="ocppfast"):
        run(main())
    assert password not in caplog.text


def test_power_loss_ends_the_transaction_after_what_was_queued(
    core: Backend, v2: str, tmp_path: Path
) -> None:
    """Power loss (ReasonEnumType PowerLoss, "complete loss of power"; E11 / E12 durability):
    station A runs a transaction, loses its connection, samples offline (`sample_now`: on disk
    when it returns) and dies with its store closed without stopping anything. Station B, built
    from the same file, boots with reason PowerUp, reports its connectors, delivers A's queued
    messages in order (offline true) and then ends the transaction: Ended, triggerReason
    AbnormalCondition, stoppedReason PowerLoss, seqNo going on, the last meter reading A kept,
    timestamped when it was taken; the meter goes on from there."""
    path = tmp_path / "station.sqlite3"

    async def main() -> None:
        clock = Clock()
        store = await StationStore.open(path)
        a = make_station(v2, data=await store.load("CP1"), clock=clock, meter_interval=0)
        csms = Csms()
        async with connect(core, a, csms, v2):
            await ready(a, csms)
            transaction_id = await a.start_transaction(1, "TAG-1")
            await csms.wait("TransactionEvent", 2)  # Started, the energy flow (seqNo 0, 1)
            await drained(a)
        for _ in range(3):  # offline, half an hour at 11 kW
            clock.advance(600)
            await a.sample_now(1)
        reader = await StationStore.open(
            path, lock=False
        )  # what another process would find on disk now
        try:
            on_disk = await reader.load("CP1")
            assert [item.decoded()["seqNo"] for item in on_disk.queue] == [2, 3, 4]
        finally:
            await reader.close()
        STATIONS.remove(a)  # the power goes: nothing of A runs any more
        await store.close()

        clock.advance(300)
        async with opened(path) as store:
            data = await store.load("CP1")
            b = make_station(v2, data=data, clock=clock, meter_interval=0)
            assert b.transactions == {}
            assert len(data.queue) == 4
            csms = Csms()
            async with connect(core, b, csms, v2):
                await ready(b, csms)
                boot = csms.of("BootNotification")[0]
                assert boot.reason == "PowerUp"
                actions = csms.actions()
                assert actions[:3] == [
                    "BootNotification",
                    "StatusNotification",
                    "StatusNotification",
                ]
                assert actions[3:] == ["TransactionEvent"] * 4 + ["SecurityEventNotification"]
                sent = csms.of("TransactionEvent")
                assert [(e.event_type, e.seq_no) for e in sent] == [
                    ("Updated", 2),
                    ("Updated", 3),
                    ("Updated", 4),
                    ("Ended", 5),
                ]
                assert all(e.offline is True for e in sent)
                assert {e.transaction_info.transaction_id for e in sent} == {transaction_id}
                ended = sent[-1]
                assert ended.trigger_reason == "AbnormalCondition"
                assert ended.transaction_info.stopped_reason == "PowerLoss"
                assert energy(ended) == energy(sent[2]) == 5500.0
                assert ended.timestamp == NOW + timedelta(seconds=1800)
                assert ended.meter_value[-1].sampled_value[-1].context == "Transaction.End"
                await drained(b)
                await b.start_transaction(1, "TAG-2")
                started = (await csms.wait("TransactionEvent", where=lambda e: e.seq_no == 0))[0]
                assert energy(started) == 5500.0

    run(main())


# ------------------------------------------------------------------------------------------
# The queue: offline, order, retries, shedding


@pytest.mark.parametrize("stop_on_invalid", [True, False])
def test_offline_start_of_an_unknown_token_then_invalid(
    core: Backend, v2: str, stop_on_invalid: bool
) -> None:
    """TC_C_26_CS / TC_C_56_CS / TC_E_16_CS (C15.FR.02, C13.FR.04 as E201 2.4.3 words it, E05,
    E12): offline, a token in neither list is refused unless
    AuthCtrlr.OfflineTxForUnknownIdEnabled; with it the transaction starts, its messages are
    queued with offline true and delivered in order on reconnecting; the CSMS answers the
    idToken Invalid: with TxCtrlr.StopTxOnInvalidId the transaction ends (Deauthorized,
    DeAuthorized), without it the EVSE withholds the energy (ChargingStateChanged,
    SuspendedEVSE: TC_C_17_CS) and the driver stops it with the same token (StopAuthorized)."""

    async def main() -> None:
        station = make_station(v2, meter_interval=0)
        m = MODULES[v2]
        csms = Csms(invalid_in_tx=("STRANGER",))
        async with connect(core, station, csms, v2) as connection:
            await ready(station, csms)
            assert await set_variables(
                connection, put(m, "TxCtrlr", "StopTxOnInvalidId", str(stop_on_invalid).lower())
            ) == ["Accepted"]
        with pytest.raises(StationError, match="not authorized"):
            await station.start_transaction(1, "STRANGER")
        station.device_model.set_actual("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "true")
        await station.start_transaction(1, "STRANGER")
        clock_of(station).advance(60)
        await station.sample_now(1)
        again = Csms(invalid_in_tx=("STRANGER",))
        async with connect(core, station, again, v2):
            # Started, the energy flow (P6 EnergyTransferStarted step 9), the sample.
            queued = await again.wait("TransactionEvent", 3)
            assert [(e.event_type, e.offline) for e in queued] == [
                ("Started", True),
                ("Updated", True),
                ("Updated", True),
            ]
            assert queued[0].id_token.id_token == "STRANGER"
            assert queued[1].trigger_reason == "ChargingStateChanged"
            third = (await again.wait("TransactionEvent", 4))[3]
            assert third.offline is UNSET
            if stop_on_invalid:
                assert (third.event_type, third.trigger_reason) == ("Ended", "Deauthorized")
                assert third.transaction_info.stopped_reason == "DeAuthorized"
                assert station.transactions == {}
            else:
                assert (third.event_type, third.trigger_reason) == (
                    "Updated",
                    "ChargingStateChanged",
                )
                assert third.transaction_info.charging_state == "SuspendedEVSE"
                assert station.transactions[1].meter.power_w == 0.0
                await station.stop_transaction(1, id_token="STRANGER")
                ended = (await again.wait("TransactionEvent", where=is_ended))[0]
                assert ended.trigger_reason == "StopAuthorized"
                assert ended.id_token.id_token == "STRANGER"
            assert [e.seq_no for e in again.of("TransactionEvent")] == list(
                range(len(again.of("TransactionEvent")))
            )

    run(main())


def test_offline_transaction_from_the_cache_is_queued_in_order(core: Backend, v2: str) -> None:
    """TC_E_40_CS (E11), TC_E_43_CS (E12), TC_E_44_CS (E08), C12 (AuthCtrlr.LocalAuthorizeOffline):
    a token the authorization cache knows as Accepted starts a transaction offline, which is
    sampled and stopped offline; on reconnecting Started, Updated (the energy flow: P6
    EnergyTransferStarted step 9), Updated (with its meter values) and Ended are delivered in
    order, each with offline true, seqNo 0 to 3; with
    LocalAuthorizeOffline false the cached token is refused offline."""

    async def main() -> None:
        station = make_station(v2, meter_interval=0)
        csms = Csms()
        async with connect(core, station, csms, v2):
            await ready(station, csms)
            assert await station.authorize("TAG-1")
        transaction_id = await station.start_transaction(1, "TAG-1")
        clock_of(station).advance(360)
        await station.sample_now(1)
        await station.stop_transaction(1)
        await station.unplug(1)
        station.device_model.set_actual("AuthCtrlr", "LocalAuthorizeOffline", "false")
        with pytest.raises(StationError, match="not authorized"):
            await station.start_transaction(2, "TAG-1")
        again = Csms()
        async with connect(core, station, again, v2):
            await again.wait("TransactionEvent", where=is_ended)
            sent = again.of("TransactionEvent")
            assert [(e.event_type, e.seq_no, e.offline) for e in sent] == [
                ("Started", 0, True),
                ("Updated", 1, True),
                ("Updated", 2, True),
                ("Ended", 3, True),
            ]
            assert {e.transaction_info.transaction_id for e in sent} == {transaction_id}
            assert sent[1].trigger_reason == "ChargingStateChanged"
            assert energy(sent[2]) == energy(sent[3]) == 1100.0
            assert again.of("Authorize") == []

    run(main())


def test_retries_on_timeout_then_drop_and_a_lost_connection_is_no_attempt(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """TC_E_41_CS / TC_E_42_CS (E13.FR.01-04): no answer within the message timeout is a failed
    attempt: with MessageAttempts 2 the TransactionEvent goes out twice, then it is dropped with
    an ERROR line and the next message goes out; a connection lost while the answer is awaited
    is no attempt: the message is sent again on the next connection."""

    async def main() -> None:
        station = make_station("ocpp2.0.1")
        m = v201
        csms = Csms()
        async with connect(core, station, csms, "ocpp2.0.1", call_timeout=0.3) as connection:
            await ready(station, csms)
            assert await set_variables(
                connection,
                put(
                    m, "OCPPCommCtrlr", "MessageAttempts", "2", variable_instance="TransactionEvent"
                ),
                put(
                    m,
                    "OCPPCommCtrlr",
                    "MessageAttemptInterval",
                    "0",
                    variable_instance="TransactionEvent",
                ),
            ) == ["Accepted", "Accepted"]
            csms.hold_tx = held = asyncio.Event()
            await station.start_transaction(1, "TAG-1")
            first, again = await csms.wait("TransactionEvent", 2)
            assert (first.event_type, again.event_type, again.seq_no) == ("Started", "Started", 0)
            csms.hold_tx = None
            await station.stop_transaction(1)
            ended = (await csms.wait("TransactionEvent", where=is_ended))[0]
            assert ended.seq_no == 2
            assert [e.event_type for e in csms.of("TransactionEvent")] == [
                "Started",
                "Started",
                "Updated",  # the energy flow (P6 EnergyTransferStarted step 9), seqNo 1
                "Ended",
            ]
            csms.hold_tx = asyncio.Event()
            await station.unplug(1)
            await station.start_transaction(2, "TAG-2")
            await csms.wait("TransactionEvent", 5)
        held.set()
        # The Started in flight (no attempt: the connection was lost), the energy flow's Updated.
        assert [item.attempts for item in station.data.queue] == [0, 0]
        next_csms = Csms()
        async with connect(core, station, next_csms, "ocpp2.0.1"):
            started = (await next_csms.wait("TransactionEvent"))[0]
            assert (started.event_type, started.evse.id, started.seq_no) == ("Started", 2, 0)
            await drained(station)

    with caplog.at_level(logging.ERROR, logger="ocppfast.station"):
        run(main())
    dropped = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(
        "dropped TransactionEvent Started seqNo 0" in line and "after 2 attempts" in line
        for line in dropped
    )


def test_a_full_queue_sheds_updates_never_a_start_or_an_end(
    core: Backend, v2: str, caplog: pytest.LogCaptureFixture
) -> None:
    """E11 / E12 with a bounded queue (StationData.queue_limit 3): a full queue gives up its
    oldest TransactionEvent Updated, never a Started or an Ended (kept even past the limit);
    each message given up is logged; what is left goes out in order after the boot."""

    async def main() -> None:
        station = make_station(v2, meter_interval=0)
        station.data.queue_limit = 3
        station.device_model.set_actual("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "true")
        await station.start_transaction(1, "TAG-1")
        for _ in range(3):
            clock_of(station).advance(60)
            await station.sample_now(1)
        await station.stop_transaction(1)
        await station.start_transaction(2, "TAG-2")
        await station.stop_transaction(2)
        assert len(station.data.queue) == 4
        csms = Csms()
        async with connect(core, station, csms, v2):
            await ready(station, csms)
            sent = csms.of("TransactionEvent")
            assert [(e.event_type, e.evse.id, e.seq_no) for e in sent] == [
                ("Started", 1, 0),
                ("Ended", 1, 5),
                ("Started", 2, 0),
                ("Ended", 2, 2),
            ]
            assert all(e.offline is True for e in sent)

    with caplog.at_level(logging.WARNING, logger="ocppfast.station"):
        run(main())
    shed = [r.getMessage() for r in caplog.records if "message queue full" in r.getMessage()]
    # Transaction 1: the energy flow (seqNo 1) and three samples; transaction 2: its energy flow.
    assert [line.split("dropped ")[1].split(" of ")[0] for line in shed] == [
        "TransactionEvent Updated seqNo 1",
        "TransactionEvent Updated seqNo 2",
        "TransactionEvent Updated seqNo 3",
        "TransactionEvent Updated seqNo 4",
        "TransactionEvent Updated seqNo 1",
    ]


def test_offline_threshold_decides_which_connectors_are_reported(core: Backend, v2: str) -> None:
    """TC_B_52_CS (B04.FR.02): offline no longer than OCPPCommCtrlr.OfflineThreshold, only the
    connectors whose status changed are reported on reconnecting; TC_B_51_CS (B04.FR.01):
    longer, every connector is; neither time with a BootNotification (J201 5.3). (The queued
    TransactionEvents come after the statuses: they mark the end of them.)"""

    async def main() -> None:
        station = make_station(v2, meter_interval=0)
        clock = clock_of(station)
        csms = Csms()
        async with connect(core, station, csms, v2) as connection:
            await ready(station, csms)
            await set_variables(
                connection, put(MODULES[v2], "OCPPCommCtrlr", "OfflineThreshold", "60")
            )
            assert await station.authorize("TAG-1")
        await station.start_transaction(2, "TAG-1")
        clock.advance(60)
        short = Csms()
        async with connect(core, station, short, v2):
            await short.wait("TransactionEvent")
            assert [(s.evse_id, s.connector_status) for s in short.of("StatusNotification")] == [
                (2, "Occupied")
            ]
            assert short.of("BootNotification") == []
        await station.stop_transaction(2)
        clock.advance(61)
        long = Csms()
        async with connect(core, station, long, v2):
            await long.wait("TransactionEvent")
            statuses = [(s.evse_id, s.connector_status) for s in long.of("StatusNotification")]
            assert statuses == [(1, "Available"), (2, "Occupied")]
            assert long.of("BootNotification") == []

    run(main())


# ------------------------------------------------------------------------------------------
# The local authorization list (D01, D02, C13, C14)


def test_send_local_list_full_differential_and_versions(core: Backend, v2: str) -> None:
    """D01 (D01.FR.17: a differential entry without idTokenInfo is removed; D01.FR.18: version 0
    Failed; D01.FR.19: a differential update not newer than the list is VersionMismatch), D02
    (GetLocalListVersion: the version, 0 without a list), LocalAuthListCtrlr.ItemsPerMessage
    (more entries: Failed, TooManyElements), Enabled (false: Failed, NotEnabled), Entries."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, _csms, connection, m):

            async def send(request: Any) -> tuple[str, str | None]:
                response = await connection.call(request)
                info = response.status_info
                return response.status, None if info is UNSET else info.reason_code

            async def version() -> int:
                return int((await connection.call(m.GetLocalListVersionRequest())).version_number)

            def listed() -> dict[str, str]:
                return {t: e["status"] for t, e in station.data.tokens.get("local", {}).items()}

            assert await version() == 0
            full = local_list(m, 1, "Full", ("A", "Accepted"), ("B", "Accepted"))
            assert await send(full) == ("Accepted", None)
            assert (await version(), listed()) == (1, {"A": "Accepted", "B": "Accepted"})
            change = local_list(m, 2, "Differential", ("C", "Blocked"), ("A", None))
            assert await send(change) == ("Accepted", None)
            assert (await version(), listed()) == (2, {"B": "Accepted", "C": "Blocked"})
            stale = local_list(m, 2, "Differential", ("D", "Accepted"))
            assert (await send(stale))[0] == "VersionMismatch"
            assert await send(local_list(m, 3, "Differential")) == ("Accepted", None)
            assert (await version(), listed()) == (3, {"B": "Accepted", "C": "Blocked"})
            assert (await send(local_list(m, 0, "Full", ("E", "Accepted"))))[0] == "Failed"
            assert await send(local_list(m, 4, "Full", ("E", None))) == ("Failed", "MissingParam")
            twice = local_list(m, 4, "Full", ("E", "Accepted"), ("E", "Blocked"))
            assert (await send(twice))[0] == "Failed"
            many = local_list(m, 4, "Full", *[(f"T{i}", "Accepted") for i in range(251)])
            assert await send(many) == ("Failed", "TooManyElements")
            got = await connection.call(
                m.GetVariablesRequest(get_variable_data=[get(m, "LocalAuthListCtrlr", "Entries")])
            )
            assert got.get_variable_result[0].attribute_value == "2"
            assert await version() == 3
            assert await send(local_list(m, 5, "Full")) == ("Accepted", None)
            assert (await version(), listed()) == (0, {})
            await set_variables(connection, put(m, "LocalAuthListCtrlr", "Enabled", "false"))
            disabled = local_list(m, 6, "Full", ("A", "Accepted"))
            assert await send(disabled) == ("Failed", "NotEnabled")

    run(main())


def test_local_list_decides_before_the_cache(core: Backend, v2: str) -> None:
    """C14 (online): with LocalPreAuthorize an Accepted entry starts without an AuthorizeRequest
    (C14.FR.02); a Blocked or expired entry (past its cacheExpiryDateTime) is asked to the CSMS
    (C14.FR.03) unless LocalAuthListCtrlr.DisablePostAuthorize, and the answer is not cached (the
    list takes precedence). C13 (offline, LocalAuthorizeOffline): Accepted entries start,
    Blocked and expired ones never, whatever the cache says."""

    async def main() -> None:
        async with booted(core, v2, Csms(refused=("BLOCKED",))) as (station, csms, connection, m):
            assert await station.authorize("CACHED")  # the CSMS accepts it: cached
            expired = m.AuthorizationData(
                id_token=m.IdToken(id_token="OLD", type="ISO14443"),
                id_token_info=m.IdTokenInfo(
                    status="Accepted", cache_expiry_date_time=NOW - timedelta(hours=1)
                ),
            )
            request = local_list(m, 1, "Full", ("OK", "Accepted"), ("BLOCKED", "Blocked"))
            request.local_authorization_list.append(expired)
            assert (await connection.call(request)).status == "Accepted"
            blocked = local_list(m, 2, "Differential", ("CACHED", "Blocked"))
            assert (await connection.call(blocked)).status == "Accepted"
            assert "CACHED" not in station.data.tokens.get("cache", {})
            await set_variables(connection, put(m, "AuthCtrlr", "LocalPreAuthorize", "true"))
            assert await station.authorize("OK")
            assert csms.of("Authorize")[1:] == []
            assert not await station.authorize("BLOCKED")  # asked: the CSMS says Invalid
            assert await station.authorize("OLD")  # asked: the CSMS says Accepted
            assert [a.id_token.id_token for a in csms.of("Authorize")[1:]] == ["BLOCKED", "OLD"]
            assert "OLD" not in station.data.tokens.get("cache", {})
            await set_variables(
                connection, put(m, "LocalAuthListCtrlr", "DisablePostAuthorize", "true")
            )
            assert not await station.authorize("OLD")
            assert len(csms.of("Authorize")) == 3
        assert await station.authorize("OK")
        assert not await station.authorize("BLOCKED")
        assert not await station.authorize("OLD")
        assert not await station.authorize("CACHED")

    run(main())


# ------------------------------------------------------------------------------------------
# The authorization cache (C10-C12)


def test_authorization_cache_decisions(core: Backend, v2: str) -> None:
    """TC_C_36_CS (LocalPreAuthorize false: asked), TC_C_08_CS (Accepted in the cache with
    LocalPreAuthorize: no AuthorizeRequest), TC_C_09_CS / TC_C_12_CS (C10.FR.03: a cached
    Invalid token is asked again, and the new answer kept: C10.FR.04), TC_C_57_CS
    (AuthCacheCtrlr.DisablePostAuthorize: not asked, refused), TC_C_46_CS (C10.FR.08: unused
    for AuthCacheCtrlr.LifeTime seconds, forgotten and asked again), TC_C_34_CS (C10.FR.05: a
    TransactionEventResponse updates the cache)."""

    async def main() -> None:
        station = make_station(v2)
        csms = Csms()
        m = MODULES[v2]

        def asked() -> list[str]:
            return [a.id_token.id_token for a in csms.of("Authorize")]

        async with connect(core, station, csms, v2) as connection:
            await ready(station, csms)
            assert await station.authorize("T1")
            assert await station.authorize("T1")
            assert asked() == ["T1", "T1"]
            await set_variables(connection, put(m, "AuthCtrlr", "LocalPreAuthorize", "true"))
            assert await station.authorize("T1")
            assert asked() == ["T1", "T1"]
            csms.refused.add("T2")
            assert not await station.authorize("T2")
            csms.refused.discard("T2")
            assert await station.authorize("T2")
            assert await station.authorize("T2")
            assert asked() == ["T1", "T1", "T2", "T2"]
            csms.refused.add("T3")
            assert not await station.authorize("T3")
            await set_variables(
                connection, put(m, "AuthCacheCtrlr", "DisablePostAuthorize", "true")
            )
            assert not await station.authorize("T3")
            assert asked() == ["T1", "T1", "T2", "T2", "T3"]
            await set_variables(connection, put(m, "AuthCacheCtrlr", "LifeTime", "60"))
            clock_of(station).advance(61)
            assert await station.authorize("T1")
            assert asked()[-1] == "T1" and len(asked()) == 6
            csms.invalid_in_tx.add("T1")
            await station.start_transaction(1, "T1")  # from the cache: no AuthorizeRequest
            assert len(asked()) == 6
            await csms.wait("TransactionEvent", where=is_ended)  # StopTxOnInvalidId
            assert station.data.tokens["cache"]["T1"]["status"] == "Invalid"

    run(main())


def test_authorization_cache_storage_and_policy(
    core: Backend, v2: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A201 3.1.3 AuthCacheCtrlr.Storage (bytes used, maxLimit) and Policy: when the cache
    would exceed its maxLimit, the least recently used entry goes (LRU), or the least
    frequently used one (LFU)."""
    monkeypatch.setattr(station_v2, "_CACHE_MAX_BYTES", 300)

    async def main() -> None:
        station = make_station(v2)
        csms = Csms()
        m = MODULES[v2]
        clock = clock_of(station)
        async with connect(core, station, csms, v2) as connection:
            await ready(station, csms)
            await set_variables(connection, put(m, "AuthCtrlr", "LocalPreAuthorize", "true"))
            for token in ("A", "B"):
                clock.advance(1)
                assert await station.authorize(token)
            clock.advance(1)
            assert await station.authorize("A")  # used again: B is now the least recent
            clock.advance(1)
            assert await station.authorize("C")
            assert sorted(station.data.tokens["cache"]) == ["A", "C"]
            storage = await connection.call(
                m.GetVariablesRequest(get_variable_data=[get(m, "AuthCacheCtrlr", "Storage")])
            )
            assert 0 < int(storage.get_variable_result[0].attribute_value) <= 300
            await set_variables(connection, put(m, "AuthCacheCtrlr", "Policy", "LFU"))
            clock.advance(1)
            assert await station.authorize("C")  # C: 2 uses, A: 2 uses, C more recent
            clock.advance(1)
            assert await station.authorize("C")  # C: 3 uses
            clock.advance(1)
            assert await station.authorize("D")  # A (2 uses) goes, not C
            assert sorted(station.data.tokens["cache"]) == ["C", "D"]

    run(main())


# ------------------------------------------------------------------------------------------
# Stopping with an id token (E07, C09)


def test_stop_by_the_starting_token_or_one_of_its_group(core: Backend, v2: str) -> None:
    """E07 (TC_E_15_CS): the token that started the transaction stops it, without an
    AuthorizeRequest (StopAuthorized, Local, the idToken in the Ended event); C09 (TC_C_39_CS):
    another token of the same group, once authorized, stops it too; TC_C_04_CS: a different
    token does not; TC_C_42_CS: an invalid token of the group does not."""

    async def main() -> None:
        station = make_station(v2)
        groups = {"A": "FAMILY", "B": "FAMILY", "BAD": "FAMILY"}
        csms = Csms(groups=groups, refused=("BAD",))
        async with connect(core, station, csms, v2):
            await ready(station, csms)
            await station.start_transaction(1, "A")
            for token in ("X", "BAD"):
                with pytest.raises(StationError, match="may not stop"):
                    await station.stop_transaction(1, id_token=token)
            assert 1 in station.transactions
            await station.stop_transaction(1, id_token="B")
            ended = (await csms.wait("TransactionEvent", where=is_ended))[0]
            assert (ended.trigger_reason, ended.transaction_info.stopped_reason) == (
                "StopAuthorized",
                "Local",
            )
            assert ended.id_token.id_token == "B"
            await station.start_transaction(2, "A")
            asked = len(csms.of("Authorize"))
            await station.stop_transaction(2, id_token="A")
            ended = (await csms.wait("TransactionEvent", 2, where=is_ended))[1]
            assert ended.id_token.id_token == "A"
            assert len(csms.of("Authorize")) == asked

    run(main())


# ------------------------------------------------------------------------------------------
# What whoever runs the station is told


def test_sync_handlers_and_client_settings_reach_the_runner(core: Backend) -> None:
    """The Rejected guard (B03.FR.08) awaits a sync `@on` handler's answer as well as an async
    one's; RetryBackOff* (J201 5.3), WebSocketPingInterval (J201 8.4) and BasicAuthPassword (A01)
    set with SetVariables reach whoever runs the Client (`backoff_changed`,
    `ping_interval_changed`, `password_changed`), for its next connection."""

    class Vendor(StationV2):
        @on("DataTransfer", versions=V2)
        def data_transfer(self, request: Any) -> Any:
            return v201.DataTransferResponse(
                status=v201.DataTransferStatusEnum.Accepted, data=request.vendor_id
            )

    async def main() -> None:
        station = Vendor(StationConfig("CP1"), clock=Clock(), data=StationData.in_memory("CP1"))
        STATIONS.append(station)
        told: list[Any] = []
        station.backoff_changed = told.append
        station.ping_interval_changed = told.append
        station.password_changed = lambda password: told.append(len(password))
        csms = Csms()
        m = v201
        async with connect(core, station, csms, "ocpp2.0.1") as connection:
            await ready(station, csms)
            answer = await connection.call(m.DataTransferRequest(vendor_id="com.example"))
            assert (answer.status, answer.data) == ("Accepted", "com.example")
            assert (
                await set_variables(
                    connection,
                    put(m, "OCPPCommCtrlr", "RetryBackOffWaitMinimum", "7"),
                    put(m, "OCPPCommCtrlr", "WebSocketPingInterval", "0"),
                    put(m, "SecurityCtrlr", "BasicAuthPassword", "another-Passw0rd.xyz"),
                )
                == ["Accepted"] * 3
            )
            assert told == [BackOff(wait_minimum=7, random_range=2, repeat_times=5), 0, 20]
            assert station.backoff.wait_minimum == 7

    run(main())
