"""`ocppfast bench core`: the in-process core pipeline benchmarks, from the installed package.

For each version mix and backend, the whole incoming path of a CSMS connection runs in this
process, on this thread: our compiled core, its pure-Python twin, and the `ocpp` package
(mobilityhouse) as the peer, with its default validation (in the loop's thread pool) and with
validation in the loop's thread. Measured as the pytest benchmarks in bench/ measure it: one
untimed warmup round, then timed rounds of one call each (time.perf_counter), with the garbage
collector left as it is. A rate is messages processed in a round divided by the round's time.
The backends of a version take their rounds in turn (round 1 of each, then round 2 of each...),
so that a machine that slows down or speeds up meanwhile shifts them all alike, not their ratios.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from ocppfast._core import Backend

from .names import BACKENDS, CORE_BACKENDS, PEER_BACKENDS, VERSIONS
from .peer_pipeline import ocpp_pipeline, peer_repeat, require_ocpp
from .pipeline import core_backend, pipeline

Workload = tuple[Callable[[], None], int]
"""A function that runs one round, and how many messages one round processes."""


def workload(backend: str, version: str, repeat: int, core: Backend | None = None) -> Workload:
    """The round of `backend` (one of `BACKENDS`) for the mix of `version`: our core runs the
    mix `repeat` times, the `ocpp` package `peer_repeat(repeat)` times. `core`: the Backend of a
    core backend, when it is already loaded. Raises RuntimeError when the backend is missing (see
    `core_backend()` and `require_ocpp()`)."""
    if backend in CORE_BACKENDS:
        return pipeline(core if core is not None else core_backend(backend), version, repeat)
    if backend not in PEER_BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    return ocpp_pipeline(version, peer_repeat(repeat), in_thread=backend == "ocpp-in-thread")


def _rate(run: Callable[[], None], messages: int) -> float:
    """Messages per second of one timed call of `run`."""
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    # A round is thousands of frames; only a clock that cannot see it at all gives 0.
    return messages / max(elapsed, 1e-9)


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
    `max(1, repeat // 20)` times; rates are per message either way). Per version, each backend
    runs one untimed warmup round, then the timed rounds go round the backends in turn.
    `progress` gets one line per version and backend once that version's rounds are done.
    Everything a backend needs is checked before anything is measured: a compiled core that is
    not built, or a missing `ocpp` package, raises RuntimeError saying how to install it;
    unknown names and counts below 1 raise ValueError."""
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
        workloads = [workload(b, version, repeat, cores.get(b)) for b in backends]
        for run, _ in workloads:  # the untimed warmup round
            run()
        rates: list[list[float]] = [[] for _ in backends]
        for _ in range(rounds):
            for (run, messages), backend_rates in zip(workloads, rates, strict=True):
                backend_rates.append(_rate(run, messages))
        # Drop the workloads now: the ocpp package's event loops (and their thread pools)
        # close with them, before the next version's benchmarks start.
        del workloads, run
        for backend, backend_rates in zip(backends, rates, strict=True):
            median = statistics.median(backend_rates)
            results.append(
                {
                    "version": version,
                    "backend": backend,
                    "messages_per_second": median,
                    "rounds": backend_rates,
                }
            )
            if progress is not None:
                progress(f"core {version} {backend}: {median:,.0f} msg/s")
    return {"rounds": rounds, "repeat": repeat, "results": results}
