"""The peer servers of the e2e benchmark (`ocppfast.bench.peers`): each is started as its own
process with `command()` and spoken to over real sockets with a plain websockets client; the
`ocpp` peer's handlers are also driven in-process, through the package's routing, to check what
they record in a `CsmsState`."""

from __future__ import annotations

import copy
import datetime
import itertools
import json
import re
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from ocppfast.bench.mixes import MIXES, TS
from ocppfast.bench.peers import (
    SERVERS,
    command,
    ocpp_central_systems,
    samples_v16,
    samples_v201,
)
from ocppfast.csms.state import BootInfo, ConnectorStatus, CsmsState, Sample
from tests.aio import free_port, run

HOST = "127.0.0.1"
UTC_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
ID_TAG = "04A2B3C4D5E6F7"
_ids = itertools.count(1)


def _request(version: str, action: str) -> dict[str, Any]:
    """A deep copy of the benchmark mix's request payload of `action`."""
    for name, request, _ in MIXES[version]:
        if name == action:
            return copy.deepcopy(request)
    raise KeyError(action)


class Peer:
    """A peer server process and the URL it listens on."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str) -> None:
        self.proc = proc
        self.url = url


StartPeer = Callable[[str], Peer]


@pytest.fixture
def start_peer() -> Iterator[StartPeer]:
    """Start peer servers with `command()`; every one still running is killed at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(server: str) -> Peer:
        port = free_port()
        proc = subprocess.Popen(
            command(server, HOST, port),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        procs.append(proc)
        assert proc.stdout is not None
        # A deadline so that a server that never gets ready fails the test instead of hanging it.
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else b""
        if not line:
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"{server} peer did not get ready: {err.decode(errors='replace')}")
        url = f"ws://{HOST}:{port}"
        assert line.decode() == f"ready {url}\n"
        return Peer(proc, url)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


async def _call(ws: ClientConnection, action: str, payload: dict[str, Any]) -> list[Any]:
    """Send a CALL; return the answer, which must be for it."""
    message_id = f"t-{next(_ids)}"
    await ws.send(json.dumps([2, message_id, action, payload]))
    answer = json.loads(await ws.recv())
    assert answer[1] == message_id, answer
    return answer  # type: ignore[no-any-return]


async def _result(ws: ClientConnection, action: str, payload: dict[str, Any]) -> Any:
    """Send a CALL; return the payload of its CALLRESULT."""
    answer = await _call(ws, action, payload)
    assert answer[0] == 3, answer
    return answer[2]


# -- command line --------------------------------------------------------------------------


def test_command_runs_the_module_with_this_python() -> None:
    assert SERVERS == ("ocpp", "websockets")
    assert command("ocpp", HOST, 9100) == [
        sys.executable,
        "-m",
        "ocppfast.bench.peers",
        "ocpp",
        "--host",
        HOST,
        "--port",
        "9100",
    ]
    assert command("websockets", "::1", 9101, ping_interval=5)[3:] == [
        "websockets",
        "--host",
        "::1",
        "--port",
        "9101",
        "--ping-interval",
        "5",
    ]
    with pytest.raises(ValueError, match="unknown peer server"):
        command("ocppfast", HOST, 9100)


# -- the echo server -----------------------------------------------------------------------


def test_echo_server_echoes_text_frames_under_each_subprotocol(start_peer: StartPeer) -> None:
    peer = start_peer("websockets")
    frame = json.dumps([2, "1", "MeterValues", _request("ocpp1.6", "MeterValues")])

    async def main() -> None:
        for version in ("ocpp1.6", "ocpp2.0.1", "ocpp2.1"):
            async with connect(f"{peer.url}/bench/CP-1", subprotocols=[Subprotocol(version)]) as ws:
                assert ws.subprotocol == version
                for text in (frame, '[2,"2","Heartbeat",{}]'):
                    await ws.send(text)
                    echoed = await ws.recv()
                    assert isinstance(echoed, str)  # a text frame again
                    assert echoed == text

    run(main())


# -- the `ocpp` package CSMS over the network ----------------------------------------------


