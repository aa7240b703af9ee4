"""The e2e, idle and soak benchmarks (`ocppfast.bench.e2e`, `ocppfast.bench.soak`): real server
processes and the real load generator on 127.0.0.1, with few connections and short windows.
Figures are checked for being measured and consistent, never against a speed."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ocppfast.bench import e2e
from ocppfast.bench.e2e import (
    GENERATOR_BOUND_SHARE,
    SERVERS,
    git_commit,
    loadgen_command,
    machine_info,
    pinning,
    require,
    run_e2e,
    run_idle,
    server_command,
)
from ocppfast.bench.soak import run_soak

CPUS = sorted(os.sched_getaffinity(0))
SHORT: dict[str, Any] = {"windows": 1, "window_seconds": 0.5, "warmup_seconds": 0.2}


class Lines:
    """A progress callback that keeps the lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    def __str__(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture(scope="module")
def e2e_run() -> tuple[dict[str, Any], Lines]:
    """One short e2e run of the three servers with 1 and 5 connections (2.0.1: its mix starts
    a transaction per station, the longer setup)."""
    progress = Lines()
    section = run_e2e(versions=("ocpp2.0.1",), connections=(1, 5), progress=progress, **SHORT)
    return section, progress


def _row(section: dict[str, Any], server: str, n: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = section["results"]
    (row,) = [r for r in rows if r["server"] == server and r["connections"] == n]
    return row


@pytest.mark.parametrize("n", [1, 5])
@pytest.mark.parametrize("server", SERVERS)
def test_e2e_measures_every_server(
    e2e_run: tuple[dict[str, Any], Lines], server: str, n: int
) -> None:
    section, progress = e2e_run
    row = _row(section, server, n)
    assert "error" not in row, f"{row['error']}\nprogress:\n{progress}"
    assert row["version"] == "ocpp2.0.1"
    assert row["connected"] == n and row["connect_failed"] == 0
    assert row["errors"] == 0 and row["dropped"] == 0 and row["unexpected_answers"] == 0
    assert row["calls_per_second"] > 0 and row["calls_per_cpu_second"] > 0
    assert 0 < row["p50_ms"] <= row["p99_ms"]
    assert row["server_cpu_share"] > 0 and row["generator_cpu_share"] > 0
    assert isinstance(row["rss_per_connection_bytes"], int)
    assert row["rss_after_bytes"] > 0
    assert row["generator_bound"] is (row["generator_cpu_share"] > GENERATOR_BOUND_SHARE)
    (window,) = row["windows"]
    assert window["calls"] > 0 and window["server_cpu_seconds"] > 0
    # Over one window, the figures are that window's.
    assert row["calls_per_second"] == pytest.approx(window["calls"] / window["seconds"])


def test_e2e_section_and_progress(e2e_run: tuple[dict[str, Any], Lines]) -> None:
    section, progress = e2e_run
    assert section["windows"] == 1 and section["window_seconds"] == 0.5
    assert section["in_flight"] == 1
    # One row per version, N and server, in that order of loops.
    assert [(r["connections"], r["server"]) for r in section["results"]] == [
        (n, s) for n in (1, 5) for s in SERVERS
    ]
    pin = section["pinning"]
    assert pin["shared"] is (len(CPUS) < 2)
    assert {pin["server_cpu"], pin["generator_cpu"]} <= set(CPUS)
    # The generator's own lines are relayed live, then one summary per point.
    assert any("ocppfast: window 1/1:" in line for line in progress.lines), progress
    assert any(
        line.startswith("e2e ocpp2.0.1 N=5 ocpp: ") and "calls/CPU-s" in line
        for line in progress.lines
    ), progress


def _dying(monkeypatch: pytest.MonkeyPatch, victim: str) -> None:
    """`victim`'s command dies at once, saying why."""
    real = e2e.server_command

    def command(server: str, port: int, **options: Any) -> list[str]:
        if server == victim:
            return [sys.executable, "-c", "import sys; print('no way'); sys.exit(3)"]
        return real(server, port, **options)

    monkeypatch.setattr(e2e, "server_command", command)


def test_a_failing_server_becomes_an_error_row(monkeypatch: pytest.MonkeyPatch) -> None:
    _dying(monkeypatch, "websockets")
    progress = Lines()
    section = run_e2e(
        servers=("websockets", "ocppfast"),
        versions=("ocpp1.6",),
        connections=(1,),
        progress=progress,
        **SHORT,
    )
    broken, ours = section["results"]
    assert broken["server"] == "websockets"
    assert "exited with code 3 before listening" in broken["error"]
    assert "no way" in broken["error"]  # the end of its log
    assert "calls_per_second" not in broken
    # The run went on.
    assert ours["server"] == "ocppfast" and "error" not in ours
    assert ours["calls_per_second"] > 0
    assert any("websockets: FAILED" in line for line in progress.lines)


def test_idle_holds_connections_on_every_server() -> None:
    progress = Lines()
    section = run_idle(connections=(5,), hold_seconds=1.0, ping_interval=0.2, progress=progress)
    assert section["hold_seconds"] == 1.0 and section["ping_interval_seconds"] == 0.2
    assert [r["server"] for r in section["results"]] == list(SERVERS)
    for row in section["results"]:
        assert "error" not in row, f"{row['error']}\nprogress:\n{progress}"
        assert row["connections"] == 5 and row["connected"] == 5
        assert row["dropped"] == 0 and row["errors"] == 0
        assert row["rss_after_bytes"] > row["rss_before_bytes"] > 0
        assert row["rss_per_connection_bytes"] == round(
            (row["rss_after_bytes"] - row["rss_before_bytes"]) / 5
        )
        assert row["ping_interval_seconds"] == 0.2
        if "pings" in row:  # a generator that counts them
            assert row["pings"] > 0, row


def test_soak_passes_with_a_few_stations() -> None:
    progress = Lines()
    soak = run_soak(stations=5, interval_seconds=0.5, duration_seconds=2.0, progress=progress)
    assert soak["passed"] is True, f"{soak}\nprogress:\n{progress}"
    assert "problems" not in soak and "error" not in soak
    assert soak["stations"] == soak["connected"] == 5
    # Each station sends every 0.5 s for 2 s: about 4 calls each, all answered.
    assert soak["calls"] >= 10 and soak["answered"] == soak["calls"]
    assert soak["unanswered"] == soak["errors"] == soak["dropped"] == 0
    assert 0 < soak["p50_ms"] <= soak["p99_ms"] <= soak["max_ms"]
    assert soak["rss_bytes"] > 0 and soak["server_cpu_seconds"] is not None
    assert progress.lines[-1].endswith(": passed")


def test_a_failing_soak_server_fails_the_soak(monkeypatch: pytest.MonkeyPatch) -> None:
    _dying(monkeypatch, "ocppfast")
    progress = Lines()
    soak = run_soak(stations=2, interval_seconds=0.5, duration_seconds=1.0, progress=progress)
    assert soak["passed"] is False
    assert "exited with code 3 before listening" in soak["error"] and "no way" in soak["error"]
    assert soak["problems"] == [soak["error"].splitlines()[0]]
    assert "calls" not in soak
    assert any(": FAILED: " in line for line in progress.lines), progress


def test_a_server_dying_during_the_run_is_reported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = e2e.server_command

    def command(server: str, port: int, **options: Any) -> list[str]:
        # The real server, which exits on its own a second after it starts.
        argv = real(server, port, **options)
        code = (
            "import os, sys, threading; threading.Timer(1.0, os._exit, (4,)).start(); "
            f"from ocppfast.bench.peers import main; main({argv[3:]!r})"
        )
        return [sys.executable, "-c", code]

    monkeypatch.setattr(e2e, "server_command", command)
    with pytest.raises(e2e.BenchError, match=r"websockets exited with code 4 during the run"):
        e2e.measure_point(
            "websockets",
            "dies",
            connections=1,
            ping_interval=None,
            loadgen={"version": "ocpp1.6", "mode": "idle", "hold": 3.0},
            seconds=3.0,
            pin=pinning(),
            log_dir=tmp_path,
            progress=None,
        )


# -- the parts around the processes ------------------------------------------------------------


def test_require_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="unknown servers nginx"):
        require(["nginx"], 1)
    with pytest.raises(RuntimeError, match=r"ulimit -n"):
        require(["websockets"], 10**9)
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "ocpp" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(RuntimeError, match=r"pip install 'ocppfast\[bench\]'"):
        require(["ocppfast", "ocpp"], 1)
    require(["ocppfast", "websockets"], 1)  # no `ocpp` needed


def test_bad_arguments_raise_before_anything_starts() -> None:
    with pytest.raises(ValueError, match=r"unknown versions ocpp2\.1"):
        run_e2e(versions=("ocpp2.1",), connections=(1,))
    with pytest.raises(ValueError, match="connections must be at least 1"):
        run_e2e(connections=(0,))
    with pytest.raises(ValueError, match="window_seconds must be positive"):
        run_e2e(connections=(1,), window_seconds=0)
    with pytest.raises(ValueError, match="stations must be positive"):
        run_soak(stations=0)


def test_pinning() -> None:
    pin = pinning()
    assert pin.server_cpu in CPUS and pin.generator_cpu in CPUS
    assert pin.shared is (len(CPUS) < 2)
    assert pin.as_dict()["available_cpus"] == len(CPUS)
    shared = pinning(CPUS[0], CPUS[0])
    assert shared.shared and "share CPU" in shared.as_dict()["note"]
    with pytest.raises(ValueError, match="not available"):
        pinning(server_cpu=max(CPUS) + 1000)


def test_server_command_gives_every_server_the_ping_interval() -> None:
    for server in SERVERS:
        argv = server_command(server, 9, ping_interval=2.5)
        assert argv[argv.index("--ping-interval") + 1] == "2.5"
        assert argv[argv.index("--port") + 1] == "9"
        assert "--ping-interval" not in server_command(server, 9)  # the server's default
    ours = server_command("ocppfast", 9)
    assert ours[1:4] == ["-m", "ocppfast.cli", "serve"] and "--max-connections" not in ours


def test_loadgen_command() -> None:
    argv = loadgen_command(
        "ws://127.0.0.1:9", in_flight=2, window_seconds=1234567.5, server_pid=None, mode="closed"
    )
    assert argv[1:] == [
        "-m",
        "ocppfast.bench.loadgen",
        "ws://127.0.0.1:9",
        "--in-flight",
        "2",
        "--window-seconds",
        "1234567.5",
        "--mode",
        "closed",
    ]


def test_machine_info() -> None:
    info = machine_info()
    assert info["cores"] == os.cpu_count() and info["available_cpus"] == len(CPUS)
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))
    assert info["websockets"] and info["uvloop"]
    assert info["core"] in ("compiled", "pure")
    assert info["ocppfast"]


