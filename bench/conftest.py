"""Prints messages per second per core after a benchmark run: our compiled and pure cores and the
`ocpp` package (mobilityhouse) as the baseline, with the ratios between them."""

from __future__ import annotations

from typing import Any

OCPP = "ocpp (mobilityhouse)"
OCPP_IN_THREAD = "ocpp (mobilityhouse), in-thread validation"
COLUMNS = [("compiled", "compiled"), ("pure", "pure"), (OCPP, "ocpp"), (OCPP_IN_THREAD, "ocpp-it")]
RATIOS = [
    ("compiled", "pure"),
    ("compiled", OCPP),
    ("pure", OCPP),
    ("compiled", OCPP_IN_THREAD),
]


def _label(backend: str) -> str:
    return dict(COLUMNS)[backend]


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
    write("ocpp: the ocpp package, default validation (thread pool); ocpp-it: validating in-thread")
    header = "".join(f"{label:>12}" for _, label in COLUMNS)
    header += "".join(f"{_label(a) + '/' + _label(b):>18}" for a, b in RATIOS)
    write(f"{'version':<12}{header}")
    for version in sorted({v for v, _ in rates}):
        row = "".join(
            f"{rates[(version, b)]:>12,.0f}" if (version, b) in rates else f"{'-':>12}"
            for b, _ in COLUMNS
        )
        for a, b in RATIOS:
            x, y = rates.get((version, a)), rates.get((version, b))
            row += f"{x / y:>17.1f}x" if x and y else f"{'-':>18}"
        write(f"{version:<12}{row}")
