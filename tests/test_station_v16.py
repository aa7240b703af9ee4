"""The simulated OCPP 1.6 charging station (`ocppfast.station.v16.Station16`), driven by a test
Central System over a loopback pair (and once over a real WebSocket on 127.0.0.1), on both core
backends. Spec keys: C16, C16E, SW, J16 (see shared/ocpp-spec/README.md)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from ocppfast import v16
from ocppfast._core import Backend
from ocppfast._core.actions import CSMS_INITIATED, CSMS_SENDS
from ocppfast.asyncio import Connection, Handlers, on
from ocppfast.exceptions import ActionNotSupportedError, CallTimeoutError, InternalError
from ocppfast.station.config import StationConfig
from ocppfast.station.store import StationData
from ocppfast.station.v16 import Station16, StationError
from ocppfast.transport.loopback import loopback_pair
from ocppfast.transport.websocket import WebSocketTransport
from tests.aio import run
from tests.payloads import corpus

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=timezone.utc)
V16 = "ocpp1.6"


class Clock:
    """The station's injected clock: it moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Csms(Handlers):
    """A test Central System: records every CALL the station sends and answers as told."""

    def __init__(
        self,
        *,
        boot: tuple[str, ...] = ("Accepted",),
        interval: int = 300,
        authorize: str = "Accepted",
        start: str = "Accepted",
        errors: dict[str, int] | None = None,
    ) -> None:
        self.messages: list[tuple[str, Any]] = []
        self.boot_answers = list(boot)
        self.interval = interval
        self.authorize_status = authorize
        self.start_status = start
        # How many of the first requests of a transaction-related action fail (a CALLERROR).
        self.errors = dict(errors or {})
        self.transaction_ids = itertools.count(1001)
        self._changed = asyncio.Event()

    def _record(self, request: Any) -> None:
        self.messages.append((type(request).ACTION, request))
        self._changed.set()

    def _fail(self, action: str) -> None:
        if self.errors.get(action, 0) > 0:
            self.errors[action] -= 1
            raise InternalError("database busy")

    def actions(self) -> list[str]:
        return [action for action, _ in self.messages]

    def of(self, action: str) -> list[Any]:
        return [request for name, request in self.messages if name == action]

    async def wait_for(
        self,
        action: str,
        where: Callable[[Any], bool] = lambda request: True,
        *,
        count: int = 1,
        timeout: float = 5.0,
    ) -> list[Any]:
        """The first `count` requests of `action` matching `where`, waiting for them."""

        async def wait() -> list[Any]:
            while True:
                found = [r for r in self.of(action) if where(r)]
                if len(found) >= count:
                    return found[:count]
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(wait(), timeout)

    @on(v16.BootNotificationRequest)
    def boot(self, request: v16.BootNotificationRequest) -> v16.BootNotificationResponse:
        self._record(request)
        status = self.boot_answers.pop(0) if len(self.boot_answers) > 1 else self.boot_answers[0]
        return v16.BootNotificationResponse(
            status=v16.RegistrationStatus(status), current_time=NOW, interval=self.interval
        )

    @on(v16.HeartbeatRequest)
    def heartbeat(self, request: v16.HeartbeatRequest) -> v16.HeartbeatResponse:
        self._record(request)
        return v16.HeartbeatResponse(current_time=NOW)

    @on(v16.StatusNotificationRequest)
    def status(self, request: v16.StatusNotificationRequest) -> v16.StatusNotificationResponse:
        self._record(request)
        return v16.StatusNotificationResponse()

    @on(v16.AuthorizeRequest)
    def authorize(self, request: v16.AuthorizeRequest) -> v16.AuthorizeResponse:
        self._record(request)
        status = v16.AuthorizationStatus(self.authorize_status)
        return v16.AuthorizeResponse(id_tag_info=v16.IdTagInfo(status=status))

    @on(v16.StartTransactionRequest)
    def start_transaction(
        self, request: v16.StartTransactionRequest
    ) -> v16.StartTransactionResponse:
        self._record(request)
        self._fail("StartTransaction")
        return v16.StartTransactionResponse(
            id_tag_info=v16.IdTagInfo(status=v16.AuthorizationStatus(self.start_status)),
            transaction_id=next(self.transaction_ids),
        )

    @on(v16.StopTransactionRequest)
    def stop_transaction(self, request: v16.StopTransactionRequest) -> v16.StopTransactionResponse:
        self._record(request)
        self._fail("StopTransaction")
        return v16.StopTransactionResponse()

    @on(v16.MeterValuesRequest)
    def meter_values(self, request: v16.MeterValuesRequest) -> v16.MeterValuesResponse:
        self._record(request)
        self._fail("MeterValues")
        return v16.MeterValuesResponse()

    @on(v16.DataTransferRequest)
    def data_transfer(self, request: v16.DataTransferRequest) -> v16.DataTransferResponse:
        self._record(request)
        return v16.DataTransferResponse(status=v16.DataTransferStatus.UnknownVendorId)

    @on(v16.DiagnosticsStatusNotificationRequest)
    def diagnostics_status(self, request: Any) -> v16.DiagnosticsStatusNotificationResponse:
        self._record(request)
        return v16.DiagnosticsStatusNotificationResponse()

    @on(v16.FirmwareStatusNotificationRequest)
    def firmware_status(self, request: Any) -> v16.FirmwareStatusNotificationResponse:
        self._record(request)
        return v16.FirmwareStatusNotificationResponse()

    @on(v16.SignedFirmwareStatusNotificationRequest)
    def signed_firmware_status(self, request: Any) -> v16.SignedFirmwareStatusNotificationResponse:
        self._record(request)
        return v16.SignedFirmwareStatusNotificationResponse()

    @on(v16.LogStatusNotificationRequest)
    def log_status(self, request: Any) -> v16.LogStatusNotificationResponse:
        self._record(request)
        return v16.LogStatusNotificationResponse()

    @on(v16.SecurityEventNotificationRequest)
    def security_event(self, request: Any) -> v16.SecurityEventNotificationResponse:
        self._record(request)
        return v16.SecurityEventNotificationResponse()

    @on(v16.SignCertificateRequest)
    def sign_certificate(self, request: Any) -> v16.SignCertificateResponse:
        self._record(request)
        return v16.SignCertificateResponse(status=v16.GenericStatusEnum.Rejected)


