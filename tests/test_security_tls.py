"""TLS for security profiles 2 and 3 (ocppfast.security.tls), over real sockets on 127.0.0.1.

The server side of each handshake runs through `loop.start_tls()`, so that its own verdict (a
refused TLS version, a client certificate that does not verify) is seen, not only the client's;
the last tests put the contexts into the asyncio `Server` and `Client`."""

from __future__ import annotations

import asyncio
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ocppfast.asyncio import Client, ConnectError, Server
from ocppfast.security.pki import CertificateRecord, CertificateStore
from ocppfast.security.tls import (
    TLS12_CIPHERS,
    TLS12_REQUIRED_CIPHERS,
    check_station_certificate,
    client_context,
    peer_identity,
    server_context,
)
from tests.aio import free_port, run


@dataclass
class Pki:
    store: CertificateStore
    ecdsa_server: CertificateRecord
    rsa_server: CertificateRecord
    station: CertificateRecord
    other: CertificateStore
    other_station: CertificateRecord

    def files(self, record: CertificateRecord, store: CertificateStore | None = None) -> Any:
        store = store or self.store
        assert record.key_file is not None
        return store.path(record.cert_file), store.path(record.key_file)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    base = tmp_path_factory.mktemp("tls")
    store = CertificateStore(base / "pki")
    store.create_ca("Example CPO")
    ecdsa_server = store.issue_server(["localhost", "127.0.0.1"])
    rsa_server = store.issue_server(["localhost", "127.0.0.1"], algorithm="rsa", rsa_bits=2048)
    station = store.issue_station("CP001")
    store.issue_station("CP002")
    other = CertificateStore(base / "other")
    other.create_ca("Example CPO")  # same name, another key: must not be trusted
    other_station = other.issue_station("CP001")
    return Pki(store, ecdsa_server, rsa_server, station, other, other_station)


def profile3_server(pki: Pki) -> ssl.SSLContext:
    return server_context(
        *pki.files(pki.ecdsa_server),
        client_ca=pki.store.ca_cert_path,
        extra=[pki.files(pki.rsa_server)],
    )


def station_client(pki: Pki, record: CertificateRecord | None = None, **options: Any) -> Any:
    record = record or pki.station
    cert, key = pki.files(record)
    return client_context(pki.store.ca_cert_path, cert=cert, key=key, **options)


@dataclass
class Outcome:
    server: BaseException | dict[str, Any]
    client: BaseException | dict[str, Any]


async def handshake(
    server: ssl.SSLContext,
    client: ssl.SSLContext,
    hostname: str = "localhost",
    inspect: Callable[[ssl.SSLObject], Any] | None = None,
) -> Outcome:
    """One TLS connection on 127.0.0.1: what each side saw (its exception, or the negotiated
    version and cipher, plus `inspect(ssl_object)` on the server side)."""
    loop = asyncio.get_running_loop()
    server_side: asyncio.Future[BaseException | dict[str, Any]] = loop.create_future()

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        transport = writer.transport
        try:
            tls = await loop.start_tls(
                transport,
                transport.get_protocol(),
                server,
                server_side=True,
                ssl_handshake_timeout=10,
            )
        except (ssl.SSLError, OSError) as error:
            server_side.set_result(error)
            transport.close()
            return
        assert tls is not None
        ssl_object = tls.get_extra_info("ssl_object")
        result = {"version": ssl_object.version(), "cipher": ssl_object.cipher()[0]}
        if inspect is not None:
            result["inspect"] = inspect(ssl_object)
        server_side.set_result(result)
        tls.write(b"hello\n")
        await asyncio.sleep(0.05)
        tls.close()

    port = free_port()
    listener = await asyncio.start_server(accepted, "127.0.0.1", port)
    client_side: BaseException | dict[str, Any]
    try:
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client, server_hostname=hostname
            )
            ssl_object = writer.get_extra_info("ssl_object")
            client_side = {"version": ssl_object.version(), "cipher": ssl_object.cipher()[0]}
            # TLS 1.3: the server judges the client certificate after the client's handshake
            # is done; its refusal arrives as an alert on the first read.
            client_side["data"] = await reader.readline()
            writer.close()
        except (ssl.SSLError, OSError) as error:
            client_side = error
        result = await asyncio.wait_for(server_side, 10)
    finally:
        listener.close()
        await listener.wait_closed()
    return Outcome(result, client_side)