GitLayout = Callable[[Path], None]


def _loose(root: Path) -> None:
    (root / ".git/refs/heads").mkdir(parents=True)
    (root / ".git/HEAD").write_text("ref: refs/heads/main\n")
    (root / ".git/refs/heads/main").write_text("0123456789abcdef0123456789abcdef01234567\n")


def _packed(root: Path) -> None:
    (root / ".git").mkdir()
    (root / ".git/HEAD").write_text("ref: refs/heads/main\n")
    (root / ".git/packed-refs").write_text(
        "# pack-refs with: peeled fully-peeled sorted\n"
        "0123456789abcdef0123456789abcdef01234567 refs/heads/main\n"
    )


def _detached(root: Path) -> None:
    (root / ".git").mkdir()
    (root / ".git/HEAD").write_text("0123456789abcdef0123456789abcdef01234567\n")


def _worktree(root: Path) -> None:
    main = root / "main-checkout"
    (main / ".git/refs/heads").mkdir(parents=True)
    (main / ".git/refs/heads/main").write_text("0123456789abcdef0123456789abcdef01234567\n")
    linked = main / ".git/worktrees/wt"
    linked.mkdir(parents=True)
    (linked / "HEAD").write_text("ref: refs/heads/main\n")
    (linked / "commondir").write_text("../..\n")
    (root / ".git").write_text(f"gitdir: {linked}\n")


@pytest.mark.parametrize("layout", [_loose, _packed, _detached, _worktree])
def test_git_commit_reads_the_checkout(tmp_path: Path, layout: GitLayout) -> None:
    layout(tmp_path)
    (tmp_path / "pkg/sub").mkdir(parents=True)
    assert git_commit(tmp_path / "pkg/sub") == "0123456"


def test_git_commit_outside_a_checkout(tmp_path: Path) -> None:
    # tmp_path may sit under a checkout on some machines; a "HEAD" naming no commit counts as
    # none either way.
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git/HEAD").write_text("ref: refs/heads/unborn\n")
    assert git_commit(tmp_path) is None