class Link:
    """A test Central System and the station on the two ends of a loopback pair."""

    def __init__(self, core: Backend, station: Station16, csms: Csms) -> None:
        csms_end, station_end = loopback_pair(V16)
        self.csms = csms
        self.station = station
        self.central = Connection(csms_end, role="csms", handlers=csms, core=core, identity="CP1")
        self.charger = Connection(
            station_end, role="station", handlers=station, core=core, identity="CP1"
        )
        self.tasks = [
            asyncio.create_task(self.central.run()),
            asyncio.create_task(self.charger.run()),
        ]

    async def call(self, request: Any, **options: Any) -> Any:
        return await self.central.call(request, **options)

    async def booted(self) -> None:
        """Wait for the accepted boot and its StatusNotification of every connector (C16E
        3.22)."""
        await asyncio.wait_for(self.station.booted.wait(), 5)
        await self.csms.wait_for("StatusNotification", count=self.station.connectors + 1, timeout=5)

    async def closed(self) -> None:
        await asyncio.wait_for(asyncio.gather(*self.tasks), 5)

    async def close(self) -> None:
        await self.central.close(1001, "test over")
        await self.closed()


def make_station(
    clock: Clock | None = None, *, data: StationData | None = None, **options: Any
) -> Station16:
    options.setdefault("connectors", 2)
    config = StationConfig("CP1", serial_number="SN-0042", **options)
    return Station16(config, clock=clock or Clock(), data=data)


def statuses(csms: Csms, connector_id: int) -> list[str]:
    return [r.status.value for r in csms.of("StatusNotification") if r.connector_id == connector_id]


def value_of(meter_value: Any, measurand: str) -> str:
    return str(next(v.value for v in meter_value.sampled_value if v.measurand == measurand))


async def change(link: Link, key: str, value: str) -> str:
    response = await link.call(v16.ChangeConfigurationRequest(key=key, value=value))
    return str(response.status.value)


# -- what it answers -------------------------------------------------------------------------


def test_handles_every_csms_initiated_action() -> None:
    """C16 chapter 5 and SW chapter 5: every action a Central System sends in 1.6 has a
    handler (the ones whose feature comes later answer as a charger without it)."""
    station = make_station()
    assert station.handled_actions(V16) == CSMS_INITIATED[V16] | CSMS_SENDS[V16]


# The answers that follow from the corpus's order (actions sorted by name) rather than a
# success: CancelReservation of a reservation the station does not have (C16 5.1),
# CertificateSigned without a SignCertificate pending (SW A02.FR.06), DataTransfer of an unknown
# vendor (C16E 3.85), DeleteCertificate and GetInstalledCertificateIds before InstallCertificate
# installed the corpus's root (SW M03/M04). InstallCertificate accepts that root, a CA valid
# now, and SignedUpdateFirmware, coming after it, finds its signing certificate under it.
REFUSALS = {
    "CancelReservation": "Rejected",
    "CertificateSigned": "Rejected",
    "DataTransfer": "UnknownVendorId",
    "DeleteCertificate": "NotFound",
    "GetInstalledCertificateIds": "NotFound",
    "InstallCertificate": "Accepted",
    "SignedUpdateFirmware": "Accepted",
}


def test_every_csms_initiated_action_gets_a_valid_answer(core: Backend) -> None:
    """C16 chapter 5, SW chapter 5: every hand-written request of every CSMS-initiated action
    (tests/messages/v16.json) gets a schema-valid answer (UpdateFirmware, once a manufacturer
    root is installed, the CALLERROR of SW L01.FR.20); GetDiagnostics.conf names the file it
    uploads (C16 5.9). The Local Auth List Management profile is implemented:
    the list is empty at first (GetLocalListVersion 0, C16 5.10) and each SendLocalList of the
    corpus applies (C16 5.15). Reset goes last."""

    async def main() -> None:
        link = Link(core, make_station(), Csms())
        await link.booted()
        validator = core.validator.Validator(V16)
        actions = [*sorted(CSMS_INITIATED[V16] - {"Reset"}), "Reset"]
        answered = 0
        for action in actions:
            # A Reset closes the connection: one is enough.
            examples = corpus(V16)[action]["request"]
            for example in examples[:1] if action == "Reset" else examples:
                request = validator.decode_request(action, msgspec.json.encode(example))
                if action == "UpdateFirmware":
                    # SW L01.FR.20: with a manufacturer root installed (the corpus's
                    # InstallCertificate), only SignedUpdateFirmware updates the firmware.
                    with pytest.raises(ActionNotSupportedError):
                        await link.call(request)
                    continue
                response = await link.call(request)
                assert type(response) is v16.RESPONSES[action]
                answer: Any = response
                answered += 1
                if action in REFUSALS:
                    assert answer.status.value == REFUSALS[action], action
                elif action == "GetLocalListVersion":
                    assert answer.list_version == 0
                elif action == "SendLocalList":
                    assert answer.status == "Accepted"
                elif action == "GetDiagnostics":
                    assert answer.file_name.endswith(".tar.gz")  # C16 5.9
                await asyncio.sleep(0.01)  # let after-hooks (remote starts, triggers) run
        assert answered > 50
        await link.closed()
        assert link.central.close_code == 1000

    run(main())


# -- boot ------------------------------------------------------------------------------------