# --------------------------------------------------------------------------------------------
# The contexts' settings


def test_context_settings(pki: Pki) -> None:
    """TLS 1.2 minimum (A00.FR.312), no compression (A00.FR.320), for TLS 1.2 exactly the four
    suites of A00.FR.317 plus the ECDHE-RSA GCM pair (A00.FR.319 allows it), all AEAD."""
    for context in (profile3_server(pki), station_client(pki)):
        assert context.minimum_version is ssl.TLSVersion.TLSv1_2
        assert context.options & ssl.OP_NO_COMPRESSION
        tls12 = [c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"]
        assert sorted(tls12) == sorted(TLS12_CIPHERS)
        assert set(TLS12_REQUIRED_CIPHERS) <= set(tls12)
        assert all(c["aead"] for c in context.get_ciphers())
    assert profile3_server(pki).verify_mode is ssl.CERT_REQUIRED
    plain = server_context(*pki.files(pki.ecdsa_server))  # profile 2
    assert plain.verify_mode is ssl.CERT_NONE
    client = station_client(pki)
    assert client.verify_mode is ssl.CERT_REQUIRED and client.check_hostname
    with pytest.raises(ValueError, match="both"):
        client_context(pki.store.ca_cert_path, cert=pki.files(pki.station)[0])


def test_python_default_lacks_the_rsa_pair() -> None:
    """Why the cipher list is explicit: Python's defaults miss TLS_RSA_WITH_AES_*_GCM."""
    default = {c["name"] for c in ssl.create_default_context().get_ciphers()}
    assert not {"AES128-GCM-SHA256", "AES256-GCM-SHA384"} <= default


# --------------------------------------------------------------------------------------------
# Handshakes


def test_profile_3_handshake(pki: Pki) -> None:
    """A00.FR.401-403, A00.FR.409-411: both certificates verified; the server sees the
    station's CN, and check_station_certificate() accepts it for its identity."""

    def inspect(ssl_object: ssl.SSLObject) -> Any:
        return (
            peer_identity(ssl_object),
            check_station_certificate(ssl_object, "CP001", store=pki.store),
            check_station_certificate(ssl_object, "CP001", organization="Example CPO"),
        )

    outcome = run(handshake(profile3_server(pki), station_client(pki), inspect=inspect))
    assert isinstance(outcome.server, dict), outcome.server
    assert isinstance(outcome.client, dict), outcome.client
    assert outcome.server["version"] in ("TLSv1.2", "TLSv1.3")
    assert outcome.server["inspect"] == ("CP001", None, None)
    assert outcome.client["data"] == b"hello\n"


@pytest.mark.parametrize("cipher", TLS12_REQUIRED_CIPHERS)
def test_each_required_tls12_suite_is_negotiated(pki: Pki, cipher: str) -> None:
    """A00.FR.317: a TLS 1.2 client offering only one of the four suites gets it, from a CSMS
    holding an ECDSA and an RSA certificate (the note of A00.FR.317)."""
    client = station_client(pki)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    client.set_ciphers(cipher)
    outcome = run(handshake(profile3_server(pki), client))
    assert isinstance(outcome.client, dict), outcome.client
    assert outcome.client["version"] == "TLSv1.2"
    assert outcome.client["cipher"] == cipher
    assert outcome.server == {"version": "TLSv1.2", "cipher": cipher}


def test_tls12_with_the_contexts_defaults_is_one_of_the_suites(pki: Pki) -> None:
    client = station_client(pki)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    outcome = run(handshake(profile3_server(pki), client))
    assert isinstance(outcome.client, dict), outcome.client
    # ECDSA certificate, forward secrecy first (the note of A00.FR.318)
    assert outcome.client["cipher"] == "ECDHE-ECDSA-AES256-GCM-SHA384"
    assert outcome.client["cipher"] in TLS12_REQUIRED_CIPHERS


def test_tls_1_1_is_refused_by_the_server(pki: Pki) -> None:
    """A00.FR.312, A00.FR.314 (TC_A_06_CSMS): a client that offers at most TLS 1.1 is refused
    by the CSMS (a protocol_version alert)."""
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(pki.store.ca_cert_path)
    # Old protocols need OpenSSL's security level 0 on the client to be offered at all.
    client.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client.minimum_version = ssl.TLSVersion.TLSv1
        client.maximum_version = ssl.TLSVersion.TLSv1_1
    outcome = run(handshake(server_context(*pki.files(pki.ecdsa_server)), client))
    if "NO_CIPHERS_AVAILABLE" in str(outcome.client) or "NO_PROTOCOLS" in str(outcome.client):
        pytest.skip(f"this OpenSSL cannot make a TLS 1.1 client at all: {outcome.client}")
    # The server's own verdict; the client sees the alert or just the connection dropped.
    assert isinstance(outcome.server, ssl.SSLError)
    assert "UNSUPPORTED_PROTOCOL" in str(outcome.server)
    assert isinstance(outcome.client, (ssl.SSLError, OSError))


def test_tls_1_1_is_never_offered_by_the_station(pki: Pki) -> None:
    """A00.FR.312, A00.FR.315: a CSMS that allows at most TLS 1.1 gets no connection."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(*pki.files(pki.ecdsa_server))
    server.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server.minimum_version = ssl.TLSVersion.TLSv1
        server.maximum_version = ssl.TLSVersion.TLSv1_1
    outcome = run(handshake(server, client_context(pki.store.ca_cert_path)))
    assert isinstance(outcome.client, (ssl.SSLError, OSError))
    assert isinstance(outcome.server, ssl.SSLError)
    assert "UNSUPPORTED_PROTOCOL" in str(outcome.server)


def test_a_certificate_of_another_ca_is_refused_under_profile_3(pki: Pki) -> None:
    """A00.FR.403, A00.FR.407 (TC_A_08_CSMS, "unknown certificate"): a client certificate of
    another CA, even with the right CN and O, fails the server's handshake."""
    cert, key = pki.files(pki.other_station, pki.other)
    client = client_context(pki.store.ca_cert_path, cert=cert, key=key)
    outcome = run(handshake(profile3_server(pki), client))
    assert isinstance(outcome.server, ssl.SSLError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(outcome.server)
    # TLS 1.3: the client's handshake completed; the refusal ends the connection unread.
    seen = outcome.client
    if isinstance(seen, dict):
        assert seen["data"] == b""
    else:
        assert isinstance(seen, (ssl.SSLError, OSError))


def test_no_client_certificate_is_refused_under_profile_3(pki: Pki) -> None:
    """A00.FR.401, A00.FR.407: profile 3 without a client certificate."""
    outcome = run(handshake(profile3_server(pki), client_context(pki.store.ca_cert_path)))
    assert isinstance(outcome.server, ssl.SSLError)
    assert "CERTIFICATE" in str(outcome.server).upper()


def test_profile_2_needs_no_client_certificate(pki: Pki) -> None:
    def inspect(ssl_object: ssl.SSLObject) -> Any:
        return peer_identity(ssl_object), check_station_certificate(ssl_object, "CP001")

    server = server_context(*pki.files(pki.ecdsa_server))
    outcome = run(handshake(server, station_client(pki), inspect=inspect))
    assert isinstance(outcome.server, dict), outcome.server
    identity, reason = outcome.server["inspect"]
    assert identity is None  # nothing verified, nothing claimed
    assert reason is not None and "no verified client certificate" in reason


def test_a_wrong_host_name_is_refused_by_the_station(pki: Pki) -> None:
    """A00.FR.308, A00.FR.412, A00.FR.310: the CSMS certificate must name the host."""
    outcome = run(handshake(profile3_server(pki), station_client(pki), hostname="csms.example.org"))
    assert isinstance(outcome.client, ssl.SSLCertVerificationError)
    assert "Hostname mismatch" in str(outcome.client) or "hostname" in str(outcome.client)
    # without the check (a test bench only) the chain alone is verified and accepted
    relaxed = station_client(pki, check_hostname=False)
    outcome = run(handshake(profile3_server(pki), relaxed, hostname="csms.example.org"))
    assert isinstance(outcome.client, dict), outcome.client


def test_a_csms_of_another_ca_is_refused_by_the_station(pki: Pki) -> None:
    """A00.FR.307, A00.FR.309, A00.FR.310."""
    other_server = pki.other.issue_server(["localhost"], force=True)
    server = server_context(*pki.files(other_server, pki.other))
    outcome = run(handshake(server, station_client(pki)))
    assert isinstance(outcome.client, ssl.SSLCertVerificationError)


def test_check_station_certificate_refusals(pki: Pki) -> None:
    """A00.FR.404, A00.FR.405, A00.FR.407, A00.FR.704: CN other than the identity, O other
    than the CPO, revoked; and no TLS at all."""
    revoked = pki.store.issue_station("CP-REVOKED")
    pki.store.revoke(revoked.serial, reason="key_compromise")

    def inspect(ssl_object: ssl.SSLObject) -> Any:
        return (
            check_station_certificate(ssl_object, "CP002", store=pki.store),
            check_station_certificate(ssl_object, "cp001"),
            check_station_certificate(ssl_object, "CP001", organization="Other CPO"),
            check_station_certificate(ssl_object, "CP-REVOKED", store=pki.store),
        )

    outcome = run(handshake(profile3_server(pki), station_client(pki), inspect=inspect))
    assert isinstance(outcome.server, dict), outcome.server
    other_identity, case, organization, _ = outcome.server["inspect"]
    assert other_identity == (
        "the client certificate's CN 'CP001' is not the station identity 'CP002' (A00.FR.405)"
    )
    assert case is not None and "A00.FR.405" in case
    assert organization is not None and "A00.FR.404" in organization

    outcome = run(handshake(profile3_server(pki), station_client(pki, revoked), inspect=inspect))
    assert isinstance(outcome.server, dict), outcome.server
    reason = outcome.server["inspect"][3]
    assert reason is not None and "is revoked" in reason and revoked.serial in reason

    assert "not a TLS connection" in (check_station_certificate(None, "CP001") or "")


# --------------------------------------------------------------------------------------------
# With the asyncio Server and Client


def test_profile_3_with_the_asyncio_server_and_client(pki: Pki) -> None:
    """wss:// end to end: the station connects with its certificate, the CSMS's connection
    carries the verified certificate; a station with a certificate of another CA does not get
    in."""

    async def main() -> None:
        async with Server(port=0, ssl=profile3_server(pki)) as server:
            assert server.url.startswith("wss://127.0.0.1:")
            client = Client(server.url, "CP001", ssl=station_client(pki))
            connection = await client.connect()
            running = asyncio.create_task(connection.run())
            for _ in range(100):
                if server.connection("CP001") is not None:
                    break
                await asyncio.sleep(0.01)
            station = server.connection("CP001")
            assert station is not None
            transport: Any = station.transport  # a WebSocketTransport: .ws is the websocket
            ssl_object = transport.ws.transport.get_extra_info("ssl_object")
            assert peer_identity(ssl_object) == "CP001"
            assert check_station_certificate(ssl_object, "CP001", store=pki.store) is None
            await client.stop()
            await running

            cert, key = pki.files(pki.other_station, pki.other)
            stranger = Client(
                server.url,
                "CP001",
                ssl=client_context(pki.store.ca_cert_path, cert=cert, key=key),
                open_timeout=5,
            )
            with pytest.raises(ConnectError):
                await stranger.connect()

    run(main())


def test_files_are_read_from_paths(pki: Pki, tmp_path: Path) -> None:
    """Paths may be str or Path; a missing file is the usual FileNotFoundError."""
    cert, key = pki.files(pki.ecdsa_server)
    server_context(str(cert), str(key), client_ca=str(pki.store.ca_cert_path))
    with pytest.raises(FileNotFoundError):
        server_context(tmp_path / "missing.pem", key)
