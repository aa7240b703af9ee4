"""The station side of OCPP-J: a WebSocket client that connects a charging station to its CSMS
and keeps it connected.

    client = Client("wss://csms.example.com/ocpp", "CP001", StationHandlers,
                    versions=("ocpp2.0.1", "ocpp1.6"), password="0123456789abcdef")
    task = asyncio.create_task(client.run())        # connects, reconnects with back-off
    connection = await client.wait_connected()
    await connection.call(v201.BootNotificationRequest(...))
    ...
    await client.stop()                              # close code 1000; run() returns

- The connection URL is the CSMS's endpoint URL with the station's identity appended as one
  percent-encoded path segment (J16 3.1.1, J201 3.1.1, J21 3.1.1).
- The OCPP versions are offered as WebSocket subprotocols in preference order; the one the CSMS
  picks is the connection's version. A CSMS that picks none (or one never offered) has not
  agreed to any version: the attempt fails (J201 3.1.2, 3.2; J21 3.1.2, 3.3).
- With a password, every connection request carries HTTP Basic credentials whose username is
  the identity (security profiles 1 and 2: SW 2.3, 2.4 A00.FR.203/204; E201 A00.FR.2xx).
- When the connection is lost, `run()` reconnects after an increasing, randomised back-off
  (J201 5.3, J21 5.4; the RetryBackOff* variables of J201 8.1-8.3) until `stop()`.
- WebSocket pings every `ping_interval` seconds (WebSocketPingInterval, J201 8.4) detect a
  half-open connection: without a pong within `ping_timeout` the connection is closed and
  `run()` reconnects.
- `attempt_failed` is told of every failed attempt of `run()`, so that whoever runs the client
  can change `url` before the next one: a 2.x station tries its next network connection profile
  after OCPPCommCtrlr.NetworkProfileConnectionAttempts failures (B10.FR.03;
  `ocppfast.station.fleet.attach` wires a `StationV2` so).

The handlers object is created once per `Client` and serves every connection in turn, so the
station's state (transactions, queued messages) survives reconnects; `connected()` and
`disconnected()` are called per connection. Logger: "ocppfast.client"; passwords and the
Authorization header are never logged, not even by websockets' own debug output.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import ssl as ssl_module
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus, NegotiationError, WebSocketException
from websockets.typing import Subprotocol

from .._core import Backend
from .._core.quirks import QuirkProfile
from .._core.types import check_versions
from .._version import __version__
from ..transport.websocket import DirectClientConnection, RedactingLogger, WebSocketTransport
from .connection import DEFAULT_CALL_TIMEOUT, Connection, ConnectionObserver
from .handlers import Handlers

__all__ = [
    "BackOff",
    "Client",
    "ClientStopped",
    "ConnectError",
    "HandshakeRefused",
    "NoCommonVersion",
    "PasswordRefused",
    "basic_auth_header",
    "connection_url",
    "safe_url",
]

_log = logging.getLogger("ocppfast.client")

# RFC 3986 3.3: a path segment may hold unreserved characters, sub-delims, ":" and "@" as they
# are; everything else (among them "/", "%", " ", "|", "#", "?") is percent-encoded.
_SEGMENT_SAFE = "!$&'()*+,;=:@"
# What may stay as it is in the endpoint URL's path and query (already-encoded octets too).
_URL_SAFE = _SEGMENT_SAFE + "/?%"


# RFC 6455 7.4.1 (and the IANA registry): what the usual close codes mean, for the log.
_CLOSE_CODES = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1006: "closed without a close frame",
    1007: "invalid data",
    1008: "policy violation",
    1009: "message too big",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
}

# --------------------------------------------------------------------------------------------
# Errors


class ConnectError(ConnectionError):
    """One connection attempt failed: the CSMS could not be reached, refused the opening
    handshake, or agreed to no OCPP version. `url` is the connection URL tried."""

    def __init__(self, message: str, url: str = "") -> None:
        super().__init__(message)
        self.url = url

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class HandshakeRefused(ConnectError):
    """The CSMS answered the opening handshake with an HTTP status other than 101 (J201 3.2:
    404 for an identity it does not know)."""

    def __init__(self, message: str, url: str, status: int) -> None:
        super().__init__(message, url)
        self.status = status


class PasswordRefused(HandshakeRefused):
    """The CSMS answered 401: it refused the Basic auth credentials, or wants some and none were
    configured (SW 2.3 Figure 1)."""


class NoCommonVersion(ConnectError):
    """The CSMS completed the handshake without agreeing to any offered OCPP version (J201 3.2,
    J21 3.3): `picked` is the subprotocol it answered with (None: no header at all)."""

    def __init__(self, message: str, url: str, offered: Sequence[str], picked: str | None) -> None:
        super().__init__(message, url)
        self.offered = tuple(offered)
        self.picked = picked


class ClientStopped(Exception):
    """`Client.wait_connected()` gave up because the client was stopped."""


# --------------------------------------------------------------------------------------------
# Back-off (J201 5.3, J21 5.4)


@dataclass(frozen=True)
class BackOff:
    """The reconnection back-off of J201 5.3 / J21 5.4, set by the OCPPCommCtrlr variables
    RetryBackOffWaitMinimum, RetryBackOffRandomRange and RetryBackOffRepeatTimes (J201 8.1-8.3,
    J21 8.1-8.3; seconds, integers in the device model, any non-negative number here).

    The first attempt after a loss waits `wait_minimum` plus a random value of at most
    `random_range`; after every failed attempt the wait doubles, at most `repeat_times` times,
    each with a new random value; then it stays at the last doubled value (plus new jitter).
    The specs suggest no default values; ours give a first wait of 3-5 s and at most
    3 * 2**5 = 96 s (+ up to 2 s), so a fleet does not hammer a CSMS that has just restarted.
    """

    wait_minimum: float = 3.0
    random_range: float = 2.0
    repeat_times: int = 5

    def __post_init__(self) -> None:
        if not self.wait_minimum >= 0:  # also refuses NaN
            raise ValueError(f"wait_minimum must be >= 0, not {self.wait_minimum}")
        if not self.random_range >= 0:
            raise ValueError(f"random_range must be >= 0, not {self.random_range}")
        if not isinstance(self.repeat_times, int) or self.repeat_times < 0:
            raise ValueError(f"repeat_times must be an integer >= 0, not {self.repeat_times!r}")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The waits before each reconnection attempt, endless: `wait_minimum * 2**k` for the
        k-th attempt (k capped at `repeat_times`), each plus `rng.uniform(0, random_range)`.
        Pass a seeded `rng` for a reproducible sequence."""
        rng = rng if rng is not None else random.Random()
        wait = self.wait_minimum
        doublings = 0
        while True:
            jitter = rng.uniform(0.0, self.random_range) if self.random_range > 0 else 0.0
            yield wait + jitter
            # J201 5.3: "double the previous back-off time, with a maximum of
            # RetryBackOffRepeatTimes"; the random part is drawn anew each time, never doubled.
            if doublings < self.repeat_times:
                wait *= 2
                doublings += 1


