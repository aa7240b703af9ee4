"""The core pipeline benchmarks' settings and their report: after the run, the core table of
`ocppfast.bench.report` (messages per second per backend, and the ratios between backends), as
`ocppfast bench core` prints it. OCPPFAST_BENCH_ROUNDS and OCPPFAST_BENCH_REPEAT set the timed
rounds per benchmark and the times one round runs the mix."""

from __future__ import annotations

import os
import statistics
from typing import Any

import pytest

from ocppfast.bench import report
from ocppfast.bench.core import workload
from ocppfast.bench.e2e import result_header

ROUNDS = int(os.environ.get("OCPPFAST_BENCH_ROUNDS", "5"))
REPEAT = int(os.environ.get("OCPPFAST_BENCH_REPEAT", "200"))


def bench_core(benchmark: Any, backend: str, version: str) -> None:
    """Benchmark one round of `backend` (a name of `ocppfast.bench.core.BACKENDS`) on the mix of
    `version`: one untimed warmup round, then ROUNDS timed rounds of one call each."""
    try:
        run, messages = workload(backend, version, REPEAT)
    except RuntimeError as exc:  # the compiled core is not built, or `ocpp` is not installed
        pytest.fail(str(exc))
    benchmark.group = f"core pipeline {version}"
    benchmark.extra_info.update(backend=backend, version=version, messages=messages)
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    results: list[dict[str, Any]] = []
    for bench in session.benchmarks:
        info = bench.extra_info
        if "messages" not in info or bench.stats is None or not bench.stats.data:
            continue
        rates = [info["messages"] / max(seconds, 1e-9) for seconds in bench.stats.data]
        results.append(
            {
                "version": info["version"],
                "backend": info["backend"],
                "messages_per_second": statistics.median(rates),
                "rounds": rates,
            }
        )
    if not results:
        return
    result = {
        **result_header(),
        "core": {"rounds": ROUNDS, "repeat": REPEAT, "results": results},
    }
    terminalreporter.write_line("")
    for line in report.format_report(result).splitlines():
        terminalreporter.write_line(line)
