"""The CSMS's gate, attacked over real sockets on 127.0.0.1: who may connect (HTTP Basic
authentication, security profile per station, brute-force throttling, a second connection for
a live identity, client certificates), with both core backends.

Other source addresses than 127.0.0.1 are 127.0.0.2, 127.0.0.3, ...: Linux routes all of
127.0.0.0/8 to the loopback interface, so a client bound to one of them is "another machine"
for the server's per-address accounting.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import logging
import re
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidMessage, InvalidStatus

from ocppfast._core import Backend
from ocppfast.asyncio import Handlers, on
from ocppfast.asyncio.auth import Credentials
from ocppfast.asyncio.server import Server
from ocppfast.asyncio.throttle import AuthThrottle, ThrottleLimits
from ocppfast.csms import CsmsState
from ocppfast.security.pki import CertificateStore
from ocppfast.security.tls import check_station_certificate, client_context, server_context
from tests.aio import run, until

FAST_COST: dict[str, Any] = {"n": 1 << 8, "r": 8, "p": 1}
PASSWORD = "right-Password-0123456"
LOG = "ocppfast.server"


class CSMS(Handlers):
    @on("Heartbeat")
    def heartbeat(self, request: Any) -> Any:
        from ocppfast import v201

        return v201.HeartbeatResponse(current_time=datetime.datetime.now(datetime.timezone.utc))


def basic(identity: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()


@asynccontextmanager
async def serving(core: Backend, **options: Any) -> AsyncIterator[Server]:
    options.setdefault("port", 0)
    server = Server(CSMS, core=core, **options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def client(
    server: Server,
    identity: str,
    auth: str | None = None,
    source: str = "127.0.0.1",
    url: str | None = None,
    **options: Any,
) -> Any:
    headers = [("Authorization", auth)] if auth is not None else None
    return connect(
        f"{url or server.url}/{identity}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        additional_headers=headers,
        open_timeout=10,
        local_addr=(source, 0),
        **options,
    )


async def status(server: Server, identity: str, auth: str | None = None, **kw: Any) -> int:
    """The HTTP status of a handshake: 101 when it connected (then closed at once)."""
    try:
        async with client(server, identity, auth, **kw):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def heartbeat(ws: ClientConnection) -> list[Any]:
    await ws.send(json.dumps([2, "hb", "Heartbeat", {}]))
    return json.loads(await asyncio.wait_for(ws.recv(), 10))  # type: ignore[no-any-return]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


def messages(caplog: pytest.LogCaptureFixture, word: str = "") -> list[str]:
    return [r.getMessage() for r in caplog.records if word in r.getMessage()]


def credentials() -> Credentials:
    store = Credentials(**FAST_COST)
    store.set_password("CP1", PASSWORD)
    store.set_password("CP2", PASSWORD + "2")
    return store


def assert_no_secret(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    """No log line of the CSMS (ocppfast's loggers, and websockets' server log, which the server
    filters) holds a secret, an encoded one or an Authorization header. (The raw test clients'
    own websockets.client debug log does show the header it sends: not the CSMS's.)"""
    for record in caplog.records:
        if not record.name.startswith(("ocppfast", "websockets.server")):
            continue
        text = record.getMessage() + (record.exc_text or "")
        for secret in secrets:
            assert secret not in text, text
            assert base64.b64encode(secret.encode()).decode() not in text, text
        assert re.search(r"Basic (?!authentication)[A-Za-z0-9+/]{8,}", text) is None, text


# -- authentication attacks ------------------------------------------------------------------


def test_attack_no_credentials_wrong_password_and_username_not_identity(
    core: Backend, logs: pytest.LogCaptureFixture
) -> None:
    """TC_A_01_CSMS..TC_A_03_CSMS, SW A00.FR.204: no Authorization header, a wrong password, a
    username that is not the identity of the URL (with the other station's right password):
    each HTTP 401 before the upgrade; the right one connects. No secret in the log."""

    async def main() -> None:
        async with serving(core, credentials=credentials()) as server:
            assert await status(server, "CP1") == 401
            assert await status(server, "CP1", basic("CP1", "wrong-Password-0123456")) == 401
            assert await status(server, "CP1", basic("CP2", PASSWORD + "2")) == 401
            assert await status(server, "CP1", basic("CP1", PASSWORD)) == 101

    run(main())
    refused = " | ".join(messages(logs, "refused 'CP1'"))
    assert "no Authorization header" in refused and "wrong password" in refused
    assert "username is not the identity" in refused
    assert_no_secret(logs, PASSWORD, PASSWORD + "2", "wrong-Password-0123456")


def test_attack_brute_force_per_identity_real_station_still_connects(
    core: Backend, logs: pytest.LogCaptureFixture
) -> None:
    """Password guessing for one identity from other addresses: past the identity's budget,
    HTTP 429 with Retry-After before the password is checked (the right password then gets
    429 too: a throttled guess learns nothing), logged once; the real station, reconnecting
    from the address it last authenticated from, still gets in."""
    limits = ThrottleLimits(failures=3, address_failures=100, delay=30, max_delay=60)

    async def main() -> None:
        async with serving(core, credentials=credentials(), throttle=limits) as server:
            good = basic("CP1", PASSWORD)
            assert await status(server, "CP1", good) == 101  # home: 127.0.0.1
            for n in range(3):
                guess = basic("CP1", f"guess-number-{n}-0123456")
                assert await status(server, "CP1", guess, source="127.0.0.2") == 401
            with pytest.raises(InvalidStatus) as info:
                async with client(server, "CP1", good, source="127.0.0.3"):
                    pass
            response = info.value.response
            assert response.status_code == 429
            assert 1 <= int(response.headers["Retry-After"]) <= 30
            assert await status(server, "CP1", good, source="127.0.0.2") == 429
            # The real station, from home: in, and it can talk.
            async with client(server, "CP1", good) as ws:
                assert (await heartbeat(ws))[0] == 3
            # Another identity from the attacker's address is not affected by CP1's budget.
            assert await status(server, "CP2", basic("CP2", PASSWORD + "2"), source="127.0.0.2")

    run(main())
    throttling = messages(logs, "throttling 'CP1'")
    assert len(throttling) == 1 and "127.0.0.2" in throttling[0]
    assert_no_secret(logs, PASSWORD)


def test_attack_brute_force_per_address_rotating_identities(
    core: Backend, logs: pytest.LogCaptureFixture
) -> None:
    """One address guessing many identities: past the address's budget every handshake from it
    gets 429 with Retry-After (even with valid credentials), while a station elsewhere still
    connects."""
    limits = ThrottleLimits(failures=100, address_failures=4, delay=20)

    async def main() -> None:
        async with serving(core, credentials=credentials(), throttle=limits) as server:
            for n in range(4):
                guess = basic(f"X{n}", "guess-password-0123456")
                assert await status(server, f"X{n}", guess, source="127.0.0.4") == 401
            with pytest.raises(InvalidStatus) as info:
                async with client(server, "CP1", basic("CP1", PASSWORD), source="127.0.0.4"):
                    pass
            assert info.value.response.status_code == 429
            assert int(info.value.response.headers["Retry-After"]) >= 1
            assert await status(server, "CP1", basic("CP1", PASSWORD), source="127.0.0.5") == 101

    run(main())
    [line] = messages(logs, "throttling")
    assert "127.0.0.4" in line


def test_throttle_wait_grows_and_is_capped_and_memory_is_bounded() -> None:
    """The wait doubles with each failure past the budget up to `max_delay`; a key forgets its
    failures after `window`; an attacker rotating identities and addresses cannot grow the
    tables past `max_entries` each."""
    now = [1000.0]
    limits = ThrottleLimits(failures=2, address_failures=2, window=60, delay=1, max_delay=8)
    throttle = AuthThrottle(limits, clock=lambda: now[0])
    assert throttle.wait("10.0.0.1", "CP1") is None
    assert not throttle.failed("10.0.0.1", "CP1")
    assert throttle.failed("10.0.0.1", "CP1")  # the budget is spent: log it once
    waits = []
    for _ in range(6):
        waiting = throttle.wait("10.0.0.1", "CP1")
        assert waiting is not None
        waits.append(waiting[0])
        now[0] += waiting[0]
        assert throttle.wait("10.0.0.1", "CP1") is None or waiting[0] < 1
        assert not throttle.failed("10.0.0.1", "CP1")
    assert waits == [1, 2, 4, 8, 8, 8]
    now[0] += 1000  # past the window and the last wait: forgotten
    assert throttle.wait("10.0.0.1", "CP1") is None
    small = AuthThrottle(ThrottleLimits(max_entries=10), clock=lambda: now[0])
    for n in range(5000):
        small.failed(f"10.1.{n // 256}.{n % 256}", f"ID{n}")
        small.succeeded(f"10.2.{n // 256}.{n % 256}", f"OK{n}")
    assert len(small) <= 30


def test_throttle_home_address_is_exempt_from_the_identity_budget() -> None:
    """The identity's budget does not apply at the address it last authenticated from (an
    attacker elsewhere cannot lock the station out); its failures there count against the
    address only."""
    throttle = AuthThrottle(ThrottleLimits(failures=1, address_failures=50))
    throttle.succeeded("10.0.0.1", "CP1")
    throttle.failed("10.9.9.9", "cp1")
    assert throttle.wait("10.9.9.8", "CP1") is not None
    assert throttle.wait("10.0.0.1", "CP1") is None
    throttle.failed("10.0.0.1", "CP1")
    assert throttle.wait("10.0.0.1", "CP1") is None


# -- a second connection for a live identity ---------------------------------------------------


def test_attack_second_connection_without_valid_credentials_leaves_the_live_one(
    core: Backend, logs: pytest.LogCaptureFixture
) -> None:
    """A second connection for a live identity: without credentials, with a wrong password,
    or with another station's credentials (username != identity) it is refused (401) and the
    live session is untouched (it still answers a Heartbeat); with valid credentials it
    replaces it (close code 4000)."""

    async def main() -> None:
        async with (
            serving(core, credentials=credentials()) as server,
            client(server, "CP1", basic("CP1", PASSWORD)) as first,
        ):
            await until(lambda: server.connection("CP1") is not None)
            live = server.connection("CP1")
            for auth in (
                None,
                basic("CP1", "wrong-Password-0123456"),
                basic("CP2", PASSWORD + "2"),
            ):
                assert await status(server, "CP1", auth, source="127.0.0.6") == 401
                assert server.connection("CP1") is live
                assert (await heartbeat(first))[0] == 3
            async with client(server, "CP1", basic("CP1", PASSWORD)) as second:
                await until(lambda: server.connection("CP1") is not live)
                assert (await heartbeat(second))[0] == 3
                await until(lambda: first.close_code is not None)
                assert first.close_code == 4000

    run(main())


# -- a security profile per station (SW A00.FR.002, A05.FR.09, A00.FR.005) ---------------------


def test_attack_plain_connection_for_a_profile_2_station_is_refused(
    core: Backend, logs: pytest.LogCaptureFixture
) -> None:
    """SW A05.FR.09: a station registered at profile 2 is refused (403, before the upgrade, with
    a log line naming identity, address and both profiles) on a plain ws:// port even with its
    right password; a first connection records its profile (1 here); the operator lowering it
    (A00.FR.005: not via OCPP) lets it in again."""
    state = CsmsState(credentials=credentials())
    state.register_station("CP1")
    state.register_station("CP2")
    state.set_security_profile("CP1", 2)

    async def main() -> None:
        async with serving(
            core, credentials=state.credentials, profiles=state, admits=state.admits
        ) as server:
            assert await status(server, "CP1", basic("CP1", PASSWORD)) == 403
            assert await status(server, "CP2", basic("CP2", PASSWORD + "2")) == 101
            assert state.security_profile("CP2") == 1
            state.set_security_profile("CP2", 2)  # as if it had come over wss:// once
            assert await status(server, "CP2", basic("CP2", PASSWORD + "2")) == 403
            state.set_security_profile("CP1", 1)
            assert await status(server, "CP1", basic("CP1", PASSWORD)) == 101

    run(main())
    [refused] = messages(logs, "refused 'CP1'")
    assert "from 127.0.0.1:" in refused
    assert "security profile 1, below its profile 2" in refused and "(HTTP 403)" in refused
    assert any("lowered from 2 to 1 by the operator" in m for m in messages(logs, "CP1"))


def test_profile_0_station_seen_then_protected(core: Backend) -> None:
    """A station first seen without a password is recorded at profile 0; once it has a
    password and connected with it (profile 1), a connection without is refused (401: the
    password is required of it), and a stored profile is never lowered by a connection."""
    state = CsmsState()

    async def main() -> None:
        async with serving(core, credentials=state.credentials, profiles=state) as server:
            assert await status(server, "CP9") == 101
            assert state.security_profile("CP9") == 0
            state.set_password("CP9", state.credentials.hash_password(PASSWORD))
            assert await status(server, "CP9", basic("CP9", PASSWORD)) == 101
            assert state.security_profile("CP9") == 1
            state.set_password("CP9", None)
            assert await status(server, "CP9") == 403  # profile 0 is below its 1
            assert state.security_profile("CP9") == 1

    run(main())


# -- TLS: profile raised over wss://, expired and unknown certificates, TLS 1.0 --------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> CertificateStore:
    store = CertificateStore(tmp_path_factory.mktemp("gate") / "pki")
    store.create_ca("Example CPO")
    store.issue_server(["localhost", "127.0.0.1"])
    store.issue_station("CP1")
    store.issue_station("CP2")
    return store


def _server_files(pki: CertificateStore) -> tuple[Path, Path]:
    record = next(r for r in pki.list() if r.kind == "server")
    assert record.key_file is not None
    return pki.path(record.cert_file), pki.path(record.key_file)


def _station_files(pki: CertificateStore, identity: str) -> tuple[Path, Path]:
    record = next(r for r in pki.list() if r.kind == "station" and r.name == identity)
    assert record.key_file is not None
    return pki.path(record.cert_file), pki.path(record.key_file)


def test_profile_raised_over_tls_then_plain_port_refused(
    core: Backend, pki: CertificateStore, logs: pytest.LogCaptureFixture
) -> None:
    """A05: a station seen at profile 1 connects with Basic over wss:// (profile 2): its profile
    is raised to 2 and logged; from then on the plain ws:// port refuses it (A05.FR.09)."""
    state = CsmsState(credentials=credentials())
    tls = server_context(*_server_files(pki))
    station_tls = client_context(pki.ca_cert_path)

    async def main() -> None:
        async with (
            serving(core, credentials=state.credentials, profiles=state) as plain,
            serving(core, credentials=state.credentials, profiles=state, ssl=tls) as secure,
        ):
            good = basic("CP1", PASSWORD)
            assert await status(plain, "CP1", good) == 101
            assert state.security_profile("CP1") == 1
            url = f"wss://localhost:{secure.port}"
            assert await status(secure, "CP1", good, url=url, ssl=station_tls) == 101
            assert state.security_profile("CP1") == 2
            assert await status(plain, "CP1", good) == 403

    run(main())
    assert messages(logs, "raised from 1 to 2")


def _expired_station(pki: CertificateStore, identity: str, tmp: Path) -> tuple[Path, Path]:
    ca_key = serialization.load_pem_private_key(pki.ca_key_path.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert_path.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example CPO"),
                    x509.NameAttribute(NameOID.COMMON_NAME, identity),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=30))
        .not_valid_after(now - datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    cert_file, key_file = tmp / "expired.pem", tmp / "expired.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_attack_profile_3_expired_foreign_and_other_stations_certificates(
    core: Backend, pki: CertificateStore, tmp_path: Path, logs: pytest.LogCaptureFixture
) -> None:
    """SW A00.FR.403-407 (TC_A_08_CSMS): an expired client certificate of the right CA and
    identity, and one of an unknown CA, fail the TLS handshake, and the CSMS logs each with
    the address and the reason; station CP2's valid certificate on CP1's URL gets 403 and
    leaves CP1's live session untouched; CP1's own connects."""
    foreign = CertificateStore(tmp_path / "foreign")
    foreign.create_ca("Example CPO")
    foreign_record = foreign.issue_station("CP1")
    tls = server_context(*_server_files(pki), client_ca=pki.ca_cert_path)

    def check(ssl_object: Any, identity: str) -> str | None:
        return check_station_certificate(ssl_object, identity, organization="Example CPO")

    expired = _expired_station(pki, "CP1", tmp_path)

    async def main() -> None:
        async with serving(core, ssl=tls, check_client=check) as server:
            url = f"wss://localhost:{server.port}"
            own = client_context(
                pki.ca_cert_path,
                cert=_station_files(pki, "CP1")[0],
                key=_station_files(pki, "CP1")[1],
            )
            async with client(server, "CP1", url=url, ssl=own) as first:
                await until(lambda: server.connection("CP1") is not None)
                live = server.connection("CP1")
                other = client_context(
                    pki.ca_cert_path,
                    cert=_station_files(pki, "CP2")[0],
                    key=_station_files(pki, "CP2")[1],
                )
                assert await status(server, "CP1", url=url, ssl=other) == 403
                assert server.connection("CP1") is live
                assert (await heartbeat(first))[0] == 3
                old = client_context(pki.ca_cert_path, cert=expired[0], key=expired[1])
                with pytest.raises((ssl.SSLError, OSError, InvalidMessage)):
                    async with client(server, "CP1", url=url, ssl=old):
                        pass
                unknown = client_context(
                    pki.ca_cert_path,
                    cert=foreign.path(foreign_record.cert_file),
                    key=foreign.path(foreign_record.key_file or ""),
                )
                with pytest.raises((ssl.SSLError, OSError, InvalidMessage)):
                    async with client(server, "CP1", url=url, ssl=unknown):
                        pass
                assert server.connection("CP1") is live
                await until(lambda: len(messages(logs, "failed TLS handshake")) >= 2)

    run(main())
    failed = messages(logs, "failed TLS handshake from 127.0.0.1:")
    assert any("certificate has expired" in line for line in failed), failed
    assert any("unable to get local issuer certificate" in line for line in failed), failed


