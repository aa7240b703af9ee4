"""The security features (issue 10) against a peer nobody here wrote: the `ocpp` package
(mobilityhouse), over real sockets on 127.0.0.1, in 1.6 (with the security extension), 2.0.1
and 2.1, both cores (the child processes get OCPPFAST_NO_EXTENSIONS=1 for the pure one).

- Its charge point against `ocppfast serve --pki` (security profile 3, mutual TLS with
  `client_context`): boot; SignCertificate with a CSR it makes with `cryptography` -> the CSMS's
  CA signs it -> CertificateSigned chaining to that CA (SW A02.FR.03/06, A02.FR.13, A03); the
  new certificate is then accepted for a profile-3 connection (A02.FR.08-10);
  SecurityEventNotification (SW A04) and (1.6) SignedFirmwareStatusNotification
  / (2.x) FirmwareStatusNotification answered; a CSR for another identity is refused by the CA
  and no certificate is sent (A00.FR.405).
- Its central system, over wss:// with mutual TLS, driving `ocppfast station --pki`: the root
  certificates (M03-M05: InstallCertificate, GetInstalledCertificateIds, DeleteCertificate,
  never the CSMS root in use), the certificate renewal it triggers (A02; it signs the CSR with
  `CertificateStore.sign_csr`; one of another CA is Rejected), the renewed certificate presented
  at the next connection, signed firmware (L01: a manufacturer root installed first; a signer of
  another root -> InvalidCertificate; unsigned refused; one byte flipped -> InvalidSignature and
  the InvalidFirmwareSignature event; the good file -> SignatureVerified ... Installed).
- Its central system rotating the station's password (A01: 1.6 ChangeConfiguration
  AuthorizationKey, 2.x SetVariables SecurityCtrlr.BasicAuthPassword) and checking the HTTP
  Basic credentials of the station's next connection. The station answers, then waits for the
  answers to its own CALLs in flight (a StatusNotification) before it closes to reconnect: the
  `ocpp` package's reader stops at a failed send, and would miss the Accepted otherwise.

Both sides validate every message against the official schemas (the `ocpp` package with its
own jsonschema validation): a message of ours that broke its schema fails here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import stat
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp.routing import on
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from ocppfast._core import Backend
from ocppfast.security.firmware import FirmwareSigner
from ocppfast.security.hashdata import matches
from ocppfast.security.pki import CertificateStore
from ocppfast.security.tls import client_context, server_context
from tests.aio import run, until
from tests.cli_process import CliProcess
from tests.test_interop_ocpp import (
    API_TOKEN,
    PACKAGES,
    CentralSystem,
    api_get,
    make_central_system,
    now,
    station_args,
)
from tests.test_signed_firmware import FLIPPED, IMAGE, serving

VERSIONS = ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]
ORG = "Interop CPO"
READY = r"ready: point stations at (wss://\S+)/<identity>"


def make_pki(directory: Path, *stations: str) -> CertificateStore:
    """The operator's CA (`ocppfast certs init/server/station` through the library): a server
    certificate for 127.0.0.1 and localhost, and a certificate for each of `stations`."""
    store = CertificateStore(directory)
    store.create_ca(ORG)
    store.issue_server(["localhost", "127.0.0.1"])
    for identity in stations:
        store.issue_station(identity)
    return store


def station_files(store: CertificateStore, identity: str) -> tuple[Path, Path]:
    (record,) = [r for r in store.find("station", identity) if r.key_file]
    assert record.key_file is not None
    return store.path(record.cert_file), store.path(record.key_file)


def make_csr(identity: str, org: str = ORG) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """A PKCS#10 CSR as a charge point makes it (SW A02.FR.03, A00.FR.404/405): P-256, SHA-256,
    CN = its identity, O = the operator."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, identity),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii"), key


