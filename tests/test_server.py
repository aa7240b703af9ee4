"""The CSMS WebSocket server, over real sockets on 127.0.0.1, with both core backends.

Raw clients (tests/wsclient.py) check what goes over the wire where it matters: the exact
handshake response, half a handshake, hand-made compressed frames, a client that never pongs."""

from __future__ import annotations

import asyncio
import base64
import datetime
import gc
import json
import logging
import time
import weakref
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import Protocol, State

from ocppfast import v16, v21, v201
from ocppfast._core import Backend
from ocppfast._core.quirks import profile
from ocppfast.asyncio import Connection, Handlers, on
from ocppfast.asyncio.auth import Credentials
from ocppfast.asyncio.server import (
    NO_COMMON_VERSION_CLOSE_CODE,
    REPLACED_CLOSE_CODE,
    REPLACED_REASON,
    InvalidIdentity,
    Server,
    ServerLimits,
    identity_from_path,
)
from ocppfast.exceptions import CallTimeoutError, SessionClosedError
from ocppfast.transport.websocket import DirectFrames, WebSocketTransport, _WriteBatch
from tests.aio import run, until
from tests.wsclient import (
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    RawClient,
    deflate,
    encode_frame,
)

T = TypeVar("T")
MODULES: dict[str, Any] = {"ocpp1.6": v16, "ocpp2.0.1": v201, "ocpp2.1": v21}
FAST_COST = {"n": 1 << 8, "r": 8, "p": 1}
LOG = "ocppfast.server"


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class CSMS(Handlers):
    """Answers Heartbeat in every version."""

    @on("Heartbeat")
    def heartbeat(self, request: Any) -> Any:
        return MODULES[self.connection.version].HeartbeatResponse(current_time=now())

    @on("BootNotification", versions=["ocpp1.6"])
    def boot(self, request: v16.BootNotificationRequest) -> v16.BootNotificationResponse:
        return v16.BootNotificationResponse(
            status=v16.RegistrationStatus.Accepted, current_time=now(), interval=300
        )


class Station(Handlers):
    """A station's ClearCache handler (2.0.1), for CSMS -> station calls."""

    @on(v201.ClearCacheRequest)
    def clear_cache(self, request: v201.ClearCacheRequest) -> v201.ClearCacheResponse:
        return v201.ClearCacheResponse(status=v201.ClearCacheStatusEnum.Accepted)


@asynccontextmanager
async def serving(core: Backend, **options: Any) -> Any:
    options.setdefault("port", 0)
    options.setdefault("handlers", CSMS)
    server = Server(core=core, **options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def basic(identity: str, password: bytes | str) -> str:
    raw = password.encode() if isinstance(password, str) else password
    return "Basic " + base64.b64encode(identity.encode() + b":" + raw).decode()


def client(
    server: Server,
    identity: str,
    versions: tuple[str, ...] = ("ocpp2.0.1",),
    auth: str | None = None,
    **options: Any,
) -> Any:
    headers = [("Authorization", auth)] if auth is not None else None
    return connect(
        f"{server.url}/{identity}",
        subprotocols=list(versions),  # type: ignore[arg-type]
        additional_headers=headers,
        open_timeout=10,
        **options,
    )


async def heartbeat(ws: ClientConnection, message_id: str = "hb") -> list[Any]:
    """Send a raw Heartbeat CALL and return the answer frame."""
    await ws.send(json.dumps([2, message_id, "Heartbeat", {}]))
    return json.loads(await asyncio.wait_for(ws.recv(), 10))  # type: ignore[no-any-return]


async def status_of(server: Server, path: str, **options: Any) -> RawClient:
    raw = await RawClient.connect("127.0.0.1", server.port)
    await raw.handshake(path, **options)
    return raw


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG, logger=LOG)
    yield caplog


def lines(caplog: pytest.LogCaptureFixture, word: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOG and word in r.getMessage()]


# -- the connection URL ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "identity"),
    [
        ("/CS001", "CS001"),
        ("/ocpp/CS001", "CS001"),
        ("/ocppj/RDAM%20123", "RDAM 123"),  # J201 3.1.1 example 2
        ("/ocppj/RDAM%7C123", "RDAM|123"),  # J21 3.1.1 example 2
        ("/webServices/ocpp/CS3211", "CS3211"),  # J201 3.1.3
        ("/CP1?x=1", "CP1"),
        ("/%C3%A9t%C3%A9", "été"),
        ("/" + "x" * 48, "x" * 48),
        ("/100%25", "100%"),  # a % that starts no escape once decoded is not double encoding
    ],
)
def test_identity_from_path_accepts(path: str, identity: str) -> None:
    """J201 3.1.1 / J21 3.1.1: the identity is the last segment, percent-decoded."""
    assert identity_from_path(path) == identity


@pytest.mark.parametrize(
    "path",
    [
        "/",  # empty
        "/ocpp/",  # empty
        "/" + "x" * 49,  # J201 3.1.1: at most 48
        "/CP%3A1",  # ':' (J21 3.1.1: SHALL NOT, it is the Basic auth username)
        "/CP:1",
        "/CP%01",  # control character
        "/CP%7F",
        "/CP%0A1",
        "/CP%2541",  # double-encoded: %25 41 -> %41
        "/CP%252F",
        "/CP%2",  # malformed escape
        "/CP%G1",
        "/CP%FF",  # not UTF-8
        "/CP%2F1",  # '/' inside the identity
        "CP1",  # not an absolute path
    ],
)
def test_identity_from_path_refuses(path: str) -> None:
    """J201 3.1.1: refused with 400 (empty, > 48, ':', control, double-encoded, malformed)."""
    with pytest.raises(InvalidIdentity) as info:
        identity_from_path(path)
    assert info.value.status == 400


