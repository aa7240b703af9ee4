"""`ocppfast certs` through typer's CliRunner: the three-command walk-through of docs/security.md,
list, revoke, the errors that say what to do, and that no private key is ever printed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from cli import app
from ocppfast.security.pki import CertificateStore


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["certs", *args])
    assert "PRIVATE KEY" not in result.output  # never print a key
    return result.exit_code, result.output


def test_the_three_commands(tmp_path: Path) -> None:
    pki = str(tmp_path / "pki")
    code, out = invoke("init", "--org", "Example CPO", "--dir", pki)
    assert code == 0, out
    assert "ca.pem" in out and "ca.key (mode 0600" in out
    assert f"next: ocppfast certs server HOSTNAME --dir {pki}" in out

    code, out = invoke("server", "csms.example.com", "127.0.0.1", "--dir", pki)
    assert code == 0, out
    assert "certs/server-csms.example.com.pem" in out
    assert "next: ocppfast certs station IDENTITY..." in out

    code, out = invoke("station", "CP001", "CP002", "--dir", pki)
    assert code == 0, out
    assert "certs/station-CP001.pem" in out and "certs/station-CP002.pem" in out

    store = CertificateStore(pki)
    assert [(r.kind, r.name) for r in store.list()] == [
        ("server", "csms.example.com"),
        ("station", "CP001"),
        ("station", "CP002"),
    ]
    for record in store.list():
        assert record.key_file is not None
        assert stat.S_IMODE(os.stat(store.path(record.key_file)).st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(store.path("certs/station-CP002.pem").read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP002"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "Example CPO"
    )


def test_list_and_revoke(tmp_path: Path) -> None:
    pki = str(tmp_path / "pki")
    assert invoke("init", "--org", "CPO", "--dir", pki)[0] == 0
    assert invoke("station", "CP1", "CP2", "--dir", pki)[0] == 0
    code, out = invoke("list", "--dir", pki)
    assert code == 0, out
    lines = [line for line in out.splitlines() if " station " in line]
    assert len(lines) == 2 and all("valid" in line for line in lines)
    serial = next(line.split()[0] for line in lines if "CP2" in line)

    code, out = invoke("revoke", serial, "--reason", "key_compromise", "--dir", pki)
    assert code == 0, out
    assert f"revoked {serial} (station CP2, key_compromise)" in out
    assert "crl.pem" in out
    code, out = invoke("list", "--dir", pki)
    assert "CP2" not in out and "CP1" in out
    code, out = invoke("list", "--all", "--dir", pki)
    assert "CP2" in out and "revoked" in out

    store = CertificateStore(pki)
    cert = x509.load_pem_x509_certificate(store.path("certs/station-CP2.pem").read_bytes())
    assert store.is_revoked(cert)

    code, out = invoke("revoke", "ABCDEF0123", "--dir", pki)
    assert code == 1 and "no certificate with serial" in out
    code, out = invoke("crl", "--dir", pki)
    assert code == 0 and "1 revoked" in out


def test_without_a_ca_it_says_to_run_init(tmp_path: Path) -> None:
    pki = str(tmp_path / "nothing")
    for args in (("server", "localhost"), ("station", "CP1"), ("list",), ("revoke", "AB")):
        code, out = invoke(*args, "--dir", pki)
        assert code == 1
        assert f"run `ocppfast certs init --org NAME --dir {pki}` first" in out
    assert not Path(pki).exists()


def test_errors_that_say_what_to_do(tmp_path: Path) -> None:
    pki = str(tmp_path / "pki")
    assert invoke("init", "--org", "CPO", "--dir", pki)[0] == 0
    code, out = invoke("init", "--org", "CPO", "--dir", pki)
    assert code == 1 and "--force" in out

    assert invoke("station", "CP1", "--dir", pki)[0] == 0
    key = (Path(pki) / "private" / "station-CP1.key").read_bytes()
    code, out = invoke("station", "CP1", "CP3", "--dir", pki)
    assert code == 1
    assert "exists already" in out and "--force" in out
    assert "certs/station-CP3.pem" in out  # the others are still issued
    assert (Path(pki) / "private" / "station-CP1.key").read_bytes() == key

    code, out = invoke("station", "10.1.2.3", "--dir", pki)
    assert code == 1 and "IP address" in out and "A00.FR.511" in out
    code, out = invoke("server", "not a host", "--dir", pki)
    assert code == 1 and "neither a DNS name nor an IP address" in out
    code, out = invoke("server", "localhost", "--algorithm", "dsa", "--dir", pki)
    assert code == 1 and "ecdsa, rsa" in out
    code, out = invoke("station", "CP4", "--rsa-bits", "1024", "--algorithm", "rsa", "--dir", pki)
    assert code == 2  # typer refuses the value: x>=2048

    code, out = invoke("station", "CP1", "--force", "--dir", pki)
    assert code == 0, out
    code, out = invoke("list", "--all", "--dir", pki)
    assert "superseded" in out


def test_rsa_ca_and_a_second_server_certificate(tmp_path: Path) -> None:
    pki = str(tmp_path / "pki")
    code, out = invoke(
        "init", "--org", "CPO", "--algorithm", "rsa", "--rsa-bits", "2048", "--dir", pki
    )
    assert code == 0, out
    assert invoke("server", "localhost", "--rsa-bits", "2048", "--dir", pki)[0] == 0
    code, out = invoke("server", "localhost", "--algorithm", "ecdsa", "--dir", pki)
    assert code == 0, out
    assert "server-localhost-ecdsa.pem" in out


def test_help_of_each_command() -> None:
    code, out = invoke("--help")
    assert code == 0
    for command in ("init", "server", "station", "firmware-signer", "list", "revoke", "crl"):
        assert command in out
        code, text = invoke(command, "--help")
        assert code == 0 and "--dir" in text
    assert "--org" in invoke("init", "--help")[1]
    assert "key_compromise" in invoke("revoke", "--help")[1]


def test_firmware_signer_in_a_manufacturer_directory(tmp_path: Path) -> None:
    """`ocppfast certs firmware-signer` (SW L01, issue 10 part 5): a codeSigning certificate
    issued directly by the root of its own (manufacturer) directory, its key 0600, listed by
    `certs list`; the file it signs verifies against that root."""
    from ocppfast.security.firmware import FirmwareSigner, verify_firmware

    maker = str(tmp_path / "maker")
    assert invoke("init", "--org", "Maker", "--dir", maker)[0] == 0
    code, out = invoke("firmware-signer", "fw-2026", "--dir", maker)
    assert code == 0, out
    assert "certs/firmware-fw-2026.pem" in out and "private/firmware-fw-2026.key (mode 0600" in out
    assert "--firmware-signer-cert" in out and "manufacturer root" in out
    store = CertificateStore(maker)
    (record,) = store.list()
    assert (record.kind, record.name) == ("firmware", "fw-2026")
    assert record.key_file is not None
    assert stat.S_IMODE(os.stat(store.path(record.key_file)).st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(store.path(record.cert_file).read_bytes())
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CODE_SIGNING in usage
    assert cert.issuer == store.ca_certificate.subject
    code, out = invoke("list", "--dir", maker)
    assert code == 0 and "firmware" in out and "fw-2026" in out
    signer = FirmwareSigner.load(store.path(record.cert_file), store.path(record.key_file))
    verify_firmware(b"image", signer.sign(b"image"), signer.certificate_pem, [store.ca_certificate])
    # Twice without --force: says what to do; with --force the old one is revoked.
    code, out = invoke("firmware-signer", "fw-2026", "--dir", maker)
    assert code == 1 and "--force" in out
    assert invoke("firmware-signer", "fw-2026", "--force", "--dir", maker)[0] == 0
    assert [r.revoked for r in CertificateStore(maker).list()] == [True, False]
