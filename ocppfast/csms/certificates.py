"""The CSMS's certificate services: who signs a station's CSR, who answers its ISO 15118
requests, and what became of each signing request.

- `CertificateAuthority`: signs a station's certificate signing request (SignCertificate, SW
  A02/A03; 2.0.1/2.1 A02/A03). `StoreAuthority` is the default, the CPO's own CA of `ocppfast
  certs` (`ocppfast.security.pki.CertificateStore.sign_csr`); an operator plugs an external CA
  (SW A02.FR.04: "The Central System SHOULD NOT sign the certificate itself, but instead
  forwards the CSR to a dedicated certificate authority server") by writing a class with one
  async method:

      class MyCA:
          async def sign(self, identity: str, csr_pem: str, certificate_type: str) -> str:
              answer = await post_to_my_ca(identity, csr_pem)   # the CA checks the CSR
              if answer.refused:
                  raise CertificateRefused(answer.reason)
              return answer.chain_pem                        # leaf first, then sub-CAs

- `ContractCertificateProvider` (Get15118EVCertificate, M01/M02) and
  `CertificateStatusProvider` (GetCertificateStatus, M06): pluggable; `OcspStatusProvider`
  asks the OCSP responder the station names (RFC 6960 over HTTP POST).
- `CertificateServices`: the bundle `default_csms(..., certificates=...)` and the operator API
  take, and the record of each station's signing requests (`SigningRecord`, in memory).

Nothing here logs a private key: the CSMS never sees one (A02.FR.05).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from ..security.pki import DEFAULT_STATION_DAYS, CertificateStore, PkiError

__all__ = [
    "CHARGING_STATION_CERTIFICATE",
    "CertificateAuthority",
    "CertificateRefused",
    "CertificateServices",
    "CertificateStatusProvider",
    "ContractCertificateProvider",
    "OcspRequest",
    "OcspStatusProvider",
    "ProviderError",
    "SigningRecord",
    "StoreAuthority",
    "pem_certificates",
]

log = logging.getLogger("ocppfast.csms")

CHARGING_STATION_CERTIFICATE = "ChargingStationCertificate"
"""The certificateType of a station's own (TLS client) certificate; 1.6's SignCertificate has no
certificateType and always means this one (SW 5.14)."""
# The 2.x certificate types of the ISO 15118 side (CertificateSigningUseEnumType; 2.1 adds
# V2G20Certificate): signed by the V2G PKI, never by the CPO's station CA.
V2G_CERTIFICATES = frozenset({"V2GCertificate", "V2G20Certificate"})
# OCPP's limit on a certificateChain (CertificateSigned, every version's schema: 10000).
MAX_CHAIN_CHARS = 10000
# Signing requests kept per station for the API.
DEFAULT_HISTORY = 20


class CertificateRefused(Exception):
    """A certificate authority refuses to sign: `reason` says why (logged, kept in the
    station's `SigningRecord`, never sent to the station: OCPP has no message for it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderError(Exception):
    """An ISO 15118 provider cannot answer: the station gets Failed with this reason."""


@runtime_checkable
class CertificateAuthority(Protocol):
    """Signs the CSR of station `identity` (PEM PKCS#10) for `certificate_type`
    (ChargingStationCertificate, V2GCertificate, V2G20Certificate) and returns the PEM chain to
    send with CertificateSigned: the new certificate first, then any sub-CA certificates
    (never the root, which the station has). Raises `CertificateRefused` with the reason when
    the CSR must not be signed (CN not the identity, weak key, ...)."""

    async def sign(self, identity: str, csr_pem: str, certificate_type: str) -> str: ...


@runtime_checkable
class ContractCertificateProvider(Protocol):
    """Answers Get15118EVCertificate (M01 install, M02 update of a contract certificate): the
    EV's EXI request (base64, as the station sent it) to a contract certificate service, its
    EXI response back. Returns (status, exi_response): status "Accepted" or "Failed" (2.x
    Iso15118EVCertificateStatusEnumType), exi_response base64 (may be "" when Failed). Raise
    `ProviderError` (or any exception) to answer Failed."""

    async def get_ev_certificate(
        self, identity: str, iso15118_schema_version: str, action: str, exi_request: str
    ) -> tuple[str, str]: ...


@dataclass(frozen=True)
class OcspRequest:
    """The OCSPRequestDataType a station sends with GetCertificateStatus (M06): the CertID of
    the certificate asked about (RFC 6960 4.1.1; hashes and serial in hexadecimal) and the OCSP
    responder to ask."""

    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str
    responder_url: str


@runtime_checkable
class CertificateStatusProvider(Protocol):
    """Answers GetCertificateStatus (M06): returns (status, ocsp_result), status "Accepted" or
    "Failed" (GetCertificateStatusEnumType), ocsp_result the responder's DER OCSPResponse in
    base64 (None when Failed: "MAY only be omitted when status is not Accepted"). Raise
    `ProviderError` (or any exception) to answer Failed."""

    async def get_status(self, identity: str, request: OcspRequest) -> tuple[str, str | None]: ...


def pem_certificates(text: str | bytes) -> list[x509.Certificate]:
    """The certificates of a PEM text, in order; ValueError saying what is wrong when it is not
    one or more PEM certificates (and nothing else)."""
    data = text.encode() if isinstance(text, str) else text
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ValueError("not a PEM certificate: it must start with -----BEGIN CERTIFICATE-----")
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise ValueError(f"not a valid PEM certificate: {error}") from None
    return certificates


class StoreAuthority:
    """The CPO's own CA (`ocppfast certs`'s directory) as a `CertificateAuthority`: signs a
    ChargingStationCertificate CSR with `CertificateStore.sign_csr` once `check_csr`'s checks
    pass: one CN, the station's identity (SW A00.FR.405, the issue's "CSR for another identity"
    attack); one O, the CPO's (`organization`, by default the CA's own O: A02.FR.13,
    A00.FR.404); a strong key (RSA 2048+, P-256/P-384: A00.FR.501-503); a valid signature with
    SHA-256 or better (A00.FR.504). The chain sent is the new certificate alone: the station
    has the root (A02.FR.06 checks the chain against it).

    V2G certificates belong to the ISO 15118 PKI, not to this CA: refused. Signings are done one
    at a time, in a thread (the store writes its index: one writer)."""

    def __init__(
        self,
        store: CertificateStore,
        *,
        organization: str | None = None,
        days: int = DEFAULT_STATION_DAYS,
    ) -> None:
        self.store = store
        self.organization = organization
        self.days = days
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<StoreAuthority {self.store.directory}>"

    async def sign(self, identity: str, csr_pem: str, certificate_type: str) -> str:
        """See `CertificateAuthority.sign`."""
        if certificate_type != CHARGING_STATION_CERTIFICATE:
            raise CertificateRefused(
                f"the CPO's CA signs station certificates only, not {certificate_type} "
                "(ISO 15118 certificates come from the V2G PKI: configure a V2G authority)"
            )
        async with self._lock:
            return await asyncio.to_thread(self._sign, identity, csr_pem)

    def _sign(self, identity: str, csr_pem: str) -> str:
        try:
            organization = self.organization or self.store.organization or None
            record = self.store.sign_csr(csr_pem, identity, org=organization, days=self.days)
        except PkiError as error:  # CsrRejected included: its message is the reason
            raise CertificateRefused(str(error)) from None
        return self.store.path(record.cert_file).read_text()


@dataclass
class SigningRecord:
    """One SignCertificate of a station and what became of it.

    `status`: "Refused" (answered Rejected: nobody to sign it), "Signing" (accepted, at the
    CA), "Signed" (the CA signed it: `serial`, `not_after`), "Refused by CA" (the CA refused
    it: `reason`), "Failed" (the CA could not be reached
    or failed: `reason`), "Sent" (CertificateSigned sent: `station_answer` is the station's
    status, Accepted or Rejected, or the CALLERROR code / "no answer")."""

    identity: str
    certificate_type: str
    received_at: datetime.datetime
    status: str
    reason: str | None = None
    serial: str | None = None
    not_after: datetime.datetime | None = None
    station_answer: str | None = None
    updated_at: datetime.datetime | None = None


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


_OCSP_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}


