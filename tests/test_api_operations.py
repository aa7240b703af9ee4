"""The CSMS side of issue 8 through the operator API, over real sockets: smart charging,
reservations, firmware updates and log uploads with the file server, display messages.

The stations are fakes (`ocppfast.asyncio.Connection` over a real WebSocket, as in
tests/test_api.py) that answer as the spec says and, like a real station, download from and
upload to the URLs they are given with an HTTP client.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ocppfast import v16
from ocppfast._core import Backend
from ocppfast.api import ApiServer
from ocppfast.api.files import Capability, FileStore
from ocppfast.asyncio import Handlers, on
from ocppfast.asyncio.server import Server
from ocppfast.csms import CsmsState, default_csms
from ocppfast.csms.store import close_state, open_state
from tests.aio import run, until
from tests.test_api import MODULES, TOKEN, Csms, error_of, station, typed

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
LATER = NOW + datetime.timedelta(hours=1)


@contextlib.asynccontextmanager
async def serving(
    state: CsmsState,
    core: Backend | None,
    root: Path,
    *,
    max_upload: int = 1 << 20,
    clock: Any = None,
) -> AsyncIterator[Csms]:
    """A CSMS as `ocppfast serve` runs it: stations' server, API and file server."""
    server = Server(default_csms(state), host="127.0.0.1", port=0, core=core, call_timeout=5.0)
    await server.start()
    files = FileStore(root, max_upload=max_upload, clock=clock)
    api = ApiServer(state, server, token=TOKEN, port=0, files=files)
    await api.start()
    csms = Csms(state, server, api)
    try:
        yield csms
    finally:
        await csms.http.close()
        await api.stop()
        await server.stop()


class Fake(Handlers):
    """A station that answers the messages of issue 8 as the spec says, keeps what it was sent
    (`received`), and runs `then` (a coroutine function of the request) after answering."""

    def __init__(self, answers: dict[str, dict[str, Any]] | None = None) -> None:
        self.received: list[Any] = []
        self.answers = answers or {}
        self.then: dict[str, Any] = {}
        self.tasks: list[asyncio.Task[Any]] = []

    def _answer(self, request: Any) -> Any:
        self.received.append(request)
        action = type(request).ACTION
        if action in self.then:
            self.tasks.append(asyncio.ensure_future(self.then[action](request)))
        responses = MODULES[self.connection.version].messages.RESPONSES
        default: dict[str, Any] = {"status": "Accepted"}
        if self.connection.version == "ocpp1.6" and action in ("UpdateFirmware", "GetDiagnostics"):
            default = {}
        return typed(responses[action], self.answers.get(action, default))

    @on("SetChargingProfile")
    def set_profile(self, request: Any) -> Any:
        return self._answer(request)

    @on("ClearChargingProfile")
    def clear_profile(self, request: Any) -> Any:
        return self._answer(request)

    @on("GetChargingProfiles")
    def get_profiles(self, request: Any) -> Any:
        return self._answer(request)

    @on("GetCompositeSchedule")
    def composite(self, request: Any) -> Any:
        return self._answer(request)

    @on("ReserveNow")
    def reserve(self, request: Any) -> Any:
        return self._answer(request)

    @on("CancelReservation")
    def cancel(self, request: Any) -> Any:
        return self._answer(request)

    @on("UpdateFirmware")
    def update_firmware(self, request: Any) -> Any:
        return self._answer(request)

    @on("SignedUpdateFirmware")
    def signed_update(self, request: Any) -> Any:
        return self._answer(request)

    @on("GetDiagnostics")
    def diagnostics(self, request: Any) -> Any:
        return self._answer(request)

    @on("GetLog")
    def get_log(self, request: Any) -> Any:
        return self._answer(request)

    @on("SetDisplayMessage")
    def set_message(self, request: Any) -> Any:
        return self._answer(request)

    @on("GetDisplayMessages")
    def get_messages(self, request: Any) -> Any:
        return self._answer(request)

    @on("ClearDisplayMessage")
    def clear_message(self, request: Any) -> Any:
        return self._answer(request)


