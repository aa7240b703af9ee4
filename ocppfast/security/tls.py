"""TLS contexts for security profiles 2 and 3, and the CSMS's profile-3 station check.

Both roles (SW 2.4.1 and 2.5.1; 2.0.1 part 2 A00 has the same requirements):

- TLS 1.2 or later only (SW A00.FR.312, A00.FR.416; 2.0.1 allows no TLS 1.0/1.1 at all): a peer
  offering less fails the handshake, which terminates the connection (A00.FR.314, A00.FR.418).
- For TLS 1.2 exactly the suites the CSMS must support (A00.FR.317, A00.FR.421):
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
  TLS_RSA_WITH_AES_128_GCM_SHA256 and TLS_RSA_WITH_AES_256_GCM_SHA384, plus the ECDHE_RSA pair
  of AES-GCM suites: A00.FR.319/A00.FR.423 only forbid primitives unsuitable for legacy use, and
  ECDHE with RSA signatures and AES-GCM is none of those, but gives an RSA certificate forward
  secrecy, which the note of A00.FR.318 recommends. Preference: ECDHE first. Python's default
  contexts lack the two TLS_RSA suites, which a station limited to them (A00.FR.318's second
  choice) needs: hence the explicit list. TLS 1.3 suites are OpenSSL's (all AEAD).
- No TLS compression (A00.FR.320, A00.FR.424), no renegotiation.
- OpenSSL security level 2: keys under 112-bit strength (RSA < 2048) are refused in the chain
  (A00.FR.501-503).

The server (the CSMS, A00.FR.305, A00.FR.409) presents its certificate (A00.FR.306, A00.FR.410)
and on profile 3 requires the station's, verified against `client_ca` (A00.FR.402, A00.FR.403):
a missing or unverifiable certificate fails the handshake (A00.FR.407). Which station the
certificate belongs to is known only from the connection URL, after the handshake:
`check_station_certificate()` gives the reason to refuse it then (A00.FR.404, A00.FR.405).
The client (the station) verifies the CSMS's chain (A00.FR.307, A00.FR.411) and host name
(A00.FR.308, A00.FR.412).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.x509.oid import NameOID

from .pki import PkiError

if TYPE_CHECKING:
    from .pki import CertificateStore

__all__ = [
    "TLS12_CIPHERS",
    "TLS12_REQUIRED_CIPHERS",
    "check_station_certificate",
    "client_context",
    "peer_certificate",
    "peer_identity",
    "server_context",
]

StrPath = str | os.PathLike[str]
SSLObjectLike = ssl.SSLObject | ssl.SSLSocket

#: The four TLS 1.2 suites of SW A00.FR.317 / A00.FR.421, in OpenSSL's names.
TLS12_REQUIRED_CIPHERS: tuple[str, ...] = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",  # TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    "ECDHE-ECDSA-AES256-GCM-SHA384",  # TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    "AES128-GCM-SHA256",  # TLS_RSA_WITH_AES_128_GCM_SHA256
    "AES256-GCM-SHA384",  # TLS_RSA_WITH_AES_256_GCM_SHA384
)

#: What both roles offer for TLS 1.2, most preferred first: forward secrecy (ECDHE) before
#: RSA key transport (the note of A00.FR.318), then the four required suites.
TLS12_CIPHERS: tuple[str, ...] = (
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",  # allowed by A00.FR.319; forward secrecy for RSA keys
    "ECDHE-RSA-AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
)

# SECLEVEL=2: at least 112-bit security for keys and signatures (A00.FR.501); it still allows
# the TLS_RSA suites (level 3 would not, and A00.FR.317 requires them).
_CIPHER_STRING = ":".join(TLS12_CIPHERS) + ":@SECLEVEL=2"


def _harden(context: ssl.SSLContext) -> None:
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # A00.FR.312, A00.FR.416
    context.options |= (
        ssl.OP_NO_COMPRESSION  # A00.FR.320, A00.FR.424
        | ssl.OP_NO_RENEGOTIATION
        | ssl.OP_CIPHER_SERVER_PREFERENCE
        | ssl.OP_SINGLE_ECDH_USE
    )
    context.set_ciphers(_CIPHER_STRING)  # TLS 1.2 only; TLS 1.3 keeps OpenSSL's suites


def server_context(
    cert: StrPath,
    key: StrPath,
    *,
    client_ca: StrPath | None = None,
    extra: Sequence[tuple[StrPath, StrPath]] = (),
) -> ssl.SSLContext:
    """The CSMS's TLS context: certificate chain `cert` (PEM, the server certificate first)
    with its private key `key`.

    - `client_ca`: the PEM file of the CA(s) station certificates must chain to. Given, it is
      security profile 3: a client certificate is required (CERT_REQUIRED) and verified
      (A00.FR.402, A00.FR.403, A00.FR.407); the CN check is `check_station_certificate()`'s.
      None: profile 2 (stations authenticate with Basic auth).
    - `extra`: more (certificate, key) pairs of other key types: a CSMS serving stations of both
      kinds holds an ECDSA and an RSA certificate (the note of A00.FR.317); OpenSSL picks the
      one fitting the negotiated suite.

    Pass it as `Server(ssl=...)`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _harden(context)
    context.load_cert_chain(os.fspath(cert), os.fspath(key))
    for extra_cert, extra_key in extra:
        context.load_cert_chain(os.fspath(extra_cert), os.fspath(extra_key))
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=os.fspath(client_ca))
    else:
        context.verify_mode = ssl.CERT_NONE
    return context


