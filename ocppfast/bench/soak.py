"""`ocppfast bench soak`: many stations at a steady, realistic rate, for minutes.

One `ocppfast serve` process (pinned to one CPU, as in the e2e benchmark) and the load generator
in rate mode: every station connects and boots, then sends one CALL (Heartbeat and
StatusNotification in turn) every `interval_seconds`, spread evenly over the interval, for
`duration_seconds`. It passes when every station connected, none was dropped, and every CALL got
its answer, none of them an error: the server keeps up with its stations, not just on average.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .e2e import (
    BenchError,
    _check_positive,
    _check_versions,
    _say,
    measure_point,
    pinning,
    require,
)

__all__ = ["run_soak"]

# After the load, how long the last answers may take before the run counts as hung.
DRAIN_SECONDS = 60.0

_FIGURES = (
    "connected",
    "connect_failed",
    "connect_seconds",
    "calls",
    "answered",
    "unanswered",
    "errors",
    "unexpected_answers",
    "dropped",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "seconds",
    "server_cpu_seconds",
    "generator_cpu_seconds",
    "rss_before_bytes",
)


def _problems(soak: dict[str, Any]) -> list[str]:
    problems = []
    if soak.get("connected") != soak["stations"]:
        problems.append(f"{soak.get('connected', 0):,} of {soak['stations']:,} stations connected")
    for key in ("dropped", "unanswered", "errors", "unexpected_answers"):
        if soak.get(key):
            problems.append(f"{soak[key]:,} {key.replace('_', ' ')}")
    if not soak.get("calls"):
        problems.append("no calls were sent")
    return problems


def run_soak(
    *,
    stations: int = 15_000,
    interval_seconds: float = 10.0,
    duration_seconds: float = 300.0,
    version: str = "ocpp1.6",
    progress: Callable[[str], None] | None = None,
    server_cpu: int | None = None,
    generator_cpu: int | None = None,
) -> dict[str, Any]:
    """Run the soak test against `ocppfast serve` and return the result JSON's "soak" section:
    stations, interval_seconds, duration_seconds, version, connected, connect_failed, calls
    (sent), answered, unanswered (no answer by the end), errors (CALLERRORs), dropped
    (connections lost), p50_ms, p99_ms, max_ms (latency), rss_bytes (the server's resident
    memory at the end), rss_per_station_bytes (its growth per connected station),
    server_cpu_seconds (over the load), "passed" and, when it did not pass, "problems" (and
    "error" when the server or the generator failed, or no station could connect).

    Raises ValueError for bad arguments and RuntimeError when the machine cannot hold that many
    connections (see `ocppfast.bench.e2e.require`), before anything starts."""
    _check_versions([version])
    _check_positive(
        stations=stations, interval_seconds=interval_seconds, duration_seconds=duration_seconds
    )
    require(["ocppfast"], stations)
    pin = pinning(server_cpu, generator_cpu)
    _say(progress, f"soak: {pin.note}")
    soak: dict[str, Any] = {
        "stations": stations,
        "interval_seconds": interval_seconds,
        "duration_seconds": duration_seconds,
        "version": version,
        "pinning": pin.as_dict(),
    }
    label = f"soak {version} N={stations:,}"
    loadgen = {
        "version": version,
        "mode": "rate",
        "interval": float(interval_seconds),
        "duration": float(duration_seconds),
    }
    with tempfile.TemporaryDirectory(prefix="ocppfast-bench-") as tmp:
        try:
            result = measure_point(
                "ocppfast",
                label,
                connections=stations,
                ping_interval=None,  # `ocppfast serve`'s default, as a deployment runs it
                loadgen=loadgen,
                seconds=duration_seconds + DRAIN_SECONDS,
                pin=pin,
                log_dir=Path(tmp),
                progress=progress,
            )
        except BenchError as exc:
            soak.update(error=str(exc), passed=False, problems=[str(exc).splitlines()[0]])
            _say(progress, f"{label}: FAILED: {exc}")
            return soak
    soak.update({key: result.get(key) for key in _FIGURES})
    soak["rss_bytes"] = result.get("rss_after_bytes")
    soak["rss_per_station_bytes"] = result.get("rss_per_connection_bytes")
    problems = _problems(soak)
    soak["passed"] = not problems
    if problems:
        soak["problems"] = problems
    verdict = "passed" if not problems else "FAILED: " + "; ".join(problems)
    _say(progress, f"{label}: {verdict}")
    return soak