async def put_file(csms: Csms, name: str, data: bytes) -> None:
    async with csms.http.put(f"/api/files/{name}", data=data) as response:
        assert response.status == 201, await response.text()


# -- firmware ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
def test_firmware_update_from_the_file_server_followed_in_order(
    core: Backend, version: str, tmp_path: Path
) -> None:
    """C16 5.19 / L01: UpdateFirmware names a URL of this server's file server, which the
    station downloads (Range too) with the capability in it; its FirmwareStatusNotifications
    (C16 4.5, L01.FR.*) show in order in the operation. A wrong or tampered capability is a
    404, as is a path that tries to leave the folder."""
    image = bytes(range(256)) * 64

    async def main() -> None:
        state = CsmsState()
        fake = Fake()
        async with serving(state, core, tmp_path) as csms:
            await put_file(csms, "fw-2.0.bin", image)
            status, listing = await csms.request("GET", "/api/files")
            assert status == 200 and listing["files"][0]["name"] == "fw-2.0.bin"
            async with station(csms, "CP1", version, core, fake) as cs:
                status, body = await csms.request(
                    "POST",
                    "/api/stations/CP1/firmware-updates",
                    {"file": "fw-2.0.bin", "retries": 2, "retryInterval": 60},
                )
                assert status == 201, body
                operation = body["operation"]
                assert body["result"] is not None and operation["answer"] == "Accepted"
                sent = fake.received[0]
                location = sent.location if version == "ocpp1.6" else sent.firmware.location
                assert location == operation["location"]
                assert location.startswith(csms.api.url + "/station-files/")
                if version != "ocpp1.6":
                    assert sent.request_id == operation["requestId"] == operation["id"]
                async with aiohttp.ClientSession() as http:  # a station: no bearer token
                    async with http.get(location) as response:
                        assert response.status == 200 and await response.read() == image
                    async with http.get(location, headers={"Range": "bytes=10-19"}) as response:
                        assert response.status == 206 and await response.read() == image[10:20]
                    token = location.split("/")[-2]
                    for wrong in (
                        location.replace(
                            token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
                        ),
                        location.rsplit("/", 1)[0] + "/other.bin",
                        location.rsplit("/", 1)[0] + "/..%2F..%2Fetc%2Fpasswd",
                        csms.api.url + "/station-files/x/fw-2.0.bin",
                    ):
                        async with http.get(wrong) as response:
                            assert response.status == 404, wrong
                m = MODULES[version]
                steps = ["Downloading", "Downloaded", "Installing", "Installed"]
                for step in steps:
                    if version == "ocpp1.6":
                        request = v16.FirmwareStatusNotificationRequest(
                            status=v16.FirmwareStatus(step)
                        )
                    else:
                        request = m.FirmwareStatusNotificationRequest(
                            status=m.FirmwareStatusEnum(step), request_id=operation["requestId"]
                        )
                    await cs.call(request)
                status, shown = await csms.request(
                    "GET", f"/api/stations/CP1/operations/{operation['id']}"
                )
                assert status == 200
                assert [s["status"] for s in shown["statuses"]] == steps
                assert shown["status"] == "Installed" and shown["firmware"] == "fw-2.0.bin"
                status, listed = await csms.request("GET", "/api/stations/CP1/operations")
                assert [o["id"] for o in listed["operations"]] == [operation["id"]]

    run(main())