class OcspStatusProvider:
    """A `CertificateStatusProvider` that asks the OCSP responder the station names
    (responderURL) about the certificate: it builds the RFC 6960 OCSPRequest from the CertID
    the station sent (`cryptography`'s `OCSPRequestBuilder.add_certificate_by_hash`), POSTs it
    (RFC 6960 A.1, application/ocsp-request) and returns the responder's DER answer, base64,
    as ocspResult. Accepted only when the responder answered "successful" (the certificate's
    status, good or revoked, is inside: the station reads it).

    Only http:// responders are asked (OCSP is plain HTTP: its answers are signed, RFC 6960
    A.1), and, with `allowed_hosts`, only those hosts: a station chooses the URL, so a CSMS in
    a network with internal services should list its responders. `timeout` in seconds."""

    def __init__(
        self, *, timeout: float = 10.0, allowed_hosts: Iterable[str] | None = None
    ) -> None:
        self.timeout = timeout
        self.allowed_hosts = (
            None if allowed_hosts is None else frozenset(h.lower() for h in allowed_hosts)
        )

    def request_der(self, request: OcspRequest) -> bytes:
        """The DER OCSPRequest for `request`; ProviderError when a field is malformed."""
        algorithm = _OCSP_HASHES.get(request.hash_algorithm)
        if algorithm is None:
            raise ProviderError(f"hashAlgorithm {request.hash_algorithm!r} is not SHA256/384/512")
        try:
            name_hash = bytes.fromhex(request.issuer_name_hash)
            key_hash = bytes.fromhex(request.issuer_key_hash)
            serial = int(request.serial_number, 16)
        except ValueError:
            raise ProviderError(
                "issuerNameHash, issuerKeyHash and serialNumber must be hexadecimal"
            ) from None
        size = algorithm().digest_size
        if len(name_hash) != size or len(key_hash) != size:
            raise ProviderError(f"the hashes are not {request.hash_algorithm} digests")
        built = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
            name_hash, key_hash, serial, algorithm()
        )
        return built.build().public_bytes(serialization.Encoding.DER)

    async def get_status(self, identity: str, request: OcspRequest) -> tuple[str, str | None]:
        """See `CertificateStatusProvider.get_status`."""
        import aiohttp  # the API's HTTP library; imported when a status is asked for
        from yarl import URL

        url = URL(request.responder_url)
        if url.scheme != "http" or not url.host:
            raise ProviderError(f"responderURL {request.responder_url!r} is not an http:// URL")
        if self.allowed_hosts is not None and url.host.lower() not in self.allowed_hosts:
            raise ProviderError(f"OCSP responder {url.host!r} is not in the allowed hosts")
        body = self.request_der(request)
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session,
                session.post(
                    url,
                    data=body,
                    headers={"Content-Type": "application/ocsp-request"},
                    allow_redirects=False,
                ) as answer,
            ):
                if answer.status != 200:
                    raise ProviderError(f"the OCSP responder answered HTTP {answer.status}")
                # An OCSPResponse is small; the field's limit is 5500 base64 characters.
                der = await answer.content.read(8192)
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise ProviderError(f"the OCSP responder could not be reached: {error!r}") from None
        try:
            response = ocsp.load_der_ocsp_response(der)
        except ValueError:
            raise ProviderError("the OCSP responder's answer is not a DER OCSPResponse") from None
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise ProviderError(
                f"the OCSP responder answered {response.response_status.name.lower()}"
            )
        encoded = base64.b64encode(der).decode()
        if len(encoded) > 5500:
            raise ProviderError("the OCSP response is longer than ocspResult allows (5500)")
        return "Accepted", encoded


