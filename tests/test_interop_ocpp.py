"""Interoperability with a peer nobody here wrote: the `ocpp` package (mobilityhouse), over real
sockets on 127.0.0.1 (issue 4 item 6).

- Its charge point runs a full session against `ocppfast serve` (a real process): boot,
  heartbeat, status, authorize, a transaction with meter values, stop; in 1.6, 2.0.1 and 2.1.
- Its central system drives `ocppfast station` (a real process): configuration, trigger,
  remote start and stop, reset, availability, unlock; in 1.6, 2.0.1 and 2.1.

Each runs on both core backends (the child process gets OCPPFAST_NO_EXTENSIONS=1 for the pure
one). Both sides validate every message against the official schemas, the `ocpp` package with
its own jsonschema validation, so a message of ours that broke its schema would fail here.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import urllib.request
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import ocpp.v16
import ocpp.v21
import ocpp.v201
import pytest
from ocpp.charge_point import camel_to_snake_case
from ocpp.routing import on
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from ocppfast._core import Backend
from ocppfast.station import StationStore
from ocppfast.station.fleet import ChargingPlan
from tests.aio import run
from tests.cli_process import CliProcess
from tests.cli_process import serve as ocppfast_serve

PACKAGES = {"ocpp1.6": ocpp.v16, "ocpp2.0.1": ocpp.v201, "ocpp2.1": ocpp.v21}


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def sampled_values(energy_wh: float) -> list[dict[str, Any]]:
    """One meterValue of 10 sampled values, as a three-phase AC charger reports them."""
    values: list[dict[str, Any]] = [
        {"value": f"{energy_wh:.1f}", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
    ]
    for phase in ("L1", "L2", "L3"):
        values.append({"value": "16.0", "measurand": "Current.Import", "phase": phase, "unit": "A"})
        values.append(
            {"value": "230.1", "measurand": "Voltage", "phase": phase + "-N", "unit": "V"}
        )
    values.append({"value": "50.0", "measurand": "Frequency"})
    values.append({"value": "55", "measurand": "SoC", "unit": "Percent"})
    return values


def v2_sampled_values(energy_wh: float) -> list[dict[str, Any]]:
    """The same in 2.x form: numbers, and units in unitOfMeasure."""
    values = []
    for item in sampled_values(energy_wh):
        value: dict[str, Any] = {"value": float(item["value"]), "measurand": item["measurand"]}
        if "phase" in item:
            value["phase"] = item["phase"]
        if "unit" in item:
            value["unit_of_measure"] = {"unit": item["unit"]}
        values.append(value)
    return values


# --------------------------------------------------------------------------------------------
# The ocpp package's charge point against `ocppfast serve`


async def charge_point_session_16(url: str, identity: str) -> None:
    from ocpp.v16 import call

    async with connect(f"{url}/{identity}", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "ocpp1.6"
        cp = ocpp.v16.ChargePoint(identity, ws)
        reader = asyncio.create_task(cp.start())
        boot = await cp.call(
            call.BootNotification(charge_point_model="Wallbox", charge_point_vendor="Interop")
        )
        assert boot.status == "Accepted" and boot.interval == 42
        assert (await cp.call(call.Heartbeat())).current_time
        await cp.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing")
        )
        assert (await cp.call(call.Authorize(id_tag="TAG-1"))).id_tag_info["status"] == "Accepted"
        start = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=1000, timestamp=now())
        )
        assert start.id_tag_info["status"] == "Accepted" and start.transaction_id > 0
        await cp.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
        )
        for energy in (1500.0, 2000.0):
            await cp.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=start.transaction_id,
                    meter_value=[{"timestamp": now(), "sampled_value": sampled_values(energy)}],
                )
            )
        stop = await cp.call(
            call.StopTransaction(
                meter_stop=2500,
                timestamp=now(),
                transaction_id=start.transaction_id,
                reason="EVDisconnected",
                id_tag="TAG-1",
            )
        )
        assert stop.id_tag_info["status"] == "Accepted"
        unknown = await cp.call(call.DataTransfer(vendor_id="com.example", message_id="x"))
        assert unknown.status == "UnknownVendorId"
        reader.cancel()


async def charge_point_session_2x(url: str, identity: str, version: str) -> None:
    package = PACKAGES[version]
    call = package.call

    async with connect(f"{url}/{identity}", subprotocols=[version]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == version
        cp = package.ChargePoint(identity, ws)
        reader = asyncio.create_task(cp.start())
        boot = await cp.call(
            call.BootNotification(
                charging_station={"model": "Wallbox", "vendor_name": "Interop"}, reason="PowerUp"
            )
        )
        assert boot.status == "Accepted" and boot.interval == 42
        assert (await cp.call(call.Heartbeat())).current_time
        await cp.call(
            call.StatusNotification(
                timestamp=now(), connector_status="Occupied", evse_id=1, connector_id=1
            )
        )
        token = {"id_token": "TAG-1", "type": "ISO14443"}
        assert (await cp.call(call.Authorize(id_token=token))).id_token_info["status"] == "Accepted"
        transaction = {"transaction_id": f"{identity}-tx-1"}
        started = await cp.call(
            call.TransactionEvent(
                event_type="Started",
                timestamp=now(),
                trigger_reason="Authorized",
                seq_no=0,
                transaction_info={**transaction, "charging_state": "Charging"},
                id_token=token,
                evse={"id": 1, "connector_id": 1},
                meter_value=[{"timestamp": now(), "sampled_value": v2_sampled_values(1000.0)}],
            )
        )
        assert started.id_token_info["status"] == "Accepted"
        await cp.call(
            call.TransactionEvent(
                event_type="Updated",
                timestamp=now(),
                trigger_reason="MeterValuePeriodic",
                seq_no=1,
                transaction_info=transaction,
                meter_value=[{"timestamp": now(), "sampled_value": v2_sampled_values(1800.0)}],
            )
        )
        await cp.call(
            call.MeterValues(
                evse_id=1,
                meter_value=[{"timestamp": now(), "sampled_value": v2_sampled_values(1900.0)}],
            )
        )
        await cp.call(
            call.TransactionEvent(
                event_type="Ended",
                timestamp=now(),
                trigger_reason="EVCommunicationLost",
                seq_no=2,
                transaction_info={**transaction, "stopped_reason": "EVDisconnected"},
                meter_value=[{"timestamp": now(), "sampled_value": v2_sampled_values(2500.0)}],
            )
        )
        await cp.call(
            call.StatusNotification(
                timestamp=now(), connector_status="Available", evse_id=1, connector_id=1
            )
        )
        reader.cancel()


API_TOKEN = "interop-test-token-0123456789abcdef"


def api_get(base: str, path: str) -> Any:
    """GET `path` of the operator API at `base`, with the token; the decoded JSON."""
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {API_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
def test_ocpp_charge_point_full_session_against_ocppfast_serve(
    core: Backend, version: str, database_url: str
) -> None:
    """Issue 6 part 6: the `ocpp` package's charge point runs a full session against
    `ocppfast serve` (SQLite and PostgreSQL), and what was stored is checked through the
    operator API: the station, its connector, the transaction with every meter value, and the
    traffic log."""
    process, url = ocppfast_serve(
        core, "--heartbeat-interval", "42", "--database", database_url, "--api-token", API_TOKEN
    )
    with process:
        api = process.wait_for(r"operator API on (http://\S+)/api ").group(1)
        identity = "Interop-" + version.removeprefix("ocpp").replace(".", "")
        if version == "ocpp1.6":
            run(charge_point_session_16(url, identity))
        else:
            run(charge_point_session_2x(url, identity, version))
        process.wait_for(rf"closed '{identity}'", timeout=10)

        station = api_get(api, f"/api/stations/{identity}")
        assert (station["identity"], station["ocppVersion"]) == (identity, version)
        assert station["boot"]["vendor"] == "Interop" and station["boot"]["model"] == "Wallbox"
        assert station["registrationStatus"] == "Accepted" and not station["connected"]
        statuses = {(c["evseId"], c["connectorId"]): c["status"] for c in station["connectors"]}
        assert statuses[(None, 1) if version == "ocpp1.6" else (1, 1)] == (
            "Charging" if version == "ocpp1.6" else "Available"
        )
        assert station["activeTransactions"] == []
        [transaction] = api_get(api, f"/api/transactions?station={identity}")["transactions"]
        assert not transaction["active"] and transaction["energyWh"] == 1500.0
        assert transaction["idToken"] == "TAG-1" and transaction["stopReason"] == "EVDisconnected"
        detail = api_get(
            api, f"/api/transactions/{transaction['transactionId']}?station={identity}"
        )
        # 1.6: two MeterValues of 10 sampled values; 2.x: Started, Updated and Ended with 10
        # each (the MeterValues without a transaction is not the transaction's).
        expected = 20 if version == "ocpp1.6" else 30
        assert len(detail["meterValues"]) == expected
        assert {m["measurand"] for m in detail["meterValues"]} >= {
            "Energy.Active.Import.Register",
            "Voltage",
            "SoC",
        }
        messages = api_get(api, f"/api/stations/{identity}/messages?limit=1000")["messages"]
        calls = 10 if version == "ocpp1.6" else 9
        assert len(messages) == 2 * calls
        assert [m["direction"] for m in messages[:2]] == ["out", "in"]  # newest first
        assert process.stop() == 0
    log = process.log
    assert f"{identity}" in log and version in log
    # The CSMS logged the boot and the transaction, and nothing went wrong.
    assert process.count(r"(?i)boot") >= 1, log
    assert process.count(r"(?i)transaction .*(started|ended|stopped)") >= 2, log
    assert process.count(r"ERROR|Traceback|InternalError") == 0, log


# --------------------------------------------------------------------------------------------
# The ocpp package's central system driving `ocppfast station`


class CentralSystem:
    """A websockets server whose connections the `ocpp` package's ChargePoint class serves."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.charge_point: Any = None
        self.connected = asyncio.Event()
        self.connections = 0
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.new_message = asyncio.Event()
        self.server: Any = None
        self.port = 0
        # Id tokens the central system refuses (idTagInfo / idTokenInfo Invalid) in its answers
        # to Authorize, StartTransaction and TransactionEvent.
        self.invalid_tokens: set[str] = set()
        self.transaction_ids: list[int] = []  # those its StartTransaction answers gave (1.6)

    async def __aenter__(self) -> CentralSystem:
        self.server = await serve(self._serve, "127.0.0.1", 0, subprotocols=[self.version])  # type: ignore[list-item]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def cut(self, seconds: float) -> None:
        """The link is cut: the server goes away (its connection with it) for `seconds`,
        then listens again on the same port."""
        await self.go_away()
        await asyncio.sleep(seconds)
        await self.come_back()

    async def go_away(self) -> None:
        """The link is cut until `come_back()`: the server closes (its connection with it) and
        refuses connections."""
        self.port = self.server.sockets[0].getsockname()[1]
        self.server.close()
        await self.server.wait_closed()
        self.connected.clear()

    async def come_back(self) -> None:
        """After `go_away()`: listen again on the same port."""
        self.server = await serve(
            self._serve,
            "127.0.0.1",
            self.port,
            subprotocols=[self.version],  # type: ignore[list-item]
        )

    async def _serve(self, ws: ServerConnection) -> None:
        identity = ws.request.path.rsplit("/", 1)[-1] if ws.request else "?"
        self.connections += 1
        self.charge_point = make_central_system(self, self.version)(identity, ws)
        self.connected.set()
        with contextlib.suppress(Exception):  # the station went away
            await self.charge_point.start()

    def status_of(self, id_token: str) -> str:
        """The authorization status this central system gives `id_token`."""
        return "Invalid" if id_token in self.invalid_tokens else "Accepted"

    def record(self, action: str, payload: dict[str, Any]) -> None:
        self.received.append((action, payload))
        self.new_message.set()

    async def wait_for(
        self,
        action: str,
        start: int = 0,
        timeout: float = 15.0,
        where: Callable[[dict[str, Any]], bool] = lambda payload: True,
        **match: Any,
    ) -> dict[str, Any]:
        """The first `action` received from index `start` on whose payload has `match` and
        satisfies `where`."""

        async def find() -> dict[str, Any]:
            for index in itertools.count(start):
                while index >= len(self.received):
                    self.new_message.clear()
                    await self.new_message.wait()
                name, payload = self.received[index]
                if (
                    name == action
                    and all(payload.get(k) == v for k, v in match.items())
                    and where(payload)
                ):
                    return payload
            raise AssertionError  # unreachable

        try:
            return await asyncio.wait_for(find(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"no {action} {match} from the station within {timeout} s; got "
                f"{[name for name, _ in self.received[start:]]}"
            ) from None


def make_central_system(cs: CentralSystem, version: str) -> type:
    """The `ocpp` package's ChargePoint class for `version`, answering the station's messages
    and recording them in `cs`."""
    package = PACKAGES[version]
    result = package.call_result
    transaction_ids = itertools.count(4001)

    class Recorder(package.ChargePoint):  # type: ignore[misc,name-defined]
        if version == "ocpp1.6":

            @on("BootNotification")
            def boot(self, **payload: Any) -> Any:
                cs.record("BootNotification", payload)
                return result.BootNotification(current_time=now(), interval=30, status="Accepted")

            @on("StatusNotification")
            def status(self, **payload: Any) -> Any:
                cs.record("StatusNotification", payload)
                return result.StatusNotification()

            @on("Authorize")
            def authorize(self, **payload: Any) -> Any:
                cs.record("Authorize", payload)
                return result.Authorize(id_tag_info={"status": cs.status_of(payload["id_tag"])})

            @on("StartTransaction")
            def start_transaction(self, **payload: Any) -> Any:
                cs.record("StartTransaction", payload)
                cs.transaction_ids.append(next(transaction_ids))
                return result.StartTransaction(
                    transaction_id=cs.transaction_ids[-1],
                    id_tag_info={"status": cs.status_of(payload["id_tag"])},
                )

            @on("StopTransaction")
            def stop_transaction(self, **payload: Any) -> Any:
                cs.record("StopTransaction", payload)
                return result.StopTransaction(id_tag_info={"status": "Accepted"})

            @on("MeterValues")
            def meter_values(self, **payload: Any) -> Any:
                cs.record("MeterValues", payload)
                return result.MeterValues()

        else:

            @on("BootNotification")
            def boot(self, **payload: Any) -> Any:
                cs.record("BootNotification", payload)
                return result.BootNotification(current_time=now(), interval=30, status="Accepted")

            @on("StatusNotification")
            def status(self, **payload: Any) -> Any:
                cs.record("StatusNotification", payload)
                return result.StatusNotification()

            @on("Authorize")
            def authorize(self, **payload: Any) -> Any:
                cs.record("Authorize", payload)
                status = cs.status_of(payload["id_token"]["id_token"])
                return result.Authorize(id_token_info={"status": status})

            @on("TransactionEvent")
            def transaction_event(self, **payload: Any) -> Any:
                cs.record("TransactionEvent", payload)
                if payload.get("id_token"):
                    status = cs.status_of(payload["id_token"]["id_token"])
                    return result.TransactionEvent(id_token_info={"status": status})
                return result.TransactionEvent()

            @on("MeterValues")
            def meter_values(self, **payload: Any) -> Any:
                cs.record("MeterValues", payload)
                return result.MeterValues()

            @on("NotifyReport")
            def notify_report(self, **payload: Any) -> Any:
                cs.record("NotifyReport", payload)
                return result.NotifyReport()

            @on("NotifyEvent")
            def notify_event(self, **payload: Any) -> Any:
                cs.record("NotifyEvent", payload)
                return result.NotifyEvent()

            # The `ocpp` package (2.1.0) never answers an action it has no handler for in 2.1,
            # and the station's StartupOfTheDevice security event (critical, A201 appendix 1)
            # would then hold its one outstanding CALL until the timeout.
            @on("SecurityEventNotification")
            def security_event(self, **payload: Any) -> Any:
                cs.record("SecurityEventNotification", payload)
                return result.SecurityEventNotification()

        @on("Heartbeat")
        def heartbeat(self, **payload: Any) -> Any:
            cs.record("Heartbeat", payload)
            return result.Heartbeat(current_time=now())

    return Recorder


async def drive_station_16(cs: CentralSystem) -> None:
    from ocpp.v16 import call

    await cs.wait_for("BootNotification")
    await cs.wait_for("StatusNotification", connector_id=1, status="Available")
    cp = cs.charge_point
    # Configuration: read, change, read back (C16 5.8, 5.3).
    config = await cp.call(call.GetConfiguration(key=["HeartbeatInterval", "NoSuchKey"]))
    assert config.unknown_key == ["NoSuchKey"]
    assert config.configuration_key[0]["key"] == "HeartbeatInterval"
    assert config.configuration_key[0]["value"] == "30"  # as the boot response set it
    changed = await cp.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="1"))
    assert changed.status == "Accepted"
    readonly = await cp.call(call.ChangeConfiguration(key="NumberOfConnectors", value="5"))
    assert readonly.status == "Rejected"
    # Trigger (C16 5.17): accepted, then the message comes.
    mark = len(cs.received)
    trigger = await cp.call(call.TriggerMessage(requested_message="Heartbeat"))
    assert trigger.status == "Accepted"
    await cs.wait_for("Heartbeat", start=mark)
    # Local authorization list (C16 5.15, 5.10) and cache (C16 5.4); DataTransfer (C16 5.6).
    entries = [{"id_tag": "LOCAL-1", "id_tag_info": {"status": "Accepted"}}]
    sent = await cp.call(
        call.SendLocalList(list_version=3, update_type="Full", local_authorization_list=entries)
    )
    assert sent.status == "Accepted"
    assert (await cp.call(call.GetLocalListVersion())).list_version == 3
    stale = await cp.call(
        call.SendLocalList(
            list_version=2, update_type="Differential", local_authorization_list=entries
        )
    )
    assert stale.status == "VersionMismatch"
    assert (await cp.call(call.ClearCache())).status == "Accepted"
    vendor = await cp.call(call.DataTransfer(vendor_id="com.example.nobody", data="x"))
    assert vendor.status == "UnknownVendorId"
    # Remote start, meter values, remote stop (C16 5.11, 5.12).
    mark = len(cs.received)
    started = await cp.call(call.RemoteStartTransaction(id_tag="REMOTE-1", connector_id=1))
    assert started.status == "Accepted"
    start = await cs.wait_for("StartTransaction", start=mark)
    assert start["id_tag"] == "REMOTE-1" and start["connector_id"] == 1
    meter = await cs.wait_for("MeterValues", start=mark)
    transaction_id = meter["transaction_id"]
    # The link is cut mid-transaction (C16 3.7): the meter values sampled during the outage
    # are queued, and arrive after the reconnection for the same transaction.
    cut_at = datetime.now(timezone.utc)
    await cs.cut(3.0)
    await asyncio.wait_for(cs.connected.wait(), 30)
    cp = cs.charge_point
    back_at = datetime.now(timezone.utc)

    def during_outage(payload: dict[str, Any]) -> bool:
        at = datetime.fromisoformat(payload["meter_value"][0]["timestamp"].replace("Z", "+00:00"))
        return cut_at < at < back_at

    await cs.wait_for(
        "MeterValues", start=mark, timeout=20, transaction_id=transaction_id, where=during_outage
    )
    stopped = await cp.call(call.RemoteStopTransaction(transaction_id=transaction_id))
    assert stopped.status == "Accepted"
    stop = await cs.wait_for("StopTransaction", start=mark)
    assert stop["transaction_id"] == transaction_id and stop["reason"] == "Remote"
    assert stop["meter_stop"] >= start["meter_start"]
    # Availability (C16 5.2) and unlock (C16 5.18).
    mark = len(cs.received)
    availability = await cp.call(call.ChangeAvailability(connector_id=1, type="Inoperative"))
    assert availability.status == "Accepted"
    await cs.wait_for("StatusNotification", start=mark, connector_id=1, status="Unavailable")
    availability = await cp.call(call.ChangeAvailability(connector_id=1, type="Operative"))
    assert availability.status == "Accepted"
    unlock = await cp.call(call.UnlockConnector(connector_id=1))
    assert unlock.status in ("Unlocked", "NotSupported")
    # Reset (C16 5.14): the station reboots: reconnects and boots again.
    mark = len(cs.received)
    reset = await cp.call(call.Reset(type="Soft"))
    assert reset.status == "Accepted"
    await cs.wait_for("BootNotification", start=mark, timeout=20)


