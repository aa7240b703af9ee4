"""The same pipeline work done by the `ocpp` package (mobilityhouse), as the baseline.

A central-system-side `ocpp.v16.ChargePoint` / `ocpp.v201.ChargePoint` with an `@on(action)`
handler per action of the mix, each returning the mix's canned response as the package's typed
call_result object. Every CALL frame goes through the package's real incoming path,
`ChargePoint.route_message`: unpack, validate the request against its JSON schema, convert to
snake_case, call the handler, convert back, validate the response, pack and send. The package's
default validation runs each jsonschema check in the loop's default thread pool executor;
`in_thread=True` sets its `ASYNC_VALIDATION = False`, which is faster on a busy core, so both are
measured and the ratios are reported against each.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Callable
from typing import Any

import ocpp.messages
import ocpp.v16
import ocpp.v201
from ocpp.charge_point import camel_to_snake_case
from ocpp.routing import on

from .frames import MIXES, call_frames

PACKAGES = {"ocpp1.6": ocpp.v16, "ocpp2.0.1": ocpp.v201}


class StubConnection:
    """What the ChargePoint sends to: `send` records the text; `recv` is never used."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, text: str) -> None:
        self.sent.append(text)

    async def recv(self) -> str:
        raise AssertionError("the benchmark feeds frames through route_message")


def _handler(action: str, response: Any) -> Callable[..., Any]:
    """An `@on(action)` handler that returns the typed `response`."""

    def handler(self: Any, **kwargs: Any) -> Any:
        return response

    handler.__name__ = f"on_{action}"  # `on` routes by function name
    return on(action)(handler)


def ocpp_pipeline(
    version: str, repeat: int, in_thread: bool = False
) -> tuple[Callable[[], None], int]:
    """A function that routes the mix `repeat` times through the package, and the frame count.
    `in_thread` validates in the event loop's thread instead of the package's default executor."""
    package = PACKAGES[version]
    attrs = {
        f"on_{action}": _handler(
            action, getattr(package.call_result, action)(**camel_to_snake_case(response))
        )
        for action, _, response in MIXES[version]
    }
    central_system = type("CentralSystem", (package.ChargePoint,), attrs)
    connection = StubConnection()
    cp = central_system("CP-1", connection)
    frames = [frame.decode() for frame in call_frames(version)]
    loop = asyncio.new_event_loop()

    async def route_all(times: int) -> None:
        for _ in range(times):
            for frame in frames:
                await cp.route_message(frame)

    def run() -> None:
        connection.sent.clear()
        saved = ocpp.messages.ASYNC_VALIDATION
        ocpp.messages.ASYNC_VALIDATION = not in_thread
        try:
            loop.run_until_complete(route_all(repeat))
        finally:
            ocpp.messages.ASYNC_VALIDATION = saved

    # Check once that the package does the work: every frame answered with its CALLRESULT.
    for frame, (_, _, response) in zip(frames, MIXES[version], strict=True):
        connection.sent.clear()
        loop.run_until_complete(cp.route_message(frame))
        assert len(connection.sent) == 1, connection.sent
        assert json.loads(connection.sent[0]) == [3, json.loads(frame)[1], response], (
            connection.sent
        )
    weakref.finalize(run, loop.close)
    return run, repeat * len(frames)
