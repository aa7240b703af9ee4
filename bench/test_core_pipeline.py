"""Core pipeline benchmark (issue 3): decode a CALL, validate it into its typed request, dispatch
it to a handler that returns a typed response, validate and encode the CALLRESULT, through
Session and Dispatcher, for the 1.6 and 2.0.1 mixes, on both backends.

The workload lives in ocppfast.bench.pipeline (`ocppfast bench core` runs the same one from the
installed package). One benchmark round processes the whole mix REPEAT times; messages per
second per core is frames processed / round time (a single thread: one core). bench/conftest.py
prints the table and the ratios between backends at the end of the run.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import bench_core


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
@pytest.mark.parametrize("backend", ["compiled", "pure"])
def test_core_pipeline(benchmark: Any, backend: str, version: str) -> None:
    bench_core(benchmark, backend, version)
