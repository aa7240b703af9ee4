"""`DefaultCSMS`: what `ocppfast serve` answers to a charging station, in every version.

A permissive, well-behaved CSMS, as the OCA test system or a CSMS in "accept everything" mode
is: every station is accepted at boot, every id token is authorized, every transaction gets its
id, and every message a station may send in OCPP 1.6 (with the security extension), 2.0.1 and
2.1 gets a valid answer. What the stations report is recorded in a shared `CsmsState`.

    state = CsmsState(heartbeat_interval=300)
    server = Server(default_csms(state), ...)   # one DefaultCSMS per connection

Subclass it to change one answer: an `@on` method of a subclass replaces the one here for its
action and versions. All handlers are synchronous, so the core answers them while it reads the
frame, without a task per message.

Log lines (logger "ocppfast.csms"): INFO for boots, transactions started and ended, status
changes of connectors and of firmware updates, and security events; DEBUG for the rest. Id
tokens are personal data: they appear at DEBUG only.
"""

from __future__ import annotations

import datetime
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import ModuleType
from typing import Any

from msgspec import UNSET

from .. import v16, v21, v201
from .._core.message import Request
from .._core.types import OCPP16, OCPP21, OCPP201
from ..asyncio.handlers import Handlers, after, on
from ..exceptions import CallNotAllowedError, OCPPError, SecurityError
from .certificates import (
    CHARGING_STATION_CERTIFICATE,
    CertificateServices,
    OcspRequest,
    SigningRecord,
)
from .state import (
    ENERGY_REGISTER,
    BootInfo,
    ConnectorStatus,
    CsmsState,
    Sample,
    TransactionEventData,
    TransactionRecord,
)

__all__ = ["DefaultCSMS", "VendorHandler", "default_csms"]

log = logging.getLogger("ocppfast.csms")

_V2 = (OCPP201, OCPP21)
_MODULES: dict[str, ModuleType] = {OCPP16: v16, OCPP201: v201, OCPP21: v21}
# Connector statuses of 2.x (ConnectorStatusEnumType): the values a Connector's
# AvailabilityState variable takes (A201 appendix 3.2.14 and 4: it "replicates ConnectorStatus
# values reported in StatusNotification messages").
_CONNECTOR_STATUSES = frozenset(member.value for member in v201.ConnectorStatusEnum)
# Authorization statuses that reject a token; with them a contract certificate gets
# ContractCancelled (E201 2.4.1, C07.FR.13).
_REJECTED_TOKEN = frozenset({"Blocked", "Expired", "Invalid", "Unknown"})
# What a station not yet accepted may send: its boot, and while Pending the reports that the
# CSMS may ask for meanwhile (B02: "a message triggered by one of the following messages:
# TriggerMessageRequest, GetBaseReportRequest, GetReportRequest"; the triggered ones are
# followed per connection, `DefaultCSMS.calling`).
_BEFORE_ACCEPTED = frozenset({"BootNotification"})
_WHILE_PENDING = frozenset({"NotifyReport"})
# The action a TriggerMessage / ExtendedTriggerMessage asks for, where it is not named alike.
_TRIGGERED_ACTION = {
    "SignChargePointCertificate": "SignCertificate",
    "SignChargingStationCertificate": "SignCertificate",
    "SignV2GCertificate": "SignCertificate",
    "SignCombinedCertificate": "SignCertificate",
}

VendorHandler = Callable[[str, "str | None", Any], tuple[str, Any] | Awaitable[tuple[str, Any]]]
"""A vendor extension of DataTransfer (C16 4.3, P02): called with the station's identity, the
messageId (None when absent) and the data (None when absent); returns (status, data): status
"Accepted", "Rejected" or "UnknownMessageId", data None to send none. May be async."""


class _Vendors(dict[str, VendorHandler]):
    """The DataTransfer handlers by vendorId, case-folded: vendorId is a CiString (C16 7.8, 2.x
    DataTransferRequest), compared case-insensitively. One table shared by the connections."""

    def __init__(self, vendors: Mapping[str, VendorHandler] | None = None) -> None:
        super().__init__(
            {vendor.casefold(): handler for vendor, handler in (vendors or {}).items()}
        )


class _WholeSecondClock:
    """The current UTC time in whole seconds, as `datetime.now(timezone.utc)` with its
    microseconds dropped, but built once per second rather than for every message (building it
    costs a microsecond, ten times reading the clock). `time` reads the clock: seconds since
    the epoch."""

    __slots__ = ("_now", "_second", "_time")

    def __init__(self, time: Callable[[], float] = time.time) -> None:
        self._time = time
        self._second: int | None = None  # the first call makes `_now`
        self._now = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)

    def __call__(self) -> datetime.datetime:
        second = math.floor(self._time())
        if second != self._second:  # a new second, or the system clock was set back
            self._now = datetime.datetime.fromtimestamp(second, datetime.timezone.utc)
            self._second = second
        return self._now


# Whole seconds: "Message senders MAY save data usage by omitting insignificant fractions of
# seconds" (C16 3.15, C16E); RFC 3339 (J201, J21) makes fractions optional too.
_now = _WholeSecondClock()


def _opt(value: Any) -> Any:
    """A field's value, None when absent (UNSET)."""
    return None if value is UNSET else value


# The text of every member of the generated enumerations (str enums), for a required field:
# `_ENUM_TEXTS[member]` is one dict lookup, where `member.value` goes through enum's property
# descriptor at four times the cost. A string equals (and hashes as) the member of its text, so
# it finds its own text too.
_ENUM_TEXTS: dict[Any, str] = {
    member: member.value
    for module in (v16.enums, v201.enums, v21.enums)
    for name in module.__all__
    for member in getattr(module, name)
}


class _Texts(dict[Any, "str | None"]):
    """`_TEXTS[value]`: the wire text of an optional enum or string field, None when absent
    (UNSET); for an enumeration member, one dict lookup."""

    def __missing__(self, value: Any) -> str | None:
        if type(value) is str:
            return value
        return None if value is UNSET else str(getattr(value, "value", value))


_TEXTS = _Texts(_ENUM_TEXTS)
_TEXTS[UNSET] = None


def _text(value: Any) -> str | None:
    """An optional enum or string field as its wire text, None when absent."""
    return _TEXTS[value]


def samples_v16(
    meter_values: Iterable[v16.MeterValue | v16.StopTransactionMeterValue],
) -> list[Sample]:
    """The samples of 1.6 meter values (MeterValues.req, StopTransaction.req transactionData)."""
    # Per sampled value, so inlined: no call but float() and Sample().
    samples: list[Sample] = []
    append = samples.append
    texts = _TEXTS
    isfinite = math.isfinite
    for meter_value in meter_values:
        at = meter_value.timestamp
        for sampled in meter_value.sampled_value:
            text = sampled.value
            signed = texts[sampled.format] == "SignedData"
            number: float | None = None
            if not signed:
                # "Value as a 'Raw' (decimal) number or 'SignedData'" (C16 7.43): anything
                # else, or a number that is not finite, is kept as text only.
                try:
                    number = float(text)
                except ValueError:
                    pass
                else:
                    if not isfinite(number):
                        number = None
            append(
                Sample(
                    at,
                    text,
                    number,
                    texts[sampled.measurand] or ENERGY_REGISTER,
                    texts[sampled.unit],
                    texts[sampled.phase],
                    texts[sampled.location],
                    texts[sampled.context],
                    signed,
                )
            )
    return samples


