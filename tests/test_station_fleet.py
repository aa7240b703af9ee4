"""`ocppfast station --count N --transactions` (issue 7 item 6): many stations in one process,
simulated drivers charging at each, and a progress line, against `ocppfast serve`; real
processes and sockets on 127.0.0.1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ocppfast._core import Backend
from tests.cli_process import CliProcess, serve


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_count_and_transactions_against_serve(core: Backend, version: str, tmp_path: Path) -> None:
    csms, url = serve(core)
    with csms:
        with CliProcess(
            core, "station", "--url", url, "--id", "FLEET", "--ocpp", version, "--count", "5",
            "--transactions", "--charge-time", "1-2", "--pause", "1-1", "--meter-interval", "1",
            "--progress-interval", "1", "--duration", "8", "--seed", "7", cwd=str(tmp_path),
        ) as fleet:  # fmt: skip
            assert fleet.process.wait(60) == 0, fleet.log
        summary = fleet.wait_for(r"summary: 5 station\(s\), .*").group(0)
        assert "all connected and booted" in summary and "errors: none" in summary, summary
        completed = int(re.search(r"(\d+) completed", summary).group(1))  # type: ignore[union-attr]
        assert completed >= 5, summary
        # The progress line, once per --progress-interval.
        assert fleet.count(r"stations 5/5 connected, 5 booted \| transactions") >= 3, fleet.log
        assert fleet.count("Traceback") == 0, fleet.log
        # Each station is its own identity at the CSMS, each booted and charged there.
        for n in range(1, 6):
            csms.wait_for(rf"FLEET-{n}: boot")
        assert csms.count(r"(?i)transaction .*(ended|stopped)") >= completed, csms.log
        assert csms.stop() == 0
    assert csms.count(r"ERROR|Traceback") == 0, csms.log
    # The stations' data is where --data-dir says by default, one file for the process.
    assert (tmp_path / "ocppfast-station-data" / "station.sqlite3").exists()


def test_a_second_process_on_the_same_data_dir_is_refused(core: Backend, tmp_path: Path) -> None:
    """Two simulators writing the same stations' data would undo each other's writes: the
    second one stops at once and says what to do."""
    args = ("station", "--url", "ws://127.0.0.1:9", "--id", "LOCKED", "--duration", "30")
    with CliProcess(core, *args, cwd=str(tmp_path)) as first:
        first.wait_for(r"station data kept in")
        with CliProcess(core, *args, cwd=str(tmp_path)) as second:
            assert second.process.wait(30) != 0
        assert re.search(r"--data-dir|--in-memory", second.log), second.log
        assert second.count("Traceback") == 0, second.log
        assert first.stop() == 0, first.log
