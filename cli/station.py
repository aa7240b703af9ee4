"""`ocppfast station`: simulated charging stations, one or many, that keep their data and, on
request, charge (docs/station.md)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import random
import shlex
import shutil
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._run import LOG_LEVELS, parse_versions, run_until_signal, setup_logging

if TYPE_CHECKING:
    from collections.abc import Callable

    from ocppfast.hardware import Hardware
    from ocppfast.station.certificates import Provisioned
    from ocppfast.station.fleet import ChargingPlan, Fleet

# Not "ocppfast.station", which a fleet quiets below WARNING (the stations' own lines).
log = logging.getLogger("ocppfast.fleet")

DATA_FILE = "station.sqlite3"
# Seconds between freezes of the stations' objects while a fleet starts (`_keep_out_of_gc`).
_FREEZE_EVERY = 5.0


def station(
    url: Annotated[
        str,
        typer.Option(help="The CSMS endpoint; the identity is appended as the last path segment."),
    ] = "ws://127.0.0.1:9000",
    identity: Annotated[
        str,
        typer.Option(
            "--id",
            help="The station's identity (at most 48 characters); with --count N the stations "
            "are ID-1 to ID-N.",
        ),
    ] = "CP1",
    ocpp: Annotated[str, typer.Option(help="OCPP version to speak: 1.6, 2.0.1 or 2.1.")] = "2.0.1",
    password: Annotated[
        str | None,
        typer.Option(
            help="Basic auth password (security profile 1) every station starts with; also read "
            "from OCPPFAST_PASSWORD. A password the CSMS sets later is kept in the data.",
            envvar="OCPPFAST_PASSWORD",
            show_envvar=True,
        ),
    ] = None,
    ca: Annotated[
        Path | None,
        typer.Option(
            envvar="OCPPFAST_STATION_CA",
            help="The CSMS's root certificate (PEM; 'ocppfast certs' makes ca.pem) for a wss:// "
            "--url: the station checks the CSMS's certificate and host name against it "
            "(security profiles 2 and 3). Default for wss://: this machine's trusted CAs.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    cert: Annotated[
        Path | None,
        typer.Option(
            envvar="OCPPFAST_STATION_CERT",
            help="Security profile 3: the station's certificate (PEM, CN = its --id), presented "
            "to the CSMS instead of a password. With --key.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            envvar="OCPPFAST_STATION_KEY",
            help="The private key of --cert (never logged).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    pki: Annotated[
        Path | None,
        typer.Option(
            envvar="OCPPFAST_STATION_PKI",
            help="Security profile 3 from an 'ocppfast certs' directory (a test bench next to "
            "the CSMS): its ca.pem as --ca and each station's certificate and key (with "
            "--count, ID-1 to ID-N each its own).",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    manufacturer_root: Annotated[
        Path | None,
        typer.Option(
            envvar="OCPPFAST_STATION_MANUFACTURER_ROOT",
            help="The manufacturer's root certificate (PEM; the ca.pem of the 'ocppfast certs' "
            "directory of the firmware signer): signed firmware updates must chain to it (SW "
            "L01.FR.02), and unsigned ones are refused from then on (L01.FR.20). The CSMS can "
            "also install it (InstallCertificate ManufacturerRootCertificate).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    connectors: Annotated[
        int, typer.Option(help="Connectors per station (2.x: EVSEs).", min=1)
    ] = 1,
    duration: Annotated[
        float | None,
        typer.Option(
            help="Stop after this many seconds (default: run until Ctrl-C or SIGTERM).", min=0
        ),
    ] = None,
    vendor: Annotated[str, typer.Option(help="Vendor name sent at boot.")] = "ocppfast",
    model: Annotated[str, typer.Option(help="Model sent at boot.")] = "Simulated",
    data_dir: Annotated[
        Path,
        typer.Option(
            envvar="OCPPFAST_STATION_DATA_DIR",
            help=f"Folder of the stations' data: the SQLite file {DATA_FILE} (configuration set "
            "by the CSMS, authorization cache and local list, queued messages, transactions in "
            "progress), one for all the stations of the process. Created if missing; one "
            "process at a time.",
            file_okay=False,
        ),
    ] = Path("ocppfast-station-data"),
    in_memory: Annotated[
        bool,
        typer.Option(
            "--in-memory",
            envvar="OCPPFAST_STATION_IN_MEMORY",
            help="Keep nothing on disk: every start is a factory-new station.",
        ),
    ] = False,
    firmware_install_command: Annotated[
        str | None,
        typer.Option(
            envvar="OCPPFAST_FIRMWARE_INSTALL_COMMAND",
            help="The program that installs a firmware image the CSMS sent (UpdateFirmware), "
            "with its arguments; the image's path is added as the last one, and a non-zero "
            "exit reports InstallationFailed. Default: the simulated station only records the "
            "image.",
        ),
    ] = None,
    hardware_config: Annotated[
        Path | None,
        typer.Option(
            envvar="OCPPFAST_HARDWARE_CONFIG",
            help="Drive a real charger: the TOML file of its GPIO lines, energy meters, RFID "
            "readers and current-limit output (docs/hardware.md; check it with 'ocppfast "
            "hardware probe FILE'). One station; the plug line and the card reader take the "
            "place of --transactions.",
            dir_okay=False,
        ),
    ] = None,
    count: Annotated[
        int, typer.Option(help="Stations to run in this process (ID-1 to ID-N).", min=1)
    ] = 1,
    connect_rate: Annotated[
        float,
        typer.Option(
            help="Stations started per second, so that the CSMS is not flooded with "
            "handshakes and boots at once.",
            min=0.01,
        ),
    ] = 50.0,
    transactions: Annotated[
        bool,
        typer.Option(
            "--transactions",
            help="Simulate drivers: at every connector, again and again: plug in, present an "
            "id token, charge (--charge-time), stop, unplug, pause (--pause).",
        ),
    ] = False,
    id_tokens: Annotated[
        str | None,
        typer.Option(
            help="Id tokens the drivers present, comma-separated, one chosen at random each "
            "time (default: a new random 8-hex-digit token each time).",
        ),
    ] = None,
    charge_time: Annotated[
        str, typer.Option(help="Seconds a driver charges, MIN-MAX (drawn each time).")
    ] = "120-600",
    pause: Annotated[
        str,
        typer.Option(help="Seconds a connector stays free between drivers, MIN-MAX."),
    ] = "30-300",
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of the drivers' random choices (tokens, charge times, pauses): the same "
            "seed makes the same choices. Default: a new one, logged.",
        ),
    ] = None,
    meter_interval: Annotated[
        int,
        typer.Option(
            help="Seconds between meter samples during a transaction (1.6 "
            "MeterValueSampleInterval, 2.x SampledDataCtrlr.TxUpdatedInterval) until the CSMS "
            "sets another; 0: none.",
            min=0,
        ),
    ] = 60,
    progress_interval: Annotated[
        float,
        typer.Option(
            help="With --count above 1 or --transactions: seconds between progress lines when "
            "stderr is not a terminal (on a terminal one line is rewritten every second); "
            "0: none.",
            min=0,
        ),
    ] = 10.0,
    log_level: Annotated[
        str,
        typer.Option(
            help="debug also logs every frame (credentials never). With --count above 1, info "
            "leaves out each station's own info lines: the progress line sums them up.",
        ),
    ] = "info",
) -> None:
    """Run simulated charging stations against a CSMS: each boots, heartbeats, reports its
    connectors, answers the CSMS's requests, reconnects with back-off when the link drops, and
    keeps its data across restarts. With --transactions, simulated drivers charge."""
    if log_level not in LOG_LEVELS:
        raise typer.BadParameter(f"use one of {', '.join(LOG_LEVELS)}", param_hint="--log-level")
    versions = parse_versions(ocpp)
    if len(versions) != 1:
        raise typer.BadParameter("a station speaks one version: give one", param_hint="--ocpp")
    version = versions[0]
    from ocppfast._system import connections_allowed, raise_file_limit
    from ocppfast.hardware import SimulatedHardware
    from ocppfast.station import StationConfig, station_handlers
    from ocppfast.station.fleet import Fleet, ProgressLine

    try:
        Fleet.identities_for(identity, count)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--id") from None
    config = StationConfig(
        identity=identity,
        vendor=vendor,
        model=model,
        connectors=connectors,
        meter_interval=meter_interval,
    )
    try:
        station_handlers(config, version, password)  # the station's own checks (C16 6.3)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    tls = _tls_settings(url, Fleet.identities_for(identity, count), ca, cert, key, pki, password)
    provisioned = _provisioned(tls, manufacturer_root)
    board_config = None
    if hardware_config is not None:
        if count > 1 or transactions:
            raise typer.BadParameter(
                "a real charger is one station: leave out --count and --transactions",
                param_hint="--hardware-config",
            )
        from ocppfast.hardware.config import HardwareConfigError, load_config

        try:
            board_config = load_config(hardware_config)
        except HardwareConfigError as exc:
            raise typer.BadParameter(str(exc), param_hint="--hardware-config") from None
        wired = max((c.id for c in board_config.connectors), default=0)
        if wired > connectors:
            # The file names the connectors the charger has.
            config = dataclasses.replace(config, connectors=wired)
    plan = _plan(version, id_tokens, charge_time, pause, seed) if transactions else None
    install_command = None
    if firmware_install_command is not None:
        install_command = shlex.split(firmware_install_command)
        if not install_command or shutil.which(install_command[0]) is None:
            raise typer.BadParameter(
                f"{firmware_install_command!r} is not a program this machine can run",
                param_hint="--firmware-install-command",
            )
    setup_logging(log_level)
    if count > 1 and log_level == "info":
        # Thousands of stations' info lines would bury everything else and cost more CPU than
        # the stations themselves: the progress line sums them up. Warnings still show.
        for name in ("ocppfast.station", "ocppfast.client", "ocppfast.connection"):
            logging.getLogger(name).setLevel(logging.WARNING)
    files = raise_file_limit()
    if count > connections_allowed(files):
        log.warning(
            "the open-files limit (%d) leaves room for only %d connections, fewer than "
            "--count %d: raise it (ulimit -n, systemd LimitNOFILE=)",
            files,
            connections_allowed(files),
            count,
        )
    if plan is not None:
        log.info(
            "drivers charge %s, pause %s, seed %d (--seed %d repeats their choices)",
            plan.charge_time,
            plan.pause,
            plan.seed,
            plan.seed,
        )
    if tls is not None:
        for line in tls.described:
            log.info("%s", line)
        if tls.system_trust:
            log.warning(
                "no --ca: the CSMS's certificate is checked against this machine's trusted CAs; "
                "a station should have the CSMS's root installed (give --ca FILE, SW A05.FR.03)"
            )
        if tls.profile is None:
            log.warning(
                "wss:// without --password or --cert: the station does not authenticate (the "
                "CSMS must accept any identity); security profile 2 needs --password, 3 --cert"
            )
    data_file = (data_dir / DATA_FILE).absolute()
    # A fleet or drivers: a progress line and a summary (one plain station's own log says it).
    reporting = count > 1 or plan is not None

    async def main(stop: asyncio.Event) -> None:
        if duration is not None:
            asyncio.get_running_loop().call_later(duration, stop.set)
        from ocppfast.station.store import DataFileLocked, StationStore
        from ocppfast.storage import StorageError

        store = None
        if in_memory:
            log.warning("--in-memory: nothing is kept once the station stops")
        else:
            try:
                store = await StationStore.open(data_file)
            except DataFileLocked as exc:
                log.error(
                    "%s: a station process runs on it already; stop that one, or give this one "
                    "another --data-dir (or --in-memory)",
                    exc,
                )
                raise typer.Exit(1) from None
            except (OSError, StorageError) as exc:
                log.error(
                    "cannot open the station data in %s: %s (give another --data-dir)",
                    data_dir,
                    exc,
                )
                raise typer.Exit(1) from None
            log.info("station data kept in %s", data_file)
        hardware: Callable[[], Hardware] | None = None
        if install_command is not None:
            hardware = lambda: SimulatedHardware(install_command=list(install_command))  # noqa: E731
        board = None
        if board_config is not None:
            from ocppfast.hardware.board import Board

            board = Board(board_config, install_command=install_command)
            try:
                await board.open()
            except (OSError, ImportError, RuntimeError) as exc:
                log.error("the charger's hardware cannot be used: %s", exc)
                raise typer.Exit(1) from None
            log.info("hardware from %s is open", hardware_config)
            hardware = lambda: board  # noqa: E731
        fleet = Fleet(
            url,
            config,
            version,
            count=count,
            password=password,
            store=store,
            connect_rate=connect_rate,
            plan=plan,
            hardware=hardware,
            ssl=tls.contexts.__getitem__ if tls is not None else None,
            security_profile=tls.profile if tls is not None else None,
            certificates=provisioned,
        )
        freezing = asyncio.ensure_future(_keep_out_of_gc(fleet)) if count > 1 else None
        showing = None
        line = None
        if reporting:
            line = ProgressLine(fleet, progress_interval)
            for handler in logging.getLogger().handlers:
                if isinstance(handler, logging.StreamHandler):
                    line.interleave(handler)
            showing = asyncio.ensure_future(line.run())
        failed = False
        try:
            await fleet.run(stop)
        except StorageError as exc:
            log.error("station data: %s", exc)
            failed = True
        finally:
            if board is not None:
                await board.close()  # contactors open, LEDs off, devices closed
            if freezing is not None:
                freezing.cancel()
            if showing is not None:
                showing.cancel()
                await asyncio.wait({showing})
            if line is not None:
                line.clear()
            if store is not None:
                try:
                    await store.close()
                except StorageError as exc:
                    log.error("the last changes could not be stored: %s", exc)
                    failed = True
        if reporting:
            log.info("summary: %s", fleet.summary())
        log.info("stopped")
        if failed:
            raise typer.Exit(1)

    run_until_signal(main)


async def _keep_out_of_gc(fleet: Fleet) -> None:
    """Take the stations' own objects out of the garbage collector's full collections.

    A station holds about a thousand objects for its whole life (2.x: its device model), so
    5,000 of them make millions, which every full collection would walk again, finding nothing
    to free: measured with 5,000 stations, that was over a third of the process's CPU time and
    stalls of up to 3 s. So what exists is frozen (`gc.freeze()`: refcounting still frees
    it) every few seconds while the stations start, and once more when all have; a collection
    then walks only what came since, and the collector runs less often (a larger first
    generation: a fleet allocates fast)."""
    gc.set_threshold(10_000, 10, 10)
    while not fleet.started.is_set():
        gc.freeze()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(fleet.started.wait(), _FREEZE_EVERY)
    gc.freeze()


def _plan(
    version: str, id_tokens: str | None, charge_time: str, pause: str, seed: int | None
) -> ChargingPlan:
    """The drivers' plan from the options; exits with a clear message on a bad one."""
    from ocppfast.station.fleet import ChargingPlan, Span

    spans = []
    for option, text in (("--charge-time", charge_time), ("--pause", pause)):
        try:
            spans.append(Span.parse(text))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint=option) from None
    tokens = tuple(t.strip() for t in (id_tokens or "").split(",") if t.strip())
    if id_tokens is not None and not tokens:
        raise typer.BadParameter("give at least one id token", param_hint="--id-tokens")
    # C16 7.15 IdToken: CiString20; 2.0.1 IdTokenType.idToken: 36; 2.1: 255.
    longest = {"ocpp1.6": 20, "ocpp2.0.1": 36}.get(version, 255)
    for token in tokens:
        if len(token) > longest:
            raise typer.BadParameter(
                f"{token!r} is longer than the {longest} characters {version} allows",
                param_hint="--id-tokens",
            )
    if seed is None:
        seed = random.SystemRandom().randrange(1 << 32)
    return ChargingPlan(charge_time=spans[0], pause=spans[1], id_tokens=tokens, seed=seed)


