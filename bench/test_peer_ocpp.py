"""Baseline for the core pipeline benchmark: the same mixes through the `ocpp` package.

The workload lives in ocppfast.bench.peer_pipeline. Grouped with test_core_pipeline.py's
benchmarks; bench/conftest.py prints the ocpp package's messages per second per core next to
ours and the ratios. The package is much slower, so one round routes the mix REPEAT // 20 times
(the message count recorded is the true one).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from ocppfast.bench.peer_pipeline import ocpp_pipeline, peer_repeat

from .conftest import OCPP, OCPP_IN_THREAD

ROUNDS = int(os.environ.get("OCPPFAST_BENCH_ROUNDS", "5"))
REPEAT = int(os.environ.get("OCPPFAST_BENCH_REPEAT", "200"))


@pytest.mark.parametrize("in_thread", [False, True], ids=["default", "in-thread"])
@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
def test_ocpp_package_pipeline(benchmark: Any, version: str, in_thread: bool) -> None:
    run, messages = ocpp_pipeline(version, peer_repeat(REPEAT), in_thread)
    benchmark.group = f"core pipeline {version}"
    backend = OCPP_IN_THREAD if in_thread else OCPP
    benchmark.extra_info.update(backend=backend, version=version, messages=messages)
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
