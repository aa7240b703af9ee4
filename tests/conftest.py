"""Every core test runs on both backends: the compiled core and its pure-Python twin.

Tests take the `core` fixture (a `ocppfast._core.Backend`). When the compiled build is expected
(OCPPFAST_REQUIRE_COMPILED=1, as CI sets it) and missing, the compiled half fails instead of
being skipped; tests/test_build.py fails as well.
"""

from __future__ import annotations

import os

import pytest

from ocppfast._core import Backend, compiled_backend, pure_backend

REQUIRE_COMPILED = os.environ.get("OCPPFAST_REQUIRE_COMPILED", "") not in ("", "0")


def _compiled() -> Backend | None:
    try:
        return compiled_backend()
    except ImportError:
        return None


COMPILED_BACKEND = _compiled()


@pytest.fixture(params=["compiled", "pure"])
def core(request: pytest.FixtureRequest) -> Backend:
    """The core backend under test: each test runs once per backend."""
    if request.param == "pure":
        return pure_backend()
    if COMPILED_BACKEND is None:
        if REQUIRE_COMPILED:
            pytest.fail("the compiled core was not built (OCPPFAST_REQUIRE_COMPILED=1)")
        pytest.skip("the compiled core is not built here")
    return COMPILED_BACKEND


@pytest.fixture(params=["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
def version(request: pytest.FixtureRequest) -> str:
    """Each OCPP version."""
    return str(request.param)