def test_ocpp_server_answers_the_16_messages(start_peer: StartPeer) -> None:
    peer = start_peer("ocpp")

    async def main() -> None:
        async with connect(f"{peer.url}/CP-16", subprotocols=[Subprotocol("ocpp1.6")]) as ws:
            assert ws.subprotocol == "ocpp1.6"
            boot = await _result(ws, "BootNotification", _request("ocpp1.6", "BootNotification"))
            assert boot.keys() == {"status", "currentTime", "interval"}
            assert boot["status"] == "Accepted" and boot["interval"] == 300
            assert UTC_TIME.fullmatch(boot["currentTime"])

            heartbeat = await _result(ws, "Heartbeat", {})
            assert heartbeat.keys() == {"currentTime"}
            assert UTC_TIME.fullmatch(heartbeat["currentTime"])

            status = _request("ocpp1.6", "StatusNotification")
            assert await _result(ws, "StatusNotification", status) == {}
            assert await _result(ws, "Authorize", {"idTag": ID_TAG}) == {
                "idTagInfo": {"status": "Accepted"}
            }

            started = await _result(ws, "StartTransaction", _request("ocpp1.6", "StartTransaction"))
            assert started["idTagInfo"] == {"status": "Accepted"}
            transaction_id = started["transactionId"]
            assert isinstance(transaction_id, int)

            meter = _request("ocpp1.6", "MeterValues")
            meter["transactionId"] = transaction_id
            assert len(meter["meterValue"][0]["sampledValue"]) == 10
            assert await _result(ws, "MeterValues", meter) == {}

            stop = {
                "transactionId": transaction_id,
                "meterStop": 13_000,
                "timestamp": TS,
                "idTag": ID_TAG,
                "reason": "Local",
            }
            assert await _result(ws, "StopTransaction", stop) == {
                "idTagInfo": {"status": "Accepted"}
            }
            # A new transaction gets a new id; stopped without an idTag, no idTagInfo.
            second = _request("ocpp1.6", "StartTransaction")
            second["timestamp"] = "2026-11-21T13:00:00.000Z"
            second_id = (await _result(ws, "StartTransaction", second))["transactionId"]
            assert second_id != transaction_id
            stop = {"transactionId": second_id, "meterStop": 14_000, "timestamp": TS}
            assert await _result(ws, "StopTransaction", stop) == {}

            # The package's answers to what it has no handler for.
            error = await _call(ws, "FooBar", {})
            assert error[0] == 4 and error[2] == "NotSupported", error
            error = await _call(ws, "DataTransfer", {"vendorId": "x"})
            assert error[0] == 4 and error[2] == "NotImplemented", error

    run(main())


def test_ocpp_server_answers_the_201_messages(start_peer: StartPeer) -> None:
    peer = start_peer("ocpp")

    async def main() -> None:
        async with connect(f"{peer.url}/CP-201", subprotocols=[Subprotocol("ocpp2.0.1")]) as ws:
            assert ws.subprotocol == "ocpp2.0.1"
            boot = await _result(ws, "BootNotification", _request("ocpp2.0.1", "BootNotification"))
            assert boot.keys() == {"status", "currentTime", "interval"}
            assert boot["status"] == "Accepted" and boot["interval"] == 300
            assert UTC_TIME.fullmatch(boot["currentTime"])

            heartbeat = await _result(ws, "Heartbeat", {})
            assert UTC_TIME.fullmatch(heartbeat["currentTime"])

            status = _request("ocpp2.0.1", "StatusNotification")
            assert await _result(ws, "StatusNotification", status) == {}

            updated = _request("ocpp2.0.1", "TransactionEvent")
            info = {"transactionId": "tx-1", "chargingState": "Charging"}
            started = {
                **updated,
                "eventType": "Started",
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": info,
                "idToken": {"idToken": ID_TAG, "type": "ISO14443"},
            }
            del started["meterValue"]
            assert await _result(ws, "TransactionEvent", started) == {
                "idTokenInfo": {"status": "Accepted"}
            }
            updated.update(seqNo=1, transactionInfo=info)
            assert len(updated["meterValue"][0]["sampledValue"]) == 10
            assert await _result(ws, "TransactionEvent", updated) == {}
            ended = {
                **updated,
                "eventType": "Ended",
                "triggerReason": "EVCommunicationLost",
                "seqNo": 2,
                "transactionInfo": {"transactionId": "tx-1", "stoppedReason": "EVDisconnected"},
            }
            assert await _result(ws, "TransactionEvent", ended) == {}

            meter = {"evseId": 1, "meterValue": updated["meterValue"]}
            assert await _result(ws, "MeterValues", meter) == {}
            authorize = {"idToken": {"idToken": ID_TAG, "type": "ISO14443"}}
            assert await _result(ws, "Authorize", authorize) == {
                "idTokenInfo": {"status": "Accepted"}
            }

            error = await _call(ws, "FooBar", {})
            assert error[0] == 4 and error[2] == "NotSupported", error

    run(main())


