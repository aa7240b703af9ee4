"""The simulated OCPP 2.0.1 / 2.1 charging station (`ocppfast.station.v2.StationV2`), driven by a
test CSMS over a loopback pair (and once over a real WebSocket on 127.0.0.1), on both core
backends and both versions. Docstrings name the requirement or the P6 test case (TC_*_CS) each
test covers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import msgspec
import pytest

from ocppfast import v21, v201
from ocppfast._core import Backend
from ocppfast._core.actions import CSMS_INITIATED, CSMS_SENDS
from ocppfast._core.message import UNSET, dec_hook
from ocppfast.asyncio import Connection, Handlers, on
from ocppfast.asyncio.connection import DEFAULT_CALL_TIMEOUT
from ocppfast.exceptions import InternalError, SecurityError
from ocppfast.station.config import StationConfig
from ocppfast.station.store import StationData
from ocppfast.station.v2 import (
    DeviceModel,
    StationError,
    StationV2,
    Variable,
)
from ocppfast.transport.loopback import loopback_pair
from ocppfast.transport.websocket import WebSocketTransport
from tests import aio
from tests.payloads import corpus

V2 = ("ocpp2.0.1", "ocpp2.1")
MODULES: dict[str, Any] = {"ocpp2.0.1": v201, "ocpp2.1": v21}
NOW = datetime(2026, 11, 21, 9, 30, tzinfo=timezone.utc)
# P6 2.1 allows a deviation of 4 s when comparing times; real-time waits here are ~1 s intervals.
WAIT = 5.0


@pytest.fixture(params=V2)
def v2(request: pytest.FixtureRequest) -> str:
    """OCPP 2.0.1 and 2.1: one implementation serves both."""
    return str(request.param)


STATIONS: list[StationV2] = []


def run(coro: Awaitable[Any]) -> Any:
    """Run a test's main coroutine (tests/aio.run), then stop the stations it made, as the CLI
    does on exit."""

    async def main() -> Any:
        try:
            return await coro
        finally:
            while STATIONS:
                await STATIONS.pop().shutdown()

    return aio.run(main())


class Clock:
    """A clock the test moves: timestamps and the energy meter follow it."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def clock_of(station: StationV2) -> Clock:
    assert isinstance(station.clock, Clock)
    return station.clock


def make_station(
    version: str, *, data: StationData | None = None, clock: Clock | None = None, **config: Any
) -> StationV2:
    """A station "CP1" with two EVSEs and a test clock (shut down at the end of `run`); `data`:
    what it keeps across restarts (default: in memory)."""
    options: dict[str, Any] = {"connectors": 2, "serial_number": "SN-0001"}
    options.update(config)
    station = StationV2(StationConfig("CP1", **options), version, clock=clock or Clock(), data=data)
    STATIONS.append(station)
    return station


class Csms(Handlers):
    """A test CSMS: records what the station sends and answers it.

    `boot`: the registration statuses of successive BootNotificationResponses (the last one
    repeats); `refused`: id tokens answered Invalid in AuthorizeResponse; `invalid_in_tx`: id
    tokens answered Invalid in TransactionEventResponse; `fail_tx`: how many TransactionEvents
    to answer with a CALLERROR first; `groups`: the groupIdToken of id tokens (C09)."""

    def __init__(
        self,
        *,
        boot: tuple[str, ...] = ("Accepted",),
        interval: int = 300,
        refused: tuple[str, ...] = (),
        invalid_in_tx: tuple[str, ...] = (),
        fail_tx: int = 0,
        groups: dict[str, str] | None = None,
    ) -> None:
        self.boot = list(boot)
        self.interval = interval
        self.refused = set(refused)
        self.invalid_in_tx = set(invalid_in_tx)
        self.fail_tx = fail_tx
        self.groups = dict(groups or {})
        # While set and not yet set(), TransactionEvents are not answered (the CSMS is busy).
        self.hold_tx: asyncio.Event | None = None
        self.messages: list[tuple[str, Any, float]] = []
        self._arrived = asyncio.Event()

    @property
    def m(self) -> Any:
        return MODULES[self.connection.version]

    def _got(self, request: Any) -> None:
        self.messages.append((type(request).ACTION, request, asyncio.get_running_loop().time()))
        self._arrived.set()

    def of(self, action: str) -> list[Any]:
        return [request for name, request, _ in self.messages if name == action]

    def times(self, action: str) -> list[float]:
        return [when for name, _, when in self.messages if name == action]

    def actions(self) -> list[str]:
        return [name for name, _, _ in self.messages]

    async def wait(
        self,
        action: str,
        count: int = 1,
        where: Callable[[Any], bool] | None = None,
        timeout: float = WAIT,
    ) -> list[Any]:
        """The first `count` `action` messages (matching `where`), waiting for them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = [r for r in self.of(action) if where is None or where(r)]
            if len(found) >= count:
                return found[:count]
            self._arrived.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"{count} {action} expected, got {self.actions()}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    @on("BootNotification", versions=V2)
    def boot_notification(self, request: Any) -> Any:
        self._got(request)
        status = self.boot.pop(0) if len(self.boot) > 1 else self.boot[0]
        return self.m.BootNotificationResponse(
            status=status, current_time=NOW, interval=self.interval
        )

    @on("Heartbeat", versions=V2)
    def heartbeat(self, request: Any) -> Any:
        self._got(request)
        return self.m.HeartbeatResponse(current_time=NOW)

    def _info(self, token: str, refused: set[str]) -> Any:
        group = self.groups.get(token)
        return self.m.IdTokenInfo(
            status="Invalid" if token in refused else "Accepted",
            group_id_token=UNSET
            if group is None
            else self.m.IdToken(id_token=group, type="Central"),
        )

    @on("Authorize", versions=V2)
    def authorize(self, request: Any) -> Any:
        self._got(request)
        return self.m.AuthorizeResponse(
            id_token_info=self._info(request.id_token.id_token, self.refused)
        )

    @on("TransactionEvent", versions=V2)
    async def transaction_event(self, request: Any) -> Any:
        self._got(request)
        if self.hold_tx is not None:
            await self.hold_tx.wait()
        if self.fail_tx > 0:
            self.fail_tx -= 1
            raise InternalError("database unavailable")
        if request.id_token is UNSET:
            return self.m.TransactionEventResponse()
        info = self._info(request.id_token.id_token, self.invalid_in_tx)
        return self.m.TransactionEventResponse(id_token_info=info)

    @on("StatusNotification", versions=V2)
    @on("SecurityEventNotification", versions=V2)
    @on("NotifyReport", versions=V2)
    @on("MeterValues", versions=V2)
    @on("LogStatusNotification", versions=V2)
    @on("FirmwareStatusNotification", versions=V2)
    @on("NotifyCustomerInformation", versions=V2)
    @on("NotifyEvent", versions=V2)
    def notification(self, request: Any) -> Any:
        self._got(request)
        return getattr(self.m, f"{type(request).ACTION}Response")()


@contextlib.asynccontextmanager
async def connect(
    core: Backend,
    station: StationV2,
    csms: Csms,
    version: str,
    *,
    call_timeout: float = DEFAULT_CALL_TIMEOUT,
) -> AsyncIterator[Connection]:
    """The station and the test CSMS on the two ends of a loopback pair; yields the CSMS's
    Connection (its `call()` drives the station). `call_timeout`: how long the station waits
    for the CSMS's answers."""
    csms_end, station_end = loopback_pair(version)
    csms_connection = Connection(
        csms_end, role="csms", handlers=csms, core=core, identity=station.config.identity
    )
    station_connection = Connection(
        station_end, role="station", handlers=station, core=core, call_timeout=call_timeout
    )
    tasks = [
        asyncio.create_task(csms_connection.run()),
        asyncio.create_task(station_connection.run()),
    ]
    try:
        yield csms_connection
    finally:
        await csms_connection.close()
        await asyncio.wait_for(asyncio.gather(*tasks), WAIT)


async def ready(station: StationV2, csms: Csms) -> None:
    """Booted, and the boot's messages (connector statuses, security event) are in."""
    await asyncio.wait_for(station.booted.wait(), WAIT)
    await csms.wait("SecurityEventNotification")


_C = TypeVar("_C", bound=Csms)


@contextlib.asynccontextmanager
async def booted(
    core: Backend, version: str, csms: _C
) -> AsyncIterator[tuple[StationV2, _C, Connection, Any]]:
    """A new station (`make_station(version)`) and `csms` on a loopback pair (`connect`), the
    boot done (`ready`): yields (station, csms, the CSMS's Connection, the version's message
    module)."""
    station = make_station(version)
    async with connect(core, station, csms, version) as connection:
        await ready(station, csms)
        yield station, csms, connection, MODULES[version]


def component(
    m: Any,
    name: str,
    *,
    instance: str | None = None,
    evse: int | None = None,
    connector: int | None = None,
) -> Any:
    where: Any = UNSET
    if evse is not None:
        where = m.EVSE(id=evse, connector_id=UNSET if connector is None else connector)
    return m.Component(name=name, instance=instance or UNSET, evse=where)


def get(m: Any, name: str, variable: str, attribute: str | None = None, **where: Any) -> Any:
    instance = where.pop("variable_instance", None)
    return m.GetVariableData(
        component=component(m, name, **where),
        variable=m.Variable(name=variable, instance=instance or UNSET),
        attribute_type=attribute or UNSET,
    )


def put(
    m: Any, name: str, variable: str, value: str, attribute: str | None = None, **where: Any
) -> Any:
    instance = where.pop("variable_instance", None)
    return m.SetVariableData(
        component=component(m, name, **where),
        variable=m.Variable(name=variable, instance=instance or UNSET),
        attribute_value=value,
        attribute_type=attribute or UNSET,
    )


async def set_variables(connection: Connection, *items: Any) -> list[str]:
    m = MODULES[connection.version]
    response = await connection.call(m.SetVariablesRequest(set_variable_data=list(items)))
    return [result.attribute_status for result in response.set_variable_result]


