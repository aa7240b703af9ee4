"""The `ocppfast` command line (installed as ocppfast.cli)."""

from __future__ import annotations

import platform
from typing import Annotated

import typer

from ocppfast import __version__

app = typer.Typer(
    name="ocppfast",
    help="ocppfast: a fast OCPP 1.6J / 2.0.1 / 2.1 stack for the CSMS and the charging station.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _version_text() -> str:
    from ocppfast import _core

    backend = "compiled core" if _core.COMPILED else "pure-Python core"
    return f"ocppfast {__version__} ({backend}, Python {platform.python_version()})"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(_version_text())
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print the version and which core (compiled or pure Python) is in use, then exit.",
        ),
    ] = False,
) -> None:
    """ocppfast: a fast OCPP 1.6J / 2.0.1 / 2.1 stack."""


@app.command()
def info() -> None:
    """Show the version, the core backend in use and the OCPP versions supported."""
    from ocppfast import VERSIONS

    typer.echo(_version_text())
    typer.echo("OCPP versions: " + ", ".join(v.removeprefix("ocpp") for v in VERSIONS))


from .bench import bench_app  # noqa: E402  (commands register on `app`)
from .certs import certs_app  # noqa: E402
from .hardware import hardware_app  # noqa: E402
from .serve import serve  # noqa: E402
from .station import station  # noqa: E402

app.command()(serve)
app.command()(station)
app.add_typer(bench_app, name="bench")
app.add_typer(certs_app, name="certs")
app.add_typer(hardware_app, name="hardware")


def main() -> None:
    """Entry point of the `ocppfast` console script."""
    app()


__all__ = ["app", "main"]