def test_identity_from_path_prefix() -> None:
    """With an endpoint path prefix, paths outside it are 404; the prefix alone is 400."""
    assert identity_from_path("/ocpp/CP1", "/ocpp") == "CP1"
    assert identity_from_path("/ocpp/CP1", "ocpp/") == "CP1"
    assert identity_from_path("/a/b/CP1", "/a/b") == "CP1"
    assert identity_from_path("/o%63pp/CP1", "/ocpp") == "CP1"
    for path in ("/other/CP1", "/ocppx/CP1", "/CP1", "/", "/a/CP1"):
        with pytest.raises(InvalidIdentity) as info:
            identity_from_path(path, "/ocpp" if path != "/a/CP1" else "/a/b")
        assert info.value.status == 404, path
    with pytest.raises(InvalidIdentity) as info:
        identity_from_path("/ocpp", "/ocpp")
    assert info.value.status == 400


def test_plaintext_warning_only_beyond_loopback() -> None:
    """Basic auth over ws:// beyond loopback is warned about (SW A00.FR.201: profile 1 only on
    trusted networks); loopback hosts are recognised."""
    from ocppfast.asyncio.server import is_loopback

    for host in ("127.0.0.1", "127.1.2.3", "::1", "localhost"):
        assert is_loopback(host)
    for host in ("", "0.0.0.0", "::", "192.168.1.10", "csms.example.com"):
        assert not is_loopback(host)


def test_limits_validated() -> None:
    """Every limit has a safe default and refuses nonsense."""
    limits = ServerLimits()
    assert limits.max_message_bytes == 1 << 20 and limits.handshake_timeout == 10.0
    assert limits.ping_interval == 60.0 and limits.ping_timeout == 30.0
    assert limits.max_connections == 10_000 and limits.close_timeout == 10.0
    for bad in (
        {"max_message_bytes": 0},
        {"handshake_timeout": 0},
        {"ping_interval": -1},
        {"ping_timeout": 0},
        {"max_connections": 0},
    ):
        with pytest.raises(ValueError):
            ServerLimits(**bad)
    with pytest.raises(ValueError):
        Server(versions=("ocpp1.5",))
    with pytest.raises(ValueError):
        Server(versions=())
    with pytest.raises(TypeError):
        Server(versions="ocpp1.6")


# -- accepting stations ------------------------------------------------------------------------


def test_default_hostis_loopback(core: Backend) -> None:
    """Nothing listens beyond loopback unless asked: the default host is 127.0.0.1."""

    async def main() -> None:
        server = Server(port=0, core=core)
        assert server.host == "127.0.0.1"
        async with server:
            assert server._ws_server is not None
            addresses = {sock.getsockname()[0] for sock in server._ws_server.sockets}
            assert addresses == {"127.0.0.1"}
            assert server.port != 0
            assert server.url == f"ws://127.0.0.1:{server.port}"

    run(main())


@pytest.mark.parametrize(
    ("enabled", "offered", "chosen"),
    [
        (("ocpp2.1", "ocpp2.0.1", "ocpp1.6"), ("ocpp1.6",), "ocpp1.6"),
        (("ocpp2.1", "ocpp2.0.1", "ocpp1.6"), ("ocpp1.6", "ocpp2.0.1"), "ocpp2.0.1"),
        (("ocpp2.1", "ocpp2.0.1", "ocpp1.6"), ("ocpp2.0.1", "ocpp2.1", "ocpp1.6"), "ocpp2.1"),
        (("ocpp1.6", "ocpp2.0.1"), ("ocpp2.1", "ocpp2.0.1", "ocpp1.6"), "ocpp1.6"),
        (("ocpp2.0.1",), ("ocpp1.2", "ocpp2.0.1"), "ocpp2.0.1"),
    ],
)
def test_version_negotiation(
    core: Backend, enabled: tuple[str, ...], offered: tuple[str, ...], chosen: str
) -> None:
    """J21 3.1.2 / J201 3.1.2: the version is the best offered one the server enables, in the
    server's order of preference; the URL's "ocpp1.6" path never decides it (J21 3.1.2)."""

    async def main() -> None:
        async with (
            serving(core, versions=enabled) as server,
            client(server, "ocpp1.6/CP1", offered) as ws,
        ):
            assert ws.subprotocol == chosen
            answer = await heartbeat(ws)
            assert answer[0] == 3 and answer[1] == "hb"
            await until(lambda: server.connection("CP1") is not None)
            connection = server.connection("CP1")
            assert connection is not None and connection.version == chosen

    run(main())


def test_calls_both_ways(core: Backend, logs: pytest.LogCaptureFixture) -> None:
    """A station Connection calls the CSMS and the CSMS calls it back (J201 4.1.1), each over
    the real socket; the accepted and closed lines name identity, version, address, code,
    reason and duration."""

    async def main() -> None:
        async with serving(core) as server, client(server, "CS-42") as ws:
            station = Connection(
                WebSocketTransport(ws), role="station", handlers=Station, core=core
            )
            task = asyncio.create_task(station.run())
            response = await station.call(v201.HeartbeatRequest())
            assert isinstance(response, v201.HeartbeatResponse)
            await until(lambda: server.connection("cs-42") is not None)
            csms = server.connection("CS-42")
            assert csms is not None
            answer = await csms.call(v201.ClearCacheRequest())
            assert answer.status == v201.ClearCacheStatusEnum.Accepted
            await station.close(1000, "bye")
            await task
            await until(lambda: not server.connections)
        [accepted] = lines(logs, "accepted")
        assert "'CS-42'" in accepted and "ocpp2.0.1" in accepted and "127.0.0.1:" in accepted
        [closed] = lines(logs, "closed 'CS-42'")
        assert "code 1000 (bye) by the station after" in closed and "s" in closed

    run(main())


def test_identity_is_case_insensitive(core: Backend) -> None:
    """Identities compare case-insensitively (identifierString, J201 3.1.1): the registry is
    keyed by the case-folded identity."""

    async def main() -> None:
        async with serving(core) as server, client(server, "Station Ä"):
            await until(lambda: server.connection("station ä") is not None)
            assert list(server.connections) == ["station ä"]
            connection = server.connection("STATION Ä")
            assert connection is not None and connection.identity == "Station Ä"

    run(main())


