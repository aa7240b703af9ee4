"""The operator HTTP API (`ocppfast.api`): real sockets on 127.0.0.1 throughout, a CSMS
`Server` for the stations (which connect over WebSocket) and an `ApiServer` talked to with
aiohttp's client.

Tests of what the API stores run on the in-memory `CsmsState` and on `StoredState` over SQLite
and PostgreSQL (the `state_url` fixture of conftest, which makes its databases as `database_url`
does); tests of messages to stations run on both core backends (`core`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hmac
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from websockets.asyncio.client import connect

from ocppfast import v16, v21, v201
from ocppfast._core import BACKEND, Backend
from ocppfast._core.message import dec_hook
from ocppfast.api import ROUTES, ApiServer, create_app
from ocppfast.api.errors import payload_path
from ocppfast.asyncio import Connection, Handlers, on
from ocppfast.asyncio.server import Server
from ocppfast.csms import CsmsState, default_csms
from ocppfast.csms.store import StoredState, close_state, open_state
from ocppfast.exceptions import FormatViolationError, OCPPError
from ocppfast.transport.websocket import WebSocketTransport
from tests.aio import run, until

TOKEN = "tZ3-operator-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MODULES: dict[str, Any] = {"ocpp1.6": v16, "ocpp2.0.1": v201, "ocpp2.1": v21}
T0 = datetime.datetime(2026, 11, 21, 9, 30, tzinfo=datetime.timezone.utc)
PASSWORD = "s3cret-Passw0rd-of-20"


# -- fixtures and helpers -----------------------------------------------------------------------


class Csms:
    """A running CSMS: the state, the station server, the API, and an authorized client."""

    def __init__(self, state: CsmsState, server: Server, api: ApiServer) -> None:
        self.state = state
        self.server = server
        self.api = api
        self.http = aiohttp.ClientSession(base_url=api.url, headers=AUTH)

    async def request(
        self, method: str, path: str, body: Any = None, **options: Any
    ) -> tuple[int, Any]:
        """(status, decoded JSON or None) of a request; `body` is sent as JSON (bytes and str
        as they are)."""
        if body is not None:
            if isinstance(body, (bytes, str)):
                options["data"] = body
            else:
                options["json"] = body
        async with self.http.request(method, path, **options) as response:
            raw = await response.read()
            if response.status == 204:
                assert raw == b""
                return 204, None
            assert response.content_type == "application/json", (response.status, raw)
            return response.status, json.loads(raw)


@contextlib.asynccontextmanager
async def running(
    state: CsmsState,
    core: Backend | None = None,
    *,
    metrics: Any = None,
    call_timeout: float = 5.0,
    observer: Any = None,
) -> AsyncIterator[Csms]:
    server = Server(
        default_csms(state),
        observer=observer,
        host="127.0.0.1",
        port=0,
        admits=state.admits,
        credentials=state.credentials,
        core=core,
        call_timeout=call_timeout,
    )
    await server.start()
    api = ApiServer(state, server, token=TOKEN, port=0, metrics=metrics)
    await api.start()
    csms = Csms(state, server, api)
    try:
        yield csms
    finally:
        await csms.http.close()
        await api.stop()
        await server.stop()


def typed(cls: type, payload: dict[str, Any]) -> Any:
    return msgspec.json.decode(msgspec.json.encode(payload), type=cls, dec_hook=dec_hook)


class Answering(Handlers):
    """A station that answers what the CSMS sends with fixed results, and keeps the requests
    (`received`); it answers ClearCache with a CALLERROR, GetLocalListVersion never, and
    CancelReservation by closing its connection."""

    ANSWERS: dict[str, dict[str, Any]] = {
        "ChangeAvailability": {"status": "Accepted"},
        "ChangeConfiguration": {"status": "Accepted"},
        "DataTransfer": {"status": "Accepted", "data": "pong"},
        "GetConfiguration": {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
        },
        "RemoteStartTransaction": {"status": "Accepted"},
        "RemoteStopTransaction": {"status": "Accepted"},
        "RequestStartTransaction": {"status": "Accepted"},
        "RequestStopTransaction": {"status": "Accepted"},
        "Reset": {"status": "Accepted"},
        "TriggerMessage": {"status": "Accepted"},
        "UnlockConnector": {"status": "Unlocked"},
    }

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.triggered = asyncio.Event()

    def _answer(self, request: Any) -> Any:
        self.received.append(request)
        action = type(request).ACTION
        responses = MODULES[self.connection.version].messages.RESPONSES
        return typed(responses[action], self.ANSWERS[action])

    @on("ChangeAvailability")
    def change_availability(self, request: Any) -> Any:
        return self._answer(request)

    @on("ChangeConfiguration")
    def change_configuration(self, request: Any) -> Any:
        return self._answer(request)

    @on("DataTransfer")
    def data_transfer(self, request: Any) -> Any:
        return self._answer(request)

    @on("GetConfiguration")
    def get_configuration(self, request: Any) -> Any:
        return self._answer(request)

    @on("RemoteStartTransaction")
    def remote_start(self, request: Any) -> Any:
        return self._answer(request)

    @on("RemoteStopTransaction")
    def remote_stop(self, request: Any) -> Any:
        return self._answer(request)

    @on("RequestStartTransaction")
    def request_start(self, request: Any) -> Any:
        return self._answer(request)

    @on("RequestStopTransaction")
    def request_stop(self, request: Any) -> Any:
        return self._answer(request)

    @on("Reset")
    def reset(self, request: Any) -> Any:
        return self._answer(request)

    @on("UnlockConnector")
    def unlock(self, request: Any) -> Any:
        return self._answer(request)

    @on("TriggerMessage")
    def trigger(self, request: Any) -> Any:
        self.triggered.set()
        return self._answer(request)

    @on("GetVariables")
    def get_variables(self, request: Any) -> Any:
        self.received.append(request)
        m = MODULES[self.connection.version]
        return m.GetVariablesResponse(
            get_variable_result=[
                m.GetVariableResult(
                    attribute_status=m.GetVariableStatusEnum.Accepted,
                    attribute_value="300",
                    component=data.component,
                    variable=data.variable,
                )
                for data in request.get_variable_data
            ]
        )

    @on("SetVariables")
    def set_variables(self, request: Any) -> Any:
        self.received.append(request)
        m = MODULES[self.connection.version]
        return m.SetVariablesResponse(
            set_variable_result=[
                m.SetVariableResult(
                    attribute_status=m.SetVariableStatusEnum.Accepted,
                    component=data.component,
                    variable=data.variable,
                )
                for data in request.set_variable_data
            ]
        )

    @on("ClearCache")
    def clear_cache(self, request: Any) -> Any:
        raise FormatViolationError("no cache here", {"hint": "none"})

    @on("GetLocalListVersion")
    async def never(self, request: Any) -> Any:
        await asyncio.sleep(60)

    @on("CancelReservation")
    async def hang_up(self, request: Any) -> Any:
        await self.connection.transport.close(1001, "going away")
        await asyncio.sleep(60)


def boot_request(version: str) -> Any:
    if version == "ocpp1.6":
        return v16.BootNotificationRequest(charge_point_vendor="V", charge_point_model="M")
    m = MODULES[version]
    return m.BootNotificationRequest(
        reason=m.BootReasonEnum.PowerUp,
        charging_station=m.ChargingStation(model="M", vendor_name="V"),
    )


@contextlib.asynccontextmanager
async def station(
    csms: Csms,
    identity: str,
    version: str,
    core: Backend | None = None,
    handlers: Handlers | None = None,
    *,
    boot: bool = True,
) -> AsyncIterator[Connection]:
    """A station connected over a real WebSocket, booted unless told not to."""
    ws = await connect(f"{csms.server.url}/{identity}", subprotocols=[version])  # type: ignore[list-item]
    cs = Connection(
        WebSocketTransport(ws),
        role="station",
        handlers=handlers if handlers is not None else Answering(),
        core=core or BACKEND,
    )
    task = asyncio.create_task(cs.run())
    try:
        await until(lambda: csms.server.connection(identity) is not None)
        if boot:
            await cs.call(boot_request(version))
        yield cs
    finally:
        await cs.close()
        await task


def error_of(body: Any) -> dict[str, Any]:
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and isinstance(error["description"], str)
    assert error["description"], error
    return dict(error)


# -- authentication -----------------------------------------------------------------------------


def test_every_route_needs_the_bearer_token_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 6750: a request without the token, with a wrong one or another scheme gets 401 and
    a Bearer challenge, on every route (/metrics and the OpenAPI document too, and routes that
    do not exist: no route list for strangers); the token is compared with
    hmac.compare_digest, and never logged."""
    compared: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)

    class Metrics:
        def render(self) -> tuple[bytes, str]:
            return b"ocppfast_up 1\n", "text/plain; version=0.0.4; charset=utf-8"

    async def main() -> None:
        state = CsmsState()
        async with running(state, metrics=Metrics()) as csms:
            base = csms.api.url
            assert csms.api.port > 0 and base == f"http://127.0.0.1:{csms.api.port}"
            paths = ["/api/stations", "/api/openapi.json", "/metrics", "/api/nowhere", "/"]
            async with aiohttp.ClientSession(base_url=base) as anonymous:
                for path in paths:
                    for headers in (
                        {},
                        {"Authorization": "Bearer wrong"},
                        {"Authorization": f"Basic {TOKEN}"},
                        {"Authorization": f"Bearer {TOKEN}x"},
                        {"Authorization": TOKEN},
                    ):
                        async with anonymous.get(path, headers=headers) as response:
                            assert response.status == 401, (path, headers)
                            challenge = response.headers["WWW-Authenticate"]
                            assert challenge.startswith('Bearer realm="ocppfast"')
                            assert ("invalid_token" in challenge) == bool(headers)
                            assert error_of(await response.json())["code"] == "unauthorized"
                async with anonymous.post("/api/stations", json={"identity": "CP1"}) as response:
                    assert response.status == 401
                assert state.station("CP1") is None
            compared.clear()
            status, _ = await csms.request("GET", "/api/stations")
            assert status == 200
            assert compared == [(TOKEN.encode(), TOKEN.encode())]
            async with csms.http.get("/metrics") as response:
                assert response.status == 200
                assert await response.read() == b"ocppfast_up 1\n"
                assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            status, body = await csms.request("GET", "/api/nowhere")
            assert status == 404 and error_of(body)["code"] == "not_found"

    with caplog.at_level(logging.DEBUG):
        run(main())
    assert all(TOKEN not in record.getMessage() for record in caplog.records)
    assert any("refused GET /api/stations" in r.getMessage() for r in caplog.records)


