"""`ocppfast.bench.report` (issue 5): ratios, the text report, the PNG plot and the CI baseline
guard, over hand-made result dicts shaped like `ocppfast bench ... --json` writes them."""

from __future__ import annotations

import builtins
import copy
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

from ocppfast.bench import report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _e2e_row(
    server: str, version: str, n: int, rate: float, per_cpu: float, p99: float
) -> dict[str, Any]:
    return {
        "server": server,
        "version": version,
        "connections": n,
        "calls_per_second": rate,
        "calls_per_cpu_second": per_cpu,
        "p50_ms": p99 / 3,
        "p99_ms": p99,
        "server_cpu_share": 0.97,
        "generator_cpu_share": 0.41,
        "rss_per_connection_bytes": 30720.0,
        "errors": 0,
        "dropped": 0,
        "windows": [],
    }


def row(text: str, *first: str) -> list[str]:
    """The cells after `first` of the shortest line whose cells start with `first` (the e2e
    ratio row of a version and N is shorter than the e2e rows of that version and N)."""
    lines = [line.split() for line in text.splitlines()]
    found = [cells[len(first) :] for cells in lines if tuple(cells[: len(first)]) == first]
    shortest = min(found, key=len, default=None)
    assert shortest is not None, f"no line starting with {first!r}"
    return shortest


def full_result() -> dict[str, Any]:
    """Every section, two versions, three servers, connections 1 to 10,000."""
    e2e = []
    # (ocppfast, ocpp, websockets) calls_per_second and calls_per_cpu_second per N.
    figures = {
        1: ((2_000.0, 2_500.0), (400.0, 420.0), (9_000.0, 10_000.0)),
        100: ((20_000.0, 21_000.0), (1_300.0, 1_380.0), (60_000.0, 62_000.0)),
        1000: ((18_000.0, 19_000.0), (1_100.0, 1_200.0), (55_000.0, 57_000.0)),
        10000: ((15_000.0, 16_000.0), (900.0, 1_000.0), (40_000.0, 42_000.0)),
    }
    for version in ("ocpp1.6", "ocpp2.0.1"):
        slower = 1.0 if version == "ocpp1.6" else 0.8
        for n, rows in figures.items():
            for server, (rate, per_cpu) in zip(report.SERVERS, rows, strict=True):
                p99 = {"ocppfast": 2.0, "ocpp": 40.0, "websockets": 1.0}[server] * math.log10(
                    10 * n
                )
                e2e.append(_e2e_row(server, version, n, rate * slower, per_cpu * slower, p99))
    return {
        "ocppfast": "0.5.0",
        "commit": "abc1234",
        "created": "2026-11-21T12:00:00Z",
        "machine": {
            "cpu": "AMD EPYC 7B13",
            "cores": 2,
            "python": "3.11.7",
            "platform": "Linux-6.1-x86_64",
            "uvloop": "0.21.0",
            "websockets": "17.0",
            "ocpp": "2.1.0",
        },
        "core": {
            "rounds": 5,
            "repeat": 200,
            "results": [
                {"version": "ocpp1.6", "backend": "compiled", "messages_per_second": 353129.0},
                {"version": "ocpp1.6", "backend": "pure", "messages_per_second": 120000.0},
                {"version": "ocpp1.6", "backend": "ocpp", "messages_per_second": 23000.0},
                {"version": "ocpp1.6", "backend": "ocpp-in-thread", "messages_per_second": 40000.0},
                {"version": "ocpp2.0.1", "backend": "compiled", "messages_per_second": 250000.0},
                {"version": "ocpp2.0.1", "backend": "pure", "messages_per_second": 100000.0},
                {"version": "ocpp2.0.1", "backend": "ocpp", "messages_per_second": 20000.0},
            ],
        },
        "e2e": {"window_seconds": 3.0, "windows": 5, "in_flight": 1, "results": e2e},
        "idle": {
            "hold_seconds": 10,
            "results": [
                {"server": "ocppfast", "connections": 1000, "rss_per_connection_bytes": 40960.0},
                {"server": "ocpp", "connections": 1000, "rss_per_connection_bytes": 81920.0},
                {"server": "websockets", "connections": 1000, "rss_per_connection_bytes": 32768.0},
                {"server": "ocppfast", "connections": 10000, "rss_per_connection_bytes": 38912.0},
                {"server": "ocpp", "connections": 10000, "rss_per_connection_bytes": 79872.0},
                {"server": "websockets", "connections": 10000, "rss_per_connection_bytes": 30720.0},
            ],
        },
        "soak": {
            "stations": 15000,
            "interval_seconds": 10,
            "duration_seconds": 300,
            "calls": 450000,
            "answered": 449990,
            "unanswered": 10,
            "errors": 0,
            "dropped": 0,
            "p50_ms": 3.2,
            "p99_ms": 48.5,
            "rss_bytes": 734003200,
            "rss_per_station_bytes": 19558,
            "server_cpu_seconds": 150.0,
        },
    }