def test_boot_accepted_reports_every_connector_and_heartbeats(core: Backend) -> None:
    """C16 4.2: BootNotification.req with the station's vendor, model, serial number and
    firmware; Accepted: heartbeats at the response's interval (C16 4.6); C16E 3.22: then a
    StatusNotification.req for connector 0 and every connector."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms(interval=1))
        await link.booted()
        (boot,) = link.csms.of("BootNotification")
        assert (boot.charge_point_vendor, boot.charge_point_model) == ("ocppfast", "Simulated")
        assert boot.charge_point_serial_number == "SN-0042"
        assert boot.firmware_version == station.config.firmware_version
        assert station.registration == "Accepted"
        assert station.heartbeat_interval == 1
        reported = link.csms.of("StatusNotification")[:3]
        assert [(r.connector_id, r.status.value) for r in reported] == [
            (0, "Available"),
            (1, "Available"),
            (2, "Available"),
        ]
        assert all(r.error_code == "NoError" and r.timestamp == NOW for r in reported)
        await link.csms.wait_for("Heartbeat", count=2)
        assert link.csms.actions()[0] == "BootNotification"
        await link.close()

    run(main())


def test_boot_interval_zero_keeps_the_configured_heartbeat_interval(core: Backend) -> None:
    """C16 4.2: an Accepted BootNotification.conf with interval 0 leaves the heartbeat interval
    as configured (HeartbeatInterval, C16 9.1.10)."""

    async def main() -> None:
        station = make_station(heartbeat_interval=1)
        link = Link(core, station, Csms(interval=0))
        await link.booted()
        assert station.heartbeat_interval == 1
        await link.csms.wait_for("Heartbeat")
        await link.close()

    run(main())


def test_boot_pending_answers_calls_and_sends_only_what_is_triggered(core: Backend) -> None:
    """C16 4.2: while Pending the station answers the Central System's requests, refuses
    RemoteStartTransaction and RemoteStopTransaction, and sends nothing of its own unless a
    TriggerMessage.req asks for it; TriggerMessage(BootNotification) makes it boot again now."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms(boot=("Pending", "Accepted"), interval=60))
        await link.csms.wait_for("BootNotification")
        config = await link.call(v16.GetConfigurationRequest(key=["NumberOfConnectors"]))
        assert station.registration == "Pending"
        assert [(k.key, k.value, k.readonly) for k in config.configuration_key] == [
            ("NumberOfConnectors", "2", True)
        ]
        refused = await link.call(v16.RemoteStartTransactionRequest(id_tag="TAG1"))
        assert refused.status == "Rejected"
        refused = await link.call(v16.RemoteStopTransactionRequest(transaction_id=1))
        assert refused.status == "Rejected"
        await station.plug_in(1)  # a status change, not sent while Pending
        with pytest.raises(StationError):
            await station.authorize("TAG1")
        triggered = await link.call(
            v16.TriggerMessageRequest(
                requested_message=v16.MessageTrigger.StatusNotification, connector_id=1
            )
        )
        assert triggered.status == "Accepted"
        (status,) = await link.csms.wait_for("StatusNotification")
        assert (status.connector_id, status.status) == (1, "Preparing")
        assert link.csms.actions() == ["BootNotification", "StatusNotification"]
        again = await link.call(
            v16.TriggerMessageRequest(requested_message=v16.MessageTrigger.BootNotification)
        )
        assert again.status == "Accepted"
        await link.csms.wait_for("BootNotification", count=2)
        await link.booted()
        assert station.registration == "Accepted"
        await link.close()

    run(main())


def test_boot_rejected_answers_nothing_until_the_retry(core: Backend) -> None:
    """C16 4.2: Rejected: the station sends nothing and answers no Central System request until
    the retry interval has passed, then sends BootNotification.req again."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms(boot=("Rejected", "Accepted"), interval=1))
        await link.csms.wait_for("BootNotification")
        with pytest.raises(CallTimeoutError):
            await link.call(v16.GetConfigurationRequest(), timeout=0.3)
        assert station.registration == "Rejected"
        assert link.csms.actions() == ["BootNotification"]
        await link.csms.wait_for("BootNotification", count=2)
        await link.booted()
        answer = await link.call(v16.GetConfigurationRequest(key=["HeartbeatInterval"]))
        assert answer.configuration_key[0].value == "1"
        await link.close()

    run(main())


# -- transactions ----------------------------------------------------------------------------


def test_remote_start_meters_and_remote_stop(core: Backend) -> None:
    """C16 5.11 (AuthorizeRemoteTxRequests true: Authorize.req first), C16 4.8 (meterStart in
    Wh, transactionId from the Central System), C16 4.7 / 3.16.1 (MeterValues with the
    transactionId, every MeterValueSampleInterval), C16 5.12 / 4.10 (remote stop, reason
    Remote), C16 4.9 (Available -> Preparing -> Charging -> Finishing -> Available)."""

    async def main() -> None:
        clock = Clock()
        station = make_station(clock, meter_interval=1)
        link = Link(core, station, Csms())
        await link.booted()
        answer = await link.call(v16.RemoteStartTransactionRequest(id_tag="TAG1", connector_id=1))
        assert answer.status == "Accepted"
        (start,) = await link.csms.wait_for("StartTransaction")
        assert link.csms.of("Authorize")[0].id_tag == "TAG1"
        assert (start.connector_id, start.id_tag, start.meter_start) == (1, "TAG1", 0)
        assert start.timestamp == NOW
        await link.csms.wait_for("StatusNotification", lambda r: r.status == "Charging")
        tx = station.transactions[1]
        assert (tx.id, tx.transaction_id, tx.id_token, tx.meter_start) == ("1001", 1001, "TAG1", 0)
        clock.advance(minutes=30)  # 11 kW for half an hour
        (meter,) = await link.csms.wait_for("MeterValues")
        assert (meter.connector_id, meter.transaction_id) == (1, 1001)
        (sample,) = meter.meter_value
        assert sample.timestamp == NOW + timedelta(minutes=30)
        assert value_of(sample, "Energy.Active.Import.Register") == "5500"
        assert value_of(sample, "Power.Active.Import") == "11000"
        assert {(v.unit, v.context) for v in sample.sampled_value} == {
            ("Wh", "Sample.Periodic"),
            ("W", "Sample.Periodic"),
        }
        assert tx.energy_wh == 5500
        stopped = await link.call(v16.RemoteStopTransactionRequest(transaction_id=1001))
        assert stopped.status == "Accepted"
        (stop,) = await link.csms.wait_for("StopTransaction")
        assert (stop.transaction_id, stop.meter_stop, stop.reason) == (1001, 5500, "Remote")
        assert stop.transaction_data is msgspec.UNSET  # C16 3.16.5: StopTxn*Data are empty
        await link.csms.wait_for("StatusNotification", lambda r: r.status == "Finishing")
        assert station.transactions == {}
        await station.unplug(1)
        await link.csms.wait_for("StatusNotification", lambda r: r.status == "Available", count=3)
        assert statuses(link.csms, 1) == [
            "Available",
            "Preparing",
            "Charging",
            "Finishing",
            "Available",
        ]
        await link.close()

    run(main())


def test_remote_start_chooses_a_connector_and_may_skip_authorization(core: Backend) -> None:
    """C16 5.11: without a connectorId the Charge Point chooses (here the one where an EV is
    plugged in); AuthorizeRemoteTxRequests false starts at once, without Authorize.req; busy,
    unknown and unavailable connectors are Rejected."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()
        assert await change(link, "AuthorizeRemoteTxRequests", "false") == "Accepted"
        await station.plug_in(2)
        answer = await link.call(v16.RemoteStartTransactionRequest(id_tag="APP-1"))
        assert answer.status == "Accepted"
        (start,) = await link.csms.wait_for("StartTransaction")
        assert start.connector_id == 2
        assert link.csms.of("Authorize") == []
        busy = await link.call(v16.RemoteStartTransactionRequest(id_tag="APP-2", connector_id=2))
        unknown = await link.call(v16.RemoteStartTransactionRequest(id_tag="APP-2", connector_id=3))
        assert (busy.status, unknown.status) == ("Rejected", "Rejected")
        await link.call(
            v16.ChangeAvailabilityRequest(connector_id=1, type=v16.AvailabilityType.Inoperative)
        )
        unavailable = await link.call(v16.RemoteStartTransactionRequest(id_tag="APP-2"))
        assert unavailable.status == "Rejected"
        await link.close()

    run(main())


