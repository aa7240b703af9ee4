"""The simulated charging station for OCPP 2.0.1 and 2.1: `StationV2`.

One `StationV2` is one charging station for its whole life. It is the `Handlers` of every
`Connection` the station makes (the client reconnects with the same object), so its state -
registration, device model, availability, transactions, the queue of messages to deliver -
survives a lost connection and a reset; what must survive a power cut too is kept in its
`StationData` (`ocppfast.station.store`). What it does, with the spec references in the code:

- Boot (B01-B03): BootNotification with the configured vendor, model, serial number and firmware;
  Accepted -> heartbeats at the interval the CSMS gave, a StatusNotification per connector and the
  StartupOfTheDevice / ResetOrReboot security event; Pending / Rejected -> a new BootNotification
  after the interval. While Pending it answers the CSMS (reports, variables, triggers) but starts
  no transaction; while Rejected it answers every CALL with SecurityError (B03.FR.08). A new
  connection without a reboot sends no BootNotification (J201 5.3) but reports the connectors
  (all of them after OCPPCommCtrlr.OfflineThreshold, else those that changed: B04) and sends
  the messages queued while offline (E11, E12).
- A device model (part 1 chapter 4, A201 appendix 3): components, variables, attributes,
  mutability and characteristics, read and written with GetVariables / SetVariables, reported
  with GetBaseReport / GetReport in NotifyReport parts. What the CSMS sets is kept across
  restarts (part 1 4.3: persistent variables).
- Transactions (E, F, J): TxStartPoint / TxStopPoint, TransactionEvent Started / Updated / Ended
  with seqNo, trigger reasons and sampled meter values; a simulated EV that draws
  `config.power_w` and may suspend and resume the energy transfer; a driver who may present an
  id token before the EV is connected, or never connect it (EVConnectionTimeOut); remote start
  and stop.
- Durability (E11-E13, A04.FR.02): every TransactionEvent and critical security event goes
  through one persistent queue, on disk before it is sent, delivered in order, with offline
  true for what happened offline, retried per MessageAttempts / MessageAttemptInterval; a full
  queue sheds TransactionEvent Updated messages first and never a transaction's Started or
  Ended. Transactions in progress are kept with their seqNo and meter register, so a station
  that lost power ends them on its next start (Ended, stoppedReason PowerLoss).
- Authorization (C01, C09-C15, D01, D02): online, the authorization cache (C10-C12, kept across
  restarts), the local authorization list (SendLocalList Full / Differential,
  GetLocalListVersion), offline authorization of known and unknown id tokens, group ids,
  TxCtrlr.StopTxOnInvalidId.
- Availability (G, kept across restarts: G03.FR.08), reset (B11, B12), unlock (F05), trigger
  (F06), network profiles (B09).
- Migration to another CSMS (B10): the network connection profiles of the configuration slots
  are tried in the order of OCPPCommCtrlr.NetworkConfigurationPriority (in effect from the next
  reboot), each OCPPCommCtrlr.NetworkProfileConnectionAttempts times, round robin; when every
  one failed, the profile of the last successful connection (B10.FR.07). The station decides,
  the Client that runs it connects: `provision`, `network_endpoint`, `connection_failed` and
  `network_profile_changed` (`ocppfast.station.fleet.attach` wires them).
- Smart charging (K01, K05, K08-K10; `charging_profiles`, `smart_charging`): SetChargingProfile,
  ClearChargingProfile, GetChargingProfiles (ReportChargingProfiles in parts),
  GetCompositeSchedule (EVSE 0: the station total), a TxProfile in RequestStartTransaction;
  profiles kept in `data`; a duplicate stackLevel/purpose with an overlapping validity is
  refused (DuplicateProfile). The limit in force caps the EV's power and goes to
  `hardware.set_current_limit`; changes are reported with TransactionEvent ChargingStateChanged
  / ChargingRateChanged (SmartChargingCtrlr.LimitChangeSignificance). 2.1 Dynamic profiles,
  PriorityCharging / LocalGeneration purposes, setpoints and V2X fields are Rejected with a
  reason.
- Reservations (H01-H04; `reservations`): ReserveNow of one EVSE or of any EVSE
  (ReservationCtrlr.NonEvseSpecific, optionally per connectorType: an EVSE of that type stays
  free for each), replaced by the same id; CancelReservation; a reserved connector is Reserved
  (also with an EV plugged in) and charges only the reservation's idToken or groupIdToken; the
  TransactionEvent reporting the authorization carries the reservationId; at expiryDateTime
  ReservationStatusUpdate Expired, when its EVSE becomes Unavailable Removed, both through the
  persistent queue. Kept in `data`.
- Firmware and logs (L01, L02, N01; `maintenance`):
  UpdateFirmware with every FirmwareStatusNotification and its requestId, retries,
  DownloadScheduled / InstallScheduled, installation once the transactions have ended through
  `hardware.install_firmware`, a reboot with reason FirmwareUpdate, then FirmwareUpdated and
  Installed; a new request cancels the one in progress (AcceptedCanceled). Signed firmware
  (L01): the signing certificate is checked against the manufacturer roots when the request
  comes (InvalidCertificate and the InvalidFirmwareSigningCertificate event otherwise), the
  signature over the whole file after the download (SignatureVerified, or InvalidSignature and
  the InvalidFirmwareSignature event, not installed); with a manufacturer root installed an
  unsigned request is Rejected (TC_L_18_CS). GetLog DiagnosticsLog / SecurityLog uploads a
  tar.gz over HTTP(S) with LogStatusNotification. An update in progress survives a restart.
  While the installation waits for the transactions to end, the EVSEs not in use are
  Unavailable, and each whose
  transaction ends becomes so, until the reboot (L01.FR.07, TC_L_13_CS / TC_L_15_CS), unless
  ChargingStation.AllowNewSessionsPendingFirmwareUpdate is true (TC_L_12_CS / TC_L_14_CS).
- Display messages (O01-O06; `display`): SetDisplayMessage, GetDisplayMessages
  (NotifyDisplayMessages in parts), ClearDisplayMessage; kept across restarts; in force from
  startDateTime until endDateTime on the station's clock, in their state, during their
  transaction; with the driver's personal message, the running and final cost and the
  TariffCostCtrlr fallback texts (I01-I06), the messages in force go to
  `hardware.show_messages`, highest priority first.
- Features this station does not implement (certificates, monitoring, 15118, 2.1 DER / local
  tariffs / battery swap / payment) are answered with the response a charger without them
  gives (Rejected, NotSupported, NotFound, ...), never a CALLERROR.

Spec keys as in `shared/ocpp-spec/README.md`: A201/A21 (appendices), J201 (OCPP-J), P6 (test
cases, TC_*), E201 (errata); requirement ids (B01.FR.01, ...) are those of OCPP 2.0.1 part 2 as
P6 and E201 quote them.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import re
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import msgspec
import orjson

from .. import v21, v201
from .._core import DEFAULT_MAX_FRAME_BYTES
from .._core.message import UNSET, dec_hook
from .._core.types import OCPP21, OCPP201, check_version
from ..asyncio.client import BackOff, connection_url, safe_url
from ..asyncio.connection import DEFAULT_CALL_TIMEOUT
from ..asyncio.handlers import Handlers, after, maybe_await, on
from ..exceptions import (
    CallTimeoutError,
    OCPPError,
    OutgoingMessageError,
    SecurityError,
    SessionClosedError,
)
from ..hardware import Hardware, SimulatedHardware
from ..hardware.base import Component, Indicator, MeterReading
from ..storage import StorageError
from .certificates import StationCertificates
from .charging_profiles import Installed, LimitKeeper, ProfileBook, ProfileLimits
from .config import (
    BOOT_RETRY_DEFAULT,
    NOMINAL_VOLTAGE,
    RECONNECT_GRACE,
    StationConfig,
    StationError,
    parse_time,
    utc_now,
)
from .display import (
    CAPACITY,
    MESSAGES_PER_NOTIFY,
    DisplayBook,
    DisplaySettings,
    EvseView,
    Situation,
)
from .hardware_link import BLOCKING, HardwareLink
from .maintenance import (
    FirmwareUpdate,
    LogUpload,
    Maintenance,
    StationLog,
    TrafficCapture,
    manufacturer_roots_of,
    nonnegative,
    optional_time,
)
from .reservations import Reservation, ReservationBook
from .smart_charging import Limit, Profile, Purpose, Unit, Unsupported, from_v201
from .store import NEVER_SHED, SHED_FIRST, SHED_LATER, Queued, StationData

_BACKOFF = BackOff()

__all__ = [
    "Attribute",
    "DeviceModel",
    "EnergyMeter",
    "NetworkEndpoint",
    "StationError",
    "StationV2",
    "Transaction",
    "Variable",
]

_log = logging.getLogger("ocppfast.station")
_F = TypeVar("_F", bound=Callable[..., Any])

_V2 = (OCPP201, OCPP21)
_MODULES: dict[str, Any] = {OCPP201: v201, OCPP21: v21}

# Measurands the simulated meter measures (A201 appendix 3: "valuesList=subset(<supported
# measurands>)"), with their units (A201 appendix 2).
_MEASURAND_UNITS = {
    "Energy.Active.Import.Register": "Wh",
    "Power.Active.Import": "W",
    "Current.Import": "A",
    "Voltage": "V",
}
_MEASURANDS = tuple(_MEASURAND_UNITS)
# Transaction start and stop points the simulation can detect (A201 3.1.18 TxCtrlr): there is no
# parking bay sensor and no signed meter, so ParkingBayOccupancy and DataSigned are not offered;
# the simulated EV draws power as soon as the power path closes, so EnergyTransfer coincides with
# PowerPathClosed, unless the EV suspended the energy transfer (`StationV2.ev_suspend`).
_TX_POINTS = ("EVConnected", "Authorized", "PowerPathClosed", "EnergyTransfer")
_CONNECTOR_STATUSES = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")
# ReportData entries per NotifyReportRequest: the report goes out in parts (B07, TC_B_12_CS:
# seqNo from 0, tbc true on every part but the last).
_REPORT_ITEMS_PER_MESSAGE = 20
# DeviceDataCtrlr.ItemsPerMessage for GetVariables, SetVariables and GetReport.
_ITEMS_PER_MESSAGE = 50
# Configuration slots for network connection profiles (B09; TC_B_53_CS: "subset(1, 2, 3, 4, 5)").
_NETWORK_SLOTS = (1, 2, 3)
# The slot of the profile the station was installed with (`StationV2.provision`): the first, and
# only, entry of NetworkConfigurationPriority's default value.
_PROVISIONED_SLOT = 1
# What the authorization cache (AuthCacheCtrlr.Storage maxLimit) and the local authorization list
# (LocalAuthListCtrlr.Entries / Storage maxLimit, ItemsPerMessage) hold at most: some 2,000 cached
# tokens and the 10,000 of a large operator's list, in a few MiB.
_CACHE_MAX_BYTES = 256 * 1024
_LOCAL_LIST_MAX_ENTRIES = 10_000
_LOCAL_LIST_MAX_BYTES = 2 * 1024 * 1024
_LOCAL_LIST_ITEMS_PER_MESSAGE = 250
# SecurityCtrlr.CertificateEntries maxLimit (TC_B_53_CS: a required variable, maxLimit > 0): the
# room of the certificate store (`station.certificates`), a few CSMS / Manufacturer / V2G roots
# each; InstallCertificate answers Failed when it is full.
_CERTIFICATE_MAX_ENTRIES = 16
# The id token lists of StationData.tokens and the entries of StationData.state.
_CACHE = "cache"
_LOCAL = "local"
_STATION_STATE = "station"  # station-level availability (G04)
_EVSE_STATE = "evse:{}"  # an EVSE: meter, availability, the transaction in progress
_SAMPLES_STATE = "samples:{}"  # the TxEnded samples of that transaction (J02)
_PROFILES_STATE = "network_profiles"  # B09
_NETWORK_STATE = "network"  # B10: the slot of the last successful connection
# A01 rotation: the BasicAuthPasswords before the current one, newest first, kept until a
# connection with the current one succeeded (`StationV2.password_confirmed`).
_PREVIOUS_PASSWORDS = "previous_passwords"
_LOCAL_VERSION_STATE = "local_list_version"  # D01
# What SetChargingProfile accepts (SmartChargingCtrlr.ProfileStackLevel, PeriodsPerSchedule,
# RateUnit, Entries maxLimit: K01); ReportChargingProfiles carries this many profiles (K09).
_SMART_CHARGING = ProfileLimits()
_PROFILES_PER_REPORT = 10
# ClearChargingProfile / GetChargingProfiles criteria purposes in the book's terms.
_PURPOSES: dict[str, Purpose] = {
    "ChargingStationMaxProfile": "ChargePointMax",
    "ChargingStationExternalConstraints": "ExternalConstraints",
    "TxDefaultProfile": "TxDefault",
    "TxProfile": "Tx",
}
# Sampled values kept per transaction for its Ended event (SampledDataCtrlr.TxEndedInterval).
_ENDED_SAMPLES_LIMIT = 500
# The languages the display has fonts for (2.1 DisplayMessageCtrlr.Language valuesList, RFC 5646).
_DISPLAY_LANGUAGES = ("en", "de", "fr", "nl", "es", "it")
# Reason codes of StatusInfo (A201 appendix 5).
_UNSUPPORTED = "UnsupportedRequest"
# The CALLs of features this station does not have, answered as a charger without them:
# action -> (status, feature) (see `StationV2._on_without_feature`).
_WITHOUT_FEATURE = {
    "PublishFirmware": ("Rejected", "firmware publishing"),
    "GetMonitoringReport": ("NotSupported", "monitoring"),
    "SetMonitoringBase": ("NotSupported", "monitoring"),
    "SetMonitoringLevel": ("Rejected", "monitoring"),
    "AFRRSignal": ("Rejected", "aFRR / V2X control"),
    "AdjustPeriodicEventStream": ("Rejected", "periodic event streams"),
    "SetDefaultTariff": ("Rejected", "tariffs"),
    "GetTariffs": ("NoTariff", "tariffs"),
    "SetDERControl": ("NotSupported", "DER control"),
    "GetDERControl": ("NotSupported", "DER control"),
    "ClearDERControl": ("NotSupported", "DER control"),
    "NotifyAllowedEnergyTransfer": ("Rejected", "ISO 15118-20 energy transfer modes"),
    "RequestBatterySwap": ("Rejected", "battery swapping"),
    "UpdateDynamicSchedule": ("Rejected", "smart charging"),
    "UsePriorityCharging": ("NoProfile", "priority charging"),
}
# A201 appendix 1: the security events the client may report while connecting that are
# critical (pushed to the CSMS); FailedToAuthenticateAtCsms is not.
_CONNECT_CRITICAL = frozenset(
    ("InvalidCsmsCertificate", "InvalidTLSVersion", "InvalidTLSCipherSuite")
)
# SecurityCtrlr.BasicAuthPassword (A201 3.1.15): a passwordString (2.0.1 part 2 2.1.4: letters,
# digits and *-_=:+|@.) of 16 to 40 characters.
_PASSWORD = re.compile(r"[A-Za-z0-9*\-_=:+|@.]{16,40}")
_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _on_each(actions: Iterable[str]) -> Callable[[_F], _F]:
    """`@on(action, versions=_V2)` for each of `actions`: one method handles them all."""

    def mark(method: _F) -> _F:
        for action in actions:
            on(action, versions=_V2)(method)
        return method

    return mark


class _Prefixed(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Log lines of one station start with its identity."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"{(self.extra or {}).get('identity', '?')}: {msg}", kwargs


def _settle(waiter: asyncio.Future[bool], changed: bool) -> None:
    """End a `StationV2._wait_change` (by a change or its timer, whichever comes first)."""
    if not waiter.done():
        waiter.set_result(changed)


def _text(value: Any) -> str:
    """The wire text of an enumeration member (or of a plain string)."""
    return str(value.value) if isinstance(value, enum.Enum) else str(value)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _json_size(token: str, info: Any) -> int:
    """The bytes an id token list entry takes (AuthCacheCtrlr / LocalAuthListCtrlr Storage)."""
    return len(token.encode()) + len(orjson.dumps(info))


def _describe(item: Queued) -> str:
    """A queued message for the log: its action and, for a TransactionEvent, what it is."""
    try:
        payload = item.decoded()
    except ValueError:
        payload = None
    if item.action != "TransactionEvent" or not isinstance(payload, dict):
        return item.action
    info = payload.get("transactionInfo")
    transaction = info.get("transactionId") if isinstance(info, dict) else None
    return (
        f"TransactionEvent {payload.get('eventType')} seqNo {payload.get('seqNo')}"
        f" of transaction {transaction}"
    )


def _wire(value: Any) -> dict[str, Any] | None:
    """A message structure as its wire JSON (what `ocppfast.station.display` reads), or None
    when absent."""
    return None if value is UNSET else msgspec.to_builtins(value)


# ------------------------------------------------------------------------------------------
# The simulated energy meter


class EnergyMeter:
    """An energy register that integrates the power drawn over the station's clock.

    `register_wh` is the cumulative Energy.Active.Import.Register; `power_w` the power drawn
    now. Reading the meter advances it to the clock's current time, so the energy follows the
    injected clock exactly (a test that moves its clock by an hour at 11 kW sees 11 kWh). A
    meter built with a register and charging seconds goes on from what a previous run kept."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        register_wh: float = 0.0,
        charging_seconds: float = 0.0,
    ) -> None:
        self._clock = clock
        self._register = register_wh
        self._power = 0.0
        self._charging_seconds = charging_seconds
        self._last = clock()
        #: The hardware meter's reading, which wins over the simulated register when it has
        #: one; told when power starts or stops flowing (the contactor follows it).
        self.source: Callable[[], MeterReading | None] = _no_reading
        self.switched: Callable[[bool], None] | None = None

    def _advance(self) -> None:
        now = self._clock()
        seconds = (now - self._last).total_seconds()
        if seconds > 0:
            self._register += self._power * seconds / 3600.0
            if self._power > 0:
                self._charging_seconds += seconds
        self._last = now

    @property
    def register_wh(self) -> float:
        """The energy register now, in Wh: the hardware meter's, else the simulated one."""
        self._advance()
        reading = self.source()
        if reading is not None and reading.energy_wh is not None:
            return reading.energy_wh
        return self._register

    @property
    def charging_seconds(self) -> float:
        """Seconds during which power was drawn, in total."""
        self._advance()
        return self._charging_seconds

    @property
    def power_w(self) -> float:
        """The power drawn now, in W."""
        return self._power

    @power_w.setter
    def power_w(self, watts: float) -> None:
        self._advance()
        flowing = self._power > 0
        self._power = max(0.0, watts)
        if self.switched is not None and flowing != (self._power > 0):
            self.switched(self._power > 0)


def _no_reading() -> MeterReading | None:
    return None


# ------------------------------------------------------------------------------------------
# The device model (OCPP 2.0.1 part 1 chapter 4)


@dataclass(eq=False)
class Attribute:
    """One attribute of a variable (Actual, Target, MinSet or MaxSet): its value and mutability.
    `getter` makes it live (e.g. ClockCtrlr.DateTime); `on_set` is told of an accepted write."""

    value: str = ""
    mutability: str = "ReadWrite"
    getter: Callable[[], str] | None = None
    on_set: Callable[[str], None] | None = None

    def read(self) -> str:
        """The attribute's value now."""
        return self.getter() if self.getter is not None else self.value


@dataclass(eq=False)
class Variable:
    """One variable of one component instance, with its attributes and characteristics
    (part 1 4.3): `data_type` is a DataEnumType value; `max_limit` is a string's maximum length
    and a number's upper bound; `values_list` the allowed values of an OptionList, MemberList
    or SequenceList."""

    component: str
    name: str
    data_type: str
    attributes: dict[str, Attribute]
    component_instance: str | None = None
    instance: str | None = None
    evse: int | None = None
    connector: int | None = None
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: tuple[str, ...] | None = None
    min_members: int = 0
    reboot_required: bool = False
    persistent: bool = True
    constant: bool = False

    @property
    def actual(self) -> str:
        """The Actual value (write-only variables keep it, but never report it)."""
        return self.attributes["Actual"].read()

    def normalize(self, text: str) -> tuple[str | None, str]:
        """Check `text` against the data type and characteristics: (the value to store, "") or
        (None, the StatusInfo reason code: InvalidValue or ValueOutOfRange, A201 appendix 5)."""
        kind = self.data_type
        if kind == "integer" or kind == "decimal":
            pattern = _INTEGER if kind == "integer" else _DECIMAL
            if pattern.fullmatch(text.strip()) is None:
                return None, "InvalidValue"
            number = float(text) if kind == "decimal" else int(text)
            if not math.isfinite(number):
                return None, "InvalidValue"
            if (self.min_limit is not None and number < self.min_limit) or (
                self.max_limit is not None and number > self.max_limit
            ):
                return None, "ValueOutOfRange"
            return (str(number) if kind == "integer" else text.strip()), ""
        if kind == "boolean":
            lowered = text.strip().lower()
            return (lowered, "") if lowered in ("true", "false") else (None, "InvalidValue")
        if kind == "dateTime":
            try:
                moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            except ValueError:
                return None, "InvalidValue"
            return (_iso(moment), "") if moment.tzinfo is not None else (None, "InvalidValue")
        if kind == "OptionList":
            match = self._canonical(text.strip())
            return (match, "") if match is not None else (None, "InvalidValue")
        if kind in ("MemberList", "SequenceList"):
            members = [part.strip() for part in text.split(",")] if text.strip() else []
            canonical = [self._canonical(member) for member in members]
            if None in canonical or len(set(canonical)) != len(canonical):
                return None, "InvalidValue"
            if len(canonical) < self.min_members or (
                self.max_limit is not None and len(canonical) > self.max_limit
            ):
                return None, "ValueOutOfRange"
            return ",".join(c for c in canonical if c is not None), ""
        # string
        if self.max_limit is not None and len(text) > self.max_limit:
            return None, "ValueOutOfRange"
        return text, ""

    def _canonical(self, member: str) -> str | None:
        if self.values_list is None:
            return member
        folded = member.casefold()
        return next((value for value in self.values_list if value.casefold() == folded), None)


_Key = tuple[str, str, int | None, int | None, str, str]
_ComponentKey = tuple[str, str, int | None, int | None]


def _component_key(
    name: str, instance: str | None, evse: int | None, connector: int | None
) -> _ComponentKey:
    # Component and variable names and instances are case-insensitive identifiers (CiString in
    # the 2.0.1 part 2 data types).
    return (name.casefold(), (instance or "").casefold(), evse, connector)


class DeviceModel:
    """The station's components and variables, addressed as part 1 4.1-4.2 describe: component
    name, component instance, EVSE id and connector id, variable name and variable instance."""

    def __init__(self) -> None:
        self._variables: dict[_Key, Variable] = {}

    def add(self, variable: Variable) -> Variable:
        """Add `variable` (replacing one with the same address) and return it."""
        key = (
            *_component_key(
                variable.component, variable.component_instance, variable.evse, variable.connector
            ),
            variable.name.casefold(),
            (variable.instance or "").casefold(),
        )
        self._variables[key] = variable
        return variable

    def variables(self) -> list[Variable]:
        """Every variable, in the order they were added."""
        return list(self._variables.values())

    def find(
        self,
        component: str,
        name: str,
        *,
        component_instance: str | None = None,
        instance: str | None = None,
        evse: int | None = None,
        connector: int | None = None,
    ) -> Variable | None:
        """The variable at exactly this address, or None."""
        key = (
            *_component_key(component, component_instance, evse, connector),
            name.casefold(),
            (instance or "").casefold(),
        )
        return self._variables.get(key)

    def has_component(
        self,
        component: str,
        *,
        component_instance: str | None = None,
        evse: int | None = None,
        connector: int | None = None,
    ) -> bool:
        """Whether any variable belongs to this component instance."""
        wanted = _component_key(component, component_instance, evse, connector)
        return any(key[:4] == wanted for key in self._variables)

    def get(self, component: str, name: str, instance: str | None = None) -> str:
        """The Actual value of a station-level variable that must exist."""
        variable = self.find(component, name, instance=instance)
        if variable is None:
            raise KeyError(f"{component}.{name}" + (f"[{instance}]" if instance else ""))
        return variable.actual

    def get_int(self, component: str, name: str, instance: str | None = None) -> int:
        """The Actual value of an integer variable."""
        return int(self.get(component, name, instance))

    def get_bool(self, component: str, name: str, instance: str | None = None) -> bool:
        """The Actual value of a boolean variable."""
        return self.get(component, name, instance) == "true"

    def get_list(self, component: str, name: str, instance: str | None = None) -> list[str]:
        """The members of a MemberList or SequenceList variable, in order."""
        text = self.get(component, name, instance)
        return [member for member in text.split(",") if member]

    def set_actual(
        self, component: str, name: str, value: str, instance: str | None = None
    ) -> None:
        """Set the Actual value of a station-level variable, whatever its mutability (the
        station's own changes, such as the heartbeat interval a BootNotificationResponse gives)."""
        variable = self.find(component, name, instance=instance)
        if variable is None:
            raise KeyError(f"{component}.{name}")
        variable.attributes["Actual"].value = value


# ------------------------------------------------------------------------------------------
# Transactions and EVSEs


@dataclass(eq=False)
class Transaction:
    """A live transaction on one EVSE (whose single connector has id 1).

    `id` is the transactionId (a UUID); `id_token` the token that authorized it (None while no
    one has); `meter_start` the energy register in Wh when it started; `energy_wh` the energy
    delivered since."""

    id: str
    evse_id: int
    meter_start: float
    started_at: datetime
    meter: EnergyMeter = field(repr=False)
    id_token: str | None = None
    token_type: str = ""
    # The groupIdToken of the token that authorized it: another token of the group may stop it
    # (C09).
    group_id: str | None = None
    remote_start_id: int | None = None
    # The reservation its authorization used: the TransactionEvent that reports the
    # authorization carries it (H03).
    reservation_id: int | None = None
    authorized: bool = False
    # Why the energy transfer was stopped, when the transaction goes on until the EV is
    # unplugged (TxStopPoint without Authorized).
    stop_reason: str | None = None
    # The CSMS said the token is not valid and TxCtrlr.StopTxOnInvalidId is false: the EVSE
    # withholds the energy (SuspendedEVSE, TC_C_17_CS) and the transaction goes on.
    suspended: bool = False
    total_cost: float | None = None
    seq_no: int = 0
    charging_state: str = ""
    charging_seconds_start: float = 0.0
    # The authorization still has to be reported (first TransactionEvent after it carries the
    # idToken, and after a RequestStartTransaction the triggerReason RemoteStart, P6 2.1).
    announce: bool = False
    ended_samples: list[Any] = field(default_factory=list, repr=False)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list, repr=False)

    @property
    def energy_wh(self) -> float:
        """Energy delivered so far, in Wh."""
        return self.meter.register_wh - self.meter_start

    @property
    def time_spent_charging(self) -> int:
        """Seconds of energy transfer so far."""
        return int(self.meter.charging_seconds - self.charging_seconds_start)


@dataclass(eq=False)
class _Authorization:
    """An id token authorized for an EVSE (locally, or by a RequestStartTransaction)."""

    id_token: str
    token_type: str
    remote_start_id: int | None = None
    group: str | None = None  # its groupIdToken (C09)
    reservation_id: int | None = None  # the reservation it uses (H03)


@dataclass(frozen=True)
class _Verdict:
    """What authorizing an id token decided: its AuthorizationStatusEnumType value (Accepted
    lets it charge), its groupIdToken, and who decided (for the log)."""

    status: str
    group: str | None
    source: str

    @property
    def accepted(self) -> bool:
        """Whether the token may charge."""
        return self.status == "Accepted"