# --- ratios -------------------------------------------------------------------------------------


def test_core_ratios_are_named_and_exact() -> None:
    got = report.ratios(full_result())
    assert got["core ocpp1.6 compiled/pure"] == pytest.approx(353129.0 / 120000.0)
    assert got["core ocpp1.6 compiled/ocpp"] == pytest.approx(353129.0 / 23000.0)
    assert got["core ocpp1.6 pure/ocpp"] == pytest.approx(120000.0 / 23000.0)
    assert got["core ocpp1.6 compiled/ocpp-in-thread"] == pytest.approx(353129.0 / 40000.0)
    assert got["core ocpp2.0.1 compiled/ocpp"] == pytest.approx(12.5)
    # 2.0.1 has no ocpp-in-thread row: no ratio for it, rather than a zero or an error.
    assert "core ocpp2.0.1 compiled/ocpp-in-thread" not in got


def test_e2e_and_idle_ratios_are_named_and_exact() -> None:
    got = report.ratios(full_result())
    assert got["e2e ocpp1.6 n=100 ocppfast/ocpp calls_per_cpu_second"] == pytest.approx(
        21_000 / 1_380
    )
    assert got["e2e ocpp1.6 n=100 ocppfast/ocpp calls_per_second"] == pytest.approx(20_000 / 1_300)
    assert got["e2e ocpp2.0.1 n=10000 ocppfast/websockets calls_per_cpu_second"] == pytest.approx(
        16_000 / 42_000
    )
    assert got["e2e ocpp2.0.1 n=1 ocppfast/websockets calls_per_second"] == pytest.approx(
        2_000 / 9_000
    )
    assert got["idle n=1000 ocppfast/websockets rss_per_connection"] == pytest.approx(1.25)
    assert got["idle n=10000 ocpp/websockets rss_per_connection"] == pytest.approx(2.6)


def test_ratio_keys_are_complete_and_in_report_order() -> None:
    keys = list(report.ratios(full_result()))
    # 4 core ratios for 1.6 + 3 for 2.0.1; 2 versions x 4 N x 2 peers x 2 metrics; 2 N x 2 idle.
    assert len(keys) == 7 + 32 + 4
    assert len(set(keys)) == len(keys)
    kinds = [key.split()[0] for key in keys]
    assert kinds == sorted(kinds, key=["core", "e2e", "idle"].index)
    e2e_16 = [key for key in keys if key.startswith("e2e ocpp1.6 ")]
    ns = [int(key.split()[2].removeprefix("n=")) for key in e2e_16]
    assert ns == sorted(ns)  # numeric, not "10000" before "1000"
    assert keys.index("e2e ocpp1.6 n=10000 ocppfast/ocpp calls_per_second") < keys.index(
        "e2e ocpp2.0.1 n=1 ocppfast/ocpp calls_per_second"
    )