def test_an_empty_token_is_refused_and_metrics_is_404_without_a_metrics_object() -> None:
    with pytest.raises(ValueError, match="not empty"):
        create_app(CsmsState(), Server(), token=" ")

    async def main() -> None:
        async with running(CsmsState()) as csms:
            status, body = await csms.request("GET", "/metrics")
            assert status == 404 and error_of(body)["code"] == "not_found"
            async with csms.http.delete("/api/stations") as response:
                assert response.status == 405
                assert set(response.headers["Allow"].split(",")) == {"GET", "POST"}
                error = error_of(await response.json())
            assert error["code"] == "method_not_allowed" and "GET" in error["description"]

    run(main())


# -- the OpenAPI document -----------------------------------------------------------------------


def test_the_openapi_document_lists_every_route_and_its_schemas_are_valid() -> None:
    """OpenAPI 3.1: every route the application serves (and only those) is in `paths` with its
    method; every $ref resolves; every schema is valid JSON Schema 2020-12."""
    from jsonschema import Draft202012Validator

    class Metrics:
        def render(self) -> tuple[bytes, str]:
            return b"", "text/plain"

    async def main() -> dict[str, Any]:
        async with running(CsmsState(), metrics=Metrics()) as csms:
            status, document = await csms.request("GET", "/api/openapi.json")
            assert status == 200
            served = {
                (route.method, route.resource.canonical)
                for route in csms.api.app.router.routes()
                if route.resource is not None
            }
            documented = {
                (method.upper(), path)
                for path, operations in document["paths"].items()
                for method in operations
            }
            assert served == documented
            assert ("GET", "/metrics") in documented
            return dict(document)

    document = run(main())
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] and document["info"]["version"]
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
    }
    schemas = document["components"]["schemas"]
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)

    def refs(value: Any) -> Iterator[str]:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "$ref":
                    yield item
                else:
                    yield from refs(item)
        elif isinstance(value, list):
            for item in value:
                yield from refs(item)

    for ref in refs(document):
        assert ref.startswith("#/components/schemas/") and ref.rpartition("/")[2] in schemas
    for path, operations in document["paths"].items():
        for operation in operations.values():
            assert operation["summary"] and operation["operationId"]
            # Every route needs the bearer token but the stations' side of the file server,
            # which a capability in the URL authorizes (security: none).
            assert ("401" in operation["responses"]) != (operation.get("security") == [])
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            assert names == [part[1:-1] for part in path.split("/") if part.startswith("{")]
    station = schemas["StationView"]["properties"]
    for name in ("identity", "registrationStatus", "ocppVersion", "hasPassword", "connectors"):
        assert name in station
    assert schemas["StationCreate"]["additionalProperties"] is False


# -- stations -----------------------------------------------------------------------------------


