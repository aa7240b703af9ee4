"""The simulated OCPP 1.6 charging station ("Charge Point" in C16).

`Station16` is the `Handlers` of a station-side `Connection`. One instance lives as long as the
station: a client hands it to each new connection (after a network drop, after a Reset), and the
station's state (configuration keys, connector availability, running transactions, the energy
meters, the authorization cache) survives. On each connection the station boots (C16 4.2), then
heartbeats, reports its connectors' status and meters its transactions; it answers every CALL a
Central System can send in 1.6 and its security extension (SW).

The simulated EV is driven through the public API (`plug_in`, `unplug`, `authorize`,
`start_transaction`, `stop_transaction`) or by the Central System (RemoteStartTransaction plugs it
in and starts charging). While charging, the connector's energy register grows at
`StationConfig.power_w`, measured on the injected clock, so a test that moves its clock gets
exact meter readings.

Profiles (C16 3.3, reported in SupportedFeatureProfiles): Core and RemoteTrigger. The others
are answered the way a charger without them answers (Rejected / NotSupported / Unknown status,
GetLocalListVersion -1), and UpdateFirmware, whose response has no status, with the CALLERROR
NotSupported.

Spec keys: C16 (OCPP 1.6 edition 2), C16E (its errata sheet), SW (the 1.6 security whitepaper,
edition 2), J16 / J16E (OCPP-J 1.6 and its errata).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from msgspec import UNSET, UnsetType

from .. import v16
from ..asyncio.handlers import Handlers, after, maybe_await, on
from ..exceptions import (
    ActionNotSupportedError,
    CallTimeoutError,
    OCPPError,
    SessionClosedError,
)
from .config import StationConfig, StationError
from .store import StationData

__all__ = [
    "MEASURANDS",
    "NOMINAL_VOLTAGE",
    "PHASES",
    "Station16",
    "StationError",
    "Transaction",
]

_log = logging.getLogger("ocppfast.station")

# The simulated electrical installation: a three-phase connection at 230 V phase-to-neutral.
PHASES = 3
NOMINAL_VOLTAGE = 230.0
_LINE_VOLTAGE = NOMINAL_VOLTAGE * math.sqrt(3)

# Seconds to wait before the next BootNotification when the Central System answers Pending or
# Rejected with interval 0: "the Charge Point chooses a waiting interval on its own, in a way
# that avoids flooding the Central System with requests" (C16 4.2). Also used after a
# BootNotification got no answer at all.
BOOT_RETRY_DEFAULT = 30.0

# Entries the authorization cache keeps (C16 3.5.1: when full, drop NOT-valid entries first,
# then the oldest valid ones).
AUTHORIZATION_CACHE_SIZE = 1024

_ACCEPTED = v16.AuthorizationStatus.Accepted
_Status = v16.ChargePointStatus
_Context = v16.ReadingContext


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

# C16 9.1.7: the phase rotations a connector can report.
_ROTATIONS = frozenset({"NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR"})


def _no_meter() -> float:
    return 0.0


@dataclass
class Transaction:
    """A transaction running on a connector (C16 4.8).

    `transaction_id` is the id the Central System gave in StartTransaction.conf, `id` the same as
    text; `meter_start` the connector's energy register in Wh when it started; `energy_wh` the
    energy delivered so far (read live from the connector's meter)."""

    connector_id: int
    transaction_id: int
    id_token: str
    meter_start: int
    started_at: datetime
    # idTagInfo.status of StartTransaction.conf ("Accepted", "Blocked", ...).
    authorization: str = "Accepted"
    parent_id_tag: str | None = None
    # Meter values for StopTransaction.req's transactionData (StopTxnSampledData,
    # StopTxnAlignedData; C16 3.16.1, 3.16.2, C16E 3.14).
    transaction_data: list[v16.StopTransactionMeterValue] = field(default_factory=list, repr=False)
    _meter: Callable[[], float] = field(
        default_factory=lambda: _no_meter, repr=False, compare=False
    )

    @property
    def id(self) -> str:
        """The transaction id as text (1.6 ids are integers)."""
        return str(self.transaction_id)

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
    return [
        # C16 9.1 Core profile. AllowOfflineTxForUnknownId, BlinkRepeat, LightIntensity,
        # MaxEnergyOnInvalidId, MinimumStatusDuration and WebSocketPingInterval are optional and
        # absent: their absence says the function is not provided (C16 9, first rule).
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
        _Key("SupportedFeatureProfiles", "Core,RemoteTrigger", "R"),
        _Key("TransactionMessageAttempts", "3", "RW", _integer(1)),
        _Key("TransactionMessageRetryInterval", "60", "RW", seconds),
        _Key("UnlockConnectorOnEVSideDisconnect", "true", "RW", _boolean),
        # SW 7: security profile 1 (HTTP Basic authentication) keys. Certificates (profiles 2
        # and 3, CpoName, CertificateStoreMaxLength, ...) come with the certificate feature.
        _Key("AuthorizationKey", None, "W", _authorization_key),
        _Key("SecurityProfile", "0", "RW", _integer(0, 3)),
    ]


class _Online:
    """What lives as long as one connection: its boot sequence and timers."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.tasks: set[asyncio.Task[Any]] = set()
        self.boot_now = asyncio.Event()
        self.heartbeat: asyncio.Task[Any] | None = None
        self.aligned: asyncio.Task[Any] | None = None
        self.meters: dict[int, asyncio.Task[Any]] = {}

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Station16(Handlers):
    """A simulated OCPP 1.6 charging station; see the module docstring.

    - `config`: identity, build and defaults (`StationConfig`).
    - `clock`: the station's clock (timezone-aware datetimes; default: UTC now). Timestamps and
      the energy meters follow it; timers run on the event loop.
    - `authorization_key`: the HTTP Basic password the station connects with, if any (the
      AuthorizationKey, SW 7.2); `security_profile`: the profile it connects with (SW 7.6;
      default 1 with a key, else 0).

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
        self.clock: Callable[[], datetime] = clock or _utc_now
        self.log = _log
        self.registration: str = ""
        self.booted = asyncio.Event()
        # Clear while a BootNotification.req waits for its answer.
        self._boot_settled = asyncio.Event()
        self._boot_settled.set()
        # Accepted by the Central System since the last (simulated) reboot: a reconnection then
        # sends no BootNotification (J16 5.4).
        self._boot_accepted = False
        self._keys: dict[str, _Key] = {key.name.lower(): key for key in _default_keys(config)}
        if authorization_key is not None:
            self._keys["authorizationkey"].value = _authorization_key(authorization_key)
        profile = security_profile if security_profile is not None else int(bool(authorization_key))
        if not 0 <= profile <= 3 or (profile in (1, 2) and authorization_key is None):
            raise ValueError(f"security profile {profile} needs an authorization_key (SW 2.3)")
        self._keys["securityprofile"].value = str(profile)
        self.password_changed: Callable[[str | None], Any] | None = None
        self._connectors = [_Connector(i) for i in range(config.connectors + 1)]
        self._cache: dict[str, v16.IdTagInfo] = {}
        # StopTransaction.req that could not be delivered (offline): sent after the next
        # accepted boot, in order (C16 3.7).
        self._queued_stops: list[v16.StopTransactionRequest] = []
        self._sessions: list[_Online] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._transaction_lock = asyncio.Lock()
        # Between a handler's answer and its after-hook: what the hook still has to do.
        self._remote_starts: dict[int, int] = {}
        self._unlock_stops: dict[int, v16.StopTransactionRequest] = {}
        self._reconnect_after: dict[int, str] = {}

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
        """Change a configuration key as ChangeConfiguration.req does (C16 5.3) and return the
        status: "Accepted", "Rejected" (read-only key, invalid value) or "NotSupported"
        (unknown key)."""
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
        if c.transaction is None:
            c.finishing = False
            self._arm_connection_timeout(c)
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
                await self._send_stop(stop)
            else:
                # C16 4.10: the transaction goes on and the cable stays locked.
                c.ev_disconnected = True
                c.info = "EV side disconnected"
        await self._update(*self._connectors)

    async def authorize(self, id_token: str) -> bool:
        """Authorize an id tag (C16 4.1): from the authorization cache when LocalPreAuthorize
        allows it (C16 3.5), else with Authorize.req. Raises `StationError` when the station
        cannot ask the Central System (offline, not accepted)."""
        if len(id_token) > 20:
            raise ValueError("an idTag has at most 20 characters (C16 7.15 CiString20Type)")
        cached = self._cached(id_token)
        if cached is not None and cached.status == _ACCEPTED and self._bool("LocalPreAuthorize"):
            self.log.info("%s: id tag %s authorized from the cache", self.name, id_token)
            return True
        try:
            response = await self._call(v16.AuthorizeRequest(id_tag=id_token))
        except (CallTimeoutError, SessionClosedError, OCPPError) as error:
            raise StationError(f"could not authorize {id_token}: {error}") from error
        info: v16.IdTagInfo = response.id_tag_info
        self._remember(id_token, info)
        accepted = info.status == _ACCEPTED
        self.log.info(
            "%s: id tag %s %s", self.name, id_token, "authorized" if accepted else info.status.value
        )
        return accepted

    async def start_transaction(
        self, connector_id: int, id_token: str, *, authorize: bool = True
    ) -> str:
        """Start a transaction on a connector for an id tag and return its id (C16 4.8).

        With `authorize` (a local start) the id tag is authorized first (C16 4.1); the
        simulated EV is plugged in if it is not. Raises `StationError` when the connector is
        busy or unavailable, the id tag is refused, or StartTransaction.req is not answered."""
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
        "Remote", "EVDisconnected", ...). Raises `StationError` when none runs there."""
        c = self._connector(connector_id)
        if c.transaction is None:
            raise StationError(f"no transaction runs on connector {connector_id}")
        stop = self._end_transaction(c, v16.Reason(reason))
        await self._send_stop(stop)
        await self._update(*self._connectors)

    async def shutdown(self, reason: str = "Other") -> None:
        """Stop every transaction (with `reason`, C16 7.36) and close the connection (code
        1000): what the simulator does before it exits."""
        for c in self._connectors[1:]:
            self._disarm_connection_timeout(c)
            if c.transaction is not None:
                await self._send_stop(self._end_transaction(c, v16.Reason(reason)))
                self._recompute(c)
        connection = self._connection()
        if connection is not None:
            await connection.close(1000, "station shutting down")

    # -- connection life cycle ---------------------------------------------------------------

    def connected(self) -> None:
        """A connection runs: boot (C16 4.2) unless the Central System accepted this station
        since its last reboot, then heartbeat and meter on it."""
        online = _Online(self.connection)
        self._sessions.append(online)
        self.booted.clear()
        if self._boot_accepted:
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
            self.log.info("%s: disconnected (close code %s)", self.name, code)

    def handlers_for(self, version: str) -> dict[str, Callable[[Any], Any]]:
        """The handlers, guarded: while the Central System has Rejected the station, no CALL of
        it is answered (C16 4.2: "While Rejected, the Charge Point SHALL NOT respond to any
        Central System initiated message")."""
        routes = super().handlers_for(version)
        return {action: self._guarded(action, handler) for action, handler in routes.items()}

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
                    self._boot_accepted = True
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
            self._keys["heartbeatinterval"].value = str(response.interval)
        self.log.info(
            "%s: booted: accepted by the Central System (heartbeat interval %d s)",
            self.name,
            self.heartbeat_interval,
        )
        await self._online(online)

    async def _resume(self, online: _Online) -> None:
        """Back online after a lost connection, still accepted: no BootNotification."""
        self.log.info(
            "%s: reconnected; still accepted since the last boot, so no BootNotification (J16 5.4)",
            self.name,
        )
        await self._online(online)

    async def _online(self, online: _Online) -> None:
        """Accepted and connected: report every connector, deliver what waited, run timers."""
        self.booted.set()
        # C16E 3.22: after Accepted, a StatusNotification for connector 0 and every connector.
        for c in self._connectors:
            self._recompute(c)
            await self._send_status(c)
        # C16 3.7: transaction messages queued while offline, in order.
        while self._queued_stops and not online.connection.closed:
            stop = self._queued_stops.pop(0)
            if not await self._deliver_stop(stop, requeue_front=True):
                break
        self._restart_heartbeat(online)
        self._restart_aligned(online)
        for c in self._connectors[1:]:
            if c.transaction is not None:
                self._restart_meter(online, c)

    # -- CSMS-initiated actions (C16 chapter 5, SW chapter 5) -------------------------------

    @on(v16.CancelReservationRequest)
    def _cancel_reservation(
        self, request: v16.CancelReservationRequest
    ) -> v16.CancelReservationResponse:
        # C16 5.1: no reservation matches (this station takes none, ReserveNow below): Rejected.
        self._refused("CancelReservation", "Rejected", f"no reservation {request.reservation_id}")
        return v16.CancelReservationResponse(status=v16.CancelReservationStatus.Rejected)

    @on(v16.CertificateSignedRequest)
    def _certificate_signed(
        self, request: v16.CertificateSignedRequest
    ) -> v16.CertificateSignedResponse:
        self._refused("CertificateSigned", "Rejected", "certificates come with security profile 3")
        return v16.CertificateSignedResponse(status=v16.CertificateSignedStatusEnum.Rejected)

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
        status = self.change_configuration(request.key, request.value)
        if status == "Accepted":
            shown = "<not shown>" if key == "authorizationkey" else request.value
            self.log.info("%s: configuration %s set to %s", self.name, request.key, shown)
            if reconnect and (key != "securityprofile" or self.security_profile != before):
                self._reconnect_after[id(request)] = request.key
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
            await self.connection.close(1000, f"reconnecting with the new {key}")

    @on(v16.ClearCacheRequest)
    def _clear_cache(self, request: v16.ClearCacheRequest) -> v16.ClearCacheResponse:
        # C16 5.4; C16E 3.23 (Rejected only where no cache is implemented).
        self._cache.clear()
        self.log.info("%s: authorization cache cleared", self.name)
        return v16.ClearCacheResponse(status=v16.ClearCacheStatus.Accepted)

    @on(v16.ClearChargingProfileRequest)
    def _clear_charging_profile(
        self, request: v16.ClearChargingProfileRequest
    ) -> v16.ClearChargingProfileResponse:
        # C16 7.21: Unknown, no charging profile matched (smart charging installs none yet).
        self._refused("ClearChargingProfile", "Unknown", "smart charging comes later")
        return v16.ClearChargingProfileResponse(status=v16.ClearChargingProfileStatus.Unknown)

    @on(v16.DataTransferRequest)
    def _data_transfer(self, request: v16.DataTransferRequest) -> v16.DataTransferResponse:
        # C16 4.3 / 5.6: no vendor extension here: UnknownVendorId, without data.
        self._refused("DataTransfer", "UnknownVendorId", f"vendor {request.vendor_id!r}")
        return v16.DataTransferResponse(status=v16.DataTransferStatus.UnknownVendorId)

    @on(v16.DeleteCertificateRequest)
    def _delete_certificate(
        self, request: v16.DeleteCertificateRequest
    ) -> v16.DeleteCertificateResponse:
        # SW 5.4: no certificate is installed, so none matches.
        self._refused("DeleteCertificate", "NotFound", "certificates come with security profiles")
        return v16.DeleteCertificateResponse(status=v16.DeleteCertificateStatusEnum.NotFound)

    @on(v16.ExtendedTriggerMessageRequest)
    def _extended_trigger(
        self, request: v16.ExtendedTriggerMessageRequest
    ) -> v16.ExtendedTriggerMessageResponse:
        message = request.requested_message
        status = v16.TriggerMessageStatusEnum.Accepted
        why = ""
        if message == v16.MessageTriggerEnum.SignChargePointCertificate:
            status, why = v16.TriggerMessageStatusEnum.NotImplemented, "no certificates yet"
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
        self._refused("GetCompositeSchedule", "Rejected", "smart charging comes later")
        return v16.GetCompositeScheduleResponse(status=v16.GetCompositeScheduleStatus.Rejected)

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
        # C16 5.9: "If no diagnostics file is available, then GetDiagnostics.conf SHALL NOT
        # contain a file name." Uploads come with the firmware management profile.
        self._refused("GetDiagnostics", "no file", "diagnostics upload comes later")
        return v16.GetDiagnosticsResponse()

    @on(v16.GetInstalledCertificateIdsRequest)
    def _get_installed_certificate_ids(
        self, request: v16.GetInstalledCertificateIdsRequest
    ) -> v16.GetInstalledCertificateIdsResponse:
        return v16.GetInstalledCertificateIdsResponse(
            status=v16.GetInstalledCertificateStatusEnum.NotFound
        )

    @on(v16.GetLocalListVersionRequest)
    def _get_local_list_version(
        self, request: v16.GetLocalListVersionRequest
    ) -> v16.GetLocalListVersionResponse:
        # C16 5.10: -1 says the Charge Point does not support Local Authorization Lists.
        return v16.GetLocalListVersionResponse(list_version=-1)

    @on(v16.GetLogRequest)
    def _get_log(self, request: v16.GetLogRequest) -> v16.GetLogResponse:
        self._refused("GetLog", "Rejected", "log upload comes later")
        return v16.GetLogResponse(status=v16.LogStatusEnum.Rejected)

    @on(v16.InstallCertificateRequest)
    def _install_certificate(
        self, request: v16.InstallCertificateRequest
    ) -> v16.InstallCertificateResponse:
        self._refused("InstallCertificate", "Rejected", "certificates come later")
        return v16.InstallCertificateResponse(status=v16.InstallCertificateStatusEnum.Rejected)

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
            why = self._busy(c)
            if why:
                self._refused("RemoteStartTransaction", "Rejected", f"connector {cid} {why}")
                return rejected
        else:
            # C16 5.11: without a connector id the Charge Point chooses: a free one where an EV
            # waits (plugged in), else any free one.
            free = [c for c in self._connectors[1:] if not self._busy(c)]
            free.sort(key=lambda c: not c.plugged)
            if not free:
                self._refused("RemoteStartTransaction", "Rejected", "no connector is free")
                return rejected
            c = free[0]
        if request.charging_profile is not UNSET:
            # C16 5.11: a Charge Point without Smart Charging SHOULD ignore the profile.
            self.log.info("%s: RemoteStartTransaction: charging profile ignored", self.name)
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
        try:
            # C16 5.11: authorize first when AuthorizeRemoteTxRequests is true.
            await self._start(c, request.id_tag, authorize=self._bool("AuthorizeRemoteTxRequests"))
        except StationError as error:
            self.log.warning("%s: remote start on connector %d failed: %s", self.name, cid, error)
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
        # C16 5.13: Rejected when "configured not to accept reservations".
        self._refused("ReserveNow", "Rejected", "reservations come later")
        return v16.ReserveNowResponse(status=v16.ReservationStatus.Rejected)

    @on(v16.ResetRequest)
    def _reset(self, request: v16.ResetRequest) -> v16.ResetResponse:
        self.log.info("%s: %s reset requested", self.name, request.type.value)
        return v16.ResetResponse(status=v16.ResetStatus.Accepted)

    @after(v16.ResetRequest)
    async def _reset_now(self, request: v16.ResetRequest, response: v16.ResetResponse) -> None:
        # C16 5.14, C16E 3.36: StopTransaction.req for every transaction before the reset
        # (queued when it cannot be delivered); a hard reset need not be graceful, but stopping
        # first loses nothing.
        reason = (
            v16.Reason.SoftReset if request.type == v16.ResetType.Soft else v16.Reason.HardReset
        )
        for c in self._connectors[1:]:
            if c.transaction is not None:
                await self._send_stop(self._end_transaction(c, reason))
                self._recompute(c)  # reported after the reboot (C16E 3.22)
        self._boot_accepted = False  # a reset is a reboot: BootNotification again (C16 4.2)
        self.log.info("%s: resetting: the station boots again on the next connection", self.name)
        await self.connection.close(1000, f"{request.type.value} reset")

    @on(v16.SendLocalListRequest)
    def _send_local_list(self, request: v16.SendLocalListRequest) -> v16.SendLocalListResponse:
        # C16 7.47: NotSupported, the Local Auth List Management profile is not implemented.
        self._refused("SendLocalList", "NotSupported", "local authorization lists come later")
        return v16.SendLocalListResponse(status=v16.UpdateStatus.NotSupported)

    @on(v16.SetChargingProfileRequest)
    def _set_charging_profile(
        self, request: v16.SetChargingProfileRequest
    ) -> v16.SetChargingProfileResponse:
        self._refused("SetChargingProfile", "NotSupported", "smart charging comes later")
        return v16.SetChargingProfileResponse(status=v16.ChargingProfileStatus.NotSupported)

    @on(v16.SignedUpdateFirmwareRequest)
    def _signed_update_firmware(
        self, request: v16.SignedUpdateFirmwareRequest
    ) -> v16.SignedUpdateFirmwareResponse:
        self._refused("SignedUpdateFirmware", "Rejected", "firmware updates come later")
        return v16.SignedUpdateFirmwareResponse(status=v16.UpdateFirmwareStatusEnum.Rejected)

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
            # C16 5.18: finish the transaction first, as in Stop Transaction.
            self._unlock_stops[id(request)] = self._end_transaction(c, v16.Reason.UnlockCommand)
        c.locked = False
        self.log.info("%s: connector %d unlocked", self.name, cid)
        return v16.UnlockConnectorResponse(status=v16.UnlockStatus.Unlocked)

    @after(v16.UnlockConnectorRequest)
    async def _unlocked(
        self, request: v16.UnlockConnectorRequest, response: v16.UnlockConnectorResponse
    ) -> None:
        stop = self._unlock_stops.pop(id(request), None)
        if stop is not None:
            await self._send_stop(stop)
            await self._update(*self._connectors)

    @on(v16.UpdateFirmwareRequest)
    def _update_firmware(self, request: v16.UpdateFirmwareRequest) -> v16.UpdateFirmwareResponse:
        # UpdateFirmware.conf has no status to refuse with: a Charge Point without the Firmware
        # Management profile answers with the CALLERROR NotSupported (J16 4.2.3).
        self._refused("UpdateFirmware", "NotSupported", "firmware updates come later")
        raise ActionNotSupportedError("UpdateFirmware comes with firmware management")

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
                # C16 4.4: Idle, when not busy uploading diagnostics (never, here).
                await self._call(
                    v16.DiagnosticsStatusNotificationRequest(status=v16.DiagnosticsStatus.Idle),
                    triggered=True,
                )
            elif message == "FirmwareStatusNotification" and not extended:
                # C16 4.5: Idle, when not busy downloading/installing firmware.
                await self._call(
                    v16.FirmwareStatusNotificationRequest(status=v16.FirmwareStatus.Idle),
                    triggered=True,
                )
            elif message == "FirmwareStatusNotification":
                # SW L01.FR.28/29: the last status sent; none was, so Idle.
                await self._call(
                    v16.SignedFirmwareStatusNotificationRequest(status=v16.FirmwareStatusEnum.Idle),
                    triggered=True,
                )
            elif message == "LogStatusNotification":
                # SW N01.FR.12: triggered with no upload ongoing: Idle, without requestId.
                await self._call(
                    v16.LogStatusNotificationRequest(status=v16.UploadLogStatusEnum.Idle),
                    triggered=True,
                )
        except (StationError, SessionClosedError):
            pass
        except (CallTimeoutError, OCPPError) as error:
            self.log.warning("%s: triggered %s failed: %s", self.name, message, error)

    async def _send_status(self, c: _Connector, *, triggered: bool = False) -> None:
        """StatusNotification.req with the connector's current status (C16 4.9)."""
        status = c.status if c.status is not None else self._status_of(c)
        request = v16.StatusNotificationRequest(
            connector_id=c.id,
            error_code=v16.ChargePointErrorCode.NoError,
            status=status,
            timestamp=self._now(),
            info=c.info or UNSET,
        )
        with contextlib.suppress(StationError, SessionClosedError):
            try:
                await self._call(request, triggered=triggered)
            except (CallTimeoutError, OCPPError) as error:
                self.log.warning("%s: StatusNotification failed: %s", self.name, error)

    async def _send_meter_values(
        self, c: _Connector, context: v16.ReadingContext, *, triggered: bool = False
    ) -> None:
        """MeterValues.req for one connector (C16 4.7); connector 0 reads the main meter. A
        triggered one carries the MeterValuesSampledData measurands (C16E 3.46)."""
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
            return
        tx = c.transaction
        request = v16.MeterValuesRequest(
            connector_id=c.id,
            # C16E 3.16: the transaction ongoing on that connector; none for the main meter.
            transaction_id=tx.transaction_id if tx is not None else UNSET,
            meter_value=[v16.MeterValue(timestamp=now, sampled_value=values)],
        )
        try:
            if tx is not None and not triggered:
                await self._deliver(request)  # transaction-related (C16 3.7)
            else:
                await self._call(request, triggered=triggered)
        except (CallTimeoutError, OCPPError) as error:
            self.log.warning("%s: MeterValues failed: %s", self.name, error)

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
        """Every MeterValueSampleInterval seconds from the start of the transaction: MeterValues
        (MeterValuesSampledData) and a sample for StopTransaction (StopTxnSampledData); 0 turns
        both off (C16 3.16.1, 9.1.19; C16E 3.15)."""
        while (interval := self._int("MeterValueSampleInterval")) > 0:
            await asyncio.sleep(interval)
            tx = c.transaction
            if tx is None:
                return
            self._record(c, "StopTxnSampledData", _Context.Sample_Periodic)
            try:
                await self._send_meter_values(c, _Context.Sample_Periodic)
            except (StationError, SessionClosedError):
                return

    async def _sample_clock_aligned(self) -> None:
        """Clock-aligned meter values every ClockAlignedDataInterval seconds from midnight
        (C16 3.16.2, 9.1.5; C16E 3.15), for every connector."""
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
                try:
                    await self._send_meter_values(c, _Context.Sample_Clock)
                except (StationError, SessionClosedError):
                    return

    async def _start(self, c: _Connector, id_tag: str, *, authorize: bool) -> str:
        """The rest of a start once the connector is claimed: authorize, plug, StartTransaction."""
        try:
            if authorize and not await self.authorize(id_tag):
                raise StationError(f"id tag {id_tag} was not authorized")
            if not c.plugged:
                c.plugged = True  # the simulated EV plugs in (C16 4.9 A2 / B3)
                c.ev_disconnected = False
            self._disarm_connection_timeout(c)
            now = self._now()
            self._meter(c, now)
            meter_start = round(c.meter_wh)
            request = v16.StartTransactionRequest(
                connector_id=c.id, id_tag=id_tag, meter_start=meter_start, timestamp=now
            )
            try:
                response = await self._deliver(request)
            except (CallTimeoutError, SessionClosedError) as error:
                raise StationError(f"StartTransaction was not answered: {error}") from error
            if response is None:
                raise StationError("the Central System failed to process StartTransaction")
        except BaseException:
            c.starting = False  # the caller reports the status this leaves
            raise
        info: v16.IdTagInfo = response.id_tag_info
        self._remember(id_tag, info)
        tx = Transaction(
            connector_id=c.id,
            transaction_id=response.transaction_id,
            id_token=id_tag,
            meter_start=meter_start,
            started_at=now,
            authorization=info.status.value,
            parent_id_tag=info.parent_id_tag if info.parent_id_tag is not UNSET else None,
            _meter=lambda: self._register(c),
        )
        c.transaction = tx
        c.starting = False
        c.finishing = False
        c.locked = True
        c.metered_at = now
        self.log.info(
            "%s: transaction %s started on connector %d (id tag %s, meter start %d Wh)",
            self.name,
            tx.id,
            c.id,
            id_tag,
            meter_start,
        )
        self._record(c, "", _Context.Transaction_Begin)
        if info.status != _ACCEPTED:
            # C16E 3.17 (C16 3.5.4): the id tag is not accepted while the transaction runs.
            if self._bool("StopTransactionOnInvalidId"):
                self.log.warning(
                    "%s: id tag %s is %s: stopping transaction %s",
                    self.name,
                    id_tag,
                    info.status.value,
                    tx.id,
                )
                stop = self._end_transaction(c, v16.Reason.DeAuthorized)
                c.locked = True  # kept locked until the owner presents the id tag
                await self._send_stop(stop)
                await self._update(*self._connectors)
                return tx.id
            self.log.warning(
                "%s: id tag %s is %s: no energy offered in transaction %s",
                self.name,
                id_tag,
                info.status.value,
                tx.id,
            )
            c.evse_suspended = True
        await self._update(c)
        online = self._live()
        if online is not None:
            self._restart_meter(online, c)
        return tx.id

    def _end_transaction(self, c: _Connector, reason: v16.Reason) -> v16.StopTransactionRequest:
        """End the transaction on `c` here and now; return the StopTransaction.req to send."""
        tx = c.transaction
        assert tx is not None
        now = self._now()
        self._meter(c, now)
        self._record(c, "", _Context.Transaction_End)
        meter_stop = round(c.meter_wh)
        request = v16.StopTransactionRequest(
            transaction_id=tx.transaction_id,
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
        for online in self._sessions:
            task = online.meters.pop(c.id, None)
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        # C16 5.2: a scheduled availability change happens once the transaction has finished.
        if c.scheduled is not None:
            c.operative, c.scheduled = c.scheduled, None
        zero = self._connectors[0]
        if zero.scheduled is not None and not self.transactions:
            zero.operative, zero.scheduled = zero.scheduled, None
        self.log.info(
            "%s: transaction %s stopped on connector %d (%s, %.0f Wh delivered, meter stop %d Wh)",
            self.name,
            tx.id,
            c.id,
            reason.value,
            meter_stop - tx.meter_start,
            meter_stop,
        )
        return request

    async def _send_stop(self, request: v16.StopTransactionRequest) -> None:
        await self._deliver_stop(request, requeue_front=False)

    async def _deliver_stop(
        self, request: v16.StopTransactionRequest, *, requeue_front: bool
    ) -> bool:
        """Deliver a StopTransaction.req, or queue it for the next connection (C16 3.7)."""
        try:
            response = await self._deliver(request)
        except (StationError, CallTimeoutError, SessionClosedError) as error:
            self.log.warning(
                "%s: StopTransaction %d queued until the next connection: %s",
                self.name,
                request.transaction_id,
                error,
            )
            if requeue_front:
                self._queued_stops.insert(0, request)
            else:
                self._queued_stops.append(request)
            return False
        if response is not None and response.id_tag_info is not UNSET and request.id_tag:
            self._remember(str(request.id_tag), response.id_tag_info)
        return True

    async def _deliver(self, request: Any) -> Any:
        """Send a transaction-related message (StartTransaction, StopTransaction, MeterValues):
        one at a time, in order (C16 3.7), retried while the Central System answers with a
        CALLERROR, TransactionMessageAttempts times, TransactionMessageRetryInterval times the
        number of attempts apart (C16 3.7.1, J16E 3.2). Returns None when it gave up."""
        async with self._transaction_lock:
            attempts = self._int("TransactionMessageAttempts")
            for attempt in range(1, attempts + 1):
                try:
                    return await self._call(request)
                except OCPPError as error:
                    if attempt == attempts:
                        self.log.error(
                            "%s: %s not processed after %d attempts; skipped (C16 3.7.1): %s",
                            self.name,
                            type(request).ACTION,
                            attempts,
                            error,
                        )
                        return None
                    wait = self._int("TransactionMessageRetryInterval") * attempt
                    self.log.warning(
                        "%s: %s failed (%s); retry %d in %d s",
                        self.name,
                        type(request).ACTION,
                        error,
                        attempt,
                        wait,
                    )
                    await asyncio.sleep(wait)
            return None

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
        return True

    def _status_of(self, c: _Connector) -> v16.ChargePointStatus:
        """The status that follows from a connector's state (C16 4.9, 7.7)."""
        zero = self._connectors[0]
        if c.id == 0:
            return _Status.Available if zero.operative else _Status.Unavailable
        if c.transaction is not None:
            if c.evse_suspended:
                return _Status.SuspendedEVSE  # has precedence over SuspendedEV (C16 4.9)
            if c.ev_disconnected or not c.plugged:
                return _Status.SuspendedEV
            return _Status.Charging
        if not (c.operative and zero.operative):
            return _Status.Unavailable
        if c.finishing:
            return _Status.Finishing
        if c.plugged or c.starting:
            return _Status.Preparing
        return _Status.Available

    # -- metering ----------------------------------------------------------------------------

    def _meter(self, c: _Connector, now: datetime) -> None:
        """Advance the connector's energy register to `now`."""
        if c.metered_at is not None and self._status_of(c) == _Status.Charging:
            # A clock that steps back delivers nothing rather than negative energy.
            seconds = max(0.0, (now - c.metered_at).total_seconds())
            c.meter_wh += self.config.power_w * seconds / 3600.0
        c.metered_at = now

    def _register(self, c: _Connector) -> float:
        """The connector's energy register now, in Wh."""
        self._meter(c, self._now())
        return c.meter_wh

    def _power(self, c: _Connector) -> tuple[float, float]:
        """(power drawn, power offered) on a connector, in W."""
        status = self._status_of(c)
        drawn = self.config.power_w if status == _Status.Charging else 0.0
        offered = self.config.power_w if c.transaction is not None and not c.evse_suspended else 0.0
        return drawn, offered

    def _sample(
        self, c: _Connector, items: list[str], context: v16.ReadingContext
    ) -> list[v16.SampledValue]:
        """The sampled values of `items` (measurands, optionally with a phase) on connector
        `c`; connector 0 reads the main meter, the sum of the connectors (C16 4.7)."""
        parts = self._connectors[1:] if c.id == 0 else [c]
        energy = sum(x.meter_wh for x in parts)
        drawn = sum(self._power(x)[0] for x in parts)
        offered = sum(self._power(x)[1] for x in parts)
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
                        value=self._reading(name, p, energy, drawn, offered),
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

    # -- authorization cache (C16 3.5.1) -----------------------------------------------------

    def _cached(self, id_tag: str) -> v16.IdTagInfo | None:
        if not self._bool("AuthorizationCacheEnabled"):
            return None
        info = self._cache.get(id_tag)
        if info is None:
            return None
        if (
            info.status == _ACCEPTED
            and info.expiry_date is not UNSET
            and info.expiry_date <= self._now()
        ):
            # "When the validity of a Cache entry expires, it SHALL be changed to expired".
            info = v16.IdTagInfo(
                status=v16.AuthorizationStatus.Expired,
                expiry_date=info.expiry_date,
                parent_id_tag=info.parent_id_tag,
            )
            self._cache[id_tag] = info
        return info

    def _remember(self, id_tag: str, info: v16.IdTagInfo) -> None:
        """Update the cache from any received IdTagInfo (C16 3.5.1, 4.1, 4.8, 4.10)."""
        if not self._bool("AuthorizationCacheEnabled"):
            return
        self._cache.pop(id_tag, None)
        self._cache[id_tag] = info  # insertion order: oldest first
        while len(self._cache) > AUTHORIZATION_CACHE_SIZE:
            invalid = next((k for k, v in self._cache.items() if v.status != _ACCEPTED), None)
            del self._cache[invalid if invalid is not None else next(iter(self._cache))]

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
        if name == "LocalAuthorizeOffline" and canonical == "true":
            return "Rejected", "offline transactions come with the offline queue"
        if name == "SecurityProfile":
            # SW 7.6: only upwards, and only when the new profile's prerequisites are met.
            current = self.security_profile
            wanted = int(canonical)
            if wanted <= current:
                return "Rejected", f"security profile {wanted} is not above {current}"
            if wanted >= 2:
                return "Rejected", "security profiles 2 and 3 (TLS) come later"
            if self.authorization_key is None:
                return "Rejected", "security profile 1 needs an AuthorizationKey first"
        entry.value = canonical
        self._applied(name)
        return "Accepted", ""

    def _applied(self, name: str) -> None:
        """Make a changed key take effect now."""
        online = self._live()
        if online is None or self.registration != v16.RegistrationStatus.Accepted:
            return
        if name == "HeartbeatInterval":
            self._restart_heartbeat(online)
        elif name == "ClockAlignedDataInterval":
            self._restart_aligned(online)
        elif name == "MeterValueSampleInterval":
            for c in self._connectors[1:]:
                if c.transaction is not None:
                    self._restart_meter(online, c)
        elif name == "AuthorizationCacheEnabled" and not self._bool(name):
            self._cache.clear()

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
        if not (c.operative and self._connectors[0].operative):
            return "is unavailable"
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
                self._in_background(self._update(c))

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

    def _restart_aligned(self, online: _Online) -> None:
        if online.aligned is not None:
            online.aligned.cancel()
        online.aligned = self._spawn(online, self._sample_clock_aligned(), "clock-aligned data")

    def _restart_meter(self, online: _Online, c: _Connector) -> None:
        task = online.meters.pop(c.id, None)
        if task is not None:
            task.cancel()
        online.meters[c.id] = self._spawn(
            online, self._sample_periodically(c), f"meter values connector {c.id}"
        )

    def _spawn(
        self, online: _Online, coro: Coroutine[Any, Any, Any], what: str
    ) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(f"{self.name}: {what}")
        online.tasks.add(task)
        task.add_done_callback(online.tasks.discard)
        task.add_done_callback(self._task_done)
        return task

    def _in_background(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log.error("%s: %s failed", self.name, task.get_name(), exc_info=task.exception())
