"""The README's library example and its walkthrough (serve, two stations, the operator API)
run and do what they say."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from ocppfast._core import Backend
from tests.aio import free_port
from tests.cli_process import CliProcess

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_example_answers_the_boot_notification() -> None:
    [example] = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, str(README), "exec"), {})
    handled, accepted, refused = out.getvalue().strip().split("\n")
    assert handled == "boot from VendorX SingleSocketCharger"
    assert re.fullmatch(
        r'\[b\'\[3,"19223201",\{"status":"Accepted","currentTime":"[0-9T:.-]+Z","interval":300\}\]\'\]',
        accepted,
    )
    # The text the README shows for the refused frame.
    [shown] = re.findall(r"`(\[4,\"19223202\".*?)`", README.read_text())
    assert refused == f"[b'{shown}']"


def _curl(line: str, variables: dict[str, str], cwd: Path | None = None) -> tuple[int, Any]:
    """Run one of the README's curl command lines (-s, -H, -X, -d, --data-binary @FILE, FILE
    relative to `cwd`) with urllib: the JSON answer."""
    for name, value in variables.items():
        line = line.replace("$" + name, value)
    args = shlex.split(line)
    assert args[0] == "curl", line
    method, headers, data, url = "GET", {}, None, None
    words = iter(args[1:])
    for word in words:
        if word == "-s":
            continue
        if word == "-H":
            name, _, value = next(words).partition(":")
            headers[name] = value.strip()
        elif word == "-X":
            method = next(words)
        elif word == "-d":
            data = next(words).encode()
            headers["Content-Type"] = "application/json"
        elif word == "--data-binary":
            name = next(words)
            assert name.startswith("@") and cwd is not None, line
            data = (cwd / name[1:]).read_bytes()
        else:
            url = word
    assert url is not None, line
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def test_readme_walkthrough_serve_two_stations_and_the_api(core: Backend, tmp_path: Path) -> None:
    """Issue 6, done when: `ocppfast serve`, `ocppfast station` and the `ocpp` package's charge
    point, both seen in GET /api/stations, a transaction started on one through the API and
    found with its meter values: the README's commands exactly (on free ports), nothing
    configured but the command line."""
    section = README.read_text().split("## Run it", 1)[1].split("\n## ", 1)[0]
    starts, requests = re.findall(r"```sh\n(.*?)```", section, re.S)
    commands = [line.split("#")[0].split() for line in starts.splitlines() if line.strip()]
    assert commands == [
        [".venv/bin/ocppfast", "serve"],
        [".venv/bin/ocppfast", "station"],
        [".venv/bin/python", "docs/examples/ocpp_charge_point.py"],
    ]
    port, api_port = str(free_port()), str(free_port())
    url = f"ws://127.0.0.1:{port}"
    example = str(README.parent / commands[2][1])
    with contextlib.ExitStack() as stack:
        serve = stack.enter_context(
            CliProcess(core, "serve", "--port", port, "--api-port", api_port, cwd=str(tmp_path))
        )
        serve.wait_for("ready")
        stack.enter_context(CliProcess(core, "station", "--url", url))
        peer = subprocess.Popen(
            [sys.executable, example, url], stdout=subprocess.PIPE, text=True, cwd=tmp_path
        )
        stack.callback(peer.wait, 10)
        stack.callback(peer.terminate)
        serve.wait_for(r"CP1: boot .*Accepted")
        serve.wait_for(r"CP2: boot .*Accepted")

        lines = [line for line in requests.splitlines() if line.strip()]
        assert lines[0] == "TOKEN=$(cat ocppfast-data/api-token)"
        variables = {"TOKEN": (tmp_path / "ocppfast-data" / "api-token").read_text().strip()}
        assert lines[1] == "API=http://127.0.0.1:9001/api"
        variables["API"] = f"http://127.0.0.1:{api_port}/api"
        stations, start, active, detail, stop = lines[2:]

        status, answer = _curl(stations, variables)
        seen = {s["identity"]: s for s in answer["stations"]}
        assert status == 200 and seen["CP1"]["connected"] and seen["CP2"]["connected"]
        assert seen["CP2"]["boot"]["vendor"] == "ocpp-package"
        status, answer = _curl(start, variables)
        assert status == 200 and answer["result"]["status"] == "Accepted", answer
        deadline = time.monotonic() + 15
        while True:
            status, answer = _curl(active, variables)
            if answer["transactions"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        [transaction] = answer["transactions"]
        assert transaction["idToken"] == "TAG-1" and transaction["active"]
        detail = detail.replace("<its transactionId>", str(transaction["transactionId"]))
        status, answer = _curl(detail, variables)
        assert status == 200 and answer["meterValues"], answer
        assert answer["meterValues"][0]["measurand"] == "Energy.Active.Import.Register"
        stop = stop.replace("<its transactionId>", str(transaction["transactionId"]))
        status, answer = _curl(stop, variables)
        assert status == 200 and answer["result"]["status"] == "Accepted", answer
        serve.wait_for(r"CP1: transaction .*ended")
        assert serve.count(r"ERROR|Traceback") == 0, serve.log


def _poll(line: str, variables: dict[str, str], done: Any, seconds: float = 30) -> Any:
    """The answer of `line` once `done(answer)`, asked again until then (at most `seconds`)."""
    deadline = time.monotonic() + seconds
    while True:
        status, answer = _curl(line, variables)
        assert status == 200, answer
        if done(answer):
            return answer
        assert time.monotonic() < deadline, answer
        time.sleep(0.2)


def test_readme_manage_a_charger_limits_logs_and_firmware(core: Backend, tmp_path: Path) -> None:
    """Issue 8, the README's "Manage a charger" commands exactly, against `ocppfast serve` and
    `ocppfast station` with nothing configured (free ports aside): the profile is Accepted and
    the composite schedule says 6 A (K01, K08); the log upload (N01) arrives in the file
    server and the firmware (L01) is downloaded, installed and rebooted into, each operation
    listing the station's status notifications in order."""
    section = README.read_text().split("## Manage a charger", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```sh\n(.*?)```", section, re.S)
    lines = [line for line in block.splitlines() if line.strip()]
    profile, composite, logs, echo, put, firmware, operations = lines
    port, api_port = str(free_port()), str(free_port())
    with contextlib.ExitStack() as stack:
        serve = stack.enter_context(
            CliProcess(core, "serve", "--port", port, "--api-port", api_port, cwd=str(tmp_path))
        )
        serve.wait_for("ready")
        station = stack.enter_context(
            CliProcess(core, "station", "--url", f"ws://127.0.0.1:{port}", cwd=str(tmp_path))
        )
        serve.wait_for(r"CP1: boot .*Accepted")
        variables = {
            "TOKEN": (tmp_path / "ocppfast-data" / "api-token").read_text().strip(),
            "API": f"http://127.0.0.1:{api_port}/api",
        }
        status, answer = _curl(profile, variables)
        assert status == 200 and answer["result"]["status"] == "Accepted", answer
        status, answer = _curl(composite, variables)
        assert status == 200 and answer["result"]["status"] == "Accepted", answer
        periods = answer["result"]["schedule"]["chargingSchedulePeriod"]
        assert [p["limit"] for p in periods] == [6], answer

        status, answer = _curl(logs, variables)
        assert status == 201 and answer["result"]["status"] == "Accepted", answer
        log_id = answer["operation"]["id"]
        uploaded = _poll(
            operations,
            variables,
            lambda a: any(o["id"] == log_id and o["status"] == "Uploaded" for o in a["operations"]),
        )
        [log_operation] = [o for o in uploaded["operations"] if o["id"] == log_id]
        assert [s["status"] for s in log_operation["statuses"]] == ["Uploading", "Uploaded"]
        assert log_operation["uploads"][0]["size"] > 0

        subprocess.run(echo, shell=True, check=True, cwd=tmp_path)
        status, answer = _curl(put, variables, cwd=tmp_path)
        assert status == 201, answer
        status, answer = _curl(firmware, variables)
        assert status == 201 and answer["result"]["status"] == "Accepted", answer
        firmware_id = answer["operation"]["id"]
        installed = _poll(
            operations,
            variables,
            lambda a: any(
                o["id"] == firmware_id and o["status"] == "Installed" for o in a["operations"]
            ),
        )
        [operation] = [o for o in installed["operations"] if o["id"] == firmware_id]
        assert [s["status"] for s in operation["statuses"]] == [
            "Downloading",
            "Downloaded",
            "Installing",
            "InstallRebooting",
            "Installed",
        ]
        station.wait_for(r"installed firmware firmware\.bin")
        assert serve.count(r"ERROR|Traceback") == 0, serve.log
        assert station.count(r"ERROR|Traceback") == 0, station.log
