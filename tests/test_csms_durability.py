"""Issue 6: "a CSMS killed with SIGKILL mid-load restarts with every acknowledged message
present", on SQLite and on PostgreSQL.

`ocppfast serve` runs as a real process; stations over real WebSockets on 127.0.0.1 send
transactions and meter values as fast as they are answered (1.6: StartTransaction, then
MeterValues; 2.0.1: TransactionEvent with increasing seqNo). The server is killed with SIGKILL
while they do. Everything that was answered must be in the database, read both directly and
through a restarted `ocppfast serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
import signal
from typing import Any

import orjson
from websockets.asyncio.client import connect

from ocppfast._core import Backend
from ocppfast.csms.store import StoredState
from ocppfast.storage import open_database
from tests.aio import run
from tests.cli_process import serve

STATIONS = 10  # half 1.6, half 2.0.1
_ids = itertools.count()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


async def _call(ws: Any, action: str, payload: dict[str, Any]) -> Any:
    message_id = str(next(_ids))
    await ws.send(orjson.dumps([2, message_id, action, payload]).decode())
    answer = orjson.loads(await ws.recv())
    assert answer[0] == 3 and answer[1] == message_id, answer
    return answer[2]


async def _station_v16(url: str, name: str, acked: dict[str, Any]) -> None:
    async with connect(f"{url}/{name}", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        started = await _call(
            ws,
            "StartTransaction",
            {"connectorId": 1, "idTag": "TAG", "meterStart": 0, "timestamp": _now()},
        )
        acked[name] = {"transaction": started["transactionId"], "values": []}
        for wh in itertools.count(1):
            await _call(
                ws,
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": started["transactionId"],
                    "meterValue": [{"timestamp": _now(), "sampledValue": [{"value": str(wh)}]}],
                },
            )
            acked[name]["values"].append(float(wh))


async def _station_v201(url: str, name: str, acked: dict[str, Any]) -> None:
    async with connect(f"{url}/{name}", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        acked[name] = {"transaction": f"tx-{name}", "values": []}
        for seq_no in itertools.count():
            await _call(
                ws,
                "TransactionEvent",
                {
                    "eventType": "Started" if seq_no == 0 else "Updated",
                    "timestamp": _now(),
                    "triggerReason": "MeterValuePeriodic",
                    "seqNo": seq_no,
                    "transactionInfo": {"transactionId": f"tx-{name}"},
                    "evse": {"id": 1, "connectorId": 1},
                    "meterValue": [{"timestamp": _now(), "sampledValue": [{"value": seq_no}]}],
                },
            )
            acked[name]["values"].append(float(seq_no))


async def _load(url: str, seconds: float) -> dict[str, Any]:
    acked: dict[str, Any] = {}
    tasks = [
        asyncio.ensure_future((_station_v16 if n % 2 == 0 else _station_v201)(url, f"CP{n}", acked))
        for n in range(STATIONS)
    ]
    await asyncio.sleep(seconds)
    return acked | {"_tasks": tasks}


def test_sigkill_mid_load_loses_no_acknowledged_message(
    core: Backend, database_url: str, tmp_path: Any
) -> None:
    server, url = serve(core, "--database", database_url)

    async def load_then_kill() -> dict[str, Any]:
        acked = await _load(url, 2.0)
        server.process.send_signal(signal.SIGKILL)
        tasks = acked.pop("_tasks")
        for task in tasks:
            with contextlib.suppress(Exception):
                await task  # each ends when its connection drops
        return acked

    with server:
        acked = run(load_then_kill())
        server.process.wait(10)
    total = sum(len(station["values"]) for station in acked.values())
    assert len(acked) == STATIONS and total > STATIONS * 5, acked

    async def stored() -> dict[str, Any]:
        state = StoredState(open_database(database_url))
        await state.open()
        try:
            found = {}
            for name, station in acked.items():
                rows = await state.database.fetch(
                    "SELECT value FROM meter_values WHERE station_key = ? AND transaction_id = ?",
                    name.casefold(),
                    str(station["transaction"]),
                )
                found[name] = {value for (value,) in rows}
                assert state.transaction(name, station["transaction"]) is not None, name
            return found
        finally:
            await state.close()

    found = run(stored())
    for name, station in acked.items():
        missing = set(station["values"]) - found[name]
        assert not missing, f"{name}: acknowledged but not stored: {sorted(missing)[:10]}"

    # And the restarted server has them: it answers the 1.6 stations' next meter values as
    # part of their transactions (loaded at start), not as values of unknown transactions.
    restarted, url = serve(core, "--database", database_url)
    with restarted:
        match = restarted.wait_for(r"(\d+) stations, (\d+) transactions in progress")
        assert int(match.group(1)) == STATIONS and int(match.group(2)) == STATIONS
        assert restarted.stop() == 0