@pytest.mark.parametrize(
    "path", ["/", "/" + "x" * 49, "/CP%3A1", "/CP%01", "/CP%2541", "/CP%FF", "/CP%2"]
)
def test_invalid_identity_gets_400(
    core: Backend, logs: pytest.LogCaptureFixture, path: str
) -> None:
    """J201 3.1.1: empty, > 48 characters, ':', control characters, double-encoded: HTTP 400
    before any upgrade, logged with the reason."""

    async def main() -> None:
        async with serving(core) as server:
            raw = await status_of(server, path, subprotocols=["ocpp2.0.1"])
            assert raw.status == 400
            assert "sec-websocket-accept" not in raw.headers
            raw.close()
            assert not server.connections

    run(main())
    [refused] = lines(logs, "refused")
    assert "(HTTP 400)" in refused


def test_path_prefix(core: Backend, logs: pytest.LogCaptureFixture) -> None:
    """With path_prefix, /prefix/<identity> is the endpoint and other paths get 404."""

    async def main() -> None:
        async with serving(core, path_prefix="/ocpp") as server:
            assert server.url.endswith("/ocpp")
            for path in ("/other/CP1", "/ocppx/CP1", "/CP1"):
                raw = await status_of(server, path, subprotocols=["ocpp1.6"])
                assert raw.status == 404, path
                raw.close()
            async with client(server, "CP1", ("ocpp1.6",)) as ws:
                assert ws.subprotocol == "ocpp1.6"
                assert (await heartbeat(ws))[0] == 3

    run(main())
    assert len(lines(logs, "(HTTP 404)")) == 3


@pytest.mark.parametrize("offer", [["ocpp1.5"], None, ["ocpp1.6"]])
def test_no_common_version_raw_wire(
    core: Backend, logs: pytest.LogCaptureFixture, offer: list[str] | None
) -> None:
    """J201 3.2 / J21 3.3: no common version (or no Sec-WebSocket-Protocol at all): the 101
    response has no Sec-WebSocket-Protocol header and the server closes at once, with 1002
    (no code is prescribed; see NO_COMMON_VERSION_CLOSE_CODE). Not an HTTP 400."""

    async def main() -> None:
        async with serving(core, versions=("ocpp2.1", "ocpp2.0.1")) as server:
            raw = await status_of(server, "/CP1", subprotocols=offer)
            assert raw.status == 101
            assert b"sec-websocket-protocol" not in raw.raw_response.lower()
            code, reason = await raw.read_close()
            assert code == NO_COMMON_VERSION_CLOSE_CODE == 1002
            assert reason == "no common OCPP version"
            raw.close()
            assert not server.connections

    run(main())
    [refused] = lines(logs, "no common OCPP version")
    assert "'CP1'" in refused and "enabled: ocpp2.1, ocpp2.0.1" in refused


def test_quirks_per_identity(core: Backend) -> None:
    """Quirk profiles per identity: the function gets the identity; a station without one has
    its schema violations answered as usual (C16 7.2 chargePointSerialNumber CiString25)."""
    seen: list[str] = []

    def quirks_for(identity: str) -> Any:
        seen.append(identity)
        return profile("long-serial-numbers") if identity == "Lenient" else None

    boot = {
        "chargePointVendor": "V",
        "chargePointModel": "M",
        "chargePointSerialNumber": "S" * 40,
    }

    async def main() -> None:
        async with serving(core, quirks=quirks_for) as server:
            for identity, expected in (("Lenient", 3), ("Strict", 4)):
                async with client(server, identity, ("ocpp1.6",)) as ws:
                    await ws.send(json.dumps([2, "b1", "BootNotification", boot]))
                    answer = json.loads(await ws.recv())
                    assert answer[0] == expected, answer
                    if expected == 4:
                        assert answer[2] == "TypeConstraintViolation"

    run(main())
    assert seen == ["Lenient", "Strict"]


# -- one session per identity ------------------------------------------------------------------


def test_new_connection_replaces_old(core: Backend, logs: pytest.LogCaptureFixture) -> None:
    """One live session per identity (case-insensitively): the old one is closed with 4000
    "replaced by a new connection", the new one registered; both logged."""

    async def main() -> None:
        async with serving(core) as server, client(server, "CP7") as first:
            await until(lambda: server.connection("cp7") is not None)
            old = server.connection("cp7")
            async with client(server, "cp7") as second:
                with pytest.raises(ConnectionClosed) as info:
                    await asyncio.wait_for(first.recv(), 10)
                assert info.value.rcvd is not None
                assert info.value.rcvd.code == REPLACED_CLOSE_CODE
                assert info.value.rcvd.reason == REPLACED_REASON
                await until(lambda: server.connection("CP7") is not old)
                new = server.connection("CP7")
                assert new is not None and new.identity == "cp7"
                assert (await heartbeat(second))[0] == 3
                assert old is not None and old.closed
                assert len(server.connections) == 1

    run(main())
    [replaced] = lines(logs, "replaced 'CP7'")
    assert "(ocpp2.0.1, 127.0.0.1:" in replaced and "by a new connection" in replaced
    assert any("code 4000 (replaced by a new connection)" in line for line in lines(logs, "closed"))


def test_replacement_needs_valid_credentials(core: Backend) -> None:
    """Without valid credentials a second connection is refused (401) and the first one is
    untouched; with them it replaces the first."""
    credentials = Credentials(**FAST_COST)
    credentials.set_password("CP1", "right-password-1234")

    async def main() -> None:
        async with serving(core, credentials=credentials) as server:
            good = basic("CP1", "right-password-1234")
            async with client(server, "CP1", auth=good) as first:
                await until(lambda: server.connection("CP1") is not None)
                old = server.connection("CP1")
                with pytest.raises(InvalidStatus) as info:
                    async with client(server, "CP1", auth=basic("CP1", "wrong-password-12345")):
                        pass
                assert info.value.response.status_code == 401
                with pytest.raises(InvalidStatus):
                    async with client(server, "CP1"):
                        pass
                assert server.connection("CP1") is old
                assert (await heartbeat(first))[0] == 3
                async with client(server, "cp1", auth=basic("cp1", "right-password-1234")):
                    with pytest.raises(ConnectionClosed):
                        await asyncio.wait_for(first.recv(), 10)
                    assert first.close_code == REPLACED_CLOSE_CODE

    run(main())


