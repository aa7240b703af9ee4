"""Baseline for the core pipeline benchmark: the same mixes through the `ocpp` package.

The workload lives in ocppfast.bench.peer_pipeline. Grouped with test_core_pipeline.py's
benchmarks; bench/conftest.py prints the ocpp package's messages per second per core next to
ours and the ratios, with its default validation (backend "ocpp") and validating in the
loop's thread ("ocpp-in-thread"). The package is much slower, so one round routes the mix
REPEAT // 20 times (the message count recorded is the true one).
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import bench_core


@pytest.mark.parametrize("backend", ["ocpp", "ocpp-in-thread"])
@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
def test_ocpp_package_pipeline(benchmark: Any, version: str, backend: str) -> None:
    bench_core(benchmark, backend, version)