def test_ratios_need_both_values_and_a_positive_denominator() -> None:
    result = full_result()
    rows = result["e2e"]["results"]
    for row in rows:
        if (row["version"], row["connections"]) == ("ocpp1.6", 100) and row["server"] == "ocpp":
            row["calls_per_cpu_second"] = 0.0
            row["calls_per_second"] = None
        if (row["version"], row["connections"]) == ("ocpp1.6", 1) and row["server"] == "ocppfast":
            del row["calls_per_cpu_second"]
    got = report.ratios(result)
    assert "e2e ocpp1.6 n=100 ocppfast/ocpp calls_per_cpu_second" not in got
    assert "e2e ocpp1.6 n=100 ocppfast/ocpp calls_per_second" not in got
    assert "e2e ocpp1.6 n=1 ocppfast/ocpp calls_per_cpu_second" not in got
    assert "e2e ocpp1.6 n=1 ocppfast/ocpp calls_per_second" in got
    assert "e2e ocpp1.6 n=100 ocppfast/websockets calls_per_cpu_second" in got


def test_ratios_of_partial_results() -> None:
    assert report.ratios({}) == {}
    full = full_result()
    only_core = {"core": full["core"]}
    assert {key.split()[0] for key in report.ratios(only_core)} == {"core"}
    # e2e without the ocpp peer: only the ratios against the ceiling.
    no_peer = {
        "e2e": {"results": [row for row in full["e2e"]["results"] if row["server"] != "ocpp"]}
    }
    keys = report.ratios(no_peer)
    assert keys and all("ocppfast/websockets" in key for key in keys)
    # Malformed rows and sections are skipped, not fatal.
    junk: dict[str, Any] = {
        "core": {"results": [None, {"version": "ocpp1.6"}, "x"]},
        "e2e": [],
        "idle": None,
    }
    assert report.ratios(junk) == {}


# --- the text report ----------------------------------------------------------------------------


def test_report_contains_the_figures() -> None:
    text = report.format_report(full_result())
    assert text.endswith("\n") and "\x1b[" not in text  # plain text, no colour
    assert "AMD EPYC 7B13, 2 cores" in text and "abc1234" in text
    # core: thousands separators and ratios.
    assert "353,129" in text and "120,000" in text
    assert "2.9x" in text  # compiled/pure 353129/120000
    assert "15.4x" in text  # compiled/ocpp 353129/23000
    # e2e rows: rates, latencies, CPU shares as percentages, RSS per connection in KiB.
    assert row(text, "ocpp1.6", "100", "ocppfast") == [
        "20,000", "21,000", "2.00", "6.00", "97%", "41%", "30.0", "0", "0"
    ]  # fmt: skip
    assert row(text, "ocpp1.6", "100", "ocpp")[:2] == ["1,300", "1,380"]
    # e2e ratios: ours over ocpp and over websockets, calls/s then calls/CPU-s.
    assert row(text, "ocpp1.6", "100") == ["15.4x", "15.2x", "0.33x", "0.34x"]
    assert row(text, "ocpp2.0.1", "10,000")[-1] == "0.38x"  # 12800/33600
    # idle: KiB per connection per server and the ratios to websockets.
    assert row(text, "1,000") == ["40.0", "80.0", "32.0", "1.2x", "2.5x"]
    assert row(text, "10,000") == ["38.0", "78.0", "30.0", "1.3x", "2.6x"]
    # soak.
    assert row(text, "calls") == ["450,000"]
    assert row(text, "answered") == ["449,990", "(99.998%)"]
    assert row(text, "p99", "ms") == ["48.5"]
    assert row(text, "server", "RSS", "growth/station", "KiB") == ["19.1"]
    assert "700.0" in text  # RSS MiB
    assert "50%" in text  # 150 CPU-seconds over 300 s
    # Each table says what its figures mean.
    assert text.count("legend:") == 5
    words = " ".join(text.split())  # legends wrap at 100 columns
    assert "calls/CPU-s: calls answered per second of server CPU (user+sys)" in words


def test_report_rows_line_up() -> None:
    lines = report.format_report(full_result()).splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.startswith("version") and "server" in line
    )
    header, rule = lines[start], lines[start + 1]
    assert set(rule) <= {"-", " "}
    rows = lines[start + 2 : start + 2 + 24]  # 2 versions x 4 N x 3 servers
    assert all(len(row) == len(header) for row in rows), "right-aligned columns end together"
    assert rows[0].split()[:3] == ["ocpp1.6", "1", "ocppfast"]
    assert rows[-1].split()[:3] == ["ocpp2.0.1", "10,000", "websockets"]