@dataclass
class _Tls:
    """The stations' TLS: a context per identity, the security profile they report (2, 3, or
    None: TLS without authentication), whether the CSMS is checked against the system's CAs,
    and the log lines that say so (file names, never a key)."""

    contexts: dict[str, ssl.SSLContext]
    profile: int | None
    system_trust: bool
    described: list[str]
    # What goes into each station's certificate store (the CSMS root, its certificate and key):
    # GetInstalledCertificateIds reports the root; a renewal replaces the certificate.
    provisioned: dict[str, Provisioned] = field(default_factory=dict)


def _provisioned(
    tls: _Tls | None, manufacturer_root: Path | None
) -> Callable[[str], Provisioned | None] | None:
    """What each station's certificate store starts with: the TLS files (`_Tls.provisioned`)
    and the manufacturer root of --manufacturer-root, checked here (exits saying what is
    wrong)."""
    root = None
    if manufacturer_root is not None:
        from cryptography import x509

        try:
            root = manufacturer_root.read_bytes()
            if not x509.load_pem_x509_certificates(root):
                raise ValueError("no certificate in it")
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot read {manufacturer_root}: {exc.strerror}",
                param_hint="--manufacturer-root",
            ) from None
        except ValueError as exc:
            raise typer.BadParameter(
                f"{manufacturer_root} is not a PEM certificate ({exc})",
                param_hint="--manufacturer-root",
            ) from None
    if root is None:
        return tls.provisioned.get if tls is not None else None
    from ocppfast.station.certificates import Provisioned

    given = tls.provisioned if tls is not None else {}

    def provisioned(identity: str) -> Provisioned:
        return dataclasses.replace(given.get(identity) or Provisioned(), manufacturer_root=root)

    return provisioned


