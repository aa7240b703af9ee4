"""`ocppfast certs`: the CPO's certificate authority for security profiles 2 and 3.

    ocppfast certs init --org "Example CPO"          # the root CA
    ocppfast certs server csms.example.com           # the CSMS's TLS certificate
    ocppfast certs station CP001 CP002               # station certificates (CN = identity)
    ocppfast certs firmware-signer firmware --dir maker-pki   # signs firmware (SW L01)
    ocppfast certs list
    ocppfast certs revoke SERIAL

Everything lives in one directory (--dir, default ocppfast-data/pki, next to `ocppfast serve`'s
data); see docs/security.md. Private keys are written 0600 and never printed.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from ocppfast.security.pki import (
    ALGORITHMS,
    DEFAULT_CA_YEARS,
    DEFAULT_DIR,
    DEFAULT_FIRMWARE_DAYS,
    DEFAULT_RSA_BITS,
    DEFAULT_SERVER_DAYS,
    DEFAULT_STATION_DAYS,
    REASONS,
    Algorithm,
    CertificateRecord,
    CertificateStore,
    PkiError,
)

__all__ = ["certs_app"]

certs_app = typer.Typer(
    name="certs",
    help="The certificate authority of security profiles 2 and 3 (TLS, and TLS with station "
    "certificates): create a root CA, the CSMS's server certificate and the stations' "
    "certificates, firmware signing certificates; list and revoke them. Files in --dir "
    "(default ocppfast-data/pki): docs/security.md.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

DirOption = Annotated[
    Path,
    typer.Option(
        "--dir",
        envvar="OCPPFAST_PKI_DIR",
        help="The certificate authority's directory (created by init).",
        file_okay=False,
    ),
]
AlgorithmOption = Annotated[
    str | None,
    typer.Option(
        "--algorithm",
        help="Key algorithm: ecdsa (P-256) or rsa. Default: the CA's. A CSMS serving stations "
        "of both kinds has a server certificate of each (SW A00.FR.317).",
    ),
]
RsaBitsOption = Annotated[
    int,
    typer.Option("--rsa-bits", help="RSA key size (at least 2048, SW A00.FR.502).", min=2048),
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace an existing key and certificate (the previous certificate is revoked).",
    ),
]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _algorithm(value: str | None) -> Algorithm | None:
    if value is None:
        return None
    value = value.lower()
    if value not in ALGORITHMS:
        _fail(f"--algorithm must be one of {', '.join(ALGORITHMS)}, not {value!r}")
    return value


def _store(directory: Path) -> CertificateStore:
    store = CertificateStore(directory)
    if not store.exists:
        _fail(
            f"no certificate authority in {directory}: run "
            f"`ocppfast certs init --org NAME{_dir_flag(directory)}` first"
        )
    return store


def _dir_flag(directory: Path) -> str:
    return "" if directory == DEFAULT_DIR else f" --dir {directory}"


def _date(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _written(store: CertificateStore, record: CertificateRecord) -> None:
    typer.echo(f"  certificate {store.path(record.cert_file)}")
    if record.key_file:
        typer.echo(f"  private key {store.path(record.key_file)} (mode 0600)")
    typer.echo(f"  serial {record.serial}, valid until {_date(record.not_after)}")


@certs_app.command()
def init(
    org: Annotated[
        str,
        typer.Option(
            "--org",
            help="The operator's organisation name: the O of every certificate (SW A00.FR.509) "
            "and the CpoName stations put into their certificate requests.",
        ),
    ],
    directory: DirOption = DEFAULT_DIR,
    algorithm: Annotated[
        str, typer.Option("--algorithm", help="The CA's key: ecdsa (P-256) or rsa.")
    ] = "ecdsa",
    rsa_bits: RsaBitsOption = DEFAULT_RSA_BITS,
    years: Annotated[
        int, typer.Option("--years", help="How long the root CA is valid.", min=1)
    ] = DEFAULT_CA_YEARS,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace an existing CA: every certificate it issued stops verifying.",
        ),
    ] = False,
) -> None:
    """Create the root certificate authority (self-signed) and an empty revocation list."""
    chosen = _algorithm(algorithm)
    store = CertificateStore(directory)
    try:
        ca = store.create_ca(
            org, algorithm=chosen or "ecdsa", rsa_bits=rsa_bits, years=years, force=force
        )
    except PkiError as error:
        _fail(str(error))
    typer.echo(f"created the root CA of {org!r} in {directory}")
    typer.echo(f"  certificate {store.ca_cert_path} (give it to every station)")
    typer.echo(f"  private key {store.ca_key_path} (mode 0600; keep it safe, SW A00.FR.602)")
    typer.echo(f"  valid until {_date(ca.not_valid_after_utc)}")
    typer.echo(f"next: ocppfast certs server HOSTNAME{_dir_flag(directory)}")


@certs_app.command()
def server(
    hosts: Annotated[
        list[str],
        typer.Argument(
            metavar="HOST",
            help="The CSMS's host names and/or IP addresses, as stations reach it; the first is "
            "the CN (the FQDN, SW A00.FR.510), all go into subjectAltName.",
        ),
    ],
    directory: DirOption = DEFAULT_DIR,
    algorithm: AlgorithmOption = None,
    rsa_bits: RsaBitsOption = DEFAULT_RSA_BITS,
    days: Annotated[
        int, typer.Option("--days", help="Validity in days.", min=1)
    ] = DEFAULT_SERVER_DAYS,
    force: ForceOption = False,
) -> None:
    """Issue the CSMS's TLS server certificate (extendedKeyUsage serverAuth)."""
    store = _store(directory)
    try:
        record = store.issue_server(
            hosts,
            algorithm=_algorithm(algorithm),
            rsa_bits=rsa_bits,
            days=days,
            force=force,
        )
    except PkiError as error:
        _fail(str(error))
    typer.echo(f"issued the server certificate for {', '.join(hosts)}")
    _written(store, record)
    typer.echo(f"next: ocppfast certs station IDENTITY...{_dir_flag(directory)}")


