"""The same pipeline work done by the `ocpp` package (mobilityhouse), as the baseline.

A central-system-side `ocpp.v16.ChargePoint` / `ocpp.v201.ChargePoint` with an `@on(action)`
handler per action of the mix, each returning the mix's canned response as the package's typed
call_result object. Every CALL frame goes through the package's real incoming path,
`ChargePoint.route_message`: unpack, validate the request against its JSON schema, convert to
snake_case, call the handler, convert back, validate the response, pack and send. The package's
default validation runs each jsonschema check in the loop's default thread pool executor;
`in_thread=True` sets its `ASYNC_VALIDATION = False`, which is faster on a busy core, so both are
measured and the ratios are reported against each.

The `ocpp` package is an optional dependency (the `bench` extra): it is imported only when a
function here needs it, and its absence is a RuntimeError that says how to install it.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple

from .mixes import MIXES, call_frames

INSTALL_OCPP = "pip install 'ocppfast[bench]'"
# The package is two orders of magnitude slower than our compiled core: its rounds route the mix
# this many times fewer, so that all rounds take comparable time (rates are per message).
PEER_REPEAT_DIVISOR = 20

# The package logs every message at INFO. Its own logger would follow whatever logging the host
# (say, the CLI) configured and could turn each routed frame into a log write; this one keeps
# the work that is measured the same everywhere.
_LOGGER = logging.getLogger("ocppfast.bench.ocpp_peer")
_LOGGER.setLevel(logging.WARNING)


class OcppPackage(NamedTuple):
    """The modules of the `ocpp` package that the peer pipeline uses."""

    messages: ModuleType
    charge_point: ModuleType
    routing: ModuleType
    versions: dict[str, ModuleType]  # "ocpp1.6" -> ocpp.v16, "ocpp2.0.1" -> ocpp.v201


def require_ocpp() -> OcppPackage:
    """Import the `ocpp` package, or raise RuntimeError saying how to install it."""
    try:
        # The top-level package first, so that a missing package is reported as such.
        importlib.import_module("ocpp")
        return OcppPackage(
            messages=importlib.import_module("ocpp.messages"),
            charge_point=importlib.import_module("ocpp.charge_point"),
            routing=importlib.import_module("ocpp.routing"),
            versions={
                "ocpp1.6": importlib.import_module("ocpp.v16"),
                "ocpp2.0.1": importlib.import_module("ocpp.v201"),
            },
        )
    except ImportError as exc:
        raise RuntimeError(
            "the `ocpp` package (mobilityhouse), the core benchmark's peer, cannot be imported "
            f"({exc}); install it with: {INSTALL_OCPP}"
        ) from exc


def peer_repeat(repeat: int) -> int:
    """How many times a round of the package routes the mix, where ours runs it `repeat` times."""
    return max(1, repeat // PEER_REPEAT_DIVISOR)


class StubConnection:
    """What the ChargePoint sends to: `send` records the text; `recv` is never used."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, text: str) -> None:
        self.sent.append(text)

    async def recv(self) -> str:
        raise AssertionError("the benchmark feeds frames through route_message")


def _handler(ocpp: OcppPackage, action: str, response: Any) -> Callable[..., Any]:
    """An `@on(action)` handler that returns the typed `response`."""

    def handler(self: Any, **kwargs: Any) -> Any:
        return response

    handler.__name__ = f"on_{action}"  # `on` routes by function name
    routed: Callable[..., Any] = ocpp.routing.on(action)(handler)
    return routed


def ocpp_pipeline(
    version: str, repeat: int, in_thread: bool = False
) -> tuple[Callable[[], None], int]:
    """A function that routes the mix `repeat` times through the package, and the frame count.
    `in_thread` validates in the event loop's thread instead of the package's default executor.
    Raises RuntimeError if the package is not installed, or if it does not answer every frame
    with the expected CALLRESULT."""
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, not {repeat}")
    ocpp = require_ocpp()
    package = ocpp.versions[version]
    camel_to_snake_case = ocpp.charge_point.camel_to_snake_case
    attrs = {
        f"on_{action}": _handler(
            ocpp, action, getattr(package.call_result, action)(**camel_to_snake_case(response))
        )
        for action, _, response in MIXES[version]
    }
    central_system = type("CentralSystem", (package.ChargePoint,), attrs)
    connection = StubConnection()
    cp = central_system("CP-1", connection, logger=_LOGGER)
    frames = [frame.decode() for frame in call_frames(version)]
    loop = asyncio.new_event_loop()

    async def route_all(times: int) -> None:
        for _ in range(times):
            for frame in frames:
                await cp.route_message(frame)

    def run() -> None:
        # The package reads its module-level switch on every validation; restore it after.
        connection.sent.clear()
        saved = ocpp.messages.ASYNC_VALIDATION
        setattr(ocpp.messages, "ASYNC_VALIDATION", not in_thread)  # noqa: B010
        try:
            loop.run_until_complete(route_all(repeat))
        finally:
            setattr(ocpp.messages, "ASYNC_VALIDATION", saved)  # noqa: B010

    # Check once that the package does the work: every frame answered with its CALLRESULT.
    try:
        for frame, (_, _, response) in zip(frames, MIXES[version], strict=True):
            connection.sent.clear()
            loop.run_until_complete(cp.route_message(frame))
            expected = [3, json.loads(frame)[1], response]
            if len(connection.sent) != 1 or json.loads(connection.sent[0]) != expected:
                raise RuntimeError(
                    f"the ocpp package answered {frame} with {connection.sent}, not {expected}"
                )
    except BaseException:
        loop.close()
        raise
    # The loop lives as long as `run` does.
    weakref.finalize(run, loop.close)
    return run, repeat * len(frames)