@dataclass
class CertificateServices:
    """What the CSMS uses for the certificate messages, shared by all connections.

    - `authority`: signs ChargingStationCertificate CSRs (None: SignCertificate is answered
      Rejected, SW A02.FR.12 / A03.FR.12: "not able to process the request").
    - `v2g_authority`: signs V2GCertificate / V2G20Certificate CSRs (None: Rejected).
    - `contracts`, `status`: the ISO 15118 providers (None: Failed, NotEnabled).
    - `ca_pem`: the CSMS's own root certificate (PEM), which the operator API installs on a
      station on request (InstallCertificate, M05), whether or not this CSMS may sign.
    - `history`: signing requests kept per station (`records`)."""

    authority: CertificateAuthority | None = None
    v2g_authority: CertificateAuthority | None = None
    contracts: ContractCertificateProvider | None = None
    status: CertificateStatusProvider | None = None
    ca_pem: str | None = None
    history: int = DEFAULT_HISTORY
    _records: dict[str, collections.deque[SigningRecord]] = field(default_factory=dict)
    _busy: set[str] = field(default_factory=set)

    @classmethod
    def from_store(
        cls, store: CertificateStore, *, sign: bool | None = None, **options: object
    ) -> CertificateServices:
        """The services of an `ocppfast certs` directory: its root as `ca_pem`, and its CA as
        the `authority` when its key is there (`sign` None) or when `sign` is True."""
        can_sign = store.exists if sign is None else sign
        return cls(
            authority=StoreAuthority(store) if can_sign else None,
            ca_pem=store.ca_cert_path.read_text() if store.ca_cert_path.exists() else None,
            **options,  # type: ignore[arg-type]
        )

    def authority_for(self, certificate_type: str) -> CertificateAuthority | None:
        """Who signs a CSR of `certificate_type`, or None."""
        if certificate_type in V2G_CERTIFICATES:
            return self.v2g_authority
        if certificate_type == CHARGING_STATION_CERTIFICATE:
            return self.authority
        return None

    def records(self, identity: str) -> list[SigningRecord]:
        """Station `identity`'s signing requests, newest first."""
        kept = self._records.get(identity.casefold())
        return list(reversed(kept)) if kept else []

    def record(
        self, identity: str, certificate_type: str, status: str, **fields: object
    ) -> SigningRecord:
        """Keep a new signing request of `identity`."""
        entry = SigningRecord(identity, certificate_type, _utcnow(), status, **fields)  # type: ignore[arg-type]
        kept = self._records.get(identity.casefold())
        if kept is None:
            kept = self._records[identity.casefold()] = collections.deque(maxlen=self.history)
        kept.append(entry)
        return entry

    def begin(self, identity: str) -> bool:
        """Mark a signing of `identity` in progress; False when one already is (a station that
        repeats SignCertificate before its certificate came gets Rejected, not a second
        certificate: one signing at a time per station bounds what a station can make the CA
        do)."""
        key = identity.casefold()
        if key in self._busy:
            return False
        self._busy.add(key)
        return True

    def end(self, identity: str) -> None:
        """The signing of `identity` is over."""
        self._busy.discard(identity.casefold())

    async def sign(self, record: SigningRecord, csr_pem: str) -> str | None:
        """Have the CSR of `record` signed (its status "Signed" then): the chain PEM, or None
        (refused or failed: the record and the log say why)."""
        identity = record.identity
        authority = self.authority_for(record.certificate_type)
        if authority is None:  # the configuration changed meanwhile
            self._done(record, "Failed", reason="no certificate authority")
            return None
        try:
            chain = await authority.sign(identity, csr_pem, record.certificate_type)
        except CertificateRefused as refusal:
            log.warning(
                "%s: certificate signing request (%s) refused, no certificate sent: %s",
                identity,
                record.certificate_type,
                refusal.reason,
            )
            self._done(record, "Refused by CA", reason=refusal.reason)
            return None
        except Exception as error:  # an external CA's failure must not end the connection
            log.error(
                "%s: the certificate authority failed on a signing request (%s): %r; no "
                "certificate sent: fix the CA, then renew the station's certificate",
                identity,
                record.certificate_type,
                error,
            )
            self._done(record, "Failed", reason=f"the certificate authority failed: {error!r}")
            return None
        problem = _chain_problem(chain)
        if problem is not None:
            log.error("%s: the certificate authority's answer is unusable: %s", identity, problem)
            self._done(record, "Failed", reason=problem)
            return None
        leaf = pem_certificates(chain)[0]
        record.serial = format(leaf.serial_number, "X")
        record.not_after = leaf.not_valid_after_utc
        self._done(record, "Signed")
        return chain

    def _done(self, record: SigningRecord, status: str, *, reason: str | None = None) -> None:
        record.status = status
        record.reason = reason
        record.updated_at = _utcnow()


def _chain_problem(chain: object) -> str | None:
    """Why `chain` (an authority's answer) cannot be sent as certificateChain, or None."""
    if not isinstance(chain, str):
        return f"the chain is a {type(chain).__name__}, not PEM text"
    if len(chain) > MAX_CHAIN_CHARS:
        return f"the chain has {len(chain)} characters; certificateChain allows {MAX_CHAIN_CHARS}"
    try:
        pem_certificates(chain)
    except ValueError as error:
        return str(error)
    return None
