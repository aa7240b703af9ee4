"""Diagnostics and log uploads of both stations over real HTTP (C16 5.9 / 4.4 GetDiagnostics;
SW and 2.x N01 GetLog, the OCA test cases TC_N_*_CS): the uploaded tar.gz is opened and its
members checked."""

from __future__ import annotations

import asyncio
import io
import tarfile
from datetime import timedelta
from typing import Any

from msgspec import UNSET

from ocppfast import v16
from tests.aio import run
from tests.test_station_firmware import FileServer, file_server, station16, text
from tests.test_station_v2 import Csms as CsmsV2
from tests.test_station_v2 import booted, v2
from tests.test_station_v2 import run as run2
from tests.test_station_v16 import NOW, Csms, Link

__all__ = ["v2"]


def members(server: FileServer, name: str) -> dict[str, str]:
    """The uploaded archive `name`: member name (without its folder) -> text."""
    with tarfile.open(fileobj=io.BytesIO(server.uploads[name]), mode="r:gz") as archive:
        return {
            member.name.split("/", 1)[1]: archive.extractfile(member).read().decode()  # type: ignore[union-attr]
            for member in archive.getmembers()
        }


def diagnostics_statuses(csms: Csms) -> list[str]:
    return [r.status.value for r in csms.of("DiagnosticsStatusNotification")]


def test_v16_get_diagnostics_uploads_log_and_traffic_of_the_window(core: Any) -> None:
    """C16 5.9, 4.4: GetDiagnostics.conf names the file; DiagnosticsStatusNotification.req
    Uploading then Uploaded; the file (PUT to the location joined with its name) is a tar.gz
    with the station's log lines and OCPP frames between startTime and stopTime."""

    async def main() -> None:
        async with file_server() as server:
            station = station16()
            link = Link(core, station, Csms())
            await link.booted()
            clock: Any = station.clock
            clock.advance(hours=1)  # what follows is in the window, the boot is not
            await link.call(v16.ChangeConfigurationRequest(key="HeartbeatInterval", value="77"))
            answer = await link.call(
                v16.GetDiagnosticsRequest(
                    location=server.url("/up/"),
                    start_time=NOW + timedelta(minutes=30),
                    stop_time=NOW + timedelta(hours=2),
                )
            )
            assert answer.file_name.endswith(".tar.gz")
            await link.csms.wait_for("DiagnosticsStatusNotification", count=2)
            assert diagnostics_statuses(link.csms) == ["Uploading", "Uploaded"]
            content = members(server, answer.file_name)
            assert set(content) == {"station.log", "traffic.log"}
            assert "configuration HeartbeatInterval set to 77" in content["station.log"]
            assert '"ChangeConfiguration"' in content["traffic.log"]
            assert '"BootNotification"' not in content["traffic.log"]  # before startTime
            assert "booted" not in content["station.log"]
            await link.close()

    run(main())


def test_v16_upload_405_falls_back_to_multipart_post(core: Any) -> None:
    """A server that does not take PUT (405) gets the file as multipart/form-data POST."""

    async def main() -> None:
        async with file_server() as server:
            link = Link(core, station16(), Csms())
            await link.booted()
            answer = await link.call(v16.GetDiagnosticsRequest(location=server.url("/form")))
            await link.csms.wait_for("DiagnosticsStatusNotification", count=2)
            assert diagnostics_statuses(link.csms) == ["Uploading", "Uploaded"]
            assert "BootNotification" in members(server, answer.file_name)["traffic.log"]
            await link.close()

    run(main())


def test_v16_upload_failed_after_retries_and_ftp_is_not_supported(core: Any, caplog: Any) -> None:
    """C16 4.4: UploadFailed after retries + 1 failed attempts; an ftp:// location fails with
    a log line saying FTP is not supported."""

    async def main() -> None:
        async with file_server() as server:
            link = Link(core, station16(), Csms())
            await link.booted()
            await link.call(
                v16.GetDiagnosticsRequest(location=server.url("/fail"), retries=2, retry_interval=0)
            )
            await link.csms.wait_for("DiagnosticsStatusNotification", count=4)
            assert diagnostics_statuses(link.csms) == ["Uploading"] * 3 + ["UploadFailed"]
            assert server.hits["fail"] == 3
            await link.call(v16.GetDiagnosticsRequest(location="ftp://diag.example.com/up/"))
            await link.csms.wait_for("DiagnosticsStatusNotification", count=6)
            assert diagnostics_statuses(link.csms)[4:] == ["Uploading", "UploadFailed"]
            await link.close()

    run(main())
    assert "the ftp scheme" in caplog.text and "not supported" in caplog.text