def test_attack_tls_1_0_client_is_refused(
    core: Backend, pki: CertificateStore, logs: pytest.LogCaptureFixture
) -> None:
    """SW A00.FR.314/418 (TC_A_06_CSMS): a client limited to TLS 1.0 gets no connection. Here
    OpenSSL may refuse to even offer TLS 1.0 at its default security level; @SECLEVEL=0 makes
    it try, and the CSMS refuses it either way."""
    tls = server_context(*_server_files(pki))

    async def main() -> None:
        async with serving(core, credentials=credentials(), ssl=tls) as server:
            old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            old.load_verify_locations(pki.ca_cert_path)
            with pytest.warns(DeprecationWarning):
                old.minimum_version = ssl.TLSVersion.TLSv1
                old.maximum_version = ssl.TLSVersion.TLSv1
            old.set_ciphers("DEFAULT:@SECLEVEL=0")
            url = f"wss://localhost:{server.port}"
            with pytest.raises((ssl.SSLError, OSError, InvalidMessage)):
                async with client(server, "CP1", basic("CP1", PASSWORD), url=url, ssl=old):
                    pass
            assert server.connection("CP1") is None
            await until(lambda: messages(logs, "failed TLS handshake"))

    run(main())
    [line] = messages(logs, "failed TLS handshake")
    assert "127.0.0.1:" in line
    assert "a TLS version below 1.2" in line, line