async def remote_start(
    connection: Connection, token: str = "TAG-1", evse: int | None = 1, remote_id: int = 42
) -> Any:
    m = MODULES[connection.version]
    return await connection.call(
        m.RequestStartTransactionRequest(
            id_token=m.IdToken(id_token=token, type="ISO14443"),
            remote_start_id=remote_id,
            evse_id=UNSET if evse is None else evse,
        )
    )


def wire(value: Any) -> str:
    """The wire text of an enumeration member."""
    return str(getattr(value, "value", value))


def is_ended(request: Any) -> bool:
    return bool(request.event_type == "Ended")


def measured(event: Any, measurand: str) -> float:
    """The last value of `measurand` in a TransactionEvent or MeterValues."""
    values = [
        sampled.value
        for meter_value in event.meter_value
        for sampled in meter_value.sampled_value
        if sampled.measurand == measurand
    ]
    return float(values[-1])


def energy(event: Any) -> float:
    """The last Energy.Active.Import.Register of a TransactionEvent or MeterValues."""
    return measured(event, "Energy.Active.Import.Register")


# ------------------------------------------------------------------------------------------
# Construction and the handler table


def test_handles_every_csms_initiated_action(v2: str) -> None:
    """Every CSMS-initiated action (and SEND) of the version has a handler; none of 1.6."""
    station = StationV2(StationConfig("CP1"), v2)
    assert CSMS_INITIATED[v2] | CSMS_SENDS[v2] <= station.handled_actions(v2)
    assert station.handled_actions("ocpp1.6") == frozenset()


def test_refuses_what_it_cannot_be() -> None:
    """A 1.6 station, or a configuration that breaks BootNotification's lengths, is refused
    before anything is sent."""
    with pytest.raises(ValueError, match=r"ocpp2\.0\.1 and ocpp2\.1"):
        StationV2(StationConfig("CP1"), "ocpp1.6")
    with pytest.raises(ValueError, match="model"):
        StationV2(StationConfig("CP1", model="M" * 21))
    with pytest.raises(ValueError, match="connector"):
        StationV2(StationConfig("CP1", connectors=0))


def test_device_model_checks_values_by_data_type() -> None:
    """B05.FR.07 (TC_B_11_CS): values that do not fit the data type or the characteristics are
    refused with InvalidValue / ValueOutOfRange; lists keep their canonical spelling."""

    def variable(data_type: str, **characteristics: Any) -> Variable:
        model = DeviceModel()
        return model.add(Variable("C", "V", data_type, {}, **characteristics))

    integer = variable("integer", min_limit=1, max_limit=10)
    assert integer.normalize("+7") == ("7", "")
    assert integer.normalize("1.1") == (None, "InvalidValue")
    assert integer.normalize("abc") == (None, "InvalidValue")
    assert integer.normalize("11") == (None, "ValueOutOfRange")
    assert variable("decimal").normalize("1e3") == ("1e3", "")
    assert variable("decimal").normalize("nan") == (None, "InvalidValue")
    assert variable("boolean").normalize("TRUE") == ("true", "")
    assert variable("boolean").normalize("1") == (None, "InvalidValue")
    assert variable("dateTime").normalize("2026-11-21T10:00:00+01:00") == (
        "2026-11-21T09:00:00Z",
        "",
    )
    assert variable("dateTime").normalize("2026-11-21T10:00:00") == (None, "InvalidValue")
    options = ("Energy.Active.Import.Register", "Power.Active.Import")
    members = variable("MemberList", values_list=options, min_members=1, max_limit=2)
    assert members.normalize("power.active.import, Energy.Active.Import.Register") == (
        "Power.Active.Import,Energy.Active.Import.Register",
        "",
    )
    assert members.normalize("Power.Active.Import,Power.Active.Import") == (None, "InvalidValue")
    assert members.normalize("SoC") == (None, "InvalidValue")
    assert members.normalize("") == (None, "ValueOutOfRange")
    assert variable("OptionList", values_list=("A", "B")).normalize("b") == ("B", "")
    assert variable("string", max_limit=3).normalize("abcd") == (None, "ValueOutOfRange")


def test_reconnect_back_off() -> None:
    """J201 5.3 (TC_B_57_CS): RetryBackOffWaitMinimum for the first attempt, doubled after every
    failed one at most RetryBackOffRepeatTimes times, plus up to RetryBackOffRandomRange."""
    station = StationV2(StationConfig("CP1"))
    model = station.device_model
    model.set_actual("OCPPCommCtrlr", "RetryBackOffRandomRange", "0")
    model.set_actual("OCPPCommCtrlr", "RetryBackOffRepeatTimes", "2")
    model.set_actual("OCPPCommCtrlr", "RetryBackOffWaitMinimum", "10")
    delays = station.backoff.delays()
    assert [next(delays) for _ in range(5)] == [10.0, 20.0, 40.0, 40.0, 40.0]
    model.set_actual("OCPPCommCtrlr", "RetryBackOffRandomRange", "5")
    assert all(10.0 <= next(station.backoff.delays()) <= 15.0 for _ in range(50))
    assert station.websocket_ping_interval == 30


# ------------------------------------------------------------------------------------------
# B01-B03 Boot, heartbeat


def test_boot_accepted_reports_every_connector(core: Backend, v2: str) -> None:
    """TC_B_01_CS (B01.FR.01, B01.FR.05): BootNotification with the configured identity of the
    station first; Accepted -> the interval becomes the heartbeat interval, every connector's
    status is reported (timestamps from the injected clock), then StartupOfTheDevice (A201
    appendix 1, P6 reusable state Booted)."""

    async def main() -> None:
        station = make_station(v2, firmware_version="1.2.3")
        csms = Csms()
        async with connect(core, station, csms, v2):
            await ready(station, csms)
            assert csms.actions()[:4] == [
                "BootNotification",
                "StatusNotification",
                "StatusNotification",
                "SecurityEventNotification",
            ]
            boot = csms.of("BootNotification")[0]
            assert boot.reason == "PowerUp"
            identity = boot.charging_station
            assert (identity.vendor_name, identity.model) == ("ocppfast", "Simulated")
            assert (identity.serial_number, identity.firmware_version) == ("SN-0001", "1.2.3")
            statuses = csms.of("StatusNotification")
            assert [(s.evse_id, s.connector_id, s.connector_status) for s in statuses] == [
                (1, 1, "Available"),
                (2, 1, "Available"),
            ]
            assert statuses[0].timestamp == NOW
            assert csms.of("SecurityEventNotification")[0].type == "StartupOfTheDevice"
            assert station.registration == "Accepted"
            assert station.heartbeat_interval == 300
            assert station.device_model.get("OCPPCommCtrlr", "HeartbeatInterval") == "300"

    run(main())


def test_boot_interval_zero_keeps_the_configured_heartbeat(core: Backend) -> None:
    """B01: an Accepted BootNotificationResponse with interval 0 leaves the configured heartbeat
    interval in place."""

    async def main() -> None:
        station = make_station("ocpp2.0.1", heartbeat_interval=42)
        csms = Csms(interval=0)
        async with connect(core, station, csms, "ocpp2.0.1"):
            await ready(station, csms)
            assert station.heartbeat_interval == 42

    run(main())


def test_heartbeat_at_the_interval(core: Backend) -> None:
    """B01 / B05: Heartbeats every OCPPCommCtrlr.HeartbeatInterval; a new interval set with
    SetVariables takes effect at once, not after the old one has run out."""

    async def main() -> None:
        async with booted(core, "ocpp2.0.1", Csms(interval=3600)) as (station, csms, connection, _):
            assert station.heartbeat_interval == 3600
            assert await set_variables(
                connection, put(v201, "OCPPCommCtrlr", "HeartbeatInterval", "1")
            ) == ["Accepted"]
            assert station.heartbeat_interval == 1
            await csms.wait("Heartbeat", 2)
            first, second = csms.times("Heartbeat")[:2]
            assert second - first >= 0.8  # the new 1 s interval (the old one was an hour)
            # Each tick's wait is gone once over: one waiter at most per timer (the heartbeat,
            # the two clock-aligned ones), however many ticks went by.
            assert len(station._change_waiters) <= 3

    run(main())


def test_boot_pending_answers_the_csms_and_boots_when_triggered(core: Backend, v2: str) -> None:
    """TC_B_02_CS (B02, F06.FR.17): while Pending the station sends nothing of its own, but
    answers SetVariables, GetVariables and GetBaseReport (with its NotifyReports), rejects
    RequestStartTransaction (CSNotAccepted, A201 appendix 5) and, triggered, sends a
    BootNotification with reason Triggered before the interval has passed."""

    async def main() -> None:
        station = make_station(v2)
        csms = Csms(boot=("Pending", "Accepted"), interval=60)
        m = MODULES[v2]
        async with connect(core, station, csms, v2) as connection:
            await csms.wait("BootNotification")
            assert await set_variables(
                connection, put(m, "OCPPCommCtrlr", "OfflineThreshold", "300")
            ) == ["Accepted"]
            assert station.registration == "Pending"
            got = await connection.call(
                m.GetVariablesRequest(
                    get_variable_data=[get(m, "OCPPCommCtrlr", "OfflineThreshold")]
                )
            )
            assert got.get_variable_result[0].attribute_value == "300"
            report = await connection.call(
                m.GetBaseReportRequest(request_id=7, report_base="FullInventory")
            )
            assert report.status == "Accepted"
            await csms.wait("NotifyReport", where=lambda r: not r.tbc)
            start = await remote_start(connection)
            assert start.status == "Rejected"
            assert start.status_info.reason_code == "CSNotAccepted"
            assert csms.actions().count("StatusNotification") == 0
            trigger = await connection.call(
                m.TriggerMessageRequest(requested_message="BootNotification")
            )
            assert trigger.status == "Accepted"
            await ready(station, csms)
            boots = csms.of("BootNotification")
            assert [b.reason for b in boots] == ["PowerUp", "Triggered"]
            await csms.wait("StatusNotification", 2)

    run(main())


