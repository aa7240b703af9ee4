"""Prints messages per second per core and the compiled/pure ratios after a benchmark run."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    rates: dict[tuple[str, str], float] = {}
    for bench in session.benchmarks:
        info = bench.extra_info
        if "messages" not in info or bench.stats is None:
            continue
        rates[(info["version"], info["backend"])] = info["messages"] / bench.stats.median
    if not rates:
        return
    write = terminalreporter.write_line
    write("")
    write("core pipeline: messages per second per core (median of rounds)")
    write(f"{'version':<12}{'compiled':>14}{'pure':>14}{'ratio':>9}")
    for version in sorted({v for v, _ in rates}):
        compiled = rates.get((version, "compiled"))
        pure = rates.get((version, "pure"))
        ratio = f"{compiled / pure:.1f}x" if compiled and pure else "-"
        write(f"{version:<12}{compiled or 0:>14,.0f}{pure or 0:>14,.0f}{ratio:>9}")
