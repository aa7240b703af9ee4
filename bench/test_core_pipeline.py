"""Core pipeline benchmark (issue 3): decode a CALL, validate it into its typed request, dispatch
it to a handler that returns a typed response, validate and encode the CALLRESULT, through
Session and Dispatcher, for the 1.6 and 2.0.1 mixes, on both backends.

The workload lives in ocppfast.bench.pipeline (`ocppfast bench core` runs the same one from the
installed package). One benchmark round processes the whole mix REPEAT times; messages per
second per core is frames processed / round time (a single thread: one core). bench/conftest.py
prints the table and the compiled/pure ratios at the end of the run.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from ocppfast._core import Backend
from ocppfast.bench.pipeline import core_backend, pipeline

ROUNDS = int(os.environ.get("OCPPFAST_BENCH_ROUNDS", "5"))
REPEAT = int(os.environ.get("OCPPFAST_BENCH_REPEAT", "200"))


def _backend(name: str) -> Backend:
    try:
        return core_backend(name)
    except RuntimeError as exc:  # the compiled core is not built
        pytest.fail(str(exc))


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
@pytest.mark.parametrize("backend", ["compiled", "pure"])
def test_core_pipeline(benchmark: Any, backend: str, version: str) -> None:
    run, messages = pipeline(_backend(backend), version, REPEAT)
    benchmark.group = f"core pipeline {version}"
    benchmark.extra_info.update(backend=backend, version=version, messages=messages)
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
