"""`ocppfast bench core`: the in-process core pipeline benchmarks, from the installed package.

For each version mix and backend, the whole incoming path of a CSMS connection runs in this
process, on this thread: our compiled core, its pure-Python twin, and the `ocpp` package
(mobilityhouse) as the peer, with its default validation (in the loop's thread pool) and with
validation in the loop's thread. Measured as the pytest benchmarks in bench/ measure it: one
untimed warmup round, then timed rounds of one call each (time.perf_counter), with the garbage
collector left as it is. A rate is messages processed in a round divided by the round's time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from ocppfast._core import Backend

from .peer_pipeline import ocpp_pipeline, peer_repeat, require_ocpp
from .pipeline import CORE_BACKENDS, core_backend, pipeline

VERSIONS = ("ocpp1.6", "ocpp2.0.1")
PEER_BACKENDS = ("ocpp", "ocpp-in-thread")
BACKENDS = (*CORE_BACKENDS, *PEER_BACKENDS)


def measure(run: Callable[[], None], messages: int, rounds: int) -> list[float]:
    """Messages per second of each of `rounds` timed calls of `run`, after one untimed warmup
    call (pytest-benchmark's pedantic mode with warmup_rounds=1, iterations=1)."""
    run()
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
        # A round is thousands of frames; only a clock that cannot see it at all gives 0.
        rates.append(messages / max(elapsed, 1e-9))
    return rates


def _check(kind: str, given: Sequence[str], known: Sequence[str]) -> None:
    if not given:
        raise ValueError(f"no {kind} to benchmark; choose from {', '.join(known)}")
    unknown = [name for name in given if name not in known]
    if unknown:
        raise ValueError(f"unknown {kind} {', '.join(unknown)}; choose from {', '.join(known)}")


def run_core(
    *,
    versions: Sequence[str] = VERSIONS,
    backends: Sequence[str] = BACKENDS,
    rounds: int = 5,
    repeat: int = 200,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the core pipeline benchmarks and return the result JSON's "core" section:
    {"rounds", "repeat", "results": [{"version", "backend", "messages_per_second" (median of
    the rounds), "rounds" (each round's rate)}]}, one result per version and backend.

    One round runs the version's mix `repeat` times (the `ocpp` package, much slower,
    `max(1, repeat // 20)` times; rates are per message either way). `progress` gets one line
    per finished benchmark. Everything a backend needs is checked before anything is measured:
    a compiled core that is not built, or a missing `ocpp` package, raises RuntimeError saying
    how to install it; unknown names and counts below 1 raise ValueError."""
    _check("versions", versions, VERSIONS)
    _check("backends", backends, BACKENDS)
    if rounds < 1 or repeat < 1:
        raise ValueError(f"rounds and repeat must be at least 1, not {rounds} and {repeat}")
    cores: dict[str, Backend] = {
        name: core_backend(name) for name in backends if name in CORE_BACKENDS
    }
    if any(name in PEER_BACKENDS for name in backends):
        require_ocpp()

    results: list[dict[str, Any]] = []
    for version in versions:
        for backend in backends:
            if backend in cores:
                run, messages = pipeline(cores[backend], version, repeat)
            else:
                run, messages = ocpp_pipeline(
                    version, peer_repeat(repeat), in_thread=backend == "ocpp-in-thread"
                )
            rates = measure(run, messages, rounds)
            # Drop the workload now: the ocpp package's event loop (and its thread pool)
            # closes with it, before the next benchmark starts.
            del run
            median = statistics.median(rates)
            results.append(
                {
                    "version": version,
                    "backend": backend,
                    "messages_per_second": median,
                    "rounds": rates,
                }
            )
            if progress is not None:
                progress(f"core {version} {backend}: {median:,.0f} msg/s")
    return {"rounds": rounds, "repeat": repeat, "results": results}