def test_report_of_partial_results() -> None:
    full = full_result()
    only_core = report.format_report({"core": full["core"]})
    assert "353,129" in only_core
    assert "end to end" not in only_core and "idle" not in only_core and "soak" not in only_core
    no_peer = {
        "e2e": {"results": [row for row in full["e2e"]["results"] if row["server"] != "ocpp"]}
    }
    text = report.format_report(no_peer)
    assert "websockets" in text and "1,380" not in text
    ratio_block = text[text.index("end to end ratios") :]
    assert "vs ocpp calls/s" in ratio_block  # the column stays, with "-" cells
    assert " - " in ratio_block
    # Missing figures print as "-", never as None or nan.
    row = copy.deepcopy(full["e2e"]["results"][0])
    row["p99_ms"] = None
    row["server_cpu_share"] = float("nan")
    del row["errors"]
    text = report.format_report({"e2e": {"results": [row]}})
    assert "None" not in text and "nan" not in text
    assert "end to end ratios" not in text  # nothing to compare with
    assert "no measurements" in report.format_report({})


# --- baseline guard -----------------------------------------------------------------------------


def _scaled(result: dict[str, Any], factor: float) -> dict[str, Any]:
    """The result with ocppfast's throughput (core compiled, e2e ocppfast) scaled by factor."""
    scaled = copy.deepcopy(result)
    for row in scaled["core"]["results"]:
        if row["backend"] == "compiled":
            row["messages_per_second"] *= factor
    for row in scaled["e2e"]["results"]:
        if row["server"] == "ocppfast":
            row["calls_per_second"] *= factor
            row["calls_per_cpu_second"] *= factor
    return scaled


def test_baseline_holds_only_guarded_ratios() -> None:
    result = full_result()
    baseline = report.baseline_from(result)
    assert set(baseline) == {"comment", "created", "commit", "machine", "ratios"}
    assert baseline["created"] == "2026-11-21T12:00:00Z" and baseline["commit"] == "abc1234"
    assert baseline["machine"]["cpu"] == "AMD EPYC 7B13"
    keys = set(baseline["ratios"])
    assert "core ocpp1.6 compiled/pure" in keys and "core ocpp2.0.1 compiled/ocpp" in keys
    assert "e2e ocpp2.0.1 n=1000 ocppfast/ocpp calls_per_cpu_second" in keys
    assert "e2e ocpp1.6 n=10000 ocppfast/websockets calls_per_cpu_second" in keys
    # 2 core ratios x 2 versions + 2 versions x 4 N x 2 peers (per CPU-second only).
    assert len(keys) == 4 + 16
    assert not any(
        "pure/ocpp" in k or "in-thread" in k or k.endswith(" calls_per_second") or "idle" in k
        for k in keys
    )
    assert baseline["ratios"]["core ocpp1.6 compiled/pure"] == round(353129 / 120000, 3)
    json.dumps(baseline)  # serialisable as is


def test_baseline_check_passes_at_0_6_and_fails_at_0_4() -> None:
    result = full_result()
    baseline = report.baseline_from(result)
    assert report.check_baseline(result, baseline) == []
    assert report.check_baseline(_scaled(result, 0.6), baseline) == []
    failures = report.check_baseline(_scaled(result, 0.4), baseline)
    # ocppfast's throughput fell in every guarded ratio: one line each.
    assert len(failures) == len(baseline["ratios"])
    line = next(f for f in failures if f.startswith("e2e ocpp1.6 n=100 ocppfast/ocpp "))
    assert line == (
        "e2e ocpp1.6 n=100 ocppfast/ocpp calls_per_cpu_second: 6.1x,"
        " below half of the baseline 15.2x"
    )
    assert any(f.startswith("core ocpp2.0.1 compiled/pure: ") for f in failures)


