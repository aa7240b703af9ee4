"""`ocppfast serve`: the CSMS, its operator API and its metrics.

Every option can also come from an environment variable `OCPPFAST_<OPTION>` and from a TOML
file (`--config`): a flag beats the environment, which beats the file, which beats the default
(docs/configuration.md).
"""

from __future__ import annotations

import asyncio
import datetime
import importlib
import logging
import os
import secrets
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._run import LOG_LEVELS, parse_versions, run_until_signal, setup_logging

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

if TYPE_CHECKING:
    from ocppfast.asyncio.auth import PasswordRecord
    from ocppfast.csms import CsmsState, VendorHandler
    from ocppfast.csms.certificates import CertificateServices
    from ocppfast.security.firmware import FirmwareSigner
    from ocppfast.security.pki import CertificateStore

log = logging.getLogger("ocppfast.serve")

# ocppfast.asyncio.throttle.DEFAULT_THROTTLE's budgets, as literals: importing ocppfast.asyncio
# here would slow down --help (tests/test_security_gate.py checks that they agree).
AUTH_FAILURES = 5
AUTH_FAILURES_PER_ADDRESS = 20

API_TOKEN_FILE = "api-token"


def _env(name: str) -> str:
    return "OCPPFAST_" + name


def _load_config(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """--config: the TOML file's settings become the command's defaults (the context's
    default_map), so that the environment and the flags override them. Keys are option
    names, with dashes or underscores, at the top level or in a [serve] table."""
    if value is None:
        return None
    try:
        with value.open("rb") as file:
            data = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {value}: {exc}", param_hint="--config") from None
    section = data.get("serve", data)
    if not isinstance(section, dict):
        raise typer.BadParameter(f"{value}: [serve] is not a table", param_hint="--config")
    if section is not data:
        # Settings on both sides would be half ignored: refused, naming them. (Other tables
        # at the top level are other commands' and left alone.)
        stray = [key for key, setting in data.items() if not isinstance(setting, dict)]
        if stray:
            raise typer.BadParameter(
                f"{value}: {', '.join(stray)} at the top level, and a [serve] table: put every "
                "setting in [serve] (or all at the top level, without [serve])",
                param_hint="--config",
            )
    known = {p.name for p in ctx.command.params if p.name and p.name != "config"}
    settings = {}
    for key, setting in section.items():
        name = key.replace("-", "_")
        if name not in known:
            options = ", ".join(sorted(n.replace("_", "-") for n in known))
            raise typer.BadParameter(
                f"{value}: unknown setting {key!r}; known: {options}", param_hint="--config"
            )
        settings[name] = setting
    ctx.default_map = {**(ctx.default_map or {}), **settings}
    return value


def serve(
    host: Annotated[
        str,
        typer.Option(
            envvar=_env("HOST"),
            help="Address to listen on. The default serves this machine only; "
            "use 0.0.0.0 to accept stations from the network.",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(envvar=_env("PORT"), help="TCP port to listen on.", min=0, max=65535)
    ] = 9000,
    ocpp: Annotated[
        str,
        typer.Option(
            envvar=_env("OCPP"),
            help="OCPP versions to accept, comma-separated, best first: a station gets the "
            "first of these it offers.",
        ),
    ] = "2.1,2.0.1,1.6",
    heartbeat_interval: Annotated[
        int,
        typer.Option(
            envvar=_env("HEARTBEAT_INTERVAL"),
            help="Heartbeat interval given to stations at boot, in seconds.",
            min=1,
        ),
    ] = 300,
    credentials: Annotated[
        Path | None,
        typer.Option(
            envvar=_env("CREDENTIALS"),
            help="File of station passwords (security profile 1, HTTP Basic auth): one "
            "'IDENTITY PASSWORD' per line, '#' starts a comment. With it every station must "
            "authenticate; without it only those given a password through the API must.",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    tls_cert: Annotated[
        list[Path] | None,
        typer.Option(
            envvar=_env("TLS_CERT"),
            metavar="FILE",
            help="The CSMS's TLS certificate (PEM, the server certificate first): serve wss:// "
            "(security profile 2: stations check it and authenticate with HTTP Basic auth). "
            "Give it twice, an ECDSA and an RSA certificate, each with its --tls-key, to serve "
            "all four cipher suites of SW A00.FR.317.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    tls_key: Annotated[
        list[Path] | None,
        typer.Option(
            envvar=_env("TLS_KEY"),
            metavar="FILE",
            help="The private key of each --tls-cert, in the same order (never logged).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    client_ca: Annotated[
        Path | None,
        typer.Option(
            envvar=_env("CLIENT_CA"),
            metavar="FILE",
            help="Security profile 3: the CA certificate(s) (PEM) station certificates must "
            "chain to. Every station then needs its certificate, whose CN must be its identity "
            "(else HTTP 403 and the reason in the log); no Basic auth. Needs --tls-cert.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    pki: Annotated[
        Path | None,
        typer.Option(
            envvar=_env("PKI"),
            metavar="DIR",
            help="An 'ocppfast certs' directory: security profile 3 from it, the server "
            "certificate(s) and key(s), ca.pem as --client-ca, and crl.pem (revoked station "
            "certificates are refused) unless --tls-cert or --client-ca are given. Without "
            "it, a profile-3 CSMS reads the CRL of DATA_DIR/pki when that exists.",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    station_org: Annotated[
        str | None,
        typer.Option(
            envvar=_env("STATION_ORG"),
            metavar="NAME",
            help="Security profile 3: station certificates must also name this organization "
            "(O) (SW A00.FR.404), else HTTP 403. Default with --pki: the CA's O (what 'ocppfast "
            "certs station' puts there); '' checks no O.",
            show_default=False,
        ),
    ] = None,
    signing_ca: Annotated[
        Path | None,
        typer.Option(
            envvar=_env("SIGNING_CA"),
            metavar="DIR",
            help="The 'ocppfast certs' directory whose CA signs the stations' certificate "
            "signing requests (SignCertificate, SW A02/A03): it needs private/ca.key. Default: "
            "--pki, else DATA_DIR/pki, when the CA's key is there; without a key, "
            "SignCertificate is answered Rejected (the log says so at start).",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    path_prefix: Annotated[
        str,
        typer.Option(
            envvar=_env("PATH_PREFIX"),
            help="Path before the identity, e.g. /ocpp for ws://HOST:PORT/ocpp/CP1.",
        ),
    ] = "",
    max_connections: Annotated[
        int | None,
        typer.Option(
            envvar=_env("MAX_CONNECTIONS"),
            help="Most station connections at once; beyond it handshakes get HTTP 503. "
            "Default: as many as the open-files limit allows (raised to its hard limit at "
            "start), less 256 descriptors kept for everything else (a quarter of a small "
            "limit).",
            min=1,
        ),
    ] = None,
    auth_failures: Annotated[
        int,
        typer.Option(
            envvar=_env("AUTH_FAILURES"),
            help="Brute-force throttling: wrong passwords allowed per station identity within "
            "60 s; past them the identity's handshakes get HTTP 429 with Retry-After, the wait "
            "doubling up to 300 s, except from the address it last logged in from "
            "(docs/security.md). 0 turns throttling off.",
            min=0,
        ),
    ] = AUTH_FAILURES,
    auth_failures_per_address: Annotated[
        int,
        typer.Option(
            envvar=_env("AUTH_FAILURES_PER_ADDRESS"),
            help="The same per source address, whatever the identity (larger: many stations "
            "may share one address behind a NAT).",
            min=1,
        ),
    ] = AUTH_FAILURES_PER_ADDRESS,
    ping_interval: Annotated[
        float,
        typer.Option(
            envvar=_env("PING_INTERVAL"),
            help="Seconds between WebSocket pings to each station, which find dead "
            "connections (J201 5.3); 0 turns them off.",
            min=0,
        ),
    ] = 60.0,
    data_dir: Annotated[
        Path,
        typer.Option(
            envvar=_env("DATA_DIR"),
            help="Folder of the CSMS's data: the SQLite database (ocppfast.sqlite3) unless "
            "--database names another. Created if missing.",
            file_okay=False,
        ),
    ] = Path("ocppfast-data"),
    database: Annotated[
        str | None,
        typer.Option(
            envvar=_env("DATABASE"),
            help="Where stations, id tokens, transactions and meter values are kept: "
            "sqlite:////absolute/path.sqlite3, postgresql://user:password@host:port/name (needs "
            "pip install 'ocppfast[postgres]'), or 'memory' to keep nothing once stopped. "
            "Default: SQLite in --data-dir.",
        ),
    ] = None,
    registration: Annotated[
        str,
        typer.Option(
            envvar=_env("REGISTRATION"),
            help="Which stations may connect: 'open' accepts and records any identity; "
            "'known' only stations registered through the API (others get HTTP 404); "
            "'pending' records unknown stations but answers their boots Pending until an "
            "operator accepts them (PATCH /api/stations/ID).",
        ),
    ] = "open",
    api: Annotated[
        bool,
        typer.Option(
            envvar=_env("API"),
            help="Serve the operator HTTP API (/api/..., /metrics) on --api-port.",
        ),
    ] = True,
    api_port: Annotated[
        int,
        typer.Option(
            envvar=_env("API_PORT"),
            help="TCP port of the operator API, on the --host address; 0 lets the system "
            "choose (logged).",
            min=0,
            max=65535,
        ),
    ] = 9001,
    api_token: Annotated[
        str | None,
        typer.Option(
            envvar=_env("API_TOKEN"),
            help="Bearer token every API request must carry. Default: the one in "
            f"DATA_DIR/{API_TOKEN_FILE}, generated there at the first start.",
            show_default=False,
        ),
    ] = None,
    files: Annotated[
        Path | None,
        typer.Option(
            envvar=_env("FILES"),
            help="Folder of the file server (on the API's address): firmware images for "
            "stations (put them there, or PUT /api/files/NAME), and the logs stations upload, "
            "in uploads/IDENTITY/. Default: DATA_DIR/files. Created if missing.",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            envvar=_env("PUBLIC_URL"),
            help="The base URL stations reach the file server at (e.g. "
            "http://csms.example.com:9001, or the https:// of a proxy in front of it). "
            "Default: the API's address.",
            show_default=False,
        ),
    ] = None,
    max_upload: Annotated[
        int,
        typer.Option(
            envvar=_env("MAX_UPLOAD"),
            help="The largest file (MiB) a station may upload, or an operator PUT in the file "
            "server; larger ones are refused (HTTP 413).",
            min=1,
        ),
    ] = 256,
    firmware_signer_cert: Annotated[
        Path | None,
        typer.Option(
            envvar=_env("FIRMWARE_SIGNER_CERT"),
            help="A firmware signing certificate (ocppfast certs firmware-signer): the API's "
            "signed firmware updates (sign: true) sign the file with it (SW L01). Needs "
            "--firmware-signer-key.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    firmware_signer_key: Annotated[
        Path | None,
        typer.Option(
            envvar=_env("FIRMWARE_SIGNER_KEY"),
            help="The private key of --firmware-signer-cert (PEM, unencrypted; never logged).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    traffic_retention: Annotated[
        float,
        typer.Option(
            envvar=_env("TRAFFIC_RETENTION"),
            help="Days the traffic log (every frame in and out, GET "
            "/api/stations/ID/messages) is kept; 0 keeps no traffic log.",
            min=0,
        ),
    ] = 7.0,
    data_transfer: Annotated[
        list[str] | None,
        typer.Option(
            envvar=_env("DATA_TRANSFER"),
            help="A vendor's DataTransfer handler, VENDOR_ID=MODULE:FUNCTION (repeatable): "
            "FUNCTION(identity, message_id, data) returns (status, data). Other vendors get "
            "UnknownVendorId.",
        ),
    ] = None,
    log_level: Annotated[
        str,
        typer.Option(
            envvar=_env("LOG_LEVEL"),
            help="debug also logs every frame (credentials never).",
        ),
    ] = "info",
    config: Annotated[
        Path | None,
        typer.Option(
            envvar=_env("CONFIG"),
            help="A TOML file of settings (option names as keys, at the top level or in a "
            "[serve] table). Flags override environment variables OCPPFAST_<OPTION>, which "
            "override the file.",
            exists=True,
            dir_okay=False,
            readable=True,
            is_eager=True,
            callback=_load_config,
        ),
    ] = None,
) -> None:
    """Run the CSMS: accept charging stations over WebSocket (OCPP 1.6J, 2.0.1, 2.1 on one
    endpoint, ws://HOST:PORT/<identity>), answer everything they send, keep it in a database,
    and serve the operator API and metrics on http://HOST:API_PORT."""
    if log_level not in LOG_LEVELS:
        raise typer.BadParameter(f"use one of {', '.join(LOG_LEVELS)}", param_hint="--log-level")
    from ocppfast.csms.state import REGISTRATION_POLICIES

    if registration not in REGISTRATION_POLICIES:
        raise typer.BadParameter(
            f"use one of {', '.join(REGISTRATION_POLICIES)}", param_hint="--registration"
        )
    versions = parse_versions(ocpp)
    vendors = _vendor_handlers(data_transfer or [])
    firmware_signer = _firmware_signer(firmware_signer_cert, firmware_signer_key)
    tls = _tls_settings(tls_cert or [], tls_key or [], client_ca, pki, data_dir, station_org)
    if tls is not None and tls.profile == 2 and credentials is None:
        tls.described.append(
            "without --credentials only the stations given a password through the API must "
            "authenticate; the others are accepted without (no security profile)"
        )
    if tls is not None and tls.profile == 3 and credentials is not None:
        raise typer.BadParameter(
            "security profile 3 authenticates stations by their certificates (SW A00.FR.401), "
            "not by passwords: leave out --credentials, or --client-ca/--pki for profile 2 "
            "(one security profile per port, SW A00.FR.001)",
            param_hint="--credentials",
        )
    setup_logging(log_level)
    from ocppfast._system import connections_allowed, raise_file_limit
    from ocppfast.asyncio import ConnectionObservers, Server, ServerLimits
    from ocppfast.asyncio.throttle import ThrottleLimits
    from ocppfast.csms import default_csms
    from ocppfast.csms.store import StoredState
    from ocppfast.csms.traffic import TrafficLog
    from ocppfast.metrics import Metrics
    from ocppfast.storage import StorageError

    open_files = raise_file_limit()
    room = connections_allowed(open_files)
    if max_connections is None:
        max_connections = room
        if room < 1000:
            log.warning(
                "the open-files limit (%d) leaves room for only %d connections: raise it "
                "(ulimit -n, systemd LimitNOFILE=) or set --max-connections",
                open_files,
                room,
            )
    elif max_connections > room:
        log.warning(
            "--max-connections %d is more than the open-files limit (%d) allows: connections "
            "beyond about %d will fail; raise the limit (ulimit -n) or lower --max-connections",
            max_connections,
            open_files,
            room,
        )
    limits = ServerLimits(max_connections=max_connections, ping_interval=ping_interval or None)
    throttle = ThrottleLimits(failures=auth_failures, address_failures=auth_failures_per_address)

    passwords = _read_credentials(credentials) if credentials is not None else None
    certificates, signing_line = _certificate_services(signing_ca, pki, data_dir)
    if database is None:
        database = "sqlite:///" + str((data_dir / "ocppfast.sqlite3").absolute())
    token = (api_token or _api_token(data_dir)) if api else ""
    metrics = Metrics()

    async def main(stop: asyncio.Event) -> None:
        from ocppfast.csms.store import close_state, open_state

        try:
            state = await open_state(
                database,
                heartbeat_interval=heartbeat_interval,
                registration_policy=registration,
                traffic_limit=100_000 if traffic_retention else 0,
                metrics=metrics,
            )
        except StorageError as exc:
            log.error("%s", exc)
            raise typer.Exit(1) from None
        if isinstance(state, StoredState):
            log.info("data kept in %s", state.database.display_url)
        else:
            log.warning("--database memory: nothing is kept once the CSMS stops")
        if passwords is not None:
            # The file's passwords are imported (and stored, like those set through the API);
            # with a file, every station must authenticate.
            state.credentials.required = True
            for identity, record in passwords:
                state.set_password(identity, record)
        try:
            await _serve(state, stop)
        finally:
            try:
                await close_state(state)
            except StorageError as exc:
                log.error("the last changes could not be stored: %s", exc)

    async def _serve(state: CsmsState, stop: asyncio.Event) -> None:
        observers: list[Any] = [metrics]
        traffic = TrafficLog(state)
        if traffic_retention:
            observers.append(traffic)
        server = Server(
            default_csms(state, vendors, certificates),
            host=host,
            port=port,
            versions=versions,
            # Profile 3: the certificate is the station's authentication, not a password.
            credentials=state.credentials if tls is None or tls.check is None else None,
            admits=state.admits,
            observer=ConnectionObservers(observers),
            path_prefix=path_prefix,
            limits=limits,
            ssl=tls.context if tls is not None else None,
            check_client=tls.check if tls is not None else None,
            # Each station's security profile, stored: none below it (SW A05.FR.09).
            profiles=state,
            throttle=throttle,
        )
        metrics.server = server
        try:
            await server.start()
        except OSError as exc:
            _cannot_listen(host, port, exc)
        api_server = None
        if api:
            from ocppfast.api import ApiServer
            from ocppfast.api.files import FileStore

            try:
                file_store = FileStore(
                    files if files is not None else data_dir / "files",
                    base_url=public_url,
                    max_upload=max_upload << 20,
                    firmware_signer=firmware_signer,
                )
            except OSError as exc:
                log.error("cannot make the file server's folder: %s (see --files)", exc)
                await server.stop()
                raise typer.Exit(1) from None
            api_server = ApiServer(
                state,
                server,
                token=token,
                host=host,
                port=api_port,
                metrics=metrics,
                files=file_store,
                certificates=certificates,
            )
            try:
                await api_server.start()
            except OSError as exc:
                await server.stop()
                _cannot_listen(host, api_port, exc, "--api-port")
        pruning = None
        if traffic_retention:
            pruning = asyncio.ensure_future(
                traffic.keep_for(datetime.timedelta(days=traffic_retention))
            )
        log.info(
            "at most %d connections (--max-connections), pings every %s, registration %s",
            max_connections,
            f"{ping_interval:g} s" if ping_interval else "- (off)",
            registration,
        )
        if api_server is not None:
            log.info(
                "operator API on %s/api (OpenAPI: %s/api/openapi.json), metrics on %s/metrics",
                api_server.url,
                api_server.url,
                api_server.url,
            )
            _show_token(token, api_token is not None, data_dir)
        if tls is not None:
            for line in tls.described:
                log.info("%s", line)
            if tls.profile == 3 and tls.crl is None:
                log.warning(
                    "no CRL: revoked station certificates are not refused (give --pki, the "
                    "'ocppfast certs' directory; SW A00.FR.704)"
                )
        # Without TLS no station needs a certificate: signing off is no news then.
        log.log(
            logging.WARNING if certificates.authority is None and tls is not None else logging.INFO,
            "%s",
            signing_line,
        )
        profile = f" (security profile {tls.profile})" if tls is not None else ""
        log.info("ready: point stations at %s/<identity>%s; Ctrl-C to stop", server.url, profile)
        try:
            await stop.wait()
        finally:
            if pruning is not None:
                pruning.cancel()
            if api_server is not None:
                await api_server.stop()
            await server.stop()
        log.info("stopped")

    run_until_signal(main)


def _cannot_listen(host: str, port: int, exc: OSError, option: str = "--port") -> None:
    log.error(
        "cannot listen on %s:%s: %s (is another server running there? choose another %s)",
        host,
        port,
        exc.strerror or exc,
        option,
    )
    raise typer.Exit(1)


def _api_token(data_dir: Path) -> str:
    """The API token kept in the data dir: read, or generated (256 bits) and written there,
    readable by the owner only."""
    path = data_dir / API_TOKEN_FILE
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot read {path}: {exc.strerror}", param_hint="--api-token"
        ) from None
    if token:
        return token
    token = secrets.token_urlsafe(32)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(token + "\n")
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot write {path}: {exc.strerror}; give --api-token", param_hint="--api-token"
        ) from None
    return token


def _show_token(token: str, given: bool, data_dir: Path) -> None:
    """Say where the API token is: printed to a terminal (not to the log, which may be kept),
    else where to read it."""
    if given:
        log.info("API requests need 'Authorization: Bearer' with the token given (--api-token)")
        return
    path = data_dir / API_TOKEN_FILE
    if sys.stderr.isatty():
        typer.echo(f"API token (also in {path}): {token}", err=True)
    else:
        log.info("API requests need 'Authorization: Bearer <the token in %s>'", path)


def _vendor_handlers(specs: list[str]) -> dict[str, VendorHandler]:
    """--data-transfer VENDOR=MODULE:FUNCTION, imported."""
    handlers: dict[str, VendorHandler] = {}
    for spec in specs:
        vendor, equals, target = spec.partition("=")
        module_name, colon, name = target.partition(":")
        if not (vendor.strip() and equals and module_name and colon and name):
            raise typer.BadParameter(
                f"{spec!r}: write VENDOR_ID=MODULE:FUNCTION", param_hint="--data-transfer"
            )
        try:
            handler = getattr(importlib.import_module(module_name.strip()), name.strip())
        except (ImportError, AttributeError) as exc:
            raise typer.BadParameter(
                f"{spec!r}: cannot import {target}: {exc}", param_hint="--data-transfer"
            ) from None
        if not callable(handler):
            raise typer.BadParameter(
                f"{spec!r}: {target} is not callable", param_hint="--data-transfer"
            )
        handlers[vendor.strip()] = handler
    return handlers


def _read_credentials(path: Path) -> list[tuple[str, PasswordRecord]]:
    """The (identity, password hash) of each line of a --credentials file."""
    from ocppfast.asyncio.auth import Credentials

    store = Credentials()
    found = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split(None, 1)
        if len(parts) != 2:
            raise typer.BadParameter(
                f"line {number}: expected 'IDENTITY PASSWORD'", param_hint="--credentials"
            )
        try:
            found.append((parts[0], store.hash_password(parts[1].strip())))
        except ValueError as exc:
            raise typer.BadParameter(f"line {number}: {exc}", param_hint="--credentials") from None
    return found


# --------------------------------------------------------------------------------------------
# TLS: security profiles 2 and 3


@dataclass
class _Tls:
    """What the TLS options make: the server's context, the security profile (2 or 3), the
    profile-3 check of each station's certificate (None for profile 2), the CRL it reads and
    the lines that describe it all in the log (file names, never a key)."""

    context: ssl.SSLContext
    profile: int
    check: Callable[[ssl.SSLObject | None, str], str | None] | None
    crl: Path | None
    described: list[str]


def _certificate_services(
    signing_ca: Path | None, pki: Path | None, data_dir: Path
) -> tuple[CertificateServices, str]:
    """The CSMS's certificate services (ocppfast.csms.certificates) and the line the log says
    about them at start: the CA that signs CSRs (--signing-ca, else --pki, else DATA_DIR/pki,
    when its key is there) and the root the API installs on stations (csmsCa)."""
    from ocppfast.csms.certificates import CertificateServices
    from ocppfast.security.pki import CertificateStore

    if signing_ca is not None and not (signing_ca / "ca.pem").exists():
        raise typer.BadParameter(
            f"{signing_ca} has no ca.pem: create the CA with 'ocppfast certs init --org NAME "
            f"--dir {signing_ca}'",
            param_hint="--signing-ca",
        )
    candidates = [signing_ca] if signing_ca is not None else [pki, data_dir / "pki"]
    chosen = next((d for d in candidates if d is not None and (d / "ca.pem").exists()), None)
    if chosen is None:
        return CertificateServices(), (
            "certificate signing is off: SignCertificate is answered Rejected (SW A02.FR.12); "
            "to sign stations' CSRs give --signing-ca DIR, an 'ocppfast certs' directory with "
            "its CA's key"
        )
    store = CertificateStore(chosen)
    try:
        services = CertificateServices.from_store(store)
        organization = store.organization
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read {store.ca_cert_path}: {exc}") from None
    if services.authority is None:
        if signing_ca is not None:
            raise typer.BadParameter(
                f"{signing_ca} has no CA key ({store.ca_key_path}): --signing-ca needs it",
                param_hint="--signing-ca",
            )
        return services, (
            f"certificate signing is off: {store.ca_key_path} is not here (the CA's key may "
            "live elsewhere, SW A00.FR.602), so SignCertificate is answered Rejected; give "
            "--signing-ca DIR (a directory with the CA's key) to sign stations' CSRs"
        )
    return services, (
        f"certificate signing on: stations' CSRs are signed by the CA of {chosen} (CN must be "
        f"the station's identity, O {organization!r}, a strong key; SW A02/A03)"
    )


def _firmware_signer(cert: Path | None, key: Path | None) -> FirmwareSigner | None:
    """The firmware signer of the API's signed updates (SW L01), from its two options."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise typer.BadParameter(
            "give the firmware signing certificate and its key together",
            param_hint="--firmware-signer-cert/--firmware-signer-key",
        )
    from ocppfast.security.firmware import FirmwareSigner

    try:
        return FirmwareSigner.load(cert, key)
    except ValueError as exc:
        raise typer.BadParameter(
            str(exc), param_hint="--firmware-signer-cert/--firmware-signer-key"
        ) from None


def _server_files(store: CertificateStore) -> list[tuple[Path, Path]]:
    """The server certificates and keys in an `ocppfast certs` directory: the valid,
    unrevoked one of each algorithm, ECDSA first (the note of SW A00.FR.317)."""
    from ocppfast.security.pki import PkiError

    try:
        records = store.list()
    except (PkiError, OSError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--pki") from None
    now = datetime.datetime.now(datetime.timezone.utc)
    chosen: dict[str, Any] = {}
    for record in records:  # in issuing order: a later one of the same name wins
        if record.kind != "server" or record.revoked or record.key_file is None:
            continue
        if record.not_after <= now:
            continue
        earlier = chosen.get(record.algorithm)
        if earlier is not None and earlier.name != record.name:
            raise typer.BadParameter(
                f"{store.directory} has {record.algorithm} server certificates for "
                f"{earlier.name} and {record.name}: choose one with --tls-cert and --tls-key",
                param_hint="--pki",
            )
        chosen[record.algorithm] = record
    if not chosen:
        raise typer.BadParameter(
            f"{store.directory} has no valid server certificate: make one with 'ocppfast certs "
            f"server HOSTNAME --dir {store.directory}' (the name stations connect to)",
            param_hint="--pki",
        )
    order = sorted(chosen.values(), key=lambda record: record.algorithm != "ecdsa")
    return [(store.path(r.cert_file), store.path(r.key_file)) for r in order]


def _tls_settings(
    certs: list[Path],
    keys: list[Path],
    client_ca: Path | None,
    pki: Path | None,
    data_dir: Path,
    station_org: str | None = None,
) -> _Tls | None:
    """The TLS of `ocppfast serve` from its options (None: plain ws://, profiles 0 and 1);
    exits with a message that says what to do on a bad combination or an unreadable file."""
    from ocppfast.security.pki import CertificateStore, PkiError
    from ocppfast.security.tls import check_station_certificate, server_context

    if len(certs) != len(keys):
        raise typer.BadParameter(
            f"{len(certs)} --tls-cert and {len(keys)} --tls-key: give the key of each "
            "certificate, in the same order",
            param_hint="--tls-key",
        )
    store = None
    if pki is not None:
        store = CertificateStore(pki)
        if not store.ca_cert_path.exists():
            raise typer.BadParameter(
                f"{pki} has no ca.pem: create the CA with 'ocppfast certs init --org NAME "
                f"--dir {pki}'",
                param_hint="--pki",
            )
        if not certs:
            pairs = _server_files(store)
            certs, keys = [c for c, _ in pairs], [k for _, k in pairs]
        if client_ca is None:
            client_ca = store.ca_cert_path
    if not certs:
        if client_ca is not None:
            raise typer.BadParameter(
                "security profile 3 is TLS: give the CSMS's certificate too (--tls-cert and "
                "--tls-key, or --pki DIR)",
                param_hint="--client-ca",
            )
        return None
    for option, paths in (("--tls-cert", certs), ("--tls-key", keys)):
        for path in paths:
            if not path.is_file():
                raise typer.BadParameter(f"{path} is not a readable file", param_hint=option)
    try:
        context = server_context(
            certs[0],
            keys[0],
            client_ca=client_ca,
            extra=list(zip(certs[1:], keys[1:], strict=True)),
        )
    except (ssl.SSLError, OSError, ValueError) as exc:
        # OpenSSL's message names the problem (a key that is not the certificate's, a file
        # that is not PEM), never the key's content.
        used = [*map(str, certs), *map(str, keys)] + ([str(client_ca)] if client_ca else [])
        raise typer.BadParameter(
            f"cannot load {', '.join(used)}: {exc}", param_hint="--tls-cert/--tls-key"
        ) from None
    served = ", ".join(str(cert) for cert in certs)
    if client_ca is None:
        return _Tls(
            context,
            2,
            None,
            None,
            [
                f"TLS: security profile 2: wss:// with the server certificate {served}, TLS 1.2 "
                "or later (SW 2.4); stations authenticate with HTTP Basic auth (--credentials "
                "or the passwords set through the API)"
            ],
        )
    if store is None and (data_dir / "pki" / "ca.pem").exists():
        store = CertificateStore(data_dir / "pki")
    crl = None
    if store is not None:
        try:
            store.crl()  # fail now rather than refuse every station (it fails closed)
        except (PkiError, OSError, ValueError) as exc:
            raise typer.BadParameter(
                f"the CRL of {store.directory}: {exc}", param_hint="--pki"
            ) from None
        crl = store.crl_path
    checking = store
    if station_org is None and pki is not None and store is not None:
        # `ocppfast certs station` gives station certificates the CA's O: with --pki, the
        # CSMS requires it (SW A00.FR.404) unless told otherwise.
        try:
            station_org = store.organization
        except (PkiError, OSError, ValueError) as exc:
            raise typer.BadParameter(
                f"the CA of {store.directory}: {exc}", param_hint="--pki"
            ) from None
    organization = station_org or None

    def check(ssl_object: ssl.SSLObject | None, identity: str) -> str | None:
        return check_station_certificate(
            ssl_object, identity, store=checking, organization=organization
        )

    return _Tls(
        context,
        3,
        check,
        crl,
        [
            f"TLS: security profile 3: wss:// with the server certificate {served}, TLS 1.2 or "
            f"later (SW 2.5); stations need a certificate of {client_ca} whose CN is their "
            "identity (SW A00.FR.403-405)"
            + (f" and whose O is {organization!r} (A00.FR.404)" if organization else "")
            + ", else HTTP 403"
            + (f"; revoked ones are refused ({crl})" if crl is not None else "")
        ],
    )