def test_boot_rejected_refuses_every_call_and_retries_after_the_interval(core: Backend) -> None:
    """TC_B_03_CS, TC_B_30_CS (B03.FR.06, B03.FR.08 as E201 2.3.1 words it): after Rejected,
    every CALL of the CSMS is answered SecurityError, the station sends nothing, and the next
    BootNotification comes once the interval has passed."""

    async def main() -> None:
        station = make_station("ocpp2.0.1")
        csms = Csms(boot=("Rejected", "Accepted"), interval=1)
        async with connect(core, station, csms, "ocpp2.0.1") as connection:
            await csms.wait("BootNotification")
            with pytest.raises(SecurityError):
                await connection.call(
                    v201.GetBaseReportRequest(request_id=1, report_base="FullInventory")
                )
            assert station.registration == "Rejected"
            await ready(station, csms)
            first, second = csms.times("BootNotification")
            assert second - first >= 0.9
            assert csms.actions()[:2] == ["BootNotification", "BootNotification"]

    run(main())


def test_boot_rejected_guards_every_handler(v2: str) -> None:
    """B03.FR.08: the Rejected guard wraps every route of `handlers_for()`, so every
    CSMS-initiated action is refused before its handler runs."""

    async def main() -> None:
        station = StationV2(StationConfig("CP1"), v2)
        station.registration = "Rejected"
        routes = station.handlers_for(v2)
        for action in sorted(CSMS_INITIATED[v2]):
            with pytest.raises(SecurityError, match=f"^{action}: "):
                await routes[action](None)  # the request is never read

    run(main())


# ------------------------------------------------------------------------------------------
# B05 / B06 variables, B07 / B08 reports


def test_get_variables_statuses(core: Backend, v2: str) -> None:
    """TC_B_06_CS, TC_B_07_CS, TC_B_32_CS, TC_B_33_CS, TC_B_34_CS, TC_B_08_CS (B06.FR.01-08):
    Accepted with the value, UnknownComponent, UnknownVariable, NotSupportedAttributeType;
    WriteOnly refused (A201 appendix 5); names case-insensitive; past ItemsPerMessage,
    Rejected with TooManyElements."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (_station, _csms, connection, m):
            response = await connection.call(
                m.GetVariablesRequest(
                    get_variable_data=[
                        get(m, "OCPPCommCtrlr", "OfflineThreshold", "Actual"),
                        get(m, "AuthCtrlr", "LocalAuthorizeOffline"),
                        get(m, "UnknownComponent", "OfflineThreshold"),
                        get(m, "OCPPCommCtrlr", "UnknownVariable"),
                        get(m, "OCPPCommCtrlr", "OfflineThreshold", "Target"),
                        get(m, "SecurityCtrlr", "BasicAuthPassword"),
                        get(m, "ocppcommctrlr", "heartbeatinterval"),
                        get(m, "OCPPCommCtrlr", "MessageTimeout", variable_instance="Default"),
                        get(m, "EVSE", "Power", "MaxSet", evse=1),
                        get(m, "Connector", "AvailabilityState", evse=2, connector=1),
                        get(m, "ChargingStation", "SerialNumber"),
                        get(m, "SecurityCtrlr", "Identity"),
                        get(m, "EVSE", "Power", evse=3),
                    ]
                )
            )
            results = response.get_variable_result
            assert [(r.attribute_status, r.attribute_value) for r in results] == [
                ("Accepted", "0"),
                ("Accepted", "true"),
                ("UnknownComponent", UNSET),
                ("UnknownVariable", UNSET),
                ("NotSupportedAttributeType", UNSET),
                ("Rejected", UNSET),
                ("Accepted", "300"),
                ("Accepted", "30"),
                ("Accepted", "11000.0"),
                ("Accepted", "Available"),
                ("Accepted", "SN-0001"),
                ("Accepted", "CP1"),
                ("UnknownComponent", UNSET),
            ]
            assert results[0].attribute_type == "Actual"
            assert results[1].attribute_type is UNSET
            assert results[4].attribute_type == "Target"
            assert results[2].component.name == "UnknownComponent"
            assert results[3].variable.name == "UnknownVariable"
            assert results[5].attribute_status_info.reason_code == "WriteOnly"
            many = [get(m, "OCPPCommCtrlr", "HeartbeatInterval")] * 51
            response = await connection.call(m.GetVariablesRequest(get_variable_data=many))
            statuses = [r.attribute_status for r in response.get_variable_result]
            assert statuses == ["Accepted"] * 50 + ["Rejected"]
            info = response.get_variable_result[-1].attribute_status_info
            assert info.reason_code == "TooManyElements"

    run(main())


def test_set_variables_statuses_and_effects(core: Backend, v2: str) -> None:
    """TC_B_09_CS, TC_B_10_CS, TC_B_35_CS, TC_B_36_CS, TC_B_37_CS, TC_B_11_CS, TC_B_39_CS
    (B05.FR.01-09), TC_A_09_CS / TC_A_10_CS (A01): values are checked and take effect; read-only
    variables are Rejected; NetworkConfigurationPriority needs a reboot (RebootRequired)."""

    async def main() -> None:
        station = make_station(v2)
        csms = Csms()
        m = MODULES[v2]
        password = "s3cret-Passw0rd.xyz"
        async with connect(core, station, csms, v2) as connection:
            await ready(station, csms)
            response = await connection.call(
                m.SetVariablesRequest(
                    set_variable_data=[
                        put(m, "OCPPCommCtrlr", "OfflineThreshold", "300", "Actual"),
                        put(m, "AuthCtrlr", "LocalAuthorizeOffline", "false"),
                        put(m, "UnknownComponent", "OfflineThreshold", "1"),
                        put(m, "OCPPCommCtrlr", "UnknownVariable", "1"),
                        put(m, "OCPPCommCtrlr", "OfflineThreshold", "1", "Target"),
                        put(m, "OCPPCommCtrlr", "OfflineThreshold", "1.1"),
                        put(m, "OCPPCommCtrlr", "MessageTimeout", "5", variable_instance="Default"),
                        put(m, "OCPPCommCtrlr", "HeartbeatInterval", "0"),
                        put(m, "OCPPCommCtrlr", "HeartbeatInterval", "120"),
                        put(m, "SecurityCtrlr", "BasicAuthPassword", password),
                        put(m, "SecurityCtrlr", "BasicAuthPassword", "short"),
                        put(m, "TxCtrlr", "TxStartPoint", "EVConnected,ParkingBayOccupancy"),
                        put(m, "OCPPCommCtrlr", "NetworkConfigurationPriority", "1"),
                        put(m, "EVSE", "Power", "7400", "MaxSet", evse=1),
                        put(m, "EVSE", "Power", "7400", evse=1),
                        put(m, "EVSE", "Power", "22000", "MaxSet", evse=2),
                    ]
                )
            )
            results = response.set_variable_result
            assert [r.attribute_status for r in results] == [
                "Accepted",
                "Accepted",
                "UnknownComponent",
                "UnknownVariable",
                "NotSupportedAttributeType",
                "Rejected",
                "Rejected",
                "Rejected",
                "Accepted",
                "Accepted",
                "Rejected",
                "Rejected",
                "RebootRequired",
                "Accepted",
                "Rejected",
                "Rejected",
            ]
            reasons = [
                r.attribute_status_info.reason_code if r.attribute_status_info else None
                for r in results
            ]
            assert reasons[5:8] == ["InvalidValue", "ReadOnly", "ValueOutOfRange"]
            assert reasons[10:12] == ["InvalidValue", "InvalidValue"]
            assert reasons[14:] == ["ReadOnly", "ValueOutOfRange"]
            assert results[0].attribute_type == "Actual"
            assert results[6].variable.instance == "Default"
            model = station.device_model
            assert model.get("OCPPCommCtrlr", "OfflineThreshold") == "300"
            assert model.get("AuthCtrlr", "LocalAuthorizeOffline") == "false"
            assert station.heartbeat_interval == 120
            assert station.basic_auth_password == password
            assert model.get("TxCtrlr", "TxStartPoint") == "PowerPathClosed"
            power = model.find("EVSE", "Power", evse=1)
            assert power is not None and power.attributes["MaxSet"].value == "7400"
            # TC_A_09_CS step 3: the station reconnects with its new password.
            await asyncio.wait_for(connection.wait_closed(), WAIT)
            assert connection.close_code == 1000

    run(main())


def report_parts(csms: Csms, request_id: int) -> list[Any]:
    return [r for r in csms.of("NotifyReport") if r.request_id == request_id]


def reported(parts: list[Any]) -> dict[tuple[str, str, str, int | None], Any]:
    entries = {}
    for part in parts:
        for data in part.report_data or ():
            evse = None if data.component.evse is UNSET else data.component.evse.id
            key = (data.component.name, data.variable.name, data.variable.instance or "", evse)
            entries[key] = data
    return entries


def test_get_base_report_in_parts(core: Backend, v2: str) -> None:
    """TC_B_13_CS, TC_B_12_CS, TC_B_15_CS, TC_B_53_CS (B07): Accepted, then NotifyReports with
    seqNo from 0, tbc on all but the last, every required variable with its characteristics
    (valuesList for lists), no value of a WriteOnly one; ConfigurationInventory: the writable
    ones only; SummaryInventory: NotSupported and nothing sent."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (_station, csms, connection, m):
            response = await connection.call(
                m.GetBaseReportRequest(request_id=11, report_base="FullInventory")
            )
            assert response.status == "Accepted"
            await csms.wait("NotifyReport", where=lambda r: r.request_id == 11 and not r.tbc)
            parts = report_parts(csms, 11)
            assert len(parts) > 1
            assert [p.seq_no for p in parts] == list(range(len(parts)))
            assert [p.tbc for p in parts] == [True] * (len(parts) - 1) + [False]
            assert {p.generated_at for p in parts} == {NOW}
            entries = reported(parts)
            required = [
                ("AlignedDataCtrlr", "Interval", "", None),
                ("AlignedDataCtrlr", "Measurands", "", None),
                ("AlignedDataCtrlr", "TxEndedInterval", "", None),
                ("AlignedDataCtrlr", "TxEndedMeasurands", "", None),
                ("AuthCtrlr", "AuthorizeRemoteStart", "", None),
                ("AuthCtrlr", "LocalAuthorizeOffline", "", None),
                ("AuthCtrlr", "LocalPreAuthorize", "", None),
                ("ChargingStation", "AvailabilityState", "", None),
                ("ChargingStation", "Available", "", None),
                ("ChargingStation", "SupplyPhases", "", None),
                ("ClockCtrlr", "DateTime", "", None),
                ("ClockCtrlr", "TimeSource", "", None),
                ("Connector", "AvailabilityState", "", 1),
                ("Connector", "ConnectorType", "", 2),
                ("DeviceDataCtrlr", "BytesPerMessage", "GetVariables", None),
                ("DeviceDataCtrlr", "ItemsPerMessage", "SetVariables", None),
                ("LocalAuthListCtrlr", "BytesPerMessage", "", None),
                ("LocalAuthListCtrlr", "Entries", "", None),
                ("LocalAuthListCtrlr", "ItemsPerMessage", "", None),
                ("EVSE", "AvailabilityState", "", 2),
                ("EVSE", "Power", "", 1),
                ("OCPPCommCtrlr", "MessageTimeout", "Default", None),
                ("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent", None),
                ("OCPPCommCtrlr", "NetworkConfigurationPriority", "", None),
                ("OCPPCommCtrlr", "OfflineThreshold", "", None),
                ("SampledDataCtrlr", "TxUpdatedInterval", "", None),
                ("SampledDataCtrlr", "TxStartedMeasurands", "", None),
                ("SecurityCtrlr", "SecurityProfile", "", None),
                ("TxCtrlr", "EVConnectionTimeOut", "", None),
                ("TxCtrlr", "TxStartPoint", "", None),
                ("TxCtrlr", "TxStopPoint", "", None),
            ]
            missing = [key for key in required if key not in entries]
            assert not missing
            for data in entries.values():
                characteristics = data.variable_characteristics
                if characteristics.data_type in ("OptionList", "MemberList", "SequenceList"):
                    assert characteristics.values_list, data
            password = entries[("SecurityCtrlr", "BasicAuthPassword", "", None)]
            assert password.variable_attribute[0].mutability == "WriteOnly"
            assert password.variable_attribute[0].value is UNSET
            power = entries[("EVSE", "Power", "", 1)]
            assert [a.type for a in power.variable_attribute] == ["Actual", "MaxSet"]
            local_entries = entries[("LocalAuthListCtrlr", "Entries", "", None)]
            assert local_entries.variable_attribute[0].mutability == "ReadOnly"
            assert local_entries.variable_characteristics.max_limit > 0
            assert power.variable_characteristics.unit == "W"

            response = await connection.call(
                m.GetBaseReportRequest(request_id=12, report_base="ConfigurationInventory")
            )
            assert response.status == "Accepted"
            await csms.wait("NotifyReport", where=lambda r: r.request_id == 12 and not r.tbc)
            configuration = reported(report_parts(csms, 12))
            assert ("OCPPCommCtrlr", "OfflineThreshold", "", None) in configuration
            for data in configuration.values():
                assert {a.mutability for a in data.variable_attribute} & {"ReadWrite", "WriteOnly"}

            response = await connection.call(
                m.GetBaseReportRequest(request_id=13, report_base="SummaryInventory")
            )
            assert response.status == "NotSupported"
            assert response.status_info.reason_code == "UnsupportedParam"
            await asyncio.sleep(0.05)
            assert report_parts(csms, 13) == []

    run(main())


