"""The CSMS keeps the security events stations report (SW 5.15 SecurityEventNotification, A04.FR.03;
2.0.1 / 2.1 A04, TC_A_19_CSMS-like: the CSMS accepts and stores them) and the operator API shows
them: `GET /api/stations/{identity}/security-events`, newest first, paged, each with the spec's
criticality for the station's version.

Real stations (`Station16`, `StationV2` behind the asyncio `Client`) over a real WebSocket on
127.0.0.1, on both core backends; the CSMS's state in memory, in SQLite and in PostgreSQL
(`state_url`), the stored ones read back after the CSMS restarts.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest

from ocppfast import v16
from ocppfast._core import Backend
from ocppfast.asyncio import Client
from ocppfast.csms.state import SECURITY_EVENTS
from ocppfast.csms.store import close_state, open_state
from ocppfast.station.config import StationConfig
from ocppfast.station.v2 import StationV2
from ocppfast.station.v16 import Station16
from tests.aio import run
from tests.test_api import running

T0 = datetime.datetime(2026, 11, 21, 9, 30, tzinfo=datetime.timezone.utc)


@pytest.fixture(params=["ocpp1.6", "ocpp2.0.1"])
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make(version: str, identity: str) -> Any:
    config = StationConfig(identity, serial_number="SN-7", connectors=1)
    clock = lambda: T0  # noqa: E731  (the events' timestamps are the station's)
    if version == "ocpp1.6":
        return Station16(config, clock=clock)
    return StationV2(config, version, clock=clock)


def test_security_events_in_the_spec_lists() -> None:
    """SW 8: 18 events, 7 critical; 2.0.1 appendix 1: 20, 13 critical; 2.1 chapter 1: 21, 16
    critical (InvalidFirmwareSignature / InvalidFirmwareSigningCertificate became critical,
    DiscardedRenewedClientCertificate is new)."""
    counts = {v: (len(events), sum(events.values())) for v, events in SECURITY_EVENTS.items()}
    assert counts == {"ocpp1.6": (18, 7), "ocpp2.0.1": (20, 13), "ocpp2.1": (21, 16)}
    assert SECURITY_EVENTS["ocpp1.6"]["InvalidTLSVersion"] is False
    assert SECURITY_EVENTS["ocpp2.0.1"]["InvalidTLSVersion"] is True


def test_security_events_stored_and_listed_newest_first(
    core: Backend, version: str, state_url: str
) -> None:
    """A real station boots (StartupOfTheDevice, critical) and is refused a signed firmware
    update (InvalidFirmwareSigningCertificate: SW L01.FR.02 / L01.FR.02 of 2.0.1, not
    critical in SW 8 and 2.0.1 appendix 1); the API lists both, newest first, paged by
    `limit` and `offset`; a stored state has them after the CSMS restarts."""
    identity = f"SEC-{version[4:].replace('.', '')}"

    async def main() -> None:
        state = await open_state(state_url)
        try:
            async with running(state, core) as csms:
                station = make(version, identity)
                client = Client(csms.server.url, identity, station, versions=(version,), core=core)
                task = asyncio.create_task(client.run())
                await asyncio.wait_for(station.booted.wait(), 10)
                connection = csms.server.connection(identity)
                assert connection is not None
                if version == "ocpp1.6":
                    request: Any = v16.SignedUpdateFirmwareRequest(
                        request_id=1,
                        firmware=v16.Firmware(
                            location="https://fw.example/1.bin",
                            retrieve_date_time=T0,
                            signing_certificate="-----BEGIN CERTIFICATE-----",
                            signature="c2ln",
                        ),
                    )
                else:
                    m = station._m
                    request = m.UpdateFirmwareRequest(
                        request_id=1,
                        firmware=m.Firmware(
                            location="https://fw.example/1.bin",
                            retrieve_date_time=T0,
                            signing_certificate="-----BEGIN CERTIFICATE-----",
                            signature="c2ln",
                        ),
                    )
                await connection.call(request)

                path = f"/api/stations/{identity}/security-events"

                deadline = asyncio.get_running_loop().time() + 10
                while True:  # the station sends them on its own time
                    status, body = await csms.request("GET", path)
                    assert status == 200, body
                    if len(body["events"]) == 2:
                        break
                    assert asyncio.get_running_loop().time() < deadline, body
                    await asyncio.sleep(0.05)
                newest, oldest = body["events"]
                assert newest["type"] == "InvalidFirmwareSigningCertificate"
                assert newest["critical"] is False
                assert newest["techInfo"] == "no manufacturer root certificate installed"
                assert oldest == {
                    "type": "StartupOfTheDevice",
                    "timestamp": "2026-11-21T09:30:00Z",
                    "techInfo": "booted",
                    "critical": True,
                    "receivedAt": oldest["receivedAt"],
                }
                received = datetime.datetime.fromisoformat(oldest["receivedAt"])
                assert received.tzinfo is not None

                status, page = await csms.request("GET", f"{path}?limit=1")
                assert status == 200
                assert [e["type"] for e in page["events"]] == ["InvalidFirmwareSigningCertificate"]
                assert page["next"] == f"{path}?limit=1&offset=1"
                status, page = await csms.request("GET", page["next"])
                assert [e["type"] for e in page["events"]] == ["StartupOfTheDevice"]
                assert page["next"] is None

                status, body = await csms.request("GET", "/api/stations/NOBODY/security-events")
                assert status == 404 and body["error"]["code"] == "not_found"
                status, body = await csms.request("GET", f"{path}?limit=0")
                assert status == 400

                await client.stop()
                await task
                await station.shutdown()
        finally:
            await close_state(state)
        if state_url == "memory":
            return
        again = await open_state(state_url)
        try:
            kept = await again.security_events(identity)
            assert [e.type for e in kept] == [
                "InvalidFirmwareSigningCertificate",
                "StartupOfTheDevice",
            ]
            assert kept[1].timestamp == T0 and kept[1].tech_info == "booted"
            assert [e.type for e in await again.security_events(identity, offset=1)] == [
                "StartupOfTheDevice"
            ]
        finally:
            await close_state(again)

    run(main())


def test_openapi_documents_the_route() -> None:
    from ocppfast.api.openapi import openapi_document
    from ocppfast.api.routes import ROUTES

    document: Any = openapi_document(ROUTES)
    operation = document["paths"]["/api/stations/{identity}/security-events"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"identity", "limit", "offset"}
