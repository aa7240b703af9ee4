"""The CPO's certificate authority (ocppfast.security.pki): the certificates' properties (SW 2.6.1
A00.FR.501-512), the files and their modes, the index, revocation and the CRL, and the checks
of a station's certificate signing request (SW A02, for the later SignCertificate flow)."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import stat
import textwrap
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ocppfast.security.pki import CertificateRecord, CertificateStore, CsrRejected, PkiError


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> CertificateStore:
    """One ECDSA CA with a server and a station certificate (key generation is the slow part)."""
    store = CertificateStore(tmp_path_factory.mktemp("pki") / "pki")
    store.create_ca("Example CPO")
    store.issue_server(["csms.example.com", "10.0.0.5"])
    store.issue_station("CP001")
    return store


def load(store: CertificateStore, relative: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(store.path(relative).read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def subject(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]


def current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


# --------------------------------------------------------------------------------------------
# The CA


def test_the_root_ca(store: CertificateStore) -> None:
    """A self-signed ECDSA P-256 root of the organisation (A00.FR.509), basicConstraints CA,
    keyUsage keyCertSign and cRLSign only, SHA-256 (A00.FR.505, A00.FR.506)."""
    ca = store.ca_certificate
    assert ca.subject == ca.issuer
    ca.verify_directly_issued_by(ca)
    assert subject(ca, NameOID.ORGANIZATION_NAME) == ["Example CPO"]
    assert subject(ca, NameOID.COMMON_NAME) == ["Example CPO OCPP Root CA"]
    key = ca.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert isinstance(ca.signature_hash_algorithm, hashes.SHA256)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature and not usage.value.key_encipherment
    years = (ca.not_valid_after_utc - ca.not_valid_before_utc).days / 365
    assert 9.9 < years < 10.1
    assert store.organization == "Example CPO"


def test_key_and_certificate_files_and_modes(store: CertificateStore) -> None:
    """Keys 0600 in a 0700 directory (A00.FR.602), certificates 0644 (less what the umask
    removes), PEM (A00.FR.507)."""
    umask = current_umask()
    assert mode(store.ca_key_path) == 0o600
    assert mode(store.directory / "private") == 0o700
    assert mode(store.ca_cert_path) == 0o644 & ~umask
    for record in store.list():
        assert record.key_file is not None
        assert mode(store.path(record.key_file)) == 0o600
        assert mode(store.path(record.cert_file)) == 0o644 & ~umask
        assert store.path(record.cert_file).read_bytes().startswith(b"-----BEGIN CERTIFICATE")
        key_text = store.path(record.key_file).read_bytes()
        assert key_text.startswith(b"-----BEGIN PRIVATE KEY")
    assert not list(store.directory.rglob("*.tmp"))


def test_keys_are_created_with_their_mode_whatever_the_umask(tmp_path: Path) -> None:
    """The mode is given at creation (os.open), not chmod-ed later: a permissive umask cannot
    widen it, and the key is never readable by others even for an instant."""
    old = os.umask(0)
    try:
        store = CertificateStore(tmp_path / "pki")
        store.create_ca("Umask Test")
        record = store.issue_station("CP9")
    finally:
        os.umask(old)
    assert mode(store.ca_key_path) == 0o600
    assert record.key_file is not None
    assert mode(store.path(record.key_file)) == 0o600
    assert mode(store.path(record.cert_file)) == 0o644


def test_an_existing_ca_is_not_replaced_without_force(store: CertificateStore) -> None:
    before = store.ca_key_path.read_bytes()
    with pytest.raises(PkiError, match="already exists"):
        store.create_ca("Someone Else")
    assert store.ca_key_path.read_bytes() == before


def test_issuing_without_a_ca_says_what_to_do(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path / "none")
    with pytest.raises(PkiError, match="ocppfast certs init --org"):
        store.issue_station("CP1")
    with pytest.raises(PkiError, match="ocppfast certs init"):
        store.list()


# --------------------------------------------------------------------------------------------
# Issued certificates


def test_the_server_certificate(store: CertificateStore) -> None:
    """CN = the first host (A00.FR.510), O = the CPO (A00.FR.509), SAN DNS and IP for each host
    (allowed for the CSMS by A00.FR.511's note), serverAuth, keyUsage digitalSignature
    (A00.FR.512), a serial number (A00.FR.508), signed by the CA."""
    (record,) = store.find("server", "csms.example.com")
    cert = load(store, record.cert_file)
    cert.verify_directly_issued_by(store.ca_certificate)
    assert subject(cert, NameOID.COMMON_NAME) == ["csms.example.com"]
    assert subject(cert, NameOID.ORGANIZATION_NAME) == ["Example CPO"]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["csms.example.com"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.serial_number > 0 and record.serial == f"{cert.serial_number:X}"
    assert record.hosts == ("csms.example.com", "10.0.0.5")
    assert record.cert_file == "certs/server-csms.example.com.pem"
    assert record.key_file == "private/server-csms.example.com.key"
    days = (cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)).days
    assert 363 <= days <= 365


def test_the_station_certificate(store: CertificateStore) -> None:
    """CN = identity (A00.FR.405, A00.FR.511), O = operator (A00.FR.404, A00.FR.509), no SAN
    (A00.FR.511's note), clientAuth; the key file holds the certificate's key."""
    (record,) = store.find("station", "CP001")
    cert = load(store, record.cert_file)
    cert.verify_directly_issued_by(store.ca_certificate)
    assert subject(cert, NameOID.COMMON_NAME) == ["CP001"]
    assert subject(cert, NameOID.ORGANIZATION_NAME) == ["Example CPO"]
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_encipherment
    assert record.key_file is not None
    key = serialization.load_pem_private_key(store.path(record.key_file).read_bytes(), None)
    assert key.public_key() == cert.public_key()


def test_station_certificate_with_another_organisation(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path / "pki")
    store.create_ca("CPO")
    record = store.issue_station("CP-7", "Partner Operator")
    assert subject(load(store, record.cert_file), NameOID.ORGANIZATION_NAME) == ["Partner Operator"]


@pytest.mark.parametrize(
    "identity", ["192.168.1.20", "::1", "wss://csms.example.com/CP1", "a/b", "", " CP1", "x" * 65]
)
def test_station_identities_refused(store: CertificateStore, identity: str) -> None:
    """A00.FR.511: a station's CN is never an IP address or a URL (so it cannot pass for a CSMS
    certificate); nor can it hold '/', outer spaces, or more than 64 characters."""
    with pytest.raises(PkiError):
        store.issue_station(identity)


def test_an_identity_is_a_safe_file_name(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path / "pki")
    store.create_ca("CPO")
    record = store.issue_station("..")
    assert record.cert_file == "certs/station-%2E..pem"
    assert store.path(record.cert_file).parent == store.directory / "certs"


def test_no_key_is_overwritten_without_force(store: CertificateStore) -> None:
    (record,) = store.find("station", "CP001")
    assert record.key_file is not None
    before = store.path(record.key_file).read_bytes()
    with pytest.raises(PkiError, match="--force"):
        store.issue_station("CP001")
    assert store.path(record.key_file).read_bytes() == before
    assert len(store.find("station", "CP001")) == 1


def test_force_reissues_and_revokes_the_previous_certificate(tmp_path: Path) -> None:
    """One certificate per station (A00.FR.427): the replaced one is revoked (superseded)."""
    store = CertificateStore(tmp_path / "pki")
    store.create_ca("CPO")
    first = store.issue_station("CP1")
    assert first.key_file is not None
    first_key = store.path(first.key_file).read_bytes()
    second = store.issue_station("CP1", force=True)
    assert second.serial != first.serial
    assert second.key_file is not None
    assert store.path(second.key_file).read_bytes() != first_key
    assert mode(store.path(second.key_file)) == 0o600
    old, new = store.find("station", "CP1")
    assert old.revoked and old.revocation_reason == "superseded" and not new.revoked
    assert store.is_revoked(load_serial_cert(store, first))
    assert not store.is_revoked(load(store, second.cert_file))


def load_serial_cert(store: CertificateStore, record: CertificateRecord) -> x509.Certificate:
    """A certificate object with the record's serial (its file now holds the newer one)."""
    serial = int(record.serial, 16)
    ca_key = serialization.load_pem_private_key(store.ca_key_path.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .issuer_name(store.ca_certificate.subject)
        .public_key(ca_key.public_key())
        .serial_number(serial)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )


def test_rsa_ca_and_both_algorithms(tmp_path: Path) -> None:
    """An RSA root signs with RSA-PSS and SHA-256 (A00.FR.505, A00.FR.506); the CSMS can hold a
    certificate of each algorithm (the note of A00.FR.317) under distinct file names; an RSA
    server certificate may encipher keys (TLS_RSA suites)."""
    store = CertificateStore(tmp_path / "pki")
    ca = store.create_ca("RSA CPO", algorithm="rsa", rsa_bits=2048)
    key = ca.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    assert isinstance(ca.signature_algorithm_parameters, padding.PSS)
    rsa_server = store.issue_server(["localhost"])
    ec_server = store.issue_server(["localhost"], algorithm="ecdsa")
    assert rsa_server.cert_file == "certs/server-localhost.pem"
    assert ec_server.cert_file == "certs/server-localhost-ecdsa.pem"
    rsa_cert = load(store, rsa_server.cert_file)
    rsa_cert.verify_directly_issued_by(ca)
    load(store, ec_server.cert_file).verify_directly_issued_by(ca)
    assert rsa_cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment
    assert (rsa_server.algorithm, ec_server.algorithm) == ("rsa", "ecdsa")
    with pytest.raises(PkiError, match="2048"):
        store.issue_station("CP1", algorithm="rsa", rsa_bits=1024)


def test_firmware_signer(store: CertificateStore) -> None:
    record = store.issue_firmware_signer("fw-2026")
    cert = load(store, record.cert_file)
    cert.verify_directly_issued_by(store.ca_certificate)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CODE_SIGNING]
    assert record.kind == "firmware" and record.cert_file == "certs/firmware-fw-2026.pem"


