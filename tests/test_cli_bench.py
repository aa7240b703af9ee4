"""`ocppfast bench`: its help, a short e2e run as a real process, and the baseline check."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ocppfast.cli import app

runner = CliRunner()

COMMANDS = {
    "core": "messages per second",
    "e2e": "calls per server",
    "idle": "memory growth per connection",
    "soak": "every call got an answer",
    "all": "core, e2e and idle",
    "check": "below half of its baseline value",
}


def _squash(text: str) -> str:
    return " ".join(text.split()).lower()


def test_bench_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["bench", "--help"])
    assert result.exit_code == 0, result.output
    for command in COMMANDS:
        assert f"\n  {command} " in result.output
    assert "bench" in runner.invoke(app, ["--help"]).output


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_command_explains_itself(command: str) -> None:
    result = runner.invoke(app, ["bench", command, "--help"])
    assert result.exit_code == 0, result.output
    assert COMMANDS[command] in _squash(result.output)


def test_bad_options_say_what_to_use() -> None:
    result = runner.invoke(app, ["bench", "e2e", "--servers", "ocppfast,nginx"])
    assert result.exit_code == 2
    assert "unknown 'nginx'; choose from ocppfast, ocpp, websockets" in result.stderr
    result = runner.invoke(app, ["bench", "e2e", "--versions", "2.1"])
    assert result.exit_code == 2 and "no benchmark mix for 2.1; use 1.6, 2.0.1" in result.stderr
    result = runner.invoke(app, ["bench", "idle", "--connections", "10,x"])
    assert result.exit_code == 2 and "'x' is not a whole number" in result.stderr
    result = runner.invoke(app, ["bench", "all", "--idle-connections", "0"])
    assert result.exit_code == 2 and "--idle-connections" in result.stderr
    result = runner.invoke(app, ["bench", "soak", "--ocpp", "1.6,2.0.1"])
    assert result.exit_code == 2
    assert "a soak runs one version mix, not 2: give 1.6 or 2.0.1" in result.stderr


def test_all_checks_everything_once_before_measuring(monkeypatch: pytest.MonkeyPatch) -> None:
    # The pure core on purpose, and more idle connections than the machine can hold.
    monkeypatch.setattr("ocppfast._core.COMPILED", False)
    monkeypatch.setenv("OCPPFAST_NO_EXTENSIONS", "1")
    result = runner.invoke(
        app, ["bench", "all", "--connections", "1", "--idle-connections", str(10**9)]
    )
    assert result.exit_code == 1
    assert "ulimit -n" in result.stderr
    assert result.stderr.count("note: OCPPFAST_NO_EXTENSIONS is set") == 1
    assert "core ocpp1.6" not in result.stderr  # nothing was measured


def test_e2e_writes_the_result_and_prints_the_tables(tmp_path: Path) -> None:
    out = tmp_path / "e2e.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ocppfast.cli",
            "bench",
            "e2e",
            "--connections",
            "2",
            "--windows",
            "1",
            "--window-seconds",
            "0.5",
            "--warmup",
            "0.2",
            "--servers",
            "ocppfast,websockets",
            "--versions",
            "1.6",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["ocppfast"] and result["created"].endswith("Z")
    assert result["machine"]["cores"] >= 1
    rows = result["e2e"]["results"]
    assert [(r["server"], r["version"], r["connections"]) for r in rows] == [
        ("ocppfast", "ocpp1.6", 2),
        ("websockets", "ocpp1.6", 2),
    ]
    assert all(r["calls_per_second"] > 0 and r["errors"] == 0 for r in rows)
    png = out.with_suffix(".png")
    if importlib.util.find_spec("matplotlib") is not None:
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    else:
        assert "no plot" in done.stderr
    # Tables on stdout, progress on stderr.
    assert "end to end: `ocppfast serve` on one core against N stations" in done.stdout
    assert "ocpp1.6  2  ocppfast" in done.stdout and "ocpp1.6  2  websockets" in done.stdout
    assert "e2e ocpp1.6 N=2 ocppfast: window 1/1:" in done.stderr
    assert "window 1/1" not in done.stdout


def _result(compiled: float, pure: float) -> dict[str, Any]:
    rows = [
        {"version": "ocpp1.6", "backend": "compiled", "messages_per_second": compiled},
        {"version": "ocpp1.6", "backend": "pure", "messages_per_second": pure},
    ]
    return {"ocppfast": "0.1.0", "core": {"rounds": 1, "repeat": 1, "results": rows}}


def _baseline(path: Path, ratio: float) -> Path:
    path.write_text(json.dumps({"ratios": {"core ocpp1.6 compiled/pure": ratio}}))
    return path


def test_check_fails_below_half_of_the_baseline(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    result.write_text(json.dumps(_result(3000.0, 1000.0)))  # compiled/pure: 3x
    huge = _baseline(tmp_path / "huge.json", 1000.0)
    done = runner.invoke(app, ["bench", "check", str(result), "--baseline", str(huge)])
    assert done.exit_code == 1
    assert "baseline check failed: core ocpp1.6 compiled/pure" in done.stderr
    assert "LOW" in done.stdout

    tiny = _baseline(tmp_path / "tiny.json", 0.001)
    done = runner.invoke(app, ["bench", "check", str(result), "--baseline", str(tiny)])
    assert done.exit_code == 0, done.output
    assert "core ocpp1.6 compiled/pure: 3 / 0.001  ok" in done.stdout
    assert "baseline check passed" in done.stdout


def test_check_update_writes_a_baseline_the_result_passes(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    result.write_text(json.dumps(_result(3000.0, 1000.0)))
    baseline = tmp_path / "bench/baseline.json"
    done = runner.invoke(
        app, ["bench", "check", str(result), "--baseline", str(baseline), "--update"]
    )
    assert done.exit_code == 0, done.output
    assert json.loads(baseline.read_text())["ratios"] == {"core ocpp1.6 compiled/pure": 3.0}
    done = runner.invoke(app, ["bench", "check", str(result), "--baseline", str(baseline)])
    assert done.exit_code == 0, done.output


def test_check_explains_an_unreadable_baseline(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    result.write_text(json.dumps(_result(3000.0, 1000.0)))
    missing = tmp_path / "nope.json"
    done = runner.invoke(app, ["bench", "check", str(result), "--baseline", str(missing)])
    assert done.exit_code == 1
    assert f"cannot read the baseline {missing}" in done.stderr