@dataclass(eq=False)
class _Evse:
    id: int
    meter: EnergyMeter
    operative: bool = True  # EVSE-level availability (G03), kept across reboots (G03.FR.08)
    connector_operative: bool = True  # connector-level availability (G03)
    scheduled: bool | None = None  # an EVSE-level change waiting for the transaction (G03.FR.05)
    scheduled_connector: bool | None = None
    reset_scheduled: bool = False  # an OnIdle reset of this EVSE (B12.FR.07)
    plugged: bool = False
    # The plugged-in EV suspended the energy transfer (it takes no energy: SuspendedEV, E06 S6).
    ev_suspended: bool = False
    authorization: _Authorization | None = None
    remote_pending: _Authorization | None = None  # a RequestStartTransaction being authorized
    status: str = ""  # last status computed
    reported: str = ""  # last status the CSMS received ("" after a reboot: B04)
    timeout: asyncio.Task[Any] | None = None  # EVConnectionTimeOut (E03)


# The device model component of each part of the charger (part 2 appendix 3.2), for the
# NotifyEvent of its Problem variable.
_COMPONENTS: dict[Component, str] = {
    "meter": "FiscalMetering",
    "token_reader": "TokenReader",
    "contactor": "PowerContactor",
    "current_limit": "CPPWMController",
}

# Trigger reasons for a stop, by stoppedReason (2.0.1 part 2 E06-E08, F03).
_STOP_TRIGGERS = {
    "Local": "StopAuthorized",
    "Remote": "RemoteStop",
    "DeAuthorized": "Deauthorized",
    "EVDisconnected": "EVCommunicationLost",
    "Timeout": "EVConnectTimeout",
    "ImmediateReset": "ResetCommand",
    "EnergyLimitReached": "EnergyLimitReached",
    "TimeLimitReached": "TimeLimitReached",
}
_STOPPED_REASONS_201 = frozenset(member.value for member in v201.ReasonEnum)


def _token_entry(token_type: str, info: Any) -> dict[str, Any]:
    """What the cache and the local list keep of an IdTokenInfo: its status, cacheExpiryDateTime
    and groupIdToken (C09, C10, D01), with the IdToken's type."""
    expires = info.cache_expiry_date_time
    group = info.group_id_token
    return {
        "type": token_type,
        "status": _text(info.status),
        "expires": None if expires is UNSET else _iso(expires),
        "group": None if group is UNSET else group.id_token,
    }


def _group(entry: dict[str, Any]) -> str | None:
    group = entry.get("group")
    return group if isinstance(group, str) and group else None


def _unusable_url(url: str, identity: str) -> str:
    """Why no connection can be made to the CSMS endpoint `url` ("" when one can): J201 3.1.1,
    a ws:// or wss:// URL with a host, to which the identity is appended (`connection_url`)."""
    try:
        connection_url(url, identity)
    except ValueError as exc:
        return f"ocppCsmsUrl: {exc}"
    return ""


def _setting_key(variable: Variable, attribute: str) -> str:
    """The name a device model attribute value is kept under in `StationData.settings`: its
    whole address (component, instance, EVSE, connector, variable, instance, attribute type)."""
    address = (
        variable.component,
        variable.component_instance,
        variable.evse,
        variable.connector,
        variable.name,
        variable.instance,
        attribute,
    )
    return orjson.dumps(address).decode()


def _check_config(config: StationConfig) -> None:
    # ChargingStationType's lengths (BootNotificationRequest schema): refused here, once, rather
    # than by the validator at every boot attempt.
    limits = (
        ("vendor", config.vendor, 50),
        ("model", config.model, 20),
        ("serial_number", config.serial_number or "", 25),
        ("firmware_version", config.firmware_version, 50),
    )
    for name, value, limit in limits:
        if len(value) > limit:
            raise ValueError(f"StationConfig.{name} is {len(value)} characters, at most {limit}")
    if config.connectors < 1:
        raise ValueError("a charging station has at least one connector")
    if config.heartbeat_interval < 1 or config.meter_interval < 0:
        raise ValueError("heartbeat_interval must be positive and meter_interval not negative")


@dataclass(frozen=True)
class NetworkEndpoint:
    """Where and how the Client connects with the network connection profile of one
    configuration slot (B09, B10): `url` is the profile's ocppCsmsUrl (the station's identity is
    appended to it: J201 3.1.1), `message_timeout` its messageTimeout in seconds (the Client's
    `call_timeout`), `security_profile` its securityProfile, `password` the Basic auth password
    to connect with (the profile's own basicAuthPassword in 2.1, else
    SecurityCtrlr.BasicAuthPassword or the configured one; None: none). The password is
    never shown (not even by repr)."""

    slot: int
    url: str
    message_timeout: float
    security_profile: int
    password: str | None = field(default=None, repr=False)


# The FirmwareStatusEnumType values this station reports (L01, L02): SignatureVerified and
# InvalidSignature for signed firmware; never InstallVerificationFailed or DownloadPaused.
_FIRMWARE_STATUSES = frozenset(
    {
        "SignatureVerified",
        "InvalidSignature",
        "Downloading",
        "Downloaded",
        "DownloadFailed",
        "DownloadScheduled",
        "InstallScheduled",
        "Installing",
        "InstallRebooting",
        "Installed",
        "InstallationFailed",
    }
)


class _MaintenanceV2:
    """How `Maintenance` (firmware updates, log uploads) reports through a `StationV2`:
    FirmwareStatusNotification (L01, L02) and LogStatusNotification (N01) with their requestId,
    its transactions, its reboot (boot reason FirmwareUpdate), its security events."""

    def __init__(self, station: StationV2) -> None:
        self.station = station

    async def firmware_status(self, status: str, request_id: int | None) -> None:
        station = self.station
        await station._try_call(
            station._m.FirmwareStatusNotificationRequest(
                status=status, request_id=UNSET if request_id is None else request_id
            ),
            f"FirmwareStatusNotification {status}",
        )

    async def upload_status(self, upload: LogUpload, status: str) -> None:
        station = self.station
        await station._try_call(
            station._m.LogStatusNotificationRequest(
                status=status,
                request_id=UNSET if upload.request_id is None else upload.request_id,
            ),
            f"LogStatusNotification {status}",
        )

    def transactions_running(self) -> bool:
        return bool(self.station.transactions)

    def installation_pending(self, pending: bool) -> None:
        # L01.FR.07 (TC_L_13_CS, TC_L_15_CS step 11): unless
        # ChargingStation.AllowNewSessionsPendingFirmwareUpdate is true (TC_L_12_CS,
        # TC_L_14_CS), the EVSEs not in use are Unavailable until the firmware is installed,
        # and so is every one whose transaction ends meanwhile (`_effective_operative`).
        station = self.station
        station._firmware_pending = pending
        station._refresh_later(station._evses.values())

    async def reboot(self) -> None:
        # L01: the station reboots into the new firmware; its next BootNotification gives
        # the reason FirmwareUpdate (TC_L_01_CS step 13). The EVSEs open again: the boot
        # reports them all (TC_L_15_CS step 21).
        self.station._firmware_pending = False
        await self.station._reset_now("FirmwareUpdate")

    def security_event(self, kind: str, info: str) -> None:
        self.station._security_event(kind, info)