# --------------------------------------------------------------------------------------------
# Connection URL and credentials


def connection_url(endpoint: str, identity: str) -> str:
    """The station's connection URL: `endpoint` with "/" and the percent-encoded `identity`
    appended to its path (J16 3.1.1, J201 3.1.1, J21 3.1.1).

    `connection_url("ws://csms.example.com/ocpp", "RDAM 123")` is
    `"ws://csms.example.com/ocpp/RDAM%20123"`; a "/" in the identity becomes "%2F", so the
    identity is always exactly one path segment. A query in `endpoint` is kept after the path.
    The result is ASCII: a non-ASCII host is IDNA-encoded, other non-ASCII text UTF-8
    percent-encoded (RFC 3986 2.5), so nothing downstream encodes it a second time.
    """
    if not identity:
        raise ValueError("the station identity must not be empty")
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"the CSMS endpoint URL must start with ws:// or wss://: {endpoint!r}")
    if not parts.hostname:
        raise ValueError(f"the CSMS endpoint URL has no host: {endpoint!r}")
    if parts.username is not None or parts.password is not None:
        # The Basic auth username is the identity (SW A00.FR.204); a password in the URL would
        # also end up in every log line that names the URL.
        raise ValueError(
            "put no credentials in the URL: give password= (the username is the identity)"
        )
    if parts.fragment:
        raise ValueError(f"the CSMS endpoint URL must not have a fragment: {endpoint!r}")
    host = parts.hostname
    if ":" in host:  # an IPv6 literal
        netloc = f"[{host}]"
    else:
        try:
            host.encode("ascii")
        except UnicodeEncodeError:
            host = host.encode("idna").decode("ascii")
        netloc = host
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    # A trailing "/" on the endpoint would give an empty segment before the identity
    # ("/ocpp//CP1"), which no CSMS means; J201 3.1.1 appends exactly one "/".
    path = urllib.parse.quote(parts.path.rstrip("/"), safe=_URL_SAFE)
    segment = urllib.parse.quote(identity, safe=_SEGMENT_SAFE)
    query = urllib.parse.quote(parts.query, safe=_URL_SAFE + "=&")
    return urllib.parse.urlunsplit((parts.scheme, netloc, f"{path}/{segment}", query, ""))