def test_v16_get_log_security_extension(core: Any) -> None:
    """SW GetLog DiagnosticsLog: Accepted with the file name; LogStatusNotification.req
    Uploading then Uploaded with the requestId."""

    async def main() -> None:
        async with file_server() as server:
            link = Link(core, station16(), Csms())
            await link.booted()
            answer = await link.call(
                v16.GetLogRequest(
                    log=v16.LogParameters(remote_location=server.url("/up")),
                    log_type=v16.LogEnum.DiagnosticsLog,
                    request_id=12,
                )
            )
            assert answer.status == v16.LogStatusEnum.Accepted
            await link.csms.wait_for("LogStatusNotification", count=2)
            assert [
                (r.status.value, r.request_id) for r in link.csms.of("LogStatusNotification")
            ] == [
                ("Uploading", 12),
                ("Uploaded", 12),
            ]
            assert "station.log" in members(server, answer.filename)
            await link.close()

    run(main())


def test_v16_triggered_upload_statuses_report_the_upload_in_progress(core: Any) -> None:
    """C16 4.4, 5.17: a triggered DiagnosticsStatusNotification.req says Uploading while a
    GetDiagnostics upload runs, Idle otherwise; SW: a triggered LogStatusNotification.req says
    Uploading with the requestId while a GetLog upload runs (a GetDiagnostics upload is not
    one), Idle otherwise. The uploads go to a server that takes the connection and never
    answers."""

    async def main() -> None:
        stalled = FileServer()
        never = await asyncio.start_server(lambda r, w: None, "127.0.0.1", stalled.port)
        async with never:
            link = Link(core, station16(), Csms())
            await link.booted()

            async def trigger(message: str) -> None:
                # LogStatusNotification is triggered with the SW ExtendedTriggerMessage.
                request: Any = (
                    v16.TriggerMessageRequest(requested_message=v16.MessageTrigger(message))
                    if message == "DiagnosticsStatusNotification"
                    else v16.ExtendedTriggerMessageRequest(
                        requested_message=v16.MessageTriggerEnum(message)
                    )
                )
                answer = await link.call(request)
                assert answer.status.value == "Accepted"

            await trigger("DiagnosticsStatusNotification")
            await trigger("LogStatusNotification")
            await link.csms.wait_for("LogStatusNotification")
            await link.call(v16.GetDiagnosticsRequest(location=stalled.url("/up/")))
            await link.csms.wait_for("DiagnosticsStatusNotification", count=2)
            await trigger("DiagnosticsStatusNotification")
            await trigger("LogStatusNotification")
            await link.csms.wait_for("DiagnosticsStatusNotification", count=3)
            await link.csms.wait_for("LogStatusNotification", count=2)
            assert diagnostics_statuses(link.csms) == ["Idle", "Uploading", "Uploading"]
            get_log = v16.GetLogRequest(
                log=v16.LogParameters(remote_location=stalled.url("/up/")),
                log_type=v16.LogEnum.DiagnosticsLog,
                request_id=31,
            )
            assert (await link.call(get_log)).status == v16.LogStatusEnum.AcceptedCanceled
            await link.csms.wait_for("LogStatusNotification", count=3)
            await trigger("LogStatusNotification")
            await trigger("DiagnosticsStatusNotification")
            await link.csms.wait_for("LogStatusNotification", count=4)
            await link.csms.wait_for("DiagnosticsStatusNotification", count=4)
            assert [
                (r.status.value, r.request_id) for r in link.csms.of("LogStatusNotification")
            ] == [("Idle", UNSET), ("Idle", UNSET), ("Uploading", 31), ("Uploading", 31)]
            assert diagnostics_statuses(link.csms)[3] == "Idle"
            link.station.maintenance.cancel()
            await link.close()

    run(main())