def test_a_capability_expires_and_names_its_grant(core: Backend, tmp_path: Path) -> None:
    """The station's URL stops working once its capability has expired (404, as any wrong
    one); a download capability does not open uploads, nor the other way round."""
    now = [datetime.datetime.now(datetime.timezone.utc).timestamp()]

    async def main() -> None:
        state = CsmsState()
        async with serving(state, core, tmp_path, clock=lambda: now[0]) as csms:
            await put_file(csms, "fw.bin", b"firmware")
            async with station(csms, "CP1", "ocpp2.0.1", core, Fake()):
                _, body = await csms.request(
                    "POST", "/api/stations/CP1/firmware-updates", {"file": "fw.bin"}
                )
                location = body["operation"]["location"]
                _, body = await csms.request("POST", "/api/stations/CP1/log-uploads", {})
                upload = body["operation"]["location"]
                async with aiohttp.ClientSession() as http:
                    async with http.put(location, data=b"x") as response:
                        assert response.status in (404, 405)
                    download_token = location.split("/")[-2]
                    async with http.put(
                        f"{csms.api.url}/station-uploads/{download_token}/a.log", data=b"x"
                    ) as response:
                        assert response.status == 404
                    async with http.get(location) as response:
                        assert response.status == 200
                    expires = datetime.datetime.fromisoformat(body["operation"]["expiresAt"])
                    now[0] = expires.timestamp() + 1
                    async with http.get(location) as response:
                        assert response.status == 404
                    async with http.put(upload + "/a.log", data=b"x") as response:
                        assert response.status == 404
        secret = state.file_secret
        token = Capability("download", "CP1", 1, int(now[0]) + 60, "fw.bin").token(secret)
        assert Capability.parse(token, secret, now[0]) is not None
        assert Capability.parse(token, b"another secret", now[0]) is None

    run(main())


# -- logs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
def test_log_upload_to_the_upload_endpoint_put_and_multipart(
    core: Backend, version: str, tmp_path: Path
) -> None:
    """C16 5.9 GetDiagnostics / N01 GetLog: the location is this server's upload endpoint; the
    station uploads with PUT <location>/<name> and with multipart POST <location>; the
    operation shows the files (name, size, a download link for the operator) and the
    Diagnostics/LogStatusNotifications in order. A name that tries to leave the folder is
    stored sanitized inside uploads/<identity>/; too large is 413; a wrong capability 404."""
    diagnostics = b"log line\n" * 1000

    async def main() -> None:
        state = CsmsState()
        fake = Fake(
            {
                "GetDiagnostics": {"fileName": "diag.zip"},
                "GetLog": {"status": "Accepted", "filename": "diag.zip"},
            }
        )
        async with (
            serving(state, core, tmp_path, max_upload=64 << 10) as csms,
            station(csms, "CP1", version, core, fake) as cs,
        ):
            status, body = await csms.request(
                "POST",
                "/api/stations/CP1/log-uploads",
                {"since": "2026-01-01T00:00:00Z", "retries": 1},
            )
            assert status == 201, body
            operation = body["operation"]
            assert operation["fileName"] == "diag.zip"
            sent = fake.received[0]
            if version == "ocpp1.6":
                assert operation["action"] == "GetDiagnostics"
                location = sent.location
            else:
                assert operation["action"] == "GetLog" and sent.log_type == "DiagnosticsLog"
                location = sent.log.remote_location
            assert location == operation["location"]
            async with aiohttp.ClientSession() as http:
                async with http.put(location + "/diag.zip", data=diagnostics) as response:
                    assert response.status == 201
                form = aiohttp.FormData()
                form.add_field("file", b"second", filename="../../etc/passwd")
                async with http.post(location, data=form) as response:
                    assert response.status == 201
                async with http.put(location + "/big.zip", data=b"x" * (65 << 10)) as response:
                    assert response.status == 413
                async with http.put(location[:-3] + "AAA/x.log", data=b"x") as response:
                    assert response.status == 404
            m = MODULES[version]
            for step in ("Uploading", "Uploaded"):
                if version == "ocpp1.6":
                    await cs.call(
                        v16.DiagnosticsStatusNotificationRequest(status=v16.DiagnosticsStatus(step))
                    )
                else:
                    await cs.call(
                        m.LogStatusNotificationRequest(
                            status=m.UploadLogStatusEnum(step),
                            request_id=operation["requestId"],
                        )
                    )
            status, shown = await csms.request(
                "GET", f"/api/stations/CP1/operations/{operation['id']}"
            )
            assert [s["status"] for s in shown["statuses"]] == ["Uploading", "Uploaded"]
            names = [(u["name"], u["size"]) for u in shown["uploads"]]
            assert names == [("diag.zip", len(diagnostics)), ("passwd", 6)]
            assert sorted(p.name for p in (tmp_path / "uploads" / "CP1").iterdir()) == [
                "diag.zip",
                "passwd",
            ]
            async with csms.http.get(shown["uploads"][0]["download"]) as response:
                assert response.status == 200 and await response.read() == diagnostics
            async with (
                aiohttp.ClientSession() as http,
                http.get(csms.api.url + shown["uploads"][0]["download"]) as response,
            ):  # the operator's link needs the token
                assert response.status == 401

    run(main())


