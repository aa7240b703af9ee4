"""`ocppfast serve` configuration (issue 6 part 5): a TOML file (`--config`), environment
variables `OCPPFAST_*` and flags, in that order of precedence; `--help` shows them all; the
API token generated into the data dir."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ocppfast._core import Backend
from ocppfast.cli import app
from tests.aio import free_port
from tests.cli_process import CliProcess

runner = CliRunner()

SETTINGS = (
    "host",
    "port",
    "ocpp",
    "heartbeat-interval",
    "credentials",
    "path-prefix",
    "max-connections",
    "auth-failures",
    "auth-failures-per-address",
    "ping-interval",
    "data-dir",
    "database",
    "registration",
    "api",
    "api-port",
    "api-token",
    "files",
    "public-url",
    "max-upload",
    "traffic-retention",
    "data-transfer",
    "tls-cert",
    "tls-key",
    "client-ca",
    "pki",
    "station-org",
    "signing-ca",
    "firmware-signer-cert",
    "firmware-signer-key",
    "log-level",
    "config",
)


def test_help_shows_every_setting_with_its_variable() -> None:
    result = runner.invoke(app, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for name in SETTINGS:
        assert f"--{name}" in text, name
        assert "OCPPFAST_" + name.upper().replace("-", "_") in text, name
    assert "override" in text  # the order of precedence is told


def test_every_setting_is_documented_and_its_flag_is_its_toml_key() -> None:
    """docs/configuration.md lists every setting, and its TOML key is the flag's name (the
    file's keys are the command's parameter names)."""
    import re

    import typer

    doc = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `--([a-z-]+)", doc, re.M))
    assert documented == set(SETTINGS) - {"config"}
    command = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    keys = {p.name.replace("_", "-") for p in command.params if p.name}
    assert set(SETTINGS) <= keys, set(SETTINGS) - keys


def test_a_config_file_with_an_unknown_key_or_bad_toml_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "ocppfast.toml"
    config.write_text("[serve]\nport = 9000\nprot = 1\n")
    result = runner.invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert "unknown setting 'prot'" in result.output and "api-port" in result.output
    config.write_text("port = \n")
    result = runner.invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == 2 and "cannot read" in result.output


def test_settings_both_at_the_top_level_and_in_serve_are_refused(tmp_path: Path) -> None:
    """A file with settings at the top level and a [serve] table would have one half ignored:
    it is refused, naming the stray settings and what to do; another command's table beside
    [serve] is left alone (the file is taken: the next error is the flag's)."""
    config = tmp_path / "ocppfast.toml"
    config.write_text("port = 9100\napi-port = 9101\n[serve]\nhost = '127.0.0.1'\n")
    # --registration closed: were the file taken, the command would stop there, not serve.
    args = ["serve", "--config", str(config), "--registration", "closed"]
    result = runner.invoke(app, args, terminal_width=200)
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "port, api-port at the top level" in text and "put every setting in [serve]" in text
    config.write_text("[serve]\nport = 9100\n[station]\ncount = 2\n")
    result = runner.invoke(app, ["serve", "--config", str(config), "--registration", "closed"])
    assert result.exit_code == 2 and "open, known, pending" in result.output


def test_invalid_values_say_what_to_use(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--registration", "closed"])
    assert result.exit_code == 2 and "open, known, pending" in result.output
    result = runner.invoke(app, ["serve", "--data-transfer", "com.example"])
    assert result.exit_code == 2 and "VENDOR_ID=MODULE:FUNCTION" in result.output
    result = runner.invoke(app, ["serve", "--data-transfer", "x=no_such_module_here:f"])
    assert result.exit_code == 2 and "cannot import" in result.output


def test_flags_beat_variables_which_beat_the_file(core: Backend, tmp_path: Path) -> None:
    """The file sets the port, the API port and the heartbeat interval; a variable overrides
    the port; then a flag overrides the variable."""
    file_port, env_port, flag_port, api_port = (free_port() for _ in range(4))
    config = tmp_path / "ocppfast.toml"
    config.write_text(
        f"[serve]\nport = {file_port}\napi_port = {api_port}\nregistration = 'pending'\n"
        "database = 'memory'\n"
    )
    env = {"OCPPFAST_PORT": str(env_port), "OCPPFAST_CONFIG": str(config)}
    with CliProcess(core, "serve", env=env) as server:
        server.wait_for(rf"ready: point stations at ws://127\.0\.0\.1:{env_port}/")
        server.wait_for(rf"http://127\.0\.0\.1:{api_port}/api")
        assert server.count("registration pending") == 1, server.log
        assert server.stop() == 0
    with CliProcess(core, "serve", "--port", str(flag_port), env=env) as server:
        server.wait_for(rf"ready: point stations at ws://127\.0\.0\.1:{flag_port}/")
        assert server.stop() == 0


def test_the_api_token_is_generated_once_kept_private_and_never_logged(
    core: Backend, tmp_path: Path
) -> None:
    """Without --api-token / OCPPFAST_API_TOKEN a token is generated into the data dir
    (owner-only), kept across restarts, and not written to a log that is not a terminal."""
    args = ("serve", "--port", "0", "--api-port", "0", "--database", "memory")
    with CliProcess(core, *args, cwd=str(tmp_path)) as server:
        server.wait_for("ready")
        assert server.stop() == 0
    path = tmp_path / "ocppfast-data" / "api-token"
    token = path.read_text().strip()
    assert len(token) >= 40
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert token not in server.log and str(Path("ocppfast-data") / "api-token") in server.log
    with CliProcess(core, *args, cwd=str(tmp_path)) as server:
        server.wait_for("ready")
        assert server.stop() == 0
    assert path.read_text().strip() == token
    with CliProcess(core, *args, env={"OCPPFAST_API_TOKEN": "t" * 40}, cwd=str(tmp_path)) as s:
        s.wait_for("ready")
        assert "t" * 40 not in s.log
        assert s.stop() == 0


@pytest.mark.parametrize("option", ["--api-port", "--port"])
def test_a_port_in_use_is_a_clear_error(core: Backend, option: str) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        args = ["serve", "--database", "memory", "--port", "0", "--api-port", "0"]
        args[args.index(option) + 1] = port
        with CliProcess(core, *args) as server:
            assert server.process.wait(20) == 1
            server.wait_for(rf"cannot listen on 127\.0\.0\.1:{port}.*{option}")
