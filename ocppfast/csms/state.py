"""What a CSMS knows about its charging stations: the in-memory `CsmsState`.

One `CsmsState` is shared by every connection of a server; `DefaultCSMS` (one per connection)
turns what a station sends into calls of its methods, and answers from what they return. The
methods are the whole interface: they take version-neutral values (`BootInfo`, `Sample`,
`TransactionEventData`), so that a storage-backed implementation (issue 6) can replace this class
by overriding them, and the records they hand out (`StationRecord`, `TransactionRecord`) are
meant to be read, not changed, by the code that asks for them.

Everything here runs on the event loop's thread and never awaits, so no method needs a lock: the
core dispatches a synchronous handler while it reads the frame, and one handler runs at a time.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import hashlib
import itertools
import logging
import secrets
import types
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from ..asyncio.auth import Credentials, PasswordRecord
from .operations import OPERATION_OF, Operation, ProfileRecord, Reservation, StatusEntry, Upload

__all__ = [
    "ENERGY_REGISTER",
    "REGISTRATION_POLICIES",
    "SECURITY_EVENTS",
    "BootInfo",
    "ConnectorStatus",
    "CsmsState",
    "EventStream",
    "FrameRecord",
    "IdTokenRecord",
    "Notification",
    "OperationStatus",
    "Report",
    "Sample",
    "SecurityEvent",
    "StationRecord",
    "TransactionEventData",
    "TransactionIds",
    "TransactionKey",
    "TransactionRecord",
]

# The measurand of a sampled value that names none, in every version (C16 7.43 SampledValue
# "measurand ... Default = Energy.Active.Import.Register"; 2.0.1/2.1 SampledValueType the same).
ENERGY_REGISTER = "Energy.Active.Import.Register"
# Units of the energy register that we turn into Wh. The unit defaults to Wh (C16 7.45: "Default
# value of unit is always Wh"; 2.0.1/2.1 UnitOfMeasureType the same); a 2.x multiplier is applied
# to the value beforehand.
_WH_PER_UNIT = {"Wh": 1.0, "kWh": 1000.0}
# Locations where the energy delivered to the EV is measured; Body, Cable and EV readings (if a
# station reports the register there at all) are not the billing meter of the transaction.
_METER_LOCATIONS = (None, "Outlet", "Inlet")
# 1.6 reasons and 2.x stoppedReason default to Local when absent (C16 4.10: "the Reason SHOULD be
# assumed 'Local'"; 2.0.1 TransactionType.stoppedReason "MAY only be omitted when Reason is Local").
_DEFAULT_STOP_REASON = "Local"
# Authorization statuses that 1.6 has (C16 7.2 AuthorizationStatus); a 2.x-only status configured
# for a token is answered as Invalid to a 1.6 station.
_V16_AUTH_STATUSES = frozenset({"Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"})

# The kind under which `record()` keeps security events (the action's name).
_SECURITY_EVENT = "SecurityEventNotification"

# How stations are admitted (issue 6): "open" accepts and records any identity, "known" only
# registered ones (an unknown identity gets HTTP 404 before the upgrade: J201 3.2, J21 3.3),
# "pending" records unknown ones and answers their boots Pending until an operator accepts them.
REGISTRATION_POLICIES = ("open", "known", "pending")
# Registration statuses: what a BootNotification is answered (C16 7.30, 2.x
# RegistrationStatusEnumType).
REGISTRATION_STATUSES = ("Accepted", "Pending", "Rejected")

TransactionKey = tuple[str, "int | str"]
"""How `CsmsState.transactions` is keyed: (case-folded station identity, transaction id). 1.6 ids
are integers we assign (unique across stations); 2.x ids are the station's strings, unique only
within one station."""


def _utc(value: datetime.datetime) -> datetime.datetime:
    return value.astimezone(datetime.timezone.utc)


# --------------------------------------------------------------------------------------------
# Value types
#
# Frozen msgspec Structs, not frozen dataclasses: one is built for every message (a Sample for
# every sampled value, ten in a typical MeterValues), and a frozen dataclass's __init__, which
# sets each field through object.__setattr__, costs about ten times as much. Those that hold
# only scalars (Sample, ConnectorStatus, OperationStatus) are not tracked by the garbage
# collector either, which matters for the millions of samples a server keeps.


class Sample(msgspec.Struct, frozen=True, gc=False):
    """One sampled value of a meter value, in any version. (Untracked by the garbage collector:
    it holds immutable scalars only, so no reference cycle, and a CSMS keeps millions.)

    - `text`: the value as sent (1.6 sends strings, which may hold signed data; 2.x numbers).
    - `value`: the number, with a 2.x unit multiplier applied; None when not a number.
    - `unit`: as sent (None: the default, Wh for energy); the other fields as the spec names them,
      None when absent.
    """

    timestamp: datetime.datetime
    text: str
    value: float | None
    measurand: str = ENERGY_REGISTER
    unit: str | None = None
    phase: str | None = None
    location: str | None = None
    context: str | None = None
    signed: bool = False

    @property
    def energy_wh(self) -> float | None:
        """The reading of the active import energy register in Wh, when this sample is one for
        the whole connector (no phase: "an overall value", C16 7.43) at a metering location;
        else None."""
        if (
            self.value is None
            or self.measurand != ENERGY_REGISTER
            or self.phase is not None
            or self.location not in _METER_LOCATIONS
        ):
            return None
        factor = _WH_PER_UNIT.get(self.unit or "Wh")
        return None if factor is None else self.value * factor


class BootInfo(msgspec.Struct, frozen=True):
    """What a BootNotification says about the station (C16 6.3, 2.0.1/2.1
    BootNotificationRequest): `extra` holds the rest (1.6 chargeBoxSerialNumber, iccid, imsi,
    meterType, meterSerialNumber; 2.x modem iccid and imsi)."""

    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    reason: str | None = None
    extra: Mapping[str, str] = msgspec.field(default_factory=dict)


class ConnectorStatus(msgspec.Struct, frozen=True):
    """The last status a station reported for one connector (or for the whole station: 1.6
    connector 0)."""

    status: str
    timestamp: datetime.datetime
    error_code: str | None = None
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None


class OperationStatus(msgspec.Struct, frozen=True):
    """The last status notification of a long-running operation (firmware update, diagnostics or
    log upload, firmware publication) and the request id it belongs to, if any."""

    status: str
    request_id: int | None
    timestamp: datetime.datetime


class IdTokenRecord(msgspec.Struct, frozen=True):
    """What the CSMS knows of an id token (C16 7.14 IdTagInfo, 2.0.1 IdTokenInfoType):
    - `status`: an AuthorizationStatus value ("Accepted", "Blocked", ...);
    - `expires_at`: after it the token is "Expired" (also given to the station: 1.6
      expiryDate, 2.x cacheExpiryDateTime);
    - `parent_id`: 1.6 parentIdTag; `group_id`: 2.x groupIdToken (the same idea: tokens of one
      group may stop each other's transactions).
    """

    id_token: str
    status: str = "Accepted"
    expires_at: datetime.datetime | None = None
    parent_id: str | None = None
    group_id: str | None = None
    type: str | None = None

    def status_at(self, now: datetime.datetime) -> str:
        """The status in force at `now`: Expired once `expires_at` has passed."""
        if self.expires_at is not None and now >= self.expires_at and self.status == "Accepted":
            return "Expired"
        return self.status


class FrameRecord(msgspec.Struct, frozen=True):
    """One frame of the traffic log: `direction` "in" (from the station) or "out" (to it), the
    frame's text (one that may carry a credential is replaced by a note saying so), and an `id`
    increasing with time (for paging)."""

    id: int
    identity: str
    at: datetime.datetime
    direction: str
    frame: str


class Notification(msgspec.Struct, frozen=True):
    """A message kept as it came (the typed request), with the time it was received."""

    received_at: datetime.datetime
    data: Any


class SecurityEvent(msgspec.Struct, frozen=True):
    """A security event a station reported (SecurityEventNotification: SW 5.15, A04): its
    `type`, the station's `timestamp`, `tech_info` (None when absent), and when it was
    received."""

    type: str
    timestamp: datetime.datetime
    tech_info: str | None
    received_at: datetime.datetime


# The security events of the spec's list and whether each is critical (pushed to the CSMS), by
# version: SW 8 for 1.6, 2.0.1 part 2 appendix 1 (v1.3), 2.1 part 2 chapter 1 (v2.0).
_CRITICAL_EVERYWHERE = (
    "FirmwareUpdated",
    "SettingSystemTime",
    "StartupOfTheDevice",
    "ResetOrReboot",
    "SecurityLogWasCleared",
    "MemoryExhaustion",
    "TamperDetectionActivated",
)
_CRITICAL_201 = (
    *_CRITICAL_EVERYWHERE,
    "InvalidCsmsCertificate",
    "InvalidChargingStationCertificate",
    "InvalidTLSVersion",
    "InvalidTLSCipherSuite",
    "MaintenanceLoginAccepted",
    "MaintenanceLoginFailed",
)
_OTHERS_2X = (
    "FailedToAuthenticateAtCsms",
    "CsmsFailedToAuthenticate",
    "ReconfigurationOfSecurityParameters",
    "InvalidMessages",
    "AttemptedReplayAttacks",
)
_FIRMWARE_SIGNATURE = ("InvalidFirmwareSignature", "InvalidFirmwareSigningCertificate")


def _event_list(critical: Iterable[str], others: Iterable[str]) -> Mapping[str, bool]:
    return types.MappingProxyType({**dict.fromkeys(others, False), **dict.fromkeys(critical, True)})


SECURITY_EVENTS: Mapping[str, Mapping[str, bool]] = types.MappingProxyType(
    {
        "ocpp1.6": _event_list(
            _CRITICAL_EVERYWHERE,
            (
                "FailedToAuthenticateAtCentralSystem",
                "CentralSystemFailedToAuthenticate",
                "ReconfigurationOfSecurityParameters",
                "InvalidMessages",
                "AttemptedReplayAttacks",
                *_FIRMWARE_SIGNATURE,
                "InvalidCentralSystemCertificate",
                "InvalidChargePointCertificate",
                "InvalidTLSVersion",
                "InvalidTLSCipherSuite",
            ),
        ),
        "ocpp2.0.1": _event_list(_CRITICAL_201, (*_OTHERS_2X, *_FIRMWARE_SIGNATURE)),
        "ocpp2.1": _event_list(
            (*_CRITICAL_201, *_FIRMWARE_SIGNATURE, "DiscardedRenewedClientCertificate"),
            _OTHERS_2X,
        ),
    }
)
"""By OCPP version, the security events of the spec's list: type -> critical."""


@dataclasses.dataclass(slots=True, eq=False)
class Report:
    """A report a station sends in parts (NotifyReport, NotifyMonitoringReport,
    NotifyCustomerInformation, NotifyDisplayMessages, ReportChargingProfiles, ReportDERControl):
    the items of every part received, in order of arrival. `complete` once a part said that no
    more follow (`tbc` false)."""

    kind: str
    request_id: int
    started_at: datetime.datetime
    updated_at: datetime.datetime
    generated_at: datetime.datetime | None = None
    items: list[Any] = dataclasses.field(default_factory=list)
    seq_nos: set[int] = dataclasses.field(default_factory=set)
    complete: bool = False


@dataclasses.dataclass(slots=True, eq=False)
class EventStream:
    """A periodic event stream a 2.1 station opened (OpenPeriodicEventStream) and the values it
    has sent on it since (NotifyPeriodicEventStream)."""

    id: int
    opened_at: datetime.datetime
    variable_monitoring_id: int | None = None
    interval: int | None = None
    values_per_message: int | None = None
    messages: int = 0
    values: int = 0
    pending: int = 0
    last_basetime: datetime.datetime | None = None
    closed_at: datetime.datetime | None = None


class TransactionEventData(msgspec.Struct, frozen=True):
    """A 2.0.1/2.1 TransactionEventRequest, version-neutral: what `CsmsState.transaction_event`
    records. `id_token` is None when the request carries none."""

    event_type: str
    transaction_id: str
    seq_no: int
    timestamp: datetime.datetime
    trigger_reason: str
    offline: bool = False
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    id_token_type: str | None = None
    charging_state: str | None = None
    stopped_reason: str | None = None
    remote_start_id: int | None = None
    reservation_id: int | None = None
    samples: tuple[Sample, ...] = ()


# --------------------------------------------------------------------------------------------
# Records

_NONE: Mapping[Any, Any] = types.MappingProxyType({})


def _none() -> Mapping[Any, Any]:
    return _NONE


_log = logging.getLogger("ocppfast.csms")

# The security profiles (SW 2; 2.x A00): 0 none, 1 Basic over ws://, 2 Basic over wss://,
# 3 TLS client certificate.
SECURITY_PROFILES = (0, 1, 2, 3)


@dataclasses.dataclass(slots=True, eq=False)
class StationRecord:
    """What one station told us. `identity` as the station first spelled it.

    - `connectors`: the last status per connector, keyed `(evse_id, connector_id)`; 1.6 has no
      EVSEs, so its connectors are keyed `(0, connectorId)` (connector 0: the whole station).
    - `operations`: the last status of each long-running operation: "firmware",
      "diagnostics", "log", "publish_firmware".
    - `reports`: reports sent in parts, by (kind, requestId); the most recent ones are kept.
    - `notifications`: the recent messages of other kinds, by action
      ("SecurityEventNotification", "NotifyEvent", "DataTransfer", ...), newest last.
    - `connections`: how many connections of the station are live (`connected`: any).
    - `registered`: known to the operator (registered through the API, or recorded at its first
      connection under the "open" and "pending" policies); `approval`: the operator's decision,
      what its boots are answered ("Accepted", "Pending" or "Rejected"); `registration_status`:
      what its last boot was answered.
    - `meter_values`: recent meter values that belong to no known transaction, as
      (1.6 connectorId or 2.x evseId, sample); an empty tuple until the first one (a deque
      per station would cost more memory than its connection: docs/performance.md).
    - `security_profile`: the lowest security profile the station may connect with (0-3): the
      highest it connected with, or what the operator set; None until known (SW A05.FR.09).
    """

    identity: str
    version: str
    connections: int = 0
    connected_at: datetime.datetime | None = None
    disconnected_at: datetime.datetime | None = None
    last_seen: datetime.datetime | None = None
    last_heartbeat: datetime.datetime | None = None
    booted_at: datetime.datetime | None = None
    boot: BootInfo | None = None
    registration_status: str | None = None
    registered: bool = False
    approval: str | None = None
    connectors: dict[tuple[int, int], ConnectorStatus] = dataclasses.field(default_factory=dict)
    # What most stations never send starts as one shared empty mapping (`entries()` makes it
    # a dict of the station's own): memory per station, docs/performance.md.
    operations: Mapping[str, OperationStatus] = dataclasses.field(default_factory=_none)
    reports: Mapping[tuple[str, int], Report] = dataclasses.field(default_factory=_none)
    event_streams: Mapping[int, EventStream] = dataclasses.field(default_factory=_none)
    notifications: Mapping[str, collections.deque[Notification]] = dataclasses.field(
        default_factory=_none
    )
    meter_values: collections.deque[tuple[int, Sample]] | tuple[()] = ()
    security_profile: int | None = None

    def entries(self, name: str) -> dict[Any, Any]:
        """The station's own dict of `name` ("operations", "reports", "event_streams",
        "notifications"), created at the first entry."""
        value: dict[Any, Any] = getattr(self, name)
        if value is _NONE:
            value = {}
            setattr(self, name, value)
        return value

    @property
    def connected(self) -> bool:
        """Whether the station has a live connection (`connections` counts them: a station that
        reconnects may do so before the server has seen its old connection end)."""
        return self.connections > 0


@dataclasses.dataclass(slots=True, eq=False)
class TransactionRecord:
    """One transaction, live or finished.

    - `transaction_id`: 1.6: the integer we assigned; 2.x: the station's string.
    - `meter_start` / `meter_stop`: energy register readings in Wh: 1.6 from StartTransaction and
      StopTransaction; 2.x from the samples of context Transaction.Begin / Transaction.End.
    - `samples`: the meter values received for it (the most recent ones, up to the state's
      limit), in order of arrival.
    - `started_at`: 1.6: the StartTransaction timestamp; 2.x: that of the event Started (None
      until it arrives).
    - `seq_nos`: 2.x: the seqNo of every TransactionEventRequest received for it;
      `last_seq_no` the highest.
    """

    identity: str
    transaction_id: int | str
    version: str
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    id_token_type: str | None = None
    stop_id_token: str | None = None
    started_at: datetime.datetime | None = None
    ended_at: datetime.datetime | None = None
    ended: bool = False
    meter_start: float | None = None
    meter_stop: float | None = None
    stop_reason: str | None = None
    charging_state: str | None = None
    remote_start_id: int | None = None
    reservation_id: int | None = None
    offline: bool = False
    seq_nos: set[int] = dataclasses.field(default_factory=set)
    last_seq_no: int | None = None
    samples: collections.deque[Sample] = dataclasses.field(default_factory=collections.deque)
    first_reading: tuple[datetime.datetime, float] | None = None
    last_reading: tuple[datetime.datetime, float] | None = None

    @property
    def active(self) -> bool:
        """Whether the transaction has not ended (as far as we know)."""
        return not self.ended

    @property
    def energy_wh(self) -> float | None:
        """Energy delivered in Wh: the stop (else the latest) register reading minus the start
        (else the earliest) one; for a live transaction, the energy so far. None when unknown."""
        start = self.meter_start
        if start is None and self.first_reading is not None:
            start = self.first_reading[1]
        stop = self.meter_stop
        if stop is None and self.last_reading is not None:
            stop = self.last_reading[1]
        if start is None or stop is None:
            return None
        return stop - start

    def missing_seq_nos(self) -> list[int]:
        """2.x: the seqNo values between the lowest and the highest received that have not
        arrived (yet): queued messages the station has still to deliver (P6 general rules:
        "the provided seqNo are sequentially numbered ... the CSMS is able to determine whether
        all messages of a transaction have been received")."""
        if not self.seq_nos:
            return []
        low, high = min(self.seq_nos), max(self.seq_nos)
        return [n for n in range(low, high + 1) if n not in self.seq_nos]

    def add_samples(self, samples: Iterable[Sample]) -> None:
        """Keep `samples` and follow the energy register readings among them."""
        append = self.samples.append
        for sample in samples:
            append(sample)
            if sample.measurand != ENERGY_REGISTER:
                continue  # most samples: spare them the property's other checks
            energy = sample.energy_wh
            if energy is None:
                continue
            # Messages may arrive out of order (queued while offline: C16 3.7, P6 general
            # rules), so the first and last readings go by timestamp, not by arrival.
            at = sample.timestamp
            if self.first_reading is None or at < self.first_reading[0]:
                self.first_reading = (at, energy)
            if self.last_reading is None or at >= self.last_reading[0]:
                self.last_reading = (at, energy)
            if sample.context == "Transaction.Begin" and self.meter_start is None:
                self.meter_start = energy
            elif sample.context == "Transaction.End":
                self.meter_stop = energy


class TransactionIds:
    """1.6 transaction ids: unique across all stations, and not guessable (a station, or anyone
    who learns one id, cannot infer another's: the answer to a StopTransaction never depends on
    it, but an id is no invitation either).

    The `counter`-th id is a keyed permutation of the counter: a four-round Feistel network over
    32 bits, cycle-walked into 1..2**31-1 (a positive 32-bit integer, which every station can
    keep). A permutation never repeats a value, so no id is given twice while the counter and
    the `key` (16 random bytes) are kept: `ocppfast.csms.store` stores both.
    """

    LIMIT = 2**31 - 1  # ids are 1..LIMIT

    def __init__(self, key: bytes | None = None, counter: int = 0) -> None:
        self.key = key if key is not None else secrets.token_bytes(16)
        self.counter = counter

    def _round(self, number: int, half: int) -> int:
        digest = hashlib.blake2b(
            half.to_bytes(2, "big"), digest_size=2, key=self.key, person=bytes([number]) * 16
        ).digest()
        return int.from_bytes(digest, "big")

    def _permute(self, value: int) -> int:
        left, right = value >> 16, value & 0xFFFF
        for number in range(4):
            left, right = right, left ^ self._round(number, right)
        return (left << 16) | right

    def next(self) -> int:
        """The next id."""
        if self.counter >= self.LIMIT:
            raise RuntimeError("all 2**31 - 1 transaction ids of this key were given")
        value = self.counter
        self.counter += 1
        # Cycle walking: a permutation of 0..2**32-1 restricted to 0..LIMIT-1 by applying it
        # again until the value falls in range (twice on average) stays a permutation.
        value = self._permute(value)
        while value >= self.LIMIT:
            value = self._permute(value)
        return value + 1


# --------------------------------------------------------------------------------------------
# The state


class CsmsState:
    """The in-memory state of a CSMS, shared by all connections of one server.

    - `heartbeat_interval`: seconds, given in accepted BootNotification responses.
    - `boot_retry_interval`: seconds, given when a boot is not accepted (the minimum wait before
      the next BootNotification: C16 4.2, 2.0.1 B02/B03).
    - `token_status`: the authorization status of known id tokens, a shortcut for `set_token()`
      (`tokens` holds them, keyed case-folded: compared case-insensitively:
      1.6 IdToken is a CiString20, 2.x idToken is "case insensitive"); any other token gets
      `default_token_status`, "Accepted" unless told otherwise.
    - `max_finished_transactions`: finished transactions kept; the oldest are dropped beyond it.
    - `max_samples`: meter samples kept per transaction, and per station for those of no known
      transaction; `history`: notifications kept per station and kind, and reports per station.
    - `registration_policy`: one of `REGISTRATION_POLICIES` ("open" by default).
    - `credentials`: the stations' Basic auth passwords, shared with the `Server`, changed by
      `set_password()` (when not given, a new empty store in which a password is required only
      of the stations that have one).
    - `traffic_limit`: frames of the traffic log kept (in memory, for all stations together);
      0 keeps none.

    `stations` (case-folded identity -> `StationRecord`) and `transactions` (`TransactionKey` ->
    `TransactionRecord`) are public for reading; change them through the methods.
    """

    def __init__(
        self,
        heartbeat_interval: int = 300,
        *,
        boot_retry_interval: int = 60,
        token_status: Mapping[str, str] | None = None,
        default_token_status: str = "Accepted",
        max_finished_transactions: int = 10_000,
        max_samples: int = 10_000,
        history: int = 256,
        registration_policy: str = "open",
        credentials: Credentials | None = None,
        traffic_limit: int = 100_000,
    ) -> None:
        if heartbeat_interval < 0 or boot_retry_interval < 0:
            raise ValueError("intervals are seconds, at least 0")
        if registration_policy not in REGISTRATION_POLICIES:
            raise ValueError(
                f"registration_policy is one of {', '.join(REGISTRATION_POLICIES)}, "
                f"not {registration_policy!r}"
            )
        self.registration_policy = registration_policy
        self.credentials = credentials if credentials is not None else Credentials(required=False)
        self.traffic_limit = traffic_limit
        self._traffic: collections.deque[FrameRecord] = collections.deque(
            maxlen=max(traffic_limit, 1)
        )
        self._frame_ids = itertools.count(1)
        self.heartbeat_interval = heartbeat_interval
        self.boot_retry_interval = boot_retry_interval
        self.tokens: dict[str, IdTokenRecord] = {
            token.casefold(): IdTokenRecord(token, status)
            for token, status in (token_status or {}).items()
        }
        self.default_token_status = default_token_status
        self.max_finished_transactions = max_finished_transactions
        self.max_samples = max_samples
        self.history = history
        self.stations: dict[str, StationRecord] = {}
        self.transactions: dict[TransactionKey, TransactionRecord] = {}
        # 1.6 transaction ids: integers, unique across all stations (C16 4.8: the response
        # "MUST include a transaction id").
        self.transaction_ids = TransactionIds()
        self._active: dict[str, set[TransactionKey]] = {}
        self._finished: collections.deque[tuple[TransactionKey, TransactionRecord]] = (
            collections.deque()
        )
        # What operators asked stations to do (`ocppfast.csms.operations`), by case-folded
        # identity, then by id: firmware updates and log uploads, reservations, and the
        # charging profiles 1.6 stations accepted.
        self.operations: dict[str, dict[int, Operation]] = {}
        self.reservations: dict[str, dict[int, Reservation]] = {}
        self.profiles: dict[str, dict[int, ProfileRecord]] = {}
        # The key of the file server's capability URLs (`ocppfast.api.files`): random per
        # process here, kept with the data by a `StoredState` (so that the URLs given to
        # stations outlive a restart).
        self.file_secret = secrets.token_bytes(32)
        self._report_waiters: dict[tuple[str, str, int], list[asyncio.Future[Report]]] = {}

    # -- lookups --------------------------------------------------------------------------

    @staticmethod
    def key(identity: str) -> str:
        """The key of a station: its identity, case-folded (one record per station however a
        reconnect spells it)."""
        return identity.casefold()

    def station(self, identity: str) -> StationRecord | None:
        """The record of the station `identity`, if it ever connected."""
        return self.stations.get(identity.casefold())

    def transaction(self, identity: str, transaction_id: int | str) -> TransactionRecord | None:
        """The transaction `transaction_id` of station `identity`, if known."""
        return self.transactions.get((identity.casefold(), transaction_id))

    def active_transactions(self, identity: str | None = None) -> list[TransactionRecord]:
        """The transactions that have not ended, of one station or of all."""
        if identity is not None:
            keys: Iterable[TransactionKey] = self._active.get(identity.casefold(), ())
        else:
            keys = itertools.chain.from_iterable(self._active.values())
        return [self.transactions[key] for key in keys]

    def missing(self, identity: str, transaction_id: int | str) -> bool:
        """Whether a transaction must be loaded (`load_transaction`) before a message about it
        is handled: never for this in-memory state, which holds all it knows."""
        return False

    async def load_transaction(self, identity: str, transaction_id: int | str) -> bool:
        """Bring a transaction kept elsewhere into memory (a stored state's); return whether
        it exists."""
        return (identity.casefold(), transaction_id) in self.transactions

    def barrier(self) -> Any:
        """What the answers to the messages handled until now must wait for before they are
        sent (a stored state's commit, as an awaitable future), or None: nothing."""
        return None

    def _station(self, identity: str, version: str | None = None) -> StationRecord:
        # The record of a station (made if new) that the caller is about to change.
        key = identity.casefold()
        record = self.stations.get(key)
        if record is None:
            record = self.stations[key] = StationRecord(identity, version or "")
        elif version:
            record.version = version
        self._station_changed(key, record)
        return record

    def _station_changed(self, key: str, record: StationRecord) -> None:
        """Called whenever the record of a station (`key`: its case-folded identity) changes,
        or is about to within the same call: nothing here; a stored state writes the record
        with its next commit (`ocppfast.csms.store`)."""

    # -- connection ---------------------------------------------------------------------

    def station_connected(
        self, identity: str, version: str, now: datetime.datetime
    ) -> StationRecord:
        """A station connected with OCPP `version`. Under the "open" and "pending" policies an
        unregistered station is registered now, Accepted or Pending."""
        record = self._station(identity, version)
        record.connections += 1
        record.connected_at = record.last_seen = now
        if not record.registered and self.registration_policy != "known":
            record.registered = True
            record.approval = "Pending" if self.registration_policy == "pending" else "Accepted"
        return record

    def station_disconnected(self, identity: str, now: datetime.datetime) -> None:
        """The connection of station `identity` ended."""
        key = identity.casefold()
        record = self.stations.get(key)
        if record is not None:
            record.connections = max(0, record.connections - 1)
            record.disconnected_at = now
            self._station_changed(key, record)

    def seen(self, identity: str, now: datetime.datetime) -> None:
        """Station `identity` sent something: it is alive (C16 4.6: the Central System "SHOULD
        assume availability of a Charge Point whenever a PDU has been received")."""
        self._station(identity).last_seen = now

    # -- provisioning ---------------------------------------------------------------------

    def admits(self, identity: str) -> bool:
        """Whether a station may connect (checked before the WebSocket upgrade): under the
        "known" policy only registered stations may; under the others, any."""
        if self.registration_policy != "known":
            return True
        record = self.stations.get(identity.casefold())
        return record is not None and record.registered

    def register_station(self, identity: str, approval: str = "Accepted") -> StationRecord:
        """Register a station (or change the decision on a registered one): its boots are
        answered `approval`."""
        if approval not in REGISTRATION_STATUSES:
            raise ValueError(f"approval is one of {', '.join(REGISTRATION_STATUSES)}")
        record = self._station(identity)
        record.registered = True
        record.approval = approval
        return record

    def unregister_station(self, identity: str) -> bool:
        """Forget that a station is registered, and its password; what it sent is kept (a
        station registered again finds its history). Return whether it was registered."""
        key = identity.casefold()
        record = self.stations.get(key)
        self.credentials.remove(identity)
        if record is None:
            return False
        self._station_changed(key, record)  # the password went, registered or not
        if not record.registered:
            return False
        record.registered = False
        record.approval = None
        record.registration_status = None
        return True

    def set_password(self, identity: str, password: PasswordRecord | None) -> None:
        """Set (a hash made by `Credentials.hash_password`) or remove the Basic auth password
        of a station: with one, the station must authenticate with it."""
        if password is None:
            self.credentials.remove(identity)
        else:
            self.credentials.set_record(identity, password)

    def set_pending_password(self, identity: str, password: PasswordRecord | None) -> None:
        """Password rotation (SW A01): accept `password` as well as the current one until the
        station authenticates with it (then the old one is forgotten: `Credentials.promote`);
        None: forget the pending one (the station rejected it, A01.FR.03)."""
        self.credentials.set_pending(identity, password)

    # -- security profiles (SW A00.FR.002, A05.FR.09, A00.FR.005) -------------------------

    def security_profile(self, identity: str) -> int | None:
        """The lowest security profile station `identity` may connect with, None when not
        yet known (`Server` refuses a connection below it: A05.FR.09)."""
        record = self.stations.get(identity.casefold())
        return record.security_profile if record is not None else None

    def connected_with_profile(self, identity: str, profile: int) -> None:
        """Station `identity` was accepted on a connection of security `profile`: the first
        one sets its profile, a higher one raises it (after an A05 upgrade); a lower one never
        lowers it (A00.FR.005: not via OCPP)."""
        record = self.stations.get(identity.casefold())
        previous = record.security_profile if record is not None else None
        if previous is not None and profile <= previous:
            return
        self._station(identity).security_profile = profile
        if previous is not None:
            _log.info(
                "security profile of %r raised from %d to %d: it connected with it (SW A05); "
                "connections below it are refused from now on (A05.FR.09)",
                identity,
                previous,
                profile,
            )

    def set_security_profile(self, identity: str, profile: int | None) -> int | None:
        """The operator sets the lowest profile `identity` may connect with (None: unknown,
        the next accepted connection sets it); return the previous one. Lowering it is only
        done this way, never through OCPP (A00.FR.005), and is logged."""
        if profile is not None and profile not in SECURITY_PROFILES:
            raise ValueError("a security profile is 0, 1, 2 or 3")
        record = self._station(identity)
        previous = record.security_profile
        record.security_profile = profile
        if previous is not None and (profile is None or profile < previous):
            _log.warning(
                "security profile of %r lowered from %d to %s by the operator (A00.FR.005): "
                "connections of that profile are accepted again",
                record.identity,
                previous,
                "unknown" if profile is None else profile,
            )
        elif profile != previous:
            _log.info("security profile of %r set to %s by the operator", record.identity, profile)
        return previous

    def acceptance(self, identity: str) -> str:
        """Whether the CSMS accepts the station's messages now: the answer to its last boot,
        else the operator's decision, else "Accepted" (C16 4.2, B02/B03)."""
        record = self.stations.get(identity.casefold())
        if record is None or not record.registered:
            # Not (or no longer) registered: what the policy gives a station it does not know.
            return "Accepted" if self.registration_policy == "open" else "Pending"
        return record.registration_status or record.approval or "Accepted"

    def registration_status(self, identity: str, boot: BootInfo) -> str:
        """Whether to accept the booting station: "Accepted", "Pending" or "Rejected": the
        operator's decision on it (`register_station`), else the policy's default."""
        record = self.stations.get(identity.casefold())
        if record is not None and record.approval is not None:
            return record.approval
        return "Pending" if self.registration_policy != "open" else "Accepted"

    def boot(
        self, identity: str, version: str, boot: BootInfo, now: datetime.datetime
    ) -> tuple[str, int]:
        """Record a BootNotification; return the registration status and the interval to give
        (the heartbeat interval when accepted, else the retry interval: C16 4.2)."""
        record = self._station(identity, version)
        status = self.registration_status(identity, boot)
        record.boot = boot
        record.booted_at = record.last_seen = now
        record.registration_status = status
        interval = self.heartbeat_interval if status == "Accepted" else self.boot_retry_interval
        return status, interval

    def heartbeat(self, identity: str, now: datetime.datetime) -> None:
        """Record a Heartbeat."""
        record = self._station(identity)
        record.last_heartbeat = record.last_seen = now

    def connector_status(
        self,
        identity: str,
        evse_id: int,
        connector_id: int,
        status: ConnectorStatus,
    ) -> ConnectorStatus | None:
        """Record the status of a connector; return the one it replaces, if any."""
        connectors = self._station(identity).connectors
        key = (evse_id, connector_id)
        previous = connectors.get(key)
        connectors[key] = status
        return previous

    def operation_status(
        self,
        identity: str,
        operation: str,
        status: str,
        request_id: int | None,
        now: datetime.datetime,
    ) -> OperationStatus | None:
        """Record the status of a long-running operation ("firmware", "diagnostics", "log",
        "publish_firmware"); return the one it replaces, if any."""
        operations = self._station(identity).entries("operations")
        previous = operations.get(operation)
        operations[operation] = OperationStatus(status, request_id, now)
        followed = self._followed(identity, operation, request_id)
        if followed is not None:
            followed.statuses.append(StatusEntry(status, now))
            self._item_changed("operation", identity, followed.id, followed)
        return previous

    def _followed(self, identity: str, operation: str, request_id: int | None) -> Operation | None:
        """The operator's operation a status notification is about: the one of its requestId
        (2.x, 1.6 signed firmware and GetLog), else (1.6 FirmwareStatusNotification and
        DiagnosticsStatusNotification carry none) the station's latest operation of that kind
        started with a message without requestId (C16 4.4, 4.5: one at a time)."""
        kind = OPERATION_OF.get(operation)
        if kind is None:
            return None
        mine = self.operations.get(identity.casefold(), {})
        if request_id is not None:
            found = mine.get(request_id)
            return found if found is not None and found.kind == kind else None
        for candidate in reversed(mine.values()):
            if candidate.kind == kind:
                return candidate if candidate.request_id is None else None
        return None

    # -- operations, reservations, charging profiles (ocppfast.csms.operations) --------------

    def _item_changed(self, kind: str, identity: str, item_id: int, item: Any) -> None:
        """Called when an operation, reservation or profile (`kind`: "operation",
        "reservation", "profile") of a station changed (`item` None: removed): nothing here; a
        stored state writes it with its next commit."""

    def add_operation(self, operation: Operation) -> None:
        """Follow a firmware update or log upload an operator started (its id unique among
        the station's: `new_id`)."""
        self.operations.setdefault(operation.identity.casefold(), {})[operation.id] = operation
        self._item_changed("operation", operation.identity, operation.id, operation)

    def operation(self, identity: str, operation_id: int) -> Operation | None:
        """The operation `operation_id` of station `identity`, if any."""
        return self.operations.get(identity.casefold(), {}).get(operation_id)

    def operation_changed(self, operation: Operation) -> None:
        """The operation was changed by its owner (its answer, an upload): keep it."""
        self._item_changed("operation", operation.identity, operation.id, operation)

    def operation_upload(self, operation: Operation, upload: Upload) -> None:
        """A station uploaded a file for `operation`."""
        operation.uploads.append(upload)
        self.operation_changed(operation)

    def new_id(self, identity: str, kind: str) -> int:
        """A random positive 31-bit id that no operation (`kind` "operation") or reservation
        ("reservation") of the station has: unguessable, so that an id in a URL or a
        requestId says nothing of another one."""
        taken = (self.operations if kind == "operation" else self.reservations).get(
            identity.casefold(), {}
        )
        while True:
            candidate = secrets.randbelow(2**31 - 1) + 1
            if candidate not in taken:
                return candidate

    def add_reservation(self, reservation: Reservation) -> None:
        """Follow a reservation (a new one, or one that replaces the one of its id: C16 5.13
        "If the reservationId ... matches a reservation in the Charge Point, then the Charge
        Point SHALL replace that reservation")."""
        key = reservation.identity.casefold()
        self.reservations.setdefault(key, {})[reservation.id] = reservation
        self._item_changed("reservation", reservation.identity, reservation.id, reservation)

    def reservation(self, identity: str, reservation_id: int) -> Reservation | None:
        """The reservation `reservation_id` of station `identity`, if the CSMS made it."""
        return self.reservations.get(identity.casefold(), {}).get(reservation_id)

    def reservation_status(
        self,
        identity: str,
        reservation_id: int,
        status: str,
        now: datetime.datetime,
        transaction_id: int | str | None = None,
    ) -> Reservation | None:
        """A reservation's new status (its answer, Cancelled, Used by `transaction_id`, 2.x
        ReservationStatusUpdate Expired / Removed); None for one the CSMS did not make."""
        reservation = self.reservation(identity, reservation_id)
        if reservation is None:
            return None
        reservation.status = status
        reservation.updated_at = now
        if transaction_id is not None:
            reservation.transaction_id = transaction_id
        self._item_changed("reservation", identity, reservation_id, reservation)
        return reservation

    def profile_set(
        self, identity: str, connector_id: int, profile: dict[str, Any], now: datetime.datetime
    ) -> None:
        """A 1.6 station accepted SetChargingProfile: keep the profile, dropping the ones it
        replaces (`ProfileRecord.replaced_by`)."""
        mine = self.profiles.setdefault(identity.casefold(), {})
        for old in [p for p in mine.values() if p.replaced_by(connector_id, profile)]:
            del mine[old.id]
            self._item_changed("profile", identity, old.id, None)
        record = ProfileRecord(connector_id=connector_id, profile=profile, set_at=now)
        mine[record.id] = record
        self._item_changed("profile", identity, record.id, record)

    def profiles_cleared(
        self,
        identity: str,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> list[int]:
        """A 1.6 station accepted ClearChargingProfile: drop what it cleared; return their ids."""
        mine = self.profiles.get(identity.casefold(), {})
        gone = [
            p.id for p in mine.values() if p.matches(profile_id, connector_id, purpose, stack_level)
        ]
        for profile in gone:
            del mine[profile]
            self._item_changed("profile", identity, profile, None)
        return gone

    def _transaction_ended(self, record: TransactionRecord) -> None:
        # C16 3.13.1 TxProfile: "the profile SHALL only be valid during the transaction" and
        # is removed with it: a 1.6 transaction's TxProfile leaves the station's list.
        if record.version != "ocpp1.6":
            return
        mine = self.profiles.get(record.identity.casefold())
        if not mine:
            return
        for profile in [
            p
            for p in mine.values()
            if p.profile.get("chargingProfilePurpose") == "TxProfile"
            and p.profile.get("transactionId") in (None, record.transaction_id)
            and p.connector_id == record.connector_id
        ]:
            del mine[profile.id]
            self._item_changed("profile", record.identity, profile.id, None)

    def _reservation_used(self, record: TransactionRecord) -> None:
        # C16 5.13 / H01: a transaction started with the reservation's id uses it up.
        if record.reservation_id is not None:
            self.reservation_status(
                record.identity,
                record.reservation_id,
                "Used",
                record.started_at or datetime.datetime.now(datetime.timezone.utc),
                record.transaction_id,
            )

    def wait_report(self, identity: str, kind: str, request_id: int) -> asyncio.Future[Report]:
        """A future of the report (`kind`: ReportChargingProfiles, NotifyDisplayMessages, ...)
        of `request_id`, set once its last part (tbc false) arrived. Ask for it before sending
        the request, so that no part can come first; cancel it if the request fails."""
        future: asyncio.Future[Report] = asyncio.get_running_loop().create_future()
        key = (identity.casefold(), kind, request_id)
        self._report_waiters.setdefault(key, []).append(future)
        future.add_done_callback(lambda done: self._forget_waiter(key, done))
        return future

    def _forget_waiter(self, key: tuple[str, str, int], future: asyncio.Future[Report]) -> None:
        waiters = self._report_waiters.get(key)
        if waiters is not None and future in waiters:
            waiters.remove(future)
            if not waiters:
                del self._report_waiters[key]

    # -- authorization ----------------------------------------------------------------------

    def authorize(self, identity: str, id_token: str, token_type: str | None, version: str) -> str:
        """The authorization status of `id_token` presented at station `identity` now, as a
        value of `version`'s AuthorizationStatus enumeration."""
        now = datetime.datetime.now(datetime.timezone.utc)
        return self.authorization(identity, id_token, token_type, version, now)[0]

    def authorization(
        self,
        identity: str,
        id_token: str,
        token_type: str | None,
        version: str,
        now: datetime.datetime,
    ) -> tuple[str, IdTokenRecord | None]:
        """`authorize()` at `now`, with what is stored of the token (None: nothing), which an
        answer's IdTagInfo/IdTokenInfo carries: one lookup for both, and the caller's clock."""
        record = self.tokens.get(id_token.casefold())
        status = self.default_token_status if record is None else record.status_at(now)
        if version == "ocpp1.6" and status not in _V16_AUTH_STATUSES:
            status = "Invalid"
        return status, record

    def token(self, id_token: str) -> IdTokenRecord | None:
        """What is known of `id_token` (case-insensitively), if anything."""
        return self.tokens.get(id_token.casefold())

    def set_token(self, record: IdTokenRecord) -> None:
        """Add or replace an id token."""
        self.tokens[record.id_token.casefold()] = record

    def delete_token(self, id_token: str) -> bool:
        """Forget an id token; return whether it was known."""
        return self.tokens.pop(id_token.casefold(), None) is not None

    # -- transactions -----------------------------------------------------------------------

    def _transaction(
        self, identity: str, transaction_id: int | str, version: str
    ) -> tuple[TransactionRecord, bool]:
        station = self._station(identity)
        key: TransactionKey = (identity.casefold(), transaction_id)
        record = self.transactions.get(key)
        if record is not None:
            return record, False
        record = TransactionRecord(
            station.identity,
            transaction_id,
            version,
            samples=collections.deque(maxlen=self.max_samples),
        )
        self.transactions[key] = record
        self._active.setdefault(key[0], set()).add(key)
        return record, True

    def _end(self, record: TransactionRecord) -> None:
        if record.ended:
            return
        record.ended = True
        self._transaction_ended(record)
        key: TransactionKey = (record.identity.casefold(), record.transaction_id)
        active = self._active.get(key[0])
        if active is not None:
            active.discard(key)
        self._finished.append((key, record))
        while len(self._finished) > self.max_finished_transactions:
            old, dropped = self._finished.popleft()
            if self.transactions.get(old) is dropped:
                del self.transactions[old]

    def start_transaction(
        self,
        identity: str,
        connector_id: int,
        id_tag: str,
        meter_start: int,
        timestamp: datetime.datetime,
        reservation_id: int | None = None,
    ) -> tuple[TransactionRecord, bool]:
        """1.6 StartTransaction: assign a new transaction id; return the record and whether it
        is new. A repeated request (the same connector, idTag, meterStart and timestamp of a live
        transaction) gets the same transaction back: a station repeats a StartTransaction whose
        answer it did not get (C16 3.7.1, 4.8), and must not end up with two transactions."""
        key = identity.casefold()
        at = _utc(timestamp)
        for active in self._active.get(key, ()):
            record = self.transactions[active]
            if (
                record.version == "ocpp1.6"
                and record.connector_id == connector_id
                and record.started_at == at
                and record.meter_start == meter_start
                and record.id_token is not None
                and record.id_token.casefold() == id_tag.casefold()
            ):
                return record, False
        record, _ = self._transaction(identity, self.transaction_ids.next(), "ocpp1.6")
        record.connector_id = connector_id
        record.id_token = id_tag
        record.meter_start = float(meter_start)
        record.started_at = at
        record.reservation_id = reservation_id
        self._reservation_used(record)
        return record, True

    def stop_transaction(
        self,
        identity: str,
        transaction_id: int,
        meter_stop: int,
        timestamp: datetime.datetime,
        reason: str | None = None,
        id_tag: str | None = None,
        samples: Iterable[Sample] = (),
    ) -> tuple[TransactionRecord | None, bool]:
        """1.6 StopTransaction: end the transaction; return the record and whether this ended
        it (False for a repeat). A transaction this station does not have (another station's,
        or one never started) is not touched: (None, False); the answer still goes out, as the
        Central System "cannot prevent a transaction from stopping" (C16 4.10)."""
        record = self.transactions.get((identity.casefold(), transaction_id))
        if record is None:
            return None, False
        if record.ended:  # a repeat of a StopTransaction whose answer was lost (C16 3.7.1)
            return record, False
        record.add_samples(samples)
        record.meter_stop = float(meter_stop)
        record.ended_at = _utc(timestamp)
        record.stop_reason = reason or _DEFAULT_STOP_REASON
        if id_tag is not None and (
            record.id_token is None or id_tag.casefold() != record.id_token.casefold()
        ):
            record.stop_id_token = id_tag
        self._end(record)
        return record, True

    def transaction_event(
        self, identity: str, version: str, event: TransactionEventData
    ) -> tuple[TransactionRecord, bool]:
        """2.0.1/2.1 TransactionEvent: record the event; return the record and whether the event
        is new (False: a repeat of a seqNo already received, whose samples are not kept twice).

        Events may arrive out of order: queued ones after a later Ended (P6 TC_E_31_CSMS), an
        Updated of a transaction whose Started never came. Each is recorded as it is; an ended
        transaction stays ended."""
        key: TransactionKey = (identity.casefold(), event.transaction_id)
        record = self.transactions.get(key)
        if (
            record is not None
            and record.ended
            and event.event_type == "Started"
            and record.started_at is not None
            and record.started_at != _utc(event.timestamp)
        ):
            # A new transaction under the id of a finished one (a station whose id counter
            # restarted): the finished one is superseded, not reopened.
            del self.transactions[key]
            record = None
        if record is None:
            record, _ = self._transaction(identity, event.transaction_id, version)
        if event.seq_no in record.seq_nos:
            return record, False
        # Only the newest event (by seqNo, which numbers them in chronological order: P6
        # general rules) says the current charging state; a queued one that arrives late does not.
        newest = record.last_seq_no is None or event.seq_no > record.last_seq_no
        if newest:
            record.last_seq_no = event.seq_no
        record.seq_nos.add(event.seq_no)
        at = _utc(event.timestamp)
        if event.event_type == "Started":
            record.started_at = at
        if event.evse_id is not None:
            record.evse_id = event.evse_id
        if event.connector_id is not None:
            record.connector_id = event.connector_id
        if event.id_token is not None:
            if record.id_token is None:
                record.id_token, record.id_token_type = event.id_token, event.id_token_type
            elif (
                event.trigger_reason == "StopAuthorized" or event.event_type == "Ended"
            ) and event.id_token.casefold() != record.id_token.casefold():
                record.stop_id_token = event.id_token
        if event.charging_state is not None and newest:
            record.charging_state = event.charging_state
        if event.remote_start_id is not None:
            record.remote_start_id = event.remote_start_id
        if event.reservation_id is not None and record.reservation_id != event.reservation_id:
            record.reservation_id = event.reservation_id
            self._reservation_used(record)
        record.offline = record.offline or event.offline
        record.add_samples(event.samples)
        if event.event_type == "Ended":
            record.ended_at = at
            record.stop_reason = event.stopped_reason or _DEFAULT_STOP_REASON
            self._end(record)
        return record, True

    def meter_values(
        self,
        identity: str,
        location_id: int,
        transaction_id: int | str | None,
        samples: Iterable[Sample],
    ) -> TransactionRecord | None:
        """MeterValues: keep `samples` with their transaction when we know it, else with the
        station (`location_id`: 1.6 connectorId, 2.x evseId). Return the transaction, if any."""
        record = None
        if transaction_id is not None:
            record = self.transactions.get((identity.casefold(), transaction_id))
        if record is not None:
            record.add_samples(samples)
            return record
        station = self._station(identity)
        kept = station.meter_values
        if not isinstance(kept, collections.deque):
            kept = station.meter_values = collections.deque(maxlen=self.max_samples)
        kept.extend(zip(itertools.repeat(location_id), samples))
        return None

    # -- reports, notifications, event streams ---------------------------------------------

    def report(
        self,
        identity: str,
        kind: str,
        request_id: int,
        items: Iterable[Any],
        now: datetime.datetime,
        *,
        seq_no: int | None = None,
        tbc: bool = False,
        generated_at: datetime.datetime | None = None,
    ) -> Report:
        """Record one part of a report sent in parts (`kind`: the action); return the report."""
        reports = self._station(identity).entries("reports")
        key = (kind, request_id)
        report = reports.get(key)
        if report is None:
            report = reports[key] = Report(kind, request_id, now, now, generated_at)
            while len(reports) > self.history:
                del reports[next(iter(reports))]
        if seq_no is not None:
            if seq_no in report.seq_nos:  # a repeat of a part already received
                return report
            report.seq_nos.add(seq_no)
        report.items.extend(items)
        report.updated_at = now
        if generated_at is not None and report.generated_at is None:
            report.generated_at = generated_at
        report.complete = report.complete or not tbc
        if report.complete:
            for future in list(
                self._report_waiters.get((identity.casefold(), kind, request_id), ())
            ):
                if not future.done():
                    future.set_result(report)
        return report

    def record(self, identity: str, kind: str, data: Any, now: datetime.datetime) -> None:
        """Keep a message of `kind` from station `identity` (the most recent `history` ones)."""
        notifications = self._station(identity).entries("notifications")
        kept = notifications.get(kind)
        if kept is None:
            kept = notifications[kind] = collections.deque(maxlen=self.history)
        kept.append(Notification(now, data))

    async def security_events(
        self, identity: str, *, limit: int = 100, offset: int = 0
    ) -> list[SecurityEvent]:
        """The security events station `identity` reported, newest first (in memory: the last
        `history` ones)."""
        record = self.stations.get(identity.casefold())
        kept = record.notifications.get(_SECURITY_EVENT, ()) if record is not None else ()
        chosen = itertools.islice(reversed(kept), offset, offset + limit)
        return [
            SecurityEvent(
                n.data.type,
                n.data.timestamp,
                n.data.tech_info if isinstance(n.data.tech_info, str) else None,
                n.received_at,
            )
            for n in chosen
        ]

    def open_event_stream(
        self,
        identity: str,
        stream_id: int,
        now: datetime.datetime,
        *,
        variable_monitoring_id: int | None = None,
        interval: int | None = None,
        values_per_message: int | None = None,
    ) -> bool:
        """2.1 OpenPeriodicEventStream: record the stream; return whether it is accepted."""
        self._station(identity).entries("event_streams")[stream_id] = EventStream(
            stream_id, now, variable_monitoring_id, interval, values_per_message
        )
        return True

    def close_event_stream(self, identity: str, stream_id: int, now: datetime.datetime) -> None:
        """2.1 ClosePeriodicEventStream."""
        stream = self._station(identity).event_streams.get(stream_id)
        if stream is not None:
            stream.closed_at = now

    def event_stream_data(
        self,
        identity: str,
        stream_id: int,
        values: int,
        pending: int,
        basetime: datetime.datetime,
        now: datetime.datetime,
    ) -> EventStream:
        """2.1 NotifyPeriodicEventStream (a SEND): count what the stream delivered. A stream
        opened before this server started is recorded from its first message."""
        streams = self._station(identity).entries("event_streams")
        stream = streams.get(stream_id)
        if stream is None:
            stream = streams[stream_id] = EventStream(stream_id, now)
        stream.messages += 1
        stream.values += values
        stream.pending = pending
        stream.last_basetime = basetime
        return stream

    # -- the traffic log and the operator's queries ------------------------------------------

    def log_frame(self, identity: str, direction: str, frame: str, now: datetime.datetime) -> None:
        """Keep a frame of the traffic log (`direction`: "in" from the station, "out" to it);
        redacting what may carry a credential is the caller's job."""
        if self.traffic_limit:
            self._traffic.append(
                FrameRecord(next(self._frame_ids), identity, now, direction, frame)
            )

    async def traffic(
        self, identity: str, *, before: int | None = None, limit: int = 100
    ) -> list[FrameRecord]:
        """The traffic log of a station, newest first: up to `limit` frames, those with an `id`
        below `before` when given (the next page)."""
        key = identity.casefold()
        found: list[FrameRecord] = []
        for frame in reversed(self._traffic):
            if frame.identity.casefold() != key or (before is not None and frame.id >= before):
                continue
            found.append(frame)
            if len(found) >= limit:
                break
        return found

    async def purge_traffic(self, older_than: datetime.datetime) -> int:
        """Drop the frames of the traffic log received before `older_than`; return how many."""
        dropped = 0
        while self._traffic and self._traffic[0].at < older_than:
            self._traffic.popleft()
            dropped += 1
        return dropped

    async def transactions_page(
        self,
        *,
        identity: str | None = None,
        active: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[TransactionRecord]:
        """Transactions, most recently started first (those not started yet last): of one
        station or of all, active or finished or both."""
        key = identity.casefold() if identity is not None else None
        chosen = [
            record
            for (station, _), record in self.transactions.items()
            if (key is None or station == key) and (active is None or record.active == active)
        ]
        chosen.sort(key=_recent_first)
        return chosen[offset : offset + limit]

    async def find_transactions(
        self, transaction_id: str, identity: str | None = None
    ) -> list[TransactionRecord]:
        """The transactions of that id (given as text): of one station, or of any (2.x ids are
        unique only within a station, so several may match)."""
        key = identity.casefold() if identity is not None else None
        return [
            record
            for (station, tx), record in self.transactions.items()
            if str(tx) == transaction_id and (key is None or station == key)
        ]

    async def transaction_samples(
        self, record: TransactionRecord, *, limit: int = 1000, offset: int = 0
    ) -> list[Sample]:
        """The meter values of a transaction, in order of arrival."""
        return list(itertools.islice(record.samples, offset, offset + limit))


def _recent_first(record: TransactionRecord) -> tuple[bool, float, str]:
    started = record.started_at
    return (started is None, -started.timestamp() if started else 0.0, str(record.transaction_id))
