"""Network connection profiles (B09, B10) over real WebSockets: a `StationV2` run by a `Client`
the way `ocppfast station` runs it (`ocppfast.station.fleet.attach`), with test CSMSs on
127.0.0.1. The OCA cases TC_B_45_CS, TC_B_46_CS and TC_B_49_CS are in tests/test_station_oca.py
and use the servers of this module; here are the Client's hook, the fallback after a lost
connection (no reboot), what survives a restart, and the profiles SetNetworkProfile refuses."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from ocppfast._core import Backend
from ocppfast.asyncio import Connection, Handlers
from ocppfast.asyncio.client import BackOff, Client, ConnectError, connection_url
from ocppfast.station.config import StationConfig
from ocppfast.station.fleet import attach
from ocppfast.station.v2 import NetworkEndpoint, StationV2
from ocppfast.transport.websocket import WebSocketTransport
from tests import aio
from tests.test_station_v2 import (
    MODULES,
    V2,
    WAIT,
    Csms,
    booted,
    get,
    make_station,
    put,
    ready,
    run,
    set_variables,
    wire,
)

# The Basic auth password the stations connect with: it must never show in a log.
PASSWORD = "Secret-Passw0rd-4711"
# No waiting between attempts (OCPPCommCtrlr.RetryBackOff*, J201 5.3): tests set these first.
NO_BACK_OFF = (
    ("OCPPCommCtrlr", "RetryBackOffWaitMinimum", "0"),
    ("OCPPCommCtrlr", "RetryBackOffRandomRange", "0"),
)


class CsmsServer:
    """The test CSMS `csms` (tests/test_station_v2.py) behind a WebSocket server on 127.0.0.1,
    port chosen by the OS. Each connection request is noted in `attempts` (shared between
    servers, to see the order the station tried them in) as `name`, or `name` + " refused" for
    the next `refuse` requests, which are answered HTTP 503 (P6: "the connection attempt is not
    accepted"). `connection` is the CSMS's end of the last connection (its `call()` drives the
    station); `paths` the request paths."""

    def __init__(
        self, core: Backend, version: str, name: str, attempts: list[str], csms: Csms | None = None
    ) -> None:
        self.core = core
        self.version = version
        self.name = name
        self.attempts = attempts
        self.csms = csms if csms is not None else Csms()
        self.refuse = 0
        self.paths: list[str] = []
        self.connections: list[Connection] = []
        self._server: Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The CSMS endpoint URL (ocppCsmsUrl): the station appends its identity."""
        return f"ws://127.0.0.1:{self.port}/ocpp"

    @property
    def connection(self) -> Connection:
        return self.connections[-1]

    async def __aenter__(self) -> CsmsServer:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            subprotocols=[self.version],
            process_request=self._check,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stop listening and close every connection (a CSMS that went away)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _check(self, ws: ServerConnection, request: Request) -> Response | None:
        self.paths.append(request.path)
        if self.refuse > 0:
            self.refuse -= 1
            self.attempts.append(f"{self.name} refused")
            return ws.respond(HTTPStatus.SERVICE_UNAVAILABLE, "not now\n")
        self.attempts.append(self.name)
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        connection = Connection(
            WebSocketTransport(ws), role="csms", handlers=self.csms, core=self.core
        )
        self.connections.append(connection)
        await connection.run()


class SilentServer:
    """Accepts TCP connections and never answers the opening handshake: TC_B_46_CS step 7,
    "The OCTT will NOT respond to the two connection request[s]". Each is noted in `attempts`
    as `name`."""

    def __init__(self, name: str, attempts: list[str]) -> None:
        self.name = name
        self.attempts = attempts
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    async def __aenter__(self) -> SilentServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.attempts.append(self.name)
        self._writers.append(writer)
        with contextlib.suppress(ConnectionError):
            await reader.read()  # until the station gives up and closes


@contextlib.asynccontextmanager
async def attached(
    core: Backend, version: str, url: str, **options: Any
) -> AsyncIterator[tuple[StationV2, Client]]:
    """A new station ("CP1", two EVSEs, password `PASSWORD`) run by a Client to `url`, wired as
    the CLI wires it (`attach`): yields (station, client); stops the client at the end.
    `options` go to the Client."""
    station = make_station(version)
    station.basic_auth_password = PASSWORD
    client = Client(url, "CP1", station, versions=[version], core=core, **options)
    attach(station, client)
    task = asyncio.create_task(client.run())
    try:
        yield station, client
    finally:
        await client.stop()
        await asyncio.wait_for(task, WAIT)


