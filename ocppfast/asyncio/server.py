"""The CSMS side of OCPP-J: a WebSocket server for charging stations.

`Server` listens (by default on 127.0.0.1 only), checks each opening handshake, and runs one
`Connection` (role "csms") per accepted station:

- Endpoint `ws://HOST:PORT[/<path_prefix>]/<identity>`: the identity is the last path segment,
  percent-decoded (J201 3.1.1, J21 3.1.1); see `identity_from_path` for what is refused.
- One endpoint for every enabled version: the version is the best one the station offers in
  `Sec-WebSocket-Protocol`, in the server's order of preference, never taken from the URL
  (J21 3.1.2). Without a common version the handshake completes without a subprotocol and the
  connection is closed at once (J201 3.2, J21 3.3).
- HTTP Basic authentication (security profile 1, and 2 under TLS) with a `Credentials` store,
  checked before the upgrade (SW 2.3 Figure 1 remark: "The server first needs to validate the
  Authorization header before upgrading the connection").
- Security profile 3: `check_client` decides, once the identity is read, whether the TLS
  client certificate is that station's; a refusal is HTTP 403 (see `Server`).
- One live session per identity, compared case-insensitively: a new authenticated connection
  replaces the old one; an unauthenticated one is refused and leaves it untouched.
- Brute-force throttling (`ThrottleLimits`, `ocppfast.asyncio.throttle`): past a budget of
  failed password checks per address and per identity, HTTP 429 with Retry-After before the
  password is checked; the identity's budget does not apply where the station last
  authenticated from.
- A security profile per station (`profiles`): a connection below the station's stored profile
  is refused with 403 (SW A05.FR.09); the first accepted one records it, a higher one raises it.
- TLS: the server does each TLS handshake itself (`loop.start_tls`), so that a failed one (an
  unknown CA or expired certificate, TLS 1.0/1.1, a client that is not TLS) is logged with the
  address and the reason, at most `TLS_FAILURE_LOG_BURST` lines a minute.
- Limits (`ServerLimits`): message size (also after permessage-deflate), handshake time,
  keepalive ping/pong, number of connections.

The logger "ocppfast.server" writes one line per connection event: accepted, refused, replaced,
closed. Neither passwords nor the Authorization header are ever logged, not even by websockets'
own debug log, which the server filters.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import http
import ipaddress
import logging
import os
import re
import ssl as _ssl
import time
import unicodedata
import urllib.parse
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any, Protocol

from websockets.asyncio.server import Server as _WSServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeader
from websockets.headers import parse_subprotocol
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from .._core import Backend
from .._core.quirks import QuirkProfile
from .._core.types import check_versions
from ..transport.websocket import DirectServerConnection, RedactingLogger, WebSocketTransport
from .auth import Credentials
from .connection import DEFAULT_CALL_TIMEOUT, Connection, ConnectionObserver
from .handlers import Handlers
from .throttle import DEFAULT_THROTTLE, AuthThrottle, ThrottleLimits

__all__ = [
    "MAX_IDENTITY_LENGTH",
    "NO_COMMON_VERSION_CLOSE_CODE",
    "REALM",
    "REPLACED_CLOSE_CODE",
    "REPLACED_REASON",
    "InvalidIdentity",
    "Server",
    "ServerLimits",
    "StationProfiles",
    "ThrottleLimits",
    "identity_from_path",
]

_log = logging.getLogger("ocppfast.server")

# J201 3.1.1, J21 3.1.1: "The maximum length of the Charging Station identity is: 48".
MAX_IDENTITY_LENGTH = 48
# The close code when the station offers no version we enable. J201 3.2 and J21 3.3 say only
# "complete the WebSocket handshake with a response without a Sec-WebSocket-Protocol header
# and then immediately close the WebSocket connection", without a code. RFC 6455 7.4.1: 1002
# "is terminating the connection due to a protocol error": the handshake negotiated no OCPP
# version, so no message can be exchanged. (1010 is for a client missing an extension, 1008
# for a policy violation, which an unsupported version is not.)
NO_COMMON_VERSION_CLOSE_CODE = 1002
# The close code of a connection replaced by a newer one of the same identity: 4000, from the
# private-use range (RFC 6455 7.4.2), so that a station (or our own client) can tell it apart
# from a normal closure (1000) and from the server going away (1001).
REPLACED_CLOSE_CODE = 4000
REPLACED_REASON = "replaced by a new connection"
# The protection space named in WWW-Authenticate (RFC 7617 2).
REALM = "ocppfast"
# Failed TLS handshakes logged per minute; the rest are counted in one line.
TLS_FAILURE_LOG_BURST = 20

_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Frames that may carry a credential are never shown by websockets' debug log (see below).


@dataclass(frozen=True)
class ServerLimits:
    """Resource limits of a `Server`; each has a safe default.

    - `max_message_bytes`: the largest message accepted (websockets' `max_size`). A bigger one
      closes the connection with 1009 (message too big, RFC 6455 7.4.1). With permessage-deflate
      the bound applies to the decompressed size, so a small compressed frame that inflates past
      it (a deflate bomb) is cut as soon as it does.
    - `handshake_timeout`: seconds from the TCP connection to the end of the opening handshake
      (websockets' `open_timeout`); a client that sends half a handshake and stalls (slowloris)
      is dropped after it.
    - `ping_interval`: seconds between WebSocket pings to the station (J201 5.3 / J21 5.3: ping
      and pong keep the connection up and detect a dead one); 0 or None turns pinging off.
    - `ping_timeout`: seconds to wait for the pong; without one the connection is closed
      (1011), which detects half-open connections. None waits forever.
    - `max_connections`: beyond this many connections (open or opening), new handshakes get
      HTTP 503 and a log line; the connections already open are not affected.
    - `close_timeout`: seconds to wait for the closing handshake before dropping the TCP
      connection.
    - `listen_backlog`: the listening socket's backlog, so that a reconnection storm after a
      restart is queued by the kernel rather than refused (capped by net.core.somaxconn).
    """

    max_message_bytes: int = 1 << 20
    handshake_timeout: float = 10.0
    ping_interval: float | None = 60.0
    ping_timeout: float | None = 30.0
    max_connections: int = 10_000
    close_timeout: float = 10.0
    listen_backlog: int = 1024

    def __post_init__(self) -> None:
        if self.max_message_bytes < 1:
            raise ValueError("max_message_bytes must be positive")
        if self.handshake_timeout <= 0 or self.close_timeout <= 0:
            raise ValueError("handshake_timeout and close_timeout must be positive")
        if self.ping_interval is not None and self.ping_interval < 0:
            raise ValueError("ping_interval must be positive, or 0/None for no pings")
        if self.ping_timeout is not None and self.ping_timeout <= 0:
            raise ValueError("ping_timeout must be positive, or None")
        if self.max_connections < 1 or self.listen_backlog < 1:
            raise ValueError("max_connections and listen_backlog must be positive")


class StationProfiles(Protocol):
    """Where a `Server` keeps each station's security profile (a `CsmsState` is one).

    SW A05.FR.09 (2.x A05.FR.09): once a station connected with a profile, the CSMS "SHALL NOT
    allow the Charge Point to connect with a lower security profile anymore"; A00.FR.005: lowering
    it "MUST be done through another method, not via OCPP".
    """

    def security_profile(self, identity: str) -> int | None:
        """The lowest profile `identity` may connect with (0-3), None when not yet known."""
        ...

    def connected_with_profile(self, identity: str, profile: int) -> None:
        """`identity` was accepted on a connection of security `profile`: record it when it
        is the first one or higher than the stored one (never lower it)."""
        ...


class InvalidIdentity(ValueError):
    """The request path does not name a valid station identity: `status` is the HTTP status to
    answer with (400 or 404), `why` says what is wrong, for the log."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


def _normalize_prefix(path_prefix: str) -> tuple[str, ...]:
    segments = tuple(segment for segment in path_prefix.strip().split("/") if segment)
    for segment in segments:
        if "%" in segment or "?" in segment or "#" in segment:
            raise ValueError(f"path_prefix {path_prefix!r}: give it unencoded, without ? or #")
    return segments


def identity_from_path(path: str, path_prefix: str = "") -> str:
    """The station identity in the request target `path` (which may carry a query): its last
    path segment, percent-decoded (J201 3.1.1, J21 3.1.1). Raises `InvalidIdentity`.

    With `path_prefix` (e.g. "/ocpp"), the path must lie under it, else 404. The identity is
    refused with 400 when it is empty, longer than 48 characters (J201 3.1.1), contains ":"
    (it is the Basic auth username, J201 3.1.1 / J21 3.1.1), a control character or "/"
    (neither is in identifierString; a decoded "/" would also make the segment ambiguous for
    every proxy that decodes paths), when its percent-encoding is malformed or not UTF-8, or
    when it is percent-encoded twice (a "%25" whose "%" starts another escape once decoded):
    RFC 3986 2.4 forbids decoding twice, and two components that decode a different number of
    times would see two different identities.

    Why 400 and not 404: J201 3.2 / J21 3.3 answer 404 when the CSMS "does not recognize the
    Charging Station identifier", i.e. a well-formed identity it does not know. An identity
    that breaks J201 3.1.1's rules is a malformed request (RFC 9110 15.5.1). A well-formed but
    unknown identity gets 401 when credentials are configured, so that the answer does not tell
    which identities exist; without credentials every identity is accepted.
    """
    target = path.split("#", 1)[0].split("?", 1)[0]
    if not target.startswith("/"):
        raise InvalidIdentity(400, "the request target is not an absolute path")
    segments = target[1:].split("/")
    prefix = _normalize_prefix(path_prefix)
    if prefix:
        head = [urllib.parse.unquote(segment, errors="replace") for segment in segments]
        if len(segments) < len(prefix) or tuple(head[: len(prefix)]) != prefix:
            raise InvalidIdentity(404, f"the path is not under /{'/'.join(prefix)}")
        if len(segments) == len(prefix):
            raise InvalidIdentity(400, "no identity after the endpoint path")
    raw = segments[-1]
    if not raw:
        raise InvalidIdentity(400, "empty identity")
    if _STRAY_PERCENT.search(raw):
        raise InvalidIdentity(400, "malformed percent-encoding in the identity")
    try:
        identity = urllib.parse.unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidIdentity(400, "the identity is not UTF-8 once percent-decoded") from None
    if _ESCAPE.search(identity):
        raise InvalidIdentity(400, "the identity is percent-encoded twice")
    if len(identity) > MAX_IDENTITY_LENGTH:
        raise InvalidIdentity(
            400, f"identity of {len(identity)} characters, at most {MAX_IDENTITY_LENGTH} allowed"
        )
    if ":" in identity:
        raise InvalidIdentity(400, "the identity contains ':'")
    if "/" in identity:
        raise InvalidIdentity(400, "the identity contains '/'")
    if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in identity):
        raise InvalidIdentity(400, "the identity contains a control character")
    return identity


def _offered_versions(headers: Headers) -> list[str]:
    """The subprotocols the client offers, in its order (RFC 6455 4.1, J21 3.1.2)."""
    offered: list[str] = []
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        offered.extend(parse_subprotocol(value))
    return offered


def _basic_credentials(headers: Headers) -> tuple[str, bytes] | None:
    """(username, password bytes) from a single `Authorization: Basic` header, else None.

    The password stays bytes: a 1.6 station may send its raw 20-byte AuthorizationKey, which
    need not be UTF-8 (J16 6.2.2 example). It is everything after the first ':' (RFC 7617 2)."""
    values = headers.get_all("Authorization")
    if len(values) != 1:
        return None
    scheme, _, token = values[0].strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    if not colon:
        return None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None


# What a station's socket keeps of its handshake once the connection runs (Server._handle):
# the request's path, and one shared 101 response; no headers.
_NO_HEADERS = Headers()
_SWITCHED = Response(101, "Switching Protocols", _NO_HEADERS)


class _StationSocket(DirectServerConnection):
    """websockets' server connection, carrying what the handshake learnt about the station;
    its messages go straight to the station's `Connection` (`DirectFrames`)."""

    # Slots: attributes added to websockets' instance dict would make it grow (memory per
    # connection, docs/performance.md).
    __slots__ = (
        "early",
        "identity",
        "offered",
        "opened_at",
        "over_limit",
        "profile",
        "refusal_logged",
    )
    owner: Server

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.identity = ""
        self.offered: tuple[str, ...] = ()
        self.over_limit = ""  # the identity it replaces while over max_connections
        self.refusal_logged = False
        self.opened_at = 0.0
        self.profile = 0  # the security profile of this connection (SW 2), once authenticated
        # While the server's own TLS handshake is being set up: the bytes read meanwhile.
        self.early: bytearray | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.opened_at = time.monotonic()
        if self.owner.ssl is not None and transport.get_extra_info("ssl_object") is None:
            # The server does the TLS handshake itself (Server._tls_handshake), so that a
            # failed one is logged; nothing is read until it is done. (Duck-typed: uvloop's
            # transports are not asyncio's classes.)
            self.early = bytearray()
            transport.pause_reading()  # type: ignore[attr-defined]
            self.owner._tls_handshake(self, transport)
            return
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.early is not None:
            # uvloop starts reading right after connection_made, pause or not: what comes
            # before loop.start_tls() took the transport is the TLS ClientHello, handed to it.
            self.early += data
            return
        super().data_received(data)

    def tls_ready(self, transport: asyncio.BaseTransport) -> None:
        """The TLS handshake succeeded: the WebSocket handshake starts over `transport`."""
        self.early = None
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.early is not None or getattr(self, "transport", None) is None:
            # The TLS handshake failed (logged by Server._start_tls): websockets' connection
            # never started, and nothing was admitted: there is nothing to end.
            self.early = None
            return
        super().connection_lost(exc)
        self.owner._socket_lost(self)


def _address(ws: ServerConnection) -> str:
    address = ws.remote_address
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


def _host(ws: ServerConnection) -> str:
    # The source address without the port: the key of the brute-force throttle.
    address = ws.remote_address
    if isinstance(address, tuple) and address:
        return str(address[0])
    return str(address)


def is_loopback(host: str | None) -> bool:
    """Whether listening on `host` serves this machine only ("" or None: all interfaces)."""
    if host in (None, ""):
        return False  # all interfaces
    assert host is not None
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Server:
    """An OCPP-J server (the CSMS role) for charging stations; see the module docstring.

    - `handlers`: called once per connection with no arguments, returning the `Handlers` that
      answer that station's CALLs (a `Handlers` subclass will do).
    - `host`, `port`: where to listen; 127.0.0.1 by default (nothing listens beyond loopback
      unless asked), port 0 lets the OS choose (`self.port` tells which, once started).
    - `versions`: the OCPP versions enabled, in the server's order of preference.
    - `credentials`: the Basic auth passwords; None accepts every identity without
      authentication (and says so in the log at start). With `credentials.required` False, only
      the identities that have a password must authenticate.
    - `admits`: a function of the identity saying whether the station may connect at all (a
      registration policy that admits registered stations only); one it refuses gets HTTP 404
      before the upgrade (J201 3.2, J21 3.3: the CSMS "does not recognize the Charging Station
      identifier").
    - `observer`: told of every frame of every connection (`ConnectionObserver`): the traffic
      log and metrics of a CSMS.
    - `quirks`: a quirk profile for every station, or a function of the identity returning one
      (or None).
    - `limits`: `ServerLimits`; `call_timeout`: default seconds for `Connection.call()`.
    - `path_prefix`: the endpoint path (e.g. "/ocpp"); paths outside it get 404.
    - `ssl`: a server `SSLContext` for wss:// (security profiles 2 and 3).
    - `check_client`: security profile 3: `check_client(ssl_object, identity)` is called for
      every handshake once the identity is read from the path, before anything else about it
      (`ssl_object`: the connection's `ssl.SSLObject`, None without TLS), and returns why the
      station must be refused, or None; `ocppfast.security.check_station_certificate` is
      one (the CN is the identity, not revoked: A00.FR.403-405). A refusal answers HTTP 403
      Forbidden and is logged with the identity and the reason (A00.FR.407, A00.FR.408).
      403, not 401: a 401 must carry a WWW-Authenticate challenge of an HTTP authentication
      scheme (RFC 9110 15.5.2, 11.6.1), and no scheme can present another certificate; 403
      says the server understood who asks and refuses, and that repeating the request with
      the same credentials will not help (RFC 9110 15.5.4). With it, stations need no Basic
      authentication: leave `credentials` None (the log then says certificates).
    - `profiles`: where each station's security profile is kept (`StationProfiles`, e.g. the
      `CsmsState`). The profile of a connection is 0 (no authentication), 1 (HTTP Basic over
      ws://), 2 (Basic over wss://) or 3 (a client certificate checked by `check_client`);
      the first accepted connection of a station records it, a higher one raises it, and a
      connection below the stored profile is refused with HTTP 403 before the upgrade (SW
      A05.FR.09, A00.FR.005), logged with the identity, address and both profiles. 403 for
      the reason given for `check_client`: no credentials sent the same way will do
      (RFC 9110 15.5.4); 426 Upgrade Required is for an HTTP `Upgrade` the client could
      perform in place (RFC 9110 15.5.22, 7.8), while TLS or a certificate means another
      connection to another endpoint.
    - `throttle`: the brute-force budget of failed password checks per address and per
      identity (`ThrottleLimits`, `ocppfast.asyncio.throttle`): past it, HTTP 429 with
      Retry-After (RFC 6585 4) before the password is checked.
    - `core`: the core backend for the connections; `logger`: instead of "ocppfast.server".

    Use it as `async with Server(...) as server:` or `await server.start()` ...
    `await server.stop()`; `await server.serve_forever()` serves until cancelled.

    When a connection replaces an older one of the same identity, the new one is registered
    at once and the old one closed meanwhile: the old handlers' `disconnected()` may run after
    the new handlers' `connected()`.
    """

    def __init__(
        self,
        handlers: Callable[[], Handlers] = Handlers,
        *,
        host: str = "127.0.0.1",
        port: int = 9000,
        versions: Sequence[str] = ("ocpp2.1", "ocpp2.0.1", "ocpp1.6"),
        credentials: Credentials | None = None,
        admits: Callable[[str], bool] | None = None,
        observer: ConnectionObserver | None = None,
        quirks: QuirkProfile | Callable[[str], QuirkProfile | None] | None = None,
        limits: ServerLimits = ServerLimits(),  # frozen, so one shared default is safe
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        path_prefix: str = "",
        ssl: _ssl.SSLContext | None = None,
        check_client: Callable[[_ssl.SSLObject | None, str], str | None] | None = None,
        profiles: StationProfiles | None = None,
        throttle: ThrottleLimits = DEFAULT_THROTTLE,
        core: Backend | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if isinstance(versions, str):
            raise TypeError("versions is a sequence of versions, e.g. ('ocpp2.0.1',)")
        enabled = check_versions(versions)
        self.handlers = handlers
        self.host = host
        self.versions: tuple[str, ...] = enabled
        self.credentials = credentials
        self.admits = admits
        self.observer = observer
        self.quirks = quirks
        self.limits = limits
        self.call_timeout = call_timeout
        self._prefix = _normalize_prefix(path_prefix)
        self.path_prefix = "/" + "/".join(self._prefix) if self._prefix else ""
        self.ssl = ssl
        self.check_client = check_client
        self.profiles = profiles
        self.throttle = AuthThrottle(throttle)
        self.core = core
        self.log = logger or _log
        self._port = port
        self._ws_server: _WSServer | None = None
        self._connections: dict[str, Connection] = {}
        #: The live connections, keyed by case-folded identity (a read-only, live view).
        self.connections: Mapping[str, Connection] = MappingProxyType(self._connections)
        # Connections counted against max_connections: admitted by process_request, until
        # their TCP connection is gone.
        self._admitted: set[ServerConnection] = set()
        # Identities with a replacing handshake admitted over max_connections.
        self._over_limit: set[str] = set()
        self._stopping: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._verifying: asyncio.Semaphore | None = None
        # TLS handshakes in progress (`_tls_handshake`), and the rate limit of their failure
        # log: at most TLS_FAILURE_LOG_BURST lines per minute, then a count.
        self._tls_pending: set[asyncio.Task[None]] = set()
        self._tls_log_window = 0.0
        self._tls_logged = 0
        self._tls_unlogged = 0

    def __repr__(self) -> str:
        state = "listening" if self._ws_server is not None else "stopped"
        return f"<Server {self.url} {state}, {len(self._connections)} connections>"

    # -- public API ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port listened on: the one the OS chose when started with port 0."""
        if self._ws_server is not None:
            for sock in self._ws_server.sockets:
                return int(sock.getsockname()[1])
        return self._port

    @property
    def url(self) -> str:
        """The OCPP-J endpoint URL stations derive their connection URL from (J201 3.1.1):
        append "/" and the identity."""
        scheme = "wss" if self.ssl is not None else "ws"
        host = self.host or "0.0.0.0"
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}{self.path_prefix}"

    def connection(self, identity: str) -> Connection | None:
        """The live connection of `identity` (compared case-insensitively), else None."""
        return self._connections.get(identity.casefold())

    async def start(self) -> None:
        """Bind and start accepting connections."""
        if self._ws_server is not None:
            raise RuntimeError("the server is already started")
        limits = self.limits
        # scrypt takes tens of ms and 16 MiB: a bounded number run at once, in threads.
        self._verifying = asyncio.Semaphore(max(2, os.cpu_count() or 2))
        # A subclass per server, so that each socket can reach its server when it is lost.
        socket_class = type("_Socket", (_StationSocket,), {"owner": self})
        self._ws_server = await serve(
            self._handle,
            self.host,
            self._port,
            select_subprotocol=self._select_subprotocol,
            process_request=self._process_request,
            process_response=self._process_response,
            # J201 3.3 / J21 3.4: the CSMS SHALL support RFC 7692 compression.
            compression="deflate",
            server_header=None,  # do not advertise software versions
            open_timeout=limits.handshake_timeout,
            ping_interval=limits.ping_interval or None,
            ping_timeout=limits.ping_timeout,
            close_timeout=limits.close_timeout,
            max_size=limits.max_message_bytes,
            logger=RedactingLogger(logging.getLogger("websockets.server"), {}),
            create_connection=socket_class,
            # Not ssl=self.ssl: the sockets do the TLS handshake (_start_tls), to log failures.
            backlog=limits.listen_backlog,
        )
        credentials = self.credentials
        if credentials is None and self.check_client is not None:
            auth = "TLS client certificates checked against the identity (security profile 3)"
        elif credentials is None:
            auth = "NO authentication: accepts any identity without credentials"
        elif credentials.required:
            auth = f"HTTP Basic authentication ({len(credentials)} identities)"
        else:
            auth = (
                f"HTTP Basic authentication for the {len(credentials)} identities with a "
                "password, none for the others"
            )
        self.log.info("listening on %s (versions %s; %s)", self.url, ", ".join(self.versions), auth)
        if credentials is None and self.check_client is None:
            self.log.warning(
                "accepting any station identity without authentication (credentials=None)"
            )
        elif self.ssl is None and not is_loopback(self.host):
            # SW A00.FR.201 / 2.x security profile 1: only for trusted networks.
            self.log.warning(
                "Basic authentication over unencrypted ws:// on %s: passwords cross the network "
                "in clear (security profile 1 is for trusted networks only)",
                self.host or "all interfaces",
            )

    async def stop(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Stop listening, refuse handshakes in progress (HTTP 503), close every connection
        with `code` and `reason`, and wait until they have ended. Calls made while stopping
        wait for the same stop."""
        if self._stopping is None:
            if self._ws_server is None:
                return
            self._stopping = asyncio.ensure_future(self._stop(code, reason))
        await asyncio.shield(self._stopping)

    async def _stop(self, code: int, reason: str) -> None:
        server = self._ws_server
        assert server is not None
        self.log.info(
            "stopping: closing %d connections (%d %s)", len(self._connections), code, reason
        )
        server.close(close_connections=True, code=code, reason=reason)
        for pending in list(self._tls_pending):  # TLS handshakes not done: dropped
            pending.cancel()
        await server.wait_closed()
        tasks = list(self._tasks)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._ws_server = None
        self._stopping = None
        self.log.info("stopped")

    async def serve_forever(self) -> None:
        """Start (unless started) and serve until cancelled; then stop."""
        if self._ws_server is None:
            await self.start()
        server = self._ws_server
        assert server is not None
        try:
            await server.wait_closed()
        finally:
            await asyncio.shield(self.stop())

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- the handshake ---------------------------------------------------------------------

    def _choose_version(self, offered: Sequence[str]) -> str | None:
        # The server's preference (`versions` order) decides among the versions both sides
        # support: J21 3.1.2 has the client list its versions in its order of preference, but
        # the server picks one (RFC 6455 4.2.2, /subprotocol/). Never from the URL (J21 3.1.2).
        for version in self.versions:
            if version in offered:
                return version
        return None

    def _select_subprotocol(
        self, ws: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        # Returning None completes the handshake without a Sec-WebSocket-Protocol header, also
        # when the client sent none (websockets' default would answer 400): J201 3.2, J21 3.3.
        version = self._choose_version(offered)
        return Subprotocol(version) if version is not None else None

    def _refuse(
        self, ws: ServerConnection, status: http.HTTPStatus, why: str, who: str
    ) -> Response:
        if isinstance(ws, _StationSocket):
            ws.refusal_logged = True
        self.log.warning("refused %s from %s: %s (HTTP %d)", who, _address(ws), why, status.value)
        return ws.respond(status, f"{status.phrase}\n")

    async def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        try:
            identity = identity_from_path(request.path, "/".join(self._prefix))
        except InvalidIdentity as exc:
            status = http.HTTPStatus(exc.status)
            return self._refuse(ws, status, exc.why, f"path {request.path!r}")
        who = repr(identity)
        assert isinstance(ws, _StationSocket)
        ws.identity = identity
        if self.check_client is not None:
            # Profile 3: the certificate first, so that a station with another's certificate
            # learns nothing more (not even whether the identity is registered).
            transport = ws.transport
            ssl_object = transport.get_extra_info("ssl_object") if transport else None
            why = self.check_client(ssl_object, identity)
            if why is not None:
                return self._refuse(
                    ws, http.HTTPStatus.FORBIDDEN, f"station certificate refused: {why}", who
                )
        with contextlib.suppress(InvalidHeader):  # websockets answers 400 for it in accept()
            ws.offered = tuple(_offered_versions(request.headers))
        if self.admits is not None and not self.admits(identity):
            return self._refuse(
                ws, http.HTTPStatus.NOT_FOUND, "unknown station (not registered)", who
            )
        folded = identity.casefold()
        if len(self._admitted) >= self.limits.max_connections:
            # A station replacing its live connection may exceed the limit, since the old one
            # is about to go; one handshake per identity at a time, else a flood of bogus
            # handshakes naming a live identity would bypass the limit.
            if folded in self._connections and folded not in self._over_limit:
                self._over_limit.add(folded)
                ws.over_limit = folded
            else:
                return self._refuse(
                    ws,
                    http.HTTPStatus.SERVICE_UNAVAILABLE,
                    f"{self.limits.max_connections} connections already (max_connections)",
                    who,
                )
        self._admitted.add(ws)
        credentials = self.credentials
        basic = False
        if credentials is not None and (
            credentials.required
            or credentials.known(identity)
            # A station given its first password by a rotation (credentials.pending) that
            # presents it: checked, so that the password becomes its own (SW A01).
            or ("Authorization" in request.headers and credentials.has_any(identity))
        ):
            refused = await self._authenticate(ws, identity, request.headers, who)
            if refused is not None:
                return refused
            basic = True
        tls = self.ssl is not None
        ws.profile = 3 if tls and self.check_client is not None else (1 + tls if basic else 0)
        if self.profiles is not None:
            stored = self.profiles.security_profile(identity)
            if stored is not None and ws.profile < stored:
                # SW A05.FR.09: no connection below the profile the station reached; lowering
                # it is the operator's (A00.FR.005), through the API, never the connection.
                return self._refuse(
                    ws,
                    http.HTTPStatus.FORBIDDEN,
                    f"connected with security profile {ws.profile}, below its profile {stored} "
                    "(SW A05.FR.09; lower it through the API if intended: A00.FR.005)",
                    who,
                )
        return None

    async def _authenticate(
        self, ws: _StationSocket, identity: str, headers: Headers, who: str
    ) -> Response | None:
        """None when the Basic credentials are those of `identity`, else the refusal: 401
        (the reason only goes to the log), or 429 while the address or identity is throttled
        for too many failed password checks."""
        credentials = self.credentials
        assert credentials is not None
        why = None
        found = _basic_credentials(headers)
        if "Authorization" not in headers:
            why = "no Authorization header (HTTP Basic authentication required)"
        elif found is None:
            why = "malformed Authorization header (expected one 'Basic' header)"
        # SW A00.FR.204 / 2.x A00.FR.204, TC_A_02_CSMS: the username is the identity of the
        # connection URL; identities compare case-insensitively (identifierString).
        elif found[0].casefold() != identity.casefold():
            why = "the Basic auth username is not the identity of the URL"
        if why is not None or found is None:
            # No password was checked, so nothing was guessed: not counted by the throttle.
            return self._unauthorized(ws, why or "", who)
        host = _host(ws)
        # The throttle comes before the password check: a throttled guess learns nothing.
        waiting = self.throttle.wait(host, identity)
        if waiting is not None:
            seconds, key = waiting
            ws.refusal_logged = True
            # One line when a budget is spent (failed() below); the attempts refused meanwhile
            # only at debug level, so that a flood of guesses cannot fill the log.
            self.log.debug(
                "throttled %s from %s: too many failed passwords for this %s; retry after %ds "
                "(HTTP 429)",
                who,
                _address(ws),
                key,
                seconds,
            )
            response = ws.respond(
                http.HTTPStatus.TOO_MANY_REQUESTS, f"{http.HTTPStatus.TOO_MANY_REQUESTS.phrase}\n"
            )
            response.headers["Retry-After"] = str(seconds)  # RFC 6585 4, RFC 9110 10.2.3
            return response
        version = self._choose_version(ws.offered)
        assert self._verifying is not None
        async with self._verifying:
            matched = await asyncio.to_thread(
                credentials.check, identity, found[1], version=version
            )
        if matched:
            self.throttle.succeeded(host, identity)
            if matched == 2 and credentials.promote(identity):
                self.log.info(
                    "%s authenticated with its new password: the old one is no longer accepted "
                    "(SW A01)",
                    who,
                )
            return None
        why = "wrong password" if credentials.has_any(identity) else "unknown identity"
        if self.throttle.failed(host, identity):
            limits = self.throttle.limits
            self.log.warning(
                "throttling %s from %s: %d failed passwords for the identity or %d from the "
                "address within %gs; further attempts get HTTP 429 for a growing while "
                "(up to %gs)",
                who,
                _address(ws),
                limits.failures,
                limits.address_failures,
                limits.window,
                limits.max_delay,
            )
        return self._unauthorized(ws, why, who)

    def _unauthorized(self, ws: ServerConnection, why: str, who: str) -> Response:
        response = self._refuse(ws, http.HTTPStatus.UNAUTHORIZED, why, who)
        # RFC 7235 3.1 / RFC 7617 2: a 401 names the scheme and realm to use.
        response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
        return response

    def _process_response(
        self, ws: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        # Log what websockets itself refused (a malformed upgrade request, bad headers).
        if (
            response.status_code != http.HTTPStatus.SWITCHING_PROTOCOLS
            and isinstance(ws, _StationSocket)
            and not ws.refusal_logged
        ):
            ws.refusal_logged = True
            why = (response.body or b"").decode("utf-8", "replace").strip().splitlines()
            self.log.warning(
                "refused %s from %s: %s (HTTP %d)",
                repr(ws.identity) if ws.identity else f"path {request.path!r}",
                _address(ws),
                why[0] if why else response.reason_phrase,
                response.status_code,
            )
        return None

    def _release_over_limit(self, ws: _StationSocket) -> None:
        if ws.over_limit:
            self._over_limit.discard(ws.over_limit)
            ws.over_limit = ""

    def _socket_lost(self, ws: _StationSocket) -> None:
        self._admitted.discard(ws)
        self._release_over_limit(ws)
        if ws.response is not None:
            return
        # The TCP connection ended before we answered the handshake.
        waited = time.monotonic() - ws.opened_at
        if waited >= self.limits.handshake_timeout * 0.9:
            self.log.warning(
                "refused %s from %s: no complete handshake within %gs (handshake_timeout)",
                repr(ws.identity) if ws.identity else "a client",
                _address(ws),
                self.limits.handshake_timeout,
            )
        else:
            self.log.debug("%s closed the connection during the handshake", _address(ws))

    # -- connections -----------------------------------------------------------------------

    def _tls_handshake(self, ws: _StationSocket, transport: Any) -> None:
        task = asyncio.ensure_future(self._start_tls(ws, transport))
        self._tls_pending.add(task)
        task.add_done_callback(self._tls_pending.discard)
        # Callbacks run in the order they were scheduled: the task's first step (start_tls
        # takes the transport, then schedules its protocol's connection_made and the resumed
        # reading), then this one, which schedules the hand-over of the bytes read meanwhile
        # right after those two, before the loop reads anything more.
        loop = asyncio.get_running_loop()
        loop.call_soon(loop.call_soon, self._hand_over_early, ws, transport)

    @staticmethod
    def _hand_over_early(ws: _StationSocket, transport: Any) -> None:
        data, ws.early = ws.early, None
        protocol = transport.get_protocol()
        if not data or protocol is ws or transport.is_closing():
            return
        if hasattr(protocol, "get_buffer"):  # asyncio's and uvloop's SSLProtocol
            view = memoryview(bytes(data))
            while view:
                buffer = protocol.get_buffer(len(view))
                size = min(len(buffer), len(view))
                buffer[:size] = view[:size]
                protocol.buffer_updated(size)
                view = view[size:]
        else:
            protocol.data_received(bytes(data))

    async def _start_tls(self, ws: _StationSocket, transport: Any) -> None:
        # asyncio reports a failed server-side TLS handshake nowhere (only in debug mode), so
        # the server does the handshake itself with loop.start_tls() on the accepted TCP
        # connection, and logs a failure with the address and OpenSSL's reason: an unknown CA
        # or expired client certificate (A00.FR.407), TLS 1.0/1.1 (A00.FR.314, A00.FR.418), a
        # client that does not speak TLS.
        assert self.ssl is not None
        address = transport.get_extra_info("peername")
        loop = asyncio.get_running_loop()
        try:
            tls = await loop.start_tls(
                transport,
                ws,
                self.ssl,
                server_side=True,
                ssl_handshake_timeout=self.limits.handshake_timeout,
            )
        except asyncio.CancelledError:
            transport.abort()
            raise
        except Exception as exc:  # whatever the client did, one line and the socket closed
            transport.abort()
            self._log_tls_failure(address, exc)
            return
        if tls is None:  # closed meanwhile
            return
        ws.tls_ready(tls)

    def _log_tls_failure(self, address: Any, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._tls_log_window >= 60.0:
            if self._tls_unlogged:
                self.log.warning(
                    "%d more failed TLS handshakes in the last minute were not logged",
                    self._tls_unlogged,
                )
            self._tls_log_window, self._tls_logged, self._tls_unlogged = now, 0, 0
        if self._tls_logged >= TLS_FAILURE_LOG_BURST:
            self._tls_unlogged += 1  # a flood cannot fill the log
            return
        self._tls_logged += 1
        if isinstance(exc, _ssl.SSLCertVerificationError):
            why = f"client certificate refused: {exc.verify_message}"
        elif isinstance(exc, _ssl.SSLError):
            why = exc.reason or str(exc)
            if why == "UNSUPPORTED_PROTOCOL":
                why += ": a TLS version below 1.2 (SW A00.FR.314, A00.FR.418)"
            elif why in ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST"):
                why += ": not a TLS client (plain ws:// to the wss:// port?)"
        elif isinstance(exc, TimeoutError):
            why = f"no TLS handshake within {self.limits.handshake_timeout:g}s"
        elif isinstance(exc, ConnectionError):
            why = "the client closed the connection during the TLS handshake"
        else:
            why = f"{type(exc).__name__}: {exc}"
        if isinstance(address, tuple) and len(address) >= 2:
            host, port = address[0], address[1]
            shown = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
        else:
            shown = str(address)
        self.log.warning("failed TLS handshake from %s: %s", shown, why)

    def _quirks_for(self, identity: str) -> QuirkProfile | None:
        quirks = self.quirks
        if quirks is None or isinstance(quirks, QuirkProfile):
            return quirks
        return quirks(identity)

    async def _handle(self, ws: ServerConnection) -> None:
        assert isinstance(ws, _StationSocket)
        self._release_over_limit(ws)
        # What the handshake's headers told (identity, versions, credentials) has been read;
        # websockets would keep the request's and the response's headers for the connection's
        # life: some 3 KiB per station, a sixth of an idle one's memory (docs/performance.md).
        # (The request stays, headerless: websockets takes a socket without one for one whose
        # handshake has not come yet.)
        if ws.request is not None:
            ws.request = Request(ws.request.path, _NO_HEADERS)
        ws.response = _SWITCHED
        identity = ws.identity
        address = _address(ws)
        version = ws.subprotocol
        if version is None:
            # J201 3.2, J21 3.3: handshake completed without a subprotocol; close at once.
            self.log.warning(
                "refused %r from %s: no common OCPP version (offered: %s; enabled: %s); "
                "closed with %d",
                identity,
                address,
                ", ".join(ws.offered) or "none",
                ", ".join(self.versions),
                NO_COMMON_VERSION_CLOSE_CODE,
            )
            await ws.close(NO_COMMON_VERSION_CLOSE_CODE, "no common OCPP version")
            return
        try:
            connection = Connection(
                WebSocketTransport(ws, self.core),
                role="csms",
                version=version,
                handlers=self.handlers(),
                identity=identity,
                observer=self.observer,
                call_timeout=self.call_timeout,
                quirks=self._quirks_for(identity),
                max_frame_bytes=self.limits.max_message_bytes,
                core=self.core,
            )
        except Exception:
            self.log.exception(
                "refused %r from %s: setting up its connection failed", identity, address
            )
            await ws.close(1011, "internal error")
            return
        folded = identity.casefold()
        previous = self._connections.get(folded)
        self._connections[folded] = connection
        if previous is not None:
            self.log.warning(
                "replaced %r (%s, %s) by a new connection from %s: closing the old one with %d",
                previous.identity,
                previous.version,
                previous.transport.remote_address,
                address,
                REPLACED_CLOSE_CODE,
            )
            self._spawn(previous.close(REPLACED_CLOSE_CODE, REPLACED_REASON))
        if self.profiles is not None:
            self.profiles.connected_with_profile(identity, ws.profile)
        self.log.info(
            "accepted %r (%s) from %s (security profile %d)", identity, version, address, ws.profile
        )
        started = time.monotonic()
        try:
            await connection.run()
        finally:
            if self._connections.get(folded) is connection:
                del self._connections[folded]
            self._log_closed(ws, connection, time.monotonic() - started)

    def _log_closed(self, ws: ServerConnection, connection: Connection, duration: float) -> None:
        protocol = ws.protocol
        sent, received = protocol.close_sent, protocol.close_rcvd
        if sent is not None and (received is None or not protocol.close_rcvd_then_sent):
            code, reason, by = sent.code, sent.reason, "by the server"
        elif received is not None:
            code, reason, by = received.code, received.reason, "by the station"
        else:
            code, reason, by = 1006, "connection lost", "without a close frame"
        # Our own error closes (message too big, keepalive timeout, ...) deserve attention.
        expected = (1000, 1001, REPLACED_CLOSE_CODE)
        level = logging.WARNING if by == "by the server" and code not in expected else logging.INFO
        if code == 1009:
            reason = f"{reason}; max_message_bytes is {self.limits.max_message_bytes}"
        self.log.log(
            level,
            "closed %r (%s) from %s: code %d%s %s after %.1fs",
            connection.identity,
            connection.version,
            connection.transport.remote_address,
            code,
            f" ({reason})" if reason else "",
            by,
            duration,
        )

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