@certs_app.command()
def station(
    identities: Annotated[
        list[str],
        typer.Argument(
            metavar="IDENTITY",
            help="Station identities (as in the connection URL): each certificate's CN "
            "(SW A00.FR.405). Not URLs or IP addresses (A00.FR.511).",
        ),
    ],
    directory: DirOption = DEFAULT_DIR,
    org: Annotated[
        str | None,
        typer.Option("--org", help="The certificates' O. Default: the CA's organisation."),
    ] = None,
    algorithm: AlgorithmOption = None,
    rsa_bits: RsaBitsOption = DEFAULT_RSA_BITS,
    days: Annotated[
        int, typer.Option("--days", help="Validity in days.", min=1)
    ] = DEFAULT_STATION_DAYS,
    force: ForceOption = False,
) -> None:
    """Issue one station certificate per identity (extendedKeyUsage clientAuth), each with its
    private key: install both and the CA certificate on the station."""
    store = _store(directory)
    failed = False
    for identity in identities:
        try:
            record = store.issue_station(
                identity,
                org,
                algorithm=_algorithm(algorithm),
                rsa_bits=rsa_bits,
                days=days,
                force=force,
            )
        except PkiError as error:
            typer.echo(f"error: {identity}: {error}", err=True)
            failed = True
            continue
        typer.echo(f"issued the station certificate of {identity}")
        _written(store, record)
    if failed:
        raise typer.Exit(1)
    typer.echo(
        f"next: install {store.ca_cert_path} and the station's certificate and key on the "
        "station; see docs/security.md"
    )