def network_profile(m: Any, slot: int, url: str, **fields: Any) -> Any:
    """A SetNetworkProfileRequest as P6's cases send it: <Configured messageTimeout> (30 s),
    ocppInterface, ocppVersion OCPP20, ocppTransport JSON, <Configured securityProfile> (1)."""
    data: dict[str, Any] = {
        "ocpp_version": "OCPP20",
        "ocpp_transport": "JSON",
        "ocpp_csms_url": url,
        "message_timeout": 30,
        "security_profile": 1,
        "ocpp_interface": "Wired0",
    }
    data.update(fields)
    return m.SetNetworkProfileRequest(
        configuration_slot=slot, connection_data=m.NetworkConnectionProfile(**data)
    )


async def configure(connection: Connection, *items: tuple[str, str, str]) -> list[str]:
    """SetVariables (component, variable, value), one request: the statuses."""
    m = MODULES[connection.version]
    return await set_variables(connection, *(put(m, *item) for item in items))


async def active_profile(connection: Connection) -> str:
    """OCPPCommCtrlr.ActiveNetworkProfile, read by the CSMS."""
    m = MODULES[connection.version]
    response = await connection.call(
        m.GetVariablesRequest(get_variable_data=[get(m, "OCPPCommCtrlr", "ActiveNetworkProfile")])
    )
    return str(response.get_variable_result[0].attribute_value)


def switches(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The station's WARNING lines that say which network profile it uses from now on."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "ocppfast.station"
        and record.levelno == logging.WARNING
        and "from now on" in record.getMessage()
    ]


# ------------------------------------------------------------------------------------------


def test_client_attempt_failed_lets_the_runner_try_elsewhere(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """`Client(attempt_failed=)`, for library users: told of each failed attempt of `run()`
    with its ConnectError (the URL tried), before the next one, which goes to the `url` the
    callback set; a callback that raises is logged and the client goes on."""

    async def main() -> None:
        dead = f"ws://127.0.0.1:{aio.free_port()}/ocpp"
        async with CsmsServer(core, "ocpp2.0.1", "live", []) as live:
            failures: list[ConnectError] = []

            def failed(error: ConnectError) -> None:
                failures.append(error)
                if len(failures) == 1:
                    raise RuntimeError("a bug in the runner")
                client.url = live.url

            client = Client(
                dead, "CP1", Handlers, backoff=BackOff(0, 0, 0), core=core, attempt_failed=failed
            )
            task = asyncio.create_task(client.run())
            try:
                await client.wait_connected(WAIT)
                assert [e.url for e in failures] == [connection_url(dead, "CP1")] * 2
                assert live.paths == ["/ocpp/CP1"]
            finally:
                await client.stop()
                await task

    with caplog.at_level(logging.INFO, logger="ocppfast.client"):
        run(main())
    assert "CP1: attempt_failed callback failed" in caplog.text


@pytest.mark.parametrize("version", V2)
def test_a_lost_connection_falls_back_to_the_next_profile_and_registers_there(
    core: Backend, version: str, caplog: pytest.LogCaptureFixture
) -> None:
    """B10.FR.03 after a lost connection, no reboot: with NetworkConfigurationPriority "1,2" in
    effect (a reboot after setting it) and the CSMS of slot 1 gone, the station makes
    NetworkProfileConnectionAttempts (2) attempts, then connects with slot 2 and, as it did not
    register there, sends a BootNotification (B10.FR.10: reason Unknown, no startup security
    event). The transaction goes on and what was queued offline reaches the new CSMS (E11,
    offline true). A later loss keeps it on slot 2: it resumes there without a boot (J201 5.3).
    The switch is logged at WARNING with slot and URL; the password never."""

    async def main() -> None:
        attempts: list[str] = []
        async with (
            CsmsServer(core, version, "old", attempts) as old,
            CsmsServer(core, version, "new", attempts) as new,
            attached(core, version, old.url) as (station, client),
        ):
            m = MODULES[version]
            await ready(station, old.csms)
            connection = old.connection
            attempts_item = ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "2")
            assert await configure(connection, *NO_BACK_OFF, attempts_item) == ["Accepted"] * 3
            assert wire((await connection.call(network_profile(m, 2, new.url))).status) == (
                "Accepted"
            )
            priority = ("OCPPCommCtrlr", "NetworkConfigurationPriority", "1,2")
            assert await configure(connection, priority) == ["RebootRequired"]
            assert wire((await connection.call(m.ResetRequest(type="OnIdle"))).status) == (
                "Accepted"
            )
            await old.csms.wait("BootNotification", 2)
            await aio.until(lambda: station.booted.is_set() and client.connected)
            transaction_id = await station.start_transaction(1, "TAG-1")
            started = await old.csms.wait("TransactionEvent")
            await old.stop()  # the CSMS of slot 1 goes away
            await aio.until(lambda: not client.connected)
            await station.sample_now(1)  # queued while offline

            (boot,) = await new.csms.wait("BootNotification")
            assert boot.reason == "Unknown"
            await asyncio.wait_for(station.booted.wait(), WAIT)
            (offline,) = await new.csms.wait("TransactionEvent", where=lambda r: r.offline)
            assert offline.transaction_info.transaction_id == transaction_id
            assert offline.seq_no > started[-1].seq_no
            assert station.transactions[1].id == transaction_id
            assert await active_profile(new.connection) == "2"
            # Attempts: the first connection, the one after the reboot, then slot 2 (the two
            # failed ones at slot 1 reached no server).
            assert attempts == ["old", "old", "new"]

            await new.connection.close()  # a lost connection: back to slot 2, no boot
            await aio.until(lambda: len(new.connections) == 2 and station.booted.is_set())
            assert station.active_network_profile == 2
            assert len(new.csms.of("BootNotification")) == 1
            assert attempts == ["old", "old", "new", "new"]
            await aio.until(lambda: not station.data.queue)
            assert new.csms.of("SecurityEventNotification") == []  # no startup: no reboot

    with caplog.at_level(logging.INFO):
        run(main())
    (switch,) = switches(caplog)
    assert switch.startswith("CP1: network profile 2 (ws://127.0.0.1:")
    assert "2 attempt(s) with network profile 1 failed" in switch
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize("version", V2)
def test_a_restarted_station_starts_with_the_first_profile_of_the_priority(
    core: Backend, version: str
) -> None:
    """B10.FR.04 after a power-up: NetworkConfigurationPriority needs a reboot (RebootRequired:
    the running station stays on slot 1), and a station built anew from the same data (a
    restart) connects with the first entry's profile, its ocppCsmsUrl and messageTimeout, even
    though it was provisioned with slot 1's URL; it keeps the slot it last connected with
    (the B10.FR.07 fallback). The password of an endpoint is never shown."""

    async def main() -> None:
        async with booted(core, version, Csms()) as (station, _csms, connection, m):
            request = network_profile(m, 2, "ws://new.example.com:9000/ocpp", message_timeout=45)
            assert wire((await connection.call(request)).status) == "Accepted"
            priority = ("OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1")
            assert await configure(connection, priority) == ["RebootRequired"]
            assert await active_profile(connection) == "1"
        restarted = StationV2(StationConfig("CP1", connectors=2), version, data=station.data)
        restarted.basic_auth_password = PASSWORD
        restarted.provision("ws://old.example.com/ocpp", 30)
        endpoint = restarted.network_endpoint
        assert endpoint == NetworkEndpoint(2, "ws://new.example.com:9000/ocpp", 45.0, 1, PASSWORD)
        assert restarted.active_network_profile == 2
        assert PASSWORD not in repr(endpoint)
        assert station.data.state["network"] == {"last_connected": 1}
        await restarted.shutdown()

    run(main())