def test_get_report_selects_components_and_variables(core: Backend, v2: str) -> None:
    """B08 (B08.FR.22-25 as E201 2.3.3 words them): a component without evse or instance
    matches all of them; a componentVariable without variable matches all its variables;
    componentCriteria narrow the selection; nothing matching: EmptyResultSet."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (_station, csms, connection, m):

            async def report(request_id: int, **fields: Any) -> Any:
                response = await connection.call(
                    m.GetReportRequest(request_id=request_id, **fields)
                )
                if response.status == "Accepted":
                    await csms.wait(
                        "NotifyReport", where=lambda r: r.request_id == request_id and not r.tbc
                    )
                return response.status, reported(report_parts(csms, request_id))

            status, entries = await report(
                21,
                component_variable=[
                    m.ComponentVariable(
                        component=m.Component(name="evse"),
                        variable=m.Variable(name="AvailabilityState"),
                    )
                ],
            )
            assert status == "Accepted"
            assert sorted(entries) == [
                ("EVSE", "AvailabilityState", "", 1),
                ("EVSE", "AvailabilityState", "", 2),
            ]
            status, entries = await report(
                22,
                component_variable=[
                    m.ComponentVariable(component=component(m, "Connector", evse=2))
                ],
            )
            assert {key[1] for key in entries} == {
                "AvailabilityState",
                "Available",
                "ConnectorType",
                "SupplyPhases",
            }
            assert {key[3] for key in entries} == {2}
            status, entries = await report(
                23,
                component_variable=[m.ComponentVariable(component=m.Component(name="TxCtrlr"))],
                component_criteria=["Available"],
            )
            assert ("TxCtrlr", "TxStartPoint", "", None) in entries
            status, entries = await report(
                24,
                component_variable=[
                    m.ComponentVariable(component=m.Component(name="ReservationCtrlr"))
                ],
                component_criteria=["Enabled"],
            )
            assert status == "Accepted"
            assert {key[:2] for key in entries} >= {
                ("ReservationCtrlr", "Enabled"),
                ("ReservationCtrlr", "NonEvseSpecific"),
            }
            status, _ = await report(25, component_criteria=["Problem"])
            assert status == "EmptyResultSet"

    run(main())


# ------------------------------------------------------------------------------------------
# E, F, J: transactions


def test_remote_start_meter_values_remote_stop(core: Backend, v2: str) -> None:
    """TC_F_02_CS (F02.FR.01, F01.FR.01), TC_J_07_CS, TC_J_09_CS, TC_F_08_CS (F03.FR.02),
    TC_E_30_CS / TC_E_32_CS (E14): Authorize first, then Occupied and TransactionEvent Started
    (RemoteStart, remoteStartId, idToken, seqNo 0, Transaction.Begin reading; chargingState
    SuspendedEVSE: TxStartPoint PowerPathClosed), Updated ChargingStateChanged as the energy
    flows (P6 EnergyTransferStarted step 9); Updated every TxUpdatedInterval with the energy
    the simulated EV drew by the station's clock; a remote stop ends it (RemoteStop, Remote,
    Transaction.End reading)."""

    async def main() -> None:
        station = make_station(v2, meter_interval=1)
        clock = clock_of(station)
        csms = Csms()
        m = MODULES[v2]
        async with connect(core, station, csms, v2) as connection:
            await ready(station, csms)
            response = await remote_start(connection, "TAG-1", evse=1, remote_id=42)
            assert response.status == "Accepted"
            started = (await csms.wait("TransactionEvent"))[0]
            assert csms.of("Authorize")[0].id_token.id_token == "TAG-1"
            occupied = await csms.wait(
                "StatusNotification", where=lambda r: r.connector_status == "Occupied"
            )
            assert occupied[0].evse_id == 1
            assert csms.actions().index("Authorize") < csms.actions().index("TransactionEvent")
            assert (started.event_type, started.trigger_reason, started.seq_no) == (
                "Started",
                "RemoteStart",
                0,
            )
            info = started.transaction_info
            assert (info.remote_start_id, info.charging_state) == (42, "SuspendedEVSE")
            assert started.id_token.id_token == "TAG-1"
            assert (started.evse.id, started.evse.connector_id) == (1, 1)
            begin = started.meter_value[0].sampled_value[0]
            assert (begin.context, begin.value) == ("Transaction.Begin", 0.0)
            transaction_id = info.transaction_id
            assert station.transactions[1].id == transaction_id
            assert station.connector_status(1) == "Occupied"

            flowing = (await csms.wait("TransactionEvent", 2))[1]
            assert (flowing.event_type, flowing.trigger_reason) == (
                "Updated",
                "ChargingStateChanged",
            )
            assert flowing.transaction_info.charging_state == "Charging"
            clock.advance(1800)  # half an hour at 11 kW
            updated = (await csms.wait("TransactionEvent", 3))[2]
            assert (updated.event_type, updated.trigger_reason) == ("Updated", "MeterValuePeriodic")
            assert updated.seq_no == 2 and updated.id_token is UNSET
            samples = updated.meter_value[0].sampled_value
            assert {s.context for s in samples} == {"Sample.Periodic"}
            assert {s.measurand: s.value for s in samples} == {
                "Energy.Active.Import.Register": 5500.0,
                "Power.Active.Import": 11000.0,
            }
            assert station.transactions[1].energy_wh == pytest.approx(5500.0)

            status = await connection.call(
                m.GetTransactionStatusRequest(transaction_id=transaction_id)
            )
            assert status.ongoing_indicator is True
            clock.advance(1800)
            stop = await connection.call(
                m.RequestStopTransactionRequest(transaction_id=transaction_id)
            )
            assert stop.status == "Accepted"
            ended = (await csms.wait("TransactionEvent", where=is_ended))[0]
            assert ended.trigger_reason == "RemoteStop"
            assert ended.transaction_info.stopped_reason == "Remote"
            assert ended.meter_value[-1].sampled_value[-1].context == "Transaction.End"
            assert energy(ended) == 11000.0
            events = csms.of("TransactionEvent")
            assert [e.seq_no for e in events] == list(range(len(events)))
            assert {e.transaction_info.transaction_id for e in events} == {transaction_id}
            assert station.transactions == {}
            status = await connection.call(
                m.GetTransactionStatusRequest(transaction_id=transaction_id)
            )
            assert (status.ongoing_indicator, status.messages_in_queue) == (False, False)
            status = await connection.call(m.GetTransactionStatusRequest())
            assert (status.ongoing_indicator, status.messages_in_queue) == (UNSET, False)

    run(main())


def test_remote_start_authorization(core: Backend, v2: str) -> None:
    """TC_F_03_CS (F01.FR.02): with AuthCtrlr.AuthorizeRemoteStart false no AuthorizeRequest is
    sent; with it true, a token the CSMS refuses starts nothing and leaves the EVSE Available."""

    async def main() -> None:
        async with booted(core, v2, Csms(refused=("BAD",))) as (station, csms, connection, m):
            assert (await remote_start(connection, "BAD", evse=2)).status == "Accepted"
            await csms.wait("Authorize")
            await asyncio.sleep(0.05)
            assert station.transactions == {} and station.connector_status(2) == "Available"
            assert await set_variables(
                connection, put(m, "AuthCtrlr", "AuthorizeRemoteStart", "false")
            ) == ["Accepted"]
            assert (await remote_start(connection, "TAG-2", evse=1)).status == "Accepted"
            started = (await csms.wait("TransactionEvent"))[0]
            assert started.trigger_reason == "RemoteStart"
            assert [a.id_token.id_token for a in csms.of("Authorize")] == ["BAD"]

    run(main())


def test_remote_start_and_stop_refusals(core: Backend, v2: str) -> None:
    """TC_F_09_CS (F03.FR.08) and RequestStartTransaction refusals (A201 appendix 5:
    UnknownEvse, TxInProgress); without evseId the station picks a free EVSE."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (_station, csms, connection, m):
            unknown = await remote_start(connection, evse=9)
            assert (unknown.status, unknown.status_info.reason_code) == ("Rejected", "UnknownEvse")
            assert (await remote_start(connection, evse=1, remote_id=1)).status == "Accepted"
            await csms.wait("TransactionEvent")
            busy = await remote_start(connection, evse=1, remote_id=2)
            assert (busy.status, busy.status_info.reason_code) == ("Rejected", "TxInProgress")
            assert (await remote_start(connection, evse=None, remote_id=3)).status == "Accepted"
            second = (await csms.wait("TransactionEvent", where=lambda e: e.evse.id == 2))[0]
            assert second.event_type == "Started"
            assert (await remote_start(connection, evse=None, remote_id=4)).status == "Rejected"
            stop = await connection.call(
                m.RequestStopTransactionRequest(transaction_id="no-such-transaction")
            )
            assert (stop.status, stop.status_info.reason_code) == ("Rejected", "TxNotFound")

    run(main())