# -- security profile 1: HTTP Basic authentication ---------------------------------------------


def test_basic_auth(core: Backend, logs: pytest.LogCaptureFixture) -> None:
    """TC_A_01_CSMS (valid), TC_A_02_CSMS (username is not the identity), TC_A_03_CSMS (wrong
    password); missing, malformed, unknown identity: all HTTP 401 with
    `WWW-Authenticate: Basic realm="ocppfast"` before the upgrade (SW 2.3 Figure 1 remark)."""
    credentials = Credentials(**FAST_COST)
    credentials.set_password("CS001", "aVeryGood:Password=16+")

    async def main() -> None:
        async with serving(core, credentials=credentials) as server:
            refused = [
                ("/CS001", []),
                ("/CS001", [("Authorization", basic("CS001", "wrong-password-1234567"))]),
                ("/CS001", [("Authorization", basic("CS001Invalid", "aVeryGood:Password=16+"))]),
                ("/Unknown", [("Authorization", basic("Unknown", "aVeryGood:Password=16+"))]),
                ("/CS001", [("Authorization", "Basic not-base64!")]),
                ("/CS001", [("Authorization", "Bearer abc")]),
                ("/CS001", [("Authorization", basic("CS001", "aVeryGood:Password=16+"))] * 2),
            ]
            for path, extra in refused:
                raw = await status_of(server, path, subprotocols=["ocpp2.0.1"], extra=extra)
                assert raw.status == 401, extra
                assert raw.headers["www-authenticate"] == 'Basic realm="ocppfast"'
                assert "sec-websocket-accept" not in raw.headers
                raw.close()
            # The username may differ in case only: identifierString is case-insensitive.
            good = basic("cs001", "aVeryGood:Password=16+")
            raw = await status_of(
                server, "/CS001", subprotocols=["ocpp2.0.1"], extra=[("Authorization", good)]
            )
            assert raw.status == 101 and raw.headers["sec-websocket-protocol"] == "ocpp2.0.1"
            await raw.send_text(json.dumps([2, "1", "Heartbeat", {}]))
            opcode, payload = await raw.read_frame()
            assert opcode == OP_TEXT and json.loads(payload)[0] == 3
            raw.close()

    run(main())
    reasons = " | ".join(lines(logs, "refused"))
    for why in (
        "no Authorization header",
        "wrong password",
        "username is not the identity",
        "unknown identity",
        "malformed Authorization header",
    ):
        assert why in reasons
    assert "(HTTP 401)" in reasons


def test_basic_auth_16_authorization_key(core: Backend) -> None:
    """J16 6.2.2: the spec's own example header (raw 20-byte key) is accepted; so is the
    security whitepaper's form with the AuthorizationKey's hex text (SW 2.3, A00.FR.205)."""
    credentials = Credentials(**FAST_COST)
    credentials.set_password("AL1000", "0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF")

    async def main() -> None:
        async with serving(core, credentials=credentials) as server:
            for header in (
                "Basic QUwxMDAwOgABAgMEBQYH////////////////",  # J16 6.2.2, verbatim
                basic("AL1000", "0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF"),
                basic("AL1000", "0001020304050607ffffffffffffffffffffffff"),
            ):
                async with client(server, "AL1000", ("ocpp1.6",), auth=header) as ws:
                    assert ws.subprotocol == "ocpp1.6"
                    assert (await heartbeat(ws))[0] == 3
            with pytest.raises(InvalidStatus):
                async with client(server, "AL1000", ("ocpp1.6",), auth=basic("AL1000", "00" * 20)):
                    pass

    run(main())


def test_no_credentials_accepts_any_identity(core: Backend, logs: pytest.LogCaptureFixture) -> None:
    """credentials=None: any identity is accepted, and the start says so in the log."""

    async def main() -> None:
        async with serving(core) as server, client(server, "anybody", auth=basic("x", "y")) as ws:
            assert (await heartbeat(ws))[0] == 3

    run(main())
    assert lines(logs, "without authentication")


def test_passwords_never_logged(core: Backend, caplog: pytest.LogCaptureFixture) -> None:
    """Neither a right nor a wrong password, nor the Authorization header, appears in any log
    output, even with every logger (websockets' debug log included) at DEBUG."""
    right, wrong = "Right-Password-0123456", "Wrong-Password-6543210"
    credentials = Credentials(**FAST_COST)
    credentials.set_password("CP1", right)
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        async with serving(core, credentials=credentials) as server:
            with pytest.raises(InvalidStatus):
                async with client(server, "CP1", auth=basic("CP1", wrong)):
                    pass
            async with client(server, "CP1", auth=basic("CP1", right)) as ws:
                # A 2.0.1 SetVariables carrying the password travels in a frame too.
                await ws.send(
                    json.dumps(
                        [
                            2,
                            "sv",
                            "SetVariables",
                            {
                                "setVariableData": [
                                    {
                                        "attributeValue": right,
                                        "component": {"name": "SecurityCtrlr"},
                                        "variable": {"name": "BasicAuthPassword"},
                                    }
                                ]
                            },
                        ]
                    )
                )
                await ws.recv()

    run(main())
    # Everything the server process logs; websockets.client is the test's station, not us.
    records = [r for r in caplog.records if r.name != "websockets.client"]
    text = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in records)
    names = {r.name for r in records}
    assert {"websockets.server", "ocppfast.server", "ocppfast.connection"} <= names
    assert any(r.levelno == logging.DEBUG and r.name == "websockets.server" for r in records)
    for secret in (right, wrong, basic("CP1", right).split()[1], basic("CP1", wrong).split()[1]):
        assert secret not in text