def test_register_list_change_and_delete_stations(
    state_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """POST registers (201, Location; 409 when registered, whatever the case of the identity;
    422 naming the field for a bad identity, password or approval), GET lists and shows,
    PATCH changes the approval and the password (null removes it), DELETE unregisters (204,
    then 404). Passwords and the token never reach the log; the changes are stored."""

    async def main() -> None:
        state = await open_state(state_url)
        async with running(state) as csms:
            req = csms.request
            status, body = await req(
                "POST", "/api/stations", {"identity": "CP-1", "password": PASSWORD}
            )
            assert status == 201, body
            assert body["identity"] == "CP-1" and body["registered"] is True
            assert body["approval"] == "Accepted" and body["hasPassword"] is True
            assert body["connected"] is False and body["boot"] is None
            assert body["connectors"] == [] and body["activeTransactions"] == []
            assert state.credentials.known("cp-1")
            status, body = await req(
                "POST", "/api/stations", {"identity": "CP 2/x", "approval": "Pending"}
            )
            assert status == 422 and error_of(body)["path"] == "identity"
            for identity in ("CP 2", "cp-3"):
                status, body = await req(
                    "POST", "/api/stations", {"identity": identity, "approval": "Pending"}
                )
                assert status == 201 and body["approval"] == "Pending" and not body["hasPassword"]
            async with csms.http.post("/api/stations", json={"identity": "CP4"}) as response:
                assert response.status == 201
                assert response.headers["Location"] == "/api/stations/CP4"

            status, body = await req("POST", "/api/stations", {"identity": "cp-1"})
            assert status == 409 and error_of(body)["code"] == "exists"
            for bad, path in (
                ({"identity": "CP:5"}, "identity"),
                ({"identity": ""}, "identity"),
                ({"identity": "x" * 49}, "identity"),
                ({"identity": "CP\x07"}, "identity"),
                ({"identity": "CP5", "password": "short"}, "password"),
                ({"identity": "CP5", "approval": "Maybe"}, "approval"),
                ({"identity": "CP5", "extra": 1}, "extra"),
                ({"approval": "Accepted"}, "identity"),
                ({"identity": 5}, "identity"),
            ):
                status, body = await req("POST", "/api/stations", bad)
                assert status == 422, (bad, body)
                error = error_of(body)
                assert error["code"] == "invalid" and error["path"] == path, (bad, error)
            assert state.station("CP5") is None
            for raw in (b"", b"{", b"nul", b'{"identity": "CP5",}', "{\x00}"):
                status, body = await req("POST", "/api/stations", raw)
                assert status == 400 and error_of(body)["code"] == "bad_json", raw
            status, body = await req("POST", "/api/stations", [1, 2])
            assert status == 422 and error_of(body)["path"] == ""

            status, body = await req("GET", "/api/stations")
            assert status == 200 and body["total"] == 4 and body["next"] is None
            assert [s["identity"] for s in body["stations"]] == ["CP 2", "CP-1", "cp-3", "CP4"]
            status, page = await req("GET", "/api/stations?limit=2&offset=1")
            assert [s["identity"] for s in page["stations"]] == ["CP-1", "cp-3"]
            assert page["next"] == "/api/stations?limit=2&offset=3"
            status, page = await req("GET", page["next"])
            assert [s["identity"] for s in page["stations"]] == ["CP4"] and page["next"] is None
            status, body = await req("GET", "/api/stations?connected=true")
            assert body["stations"] == [] and body["total"] == 0
            status, body = await req("GET", "/api/stations?connected=false")
            assert body["total"] == 4
            for query, name in (
                ("limit=0", "limit"),
                ("limit=1001", "limit"),
                ("limit=ten", "limit"),
                ("offset=-1", "offset"),
                ("connected=maybe", "connected"),
                ("limit=1&limit=2", "limit"),
                ("conected=true", "conected"),
            ):
                status, body = await req("GET", f"/api/stations?{query}")
                assert status == 400, query
                assert error_of(body)["path"] == name and name in body["error"]["description"]

            status, body = await req("GET", "/api/stations/cp%202")
            assert status == 200 and body["identity"] == "CP 2"
            status, body = await req("GET", "/api/stations/nobody")
            assert status == 404 and error_of(body)["code"] == "not_found"

            status, body = await req(
                "PATCH", "/api/stations/CP-3", {"approval": "Rejected", "password": PASSWORD}
            )
            assert status == 200 and body["approval"] == "Rejected" and body["hasPassword"]
            status, body = await req("PATCH", "/api/stations/cp-1", {"password": None})
            assert status == 200 and body["hasPassword"] is False
            assert not state.credentials.known("CP-1")
            status, body = await req("PATCH", "/api/stations/cp-1", {"password": "x" * 41})
            assert status == 422 and error_of(body)["path"] == "password"
            status, body = await req("PATCH", "/api/stations/cp-1", {"approval": None})
            assert status == 422 and error_of(body)["path"] == "approval"
            status, body = await req("PATCH", "/api/stations/nobody", {"approval": "Accepted"})
            assert status == 404

            status, _ = await req("DELETE", "/api/stations/cp4")
            assert status == 204
            status, body = await req("GET", "/api/stations/CP4")
            assert status == 404
            status, body = await req("DELETE", "/api/stations/CP4")
            assert status == 404
            status, body = await req("GET", "/api/stations")
            assert body["total"] == 3
        await close_state(state)

        if state_url != "memory":  # what the API changed is in the database
            again = await open_state(state_url)
            try:
                records = {k: (r.registered, r.approval) for k, r in again.stations.items()}
                assert records["cp-1"] == (True, "Accepted")
                assert records["cp-3"] == (True, "Rejected")
                assert records["cp 2"] == (True, "Pending")
                assert records.get("cp4", (False, None)) == (False, None)
                assert again.credentials.known("cp-3") and not again.credentials.known("cp-1")
            finally:
                await close_state(again)

    with caplog.at_level(logging.DEBUG):
        run(main())
    messages = [record.getMessage() for record in caplog.records]
    assert not any(PASSWORD in m or TOKEN in m for m in messages)
    info = [r.getMessage() for r in caplog.records if r.name == "ocppfast.api"]
    assert "operator: registered 'CP-1' (Accepted, with a password)" in info
    assert "operator: changed 'CP-1': password removed" in info
    assert any(m.startswith("operator: unregistered 'CP4'") for m in info)
    assert any(m.startswith("GET /api/stations from 127.0.0.1: 200") for m in info)


def test_a_connected_station_shows_its_boot_connectors_and_transactions(
    core: Backend, state_url: str
) -> None:
    """GET /api/stations/{identity}: the live connection, its version, the last boot and its
    answer, the connectors' statuses and the transactions in progress."""

    async def main() -> None:
        state = await open_state(state_url)
        async with running(state, core) as csms, station(csms, "CP7", "ocpp1.6", core) as cs:
            await cs.call(
                v16.StatusNotificationRequest(
                    connector_id=1,
                    error_code=v16.ChargePointErrorCode.NoError,
                    status=v16.ChargePointStatus.Charging,
                    info="plugged",
                    timestamp=T0,
                )
            )
            started = await cs.call(
                v16.StartTransactionRequest(
                    connector_id=1, id_tag="TAG1", meter_start=1000, timestamp=T0
                )
            )
            status, body = await csms.request("GET", "/api/stations/cp7")
            assert status == 200, body
            assert body["connected"] is True and body["ocppVersion"] == "ocpp1.6"
            assert body["registrationStatus"] == "Accepted" and body["approval"] == "Accepted"
            assert body["boot"] == {
                "vendor": "V",
                "model": "M",
                "serialNumber": None,
                "firmwareVersion": None,
                "reason": None,
                "extra": {},
            }
            for name in ("bootedAt", "connectedAt", "lastSeen"):
                assert body[name].endswith("Z"), name
            assert body["connectors"] == [
                {
                    "evseId": None,
                    "connectorId": 1,
                    "status": "Charging",
                    "errorCode": "NoError",
                    "info": "plugged",
                    "vendorId": None,
                    "vendorErrorCode": None,
                    "timestamp": "2026-11-21T09:30:00Z",
                }
            ]
            assert body["activeTransactions"] == [started.transaction_id]
            status, body = await csms.request("GET", "/api/stations?connected=true")
            assert [s["identity"] for s in body["stations"]] == ["CP7"]
        await close_state(state)

    run(main())


# -- transactions -------------------------------------------------------------------------------


def _energy_v2(m: Any, at: datetime.datetime, wh: float, context: str) -> list[Any]:
    return [
        m.MeterValue(
            timestamp=at,
            sampled_value=[m.SampledValue(value=wh, context=m.ReadingContextEnum(context))],
        )
    ]


def _event(m: Any, kind: str, seq_no: int, at: datetime.datetime, tx: str, **extra: Any) -> Any:
    return m.TransactionEventRequest(
        event_type=m.TransactionEventEnum(kind),
        timestamp=at,
        trigger_reason=m.TriggerReasonEnum.Authorized,
        seq_no=seq_no,
        transaction_info=m.Transaction(transaction_id=tx),
        **extra,
    )


def test_transactions_are_listed_found_and_shown_with_their_meter_values(
    core: Backend, state_url: str
) -> None:
    """GET /api/transactions (most recent first, filtered by station and state, paged) and
    GET /api/transactions/{id}: 404 for an unknown id; 409 naming the stations when two have
    that id (2.x ids are unique per station only), resolved with ?station=; the meter values
    paged, and a gap in the seqNos shown."""

    async def main() -> None:
        state = await open_state(state_url)
        async with (
            running(state, core) as csms,
            station(csms, "OLD", "ocpp1.6", core) as cp16,
            station(csms, "A", "ocpp2.0.1", core) as a,
            station(csms, "B", "ocpp2.0.1", core) as b,
        ):
            started = await cp16.call(
                v16.StartTransactionRequest(
                    connector_id=2, id_tag="TAG1", meter_start=1000, timestamp=T0
                )
            )
            tx16 = started.transaction_id
            await cp16.call(
                v16.MeterValuesRequest(
                    connector_id=2,
                    transaction_id=tx16,
                    meter_value=[
                        v16.MeterValue(
                            timestamp=T0 + datetime.timedelta(minutes=m),
                            sampled_value=[v16.SampledValue(value=str(1000 + 100 * m))],
                        )
                        for m in (1, 2, 3)
                    ],
                )
            )
            await cp16.call(
                v16.StopTransactionRequest(
                    transaction_id=tx16,
                    meter_stop=1500,
                    timestamp=T0 + datetime.timedelta(minutes=5),
                    reason=v16.Reason.Remote,
                )
            )
            later = T0 + datetime.timedelta(hours=1)
            for cs, at in ((a, later), (b, later + datetime.timedelta(minutes=1))):
                await cs.call(
                    _event(
                        v201,
                        "Started",
                        0,
                        at,
                        "T1",
                        evse=v201.EVSE(id=1, connector_id=1),
                        meter_value=_energy_v2(v201, at, 0, "Transaction.Begin"),
                    )
                )
            await b.call(_event(v201, "Updated", 2, later, "T1"))

            req = csms.request
            status, body = await req("GET", "/api/transactions")
            assert status == 200 and body["next"] is None
            listed = [(t["station"], t["transactionId"]) for t in body["transactions"]]
            assert listed == [("B", "T1"), ("A", "T1"), ("OLD", tx16)]
            status, body = await req("GET", "/api/transactions?active=false")
            assert [t["transactionId"] for t in body["transactions"]] == [tx16]
            status, body = await req("GET", "/api/transactions?station=a&active=true")
            assert [t["station"] for t in body["transactions"]] == ["A"]
            status, body = await req("GET", "/api/transactions?limit=2")
            assert len(body["transactions"]) == 2
            assert body["next"] == "/api/transactions?limit=2&offset=2"
            status, body = await req("GET", body["next"])
            assert [t["transactionId"] for t in body["transactions"]] == [tx16]
            assert body["next"] is None
            status, body = await req("GET", "/api/transactions?active=yes")
            assert status == 400 and error_of(body)["path"] == "active"

            status, body = await req("GET", "/api/transactions/T1")
            assert status == 409
            error = error_of(body)
            assert error["code"] == "ambiguous" and error["stations"] == ["A", "B"]
            status, body = await req("GET", "/api/transactions/T1?station=b")
            assert status == 200 and body["station"] == "B" and body["active"] is True
            assert body["missingSeqNos"] == [1] and body["version"] == "ocpp2.0.1"
            assert body["evseId"] == 1 and body["meterStart"] == 0
            status, body = await req("GET", "/api/transactions/nope")
            assert status == 404 and error_of(body)["code"] == "not_found"

            status, body = await req("GET", f"/api/transactions/{tx16}?limit=2")
            assert status == 200, body
            assert body["transactionId"] == tx16 and body["active"] is False
            assert body["meterStart"] == 1000 and body["meterStop"] == 1500
            assert body["energyWh"] == 500 and body["stopReason"] == "Remote"
            assert body["connectorId"] == 2 and body["idToken"] == "TAG1"
            assert body["evseId"] is None and body["missingSeqNos"] == []
            assert [v["value"] for v in body["meterValues"]] == [1100, 1200]
            first = body["meterValues"][0]
            assert first == {
                "timestamp": "2026-11-21T09:31:00Z",
                "value": 1100.0,
                "text": "1100",
                "measurand": "Energy.Active.Import.Register",
                "unit": None,
                "phase": None,
                "location": None,
                "context": None,
                "signed": False,
            }
            assert (
                body["meterValuesNext"] == f"/api/transactions/{tx16}?limit=2&station=OLD&offset=2"
            )
            status, body = await req("GET", body["meterValuesNext"])
            assert [v["value"] for v in body["meterValues"]] == [1300]
            assert body["meterValuesNext"] is None
        await close_state(state)

    run(main())


# -- id tokens ----------------------------------------------------------------------------------


def test_id_tokens_are_added_replaced_listed_and_deleted(
    state_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """POST (201; 409 when it exists), PUT (201 added, 200 replaced; the body's idToken must be
    the URL's), GET one and the list (paged), DELETE (204, then 404). What stations are told
    follows at once (CsmsState.authorize); the changes are stored."""

    async def main() -> None:
        state = await open_state(state_url)
        async with running(state) as csms:
            req = csms.request
            status, body = await req(
                "POST",
                "/api/tokens",
                {
                    "idToken": "04A2B3C4",
                    "status": "Blocked",
                    "expiresAt": "2030-01-01T00:00:00+01:00",
                    "parentId": "PARENT",
                    "type": "ISO14443",
                },
            )
            assert status == 201, body
            assert body == {
                "idToken": "04A2B3C4",
                "status": "Blocked",
                "expiresAt": "2029-12-31T23:00:00Z",
                "parentId": "PARENT",
                "groupId": None,
                "type": "ISO14443",
            }
            assert state.authorize("CP1", "04a2b3c4", None, "ocpp1.6") == "Blocked"
            if isinstance(state, StoredState):  # committed before it was answered
                rows = await state.database.fetch(
                    "SELECT status FROM id_tokens WHERE key = ?", "04a2b3c4"
                )
                assert rows == [("Blocked",)]
            status, body = await req("POST", "/api/tokens", {"idToken": "04a2b3c4"})
            assert status == 409 and error_of(body)["code"] == "exists"
            for bad, path in (
                ({"idToken": ""}, "idToken"),
                ({"idToken": "X", "status": "Fine"}, "status"),
                ({"idToken": "X", "expiresAt": "2030-01-01T00:00:00"}, "expiresAt"),
                ({"idToken": "X", "expiresAt": "soon"}, "expiresAt"),
                ({"idToken": "X", "groupId": 3}, "groupId"),
                ({"status": "Accepted"}, "idToken"),
            ):
                status, body = await req("POST", "/api/tokens", bad)
                assert status == 422 and error_of(body)["path"] == path, (bad, body)

            status, body = await req("PUT", "/api/tokens/NEW%2F1", {"status": "NoCredit"})
            assert status == 201 and body["idToken"] == "NEW/1" and body["status"] == "NoCredit"
            assert state.authorize("CP1", "NEW/1", None, "ocpp2.0.1") == "NoCredit"
            assert state.authorize("CP1", "NEW/1", None, "ocpp1.6") == "Invalid"
            status, body = await req("PUT", "/api/tokens/new%2F1", {"groupId": "G"})
            assert status == 200 and body["status"] == "Accepted" and body["groupId"] == "G"
            status, body = await req("PUT", "/api/tokens/other", {"idToken": "NEW/1"})
            assert status == 422 and error_of(body)["path"] == "idToken"
            status, body = await req("PUT", "/api/tokens/" + "x" * 256, {})
            assert status == 422 and error_of(body)["path"] == "idToken"

            status, body = await req("GET", "/api/tokens/04A2B3C4")
            assert status == 200 and body["parentId"] == "PARENT"
            status, body = await req("GET", "/api/tokens/unknown")
            assert status == 404
            for token in ("C", "B", "A"):
                status, _ = await req("PUT", f"/api/tokens/{token}", {})
                assert status == 201
            status, body = await req("GET", "/api/tokens?limit=3")
            assert [t["idToken"] for t in body["tokens"]] == ["04A2B3C4", "A", "B"]
            assert body["total"] == 5 and body["next"] == "/api/tokens?limit=3&offset=3"
            status, body = await req("GET", body["next"])
            assert [t["idToken"] for t in body["tokens"]] == ["C", "NEW/1"]
            assert body["next"] is None

            status, _ = await req("DELETE", "/api/tokens/a")
            assert status == 204
            status, body = await req("DELETE", "/api/tokens/A")
            assert status == 404 and error_of(body)["code"] == "not_found"
        await close_state(state)

        if state_url != "memory":
            again = await open_state(state_url)
            try:
                assert sorted(again.tokens) == ["04a2b3c4", "b", "c", "new/1"]
                kept = again.token("04A2B3C4")
                assert kept is not None and kept.status == "Blocked" and kept.type == "ISO14443"
                assert kept.expires_at == datetime.datetime(
                    2029, 12, 31, 23, tzinfo=datetime.timezone.utc
                )
            finally:
                await close_state(again)

    with caplog.at_level(logging.INFO, logger="ocppfast.api"):
        run(main())
    info = [r.getMessage() for r in caplog.records if r.name == "ocppfast.api"]
    assert "operator: added id token ****B3C4 (Blocked)" in info
    assert not any("04A2B3C4" in m for m in info)  # personal data: masked at INFO


# -- the traffic log ----------------------------------------------------------------------------


def test_the_traffic_log_is_paged_newest_first(state_url: str) -> None:
    """GET /api/stations/{identity}/messages: newest first, `limit` per page, `next` the URL of
    the older ones (before=<id>), null on the last page; only this station's frames."""

    async def main() -> None:
        state = await open_state(state_url)
        state.register_station("CP1")
        state.register_station("CP2")
        for n in range(5):
            direction = "in" if n % 2 == 0 else "out"
            state.log_frame("CP1", direction, f'[2,"{n}","Heartbeat",{{}}]', T0)
            state.log_frame("cp2", "in", '[3,"x",{}]', T0)
        async with running(state) as csms:
            status, body = await csms.request("GET", "/api/stations/cp1/messages?limit=2")
            assert status == 200, body
            frames = [json.loads(m["frame"])[1] for m in body["messages"]]
            assert frames == ["4", "3"]
            assert [m["direction"] for m in body["messages"]] == ["in", "out"]
            assert body["messages"][0]["at"] == "2026-11-21T09:30:00Z"
            ids = [m["id"] for m in body["messages"]]
            assert ids[0] > ids[1]
            assert body["next"] == f"/api/stations/cp1/messages?limit=2&before={ids[1]}"
            seen = frames
            while body["next"] is not None:
                status, body = await csms.request("GET", body["next"])
                seen += [json.loads(m["frame"])[1] for m in body["messages"]]
            assert seen == ["4", "3", "2", "1", "0"]
            status, body = await csms.request("GET", "/api/stations/cp1/messages")
            assert len(body["messages"]) == 5 and body["next"] is None
            status, body = await csms.request("GET", "/api/stations/cp3/messages")
            assert status == 404
            status, body = await csms.request("GET", "/api/stations/cp1/messages?before=0")
            assert status == 400 and error_of(body)["path"] == "before"
        await close_state(state)

    run(main())


def test_the_traffic_log_shows_a_stations_frames_as_they_pass(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """With the server's TrafficLog observer (as `ocppfast serve` runs it), a station's boot
    and its answer are in its log, newest first; a frame that may carry a credential is shown
    as a note, never as it was, and no log line (at any level) shows the password."""
    from ocppfast.csms.traffic import TrafficLog

    async def main() -> None:
        state = CsmsState()
        async with running(state, core, observer=TrafficLog(state)) as csms:
            async with station(csms, "CP1", "ocpp2.0.1", core):
                status, body = await csms.request("GET", "/api/stations/CP1/messages")
                assert status == 200
                frames = [(m["direction"], json.loads(m["frame"])[0]) for m in body["messages"]]
                assert frames == [("out", 3), ("in", 2)]
                assert json.loads(body["messages"][1]["frame"])[2] == "BootNotification"
                status, _ = await csms.request(
                    "PUT",
                    "/api/stations/CP1/configuration",
                    {"key": "SecurityCtrlr.BasicAuthPassword", "value": PASSWORD},
                )
                assert status == 200
            status, body = await csms.request("GET", "/api/stations/CP1/messages?limit=2")
            assert [m["direction"] for m in body["messages"]] == ["in", "out"]
            note = body["messages"][1]["frame"]
            assert note.endswith("not shown: may carry a credential>"), note
            assert all(PASSWORD not in m["frame"] for m in body["messages"])

    with caplog.at_level(logging.DEBUG):
        run(main())
    assert caplog.records and not any(PASSWORD in r.getMessage() for r in caplog.records)


# -- messages to stations -----------------------------------------------------------------------


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
def test_calls_reach_the_station_and_answer_its_result_or_error(
    core: Backend, version: str
) -> None:
    """POST /api/stations/{identity}/calls: any action the CSMS may send in the station's
    version, payload checked by the core (422 with the field's path: nothing sent), answered
    with the CALLRESULT's payload, or the CALLERROR as {"error": ...} (200: the API did its
    job); 404 when the station is unknown or not connected, 504 on timeout, 503 when the
    connection closes first."""

    async def main() -> None:
        state = CsmsState()
        async with running(state, core) as csms:
            handlers = Answering()
            async with station(csms, "CP1", version, core, handlers):
                req = csms.request
                reset = {"type": "Hard" if version == "ocpp1.6" else "Immediate"}
                status, body = await req(
                    "POST", "/api/stations/cp1/calls", {"action": "Reset", "payload": reset}
                )
                assert status == 200, body
                assert body == {"result": {"status": "Accepted"}}
                assert [type(r).ACTION for r in handlers.received] == ["Reset"]
                assert msgspec.to_builtins(handlers.received[0]) == reset

                status, body = await req(
                    "POST",
                    "/api/stations/CP1/calls",
                    {"action": "DataTransfer", "payload": {"vendorId": "com.example"}},
                )
                assert status == 200 and body["result"]["data"] == "pong"

                for call, path in (
                    ({"action": "Reset", "payload": {"type": "Sideways"}}, "payload.type"),
                    ({"action": "Reset", "payload": {}}, "payload.type"),
                    ({"action": "Reset", "payload": {**reset, "x": 1}}, "payload.x"),
                    ({"action": "Reset", "payload": [reset]}, "payload"),
                    ({"action": "BootNotification", "payload": {}}, "action"),
                    ({"action": "Teleport", "payload": {}}, "action"),
                    ({"action": "Reset", "payload": reset, "timeout": 0}, "timeout"),
                    ({"payload": reset}, "action"),
                ):
                    status, body = await req("POST", "/api/stations/CP1/calls", call)
                    assert status == 422, (call, body)
                    assert error_of(body)["path"] == path, (call, body)
                assert len(handlers.received) == 2  # nothing invalid was sent

                status, body = await req(
                    "POST", "/api/stations/CP1/calls", {"action": "ClearCache"}
                )
                assert status == 200
                code = "FormationViolation" if version == "ocpp1.6" else "FormatViolation"
                assert body == {
                    "error": {
                        "code": code,
                        "description": "no cache here",
                        "details": {"hint": "none"},
                    }
                }

                status, body = await req(
                    "POST",
                    "/api/stations/CP1/calls",
                    {"action": "GetLocalListVersion", "timeout": 0.2},
                )
                assert status == 504 and error_of(body)["code"] == "timeout"

                action = "CancelReservation"
                payload = {"reservationId": 1}
                status, body = await req(
                    "POST", "/api/stations/CP1/calls", {"action": action, "payload": payload}
                )
                assert status == 503 and error_of(body)["code"] == "station_disconnected"
            await until(lambda: csms.server.connection("CP1") is None)
            status, body = await req(
                "POST", "/api/stations/CP1/calls", {"action": "Reset", "payload": reset}
            )
            assert status == 404 and error_of(body)["code"] == "not_connected"
            status, body = await req(
                "POST", "/api/stations/CP9/calls", {"action": "Reset", "payload": reset}
            )
            assert status == 404 and error_of(body)["code"] == "not_found"

    run(main())


def _sent(handlers: Answering) -> dict[str, Any]:
    request = handlers.received.pop()
    assert not handlers.received
    return {"action": type(request).ACTION, **msgspec.to_builtins(request)}


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
def test_typed_commands_send_the_message_of_the_stations_version(
    core: Backend, version: str
) -> None:
    """The typed routes pick each version's message and fields (C16 chapter 5; 2.0.1/2.1 use
    cases B05/B06, B11/B12, F01-F06, G03): what the station receives is checked field by field;
    a field the version does not have, or a value its schema refuses, is 422 naming the body's
    field (400 for the query of GET configuration), and nothing is sent."""

    async def main() -> None:
        async with running(CsmsState(), core) as csms:
            handlers = Answering()
            async with station(csms, "CP1", version, core, handlers):
                if version == "ocpp1.6":
                    await _typed_v16(csms, handlers)
                else:
                    await _typed_v2(csms, handlers, version)

    run(main())


async def _post(csms: Csms, route: str, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = await csms.request("POST", f"/api/stations/CP1/{route}", body)
    assert status == 200, (route, answer)
    assert "result" in answer and "error" not in answer
    return dict(answer)


async def _refused(
    csms: Csms, handlers: Answering, route: str, body: dict[str, Any], path: str
) -> None:
    status, answer = await csms.request("POST", f"/api/stations/CP1/{route}", body)
    assert status == 422, (route, body, answer)
    assert error_of(answer)["path"] == path, (route, body, answer)
    assert not handlers.received


async def _typed_v16(csms: Csms, handlers: Answering) -> None:
    assert await _post(csms, "remote-start", {"idToken": "TAG1", "connectorId": 1}) == {
        "result": {"status": "Accepted"}
    }
    assert _sent(handlers) == {
        "action": "RemoteStartTransaction",
        "idTag": "TAG1",
        "connectorId": 1,
    }
    await _refused(csms, handlers, "remote-start", {"idToken": "T", "evseId": 1}, "evseId")
    await _refused(csms, handlers, "remote-start", {"idToken": "T" * 21}, "idToken")
    status, answer = await csms.request(
        "POST",
        "/api/stations/CP1/remote-start",
        {"idToken": "T", "chargingProfile": {"chargingProfileId": "x"}},
    )
    assert status == 422 and error_of(answer)["path"].startswith("chargingProfile.")
    await _post(csms, "remote-stop", {"transactionId": "42"})
    assert _sent(handlers) == {"action": "RemoteStopTransaction", "transactionId": 42}
    await _refused(csms, handlers, "remote-stop", {"transactionId": "T-1"}, "transactionId")
    await _post(csms, "reset", {"type": "Immediate"})
    assert _sent(handlers) == {"action": "Reset", "type": "Hard"}
    await _post(csms, "reset", {"type": "Soft"})
    assert _sent(handlers) == {"action": "Reset", "type": "Soft"}
    await _refused(csms, handlers, "reset", {"type": "Hard", "evseId": 1}, "evseId")
    await _refused(csms, handlers, "reset", {"type": "ImmediateAndResume"}, "type")
    await _refused(csms, handlers, "reset", {"type": "Warm"}, "type")
    await _post(csms, "trigger", {"message": "StatusNotification", "connectorId": 1})
    assert _sent(handlers) == {
        "action": "TriggerMessage",
        "requestedMessage": "StatusNotification",
        "connectorId": 1,
    }
    await _refused(csms, handlers, "trigger", {"message": "TransactionEvent"}, "message")
    await _post(csms, "availability", {"operative": False})
    assert _sent(handlers) == {
        "action": "ChangeAvailability",
        "connectorId": 0,
        "type": "Inoperative",
    }
    await _post(csms, "availability", {"operative": True, "connectorId": 2})
    assert _sent(handlers) == {
        "action": "ChangeAvailability",
        "connectorId": 2,
        "type": "Operative",
    }
    await _post(csms, "unlock", {"connectorId": 1})
    assert _sent(handlers) == {"action": "UnlockConnector", "connectorId": 1}
    # 1.6 names connectors only (C16 5.2, 5.17, 5.18): an evseId is refused, not dropped.
    await _refused(csms, handlers, "trigger", {"message": "Heartbeat", "evseId": 1}, "evseId")
    await _refused(csms, handlers, "availability", {"operative": True, "evseId": 1}, "evseId")
    await _refused(csms, handlers, "unlock", {"connectorId": 1, "evseId": 1}, "evseId")
    # A 1.6 configuration key has one value (C16 5.3, 5.8): no attribute.
    status, answer = await csms.request(
        "PUT",
        "/api/stations/CP1/configuration",
        {"key": "HeartbeatInterval", "value": "60", "attribute": "Target"},
    )
    assert status == 422 and error_of(answer)["path"] == "attribute"
    status, answer = await csms.request(
        "GET", "/api/stations/CP1/configuration?key=HeartbeatInterval&attribute=Actual"
    )
    assert status == 400 and error_of(answer)["path"] == "attribute"
    assert not handlers.received
    status, answer = await csms.request(
        "PUT", "/api/stations/CP1/configuration", {"key": "HeartbeatInterval", "value": "60"}
    )
    assert status == 200 and answer == {"result": {"status": "Accepted"}}
    assert _sent(handlers) == {
        "action": "ChangeConfiguration",
        "key": "HeartbeatInterval",
        "value": "60",
    }
    status, answer = await csms.request(
        "PUT", "/api/stations/CP1/configuration", {"key": "K" * 51, "value": "1"}
    )
    assert status == 422 and error_of(answer)["path"] == "key"
    status, answer = await csms.request(
        "GET", "/api/stations/CP1/configuration?key=HeartbeatInterval&key=A,B"
    )
    assert status == 200
    assert answer["result"]["configurationKey"][0]["value"] == "300"
    assert _sent(handlers) == {
        "action": "GetConfiguration",
        "key": ["HeartbeatInterval", "A", "B"],
    }
    status, answer = await csms.request("GET", "/api/stations/CP1/configuration")
    assert status == 200 and _sent(handlers) == {"action": "GetConfiguration"}
    status, answer = await csms.request("GET", "/api/stations/CP1/configuration?key=" + "k" * 51)
    assert status == 400 and error_of(answer)["path"] == "key"


async def _typed_v2(csms: Csms, handlers: Answering, version: str) -> None:
    answer = await _post(csms, "remote-start", {"idToken": "TAG1", "evseId": 1})
    sent = _sent(handlers)
    assert answer["remoteStartId"] == sent["remoteStartId"] and sent["remoteStartId"] > 0
    assert sent == {
        "action": "RequestStartTransaction",
        "idToken": {"idToken": "TAG1", "type": "Central"},
        "evseId": 1,
        "remoteStartId": answer["remoteStartId"],
    }
    answer = await _post(
        csms, "remote-start", {"idToken": "TAG1", "type": "ISO14443", "remoteStartId": 7}
    )
    assert answer["remoteStartId"] == 7
    assert _sent(handlers)["idToken"] == {"idToken": "TAG1", "type": "ISO14443"}
    await _refused(
        csms, handlers, "remote-start", {"idToken": "T", "connectorId": 1}, "connectorId"
    )
    await _refused(csms, handlers, "remote-start", {"idToken": "T" * 256}, "idToken")
    if version == "ocpp2.0.1":
        await _refused(csms, handlers, "remote-start", {"idToken": "T", "type": "Phone"}, "type")
    await _post(csms, "remote-stop", {"transactionId": 42})
    assert _sent(handlers) == {"action": "RequestStopTransaction", "transactionId": "42"}
    await _post(csms, "reset", {"type": "Hard"})
    assert _sent(handlers) == {"action": "Reset", "type": "Immediate"}
    await _post(csms, "reset", {"type": "Soft", "evseId": 2})
    assert _sent(handlers) == {"action": "Reset", "type": "OnIdle", "evseId": 2}
    if version == "ocpp2.1":
        await _post(csms, "reset", {"type": "ImmediateAndResume"})
        assert _sent(handlers) == {"action": "Reset", "type": "ImmediateAndResume"}
    else:
        await _refused(csms, handlers, "reset", {"type": "ImmediateAndResume"}, "type")
    await _post(csms, "trigger", {"message": "StatusNotification", "evseId": 1, "connectorId": 1})
    assert _sent(handlers) == {
        "action": "TriggerMessage",
        "requestedMessage": "StatusNotification",
        "evse": {"id": 1, "connectorId": 1},
    }
    await _refused(
        csms, handlers, "trigger", {"message": "Heartbeat", "connectorId": 1}, "connectorId"
    )
    await _refused(
        csms, handlers, "trigger", {"message": "DiagnosticsStatusNotification"}, "message"
    )
    await _post(csms, "availability", {"operative": False})
    assert _sent(handlers) == {"action": "ChangeAvailability", "operationalStatus": "Inoperative"}
    await _post(csms, "availability", {"operative": True, "evseId": 2})
    assert _sent(handlers) == {
        "action": "ChangeAvailability",
        "operationalStatus": "Operative",
        "evse": {"id": 2},
    }
    await _post(csms, "unlock", {"evseId": 1, "connectorId": 1})
    assert _sent(handlers) == {"action": "UnlockConnector", "evseId": 1, "connectorId": 1}
    await _refused(csms, handlers, "unlock", {"connectorId": 1}, "evseId")

    status, answer = await csms.request(
        "PUT",
        "/api/stations/CP1/configuration",
        {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "60", "attribute": "Target"},
    )
    assert status == 200, answer
    assert answer["result"]["setVariableResult"][0]["attributeStatus"] == "Accepted"
    assert _sent(handlers) == {
        "action": "SetVariables",
        "setVariableData": [
            {
                "attributeType": "Target",
                "attributeValue": "60",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
            }
        ],
    }
    status, answer = await csms.request(
        "PUT", "/api/stations/CP1/configuration", {"key": "NoVariable", "value": "1"}
    )
    assert status == 422 and error_of(answer)["path"] == "key"
    status, answer = await csms.request(
        "PUT", "/api/stations/CP1/configuration", {"key": "C.V", "value": "x" * 1001}
    )
    assert status == 422 and error_of(answer)["path"] == "value"
    status, answer = await csms.request(
        "GET",
        "/api/stations/CP1/configuration?key=EVSE[1].AvailabilityState,"
        "SampledDataCtrlr.TxUpdatedInterval[x]",
    )
    assert status == 200, answer
    results = answer["result"]["getVariableResult"]
    assert [r["attributeValue"] for r in results] == ["300", "300"]
    assert _sent(handlers) == {
        "action": "GetVariables",
        "getVariableData": [
            {
                "component": {"name": "EVSE", "instance": "1"},
                "variable": {"name": "AvailabilityState"},
            },
            {
                "component": {"name": "SampledDataCtrlr"},
                "variable": {"name": "TxUpdatedInterval", "instance": "x"},
            },
        ],
    }
    for query in ("", "?key=bad", "?key=A.B&attribute=Best", "?key=" + "C" * 51 + ".V"):
        status, answer = await csms.request("GET", f"/api/stations/CP1/configuration{query}")
        assert status == 400, (query, answer)
        assert error_of(answer)["path"] in ("key", "attribute")
    assert not handlers.received


def test_a_rejected_station_gets_nothing_and_accepting_a_pending_one_triggers_its_boot(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """B03.FR.03: calls to a station whose boot was Rejected are 409 (nothing sent).
    TC_B_31_CSMS: accepting (PATCH approval Accepted) a connected station whose boot was
    answered Pending sends it TriggerMessage(BootNotification), and its next boot is
    Accepted."""

    async def main() -> None:
        state = CsmsState(registration_policy="pending")
        async with running(state, core) as csms:
            req = csms.request
            status, _ = await req(
                "POST", "/api/stations", {"identity": "BAD", "approval": "Rejected"}
            )
            assert status == 201
            async with station(csms, "BAD", "ocpp2.0.1", core) as cs:
                status, body = await req("POST", "/api/stations/BAD/reset", {"type": "Immediate"})
                assert status == 409 and error_of(body)["code"] == "not_allowed"
                assert "B03.FR.03" in body["error"]["description"]
                assert not cs.handlers.received  # type: ignore[attr-defined]
                status, body = await req("PATCH", "/api/stations/BAD", {"approval": "Accepted"})
                assert status == 200 and body["registrationStatus"] == "Rejected"
                # Not triggered (B03.FR.03): said so at once, and nothing reaches the station.
                assert any(
                    "was Rejected at its last boot" in r.getMessage() for r in caplog.records
                )
                # A round trip on the same connection: anything the CSMS had sent before its
                # answer would have arrived before it.
                with contextlib.suppress(OCPPError):
                    await cs.call(v201.HeartbeatRequest())
                assert not cs.handlers.received  # type: ignore[attr-defined]

            handlers = Answering()
            async with station(csms, "NEW", "ocpp1.6", core, handlers, boot=False) as cs:
                boot = await cs.call(boot_request("ocpp1.6"))
                assert boot.status == v16.RegistrationStatus.Pending
                status, body = await req("GET", "/api/stations/NEW")
                assert body["approval"] == "Pending" and body["registrationStatus"] == "Pending"
                status, body = await req("PATCH", "/api/stations/new", {"approval": "Accepted"})
                assert status == 200 and body["approval"] == "Accepted"
                await asyncio.wait_for(handlers.triggered.wait(), 5)
                assert _sent(handlers) == {
                    "action": "TriggerMessage",
                    "requestedMessage": "BootNotification",
                }
                boot = await cs.call(boot_request("ocpp1.6"))
                assert boot.status == v16.RegistrationStatus.Accepted
                status, body = await req("GET", "/api/stations/NEW")
                assert body["registrationStatus"] == "Accepted"

    with caplog.at_level(logging.INFO, logger="ocppfast.api"):
        run(main())


def test_deleting_a_station_closes_its_connection(core: Backend) -> None:
    """DELETE /api/stations/{identity}: the station's live connection is closed (1000), and
    under the "known" policy it cannot connect again (HTTP 404 at the handshake)."""

    async def main() -> None:
        state = CsmsState(registration_policy="known")
        async with running(state, core) as csms:
            status, _ = await csms.request("POST", "/api/stations", {"identity": "CP1"})
            assert status == 201
            async with station(csms, "CP1", "ocpp2.1", core) as cs:
                status, _ = await csms.request("DELETE", "/api/stations/cp1")
                assert status == 204
                await cs.wait_closed()
                assert cs.close_code == 1000
                assert csms.server.connection("CP1") is None
            with pytest.raises(Exception, match="404"):
                await connect(f"{csms.server.url}/CP1", subprotocols=["ocpp2.1"])  # type: ignore[list-item]

    run(main())


def test_malformed_input_never_makes_a_500() -> None:
    """Whatever the body, the API answers 4xx with the error shape: not JSON (400), the wrong
    shape (422), too big (413, the 1 MiB cap)."""
    bodies: list[Any] = [
        b"",
        b"null",
        b"[]",
        b'"text"',
        b"{",
        b"\xff\xfe",
        b"1e999",
        b'{"identity": "' + b"x" * 100 + b'"}',
        b'{"action": 12345678901234567890123}',
        b"[" * 5000 + b"]" * 5000,
        b'{"payload": {"a": ' * 300 + b"1" + b"}}" * 300,
        {"idToken": None, "status": None, "transactionId": None, "type": None, "key": None},
        {"operative": "yes", "connectorId": -1, "evseId": 2**40, "message": ""},
    ]
    posts = [route for route in ROUTES if route.method in ("POST", "PUT", "PATCH")]

    async def main() -> None:
        state = CsmsState()
        state.register_station("CP1")
        async with running(state) as csms:
            for route in posts:
                path = route.path.format(
                    identity="CP1", idToken="T1", name="f.bin", capability="x", filename="f"
                )
                for body in bodies:
                    status, answer = await csms.request(route.method, path, body)
                    assert 400 <= status < 500, (route.path, body, status, answer)
                    error_of(answer)
            status, answer = await csms.request(
                "POST", "/api/tokens", b'{"idToken": "' + b"x" * (1 << 20) + b'"}'
            )
            assert status == 413 and error_of(answer)["code"] == "too_large"

    run(main())


def test_a_bug_is_a_500_logged_with_its_traceback_and_answered_without(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler that raises (here: the state, made to fail) answers 500 "internal" with
    the error shape; the traceback goes to the log, never into the answer."""
    state = CsmsState()

    def broken(id_token: str) -> None:
        raise RuntimeError("secret internals")

    state.token = broken  # type: ignore[method-assign]

    async def main() -> None:
        async with running(state, core) as csms:
            status, body = await csms.request("GET", "/api/tokens/T1")
            assert status == 500 and error_of(body)["code"] == "internal"
            assert "secret internals" not in json.dumps(body)

    with caplog.at_level(logging.ERROR, logger="ocppfast.api"):
        run(main())
    [record] = [r for r in caplog.records if r.getMessage() == "GET /api/tokens/T1 failed"]
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


def test_a_change_that_cannot_be_stored_is_a_503(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """An answer never acknowledges what a restart would lose: when the commit the API waits
    for fails, the answer is 503 "storage_failed" and the failure is logged."""
    state = CsmsState()

    def failing_commit() -> asyncio.Future[None]:
        commit = asyncio.get_running_loop().create_future()
        commit.set_exception(OSError("disk full"))
        return commit

    state.barrier = failing_commit  # type: ignore[method-assign]

    async def main() -> None:
        async with running(state, core) as csms:
            status, body = await csms.request(
                "POST", "/api/tokens", {"idToken": "T1", "status": "Accepted"}
            )
            assert status == 503 and error_of(body)["code"] == "storage_failed"
            status, body = await csms.request("DELETE", "/api/tokens/T1")
            assert status == 503 and error_of(body)["code"] == "storage_failed"

    with caplog.at_level(logging.ERROR, logger="ocppfast.api"):
        run(main())
    assert any("could not be stored: disk full" in r.getMessage() for r in caplog.records)


def test_payload_paths_follow_the_validators_descriptions() -> None:
    """The core names the field at fault as "<Action> request: <path>: <what>"; the API gives
    that path under payload., or under the typed body's own field names."""
    assert payload_path("Reset", "Reset request: type: 'X' is not one of ...") == "payload.type"
    assert payload_path("Reset", "Reset request: (payload): expected an object") == "payload"
    fields = {"idToken.idToken": "idToken", "chargingProfile": "chargingProfile"}
    text = "RequestStartTransaction request: idToken.idToken: too long"
    assert payload_path("RequestStartTransaction", text, fields) == "idToken"
    text = "RequestStartTransaction request: chargingProfile.chargingSchedule[0].x: bad"
    expected = "chargingProfile.chargingSchedule[0].x"
    assert payload_path("RequestStartTransaction", text, fields) == expected


def test_every_curl_example_of_the_docs_is_a_route_with_a_valid_body() -> None:
    """docs/api.md: each `api ...` example names a route with its method, and its body (-d)
    fits that route's body; every route has an example."""
    import re
    import shlex

    from ocppfast.api.routes import METRICS_ROUTE

    text = (Path(__file__).parent.parent / "docs" / "api.md").read_text()
    routes = (*ROUTES, METRICS_ROUTE)
    patterns = {
        route: re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(route.path)) + "$")
        for route in routes
    }
    examples = [line for line in text.splitlines() if line.startswith("api ")]
    assert len(examples) >= len(routes)
    covered = set()
    for line in examples:
        words = shlex.split(line.split(" #", 1)[0], posix=True)
        method = words[words.index("-X") + 1] if "-X" in words else "GET"
        (url,) = [word for word in words if word.startswith("$API")]
        path = url.removeprefix("$API").split("?", 1)[0]
        matching = [r for r in routes if r.method == method and patterns[r].match(path)]
        assert len(matching) == 1, line
        route = matching[0]
        covered.add(route)
        if "-d" in words:
            assert route.body is not None, line
            msgspec.convert(json.loads(words[words.index("-d") + 1]), route.body)
        else:
            assert route.body is None, line
    assert covered == set(routes)


def test_token_statuses_are_the_specs() -> None:
    """The statuses the API takes for an id token are 2.0.1/2.1 AuthorizationStatusEnumType's."""
    import typing

    from ocppfast import v21
    from ocppfast.api.models import AuthorizationStatus

    assert set(typing.get_args(AuthorizationStatus)) == {
        member.value for member in v21.AuthorizationStatusEnum
    }
