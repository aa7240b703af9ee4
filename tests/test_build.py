"""The compiled build: present when expected, and chosen by the backend switch (issue 2.1)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ocppfast import _core

from .conftest import COMPILED_BACKEND, REQUIRE_COMPILED


def test_compiled_core_was_built_when_required() -> None:
    """Fails when CI asked for the compiled core (OCPPFAST_REQUIRE_COMPILED=1) and it is not
    there: a build that silently fell back to pure Python must not pass."""
    if not REQUIRE_COMPILED:
        pytest.skip("OCPPFAST_REQUIRE_COMPILED is not set; the pure core is acceptable here")
    assert COMPILED_BACKEND is not None, "the Cython extensions of ocppfast._core did not build"
    assert _core.COMPILED, "the compiled core exists but is not the one selected"
    for module in COMPILED_BACKEND[1:]:
        assert module.__file__ is not None and module.__file__.endswith((".so", ".pyd"))


def _probe(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OCPPFAST_NO_EXTENSIONS"}
    if env_value is not None:
        env["OCPPFAST_NO_EXTENSIONS"] = env_value
    code = "import ocppfast._core as c; print(c.COMPILED, c.Session.__module__)"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_no_extensions_switch_selects_the_pure_twin() -> None:
    assert _probe("1") == "False ocppfast._core.session"


def test_default_selects_compiled_when_built() -> None:
    expected = (
        "True ocppfast._core._session_c" if COMPILED_BACKEND else "False ocppfast._core.session"
    )
    assert _probe(None) == expected
    assert _probe("0") == expected
