"""The OCA test cases of OCPP 2.0.1 part 6 (P6) for the functional blocks B, C, E, F and G with the
charging station as the system under test (TC_*_CS), for the cases tests/test_station_v2.py does
not already follow step by step. Each test plays the OCTT's part with the test CSMS of
tests/test_station_v2.py and checks the case's tool validations in the order P6 gives them;
docs/station-conformance.md maps every case of those blocks to its test, or says why there is
none.

P6's reusable states keep their P6 names in the comments (EVConnectedPreSession, Authorized,
EnergyTransferStarted, StopAuthorized, EVDisconnected, ...). The simulated EV of `StationV2`
stands in for the OCTT's manual actions: `plug_in` connects the EV and EVSE, `start_transaction`
presents an idToken (and connects the EV if it is not), `stop_transaction` presents it again to
stop, `unplug` disconnects. Errata E201 section 6.1 (2023-12) amends some cases; the tests follow
the amended text and say so."""

from __future__ import annotations

import asyncio
import datetime
import logging
import ssl
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import serve

from ocppfast import v201
from ocppfast._core import Backend
from ocppfast._core.message import UNSET
from ocppfast.security import CertificateStore, server_context
from ocppfast.security import pki as pki_module
from ocppfast.station.v2 import StationError, StationV2
from tests import aio
from tests.test_station_network_profiles import (
    NO_BACK_OFF,
    PASSWORD,
    CsmsServer,
    SilentServer,
    active_profile,
    attached,
    network_profile,
    switches,
)
from tests.test_station_v2 import (
    MODULES,
    NOW,
    V2,
    WAIT,
    Csms,
    booted,
    clock_of,
    connect,
    get,
    is_ended,
    put,
    ready,
    remote_start,
    report_parts,
    reported,
    run,
    set_variables,
    wire,
)

# Each test runs on both backends (the `core` fixture); these also on both 2.x versions.
BOTH_VERSIONS = pytest.mark.parametrize("v2", V2)
# P6's <Configured valid_idtoken_*>: an RFID card (C-30, ISO 14443).
TOKEN = "TAG-1"
TOKEN_TYPE = "ISO14443"


class OcaCsms(Csms):
    """The test CSMS of tests/test_station_v2.py with two more answers an OCTT run configures:
    `statuses`, the idTokenInfo.status of the AuthorizeResponse per id token (P6's configured
    blocked, expired, unknown, ... tokens; Accepted for the others); `unanswered`, how many
    TransactionEvents to leave unanswered, so that the station's message timeout runs out
    (TC_E_41_CS, TC_E_42_CS)."""

    def __init__(
        self, *, statuses: dict[str, str] | None = None, unanswered: int = 0, **options: Any
    ) -> None:
        super().__init__(**options)
        self.statuses = dict(statuses or {})
        self.unanswered = unanswered

    def authorize(self, request: Any) -> Any:
        status = self.statuses.get(request.id_token.id_token)
        if status is None:
            return super().authorize(request)
        self._got(request)
        return self.m.AuthorizeResponse(id_token_info=self.m.IdTokenInfo(status=status))

    async def transaction_event(self, request: Any) -> Any:
        if self.unanswered > 0:
            self.unanswered -= 1
            self._got(request)
            await asyncio.Event().wait()  # never set: this CALL is never answered
        return await super().transaction_event(request)


# `where` filters for Csms.wait: the StatusNotification of connector 1 of `evse` with a status.
def occupied(evse: int) -> Any:
    return lambda r: (r.evse_id, r.connector_id, r.connector_status) == (evse, 1, "Occupied")


def available(evse: int) -> Any:
    return lambda r: (r.evse_id, r.connector_id, r.connector_status) == (evse, 1, "Available")


def unavailable(evse: int) -> Any:
    return lambda r: (r.evse_id, r.connector_id, r.connector_status) == (evse, 1, "Unavailable")


def statuses_of(csms: Csms) -> dict[int, str]:
    """The last status reported per EVSE (connector 1)."""
    return {s.evse_id: s.connector_status for s in csms.of("StatusNotification")}


def is_started(request: Any) -> bool:
    return wire(request.event_type) == "Started"


async def started_of(csms: Csms, count: int = 1) -> Any:
    """The `count`th Started TransactionEvent the CSMS received, waiting for it."""
    return (await csms.wait("TransactionEvent", count, where=is_started))[-1]


def energy_flows(event: Any) -> bool:
    """P6 reusable state EnergyTransferStarted step 9: the TransactionEvent of the start of the
    energy transfer: triggerReason ChargingStateChanged, chargingState Charging."""
    return (event.trigger_reason, event.transaction_info.charging_state) == (
        "ChargingStateChanged",
        "Charging",
    )


async def configure(connection: Any, *items: tuple[str, str, str]) -> None:
    """P6 "Configuration State": SetVariables (component, variable, value), all Accepted."""
    m = MODULES[connection.version]
    statuses = await set_variables(connection, *(put(m, *item) for item in items))
    assert statuses == ["Accepted"] * len(items)


async def idle_queue(connection: Any) -> None:
    """Wait until nothing waits to be sent to the CSMS (GetTransactionStatus without
    transactionId: messagesInQueue false, E14.FR.06): what the station had to send is then in
    the test CSMS's log, and what is not there was never sent."""
    m = MODULES[connection.version]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while (await connection.call(m.GetTransactionStatusRequest())).messages_in_queue:
        assert loop.time() < deadline, "messages still queued"
        await asyncio.sleep(0.01)


async def cache_token(
    connection: Any, station: StationV2, csms: Csms, token: str, *, accepted: bool
) -> None:
    """P6 memory state IdTokenCached: a session with `token` at EVSE 1, authorized by the CSMS
    so that the authorization cache holds its status (Main A: Accepted, the session runs and the
    EV leaves; Main B: any other status, no transaction, the EV leaves). Every message of the
    session is answered before this returns, so that the test may change the CSMS's answers."""
    authorized = len(csms.of("Authorize"))
    await station.plug_in(1)
    if accepted:
        await station.start_transaction(1, token)
        await station.stop_transaction(1)
    else:
        with pytest.raises(StationError, match="not authorized"):
            await station.start_transaction(1, token)
    await station.unplug(1)
    await idle_queue(connection)
    assert len(csms.of("Authorize")) == authorized + 1


def assert_id_token(event: Any, token: str = TOKEN) -> None:
    assert (event.id_token.id_token, event.id_token.type) == (token, TOKEN_TYPE)


# ------------------------------------------------------------------------------------------
# B Provisioning


@BOTH_VERSIONS
def test_TC_B_11_CS_invalidly_formatted_values(core: Backend, v2: str) -> None:
    """TC_B_11_CS (B05.FR.07), steps as E201 6.1.4 amends them: each value of <configured
    offlineThreshold>, <configured offlineThreshold + 0.1>, true, currentTime and "abc" is set,
    one SetVariablesRequest each, on OCPPCommCtrlr.OfflineThreshold (integer) and
    AuthCtrlr.AuthorizeRemoteStart (boolean, ReadWrite here): only the value of the variable's
    type is Accepted, the others are Rejected with InvalidValue; steps 3-4 the same on
    SmartChargingCtrlr.LimitChangeSignificance (decimal, percent): both numbers are Accepted.
    Steps 7-8 are run only for a station that has ClockCtrlr.NextTimeOffsetTransitionDateTime:
    this one has not (UnknownVariable)."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, _csms, connection, m):
            values = ("300", "300.1", "true", "2026-11-21T09:30:00Z", "abc")
            for component_name, variable, good in (
                ("OCPPCommCtrlr", "OfflineThreshold", ("300",)),
                ("SmartChargingCtrlr", "LimitChangeSignificance", ("300", "300.1")),
                ("AuthCtrlr", "AuthorizeRemoteStart", ("true",)),
            ):
                for value in values:
                    response = await connection.call(
                        m.SetVariablesRequest(
                            set_variable_data=[put(m, component_name, variable, value)]
                        )
                    )
                    (result,) = response.set_variable_result
                    assert (result.component.name, result.variable.name) == (
                        component_name,
                        variable,
                    )
                    # The request omits attributeType, which means Actual (SetVariableDataType).
                    assert result.attribute_type in (UNSET, "Actual")
                    if value in good:
                        assert result.attribute_status == "Accepted", value
                    else:
                        assert result.attribute_status == "Rejected", value
                        assert result.attribute_status_info.reason_code == "InvalidValue"
            model = station.device_model
            assert model.get("OCPPCommCtrlr", "OfflineThreshold") == "300"
            assert model.get("AuthCtrlr", "AuthorizeRemoteStart") == "true"
            assert model.get("SmartChargingCtrlr", "LimitChangeSignificance") == "300.1"
            unsupported = await connection.call(
                m.GetVariablesRequest(
                    get_variable_data=[get(m, "ClockCtrlr", "NextTimeOffsetTransitionDateTime")]
                )
            )
            assert [r.attribute_status for r in unsupported.get_variable_result] == [
                "UnknownVariable"
            ]

    run(main())


def test_TC_B_21_CS_on_idle_reset_waits_for_the_transaction(core: Backend) -> None:
    """TC_B_21_CS (B12.FR.01, B12.FR.03; E201 6.1.5): EnergyTransferStarted; ResetRequest OnIdle
    is Scheduled; StopAuthorized ends the transaction (TxStopPoint Authorized, the EV stays
    connected), then the station reboots: BootNotification reason ScheduledReset, the connector
    of the stopped transaction Occupied and the other Available, SecurityEventNotification
    ResetOrReboot."""

    async def main() -> None:
        async with booted(core, "ocpp2.0.1", Csms()) as (station, csms, connection, _):
            await station.start_transaction(1, TOKEN)
            await csms.wait("TransactionEvent")
            reset = await connection.call(v201.ResetRequest(type=v201.ResetEnum.OnIdle))
            assert reset.status == "Scheduled"
            await idle_queue(connection)
            assert not connection.closed
            await station.stop_transaction(1)  # StopAuthorized (local)
            await asyncio.wait_for(connection.wait_closed(), WAIT)
            ended = (await csms.wait("TransactionEvent", where=is_ended))[0]
            assert (ended.trigger_reason, ended.transaction_info.stopped_reason) == (
                "StopAuthorized",
                "Local",
            )
        again = Csms()
        async with connect(core, station, again, "ocpp2.0.1"):
            await ready(station, again)
            assert again.of("BootNotification")[0].reason == "ScheduledReset"
            assert statuses_of(again) == {1: "Occupied", 2: "Available"}
            event = again.of("SecurityEventNotification")[0]
            assert event.type in ("StartupOfTheDevice", "ResetOrReboot")

    run(main())


def test_TC_B_41_CS_on_idle_reset_waits_for_every_transaction(core: Backend) -> None:
    """TC_B_41_CS (B12.FR.01, B12.FR.03; E201 6.1.6): EnergyTransferStarted on EVSE 1 and 2;
    ResetRequest OnIdle is Scheduled; the transaction on EVSE 1 ends and its EV leaves, and the
    station does not reset yet; once the transaction on EVSE 2 has ended (at StopAuthorized: the
    TxStopPoint has Authorized) it reboots with reason ScheduledReset and reports EVSE 1
    Available and EVSE 2, whose EV is still connected, Occupied."""

    async def main() -> None:
        async with booted(core, "ocpp2.0.1", Csms()) as (station, csms, connection, _):
            await station.start_transaction(1, TOKEN)
            await station.start_transaction(2, "TAG-2")
            await csms.wait("TransactionEvent", 2)
            reset = await connection.call(v201.ResetRequest(type=v201.ResetEnum.OnIdle))
            assert reset.status == "Scheduled"
            await station.stop_transaction(1)  # steps 3-6 for EVSE 1
            await station.unplug(1)
            await csms.wait("StatusNotification", where=available(1), count=2)
            await idle_queue(connection)
            assert not connection.closed and station.registration == "Accepted"
            await station.stop_transaction(2)  # steps 7-8: the transaction ends here
            await asyncio.wait_for(connection.wait_closed(), WAIT)
            ended = [e for e in csms.of("TransactionEvent") if is_ended(e)]
            assert sorted(e.evse.id for e in ended) == [1, 2]
        again = Csms()
        async with connect(core, station, again, "ocpp2.0.1"):
            await ready(station, again)
            assert again.of("BootNotification")[0].reason == "ScheduledReset"
            assert statuses_of(again) == {1: "Available", 2: "Occupied"}

    run(main())


@BOTH_VERSIONS
def test_TC_B_26_CS_evse_reset_on_idle_does_not_reboot(core: Backend, v2: str) -> None:
    """TC_B_26_CS (B12.FR.01, B12.FR.07) as E201 6.1.7 amends it: a ResetRequest OnIdle for the
    EVSE of a transaction is Scheduled; the transaction ends at StopAuthorized and the EVSE
    resets without rebooting the station (no BootNotification, the connection stays)."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, m):
            await station.start_transaction(1, TOKEN)
            await csms.wait("TransactionEvent")
            reset = await connection.call(m.ResetRequest(type="OnIdle", evse_id=1))
            assert reset.status == "Scheduled"
            await station.stop_transaction(1)
            await csms.wait("TransactionEvent", where=is_ended)
            await idle_queue(connection)
            assert not connection.closed and station.registration == "Accepted"
            assert len(csms.of("BootNotification")) == 1

    run(main())


@BOTH_VERSIONS
def test_TC_B_27_CS_evse_reset_immediate_ends_its_transaction(core: Backend, v2: str) -> None:
    """TC_B_27_CS (B12.FR.02, B12.FR.08): a ResetRequest Immediate for the EVSE of a transaction
    is Accepted; its TransactionEvent Ended has triggerReason ResetCommand, chargingState
    EVConnected (the EV is still there) and stoppedReason ImmediateReset; the station itself does
    not reboot."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, m):
            await station.start_transaction(1, TOKEN)
            await csms.wait("TransactionEvent")
            reset = await connection.call(m.ResetRequest(type="Immediate", evse_id=1))
            assert reset.status == "Accepted"
            ended = (await csms.wait("TransactionEvent", where=is_ended))[0]
            assert (ended.event_type, ended.trigger_reason) == ("Ended", "ResetCommand")
            info = ended.transaction_info
            assert (info.charging_state, info.stopped_reason) == ("EVConnected", "ImmediateReset")
            await idle_queue(connection)
            assert not connection.closed and len(csms.of("BootNotification")) == 1

    run(main())


# TC_B_45_CS, TC_B_46_CS, TC_B_49_CS (B10): the station runs as `ocppfast station` runs it, a
# Client wired by `ocppfast.station.fleet.attach`, over real WebSockets to test CSMSs on
# 127.0.0.1 (tests/test_station_network_profiles.py). The OCTT's <Configured configurationSlot>
# is 1, the one in use (the URL the station was started with); the profile of step 1 goes to
# slot 2. Step 5 (Reset OnIdle) is run: the station answers step 4 with RebootRequired.


async def migrate(connection: Any, url: str, priority: str) -> None:
    """Steps 1-6 of TC_B_45_CS, TC_B_46_CS and TC_B_49_CS: SetNetworkProfile slot 2 with `url`
    (Accepted), SetVariables NetworkConfigurationPriority `priority` (RebootRequired), Reset
    OnIdle (Accepted)."""
    m = MODULES[connection.version]
    response = await connection.call(network_profile(m, 2, url))
    assert wire(response.status) == "Accepted"
    item = put(m, "OCPPCommCtrlr", "NetworkConfigurationPriority", priority)
    assert await set_variables(connection, item) == ["RebootRequired"]
    assert wire((await connection.call(m.ResetRequest(type="OnIdle"))).status) == "Accepted"


async def booted_state(station: StationV2, csms: Csms, boots: int = 1) -> None:
    """P6 reusable state Booted, steps 3-8, at `csms`, whose `boots`th boot it is: a
    BootNotification (after the reset: reason RemoteReset), Accepted; the status of every
    connector (Available); a SecurityEventNotification StartupOfTheDevice or ResetOrReboot."""
    boot = (await csms.wait("BootNotification", boots))[-1]
    assert boot.reason == "RemoteReset"
    event = (await csms.wait("SecurityEventNotification", boots))[-1]
    assert event.type in ("StartupOfTheDevice", "ResetOrReboot")
    for evse in (1, 2):
        await csms.wait("StatusNotification", boots, where=available(evse))
    await asyncio.wait_for(station.booted.wait(), WAIT)
    assert station.registration == "Accepted"


def switched_to(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Which profile the station said it uses from now on (slot and URL), in order."""
    return [line.partition(" from now on")[0] for line in switches(caplog)]


