"""The station's certificates: its installed root certificates and its own TLS certificate.

One `StationCertificates` per station (`Station16.certificates`, `StationV2.certificates`),
kept in the station's `StationData` (state "certificates"), so a restart loses nothing:

- Root certificates by use, named by the 2.x InstallCertificateUseEnum ("CSMSRootCertificate",
  "ManufacturerRootCertificate", "V2GRootCertificate", "MORootCertificate", 2.1's others); the
  1.6 names map onto them (`USE_OF_16`). InstallCertificate, GetInstalledCertificateIds and
  DeleteCertificate (SW M03-M05; 2.x M03-M05) work on them (`install_root`, `installed`,
  `delete`).
- The station's own certificate (security profile 3) with its private key, the one kept as
  fallback after a renewal, and the key of a renewal under way (SW A02/A03; 2.x A02/A03):
  `new_csr` makes the key pair and the CSR, `accept_signed` checks CertificateSigned's chain and
  installs it, `tls_context` is what the client connects with, `connect_failed` /
  `connected` fall back to the previous certificate when the new one does not work.

The private keys are kept in the station's data file like everything else it keeps: a real
charger keeps them in a secure element or TPM (SW A02.FR.05: the key never leaves the station
and is not readable over OCPP). No log line holds a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
import logging
import os
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..security.hashdata import certificate_hash_data, matches
from ..security.tls import client_context

__all__ = [
    "RENEWAL_MARGIN",
    "ROOT_USES",
    "STATE",
    "USE_OF_16",
    "Provisioned",
    "StationCertificates",
]

log = logging.getLogger("ocppfast.station")

STATE = "certificates"
"""The `StationData.state` entry that holds them."""

ROOT_USES = (
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
    "V2GRootCertificate",
    "MORootCertificate",
    # 2.1 InstallCertificateUseEnumType adds these two.
    "OEMRootCertificate",
    "V2G20RootCertificate",
)
"""The root certificate uses (2.x InstallCertificateUseEnum values)."""

USE_OF_16 = {
    "CentralSystemRootCertificate": "CSMSRootCertificate",
    "ManufacturerRootCertificate": "ManufacturerRootCertificate",
}
"""SW CertificateUseEnumType -> the 2.x name used here."""

RENEWAL_MARGIN = datetime.timedelta(days=30)
"""A03.FR.02: the station renews its certificate when it "will expire in one month"."""

FALLBACK_KEPT = datetime.timedelta(days=30)
"""A02.FR.10 / A03.FR.10: "It is RECOMMENDED to store old certificates for one month, as
fallback"."""

DEFAULT_CAPACITY = 16
"""Root certificates the store holds (1.6 CertificateStoreMaxLength, 2.x
SecurityCtrlr.CertificateEntries' maxLimit)."""

DEFAULT_MAX_CHAIN_SIZE = 10_000
"""CertificateSignedMaxChainSize (SW 7.3: at most 10 000 characters, the message's limit)."""

OWN = "ChargingStationCertificate"
"""The kind of the station's own TLS client certificate (2.x CertificateSigningUseEnum)."""


@dataclass(frozen=True)
class Provisioned:
    """What a station is set up with at start-up (`ocppfast station --ca/--cert/--key/--pki`,
    `--manufacturer-root`): the CSMS root certificate(s) PEM, its certificate (chain) PEM and
    private key PEM, the manufacturer root certificate(s) PEM that signed firmware must chain
    to (SW L01.FR.02)."""

    csms_root: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = None
    manufacturer_root: bytes | None = None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _load_chain(pem: str | bytes) -> list[x509.Certificate]:
    """The certificates of a PEM text, in order; ValueError when there is none or one is bad."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    certificates = x509.load_pem_x509_certificates(data)
    if not certificates:
        raise ValueError("no certificate in the PEM text")
    return certificates


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return bool(constraints.value.ca)


def _common_name(certificate: x509.Certificate) -> str | None:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else None
    return value if isinstance(value, str) else None


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except Exception:  # InvalidSignature, or ValueError/TypeError for another key type
        return False
    return True


def _private_key(pem: str) -> Any:
    return serialization.load_pem_private_key(pem.encode("ascii"), password=None)


def _key_pem(key: Any) -> str:
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return data.decode("ascii")


def _same_key(a: Any, b: Any) -> bool:
    form = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return bool(a.public_bytes(*form) == b.public_bytes(*form))


def _server_not_trusted(error: BaseException) -> bool:
    """Whether a failed connection attempt is the station refusing the CSMS's server
    certificate (TLS verification failed on the station's side)."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _blames_certificate(error: BaseException) -> bool:
    """Whether a failed connection attempt may be the station certificate's fault: the CSMS
    refused the handshake (HTTP 401/403) or the TLS session broke (a rejected client
    certificate shows as an alert or a reset during or right after the handshake). An
    unreachable CSMS or a timeout says nothing about the certificate."""
    status = getattr(error, "status", None)
    if status is not None:
        return status in (401, 403)
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, (ConnectionRefusedError, TimeoutError, asyncio.TimeoutError)):
            return False
        if isinstance(cause, (ssl.SSLError, ConnectionResetError, EOFError)):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