async def drive_station_2x(cs: CentralSystem, version: str) -> None:
    call = PACKAGES[version].call

    await cs.wait_for("BootNotification")
    await cs.wait_for("StatusNotification", connector_status="Available")
    cp = cs.charge_point
    # Device model: read, write, read back (B06, B05).
    interval = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
    got = await cp.call(call.GetVariables(get_variable_data=[interval]))
    assert got.get_variable_result[0]["attribute_status"] == "Accepted"
    assert got.get_variable_result[0]["attribute_value"] == "30"  # as the boot response set it
    sample = {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}}
    set_result = await cp.call(
        call.SetVariables(set_variable_data=[{**sample, "attribute_value": "1"}])
    )
    assert set_result.set_variable_result[0]["attribute_status"] == "Accepted"
    unknown = {"component": {"name": "NoSuchCtrlr"}, "variable": {"name": "Nothing"}}
    got = await cp.call(call.GetVariables(get_variable_data=[unknown]))
    assert got.get_variable_result[0]["attribute_status"] == "UnknownComponent"
    # The whole device model, reported in parts (B07): NotifyReport seqNo 0, 1, ... for the
    # request id, the last with tbc false; the HeartbeatInterval just read is in it.
    mark = len(cs.received)
    report = await cp.call(call.GetBaseReport(request_id=5, report_base="FullInventory"))
    assert report.status == "Accepted"
    await cs.wait_for("NotifyReport", start=mark, timeout=20, where=lambda p: not p.get("tbc"))
    parts = [payload for action, payload in cs.received[mark:] if action == "NotifyReport"]
    assert [part["seq_no"] for part in parts] == list(range(len(parts))) and len(parts) > 1
    assert {part["request_id"] for part in parts} == {5}
    reported = {
        (item["component"]["name"], item["variable"]["name"]): item["variable_attribute"]
        for part in parts
        for item in part["report_data"]
    }
    assert reported[("OCPPCommCtrlr", "HeartbeatInterval")][0]["value"] == "30"
    # Local authorization list (D01, D02) and cache (C11); DataTransfer (P01).
    token = {
        "id_token": {"id_token": "LOCAL-1", "type": "ISO14443"},
        "id_token_info": {"status": "Accepted"},
    }
    sent = await cp.call(
        call.SendLocalList(version_number=3, update_type="Full", local_authorization_list=[token])
    )
    assert sent.status == "Accepted"
    assert (await cp.call(call.GetLocalListVersion())).version_number == 3
    assert (await cp.call(call.ClearCache())).status == "Accepted"
    vendor = await cp.call(call.DataTransfer(vendor_id="com.example.nobody"))
    assert vendor.status == "UnknownVendorId"
    # Trigger (F06).
    mark = len(cs.received)
    trigger = await cp.call(call.TriggerMessage(requested_message="Heartbeat"))
    assert trigger.status == "Accepted"
    await cs.wait_for("Heartbeat", start=mark)
    # Remote start, meter values, remote stop (F01, F03).
    mark = len(cs.received)
    started = await cp.call(
        call.RequestStartTransaction(
            id_token={"id_token": "REMOTE-1", "type": "Central"}, remote_start_id=7, evse_id=1
        )
    )
    assert started.status == "Accepted"
    begun = await cs.wait_for("TransactionEvent", start=mark, event_type="Started")
    transaction_id = begun["transaction_info"]["transaction_id"]
    await cs.wait_for("TransactionEvent", start=mark, event_type="Updated")
    status = await cp.call(call.GetTransactionStatus(transaction_id=transaction_id))
    assert status.ongoing_indicator is True
    # The link is cut mid-transaction (E11, TC_E_40_CS-like): the events of the outage arrive
    # after the reconnection, marked offline, with their seqNo in order.
    await cs.cut(3.0)
    await asyncio.wait_for(cs.connected.wait(), 30)
    cp = cs.charge_point
    mark = len(cs.received)
    offline = await cs.wait_for("TransactionEvent", start=mark, timeout=20, offline=True)
    assert offline["transaction_info"]["transaction_id"] == transaction_id
    stopped = await cp.call(call.RequestStopTransaction(transaction_id=transaction_id))
    assert stopped.status == "Accepted"
    ended = await cs.wait_for("TransactionEvent", start=mark, event_type="Ended")
    assert ended["transaction_info"]["transaction_id"] == transaction_id
    assert ended["transaction_info"].get("stopped_reason", "Local") in ("Remote", "Local")
    # Availability (G03) and unlock (F05).
    mark = len(cs.received)
    availability = await cp.call(
        call.ChangeAvailability(operational_status="Inoperative", evse={"id": 1})
    )
    assert availability.status == "Accepted"
    await cs.wait_for("StatusNotification", start=mark, connector_status="Unavailable")
    availability = await cp.call(
        call.ChangeAvailability(operational_status="Operative", evse={"id": 1})
    )
    assert availability.status == "Accepted"
    unlock = await cp.call(call.UnlockConnector(evse_id=1, connector_id=1))
    assert unlock.status in ("Unlocked", "UnlockFailed")
    # Reset (B11): the station reboots: reconnects and boots again.
    mark = len(cs.received)
    reset = await cp.call(call.Reset(type="Immediate"))
    assert reset.status == "Accepted"
    await cs.wait_for("BootNotification", start=mark, timeout=20)