@BOTH_VERSIONS
def test_TC_B_45_CS_migrates_to_the_first_profile_of_the_priority(
    core: Backend, v2: str, caplog: pytest.LogCaptureFixture
) -> None:
    """TC_B_45_CS (B09.FR.01, B10.FR.01, B10.FR.04, B10.FR.06): steps 1-6 with the URL of
    another CSMS in slot 2 and NetworkConfigurationPriority "2,1"; after the reset the station
    "connects using the <Configured connectionData2>" - that CSMS's ocppCsmsUrl with the
    identity appended - and runs the reusable state Booted there (step 7). ActiveNetworkProfile
    is 2 then; the first CSMS saw no other attempt. The switch is logged at WARNING with slot
    and URL, the password never."""

    async def main() -> str:
        attempts: list[str] = []
        async with (
            CsmsServer(core, v2, "old", attempts) as old,
            CsmsServer(core, v2, "new", attempts) as new,
            attached(core, v2, old.url) as (station, _client),
        ):
            await ready(station, old.csms)
            await configure(old.connection, *NO_BACK_OFF)
            await migrate(old.connection, new.url, "2,1")
            await booted_state(station, new.csms)
            assert new.paths == ["/ocpp/CP1"]
            assert attempts == ["old", "new"]
            assert len(old.csms.of("BootNotification")) == 1
            assert await active_profile(new.connection) == "2"
            return new.url

    with caplog.at_level(logging.INFO):
        new_url = run(main())
    assert switches(caplog) == [
        f"CP1: network profile 2 ({new_url}) from now on: first in NetworkConfigurationPriority"
        " (B10.FR.04)"
    ]
    assert PASSWORD not in caplog.text


@BOTH_VERSIONS
def test_TC_B_46_CS_falls_back_after_the_connection_attempts(
    core: Backend, v2: str, caplog: pytest.LogCaptureFixture
) -> None:
    """TC_B_46_CS (B10.FR.03, B10.FR.04): NetworkProfileConnectionAttempts 2; slot 2 gets an
    <invalid ocppCsmsUrl>: a server that takes the TCP connection and never answers the opening
    handshake (step 7: "The OCTT will NOT respond to the two connection request[s]"; the
    station's open timeout is 0.5 s here). After the reset the station makes exactly two
    attempts there, then connects with <Configured connectionData> (slot 1), which is accepted
    (step 8), and runs the reusable state Booted (step 9). Both switches are logged at WARNING
    with slot and URL, the password never."""

    async def main() -> tuple[str, str]:
        attempts: list[str] = []
        async with (
            CsmsServer(core, v2, "old", attempts) as old,
            SilentServer("silent", attempts) as silent,
            attached(core, v2, old.url, open_timeout=0.5) as (station, _client),
        ):
            await ready(station, old.csms)
            attempts_item = ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "2")
            await configure(old.connection, *NO_BACK_OFF, attempts_item)
            await migrate(old.connection, silent.url, "2,1")
            await booted_state(station, old.csms, boots=2)
            assert attempts == ["old", "silent", "silent", "old"]
            assert await active_profile(old.connection) == "1"
            return old.url, silent.url

    with caplog.at_level(logging.INFO):
        old_url, silent_url = run(main())
    assert switches(caplog) == [
        f"CP1: network profile 2 ({silent_url}) from now on: first in"
        " NetworkConfigurationPriority (B10.FR.04)",
        f"CP1: network profile 1 ({old_url}) from now on: 2 attempt(s) with network profile 2"
        " failed, the next in NetworkConfigurationPriority",
    ]
    assert PASSWORD not in caplog.text


@BOTH_VERSIONS
@pytest.mark.parametrize("priority", ["2", "2,1"])
def test_TC_B_49_CS_back_to_the_previous_profile_when_every_one_failed(
    core: Backend, v2: str, priority: str, caplog: pytest.LogCaptureFixture
) -> None:
    """TC_B_49_CS (B10.FR.07, C-47): NetworkProfileConnectionAttempts 1,
    RetryBackOffRepeatTimes 0, RetryBackOffRandomRange 0 and <Configured
    RetryBackOffWaitMinimum> 0; slot 2 gets the URL of another endpoint, and
    NetworkConfigurationPriority is "2" as P6 gives step 3, or "2,1" as E201 6.1.9 amends it
    (the slot of step 1, then the one in use). After the reset: the attempt with slot 2 is not
    accepted (steps 7-8, HTTP 503); the station switches back to the previous profile, slot 1,
    not accepted either (steps 9-10); it waits the back-off and reconnects with slot 1 again,
    not slot 2 (step 11), accepted (step 12); then the reusable state Booted (step 13)."""

    async def main() -> tuple[str, str]:
        attempts: list[str] = []
        async with (
            CsmsServer(core, v2, "old", attempts) as old,
            CsmsServer(core, v2, "other", attempts) as other,
            attached(core, v2, old.url) as (station, _client),
        ):
            other.refuse = 1_000_000
            await ready(station, old.csms)
            await configure(
                old.connection,
                *NO_BACK_OFF,
                ("OCPPCommCtrlr", "RetryBackOffRepeatTimes", "0"),
                ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "1"),
            )
            old.refuse = 1  # step 10
            await migrate(old.connection, other.url, priority)
            await booted_state(station, old.csms, boots=2)
            assert attempts == ["old", "other refused", "old refused", "old"]
            assert await active_profile(old.connection) == "1"
            return old.url, other.url

    with caplog.at_level(logging.INFO):
        old_url, other_url = run(main())
    assert switched_to(caplog) == [
        f"CP1: network profile 2 ({other_url})",
        f"CP1: network profile 1 ({old_url})",
    ]


# TC_B_53_CS: the required Core components and variables of P6 table 54 (E201 6.1.11 refers to
# part 2's list instead, which is not at hand; table 54 is taken from it): (component, variable,
# instance, mutabilities allowed, dataType, unit, maxLimit > 0 required, valuesList allowed (the
# station's must be a subset), valuesList exact).
MEASURANDS = frozenset(member.value for member in v201.MeasurandEnum)
TX_POINTS = frozenset(
    ("ParkingBayOccupancy", "EVConnected", "Authorized", "PowerPathClosed", "EnergyTransfer",
     "DataSigned")
)  # fmt: skip
CONNECTOR_STATES = frozenset(("Available", "Occupied", "Reserved", "Unavailable", "Faulted"))
RW, RO = frozenset({"ReadWrite"}), frozenset({"ReadOnly"})
EITHER = RW | RO
Required = tuple[str, str, str, frozenset[str], str, str | None, bool, frozenset[str] | None, bool]
REQUIRED_STATION: list[Required] = [
    ("AlignedDataCtrlr", "Interval", "", RW, "integer", "s", False, None, False),
    ("AlignedDataCtrlr", "Measurands", "", RW, "MemberList", None, True, MEASURANDS, False),
    ("AlignedDataCtrlr", "TxEndedInterval", "", RW, "integer", "s", False, None, False),
    ("AlignedDataCtrlr", "TxEndedMeasurands", "", RW, "MemberList", None, True, MEASURANDS,
     False),
    ("AuthCtrlr", "AuthorizeRemoteStart", "", EITHER, "boolean", None, False, None, False),
    ("AuthCtrlr", "LocalAuthorizeOffline", "", RW, "boolean", None, False, None, False),
    ("AuthCtrlr", "LocalPreAuthorize", "", RW, "boolean", None, False, None, False),
    ("ChargingStation", "AvailabilityState", "", RO, "OptionList", None, False,
     CONNECTOR_STATES, True),
    ("ChargingStation", "Available", "", RO, "boolean", None, False, None, False),
    ("ChargingStation", "SupplyPhases", "", RO, "integer", None, False, None, False),
    ("ClockCtrlr", "DateTime", "", RO, "dateTime", None, False, None, False),
    ("ClockCtrlr", "TimeSource", "", RW, "SequenceList", None, False,
     frozenset(("Heartbeat", "NTP", "GPS", "RealTimeClock", "MobileNetwork",
                "RadioTimeTransmitter")), False),
    *(
        ("DeviceDataCtrlr", name, instance, RO, "integer", None, False, None, False)
        for name in ("BytesPerMessage", "ItemsPerMessage")
        for instance in ("GetReport", "GetVariables", "SetVariables")
    ),
    ("OCPPCommCtrlr", "FileTransferProtocols", "", RO, "MemberList", None, False,
     frozenset(("FTP", "FTPS", "HTTP", "HTTPS", "SFTP")), False),
    ("OCPPCommCtrlr", "MessageTimeout", "Default", RO, "integer", "s", False, None, False),
    ("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent", RW, "integer", "s", False,
     None, False),
    ("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent", RW, "integer", None, False, None,
     False),
    ("OCPPCommCtrlr", "NetworkConfigurationPriority", "", RW, "SequenceList", None, False,
     frozenset("12345"), False),
    ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "", RW, "integer", None, False, None,
     False),
    ("OCPPCommCtrlr", "OfflineThreshold", "", RW, "integer", "s", False, None, False),
    ("OCPPCommCtrlr", "ResetRetries", "", RW, "integer", None, False, None, False),
    ("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", "", EITHER, "boolean", None, False, None,
     False),
    ("SampledDataCtrlr", "TxEndedInterval", "", RW, "integer", "s", False, None, False),
    *(
        ("SampledDataCtrlr", name, "", RW, "MemberList", None, True, MEASURANDS, False)
        for name in ("TxEndedMeasurands", "TxStartedMeasurands", "TxUpdatedMeasurands")
    ),
    ("SampledDataCtrlr", "TxUpdatedInterval", "", RW, "integer", "s", False, None, False),
    ("SecurityCtrlr", "OrganizationName", "", RW, "string", None, False, None, False),
    ("SecurityCtrlr", "SecurityProfile", "", RO, "integer", None, False, None, False),
    ("TxCtrlr", "EVConnectionTimeOut", "", RW, "integer", "s", False, None, False),
    ("TxCtrlr", "StopTxOnEVSideDisconnect", "", EITHER, "boolean", None, False, None, False),
    ("TxCtrlr", "StopTxOnInvalidId", "", RW, "boolean", None, False, None, False),
    ("TxCtrlr", "TxStartPoint", "", EITHER, "MemberList", None, False, TX_POINTS, False),
    ("TxCtrlr", "TxStopPoint", "", EITHER, "MemberList", None, False, TX_POINTS, False),
]  # fmt: skip
# Per EVSE (and its connector).
REQUIRED_EVSE: list[Required] = [
    ("EVSE", "AvailabilityState", "", RO, "OptionList", None, False, CONNECTOR_STATES, True),
    ("EVSE", "Available", "", RO, "boolean", None, False, None, False),
    ("EVSE", "Power", "", RO, "decimal", "W|kW", True, None, False),
    ("EVSE", "SupplyPhases", "", RO, "integer", None, False, None, False),
    ("Connector", "AvailabilityState", "", RO, "OptionList", None, False, CONNECTOR_STATES,
     True),
    ("Connector", "Available", "", RO, "boolean", None, False, None, False),
    ("Connector", "ConnectorType", "", RO, "string", None, False, None, False),
    ("Connector", "SupplyPhases", "", RO, "integer", None, False, None, False),
]  # fmt: skip
# The variables a functional block requires once the station implements it (its controller's
# Available is true): P6 table 54, "Required <controller> variables".
REQUIRED_WHEN_IMPLEMENTED: dict[str, list[Required]] = {
    "DisplayMessageCtrlr": [
        ("DisplayMessageCtrlr", "DisplayMessages", "", RO, "integer", None, False, None, False),
        # 2.1 MessageFormatEnumType adds QRCODE (the 2.0.1 schema has no such member).
        ("DisplayMessageCtrlr", "SupportedFormats", "", RO, "MemberList", None, False,
         frozenset(("ASCII", "HTML", "URI", "UTF8", "QRCODE")), False),
        ("DisplayMessageCtrlr", "SupportedPriorities", "", RO, "MemberList", None, False,
         frozenset(("AlwaysFront", "InFront", "NormalCycle")), False),
    ],
    "LocalAuthListCtrlr": [
        ("LocalAuthListCtrlr", "BytesPerMessage", "", RO, "integer", None, False, None, False),
        ("LocalAuthListCtrlr", "Entries", "", RO, "integer", None, True, None, False),
        ("LocalAuthListCtrlr", "ItemsPerMessage", "", RO, "integer", None, False, None, False),
    ],
    "MonitoringCtrlr": [
        ("MonitoringCtrlr", "BytesPerMessage", "SetVariableMonitoring", RO, "integer", None,
         False, None, False),
    ],
    "SmartChargingCtrlr": [
        ("SmartChargingCtrlr", "Entries", "ChargingProfiles", RO, "integer", None, True, None,
         False),
        ("SmartChargingCtrlr", "LimitChangeSignificance", "", RW, "decimal", "Percent", False,
         None, False),
        ("SmartChargingCtrlr", "PeriodsPerSchedule", "", RO, "integer", None, False, None,
         False),
        ("SmartChargingCtrlr", "ProfileStackLevel", "", RO, "integer", None, False, None, False),
        ("SmartChargingCtrlr", "RateUnit", "", RO, "MemberList", None, False,
         frozenset("AW"), False),
    ],
    "TariffCostCtrlr": [
        ("TariffCostCtrlr", "Currency", "", EITHER, "string", None, False, None, False),
        ("TariffCostCtrlr", "TariffFallbackMessage", "", RW, "string", None, False, None,
         False),
        ("TariffCostCtrlr", "TotalCostFallbackMessage", "", RW, "string", None, False, None,
         False),
    ],
}  # fmt: skip


