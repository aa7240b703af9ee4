"""The OCA test cases of OCPP 2.0.1 part 6 (P6) that need a simulated EV that suspends the energy
transfer, or a driver who presents an idToken and never connects the EV: TC_E_05_CS, TC_E_17_CS,
TC_E_20_CS, TC_E_22_CS, TC_E_24_CS and TC_E_37_CS, with the station as the system under test.
As tests/test_station_oca.py (whose helpers these use), each test plays the OCTT's part with the
test CSMS of tests/test_station_v2.py and checks the case's tool validations in P6's order.

The OCTT's manual actions are the inputs of `StationV2`'s simulated EV and driver:
`present_id_token` (a driver presents an idToken, the EV connected or not), `plug_in`,
`ev_suspend` / `ev_resume` (the EV suspends / resumes the energy transfer), `unplug` (the EV
disconnects: the simulated cable leaves the EV and the station side at once). P6's reusable
state EnergyTransferSuspended is checked as E201 6.1.32 amends it."""

from __future__ import annotations

from typing import Any

import pytest

from ocppfast._core import Backend
from ocppfast.station.v2 import StationError, StationV2
from tests.test_station_oca import (
    BOTH_VERSIONS,
    TOKEN,
    assert_id_token,
    available,
    configure,
    energy_flows,
    idle_queue,
    is_started,
    occupied,
)
from tests.test_station_v2 import Csms, booted, clock_of, energy, get, is_ended, measured, run

# P6's <Configured Transaction Duration>: how long the EV charges before it suspends.
TRANSACTION_DURATION = 600.0


def of_transaction(csms: Csms, transaction_id: str) -> list[Any]:
    """The TransactionEvents of one transaction the CSMS received, in order."""
    return [
        event
        for event in csms.of("TransactionEvent")
        if event.transaction_info.transaction_id == transaction_id
    ]


def power(event: Any) -> float:
    """The last Power.Active.Import of a TransactionEvent."""
    return measured(event, "Power.Active.Import")


async def sampled(station: StationV2, csms: Csms) -> Any:
    """A periodic sample of EVSE 1's transaction taken now (`sample_now`): its Updated event."""
    count = len(csms.of("TransactionEvent")) + 1
    await station.sample_now(1)
    return (await csms.wait("TransactionEvent", count))[-1]


def assert_suspended_by_ev(event: Any) -> None:
    """P6 reusable state EnergyTransferSuspended step 1 (E201 6.1.32), the transaction going on:
    Updated, triggerReason ChargingStateChanged, chargingState SuspendedEV."""
    assert (event.event_type, event.trigger_reason) == ("Updated", "ChargingStateChanged")
    assert event.transaction_info.charging_state == "SuspendedEV"


async def energy_transfer_suspended(
    station: StationV2, csms: Csms, connection: Any, stop_point: str
) -> str:
    """TxStopPoint `stop_point`, then P6's reusable state EnergyTransferStarted (Authorized
    local, the EV connects, the energy flows), <Configured Transaction Duration> of charging,
    then EnergyTransferSuspended: the EV suspends the energy transfer; step 1 is an Updated
    event with chargingState SuspendedEV, and from then on the meter shows no power and no
    more energy. Returns the transaction id."""
    await configure(connection, ("TxCtrlr", "TxStopPoint", stop_point))
    transaction_id = await station.start_transaction(1, TOKEN)
    await csms.wait("TransactionEvent", where=energy_flows)
    clock_of(station).advance(TRANSACTION_DURATION)
    charging = await sampled(station, csms)
    assert energy(charging) > 0 and power(charging) > 0
    count = len(csms.of("TransactionEvent")) + 1
    await station.ev_suspend(1)
    suspended = (await csms.wait("TransactionEvent", count))[-1]
    assert suspended.transaction_info.transaction_id == transaction_id
    assert_suspended_by_ev(suspended)
    clock_of(station).advance(TRANSACTION_DURATION)
    after = await sampled(station, csms)
    assert after.transaction_info.charging_state == "SuspendedEV"
    assert (energy(after), power(after)) == (energy(charging), 0.0)
    assert station.connector_status(1) == "Occupied"
    return transaction_id


async def ev_side_disconnect(station: StationV2, csms: Csms, transaction_id: str) -> Any:
    """Manual action "Disconnect the EV and EVSE on EV side": the Ended event of step 1 -
    triggerReason EVCommunicationLost, chargingState Idle (TxCtrlr.StopTxOnEVSideDisconnect is
    true, E10)."""
    await station.unplug(1)
    (ended,) = await csms.wait("TransactionEvent", where=is_ended)
    assert ended.transaction_info.transaction_id == transaction_id
    assert (ended.event_type, ended.trigger_reason) == ("Ended", "EVCommunicationLost")
    assert ended.transaction_info.charging_state == "Idle"
    return ended