# -- limits ------------------------------------------------------------------------------------


def test_message_too_big(core: Backend, logs: pytest.LogCaptureFixture) -> None:
    """A message over max_message_bytes: closed with 1009 (RFC 6455 7.4.1) and logged; the
    server carries on with other stations."""

    async def main() -> None:
        limits = ServerLimits(max_message_bytes=1024)
        async with serving(core, limits=limits) as server:
            async with client(server, "Big") as ws:
                await ws.send(json.dumps([2, "1", "DataTransfer", {"vendorId": "x" * 2000}]))
                with pytest.raises(ConnectionClosed) as info:
                    await asyncio.wait_for(ws.recv(), 10)
                assert info.value.rcvd is not None and info.value.rcvd.code == 1009
            async with client(server, "Other") as ws:
                assert (await heartbeat(ws))[0] == 3

    run(main())
    [closed] = lines(logs, "closed 'Big'")
    assert "code 1009" in closed and "max_message_bytes is 1024" in closed


def test_deflate_bomb(core: Backend, logs: pytest.LogCaptureFixture) -> None:
    """permessage-deflate (J201 3.3, RFC 7692): a real compressed frame of a few KB that
    inflates to 8 MB is cut at max_message_bytes of the decompressed size: 1009."""

    async def main() -> None:
        limits = ServerLimits(max_message_bytes=64 * 1024)
        async with serving(core, limits=limits) as server:
            raw = await status_of(
                server,
                "/Bomb",
                subprotocols=["ocpp2.0.1"],
                extra=[("Sec-WebSocket-Extensions", "permessage-deflate")],
            )
            assert raw.status == 101
            assert raw.headers["sec-websocket-extensions"].startswith("permessage-deflate")
            inflated = b'[2,"1","DataTransfer",{"vendorId":"' + b" " * (8 << 20) + b'"}]'
            body = deflate(inflated)
            assert len(body) < limits.max_message_bytes < len(inflated)
            await raw.send_frame(OP_TEXT, body, rsv1=True)
            code, _ = await raw.read_close()
            assert code == 1009
            raw.close()
            async with client(server, "Other") as ws:
                assert (await heartbeat(ws))[0] == 3

    run(main())
    assert "code 1009" in lines(logs, "closed 'Bomb'")[0]


def test_slowloris_handshake(core: Backend, logs: pytest.LogCaptureFixture) -> None:
    """A client that sends half a handshake and stalls is dropped at handshake_timeout, and
    a station connecting meanwhile is served normally."""

    async def main() -> None:
        limits = ServerLimits(handshake_timeout=0.5)
        async with serving(core, limits=limits) as server:
            slow = await RawClient.connect("127.0.0.1", server.port)
            request = RawClient.request("/Slow", "127.0.0.1", subprotocols=["ocpp2.0.1"])
            slow.writer.write(request[: len(request) // 2])
            await slow.writer.drain()
            started = time.monotonic()
            async with client(server, "Fast") as ws:
                assert (await heartbeat(ws))[0] == 3
            assert await slow.at_eof(timeout=10)
            assert time.monotonic() - started >= 0.3
            slow.close()
            await until(lambda: bool(lines(logs, "handshake_timeout")))

    run(main())
    [line] = lines(logs, "handshake_timeout")
    assert "no complete handshake within 0.5s" in line


def test_ping_timeout_closes_silent_station(core: Backend, logs: pytest.LogCaptureFixture) -> None:
    """J201 5.3 / J21 5.3: the server pings; a station that stops answering (half-open
    connection) is closed after ping_timeout, while one that answers pings stays connected."""

    async def main() -> None:
        limits = ServerLimits(ping_interval=0.2, ping_timeout=0.3, close_timeout=0.5)
        async with serving(core, limits=limits) as server, client(server, "Alive") as alive:
            silent = await status_of(server, "/Silent", subprotocols=["ocpp2.0.1"])
            assert silent.status == 101
            await until(lambda: server.connection("Silent") is not None)
            await until(lambda: server.connection("Silent") is None, timeout=10)
            assert (await heartbeat(alive))[0] == 3  # answered pings: still there
            assert server.connection("Alive") is not None
            silent.close()

        no_pings = ServerLimits(ping_interval=0)
        async with serving(core, limits=no_pings) as server, client(server, "NoPings"):
            await until(lambda: server.connection("NoPings") is not None)
            connection = server.connection("NoPings")
            assert connection is not None
            transport = connection.transport
            assert isinstance(transport, WebSocketTransport)
            assert transport.ws.keepalive_task is None  # 0 turns pinging off

    run(main())
    [closed] = lines(logs, "closed 'Silent'")
    assert "code 1011" in closed and "keepalive ping timeout" in closed


def test_max_connections(core: Backend, logs: pytest.LogCaptureFixture) -> None:
    """Beyond max_connections a new handshake gets HTTP 503 (logged); the others carry on, a
    slot freed is usable again, and a station replacing its own connection is let in."""

    async def main() -> None:
        async with serving(core, limits=ServerLimits(max_connections=2)) as server:
            assert server.limits.max_connections == 2
            async with client(server, "A") as a, client(server, "B") as b:
                raw = await status_of(server, "/C", subprotocols=["ocpp2.0.1"])
                assert raw.status == 503
                raw.close()
                assert (await heartbeat(a))[0] == 3 and (await heartbeat(b))[0] == 3
            await until(lambda: not server.connections and not server._admitted)
            async with client(server, "C") as c:
                assert (await heartbeat(c))[0] == 3
                # At the limit, a station may still replace its own live connection.
                async with client(server, "D") as d, client(server, "c") as c2:
                    assert (await heartbeat(c2))[0] == 3
                    with pytest.raises(ConnectionClosed):
                        await asyncio.wait_for(c.recv(), 10)
                    raw = await status_of(server, "/E", subprotocols=["ocpp2.0.1"])
                    assert raw.status == 503
                    raw.close()
                    assert (await heartbeat(d))[0] == 3

    run(main())
    first, second = lines(logs, "(HTTP 503)")
    assert "'C'" in first and "max_connections" in first and "'E'" in second


def test_stop_closes_every_connection(core: Backend) -> None:
    """stop() closes every connection (1001 going away by default) and stops listening."""

    async def main() -> None:
        server = Server(CSMS, port=0, core=core)
        await server.start()
        port = server.port
        async with client(server, "A") as a, client(server, "B", ("ocpp1.6",)) as b:
            await until(lambda: len(server.connections) == 2)
            await server.stop()
            for ws in (a, b):
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 10)
                assert ws.close_code == 1001 and ws.close_reason == "server shutting down"
        assert not server.connections
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)

    run(main())


