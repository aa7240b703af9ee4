"""Firmware updates of both stations over real HTTP (C16 5.19 / 4.5; 2.x L01 / L02, the OCA
test cases TC_L_*_CS): a local aiohttp file server on 127.0.0.1 serves the images, well,
badly, or not at all."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ocppfast import v16
from ocppfast.hardware import SimulatedHardware
from ocppfast.station import StationConfig, StationError
from ocppfast.station.maintenance import FirmwareUpdate
from ocppfast.station.v2 import StationV2
from ocppfast.station.v16 import Station16
from tests.aio import free_port, run, until
from tests.test_station_v2 import Csms as CsmsV2
from tests.test_station_v2 import (
    booted,
    connect,
    get,
    make_station,
    put,
    ready,
    remote_start,
    set_variables,
    v2,
)
from tests.test_station_v2 import run as run2
from tests.test_station_v16 import NOW, Clock, Csms, Link, statuses

IMAGE = bytes(range(256)) * 4096  # 1 MiB


class FileServer:
    """A file server for the tests: GET /fw/<name> serves `IMAGE` (good.bin), fails with 500
    `flaky` times first (flaky.bin), always (broken.bin), or closes half-way (cut.bin);
    GET /slow/<name> serves it in `TRICKLE` parts `PAUSE` seconds apart; GET /stall/<name>
    sends a first part and then nothing (until the server stops) the first time, the whole
    image after; PUT /up/<name> stores an upload, PUT /form/<name> answers 405 and POST /form
    takes it as multipart/form-data, PUT /fail/<name> answers 500."""

    TRICKLE = 8
    PAUSE = 0.15

    def __init__(self, flaky: int = 0) -> None:
        self.port = free_port()
        self.flaky = flaky
        self.hits: dict[str, int] = {}
        self.uploads: dict[str, bytes] = {}
        self.uploaded = asyncio.Event()
        self.stopping = asyncio.Event()  # ends what the stalled answers wait for
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/fw/{name}", self._get)
        app.router.add_get("/slow/{name}", self._slow)
        app.router.add_get("/stall/{name}", self._stall)
        app.router.add_put("/up/{name}", self._put)
        app.router.add_put("/form/{name}", self._not_allowed)
        app.router.add_post("/form", self._post)
        app.router.add_put("/fail/{name}", self._fail)
        self.runner = web.AppRunner(app)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def _get(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits[name] = self.hits.get(name, 0) + 1
        if name == "broken.bin" or (name == "flaky.bin" and self.hits[name] <= self.flaky):
            return web.Response(status=500, text="storage offline")
        if name == "cut.bin":
            response = web.StreamResponse(headers={"Content-Length": str(len(IMAGE))})
            await response.prepare(request)
            await response.write(IMAGE[:1000])
            assert request.transport is not None
            request.transport.close()
            return response
        return web.Response(body=IMAGE, content_type="application/octet-stream")

    async def _slow(self, request: web.Request) -> web.StreamResponse:
        self.hits["slow"] = self.hits.get("slow", 0) + 1
        response = web.StreamResponse(headers={"Content-Length": str(len(IMAGE))})
        await response.prepare(request)
        part = len(IMAGE) // self.TRICKLE
        for start in range(0, len(IMAGE), part):
            await response.write(IMAGE[start : start + part])
            await asyncio.sleep(self.PAUSE)
        await response.write_eof()
        return response

    async def _stall(self, request: web.Request) -> web.StreamResponse:
        self.hits["stall"] = self.hits.get("stall", 0) + 1
        if self.hits["stall"] > 1:
            return web.Response(body=IMAGE, content_type="application/octet-stream")
        response = web.StreamResponse(headers={"Content-Length": str(len(IMAGE))})
        await response.prepare(request)
        await response.write(IMAGE[:1000])
        await self.stopping.wait()
        return response

    async def _put(self, request: web.Request) -> web.Response:
        self.hits["PUT"] = self.hits.get("PUT", 0) + 1
        self.uploads[request.match_info["name"]] = await request.read()
        self.uploaded.set()
        return web.Response(status=201)

    async def _not_allowed(self, request: web.Request) -> web.Response:
        return web.Response(status=405)

    async def _post(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload: Any = form["file"]
        self.uploads[upload.filename] = upload.file.read()
        self.uploaded.set()
        return web.Response(status=200)

    async def _fail(self, request: web.Request) -> web.Response:
        self.hits["fail"] = self.hits.get("fail", 0) + 1
        return web.Response(status=500)


@contextlib.asynccontextmanager
async def file_server(flaky: int = 0) -> AsyncIterator[FileServer]:
    server = FileServer(flaky)
    await server.start()
    try:
        yield server
    finally:
        server.stopping.set()
        await server.runner.cleanup()


def station16(hardware: SimulatedHardware | None = None) -> Station16:
    return Station16(
        StationConfig("CP1", serial_number="SN-0042", connectors=2),
        clock=Clock(),
        hardware=hardware or SimulatedHardware(),
    )


def firmware_statuses(csms: Csms) -> list[str]:
    return [r.status.value for r in csms.of("FirmwareStatusNotification")]


def update16(location: str, **options: Any) -> v16.UpdateFirmwareRequest:
    return v16.UpdateFirmwareRequest(location=location, retrieve_date=NOW, **options)


# -- 1.6 ---------------------------------------------------------------------------------------


def test_v16_update_firmware_downloads_installs_reboots_and_reports_installed(core: Any) -> None:
    """C16 5.19, 4.5: FirmwareStatusNotification.req Downloading, Downloaded, Installing; the
    station installs the very bytes served, reboots (a new BootNotification) and then reports
    Installed."""

    async def main() -> None:
        hardware = SimulatedHardware()
        station = station16(hardware)
        async with file_server() as server:
            link = Link(core, station, Csms())
            await link.booted()
            await link.call(update16(server.url("/fw/good.bin")))
            await link.closed()  # the reboot into the new firmware
            assert firmware_statuses(link.csms) == ["Downloading", "Downloaded", "Installing"]
            assert [(f.name, f.content) for f in hardware.installed] == [("good.bin", IMAGE)]
            again = Link(core, station, Csms())
            await again.booted()
            await again.csms.wait_for("FirmwareStatusNotification")
            assert firmware_statuses(again.csms) == ["Installed"]
            assert len(again.csms.of("BootNotification")) == 1
            await again.close()

    run(main())


def test_v16_download_is_retried_retry_interval_apart(core: Any) -> None:
    """C16 5.19: `retries` more attempts after a failed download: two 500s, then the image."""

    async def main() -> None:
        hardware = SimulatedHardware()
        async with file_server(flaky=2) as server:
            link = Link(core, station16(hardware), Csms())
            await link.booted()
            await link.call(update16(server.url("/fw/flaky.bin"), retries=2, retry_interval=0))
            await link.closed()
            assert server.hits["flaky.bin"] == 3
            assert firmware_statuses(link.csms) == [
                "Downloading",
                "Downloading",
                "Downloading",
                "Downloaded",
                "Installing",
            ]
            assert hardware.installed[0].content == IMAGE

    run(main())


def test_v16_download_failed_after_retries_plus_one_attempts(core: Any) -> None:
    """C16 4.5: DownloadFailed once every attempt (retries + 1) failed; nothing installed."""

    async def main() -> None:
        hardware = SimulatedHardware()
        async with file_server() as server:
            link = Link(core, station16(hardware), Csms())
            await link.booted()
            await link.call(update16(server.url("/fw/broken.bin"), retries=1, retry_interval=0))
            await link.csms.wait_for("FirmwareStatusNotification", count=3)
            assert server.hits["broken.bin"] == 2
            assert firmware_statuses(link.csms) == ["Downloading", "Downloading", "DownloadFailed"]
            assert hardware.installed == []
            assert link.station.maintenance.firmware_in_progress() == ("Idle", None)
            await link.close()

    run(main())


def test_v16_body_cut_short_and_unsupported_scheme_fail_the_download(
    core: Any, caplog: Any
) -> None:
    """C16 4.5: a connection closed mid-body is a failed download; an ftp:// location fails
    at once with a log line saying the scheme is not supported."""

    async def main() -> None:
        async with file_server() as server:
            link = Link(core, station16(), Csms())
            await link.booted()
            await link.call(update16(server.url("/fw/cut.bin")))
            await link.csms.wait_for("FirmwareStatusNotification", count=2)
            await link.call(update16("ftp://fw.example.com/image.bin"))
            await link.csms.wait_for("FirmwareStatusNotification", count=4)
            assert firmware_statuses(link.csms) == [
                "Downloading",
                "DownloadFailed",
                "Downloading",
                "DownloadFailed",
            ]
            await link.close()

    run(main())
    assert "ftp scheme" in caplog.text and "not supported" in caplog.text


def test_v16_installation_waits_for_the_transactions(core: Any) -> None:
    """C16 5.19: the Charge Point installs once no transaction runs any more."""

    async def main() -> None:
        hardware = SimulatedHardware()
        station = station16(hardware)
        async with file_server() as server:
            link = Link(core, station, Csms())
            await link.booted()
            await station.start_transaction(1, "TAG1", authorize=False)
            await link.call(update16(server.url("/fw/good.bin")))
            await link.csms.wait_for("FirmwareStatusNotification", count=2)
            assert firmware_statuses(link.csms) == ["Downloading", "Downloaded"]
            assert hardware.installed == []
            await station.stop_transaction(1)
            await link.closed()
            assert firmware_statuses(link.csms)[-1] == "Installing"
            assert len(hardware.installed) == 1

    run(main())


def test_v16_installation_failed(core: Any) -> None:
    """C16 4.5: InstallationFailed when the hardware could not install; no reboot."""

    async def main() -> None:
        async with file_server() as server:
            link = Link(core, station16(SimulatedHardware(fail_install=True)), Csms())
            await link.booted()
            await link.call(update16(server.url("/fw/good.bin")))
            await link.csms.wait_for("FirmwareStatusNotification", count=4)
            assert firmware_statuses(link.csms) == [
                "Downloading",
                "Downloaded",
                "Installing",
                "InstallationFailed",
            ]
            assert not link.central.closed
            await link.close()

    run(main())


def test_v16_install_command_runs_on_the_image(core: Any, tmp_path: Path) -> None:
    """`SimulatedHardware(install_command=...)` (the CLI's --firmware-install-command): the
    program gets the image's path; exit 0 installs, another status is InstallationFailed."""
    good = tmp_path / "install.sh"
    copied = tmp_path / "copied.bin"
    good.write_text(f'#!/bin/sh\ncp "$1" {copied}\n')
    bad = tmp_path / "refuse.sh"
    bad.write_text("#!/bin/sh\necho 'bad checksum'\nexit 3\n")
    for script in (good, bad):
        script.chmod(script.stat().st_mode | stat.S_IXUSR)

    async def attempt(script: Path) -> list[str]:
        async with file_server() as server:
            hardware = SimulatedHardware(install_command=[str(script)])
            link = Link(core, station16(hardware), Csms())
            await link.booted()
            await link.call(update16(server.url("/fw/good.bin")))
            await link.csms.wait_for("FirmwareStatusNotification", count=4, timeout=10)
            statuses = firmware_statuses(link.csms)
            if not link.central.closed:
                await link.close()
            return statuses

    async def main() -> None:
        assert (await attempt(bad))[-1] == "InstallationFailed"
        assert not copied.exists()
        # The good install reboots: the 4th notification is Installed, after the new boot.
        async with file_server() as server:
            hardware = SimulatedHardware(install_command=[str(good)])
            station = station16(hardware)
            link = Link(core, station, Csms())
            await link.booted()
            await link.call(update16(server.url("/fw/good.bin")))
            await link.closed()
            assert firmware_statuses(link.csms) == ["Downloading", "Downloaded", "Installing"]
        assert copied.read_bytes() == IMAGE

    run(main())
    assert os.access(good, os.X_OK)


def test_v16_waits_for_the_retrieve_date() -> None:
    """C16 5.19: nothing is downloaded before retrieveDate (the station's clock)."""

    async def main() -> None:
        station = station16()
        async with file_server() as server:
            station.maintenance.update_firmware(
                FirmwareUpdate(
                    location=server.url("/fw/good.bin"), retrieve_at=NOW + timedelta(hours=1)
                )
            )
            await asyncio.sleep(0)
            assert station.maintenance.firmware_busy
            assert server.hits == {}
            station.maintenance.cancel()

    run(main())


def test_v16_idle_connectors_unavailable_while_the_installation_waits(core: Any) -> None:
    """C16 5.19 (C16E 3.49): while the installation waits for the transaction on connector 1,
    connector 2, not in use, is Unavailable and takes no new transaction (local or remote);
    connector 1 becomes Unavailable when its transaction ends; after the reboot into the new
    firmware the connectors are open again."""

    async def main() -> None:
        station = station16()
        async with file_server() as server:
            link = Link(core, station, Csms())
            await link.booted()
            await station.start_transaction(1, "TAG1", authorize=False)
            await link.call(update16(server.url("/fw/good.bin")))
            await link.csms.wait_for("FirmwareStatusNotification", count=2)
            await until(lambda: statuses(link.csms, 2)[-1] == "Unavailable")
            with pytest.raises(StationError, match="unavailable"):
                await station.start_transaction(2, "TAG2", authorize=False)
            remote = await link.call(
                v16.RemoteStartTransactionRequest(id_tag="TAG2", connector_id=2)
            )
            assert remote.status == v16.RemoteStartStopStatus.Rejected
            assert station.connector_status(1) == "Charging"
            await station.stop_transaction(1)
            await link.closed()  # the reboot into the new firmware
            assert statuses(link.csms, 1)[-1] == "Unavailable"
            again = Link(core, station, Csms())
            await again.booted()
            await again.csms.wait_for("FirmwareStatusNotification")
            # Open again: connector 1 reports its EV still plugged in (Finishing).
            assert [statuses(again.csms, c) for c in (0, 1, 2)] == [
                ["Available"],
                ["Finishing"],
                ["Available"],
            ]
            await again.close()

    run(main())


def test_v16_slow_server_within_the_idle_timeout_completes(core: Any) -> None:
    """A download whose bytes keep coming, each part within the idle timeout, succeeds however
    long it takes in all (here longer than the idle timeout)."""

    async def main() -> None:
        hardware = SimulatedHardware()
        station = station16(hardware)
        station.maintenance.idle_timeout = FileServer.PAUSE * 4
        async with file_server() as server:
            link = Link(core, station, Csms())
            await link.booted()
            await link.call(update16(server.url("/slow/slow.bin")))
            await link.closed()
            assert server.hits["slow"] == 1
            assert firmware_statuses(link.csms) == ["Downloading", "Downloaded", "Installing"]
            assert hardware.installed[0].content == IMAGE

    run(main())


def test_v16_stalled_download_fails_the_attempt_and_the_retry_succeeds(
    core: Any, caplog: Any
) -> None:
    """C16 5.19: a server that stops sending for longer than the idle timeout fails that
    attempt (logged as timed out); the retry downloads the image."""

    async def main() -> None:
        hardware = SimulatedHardware()
        station = station16(hardware)
        station.maintenance.idle_timeout = 0.5
        async with file_server() as server:
            link = Link(core, station, Csms())
            await link.booted()
            await link.call(update16(server.url("/stall/stall.bin"), retries=1, retry_interval=0))
            await link.closed()
            assert server.hits["stall"] == 2
            assert firmware_statuses(link.csms) == [
                "Downloading",
                "Downloading",
                "Downloaded",
                "Installing",
            ]
            assert hardware.installed[0].content == IMAGE

    run(main())
    assert "stall.bin timed out" in caplog.text


def test_v16_triggered_firmware_status_reports_the_update_in_progress(core: Any) -> None:
    """C16 4.5, 5.17: a triggered FirmwareStatusNotification.req reports the status of the
    update in progress (Downloaded while the installation waits for a transaction), Idle once
    none is (after it failed)."""

    async def main() -> None:
        station = station16(SimulatedHardware(fail_install=True))
        async with file_server() as server:
            link = Link(core, station, Csms())
            await link.booted()
            await station.start_transaction(1, "TAG1", authorize=False)
            await link.call(update16(server.url("/fw/good.bin")))
            await link.csms.wait_for("FirmwareStatusNotification", count=2)
            trigger = v16.TriggerMessageRequest(
                requested_message=v16.MessageTrigger.FirmwareStatusNotification
            )
            assert (await link.call(trigger)).status == v16.TriggerMessageStatus.Accepted
            await link.csms.wait_for("FirmwareStatusNotification", count=3)
            assert firmware_statuses(link.csms)[2] == "Downloaded"
            await station.stop_transaction(1)
            await link.csms.wait_for("FirmwareStatusNotification", count=5)
            assert firmware_statuses(link.csms)[3:] == ["Installing", "InstallationFailed"]
            await link.call(trigger)
            await link.csms.wait_for("FirmwareStatusNotification", count=6)
            assert firmware_statuses(link.csms)[5] == "Idle"
            await link.close()

    run(main())


# -- 2.x ---------------------------------------------------------------------------------------


def text(value: Any) -> str:
    """An enumeration member's wire text (or the text itself)."""
    return str(getattr(value, "value", value))


def fw_statuses(csms: CsmsV2) -> list[tuple[str, Any]]:
    return [(text(r.status), r.request_id) for r in csms.of("FirmwareStatusNotification")]


def update2(m: Any, location: str, request_id: int = 7, **firmware: Any) -> Any:
    return m.UpdateFirmwareRequest(
        request_id=request_id,
        retries=firmware.pop("retries", 0),
        retry_interval=firmware.pop("retry_interval", 0),
        firmware=m.Firmware(
            location=location, retrieve_date_time=NOW - timedelta(hours=2), **firmware
        ),
    )


def test_v2_update_firmware_reboots_with_reason_firmware_update(core: Any, v2: str) -> None:
    """TC_L_01_CS (without signature, L02): Accepted; Downloading, Downloaded, Installing,
    InstallRebooting with the requestId; BootNotification reason FirmwareUpdate; the
    FirmwareUpdated security event; Installed. The image installed is the one served."""

    async def main() -> None:
        station = make_station(v2)
        hardware = station.hardware
        assert isinstance(hardware, SimulatedHardware)
        async with file_server() as server:
            csms = CsmsV2()
            async with connect(core, station, csms, v2) as connection:
                await ready(station, csms)
                m = csms.m
                answer = await connection.call(update2(m, server.url("/fw/good.bin")))
                assert text(answer.status) == "Accepted"
                await csms.wait("FirmwareStatusNotification", 4)
                await until(lambda: connection.closed)
            assert fw_statuses(csms) == [
                ("Downloading", 7),
                ("Downloaded", 7),
                ("Installing", 7),
                ("InstallRebooting", 7),
            ]
            assert hardware.installed[0].content == IMAGE
            after = CsmsV2()
            async with connect(core, station, after, v2):
                await ready(station, after)
                await after.wait("FirmwareStatusNotification")
                (boot,) = after.of("BootNotification")
                assert text(boot.reason) == "FirmwareUpdate"
                assert fw_statuses(after) == [("Installed", 7)]
                await after.wait(
                    "SecurityEventNotification", where=lambda r: r.type == "FirmwareUpdated"
                )

    run2(main())


def test_v2_download_and_install_scheduled(core: Any, v2: str) -> None:
    """TC_L_03_CS / TC_L_02_CS: DownloadScheduled until retrieveDateTime, InstallScheduled
    until installDateTime (the station's clock)."""

    async def main() -> None:
        async with file_server() as server, booted(core, v2, CsmsV2()) as (station, csms, conn, m):
            request = m.UpdateFirmwareRequest(
                request_id=3,
                firmware=m.Firmware(
                    location=server.url("/fw/good.bin"),
                    retrieve_date_time=NOW + timedelta(hours=1),
                ),
            )
            assert text((await conn.call(request)).status) == "Accepted"
            await csms.wait("FirmwareStatusNotification")
            assert fw_statuses(csms) == [("DownloadScheduled", 3)]
            assert server.hits == {}
            # The station's trigger reports the update in progress (L01.FR.25).
            await conn.call(m.TriggerMessageRequest(requested_message="FirmwareStatusNotification"))
            await csms.wait("FirmwareStatusNotification", 2)
            assert fw_statuses(csms)[1] == ("DownloadScheduled", 3)
            install = update2(
                m, server.url("/fw/good.bin"), request_id=4,
                install_date_time=NOW + timedelta(hours=1),
            )  # fmt: skip
            # L01.FR.24 (TC_L_10_CS): the new request cancels the one in progress.
            assert text((await conn.call(install)).status) == "AcceptedCanceled"
            await csms.wait("FirmwareStatusNotification", 5)
            assert fw_statuses(csms)[2:] == [
                ("Downloading", 4),
                ("Downloaded", 4),
                ("InstallScheduled", 4),
            ]
            assert station.hardware.installed == []  # type: ignore[attr-defined]

    run2(main())


def test_v2_signed_firmware_is_refused_invalid_certificate(core: Any, v2: str) -> None:
    """L01.FR.02 (TC_L_05_CS): no manufacturer root certificate is installed, so a signing
    certificate cannot be valid: InvalidCertificate and the security event
    InvalidFirmwareSigningCertificate; nothing is downloaded."""

    async def main() -> None:
        async with file_server() as server, booted(core, v2, CsmsV2()) as (_station, csms, conn, m):
            request = update2(
                m, server.url("/fw/good.bin"), signing_certificate="-----BEGIN CERTIFICATE-----",
                signature="c2lnbmF0dXJl",
            )  # fmt: skip
            assert text((await conn.call(request)).status) == "InvalidCertificate"
            (_event,) = await csms.wait(
                "SecurityEventNotification",
                where=lambda r: r.type == "InvalidFirmwareSigningCertificate",
            )
            assert server.hits == {}
            assert csms.of("FirmwareStatusNotification") == []

    run2(main())


def test_v2_download_failed_after_the_retries(core: Any, v2: str) -> None:
    """TC_L_07_CS: DownloadFailed, with the requestId, after retries + 1 attempts."""

    async def main() -> None:
        async with file_server() as server, booted(core, v2, CsmsV2()) as (_station, csms, conn, m):
            await conn.call(update2(m, server.url("/fw/broken.bin"), retries=2))
            await csms.wait("FirmwareStatusNotification", 4)
            assert fw_statuses(csms) == [("Downloading", 7)] * 3 + [("DownloadFailed", 7)]
            assert server.hits["broken.bin"] == 3

    run2(main())


def test_v2_installation_waits_for_transactions(core: Any, v2: str) -> None:
    """L01.FR.06 (TC_L_15_CS steps 3-9): the download goes on during a transaction, the installation
    waits for it to end (InstallScheduled meanwhile)."""

    async def main() -> None:
        async with file_server() as server:
            station = make_station(v2)
            csms = CsmsV2()
            async with connect(core, station, csms, v2) as conn:
                await ready(station, csms)
                await station.plug_in(1)
                await station.start_transaction(1, "TAG1")
                await until(lambda: 1 in station.transactions)
                await conn.call(update2(csms.m, server.url("/fw/good.bin")))
                await csms.wait("FirmwareStatusNotification", 3)
                assert [s for s, _ in fw_statuses(csms)] == [
                    "Downloading",
                    "Downloaded",
                    "InstallScheduled",
                ]
                assert station.hardware.installed == []  # type: ignore[attr-defined]
                await station.unplug(1)
                await csms.wait("FirmwareStatusNotification", 5)
                assert [s for s, _ in fw_statuses(csms)][3:] == ["Installing", "InstallRebooting"]

    run2(main())


def test_v2_restart_after_the_install_reports_installed(core: Any, v2: str) -> None:
    """A station whose process ended after the install (before it reported Installed) reports
    Installed on its next boot: the update's state is kept in StationData."""

    async def main() -> None:
        async with file_server() as server:
            station = make_station(v2)
            csms = CsmsV2()
            async with connect(core, station, csms, v2) as conn:
                await ready(station, csms)
                await conn.call(update2(csms.m, server.url("/fw/good.bin"), request_id=9))
                await csms.wait("FirmwareStatusNotification", 4)
            # A new process on the same data.
            restarted = StationV2(station.config, v2, clock=Clock(), data=station.data)
            after = CsmsV2()
            async with connect(core, restarted, after, v2):
                await ready(restarted, after)
                await after.wait("FirmwareStatusNotification")
                assert fw_statuses(after) == [("Installed", 9)]
            await restarted.shutdown()

    run2(main())


def evse_statuses(csms: CsmsV2, evse_id: int) -> list[str]:
    return [text(r.connector_status) for r in csms.of("StatusNotification") if r.evse_id == evse_id]


def test_v2_tc_l_15_idle_evses_unavailable_until_the_firmware_is_installed(
    core: Any, v2: str
) -> None:
    """L01.FR.06 / L01.FR.07, TC_L_15_CS (TC_L_13_CS) without the signature steps, with
    ChargingStation.AllowNewSessionsPendingFirmwareUpdate false (the default): while the
    installation waits for the transaction on EVSE 1 (InstallScheduled), the idle EVSE 2 is
    Unavailable (step 11) and takes no new session; EVSE 1 becomes Unavailable when its
    transaction ends (step 14); then Installing, the reboot, and both EVSEs Available again
    (step 21) before Installed."""

    async def main() -> None:
        async with file_server() as server:
            station = make_station(v2)
            csms = CsmsV2()
            async with connect(core, station, csms, v2) as conn:
                await ready(station, csms)
                m = csms.m
                allowed = get(m, "ChargingStation", "AllowNewSessionsPendingFirmwareUpdate")
                (result,) = (
                    await conn.call(m.GetVariablesRequest(get_variable_data=[allowed]))
                ).get_variable_result
                assert result.attribute_value == "false"
                await station.start_transaction(1, "TAG1")
                await conn.call(update2(m, server.url("/fw/good.bin")))
                await csms.wait("FirmwareStatusNotification", 3)
                await csms.wait(
                    "StatusNotification",
                    where=lambda r: r.evse_id == 2 and text(r.connector_status) == "Unavailable",
                )
                assert [s for s, _ in fw_statuses(csms)] == [
                    "Downloading",
                    "Downloaded",
                    "InstallScheduled",
                ]
                assert station.connector_status(1) == "Occupied"
                assert station.connector_status(2) == "Unavailable"
                with pytest.raises(StationError, match="unavailable"):
                    await station.start_transaction(2, "TAG2")
                refused = await remote_start(conn, "TAG2", evse=2)
                assert text(refused.status) == "Rejected"
                assert station.hardware.installed == []  # type: ignore[attr-defined]
                await station.unplug(1)
                await csms.wait("FirmwareStatusNotification", 5)
                assert evse_statuses(csms, 1)[-1] == "Unavailable"
                assert [s for s, _ in fw_statuses(csms)][3:] == ["Installing", "InstallRebooting"]
                await until(lambda: conn.closed)
            after = CsmsV2()
            async with connect(core, station, after, v2):
                await ready(station, after)
                await after.wait("FirmwareStatusNotification")
                assert fw_statuses(after) == [("Installed", 7)]
                assert evse_statuses(after, 1) == ["Available"]
                assert evse_statuses(after, 2) == ["Available"]
                assert station.connector_status(2) == "Available"

    run2(main())


def test_v2_tc_l_14_new_sessions_allowed_pending_firmware_update(core: Any, v2: str) -> None:
    """TC_L_14_CS (TC_L_12_CS) without the signature steps: with
    ChargingStation.AllowNewSessionsPendingFirmwareUpdate true, a second transaction starts
    while the installation waits (step 11), and the installation begins only once both ended
    (L01.FR.06)."""

    async def main() -> None:
        async with file_server() as server, booted(core, v2, CsmsV2()) as (station, csms, conn, m):
            allow = put(m, "ChargingStation", "AllowNewSessionsPendingFirmwareUpdate", "true")
            assert await set_variables(conn, allow) == ["Accepted"]
            await station.start_transaction(1, "TAG1")
            await conn.call(update2(m, server.url("/fw/good.bin")))
            await csms.wait("FirmwareStatusNotification", 3)
            assert fw_statuses(csms)[-1] == ("InstallScheduled", 7)
            assert station.connector_status(2) == "Available"
            await station.start_transaction(2, "TAG2")
            await station.unplug(1)
            await until(lambda: 1 not in station.transactions)
            # Still a transaction on EVSE 2: nothing installs; EVSE 1 is free for a session.
            assert station.connector_status(1) == "Available"
            assert [s for s, _ in fw_statuses(csms)] == [
                "Downloading",
                "Downloaded",
                "InstallScheduled",
            ]
            assert "Unavailable" not in evse_statuses(csms, 1) + evse_statuses(csms, 2)
            await station.unplug(2)
            await csms.wait("FirmwareStatusNotification", 5)
            assert [s for s, _ in fw_statuses(csms)][3:] == ["Installing", "InstallRebooting"]
            assert len(station.hardware.installed) == 1  # type: ignore[attr-defined]

    run2(main())


def test_v2_evses_come_back_when_the_pending_installation_fails(core: Any, v2: str) -> None:
    """L01.FR.07 holds until the firmware is installed: an installation that failed
    (InstallationFailed, no reboot) opens the EVSEs again; setting
    AllowNewSessionsPendingFirmwareUpdate to true while the installation waits opens them at
    once."""

    async def main() -> None:
        async with file_server() as server:
            station = make_station(v2)
            station.hardware.fail_install = True  # type: ignore[attr-defined]
            csms = CsmsV2()
            async with connect(core, station, csms, v2) as conn:
                await ready(station, csms)
                m = csms.m
                await station.start_transaction(1, "TAG1")
                await conn.call(update2(m, server.url("/fw/good.bin")))
                await csms.wait(
                    "StatusNotification",
                    where=lambda r: r.evse_id == 2 and text(r.connector_status) == "Unavailable",
                )
                allow = put(m, "ChargingStation", "AllowNewSessionsPendingFirmwareUpdate", "true")
                assert await set_variables(conn, allow) == ["Accepted"]
                await until(lambda: evse_statuses(csms, 2)[-1] == "Available")
                allow = put(m, "ChargingStation", "AllowNewSessionsPendingFirmwareUpdate", "false")
                assert await set_variables(conn, allow) == ["Accepted"]
                await until(lambda: evse_statuses(csms, 2)[-1] == "Unavailable")
                await station.unplug(1)
                await csms.wait("FirmwareStatusNotification", 5)
                assert fw_statuses(csms)[-1] == ("InstallationFailed", 7)
                await until(
                    lambda: (
                        evse_statuses(csms, 1)[-1] == "Available"
                        and evse_statuses(csms, 2)[-1] == "Available"
                    )
                )
                assert not conn.closed
                await station.start_transaction(2, "TAG2")

    run2(main())


__all__ = ["FileServer", "file_server", "v2"]