class StationCertificates:
    """A station's root certificates and own certificate; see the module docstring.

    - `data`: the station's `StationData` (state `STATE`).
    - `identity`: the station's identity: the CN of its certificate (A00.FR.405).
    - `wrote`: told of each write's commit (the station's write barrier); optional.
    - `security_event`: raises a security event (type, techInfo) in the station's plumbing.
    - `invalid_event`: the event of a certificate that fails the A02.FR.06 checks (1.6
      InvalidChargePointCertificate, 2.x InvalidChargingStationCertificate).
    - `capacity`: how many root certificates fit (M05.FR.03).
    - `clock`: the station's clock (timezone-aware).

    `ssl_changed` (settable, set by `attach`): called with the new TLS context when the
    certificate to connect with changes (a renewal installed, a fallback taken)."""

    def __init__(
        self,
        data: Any,
        identity: str,
        *,
        wrote: Callable[[asyncio.Future[None]], Any] | None = None,
        security_event: Callable[[str, str], Any] | None = None,
        invalid_event: str = "InvalidChargingStationCertificate",
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], datetime.datetime] = _now,
        logger: Any = None,
    ) -> None:
        self.data = data
        self.identity = identity
        self.capacity = capacity
        self.clock = clock
        self.invalid_event = invalid_event
        self.security_event = security_event
        self.ssl_changed: Callable[[ssl.SSLContext], Any] | None = None
        self.max_chain_size = DEFAULT_MAX_CHAIN_SIZE
        # AS-2 AdditionalRootCertificateCheck (SW M05.FR.08-13; 2.x TC_B_47_CS, TC_B_50_CS):
        # one CSMS root at a time; a new one must be signed by it and replaces it, which stays
        # as fallback (its record has "fallback": "true") until the new one connected.
        self.additional_root_check = False
        # M05.FR.13 (SW; 2.x TC_B_47_CS step 9): the new root did not verify the CSMS's server
        # certificate, so the fallback root is trusted too (until the next root install or
        # restart: each new connection tries the new root alone first).
        self._trust_fallback_root = False
        self.log = logger if logger is not None else log
        self._wrote = wrote
        self._client: Any = None
        self._check_hostname = True
        self._base_cas: bytes = b""
        self._renewal: asyncio.Task[None] | None = None
        # A05: the client's URL and TLS context before a security profile upgrade, and what
        # undoes the station's side of it, until a connection with the new profile worked.
        self._upgrade: tuple[str, ssl.SSLContext | None, Callable[[], Any]] | None = None
        self._signed = asyncio.Event()
        saved = data.state.get(STATE) or {}
        # [{"use": ..., "pem": ...}], in the order installed.
        self._roots: list[dict[str, str]] = list(saved.get("roots", ()))
        # {"cert": chain PEM, "key": key PEM} of the certificate connected with, or None.
        self._own: dict[str, Any] | None = saved.get("own")
        # The previous one after a renewal, kept as fallback (A02.FR.10), with "until".
        self._fallback: dict[str, Any] | None = saved.get("fallback")
        # True from a renewal's install until a connection with it worked.
        self._unconfirmed: bool = bool(saved.get("unconfirmed", False))
        # The renewal under way: {"key": PEM, "csr": PEM, "type": ...}; kept so that a
        # CertificateSigned arriving after a restart still finds its key.
        self._pending: dict[str, Any] | None = saved.get("pending")

    # -- persistence ---------------------------------------------------------------------------

    def _save(self) -> None:
        state = {
            "roots": self._roots,
            "own": self._own,
            "fallback": self._fallback,
            "unconfirmed": self._unconfirmed,
            "pending": self._pending,
        }
        stored = self.data.set_state(STATE, state)
        if self._wrote is not None:
            self._wrote(stored)

    def _event(self, kind: str, info: str) -> None:
        if self.security_event is not None:
            self.security_event(kind, info)

    # -- root certificates (M03-M05) -----------------------------------------------------------

    def roots(self, use: str) -> list[x509.Certificate]:
        """The installed root certificates of `use` (a 2.x InstallCertificateUseEnum value or a
        1.6 CertificateUseEnumType value), oldest first."""
        use = USE_OF_16.get(use, use)
        return [_load_chain(r["pem"])[0] for r in self._roots if r["use"] == use]

    def install_root(self, use: str, pem: str, *, full_status: str = "Failed") -> str:
        """Install a root certificate of `use` (M05): "Accepted", or "Rejected" when the PEM is
        not one certificate of a CA valid now (M05.FR.06), or `full_status` when the store holds
        `capacity` certificates already (2.x "Failed"; the 1.6 M05.FR.03 says "Rejected"). The
        same certificate installed again for the same use is Accepted without a second copy."""
        use = USE_OF_16.get(use, use)
        if use not in ROOT_USES:
            self.log.info(
                "%s: InstallCertificate: %s is no root certificate use", self.identity, use
            )
            return "Rejected"
        try:
            chain = _load_chain(pem)
        except (ValueError, TypeError) as exc:
            self.log.info(
                "%s: InstallCertificate %s: not a PEM certificate (%s)", self.identity, use, exc
            )
            return "Rejected"
        certificate = chain[0]
        now = self.clock()
        why = ""
        if not _is_ca(certificate):
            why = "it is not a CA certificate (basicConstraints cA)"
        elif not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            why = (
                f"it is not valid now (valid {certificate.not_valid_before_utc:%Y-%m-%d} to "
                f"{certificate.not_valid_after_utc:%Y-%m-%d})"
            )
        if why:
            self.log.info("%s: InstallCertificate %s rejected: %s", self.identity, use, why)
            return "Rejected"
        text = _pem(certificate)
        if any(r["use"] == use and r["pem"] == text for r in self._roots):
            return "Accepted"
        if use == "CSMSRootCertificate" and self.additional_root_check:
            current = [r for r in self._roots if r["use"] == use and not r.get("fallback")]
            if current:
                return self._replace_csms_root(certificate, text, current[-1])
        if len(self._roots) >= self.capacity:
            self.log.info(
                "%s: InstallCertificate %s: the store is full (%d certificates)",
                self.identity,
                use,
                self.capacity,
            )
            return full_status
        self._roots.append({"use": use, "pem": text})
        self._save()
        self.log.info(
            "%s: installed a %s: %s (serial %x)",
            self.identity,
            use,
            certificate.subject.rfc4514_string(),
            certificate.serial_number,
        )
        if use == "CSMSRootCertificate":
            # A TLS connection trusts it from the next connection on (TC_B_50_CS: the new
            # CSMS's server certificate is signed by it), not only after a restart.
            self._changed()
        return "Accepted"

    def _replace_csms_root(
        self, certificate: x509.Certificate, text: str, current: dict[str, Any]
    ) -> str:
        """AdditionalRootCertificateCheck (SW M05.FR.09-11): `certificate` replaces the CSMS
        root `current` if `current` signed it (else Rejected, M05.FR.10); `current` stays as
        the only fallback root (M05.FR.08/11), dropped once the new one connected
        (`connected`, M05.FR.12)."""
        old = _load_chain(current["pem"])[0]
        if certificate.issuer != old.subject or not _signed_by(certificate, old):
            self.log.info(
                "%s: InstallCertificate CSMSRootCertificate rejected: it is not signed by the "
                "CSMS root it would replace (%s; AdditionalRootCertificateCheck, M05.FR.10)",
                self.identity,
                old.subject.rfc4514_string(),
            )
            return "Rejected"
        kept = [r for r in self._roots if r["use"] != "CSMSRootCertificate"]
        self._roots = [*kept, {**current, "fallback": "true"}, {"use": current["use"], "pem": text}]
        self._trust_fallback_root = False
        self._save()
        self.log.info(
            "%s: installed a CSMSRootCertificate: %s (serial %x); the previous one is kept as "
            "fallback until a connection with the new one works (M05.FR.11)",
            self.identity,
            certificate.subject.rfc4514_string(),
            certificate.serial_number,
        )
        self._changed()  # the next connection trusts the new root alone (M05.FR.13)
        return "Accepted"

    def _issuer_of(self, certificate: x509.Certificate) -> x509.Certificate:
        """The installed root that issued `certificate`, else itself (a self-signed root)."""
        if certificate.issuer != certificate.subject:
            for record in self._roots:
                candidate = _load_chain(record["pem"])[0]
                if candidate.subject == certificate.issuer and _signed_by(certificate, candidate):
                    return candidate
        return certificate

    def _with_issuer(
        self, certificate: x509.Certificate
    ) -> tuple[x509.Certificate, x509.Certificate]:
        return certificate, self._issuer_of(certificate)

    def installed(self, uses: list[str] | None = None) -> list[tuple[str, dict[str, str]]]:
        """(use, CertificateHashDataType) of the installed roots of `uses` (None: all), oldest
        first (M03.FR.04)."""
        wanted = None if uses is None else {USE_OF_16.get(u, u) for u in uses}
        found = []
        for record in self._roots:
            if wanted is not None and record["use"] not in wanted:
                continue
            certificate = _load_chain(record["pem"])[0]
            found.append(
                (record["use"], certificate_hash_data(certificate, self._issuer_of(certificate)))
            )
        return found

    def delete(self, hash_data: Any, *, tls_in_use: bool | None = None) -> str:
        """Delete the root certificate `hash_data` names (M04): "Accepted", "NotFound" (M04.FR.04),
        or "Failed" for the station's own certificate (M04.FR.05) and for the last CSMS root
        while the connection to the CSMS is validated with it (M04.FR.06; `tls_in_use`: None
        asks the attached client whether it connects over TLS)."""
        own = self.own_chain()
        if own:
            issuer = own[1] if len(own) > 1 else self._issuer_of(own[0])
            if matches(hash_data, own[0], issuer):
                self.log.info(
                    "%s: DeleteCertificate: refused, it is the station's own certificate "
                    "(M04.FR.05)",
                    self.identity,
                )
                return "Failed"
        # One certificate installed for several uses is one certificate: all its copies go.
        found = [
            record
            for record in self._roots
            if matches(hash_data, *self._with_issuer(_load_chain(record["pem"])[0]))
        ]
        if not found:
            return "NotFound"
        if tls_in_use is None:
            tls_in_use = self._client is not None and self._client.ssl is not None
        csms_roots = [r for r in self._roots if r["use"] == "CSMSRootCertificate"]
        if tls_in_use and csms_roots and all(r in found for r in csms_roots):
            self.log.info(
                "%s: DeleteCertificate: refused, it is the only CSMS root certificate and "
                "validates the connection to the CSMS (M04.FR.06)",
                self.identity,
            )
            return "Failed"
        self._roots = [r for r in self._roots if r not in found]
        self._save()
        certificate = _load_chain(found[0]["pem"])[0]
        self.log.info(
            "%s: deleted the %s %s",
            self.identity,
            " and ".join(r["use"] for r in found),
            certificate.subject.rfc4514_string(),
        )
        return "Accepted"

    # -- the station's own certificate (A02, A03) ------------------------------------------------

    def own_chain(self) -> list[x509.Certificate]:
        """The station's certificate (first) and the CA certificates sent with it; [] without."""
        if self._own is None:
            return []
        return _load_chain(self._own["cert"])

    @property
    def certificate(self) -> x509.Certificate | None:
        """The station's certificate it connects with (security profile 3), or None."""
        chain = self.own_chain()
        return chain[0] if chain else None

    @property
    def fallback(self) -> x509.Certificate | None:
        """The previous certificate, kept after a renewal as fallback (A02.FR.10), or None."""
        return _load_chain(self._fallback["cert"])[0] if self._fallback else None

    @property
    def pending(self) -> bool:
        """Whether a renewal waits for its CertificateSigned."""
        return self._pending is not None

    @property
    def renewing(self) -> bool:
        """Whether a renewal still sends or waits (`renew`); False once it has its certificate,
        was rejected or gave up."""
        return self._renewal is not None and not self._renewal.done()

    def provision(self, provisioned: Provisioned) -> None:
        """Take the start-up configuration (`ocppfast station --ca`, `--cert/--key`, `--pki`):
        the CSMS root is installed (as InstallCertificate would); the certificate and key
        become the station's unless the store holds a renewal of it (the given one is its
        fallback, or starts no later: A02.FR.09, the newest one wins)."""
        for use, given in (
            ("CSMSRootCertificate", provisioned.csms_root),
            ("ManufacturerRootCertificate", provisioned.manufacturer_root),
        ):
            for certificate in _load_chain(given) if given else ():
                status = self.install_root(use, _pem(certificate))
                if status != "Accepted":
                    self.log.warning(
                        "%s: the %s given was not installed (%s)", self.identity, use, status
                    )
        if provisioned.cert and provisioned.key:
            chain = _load_chain(provisioned.cert)
            current = self.certificate
            if current is not None and current == chain[0]:
                return
            # The certificate given at start is the one the renewal replaced (kept as
            # fallback), or not newer than the stored one: the renewed one stays.
            replaced = self.fallback is not None and self.fallback == chain[0]
            if current is not None and (
                replaced or current.not_valid_before_utc >= chain[0].not_valid_before_utc
            ):
                self.log.info(
                    "%s: keeps its renewed certificate (serial %x), newer than the one given",
                    self.identity,
                    current.serial_number,
                )
                return
            key = serialization.load_pem_private_key(provisioned.key, password=None)
            self._own = {"cert": "".join(_pem(c) for c in chain), "key": _key_pem(key)}
            self._fallback = None
            self._unconfirmed = False
            self._save()

    def organization(self, configured: str, default: str) -> str:
        """The O of a CSR (A02.FR.13): the configured CpoName / SecurityCtrlr.OrganizationName;
        while it is still the factory `default` (the vendor's name), the O of the current
        certificate, which the CPO's CA wrote (A00.FR.404) and checks again when it signs."""
        if configured and configured != default:
            return configured
        certificate = self.certificate
        if certificate is not None:
            names = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
            if names and isinstance(names[0].value, str):
                return names[0].value
        return configured

    def expires_soon(self) -> bool:
        """A03.FR.02: the certificate expires within `RENEWAL_MARGIN`."""
        certificate = self.certificate
        return certificate is not None and (
            certificate.not_valid_after_utc - self.clock() <= RENEWAL_MARGIN
        )

    def new_csr(self, organization: str, kind: str = OWN) -> str:
        """A new key pair and its CSR (A02.FR.02/03, PKCS#10, PEM): ECDSA P-256, or RSA of the
        current key's size when the current key is RSA; subject CN = identity (A00.FR.405),
        O = `organization` (A02.FR.13: CpoName, 2.x SecurityCtrlr.OrganizationName). The key
        is kept (pending) until its certificate comes."""
        current = _private_key(self._own["key"]) if self._own else None
        key: Any
        if isinstance(current, rsa.RSAPrivateKey):
            key = rsa.generate_private_key(65537, max(current.key_size, 2048))
        else:
            key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.NameAttribute(NameOID.COMMON_NAME, self.identity)]
        if organization:
            names.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name(names))
            .sign(key, hashes.SHA256())
        )
        text = csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
        self._pending = {"key": _key_pem(key), "csr": text, "type": kind}
        self._save()
        return text

    def accept_signed(self, chain_pem: str, kind: str = OWN) -> tuple[bool, str]:
        """Check and install the certificate (chain, leaf first) of a CertificateSigned
        (A02.FR.06): it is for the pending key, CN = identity, valid now, and chains to an
        installed CSMS root or to the CA of the current certificate. (True, "") when installed:
        used from the next connection on (A02.FR.08); (False, why) otherwise, with the security
        event (A02.FR.07)."""
        why = self._check_signed(chain_pem, kind)
        if why:
            self.log.warning("%s: CertificateSigned rejected: %s", self.identity, why)
            self._event(self.invalid_event, why)
            return False, why
        assert self._pending is not None
        chain = _load_chain(chain_pem)
        previous = self._own
        self._own = {"cert": "".join(_pem(c) for c in chain), "key": self._pending["key"]}
        if previous is not None:
            self._fallback = dict(previous, until=(self.clock() + FALLBACK_KEPT).isoformat())
        self._unconfirmed = previous is not None
        self._pending = None
        self._save()
        self._signed.set()
        self._changed()  # the client's next attempt presents it
        self.log.info(
            "%s: installed its new certificate (serial %x, valid until %s); it connects with "
            "it from the next connection on",
            self.identity,
            chain[0].serial_number,
            f"{chain[0].not_valid_after_utc:%Y-%m-%d}",
        )
        return True, ""

    def _check_signed(self, chain_pem: str, kind: str) -> str:
        if not isinstance(chain_pem, str) or len(chain_pem) > self.max_chain_size:
            return f"the chain is longer than CertificateSignedMaxChainSize ({self.max_chain_size})"
        if self._pending is None or self._pending.get("type", OWN) != kind:
            return f"no {kind} signing request is pending"
        try:
            chain = _load_chain(chain_pem)
        except ValueError as exc:
            return f"not a PEM certificate chain ({exc})"
        leaf = chain[0]
        now = self.clock()
        if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
            return (
                f"not valid now (valid {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} to "
                f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)"
            )
        if _common_name(leaf) != self.identity:
            return f"its CN {_common_name(leaf)!r} is not this station's identity"
        if _is_ca(leaf):
            return "it is a CA certificate"
        try:
            usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            if ExtendedKeyUsageOID.CLIENT_AUTH not in usage:
                return "its extendedKeyUsage lacks clientAuth"
        except x509.ExtensionNotFound:
            pass
        try:
            if not _same_key(leaf.public_key(), _private_key(self._pending["key"]).public_key()):
                return "its public key is not the one of the signing request"
        except (ValueError, TypeError) as exc:
            return f"its public key cannot be read ({exc})"
        for child, parent in itertools.pairwise(chain):
            if not _signed_by(child, parent):
                return f"{child.subject.rfc4514_string()} is not signed by the next certificate"
        anchors = self.roots("CSMSRootCertificate")
        own = self.own_chain()
        if own:
            anchors += own[1:]  # the CA(s) that signed the current certificate, if sent along
        top = chain[-1]
        if any(top == anchor for anchor in anchors) or any(
            _signed_by(top, anchor) for anchor in anchors
        ):
            return ""
        # A chain naming the current certificate's CA without holding it is not enough: a forged
        # CA can take any name. Only a signature of a certificate the station holds counts.
        return "it does not chain to an installed CSMS root certificate"

    # -- connecting with it ----------------------------------------------------------------------

    def attach(self, client: Any) -> None:
        """Have `client` (an asyncio `Client`) connect with the stored certificate: its TLS
        context is rebuilt from this store when the store holds a certificate (trusting the
        installed CSMS roots, else the CAs of the context it had), and is changed when a
        renewal is installed or a fallback taken. Its failed attempts are watched for the
        fallback (`connect_failed`)."""
        self._client = client
        base = client.ssl
        if base is not None:
            self._check_hostname = base.check_hostname
            self._base_cas = b"".join(
                ssl.DER_cert_to_PEM_cert(der).encode("ascii")
                for der in base.get_ca_certs(binary_form=True)
            )
            if self._own is not None:
                client.ssl = self.tls_context()
        self.ssl_changed = lambda context: setattr(client, "ssl", context)
        previous = client.attempt_failed

        def failed(error: Any) -> None:
            self.connect_failed(error)
            if previous is not None:
                previous(error)

        client.attempt_failed = failed

    def tls_context(self) -> ssl.SSLContext:
        """The client TLS context (security profiles 2 and 3, `security.tls.client_context`):
        trusts the installed CSMS roots (else the attached client's original CAs, else the
        system's), presents the station's certificate when it has one."""
        trusted = [
            _load_chain(r["pem"])[0]
            for r in self._roots
            if r["use"] == "CSMSRootCertificate"
            and (self._trust_fallback_root or not r.get("fallback"))
        ]
        roots = "".join(_pem(c) for c in trusted).encode("ascii")
        cas = roots or self._base_cas
        with tempfile.TemporaryDirectory(prefix="ocppfast-tls-") as folder:
            # ssl loads certificates and keys from files only: a private directory (mode 0700)
            # removed at once; the key file is created 0600.
            ca_file = cert_file = key_file = None
            if cas:
                ca_file = os.path.join(folder, "ca.pem")
                with open(ca_file, "wb") as out:
                    out.write(cas)
            if self._own is not None:
                cert_file = os.path.join(folder, "cert.pem")
                with open(cert_file, "w", encoding="ascii") as out:
                    out.write(self._own["cert"])
                key_file = os.path.join(folder, "key.pem")
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="ascii") as out:
                    out.write(self._own["key"])
            context = client_context(
                ca_file, cert=cert_file, key=key_file, check_hostname=self._check_hostname
            )
        if any(c.issuer != c.subject for c in trusted):
            # A CSMS root installed under AdditionalRootCertificateCheck is signed by the
            # previous one (M05.FR.09), not self-signed: it must anchor the chain by itself.
            context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        return context

    def _changed(self) -> None:
        if (
            self.ssl_changed is not None
            and self._client is not None
            and self._client.ssl is not None
        ):
            self.ssl_changed(self.tls_context())

    def upgrade_transport(self, revert: Callable[[], Any]) -> bool:
        """SW A05.FR.06/07: the security profile went to 2 or 3: the attached client connects
        over wss:// (same host and port; ws:// becomes wss://) from its next attempt on, with
        the installed CSMS roots and (profile 3) the station's certificate. If that attempt
        fails, the client goes back to what it had and `revert()` undoes the station's side
        (A05.FR.08). False when no client is attached (nothing to change)."""
        client = self._client
        if client is None:
            return False
        if self._upgrade is None:
            self._upgrade = (client.url, client.ssl, revert)
        url: str = client.url
        if url.lower().startswith("ws://"):
            client.url = "wss://" + url[len("ws://") :]
        client.ssl = self.tls_context()
        self.log.info(
            "%s: connects over wss:// from the next connection on (security profile upgrade)",
            self.identity,
        )
        return True

    def connected(self) -> None:
        """A connection worked: a new certificate is confirmed (A02.FR.10), a security profile
        upgrade too (A05.FR.07); a fallback certificate kept past its month is dropped."""
        if self._upgrade is not None:
            self._upgrade = None
            self.log.info("%s: the new security profile works", self.identity)
        changed = False
        if self._unconfirmed:
            self._unconfirmed = False
            changed = True
            self.log.info("%s: its new certificate works", self.identity)
        fallback_roots = [r for r in self._roots if r.get("fallback")]
        if fallback_roots and not self._trust_fallback_root and self._client_uses_tls():
            # SW M05.FR.12 (2.x TC_B_50_CS): connected trusting the new CSMS root alone.
            self._roots = [r for r in self._roots if not r.get("fallback")]
            changed = True
            self.log.info(
                "%s: connected with the new CSMS root certificate: the previous one (fallback) "
                "is removed (M05.FR.12)",
                self.identity,
            )
        if self._fallback is not None:
            until = datetime.datetime.fromisoformat(
                self._fallback.get("until", "1970-01-01T00:00:00+00:00")
            )
            if self.clock() > until:
                self._fallback = None
                changed = True
        if changed:
            self._save()

    def _client_uses_tls(self) -> bool:
        return self._client is not None and self._client.ssl is not None

    def connect_failed(self, error: BaseException) -> bool:
        """A connection attempt failed: when it was the first ones with a new certificate and
        the failure may be the certificate's (TLS refused, HTTP 401/403), go back to the
        previous one (A02.FR.10: kept as fallback); the first attempt after a security profile
        upgrade goes back to the previous profile (A05.FR.08). True when something changed."""
        if self._upgrade is not None:
            url, context, revert = self._upgrade
            self._upgrade = None
            client = self._client
            client.ssl = None
            client.url = url
            client.ssl = context
            self.log.warning(
                "%s: cannot connect with the new security profile (%s); back to the previous "
                "one (SW A05.FR.08)",
                self.identity,
                error,
            )
            revert()
            return True
        if (
            not self._trust_fallback_root
            and any(r.get("fallback") for r in self._roots)
            and _server_not_trusted(error)
        ):
            # SW M05.FR.13 (2.x TC_B_47_CS step 9): the new CSMS root does not verify the
            # server's certificate: try the old (fallback) root as well.
            self._trust_fallback_root = True
            self.log.warning(
                "%s: the CSMS's server certificate does not verify with the new CSMS root "
                "certificate (%s); trusting the previous (fallback) root as well (M05.FR.13)",
                self.identity,
                error,
            )
            self._changed()
            return True
        if not self._unconfirmed or self._fallback is None or not _blames_certificate(error):
            return False
        failed = self.certificate
        self._own = {"cert": self._fallback["cert"], "key": self._fallback["key"]}
        self._fallback = None
        self._unconfirmed = False
        self._save()
        self.log.warning(
            "%s: the CSMS did not accept the new certificate (serial %x: %s); connecting with "
            "the previous one again",
            self.identity,
            failed.serial_number if failed is not None else 0,
            error,
        )
        self._changed()
        return True

    # -- the renewal (A02 triggered, A03 on its own) ---------------------------------------------

    def renew(
        self,
        organization: str,
        send: Callable[[str], Awaitable[bool | None]],
        *,
        wait_minimum: Callable[[], float] | None = None,
        repeat_times: Callable[[], int] | None = None,
        kind: str = OWN,
    ) -> asyncio.Task[None]:
        """Start a renewal: a new key and CSR (`new_csr`), sent with `send(csr)` (the station's
        SignCertificate: True Accepted, False Rejected, None not sent); when no CertificateSigned
        came within `wait_minimum()` seconds it is sent again, then again after each doubled
        wait, `repeat_times()` times (2.x SecurityCtrlr.CertSigningWaitMinimum and
        CertSigningRepeatTimes, A02.FR.17/18 as TC_A_23_CS runs them: 1 + 1 + repeat_times
        sends; None: sent once). The same key and CSR each time, so a late CertificateSigned
        still fits. A renewal under way is replaced."""
        self.cancel()
        csr = self.new_csr(organization, kind)
        self._signed.clear()
        self._renewal = asyncio.ensure_future(self._run(csr, send, wait_minimum, repeat_times))
        self._renewal.set_name(f"{self.identity}: certificate renewal")
        return self._renewal

    async def _run(
        self,
        csr: str,
        send: Callable[[str], Awaitable[bool | None]],
        wait_minimum: Callable[[], float] | None,
        repeat_times: Callable[[], int] | None,
    ) -> None:
        sends = 0
        while True:
            accepted = await send(csr)
            sends += 1
            if accepted is False:
                # A02.FR.12: the CSMS cannot process it; nothing will come.
                self.log.warning("%s: the CSMS rejected the SignCertificate", self.identity)
                return
            if wait_minimum is None:
                return
            limit = repeat_times() if repeat_times is not None else 0
            wait = wait_minimum() * 2 ** (sends - 1)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._signed.wait(), max(wait, 0.001))
                return
            # TC_A_23_CS (A02.FR.17/18): with CertSigningRepeatTimes 1 the station sends after
            # the wait and again after twice the wait: the first resend is not a "repeat", each
            # doubled wait is.
            if sends > limit + 1:
                self.log.warning(
                    "%s: no CertificateSigned after %d SignCertificate(s); giving up until the "
                    "next trigger",
                    self.identity,
                    sends,
                )
                return
            self.log.info(
                "%s: no CertificateSigned within %.0f s: sending the SignCertificate again",
                self.identity,
                wait,
            )

    def cancel(self) -> None:
        """Stop waiting for a renewal's certificate (the pending key is kept)."""
        if self._renewal is not None and not self._renewal.done():
            self._renewal.cancel()
        self._renewal = None