def test_serve_forever_until_cancelled(core: Backend) -> None:
    """serve_forever() serves until cancelled, then stops."""

    async def main() -> None:
        server = Server(CSMS, port=0, core=core)
        await server.start()
        task = asyncio.create_task(server.serve_forever())
        async with client(server, "A") as ws:
            assert (await heartbeat(ws))[0] == 3
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)

    run(main())


# -- faults ------------------------------------------------------------------------------------


def test_thousand_concurrent_connections(core: Backend) -> None:
    """1,000 stations handshake at once and stay connected together: each gets its version
    and can call; the registry holds all of them."""
    versions = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")
    count = 1000
    arrived = 0
    everyone_in = asyncio.Event()

    async def one(server: Server, number: int) -> str | None:
        nonlocal arrived
        version = versions[number % 3]
        async with client(server, f"CP{number}", (version,), ping_interval=None) as ws:
            assert ws.subprotocol == version
            answer = await heartbeat(ws, f"m{number}")
            assert answer[:2] == [3, f"m{number}"]
            arrived += 1
            if arrived == count:
                assert len(server.connections) == count
                everyone_in.set()
            await everyone_in.wait()
            return ws.subprotocol

    async def main() -> None:
        async with serving(core) as server:
            chosen = await asyncio.gather(*(one(server, n) for n in range(count)))
            assert [chosen.count(v) for v in versions] == [334, 333, 333]
            await until(lambda: not server.connections)

    run(main(), timeout=120)


def test_malformed_frames(core: Backend) -> None:
    """Malformed frames from a station get the right CALLERROR (J201 4.2.3 / 4.3, see
    docs/protocol.md) and the connection stays usable."""
    cases = [
        ('[2,"m1","Heartbeat",{]', "m1", "FormatViolation"),  # broken JSON, id readable
        ("not json at all", "-1", "RpcFrameworkError"),  # id unreadable
        ('[2,"m2"]', "m2", "RpcFrameworkError"),  # too few elements
        ('[2,"m3","NoSuchAction",{}]', "m3", "NotImplemented"),
        ('[2,"m4","Heartbeat",{"extra":1}]', "m4", "ProtocolError"),  # unknown field
    ]

    async def main() -> None:
        async with serving(core) as server, client(server, "Noisy") as ws:
            for text, message_id, code in cases:
                await ws.send(text)
                answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert answer[:3] == [4, message_id, code], (text, answer)
            assert (await heartbeat(ws))[0] == 3
            assert server.connection("Noisy") is not None

    run(main())


def test_station_vanishes_mid_call(core: Backend) -> None:
    """A station that drops its TCP connection while the CSMS waits for an answer: the
    pending call() fails with SessionClosedError promptly (not at call_timeout) and the
    server carries on."""

    async def main() -> None:
        async with serving(core, call_timeout=60) as server:
            async with client(server, "Gone") as ws:
                await until(lambda: server.connection("Gone") is not None)
                csms = server.connection("Gone")
                assert csms is not None
                pending = asyncio.create_task(csms.call(v201.ClearCacheRequest()))
                call = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert call[2] == "ClearCache"
                ws.transport.abort()  # gone without a close frame
                with pytest.raises(SessionClosedError):  # at once, not after call_timeout
                    await asyncio.wait_for(pending, 10)
            await until(lambda: server.connection("Gone") is None)
            async with client(server, "Gone") as again:
                assert (await heartbeat(again))[0] == 3

    run(main())


def test_callresult_that_never_comes(core: Backend, logs: pytest.LogCaptureFixture) -> None:
    """J201 4.1.1: a CALL the station never answers times out; the next CALL goes out, a late
    answer to the first is dropped (never taken for the second), and the connection carries on."""

    async def main() -> None:
        async with serving(core, call_timeout=0.3) as server, client(server, "Mute") as ws:
            await until(lambda: server.connection("Mute") is not None)
            csms = server.connection("Mute")
            assert csms is not None
            first = asyncio.create_task(csms.call(v201.ClearCacheRequest()))
            unanswered = json.loads(await asyncio.wait_for(ws.recv(), 10))
            with pytest.raises(CallTimeoutError):
                await asyncio.wait_for(first, 10)
            second = asyncio.create_task(csms.call(v201.GetLocalListVersionRequest()))
            asked = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert asked[2] == "GetLocalListVersion"
            await ws.send(json.dumps([3, unanswered[1], {"status": "Accepted"}]))  # late
            await ws.send(json.dumps([3, asked[1], {"versionNumber": 4}]))
            assert (await asyncio.wait_for(second, 10)).version_number == 4
            assert (await heartbeat(ws))[0] == 3

    run(main())
    assert any("a late answer" in record.getMessage() for record in logs.records)


def test_handler_factory_failure_is_contained(
    core: Backend, logs: pytest.LogCaptureFixture
) -> None:
    """A handlers factory that raises closes that connection with 1011 and is logged; the
    server carries on."""
    calls = 0

    def factory() -> Handlers:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return CSMS()

    async def main() -> None:
        async with serving(core, handlers=factory) as server:
            async with client(server, "A") as ws:
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 10)
                assert ws.close_code == 1011
            async with client(server, "B") as ws:
                assert (await heartbeat(ws))[0] == 3

    run(main())
    assert lines(logs, "setting up its connection failed")