def _password_text(password: str | bytes) -> bytes:
    """The password as it goes into the Basic credentials.

    A `str` is sent as its UTF-8 text, as it was configured (E201 SecurityCtrlr.BasicAuthPassword:
    "SHALL be sent as a UTF-8 encoded string"; in 1.6 the AuthorizationKey's value, 40 hex
    digits, as they are). `bytes` are a 1.6 AuthorizationKey held in binary: the security
    whitepaper defines the key as "Hexadecimal represented (... a string of up to 40
    hexadecimal digits)" and the header as Base64(<ChargePointId>:<AuthorizationKey>) (SW 2.3
    remark 7, A00.FR.205), so they are sent as that hexadecimal string, in capitals as in the
    key of J16 6.2.2's example. (J16 6.2.2's own example puts the 20 raw bytes in the header;
    the whitepaper, which defines security profiles 1-3 for 1.6, supersedes it.)
    """
    if isinstance(password, bytes):
        return password.hex().upper().encode("ascii")
    return password.encode("utf-8")


def basic_auth_header(identity: str, password: str | bytes) -> str:
    """The value of the Authorization header for `identity` and `password`:
    `"Basic " + base64(identity ":" password)` (RFC 7617; SW 2.3, A00.FR.203/204: the username
    is the identity). See `_password_text` for how a password is written."""
    if ":" in identity:
        # RFC 7617 2: a user-id containing a colon cannot be told from the password; J21 3.1.1
        # forbids ":" in identities for this reason.
        raise ValueError(f"an identity used for Basic auth must not contain ':': {identity!r}")
    credentials = identity.encode("utf-8") + b":" + _password_text(password)
    return "Basic " + base64.b64encode(credentials).decode("ascii")


