"""Many simulated charging stations in one process, and the drivers that make them charge: what
`ocppfast station --count N --transactions` runs (docs/station.md).

- `Fleet` runs N stations of one OCPP version (`station_handlers`), each with its own `Client`,
  started at a bounded rate (`connect_rate` per second) so that a CSMS is not flooded with
  handshakes and boots at once. With a `StationStore`, each station gets what it kept
  (`store.load(identity)`); all share the store's group commits.
- `attach` makes a `Client` connect as its station is configured (password, back-off, ping
  interval, and for 2.x the network connection profiles of B10), now and whenever the CSMS
  changes it: what `Fleet` does for each station, for library users running one themselves.
- `ChargingLoop` is one simulated driver at one connector: plug in, present an id token (the
  station authorizes it and starts the transaction), charge for a random time, stop, unplug,
  pause, again. Its random choices come from a generator seeded with the plan's seed, the
  station's identity and the connector, so that a run can be repeated. Meter values come from
  the station's own sampling (`StationConfig.meter_interval`).
- `FleetStats` counts messages, transactions and errors; `ProgressLine` shows them while the
  fleet runs, `Fleet.summary()` at the end.

Nothing here polls per station: a station's timers are its own, a driver sleeps between its
steps, and the progress line reads every station once a second.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import math
import random
import resource
import ssl as ssl_module
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from .._core import Backend
from ..asyncio.client import Client
from ..asyncio.connection import Connection, ConnectionObserver
from ..exceptions import CallTimeoutError, OCPPError
from . import station_handlers
from .certificates import Provisioned
from .config import StationConfig, StationError
from .store import StationStore

if TYPE_CHECKING:
    from ..hardware import Hardware
    from .v2 import NetworkEndpoint

__all__ = [
    "DEFAULT_CONNECT_RATE",
    "ChargingLoop",
    "ChargingPlan",
    "Fleet",
    "FleetStats",
    "Progress",
    "ProgressLine",
    "Span",
    "attach",
]

log = logging.getLogger("ocppfast.fleet")

DEFAULT_CONNECT_RATE = 50.0
"""New stations per second. Each costs the CSMS a WebSocket handshake, a BootNotification, a
StatusNotification per connector (and in 2.x a security event), each stored: 50 a second keeps
`ocppfast serve` on a small machine well within what it answers at once (docs/station.md)."""

MAX_IDENTITY = 48
"""The longest identity a station may have (J201 3.1.1: "at most 48 characters")."""

# What each station of a fleet (more than one) keeps of its own log and traffic for a
# diagnostics upload, in characters: a station alone keeps some 768 KiB of both, which for
# thousands of stations would be gigabytes; these keep the last dozen lines and frames.
_FLEET_LOG_RING = 2 * 1024
_FLEET_TRAFFIC_RING = 4 * 1024

# Seconds a driver in the middle of a step (a start waiting for the CSMS's answer) is given to
# finish it when the fleet stops, before it is cancelled; the stations then end what runs.
_STEP_GRACE = 5.0
# Seconds each station is given to end its transactions and deliver their last messages when
# the fleet stops (2.x waits at most its message timeout for the answers).
_SHUTDOWN_TIMEOUT = 10.0

# --------------------------------------------------------------------------------------------
# What the drivers do


@dataclasses.dataclass(frozen=True)
class Span:
    """A range of seconds, `low` to `high`, from which a duration is drawn uniformly."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"a span is finite: {self.low}-{self.high}")
        if not 0 <= self.low <= self.high:
            raise ValueError(f"a span goes from 0 or more up to at least as much: {self}")

    @classmethod
    def parse(cls, text: str) -> Span:
        """ "120-600" (seconds, MIN-MAX) or "60" (always 60); ValueError otherwise."""
        low, dash, high = text.strip().partition("-")
        try:
            return cls(float(low), float(high) if dash else float(low))
        except ValueError as exc:
            raise ValueError(f"{text!r}: write MIN-MAX in seconds, e.g. 120-600 ({exc})") from None

    def draw(self, rng: random.Random) -> float:
        """A duration within the span."""
        return rng.uniform(self.low, self.high)

    def __str__(self) -> str:
        return f"{self.low:g}-{self.high:g} s"