def _self_signed(directory: Any) -> tuple[Any, Any]:
    """A server certificate for 127.0.0.1 and the client context that trusts it."""
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    start = now() - datetime.timedelta(minutes=5)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.minimum_version = ssl.TLSVersion.TLSv1_2
    server_context.load_cert_chain(cert_file, key_file)
    client_context = ssl.create_default_context(cafile=str(cert_file))
    return server_context, client_context


def test_tls_with_basic_auth(core: Backend, tmp_path: Any, logs: pytest.LogCaptureFixture) -> None:
    """Security profile 2 (TLS with Basic authentication, SW 2.4, TC_A_04_CSMS): the server
    serves wss:// with the given SSLContext and still checks the password before upgrading."""
    server_context, client_context = _self_signed(tmp_path)
    credentials = Credentials(**FAST_COST)
    credentials.set_password("CP1", "tls-protected-password")

    async def main() -> None:
        async with serving(core, credentials=credentials, ssl=server_context) as server:
            assert server.url.startswith("wss://127.0.0.1:")
            with pytest.raises(InvalidStatus):
                async with client(
                    server, "CP1", auth=basic("CP1", "not-the-password-1"), ssl=client_context
                ):
                    pass
            auth = basic("CP1", "tls-protected-password")
            async with client(server, "CP1", auth=auth, ssl=client_context) as ws:
                assert (await heartbeat(ws))[0] == 3

    run(main())
    assert not lines(logs, "in clear")


# -- direct delivery (DirectFrames): messages handled inside the socket's data callback --------


def test_fragmented_call_is_assembled_and_answered(core: Backend) -> None:
    """RFC 6455 5.4: a message may come in fragments; the server answers the whole CALL."""

    async def main() -> None:
        async with serving(core) as server, client(server, "CP1") as ws:
            frame = json.dumps([2, "frag", "Heartbeat", {}])
            await ws.send([frame[:5], frame[5:12], frame[12:]])  # three fragments
            answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert answer[:2] == [3, "frag"]
            assert (await heartbeat(ws))[:2] == [3, "hb"]

    run(main())


def _heartbeat_frame(message_id: str) -> bytes:
    return encode_frame(OP_TEXT, json.dumps([2, message_id, "Heartbeat", {}]).encode())