def test_remote_start_with_a_refused_id_tag_starts_nothing(core: Backend) -> None:
    """C16 5.11: with AuthorizeRemoteTxRequests true a transaction starts only after the id tag
    was authorized; refused, the connector returns to Available (C16 4.9 B1)."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms(authorize="Blocked"))
        await link.booted()
        answer = await link.call(v16.RemoteStartTransactionRequest(id_tag="TAG9", connector_id=1))
        assert answer.status == "Accepted"
        await link.csms.wait_for("Authorize")
        await link.csms.wait_for("StatusNotification", lambda r: r.status == "Available", count=4)
        assert statuses(link.csms, 1) == ["Available", "Preparing", "Available"]
        assert link.csms.of("StartTransaction") == []
        assert station.transactions == {}
        await link.close()

    run(main())


def test_local_transaction_with_stop_transaction_data(core: Backend) -> None:
    """C16 4.1 / 4.8 / 4.10: a local start authorizes the id tag, then StartTransaction.req;
    a local stop sends the id tag and reason Local. StopTxnSampledData puts the Transaction.Begin
    and Transaction.End values in transactionData (C16 3.16.1, C16E 3.14 section 3.16.6)."""

    async def main() -> None:
        clock = Clock()
        station = make_station(clock)
        link = Link(core, station, Csms())
        await link.booted()
        assert await change(link, "StopTxnSampledData", "Energy.Active.Import.Register") == (
            "Accepted"
        )
        await station.plug_in(1)
        assert station.connector_status(1) == "Preparing"
        transaction_id = await station.start_transaction(1, "TAG1")
        assert transaction_id == "1001"
        assert station.connector_status(1) == "Charging"
        clock.advance(hours=2)
        assert station.transactions[1].energy_wh == 22000
        await station.stop_transaction(1)
        (stop,) = link.csms.of("StopTransaction")
        assert (stop.id_tag, stop.reason, stop.meter_stop) == ("TAG1", "Local", 22000)
        begin, end = stop.transaction_data
        assert (begin.timestamp, end.timestamp) == (NOW, NOW + timedelta(hours=2))
        assert [(v.context, v.value, v.unit) for v in begin.sampled_value + end.sampled_value] == [
            ("Transaction.Begin", "0", "Wh"),
            ("Transaction.End", "22000", "Wh"),
        ]
        assert station.connector_status(1) == "Finishing"
        with pytest.raises(StationError):
            await station.stop_transaction(1)
        # The next transaction starts at the register where the first one ended.
        await station.start_transaction(1, "TAG1")
        assert link.csms.of("StartTransaction")[-1].meter_start == 22000
        await link.close()

    run(main())


def test_invalid_id_tag_in_start_transaction_conf(core: Backend) -> None:
    """C16E 3.17: StartTransaction.conf with an idTagInfo that is not Accepted: with
    StopTransactionOnInvalidId true the transaction stops with reason DeAuthorized; false, it
    goes on without energy (SuspendedEVSE, C16 4.9 C5)."""

    async def main() -> None:
        clock = Clock()
        station = make_station(clock)
        link = Link(core, station, Csms(start="Invalid"))
        await link.booted()
        await station.start_transaction(1, "TAG1", authorize=False)
        (stop,) = await link.csms.wait_for("StopTransaction")
        assert stop.reason == "DeAuthorized"
        assert station.transactions == {}
        assert await change(link, "StopTransactionOnInvalidId", "false") == "Accepted"
        await station.start_transaction(2, "TAG1", authorize=False)
        assert station.connector_status(2) == "SuspendedEVSE"
        clock.advance(hours=1)
        assert station.transactions[2].energy_wh == 0
        await link.close()

    run(main())


def test_ev_side_disconnect(core: Backend) -> None:
    """C16 4.10, 4.9: StopTransactionOnEVSideDisconnect false: unplugging suspends the
    transaction (SuspendedEV, info "EV side disconnected") and plugging in resumes it; true:
    unplugging stops it with reason EVDisconnected."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()
        assert await change(link, "StopTransactionOnEVSideDisconnect", "false") == "Accepted"
        await station.start_transaction(1, "TAG1", authorize=False)
        await station.unplug(1)
        suspended = link.csms.of("StatusNotification")[-1]
        assert (suspended.status, suspended.info) == ("SuspendedEV", "EV side disconnected")
        assert 1 in station.transactions
        await station.plug_in(1)
        assert link.csms.of("StatusNotification")[-1].status == "Charging"
        assert await change(link, "StopTransactionOnEVSideDisconnect", "true") == "Accepted"
        await station.unplug(1)
        (stop,) = link.csms.of("StopTransaction")
        assert stop.reason == "EVDisconnected"
        assert station.connector_status(1) == "Available"
        await link.close()

    run(main())


