"""Security profiles 2 and 3 (SW 2.4, 2.5; 2.0.1 part 2 A00): the CPO's certificate authority
(`pki`), the TLS contexts of both roles (`tls`), signed firmware (`firmware`, SW L01). See
docs/security.md."""

from .firmware import (
    FirmwareCertificateError,
    FirmwareSignatureError,
    FirmwareSigner,
    FirmwareVerificationError,
    sign_firmware,
    verify_firmware,
)
from .pki import (
    DEFAULT_DIR,
    CertificateRecord,
    CertificateStore,
    CsrRejected,
    PkiError,
)
from .tls import (
    TLS12_CIPHERS,
    check_station_certificate,
    client_context,
    peer_identity,
    server_context,
)

__all__ = [
    "DEFAULT_DIR",
    "TLS12_CIPHERS",
    "CertificateRecord",
    "CertificateStore",
    "CsrRejected",
    "FirmwareCertificateError",
    "FirmwareSignatureError",
    "FirmwareSigner",
    "FirmwareVerificationError",
    "PkiError",
    "check_station_certificate",
    "client_context",
    "peer_identity",
    "server_context",
    "sign_firmware",
    "verify_firmware",
]