def test_whole_frames_are_read_without_websockets_parser(
    core: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path (ocppfast.transport.websocket): once open, whole final text frames are
    read by the core's wsframe, not websockets' parser; a ping goes to websockets (RFC 6455
    5.5.2: answered with a pong), and the next CALLs are read fast again."""
    fed: list[bytes] = []
    receive_data = Protocol.receive_data

    def counting(protocol: Protocol, data: bytes) -> None:
        if protocol.state is State.OPEN:
            fed.append(bytes(data))
        receive_data(protocol, data)

    monkeypatch.setattr(Protocol, "receive_data", counting)

    async def main() -> None:
        async with serving(core) as server:
            raw = await status_of(server, "/CP1", subprotocols=["ocpp2.0.1"])
            for i in range(20):
                await raw.send_text(json.dumps([2, f"a{i}", "Heartbeat", {}]))
                opcode, answer = await raw.read_frame()
                assert opcode == OP_TEXT and json.loads(answer)[:2] == [3, f"a{i}"]
            assert fed == []
            await raw.send_frame(OP_PING, b"still there?")
            assert await raw.read_frame() == (OP_PONG, b"still there?")
            assert len(fed) == 1
            for i in range(20):
                await raw.send_text(json.dumps([2, f"b{i}", "Heartbeat", {}]))
                assert json.loads((await raw.read_frame())[1])[:2] == [3, f"b{i}"]
            assert len(fed) == 1
            raw.abort()

    run(main())


def test_frames_of_every_kind_in_one_read_are_answered_in_order(core: Backend) -> None:
    """One read holding CALLs, a ping and a fragmented CALL: every CALL is answered, in order
    (J201 4.1.1), and the pong takes its place between the answers (RFC 6455 5.5.2)."""

    async def main() -> None:
        async with serving(core) as server:
            raw = await status_of(server, "/CP1", subprotocols=["ocpp2.0.1"])
            fragmented = json.dumps([2, "c", "Heartbeat", {}]).encode()
            raw.writer.write(
                _heartbeat_frame("a")
                + encode_frame(OP_PING, b"p")
                + _heartbeat_frame("b")
                + encode_frame(OP_TEXT, fragmented[:7], fin=False)
                + encode_frame(OP_CONT, fragmented[7:])
                + _heartbeat_frame("d")
            )
            seen = []
            for _ in range(5):
                opcode, payload = await raw.read_frame()
                seen.append(json.loads(payload)[1] if opcode == OP_TEXT else (opcode, payload))
            assert seen == ["a", (OP_PONG, b"p"), "b", "c", "d"]
            raw.abort()

    run(main())


def test_the_answers_of_one_turn_go_out_in_one_write(core: Backend) -> None:
    """The write batch (ocppfast.transport.websocket._WriteBatch): the answers to CALLs read
    in one turn of the event loop are written together, in order, not one write each."""

    async def main() -> None:
        async with serving(core) as server:
            raw = await status_of(server, "/CP1", subprotocols=["ocpp2.0.1"])
            socket = next(iter(server._ws_server.connections))
            writes: list[bytes] = []
            write = socket.transport.write

            def counting(data: bytes) -> None:
                writes.append(bytes(data))
                write(data)

            socket.transport.write = counting
            ids = [f"m{i}" for i in range(20)]
            raw.writer.write(b"".join(_heartbeat_frame(i) for i in ids))  # one read, mostly
            answers = [json.loads((await raw.read_frame())[1]) for _ in ids]
            assert [a[:2] for a in answers] == [[3, i] for i in ids]
            assert 1 <= len(writes) < len(ids) / 2, len(writes)
            raw.abort()

    run(main())


def test_an_answer_goes_out_before_the_close_frame_that_follows_it(core: Backend) -> None:
    """A CALL and a close frame in one read: the answer, written at the end of the loop's
    turn, still goes out before the close frame websockets answers with at once (RFC 6455
    5.5.1: nothing after a close frame), and then the connection ends."""

    async def main() -> None:
        async with serving(core) as server:
            raw = await status_of(server, "/CP1", subprotocols=["ocpp2.0.1"])
            raw.writer.write(_heartbeat_frame("last") + encode_frame(OP_CLOSE, b"\x03\xe8"))
            opcode, payload = await raw.read_frame()
            assert opcode == OP_TEXT and json.loads(payload)[:2] == [3, "last"]
            assert await raw.read_frame() == (OP_CLOSE, b"\x03\xe8")
            assert await raw.at_eof()
            raw.abort()

    run(main())


def test_a_call_cut_at_any_byte_is_answered(core: Backend) -> None:
    """A frame split across reads anywhere (its header, its mask, its payload) is assembled
    by websockets; the frames after it are read fast again."""

    async def main() -> None:
        async with serving(core) as server:
            raw = await status_of(server, "/CP1", subprotocols=["ocpp2.0.1"])
            frame = _heartbeat_frame("cut")
            for cut in range(1, len(frame)):
                raw.writer.write(frame[:cut])
                await raw.writer.drain()
                await asyncio.sleep(0.002)  # a read of its own, most of the time
                raw.writer.write(frame[cut:] + _heartbeat_frame(f"after{cut}"))
                for expected in ("cut", f"after{cut}"):
                    assert json.loads((await raw.read_frame())[1])[:2] == [3, expected], cut
            raw.abort()

    run(main())


def test_a_running_connection_keeps_no_handshake_headers(core: Backend) -> None:
    """Once a station's connection runs, its socket keeps neither the request's headers nor
    the response's (about 3 KiB a station: docs/performance.md), and the connection works on:
    CALLs are answered and pings ponged."""

    async def main() -> None:
        async with serving(core) as server, client(server, "CP1") as ws:
            assert (await heartbeat(ws))[0] == 3
            socket = next(iter(server._ws_server.connections))
            assert socket.request is not None and socket.request.path == "/CP1"
            assert not socket.request.headers and not socket.response.headers
            assert socket.response.status_code == 101
            await asyncio.wait_for(await ws.ping(), 10)
            assert (await heartbeat(ws, "again"))[:2] == [3, "again"]

    run(main())


def test_closed_event_loops_leave_no_write_batch_behind(core: Backend) -> None:
    """The write batch of a loop (one per loop) does not keep its loop alive: a process that
    runs many loops in turn (tests, a library user's threads) does not keep them all."""
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def main() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        async with serving(core) as server, client(server, "CP1") as ws:
            assert (await heartbeat(ws))[0] == 3
        assert loops[0]() in _WriteBatch._by_loop  # the answer went through its batch

    run(main())
    gc.collect()
    assert loops[0]() is None


def test_calls_sent_with_the_handshake_are_all_answered_in_order(
    core: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CALLs that arrive in the same packet as the upgrade request, before the station's
    Connection is attached to its socket, are kept and handled in order: nothing is lost
    (J201 4.1.1: the answers come in the order of the CALLs)."""
    kept: list[int] = []
    attach = DirectFrames.set_receiver

    def counting(socket: DirectFrames, receiver: Any) -> None:
        kept.append(len(socket._early or ()))
        attach(socket, receiver)

    monkeypatch.setattr(DirectFrames, "set_receiver", counting)

    async def main() -> None:
        async with serving(core) as server:
            raw = await RawClient.connect("127.0.0.1", server.port)
            ids = [f"m{i}" for i in range(20)]
            calls = b"".join(
                encode_frame(OP_TEXT, json.dumps([2, i, "Heartbeat", {}]).encode()) for i in ids
            )
            upgrade = RawClient.request("/CP1", "127.0.0.1", subprotocols=["ocpp2.0.1"])
            raw.writer.write(upgrade + calls)  # one write: the CALLs come with the handshake
            head = await asyncio.wait_for(raw.reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 101")
            answers = [json.loads((await raw.read_frame())[1]) for _ in ids]
            assert [a[1] for a in answers] == ids and all(a[0] == 3 for a in answers)
            raw.abort()
        assert kept == [20]  # all of them waited for the Connection, none was lost

    run(main())


def test_a_station_that_does_not_read_is_paused_not_buffered_without_bound(
    core: Backend,
) -> None:
    """Flow control: while a station leaves its answers unread, the server stops reading its
    CALLs (the socket's send buffer is full) instead of buffering answers without bound; once
    it reads again, every CALL is answered, none lost."""

    class EchoData(Handlers):
        @on(v201.DataTransferRequest)
        def data_transfer(self, request: v201.DataTransferRequest) -> Any:
            return v201.DataTransferResponse(
                status=v201.DataTransferStatusEnum.Accepted, data=request.data
            )

    async def main() -> None:
        async with serving(core, handlers=EchoData) as server:
            raw = await status_of(server, "/CP1", subprotocols=["ocpp2.0.1"])
            socket = next(iter(server._ws_server.connections))
            # 20 MB of CALLs, each answered with as much: more than the kernel's buffers hold.
            count, padding = 5000, "x" * 4000

            async def send_all() -> None:
                for i in range(count):
                    call = [2, f"{i}", "DataTransfer", {"vendorId": "V", "data": padding}]
                    await raw.send_text(json.dumps(call))

            sending = asyncio.create_task(send_all())
            try:
                await until(lambda: not socket.transport.is_reading())
                for i in range(count):
                    opcode, payload = await raw.read_frame()
                    assert opcode == OP_TEXT and json.loads(payload)[:2] == [3, str(i)]
                await sending
                assert socket.transport.is_reading()
            finally:
                sending.cancel()
                raw.abort()

    run(main())