async def full_inventory(connection: Any, csms: Csms, request_id: int) -> dict[Any, Any]:
    """GetBaseReport FullInventory: Accepted, then NotifyReports numbered from seqNo 0 with tbc
    on all but the last (P6 tool validations of TC_B_13_CS / TC_B_53_CS); the report's entries."""
    m = MODULES[connection.version]
    response = await connection.call(
        m.GetBaseReportRequest(request_id=request_id, report_base="FullInventory")
    )
    assert response.status == "Accepted" and response.status_info is UNSET
    await csms.wait("NotifyReport", where=lambda r: r.request_id == request_id and not r.tbc)
    parts = report_parts(csms, request_id)
    assert [p.seq_no for p in parts] == list(range(len(parts)))
    return reported(parts)


def check_required(entries: dict[Any, Any], row: Required, evse: int | None = None) -> None:
    """The report has the variable of `row` (at `evse`), as `row` requires it."""
    component_name, name, instance, mutabilities, data_type, unit, limit, values, exact = row
    data = entries.get((component_name, name, instance, evse))
    assert data is not None, f"{component_name}.{name}[{instance}] (EVSE {evse}) not reported"
    actual = next(a for a in data.variable_attribute if a.type in (UNSET, "Actual"))
    assert actual.mutability in mutabilities, (component_name, name, actual.mutability)
    characteristics = data.variable_characteristics
    assert characteristics.data_type == data_type, (component_name, name)
    if unit is not None:
        assert characteristics.unit in unit.split("|"), (component_name, name)
    if limit:
        assert characteristics.max_limit is not UNSET and characteristics.max_limit > 0
    if values is not None:
        assert characteristics.values_list is not UNSET, (component_name, name)
        offered = {v.strip() for v in characteristics.values_list.split(",")}
        assert offered == values if exact else offered <= values, (component_name, name)


