"""Firmware updates and log uploads against a central system nobody here wrote: the `ocpp`
package's (mobilityhouse) drives `ocppfast station` (a real process) over real sockets on
127.0.0.1, and a local aiohttp file server (tests/test_station_firmware.py's `FileServer`) serves
the image and takes the upload.

- 1.6 (C16 5.19, 4.5; 5.9, 4.4): UpdateFirmware: FirmwareStatusNotification Downloading,
  Downloaded, Installing, the reboot (a new BootNotification), Installed; GetDiagnostics:
  DiagnosticsStatusNotification Uploading, Uploaded, and the archive arrives.
- 2.0.1 and 2.1 (L02, TC_L_01_CS without signature; N01, TC_N_25_CS): UpdateFirmware with
  every FirmwareStatusNotification and its requestId, the BootNotification with reason
  FirmwareUpdate, the FirmwareUpdated security event, Installed; GetLog DiagnosticsLog:
  LogStatusNotification Uploading, Uploaded with its requestId, and the archive arrives.

The station installs with --firmware-install-command, a script that copies the image it is
given: the bytes installed are the bytes served. The `ocpp` package validates every message
of ours against the official schemas.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest
from ocpp.routing import on
from websockets.asyncio.server import ServerConnection

from ocppfast._core import Backend
from tests.aio import run
from tests.cli_process import CliProcess
from tests.test_interop_ocpp import (
    PACKAGES,
    CentralSystem,
    make_central_system,
    now,
    station_args,
)
from tests.test_station_firmware import IMAGE, FileServer, file_server


class MaintenanceCentralSystem(CentralSystem):
    """The interop central system, also answering (and recording) the station's firmware,
    diagnostics, log and security notifications."""

    async def _serve(self, ws: ServerConnection) -> None:
        identity = ws.request.path.rsplit("/", 1)[-1] if ws.request else "?"
        self.connections += 1
        self.charge_point = maintenance_central_system(self, self.version)(identity, ws)
        self.connected.set()
        with contextlib.suppress(Exception):  # the station went away (its reboot)
            await self.charge_point.start()


def maintenance_central_system(cs: CentralSystem, version: str) -> type:
    result = PACKAGES[version].call_result
    recorder: Any = make_central_system(cs, version)

    class Maintenance(recorder):  # type: ignore[misc]
        @on("FirmwareStatusNotification")
        def firmware_status(self, **payload: Any) -> Any:
            cs.record("FirmwareStatusNotification", payload)
            return result.FirmwareStatusNotification()

        if version == "ocpp1.6":

            @on("DiagnosticsStatusNotification")
            def diagnostics_status(self, **payload: Any) -> Any:
                cs.record("DiagnosticsStatusNotification", payload)
                return result.DiagnosticsStatusNotification()

        else:

            @on("LogStatusNotification")
            def log_status(self, **payload: Any) -> Any:
                cs.record("LogStatusNotification", payload)
                return result.LogStatusNotification()

    return Maintenance


def statuses(cs: CentralSystem, action: str, start: int = 0) -> list[str]:
    return [payload["status"] for name, payload in cs.received[start:] if name == action]


def archive_members(server: FileServer, name: str) -> dict[str, str]:
    """The uploaded tar.gz `name`: member name (without its folder) -> text."""
    with tarfile.open(fileobj=io.BytesIO(server.uploads[name]), mode="r:gz") as archive:
        return {
            member.name.split("/", 1)[1]: archive.extractfile(member).read().decode()  # type: ignore[union-attr]
            for member in archive.getmembers()
        }


async def firmware_and_diagnostics_16(cs: CentralSystem, server: FileServer) -> None:
    call = PACKAGES["ocpp1.6"].call
    await cs.wait_for("BootNotification")
    await cs.wait_for("StatusNotification", connector_id=1, status="Available")
    update = call.UpdateFirmware(location=server.url("/fw/good.bin"), retrieve_date=now())
    await cs.charge_point.call(update)
    await cs.wait_for("FirmwareStatusNotification", status="Installing", timeout=30)
    # C16 5.19: the Charge Point reboots into the new firmware (it connects and boots again),
    # then reports Installed.
    boots = sum(name == "BootNotification" for name, _ in cs.received)
    await cs.wait_for("FirmwareStatusNotification", status="Installed", timeout=30)
    assert sum(name == "BootNotification" for name, _ in cs.received) == boots + 1
    assert statuses(cs, "FirmwareStatusNotification") == [
        "Downloading",
        "Downloaded",
        "Installing",
        "Installed",
    ]
    # C16 5.9, 4.4: the diagnostics go to the location; the answer names the file.
    mark = len(cs.received)
    answer = await cs.charge_point.call(call.GetDiagnostics(location=server.url("/up/")))
    assert answer.file_name and answer.file_name.endswith(".tar.gz")
    await cs.wait_for("DiagnosticsStatusNotification", start=mark, status="Uploaded")
    assert statuses(cs, "DiagnosticsStatusNotification", mark) == ["Uploading", "Uploaded"]
    content = archive_members(server, answer.file_name)
    assert '"UpdateFirmware"' in content["traffic.log"]
    assert "GetDiagnostics" in content["station.log"]


async def firmware_and_log_2x(cs: CentralSystem, server: FileServer, version: str) -> None:
    call = PACKAGES[version].call
    await cs.wait_for("BootNotification")
    await cs.wait_for("StatusNotification", connector_status="Available")
    update = call.UpdateFirmware(
        request_id=41,
        firmware={"location": server.url("/fw/good.bin"), "retrieve_date_time": now()},
    )
    assert (await cs.charge_point.call(update)).status == "Accepted"
    # L01 (TC_L_01_CS step 13): the reboot into the new firmware, reason FirmwareUpdate.
    boot = await cs.wait_for("BootNotification", timeout=30, reason="FirmwareUpdate")
    assert boot["charging_station"]["vendor_name"]
    await cs.wait_for("FirmwareStatusNotification", status="Installed", timeout=30)
    notified = [
        (payload["status"], payload.get("request_id"))
        for name, payload in cs.received
        if name == "FirmwareStatusNotification"
    ]
    assert notified == [
        ("Downloading", 41),
        ("Downloaded", 41),
        ("Installing", 41),
        ("InstallRebooting", 41),
        ("Installed", 41),
    ]
    # TC_L_01_CS step 15: the FirmwareUpdated security event after the reboot.
    await cs.wait_for("SecurityEventNotification", type="FirmwareUpdated")
    # N01 (TC_N_25_CS): GetLog DiagnosticsLog.
    mark = len(cs.received)
    answer = await cs.charge_point.call(
        call.GetLog(
            log={"remote_location": server.url("/up/")}, log_type="DiagnosticsLog", request_id=42
        )
    )
    assert answer.status == "Accepted" and answer.filename.endswith(".tar.gz")
    await cs.wait_for("LogStatusNotification", start=mark, status="Uploaded")
    logged = [
        (payload["status"], payload.get("request_id"))
        for name, payload in cs.received[mark:]
        if name == "LogStatusNotification"
    ]
    assert logged == [("Uploading", 42), ("Uploaded", 42)]
    content = archive_members(server, answer.filename)
    assert '"UpdateFirmware"' in content["traffic.log"]
    assert "GetLog DiagnosticsLog 42" in content["station.log"]


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
def test_ocpp_central_system_updates_firmware_and_collects_logs(
    core: Backend, version: str, tmp_path: Path
) -> None:
    """The `ocpp` package's central system updates the firmware of `ocppfast station` and
    collects its diagnostics / log over HTTP (see the module docstring)."""
    installed = tmp_path / "installed.bin"
    script = tmp_path / "install.sh"
    script.write_text(f'#!/bin/sh\ncp "$1" {installed}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    processes: list[CliProcess] = []

    async def main() -> None:
        async with file_server() as server, MaintenanceCentralSystem(version) as cs:
            args = station_args(cs, "CP-firmware", version,
                                "--firmware-install-command", str(script))  # fmt: skip
            processes.append(CliProcess(core, *args))
            await asyncio.wait_for(cs.connected.wait(), 15)
            if version == "ocpp1.6":
                await firmware_and_diagnostics_16(cs, server)
            else:
                await firmware_and_log_2x(cs, server, version)
            assert server.hits["good.bin"] == 1
            # In a thread: the central system answers what the station sends while it stops.
            assert await asyncio.to_thread(processes[0].stop) == 0, processes[0].log

    try:
        run(main(), 120)
    except BaseException:
        for process in processes:
            process.__exit__()
            print(process.log)
        raise
    assert installed.read_bytes() == IMAGE
    station = processes[0]
    assert station.count(rf"installed firmware good\.bin \({len(IMAGE)} bytes\)") == 1, station.log
    assert station.count(r"Traceback|InternalError") == 0, station.log