def station_args(cs: CentralSystem, identity: str, version: str, *options: str) -> list[str]:
    """`ocppfast station` against `cs` as `identity` in `version`, with `options`."""
    return ["station", "--url", cs.url, "--id", identity, "--ocpp", version.removeprefix("ocpp"),
            *options]  # fmt: skip


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
def test_ocpp_central_system_drives_ocppfast_station(core: Backend, version: str) -> None:
    async def main() -> CliProcess:
        async with CentralSystem(version) as cs:
            station = CliProcess(core, *station_args(cs, "CP-interop", version))
            try:
                await asyncio.wait_for(cs.connected.wait(), 15)
                if version == "ocpp1.6":
                    await drive_station_16(cs)
                else:
                    await drive_station_2x(cs, version)
                assert cs.connections == 3  # reconnected after the cut and after the reset
            except BaseException:
                station.__exit__()
                print(station.log)
                raise
            return station

    station = run(main(), 120)
    with station:
        # The CSMS went away: the station keeps trying with back-off until it is stopped.
        assert station.stop() == 0
    assert station.count(r"Traceback|InternalError") == 0, station.log


async def queued_on_disk(path: Path, identity: str) -> list[tuple[str, Any]]:
    """The messages station `identity` has queued in the data file `path`, as the `ocpp`
    package hands them to its handlers (snake_case keys), in order; read without the file's
    lock (a look at what is on disk now, whether or not a station process holds it)."""
    store = await StationStore.open(path, lock=False)
    try:
        data = await store.load(identity)
    finally:
        await store.close()
    return [(item.action, camel_to_snake_case(item.decoded())) for item in data.queue]