def test_non_tls_clients_are_logged_rate_limited(
    core: Backend, pki: CertificateStore, logs: pytest.LogCaptureFixture
) -> None:
    """A client that speaks plain HTTP/WebSocket to the wss:// port: one log line per failed
    handshake with the address and why, at most TLS_FAILURE_LOG_BURST per minute (a flood
    cannot fill the log); then a station over TLS still connects."""
    from ocppfast.asyncio import server as server_module

    tls = server_context(*_server_files(pki))

    async def main() -> None:
        async with serving(core, credentials=credentials(), ssl=tls) as server:
            burst = server_module.TLS_FAILURE_LOG_BURST
            for _ in range(burst + 5):
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(b"GET /CP1 HTTP/1.1\r\nHost: x\r\n\r\n")
                await writer.drain()
                await reader.read()  # the server closes it
                writer.close()
            await until(lambda: len(messages(logs, "failed TLS handshake")) >= burst)
            url = f"wss://localhost:{server.port}"
            station_tls = client_context(pki.ca_cert_path)
            assert await status(server, "CP1", basic("CP1", PASSWORD), url=url, ssl=station_tls)

    run(main())
    failed = messages(logs, "failed TLS handshake")
    assert len(failed) == server_module.TLS_FAILURE_LOG_BURST
    assert "not a TLS client" in failed[0] and "127.0.0.1:" in failed[0]


