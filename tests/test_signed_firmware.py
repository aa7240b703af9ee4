"""Signed firmware (SW L01 "Secure Firmware Update", 2.0.1 L01; issue 10 part 5), both roles:
`ocppfast.security.firmware` (the scheme), the stations verifying what a real HTTP server on
127.0.0.1 serves (1.6 SignedUpdateFirmware, 2.0.1 / 2.1 UpdateFirmware with a signature), and
the attacks: a file with one byte flipped, a signer of another root, an expired signer, a
signature that is not base64."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ocppfast import v16
from ocppfast.api import ApiServer
from ocppfast.api.files import FileStore
from ocppfast.asyncio import Client
from ocppfast.asyncio.server import Server
from ocppfast.csms import CsmsState, default_csms
from ocppfast.exceptions import OCPPError
from ocppfast.hardware import SimulatedHardware
from ocppfast.security.firmware import (
    FirmwareCertificateError,
    FirmwareSignatureError,
    FirmwareSigner,
    check_signing_certificate,
    firmware_digest,
    load_roots,
    sign_firmware,
    verify_firmware,
)
from ocppfast.security.pki import CertificateStore
from ocppfast.station import StationConfig
from ocppfast.station.v2 import StationV2
from ocppfast.station.v16 import Station16
from tests.aio import free_port, run, until
from tests.test_api import TOKEN, error_of
from tests.test_api import Csms as ApiCsms
from tests.test_station_v2 import Csms as CsmsV2
from tests.test_station_v2 import connect, make_station, ready, v2
from tests.test_station_v2 import run as run2
from tests.test_station_v16 import NOW, Clock, Csms, Link

__all__ = ["v2"]  # the fixture, imported for the 2.x tests

IMAGE = bytes(range(256)) * 1024 + b"firmware 2.0"  # 256 KiB and a bit
FLIPPED = IMAGE[:1000] + bytes([IMAGE[1000] ^ 0x01]) + IMAGE[1001:]


# -- the PKI of the tests: a manufacturer, another manufacturer, signers --------------------------


@dataclass
class Manufacturer:
    """A manufacturer hierarchy (`ocppfast certs` in its own directory): its root, a valid
    ECDSA signer, an RSA signer, an expired signer, a TLS server certificate (not for code
    signing)."""

    store: CertificateStore
    root: x509.Certificate
    signer: FirmwareSigner
    rsa_signer: FirmwareSigner
    expired: FirmwareSigner
    server_pem: str


def _signer(store: CertificateStore, name: str, **options: Any) -> FirmwareSigner:
    record = store.issue_firmware_signer(name, **options)
    assert record.key_file is not None
    return FirmwareSigner.load(store.path(record.cert_file), store.path(record.key_file))


def _expired_signer(store: CertificateStore) -> FirmwareSigner:
    """A codeSigning certificate of the store's root that expired yesterday."""
    ca_key: Any = serialization.load_pem_private_key(store.ca_key_path.read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old firmware")]))
        .issuer_name(store.ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=30))
        .not_valid_after(now - timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return FirmwareSigner(certificate.public_bytes(serialization.Encoding.PEM).decode(), key)


def _manufacturer(directory: Path, org: str) -> Manufacturer:
    store = CertificateStore(directory)
    store.create_ca(org)
    server = store.issue_server(["fw.example.com"])
    return Manufacturer(
        store=store,
        root=store.ca_certificate,
        signer=_signer(store, "firmware"),
        rsa_signer=_signer(store, "firmware-rsa", algorithm="rsa", rsa_bits=2048),
        expired=_expired_signer(store),
        server_pem=store.path(server.cert_file).read_text(),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Manufacturer, Manufacturer]:
    """(the station's manufacturer, another manufacturer)."""
    return (
        _manufacturer(tmp_path_factory.mktemp("maker"), "Maker"),
        _manufacturer(tmp_path_factory.mktemp("other"), "Other Maker"),
    )


# -- the scheme ----------------------------------------------------------------------------------


def test_sw_l01_fr_04_signature_over_the_whole_file_ecdsa_and_rsa_pss(
    pki: tuple[Manufacturer, Manufacturer], tmp_path: Path
) -> None:
    """SW L01.FR.04 / L01.FR.12: a signature over the entire file (SHA-256; RSA-PSS for an RSA
    key, ECDSA for an EC key) verifies with the signing certificate issued by the root, from
    bytes and from a file read in chunks; one byte flipped does not."""
    maker, _ = pki
    path = tmp_path / "image.bin"
    path.write_bytes(IMAGE)
    assert firmware_digest(path) == firmware_digest(IMAGE)
    for signer in (maker.signer, maker.rsa_signer):
        signature = signer.sign(path)
        assert len(signature) <= 800
        verify_firmware(IMAGE, signature, signer.certificate_pem, [maker.root])
        verify_firmware(path, signature, signer.certificate_pem, [maker.root])
        with pytest.raises(FirmwareSignatureError, match="does not match"):
            verify_firmware(FLIPPED, signature, signer.certificate_pem, [maker.root])
    # RSA-PSS: two signatures of the same file differ (random salt), both verify.
    assert sign_firmware(IMAGE, maker.rsa_signer.key) != sign_firmware(IMAGE, maker.rsa_signer.key)


def test_sw_l01_fr_12_signing_certificate_checks(
    pki: tuple[Manufacturer, Manufacturer],
) -> None:
    """SW L01.FR.12, L01.FR.23/24: the certificate must be issued directly by a manufacturer
    root, be valid now, be for code signing, not be a CA, and parse; each refusal says why."""
    maker, other = pki
    roots = [maker.root]
    assert check_signing_certificate(maker.signer.certificate_pem, roots).subject
    cases: dict[str, str | bytes] = {
        "not issued by a manufacturer root": other.signer.certificate_pem,
        "expired": maker.expired.certificate_pem,
        "not for code signing": maker.server_pem,
        "CA certificate": maker.root.public_bytes(serialization.Encoding.PEM),
        "not a PEM": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----",
        "empty": "",
    }
    for reason, pem in cases.items():
        with pytest.raises(FirmwareCertificateError, match=reason):
            check_signing_certificate(pem, roots)
    with pytest.raises(FirmwareCertificateError, match="no manufacturer root"):
        check_signing_certificate(maker.signer.certificate_pem, [])
    # Either root of several will do.
    check_signing_certificate(other.signer.certificate_pem, [maker.root, other.root])
    assert load_roots([maker.root.public_bytes(serialization.Encoding.PEM)]) == [maker.root]


def test_sw_l01_fr_03_malformed_signatures(pki: tuple[Manufacturer, Manufacturer]) -> None:
    """SW L01.FR.03: a signature that is not base64, empty, too long, or of the wrong shape is
    InvalidSignature (FirmwareSignatureError), never a crash."""
    maker, _ = pki
    pem = maker.signer.certificate_pem
    for signature, reason in [
        ("%%% not base64 %%%", "not base64"),
        ("", "empty"),
        ("QUJD" * 201, "longer than"),
        (base64.b64encode(b"short").decode(), "does not match|malformed"),
        (maker.rsa_signer.sign(IMAGE), "does not match|malformed"),  # RSA signature, EC key
    ]:
        with pytest.raises(FirmwareSignatureError, match=reason):
            verify_firmware(IMAGE, signature, pem, [maker.root])


def test_firmware_signer_load_checks_the_pair(
    pki: tuple[Manufacturer, Manufacturer], tmp_path: Path
) -> None:
    """`FirmwareSigner.load` (ocppfast serve --firmware-signer-cert/-key): the key must be the
    certificate's, the certificate for code signing; the key is never in its repr."""
    maker, other = pki
    store = maker.store
    (record,) = [r for r in store.list() if r.kind == "firmware" and r.name == "firmware"]
    (foreign,) = [r for r in other.store.list() if r.kind == "firmware" and r.name == "firmware"]
    assert record.key_file and foreign.key_file
    signer = FirmwareSigner.load(store.path(record.cert_file), store.path(record.key_file))
    assert "PRIVATE" not in repr(signer) and "key=" not in repr(signer)
    with pytest.raises(ValueError, match="not the private key"):
        FirmwareSigner.load(store.path(record.cert_file), other.store.path(foreign.key_file))
    (server,) = [r for r in store.list() if r.kind == "server"]
    assert server.key_file
    with pytest.raises(ValueError, match="not for code signing"):
        FirmwareSigner.load(store.path(server.cert_file), store.path(server.key_file))
    garbage = tmp_path / "garbage.key"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match="not an unencrypted PEM private key") as raised:
        FirmwareSigner.load(store.path(record.cert_file), garbage)
    assert "AAAA" not in str(raised.value)
    with pytest.raises(ValueError, match="cannot read"):
        FirmwareSigner.load(tmp_path / "missing.pem", garbage)