@BOTH_VERSIONS
def test_TC_B_53_CS_required_variables_via_full_inventory(core: Backend, v2: str) -> None:
    """TC_B_53_CS (P6 table 54; E201 6.1.11: the components and variables part 2 requires):
    the FullInventory report has every required Core variable, for the station and for each
    EVSE and connector, with the mutability, dataType, unit, maxLimit and valuesList P6 lists;
    and the variables of each optional functional block the station implements (its
    controller's Available is true). SecurityCtrlr.CertificateEntries: the next test."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (_station, csms, connection, _):
            entries = await full_inventory(connection, csms, 53)
            for row in REQUIRED_STATION:
                check_required(entries, row)
            for evse in (1, 2):
                for row in REQUIRED_EVSE:
                    check_required(entries, row, evse)
            for controller, rows in REQUIRED_WHEN_IMPLEMENTED.items():
                flag = entries.get((controller, "Available", "", None))
                if flag is not None and flag.variable_attribute[0].value == "true":
                    for row in rows:
                        check_required(entries, row)

    run(main())


def test_TC_B_53_CS_security_ctrlr_certificate_entries(core: Backend) -> None:
    """TC_B_53_CS, P6 table 54 row SecurityCtrlr.CertificateEntries: ReadOnly, integer,
    maxLimit > 0 (the certificates installed; 0 for a station that has none)."""

    async def main() -> None:
        async with booted(core, "ocpp2.0.1", Csms()) as (_station, csms, connection, _):
            entries = await full_inventory(connection, csms, 54)
            check_required(
                entries,
                ("SecurityCtrlr", "CertificateEntries", "", RO, "integer", None, True, None, False),
            )

    run(main())


# ------------------------------------------------------------------------------------------
# C Authorization


async def refused_while_connected(core: Backend, v2: str, status: str) -> None:
    """TC_C_02_CS / TC_C_06_CS / TC_C_07_CS / TC_C_56_CS (C01.FR.02): EVConnectedPreSession; the
    idToken presented is sent in an AuthorizeRequest, answered with `status`; the station sends
    no TransactionEventRequest after it and starts nothing."""
    csms = OcaCsms(statuses={"BAD-1": status})
    async with booted(core, v2, csms) as (station, _, connection, _):
        await station.plug_in(1)  # EVConnectedPreSession
        await csms.wait("StatusNotification", where=occupied(1))
        with pytest.raises(StationError, match="not authorized"):
            await station.start_transaction(1, "BAD-1")
        (request,) = csms.of("Authorize")
        assert_id_token(request, "BAD-1")
        await idle_queue(connection)
        assert csms.of("TransactionEvent") == [] and station.transactions == {}
        assert station.connector_status(1) == "Occupied"


@BOTH_VERSIONS
def test_TC_C_02_CS_local_start_invalid(core: Backend, v2: str) -> None:
    """TC_C_02_CS: an idToken answered Invalid starts no transaction."""
    run(refused_while_connected(core, v2, "Invalid"))


@BOTH_VERSIONS
def test_TC_C_06_CS_local_start_blocked(core: Backend, v2: str) -> None:
    """TC_C_06_CS: an idToken answered Blocked starts no transaction."""
    run(refused_while_connected(core, v2, "Blocked"))


@BOTH_VERSIONS
def test_TC_C_07_CS_local_start_expired(core: Backend, v2: str) -> None:
    """TC_C_07_CS: an idToken answered Expired starts no transaction."""
    run(refused_while_connected(core, v2, "Expired"))


@BOTH_VERSIONS
def test_TC_C_56_CS_local_start_unknown(core: Backend, v2: str) -> None:
    """TC_C_56_CS: an idToken answered Unknown starts no transaction."""
    run(refused_while_connected(core, v2, "Unknown"))


@BOTH_VERSIONS
def test_TC_C_08_CS_cached_accepted_starts_without_authorize(core: Backend, v2: str) -> None:
    """TC_C_08_CS (C12.FR.02, C12.FR.04): AuthCtrlr.LocalPreAuthorize true; IdTokenCached
    (Accepted); EVConnectedPreSession; the cached idToken is authorized from the cache - no
    AuthorizeRequest - and the transaction starts with the idToken (EnergyTransferStarted step
    7, TxStartPoint PowerPathClosed: Started, triggerReason ChargingStateChanged, chargingState
    SuspendedEVSE) and the energy flows (step 9)."""

    async def main() -> None:
        async with booted(core, v2, OcaCsms()) as (station, csms, connection, _):
            await configure(connection, ("AuthCtrlr", "LocalPreAuthorize", "true"))
            await cache_token(connection, station, csms, TOKEN, accepted=True)
            await station.plug_in(1)
            transaction_id = await station.start_transaction(1, TOKEN)
            started = await started_of(csms, 2)
            assert len(csms.of("Authorize")) == 1  # the one of the cached session
            assert started.transaction_info.transaction_id == transaction_id
            assert started.trigger_reason == "ChargingStateChanged"
            assert started.transaction_info.charging_state == "SuspendedEVSE"
            assert_id_token(started)
            flowing = (await csms.wait("TransactionEvent", 2, where=energy_flows))[1]
            assert flowing.transaction_info.transaction_id == transaction_id

    run(main())


async def cached_not_accepted(
    core: Backend, v2: str, cached: str, now: str
) -> tuple[OcaCsms, StationV2]:
    """TC_C_09_CS..TC_C_12_CS (C10.FR.03, C12.FR.05): LocalPreAuthorize true; IdTokenCached with
    status `cached`; EVConnectedPreSession; presented, the token is not authorized from the
    cache: an AuthorizeRequest goes to the CSMS, which now answers `now`. Returns the test CSMS
    and the station, for the caller to check the outcome."""
    csms = OcaCsms(statuses={"TAG-X": cached})
    async with booted(core, v2, csms) as (station, _, connection, _):
        await configure(connection, ("AuthCtrlr", "LocalPreAuthorize", "true"))
        await cache_token(connection, station, csms, "TAG-X", accepted=cached == "Accepted")
        csms.statuses["TAG-X"] = now
        await station.plug_in(1)
        if now == "Accepted":
            await station.start_transaction(1, "TAG-X")
            await csms.wait("TransactionEvent", where=energy_flows)
        else:
            with pytest.raises(StationError, match="not authorized"):
                await station.start_transaction(1, "TAG-X")
            await idle_queue(connection)
        _, second = csms.of("Authorize")
        assert_id_token(second, "TAG-X")
    return csms, station


@BOTH_VERSIONS
def test_TC_C_09_CS_cached_invalid_is_asked_again(core: Backend, v2: str) -> None:
    """TC_C_09_CS: cached Invalid, answered Invalid: AuthorizeRequest, no transaction."""
    csms, station = run(cached_not_accepted(core, v2, "Invalid", "Invalid"))
    assert csms.of("TransactionEvent") == [] and station.transactions == {}


@BOTH_VERSIONS
def test_TC_C_10_CS_cached_blocked_is_asked_again(core: Backend, v2: str) -> None:
    """TC_C_10_CS: cached Blocked, answered Blocked: AuthorizeRequest, no transaction."""
    csms, station = run(cached_not_accepted(core, v2, "Blocked", "Blocked"))
    assert csms.of("TransactionEvent") == [] and station.transactions == {}


@BOTH_VERSIONS
def test_TC_C_11_CS_cached_expired_is_asked_again(core: Backend, v2: str) -> None:
    """TC_C_11_CS: cached Expired, answered Expired: AuthorizeRequest, no transaction."""
    csms, station = run(cached_not_accepted(core, v2, "Expired", "Expired"))
    assert csms.of("TransactionEvent") == [] and station.transactions == {}


@BOTH_VERSIONS
def test_TC_C_12_CS_cached_invalid_now_accepted_starts(core: Backend, v2: str) -> None:
    """TC_C_12_CS: cached Invalid, now answered Accepted: the transaction starts with the
    idToken and the energy flows (EnergyTransferStarted)."""
    csms, _ = run(cached_not_accepted(core, v2, "Invalid", "Accepted"))
    started, flowing = csms.of("TransactionEvent")
    assert started.event_type == "Started"
    assert_id_token(started, "TAG-X")
    assert energy_flows(flowing)


@BOTH_VERSIONS
def test_TC_C_13_CS_cached_accepted_before_the_cable(core: Backend, v2: str) -> None:
    """TC_C_13_CS (C12.FR.02, C12.FR.04): LocalPreAuthorize true, IdTokenCached, TxStartPoint
    Authorized; the cached idToken presented before the EV is connected starts the transaction
    at once without an AuthorizeRequest (Started, triggerReason Authorized, the idToken; no
    energy yet); the EV connects (EVConnectedPreSession: Updated, CablePluggedIn, chargingState
    EVConnected) and the energy flows (EnergyTransferStarted step 9)."""

    async def main() -> None:
        async with booted(core, v2, OcaCsms()) as (station, csms, connection, _):
            await configure(connection, ("AuthCtrlr", "LocalPreAuthorize", "true"))
            await cache_token(connection, station, csms, TOKEN, accepted=True)
            await configure(connection, ("TxCtrlr", "TxStartPoint", "Authorized"))
            await station.start_transaction(1, TOKEN)
            started = await started_of(csms, 2)
            transaction_id = started.transaction_info.transaction_id
            of_it = await csms.wait(
                "TransactionEvent",
                3,
                where=lambda e: e.transaction_info.transaction_id == transaction_id,
            )
            plugged, flowing = of_it[1:]
            assert len(csms.of("Authorize")) == 1
            assert (started.event_type, started.trigger_reason) == ("Started", "Authorized")
            assert_id_token(started)
            assert started.transaction_info.charging_state != "Charging"
            assert (plugged.event_type, plugged.trigger_reason) == ("Updated", "CablePluggedIn")
            assert plugged.transaction_info.charging_state == "EVConnected"
            assert flowing.event_type == "Updated" and energy_flows(flowing)

    run(main())


@BOTH_VERSIONS
def test_TC_C_33_CS_cache_updated_by_authorize_response(core: Backend, v2: str) -> None:
    """TC_C_33_CS (C10.FR.04): LocalPreAuthorize true; a valid idToken is authorized with an
    AuthorizeRequest and its session runs to the end; presented again, it is authorized from the
    cache that AuthorizeResponse filled (no second AuthorizeRequest): the TransactionEvent with
    the idToken goes out (step 12; the test CSMS answers it Invalid)."""

    async def main() -> None:
        async with booted(core, v2, OcaCsms()) as (station, csms, connection, _):
            await configure(connection, ("AuthCtrlr", "LocalPreAuthorize", "true"))
            await station.plug_in(1)
            await station.start_transaction(1, TOKEN)  # steps 1-5
            (authorize,) = csms.of("Authorize")
            assert_id_token(authorize)
            await station.stop_transaction(1)  # steps 6-8
            await station.unplug(1)
            await idle_queue(connection)
            csms.invalid_in_tx.add(TOKEN)
            await station.plug_in(1)  # steps 9-10
            await station.start_transaction(1, TOKEN)
            started = await started_of(csms, 2)
            assert len(csms.of("Authorize")) == 1
            assert started.event_type == "Started"
            assert_id_token(started)
            await idle_queue(connection)

    run(main())


@BOTH_VERSIONS
def test_TC_C_34_CS_cache_updated_by_transaction_response(core: Backend, v2: str) -> None:
    """TC_C_34_CS (C10.FR.05, C12.FR.06): LocalPreAuthorize true, IdTokenCached (Accepted);
    presented, the idToken starts a transaction from the cache (no AuthorizeRequest; Started,
    triggerReason Authorized, the idToken) and the CSMS answers that TransactionEvent with
    idTokenInfo Invalid; after the EV left, the same idToken presented again is no longer
    authorized from the cache: an AuthorizeRequest goes out (step 7), answered Invalid.
    TxStartPoint Authorized: step 1's triggerReason Authorized is the event of the
    authorization; with PowerPathClosed the transaction would start with the energy transfer
    (EnergyTransferStarted step 7: ChargingStateChanged, TC_E_03_CS)."""

    async def main() -> None:
        async with booted(core, v2, OcaCsms()) as (station, csms, connection, _):
            await configure(connection, ("AuthCtrlr", "LocalPreAuthorize", "true"))
            await cache_token(connection, station, csms, TOKEN, accepted=True)
            await configure(connection, ("TxCtrlr", "TxStartPoint", "Authorized"))
            csms.invalid_in_tx.add(TOKEN)
            await station.plug_in(1)
            await station.start_transaction(1, TOKEN)
            started = await started_of(csms, 2)
            assert (started.event_type, started.trigger_reason) == ("Started", "Authorized")
            assert_id_token(started)
            assert len(csms.of("Authorize")) == 1
            # TxCtrlr.StopTxOnInvalidId (true): the invalid token's transaction ends.
            await csms.wait("TransactionEvent", 2, where=is_ended)
            await station.unplug(1)  # EVDisconnected
            csms.statuses[TOKEN] = "Invalid"
            await station.plug_in(1)
            with pytest.raises(StationError, match="not authorized"):
                await station.start_transaction(1, TOKEN)
            assert len(csms.of("Authorize")) == 2
            assert_id_token(csms.of("Authorize")[1])

    run(main())


@BOTH_VERSIONS
def test_TC_C_36_CS_no_cache_without_local_pre_authorize(core: Backend, v2: str) -> None:
    """TC_C_36_CS (C10.FR.11): AuthCtrlr.LocalPreAuthorize false; an idToken in the cache is
    still sent in an AuthorizeRequest, whose answer (Invalid) decides."""

    async def main() -> None:
        async with booted(core, v2, OcaCsms()) as (station, csms, connection, _):
            await configure(connection, ("AuthCtrlr", "LocalPreAuthorize", "false"))
            await cache_token(connection, station, csms, TOKEN, accepted=True)
            csms.statuses[TOKEN] = "Invalid"
            await station.plug_in(1)
            with pytest.raises(StationError, match="not authorized"):
                await station.start_transaction(1, TOKEN)
            assert len(csms.of("Authorize")) == 2
            assert_id_token(csms.of("Authorize")[1])
            await idle_queue(connection)
            assert station.transactions == {}

    run(main())


@BOTH_VERSIONS
def test_TC_C_37_CS_clear_cache_then_authorize_again(core: Backend, v2: str) -> None:
    """TC_C_37_CS (C11.FR.01-03; E201 6.1.15): IdTokenCached; ClearCacheRequest is Accepted;
    EVConnectedPreSession; the idToken that was cached is sent in an AuthorizeRequest (with
    LocalPreAuthorize true here, so that only the cleared cache explains it) and the transaction
    starts: TransactionEvent with triggerReason Authorized (step 7 as E201 6.1.15 words it) and
    the idToken, then the energy flows (EnergyTransferStarted step 9). TxStartPoint Authorized:
    the transaction starts with the authorization, the event step 7 asks for (with
    PowerPathClosed it would start with the energy transfer: ChargingStateChanged, TC_E_03_CS)."""

    async def main() -> None:
        async with booted(core, v2, OcaCsms()) as (station, csms, connection, m):
            await configure(connection, ("AuthCtrlr", "LocalPreAuthorize", "true"))
            await cache_token(connection, station, csms, TOKEN, accepted=True)
            cleared = await connection.call(m.ClearCacheRequest())
            assert cleared.status == "Accepted"
            await configure(connection, ("TxCtrlr", "TxStartPoint", "Authorized"))
            await station.plug_in(1)
            await station.start_transaction(1, TOKEN)
            started = await started_of(csms, 2)
            assert len(csms.of("Authorize")) == 2
            assert_id_token(csms.of("Authorize")[1])
            assert (started.event_type, started.trigger_reason) == ("Started", "Authorized")
            assert_id_token(started)
            await csms.wait("TransactionEvent", where=energy_flows)

    run(main())


@BOTH_VERSIONS
def test_TC_C_46_CS_cache_entry_expires_after_its_life_time(core: Backend, v2: str) -> None:
    """TC_C_46_CS (C10.FR.08): AuthCacheCtrlr.LifeTime <TransactionDuration> (60 s here),
    LocalPreAuthorize true, IdTokenCached; once the life time has passed (by the station's
    clock) the idToken is no longer authorized from the cache: Authorized (local) sends an
    AuthorizeRequest."""

    async def main() -> None:
        async with booted(core, v2, OcaCsms()) as (station, csms, connection, _):
            await configure(
                connection,
                ("AuthCacheCtrlr", "LifeTime", "60"),
                ("AuthCtrlr", "LocalPreAuthorize", "true"),
            )
            await cache_token(connection, station, csms, TOKEN, accepted=True)
            clock_of(station).advance(61)
            await station.plug_in(1)
            await station.start_transaction(1, TOKEN)
            assert len(csms.of("Authorize")) == 2
            assert_id_token(csms.of("Authorize")[1])
            started = await started_of(csms, 2)
            assert started.event_type == "Started"

    run(main())


async def presented_in_vain(connection: Any, station: StationV2, csms: Csms, token: str) -> None:
    """TC_C_04_CS, TC_C_42_CS, TC_C_44_CS: during EnergyTransferStarted on EVSE 1 the driver
    presents `token`, which may not stop the transaction: the station sends one AuthorizeRequest
    with it (answered by the test CSMS), then no TransactionEventRequest and no other
    AuthorizeRequest (everything it had to send has been sent: `idle_queue`), and the energy
    keeps flowing."""
    asked = len(csms.of("Authorize"))
    events = len(csms.of("TransactionEvent"))
    with pytest.raises(StationError, match="may not stop"):
        await station.stop_transaction(1, id_token=token)
    await idle_queue(connection)
    assert len(csms.of("Authorize")) == asked + 1
    assert_id_token(csms.of("Authorize")[-1], token)
    assert len(csms.of("TransactionEvent")) == events
    transaction = station.transactions[1]
    assert transaction.authorized and transaction.id_token == TOKEN
    assert transaction.meter.power_w > 0 and transaction.charging_state == "Charging"


@BOTH_VERSIONS
def test_TC_C_04_CS_a_different_id_token_does_not_stop(core: Backend, v2: str) -> None:
    """TC_C_04_CS (C01, C04, E07): AuthCtrlr.Enabled true, DisableRemoteAuthorization false;
    EnergyTransferStarted; an idToken other than the one that started the transaction is
    presented at its EVSE (one reader per EVSE): the station sends an AuthorizeRequest with it
    (step 1), which the CSMS answers Accepted (step 2, no groupIdToken), and then neither a
    TransactionEventRequest nor another AuthorizeRequest (the note's SHALL NOT): the
    transaction and its energy transfer go on."""

    async def main() -> None:
        async with booted(core, v2, OcaCsms()) as (station, csms, connection, _):
            await configure(
                connection,
                ("AuthCtrlr", "Enabled", "true"),
                ("AuthCtrlr", "DisableRemoteAuthorization", "false"),
            )
            await station.start_transaction(1, TOKEN)
            await csms.wait("TransactionEvent", where=energy_flows)
            await presented_in_vain(connection, station, csms, "TAG-OTHER")

    run(main())


async def cached_offline_start(
    core: Backend, v2: str, *settings: tuple[str, str, str]
) -> tuple[StationV2, str, OcaCsms, Any]:
    """Steps 1-2 of TC_C_16_CS / TC_C_17_CS (C12.FR.02, C12.FR.04): AuthCacheCtrlr.Enabled,
    AuthCtrlr.LocalPreAuthorize and LocalAuthorizeOffline true, and `settings`; IdTokenCached
    (Accepted); EVConnectedPreSession; the OCTT closes the connection; offline, the cached
    idToken is presented and starts a transaction from the cache. Returns the station, the
    transaction id, the test CSMS the station is to reconnect to (which answers the idToken
    Invalid in TransactionEventResponse, step 4) and the `connect` context that reconnects
    them."""
    async with booted(core, v2, OcaCsms()) as (station, csms, connection, _):
        await configure(
            connection,
            ("AuthCacheCtrlr", "Enabled", "true"),
            ("AuthCtrlr", "LocalPreAuthorize", "true"),
            ("AuthCtrlr", "LocalAuthorizeOffline", "true"),
            *settings,
        )
        await cache_token(connection, station, csms, TOKEN, accepted=True)
        reported = len([s for s in csms.of("StatusNotification") if occupied(1)(s)])
        await station.plug_in(1)  # EVConnectedPreSession
        await csms.wait("StatusNotification", where=occupied(1), count=reported + 1)
        await idle_queue(connection)
    transaction_id = await station.start_transaction(1, TOKEN)  # step 1: offline
    again = OcaCsms(invalid_in_tx=(TOKEN,))
    return station, transaction_id, again, connect(core, station, again, v2)


@BOTH_VERSIONS
def test_TC_C_16_CS_cached_offline_then_invalid_stops(core: Backend, v2: str) -> None:
    """TC_C_16_CS (C12.FR.02, C12.FR.04, E05): StopTxOnInvalidId true (MaxEnergyOnInvalidId is
    not offered: no energy on an invalid idToken); offline, the idToken Accepted in the cache
    starts the transaction; reconnected, the station empties its queue (step 3): the Started
    event with the idToken (TxStartPoint PowerPathClosed: triggerReason ChargingStateChanged,
    where P6 makes triggerReason Authorized optional) and the energy flow (ChargingStateChanged),
    all offline true; the CSMS answers the idToken Invalid (step 4) and the station ends the
    transaction: triggerReason Deauthorized (step 5), stoppedReason DeAuthorized. Post
    scenario: the energy flow stops."""

    async def main() -> None:
        station, transaction_id, csms, reconnect = await cached_offline_start(
            core, v2, ("TxCtrlr", "StopTxOnInvalidId", "true")
        )
        async with reconnect as connection:
            ended = (await csms.wait("TransactionEvent", where=is_ended))[0]
            await idle_queue(connection)
            events = csms.of("TransactionEvent")
            queued = offline_events(csms)
            assert {e.transaction_info.transaction_id for e in events} == {transaction_id}
            assert queued[0].event_type == "Started"
            assert_id_token(queued[0])
            assert any(e.trigger_reason == "ChargingStateChanged" for e in queued)
            assert any(energy_flows(e) for e in queued)
            assert events[-1] is ended and ended.offline is UNSET
            assert ended.trigger_reason == "Deauthorized"
            assert ended.transaction_info.stopped_reason == "DeAuthorized"
            assert csms.of("Authorize") == []
            assert station.transactions == {}
            assert station.connector_status(1) == "Occupied"  # the EV is still connected

    run(main())


@BOTH_VERSIONS
def test_TC_C_17_CS_cached_offline_then_invalid_suspends(core: Backend, v2: str) -> None:
    """TC_C_17_CS (C12.FR.02, C12.FR.04, E05): StopTxOnInvalidId false,
    OfflineTxForUnknownIdEnabled true; offline, the idToken Accepted in the cache starts the
    transaction; reconnected, the queued events go out, offline true: triggerReason Authorized
    with the idToken (step 2's validation; TxStartPoint Authorized, with which the transaction
    starts at the authorization - with PowerPathClosed it starts with the power path, triggerReason
    ChargingStateChanged: N1 in docs/station-conformance.md), then the energy flow; the CSMS
    answers the idToken Invalid (step 4) and the EVSE withholds the energy: a TransactionEvent
    with chargingState SuspendedEVSE (triggerReason ChargingStateChanged: no message with
    triggerReason SuspendedEVSE); the transaction goes on. Post scenario: the energy flow
    stops."""

    async def main() -> None:
        station, transaction_id, csms, reconnect = await cached_offline_start(
            core,
            v2,
            ("TxCtrlr", "StopTxOnInvalidId", "false"),
            ("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "true"),
            ("TxCtrlr", "TxStartPoint", "Authorized"),
        )
        async with reconnect as connection:
            suspended = (
                await csms.wait(
                    "TransactionEvent",
                    where=lambda e: e.transaction_info.charging_state == "SuspendedEVSE",
                )
            )[0]
            await idle_queue(connection)
            events = csms.of("TransactionEvent")
            queued = offline_events(csms)
            assert {e.transaction_info.transaction_id for e in events} == {transaction_id}
            started = queued[0]
            assert (started.event_type, started.trigger_reason) == ("Started", "Authorized")
            assert_id_token(started)
            assert any(energy_flows(e) for e in queued)
            assert events[-1] is suspended and suspended.offline is UNSET
            assert (suspended.event_type, suspended.trigger_reason) == (
                "Updated",
                "ChargingStateChanged",
            )
            assert all(e.trigger_reason != "SuspendedEVSE" for e in events)
            assert not any(is_ended(e) for e in events)
            transaction = station.transactions[1]
            assert transaction.id == transaction_id and transaction.meter.power_w == 0.0
            assert transaction.charging_state == "SuspendedEVSE"

    run(main())


# C09 (TC_C_41_CS, TC_C_42_CS, TC_C_44_CS): P6's <Configured GroupIdToken> and a second valid
# idToken of that group. The cases run with TxStartPoint Authorized, so that their step "The
# Charging Station sends a TransactionEventRequest" (for TxStartPoint Authorized only) and its
# validation (triggerReason Authorized) apply.
GROUP = "FAMILY"
TOKEN2 = "TAG-2"


async def group_transaction(
    connection: Any, station: StationV2, csms: Csms, *, cached: bool
) -> Any:
    """TC_C_41_CS / TC_C_42_CS / TC_C_44_CS up to EnergyTransferStarted: TxStartPoint
    Authorized; EVConnectedPreSession; the valid idToken of the group is presented: from the
    cache (`cached`, no AuthorizeRequest) or in an AuthorizeRequest (TC_C_42_CS step 1, answered
    Accepted with the groupIdToken); the transaction starts - Started, triggerReason Authorized,
    the idToken (the CSMS answers Accepted with the groupIdToken) - and the energy flows.
    Returns the Started event."""
    await configure(connection, ("TxCtrlr", "TxStartPoint", "Authorized"))
    asked = len(csms.of("Authorize"))
    starts = len(csms.of("TransactionEvent"))
    await station.plug_in(1)  # EVConnectedPreSession
    transaction_id = await station.start_transaction(1, TOKEN)
    if cached:
        assert len(csms.of("Authorize")) == asked
    else:
        assert len(csms.of("Authorize")) == asked + 1
        assert_id_token(csms.of("Authorize")[-1])
    started = (await csms.wait("TransactionEvent", starts + 1))[starts]
    assert started.transaction_info.transaction_id == transaction_id
    assert (started.event_type, started.trigger_reason) == ("Started", "Authorized")
    assert_id_token(started)
    await csms.wait(
        "TransactionEvent",
        where=lambda e: e.transaction_info.transaction_id == transaction_id and energy_flows(e),
    )
    return started


@BOTH_VERSIONS
def test_TC_C_41_CS_group_member_from_the_cache_stops(core: Backend, v2: str) -> None:
    """TC_C_41_CS (C09.FR.02, C09.FR.03, C09.FR.07): AuthCacheCtrlr.Enabled and
    LocalPreAuthorize true; IdTokenCached for the valid idToken and for idToken2, both of the
    group; the valid idToken starts the transaction from the cache (step 1: Started,
    triggerReason Authorized, the idToken; no AuthorizeRequest); EnergyTransferStarted;
    idToken2, of the same group in the cache, stops it without an AuthorizeRequest
    (StopAuthorized, step 4: TransactionEvent Ended, triggerReason StopAuthorized, stoppedReason
    Local, carrying the idToken presented - idToken2, of the configured type); the EV stays
    connected (EVConnectedPostSession), then leaves (EVDisconnected: Available)."""

    async def main() -> None:
        csms = OcaCsms(groups={TOKEN: GROUP, TOKEN2: GROUP})
        async with booted(core, v2, csms) as (station, _, connection, _):
            await configure(
                connection,
                ("AuthCacheCtrlr", "Enabled", "true"),
                ("AuthCtrlr", "LocalPreAuthorize", "true"),
            )
            await cache_token(connection, station, csms, TOKEN, accepted=True)
            await cache_token(connection, station, csms, TOKEN2, accepted=True)
            started = await group_transaction(connection, station, csms, cached=True)
            await station.stop_transaction(1, id_token=TOKEN2)
            ended = (await csms.wait("TransactionEvent", 3, where=is_ended))[-1]
            assert ended.transaction_info.transaction_id == started.transaction_info.transaction_id
            assert ended.trigger_reason == "StopAuthorized"
            assert ended.transaction_info.stopped_reason == "Local"
            assert_id_token(ended, TOKEN2)
            assert len(csms.of("Authorize")) == 2  # those of the IdTokenCached sessions
            assert station.transactions == {}
            assert station.connector_status(1) == "Occupied"  # EVConnectedPostSession
            reported = len([s for s in csms.of("StatusNotification") if available(1)(s)])
            await station.unplug(1)  # EVDisconnected
            await csms.wait("StatusNotification", where=available(1), count=reported + 1)

    run(main())


@BOTH_VERSIONS
def test_TC_C_42_CS_invalid_group_member_does_not_stop(core: Backend, v2: str) -> None:
    """TC_C_42_CS (C09.FR.11): EVConnectedPreSession; the valid idToken of the group is sent in
    an AuthorizeRequest (step 1), answered Accepted with the groupIdToken (step 2); the
    transaction starts (step 3: Started, triggerReason Authorized, the idToken);
    EnergyTransferStarted; an invalid idToken of the same group is presented: the station sends
    an AuthorizeRequest with it (step 6; P6's validation names the valid idToken's fields, but
    the request is about the token presented), answered Invalid with the groupIdToken (step
    7), and then no TransactionEventRequest: the energy transfer is not stopped."""

    async def main() -> None:
        csms = OcaCsms(groups={TOKEN: GROUP, "BAD-1": GROUP}, refused=("BAD-1",))
        async with booted(core, v2, csms) as (station, _, connection, _):
            await group_transaction(connection, station, csms, cached=False)
            await presented_in_vain(connection, station, csms, "BAD-1")

    run(main())


@BOTH_VERSIONS
def test_TC_C_44_CS_group_member_invalid_in_the_cache_does_not_stop(core: Backend, v2: str) -> None:
    """TC_C_44_CS (C09.FR.02, C09.FR.03, C09.FR.07, C10.FR.03): AuthCacheCtrlr.Enabled and
    LocalPreAuthorize true, AuthCacheCtrlr.DisablePostAuthorize false; IdTokenCached for the
    valid idToken (Accepted) and for an invalid idToken (Invalid), both of the group; the valid
    idToken starts the transaction from the cache (step 1: Started, triggerReason Authorized,
    the idToken; no AuthorizeRequest); EnergyTransferStarted; the invalid idToken is presented:
    Invalid in the cache, so the station asks the CSMS (step 4: AuthorizeRequest with it),
    which answers Invalid with the groupIdToken (step 5), and then no TransactionEventRequest:
    the transaction goes on."""

    async def main() -> None:
        csms = OcaCsms(groups={TOKEN: GROUP, "BAD-1": GROUP}, refused=("BAD-1",))
        async with booted(core, v2, csms) as (station, _, connection, _):
            await configure(
                connection,
                ("AuthCacheCtrlr", "Enabled", "true"),
                ("AuthCtrlr", "LocalPreAuthorize", "true"),
                ("AuthCacheCtrlr", "DisablePostAuthorize", "false"),
            )
            await cache_token(connection, station, csms, TOKEN, accepted=True)
            await cache_token(connection, station, csms, "BAD-1", accepted=False)
            assert station.data.tokens["cache"]["BAD-1"]["status"] == "Invalid"
            await group_transaction(connection, station, csms, cached=True)
            await presented_in_vain(connection, station, csms, "BAD-1")

    run(main())


# ------------------------------------------------------------------------------------------
# E Transactions


@BOTH_VERSIONS
def test_TC_E_01_CS_start_at_power_path_closed(core: Backend, v2: str) -> None:
    """TC_E_01_CS (E01.FR.05): TxStartPoint PowerPathClosed; Authorized (local: an
    AuthorizeRequest, no transaction yet), then EVConnectedPreSession: the connector is Occupied
    and the transaction starts - eventType Started, triggerReason CablePluggedIn or
    ChargingStateChanged, chargingState EVConnected, SuspendedEVSE or Charging (the State is
    Authorized), evse.id and evse.connectorId given. The station starts it as the power path
    closes (EnergyTransferStarted step 7: ChargingStateChanged, SuspendedEVSE), then the energy
    flows (step 9)."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, _):
            await configure(connection, ("TxCtrlr", "TxStartPoint", "PowerPathClosed"))
            transaction_id = await station.start_transaction(1, TOKEN)
            (started,) = await csms.wait("TransactionEvent")
            assert_id_token(csms.of("Authorize")[0])
            assert csms.actions().index("Authorize") < csms.actions().index("TransactionEvent")
            await csms.wait("StatusNotification", where=occupied(1))
            assert started.transaction_info.transaction_id == transaction_id
            assert started.event_type == "Started"
            assert started.trigger_reason == "ChargingStateChanged"
            assert started.transaction_info.charging_state == "SuspendedEVSE"
            assert (started.evse.id, started.evse.connector_id) == (1, 1)
            assert_id_token(started)
            (flowing,) = await csms.wait("TransactionEvent", where=energy_flows)
            assert flowing.event_type == "Updated"

    run(main())


@BOTH_VERSIONS
def test_TC_E_02_CS_start_at_energy_transfer_remote(core: Backend, v2: str) -> None:
    """TC_E_02_CS (E01.FR.06), the OCTT starting with a RequestStartTransactionRequest:
    TxStartPoint EnergyTransfer; Authorized (remote), the EV connects: Occupied, then Started with
    triggerReason RemoteStart, the idToken, evse and connectorId, chargingState Charging."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (_station, csms, connection, _):
            await configure(connection, ("TxCtrlr", "TxStartPoint", "EnergyTransfer"))
            assert (await remote_start(connection, TOKEN, evse=1, remote_id=2)).status == (
                "Accepted"
            )
            (started,) = await csms.wait("TransactionEvent")
            await csms.wait("StatusNotification", where=occupied(1))
            assert (started.event_type, started.trigger_reason) == ("Started", "RemoteStart")
            assert started.transaction_info.remote_start_id == 2
            assert_id_token(started)
            assert (started.evse.id, started.evse.connector_id) == (1, 1)
            assert started.transaction_info.charging_state == "Charging"

    run(main())


def test_TC_E_02_CS_start_at_energy_transfer_local(core: Backend) -> None:
    """TC_E_02_CS (E01.FR.06), the OCTT authorizing locally: TxStartPoint EnergyTransfer;
    Authorized (local), the EV connects: Started with triggerReason ChargingStateChanged or
    Authorized, the idToken, chargingState Charging."""

    async def main() -> None:
        async with booted(core, "ocpp2.0.1", Csms()) as (station, csms, connection, _):
            await configure(connection, ("TxCtrlr", "TxStartPoint", "EnergyTransfer"))
            await station.start_transaction(1, TOKEN)
            (started,) = await csms.wait("TransactionEvent")
            assert started.event_type == "Started"
            assert_id_token(started)
            assert started.transaction_info.charging_state == "Charging"
            assert started.trigger_reason in ("ChargingStateChanged", "Authorized")

    run(main())


async def cable_first_local_start(core: Backend, v2: str) -> Csms:
    """TC_E_03_CS (E02): EVConnectedPreSession (Occupied, no transaction with TxStartPoint
    PowerPathClosed), then Authorized (local: an AuthorizeRequest with the idToken), then the
    transaction starts with the idToken and the energy flows (EnergyTransferStarted)."""
    async with booted(core, v2, Csms()) as (station, csms, _, _):
        await station.plug_in(1)
        await csms.wait("StatusNotification", where=occupied(1))
        assert csms.of("TransactionEvent") == []
        await station.start_transaction(1, TOKEN)
        (started,) = await csms.wait("TransactionEvent")
        assert_id_token(csms.of("Authorize")[0])
        assert started.event_type == "Started"
        assert_id_token(started)
        assert (started.evse.id, started.evse.connector_id) == (1, 1)
        await csms.wait("TransactionEvent", where=energy_flows)
    return csms


@BOTH_VERSIONS
def test_TC_E_03_CS_cable_plugin_first(core: Backend, v2: str) -> None:
    """TC_E_03_CS (E02.FR.01, E02.FR.05-07): the EV first, then the idToken: the transaction
    starts with the idToken once it is authorized, and the energy flows."""
    run(cable_first_local_start(core, v2))


def test_TC_E_03_CS_energy_transfer_is_a_charging_state_change(core: Backend) -> None:
    """TC_E_03_CS, EnergyTransferStarted steps 7 and 9: the start of the energy transfer is
    reported as a ChargingStateChanged TransactionEvent with chargingState Charging; with
    TxStartPoint PowerPathClosed it follows the Started event of the closed power path
    (triggerReason ChargingStateChanged, chargingState SuspendedEVSE)."""
    csms = run(cable_first_local_start(core, "ocpp2.0.1"))
    started, flowing = csms.of("TransactionEvent")
    assert (started.event_type, started.trigger_reason) == ("Started", "ChargingStateChanged")
    assert started.transaction_info.charging_state == "SuspendedEVSE"
    assert flowing.event_type == "Updated" and energy_flows(flowing)


@BOTH_VERSIONS
def test_TC_E_10_CS_start_at_authorized_local(core: Backend, v2: str) -> None:
    """TC_E_10_CS (E01.FR.03, C01.FR.02): TxStartPoint Authorized; an idToken presented is sent
    in an AuthorizeRequest, then the transaction starts: Started, triggerReason Authorized, the
    idToken."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, _):
            await configure(connection, ("TxCtrlr", "TxStartPoint", "Authorized"))
            await station.start_transaction(1, TOKEN)
            started = (await csms.wait("TransactionEvent"))[0]
            assert_id_token(csms.of("Authorize")[0])
            assert csms.actions().index("Authorize") < csms.actions().index("TransactionEvent")
            assert (started.event_type, started.trigger_reason) == ("Started", "Authorized")
            assert_id_token(started)
            await idle_queue(connection)

    run(main())


@BOTH_VERSIONS
def test_TC_E_13_CS_start_at_authorized_remote(core: Backend, v2: str) -> None:
    """TC_E_13_CS (E01.FR.03, F01.FR.03, F01.FR.19, F02.FR.01): TxStartPoint Authorized; a
    RequestStartTransactionRequest is Accepted, the idToken is authorized (AuthorizeRemoteStart
    true) and the transaction starts before any EV is connected: Started, triggerReason
    RemoteStart, transactionInfo.remoteStartId, the idToken."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, _):
            station.auto_plug = False  # no EV in this case
            await configure(connection, ("TxCtrlr", "TxStartPoint", "Authorized"))
            response = await remote_start(connection, TOKEN, evse=1, remote_id=13)
            assert response.status == "Accepted"
            (started,) = await csms.wait("TransactionEvent")
            assert_id_token(csms.of("Authorize")[0])
            assert (started.event_type, started.trigger_reason) == ("Started", "RemoteStart")
            assert started.transaction_info.remote_start_id == 13
            assert_id_token(started)

    run(main())


async def stop_with_stop_point(core: Backend, v2: str, stop_point: str, remote: bool) -> Any:
    """EnergyTransferStarted with TxStopPoint `stop_point`, then StopAuthorized (local: the same
    idToken presented again; remote: a RequestStopTransactionRequest): the Ended event."""
    async with booted(core, v2, Csms()) as (station, csms, connection, m):
        await configure(connection, ("TxCtrlr", "TxStopPoint", stop_point))
        transaction_id = await station.start_transaction(1, TOKEN)
        await csms.wait("TransactionEvent")
        if remote:
            stop = await connection.call(
                m.RequestStopTransactionRequest(transaction_id=transaction_id)
            )
            assert stop.status == "Accepted"
        else:
            await station.stop_transaction(1, "Local")
        ended = (await csms.wait("TransactionEvent", where=is_ended))[0]
        assert station.connector_status(1) == "Occupied"  # the EV is still there
    return ended


@BOTH_VERSIONS
def test_TC_E_07_CS_power_path_closed_local_stop(core: Backend, v2: str) -> None:
    """TC_E_07_CS (E06.FR.06): TxStopPoint PowerPathClosed; StopAuthorized (local) ends the
    transaction: Ended, triggerReason StopAuthorized, stoppedReason Local, chargingState
    EVConnected."""
    ended = run(stop_with_stop_point(core, v2, "PowerPathClosed", remote=False))
    assert (ended.event_type, ended.trigger_reason) == ("Ended", "StopAuthorized")
    info = ended.transaction_info
    assert (info.stopped_reason, info.charging_state) == ("Local", "EVConnected")


@BOTH_VERSIONS
def test_TC_E_35_CS_power_path_closed_remote_stop(core: Backend, v2: str) -> None:
    """TC_E_35_CS (E06.FR.06): TxStopPoint PowerPathClosed; a RequestStopTransactionRequest is
    Accepted and ends the transaction: Ended, triggerReason RemoteStop, stoppedReason Remote."""
    ended = run(stop_with_stop_point(core, v2, "PowerPathClosed", remote=True))
    assert (ended.event_type, ended.trigger_reason) == ("Ended", "RemoteStop")
    assert ended.transaction_info.stopped_reason == "Remote"


@BOTH_VERSIONS
def test_TC_E_08_CS_energy_transfer_stop_point(core: Backend, v2: str) -> None:
    """TC_E_08_CS (E06.FR.07): TxStopPoint EnergyTransfer; StopAuthorized stops the energy
    transfer, which ends the transaction (Ended, stoppedReason Local)."""
    ended = run(stop_with_stop_point(core, v2, "EnergyTransfer", remote=False))
    assert ended.event_type == "Ended"
    assert ended.transaction_info.stopped_reason == "Local"


@pytest.mark.parametrize("stop_point", ["EVConnected,Authorized", "EVConnected", "PowerPathClosed"])
def test_TC_E_17_CS_TC_E_20_CS_TC_E_37_CS_ev_side_disconnect(
    core: Backend, stop_point: str
) -> None:
    """The main step of TC_E_17_CS (TxStopPoint with Authorized), TC_E_20_CS (EVConnected) and
    TC_E_37_CS (PowerPathClosed) (E06.FR.02, E06.FR.04, E06.FR.06, E10: StopTxOnEVSideDisconnect
    true): the EV disconnects during the transaction: TransactionEvent Ended, triggerReason
    EVCommunicationLost, chargingState Idle, stoppedReason EVDisconnected; the connector is
    Available. Run here from EnergyTransferStarted; P6 runs it from EnergyTransferSuspended,
    which tests/test_station_oca_ev.py follows (`ev_suspend`)."""

    async def main() -> None:
        async with booted(core, "ocpp2.0.1", Csms()) as (station, csms, connection, _):
            await configure(connection, ("TxCtrlr", "TxStopPoint", stop_point))
            await station.start_transaction(1, TOKEN)
            await csms.wait("TransactionEvent")
            await station.unplug(1)
            ended = (await csms.wait("TransactionEvent", where=is_ended))[0]
            assert (ended.event_type, ended.trigger_reason) == ("Ended", "EVCommunicationLost")
            info = ended.transaction_info
            assert (info.charging_state, info.stopped_reason) == ("Idle", "EVDisconnected")
            await csms.wait("StatusNotification", where=available(1), count=2)

    run(main())


@BOTH_VERSIONS
def test_TC_E_28_CS_unknown_transaction_status(core: Backend, v2: str) -> None:
    """TC_E_28_CS (E14.FR.01): GetTransactionStatus for a transactionId the station never had:
    ongoingIndicator false, messagesInQueue false."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, m):
            await station.start_transaction(1, TOKEN)  # one that is not the one asked for
            await csms.wait("TransactionEvent")
            status = await connection.call(
                m.GetTransactionStatusRequest(transaction_id="0f5fd26e-unknown")
            )
            assert (status.ongoing_indicator, status.messages_in_queue) == (False, False)

    run(main())


async def offline_meter_values(
    core: Backend, *, end_offline: bool
) -> tuple[StationV2, str, Csms, Any]:
    """Preparations of TC_E_29_CS, TC_E_31_CS, TC_E_33_CS and TC_E_40_CS: SampledDataCtrlr
    TxUpdatedMeasurands and TxUpdatedInterval (1 s) set, EnergyTransferStarted; the OCTT closes
    the connection; offline, the station samples the meter at least twice (and, with
    `end_offline`, the driver stops the transaction and disconnects the EV). Returns the
    station, the transaction id, the test CSMS the station is to reconnect to (holding its
    TransactionEvent answers until its `hold_tx` is set) and the `connect` context that
    reconnects them."""
    async with booted(core, "ocpp2.0.1", Csms()) as (station, csms, connection, _):
        await configure(
            connection,
            ("SampledDataCtrlr", "TxUpdatedMeasurands", "Energy.Active.Import.Register"),
            ("SampledDataCtrlr", "TxUpdatedInterval", "1"),
        )
        transaction_id = await station.start_transaction(1, TOKEN)
        await csms.wait("TransactionEvent")
        await idle_queue(connection)  # the Started event is delivered before the loss
    transaction = station.transactions[1]
    sent = transaction.seq_no
    await aio.until(lambda: transaction.seq_no >= sent + 2)  # two Updated events, offline
    if end_offline:
        await station.stop_transaction(1)  # the same idToken presented again
        await station.unplug(1)
    again = Csms()
    again.hold_tx = asyncio.Event()
    return station, transaction_id, again, connect(core, station, again, "ocpp2.0.1")


def offline_events(csms: Csms) -> list[Any]:
    """The TransactionEvents the station queued offline: sent first, all with offline true."""
    events = csms.of("TransactionEvent")
    queued = [e for e in events if e.offline is True]
    assert queued == events[: len(queued)]
    return queued


def test_TC_E_29_CS_status_ongoing_with_messages_in_queue(core: Backend) -> None:
    """TC_E_29_CS (E14.FR.02, E14.FR.04): messages queued while offline; the moment the
    connection is back, GetTransactionStatus for the transaction: ongoingIndicator true,
    messagesInQueue true; then the queued TransactionEvents: Updated, with meter values,
    offline true."""

    async def main() -> None:
        _, transaction_id, csms, reconnect = await offline_meter_values(core, end_offline=False)
        assert csms.hold_tx is not None
        async with reconnect as connection:
            await csms.wait("TransactionEvent")
            status = await connection.call(
                v201.GetTransactionStatusRequest(transaction_id=transaction_id)
            )
            assert (status.ongoing_indicator, status.messages_in_queue) == (True, True)
            csms.hold_tx.set()
            await csms.wait("TransactionEvent", 2)
            queued = offline_events(csms)
            assert len(queued) >= 2
            for event in queued:
                assert event.event_type == "Updated" and event.meter_value

    run(main())


def test_TC_E_33_CS_status_without_id_with_messages_in_queue(core: Backend) -> None:
    """TC_E_33_CS (E14.FR.06, E14.FR.07): as TC_E_29_CS, GetTransactionStatus without a
    transactionId: ongoingIndicator omitted, messagesInQueue true; then the queued Updated
    events with meter values and offline true."""

    async def main() -> None:
        _, _, csms, reconnect = await offline_meter_values(core, end_offline=False)
        assert csms.hold_tx is not None
        async with reconnect as connection:
            await csms.wait("TransactionEvent")
            status = await connection.call(v201.GetTransactionStatusRequest())
            assert (status.ongoing_indicator, status.messages_in_queue) == (UNSET, True)
            csms.hold_tx.set()
            await csms.wait("TransactionEvent", 2)
            queued = offline_events(csms)
            assert len(queued) >= 2
            for event in queued:
                assert event.event_type == "Updated" and event.meter_value

    run(main())


def test_TC_E_31_CS_status_ended_with_messages_in_queue(core: Backend) -> None:
    """TC_E_31_CS (E14.FR.03, E14.FR.04): the transaction is stopped and the EV disconnected
    while offline; the moment the connection is back, GetTransactionStatus for it:
    ongoingIndicator false, messagesInQueue true; then every queued TransactionEvent of the
    transaction, offline true, in seqNo order, ending with StopAuthorized (Ended, Local)."""

    async def main() -> None:
        _, transaction_id, csms, reconnect = await offline_meter_values(core, end_offline=True)
        assert csms.hold_tx is not None
        async with reconnect as connection:
            await csms.wait("TransactionEvent")
            status = await connection.call(
                v201.GetTransactionStatusRequest(transaction_id=transaction_id)
            )
            assert (status.ongoing_indicator, status.messages_in_queue) == (False, True)
            csms.hold_tx.set()
            ended = (await csms.wait("TransactionEvent", where=is_ended))[0]
            queued = offline_events(csms)
            assert queued[-1] is ended
            # seqNo 0 and 1 (Started, the energy flow) were delivered before the loss.
            assert [e.seq_no for e in queued] == list(range(2, len(queued) + 2))
            assert {e.transaction_info.transaction_id for e in queued} == {transaction_id}
            assert (ended.trigger_reason, ended.transaction_info.stopped_reason) == (
                "StopAuthorized",
                "Local",
            )
            await idle_queue(connection)

    run(main())


def test_TC_E_40_CS_connection_loss_during_transaction(core: Backend) -> None:
    """TC_E_40_CS (E11.FR.01, E11.FR.02, E11.FR.06): SampledDataCtrlr TxUpdatedMeasurands and
    TxUpdatedInterval set, EnergyTransferStarted; the connection is lost while the transaction
    goes on; reconnected, the station sends what it queued: all Updated, with meter values,
    offline true, in order, before anything sampled since."""

    async def main() -> None:
        station, transaction_id, csms, reconnect = await offline_meter_values(
            core, end_offline=False
        )
        assert csms.hold_tx is not None
        csms.hold_tx.set()
        async with reconnect:
            await csms.wait("TransactionEvent", 2)
            queued = offline_events(csms)
            assert len(queued) >= 2
            for event in queued:
                assert event.event_type == "Updated" and event.meter_value
                assert event.transaction_info.transaction_id == transaction_id
            # seqNo 0 and 1 (Started, the energy flow) were delivered before the loss.
            assert [e.seq_no for e in queued] == list(range(2, len(queued) + 2))
            assert station.transactions[1].id == transaction_id

    run(main())


async def retried(
    core: Backend, csms: Csms, attempts: int, timeout: float | None = None
) -> list[str]:
    """TC_E_41_CS / TC_E_42_CS / TC_E_51_CS (E13): MessageAttemptsTransactionEvent `attempts`,
    MessageAttemptIntervalTransactionEvent 0 (the interval between attempts is a real-time wait
    and is not measured here); Authorized, EVConnectedPreSession: the Started event goes out as
    often as the CSMS makes it fail, at most `attempts` times, then the next messages (the
    Updated of the energy flow, EnergyTransferStarted step 9, and the Ended of a StopAuthorized)
    follow. `timeout`: the station's message timeout (TC_E_41_CS,
    TC_E_42_CS: the CSMS does not answer). Returns the eventType of every TransactionEvent the
    CSMS received."""
    async with booted(core, "ocpp2.0.1", csms) as (station, _, connection, _):
        await set_variables(
            connection,
            put(v201, "OCPPCommCtrlr", "MessageAttempts", str(attempts),
                variable_instance="TransactionEvent"),
            put(v201, "OCPPCommCtrlr", "MessageAttemptInterval", "0",
                variable_instance="TransactionEvent"),
        )  # fmt: skip
        if timeout is not None:
            station.connection.session.call_timeout = timeout
        await station.plug_in(1)
        await station.start_transaction(1, TOKEN)
        await station.stop_transaction(1)
        await csms.wait("TransactionEvent", where=is_ended)
        await idle_queue(connection)
        events = csms.of("TransactionEvent")
        assert {e.seq_no for e in events if e.event_type == "Started"} == {0}
        return [wire(e.event_type) for e in events]


def test_TC_E_41_CS_retry_until_max_attempts_without_answer(core: Backend) -> None:
    """TC_E_41_CS (E13.FR.01-04): the CSMS does not answer the Started event: it is sent
    MessageAttemptsTransactionEvent (3) times, then dropped for the next message."""
    events = run(retried(core, OcaCsms(unanswered=3), attempts=3, timeout=0.5))
    assert events == ["Started", "Started", "Started", "Updated", "Ended"]


def test_TC_E_42_CS_retry_succeeds_after_a_missing_answer(core: Backend) -> None:
    """TC_E_42_CS (E13.FR.01-03; E201 6.1.20: passed on the second transmission): the CSMS does
    not answer the first Started, answers the second: it is sent twice, then the transaction's
    next message."""
    events = run(retried(core, OcaCsms(unanswered=1), attempts=3, timeout=0.5))
    assert events == ["Started", "Started", "Updated", "Ended"]


def test_TC_E_51_CS_retry_succeeds_after_a_call_error(core: Backend) -> None:
    """TC_E_51_CS (E13.FR.01-03; E201 6.1.20): MessageAttemptsTransactionEvent 3 (> 2); the
    CSMS answers the first Started with CALLERROR InternalError, the second with a
    TransactionEventResponse: it is sent twice, then the transaction's next message."""
    events = run(retried(core, OcaCsms(fail_tx=1), attempts=3))
    assert events == ["Started", "Started", "Updated", "Ended"]


@BOTH_VERSIONS
def test_TC_E_39_CS_authorization_times_out_without_an_ev(core: Backend, v2: str) -> None:
    """TC_E_39_CS (E03.FR.05, E06.FR.04; E201 6.1.16, 6.1.17: Authorized local or remote, any
    TxStartPoint): TxStartPoint PowerPathClosed, EVConnectionTimeOut 1 s; Authorized (remote)
    without an EV: no transaction starts (steps 1-2 are for ParkingBayOccupancy / Authorized
    only), and once the timeout has passed the authorization is gone (Available again); an EV
    connected afterwards is Occupied but does not start charging."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, _):
            station.auto_plug = False
            await configure(
                connection,
                ("TxCtrlr", "TxStartPoint", "PowerPathClosed"),
                ("TxCtrlr", "EVConnectionTimeOut", "1"),
            )
            assert (await remote_start(connection, TOKEN, evse=1)).status == "Accepted"
            await csms.wait("Authorize")
            await csms.wait("StatusNotification", where=occupied(1))
            await csms.wait("StatusNotification", where=available(1), count=2)
            assert station.transactions == {}
            await station.plug_in(1)
            await csms.wait("StatusNotification", where=occupied(1), count=2)
            await idle_queue(connection)
            assert csms.of("TransactionEvent") == [] and station.transactions == {}

    run(main())


async def local_list_of(connection: Any, *tokens: tuple[str, str | None]) -> None:
    """P6 memory state IdTokenLocalAuthList: a SendLocalListRequest, updateType Full, with
    `tokens` (id token, its groupIdToken or None), each Accepted; the station answers Accepted
    (step 2)."""
    m = MODULES[connection.version]
    entries = [
        m.AuthorizationData(
            id_token=m.IdToken(id_token=token, type=TOKEN_TYPE),
            id_token_info=m.IdTokenInfo(
                status="Accepted",
                group_id_token=(
                    UNSET if group is None else m.IdToken(id_token=group, type="Central")
                ),
            ),
        )
        for token, group in tokens
    ]
    request = m.SendLocalListRequest(
        version_number=1, update_type="Full", local_authorization_list=entries
    )
    response = await connection.call(request)
    assert response.status == "Accepted"


@BOTH_VERSIONS
@pytest.mark.parametrize("memory", ["IdTokenCached", "IdTokenLocalAuthList"])
def test_TC_E_45_CS_offline_stop_by_a_token_of_the_same_group(
    core: Backend, v2: str, memory: str
) -> None:
    """TC_E_45_CS (E08.FR.02, E08.FR.04-08, C09): OfflineThreshold <RetryBackOffWaitMinimum> +
    60, RetryBackOffWaitMinimum 10, RetryBackOffRandomRange 0; idToken2 of the group known to
    the station - in the authorization cache (memory state IdTokenCached) or in the local
    authorization list (IdTokenLocalAuthList), one run each: this station keeps a token in one of
    them, the list taking precedence (C14); Authorized with the groupIdToken (the CSMS answers
    the valid idToken's AuthorizeRequest with it), then EnergyTransferStarted; the OCTT closes
    the connection (step 1); offline, idToken2 is presented - authorized from the list or the
    cache (LocalAuthorizeOffline), of the transaction's group: it stops the transaction - and the
    EV is disconnected; reconnected (step 2), the station empties its queue (step 3): every
    TransactionEvent offline true, one of them Ended (StopAuthorized, stoppedReason Local,
    idToken2)."""

    async def main() -> None:
        groups = {TOKEN: GROUP, TOKEN2: GROUP}
        async with booted(core, v2, OcaCsms(groups=groups)) as (station, csms, connection, _):
            await configure(
                connection,
                ("OCPPCommCtrlr", "RetryBackOffWaitMinimum", "10"),
                ("OCPPCommCtrlr", "RetryBackOffRandomRange", "0"),
                ("OCPPCommCtrlr", "OfflineThreshold", "70"),
            )
            if memory == "IdTokenCached":
                await cache_token(connection, station, csms, TOKEN2, accepted=True)
            else:
                await local_list_of(connection, (TOKEN2, GROUP))
            asked = len(csms.of("Authorize"))
            transaction_id = await station.start_transaction(1, TOKEN)  # Authorized, then the EV
            assert len(csms.of("Authorize")) == asked + 1
            assert_id_token(csms.of("Authorize")[-1])
            await csms.wait(
                "TransactionEvent",
                where=lambda e: (
                    e.transaction_info.transaction_id == transaction_id and energy_flows(e)
                ),
            )
            await idle_queue(connection)
        await station.stop_transaction(1, id_token=TOKEN2)  # offline
        await station.unplug(1)
        again = OcaCsms(groups=groups)
        async with connect(core, station, again, v2) as connection:
            ended = (await again.wait("TransactionEvent", where=is_ended))[0]
            await idle_queue(connection)
            events = again.of("TransactionEvent")
            assert events and all(e.offline is True for e in events)
            assert [e for e in events if is_ended(e)] == [ended]
            assert {e.transaction_info.transaction_id for e in events} == {transaction_id}
            assert (ended.trigger_reason, ended.transaction_info.stopped_reason) == (
                "StopAuthorized",
                "Local",
            )
            assert_id_token(ended, TOKEN2)
            assert again.of("Authorize") == [] and station.transactions == {}

    run(main())


@BOTH_VERSIONS
def test_TC_E_52_CS_no_authorize_request_with_remote_authorization_disabled(
    core: Backend, v2: str
) -> None:
    """TC_E_52_CS (C01.FR.02, C01.FR.05, overruled by AuthCtrlr.DisableRemoteAuthorization):
    AuthCtrlr.Enabled and DisableRemoteAuthorization true; no valid idToken in the cache or the
    local list; an idToken in neither is presented before the EV is connected (authorization
    first): the station sends no AuthorizeRequest and refuses it (no transaction, no
    TransactionEvent, the connector stays Available). And what the case's description says the
    station still does: an idToken the local list has Accepted is authorized from the list
    alone (no AuthorizeRequest) and starts the transaction."""

    async def main() -> None:
        async with booted(core, v2, OcaCsms()) as (station, csms, connection, _):
            await configure(
                connection,
                ("AuthCtrlr", "Enabled", "true"),
                ("AuthCtrlr", "DisableRemoteAuthorization", "true"),
            )
            assert not station.data.tokens.get("cache") and not station.data.tokens.get("local")
            with pytest.raises(StationError, match="not authorized"):
                await station.start_transaction(1, TOKEN)
            await idle_queue(connection)
            assert csms.of("Authorize") == [] and csms.of("TransactionEvent") == []
            assert station.transactions == {} and station.connector_status(1) == "Available"
            await local_list_of(connection, ("TAG-LISTED", None))
            transaction_id = await station.start_transaction(1, "TAG-LISTED")
            started = await started_of(csms)
            assert started.transaction_info.transaction_id == transaction_id
            assert_id_token(started, "TAG-LISTED")
            assert csms.of("Authorize") == []

    run(main())


# ------------------------------------------------------------------------------------------
# F Remote control


@BOTH_VERSIONS
def test_TC_F_01_CS_remote_start_cable_plugin_first(core: Backend, v2: str) -> None:
    """TC_F_01_CS (F01.FR.03-05, F01.FR.13, F01.FR.19, F02.FR.01): EVConnectedPreSession (with
    TxStartPoint PowerPathClosed no transaction yet), then Authorized (remote): the
    RequestStartTransactionResponse is Accepted without a transactionId, the idToken is
    authorized, and the transaction starts: Started, triggerReason RemoteStart (P6 2.1: it
    overrules EnergyTransferStarted step 7), remoteStartId, the idToken; then the energy flows
    (step 9)."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, _):
            await station.plug_in(1)
            await csms.wait("StatusNotification", where=occupied(1))
            response = await remote_start(connection, TOKEN, evse=1, remote_id=101)
            assert (response.status, response.transaction_id) == ("Accepted", UNSET)
            (started,) = await csms.wait("TransactionEvent")
            assert_id_token(csms.of("Authorize")[0])
            assert (started.event_type, started.trigger_reason) == ("Started", "RemoteStart")
            assert started.transaction_info.remote_start_id == 101
            assert_id_token(started)
            assert (started.evse.id, started.evse.connector_id) == (1, 1)
            assert started.transaction_info.charging_state == "SuspendedEVSE"
            await csms.wait("TransactionEvent", where=energy_flows)

    run(main())


@BOTH_VERSIONS
def test_TC_F_14_CS_trigger_transaction_event_all_evses(core: Backend, v2: str) -> None:
    """TC_F_14_CS (F06.FR.04, F06.FR.05, F06.FR.07, F06.FR.10, F06.FR.11): EnergyTransferStarted
    on every EVSE; TriggerMessage TransactionEvent without evse is Accepted, then one
    TransactionEvent per EVSE: its evse.id, triggerReason Trigger, chargingState Charging, meter
    values with context Trigger."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, m):
            await station.start_transaction(1, TOKEN)
            await station.start_transaction(2, "TAG-2")
            await csms.wait("TransactionEvent", 2)
            response = await connection.call(
                m.TriggerMessageRequest(requested_message="TransactionEvent")
            )
            assert response.status == "Accepted"
            triggered = await csms.wait(
                "TransactionEvent", 2, where=lambda e: e.trigger_reason == "Trigger"
            )
            assert sorted(e.evse.id for e in triggered) == [1, 2]
            for event in triggered:
                assert event.transaction_info.charging_state == "Charging"
                assert event.meter_value[0].sampled_value[0].context == "Trigger"

    run(main())


# ------------------------------------------------------------------------------------------
# G Availability


@BOTH_VERSIONS
def test_TC_G_01_CS_available_to_occupied(core: Backend, v2: str) -> None:
    """TC_G_01_CS (G01.FR.01): EVConnectedPreSession: connecting the EV is reported,
    StatusNotification Occupied for its EVSE and connector."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, _, _):
            await station.plug_in(2)
            await csms.wait("StatusNotification", where=occupied(2))
            assert statuses_of(csms) == {1: "Available", 2: "Occupied"}

    run(main())


@BOTH_VERSIONS
def test_TC_G_02_CS_occupied_to_available(core: Backend, v2: str) -> None:
    """TC_G_02_CS (G01.FR.01): EVConnectedPreSession, then the EV is disconnected:
    StatusNotification Available."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, _, _):
            await station.plug_in(2)
            await csms.wait("StatusNotification", where=occupied(2))
            await station.unplug(2)
            await csms.wait("StatusNotification", where=available(2), count=2)
            assert statuses_of(csms) == {1: "Available", 2: "Available"}

    run(main())


async def inoperative_during_a_transaction(
    core: Backend, v2: str, target: Any, evses: tuple[int, ...] = (1,)
) -> tuple[Csms, Any]:
    """TC_G_11_CS / TC_G_14_CS / TC_G_17_CS: EnergyTransferStarted on EVSE 1; a
    ChangeAvailabilityRequest Inoperative for `target` (built from the version's module) is
    Scheduled; the connector stays Occupied while the transaction runs; StopAuthorized ends it
    (TxStopPoint Authorized) and the connectors of `evses` are reported Unavailable. Returns the
    test CSMS and the station's connector statuses right after the Scheduled answer."""
    async with booted(core, v2, Csms()) as (station, csms, connection, m):
        await station.start_transaction(1, TOKEN)
        await csms.wait("TransactionEvent")
        response = await connection.call(
            m.ChangeAvailabilityRequest(operational_status="Inoperative", evse=target(m))
        )
        assert response.status == "Scheduled"
        scheduled = {evse: station.connector_status(evse) for evse in (1, 2)}
        assert scheduled[1] == "Occupied"
        await station.stop_transaction(1)  # StopAuthorized
        for evse in evses:
            await csms.wait("StatusNotification", where=unavailable(evse))
        assert station.connector_status(1) == "Unavailable"
    return csms, scheduled


@BOTH_VERSIONS
def test_TC_G_11_CS_evse_inoperative_during_a_transaction(core: Backend, v2: str) -> None:
    """TC_G_11_CS (G03.FR.05): EVSE-level Inoperative during a transaction: Scheduled, then
    Unavailable once the transaction has ended; the other EVSE stays Available."""
    csms, scheduled = run(inoperative_during_a_transaction(core, v2, lambda m: m.EVSE(id=1)))
    assert scheduled[2] == "Available"
    assert statuses_of(csms) == {1: "Unavailable", 2: "Available"}


@BOTH_VERSIONS
def test_TC_G_17_CS_connector_inoperative_during_a_transaction(core: Backend, v2: str) -> None:
    """TC_G_17_CS (G03.FR.05): connector-level Inoperative during a transaction: Scheduled,
    then that connector Unavailable (evseId and connectorId given) once the transaction has
    ended; the other EVSE stays Available."""
    csms, scheduled = run(
        inoperative_during_a_transaction(core, v2, lambda m: m.EVSE(id=1, connector_id=1))
    )
    assert scheduled[2] == "Available"
    assert statuses_of(csms) == {1: "Unavailable", 2: "Available"}


@BOTH_VERSIONS
def test_TC_G_14_CS_station_inoperative_during_a_transaction(core: Backend, v2: str) -> None:
    """TC_G_14_CS (G04.FR.06) steps 1-2 and 5-7: station-level Inoperative during a
    transaction: Scheduled; the connector of the transaction's EVSE is Unavailable once it has
    ended, and so is every other connector (post scenario: all connectors reported)."""
    csms, _ = run(inoperative_during_a_transaction(core, v2, lambda m: UNSET, (1, 2)))
    assert statuses_of(csms) == {1: "Unavailable", 2: "Unavailable"}


def test_TC_G_14_CS_idle_evses_unavailable_at_once(core: Backend) -> None:
    """TC_G_14_CS step 3: "The Charging Station notifies the CSMS about the current state of the
    connectors of the EVSEs that do not have an active transaction": EVSE 2 Unavailable right
    after the Scheduled answer."""
    _, scheduled = run(inoperative_during_a_transaction(core, "ocpp2.0.1", lambda m: UNSET))
    assert scheduled[2] == "Unavailable"


async def change_twice(core: Backend, v2: str, status: str, target: Any) -> Csms:
    """TC_G_12_CS / TC_G_13_CS / TC_G_15_CS / TC_G_16_CS: ChangeAvailability `status` for
    `target` when it already has that availability (Unavailable reusable state first for
    Inoperative): Accepted, and the connectors keep their status."""
    async with booted(core, v2, Csms()) as (station, csms, connection, m):

        async def change() -> str:
            request = m.ChangeAvailabilityRequest(operational_status=status, evse=target(m))
            return wire((await connection.call(request)).status)

        if status == "Inoperative":  # the Unavailable reusable state
            assert await change() == "Accepted"
            await csms.wait("StatusNotification", where=lambda r: r.connector_status != "Available")
        before = {evse: station.connector_status(evse) for evse in (1, 2)}
        assert await change() == "Accepted"
        assert {evse: station.connector_status(evse) for evse in (1, 2)} == before
        await idle_queue(connection)
    return csms


@BOTH_VERSIONS
def test_TC_G_12_CS_station_operative_to_operative(core: Backend, v2: str) -> None:
    """TC_G_12_CS (G04.FR.01-05): station-level Operative while Operative: Accepted, every
    connector Available."""
    csms = run(change_twice(core, v2, "Operative", lambda m: UNSET))
    assert statuses_of(csms) == {1: "Available", 2: "Available"}


@BOTH_VERSIONS
def test_TC_G_13_CS_station_inoperative_to_inoperative(core: Backend, v2: str) -> None:
    """TC_G_13_CS (G04.FR.01-05) as E201 6.1.22 amends it: station-level Inoperative while
    Inoperative: Accepted; nothing changed, so no report is needed; every connector stays
    Unavailable."""
    csms = run(change_twice(core, v2, "Inoperative", lambda m: UNSET))
    assert statuses_of(csms) == {1: "Unavailable", 2: "Unavailable"}


@BOTH_VERSIONS
def test_TC_G_15_CS_connector_operative_to_operative(core: Backend, v2: str) -> None:
    """TC_G_15_CS (G03.FR.01-04): connector-level Operative while Operative: Accepted."""
    csms = run(change_twice(core, v2, "Operative", lambda m: m.EVSE(id=2, connector_id=1)))
    assert statuses_of(csms) == {1: "Available", 2: "Available"}


@BOTH_VERSIONS
def test_TC_G_16_CS_connector_inoperative_to_inoperative(core: Backend, v2: str) -> None:
    """TC_G_16_CS (G03.FR.01-04): connector-level Inoperative while Inoperative: Accepted, the
    connector stays Unavailable."""
    csms = run(change_twice(core, v2, "Inoperative", lambda m: m.EVSE(id=2, connector_id=1)))
    assert statuses_of(csms) == {1: "Available", 2: "Unavailable"}


async def unavailable_across_a_reboot(core: Backend, target: Any) -> tuple[Csms, Csms]:
    """TC_G_19_CS / TC_G_21_CS: the Unavailable reusable state for `target`, then Booting (a
    ResetRequest Immediate) and the boot: BootNotification, every connector reported, the
    SecurityEventNotification StartupOfTheDevice or ResetOrReboot. Returns the CSMS before and
    after the reboot."""
    async with booted(core, "ocpp2.0.1", Csms()) as (station, csms, connection, _):
        changed = await connection.call(
            v201.ChangeAvailabilityRequest(
                operational_status=v201.OperationalStatusEnum.Inoperative, evse=target(v201)
            )
        )
        assert changed.status == "Accepted"
        await csms.wait("StatusNotification", where=lambda r: r.connector_status == "Unavailable")
        reset = await connection.call(v201.ResetRequest(type=v201.ResetEnum.Immediate))
        assert reset.status == "Accepted"
        await asyncio.wait_for(connection.wait_closed(), WAIT)
    again = Csms()
    async with connect(core, station, again, "ocpp2.0.1"):
        await ready(station, again)
        assert [b.reason for b in again.of("BootNotification")] == ["RemoteReset"]
        event = again.of("SecurityEventNotification")[0]
        assert event.type in ("StartupOfTheDevice", "ResetOrReboot")
        assert all(s.evse_id != 0 and s.connector_id != 0 for s in again.of("StatusNotification"))
    return csms, again


def test_TC_G_19_CS_connector_unavailable_persists_across_reboot(core: Backend) -> None:
    """TC_G_19_CS (G03.FR.08): a connector set Inoperative is reported Unavailable after the
    reboot; the other EVSE's connector Available."""
    _, again = run(unavailable_across_a_reboot(core, lambda m: m.EVSE(id=2, connector_id=1)))
    assert statuses_of(again) == {1: "Available", 2: "Unavailable"}


def test_TC_G_21_CS_station_unavailable_persists_across_reboot(core: Backend) -> None:
    """TC_G_21_CS (G04.FR.09): the station set Inoperative reports every connector Unavailable
    after the reboot."""
    _, again = run(unavailable_across_a_reboot(core, lambda m: UNSET))
    assert statuses_of(again) == {1: "Unavailable", 2: "Unavailable"}


# ------------------------------------------------------------------------------------------
# A05 Upgrade Charging Station Security Profile (2.x: through the network profiles, B09/B10)


class TlsCsmsServer(CsmsServer):
    """`CsmsServer` over TLS: wss:// with the server certificate of `context`."""

    def __init__(self, *args: Any, context: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context = context

    @property
    def url(self) -> str:
        return f"wss://127.0.0.1:{self.port}/ocpp"

    async def __aenter__(self) -> TlsCsmsServer:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            subprotocols=[self.version],  # type: ignore[list-item]
            process_request=self._check,
            ssl=self.context,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self


@BOTH_VERSIONS
def test_TC_A_19_to_22_CS_security_profile_upgrade_through_a_network_profile(
    core: Backend, v2: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TC_A_20_CS (A05.FR.03): a network profile of security profile 2 is Accepted, but
    NetworkConfigurationPriority naming it is Rejected while no CSMSRootCertificate is
    installed; TC_A_21_CS (A05.FR.04): likewise profile 3 without the station's certificate;
    TC_A_19_CS: with the CSMS root installed, the priority is RebootRequired, and after the
    Reset the station connects over wss:// with security profile 2, boots there, and reports
    SecurityCtrlr.SecurityProfile 2 (step 11); TC_A_22_CS (A05.FR.09's station side): a network
    profile of a lower security profile is Rejected."""
    # Issued a month before the stations' clock (tests/test_station_v2.py's NOW), so that they
    # are valid for the station (M05: a root not valid yet is Rejected) and for TLS, which
    # checks them at the real time.
    monkeypatch.setattr(pki_module, "_now", lambda: NOW - datetime.timedelta(days=30))
    pki = CertificateStore(tmp_path / "pki")
    pki.create_ca("Example CPO")
    server = pki.issue_server(["127.0.0.1"])
    assert server.key_file is not None
    context = server_context(pki.path(server.cert_file), pki.path(server.key_file))

    async def main() -> None:
        attempts: list[str] = []
        async with (
            CsmsServer(core, v2, "plain", attempts) as plain,
            TlsCsmsServer(core, v2, "tls", attempts, context=context) as tls,
            attached(core, v2, plain.url) as (station, _client),
        ):
            m = MODULES[v2]
            await ready(station, plain.csms)
            connection = plain.connection
            await configure(connection, *NO_BACK_OFF)
            to_tls = network_profile(m, 2, tls.url, security_profile=2)
            assert wire((await connection.call(to_tls)).status) == "Accepted"
            priority = put(m, "OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1")
            assert await set_variables(connection, priority) == ["Rejected"]  # TC_A_20_CS
            with_certificate = network_profile(m, 3, tls.url, security_profile=3)
            assert wire((await connection.call(with_certificate)).status) == "Accepted"
            priority_3 = put(m, "OCPPCommCtrlr", "NetworkConfigurationPriority", "3,1")
            assert await set_variables(connection, priority_3) == ["Rejected"]  # TC_A_21_CS

            install = m.InstallCertificateRequest(
                certificate_type="CSMSRootCertificate", certificate=pki.ca_cert_path.read_text()
            )
            assert wire((await connection.call(install)).status) == "Accepted"
            assert await set_variables(connection, priority) == ["RebootRequired"]
            assert wire((await connection.call(m.ResetRequest(type="OnIdle"))).status) == (
                "Accepted"
            )
            await booted_state(station, tls.csms)  # TC_A_19_CS steps 7-9
            assert attempts == ["plain", "tls"]
            profile = get(m, "SecurityCtrlr", "SecurityProfile")
            got = await tls.connection.call(m.GetVariablesRequest(get_variable_data=[profile]))
            assert got.get_variable_result[0].attribute_value == "2"  # step 11

            down = network_profile(m, 3, plain.url, security_profile=1)
            assert wire((await tls.connection.call(down)).status) == "Rejected"  # TC_A_22_CS

    run(main())


# ------------------------------------------------------------------------------------------
# B10 with M05: migrating to a new CSMS with a new CSMS root certificate (TC_B_47_CS, TC_B_50_CS)


def new_root_signed_by(old: CertificateStore, new: CertificateStore) -> str:
    """P6's <Configured (new) CSMS Root certificate 2>, which "must be signed by the configured
    (old) CSMS Root certificate": the subject and key of `new`'s CA, issued by `old`'s CA (PEM).
    The server certificates `new` issues verify with it."""
    # Local imports: this part of the file is appended to it (its imports stay as they were).
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    old_ca, new_ca = old.ca_certificate, new.ca_certificate
    old_key: Any = serialization.load_pem_private_key(old.ca_key_path.read_bytes(), None)
    builder = (
        x509.CertificateBuilder()
        .subject_name(new_ca.subject)
        .issuer_name(old_ca.subject)
        .public_key(new_ca.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(new_ca.not_valid_before_utc)
        .not_valid_after(new_ca.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(new_ca.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(old_key.public_key()), False
        )
    )
    certificate = builder.sign(old_key, hashes.SHA256())
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def two_csms_roots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[CertificateStore, CertificateStore, dict[str, ssl.SSLContext]]:
    """The old and the new CSMS PKI (`CertificateStore`s), each with a CA and a server
    certificate for 127.0.0.1 (their server TLS contexts by "old" and "new"), dated as in the
    TC_A_19_CS test (a month before the stations' clock, so valid for the station and for
    TLS)."""
    monkeypatch.setattr(pki_module, "_now", lambda: NOW - datetime.timedelta(days=30))
    stores = []
    contexts = {}
    for name, organization in (("old", "Example CPO"), ("new", "Example CPO 2")):
        pki = CertificateStore(tmp_path / name)
        pki.create_ca(organization)
        server = pki.issue_server(["127.0.0.1"])
        assert server.key_file is not None
        contexts[name] = server_context(pki.path(server.cert_file), pki.path(server.key_file))
        stores.append(pki)
    return stores[0], stores[1], contexts


async def on_tls_with_the_old_root(
    station: StationV2, plain: CsmsServer, old_csms: TlsCsmsServer, old: CertificateStore
) -> None:
    """Before (preparations) common to both cases: the station, booted at `plain`, is taken to
    `old_csms` over TLS (security profile 2, slot 2 alone in NetworkConfigurationPriority: the
    TC_A_19_CS way), trusting the (old) CSMS root of `old`, and boots there; with
    OCPPCommCtrlr.NetworkProfileConnectionAttempts 1 (TC_B_47_CS's configuration state)."""
    m = MODULES[plain.version]
    await ready(station, plain.csms)
    connection = plain.connection
    attempts = ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "1")
    await configure(connection, *NO_BACK_OFF, attempts)
    install = m.InstallCertificateRequest(
        certificate_type="CSMSRootCertificate", certificate=old.ca_cert_path.read_text()
    )
    assert wire((await connection.call(install)).status) == "Accepted"
    to_tls = network_profile(m, 2, old_csms.url, security_profile=2)
    assert wire((await connection.call(to_tls)).status) == "Accepted"
    priority = put(m, "OCPPCommCtrlr", "NetworkConfigurationPriority", "2")
    assert await set_variables(connection, priority) == ["RebootRequired"]
    assert wire((await connection.call(m.ResetRequest(type="OnIdle"))).status) == "Accepted"
    await booted_state(station, old_csms.csms)


async def migrate_to_slot_3(connection: Any, url: str, priority: str) -> None:
    """Steps 1-6 of TC_B_47_CS and TC_B_50_CS: SetNetworkProfile with the slot not in use (3:
    slot 2 is in use, slot 1 is the plain profile the test started on) for `url`, security
    profile 2 (Accepted); NetworkConfigurationPriority `priority` (RebootRequired); Reset OnIdle
    (Accepted, step 6's validation)."""
    m = MODULES[connection.version]
    response = await connection.call(network_profile(m, 3, url, security_profile=2))
    assert wire(response.status) == "Accepted"
    item = put(m, "OCPPCommCtrlr", "NetworkConfigurationPriority", priority)
    assert await set_variables(connection, item) == ["RebootRequired"]
    assert wire((await connection.call(m.ResetRequest(type="OnIdle"))).status) == "Accepted"


async def csms_root_serials(connection: Any) -> set[int]:
    """GetInstalledCertificateIds CSMSRootCertificate (Accepted): the serial numbers listed."""
    m = MODULES[connection.version]
    request = m.GetInstalledCertificateIdsRequest(certificate_type=["CSMSRootCertificate"])
    response = await connection.call(request)
    assert wire(response.status) == "Accepted"
    return {
        int(entry.certificate_hash_data.serial_number, 16)
        for entry in response.certificate_hash_data_chain
        if wire(entry.certificate_type) == "CSMSRootCertificate"
    }


@BOTH_VERSIONS
@pytest.mark.parametrize("priority", ["3", "3,2"])
def test_TC_B_47_CS_falls_back_to_the_previous_profile_and_the_old_csms_root(
    core: Backend,
    v2: str,
    priority: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """TC_B_47_CS (B10.FR.07, M05.FR.15/16 = SW M05.FR.11/13): the station supports AS-2
    (AdditionalRootCertificateCheck true); memory state: the (new) CSMS root certificate 2,
    signed by the old root, installed (Accepted; the old root stays as fallback). Steps 1-6 with
    the URL of another CSMS and NetworkConfigurationPriority "3" as P6 gives step 3, or "3,2" as
    E201 6.1.9 amends it. Steps 7-8: that CSMS presents a server certificate signed by the old
    root; the station validates it with the new root alone and the TLS handshake fails (no
    WebSocket request reaches that CSMS). Step 9: it switches back to the previous profile and
    validates the CSMS certificate with the fallback root as well: connected; step 10 Booted.
    Steps 11-12: GetInstalledCertificateIds CSMSRootCertificate is Accepted and lists the old
    root."""
    old, new, tls = two_csms_roots(tmp_path, monkeypatch)

    async def main() -> None:
        attempts: list[str] = []
        async with (
            CsmsServer(core, v2, "plain", attempts) as plain,
            TlsCsmsServer(core, v2, "old", attempts, context=tls["old"]) as old_csms,
            TlsCsmsServer(core, v2, "other", attempts, context=tls["old"]) as other,
            attached(core, v2, plain.url) as (station, _client),
        ):
            m = MODULES[v2]
            await on_tls_with_the_old_root(station, plain, old_csms, old)
            station.certificates.additional_root_check = True  # AS-2
            check = get(m, "SecurityCtrlr", "AdditionalRootCertificateCheck")
            got = await old_csms.connection.call(m.GetVariablesRequest(get_variable_data=[check]))
            assert got.get_variable_result[0].attribute_value == "true"
            install = m.InstallCertificateRequest(
                certificate_type="CSMSRootCertificate", certificate=new_root_signed_by(old, new)
            )
            assert wire((await old_csms.connection.call(install)).status) == "Accepted"

            await migrate_to_slot_3(old_csms.connection, other.url, priority)  # steps 1-6
            await booted_state(station, old_csms.csms, boots=2)  # steps 7-10
            assert attempts == ["plain", "old", "old"]  # step 8: no request reached "other"
            assert await active_profile(old_csms.connection) == "2"
            serials = await csms_root_serials(old_csms.connection)  # steps 11-12
            assert old.ca_certificate.serial_number in serials

    with caplog.at_level(logging.INFO):
        run(main())
    assert "M05.FR.13" in caplog.text
    assert PASSWORD not in caplog.text


@BOTH_VERSIONS
@pytest.mark.parametrize("as_2", [False, True], ids=["E201", "AS-2"])
def test_TC_B_50_CS_migrates_to_a_new_csms_with_a_new_csms_root(
    core: Backend, v2: str, as_2: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TC_B_50_CS (M05.FR.13 = SW M05.FR.12): memory state: the (new) CSMS root certificate 2
    installed; steps 1-6 with the URL of a new CSMS, NetworkConfigurationPriority "3,2" (E201
    6.1.9: the slot of step 1, then the one in use). Steps 7-9: the station validates and
    accepts that CSMS's server certificate, signed by the new root, connects (step 8) and boots
    there. E201 6.1.10 makes the case mandatory without AS-2 and drops steps 10-11: the new
    root is installed beside the old one (`E201`). As P6 gives it (`AS-2`: the station supports
    AdditionalRootCertificateCheck, the new root is signed by the old one, which is kept as
    fallback): the handshake trusts the new root alone, and steps 10-11 GetInstalledCertificateIds
    CSMSRootCertificate no longer lists the old root, dropped once the new one connected."""
    from cryptography import x509  # appended part: see `new_root_signed_by`

    old, new, tls = two_csms_roots(tmp_path, monkeypatch)

    async def main() -> None:
        attempts: list[str] = []
        async with (
            CsmsServer(core, v2, "plain", attempts) as plain,
            TlsCsmsServer(core, v2, "old", attempts, context=tls["old"]) as old_csms,
            TlsCsmsServer(core, v2, "new", attempts, context=tls["new"]) as new_csms,
            attached(core, v2, plain.url) as (station, _client),
        ):
            m = MODULES[v2]
            await on_tls_with_the_old_root(station, plain, old_csms, old)
            station.certificates.additional_root_check = as_2
            root = new_root_signed_by(old, new) if as_2 else new.ca_cert_path.read_text()
            install = m.InstallCertificateRequest(
                certificate_type="CSMSRootCertificate", certificate=root
            )
            assert wire((await old_csms.connection.call(install)).status) == "Accepted"

            await migrate_to_slot_3(old_csms.connection, new_csms.url, "3,2")  # steps 1-6
            await booted_state(station, new_csms.csms)  # steps 7-9
            assert attempts == ["plain", "old", "new"]
            assert await active_profile(new_csms.connection) == "3"
            serials = await csms_root_serials(new_csms.connection)  # steps 10-11 (P6)
            new_serial = x509.load_pem_x509_certificate(root.encode("ascii")).serial_number
            old_serial = old.ca_certificate.serial_number
            assert serials == ({new_serial} if as_2 else {old_serial, new_serial})

    run(main())


@BOTH_VERSIONS
def test_M05_FR_10_a_new_csms_root_not_signed_by_the_old_one_is_rejected(
    core: Backend, v2: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TC_B_47_CS/TC_B_50_CS's prerequisite AS-2, SW M05.FR.10: with
    AdditionalRootCertificateCheck a CSMS root that the installed one did not sign is Rejected
    and not installed; one it signed replaces it, the old one listed as well until a connection
    with the new one works (SW M05.FR.08/11)."""
    old, new, _ = two_csms_roots(tmp_path, monkeypatch)

    async def main() -> None:
        async with (
            CsmsServer(core, v2, "plain", []) as plain,
            attached(core, v2, plain.url) as (station, _client),
        ):
            m = MODULES[v2]
            await ready(station, plain.csms)
            station.certificates.additional_root_check = True

            async def install(pem: str) -> str:
                request = m.InstallCertificateRequest(
                    certificate_type="CSMSRootCertificate", certificate=pem
                )
                return wire((await plain.connection.call(request)).status)

            assert await install(old.ca_cert_path.read_text()) == "Accepted"
            assert await install(new.ca_cert_path.read_text()) == "Rejected"
            assert await csms_root_serials(plain.connection) == {old.ca_certificate.serial_number}
            assert await install(new_root_signed_by(old, new)) == "Accepted"
            serials = await csms_root_serials(plain.connection)
            assert old.ca_certificate.serial_number in serials
            assert len(serials) == 2

    run(main())
