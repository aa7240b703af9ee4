"""The `ocppfast` console script (issue 2.1): --help, --version, info."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from ocppfast import __version__, _core
from ocppfast.cli import app

runner = CliRunner()


def test_version_names_the_core_in_use() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    backend = "compiled core" if _core.COMPILED else "pure-Python core"
    assert result.output.startswith(f"ocppfast {__version__} ({backend}")


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "--version" in result.output and "info" in result.output


def test_info() -> None:
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0
    assert "OCPP versions: 1.6, 2.0.1, 2.1" in result.output


def test_console_script_module_entry_point() -> None:
    """`python -m ocppfast.cli` works as the installed `ocppfast` script does."""
    out = subprocess.run(
        [sys.executable, "-m", "ocppfast.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("ocppfast ")