def test_local_start_stop_and_unplug(core: Backend, v2: str) -> None:
    """TC_E_04_CS, TC_E_15_CS, TC_G_01_CS, TC_G_02_CS (E01-E07, G01.FR.01): a driver's token is
    authorized, the EV plugged in (Occupied), the transaction Started (idToken; the power path
    closes: ChargingStateChanged, TC_E_01_CS) and the energy flows;
    a local stop ends it (StopAuthorized, Local) with the EV still there (Occupied); unplugged,
    the connector is Available again."""

    async def main() -> None:
        station = make_station(v2)
        csms = Csms(refused=("BAD",))
        async with connect(core, station, csms, v2):
            await ready(station, csms)
            with pytest.raises(StationError, match="not authorized"):
                await station.start_transaction(1, "BAD")
            with pytest.raises(StationError, match="no EVSE 5"):
                await station.start_transaction(5, "TAG-1")
            transaction_id = await station.start_transaction(1, "TAG-1")
            started = (await csms.wait("TransactionEvent"))[0]
            assert started.transaction_info.transaction_id == transaction_id
            assert (started.trigger_reason, started.id_token.id_token) == (
                "ChargingStateChanged",
                "TAG-1",
            )
            flowing = (await csms.wait("TransactionEvent", 2))[1]
            assert (flowing.trigger_reason, flowing.transaction_info.charging_state) == (
                "ChargingStateChanged",
                "Charging",
            )
            assert station.connector_status(1) == "Occupied"
            with pytest.raises(StationError, match="in use"):
                await station.start_transaction(1, "TAG-1")
            await station.stop_transaction(1)
            ended = (await csms.wait("TransactionEvent", where=is_ended))[0]
            assert (ended.trigger_reason, ended.transaction_info.stopped_reason) == (
                "StopAuthorized",
                "Local",
            )
            assert ended.transaction_info.charging_state == "EVConnected"
            assert station.connector_status(1) == "Occupied"
            await station.unplug(1)
            available = await csms.wait(
                "StatusNotification",
                where=lambda r: r.evse_id == 1 and r.connector_status == "Available",
                count=2,
            )
            assert len(available) == 2
            assert station.connector_status(1) == "Available"
            with pytest.raises(StationError, match="no transaction"):
                await station.stop_transaction(1)

    run(main())


def test_shutdown_ends_transactions_and_closes(core: Backend, v2: str) -> None:
    """What the simulator does before it exits: every transaction ends with the given
    stoppedReason and is delivered, then the connection closes with code 1000."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, _):
            await station.start_transaction(1, "TAG-1")
            await station.start_transaction(2, "TAG-2")
            await station.shutdown("PowerLoss")
            await asyncio.wait_for(connection.wait_closed(), WAIT)
            assert connection.close_code == 1000
            ended = [e for e in csms.of("TransactionEvent") if is_ended(e)]
            assert sorted(e.evse.id for e in ended) == [1, 2]
            assert {e.transaction_info.stopped_reason for e in ended} == {"PowerLoss"}
            assert station.transactions == {}

    run(main())


def test_tx_start_point_ev_connected_and_stop_point_ev_connected(core: Backend, v2: str) -> None:
    """TC_E_09_CS, P6 reusable state Authorized Main B step 2, F03.FR.03 (E201 2.6.1): with
    TxStartPoint EVConnected the transaction starts at plug-in without a token; a remote start
    authorizes it (its id in the response, RemoteStart with the idToken), then the energy flows
    (EnergyTransferStarted step 9: ChargingStateChanged, Charging); with TxStopPoint
    EVConnected a remote stop only stops the energy, and unplugging ends the transaction with
    stoppedReason Remote."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, m):
            assert await set_variables(
                connection,
                put(m, "TxCtrlr", "TxStartPoint", "EVConnected"),
                put(m, "TxCtrlr", "TxStopPoint", "EVConnected"),
            ) == ["Accepted", "Accepted"]
            await station.plug_in(1)
            started = (await csms.wait("TransactionEvent"))[0]
            assert (started.event_type, started.trigger_reason) == ("Started", "CablePluggedIn")
            assert started.transaction_info.charging_state == "EVConnected"
            assert started.id_token is UNSET
            transaction_id = started.transaction_info.transaction_id
            response = await remote_start(connection, "TAG-3", evse=1, remote_id=7)
            assert (response.status, response.transaction_id) == ("Accepted", transaction_id)
            authorized = (await csms.wait("TransactionEvent", 2))[1]
            assert (authorized.event_type, authorized.trigger_reason) == ("Updated", "RemoteStart")
            assert authorized.id_token.id_token == "TAG-3"
            assert authorized.transaction_info.remote_start_id == 7
            assert authorized.transaction_info.charging_state == "EVConnected"
            flowing = (await csms.wait("TransactionEvent", 3))[2]
            assert (flowing.event_type, flowing.trigger_reason) == (
                "Updated",
                "ChargingStateChanged",
            )
            assert flowing.transaction_info.charging_state == "Charging"
            stop = await connection.call(
                m.RequestStopTransactionRequest(transaction_id=transaction_id)
            )
            assert stop.status == "Accepted"
            stopped = (await csms.wait("TransactionEvent", 4))[3]
            assert (stopped.event_type, stopped.trigger_reason) == ("Updated", "RemoteStop")
            assert stopped.transaction_info.charging_state == "EVConnected"
            assert station.transactions[1].id == transaction_id
            await station.unplug(1)
            ended = (await csms.wait("TransactionEvent", where=is_ended))[0]
            assert ended.trigger_reason == "EVCommunicationLost"
            assert ended.transaction_info.stopped_reason == "Remote"
            assert ended.transaction_info.charging_state == "Idle"

    run(main())


def test_ev_connection_timeout(core: Backend) -> None:
    """TC_F_04_CS (E03.FR.01, E03.FR.05): with TxStartPoint Authorized, a remote start without
    an EV starts the transaction; after TxCtrlr.EVConnectionTimeOut it ends (EVConnectTimeout,
    Timeout) and the EVSE is Available again."""

    async def main() -> None:
        station = make_station("ocpp2.0.1")
        station.auto_plug = False
        csms = Csms()
        m = v201
        async with connect(core, station, csms, "ocpp2.0.1") as connection:
            await ready(station, csms)
            assert await set_variables(
                connection,
                put(m, "TxCtrlr", "TxStartPoint", "Authorized"),
                put(m, "TxCtrlr", "EVConnectionTimeOut", "1"),
            ) == ["Accepted", "Accepted"]
            assert (await remote_start(connection, evse=1)).status == "Accepted"
            started = (await csms.wait("TransactionEvent"))[0]
            assert started.transaction_info.charging_state == "Idle"
            ended = (await csms.wait("TransactionEvent", where=is_ended))[0]
            assert ended.trigger_reason == "EVConnectTimeout"
            assert ended.transaction_info.stopped_reason == "Timeout"
            await csms.wait(
                "StatusNotification",
                where=lambda r: r.evse_id == 1 and r.connector_status == "Available",
                count=2,
            )
            assert station.connector_status(1) == "Available"

    run(main())


def test_transaction_messages_are_retried_then_dropped(core: Backend) -> None:
    """TC_E_51_CS / TC_E_42_CS and TC_E_50_CS / TC_E_41_CS (E13): a TransactionEvent the CSMS
    fails to process is sent again after MessageAttemptInterval x attempts, up to
    MessageAttempts times, then dropped; the next one goes out."""

    async def main() -> None:
        station = make_station("ocpp2.0.1")
        csms = Csms(fail_tx=1)
        m = v201
        async with connect(core, station, csms, "ocpp2.0.1") as connection:
            await ready(station, csms)
            assert await set_variables(
                connection,
                put(
                    m,
                    "OCPPCommCtrlr",
                    "MessageAttemptInterval",
                    "0",
                    variable_instance="TransactionEvent",
                ),
                put(
                    m, "OCPPCommCtrlr", "MessageAttempts", "2", variable_instance="TransactionEvent"
                ),
            ) == ["Accepted", "Accepted"]
            await station.start_transaction(1, "TAG-1")
            # The Started event twice, then the energy flow's Updated (P6 EnergyTransferStarted).
            first, again, flowing = await csms.wait("TransactionEvent", 3)
            assert first.seq_no == again.seq_no == 0 and again.event_type == "Started"
            assert (flowing.event_type, flowing.seq_no) == ("Updated", 1)
            csms.fail_tx = 2
            await station.stop_transaction(1)
            await csms.wait("TransactionEvent", 5)
            await station.unplug(1)
            await station.start_transaction(2, "TAG-2")
            started = (await csms.wait("TransactionEvent", 6))[5]
            assert (started.event_type, started.evse.id) == ("Started", 2)
            assert [e.event_type for e in csms.of("TransactionEvent")][:6] == [
                "Started",
                "Started",
                "Updated",
                "Ended",
                "Ended",
                "Started",
            ]

    run(main())


