"""The two embedding examples of docs/asyncio.md (docs/examples/csms.py and station.py) work
against each other over a real socket, on both core backends."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from ocppfast._core import Backend
from ocppfast.asyncio import Client, Server
from tests.aio import run, until

EXAMPLES = Path(__file__).parent.parent / "docs" / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_station_against_example_csms(
    core: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    csms, station = load("csms"), load("station")

    async def main() -> None:
        async with Server(
            csms.MyCSMS, port=0, versions=["ocpp2.0.1", "ocpp1.6"], core=core
        ) as server:
            handlers = station.MyStation()
            client = Client(server.url, "CP1", handlers, versions=["ocpp2.0.1"], core=core)
            running = asyncio.create_task(client.run())
            await asyncio.wait_for(handlers.accepted.wait(), 10)
            out: list[str] = []

            def printed_heartbeat_interval() -> bool:
                out.append(capsys.readouterr().out)
                return "HeartbeatInterval =" in "".join(out)

            # The CSMS's follow-up GetVariables comes after the boot.
            await until(printed_heartbeat_interval)
            await client.stop()
            await running
        assert csms.MyCSMS.booted == ["CP1"]

    run(main())
