"""The station-side WebSocket client (`ocppfast.asyncio.client`), over real sockets on 127.0.0.1
against a small CSMS written here on websockets' server, on both core backends.

Back-off values are tiny so that reconnections take milliseconds; assertions never depend on
timing beyond generous timeouts.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from ocppfast import v16, v21, v201
from ocppfast._core import Backend
from ocppfast._core.types import VERSIONS
from ocppfast.asyncio import Connection, ConnectionObserver, Handlers, on
from ocppfast.asyncio.client import (
    BackOff,
    Client,
    ClientStopped,
    ConnectError,
    HandshakeRefused,
    NoCommonVersion,
    PasswordRefused,
    basic_auth_header,
    connection_url,
)
from ocppfast.exceptions import ActionNotSupportedError
from ocppfast.transport.websocket import WebSocketTransport
from tests.aio import free_port, run, until

MODULES: dict[str, Any] = {"ocpp1.6": v16, "ocpp2.0.1": v201, "ocpp2.1": v21}
TINY = BackOff(wait_minimum=0.02, random_range=0.0, repeat_times=2)
CLIENT_LOG = "ocppfast.client"


async def heartbeat(connection: Connection) -> Any:
    """A Heartbeat round trip in the connection's version: proves the connection works."""
    return await asyncio.wait_for(
        connection.call(MODULES[connection.version].HeartbeatRequest()), 10
    )


def expected_header(username: str, password: bytes) -> str:
    """Basic credentials as SW 2.3 remark 7 writes them, computed independently."""
    return "Basic " + base64.b64encode(username.encode() + b":" + password).decode()


# --------------------------------------------------------------------------------------------
# A minimal CSMS


class CsmsHandlers(Handlers):
    @on("Heartbeat")
    def heartbeat(self, request: Any) -> Any:
        module = MODULES[self.connection.version]
        return module.HeartbeatResponse(current_time=datetime.now(timezone.utc))


class _PingCounter(logging.Handler):
    """Counts the Ping frames websockets' server debug log reports as received."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.pings = 0

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if record.msg == "< %s" and isinstance(args, tuple) and str(args[0]).startswith("PING"):
            self.pings += 1


class Csms:
    """A CSMS on 127.0.0.1 that records what it was sent and answers Heartbeat.

    - `versions`: what it supports; it picks the client's most preferred one of them.
    - `select`: overrides the choice (it may pick nothing, or something never offered).
    - `password`: when set, the Basic credentials `identity:password` are required (401).
    """

    def __init__(
        self,
        core: Backend,
        *,
        versions: Sequence[str] = VERSIONS,
        select: Callable[[Sequence[str]], str | None] | None = None,
        password: bytes | None = None,
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.core = core
        self.versions = versions
        self.select = select
        self.password = password
        self.port = port
        self.tls = tls
        self.requests: list[Request] = []
        self.connections: list[Connection] = []
        self.refused = 0
        self.closed_without_version: list[int | None] = []
        self.ping_counter = _PingCounter()
        self._server: Server | None = None

    @property
    def url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/ocpp"

    @property
    def pings(self) -> int:
        return self.ping_counter.pings

    async def __aenter__(self) -> Csms:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        log = logging.getLogger(f"tests.client.csms.{id(self)}")
        log.setLevel(logging.DEBUG)  # websockets logs frames only when DEBUG is enabled
        log.propagate = False
        log.handlers[:] = [self.ping_counter]
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            select_subprotocol=self._select,
            process_request=self._check,
            ping_interval=None,
            ssl=self.tls,
            logger=log,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _select(self, ws: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        picked = (
            self.select(offered)
            if self.select is not None
            else next((v for v in offered if v in self.versions), None)
        )
        return None if picked is None else Subprotocol(picked)

    def _check(self, ws: ServerConnection, request: Request) -> Response | None:
        self.requests.append(request)
        if self.password is None:
            return None
        identity = urllib.parse.unquote(request.path.rsplit("/", 1)[-1])
        if request.headers.get("Authorization") == expected_header(identity, self.password):
            return None
        self.refused += 1
        response = ws.respond(HTTPStatus.UNAUTHORIZED, "wrong credentials\n")
        response.headers["WWW-Authenticate"] = 'Basic realm="ocpp"'
        return response

    async def _handle(self, ws: ServerConnection) -> None:
        if ws.subprotocol not in VERSIONS:
            await ws.wait_closed()
            self.closed_without_version.append(ws.close_code)
            return
        connection = Connection(
            WebSocketTransport(ws), role="csms", handlers=CsmsHandlers, core=self.core
        )
        self.connections.append(connection)
        await connection.run()


class StationHandlers(Handlers):
    """Records the per-connection callbacks."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def connected(self) -> None:
        self.events.append("connected")

    def disconnected(self) -> None:
        self.events.append("disconnected")


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith(CLIENT_LOG)]