def test_ocpp_server_negotiates_201_first_then_16(start_peer: StartPeer) -> None:
    peer = start_peer("ocpp")

    async def subprotocol(*offered: str) -> str | None:
        async with connect(
            f"{peer.url}/CP-1", subprotocols=[Subprotocol(o) for o in offered]
        ) as ws:
            return ws.subprotocol

    async def main() -> None:
        assert await subprotocol("ocpp1.6", "ocpp2.0.1") == "ocpp2.0.1"
        assert await subprotocol("ocpp2.1", "ocpp1.6") == "ocpp1.6"
        with pytest.raises(InvalidStatus) as refused:
            await subprotocol("ocpp2.1")
        assert refused.value.response.status_code == 400

    run(main())


def test_ocpp_server_refuses_an_invalid_identity_in_the_handshake(start_peer: StartPeer) -> None:
    # The identity is read with ocppfast's `identity_from_path`, refused as `ocppfast serve`
    # refuses it: with 400 before the upgrade.
    peer = start_peer("ocpp")
    version = [Subprotocol("ocpp1.6")]

    async def main() -> None:
        async with connect(f"{peer.url}/ocpp/v16/CP%2017?token=x", subprotocols=version) as ws:
            assert await _result(ws, "Heartbeat", {}) != {}
        for path in ("/", "/CP%3A1", "/CP%252F1", "/" + "x" * 49):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"{peer.url}{path}", subprotocols=version):
                    pass
            assert refused.value.response.status_code == 400, path

    run(main())


# -- stopping ------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("server", SERVERS)
def test_a_signal_closes_connections_and_exits_with_0(
    start_peer: StartPeer, server: str, sig: signal.Signals
) -> None:
    peer = start_peer(server)
    version = Subprotocol("ocpp1.6")

    async def main() -> int | None:
        async with connect(f"{peer.url}/CP-1", subprotocols=[version]) as ws:
            await ws.send('[2,"1","Heartbeat",{}]')
            await ws.recv()  # the connection is up and served: the CALLRESULT, or the echo
            peer.proc.send_signal(sig)
            await ws.wait_closed()
            return ws.close_code

    assert run(main()) == 1001  # going away
    _, err = peer.proc.communicate(timeout=60)
    assert peer.proc.returncode == 0
    assert b"Traceback" not in err, err.decode(errors="replace")


# -- what the `ocpp` peer records ------------------------------------------------------------