def test_transaction_status_with_messages_in_queue(core: Backend, v2: str) -> None:
    """TC_E_29_CS, TC_E_33_CS, TC_E_30_CS (E14.FR.02, E14.FR.04, E14.FR.06, E14.FR.07): while a
    TransactionEvent waits for its answer, GetTransactionStatus says the transaction is ongoing
    and messages are queued (for it, and without a transactionId); once delivered, none are."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, m):
            csms.hold_tx = asyncio.Event()
            transaction_id = await station.start_transaction(1, "TAG-1")
            await csms.wait("TransactionEvent")
            status = await connection.call(
                m.GetTransactionStatusRequest(transaction_id=transaction_id)
            )
            assert (status.ongoing_indicator, status.messages_in_queue) == (True, True)
            status = await connection.call(m.GetTransactionStatusRequest())
            assert (status.ongoing_indicator, status.messages_in_queue) == (UNSET, True)
            csms.hold_tx.set()
            await asyncio.sleep(0.05)
            status = await connection.call(
                m.GetTransactionStatusRequest(transaction_id=transaction_id)
            )
            assert (status.ongoing_indicator, status.messages_in_queue) == (True, False)

    run(main())


def test_invalid_token_in_transaction_response_stops_the_transaction(core: Backend) -> None:
    """TxCtrlr.StopTxOnInvalidId (A201 3.1.18, E05): an idTokenInfo other than Accepted in the
    TransactionEventResponse deauthorizes the transaction (Deauthorized, DeAuthorized)."""

    async def main() -> None:
        station = make_station("ocpp2.0.1")
        csms = Csms(invalid_in_tx=("TAG-X",))
        async with connect(core, station, csms, "ocpp2.0.1"):
            await ready(station, csms)
            await station.start_transaction(1, "TAG-X")
            ended = (await csms.wait("TransactionEvent", where=is_ended))[0]
            assert ended.trigger_reason == "Deauthorized"
            assert ended.transaction_info.stopped_reason == "DeAuthorized"

    run(main())


# ------------------------------------------------------------------------------------------
# B11 / B12 Reset, reconnecting


def test_reset_immediate_ends_transactions_closes_and_reboots(core: Backend, v2: str) -> None:
    """TC_B_22_CS (B12.FR.02, B01.FR.03): Accepted; the transaction ends (ResetCommand,
    ImmediateReset, EVConnected, no idToken) before the station closes the connection (1000);
    the next connection boots with reason RemoteReset, reports the EV's connector Occupied and
    sends ResetOrReboot (P6 reusable state Booted)."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, m):
            await station.start_transaction(1, "TAG-1")
            await csms.wait("TransactionEvent")
            response = await connection.call(m.ResetRequest(type="Immediate"))
            assert response.status == "Accepted"
            await asyncio.wait_for(connection.wait_closed(), WAIT)
            assert connection.close_code == 1000
            ended = (await csms.wait("TransactionEvent", where=is_ended))[0]
            assert ended.trigger_reason == "ResetCommand"
            assert ended.transaction_info.stopped_reason == "ImmediateReset"
            assert ended.transaction_info.charging_state == "EVConnected"
            assert ended.id_token is UNSET
        assert station.registration == "" and not station.booted.is_set()
        again = Csms()
        async with connect(core, station, again, v2):
            await ready(station, again)
            assert again.of("BootNotification")[0].reason == "RemoteReset"
            statuses = {s.evse_id: s.connector_status for s in again.of("StatusNotification")}
            assert statuses == {1: "Occupied", 2: "Available"}
            assert again.of("SecurityEventNotification")[0].type == "ResetOrReboot"
            assert station.transactions == {}

    run(main())


def test_reset_immediate_and_resume(core: Backend) -> None:
    """OCPP 2.1 Reset ImmediateAndResume: the station reboots (reason RemoteReset) and its
    transaction goes on (TransactionEvent Updated, triggerReason TxResumed, same id)."""

    async def main() -> None:
        async with booted(core, "ocpp2.1", Csms()) as (station, csms, connection, _):
            transaction_id = await station.start_transaction(1, "TAG-1")
            await csms.wait("TransactionEvent")
            response = await connection.call(v21.ResetRequest(type="ImmediateAndResume"))
            assert response.status == "Accepted"
            await asyncio.wait_for(connection.wait_closed(), WAIT)
        assert station.transactions[1].id == transaction_id
        csms = Csms()
        async with connect(core, station, csms, "ocpp2.1"):
            await ready(station, csms)
            assert csms.of("BootNotification")[0].reason == "RemoteReset"
            resumed = (await csms.wait("TransactionEvent"))[0]
            assert (resumed.event_type, resumed.trigger_reason) == ("Updated", "TxResumed")
            assert resumed.transaction_info.transaction_id == transaction_id
            assert resumed.transaction_info.charging_state == "Charging"

    run(main())


def test_reset_on_idle(core: Backend) -> None:
    """TC_B_20_CS (B11.FR.01, B11.FR.03) and TC_B_21_CS (B12.FR.01, B12.FR.03): OnIdle without
    a transaction resets at once (reason RemoteReset); with one it is Scheduled and happens when
    the transaction has ended (reason ScheduledReset)."""

    async def main() -> None:
        station = make_station("ocpp2.0.1")
        m = v201
        csms = Csms()
        async with connect(core, station, csms, "ocpp2.0.1") as connection:
            await ready(station, csms)
            assert (await connection.call(m.ResetRequest(type="OnIdle"))).status == "Accepted"
            await asyncio.wait_for(connection.wait_closed(), WAIT)
        csms = Csms()
        async with connect(core, station, csms, "ocpp2.0.1") as connection:
            await ready(station, csms)
            assert csms.of("BootNotification")[0].reason == "RemoteReset"
            await station.start_transaction(2, "TAG-1")
            await csms.wait("TransactionEvent")
            assert (await connection.call(m.ResetRequest(type="OnIdle"))).status == "Scheduled"
            await asyncio.sleep(0.05)
            assert not connection.closed
            await station.stop_transaction(2)
            await asyncio.wait_for(connection.wait_closed(), WAIT)
            assert csms.of("TransactionEvent")[-1].event_type == "Ended"
        csms = Csms()
        async with connect(core, station, csms, "ocpp2.0.1"):
            await ready(station, csms)
            assert csms.of("BootNotification")[0].reason == "ScheduledReset"

    run(main())


