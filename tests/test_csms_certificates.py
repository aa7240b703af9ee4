"""The CSMS's certificate workflows (issue 10, part 3), over real WebSockets on 127.0.0.1, on
both core backends:

- SignCertificate -> CertificateSigned (SW A02/A03 of the 1.6 security whitepaper; 2.0.1/2.1
  A02/A03; OCA TC_A_14_CSMS): the CSMS answers Accepted when a certificate authority can take
  the request (A02.FR.11) and Rejected when none can (A02.FR.12), then has the CSR checked and
  signed and sends the chain; a CSR for another identity, with a weak key or malformed gets no
  certificate, a log line and a record in the API;
- the operator API's certificate routes per version (InstallCertificate M05 / TC_M_01/02/05,
  GetInstalledCertificateIds M03 / TC_M_13/18/19, DeleteCertificate M04 / TC_M_20/21, renew:
  1.6 ExtendedTriggerMessage, 2.x TriggerMessage), against a station that records what it got;
- the ISO 15118 providers (Get15118EVCertificate M01/M02, GetCertificateStatus M06), with a
  real OCSP exchange against a responder made here with `cryptography`.

The station is an `ocppfast.asyncio.Connection` with handlers of this file (not the station
role: its certificate handling is tested with it).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import typer
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from ocppfast import v16, v21, v201
from ocppfast._core import Backend
from ocppfast.api import ApiServer
from ocppfast.asyncio import Connection, Handlers, on
from ocppfast.asyncio.server import Server
from ocppfast.csms import CsmsState, default_csms
from ocppfast.csms.certificates import (
    CertificateRefused,
    CertificateServices,
    OcspRequest,
    OcspStatusProvider,
    ProviderError,
    StoreAuthority,
)
from ocppfast.security.hashdata import certificate_hash_data
from ocppfast.security.pki import CertificateStore
from tests.aio import free_port, run, until
from tests.test_api import TOKEN, Csms, error_of, station

ORG = "Example CPO"
MODULES: dict[str, Any] = {"ocpp1.6": v16, "ocpp2.0.1": v201, "ocpp2.1": v21}
VERSIONS = tuple(MODULES)
CSMS_LOG = "ocppfast.csms"


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ca(tmp_path: Path) -> CertificateStore:
    store = CertificateStore(tmp_path / "pki")
    store.create_ca(ORG)
    return store


def make_csr(identity: str, *, org: str | None = ORG, key: Any = None) -> str:
    """A PEM PKCS#10 request as a station makes it (A02.FR.02/03): CN its identity, O CpoName
    (A02.FR.13), its own new key (ECDSA P-256 unless given)."""
    key = key if key is not None else ec.generate_private_key(ec.SECP256R1())
    names = [x509.NameAttribute(NameOID.COMMON_NAME, identity)]
    if org is not None:
        names.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names))
    return csr.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


class Recorder(Handlers):
    """A station that answers the CSMS's certificate messages and keeps what it received.
    `signed_status` is its answer to CertificateSigned (Accepted, or Rejected as OCTT does in
    TC_A_14_CSMS); `listed` the certificates GetInstalledCertificateIds reports (none:
    NotFound, TC_M_19_CSMS); `install_status` / `delete_status` its other answers."""

    def __init__(self, signed_status: str = "Accepted") -> None:
        self.received: list[Any] = []
        self.signed: asyncio.Queue[Any] = asyncio.Queue()
        self.triggered = asyncio.Event()
        self.signed_status = signed_status
        self.install_status = "Accepted"
        self.delete_status = "Accepted"
        self.listed: list[dict[str, Any]] = []

    @property
    def _m(self) -> Any:
        return MODULES[self.connection.version]

    @on("CertificateSigned")
    def certificate_signed(self, request: Any) -> Any:
        self.received.append(request)
        self.signed.put_nowait(request)
        m = self._m
        enum = m.CertificateSignedStatusEnum
        return m.CertificateSignedResponse(status=enum(self.signed_status))

    @on("InstallCertificate")
    def install(self, request: Any) -> Any:
        self.received.append(request)
        m = self._m
        enum = m.InstallCertificateStatusEnum
        return m.InstallCertificateResponse(status=enum(self.install_status))

    @on("GetInstalledCertificateIds")
    def list_ids(self, request: Any) -> Any:
        self.received.append(request)
        m = self._m
        enum = m.GetInstalledCertificateStatusEnum
        if not self.listed:
            return m.GetInstalledCertificateIdsResponse(status=enum.NotFound)
        if m is v16:
            return v16.GetInstalledCertificateIdsResponse(
                status=enum.Accepted,
                certificate_hash_data=[
                    v16.CertificateHashData(
                        hash_algorithm=v16.HashAlgorithmEnum(item["hashAlgorithm"]),
                        issuer_name_hash=item["issuerNameHash"],
                        issuer_key_hash=item["issuerKeyHash"],
                        serial_number=item["serialNumber"],
                    )
                    for item in self.listed
                ],
            )
        return m.GetInstalledCertificateIdsResponse(
            status=enum.Accepted,
            certificate_hash_data_chain=[
                m.CertificateHashDataChain(
                    certificate_type=m.GetCertificateIdUseEnum.CSMSRootCertificate,
                    certificate_hash_data=m.CertificateHashData(
                        hash_algorithm=m.HashAlgorithmEnum(item["hashAlgorithm"]),
                        issuer_name_hash=item["issuerNameHash"],
                        issuer_key_hash=item["issuerKeyHash"],
                        serial_number=item["serialNumber"],
                    ),
                )
                for item in self.listed
            ],
        )

    @on("DeleteCertificate")
    def delete(self, request: Any) -> Any:
        self.received.append(request)
        m = self._m
        return m.DeleteCertificateResponse(status=m.DeleteCertificateStatusEnum(self.delete_status))

    @on("TriggerMessage", versions=("ocpp2.0.1", "ocpp2.1"))
    def trigger(self, request: Any) -> Any:
        self.received.append(request)
        self.triggered.set()
        return self._m.TriggerMessageResponse(status=self._m.TriggerMessageStatusEnum.Accepted)

    @on(v16.ExtendedTriggerMessageRequest)
    def extended_trigger(self, request: Any) -> Any:
        self.received.append(request)
        self.triggered.set()
        return v16.ExtendedTriggerMessageResponse(status=v16.TriggerMessageStatusEnum.Accepted)


@contextlib.asynccontextmanager
async def running(
    certificates: CertificateServices | None, core: Backend | None = None
) -> AsyncIterator[Csms]:
    """A CSMS (station server and operator API) with these certificate services."""
    state = CsmsState()
    server = Server(
        default_csms(state, certificates=certificates),
        host="127.0.0.1",
        port=0,
        admits=state.admits,
        credentials=state.credentials,
        core=core,
        call_timeout=5.0,
    )
    await server.start()
    api = ApiServer(state, server, token=TOKEN, port=0, certificates=certificates)
    await api.start()
    csms = Csms(state, server, api)
    try:
        yield csms
    finally:
        await csms.http.close()
        await api.stop()
        await server.stop()


def sign_request(
    version: str, csr: str, kind: str | None = None, request_id: int | None = None
) -> Any:
    m = MODULES[version]
    if m is v16:
        return v16.SignCertificateRequest(csr=csr)
    options: dict[str, Any] = {}
    if kind is not None:
        options["certificate_type"] = m.CertificateSigningUseEnum(kind)
    if request_id is not None:
        options["request_id"] = request_id
    return m.SignCertificateRequest(csr=csr, **options)


def verify_chain(ca: CertificateStore, chain_pem: str, identity: str) -> x509.Certificate:
    """The leaf of `chain_pem`, once it checks as the station's certificate: signed by the CA
    (no intermediates: SW 4), valid now, clientAuth, CN `identity` (A00.FR.405). (Not
    cryptography's web-PKI verifier: it requires a subjectAltName, which station certificates
    do not have, note of A00.FR.511.)"""
    from cryptography.x509.oid import ExtendedKeyUsageOID

    chain = x509.load_pem_x509_certificates(chain_pem.encode())
    assert len(chain) == 1  # the leaf alone: the station has the root
    leaf = chain[0]
    ca.verify(leaf)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku
    cn = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [c.value for c in cn] == [identity]
    return leaf


async def requests_of(csms: Csms, identity: str) -> list[dict[str, Any]]:
    status, body = await csms.request("GET", f"/api/stations/{identity}/certificate-requests")
    assert status == 200, body
    return list(body["requests"])


# -- SignCertificate -> CertificateSigned ------------------------------------------------------


def test_renew_sign_and_send_the_certificate_TC_A_14_CSMS(
    core: Backend, version: str, ca: CertificateStore, caplog: pytest.LogCaptureFixture
) -> None:
    """SW A02 (2.x A02, TC_A_14_CSMS): the operator renews the station's certificate through
    the API (1.6 ExtendedTriggerMessage SignChargePointCertificate, 2.x TriggerMessage
    SignChargingStationCertificate); the station sends SignCertificate with a real CSR; the CSMS
    answers Accepted (A02.FR.11), then sends CertificateSigned whose chain verifies against the
    CA and whose CN is the station's identity (2.x: certificateType ChargingStationCertificate;
    2.1: the requestId asked for). The first time the station answers Rejected, as OCTT does in
    TC_A_14_CSMS: logged, and shown by the API; the second time Accepted."""
    identity = "CP-" + version[4:].replace(".", "")
    m = MODULES[version]
    caplog.set_level(logging.INFO, CSMS_LOG)

    async def main() -> None:
        services = CertificateServices.from_store(ca)
        async with running(services, core) as csms:
            handlers = Recorder(signed_status="Rejected")
            async with station(csms, identity, version, core, handlers) as cs:
                status, body = await csms.request(
                    "POST", f"/api/stations/{identity}/certificates/renew", {}
                )
                assert status == 200 and body["result"]["status"] == "Accepted", body
                await asyncio.wait_for(handlers.triggered.wait(), 5)
                trigger = handlers.received[-1]
                if m is v16:
                    assert trigger.requested_message == "SignChargePointCertificate"
                else:
                    assert trigger.requested_message == "SignChargingStationCertificate"
                for attempt, answer in enumerate(("Rejected", "Accepted")):
                    handlers.signed_status = answer
                    request_id = 40 + attempt if m is v21 else None
                    response = await cs.call(
                        sign_request(version, make_csr(identity), request_id=request_id)
                    )
                    assert response.status == m.GenericStatusEnum.Accepted
                    signed = await asyncio.wait_for(handlers.signed.get(), 10)
                    leaf = verify_chain(ca, signed.certificate_chain, identity)
                    if m is not v16:
                        assert signed.certificate_type == "ChargingStationCertificate"
                    if m is v21:
                        assert signed.request_id == request_id
                    await until(lambda: services.records(identity)[0].station_answer is not None)
                    listed = await requests_of(csms, identity)
                    assert listed[0]["status"] == "Sent"
                    assert listed[0]["stationAnswer"] == answer
                    assert listed[0]["serial"] == format(leaf.serial_number, "X")
                    assert listed[0]["certificateType"] == "ChargingStationCertificate"
                assert len(await requests_of(csms, identity)) == 2

    run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == CSMS_LOG]
    assert any("CertificateSigned" in line and "answered Rejected" in line for line in lines)
    assert any("CertificateSigned" in line and "answered Accepted" in line for line in lines)
    # Signed from the CSR: the station's certificate file has no key here (A02.FR.05).
    issued = [r for r in ca.list() if r.name == identity]
    assert len(issued) == 2 and all(r.key_file is None for r in issued)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("another identity", "is not the station's identity"),
        ("rsa 1024", "2048"),
        ("garbage", "not a PEM-encoded PKCS#10"),
        ("another O", "is not the operator"),
    ],
)
def test_a_refused_csr_gets_no_certificate_and_a_logged_reason(
    core: Backend, ca: CertificateStore, caplog: pytest.LogCaptureFixture, case: str, reason: str
) -> None:
    """The issue's attack "a CSR for another identity" (SW A00.FR.405), a weak key (RSA 1024:
    A00.FR.501-503), a malformed CSR (A02.FR.03) and another operator's O (A02.FR.13,
    A00.FR.404): the CSMS can process the request, so it answers Accepted (A02.FR.11; "the
    Central System accepts the CSR request from the Charge Point, before forwarding it to the
    CA", A02 error handling), then the CA refuses: no CertificateSigned, a log line with the
    reason, the record in the API; nothing is issued, and the connection carries on."""
    identity = "CP-A"
    caplog.set_level(logging.INFO, CSMS_LOG)
    csr = {
        "another identity": make_csr("CP-B"),
        "rsa 1024": make_csr(identity, key=rsa.generate_private_key(65537, 1024)),
        "garbage": "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n",
        "another O": make_csr(identity, org="Other CPO"),
    }[case]

    async def main() -> None:
        services = CertificateServices.from_store(ca)
        async with running(services, core) as csms:
            handlers = Recorder()
            async with station(csms, identity, "ocpp2.0.1", core, handlers) as cs:
                response = await cs.call(v201.SignCertificateRequest(csr=csr))
                assert response.status == v201.GenericStatusEnum.Accepted
                await until(lambda: services.records(identity)[0].status == "Refused by CA")
                listed = await requests_of(csms, identity)
                assert listed[0]["status"] == "Refused by CA"
                assert reason in listed[0]["reason"]
                assert listed[0]["serial"] is None
                # The connection carries on, and the next request is taken.
                await cs.call(v201.HeartbeatRequest())
                again = await cs.call(v201.SignCertificateRequest(csr=make_csr(identity)))
                assert again.status == v201.GenericStatusEnum.Accepted
                signed = await asyncio.wait_for(handlers.signed.get(), 10)
                verify_chain(ca, signed.certificate_chain, identity)
                assert handlers.signed.empty()

    run(main())
    refused = [
        r for r in caplog.records if r.name == CSMS_LOG and "refused, no certificate" in r.message
    ]
    assert len(refused) == 1 and reason in refused[0].getMessage()
    assert refused[0].levelno == logging.WARNING
    assert len([r for r in ca.list() if r.kind == "station"]) == 1


def test_without_a_ca_key_sign_certificate_is_rejected_A02_FR_12(
    core: Backend, version: str, ca: CertificateStore, caplog: pytest.LogCaptureFixture
) -> None:
    """SW A02.FR.12 / A03.FR.12: when the CSMS cannot process the request it answers Rejected:
    the CA's key is not here (it may live elsewhere, A00.FR.602), no services at all, or a
    V2GCertificate without a V2G authority. 2.x says why in statusInfo; the log too; nothing
    is sent after."""
    ca.ca_key_path.unlink()
    identity = "CP-NOKEY"
    m = MODULES[version]
    caplog.set_level(logging.INFO, CSMS_LOG)

    async def main() -> None:
        services = CertificateServices.from_store(ca)
        assert services.authority is None and services.ca_pem is not None
        for certificates in (services, None):
            async with running(certificates, core) as csms:
                handlers = Recorder()
                async with station(csms, identity, version, core, handlers) as cs:
                    response = await cs.call(sign_request(version, make_csr(identity)))
                    assert response.status == m.GenericStatusEnum.Rejected
                    if m is not v16:
                        assert response.status_info.reason_code == "NotEnabled"
                    await cs.call(m.HeartbeatRequest())
                    assert handlers.signed.empty()
                    listed = await requests_of(csms, identity)
                    if certificates is None:
                        assert listed == []
                    else:
                        assert [r["status"] for r in listed] == ["Refused"]

    run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == CSMS_LOG]
    assert sum("answered Rejected" in line and "A02.FR.12" in line for line in lines) == 2


class ExternalCA:
    """An operator's own CA (SW A02.FR.04: a dedicated CA server), plugged in through the
    `CertificateAuthority` protocol: here it signs with a store of its own, records what it
    was given, and can be told to fail, to refuse or to answer garbage."""

    def __init__(self, store: CertificateStore) -> None:
        self.store = store
        self.calls: list[tuple[str, str, str]] = []
        self.mode = "sign"
        self.release = asyncio.Event()
        self.release.set()

    async def sign(self, identity: str, csr_pem: str, certificate_type: str) -> str:
        self.calls.append((identity, csr_pem, certificate_type))
        await self.release.wait()
        if self.mode == "refuse":
            raise CertificateRefused("the CA's policy refuses this station")
        if self.mode == "fail":
            raise ConnectionError("CA server unreachable")
        if self.mode == "garbage":
            return "not a certificate"
        record = self.store.sign_csr(csr_pem, identity)
        leaf = self.store.path(record.cert_file).read_text()
        # A sub-CA would follow the leaf; the root is not sent.
        return leaf


def test_an_external_ca_signs_v2g_and_station_certificates_and_its_failures_are_contained(
    core: Backend, ca: CertificateStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The pluggable `CertificateAuthority` (SW A02.FR.04): it gets the identity, the CSR as
    sent and the certificateType (2.x V2GCertificate goes to the V2G authority, A02 for the
    ISO 15118 side), and its chain is sent. A refusal, a failure (an exception: the CA is
    offline) or an unusable answer sends nothing, is logged and recorded, and the connection
    carries on. While one request of a station is at the CA, another is Rejected (A02.FR.12:
    not able to process it now)."""
    identity = "CP-EXT"
    caplog.set_level(logging.INFO, CSMS_LOG)

    async def main() -> None:
        external = ExternalCA(ca)
        services = CertificateServices(authority=external, v2g_authority=external)
        async with running(services, core) as csms:
            handlers = Recorder()
            async with station(csms, identity, "ocpp2.0.1", core, handlers) as cs:
                csr = make_csr(identity)
                response = await cs.call(sign_request("ocpp2.0.1", csr, "V2GCertificate"))
                assert response.status == v201.GenericStatusEnum.Accepted
                signed = await asyncio.wait_for(handlers.signed.get(), 10)
                assert signed.certificate_type == "V2GCertificate"
                verify_chain(ca, signed.certificate_chain, identity)
                assert external.calls == [(identity, csr, "V2GCertificate")]

                external.release.clear()
                first = await cs.call(sign_request("ocpp2.0.1", make_csr(identity)))
                assert first.status == v201.GenericStatusEnum.Accepted
                await until(lambda: len(external.calls) == 2)
                second = await cs.call(sign_request("ocpp2.0.1", make_csr(identity)))
                assert second.status == v201.GenericStatusEnum.Rejected
                assert "already" in second.status_info.additional_info
                external.release.set()
                await asyncio.wait_for(handlers.signed.get(), 10)

                for mode, status in (
                    ("refuse", "Refused by CA"),
                    ("fail", "Failed"),
                    ("garbage", "Failed"),
                ):
                    external.mode = mode
                    answer = await cs.call(sign_request("ocpp2.0.1", make_csr(identity)))
                    assert answer.status == v201.GenericStatusEnum.Accepted
                    await until(lambda: services.records(identity)[0].status != "Signing")
                    assert services.records(identity)[0].status == status
                    await cs.call(v201.HeartbeatRequest())
                assert handlers.signed.empty()
                listed = await requests_of(csms, identity)
                assert [r["status"] for r in listed] == [
                    "Failed",
                    "Failed",
                    "Refused by CA",
                    "Refused",
                    "Sent",
                    "Sent",
                ]
                assert "unreachable" in listed[1]["reason"]
                assert "not a PEM certificate" in listed[0]["reason"]

    run(main())
    messages = [r.getMessage() for r in caplog.records if r.name == CSMS_LOG]
    assert any("the CA's policy refuses this station" in line for line in messages)
    assert any("certificate authority failed" in line for line in messages)


def test_store_authority_refuses_v2g_certificates(ca: CertificateStore) -> None:
    """The CPO's station CA signs ChargingStationCertificate CSRs only: V2G certificates come
    from the ISO 15118 PKI."""
    authority = StoreAuthority(ca)
    with pytest.raises(CertificateRefused, match="V2G"):
        run(authority.sign("CP1", make_csr("CP1"), "V2GCertificate"))
    assert CertificateServices(authority=authority).authority_for("V2GCertificate") is None


# -- the operator API ----------------------------------------------------------------------------


def test_certificate_routes_send_each_versions_messages_TC_M_CSMS(
    core: Backend, version: str, ca: CertificateStore
) -> None:
    """M05 InstallCertificate (TC_M_01_CSMS CSMSRootCertificate with the CSMS's own CA,
    TC_M_02_CSMS ManufacturerRootCertificate from a PEM, TC_M_05_CSMS the station's Failed
    shown); M03 GetInstalledCertificateIds (TC_M_13_CSMS one type, TC_M_18_CSMS 2.x without
    type, TC_M_19_CSMS NotFound; 1.6 needs exactly one type); M04 DeleteCertificate with the
    hash data as listed (TC_M_20_CSMS Accepted for SHA256, SHA384 and SHA512, TC_M_21_CSMS
    Failed). Each message in the station's version's names (1.6 CentralSystemRootCertificate,
    2.x CSMSRootCertificate)."""
    identity = "CP-API"
    m = MODULES[version]
    root = ca.ca_certificate
    csms_root = "CentralSystemRootCertificate" if m is v16 else "CSMSRootCertificate"
    maker = CertificateStore(ca.directory.parent / "maker")
    maker.create_ca("Maker")
    maker_pem = maker.ca_cert_path.read_text()
    base = f"/api/stations/{identity}/certificates"

    async def main() -> None:
        services = CertificateServices.from_store(ca)
        async with running(services, core) as csms:
            handlers = Recorder()
            async with station(csms, identity, version, core, handlers):
                # Install: the CSMS's own root (either spelling), then a manufacturer's PEM.
                for spelled in ("CSMSRootCertificate", "CentralSystemRootCertificate"):
                    status, body = await csms.request(
                        "POST", base, {"type": spelled, "csmsCa": True}
                    )
                    assert status == 200 and body["result"]["status"] == "Accepted", body
                    sent = handlers.received[-1]
                    assert sent.certificate_type == csms_root
                    assert x509.load_pem_x509_certificate(sent.certificate.encode()) == root
                status, body = await csms.request(
                    "POST",
                    base,
                    {"type": "ManufacturerRootCertificate", "certificate": maker_pem},
                )
                assert status == 200, body
                assert handlers.received[-1].certificate == maker_pem
                handlers.install_status = "Failed"
                status, body = await csms.request("POST", base, {"type": csms_root, "csmsCa": True})
                assert body["result"]["status"] == handlers.install_status

                # List: NotFound, then the root's hash data; 2.x also without a type.
                manufacturer = "ManufacturerRootCertificate"
                status, body = await csms.request("GET", base + "?type=" + manufacturer)
                assert status == 200 and body["result"]["status"] == "NotFound", body
                asked = handlers.received[-1]
                if m is v16:
                    assert asked.certificate_type == manufacturer
                else:
                    assert asked.certificate_type == [manufacturer]
                    status, body = await csms.request(
                        "GET", f"{base}?type={manufacturer},CSMSRootCertificate"
                    )
                    assert handlers.received[-1].certificate_type == [manufacturer, csms_root]
                handlers.listed = [
                    certificate_hash_data(root, None, algorithm)
                    for algorithm in ("SHA256", "SHA384", "SHA512")
                ]
                if m is v16:
                    status, body = await csms.request("GET", base)
                    assert status == 400 and error_of(body)["path"] == "type"
                    status, body = await csms.request("GET", base + "?type=" + csms_root)
                    listed = body["result"]["certificateHashData"]
                else:
                    status, body = await csms.request("GET", base)
                    assert handlers.received[-1].certificate_type is msgspec.UNSET
                    listed = [
                        item["certificateHashData"]
                        for item in body["result"]["certificateHashDataChain"]
                    ]
                assert status == 200 and len(listed) == 3

                # Delete each as listed; the station's Failed is shown.
                for hash_data in listed:
                    status, body = await csms.request(
                        "POST", base + "/delete", {"hashData": hash_data}
                    )
                    assert status == 200 and body["result"]["status"] == "Accepted", body
                    deleted = handlers.received[-1].certificate_hash_data
                    assert deleted.serial_number == hash_data["serialNumber"]
                    assert deleted.hash_algorithm == hash_data["hashAlgorithm"]
                handlers.delete_status = "Failed"
                status, body = await csms.request("POST", base + "/delete", {"hashData": listed[0]})
                assert body["result"]["status"] == "Failed"

    run(main())


def test_certificate_routes_refuse_bad_input_without_sending(
    core: Backend, ca: CertificateStore
) -> None:
    """Malformed PEM, two certificates, a station's (non-CA) certificate, both or neither of
    certificate and csmsCa, csmsCa without a CA, a type the version does not have, malformed
    hash data, a V2G renewal for 1.6: 422 (400 for a query) with the field, and nothing sent."""
    station_pem = ca.path(ca.issue_station("CP9").cert_file).read_text()
    root_pem = ca.ca_cert_path.read_text()

    async def main() -> None:
        async with running(CertificateServices(), core) as csms:
            for version in ("ocpp1.6", "ocpp2.0.1"):
                identity = "CP-BAD-" + version[4]
                base = f"/api/stations/{identity}/certificates"
                handlers = Recorder()
                async with station(csms, identity, version, core, handlers):
                    for body, path in (
                        ({"type": "CSMSRootCertificate", "certificate": "garbage"}, "certificate"),
                        (
                            {
                                "type": "CSMSRootCertificate",
                                "certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                "-----END CERTIFICATE-----\n",
                            },
                            "certificate",
                        ),
                        (
                            {"type": "CSMSRootCertificate", "certificate": root_pem * 2},
                            "certificate",
                        ),
                        (
                            {"type": "CSMSRootCertificate", "certificate": station_pem},
                            "certificate",
                        ),
                        ({"type": "CSMSRootCertificate"}, "certificate"),
                        (
                            {
                                "type": "CSMSRootCertificate",
                                "certificate": root_pem,
                                "csmsCa": True,
                            },
                            "certificate",
                        ),
                        ({"type": "CSMSRootCertificate", "csmsCa": True}, "csmsCa"),
                        ({"type": "NoSuchRoot", "certificate": root_pem}, "type"),
                    ):
                        status, answer = await csms.request("POST", base, body)
                        assert status == 422, (body, answer)
                        assert error_of(answer)["path"] == path, answer
                    status, answer = await csms.request(
                        "POST", base + "/delete", {"hashData": {"serialNumber": "01"}}
                    )
                    assert status == 422 and error_of(answer)["path"].startswith("hashData")
                    status, answer = await csms.request("GET", base + "?type=NoSuchRoot")
                    assert status == 400 and error_of(answer)["path"] == "type", answer
                    if version == "ocpp1.6":
                        status, answer = await csms.request(
                            "POST", base + "/renew", {"type": "V2GCertificate"}
                        )
                        assert status == 422 and error_of(answer)["path"] == "type"
                    assert handlers.received == []
            status, answer = await csms.request("GET", "/api/stations/NOBODY/certificate-requests")
            assert status == 404

    run(main())


# -- ISO 15118 providers ---------------------------------------------------------------------------


class Contracts:
    """A contract certificate service (M01/M02) that answers with a fixed EXI response, or
    fails."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, str]] = []
        self.fail = False

    async def get_ev_certificate(
        self, identity: str, iso15118_schema_version: str, action: str, exi_request: str
    ) -> tuple[str, str]:
        self.calls.append((identity, iso15118_schema_version, action, exi_request))
        if self.fail:
            raise ProviderError("the contract certificate pool is down")
        return "Accepted", "RVhJLXJlc3BvbnNl"


@contextlib.asynccontextmanager
async def ocsp_responder(ca: CertificateStore, revoked_serial: int) -> AsyncIterator[str]:
    """An OCSP responder (RFC 6960 over HTTP POST) on 127.0.0.1, signing with the CA's key:
    `revoked_serial` is revoked, every other serial good. Yields its URL."""
    ca_cert = ca.ca_certificate
    ca_key = serialization.load_pem_private_key(ca.ca_key_path.read_bytes(), None)
    received: list[bytes] = []

    async def answer(request: web.Request) -> web.Response:
        assert request.content_type == "application/ocsp-request"
        der = await request.read()
        received.append(der)
        asked = ocsp.load_der_ocsp_request(der)
        now = datetime.datetime.now(datetime.timezone.utc)
        revoked = asked.serial_number == revoked_serial
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=asked.issuer_name_hash,
            issuer_key_hash=asked.issuer_key_hash,
            serial_number=asked.serial_number,
            algorithm=asked.hash_algorithm,
            cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
            this_update=now,
            next_update=now + datetime.timedelta(hours=1),
            revocation_time=now if revoked else None,
            revocation_reason=None,
        )
        signed = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, ca_cert).sign(
            ca_key,  # type: ignore[arg-type]
            hashes.SHA256(),
        )
        return web.Response(
            body=signed.public_bytes(serialization.Encoding.DER),
            content_type="application/ocsp-response",
        )

    app = web.Application()
    app.router.add_post("/ocsp", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}/ocsp"
    finally:
        await runner.cleanup()


def test_iso15118_providers_M01_M02_M06(
    core: Backend, ca: CertificateStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Get15118EVCertificate goes to the `ContractCertificateProvider` and its EXI answer back
    (M01/M02); its failure is Failed with the reason, logged. GetCertificateStatus goes to
    `OcspStatusProvider`, which asks the OCSP responder named (RFC 6960, over HTTP, built with
    `cryptography`): the DER answer comes back base64 in ocspResult, Accepted (M06), for a good
    and a revoked certificate (the station reads the status inside); a responder that is down,
    a host not allowed, a URL that is not http and malformed hash data are Failed with the
    reason. The connection carries on throughout."""
    good = ca.issue_station("CP-GOOD")
    bad = ca.issue_station("CP-BAD")
    good_cert = x509.load_pem_x509_certificate(ca.path(good.cert_file).read_bytes())
    bad_cert = x509.load_pem_x509_certificate(ca.path(bad.cert_file).read_bytes())
    caplog.set_level(logging.INFO, CSMS_LOG)

    def ocsp_data(m: Any, cert: x509.Certificate, url: str, **changes: str) -> Any:
        hashed = certificate_hash_data(cert, ca.ca_certificate)
        return m.OCSPRequestData(
            hash_algorithm=m.HashAlgorithmEnum.SHA256,
            issuer_name_hash=changes.get("name", hashed["issuerNameHash"]),
            issuer_key_hash=hashed["issuerKeyHash"],
            serial_number=hashed["serialNumber"],
            responder_url=url,
        )

    async def main() -> None:
        contracts = Contracts()
        async with ocsp_responder(ca, bad_cert.serial_number) as url:
            services = CertificateServices(
                contracts=contracts,
                status=OcspStatusProvider(timeout=5, allowed_hosts=["127.0.0.1"]),
            )
            async with running(services, core) as csms:
                for version in ("ocpp2.0.1", "ocpp2.1"):
                    m = MODULES[version]
                    identity = "CP-ISO-" + version[-1]
                    async with station(csms, identity, version, core, Recorder()) as cs:
                        request = m.Get15118EVCertificateRequest(
                            iso15118_schema_version="urn:iso:15118:2:2013:MsgDef",
                            action=m.CertificateActionEnum.Install,
                            exi_request="RVhJLXJlcXVlc3Q=",
                        )
                        contracts.fail = False
                        answer = await cs.call(request)
                        assert answer.status == m.Iso15118EVCertificateStatusEnum.Accepted
                        assert answer.exi_response == "RVhJLXJlc3BvbnNl"
                        assert contracts.calls[-1] == (
                            identity,
                            "urn:iso:15118:2:2013:MsgDef",
                            "Install",
                            "RVhJLXJlcXVlc3Q=",
                        )
                        contracts.fail = True
                        answer = await cs.call(request)
                        assert answer.status == m.Iso15118EVCertificateStatusEnum.Failed
                        assert "pool is down" in answer.status_info.additional_info

                        for cert, expected in (
                            (good_cert, ocsp.OCSPCertStatus.GOOD),
                            (bad_cert, ocsp.OCSPCertStatus.REVOKED),
                        ):
                            status = await cs.call(
                                m.GetCertificateStatusRequest(
                                    ocsp_request_data=ocsp_data(m, cert, url)
                                )
                            )
                            assert status.status == m.GetCertificateStatusEnum.Accepted
                            result = ocsp.load_der_ocsp_response(
                                base64.b64decode(status.ocsp_result)
                            )
                            assert result.certificate_status == expected
                            assert result.serial_number == cert.serial_number
                        for data, why in (
                            (ocsp_data(m, good_cert, "http://127.0.0.1:1/ocsp"), "reached"),
                            (ocsp_data(m, good_cert, "http://10.1.2.3/ocsp"), "allowed"),
                            (ocsp_data(m, good_cert, "ftp://127.0.0.1/ocsp"), "http://"),
                            (ocsp_data(m, good_cert, url, name="zz"), "hexadecimal"),
                        ):
                            status = await cs.call(
                                m.GetCertificateStatusRequest(ocsp_request_data=data)
                            )
                            assert status.status == m.GetCertificateStatusEnum.Failed
                            assert why in status.status_info.additional_info
                        await cs.call(m.HeartbeatRequest())

    run(main())
    assert any("Get15118EVCertificate answered Failed" in r.getMessage() for r in caplog.records)


def test_ocsp_request_is_rfc6960() -> None:
    """The OCSP request built from the station's CertID is RFC 6960's, with the same hashes
    and serial."""
    provider = OcspStatusProvider()
    asked = OcspRequest("SHA384", "ab" * 48, "cd" * 48, "0A1B", "http://ocsp.example/")
    parsed = ocsp.load_der_ocsp_request(provider.request_der(asked))
    assert parsed.issuer_name_hash == bytes.fromhex("ab" * 48)
    assert parsed.issuer_key_hash == bytes.fromhex("cd" * 48)
    assert parsed.serial_number == 0x0A1B
    assert isinstance(parsed.hash_algorithm, hashes.SHA384)
    with pytest.raises(ProviderError, match="digests"):
        provider.request_der(OcspRequest("SHA256", "ab", "cd", "01", "http://x/"))
    with pytest.raises(ProviderError, match="SHA256"):
        provider.request_der(OcspRequest("MD5", "ab", "cd", "01", "http://x/"))


# -- ocppfast serve ------------------------------------------------------------------------------


def test_serve_signs_with_the_pki_ca_only_when_its_key_is_there(tmp_path: Path) -> None:
    """`ocppfast serve`: --pki (or DATA_DIR/pki) with the CA's key signs; without the key,
    signing is off (SignCertificate Rejected) and the start log says how to turn it on
    (--signing-ca); --signing-ca without a key or without a CA is an error."""
    from cli.serve import _certificate_services

    store = CertificateStore(tmp_path / "pki")
    store.create_ca(ORG)
    data_dir = tmp_path / "data"
    services, line = _certificate_services(None, store.directory, data_dir)
    assert isinstance(services.authority, StoreAuthority) and "signing on" in line
    assert services.ca_pem == store.ca_cert_path.read_text()

    services, line = _certificate_services(None, None, data_dir)
    assert services.authority is None and services.ca_pem is None
    assert "--signing-ca" in line

    elsewhere = CertificateStore(tmp_path / "elsewhere")
    elsewhere.create_ca(ORG)
    store.ca_key_path.unlink()
    services, line = _certificate_services(None, store.directory, data_dir)
    assert services.authority is None and services.ca_pem is not None
    assert "signing is off" in line and "--signing-ca" in line
    services, line = _certificate_services(elsewhere.directory, store.directory, data_dir)
    assert isinstance(services.authority, StoreAuthority)
    assert services.authority.store.directory == elsewhere.directory
    for bad in (store.directory, tmp_path / "none"):
        with pytest.raises(typer.BadParameter):
            _certificate_services(bad, None, data_dir)


def test_serve_process_signs_a_stations_csr_with_signing_ca(core: Backend, tmp_path: Path) -> None:
    """`ocppfast serve --signing-ca DIR` as a process: its start log says signing is on; a
    station's SignCertificate (SW A03, initiated by the station) is Accepted (A02.FR.11) and
    answered with CertificateSigned chaining to that CA; without a CA, signing is off, said at
    start, and SignCertificate is Rejected (A02.FR.12)."""
    from websockets.asyncio.client import connect

    from ocppfast.transport.websocket import WebSocketTransport
    from tests.cli_process import serve

    store = CertificateStore(tmp_path / "pki")
    store.create_ca(ORG)

    async def exchange(url: str, expected: str) -> None:
        ws = await connect(f"{url}/CP-CLI", subprotocols=["ocpp2.0.1"])  # type: ignore[list-item]
        handlers = Recorder()
        cs = Connection(WebSocketTransport(ws), role="station", handlers=handlers, core=core)
        task = asyncio.create_task(cs.run())
        try:
            await cs.call(
                v201.BootNotificationRequest(
                    reason=v201.BootReasonEnum.PowerUp,
                    charging_station=v201.ChargingStation(model="M", vendor_name="V"),
                )
            )
            answer = await cs.call(v201.SignCertificateRequest(csr=make_csr("CP-CLI")))
            assert answer.status == expected
            if expected == "Accepted":
                signed = await asyncio.wait_for(handlers.signed.get(), 15)
                verify_chain(store, signed.certificate_chain, "CP-CLI")
        finally:
            await cs.close()
            await task

    process, url = serve(core, "--database", "memory", "--signing-ca", str(store.directory))
    with process:
        process.wait_for("certificate signing on")
        run(exchange(url, "Accepted"))
        assert process.stop() == 0
    process, url = serve(core, "--database", "memory")
    with process:
        process.wait_for("certificate signing is off")
        run(exchange(url, "Rejected"))
        assert process.stop() == 0