def test_operations_profiles_and_the_file_secret_are_stored(core: Backend, tmp_path: Path) -> None:
    """What the CSMS follows is kept with its data: an operation with its statuses and
    uploads, a 1.6 station's accepted profiles, reservations, and the file server's secret
    (so that the URLs given to stations work after a restart)."""
    state_url = "sqlite:///" + str(tmp_path / "csms.sqlite3")

    async def main() -> None:
        state = await open_state(state_url)
        try:
            async with (
                serving(state, core, tmp_path / "files") as csms,
                station(csms, "CP1", "ocpp1.6", core, Fake()) as cs,
            ):
                _, body = await csms.request("POST", "/api/stations/CP1/log-uploads", {})
                operation = body["operation"]
                await cs.call(
                    v16.DiagnosticsStatusNotificationRequest(status=v16.DiagnosticsStatus.Uploaded)
                )
                status, _ = await csms.request(
                    "POST", "/api/stations/CP1/charging-profiles", _PROFILE
                )
                assert status == 200
                _, body = await csms.request(
                    "POST",
                    "/api/stations/CP1/reservations",
                    {"idToken": "TAG1", "expiresAt": LATER.isoformat()},
                )
                reservation = body["reservation"]["id"]
            secret = state.file_secret
        finally:
            await close_state(state)
        again = await open_state(state_url)
        try:
            assert again.file_secret == secret
            kept = again.operation("cp1", operation["id"])
            assert kept is not None and [s.status for s in kept.statuses] == ["Uploaded"]
            assert list(again.profiles["cp1"]) == [7]
            assert again.reservations["cp1"][reservation].status == "Accepted"
        finally:
            await close_state(again)

    run(main())


# -- smart charging ------------------------------------------------------------------------------

_PROFILE: dict[str, Any] = {
    "id": 7,
    "connectorId": 1,
    "stackLevel": 1,
    "purpose": "TxDefaultProfile",
    "kind": "Absolute",
    "schedule": {
        "unit": "A",
        "startSchedule": "2026-01-01T00:00:00Z",
        "periods": [{"startPeriod": 0, "limit": 16.0}, {"startPeriod": 3600, "limit": 8.0}],
    },
}


