"""What the long-running commands share: log setup, uvloop, and stopping on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import typer

from ocppfast import VERSIONS

LOG_LEVELS = ("debug", "info", "warning", "error")


def setup_logging(level: str) -> None:
    """One readable line per event on stderr: time, level, source, message."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
    )
    # websockets logs every failed handshake with a traceback at ERROR; ours say it in one line.
    logging.getLogger("websockets").setLevel(max(logging.getLogger().level, logging.WARNING) + 10)


def parse_versions(text: str) -> list[str]:
    """ "1.6,2.0.1" -> ["ocpp1.6", "ocpp2.0.1"], in the order given; exits with a clear message
    on an unknown version."""
    versions: list[str] = []
    for item in text.split(","):
        name = item.strip().lower()
        version = name if name.startswith("ocpp") else "ocpp" + name
        if version not in VERSIONS:
            known = ", ".join(v.removeprefix("ocpp") for v in VERSIONS)
            raise typer.BadParameter(f"unknown OCPP version {item.strip()!r}; use one of {known}")
        if version not in versions:
            versions.append(version)
    if not versions:
        raise typer.BadParameter("give at least one OCPP version")
    return versions


def run_until_signal(
    main: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
) -> None:
    """Run `main(stop)` on uvloop when installed; Ctrl-C and SIGTERM set `stop`; a second Ctrl-C
    interrupts at once."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        logging.getLogger("ocppfast").debug("event loop: %s", type(loop).__module__)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, _on_signal, stop, loop, sig)
        await main(stop)

    try:
        import uvloop
    except ModuleNotFoundError:  # optional: plain asyncio works, only slower
        asyncio.run(runner())
    else:
        uvloop.run(runner())


def _on_signal(stop: asyncio.Event, loop: asyncio.AbstractEventLoop, sig: int) -> None:
    logging.getLogger("ocppfast").info(
        "%s received: shutting down (Ctrl-C again to exit at once)", signal.Signals(sig).name
    )
    # The next one gets Python's default handling (KeyboardInterrupt), not a second clean stop.
    for each in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(each)
    stop.set()