# -- the operator API: the stored profile, and no downgrade through OCPP (A00.FR.005) -------------


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
def test_api_security_profile_stored_shown_set_and_no_downgrade_via_ocpp(
    core: Backend, version: str, tmp_path: Path, logs: pytest.LogCaptureFixture
) -> None:
    """SW A00.FR.002 / A05.FR.09 / A00.FR.005: the station view shows the stored profile, set
    at registration or by PATCH (lowering it logged as the operator's act) and kept across a
    CSMS restart; a message that would lower it through OCPP (ChangeConfiguration
    SecurityProfile, SetVariables SecurityCtrlr.SecurityProfile, SetNetworkProfile) is refused
    with 409 before it is sent, by the typed and the generic routes; raising it is allowed."""
    from tests.test_password_rotation import OLD, csms, station

    database = f"sqlite:///{tmp_path / 'csms.sqlite3'}"
    if version == "ocpp1.6":
        lower: list[tuple[str, dict[str, Any]]] = [
            ("configuration", {"key": "SecurityProfile", "value": "1"}),
            (
                "calls",
                {
                    "action": "ChangeConfiguration",
                    "payload": {"key": "securityprofile", "value": "0"},
                },
            ),
        ]
    else:
        lower = [
            ("configuration", {"key": "SecurityCtrlr.SecurityProfile", "value": "1"}),
            (
                "calls",
                {
                    "action": "SetNetworkProfile",
                    "payload": {
                        "configurationSlot": 2,
                        "connectionData": {
                            "ocppVersion": "OCPP20",
                            "ocppTransport": "JSON",
                            "ocppCsmsUrl": "ws://127.0.0.1:9/",
                            "messageTimeout": 30,
                            "securityProfile": 1,
                            "ocppInterface": "Wired0",
                        },
                    },
                },
            ),
        ]

    async def main() -> None:
        async with csms(database, core) as c:
            body = {"identity": "CP1", "password": OLD[version], "securityProfile": 3}
            status, view, _ = await c.request("POST", "/api/stations", body)
            assert status == 201 and view["securityProfile"] == 3, view
            assert (await c.request("PATCH", "/api/stations/CP1", {"securityProfile": 1}))[0] == 200
            async with station(c.server.url, version, core):
                await until(lambda: c.server.connection("CP1") is not None)
                status, view, _ = await c.request(
                    "PATCH", "/api/stations/CP1", {"securityProfile": 2}
                )
                assert status == 200 and view["securityProfile"] == 2
                for route, payload in lower:
                    status, error, _ = await c.request(
                        "POST" if route == "calls" else "PUT",
                        f"/api/stations/CP1/{route}",
                        payload,
                    )
                    assert status == 409, (route, error)
                    assert "A00.FR.005" in error["error"]["description"]
                # Raising is fine (the station answers as it likes).
                status, _, _ = await c.request(
                    "PUT",
                    "/api/stations/CP1/configuration",
                    {
                        "key": "SecurityProfile"
                        if version == "ocpp1.6"
                        else "SecurityCtrlr.SecurityProfile",
                        "value": "3",
                    },
                )
                assert status == 200
        async with csms(database, core) as c:
            _, view, _ = await c.request("GET", "/api/stations/CP1")
            assert view["securityProfile"] == 2

    run(main())
    assert any("lowered from 3 to 1 by the operator" in m for m in messages(logs))