def leaf_of(chain_pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificates(chain_pem.encode("ascii"))[0]


def common_name(certificate: x509.Certificate) -> str:
    return str(certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def clean(process: CliProcess) -> None:
    """Nothing went wrong in `process`, and no private key nor password shows in its log
    (SW A00.FR.205, A02.FR.05, 7.2)."""
    assert process.count(r"Traceback|InternalError") == 0, process.log
    assert process.count(r"PRIVATE KEY") == 0, process.log


# --------------------------------------------------------------------------------------------
# 1. The ocpp package's charge point against `ocppfast serve --pki`


def certificate_charge_point(version: str, signed: asyncio.Queue[dict[str, Any]]) -> type:
    """The `ocpp` package's ChargePoint for `version`, putting each CertificateSigned it gets
    into `signed` and answering it Accepted."""
    package = PACKAGES[version]
    result = package.call_result

    class CertificateChargePoint(package.ChargePoint):  # type: ignore[misc,name-defined]
        @on("CertificateSigned")
        def certificate_signed(self, **payload: Any) -> Any:
            signed.put_nowait(payload)
            return result.CertificateSigned(status="Accepted")

    return CertificateChargePoint


async def boot(cp: Any, version: str) -> Any:
    call = PACKAGES[version].call
    if version == "ocpp1.6":
        request = call.BootNotification(charge_point_model="Wallbox", charge_point_vendor="Interop")
    else:
        request = call.BootNotification(
            charging_station={"model": "Wallbox", "vendor_name": "Interop"}, reason="PowerUp"
        )
    answer = await cp.call(request)
    assert answer.status == "Accepted"
    return answer


@contextlib.asynccontextmanager
async def charge_point(
    url: str, identity: str, version: str, context: ssl.SSLContext
) -> AsyncIterator[tuple[Any, asyncio.Queue[dict[str, Any]]]]:
    """The `ocpp` package's charge point `identity`, connected with the TLS `context` (its
    client certificate: security profile 3) and reading its messages."""
    signed: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    async with connect(f"{url}/{identity}", subprotocols=[version], ssl=context) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == version
        cp = certificate_charge_point(version, signed)(identity, ws)
        reader = asyncio.create_task(cp.start())
        try:
            yield cp, signed
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


async def charge_point_certificates(
    serve: CliProcess, url: str, store: CertificateStore, identity: str, version: str, tmp: Path
) -> int:
    """The charge point's side of the test (see the test's docstring); the serial of the
    certificate the CSMS signed."""
    package = PACKAGES[version]
    call = package.call
    cert, key = station_files(store, identity)
    context = client_context(store.ca_cert_path, cert=cert, key=key)
    async with charge_point(url, identity, version, context) as (cp, signed):
        await boot(cp, version)
        # SW A02.FR.03 (2.x A02, TC_A_11 from the CSMS's side): the CSR goes to the CSMS, which
        # has it signed by its CA and sends the certificate.
        csr, new_key = make_csr(identity)
        if version == "ocpp1.6":
            request = call.SignCertificate(csr=csr)
        else:
            request = call.SignCertificate(csr=csr, certificate_type="ChargingStationCertificate")
        assert (await cp.call(request)).status == "Accepted"  # A02.FR.11
        payload = await asyncio.wait_for(signed.get(), 30)
        if version != "ocpp1.6":
            assert payload["certificate_type"] == "ChargingStationCertificate"
        new = leaf_of(payload["certificate_chain"])
        new.verify_directly_issued_by(store.ca_certificate)  # chains to the CSMS's CA
        assert common_name(new) == identity  # A00.FR.405
        assert new.public_key() == new_key.public_key()  # the key never left (A02.FR.05)
        moment = datetime.now(timezone.utc)
        assert new.not_valid_before_utc <= moment < new.not_valid_after_utc  # valid now
        # SW A04: a security event; L01.FR.10 (1.6) / L01 (2.x): the firmware status.
        if version == "ocpp1.6":
            event = call.SecurityEventNotification(
                type="SettingSystemTime", timestamp=now(), tech_info="interop"
            )
            await cp.call(event)
            status = call.SignedFirmwareStatusNotification(status="Downloading", request_id=7)
            await cp.call(status)
            await cp.call(call.SignedFirmwareStatusNotification(status="SignatureVerified",
                                                                request_id=7))  # fmt: skip
        else:
            event = call.SecurityEventNotification(
                type="SettingSystemTime", timestamp=now(), tech_info="interop"
            )
            await cp.call(event)
            await cp.call(call.FirmwareStatusNotification(status="Downloading", request_id=7))
            await cp.call(call.FirmwareStatusNotification(status="SignatureVerified",
                                                          request_id=7))  # fmt: skip
        # The attack: a CSR for another identity. SignCertificate is answered (the CA works
        # after the answer, A02.FR.11), the CA refuses it (A00.FR.405) and no certificate comes.
        mark = len(serve.lines)
        other_csr, _ = make_csr("CP-someone-else")
        if version == "ocpp1.6":
            request = call.SignCertificate(csr=other_csr)
        else:
            request = call.SignCertificate(
                csr=other_csr, certificate_type="ChargingStationCertificate"
            )
        await cp.call(request)
        await asyncio.to_thread(
            serve.wait_for,
            rf"{identity}: certificate signing request .*refused.*CP-someone-else",
            15,
            mark,
        )
        assert signed.empty()
    # A02.FR.08-10: the new certificate works for the next profile-3 connection.
    new_cert, new_key_file = tmp / "new.pem", tmp / "new.key"
    new_cert.write_text(payload["certificate_chain"])
    new_key_file.write_bytes(private_pem(new_key))
    renewed = client_context(store.ca_cert_path, cert=new_cert, key=new_key_file)
    async with charge_point(url, identity, version, renewed) as (cp, _):
        await boot(cp, version)
        assert (await cp.call(call.Heartbeat())).current_time
    return int(new.serial_number)


@pytest.mark.parametrize("version", VERSIONS)
def test_ocpp_charge_point_gets_its_csr_signed_by_ocppfast_serve(
    core: Backend, version: str, tmp_path: Path
) -> None:
    """The `ocpp` package's charge point against `ocppfast serve --pki DIR` (the CA's key in
    DIR: certificate signing on), security profile 3 (SW A00.FR.401-405; TC_A_07_CSMS):
    it boots; its SignCertificate (SW A02/A03 initiated by the station, A02.FR.03, A02.FR.11)
    is Accepted and answered with CertificateSigned whose certificate chains to the CA, CN = its
    identity, its own public key (A02.FR.06, A02.FR.13, A00.FR.405); it connects again with that
    certificate (A02.FR.08-10); SecurityEventNotification (SW A04.FR.01),
    SignedFirmwareStatusNotification (1.6, L01.FR.10) / FirmwareStatusNotification (2.x) are
    answered as their schemas say; a CSR for another identity gets no certificate
    (A00.FR.405, the issue's "a CSR for another identity"). The API then shows the request Sent
    and Accepted, and the security event."""
    identity = "CP-interop-" + version.removeprefix("ocpp").replace(".", "")
    store = make_pki(tmp_path / "pki", identity)
    process = CliProcess(
        core, "serve", "--port", "0", "--api-port", "0", "--database", "memory",
        "--pki", str(store.directory), "--api-token", API_TOKEN, cwd=str(tmp_path),
    )  # fmt: skip
    with process:
        url = process.wait_for(READY).group(1)
        api = process.wait_for(r"operator API on (http://\S+)/api ").group(1)
        process.wait_for("certificate signing on")
        serial = run(
            charge_point_certificates(process, url, store, identity, version, tmp_path), 90
        )
        requests = api_get(api, f"/api/stations/{identity}/certificate-requests")["requests"]
        statuses = [(r["status"], r.get("stationAnswer")) for r in requests]
        assert ("Sent", "Accepted") in statuses, requests
        sent = next(r for r in requests if r["status"] == "Sent")
        assert int(sent["serial"], 16) == serial
        assert any(r["status"] == "Refused by CA" for r in requests), requests
        events = api_get(api, f"/api/stations/{identity}/security-events")["events"]
        assert [e["type"] for e in events] == ["SettingSystemTime"]
        assert process.stop() == 0
    clean(process)
    # The CA recorded the certificate it signed, without a key (A02.FR.05).
    signed = [r for r in store.find("station", identity) if int(r.serial, 16) == serial]
    assert len(signed) == 1 and signed[0].key_file is None


# --------------------------------------------------------------------------------------------
# 2. The ocpp package's central system driving `ocppfast station --pki`, over mutual TLS


class TlsCentralSystem(CentralSystem):
    """The interop central system over wss:// with mutual TLS (security profile 3), answering
    (and recording) the station's security messages, and recording the serial of the client
    certificate of each connection."""

    def __init__(self, version: str, context: ssl.SSLContext) -> None:
        super().__init__(version)
        self.context = context
        self.client_serials: list[int] = []

    async def __aenter__(self) -> TlsCentralSystem:
        self.server = await serve(
            self._serve,
            "127.0.0.1",
            0,
            subprotocols=[self.version],  # type: ignore[list-item]
            ssl=self.context,
        )
        return self

    @property
    def url(self) -> str:
        port = self.server.sockets[0].getsockname()[1]
        return f"wss://127.0.0.1:{port}"

    async def _serve(self, ws: ServerConnection) -> None:
        identity = ws.request.path.rsplit("/", 1)[-1] if ws.request else "?"
        der = ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
        self.client_serials.append(x509.load_der_x509_certificate(der).serial_number)
        self.connections += 1
        self.charge_point = security_central_system(self, self.version)(identity, ws)
        self.connected.set()
        with contextlib.suppress(Exception):  # the station went away (its reboot)
            await self.charge_point.start()


def security_central_system(cs: CentralSystem, version: str) -> type:
    """`make_central_system`'s recorder, also answering SignCertificate (Accepted), the security
    events and the firmware statuses."""
    result = PACKAGES[version].call_result
    recorder: Any = make_central_system(cs, version)

    class Security(recorder):  # type: ignore[misc]
        @on("SignCertificate")
        def sign_certificate(self, **payload: Any) -> Any:
            cs.record("SignCertificate", payload)
            return result.SignCertificate(status="Accepted")

        @on("SecurityEventNotification")
        def security_event(self, **payload: Any) -> Any:
            cs.record("SecurityEventNotification", payload)
            return result.SecurityEventNotification()

        @on("FirmwareStatusNotification")
        def firmware_status(self, **payload: Any) -> Any:
            cs.record("FirmwareStatusNotification", payload)
            return result.FirmwareStatusNotification()

        if version == "ocpp1.6":

            @on("SignedFirmwareStatusNotification")
            def signed_firmware_status(self, **payload: Any) -> Any:
                cs.record("SignedFirmwareStatusNotification", payload)
                return result.SignedFirmwareStatusNotification()

    return Security


def hash_data_list(version: str, answer: Any) -> list[dict[str, Any]]:
    """The certificateHashData of a GetInstalledCertificateIds answer, as the package gives it."""
    if version == "ocpp1.6":
        return list(answer.certificate_hash_data or [])
    return [item["certificate_hash_data"] for item in answer.certificate_hash_data_chain or []]


async def root_certificates(
    cs: TlsCentralSystem, store: CertificateStore, other: CertificateStore
) -> None:
    """M03-M05 driven by the `ocpp` package: the CSMS root the station was given (--pki) is
    listed; another root is installed, listed, deleted by its hash data; the root in use is
    not deleted."""
    version = cs.version
    call = PACKAGES[version].call
    cp = cs.charge_point
    csms_root = "CentralSystemRootCertificate" if version == "ocpp1.6" else "CSMSRootCertificate"

    async def listed() -> list[dict[str, Any]]:
        types: Any = csms_root if version == "ocpp1.6" else [csms_root]
        answer = await cp.call(call.GetInstalledCertificateIds(certificate_type=types))
        assert answer.status == "Accepted"
        return hash_data_list(version, answer)

    ours, theirs = store.ca_certificate, other.ca_certificate
    [installed] = await listed()  # SW M03.FR.02, TC_M_12_CS
    assert matches(installed, ours), installed
    pem = other.ca_cert_path.read_text()
    # SW M05.FR.02/03, TC_M_01_CS.
    answer = await cp.call(call.InstallCertificate(certificate_type=csms_root, certificate=pem))
    assert answer.status == "Accepted"
    first, second = await listed()
    assert matches(first, ours) and matches(second, theirs)
    # SW M04.FR.02, TC_M_20_CS: deleted by the hash data the list gave.
    deleted = await cp.call(call.DeleteCertificate(certificate_hash_data=second))
    assert deleted.status == "Accepted"
    [left] = await listed()
    assert matches(left, ours)
    # The only CSMS root, which the TLS connection depends on, is not deleted (SW M04.FR.06).
    refused = await cp.call(call.DeleteCertificate(certificate_hash_data=left))
    assert refused.status == "Failed"
    gone = await cp.call(call.DeleteCertificate(certificate_hash_data=second))
    assert gone.status == "NotFound"  # SW M04.FR.04, TC_M_22_CS


async def renew_certificate(
    cs: TlsCentralSystem, store: CertificateStore, other: CertificateStore, identity: str
) -> int:
    """A02 triggered by the `ocpp` package's central system (TC_A_11_CS): the station answers
    the trigger, sends SignCertificate with a CSR for its identity and a new key; a certificate
    for that key from another CA is Rejected (A02.FR.07, TC_A_14_CS); the one the test's CA
    signs is Accepted. The serial of the new certificate."""
    version = cs.version
    call = PACKAGES[version].call
    cp = cs.charge_point
    mark = len(cs.received)
    if version == "ocpp1.6":
        trigger = call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate")
    else:
        trigger = call.TriggerMessage(requested_message="SignChargingStationCertificate")
    assert (await cp.call(trigger)).status == "Accepted"  # A02.FR.02
    request = await cs.wait_for("SignCertificate", start=mark)
    if version != "ocpp1.6":
        assert request.get("certificate_type", "ChargingStationCertificate") == (
            "ChargingStationCertificate"
        )
    csr = x509.load_pem_x509_csr(request["csr"].encode("ascii"))
    assert csr.is_signature_valid
    (current,) = [r for r in store.find("station", identity) if r.key_file]
    old = x509.load_pem_x509_certificate(store.path(current.cert_file).read_bytes())
    assert csr.public_key() != old.public_key()  # a new key pair (A02.FR.02)

    def certificate_signed(chain: str) -> Any:
        if version == "ocpp1.6":
            return call.CertificateSigned(certificate_chain=chain)
        return call.CertificateSigned(
            certificate_chain=chain, certificate_type="ChargingStationCertificate"
        )

    # TC_A_14_CS: the right key and CN, but not of a CSMS root the station holds: Rejected, with
    # the security event (2.x InvalidChargingStationCertificate is critical: pushed), and the
    # pending key is kept for the right answer.
    mark = len(cs.received)
    foreign = other.sign_csr(request["csr"], identity)
    answer = await cp.call(certificate_signed(other.path(foreign.cert_file).read_text()))
    assert answer.status == "Rejected"  # A02.FR.07
    if version != "ocpp1.6":
        await cs.wait_for(
            "SecurityEventNotification", start=mark, type="InvalidChargingStationCertificate"
        )
    record = store.sign_csr(request["csr"], identity)  # checks CN, O, key (A00.FR.404/405)
    answer = await cp.call(certificate_signed(store.path(record.cert_file).read_text()))
    assert answer.status == "Accepted"  # A02.FR.06/08
    return int(record.serial, 16)


async def signed_firmware(
    cs: TlsCentralSystem, maker: CertificateStore, signer: FirmwareSigner, rogue: FirmwareSigner
) -> None:
    """L01 driven by the `ocpp` package: the manufacturer root installed (M05); a signer of
    another root -> InvalidCertificate (L01.FR.02/12/24, TC_L_05_CS); an unsigned update
    refused (1.6 CALLERROR NotSupported, L01.FR.20; 2.x Rejected, TC_L_18_CS); the file with
    one byte flipped -> InvalidSignature and InvalidFirmwareSignature (L01.FR.03, TC_L_06_CS);
    the good one -> SignatureVerified, the reboot, Installed (L01.FR.04/05, TC_L_01_CS)."""
    version = cs.version
    call = PACKAGES[version].call
    cp = cs.charge_point
    install = call.InstallCertificate(
        certificate_type="ManufacturerRootCertificate", certificate=maker.ca_cert_path.read_text()
    )
    assert (await cp.call(install)).status == "Accepted"
    action = "SignedFirmwareStatusNotification" if version == "ocpp1.6" else (
        "FirmwareStatusNotification"
    )  # fmt: skip

    def update(location: str, request_id: int, by: FirmwareSigner = signer) -> Any:
        firmware = {
            "location": location,
            "retrieve_date_time": now(),
            "signing_certificate": by.certificate_pem,
            "signature": by.sign(IMAGE),
        }
        if version == "ocpp1.6":
            return call.SignedUpdateFirmware(request_id=request_id, firmware=firmware)
        return call.UpdateFirmware(request_id=request_id, firmware=firmware)

    def statuses(start: int) -> list[tuple[str, Any]]:
        return [
            (payload["status"], payload.get("request_id"))
            for name, payload in cs.received[start:]
            if name == action
        ]

    async with serving({"good.bin": IMAGE, "tampered.bin": FLIPPED}) as files:
        mark = len(cs.received)
        answer = await cp.call(update(files.url("good.bin"), 50, rogue))
        assert answer.status == "InvalidCertificate"
        await cs.wait_for(
            "SecurityEventNotification", start=mark, type="InvalidFirmwareSigningCertificate"
        )
        if version == "ocpp1.6":
            unsigned = call.UpdateFirmware(location=files.url("good.bin"), retrieve_date=now())
            assert await cp.call(unsigned) is None  # a CALLERROR (suppressed by the package)
        else:
            firmware = {"location": files.url("good.bin"), "retrieve_date_time": now()}
            unsigned = call.UpdateFirmware(request_id=49, firmware=firmware)
            assert (await cp.call(unsigned)).status == "Rejected"
        assert files.hits == {}  # nothing downloaded
        mark = len(cs.received)
        answer = await cp.call(update(files.url("tampered.bin"), 51))
        assert answer.status == "Accepted"
        await cs.wait_for(action, start=mark, status="InvalidSignature", timeout=30)
        await cs.wait_for("SecurityEventNotification", start=mark, type="InvalidFirmwareSignature")
        assert statuses(mark) == [("Downloading", 51), ("Downloaded", 51), ("InvalidSignature", 51)]

        mark = len(cs.received)
        answer = await cp.call(update(files.url("good.bin"), 52))
        assert answer.status == "Accepted"
        await cs.wait_for(action, start=mark, status="Installed", timeout=45)
        await cs.wait_for("SecurityEventNotification", start=mark, type="FirmwareUpdated")
        expected = ["Downloading", "Downloaded", "SignatureVerified", "Installing",
                    "InstallRebooting", "Installed"]  # fmt: skip
        assert statuses(mark) == [(status, 52) for status in expected]
        boots = [payload for name, payload in cs.received[mark:] if name == "BootNotification"]
        assert len(boots) == 1
        assert files.hits == {"tampered.bin": 1, "good.bin": 1}


@pytest.mark.parametrize("version", VERSIONS)
def test_ocpp_central_system_manages_certificates_and_signed_firmware_of_ocppfast_station(
    core: Backend, version: str, tmp_path: Path
) -> None:
    """The `ocpp` package's central system over wss:// with mutual TLS (profile 3) drives
    `ocppfast station --pki DIR --firmware-install-command SCRIPT`:

    - M03-M05 (SW M03.FR.02, M04.FR.02/04/06, M05.FR.02/03; TC_M_01_CS, TC_M_12_CS,
      TC_M_20_CS, TC_M_22_CS): InstallCertificate, GetInstalledCertificateIds with the hash
      data, DeleteCertificate by that hash data, NotFound once gone; the only CSMS root (the
      one the TLS connection depends on) is not deleted: Failed.
    - A02 (TC_A_11_CS, TC_A_14_CS; SW A02.FR.02/03/06/07/08): the trigger, SignCertificate with
      a CSR for a new key; a certificate of another CA for it is Rejected (2.x with the
      InvalidChargingStationCertificate event); the one the test's CA signs is Accepted; the
      station's next connection presents it (A02.FR.08).
    - L01 (SW L01.FR.02-05/10/12/20/24; TC_L_05_CS, TC_L_18_CS, TC_L_06_CS, TC_L_01_CS): a
      manufacturer root installed; a signer of another root is InvalidCertificate with the
      InvalidFirmwareSigningCertificate event; an unsigned update is refused (1.6 CALLERROR,
      2.x Rejected); a signed file with one byte flipped is InvalidSignature with the
      InvalidFirmwareSignature event and not installed; the good file is SignatureVerified,
      installed (the very bytes served), the station reboots and reports Installed.
    """
    identity = "CP-sec-" + version.removeprefix("ocpp").replace(".", "")
    store = make_pki(tmp_path / "pki", identity)
    other = CertificateStore(tmp_path / "other")
    other.create_ca("Other CPO")
    maker = CertificateStore(tmp_path / "maker")
    maker.create_ca("Interop Maker")
    record = maker.issue_firmware_signer("wallbox")
    assert record.key_file is not None
    signer = FirmwareSigner.load(maker.path(record.cert_file), maker.path(record.key_file))
    rogue_record = other.issue_firmware_signer("rogue")
    assert rogue_record.key_file is not None
    rogue = FirmwareSigner.load(
        other.path(rogue_record.cert_file), other.path(rogue_record.key_file)
    )
    (server,) = store.find("server", "localhost")
    assert server.key_file is not None
    context = server_context(
        store.path(server.cert_file), store.path(server.key_file), client_ca=store.ca_cert_path
    )
    installed = tmp_path / "installed.bin"
    script = tmp_path / "install.sh"
    script.write_text(f'#!/bin/sh\ncp "$1" {installed}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    processes: list[CliProcess] = []

    async def main() -> None:
        async with TlsCentralSystem(version, context) as cs:
            args = station_args(cs, identity, version, "--pki", str(store.directory),
                                "--firmware-install-command", str(script))  # fmt: skip
            processes.append(CliProcess(core, *args, cwd=str(tmp_path)))
            await cs.wait_for("BootNotification", timeout=20)
            if version == "ocpp1.6":
                await cs.wait_for("StatusNotification", connector_id=1, status="Available")
            else:
                await cs.wait_for("StatusNotification", connector_status="Available")
            issued = x509.load_pem_x509_certificate(station_files(store, identity)[0].read_bytes())
            first_serial = issued.serial_number
            assert cs.client_serials == [first_serial]
            await root_certificates(cs, store, other)
            new_serial = await renew_certificate(cs, store, other, identity)
            await asyncio.to_thread(
                processes[0].wait_for, rf"{identity}: installed its new certificate", 15
            )
            await signed_firmware(cs, maker, signer, rogue)
            # A02.FR.08: the connection after the reboot presented the renewed certificate.
            assert cs.client_serials == [first_serial, new_serial]
            assert await asyncio.to_thread(processes[0].stop) == 0, processes[0].log

    try:
        run(main(), 150)
    except BaseException:
        for process in processes:
            process.__exit__()
            print(process.log)
        raise
    assert installed.read_bytes() == IMAGE
    clean(processes[0])


# --------------------------------------------------------------------------------------------
# 3. The ocpp package's central system rotating the station's password (A01)


class BasicAuthCentralSystem(CentralSystem):
    """The interop central system checking HTTP Basic auth (security profile 1): it accepts the
    passwords in `passwords` for the identity and records the one each accepted connection used;
    401 otherwise."""

    def __init__(self, version: str, identity: str, password: str) -> None:
        super().__init__(version)
        self.identity = identity
        self.passwords = {password}
        self.used: list[str] = []
        self.refused = 0

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        password = None
        if header.startswith("Basic "):
            with contextlib.suppress(ValueError):
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                if user != self.identity:
                    password = None
        if password is None or password not in self.passwords:
            self.refused += 1
            return connection.respond(HTTPStatus.UNAUTHORIZED, "wrong credentials\n")
        self.used.append(password)
        return None

    async def __aenter__(self) -> BasicAuthCentralSystem:
        self.server = await serve(self._serve, "127.0.0.1", 0, subprotocols=[self.version],  # type: ignore[list-item]
                                  process_request=self._check)  # fmt: skip
        return self

    async def come_back(self) -> None:
        self.server = await serve(self._serve, "127.0.0.1", self.port,
                                  subprotocols=[self.version],  # type: ignore[list-item]
                                  process_request=self._check)  # fmt: skip

    async def _serve(self, ws: ServerConnection) -> None:
        identity = ws.request.path.rsplit("/", 1)[-1] if ws.request else "?"
        self.connections += 1
        self.charge_point = security_central_system(self, self.version)(identity, ws)
        self.connected.set()
        with contextlib.suppress(Exception):  # the station went away
            await self.charge_point.start()


OLD_PASSWORD = "interop-old-password-0123"
NEW_PASSWORD = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"  # 40 hex digits (SW 7.2)


@pytest.mark.parametrize("version", VERSIONS)
def test_ocpp_central_system_rotates_the_password_of_ocppfast_station(
    core: Backend, version: str, tmp_path: Path
) -> None:
    """SW A01 / 2.x A01 (TC_A_09_CS) with the `ocpp` package's central system checking HTTP Basic
    auth: 1.6 ChangeConfiguration AuthorizationKey (A01.FR.02) / 2.x SetVariables
    SecurityCtrlr.BasicAuthPassword is Accepted; the 1.6 station reconnects by itself, the 2.x
    one at its next connection (the link is cut), with the new password; the central system
    then refuses the old one (A01.FR.03), and the station gets in. Neither password in the
    station's log (A01.FR.09, SW 7.2)."""
    identity = "CP-pw-" + version.removeprefix("ocpp").replace(".", "")
    processes: list[CliProcess] = []
    answers: list[str] = []  # 1.6: the ChangeConfiguration.conf, if it came

    async def main() -> None:
        async with BasicAuthCentralSystem(version, identity, OLD_PASSWORD) as cs:
            args = station_args(cs, identity, version, "--password", OLD_PASSWORD)
            processes.append(CliProcess(core, *args, cwd=str(tmp_path)))
            await cs.wait_for("BootNotification", timeout=20)
            assert cs.used == [OLD_PASSWORD]
            call = PACKAGES[version].call
            cp = cs.charge_point
            # The central system accepts both until the station connects with the new one.
            cs.passwords.add(NEW_PASSWORD)
            if version == "ocpp1.6":
                change = call.ChangeConfiguration(key="AuthorizationKey", value=NEW_PASSWORD)
            else:
                change = call.SetVariables(
                    set_variable_data=[
                        {
                            "attribute_value": NEW_PASSWORD,
                            "component": {"name": "SecurityCtrlr"},
                            "variable": {"name": "BasicAuthPassword"},
                        }
                    ]
                )
            # The station answers within milliseconds; 10 s tells a lost answer.
            with contextlib.suppress(asyncio.TimeoutError):
                answer = await asyncio.wait_for(cp.call(change), 10)
                if version == "ocpp1.6":
                    answers.append(answer.status)
                else:
                    answers.extend(r["attribute_status"] for r in answer.set_variable_result)
            # A01.FR.03: from now on only the new password.
            cs.passwords.discard(OLD_PASSWORD)
            if cs.connections == 1 and version != "ocpp1.6":
                # A 2.x station may keep its connection and use the new password from the next
                # one on: the link is cut. (The 1.6 station reconnects by itself, SW A01.)
                await cs.cut(0.5)
            await until(lambda: len(cs.used) >= 2, timeout=30)
            assert cs.used[0] == OLD_PASSWORD and set(cs.used[1:]) == {NEW_PASSWORD}, cs.used
            # The session goes on over the new connection.
            await asyncio.wait_for(cs.connected.wait(), 10)
            assert (await cs.charge_point.call(call.ClearCache())).status == "Accepted"
            assert await asyncio.to_thread(processes[0].stop) == 0, processes[0].log

    try:
        run(main(), 90)
    except BaseException:
        for process in processes:
            process.__exit__()
            print(process.log)
        raise
    station = processes[0]
    clean(station)
    assert station.count(OLD_PASSWORD) == 0 and station.count(NEW_PASSWORD) == 0, station.log
    assert answers == ["Accepted"]
