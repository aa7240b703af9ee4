"""A station killed (SIGKILL: a power cut, as far as its software can tell) mid-transaction while
offline with 1,000 transaction messages queued loses none of them (C16 3.7, 2.0.1 E11/E12,
TC_E_40_CS..TC_E_45_CS): restarted with the same data directory, it boots first, then delivers
every queued message to `ocppfast serve`, in order and exactly once, and ends the transaction the
cut interrupted with reason PowerLoss (C16 7.36; 2.x stoppedReason PowerLoss).

Real processes and sockets on 127.0.0.1: the CSMS is `ocppfast serve` (its traffic log, the
`frames` table of its SQLite database, is what arrived, in arrival order); the station before the
cut is the library (a `StationStore`, a station and a `Client`, which is how a charger's firmware
embeds it), the station after it is `ocppfast station --data-dir` on the same directory.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from ocppfast._core import Backend
from tests.cli_process import CliProcess, backend_env

QUEUED = 1000

# The station before the cut: boots, starts a transaction, and once the test has taken the CSMS
# away (stdin says so), queues QUEUED samples and writes down what its queue holds.
_STATION = textwrap.dedent(
    """
    import asyncio, json, sys
    from ocppfast.asyncio.client import Client
    from ocppfast.station import StationConfig, StationStore, station_handlers

    async def main(url, identity, version, path, dump, count):
        store = await StationStore.open(path)
        data = await store.load(identity)
        station = station_handlers(StationConfig(identity=identity), version, data=data)
        client = Client(url, identity, station, versions=[version])
        running = asyncio.create_task(client.run())
        await asyncio.wait_for(station.booted.wait(), 20)
        await station.start_transaction(1, "POWERCUT1")
        await data.flush()
        print("started", flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.readline)  # the CSMS is gone
        while station.booted.is_set():
            await asyncio.sleep(0.05)
        for _ in range(count):
            await station.sample_now(1)
        await data.flush()
        with open(dump, "w") as out:
            json.dump([[item.action, item.decoded()] for item in data.queue], out)
        print("queued", len(data.queue), flush=True)
        await running  # until killed

    asyncio.run(main(*sys.argv[1:6], int(sys.argv[6])))
    """
)

_TRANSACTION_ACTIONS = {"StartTransaction", "StopTransaction", "MeterValues", "TransactionEvent"}


def _calls_from(database: Path, identity: str) -> list[tuple[str, dict[str, Any]]]:
    """The CALLs the CSMS received from `identity`, in arrival order (its traffic log)."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT frame FROM frames WHERE station_key = ? AND direction = 'in' ORDER BY id",
            (identity.casefold(),),
        ).fetchall()
    calls = []
    for (text,) in rows:
        frame = json.loads(text)
        if isinstance(frame, list) and frame and frame[0] == 2:
            calls.append((frame[2], frame[3]))
    return calls


def _read_until(process: subprocess.Popen[str], prefix: str) -> None:
    """Read the script's output (its log lines too) until a line starts with `prefix`."""
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        if line.startswith(prefix):
            return
        seen.append(line)
    raise AssertionError(f"no {prefix!r} line; output:\n{''.join(seen)}")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_sigkill_offline_with_1000_queued_loses_nothing(
    core: Backend, version: str, tmp_path: Path
) -> None:
    identity = f"CUT{version.replace('.', '')}"
    csms_dir = tmp_path / "csms"
    csms_dir.mkdir()
    station_db = tmp_path / "station" / "station.sqlite3"
    dump = tmp_path / "queue.json"

    def serve() -> tuple[CliProcess, str]:
        process = CliProcess(core, "serve", "--port", "0", "--api-port", "0", cwd=str(csms_dir))
        url = process.wait_for(r"ready: point stations at (ws://\S+)/<identity>").group(1)
        return process, url

    csms, url = serve()
    station = subprocess.Popen(
        [sys.executable, "-c", _STATION, url, identity, f"ocpp{version}", str(station_db),
         str(dump), str(QUEUED)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=backend_env(core), cwd=tmp_path,
    )  # fmt: skip
    try:
        assert station.stdin is not None and station.stdout is not None
        _read_until(station, "started")
        assert csms.stop() == 0, csms.log  # the link is cut: the CSMS goes away
        station.stdin.write("go\n")
        station.stdin.flush()
        _read_until(station, "queued")
        station.send_signal(signal.SIGKILL)  # the power cut
        station.wait(10)
    finally:
        if station.poll() is None:
            station.kill()
            station.wait()
    queued = [(action, payload) for action, payload in json.loads(dump.read_text())]
    assert len(queued) >= QUEUED

    csms, url = serve()
    with csms:
        database = csms_dir / "ocppfast-data" / "ocppfast.sqlite3"
        before = len(_calls_from(database, identity))
        with CliProcess(
            core, "station", "--url", url, "--id", identity, "--ocpp", version,
            "--data-dir", str(station_db.parent), cwd=str(tmp_path),
        ) as restarted:  # fmt: skip
            restarted.wait_for(r"(?i)power ?loss", timeout=30)

            def delivered() -> list[tuple[str, dict[str, Any]]]:
                return _calls_from(database, identity)[before:]

            def ended(call: tuple[str, dict[str, Any]]) -> bool:
                action, payload = call
                return payload.get("reason") == "PowerLoss" or (
                    action == "TransactionEvent"
                    and payload.get("transactionInfo", {}).get("stoppedReason") == "PowerLoss"
                )

            deadline = time.monotonic() + 60
            while not any(ended(call) for call in delivered()):
                assert time.monotonic() < deadline, restarted.log
                time.sleep(0.2)
            assert restarted.stop(signal.SIGINT) == 0, restarted.log
        assert restarted.count("Traceback") == 0, restarted.log
        calls = delivered()

    # J16 5.4 / B01: a rebooted station's first message is its BootNotification.
    assert calls[0][0] == "BootNotification"
    transaction_calls = [call for call in calls if call[0] in _TRANSACTION_ACTIONS]
    # Every queued message, in order, exactly once, then the end the power cut caused.
    assert transaction_calls[: len(queued)] == queued
    rest = transaction_calls[len(queued) :]
    assert len(rest) == 1 and ended(rest[0]), rest
    if version == "1.6":
        assert rest[0][0] == "StopTransaction"
    else:
        assert rest[0][1]["eventType"] == "Ended"
    assert os.path.exists(station_db)
