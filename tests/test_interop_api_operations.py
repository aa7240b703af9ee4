"""The operator API's operations of issue 8 against a charge point nobody here wrote: the `ocpp`
package's (mobilityhouse) ChargePoint, over a real socket on 127.0.0.1, connected to
`ocppfast serve` (a real process) while the test drives the CSMS through its operator API as an
operator would, with the bearer token `ocppfast serve` generated in DATA_DIR/api-token.

The charge point answers as a real charger does: its `@on` handlers answer Accepted (or what
the test sets) and, for what the spec answers in parts, its `@after` hooks send the parts once
the answer is out. Every request is recorded as it came over the wire (camelCase JSON), so the
tests check exactly what the CSMS sent. The charger then sends what a real one sends (status
notifications, transactions, its download and upload over HTTP) with the package's call classes.

- Smart charging (C16 5.16, 5.7, 5.5; K01, K08, K09, K10): profiles set, the composite schedule,
  2.x GetChargingProfiles answered with ReportChargingProfiles in parts, clearing.
- Reservations (C16 5.13, 5.1; H01, H02, H03): reserve, cancel, a transaction that names the
  reservation (Used), expiry (1.6 by the CSMS's clock; 2.x ReservationStatusUpdate).
- Firmware (C16 5.19, 4.5; SW 5.21, 5.19 signed in 1.6; L01 TC_L_01_CSMS signed, L02): an image
  of the file server downloaded by the charger, every status notification across its reboot,
  in order.
- Logs (C16 5.9, 4.4; SW 5.9 GetLog in 1.6; N01, TC_N_25_CSMS, TC_N_35_CSMS): the charger
  uploads to the location it is given; the operator downloads the same bytes.
- Display messages (O01, O03, O05; 2.x).

Each runs in 1.6, 2.0.1 and 2.1 (the `ocpp` package 2.1.0 ships `ocpp.v21`), on both core
backends (the serve process gets OCPPFAST_NO_EXTENSIONS=1 for the pure one). Both sides validate
every message against the official schemas, the `ocpp` package with its own jsonschema
validation: a message of the CSMS that broke its schema would be a CALLERROR here, and fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ocpp.charge_point import camel_to_snake_case
from ocpp.routing import after, on
from websockets.asyncio.client import connect

from ocppfast._core import Backend
from tests.aio import run
from tests.cli_process import CliProcess
from tests.cli_process import serve as ocppfast_serve
from tests.test_interop_ocpp import PACKAGES, now

VERSIONS = ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]

# What the CSMS sends a charge point for issue 8, by version (1.6: with the security
# whitepaper's GetLog and SignedUpdateFirmware).
_ACTIONS_16 = (
    "SetChargingProfile",
    "ClearChargingProfile",
    "GetCompositeSchedule",
    "ReserveNow",
    "CancelReservation",
    "UpdateFirmware",
    "GetLog",
    "GetDiagnostics",
    "SignedUpdateFirmware",
)
_ACTIONS_2X = (
    *_ACTIONS_16[:-2],
    "GetChargingProfiles",
    "SetDisplayMessage",
    "GetDisplayMessages",
    "ClearDisplayMessage",
)
LOG_NAME = "diagnostics-2026.tar.gz"
# The query of lists the station reports in parts (2.x GetChargingProfiles, GetDisplayMessages):
# a report that never comes fails well within the test's deadline (tests/aio.py run: 30 s).
REPORTED = "?timeout=10"


def rfc3339(moment: datetime) -> str:
    """`moment` (UTC) as the API and OCPP write it: seconds, `Z`."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def short(version: str) -> str:
    """ocpp2.0.1 -> 201: for identities."""
    return version.removeprefix("ocpp").replace(".", "")


# --------------------------------------------------------------------------------------------
# `ocppfast serve` and its operator