# --------------------------------------------------------------------------------------------
# The index, revocation, the CRL


def test_the_index_records_every_certificate(store: CertificateStore) -> None:
    data = json.loads(store.index_path.read_text())
    by_name = {entry["name"]: entry for entry in data["certificates"]}
    entry = by_name["CP001"]
    assert entry["kind"] == "station"
    assert entry["subject"] == "CN=CP001,O=Example CPO"
    assert entry["cert_file"] == "certs/station-CP001.pem"
    assert entry["key_file"] == "private/station-CP001.key"
    assert entry["revoked_at"] is None
    cert = load(store, entry["cert_file"])
    assert int(entry["serial"], 16) == cert.serial_number
    assert datetime.datetime.fromisoformat(entry["not_after"]) == cert.not_valid_after_utc
    assert [r.name for r in store.list()][:2] == ["csms.example.com", "CP001"]


def test_revoke_writes_a_crl_signed_by_the_ca(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path / "pki")
    store.create_ca("CPO")
    keep = store.issue_station("CP1")
    gone = store.issue_station("CP2")
    empty = x509.load_pem_x509_crl(store.crl_path.read_bytes())
    assert len(empty) == 0

    revoked = store.revoke(gone.serial.lower()[:10], reason="key_compromise")  # a prefix
    assert revoked.serial == gone.serial and revoked.revoked
    crl = x509.load_pem_x509_crl(store.crl_path.read_bytes())
    assert crl.is_signature_valid(store.ca_certificate.public_key())  # type: ignore[arg-type]
    assert crl.issuer == store.ca_certificate.subject
    entry = crl.get_revoked_certificate_by_serial_number(int(gone.serial, 16))
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(int(keep.serial, 16)) is None
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == empty.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1

    assert store.is_revoked(load(store, gone.cert_file))
    assert not store.is_revoked(load(store, keep.cert_file))
    assert store.is_revoked(store.path(gone.cert_file).read_bytes())  # PEM bytes too
    (marked,) = [r for r in store.list() if r.serial == gone.serial]
    assert marked.revoked and marked.revocation_reason == "key_compromise"
    assert store.revoke(gone.serial).revoked_at == marked.revoked_at  # idempotent


