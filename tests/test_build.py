"""The compiled build: present when expected, and chosen by the backend switch (issue 2.1)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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


def test_missing_extensions_fall_back_to_the_pure_twin(tmp_path: Path) -> None:
    """Where no compiler was at hand the package has no extension modules: it must import, use
    the pure twin, and work (what an install with OCPPFAST_BUILD_EXTENSIONS=no leaves)."""
    source = Path(_core.__file__).resolve().parent.parent
    shutil.copytree(
        source, tmp_path / "ocppfast", ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c")
    )
    code = (
        "import os, ocppfast._core as c, ocppfast\n"
        "assert ocppfast.__file__.startswith(os.environ['PYTHONPATH']), ocppfast.__file__\n"
        "s = c.Session('ocpp1.6')\n"
        '[e] = s.receive(b\'[2,"a","Heartbeat",{}]\', 0.0)\n'
        "print(c.COMPILED, type(e).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OCPPFAST_NO_EXTENSIONS"}
    env["PYTHONPATH"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False CallReceived"


def test_a_broken_import_is_not_hidden_by_the_fallback(tmp_path: Path) -> None:
    """The fallback covers a missing extension only: any other ImportError surfaces."""
    code = (
        "import sys, importlib.abc\n"
        "class Broken(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ocppfast._core.actions':\n"
        "            raise ImportError('simulated', name='ocppfast._core.actions')\n"
        "sys.meta_path.insert(0, Broken())\n"
        "import ocppfast._core\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode != 0 and "simulated" in out.stderr