def test_reset_evse(core: Backend, v2: str) -> None:
    """TC_B_25_CS, TC_B_26_CS, TC_B_27_CS (B11.FR.08, B12.FR.07, B12.FR.08): an EVSE reset ends
    its transaction (ResetCommand, ImmediateReset) without closing the connection; OnIdle with
    a transaction is Scheduled; an unknown EVSE is Rejected."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, m):
            unknown = await connection.call(m.ResetRequest(type="Immediate", evse_id=9))
            assert unknown.status == "Rejected"
            assert (await connection.call(m.ResetRequest(type="OnIdle", evse_id=2))).status == (
                "Accepted"
            )
            await station.start_transaction(1, "TAG-1")
            await csms.wait("TransactionEvent")
            scheduled = await connection.call(m.ResetRequest(type="OnIdle", evse_id=1))
            assert scheduled.status == "Scheduled"
            immediate = await connection.call(m.ResetRequest(type="Immediate", evse_id=1))
            assert immediate.status == "Accepted"
            ended = (await csms.wait("TransactionEvent", where=is_ended))[0]
            assert (ended.trigger_reason, ended.transaction_info.stopped_reason) == (
                "ResetCommand",
                "ImmediateReset",
            )
            await asyncio.sleep(0.05)
            assert not connection.closed and station.registration == "Accepted"

    run(main())


def test_reconnect_resumes_without_boot_and_sends_queued_messages(core: Backend, v2: str) -> None:
    """J201 5.3 (no BootNotification on reconnecting; `booted` is clear while offline),
    TC_B_52_CS (B04.FR.02: offline shorter than OfflineThreshold, only the connectors that
    changed are reported), TC_E_40_CS / TC_E_43_CS (E11: transaction messages queued offline,
    delivered in order with offline true): the transaction goes on across the outage."""

    async def main() -> None:
        station = make_station(v2, meter_interval=1)
        csms = Csms()
        m = MODULES[v2]
        async with connect(core, station, csms, v2) as connection:
            await ready(station, csms)
            await set_variables(connection, put(m, "OCPPCommCtrlr", "OfflineThreshold", "60"))
            assert (await remote_start(connection, evse=1)).status == "Accepted"
            # Started and the energy flow's Updated (P6 EnergyTransferStarted), online.
            started = (await csms.wait("TransactionEvent", 2))[0]
        # Offline: the EV at EVSE 2 arrives, the transaction on EVSE 1 is sampled and stopped.
        assert not station.online and not station.booted.is_set()
        await station.plug_in(2)
        await asyncio.sleep(1.2)
        await station.stop_transaction(1)
        assert station.transactions == {}
        clock_of(station).advance(59)
        again = Csms()
        async with connect(core, station, again, v2) as connection:
            ended = (await again.wait("TransactionEvent", where=is_ended))[0]
            assert station.booted.is_set()  # accepted, and connected again
            assert again.of("BootNotification") == []
            statuses = [(s.evse_id, s.connector_status) for s in again.of("StatusNotification")]
            assert statuses[0] == (2, "Occupied")
            assert (1, "Occupied") not in statuses
            events = again.of("TransactionEvent")
            assert len(events) >= 2
            assert all(e.offline is True for e in events)
            assert [e.seq_no for e in events] == list(range(2, len(events) + 2))
            assert {e.transaction_info.transaction_id for e in events} == {
                started.transaction_info.transaction_id
            }
            assert events[0].trigger_reason == "MeterValuePeriodic"
            assert ended is events[-1]
            status = await connection.call(m.GetTransactionStatusRequest())
            assert status.messages_in_queue is False

    run(main())


def test_reconnect_after_the_offline_threshold_reports_every_connector(
    core: Backend, v2: str
) -> None:
    """TC_B_51_CS (B04.FR.01): offline longer than OCPPCommCtrlr.OfflineThreshold (0 by
    default: any outage), every connector is reported again on reconnecting, without a
    BootNotification (J201 5.3)."""

    async def main() -> None:
        station = make_station(v2)
        csms = Csms()
        async with connect(core, station, csms, v2):
            await ready(station, csms)
        await station.plug_in(1)
        clock_of(station).advance(1)
        again = Csms()
        async with connect(core, station, again, v2):
            await again.wait("StatusNotification", 2)
            statuses = {s.evse_id: s.connector_status for s in again.of("StatusNotification")}
            assert statuses == {1: "Occupied", 2: "Available"}
            assert again.of("BootNotification") == []

    run(main())


# ------------------------------------------------------------------------------------------
# G Availability, F05 Unlock, F06 Trigger


def test_change_availability(core: Backend, v2: str) -> None:
    """TC_G_03_CS..TC_G_10_CS, TC_G_15_CS, TC_G_16_CS (G03.FR.01-07, G04.FR.01-08): EVSE,
    connector and whole station go Inoperative and back, the connectors' status is reported
    when it changes, unchanged requests are Accepted without a report, unknown EVSEs and
    connectors are Rejected, and an Inoperative EVSE takes no transaction."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, m):

            async def change(
                status: str, evse: int | None = None, connector: int | None = None
            ) -> str:
                target: Any = UNSET
                if evse is not None:
                    target = m.EVSE(id=evse, connector_id=UNSET if connector is None else connector)
                response = await connection.call(
                    m.ChangeAvailabilityRequest(operational_status=status, evse=target)
                )
                await asyncio.sleep(0.02)
                return wire(response.status)

            def reports() -> list[tuple[int, str]]:
                return [(s.evse_id, s.connector_status) for s in csms.of("StatusNotification")[2:]]

            assert await change("Inoperative", evse=1) == "Accepted"
            assert reports() == [(1, "Unavailable")]
            assert station.connector_status(1) == "Unavailable"
            assert await change("Inoperative", evse=1) == "Accepted"  # TC_G_10_CS
            assert reports() == [(1, "Unavailable")]
            start = await remote_start(connection, evse=1)
            assert start.status == "Rejected"
            with pytest.raises(StationError, match="unavailable"):
                await station.start_transaction(1, "TAG-1")
            assert await change("Operative", evse=1) == "Accepted"
            assert await change("Operative", evse=1) == "Accepted"  # TC_G_09_CS
            assert await change("Inoperative", evse=2, connector=1) == "Accepted"
            assert await change("Operative", evse=2, connector=1) == "Accepted"
            assert reports() == [
                (1, "Unavailable"),
                (1, "Available"),
                (2, "Unavailable"),
                (2, "Available"),
            ]
            assert await change("Inoperative") == "Accepted"
            assert sorted(reports()[4:]) == [(1, "Unavailable"), (2, "Unavailable")]
            got = await connection.call(
                m.GetVariablesRequest(
                    get_variable_data=[
                        get(m, "ChargingStation", "AvailabilityState"),
                        get(m, "EVSE", "AvailabilityState", evse=2),
                    ]
                )
            )
            assert [r.attribute_value for r in got.get_variable_result] == ["Unavailable"] * 2
            assert await change("Operative") == "Accepted"
            assert sorted(reports()[6:]) == [(1, "Available"), (2, "Available")]
            assert await change("Inoperative", evse=7) == "Rejected"
            assert await change("Inoperative", evse=1, connector=2) == "Rejected"
            assert len(reports()) == 8

    run(main())


def test_change_availability_with_a_transaction_is_scheduled(core: Backend, v2: str) -> None:
    """TC_G_11_CS, TC_G_14_CS, TC_G_17_CS (G03.FR.05, G04.FR.06): Inoperative while a transaction
    runs is Scheduled; the connector stays Occupied until the transaction ends, then is
    Unavailable; the station-level change makes the idle EVSE 2 Unavailable at once (TC_G_14_CS
    step 3)."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, m):
            await station.start_transaction(1, "TAG-1")
            await csms.wait("TransactionEvent")
            for target in (m.EVSE(id=1), m.EVSE(id=1, connector_id=1), UNSET):
                response = await connection.call(
                    m.ChangeAvailabilityRequest(operational_status="Inoperative", evse=target)
                )
                assert response.status == "Scheduled"
            assert station.connector_status(1) == "Occupied"
            assert station.connector_status(2) == "Unavailable"
            # Reported at once, before the transaction ends (TC_G_14_CS step 3).
            await csms.wait(
                "StatusNotification",
                where=lambda r: (r.evse_id, r.connector_status) == (2, "Unavailable"),
            )
            assert csms.of("TransactionEvent")[-1].event_type != "Ended"
            await station.stop_transaction(1)
            await csms.wait(
                "StatusNotification", where=lambda r: r.connector_status == "Unavailable", count=2
            )
            assert station.connector_status(1) == "Unavailable"
            assert station.connector_status(2) == "Unavailable"

    run(main())


def test_unavailability_persists_across_a_reset(core: Backend) -> None:
    """TC_G_18_CS, TC_B_23_CS (G03.FR.08, B11.FR.02): an Inoperative EVSE is still Unavailable
    after a reset."""

    async def main() -> None:
        station = make_station("ocpp2.0.1")
        m = v201
        csms = Csms()
        async with connect(core, station, csms, "ocpp2.0.1") as connection:
            await ready(station, csms)
            await connection.call(
                m.ChangeAvailabilityRequest(operational_status="Inoperative", evse=m.EVSE(id=2))
            )
            await connection.call(m.ResetRequest(type="OnIdle"))
            await asyncio.wait_for(connection.wait_closed(), WAIT)
        csms = Csms()
        async with connect(core, station, csms, "ocpp2.0.1"):
            await ready(station, csms)
            statuses = {s.evse_id: s.connector_status for s in csms.of("StatusNotification")}
            assert statuses == {1: "Available", 2: "Unavailable"}

    run(main())


def test_unlock_connector(core: Backend, v2: str) -> None:
    """TC_F_05_CS, TC_F_06_CS, TC_F_07_CS, TC_F_10_CS (F05.FR.02-06)."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, _csms, connection, m):

            async def unlock(evse: int, connector: int = 1) -> str:
                request = m.UnlockConnectorRequest(evse_id=evse, connector_id=connector)
                return wire((await connection.call(request)).status)

            assert await unlock(1) == "Unlocked"
            assert await unlock(1, 999) == "UnknownConnector"
            assert await unlock(9) == "UnknownConnector"
            await station.start_transaction(2, "TAG-1")
            assert await unlock(2) == "OngoingAuthorizedTransaction"
            await station.stop_transaction(2)
            assert await unlock(2) == "Unlocked"

    run(main())