@certs_app.command("firmware-signer")
def firmware_signer(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help="The signer's name: its CN and file names (e.g. the product line).",
        ),
    ] = "firmware",
    directory: DirOption = DEFAULT_DIR,
    org: Annotated[
        str | None,
        typer.Option("--org", help="The certificate's O. Default: the CA's organisation."),
    ] = None,
    algorithm: AlgorithmOption = None,
    rsa_bits: RsaBitsOption = DEFAULT_RSA_BITS,
    days: Annotated[
        int, typer.Option("--days", help="Validity in days.", min=1)
    ] = DEFAULT_FIRMWARE_DAYS,
    force: ForceOption = False,
) -> None:
    """Issue a firmware signing certificate (extendedKeyUsage codeSigning, directly under the
    root: SW L01 allows no intermediate) and its private key. In the field it belongs to the
    manufacturer's hierarchy, not the CPO's: use a separate --dir whose CA certificate the
    stations hold as ManufacturerRootCertificate. `ocppfast serve --firmware-signer-cert
    --firmware-signer-key` signs firmware with it."""
    store = _store(directory)
    try:
        record = store.issue_firmware_signer(
            name,
            org,
            algorithm=_algorithm(algorithm),
            rsa_bits=rsa_bits,
            days=days,
            force=force,
        )
    except PkiError as error:
        _fail(str(error))
    typer.echo(f"issued the firmware signing certificate {name!r}")
    _written(store, record)
    typer.echo(
        f"next: give the stations {store.ca_cert_path} as their manufacturer root "
        "certificate, and sign with ocppfast serve --firmware-signer-cert "
        f"{store.path(record.cert_file)} --firmware-signer-key {store.path(record.key_file or '')}"
    )


@certs_app.command("list")
def list_(
    directory: DirOption = DEFAULT_DIR,
    all_: Annotated[
        bool, typer.Option("--all", help="Also the revoked and expired certificates.")
    ] = False,
) -> None:
    """List the certificates issued: serial, kind, name, validity, state, file."""
    store = _store(directory)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = store.ca_certificate
    typer.echo(
        f"CA: {ca.subject.rfc4514_string()}, valid until {_date(ca.not_valid_after_utc)}, "
        f"{store.ca_cert_path}"
    )
    shown = 0
    for record in store.list():
        if record.revoked:
            state = f"revoked {_date(record.revoked_at)} ({record.revocation_reason})"  # type: ignore[arg-type]
        elif record.not_after < now:
            state = "expired"
        else:
            state = "valid"
        if state != "valid" and not all_:
            continue
        shown += 1
        typer.echo(
            f"{record.serial}  {record.kind:<8} {record.name:<24} {record.algorithm:<5} "
            f"until {_date(record.not_after)}  {state:<8} {record.cert_file}"
        )
    if not shown:
        typer.echo("no certificates" + ("" if all_ else " (--all shows revoked and expired)"))


@certs_app.command()
def revoke(
    serial: Annotated[
        str,
        typer.Argument(
            metavar="SERIAL",
            help="The serial number as `ocppfast certs list` shows it (or a unique prefix of "
            "at least 8 digits).",
        ),
    ],
    directory: DirOption = DEFAULT_DIR,
    reason: Annotated[
        str,
        typer.Option("--reason", help=f"The CRL reason: one of {', '.join(REASONS)}."),
    ] = "unspecified",
) -> None:
    """Revoke a certificate: mark it in the index and rewrite the CRL; the CSMS refuses a
    station whose certificate is revoked (SW A00.FR.704)."""
    store = _store(directory)
    try:
        record = store.revoke(serial, reason=reason)
    except PkiError as error:
        _fail(str(error))
    typer.echo(f"revoked {record.serial} ({record.kind} {record.name}, {reason})")
    typer.echo(f"  CRL {store.crl_path}")


@certs_app.command()
def crl(
    directory: DirOption = DEFAULT_DIR,
    days: Annotated[
        int, typer.Option("--days", help="Days until the CRL's next update.", min=1)
    ] = 30,
) -> None:
    """Re-sign the CRL with a fresh next-update date (for anything else that reads it)."""
    store = _store(directory)
    revocations = store.write_crl(days=days)
    typer.echo(
        f"wrote {store.crl_path}: {len(revocations)} revoked, next update "
        f"{_date(revocations.next_update_utc or datetime.datetime.now(datetime.timezone.utc))}"
    )