@pytest.mark.parametrize("version", V2)
def test_set_network_profile_refuses_what_no_connection_can_use(
    core: Backend, version: str
) -> None:
    """B09.FR.02 (invalid data: Rejected) for what the station could never connect with (B10):
    an ocppCsmsUrl that is not ws:// or wss://, or has credentials; security profile 2 without
    TLS (wss://); a messageTimeout of 0; in 2.1 another identity than the station's. A profile
    of its own password (2.1 basicAuthPassword) is what that slot connects with."""

    async def main() -> None:
        async with booted(core, version, Csms()) as (station, _csms, connection, m):

            async def status(**fields: Any) -> str:
                url = fields.pop("url", "ws://csms.example.com/ocpp")
                response = await connection.call(network_profile(m, 2, url, **fields))
                return wire(response.status)

            assert await status(url="http://csms.example.com/ocpp") == "Rejected"
            assert await status(url="ws://user:pw@csms.example.com/ocpp") == "Rejected"
            assert await status(url="ws://csms.example.com/ocpp", security_profile=2) == "Rejected"
            assert await status(message_timeout=0) == "Rejected"
            assert 2 not in station.network_profiles
            own = "Another-Passw0rd-0815"
            if version == "ocpp2.1":
                assert await status(identity="CP2") == "Rejected"
                assert await status(identity="CP1", basic_auth_password=own) == "Accepted"
            else:
                assert await status() == "Accepted"
            assert station.network_profiles[2].ocpp_csms_url == "ws://csms.example.com/ocpp"
            # After a reboot with slot 2 first, that is where (and how) the station connects.
            priority = ("OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1")
            assert await configure(connection, priority) == ["RebootRequired"]
            await connection.call(m.ResetRequest(type="Immediate"))
            await aio.until(lambda: station.active_network_profile == 2)
            endpoint = station.network_endpoint
            assert endpoint is not None and endpoint.url == "ws://csms.example.com/ocpp"
            assert endpoint.password == (own if version == "ocpp2.1" else None)

    run(main())
