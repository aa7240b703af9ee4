"""The simulated OCPP 1.6 charging station ("Charge Point" in C16).

`Station16` is the `Handlers` of a station-side `Connection`. One instance lives as long as the
station process: a client hands it to each new connection (after a network drop, after a Reset),
and the station's state survives. On each connection the station boots (C16 4.2), then
heartbeats, reports its connectors' status and delivers its transaction messages; it answers
every CALL a Central System can send in 1.6 and its security extension (SW).

What a charger keeps across restarts and power cuts lives in its `StationData` (`data=`: loaded
from a `StationStore` file, or in memory): the configuration keys the Central System changed,
the Authorization Cache and the Local Authorization List (C16 3.5), the connectors' availability
(C16 5.2), the running transactions with their energy registers, and the queue of
transaction-related messages (C16 3.7). A Station16 built from the data a dead process left
carries on where it stopped: the transactions that were running end with reason PowerLoss (C16
7.36), and everything queued is delivered after the next accepted BootNotification.

Transaction-related messages (StartTransaction, StopTransaction, the MeterValues of a
transaction) go through that one queue: each is on disk before it is sent, they are delivered
one at a time in the order they happened, and one the Central System fails to process is sent
again up to TransactionMessageAttempts times (C16 3.7.1). A transaction may start offline (C16
3.5: Local Authorization List, cache, unknown ids); until its StartTransaction.conf gives the
transactionId, its later messages wait in the queue with a placeholder the id replaces (-1 when
the StartTransaction was given up, C16E 3.18).

The simulated EV is driven through the public API (`plug_in`, `unplug`, `authorize`,
`start_transaction`, `stop_transaction`, `sample_now`) or by the Central System
(RemoteStartTransaction plugs it in and starts charging). While charging, the connector's energy
register grows at `StationConfig.power_w`, measured on the injected clock, so a test that moves
its clock gets exact meter readings.

Profiles (C16 3.3, reported in SupportedFeatureProfiles): Core, FirmwareManagement,
LocalAuthListManagement, RemoteTrigger, Reservation and SmartCharging. The security extension's
certificate messages are answered as by a charger without certificate management.
SignedUpdateFirmware (SW L01, `maintenance`): the signing certificate is checked against the
manufacturer root certificates when the request comes (InvalidCertificate otherwise), the
signature over the whole file after the download (InvalidSignature otherwise, not installed);
each step goes out as SignedFirmwareStatusNotification.req with the requestId. With a
manufacturer root installed, the unsigned UpdateFirmware.req is NotSupported (L01.FR.20).

Smart charging (C16 3.13, 5.5, 5.7, 5.16; `charging_profiles`, `smart_charging`): the installed
profiles are kept in `data`; the limit in force on each connector is recomputed when a profile
is set or cleared, a transaction starts or ends, and at every schedule boundary; it goes to
`hardware.set_current_limit`, and the simulated EV draws at most that much (a limit of 0, or
below minChargingRate, gives SuspendedEVSE). A transaction's TxProfiles, including the one of a
RemoteStartTransaction, are deleted when it ends.

Reservations (C16 3.11, 5.13; `reservations`): ReserveNow of one connector or of connector 0 (a
connector stays free for each), replaced by the same reservationId; CancelReservation; a
reserved connector is Reserved and charges only the reservation's idTag or its parent idTag
(from the Local Authorization List or cache, else Authorize.req); the start that uses it carries
the reservationId and ends it; at expiryDate it ends and the connector is Available again; a
connector or Charge Point set Unavailable ends its reservations. Kept in `data`.

Firmware management (C16 5.9, 5.19; `maintenance`): UpdateFirmware downloads the image over
HTTP(S) after retrieveDate, with retries, installs it through `hardware.install_firmware` once
no transaction runs, and reboots (Installed after the new boot, also after a restart).
GetDiagnostics and the SW GetLog upload a tar.gz of the station's log and OCPP traffic, or its
security events, for the time window asked, with DiagnosticsStatusNotification /
LogStatusNotification. While the installation waits for the transactions to end, the
connectors not in use are Unavailable and take no new transaction (C16 5.19, C16E 3.49 recommend
it); the reboot into the new firmware, or an update that ends without it, reopens them.

Spec keys: C16 (OCPP 1.6 edition 2), C16E (its errata sheet), SW (the 1.6 security whitepaper,
edition 2), J16 / J16E (OCPP-J 1.6 and its errata).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from .. import v16
from ..asyncio.handlers import Handlers, after, maybe_await, on
from ..exceptions import (
    ActionNotSupportedError,
    CallTimeoutError,
    OCPPError,
    OutgoingMessageError,
    SessionClosedError,
)
from ..hardware import Hardware, SimulatedHardware
from ..hardware.base import Component, Indicator, MeterReading
from ..storage import StorageError
from .certificates import DEFAULT_CAPACITY, DEFAULT_MAX_CHAIN_SIZE, StationCertificates
from .charging_profiles import LimitKeeper, ProfileBook, ProfileLimits
from .config import (
    BOOT_RETRY_DEFAULT,
    NOMINAL_VOLTAGE,
    RECONNECT_GRACE,
    StationConfig,
    StationError,
    utc_now,
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
from .smart_charging import Limit, Profile, Purpose, Unit, from_v16
from .store import NEVER_SHED, SHED_LATER, Queued, StationData

__all__ = [
    "MEASURANDS",
    "NOMINAL_VOLTAGE",
    "PHASES",
    "Station16",
    "StationError",
    "Transaction",
]

_log = logging.getLogger("ocppfast.station")

# The simulated electrical installation: a three-phase connection at NOMINAL_VOLTAGE
# phase-to-neutral.
PHASES = 3
_LINE_VOLTAGE = NOMINAL_VOLTAGE * math.sqrt(3)

# Entries the authorization cache keeps (C16 3.5.1: when full, drop NOT-valid entries first,
# then the oldest valid ones).
AUTHORIZATION_CACHE_SIZE = 1024

# The Local Authorization List: identifiers it holds (LocalAuthListMaxLength, C16 9.2.2) and
# entries one SendLocalList.req may carry (SendLocalListMaxLength, C16 9.2.3; 500 entries of
# at most ~150 bytes keep the frame under 100 kB).
LOCAL_AUTH_LIST_MAX_LENGTH = 10_000
SEND_LOCAL_LIST_MAX_LENGTH = 500

# Seconds between two tries to put a queued message on disk after a failed commit.
STORAGE_RETRY = 1.0

# What SetChargingProfile.req accepts (C16 9.4 keys; ChargingScheduleAllowedChargingRateUnit:
# both units).
SMART_CHARGING = ProfileLimits()

_ACCEPTED = v16.AuthorizationStatus.Accepted
_Status = v16.ChargePointStatus
_Context = v16.ReadingContext

# Names in StationData: the token lists, the Local Authorization List's version, and each
# connector's record (`_ConnectorRecord`) under "connector.<id>".
_CACHE = "cache"
_LOCAL = "local"
_LIST_VERSION = "local_list_version"
# The security events still to push (`Station16._security_event`), and how many failed
# attempts give one up.
_PENDING_EVENTS = "security_events"
# SW A01 rotation: the AuthorizationKeys before the current one, newest first, kept until a
# connection with the current one succeeded (`Station16.password_confirmed`).
_PREVIOUS_PASSWORDS = "previous_passwords"
_EVENT_ATTEMPTS = 3
_CONNECTOR = "connector."


def _placeholder(seq: int) -> str:
    """The transactionId a queued message carries while the StartTransaction.req queued as
    `seq` waits for its answer: replaced by the id the answer gives, never sent (JSON text,
    so that no transactionId a Central System gives, negative ones included, can match it)."""
    return f"StartTransaction#{seq}"


@dataclass(frozen=True)
class _Measurand:
    unit: v16.UnitOfMeasure
    # Phases this measurand can be sampled on; when it is configured without one, every phase is
    # reported (C16 3.16.3). Empty: one value for the whole connector.
    phases: tuple[v16.Phase, ...] = ()
    phase_suffixes: tuple[v16.Phase, ...] = ()


_L1, _L2, _L3 = v16.Phase.L1, v16.Phase.L2, v16.Phase.L3
_LN = (v16.Phase.L1_N, v16.Phase.L2_N, v16.Phase.L3_N)
_LL = (v16.Phase.L1_L2, v16.Phase.L2_L3, v16.Phase.L3_L1)

# What the simulated meter measures. A measurand it does not measure (SoC: an AC charger does
# not learn the battery's state of charge; reactive energy, temperature, ...) in
# MeterValuesSampledData, MeterValuesAlignedData, StopTxnSampledData or StopTxnAlignedData makes
# ChangeConfiguration answer Rejected (C16 3.16.4). A measurand may name one phase, as in
# "Voltage.L1-N" or "Current.Import.L2" (C16 9.1.17).
MEASURANDS: dict[str, _Measurand] = {
    "Energy.Active.Import.Register": _Measurand(v16.UnitOfMeasure.Wh),
    "Power.Active.Import": _Measurand(v16.UnitOfMeasure.W, (), (_L1, _L2, _L3)),
    "Power.Offered": _Measurand(v16.UnitOfMeasure.W),
    "Current.Import": _Measurand(v16.UnitOfMeasure.A, (_L1, _L2, _L3), (_L1, _L2, _L3)),
    "Current.Offered": _Measurand(v16.UnitOfMeasure.A),
    "Voltage": _Measurand(v16.UnitOfMeasure.V, _LN, _LN + _LL),
}

# What a connector's status shows on its indicator (LEDs).
_INDICATOR: dict[v16.ChargePointStatus, Indicator] = {
    v16.ChargePointStatus.Available: "available",
    v16.ChargePointStatus.Preparing: "occupied",
    v16.ChargePointStatus.Charging: "charging",
    v16.ChargePointStatus.SuspendedEVSE: "occupied",
    v16.ChargePointStatus.SuspendedEV: "occupied",
    v16.ChargePointStatus.Finishing: "occupied",
    v16.ChargePointStatus.Reserved: "occupied",
    v16.ChargePointStatus.Unavailable: "off",
    v16.ChargePointStatus.Faulted: "fault",
}

# The StatusNotification.req errorCode of each hardware fault (C16 7.6), most serious first.
_ERROR_CODES: tuple[tuple[Component, v16.ChargePointErrorCode], ...] = (
    ("contactor", v16.ChargePointErrorCode.PowerSwitchFailure),
    ("current_limit", v16.ChargePointErrorCode.OtherError),
    ("meter", v16.ChargePointErrorCode.PowerMeterFailure),
    ("token_reader", v16.ChargePointErrorCode.ReaderFailure),
)

# C16 9.1.7: the phase rotations a connector can report.
_ROTATIONS = frozenset({"NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR"})


def _no_meter() -> float:
    return 0.0


@dataclass
class Transaction:
    """A transaction running on a connector (C16 4.8).

    `transaction_id` is the id the Central System gave in StartTransaction.conf (None while that
    answer has not come: a transaction started offline; -1 when the StartTransaction.req was
    given up, C16E 3.18), `id` the same as text; `meter_start` the connector's energy register
    in Wh when it started; `energy_wh` the energy delivered so far (read live from the
    connector's meter)."""

    connector_id: int
    transaction_id: int | None
    id_token: str
    meter_start: int
    started_at: datetime
    # idTagInfo.status of StartTransaction.conf ("Accepted", "Blocked", ...); "Accepted" until
    # it comes, as the id tag was authorized to start.
    authorization: str = "Accepted"
    parent_id_tag: str | None = None
    # Meter values for StopTransaction.req's transactionData (StopTxnSampledData,
    # StopTxnAlignedData; C16 3.16.1, 3.16.2, C16E 3.14).
    transaction_data: list[v16.StopTransactionMeterValue] = field(default_factory=list, repr=False)
    _meter: Callable[[], float] = field(
        default_factory=lambda: _no_meter, repr=False, compare=False
    )
    # The seq of the queued StartTransaction.req whose answer gives transaction_id.
    _start_seq: int | None = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        """The transaction id as text (1.6 ids are integers); empty until the Central System
        has given it."""
        return "" if self.transaction_id is None else str(self.transaction_id)

    @property
    def energy_wh(self) -> float:
        """Energy delivered so far in this transaction, in Wh."""
        return max(0.0, self._meter() - self.meter_start)


@dataclass
class _Connector:
    """One connector's state (connector 0: the Charge Point as a whole, C16 3.8)."""

    id: int
    operative: bool = True
    # The availability a ChangeAvailability.req asked for while a transaction ran: it takes
    # effect when the transaction (for connector 0: the last one) ends (C16 5.2).
    scheduled: bool | None = None
    plugged: bool = False
    # A start (remote or local) is under way on this connector: Preparing (C16 4.9 A2).
    starting: bool = False
    # The transaction ended (or the user timed out, C16E 3.20 B6) with the cable still in.
    finishing: bool = False
    # The EV side disconnected while StopTransactionOnEVSideDisconnect is false (C16 4.9).
    ev_disconnected: bool = False
    # StartTransaction.conf refused the id tag and StopTransactionOnInvalidId is false: no
    # energy is offered (C16E 3.17, C16 4.9 C5).
    evse_suspended: bool = False
    locked: bool = False
    meter_wh: float = 0.0
    metered_at: datetime | None = None
    status: v16.ChargePointStatus | None = None
    info: str = ""
    transaction: Transaction | None = None
    timeout: asyncio.TimerHandle | None = None


class _TransactionRecord(msgspec.Struct, kw_only=True):
    """A running transaction as `StationData.state` keeps it: what its StopTransaction.req
    needs after a power cut."""

    transaction_id: int | None
    start_seq: int | None
    id_tag: str
    meter_start: int
    started_at: datetime
    transaction_data: list[v16.StopTransactionMeterValue] = []


class _ConnectorRecord(msgspec.Struct, kw_only=True):
    """A connector as `StationData.state` keeps it: its availability (persistent, C16 5.2), the
    plug (a power cut does not pull the cable), its energy register at the last reading, and
    its running transaction."""

    operative: bool = True
    scheduled: bool | None = None
    plugged: bool = False
    meter_wh: float = 0.0
    metered_at: datetime | None = None
    transaction: _TransactionRecord | None = None


# -- configuration keys (C16 chapter 9, C16E 3.82/3.89, SW chapter 7) -----------------------


@dataclass
class _Key:
    name: str
    value: str | None
    access: str  # "R", "RW" or "W" (write-only, SW 7.2)
    parse: Callable[[str], str] | None = None  # canonical value, or ValueError saying why


def _boolean(text: str) -> str:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"{text!r} is not a boolean (true or false)")
    return lowered