def test_baseline_check_names_only_the_ratio_that_fell() -> None:
    result = full_result()
    baseline = report.baseline_from(result)
    fallen = copy.deepcopy(result)
    for row in fallen["e2e"]["results"]:
        if (row["server"], row["version"], row["connections"]) == ("ocpp", "ocpp2.0.1", 1000):
            row["calls_per_cpu_second"] *= 3  # the peer got 3x faster: our ratio fell to 1/3
    failures = report.check_baseline(fallen, baseline)
    assert len(failures) == 1
    assert failures[0].startswith("e2e ocpp2.0.1 n=1000 ocppfast/ocpp calls_per_cpu_second: ")
    # A stricter factor catches it too; a lenient one does not.
    assert report.check_baseline(fallen, baseline, factor=0.3) == []
    assert "below 0.9 \u00d7 the baseline" in report.check_baseline(fallen, baseline, 0.9)[0]


def test_baseline_check_skips_unmeasured_ratios() -> None:
    """A short CI run measures fewer points: what it did not measure is not a failure."""
    result = full_result()
    baseline = report.baseline_from(result)
    short = {
        "core": result["core"],
        "e2e": {"results": [r for r in result["e2e"]["results"] if r["connections"] in (1, 100)]},
    }
    assert report.check_baseline(short, baseline) == []
    assert len(report.check_baseline(_scaled(short, 0.4), baseline)) == 4 + 8


def test_vacuous_baseline_fails() -> None:
    result = full_result()
    baseline = report.baseline_from(result)
    failures = report.check_baseline({"idle": result["idle"]}, baseline)
    assert len(failures) == 1 and "the guard would check nothing" in failures[0]
    assert report.check_baseline({}, baseline) == failures
    empty = report.check_baseline(result, {"comment": "", "ratios": {}})
    assert len(empty) == 1 and "the guard would check nothing" in empty[0]
    assert report.check_baseline(result, {}) == empty


def test_malformed_baseline_entries_fail() -> None:
    result = full_result()
    baseline = {
        "ratios": {
            "core ocpp1.6 compiled/pure": "fast",
            "idle n=1000 ocppfast/websockets rss_per_connection": 1.0,
            "core ocpp1.6 compiled/ocpp": 15.0,
        }
    }
    failures = report.check_baseline(result, baseline)
    assert len(failures) == 2
    assert failures[0].startswith("core ocpp1.6 compiled/pure: the baseline value 'fast'")
    assert failures[1].startswith("idle n=1000 ocppfast/websockets rss_per_connection: not a")


# --- JSON files ---------------------------------------------------------------------------------


def test_write_json_is_pretty_sorted_and_round_trips(tmp_path: Path) -> None:
    result = full_result()
    path = report.write_json(result, tmp_path / "out" / "result.json")
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and '\n  "commit": "abc1234",\n' in text
    top_keys = [line.split('"')[1] for line in text.splitlines() if line.startswith('  "')]
    assert top_keys == sorted(top_keys)
    assert report.load_json(path) == result


def test_write_json_turns_non_finite_numbers_into_null(tmp_path: Path) -> None:
    path = report.write_json({"a": float("nan"), "b": [float("inf"), 1.5]}, tmp_path / "r.json")
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": None, "b": [None, 1.5]}


def test_load_json_rejects_a_non_object(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expected a JSON object"):
        report.load_json(path)


# --- plot ---------------------------------------------------------------------------------------


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = report.plot(full_result(), tmp_path / "plots" / "bench.png")
    assert path == tmp_path / "plots" / "bench.png"
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000


def test_plot_of_partial_results(tmp_path: Path) -> None:
    full = full_result()
    no_peer = {
        "machine": full["machine"],
        "e2e": {"results": [row for row in full["e2e"]["results"] if row["server"] != "ocpp"]},
    }
    assert report.plot(no_peer, tmp_path / "e2e.png").read_bytes().startswith(PNG_SIGNATURE)
    only_idle = {"idle": full["idle"]}
    assert report.plot(only_idle, tmp_path / "idle.png").read_bytes().startswith(PNG_SIGNATURE)
    with pytest.raises(ValueError, match="no e2e, idle or core measurements"):
        report.plot({"soak": full["soak"]}, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_plot_without_matplotlib_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hide matplotlib whether or not it is installed or already imported.
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(RuntimeError, match=r"pip install 'ocppfast\[bench\]'"):
        report.plot(full_result(), tmp_path / "bench.png")
    assert not (tmp_path / "bench.png").exists()