async def connector_available(csms: Csms) -> None:
    """Step 3 of TC_E_17_CS and TC_E_24_CS: the connector is reported Available again (the
    StatusNotificationRequest choice of P6's "StatusNotificationRequest / NotifyEventRequest";
    the first Available is the boot's)."""
    await csms.wait("StatusNotification", where=available(1), count=2)


# ------------------------------------------------------------------------------------------
# TC_E_05_CS: authorization first, no EV


@BOTH_VERSIONS
@pytest.mark.parametrize(
    ("start_point", "stop_point", "timed_out"),
    [
        ("Authorized", "EVConnected,Authorized", "Ended"),
        ("Authorized", "EVConnected", "Updated"),
        ("PowerPathClosed", "EVConnected,Authorized", None),
    ],
)
def test_TC_E_05_CS_authorization_first_cable_plugin_timeout(
    core: Backend, v2: str, start_point: str, stop_point: str, timed_out: str | None
) -> None:
    """TC_E_05_CS (E03.FR.01, E03.FR.05, C01.FR.02): EVConnectionTimeOut 1 s, the authorization
    cache disabled, LocalPreAuthorize false; Authorized (local: the driver presents the idToken,
    an AuthorizeRequest, and no EV). Step 1, when a transaction started (TxStartPoint
    Authorized), once the timeout expired: triggerReason EVConnectTimeout; with a TxStopPoint
    with Authorized eventType Ended and stoppedReason Timeout, else Updated (the transaction goes
    on, deauthorized). With TxStartPoint PowerPathClosed no transaction started and none is
    reported: the authorization just ends (the connector is Available again). Steps 3-4: the
    EVSE charges again: Authorized (local) - with TxStartPoint Authorized a TransactionEvent
    Authorized with the idToken - then EnergyTransferStarted."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, _):
            await configure(
                connection,
                ("TxCtrlr", "EVConnectionTimeOut", "1"),
                ("AuthCacheCtrlr", "Enabled", "false"),
                ("AuthCtrlr", "LocalPreAuthorize", "false"),
                ("TxCtrlr", "TxStartPoint", start_point),
                ("TxCtrlr", "TxStopPoint", stop_point),
            )
            # Authorized (local), Main A.
            first_id = await station.present_id_token(1, TOKEN)
            assert_id_token((await csms.wait("Authorize"))[0])
            await csms.wait("StatusNotification", where=occupied(1))
            if start_point == "Authorized":
                assert first_id is not None
                (started,) = await csms.wait("TransactionEvent")
                assert (started.event_type, started.trigger_reason) == ("Started", "Authorized")
                assert_id_token(started)
            else:
                assert first_id is None
            # Steps 1-2, after <Configured ev_connection_timeout>.
            if timed_out is not None:
                timeout = (await csms.wait("TransactionEvent", 2))[1]
                assert timeout.transaction_info.transaction_id == first_id
                assert (timeout.event_type, timeout.trigger_reason) == (
                    timed_out,
                    "EVConnectTimeout",
                )
                if timed_out == "Ended":
                    assert timeout.transaction_info.stopped_reason == "Timeout"
                    await connector_available(csms)
                else:
                    assert station.transactions[1].id == first_id
            else:
                await connector_available(csms)
                await idle_queue(connection)
                assert csms.of("TransactionEvent") == [] and station.transactions == {}
            # Step 3: Authorized (local) again.
            events = len(csms.of("TransactionEvent"))
            second_id = await station.present_id_token(1, TOKEN)
            assert len(await csms.wait("Authorize", 2)) == 2
            if start_point == "Authorized":
                authorized = (await csms.wait("TransactionEvent", events + 1))[-1]
                assert authorized.trigger_reason == "Authorized"
                assert_id_token(authorized)
                assert authorized.event_type == ("Updated" if timed_out == "Updated" else "Started")
                assert (second_id == first_id) == (timed_out == "Updated")
            # Step 4: EnergyTransferStarted.
            await station.plug_in(1)
            (flowing,) = await csms.wait("TransactionEvent", where=energy_flows)
            transaction_id = flowing.transaction_info.transaction_id
            assert second_id in (None, transaction_id)
            assert station.connector_status(1) == "Occupied"
            if start_point == "Authorized":  # EnergyTransferStarted Part 1 step 3
                plugged = of_transaction(csms, transaction_id)[-2]
                assert (plugged.trigger_reason, plugged.transaction_info.charging_state) == (
                    "CablePluggedIn",
                    "EVConnected",
                )
            else:  # Part 2 step 7: the transaction starts as the power path closes
                started = of_transaction(csms, transaction_id)[0]
                assert is_started(started) and started.trigger_reason == "ChargingStateChanged"
                assert started.transaction_info.charging_state == "SuspendedEVSE"
                assert_id_token(started)

    run(main())


# ------------------------------------------------------------------------------------------
# EnergyTransferSuspended, then the EV disconnects


@BOTH_VERSIONS
def test_TC_E_17_CS_deauthorized_ev_side_disconnect(core: Backend, v2: str) -> None:
    """TC_E_17_CS (E06.FR.04, E06.FR.15): TxStopPoint Authorized, StopTxOnEVSideDisconnect true
    (ReadOnly here), AuthEnabled true; EnergyTransferSuspended; the EV side disconnects. Step 1:
    Ended, triggerReason EVCommunicationLost, chargingState Idle, stoppedReason EVDisconnected;
    step 3 (the cable leaves the station side too): the connector is Available. The case's
    UnlockOnEVSideDisconnect false cannot be set (ReadOnly true): the cable is released at
    once, so the manual action of presenting the idToken to unlock it is not needed."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, _):
            transaction_id = await energy_transfer_suspended(
                station, csms, connection, "Authorized"
            )
            ended = await ev_side_disconnect(station, csms, transaction_id)
            assert ended.transaction_info.stopped_reason == "EVDisconnected"
            await connector_available(csms)

    run(main())