def power_loss_end(action: str, payload: dict[str, Any]) -> bool:
    """The end of a transaction a power cut interrupted: 1.6 StopTransaction reason PowerLoss
    (C16 7.36), 2.x TransactionEvent Ended with stoppedReason PowerLoss."""
    if action == "StopTransaction":
        return payload.get("reason") == "PowerLoss"
    return (
        action == "TransactionEvent"
        and payload["event_type"] == "Ended"
        and payload["transaction_info"].get("stopped_reason") == "PowerLoss"
    )


TRANSACTION_ACTIONS = {"StartTransaction", "StopTransaction", "MeterValues", "TransactionEvent"}


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
def test_ocpp_central_system_sees_station_recover_from_power_cut(
    core: Backend, version: str, tmp_path: Path
) -> None:
    """A power cut while offline, against the `ocpp` package's central system (C16 3.7 and
    7.36 PowerLoss; 2.x E11/E12, TC_E_40_CS..TC_E_45_CS): `ocppfast station --data-dir`
    charges (a remote start), loses the link, queues its meter samples, and is SIGKILLed.
    Started again on the same data, it sends its BootNotification first (J16 5.4, B01), then
    every message it had queued, in order and exactly once, then the end of the interrupted
    transaction: 1.6 StopTransaction reason PowerLoss; 2.x TransactionEvent Ended, stoppedReason
    PowerLoss, triggerReason AbnormalCondition. The same checks as
    tests/test_station_power_cut.py makes against `ocppfast serve`."""
    identity = "CP-powercut"
    data_dir = tmp_path / "station"
    data_file = data_dir / "station.sqlite3"
    processes: list[CliProcess] = []

    async def main() -> None:
        async with CentralSystem(version) as cs:
            args = station_args(cs, identity, version, "--data-dir", str(data_dir),
                                "--meter-interval", "1")  # fmt: skip
            processes.append(CliProcess(core, *args, cwd=str(tmp_path)))
            await cs.wait_for("BootNotification")
            cp = cs.charge_point
            if version == "ocpp1.6":
                await cs.wait_for("StatusNotification", connector_id=1, status="Available")
                remote = ocpp.v16.call.RemoteStartTransaction(id_tag="POWERCUT1", connector_id=1)
                assert (await cp.call(remote)).status == "Accepted"
                start = await cs.wait_for("StartTransaction", id_tag="POWERCUT1")
                meter = await cs.wait_for("MeterValues")
                transaction_id = meter["transaction_id"]
                sample = "MeterValues"
            else:
                await cs.wait_for("StatusNotification", connector_status="Available")
                remote = PACKAGES[version].call.RequestStartTransaction(
                    id_token={"id_token": "POWERCUT1", "type": "Central"}, remote_start_id=1
                )
                assert (await cp.call(remote)).status == "Accepted"
                start = await cs.wait_for("TransactionEvent", event_type="Started")
                transaction_id = start["transaction_info"]["transaction_id"]
                sample = "TransactionEvent"
            # The link is cut; the station queues its samples (on disk before they count as
            # sent); once two are there, the power goes.
            await cs.go_away()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while sum(a == sample for a, _ in await queued_on_disk(data_file, identity)) < 2:
                assert loop.time() < deadline, processes[0].log
                await asyncio.sleep(0.2)
            assert processes[0].stop(signal.SIGKILL) == -signal.SIGKILL
            queued = await queued_on_disk(data_file, identity)
            assert all(action in TRANSACTION_ACTIONS for action, _ in queued), queued

            await cs.come_back()
            mark = len(cs.received)
            processes.append(CliProcess(core, *args, cwd=str(tmp_path)))
            if version == "ocpp1.6":
                end = await cs.wait_for("StopTransaction", start=mark, timeout=60,
                                        reason="PowerLoss")  # fmt: skip
                assert end["transaction_id"] == transaction_id
                assert end["meter_stop"] >= start["meter_start"]
            else:
                end = await cs.wait_for(
                    "TransactionEvent",
                    start=mark,
                    timeout=60,
                    event_type="Ended",
                    trigger_reason="AbnormalCondition",
                )
                assert end["transaction_info"]["transaction_id"] == transaction_id
                assert end["transaction_info"]["stopped_reason"] == "PowerLoss"
            calls = cs.received[mark:]
            # J16 5.4 / B01: a rebooted station's first message is its BootNotification.
            assert calls[0][0] == "BootNotification", calls
            transaction_calls = [call for call in calls if call[0] in TRANSACTION_ACTIONS]
            # Every queued message, in order, exactly once, then the end the power cut caused.
            assert transaction_calls[: len(queued)] == queued
            rest = transaction_calls[len(queued) :]
            assert len(rest) == 1 and power_loss_end(*rest[0]), rest
            # In a thread: the central system runs on this loop and answers what the station
            # sends while it shuts down.
            assert await asyncio.to_thread(processes[1].stop) == 0, processes[1].log

    try:
        run(main(), 180)
    except BaseException:
        for process in processes:
            process.__exit__()
            print(process.log)
        raise
    assert processes[1].count(r"(?i)power ?loss") >= 1, processes[1].log
    for process in processes:
        assert process.count(r"Traceback|InternalError") == 0, process.log