def samples_v2(meter_values: Iterable[v201.MeterValue | v21.MeterValue]) -> list[Sample]:
    """The samples of 2.0.1/2.1 meter values, with each unit's multiplier applied (2.0.1
    UnitOfMeasureType: "Multiplier, this value represents the exponent to base 10")."""
    samples: list[Sample] = []
    append = samples.append
    texts = _TEXTS
    isfinite = math.isfinite
    for meter_value in meter_values:
        at = meter_value.timestamp
        for sampled in meter_value.sampled_value:
            unit = None
            value = sampled.value
            measure = sampled.unit_of_measure
            if measure is not UNSET:
                if measure.unit is not UNSET:  # a string, not an enumeration
                    unit = measure.unit
                if measure.multiplier is not UNSET and measure.multiplier:
                    # The schema bounds no multiplier: 10.0**309 overflows, and a value we
                    # cannot scale is kept as its text only, never a lost message.
                    try:
                        value = value * 10.0**measure.multiplier
                    except OverflowError:
                        value = math.inf
            append(
                Sample(
                    at,
                    repr(sampled.value),
                    value if isfinite(value) else None,
                    texts[sampled.measurand] or ENERGY_REGISTER,
                    unit,
                    texts[sampled.phase],
                    texts[sampled.location],
                    texts[sampled.context],
                    sampled.signed_meter_value is not UNSET,
                )
            )
    return samples


def _energy(record: TransactionRecord) -> str:
    energy = record.energy_wh
    return "energy unknown" if energy is None else f"{energy:.0f} Wh"