@dataclasses.dataclass(frozen=True)
class ChargingPlan:
    """What the simulated drivers do: charge for `charge_time`, then leave the connector free for
    `pause`; present one of `id_tokens` (chosen at random each time), or, when there are none, a
    new random 8-hex-digit token (an ISO 14443 UID) each time. `seed` makes every choice
    repeatable."""

    charge_time: Span = Span(120.0, 600.0)
    pause: Span = Span(30.0, 300.0)
    id_tokens: tuple[str, ...] = ()
    seed: int = 0

    def rng(self, identity: str, connector_id: int) -> random.Random:
        """The random choices of the driver at `connector_id` of station `identity`: the same
        for the same seed whatever the other drivers do (a str seed is hashed with SHA-512, so
        PYTHONHASHSEED does not change it)."""
        return random.Random(f"{self.seed}/{identity}/{connector_id}")

    def token(self, rng: random.Random) -> str:
        """The id token the next driver presents."""
        if self.id_tokens:
            return rng.choice(self.id_tokens)
        return f"{rng.getrandbits(32):08X}"


class FleetStats(ConnectionObserver):
    """What a fleet did, counted as it happens: the messages its stations sent and received
    (the observer of every station's connection: one increment per frame), the transactions
    its drivers started and saw end, and errors by kind ("start refused", "start offline",
    "stop", "unexpected" from the drivers; "CALLERROR" and "timeout" answers to the stations'
    own CALLs)."""

    def __init__(self) -> None:
        self.messages_sent = 0
        self.messages_received = 0
        self.started = 0
        self.completed = 0
        self.errors: collections.Counter[str] = collections.Counter()

    @property
    def messages(self) -> int:
        """Messages sent and received."""
        return self.messages_sent + self.messages_received

    @property
    def error_count(self) -> int:
        """Errors of every kind."""
        return sum(self.errors.values())

    def received(self, connection: Connection, data: bytes | str) -> None:
        self.messages_received += 1

    def sent(self, connection: Connection, frames: list[bytes]) -> None:
        self.messages_sent += len(frames)

    def call_finished(
        self, connection: Connection, action: str, seconds: float, error: BaseException | None
    ) -> None:
        # A close that cuts a CALL short is not counted here: the connected count shows it.
        if isinstance(error, OCPPError):
            self.errors["CALLERROR"] += 1
        elif isinstance(error, CallTimeoutError):
            self.errors["timeout"] += 1