def test_profile_and_pending_password_are_stored(database_url: str) -> None:
    """The station's security profile and a rotation's pending password are kept with its
    registration (SQLite and PostgreSQL: the `stations` columns of migration 4), so that a
    CSMS restart neither lets a downgraded connection in nor locks a rotating station out."""
    from ocppfast.csms.store import close_state, open_state

    state_url = database_url

    async def main() -> None:
        state = await open_state(state_url)
        state.register_station("CP1")
        state.set_security_profile("CP1", 2)
        state.set_password("CP1", state.credentials.hash_password(PASSWORD))
        state.set_pending_password("CP1", state.credentials.hash_password(PASSWORD + "-new"))
        await close_state(state)
        state = await open_state(state_url)
        assert state.security_profile("cp1") == 2
        assert state.credentials.check("CP1", PASSWORD.encode()) == 1
        assert state.credentials.check("CP1", (PASSWORD + "-new").encode()) == 2
        assert state.credentials.promote("CP1")  # the station used the new one
        await close_state(state)
        state = await open_state(state_url)
        assert state.credentials.pending("CP1") is None
        assert state.credentials.check("CP1", (PASSWORD + "-new").encode()) == 1
        assert state.credentials.check("CP1", PASSWORD.encode()) == 0
        await close_state(state)

    run(main())


