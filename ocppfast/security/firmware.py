"""Signed firmware (SW L01 "Secure Firmware Update", 2.0.1 L01): signing an image on the CSMS
side, verifying the signing certificate and the signature on the station side.

The scheme (SW L01.FR.04: "calculating the signature over the entire firmware file using the
RSA-PSS or ECSchnorr algorithm for signing, and the SHA256 algorithm for calculating hash
values"; L01.FR.09: a signature over the hash of the image):

- the SHA-256 digest of the whole file, computed in 64 KiB chunks (an image can be hundreds of
  MB: it is never read into memory whole), then signed or verified as a prehashed digest;
- an RSA key signs with RSA-PSS, MGF1 with SHA-256 and a salt as long as the digest (32 bytes;
  verification accepts any salt length, as RFC 8017 allows a signer to choose it);
- an EC key signs with ECDSA over SHA-256 (the DER-encoded (r, s) pair). ECSchnorr has no
  standard encoding and no implementation in `cryptography`; ECDSA is what manufacturers and
  the OCA test tool use with EC keys (and what A00.FR.505 names for EC signatures);
- the signature travels base64-encoded (standard alphabet, padded) in `signature` of
  SignedUpdateFirmware.req (1.6) / UpdateFirmwareRequest.firmware (2.x), at most 800
  characters: RSA keys up to 4096 bits and every EC curve fit.

The signing certificate (L01.FR.11: in the request, PEM) must be issued directly by one of the
station's manufacturer root certificates: "The manufacturer SHALL NOT use intermediate
certificates for the firmware signing certificate" (SW 4, L01 remarks); it is checked with the
rules for X.509 certificates (L01.FR.12): signature of the root, validity period of both, not a
CA, key usage digitalSignature and extended key usage codeSigning when those extensions are
present.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID

__all__ = [
    "MAX_SIGNATURE_CHARS",
    "FirmwareCertificateError",
    "FirmwareSignatureError",
    "FirmwareSigner",
    "FirmwareVerificationError",
    "check_signing_certificate",
    "firmware_digest",
    "load_roots",
    "sign_firmware",
    "verify_firmware",
    "verify_signature",
]

# SignedUpdateFirmware.req / UpdateFirmwareRequest: signature is a string of at most 800.
MAX_SIGNATURE_CHARS = 800
_CHUNK = 64 * 1024

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
Firmware = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO


class FirmwareVerificationError(ValueError):
    """Signed firmware failed its check; the message says why (for the log)."""


class FirmwareCertificateError(FirmwareVerificationError):
    """The signing certificate is malformed, not issued by a manufacturer root, expired or not
    yet valid, or not for code signing: InvalidCertificate (L01.FR.02, L01.FR.24)."""


class FirmwareSignatureError(FirmwareVerificationError):
    """The signature is malformed (not base64, empty) or does not match the file:
    InvalidSignature (L01.FR.03)."""


def firmware_digest(data: Firmware) -> bytes:
    """The SHA-256 digest of a firmware image: bytes, an open binary file (read from where it
    is), or a path (read in 64 KiB chunks, never whole)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return hashlib.sha256(data).digest()
    digest = hashlib.sha256()
    if isinstance(data, str | os.PathLike):
        with Path(data).open("rb") as file:
            while chunk := file.read(_CHUNK):
                digest.update(chunk)
    else:
        while chunk := data.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def sign_firmware(data: Firmware, key: SigningKey) -> str:
    """The base64 signature of the whole firmware `data` (bytes, a path or a binary file) with
    the firmware signing `key`: SHA-256, then RSA-PSS (RSA key) or ECDSA (EC key); see the
    module docstring (SW L01.FR.04, L01.FR.09)."""
    digest = firmware_digest(data)
    prehashed = Prehashed(hashes.SHA256())
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(digest, _pss(), prehashed)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(digest, ec.ECDSA(prehashed))
    else:
        raise TypeError(f"a firmware signing key is RSA or EC, not {type(key).__name__}")
    return base64.b64encode(signature).decode("ascii")