def delays(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [r.ocppfast_delay for r in caplog.records if hasattr(r, "ocppfast_delay")]


# --------------------------------------------------------------------------------------------
# Back-off (no network)


def test_backoff_sequence_doubles_then_stays() -> None:
    """J201 5.3, J201 8.1-8.3, TC_B_57_CS: RetryBackOffWaitMinimum first, doubled after every
    failed attempt at most RetryBackOffRepeatTimes times, then kept."""
    waits = BackOff(wait_minimum=3, random_range=0, repeat_times=2).delays()
    assert [next(waits) for _ in range(6)] == [3, 6, 12, 12, 12, 12]
    waits = BackOff(wait_minimum=3, random_range=0, repeat_times=0).delays()
    assert [next(waits) for _ in range(3)] == [3, 3, 3]
    defaults = BackOff(random_range=0).delays()
    assert [next(defaults) for _ in range(8)] == [3, 6, 12, 24, 48, 96, 96, 96]


def test_backoff_jitter_is_new_each_time_and_reproducible() -> None:
    """J201 5.3: each attempt adds a new random value of at most RetryBackOffRandomRange to the
    (doubled) back-off time; the random part itself is never doubled."""
    backoff = BackOff(wait_minimum=3, random_range=2, repeat_times=3)
    first = backoff.delays(random.Random(7))
    got = [next(first) for _ in range(7)]
    again = backoff.delays(random.Random(7))
    assert [next(again) for _ in range(7)] == got  # seeded: deterministic
    rng = random.Random(7)
    bases = [3, 6, 12, 24, 24, 24, 24]
    assert got == [base + rng.uniform(0, 2) for base in bases]
    for base, wait in zip(bases, got, strict=True):
        assert base <= wait <= base + 2
    assert len({round(w - b, 9) for b, w in zip(bases, got, strict=True)}) == len(
        got
    )  # fresh jitter


def test_backoff_refuses_negative_values() -> None:
    """J201 8.1-8.3: the variables are non-negative numbers of seconds / doublings."""
    with pytest.raises(ValueError, match="wait_minimum"):
        BackOff(wait_minimum=-1)
    with pytest.raises(ValueError, match="random_range"):
        BackOff(random_range=float("nan"))
    with pytest.raises(ValueError, match="repeat_times"):
        BackOff(repeat_times=-1)


# --------------------------------------------------------------------------------------------
# Connection URL, credentials, arguments (no network)


def test_connection_url_appends_the_percent_encoded_identity() -> None:
    """J16 3.1.1, J201 3.1.1 (examples 1-2), J21 3.1.1 (example 2): "/" + identity, encoded."""
    assert (
        connection_url("ws://csms.example.com/ocpp", "CS001") == "ws://csms.example.com/ocpp/CS001"
    )
    assert (
        connection_url("wss://csms.example.com/ocppj", "RDAM 123")
        == "wss://csms.example.com/ocppj/RDAM%20123"
    )
    assert (
        connection_url("wss://csms.example.com/ocppj", "RDAM|123")
        == "wss://csms.example.com/ocppj/RDAM%7C123"
    )
    assert connection_url("ws://127.0.0.1:9000", "CP1") == "ws://127.0.0.1:9000/CP1"
    assert connection_url("ws://127.0.0.1:9000/", "CP1") == "ws://127.0.0.1:9000/CP1"
    assert connection_url("ws://h/ocpp/", "CP/1") == "ws://h/ocpp/CP%2F1"
    assert connection_url("ws://h/ocpp?x=1", "CP1") == "ws://h/ocpp/CP1?x=1"
    assert connection_url("ws://[::1]:80/o", "a%b") == "ws://[::1]:80/o/a%25b"
    # identifierString characters that a path segment may hold stay readable.
    assert connection_url("ws://h", "a*b-c_d=e+f@g.h") == "ws://h/a*b-c_d=e+f@g.h"
    # Non-ASCII: IDNA host, UTF-8 percent-encoding, nothing encoded twice.
    assert (
        connection_url("ws://bücher.example/ä", "é") == "ws://xn--bcher-kva.example/%C3%A4/%C3%A9"
    )


def test_connection_url_refuses_what_cannot_work() -> None:
    """J201 3.1.1: a ws/wss endpoint URL; credentials go in the Basic header, not the URL
    (SW A00.FR.204: the username is the identity)."""
    for bad in ("http://h/ocpp", "ws:///ocpp", "ws://user:pw@h/ocpp", "ws://h/ocpp#x"):
        with pytest.raises(ValueError):
            connection_url(bad, "CP1")
    with pytest.raises(ValueError, match="empty"):
        connection_url("ws://h", "")


def test_basic_auth_header_follows_the_security_whitepaper() -> None:
    """SW 2.3 remark 7, A00.FR.203-205: Basic base64(<ChargePointId>:<AuthorizationKey>), the key
    hexadecimal-represented; E201 BasicAuthPassword: sent as its UTF-8 text."""
    key = "0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF"  # J16 6.2.2's example key
    assert basic_auth_header("AL1000", key) == expected_header("AL1000", key.encode())
    assert basic_auth_header("AL1000", bytes.fromhex(key)) == expected_header(
        "AL1000", key.encode()
    )
    assert basic_auth_header("CP1", "pässwörd") == expected_header("CP1", "pässwörd".encode())
    with pytest.raises(ValueError, match="':'"):  # J21 3.1.1, RFC 7617 2
        basic_auth_header("CP:1", "secret")


def test_client_refuses_bad_arguments() -> None:
    """J201 3.1.2 (known versions only), J201 8.4 (no negative ping interval)."""
    with pytest.raises(ValueError, match="unknown OCPP version"):
        Client("ws://h", "CP1", versions=("ocpp1.5",))
    with pytest.raises(ValueError, match="at least one"):
        Client("ws://h", "CP1", versions=())
    with pytest.raises(TypeError):
        Client("ws://h", "CP1", versions="ocpp1.6")
    with pytest.raises(ValueError, match="twice"):
        Client("ws://h", "CP1", versions=("ocpp1.6", "ocpp1.6"))
    with pytest.raises(ValueError, match="ping_interval"):
        Client("ws://h", "CP1", ping_interval=-1)
    with pytest.raises(ValueError, match="wss"):
        Client("ws://h", "CP1", ssl=ssl.create_default_context())
    with pytest.raises(ValueError, match="':'"):
        Client("ws://h", "CP:1", password="secret")
    client = Client("ws://h/ocpp", "CP1", password="0123456789abcdef")
    assert "0123456789abcdef" not in repr(client)
    assert client.connection is None and not client.connected


# --------------------------------------------------------------------------------------------
# Version negotiation


def test_offers_versions_in_preference_order_and_uses_the_one_picked(core: Backend) -> None:
    """J21 3.1.2, 3.1.3: Sec-WebSocket-Protocol lists the versions in order of preference;
    J201 3.2 / J21 3.3: the subprotocol in the answer is the connection's version."""

    async def main() -> None:
        async with Csms(core, versions=("ocpp1.6",)) as csms:
            client = Client(
                csms.url, "CP1", versions=("ocpp2.1", "ocpp2.0.1", "ocpp1.6"), core=core
            )
            connection = await client.connect()
            running = asyncio.create_task(connection.run())
            assert connection.version == "ocpp1.6"
            assert isinstance(await heartbeat(connection), v16.HeartbeatResponse)
            assert csms.requests[0].headers["Sec-WebSocket-Protocol"] == (
                "ocpp2.1, ocpp2.0.1, ocpp1.6"
            )
            assert csms.requests[0].path == "/ocpp/CP1"
            await client.stop()
            await running

        async with Csms(core) as csms:  # supports all: the client's first choice wins
            client = Client(csms.url, "CP1", versions=("ocpp2.1", "ocpp1.6"), core=core)
            connection = await client.connect()
            running = asyncio.create_task(connection.run())
            assert connection.version == "ocpp2.1"
            assert isinstance(await heartbeat(connection), v21.HeartbeatResponse)
            await client.stop()
            await running

    run(main())


class FrameLog(ConnectionObserver):
    """Records what each connection received and sent."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, str, str]] = []

    def received(self, connection: Connection, data: bytes | str) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        self.frames.append((connection.identity, "in", text))

    def sent(self, connection: Connection, frames: list[bytes]) -> None:
        self.frames.extend((connection.identity, "out", frame.decode()) for frame in frames)


def test_observer_sees_every_frame_of_every_connection(core: Backend) -> None:
    """`observer=` (as for the Server): each connection the client makes tells it of every
    frame, a reconnection's too."""

    async def main() -> None:
        observer = FrameLog()
        async with Csms(core, versions=("ocpp2.0.1",)) as csms:
            client = Client(csms.url, "CP1", core=core, observer=observer)
            for _ in range(2):
                connection = await client.connect()
                running = asyncio.create_task(connection.run())
                await heartbeat(connection)
                await client.stop()
                await running
        assert [(who, way, frame[:3]) for who, way, frame in observer.frames] == [
            ("CP1", "out", "[2,"),
            ("CP1", "in", "[3,"),
        ] * 2
        assert all('"Heartbeat"' in frame for _, way, frame in observer.frames if way == "out")

    run(main())


def test_no_subprotocol_in_the_answer_fails_the_attempt(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """J201 3.2, J21 3.3: a CSMS that agrees to no offered version answers without
    Sec-WebSocket-Protocol; the client closes at once (1002), logs it, and in run() retries
    with back-off."""
    caplog.set_level(logging.INFO, logger=CLIENT_LOG)

    async def main() -> None:
        async with Csms(core, select=lambda offered: None) as csms:
            client = Client(csms.url, "CP1", versions=("ocpp2.0.1",), backoff=TINY, core=core)
            with pytest.raises(NoCommonVersion) as caught:
                await client.connect()
            assert caught.value.picked is None
            assert caught.value.offered == ("ocpp2.0.1",)
            assert "without a subprotocol" in str(caught.value)
            await until(lambda: csms.closed_without_version)
            assert csms.closed_without_version == [1002]
            assert client.connection is None

            running = asyncio.create_task(client.run())
            await until(lambda: len(delays(caplog)) >= 2)  # failed twice, retrying
            await client.stop()
            await running
            assert delays(caplog)[:2] == [0.02, 0.04]
            assert any("agreed to no offered OCPP version" in m for m in messages(caplog))

    run(main())


def test_a_version_never_offered_fails_the_attempt(core: Backend) -> None:
    """J201 3.1.2, J21 3.3: only an offered subprotocol can be agreed to."""

    async def main() -> None:
        async with Csms(core, select=lambda offered: "ocpp1.6") as csms:
            client = Client(csms.url, "CP1", versions=("ocpp2.0.1",), core=core)
            with pytest.raises(NoCommonVersion) as caught:
                await client.connect()
            assert caught.value.picked == "ocpp1.6"
            assert client.connection is None

    run(main())


# --------------------------------------------------------------------------------------------
# URL and Basic authentication over the wire


def test_identity_is_one_encoded_path_segment_on_the_wire(core: Backend) -> None:
    """J201 3.1.1: the request path is the endpoint path, "/", and the encoded identity."""

    async def main() -> None:
        async with Csms(core) as csms:
            client = Client(csms.url + "/", "CP/1 x|y", core=core)
            connection = await client.connect()
            await connection.close()
            assert csms.requests[0].path == "/ocpp/CP%2F1%20x%7Cy"
            assert client.connection_url.endswith("/ocpp/CP%2F1%20x%7Cy")

    run(main())


@pytest.mark.parametrize(
    ("version", "password", "sent"),
    [
        # E201 SecurityCtrlr.BasicAuthPassword: its UTF-8 text.
        ("ocpp2.0.1", "correct-horse-battery", b"correct-horse-battery"),
        # SW A00.FR.205: the AuthorizationKey as 40 hexadecimal digits ...
        (
            "ocpp1.6",
            "0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF",
            b"0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF",
        ),
        # ... also when the station holds the 20 bytes themselves.
        (
            "ocpp1.6",
            bytes.fromhex("0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF"),
            b"0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF",
        ),
    ],
    ids=["2.0.1-text", "1.6-hex-key", "1.6-raw-key"],
)
def test_basic_auth_credentials_on_the_wire(
    core: Backend, version: str, password: str | bytes, sent: bytes
) -> None:
    """SW 2.3 A00.FR.202-205 (security profile 1): every connection request carries
    Authorization: Basic base64(<identity>:<key>); the username is the identity."""

    async def main() -> None:
        async with Csms(core, password=sent) as csms:
            client = Client(csms.url, "AL1000", versions=(version,), password=password, core=core)
            connection = await client.connect()
            running = asyncio.create_task(connection.run())
            await heartbeat(connection)
            assert csms.requests[0].headers["Authorization"] == expected_header("AL1000", sent)
            await client.stop()
            await running

    run(main())


def test_no_authorization_header_without_password(core: Backend) -> None:
    """SW 2.3: Basic credentials belong to security profiles 1 and 2 only."""

    async def main() -> None:
        async with Csms(core) as csms:
            client = Client(csms.url, "CP1", core=core)
            connection = await client.connect()
            await connection.close()
            assert "Authorization" not in csms.requests[0].headers

    run(main())


def test_401_is_a_clear_error_and_run_retries_until_the_password_works(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """SW 2.3 Figure 1 (HTTP 401), SW A01 (the station may get a new password and reconnect with
    it), SW A01.FR.12 (the key never appears in the log, not even at DEBUG), SW A00.FR.201
    (Basic credentials over plain ws:// are worth a warning)."""
    caplog.set_level(logging.DEBUG, logger=CLIENT_LOG)
    good, bad = "the-right-password-16", "a-wrong-password-16"

    new = ""

    async def main() -> None:
        nonlocal new
        async with Csms(core, password=good.encode()) as csms:
            nobody = Client(csms.url, "CP1", core=core)
            with pytest.raises(PasswordRefused) as caught:
                await nobody.connect()
            assert caught.value.status == 401
            assert "wants a password and none is set" in str(caught.value)

            client = Client(csms.url, "CP1", password=bad, backoff=TINY, core=core)
            with pytest.raises(PasswordRefused) as caught:
                await client.connect()
            assert "refused the password" in str(caught.value)
            assert isinstance(caught.value, HandshakeRefused)

            running = asyncio.create_task(client.run())
            await until(lambda: csms.refused >= 4)  # keeps trying, with back-off
            client.password = good
            connection = await client.wait_connected(10)
            await heartbeat(connection)
            # A new password in a CALL from the CSMS (SW A01): websockets' debug log of the
            # frame does not show it either.
            new = "the-next-password-16"
            change = v201.SetVariablesRequest(
                set_variable_data=[
                    v201.SetVariableData(
                        attribute_value=new,
                        component=v201.Component(name="SecurityCtrlr"),
                        variable=v201.Variable(name="BasicAuthPassword"),
                    )
                ]
            )
            with pytest.raises(ActionNotSupportedError):  # this client has no handlers
                await csms.connections[-1].call(change)
            await client.stop()
            await running

        logged = "\n".join(messages(caplog))
        assert "HTTP 401" in logged
        assert "next attempt in" in logged
        assert "unencrypted ws:// (security profile 1)" in logged  # SW A00.FR.201
        # websockets' own debug log of the request headers went through the filter
        assert "Authorization: <redacted>" in logged
        assert "bytes, not shown>" in logged
        for secret in (good, bad, new):
            assert secret not in logged
            assert expected_header("CP1", secret.encode()).split()[1] not in logged

    run(main())


def test_other_refusals_and_network_failures_are_clear_errors(core: Backend) -> None:
    """J201 3.2: 404 for an unknown identity; an unreachable CSMS and a handshake that never
    completes are ConnectErrors naming the URL."""

    async def refuse_unknown(ws: ServerConnection, request: Request) -> Response:
        return ws.respond(HTTPStatus.NOT_FOUND, "unknown station\n")

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts TCP, never answers the opening handshake
        writer.close()

    async def main() -> None:
        async with serve(
            lambda ws: ws.wait_closed(), "127.0.0.1", 0, process_request=refuse_unknown
        ) as server:
            port = server.sockets[0].getsockname()[1]
            client = Client(f"ws://127.0.0.1:{port}", "CP9", core=core)
            with pytest.raises(HandshakeRefused) as refused:
                await client.connect()
            assert refused.value.status == 404
            assert not isinstance(refused.value, PasswordRefused)
            assert "does not know this identity" in str(refused.value)

        port = free_port()
        client = Client(f"ws://127.0.0.1:{port}/ocpp", "CP1", core=core)
        with pytest.raises(ConnectError) as unreachable:
            await client.connect()
        assert f"ws://127.0.0.1:{port}/ocpp/CP1" in str(unreachable.value)
        assert isinstance(unreachable.value.__cause__, OSError)

        tcp = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = tcp.sockets[0].getsockname()[1]
        client = Client(f"ws://127.0.0.1:{port}", "CP1", open_timeout=0.3, core=core)
        with pytest.raises(ConnectError, match=r"within 0\.3 s"):
            await client.connect()
        tcp.close()

    run(main())


# --------------------------------------------------------------------------------------------
# TLS (security profile 2)


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key) files."""
    from ocppfast.security import CertificateStore

    store = CertificateStore(directory)
    store.create_ca("ocppfast test")
    server = store.issue_server(["127.0.0.1"])
    assert server.key_file is not None
    return store.ca_cert_path, directory / server.cert_file, directory / server.key_file


def test_tls_with_basic_auth(core: Backend, tmp_path: Path) -> None:
    """SW 2.4 A00.FR.302-305 (security profile 2): wss:// to a CSMS whose certificate the
    station verifies against the configured root, with Basic credentials; a CSMS certificate
    that does not verify is a clear ConnectError."""
    ca, cert, key = _certificates(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    station_tls = ssl.create_default_context(cafile=str(ca))

    async def main() -> None:
        async with Csms(core, password=b"tls-and-basic-auth", tls=server_tls) as csms:
            client = Client(
                csms.url, "CP1", password="tls-and-basic-auth", ssl=station_tls, core=core
            )
            connection = await client.connect()
            running = asyncio.create_task(connection.run())
            await heartbeat(connection)
            await client.stop()
            await running

            untrusting = Client(csms.url, "CP1", password="tls-and-basic-auth", core=core)
            with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await untrusting.connect()

    run(main())


# --------------------------------------------------------------------------------------------
# Reconnecting (J201 5.3)


def test_reconnects_with_back_off_after_the_csms_restarts(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """J201 5.3, J21 5.4, TC_B_57_CS: after a loss the station waits RetryBackOffWaitMinimum,
    doubles the wait after each failed attempt at most RetryBackOffRepeatTimes times, and
    starts over once reconnected; the same handlers object serves the new connection."""
    caplog.set_level(logging.INFO, logger=CLIENT_LOG)
    made: list[StationHandlers] = []

    def factory() -> StationHandlers:
        made.append(StationHandlers())
        return made[-1]

    async def main() -> None:
        csms = Csms(core)
        await csms.start()
        port = csms.port
        client = Client(csms.url, "CP1", factory, backoff=TINY, core=core)
        running = asyncio.create_task(client.run())
        try:
            first = await client.wait_connected(10)
            await heartbeat(first)

            await csms.stop()  # the CSMS goes away: 1001, then nothing listens
            await until(lambda: len(delays(caplog)) >= 5)
            assert delays(caplog)[:5] == [0.02, 0.04, 0.08, 0.08, 0.08]

            csms = Csms(core, port=port)  # back on the same port
            await csms.start()
            await until(lambda: client.connection is not None)
            second = await client.wait_connected(10)
            assert second is not first and first.closed
            assert first.close_code == 1001
            assert second.handlers is first.handlers is made[0]
            assert second.handlers.connection is second
            await heartbeat(second)

            before = len(delays(caplog))
            await csms.stop()  # lost again: the back-off has started over
            await until(lambda: len(delays(caplog)) > before)
            assert delays(caplog)[before] == 0.02
        finally:
            await client.stop()
            await running
            await csms.stop()
        assert len(made) == 1  # the factory runs once per Client
        assert made[0].events == ["connected", "disconnected"] * 2
        logged = "\n".join(messages(caplog))
        assert "connection lost (code 1001" in logged
        assert "connected to ws://127.0.0.1" in logged and "with ocpp2.0.1" in logged
        assert "next attempt in 0.0 s" in logged

    run(main())


def test_first_attempt_failing_is_retried_with_back_off(core: Backend) -> None:
    """J201 5.3: the station keeps trying until it has connected, also at start-up."""

    async def main() -> None:
        port = free_port()
        client = Client(f"ws://127.0.0.1:{port}/ocpp", "CP1", backoff=TINY, core=core)
        running = asyncio.create_task(client.run())
        await asyncio.sleep(0.2)  # a few refused attempts
        assert client.connection is None and not running.done()
        async with Csms(core, port=port) as csms:
            connection = await client.wait_connected(10)
            await heartbeat(connection)
            assert len(csms.connections) == 1
            await client.stop()
            await running

    run(main())


def test_reconnect_now_skips_the_back_off(core: Backend) -> None:
    """SW A01 scenario steps 3-4: after a new password the station disconnects and connects
    with it, without waiting a back-off time."""

    async def main() -> None:
        async with Csms(core) as csms:
            client = Client(csms.url, "CP1", StationHandlers, backoff=BackOff(60, 0, 0), core=core)
            running = asyncio.create_task(client.run())
            first = await client.wait_connected(10)
            await client.reconnect()
            await until(lambda: len(csms.connections) == 2)
            second = await client.wait_connected(10)
            assert second is not first
            assert first.close_code == 1000
            await until(lambda: csms.connections[0].closed)
            assert csms.connections[0].close_code == 1000
            await heartbeat(second)
            await client.stop()
            await running

    run(main())


# --------------------------------------------------------------------------------------------
# Pings and half-open connections (J201 5.2, 8.4)


class FreezingProxy:
    """A TCP relay to the CSMS. `freeze()` makes the links open now half-open: what either side
    sends is silently dropped, nothing is closed. Later connections are relayed normally."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.frozen: set[int] = set()
        self.links = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def freeze(self) -> None:
        self.frozen.update(range(self.links))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.links
        self.links += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    if number not in self.frozen:
                        sink.write(data)
                        await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


def test_pings_detect_a_half_open_connection_and_reconnect(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """J201 5.2, 8.4 (WebSocketPingInterval): the station pings; when no pong comes within
    ping_timeout the connection is taken as lost and run() reconnects (J201 5.3)."""
    caplog.set_level(logging.INFO, logger=CLIENT_LOG)

    async def main() -> None:
        async with Csms(core) as csms:
            proxy = FreezingProxy(csms.port)
            await proxy.start()
            client = Client(
                f"ws://127.0.0.1:{proxy.port}/ocpp",
                "CP1",
                backoff=TINY,
                ping_interval=0.1,
                ping_timeout=1.0,
                close_timeout=0.5,
                core=core,
            )
            running = asyncio.create_task(client.run())
            try:
                first = await client.wait_connected(10)
                await heartbeat(first)
                await until(lambda: csms.pings >= 2)  # pings arrive and are answered
                proxy.freeze()
                await until(lambda: first.closed)
                second = await client.wait_connected(10)
                assert second is not first
                await heartbeat(second)
                assert proxy.links >= 2
            finally:
                await client.stop()
                await running
                await proxy.stop()
        assert any(
            "connection lost" in m and "no answer to a ping within 1.0 s" in m
            for m in messages(caplog)
        )

    run(main())


def test_ping_interval_zero_disables_pings(core: Backend) -> None:
    """J201 8.4: "A value of 0 disables client side websocket Ping / Pong"."""

    async def main() -> None:
        async with Csms(core) as csms:
            # Control: a client that pings every 50 ms is seen pinging.
            pinging = Client(csms.url, "CP0", ping_interval=0.05, core=core)
            running = asyncio.create_task((await pinging.connect()).run())
            await until(lambda: csms.pings > 0)
            await pinging.stop()
            await running
            seen = csms.pings
            client = Client(csms.url, "CP1", ping_interval=0, core=core)
            connection = await client.connect()
            running = asyncio.create_task(connection.run())
            await heartbeat(connection)
            await asyncio.sleep(0.3)
            assert csms.pings == seen
            await client.stop()
            await running

    run(main())


# --------------------------------------------------------------------------------------------
# Stopping and waiting


def test_stop_while_connected_closes_with_1000(core: Backend) -> None:
    """RFC 6455 7.4.1 1000 normal closure: stop() from another task closes the connection and
    run() returns; the handlers hear disconnected()."""

    async def main() -> None:
        async with Csms(core) as csms:
            client = Client(csms.url, "CP1", StationHandlers, core=core)
            running = asyncio.create_task(client.run())
            connection = await client.wait_connected(10)
            assert client.connected and client.running
            await asyncio.create_task(client.stop(reason="maintenance"))
            assert running.done()
            await running
            assert connection.close_code == 1000
            await until(lambda: csms.connections[0].closed)
            assert csms.connections[0].close_code == 1000
            assert csms.connections[0].close_reason == "maintenance"
            assert client.connection is None and not client.running
            assert isinstance(client.handlers, StationHandlers)
            assert client.handlers.events == ["connected", "disconnected"]
            await client.stop()  # again: harmless

    run(main())


def test_stop_runs_before_close_while_connected_and_does_not_reconnect(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """stop(before_close=...) runs while the connection is still up (a station ends its
    transactions there), even when it closes the connection itself, and no reconnection
    follows."""

    async def main() -> None:
        async with Csms(core) as csms:
            client = Client(csms.url, "CP1", StationHandlers, core=core)
            running = asyncio.create_task(client.run())
            connection = await client.wait_connected(10)

            answers: list[Any] = []

            async def last_words() -> None:
                answers.append(await connection.call(v201.HeartbeatRequest()))
                await connection.close(1000, "station shutting down")

            await client.stop(before_close=last_words)
            await running
            assert isinstance(answers[0], v201.HeartbeatResponse)  # answered: still connected
            assert connection.close_reason == "station shutting down"

    with caplog.at_level(logging.INFO, "ocppfast.client"):
        run(main())
    assert not [r for r in caplog.records if "next attempt" in r.getMessage()]
    assert not [r for r in caplog.records if "connection lost" in r.getMessage()]


def test_stop_during_back_off_and_during_an_attempt(core: Backend) -> None:
    """J201 5.3 waits can be long (minutes); stop() must not wait them out, nor an opening
    handshake that hangs."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    async def main() -> None:
        port = free_port()
        client = Client(f"ws://127.0.0.1:{port}", "CP1", backoff=BackOff(600, 0, 0), core=core)
        running = asyncio.create_task(client.run())
        await asyncio.sleep(0.2)  # refused, now waiting 600 s
        await client.stop()
        await asyncio.wait_for(running, 10)  # not the 600 s back-off

        tcp = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = tcp.sockets[0].getsockname()[1]
        client = Client(f"ws://127.0.0.1:{port}", "CP1", open_timeout=600, core=core)
        running = asyncio.create_task(client.run())
        await asyncio.sleep(0.2)  # the handshake hangs
        await client.stop()
        await asyncio.wait_for(running, 10)
        tcp.close()

    run(main())


def test_stop_before_run_and_wait_connected(core: Backend) -> None:
    """stop() before run() makes run() return at once; wait_connected() times out, or gives up
    when the client is stopped."""

    async def main() -> None:
        client = Client(f"ws://127.0.0.1:{free_port()}", "CP1", backoff=TINY, core=core)
        with pytest.raises(TimeoutError):
            await client.wait_connected(0.05)
        waiting = asyncio.create_task(client.wait_connected())
        await asyncio.sleep(0)
        await client.stop()
        with pytest.raises(ClientStopped):
            await waiting
        await asyncio.wait_for(client.run(), 5)  # stopped before it ran: returns at once

        async with Csms(core) as csms:
            client = Client(csms.url, "CP1", core=core)
            running = asyncio.create_task(client.run())
            connection = await client.wait_connected(10)
            assert await client.wait_connected(0) is connection
            with pytest.raises(RuntimeError):
                await client.run()  # one run() at a time
            with pytest.raises(RuntimeError):
                await client.connect()  # already connected
            await client.stop()
            await running

    run(main())


def test_a_new_url_and_reconnect_during_back_off(core: Backend) -> None:
    """A station given another CSMS URL (or password) uses it from the next attempt on;
    reconnect() during a back-off wait makes that attempt now (SW A01 steps 3-4)."""

    async def main() -> None:
        async with Csms(core) as first_csms, Csms(core) as second_csms:
            client = Client(first_csms.url, "CP1", backoff=BackOff(600, 0, 0), core=core)
            running = asyncio.create_task(client.run())
            try:
                await client.wait_connected(10)
                client.url = second_csms.url
                await client.reconnect()
                connection = await client.wait_connected(10)
                await heartbeat(connection)
                assert len(first_csms.connections) == len(second_csms.connections) == 1

                await second_csms.stop()  # lost: now waiting 600 s
                await until(lambda: client.connection is None)
                await asyncio.sleep(0.1)
                client.url = first_csms.url
                await client.reconnect()
                connection = await client.wait_connected(10)
                await heartbeat(connection)
                assert len(first_csms.connections) == 2
            finally:
                await client.stop()
                await running

    run(main())


def test_cancelling_run_leaves_no_connection_open(core: Backend) -> None:
    """RFC 6455 7.4.1 1001 going away: a cancelled run() still closes its connection."""

    async def main() -> None:
        async with Csms(core) as csms:
            client = Client(csms.url, "CP1", core=core)
            running = asyncio.create_task(client.run())
            await client.wait_connected(10)
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
            await until(lambda: csms.connections[0].closed)
            assert csms.connections[0].close_code == 1001
            assert client.connection is None and not client.running

    run(main())


def test_unexpected_faults_are_logged_and_treated_as_losses(
    core: Backend, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """J201 5.3: the station SHALL keep trying to reconnect, whatever broke: a fault in an
    attempt or in a running connection is logged with its traceback, and run() carries on."""
    import ocppfast.asyncio.client as client_module

    caplog.set_level(logging.INFO, logger=CLIENT_LOG)
    faults = {"connect": 1, "running": 1}
    real_connect = client_module.ws_connect  # type: ignore[attr-defined]

    def flaky_connect(*args: Any, **kwargs: Any) -> Any:
        if faults["connect"]:
            faults["connect"] -= 1
            raise RuntimeError("injected connect fault")
        return real_connect(*args, **kwargs)

    class FlakyTransport(WebSocketTransport):
        def wait_closed(self) -> Awaitable[None]:
            if faults["running"]:
                faults["running"] -= 1
                raise RuntimeError("injected fault in a running connection")
            return super().wait_closed()

    monkeypatch.setattr(client_module, "ws_connect", flaky_connect)
    monkeypatch.setattr(client_module, "WebSocketTransport", FlakyTransport)

    async def main() -> None:
        async with Csms(core) as csms:
            client = Client(csms.url, "CP1", backoff=TINY, core=core)
            running = asyncio.create_task(client.run())
            try:
                await until(lambda: len(csms.connections) == 2)
                connection = await client.wait_connected(10)
                await heartbeat(connection)
                await until(lambda: csms.connections[0].closed)
                assert csms.connections[0].close_code == 1011
            finally:
                await client.stop()
                await running
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert [r.getMessage() for r in errors] == [
            "CP1: connection attempt failed",
            "CP1: connection failed",
        ]
        assert all(r.exc_info for r in errors)

    run(main())