@BOTH_VERSIONS
def test_TC_E_20_CS_ev_connected_stop_point_ev_side_disconnect(core: Backend, v2: str) -> None:
    """TC_E_20_CS (E06.FR.02, E06.FR.15, E10), an IEC 61851-1 EV: TxStopPoint EVConnected
    (StopTxOnEVSideDisconnect is ReadOnly true, which the case allows when TxStopPoint is
    ReadWrite); EnergyTransferSuspended; the EV side disconnects. Step 1: Ended, triggerReason
    EVCommunicationLost, chargingState Idle, stoppedReason EVDisconnected."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, _):
            transaction_id = await energy_transfer_suspended(
                station, csms, connection, "EVConnected"
            )
            ended = await ev_side_disconnect(station, csms, transaction_id)
            assert ended.transaction_info.stopped_reason == "EVDisconnected"

    run(main())


@BOTH_VERSIONS
def test_TC_E_37_CS_power_path_closed_stop_point_ev_side_disconnect(core: Backend, v2: str) -> None:
    """TC_E_37_CS (E06.FR.06, E06.FR.15): TxStopPoint PowerPathClosed; EnergyTransferSuspended
    (the EV suspending does not open the power path: the transaction goes on); the EV side
    disconnects. Step 1: Ended, triggerReason EVCommunicationLost, chargingState Idle,
    stoppedReason EVDisconnected."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, _):
            transaction_id = await energy_transfer_suspended(
                station, csms, connection, "PowerPathClosed"
            )
            ended = await ev_side_disconnect(station, csms, transaction_id)
            assert ended.transaction_info.stopped_reason == "EVDisconnected"

    run(main())


@BOTH_VERSIONS
def test_TC_E_24_CS_ev_side_disconnect_unlocks(core: Backend, v2: str) -> None:
    """TC_E_24_CS (E09.FR.01, E09.FR.02, E09.FR.04): StopTxOnEVSideDisconnect and
    UnlockOnEVSideDisconnect true (both ReadOnly, as GetVariables shows); EnergyTransferSuspended
    (the default TxStopPoint, EVConnected and Authorized); the EV side disconnects. Step 1:
    triggerReason EVCommunicationLost, chargingState Idle (the transaction ends, E09.FR.01);
    step 3: the cable unlocked (E09.FR.02) and taken away, the connector is Available."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, m):
            response = await connection.call(
                m.GetVariablesRequest(
                    get_variable_data=[
                        get(m, "TxCtrlr", "StopTxOnEVSideDisconnect"),
                        get(m, "OCPPCommCtrlr", "UnlockOnEVSideDisconnect"),
                    ]
                )
            )
            assert [r.attribute_value for r in response.get_variable_result] == ["true", "true"]
            transaction_id = await energy_transfer_suspended(
                station, csms, connection, "EVConnected,Authorized"
            )
            ended = await ev_side_disconnect(station, csms, transaction_id)
            assert ended.event_type == "Ended"
            await connector_available(csms)

    run(main())


# ------------------------------------------------------------------------------------------
# The EV stops the energy transfer, the transaction goes on or ends


@BOTH_VERSIONS
def test_TC_E_22_CS_energy_transfer_stop_point_suspended_ev(core: Backend, v2: str) -> None:
    """TC_E_22_CS (E06.FR.07, E06.FR.15): TxStopPoint EnergyTransfer; EnergyTransferStarted;
    the EV suspends the energy transfer, which ends the transaction. Step 1: triggerReason
    ChargingStateChanged, eventType Ended with chargingState EVConnected and stoppedReason
    StoppedByEV. The EV still connected is Occupied; the authorization ended with the
    transaction, so the EV resuming starts no new one."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, _):
            await configure(connection, ("TxCtrlr", "TxStopPoint", "EnergyTransfer"))
            transaction_id = await station.start_transaction(1, TOKEN)
            await csms.wait("TransactionEvent", where=energy_flows)
            clock_of(station).advance(TRANSACTION_DURATION)
            await station.ev_suspend(1)
            (ended,) = await csms.wait("TransactionEvent", where=is_ended)
            assert ended.transaction_info.transaction_id == transaction_id
            assert (ended.event_type, ended.trigger_reason) == ("Ended", "ChargingStateChanged")
            info = ended.transaction_info
            assert (info.charging_state, info.stopped_reason) == ("EVConnected", "StoppedByEV")
            assert energy(ended) > 0
            assert station.transactions == {} and station.connector_status(1) == "Occupied"
            await station.ev_resume(1)
            await idle_queue(connection)
            assert len(csms.of("TransactionEvent")) == len(of_transaction(csms, transaction_id))
            assert station.transactions == {}

    run(main())


