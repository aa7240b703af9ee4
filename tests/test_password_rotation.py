"""Password rotation (SW A01 "Update Charge Point Password for HTTP Basic Authentication";
2.0.1 A01, TC_A_09/TC_A_10, both roles), end to end over real sockets on 127.0.0.1: the CSMS
(`Server`, a `StoredState` on SQLite, the operator API) and the simulated stations (`Station16`,
`StationV2` run by the asyncio `Client` as the fleet runs them), with both core backends.

What is shown: the API route generates the password, never answers or logs it; after Accepted
only the new password gets in (A01.FR.03); after a refusal only the old one (A01.FR.04); after
a lost answer both, until the station has used the new one, also across a restart of the CSMS
and of the station; the station keeps its old password until the new one worked, and falls back
to it when the CSMS refuses the new one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ocppfast._core import Backend
from ocppfast.api import ApiServer
from ocppfast.asyncio import BackOff, Client, Server
from ocppfast.csms import default_csms
from ocppfast.csms.state import CsmsState
from ocppfast.csms.store import close_state, open_state
from ocppfast.csms.traffic import TrafficLog
from ocppfast.station import StationConfig, station_handlers
from ocppfast.station.fleet import _password_of, attach
from ocppfast.station.store import StationStore
from tests.aio import run, until

TOKEN = "rotation-operator-token-0123456789abcdef"
OLD = {"ocpp1.6": "00112233445566778899AABBCCDDEEFF00112233", "ocpp2.0.1": "old-Password-012345"}
OLD["ocpp2.1"] = OLD["ocpp2.0.1"]
FAST = BackOff(wait_minimum=0.05, random_range=0.0, repeat_times=0)


class Csms:
    """A running CSMS: state, station server, operator API, an authorized HTTP client."""

    def __init__(self, state: CsmsState, server: Server, api: ApiServer) -> None:
        self.state, self.server, self.api = state, server, api
        self.http = aiohttp.ClientSession(
            base_url=api.url, headers={"Authorization": f"Bearer {TOKEN}"}
        )

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any, str]:
        async with self.http.request(method, path, json=body) as response:
            text = await response.text()
            return response.status, json.loads(text) if text else None, text


@contextlib.asynccontextmanager
async def csms(database: str, core: Backend, port: int = 0) -> AsyncIterator[Csms]:
    state = await open_state(database)
    server = Server(
        default_csms(state),
        port=port,
        credentials=state.credentials,
        admits=state.admits,
        profiles=state,
        core=core,
        call_timeout=5,
        observer=TrafficLog(state),  # what GET .../messages shows: no password either
    )
    await server.start()
    api = ApiServer(state, server, token=TOKEN, port=0)
    await api.start()
    running = Csms(state, server, api)
    try:
        yield running
    finally:
        await running.http.close()
        await api.stop()
        await server.stop()
        await close_state(state)


@contextlib.asynccontextmanager
async def station(
    url: str, version: str, core: Backend, data: Any = None, identity: str = "CP1"
) -> AsyncIterator[tuple[Any, Client]]:
    """A simulated station of `version`, connected as the fleet connects it (`attach`)."""
    cs = station_handlers(StationConfig(identity), version, OLD[version], data)
    client = Client(url, identity, cs, versions=[version], password=_password_of(cs), core=core)
    attach(cs, client)
    client.backoff = FAST
    task = asyncio.ensure_future(client.run())
    try:
        yield cs, client
    finally:
        await client.stop()
        await task


def basic(identity: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()


async def handshake(server: Server, identity: str, password: str, version: str) -> int:
    """The HTTP status a handshake with `password` gets (101: it got in; closed at once)."""
    try:
        async with connect(
            f"{server.url}/{identity}",
            subprotocols=[version],  # type: ignore[list-item]
            additional_headers=[("Authorization", basic(identity, password))],
            open_timeout=10,
        ):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def current_password(cs: Any) -> str:
    password = cs.authorization_key if hasattr(cs, "authorization_key") else cs.basic_auth_password
    assert isinstance(password, str)
    return password


async def register(c: Csms, version: str) -> None:
    status, _, _ = await c.request(
        "POST", "/api/stations", {"identity": "CP1", "password": OLD[version]}
    )
    assert status == 201


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
def test_rotation_accepted_tc_a_09(
    core: Backend, version: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """TC_A_09_CSMS / TC_A_09_CS (A01.FR.01-03, A01.FR.07): the API sends a random new password
    (1.6 ChangeConfiguration AuthorizationKey, 2.x SetVariables SecurityCtrlr.BasicAuthPassword);
    the station accepts it and reconnects with it (1.6 by itself, SW A01; 2.x when told to);
    the old one is refused from then on; the station forgets its old one once the new one
    worked. Neither password appears in an API answer or a log line."""
    caplog.set_level(logging.DEBUG)
    database = f"sqlite:///{tmp_path / 'csms.sqlite3'}"

    async def main() -> tuple[str, list[str]]:
        async with csms(database, core) as c:
            await register(c, version)
            async with station(c.server.url, version, core) as (cs, client):
                await until(lambda: c.server.connection("CP1") is not None)
                first = c.server.connection("CP1")
                assert c.state.security_profile("CP1") == 1
                status, body, text = await c.request("POST", "/api/stations/CP1/password", {})
                assert status == 200, body
                assert body["status"] == "Accepted" and body["accepted"] == ["new"]
                assert body["generated"] is True
                new = current_password(cs)
                assert new != OLD[version]
                assert cs.previous_passwords == [OLD[version]]
                if version != "ocpp1.6":
                    await client.reconnect()
                await until(lambda: c.server.connection("CP1") not in (None, first))
                await until(lambda: not cs.previous_passwords)
                assert await handshake(c.server, "CP1", OLD[version], version) == 401
                _, view, view_text = await c.request("GET", "/api/stations/CP1")
                assert view["hasPassword"] and not view["passwordRotationPending"]
                _, _, list_text = await c.request("GET", "/api/stations")
                status, frames, frames_text = await c.request("GET", "/api/stations/CP1/messages")
                assert status == 200 and frames["messages"], frames
                return new, [text, view_text, list_text, frames_text]

    new, answers = run(main())
    for text in answers:
        assert new not in text and OLD[version] not in text
    for record in caplog.records:
        if record.name.startswith(("ocppfast", "websockets.server")):
            line = record.getMessage()
            assert new not in line and OLD[version] not in line, line
            assert basic("CP1", new)[6:] not in line


def test_rotation_rejected_keeps_the_old_password_tc_a_10(core: Backend, tmp_path: Path) -> None:
    """TC_A_10_CSMS / TC_A_10_CS (A01.FR.04): the station rejects the new password (a space is
    not in passwordString); the CSMS keeps accepting the old one only, and the station keeps
    using it."""
    database = f"sqlite:///{tmp_path / 'csms.sqlite3'}"
    refused = "not a valid pass word"

    async def main() -> None:
        async with csms(database, core) as c:
            await register(c, "ocpp2.0.1")
            async with station(c.server.url, "ocpp2.0.1", core) as (cs, client):
                await until(lambda: c.server.connection("CP1") is not None)
                status, body, _ = await c.request(
                    "POST", "/api/stations/CP1/password", {"password": refused}
                )
                assert status == 200 and body["status"] == "Rejected", body
                assert body["accepted"] == ["old"] and body["generated"] is False
                assert c.state.credentials.pending("CP1") is None
                assert current_password(cs) == OLD["ocpp2.0.1"] and not cs.previous_passwords
                first = c.server.connection("CP1")
                await client.reconnect()
                await until(lambda: c.server.connection("CP1") not in (None, first))
                assert await handshake(c.server, "CP1", refused, "ocpp2.0.1") == 401

    run(main())


def test_rotation_lost_answer_survives_restarts_of_both(core: Backend, tmp_path: Path) -> None:
    """SW A01 robustness: the station takes the new password but its answer is lost (the
    connection drops before it leaves): the API says NoAnswer and the CSMS accepts both
    passwords. The CSMS restarts (the pending password is stored) and the station crashes and
    restarts from its data file (it kept both): it gets in with the new one, after which the
    CSMS refuses the old one and the station forgets it."""
    database = f"sqlite:///{tmp_path / 'csms.sqlite3'}"
    station_file = tmp_path / "station.sqlite3"

    async def main() -> None:
        async with csms(database, core) as c:
            await register(c, "ocpp2.0.1")
            port = c.server.port
            store = await StationStore.open(station_file)
            async with station(c.server.url, "ocpp2.0.1", core, await store.load("CP1")) as (
                cs,
                client,
            ):
                await until(lambda: c.server.connection("CP1") is not None)
                applied = cs.password_changed

                def lose_the_answer(new: str) -> None:
                    # The station has taken the password (written before its answer) when the
                    # link drops: the answer never leaves. Its reconnections then fail (a dead
                    # port) until it "crashes" below.
                    applied(new)
                    connection = client.connection
                    assert connection is not None
                    client.url = "ws://127.0.0.1:9"
                    connection.transport.ws.transport.abort()  # type: ignore[attr-defined]

                cs.password_changed = lose_the_answer
                status, body, _ = await c.request(
                    "POST", "/api/stations/CP1/password", {"timeout": 5}
                )
                assert status == 200 and body["status"] == "NoAnswer", body
                assert body["accepted"] == ["old", "new"]
                new = current_password(cs)
                assert cs.previous_passwords == [OLD["ocpp2.0.1"]]
                await cs.data.flush()
            await store.close()  # the station process is gone
        assert new != OLD["ocpp2.0.1"]
        async with csms(database, core, port=port) as c:  # the CSMS restarted
            assert c.state.credentials.pending("CP1") is not None
            _, view, _ = await c.request("GET", "/api/stations/CP1")
            assert view["passwordRotationPending"] is True
            store = await StationStore.open(station_file)
            try:
                data = await store.load("CP1")
                async with station(c.server.url, "ocpp2.0.1", core, data) as (cs, _client):
                    assert current_password(cs) == new
                    assert cs.previous_passwords == [OLD["ocpp2.0.1"]]
                    await until(lambda: c.server.connection("CP1") is not None)
                    await until(lambda: not cs.previous_passwords)
                    assert c.state.credentials.pending("CP1") is None
                    assert await handshake(c.server, "CP1", OLD["ocpp2.0.1"], "ocpp2.0.1") == 401
                    assert await handshake(c.server, "CP1", new, "ocpp2.0.1") == 101
            finally:
                await store.close()

    run(main(), timeout=60)


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
def test_station_falls_back_to_its_old_password(
    core: Backend, version: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The station accepted a new password the CSMS does not know (sent through the generic
    /calls route, which bypasses the rotation): its reconnection with the new one gets 401,
    so it falls back to the old one within the same attempt and gets in; it keeps both until
    the new one works."""
    caplog.set_level(logging.INFO)
    database = f"sqlite:///{tmp_path / 'csms.sqlite3'}"
    if version == "ocpp1.6":
        new = "FFEEDDCCBBAA99887766554433221100FFEEDDCC"
        call = {
            "action": "ChangeConfiguration",
            "payload": {"key": "AuthorizationKey", "value": new},
        }
    else:
        new = "unknown-to-the-csms-01"
        call = {
            "action": "SetVariables",
            "payload": {
                "setVariableData": [
                    {
                        "attributeValue": new,
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                    }
                ]
            },
        }

    async def main() -> None:
        async with csms(database, core) as c:
            await register(c, version)
            async with station(c.server.url, version, core) as (cs, client):
                await until(lambda: c.server.connection("CP1") is not None)
                first = c.server.connection("CP1")
                status, body, _ = await c.request("POST", "/api/stations/CP1/calls", call)
                assert status == 200, body
                assert current_password(cs) == new
                if version != "ocpp1.6":
                    await client.reconnect()
                await until(lambda: c.server.connection("CP1") not in (None, first))
                assert cs.previous_passwords == [OLD[version]]

    run(main())
    assert any("trying the previous one" in r.getMessage() for r in caplog.records)


def test_rotation_needs_a_connected_station_and_a_valid_password(
    core: Backend, tmp_path: Path
) -> None:
    """The route answers 404 for a station that is not connected, 422 for a password the
    station's version does not allow (1.6: hexadecimal; 2.x: 16 to 40 characters), and never
    quotes the password in its error."""
    database = f"sqlite:///{tmp_path / 'csms.sqlite3'}"

    async def main() -> None:
        async with csms(database, core) as c:
            await register(c, "ocpp1.6")
            status, _, _ = await c.request("POST", "/api/stations/CP1/password", {})
            assert status == 404
            async with station(c.server.url, "ocpp1.6", core):
                await until(lambda: c.server.connection("CP1") is not None)
                status, body, text = await c.request(
                    "POST", "/api/stations/CP1/password", {"password": "not-hex-password-123"}
                )
                assert status == 422, body
                assert "not-hex-password-123" not in text
                assert c.state.credentials.pending("CP1") is None

    run(main())