def test_transaction_message_is_retried_after_a_callerror(core: Backend) -> None:
    """C16 3.7.1, J16E 3.2: a CALLERROR is a failure to process a transaction-related message:
    it is sent again, up to TransactionMessageAttempts times."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms(errors={"StartTransaction": 1}))
        await link.booted()
        assert await change(link, "TransactionMessageRetryInterval", "0") == "Accepted"
        assert await station.start_transaction(1, "TAG1", authorize=False) == "1001"
        assert len(link.csms.of("StartTransaction")) == 2
        await link.close()

    run(main())


def test_connection_timeout_moves_an_idle_plug_to_finishing(core: Backend) -> None:
    """C16 9.1.6, C16E 3.20 (B6): a connector Preparing longer than ConnectionTimeOut without a
    transaction goes to Finishing while the cable is in, and to Available when it is out."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()
        assert await change(link, "ConnectionTimeOut", "1") == "Accepted"
        await station.plug_in(1)
        await link.csms.wait_for("StatusNotification", lambda r: r.status == "Finishing")
        await station.unplug(1)
        assert statuses(link.csms, 1) == ["Available", "Preparing", "Finishing", "Available"]
        await link.close()

    run(main())


def test_authorization_cache_and_clear_cache(core: Backend) -> None:
    """C16 3.5.1 / 3.5: with LocalPreAuthorize an id tag accepted before is authorized from the
    Authorization Cache, without Authorize.req; C16 5.4: ClearCache.req empties it (Accepted)."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()
        assert await change(link, "LocalPreAuthorize", "true") == "Accepted"
        assert await station.authorize("TAG1")
        assert await station.authorize("TAG1")
        assert len(link.csms.of("Authorize")) == 1
        cleared = await link.call(v16.ClearCacheRequest())
        assert cleared.status == "Accepted"
        assert await station.authorize("TAG1")
        assert len(link.csms.of("Authorize")) == 2
        await link.close()

    run(main())


# -- reset, reconnection ---------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "reason"), [("Soft", "SoftReset"), ("Hard", "HardReset")])
def test_reset_stops_transactions_closes_and_boots_again(
    core: Backend, kind: str, reason: str
) -> None:
    """C16 5.14, C16E 3.36: Reset.conf Accepted, a StopTransaction.req (reason SoftReset /
    HardReset) for the running transaction, then the connection closes (1000) and the station
    boots again on the next one (C16 4.2); unavailability persists (C16 5.2)."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()
        await link.call(
            v16.ChangeAvailabilityRequest(connector_id=2, type=v16.AvailabilityType.Inoperative)
        )
        await station.start_transaction(1, "TAG1", authorize=False)
        answer = await link.call(v16.ResetRequest(type=v16.ResetType(kind)))
        assert answer.status == "Accepted"
        await link.closed()
        assert link.central.close_code == 1000
        (stop,) = link.csms.of("StopTransaction")
        assert (stop.transaction_id, stop.reason) == (1001, reason)
        assert station.transactions == {}
        assert not station.booted.is_set()

        again = Link(core, station, Csms())
        await again.booted()
        assert [(r.connector_id, r.status.value) for r in again.csms.of("StatusNotification")] == [
            (0, "Available"),
            (1, "Finishing"),
            (2, "Unavailable"),
        ]
        await again.close()

    run(main())


def test_reset_closes_a_websocket_connection_with_1000(core: Backend) -> None:
    """C16 5.14 over a real WebSocket on 127.0.0.1: after Reset.conf the station closes the
    connection with code 1000, and its Central System sees that code."""

    async def main() -> None:
        station = make_station()
        csms = Csms()
        done: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()

        async def central_system(ws: ServerConnection) -> None:
            central = Connection(WebSocketTransport(ws), role="csms", handlers=csms, core=core)
            runner = asyncio.create_task(central.run())
            await csms.wait_for("StatusNotification", count=3)
            answer = await central.call(v16.ResetRequest(type=v16.ResetType.Soft))
            assert answer.status == "Accepted"
            await runner
            done.set_result(central)

        async with serve(central_system, "127.0.0.1", 0, subprotocols=[Subprotocol(V16)]) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}/CP1", subprotocols=[Subprotocol(V16)]) as ws:
                charger = Connection(
                    WebSocketTransport(ws), role="station", handlers=station, core=core
                )
                await asyncio.wait_for(charger.run(), 10)
            central = await asyncio.wait_for(done, 10)
        assert charger.close_code == 1000
        assert central.close_code == 1000
        assert central.close_reason == "Soft reset"

    run(main())