def test_revoke_unknown_or_ambiguous(store: CertificateStore) -> None:
    with pytest.raises(PkiError, match="no certificate"):
        store.revoke("DEADBEEF00")
    with pytest.raises(PkiError, match="hexadecimal"):
        store.revoke("not-a-serial")
    with pytest.raises(PkiError, match="reason"):
        store.revoke(store.list()[0].serial, reason="because")


def test_a_tampered_crl_fails_closed(tmp_path: Path) -> None:
    """A CRL not signed by the CA (replaced by an attacker) is an error, not 'not revoked'."""
    store = CertificateStore(tmp_path / "pki")
    store.create_ca("CPO")
    record = store.issue_station("CP1")
    other = CertificateStore(tmp_path / "other")
    other.create_ca("CPO")
    store.crl_path.write_bytes(other.crl_path.read_bytes())
    with pytest.raises(PkiError, match="not signed by the CA"):
        store.is_revoked(load(store, record.cert_file))


# --------------------------------------------------------------------------------------------
# Certificate signing requests (SignCertificate, SW A02/A03)


def make_csr(
    cn: str | None = "CP001",
    org: str | None = "Example CPO",
    key: object | None = None,
    algorithm: hashes.HashAlgorithm | None = None,
) -> bytes:
    private = key or ec.generate_private_key(ec.SECP256R1())
    names = []
    if org is not None:
        names.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if cn is not None:
        names.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(names))
        .sign(private, algorithm or hashes.SHA256())  # type: ignore[arg-type]
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def test_a_good_csr_is_signed(store: CertificateStore) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    record = store.sign_csr(make_csr(key=key).decode(), "CP001", org="Example CPO")
    cert = load(store, record.cert_file)
    cert.verify_directly_issued_by(store.ca_certificate)
    assert cert.public_key() == key.public_key()
    assert subject(cert, NameOID.COMMON_NAME) == ["CP001"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert record.key_file is None  # A02.FR.05: the key never leaves the station
    assert record.cert_file.startswith("certs/station-CP001-")
    assert record in store.list()
    # the certificate issued earlier with a key is left alone
    assert store.path("certs/station-CP001.pem").exists()


def test_an_rsa_csr_is_signed(store: CertificateStore) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    record = store.sign_csr(make_csr(key=key), "CP001")
    assert record.algorithm == "rsa"


@pytest.mark.parametrize(
    ("csr", "reason"),
    [
        (lambda: make_csr(cn="CP002"), "CN 'CP002' is not the station's identity 'CP001'"),
        (lambda: make_csr(cn=None), "needs exactly one, the station's identity"),
        (lambda: make_csr(org=None), "exactly one O"),
        (lambda: make_csr(org="Rogue Ltd"), "O 'Rogue Ltd' is not the operator"),
        (
            lambda: make_csr(key=rsa.generate_private_key(public_exponent=65537, key_size=1024)),
            "1024 bits, fewer than 2048",
        ),
        (
            lambda: make_csr(key=ec.generate_private_key(ec.SECP256K1())),
            "curve secp256k1 is not accepted",
        ),
        (lambda: make_csr(algorithm=hashes.SHA224()), "signed with sha224"),
        (lambda: b"-----BEGIN CERTIFICATE REQUEST-----\nnope\n", "not a PEM-encoded"),
    ],
)
def test_bad_csrs_are_refused_with_a_reason(
    store: CertificateStore, csr: object, reason: str
) -> None:
    data = csr()  # type: ignore[operator]
    before = len(store.list())
    with pytest.raises(CsrRejected) as refused:
        store.sign_csr(data, "CP001", org="Example CPO")
    assert reason in refused.value.reason
    assert store.check_csr(data, "CP001", org="Example CPO") == refused.value.reason
    assert len(store.list()) == before


def test_a_csr_with_a_bad_signature_is_refused(store: CertificateStore) -> None:
    """A request altered after signing (here: the subject's CN bytes) does not verify."""
    good = x509.load_pem_x509_csr(make_csr(cn="CP00A"))
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    at = der.index(b"CP00A")
    der[at : at + 5] = b"CP001"
    body = "\n".join(textwrap.wrap(base64.b64encode(bytes(der)).decode(), 64))
    pem = f"-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n"
    reason = store.check_csr(pem, "CP001")
    assert reason is not None and "signature does not verify" in reason
    assert store.check_csr(make_csr(), "CP001") is None


def test_a_stray_file_is_not_overwritten(tmp_path: Path) -> None:
    """A certificate file left without its key (a half-copied directory) is not replaced
    silently either."""
    store = CertificateStore(tmp_path / "pki")
    store.create_ca("CPO")
    stray = store.directory / "certs" / "station-CP1.pem"
    stray.write_text("keep me")
    with pytest.raises(PkiError, match="exists already"):
        store.issue_station("CP1")
    assert stray.read_text() == "keep me"
    assert store.list() == []
    assert not (store.directory / "private" / "station-CP1.key").exists()


def test_reading_needs_only_the_ca_certificate(tmp_path: Path) -> None:
    """A CSMS may keep the CA's key elsewhere (SW A00.FR.602): with only ca.pem and crl.pem,
    the store reads the CA, the CRL and the index; issuing needs the key."""
    store = CertificateStore(tmp_path / "pki")
    store.create_ca("Example CPO")
    record = store.issue_station("CP1")
    store.revoke(record.serial)
    store.ca_key_path.unlink()
    reader = CertificateStore(tmp_path / "pki")
    assert reader.ca_certificate.subject == store.ca_certificate.subject
    assert len(reader.list()) == 1
    certificate = x509.load_pem_x509_certificate((reader.directory / record.cert_file).read_bytes())
    assert reader.is_revoked(certificate)
    with pytest.raises(PkiError):
        reader.issue_station("CP2")