def safe_url(url: str) -> str:
    """`url` as the log shows it: without its query, which some deployments use for tokens."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


# --------------------------------------------------------------------------------------------
# The client


class Client:
    """Connects the charging station `identity` to the CSMS at `url` and keeps it connected.

    - `url`: the CSMS's OCPP-J endpoint URL (ws:// or wss://); the identity is appended
      (`connection_url`). Changing `client.url` takes effect at the next attempt.
    - `handlers`: a `Handlers` subclass or factory, called once: the one handlers object serves
      every connection of this client (a `Handlers` instance is used as it is).
    - `versions`: the OCPP versions offered, most preferred first (J21 3.1.2).
    - `password`: Basic auth password (security profiles 1 and 2), username = identity; a
      `str` is sent as it is, `bytes` (a 1.6 AuthorizationKey held in binary) as hexadecimal
      (see `basic_auth_header`). Settable: the next attempt uses the new one.
    - `backoff`: the reconnection back-off (J201 5.3); settable, read at each loss.
    - `ping_interval`: seconds between WebSocket pings (WebSocketPingInterval, J201 8.4); 0 or
      None sends none. `ping_timeout`: seconds to wait for the pong before the connection is
      taken as lost (None: never). `close_timeout`: seconds to wait for the CSMS's part of a
      closing handshake (a half-open connection never answers) before dropping the TCP link.
    - `open_timeout`: seconds for TCP, TLS and the opening handshake together.
    - `call_timeout`, `quirks`, `core`: passed to each `Connection`.
    - `max_message_bytes`: the largest message accepted from the CSMS.
    - `ssl`: the TLS context for wss:// (security profiles 2 and 3: load the CSMS's root CA,
      and for profile 3 the station's certificate and key). Default for wss://: the system's
      trusted CAs. Not allowed with ws://.
    - `compression`: offer permessage-deflate (RFC 7692; optional for a station, recommended on
      metered mobile links, J201 3.3).
    - `logger`: for the client's and its connections' log (default "ocppfast.client").
    - `observer`: told of every frame of every connection (`ConnectionObserver`): a traffic
      log or metrics; settable, read at each connection.
    - `attempt_failed`: called with the `ConnectError` of every attempt of `run()` that failed
      (after it is logged, before the back-off wait); settable. Set `url` (or `password`,
      `call_timeout`) in it to make the next attempt elsewhere: how a station falls back to its
      next network connection profile (B10.FR.03). An exception it raises is logged and
      ignored. A successful attempt is the handlers' `connected()`.
    - `security_event`: called with (type, techInfo) when an attempt fails for a reason the
      security event list names (2.0.1 / 2.1 appendix 1; a 1.6 station renames them as SW 8
      does): InvalidCsmsCertificate (the CSMS's certificate did not verify: A00.FR.309,
      A00.FR.413), InvalidTLSVersion (a protocol_version alert: A00.FR.315, A00.FR.419),
      InvalidTLSCipherSuite (a handshake_failure alert, no suite in common: A00.FR.322,
      A00.FR.426), FailedToAuthenticateAtCsms (HTTP 401). Settable; an exception it raises is
      logged and ignored. Pass the station's `connect_security_event`.
    """

    def __init__(
        self,
        url: str,
        identity: str,
        handlers: Handlers | Callable[[], Handlers] = Handlers,
        *,
        versions: Sequence[str] = ("ocpp2.0.1",),
        password: str | bytes | None = None,
        backoff: BackOff = BackOff(),  # frozen: sharing the default is safe
        ping_interval: float | None = 60.0,
        ping_timeout: float | None = 30.0,
        close_timeout: float | None = 10.0,
        open_timeout: float = 10.0,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        max_message_bytes: int = 1 << 20,
        ssl: ssl_module.SSLContext | None = None,
        compression: bool = True,
        quirks: QuirkProfile | None = None,
        core: Backend | None = None,
        logger: logging.Logger | None = None,
        observer: ConnectionObserver | None = None,
        attempt_failed: Callable[[ConnectError], Any] | None = None,
        security_event: Callable[[str, str], Any] | None = None,
    ) -> None:
        offered = check_versions(versions)
        if ping_interval is not None and ping_interval < 0:
            # J201 8.4: negative values are not allowed.
            raise ValueError(f"ping_interval must be >= 0 or None, not {ping_interval}")
        if ping_timeout is not None and not ping_timeout > 0:
            raise ValueError(f"ping_timeout must be > 0 or None, not {ping_timeout}")
        if close_timeout is not None and not close_timeout > 0:
            raise ValueError(f"close_timeout must be > 0 or None, not {close_timeout}")
        if not open_timeout > 0:
            raise ValueError(f"open_timeout must be > 0, not {open_timeout}")
        if max_message_bytes <= 0:
            raise ValueError(f"max_message_bytes must be > 0, not {max_message_bytes}")
        self._identity = identity
        self._url = url
        self._connection_url = connection_url(url, identity)
        if ssl is not None and not self._connection_url.startswith("wss:"):
            raise ValueError("an ssl context needs a wss:// URL")
        self._password: str | bytes | None = None
        self._authorization: str | None = None
        self.password = password
        #: Password rotation (SW A01): the station's previous passwords, newest first, tried in
        #: turn within the same attempt when the CSMS refuses `password` with HTTP 401 (it may
        #: not have taken the new one: its answer was lost, or it crashed).
        self.fallback_passwords: Sequence[str | bytes] = ()
        #: Called with the password of every successful connection (never logged): the station
        #: forgets its previous password once the new one worked (SW A01).
        self.password_confirmed: Callable[[str | bytes], Any] | None = None
        self._versions: tuple[str, ...] = offered
        self.backoff = backoff
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.open_timeout = open_timeout
        self.call_timeout = call_timeout
        self.max_message_bytes = max_message_bytes
        self.ssl = ssl
        self.compression = compression
        self.quirks = quirks
        self.core = core
        self.log = logger or _log
        self._connection_logger = logger
        self.observer = observer
        self.attempt_failed = attempt_failed
        self.security_event = security_event
        self._ws_log = RedactingLogger(self.log.getChild("websocket"), {})
        # J201 5.3 keeps the station's state across reconnects: one handlers object for all.
        self.handlers: Handlers = handlers if isinstance(handlers, Handlers) else handlers()
        if not isinstance(self.handlers, Handlers):
            raise TypeError(f"handlers() returned {self.handlers!r}, not a Handlers instance")
        self._connection: Connection | None = None
        self._connecting = False
        self._running = False
        self._stop = asyncio.Event()  # stop() was called; cleared when run() returns
        self._wake = asyncio.Event()  # interrupts a back-off wait (stop() or reconnect())
        self._finished = asyncio.Event()  # run() has returned
        self._finished.set()
        self._reconnect_now = False
        self._stops = 0  # how many times stop() was called, for wait_connected()
        self._stop_close: tuple[int, str] = (1000, "")
        self._waiters: set[asyncio.Future[None]] = set()
        self._warned_plain = False

    def __repr__(self) -> str:
        state = "connected" if self.connection is not None else "not connected"
        return f"<Client {self._identity} {safe_url(self._connection_url)} {state}>"

    # -- configuration ---------------------------------------------------------------------

    @property
    def identity(self) -> str:
        """The station's identity: the last path segment of the URL and the Basic username."""
        return self._identity

    @property
    def url(self) -> str:
        """The CSMS endpoint URL; setting it takes effect at the next connection attempt."""
        return self._url

    @url.setter
    def url(self, url: str) -> None:
        new = connection_url(url, self._identity)
        if getattr(self, "ssl", None) is not None and not new.startswith("wss:"):
            raise ValueError("an ssl context needs a wss:// URL")
        self._url, self._connection_url = url, new

    @property
    def versions(self) -> tuple[str, ...]:
        """The OCPP versions offered, most preferred first; setting them takes effect at the
        next connection attempt."""
        return self._versions

    @versions.setter
    def versions(self, versions: Sequence[str]) -> None:
        self._versions = check_versions(versions)

    @property
    def connection_url(self) -> str:
        """The URL connected to: the endpoint URL plus the encoded identity (J201 3.1.1)."""
        return self._connection_url

    @property
    def password(self) -> str | bytes | None:
        """The Basic auth password; setting it takes effect at the next connection attempt
        (e.g. after the CSMS set a new one: SW A01; then `reconnect()`). Never logged
        (SW A01.FR.12)."""
        return self._password

    @password.setter
    def password(self, password: str | bytes | None) -> None:
        if password is not None and not isinstance(password, (str, bytes)):
            raise TypeError(f"password must be str or bytes, not {type(password).__name__}")
        header = basic_auth_header(self._identity, password) if password is not None else None
        self._password, self._authorization = password, header

    # -- state -----------------------------------------------------------------------------

    @property
    def connection(self) -> Connection | None:
        """The live connection, or None while not connected."""
        connection = self._connection
        return connection if connection is not None and not connection.closed else None

    @property
    def connected(self) -> bool:
        """Whether a connection is live."""
        return self.connection is not None

    @property
    def running(self) -> bool:
        """Whether `run()` is running."""
        return self._running

    async def wait_connected(self, timeout: float | None = None) -> Connection:
        """Wait until a connection is live and return it.

        Raises `TimeoutError` after `timeout` seconds, and `ClientStopped` when `stop()` is
        called meanwhile (or was, and `run()` has not returned yet)."""
        stops = self._stops
        live = self.connection
        if live is not None:  # also for timeout=0, which wait_for() would not let run
            return live

        async def wait() -> Connection:
            loop = asyncio.get_running_loop()
            while True:
                connection = self.connection
                if connection is not None:
                    return connection
                if self._stops != stops or self._stop.is_set():
                    raise ClientStopped(f"{self._identity}: the client was stopped")
                waiter: asyncio.Future[None] = loop.create_future()
                self._waiters.add(waiter)
                try:
                    await waiter
                finally:
                    self._waiters.discard(waiter)

        try:
            return await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:  # an alias of TimeoutError from Python 3.11 on
            raise TimeoutError(f"{self._identity}: not connected within {timeout} s") from None

    def _notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- connecting ------------------------------------------------------------------------

    async def connect(self) -> Connection:
        """Make one connection attempt and return the new `Connection`, not yet running: the
        caller runs it (`await connection.run()`), as `run()` does.

        Raises `PasswordRefused` (HTTP 401), `HandshakeRefused` (another HTTP status),
        `NoCommonVersion` (the CSMS agreed to no offered version), or `ConnectError` (network
        unreachable, connection refused, TLS failure, timeout, invalid handshake answer)."""
        if self.connection is not None or self._connecting:
            raise RuntimeError(f"{self._identity}: already connected or connecting")
        self._connecting = True
        try:
            return await self._connect()
        finally:
            self._connecting = False

    async def _connect(self) -> Connection:
        url = self._connection_url
        shown = safe_url(url)
        offered = self.versions
        self.log.info(
            "%s: connecting to %s (offering %s)", self._identity, shown, ", ".join(offered)
        )
        headers = {"Authorization": self._authorization} if self._authorization else None
        used = self._password
        # SW A01: the new password first; the previous ones (newest first) if it is refused.
        fallbacks = [p for p in self.fallback_passwords if p != used] if used is not None else []
        if headers and not url.startswith("wss:") and not self._warned_plain:
            self._warned_plain = True
            self.log.warning(
                "%s: sending Basic credentials over unencrypted ws:// (security profile 1): "
                "only for trusted networks (SW A00.FR.201, A00.FR.206)",
                self._identity,
            )
        options: dict[str, Any] = {}
        if self.ssl is not None:
            options["ssl"] = self.ssl
        while True:
            try:
                ws = await self._open(url, offered, headers, options)
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status != 401 or not fallbacks:
                    raise self._refused(status, exc.response.reason_phrase) from None
                used = fallbacks.pop(0)
                headers = {"Authorization": basic_auth_header(self._identity, used)}
                self.log.warning(
                    "%s: the CSMS refused the new password (HTTP 401): trying the previous one "
                    "(SW A01)",
                    self._identity,
                )
                continue
            break
        return await self._opened(ws, url, shown, offered, used)

    async def _open(
        self,
        url: str,
        offered: tuple[str, ...],
        headers: dict[str, str] | None,
        options: dict[str, Any],
    ) -> ClientConnection:
        """One opening handshake; InvalidStatus (the CSMS's HTTP refusal) goes to the caller
        as it is, any other failure as the `ConnectError` it is reported as."""
        shown = safe_url(url)
        try:
            ws: ClientConnection = await ws_connect(
                url,
                subprotocols=[Subprotocol(v) for v in offered],
                additional_headers=headers,
                user_agent_header=f"ocppfast/{__version__}",
                compression="deflate" if self.compression else None,
                open_timeout=self.open_timeout,
                # J201 8.4: 0 disables the station's pings.
                ping_interval=self.ping_interval or None,
                ping_timeout=self.ping_timeout,
                close_timeout=self.close_timeout,
                max_size=self.max_message_bytes,
                logger=self._ws_log,
                create_connection=DirectClientConnection,
                **options,
            )
        except InvalidStatus:
            raise
        except NegotiationError as exc:
            # websockets refuses a subprotocol it did not offer and drops the TCP connection.
            raise self._failed(
                NoCommonVersion(
                    f"{self._identity}: the CSMS at {shown} agreed to no offered OCPP version "
                    f"(offered {', '.join(offered)}; {exc})",
                    url,
                    offered,
                    _unoffered(exc),
                )
            ) from None
        except (asyncio.TimeoutError, TimeoutError):  # before OSError: TimeoutError is one
            raise self._failed(
                ConnectError(
                    f"{self._identity}: no connection to {shown} within {self.open_timeout} s",
                    url,
                )
            ) from None
        except (OSError, WebSocketException) as exc:
            event = _tls_security_event(exc)
            if event is not None:
                self._tell_security_event(*event)
            raise self._failed(
                ConnectError(f"{self._identity}: cannot connect to {shown}: {exc}", url)
            ) from exc
        return ws

    async def _opened(
        self,
        ws: ClientConnection,
        url: str,
        shown: str,
        offered: tuple[str, ...],
        used: str | bytes | None,
    ) -> Connection:
        version = ws.subprotocol
        if version not in offered:
            # J201 3.2 / J21 3.3: a CSMS that agrees to none of the offered subprotocols answers
            # without Sec-WebSocket-Protocol and closes; we close at once rather than wait.
            with contextlib.suppress(Exception):
                await ws.close(1002, "no OCPP version agreed")
            raise self._failed(
                NoCommonVersion(
                    f"{self._identity}: the CSMS at {shown} agreed to no offered OCPP version "
                    f"(offered {', '.join(offered)}; it answered "
                    + (f"{version!r})" if version else "without a subprotocol)"),
                    url,
                    offered,
                    version,
                )
            )
        connection = Connection(
            WebSocketTransport(ws, self.core),
            role="station",
            version=version,
            handlers=self.handlers,
            identity=self._identity,
            observer=self.observer,
            call_timeout=self.call_timeout,
            quirks=self.quirks,
            max_frame_bytes=self.max_message_bytes,
            core=self.core,
            logger=self._connection_logger,
        )
        self._connection = connection
        self.log.info("%s: connected to %s with %s", self._identity, shown, version)
        if used is not None and self.password_confirmed is not None:
            try:
                self.password_confirmed(used)
            except Exception:  # the connection stands; the callback's fault is only logged
                self.log.exception("%s: password_confirmed failed", self._identity)
        self._notify()
        return connection

    def _failed(self, error: ConnectError) -> ConnectError:
        """Log a failed attempt; return `error` to raise."""
        self.log.warning("%s", error)
        return error

    def _refused(self, status: int, phrase: str) -> HandshakeRefused:
        url = self._connection_url
        shown = safe_url(url)
        error: HandshakeRefused
        if status == 401:
            if self._password is None:
                why = "it wants a password and none is set"
            else:
                why = "it refused the password"
            error = PasswordRefused(
                f"{self._identity}: the CSMS at {shown} refused the connection "
                f"(HTTP 401 {phrase}): {why}",
                url,
                status,
            )
        else:
            # J201 3.2: 404 means the CSMS does not know this identity.
            hint = ": it does not know this identity" if status == 404 else ""
            error = HandshakeRefused(
                f"{self._identity}: the CSMS at {shown} refused the connection "
                f"(HTTP {status} {phrase}){hint}",
                url,
                status,
            )
        self._failed(error)
        if status == 401:
            self._tell_security_event("FailedToAuthenticateAtCsms", f"HTTP 401 from {shown}")
        return error

    def _tell_security_event(self, kind: str, info: str) -> None:
        callback = self.security_event
        if callback is None:
            return
        try:
            callback(kind, info)
        except Exception:
            self.log.exception("%s: security_event callback failed", self._identity)

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, run the connection, and after a loss reconnect with the back-off of
        J201 5.3, until `stop()`. A failed attempt (unreachable, refused, 401, no common
        version) is logged and retried with back-off; the back-off starts over after each
        successful connection (TC_B_57_CS)."""
        if self._running:
            raise RuntimeError(f"{self._identity}: run() is already running")
        self._running = True
        self._finished.clear()
        delays: Iterator[float] | None = None
        try:
            while not self._stop.is_set():
                connection = await self._attempt()
                if connection is not None:
                    delays = None  # J201 5.3: "until it has successfully reconnected"
                    # A reconnect() asked for while this attempt was under way is answered.
                    self._reconnect_now = False
                    self._wake.clear()
                    await self._serve(connection)
                if self._stop.is_set():
                    break
                if self._reconnect_now:
                    self._reconnect_now = False
                    self._wake.clear()
                    continue
                if delays is None:
                    delays = self.backoff.delays()
                delay = next(delays)
                self.log.info(
                    "%s: next attempt in %.1f s",
                    self._identity,
                    delay,
                    extra={"ocppfast_delay": delay},
                )
                await self._pause(delay)
        finally:
            self._running = False
            self._reconnect_now = False
            self._stop.clear()
            self._wake.clear()
            self._finished.set()
            self._notify()

    async def _attempt(self) -> Connection | None:
        """One attempt, given up when stop() is called meanwhile; None when it failed."""
        attempt = asyncio.ensure_future(self.connect())
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({attempt, stopped}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # run() cancelled: take the attempt with it
            attempt.cancel()
            raise
        finally:
            stopped.cancel()
        if not attempt.done():
            attempt.cancel()
            await asyncio.wait({attempt})
        if attempt.cancelled():
            return None
        error = attempt.exception()
        if isinstance(error, ConnectError):
            self._tell_failed(error)  # logged by connect()
            return None
        if error is not None:
            # Not a failure we know: still a failed attempt, since J201 5.3 has the station
            # keep trying (with back-off, so a persistent fault does not spin).
            self.log.error("%s: connection attempt failed", self._identity, exc_info=error)
            failed = ConnectError(
                f"{self._identity}: connection attempt failed: {error!r}", self._connection_url
            )
            self._tell_failed(failed)
            return None
        connection = attempt.result()
        if self._stop.is_set():  # connected just as stop() came
            await connection.close(*self._stop_close)
            return None
        return connection

    def _tell_failed(self, error: ConnectError) -> None:
        """Tell `attempt_failed` of a failed attempt; its own fault is logged, not raised (the
        client must go on reconnecting)."""
        callback = self.attempt_failed
        if callback is None:
            return
        try:
            callback(error)
        except Exception:
            self.log.exception("%s: attempt_failed callback failed", self._identity)

    async def _serve(self, connection: Connection) -> None:
        """Run `connection` until it closes; log how it ended."""
        try:
            await connection.run()
        except asyncio.CancelledError:
            # run() was cancelled rather than stopped: still leave no socket open.
            with contextlib.suppress(Exception):
                await asyncio.shield(connection.close(1001, "station going away"))
            raise
        except Exception:
            # A fault below the Connection: close and treat it as a loss (J201 5.3).
            self.log.error("%s: connection failed", self._identity, exc_info=True)
            with contextlib.suppress(Exception):
                await connection.close(1011, "internal error")
        finally:
            self._notify()
        code, reason = connection.close_code, connection.close_reason
        if self._stop.is_set() or self._reconnect_now:
            self.log.info("%s: connection closed (code %s)", self._identity, code)
            return
        why = self._why_lost(connection) or reason
        self.log.warning(
            "%s: connection lost (code %s%s%s)",
            self._identity,
            code,
            f" {_CLOSE_CODES[code]}" if code in _CLOSE_CODES else "",
            f": {why}" if why else "",
        )

    def _why_lost(self, connection: Connection) -> str:
        """Our own reason when we closed: websockets fails the connection with 1011 "keepalive
        ping timeout" when no pong came in time; the peer never answers that close, so the close
        code alone (1006) would not tell."""
        transport = connection.transport
        ws = getattr(transport, "ws", None)
        sent = getattr(getattr(ws, "protocol", None), "close_sent", None)
        if sent is not None and getattr(sent, "reason", "") == "keepalive ping timeout":
            return f"no answer to a ping within {self.ping_timeout} s"
        return ""

    async def _pause(self, delay: float) -> None:
        """Sleep `delay` seconds, or less when stop() or reconnect() wakes us."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)
        self._wake.clear()
        self._reconnect_now = False

    async def reconnect(self, code: int = 1000, reason: str = "") -> None:
        """Close the live connection (if any) and connect again at once, without back-off: for
        when the station has a new password, URL or back-off settings to use (SW A01 scenario
        steps 3-4: after accepting a new AuthorizationKey the Charge Point disconnects and
        connects with the new password). While waiting in back-off, the next attempt is made
        now. Needs `run()` running."""
        if not self._running:
            raise RuntimeError(f"{self._identity}: reconnect() needs run() to be running")
        self._reconnect_now = True
        self._wake.set()
        connection = self.connection
        if connection is not None:
            await connection.close(code, reason)

    async def stop(
        self,
        code: int = 1000,
        reason: str = "",
        *,
        before_close: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        """Close the connection with `code` and `reason` (1000: normal closure), stop
        reconnecting, and wait for `run()` to return. Safe to call at any time, repeatedly,
        and before `run()` (which then returns at once). `before_close`, when connected, is
        awaited first, with reconnection already off: the place to end transactions (it may
        close the connection itself)."""
        self._stops += 1
        self._stop_close = (code, reason)
        self._stop.set()
        self._wake.set()
        self._notify()
        if before_close is not None and self.connection is not None:
            try:
                await before_close()
            except Exception:
                self.log.warning("%s: before_close failed", self._identity, exc_info=True)
        connection = self.connection
        if connection is not None:
            await connection.close(code, reason)
        if self._running:
            await self._finished.wait()


# What OpenSSL calls the TLS failures the security event list names (the peer's alert, or our
# own verdict on its ServerHello).
_TLS_VERSION_FAILURES = frozenset(
    ("TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE")
)
_TLS_CIPHER_FAILURES = frozenset(
    (
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "NO_SHARED_CIPHER",
        "NO_CIPHERS_AVAILABLE",
        "TLSV1_ALERT_INSUFFICIENT_SECURITY",
        "WRONG_CIPHER_RETURNED",
    )
)


def _tls_security_event(error: BaseException) -> tuple[str, str] | None:
    """(security event type, techInfo) of a failed TLS handshake, None for other failures."""
    if isinstance(error, ssl_module.SSLCertVerificationError):
        return "InvalidCsmsCertificate", str(error.verify_message or error.reason)[:255]
    if isinstance(error, ssl_module.SSLError):
        reason = str(error.reason or "")
        if reason in _TLS_VERSION_FAILURES:
            return "InvalidTLSVersion", reason
        if reason in _TLS_CIPHER_FAILURES:
            return "InvalidTLSCipherSuite", reason
    return None


def _unoffered(error: NegotiationError) -> str | None:
    """The subprotocol websockets refused, from its message "unsupported subprotocol: X"."""
    _, _, picked = str(error).partition(": ")
    return picked or None
