"""Issue 8 end to end: `ocppfast serve` and `ocppfast station` as real processes over real
sockets, the operator driving the station through the API (docs/api.md): smart charging,
reservations, firmware updates, log uploads and display messages, in each version that has them.

One `ocppfast serve` per core backend serves the stations of every version; one `ocppfast
station` per version (`--connectors 4`, `--meter-interval 1`, `--firmware-install-command` a
script that copies the image it is given) is shared by the tests of that version, which each use
their own connectors and leave no transaction running, so that a serve and a station start once
per backend and version instead of once per test. What the tests look at is what an operator
sees: the API's answers, the station's connectors and transactions as the CSMS stored them, the
files the file server received, and the hardware log lines of the station ("ocppfast.hardware").
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import re
import secrets
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ocppfast._core import Backend
from ocppfast.station import StationConfig
from ocppfast.station.config import NOMINAL_VOLTAGE
from tests.cli_process import CliProcess

T = TypeVar("T")

VERSIONS = ["1.6", "2.0.1", "2.1"]
# Seconds a poll of the API waits for what the station does (a few meter intervals, a reboot
# with the client's reconnection back-off).
DEADLINE = 30.0
# What the simulated EV draws without a limit (the station's default build).
FULL_POWER_W = StationConfig(identity="-").power_w


@dataclass
class Reply:
    """An answer of the operator API."""

    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Serve:
    """`ocppfast serve` in a data directory of its own, with its API token."""

    def __init__(self, core: Backend, root: Path, timeout: float = 15.0) -> None:
        """`timeout`: seconds to wait for it to get ready (an emulated machine is slow)."""
        root.mkdir()
        self.process = CliProcess(core, "serve", "--port", "0", "--api-port", "0", cwd=str(root))
        with contextlib.ExitStack() as failing:
            failing.enter_context(self.process)  # killed if it does not get ready
            api = self.process.wait_for(r"operator API on (http://\S+)/api ", timeout)
            self.api = api.group(1)
            ready = self.process.wait_for(
                r"ready: point stations at (ws://\S+)/<identity>", timeout
            )
            failing.pop_all()
        self.url = ready.group(1)
        self.token = (root / "ocppfast-data" / "api-token").read_text().strip()
        self.files = root / "ocppfast-data" / "files"

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        data: bytes | None = None,
        token: bool = True,
    ) -> Reply:
        """`method path` on the API: `body` sent as JSON, or `data` as it is."""
        headers = {"Authorization": f"Bearer {self.token}"} if token else {}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.api + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return Reply(response.status, response.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.read())

    def ok(self, method: str, path: str, body: Any = None, *, data: bytes | None = None) -> Any:
        """The JSON answer of a call that must succeed (2xx)."""
        reply = self.call(method, path, body, data=data)
        assert 200 <= reply.status < 300, (method, path, reply.status, reply.body)
        return reply.json() if reply.body else None


class Station:
    """`ocppfast station` of one version connected to a `Serve`, as the operator sees it."""

    CONNECTORS = 4

    def __init__(self, core: Backend, serve: Serve, version: str, root: Path) -> None:
        root.mkdir()
        self.serve = serve
        self.v16 = version == "1.6"
        self.identity = "E2E-" + version.replace(".", "")
        self.path = f"/api/stations/{self.identity}"
        # The "firmware installer": it copies the image it is given (its last argument) where
        # the test can compare it with what the operator uploaded.
        self.installed = root / "installed.bin"
        installer = root / "install-firmware.sh"
        installer.write_text(f'#!/bin/sh\nexec cp "$1" "{self.installed}"\n')
        installer.chmod(0o755)
        self.process = CliProcess(
            core, "station", "--url", serve.url, "--id", self.identity, "--ocpp", version,
            "--connectors", str(self.CONNECTORS), "--meter-interval", "1",
            "--firmware-install-command", str(installer), "--data-dir", str(root / "data"),
            cwd=str(root),
        )  # fmt: skip
        with contextlib.ExitStack() as failing:
            failing.enter_context(self.process)  # killed if it does not boot
            self.process.wait_for(r"all 1 stations connected and booted", timeout=30)
            failing.pop_all()

    def place(self, connector: int) -> dict[str, int]:
        """The body fields naming `connector`: 1.6 connectorId, 2.x evseId (one connector per
        EVSE)."""
        return {"connectorId": connector} if self.v16 else {"evseId": connector}

    def view(self) -> Any:
        """GET /api/stations/{identity}."""
        return self.serve.ok("GET", self.path)

    def connector_status(self, connector: int) -> str | None:
        """The status of `connector` (2.x: EVSE `connector`'s connector 1) the CSMS last got."""
        for c in self.view()["connectors"]:
            if (c["connectorId"] if self.v16 else c["evseId"]) == connector:
                return str(c["status"])
        return None

    def poll(self, what: str, fetch: Callable[[], T], done: Callable[[T], bool]) -> T:
        """`fetch()` again until `done` holds of its value, for up to DEADLINE seconds."""
        deadline = time.monotonic() + DEADLINE
        while True:
            value = fetch()
            if done(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {DEADLINE} s; last: {value!r}\n{self}")
            time.sleep(0.2)

    def active_transaction(self, id_token: str) -> Any:
        """The CSMS's record of the transaction running for `id_token`, once there is one."""
        return self.poll(
            f"a transaction for {id_token}",
            lambda: [
                t
                for t in self.serve.ok(
                    "GET", f"/api/transactions?station={self.identity}&active=true"
                )["transactions"]
                if t["idToken"] == id_token
            ],
            bool,
        )[0]

    def transaction(self, transaction_id: Any) -> Any:
        """GET /api/transactions/{id} with all its meter values."""
        return self.serve.ok(
            "GET", f"/api/transactions/{transaction_id}?station={self.identity}&limit=1000"
        )

    def stop(self, transaction_id: Any) -> None:
        """Stop a transaction remotely and wait until the CSMS has its end."""
        answer = self.serve.ok(
            "POST", f"{self.path}/remote-stop", {"transactionId": transaction_id}
        )
        assert answer["result"]["status"] == "Accepted", answer
        self.poll("the transaction's end", lambda: self.transaction(transaction_id)["active"], _not)

    def reservations(self) -> dict[int, Any]:
        """The reservations the CSMS follows for the station, by id."""
        listed = self.serve.ok("GET", f"{self.path}/reservations")["reservations"]
        return {r["id"]: r for r in listed}

    def frames_in(self, action: str) -> list[Any]:
        """The payloads of the `action` CALLs the CSMS received from the station (its traffic
        log, newest first)."""
        found = []
        for message in self.serve.ok("GET", f"{self.path}/messages?limit=1000")["messages"]:
            frame = json.loads(message["frame"])
            if message["direction"] == "in" and frame[0] == 2 and frame[2] == action:
                found.append(frame[3])
        return found

    def reported_statuses(self, connector: int) -> list[tuple[str, str]]:
        """The statuses the station reported for `connector` (2.x: EVSE `connector`), in order,
        each with its timestamp."""
        return [
            (p["status"] if self.v16 else p["connectorStatus"], p["timestamp"])
            for p in reversed(self.frames_in("StatusNotification"))
            if (p["connectorId"] if self.v16 else p["evseId"]) == connector
        ]

    def assert_healthy(self) -> None:
        """Neither process logged an error or a traceback."""
        for process in (self.serve.process, self.process):
            assert process.count(r"ERROR|Traceback") == 0, process.log

    def __str__(self) -> str:
        return f"station log:\n{self.process.log}\nserve log:\n{self.serve.process.log}"


def _not(value: Any) -> bool:
    return not value


def _rfc3339(at: datetime.datetime) -> str:
    return at.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class Processes:
    """The serves (one per backend) and stations (one per backend and version) of the module,
    started when a test first needs them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.serves: dict[bool, Serve] = {}
        self.stations: dict[tuple[bool, str], Station] = {}
        self.exits = contextlib.ExitStack()

    def station(self, core: Backend, version: str) -> Station:
        """The station of `version` on `core`'s backend, started (and its backend's serve) the
        first time a test asks for it."""
        key = (core.compiled, version)
        if key not in self.stations:
            name = "compiled" if core.compiled else "pure"
            if core.compiled not in self.serves:
                serve = Serve(core, self.root / f"serve-{name}")
                self.exits.enter_context(serve.process)
                self.serves[core.compiled] = serve
            station = Station(
                core, self.serves[core.compiled], version, self.root / f"{name}-{version}"
            )
            self.exits.enter_context(station.process)
            self.stations[key] = station
        return self.stations[key]


@pytest.fixture(scope="module")
def processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    """The module's processes, killed at its end."""
    pool = Processes(tmp_path_factory.mktemp("serve-station"))
    with pool.exits:
        yield pool


@pytest.mark.parametrize("version", VERSIONS)
def test_tx_default_profile_limits_the_power_until_cleared(
    core: Backend, version: str, processes: Processes
) -> None:
    """C16 5.16 / K01 SetChargingProfile (a TxDefaultProfile of 6 A and a station-wide
    ChargePointMaxProfile / ChargingStationMaxProfile of 32 A), C16 5.7 / K08
    GetCompositeSchedule, K09 GetChargingProfiles (1.6: the CSMS's list), C16 5.5 / K10
    ClearChargingProfile by id and by purpose, C16 3.13 / K01: the lowest limit caps the power
    of the transaction a remote start begins (6 A x 230 V x 3 phases = 4140 W in its sampled
    Power.Active.Import) and goes to the hardware; once the profiles are cleared the EV draws
    its full power again."""
    station = processes.station(core, version)
    serve, path = station.serve, station.path
    started = _rfc3339(_now() - datetime.timedelta(minutes=1))

    def profile(place: dict[str, int], purpose: str, limit: float) -> dict[str, Any]:
        return {
            **place,
            "stackLevel": 0,
            "purpose": purpose,
            "kind": "Absolute",
            "schedule": {
                "unit": "A",
                "startSchedule": started,
                "periods": [{"startPeriod": 0, "limit": limit, "numberPhases": 3}],
            },
        }

    ids = {}
    mark = len(station.process.lines)
    # The TxDefaultProfile that limits, and a station-wide maximum above what the EV draws
    # (2.x ChargingStationMaxProfile: the API takes the 1.6 name for both).
    for place, purpose, limit in (
        (station.place(1), "TxDefaultProfile", 6),
        (station.place(0), "ChargePointMaxProfile", 32),
    ):
        answer = serve.ok("POST", f"{path}/charging-profiles", profile(place, purpose, limit))
        assert answer["result"]["status"] == "Accepted", answer
        ids[answer["result"]["id"]] = (purpose, limit)
    station.process.wait_for(r"ocppfast\.hardware: EVSE 1: current limit 6 A", after=mark)

    listed = serve.ok("GET", f"{path}/charging-profiles")
    assert listed["source"] == ("csms" if station.v16 else "station"), listed
    seen = {}
    for entry in listed["profiles"]:
        installed = entry["chargingProfile"]
        [schedule] = (
            [installed["chargingSchedule"]] if station.v16 else installed["chargingSchedule"]
        )
        [period] = schedule["chargingSchedulePeriod"]
        purpose = installed["chargingProfilePurpose"].replace("ChargingStation", "ChargePoint")
        seen[installed["chargingProfileId" if station.v16 else "id"]] = (purpose, period["limit"])
    assert seen == ids, listed
    tx_default = next(i for i, (purpose, _) in ids.items() if purpose == "TxDefaultProfile")

    def composite_limits() -> list[float]:
        answer = serve.ok(
            "POST",
            f"{path}/composite-schedule",
            {**station.place(1), "duration": 300, "unit": "A"},
        )
        assert answer["result"]["status"] == "Accepted", answer
        result = answer["result"]
        composite = result["chargingSchedule"] if station.v16 else result["schedule"]
        return [p["limit"] for p in composite["chargingSchedulePeriod"]]

    assert composite_limits() == [6]

    token = f"SC{secrets.token_hex(4).upper()}"
    answer = serve.ok("POST", f"{path}/remote-start", {"idToken": token, **station.place(1)})
    assert answer["result"]["status"] == "Accepted", answer
    transaction_id = station.active_transaction(token)["transactionId"]
    try:

        def power() -> list[float]:
            return [
                m["value"]
                for m in station.transaction(transaction_id)["meterValues"]
                if m["measurand"] == "Power.Active.Import"
            ]

        limited = station.poll("two power samples", power, lambda p: len(p) >= 2)
        assert set(limited) == {6 * NOMINAL_VOLTAGE * 3}, limited  # 4140 W

        # Cleared by id (K10 chargingProfileId), then by criteria (purpose), after which the
        # list is empty.
        mark = len(station.process.lines)
        answer = serve.ok("DELETE", f"{path}/charging-profiles/{tx_default}")
        assert answer["result"]["status"] == "Accepted", answer
        station.process.wait_for(r"ocppfast\.hardware: EVSE 1: current limit 32 A", after=mark)
        answer = serve.ok(
            "POST", f"{path}/charging-profiles/clear", {"purpose": "ChargePointMaxProfile"}
        )
        assert answer["result"]["status"] == "Accepted", answer
        station.process.wait_for(r"ocppfast\.hardware: EVSE 1: current limit none", after=mark)
        assert serve.ok("GET", f"{path}/charging-profiles")["profiles"] == []
        assert composite_limits()[0] > 6

        after = station.poll("a sample above the limit", power, lambda p: p[-1] not in limited)
        assert after[-1] == FULL_POWER_W, after
        assert after[: len(limited)] == limited
    finally:
        station.stop(transaction_id)
    station.assert_healthy()


@pytest.mark.parametrize("version", VERSIONS)
def test_reservation_reserves_is_used_cancelled_and_expires(
    core: Backend, version: str, processes: Processes
) -> None:
    """C16 5.13 / H01 ReserveNow: the connector is Reserved (C16 4.9, H01.FR.23); a remote start
    for another id token is refused (C16 5.11 with 5.13, F01 with H03), one for the reserving
    token starts and the reservation is Used (C16 4.8 StartTransaction reservationId, H03.FR.09
    TransactionEvent reservationId); C16 5.1 / H02 CancelReservation; a reservation whose expiry
    passes ends (C16 5.13; H04 ReservationStatusUpdate Expired) and the connector is Available
    again."""
    station = processes.station(core, version)
    serve, path = station.serve, station.path
    later = _rfc3339(_now() + datetime.timedelta(hours=1))
    # The one that expires first, so that its seconds pass while the others run (connector 4).
    expiring_at = _now().replace(microsecond=0) + datetime.timedelta(seconds=4)
    answer = serve.ok(
        "POST",
        f"{path}/reservations",
        {"idToken": "RES-EXPIRE", **station.place(4), "expiresAt": _rfc3339(expiring_at)},
    )
    assert answer["result"]["status"] == "Accepted", answer
    expiring = answer["reservation"]["id"]

    # Connector 2: reserved, refused to another token, used by the reserving one.
    token = f"RS{secrets.token_hex(4).upper()}"
    answer = serve.ok(
        "POST", f"{path}/reservations", {"idToken": token, **station.place(2), "expiresAt": later}
    )
    assert answer["result"]["status"] == "Accepted", answer
    assert answer["reservation"]["status"] == "Accepted"
    reservation = answer["reservation"]["id"]
    station.poll("connector 2 Reserved", lambda: station.connector_status(2), "Reserved".__eq__)

    answer = serve.ok(
        "POST", f"{path}/remote-start", {"idToken": "OTHER-TOKEN", **station.place(2)}
    )
    assert answer["result"]["status"] == "Rejected", answer
    assert station.connector_status(2) == "Reserved"

    answer = serve.ok("POST", f"{path}/remote-start", {"idToken": token, **station.place(2)})
    assert answer["result"]["status"] == "Accepted", answer
    transaction = station.active_transaction(token)
    try:
        assert transaction["reservationId"] == reservation, transaction
        used = station.poll(
            "the reservation Used",
            lambda: station.reservations()[reservation],
            lambda r: r["status"] == "Used",
        )
        assert used["transactionId"] == transaction["transactionId"], used

        # Connector 3: reserved, then cancelled.
        answer = serve.ok(
            "POST",
            f"{path}/reservations",
            {"idToken": "RES-CANCEL", **station.place(3), "expiresAt": later},
        )
        assert answer["result"]["status"] == "Accepted", answer
        cancelled = answer["reservation"]["id"]
        station.poll("connector 3 Reserved", lambda: station.connector_status(3), "Reserved".__eq__)
        answer = serve.ok("DELETE", f"{path}/reservations/{cancelled}")
        assert answer["result"]["status"] == "Accepted", answer
        assert answer["reservation"]["status"] == "Cancelled", answer
        station.poll(
            "connector 3 Available", lambda: station.connector_status(3), "Available".__eq__
        )

        # Connector 4: its reservation expires, and the station makes the connector Available
        # again (what it reported, in order: the expiry may pass before a poll sees Reserved).
        station.poll(
            "the reservation Expired",
            station.reservations,
            lambda listed: listed[expiring]["status"] == "Expired",
        )
        reported = station.poll(
            "connector 4 Reserved, then Available",
            lambda: station.reported_statuses(4)[-2:],
            lambda last: [status for status, _ in last] == ["Reserved", "Available"],
        )
        # Not before its time: the station's timestamp of the change (its clock is this one).
        assert _parse(reported[1][1]) >= expiring_at, reported
        if not station.v16:
            # H04: the station said so itself (1.6 has no such message: the CSMS's clock does).
            updates = station.frames_in("ReservationStatusUpdate")
            assert {"reservationId": expiring, "reservationUpdateStatus": "Expired"} in updates
        listed = station.reservations()
        assert listed[reservation]["status"] == "Used", listed
        assert listed[cancelled]["status"] == "Cancelled", listed
    finally:
        station.stop(transaction["transactionId"])
    station.assert_healthy()


@pytest.mark.parametrize("version", VERSIONS)
def test_firmware_update_downloads_installs_and_reboots(
    core: Backend, version: str, processes: Processes
) -> None:
    """C16 5.19 / L01 UpdateFirmware by file name: the station downloads the image through the
    capability URL of the file server, installs it with --firmware-install-command (the bytes it
    got are the operator's), reboots (a new BootNotification), and reports each step (C16 4.5 /
    L01 FirmwareStatusNotification), which the operation shows in order, ending in Installed."""
    station = processes.station(core, version)
    serve, path = station.serve, station.path
    image = os.urandom(200_000)
    name = f"fw-{station.identity}.bin"
    reply = serve.call("PUT", f"/api/files/{name}", data=image)
    assert reply.status == 201, reply
    assert (serve.files / name).read_bytes() == image
    booted_before = station.view()["bootedAt"]

    answer = serve.ok("POST", f"{path}/firmware-updates", {"file": name})
    if not station.v16:
        assert answer["result"]["status"] == "Accepted", answer
    operation = answer["operation"]
    assert operation["answer"] == "Accepted" and operation["firmware"] == name, operation
    capability = operation["location"].split("/station-files/", 1)[1].split("/", 1)[0]

    done = station.poll(
        "the firmware Installed",
        lambda: serve.ok("GET", f"{path}/operations/{operation['id']}"),
        lambda o: o["status"] in ("Installed", "DownloadFailed", "InstallationFailed"),
    )
    statuses = [s["status"] for s in done["statuses"]]
    if station.v16:
        assert statuses == ["Downloading", "Downloaded", "Installing", "Installed"], done
    else:
        assert statuses == [
            "Downloading", "Downloaded", "Installing", "InstallRebooting", "Installed"
        ], done  # fmt: skip
    assert station.installed.read_bytes() == image
    station.process.wait_for(rf"ocppfast\.hardware: installed firmware {re.escape(name)}")
    view = station.view()
    assert view["connected"] and _parse(view["bootedAt"]) > _parse(booted_before), view
    if not station.v16:
        assert view["boot"]["reason"] == "FirmwareUpdate", view
    serve.process.wait_for(rf"'{station.identity}' downloads {re.escape(name)}")
    # The capability is a credential: the file server's log leaves it out.
    assert capability not in serve.process.log
    station.assert_healthy()


def _upload_log(station: Station, body: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """POST log-uploads with `body`; once the station has uploaded its archive, the operation
    and the archive's text files (by name) as the operator downloads them."""
    serve, path = station.serve, station.path
    answer = serve.ok("POST", f"{path}/log-uploads", body)
    operation = answer["operation"]
    assert operation["answer"] == "Accepted", answer
    done = station.poll(
        "the log Uploaded",
        lambda: serve.ok("GET", f"{path}/operations/{operation['id']}"),
        lambda o: o["status"] in ("Uploaded", "UploadFailed") and o["uploads"],
    )
    assert [s["status"] for s in done["statuses"]] == ["Uploading", "Uploaded"], done
    [upload] = done["uploads"]
    assert upload["name"] == done["fileName"] and upload["name"].endswith(".tar.gz"), done
    assert serve.call("GET", upload["download"], token=False).status == 401
    reply = serve.call("GET", upload["download"])
    assert reply.status == 200 and len(reply.body) == upload["size"], reply.status
    assert (serve.files / "uploads" / station.identity / upload["name"]).read_bytes() == reply.body
    serve.process.wait_for(rf"'{station.identity}' uploaded {re.escape(upload['name'])}")
    with tarfile.open(fileobj=io.BytesIO(reply.body), mode="r:gz") as archive:
        texts = {
            Path(member.name).name: archive.extractfile(member).read().decode()  # type: ignore[union-attr]
            for member in archive.getmembers()
            if member.isfile()
        }
    return done, texts


@pytest.mark.parametrize("version", VERSIONS)
def test_log_upload_reaches_the_file_server(
    core: Backend, version: str, processes: Processes
) -> None:
    """C16 5.9 GetDiagnostics / N01 GetLog DiagnosticsLog: the station uploads a tar.gz of its
    log and OCPP traffic to the upload endpoint it is given, reports Uploading then Uploaded
    (C16 4.4 DiagnosticsStatusNotification / N01 LogStatusNotification), and the operator
    downloads it through the operation's link (with the API token only)."""
    station = processes.station(core, version)
    operation, texts = _upload_log(station, {})
    assert operation["action"] == ("GetDiagnostics" if station.v16 else "GetLog"), operation
    assert set(texts) == {"station.log", "traffic.log"}, texts.keys()
    # The station's own log lines, and the frames of this connection: its boot, and the request
    # that asked for this upload.
    assert re.search(r"(?m)^\S+ INFO .*booted", texts["station.log"]), texts["station.log"]
    assert '"BootNotification"' in texts["traffic.log"], texts["traffic.log"]
    assert f'"{operation["action"]}"' in texts["traffic.log"], texts["traffic.log"]
    station.assert_healthy()


@pytest.mark.parametrize("version", VERSIONS)
def test_security_log_upload_holds_the_security_events(
    core: Backend, version: str, processes: Processes
) -> None:
    """SW 5.3 / N01 GetLog SecurityLog (SW N01.FR.03, N01.FR.05, A04.FR.04): the uploaded
    security log holds the station's security events, here the critical
    InvalidFirmwareSigningCertificate (SW 4.4 / L01: a signed update this station cannot
    verify), which it also pushed to the CSMS (SW A04.FR.01, SecurityEventNotification)."""
    station = processes.station(core, version)
    serve, path = station.serve, station.path
    answer = serve.ok(
        "POST",
        f"{path}/firmware-updates",
        {
            "location": "https://firmware.example.com/fw.bin",
            "signature": "c2lnbmF0dXJl",
            "signingCertificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        },
    )
    assert answer["result"]["status"] == "InvalidCertificate", answer
    station.poll(
        "the security event pushed",
        lambda: [e["type"] for e in station.frames_in("SecurityEventNotification")],
        lambda types: "InvalidFirmwareSigningCertificate" in types,
    )
    pushed = {e["type"] for e in station.frames_in("SecurityEventNotification")}

    operation, texts = _upload_log(station, {"logType": "SecurityLog"})
    assert operation["action"] == "GetLog" and operation["logType"] == "SecurityLog", operation
    assert set(texts) == {"security.log"}, texts.keys()
    logged = {line.split()[1] for line in texts["security.log"].splitlines()}
    assert pushed <= logged, texts["security.log"]
    station.assert_healthy()


@pytest.mark.parametrize("version", VERSIONS)
def test_display_message_is_shown_listed_and_cleared(
    core: Backend, version: str, processes: Processes
) -> None:
    """O01 SetDisplayMessage: the station's display shows it (the hardware's log line); O03
    GetDisplayMessages lists it (NotifyDisplayMessages); O05 ClearDisplayMessage removes it from
    the display and the list. 1.6 has no display messages: the API refuses (422)."""
    station = processes.station(core, version)
    serve, path = station.serve, station.path
    content = f"Welcome {secrets.token_hex(3)}"
    body = {"id": 3, "priority": "InFront", "content": content, "language": "en"}
    if station.v16:
        reply = serve.call("POST", f"{path}/display-messages", body)
        assert reply.status == 422 and reply.json()["error"]["code"] == "invalid", reply
        return
    answer = serve.ok("POST", f"{path}/display-messages", body)
    assert answer["result"]["status"] == "Accepted", answer
    shown = station.process.wait_for(rf"ocppfast\.hardware: display \((.*)\): {content}$")
    assert "InFront" in shown.group(1), shown.group(0)

    listed = serve.ok("GET", f"{path}/display-messages")
    assert listed["status"] == "Accepted", listed
    [message] = listed["messages"]
    assert message["id"] == 3 and message["priority"] == "InFront", message
    assert message["message"]["content"] == content and message["message"]["language"] == "en"

    cleared_from = len(station.process.lines)
    answer = serve.ok("DELETE", f"{path}/display-messages/3")
    assert answer["result"]["status"] == "Accepted", answer
    station.process.wait_for(r"ocppfast\.hardware: display cleared", after=cleared_from)
    assert serve.ok("GET", f"{path}/display-messages")["messages"] == []
    station.assert_healthy()
