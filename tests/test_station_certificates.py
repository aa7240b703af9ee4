"""The station's certificates (issue 10, part 3 on the station side): `StationCertificates`
(ocppfast/station/certificates.py) in `Station16` and `StationV2`, and the CertificateHashData
of ocppfast/security/hashdata.py.

Over real sockets on 127.0.0.1 against an asyncio `Server` whose handlers play the CSMS (over
wss:// with mutual TLS where the certificate is used to connect, ws:// where it is not), on
1.6, 2.0.1 and 2.1, both cores:

- A02 (SW and 2.x): ExtendedTriggerMessage SignChargePointCertificate / TriggerMessage
  SignChargingStationCertificate -> a new key and CSR in SignCertificate -> CertificateSigned
  checked (A02.FR.06/07), installed, used from the next connection on (A02.FR.08), kept across
  a restart, with the previous one as fallback when the CSMS refuses the new one (A02.FR.10);
  retries per CertSigningWaitMinimum / CertSigningRepeatTimes (2.x).
- A03: renewal on its own a month before the certificate expires.
- M03-M05: InstallCertificate, GetInstalledCertificateIds, DeleteCertificate.

OCA test cases (OCPP 2.0.1 part 6) covered on the station side: TC_A_11_CS (renewal),
TC_A_14_CS (invalid certificate), TC_A_15_CS (SignCertificate Rejected), TC_A_23_CS (resent
after CertSigningWaitMinimum), TC_M_01_CS, TC_M_02_CS, TC_M_07_CS (install), TC_M_12_CS,
TC_M_13_CS, TC_M_17_CS, TC_M_18_CS, TC_M_19_CS (retrieve), TC_M_20_CS, TC_M_22_CS, TC_M_23_CS
(delete): see the docstrings for which step each test checks.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ocppfast import v16, v21, v201
from ocppfast._core import Backend
from ocppfast.asyncio import Server
from ocppfast.asyncio.client import BackOff, Client
from ocppfast.asyncio.handlers import Handlers, on
from ocppfast.security import check_station_certificate, server_context
from ocppfast.security.hashdata import certificate_hash_data, issuer_key_bytes, matches
from ocppfast.security.pki import CertificateRecord, CertificateStore
from ocppfast.security.tls import peer_certificate
from ocppfast.station import StationConfig, station_handlers
from ocppfast.station.certificates import Provisioned, StationCertificates
from ocppfast.station.fleet import attach
from ocppfast.station.store import StationData, StationStore
from tests.aio import run, until

MODULES: dict[str, Any] = {"ocpp1.6": v16, "ocpp2.0.1": v201, "ocpp2.1": v21}
VERSIONS = ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]
NOW = datetime.datetime.now(datetime.timezone.utc)
BAD_PEM = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"


# --------------------------------------------------------------------------------------------
# The operator's PKI, and another one


@dataclass
class Pki:
    store: CertificateStore
    other: CertificateStore  # another CA: same organisation name, another key
    stations: dict[str, CertificateRecord]

    def files(self, identity: str) -> tuple[Path, Path]:
        record = self.stations[identity]
        assert record.key_file is not None
        return self.store.path(record.cert_file), self.store.path(record.key_file)

    def provisioned(self, identity: str | None = None) -> Provisioned:
        root = self.store.ca_cert_path.read_bytes()
        if identity is None:
            return Provisioned(csms_root=root)
        cert, key = self.files(identity)
        return Provisioned(csms_root=root, cert=cert.read_bytes(), key=key.read_bytes())

    def signed(self, csr: str, identity: str, store: CertificateStore | None = None) -> str:
        record = (store or self.store).sign_csr(csr, identity)
        return (store or self.store).path(record.cert_file).read_text()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    base = tmp_path_factory.mktemp("station-certs")
    store = CertificateStore(base / "pki")
    store.create_ca("Example CPO")
    store.issue_server(["localhost", "127.0.0.1"])
    stations = {name: store.issue_station(name) for name in ("CP001", "CP002", "CP003")}
    stations["SOON"] = store.issue_station("SOON", days=10)  # expires within a month (A03)
    other = CertificateStore(base / "other")
    other.create_ca("Example CPO")
    return Pki(store, other, stations)


def _expired_ca() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Old Root")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=400))
        .not_valid_after(NOW - datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


# --------------------------------------------------------------------------------------------
# A CSMS that records what the stations send


@dataclass
class Record:
    connections: list[Any] = field(default_factory=list)
    csrs: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    serials: list[int | None] = field(default_factory=list)  # client certificates seen
    sign_status: str = "Accepted"

    def last(self) -> Any:
        return self.connections[-1]


def csms(record: Record) -> Callable[[], Handlers]:
    class Csms(Handlers):
        def connected(self) -> None:
            record.connections.append(self.connection)

        def _m(self) -> Any:
            return MODULES[self.connection.version]

        @on("BootNotification")
        def boot(self, request: Any) -> Any:
            return self._m().BootNotificationResponse(
                current_time=datetime.datetime.now(datetime.timezone.utc),
                interval=300,
                status="Accepted",
            )

        @on("Heartbeat")
        def heartbeat(self, request: Any) -> Any:
            return self._m().HeartbeatResponse(
                current_time=datetime.datetime.now(datetime.timezone.utc)
            )

        @on("StatusNotification")
        def status(self, request: Any) -> Any:
            return self._m().StatusNotificationResponse()

        @on("NotifyEvent")
        def notify_event(self, request: Any) -> Any:
            return self._m().NotifyEventResponse()

        @on("SecurityEventNotification")
        def security_event(self, request: Any) -> Any:
            record.events.append(request.type)
            return self._m().SecurityEventNotificationResponse()

        @on("SignCertificate")
        def sign_certificate(self, request: Any) -> Any:
            record.csrs.append(request.csr)
            return self._m().SignCertificateResponse(status=record.sign_status)

    return Csms


@dataclass
class Running:
    station: Any
    client: Client
    task: asyncio.Task[None]

    async def stop(self) -> None:
        await self.client.stop()
        await self.task


async def start_station(
    core: Backend,
    url: str,
    version: str,
    identity: str,
    *,
    provisioned: Provisioned | None = None,
    tls: bool = False,
    data: StationData | None = None,
    password: str | None = None,
) -> Running:
    """A station as `fleet` starts one: its certificates provisioned, then the client attached."""
    config = StationConfig(identity=identity)
    station: Any = station_handlers(
        config,
        version,
        password,
        data,
        None,
        3 if tls and provisioned and provisioned.cert else None,
    )
    if provisioned is not None:
        station.certificates.provision(provisioned)
    context = None
    if tls:
        assert provisioned is not None
        context = station.certificates.tls_context()
    client = Client(
        url, identity, station, versions=[version], core=core, ssl=context, password=password
    )
    attach(station, client)
    client.backoff = BackOff(wait_minimum=0.05, random_range=0, repeat_times=0)
    task = asyncio.ensure_future(client.run())
    await asyncio.wait_for(station.booted.wait(), 10)
    return Running(station, client, task)


def tls_server(pki: Pki, record: Record, core: Backend, port: int = 0) -> Server:
    """Security profile 3: the client certificate must chain to the operator's CA, have the
    identity as CN and not be revoked; the serial of each one presented is recorded."""
    context = server_context(
        pki.store.path("certs/server-localhost.pem"),
        pki.store.path("private/server-localhost.key"),
        client_ca=pki.store.ca_cert_path,
    )

    def check(ssl_object: Any, identity: str) -> str | None:
        certificate = peer_certificate(ssl_object)
        record.serials.append(certificate.serial_number if certificate else None)
        return check_station_certificate(ssl_object, identity, store=pki.store)

    return Server(csms(record), port=port, ssl=context, check_client=check, core=core)


def plain_server(record: Record, core: Backend) -> Server:
    return Server(csms(record), port=0, core=core)


def trigger(version: str) -> Any:
    if version == "ocpp1.6":
        return v16.ExtendedTriggerMessageRequest(
            requested_message=v16.MessageTriggerEnum.SignChargePointCertificate
        )
    return MODULES[version].TriggerMessageRequest(
        requested_message="SignChargingStationCertificate"
    )


def certificate_signed(version: str, chain: str) -> Any:
    if version == "ocpp1.6":
        return v16.CertificateSignedRequest(certificate_chain=chain)
    return MODULES[version].CertificateSignedRequest(
        certificate_chain=chain, certificate_type="ChargingStationCertificate"
    )


def install(version: str, use: str, pem: str) -> Any:
    if version == "ocpp1.6":
        names = {"CSMSRootCertificate": "CentralSystemRootCertificate"}
        return v16.InstallCertificateRequest(
            certificate_type=v16.CertificateUseEnum(names.get(use, use)), certificate=pem
        )
    return MODULES[version].InstallCertificateRequest(certificate_type=use, certificate=pem)


def get_ids(version: str, use: str | None) -> Any:
    if version == "ocpp1.6":
        names = {"CSMSRootCertificate": "CentralSystemRootCertificate"}
        assert use is not None
        return v16.GetInstalledCertificateIdsRequest(
            certificate_type=v16.CertificateUseEnum(names.get(use, use))
        )
    m = MODULES[version]
    if use is None:
        return m.GetInstalledCertificateIdsRequest()
    return m.GetInstalledCertificateIdsRequest(certificate_type=[use])


def hash_list(version: str, response: Any) -> list[dict[str, str]]:
    if version == "ocpp1.6":
        items = response.certificate_hash_data or []
    else:
        chain = response.certificate_hash_data_chain
        items = [c.certificate_hash_data for c in chain] if chain else []
    return [
        {
            "hashAlgorithm": getattr(h.hash_algorithm, "value", h.hash_algorithm),
            "issuerNameHash": h.issuer_name_hash,
            "issuerKeyHash": h.issuer_key_hash,
            "serialNumber": h.serial_number,
        }
        for h in items
    ]


def delete(version: str, hash_data: dict[str, str]) -> Any:
    m = MODULES[version]
    return m.DeleteCertificateRequest(
        certificate_hash_data=m.CertificateHashData(
            hash_algorithm=hash_data["hashAlgorithm"],
            issuer_name_hash=hash_data["issuerNameHash"],
            issuer_key_hash=hash_data["issuerKeyHash"],
            serial_number=hash_data["serialNumber"],
        )
    )


def status(response: Any) -> str:
    return str(getattr(response.status, "value", response.status))


def load_pem(text: str | bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(text.encode() if isinstance(text, str) else text)


# --------------------------------------------------------------------------------------------
# CertificateHashData


def test_hash_data_is_the_ocsp_cert_id(pki: Pki) -> None:
    """CertificateHashDataType (SW 6.1; 2.0.1 errata 2.15.1): issuerNameHash over the DER issuer
    name, issuerKeyHash over the issuer's subjectPublicKey value (its SHA-1 is RFC 5280's key
    identifier, which `cryptography` computes independently), the serial in hex without
    leading zeroes; `matches` ignores case and leading zeroes, refuses other certificates."""
    ca = pki.store.ca_certificate
    cert = load_pem(pki.files("CP001")[0].read_bytes())
    data = certificate_hash_data(cert, ca)
    assert data["hashAlgorithm"] == "SHA256"
    assert data["issuerNameHash"] == hashlib.sha256(ca.subject.public_bytes()).hexdigest()
    assert (
        hashlib.sha1(issuer_key_bytes(ca)).digest()
        == x509.SubjectKeyIdentifier.from_public_key(ca.public_key()).digest
    )
    assert data["issuerKeyHash"] == hashlib.sha256(issuer_key_bytes(ca)).hexdigest()
    assert data["serialNumber"] == format(cert.serial_number, "x")
    assert not data["serialNumber"].startswith("0")
    assert matches(data, cert, ca)
    shouted = {k: v.upper() for k, v in data.items()}
    shouted["serialNumber"] = "000" + shouted["serialNumber"]
    assert matches(shouted, cert, ca)
    assert not matches(data, load_pem(pki.files("CP002")[0].read_bytes()), ca)
    assert not matches(data, cert, pki.other.ca_certificate)
    assert not matches(dict(data, hashAlgorithm="MD5"), cert, ca)
    assert not matches(dict(data, serialNumber="zz"), cert, ca)
    # A self-signed root is its own issuer; SHA384/SHA512 work alike.
    root = certificate_hash_data(ca, algorithm="SHA512")
    assert len(root["issuerNameHash"]) == 128 and matches(root, ca)


# --------------------------------------------------------------------------------------------
# A02: the CSMS has the station renew its certificate


@pytest.mark.parametrize("version", VERSIONS)
def test_renewal_switches_at_next_connection_and_survives_restart(
    core: Backend, pki: Pki, tmp_path: Path, version: str
) -> None:
    """TC_A_11_CS / SW A02 (A02.FR.02/03/05/06/08/13): over mutual TLS, the trigger is
    accepted and the station sends SignCertificate with a new key's CSR (CN = identity, O =
    CpoName / OrganizationName); CertificateSigned with the certificate the CA made from it
    is Accepted and used from the next connection on; kept in the station's data with the
    previous one as fallback (A02.FR.10) across a restart. M04.FR.06: the only CSMS root,
    validating this TLS connection, cannot be deleted (Failed); nor can the station's own
    certificate (M04.FR.05)."""

    async def main() -> None:
        record = Record()
        identity = "CP001"
        old = load_pem(pki.files(identity)[0].read_bytes())
        store = await StationStore.open(tmp_path / "station.sqlite3")
        async with tls_server(pki, record, core) as server:
            data = await store.load(identity)
            cp = await start_station(
                core, server.url, version, identity,
                provisioned=pki.provisioned(identity), tls=True, data=data,
            )  # fmt: skip
            assert record.serials == [old.serial_number]
            answer = await record.last().call(trigger(version))
            assert status(answer) == "Accepted"
            await until(lambda: len(record.csrs) == 1)
            csr = x509.load_pem_x509_csr(record.csrs[0].encode())
            assert csr.is_signature_valid
            assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == identity
            # CpoName / OrganizationName still the factory default: the O of its certificate.
            assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
                "Example CPO"
            )
            assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)
            assert csr.public_key() != old.public_key()
            chain = pki.signed(record.csrs[0], identity)
            new = load_pem(chain)
            answer = await record.last().call(certificate_signed(version, chain))
            assert status(answer) == "Accepted"
            assert cp.station.certificates.certificate == new
            # A02.FR.08: from the next connection on.
            assert record.serials == [old.serial_number]
            await cp.client.reconnect()
            await until(lambda: len(record.serials) == 2 and cp.client.connected)
            assert record.serials[1] == new.serial_number
            await until(lambda: cp.station.booted.is_set())
            # M04.FR.06 / M04.FR.05 while connected over TLS with the only CSMS root.
            root = certificate_hash_data(pki.store.ca_certificate)
            assert status(await record.last().call(delete(version, root))) == "Failed"
            own = certificate_hash_data(new, pki.store.ca_certificate)
            assert status(await record.last().call(delete(version, own))) == "Failed"
            await cp.stop()
            await store.flush()
        await store.close()
        # A restart: the station keeps the new certificate, the old one as fallback; the key
        # is the one whose CSR was signed.
        store = await StationStore.open(tmp_path / "station.sqlite3")
        kept = StationCertificates(await store.load(identity), identity)
        assert kept.certificate == new
        assert kept.fallback == old
        assert not kept.pending
        await store.close()

    run(main())


@pytest.mark.parametrize("version", VERSIONS)
def test_restart_then_new_certificate_refused_falls_back(
    core: Backend, pki: Pki, tmp_path: Path, version: str
) -> None:
    """SW A02.FR.08-10: a station restarted between CertificateSigned and its next connection
    connects with the new certificate (the store wins over the --cert given at start, being
    newer: A02.FR.09); when the CSMS refuses it (here: revoked, HTTP 403), the station goes
    back to the previous certificate, kept as fallback, and gets in."""

    async def main() -> None:
        record = Record()
        identity = "CP002"
        old = load_pem(pki.files(identity)[0].read_bytes())
        store = await StationStore.open(tmp_path / "station.sqlite3")
        async with tls_server(pki, record, core) as server:
            cp = await start_station(
                core, server.url, version, identity,
                provisioned=pki.provisioned(identity), tls=True, data=await store.load(identity),
            )  # fmt: skip
            assert status(await record.last().call(trigger(version))) == "Accepted"
            await until(lambda: len(record.csrs) == 1)
            chain = pki.signed(record.csrs[0], identity)
            new = load_pem(chain)
            assert status(await record.last().call(certificate_signed(version, chain))) == (
                "Accepted"
            )
            await cp.stop()
            await store.flush()
            await store.close()
            # The CA revokes the new certificate before the station used it.
            pki.store.revoke(format(new.serial_number, "X"))
            store = await StationStore.open(tmp_path / "station.sqlite3")
            cp = await start_station(
                core, server.url, version, identity,
                provisioned=pki.provisioned(identity), tls=True, data=await store.load(identity),
            )  # fmt: skip
            assert record.serials == [old.serial_number, new.serial_number, old.serial_number]
            assert cp.station.certificates.certificate == old
            assert cp.station.certificates.fallback is None
            await cp.stop()
        await store.close()

    run(main())


@pytest.mark.parametrize("version", VERSIONS)
def test_certificate_signed_is_checked(core: Backend, pki: Pki, version: str) -> None:
    """TC_A_14_CS, SW A02.FR.06/07: CertificateSigned without a pending
    request, with a certificate of another CA, of another station (another key, another CN),
    not PEM, or longer than CertificateSignedMaxChainSize: Rejected, nothing installed, and
    the security event InvalidChargePointCertificate (1.6) / InvalidChargingStationCertificate
    (2.x, critical: pushed to the CSMS). Then the right one is Accepted."""

    async def main() -> None:
        record = Record()
        identity = "CP003"
        event = (
            "InvalidChargePointCertificate"
            if version == "ocpp1.6"
            else "InvalidChargingStationCertificate"
        )
        async with plain_server(record, core) as server:
            cp = await start_station(
                core, server.url, version, identity, provisioned=pki.provisioned()
            )
            certs = cp.station.certificates
            own = pki.files(identity)[0].read_text()
            csms = record.last()
            assert status(await csms.call(certificate_signed(version, own))) == "Rejected"
            assert status(await csms.call(trigger(version))) == "Accepted"
            await until(lambda: len(record.csrs) == 1)
            csr = record.csrs[0]
            for chain in (
                pki.signed(csr, identity, pki.other),  # another CA
                own,  # the station's current certificate: not the CSR's key
                pki.files("CP001")[0].read_text(),  # another station's
                BAD_PEM,
                "x" * 10_000,
            ):
                assert status(await csms.call(certificate_signed(version, chain))) == "Rejected"
            assert certs.certificate is None
            assert certs.pending
            logged = [kind for _, kind, _ in cp.station.security_log]
            assert logged.count(event) == 6
            if version != "ocpp1.6":
                await until(lambda: record.events.count(event) == 6)
            chain = pki.signed(csr, identity)
            assert status(await csms.call(certificate_signed(version, chain))) == "Accepted"
            assert certs.certificate == load_pem(chain) and not certs.pending
            await cp.stop()

    run(main())


def test_sign_certificate_resent_per_cert_signing_variables(core: Backend, pki: Pki) -> None:
    """TC_A_23_CS (A02.FR.17/18): SecurityCtrlr.CertSigningWaitMinimum and
    CertSigningRepeatTimes 1, set over SetVariables; without CertificateSigned the station
    sends SignCertificate after the wait and again after twice the wait (steps 3, 6, 9), then
    stops; the same CSR each time, so the certificate made from step 3's CSR is Accepted
    (step 12)."""

    async def main() -> None:
        record = Record()
        async with plain_server(record, core) as server:
            cp = await start_station(
                core, server.url, "ocpp2.0.1", "CP001", provisioned=pki.provisioned()
            )
            csms = record.last()
            answer = await csms.call(
                v201.SetVariablesRequest(
                    set_variable_data=[
                        v201.SetVariableData(
                            attribute_value=value,
                            component=v201.Component(name="SecurityCtrlr"),
                            variable=v201.Variable(name=name),
                        )
                        for name, value in (
                            ("CertSigningWaitMinimum", "0"),
                            ("CertSigningRepeatTimes", "1"),
                        )
                    ]
                )
            )
            results = [r.attribute_status for r in answer.set_variable_result]
            assert results == ["Accepted", "Accepted"]
            assert status(await csms.call(trigger("ocpp2.0.1"))) == "Accepted"
            await until(lambda: len(record.csrs) >= 1)
            await until(lambda: not cp.station.certificates.renewing)
            assert len(record.csrs) == 3
            assert len(set(record.csrs)) == 1
            assert cp.station.certificates.pending
            # A late answer still finds its key.
            chain = pki.signed(record.csrs[0], "CP001")
            assert status(await csms.call(certificate_signed("ocpp2.0.1", chain))) == "Accepted"
            await cp.stop()

    run(main())


@pytest.mark.parametrize("version", VERSIONS)
def test_rejected_sign_certificate_is_not_resent(core: Backend, version: str) -> None:
    """TC_A_15_CS, SW A02.FR.12: SignCertificate Rejected -> the station does not send it
    again (1.6 has no CertSigning* keys at all: one SignCertificate per trigger)."""

    async def main() -> None:
        record = Record(sign_status="Rejected")
        async with plain_server(record, core) as server:
            cp = await start_station(core, server.url, version, "CP001")
            assert status(await record.last().call(trigger(version))) == "Accepted"
            await until(lambda: len(record.csrs) == 1)
            await until(lambda: not cp.station.certificates.renewing)
            assert len(record.csrs) == 1
            await cp.stop()

    run(main())


@pytest.mark.parametrize("version", VERSIONS)
def test_station_renews_a_month_before_expiry(core: Backend, pki: Pki, version: str) -> None:
    """SW A03.FR.02/03 (part 6 has no station test case for A03): a certificate that expires
    within a month is renewed by the station on its own: SignCertificate once the boot is
    accepted, without a trigger."""

    async def main() -> None:
        record = Record()
        async with plain_server(record, core) as server:
            cp = await start_station(
                core, server.url, version, "SOON", provisioned=pki.provisioned("SOON")
            )
            await until(lambda: len(record.csrs) == 1)
            chain = pki.signed(record.csrs[0], "SOON")
            answer = await record.last().call(certificate_signed(version, chain))
            assert status(answer) == "Accepted"
            assert not cp.station.certificates.expires_soon()
            await cp.stop()

    run(main())


# --------------------------------------------------------------------------------------------
# M03-M05: installed root certificates


@pytest.mark.parametrize("version", VERSIONS)
def test_install_list_delete_roots(core: Backend, pki: Pki, version: str) -> None:
    """TC_M_01_CS, TC_M_02_CS, TC_M_07_CS, SW M05.FR.02/03/06: a CA certificate valid now is
    installed (again: Accepted, one copy), a non-CA, an expired CA or no PEM is Rejected, a
    full store is Rejected (1.6 M05.FR.03) / Failed (2.x). TC_M_12_CS, TC_M_13_CS, TC_M_17_CS,
    TC_M_18_CS, TC_M_19_CS, SW M03.FR.02-04: GetInstalledCertificateIds gives their hash data
    per type (2.x: all without a type), NotFound for none. TC_M_20_CS, TC_M_22_CS, TC_M_23_CS,
    SW M04.FR.02/04/05: DeleteCertificate by hash data, NotFound when gone; the station's own
    certificate: Failed. Kept in the data."""

    async def main() -> None:
        record = Record()
        async with plain_server(record, core) as server:
            cp = await start_station(
                core, server.url, version, "CP001", provisioned=pki.provisioned("CP001")
            )
            csms = record.last()
            certs = cp.station.certificates
            ours = pki.store.ca_certificate
            other = pki.other.ca_certificate
            other_pem = pki.other.ca_cert_path.read_text()
            manufacturer = "ManufacturerRootCertificate"
            # The --ca given at start is there (provisioned).
            answer = await csms.call(get_ids(version, "CSMSRootCertificate"))
            assert status(answer) == "Accepted"
            assert hash_list(version, answer) == [certificate_hash_data(ours)]
            assert status(await csms.call(get_ids(version, manufacturer))) == "NotFound"
            for use, pem, expected in (
                ("CSMSRootCertificate", other_pem, "Accepted"),
                ("CSMSRootCertificate", other_pem, "Accepted"),  # again: one copy
                (manufacturer, other_pem, "Accepted"),
                (manufacturer, pki.files("CP001")[0].read_text(), "Rejected"),  # not a CA
                (manufacturer, _expired_ca(), "Rejected"),
                (manufacturer, BAD_PEM, "Rejected"),
                (manufacturer, "hello", "Rejected"),
            ):  # fmt: skip
                assert status(await csms.call(install(version, use, pem))) == expected, (use, pem)
            answer = await csms.call(get_ids(version, "CSMSRootCertificate"))
            assert hash_list(version, answer) == [
                certificate_hash_data(ours),
                certificate_hash_data(other),
            ]
            if version != "ocpp1.6":
                answer = await csms.call(get_ids(version, None))
                assert len(hash_list(version, answer)) == 3
                uses = [str(c.certificate_type.value if hasattr(c.certificate_type, "value")
                            else c.certificate_type)
                        for c in answer.certificate_hash_data_chain]  # fmt: skip
                assert uses == ["CSMSRootCertificate", "CSMSRootCertificate", manufacturer]
                answer = await csms.call(get_ids(version, "V2GCertificateChain"))
                assert status(answer) == "NotFound"
            # Full.
            certs.capacity = 3
            full = "Rejected" if version == "ocpp1.6" else "Failed"
            root = pki.store.ca_cert_path.read_text()
            assert status(await csms.call(install(version, manufacturer, root))) == full
            certs.capacity = 16
            # Delete: the manufacturer root, then again; the station's own certificate.
            gone = certificate_hash_data(other)
            answer = await csms.call(get_ids(version, manufacturer))
            assert hash_list(version, answer) == [gone]
            # One certificate installed for two uses: both copies go.
            assert status(await csms.call(delete(version, gone))) == "Accepted"
            assert status(await csms.call(get_ids(version, manufacturer))) == "NotFound"
            assert status(await csms.call(delete(version, gone))) == "NotFound"
            own = certificate_hash_data(certs.certificate, ours)
            assert status(await csms.call(delete(version, own))) == "Failed"
            # Not over TLS: the last CSMS root can go (M04.FR.06 is about the TLS connection).
            kept = StationCertificates(cp.station.data, "CP001")
            assert kept.roots("CSMSRootCertificate") == [ours]
            assert kept.roots("CentralSystemRootCertificate") == [ours]
            assert kept.roots(manufacturer) == []
            await cp.stop()

    run(main())


def test_cli_ca_is_installed_as_csms_root(core: Backend, pki: Pki, tmp_path: Path) -> None:
    """`ocppfast station --ca FILE --cert --key`: the CSMS root goes into the station's store
    (GetInstalledCertificateIds reports it, SW M03) and the certificate is the one the store
    connects with (the options as the CLI reads them, `_tls_settings`)."""
    from cli.station import _tls_settings

    async def main() -> None:
        record = Record()
        cert, key = pki.files("CP001")
        async with tls_server(pki, record, core) as server:
            tls = _tls_settings(
                server.url, ["CP001"], pki.store.ca_cert_path, cert, key, None, None
            )
            assert tls is not None
            cp = await start_station(
                core, server.url, "ocpp1.6", "CP001", provisioned=tls.provisioned["CP001"],
                tls=True,
            )  # fmt: skip
            answer = await record.last().call(get_ids("ocpp1.6", "CSMSRootCertificate"))
            assert hash_list("ocpp1.6", answer) == [certificate_hash_data(pki.store.ca_certificate)]
            assert record.serials == [load_pem(cert.read_bytes()).serial_number]
            await cp.stop()

    run(main())


def test_cli_manufacturer_root_is_installed(core: Backend, pki: Pki, tmp_path: Path) -> None:
    """`ocppfast station --manufacturer-root FILE` (ws:// too): the root goes into the store as
    ManufacturerRootCertificate (GetInstalledCertificateIds reports it; signed firmware must
    chain to it, SW L01.FR.02); a file that is not a certificate is refused with what is
    wrong."""
    import typer

    from cli.station import _provisioned

    async def main() -> None:
        record = Record()
        provisioned = _provisioned(None, pki.store.ca_cert_path)
        assert provisioned is not None
        async with plain_server(record, core) as server:
            cp = await start_station(
                core, server.url, "ocpp2.0.1", "CP001", provisioned=provisioned("CP001")
            )
            answer = await record.last().call(get_ids("ocpp2.0.1", "ManufacturerRootCertificate"))
            assert hash_list("ocpp2.0.1", answer) == [
                certificate_hash_data(pki.store.ca_certificate)
            ]
            await cp.stop()

    run(main())
    garbage = tmp_path / "root.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(typer.BadParameter, match="is not a PEM certificate"):
        _provisioned(None, garbage)


# --------------------------------------------------------------------------------------------
# End to end: `ocppfast serve --pki` signs, `ocppfast station --pki` renews


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_serve_and_station_processes_renew_the_certificate(
    core: Backend, tmp_path: Path, version: str
) -> None:
    """SW A03 end to end over wss:// with mutual TLS, as processes: a station whose certificate
    expires within a month sends SignCertificate on its own; `ocppfast serve --pki` signs the
    CSR with the operator's CA and sends CertificateSigned; the station checks and installs it
    (A03.FR.06/08). No private key in either log."""
    from tests.cli_process import CliProcess

    store = CertificateStore(tmp_path / "pki")
    store.create_ca("Example CPO")
    store.issue_server(["localhost", "127.0.0.1"])
    store.issue_station("CP001", days=10)
    ready = r"ready: point stations at (wss://\S+)/<identity>"
    with CliProcess(
        core, "serve", "--port", "0", "--api-port", "0", "--pki", str(store.directory),
        cwd=str(tmp_path),
    ) as serve:  # fmt: skip
        url = serve.wait_for(ready).group(1)
        with CliProcess(
            core, "station", "--url", url, "--in-memory", "--id", "CP001", "--ocpp", version,
            "--pki", str(store.directory), cwd=str(tmp_path),
        ) as station:  # fmt: skip
            station.wait_for(r"CP001: installed its new certificate", timeout=30)
            assert station.count("PRIVATE KEY") == 0
        assert serve.count("PRIVATE KEY") == 0
    signed = [r for r in store.list() if r.kind == "station" and r.name == "CP001"]
    assert len(signed) == 2  # the one issued, the one signed from the station's CSR


# --------------------------------------------------------------------------------------------
# A05 (1.6): the Central System raises the security profile

PASSWORD = "0123456789abcdef"


def change_profile(profile: int) -> v16.ChangeConfigurationRequest:
    return v16.ChangeConfigurationRequest(key="SecurityProfile", value=str(profile))


def test_security_profile_prerequisites(core: Backend, pki: Pki) -> None:
    """SW A05.FR.01-04: ChangeConfiguration SecurityProfile is Rejected (and nothing changes, no
    reconnection) when not above the current one, for 2 without a CentralSystemRootCertificate
    installed, for 3 without a ChargePointCertificate; 2 without an AuthorizationKey too."""

    async def main() -> None:
        record = Record()
        async with plain_server(record, core) as server:
            cp = await start_station(core, server.url, "ocpp1.6", "CP001", password=PASSWORD)
            csms = record.last()
            assert cp.station.security_profile == 1
            for profile in (0, 1, 2, 3):
                assert status(await csms.call(change_profile(profile))) == "Rejected"
            # The CSMS root: 2 is possible now, 3 still needs the station's certificate.
            root = pki.store.ca_cert_path.read_text()
            answer = await csms.call(install("ocpp1.6", "CSMSRootCertificate", root))
            assert status(answer) == "Accepted"
            assert status(await csms.call(change_profile(3))) == "Rejected"
            assert cp.station.security_profile == 1
            assert cp.client.url.startswith("ws://") and cp.client.ssl is None
            assert len(record.connections) == 1
            await cp.stop()
        # Without an AuthorizationKey, profile 2 is refused even with the root (A05.FR.02).
        async with plain_server(record, core) as server:
            cp = await start_station(
                core, server.url, "ocpp1.6", "CP001", provisioned=pki.provisioned()
            )
            assert status(await record.last().call(change_profile(2))) == "Rejected"
            await cp.stop()

    run(main())


def test_security_profile_upgrade_to_3_then_wss(core: Backend, pki: Pki) -> None:
    """SW A05.FR.05-07: with the CSMS root and the station's certificate installed,
    SecurityProfile 3 is Accepted; the station disconnects and connects again over wss://
    (same host and port) with its certificate and without a password."""

    async def main() -> None:
        record = Record()
        async with plain_server(record, core) as server:
            url = server.url
            port = int(url.rsplit(":", 1)[1].split("/")[0])
            cp = await start_station(
                core, url, "ocpp1.6", "CP001", provisioned=pki.provisioned("CP001"),
                password=PASSWORD,
            )  # fmt: skip
            # Hold the reconnection until the CSMS serves wss:// on that port.
            cp.client.backoff = BackOff(wait_minimum=60, random_range=0, repeat_times=0)
            assert status(await record.last().call(change_profile(3))) == "Accepted"
            await until(lambda: not cp.client.connected)
        async with tls_server(pki, record, core, port):
            await cp.client.reconnect()
            await until(lambda: cp.client.connected and cp.station.booted.is_set())
            certificate = load_pem(pki.files("CP001")[0].read_bytes())
            assert record.serials == [certificate.serial_number]
            assert cp.client.url.startswith("wss://")
            assert cp.client.password is None
            assert cp.station.security_profile == 3
            await cp.stop()

    run(main())


def test_security_profile_upgrade_falls_back(core: Backend, pki: Pki) -> None:
    """SW A05.FR.08: SecurityProfile 2 Accepted, but the CSMS does not speak TLS on that port:
    the station goes back to profile 1 over ws:// with its password and gets in again."""

    async def main() -> None:
        record = Record()
        async with plain_server(record, core) as server:
            cp = await start_station(
                core, server.url, "ocpp1.6", "CP001", provisioned=pki.provisioned(),
                password=PASSWORD,
            )  # fmt: skip
            assert status(await record.last().call(change_profile(2))) == "Accepted"
            await until(lambda: len(record.connections) == 2 and cp.station.booted.is_set())
            assert cp.station.security_profile == 1
            assert cp.client.url.startswith("ws://") and cp.client.ssl is None
            assert cp.client.password == PASSWORD
            await cp.stop()

    run(main())