class _StubConnection:
    """What a ChargePoint sends to, in-process."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def recv(self) -> str:
        raise AssertionError("frames are fed with route_message")


async def _route_answer(cp: Any, connection: _StubConnection, action: str, payload: Any) -> Any:
    """Route one CALL through the package; return its answer (CALLRESULT or CALLERROR)."""
    message_id = f"r-{next(_ids)}"
    await cp.route_message(json.dumps([2, message_id, action, payload]))
    answer = connection.sent.pop()
    assert answer[1] == message_id, answer
    return answer


async def _route(cp: Any, connection: _StubConnection, action: str, payload: Any) -> Any:
    """Route one CALL through the package; return its CALLRESULT payload."""
    answer = await _route_answer(cp, connection, action, payload)
    assert answer[0] == 3, answer
    return answer[2]


AT = datetime.datetime(2026, 11, 21, 12, tzinfo=datetime.timezone.utc)


def test_ocpp_peer_records_16_state_in_a_csms_state() -> None:
    state = CsmsState(heartbeat_interval=60, max_samples=15)
    connection = _StubConnection()
    cp = ocpp_central_systems()["ocpp1.6"]("CP-16", connection, state)

    async def main() -> None:
        boot = await _route(
            cp, connection, "BootNotification", _request("ocpp1.6", "BootNotification")
        )
        assert boot["interval"] == 60 and boot["status"] == "Accepted"
        heartbeat = await _route(cp, connection, "Heartbeat", {})
        assert UTC_TIME.fullmatch(heartbeat["currentTime"])
        status = _request("ocpp1.6", "StatusNotification")
        await _route(cp, connection, "StatusNotification", status)
        started = await _route(
            cp, connection, "StartTransaction", _request("ocpp1.6", "StartTransaction")
        )
        # A repeated StartTransaction (its answer lost) gets the same transaction.
        again = await _route(
            cp, connection, "StartTransaction", _request("ocpp1.6", "StartTransaction")
        )
        assert again["transactionId"] == started["transactionId"]
        meter = _request("ocpp1.6", "MeterValues")
        meter["transactionId"] = started["transactionId"]
        await _route(cp, connection, "MeterValues", meter)
        meter["transactionId"] = 999_999  # unknown: kept with the station
        await _route(cp, connection, "MeterValues", meter)
        await _route(cp, connection, "MeterValues", meter)
        stop = {
            "transactionId": started["transactionId"],
            "meterStop": 13_000,
            "timestamp": TS,
            "idTag": "OTHER-TAG",
            "reason": "EVDisconnected",
        }
        assert await _route(cp, connection, "StopTransaction", stop) == {
            "idTagInfo": {"status": "Accepted"}
        }
        # A date-time the package lets through (it checks no formats) is answered as ours is.
        bad = {**_request("ocpp1.6", "StartTransaction"), "timestamp": "yesterday"}
        error = await _route_answer(cp, connection, "StartTransaction", bad)
        assert error[0] == 4 and error[2] == "TypeConstraintViolation", error

    state.station_connected("CP-16", "ocpp1.6", AT)
    run(main())
    station = state.station("cp-16")
    assert station is not None and station.version == "ocpp1.6" and station.connected
    assert station.boot == BootInfo(
        "VendorX", "SingleSocketCharger", "SN-0001234", "1.4.2", None, {"meterType": "ABB B23"}
    )
    assert station.registration_status == "Accepted"
    assert station.last_heartbeat is not None and station.last_heartbeat.microsecond == 0
    assert station.connectors[(0, 1)] == ConnectorStatus("Charging", AT, "NoError")
    # 20 samples of no known transaction, kept in a deque of 15.
    assert len(station.meter_values) == 15
    assert {location for location, _ in station.meter_values} == {1}

    (transaction,) = state.transactions.values()
    assert transaction.ended and transaction.stop_reason == "EVDisconnected"
    assert transaction.started_at == AT and transaction.ended_at == AT
    assert transaction.id_token == ID_TAG and transaction.stop_id_token == "OTHER-TAG"
    assert transaction.meter_start == 12345.0 and transaction.meter_stop == 13000.0
    samples = list(transaction.samples)
    assert len(samples) == 10
    assert samples[0] == Sample(
        AT,
        "12345.6",
        12345.6,
        "Energy.Active.Import.Register",
        "Wh",
        None,
        "Outlet",
        "Sample.Periodic",
    )
    assert [s.value for s in samples[:3]] == [12345.6, 7360.0, 32.0]
    assert samples[2].phase == "L1" and samples[8].location == "EV"
    assert transaction.energy_wh == 13000.0 - 12345.0


def test_ocpp_peer_records_201_state_in_a_csms_state() -> None:
    state = CsmsState()
    connection = _StubConnection()
    cp = ocpp_central_systems()["ocpp2.0.1"]("CP-201", connection, state)
    updated = _request("ocpp2.0.1", "TransactionEvent")
    updated["transactionInfo"] = {"transactionId": "tx-1", "chargingState": "Charging"}

    async def main() -> None:
        await _route(cp, connection, "BootNotification", _request("ocpp2.0.1", "BootNotification"))
        await _route(
            cp, connection, "StatusNotification", _request("ocpp2.0.1", "StatusNotification")
        )
        started = {
            **updated,
            "eventType": "Started",
            "seqNo": 0,
            "idToken": {"idToken": ID_TAG, "type": "ISO14443"},
        }
        del started["meterValue"]
        assert await _route(cp, connection, "TransactionEvent", started) == {
            "idTokenInfo": {"status": "Accepted"}
        }
        await _route(cp, connection, "TransactionEvent", updated)
        await _route(cp, connection, "TransactionEvent", updated)  # a repeat: not kept twice
        ended = {
            **updated,
            "eventType": "Ended",
            "seqNo": 4,
            "transactionInfo": {"transactionId": "tx-1", "stoppedReason": "Remote"},
        }
        del ended["meterValue"]
        await _route(cp, connection, "TransactionEvent", ended)
        power = {
            "value": 1.5,
            "measurand": "Power.Active.Import",
            "unitOfMeasure": {"unit": "kW", "multiplier": 3},
        }
        meter = {"evseId": 2, "meterValue": [{"timestamp": TS, "sampledValue": [power]}]}
        await _route(cp, connection, "MeterValues", meter)

    run(main())
    station = state.station("CP-201")
    assert station is not None and station.version == "ocpp2.0.1"
    assert station.boot == BootInfo(
        "VendorX", "SingleSocketCharger", "SN-0001234", "1.4.2", "PowerUp"
    )
    assert station.connectors[(1, 1)] == ConnectorStatus("Occupied", AT)
    ((location, sample),) = list(station.meter_values)
    assert location == 2 and sample.value == 1500.0 and sample.unit == "kW"
    assert sample.text == "1.5" and sample.measurand == "Power.Active.Import"

    transaction = state.transaction("cp-201", "tx-1")
    assert transaction is not None
    assert transaction.seq_nos == {0, 3, 4} and transaction.last_seq_no == 4
    assert transaction.ended and transaction.stop_reason == "Remote"
    assert transaction.started_at == AT and transaction.ended_at == AT
    assert transaction.id_token == ID_TAG and transaction.id_token_type == "ISO14443"
    assert transaction.evse_id == 1 and transaction.connector_id == 1
    assert transaction.charging_state == "Charging"
    assert len(transaction.samples) == 10
    assert [s.value for s in transaction.samples][-2:] == [54.0, 50.0]
    assert transaction.samples[0].text == "12345.6"


def test_the_peers_own_sample_conversion() -> None:
    # The peer converts the package's snake_case dicts itself, as a user of the package would.
    sampled: list[dict[str, Any]] = [
        {"value": "1.5", "unit": "kWh"},
        {"value": "not a number", "measurand": "Power.Active.Import"},
        {"value": "inf"},
        {"value": "00FFAA", "format": "SignedData"},
    ]
    samples = samples_v16([{"timestamp": "2026-11-21T13:00:00+01:00", "sampled_value": sampled}])
    assert [(s.text, s.value, s.signed) for s in samples] == [
        ("1.5", 1.5, False),
        ("not a number", None, False),
        ("inf", None, False),
        ("00FFAA", None, True),
    ]
    assert samples[0].timestamp == AT and samples[0].energy_wh == 1500.0
    assert samples[1].measurand == "Power.Active.Import"
    assert samples[0].measurand == "Energy.Active.Import.Register"

    sampled = [
        {"value": 12, "unit_of_measure": {"unit": "Wh", "multiplier": 3}},
        {"value": 2.5, "unit_of_measure": {"multiplier": -1}},
        {"value": 1.0, "unit_of_measure": {"multiplier": 400}},  # overflows: text only
        {"value": 7, "signed_meter_value": {"signed_meter_data": "x"}, "phase": "L1"},
    ]
    samples = samples_v201([{"timestamp": TS, "sampled_value": sampled}])
    assert [(s.text, s.value, s.unit, s.signed) for s in samples] == [
        ("12.0", 12_000.0, "Wh", False),
        ("2.5", 0.25, None, False),
        ("1.0", None, None, False),
        ("7.0", 7.0, None, True),
    ]
    assert samples[0].timestamp == AT and samples[3].phase == "L1"