def test_charging_profiles_of_a_16_station_are_kept_by_the_csms(
    core: Backend, tmp_path: Path
) -> None:
    """C16 5.16 SetChargingProfile, 5.5 ClearChargingProfile, 5.7 GetCompositeSchedule. 1.6
    has no GetChargingProfiles: the list is what the station accepted, where a profile of the
    same stackLevel and purpose replaces the old one (C16 3.13.2), and a cleared one or a
    rejected one is not. A 2.x field is 422 naming it."""

    async def main() -> None:
        state = CsmsState()
        fake = Fake()
        async with (
            serving(state, core, tmp_path) as csms,
            station(csms, "CP1", "ocpp1.6", core, fake),
        ):
            status, body = await csms.request(
                "POST", "/api/stations/CP1/charging-profiles", _PROFILE
            )
            assert status == 200 and body["result"] == {"status": "Accepted", "id": 7}
            sent = fake.received[-1]
            assert sent.connector_id == 1 and sent.cs_charging_profiles.charging_profile_id == 7
            assert (
                sent.cs_charging_profiles.charging_schedule.charging_schedule_period[1].limit == 8
            )
            replacing = {**_PROFILE, "id": 8}
            status, body = await csms.request(
                "POST", "/api/stations/CP1/charging-profiles", replacing
            )
            other = {**_PROFILE, "id": 9, "stackLevel": 2}
            await csms.request("POST", "/api/stations/CP1/charging-profiles", other)
            fake.answers["SetChargingProfile"] = {"status": "Rejected"}
            await csms.request(
                "POST",
                "/api/stations/CP1/charging-profiles",
                {**_PROFILE, "id": 10, "stackLevel": 3},
            )
            status, listed = await csms.request("GET", "/api/stations/CP1/charging-profiles")
            assert status == 200 and listed["source"] == "csms"
            assert [p["chargingProfile"]["chargingProfileId"] for p in listed["profiles"]] == [
                8,
                9,
            ]
            status, body = await csms.request("DELETE", "/api/stations/CP1/charging-profiles/8")
            assert status == 200 and fake.received[-1].id == 8
            status, body = await csms.request(
                "POST", "/api/stations/CP1/charging-profiles/clear", {"stackLevel": 2}
            )
            assert fake.received[-1].stack_level == 2
            _, listed = await csms.request("GET", "/api/stations/CP1/charging-profiles")
            assert listed["profiles"] == []
            fake.answers["GetCompositeSchedule"] = {
                "status": "Accepted",
                "connectorId": 1,
                "scheduleStart": "2026-01-01T00:00:00Z",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
                },
            }
            status, body = await csms.request(
                "POST",
                "/api/stations/CP1/composite-schedule",
                {"connectorId": 1, "duration": 3600, "unit": "A"},
            )
            assert status == 200
            assert body["result"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 16
            assert fake.received[-1].duration == 3600
            status, body = await csms.request(
                "POST", "/api/stations/CP1/charging-profiles", {**_PROFILE, "connectorId": None}
            )
            assert status == 422
            status, body = await csms.request(
                "POST",
                "/api/stations/CP1/composite-schedule",
                {"evseId": 1, "duration": 60},
            )
            assert status == 422 and error_of(body)["path"] == "evseId"

    run(main())


def test_a_16_txprofile_goes_with_its_transaction(core: Backend, tmp_path: Path) -> None:
    """C16 3.13.1: a TxProfile is valid during its transaction only: once the transaction
    stops, the CSMS no longer lists it."""

    async def main() -> None:
        state = CsmsState()
        async with (
            serving(state, core, tmp_path) as csms,
            station(csms, "CP1", "ocpp1.6", core, Fake()) as cs,
        ):
            started = await cs.call(
                v16.StartTransactionRequest(
                    connector_id=1, id_tag="TAG1", meter_start=0, timestamp=NOW
                )
            )
            tx = started.transaction_id
            body = {**_PROFILE, "purpose": "TxProfile", "transactionId": tx}
            status, _ = await csms.request("POST", "/api/stations/CP1/charging-profiles", body)
            assert status == 200
            _, listed = await csms.request("GET", "/api/stations/CP1/charging-profiles")
            assert len(listed["profiles"]) == 1
            await cs.call(
                v16.StopTransactionRequest(transaction_id=tx, meter_stop=10, timestamp=NOW)
            )
            _, listed = await csms.request("GET", "/api/stations/CP1/charging-profiles")
            assert listed["profiles"] == []

    run(main())


@pytest.mark.parametrize("version", ["ocpp2.0.1", "ocpp2.1"])
def test_charging_profiles_of_a_2x_station_are_asked_and_collected(
    core: Backend, version: str, tmp_path: Path
) -> None:
    """K01 SetChargingProfile (ChargePointMaxProfile is ChargingStationMaxProfile), K09
    GetChargingProfiles: the ReportChargingProfiles parts of its requestId (tbc until the
    last) are collected into one answer; NoProfiles is an empty list; a 1.6 field is 422."""

    async def main() -> None:
        state = CsmsState()
        fake = Fake()
        m = MODULES[version]
        async with (
            serving(state, core, tmp_path) as csms,
            station(csms, "CS1", version, core, fake) as cs,
        ):
            body = {**_PROFILE, "purpose": "ChargePointMaxProfile", "evseId": 0}
            del body["connectorId"]
            status, answer = await csms.request("POST", "/api/stations/CS1/charging-profiles", body)
            assert status == 200 and answer["result"]["id"] == 7, answer
            sent = fake.received[-1]
            assert sent.evse_id == 0
            profile = sent.charging_profile
            assert profile.charging_profile_purpose.value == "ChargingStationMaxProfile"

            async def report(request: Any) -> None:
                for evse, tbc in ((1, True), (2, False)):
                    await cs.call(
                        m.ReportChargingProfilesRequest(
                            request_id=request.request_id,
                            charging_limit_source=m.ChargingLimitSourceEnum.CSO
                            if version == "ocpp2.0.1"
                            else "CSO",
                            evse_id=evse,
                            charging_profile=[profile],
                            tbc=tbc,
                        )
                    )

            fake.then["GetChargingProfiles"] = report
            status, listed = await csms.request("GET", "/api/stations/CS1/charging-profiles")
            assert status == 200, listed
            assert listed["source"] == "station" and listed["status"] == "Accepted"
            assert [p["evseId"] for p in listed["profiles"]] == [1, 2]
            assert listed["profiles"][0]["chargingLimitSource"] == "CSO"
            assert listed["profiles"][0]["chargingProfile"]["id"] == 7
            fake.then.clear()
            fake.answers["GetChargingProfiles"] = {"status": "NoProfiles"}
            _, listed = await csms.request("GET", "/api/stations/CS1/charging-profiles")
            assert listed["status"] == "NoProfiles" and listed["profiles"] == []
            status, body = await csms.request(
                "POST", "/api/stations/CS1/charging-profiles/clear", {"purpose": "TxProfile"}
            )
            assert status == 200
            criteria = fake.received[-1].charging_profile_criteria
            assert criteria.charging_profile_purpose.value == "TxProfile"
            status, body = await csms.request(
                "POST", "/api/stations/CS1/charging-profiles", _PROFILE
            )
            assert status == 422 and error_of(body)["path"] == "connectorId"

    run(main())


# -- reservations --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
def test_reservations_follow_answers_use_and_end(
    core: Backend, version: str, tmp_path: Path
) -> None:
    """C16 5.13 ReserveNow / H01: the CSMS picks a unique reservationId when none is given;
    the list shows the answer, then Used when a transaction names it (1.6 StartTransaction
    reservationId, 2.x TransactionEvent reservationId), Cancelled (C16 5.1, H02), and 2.x
    ReservationStatusUpdate Expired (H01.FR.*)."""

    async def main() -> None:
        state = CsmsState()
        fake = Fake()
        m = MODULES[version]
        async with (
            serving(state, core, tmp_path) as csms,
            station(csms, "CP1", version, core, fake) as cs,
        ):
            where = {"connectorId": 1} if version == "ocpp1.6" else {"evseId": 1}
            ids = []
            for _ in range(3):
                status, body = await csms.request(
                    "POST",
                    "/api/stations/CP1/reservations",
                    {"idToken": "TAG1", "expiresAt": LATER.isoformat(), **where},
                )
                assert status == 200 and body["reservation"]["status"] == "Accepted", body
                ids.append(body["reservation"]["id"])
            assert len(set(ids)) == 3
            sent = fake.received[0]
            assert (sent.reservation_id if version == "ocpp1.6" else sent.id) == ids[0]
            if version == "ocpp1.6":
                await cs.call(
                    v16.StartTransactionRequest(
                        connector_id=1,
                        id_tag="TAG1",
                        meter_start=0,
                        timestamp=NOW,
                        reservation_id=ids[0],
                    )
                )
            else:
                await cs.call(
                    m.TransactionEventRequest(
                        event_type=m.TransactionEventEnum.Started,
                        timestamp=NOW,
                        trigger_reason=m.TriggerReasonEnum.Authorized,
                        seq_no=0,
                        transaction_info=m.Transaction(transaction_id="T1"),
                        reservation_id=ids[0],
                        evse=m.EVSE(id=1, connector_id=1),
                    )
                )
                await cs.call(
                    m.ReservationStatusUpdateRequest(
                        reservation_id=ids[2],
                        reservation_update_status=m.ReservationUpdateStatusEnum.Expired,
                    )
                )
            status, body = await csms.request("DELETE", f"/api/stations/CP1/reservations/{ids[1]}")
            assert status == 200 and body["reservation"]["status"] == "Cancelled"
            _, listed = await csms.request("GET", "/api/stations/CP1/reservations")
            statuses = {r["id"]: r["status"] for r in listed["reservations"]}
            assert statuses[ids[0]] == "Used" and statuses[ids[1]] == "Cancelled"
            if version != "ocpp1.6":
                assert statuses[ids[2]] == "Expired"
            used = next(r for r in listed["reservations"] if r["id"] == ids[0])
            assert used["transactionId"] is not None
            fake.answers["ReserveNow"] = {"status": "Occupied"}
            _, body = await csms.request(
                "POST",
                "/api/stations/CP1/reservations",
                {"idToken": "TAG2", "expiresAt": LATER.isoformat()},
            )
            assert body["reservation"]["status"] == "Occupied"
            wrong = {"groupIdToken": "G"} if version == "ocpp1.6" else {"parentIdToken": "P"}
            status, body = await csms.request(
                "POST",
                "/api/stations/CP1/reservations",
                {"idToken": "TAG2", "expiresAt": LATER.isoformat(), **wrong},
            )
            assert status == 422 and error_of(body)["path"] == next(iter(wrong))

    run(main())


# -- display messages ----------------------------------------------------------------------------


def test_display_messages_are_set_listed_and_cleared(core: Backend, tmp_path: Path) -> None:
    """O01 SetDisplayMessage, O03 GetDisplayMessages with its NotifyDisplayMessages parts
    collected, O05 ClearDisplayMessage; a 1.6 station has none (422)."""

    async def main() -> None:
        state = CsmsState()
        fake = Fake()
        m = MODULES["ocpp2.0.1"]
        async with serving(state, core, tmp_path) as csms:
            async with station(csms, "CS1", "ocpp2.0.1", core, fake) as cs:
                status, body = await csms.request(
                    "POST",
                    "/api/stations/CS1/display-messages",
                    {
                        "id": 3,
                        "priority": "InFront",
                        "content": "Welcome",
                        "language": "en",
                        "evseId": 1,
                    },
                )
                assert status == 200 and body["result"]["status"] == "Accepted", body
                message = fake.received[-1].message
                assert message.id == 3 and message.message.content == "Welcome"
                assert message.display.evse.id == 1

                async def notify(request: Any) -> None:
                    for tbc in (True, False):
                        await cs.call(
                            m.NotifyDisplayMessagesRequest(
                                request_id=request.request_id, message_info=[message], tbc=tbc
                            )
                        )

                fake.then["GetDisplayMessages"] = notify
                status, listed = await csms.request("GET", "/api/stations/CS1/display-messages")
                assert status == 200 and [x["id"] for x in listed["messages"]] == [3, 3]
                status, body = await csms.request("DELETE", "/api/stations/CS1/display-messages/3")
                assert status == 200 and fake.received[-1].id == 3
            async with station(csms, "CP1", "ocpp1.6", core, Fake()):
                status, body = await csms.request(
                    "POST",
                    "/api/stations/CP1/display-messages",
                    {"priority": "InFront", "content": "x"},
                )
                assert status == 422 and error_of(body)["path"] == "content"
                status, body = await csms.request("GET", "/api/stations/CP1/display-messages")
                assert status == 422

    run(main())


# -- errors --------------------------------------------------------------------------------------


def test_unknown_unconnected_and_silent_stations(core: Backend, tmp_path: Path) -> None:
    """404 for an unknown station or one not connected, 404 for an unknown operation, 504 when
    the station accepts GetChargingProfiles but never sends its report, 422 for a firmware
    file that is not in the file server."""

    async def main() -> None:
        state = CsmsState()
        state.register_station("OFF")
        async with serving(state, core, tmp_path) as csms:
            for path in ("/api/stations/NOPE/reservations", "/api/stations/OFF/reservations"):
                status, body = await csms.request(
                    "POST", path, {"idToken": "T", "expiresAt": LATER.isoformat()}
                )
                assert status == 404
            assert error_of(body)["code"] == "not_connected"
            status, _ = await csms.request("GET", "/api/stations/OFF/operations/12")
            assert status == 404
            status, _ = await csms.request("GET", "/api/stations/NOPE/operations")
            assert status == 404
            async with station(csms, "CS1", "ocpp2.0.1", core, Fake()):
                status, body = await csms.request(
                    "GET", "/api/stations/CS1/charging-profiles?timeout=0.2"
                )
                assert status == 504 and error_of(body)["code"] == "timeout"
                status, body = await csms.request(
                    "POST", "/api/stations/CS1/firmware-updates", {"file": "nothing.bin"}
                )
                assert status == 422 and error_of(body)["path"] == "file"
                status, body = await csms.request("POST", "/api/stations/CS1/firmware-updates", {})
                assert status == 422 and error_of(body)["path"] == "file"
            status, _ = await csms.request("PUT", "/api/files/..hidden", b"x")
            assert status == 422
            status, _ = await csms.request("DELETE", "/api/files/none.bin")
            assert status == 404

    run(main())


def test_firmware_to_any_location_and_signed_16(core: Backend, tmp_path: Path) -> None:
    """A firmware `location` is sent as it is (no capability); with a signature a 1.6 station
    gets SignedUpdateFirmware (SW 5) with a requestId, which its
    SignedFirmwareStatusNotifications carry."""

    async def main() -> None:
        state = CsmsState()
        fake = Fake()
        async with (
            serving(state, core, tmp_path) as csms,
            station(csms, "CP1", "ocpp1.6", core, fake) as cs,
        ):
            status, body = await csms.request(
                "POST",
                "/api/stations/CP1/firmware-updates",
                {
                    "location": "https://firmware.example.com/fw.bin",
                    "signature": "c2lnbmF0dXJl",
                    "signingCertificate": "-----BEGIN CERTIFICATE-----",
                    "installAt": LATER.isoformat(),
                },
            )
            assert status == 201, body
            operation = body["operation"]
            assert operation["action"] == "SignedUpdateFirmware"
            assert fake.received[-1].firmware.location == "https://firmware.example.com/fw.bin"
            await cs.call(
                v16.SignedFirmwareStatusNotificationRequest(
                    status=v16.FirmwareStatusEnum.InvalidSignature,
                    request_id=operation["requestId"],
                )
            )
            await until(lambda: bool(state.operation("CP1", operation["id"]).statuses))  # type: ignore[union-attr]
            _, shown = await csms.request("GET", f"/api/stations/CP1/operations/{operation['id']}")
            assert shown["status"] == "InvalidSignature"
            status, body = await csms.request(
                "POST",
                "/api/stations/CP1/firmware-updates",
                {"location": "https://x/fw.bin", "installAt": LATER.isoformat()},
            )
            assert status == 422 and error_of(body)["path"] == "installAt"

    run(main())


def test_the_openapi_document_names_the_new_routes() -> None:
    """Every route of issue 8 is in the routes table (so in the OpenAPI document); the
    stations' routes need no bearer token."""
    from ocppfast.api import ROUTES

    paths = {(r.method, r.path) for r in ROUTES}
    for expected in (
        ("POST", "/api/stations/{identity}/charging-profiles"),
        ("GET", "/api/stations/{identity}/charging-profiles"),
        ("POST", "/api/stations/{identity}/composite-schedule"),
        ("POST", "/api/stations/{identity}/reservations"),
        ("POST", "/api/stations/{identity}/firmware-updates"),
        ("POST", "/api/stations/{identity}/log-uploads"),
        ("GET", "/station-files/{capability}/{name}"),
        ("POST", "/station-uploads/{capability}"),
    ):
        assert expected in paths
    assert {r.path for r in ROUTES if r.public} == {
        "/station-files/{capability}/{name}",
        "/station-uploads/{capability}/{filename}",
        "/station-uploads/{capability}",
    }