def _tls_settings(
    url: str,
    identities: list[str],
    ca: Path | None,
    cert: Path | None,
    key: Path | None,
    pki: Path | None,
    password: str | None,
) -> _Tls | None:
    """The TLS options checked and loaded (None for ws://); exits with what to do."""
    from ocppfast.security.pki import CertificateStore, PkiError
    from ocppfast.security.tls import client_context
    from ocppfast.station.certificates import Provisioned

    secure = url.lower().startswith("wss://")
    given = [name for name, value in (("--ca", ca), ("--cert", cert), ("--key", key),
                                      ("--pki", pki)) if value is not None]  # fmt: skip
    if not secure:
        if given:
            raise typer.BadParameter(
                f"{', '.join(given)} need TLS: give a wss:// URL (--url wss://HOST:PORT)",
                param_hint="--url",
            )
        return None
    if (cert is None) != (key is None):
        raise typer.BadParameter(
            "security profile 3 needs both the certificate and its key", param_hint="--cert/--key"
        )
    if cert is not None and len(identities) > 1:
        raise typer.BadParameter(
            "a station certificate names one station (its CN is the identity): for --count "
            "above 1 give --pki DIR, where each station has its own",
            param_hint="--cert",
        )
    files: dict[str, tuple[Path, Path]] = {}
    if cert is not None and key is not None:
        files = {identities[0]: (cert, key)}
    elif pki is not None:
        store = CertificateStore(pki)
        try:
            records = store.list()
        except (PkiError, OSError, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--pki") from None
        for identity in identities:
            found = [
                r
                for r in records
                if r.kind == "station" and r.name == identity and not r.revoked and r.key_file
            ]
            if not found or found[-1].key_file is None:
                raise typer.BadParameter(
                    f"{pki} has no certificate of {identity}: make it with 'ocppfast certs "
                    f"station {identity} --dir {pki}'",
                    param_hint="--pki",
                )
            files[identity] = (store.path(found[-1].cert_file), store.path(found[-1].key_file))
    if pki is not None and ca is None:
        ca = pki / "ca.pem"
    profile = 3 if files else 2 if password is not None else None
    if profile == 3 and password is not None:
        raise typer.BadParameter(
            "security profile 3 authenticates the station by its certificate, not a password "
            "(SW A00.FR.401): leave out --password (and OCPPFAST_PASSWORD)",
            param_hint="--password",
        )
    contexts: dict[str, ssl.SSLContext] = {}
    for identity in identities:
        pair = files.get(identity)
        try:
            contexts[identity] = client_context(
                ca, cert=pair[0] if pair else None, key=pair[1] if pair else None
            )
        except (ssl.SSLError, OSError, ValueError) as exc:
            used = [str(p) for p in (ca, *(pair or ())) if p is not None]
            raise typer.BadParameter(
                f"cannot load {', '.join(used) or 'the trusted CAs'}: {exc}",
                param_hint="--ca/--cert/--key",
            ) from None
    trusted = str(ca) if ca is not None else "this machine's trusted CAs"
    shown = "TLS: " + (f"security profile {profile}: " if profile else "")
    shown += f"wss://, the CSMS's certificate and host name checked against {trusted}"
    if profile == 3:
        first = files[identities[0]][0]
        shown += f"; the station's certificate {first}" + (
            f" (and {len(files) - 1} more)" if len(files) > 1 else ""
        )
    elif profile == 2:
        shown += "; HTTP Basic auth with the password"
    provisioned: dict[str, Provisioned] = {}
    try:
        root = ca.read_bytes() if ca is not None else None
        for identity in identities:
            pair = files.get(identity)
            provisioned[identity] = Provisioned(
                csms_root=root,
                cert=pair[0].read_bytes() if pair else None,
                key=pair[1].read_bytes() if pair else None,
            )
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {exc.filename}: {exc.strerror}") from None
    return _Tls(contexts, profile, ca is None, [shown], provisioned)