def test_trigger_message(core: Backend, v2: str) -> None:
    """TC_F_11_CS, TC_F_12_CS, TC_F_13_CS, TC_F_15_CS, TC_F_17_CS, TC_F_18_CS, TC_F_20_CS,
    TC_F_23_CS, TC_F_24_CS, TC_F_26_CS, TC_F_27_CS (F06): every message it can trigger is sent
    after the response; BootNotification once Accepted is Rejected; what it cannot send is
    NotImplemented."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, m):

            async def trigger(
                message: str, evse: int | None = None, connector: int | None = None
            ) -> str:
                target: Any = UNSET
                if evse is not None:
                    target = m.EVSE(id=evse, connector_id=UNSET if connector is None else connector)
                request = m.TriggerMessageRequest(requested_message=message, evse=target)
                return wire((await connection.call(request)).status)

            assert await trigger("MeterValues", evse=1) == "Accepted"
            meter_values = (await csms.wait("MeterValues"))[0]
            assert meter_values.evse_id == 1
            assert meter_values.meter_value[0].sampled_value[0].context == "Trigger"
            assert await trigger("MeterValues") == "Accepted"
            await csms.wait("MeterValues", 3)
            assert [v.evse_id for v in csms.of("MeterValues")] == [1, 1, 2]
            assert await trigger("Heartbeat") == "Accepted"
            await csms.wait("Heartbeat")
            assert await trigger("StatusNotification", evse=2, connector=1) == "Accepted"
            status = (await csms.wait("StatusNotification", 3))[2]
            assert (status.evse_id, status.connector_status) == (2, "Available")
            assert await trigger("StatusNotification", evse=2) == "Rejected"
            assert await trigger("LogStatusNotification") == "Accepted"
            assert (await csms.wait("LogStatusNotification"))[0].status == "Idle"
            assert await trigger("FirmwareStatusNotification", evse=1) == "Accepted"
            assert (await csms.wait("FirmwareStatusNotification"))[0].status == "Idle"
            assert await trigger("BootNotification") == "Rejected"
            assert await trigger("SignCombinedCertificate") == "NotImplemented"
            assert await trigger("TransactionEvent", evse=1) == "Rejected"
            await station.start_transaction(1, "TAG-1")
            await csms.wait("TransactionEvent", 2)  # Started, the energy flow
            assert await trigger("TransactionEvent", evse=1) == "Accepted"
            event = (await csms.wait("TransactionEvent", 3))[2]
            assert (event.event_type, event.trigger_reason) == ("Updated", "Trigger")
            assert event.transaction_info.charging_state == "Charging"
            assert event.meter_value[0].sampled_value[0].context == "Trigger"
            assert await trigger("StatusNotification", evse=1, connector=1) == "Accepted"
            occupied = await csms.wait(
                "StatusNotification",
                where=lambda r: r.evse_id == 1 and r.connector_status == "Occupied",
                count=2,
            )
            assert len(occupied) == 2

    run(main())


def test_clock_aligned_meter_values(core: Backend) -> None:
    """TC_J_01_CS (J01): with AlignedDataCtrlr.Interval set, MeterValues for every EVSE at the
    clock-aligned times, context Sample.Clock, the AlignedDataCtrlr.Measurands."""

    async def main() -> None:
        station = make_station("ocpp2.0.1")
        csms = Csms()
        m = v201
        async with connect(core, station, csms, "ocpp2.0.1") as connection:
            await ready(station, csms)
            assert await set_variables(
                connection,
                put(m, "AlignedDataCtrlr", "Measurands", "Energy.Active.Import.Register,Voltage"),
                put(m, "AlignedDataCtrlr", "Interval", "1"),
            ) == ["Accepted", "Accepted"]
            sent = await csms.wait("MeterValues", 2)
            assert sorted(v.evse_id for v in sent) == [1, 2]
            samples = sent[0].meter_value[0].sampled_value
            assert [(s.measurand, s.context) for s in samples] == [
                ("Energy.Active.Import.Register", "Sample.Clock"),
                ("Voltage", "Sample.Clock"),
            ]
            assert sent[0].meter_value[0].timestamp == NOW
            await set_variables(connection, put(m, "AlignedDataCtrlr", "Interval", "0"))

    run(main())


# ------------------------------------------------------------------------------------------
# Everything else the CSMS can send


# The answers of a charger without the feature (never a CALLERROR).
WITHOUT_FEATURE = {
    "CertificateSigned": "Rejected",
    "DeleteCertificate": "NotFound",
    "GetInstalledCertificateIds": "NotFound",
    "PublishFirmware": "Rejected",
    "UnpublishFirmware": "NoFirmware",
    "GetMonitoringReport": "NotSupported",
    "SetMonitoringBase": "NotSupported",
    "SetMonitoringLevel": "Rejected",
    "DataTransfer": "UnknownVendorId",
    "AFRRSignal": "Rejected",
    "AdjustPeriodicEventStream": "Rejected",
    "SetDefaultTariff": "Rejected",
    "GetTariffs": "NoTariff",
    "SetDERControl": "NotSupported",
    "GetDERControl": "NotSupported",
    "ClearDERControl": "NotSupported",
    "NotifyAllowedEnergyTransfer": "Rejected",
    "RequestBatterySwap": "Rejected",
    "UpdateDynamicSchedule": "Rejected",
    "UsePriorityCharging": "NoProfile",
}


def test_every_csms_initiated_action_gets_a_valid_answer(core: Backend, v2: str) -> None:
    """Every CSMS-initiated action of the version, with every hand-written example of
    tests/messages, gets a response that conforms to its schema (the session checks it) - no
    CALLERROR; features this station lacks get the answer of a charger without them (TC_P_01_CS:
    DataTransfer UnknownVendorId)."""

    async def main() -> None:
        m = MODULES[v2]
        examples = corpus(v2)
        for action in sorted(CSMS_INITIATED[v2]):
            station = make_station(v2)
            csms = Csms()
            pending = list(examples[action]["request"])
            while pending:
                async with connect(core, station, csms, v2) as connection:
                    await ready(station, csms)
                    while pending and not connection.closed:
                        payload = json.dumps(pending.pop(0)).encode()
                        request = msgspec.json.decode(
                            payload, type=m.REQUESTS[action], dec_hook=dec_hook
                        )
                        response = await connection.call(request)
                        assert isinstance(response, m.RESPONSES[action]), action
                        if action in WITHOUT_FEATURE:
                            assert response.status == WITHOUT_FEATURE[action], action
                        resets = action == "Reset" and request.evse_id is UNSET
                        if resets and response.status == "Accepted":
                            await asyncio.wait_for(connection.wait_closed(), WAIT)
                station = make_station(v2)
                csms = Csms()

    run(main())


def test_misc_answers(core: Backend, v2: str) -> None:
    """TC_C_37_CS / TC_C_38_CS (C11: ClearCache, Rejected with NotEnabled when the cache is
    disabled), D02 (GetLocalListVersion 0: no list), N09 (CustomerInformation: Invalid without a
    customer, a NotifyCustomerInformation report otherwise), I: CostUpdated, 2.1
    ChangeTransactionTariff for an unknown transaction: TxNotFound, ClearTariffs: NoTariff."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, csms, connection, m):
            assert await station.authorize("TAG-1")
            assert (await connection.call(m.ClearCacheRequest())).status == "Accepted"
            await set_variables(connection, put(m, "AuthCacheCtrlr", "Enabled", "false"))
            cleared = await connection.call(m.ClearCacheRequest())
            assert (cleared.status, cleared.status_info.reason_code) == ("Rejected", "NotEnabled")
            version = await connection.call(m.GetLocalListVersionRequest())
            assert version.version_number == 0
            invalid = await connection.call(
                m.CustomerInformationRequest(request_id=3, report=True, clear=False)
            )
            assert invalid.status == "Invalid"
            transaction_id = await station.start_transaction(1, "TAG-1")
            response = await connection.call(
                m.CustomerInformationRequest(
                    request_id=4,
                    report=True,
                    clear=True,
                    id_token=m.IdToken(id_token="TAG-1", type="ISO14443"),
                )
            )
            assert response.status == "Accepted"
            report = (await csms.wait("NotifyCustomerInformation"))[0]
            assert (report.request_id, report.seq_no, report.tbc) == (4, 0, False)
            assert transaction_id in report.data
            await connection.call(
                m.CostUpdatedRequest(total_cost=1.25, transaction_id=transaction_id)
            )
            assert station.transactions[1].total_cost == 1.25
            if v2 == "ocpp2.1":
                tariff = corpus(v2)["ChangeTransactionTariff"]["request"][0]["tariff"]
                request = msgspec.json.decode(
                    json.dumps({"transactionId": "unknown", "tariff": tariff}).encode(),
                    type=m.ChangeTransactionTariffRequest,
                    dec_hook=dec_hook,
                )
                assert (await connection.call(request)).status == "TxNotFound"
                cleared = await connection.call(m.ClearTariffsRequest(tariff_ids=["A", "B"]))
                assert [r.tariff_id for r in cleared.clear_tariffs_result] == ["A", "B"]

    run(main())


def test_set_network_profile(core: Backend, v2: str) -> None:
    """TC_B_43_CS (B09.FR.02: an invalid slot is Rejected), B09.FR.01 (a valid profile is
    stored), A05 (no lower security profile); NetworkConfigurationPriority naming a slot
    without a profile, or one of security profile 2 without a CSMS root certificate (A05.FR.03),
    is Rejected, a valid one needs a reboot (RebootRequired)."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (station, _csms, connection, m):

            async def profile(slot: int, security: int = 1, transport: str = "JSON") -> str:
                data = m.NetworkConnectionProfile(
                    ocpp_version="OCPP20",
                    ocpp_transport=transport,
                    ocpp_csms_url="wss://csms.example.com/ocpp/CP1",
                    message_timeout=30,
                    security_profile=security,
                    ocpp_interface="Wired0",
                )
                request = m.SetNetworkProfileRequest(configuration_slot=slot, connection_data=data)
                return wire((await connection.call(request)).status)

            assert await profile(999) == "Rejected"
            assert await profile(1) == "Rejected"  # the profile in use
            assert await profile(2, transport="SOAP") == "Rejected"
            assert await profile(2, security=0) == "Rejected"
            assert await profile(2, security=2) == "Accepted"
            assert station.network_profiles[2].security_profile == 2
            priority = "NetworkConfigurationPriority"
            assert await set_variables(
                connection,
                put(m, "OCPPCommCtrlr", priority, "3,1"),  # slot 3 holds no profile
                put(m, "OCPPCommCtrlr", priority, "2,1"),  # no CSMS root (TC_A_20_CS)
            ) == ["Rejected", "Rejected"]
            assert await profile(3) == "Accepted"
            assert await set_variables(connection, put(m, "OCPPCommCtrlr", priority, "3,1")) == [
                "RebootRequired"
            ]

    run(main())


# ------------------------------------------------------------------------------------------
# A real WebSocket


def test_over_a_websocket_on_loopback(core: Backend, caplog: pytest.LogCaptureFixture) -> None:
    """The station over a real WebSocket (127.0.0.1, port chosen by the OS): it boots, reports
    its connectors, and a Reset closes the WebSocket with code 1000 (B11.FR.03); operator log
    lines say what happened."""
    import websockets.asyncio.client as websockets_client
    import websockets.asyncio.server as websockets_server

    async def main() -> None:
        station = make_station("ocpp2.0.1")
        csms = Csms()
        served: list[Connection] = []

        async def handler(ws: Any) -> None:
            connection = Connection(WebSocketTransport(ws), role="csms", handlers=csms, core=core)
            served.append(connection)
            await connection.run()

        async with websockets_server.serve(
            handler, "127.0.0.1", 0, subprotocols=["ocpp2.0.1"]
        ) as server:
            port = server.sockets[0].getsockname()[1]
            async with websockets_client.connect(
                f"ws://127.0.0.1:{port}/CP1", subprotocols=["ocpp2.0.1"]
            ) as ws:
                connection = Connection(
                    WebSocketTransport(ws), role="station", handlers=station, core=core
                )
                task = asyncio.create_task(connection.run())
                await ready(station, csms)
                assert len(csms.of("StatusNotification")) == 2
                response = await served[0].call(v201.ResetRequest(type="Immediate"))
                assert response.status == "Accepted"
                await asyncio.wait_for(task, WAIT)
                await asyncio.wait_for(served[0].wait_closed(), WAIT)
                assert connection.close_code == 1000
                assert served[0].close_code == 1000

    with caplog.at_level(logging.INFO, logger="ocppfast.station"):
        run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == "ocppfast.station"]
    assert "CP1: booted, heartbeat every 300 s" in lines
    assert "CP1: resetting (RemoteReset)" in lines