class ChargingLoop:
    """One simulated driver at connector (2.x: EVSE) `connector_id` of `station` (a `Station16`
    or `StationV2`), following `plan`, counting into `stats`.

    Once the station has booted, and after a random part of a pause (so that a fleet's drivers
    do not all arrive at its boot), each cycle: plug in; present a token, which the station
    authorizes (Authorize, or its cache: C16 3.5, C10) before it starts the transaction (C16
    4.8, E01-E04); charge for a drawn time, during which the station samples its meter; stop
    (reason Local); unplug; pause. A start the station refuses (a token not accepted, a
    connector unavailable, no answer, or offline) is counted, logged at debug level, and the
    driver leaves and comes back after the pause. A connector that is busy with a transaction
    the driver did not start (a remote start) is left alone.

    `online()` says whether the station is connected (to tell an offline failure from a
    refusal); `rng` defaults to `plan.rng(identity, connector_id)`; `sleep` is how the driver
    waits (tests pass one that records the time instead). The draws of a cycle (token, charge
    time, pause) happen whatever its outcome, so a seed gives the same sequence of choices
    however the CSMS answers.
    """

    def __init__(
        self,
        station: Any,
        connector_id: int,
        plan: ChargingPlan,
        stats: FleetStats,
        *,
        online: Callable[[], bool],
        rng: random.Random | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.station = station
        self.connector_id = connector_id
        self.plan = plan
        self.stats = stats
        self.online = online
        self.identity: str = station.config.identity
        self.rng = rng if rng is not None else plan.rng(self.identity, connector_id)
        self._sleep = sleep
        self._stopping = False
        self._idle = True  # waiting (for the boot, a charge, a pause): stop() may cancel
        self.task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<ChargingLoop {self.identity} connector {self.connector_id}>"

    def start(self) -> asyncio.Task[None]:
        """Run the driver in a task of its own."""
        self.task = asyncio.ensure_future(self.run())
        return self.task

    def stop(self) -> None:
        """No more steps: a wait ends now (the task is cancelled); a step under way (a start
        waiting for its answer) completes first, then `run()` returns."""
        self._stopping = True
        if self._idle and self.task is not None:
            self.task.cancel()

    async def run(self) -> None:
        """Cycle until `stop()`."""
        if not self.station.booted.is_set():
            self._idle = True
            try:
                await self.station.booted.wait()
            finally:
                self._idle = False
        if not await self._wait(self.rng.uniform(0.0, self.plan.pause.high)):
            return
        while not self._stopping:
            await self.cycle()
            if not await self._wait(self.plan.pause.draw(self.rng)):
                return

    async def cycle(self) -> None:
        """One driver's visit, from plugging in to unplugging."""
        station, connector = self.station, self.connector_id
        token = self.plan.token(self.rng)
        charge_time = self.plan.charge_time.draw(self.rng)
        if connector in station.transactions:
            log.debug("%s connector %d: busy with another transaction", self.identity, connector)
            return
        try:
            await station.plug_in(connector)
            if self._stopping:  # the fleet stops: no new transaction now
                return
            transaction_id = await station.start_transaction(connector, token)
            # The object, not its id: a 1.6 transaction started offline has no id until its
            # StartTransaction is answered (C16 3.7).
            started = station.transactions.get(connector)
        except StationError as exc:
            self._failed("start refused" if self.online() else "start offline", exc)
            await self._leave()
            return
        except Exception as exc:  # a fault of the station's: counted, and the driver goes on
            self._unexpected("start", exc)
            await self._leave()
            return
        self.stats.started += 1
        log.debug(
            "%s connector %d: transaction %s started (id token %s), charging %.0f s",
            self.identity,
            connector,
            transaction_id,
            token,
            charge_time,
        )
        if not await self._wait(charge_time):
            return  # stopping: the station's shutdown ends the transaction
        try:
            if self._running(started):
                await station.stop_transaction(connector, "Local")
            await station.unplug(connector)
        except StationError as exc:
            self._failed("stop", exc)
        except Exception as exc:
            self._unexpected("stop", exc)
        if not self._running(started):
            self.stats.completed += 1

    def _running(self, transaction: Any) -> bool:
        return (
            transaction is not None
            and self.station.transactions.get(self.connector_id) is transaction
        )

    async def _leave(self) -> None:
        """After a failed start, the driver takes the EV away, unless a transaction runs there
        (someone else's, which unplugging would end)."""
        if self.connector_id in self.station.transactions:
            return
        try:
            await self.station.unplug(self.connector_id)
        except Exception as exc:
            self._unexpected("unplug", exc)

    async def _wait(self, seconds: float) -> bool:
        """Sleep `seconds` unless stopping; False when stopping (then without sleeping)."""
        if self._stopping:
            return False
        self._idle = True
        try:
            await self._sleep(seconds)
        finally:
            self._idle = False
        return not self._stopping

    def _failed(self, kind: str, exc: Exception) -> None:
        self.stats.errors[kind] += 1
        log.debug("%s connector %d: %s: %s", self.identity, self.connector_id, kind, exc)

    def _unexpected(self, step: str, exc: Exception) -> None:
        self.stats.errors["unexpected"] += 1
        log.warning(
            "%s connector %d: %s failed unexpectedly",
            self.identity,
            self.connector_id,
            step,
            exc_info=exc,
        )


# --------------------------------------------------------------------------------------------
# The fleet


def attach(station: Any, client: Client) -> None:
    """Have `client` connect as `station` (a `Station16` or `StationV2`) is configured, and
    follow what the CSMS changes: a new Basic auth password (1.6 AuthorizationKey, 2.x
    BasicAuthPassword; SW A01) is the one the next connection uses. For 2.x also the device
    model's RetryBackOff* and WebSocketPingInterval variables (J201 5.3, 8.4; TC_B_57_CS), and
    the network connection profiles (B10): `client.url` (and `call_timeout`, the profile's
    messageTimeout) becomes slot 1's, and is set to the profile the station chooses after a
    reboot (B10.FR.04) or after NetworkProfileConnectionAttempts failed attempts, which the
    client reports to it (B10.FR.03, B10.FR.07)."""
    if hasattr(station, "backoff"):  # 2.x
        client.backoff = station.backoff
        client.ping_interval = station.websocket_ping_interval or None
        station.backoff_changed = lambda backoff: setattr(client, "backoff", backoff)
        station.ping_interval_changed = lambda seconds: setattr(
            client, "ping_interval", seconds or None
        )
        # The URL the client was given is slot 1's profile; after a restart the station may
        # start with another (NetworkConfigurationPriority as the CSMS left it: B10.FR.04).
        station.provision(client.url, client.call_timeout)
        endpoint = station.network_endpoint
        if endpoint is not None:
            _use_endpoint(client, endpoint, station.certificates)
        station.network_profile_changed = lambda endpoint: _use_endpoint(
            client, endpoint, station.certificates
        )
        client.attempt_failed = station.connection_failed
    # SW A01: the previous passwords stay as fallbacks until the new one worked (kept in the
    # station's data, so also across a restart mid-rotation).
    client.fallback_passwords = station.previous_passwords
    client.password_confirmed = lambda used: _password_confirmed(station, client, used)
    station.password_changed = lambda new: _password_changed(station, client, new)
    # The station's certificate (A02/A03): the client connects with the stored one, switches
    # to a renewed one and falls back to the previous one if the CSMS refuses it.
    certificates = getattr(station, "certificates", None)
    if certificates is not None:
        certificates.attach(client)


def _password_changed(station: Any, client: Client, new: str | None) -> None:
    client.password = new
    client.fallback_passwords = station.previous_passwords


def _password_confirmed(station: Any, client: Client, used: str | bytes) -> None:
    station.password_confirmed(used)
    client.fallback_passwords = station.previous_passwords


def _use_endpoint(client: Client, endpoint: NetworkEndpoint, certificates: Any = None) -> None:
    """From the next attempt on, connect where a network connection profile says (B10), with
    its security profile (A05 through B09/B10: TC_A_19_CS): wss:// with the TLS context of the
    station's certificate store (its installed CSMS roots; for profile 3 its certificate) when
    the client has none yet, or for profile 3 when the store has the station's certificate;
    Basic auth for profiles 1 and 2 only."""
    if not endpoint.url.lower().startswith("wss:"):
        client.ssl = None
    elif certificates is not None and (
        client.ssl is None
        or (endpoint.security_profile == 3 and certificates.certificate is not None)
    ):
        client.ssl = certificates.tls_context()
    client.url = endpoint.url
    client.call_timeout = endpoint.message_timeout
    client.password = endpoint.password if endpoint.security_profile < 3 else None


@dataclasses.dataclass(eq=False)
class _Member:
    """One station of the fleet, with its client and drivers."""

    station: Any
    client: Client
    task: asyncio.Task[None]
    loops: list[ChargingLoop]


def _password_of(station: Any) -> str | None:
    """The Basic auth password `station` connects with: its own (1.6 AuthorizationKey under
    security profile 1 or 2, SW 7.2 and 7.6; 2.x SecurityCtrlr.BasicAuthPassword), which the
    CSMS may have changed and the station kept."""
    if hasattr(station, "security_profile"):  # 1.6
        return station.authorization_key if station.security_profile in (1, 2) else None
    password: str | None = station.basic_auth_password
    return password


@dataclasses.dataclass(frozen=True)
class Progress:
    """A fleet at one moment: how many of its `stations` run (`started`), are `connected`,
    and `booted` (connected and accepted), how many transactions are `charging` now and how
    many its drivers saw `completed`, the `messages` sent and received and the `errors` so
    far, `elapsed` seconds after the fleet started."""

    stations: int
    started: int
    connected: int
    booted: int
    charging: int
    completed: int
    messages: int
    errors: int
    elapsed: float

    def line(self, rate: float) -> str:
        """One line: what a person watching wants to see; `rate` is messages per second."""
        minutes, seconds = divmod(int(self.elapsed), 60)
        starting = f" ({self.started} started)" if self.started < self.stations else ""
        return (
            f"[{minutes}:{seconds:02d}] stations {self.connected}/{self.stations} connected, "
            f"{self.booted} booted{starting} | transactions {self.charging} charging, "
            f"{self.completed} completed | {rate:.0f} msg/s | errors {self.errors}"
        )


class Fleet:
    """`count` simulated stations of OCPP `version` (identities `<identity>-1` to
    `<identity>-<count>`; one keeps `config.identity`), each a `station_handlers` with its own
    `Client` to the CSMS at `url`, all built from `config`.

    - `password`: the Basic auth password each station starts with (security profile 1).
    - `store`: where the stations keep their data (`StationStore`); None keeps it in memory.
    - `connect_rate`: stations started per second, at most.
    - `plan`: with one, a `ChargingLoop` per connector of every station.
    - `core`: the core backend of the connections (default: the compiled one when built).
    - `hardware`: makes each station's hardware backend (default: `SimulatedHardware`).
    - `ssl`: makes the TLS context of each station's `Client`, given its identity, for wss://
      (security profile 3: each station its own certificate); None: no TLS context of ours.
    - `security_profile`: what each station reports as its security profile (1.6
      SecurityProfile, 2.x SecurityCtrlr.SecurityProfile): 2 or 3 with TLS (SW 2.4, 2.5);
      None leaves the default (1.6: 1 with a password, else 0; 2.x: 1).
    - `certificates`: what each station starts with, given its identity (`Provisioned`: the
      CSMS root, its certificate and key), put into its certificate store
      (`StationCertificates.provision`: a certificate renewed since, kept in `store`, wins).

    `await fleet.run(stop)` starts the stations (`started` is set once all are) and runs them
    until `stop` is set, then shuts every station down (its transactions end with reason Local
    and their last messages are delivered, or queued when the CSMS is unreachable).
    `progress()` and `summary()` say how it goes; `stats` has the counters.
    """

    def __init__(
        self,
        url: str,
        config: StationConfig,
        version: str,
        *,
        count: int = 1,
        password: str | None = None,
        store: StationStore | None = None,
        connect_rate: float = DEFAULT_CONNECT_RATE,
        plan: ChargingPlan | None = None,
        core: Backend | None = None,
        hardware: Callable[[], Hardware] | None = None,
        ssl: Callable[[str], ssl_module.SSLContext] | None = None,
        security_profile: int | None = None,
        certificates: Callable[[str], Provisioned | None] | None = None,
    ) -> None:
        if not connect_rate > 0:
            raise ValueError(f"connect_rate must be > 0, not {connect_rate}")
        self.identities = self.identities_for(config.identity, count)
        self.url = url
        self.config = config
        self.version = version
        self.password = password
        self.store = store
        self.connect_rate = connect_rate
        self.plan = plan
        self.core = core
        self.hardware = hardware
        self.ssl = ssl
        self.security_profile = security_profile
        self.certificates = certificates
        self.stats = FleetStats()
        self.members: list[_Member] = []
        # Set once every station has been started (its client runs; not yet connected).
        self.started = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started_at = 0.0
        self._ended_at: float | None = None
        # Seconds from the start until every station was connected and booted (None: not yet).
        self.all_booted_after: float | None = None

    @staticmethod
    def identities_for(identity: str, count: int) -> list[str]:
        """The identities of `count` stations named after `identity`; ValueError when one would
        be longer than 48 characters (J201 3.1.1) or `count` is below 1."""
        if count < 1:
            raise ValueError(f"a fleet has at least one station, not {count}")
        identities = [identity] if count == 1 else [f"{identity}-{n}" for n in range(1, count + 1)]
        if len(identities[-1]) > MAX_IDENTITY:
            raise ValueError(
                f"identity {identities[-1]!r} is longer than {MAX_IDENTITY} characters"
            )
        return identities

    @property
    def elapsed(self) -> float:
        """Seconds since `run()` started (until it ended)."""
        if self._loop is None:
            return 0.0
        end = self._ended_at if self._ended_at is not None else self._loop.time()
        return end - self._started_at

    async def run(self, stop: asyncio.Event) -> None:
        """Start the stations, `connect_rate` a second, and run them until `stop` is set; then
        shut them all down. Raises what kept a station from starting (`StorageError` when its
        data cannot be read) after shutting down those that had started."""
        self._loop = asyncio.get_running_loop()
        self._started_at = self._loop.time()
        self._ended_at = None
        starting = asyncio.ensure_future(self._start_all())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if starting.done():
                starting.result()
                await stopped
        finally:
            starting.cancel()
            stopped.cancel()
            await asyncio.wait({starting, stopped})
            await self._shutdown()
            self._ended_at = self._loop.time()

    async def _start_all(self) -> None:
        assert self._loop is not None
        loop = self._loop
        for index, identity in enumerate(self.identities):
            delay = self._started_at + index / self.connect_rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.members.append(await self._start(identity))
        self.started.set()
        if len(self.identities) > 1:
            log.info("%d stations started in %.1f s", len(self.identities), self.elapsed)
        # Note when all are booted (for the summary) even when nothing samples progress().
        await asyncio.gather(*(member.station.booted.wait() for member in self.members))
        self.progress()

    async def _start(self, identity: str) -> _Member:
        data = await self.store.load(identity) if self.store is not None else None
        config = dataclasses.replace(self.config, identity=identity)
        hardware = self.hardware() if self.hardware is not None else None
        station: Any = station_handlers(
            config, self.version, self.password, data, hardware, self.security_profile
        )
        provisioned = self.certificates(identity) if self.certificates is not None else None
        if provisioned is not None:
            station.certificates.provision(provisioned)
        if len(self.identities) > 1:
            station.log.ring.limit = _FLEET_LOG_RING
            station.traffic.limit = _FLEET_TRAFFIC_RING
        client = Client(
            self.url,
            identity,
            station,
            versions=[self.version],
            password=_password_of(station),
            core=self.core,
            observer=self.stats,
            ssl=self.ssl(identity) if self.ssl is not None else None,
            # A failed TLS handshake is a security event of the station (A00.FR.309/315/322).
            security_event=station.connect_security_event,
        )
        attach(station, client)
        task = asyncio.ensure_future(client.run())
        loops: list[ChargingLoop] = []
        if self.plan is not None:
            for connector in range(1, config.connectors + 1):
                driver = ChargingLoop(
                    station, connector, self.plan, self.stats, online=lambda: client.connected
                )
                driver.start()
                loops.append(driver)
        return _Member(station, client, task, loops)

    async def _shutdown(self) -> None:
        drivers = [driver for member in self.members for driver in member.loops]
        for driver in drivers:
            driver.stop()
        tasks = [driver.task for driver in drivers if driver.task is not None]
        if tasks:
            _, busy = await asyncio.wait(tasks, timeout=_STEP_GRACE)
            for task in busy:
                task.cancel()
            await asyncio.wait(tasks)
        await asyncio.gather(*(self._stop(member) for member in self.members))

    async def _stop(self, member: _Member) -> None:
        """Shut one station down: its transactions end (reason Local) and their messages are
        delivered while it is connected, else queued (and kept, with a store) for its next
        connection; then the connection closes (1000)."""
        station, client = member.station, member.client

        async def shutdown() -> None:
            try:
                await asyncio.wait_for(station.shutdown("Local"), _SHUTDOWN_TIMEOUT)
            except Exception as exc:
                log.warning("%s: shutdown did not complete: %r", client.identity, exc)

        if client.connected:
            await client.stop(1000, "station shutting down", before_close=shutdown)
        else:
            await client.stop(1000, "station shutting down")
            await shutdown()
        await asyncio.wait({member.task})

    def progress(self) -> Progress:
        """Where the fleet is now (reads every station: call it about once a second). Notes
        when every station was first connected and booted (`all_booted_after`)."""
        connected = booted = charging = 0
        for member in self.members:
            if member.client.connected:
                connected += 1
                if member.station.booted.is_set():
                    booted += 1
            charging += len(member.station.transactions)
        stations = len(self.identities)
        if booted == stations and self.all_booted_after is None:
            self.all_booted_after = self.elapsed
            log.info("all %d stations connected and booted after %.1f s", stations, self.elapsed)
        stats = self.stats
        return Progress(
            stations=stations,
            started=len(self.members),
            connected=connected,
            booted=booted,
            charging=charging,
            completed=stats.completed,
            messages=stats.messages,
            errors=stats.error_count,
            elapsed=self.elapsed,
        )

    def summary(self) -> str:
        """What the fleet did, in one paragraph (for the log at exit)."""
        stats = self.stats
        elapsed = self.elapsed
        booted = (
            f"all connected and booted after {self.all_booted_after:.1f} s"
            if self.all_booted_after is not None
            else "not all were connected and booted at once"
        )
        errors = ", ".join(f"{kind} {n}" for kind, n in sorted(stats.errors.items())) or "none"
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        # ru_maxrss: KiB on Linux, bytes on macOS.
        rss = usage.ru_maxrss / (1 << 20 if sys.platform == "darwin" else 1 << 10)
        return (
            f"{len(self.identities)} station(s), {self.version}, {booted}; transactions: "
            f"{stats.started} started, {stats.completed} completed; messages: "
            f"{stats.messages_sent} sent, {stats.messages_received} received "
            f"({stats.messages / elapsed if elapsed > 0 else 0:.0f}/s over {elapsed:.1f} s); "
            f"errors: {errors}; CPU {cpu:.1f} s ({100 * cpu / elapsed if elapsed > 0 else 0:.0f}% "
            f"of one core), peak RSS {rss:.0f} MiB"
        )


# --------------------------------------------------------------------------------------------
# Progress


class ProgressLine:
    """Shows how `fleet` does while it runs: on a terminal, one line on `stream` rewritten in
    place every second; otherwise one log line (logger "ocppfast.fleet", INFO) every `interval`
    seconds; nothing with `interval` 0 (the fleet's progress is still sampled each second, for
    its summary). Run it as a task (`run()`); cancel it when done.

    On a terminal the log goes to the same stream: `interleave(handler)` makes a log handler
    clear the line before it writes, and the next tick draws it again below."""

    _TICK = 1.0

    def __init__(
        self,
        fleet: Fleet,
        interval: float,
        *,
        stream: TextIO | None = None,
        tty: bool | None = None,
    ) -> None:
        self.fleet = fleet
        self.interval = interval
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self._shown = False

    async def run(self) -> None:
        """Tick until cancelled."""
        loop = asyncio.get_running_loop()
        last_time, last_messages = loop.time(), 0
        logged_time, logged_messages = last_time, 0
        while True:
            await asyncio.sleep(self._TICK)
            progress = self.fleet.progress()  # also notes when all were booted
            now = loop.time()
            if self.interval <= 0:
                continue
            if self.tty:
                rate = (progress.messages - last_messages) / max(now - last_time, 1e-9)
                self.stream.write("\r" + progress.line(rate) + "\x1b[K")
                self.stream.flush()
                self._shown = True
            elif now - logged_time >= self.interval - self._TICK / 2:
                rate = (progress.messages - logged_messages) / max(now - logged_time, 1e-9)
                log.info("%s", progress.line(rate))
                logged_time, logged_messages = now, progress.messages
            last_time, last_messages = now, progress.messages

    def clear(self) -> None:
        """Erase the line (on a terminal), so that what is written next starts clean."""
        if self._shown:
            self._shown = False
            self.stream.write("\r\x1b[K")

    def interleave(self, handler: logging.StreamHandler[Any]) -> None:
        """Have `handler` (writing to this line's stream) clear the line before each record."""
        if self.tty and handler.stream is self.stream:
            handler.setStream(_Clearing(self))


class _Clearing:
    """The stream of a log handler that shares a terminal with a `ProgressLine`."""

    def __init__(self, line: ProgressLine) -> None:
        self._line = line

    def write(self, text: str) -> int:
        self._line.clear()
        return self._line.stream.write(text)

    def flush(self) -> None:
        self._line.stream.flush()
