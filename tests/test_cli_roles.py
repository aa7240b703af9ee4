"""`ocppfast serve` and `ocppfast station` as real processes against each other, in every
version and on both core backends (issue 4 item 5), and a server restart under a connected
station (item 7)."""

from __future__ import annotations

import resource
import signal

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ocppfast._core import Backend
from tests.aio import free_port, run
from tests.cli_process import CliProcess, serve


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
def test_station_boots_heartbeats_and_reports_status_against_serve(
    core: Backend, version: str
) -> None:
    server, url = serve(core, "--heartbeat-interval", "1")
    with server:
        identity = "CLI-" + version.replace(".", "")
        with CliProcess(
            core, "station", "--url", url, "--id", identity, "--ocpp", version,
            "--connectors", "2", "--duration", "3.5",
        ) as station:  # fmt: skip
            assert station.process.wait(30) == 0, station.log
        assert station.count(r"Traceback|ERROR") == 0, station.log
        server.wait_for(rf"closed '{identity}'.*code 1000")
        assert server.stop() == 0
    log = server.log
    assert f"accepted '{identity}' (ocpp{version})" in log, log
    assert server.count(rf"{identity}: boot .*Accepted") == 1, log
    # Both connectors reported Available (1.6 also reports connector 0, the station itself).
    assert server.count(rf"{identity}: (connector|EVSE) .*Available") >= 2, log
    assert server.count(r"Traceback|ERROR|InternalError") == 0, log


def test_serve_runs_on_uvloop(core: Backend) -> None:
    """Issue 4 item 1: uvloop when installed (it is a dependency on Linux)."""
    server, _ = serve(core, "--log-level", "debug")
    with server:
        assert server.count(r"event loop: uvloop") == 1, server.log
        assert server.stop() == 0


def test_station_reconnects_with_back_off_after_a_server_restart(core: Backend) -> None:
    """J201 5.3: after the connection is lost, the station reconnects with back-off; Ctrl-C
    stops it cleanly."""
    port = str(free_port())
    server = CliProcess(core, "serve", "--port", port, "--api-port", "0")
    with server:
        server.wait_for("ready")
        with CliProcess(
            core, "station", "--url", f"ws://127.0.0.1:{port}", "--id", "CP-R", "--ocpp", "2.0.1"
        ) as station:
            server.wait_for(r"CP-R: boot .*Accepted")
            station.wait_for(r"booted, heartbeat every")  # the answer arrived
            assert server.stop(signal.SIGINT) == 0
            station.wait_for(r"(?i)lost|closed")
            station.wait_for(r"(?i)next attempt in")
            with CliProcess(core, "serve", "--port", port, "--api-port", "0") as restarted:
                restarted.wait_for(r"accepted 'CP-R' \(ocpp2\.0\.1\)", timeout=30)
                # J201 5.4: reconnecting is not rebooting: no second BootNotification, but the
                # station reports its status again.
                restarted.wait_for(r"CP-R: .*Available")
                assert station.stop(signal.SIGINT) == 0
                restarted.wait_for(r"closed 'CP-R'")
                assert restarted.stop() == 0
    assert restarted.count(r"CP-R: boot") == 0, restarted.log
    assert station.count(r"Traceback") == 0, station.log


def test_serve_limits_connections_and_raises_the_open_files_limit(core: Backend) -> None:
    """`--max-connections`: a handshake beyond it gets HTTP 503 and a log line; without it the
    limit follows the open-files limit, raised to its hard limit at start."""

    async def two(url: str) -> int:
        async with connect(f"{url}/CP1", subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
            try:
                async with connect(f"{url}/CP2", subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
                    return 101
            except InvalidStatus as exc:
                return exc.response.status_code

    server, url = serve(core, "--max-connections", "1", "--ping-interval", "0")
    with server:
        assert run(two(url)) == 503
        server.wait_for(r"max_connections|503")
        assert server.stop() == 0
    server, url = serve(core, "--log-level", "debug")
    with server:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        limit = server.wait_for(r"at most (\d+) connections").group(1)
        assert int(limit) == hard - 256
        assert server.stop() == 0