def test_serve_station_org_defaults_to_the_cas_o_with_pki(
    core: Backend, tmp_path: Path, logs: pytest.LogCaptureFixture
) -> None:
    """SW A00.FR.404 (`ocppfast serve --station-org`): with --pki a station certificate must
    carry the CA's O by default, so one of the same CA with another O gets 403; `--station-org
    ''` checks no O."""
    from cli.serve import _tls_settings

    store = CertificateStore(tmp_path / "pki")
    store.create_ca("Example CPO")
    store.issue_server(["localhost", "127.0.0.1"])
    store.issue_station("CP1")
    store.issue_station("CP2", "Another CPO")

    def station_tls(identity: str) -> ssl.SSLContext:
        cert, key = _station_files(store, identity)
        return client_context(store.ca_cert_path, cert=cert, key=key)

    async def main() -> None:
        for station_org, cp2 in ((None, 403), ("", 101)):
            tls = _tls_settings([], [], None, store.directory, tmp_path, station_org)
            assert tls is not None and tls.check is not None
            async with serving(core, ssl=tls.context, check_client=tls.check) as server:
                url = f"wss://localhost:{server.port}"
                assert await status(server, "CP1", url=url, ssl=station_tls("CP1")) == 101
                assert await status(server, "CP2", url=url, ssl=station_tls("CP2")) == cp2

    run(main())
    assert any("A00.FR.404" in line for line in messages(logs, "refused 'CP2'"))


