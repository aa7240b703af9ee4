"""`ocppfast station`: one simulated charging station."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Any

import typer

from ._run import LOG_LEVELS, parse_versions, run_until_signal, setup_logging

log = logging.getLogger("ocppfast.station")


def station(
    url: Annotated[
        str,
        typer.Option(help="The CSMS endpoint; the identity is appended as the last path segment."),
    ] = "ws://127.0.0.1:9000",
    identity: Annotated[
        str, typer.Option("--id", help="The station's identity (at most 48 characters).")
    ] = "CP1",
    ocpp: Annotated[str, typer.Option(help="OCPP version to speak: 1.6, 2.0.1 or 2.1.")] = "2.0.1",
    password: Annotated[
        str | None,
        typer.Option(
            help="Basic auth password (security profile 1); also read from OCPPFAST_PASSWORD.",
            envvar="OCPPFAST_PASSWORD",
            show_envvar=True,
        ),
    ] = None,
    connectors: Annotated[int, typer.Option(help="Number of connectors (2.x: EVSEs).", min=1)] = 1,
    duration: Annotated[
        float | None,
        typer.Option(
            help="Stop after this many seconds (default: run until Ctrl-C or SIGTERM).", min=0
        ),
    ] = None,
    vendor: Annotated[str, typer.Option(help="Vendor name sent at boot.")] = "ocppfast",
    model: Annotated[str, typer.Option(help="Model sent at boot.")] = "Simulated",
    log_level: Annotated[
        str, typer.Option(help="debug also logs every frame (credentials never).")
    ] = "info",
) -> None:
    """Run one simulated charging station against a CSMS: it boots, heartbeats, reports its
    connectors, answers the CSMS's requests, and reconnects with back-off when the link drops."""
    if log_level not in LOG_LEVELS:
        raise typer.BadParameter(f"use one of {', '.join(LOG_LEVELS)}", param_hint="--log-level")
    versions = parse_versions(ocpp)
    if len(versions) != 1:
        raise typer.BadParameter("a station speaks one version: give one", param_hint="--ocpp")
    version = versions[0]
    setup_logging(log_level)
    from ocppfast.asyncio.client import Client
    from ocppfast.station import StationConfig, station_handlers

    config = StationConfig(identity=identity, vendor=vendor, model=model, connectors=connectors)
    handlers: Any = station_handlers(config, version, password)

    async def main(stop: asyncio.Event) -> None:
        client = Client(url, identity, handlers, versions=[version], password=password)
        if hasattr(handlers, "backoff"):  # 2.x: the device model's RetryBackOff* variables
            client.backoff = handlers.backoff
        # A new password set by the CSMS (1.6 AuthorizationKey, 2.x BasicAuthPassword; SW A01)
        # is the one the next connection uses.
        handlers.password_changed = lambda new: setattr(client, "password", new)
        running = asyncio.create_task(client.run())
        waiters = [asyncio.create_task(stop.wait()), running]
        if duration is not None:
            waiters.append(asyncio.create_task(asyncio.sleep(duration)))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        # Running transactions end with their stop message before the station goes away.
        await client.stop(
            1000,
            "station shutting down",
            before_close=lambda: asyncio.wait_for(handlers.shutdown("Local"), 10),
        )
        with contextlib.suppress(asyncio.CancelledError):
            await running
        for waiter in waiters:
            waiter.cancel()
        log.info("stopped")

    run_until_signal(main)