class StationV2(Handlers):
    """A simulated OCPP 2.0.1 / 2.1 charging station (see the module docstring).

    - `config`: identity, vendor, model, serial number, firmware, number of EVSEs (one connector
      each), the default heartbeat and meter intervals, and the power the simulated EV draws.
    - `version`: "ocpp2.0.1" or "ocpp2.1"; a connection negotiated on the other 2.x version
      switches the message types to it.
    - `clock`: the time source for every timestamp and for the energy meter (default: now, UTC).
    - `data`: what the station keeps across restarts (`await StationStore.load(identity)`;
      default: in memory, nothing survives the process). A station built from data carries on
      where the previous process stopped: the device model values the CSMS set, the
      authorization cache and local list, availability, network profiles and the queue of
      messages to deliver; transactions that were in progress end at once with stoppedReason
      PowerLoss (the power was lost), queued behind what was queued. Build it inside the event
      loop when the data holds such transactions.

    Use one instance for the station's whole life and hand it to every `Connection`
    (`Connection(transport, role="station", handlers=station)`); `connected()` and
    `disconnected()` start and stop the per-connection work. `await station.shutdown()` ends it.

    Whoever runs the Client that connects the station (`ocppfast.station.fleet.attach`) gives it
    the endpoint of configuration slot 1 (`provision`), connects to `network_endpoint`, tells it
    of every failed attempt (`connection_failed`), and sets the callbacks through which the
    station tells what to use from the next attempt on: `network_profile_changed` (B10),
    `password_changed` (A01), `backoff_changed` (J201 5.3) and `ping_interval_changed`
    (J201 8.4).
    """

    def __init__(
        self,
        config: StationConfig,
        version: str = OCPP201,
        *,
        clock: Callable[[], datetime] | None = None,
        data: StationData | None = None,
        hardware: Hardware | None = None,
    ) -> None:
        version = check_version(version)
        if version not in _V2:
            raise ValueError(f"StationV2 speaks ocpp2.0.1 and ocpp2.1, not {version}")
        _check_config(config)
        self.config = config
        # What survives a restart (device model, cache, local list, queue, transactions); in
        # memory unless the caller loaded it from a StationStore.
        self.data = data if data is not None else StationData.in_memory(config.identity)
        # The charger's electronics: current limits, firmware installs, the display.
        self.hardware: Hardware = hardware if hardware is not None else SimulatedHardware()
        self.version: str = version
        self._m: Any = _MODULES[version]
        self.clock: Callable[[], datetime] = clock or utc_now
        self.log: logging.LoggerAdapter[logging.Logger] = _Prefixed(
            _log, {"identity": config.identity}
        )
        # Registration status from the last BootNotificationResponse, "" before one came.
        self.registration = ""
        # Set while the station is connected and accepted by the CSMS (after an Accepted
        # BootNotification, or on a new connection once accepted), as Station16's: cleared when
        # the connection ends.
        self.booted = asyncio.Event()
        # Installed root certificates and the station's own certificate (A02/A03, M03-M05),
        # kept in `data`; `fleet.attach` has the client connect with them.
        self.certificates = StationCertificates(
            self.data,
            config.identity,
            wrote=self._track,
            security_event=self._security_event,
            invalid_event="InvalidChargingStationCertificate",  # A02.FR.07
            capacity=_CERTIFICATE_MAX_ENTRIES,
            clock=self.now,
        )
        # Whether the simulated driver plugs the EV in right after a remote start (set False to
        # simulate a driver who never comes: TxCtrlr.EVConnectionTimeOut, E03).
        self.auto_plug = True
        self.transactions: dict[int, Transaction] = {}
        # Network connection profiles set with SetNetworkProfile, by configuration slot (B09).
        self.network_profiles: dict[int, Any] = self._load_profiles()
        # B10: the URL and message timeout of slot 1 unless a profile was set there
        # (`provision`); the slots to try, in the order of NetworkConfigurationPriority as it was
        # at the last reboot (the variable needs one to take effect); the slot of the current or
        # next attempt (ActiveNetworkProfile); consecutive failed attempts with it; the slots
        # whose attempts all failed since the last connection; whether the station is back on
        # the profile of its last successful connection (B10.FR.07); the slot the CSMS accepted
        # the BootNotification on (B10.FR.10).
        self._provisioned: tuple[str, float] | None = None
        self._priority: list[int] = [_PROVISIONED_SLOT]
        self._slot = _PROVISIONED_SLOT
        self._failed_attempts = 0
        self._exhausted: set[int] = set()
        self._falling_back = False
        self._registered_slot: int | None = None
        last = self._saved(_NETWORK_STATE).get("last_connected")
        self._last_connected: int | None = last if isinstance(last, int) else None
        # Told of changes the Client that runs this station must apply from the next connection
        # on (set by whoever runs the client, e.g. the CLI): the Basic auth password the CSMS
        # set (A01), the reconnection back-off (OCPPCommCtrlr.RetryBackOff*, J201 5.3) and the
        # WebSocket ping interval (OCPPCommCtrlr.WebSocketPingInterval, J201 8.4).
        self.password_changed: Callable[[str], Any] | None = None
        self._reconnect_for_password = False
        self.backoff_changed: Callable[[BackOff], Any] | None = None
        self.ping_interval_changed: Callable[[int], Any] | None = None
        # ... and the network connection profile to connect with (B10).
        self.network_profile_changed: Callable[[NetworkEndpoint], Any] | None = None
        self._configured_password: str | None = None
        # The security log (A201 appendix 1): (time, event type, tech info).
        self.security_log: deque[tuple[datetime, str, str]] = deque(maxlen=1000)
        # The last write to `data` whose commit what is sent next waits for (write_barrier).
        self._last_write: asyncio.Future[None] | None = None
        self._conn_tasks: set[asyncio.Task[Any]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        # The charger's electronics: plug, card reader, meter and faults in; contactor, current
        # limit and indicator out (hardware_link.py).
        self._link = HardwareLink(self.hardware, self, self.log)
        self._event_id = 0  # NotifyEvent eventIds
        lost: list[tuple[_Evse, dict[str, Any]]] = []
        self._evses = {
            evse_id: self._load_evse(evse_id, lost) for evse_id in range(1, config.connectors + 1)
        }
        # Station-level availability (G04), kept across reboots (G04.FR.09) and restarts.
        saved = self._saved(_STATION_STATE)
        self._operative = saved.get("operative") is not False
        self._reset_scheduled: str | None = None  # boot reason of an OnIdle reset waiting
        self._rebooting: str | None = None  # boot reason while a reset closes the connection
        self._resume_transactions = False  # 2.1 ImmediateAndResume
        self._boot_reason = "PowerUp"
        self._startup_event = "StartupOfTheDevice"
        # The last security event the client reported while connecting (raised once per run of
        # failed attempts, `connect_security_event`).
        self._connect_event: str | None = None
        self._boot_call: asyncio.Future[Any] | None = None
        self._boot_now = asyncio.Event()
        self._time_offset = timedelta(0)
        self._tx_wakeup = asyncio.Event()
        self._tx_idle = asyncio.Event()
        if not self.data.queue:
            self._tx_idle.set()
        # The timers waiting in `_wait_change`, woken by `_notify_change`.
        self._change_waiters: set[asyncio.Future[bool]] = set()
        self._live: Any = None  # the Connection while it runs
        self._offline_since: datetime | None = None
        self._station_tasks_started = False
        # The station's log from here on keeps its lines (and `traffic` the frames) for a
        # GetLog to upload (maintenance.py), the books' lines too.
        self.log = StationLog(self.log, self.now)
        self._link.log = self.log
        self.traffic = TrafficCapture(self.now)
        # Reservations (H01-H04), kept in `data`, expired by the station's clock.
        self._reservations = ReservationBook(
            self.data,
            self.now,
            log=self.log,
            name="",
            expired=self._reservations_expired,
            wrote=self._track,
        )
        # The display messages the CSMS set (O01-O06, kept in `data`) and what the display
        # shows of a driver's session (I01-I06): ocppfast.station.display.
        self.display = DisplayBook(
            self.data,
            now=self.now,
            situation=self._display_situation,
            settings=self._display_settings,
            show=self.hardware.show_messages,
            track=self._track,
            log=self.log,
        )
        # Smart charging (K01-K10): the installed profiles, kept in `data`, and the limit they
        # put on each EVSE, as the power in W the simulated EV may draw there.
        self._profiles = ProfileBook(
            self.data, self._parse_profile, self._track, self.log, duplicates="refused"
        )
        self._allowed_w: dict[int, float] = {}
        self._limits = LimitKeeper(
            self._profiles,
            list(self._evses),
            self.now,
            self._tx_start,
            self._apply_limit,
            self._spawn,
            voltage=NOMINAL_VOLTAGE,
            phases=self._phases(),
        )
        # K01: the limits of the profiles kept across a restart hold from the start, before
        # (and without) a connection to the CSMS; their timer starts with the station's tasks.
        self._limits.refresh()
        # The firmware update and the log uploads (maintenance.py).
        self._maintenance = Maintenance(
            name=config.identity,
            log=self.log,
            traffic=self.traffic,
            clock=self.now,
            data=self.data,
            hardware=self.hardware,
            reporter=_MaintenanceV2(self),
            firmware_statuses=_FIRMWARE_STATUSES,
            manufacturer_roots=lambda: manufacturer_roots_of(self),
            security_log=self.security_log,
        )
        # Whether a firmware installation waits for the transactions to end (L01.FR.06/07).
        self._firmware_pending = False
        self.device_model = self._build_device_model()
        self._load_settings()
        # B10.FR.04: after a reboot (a power-up is one) the first entry of the priority first.
        self._priority = self._configured_priority()
        self._slot = self._priority[0]
        self._end_lost_transactions(lost)
        self.display.refresh()  # what was set before the restart shows again

    def __repr__(self) -> str:
        return f"<StationV2 {self.config.identity} {self.version} {self.registration or '-'}>"

    # -- public API --------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        """Whether a connection to the CSMS is up."""
        return self._live is not None and not self._live.closed

    def now(self) -> datetime:
        """The station's time: the clock, corrected by the CSMS's time when
        ClockCtrlr.TimeSource starts with Heartbeat."""
        return self.clock() + self._time_offset

    def connector_status(self, connector_id: int) -> str:
        """The ConnectorStatus of EVSE `connector_id`'s connector (Available, Occupied,
        Unavailable, ...)."""
        return self._status_of(self._evse(connector_id))

    async def plug_in(self, connector_id: int) -> None:
        """The simulated EV is plugged into EVSE `connector_id`: the connector becomes Occupied
        and, per TxStartPoint, a transaction starts or charging begins."""
        evse = self._evse(connector_id)
        if evse.plugged:
            return
        evse.plugged = True
        self.log.info("EV plugged in at EVSE %d", evse.id)
        if evse.timeout is not None:
            evse.timeout.cancel()
            evse.timeout = None
        await self._status_changed(evse)
        self._advance(evse, "CablePluggedIn")

    async def unplug(self, connector_id: int) -> None:
        """The simulated EV is unplugged from EVSE `connector_id`: a transaction on it ends
        (TxCtrlr.StopTxOnEVSideDisconnect is true: E10) and the connector becomes Available."""
        evse = self._evse(connector_id)
        if not evse.plugged:
            return
        evse.plugged = False
        self.log.info("EV unplugged from EVSE %d", evse.id)
        evse.meter.power_w = 0.0
        evse.authorization = None
        transaction = self.transactions.get(evse.id)
        if transaction is not None:
            # E10 / P6 reusable state EVDisconnected: EVCommunicationLost; the reason of an
            # earlier stop (F03.FR.03: Remote) when the energy transfer had been stopped already.
            reason = transaction.stop_reason or "EVDisconnected"
            self._end(evse, transaction, "EVCommunicationLost", reason)
        evse.ev_suspended = False  # the next EV is ready to charge
        await self._status_changed(evse)

    async def ev_suspend(self, connector_id: int) -> None:
        """The simulated EV at EVSE `connector_id` suspends the energy transfer (it is full, or
        its own timer says wait): it draws no power, the energy register stops rising, and the
        charging state of an authorized transaction becomes SuspendedEV: TransactionEvent
        Updated, triggerReason ChargingStateChanged (P6 reusable state
        EnergyTransferSuspended). With TxStopPoint EnergyTransfer the stopped energy transfer
        ends the transaction instead (E06.FR.07, TC_E_22_CS): Ended, triggerReason
        ChargingStateChanged, chargingState EVConnected, stoppedReason StoppedByEV. An EV
        that suspended before a transaction started does not start one at TxStartPoint
        EnergyTransfer until it resumes. Raises StationError when no EV is plugged in there."""
        evse = self._evse(connector_id)
        if not evse.plugged:
            raise StationError(f"no EV at EVSE {evse.id}")
        if evse.ev_suspended:
            return
        evse.ev_suspended = True
        self.log.info("EV at EVSE %d suspends the energy transfer", evse.id)
        transaction = self.transactions.get(evse.id)
        if transaction is None:
            return
        flowed = evse.meter.power_w > 0
        evse.meter.power_w = 0.0
        if flowed and "EnergyTransfer" in self._points("TxStopPoint"):
            # The authorization ends with the transaction: the EV resuming starts no new one.
            evse.authorization = None
            self._end(evse, transaction, "ChargingStateChanged", "StoppedByEV")
        elif self._charging_state(evse) != transaction.charging_state:
            self._emit(evse, transaction, "Updated", "ChargingStateChanged")

    async def ev_resume(self, connector_id: int) -> None:
        """The simulated EV at EVSE `connector_id` takes energy again after `ev_suspend`: an
        authorized transaction the EVSE does not suspend charges again (TransactionEvent
        Updated, triggerReason ChargingStateChanged, chargingState Charging); an EVSE
        authorized and waiting for the energy transfer (TxStartPoint EnergyTransfer) starts its
        transaction now (TC_E_02_CS). Raises StationError when no EV is plugged in there."""
        evse = self._evse(connector_id)
        if not evse.plugged:
            raise StationError(f"no EV at EVSE {evse.id}")
        if not evse.ev_suspended:
            return
        evse.ev_suspended = False
        self.log.info("EV at EVSE %d resumes the energy transfer", evse.id)
        transaction = self.transactions.get(evse.id)
        if transaction is None or not transaction.authorized:
            if evse.authorization is not None:
                self._advance(evse, "ChargingStateChanged")
            return
        if not transaction.suspended:  # SuspendedEVSE: the EVSE still withholds the energy
            evse.meter.power_w = self._charging_power(evse)
        if self._charging_state(evse) != transaction.charging_state:
            self._emit(evse, transaction, "Updated", "ChargingStateChanged")

    async def authorize(self, id_token: str, token_type: str = "ISO14443") -> bool:
        """Whether `id_token` may charge (C01): decided locally when authorization is disabled
        (AuthCtrlr.Enabled), from the local authorization list and the authorization cache when
        AuthCtrlr.LocalPreAuthorize (online, C12, C14) or LocalAuthorizeOffline (offline, C12,
        C13) allows it, else asked to the CSMS with an AuthorizeRequest; offline, an unknown
        token is accepted when AuthCtrlr.OfflineTxForUnknownIdEnabled is set (C15)."""
        return (await self._authorize(id_token, token_type)).accepted

    async def present_id_token(
        self,
        connector_id: int,
        id_token: str,
        token_type: str = "ISO14443",
        *,
        authorize: bool = True,
    ) -> str | None:
        """A driver presents `id_token` at EVSE `connector_id` to charge there, with the EV
        connected or not yet (E02, E03: authorization first): the token is authorized (unless
        `authorize` is false: the caller vouches for it) and the EVSE is authorized for it; a
        transaction starts when TxStartPoint says so (Authorized; PowerPathClosed or
        EnergyTransfer once the EV is connected). Without the EV the EVSE waits
        TxCtrlr.EVConnectionTimeOut for `plug_in`; after it the authorization ends, and a
        transaction it started ends (EVConnectTimeout, Timeout) or, with a TxStopPoint
        without Authorized, goes on deauthorized (E03.FR.05, TC_E_05_CS). Returns the id of the
        transaction the EVSE has now, None when none started; raises StationError when the
        token may not charge there."""
        evse = self._evse(connector_id)
        if self.registration in ("Pending", "Rejected"):
            # B02 / B03: TxCtrlr.TxBeforeAcceptedEnabled is false.
            raise StationError(f"the CSMS has not accepted this station ({self.registration})")
        if not self._effective_operative(evse):
            raise StationError(f"EVSE {evse.id} is unavailable")
        transaction = self.transactions.get(evse.id)
        if (transaction is not None and transaction.authorized) or evse.remote_pending:
            raise StationError(f"EVSE {evse.id} is already in use")
        verdict = _Verdict("Accepted", None, "the caller")
        if authorize:
            verdict = await self._authorize(id_token, token_type)
        if not verdict.accepted:
            raise StationError(f"id token {id_token} is not authorized ({verdict.status})")
        used = self._use_reservation(evse, id_token, token_type, verdict.group)  # H03
        evse.authorization = _Authorization(
            id_token, token_type, group=verdict.group, reservation_id=used
        )
        await self._status_changed(evse)
        self._advance(evse, "Authorized")
        transaction = self.transactions.get(evse.id)
        return None if transaction is None else transaction.id

    async def start_transaction(
        self,
        connector_id: int,
        id_token: str,
        token_type: str = "ISO14443",
        *,
        authorize: bool = True,
    ) -> str:
        """A driver starts charging at EVSE `connector_id` with `id_token` (E01-E04):
        `present_id_token`, then the simulated EV is plugged in (if it was not) and the
        transaction starts. Returns its transaction id; raises StationError when it cannot
        start."""
        await self.present_id_token(connector_id, id_token, token_type, authorize=authorize)
        evse = self._evse(connector_id)
        if not evse.plugged:
            await self.plug_in(evse.id)
        transaction = self.transactions.get(evse.id)
        if transaction is None:
            # A TxStartPoint this simulation never reaches, or EnergyTransfer while the EV
            # keeps the energy transfer suspended (`ev_suspend`).
            raise StationError(f"no transaction started on EVSE {evse.id}")
        return transaction.id

    async def stop_transaction(
        self,
        connector_id: int,
        reason: str = "Local",
        *,
        id_token: str | None = None,
        token_type: str = "ISO14443",
    ) -> None:
        """End the transaction on EVSE `connector_id` with stoppedReason `reason` (Local,
        Remote, EVDisconnected, EmergencyStop, ...; E06-E08). When TxCtrlr.TxStopPoint does not
        end it at deauthorization, the simulated driver unplugs the EV, which does.

        `id_token`: the token the driver presents to stop it (E07): the one that started it
        stops it at once; another one only when it is authorized and of the same group (C09,
        TC_C_39_CS, TC_C_42_CS); the stop messages carry it. Raises StationError when no
        transaction runs there or the token may not stop it (TC_C_04_CS)."""
        evse = self._evse(connector_id)
        transaction = self.transactions.get(evse.id)
        if transaction is None:
            raise StationError(f"no transaction on EVSE {evse.id}")
        if reason not in _STOPPED_REASONS_201 and reason != "ReqEnergyTransferRejected":
            raise ValueError(f"unknown stoppedReason {reason!r}")
        presented: Any = None
        if id_token is not None:
            await self._may_stop(transaction, id_token, token_type)
            presented = self._id_token(id_token, token_type)
        if reason == "EVDisconnected":
            await self.unplug(evse.id)
            return
        self._deauthorize(evse, transaction, reason, id_token=presented)
        if evse.id in self.transactions and evse.plugged:
            await self.unplug(evse.id)

    # -- the charger's hardware (hardware_link.py) ------------------------------------------

    async def hardware_token(self, id_token: str, evse_id: int | None = None) -> None:
        """A card was read, by the reader of `evse_id` or the station's (None): the card of a
        running transaction stops it (E07; on an EVSE's own reader, a card of its group too,
        C09); otherwise it is presented (`present_id_token`) on that EVSE, or on the free
        EVSE whose EV waits, else the first free one (E02, E03: the EV may come after). A card
        that may not charge or stop is logged; a card presented again while its EVSE waits for
        the EV cancels that wait. RFID cards are ISO14443 tokens."""
        for evse in self._evses.values():
            waiting = evse.authorization
            if (
                evse_id in (None, evse.id)
                and waiting is not None
                and waiting.id_token == id_token
                and evse.id not in self.transactions
            ):
                self.log.info("card %s presented again: EVSE %d stops waiting", id_token, evse.id)
                if evse.timeout is not None:
                    evse.timeout.cancel()
                    evse.timeout = None
                evse.authorization = None
                await self._status_changed(evse)
                return
        for eid, transaction in list(self.transactions.items()):
            if evse_id not in (None, eid) or not transaction.authorized:
                continue
            if evse_id is not None or transaction.id_token == id_token:
                try:
                    await self.stop_transaction(eid, "Local", id_token=id_token)
                except StationError as error:
                    self.log.warning("card %s at EVSE %d: %s", id_token, eid, error)
                return
        candidates = [self._evse(evse_id)] if evse_id is not None else list(self._evses.values())
        free = [
            e
            for e in candidates
            if self._effective_operative(e)
            and not self._busy(e)
            and e.authorization is None
            and e.id not in self.transactions
        ]
        chosen = next((e for e in free if e.plugged), next(iter(free), None))
        if chosen is None:
            self.log.warning("card %s: no EVSE is free to charge", id_token)
            return
        try:
            await self.present_id_token(chosen.id, id_token)
        except StationError as error:
            self.log.warning("card %s at EVSE %d: %s", id_token, chosen.id, error)

    async def hardware_fault(self, evse_id: int | None, component: Component) -> None:
        """A part of the charger failed or works again (`HardwareLink` keeps which): a
        NotifyEvent of its component's Problem variable (part 2 appendix 3.2: FiscalMetering,
        TokenReader, PowerContactor, CPPWMController). A contactor or current-limit fault also
        ends the transactions it concerns (stoppedReason Other, triggerReason
        AbnormalCondition) and makes their EVSEs Faulted until it is over."""
        problem = self._link.fault(evse_id, component)
        await self._notify_event(evse_id, _COMPONENTS[component], "Problem", problem is not None)
        if component in BLOCKING:
            await self._hardware_stop("Other")

    async def hardware_emergency_stop(self, pressed: bool) -> None:
        """The emergency stop was pressed: EmergencyStopSensor.Active goes true (NotifyEvent),
        every transaction ends (stoppedReason EmergencyStop) and every EVSE is Faulted until
        it is released."""
        await self._notify_event(None, "EmergencyStopSensor", "Active", pressed)
        await self._hardware_stop("EmergencyStop")

    async def _hardware_stop(self, reason: str) -> None:
        for eid, transaction in list(self.transactions.items()):
            evse = self._evses[eid]
            if self._link.blocked(eid):
                evse.authorization = None
                self._end(evse, transaction, "AbnormalCondition", reason)
        for evse in self._evses.values():
            await self._status_changed(evse)

    async def _notify_event(
        self, evse_id: int | None, component: str, variable: str, active: bool
    ) -> None:
        """NotifyEvent of a hardwired monitor (N07): `component`.`variable` is now `active`.
        Offline it is not kept: the Faulted statuses are reported again at the reconnection
        (B04)."""
        m = self._m
        self._event_id += 1
        now = self.now()
        event = m.EventData(
            event_id=self._event_id,
            timestamp=now,
            trigger="Delta",
            actual_value="true" if active else "false",
            component=m.Component(
                name=component, evse=UNSET if evse_id is None else m.EVSE(id=evse_id)
            ),
            variable=m.Variable(name=variable),
            event_notification_type="HardWiredNotification",
        )
        await self._try_call(
            m.NotifyEventRequest(generated_at=now, seq_no=0, event_data=[event]), "NotifyEvent"
        )

    def _drive(self, evse: _Evse) -> None:
        """The contactor follows the energy flow, the indicator the status (`HardwareLink`)."""
        flowing = evse.meter.power_w > 0
        indicator: Indicator = {
            "Available": "available",
            "Occupied": "charging" if flowing else "occupied",
            "Reserved": "occupied",
            "Faulted": "fault",
        }.get(evse.status, "off")
        self._link.drive(evse.id, energy=flowing, indicator=indicator)

    async def sample_now(self, evse_id: int) -> None:
        """Take a periodic sample of the transaction on EVSE `evse_id` now, exactly as the
        SampledDataCtrlr.TxUpdatedInterval timer does (a TransactionEvent Updated,
        MeterValuePeriodic: queued, offline true when offline); it is on disk when this
        returns. Raises StationError when no transaction runs there."""
        evse = self._evse(evse_id)
        transaction = self.transactions.get(evse.id)
        if transaction is None:
            raise StationError(f"no transaction on EVSE {evse.id}")
        self._periodic_update(evse, transaction)
        await self._on_disk()

    @property
    def heartbeat_interval(self) -> int:
        """Seconds between Heartbeats: OCPPCommCtrlr.HeartbeatInterval, which an Accepted
        BootNotification's interval sets (B01) as a SetVariables may."""
        return self.device_model.get_int("OCPPCommCtrlr", "HeartbeatInterval")

    @property
    def backoff(self) -> BackOff:
        """The reconnection back-off the device model configures (J201 5.3, OCPPCommCtrlr
        RetryBackOffWaitMinimum, RetryBackOffRandomRange, RetryBackOffRepeatTimes), for the
        Client that runs this station."""
        model = self.device_model
        return BackOff(
            wait_minimum=model.get_int("OCPPCommCtrlr", "RetryBackOffWaitMinimum"),
            random_range=model.get_int("OCPPCommCtrlr", "RetryBackOffRandomRange"),
            repeat_times=model.get_int("OCPPCommCtrlr", "RetryBackOffRepeatTimes"),
        )

    @property
    def websocket_ping_interval(self) -> int:
        """OCPPCommCtrlr.WebSocketPingInterval: seconds between WebSocket pings (0: none), for
        the Client that runs this station (its `ping_interval`; `ping_interval_changed` tells of
        a new value)."""
        return self.device_model.get_int("OCPPCommCtrlr", "WebSocketPingInterval")

    @property
    def basic_auth_password(self) -> str | None:
        """The HTTP Basic Authentication password of the next connection (SW, A00.FR.2xx): the
        one the CSMS set with SetVariables SecurityCtrlr.BasicAuthPassword (A01, kept across
        restarts), else the one the station was configured with (None: none). Never logged."""
        variable = self.device_model.find("SecurityCtrlr", "BasicAuthPassword")
        set_by_csms = "" if variable is None else variable.actual
        return set_by_csms or self._configured_password

    @basic_auth_password.setter
    def basic_auth_password(self, password: str | None) -> None:
        """Configure the password the station connects with until the CSMS sets another one."""
        self._configured_password = password

    @property
    def previous_passwords(self) -> list[str]:
        """A01 rotation: the BasicAuthPasswords before the current one (newest first, at most
        two), kept in `data` until a connection with the current one succeeded, so that a lost
        answer or a crash mid-rotation never locks the station out: the client falls back to
        them when the CSMS refuses the new one (HTTP 401). Never logged."""
        kept = self.data.state.get(_PREVIOUS_PASSWORDS)
        return [p for p in kept if isinstance(p, str)] if isinstance(kept, list) else []

    def password_confirmed(self, password: str | bytes) -> None:
        """The CSMS accepted a connection with `password`: once that is the current
        BasicAuthPassword, the previous ones are forgotten (A01)."""
        if self.previous_passwords and password == self.basic_auth_password:
            self._track(self.data.set_state(_PREVIOUS_PASSWORDS, None))
            self.log.info("connected with the new BasicAuthPassword; the previous one is forgotten")

    # -- network connection profiles (B09, B10) --------------------------------------------------

    def provision(self, url: str, message_timeout: float) -> None:
        """Install the network connection profile of configuration slot 1: the CSMS endpoint
        `url` (ws:// or wss://, without the identity) and the message timeout the station was
        set up with, in use until a SetNetworkProfile replaces slot 1 (the default
        NetworkConfigurationPriority, "1", connects with it). ValueError for a URL no
        connection can use."""
        connection_url(url, self.config.identity)  # raises ValueError
        if not message_timeout > 0:
            raise ValueError(f"message_timeout must be > 0, not {message_timeout}")
        self._provisioned = (url, float(message_timeout))

    @property
    def active_network_profile(self) -> int:
        """The configuration slot of the connection, or of the next attempt while offline
        (OCPPCommCtrlr.ActiveNetworkProfile)."""
        return self._slot

    @property
    def network_endpoint(self) -> NetworkEndpoint | None:
        """Where the next connection attempt goes: the endpoint of `active_network_profile`
        (None while that is slot 1 and nothing was provisioned)."""
        return self._endpoint(self._slot)

    def connection_failed(self, error: BaseException | None = None) -> None:
        """One connection attempt with `network_endpoint` failed (`error`: why; the Client's
        `attempt_failed`). After OCPPCommCtrlr.NetworkProfileConnectionAttempts failures in a
        row the station goes on to the next entry of NetworkConfigurationPriority, round robin
        (B10.FR.03). When every entry failed its attempts since the last successful connection,
        it goes back to the profile of that connection (which may not be in the list any more:
        TC_B_49_CS "switches back to the previous networkprofile configuration") and stays
        there, with the reconnection back-off of J201 5.3 (B10.FR.07, C-47); before any
        connection succeeded it starts over from the first entry (2.1 B10.FR.09: never stop
        trying). Each switch is logged (WARNING) and told to `network_profile_changed`."""
        self._failed_attempts += 1
        limit = self.device_model.get_int("OCPPCommCtrlr", "NetworkProfileConnectionAttempts")
        if self._failed_attempts < limit:
            return
        self._failed_attempts = 0
        if self._falling_back:
            return  # B10.FR.07: the reconnection back-off alone from now on
        self._exhausted.add(self._slot)
        priority = self._priority
        position = priority.index(self._slot) if self._slot in priority else -1
        following = priority[(position + 1) % len(priority)]
        failed = f"{limit} attempt(s) with network profile {self._slot} failed"
        if following not in self._exhausted:
            self._use_slot(following, f"{failed}, the next in NetworkConfigurationPriority")
            return
        last = self._last_connected
        if last is not None and self._endpoint(last) is not None:
            self._falling_back = True
            self._use_slot(
                last,
                f"{failed}, and every profile of NetworkConfigurationPriority did: back to the "
                "profile of the last successful connection (B10.FR.07)",
            )
            return
        # No connection to fall back to (none succeeded since the data was new): round robin.
        self._exhausted.clear()
        self._use_slot(following, f"{failed}, and every profile did, none ever connected")

    def _endpoint(self, slot: int) -> NetworkEndpoint | None:
        profile = self.network_profiles.get(slot)
        if profile is None:
            if slot != _PROVISIONED_SLOT or self._provisioned is None:
                return None
            url, timeout = self._provisioned
            security = self.device_model.get_int("SecurityCtrlr", "SecurityProfile")
            return NetworkEndpoint(slot, url, timeout, security, self.basic_auth_password)
        # 2.1 NetworkConnectionProfileType.basicAuthPassword: this profile's own password.
        own = getattr(profile, "basic_auth_password", UNSET)
        return NetworkEndpoint(
            slot,
            profile.ocpp_csms_url,
            float(profile.message_timeout),
            profile.security_profile,
            self.basic_auth_password if own is UNSET else own,
        )

    def _use_slot(self, slot: int, why: str) -> None:
        """Connect with the profile of `slot` from the next attempt on; tell the Client."""
        previous, self._slot = self._slot, slot
        self._failed_attempts = 0
        endpoint = self._endpoint(slot)
        if endpoint is None:  # slot 1 of a station nobody provisioned: nothing to tell
            return
        if slot != previous:
            self.log.warning(
                "network profile %d (%s) from now on: %s", slot, safe_url(endpoint.url), why
            )
        self._tell(self.network_profile_changed, endpoint)

    def _configured_priority(self) -> list[int]:
        """NetworkConfigurationPriority as it is set: the slots to try, each with a profile."""
        slots: list[int] = []
        for member in self.device_model.get_list("OCPPCommCtrlr", "NetworkConfigurationPriority"):
            slot = int(member)
            if slot == _PROVISIONED_SLOT or slot in self.network_profiles:
                slots.append(slot)
            else:  # its stored profile was unreadable (logged by _load_profiles)
                self.log.warning("NetworkConfigurationPriority: slot %d has no profile", slot)
        return slots or [_PROVISIONED_SLOT]

    def _connected_with(self, slot: int) -> None:
        """A connection with the profile of `slot` succeeded: the station stays on it (the
        attempts count from here), and falls back to it once every profile failed (B10.FR.07),
        after a restart too."""
        self._failed_attempts = 0
        self._exhausted.clear()
        self._falling_back = False
        endpoint = self._endpoint(slot)
        running = self.device_model.get_int("SecurityCtrlr", "SecurityProfile")
        if endpoint is not None and endpoint.security_profile != running:
            # A05 through B09/B10 (TC_A_19_CS step 11): the profile the station connected with.
            self.device_model.set_actual(
                "SecurityCtrlr", "SecurityProfile", str(endpoint.security_profile)
            )
            self.log.info(
                "connected with security profile %d (was %d)", endpoint.security_profile, running
            )
        if self._last_connected != slot:
            self._last_connected = slot
            self._track(self.data.set_state(_NETWORK_STATE, {"last_connected": slot}))

    async def shutdown(self, reason: str = "Other") -> None:
        """What the simulator does before it exits: end every transaction with stoppedReason
        `reason` and deliver their last messages (within the message timeout; what is not
        delivered stays queued in `data` for the next start), close the connection (1000), stop
        every background task and wait until what `data` keeps is on disk."""
        self._maintenance.cancel()  # a firmware update in progress resumes at the next start
        self._link.stop()
        for evse_id, transaction in list(self.transactions.items()):
            self._end(
                self._evses[evse_id],
                transaction,
                _STOP_TRIGGERS.get(reason, "AbnormalCondition"),
                reason,
            )
        live = self._live
        if live is not None and not live.closed:
            await self._tx_drained(live.session.call_timeout)
        for task in list(self._tasks):
            task.cancel()
        self._station_tasks_started = False
        if live is not None and not live.closed:
            await live.close(1000, "station shutting down")
        self.display.close()
        await self._on_disk()
        self.log.info("shut down")

    # -- connection lifecycle ------------------------------------------------------------------

    def connected(self) -> None:
        """A connection runs: boot, or resume after a lost connection (J201 5.3)."""
        connection = self.connection
        if connection.version not in _V2:
            self.log.error(
                "the connection speaks %s; this station speaks ocpp2.0.1 and ocpp2.1",
                connection.version,
            )
            self._spawn_conn(connection.close(1002, "unsupported OCPP version"), "close")
            return
        if connection.version != self.version:
            self.log.info(
                "switching from %s to %s, as negotiated", self.version, connection.version
            )
            self.version = connection.version
            self._m = _MODULES[connection.version]
        if self._conn_tasks:
            self.log.warning("a new connection replaces the one still open")
            for task in list(self._conn_tasks):
                task.cancel()
        self._live = connection
        self._connect_event = None
        self.traffic.attach(connection)  # the frames a GetLog DiagnosticsLog holds
        # A02.FR.10: a renewed certificate that connected works; A03.FR.02: renew it on our own
        # a month before it expires (sent once the boot is accepted).
        self.certificates.connected()
        if self.certificates.expires_soon() and not self.certificates.pending:
            self._renew_certificate("it expires within a month (A03.FR.02)")
        self._connected_with(self._slot)
        self._start_station_tasks()
        accepted = self.registration == "Accepted" and self._rebooting is None
        if accepted and self._registered_slot != self._slot:
            # B10.FR.10 (2.1 errata 2025-06, a 2.0.1 station does the same): connected with
            # another profile than the one it registered with - maybe another CSMS - the station
            # registers again, without having rebooted (reason Unknown, no startup event).
            self.log.info(
                "connected with network profile %d, registered with %s: BootNotification",
                self._slot,
                self._registered_slot,
            )
            self.registration = ""
            self._boot_reason = "Unknown"
            self._startup_event = ""
            accepted = False
        if accepted:
            self._spawn_conn(self._resume(), "resume")
        else:
            self._spawn_conn(self._boot_loop(), "boot")

    def disconnected(self) -> None:
        """The connection ended: stop the per-connection work; a reset now "reboots"."""
        live = self._live
        if live is not None and not live.closed:
            return  # an older connection, already replaced by the one that runs now
        for task in list(self._conn_tasks):
            task.cancel()
        self._conn_tasks.clear()
        self._live = None
        self.booted.clear()
        self._offline_since = self.clock()
        code = None if live is None else live.close_code
        self.log.info("disconnected (close code %s)", code)
        for evse in self._evses.values():
            # A remote start still being authorized is abandoned with its connection.
            evse.remote_pending = None
        if self._rebooting is not None:
            self._reboot(self._rebooting)

    def _reboot(self, reason: str) -> None:
        """What a reboot does to the simulated station: it must boot again with `reason`; the
        availability set with ChangeAvailability persists (TC_B_23_CS, G03.FR.08,
        G04.FR.09), and so do the EV's plug and the device model."""
        self._rebooting = None
        self.registration = ""
        self.booted.clear()
        self._boot_reason = reason
        self._startup_event = "ResetOrReboot"
        self._reset_scheduled = None
        for evse in self._evses.values():
            evse.authorization = None
            evse.remote_pending = None
            evse.reset_scheduled = False
            evse.reported = ""
            if evse.timeout is not None:
                evse.timeout.cancel()
                evse.timeout = None
        self.log.info("rebooting (%s)", reason)
        # B10.FR.04: NetworkConfigurationPriority (reboot required) takes effect; the first
        # entry is tried first.
        self._priority = self._configured_priority()
        self._exhausted.clear()
        self._falling_back = False
        self._use_slot(self._priority[0], "first in NetworkConfigurationPriority (B10.FR.04)")

    def _start_station_tasks(self) -> None:
        # Clock-aligned data (J01) runs for the station's life, not per connection: the samples
        # for TransactionEvent Ended are taken offline too.
        if self._station_tasks_started:
            return
        self._station_tasks_started = True
        self.display.refresh()  # in the event loop now: the display's timer can run
        self._limits.refresh()  # the same for the charging limits' timer (K01)
        self._spawn(
            self._periodic(
                lambda: self.device_model.get_int("AlignedDataCtrlr", "Interval"),
                self._aligned_meter_values,
                aligned=True,
            ),
            "aligned meter values",
        )
        self._spawn(
            self._periodic(
                lambda: self.device_model.get_int("AlignedDataCtrlr", "TxEndedInterval"),
                self._aligned_tx_samples,
                aligned=True,
            ),
            "aligned transaction samples",
        )

    async def _boot_loop(self) -> None:
        """B01-B03: BootNotification until Accepted."""
        while True:
            self._boot_now.clear()
            self._boot_call = task = asyncio.ensure_future(self._send_boot())
            try:
                response = await task
            finally:
                self._boot_call = None
            if self.registration == "Accepted":
                await self._accepted()
                return
            # B02, B03.FR.06 (E201 2.3.2): the next BootNotification after the interval, or at
            # once when the CSMS triggers one (F06.FR.17; TC_B_02_CS step 13).
            delay = BOOT_RETRY_DEFAULT
            if response is not None and response.interval > 0:
                delay = response.interval
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._boot_now.wait(), delay)

    async def _send_boot(self) -> Any:
        m = self._m
        config = self.config
        request = m.BootNotificationRequest(
            reason=self._boot_reason,
            charging_station=m.ChargingStation(
                model=config.model,
                vendor_name=config.vendor,
                serial_number=config.serial_number or UNSET,
                firmware_version=config.firmware_version or UNSET,
            ),
        )
        response = await self._try_call(request, "BootNotification")
        if response is None:
            return None
        status = _text(response.status)
        self.registration = status
        self._adopt_time(response.current_time)
        if status == "Accepted" and response.interval > 0:
            # B01 (TC_B_01_CS): the interval of an Accepted response is the heartbeat interval
            # (0: keep the configured one).
            self.device_model.set_actual(
                "OCPPCommCtrlr", "HeartbeatInterval", str(response.interval)
            )
        self.log.info(
            "BootNotification (%s) %s, interval %d s", self._boot_reason, status, response.interval
        )
        return response

    async def _accepted(self) -> None:
        """Registered (B01): report every connector, the startup security event, then
        heartbeats and the transaction messages."""
        self.booted.set()
        self._boot_reason = "PowerUp"
        self._registered_slot = self._slot
        self.log.info("booted, heartbeat every %d s", self.heartbeat_interval)
        # TC_B_01_CS: "a message to report the state of a connector has been received
        # for all connectors".
        for evse in self._evses.values():
            evse.status = self._status_of(evse)
            self._drive(evse)
            await self._send_status(evse)
        # A201 appendix 1: StartupOfTheDevice and ResetOrReboot are critical security events,
        # pushed to the CSMS (P6 reusable state Booted, step 7), behind what was queued; none
        # when the station registers again without a restart (B10.FR.10).
        if self._startup_event:
            self._security_event(self._startup_event, "booted")
        self._startup_event = "StartupOfTheDevice"
        if self._resume_transactions:  # 2.1 Reset ImmediateAndResume
            self._resume_transactions = False
            for evse_id, transaction in list(self.transactions.items()):
                self._emit(self._evses[evse_id], transaction, "Updated", "TxResumed")
        self._online_work()
        # L01 (TC_L_01_CS steps 15-19): after the firmware update's reboot, the
        # FirmwareUpdated security event and Installed; an update a restart interrupted goes on.
        self._spawn_conn(self._maintenance.after_boot(), "firmware update after boot")

    async def _resume(self) -> None:
        """A new connection without a reboot (J201 5.3): report the connectors (all of them
        after more than OCPPCommCtrlr.OfflineThreshold seconds offline, B04.FR.01, TC_B_51_CS,
        else the ones whose status differs from what the CSMS last received, B04.FR.02,
        TC_B_52_CS), then the queued messages (E11, E12) and heartbeats."""
        self.booted.set()
        offline = self._offline_since
        threshold = self.device_model.get_int("OCPPCommCtrlr", "OfflineThreshold")
        everything = offline is None or (self.clock() - offline).total_seconds() > threshold
        self.log.info("reconnected, %d message(s) queued", len(self.data.queue))
        for evse in self._evses.values():
            evse.status = self._status_of(evse)
            self._drive(evse)
            if everything or evse.status != evse.reported:
                await self._send_status(evse)
        self._online_work()

    def _online_work(self) -> None:
        self._spawn_conn(self._heartbeat_loop(), "heartbeat")
        self._spawn_conn(self._tx_sender(), "transaction messages")

    # -- heartbeat and timers ----------------------------------------------------------------

    def _notify_change(self) -> None:
        """A setting changed: wake every timer so that it reads its interval again."""
        waiters, self._change_waiters = self._change_waiters, set()
        for waiter in waiters:
            _settle(waiter, True)

    async def _wait_change(self, seconds: float | None) -> bool:
        """Sleep `seconds` (None: until a change); True when a setting changed meanwhile.

        A future and a loop timer, not `asyncio.wait_for(event.wait(), seconds)`: that costs a
        task and a CancelledError per tick, a sixth of a 5,000-station fleet's CPU. The waiter
        is this call's own: a timer cancelled with its connection cancels nothing shared."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._change_waiters.add(waiter)
        timer = None if seconds is None else loop.call_later(seconds, _settle, waiter, False)
        try:
            return await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._change_waiters.discard(waiter)

    async def _heartbeat_loop(self) -> None:
        # Every interval, whether or not other messages went out meanwhile (allowed: the
        # interval is one "of inactivity", and sending more often is harmless).
        while True:
            if await self._wait_change(self.heartbeat_interval):
                continue
            await self._heartbeat()

    async def _heartbeat(self) -> None:
        response = await self._try_call(self._m.HeartbeatRequest(), "Heartbeat")
        if response is not None:
            self._adopt_time(response.current_time)

    def _adopt_time(self, csms_time: datetime) -> None:
        # ClockCtrlr.TimeSource: with Heartbeat first, the CSMS's time is the station's time
        # (A201 3.1.5).
        sources = self.device_model.get_list("ClockCtrlr", "TimeSource")
        if sources and sources[0] == "Heartbeat":
            offset = csms_time - self.clock()
            change = (offset - self._time_offset).total_seconds()
            self._time_offset = offset
            # A201 appendix 1: SettingSystemTime (critical) when the time "was changed more
            # than ClockCtrlr.TimeAdjustmentReportingThreshold seconds".
            threshold = self.device_model.get_int("ClockCtrlr", "TimeAdjustmentReportingThreshold")
            if abs(change) > threshold:
                self._security_event(
                    "SettingSystemTime", f"clock set {change:+.0f} s to the CSMS's time"
                )

    async def _periodic(
        self,
        interval: Callable[[], int],
        tick: Callable[[], Awaitable[None] | None],
        *,
        aligned: bool = False,
    ) -> None:
        """Run `tick` every `interval()` seconds (0: never), re-reading the interval whenever a
        setting changes; `aligned`: at whole multiples of the interval since midnight (J01)."""
        while True:
            seconds = interval()
            if seconds <= 0:
                await self._wait_change(None)
                continue
            delay = float(seconds)
            if aligned:
                now = self.now()
                midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
                elapsed = (now - midnight).total_seconds()
                delay = seconds - (elapsed % seconds) or float(seconds)
            if await self._wait_change(delay):
                continue
            result = tick()
            if result is not None:
                await result

    # -- calls to the CSMS ---------------------------------------------------------------------

    def _can_send(self) -> bool:
        """Whether station-initiated messages may go out now: none of its own before Accepted
        (B02, TC_B_02_CS; B03.FR.08); what the CSMS asks for goes out in any state."""
        return self.online and self.registration == "Accepted" and self._rebooting is None

    async def _try_call(self, request: Any, what: str) -> Any:
        """Send `request`; the response, or None (logged) when there is none."""
        live = self._live
        if live is None or live.closed:
            self.log.debug("%s not sent: offline", what)
            return None
        try:
            return await live.call(request)
        except SessionClosedError:
            self.log.info("%s not answered: connection closed", what)
        except CallTimeoutError as exc:
            self.log.warning("%s", exc)
        except OCPPError as exc:
            self.log.warning("%s answered with %s: %s", what, exc.code, exc.description)
        return None

    def connect_security_event(self, kind: str, info: str) -> None:
        """What the client saw while connecting (`Client.security_event`): InvalidCsmsCertificate
        (A00.FR.309, A00.FR.413), InvalidTLSVersion (A00.FR.315, A00.FR.419),
        InvalidTLSCipherSuite (A00.FR.322, A00.FR.426), all critical (A201 appendix 1: pushed
        once connected), or FailedToAuthenticateAtCsms (an HTTP 401; not critical: the security
        log only). Once per run of failed attempts: the client retries with back-off, and one
        event per attempt would fill the log with one cause."""
        if kind == self._connect_event:
            return
        self._connect_event = kind
        if kind in _CONNECT_CRITICAL:
            self._security_event(kind, info)
        else:
            self.security_log.append((self.now(), kind, info))

    def _security_event(self, kind: str, info: str = "") -> None:
        """Log a critical security event and push it to the CSMS (A201 appendix 1: "security
        events that are implemented and marked as critical SHALL also be pushed"), through the
        queue: delivered even after an outage or a power cut (A04.FR.02), never shed."""
        now = self.now()
        self.security_log.append((now, kind, info))
        request = self._m.SecurityEventNotificationRequest(
            type=kind, timestamp=now, tech_info=info[:255] or UNSET
        )
        self._enqueue(request, NEVER_SHED)

    # -- connector status (G01, B04) -----------------------------------------------------------

    def _evse(self, evse_id: int) -> _Evse:
        evse = self._evses.get(evse_id)
        if evse is None:
            raise StationError(f"no EVSE {evse_id}: this station has EVSEs 1 to {len(self._evses)}")
        return evse

    def _effective_operative(self, evse: _Evse) -> bool:
        return (
            self._operative
            and evse.operative
            and evse.connector_operative
            and not self._closed_for_firmware()
            and self._link.blocked(evse.id) is None  # Faulted (`hardware_fault`)
        )

    def _closed_for_firmware(self) -> bool:
        """L01.FR.07: a firmware installation waits for the transactions to end and
        ChargingStation.AllowNewSessionsPendingFirmwareUpdate is false: no new session."""
        return self._firmware_pending and not self.device_model.get_bool(
            "ChargingStation", "AllowNewSessionsPendingFirmwareUpdate"
        )

    def _status_of(self, evse: _Evse) -> str:
        # 2.0.1 ConnectorStatusEnumType: Occupied covers an EV plugged in, a transaction and an
        # authorization waiting for the EV (P6 reusable state Authorized, Main B step 5).
        # Inoperative -> Unavailable once no transaction runs (G03.FR.05, TC_G_11_CS).
        transaction = self.transactions.get(evse.id)
        if self._link.blocked(evse.id):
            return "Faulted"  # its transaction was ended (`hardware_fault`)
        if transaction is None and not self._effective_operative(evse):
            return "Unavailable"
        unauthorized = transaction is None or not transaction.authorized
        if unauthorized and evse.authorization is None and self._reserved_here(evse):
            # H01.FR.20, H01.FR.23, H01.FR.24; an EV plugged in without the reservation's
            # token leaves it Reserved (G03.FR.09, E201 2.8.4).
            return "Reserved"
        if evse.plugged or transaction is not None or evse.authorization is not None:
            return "Occupied"
        return "Available"

    async def _status_changed(self, evse: _Evse, *, force: bool = False) -> None:
        """Report the connector's status when it changed (G01.FR.01), or keep it for the
        next connection (B04)."""
        status = self._status_of(evse)
        if status == evse.status and not force:
            return
        if status != evse.status:
            self.log.info("EVSE %d connector 1: %s -> %s", evse.id, evse.status or "-", status)
        evse.status = status
        self._drive(evse)
        self.display.refresh()  # messages for a state (Idle, Unavailable) come and go
        # Offline, the change waits for the next connection (B04): StatusNotifications are not
        # queued, the connectors' statuses are reported again instead.
        if self._can_send():
            await self._send_status(evse)

    async def _send_status(self, evse: _Evse) -> None:
        status = evse.status
        request = self._m.StatusNotificationRequest(
            timestamp=self.now(), connector_status=status, evse_id=evse.id, connector_id=1
        )
        if await self._try_call(request, "StatusNotification") is not None:
            evse.reported = status

    def _refresh_later(self, evses: Iterable[_Evse]) -> None:
        evses = list(evses)

        async def refresh() -> None:
            for evse in evses:
                await self._status_changed(evse)

        self._spawn(refresh(), "status")

    # -- transactions (E, F, J) ----------------------------------------------------------------

    def _points(self, name: str) -> set[str]:
        return set(self.device_model.get_list("TxCtrlr", name))

    def _advance(self, evse: _Evse, trigger: str) -> None:
        """After an EV or authorization event: start the transaction when TxStartPoint says so,
        attach the authorization to it, and report the new charging state (E01-E05).

        The events follow P6's reusable states (Authorized, EVConnectedPreSession,
        EnergyTransferStarted): first the event itself (`trigger`, with the charging state
        before any energy flows), then, once the EV is connected and authorized, the power path
        closes and the energy flows: its own event, triggerReason ChargingStateChanged,
        chargingState Charging (EnergyTransferStarted step 9, TC_E_03_CS). A transaction that
        starts because of the energy flow starts with triggerReason ChargingStateChanged:
        TxStartPoint PowerPathClosed with chargingState SuspendedEVSE, before the flow (step 7),
        TxStartPoint EnergyTransfer with Charging (TC_E_02_CS); after a
        RequestStartTransaction the first event says RemoteStart instead (P6 2.1, `_emit`)."""
        authorization = evse.authorization
        transaction = self.transactions.get(evse.id)
        by_power: str | None = None  # the TxStartPoint the energy flow meets, if it starts it
        started = transaction is None
        if transaction is None:
            start = self._points("TxStartPoint")
            authorized = authorization is not None
            by_event = ("EVConnected" in start and evse.plugged) or (
                "Authorized" in start and authorized
            )
            if not by_event and evse.plugged and authorized:
                points: tuple[str, ...] = ("PowerPathClosed", "EnergyTransfer")
                if evse.ev_suspended:  # the power path closes, but no energy flows (`ev_resume`)
                    points = ("PowerPathClosed",)
                by_power = next((point for point in points if point in start), None)
            if not self._effective_operative(evse) or not (by_event or by_power):
                if authorized and not evse.plugged:
                    self._arm_connection_timeout(evse)
                return
            transaction = self._new_transaction(evse)
        if authorization is not None and not transaction.authorized:
            transaction.authorized = True
            transaction.announce = True
            transaction.id_token = authorization.id_token
            transaction.token_type = authorization.token_type
            transaction.group_id = authorization.group
            transaction.remote_start_id = authorization.remote_start_id
            transaction.reservation_id = authorization.reservation_id
            transaction.stop_reason = None
            transaction.suspended = False
        flowing = (
            evse.plugged
            and transaction.authorized
            and not transaction.suspended
            and not evse.ev_suspended
        )
        if not flowing:
            evse.meter.power_w = 0.0
        elif evse.meter.power_w > 0:  # already flowing: at the power allowed now
            evse.meter.power_w = self._charging_power(evse)
        if started:
            state = None
            if by_power == "PowerPathClosed":
                trigger, state = "ChargingStateChanged", "SuspendedEVSE"
            elif by_power == "EnergyTransfer":
                trigger = "ChargingStateChanged"
                evse.meter.power_w = self._charging_power(evse)
            context = "Transaction.Begin"
            measurands = self.device_model.get_list("SampledDataCtrlr", "TxStartedMeasurands")
            self._emit(
                evse,
                transaction,
                "Started",
                trigger,
                meter_value=self._sample(evse, measurands, context),
                charging_state=state,
            )
        elif self._charging_state(evse) != transaction.charging_state or transaction.announce:
            self._emit(evse, transaction, "Updated", trigger)
        if flowing and evse.meter.power_w == 0:
            evse.meter.power_w = self._charging_power(evse)
            if evse.meter.power_w > 0:  # EnergyTransferStarted step 9
                self._emit(evse, transaction, "Updated", "ChargingStateChanged")
        if by_power == "PowerPathClosed" and evse.ev_suspended:
            # The power path closed (step 7: SuspendedEVSE), but the EV takes no energy.
            self._emit(evse, transaction, "Updated", "ChargingStateChanged")
        if not evse.plugged and transaction.authorized:
            self._arm_connection_timeout(evse)

    def _charging_power(self, evse: _Evse) -> float:
        power = self.device_model.find("EVSE", "Power", evse=evse.id)
        limit = float(power.attributes["MaxSet"].read()) if power is not None else math.inf
        # The charging limit in force caps it too (K01, `_apply_limit`).
        return min(self.config.power_w, limit, self._allowed_w.get(evse.id, math.inf))

    def _charging_state(self, evse: _Evse) -> str:
        if not evse.plugged:
            return "Idle"
        if evse.meter.power_w > 0:
            return "Charging"
        transaction = self.transactions.get(evse.id)
        if transaction is None:
            return "EVConnected"
        if transaction.suspended:
            return "SuspendedEVSE"  # the EVSE withholds the energy (C05, TC_C_17_CS)
        if transaction.authorized and self._allowed_w.get(evse.id, math.inf) <= 0:
            return "SuspendedEVSE"  # a charging limit of 0 offers none (K01)
        if evse.ev_suspended and transaction.authorized and transaction.stop_reason is None:
            # The EVSE offers energy, the EV takes none (ChargingStateEnumType). Once the
            # transaction is stopped (its Ended event), the EVSE offers none: EVConnected.
            return "SuspendedEV"
        return "EVConnected"

    def _new_transaction(self, evse: _Evse) -> Transaction:
        transaction = Transaction(
            id=str(uuid.uuid4()),
            evse_id=evse.id,
            meter_start=evse.meter.register_wh,
            started_at=self.now(),
            meter=evse.meter,
            charging_seconds_start=evse.meter.charging_seconds,
        )
        self.transactions[evse.id] = transaction
        self._limits.refresh()  # Relative profiles start now (K01)
        model = self.device_model
        transaction.tasks = [
            self._spawn(
                self._periodic(
                    lambda: model.get_int("SampledDataCtrlr", "TxUpdatedInterval"),
                    lambda: self._periodic_update(evse, transaction),
                ),
                f"transaction {transaction.id} meter values",
            ),
            self._spawn(
                self._periodic(
                    lambda: model.get_int("SampledDataCtrlr", "TxEndedInterval"),
                    lambda: self._ended_sample(evse, transaction, "Sample.Periodic"),
                ),
                f"transaction {transaction.id} samples",
            ),
        ]
        self.log.info(
            "transaction %s started on EVSE %d (meter %.1f Wh)",
            transaction.id,
            evse.id,
            transaction.meter_start,
        )
        return transaction

    def _arm_connection_timeout(self, evse: _Evse) -> None:
        """TxCtrlr.EVConnectionTimeOut (E03): an authorization without an EV ends after it."""
        if evse.timeout is not None and not evse.timeout.done():
            return
        seconds = self.device_model.get_int("TxCtrlr", "EVConnectionTimeOut")

        async def expire() -> None:
            await asyncio.sleep(seconds)
            evse.timeout = None
            if evse.plugged:
                return
            self.log.info("EVSE %d: no EV within %d s (EVConnectionTimeOut)", evse.id, seconds)
            transaction = self.transactions.get(evse.id)
            if transaction is not None:
                self._deauthorize(evse, transaction, "Timeout")
            else:  # K05: the TxProfile of a remote start goes with the transaction it was for
                self._profiles.end_transaction(evse.id)
                self._limits.refresh()
            evse.authorization = None
            await self._status_changed(evse)

        evse.timeout = self._spawn(expire(), f"EVSE {evse.id} connection timeout")

    def _deauthorize(
        self, evse: _Evse, transaction: Transaction, reason: str, *, id_token: Any = None
    ) -> None:
        """The authorization ends (a stop by the driver, the CSMS or an invalid token): the
        transaction ends if TxStopPoint has Authorized (or PowerPathClosed, EnergyTransfer),
        else the energy transfer stops and it ends when the EV is unplugged (F03.FR.03).
        `id_token`: the IdToken the driver stopped it with (E07), carried by that message.
        Reason Timeout (no EV within EVConnectionTimeOut, E03.FR.05): it ends if TxStopPoint
        has Authorized, else it goes on (TC_E_05_CS step 1: Updated, EVConnectTimeout)."""
        trigger = _STOP_TRIGGERS.get(reason, "AbnormalCondition")
        transaction.authorized = False
        transaction.stop_reason = reason
        evse.authorization = None
        stops = self._points("TxStopPoint")
        if reason == "Timeout":
            ends = "Authorized" in stops
        else:
            ends = not evse.plugged or bool(
                stops & {"Authorized", "PowerPathClosed", "EnergyTransfer"}
            )
        if ends:
            self._end(evse, transaction, trigger, reason, id_token=id_token)
            return
        evse.meter.power_w = 0.0
        self._emit(evse, transaction, "Updated", trigger, id_token=id_token)

    def _end(
        self,
        evse: _Evse,
        transaction: Transaction,
        trigger: str,
        reason: str,
        *,
        id_token: Any = None,
        at: datetime | None = None,
    ) -> None:
        """The transaction ends: TransactionEvent Ended with the sampled values (J02) and the
        Transaction.End reading, then what waited for it (G03.FR.05, B12.FR.01). `at`: when it
        ended, when that was not now (a power loss)."""
        evse.meter.power_w = 0.0
        for task in transaction.tasks:
            task.cancel()
        measurands = self.device_model.get_list("SampledDataCtrlr", "TxEndedMeasurands")
        values = list(transaction.ended_samples)
        values += self._sample(evse, measurands, "Transaction.End", at=at)
        transaction.stop_reason = reason
        self._emit(
            evse,
            transaction,
            "Ended",
            trigger,
            meter_value=values,
            stopped_reason=reason,
            id_token=id_token,
            at=at,
        )
        del self.transactions[evse.id]
        # K01: a TxProfile applies to its transaction only.
        self._profiles.end_transaction(evse.id)
        self._limits.refresh()
        # O02: its display messages go; I05: ended offline, it has no final cost.
        self.display.transaction_ended(transaction.id, evse.id, offline=not self._can_send())
        if transaction.ended_samples:
            self._track(self.data.set_state(_SAMPLES_STATE.format(evse.id), None))
        self._save_evse(evse)
        if evse.timeout is not None:
            evse.timeout.cancel()
            evse.timeout = None
        self.log.info(
            "transaction %s stopped (%s) on EVSE %d: %.1f Wh",
            transaction.id,
            reason,
            evse.id,
            transaction.energy_wh,
        )
        self._after_transaction(evse)

    def _after_transaction(self, evse: _Evse) -> None:
        """Apply what was Scheduled until this transaction ended (G03.FR.05, B12); what it
        changes is kept (G03.FR.08). A station-level Inoperative (G04) needs nothing here: it
        applied at once, and the connector's new status is reported below."""
        applied = evse.scheduled is not None or evse.scheduled_connector is not None
        if evse.scheduled is not None:
            evse.operative, evse.scheduled = evse.scheduled, None
        if evse.scheduled_connector is not None:
            evse.connector_operative, evse.scheduled_connector = evse.scheduled_connector, None
        if applied:
            self._save_availability()
        self._refresh_later([evse])
        if evse.reset_scheduled:
            evse.reset_scheduled = False
            self.log.info("EVSE %d reset (scheduled)", evse.id)
        if self._reset_scheduled is not None and not self.transactions:
            reason, self._reset_scheduled = self._reset_scheduled, None
            self._spawn(self._reset_now(reason), "reset")

    def _emit(
        self,
        evse: _Evse,
        transaction: Transaction,
        event_type: str,
        trigger: str,
        *,
        meter_value: list[Any] | None = None,
        stopped_reason: str | None = None,
        id_token: Any = None,
        at: datetime | None = None,
        charging_state: str | None = None,
    ) -> None:
        """Queue a TransactionEventRequest (E01-E15) and keep the transaction's new seqNo and
        meter register with it (one commit: a power cut loses both or neither).
        `charging_state`: the state to report when it is not the one the EVSE is in now (the
        power path closing before the energy flows: `_advance`)."""
        m = self._m
        info: dict[str, Any] = {
            "transaction_id": transaction.id,
            "charging_state": charging_state or self._charging_state(evse),
            "time_spent_charging": transaction.time_spent_charging,
        }
        token: Any = UNSET if id_token is None else id_token
        reservation: Any = UNSET
        if transaction.announce:
            # H03: the reservation this authorization used ends with this transaction.
            if transaction.reservation_id is not None:
                reservation = transaction.reservation_id
            # P6 2.1: the first TransactionEvent after the authorization carries the idToken;
            # after a RequestStartTransaction its triggerReason is RemoteStart and it carries
            # the remoteStartId (TC_F_01_CS..TC_F_03_CS).
            transaction.announce = False
            token = self._id_token(transaction.id_token or "", transaction.token_type)
            if transaction.remote_start_id is not None:
                trigger = "RemoteStart"
                info["remote_start_id"] = transaction.remote_start_id
        if stopped_reason is not None:
            info["stopped_reason"] = stopped_reason
        transaction.charging_state = info["charging_state"]
        request = m.TransactionEventRequest(
            event_type=event_type,
            timestamp=at or self.now(),
            trigger_reason=trigger,
            # P6 2.1: seqNo numbers a transaction's messages in order; from 0 here.
            seq_no=transaction.seq_no,
            transaction_info=m.Transaction(**info),
            evse=m.EVSE(id=evse.id, connector_id=1),
            id_token=token,
            reservation_id=reservation,
            meter_value=meter_value or UNSET,
            # E11, E12 (TC_E_40_CS, TC_E_43_CS): a message about something that happened
            # offline says so.
            offline=True if not self._can_send() else UNSET,
        )
        transaction.seq_no += 1
        # Updated events are samples the CSMS can do without; Started and Ended define the
        # transaction and are never shed.
        self._enqueue(request, SHED_LATER if event_type == "Updated" else NEVER_SHED)
        self._save_evse(evse)
        self.display.refresh()  # a transaction began, or its charging state changed

    def _periodic_update(self, evse: _Evse, transaction: Transaction) -> None:
        """SampledDataCtrlr.TxUpdatedInterval (J02, TC_J_09_CS): an Updated event with the
        TxUpdatedMeasurands, triggerReason MeterValuePeriodic, context Sample.Periodic."""
        if not self.device_model.get_bool("SampledDataCtrlr", "Enabled"):
            return
        measurands = self.device_model.get_list("SampledDataCtrlr", "TxUpdatedMeasurands")
        values = self._sample(evse, measurands, "Sample.Periodic")
        if values:
            self._emit(evse, transaction, "Updated", "MeterValuePeriodic", meter_value=values)

    def _ended_sample(self, evse: _Evse, transaction: Transaction, context: str) -> None:
        """SampledDataCtrlr.TxEndedInterval / AlignedDataCtrlr.TxEndedInterval: a sample kept
        for the Ended event (J02, TC_J_10_CS; J01 for the clock-aligned ones), on disk too: the
        Ended event of a transaction cut by a power loss carries them."""
        component = "SampledDataCtrlr" if context == "Sample.Periodic" else "AlignedDataCtrlr"
        measurands = self.device_model.get_list(component, "TxEndedMeasurands")
        samples = transaction.ended_samples
        taken = self._sample(evse, measurands, context)
        if not taken:
            return
        samples += taken
        if len(samples) > _ENDED_SAMPLES_LIMIT:  # keep the whole span, at half the density
            del samples[1::2]
        self._track(
            self.data.set_state(
                _SAMPLES_STATE.format(evse.id), [msgspec.to_builtins(v) for v in samples]
            )
        )
        self._save_evse(evse)

    def _sample(
        self, evse: _Evse, measurands: Iterable[str], context: str, *, at: datetime | None = None
    ) -> list[Any]:
        """One MeterValue with a SampledValue per measurand (taken now, or `at`), or [] when
        there is none."""
        m = self._m
        values = []
        power = evse.meter.power_w
        current = power / (NOMINAL_VOLTAGE * self._phases())
        voltage = NOMINAL_VOLTAGE
        reading = self._link.reading(evse.id)  # the hardware meter's, when there is one
        if reading is not None:
            power = reading.power_w if reading.power_w is not None else power
            # Without a phase, the most loaded phase: the one a current limit is about.
            current = max(reading.current_a, default=current)
            voltage = reading.voltage_v[0] if reading.voltage_v else voltage
        for measurand in measurands:
            if measurand == "Energy.Active.Import.Register":
                value = round(evse.meter.register_wh, 1)
            elif measurand == "Power.Active.Import":
                value = round(power, 1)
            elif measurand == "Current.Import":
                value = round(current, 2)
            elif measurand == "Voltage":
                value = round(voltage, 1)
            else:
                continue
            values.append(
                m.SampledValue(
                    value=value,
                    context=context,
                    measurand=measurand,
                    unit_of_measure=m.UnitOfMeasure(unit=_MEASURAND_UNITS[measurand]),
                )
            )
        if not values:
            return []
        return [m.MeterValue(timestamp=at or self.now(), sampled_value=values)]

    def _phases(self) -> int:
        # An AC supply: three phases above what one 32 A phase carries.
        return 3 if self.config.power_w > 7400 else 1

    async def _aligned_meter_values(self) -> None:
        """J01: clock-aligned MeterValues for every EVSE (not queued offline)."""
        model = self.device_model
        if not self._can_send() or not model.get_bool("AlignedDataCtrlr", "Enabled"):
            return
        measurands = model.get_list("AlignedDataCtrlr", "Measurands")
        for evse in self._evses.values():
            if evse.id in self.transactions and model.get_bool(
                "AlignedDataCtrlr", "SendDuringIdle"
            ):
                continue  # A201 3.1.1: SendDuringIdle: none while a transaction runs
            values = self._sample(evse, measurands, "Sample.Clock")
            if values:
                await self._try_call(
                    self._m.MeterValuesRequest(evse_id=evse.id, meter_value=values), "MeterValues"
                )

    def _aligned_tx_samples(self) -> None:
        if not self.device_model.get_bool("AlignedDataCtrlr", "Enabled"):
            return
        for evse_id, transaction in list(self.transactions.items()):
            self._ended_sample(self._evses[evse_id], transaction, "Sample.Clock")

    def _id_token(self, token: str, token_type: str) -> Any:
        # 2.0.1 types idToken.type as IdTokenEnumType, 2.1 as a string (A21 7.1); the wire text
        # is the same, and the validator checks it against the version's schema.
        return self._m.IdToken(id_token=token, type=token_type)

    # -- the queue of messages to deliver (E11-E13, A04.FR.02) ---------------------------------

    def _enqueue(self, request: Any, shed: int) -> None:
        """Put `request` at the end of the persistent queue (`shed`: what a full queue gives up
        first, store.py); the sender delivers it once it is on disk."""
        payload = msgspec.json.encode(request).decode()
        item, lost = self.data.push(type(request).ACTION, payload, shed)
        for dropped in lost:
            self.log.warning(
                "message queue full (%d messages): dropped %s",
                self.data.queue_limit,
                _describe(dropped),
            )
        if item is not None:
            self._track(item.stored)
            self._tx_idle.clear()
            self._tx_wakeup.set()

    async def _tx_sender(self) -> None:
        """Deliver the queued messages one at a time, in the order they happened (E11, E12,
        TC_E_40_CS, TC_E_43_CS), each once it is on disk (`write_barrier` holds the frame until
        its commit). A message the CSMS fails to process (a CALLERROR, or no answer in time) is
        sent again after MessageAttemptInterval x the attempts so far, MessageAttempts times
        in all, then dropped (E13, TC_E_41_CS, TC_E_42_CS, TC_E_50_CS, TC_E_51_CS); a lost
        connection is not a failed attempt: the message waits for the next one."""
        data = self.data
        model = self.device_model
        while True:
            if not data.queue:
                self._tx_idle.set()
                self._tx_wakeup.clear()
                await self._tx_wakeup.wait()
                continue
            live = self._live
            if live is None or live.closed:
                return
            item = data.queue[0]
            request = self._queued_request(item)
            if request is None:
                data.remove(item)
                continue
            try:
                response = await live.call(request)
            except SessionClosedError:
                return  # offline: the message stays queued for the next connection
            except OutgoingMessageError as exc:
                # Sending it again cannot help (e.g. queued under the other 2.x version).
                data.remove(item)
                self.log.error(
                    "dropped %s: not valid in %s: %s", _describe(item), live.version, exc
                )
                continue
            except (CallTimeoutError, OCPPError) as exc:
                item.attempts += 1
                attempts = model.get_int("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent")
                if item.attempts >= attempts:
                    data.remove(item)
                    self.log.error(
                        "dropped %s after %d attempts: %s", _describe(item), item.attempts, exc
                    )
                    continue
                data.update(item)
                interval = model.get_int(
                    "OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent"
                )
                self.log.warning(
                    "%s failed (%s); attempt %d in %d s",
                    _describe(item),
                    exc,
                    item.attempts + 1,
                    interval * item.attempts,
                )
                await asyncio.sleep(interval * item.attempts)
                continue
            # Delivered. Its removal is not waited for: lost in a power cut, the message is
            # sent again, and the CSMS knows it by its seqNo.
            data.remove(item)
            if item.action == "TransactionEvent":
                self._transaction_answered(request, response)

    def _queued_request(self, item: Queued) -> Any | None:
        """The request a queued message holds, in the version spoken now (None, logged, when it
        cannot be read: a damaged store)."""
        request_type = getattr(self._m, f"{item.action}Request", None)
        try:
            if request_type is None:
                raise ValueError(f"{self.version} has no {item.action}")
            return msgspec.json.decode(item.payload, type=request_type, dec_hook=dec_hook)
        except (msgspec.MsgspecError, ValueError) as exc:
            self.log.error("dropped queued %s: unreadable (%s)", _describe(item), exc)
            return None

    def _queued_for(self, transaction_id: str | None) -> bool:
        """Whether a TransactionEvent (of transaction `transaction_id`; None: of any) waits in
        the queue (E14)."""
        for item in self.data.queue:
            if item.action != "TransactionEvent":
                continue
            if transaction_id is None:
                return True
            if transaction_id not in item.payload:
                continue
            with contextlib.suppress(ValueError, TypeError, KeyError):
                if item.decoded()["transactionInfo"]["transactionId"] == transaction_id:
                    return True
        return False

    def _transaction_answered(self, request: Any, response: Any) -> None:
        """What a TransactionEventResponse tells: the running cost, and the token's status
        (C10.FR.05: kept in the cache; E05, TC_C_16_CS / TC_C_17_CS, TC_E_16_CS: a token that
        is not valid stops the transaction when TxCtrlr.StopTxOnInvalidId is set, with
        stoppedReason DeAuthorized, else the EVSE withholds the energy: SuspendedEVSE)."""
        found = self._transaction_by_id(request.transaction_info.transaction_id)
        if response.total_cost is not UNSET and found is not None:
            found[1].total_cost = response.total_cost
        self._display_answer(request, response)
        info = response.id_token_info
        if info is UNSET or request.id_token is UNSET:
            return
        token = request.id_token.id_token
        self._remember(token, _text(request.id_token.type), info)
        status = _text(info.status)
        if status == "Accepted" or found is None:
            return
        evse, transaction = found
        if not transaction.authorized or transaction.id_token != token:
            return  # the token that stopped it, or one no longer in charge
        self.log.warning("id token %s of transaction %s is %s", token, transaction.id, status)
        if self.device_model.get_bool("TxCtrlr", "StopTxOnInvalidId"):
            self._deauthorize(evse, transaction, "DeAuthorized")
        elif not transaction.suspended:
            transaction.suspended = True
            evse.meter.power_w = 0.0
            if evse.plugged:
                self._emit(evse, transaction, "Updated", "ChargingStateChanged")

    async def _tx_drained(self, timeout: float) -> bool:
        """Wait until every queued message was delivered (or `timeout`)."""
        try:
            await asyncio.wait_for(self._tx_idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    # -- authorization (C01, C09-C15), the cache (C10, C11) and the local list (D01, D02) ------

    async def _authorize(self, token: str, token_type: str, *, offline: bool = False) -> _Verdict:
        """Decide whether `token` may charge (see `authorize`). The local authorization list
        takes precedence over the cache (C13, C14); a token in neither is asked to the CSMS,
        or, offline, accepted only with OfflineTxForUnknownIdEnabled (C15, C13.FR.04 as E201
        2.4.3 words it). `offline`: decide as offline (the CSMS did not answer)."""
        model = self.device_model
        if not model.get_bool("AuthCtrlr", "Enabled"):
            return self._decided(token, _Verdict("Accepted", None, "authorization disabled"))
        online = self._can_send() and not offline
        # A201 3.1.2 DisableRemoteAuthorization: no AuthorizeRequest, only the cache and the
        # local list decide.
        remote = online and not model.get_bool("AuthCtrlr", "DisableRemoteAuthorization")
        if online:
            # C12.FR.02, C14.FR.02: LocalPreAuthorize lets a locally known token start at once.
            local_ok = not remote or model.get_bool("AuthCtrlr", "LocalPreAuthorize")
        else:
            local_ok = model.get_bool("AuthCtrlr", "LocalAuthorizeOffline")  # C12, C13.FR.01
        for kind, component, source in (
            (_LOCAL, "LocalAuthListCtrlr", "local authorization list"),
            (_CACHE, "AuthCacheCtrlr", "authorization cache"),
        ):
            if not model.get_bool(component, "Enabled"):
                continue
            entry = self._listed(kind, token, token_type)
            if entry is None:
                continue
            if kind == _CACHE and self._cache_expired(entry):
                # C10.FR.08 (TC_C_46_CS): unused for LifeTime seconds, or past its
                # cacheExpiryDateTime: forgotten, and the token is unknown again.
                self._track(self.data.set_token(_CACHE, token, None))
                continue
            status = self._entry_status(entry)
            verdict = _Verdict(status, _group(entry), source)
            if status == "Accepted" and local_ok:
                if kind == _CACHE:
                    self._used(token, entry)
                return self._decided(token, verdict)
            # Not accepted (or not to be trusted without asking): the CSMS has the last word
            # (C10.FR.03, C12.FR.05, C14.FR.03) unless DisablePostAuthorize says it has not
            # (TC_C_57_CS); offline, only an Accepted entry with LocalAuthorizeOffline starts.
            post = status == "Accepted" or not model.get_bool(component, "DisablePostAuthorize")
            if remote and post:
                break
            if status == "Accepted":
                verdict = _Verdict("NotAtThisTime", verdict.group, f"{source}, offline")
            return self._decided(token, verdict)
        else:
            if not remote:
                # C15.FR.02 (TC_C_26_CS): offline, a token in neither list may start a
                # transaction when OfflineTxForUnknownIdEnabled says so.
                allowed = not online and model.get_bool("AuthCtrlr", "OfflineTxForUnknownIdEnabled")
                why = "unknown, offline" if not online else "unknown, remote authorization disabled"
                return self._decided(
                    token, _Verdict("Accepted" if allowed else "Unknown", None, why)
                )
        response = await self._try_call(
            self._m.AuthorizeRequest(id_token=self._id_token(token, token_type)), "Authorize"
        )
        if response is None:  # no answer: decide as the station does offline
            return await self._authorize(token, token_type, offline=True)
        info = response.id_token_info
        self._remember(token, token_type, info)  # C10.FR.04
        self.display.token_message(token, _wire(info.personal_message))  # I01
        group = None if info.group_id_token is UNSET else info.group_id_token.id_token
        return self._decided(token, _Verdict(_text(info.status), group, "CSMS"))

    def _decided(self, token: str, verdict: _Verdict) -> _Verdict:
        self.log.info("id token %s: %s (%s)", token, verdict.status, verdict.source)
        return verdict

    async def _may_stop(self, transaction: Transaction, token: str, token_type: str) -> None:
        """Whether the driver presenting `token` may stop `transaction` (E07, C09): the token
        that started it may; another one when it is authorized and of the same group."""
        if token == transaction.id_token and token_type == (transaction.token_type or token_type):
            return
        verdict = await self._authorize(token, token_type)
        if verdict.accepted and verdict.group and verdict.group == transaction.group_id:
            return
        raise StationError(
            f"id token {token} may not stop transaction {transaction.id}: it did not start it"
            " and is not of its group"
        )

    def _listed(self, kind: str, token: str, token_type: str) -> dict[str, Any] | None:
        """The entry of `token` in list `kind` (an IdToken is its text and its type)."""
        entry = self.data.tokens.get(kind, {}).get(token)
        if not isinstance(entry, dict) or entry.get("type", token_type) != token_type:
            return None
        return entry

    def _entry_status(self, entry: dict[str, Any]) -> str:
        """A list entry's status now: Expired once its cacheExpiryDateTime has passed."""
        expires = parse_time(entry.get("expires"))
        if expires is not None and expires <= self.now():
            return "Expired"
        return str(entry.get("status", "Invalid"))

    def _cache_expired(self, entry: dict[str, Any]) -> bool:
        """A201 3.1.3 LifeTime: "how long it takes until a token expires in the authorization
        cache since it is last used"; and its cacheExpiryDateTime."""
        now = self.now()
        expires = parse_time(entry.get("expires"))
        used = parse_time(entry.get("used"))
        lifetime = self.device_model.get_int("AuthCacheCtrlr", "LifeTime")
        return (expires is not None and expires <= now) or (
            used is not None and (now - used).total_seconds() > lifetime
        )

    def _used(self, token: str, entry: dict[str, Any]) -> None:
        """A cached token was used: its LifeTime runs again, and LRU / LFU see it."""
        uses = entry.get("uses")
        touched = {
            **entry,
            "used": _iso(self.now()),
            "uses": (uses if isinstance(uses, int) else 0) + 1,
        }
        self._track(self.data.set_token(_CACHE, token, touched))

    def _remember(self, token: str, token_type: str, info: Any) -> None:
        """Keep what the CSMS said of a token in the authorization cache (C10.FR.04 on an
        AuthorizeResponse, C10.FR.05 on a TransactionEventResponse), unless the cache is
        disabled or the token is in the local list, which takes precedence anyway."""
        model = self.device_model
        listed = model.get_bool("LocalAuthListCtrlr", "Enabled") and token in self._tokens(_LOCAL)
        if listed or not model.get_bool("AuthCacheCtrlr", "Enabled"):
            return
        previous = self._tokens(_CACHE).get(token)
        uses = previous.get("uses") if isinstance(previous, dict) else 0
        entry = _token_entry(token_type, info)
        entry.update(used=_iso(self.now()), uses=(uses if isinstance(uses, int) else 0) + 1)
        self._track(self.data.set_token(_CACHE, token, entry))
        self._trim_cache(token)

    def _trim_cache(self, keep: str) -> None:
        """AuthCacheCtrlr.Storage maxLimit: past it, the entries AuthCacheCtrlr.Policy says go
        first (LRU: least recently used; LFU: least frequently used, then least recently), but
        never `keep`, the token just stored (under LFU it would always be the first to go)."""
        cache = self._tokens(_CACHE)
        size = sum(_json_size(token, entry) for token, entry in cache.items())
        if size <= _CACHE_MAX_BYTES:
            return
        lfu = self.device_model.get("AuthCacheCtrlr", "Policy") == "LFU"

        def rank(token: str) -> tuple[int, str]:
            entry = cache[token]
            uses = entry.get("uses") if isinstance(entry, dict) else 0
            used = entry.get("used") if isinstance(entry, dict) else ""
            return ((uses if isinstance(uses, int) else 0) if lfu else 0, str(used or ""))

        for token in sorted(cache, key=rank):
            if size <= _CACHE_MAX_BYTES:
                break
            if token == keep:
                continue
            size -= _json_size(token, cache[token])
            self._track(self.data.set_token(_CACHE, token, None))

    def _tokens(self, kind: str) -> dict[str, Any]:
        return self.data.tokens.get(kind, {})

    def _storage(self, kind: str) -> str:
        """The bytes list `kind` takes (AuthCacheCtrlr / LocalAuthListCtrlr Storage)."""
        return str(sum(_json_size(token, entry) for token, entry in self._tokens(kind).items()))

    def _local_version(self) -> int:
        """The local authorization list's version (D02): 0 when the list is empty or disabled
        (D02: version 0 means no list)."""
        version = self.data.state.get(_LOCAL_VERSION_STATE)
        if (
            not self._tokens(_LOCAL)
            or not isinstance(version, int)
            or not self.device_model.get_bool("LocalAuthListCtrlr", "Enabled")
        ):
            return 0
        return version

    def _update_local_list(self, request: Any) -> tuple[str, str, str]:
        """Apply a SendLocalListRequest (D01): (status, reason code, what was wrong)."""
        model = self.device_model
        version = request.version_number
        full = _text(request.update_type) == "Full"
        entries = (
            [] if request.local_authorization_list is UNSET else request.local_authorization_list
        )
        limit = model.get_int("LocalAuthListCtrlr", "ItemsPerMessage")
        tokens = [entry.id_token.id_token for entry in entries]
        if not model.get_bool("LocalAuthListCtrlr", "Enabled"):
            return "Failed", "NotEnabled", "the local authorization list is disabled"
        if version <= 0:
            return "Failed", "InvalidValue", "versionNumber must be above 0"  # D01.FR.18
        if len(entries) > limit:
            return "Failed", "TooManyElements", f"{len(entries)} entries, at most {limit}"
        if len(set(tokens)) != len(tokens):
            return "Failed", "InvalidValue", "an idToken appears twice"
        if not full and version <= self._local_version():
            # D01.FR.19: a differential update must be newer than the list it changes.
            return (
                "VersionMismatch",
                "InvalidValue",
                f"the list has version {self._local_version()}",
            )
        if full and any(entry.id_token_info is UNSET for entry in entries):
            return "Failed", "MissingParam", "every entry of a Full update needs its idTokenInfo"
        updated: dict[str, Any] = {} if full else dict(self._tokens(_LOCAL))
        for entry in entries:
            token = entry.id_token.id_token
            if entry.id_token_info is UNSET:
                updated.pop(token, None)  # D01.FR.17: a differential entry without info goes
            else:
                updated[token] = _token_entry(_text(entry.id_token.type), entry.id_token_info)
        size = sum(_json_size(token, entry) for token, entry in updated.items())
        if len(updated) > _LOCAL_LIST_MAX_ENTRIES or size > _LOCAL_LIST_MAX_BYTES:
            return "Failed", "OutOfStorage", f"{len(updated)} entries ({size} bytes) do not fit"
        if full:
            self._track(self.data.clear_tokens(_LOCAL))
            changed = updated
        else:
            changed = {token: updated.get(token) for token in tokens}
        for token, info in changed.items():
            self._track(self.data.set_token(_LOCAL, token, info))
            if info is not None and token in self._tokens(_CACHE):
                # The list takes precedence: a cached copy would only go stale.
                self._track(self.data.set_token(_CACHE, token, None))
        self._track(self.data.set_state(_LOCAL_VERSION_STATE, version if updated else None))
        return "Accepted", "", ""

    # -- what survives a restart (StationData) -------------------------------------------------

    def write_barrier(self) -> asyncio.Future[None] | None:
        """The commit of the last write to `data` not yet on disk: the connection holds what it
        sends next until then, so no answer and no queued message goes out before what it
        stands for is stored (a SetVariables Accepted, a list version, a TransactionEvent)."""
        write = self._last_write
        if write is None or write.done():
            self._last_write = None
            return None
        return write

    def _track(self, write: asyncio.Future[None] | None) -> None:
        if write is not None and not write.done():
            self._last_write = write

    async def _on_disk(self) -> None:
        """Wait until every write to `data` so far is committed (a failed commit is logged:
        the store tries it again)."""
        try:
            await asyncio.shield(self.data.flush())
        except StorageError as exc:
            self.log.error("station data not stored yet: %s", exc)

    def _saved(self, name: str) -> dict[str, Any]:
        value = self.data.state.get(name)
        return value if isinstance(value, dict) else {}

    def _load_evse(self, evse_id: int, lost: list[tuple[_Evse, dict[str, Any]]]) -> _Evse:
        """EVSE `evse_id` as the data keeps it: its meter register and availability, and (in
        `lost`) the transaction that was in progress when the previous process stopped."""
        saved = self._saved(_EVSE_STATE.format(evse_id))
        try:
            meter = EnergyMeter(
                self.clock,
                float(saved.get("register_wh", 0.0)),
                float(saved.get("charging_seconds", 0.0)),
            )
        except (TypeError, ValueError):
            self.log.error("EVSE %d: stored meter unreadable; it starts from 0 Wh", evse_id)
            meter = EnergyMeter(self.clock)
        evse = _Evse(evse_id, meter)
        # The hardware meter's register, when the EVSE has one; the power the station lets
        # flow closes or opens the contactor.
        meter.source = lambda: self._link.reading(evse_id)
        meter.switched = lambda flowing: self._drive(evse)
        evse.operative = saved.get("operative") is not False
        evse.connector_operative = saved.get("connector_operative") is not False
        for name in ("scheduled", "scheduled_connector"):
            if isinstance(saved.get(name), bool):
                setattr(evse, name, saved[name])
        transaction = saved.get("transaction")
        if isinstance(transaction, dict):
            lost.append((evse, {**transaction, "time": saved.get("time")}))
        return evse

    def _save_evse(self, evse: _Evse) -> None:
        """Keep an EVSE's meter, availability and transaction in progress (with its seqNo)."""
        transaction = self.transactions.get(evse.id)
        record: Any = None
        if transaction is not None:
            record = {
                "id": transaction.id,
                "meter_start": transaction.meter_start,
                "started_at": _iso(transaction.started_at),
                "seq_no": transaction.seq_no,
                "id_token": transaction.id_token,
                "token_type": transaction.token_type,
                "group_id": transaction.group_id,
                "remote_start_id": transaction.remote_start_id,
                "authorized": transaction.authorized,
                "stop_reason": transaction.stop_reason,
                "suspended": transaction.suspended,
                "charging_seconds_start": transaction.charging_seconds_start,
            }
        state = {
            "register_wh": evse.meter.register_wh,
            "charging_seconds": evse.meter.charging_seconds,
            "operative": evse.operative,
            "connector_operative": evse.connector_operative,
            "scheduled": evse.scheduled,
            "scheduled_connector": evse.scheduled_connector,
            "time": _iso(self.now()),
            "transaction": record,
        }
        self._track(self.data.set_state(_EVSE_STATE.format(evse.id), state))

    def _save_availability(self) -> None:
        """G03.FR.08, G04.FR.09 (TC_G_18_CS, TC_G_19_CS, TC_G_21_CS): the availability the
        CSMS set persists across reboots and power cuts."""
        state = {"operative": self._operative}
        self._track(self.data.set_state(_STATION_STATE, state))
        for evse in self._evses.values():
            self._save_evse(evse)

    def _end_lost_transactions(self, lost: list[tuple[_Evse, dict[str, Any]]]) -> None:
        """The transactions that were in progress when the previous process stopped (a power
        cut: a clean shutdown ends them) end now, as they ended then: TransactionEvent Ended,
        triggerReason AbnormalCondition, stoppedReason PowerLoss, the last meter reading kept
        and the time it was taken, seqNo going on; queued behind what was queued, so sent after
        the BootNotification (PowerUp) was accepted."""
        for evse, record in lost:
            try:
                transaction = Transaction(
                    id=str(record["id"]),
                    evse_id=evse.id,
                    meter_start=float(record["meter_start"]),
                    started_at=parse_time(record["started_at"]) or self.now(),
                    meter=evse.meter,
                    id_token=record.get("id_token"),
                    token_type=str(record.get("token_type") or ""),
                    group_id=record.get("group_id"),
                    remote_start_id=record.get("remote_start_id"),
                    authorized=bool(record.get("authorized")),
                    stop_reason=record.get("stop_reason"),
                    suspended=bool(record.get("suspended")),
                    seq_no=int(record["seq_no"]),
                    charging_seconds_start=float(record.get("charging_seconds_start", 0.0)),
                )
                samples = self.data.state.get(_SAMPLES_STATE.format(evse.id)) or []
                if not isinstance(samples, list):
                    raise TypeError("the samples are not a list")
                transaction.ended_samples = [
                    msgspec.convert(sample, type=self._m.MeterValue, dec_hook=dec_hook)
                    for sample in samples
                ]
            except (KeyError, TypeError, ValueError, msgspec.MsgspecError) as exc:
                self.log.error(
                    "EVSE %d: the transaction in progress at the last stop is unreadable (%s);"
                    " it cannot be ended",
                    evse.id,
                    exc,
                )
                self._save_evse(evse)
                continue
            self.transactions[evse.id] = transaction
            self.log.warning(
                "transaction %s on EVSE %d was in progress when the station stopped: it ends"
                " (PowerLoss)",
                transaction.id,
                evse.id,
            )
            at = parse_time(record.get("time")) or self.now()
            self._end(evse, transaction, "AbnormalCondition", "PowerLoss", at=at)

    def _load_settings(self) -> None:
        """The device model values the CSMS set (SetVariables), as kept in `data.settings`."""
        settings = self.data.settings
        if not settings:
            return
        for variable in self.device_model.variables():
            for kind, attribute in variable.attributes.items():
                text = settings.get(_setting_key(variable, kind))
                if text is None or attribute.mutability == "ReadOnly" or not variable.persistent:
                    continue
                value, reason = variable.normalize(text)
                if value is None:
                    self.log.warning(
                        "stored %s.%s (%s) ignored: %s",
                        variable.component,
                        variable.name,
                        kind,
                        reason,
                    )
                    continue
                attribute.value = value

    def _load_profiles(self) -> dict[int, Any]:
        """The network connection profiles set with SetNetworkProfile (B09), as kept."""
        profiles: dict[int, Any] = {}
        for slot, profile in self._saved(_PROFILES_STATE).items():
            try:
                data = msgspec.convert(
                    profile, type=self._m.NetworkConnectionProfile, dec_hook=dec_hook
                )
            except (ValueError, msgspec.MsgspecError) as exc:
                self.log.error("stored network profile %s unreadable: %s", slot, exc)
                continue
            unusable = _unusable_url(data.ocpp_csms_url, self.config.identity)
            if unusable:
                self.log.error("stored network profile %s ignored: %s", slot, unusable)
                continue
            profiles[int(slot)] = data
        return profiles

    # -- the CSMS's CALLs ----------------------------------------------------------------------

    def handlers_for(self, version: str) -> dict[str, Callable[[Any], Any]]:
        """The handlers, each behind `_admit`: the Rejected guard of every CALL of the CSMS."""
        routes = super().handlers_for(version)
        return {action: self._guarded(action, handler) for action, handler in routes.items()}

    def _guarded(self, action: str, handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
        async def guarded(request: Any) -> Any:
            await self._admit(action)
            return await maybe_await(handler(request))

        return guarded

    async def _admit(self, action: str) -> None:
        """B03.FR.08 (E201 2.3.1): after a Rejected BootNotification every CALL of the CSMS is
        answered with SecurityError. A CALL that arrives right behind the BootNotification's
        answer waits until the station has read it."""
        boot = self._boot_call
        if boot is not None and not boot.done():
            await asyncio.wait({boot})
        if self.registration == "Rejected":
            self.log.info("refused %s: the CSMS rejected the BootNotification", action)
            raise SecurityError(f"{action}: the CSMS has rejected this station's registration")

    def _status_info(self, reason: str, info: str = "") -> Any:
        return self._m.StatusInfo(reason_code=reason, additional_info=info or UNSET)

    def _unsupported(self, action: str, status: str, feature: str) -> Any:
        """The answer of a station without `feature`: `status` with reason UnsupportedRequest."""
        self.log.info("answered %s %s: %s not supported", action, status, feature)
        response_type = getattr(self._m, f"{action}Response")
        return response_type(
            status=status, status_info=self._status_info(_UNSUPPORTED, f"{feature} not supported")
        )

    def _refused(self, action: str, detail: str) -> None:
        self.log.info("refused %s: %s", action, detail)

    # B05 Set Variables, B06 Get Variables

    def _locate(self, component: Any, variable: Any) -> tuple[Variable | None, bool]:
        """The variable a request addresses, and whether its component exists."""
        evse = component.evse
        evse_id = None if evse is UNSET else evse.id
        connector_id = None if evse is UNSET or evse.connector_id is UNSET else evse.connector_id
        instance = None if component.instance is UNSET else component.instance
        found = self.device_model.find(
            component.name,
            variable.name,
            component_instance=instance,
            instance=None if variable.instance is UNSET else variable.instance,
            evse=evse_id,
            connector=connector_id,
        )
        if found is not None:
            return found, True
        known = self.device_model.has_component(
            component.name, component_instance=instance, evse=evse_id, connector=connector_id
        )
        return None, known

    @on("GetVariables", versions=_V2)
    async def _on_get_variables(self, request: Any) -> Any:
        m = self._m
        limit = self.device_model.get_int("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables")
        results = []
        for index, item in enumerate(request.get_variable_data):
            attribute = "Actual" if item.attribute_type is UNSET else _text(item.attribute_type)
            value: Any = UNSET
            info: Any = UNSET
            variable, known = self._locate(item.component, item.variable)
            if index >= limit:
                # TC_B_08_CS: the items past ItemsPerMessageGetVariables are Rejected.
                status, info = "Rejected", self._status_info("TooManyElements")
            elif variable is None:
                # B06.FR.06 / B06.FR.07
                status = "UnknownVariable" if known else "UnknownComponent"
            elif attribute not in variable.attributes:
                status = "NotSupportedAttributeType"  # B06.FR.08
            elif variable.attributes[attribute].mutability == "WriteOnly":
                status, info = "Rejected", self._status_info("WriteOnly")  # A201 appendix 5
            else:
                status, value = "Accepted", variable.attributes[attribute].read()
            results.append(
                m.GetVariableResult(
                    attribute_status=status,
                    attribute_status_info=info,
                    attribute_type=item.attribute_type,
                    attribute_value=value,
                    component=item.component,
                    variable=item.variable,
                )
            )
        return m.GetVariablesResponse(get_variable_result=results)

    @on("SetVariables", versions=_V2)
    async def _on_set_variables(self, request: Any) -> Any:
        m = self._m
        limit = self.device_model.get_int("DeviceDataCtrlr", "ItemsPerMessage", "SetVariables")
        results = []
        for index, item in enumerate(request.set_variable_data):
            attribute = "Actual" if item.attribute_type is UNSET else _text(item.attribute_type)
            variable, known = self._locate(item.component, item.variable)
            info: Any = UNSET
            if index >= limit:
                status, info = "Rejected", self._status_info("TooManyElements")
            elif variable is None:
                status = "UnknownVariable" if known else "UnknownComponent"  # B05.FR.04/05
            elif attribute not in variable.attributes:
                status = "NotSupportedAttributeType"  # B05.FR.06
            elif variable.attributes[attribute].mutability == "ReadOnly":
                status, info = "Rejected", self._status_info("ReadOnly")  # B05.FR.09
            else:
                status, reason = self._write(variable, attribute, item.attribute_value)
                if reason:
                    info = self._status_info(reason)  # B05.FR.07: invalid values
            results.append(
                m.SetVariableResult(
                    attribute_type=item.attribute_type,
                    attribute_status=status,
                    attribute_status_info=info,
                    component=item.component,
                    variable=item.variable,
                )
            )
        return m.SetVariablesResponse(set_variable_result=results)

    @after("SetVariables", versions=_V2)
    async def _after_set_variables(self, request: Any, response: Any) -> None:
        if not self._reconnect_for_password:
            return
        self._reconnect_for_password = False
        # A01, TC_A_09_CS step 3: the next connection, with the new password, confirms it;
        # should the CSMS refuse it, the Client falls back to the previous one (kept).
        self.log.info("reconnecting with the new BasicAuthPassword")
        # What the station sent meanwhile (a StatusNotification) is answered first.
        await self.connection.calls_answered(RECONNECT_GRACE)
        await self.connection.close(1000, "reconnecting with the new BasicAuthPassword")

    def _write(self, variable: Variable, attribute: str, text: str) -> tuple[str, str]:
        value, reason = variable.normalize(text)
        if value is None:
            self._refused(
                "SetVariables", f"{variable.component}.{variable.name} = {text!r}: {reason}"
            )
            return "Rejected", reason
        target = variable.attributes[attribute]
        if target.on_set is not None:
            try:
                target.on_set(value)
            except ValueError as exc:
                self._refused("SetVariables", f"{variable.component}.{variable.name}: {exc}")
                return "Rejected", "InvalidValue"
        target.value = value
        if variable.persistent:
            # Part 1 4.3: a persistent variable keeps its value across reboots and power cuts
            # (a password too: write-only over OCPP, never logged, needed after a restart).
            self._track(self.data.set_setting(_setting_key(variable, attribute), value))
        shown = "<hidden>" if target.mutability == "WriteOnly" else value
        self.log.info(
            "set %s.%s%s = %s",
            variable.component,
            variable.name,
            "" if attribute == "Actual" else f" ({attribute})",
            shown,
        )
        self._notify_change()
        self._applied(variable)
        # SetVariableStatusEnumType RebootRequired: accepted, in effect after the next reboot.
        return ("RebootRequired" if variable.reboot_required else "Accepted"), ""

    def _applied(self, variable: Variable) -> None:
        """Tell whoever runs the Client of a new reconnection back-off or ping interval (J201
        5.3, 8.4): it applies from the next connection on."""
        if variable.component != "OCPPCommCtrlr":
            return
        if variable.name.startswith("RetryBackOff"):
            self._tell(self.backoff_changed, self.backoff)
        elif variable.name == "WebSocketPingInterval":
            self._tell(self.ping_interval_changed, self.websocket_ping_interval)

    def _tell(self, callback: Callable[[Any], Any] | None, value: Any) -> None:
        if callback is None:
            return
        try:
            callback(value)
        except Exception:  # the CSMS's request was handled; the callback's fault is logged
            self.log.exception("%r failed", callback)

    # B07 Get Base Report, B08 Get Custom Report

    @on("GetBaseReport", versions=_V2)
    async def _on_get_base_report(self, request: Any) -> Any:
        base = _text(request.report_base)
        if base == "SummaryInventory":
            # B07.FR.02 / TC_B_15_CS: the optional summary report is not offered.
            self._refused("GetBaseReport", "SummaryInventory is not supported")
            return self._m.GetBaseReportResponse(
                status="NotSupported", status_info=self._status_info("UnsupportedParam")
            )
        return self._m.GetBaseReportResponse(status="Accepted")

    @after("GetBaseReport", versions=_V2)
    async def _after_get_base_report(self, request: Any, response: Any) -> None:
        if _text(response.status) != "Accepted":
            return
        variables = self.device_model.variables()
        if _text(request.report_base) == "ConfigurationInventory":
            # TC_B_12_CS: the writable variables (ReadWrite or WriteOnly).
            variables = [
                variable
                for variable in variables
                if any(a.mutability != "ReadOnly" for a in variable.attributes.values())
            ]
        await self._send_report(request.request_id, variables)

    @on("GetReport", versions=_V2)
    async def _on_get_report(self, request: Any) -> Any:
        wanted = request.component_variable
        limit = self.device_model.get_int("DeviceDataCtrlr", "ItemsPerMessage", "GetReport")
        if wanted is not UNSET and len(wanted) > limit:
            self._refused("GetReport", f"{len(wanted)} componentVariable entries, at most {limit}")
            return self._m.GetReportResponse(
                status="Rejected", status_info=self._status_info("TooManyElements")
            )
        if not self._custom_report(request):
            return self._m.GetReportResponse(status="EmptyResultSet")  # B08
        return self._m.GetReportResponse(status="Accepted")

    @after("GetReport", versions=_V2)
    async def _after_get_report(self, request: Any, response: Any) -> None:
        if _text(response.status) == "Accepted":
            await self._send_report(request.request_id, self._custom_report(request))

    def _custom_report(self, request: Any) -> list[Variable]:
        """B08: the variables matching componentVariable (instances and EVSEs left out match
        all of them: B08.FR.22-25, E201 2.3.3) and componentCriteria, both when both are given."""
        variables = self.device_model.variables()
        if request.component_variable is not UNSET:
            variables = [
                variable
                for variable in variables
                if any(_matches(variable, wanted) for wanted in request.component_variable)
            ]
        if request.component_criteria is not UNSET:
            criteria = {_text(criterion) for criterion in request.component_criteria}
            variables = [
                variable
                for variable in variables
                if any(self._component_is(variable, criterion) for criterion in criteria)
            ]
        return variables

    def _component_is(self, variable: Variable, criterion: str) -> bool:
        """Whether the variable's component meets a ComponentCriterion: its Active, Available,
        Enabled or Problem variable is true (part 1 4.2: an unreported Available or Enabled is
        true; Active and Problem are then false)."""
        found = self.device_model.find(
            variable.component,
            criterion,
            component_instance=variable.component_instance,
            evse=variable.evse,
            connector=variable.connector,
        )
        if found is None:
            return criterion in ("Available", "Enabled")
        return found.actual == "true"

    async def _send_report(self, request_id: int, variables: list[Variable]) -> None:
        """NotifyReport in parts: seqNo from 0, tbc on every part but the last (B07,
        TC_B_12_CS)."""
        m = self._m
        generated = self.now()
        data = [self._report_data(variable) for variable in variables]
        parts = [
            data[start : start + _REPORT_ITEMS_PER_MESSAGE]
            for start in range(0, len(data), _REPORT_ITEMS_PER_MESSAGE)
        ] or [[]]
        for seq_no, part in enumerate(parts):
            last = seq_no == len(parts) - 1
            request = m.NotifyReportRequest(
                request_id=request_id,
                generated_at=generated,
                seq_no=seq_no,
                tbc=not last,
                report_data=part or UNSET,
            )
            if await self._try_call(request, "NotifyReport") is None:
                self.log.warning("report %d aborted at part %d", request_id, seq_no)
                return
        self.log.info(
            "report %d sent: %d variables in %d part(s)", request_id, len(data), len(parts)
        )

    def _report_data(self, variable: Variable) -> Any:
        m = self._m
        attributes = [
            m.VariableAttribute(
                type=kind,
                # A201 3.1.15: a WriteOnly value is never reported.
                value=UNSET if attribute.mutability == "WriteOnly" else attribute.read(),
                mutability=attribute.mutability,
                persistent=variable.persistent,
                constant=variable.constant,
            )
            for kind, attribute in variable.attributes.items()
        ]
        characteristics = m.VariableCharacteristics(
            data_type=variable.data_type,
            unit=variable.unit or UNSET,
            min_limit=UNSET if variable.min_limit is None else variable.min_limit,
            max_limit=UNSET if variable.max_limit is None else variable.max_limit,
            # TC_B_12_CS: valuesList for every OptionList, SequenceList and MemberList.
            values_list=UNSET if variable.values_list is None else ",".join(variable.values_list),
            supports_monitoring=False,
        )
        return m.ReportData(
            component=self._component(variable),
            variable=m.Variable(name=variable.name, instance=variable.instance or UNSET),
            variable_attribute=attributes,
            variable_characteristics=characteristics,
        )

    def _component(self, variable: Variable) -> Any:
        m = self._m
        evse: Any = UNSET
        if variable.evse is not None:
            evse = m.EVSE(
                id=variable.evse,
                connector_id=UNSET if variable.connector is None else variable.connector,
            )
        return m.Component(
            name=variable.component, instance=variable.component_instance or UNSET, evse=evse
        )

    # B11 / B12 Reset

    @on("Reset", versions=_V2)
    async def _on_reset(self, request: Any) -> Any:
        kind = _text(request.type)
        evse_id = None if request.evse_id is UNSET else request.evse_id
        if evse_id is not None:
            evse = self._evses.get(evse_id)
            if evse is None:
                self._refused("Reset", f"no EVSE {evse_id}")
                return self._m.ResetResponse(
                    status="Rejected", status_info=self._status_info("UnknownEvse")
                )
            if kind == "OnIdle" and evse.id in self.transactions:
                evse.reset_scheduled = True  # B12.FR.07
                return self._m.ResetResponse(status="Scheduled")
            return self._m.ResetResponse(status="Accepted")
        if kind == "OnIdle" and self.transactions:
            self._reset_scheduled = "ScheduledReset"  # B12.FR.01, TC_B_21_CS
            self.log.info("reset scheduled after the transactions")
            return self._m.ResetResponse(status="Scheduled")
        return self._m.ResetResponse(status="Accepted")  # B11.FR.01, B12.FR.02

    @after("Reset", versions=_V2)
    async def _after_reset(self, request: Any, response: Any) -> None:
        if _text(response.status) != "Accepted":
            return
        kind = _text(request.type)
        if request.evse_id is not UNSET:
            evse = self._evses[request.evse_id]
            transaction = self.transactions.get(evse.id)
            if transaction is not None and kind == "ImmediateAndResume":
                # 2.1: the EVSE restarts and its transaction goes on.
                self._emit(evse, transaction, "Updated", "TxResumed")
            elif transaction is not None:
                self._end(evse, transaction, "ResetCommand", "ImmediateReset")  # B12.FR.08
            self.log.info("EVSE %d reset", evse.id)
            await self._status_changed(evse, force=True)
            return
        self._resume_transactions = kind == "ImmediateAndResume"
        await self._reset_now("RemoteReset")

    async def _reset_now(self, reason: str) -> None:
        """Reset the station: end the transactions (ResetCommand / ImmediateReset, B12.FR.02,
        TC_B_22_CS) and deliver their last messages, then close the connection; the next one
        boots with `reason` (B11.FR.03, TC_B_20_CS)."""
        if not self._resume_transactions:
            for evse_id, transaction in list(self.transactions.items()):
                self._end(self._evses[evse_id], transaction, "ResetCommand", "ImmediateReset")
        self._rebooting = reason
        live = self._live
        if live is None or live.closed:
            self._reboot(reason)
            return
        timeout = DEFAULT_CALL_TIMEOUT if live.session is None else live.session.call_timeout
        await self._tx_drained(timeout)
        self.log.info("resetting (%s)", reason)
        await live.close(1000, "reset")

    # G03 / G04 Change Availability

    @on("ChangeAvailability", versions=_V2)
    async def _on_change_availability(self, request: Any) -> Any:
        m = self._m
        operative = _text(request.operational_status) == "Operative"
        target = request.evse
        if target is UNSET or target.id == 0:
            # G04.FR.06, TC_G_14_CS steps 2-3: with transactions running the change is
            # Scheduled, but it applies at once: the EVSEs without a transaction become
            # Unavailable now (reported by the hook below), the others when their transaction
            # ends (`_status_of`: a transaction keeps its connector Occupied).
            self._operative = operative
            self._save_availability()  # G04.FR.09
            busy = not operative and bool(self.transactions)
            return m.ChangeAvailabilityResponse(status="Scheduled" if busy else "Accepted")
        evse = self._evses.get(target.id)
        if evse is None:
            self._refused("ChangeAvailability", f"no EVSE {target.id}")
            return m.ChangeAvailabilityResponse(
                status="Rejected", status_info=self._status_info("UnknownEvse")
            )
        connector = target.connector_id
        if connector is not UNSET and connector != 1:
            self._refused("ChangeAvailability", f"no connector {connector} on EVSE {evse.id}")
            return m.ChangeAvailabilityResponse(
                status="Rejected", status_info=self._status_info("UnknownConnectorId")
            )
        busy = not operative and evse.id in self.transactions
        status = "Scheduled" if busy else "Accepted"
        if connector is UNSET:
            if busy:
                evse.scheduled = False  # G03.FR.05
            else:
                evse.operative, evse.scheduled = operative, None
        elif busy:
            evse.scheduled_connector = False
        else:
            evse.connector_operative, evse.scheduled_connector = operative, None
        self._save_availability()  # G03.FR.08
        return m.ChangeAvailabilityResponse(status=status)

    @after("ChangeAvailability", versions=_V2)
    async def _after_change_availability(self, request: Any, response: Any) -> None:
        # G03.FR.02 / G04.FR.02: the connectors whose status changed are reported.
        self._drop_unavailable_reservations()
        for evse in self._evses.values():
            await self._status_changed(evse)

    # F01 / F02 Remote start, F03 Remote stop, E14 transaction status

    @on("RequestStartTransaction", versions=_V2)
    async def _on_request_start(self, request: Any) -> Any:
        m = self._m
        if self.registration != "Accepted":
            # B02 (TC_B_02_CS step 12); A201 appendix 5 CSNotAccepted.
            self._refused("RequestStartTransaction", "not registered (Pending)")
            return m.RequestStartTransactionResponse(
                status="Rejected", status_info=self._status_info("CSNotAccepted")
            )
        group = self._known_group(request)
        if request.evse_id is UNSET:
            # H03: an EVSE the token's reservation holds first, never one another holds.
            free = [
                evse
                for evse in self._evses.values()
                if self._effective_operative(evse)
                and not self._busy(evse)
                and not self._reservation_refusal(evse, request.id_token, group)
            ]
            free.sort(key=lambda evse: self._reservations.on(evse.id) is None)
            if not free:
                self._refused("RequestStartTransaction", "no EVSE free")
                return m.RequestStartTransactionResponse(status="Rejected")
            evse = free[0]
        else:
            found = self._evses.get(request.evse_id)
            if found is None:
                self._refused("RequestStartTransaction", f"no EVSE {request.evse_id}")
                return m.RequestStartTransactionResponse(
                    status="Rejected", status_info=self._status_info("UnknownEvse")
                )
            evse = found
        if not self._effective_operative(evse):
            self._refused("RequestStartTransaction", f"EVSE {evse.id} is unavailable")
            return m.RequestStartTransactionResponse(status="Rejected")
        if self._busy(evse):
            self._refused("RequestStartTransaction", f"EVSE {evse.id} is in use")
            return m.RequestStartTransactionResponse(
                status="Rejected", status_info=self._status_info("TxInProgress")
            )
        reserved = self._reservation_refusal(evse, request.id_token, group)
        if reserved:
            # H03 (C16 5.13 alike): a reserved EVSE charges only its reservation's token.
            self._refused("RequestStartTransaction", f"EVSE {evse.id}: {reserved}")
            return m.RequestStartTransactionResponse(
                status="Rejected", status_info=self._status_info("InvalidValue", reserved)
            )
        if request.charging_profile is not UNSET:
            reason, why = self._remote_profile_refusal(evse, request.charging_profile)
            if why:
                self._refused("RequestStartTransaction", why)
                return m.RequestStartTransactionResponse(
                    status="Rejected", status_info=self._status_info(reason, why)
                )
        token = request.id_token
        evse.remote_pending = _Authorization(
            token.id_token, _text(token.type), request.remote_start_id
        )
        transaction = self.transactions.get(evse.id)
        # A transaction already started (TxStartPoint EVConnected) gets the authorization:
        # its id goes in the response (P6 reusable state Authorized, Main B step 2).
        return m.RequestStartTransactionResponse(
            status="Accepted", transaction_id=UNSET if transaction is None else transaction.id
        )

    def _busy(self, evse: _Evse) -> bool:
        """Whether the EVSE is taken: an authorized (or stopped, not yet ended) transaction, or
        an authorization waiting for the EV. A transaction that started without authorization
        (TxStartPoint EVConnected) is not: a remote start authorizes it."""
        if evse.authorization is not None or evse.remote_pending is not None:
            return True
        transaction = self.transactions.get(evse.id)
        return transaction is not None and (
            transaction.authorized or transaction.stop_reason is not None
        )

    @after("RequestStartTransaction", versions=_V2)
    async def _after_request_start(self, request: Any, response: Any) -> None:
        if _text(response.status) != "Accepted":
            return
        evse = next(
            (
                candidate
                for candidate in self._evses.values()
                if candidate.remote_pending is not None
                and candidate.remote_pending.remote_start_id == request.remote_start_id
            ),
            None,
        )
        if evse is None or evse.remote_pending is None:
            return
        pending = evse.remote_pending
        # F01.FR.01 / F02.FR.01: authorized first like a local start when
        # AuthCtrlr.AuthorizeRemoteStart is true (TC_F_02_CS), else at once (TC_F_03_CS).
        verdict = _Verdict("Accepted", None, "CSMS")
        if self.device_model.get_bool("AuthCtrlr", "AuthorizeRemoteStart"):
            verdict = await self._authorize(pending.id_token, pending.token_type)
            pending.group = verdict.group
        evse.remote_pending = None
        if not verdict.accepted:
            self.log.info(
                "remote start %d refused: id token %s not authorized",
                pending.remote_start_id,
                pending.id_token,
            )
            return
        try:  # H03: the reservation it uses, now that its groupIdToken is known
            group = pending.group or self._known_group(request)
            used = self._use_reservation(evse, pending.id_token, pending.token_type, group)
        except StationError as exc:
            self.log.info("remote start %d refused: %s", pending.remote_start_id, exc)
            await self._status_changed(evse)
            return
        pending.reservation_id = used
        evse.authorization = pending
        if request.charging_profile is not UNSET:
            # K05: the TxProfile of the transaction this starts (or authorizes): it applies from
            # its first moment, and goes with it (`_end`).
            wire = request.charging_profile
            self._profiles.install(evse.id, from_v201(wire), msgspec.to_builtins(wire))
            self._limits.refresh()
        self.log.info(
            "remote start %d on EVSE %d for %s", pending.remote_start_id, evse.id, pending.id_token
        )
        await self._status_changed(evse)
        self._advance(evse, "RemoteStart")
        if self.auto_plug and not evse.plugged:
            await self.plug_in(evse.id)

    @on("RequestStopTransaction", versions=_V2)
    async def _on_request_stop(self, request: Any) -> Any:
        m = self._m
        if self.registration != "Accepted":
            self._refused("RequestStopTransaction", "not registered (Pending)")
            return m.RequestStopTransactionResponse(
                status="Rejected", status_info=self._status_info("CSNotAccepted")
            )
        if self._transaction_by_id(request.transaction_id) is None:
            # F03.FR.08, TC_F_09_CS
            self._refused("RequestStopTransaction", f"no transaction {request.transaction_id}")
            return m.RequestStopTransactionResponse(
                status="Rejected", status_info=self._status_info("TxNotFound")
            )
        return m.RequestStopTransactionResponse(status="Accepted")

    @after("RequestStopTransaction", versions=_V2)
    async def _after_request_stop(self, request: Any, response: Any) -> None:
        if _text(response.status) != "Accepted":
            return
        found = self._transaction_by_id(request.transaction_id)
        if found is not None:
            evse, transaction = found
            self._deauthorize(evse, transaction, "Remote")  # F03.FR.02 / F03.FR.03
            await self._status_changed(evse)

    def _transaction_by_id(self, transaction_id: str) -> tuple[_Evse, Transaction] | None:
        for evse_id, transaction in self.transactions.items():
            if transaction.id == transaction_id:
                return self._evses[evse_id], transaction
        return None

    @on("GetTransactionStatus", versions=_V2)
    async def _on_get_transaction_status(self, request: Any) -> Any:
        if request.transaction_id is UNSET:
            # E14.FR.06-08: without a transactionId, whether any message is queued.
            return self._m.GetTransactionStatusResponse(messages_in_queue=self._queued_for(None))
        wanted = request.transaction_id
        return self._m.GetTransactionStatusResponse(
            # E14.FR.02-05, TC_E_28_CS..TC_E_32_CS
            ongoing_indicator=self._transaction_by_id(wanted) is not None,
            messages_in_queue=self._queued_for(wanted),
        )

    @on("CostUpdated", versions=_V2)
    async def _on_cost_updated(self, request: Any) -> Any:
        found = self._transaction_by_id(request.transaction_id)
        if found is not None:
            found[1].total_cost = request.total_cost
            self.display.cost(request.transaction_id, request.total_cost)  # I02
        self.log.info(
            "cost of transaction %s: %s%s",
            request.transaction_id,
            request.total_cost,
            "" if found is not None else " (not running here)",
        )
        return self._m.CostUpdatedResponse()

    # H01 Reserve Now, H02 Cancel Reservation, H03 Use a reserved EVSE, H04 Reservation ended
    # (the book: ocppfast.station.reservations)

    @on("ReserveNow", versions=_V2)
    async def _on_reserve_now(self, request: Any) -> Any:
        status, reason, why = self._reserve(request)
        if why:
            self._refused("ReserveNow", f"{status}: {why}")
            info = self._status_info(reason, why) if reason else UNSET
            return self._m.ReserveNowResponse(status=status, status_info=info)
        self.log.info(
            "reservation %d of %s for %s until %s",
            request.id,
            "any EVSE" if request.evse_id is UNSET else f"EVSE {request.evse_id}",
            request.id_token.id_token,
            _iso(request.expiry_date_time),
        )
        return self._m.ReserveNowResponse(status="Accepted")

    @after("ReserveNow", versions=_V2)
    async def _after_reserve_now(self, request: Any, response: Any) -> None:
        # H01.FR.20, H01.FR.23, H01.FR.24: Reserved for the connectors reserved or held (and a
        # replaced reservation may free another EVSE).
        for evse in self._evses.values():
            await self._status_changed(evse)

    def _reserve(self, request: Any) -> tuple[str, str, str]:
        """Take a ReserveNowRequest into the book (H01): (status, reason code, why not)."""
        model = self.device_model
        book = self._reservations
        book.expire_due()
        if not model.get_bool("ReservationCtrlr", "Enabled"):
            return "Rejected", "NotEnabled", "ReservationCtrlr.Enabled is false"
        expires = request.expiry_date_time
        if expires.tzinfo is None or expires <= self.now():
            return "Rejected", "InvalidValue", f"expiryDateTime {expires.isoformat()} has passed"
        kind = None if request.connector_type is UNSET else _text(request.connector_type)
        target = 0 if request.evse_id is UNSET else request.evse_id
        reservation = Reservation(
            id=request.id,
            expires=expires,
            id_token=request.id_token.id_token,
            token_type=_text(request.id_token.type),
            target=target,
            group=None if request.group_id_token is UNSET else request.group_id_token.id_token,
            connector_type=kind,
        )
        # H01: a reservation with the same id is replaced: judged without it.
        free = self._free_evses(ignore=request.id)
        of_any = [r for r in book.of_any() if r.id != request.id]
        if target == 0:
            if not model.get_bool("ReservationCtrlr", "NonEvseSpecific"):
                why = "a reservation without evseId (ReservationCtrlr.NonEvseSpecific is false)"
                return "Rejected", "UnsupportedParam", why
            candidates = [
                e for e in self._evses.values() if kind is None or self._connector_type(e) == kind
            ]
            if not candidates:
                return "Rejected", "InvalidValue", f"no connector of type {kind}"
            if not any(self._effective_operative(e) for e in candidates):
                return "Unavailable", "", "no EVSE with such a connector is operative"
            # H01.FR.04 / H01.FR.06: an EVSE (of that type) stays free for each reservation.
            if not book.feasible([*of_any, reservation], free):
                return "Occupied", "", "no EVSE is left free for it"
        else:
            evse = self._evses.get(target)
            if evse is None:
                return "Rejected", "UnknownEvse", f"no EVSE {target}"
            if kind is not None and self._connector_type(evse) != kind:
                return "Rejected", "InvalidValue", f"EVSE {target} has no {kind} connector"
            if not self._effective_operative(evse):
                return "Unavailable", "", f"EVSE {target} is unavailable"
            other = book.on(target)
            if other is not None and other.id != request.id:
                return "Occupied", "", f"EVSE {target} is reserved ({other.id})"
            if target not in free:
                return "Occupied", "", f"EVSE {target} is in use"
            if not book.feasible(of_any, {t: k for t, k in free.items() if t != target}):
                return "Occupied", "", f"EVSE {target} is held for a reservation of any EVSE"
        book.reserve(reservation)
        return "Accepted", "", ""

    @on("CancelReservation", versions=_V2)
    async def _on_cancel_reservation(self, request: Any) -> Any:
        # H02: Accepted when a reservation has that id (its EVSE becomes Available), else
        # Rejected.
        self._reservations.expire_due()
        cancelled = self._reservations.remove(request.reservation_id)
        if cancelled is None:
            self._refused("CancelReservation", f"no reservation {request.reservation_id}")
            return self._m.CancelReservationResponse(status="Rejected")
        self.log.info("reservation %d of %s cancelled", cancelled.id, cancelled.id_token)
        return self._m.CancelReservationResponse(status="Accepted")

    @after("CancelReservation", versions=_V2)
    async def _after_cancel_reservation(self, request: Any, response: Any) -> None:
        for evse in self._evses.values():
            await self._status_changed(evse)

    def _connector_type(self, evse: _Evse) -> str | None:
        variable = self.device_model.find("Connector", "ConnectorType", evse=evse.id, connector=1)
        return None if variable is None else variable.actual

    def _free_evses(self, ignore: int | None = None) -> dict[int, str | None]:
        """The EVSEs a reservation of any EVSE may count on (EVSE id -> connector type):
        operative, idle (no transaction, EV or authorization) and not reserved themselves
        (but by reservation `ignore`)."""
        free: dict[int, str | None] = {}
        for evse in self._evses.values():
            mine = self._reservations.on(evse.id)
            if (
                self._effective_operative(evse)
                and evse.id not in self.transactions
                and not evse.plugged
                and evse.authorization is None
                and evse.remote_pending is None
                and (mine is None or mine.id == ignore)
            ):
                free[evse.id] = self._connector_type(evse)
        return free

    def _reserved_here(self, evse: _Evse) -> bool:
        """Whether the EVSE is Reserved: reserved itself, or held for a reservation of any EVSE
        (H01.FR.20, H01.FR.24: the free EVSEs are as many as those reservations)."""
        book = self._reservations
        if not len(book):
            return False
        return book.on(evse.id) is not None or evse.id in book.held(self._free_evses())

    def _known_group(self, request: Any) -> str | None:
        """The groupIdToken of a RequestStartTransaction's idToken: the request's, or the one
        the local authorization list or the cache holds (H03.FR.07)."""
        if request.group_id_token is not UNSET:
            return str(request.group_id_token.id_token)
        token = request.id_token
        for kind in (_LOCAL, _CACHE):
            entry = self._listed(kind, token.id_token, _text(token.type))
            if entry is not None:
                return _group(entry)
        return None

    def _reservation_refusal(self, evse: _Evse, token: Any, group: str | None) -> str:
        """Why a reservation keeps IdToken `token` (of group `group`) from charging at `evse`
        ("" when none does)."""
        kind = self._connector_type(evse)
        free = self._free_evses()
        return self._reservations.decide(
            evse.id, kind, token.id_token, group, free, _text(token.type)
        )[1]

    def _use_reservation(
        self, evse: _Evse, token: str, token_type: str, group: str | None
    ) -> int | None:
        """H03: the id of the reservation an authorization of `token` (of group `group`) at
        `evse` uses, taken out of the book (H03.FR.09: consumed; no ReservationStatusUpdate:
        the TransactionEvent carries its id), None when it uses none. Raises StationError when
        a reservation refuses it: a reserved EVSE charges only the reservation's idToken or
        groupIdToken."""
        book = self._reservations
        book.expire_due()
        if not len(book):
            return None
        kind = self._connector_type(evse)
        reservation, why = book.decide(evse.id, kind, token, group, self._free_evses(), token_type)
        if why:
            raise StationError(f"id token {token} may not charge at EVSE {evse.id}: {why}")
        if reservation is None:
            return None
        book.remove(reservation.id)
        self.log.info("reservation %d used by %s at EVSE %d", reservation.id, token, evse.id)
        self._refresh_later(self._evses.values())  # H03.FR.10, and what it held
        return reservation.id

    def _reservation_ended(self, reservation: Reservation, status: str) -> None:
        """H04: tell the CSMS a reservation ended unused (Expired, Removed). Through the queue:
        delivered after an outage too, in the order things happened (else the CSMS would hold
        a reservation the station no longer has)."""
        request = self._m.ReservationStatusUpdateRequest(
            reservation_id=reservation.id, reservation_update_status=status
        )
        self._enqueue(request, SHED_FIRST)

    def _reservations_expired(self, expired: list[Reservation]) -> None:
        # H04: expiryDateTime reached: ReservationStatusUpdate Expired; the EVSE is Available.
        for reservation in expired:
            self._reservation_ended(reservation, "Expired")
        self._refresh_later(self._evses.values())

    def _drop_unavailable_reservations(self) -> None:
        """H04: a reservation whose EVSE (for one of any EVSE: every EVSE it could use) became
        Unavailable is removed: ReservationStatusUpdate Removed."""
        for reservation in self._reservations:
            evse = self._evses.get(reservation.target)
            if evse is not None:
                gone = not self._effective_operative(evse)
            else:
                kind = reservation.connector_type
                gone = not any(
                    self._effective_operative(e)
                    for e in self._evses.values()
                    if kind is None or self._connector_type(e) == kind
                )
            if gone:
                self._reservations.remove(reservation.id)
                self.log.info("reservation %d removed: its EVSE is unavailable", reservation.id)
                self._reservation_ended(reservation, "Removed")

    # F05 Unlock Connector

    @on("UnlockConnector", versions=_V2)
    async def _on_unlock_connector(self, request: Any) -> Any:
        m = self._m
        evse = self._evses.get(request.evse_id)
        if evse is None or request.connector_id != 1:
            self._refused(
                "UnlockConnector", f"no connector {request.connector_id} on EVSE {request.evse_id}"
            )
            return m.UnlockConnectorResponse(status="UnknownConnector")  # F05.FR.03
        transaction = self.transactions.get(evse.id)
        if transaction is not None and transaction.authorized:
            self._refused("UnlockConnector", f"transaction {transaction.id} runs on EVSE {evse.id}")
            return m.UnlockConnectorResponse(status="OngoingAuthorizedTransaction")  # F05.FR.02
        self.log.info("EVSE %d connector 1 unlocked", evse.id)
        return m.UnlockConnectorResponse(status="Unlocked")  # F05.FR.04, F05.FR.06

    # F06 Trigger Message

    @on("TriggerMessage", versions=_V2)
    async def _on_trigger_message(self, request: Any) -> Any:
        m = self._m
        message = _text(request.requested_message)
        evse = request.evse
        if message == "BootNotification":
            if self.registration == "Accepted":
                self._refused("TriggerMessage", "BootNotification: already accepted")
                return m.TriggerMessageResponse(status="Rejected")  # F06.FR.17, TC_F_26_CS
            return m.TriggerMessageResponse(status="Accepted")
        if message in ("Heartbeat", "LogStatusNotification", "FirmwareStatusNotification"):
            return m.TriggerMessageResponse(status="Accepted")  # evse irrelevant: F06.FR.03
        if message == "StatusNotification":
            # F06.FR.12 (E201 2.6.2): without evse.connectorId the station MAY reject.
            if evse is UNSET or evse.connector_id is UNSET:
                return m.TriggerMessageResponse(status="Rejected")
            if evse.id not in self._evses or evse.connector_id != 1:
                return m.TriggerMessageResponse(status="Rejected")
            return m.TriggerMessageResponse(status="Accepted")
        if message in ("MeterValues", "TransactionEvent"):
            if evse is not UNSET and evse.id not in self._evses:
                return m.TriggerMessageResponse(status="Rejected")
            if message == "TransactionEvent" and not self._triggered_transactions(evse):
                return m.TriggerMessageResponse(
                    status="Rejected", status_info=self._status_info("TxNotFound")
                )
            return m.TriggerMessageResponse(status="Accepted")
        if message == "SignChargingStationCertificate":
            return m.TriggerMessageResponse(status="Accepted")  # A02: renewed after the answer
        # F06.FR.08, TC_F_27_CS: V2G certificates, publish firmware, 2.1 CustomTrigger.
        self._refused("TriggerMessage", f"{message} is not implemented")
        return m.TriggerMessageResponse(status="NotImplemented")

    def _triggered_transactions(self, evse: Any) -> list[tuple[_Evse, Transaction]]:
        return [
            (self._evses[evse_id], transaction)
            for evse_id, transaction in self.transactions.items()
            if evse is UNSET or evse.id == evse_id
        ]

    @after("TriggerMessage", versions=_V2)
    async def _after_trigger_message(self, request: Any, response: Any) -> None:
        if _text(response.status) != "Accepted":
            return
        m = self._m
        message = _text(request.requested_message)
        evse = request.evse
        if message == "SignChargingStationCertificate":
            self._renew_certificate("TriggerMessage")
        elif message == "BootNotification":
            self._boot_reason = "Triggered"  # TC_B_02_CS step 15
            self._boot_now.set()
        elif message == "Heartbeat":
            await self._heartbeat()
        elif message == "StatusNotification":
            target = self._evses[evse.id]
            target.status = self._status_of(target)
            await self._send_status(target)
        elif message == "LogStatusNotification":
            # F06.FR.15 (TC_F_15_CS, TC_F_16_CS): Uploading with the requestId while an upload
            # runs, else Idle.
            upload = self._maintenance.uploading()
            await self._try_call(
                m.LogStatusNotificationRequest(status="Idle")
                if upload is None
                else m.LogStatusNotificationRequest(
                    status="Uploading", request_id=upload.request_id
                ),
                "LogStatusNotification",
            )
        elif message == "FirmwareStatusNotification":
            # F06.FR.16 / L01.FR.25: the last status of the update in progress with its
            # requestId; Idle when none runs.
            status, request_id = self._maintenance.firmware_in_progress()
            await self._try_call(
                m.FirmwareStatusNotificationRequest(
                    status=status, request_id=UNSET if request_id is None else request_id
                ),
                "FirmwareStatusNotification",
            )
        elif message == "MeterValues":
            # F06.FR.06, TC_F_11_CS / TC_F_12_CS: context Trigger, every EVSE when none is named.
            measurands = self.device_model.get_list("AlignedDataCtrlr", "Measurands")
            for target in self._evses.values():
                if evse is not UNSET and target.id != evse.id:
                    continue
                values = self._sample(target, measurands, "Trigger")
                if values:
                    await self._try_call(
                        m.MeterValuesRequest(evse_id=target.id, meter_value=values), "MeterValues"
                    )
        elif message == "TransactionEvent":
            # F06.FR.07, TC_F_13_CS / TC_F_14_CS: Updated, triggerReason Trigger, meter values
            # with context Trigger.
            measurands = self.device_model.get_list("SampledDataCtrlr", "TxUpdatedMeasurands")
            for target, transaction in self._triggered_transactions(evse):
                self._emit(
                    target,
                    transaction,
                    "Updated",
                    "Trigger",
                    meter_value=self._sample(target, measurands, "Trigger"),
                )

    # Authorization cache, local list, data transfer, network profiles, customer information

    @on("ClearCache", versions=_V2)
    async def _on_clear_cache(self, request: Any) -> Any:
        if not self.device_model.get_bool("AuthCacheCtrlr", "Enabled"):
            self._refused("ClearCache", "the authorization cache is disabled")
            return self._m.ClearCacheResponse(
                status="Rejected", status_info=self._status_info("NotEnabled")
            )  # C11, TC_C_38_CS
        self._track(self.data.clear_tokens(_CACHE))
        self.log.info("authorization cache cleared")
        return self._m.ClearCacheResponse(status="Accepted")  # C11, TC_C_37_CS

    @on("SendLocalList", versions=_V2)
    async def _on_send_local_list(self, request: Any) -> Any:
        # D01: Full replaces the list, Differential changes it (an entry without idTokenInfo
        # goes); the version is the one given, once the list is stored (write_barrier).
        status, reason, problem = self._update_local_list(request)
        if status != "Accepted":
            self._refused("SendLocalList", problem)
            return self._m.SendLocalListResponse(
                status=status, status_info=self._status_info(reason, problem)
            )
        self.log.info(
            "local authorization list version %d: %d entries",
            self._local_version(),
            len(self._tokens(_LOCAL)),
        )
        return self._m.SendLocalListResponse(status="Accepted")

    # A02/A03 Update Charging Station Certificate, M03-M05 certificate management

    def _renew_certificate(self, why: str) -> None:
        """A new key pair and CSR, sent with SignCertificateRequest (A02.FR.02/03, A03.FR.02/03;
        O = SecurityCtrlr.OrganizationName), again after CertSigningWaitMinimum seconds and after
        each doubled wait, CertSigningRepeatTimes times, while no CertificateSigned comes
        (A02.FR.17/18, TC_A_23_CS)."""
        self.log.info("renewing the station certificate (%s)", why)
        model = self.device_model

        async def send(csr: str) -> bool | None:
            await self.booted.wait()
            response = await self._try_call(
                self._m.SignCertificateRequest(
                    csr=csr, certificate_type="ChargingStationCertificate"
                ),
                "SignCertificate",
            )
            if response is None:
                return None
            return _text(response.status) == "Accepted"

        self.certificates.renew(
            self.certificates.organization(
                model.get("SecurityCtrlr", "OrganizationName"), self.config.vendor
            ),
            send,
            wait_minimum=lambda: model.get_int("SecurityCtrlr", "CertSigningWaitMinimum"),
            repeat_times=lambda: model.get_int("SecurityCtrlr", "CertSigningRepeatTimes"),
        )

    @on("CertificateSigned", versions=_V2)
    async def _on_certificate_signed(self, request: Any) -> Any:
        m = self._m
        kind = request.certificate_type
        kind = "ChargingStationCertificate" if kind is UNSET else _text(kind)
        if kind != "ChargingStationCertificate":
            self._refused("CertificateSigned", f"{kind}: no ISO 15118 certificates here")
            return m.CertificateSignedResponse(status="Rejected")
        # A02.FR.06/07: checked against the pending key, the identity and the installed CSMS
        # root; installed and used from the next connection on (A02.FR.08).
        accepted, why = self.certificates.accept_signed(request.certificate_chain)
        if not accepted:
            return m.CertificateSignedResponse(
                status="Rejected", status_info=self._status_info("InvalidCertificate", why[:512])
            )
        return m.CertificateSignedResponse(status="Accepted")

    @on("InstallCertificate", versions=_V2)
    async def _on_install_certificate(self, request: Any) -> Any:
        # M05.FR.02/06: a CA certificate valid now, Rejected otherwise; Failed when the store
        # holds SecurityCtrlr.CertificateEntries' maxLimit certificates.
        status = self.certificates.install_root(
            _text(request.certificate_type), request.certificate
        )
        if status != "Accepted":
            self._refused("InstallCertificate", status)
        return self._m.InstallCertificateResponse(status=status)

    @on("GetInstalledCertificateIds", versions=_V2)
    async def _on_get_installed_certificate_ids(self, request: Any) -> Any:
        m = self._m
        # M03: the roots of the types asked for, or all; V2GCertificateChain (the station's
        # ISO 15118 certificate) is never installed here, so never found.
        types = request.certificate_type
        wanted = None if types is UNSET or not types else [_text(t) for t in types]
        found = self.certificates.installed(wanted)
        if not found:
            return m.GetInstalledCertificateIdsResponse(status="NotFound")
        return m.GetInstalledCertificateIdsResponse(
            status="Accepted",
            certificate_hash_data_chain=[
                m.CertificateHashDataChain(
                    certificate_type=use,
                    certificate_hash_data=msgspec.convert(hash_data, m.CertificateHashData),
                )
                for use, hash_data in found
            ],
        )

    @on("DeleteCertificate", versions=_V2)
    async def _on_delete_certificate(self, request: Any) -> Any:
        # M04: never the station's own certificate (M04.FR.05) nor the CSMS root that validates
        # this connection (M04.FR.06): Failed; NotFound when nothing matches (M04.FR.04).
        status = self.certificates.delete(request.certificate_hash_data)
        if status != "Accepted":
            self._refused("DeleteCertificate", status)
        return self._m.DeleteCertificateResponse(status=status)

    @on("GetLocalListVersion", versions=_V2)
    async def _on_get_local_list_version(self, request: Any) -> Any:
        # D02: the version of the last update; 0 means no local authorization list.
        return self._m.GetLocalListVersionResponse(version_number=self._local_version())

    @on("DataTransfer", versions=_V2)
    async def _on_data_transfer(self, request: Any) -> Any:
        # P01 / TC_P_01_CS: no vendor extension is known to this station.
        self._refused("DataTransfer", f"unknown vendor {request.vendor_id}")
        return self._m.DataTransferResponse(status="UnknownVendorId")

    @on("SetNetworkProfile", versions=_V2)
    async def _on_set_network_profile(self, request: Any) -> Any:
        slot = request.configuration_slot
        data = request.connection_data
        version = "" if data.ocpp_version is UNSET else _text(data.ocpp_version)
        identity = getattr(data, "identity", UNSET)  # 2.1: the Basic auth username
        problem = ""
        if slot not in _NETWORK_SLOTS:
            problem = f"no configuration slot {slot} (slots {_NETWORK_SLOTS})"  # TC_B_43_CS
        elif slot == self._slot:
            problem = f"slot {slot} is the profile in use"
        elif unusable := _unusable_url(data.ocpp_csms_url, self.config.identity):
            problem = unusable  # B10: a profile the station could never connect with
        elif _text(data.ocpp_transport) != "JSON":
            problem = "only OCPP-J (JSON) is spoken"
        elif version and version not in ("OCPP20", "OCPP201", "OCPP21"):
            problem = f"{version} is not spoken by this station"
        elif not 1 <= data.security_profile <= 3:
            problem = f"security profile {data.security_profile} does not exist"
        elif data.security_profile < self.device_model.get_int("SecurityCtrlr", "SecurityProfile"):
            problem = "a lower security profile than the current one"  # A05: no downgrade
        elif data.security_profile > 1 and not data.ocpp_csms_url.startswith("wss:"):
            problem = f"security profile {data.security_profile} needs a wss:// URL"  # A00
        elif data.message_timeout < 1:
            problem = f"messageTimeout {data.message_timeout} s"
        elif identity is not UNSET and identity != self.config.identity:
            problem = "connecting under another identity is not supported"
        if problem:
            self._refused("SetNetworkProfile", problem)
            return self._m.SetNetworkProfileResponse(
                status="Rejected", status_info=self._status_info("InvalidValue", problem)
            )
        self.network_profiles[slot] = data
        self._track(
            self.data.set_state(
                _PROFILES_STATE,
                {
                    str(key): msgspec.to_builtins(value)
                    for key, value in self.network_profiles.items()
                },
            )
        )
        self.log.info("network profile %d: %s", slot, safe_url(data.ocpp_csms_url))
        return self._m.SetNetworkProfileResponse(status="Accepted")  # B09.FR.01

    @on("CustomerInformation", versions=_V2)
    async def _on_customer_information(self, request: Any) -> Any:
        named = [
            field
            for field in (
                request.id_token,
                request.customer_certificate,
                request.customer_identifier,
            )
            if field is not UNSET
        ]
        if len(named) != 1:
            # N09.FR.09 (E201 2.13.2): exactly one of idToken, customerCertificate and
            # customerIdentifier names the customer.
            self._refused(
                "CustomerInformation", "no customer named" if not named else "more than one"
            )
            return self._m.CustomerInformationResponse(status="Invalid")
        return self._m.CustomerInformationResponse(status="Accepted")

    @after("CustomerInformation", versions=_V2)
    async def _after_customer_information(self, request: Any, response: Any) -> None:
        if _text(response.status) != "Accepted":
            return
        # N09/N10: what the station keeps about the customer is its id token in the
        # authorization cache and the transactions it runs.
        token = None if request.id_token is UNSET else request.id_token.id_token
        facts = []
        if token is not None:
            for kind, where in ((_CACHE, "authorization cache"), (_LOCAL, "local list")):
                entry = self._tokens(kind).get(token)
                if isinstance(entry, dict):
                    facts.append(f"{where}: {token} {entry.get('status')}")
            facts += [
                f"transaction {t.id} on EVSE {t.evse_id}"
                for t in self.transactions.values()
                if t.id_token == token
            ]
            # The local list is the CSMS's own: only the cache is cleared here.
            if request.clear and token in self._tokens(_CACHE):
                self._track(self.data.set_token(_CACHE, token, None))
                facts.append("cleared from the authorization cache")
        if request.report:
            text = "; ".join(facts) if facts else "no data about this customer"
        elif request.clear:
            # N10.FR.06 (TC_N_32_CS): cleared without a report, the station still notifies
            # that the data is cleared.
            text = "customer data cleared"
        else:
            return
        await self._try_call(
            self._m.NotifyCustomerInformationRequest(
                data=text[:512],
                seq_no=0,
                generated_at=self.now(),
                request_id=request.request_id,
                tbc=False,
            ),
            "NotifyCustomerInformation",
        )

    # L01 / L02 Firmware update, N01 Retrieve log information (maintenance.py)

    @on("UpdateFirmware", versions=_V2)
    async def _on_update_firmware(self, request: Any) -> Any:
        m = self._m
        firmware = request.firmware
        if firmware.signing_certificate is not UNSET or firmware.signature is not UNSET:
            # L01.FR.23/24: the signing certificate is validated against the manufacturer root
            # certificates before the request is accepted: InvalidCertificate otherwise, and
            # the security event InvalidFirmwareSigningCertificate (L01.FR.02, TC_L_05_CS). A
            # signature without its certificate cannot be verified (L01.FR.11) either.
            problem = self._maintenance.signing_certificate_problem(firmware.signing_certificate)
            if problem is None and firmware.signature is UNSET:
                problem = "the request has a signing certificate but no signature"
            if problem is not None:
                self._refused("UpdateFirmware", f"InvalidCertificate: {problem}")
                self._security_event("InvalidFirmwareSigningCertificate", problem[:255])
                return m.UpdateFirmwareResponse(status="InvalidCertificate")
        elif manufacturer_roots_of(self):
            # TC_L_18_CS: a station that verifies signed firmware (it has a manufacturer root)
            # does not take an unsigned update.
            self._refused("UpdateFirmware", "Rejected: unsigned firmware (TC_L_18_CS)")
            return m.UpdateFirmwareResponse(status="Rejected")
        # L01.FR.24 (TC_L_10_CS): a new request while an update is in progress cancels it.
        status = "AcceptedCanceled" if self._maintenance.firmware_busy else "Accepted"
        self.log.info(
            "UpdateFirmware %d from %s: %s", request.request_id, firmware.location, status
        )
        return m.UpdateFirmwareResponse(status=status)

    @after("UpdateFirmware", versions=_V2)
    async def _after_update_firmware(self, request: Any, response: Any) -> None:
        if _text(response.status) not in ("Accepted", "AcceptedCanceled"):
            return
        firmware = request.firmware
        self._maintenance.update_firmware(
            FirmwareUpdate(
                location=firmware.location,
                retrieve_at=firmware.retrieve_date_time,
                install_at=optional_time(firmware.install_date_time),
                retries=nonnegative(request.retries),
                retry_interval=nonnegative(request.retry_interval),
                request_id=request.request_id,
                signing_certificate=firmware.signing_certificate
                if isinstance(firmware.signing_certificate, str)
                else None,
                signature=firmware.signature if isinstance(firmware.signature, str) else None,
            )
        )

    @on("GetLog", versions=_V2)
    async def _on_get_log(self, request: Any) -> Any:
        # N01: DiagnosticsLog (the station's log and OCPP traffic) or SecurityLog (its
        # security events) between oldestTimestamp and latestTimestamp, as a tar.gz uploaded
        # to remoteLocation; a new request cancels the upload in progress: AcceptedCanceled
        # (TC_N_36_CS).
        kind = _text(request.log_type)
        job = self._maintenance.log_request(request, kind)
        self._maintenance.prepared[id(request)] = job
        status = "AcceptedCanceled" if self._maintenance.upload_busy else "Accepted"
        self.log.info(
            "GetLog %s %d: %s, uploading %s", kind, request.request_id, status, job.file_name
        )
        return self._m.GetLogResponse(status=status, filename=job.file_name)  # TC_N_25_CS

    @after("GetLog", versions=_V2)
    async def _after_get_log(self, request: Any, response: Any) -> None:
        job = self._maintenance.prepared.pop(id(request), None)
        if job is not None:
            self._maintenance.start_upload(job)

    def _firmware_sessions_setting(self, value: str) -> None:
        # AllowNewSessionsPendingFirmwareUpdate changed while an installation waits: the idle
        # EVSEs open or close (L01.FR.07). Told before the variable holds the new value: the
        # refresh runs after.
        if self._firmware_pending:
            self._refresh_later(self._evses.values())

    # O01-O06 Display messages, I01-I06 tariff and cost on the display
    # (ocppfast.station.display: what is kept, what is in force, what is shown)

    @on("SetDisplayMessage", versions=_V2)
    async def _on_set_display_message(self, request: Any) -> Any:
        """O01, O02, O06: Accepted (kept; a message with the same id replaced), or why not:
        NotSupportedPriority / NotSupportedMessageFormat / NotSupportedState (not in
        DisplayMessageCtrlr.Supported*), UnknownTransaction (not running here), 2.1
        LanguageNotSupported, Rejected (disabled, unknown EVSE, past endDateTime, full)."""
        status, reason, detail = self.display.set(msgspec.to_builtins(request.message))
        if status == "Accepted":
            return self._m.SetDisplayMessageResponse(status=status)
        self._refused("SetDisplayMessage", f"message {request.message.id}: {status}, {detail}")
        return self._m.SetDisplayMessageResponse(
            status=status, status_info=self._status_info(reason, detail)
        )

    def _display_query(self, request: Any) -> list[dict[str, Any]]:
        # O04: every criterion given must match.
        return self.display.find(
            None if request.id is UNSET else request.id,
            None if request.priority is UNSET else _text(request.priority),
            None if request.state is UNSET else _text(request.state),
        )

    @on("GetDisplayMessages", versions=_V2)
    async def _on_get_display_messages(self, request: Any) -> Any:
        """O03, O04: Accepted, then the messages in NotifyDisplayMessages; Unknown when none
        matches."""
        if not self._display_query(request):
            self.log.info("answered GetDisplayMessages Unknown: no message matches")
            return self._m.GetDisplayMessagesResponse(
                status="Unknown", status_info=self._status_info("NotFound")
            )
        return self._m.GetDisplayMessagesResponse(status="Accepted")

    @after("GetDisplayMessages", versions=_V2)
    async def _after_get_display_messages(self, request: Any, response: Any) -> None:
        if _text(response.status) != "Accepted":
            return
        m = self._m
        infos = [info for info in map(self._message_info, self._display_query(request)) if info]
        parts = [
            infos[start : start + MESSAGES_PER_NOTIFY]
            for start in range(0, len(infos), MESSAGES_PER_NOTIFY)
        ] or [[]]
        for number, part in enumerate(parts):
            notify = m.NotifyDisplayMessagesRequest(
                request_id=request.request_id,
                message_info=part or UNSET,
                tbc=number < len(parts) - 1,
            )
            if await self._try_call(notify, "NotifyDisplayMessages") is None:
                self.log.warning(
                    "display messages of request %d: aborted at part %d", request.request_id, number
                )
                return
        self.log.info(
            "display messages of request %d sent: %d in %d part(s)",
            request.request_id,
            len(infos),
            len(parts),
        )

    def _message_info(self, info: dict[str, Any]) -> Any:
        """A kept MessageInfo in the version spoken now (None, logged, when it has no form in
        it: a 2.1 QRCODE message asked for over 2.0.1)."""
        if self.version == OCPP201:
            info = {name: value for name, value in info.items() if name != "messageExtra"}
        try:
            return msgspec.convert(info, type=self._m.MessageInfo, dec_hook=dec_hook)
        except (msgspec.MsgspecError, ValueError) as exc:
            self.log.warning(
                "display message %s not reported in %s: %s", info.get("id"), self.version, exc
            )
            return None

    @on("ClearDisplayMessage", versions=_V2)
    async def _on_clear_display_message(self, request: Any) -> Any:
        """O05: Accepted when the message was set (it is gone), else Unknown."""
        if self.display.clear(request.id):
            return self._m.ClearDisplayMessageResponse(status="Accepted")
        self._refused("ClearDisplayMessage", f"no display message {request.id}")
        return self._m.ClearDisplayMessageResponse(status="Unknown")

    def _display_answer(self, request: Any, response: Any) -> None:
        """What a TransactionEventResponse tells the display: the driver's personal message
        (updatedPersonalMessage with its 2.1 translations, I06; else idTokenInfo's
        personalMessage, I01), the running cost (totalCost of Started / Updated, I02), the
        final cost (of Ended, I03; without one: TotalCostFallbackMessage, I05)."""
        transaction_id = request.transaction_info.transaction_id
        if _text(request.event_type) == "Ended":
            if request.evse is not UNSET:
                total = None if response.total_cost is UNSET else response.total_cost
                self.display.final_cost(transaction_id, request.evse.id, total)
            return
        if self._transaction_by_id(transaction_id) is None:
            return
        personal = [_wire(response.updated_personal_message)]
        personal += map(_wire, getattr(response, "updated_personal_message_extra", None) or ())
        if personal[0] is None and response.id_token_info is not UNSET:
            personal = [_wire(response.id_token_info.personal_message)]
        contents = [content for content in personal if content is not None]
        if contents:
            self.display.transaction_message(transaction_id, contents)
        if response.total_cost is not UNSET:
            self.display.cost(transaction_id, response.total_cost)

    def _display_situation(self) -> Situation:
        """The station as the display sees it (MessageStateEnumType): an EVSE is Unavailable
        (G03, G04), Idle (no transaction), Charging (a transaction runs) or, in 2.1, Suspended
        (it runs, SuspendedEV or SuspendedEVSE)."""
        evses = {}
        for evse in self._evses.values():
            transaction = self.transactions.get(evse.id)
            status = self._status_of(evse)
            if status in ("Unavailable", "Faulted"):
                state = status
            elif transaction is None:
                state = "Idle"
            elif self.version == OCPP21 and self._charging_state(evse).startswith("Suspended"):
                state = "Suspended"
            else:
                state = "Charging"
            evses[evse.id] = EvseView(
                state,
                None if transaction is None else transaction.id,
                None if transaction is None else transaction.id_token,
            )
        return Situation(self._operative, evses)

    def _display_settings(self) -> DisplaySettings:
        model = self.device_model
        display, tariff = "DisplayMessageCtrlr", "TariffCostCtrlr"
        language = model.find(display, "Language")
        return DisplaySettings(
            enabled=model.get_bool(display, "Enabled"),
            formats=tuple(model.get_list(display, "SupportedFormats")),
            priorities=tuple(model.get_list(display, "SupportedPriorities")),
            states=tuple(model.get_list(display, "SupportedStates")),
            languages=None if language is None else language.values_list,
            language=None if language is None else language.actual,
            personal_message_size=model.get_int(display, "PersonalMessageSize"),
            tariff_enabled=model.get_bool(tariff, "Enabled"),
            currency=model.get(tariff, "Currency"),
            tariff_fallback=model.get(tariff, "TariffFallbackMessage"),
            total_cost_fallback=model.get(tariff, "TotalCostFallbackMessage"),
        )

    def _display_setting(self, value: str) -> None:
        # Told before the variable holds the new value (`_write`): refresh right after.
        asyncio.get_running_loop().call_soon(self.display.refresh)

    def _display_text(self, evse_id: int | None) -> Callable[[], str]:
        def text() -> str:
            shown = (m.content for m in self.display.shown if m.evse_id == evse_id)
            return next(shown, "")

        return text

    # Features this station does not have: the answers of a charger without them.

    # K01 / K05 / K08 / K09 / K10 Smart charging (ocppfast.station.charging_profiles)

    @on("SetChargingProfile", versions=_V2)
    async def _on_set_charging_profile(self, request: Any) -> Any:
        m = self._m
        wire = request.charging_profile
        reason, why = self._profile_refusal(request.evse_id, wire)
        tx_profile = _text(wire.charging_profile_purpose) == "TxProfile"
        if not why and tx_profile and wire.transaction_id is UNSET:
            # K01: a TxProfile names the transaction it is for.
            reason, why = "TxNotFound", "a TxProfile without transactionId"
        if why:
            self._refused("SetChargingProfile", f"profile {wire.id}: {why}")
            return m.SetChargingProfileResponse(
                status="Rejected", status_info=self._status_info(reason, why)
            )
        # K01: install (replacing the profile with its id) and re-evaluate the limits at once;
        # the answer waits for the write (`write_barrier`).
        self._profiles.install(request.evse_id, from_v201(wire), msgspec.to_builtins(wire))
        self._limits.refresh()
        return m.SetChargingProfileResponse(status="Accepted")

    @on("ClearChargingProfile", versions=_V2)
    async def _on_clear_charging_profile(self, request: Any) -> Any:
        m = self._m
        criteria = request.charging_profile_criteria
        evse_id = purpose = stack_level = None
        if criteria is not UNSET:
            evse_id = None if criteria.evse_id is UNSET else criteria.evse_id
            if criteria.charging_profile_purpose is not UNSET:
                purpose = _PURPOSES.get(_text(criteria.charging_profile_purpose))
                if purpose is None:  # 2.1 purposes this station never installs
                    self._refused("ClearChargingProfile", "no profile of that purpose")
                    return m.ClearChargingProfileResponse(status="Unknown")
            stack_level = None if criteria.stack_level is UNSET else criteria.stack_level
        # K10: the profiles matching the id and every criterion given; Unknown when none.
        matching = self._profiles.select(
            profile_ids=None
            if request.charging_profile_id is UNSET
            else [request.charging_profile_id],
            evse=evse_id,
            purpose=purpose,
            stack_level=stack_level,
        )
        if not matching:
            self._refused("ClearChargingProfile", "no charging profile matches")
            return m.ClearChargingProfileResponse(status="Unknown")
        self._profiles.clear(matching, "ClearChargingProfile")
        self._limits.refresh()
        return m.ClearChargingProfileResponse(status="Accepted")

    @on("GetChargingProfiles", versions=_V2)
    async def _on_get_charging_profiles(self, request: Any) -> Any:
        # K09: Accepted, then the profiles in ReportChargingProfiles; NoProfiles when none.
        if not self._profiles_asked(request):
            return self._m.GetChargingProfilesResponse(status="NoProfiles")
        return self._m.GetChargingProfilesResponse(status="Accepted")

    @after("GetChargingProfiles", versions=_V2)
    async def _after_get_charging_profiles(self, request: Any, response: Any) -> None:
        if _text(response.status) != "Accepted":
            return
        m = self._m
        found = self._profiles_asked(request)
        # K09: one report per EVSE and source (all CSO here), in parts; tbc on all but the last.
        parts: list[tuple[int, list[Installed]]] = []
        for evse_id in sorted({e.evse for e in found}):
            mine = [e for e in found if e.evse == evse_id]
            for at in range(0, len(mine), _PROFILES_PER_REPORT):
                parts.append((evse_id, mine[at : at + _PROFILES_PER_REPORT]))
        for number, (evse_id, entries) in enumerate(parts):
            report = m.ReportChargingProfilesRequest(
                request_id=request.request_id,
                charging_limit_source="CSO",
                charging_profile=[
                    msgspec.convert(e.wire, type=m.ChargingProfile, dec_hook=dec_hook)
                    for e in entries
                ],
                tbc=True if number < len(parts) - 1 else UNSET,
                evse_id=evse_id,
            )
            await self._try_call(report, f"ReportChargingProfiles {request.request_id}")

    def _profiles_asked(self, request: Any) -> list[Installed]:
        """The installed profiles a GetChargingProfilesRequest asks for (K09)."""
        criterion = request.charging_profile
        sources = criterion.charging_limit_source
        # Every profile here was set by the CSMS: charging limit source CSO.
        if sources is not UNSET and "CSO" not in [_text(source) for source in sources]:
            return []
        purpose = criterion.charging_profile_purpose
        if purpose is not UNSET and _text(purpose) not in _PURPOSES:
            return []  # 2.1 purposes this station never installs
        return self._profiles.select(
            profile_ids=None
            if criterion.charging_profile_id is UNSET
            else criterion.charging_profile_id,
            evse=None if request.evse_id is UNSET else request.evse_id,
            purpose=None if purpose is UNSET else _PURPOSES[_text(purpose)],
            stack_level=None if criterion.stack_level is UNSET else criterion.stack_level,
        )

    @on("GetCompositeSchedule", versions=_V2)
    async def _on_get_composite_schedule(self, request: Any) -> Any:
        m = self._m
        evse_id = request.evse_id
        if evse_id != 0 and evse_id not in self._evses:
            self._refused("GetCompositeSchedule", f"no EVSE {evse_id}")
            return m.GetCompositeScheduleResponse(
                status="Rejected", status_info=self._status_info("UnknownEvse")
            )
        if request.duration <= 0:
            self._refused("GetCompositeSchedule", f"duration {request.duration}")
            return m.GetCompositeScheduleResponse(
                status="Rejected", status_info=self._status_info("InvalidValue")
            )
        # Without a chargingRateUnit, in amps: what the charger controls (the pilot signal).
        unit: Unit = "W" if _text(request.charging_rate_unit) == "W" else "A"
        rating = self.config.power_w
        if unit == "A":
            rating /= NOMINAL_VOLTAGE * self._phases()
        # K08: from now for `duration`; EVSE 0: what the whole station may draw.
        schedule = self._limits.composite(evse_id, request.duration, unit, rating)
        assert schedule.start is not None
        return m.GetCompositeScheduleResponse(
            status="Accepted",
            schedule=m.CompositeSchedule(
                evse_id=evse_id,
                duration=request.duration,
                schedule_start=schedule.start,
                charging_rate_unit=unit,
                charging_schedule_period=[
                    m.ChargingSchedulePeriod(
                        start_period=period.start,
                        limit=period.limit,
                        number_phases=UNSET
                        if period.number_phases is None
                        else period.number_phases,
                    )
                    for period in schedule.periods
                ],
            ),
        )

    def _profile_refusal(self, evse_id: int, wire: Any) -> tuple[str, str]:
        """Why the station cannot install `wire` on `evse_id`: (reason code, explanation), or
        ("", "") when it can (K01)."""
        if not self.device_model.get_bool("SmartChargingCtrlr", "Enabled"):
            return "UnsupportedRequest", "SmartChargingCtrlr.Enabled is false"
        try:
            profile = from_v201(wire)
        except Unsupported as error:
            return error.reason, str(error)
        except ValueError as error:
            return "InvalidSchedule", str(error)
        if len(wire.charging_schedule) > 1 and _text(wire.charging_profile_purpose) != "TxProfile":
            # Only a TxProfile offers an ISO 15118 EV alternative schedules.
            return "InvalidProfile", "more than one chargingSchedule"
        transaction = self.transactions.get(evse_id)
        return self._profiles.refusal(
            evse_id,
            profile,
            _SMART_CHARGING,
            evses=len(self._evses),
            transaction=None if transaction is None else transaction.id,
        )

    def _remote_profile_refusal(self, evse: _Evse, wire: Any) -> tuple[str, str]:
        """Why the chargingProfile of a RequestStartTransactionRequest cannot be used (K05)."""
        if _text(wire.charging_profile_purpose) != "TxProfile":
            return "InvalidProfile", f"purpose {_text(wire.charging_profile_purpose)}"
        transaction = self.transactions.get(evse.id)
        if wire.transaction_id is not UNSET and (
            transaction is None or wire.transaction_id != transaction.id
        ):
            return "TxNotFound", f"transaction {wire.transaction_id} does not run here"
        if not self.device_model.get_bool("SmartChargingCtrlr", "Enabled"):
            return "UnsupportedRequest", "SmartChargingCtrlr.Enabled is false"
        try:
            profile = from_v201(wire)
        except Unsupported as error:
            return error.reason, str(error)
        except ValueError as error:
            return "InvalidSchedule", str(error)
        # The transaction this starts has no id yet: "" passes the TxProfile check.
        return self._profiles.refusal(
            evse.id, profile, _SMART_CHARGING, evses=len(self._evses), transaction=""
        )

    def _parse_profile(self, wire: Any) -> Profile:
        """A charging profile the book kept (`ProfileBook`), read back."""
        return from_v201(msgspec.convert(wire, type=self._m.ChargingProfile, dec_hook=dec_hook))

    def _tx_start(self, evse_id: int) -> datetime | None:
        transaction = self.transactions.get(evse_id)
        return None if transaction is None else transaction.started_at

    def _apply_limit(self, evse_id: int, limit: Limit | None) -> None:
        """Carry out the charging limit in force on an EVSE (`LimitKeeper`, K01): tell the
        hardware and let the EV draw at most that much. A limit of 0, or below the schedule's
        minChargingRate, suspends charging (chargingState SuspendedEVSE); the new state is
        reported with triggerReason ChargingStateChanged, a change of the power drawn by more
        than SmartChargingCtrlr.LimitChangeSignificance percent with ChargingRateChanged."""
        evse = self._evses[evse_id]
        self._link.current_limit(evse_id, None if limit is None else limit.value)
        if limit is None:
            watts = math.inf
        elif limit.min_rate is not None and limit.value < limit.min_rate:
            watts = 0.0
        else:
            watts = limit.value * NOMINAL_VOLTAGE * (limit.number_phases or self._phases())
        before = self._allowed_w.get(evse_id, math.inf)
        self._allowed_w[evse_id] = watts
        transaction = self.transactions.get(evse_id)
        if transaction is None or watts == before or not transaction.authorized:
            return
        if not evse.plugged or transaction.suspended or evse.ev_suspended:
            return
        drawn = evse.meter.power_w
        evse.meter.power_w = self._charging_power(evse)
        if self._charging_state(evse) != transaction.charging_state:
            self._emit(evse, transaction, "Updated", "ChargingStateChanged")
            return
        significance = float(self.device_model.get("SmartChargingCtrlr", "LimitChangeSignificance"))
        if drawn > 0 and abs(evse.meter.power_w - drawn) * 100 > significance * drawn:
            self._emit(evse, transaction, "Updated", "ChargingRateChanged")

    @_on_each(_WITHOUT_FEATURE)
    async def _on_without_feature(self, request: Any) -> Any:
        status, feature = _WITHOUT_FEATURE[request.ACTION]
        return self._unsupported(request.ACTION, status, feature)

    @on("UnpublishFirmware", versions=_V2)
    async def _on_unpublish_firmware(self, request: Any) -> Any:
        self.log.info("answered UnpublishFirmware NoFirmware")
        return self._m.UnpublishFirmwareResponse(status="NoFirmware")

    @on("SetVariableMonitoring", versions=_V2)
    async def _on_set_variable_monitoring(self, request: Any) -> Any:
        m = self._m
        results = []
        for item in request.set_monitoring_data:
            variable, known = self._locate(item.component, item.variable)
            if variable is None:
                status = "UnknownVariable" if known else "UnknownComponent"
            else:
                status = "UnsupportedMonitorType"  # supportsMonitoring is false everywhere
            results.append(
                m.SetMonitoringResult(
                    status=status,
                    type=item.type,
                    component=item.component,
                    variable=item.variable,
                    severity=item.severity,
                )
            )
        self.log.info("answered SetVariableMonitoring: monitoring not supported")
        return m.SetVariableMonitoringResponse(set_monitoring_result=results)

    @on("ClearVariableMonitoring", versions=_V2)
    async def _on_clear_variable_monitoring(self, request: Any) -> Any:
        m = self._m
        return m.ClearVariableMonitoringResponse(
            clear_monitoring_result=[
                m.ClearMonitoringResult(status="NotFound", id=monitor) for monitor in request.id
            ]
        )

    # OCPP 2.1

    @on("GetPeriodicEventStream", versions=_V2)
    async def _on_get_periodic_event_stream(self, request: Any) -> Any:
        return self._m.GetPeriodicEventStreamResponse()  # no stream is open

    @on("ChangeTransactionTariff", versions=_V2)
    async def _on_change_transaction_tariff(self, request: Any) -> Any:
        if self._transaction_by_id(request.transaction_id) is None:
            self._refused("ChangeTransactionTariff", f"no transaction {request.transaction_id}")
            return self._m.ChangeTransactionTariffResponse(status="TxNotFound")
        return self._unsupported("ChangeTransactionTariff", "Rejected", "tariffs")

    @on("ClearTariffs", versions=_V2)
    async def _on_clear_tariffs(self, request: Any) -> Any:
        m = self._m
        ids = [UNSET] if request.tariff_ids is UNSET else list(request.tariff_ids)
        return m.ClearTariffsResponse(
            clear_tariffs_result=[m.ClearTariffsResult(status="NoTariff", tariff_id=i) for i in ids]
        )

    @on("NotifyWebPaymentStarted", versions=_V2)
    async def _on_notify_web_payment_started(self, request: Any) -> Any:
        self.log.info(
            "web payment started for EVSE %d (timeout %d s)", request.evse_id, request.timeout
        )
        return self._m.NotifyWebPaymentStartedResponse()

    # -- tasks ---------------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any], what: str) -> asyncio.Task[Any]:
        """A task of the station's life (it outlives connections)."""
        task = asyncio.ensure_future(coro)
        task.set_name(f"{self.config.identity}: {what}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _spawn_conn(self, coro: Awaitable[Any], what: str) -> asyncio.Task[Any]:
        """A task of the current connection: cancelled when it ends."""
        task = self._spawn(coro, what)
        self._conn_tasks.add(task)
        task.add_done_callback(self._conn_tasks.discard)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("%s failed", task.get_name(), exc_info=task.exception())

    # -- the device model ----------------------------------------------------------------------

    def _build_device_model(self) -> DeviceModel:
        """The components and variables of A201 appendix 3 this station implements, with the
        ones TC_B_53_CS requires of every implementation of the functional blocks it has."""
        config = self.config
        model = DeviceModel()

        def ro(component: str, name: str, data_type: str, value: str = "", **kw: Any) -> None:
            """A ReadOnly variable; `getter` makes its Actual value live; the rest of `kw` are
            Variable fields (instance, evse, connector, unit, limits, values_list, ...)."""
            getter = kw.pop("getter", None)
            mutability = kw.pop("mutability", "ReadOnly")
            on_set = kw.pop("on_set", None)
            attributes = {"Actual": Attribute(value, mutability, getter, on_set)}
            attributes.update(kw.pop("extra", {}))
            model.add(Variable(component, name, data_type, attributes, **kw))

        def rw(component: str, name: str, data_type: str, value: str, **kw: Any) -> None:
            ro(component, name, data_type, value, mutability="ReadWrite", **kw)

        def seconds(component: str, name: str, value: int | str, **kw: Any) -> None:
            rw(component, name, "integer", str(value), unit="s", min_limit=0, **kw)

        def measurands(component: str, name: str, value: str) -> None:
            # TC_B_53_CS: maxLimit > 0, valuesList: the measurands this meter supports.
            rw(component, name, "MemberList", value, values_list=_MEASURANDS, max_limit=4)

        def points(name: str, value: str) -> None:
            size = len(_TX_POINTS)
            rw("TxCtrlr", name, "MemberList", value, values_list=_TX_POINTS, min_members=1,
               max_limit=size)  # fmt: skip

        energy = "Energy.Active.Import.Register"
        true, false = "true", "false"

        # Controllers (A201 3.1)
        rw("AlignedDataCtrlr", "Enabled", "boolean", true)
        ro("AlignedDataCtrlr", "Available", "boolean", true)
        seconds("AlignedDataCtrlr", "Interval", 0)
        measurands("AlignedDataCtrlr", "Measurands", energy)
        rw("AlignedDataCtrlr", "SendDuringIdle", "boolean", false)
        seconds("AlignedDataCtrlr", "TxEndedInterval", 0)
        measurands("AlignedDataCtrlr", "TxEndedMeasurands", energy)

        rw("AuthCtrlr", "Enabled", "boolean", true)
        rw("AuthCtrlr", "AuthorizeRemoteStart", "boolean", true)
        rw("AuthCtrlr", "DisableRemoteAuthorization", "boolean", false)
        rw("AuthCtrlr", "LocalAuthorizeOffline", "boolean", true)
        rw("AuthCtrlr", "LocalPreAuthorize", "boolean", false)
        rw("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "boolean", false)  # C15

        rw("AuthCacheCtrlr", "Enabled", "boolean", true)
        ro("AuthCacheCtrlr", "Available", "boolean", true)
        rw("AuthCacheCtrlr", "DisablePostAuthorize", "boolean", false)
        seconds("AuthCacheCtrlr", "LifeTime", 86400)
        rw("AuthCacheCtrlr", "Policy", "OptionList", "LRU", values_list=("LRU", "LFU"))
        ro("AuthCacheCtrlr", "Storage", "integer", getter=lambda: self._storage(_CACHE),
           unit="B", max_limit=_CACHE_MAX_BYTES)  # fmt: skip

        ro("ClockCtrlr", "DateTime", "dateTime", getter=lambda: _iso(self.now()))
        sources = ("Heartbeat", "RealTimeClock")
        rw("ClockCtrlr", "TimeSource", "SequenceList", "RealTimeClock", values_list=sources,
           min_members=1, max_limit=2)  # fmt: skip
        # A201 appendix 1 SettingSystemTime; the default is ours (no spec value).
        seconds("ClockCtrlr", "TimeAdjustmentReportingThreshold", 20)

        for what in ("GetReport", "GetVariables", "SetVariables"):
            ro("DeviceDataCtrlr", "ItemsPerMessage", "integer", str(_ITEMS_PER_MESSAGE),
               instance=what)  # fmt: skip
            ro("DeviceDataCtrlr", "BytesPerMessage", "integer", getter=self._frame_limit,
               instance=what, unit="B")  # fmt: skip

        # D01 / D02, TC_B_53_CS: Entries with its maxLimit, ItemsPerMessage, BytesPerMessage.
        lists = "LocalAuthListCtrlr"
        rw(lists, "Enabled", "boolean", true)
        ro(lists, "Available", "boolean", true)
        ro(lists, "BytesPerMessage", "integer", getter=self._frame_limit, unit="B")
        rw(lists, "DisablePostAuthorize", "boolean", false)
        ro(lists, "Entries", "integer", getter=lambda: str(len(self._tokens(_LOCAL))),
           max_limit=_LOCAL_LIST_MAX_ENTRIES)  # fmt: skip
        ro(lists, "ItemsPerMessage", "integer", str(_LOCAL_LIST_ITEMS_PER_MESSAGE))
        ro(lists, "Storage", "integer", getter=lambda: self._storage(_LOCAL), unit="B",
           max_limit=_LOCAL_LIST_MAX_BYTES)  # fmt: skip

        comm = "OCPPCommCtrlr"
        rw(comm, "HeartbeatInterval", "integer", str(config.heartbeat_interval),
           unit="s", min_limit=1)  # fmt: skip
        ro(comm, "ActiveNetworkProfile", "integer", getter=lambda: str(self._slot))
        # L01, N01: files are downloaded and uploaded over HTTP(S) only (maintenance.py).
        ro(comm, "FileTransferProtocols", "MemberList", "HTTP,HTTPS",
           values_list=("HTTP", "HTTPS"))  # fmt: skip
        ro(comm, "MessageTimeout", "integer", getter=self._message_timeout, instance="Default",
           unit="s")  # fmt: skip
        rw(comm, "MessageAttempts", "integer", "3", instance="TransactionEvent", min_limit=1)
        seconds(comm, "MessageAttemptInterval", 60, instance="TransactionEvent")
        slots = tuple(str(slot) for slot in _NETWORK_SLOTS)
        rw(comm, "NetworkConfigurationPriority", "SequenceList", "1", on_set=self._check_priority,
           values_list=slots, min_members=1, max_limit=len(slots),
           reboot_required=True)  # fmt: skip
        rw(comm, "NetworkProfileConnectionAttempts", "integer", "3", min_limit=1)
        # 0: after any outage every connector is reported again (the CSMS may have restarted
        # and lost them); a CSMS that wants only the changes sets it higher (B04.FR.02).
        seconds(comm, "OfflineThreshold", 0)
        ro(comm, "QueueAllMessages", "boolean", false)
        rw(comm, "ResetRetries", "integer", "2", min_limit=0)
        # The same defaults as the Client's, which `backoff` hands these to (J201 5.3).
        rw(comm, "RetryBackOffRepeatTimes", "integer", str(_BACKOFF.repeat_times), min_limit=0)
        seconds(comm, "RetryBackOffRandomRange", int(_BACKOFF.random_range))
        seconds(comm, "RetryBackOffWaitMinimum", int(_BACKOFF.wait_minimum))
        ro(comm, "UnlockOnEVSideDisconnect", "boolean", true)
        seconds(comm, "WebSocketPingInterval", 30)

        rw("SampledDataCtrlr", "Enabled", "boolean", true)
        ro("SampledDataCtrlr", "Available", "boolean", true)
        ro("SampledDataCtrlr", "RegisterValuesWithoutPhases", "boolean", true)
        seconds("SampledDataCtrlr", "TxEndedInterval", config.meter_interval)
        measurands("SampledDataCtrlr", "TxEndedMeasurands", energy)
        measurands("SampledDataCtrlr", "TxStartedMeasurands", energy)
        seconds("SampledDataCtrlr", "TxUpdatedInterval", config.meter_interval)
        measurands("SampledDataCtrlr", "TxUpdatedMeasurands", f"{energy},Power.Active.Import")

        # AS-2 (SW M05.FR.08-13; TC_B_47_CS): one CSMS root plus a fallback; off unless the
        # station is set up with it (`StationCertificates.additional_root_check`).
        ro("SecurityCtrlr", "AdditionalRootCertificateCheck", "boolean",
           getter=lambda: true if self.certificates.additional_root_check else false)  # fmt: skip
        ro("SecurityCtrlr", "BasicAuthPassword", "string", mutability="WriteOnly",
           on_set=self._set_password, max_limit=40)  # fmt: skip
        # TC_B_53_CS: required; the root certificates installed (M05).
        ro("SecurityCtrlr", "CertificateEntries", "integer",
           getter=lambda: str(len(self.certificates.installed())),
           max_limit=_CERTIFICATE_MAX_ENTRIES)  # fmt: skip
        # A201 appendix 3 (1.6's SW has no such keys): resend SignCertificate when no
        # CertificateSigned came, doubling the wait (`StationCertificates.renew`).
        seconds("SecurityCtrlr", "CertSigningWaitMinimum", 60)
        rw("SecurityCtrlr", "CertSigningRepeatTimes", "integer", "3", min_limit=0)
        ro("SecurityCtrlr", "Identity", "string", config.identity, max_limit=48)
        rw("SecurityCtrlr", "OrganizationName", "string", config.vendor, max_limit=64)
        ro("SecurityCtrlr", "SecurityProfile", "integer", "1")

        rw("TxCtrlr", "EVConnectionTimeOut", "integer", "60", unit="s", min_limit=1)
        ro("TxCtrlr", "StopTxOnEVSideDisconnect", "boolean", true)
        rw("TxCtrlr", "StopTxOnInvalidId", "boolean", true)
        ro("TxCtrlr", "TxBeforeAcceptedEnabled", "boolean", false)
        points("TxStartPoint", "PowerPathClosed")
        points("TxStopPoint", "EVConnected,Authorized")

        # K01-K10 (A201 3.1.16); Entries: the profiles installed, maxLimit what fits.
        smart = "SmartChargingCtrlr"
        ro(smart, "Available", "boolean", true)
        rw(smart, "Enabled", "boolean", true)
        ro(smart, "Entries", "integer", getter=lambda: str(len(self._profiles)),
           instance="ChargingProfiles", max_limit=_SMART_CHARGING.max_installed)  # fmt: skip
        ro(smart, "ExternalControlSignalsEnabled", "boolean", false)
        rw(smart, "LimitChangeSignificance", "decimal", "1.0", unit="Percent", min_limit=0)
        ro(smart, "PeriodsPerSchedule", "integer", str(_SMART_CHARGING.max_periods))
        ro(smart, "ProfileStackLevel", "integer", str(_SMART_CHARGING.max_stack_level))
        ro(smart, "RateUnit", "MemberList", ",".join(_SMART_CHARGING.units), values_list=("A", "W"))

        # O01-O06 (ocppfast.station.display): P6 table 54 requires DisplayMessages,
        # SupportedFormats and SupportedPriorities; A201 3.1.8, A21 3.1.8 (SupportedStates;
        # 2.1: Language). The display is a character screen that also shows links and (2.1)
        # QR codes, not HTML; the states are those the simulation can be in (it never faults;
        # 2.1 Discharging is V2X, which it does not do).
        display = "DisplayMessageCtrlr"
        v21_only = self.version == OCPP21
        formats = ("ASCII", "UTF8", "URI", *(("QRCODE",) if v21_only else ()))
        priorities = ("AlwaysFront", "InFront", "NormalCycle")
        message_states = ("Charging", "Idle", "Unavailable", *(("Suspended",) if v21_only else ()))
        content_size = 1024 if v21_only else 512  # MessageContentType.content
        rw(display, "Enabled", "boolean", true, on_set=self._display_setting)
        ro(display, "Available", "boolean", true)
        ro(display, "DisplayMessages", "integer", getter=lambda: str(len(self.display)),
           max_limit=CAPACITY)  # fmt: skip
        rw(display, "PersonalMessageSize", "integer", str(content_size), min_limit=0,
           max_limit=content_size, on_set=self._display_setting)  # fmt: skip
        ro(display, "SupportedFormats", "MemberList", ",".join(formats), values_list=formats)
        ro(display, "SupportedPriorities", "MemberList", ",".join(priorities),
           values_list=priorities)  # fmt: skip
        ro(display, "SupportedStates", "MemberList", ",".join(message_states),
           values_list=message_states)  # fmt: skip
        if v21_only:
            rw(display, "Language", "OptionList", "en", values_list=_DISPLAY_LANGUAGES,
               on_set=self._display_setting)  # fmt: skip
        # I01-I06: the cost and tariff texts the display shows (A201 3.1.17; P6 table 54).
        tariff = "TariffCostCtrlr"
        rw(tariff, "Enabled", "boolean", true, on_set=self._display_setting)
        ro(tariff, "Available", "boolean", true)
        rw(tariff, "Currency", "string", "EUR", max_limit=3, on_set=self._display_setting)
        for fallback in ("TariffFallbackMessage", "TotalCostFallbackMessage"):
            rw(tariff, fallback, "string", "", max_limit=255, on_set=self._display_setting)

        # H01-H04 (A201 3.1.13): reservations, of one EVSE or of any EVSE.
        ro("ReservationCtrlr", "Available", "boolean", true)
        rw("ReservationCtrlr", "Enabled", "boolean", true)
        rw("ReservationCtrlr", "NonEvseSpecific", "boolean", true)

        # Functional blocks this station does not implement say so (part 1 4.2: Available).
        for absent in ("MonitoringCtrlr",):
            ro(absent, "Available", "boolean", false)
            ro(absent, "Enabled", "boolean", false)

        # Physical components (A201 3.2): the station, its EVSEs and their connector.
        states = _CONNECTOR_STATUSES
        phases = str(self._phases())
        ro("ChargingStation", "AvailabilityState", "OptionList", values_list=states,
           getter=lambda: "Available" if self._operative else "Unavailable")  # fmt: skip
        ro("ChargingStation", "Available", "boolean", true)
        ro("ChargingStation", "Identity", "string", config.identity)
        ro("ChargingStation", "Model", "string", config.model)
        ro("ChargingStation", "VendorName", "string", config.vendor)
        if config.serial_number:
            ro("ChargingStation", "SerialNumber", "string", config.serial_number)
        ro("ChargingStation", "SupplyPhases", "integer", phases)
        # A201 3.2.11, L01.FR.07 (TC_L_13_CS / TC_L_15_CS require it; P6's CSMS tests assume
        # false): whether new sessions may start while a firmware installation waits for the
        # transactions to end. A change applies to the EVSEs at once.
        rw("ChargingStation", "AllowNewSessionsPendingFirmwareUpdate", "boolean", false,
           on_set=self._firmware_sessions_setting)  # fmt: skip
        for evse_id, evse in self._evses.items():
            at_evse: dict[str, Any] = {"evse": evse_id}
            ro("EVSE", "AvailabilityState", "OptionList", getter=self._evse_state(evse),
               values_list=states, **at_evse)  # fmt: skip
            ro("EVSE", "Available", "boolean", true, **at_evse)
            ro("EVSE", "AllowReset", "boolean", true, **at_evse)
            ro("EVSE", "SupplyPhases", "integer", phases, **at_evse)
            # Power: Actual is what the EV draws; MaxSet (writable) caps it (part 1 4.3).
            limit = Attribute(repr(config.power_w), "ReadWrite", on_set=self._limit_power(evse))
            ro("EVSE", "Power", "decimal", getter=self._power_of(evse), unit="W", min_limit=0,
               max_limit=config.power_w, extra={"MaxSet": limit}, **at_evse)  # fmt: skip
            at_connector: dict[str, Any] = {"evse": evse_id, "connector": 1}
            ro("Connector", "AvailabilityState", "OptionList", values_list=states,
               getter=self._connector_state(evse), **at_connector)  # fmt: skip
            ro("Connector", "Available", "boolean", true, **at_connector)
            ro("Connector", "ConnectorType", "string", "sType2", **at_connector)
            ro("Connector", "SupplyPhases", "integer", phases, **at_connector)
        # A201 3.2.23 Display: the station's screen (messages for the whole station) and each
        # EVSE's part of it; DataText[Visible]: the message it shows first now.
        for at in (None, *self._evses):
            ro("Display", "Enabled", "boolean", true, evse=at)
            ro("Display", "DataText", "string", getter=self._display_text(at), instance="Visible",
               evse=at)  # fmt: skip
        return model

    def _frame_limit(self) -> str:
        # DeviceDataCtrlr.BytesPerMessage: what the core accepts per frame (larger ones are
        # refused with FormatViolation before a handler sees them).
        live = self._live
        limit = DEFAULT_MAX_FRAME_BYTES if live is None else live.session.max_frame_bytes
        return str(limit)

    def _message_timeout(self) -> str:
        live = self._live
        timeout = DEFAULT_CALL_TIMEOUT if live is None else live.session.call_timeout
        return str(int(timeout))

    def _evse_state(self, evse: _Evse) -> Callable[[], str]:
        def state() -> str:
            # A transaction keeps its EVSE in use under a station-level Inoperative (G04.FR.06);
            # so it does while a firmware installation waits (L01.FR.07).
            closed = not (self._operative and evse.operative) or self._closed_for_firmware()
            if evse.id not in self.transactions and closed:
                return "Unavailable"
            return "Occupied" if self._status_of(evse) == "Occupied" else "Available"

        return state

    def _connector_state(self, evse: _Evse) -> Callable[[], str]:
        return lambda: self._status_of(evse)

    def _power_of(self, evse: _Evse) -> Callable[[], str]:
        return lambda: repr(round(evse.meter.power_w, 1))

    def _limit_power(self, evse: _Evse) -> Callable[[str], None]:
        def limit(value: str) -> None:
            # EVSE.Power MaxSet caps the simulated draw from now on.
            if evse.meter.power_w > 0:
                evse.meter.power_w = min(self.config.power_w, float(value))

        return limit

    def _check_priority(self, value: str) -> None:
        # Every slot listed must hold a profile: one set with SetNetworkProfile, or slot 1's;
        # and the station must be able to connect with its security profile (A05.FR.03/04:
        # TC_A_20_CS, TC_A_21_CS): 2 and 3 need a CSMS root certificate, 3 its own certificate.
        for slot in value.split(","):
            if int(slot) != _PROVISIONED_SLOT and int(slot) not in self.network_profiles:
                raise ValueError(f"no network profile in slot {slot}")
            profile = self.network_profiles.get(int(slot))
            security = 0 if profile is None else profile.security_profile
            if security >= 2 and not self.certificates.roots("CSMSRootCertificate"):
                raise ValueError(
                    f"slot {slot} is for security profile {security}: no CSMS root certificate"
                    " is installed (A05.FR.03)"
                )
            if security == 3 and self.certificates.certificate is None:
                raise ValueError(
                    f"slot {slot} is for security profile 3: the station has no certificate"
                    " (A05.FR.04)"
                )

    def _set_password(self, value: str) -> None:
        # A01 (TC_A_10_CS), A201 3.1.15: a passwordString of 16 to 40 characters, else Rejected.
        # The variable keeps it (`basic_auth_password` reads it); the Client uses it from the
        # next connection on.
        if _PASSWORD.fullmatch(value) is None:
            raise ValueError("a BasicAuthPassword has 16 to 40 passwordString characters")
        old = self.basic_auth_password
        if old is not None and old != value:
            # Kept (before the answer leaves: `_track`) until the new one worked, so that a
            # lost answer or a crash mid-rotation never locks the station out.
            kept = [old, *(p for p in self.previous_passwords if p not in (old, value))][:2]
            self._track(self.data.set_state(_PREVIOUS_PASSWORDS, kept))
        self.security_log.append((self.now(), "ReconfigurationOfSecurityParameters", ""))
        profile = self.network_profiles.get(self._slot)
        if getattr(profile, "basic_auth_password", UNSET) is UNSET:  # 2.1: else its own one
            self._tell(self.password_changed, value)
            # TC_A_09_CS steps 3-5: the station reconnects with the new password, once the
            # answer is out (`_after_set_variables`); a certificate (profile 3) uses none.
            if self.device_model.get_int("SecurityCtrlr", "SecurityProfile") in (1, 2):
                self._reconnect_for_password = True


def _matches(variable: Variable, wanted: Any) -> bool:
    """Whether `variable` is one a GetReport componentVariable entry asks for (B08.FR.22-25)."""
    component = wanted.component
    if component.name.casefold() != variable.component.casefold():
        return False
    if (
        component.instance is not UNSET
        and component.instance.casefold() != (variable.component_instance or "").casefold()
    ):
        return False
    evse = component.evse
    if evse is not UNSET:
        if variable.evse != evse.id:
            return False
        if evse.connector_id is not UNSET and variable.connector != evse.connector_id:
            return False
    asked = wanted.variable
    if asked is UNSET:
        return True
    if asked.name.casefold() != variable.name.casefold():
        return False
    return (
        asked.instance is UNSET or asked.instance.casefold() == (variable.instance or "").casefold()
    )
