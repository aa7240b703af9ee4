"""A file-based certificate authority for the CSMS: the Charge Point Operator hierarchy.

OCPP's security profile 3 authenticates both ends with X.509 certificates (SW 2.5, A00.FR.401
to A00.FR.429); the CPO may act as the certificate authority of that hierarchy itself (SW
A00.FR.601). `CertificateStore` is that authority, kept in one directory:

    <dir>/ca.pem              the root certificate (0644): give it to every station
    <dir>/private/ca.key      its private key (0600, directory 0700; SW A00.FR.602)
    <dir>/certs/KIND-NAME.pem issued certificates (0644)
    <dir>/private/KIND-NAME.key their private keys (0600) when generated here
    <dir>/crl.pem             the certificate revocation list, signed by the CA
    <dir>/index.json          every certificate issued: serial, kind, subject, validity, files,
                              revocation

The certificates follow the whitepaper's "Certificate Properties" (SW 2.6.1; 2.0.1 part 2
"Certificate Properties" has the same content):

- A00.FR.501-503: keys of at least 112-bit strength: RSA of 2048 bits or more (3072 here by
  default), elliptic curves of 224 bits or more (P-256 by default, P-384 accepted in CSRs);
- A00.FR.504-506: the CA signs with ECDSA or RSA-PSS, with SHA-256;
- A00.FR.507: stored in PEM; A00.FR.508: every certificate has a (random, 159-bit) serial number;
- A00.FR.509: the subject's O is the owner's organisation;
- A00.FR.510: the CSMS certificate's CN is its FQDN (the first host; further names and the
  addresses of other network paths go into subjectAltName, which the note of A00.FR.511 allows
  for the CSMS);
- A00.FR.511: a station certificate's CN is the station's unique serial number, its identity
  here, never in the form of a URL or an IP address, and it carries no subjectAltName;
- A00.FR.512: keyUsage and extendedKeyUsage restrict each certificate to its use: serverAuth
  for the CSMS, clientAuth for a station, codeSigning for a firmware signer.

Revocation (SW 2.6.3): `revoke()` marks the index and rewrites a CRL signed by the CA, which the
CSMS consults for every station certificate (`is_revoked()`, A00.FR.702 and A00.FR.704 with the
store as the "certificate authority server"). The CSMS certificate itself should rather expire
fast (A00.FR.701): re-issue it with a short `days`.

Files are written atomically (a new file, then a rename): a key file is created with mode 0600
from its first byte (`os.open` with O_CREAT | O_EXCL), never chmod-ed after the fact, and an
existing key is never replaced unless asked (`force`).

Nothing here logs, prints or puts into an exception a private key.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime
import ipaddress
import json
import os
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "DEFAULT_DIR",
    "Algorithm",
    "CertificateRecord",
    "CertificateStore",
    "CsrRejected",
    "Kind",
    "PkiError",
]

#: Where `ocppfast certs` keeps the CA when no --dir is given: next to `ocppfast serve`'s
#: default --data-dir (ocppfast-data).
DEFAULT_DIR = Path("ocppfast-data") / "pki"

Algorithm = Literal["ecdsa", "rsa"]
Kind = Literal["server", "station", "firmware"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

ALGORITHMS: tuple[Algorithm, ...] = ("ecdsa", "rsa")
KINDS: tuple[Kind, ...] = ("server", "station", "firmware")

# A00.FR.502: RSA keys of at least 2048 bits. We generate 3072 (NIST SP 800-57's 128-bit level,
# for certificates that outlive 2030) unless told otherwise.
MIN_RSA_BITS = 2048
DEFAULT_RSA_BITS = 3072
# A00.FR.503 asks for at least 224 bits; we accept only the two curves TLS stacks of chargers
# actually implement (and SECLEVEL 2 accepts).
ALLOWED_CURVES = ("secp256r1", "secp384r1")
# A00.FR.504: no SHA-1 or MD5 anywhere in the hierarchy, also not in a CSR's own signature.
WEAK_HASHES = ("md5", "sha1", "sha224")

# Validity defaults, in days (the CA in years, as `create_ca` takes it).
DEFAULT_CA_YEARS = 10
DEFAULT_SERVER_DAYS = 365
DEFAULT_STATION_DAYS = 730
DEFAULT_FIRMWARE_DAYS = 730
DEFAULT_CRL_DAYS = 30
# Certificates start being valid a little in the past: a station whose clock lags the CSMS's
# by a few minutes must not refuse a certificate issued just now.
BACKDATE = datetime.timedelta(minutes=5)

# X.509 upper bound of a CN (RFC 5280 ub-common-name).
MAX_CN = 64

KEY_MODE = 0o600
CERT_MODE = 0o644

_REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key_compromise": x509.ReasonFlags.key_compromise,
    "ca_compromise": x509.ReasonFlags.ca_compromise,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
    "certificate_hold": x509.ReasonFlags.certificate_hold,
}
#: The revocation reasons `revoke()` takes (RFC 5280 5.3.1).
REASONS: tuple[str, ...] = tuple(_REASONS)


class PkiError(Exception):
    """The store cannot do what was asked; the message says why and what to do."""


class CsrRejected(PkiError):
    """`sign_csr` refused a certificate signing request; `reason` says why (for the later
    SignCertificate flow: the CSMS answers Rejected and logs this, SW A02.FR.12)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CertificateRecord:
    """One issued certificate as the index keeps it.

    `serial` is the serial number in upper-case hexadecimal; `name` the identity, host or
    signer name it was issued for; `cert_file` and `key_file` are relative to the store's
    directory (`key_file` is None when the private key never came here: a signed CSR)."""

    serial: str
    kind: str
    name: str
    subject: str
    algorithm: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    cert_file: str
    key_file: str | None = None
    revoked_at: datetime.datetime | None = None
    revocation_reason: str | None = None
    hosts: tuple[str, ...] = field(default=())

    @property
    def revoked(self) -> bool:
        """Whether the certificate has been revoked."""
        return self.revoked_at is not None

    def to_json(self) -> dict[str, Any]:
        """The index entry."""
        return {
            "serial": self.serial,
            "kind": self.kind,
            "name": self.name,
            "subject": self.subject,
            "algorithm": self.algorithm,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "cert_file": self.cert_file,
            "key_file": self.key_file,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revocation_reason": self.revocation_reason,
            "hosts": list(self.hosts),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CertificateRecord:
        """An index entry read back."""
        revoked_at = data.get("revoked_at")
        return cls(
            serial=str(data["serial"]),
            kind=str(data["kind"]),
            name=str(data["name"]),
            subject=str(data["subject"]),
            algorithm=str(data.get("algorithm", "")),
            not_before=datetime.datetime.fromisoformat(data["not_before"]),
            not_after=datetime.datetime.fromisoformat(data["not_after"]),
            cert_file=str(data["cert_file"]),
            key_file=data.get("key_file"),
            revoked_at=datetime.datetime.fromisoformat(revoked_at) if revoked_at else None,
            revocation_reason=data.get("revocation_reason"),
            hosts=tuple(data.get("hosts") or ()),
        )


def serial_text(serial: int) -> str:
    """A serial number as the index and the CLI write it: upper-case hexadecimal."""
    return f"{serial:X}"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _safe_file_name(name: str) -> str:
    # Identities may hold characters a file name must not ('/', or '..' as a whole); quote
    # everything but unreserved characters, and never start with a dot.
    quoted = urllib.parse.quote(name, safe="")
    return quoted.replace(".", "%2E", 1) if quoted.startswith(".") else quoted


def _new_key(algorithm: str, rsa_bits: int = DEFAULT_RSA_BITS) -> PrivateKey:
    if algorithm == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "rsa":
        if rsa_bits < MIN_RSA_BITS:
            raise PkiError(f"RSA keys must have at least {MIN_RSA_BITS} bits (SW A00.FR.502)")
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    raise PkiError(f"unknown algorithm {algorithm!r}: use one of {', '.join(ALGORITHMS)}")


def _algorithm_of(key: object) -> str:
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ecdsa"
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "rsa"
    return type(key).__name__


def _key_weakness(key: object) -> str | None:
    """Why a public key is not acceptable (SW A00.FR.501-503), or None."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            return f"the RSA key has {key.key_size} bits, fewer than {MIN_RSA_BITS} (SW A00.FR.502)"
        return None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ALLOWED_CURVES:
            return (
                f"the elliptic curve {key.curve.name} is not accepted; use P-256 or P-384 "
                "(SW A00.FR.503)"
            )
        return None
    return f"the key type {type(key).__name__} is not accepted; use ECDSA P-256 or RSA 2048+"


def _pem_of_key(key: PrivateKey) -> bytes:
    # Unencrypted PKCS#8: the file mode (0600) protects it, as for any TLS server key; a
    # charger reads its key at every start without an operator at hand.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_new(path: Path, data: bytes, mode: int, *, replace_existing: bool) -> None:
    """Write `path` with `mode` from its creation on: a temporary file created O_EXCL with the
    mode, renamed over the target (atomic on POSIX). Without `replace_existing` an existing
    target is an error."""
    if path.exists() and not replace_existing:
        raise PkiError(f"{path} exists already; use --force (force=True) to replace it")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if replace_existing:
            os.replace(tmp, path)
        else:
            # link() fails if the target appeared meanwhile: never overwrite by accident.
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise PkiError(
                    f"{path} exists already; use --force (force=True) to replace it"
                ) from None
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _check_station_identity(identity: str) -> None:
    # A00.FR.511: the CN is the station's serial number, "SHALL NOT be in the format of a URL
    # or an IP address so that Charge Point certificates can be differentiated from Central
    # System certificates".
    if not identity or identity != identity.strip():
        raise PkiError(f"invalid station identity {identity!r}: empty or with outer spaces")
    if len(identity) > MAX_CN:
        raise PkiError(f"station identity {identity!r} is longer than {MAX_CN} characters")
    if any(ord(c) < 0x20 or c == "\x7f" for c in identity) or "/" in identity:
        raise PkiError(f"station identity {identity!r} holds '/' or control characters")
    if "://" in identity:
        raise PkiError(
            f"station identity {identity!r} looks like a URL; a station certificate's CN must "
            "not (SW A00.FR.511)"
        )
    try:
        ipaddress.ip_address(identity)
    except ValueError:
        return
    raise PkiError(
        f"station identity {identity!r} is an IP address; a station certificate's CN must not "
        "be (SW A00.FR.511)"
    )


def _check_host(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not re.fullmatch(
        r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9-]+)*\.?", host
    ):
        raise PkiError(f"{host!r} is neither a DNS name nor an IP address")
    if len(host) > MAX_CN:
        raise PkiError(f"host name {host!r} is longer than {MAX_CN} characters")
    return x509.DNSName(host.rstrip(".").lower())


class CertificateStore:
    """The CPO's certificate authority, in `directory` (created when the CA is).

    `create_ca()` once, then `issue_server()`, `issue_station()`, `sign_csr()`,
    `issue_firmware_signer()`; `list()`, `revoke()`, `is_revoked()`. Not safe for two processes
    writing at the same moment (one operator's tool, and later one CSMS process)."""

    def __init__(self, directory: str | os.PathLike[str] = DEFAULT_DIR) -> None:
        self.directory = Path(directory)
        self._crl_cache: tuple[tuple[int, int], x509.CertificateRevocationList] | None = None

    # -- paths -----------------------------------------------------------------------------

    @property
    def ca_cert_path(self) -> Path:
        """The root certificate (PEM): what stations trust, and `client_ca` of a profile-3
        CSMS."""
        return self.directory / "ca.pem"

    @property
    def ca_key_path(self) -> Path:
        """The root's private key (PEM, 0600)."""
        return self.directory / "private" / "ca.key"

    @property
    def crl_path(self) -> Path:
        """The CRL (PEM), rewritten at every revocation."""
        return self.directory / "crl.pem"

    @property
    def index_path(self) -> Path:
        """The index of issued certificates (JSON)."""
        return self.directory / "index.json"

    def path(self, relative: str) -> Path:
        """A file named in a `CertificateRecord`, as a path."""
        return self.directory / relative

    @property
    def exists(self) -> bool:
        """Whether the CA has been created."""
        return self.ca_cert_path.exists() and self.ca_key_path.exists()

    def _require_ca(self, *, key: bool = True) -> None:
        # Reading (the CA certificate, the CRL, the index) needs only ca.pem: a CSMS may run
        # with the CA's key kept elsewhere (SW A00.FR.602); issuing and revoking need the key.
        if not (self.ca_cert_path.exists() and (self.ca_key_path.exists() or not key)):
            raise PkiError(
                f"no certificate authority in {self.directory}: create it first with "
                f"`ocppfast certs init --org NAME --dir {self.directory}` (or "
                "CertificateStore.create_ca)"
            )

    def _make_dirs(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "certs").mkdir(mode=0o755, exist_ok=True)
        # The private keys' directory is the owner's only (A00.FR.602: well protected).
        private = self.directory / "private"
        if not private.exists():
            private.mkdir(mode=0o700)

    # -- the CA ----------------------------------------------------------------------------

    def create_ca(
        self,
        org: str,
        *,
        algorithm: Algorithm = "ecdsa",
        rsa_bits: int = DEFAULT_RSA_BITS,
        years: int = DEFAULT_CA_YEARS,
        common_name: str | None = None,
        force: bool = False,
    ) -> x509.Certificate:
        """Create the self-signed root CA of organisation `org` and an empty CRL.

        ECDSA P-256 by default, or RSA (`rsa_bits`, 3072 by default); valid `years` years;
        basicConstraints CA with path length 0 (it signs end-entity certificates only),
        keyUsage keyCertSign and cRLSign. Refuses to replace an existing CA unless `force`
        (which makes every certificate issued before it useless: start over)."""
        org = org.strip()
        if not org:
            raise PkiError("the organisation name (O, SW A00.FR.509) must not be empty")
        if years < 1:
            raise PkiError("a CA is valid for at least one year")
        if self.exists and not force:
            raise PkiError(
                f"a certificate authority already exists in {self.directory}; use --force "
                "to replace it (all certificates issued by it stop verifying)"
            )
        self._make_dirs()
        key = _new_key(algorithm, rsa_bits)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                x509.NameAttribute(
                    NameOID.COMMON_NAME, (common_name or f"{org} OCPP Root CA")[:MAX_CN]
                ),
            ]
        )
        now = _now()
        public = key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False
            )
        )
        certificate: x509.Certificate = self._sign(builder, key)
        _write_new(self.ca_key_path, _pem_of_key(key), KEY_MODE, replace_existing=force)
        _write_new(
            self.ca_cert_path,
            certificate.public_bytes(serialization.Encoding.PEM),
            CERT_MODE,
            replace_existing=force,
        )
        self._write_index([])
        self._crl_cache = None
        self.write_crl()
        return certificate

    @property
    def ca_certificate(self) -> x509.Certificate:
        """The root certificate."""
        self._require_ca(key=False)
        return x509.load_pem_x509_certificate(self.ca_cert_path.read_bytes())

    @property
    def organization(self) -> str:
        """The CA's organisation (its O): the default O of the certificates it issues."""
        values = self.ca_certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        return str(values[0].value) if values else ""

    def _ca_key(self) -> PrivateKey:
        self._require_ca()
        key = serialization.load_pem_private_key(self.ca_key_path.read_bytes(), password=None)
        if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
            raise PkiError(f"{self.ca_key_path} is not an ECDSA or RSA key")
        return key

    @staticmethod
    def _sign(builder: Any, key: PrivateKey) -> Any:
        # A00.FR.505/506: ECDSA, or RSA-PSS, with SHA-256.
        if isinstance(key, rsa.RSAPrivateKey):
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            return builder.sign(key, hashes.SHA256(), rsa_padding=pss)
        return builder.sign(key, hashes.SHA256())

    # -- issuing ---------------------------------------------------------------------------

    def issue_server(
        self,
        hosts: Sequence[str],
        *,
        org: str | None = None,
        algorithm: Algorithm | None = None,
        rsa_bits: int = DEFAULT_RSA_BITS,
        days: int = DEFAULT_SERVER_DAYS,
        force: bool = False,
    ) -> CertificateRecord:
        """Issue the CSMS's TLS server certificate for `hosts` (DNS names or IP addresses).

        CN = the first host (SW A00.FR.510), subjectAltName = every host, O = `org` (default:
        the CA's), extendedKeyUsage serverAuth. `algorithm` defaults to the CA's; a CSMS that
        serves both kinds of stations has one of each (the note of SW A00.FR.317), which get
        different file names."""
        if isinstance(hosts, str):
            hosts = [hosts]
        if not hosts:
            raise PkiError("give at least one host name or IP address")
        names = [_check_host(host) for host in hosts]
        first = hosts[0].rstrip(".")
        return self._issue(
            "server",
            first,
            org=org,
            algorithm=algorithm,
            rsa_bits=rsa_bits,
            days=days,
            force=force,
            eku=ExtendedKeyUsageOID.SERVER_AUTH,
            san=names,
            hosts=tuple(hosts),
        )

    def issue_station(
        self,
        identity: str,
        org: str | None = None,
        *,
        algorithm: Algorithm | None = None,
        rsa_bits: int = DEFAULT_RSA_BITS,
        days: int = DEFAULT_STATION_DAYS,
        force: bool = False,
    ) -> CertificateRecord:
        """Issue a charging station's TLS client certificate, with its private key.

        CN = `identity` (the station's unique serial number, SW A00.FR.405, A00.FR.511; not a
        URL or IP address, no subjectAltName), O = `org`, the operator (default: the CA's
        organisation; A00.FR.404, A00.FR.509), extendedKeyUsage clientAuth. One certificate per
        station (A00.FR.427): re-issuing with `force` revokes the previous one (superseded)."""
        _check_station_identity(identity)
        return self._issue(
            "station",
            identity,
            org=org,
            algorithm=algorithm,
            rsa_bits=rsa_bits,
            days=days,
            force=force,
            eku=ExtendedKeyUsageOID.CLIENT_AUTH,
        )

    def issue_firmware_signer(
        self,
        name: str = "firmware",
        org: str | None = None,
        *,
        algorithm: Algorithm | None = None,
        rsa_bits: int = DEFAULT_RSA_BITS,
        days: int = DEFAULT_FIRMWARE_DAYS,
        force: bool = False,
    ) -> CertificateRecord:
        """Issue a firmware signing certificate (extendedKeyUsage codeSigning), signed directly
        by the root: "The manufacturer SHALL NOT use intermediate certificates for the firmware
        signing certificate" (SW 4, L01 Secure Firmware Update, remarks).

        In the field this belongs to the Manufacturer hierarchy, a separate CA (SW 2.6.2,
        A00.FR.603): keep such a CA in a store of its own (another directory). Here for test
        benches and for the signed-firmware work to come."""
        return self._issue(
            "firmware",
            name,
            org=org,
            algorithm=algorithm,
            rsa_bits=rsa_bits,
            days=days,
            force=force,
            eku=ExtendedKeyUsageOID.CODE_SIGNING,
        )

    def _issue(
        self,
        kind: Kind,
        name: str,
        *,
        org: str | None,
        algorithm: Algorithm | None,
        rsa_bits: int,
        days: int,
        force: bool,
        eku: x509.ObjectIdentifier,
        san: Sequence[x509.GeneralName] = (),
        hosts: tuple[str, ...] = (),
    ) -> CertificateRecord:
        self._require_ca()
        if days < 1:
            raise PkiError("a certificate is valid for at least one day")
        ca_algorithm = _algorithm_of(self._ca_key())
        algorithm = algorithm or ca_algorithm  # type: ignore[assignment]
        if algorithm not in ALGORITHMS:
            raise PkiError(f"unknown algorithm {algorithm!r}: use one of {', '.join(ALGORITHMS)}")
        # A second certificate of the other algorithm for the same name gets its own files.
        stem = f"{kind}-{_safe_file_name(name)}"
        if algorithm != ca_algorithm:
            stem += f"-{algorithm}"
        cert_file = f"certs/{stem}.pem"
        key_file = f"private/{stem}.key"
        if not force:
            # Both checked before anything is written: no key without its certificate.
            for existing in (self.path(key_file), self.path(cert_file)):
                if existing.exists():
                    raise PkiError(
                        f"{existing} exists already: a {kind} certificate for {name!r} was "
                        "issued before. Use --force to replace it (the previous certificate "
                        "is revoked)"
                    )
        key = _new_key(algorithm, rsa_bits)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, org or self.organization),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        certificate = self._build(kind, subject, key.public_key(), days=days, eku=eku, san=san)
        _write_new(self.path(key_file), _pem_of_key(key), KEY_MODE, replace_existing=force)
        _write_new(
            self.path(cert_file),
            certificate.public_bytes(serialization.Encoding.PEM),
            CERT_MODE,
            replace_existing=force,
        )
        record = self._record(certificate, kind, name, cert_file, key_file, hosts)
        records = self.list()
        superseded = [
            r.serial
            for r in records
            if r.kind == kind and r.cert_file == cert_file and not r.revoked
        ]
        self._write_index([*records, record])
        if superseded:
            for serial in superseded:
                self.revoke(serial, reason="superseded")
        return record

    def _build(
        self,
        kind: str,
        subject: x509.Name,
        public: Any,
        *,
        days: int,
        eku: x509.ObjectIdentifier,
        san: Sequence[x509.GeneralName] = (),
    ) -> x509.Certificate:
        ca = self.ca_certificate
        ca_key = self._ca_key()
        now = _now()
        not_after = min(now + datetime.timedelta(days=days), ca.not_valid_after_utc)
        is_rsa = isinstance(public, rsa.RSAPublicKey)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())  # A00.FR.508
            .not_valid_before(now - BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                # A00.FR.512. keyEncipherment only for an RSA TLS server: the TLS_RSA_* suites
                # of A00.FR.317 transport the premaster secret under the server's key.
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=is_rsa and kind == "server",
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(san)), critical=False)
        certificate: x509.Certificate = self._sign(builder, ca_key)
        return certificate

    @staticmethod
    def _record(
        certificate: x509.Certificate,
        kind: str,
        name: str,
        cert_file: str,
        key_file: str | None,
        hosts: tuple[str, ...] = (),
    ) -> CertificateRecord:
        return CertificateRecord(
            serial=serial_text(certificate.serial_number),
            kind=kind,
            name=name,
            subject=certificate.subject.rfc4514_string(),
            algorithm=_algorithm_of(certificate.public_key()),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            cert_file=cert_file,
            key_file=key_file,
            hosts=hosts,
        )

    # -- certificate signing requests (SignCertificate, SW A02/A03, 2.0.1 A02/A03) ---------

    def check_csr(
        self, csr_pem: str | bytes, expected_identity: str, *, org: str | None = None
    ) -> str | None:
        """Why the CSR of station `expected_identity` must not be signed, or None.

        Refused: not a PEM PKCS#10 request (A02.FR.03); a signature that does not verify, or
        one made with a weak hash (A00.FR.504); a CN other than the identity (A00.FR.405); no
        O, or with `org` given an O other than it (A02.FR.13, A00.FR.404); a weak key
        (A00.FR.501-503: RSA under 2048 bits, an elliptic curve other than P-256/P-384)."""
        try:
            self._parse_csr(csr_pem, expected_identity, org)
        except CsrRejected as error:
            return error.reason
        return None

    def _parse_csr(
        self, csr_pem: str | bytes, expected_identity: str, org: str | None
    ) -> x509.CertificateSigningRequest:
        data = csr_pem.encode() if isinstance(csr_pem, str) else csr_pem
        try:
            csr = x509.load_pem_x509_csr(data)
        except ValueError:
            raise CsrRejected(
                "not a PEM-encoded PKCS#10 certificate signing request (SW A02.FR.03)"
            ) from None
        try:
            public = csr.public_key()
        except (ValueError, UnsupportedAlgorithm):
            raise CsrRejected("the CSR's public key cannot be read") from None
        weakness = _key_weakness(public)
        if weakness:
            raise CsrRejected(weakness)
        try:
            signature_valid = csr.is_signature_valid
        except (ValueError, UnsupportedAlgorithm):
            signature_valid = False
        if not signature_valid:
            raise CsrRejected(
                "the CSR's signature does not verify with its public key: the request was "
                "altered or not made with the station's key"
            )
        hash_algorithm = csr.signature_hash_algorithm
        if hash_algorithm is None or hash_algorithm.name in WEAK_HASHES:
            used = hash_algorithm.name if hash_algorithm else "none"
            raise CsrRejected(f"the CSR is signed with {used}; use SHA-256 (SW A00.FR.504)")
        common_names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if len(common_names) != 1:
            raise CsrRejected(
                f"the CSR's subject has {len(common_names)} CNs; it needs exactly one, the "
                f"station's identity {expected_identity!r} (SW A00.FR.405)"
            )
        cn = str(common_names[0].value)
        if cn != expected_identity:
            raise CsrRejected(
                f"the CSR's CN {cn!r} is not the station's identity {expected_identity!r} "
                "(SW A00.FR.405, A00.FR.511)"
            )
        organizations = csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        if len(organizations) != 1:
            raise CsrRejected(
                "the CSR's subject needs exactly one O, the operator's name (CpoName, SW "
                "A02.FR.13, A00.FR.509)"
            )
        o = str(organizations[0].value)
        if org is not None and o != org:
            raise CsrRejected(
                f"the CSR's O {o!r} is not the operator {org!r} (SW A02.FR.13, A00.FR.404)"
            )
        return csr

    def sign_csr(
        self,
        csr_pem: str | bytes,
        expected_identity: str,
        *,
        org: str | None = None,
        days: int = DEFAULT_STATION_DAYS,
    ) -> CertificateRecord:
        """Sign a station's CSR (the SignCertificate flow, SW A02/A03): a station certificate
        for `expected_identity`, with the CSR's public key and the subject CN and O it asked
        for, extensions set here (clientAuth), never copied from the request.

        Raises `CsrRejected` with the reason (see `check_csr`). The private key stays on the
        station (A02.FR.05): the record has no key file. The certificate is written to its own
        file (certs/station-ID-SERIAL.pem): the station keeps using its current certificate
        until it has switched (A02.FR.08-10), so nothing is revoked here."""
        self._require_ca()
        _check_station_identity(expected_identity)
        csr = self._parse_csr(csr_pem, expected_identity, org)
        subject = x509.Name(
            [
                x509.NameAttribute(
                    NameOID.ORGANIZATION_NAME,
                    str(csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value),
                ),
                x509.NameAttribute(NameOID.COMMON_NAME, expected_identity),
            ]
        )
        certificate = self._build(
            "station",
            subject,
            csr.public_key(),
            days=days,
            eku=ExtendedKeyUsageOID.CLIENT_AUTH,
        )
        serial = serial_text(certificate.serial_number)
        cert_file = f"certs/station-{_safe_file_name(expected_identity)}-{serial[:12]}.pem"
        _write_new(
            self.path(cert_file),
            certificate.public_bytes(serialization.Encoding.PEM),
            CERT_MODE,
            replace_existing=False,
        )
        record = self._record(certificate, "station", expected_identity, cert_file, None)
        self._write_index([*self.list(), record])
        return record

    # -- the index -------------------------------------------------------------------------

    def list(self) -> builtins.list[CertificateRecord]:
        """Every certificate issued, in issuing order (the root CA is not listed)."""
        if not self.index_path.exists():
            self._require_ca(key=False)
            return []
        data = json.loads(self.index_path.read_text())
        return [CertificateRecord.from_json(entry) for entry in data.get("certificates", [])]

    def _write_index(self, records: Iterable[CertificateRecord]) -> None:
        text = json.dumps({"version": 1, "certificates": [r.to_json() for r in records]}, indent=2)
        _write_new(self.index_path, (text + "\n").encode(), CERT_MODE, replace_existing=True)

    def get(self, serial: str | int) -> CertificateRecord:
        """The record of `serial`: an int, or hexadecimal (colons and case ignored); a unique
        prefix of at least 8 hex digits will do. Raises `PkiError` when none or several
        match."""
        if isinstance(serial, int):
            wanted = serial_text(serial)
            matches = [r for r in self.list() if r.serial == wanted]
        else:
            wanted = serial.replace(":", "").strip().upper().removeprefix("0X")
            if not re.fullmatch(r"[0-9A-F]+", wanted):
                raise PkiError(f"{serial!r} is not a hexadecimal serial number")
            wanted = wanted.lstrip("0") or "0"
            records = self.list()
            matches = [r for r in records if r.serial == wanted]
            if not matches and len(wanted) >= 8:
                matches = [r for r in records if r.serial.startswith(wanted)]
        if not matches:
            raise PkiError(
                f"no certificate with serial {serial} in {self.directory} (ocppfast certs list)"
            )
        if len(matches) > 1:
            raise PkiError(f"serial {serial} is ambiguous: give more digits")
        return matches[0]

    def find(self, kind: str, name: str) -> builtins.list[CertificateRecord]:
        """The records of `kind` issued for `name` (an identity, host or signer name)."""
        return [r for r in self.list() if r.kind == kind and r.name == name]

    # -- revocation ------------------------------------------------------------------------

    def revoke(self, serial: str | int, *, reason: str = "unspecified") -> CertificateRecord:
        """Revoke the certificate `serial` (see `get`): mark the index and rewrite the CRL.
        `reason` is one of `REASONS`. Revoking a revoked certificate changes nothing."""
        if reason not in _REASONS:
            raise PkiError(f"unknown revocation reason {reason!r}: one of {', '.join(REASONS)}")
        record = self.get(serial)
        if record.revoked:
            return record
        revoked = replace(record, revoked_at=_now(), revocation_reason=reason)
        self._write_index(revoked if r.serial == record.serial else r for r in self.list())
        self.write_crl()
        return revoked

    def write_crl(self, *, days: int = DEFAULT_CRL_DAYS) -> x509.CertificateRevocationList:
        """(Re)write the CRL from the index, signed by the CA, next update in `days`: run it
        (`ocppfast certs crl`) before then if anything else reads the CRL file."""
        ca = self.ca_certificate
        ca_key = self._ca_key()
        now = _now()
        records = self.list() if self.index_path.exists() else []
        previous = 0
        if self.crl_path.exists():
            try:
                old = x509.load_pem_x509_crl(self.crl_path.read_bytes())
                previous = old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
            except (ValueError, x509.ExtensionNotFound):
                previous = 0
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.subject)
            .last_update(now)
            .next_update(now + datetime.timedelta(days=days))
            .add_extension(x509.CRLNumber(previous + 1), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        for record in records:
            if record.revoked_at is None:
                continue
            entry = (
                x509.RevokedCertificateBuilder()
                .serial_number(int(record.serial, 16))
                .revocation_date(record.revoked_at)
            )
            flag = _REASONS.get(record.revocation_reason or "unspecified")
            if flag is not None and flag is not x509.ReasonFlags.unspecified:
                entry = entry.add_extension(x509.CRLReason(flag), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        crl: x509.CertificateRevocationList = self._sign(builder, ca_key)
        _write_new(
            self.crl_path,
            crl.public_bytes(serialization.Encoding.PEM),
            CERT_MODE,
            replace_existing=True,
        )
        self._crl_cache = None
        return crl

    def crl(self) -> x509.CertificateRevocationList:
        """The current CRL, checked against the CA's key (re-read when the file changed).
        Raises `PkiError` when it is missing or its signature does not verify."""
        self._require_ca(key=False)
        try:
            stat = self.crl_path.stat()
        except FileNotFoundError:
            raise PkiError(
                f"{self.crl_path} is missing: rewrite it with `ocppfast certs crl`"
            ) from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._crl_cache is not None and self._crl_cache[0] == stamp:
            return self._crl_cache[1]
        crl = x509.load_pem_x509_crl(self.crl_path.read_bytes())
        public = self.ca_certificate.public_key()
        if not crl.is_signature_valid(public):  # type: ignore[arg-type]
            raise PkiError(f"{self.crl_path} is not signed by the CA: it was altered")
        self._crl_cache = (stamp, crl)
        return crl

    def is_revoked(self, certificate: x509.Certificate | bytes) -> bool:
        """Whether `certificate` (an x509.Certificate, or its DER or PEM bytes), issued by this
        CA, is on the CRL. A certificate of another issuer is not this CRL's business: False
        (its chain does not verify against this CA anyway). Fails closed: a CRL that is
        missing or not signed by the CA raises `PkiError`."""
        if isinstance(certificate, bytes):
            if certificate.lstrip().startswith(b"-----"):
                certificate = x509.load_pem_x509_certificate(certificate)
            else:
                certificate = x509.load_der_x509_certificate(certificate)
        if certificate.issuer != self.ca_certificate.subject:
            return False
        crl = self.crl()
        return crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None

    def verify(self, certificate: x509.Certificate) -> None:
        """Check that `certificate` was signed by this CA (raises `PkiError` otherwise)."""
        try:
            certificate.verify_directly_issued_by(self.ca_certificate)
        except (ValueError, TypeError, InvalidSignature) as error:
            raise PkiError(f"not issued by this CA: {error or type(error).__name__}") from None