def log_statuses(csms: CsmsV2) -> list[tuple[str, Any]]:
    return [(text(r.status), r.request_id) for r in csms.of("LogStatusNotification")]


def get_log(m: Any, location: str, request_id: int, kind: str = "DiagnosticsLog", **kw: Any) -> Any:
    return m.GetLogRequest(
        log=m.LogParameters(remote_location=location),
        log_type=kind,
        request_id=request_id,
        **kw,
    )


def test_v2_get_log_diagnostics_success(core: Any, v2: str) -> None:
    """TC_N_25_CS: GetLogResponse Accepted with a filename; LogStatusNotification Uploading,
    Uploaded with the requestId; the archive holds the log and the traffic."""

    async def main() -> None:
        async with file_server() as server, booted(core, v2, CsmsV2()) as (_station, csms, conn, m):
            answer = await conn.call(get_log(m, server.url("/up/"), 5))
            assert text(answer.status) == "Accepted" and answer.filename
            await csms.wait("LogStatusNotification", 2)
            assert log_statuses(csms) == [("Uploading", 5), ("Uploaded", 5)]
            content = members(server, answer.filename)
            assert "BootNotification" in content["traffic.log"]
            assert "booted" in content["station.log"]

    run2(main())


def test_v2_get_log_upload_failure(core: Any, v2: str) -> None:
    """TC_N_26_CS: UploadFailure after retries + 1 attempts."""

    async def main() -> None:
        async with file_server() as server, booted(core, v2, CsmsV2()) as (_station, csms, conn, m):
            await conn.call(get_log(m, server.url("/fail/"), 6, retries=1, retry_interval=0))
            await csms.wait("LogStatusNotification", 3)
            assert log_statuses(csms) == [("Uploading", 6), ("Uploading", 6), ("UploadFailure", 6)]

    run2(main())


def test_v2_get_log_security_log(core: Any, v2: str) -> None:
    """TC_N_35_CS: SecurityLog: the security events (StartupOfTheDevice at the boot)."""

    async def main() -> None:
        async with file_server() as server, booted(core, v2, CsmsV2()) as (_station, csms, conn, m):
            answer = await conn.call(get_log(m, server.url("/up"), 8, kind="SecurityLog"))
            await csms.wait("LogStatusNotification", 2)
            assert log_statuses(csms) == [("Uploading", 8), ("Uploaded", 8)]
            assert "StartupOfTheDevice" in members(server, answer.filename)["security.log"]

    run2(main())


def test_v2_second_get_log_cancels_the_first(core: Any, v2: str) -> None:
    """TC_N_36_CS: a GetLog while one uploads: AcceptedCanceled, a LogStatusNotification
    AcceptedCanceled for the first, then the second uploads. TC_F_16_CS: a triggered
    LogStatusNotification while uploading says Uploading with the requestId."""

    async def main() -> None:
        async with file_server() as server, booted(core, v2, CsmsV2()) as (_station, csms, conn, m):
            # The first goes to a server that accepts the connection and never answers.
            stalled = FileServer()
            import asyncio

            never = await asyncio.start_server(lambda r, w: None, "127.0.0.1", stalled.port)
            async with never:
                await conn.call(get_log(m, stalled.url("/up/"), 1))
                await csms.wait("LogStatusNotification")
                trigger = m.TriggerMessageRequest(requested_message="LogStatusNotification")
                assert text((await conn.call(trigger)).status) == "Accepted"
                await csms.wait("LogStatusNotification", 2)
                second = await conn.call(get_log(m, server.url("/up/"), 2))
                assert text(second.status) == "AcceptedCanceled"
                await csms.wait("LogStatusNotification", 5)
            assert log_statuses(csms) == [
                ("Uploading", 1),
                ("Uploading", 1),
                ("AcceptedCanceled", 1),
                ("Uploading", 2),
                ("Uploaded", 2),
            ]

    run2(main())