def client_context(
    ca: StrPath | None,
    *,
    cert: StrPath | None = None,
    key: StrPath | None = None,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """A station's TLS context: trusts the CSMS root certificate(s) in `ca` (PEM), or the
    system's trusted CAs when `ca` is None (a CSMS with a publicly issued certificate).

    - `cert`, `key`: the station certificate and its key, for security profile 3 (A00.FR.401,
      A00.FR.402); both or neither.
    - `check_hostname`: verify that the CSMS certificate names the host of the URL (A00.FR.308,
      A00.FR.412). Turn it off only for a test bench: the chain is still verified.

    Pass it as `Client(ssl=...)`."""
    if (cert is None) != (key is None):
        raise ValueError("give both cert and key (security profile 3) or neither")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _harden(context)
    context.verify_mode = ssl.CERT_REQUIRED  # A00.FR.307, A00.FR.411
    context.check_hostname = check_hostname
    # RFC 5280 conformance of the CSMS's chain (as Python 3.13's default contexts do).
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    if ca is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.load_verify_locations(cafile=os.fspath(ca))
    if cert is not None and key is not None:
        context.load_cert_chain(os.fspath(cert), os.fspath(key))
    return context


def peer_certificate(ssl_object: SSLObjectLike | None) -> x509.Certificate | None:
    """The peer's certificate if it was verified in the handshake, else None (no TLS, no
    certificate, or a context that did not verify one)."""
    if ssl_object is None:
        return None
    # getpeercert() is an empty dict unless the certificate was validated; the DER form alone
    # would also be returned for an unverified certificate.
    if not ssl_object.getpeercert():
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    return x509.load_der_x509_certificate(der)


def _names(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(attribute.value) for attribute in certificate.subject.get_attributes_for_oid(oid)]


def peer_identity(ssl_object: SSLObjectLike | None) -> str | None:
    """The CN of the peer's verified certificate (on the CSMS: the station's identity under
    security profile 3, A00.FR.405), or None without one, or when it has no single CN."""
    certificate = peer_certificate(ssl_object)
    if certificate is None:
        return None
    names = _names(certificate, NameOID.COMMON_NAME)
    return names[0] if len(names) == 1 else None


def check_station_certificate(
    ssl_object: SSLObjectLike | None,
    identity: str,
    *,
    store: CertificateStore | None = None,
    organization: str | None = None,
) -> str | None:
    """Why a security-profile-3 station connecting as `identity` must be refused, or None.

    Call it on the CSMS once the connection URL (the identity) is known, before upgrading; a
    reason means: refuse the connection (A00.FR.407) and log the reason as a security event
    (A00.FR.408). Checks:

    - a TLS connection with a verified client certificate (A00.FR.401-403, A00.FR.407);
    - its subject CN is the identity, exactly (A00.FR.405: the CN holds the station's unique
      serial number, its identity here);
    - with `organization`: its subject O is that organisation, the CPO (A00.FR.404);
    - with `store`: it is not revoked on the store's CRL (A00.FR.702, A00.FR.704). A CRL that is
      missing or does not verify refuses too (fail closed).

    The chain itself and the validity period were checked by OpenSSL in the handshake."""
    if ssl_object is None:
        return (
            "not a TLS connection: security profile 3 needs wss:// with a client certificate "
            "(A00.FR.401, A00.FR.402)"
        )
    certificate = peer_certificate(ssl_object)
    if certificate is None:
        return "no verified client certificate (A00.FR.401-A00.FR.403, A00.FR.407)"
    names = _names(certificate, NameOID.COMMON_NAME)
    if len(names) != 1:
        return f"the client certificate has {len(names)} CNs, not one (A00.FR.405)"
    if names[0] != identity:
        return (
            f"the client certificate's CN {names[0]!r} is not the station identity "
            f"{identity!r} (A00.FR.405)"
        )
    if organization is not None:
        organizations = _names(certificate, NameOID.ORGANIZATION_NAME)
        if organization not in organizations:
            shown = ", ".join(repr(o) for o in organizations) or "none"
            return (
                f"the client certificate's O ({shown}) is not the operator {organization!r} "
                "(A00.FR.404)"
            )
    if store is not None:
        try:
            revoked = store.is_revoked(certificate)
        except (PkiError, OSError, ValueError) as error:
            return f"cannot check revocation, refusing: {error} (A00.FR.704)"
        if revoked:
            return (
                f"the client certificate (serial {certificate.serial_number:X}) is revoked "
                "(A00.FR.704, A00.FR.407)"
            )
    return None