def load_roots(pems: Iterable[bytes | str]) -> list[x509.Certificate]:
    """Every certificate of the PEM texts `pems` (each may hold several), for `roots`.
    Raises `FirmwareCertificateError` for one that is not PEM."""
    roots: list[x509.Certificate] = []
    for pem in pems:
        raw = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
        try:
            roots.extend(x509.load_pem_x509_certificates(raw))
        except ValueError as error:
            raise FirmwareCertificateError(f"not a PEM certificate: {error}") from None
    return roots


def _parse_certificate(pem: str | bytes) -> x509.Certificate:
    if isinstance(pem, str):
        pem = pem.encode("ascii", "replace")
    if not pem.strip():
        raise FirmwareCertificateError("the signing certificate is empty")
    try:
        return x509.load_pem_x509_certificate(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise FirmwareCertificateError(
            f"the signing certificate is not a PEM X.509 certificate ({error})"
        ) from None


def _subject(certificate: x509.Certificate) -> str:
    try:
        return certificate.subject.rfc4514_string()
    except ValueError:  # pragma: no cover - a subject cryptography cannot print
        return "?"


def _valid_at(certificate: x509.Certificate, now: datetime.datetime, what: str) -> None:
    if now < certificate.not_valid_before_utc:
        raise FirmwareCertificateError(
            f"{what} {_subject(certificate)} is not valid before "
            f"{certificate.not_valid_before_utc.isoformat()}"
        )
    if now > certificate.not_valid_after_utc:
        raise FirmwareCertificateError(
            f"{what} {_subject(certificate)} expired on "
            f"{certificate.not_valid_after_utc.isoformat()}"
        )


def _for_code_signing(certificate: x509.Certificate) -> None:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        if constraints.value.ca:
            raise FirmwareCertificateError(
                "the signing certificate is a CA certificate, not a firmware signing certificate"
            )
    except x509.ExtensionNotFound:
        pass
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.digital_signature:
            raise FirmwareCertificateError(
                "the signing certificate's key usage does not allow digitalSignature"
            )
    except x509.ExtensionNotFound:
        pass
    try:
        extended = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CODE_SIGNING not in extended:
            raise FirmwareCertificateError(
                "the signing certificate is not for code signing (its extended key usage "
                "lacks codeSigning)"
            )
    except x509.ExtensionNotFound:
        pass
    except ValueError as error:  # a malformed extension
        raise FirmwareCertificateError(f"the signing certificate's extensions: {error}") from None


def check_signing_certificate(
    signing_certificate_pem: str | bytes,
    roots: Sequence[x509.Certificate],
    *,
    now: datetime.datetime | None = None,
) -> x509.Certificate:
    """The firmware signing certificate of a request, checked (L01.FR.12, L01.FR.23): issued
    directly by one of the manufacturer `roots` (no intermediate, SW 4 L01 remarks), both valid
    at `now` (default: the current time), not a CA, for code signing. Raises
    `FirmwareCertificateError` saying why not."""
    if not roots:
        raise FirmwareCertificateError("no manufacturer root certificate installed")
    certificate = _parse_certificate(signing_certificate_pem)
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    issuer = None
    for root in roots:
        if root.subject != certificate.issuer:
            continue
        try:
            certificate.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        issuer = root
        break
    if issuer is None:
        raise FirmwareCertificateError(
            f"the signing certificate {_subject(certificate)} is not issued by a manufacturer "
            "root certificate of this station"
        )
    _valid_at(issuer, moment, "the manufacturer root certificate")
    _valid_at(certificate, moment, "the signing certificate")
    _for_code_signing(certificate)
    return certificate


def _decode_signature(signature_b64: str) -> bytes:
    if not isinstance(signature_b64, str) or not signature_b64.strip():
        raise FirmwareSignatureError("the signature is empty")
    if len(signature_b64) > MAX_SIGNATURE_CHARS:
        raise FirmwareSignatureError(
            f"the signature is longer than the {MAX_SIGNATURE_CHARS} characters OCPP allows"
        )
    try:
        return base64.b64decode("".join(signature_b64.split()), validate=True)
    except (binascii.Error, ValueError):
        raise FirmwareSignatureError("the signature is not base64") from None


def verify_signature(data: Firmware, signature_b64: str, certificate: x509.Certificate) -> None:
    """Check the base64 `signature_b64` over the whole firmware `data` (bytes, path or binary
    file) with the public key of the signing `certificate` (L01.FR.04, L01.FR.12). Raises
    `FirmwareSignatureError`."""
    signature = _decode_signature(signature_b64)
    digest = firmware_digest(data)
    public = certificate.public_key()
    prehashed = Prehashed(hashes.SHA256())
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(
                signature,
                digest,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
                prehashed,
            )
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, digest, ec.ECDSA(prehashed))
        else:
            raise FirmwareSignatureError(
                f"the signing certificate's {type(public).__name__} key cannot verify firmware "
                "(RSA-PSS or ECDSA with SHA-256)"
            )
    except InvalidSignature:
        raise FirmwareSignatureError(
            "the signature does not match the firmware file (RSA-PSS or ECDSA over its SHA-256 "
            "digest)"
        ) from None
    except ValueError as error:  # e.g. a signature of the wrong length
        raise FirmwareSignatureError(f"the signature is malformed: {error}") from None