class DefaultCSMS(Handlers):
    """The default CSMS behaviour for one connection; `state` is shared by all connections of a
    server (a new `CsmsState` when not given). Handles every CALL (and 2.1 SEND) a station may
    send in OCPP 1.6 (with the security extension), 2.0.1 and 2.1.

    `identity` is the station's identity (its address when the connection has none), set by
    `connected()`: a subclass that overrides `connected()` calls `super().connected()`."""

    # `identity` in a slot, set once: every message reads it (a property reaching
    # `connection.name` costs more), and a slot keeps the instance without a `__dict__`.
    __slots__ = ("_guarding", "_triggered", "certificates", "identity", "state", "vendors")
    identity: str

    def __init__(
        self,
        state: CsmsState | None = None,
        vendors: Mapping[str, VendorHandler] | None = None,
        certificates: CertificateServices | None = None,
    ) -> None:
        self.state = state if state is not None else CsmsState()
        self.vendors = vendors if isinstance(vendors, _Vendors) else _Vendors(vendors)
        # Who signs CSRs and answers the ISO 15118 messages (None: nobody; see
        # ocppfast.csms.certificates), shared by the connections.
        self.certificates = certificates
        self._guarding = False
        self._triggered: set[str] | None = None

    @property
    def _m(self) -> ModuleType:
        """The message module of this connection's version (v16, v201 or v21)."""
        return _MODULES[self.connection.version]

    def _seen(self) -> datetime.datetime:
        now = _now()
        self.state.seen(self.identity, now)
        return now

    async def _after_loading(
        self, transaction_id: int | str, handler: Callable[[Any], Any], request: Any
    ) -> Any:
        """Handle `request` once its transaction, which left memory, is loaded (a stored
        state's: `CsmsState.missing`)."""
        await self.state.load_transaction(self.identity, transaction_id)
        return handler(request)

    def write_barrier(self) -> Any:
        """What the answers must wait for: the commit of what the messages changed."""
        return self.state.barrier()

    def connected(self) -> None:
        """Record the station as connected; until the CSMS has accepted it, hold back its
        CALLs but the boot (`_guard`)."""
        self.identity = self.connection.name
        self.state.station_connected(self.identity, self.connection.version, _now())
        log.debug("%s: connected (%s)", self.identity, self.connection.version)
        if self.state.acceptance(self.identity) != "Accepted":
            self._guard(True)

    # -- registration status (C16 4.2, J16E 5.6; B02, B03) -----------------------------------

    def _guard(self, on: bool) -> None:
        """Answer the station's CALLs (but BootNotification) with SecurityError while `on`: a
        station not accepted "is not allowed to send RPC Framework: CALL message that is NOT a
        BootNotificationRequest" (TC_B_30_CSMS; B02.FR.09, B03.FR.07; J16E 5.6 for 1.6). The
        guard shadows each handler with an instance attribute: the dispatcher looks handlers
        up on the instance, so an accepted station's messages cost nothing more."""
        if on == self._guarding:
            return
        self._guarding = on
        names = self.handler_names(self.connection.version)
        for action, name in names.items():
            if action in _BEFORE_ACCEPTED:
                continue
            if on:
                setattr(self, name, self._guarded(name))
            else:
                self.__dict__.pop(name, None)

    def _guarded(self, name: str) -> Callable[[Any], Any]:
        def guarded(request: Any) -> Any:
            action = type(request).ACTION
            status = self.state.acceptance(self.identity)
            triggered = self._triggered
            if status == "Accepted":  # accepted meanwhile (e.g. on another connection)
                self._guard(False)
            elif status != "Pending" or not (
                action in _WHILE_PENDING or (triggered is not None and action in triggered)
            ):
                log.info(
                    "%s: answered %s with SecurityError: the station is not accepted (%s)",
                    self.identity,
                    action,
                    status,
                )
                raise SecurityError(
                    f"{action} before the CSMS accepted this charging station (registration "
                    f"status {status}): send BootNotification first (J16E 5.6, B02.FR.09, "
                    "B03.FR.07)"
                )
            elif triggered is not None:
                triggered.discard(action)
            return getattr(type(self), name)(self, request)

        return guarded

    def calling(self, request: Request) -> None:
        """Before the CSMS sends `request` to this station: nothing to a station it rejected
        (B03.FR.03, E201 2.3.1: "When the CSMS has Rejected the Charging Station ... the CSMS
        SHALL NOT initiate any messages"); a TriggerMessage lets a Pending station send the
        message asked for (B02)."""
        status = self.state.acceptance(self.identity)
        action = type(request).ACTION
        if status == "Rejected":
            raise CallNotAllowedError(
                f"{self.identity} was Rejected at boot: the CSMS may not send it {action} "
                "(B03.FR.03); it may send messages again once it has booted and been accepted"
            )
        if action in ("TriggerMessage", "ExtendedTriggerMessage"):
            wanted = _text(request.requested_message) or ""  # type: ignore[attr-defined]
            if self._triggered is None:
                self._triggered = set()
            self._triggered.add(_TRIGGERED_ACTION.get(wanted, wanted))

    def disconnected(self) -> None:
        """Record the station as disconnected."""
        self.state.station_disconnected(self.identity, _now())
        log.debug("%s: disconnected (code %s)", self.identity, self.connection.close_code)

    # -- shared by the versions --------------------------------------------------------------

    def _boot(self, boot: BootInfo, enum: Any, response: Any) -> Any:
        now = _now()
        status, interval = self.state.boot(self.identity, self.connection.version, boot, now)
        self._guard(status != "Accepted")
        log.info(
            "%s: boot (%s%s): vendor %s, model %s, firmware %s, serial %s: %s",
            self.identity,
            self.connection.version,
            f", {boot.reason}" if boot.reason else "",
            boot.vendor,
            boot.model,
            boot.firmware_version or "-",
            boot.serial_number or "-",
            status,
        )
        return response(status=enum(status), current_time=now, interval=interval)

    def _connector_status(self, evse_id: int, connector_id: int, status: ConnectorStatus) -> None:
        identity = self.identity
        previous = self.state.connector_status(identity, evse_id, connector_id, status)
        changed = (
            previous is None
            or previous.status != status.status
            or previous.error_code != status.error_code
        )
        # Most status notifications repeat the last one, logged at DEBUG, usually disabled: the
        # message's parts are not made for nothing.
        if not log.isEnabledFor(logging.INFO if changed else logging.DEBUG):
            return
        where = (
            f"connector {connector_id}"
            if self.connection.version == OCPP16
            else f"EVSE {evse_id} connector {connector_id}"
        )
        if changed:
            error = status.error_code if status.error_code not in (None, "NoError") else None
            log.info(
                "%s: %s %s%s%s",
                identity,
                where,
                f"{previous.status} -> " if previous is not None else "",
                status.status,
                f" ({error}{': ' + status.info if status.info else ''})" if error else "",
            )
        else:
            log.debug("%s: %s still %s", identity, where, status.status)

    def _operation(self, operation: str, status: Any, request_id: Any) -> None:
        text = _text(status) or ""
        previous = self.state.operation_status(
            self.identity, operation, text, _opt(request_id), self._seen()
        )
        changed = previous is None or previous.status != text
        log.log(
            logging.INFO if changed and operation == "firmware" else logging.DEBUG,
            "%s: %s status %s%s",
            self.identity,
            operation.replace("_", " "),
            text,
            f" (request {request_id})" if request_id is not UNSET else "",
        )

    def _data_transfer(self, request: Any) -> Any:
        """DataTransfer in every version: recorded, then answered by the vendor's handler, or
        UnknownVendorId without data (C16 4.3, P02.FR.06)."""
        self._record("DataTransfer", request)
        m = self._m
        statuses = m.DataTransferStatus if m is v16 else m.DataTransferStatusEnum
        handler = self.vendors.get(request.vendor_id.casefold())
        if handler is None:
            return m.DataTransferResponse(status=statuses.UnknownVendorId)
        answer = handler(self.identity, _opt(request.message_id), _opt(request.data))

        def response(answer: tuple[str, Any]) -> Any:
            status, data = answer
            return m.DataTransferResponse(
                status=statuses(status), data=UNSET if data is None else data
            )

        if inspect.isawaitable(answer):

            async def later() -> Any:
                return response(await answer)

            return later()
        return response(answer)

    def _record(self, kind: str, request: Any) -> datetime.datetime:
        now = self._seen()
        self.state.record(self.identity, kind, request, now)
        log.debug("%s: %s", self.identity, kind)
        return now

    # -- the same in every version: one handler, the version's message types -----------------

    @on("Heartbeat")
    def heartbeat(
        self, request: v16.HeartbeatRequest | v201.HeartbeatRequest | v21.HeartbeatRequest
    ) -> v16.HeartbeatResponse | v201.HeartbeatResponse | v21.HeartbeatResponse:
        """C16 4.6, G02: answer with our current time."""
        now = _now()
        self.state.heartbeat(self.identity, now)
        log.debug("%s: heartbeat", self.identity)
        return self._m.HeartbeatResponse(current_time=now)  # type: ignore[no-any-return]

    @on("LogStatusNotification")
    def log_status(
        self,
        request: v16.LogStatusNotificationRequest
        | v201.LogStatusNotificationRequest
        | v21.LogStatusNotificationRequest,
    ) -> (
        v16.LogStatusNotificationResponse
        | v201.LogStatusNotificationResponse
        | v21.LogStatusNotificationResponse
    ):
        """SW 5 LogStatusNotification, N01: progress of a log upload."""
        self._operation("log", request.status, request.request_id)
        return self._m.LogStatusNotificationResponse()  # type: ignore[no-any-return]

    @on("SecurityEventNotification")
    def security_event(
        self,
        request: v16.SecurityEventNotificationRequest
        | v201.SecurityEventNotificationRequest
        | v21.SecurityEventNotificationRequest,
    ) -> (
        v16.SecurityEventNotificationResponse
        | v201.SecurityEventNotificationResponse
        | v21.SecurityEventNotificationResponse
    ):
        """SW 5 SecurityEventNotification, A04: security events are logged (type at INFO) and
        kept."""
        self._record("SecurityEventNotification", request)
        # The type is a name from the spec's list; techInfo is free text and may say more than
        # an INFO log should keep.
        log.info("%s: security event %s", self.identity, request.type)
        if request.tech_info is not UNSET:
            log.debug("%s: security event %s: %s", self.identity, request.type, request.tech_info)
        return self._m.SecurityEventNotificationResponse()  # type: ignore[no-any-return]

    @on("SignCertificate")
    def sign_certificate(
        self,
        request: v16.SignCertificateRequest
        | v201.SignCertificateRequest
        | v21.SignCertificateRequest,
    ) -> v16.SignCertificateResponse | v201.SignCertificateResponse | v21.SignCertificateResponse:
        """SW A02.FR.11/12, A03.FR.11/12 (P6 TC_A_14_CSMS): Accepted when "able to process
        the request": a certificate authority for its certificateType is configured
        (`CertificateServices`) and no other request of this station is being signed; Rejected
        otherwise, with the reason in the log (and in 2.x statusInfo). The CSR is checked and
        signed after the answer (`_sign_requested`): the answer does not wait for a CA."""
        self._record("SignCertificate", request)
        m = self._m
        kind = CHARGING_STATION_CERTIFICATE
        if m is not v16:  # 1.6 has no certificateType: always the station's own (SW 5.14)
            kind = _text(request.certificate_type) or CHARGING_STATION_CERTIFICATE  # type: ignore[union-attr]
        services = self.certificates
        why = None
        # Reason codes of A201 appendix 5 (reasonCodes).
        reason_code = "NotEnabled"
        if services is None or services.authority_for(kind) is None:
            why = (
                f"no certificate authority signs {kind} certificates here"
                if services is not None
                else "certificate signing is not configured on this CSMS"
            )
        elif not services.begin(self.identity):
            why = "a signing request of this station is already being processed"
            # Appendix 5's list is "not exhaustive" and has no code for this one.
            reason_code = "InProgress"
        if why is not None:
            # INFO: an operator without a CA was told at start that signing is off.
            log.info(
                "%s: SignCertificate (%s) answered Rejected: %s (SW A02.FR.12)",
                self.identity,
                kind,
                why,
            )
            if services is not None:
                services.record(self.identity, kind, "Refused", reason=why)
            if m is v16:
                return v16.SignCertificateResponse(status=v16.GenericStatusEnum.Rejected)
            return m.SignCertificateResponse(  # type: ignore[no-any-return]
                status=m.GenericStatusEnum.Rejected,
                status_info=m.StatusInfo(reason_code=reason_code, additional_info=why[:512]),
            )
        assert services is not None
        services.record(self.identity, kind, "Signing")
        log.info("%s: SignCertificate (%s) Accepted: signing", self.identity, kind)
        return m.SignCertificateResponse(status=m.GenericStatusEnum.Accepted)  # type: ignore[no-any-return]

    @after("SignCertificate")
    async def _sign_requested(self, request: Any, response: Any) -> None:
        """After an Accepted SignCertificate: the CA checks and signs the CSR, then
        CertificateSigned carries the chain (SW A02/A03 steps 3-5; 2.x: with certificateType,
        and 2.1 the requestId asked for). A refused CSR gets no certificate: the log and the
        station's `SigningRecord` say why (the whitepaper's A02 error handling: "something an
        operator at the CPO needs to be notified of"). The station's answer is logged: a
        Rejected one means it found the certificate invalid (A02.FR.07, TC_A_14_CSMS)."""
        services = self.certificates
        if services is None or _text(response.status) != "Accepted":
            return
        identity = self.identity
        try:
            # This request's record: the station's newest being signed (`begin` lets one at a
            # time; a request refused meanwhile has a newer record of its own).
            record = next(r for r in services.records(identity) if r.status == "Signing")
            chain = await services.sign(record, request.csr)
            if chain is None:
                return
            await self._send_certificate(request, record, chain)
        finally:
            services.end(identity)

    async def _send_certificate(self, request: Any, record: SigningRecord, chain: str) -> None:
        m = self._m
        identity = self.identity
        if m is v16:
            signed: Any = v16.CertificateSignedRequest(certificate_chain=chain)
        else:
            signed = m.CertificateSignedRequest(
                certificate_chain=chain,
                certificate_type=m.CertificateSigningUseEnum(record.certificate_type),
            )
            if m is v21 and request.request_id is not UNSET:
                signed = v21.CertificateSignedRequest(
                    certificate_chain=chain,
                    certificate_type=v21.CertificateSigningUseEnum(record.certificate_type),
                    request_id=request.request_id,
                )
        try:
            answer = await self.connection.call(signed)
        except OCPPError as error:
            outcome = f"CALLERROR {error.code_for(self.connection.version)}"
        except Exception as error:  # timeout, closed connection: the certificate may be lost
            outcome = f"no answer ({type(error).__name__})"
        else:
            outcome = _text(answer.status) or "answered"
        record.status = "Sent"
        record.station_answer = outcome
        record.updated_at = _now()
        level = logging.INFO if outcome == "Accepted" else logging.WARNING
        log.log(
            level,
            "%s: CertificateSigned (%s, serial %s): the station answered %s%s",
            identity,
            record.certificate_type,
            record.serial,
            outcome,
            ""
            if outcome == "Accepted"
            else " (it keeps its current certificate; renew it again once the cause is found)",
        )

    # -- OCPP 1.6 (C16 chapter 4; security extension: SW chapter 5) ------------------------

    def _id_tag_info(self, id_tag: str, now: datetime.datetime) -> v16.IdTagInfo:
        """1.6 IdTagInfo (C16 7.14) of `id_tag` at `now` (the message's whole second: token
        expiries are whole seconds too): the status, and the expiry and parent of a stored idTag."""
        status, known = self.state.authorization(self.identity, id_tag, None, OCPP16, now)
        log.debug("%s: idTag %s: %s", self.identity, id_tag, status)
        if known is None:
            return v16.IdTagInfo(status=v16.AuthorizationStatus(status))
        return v16.IdTagInfo(
            status=v16.AuthorizationStatus(status),
            expiry_date=known.expires_at if known.expires_at is not None else UNSET,
            parent_id_tag=known.parent_id if known.parent_id is not None else UNSET,
        )

    @on(v16.AuthorizeRequest)
    def authorize_v16(self, request: v16.AuthorizeRequest) -> v16.AuthorizeResponse:
        """C16 4.1: the Central System "SHALL respond with an Authorize.conf"."""
        info = self._id_tag_info(request.id_tag, self._seen())
        return v16.AuthorizeResponse(id_tag_info=info)

    @on(v16.BootNotificationRequest)
    def boot_v16(self, request: v16.BootNotificationRequest) -> v16.BootNotificationResponse:
        """C16 4.2: accept the station (unless the state decides otherwise); give the heartbeat
        interval and our time."""
        extra = {
            name: value
            for name, value in (
                ("chargeBoxSerialNumber", request.charge_box_serial_number),
                ("iccid", request.iccid),
                ("imsi", request.imsi),
                ("meterType", request.meter_type),
                ("meterSerialNumber", request.meter_serial_number),
            )
            if value is not UNSET
        }
        # chargeBoxSerialNumber is the deprecated spelling of chargePointSerialNumber (C16 6.3).
        serial = _opt(request.charge_point_serial_number) or _opt(request.charge_box_serial_number)
        boot = BootInfo(
            request.charge_point_vendor,
            request.charge_point_model,
            serial,
            _opt(request.firmware_version),
            None,
            extra,
        )
        response: v16.BootNotificationResponse = self._boot(
            boot, v16.RegistrationStatus, v16.BootNotificationResponse
        )
        return response

    @on(v16.DataTransferRequest)
    def data_transfer_v16(self, request: v16.DataTransferRequest) -> Any:
        """C16 4.3: the vendor's handler answers (`vendors`); for any other vendorId: "If the
        recipient of the request has no implementation for the specific vendorId it SHALL
        return a status 'UnknownVendor' and the data element SHALL not be present"."""
        return self._data_transfer(request)

    @on(v16.DiagnosticsStatusNotificationRequest)
    def diagnostics_status_v16(
        self, request: v16.DiagnosticsStatusNotificationRequest
    ) -> v16.DiagnosticsStatusNotificationResponse:
        """C16 4.4."""
        self._operation("diagnostics", request.status, UNSET)
        return v16.DiagnosticsStatusNotificationResponse()

    @on(v16.FirmwareStatusNotificationRequest)
    def firmware_status_v16(
        self, request: v16.FirmwareStatusNotificationRequest
    ) -> v16.FirmwareStatusNotificationResponse:
        """C16 4.5."""
        self._operation("firmware", request.status, UNSET)
        return v16.FirmwareStatusNotificationResponse()

    @on(v16.MeterValuesRequest)
    def meter_values_v16(self, request: v16.MeterValuesRequest) -> v16.MeterValuesResponse:
        """C16 4.7: keep the values. Sanity checks "SHOULD NOT ever cause the Central System to
        not respond": values of a transaction we do not know are kept with the station."""
        if request.transaction_id is not UNSET and self.state.missing(
            self.identity, request.transaction_id
        ):
            return self._after_loading(  # type: ignore[return-value]
                request.transaction_id, self.meter_values_v16, request
            )
        identity = self.identity
        self._seen()
        transaction_id = _opt(request.transaction_id)
        samples = samples_v16(request.meter_value)
        record = self.state.meter_values(identity, request.connector_id, transaction_id, samples)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s: %d meter values on connector %s%s",
                identity,
                len(samples),
                request.connector_id,
                f" (transaction {transaction_id}{'' if record else ', unknown'})"
                if transaction_id is not None
                else "",
            )
        return v16.MeterValuesResponse()

    @on(v16.SignedFirmwareStatusNotificationRequest)
    def signed_firmware_status_v16(
        self, request: v16.SignedFirmwareStatusNotificationRequest
    ) -> v16.SignedFirmwareStatusNotificationResponse:
        """SW 5 SignedFirmwareStatusNotification."""
        self._operation("firmware", request.status, request.request_id)
        return v16.SignedFirmwareStatusNotificationResponse()

    @on(v16.StartTransactionRequest)
    def start_transaction_v16(
        self, request: v16.StartTransactionRequest
    ) -> v16.StartTransactionResponse:
        """C16 4.8: a new transaction id (the same one for a repeated request) and the status
        of the idTag, which the Central System "MUST verify"."""
        now = self._seen()
        record, new = self.state.start_transaction(
            self.identity,
            request.connector_id,
            request.id_tag,
            request.meter_start,
            request.timestamp,
            _opt(request.reservation_id),
        )
        if new:
            log.info(
                "%s: transaction %s started on connector %s (meter %s Wh)",
                self.identity,
                record.transaction_id,
                request.connector_id,
                request.meter_start,
            )
        else:
            log.info(
                "%s: StartTransaction repeated: transaction %s again",
                self.identity,
                record.transaction_id,
            )
        assert isinstance(record.transaction_id, int)
        return v16.StartTransactionResponse(
            transaction_id=record.transaction_id,
            id_tag_info=self._id_tag_info(request.id_tag, now),
        )

    @on(v16.StatusNotificationRequest)
    def status_v16(self, request: v16.StatusNotificationRequest) -> v16.StatusNotificationResponse:
        """C16 4.9: record the status of the connector (0: the whole Charge Point)."""
        now = self._seen()
        status = ConnectorStatus(
            _ENUM_TEXTS[request.status],
            request.timestamp if request.timestamp is not UNSET else now,
            _ENUM_TEXTS[request.error_code],
            _opt(request.info),
            _opt(request.vendor_id),
            _opt(request.vendor_error_code),
        )
        self._connector_status(0, request.connector_id, status)
        return v16.StatusNotificationResponse()

    @on(v16.StopTransactionRequest)
    def stop_transaction_v16(
        self, request: v16.StopTransactionRequest
    ) -> v16.StopTransactionResponse:
        """C16 4.10: record the end (the Central System "cannot prevent a transaction from
        stopping"); idTagInfo for the idTag that stopped it, when one did."""
        if self.state.missing(self.identity, request.transaction_id):
            return self._after_loading(  # type: ignore[return-value]
                request.transaction_id, self.stop_transaction_v16, request
            )
        now = self._seen()
        samples = (
            samples_v16(request.transaction_data) if request.transaction_data is not UNSET else []
        )
        id_tag = _opt(request.id_tag)
        record, ended = self.state.stop_transaction(
            self.identity,
            request.transaction_id,
            request.meter_stop,
            request.timestamp,
            _text(request.reason),
            id_tag,
            samples,
        )
        if record is None:
            # Not this station's (another's id, or one never started): nothing changes, and
            # the answer still goes out (C16 4.10).
            log.info(
                "%s: StopTransaction for transaction %s, which this station does not have:"
                " answered, nothing recorded",
                self.identity,
                request.transaction_id,
            )
        elif ended:
            log.info(
                "%s: transaction %s ended (%s): %s",
                self.identity,
                record.transaction_id,
                record.stop_reason,
                _energy(record),
            )
        else:
            log.info(
                "%s: StopTransaction repeated for transaction %s",
                self.identity,
                record.transaction_id,
            )
        if id_tag is None:
            return v16.StopTransactionResponse()
        return v16.StopTransactionResponse(id_tag_info=self._id_tag_info(id_tag, now))

    # -- OCPP 2.0.1 and 2.1: use cases as 2.1 P0 lists them; P6 CSMS test cases --------------

    def _id_token_info(self, token: Any, now: datetime.datetime) -> Any:
        """2.x IdTokenInfo of `token` at `now` (as `_id_tag_info`): its status, and what is
        stored of it (C01/C10: the station may cache it until cacheExpiryDateTime; groupIdToken)."""
        m = self._m
        kind = _text(token.type)
        status, known = self.state.authorization(
            self.identity, token.id_token, kind, self.connection.version, now
        )
        log.debug("%s: idToken %s (%s): %s", self.identity, token.id_token, kind, status)
        if known is None:
            return m.IdTokenInfo(status=m.AuthorizationStatusEnum(status))
        return m.IdTokenInfo(
            status=m.AuthorizationStatusEnum(status),
            cache_expiry_date_time=known.expires_at if known.expires_at is not None else UNSET,
            group_id_token=m.IdToken(id_token=known.group_id, type="Central")
            if known.group_id is not None
            else UNSET,
        )

    @on("Authorize", versions=_V2)
    def authorize_v2(
        self, request: v201.AuthorizeRequest | v21.AuthorizeRequest
    ) -> v201.AuthorizeResponse | v21.AuthorizeResponse:
        """C01 (P6 reusable state Authorized: idTokenInfo.status must be Accepted). With a
        contract certificate (ISO 15118 Plug & Charge), certificateStatus per C07.FR.13/14
        (E201 2.4.1); the chain itself is not verified here (issue 10 adds certificates)."""
        now = self._seen()
        m = self._m
        info = self._id_token_info(request.id_token, now)
        if request.certificate is UNSET and request.iso15118_certificate_hash_data is UNSET:
            return m.AuthorizeResponse(id_token_info=info)  # type: ignore[no-any-return]
        rejected = info.status.value in _REJECTED_TOKEN
        certificate = (
            m.AuthorizeCertificateStatusEnum.ContractCancelled
            if rejected
            else m.AuthorizeCertificateStatusEnum.Accepted
        )
        return m.AuthorizeResponse(  # type: ignore[no-any-return]
            id_token_info=info, certificate_status=certificate
        )

    @on("BootNotification", versions=_V2)
    def boot_v2(
        self, request: v201.BootNotificationRequest | v21.BootNotificationRequest
    ) -> v201.BootNotificationResponse | v21.BootNotificationResponse:
        """B01 (P6 TC_B_01_CSMS, reusable state Booted: status Accepted)."""
        station = request.charging_station
        extra = {}
        if station.modem is not UNSET:
            for name in ("iccid", "imsi"):
                value = getattr(station.modem, name)
                if value is not UNSET:
                    extra[name] = value
        boot = BootInfo(
            station.vendor_name,
            station.model,
            _opt(station.serial_number),
            _opt(station.firmware_version),
            request.reason.value,
            extra,
        )
        m = self._m
        return self._boot(boot, m.RegistrationStatusEnum, m.BootNotificationResponse)  # type: ignore[no-any-return]

    @on("ClearedChargingLimit", versions=_V2)
    def cleared_charging_limit(
        self, request: v201.ClearedChargingLimitRequest | v21.ClearedChargingLimitRequest
    ) -> v201.ClearedChargingLimitResponse | v21.ClearedChargingLimitResponse:
        """K13: an external charging limit was released."""
        self._record("ClearedChargingLimit", request)
        return self._m.ClearedChargingLimitResponse()  # type: ignore[no-any-return]

    @on("DataTransfer", versions=_V2)
    def data_transfer_v2(self, request: v201.DataTransferRequest | v21.DataTransferRequest) -> Any:
        """P02: the vendor's handler answers (`vendors`); any other vendorId is unknown
        (P02.FR.06, P6 TC_P_02_CSMS)."""
        return self._data_transfer(request)

    @on("FirmwareStatusNotification", versions=_V2)
    def firmware_status_v2(
        self,
        request: v201.FirmwareStatusNotificationRequest | v21.FirmwareStatusNotificationRequest,
    ) -> v201.FirmwareStatusNotificationResponse | v21.FirmwareStatusNotificationResponse:
        """L01/L02: progress of a firmware update."""
        self._operation("firmware", request.status, request.request_id)
        return self._m.FirmwareStatusNotificationResponse()  # type: ignore[no-any-return]

    @on("Get15118EVCertificate", versions=_V2)
    def get_15118_ev_certificate(
        self, request: v201.Get15118EVCertificateRequest | v21.Get15118EVCertificateRequest
    ) -> v201.Get15118EVCertificateResponse | v21.Get15118EVCertificateResponse:
        """M01/M02: the EV's EXI request goes to the `ContractCertificateProvider`, whose EXI
        answer comes back; without one, Failed, with an empty exiResponse (the field is
        required) and reason NotEnabled (A201 appendix 5). A provider's failure is Failed
        with its reason, logged; the connection carries on."""
        self._record("Get15118EVCertificate", request)
        m = self._m
        provider = self.certificates.contracts if self.certificates is not None else None
        if provider is None:
            return m.Get15118EVCertificateResponse(  # type: ignore[no-any-return]
                status=m.Iso15118EVCertificateStatusEnum.Failed,
                status_info=m.StatusInfo(
                    reason_code="NotEnabled", additional_info="no contract certificate service"
                ),
                exi_response="",
            )
        identity = self.identity

        async def ask() -> Any:
            try:
                status, exi = await provider.get_ev_certificate(
                    identity,
                    request.iso15118_schema_version,
                    _ENUM_TEXTS[request.action],
                    request.exi_request,
                )
                answer = m.Get15118EVCertificateResponse(
                    status=m.Iso15118EVCertificateStatusEnum(status), exi_response=exi
                )
            except Exception as error:
                log.warning(
                    "%s: Get15118EVCertificate answered Failed: the contract certificate "
                    "provider failed: %s",
                    identity,
                    error,
                )
                return m.Get15118EVCertificateResponse(
                    status=m.Iso15118EVCertificateStatusEnum.Failed,
                    status_info=m.StatusInfo(
                        reason_code="InternalError",
                        additional_info=str(error)[:512] or type(error).__name__,
                    ),
                    exi_response="",
                )
            log.info("%s: Get15118EVCertificate (%s): %s", identity, request.action, status)
            return answer

        return ask()  # type: ignore[return-value]

    @on("GetCertificateStatus", versions=_V2)
    def get_certificate_status(
        self, request: v201.GetCertificateStatusRequest | v21.GetCertificateStatusRequest
    ) -> v201.GetCertificateStatusResponse | v21.GetCertificateStatusResponse:
        """M06: the `CertificateStatusProvider` (e.g. `OcspStatusProvider`) answers; without
        one, Failed, without ocspResult ("MAY only be omitted when status is not Accepted"),
        reason NotEnabled. A provider's failure is Failed with its reason, logged."""
        self._record("GetCertificateStatus", request)
        m = self._m
        provider = self.certificates.status if self.certificates is not None else None
        if provider is None:
            return m.GetCertificateStatusResponse(  # type: ignore[no-any-return]
                status=m.GetCertificateStatusEnum.Failed,
                status_info=m.StatusInfo(
                    reason_code="NotEnabled", additional_info="no OCSP client"
                ),
            )
        identity = self.identity
        data = request.ocsp_request_data
        asked = OcspRequest(
            _ENUM_TEXTS[data.hash_algorithm],
            data.issuer_name_hash,
            data.issuer_key_hash,
            data.serial_number,
            data.responder_url,
        )

        async def ask() -> Any:
            try:
                status, result = await provider.get_status(identity, asked)
                if status == "Accepted" and not result:
                    raise ValueError("the provider answered Accepted without an OCSP result")
                answer = m.GetCertificateStatusResponse(
                    status=m.GetCertificateStatusEnum(status),
                    ocsp_result=UNSET if result is None else result,
                )
            except Exception as error:
                log.warning(
                    "%s: GetCertificateStatus (serial %s) answered Failed: %s",
                    identity,
                    asked.serial_number,
                    error,
                )
                return m.GetCertificateStatusResponse(
                    status=m.GetCertificateStatusEnum.Failed,
                    status_info=m.StatusInfo(
                        reason_code="InternalError",
                        additional_info=str(error)[:512] or type(error).__name__,
                    ),
                )
            log.debug(
                "%s: GetCertificateStatus (serial %s): %s", identity, asked.serial_number, status
            )
            return answer

        return ask()  # type: ignore[return-value]

    @on("MeterValues", versions=_V2)
    def meter_values_v2(
        self, request: v201.MeterValuesRequest | v21.MeterValuesRequest
    ) -> v201.MeterValuesResponse | v21.MeterValuesResponse:
        """J01: meter values outside transactions (those of a transaction come with
        TransactionEvent), kept with the station by evseId (0: the main meter)."""
        identity = self.identity
        self._seen()
        samples = samples_v2(request.meter_value)
        self.state.meter_values(identity, request.evse_id, None, samples)
        log.debug("%s: %d meter values on EVSE %s", identity, len(samples), request.evse_id)
        return self._m.MeterValuesResponse()  # type: ignore[no-any-return]

    @on("NotifyChargingLimit", versions=_V2)
    def notify_charging_limit(
        self, request: v201.NotifyChargingLimitRequest | v21.NotifyChargingLimitRequest
    ) -> v201.NotifyChargingLimitResponse | v21.NotifyChargingLimitResponse:
        """K11/K12: an external charging limit was set or changed."""
        self._record("NotifyChargingLimit", request)
        return self._m.NotifyChargingLimitResponse()  # type: ignore[no-any-return]

    @on("NotifyCustomerInformation", versions=_V2)
    def notify_customer_information(
        self,
        request: v201.NotifyCustomerInformationRequest | v21.NotifyCustomerInformationRequest,
    ) -> v201.NotifyCustomerInformationResponse | v21.NotifyCustomerInformationResponse:
        """N09/N10: parts of the customer information asked for with requestId."""
        self._report(
            "NotifyCustomerInformation",
            request.request_id,
            [request.data],
            seq_no=request.seq_no,
            tbc=request.tbc,
            generated_at=request.generated_at,
        )
        return self._m.NotifyCustomerInformationResponse()  # type: ignore[no-any-return]

    @on("NotifyDisplayMessages", versions=_V2)
    def notify_display_messages(
        self, request: v201.NotifyDisplayMessagesRequest | v21.NotifyDisplayMessagesRequest
    ) -> v201.NotifyDisplayMessagesResponse | v21.NotifyDisplayMessagesResponse:
        """O03/O04: the display messages asked for with requestId."""
        items = request.message_info if request.message_info is not UNSET else []
        self._report("NotifyDisplayMessages", request.request_id, items, tbc=request.tbc)
        return self._m.NotifyDisplayMessagesResponse()  # type: ignore[no-any-return]

    @on("NotifyEVChargingNeeds", versions=_V2)
    def notify_ev_charging_needs(
        self, request: v201.NotifyEVChargingNeedsRequest | v21.NotifyEVChargingNeedsRequest
    ) -> v201.NotifyEVChargingNeedsResponse | v21.NotifyEVChargingNeedsResponse:
        """K15: Accepted: the status says "whether the CSMS has been able to process the message
        successfully. It does not imply that the evChargingNeeds can be met" (schema)."""
        self._record("NotifyEVChargingNeeds", request)
        m = self._m
        return m.NotifyEVChargingNeedsResponse(  # type: ignore[no-any-return]
            status=m.NotifyEVChargingNeedsStatusEnum.Accepted
        )

    @on("NotifyEVChargingSchedule", versions=_V2)
    def notify_ev_charging_schedule(
        self, request: v201.NotifyEVChargingScheduleRequest | v21.NotifyEVChargingScheduleRequest
    ) -> v201.NotifyEVChargingScheduleResponse | v21.NotifyEVChargingScheduleResponse:
        """K17: Accepted: processed, which "does not imply any approval of the charging
        schedule" (schema)."""
        self._record("NotifyEVChargingSchedule", request)
        m = self._m
        return m.NotifyEVChargingScheduleResponse(status=m.GenericStatusEnum.Accepted)  # type: ignore[no-any-return]

    @on("NotifyEvent", versions=_V2)
    def notify_event(
        self, request: v201.NotifyEventRequest | v21.NotifyEventRequest
    ) -> v201.NotifyEventResponse | v21.NotifyEventResponse:
        """N07 (P6 reusable state Booted: AvailabilityState events beside StatusNotification).
        A Connector's AvailabilityState event updates the connector's status too: it
        "replicates ConnectorStatus values reported in StatusNotification" (A201 appendix 4)."""
        self._record("NotifyEvent", request)
        for event in request.event_data:
            component = event.component
            evse = component.evse
            if (
                component.name == "Connector"
                and event.variable.name == "AvailabilityState"
                and evse is not UNSET
                and evse.connector_id is not UNSET
                and event.actual_value in _CONNECTOR_STATUSES
            ):
                status = ConnectorStatus(event.actual_value, event.timestamp)
                self._connector_status(evse.id, evse.connector_id, status)
        return self._m.NotifyEventResponse()  # type: ignore[no-any-return]

    @on("NotifyMonitoringReport", versions=_V2)
    def notify_monitoring_report(
        self, request: v201.NotifyMonitoringReportRequest | v21.NotifyMonitoringReportRequest
    ) -> v201.NotifyMonitoringReportResponse | v21.NotifyMonitoringReportResponse:
        """N02: parts of the monitoring report asked for with requestId."""
        items = request.monitor if request.monitor is not UNSET else []
        self._report(
            "NotifyMonitoringReport",
            request.request_id,
            items,
            seq_no=request.seq_no,
            tbc=request.tbc,
            generated_at=request.generated_at,
        )
        return self._m.NotifyMonitoringReportResponse()  # type: ignore[no-any-return]

    @on("NotifyReport", versions=_V2)
    def notify_report(
        self, request: v201.NotifyReportRequest | v21.NotifyReportRequest
    ) -> v201.NotifyReportResponse | v21.NotifyReportResponse:
        """B07/B08: parts of the (base) report asked for with requestId."""
        items = request.report_data if request.report_data is not UNSET else []
        self._report(
            "NotifyReport",
            request.request_id,
            items,
            seq_no=request.seq_no,
            tbc=request.tbc,
            generated_at=request.generated_at,
        )
        return self._m.NotifyReportResponse()  # type: ignore[no-any-return]

    @on("PublishFirmwareStatusNotification", versions=_V2)
    def publish_firmware_status(
        self,
        request: v201.PublishFirmwareStatusNotificationRequest
        | v21.PublishFirmwareStatusNotificationRequest,
    ) -> (
        v201.PublishFirmwareStatusNotificationResponse
        | v21.PublishFirmwareStatusNotificationResponse
    ):
        """L03 (local controller publishing firmware)."""
        self._operation("publish_firmware", request.status, request.request_id)
        return self._m.PublishFirmwareStatusNotificationResponse()  # type: ignore[no-any-return]

    @on("ReportChargingProfiles", versions=_V2)
    def report_charging_profiles(
        self, request: v201.ReportChargingProfilesRequest | v21.ReportChargingProfilesRequest
    ) -> v201.ReportChargingProfilesResponse | v21.ReportChargingProfilesResponse:
        """K09: the charging profiles asked for with requestId. Each part is kept whole: its
        evseId and chargingLimitSource say where and whose its profiles are."""
        self._report("ReportChargingProfiles", request.request_id, [request], tbc=request.tbc)
        return self._m.ReportChargingProfilesResponse()  # type: ignore[no-any-return]

    @on("ReservationStatusUpdate", versions=_V2)
    def reservation_status_update(
        self, request: v201.ReservationStatusUpdateRequest | v21.ReservationStatusUpdateRequest
    ) -> v201.ReservationStatusUpdateResponse | v21.ReservationStatusUpdateResponse:
        """H01/H04: a reservation ended without being used (expired or removed): recorded,
        and the operator's reservation of that id (`CsmsState.reservations`) takes the status."""
        now = self._record("ReservationStatusUpdate", request)
        status = _ENUM_TEXTS[request.reservation_update_status]
        if self.state.reservation_status(self.identity, request.reservation_id, status, now):
            log.info("%s: reservation %s %s", self.identity, request.reservation_id, status)
        return self._m.ReservationStatusUpdateResponse()  # type: ignore[no-any-return]

    @on("StatusNotification", versions=_V2)
    def status_v2(
        self, request: v201.StatusNotificationRequest | v21.StatusNotificationRequest
    ) -> v201.StatusNotificationResponse | v21.StatusNotificationResponse:
        """G01 (P6 reusable states: the CSMS "responds accordingly")."""
        self._seen()
        status = ConnectorStatus(_ENUM_TEXTS[request.connector_status], request.timestamp)
        self._connector_status(request.evse_id, request.connector_id, status)
        return self._m.StatusNotificationResponse()  # type: ignore[no-any-return]

    @on("TransactionEvent", versions=_V2)
    def transaction_event(
        self, request: v201.TransactionEventRequest | v21.TransactionEventRequest
    ) -> v201.TransactionEventResponse | v21.TransactionEventResponse:
        """E01-E15: record the event; idTokenInfo when an idToken is present (P6 reusable state
        Authorized, TC_E_01/02_CSMS: "idTokenInfo.status must be Accepted"). Every event is
        answered, whatever its order or seqNo (TC_E_31_CSMS, TC_E_53_CSMS)."""
        if self.state.missing(self.identity, request.transaction_info.transaction_id):
            return self._after_loading(  # type: ignore[return-value]
                request.transaction_info.transaction_id, self.transaction_event, request
            )
        now = self._seen()
        info = request.transaction_info
        evse = request.evse
        token = request.id_token
        texts = _TEXTS
        event = TransactionEventData(
            _ENUM_TEXTS[request.event_type],
            info.transaction_id,
            request.seq_no,
            request.timestamp,
            _ENUM_TEXTS[request.trigger_reason],
            request.offline is True,
            evse.id if evse is not UNSET else None,
            _opt(evse.connector_id) if evse is not UNSET else None,
            token.id_token if token is not UNSET else None,
            texts[token.type] if token is not UNSET else None,
            texts[info.charging_state],
            texts[info.stopped_reason],
            _opt(info.remote_start_id),
            _opt(request.reservation_id),
            tuple(samples_v2(request.meter_value)) if request.meter_value is not UNSET else (),
        )
        version = self.connection.version
        record, new = self.state.transaction_event(self.identity, version, event)
        self._log_transaction_event(event, record, new)
        m = _MODULES[version]
        if token is UNSET:
            return m.TransactionEventResponse()  # type: ignore[no-any-return]
        return m.TransactionEventResponse(id_token_info=self._id_token_info(token, now))  # type: ignore[no-any-return]

    def _log_transaction_event(
        self, event: TransactionEventData, record: TransactionRecord, new: bool
    ) -> None:
        name = self.identity
        # Most events are Updated ones or repeats, logged at DEBUG, usually disabled.
        info = new and event.event_type in ("Started", "Ended")
        if not log.isEnabledFor(logging.INFO if info else logging.DEBUG):
            return
        if not new:
            log.debug(
                "%s: transaction %s seqNo %s repeated", name, event.transaction_id, event.seq_no
            )
        elif event.event_type == "Started":
            log.info(
                "%s: transaction %s started on EVSE %s (%s)%s",
                name,
                event.transaction_id,
                record.evse_id if record.evse_id is not None else "?",
                event.trigger_reason,
                ", sent offline" if event.offline else "",
            )
        elif event.event_type == "Ended":
            missing = record.missing_seq_nos()
            log.info(
                "%s: transaction %s ended (%s): %s%s",
                name,
                event.transaction_id,
                record.stop_reason,
                _energy(record),
                f"; seqNo {', '.join(map(str, missing))} not received yet" if missing else "",
            )
        else:
            log.debug(
                "%s: transaction %s %s (%s)%s",
                name,
                event.transaction_id,
                event.event_type,
                event.trigger_reason,
                f", {event.charging_state}" if event.charging_state else "",
            )

    def _report(
        self,
        kind: str,
        request_id: int,
        items: Iterable[Any],
        *,
        seq_no: int | None = None,
        tbc: Any = UNSET,
        generated_at: datetime.datetime | None = None,
    ) -> None:
        now = self._seen()
        report = self.state.report(
            self.identity,
            kind,
            request_id,
            items,
            now,
            seq_no=seq_no,
            tbc=tbc is True,  # tbc defaults to false (2.0.1 schemas: "default": false)
            generated_at=generated_at,
        )
        log.debug(
            "%s: %s request %s: %d items%s",
            self.identity,
            kind,
            request_id,
            len(report.items),
            ", complete" if report.complete else "",
        )

    # -- OCPP 2.1 only (use cases of 2.1 P0) --------------------------------------------------

    @on(v21.BatterySwapRequest)
    def battery_swap(self, request: v21.BatterySwapRequest) -> v21.BatterySwapResponse:
        """S03: a battery swap station reports batteries in or out."""
        self._record("BatterySwap", request)
        return v21.BatterySwapResponse()

    @on(v21.ClosePeriodicEventStreamRequest)
    def close_periodic_event_stream(
        self, request: v21.ClosePeriodicEventStreamRequest
    ) -> v21.ClosePeriodicEventStreamResponse:
        """N13."""
        self.state.close_event_stream(self.identity, request.id, self._seen())
        log.debug("%s: closed event stream %s", self.identity, request.id)
        return v21.ClosePeriodicEventStreamResponse()

    @on(v21.GetCertificateChainStatusRequest)
    def get_certificate_chain_status(
        self, request: v21.GetCertificateChainStatusRequest
    ) -> v21.GetCertificateChainStatusResponse:
        """M06 (2.1): no revocation service here (issue 10): each certificate asked about gets
        status Failed, for its hash data and source, with nextUpdate now (nothing is cached)."""
        now = self._record("GetCertificateChainStatus", request)
        return v21.GetCertificateChainStatusResponse(
            certificate_status=[
                v21.CertificateStatus(
                    certificate_hash_data=item.certificate_hash_data,
                    source=item.source,
                    status=v21.CertificateStatusEnum.Failed,
                    next_update=now,
                )
                for item in request.certificate_status_requests
            ]
        )

    @on(v21.NotifyDERAlarmRequest)
    def notify_der_alarm(self, request: v21.NotifyDERAlarmRequest) -> v21.NotifyDERAlarmResponse:
        """R05: the station reports a DER event."""
        self._record("NotifyDERAlarm", request)
        return v21.NotifyDERAlarmResponse()

    @on(v21.NotifyDERStartStopRequest)
    def notify_der_start_stop(
        self, request: v21.NotifyDERStartStopRequest
    ) -> v21.NotifyDERStartStopResponse:
        """R01-R03: a DER control started or stopped."""
        self._record("NotifyDERStartStop", request)
        return v21.NotifyDERStartStopResponse()

    @on(v21.NotifyPeriodicEventStream)
    def notify_periodic_event_stream(self, request: v21.NotifyPeriodicEventStream) -> None:
        """N15: a SEND, never answered (J21 4.2.4): count what the stream delivered."""
        stream = self.state.event_stream_data(
            self.identity,
            request.id,
            len(request.data),
            request.pending,
            request.basetime,
            self._seen(),
        )
        log.debug(
            "%s: event stream %s: %d values (%d in all, %d pending)",
            self.identity,
            request.id,
            len(request.data),
            stream.values,
            request.pending,
        )

    @on(v21.NotifyPriorityChargingRequest)
    def notify_priority_charging(
        self, request: v21.NotifyPriorityChargingRequest
    ) -> v21.NotifyPriorityChargingResponse:
        """K21/K22: priority charging of a transaction started or stopped."""
        self._record("NotifyPriorityCharging", request)
        return v21.NotifyPriorityChargingResponse()

    @on(v21.NotifySettlementRequest)
    def notify_settlement(
        self, request: v21.NotifySettlementRequest
    ) -> v21.NotifySettlementResponse:
        """C21/C22: a payment terminal's settlement; no receipt is made here, so none is returned
        (the receipt fields are for a receipt "generated by CSMS")."""
        self._record("NotifySettlement", request)
        return v21.NotifySettlementResponse()

    @on(v21.OpenPeriodicEventStreamRequest)
    def open_periodic_event_stream(
        self, request: v21.OpenPeriodicEventStreamRequest
    ) -> v21.OpenPeriodicEventStreamResponse:
        """N11: accept the stream (its values come with NotifyPeriodicEventStream)."""
        data = request.constant_stream_data
        params = data.params
        accepted = self.state.open_event_stream(
            self.identity,
            data.id,
            self._seen(),
            variable_monitoring_id=data.variable_monitoring_id,
            interval=_opt(params.interval),
            values_per_message=_opt(params.values),
        )
        log.debug("%s: event stream %s opened: %s", self.identity, data.id, accepted)
        status = v21.GenericStatusEnum.Accepted if accepted else v21.GenericStatusEnum.Rejected
        return v21.OpenPeriodicEventStreamResponse(status=status)

    @on(v21.PullDynamicScheduleUpdateRequest)
    def pull_dynamic_schedule_update(
        self, request: v21.PullDynamicScheduleUpdateRequest
    ) -> v21.PullDynamicScheduleUpdateResponse:
        """K28: the station asks for an update of a dynamic charging profile; this CSMS sets no
        profiles, so it has none to update: Rejected, NotFound (A21 chapter 5)."""
        self._record("PullDynamicScheduleUpdate", request)
        return v21.PullDynamicScheduleUpdateResponse(
            status=v21.ChargingProfileStatusEnum.Rejected,
            status_info=v21.StatusInfo(
                reason_code="NotFound",
                additional_info=f"no dynamic charging profile {request.charging_profile_id}",
            ),
        )

    @on(v21.ReportDERControlRequest)
    def report_der_control(
        self, request: v21.ReportDERControlRequest
    ) -> v21.ReportDERControlResponse:
        """R04: the DER controls asked for with requestId (each part kept whole)."""
        self._report("ReportDERControl", request.request_id, [request], tbc=request.tbc)
        return v21.ReportDERControlResponse()

    @on(v21.VatNumberValidationRequest)
    def vat_number_validation(
        self, request: v21.VatNumberValidationRequest
    ) -> v21.VatNumberValidationResponse:
        """C24/C25 (ad hoc payment): Accepted, as every id token is: this CSMS has no VAT
        register to check against and rejects nothing (no company details: none are known)."""
        self._record("VatNumberValidation", request)
        return v21.VatNumberValidationResponse(
            vat_number=request.vat_number,
            evse_id=request.evse_id,
            status=v21.GenericStatusEnum.Accepted,
        )


def default_csms(
    state: CsmsState | None = None,
    vendors: Mapping[str, VendorHandler] | None = None,
    certificates: CertificateServices | None = None,
) -> Callable[[], DefaultCSMS]:
    """A factory of `DefaultCSMS` handlers sharing one `state` (a new `CsmsState` when not
    given), the DataTransfer `vendors` handlers and the `certificates` services (CSR signing,
    ISO 15118 providers: `ocppfast.csms.certificates`), for `Server(handlers=...)`: one handler
    per connection, one state per server."""
    shared = state if state is not None else CsmsState()
    shared_vendors = _Vendors(vendors)

    def factory() -> DefaultCSMS:
        return DefaultCSMS(shared, shared_vendors, certificates)

    return factory