# -- a file server -------------------------------------------------------------------------------


class Files:
    """GET /fw/<name> on 127.0.0.1 serves `files[name]` (404 otherwise); `hits` counts."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.hits: dict[str, int] = {}
        self.port = free_port()
        app = web.Application()
        app.router.add_get("/fw/{name}", self._get)
        self.runner = web.AppRunner(app)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/fw/{name}"

    async def _get(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.hits[name] = self.hits.get(name, 0) + 1
        if name not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[name], content_type="application/octet-stream")


@contextlib.asynccontextmanager
async def serving(files: dict[str, bytes]) -> AsyncIterator[Files]:
    server = Files(files)
    await server.runner.setup()
    await web.TCPSite(server.runner, "127.0.0.1", server.port).start()
    try:
        yield server
    finally:
        await server.runner.cleanup()


SERVED = {"good.bin": IMAGE, "tampered.bin": FLIPPED}


# -- 1.6 (SW SignedUpdateFirmware) ---------------------------------------------------------------


def station16(maker: Manufacturer | None, hardware: SimulatedHardware) -> Station16:
    station = Station16(
        StationConfig("CP1", serial_number="SN-0042", connectors=2),
        clock=Clock(),
        hardware=hardware,
    )
    if maker is not None:
        station.manufacturer_roots = [maker.root]  # type: ignore[attr-defined]
    return station


def signed16(location: str, signer: FirmwareSigner, signature: str, request_id: int = 5) -> Any:
    return v16.SignedUpdateFirmwareRequest(
        request_id=request_id,
        retries=0,
        firmware=v16.Firmware(
            location=location,
            retrieve_date_time=NOW - timedelta(hours=2),
            signing_certificate=signer.certificate_pem,
            signature=signature,
        ),
    )


def signed_statuses(csms: Csms) -> list[tuple[str, Any]]:
    return [(r.status.value, r.request_id) for r in csms.of("SignedFirmwareStatusNotification")]


def events(csms: Any) -> list[str]:
    return [str(getattr(r.type, "value", r.type)) for r in csms.of("SecurityEventNotification")]


def test_v16_sw_l01_signed_update_verified_installed(
    core: Any, pki: tuple[Manufacturer, Manufacturer]
) -> None:
    """SW L01.FR.01/04/05/10/15/21/23 (TC_L_01_CS in 1.6): Accepted; then
    SignedFirmwareStatusNotification.req Downloading, Downloaded, SignatureVerified, Installing,
    InstallRebooting, all with the requestId; the very bytes served are installed; after the
    reboot Installed and the FirmwareUpdated event."""
    maker, _ = pki

    async def main() -> None:
        hardware = SimulatedHardware()
        station = station16(maker, hardware)
        async with serving(SERVED) as files:
            link = Link(core, station, Csms())
            await link.booted()
            request = signed16(files.url("good.bin"), maker.signer, maker.signer.sign(IMAGE))
            answer = await link.call(request)
            assert answer.status == v16.UpdateFirmwareStatusEnum.Accepted
            await link.closed()  # the reboot into the new firmware
            assert signed_statuses(link.csms) == [
                ("Downloading", 5),
                ("Downloaded", 5),
                ("SignatureVerified", 5),
                ("Installing", 5),
                ("InstallRebooting", 5),
            ]
            assert link.csms.of("FirmwareStatusNotification") == []
            assert [f.content for f in hardware.installed] == [IMAGE]
            again = Link(core, station, Csms())
            await again.booted()
            await again.csms.wait_for("SignedFirmwareStatusNotification")
            assert signed_statuses(again.csms) == [("Installed", 5)]
            await again.csms.wait_for("SecurityEventNotification", count=2)
            assert "FirmwareUpdated" in events(again.csms)
            await again.close()

    run(main())


def test_v16_sw_l01_fr_03_one_byte_flipped_is_invalid_signature_not_installed(
    core: Any, pki: tuple[Manufacturer, Manufacturer], caplog: pytest.LogCaptureFixture
) -> None:
    """SW L01.FR.03/04 (TC_L_06_CS in 1.6), the issue's attack: the file served has one byte
    flipped: Downloading, Downloaded, InvalidSignature and the security event
    InvalidFirmwareSignature; nothing is installed, the station does not reboot."""
    maker, _ = pki

    async def main() -> None:
        hardware = SimulatedHardware()
        station = station16(maker, hardware)
        async with serving(SERVED) as files:
            link = Link(core, station, Csms())
            await link.booted()
            request = signed16(files.url("tampered.bin"), maker.signer, maker.signer.sign(IMAGE))
            assert (await link.call(request)).status == v16.UpdateFirmwareStatusEnum.Accepted
            await link.csms.wait_for("SignedFirmwareStatusNotification", count=3)
            await until(lambda: "InvalidFirmwareSignature" in events(link.csms))
            assert signed_statuses(link.csms) == [
                ("Downloading", 5),
                ("Downloaded", 5),
                ("InvalidSignature", 5),
            ]
            assert hardware.installed == []
            assert not station.maintenance.firmware_busy
            await link.close()

    with caplog.at_level(logging.INFO):
        run(main())
    assert "InvalidSignature" in caplog.text


def test_v16_sw_l01_fr_24_signer_of_another_root_is_invalid_certificate(
    core: Any, pki: tuple[Manufacturer, Manufacturer]
) -> None:
    """SW L01.FR.02/23/24: a signing certificate of another manufacturer (its signature over
    the file is right) is refused when the request comes: InvalidCertificate, the security
    event InvalidFirmwareSigningCertificate, nothing downloaded."""
    maker, other = pki

    async def main() -> None:
        station = station16(maker, SimulatedHardware())
        async with serving(SERVED) as files:
            link = Link(core, station, Csms())
            await link.booted()
            request = signed16(files.url("good.bin"), other.signer, other.signer.sign(IMAGE))
            answer = await link.call(request)
            assert answer.status == v16.UpdateFirmwareStatusEnum.InvalidCertificate
            await until(lambda: "InvalidFirmwareSigningCertificate" in events(link.csms))
            assert files.hits == {}
            assert link.csms.of("SignedFirmwareStatusNotification") == []
            await link.close()

    run(main())


def test_v16_sw_l01_fr_20_unsigned_update_firmware_not_supported(
    core: Any, pki: tuple[Manufacturer, Manufacturer]
) -> None:
    """SW L01.FR.20: a Charge Point that installs signed firmware answers UpdateFirmware.req
    with CALLERROR NotSupported and does not start an update."""
    maker, _ = pki

    async def main() -> None:
        station = station16(maker, SimulatedHardware())
        async with serving(SERVED) as files:
            link = Link(core, station, Csms())
            await link.booted()
            request = v16.UpdateFirmwareRequest(location=files.url("good.bin"), retrieve_date=NOW)
            with pytest.raises(OCPPError) as raised:
                await link.call(request)
            assert raised.value.code == "NotSupported"
            assert not station.maintenance.firmware_busy
            assert files.hits == {}
            await link.close()

    run(main())


def test_v16_sw_l01_fr_29_triggered_signed_status_repeats_the_last(
    core: Any, pki: tuple[Manufacturer, Manufacturer]
) -> None:
    """SW L01.FR.28/29: ExtendedTriggerMessage.req FirmwareStatusNotification returns the last
    SignedFirmwareStatusNotification.req sent (InvalidSignature, with its requestId)."""
    maker, _ = pki

    async def main() -> None:
        station = station16(maker, SimulatedHardware())
        async with serving(SERVED) as files:
            link = Link(core, station, Csms())
            await link.booted()
            request = signed16(files.url("tampered.bin"), maker.signer, maker.signer.sign(IMAGE))
            await link.call(request)
            await link.csms.wait_for("SignedFirmwareStatusNotification", count=3)
            trigger = v16.ExtendedTriggerMessageRequest(
                requested_message=v16.MessageTriggerEnum.FirmwareStatusNotification
            )
            await link.call(trigger)
            await link.csms.wait_for("SignedFirmwareStatusNotification", count=4)
            assert signed_statuses(link.csms)[3] == ("InvalidSignature", 5)
            await link.close()

    run(main())


# -- 2.0.1 and 2.1 (UpdateFirmware with a signature) ----------------------------------------------


def text(value: Any) -> str:
    return str(getattr(value, "value", value))


def fw_statuses(csms: CsmsV2) -> list[tuple[str, Any]]:
    return [(text(r.status), r.request_id) for r in csms.of("FirmwareStatusNotification")]


def update2(m: Any, location: str, request_id: int = 7, **firmware: Any) -> Any:
    return m.UpdateFirmwareRequest(
        request_id=request_id,
        firmware=m.Firmware(
            location=location, retrieve_date_time=NOW - timedelta(hours=2), **firmware
        ),
    )


def station2(version: str, maker: Manufacturer) -> StationV2:
    station = make_station(version)
    station.manufacturer_roots = [maker.root]  # type: ignore[attr-defined]
    return station


def test_v2_tc_l_01_cs_signed_update_verified_installed(
    core: Any, v2: str, pki: tuple[Manufacturer, Manufacturer]
) -> None:
    """TC_L_01_CS: Accepted; Downloading, Downloaded, SignatureVerified, Installing,
    InstallRebooting; BootNotification reason FirmwareUpdate; FirmwareUpdated; Installed. With
    an RSA-PSS signer."""
    maker, _ = pki

    async def main() -> None:
        station = station2(v2, maker)
        hardware = station.hardware
        assert isinstance(hardware, SimulatedHardware)
        signer = maker.rsa_signer
        async with serving(SERVED) as files:
            csms = CsmsV2()
            async with connect(core, station, csms, v2) as connection:
                await ready(station, csms)
                request = update2(
                    csms.m,
                    files.url("good.bin"),
                    signing_certificate=signer.certificate_pem,
                    signature=signer.sign(IMAGE),
                    install_date_time=NOW - timedelta(hours=2),
                )
                assert text((await connection.call(request)).status) == "Accepted"
                await csms.wait("FirmwareStatusNotification", 5)
                await until(lambda: connection.closed)
            assert fw_statuses(csms) == [
                ("Downloading", 7),
                ("Downloaded", 7),
                ("SignatureVerified", 7),
                ("Installing", 7),
                ("InstallRebooting", 7),
            ]
            assert hardware.installed[0].content == IMAGE
            after = CsmsV2()
            async with connect(core, station, after, v2):
                await ready(station, after)
                await after.wait("FirmwareStatusNotification")
                (boot,) = after.of("BootNotification")
                assert text(boot.reason) == "FirmwareUpdate"
                assert fw_statuses(after) == [("Installed", 7)]
                await after.wait(
                    "SecurityEventNotification", where=lambda r: r.type == "FirmwareUpdated"
                )

    run2(main())


@pytest.mark.parametrize("which", ["one byte flipped", "garbage base64"])
def test_v2_tc_l_06_cs_invalid_signature(
    core: Any, v2: str, pki: tuple[Manufacturer, Manufacturer], which: str
) -> None:
    """TC_L_06_CS (L01.FR.03/04): the file served with one byte flipped (the issue's attack),
    or a signature that is not base64, with a valid certificate: Accepted; Downloading,
    Downloaded, InvalidSignature; the InvalidFirmwareSignature security event; not installed."""
    maker, _ = pki
    name, signature = {
        "one byte flipped": ("tampered.bin", maker.signer.sign(IMAGE)),
        "garbage base64": ("good.bin", "this is %%% not base64"),
    }[which]

    async def main() -> None:
        station = station2(v2, maker)
        async with serving(SERVED) as files:
            csms = CsmsV2()
            async with connect(core, station, csms, v2) as connection:
                await ready(station, csms)
                request = update2(
                    csms.m,
                    files.url(name),
                    signing_certificate=maker.signer.certificate_pem,
                    signature=signature,
                )
                assert text((await connection.call(request)).status) == "Accepted"
                await csms.wait(
                    "SecurityEventNotification",
                    where=lambda r: r.type == "InvalidFirmwareSignature",
                )
                assert fw_statuses(csms) == [
                    ("Downloading", 7),
                    ("Downloaded", 7),
                    ("InvalidSignature", 7),
                ]
                assert station.hardware.installed == []  # type: ignore[attr-defined]
                assert not connection.closed

    run2(main())


@pytest.mark.parametrize("which", ["other root", "expired", "not code signing", "no signature"])
def test_v2_tc_l_05_cs_invalid_certificate(
    core: Any, v2: str, pki: tuple[Manufacturer, Manufacturer], which: str
) -> None:
    """TC_L_05_CS (L01.FR.02/23/24): a signing certificate of another root, an expired one, a
    TLS certificate of the right root, or a certificate without a signature: InvalidCertificate
    at once, the InvalidFirmwareSigningCertificate event, nothing downloaded."""
    maker, other = pki
    certificate, signature = {
        "other root": (other.signer.certificate_pem, other.signer.sign(IMAGE)),
        "expired": (maker.expired.certificate_pem, maker.expired.sign(IMAGE)),
        "not code signing": (maker.server_pem, maker.signer.sign(IMAGE)),
        "no signature": (maker.signer.certificate_pem, None),
    }[which]

    async def main() -> None:
        station = station2(v2, maker)
        async with serving(SERVED) as files:
            csms = CsmsV2()
            async with connect(core, station, csms, v2) as connection:
                await ready(station, csms)
                options: dict[str, Any] = {"signing_certificate": certificate}
                if signature is not None:
                    options["signature"] = signature
                request = update2(csms.m, files.url("good.bin"), **options)
                assert text((await connection.call(request)).status) == "InvalidCertificate"
                await csms.wait(
                    "SecurityEventNotification",
                    where=lambda r: r.type == "InvalidFirmwareSigningCertificate",
                )
                assert files.hits == {}
                assert csms.of("FirmwareStatusNotification") == []

    run2(main())


def test_v2_tc_l_18_cs_unsigned_update_rejected(
    core: Any, v2: str, pki: tuple[Manufacturer, Manufacturer]
) -> None:
    """TC_L_18_CS: a station that verifies signed firmware (it has a manufacturer root)
    answers an UpdateFirmwareRequest without signingCertificate and signature Rejected."""
    maker, _ = pki

    async def main() -> None:
        station = station2(v2, maker)
        async with serving(SERVED) as files:
            csms = CsmsV2()
            async with connect(core, station, csms, v2) as connection:
                await ready(station, csms)
                request = update2(csms.m, files.url("good.bin"))
                assert text((await connection.call(request)).status) == "Rejected"
                assert files.hits == {}

    run2(main())


# -- the CSMS: the API signs what its file server serves ------------------------------------------


@contextlib.asynccontextmanager
async def csms_serving(
    core: Any, root: Path, signer: FirmwareSigner | None
) -> AsyncIterator[ApiCsms]:
    """A CSMS as `ocppfast serve --firmware-signer-cert/-key` runs it: the stations' server,
    the API and its file server with `signer`."""
    state = CsmsState()
    server = Server(default_csms(state), host="127.0.0.1", port=0, core=core, call_timeout=5.0)
    await server.start()
    files = FileStore(root, firmware_signer=signer)
    api = ApiServer(state, server, token=TOKEN, port=0, files=files)
    await api.start()
    csms = ApiCsms(state, server, api)
    try:
        yield csms
    finally:
        await csms.http.close()
        await api.stop()
        await server.stop()


@contextlib.asynccontextmanager
async def real_station(
    csms: ApiCsms, core: Any, version: str, maker: Manufacturer
) -> AsyncIterator[Any]:
    """Station "CP-FW" of `version`, trusting `maker`'s root, booted at `csms` by its own
    Client on `core`; stopped at the end."""
    config = StationConfig("CP-FW", serial_number="SN-9", connectors=1)
    station: Any = Station16(config) if version == "ocpp1.6" else StationV2(config, version)
    station.manufacturer_roots = [maker.root]
    client = Client(csms.server.url, "CP-FW", station, versions=(version,), core=core)
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(station.booted.wait(), 10)
        yield station
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await station.shutdown()


async def operation_status(csms: ApiCsms, identity: str, operation: int, final: str) -> Any:
    """The operation once its status is `final` (polled through the API)."""
    shown: Any = None

    async def reached() -> bool:
        nonlocal shown
        status, shown = await csms.request(
            "GET", f"/api/stations/{identity}/operations/{operation}"
        )
        assert status == 200, shown
        return bool(shown["status"] == final)

    deadline = asyncio.get_running_loop().time() + 20
    while not await reached():
        assert asyncio.get_running_loop().time() < deadline, shown
        await asyncio.sleep(0.05)
    return shown


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
def test_api_signs_the_served_file_and_the_station_verifies_it(
    core: Any,
    version: str,
    pki: tuple[Manufacturer, Manufacturer],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SW L01.FR.09/11, end to end over real sockets: the operator asks for a signed update of
    a file of the file server (`sign: true`); the CSMS signs its exact bytes with its firmware
    signer and sends SignedUpdateFirmware (1.6) / UpdateFirmware (2.x) with the signing
    certificate; a real station checks the certificate, downloads from the file server,
    verifies the signature and installs (TC_L_01_CS: SignatureVerified then Installing). The
    signer's private key is in no log line and no API answer."""
    maker, _ = pki

    async def main() -> None:
        async with csms_serving(core, tmp_path / "files", maker.signer) as csms:
            async with csms.http.put("/api/files/fw-3.bin", data=IMAGE) as response:
                assert response.status == 201
            async with real_station(csms, core, version, maker) as station:
                status, body = await csms.request(
                    "POST",
                    "/api/stations/CP-FW/firmware-updates",
                    {"file": "fw-3.bin", "sign": True},
                )
                assert status == 201, body
                operation = body["operation"]
                assert operation["answer"] == "Accepted", operation
                expected = "SignedUpdateFirmware" if version == "ocpp1.6" else "UpdateFirmware"
                assert operation["action"] == expected
                shown = await operation_status(csms, "CP-FW", operation["id"], "InstallRebooting")
                steps = [s["status"] for s in shown["statuses"]]
                assert steps[:4] == ["Downloading", "Downloaded", "SignatureVerified", "Installing"]
                assert [f.content for f in station.hardware.installed] == [IMAGE]
                assert "PRIVATE KEY" not in str(body) + str(shown)

    with caplog.at_level(logging.DEBUG):
        run(main())
    assert "PRIVATE KEY" not in caplog.text
    assert "signed firmware file fw-3.bin" in caplog.text


def test_api_tampered_file_with_a_signature_made_elsewhere_is_invalid_signature(
    core: Any, pki: tuple[Manufacturer, Manufacturer], tmp_path: Path
) -> None:
    """SW L01.FR.03 end to end, the issue's attack: a signature and certificate made elsewhere
    (the manufacturer's) sent with a file of the file server that has one byte flipped: the
    station reports InvalidSignature, which the operation shows, with the
    InvalidFirmwareSignature security event stored; nothing installed."""
    maker, _ = pki

    async def main() -> None:
        async with csms_serving(core, tmp_path / "files", None) as csms:
            async with csms.http.put("/api/files/fw-4.bin", data=FLIPPED) as response:
                assert response.status == 201
            async with real_station(csms, core, "ocpp2.0.1", maker) as station:
                status, body = await csms.request(
                    "POST",
                    "/api/stations/CP-FW/firmware-updates",
                    {
                        "file": "fw-4.bin",
                        "signature": maker.signer.sign(IMAGE),
                        "signingCertificate": maker.signer.certificate_pem,
                    },
                )
                assert status == 201, body
                operation = body["operation"]
                shown = await operation_status(csms, "CP-FW", operation["id"], "InvalidSignature")
                assert [s["status"] for s in shown["statuses"]] == [
                    "Downloading",
                    "Downloaded",
                    "InvalidSignature",
                ]
                assert station.hardware.installed == []
                deadline = asyncio.get_running_loop().time() + 10
                while True:
                    _, events = await csms.request("GET", "/api/stations/CP-FW/security-events")
                    if any(e["type"] == "InvalidFirmwareSignature" for e in events["events"]):
                        break
                    assert asyncio.get_running_loop().time() < deadline, events
                    await asyncio.sleep(0.05)

    run(main())


def test_api_signed_update_errors_say_what_to_do(
    core: Any, pki: tuple[Manufacturer, Manufacturer], tmp_path: Path
) -> None:
    """Without a firmware signer `sign: true` asks for one (the serve options); `sign` needs a
    file of the file server, not a location; a signature without its certificate (SW
    L01.FR.11) or both `sign` and a signature are refused; an unknown file too. 422 each, with
    the field."""
    maker, _ = pki

    async def main() -> None:
        async with csms_serving(core, tmp_path / "files", None) as csms:
            async with csms.http.put("/api/files/fw.bin", data=IMAGE) as response:
                assert response.status == 201
            async with real_station(csms, core, "ocpp2.0.1", maker):
                path = "/api/stations/CP-FW/firmware-updates"
                cases: list[tuple[dict[str, Any], str, str]] = [
                    ({"file": "fw.bin", "sign": True}, "sign", "--firmware-signer-cert"),
                    ({"location": "http://x/fw.bin", "sign": True}, "file", "give file"),
                    ({"file": "fw.bin", "signature": "c2ln"}, "signingCertificate", "both"),
                    (
                        {"file": "fw.bin", "sign": True, "signature": "c2ln"},
                        "sign",
                        "not both",
                    ),
                ]
                for request, field, words in cases:
                    status, body = await csms.request("POST", path, request)
                    assert status == 422, body
                    assert error_of(body)["path"] == field, body
                    assert words in error_of(body)["description"], body
        async with (
            csms_serving(core, tmp_path / "files2", maker.signer) as csms,
            real_station(csms, core, "ocpp1.6", maker),
        ):
            status, body = await csms.request(
                "POST",
                "/api/stations/CP-FW/firmware-updates",
                {"file": "missing.bin", "sign": True},
            )
            assert status == 422 and error_of(body)["path"] == "file", body

    run(main())


def test_v16_manufacturer_root_installed_through_install_certificate(
    core: Any, pki: tuple[Manufacturer, Manufacturer]
) -> None:
    """The roots come from the station's certificate store too: InstallCertificate.req
    ManufacturerRootCertificate (SW M05), then a signed update of that manufacturer is
    Accepted and verified (SW L01.FR.12), one of another manufacturer InvalidCertificate."""
    maker, other = pki

    async def main() -> None:
        # The real time: the store checks that the root is valid now (M05.FR.06).
        station = Station16(StationConfig("CP1", connectors=2), hardware=SimulatedHardware())
        async with serving(SERVED) as files:
            link = Link(core, station, Csms())
            await link.booted()
            install = v16.InstallCertificateRequest(
                certificate_type=v16.CertificateUseEnum.ManufacturerRootCertificate,
                certificate=maker.root.public_bytes(serialization.Encoding.PEM).decode(),
            )
            assert (await link.call(install)).status.value == "Accepted"
            refused = signed16(files.url("good.bin"), other.signer, other.signer.sign(IMAGE))
            answer = await link.call(refused)
            assert answer.status == v16.UpdateFirmwareStatusEnum.InvalidCertificate
            request = signed16(files.url("good.bin"), maker.signer, maker.signer.sign(IMAGE), 6)
            assert (await link.call(request)).status == v16.UpdateFirmwareStatusEnum.Accepted
            await link.closed()  # verified, installed, rebooted
            assert signed_statuses(link.csms)[2] == ("SignatureVerified", 6)

    run(main())


def test_a_signed_update_survives_a_restart_with_its_signature() -> None:
    """A signed update in progress is kept in StationData with its certificate and signature:
    after a restart it is verified as before (`FirmwareUpdate.to_state` / `from_state`)."""
    from ocppfast.station.maintenance import FirmwareUpdate

    update = FirmwareUpdate(
        location="http://127.0.0.1/fw/good.bin",
        retrieve_at=NOW,
        request_id=5,
        signing_certificate="-----BEGIN CERTIFICATE-----\n...",
        signature="c2ln",
    )
    again = FirmwareUpdate.from_state(update.to_state("downloading", "Downloading"))
    assert again == update and again.signed
    unsigned = FirmwareUpdate.from_state(
        {"location": "http://x/fw.bin", "retrieve_at": "2026-11-21T09:30:00Z"}
    )
    assert unsigned is not None and not unsigned.signed