def test_serve_auth_failure_options(core: Backend, tmp_path: Path) -> None:
    """`ocppfast serve --auth-failures N` (and `--auth-failures-per-address`, whose defaults are
    `ThrottleLimits`'): with 1, the first wrong password for an identity spends its budget, and
    its next handshake gets HTTP 429 with Retry-After before any password is checked."""
    from cli.serve import AUTH_FAILURES, AUTH_FAILURES_PER_ADDRESS
    from ocppfast.asyncio.throttle import DEFAULT_THROTTLE
    from tests.cli_process import serve

    defaults = (DEFAULT_THROTTLE.failures, DEFAULT_THROTTLE.address_failures)
    assert defaults == (AUTH_FAILURES, AUTH_FAILURES_PER_ADDRESS)
    passwords = tmp_path / "credentials"
    passwords.write_text(f"CP1 {PASSWORD}\n")
    process, url = serve(
        core, "--credentials", str(passwords), "--auth-failures", "1", "--database", "memory"
    )

    async def attempt(password: str) -> tuple[int, str | None]:
        auth = "Basic " + base64.b64encode(f"CP1:{password}".encode()).decode()
        try:
            async with connect(
                f"{url}/CP1",
                subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                additional_headers=[("Authorization", auth)],
                open_timeout=10,
            ):
                return 101, None
        except InvalidStatus as exc:
            return exc.response.status_code, exc.response.headers.get("Retry-After")

    async def main() -> None:
        assert (await attempt("not-the-password-0000"))[0] == 401
        code, retry_after = await attempt(PASSWORD)  # right, but throttled first
        assert code == 429 and retry_after is not None and int(retry_after) >= 1

    with process:
        run(main())
    assert PASSWORD not in process.log
