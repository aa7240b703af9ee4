"""CertificateHashDataType: how OCPP names an installed certificate without sending it.

GetInstalledCertificateIds answers with, and DeleteCertificate names a certificate by, its
CertificateHashDataType (SW 6.1 for 1.6; 2.0.1 and 2.1 part 2, data types, with the 2.0.1
errata 2.15.1 of 2023-06). As in an OCSP CertID (RFC 6960 4.1.1):

- `hashAlgorithm`: SHA256, SHA384 or SHA512 (HashAlgorithmEnumType); SHA256 by default.
- `issuerNameHash`: the hash of the DER encoding of the certificate's issuer name field.
- `issuerKeyHash`: the hash of "the value (excluding tag and length) of the subject public key
  field in the issuer's certificate": the content of the BIT STRING of the issuer's
  SubjectPublicKeyInfo (for ECDSA the point, for RSA the DER RSAPublicKey).
- `serialNumber`: the serial "without the prefix 0x and without leading zeroes", in hexadecimal.

Hashes are written in lower-case hexadecimal; `matches` compares without regard to case (a CSMS
may write them in upper case) and to leading zeroes of the serial. A self-signed root is its own
issuer.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

__all__ = ["HASH_ALGORITHMS", "certificate_hash_data", "issuer_key_bytes", "matches"]

HASH_ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}
"""HashAlgorithmEnumType -> the `cryptography` hash."""


def _der_item(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER item at `at`."""
    if at + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[at]
    length = data[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or at + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[at : at + count], "big")
        at += count
    if at + length > len(data):
        raise ValueError("truncated DER")
    return tag, at, at + length


def issuer_key_bytes(issuer: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's value (without its unused-bits byte) of `issuer`'s
    SubjectPublicKeyInfo: what issuerKeyHash hashes."""
    spki = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tag, start, end = _der_item(spki, 0)  # SubjectPublicKeyInfo ::= SEQUENCE
    if tag != 0x30:
        raise ValueError("SubjectPublicKeyInfo is not a SEQUENCE")
    _, _, after_algorithm = _der_item(spki, start)  # AlgorithmIdentifier
    tag, key_start, key_end = _der_item(spki, after_algorithm)
    if tag != 0x03 or key_end > end:
        raise ValueError("subjectPublicKey is not a BIT STRING")
    return spki[key_start + 1 : key_end]  # the first content byte counts the unused bits


def _digest(algorithm: str, data: bytes) -> str:
    digest = hashes.Hash(HASH_ALGORITHMS[algorithm]())
    digest.update(data)
    return digest.finalize().hex()


def certificate_hash_data(
    cert: x509.Certificate, issuer_cert: x509.Certificate | None = None, algorithm: str = "SHA256"
) -> dict[str, str]:
    """The CertificateHashDataType of `cert`, whose issuer is `issuer_cert` (None: `cert`
    itself, a self-signed root), as a JSON-ready dict with the wire's field names."""
    if algorithm not in HASH_ALGORITHMS:
        raise ValueError(f"hashAlgorithm {algorithm!r} is not one of {', '.join(HASH_ALGORITHMS)}")
    issuer = issuer_cert if issuer_cert is not None else cert
    return {
        "hashAlgorithm": algorithm,
        "issuerNameHash": _digest(algorithm, cert.issuer.public_bytes()),
        "issuerKeyHash": _digest(algorithm, issuer_key_bytes(issuer)),
        "serialNumber": format(cert.serial_number, "x"),
    }


def _field(hash_data: Any, wire: str, python: str) -> Any:
    """A field of a dict (wire names) or of a generated message struct (snake_case names)."""
    if isinstance(hash_data, dict):
        return hash_data.get(wire, hash_data.get(python))
    value = getattr(hash_data, python, None)
    return getattr(value, "value", value)  # an enum member: its wire value


def matches(
    hash_data: Any, cert: x509.Certificate, issuer_cert: x509.Certificate | None = None
) -> bool:
    """Whether `hash_data` (a CertificateHashDataType as a dict with the wire's names, or a
    generated `CertificateHashDataType` struct) names `cert` issued by `issuer_cert` (None: a
    self-signed `cert`). Hex case and the serial's leading zeroes do not matter; an unknown
    algorithm or malformed field is no match."""
    algorithm = _field(hash_data, "hashAlgorithm", "hash_algorithm")
    if not isinstance(algorithm, str) or algorithm not in HASH_ALGORITHMS:
        return False
    fields = [
        _field(hash_data, name, python)
        for name, python in (
            ("issuerNameHash", "issuer_name_hash"),
            ("issuerKeyHash", "issuer_key_hash"),
            ("serialNumber", "serial_number"),
        )
    ]
    if not all(isinstance(value, str) for value in fields):
        return False
    name_hash, key_hash, serial = fields
    try:
        if int(serial, 16) != cert.serial_number:
            return False
    except ValueError:
        return False
    ours = certificate_hash_data(cert, issuer_cert, algorithm)
    return bool(
        name_hash.lower() == ours["issuerNameHash"] and key_hash.lower() == ours["issuerKeyHash"]
    )