def _integer(low: int, high: int | None = None) -> Callable[[str], str]:
    def parse(text: str) -> str:
        stripped = text.strip()
        try:
            number = int(stripped, 10)
        except ValueError:
            raise ValueError(f"{text!r} is not an integer") from None
        if number < low or (high is not None and number > high):
            bounds = f"at least {low}" if high is None else f"from {low} to {high}"
            raise ValueError(f"{number} is out of range ({bounds})")
        return str(number)

    return parse


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _measurand_list(max_items: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        items = _split(text)
        if len(items) > max_items:
            raise ValueError(f"{len(items)} measurands, at most {max_items}")
        for item in items:
            _parse_measurand(item)  # raises for an unsupported one (C16 3.16.4)
        return ",".join(items)

    return parse


def _parse_measurand(item: str) -> tuple[str, v16.Phase | None]:
    """ "Current.Import.L1" -> ("Current.Import", L1); ValueError if we do not measure it."""
    if item in MEASURANDS:
        return item, None
    for name, measurand in MEASURANDS.items():
        if item.startswith(name + "."):
            suffix = item[len(name) + 1 :]
            for phase in measurand.phase_suffixes:
                if suffix == phase.value:
                    return name, phase
    raise ValueError(f"measurand {item!r} is not measured by this charge point")


def _phase_rotation(connectors: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        items = _split(text)
        if len(items) > connectors + 1:
            raise ValueError(f"{len(items)} items, at most {connectors + 1}")
        for item in items:
            number, _, rotation = item.partition(".")
            if not number.isdigit() or int(number) > connectors or rotation not in _ROTATIONS:
                raise ValueError(f"{item!r} is not <connector>.<rotation> (e.g. 1.RST)")
        return ",".join(items)

    return parse


def _authorization_key(text: str) -> str:
    # SW 7.2: at least 16 bytes; at most 20 bytes written as up to 40 hexadecimal digits.
    if not 16 <= len(text) <= 40 or not text.isascii() or not text.isprintable():
        raise ValueError("an AuthorizationKey has 16 to 40 printable ASCII characters")
    return text


def _measurand_count() -> int:
    return sum(1 + len(m.phase_suffixes) for m in MEASURANDS.values())


def _default_keys(config: StationConfig) -> list[_Key]:
    n = config.connectors
    csl_max = _measurand_count()
    measurands = _measurand_list(csl_max)
    seconds = _integer(0)
    # Every key takes effect when it is changed: none answers RebootRequired (C16 5.3), and no
    # key of C16 9 or SW 7 says that it needs a reboot.
    return [
        # C16 9.1 Core profile. BlinkRepeat, LightIntensity, MaxEnergyOnInvalidId,
        # MinimumStatusDuration and WebSocketPingInterval are optional and absent: their absence
        # says the function is not provided (C16 9, first rule); SupportedFeatureProfilesMaxLength
        # need not be implemented (C16E 3.80).
        _Key("AllowOfflineTxForUnknownId", "false", "RW", _boolean),  # C16 3.5.4
        _Key("AuthorizationCacheEnabled", "true", "RW", _boolean),
        _Key("AuthorizeRemoteTxRequests", "true", "RW", _boolean),
        # 86400: one aggregation interval per day is the coarsest that still divides a day.
        _Key("ClockAlignedDataInterval", "0", "RW", _integer(0, 86400)),
        _Key("ConnectionTimeOut", "60", "RW", seconds),
        _Key(
            "ConnectorPhaseRotation",
            ",".join(f"{i}.RST" for i in range(1, n + 1)),
            "RW",
            _phase_rotation(n),
        ),
        _Key("ConnectorPhaseRotationMaxLength", str(n + 1), "R"),
        _Key("GetConfigurationMaxKeys", "100", "R"),
        _Key("HeartbeatInterval", str(config.heartbeat_interval), "RW", seconds),
        _Key("LocalAuthorizeOffline", "false", "RW", _boolean),
        _Key("LocalPreAuthorize", "false", "RW", _boolean),
        _Key("MessageTimeout", "30", "RW", _integer(1)),  # C16E 3.82
        _Key("MeterValueSampleInterval", str(config.meter_interval), "RW", seconds),
        _Key("MeterValuesAlignedData", "Energy.Active.Import.Register", "RW", measurands),
        _Key("MeterValuesAlignedDataMaxLength", str(csl_max), "R"),
        _Key(
            "MeterValuesSampledData",
            "Energy.Active.Import.Register,Power.Active.Import",
            "RW",
            measurands,
        ),
        _Key("MeterValuesSampledDataMaxLength", str(csl_max), "R"),
        _Key("NumberOfConnectors", str(n), "R"),
        _Key("ResetRetries", "3", "RW", seconds),
        _Key("StopTransactionMaxMeterValues", "100", "R"),  # C16E 3.89
        _Key("StopTransactionOnEVSideDisconnect", "true", "RW", _boolean),
        _Key("StopTransactionOnInvalidId", "true", "RW", _boolean),
        _Key("StopTxnAlignedData", "", "RW", measurands),
        _Key("StopTxnAlignedDataMaxLength", str(csl_max), "R"),
        _Key("StopTxnSampledData", "", "RW", measurands),
        _Key("StopTxnSampledDataMaxLength", str(csl_max), "R"),
        _Key(
            "SupportedFeatureProfiles",
            "Core,FirmwareManagement,LocalAuthListManagement,RemoteTrigger,Reservation,SmartCharging",
            "R",
        ),
        _Key("TransactionMessageAttempts", "3", "RW", _integer(1)),
        _Key("TransactionMessageRetryInterval", "60", "RW", seconds),
        _Key("UnlockConnectorOnEVSideDisconnect", "true", "RW", _boolean),
        # C16 9.2 Local Auth List Management profile.
        _Key("LocalAuthListEnabled", "true", "RW", _boolean),
        _Key("LocalAuthListMaxLength", str(LOCAL_AUTH_LIST_MAX_LENGTH), "R"),
        _Key("SendLocalListMaxLength", str(SEND_LOCAL_LIST_MAX_LENGTH), "R"),
        # C16 9.3 Reservation profile: reservations of connector 0 are supported (C16 5.13).
        _Key("ReserveConnectorZeroSupported", "true", "R"),
        # C16 9.4 Smart Charging profile (C16 3.13.5: implemented and reported).
        _Key("ChargeProfileMaxStackLevel", str(SMART_CHARGING.max_stack_level), "R"),
        _Key("ChargingScheduleAllowedChargingRateUnit", "Current,Power", "R"),
        _Key("ChargingScheduleMaxPeriods", str(SMART_CHARGING.max_periods), "R"),
        _Key("MaxChargingProfilesInstalled", str(SMART_CHARGING.max_installed), "R"),
        # SW 7: security profile 1 (HTTP Basic authentication) keys.
        _Key("AuthorizationKey", None, "W", _authorization_key),
        # SW 7.1, 7.3-7.5: certificate management (`station.certificates`). One CSMS root at a
        # time is not enforced (AdditionalRootCertificateCheck false).
        _Key("AdditionalRootCertificateCheck", "false", "R"),
        _Key("CertificateSignedMaxChainSize", str(DEFAULT_MAX_CHAIN_SIZE), "R"),
        _Key("CertificateStoreMaxLength", str(DEFAULT_CAPACITY), "R"),
        _Key("CpoName", config.vendor, "RW"),
        _Key("SecurityProfile", "0", "RW", _integer(0, 3)),
    ]


class _Online:
    """What lives as long as one connection: its boot sequence, its heartbeat and the delivery
    of the queue."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.tasks: set[asyncio.Task[Any]] = set()
        self.boot_now = asyncio.Event()
        self.heartbeat: asyncio.Task[Any] | None = None

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()


# SW 8 "Security Events": those marked critical "should be pushed to the Central System"
# (A04.FR.01), and those a requirement has the Charge Point send (L01.FR.02, L01.FR.03; the note
# of A00.FR.318: InvalidTLSCipherSuite "send to the Central System via a
# SecurityEventNotification.req"). The others only go into the security log (A04.FR.04).
_PUSHED_EVENTS = frozenset(
    (
        "FirmwareUpdated",
        "SettingSystemTime",
        "StartupOfTheDevice",
        "ResetOrReboot",
        "SecurityLogWasCleared",
        "MemoryExhaustion",
        "TamperDetectionActivated",
        "InvalidFirmwareSignature",
        "InvalidFirmwareSigningCertificate",
        "InvalidTLSCipherSuite",
    )
)
# The client reports what it saw while connecting with the 2.x names (`Client.security_event`);
# the whitepaper's names for the same events.
_V16_EVENT_NAMES = {
    "InvalidCsmsCertificate": "InvalidCentralSystemCertificate",
    "FailedToAuthenticateAtCsms": "FailedToAuthenticateAtCentralSystem",
}

# C16 7.25 FirmwareStatus: the statuses a 1.6 FirmwareStatusNotification.req reports; SW
# UploadLogStatusEnumType: those of LogStatusNotification.req.
_FIRMWARE_STATUSES = frozenset(status.value for status in v16.FirmwareStatus)
# SW FirmwareStatusEnumType: those of a signed update (SignedFirmwareStatusNotification.req).
_SIGNED_FIRMWARE_STATUSES = frozenset(status.value for status in v16.FirmwareStatusEnum)
# A signed update's status as a C16 FirmwareStatus (a TriggerMessage.req of the old message).
_C16_FIRMWARE_STATUS = {
    "DownloadScheduled": "Idle",
    "DownloadPaused": "Downloading",
    "SignatureVerified": "Downloaded",
    "InstallScheduled": "Downloaded",
    "InstallRebooting": "Installing",
    "InstallVerificationFailed": "InstallationFailed",
    "InvalidSignature": "Idle",
    "InvalidCertificate": "Idle",
    "RevokedCertificate": "Idle",
}
_UPLOAD_LOG_STATUSES = frozenset(status.value for status in v16.UploadLogStatusEnum)
_DIAGNOSTICS_STATUSES = frozenset(status.value for status in v16.DiagnosticsStatus)


class _Maintenance16:
    """How `Maintenance` (firmware updates, diagnostics and log uploads) reports through a
    `Station16`: its 1.6 status notifications (C16 4.4, 4.5; SW LogStatusNotification), its
    transactions, its reboot; and the station's security log (`events`)."""

    def __init__(self, station: Station16) -> None:
        self.station = station
        # SW N01.FR.05 / A04.FR.04: every security event goes into the security log a GetLog
        # SecurityLog uploads: (time, type, tech info), the latest thousand.
        self.events: deque[tuple[datetime, str, str]] = deque(maxlen=1000)
        # The last SignedFirmwareStatusNotification.req sent: (status, requestId) (SW
        # L01.FR.28/29: what an ExtendedTriggerMessage.req repeats).
        self.last_signed_status: tuple[str, int] | None = None

    async def firmware_status(self, status: str, request_id: int | None) -> None:
        if request_id is not None:
            # A SignedUpdateFirmware's update: SignedFirmwareStatusNotification.req with its
            # requestId (SW L01.FR.01, L01.FR.10, L01.FR.21).
            self.last_signed_status = (status, request_id)
            await self._send(
                v16.SignedFirmwareStatusNotificationRequest(
                    status=v16.FirmwareStatusEnum(status), request_id=request_id
                )
            )
            return
        await self._send(v16.FirmwareStatusNotificationRequest(status=v16.FirmwareStatus(status)))

    async def upload_status(self, upload: LogUpload, status: str) -> None:
        if upload.kind == "Diagnostics":
            if status not in _DIAGNOSTICS_STATUSES:
                return  # C16 7.23 has no AcceptedCanceled: the replaced upload just ends
            await self._send(
                v16.DiagnosticsStatusNotificationRequest(status=v16.DiagnosticsStatus(status))
            )
        elif status in _UPLOAD_LOG_STATUSES:
            # SW has no AcceptedCanceled notification (2.x has): the canceled upload just ends.
            await self._send(
                v16.LogStatusNotificationRequest(
                    status=v16.UploadLogStatusEnum(status),
                    request_id=UNSET if upload.request_id is None else upload.request_id,
                )
            )

    def transactions_running(self) -> bool:
        return bool(self.station.transactions)

    def installation_pending(self, pending: bool) -> None:
        # C16 5.19 (C16E 3.49): "RECOMMENDED to set connectors that are not in use to
        # UNAVAILABLE while the Charge Point waits for the Session to end"; they come back when
        # the update ends without the reboot.
        station = self.station
        station._firmware_closed = pending
        station._in_background(station._update(*station._connectors[1:]), "status")

    async def reboot(self) -> None:
        # C16 5.19: the Charge Point reboots into the new firmware, as a hard reset does
        # (the installation waited for the transactions, so none is stopped here). The
        # connectors open again: the boot reports them all (C16E 3.22).
        station = self.station
        station._firmware_closed = False
        await station._reset_now(
            v16.ResetRequest(type=v16.ResetType.Hard),
            v16.ResetResponse(status=v16.ResetStatus.Accepted),
        )

    def security_event(self, kind: str, info: str) -> None:
        # SW 8: FirmwareUpdated is critical (`Station16._security_event`).
        self.station._security_event(kind, info)

    async def _send(self, request: Any) -> None:
        station = self.station
        try:
            await station._call(request)
        except (StationError, SessionClosedError) as error:
            station.log.warning("%s: %s not sent: %s", station.name, type(request).ACTION, error)
        except (CallTimeoutError, OCPPError) as error:
            station.log.warning("%s: %s failed: %s", station.name, type(request).ACTION, error)


class Station16(Handlers):
    """A simulated OCPP 1.6 charging station; see the module docstring.

    - `config`: identity, build and defaults (`StationConfig`).
    - `clock`: the station's clock (timezone-aware datetimes; default: UTC now). Timestamps and
      the energy meters follow it; timers run on the event loop.
    - `authorization_key`: the HTTP Basic password the station connects with, if any (the
      AuthorizationKey, SW 7.2); `security_profile`: the profile it connects with (SW 7.6;
      default 1 with a key, else 0). Once the Central System has changed them, the values in
      `data` win: a client reads `authorization_key` and `security_profile` when it connects.
    - `data`: what the station keeps across restarts (`await StationStore.load(identity)`;
      default: in memory). Build the station in the running event loop when `data` holds a
      previous process's state: transactions it left running are ended at once (PowerLoss).

    Hand the same instance to every `Connection(transport, role="station", handlers=station)`
    the station makes; the Connection sets `station.connection`. Set `password_changed` to a
    callable to learn the password to connect with whenever the Central System changes the
    AuthorizationKey or SecurityProfile (SW A01, 7.6): None means no Basic authentication. The
    station closes the connection right after, for the client to reconnect with it.
    """

    def __init__(
        self,
        config: StationConfig,
        *,
        clock: Callable[[], datetime] | None = None,
        authorization_key: str | None = None,
        security_profile: int | None = None,
        data: StationData | None = None,
        hardware: Hardware | None = None,
    ) -> None:
        if config.connectors < 1:
            raise ValueError("a charge point has at least one connector")
        # BootNotification.req field lengths (C16 6.3): refuse here rather than at every boot.
        for what, value, limit in (
            ("vendor", config.vendor, 20),
            ("model", config.model, 20),
            ("serial_number", config.serial_number or "", 25),
            ("firmware_version", config.firmware_version, 50),
        ):
            if len(value) > limit:
                raise ValueError(f"{what} {value!r} is longer than {limit} characters (C16 6.3)")
        self.config = config
        # What survives a restart (configuration, cache, local list, queue, transactions);
        # in memory unless the caller loaded it from a StationStore.
        self.data = data if data is not None else StationData.in_memory(config.identity)
        # The charger's electronics: current limits, firmware installs, the display.
        self.hardware: Hardware = hardware if hardware is not None else SimulatedHardware()
        self.clock: Callable[[], datetime] = clock or utc_now
        # The station's log, whose lines (and the frames of `traffic`) a GetDiagnostics /
        # GetLog uploads; the firmware update and those uploads (maintenance.py).
        self.log = StationLog(_log, self._now)
        self.traffic = TrafficCapture(self._now)
        reporter = _Maintenance16(self)
        # The security log (SW A04.FR.04): (time, type, tech info), the latest thousand.
        self.security_log = reporter.events
        self.maintenance = Maintenance(
            name=config.identity,
            log=self.log,
            traffic=self.traffic,
            clock=self._now,
            data=self.data,
            hardware=self.hardware,
            reporter=reporter,
            name_in_lines=True,
            firmware_statuses=_FIRMWARE_STATUSES,
            signed_firmware_statuses=_SIGNED_FIRMWARE_STATUSES,
            manufacturer_roots=lambda: manufacturer_roots_of(self),
            security_log=reporter.events,
        )
        # While a firmware installation waits for the transactions to end, the connectors not
        # in use are Unavailable (C16 5.19, C16E 3.49; `_Maintenance16.installation_pending`).
        self._firmware_closed = False
        # The BootNotification.conf status since the last (simulated) reboot; Accepted: a
        # reconnection sends no BootNotification (J16 5.4).
        self.registration: str = ""
        # The security event of the next accepted boot (SW 8): StartupOfTheDevice after a
        # start, ResetOrReboot after a Reset; "" once sent. `_connect_event`: the last one the
        # client reported while connecting (raised once per run of failed attempts).
        self._startup_event = "StartupOfTheDevice"
        self._connect_event: str | None = None
        # The security events still to push (SecurityEventNotification.req payloads, oldest
        # first), kept in `data`; the commit of their last change; what wakes their sender.
        self._events_pending: list[Any] = list(self.data.state.get(_PENDING_EVENTS, ()))
        self._events_stored: asyncio.Future[None] | None = None
        self._events_changed = asyncio.Event()
        self.booted = asyncio.Event()
        # Clear while a BootNotification.req waits for its answer.
        self._boot_settled = asyncio.Event()
        self._boot_settled.set()
        self._keys: dict[str, _Key] = {key.name.lower(): key for key in _default_keys(config)}
        if authorization_key is not None:
            self._keys["authorizationkey"].value = _authorization_key(authorization_key)
        profile = security_profile if security_profile is not None else int(bool(authorization_key))
        if not 0 <= profile <= 3:
            raise ValueError(f"there is no security profile {profile} (SW 2.3: 0 to 3)")
        self._keys["securityprofile"].value = str(profile)
        self._load_settings()
        if self.security_profile in (1, 2) and self.authorization_key is None:
            raise ValueError(
                f"security profile {self.security_profile} needs an authorization_key (SW 2.3)"
            )
        self.password_changed: Callable[[str | None], Any] | None = None
        # Installed root certificates and the station's own certificate (SW A02/A03, M03-M05),
        # kept in `data`; `fleet.attach` has the client connect with them.
        self.certificates = StationCertificates(
            self.data,
            config.identity,
            wrote=self._wrote,
            security_event=self._security_event,
            invalid_event="InvalidChargePointCertificate",  # SW A02.FR.07
            capacity=self._int("CertificateStoreMaxLength"),
            clock=self._now,
        )
        self._connectors = [_Connector(i) for i in range(config.connectors + 1)]
        # The charger's electronics: plug, card reader, meter and faults in; contactor, current
        # limit and indicator out (hardware_link.py).
        self._link = HardwareLink(self.hardware, self, self.log, f"{self.name}: ")
        # A card read before the EV came, by connector: (its id tag, the wait for the plug).
        self._plug_waiters: dict[int, tuple[str, asyncio.Future[None]]] = {}
        # The Authorization Cache (C16 3.5.1: id tag -> (age, IdTagInfo), oldest first) and the
        # Local Authorization List (C16 3.5.2), keyed by the id tag in lower case: an IdToken
        # is case-insensitive (C16 7.28).
        self._cache: dict[str, tuple[int, v16.IdTagInfo]] = {}
        self._cache_age = 0
        self._local: dict[str, v16.IdTagInfo] = {}
        self._local_version = 0
        self._sessions: list[_Online] = []
        self._background: set[asyncio.Task[Any]] = set()
        # Sampling runs whether or not a connection is up: offline, the samples of a
        # transaction are queued (C16 3.7).
        self._meters: dict[int, asyncio.Task[Any]] = {}
        self._aligned: asyncio.Task[Any] | None = None
        # The queue itself is `data.queue`; these wake its sender, tell when it is empty, and
        # tell whoever waits for the answer to a queued message (by its seq).
        self._queue_changed = asyncio.Event()
        self._queue_idle = asyncio.Event()
        self._answers: dict[int, asyncio.Future[None]] = {}
        # The commit of the last write: no frame leaves before it (`write_barrier`).
        self._last_write: asyncio.Future[None] | None = None
        # Between a handler's answer and its after-hook: what the hook still has to do.
        self._remote_starts: dict[int, int] = {}
        self._reconnect_after: dict[int, str] = {}
        # Smart charging (C16 3.13): the installed profiles, kept in `data`, and the limit
        # they put on each connector, as the power in W the simulated EV may draw there.
        self._profiles = ProfileBook(
            self.data, _parse_profile, self._wrote, self.log, name=self.name
        )
        self._allowed_w: dict[int, float] = {}
        self._limits = LimitKeeper(
            self._profiles,
            range(1, config.connectors + 1),
            self._now,
            self._tx_start,
            self._apply_limit,
            self._in_background,
            voltage=NOMINAL_VOLTAGE,
            phases=PHASES,
        )
        # Reservations (C16 3.11, 5.13), kept in `data`, expired by `clock`.
        self._reservations = ReservationBook(
            self.data,
            self._now,
            log=self.log,
            name=self.name,
            expired=self._reservations_expired,
            wrote=self._wrote,
        )
        self._load_tokens()
        self._restore_connectors()
        # The limits of the profiles kept across a restart apply from now on, connected or not
        # (C16 3.13.6); built in the running loop, their timer starts too.
        self._limits.refresh()

    # -- public API --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The station's identity, as its log lines name it."""
        return self.config.identity

    @property
    def heartbeat_interval(self) -> int:
        """Seconds between Heartbeats: BootNotification.conf's interval, or HeartbeatInterval as
        configured (C16 4.2, 9.1.10)."""
        return self._int("HeartbeatInterval")

    @property
    def security_profile(self) -> int:
        """The SecurityProfile configuration key (SW 7.6): 0 none, 1 HTTP Basic authentication.
        A client reads it (and `authorization_key`) each time it connects."""
        return self._int("SecurityProfile")

    @property
    def authorization_key(self) -> str | None:
        """The HTTP Basic authentication password the Central System set (SW 7.2), if any."""
        return self._keys["authorizationkey"].value

    @property
    def previous_passwords(self) -> list[str]:
        """SW A01 rotation: the AuthorizationKeys before the current one (newest first, at most
        two), kept in `data` until a connection with the current one succeeded, so that a
        lost answer or a crash mid-rotation never locks the station out: the client falls back
        to them when the Central System refuses the new one (HTTP 401). Never logged."""
        kept = self.data.state.get(_PREVIOUS_PASSWORDS)
        return [p for p in kept if isinstance(p, str)] if isinstance(kept, list) else []

    def _keep_previous_password(self, old: str | None) -> None:
        new = self.authorization_key
        if old is None or old == new:
            return
        kept = [old, *(p for p in self.previous_passwords if p not in (old, new))][:2]
        # Written before the answer leaves (`_wrote`): a crash after it keeps both.
        self._wrote(self.data.set_state(_PREVIOUS_PASSWORDS, kept))

    def password_confirmed(self, password: str | bytes) -> None:
        """The Central System accepted a connection with `password`: once that is the current
        AuthorizationKey, the previous ones are forgotten (SW A01)."""
        if self.previous_passwords and password == self.authorization_key:
            self._wrote(self.data.set_state(_PREVIOUS_PASSWORDS, None))
            self.log.info(
                "%s: connected with the new AuthorizationKey; the previous one is forgotten",
                self.name,
            )

    @property
    def transactions(self) -> dict[int, Transaction]:
        """The running transactions by connector id."""
        return {c.id: c.transaction for c in self._connectors[1:] if c.transaction is not None}

    @property
    def connectors(self) -> int:
        """The number of connectors (ids 1..N; 0 is the charge point itself)."""
        return self.config.connectors

    def connector_status(self, connector_id: int) -> str:
        """The current status of a connector, or of the charge point for 0 (C16 7.7)."""
        return self._status_of(self._connector(connector_id, allow_zero=True)).value

    def get_configuration(self, key: str) -> str | None:
        """A configuration key's value (case-insensitive name, C16 7.17 CiString); None for an
        unknown key or a write-only one."""
        entry = self._keys.get(key.lower())
        if entry is None or entry.access == "W":
            return None
        return entry.value

    def change_configuration(self, key: str, value: str) -> str:
        """Change a configuration key as ChangeConfiguration.req does (C16 5.3), keep it in
        `data`, and return the status: "Accepted", "Rejected" (read-only key, invalid value) or
        "NotSupported" (unknown key). Call it in the running event loop."""
        status, why = self._change(key, value)
        if why:
            self.log.info("%s: configuration %s not changed (%s): %s", self.name, key, status, why)
        return status

    async def plug_in(self, connector_id: int) -> None:
        """The simulated EV plugs in: Preparing (C16 4.9 A2), or Charging again when its
        transaction was suspended because the EV side had disconnected (D3)."""
        c = self._connector(connector_id)
        if c.plugged:
            return
        now = self._now()
        self._meter(c, now)
        c.plugged = True
        c.ev_disconnected = False
        c.info = ""
        waiting = self._plug_waiters.pop(c.id, None)
        if waiting is not None and not waiting[1].done():
            waiting[1].set_result(None)  # a card read before the plug waits for it
        if c.transaction is None:
            c.finishing = False
            self._arm_connection_timeout(c)
        self._save(c)
        await self._update(c)

    async def unplug(self, connector_id: int) -> None:
        """The simulated EV unplugs. During a transaction: with StopTransactionOnEVSideDisconnect
        the transaction stops (reason EVDisconnected), else it is suspended (SuspendedEV, "EV
        side disconnected") until the EV plugs in again (C16 4.9, 4.10)."""
        c = self._connector(connector_id)
        if not c.plugged:
            return
        self._meter(c, self._now())
        c.plugged = False
        c.finishing = False
        self._disarm_connection_timeout(c)
        if c.transaction is not None:
            if self._bool("StopTransactionOnEVSideDisconnect"):
                stop = self._end_transaction(c, v16.Reason.EVDisconnected)
                # C16 4.10: then the connector unlocks if UnlockConnectorOnEVSideDisconnect.
                c.locked = not self._bool("UnlockConnectorOnEVSideDisconnect")
                await self._answer_to(stop)
            else:
                # C16 4.10: the transaction goes on and the cable stays locked.
                c.ev_disconnected = True
                c.info = "EV side disconnected"
        self._save(c)
        await self._update(*self._connectors)

    async def authorize(self, id_token: str) -> bool:
        """Authorize an id tag (C16 4.1, 3.5) and say whether it may charge.

        Online, from the Local Authorization List or the Authorization Cache when
        LocalPreAuthorize allows it (the list has priority, C16 3.5.3), else with
        Authorize.req. Offline (no connection, BootNotification not accepted, or Authorize.req
        unanswered): a valid entry of the list or cache with LocalAuthorizeOffline, an unknown
        id with AllowOfflineTxForUnknownId; an entry that is not valid (Blocked, Invalid,
        Expired, or expired with time) is refused (C16 3.5.4). Raises `StationError` when the
        Central System answers with a CALLERROR, or when it cannot be asked and nothing allows
        the id tag locally."""
        if len(id_token) > 20:
            raise ValueError("an idTag has at most 20 characters (C16 7.15 CiString20Type)")
        known, listed = self._entry(id_token)
        valid = known is not None and self._valid(known, listed)
        if self._may_send():
            if valid and self._bool("LocalPreAuthorize"):
                self.log.info(
                    "%s: id tag %s authorized from the %s (LocalPreAuthorize)",
                    self.name,
                    id_token,
                    _where(listed),
                )
                return True
            try:
                response = await self._call(v16.AuthorizeRequest(id_tag=id_token))
            except OCPPError as error:
                raise StationError(f"could not authorize {id_token}: {error}") from error
            except (CallTimeoutError, SessionClosedError, StationError) as error:
                self.log.warning(
                    "%s: Authorize for %s not answered (%s): deciding offline (C16 3.5)",
                    self.name,
                    id_token,
                    error,
                )
            else:
                info: v16.IdTagInfo = response.id_tag_info
                self._authorization_answer(id_token, info)
                accepted = info.status == _ACCEPTED
                self.log.info(
                    "%s: id tag %s %s",
                    self.name,
                    id_token,
                    "authorized" if accepted else info.status.value,
                )
                return accepted
        return self._authorize_offline(id_token, known, listed, valid)

    async def start_transaction(
        self, connector_id: int, id_token: str, *, authorize: bool = True
    ) -> str:
        """Start a transaction on a connector for an id tag and return its id (C16 4.8).

        With `authorize` (a local start) the id tag is authorized first (`authorize`, C16 4.1,
        3.5); the simulated EV is plugged in if it is not. The transaction starts here and its
        StartTransaction.req is queued (C16 3.7); online, this returns once the Central System
        answered it, with the id it gave ("-1" when the message was given up, C16E 3.18),
        offline at once with "" (the id comes when the queue is delivered). Raises
        `StationError` when the connector is busy or unavailable or the id tag is refused."""
        c = self._connector(connector_id)
        self._claim(c)
        await self._update(c)  # Preparing (C16 4.9 A2)
        try:
            return await self._start(c, id_token, authorize=authorize)
        except StationError:
            await self._update(c)
            raise

    async def stop_transaction(self, connector_id: int, reason: str = "Local") -> None:
        """Stop the transaction on a connector (C16 4.10) with a `Reason` (C16 7.36: "Local",
        "Remote", "EVDisconnected", ...); online, return once StopTransaction.req was answered
        (offline it stays queued, C16 3.7). Raises `StationError` when none runs there."""
        c = self._connector(connector_id)
        if c.transaction is None:
            raise StationError(f"no transaction runs on connector {connector_id}")
        await self._answer_to(self._end_transaction(c, v16.Reason(reason)))
        await self._update(*self._connectors)

    async def sample_now(self, connector_id: int) -> None:
        """Take a periodic sample of the transaction on a connector right now, exactly as the
        MeterValueSampleInterval timer does (C16 3.16.1): a transactionData sample
        (StopTxnSampledData) and a MeterValues.req queued as transaction-related (C16 3.7).
        Returns once the message is on disk. Raises `StationError` when no transaction runs
        there."""
        c = self._connector(connector_id)
        if c.transaction is None:
            raise StationError(f"no transaction runs on connector {connector_id}")
        item = self._sample_periodic(c)
        if item is not None and item.stored is not None:
            await item.stored

    # -- the charger's hardware (hardware_link.py) ------------------------------------------

    async def hardware_token(self, id_token: str, connector_id: int | None = None) -> None:
        """A card was read, by the reader of `connector_id` or the station's (None). The card
        of a running transaction, or one of its group (same parentIdTag), stops it (C16 4.10,
        reason Local); otherwise a transaction starts on the connector whose EV waits, or on a
        free one: the id tag is authorized, the connector is Preparing (C16 4.9: "a user
        presents a tag") and the transaction starts once the EV is plugged in within
        ConnectionTimeOut (C16 9.1.6); presented again meanwhile, it cancels that wait. A card
        that may not charge is logged."""
        for cid, (waiting_tag, wait) in self._plug_waiters.items():
            if waiting_tag.lower() == id_token.lower() and connector_id in (None, cid):
                if not wait.done():
                    wait.set_exception(StationError("the card was presented again: cancelled"))
                return
        _, parent = self._parent_of(id_token)
        for c in self._connectors[1:]:
            tx = c.transaction
            if tx is None or connector_id not in (None, c.id):
                continue
            same = tx.id_token.lower() == id_token.lower()
            if same or (parent is not None and parent == tx.parent_id_tag):
                await self.stop_transaction(c.id, "Local")
                return
        candidates = [self._connector(connector_id)] if connector_id else self._connectors[1:]
        free = [c for c in candidates if not self._busy(c)]
        # The connector whose EV is plugged in and waits comes first.
        chosen = next((c for c in free if c.plugged), next(iter(free), None))
        if chosen is None:
            self.log.warning("%s: card %s: no connector is free to charge", self.name, id_token)
            return
        c = chosen
        self._claim(c)
        await self._update(c)  # Preparing
        try:
            if c.plugged:
                await self._start(c, id_token, authorize=True)
                return
            if not await self.authorize(id_token):
                raise StationError(f"id tag {id_token} was not authorized")
            if not c.plugged:
                seconds = self._int("ConnectionTimeOut")
                waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._plug_waiters[c.id] = (id_token, waiter)
                try:
                    await asyncio.wait_for(waiter, seconds if seconds > 0 else None)
                except asyncio.TimeoutError:
                    raise StationError(
                        f"no EV plugged in within ConnectionTimeOut ({seconds} s)"
                    ) from None
                finally:
                    self._plug_waiters.pop(c.id, None)
            await self._start(c, id_token, authorize=False)
        except StationError as error:
            self.log.warning("%s: card %s on connector %d: %s", self.name, id_token, c.id, error)
            c.starting = False
            await self._update(c)

    async def hardware_fault(self, connector_id: int | None, component: Component) -> None:
        """A part of the charger failed or works again (`HardwareLink` keeps which). A
        contactor or current-limit fault ends the transactions it concerns (reason Other) and
        makes their connectors Faulted (C16 4.9); a meter or reader fault is a warning: its
        StatusNotification.req carries the error code with the status unchanged (C16 4.9)."""
        where = self._connectors[1:] if connector_id is None else [self._connector(connector_id)]
        if component in BLOCKING:
            await self._hardware_stop(where, v16.Reason.Other)
        elif self._may_send():
            # The warning goes with the connector it concerns, the station's with connector 0.
            await self._send_status(self._connectors[connector_id or 0])

    async def hardware_emergency_stop(self, pressed: bool) -> None:
        """The emergency stop was pressed: every transaction ends (reason EmergencyStop,
        C16 7.36) and every connector is Faulted until it is released."""
        await self._hardware_stop(self._connectors[1:], v16.Reason.EmergencyStop)

    async def _hardware_stop(self, where: list[_Connector], reason: v16.Reason) -> None:
        stops = [
            self._end_transaction(c, reason)
            for c in where
            if c.transaction is not None and self._link.blocked(c.id)
        ]
        for stop in stops:
            await self._answer_to(stop)
        await self._update(*self._connectors)

    def _hardware_error(self, c: _Connector) -> tuple[v16.ChargePointErrorCode, str]:
        """The errorCode and info of a connector's hardware faults (NoError, "" without):
        its own, and for connector 0 the station's."""
        if self._link.emergency_stop:
            return v16.ChargePointErrorCode.OtherError, "emergency stop pressed"
        for component, code in _ERROR_CODES:
            problem = self._link.fault(c.id or None, component)
            if problem is None and c.id and component in BLOCKING:
                problem = self._link.fault(None, component)
            if problem is not None:
                return code, problem
        return v16.ChargePointErrorCode.NoError, ""

    async def shutdown(self, reason: str = "Other") -> None:
        """Stop every transaction (with `reason`, C16 7.36), give the queue MessageTimeout
        seconds to be delivered, write everything to disk and close the connection (code
        1000): what the simulator does before it exits. What could not be delivered stays
        queued for the next start."""
        self.maintenance.cancel()  # a firmware update in progress resumes at the next start
        self._link.stop()
        for c in self._connectors[1:]:
            self._disarm_connection_timeout(c)
            if c.transaction is not None:
                self._end_transaction(c, v16.Reason(reason))
                self._recompute(c)
        await self._deliver_before_closing()
        if self._aligned is not None:
            self._aligned.cancel()
        self._limits.stop()
        try:
            await self.data.flush()
        except StorageError as error:
            self.log.error(
                "%s: could not write the station's data at shutdown: %s", self.name, error
            )
        connection = self._connection()
        if connection is not None:
            await connection.close(1000, "station shutting down")

    # -- connection life cycle ---------------------------------------------------------------

    def connected(self) -> None:
        """A connection runs: boot (C16 4.2) unless the Central System accepted this station
        since its last reboot, then heartbeat and deliver the queue on it."""
        online = _Online(self.connection)
        self._sessions.append(online)
        self._connect_event = None
        # SW A02.FR.10: a renewed certificate that connected works; A03.FR.02: renew it on our
        # own a month before it expires (sent once the boot is accepted).
        self.certificates.connected()
        if self.certificates.expires_soon() and not self.certificates.pending:
            self._spawn(online, self._renew_when_booted(), "certificate renewal")
        self.traffic.attach(self.connection)  # the frames a diagnostics upload holds
        self.booted.clear()
        self._ensure_aligned()
        # The limits of the profiles kept across a restart, and their timer (C16 3.13.6).
        self._limits.refresh()
        if self._booted_here():
            # J16 5.4: "When reconnecting a charge point should not send a BootNotification
            # unless one or more of the elements in the BootNotification have changed".
            self._spawn(online, self._resume(online), "resume")
        else:
            self.registration = ""
            self._spawn(online, self._boot(online), "boot")

    def disconnected(self) -> None:
        """The connection ended: stop its timers; every other state survives."""
        for online in [s for s in self._sessions if s.connection.closed]:
            online.cancel()
            self._sessions.remove(online)
        if not self._sessions:
            self.booted.clear()
            code = getattr(self.connection, "close_code", None)
            self.log.info(
                "%s: disconnected (close code %s); %d transaction message(s) queued",
                self.name,
                code,
                len(self.data.queue),
            )

    def connect_security_event(self, kind: str, info: str) -> None:
        """What the client saw while connecting (`Client.security_event`, named as in 2.x):
        InvalidCsmsCertificate (SW A00.FR.309, A00.FR.413), InvalidTLSVersion (A00.FR.315,
        A00.FR.419), InvalidTLSCipherSuite (A00.FR.322, A00.FR.426), FailedToAuthenticateAtCsms
        (an HTTP 401): the SW 8 security event, once per run of failed attempts (the client
        retries with back-off: one event per attempt would fill the log with one cause)."""
        kind = _V16_EVENT_NAMES.get(kind, kind)
        if kind == self._connect_event:
            return
        self._connect_event = kind
        self._security_event(kind, info)

    def handlers_for(self, version: str) -> dict[str, Callable[[Any], Any]]:
        """The handlers, guarded: while the Central System has Rejected the station, no CALL of
        it is answered (C16 4.2: "While Rejected, the Charge Point SHALL NOT respond to any
        Central System initiated message")."""
        routes = super().handlers_for(version)
        return {action: self._guarded(action, handler) for action, handler in routes.items()}

    def write_barrier(self) -> asyncio.Future[None] | None:
        """The commit of the station's last write while it is under way: no answer leaves
        before what it acknowledges is on disk (a configuration, a list, an availability)."""
        last = self._last_write
        return last if last is not None and not last.done() else None

    def _guarded(self, action: str, handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def guarded(request: Any) -> Any:
            if not self._boot_settled.is_set():
                return self._after_boot_answer(action, handler, request)
            if self.registration == v16.RegistrationStatus.Rejected:
                return self._never_answer(action)
            return handler(request)

        return guarded

    async def _after_boot_answer(
        self, action: str, handler: Callable[[Any], Any], request: Any
    ) -> Any:
        # A CALL right behind the BootNotification.conf (which the Central System sends first)
        # can be read before the boot task has taken in the registration status: wait for it,
        # since the answer depends on it (Pending, Rejected: C16 4.2).
        await self._boot_settled.wait()
        if self.registration == v16.RegistrationStatus.Rejected:
            await self._never_answer(action)
        return await maybe_await(handler(request))

    async def _never_answer(self, action: str) -> None:
        self.log.warning(
            "%s: not answering %s: the Central System rejected our BootNotification (C16 4.2)",
            self.name,
            action,
        )
        # Waits until the connection closes and cancels it: the CALL stays unanswered.
        await asyncio.get_running_loop().create_future()

    async def _boot(self, online: _Online) -> None:
        """Send BootNotification.req until Accepted (C16 4.2)."""
        connection = online.connection
        while not connection.closed:
            online.boot_now.clear()
            request = v16.BootNotificationRequest(
                charge_point_vendor=self.config.vendor,
                charge_point_model=self.config.model,
                charge_point_serial_number=self.config.serial_number or UNSET,
                firmware_version=self.config.firmware_version,
            )
            wait = BOOT_RETRY_DEFAULT
            self._boot_settled.clear()
            try:
                response = await self._call(request)
            except (SessionClosedError, StationError):
                return
            except (CallTimeoutError, OCPPError) as error:
                self.log.warning(
                    "%s: BootNotification failed (%s); retrying in %g s", self.name, error, wait
                )
                continue_after = wait
            else:
                self.registration = response.status.value
                if response.status == v16.RegistrationStatus.Accepted:
                    self._boot_settled.set()
                    await self._accepted(online, response)
                    return
                # C16 4.2: interval is the minimum wait before the next BootNotification.req.
                continue_after = response.interval if response.interval > 0 else wait
                self.log.warning(
                    "%s: the Central System answered BootNotification %s; retrying in %g s",
                    self.name,
                    response.status.value,
                    continue_after,
                )
            finally:
                self._boot_settled.set()
            # Pending: a TriggerMessage(BootNotification) may ask for the next one sooner.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(online.boot_now.wait(), continue_after)

    async def _accepted(self, online: _Online, response: v16.BootNotificationResponse) -> None:
        # C16 4.2: adjust the heartbeat interval to the response's; 0 keeps the configured one.
        if response.interval > 0:
            self._set_key(self._keys["heartbeatinterval"], str(response.interval))
        self.log.info(
            "%s: booted: accepted by the Central System (heartbeat interval %d s)",
            self.name,
            self.heartbeat_interval,
        )
        # SW 8: StartupOfTheDevice / ResetOrReboot (critical), queued behind what is queued.
        if self._startup_event:
            self._security_event(self._startup_event, "booted")
            self._startup_event = ""
        await self._online(online)

    async def _resume(self, online: _Online) -> None:
        """Back online after a lost connection, still accepted: no BootNotification."""
        self.log.info(
            "%s: reconnected; still accepted since the last boot, so no BootNotification (J16 5.4)",
            self.name,
        )
        await self._online(online)

    async def _online(self, online: _Online) -> None:
        """Accepted and connected: report every connector, then deliver the queue, heartbeat."""
        self.booted.set()
        # C16E 3.22: after Accepted, a StatusNotification for connector 0 and every connector.
        for c in self._connectors:
            self._recompute(c)
            await self._send_status(c)
        if self.data.queue:
            self.log.info(
                "%s: delivering %d queued transaction message(s) (C16 3.7)",
                self.name,
                len(self.data.queue),
            )
        self._spawn(online, self._deliver_queue(online), "transaction messages")
        self._spawn(online, self._deliver_events(online), "security events")
        self._restart_heartbeat(online)
        # C16 4.5: a firmware update the reboot (or a restart) interrupted reports on.
        self._spawn(online, self.maintenance.after_boot(), "firmware update after boot")

    # -- CSMS-initiated actions (C16 chapter 5, SW chapter 5) -------------------------------

    @on(v16.CancelReservationRequest)
    def _cancel_reservation(
        self, request: v16.CancelReservationRequest
    ) -> v16.CancelReservationResponse:
        # C16 5.1: Accepted when a reservation matches the reservationId, else Rejected.
        self._reservations.expire_due()
        cancelled = self._reservations.remove(request.reservation_id)
        if cancelled is None:
            self._refused(
                "CancelReservation", "Rejected", f"no reservation {request.reservation_id}"
            )
            return v16.CancelReservationResponse(status=v16.CancelReservationStatus.Rejected)
        self.log.info(
            "%s: reservation %d of %s cancelled", self.name, cancelled.id, cancelled.id_token
        )
        return v16.CancelReservationResponse(status=v16.CancelReservationStatus.Accepted)

    @after(v16.CancelReservationRequest)
    async def _reservation_cancelled(
        self, request: v16.CancelReservationRequest, response: v16.CancelReservationResponse
    ) -> None:
        # C16 4.9 G1: Reserved -> Available once the reservation is cancelled.
        await self._update(*self._connectors)

    @on(v16.CertificateSignedRequest)
    def _certificate_signed(
        self, request: v16.CertificateSignedRequest
    ) -> v16.CertificateSignedResponse:
        # SW A02.FR.06/07: checked against the pending key, the identity and the installed
        # CSMS root; installed and used from the next connection on (A02.FR.08).
        self.certificates.max_chain_size = self._int("CertificateSignedMaxChainSize")
        accepted, why = self.certificates.accept_signed(request.certificate_chain)
        if not accepted:
            self._refused("CertificateSigned", "Rejected", why)
            return v16.CertificateSignedResponse(status=v16.CertificateSignedStatusEnum.Rejected)
        return v16.CertificateSignedResponse(status=v16.CertificateSignedStatusEnum.Accepted)

    @on(v16.ChangeAvailabilityRequest)
    def _change_availability(
        self, request: v16.ChangeAvailabilityRequest
    ) -> v16.ChangeAvailabilityResponse:
        cid = request.connector_id
        if not 0 <= cid <= self.connectors:
            self._refused("ChangeAvailability", "Rejected", f"no connector {cid}")
            return v16.ChangeAvailabilityResponse(status=v16.AvailabilityStatus.Rejected)
        operative = request.type == v16.AvailabilityType.Operative
        # C16 5.2: connector 0 is the Charge Point and all its connectors.
        targets = self._connectors if cid == 0 else [self._connectors[cid]]
        scheduled = False
        for c in targets:
            busy = (
                any(x.transaction is not None for x in self._connectors[1:])
                if c.id == 0
                else c.transaction is not None
            )
            if c.operative == operative:
                c.scheduled = None  # already so (C16 5.2: Accepted); drop a contrary schedule
            elif busy:
                c.scheduled = operative  # C16 5.2: Scheduled until the transaction has finished
                scheduled = True
            else:
                c.operative = operative
                c.scheduled = None
            # C16 5.2, 4.9: "Connector set to Unavailable shall persist a reboot"; the answer
            # waits for the write (`write_barrier`).
            self._save(c)
        status = v16.AvailabilityStatus.Scheduled if scheduled else v16.AvailabilityStatus.Accepted
        self.log.info(
            "%s: ChangeAvailability connector %d %s: %s",
            self.name,
            cid,
            request.type.value,
            status.value,
        )
        return v16.ChangeAvailabilityResponse(status=status)

    @after(v16.ChangeAvailabilityRequest)
    async def _availability_changed(
        self, request: v16.ChangeAvailabilityRequest, response: v16.ChangeAvailabilityResponse
    ) -> None:
        # C16 5.2: report the new availability with StatusNotification.req once it happened.
        self._drop_unavailable_reservations()  # C16 5.13 (3)
        await self._update(*self._connectors)

    @on(v16.ChangeConfigurationRequest)
    def _change_configuration(
        self, request: v16.ChangeConfigurationRequest
    ) -> v16.ChangeConfigurationResponse:
        key = request.key.lower()
        # SW A01, SW 7.6: with a new password or security profile, the station reconnects.
        reconnect = (key == "authorizationkey" and self.security_profile in (1, 2)) or (
            key == "securityprofile"
        )
        before = self.security_profile
        old_key = self.authorization_key
        status = self.change_configuration(request.key, request.value)
        if status == "Accepted" and key == "authorizationkey":
            self._keep_previous_password(old_key)
        if status == "Accepted":
            # SW 7.2: the AuthorizationKey is a password: never in the log.
            shown = "<not shown>" if key == "authorizationkey" else request.value
            self.log.info("%s: configuration %s set to %s", self.name, request.key, shown)
            if reconnect and (key != "securityprofile" or self.security_profile != before):
                self._reconnect_after[id(request)] = request.key
            if key in ("authorizationkey", "securityprofile"):
                # SW 8 (not critical: the security log only).
                self._security_event("ReconfigurationOfSecurityParameters", f"{request.key} set")
        return v16.ChangeConfigurationResponse(status=v16.ConfigurationStatus(status))

    @after(v16.ChangeConfigurationRequest)
    async def _configuration_changed(
        self, request: v16.ChangeConfigurationRequest, response: v16.ChangeConfigurationResponse
    ) -> None:
        key = self._reconnect_after.pop(id(request), None)
        if key is not None:
            # SW A01 / 7.6: disconnect, then reconnect with the new credentials or profile.
            if self.password_changed is not None:
                in_use = self.security_profile in (1, 2)
                await maybe_await(self.password_changed(self.authorization_key if in_use else None))
            self.log.info("%s: reconnecting to apply the new %s", self.name, key)
            # What the station sent meanwhile (a StatusNotification) is answered first.
            await self.connection.calls_answered(RECONNECT_GRACE)
            await self.connection.close(1000, f"reconnecting with the new {key}")

    @on(v16.ClearCacheRequest)
    def _clear_cache(self, request: v16.ClearCacheRequest) -> v16.ClearCacheResponse:
        # C16 5.4; C16E 3.23 (Rejected only where no cache is implemented).
        self._forget_cache()
        self.log.info("%s: authorization cache cleared", self.name)
        return v16.ClearCacheResponse(status=v16.ClearCacheStatus.Accepted)

    @on(v16.ClearChargingProfileRequest)
    def _clear_charging_profile(
        self, request: v16.ClearChargingProfileRequest
    ) -> v16.ClearChargingProfileResponse:
        # C16 5.5, C16E 3.25: clear every profile that matches all the fields given (all of
        # them without any field); Unknown when none matched (C16 7.21). The answer waits for
        # the write (`write_barrier`).
        purpose = request.charging_profile_purpose
        matching = self._profiles.select(
            profile_ids=None if request.id is UNSET else [request.id],
            evse=None if request.connector_id is UNSET else request.connector_id,
            purpose=None if purpose is UNSET else _PURPOSES[purpose.value],
            stack_level=None if request.stack_level is UNSET else request.stack_level,
        )
        if not matching:
            self._refused("ClearChargingProfile", "Unknown", "no charging profile matches")
            return v16.ClearChargingProfileResponse(status=v16.ClearChargingProfileStatus.Unknown)
        self._profiles.clear(matching, "ClearChargingProfile")
        self._limits.refresh()
        return v16.ClearChargingProfileResponse(status=v16.ClearChargingProfileStatus.Accepted)

    @on(v16.DataTransferRequest)
    def _data_transfer(self, request: v16.DataTransferRequest) -> v16.DataTransferResponse:
        # C16 4.3 / 5.6: no vendor extension here: UnknownVendorId, without data.
        self._refused("DataTransfer", "UnknownVendorId", f"vendor {request.vendor_id!r}")
        return v16.DataTransferResponse(status=v16.DataTransferStatus.UnknownVendorId)

    @on(v16.DeleteCertificateRequest)
    def _delete_certificate(
        self, request: v16.DeleteCertificateRequest
    ) -> v16.DeleteCertificateResponse:
        # SW M04: the station's own certificate (M04.FR.05) and the CSMS root validating this
        # connection (M04.FR.06) are never deleted: Failed.
        status = self.certificates.delete(request.certificate_hash_data)
        if status != "Accepted":
            self._refused("DeleteCertificate", status, "see the log line above")
        return v16.DeleteCertificateResponse(status=v16.DeleteCertificateStatusEnum(status))

    @on(v16.ExtendedTriggerMessageRequest)
    def _extended_trigger(
        self, request: v16.ExtendedTriggerMessageRequest
    ) -> v16.ExtendedTriggerMessageResponse:
        message = request.requested_message
        status = v16.TriggerMessageStatusEnum.Accepted
        why = ""
        if message == v16.MessageTriggerEnum.SignChargePointCertificate:
            pass  # SW A02: a new key and CSR after the answer (`_trigger`)
        elif message == v16.MessageTriggerEnum.BootNotification and self._booted_here():
            status, why = v16.TriggerMessageStatusEnum.Rejected, "already accepted (C16E 3.40)"
        elif not self._trigger_connector_ok(request.connector_id, extended=True):
            status, why = v16.TriggerMessageStatusEnum.Rejected, "no such connector"
        if why:
            self._refused("ExtendedTriggerMessage", status.value, f"{message.value}: {why}")
        return v16.ExtendedTriggerMessageResponse(status=status)

    @after(v16.ExtendedTriggerMessageRequest)
    async def _extended_triggered(
        self,
        request: v16.ExtendedTriggerMessageRequest,
        response: v16.ExtendedTriggerMessageResponse,
    ) -> None:
        if response.status == v16.TriggerMessageStatusEnum.Accepted:
            await self._trigger(request.requested_message.value, request.connector_id, True)

    @on(v16.GetCompositeScheduleRequest)
    def _get_composite_schedule(
        self, request: v16.GetCompositeScheduleRequest
    ) -> v16.GetCompositeScheduleResponse:
        cid = request.connector_id
        # C16 5.7: Rejected when the schedule cannot be reported, e.g. an unknown connector.
        if not 0 <= cid <= self.connectors or request.duration <= 0:
            self._refused(
                "GetCompositeSchedule",
                "Rejected",
                f"connector {cid}, duration {request.duration} s",
            )
            return v16.GetCompositeScheduleResponse(status=v16.GetCompositeScheduleStatus.Rejected)
        unit = request.charging_rate_unit
        # Without a chargingRateUnit, in amps: what the charger controls (the pilot signal).
        wanted: Unit = "A" if unit is UNSET else unit.value
        rating = self.config.power_w
        if wanted == "A":
            rating /= NOMINAL_VOLTAGE * PHASES
        # C16 5.7: from the moment of the request up to + duration; for connector 0 the total
        # the Charge Point expects to draw from the grid; local limits (the rating) included.
        schedule = self._limits.composite(cid, request.duration, wanted, rating)
        assert schedule.start is not None
        return v16.GetCompositeScheduleResponse(
            status=v16.GetCompositeScheduleStatus.Accepted,
            connector_id=cid,
            schedule_start=schedule.start,
            charging_schedule=v16.ChargingSchedule(
                duration=request.duration,
                start_schedule=schedule.start,
                charging_rate_unit=v16.ChargingRateUnitType(wanted),
                charging_schedule_period=[
                    v16.ChargingSchedulePeriod(
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

    @on(v16.GetConfigurationRequest)
    def _get_configuration(
        self, request: v16.GetConfigurationRequest
    ) -> v16.GetConfigurationResponse:
        # C16 5.8: no keys (absent or empty): all of them; else the known ones, and the others in
        # unknownKey. Key names are CiString50 (C16 7.17): matched case-insensitively.
        wanted = request.key if request.key is not UNSET else []
        known: list[v16.KeyValue] = []
        unknown: list[str] = []
        if not wanted:
            known = [self._key_value(entry) for entry in self._keys.values()]
        for name in wanted:
            entry = self._keys.get(name.lower())
            if entry is None:
                unknown.append(name)
            else:
                known.append(self._key_value(entry))
        return v16.GetConfigurationResponse(
            configuration_key=known, unknown_key=unknown if unknown else UNSET
        )

    @on(v16.GetDiagnosticsRequest)
    def _get_diagnostics(self, request: v16.GetDiagnosticsRequest) -> v16.GetDiagnosticsResponse:
        # C16 5.9: the answer names the file the Charge Point will upload to the location (a
        # directory): an archive of its log and OCPP traffic between startTime and stopTime.
        job = LogUpload(
            kind="Diagnostics",
            location=request.location,
            file_name=self.maintenance.file_name("diagnostics"),
            retries=nonnegative(request.retries),
            retry_interval=nonnegative(request.retry_interval),
            start=optional_time(request.start_time),
            stop=optional_time(request.stop_time),
        )
        self.maintenance.prepared[id(request)] = job
        self.log.info("%s: GetDiagnostics: uploading %s", self.name, job.file_name)
        return v16.GetDiagnosticsResponse(file_name=job.file_name)

    @after(v16.GetDiagnosticsRequest)
    async def _diagnostics_requested(
        self, request: v16.GetDiagnosticsRequest, response: v16.GetDiagnosticsResponse
    ) -> None:
        # C16 4.4: DiagnosticsStatusNotification.req Uploading, then Uploaded or UploadFailed.
        job = self.maintenance.prepared.pop(id(request), None)
        if job is not None:
            self.maintenance.start_upload(job)

    @on(v16.GetInstalledCertificateIdsRequest)
    def _get_installed_certificate_ids(
        self, request: v16.GetInstalledCertificateIdsRequest
    ) -> v16.GetInstalledCertificateIdsResponse:
        # SW M03.FR.02-04: the hash data of each installed root of the type, NotFound if none.
        found = self.certificates.installed([request.certificate_type.value])
        if not found:
            return v16.GetInstalledCertificateIdsResponse(
                status=v16.GetInstalledCertificateStatusEnum.NotFound
            )
        return v16.GetInstalledCertificateIdsResponse(
            status=v16.GetInstalledCertificateStatusEnum.Accepted,
            certificate_hash_data=[
                msgspec.convert(hash_data, v16.CertificateHashData) for _, hash_data in found
            ],
        )

    @on(v16.GetLocalListVersionRequest)
    def _get_local_list_version(
        self, request: v16.GetLocalListVersionRequest
    ) -> v16.GetLocalListVersionResponse:
        # C16 5.10: the version of the Local Authorization List, 0 when it is empty.
        return v16.GetLocalListVersionResponse(list_version=self._list_version())

    @on(v16.GetLogRequest)
    def _get_log(self, request: v16.GetLogRequest) -> v16.GetLogResponse:
        # SW 4.5 / N01 (SW 5.3): DiagnosticsLog (the log and traffic archive) or SecurityLog
        # (the security events) between oldestTimestamp and latestTimestamp; a GetLog while an
        # upload runs cancels it: AcceptedCanceled (N01.FR.12).
        kind = request.log_type.value
        job = self.maintenance.log_request(request, kind)
        self.maintenance.prepared[id(request)] = job
        busy = self.maintenance.upload_busy
        status = v16.LogStatusEnum.AcceptedCanceled if busy else v16.LogStatusEnum.Accepted
        self.log.info(
            "%s: GetLog %s (request %d) %s: uploading %s",
            self.name,
            kind,
            request.request_id,
            status.value,
            job.file_name,
        )
        return v16.GetLogResponse(status=status, filename=job.file_name)

    @after(v16.GetLogRequest)
    async def _log_requested(
        self, request: v16.GetLogRequest, response: v16.GetLogResponse
    ) -> None:
        # SW: LogStatusNotification.req Uploading, then Uploaded or UploadFailure.
        job = self.maintenance.prepared.pop(id(request), None)
        if job is not None:
            self.maintenance.start_upload(job)

    @on(v16.InstallCertificateRequest)
    def _install_certificate(
        self, request: v16.InstallCertificateRequest
    ) -> v16.InstallCertificateResponse:
        # SW M05.FR.02/06: a CA certificate valid now; M05.FR.03: Rejected when the store holds
        # CertificateStoreMaxLength certificates already.
        status = self.certificates.install_root(
            request.certificate_type.value, request.certificate, full_status="Rejected"
        )
        if status != "Accepted":
            self._refused("InstallCertificate", status, "see the log line above")
        return v16.InstallCertificateResponse(status=v16.InstallCertificateStatusEnum(status))

    @on(v16.RemoteStartTransactionRequest)
    def _remote_start(
        self, request: v16.RemoteStartTransactionRequest
    ) -> v16.RemoteStartTransactionResponse:
        rejected = v16.RemoteStartTransactionResponse(status=v16.RemoteStartStopStatus.Rejected)
        if self.registration == v16.RegistrationStatus.Pending:
            self._refused(
                "RemoteStartTransaction", "Rejected", "not allowed while Pending (C16 4.2)"
            )
            return rejected
        if request.connector_id is not UNSET:
            cid = request.connector_id
            if not 1 <= cid <= self.connectors:
                self._refused("RemoteStartTransaction", "Rejected", f"no connector {cid}")
                return rejected
            c = self._connectors[cid]
            why = self._busy(c) or self._reservation_refusal(c, request.id_tag)  # C16 5.13
            if why:
                self._refused("RemoteStartTransaction", "Rejected", f"connector {cid}: {why}")
                return rejected
        else:
            # C16 5.11: without a connector id the Charge Point chooses: a free one where an EV
            # waits (plugged in), else any free one; C16 5.13: one the id tag's reservation
            # holds first, never one another reservation holds.
            free = [
                c
                for c in self._connectors[1:]
                if not self._busy(c) and not self._reservation_refusal(c, request.id_tag)
            ]
            free.sort(key=lambda c: (self._reservations.on(c.id) is None, not c.plugged))
            if not free:
                self._refused("RemoteStartTransaction", "Rejected", "no connector is free")
                return rejected
            c = free[0]
        if request.charging_profile is not UNSET:
            why = self._remote_profile_refusal(c, request.charging_profile)
            if why:
                self._refused("RemoteStartTransaction", "Rejected", why)
                return rejected
        self._claim(c)
        self._remote_starts[id(request)] = c.id
        self.log.info(
            "%s: remote start for %s on connector %d accepted", self.name, request.id_tag, c.id
        )
        return v16.RemoteStartTransactionResponse(status=v16.RemoteStartStopStatus.Accepted)

    @after(v16.RemoteStartTransactionRequest)
    async def _remote_started(
        self,
        request: v16.RemoteStartTransactionRequest,
        response: v16.RemoteStartTransactionResponse,
    ) -> None:
        cid = self._remote_starts.pop(id(request), None)
        if cid is None:
            return
        c = self._connectors[cid]
        await self._update(c)  # Preparing (C16 4.9 A2: receipt of a RemoteStartTransaction.req)
        if request.charging_profile is not UNSET:
            # C16 5.16.2: the TxProfile of the transaction about to start: it applies from its
            # first moment, and goes with it (`_end_transaction`).
            profile = request.charging_profile
            self._profiles.install(cid, from_v16(profile), msgspec.to_builtins(profile))
        try:
            # C16 5.11: authorize first when AuthorizeRemoteTxRequests is true.
            await self._start(c, request.id_tag, authorize=self._bool("AuthorizeRemoteTxRequests"))
        except StationError as error:
            self.log.warning("%s: remote start on connector %d failed: %s", self.name, cid, error)
            self._profiles.end_transaction(cid)
            self._limits.refresh()
            await self._update(c)

    @on(v16.RemoteStopTransactionRequest)
    def _remote_stop(
        self, request: v16.RemoteStopTransactionRequest
    ) -> v16.RemoteStopTransactionResponse:
        rejected = v16.RemoteStopTransactionResponse(status=v16.RemoteStartStopStatus.Rejected)
        if self.registration == v16.RegistrationStatus.Pending:
            self._refused(
                "RemoteStopTransaction", "Rejected", "not allowed while Pending (C16 4.2)"
            )
            return rejected
        if self._by_transaction(request.transaction_id) is None:
            # C16E 3.33: Accepted only when that transaction is ongoing and will be stopped.
            self._refused(
                "RemoteStopTransaction", "Rejected", f"no transaction {request.transaction_id}"
            )
            return rejected
        return v16.RemoteStopTransactionResponse(status=v16.RemoteStartStopStatus.Accepted)

    @after(v16.RemoteStopTransactionRequest)
    async def _remote_stopped(
        self,
        request: v16.RemoteStopTransactionRequest,
        response: v16.RemoteStopTransactionResponse,
    ) -> None:
        c = self._by_transaction(request.transaction_id)
        if response.status == v16.RemoteStartStopStatus.Accepted and c is not None:
            # C16 5.12: equal to a local stop: StopTransaction.req, unlock the connector.
            await self.stop_transaction(c.id, v16.Reason.Remote.value)

    @on(v16.ReserveNowRequest)
    def _reserve_now(self, request: v16.ReserveNowRequest) -> v16.ReserveNowResponse:
        status, why = self._reserve(request)
        if why:
            self._refused("ReserveNow", status.value, why)
        else:
            self.log.info(
                "%s: reservation %d of connector %d for %s until %s",
                self.name,
                request.reservation_id,
                request.connector_id,
                request.id_tag,
                request.expiry_date.isoformat(),
            )
        return v16.ReserveNowResponse(status=status)

    @after(v16.ReserveNowRequest)
    async def _reserved(
        self, request: v16.ReserveNowRequest, response: v16.ReserveNowResponse
    ) -> None:
        # C16 4.9 A7: Available -> Reserved (a replaced reservation may free another one).
        await self._update(*self._connectors)

    @on(v16.ResetRequest)
    def _reset(self, request: v16.ResetRequest) -> v16.ResetResponse:
        self.log.info("%s: %s reset requested", self.name, request.type.value)
        return v16.ResetResponse(status=v16.ResetStatus.Accepted)

    @after(v16.ResetRequest)
    async def _reset_now(self, request: v16.ResetRequest, response: v16.ResetResponse) -> None:
        # C16 5.14, C16E 3.36: StopTransaction.req for every transaction before the reset
        # (delivered now if it can be, else kept queued); a hard reset need not be graceful,
        # but stopping first loses nothing.
        reason = (
            v16.Reason.SoftReset if request.type == v16.ResetType.Soft else v16.Reason.HardReset
        )
        for c in self._connectors[1:]:
            if c.transaction is not None:
                self._end_transaction(c, reason)
                self._recompute(c)  # reported after the reboot (C16E 3.22)
        await self._deliver_before_closing()
        self.registration = ""  # a reset is a reboot: BootNotification again (C16 4.2)
        self._startup_event = "ResetOrReboot"  # SW 8, raised at the next accepted boot
        self.log.info("%s: resetting: the station boots again on the next connection", self.name)
        await self.connection.close(1000, f"{request.type.value} reset")

    @on(v16.SendLocalListRequest)
    def _send_local_list(self, request: v16.SendLocalListRequest) -> v16.SendLocalListResponse:
        status, why = self._update_local_list(request)
        if why:
            self._refused("SendLocalList", status, why)
        else:
            self.log.info(
                "%s: Local Authorization List %s update: version %d, %d id tag(s)",
                self.name,
                request.update_type.value,
                request.list_version,
                len(self._local),
            )
        return v16.SendLocalListResponse(status=v16.UpdateStatus(status))

    @on(v16.SetChargingProfileRequest)
    def _set_charging_profile(
        self, request: v16.SetChargingProfileRequest
    ) -> v16.SetChargingProfileResponse:
        cid = request.connector_id
        wire = request.cs_charging_profiles
        rejected = v16.SetChargingProfileResponse(status=v16.ChargingProfileStatus.Rejected)
        try:
            profile = from_v16(wire)
        except ValueError as error:  # C16E 3.45, 3.56: a schedule the spec does not allow
            self._refused(
                "SetChargingProfile", "Rejected", f"profile {wire.charging_profile_id}: {error}"
            )
            return rejected
        tx = self._connectors[cid].transaction if 0 < cid <= self.connectors else None
        # C16 5.16, 3.13.1: a TxProfile needs a transaction on its connector, with the
        # transactionId given (if any); "" while the Central System has not given it.
        why = self._profiles.refusal(
            cid,
            profile,
            SMART_CHARGING,
            evses=self.connectors,
            transaction=None if tx is None else tx.id,
        )[1]
        if why:
            self._refused("SetChargingProfile", "Rejected", f"profile {profile.id}: {why}")
            return rejected
        # C16 5.16.3/5.16.4: install (replacing by id or stackLevel/purpose) and re-evaluate
        # the limits at once; the answer waits for the write (`write_barrier`).
        self._profiles.install(cid, profile, msgspec.to_builtins(wire))
        self._limits.refresh()
        return v16.SetChargingProfileResponse(status=v16.ChargingProfileStatus.Accepted)

    @on(v16.SignedUpdateFirmwareRequest)
    def _signed_update_firmware(
        self, request: v16.SignedUpdateFirmwareRequest
    ) -> v16.SignedUpdateFirmwareResponse:
        # SW L01.FR.23/24: the signing certificate is validated against the manufacturer root
        # certificates before the request is accepted: InvalidCertificate otherwise, with the
        # security event InvalidFirmwareSigningCertificate (L01.FR.02).
        firmware = request.firmware
        problem = self.maintenance.signing_certificate_problem(firmware.signing_certificate)
        if problem is not None:
            self._refused("SignedUpdateFirmware", "InvalidCertificate", problem)
            self.maintenance.reporter.security_event(
                "InvalidFirmwareSigningCertificate", problem[:255]
            )
            return v16.SignedUpdateFirmwareResponse(
                status=v16.UpdateFirmwareStatusEnum.InvalidCertificate
            )
        # L01.FR.26: a new request cancels the update in progress: AcceptedCanceled.
        busy = self.maintenance.firmware_busy
        self.log.info(
            "%s: SignedUpdateFirmware %d from %s: %s",
            self.name,
            request.request_id,
            firmware.location,
            "AcceptedCanceled" if busy else "Accepted",
        )
        return v16.SignedUpdateFirmwareResponse(
            status=v16.UpdateFirmwareStatusEnum.AcceptedCanceled
            if busy
            else v16.UpdateFirmwareStatusEnum.Accepted
        )

    @after(v16.SignedUpdateFirmwareRequest)
    async def _signed_firmware_requested(
        self, request: v16.SignedUpdateFirmwareRequest, response: v16.SignedUpdateFirmwareResponse
    ) -> None:
        # SW L01: Downloading, Downloaded, SignatureVerified (or InvalidSignature: not
        # installed, L01.FR.03/04), Installing, InstallRebooting, Installed, each a
        # SignedFirmwareStatusNotification.req with the requestId (L01.FR.10).
        if response.status not in (
            v16.UpdateFirmwareStatusEnum.Accepted,
            v16.UpdateFirmwareStatusEnum.AcceptedCanceled,
        ):
            return
        firmware = request.firmware
        self.maintenance.update_firmware(
            FirmwareUpdate(
                location=firmware.location,
                retrieve_at=firmware.retrieve_date_time,
                install_at=optional_time(firmware.install_date_time),
                retries=nonnegative(request.retries),
                retry_interval=nonnegative(request.retry_interval),
                request_id=request.request_id,
                signing_certificate=firmware.signing_certificate,
                signature=firmware.signature,
            )
        )

    @on(v16.TriggerMessageRequest)
    def _trigger_message(self, request: v16.TriggerMessageRequest) -> v16.TriggerMessageResponse:
        message = request.requested_message
        status = v16.TriggerMessageStatus.Accepted
        why = ""
        if message == v16.MessageTrigger.BootNotification and self._booted_here():
            # C16E 3.40: not to be sent once the BootNotification was accepted.
            status, why = v16.TriggerMessageStatus.Rejected, "already accepted (C16E 3.40)"
        elif not self._trigger_connector_ok(request.connector_id, extended=False):
            status, why = v16.TriggerMessageStatus.Rejected, "no such connector"
        if why:
            self._refused("TriggerMessage", status.value, f"{message.value}: {why}")
        return v16.TriggerMessageResponse(status=status)

    @after(v16.TriggerMessageRequest)
    async def _triggered(
        self, request: v16.TriggerMessageRequest, response: v16.TriggerMessageResponse
    ) -> None:
        # C16 5.17: the requested message goes after the TriggerMessage.conf.
        if response.status == v16.TriggerMessageStatus.Accepted:
            await self._trigger(request.requested_message.value, request.connector_id, False)

    @on(v16.UnlockConnectorRequest)
    def _unlock_connector(self, request: v16.UnlockConnectorRequest) -> v16.UnlockConnectorResponse:
        cid = request.connector_id
        if not 1 <= cid <= self.connectors:
            # C16E 3.85: NotSupported for an unknown connector id.
            self._refused("UnlockConnector", "NotSupported", f"no connector {cid}")
            return v16.UnlockConnectorResponse(status=v16.UnlockStatus.NotSupported)
        c = self._connectors[cid]
        if c.transaction is not None:
            # C16 5.18: finish the transaction first, as in Stop Transaction (its
            # StopTransaction.req joins the queue now, so that no lost connection loses it).
            self._end_transaction(c, v16.Reason.UnlockCommand)
        c.locked = False
        self.log.info("%s: connector %d unlocked", self.name, cid)
        return v16.UnlockConnectorResponse(status=v16.UnlockStatus.Unlocked)

    @after(v16.UnlockConnectorRequest)
    async def _unlocked(
        self, request: v16.UnlockConnectorRequest, response: v16.UnlockConnectorResponse
    ) -> None:
        await self._update(*self._connectors)

    @on(v16.UpdateFirmwareRequest)
    def _update_firmware(self, request: v16.UpdateFirmwareRequest) -> v16.UpdateFirmwareResponse:
        # C16 5.19: the Charge Point answers at once, then downloads from `location` once
        # retrieveDate has come, retrying `retries` times `retryInterval` apart.
        if manufacturer_roots_of(self):
            # SW L01.FR.20: a Charge Point that verifies signed firmware (it has a manufacturer
            # root) answers the unsigned UpdateFirmware.req NotSupported and does not start.
            self._refused("UpdateFirmware", "NotSupported", "only signed firmware (L01.FR.20)")
            raise ActionNotSupportedError(
                "this Charge Point installs signed firmware only: use SignedUpdateFirmware"
            )
        self.log.info(
            "%s: UpdateFirmware from %s, not before %s",
            self.name,
            request.location,
            request.retrieve_date.isoformat(),
        )
        return v16.UpdateFirmwareResponse()

    @after(v16.UpdateFirmwareRequest)
    async def _firmware_requested(
        self, request: v16.UpdateFirmwareRequest, response: v16.UpdateFirmwareResponse
    ) -> None:
        # C16 4.5: FirmwareStatusNotification.req Downloading, Downloaded (or DownloadFailed),
        # Installing, then Installed (after the reboot) or InstallationFailed. A new request
        # replaces the update in progress.
        self.maintenance.update_firmware(
            FirmwareUpdate(
                location=request.location,
                retrieve_at=request.retrieve_date,
                retries=nonnegative(request.retries),
                retry_interval=nonnegative(request.retry_interval),
            )
        )

    # -- what the station sends --------------------------------------------------------------

    async def _trigger(self, message: str, connector_id: Any, extended: bool) -> None:
        """Send a message a TriggerMessage.req / ExtendedTriggerMessage.req asked for (C16 5.17;
        SW 5.5). Allowed while Pending (C16 4.2)."""
        cid = None if connector_id is UNSET else int(connector_id)
        online = self._live()
        try:
            if message == "BootNotification":
                if online is not None:
                    online.boot_now.set()
            elif message == "Heartbeat":
                await self._call(v16.HeartbeatRequest(), triggered=True)
            elif message == "StatusNotification":
                # C16 5.17: without a connector id, the Charge Point and each connector.
                targets = self._connectors if cid is None else [self._connectors[cid]]
                for c in targets:
                    self._recompute(c)
                    await self._send_status(c, triggered=True)
            elif message == "MeterValues":
                targets = self._connectors[1:] if cid is None else [self._connectors[cid]]
                for c in targets:
                    await self._send_meter_values(c, _Context.Trigger, triggered=True)
            elif message == "DiagnosticsStatusNotification":
                # C16 4.4: Uploading while a diagnostics upload runs, else Idle.
                upload = self.maintenance.uploading()
                uploading = upload is not None and upload.kind == "Diagnostics"
                await self._call(
                    v16.DiagnosticsStatusNotificationRequest(
                        status=v16.DiagnosticsStatus.Uploading
                        if uploading
                        else v16.DiagnosticsStatus.Idle
                    ),
                    triggered=True,
                )
            elif message == "FirmwareStatusNotification" and not extended:
                # C16 4.5: the status of the update in progress; Idle when there is none.
                # A signed update's SW statuses the C16 enumeration lacks: the nearest one.
                status, _ = self.maintenance.firmware_in_progress()
                status = _C16_FIRMWARE_STATUS.get(status, status)
                await self._call(
                    v16.FirmwareStatusNotificationRequest(status=v16.FirmwareStatus(status)),
                    triggered=True,
                )
            elif message == "FirmwareStatusNotification":
                # SW L01.FR.28/29: the last status sent with its requestId; Idle when none was
                # or it was Installed.
                last = self.maintenance.reporter.last_signed_status  # type: ignore[attr-defined]
                if last is None or last[0] == "Installed":
                    signed = v16.SignedFirmwareStatusNotificationRequest(
                        status=v16.FirmwareStatusEnum.Idle
                    )
                else:
                    signed = v16.SignedFirmwareStatusNotificationRequest(
                        status=v16.FirmwareStatusEnum(last[0]), request_id=last[1]
                    )
                await self._call(signed, triggered=True)
            elif message == "LogStatusNotification":
                # SW N01.FR.12: Uploading with the requestId while a GetLog upload runs, else
                # Idle without requestId.
                upload = self.maintenance.uploading()
                if upload is not None and upload.request_id is not None:
                    log_status = v16.LogStatusNotificationRequest(
                        status=v16.UploadLogStatusEnum.Uploading, request_id=upload.request_id
                    )
                else:
                    log_status = v16.LogStatusNotificationRequest(
                        status=v16.UploadLogStatusEnum.Idle
                    )
                await self._call(log_status, triggered=True)
            elif message == "SignChargePointCertificate":
                self._renew_certificate("ExtendedTriggerMessage")
        except (StationError, SessionClosedError):
            pass
        except (CallTimeoutError, OCPPError) as error:
            self.log.warning("%s: triggered %s failed: %s", self.name, message, error)

    async def _send_status(
        self,
        c: _Connector,
        *,
        triggered: bool = False,
        error_code: v16.ChargePointErrorCode = v16.ChargePointErrorCode.NoError,
    ) -> None:
        """StatusNotification.req with the connector's current status (C16 4.9)."""
        status = c.status if c.status is not None else self._status_of(c)
        info = c.info
        if error_code == v16.ChargePointErrorCode.NoError:
            error_code, problem = self._hardware_error(c)
            info = problem[:50] if problem else info  # CiString50Type (C16 6.47)
        request = v16.StatusNotificationRequest(
            connector_id=c.id,
            error_code=error_code,
            status=status,
            timestamp=self._now(),
            info=info or UNSET,
        )
        with contextlib.suppress(StationError, SessionClosedError):
            try:
                await self._call(request, triggered=triggered)
            except (CallTimeoutError, OCPPError) as error:
                self.log.warning("%s: StatusNotification failed: %s", self.name, error)

    def _meter_values(
        self, c: _Connector, context: v16.ReadingContext, transaction_id: int | UnsetType
    ) -> v16.MeterValuesRequest | None:
        """MeterValues.req for one connector (C16 4.7), None when no measurand is configured;
        connector 0 reads the main meter. Clock-aligned ones carry the MeterValuesAlignedData
        measurands, the others (a triggered one too, C16E 3.46) MeterValuesSampledData."""
        now = self._now()
        for x in self._connectors[1:]:
            self._meter(x, now)
        key = (
            "MeterValuesAlignedData"
            if context == _Context.Sample_Clock
            else "MeterValuesSampledData"
        )
        values = self._sample(c, self._csl(key), context)
        if not values:
            return None
        return v16.MeterValuesRequest(
            connector_id=c.id,
            transaction_id=transaction_id,
            meter_value=[v16.MeterValue(timestamp=now, sampled_value=values)],
        )

    async def _send_meter_values(
        self, c: _Connector, context: v16.ReadingContext, *, triggered: bool = False
    ) -> None:
        """MeterValues.req sent now, not queued: a triggered one, or a clock-aligned one of a
        connector without a transaction (neither is transaction-related, C16 3.7)."""
        tx = c.transaction
        # C16E 3.16: the transaction ongoing on that connector (once its id is known).
        tid = tx.transaction_id if tx is not None and tx.transaction_id is not None else UNSET
        request = self._meter_values(c, context, tid)
        if request is None:
            return
        try:
            await self._call(request, triggered=triggered)
        except (StationError, SessionClosedError):
            pass
        except (CallTimeoutError, OCPPError) as error:
            self.log.warning("%s: MeterValues failed: %s", self.name, error)

    def _queue_meter_values(self, c: _Connector, context: v16.ReadingContext) -> Queued | None:
        """Queue the MeterValues.req of the transaction on `c` (transaction-related, C16 3.7;
        shed before any start or stop when the queue is full)."""
        tx = c.transaction
        if tx is None:
            return None
        tid, pending = self._reference(tx)
        request = self._meter_values(c, context, tid)
        if request is None:
            return None
        return self._enqueue(request, SHED_LATER, pending)

    async def _heartbeat(self) -> None:
        """Heartbeat.req every HeartbeatInterval seconds (C16 4.6); 0 sends none."""
        while (interval := self.heartbeat_interval) > 0:
            await asyncio.sleep(interval)
            try:
                await self._call(v16.HeartbeatRequest())
            except (StationError, SessionClosedError):
                return
            except (CallTimeoutError, OCPPError) as error:
                self.log.warning("%s: Heartbeat failed: %s", self.name, error)

    async def _sample_periodically(self, c: _Connector) -> None:
        """Every MeterValueSampleInterval seconds from the start of the transaction, online or
        not: `_sample_periodic`; 0 turns it off (C16 3.16.1, 9.1.19; C16E 3.15)."""
        while (interval := self._int("MeterValueSampleInterval")) > 0:
            await asyncio.sleep(interval)
            if c.transaction is None:
                return
            self._sample_periodic(c)

    def _sample_periodic(self, c: _Connector) -> Queued | None:
        """One periodic sample of the transaction on `c`: kept for StopTransaction.req's
        transactionData (StopTxnSampledData) and queued as MeterValues.req
        (MeterValuesSampledData); the register read is kept so that a power cut loses nothing
        before it. Returns the queued message (None when nothing is configured or it was shed)."""
        self._record(c, "StopTxnSampledData", _Context.Sample_Periodic)
        item = self._queue_meter_values(c, _Context.Sample_Periodic)
        self._save(c)
        return item

    async def _sample_clock_aligned(self) -> None:
        """Clock-aligned meter values every ClockAlignedDataInterval seconds from midnight
        (C16 3.16.2, 9.1.5; C16E 3.15), for every connector: queued for a connector with a
        transaction (transaction-related, also offline), sent now for the others (when
        online)."""
        boundary: datetime | None = None
        while (interval := self._int("ClockAlignedDataInterval")) > 0:
            now = self._now()
            ahead = (boundary - now).total_seconds() if boundary is not None else -1.0
            # Step from boundary to boundary, so that a timer firing a little early never sends
            # one boundary twice; start again from the clock when it jumped.
            if boundary is None or not 0 <= ahead <= 2 * interval:
                midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
                elapsed = (now - midnight).total_seconds()
                boundary = midnight + timedelta(seconds=(elapsed // interval + 1) * interval)
                ahead = (boundary - now).total_seconds()
            await asyncio.sleep(ahead)
            boundary += timedelta(seconds=interval)
            for c in self._connectors[1:]:
                if c.transaction is not None:
                    self._record(c, "StopTxnAlignedData", _Context.Sample_Clock)
                    self._queue_meter_values(c, _Context.Sample_Clock)
                    self._save(c)
                elif self._may_send():
                    await self._send_meter_values(c, _Context.Sample_Clock)

    async def _start(self, c: _Connector, id_tag: str, *, authorize: bool) -> str:
        """The rest of a start once the connector is claimed: authorize, plug, start, queue
        StartTransaction.req (C16 4.8, 3.7) and, online, wait for its answer."""
        try:
            if authorize and not await self.authorize(id_tag):
                raise StationError(f"id tag {id_tag} was not authorized")
            reservation = await self._reservation_for(c, id_tag)  # C16 5.13
        except BaseException:
            c.starting = False  # the caller reports the status this leaves
            raise
        if not c.plugged:
            c.plugged = True  # the simulated EV plugs in (C16 4.9 A2 / B3)
            c.ev_disconnected = False
        self._disarm_connection_timeout(c)
        now = self._now()
        self._meter(c, now)
        meter_start = round(c.meter_wh)
        item = self._enqueue(
            v16.StartTransactionRequest(
                connector_id=c.id,
                id_tag=id_tag,
                meter_start=meter_start,
                timestamp=now,
                # C16 4.8: "If this transaction ends a reservation ... MUST contain the
                # reservationId".
                reservation_id=UNSET if reservation is None else reservation.id,
            ),
            NEVER_SHED,
        )
        tx = Transaction(
            connector_id=c.id,
            transaction_id=None,
            id_token=id_tag,
            meter_start=meter_start,
            started_at=now,
            _meter=lambda: self._register(c),
            _start_seq=item.seq if item is not None else None,
        )
        c.transaction = tx
        c.starting = False
        c.finishing = False
        c.locked = True
        c.metered_at = now
        self.log.info(
            "%s: transaction started on connector %d (id tag %s, meter start %d Wh)",
            self.name,
            c.id,
            id_tag,
            meter_start,
        )
        self._record(c, "", _Context.Transaction_Begin)
        self._save(c)
        self._limits.refresh()  # Relative profiles start now (C16 7.9)
        self._restart_meter(c)
        self._ensure_aligned()
        # The answer (`_started`) gives the id, and may stop the transaction at once.
        await self._answer_to(item)
        await self._update(c)
        return tx.id

    def _end_transaction(
        self, c: _Connector, reason: v16.Reason, *, lost_at: datetime | None = None
    ) -> Queued | None:
        """End the transaction on `c` here and now and queue its StopTransaction.req (C16
        4.10, 3.7); return the queued message. `lost_at`: the station lost power (C16 7.36
        PowerLoss) and this is the time of the last reading kept before: meterStop is the
        register then, and no new reading is taken."""
        tx = c.transaction
        assert tx is not None
        if lost_at is None:
            now = self._now()
            self._meter(c, now)
            self._record(c, "", _Context.Transaction_End)
        else:
            now = lost_at
        meter_stop = round(c.meter_wh)
        transaction_id, pending = self._reference(tx)
        request = v16.StopTransactionRequest(
            transaction_id=transaction_id,
            meter_stop=meter_stop,
            timestamp=now,
            reason=reason,
            # C16 4.10: the id tag that stopped it; absent when the station stops it itself.
            id_tag=tx.id_token if reason == v16.Reason.Local else UNSET,
            # C16 3.16.5: no transactionData when StopTxnSampledData and StopTxnAlignedData
            # are both empty.
            transaction_data=list(tx.transaction_data) if tx.transaction_data else UNSET,
        )
        c.transaction = None
        c.evse_suspended = False
        c.ev_disconnected = False
        c.info = ""
        c.finishing = c.plugged
        c.locked = False  # C16 4.10: a normal termination unlocks the cable
        if c.timeout is not None:
            c.timeout.cancel()
            c.timeout = None
        task = self._meters.pop(c.id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        # C16 5.2: a scheduled availability change happens once the transaction has finished.
        if c.scheduled is not None:
            c.operative, c.scheduled = c.scheduled, None
        zero = self._connectors[0]
        if zero.scheduled is not None and not self.transactions:
            zero.operative, zero.scheduled = zero.scheduled, None
            self._save(zero)
        # The stop joins the queue in the same commit as the record that no longer holds the
        # transaction: whatever happens next, it is ended exactly once.
        item = self._enqueue(request, NEVER_SHED, pending)
        self._save(c)
        # C16 3.13.1: the transaction's TxProfiles go with it.
        self._profiles.end_transaction(c.id)
        self._limits.refresh()
        self.log.info(
            "%s: transaction %s stopped on connector %d (%s, %.0f Wh delivered, meter stop %d Wh)",
            self.name,
            _shown(tx),
            c.id,
            reason.value,
            meter_stop - tx.meter_start,
            meter_stop,
        )
        return item

    async def _call(self, request: Any, *, triggered: bool = False) -> Any:
        """Send a CALL on the live connection and return its response.

        Until BootNotification is accepted nothing else is sent, except what a TriggerMessage
        asked for while Pending (C16 4.2). Raises `StationError` when that forbids it or no
        connection is live."""
        connection = self._connection()
        if connection is None:
            raise StationError(f"offline: cannot send {type(request).ACTION}")
        if (
            self.registration != v16.RegistrationStatus.Accepted
            and not isinstance(request, v16.BootNotificationRequest)
            and not (triggered and self.registration != v16.RegistrationStatus.Rejected)
        ):
            raise StationError(
                f"cannot send {type(request).ACTION}: the Central System has not accepted the "
                "BootNotification (C16 4.2)"
            )
        # Nothing awaits between the checks above and the session queueing the CALL, so CALLs
        # leave in the order in which they were decided.
        return await connection.call(request, timeout=float(self._int("MessageTimeout")))

    async def _update(self, *connectors: _Connector) -> None:
        """Recompute the connectors' status; report each change (C16 4.9, C16E 3.19)."""
        for c in connectors:
            if self._recompute(c) and self._may_send():
                await self._send_status(c)

    def _recompute(self, c: _Connector) -> bool:
        status = self._status_of(c)
        if status == c.status:
            return False
        if c.status is None:
            self.log.info("%s: connector %d is %s", self.name, c.id, status.value)
        else:
            self.log.info(
                "%s: connector %d %s -> %s", self.name, c.id, c.status.value, status.value
            )
        c.status = status
        if c.id:
            self._link.drive(c.id, energy=status == _Status.Charging, indicator=_INDICATOR[status])
        return True

    def _status_of(self, c: _Connector) -> v16.ChargePointStatus:
        """The status that follows from a connector's state (C16 4.9, 7.7)."""
        zero = self._connectors[0]
        if c.id == 0:
            if self._link.emergency_stop or any(
                self._link.fault(None, component) for component in BLOCKING
            ):
                return _Status.Faulted
            return _Status.Available if zero.operative else _Status.Unavailable
        if self._link.blocked(c.id):
            return _Status.Faulted  # its transaction was ended (`hardware_fault`)
        if c.transaction is not None:
            # A charging limit of 0 offers no energy either (C16 3.13, 4.9).
            if c.evse_suspended or self._allowed_w.get(c.id, math.inf) <= 0:
                return _Status.SuspendedEVSE  # has precedence over SuspendedEV (C16 4.9)
            if c.ev_disconnected or not c.plugged:
                return _Status.SuspendedEV
            return _Status.Charging
        if not (c.operative and zero.operative) or self._firmware_closed:
            return _Status.Unavailable
        if c.finishing:
            return _Status.Finishing
        if c.starting:
            return _Status.Preparing  # G2: "Reservation identity is presented"
        if self._reserved_here(c):
            return _Status.Reserved  # A7; an EV plugged in meanwhile leaves it Reserved
        if c.plugged:
            return _Status.Preparing
        return _Status.Available

    # -- the station's certificate (SW A02, A03) -----------------------------------------------

    def _tls_prerequisites(self, profile: int) -> str:
        """Why security `profile` cannot be used now (SW A05.FR.03/04), or ""."""
        now = self._now()
        if profile >= 2 and not any(
            c.not_valid_before_utc <= now <= c.not_valid_after_utc
            for c in self.certificates.roots("CSMSRootCertificate")
        ):
            return (
                f"security profile {profile} needs a valid CentralSystemRootCertificate (A05.FR.03)"
            )
        own = self.certificates.certificate
        if profile == 3 and (
            own is None or not own.not_valid_before_utc <= now <= own.not_valid_after_utc
        ):
            return "security profile 3 needs a valid ChargePointCertificate (A05.FR.04)"
        return ""

    def _profile_fell_back(self, previous: int) -> None:
        """SW A05.FR.08: the new profile did not connect: the previous one again, with its
        password."""
        self._set_key(self._keys["securityprofile"], str(previous))
        if self.password_changed is not None:
            in_use = previous in (1, 2)
            self.password_changed(self.authorization_key if in_use else None)

    async def _renew_when_booted(self) -> None:
        await self.booted.wait()
        self._renew_certificate("it expires within a month (A03.FR.02)")

    def _renew_certificate(self, why: str) -> None:
        """A new key pair and CSR, sent with SignCertificate.req (SW A02.FR.02/03, A03.FR.02/03;
        O = CpoName: A02.FR.13). The whitepaper has no CertSigningWaitMinimum for 1.6: it is
        sent once; the Central System triggers it again if it wants."""
        self.log.info("%s: renewing its certificate (%s)", self.name, why)

        async def send(csr: str) -> bool | None:
            try:
                response = await self._call(v16.SignCertificateRequest(csr=csr), triggered=True)
            except (StationError, SessionClosedError, CallTimeoutError, OCPPError) as error:
                self.log.warning("%s: SignCertificate.req failed: %s", self.name, error)
                return None
            return bool(response.status == v16.GenericStatusEnum.Accepted)

        organization = self.certificates.organization(
            self._keys["cponame"].value or "", self.config.vendor
        )
        self.certificates.renew(organization, send)

    # -- security events (SW 8, A04) ----------------------------------------------------------

    def _security_event(self, kind: str, info: str = "") -> None:
        """A security event (SW 8): into the security log a GetLog SecurityLog uploads (A04.FR.04,
        N01.FR.05); one of `_PUSHED_EVENTS` also to the Central System (A04.FR.01), "queued with
        a guaranteed delivery" (A04.FR.02): kept in `data` (state `_PENDING_EVENTS`) until the
        Central System answered it, so an outage or a restart loses none, and never shed.
        Not in C16 3.7's queue: that one holds the transaction-related messages, ordered,
        retried and given up by the TransactionMessage* keys (C16 3.7.1): rules for
        transactions, not for a security event."""
        now = self._now()
        self.log.info("%s: security event %s: %s", self.name, kind, info)
        self.security_log.append((now, kind, info))
        if kind not in _PUSHED_EVENTS:
            return
        request = v16.SecurityEventNotificationRequest(
            type=kind, timestamp=now, tech_info=info[:255] or UNSET
        )
        self._events_pending.append(msgspec.to_builtins(request))
        self._save_events()
        self._events_changed.set()

    def _save_events(self) -> None:
        pending = list(self._events_pending)
        self._events_stored = self._wrote(self.data.set_state(_PENDING_EVENTS, pending or None))

    async def _deliver_events(self, online: _Online) -> None:
        """Send the pending security events, oldest first, each once it is on disk; one is
        forgotten once answered. No answer in time or a CALLERROR: sent again MessageTimeout
        seconds later, at most `_EVENT_ATTEMPTS` times (then given up, logged); a lost
        connection is no attempt: it waits for the next one."""
        attempts = 0
        while self._serves(online):
            if not self._events_pending:
                self._events_changed.clear()
                await self._events_changed.wait()
                continue
            payload = self._events_pending[0]
            stored = self._events_stored
            if stored is not None:
                with contextlib.suppress(StorageError):
                    await stored  # a failed write is logged by the store; the event is sent
            try:
                request = msgspec.convert(payload, v16.SecurityEventNotificationRequest)
            except (msgspec.ValidationError, TypeError, ValueError) as error:
                self.log.error("%s: stored security event dropped: %s", self.name, error)
                self._forget_event(payload)
                continue
            try:
                await self._call(request)
            except (SessionClosedError, StationError):
                return
            except (CallTimeoutError, OCPPError) as error:
                attempts += 1
                if attempts >= _EVENT_ATTEMPTS:
                    self.log.error(
                        "%s: security event %s given up after %d attempts: %s",
                        self.name,
                        request.type,
                        attempts,
                        error,
                    )
                    self._forget_event(payload)
                    attempts = 0
                    continue
                self.log.warning(
                    "%s: security event %s failed (%s); again in %d s",
                    self.name,
                    request.type,
                    error,
                    self._int("MessageTimeout"),
                )
                await asyncio.sleep(self._int("MessageTimeout"))
                continue
            attempts = 0
            self._forget_event(payload)

    def _forget_event(self, payload: Any) -> None:
        if self._events_pending and self._events_pending[0] is payload:
            self._events_pending.pop(0)
            self._save_events()

    # -- the queue of transaction-related messages (C16 3.7, 3.7.1; C16E 3.18) --------------

    def _enqueue(self, request: Any, shed: int, pending_start: int | None = None) -> Queued | None:
        """Append a transaction-related message to the queue (on disk with the next commit)
        and wake its sender. `pending_start`: the message belongs to a transaction whose
        StartTransaction.req (queued as that seq) has not been answered: it carries the
        placeholder of that id. Returns the queued message, None when the full queue shed it."""
        payload = msgspec.to_builtins(request)
        if pending_start is not None:
            payload["transactionId"] = _placeholder(pending_start)
        action = type(request).ACTION
        item, shed_now = self.data.push(action, msgspec.json.encode(payload).decode(), shed)
        for lost in shed_now:
            # Only samples go (SHED_LATER), never a start or a stop (store.py).
            self.log.warning(
                "%s: transaction message queue full (%d messages): dropped %s %s of transaction %s",
                self.name,
                self.data.queue_limit,
                lost.action,
                f"#{lost.seq}" if lost.seq else "(the new one)",
                _transaction_of(lost),
            )
        if item is None:
            return None
        if item.stored is not None:
            self._wrote(item.stored)
        self._queue_idle.clear()
        self._queue_changed.set()
        return item

    async def _deliver_queue(self, online: _Online) -> None:
        """Deliver the queue in the order the messages happened, one at a time, each once it is
        on disk (C16 3.7). One the Central System fails to process (a CALLERROR, no answer
        within MessageTimeout) is sent again, TransactionMessageRetryInterval times the
        transmissions so far later, until TransactionMessageAttempts transmissions failed; then
        it is given up (C16 3.7.1). A lost connection is no failure: the message stays queued
        for the next connection."""
        while self._serves(online):
            queue = self.data.queue
            if not queue:
                self._queue_idle.set()
                self._queue_changed.clear()
                await self._queue_changed.wait()
                continue
            item = queue[0]
            await self._on_disk(item)
            request = self._request_of(item)
            if request is None or not self._serves(online) or item not in self.data.queue:
                continue
            try:
                response = await self._call(request)
            except (SessionClosedError, StationError):
                return
            except OutgoingMessageError as error:
                self._discard(item, f"it breaks its schema: {error.__cause__ or error}")
                continue
            except (CallTimeoutError, OCPPError) as error:
                await self._failed(item, error)
                continue
            self._delivered(item, request, response)

    async def _on_disk(self, item: Queued) -> None:
        """Wait until `item` is on disk: a message counts as sent only once it is."""
        while item.stored is not None:
            try:
                await item.stored
                return
            except StorageError as error:
                self.log.error(
                    "%s: %s #%d could not be written (%s); not sent until it is, retrying in %g s",
                    self.name,
                    item.action,
                    item.seq,
                    error,
                    STORAGE_RETRY,
                )
                await asyncio.sleep(STORAGE_RETRY)
                item.stored = asyncio.ensure_future(self.data.flush())

    def _request_of(self, item: Queued) -> Any:
        """The typed request of a queued message, or None after giving up one that cannot be
        read back."""
        cls = v16.REQUESTS.get(item.action)
        try:
            if cls is None:
                raise ValueError(f"{item.action} is no OCPP 1.6 request")
            payload = item.decoded()
            if isinstance(payload.get("transactionId"), str):
                # A placeholder whose StartTransaction.req left the queue without giving an
                # id: as for one given up, the transaction is -1 (C16E 3.18).
                self.log.error(
                    "%s: %s #%d still waits for the id of a StartTransaction that is no longer"
                    " queued: sent with transactionId -1 (C16E 3.18)",
                    self.name,
                    item.action,
                    item.seq,
                )
                payload["transactionId"] = -1
                item.payload = msgspec.json.encode(payload).decode()
                self._wrote(self.data.update(item))
            return msgspec.convert(payload, cls)
        except (ValueError, TypeError, AttributeError) as error:
            self._discard(item, f"it cannot be read back: {error}")
            return None

    async def _failed(self, item: Queued, error: Exception) -> None:
        """The Central System failed to process `item` (C16 3.7.1, J16E 3.2)."""
        item.attempts += 1
        attempts = self._int("TransactionMessageAttempts")
        if item.attempts >= attempts:
            self._discard(item, f"not processed after {item.attempts} attempt(s): {error}")
            return
        self._wrote(self.data.update(item))
        wait = self._int("TransactionMessageRetryInterval") * item.attempts
        self.log.warning(
            "%s: %s #%d failed (%s); attempt %d of %d in %d s",
            self.name,
            item.action,
            item.seq,
            error,
            item.attempts + 1,
            attempts,
            wait,
        )
        await asyncio.sleep(wait)

    def _discard(self, item: Queued, why: str) -> None:
        """Give a queued message up (C16 3.7.1: "discard the message and continue with the
        next transaction-related message")."""
        self._wrote(self.data.remove(item))
        self.log.error(
            "%s: %s #%d of transaction %s discarded: %s",
            self.name,
            item.action,
            item.seq,
            _transaction_of(item),
            why,
        )
        if item.action == "StartTransaction":
            # C16E 3.18: no transactionId will come: the transaction's messages carry -1.
            self._resolve_start(item.seq, -1)
        self._answered(item)

    def _delivered(self, item: Queued, request: Any, response: Any) -> None:
        """The Central System answered a queued message: it leaves the queue, and what the
        answer says is taken in, in the same commit."""
        self._wrote(self.data.remove(item))
        if isinstance(request, v16.StartTransactionRequest):
            self._started(item.seq, request, response)
        elif (
            isinstance(request, v16.StopTransactionRequest)
            and response.id_tag_info is not UNSET
            and request.id_tag is not UNSET
        ):
            # C16 4.10: the idTagInfo of the id tag that stopped it updates the cache.
            self._authorization_answer(request.id_tag, response.id_tag_info)
        self._answered(item)

    def _started(
        self, seq: int, request: v16.StartTransactionRequest, response: v16.StartTransactionResponse
    ) -> None:
        """StartTransaction.conf: the transaction's id and its id tag's authorization (C16 4.8);
        for a transaction still running whose id tag is not accepted, StopTransactionOnInvalidId
        decides (C16E 3.17, C16 3.5.4)."""
        info = response.id_tag_info
        c = self._resolve_start(seq, response.transaction_id)
        self._authorization_answer(request.id_tag, info)
        tx = c.transaction if c is not None else None
        if c is None or tx is None:
            return  # it already ended; its queued messages now carry the id
        tx.authorization = info.status.value
        tx.parent_id_tag = info.parent_id_tag if info.parent_id_tag is not UNSET else None
        self.log.info(
            "%s: connector %d: the Central System gave transaction id %s (id tag %s %s)",
            self.name,
            c.id,
            tx.id,
            request.id_tag,
            info.status.value,
        )
        if info.status == _ACCEPTED:
            return
        if self._bool("StopTransactionOnInvalidId"):
            self.log.warning(
                "%s: id tag %s is %s: stopping transaction %s",
                self.name,
                request.id_tag,
                info.status.value,
                tx.id,
            )
            self._end_transaction(c, v16.Reason.DeAuthorized)
            c.locked = True  # kept locked until the owner presents the id tag (C16E 3.5)
        else:
            self.log.warning(
                "%s: id tag %s is %s: no energy offered in transaction %s",
                self.name,
                request.id_tag,
                info.status.value,
                tx.id,
            )
            self._meter(c, self._now())
            c.evse_suspended = True
        self._in_background(self._update(*self._connectors), "status after StartTransaction")

    def _resolve_start(self, seq: int, transaction_id: int) -> _Connector | None:
        """The StartTransaction.req queued as `seq` got `transaction_id` (-1: given up): write
        it in every queued message that waited for it and in its transaction, if it still runs
        (returning its connector)."""
        marker = f'"{_placeholder(seq)}"'
        for queued in self.data.queue:
            if marker in queued.payload:
                payload = queued.decoded()
                payload["transactionId"] = transaction_id
                queued.payload = msgspec.json.encode(payload).decode()
                self._wrote(self.data.update(queued))
        for c in self._connectors[1:]:
            tx = c.transaction
            if tx is not None and tx._start_seq == seq:
                tx.transaction_id, tx._start_seq = transaction_id, None
                self._save(c)
                return c
        return None

    def _reference(self, tx: Transaction) -> tuple[int, int | None]:
        """(transactionId, pending StartTransaction seq) for a message of `tx`: its id, or -1
        with the seq whose placeholder the message carries until the id comes."""
        if tx.transaction_id is not None:
            return tx.transaction_id, None
        return -1, tx._start_seq

    def _answered(self, item: Queued) -> None:
        future = self._answers.pop(item.seq, None)
        if future is not None and not future.done():
            future.set_result(None)

    async def _answer_to(self, item: Queued | None) -> None:
        """Online, wait until the Central System has answered queued `item` (or it was given
        up), or the connection ends; offline, return at once: it is delivered later."""
        if item is None or item not in self.data.queue or not self._may_send():
            return
        future = self._answers.get(item.seq)
        if future is None:
            future = self._answers[item.seq] = asyncio.get_running_loop().create_future()
        await self._while_connected(future)

    async def _deliver_before_closing(self) -> None:
        """Before the station closes the connection (Reset, shutdown), give the queue
        MessageTimeout seconds to be delivered; what is left is delivered after the restart."""
        if not self.data.queue or not self._may_send():
            return
        idle = asyncio.ensure_future(self._queue_idle.wait())
        try:
            await self._while_connected(idle, float(self._int("MessageTimeout")))
        finally:
            idle.cancel()

    async def _while_connected(
        self, waited: asyncio.Future[Any], timeout: float | None = None
    ) -> None:
        """Wait for `waited` while the live connection lasts (at most `timeout` seconds)."""
        connection = self._connection()
        if connection is None or waited.done():
            return
        closing = asyncio.ensure_future(connection.wait_closed())
        try:
            await asyncio.wait(
                (waited, closing), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            closing.cancel()

    def _serves(self, online: _Online) -> bool:
        """Whether `online` is the live, accepted connection (a sender of an older one stops)."""
        return (
            not online.connection.closed
            and online.connection is self._connection()
            and self._booted_here()
        )

    # -- metering ----------------------------------------------------------------------------

    def _meter(self, c: _Connector, now: datetime) -> None:
        """Advance the connector's energy register to `now`: the hardware meter's register
        when the connector has one, else the simulated EV's energy."""
        reading = self._link.reading(c.id) if c.id else None
        if reading is not None and reading.energy_wh is not None:
            c.meter_wh = reading.energy_wh
        elif c.metered_at is not None and self._status_of(c) == _Status.Charging:
            # A clock that steps back delivers nothing rather than negative energy.
            seconds = max(0.0, (now - c.metered_at).total_seconds())
            c.meter_wh += self._ev_power(c) * seconds / 3600.0
        c.metered_at = now

    def _register(self, c: _Connector) -> float:
        """The connector's energy register now, in Wh."""
        self._meter(c, self._now())
        return c.meter_wh

    def _power(self, c: _Connector) -> tuple[float, float]:
        """(power drawn, power offered) on a connector, in W."""
        status = self._status_of(c)
        drawn = self._ev_power(c) if status == _Status.Charging else 0.0
        reading = self._link.reading(c.id) if c.id else None
        if reading is not None and reading.power_w is not None:
            drawn = reading.power_w  # what the meter measures, whatever the status
        offered = self._ev_power(c) if c.transaction is not None and not c.evse_suspended else 0.0
        return drawn, offered

    def _ev_power(self, c: _Connector) -> float:
        """What the simulated EV draws while charging: its power, at most what the charging
        limit in force allows (C16 3.13)."""
        return min(self.config.power_w, self._allowed_w.get(c.id, math.inf))

    def _tx_start(self, connector_id: int) -> datetime | None:
        tx = self._connectors[connector_id].transaction
        return None if tx is None else tx.started_at

    def _apply_limit(self, connector_id: int, limit: Limit | None) -> None:
        """Carry out the charging limit in force on a connector (`LimitKeeper`): tell the
        hardware, and let the EV draw at most that much from now on. A limit of 0, or below
        the schedule's minChargingRate, suspends charging: SuspendedEVSE (C16 4.9, 7.7)."""
        c = self._connectors[connector_id]
        self._link.current_limit(connector_id, None if limit is None else limit.value)
        if limit is None:
            watts = math.inf
        elif limit.min_rate is not None and limit.value < limit.min_rate:
            watts = 0.0
        else:
            watts = limit.value * NOMINAL_VOLTAGE * (limit.number_phases or PHASES)
        if watts == self._allowed_w.get(connector_id, math.inf):
            # Nothing changes for the EV. (Nor is the register read: a transaction the station
            # lost power in keeps the reading it was stored with, C16 7.36.)
            return
        self._meter(c, self._now())  # the energy so far, at the power drawn so far
        self._allowed_w[connector_id] = watts
        if self._may_send():
            self._in_background(self._update(c), "status after a charging limit")
        else:
            self._recompute(c)

    def _remote_profile_refusal(self, c: _Connector, wire: v16.ChargingProfile) -> str:
        """Why the chargingProfile of a RemoteStartTransaction.req cannot be used ("": it can)."""
        # C16 5.16.2: purpose TxProfile, and no transactionId (the transaction has none yet).
        if wire.charging_profile_purpose != v16.ChargingProfilePurposeType.TxProfile:
            return f"charging profile purpose {wire.charging_profile_purpose.value}, not TxProfile"
        if wire.transaction_id is not UNSET:
            return "the charging profile of a remote start carries no transactionId (C16 5.16.2)"
        try:
            profile = from_v16(wire)
        except ValueError as error:
            return f"charging profile {wire.charging_profile_id}: {error}"
        _, why = self._profiles.refusal(
            c.id, profile, SMART_CHARGING, evses=self.connectors, transaction=""
        )
        return why

    def _sample(
        self, c: _Connector, items: list[str], context: v16.ReadingContext
    ) -> list[v16.SampledValue]:
        """The sampled values of `items` (measurands, optionally with a phase) on connector
        `c`; connector 0 reads the main meter, the sum of the connectors (C16 4.7)."""
        parts = self._connectors[1:] if c.id == 0 else [c]
        energy = sum(x.meter_wh for x in parts)
        drawn = sum(self._power(x)[0] for x in parts)
        offered = sum(self._power(x)[1] for x in parts)
        measured = self._link.reading(c.id) if c.id else None
        values: list[v16.SampledValue] = []
        for item in items:
            name, phase = _parse_measurand(item)
            measurand = MEASURANDS[name]
            phases: tuple[v16.Phase | None, ...] = (
                (phase,) if phase is not None else (measurand.phases or (None,))
            )
            for p in phases:
                values.append(
                    v16.SampledValue(
                        value=_measured(name, p, measured)
                        or self._reading(name, p, energy, drawn, offered),
                        context=context,
                        measurand=v16.Measurand(name),
                        phase=p if p is not None else UNSET,
                        location=v16.Location.Outlet,
                        unit=measurand.unit,
                    )
                )
        return values

    @staticmethod
    def _reading(
        name: str, phase: v16.Phase | None, energy: float, drawn: float, offered: float
    ) -> str:
        share = 1 / PHASES if phase is not None else 1.0
        if name == "Energy.Active.Import.Register":
            return str(round(energy))
        if name == "Power.Active.Import":
            return f"{drawn * share:.0f}"
        if name == "Power.Offered":
            return f"{offered:.0f}"
        if name == "Current.Import":
            return f"{drawn / (PHASES * NOMINAL_VOLTAGE):.1f}"
        if name == "Current.Offered":
            return f"{offered / (PHASES * NOMINAL_VOLTAGE):.1f}"
        # Voltage: phase-to-neutral, or phase-to-phase for L1-L2, L2-L3, L3-L1.
        return f"{_LINE_VOLTAGE if phase in _LL else NOMINAL_VOLTAGE:.1f}"

    def _record(self, c: _Connector, key: str, context: v16.ReadingContext) -> None:
        """Keep a sample for StopTransaction.req's transactionData (C16 3.16). Begin and end
        samples (empty `key`) carry every measurand configured for it (C16E 3.14, 3.16.6); past
        StopTransactionMaxMeterValues, every second intermediate sample is dropped, never the
        first or the last (C16E 3.89)."""
        tx = c.transaction
        if tx is None:
            return
        if key:
            items = self._csl(key)
        else:
            items = list(
                dict.fromkeys(self._csl("StopTxnSampledData") + self._csl("StopTxnAlignedData"))
            )
        if not items:
            return
        now = self._now()
        self._meter(c, now)
        values = [
            v16.StopTransactionSampledValue(
                value=v.value,
                context=v.context,
                measurand=v.measurand,
                phase=v.phase,
                location=v.location,
                unit=v16.StopTransactionUnitOfMeasure(v.unit.value)
                if v.unit is not UNSET
                else UNSET,
            )
            for v in self._sample(c, items, context)
        ]
        data = tx.transaction_data
        data.append(v16.StopTransactionMeterValue(timestamp=now, sampled_value=values))
        limit = max(2, self._int("StopTransactionMaxMeterValues"))
        if len(data) > limit:
            del data[1:-1:2]

    # -- authorization: Local Authorization List and cache (C16 3.5) -------------------------

    def _entry(self, id_tag: str) -> tuple[v16.IdTagInfo | None, bool]:
        """What the station knows of an id tag, and whether that comes from the Local
        Authorization List, which has priority over the cache (C16 3.5.3)."""
        key = id_tag.lower()
        if self._bool("LocalAuthListEnabled") and key in self._local:
            return self._local[key], True
        return self._cached(key), False

    def _valid(self, info: v16.IdTagInfo, listed: bool) -> bool:
        """Whether an entry authorizes now: Accepted (ConcurrentTx too in the list, C16 3.5.2)
        and not expired with time (C16 3.5.4)."""
        if info.expiry_date is not UNSET and info.expiry_date <= self._now():
            return False
        return info.status == _ACCEPTED or (
            listed and info.status == v16.AuthorizationStatus.ConcurrentTx
        )

    def _status_now(self, info: v16.IdTagInfo) -> v16.AuthorizationStatus:
        if info.expiry_date is not UNSET and info.expiry_date <= self._now():
            return v16.AuthorizationStatus.Expired
        return info.status

    def _authorize_offline(
        self, id_tag: str, known: v16.IdTagInfo | None, listed: bool, valid: bool
    ) -> bool:
        """C16 3.5, 3.5.4, 9.1.1, 9.1.12: authorization without the Central System."""
        if known is not None and not valid:
            # C16 3.5.4: "Identifiers that are present in a Local Authorization List that have a
            # status other than Accepted (Invalid, Blocked, Expired) MUST be rejected";
            # likewise those "apparently expired due to passage of time" and the cache's.
            self.log.info(
                "%s: id tag %s refused offline: %s in the %s",
                self.name,
                id_tag,
                self._status_now(known).value,
                _where(listed),
            )
            return False
        if valid and self._bool("LocalAuthorizeOffline"):
            self.log.info(
                "%s: id tag %s authorized offline from the %s (LocalAuthorizeOffline)",
                self.name,
                id_tag,
                _where(listed),
            )
            return True
        if self._bool("AllowOfflineTxForUnknownId"):
            self.log.info(
                "%s: id tag %s authorized offline (AllowOfflineTxForUnknownId, C16 3.5.4)",
                self.name,
                id_tag,
            )
            return True
        raise StationError(
            f"offline: cannot authorize {id_tag} ("
            + ("LocalAuthorizeOffline is false" if valid else "unknown id tag")
            + " and AllowOfflineTxForUnknownId is false)"
        )

    def _authorization_answer(self, id_tag: str, info: v16.IdTagInfo) -> None:
        """An IdTagInfo from the Central System (Authorize.conf, StartTransaction.conf,
        StopTransaction.conf): it updates the cache, unless the id tag is in the Local
        Authorization List (C16 4.1, 4.8, 4.10, 3.5.3); there, a different verdict is a conflict
        the Central System is told of (C16 3.5.2)."""
        key = id_tag.lower()
        listed = self._local.get(key) if self._bool("LocalAuthListEnabled") else None
        if listed is None:
            self._remember(key, info)
            return
        mine = self._status_now(listed)
        if mine != info.status:
            self.log.warning(
                "%s: id tag %s is %s in the Local Authorization List but %s for the Central"
                " System: reporting LocalListConflict (C16 3.5.2)",
                self.name,
                id_tag,
                mine.value,
                info.status.value,
            )
            self._in_background(
                self._send_status(
                    self._connectors[0], error_code=v16.ChargePointErrorCode.LocalListConflict
                ),
                "LocalListConflict",
            )

    def _cached(self, key: str) -> v16.IdTagInfo | None:
        if not self._bool("AuthorizationCacheEnabled"):
            return None
        entry = self._cache.get(key)
        if entry is None:
            return None
        age, info = entry
        if info.status == _ACCEPTED and self._status_now(info) != _ACCEPTED:
            # "When the validity of a Cache entry expires, it SHALL be changed to expired".
            info = v16.IdTagInfo(
                status=v16.AuthorizationStatus.Expired,
                expiry_date=info.expiry_date,
                parent_id_tag=info.parent_id_tag,
            )
            self._keep_cached(key, age, info)
        return info

    def _remember(self, key: str, info: v16.IdTagInfo) -> None:
        """Update the cache from a received IdTagInfo (C16 3.5.1); it persists across reboots,
        resets and power outages (C16E 3.4)."""
        if not self._bool("AuthorizationCacheEnabled"):
            return
        self._cache.pop(key, None)
        self._cache_age += 1
        self._keep_cached(key, self._cache_age, info)
        while len(self._cache) > AUTHORIZATION_CACHE_SIZE:
            # C16 3.5.1: make space by removing NOT-valid entries, then the oldest valid ones.
            older = [k for k in self._cache if k != key]
            victim = next((k for k in older if not self._valid(self._cache[k][1], False)), older[0])
            del self._cache[victim]
            self._wrote(self.data.set_token(_CACHE, victim, None))

    def _keep_cached(self, key: str, age: int, info: v16.IdTagInfo) -> None:
        self._cache[key] = (age, info)
        record = {"age": age, "info": msgspec.to_builtins(info)}
        self._wrote(self.data.set_token(_CACHE, key, record))

    def _forget_cache(self) -> None:
        self._cache.clear()
        self._wrote(self.data.clear_tokens(_CACHE))

    def _list_version(self) -> int:
        """C16 5.10: the Local Authorization List's version; 0 when the list is empty."""
        return self._local_version if self._local else 0

    def _update_local_list(self, request: v16.SendLocalListRequest) -> tuple[str, str]:
        """Apply a SendLocalList.req (C16 5.15, 6.41, 7.1, 7.47; C16E 3.52): (status, why not).
        Nothing changes unless the whole update applies. Never NotSupported: this charger has
        the profile, and keeps its list in step with the Central System even while
        LocalAuthListEnabled is false (the list is then only not used)."""
        version = request.list_version
        entries = request.local_authorization_list
        if isinstance(entries, UnsetType):
            entries = []
        if version <= 0:
            return "Failed", f"list version {version}: 0 and -1 have a meaning of their own"
        if len(entries) > self._int("SendLocalListMaxLength"):
            return "Failed", f"{len(entries)} entries, more than SendLocalListMaxLength"
        keys = [entry.id_tag.lower() for entry in entries]
        if len(set(keys)) != len(keys):
            return "Failed", "an id tag is listed twice (C16 6.41: they MUST be unique)"
        full = request.update_type == v16.UpdateType.Full
        if full:
            lacking = next((e.id_tag for e in entries if e.id_tag_info is UNSET), None)
            if lacking is not None:
                return "Failed", f"{lacking} has no idTagInfo, required in a Full update (C16 7.1)"
            updated: dict[str, v16.IdTagInfo] = {}
        else:
            current = self._list_version()
            if version <= current:
                return "VersionMismatch", f"version {version} is not above {current}"
            updated = dict(self._local)
        for key, entry in zip(keys, entries, strict=True):
            if isinstance(entry.id_tag_info, UnsetType):
                updated.pop(key, None)  # C16 7.1: a differential entry without idTagInfo
            else:
                updated[key] = entry.id_tag_info
        limit = self._int("LocalAuthListMaxLength")
        if len(updated) > limit:
            return "Failed", f"the list would hold {len(updated)} id tags, more than {limit}"
        # The list, its version and the answer: one commit (`write_barrier`).
        if full:
            self._wrote(self.data.clear_tokens(_LOCAL))
        for key in keys:
            info = updated.get(key)
            self._wrote(
                self.data.set_token(
                    _LOCAL, key, msgspec.to_builtins(info) if info is not None else None
                )
            )
        self._local = updated
        self._local_version = version
        self._wrote(self.data.set_state(_LIST_VERSION, version))
        return "Accepted", ""

    # -- configuration -----------------------------------------------------------------------

    def _change(self, key: str, value: str) -> tuple[str, str]:
        """C16 5.3: (status, why not)."""
        entry = self._keys.get(key.lower())
        if entry is None:
            return "NotSupported", f"unknown key {key}"
        if entry.access == "R":
            return "Rejected", f"{entry.name} is read-only"
        assert entry.parse is not None
        try:
            canonical = entry.parse(value)
        except ValueError as error:
            return "Rejected", str(error)
        name = entry.name
        if name == "SecurityProfile":
            # SW 7.6: only upwards, and only when the new profile's prerequisites are met.
            current = self.security_profile
            wanted = int(canonical)
            if wanted <= current:
                return "Rejected", f"security profile {wanted} is not above {current}"  # A05.FR.01
            if wanted in (1, 2) and self.authorization_key is None:
                return "Rejected", f"security profile {wanted} needs an AuthorizationKey first"
            why = self._tls_prerequisites(wanted)
            if why:
                return "Rejected", why
            if wanted >= 2:
                # A05.FR.06/07: the next connection over wss://; A05.FR.08: back if it fails.
                self.certificates.upgrade_transport(lambda: self._profile_fell_back(current))
        self._set_key(entry, canonical)
        self._applied(name)
        return "Accepted", ""

    def _set_key(self, entry: _Key, value: str) -> None:
        """Set a key and keep it in `data.settings` under its name (the answer waits for the
        write, `write_barrier`)."""
        entry.value = value
        self._wrote(self.data.set_setting(entry.name, value))

    def _load_settings(self) -> None:
        """The keys the Central System changed before this (re)start, over the defaults."""
        for name, value in self.data.settings.items():
            entry = self._keys.get(name.lower())
            if entry is None or entry.parse is None:
                self.log.warning(
                    "%s: stored configuration key %s ignored: not a writable key here",
                    self.name,
                    name,
                )
                continue
            try:
                entry.value = entry.parse(value)
            except ValueError as error:
                # The parsers never quote an AuthorizationKey (SW 7.2).
                self.log.warning(
                    "%s: stored configuration key %s ignored: %s", self.name, name, error
                )

    def _applied(self, name: str) -> None:
        """Make a changed key take effect now."""
        if name == "HeartbeatInterval":
            online = self._live()
            if online is not None and self._booted_here():
                self._restart_heartbeat(online)
        elif name == "ClockAlignedDataInterval":
            if self._aligned is not None:
                self._aligned.cancel()
                self._aligned = None
            self._ensure_aligned()
        elif name == "MeterValueSampleInterval":
            for c in self._connectors[1:]:
                if c.transaction is not None:
                    self._restart_meter(c)
        elif name == "AuthorizationCacheEnabled" and not self._bool(name):
            self._forget_cache()

    def _key_value(self, entry: _Key) -> v16.KeyValue:
        # SW 7.2: a write-only key is listed without its value.
        value = entry.value if entry.access != "W" else None
        return v16.KeyValue(
            key=entry.name,
            readonly=entry.access == "R",
            value=value if value is not None else UNSET,
        )

    def _int(self, name: str) -> int:
        value = self._keys[name.lower()].value
        return int(value) if value else 0

    def _bool(self, name: str) -> bool:
        return self._keys[name.lower()].value == "true"

    def _csl(self, name: str) -> list[str]:
        return _split(self._keys[name.lower()].value or "")

    # -- what survives a restart (`data`) ----------------------------------------------------

    def _wrote(self, stored: asyncio.Future[None]) -> asyncio.Future[None]:
        """Note a write's commit: what the station sends next waits for it."""
        self._last_write = stored
        return stored

    def _save(self, c: _Connector) -> None:
        """Keep a connector's record (`_ConnectorRecord`)."""
        tx = c.transaction
        record = _ConnectorRecord(
            operative=c.operative,
            scheduled=c.scheduled,
            plugged=c.plugged,
            meter_wh=c.meter_wh,
            metered_at=c.metered_at,
            transaction=None
            if tx is None
            else _TransactionRecord(
                transaction_id=tx.transaction_id,
                start_seq=tx._start_seq,
                id_tag=tx.id_token,
                meter_start=tx.meter_start,
                started_at=tx.started_at,
                transaction_data=tx.transaction_data,
            ),
        )
        self._wrote(self.data.set_state(f"{_CONNECTOR}{c.id}", msgspec.to_builtins(record)))

    def _load_tokens(self) -> None:
        """The Authorization Cache, oldest entry first, and the Local Authorization List with
        its version, as kept before this (re)start (C16 3.5.1, 3.5.2)."""
        cached: list[tuple[int, str, v16.IdTagInfo]] = []
        for key, record in self.data.tokens.get(_CACHE, {}).items():
            try:
                cached.append(
                    (int(record["age"]), key, msgspec.convert(record["info"], v16.IdTagInfo))
                )
            except (KeyError, TypeError, ValueError) as error:
                self.log.warning("%s: stored cache entry %s ignored: %s", self.name, key, error)
        for age, key, info in sorted(cached, key=lambda entry: entry[0]):
            self._cache[key] = (age, info)
            self._cache_age = max(self._cache_age, age)
        for key, record in self.data.tokens.get(_LOCAL, {}).items():
            try:
                self._local[key] = msgspec.convert(record, v16.IdTagInfo)
            except (TypeError, ValueError) as error:
                self.log.warning(
                    "%s: stored Local Authorization List entry %s ignored: %s",
                    self.name,
                    key,
                    error,
                )
        version = self.data.state.get(_LIST_VERSION, 0)
        if isinstance(version, int) and version > 0:
            self._local_version = version
        elif self._local:
            self.log.warning(
                "%s: stored Local Authorization List version %r ignored", self.name, version
            )

    def _restore_connectors(self) -> None:
        """Take back each connector's availability (C16 5.2), plug and energy register, and
        end the transactions the previous process left running: it lost power. Each gets its
        StopTransaction.req with reason PowerLoss (C16 7.36), the last register kept as
        meterStop and the time it was read, queued behind what was queued before."""
        queued = {item.seq for item in self.data.queue}
        lost: list[tuple[_Connector, datetime]] = []
        for name, value in self.data.state.items():
            if not name.startswith(_CONNECTOR):
                continue
            try:
                cid = int(name[len(_CONNECTOR) :])
                record = msgspec.convert(value, _ConnectorRecord)
            except (TypeError, ValueError) as error:
                self.log.error("%s: stored %s ignored: %s", self.name, name, error)
                continue
            running = record.transaction
            if not 0 <= cid <= self.connectors:
                self.log.error(
                    "%s: stored %s ignored: this station has connectors 1..%d%s",
                    self.name,
                    name,
                    self.connectors,
                    " (its transaction cannot be stopped)" if running else "",
                )
                continue
            c = self._connectors[cid]
            c.operative, c.scheduled, c.plugged = record.operative, record.scheduled, record.plugged
            c.meter_wh, c.metered_at = record.meter_wh, record.metered_at
            if running is None or cid == 0:
                continue
            transaction_id = running.transaction_id
            if transaction_id is None and running.start_seq not in queued:
                self.log.error(
                    "%s: connector %d: the StartTransaction of the lost transaction is no longer"
                    " queued: its StopTransaction carries transactionId -1 (C16E 3.18)",
                    self.name,
                    cid,
                )
                transaction_id = -1
            c.transaction = Transaction(
                connector_id=cid,
                transaction_id=transaction_id,
                id_token=running.id_tag,
                meter_start=running.meter_start,
                started_at=running.started_at,
                transaction_data=running.transaction_data,
                _start_seq=running.start_seq if transaction_id is None else None,
            )
            lost.append((c, record.metered_at or running.started_at))
        # Every connector is back before the first stop: the charge point's scheduled
        # availability waits for its last transaction (C16 5.2).
        for c, lost_at in sorted(lost, key=lambda pair: pair[0].id):
            assert c.transaction is not None
            self.log.warning(
                "%s: transaction %s on connector %d was running when the station lost power"
                " (last reading %s)",
                self.name,
                _shown(c.transaction),
                c.id,
                lost_at.isoformat(),
            )
            self._end_transaction(c, v16.Reason.PowerLoss, lost_at=lost_at)

    # -- reservations (C16 3.11, 5.13; the book: reservations.py) ---------------------------

    def _reserve(self, request: v16.ReserveNowRequest) -> tuple[v16.ReservationStatus, str]:
        """Take a ReserveNow.req into the book: (status, why not) (C16 5.13, 7.40)."""
        status = v16.ReservationStatus
        book = self._reservations
        book.expire_due()
        cid, rid = request.connector_id, request.reservation_id
        if cid > self.connectors:
            return status.Rejected, f"no connector {cid}"
        if cid == 0 and not self._bool("ReserveConnectorZeroSupported"):
            return status.Rejected, "ReserveConnectorZeroSupported is false (C16 5.13)"
        if request.expiry_date <= self._now():
            return status.Rejected, f"expiryDate {request.expiry_date.isoformat()} has passed"
        # C16 5.13: a reservation with the same reservationId is replaced: judged without it.
        free = self._free_connectors(ignore=rid)
        of_any = [r for r in book.of_any() if r.id != rid]
        zero = self._connectors[0]
        reservation = Reservation(
            id=rid,
            expires=request.expiry_date,
            id_token=request.id_tag,
            target=cid,
            group=request.parent_id_tag or None,
        )
        if self._firmware_closed:
            # The connectors are closed until the new firmware runs (C16 5.19, C16E 3.49).
            return status.Unavailable, "a firmware update waits to be installed"
        if cid == 0:
            # "make sure that at any time during the validity of the reservation, one
            # connector remains available for the reserved idTag".
            if not zero.operative or not any(c.operative for c in self._connectors[1:]):
                return status.Unavailable, "no connector is operative"
            if not book.feasible([*of_any, reservation], free):
                return status.Occupied, "no connector is left free for it"
        else:
            c = self._connectors[cid]
            if not (c.operative and zero.operative):
                return status.Unavailable, f"connector {cid} is unavailable"
            other = book.on(cid)
            if other is not None and other.id != rid:
                # "also 'Occupied' when the ... connector has been reserved for the same or
                # another idTag".
                return status.Occupied, f"connector {cid} is reserved ({other.id})"
            if cid not in free:
                return status.Occupied, f"connector {cid} is in use"
            if not book.feasible(of_any, {t: k for t, k in free.items() if t != cid}):
                return status.Occupied, f"connector {cid} is held for a reservation of any"
        book.reserve(reservation)
        return status.Accepted, ""

    def _free_connectors(self, ignore: int | None = None) -> dict[int, str | None]:
        """The connectors a reservation of connector 0 may count on: operative, idle (no
        transaction, no start, no EV) and not reserved themselves (but by reservation
        `ignore`). The values: connector types (none in 1.6)."""
        zero = self._connectors[0]
        free: dict[int, str | None] = {}
        for c in self._connectors[1:]:
            mine = self._reservations.on(c.id)
            if (
                zero.operative
                and c.operative
                and c.transaction is None
                and not (c.starting or c.plugged or c.finishing)
                and (mine is None or mine.id == ignore)
            ):
                free[c.id] = None
        return free

    def _reserved_here(self, c: _Connector) -> bool:
        """Whether `c` is Reserved: reserved itself, or held for a reservation of connector 0
        (the free connectors are as many as those reservations)."""
        book = self._reservations
        if not len(book):
            return False
        return book.on(c.id) is not None or c.id in book.held(self._free_connectors())

    def _parent_of(self, id_tag: str) -> tuple[bool, str | None]:
        """(whether the id tag is in the Local Authorization List or the cache, its parent id
        tag there)."""
        known, _ = self._entry(id_tag)
        if known is None:
            return False, None
        return True, known.parent_id_tag if known.parent_id_tag is not UNSET else None

    def _reservation_refusal(self, c: _Connector, id_tag: str) -> str:
        """Why a reservation keeps `id_tag` from charging on `c`, as far as the station knows
        its parent id tag now ("" when none does)."""
        _, parent = self._parent_of(id_tag)
        free = self._free_connectors()
        return self._reservations.decide(c.id, None, id_tag, parent, free)[1]

    async def _reservation_for(self, c: _Connector, id_tag: str) -> Reservation | None:
        """C16 5.13: the reservation a start of `id_tag` on `c` uses (None: none), taken out of
        the book; raises `StationError` when a reservation refuses it ("refuse charging for
        all incoming idTags on the reserved connector, except when the incoming idTag or the
        parent idTag match the idTag or parent idTag of the reservation"). The parent id tag
        comes from the Local Authorization List or the cache, "If it is not found ... the
        Charge Point SHALL send an Authorize.req" (its answer MAY give it, C16E 4.12)."""
        book = self._reservations
        book.expire_due()
        if not len(book):
            return None
        known, parent = self._parent_of(id_tag)
        reservation, why = book.decide(c.id, None, id_tag, parent, self._free_connectors())
        if why and not known and self._may_send():
            with contextlib.suppress(StationError, SessionClosedError, CallTimeoutError, OCPPError):
                response = await self._call(v16.AuthorizeRequest(id_tag=id_tag))
                info: v16.IdTagInfo = response.id_tag_info
                self._authorization_answer(id_tag, info)
                if info.parent_id_tag is not UNSET:
                    parent = info.parent_id_tag
                    free = self._free_connectors()
                    reservation, why = book.decide(c.id, None, id_tag, parent, free)
        if why:
            raise StationError(f"id tag {id_tag} may not charge on connector {c.id}: {why}")
        if reservation is not None:
            # C16 5.13 (1): terminated by the transaction it starts.
            book.remove(reservation.id)
            self.log.info(
                "%s: reservation %d used by %s on connector %d",
                self.name,
                reservation.id,
                id_tag,
                c.id,
            )
            if reservation.target == 0:
                self._in_background(self._update(*self._connectors), "status after reservation")
        return reservation

    def _reservations_expired(self, expired: list[Reservation]) -> None:
        """C16 5.13: "When a reservation expires, the Charge Point SHALL terminate the
        reservation and make the connector available", and tell with a StatusNotification."""
        self._in_background(self._update(*self._connectors), "status after reservation expiry")

    def _drop_unavailable_reservations(self) -> None:
        """C16 5.13 (3): a reservation is terminated when its connector or the Charge Point is
        set to Unavailable (a reservation of connector 0: the Charge Point)."""
        zero = self._connectors[0]
        for reservation in self._reservations:
            target = reservation.target
            gone = target > self.connectors or not zero.operative
            if not gone and target > 0:
                gone = not self._connectors[target].operative
            if gone:
                self._reservations.remove(reservation.id)
                self.log.info(
                    "%s: reservation %d of connector %d ended: unavailable",
                    self.name,
                    reservation.id,
                    target,
                )

    # -- helpers -----------------------------------------------------------------------------

    def _now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the station's clock must return timezone-aware datetimes")
        return now

    def _connector(self, connector_id: int, *, allow_zero: bool = False) -> _Connector:
        if not (0 if allow_zero else 1) <= connector_id <= self.connectors:
            raise ValueError(
                f"no connector {connector_id}: this station has connectors 1..{self.connectors}"
            )
        return self._connectors[connector_id]

    def _busy(self, c: _Connector) -> str:
        """Why a start is impossible on `c` now ("" when it is possible)."""
        if c.transaction is not None:
            return "has a transaction"
        if c.starting:
            return "is starting a transaction"
        blocked = self._link.blocked(c.id)
        if blocked:
            return f"is faulted ({blocked})"
        if not (c.operative and self._connectors[0].operative):
            return "is unavailable"
        if self._firmware_closed:
            return "is unavailable until the pending firmware update is installed"
        return ""

    def _claim(self, c: _Connector) -> None:
        why = self._busy(c)
        if why:
            raise StationError(f"connector {c.id} {why}")
        c.starting = True

    def _by_transaction(self, transaction_id: int) -> _Connector | None:
        for c in self._connectors[1:]:
            if c.transaction is not None and c.transaction.transaction_id == transaction_id:
                return c
        return None

    def _trigger_connector_ok(self, connector_id: int | UnsetType, *, extended: bool) -> bool:
        if isinstance(connector_id, UnsetType):
            return True
        # SW 5.5: ExtendedTriggerMessage's connectorId is > 0; C16 5.17: 0 is the Charge Point.
        return (1 if extended else 0) <= connector_id <= self.connectors

    def _booted_here(self) -> bool:
        return self.registration == v16.RegistrationStatus.Accepted

    def _arm_connection_timeout(self, c: _Connector) -> None:
        """C16 9.1.6, C16E 3.20 (B6): a connector left in Preparing longer than
        ConnectionTimeOut without a transaction goes to Finishing (the cable is still in)."""
        self._disarm_connection_timeout(c)
        seconds = self._int("ConnectionTimeOut")
        if seconds <= 0:
            return

        def expire() -> None:
            c.timeout = None
            if c.transaction is None and not c.starting and c.plugged and not c.finishing:
                self.log.info(
                    "%s: connector %d: no transaction within ConnectionTimeOut (%d s)",
                    self.name,
                    c.id,
                    seconds,
                )
                c.finishing = True
                self._in_background(self._update(c), "status after ConnectionTimeOut")

        c.timeout = asyncio.get_running_loop().call_later(seconds, expire)

    def _disarm_connection_timeout(self, c: _Connector) -> None:
        if c.timeout is not None:
            c.timeout.cancel()
            c.timeout = None

    def _connection(self) -> Any:
        connection = getattr(self, "connection", None)
        if connection is None or connection.closed:
            return None
        return connection

    def _live(self) -> _Online | None:
        for online in reversed(self._sessions):
            if not online.connection.closed:
                return online
        return None

    def _may_send(self) -> bool:
        return self._connection() is not None and self._booted_here()

    def _refused(self, action: str, answer: str, why: str) -> None:
        self.log.info("%s: %s answered %s: %s", self.name, action, answer, why)

    def _restart_heartbeat(self, online: _Online) -> None:
        if online.heartbeat is not None:
            online.heartbeat.cancel()
        online.heartbeat = self._spawn(online, self._heartbeat(), "heartbeat")

    def _restart_meter(self, c: _Connector) -> None:
        task = self._meters.pop(c.id, None)
        if task is not None:
            task.cancel()
        self._meters[c.id] = self._in_background(
            self._sample_periodically(c), f"meter values connector {c.id}"
        )

    def _ensure_aligned(self) -> None:
        """Run the clock-aligned sampling when ClockAlignedDataInterval asks for it."""
        if self._int("ClockAlignedDataInterval") > 0 and (
            self._aligned is None or self._aligned.done()
        ):
            self._aligned = self._in_background(self._sample_clock_aligned(), "clock-aligned data")

    def _spawn(
        self, online: _Online, coro: Coroutine[Any, Any, Any], what: str
    ) -> asyncio.Task[Any]:
        """A task that lives as long as the connection `online`."""
        task = asyncio.ensure_future(coro)
        task.set_name(f"{self.name}: {what}")
        online.tasks.add(task)
        task.add_done_callback(online.tasks.discard)
        task.add_done_callback(self._task_done)
        return task

    def _in_background(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        """A task of the station, whatever the connection."""
        task = asyncio.ensure_future(coro)
        task.set_name(f"{self.name}: {what}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log.error("%s: %s failed", self.name, task.get_name(), exc_info=task.exception())


# ClearChargingProfile.req's chargingProfilePurpose in the book's terms.
_PURPOSES: dict[str, Purpose] = {
    "ChargePointMaxProfile": "ChargePointMax",
    "TxDefaultProfile": "TxDefault",
    "TxProfile": "Tx",
}


_PHASE_INDEX = {
    v16.Phase.L1: 0,
    v16.Phase.L2: 1,
    v16.Phase.L3: 2,
    v16.Phase.L1_N: 0,
    v16.Phase.L2_N: 1,
    v16.Phase.L3_N: 2,
}


def _measured(name: str, phase: v16.Phase | None, reading: MeterReading | None) -> str | None:
    """A per-phase value from the hardware meter's reading ("0" on a phase a single-phase
    meter does not have), None when the meter does not measure it."""
    if reading is None or phase not in _PHASE_INDEX:
        return None
    per_phase = {
        "Current.Import": (reading.current_a, "{:.1f}"),
        "Voltage": (reading.voltage_v, "{:.1f}"),
        "Power.Active.Import": (reading.power_phase_w, "{:.0f}"),
    }.get(name)
    if per_phase is None or not per_phase[0]:
        return None
    values, shown = per_phase
    index = _PHASE_INDEX[phase]
    return shown.format(values[index]) if index < len(values) else "0"


def _parse_profile(wire: Any) -> Profile:
    """A charging profile the book kept (`ProfileBook`), read back."""
    return from_v16(msgspec.convert(wire, v16.ChargingProfile))


def _where(listed: bool) -> str:
    return "Local Authorization List" if listed else "Authorization Cache"


def _shown(tx: Transaction) -> str:
    """How a log line names a transaction."""
    return tx.id or "(id not yet known)"


def _transaction_of(item: Queued) -> str:
    """How a log line names the transaction of a queued message."""
    try:
        payload = item.decoded()
        reference = payload.get("transactionId")
        if reference is None:
            return f"starting on connector {payload.get('connectorId')}"
    except (ValueError, AttributeError):
        return "(unreadable)"
    return "(id not yet known)" if isinstance(reference, str) else str(reference)