@BOTH_VERSIONS
def test_energy_transfer_suspended_then_resumed(core: Backend, v2: str) -> None:
    """P6 reusable state EnergyTransferSuspended (E201 6.1.32) with the default TxStopPoint
    (EVConnected, Authorized): the transaction goes on (SuspendedEV, no power, no energy); when
    the EV takes energy again it is reported as at EnergyTransferStarted step 9 (Updated,
    ChargingStateChanged, Charging) and the energy rises again; a stop then ends it as usual."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, _):
            transaction_id = await energy_transfer_suspended(
                station, csms, connection, "EVConnected,Authorized"
            )
            suspended = await sampled(station, csms)
            count = len(csms.of("TransactionEvent")) + 1
            await station.ev_resume(1)
            resumed = (await csms.wait("TransactionEvent", count))[-1]
            assert resumed.event_type == "Updated" and energy_flows(resumed)
            clock_of(station).advance(TRANSACTION_DURATION)
            charging = await sampled(station, csms)
            assert charging.transaction_info.charging_state == "Charging"
            assert energy(charging) > energy(suspended) and power(charging) > 0
            await station.stop_transaction(1)
            (ended,) = await csms.wait("TransactionEvent", where=is_ended)
            assert ended.transaction_info.transaction_id == transaction_id
            assert ended.transaction_info.stopped_reason == "Local"

    run(main())


@BOTH_VERSIONS
@pytest.mark.parametrize("start_point", ["PowerPathClosed", "EnergyTransfer"])
def test_ev_suspended_before_the_start(core: Backend, v2: str, start_point: str) -> None:
    """An EV that keeps the energy transfer suspended when the driver authorizes: with
    TxStartPoint PowerPathClosed the transaction starts as the power path closes (Started,
    ChargingStateChanged, SuspendedEVSE: EnergyTransferStarted step 7), then SuspendedEV, as
    the EV takes no energy; with TxStartPoint EnergyTransfer (E01.FR.06) it starts only when the
    energy flows, once the EV resumes (Started, ChargingStateChanged, Charging: TC_E_02_CS).
    Suspending or resuming without an EV is refused."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, _):
            with pytest.raises(StationError, match="no EV"):
                await station.ev_suspend(1)
            with pytest.raises(StationError, match="no EV"):
                await station.ev_resume(1)
            await configure(connection, ("TxCtrlr", "TxStartPoint", start_point))
            await station.plug_in(1)
            await station.ev_suspend(1)
            transaction_id = await station.present_id_token(1, TOKEN)
            await csms.wait("Authorize")
            if start_point == "PowerPathClosed":
                assert transaction_id is not None
                started, suspended = await csms.wait("TransactionEvent", 2)
                assert (started.event_type, started.trigger_reason) == (
                    "Started",
                    "ChargingStateChanged",
                )
                assert started.transaction_info.charging_state == "SuspendedEVSE"
                assert_suspended_by_ev(suspended)
            else:
                assert transaction_id is None
                await idle_queue(connection)
                assert csms.of("TransactionEvent") == []
            await station.ev_resume(1)
            (flowing,) = await csms.wait("TransactionEvent", where=energy_flows)
            assert flowing.event_type == ("Updated" if transaction_id else "Started")
            assert_id_token(csms.of("TransactionEvent")[0])

    run(main())