class Serve:
    """`ocppfast serve` as a real process, with its data in `data_dir`: the stations' URL, the
    API's base URL and the token it generated (DATA_DIR/api-token)."""

    def __init__(self, core: Backend, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.process, self.url = ocppfast_serve(core, "--data-dir", str(data_dir))
        self.api = self.process.wait_for(r"operator API on (http://\S+)/api ").group(1)
        self.token = (data_dir / "api-token").read_text().strip()

    def __enter__(self) -> Serve:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.__exit__(*exc)

    def stop_cleanly(self) -> None:
        """Stop it; it exits 0 and logged nothing that went wrong."""
        process: CliProcess = self.process
        assert process.stop() == 0, process.log
        assert process.count(r"ERROR|Traceback|InternalError") == 0, process.log


class Operator:
    """The operator: requests to the API with the bearer token."""

    def __init__(self, serve: Serve) -> None:
        self.base = serve.api
        self.http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {serve.token}"})

    async def __aenter__(self) -> Operator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.close()

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, decoded JSON body, None when empty)."""
        async with self.http.request(method, self.base + path, json=body) as response:
            text = await response.text()
            return response.status, (None if not text else await response.json())

    async def get(self, path: str) -> Any:
        status, body = await self.request("GET", path)
        assert status == 200, (path, status, body)
        return body

    async def eventually(
        self, path: str, condition: Callable[[Any], bool], timeout: float = 10.0
    ) -> Any:
        """GET `path` until its body satisfies `condition` (the CSMS stores what a station
        reported as it answers; polling keeps the test free of assumptions about when)."""
        deadline = time.monotonic() + timeout
        while True:
            body = await self.get(path)
            if condition(body):
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"GET {path} never satisfied the condition: {body}")
            await asyncio.sleep(0.02)

    async def download(self, path: str) -> bytes:
        async with self.http.get(self.base + path) as response:
            assert response.status == 200, (path, response.status)
            return await response.read()


# --------------------------------------------------------------------------------------------
# The `ocpp` package's charge point


class Charger:
    """A charger built on the `ocpp` package's ChargePoint of `version`.

    - `received`: every request of the CSMS, (action, payload as on the wire).
    - `answers`: per action, the fields (snake_case) of the package's call_result to answer
      with; by default Accepted (1.6 UpdateFirmware: empty, GetDiagnostics: a file name).
    - `then`: per action, a coroutine function of the request (snake_case) run once the
      answer is sent (the package's `@after` hook), for what the spec sends after answering.
    """

    def __init__(self, version: str, identity: str) -> None:
        self.version = version
        self.identity = identity
        self.package = PACKAGES[version]
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, dict[str, Any]] = {}
        self.then: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {}
        self.tasks: list[asyncio.Future[None]] = []
        self.cp: Any = None

    @property
    def v16(self) -> bool:
        return self.version == "ocpp1.6"

    def default_answer(self, action: str) -> dict[str, Any]:
        if self.v16 and action == "UpdateFirmware":
            return {}
        if self.v16 and action == "GetDiagnostics":
            return {"file_name": LOG_NAME}
        if action == "GetLog":
            return {"status": "Accepted", "filename": LOG_NAME}
        return {"status": "Accepted"}

    def last(self, action: str) -> dict[str, Any]:
        """The payload of the last `action` the CSMS sent."""
        sent = [payload for name, payload in self.received if name == action]
        assert sent, f"the CSMS sent no {action}; it sent {[n for n, _ in self.received]}"
        return sent[-1]

    def _charge_point_class(self) -> type:
        charger = self
        package = self.package

        class ChargePoint(package.ChargePoint):  # type: ignore[misc,name-defined]
            async def _handle_call(self, msg: Any) -> Any:
                # The payload as it came over the wire, before the package's snake_case.
                charger.received.append((msg.action, msg.payload))
                return await super()._handle_call(msg)

        def handlers(action: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
            def answer(self: Any, **request: Any) -> Any:
                fields = charger.answers.get(action, charger.default_answer(action))
                return getattr(package.call_result, action)(**fields)

            def then(self: Any, **request: Any) -> None:
                if action in charger.then:
                    charger.tasks.append(asyncio.ensure_future(charger.then[action](request)))

            return answer, then

        for action in _ACTIONS_16 if self.v16 else _ACTIONS_2X:
            answer, then = handlers(action)
            # The package routes by the decorated function's name, so each needs its own.
            name = re.sub(r"(?<!^)([A-Z])", r"_\1", action).lower()
            answer.__name__, then.__name__ = f"on_{name}", f"after_{name}"
            setattr(ChargePoint, answer.__name__, on(action)(answer))
            setattr(ChargePoint, then.__name__, after(action)(then))
        return ChargePoint

    @contextlib.asynccontextmanager
    async def connected(
        self, serve: Serve, reason: str = "PowerUp", firmware: str = "3.0"
    ) -> AsyncIterator[Charger]:
        """Connected to `serve` and booted (`reason`: 2.x BootReason), every connector
        Available; the connection closes on exit."""
        async with connect(f"{serve.url}/{self.identity}", subprotocols=[self.version]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol == self.version
            self.cp = self._charge_point_class()(self.identity, ws)
            reader = asyncio.create_task(self.cp.start())
            try:
                if self.v16:
                    boot = await self.call(
                        "BootNotification",
                        charge_point_model="Wallbox",
                        charge_point_vendor="Interop",
                        firmware_version=firmware,
                    )
                else:
                    boot = await self.call(
                        "BootNotification",
                        charging_station={
                            "model": "Wallbox",
                            "vendor_name": "Interop",
                            "firmware_version": firmware,
                        },
                        reason=reason,
                    )
                assert boot.status == "Accepted"
                for connector in (1, 2):
                    await self.status(connector, "Available")
                yield self
                await asyncio.gather(*self.tasks)
            finally:
                reader.cancel()
                for task in self.tasks:
                    task.cancel()
                self.tasks.clear()

    async def call(self, action: str, **fields: Any) -> Any:
        """Send `action` (the package's call class) and return the CSMS's answer; a CALLERROR
        raises."""
        return await self.cp.call(getattr(self.package.call, action)(**fields), suppress=False)

    async def status(self, connector: int, status: str) -> None:
        """StatusNotification of connector `connector` (2.x: of EVSE `connector`, its
        connector 1)."""
        if self.v16:
            await self.call(
                "StatusNotification", connector_id=connector, error_code="NoError", status=status
            )
        else:
            await self.call(
                "StatusNotification",
                timestamp=now(),
                connector_status=status,
                evse_id=connector,
                connector_id=1,
            )


# --------------------------------------------------------------------------------------------
# 1. Smart charging


async def smart_charging(serve: Serve, version: str) -> None:
    charger = Charger(version, f"Api-SC-{short(version)}")
    v16 = charger.v16
    where = "connectorId" if v16 else "evseId"
    station = f"/api/stations/{charger.identity}"
    async with Operator(serve) as api, charger.connected(serve):
        # A TxDefaultProfile on connector / EVSE 1, with every field the API takes.
        periods: list[dict[str, Any]] = [
            {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
            {"startPeriod": 3600, "limit": 8.0, "numberPhases": 3},
        ]
        if not v16:
            periods.append({"startPeriod": 7200, "limit": 10.0, "numberPhases": 1, "phaseToUse": 1})
        status, answer = await api.request(
            "POST",
            f"{station}/charging-profiles",
            {
                where: 1,
                "id": 7,
                "stackLevel": 1,
                "purpose": "TxDefaultProfile",
                "kind": "Absolute",
                "validFrom": "2026-01-01T00:00:00Z",
                "validTo": "2027-01-01T00:00:00Z",
                "schedule": {
                    "unit": "A",
                    "startSchedule": "2026-01-01T00:00:00Z",
                    "duration": 86400,
                    "minChargingRate": 6.0,
                    # The API's periods are named as OCPP's.
                    "periods": periods,
                },
            },
        )
        assert status == 200 and answer["result"] == {"status": "Accepted", "id": 7}, answer
        schedule = {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": periods,
            "startSchedule": "2026-01-01T00:00:00Z",
            "duration": 86400,
            "minChargingRate": 6.0,
        }
        common = {
            "stackLevel": 1,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "validFrom": "2026-01-01T00:00:00Z",
            "validTo": "2027-01-01T00:00:00Z",
        }
        if v16:
            tx_default = {"chargingProfileId": 7, **common, "chargingSchedule": schedule}
            assert charger.last("SetChargingProfile") == {
                "connectorId": 1,
                "csChargingProfiles": tx_default,
            }
        else:
            tx_default = {"id": 7, **common, "chargingSchedule": [{"id": 1, **schedule}]}
            assert charger.last("SetChargingProfile") == {
                "evseId": 1,
                "chargingProfile": tx_default,
            }

        # The station's maximum, named in the other version's spelling: it reaches the
        # charger in its own (C16 ChargePointMaxProfile, K01 ChargingStationMaxProfile).
        status, answer = await api.request(
            "POST",
            f"{station}/charging-profiles",
            {
                where: 0,
                "id": 8,
                "stackLevel": 0,
                "purpose": "ChargingStationMaxProfile" if v16 else "ChargePointMaxProfile",
                "kind": "Recurring",
                "recurrency": "Daily",
                "schedule": {
                    "unit": "W",
                    "startSchedule": "2026-01-01T00:00:00Z",
                    "duration": 86400,
                    "periods": [
                        {"startPeriod": 0, "limit": 11000.0},
                        {"startPeriod": 28800, "limit": 7400.0},
                    ],
                },
            },
        )
        assert status == 200 and answer["result"] == {"status": "Accepted", "id": 8}, answer
        sent = charger.last("SetChargingProfile")
        station_max = sent["csChargingProfiles" if v16 else "chargingProfile"]
        assert sent[where] == 0
        assert station_max["chargingProfilePurpose"] == (
            "ChargePointMaxProfile" if v16 else "ChargingStationMaxProfile"
        )
        assert station_max["chargingProfileKind"] == "Recurring"
        assert station_max["recurrencyKind"] == "Daily"

        # The profiles the station has.
        if v16:
            # 1.6 has no GetChargingProfiles: the CSMS lists what the charger accepted.
            listed = await api.get(f"{station}/charging-profiles")
            assert listed["source"] == "csms"
            assert [(p["connectorId"], p["chargingProfile"]) for p in listed["profiles"]] == [
                (1, tx_default),
                (0, station_max),
            ]
        else:
            # K09: Accepted, then ReportChargingProfiles in parts (tbc until the last).
            async def report(request: dict[str, Any]) -> None:
                for evse, profile, tbc in ((1, tx_default, True), (0, station_max, False)):
                    await charger.call(
                        "ReportChargingProfiles",
                        request_id=request["request_id"],
                        charging_limit_source="CSO",
                        evse_id=evse,
                        charging_profile=[camel_to_snake_case(profile)],
                        tbc=tbc,
                    )

            charger.then["GetChargingProfiles"] = report
            listed = await api.get(f"{station}/charging-profiles{REPORTED}")
            asked = charger.last("GetChargingProfiles")
            assert asked == {"requestId": asked["requestId"], "chargingProfile": {}}
            assert listed["source"] == "station" and listed["status"] == "Accepted"
            assert [
                (p["evseId"], p["chargingLimitSource"], p["chargingProfile"])
                for p in listed["profiles"]
            ] == [(1, "CSO", tx_default), (0, "CSO", station_max)]

        # The composite schedule of connector / EVSE 1: the charger's answer comes back whole.
        if v16:
            composite = {
                "status": "Accepted",
                "connectorId": 1,
                "scheduleStart": "2026-11-21T10:00:00Z",
                "chargingSchedule": {
                    "duration": 3600,
                    "startSchedule": "2026-11-21T10:00:00Z",
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
                        {"startPeriod": 1800, "limit": 8.0, "numberPhases": 3},
                    ],
                },
            }
        else:
            composite = {
                "status": "Accepted",
                "schedule": {
                    "evseId": 1,
                    "duration": 3600,
                    "scheduleStart": "2026-11-21T10:00:00Z",
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
                        {"startPeriod": 1800, "limit": 8.0, "numberPhases": 3},
                    ],
                },
            }
        charger.answers["GetCompositeSchedule"] = camel_to_snake_case(composite)
        status, answer = await api.request(
            "POST", f"{station}/composite-schedule", {where: 1, "duration": 3600, "unit": "A"}
        )
        assert status == 200 and answer == {"result": composite}, answer
        assert charger.last("GetCompositeSchedule") == {
            where: 1,
            "duration": 3600,
            "chargingRateUnit": "A",
        }

        # Clear one by id, then the station's maximum by purpose and stack level.
        status, answer = await api.request("DELETE", f"{station}/charging-profiles/7")
        assert status == 200 and answer == {"result": {"status": "Accepted"}}, answer
        assert charger.last("ClearChargingProfile") == (
            {"id": 7} if v16 else {"chargingProfileId": 7}
        )
        status, answer = await api.request(
            "POST",
            f"{station}/charging-profiles/clear",
            {"purpose": "ChargePointMaxProfile", "stackLevel": 0},
        )
        assert status == 200 and answer == {"result": {"status": "Accepted"}}, answer
        if v16:
            assert charger.last("ClearChargingProfile") == {
                "chargingProfilePurpose": "ChargePointMaxProfile",
                "stackLevel": 0,
            }
            listed = await api.get(f"{station}/charging-profiles")
            assert listed["profiles"] == []
        else:
            assert charger.last("ClearChargingProfile") == {
                "chargingProfileCriteria": {
                    "chargingProfilePurpose": "ChargingStationMaxProfile",
                    "stackLevel": 0,
                }
            }
            charger.then.clear()
            charger.answers["GetChargingProfiles"] = {"status": "NoProfiles"}
            listed = await api.get(f"{station}/charging-profiles{REPORTED}")
            assert listed["status"] == "NoProfiles" and listed["profiles"] == []


@pytest.mark.parametrize("version", VERSIONS)
def test_smart_charging_through_the_api_reaches_the_ocpp_charge_point(
    core: Backend, version: str, tmp_path: Path
) -> None:
    """C16 5.16 / K01 SetChargingProfile: the charger receives exactly the profile the
    operator gave (every field, camelCase, the version's purpose name); C16 5.7 / K08
    GetCompositeSchedule: its answer is the API's; K09 GetChargingProfiles: its
    ReportChargingProfiles parts are the API's list (1.6: what it accepted); C16 5.5 / K10
    ClearChargingProfile by id and by criteria."""
    with Serve(core, tmp_path / "data") as serve:
        run(smart_charging(serve, version))
        serve.stop_cleanly()


# --------------------------------------------------------------------------------------------
# 2. Reservations


async def reservations(serve: Serve, version: str) -> None:
    charger = Charger(version, f"Api-RS-{short(version)}")
    v16 = charger.v16
    station = f"/api/stations/{charger.identity}"
    later = rfc3339(datetime.now(timezone.utc) + timedelta(hours=1))
    api = Operator(serve)

    def where(connector: int | None) -> dict[str, int]:
        if connector is None:
            return {}
        return {"connectorId": connector} if v16 else {"evseId": connector}

    async def reserve(token: str, connector: int | None, expires: str) -> Any:
        """The API's answer to a reservation for `token` on `connector` (None: any)."""
        body: dict[str, Any] = {"idToken": token, "expiresAt": expires, **where(connector)}
        if not v16:
            body["type"] = "ISO14443"
        status, answer = await api.request("POST", f"{station}/reservations", body)
        assert status == 200, answer
        return answer

    async with api, charger.connected(serve):
        # A: on connector / EVSE 1, for TAG-R1. The charger takes it and shows it (C16 4.9
        # Reserved; H01.FR.23: StatusNotification Reserved).
        answer = await reserve("TAG-R1", 1, later)
        first = answer["reservation"]
        assert answer["result"] == {"status": "Accepted"} and first["status"] == "Accepted"
        if v16:
            assert charger.last("ReserveNow") == {
                "connectorId": 1,
                "expiryDate": later,
                "idTag": "TAG-R1",
                "reservationId": first["id"],
            }
        else:
            assert charger.last("ReserveNow") == {
                "id": first["id"],
                "expiryDateTime": later,
                "idToken": {"idToken": "TAG-R1", "type": "ISO14443"},
                "evseId": 1,
            }
        await charger.status(1, "Reserved")

        # B: on 2, then cancelled (C16 5.1, H02): the charger frees the connector.
        second = (await reserve("TAG-R2", 2, later))["reservation"]
        await charger.status(2, "Reserved")
        status, answer = await api.request("DELETE", f"{station}/reservations/{second['id']}")
        assert status == 200 and answer["result"] == {"status": "Accepted"}, answer
        assert answer["reservation"]["status"] == "Cancelled"
        assert charger.last("CancelReservation") == {"reservationId": second["id"]}
        await charger.status(2, "Available")

        # C: any connector, for a short while.
        soon = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=2)
        third = (await reserve("TAG-R3", None, rfc3339(soon)))["reservation"]
        assert third["status"] == "Accepted"
        if not v16:
            # D: any EVSE too, until later; the charger removes it (H01:
            # ReservationStatusUpdate Removed), and the CSMS follows the charger's word.
            fourth = (await reserve("TAG-R4", None, later))["reservation"]
            await charger.call(
                "ReservationStatusUpdate",
                reservation_id=fourth["id"],
                reservation_update_status="Removed",
            )

        # A refused one: the charger answers Occupied.
        charger.answers["ReserveNow"] = {"status": "Occupied"}
        answer = await reserve("TAG-R5", 2, later)
        assert answer["result"] == {"status": "Occupied"}
        assert answer["reservation"]["status"] == "Occupied"

        # TAG-R1 arrives at connector / EVSE 1: the transaction names reservation A (C16 4.8
        # StartTransaction reservationId; H03: TransactionEvent reservationId).
        if v16:
            await charger.status(1, "Preparing")
            started = await charger.call(
                "StartTransaction",
                connector_id=1,
                id_tag="TAG-R1",
                meter_start=1000,
                timestamp=now(),
                reservation_id=first["id"],
            )
            assert started.id_tag_info["status"] == "Accepted"
            transaction_id: int | str = started.transaction_id
            await charger.status(1, "Charging")
        else:
            transaction_id = f"{charger.identity}-tx-1"
            started = await charger.call(
                "TransactionEvent",
                event_type="Started",
                timestamp=now(),
                trigger_reason="Authorized",
                seq_no=0,
                transaction_info={"transaction_id": transaction_id, "charging_state": "Charging"},
                id_token={"id_token": "TAG-R1", "type": "ISO14443"},
                evse={"id": 1, "connector_id": 1},
                reservation_id=first["id"],
            )
            assert started.id_token_info["status"] == "Accepted"
            await charger.status(1, "Occupied")

        # C expires unused: 1.6 by the CSMS's clock (C16 5.13); 2.x the charger tells the CSMS
        # at the expiry (H01: ReservationStatusUpdate Expired). The charger's timer:
        await asyncio.sleep(max(0.0, (soon - datetime.now(timezone.utc)).total_seconds()))
        if not v16:
            await charger.call(
                "ReservationStatusUpdate",
                reservation_id=third["id"],
                reservation_update_status="Expired",
            )

        def ended(body: Any) -> bool:
            statuses = {r["id"]: r["status"] for r in body["reservations"]}
            return statuses.get(third["id"]) == "Expired"

        listed = await api.eventually(f"{station}/reservations", ended)
        kept = {r["id"]: r for r in listed["reservations"]}
        assert kept[first["id"]]["status"] == "Used"
        assert kept[first["id"]]["transactionId"] == transaction_id
        assert kept[second["id"]]["status"] == "Cancelled"
        assert kept[third["id"]]["status"] == "Expired"
        if not v16:
            assert kept[fourth["id"]]["status"] == "Removed"
        [transaction] = (await api.get(f"/api/transactions?station={charger.identity}"))[
            "transactions"
        ]
        assert transaction["transactionId"] == transaction_id
        assert transaction["reservationId"] == first["id"]


@pytest.mark.parametrize("version", VERSIONS)
def test_reservations_through_the_api_with_the_ocpp_charge_point(
    core: Backend, version: str, tmp_path: Path
) -> None:
    """C16 5.13 / H01 ReserveNow reaches the charger exactly; C16 5.1 / H02 CancelReservation;
    the charger's transaction naming the reservation makes it Used (C16 4.8 reservationId,
    H03 TransactionEvent reservationId); one expires (1.6: the CSMS's clock; 2.x:
    ReservationStatusUpdate Expired), another is Removed by the charger (2.x), a refused one
    shows the charger's answer."""
    with Serve(core, tmp_path / "data") as serve:
        run(reservations(serve, version))
        serve.stop_cleanly()


# --------------------------------------------------------------------------------------------
# 3. Firmware


async def firmware_update(serve: Serve, version: str, signed: bool) -> None:
    charger = Charger(version, f"Api-FW-{short(version)}{'-signed' if signed else ''}")
    v16 = charger.v16
    station = f"/api/stations/{charger.identity}"
    image = bytes(range(256)) * 1024 + b"firmware 3.1"
    retrieve_at = rfc3339(datetime.now(timezone.utc))
    certificate = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    # 1.6 signed: the security whitepaper's SignedUpdateFirmware (SW 5.21) and
    # SignedFirmwareStatusNotification (SW 5.19), with a requestId as in 2.x.
    action = "SignedUpdateFirmware" if v16 and signed else "UpdateFirmware"
    notification = (
        "SignedFirmwareStatusNotification" if v16 and signed else "FirmwareStatusNotification"
    )
    async with Operator(serve) as api:
        async with api.http.put(f"{api.base}/api/files/fw-3.1.bin", data=image) as response:
            assert response.status == 201, await response.text()
        body: dict[str, Any] = {
            "file": "fw-3.1.bin",
            "retrieveAt": retrieve_at,
            "retries": 2,
            "retryInterval": 30,
        }
        if signed:
            body.update(signingCertificate=certificate, signature="c2lnbmF0dXJl")
        async with charger.connected(serve):
            status, answer = await api.request("POST", f"{station}/firmware-updates", body)
            assert status == 201, answer
            operation = answer["operation"]
            location = operation["location"]
            assert location.startswith(serve.api + "/station-files/")
            assert operation["answer"] == "Accepted" and operation["firmware"] == "fw-3.1.bin"
            assert operation["action"] == action
            if v16 and not signed:
                assert answer["result"] == {} and operation["requestId"] is None
                assert charger.last(action) == {
                    "location": location,
                    "retrieveDate": retrieve_at,
                    "retries": 2,
                    "retryInterval": 30,
                }
            else:
                assert answer["result"] == {"status": "Accepted"}
                assert operation["requestId"] is not None
                firmware = {"location": location, "retrieveDateTime": retrieve_at}
                if signed:
                    firmware.update(signingCertificate=certificate, signature="c2lnbmF0dXJl")
                assert charger.last(action) == {
                    "requestId": operation["requestId"],
                    "retries": 2,
                    "retryInterval": 30,
                    "firmware": firmware,
                }

            async def firmware_status(step: str) -> None:
                if operation["requestId"] is None:
                    await charger.call(notification, status=step)
                else:
                    await charger.call(notification, status=step, request_id=operation["requestId"])

            # The charger downloads the image as it would (an HTTP client, no API token).
            await firmware_status("Downloading")
            async with (
                aiohttp.ClientSession() as http,
                http.get(location) as response,
            ):
                assert response.status == 200
                assert await response.read() == image
            steps = ["Downloading", "Downloaded"]
            steps += ["SignatureVerified", "Installing"] if signed else ["Installing"]
            if not (v16 and not signed):  # 1.6 FirmwareStatus has no InstallRebooting
                steps.append("InstallRebooting")
            for step in steps[1:]:
                await firmware_status(step)
        # It reboots into the new firmware, boots (2.x reason FirmwareUpdate), and reports the
        # installation done (C16 4.5; TC_L_01_CSMS steps 13 to 17).
        async with charger.connected(serve, reason="FirmwareUpdate", firmware="3.1"):
            await firmware_status("Installed")
            steps.append("Installed")
            shown = await api.eventually(
                f"{station}/operations/{operation['id']}",
                lambda body: len(body["statuses"]) == len(steps),
            )
            assert [s["status"] for s in shown["statuses"]] == steps
            assert shown["status"] == "Installed" and shown["kind"] == "firmware"
            listed = await api.get(f"{station}/operations?kind=firmware")
            assert [o["id"] for o in listed["operations"]] == [operation["id"]]
            booted = await api.get(station)
            assert booted["boot"]["firmwareVersion"] == "3.1"
            if not v16:
                assert booted["boot"]["reason"] == "FirmwareUpdate"


@pytest.mark.parametrize(
    ("version", "signed"),
    [("ocpp1.6", False), ("ocpp1.6", True), ("ocpp2.0.1", True), ("ocpp2.1", False)],
)
def test_firmware_update_through_the_api_with_the_ocpp_charge_point(
    core: Backend, version: str, signed: bool, tmp_path: Path
) -> None:
    """C16 5.19 UpdateFirmware, SW 5.21 SignedUpdateFirmware, L01 (TC_L_01_CSMS, signed) and
    L02 UpdateFirmware: the operator adds an image to the file server and starts the update;
    the charger gets exactly its location (and retries; signed and 2.x: the requestId, the
    signature and certificate), downloads the image's bytes with a plain HTTP client, and its
    C16 4.5 FirmwareStatusNotifications / SW 5.19 SignedFirmwareStatusNotifications (with the
    requestId), across its reboot, show in the API's operation in order."""
    with Serve(core, tmp_path / "data") as serve:
        run(firmware_update(serve, version, signed))
        serve.stop_cleanly()


# --------------------------------------------------------------------------------------------
# 4. Log upload


async def log_upload(serve: Serve, version: str, log_type: str | None) -> None:
    charger = Charger(version, f"Api-LG-{short(version)}{'-' + log_type if log_type else ''}")
    v16 = charger.v16
    station = f"/api/stations/{charger.identity}"
    since = rfc3339(datetime.now(timezone.utc) - timedelta(days=1))
    until = rfc3339(datetime.now(timezone.utc))
    archive = b"\x1f\x8b" + b"2026-11-21 boot ok; connector 1 Available\n" * 500
    # 1.6 without a logType: C16 5.9 GetDiagnostics; with one, the whitepaper's GetLog (SW 5.9).
    diagnostics = v16 and log_type is None
    body: dict[str, Any] = {"since": since, "until": until, "retries": 1, "retryInterval": 30}
    if log_type is not None:
        body["logType"] = log_type
    async with Operator(serve) as api, charger.connected(serve):
        status, answer = await api.request("POST", f"{station}/log-uploads", body)
        assert status == 201, answer
        operation = answer["operation"]
        location = operation["location"]
        assert location.startswith(serve.api + "/station-uploads/")
        # The name the charger announced in its answer (C16 GetDiagnostics.conf fileName,
        # GetLog filename).
        assert operation["fileName"] == LOG_NAME and operation["answer"] == "Accepted"
        if diagnostics:
            assert operation["action"] == "GetDiagnostics"
            assert answer["result"] == {"fileName": LOG_NAME}
            assert charger.last("GetDiagnostics") == {
                "location": location,
                "startTime": since,
                "stopTime": until,
                "retries": 1,
                "retryInterval": 30,
            }
        else:
            assert operation["action"] == "GetLog"
            assert answer["result"] == {"status": "Accepted", "filename": LOG_NAME}
            # TC_N_25_CSMS step 1: logType DiagnosticsLog unless the operator said otherwise.
            assert charger.last("GetLog") == {
                "logType": log_type or "DiagnosticsLog",
                "requestId": operation["requestId"],
                "retries": 1,
                "retryInterval": 30,
                "log": {
                    "remoteLocation": location,
                    "oldestTimestamp": since,
                    "latestTimestamp": until,
                },
            }

        async def log_status(step: str) -> None:
            if diagnostics:
                await charger.call("DiagnosticsStatusNotification", status=step)
            else:  # N01.FR.12: with the requestId of the GetLog
                await charger.call(
                    "LogStatusNotification", status=step, request_id=operation["requestId"]
                )

        # The charger uploads as it would: PUT <location>/<name>, no API token.
        await log_status("Uploading")
        async with (
            aiohttp.ClientSession() as http,
            http.put(f"{location}/{LOG_NAME}", data=archive) as response,
        ):
            assert response.status == 201, await response.text()
        await log_status("Uploaded")

        shown = await api.eventually(
            f"{station}/operations/{operation['id']}",
            lambda body: len(body["statuses"]) == 2,
        )
        assert [s["status"] for s in shown["statuses"]] == ["Uploading", "Uploaded"]
        assert shown["status"] == "Uploaded" and shown["kind"] == "log"
        [upload] = shown["uploads"]
        assert (upload["name"], upload["size"]) == (LOG_NAME, len(archive))
        assert await api.download(upload["download"]) == archive
        kept = serve.data_dir / "files" / "uploads" / charger.identity / LOG_NAME
        assert kept.read_bytes() == archive


@pytest.mark.parametrize(
    ("version", "log_type"),
    [
        ("ocpp1.6", None),
        ("ocpp1.6", "SecurityLog"),
        ("ocpp2.0.1", None),
        ("ocpp2.1", "SecurityLog"),
    ],
)
def test_log_upload_through_the_api_with_the_ocpp_charge_point(
    core: Backend, version: str, log_type: str | None, tmp_path: Path
) -> None:
    """C16 5.9 GetDiagnostics, SW 5.9 / N01 GetLog (TC_N_25_CSMS DiagnosticsLog, TC_N_35_CSMS
    SecurityLog): the charger gets exactly the upload location (and the time window, retries;
    GetLog: the logType and requestId), PUTs its archive there, and sends C16 4.4
    DiagnosticsStatusNotification / LogStatusNotification (N01.FR.12: with the requestId)
    Uploading, Uploaded; the API's operation shows them and the file, whose operator download
    link returns the same bytes."""
    with Serve(core, tmp_path / "data") as serve:
        run(log_upload(serve, version, log_type))
        serve.stop_cleanly()


# --------------------------------------------------------------------------------------------
# 5. Display messages (2.x)


async def display_messages(serve: Serve, version: str) -> None:
    charger = Charger(version, f"Api-DM-{short(version)}")
    station = f"/api/stations/{charger.identity}"
    start = rfc3339(datetime.now(timezone.utc))
    end = rfc3339(datetime.now(timezone.utc) + timedelta(days=1))
    async with Operator(serve) as api, charger.connected(serve):
        status, answer = await api.request(
            "POST",
            f"{station}/display-messages",
            {
                "id": 3,
                "priority": "InFront",
                "content": "Welcome! Tap your card to charge.",
                "language": "en",
                "evseId": 1,
                "startAt": start,
                "endAt": end,
            },
        )
        assert status == 200 and answer == {"result": {"status": "Accepted"}}, answer
        welcome = {
            "id": 3,
            "priority": "InFront",
            "message": {
                "format": "UTF8",
                "content": "Welcome! Tap your card to charge.",
                "language": "en",
            },
            "startDateTime": start,
            "endDateTime": end,
            "display": {"name": "Display", "evse": {"id": 1}},
        }
        assert charger.last("SetDisplayMessage") == {"message": welcome}
        status, answer = await api.request(
            "POST",
            f"{station}/display-messages",
            {"id": 4, "priority": "NormalCycle", "content": "Solar power today", "state": "Idle"},
        )
        assert status == 200 and answer == {"result": {"status": "Accepted"}}, answer
        solar = charger.last("SetDisplayMessage")["message"]
        assert solar == {
            "id": 4,
            "priority": "NormalCycle",
            "message": {"format": "UTF8", "content": "Solar power today"},
            "state": "Idle",
        }

        # O03: Accepted, then NotifyDisplayMessages in parts (tbc until the last).
        async def notify(request: dict[str, Any]) -> None:
            for shown, tbc in ((welcome, True), (solar, False)):
                await charger.call(
                    "NotifyDisplayMessages",
                    request_id=request["request_id"],
                    message_info=[camel_to_snake_case(shown)],
                    tbc=tbc,
                )

        charger.then["GetDisplayMessages"] = notify
        listed = await api.get(f"{station}/display-messages{REPORTED}")
        asked = charger.last("GetDisplayMessages")
        assert asked == {"requestId": asked["requestId"]}
        assert listed == {"status": "Accepted", "messages": [welcome, solar]}

        # O05: cleared; the charger then has only the other one.
        status, answer = await api.request("DELETE", f"{station}/display-messages/3")
        assert status == 200 and answer == {"result": {"status": "Accepted"}}, answer
        assert charger.last("ClearDisplayMessage") == {"id": 3}

        async def notify_rest(request: dict[str, Any]) -> None:
            await charger.call(
                "NotifyDisplayMessages",
                request_id=request["request_id"],
                message_info=[camel_to_snake_case(solar)],
            )

        charger.then["GetDisplayMessages"] = notify_rest
        listed = await api.get(f"{station}/display-messages{REPORTED}")
        assert listed == {"status": "Accepted", "messages": [solar]}
        # None left: the charger answers Unknown (O03: no messages), and sends no report.
        del charger.then["GetDisplayMessages"]
        charger.answers["GetDisplayMessages"] = {"status": "Unknown"}
        status, answer = await api.request("DELETE", f"{station}/display-messages/4")
        assert status == 200 and charger.last("ClearDisplayMessage") == {"id": 4}
        listed = await api.get(f"{station}/display-messages{REPORTED}")
        assert listed == {"status": "Unknown", "messages": []}


@pytest.mark.parametrize("version", ["ocpp2.0.1", "ocpp2.1"])
def test_display_messages_through_the_api_with_the_ocpp_charge_point(
    core: Backend, version: str, tmp_path: Path
) -> None:
    """O01 SetDisplayMessage reaches the charger exactly (content, language, format UTF8,
    priority, state, start and end, the display of EVSE 1); O03 GetDisplayMessages: its
    NotifyDisplayMessages parts are the API's list, and its Unknown (none) an empty one; O05
    ClearDisplayMessage by id."""
    with Serve(core, tmp_path / "data") as serve:
        run(display_messages(serve, version))
        serve.stop_cleanly()
