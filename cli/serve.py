"""`ocppfast serve`: the CSMS."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._run import LOG_LEVELS, parse_versions, run_until_signal, setup_logging

if TYPE_CHECKING:
    from ocppfast.asyncio.auth import Credentials
    from ocppfast.csms import CsmsState

log = logging.getLogger("ocppfast.serve")


def serve(
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on. The default serves this machine only; "
            "use 0.0.0.0 to accept stations from the network."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.", min=0, max=65535)] = 9000,
    ocpp: Annotated[
        str,
        typer.Option(
            help="OCPP versions to accept, comma-separated, best first: a station gets the "
            "first of these it offers.",
        ),
    ] = "2.1,2.0.1,1.6",
    heartbeat_interval: Annotated[
        int, typer.Option(help="Heartbeat interval given to stations at boot, in seconds.", min=1)
    ] = 300,
    credentials: Annotated[
        Path | None,
        typer.Option(
            help="File of station passwords (security profile 1, HTTP Basic auth): one "
            "'IDENTITY PASSWORD' per line, '#' starts a comment. Without it any identity is "
            "accepted without authentication.",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    path_prefix: Annotated[
        str, typer.Option(help="Path before the identity, e.g. /ocpp for ws://HOST:PORT/ocpp/CP1.")
    ] = "",
    max_connections: Annotated[
        int | None,
        typer.Option(
            help="Most station connections at once; beyond it handshakes get HTTP 503. "
            "Default: as many as the open-files limit allows (raised to its hard limit at "
            "start), less 256 descriptors kept for everything else (a quarter of a small "
            "limit).",
            min=1,
        ),
    ] = None,
    ping_interval: Annotated[
        float,
        typer.Option(
            help="Seconds between WebSocket pings to each station, which find dead "
            "connections (J201 5.3); 0 turns them off.",
            min=0,
        ),
    ] = 60.0,
    data_dir: Annotated[
        Path,
        typer.Option(
            help="Folder of the CSMS's data: the SQLite database (ocppfast.sqlite3) unless "
            "--database names another. Created if missing.",
            file_okay=False,
        ),
    ] = Path("ocppfast-data"),
    database: Annotated[
        str | None,
        typer.Option(
            help="Where stations, id tokens, transactions and meter values are kept: "
            "sqlite:////absolute/path.sqlite3, postgresql://user:password@host:port/name (needs "
            "pip install 'ocppfast[postgres]'), or 'memory' to keep nothing once stopped. "
            "Default: SQLite in --data-dir.",
        ),
    ] = None,
    log_level: Annotated[
        str,
        typer.Option(help="debug also logs every frame (credentials never)."),
    ] = "info",
) -> None:
    """Run the CSMS: accept charging stations over WebSocket (OCPP 1.6J, 2.0.1, 2.1 on one
    endpoint, ws://HOST:PORT/<identity>) and answer everything they send."""
    if log_level not in LOG_LEVELS:
        raise typer.BadParameter(f"use one of {', '.join(LOG_LEVELS)}", param_hint="--log-level")
    versions = parse_versions(ocpp)
    setup_logging(log_level)
    from ocppfast._system import connections_allowed, raise_file_limit
    from ocppfast.asyncio.server import Server, ServerLimits
    from ocppfast.csms import default_csms
    from ocppfast.csms.store import StoredState
    from ocppfast.storage import StorageError

    files = raise_file_limit()
    room = connections_allowed(files)
    if max_connections is None:
        max_connections = room
        if room < 1000:
            log.warning(
                "the open-files limit (%d) leaves room for only %d connections: raise it "
                "(ulimit -n, systemd LimitNOFILE=) or set --max-connections",
                files,
                room,
            )
    elif max_connections > room:
        log.warning(
            "--max-connections %d is more than the open-files limit (%d) allows: connections "
            "beyond about %d will fail; raise the limit (ulimit -n) or lower --max-connections",
            max_connections,
            files,
            room,
        )
    limits = ServerLimits(max_connections=max_connections, ping_interval=ping_interval or None)

    store = _read_credentials(credentials) if credentials is not None else None
    if database is None:
        database = "sqlite:///" + str((data_dir / "ocppfast.sqlite3").absolute())

    async def main(stop: asyncio.Event) -> None:
        state = await _open_state(database, heartbeat_interval)
        try:
            await _serve(state, stop)
        finally:
            if isinstance(state, StoredState):
                try:
                    await state.close()
                except StorageError as exc:
                    log.error("the last changes could not be stored: %s", exc)

    async def _serve(state: CsmsState, stop: asyncio.Event) -> None:
        server = Server(
            default_csms(state),
            host=host,
            port=port,
            versions=versions,
            credentials=store,
            path_prefix=path_prefix,
            limits=limits,
        )
        try:
            await server.start()
        except OSError as exc:
            log.error(
                "cannot listen on %s:%s: %s (is another server running there?)",
                host,
                port,
                exc.strerror or exc,
            )
            raise typer.Exit(1) from None
        log.info(
            "at most %d connections (--max-connections), pings every %s",
            max_connections,
            f"{ping_interval:g} s" if ping_interval else "- (off)",
        )
        log.info("ready: point stations at %s/<identity>; Ctrl-C to stop", server.url)
        await stop.wait()
        await server.stop()
        log.info("stopped")

    run_until_signal(main)


async def _open_state(database: str, heartbeat_interval: int) -> CsmsState:
    """The CSMS state: in memory, or kept in `database` (opened, migrated and loaded)."""
    from ocppfast.csms import CsmsState
    from ocppfast.csms.store import StoredState
    from ocppfast.storage import StorageError, open_database

    if database == "memory":
        log.warning("--database memory: nothing is kept once the CSMS stops")
        return CsmsState(heartbeat_interval=heartbeat_interval)
    try:
        state = StoredState(open_database(database), heartbeat_interval=heartbeat_interval)
        await state.open()
    except StorageError as exc:
        log.error("%s", exc)
        raise typer.Exit(1) from None
    log.info("data kept in %s", state.database.display_url)
    return state


def _read_credentials(path: Path) -> Credentials:
    from ocppfast.asyncio.auth import Credentials

    store = Credentials()
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
            store.set_password(parts[0], parts[1].strip())
        except ValueError as exc:
            raise typer.BadParameter(f"line {number}: {exc}", param_hint="--credentials") from None
    return store