def first_arrival_seed(identity: str, pause: float, low: float, high: float) -> int:
    """A `--seed` with which the driver at connector 1 of `identity` first arrives between `low`
    and `high` seconds after the boot: its first draw is a random part of the pause
    (`ChargingLoop.run`), from the generator `ChargingPlan.rng` gives it."""
    return next(
        seed
        for seed in itertools.count()
        if low <= ChargingPlan(seed=seed).rng(identity, 1).uniform(0.0, pause) <= high
    )


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
def test_ocpp_central_system_offline_start_from_local_list_then_deauthorized(
    core: Backend, version: str
) -> None:
    """An offline start from the local authorization list, refused once the link is back,
    against the `ocpp` package's central system. 1.6: LocalAuthorizeOffline with a token of
    the list (C16 3.5, 3.5.4, 3.7), the queued StartTransaction arrives after the reconnection
    with that token, its idTagInfo Invalid, and StopTransactionOnInvalidId ends the transaction
    with reason DeAuthorized (C16 9.1.x StopTransactionOnInvalidId). 2.x: TC_E_16_CS (E06,
    C15.FR.04) from the StartOfflineTransaction state with the token in the local list (D01,
    C13 LocalAuthorizeOffline): TransactionEvent Started with offline true and that token,
    answered Invalid; TxCtrlr.StopTxOnInvalidId: Ended, triggerReason Deauthorized,
    stoppedReason DeAuthorized.

    The driver is `ocppfast station --transactions` with the list's token as its only one;
    `--seed` makes it arrive after the link is cut (a random part of `--pause` after the boot)."""
    identity = "CP-offline"
    token = "LOCAL-1"
    seed = first_arrival_seed(identity, pause=10.0, low=6.0, high=9.0)
    processes: list[CliProcess] = []

    async def main() -> None:
        async with CentralSystem(version) as cs:
            args = station_args(cs, identity, version, "--transactions", "--id-tokens", token,
                                "--seed", str(seed), "--pause", "10", "--charge-time", "600",
                                "--progress-interval", "0")  # fmt: skip
            processes.append(CliProcess(core, *args))
            station = processes[0]
            await cs.wait_for("BootNotification")
            cp = cs.charge_point
            call = PACKAGES[version].call
            if version == "ocpp1.6":
                await cs.wait_for("StatusNotification", connector_id=1, status="Available")
                offline = call.ChangeConfiguration(key="LocalAuthorizeOffline", value="true")
                assert (await cp.call(offline)).status == "Accepted"
                entry = {"id_tag": token, "id_tag_info": {"status": "Accepted"}}
                sent = await cp.call(
                    call.SendLocalList(
                        list_version=1, update_type="Full", local_authorization_list=[entry]
                    )
                )
                started_pattern = rf"transaction started on connector 1 \(id tag {token}"
            else:
                await cs.wait_for("StatusNotification", connector_status="Available")
                entry = {
                    "id_token": {"id_token": token, "type": "ISO14443"},
                    "id_token_info": {"status": "Accepted"},
                }
                sent = await cp.call(
                    call.SendLocalList(
                        version_number=1, update_type="Full", local_authorization_list=[entry]
                    )
                )
                started_pattern = r"transaction \S+ started on EVSE 1"
            assert sent.status == "Accepted"
            await cs.go_away()
            # Meanwhile the token was blocked centrally: the list the station holds is stale.
            cs.invalid_tokens.add(token)
            # The driver arrives and charges while the link is down.
            await asyncio.to_thread(station.wait_for, started_pattern, 30)
            transaction_actions = {"Authorize", "StartTransaction", "TransactionEvent"}
            assert not [a for a, _ in cs.received if a in transaction_actions], cs.received
            mark = len(cs.received)
            await cs.come_back()
            if version == "ocpp1.6":
                start = await cs.wait_for("StartTransaction", start=mark, timeout=30)
                assert start["id_tag"] == token and start["connector_id"] == 1
                stop = await cs.wait_for("StopTransaction", start=mark)
                assert stop["reason"] == "DeAuthorized"
                assert stop["transaction_id"] == cs.transaction_ids[-1]
                assert stop["meter_stop"] >= start["meter_start"]
            else:
                begun = await cs.wait_for(
                    "TransactionEvent", start=mark, timeout=30, event_type="Started"
                )
                assert begun["offline"] is True
                assert begun["id_token"] == {"id_token": token, "type": "ISO14443"}
                transaction_id = begun["transaction_info"]["transaction_id"]
                ended = await cs.wait_for("TransactionEvent", start=mark, event_type="Ended")
                assert ended["trigger_reason"] == "Deauthorized"
                assert ended["transaction_info"]["transaction_id"] == transaction_id
                assert ended["transaction_info"]["stopped_reason"] == "DeAuthorized"
            # In a thread, as the wait above: the central system answers while it shuts down.
            assert await asyncio.to_thread(station.stop) == 0, station.log

    try:
        run(main(), 120)
    except BaseException:
        for process in processes:
            process.__exit__()
            print(process.log)
        raise
    assert processes[0].count(r"Traceback|InternalError") == 0, processes[0].log