def test_shutdown_stops_transactions_and_closes(core: Backend) -> None:
    """C16 4.10, 7.36: before the simulator exits, every running transaction is stopped (here
    with reason Other), then the connection closes with code 1000."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()
        await station.start_transaction(1, "TAG1", authorize=False)
        await station.start_transaction(2, "TAG2", authorize=False)
        await station.shutdown()
        await link.closed()
        assert [(r.transaction_id, r.reason) for r in link.csms.of("StopTransaction")] == [
            (1001, "Other"),
            (1002, "Other"),
        ]
        assert link.central.close_code == 1000
        assert station.transactions == {}

    run(main())


def test_reconnection_keeps_the_transaction_running(core: Backend) -> None:
    """J16 5.4: on a new connection an accepted station does not boot again; it reports the
    status of every connector (the running transaction's connector is Charging) and meters the
    same transaction, which the new connection can stop."""

    async def main() -> None:
        clock = Clock()
        station = make_station(clock, meter_interval=1)
        first = Link(core, station, Csms())
        await first.booted()
        await station.start_transaction(1, "TAG1", authorize=False)
        await first.close()
        assert 1 in station.transactions
        clock.advance(minutes=6)

        second = Link(core, station, Csms())
        await second.booted()
        assert "BootNotification" not in second.csms.actions()
        assert [r.status.value for r in second.csms.of("StatusNotification")] == [
            "Available",
            "Charging",
            "Available",
        ]
        (meter,) = await second.csms.wait_for("MeterValues")
        assert meter.transaction_id == 1001
        assert value_of(meter.meter_value[0], "Energy.Active.Import.Register") == "1100"
        answer = await second.call(v16.RemoteStopTransactionRequest(transaction_id=1001))
        assert answer.status == "Accepted"
        (stop,) = await second.csms.wait_for("StopTransaction")
        assert stop.meter_stop == 1100
        await second.close()

    run(main())


def test_stop_while_offline_is_delivered_after_reconnecting(core: Backend) -> None:
    """C16 3.7: a StopTransaction.req the station could not deliver while offline is queued and
    sent once it is connected again (J16 5.4: without a new BootNotification). Offline, an id
    tag the station knows nothing of cannot start a transaction (C16 3.5.4, with
    AllowOfflineTxForUnknownId false)."""

    async def main() -> None:
        station = make_station()
        first = Link(core, station, Csms())
        await first.booted()
        await station.start_transaction(1, "TAG1", authorize=False)
        await first.close()
        await station.stop_transaction(1, "Local")
        assert station.transactions == {}
        with pytest.raises(StationError, match="unknown id tag"):
            await station.start_transaction(2, "TAG2")
        assert station.connector_status(2) == "Available"

        second = Link(core, station, Csms())
        (stop,) = await second.csms.wait_for("StopTransaction")
        assert (stop.transaction_id, stop.reason, stop.id_tag) == (1001, "Local", "TAG1")
        assert "BootNotification" not in second.csms.actions()
        await second.close()

    run(main())


# -- availability, unlock, trigger -----------------------------------------------------------


def test_change_availability(core: Backend) -> None:
    """C16 5.2: Accepted and a StatusNotification.req (Unavailable / Available); Accepted when
    already so; Rejected for an unknown connector; Scheduled while a transaction runs, applied
    when it ends (C16 4.9 C8/F8); connector 0 is the Charge Point and all its connectors."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()

        async def availability(connector_id: int, kind: str) -> str:
            request = v16.ChangeAvailabilityRequest(
                connector_id=connector_id, type=v16.AvailabilityType(kind)
            )
            return str((await link.call(request)).status.value)

        assert await availability(2, "Inoperative") == "Accepted"
        await link.csms.wait_for("StatusNotification", lambda r: r.status == "Unavailable")
        assert await availability(2, "Inoperative") == "Accepted"
        assert await availability(3, "Inoperative") == "Rejected"
        assert await availability(2, "Operative") == "Accepted"
        await link.csms.wait_for("StatusNotification", lambda r: r.connector_id == 2, count=3)
        assert statuses(link.csms, 2) == ["Available", "Unavailable", "Available"]

        await station.start_transaction(1, "TAG1", authorize=False)
        assert await availability(1, "Inoperative") == "Scheduled"
        assert station.connector_status(1) == "Charging"
        await station.stop_transaction(1)
        assert station.connector_status(1) == "Unavailable"
        assert statuses(link.csms, 1)[-1] == "Unavailable"

        assert await availability(0, "Inoperative") == "Accepted"
        await link.csms.wait_for("StatusNotification", lambda r: r.connector_id == 0, count=2)
        assert [station.connector_status(i) for i in (0, 1, 2)] == ["Unavailable"] * 3
        assert await availability(0, "Operative") == "Accepted"
        assert [station.connector_status(i) for i in (0, 1, 2)] == [
            "Available",
            "Finishing",
            "Available",
        ]
        await link.close()

    run(main())


def test_unlock_connector(core: Backend) -> None:
    """C16 5.18: Unlocked; a running transaction is stopped first (reason UnlockCommand, C16
    7.36); C16E 3.85: NotSupported for an unknown connector."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()
        unknown = await link.call(v16.UnlockConnectorRequest(connector_id=5))
        assert unknown.status == "NotSupported"
        await station.start_transaction(1, "TAG1", authorize=False)
        answer = await link.call(v16.UnlockConnectorRequest(connector_id=1))
        assert answer.status == "Unlocked"
        (stop,) = await link.csms.wait_for("StopTransaction")
        assert stop.reason == "UnlockCommand"
        assert station.transactions == {}
        idle = await link.call(v16.UnlockConnectorRequest(connector_id=2))
        assert idle.status == "Unlocked"
        await link.close()

    run(main())


def test_trigger_message(core: Backend) -> None:
    """C16 5.17: the requested message follows TriggerMessage.conf: Heartbeat; StatusNotification
    for one connector, or for 0 and every connector without connectorId; MeterValues with the
    MeterValuesSampledData measurands (C16E 3.46, context Trigger); Idle Diagnostics / Firmware
    status (C16 4.4, 4.5). Rejected for an unknown connector and, once accepted, for
    BootNotification (C16E 3.40)."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()
        seen = len(link.csms.messages)

        async def trigger(message: str, connector_id: int | None = None) -> str:
            request = v16.TriggerMessageRequest(
                requested_message=v16.MessageTrigger(message),
                connector_id=msgspec.UNSET if connector_id is None else connector_id,
            )
            return str((await link.call(request)).status.value)

        assert await trigger("Heartbeat") == "Accepted"
        await link.csms.wait_for("Heartbeat")
        assert await trigger("StatusNotification", 2) == "Accepted"
        await link.csms.wait_for("StatusNotification", count=4)
        assert link.csms.of("StatusNotification")[3].connector_id == 2
        assert await trigger("StatusNotification") == "Accepted"
        await link.csms.wait_for("StatusNotification", count=7)
        assert [r.connector_id for r in link.csms.of("StatusNotification")[4:]] == [0, 1, 2]
        assert await trigger("MeterValues", 1) == "Accepted"
        (meter,) = await link.csms.wait_for("MeterValues")
        assert meter.transaction_id is msgspec.UNSET
        assert {v.context for v in meter.meter_value[0].sampled_value} == {"Trigger"}
        assert {v.measurand for v in meter.meter_value[0].sampled_value} == {
            "Energy.Active.Import.Register",
            "Power.Active.Import",
        }
        assert await trigger("DiagnosticsStatusNotification") == "Accepted"
        (diagnostics,) = await link.csms.wait_for("DiagnosticsStatusNotification")
        assert diagnostics.status == "Idle"
        assert await trigger("FirmwareStatusNotification") == "Accepted"
        (firmware,) = await link.csms.wait_for("FirmwareStatusNotification")
        assert firmware.status == "Idle"
        assert await trigger("StatusNotification", 3) == "Rejected"
        assert await trigger("BootNotification") == "Rejected"
        assert "BootNotification" not in link.csms.actions()[seen:]
        await link.close()

    run(main())


def test_triggered_message_comes_after_the_trigger_answer(core: Backend) -> None:
    """C16 5.17: "The Charge Point SHALL first send the TriggerMessage response, before sending
    the requested message", checked on the frames as the Central System receives them."""

    async def main() -> None:
        csms_end, station_end = loopback_pair(V16)
        station = make_station()
        charger = Connection(station_end, role="station", handlers=station, core=core)
        runner = asyncio.create_task(charger.run())

        async def receive() -> list[Any]:
            return msgspec.json.decode(await asyncio.wait_for(csms_end.recv(), 5))  # type: ignore[no-any-return]

        boot = await receive()
        answer = {"status": "Accepted", "currentTime": "2026-11-21T09:30:00Z", "interval": 300}
        await csms_end.send(msgspec.json.encode([3, boot[1], answer]))
        for _ in range(3):  # StatusNotification of connectors 0, 1, 2
            status = await receive()
            await csms_end.send(msgspec.json.encode([3, status[1], {}]))
        trigger = {"requestedMessage": "StatusNotification", "connectorId": 1}
        await csms_end.send(msgspec.json.encode([2, "t1", "TriggerMessage", trigger]))
        first, second = await receive(), await receive()
        assert first == [3, "t1", {"status": "Accepted"}]
        assert second[0] == 2 and second[2] == "StatusNotification"
        assert second[3]["connectorId"] == 1
        await csms_end.close()
        await asyncio.wait_for(runner, 5)

    run(main())


def test_extended_trigger_message(core: Backend) -> None:
    """SW 5.5 ExtendedTriggerMessage: StatusNotification for a connector; FirmwareStatusNotification
    answered with SignedFirmwareStatusNotification Idle (SW L01.FR.28/29), LogStatusNotification
    Idle without requestId (SW N01.FR.12); SignChargePointCertificate Accepted (SW A02.FR.02;
    tests/test_station_certificates.py follows the CSR)."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()

        async def trigger(message: str, connector_id: int | None = None) -> str:
            request = v16.ExtendedTriggerMessageRequest(
                requested_message=v16.MessageTriggerEnum(message),
                connector_id=msgspec.UNSET if connector_id is None else connector_id,
            )
            return str((await link.call(request)).status.value)

        assert await trigger("StatusNotification", 1) == "Accepted"
        await link.csms.wait_for("StatusNotification", count=4)
        assert await trigger("FirmwareStatusNotification") == "Accepted"
        (firmware,) = await link.csms.wait_for("SignedFirmwareStatusNotification")
        assert firmware.status == "Idle"
        assert await trigger("LogStatusNotification") == "Accepted"
        (log,) = await link.csms.wait_for("LogStatusNotification")
        assert (log.status, log.request_id) == ("Idle", msgspec.UNSET)
        assert await trigger("SignChargePointCertificate") == "Accepted"
        assert await trigger("Heartbeat", 0) == "Rejected"  # connectorId > 0 (SW 5.5)
        await link.close()

    run(main())


def test_clock_aligned_meter_values(core: Backend) -> None:
    """C16 3.16.2, 9.1.5, C16E 3.15: with ClockAlignedDataInterval > 0, MeterValues.req with the
    MeterValuesAlignedData measurands (context Sample.Clock) at every interval boundary, for
    every connector; a connector without a transaction carries no transactionId."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()
        assert await change(link, "ClockAlignedDataInterval", "1") == "Accepted"
        meters = await link.csms.wait_for("MeterValues", count=2)
        assert sorted(m.connector_id for m in meters) == [1, 2]
        for meter in meters:
            assert meter.transaction_id is msgspec.UNSET
            (value,) = meter.meter_value[0].sampled_value
            assert (value.measurand, value.context, value.value) == (
                "Energy.Active.Import.Register",
                "Sample.Clock",
                "0",
            )
        await link.close()

    run(main())


# -- configuration ---------------------------------------------------------------------------


def test_get_configuration(core: Backend) -> None:
    """C16 5.8: all keys without a key list, with their read-only state (C16 9 accessibility);
    the known ones of a key list (names case-insensitive, CiString50) and the others in
    unknownKey; SW 7.2: the write-only AuthorizationKey is listed without its value."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()
        everything = await link.call(v16.GetConfigurationRequest())
        keys = {k.key: k for k in everything.configuration_key}
        assert everything.unknown_key is msgspec.UNSET
        required = {
            "AuthorizeRemoteTxRequests",
            "ClockAlignedDataInterval",
            "ConnectionTimeOut",
            "ConnectorPhaseRotation",
            "GetConfigurationMaxKeys",
            "HeartbeatInterval",
            "LocalAuthorizeOffline",
            "LocalPreAuthorize",
            "MeterValuesAlignedData",
            "MeterValuesSampledData",
            "MeterValueSampleInterval",
            "NumberOfConnectors",
            "ResetRetries",
            "StopTransactionOnEVSideDisconnect",
            "StopTransactionOnInvalidId",
            "StopTxnAlignedData",
            "StopTxnSampledData",
            "SupportedFeatureProfiles",
            "TransactionMessageAttempts",
            "TransactionMessageRetryInterval",
            "UnlockConnectorOnEVSideDisconnect",
        }  # C16 9.1: the Core profile's required keys
        assert required <= set(keys)
        assert (keys["NumberOfConnectors"].value, keys["NumberOfConnectors"].readonly) == (
            "2",
            True,
        )
        assert (keys["HeartbeatInterval"].value, keys["HeartbeatInterval"].readonly) == (
            "300",
            False,
        )
        assert keys["SupportedFeatureProfiles"].value == (
            "Core,FirmwareManagement,LocalAuthListManagement,RemoteTrigger,Reservation,SmartCharging"
        )
        # C16 9.2: the Local Auth List Management profile's keys.
        assert (keys["LocalAuthListEnabled"].value, keys["LocalAuthListEnabled"].readonly) == (
            "true",
            False,
        )
        assert keys["LocalAuthListMaxLength"].readonly
        assert keys["SendLocalListMaxLength"].readonly
        assert keys["AuthorizationKey"].value is msgspec.UNSET
        some = await link.call(
            v16.GetConfigurationRequest(key=["heartbeatinterval", "NoSuchKey", "AuthorizationKey"])
        )
        assert [(k.key, k.value) for k in some.configuration_key] == [
            ("HeartbeatInterval", "300"),
            ("AuthorizationKey", msgspec.UNSET),
        ]
        assert some.unknown_key == ["NoSuchKey"]
        await link.close()

    run(main())


def test_change_configuration(core: Backend) -> None:
    """C16 5.3: Accepted and effective at once (HeartbeatInterval), Rejected for a read-only key
    and for a value out of range or of the wrong format, NotSupported for an unknown key;
    C16 3.16.4: a measurand list with an unsupported measurand is Rejected and changes nothing;
    SW 7.2: AuthorizationKey is accepted but never disclosed."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()
        assert link.csms.of("Heartbeat") == []  # BootNotification.conf said 300 s
        assert await change(link, "HeartbeatInterval", "1") == "Accepted"
        assert station.heartbeat_interval == 1
        await link.csms.wait_for("Heartbeat")  # effective at once
        assert await change(link, "HeartbeatInterval", "120") == "Accepted"
        assert await change(link, "NumberOfConnectors", "4") == "Rejected"
        assert await change(link, "HeartbeatInterval", "soon") == "Rejected"
        assert await change(link, "MeterValueSampleInterval", "-5") == "Rejected"
        assert await change(link, "LocalPreAuthorize", "yes") == "Rejected"
        assert await change(link, "NoSuchKey", "1") == "NotSupported"
        assert await change(link, "metervaluessampleddata", "Voltage,Current.Import.L1") == (
            "Accepted"
        )
        assert await change(
            link, "MeterValuesSampledData", "Energy.Active.Import.Register,SoC"
        ) == ("Rejected")
        assert station.get_configuration("MeterValuesSampledData") == "Voltage,Current.Import.L1"
        assert await change(link, "AuthorizationKey", "0123456789abcdef0123") == "Accepted"
        assert await change(link, "AuthorizationKey", "short") == "Rejected"
        assert station.authorization_key == "0123456789abcdef0123"
        assert station.get_configuration("AuthorizationKey") is None
        await link.close()

    run(main())


def test_security_profile_goes_up_only_and_reconnects(core: Backend) -> None:
    """SW 7.6, A05.FR.01-03: SecurityProfile only goes up, only when its prerequisites are met
    (profile 1 needs an AuthorizationKey; profile 2 also a CSMS root certificate, which this
    station lacks: Rejected); once changed, the station disconnects to reconnect with it
    (tests/test_station_certificates.py has the upgrades to 2 and 3)."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()
        assert await change(link, "SecurityProfile", "1") == "Rejected"  # no AuthorizationKey
        assert await change(link, "SecurityProfile", "0") == "Rejected"  # not upwards
        assert await change(link, "SecurityProfile", "2") == "Rejected"
        passwords: list[str | None] = []
        station.password_changed = passwords.append
        assert await change(link, "AuthorizationKey", "0123456789abcdef0123") == "Accepted"
        assert passwords == []  # profile 0 uses no password: no reconnection either
        assert await change(link, "SecurityProfile", "1") == "Accepted"
        await link.closed()
        assert link.central.close_code == 1000
        assert station.security_profile == 1
        assert passwords == ["0123456789abcdef0123"]
        again = Link(core, station, Csms())
        await again.booted()
        assert await change(again, "SecurityProfile", "1") == "Rejected"
        await again.close()

    run(main())


def test_new_authorization_key_in_use_reconnects_with_it(core: Backend) -> None:
    """SW A01: with security profile 1 a new AuthorizationKey is Accepted, handed to the client
    (`password_changed`), and the station disconnects to reconnect with it."""

    async def main() -> None:
        station = Station16(
            StationConfig("CP1"), clock=Clock(), authorization_key="0123456789abcdef"
        )
        assert (station.security_profile, station.authorization_key) == (1, "0123456789abcdef")
        passwords: list[str | None] = []
        station.password_changed = passwords.append
        link = Link(core, station, Csms())
        await asyncio.wait_for(station.booted.wait(), 5)
        assert await change(link, "AuthorizationKey", "fedcba9876543210fedc") == "Accepted"
        await link.closed()
        assert link.central.close_code == 1000
        assert passwords == ["fedcba9876543210fedc"]

    run(main())


def test_station_refuses_a_config_the_boot_notification_cannot_carry() -> None:
    """C16 6.3: chargePointVendor and chargePointModel have at most 20 characters."""
    with pytest.raises(ValueError, match="20 characters"):
        Station16(StationConfig("CP1", vendor="V" * 21))
    with pytest.raises(ValueError, match="at least one connector"):
        Station16(StationConfig("CP1", connectors=0))
    with pytest.raises(ValueError, match="needs an authorization_key"):
        Station16(StationConfig("CP1"), security_profile=1)
    with pytest.raises(ValueError, match="16 to 40"):
        Station16(StationConfig("CP1"), authorization_key="short")