def verify_firmware(
    data: Firmware,
    signature_b64: str,
    signing_certificate_pem: str | bytes,
    roots: Sequence[x509.Certificate],
    *,
    now: datetime.datetime | None = None,
) -> None:
    """Check signed firmware before installing it: the signing certificate against the
    manufacturer `roots` (`check_signing_certificate`: `FirmwareCertificateError`), then the
    signature over the whole file (`verify_signature`: `FirmwareSignatureError`)."""
    certificate = check_signing_certificate(signing_certificate_pem, roots, now=now)
    verify_signature(data, signature_b64, certificate)


@dataclass(frozen=True)
class FirmwareSigner:
    """A firmware signing certificate and its private key, as `ocppfast serve` signs firmware
    with (`--firmware-signer-cert`, `--firmware-signer-key`). The key never shows in a repr."""

    certificate_pem: str
    key: SigningKey = field(repr=False)

    @classmethod
    def load(
        cls, certificate_path: str | os.PathLike[str], key_path: str | os.PathLike[str]
    ) -> FirmwareSigner:
        """Read the PEM certificate and the PEM private key (unencrypted, as `ocppfast certs
        firmware-signer` writes it) and check that they belong together and that the
        certificate is for code signing. Raises `ValueError` saying what to fix."""
        try:
            cert_pem = Path(certificate_path).read_bytes()
            key_pem = Path(key_path).read_bytes()
        except OSError as error:
            raise ValueError(f"cannot read the firmware signer: {error}") from None
        try:
            certificate = x509.load_pem_x509_certificate(cert_pem)
        except ValueError:
            raise ValueError(f"{certificate_path} is not a PEM certificate") from None
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            # No detail: the error text of a key parser could quote key material.
            raise ValueError(
                f"{key_path} is not an unencrypted PEM private key (RSA or EC)"
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path}: a firmware signing key is RSA or EC")
        if key.public_key().public_numbers() != certificate.public_key().public_numbers():  # type: ignore[union-attr]
            raise ValueError(f"{key_path} is not the private key of {certificate_path}")
        try:
            _for_code_signing(certificate)
        except FirmwareCertificateError as error:
            raise ValueError(f"{certificate_path}: {error}") from None
        return cls(certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"), key)

    def sign(self, data: Firmware) -> str:
        """The base64 signature of `data` (`sign_firmware`)."""
        return sign_firmware(data, self.key)
