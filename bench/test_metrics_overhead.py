"""What `ocppfast.metrics.Metrics` costs per frame (issue 6 part 4).

A connection calls its observer inline for every frame: `received()` for each frame read,
`sent()` for each batch written. One benchmarked call here is what a CSMS does for one typical
exchange: `received()` of a station's MeterValues CALL and `sent()` of its CALLRESULT, both as
the bytes the WebSocket transport and our encoder give (two frames, so the time per frame is
half the time shown). Next to it, the same two calls on the base `ConnectionObserver`, which
ignores everything: what a call from the connection costs at all. Both are pure Python on
every backend (metrics.py is not compiled).

Timed per call: `iterations` calls per round (pytest-benchmark reports the time of one).
OCPPFAST_BENCH_ROUNDS and OCPPFAST_BENCH_REPEAT (bench/conftest.py) scale the rounds and calls.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from ocppfast.asyncio import ConnectionObserver
from ocppfast.metrics import Metrics

from .conftest import REPEAT, ROUNDS

# A 1.6 MeterValues CALL as a station sends it (J16 4.2.1), with a uuid4 message id, and the
# CALLRESULT our encoder writes for it.
_MESSAGE_ID = "6f1c1f0e-9b7a-4d0e-8c55-3a1d2b4c5e6f"
_METER_VALUES = msgspec.json.encode(
    [
        2,
        _MESSAGE_ID,
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": 1742,
            "meterValue": [
                {
                    "timestamp": "2026-11-21T09:30:00.000Z",
                    "sampledValue": [
                        {
                            "value": "15230.5",
                            "context": "Sample.Periodic",
                            "measurand": "Energy.Active.Import.Register",
                            "unit": "Wh",
                        },
                        {"value": "7360", "measurand": "Power.Active.Import", "unit": "W"},
                        {
                            "value": "32.1",
                            "measurand": "Current.Import",
                            "phase": "L1",
                            "unit": "A",
                        },
                    ],
                }
            ],
        },
    ]
)
_RESULT = [msgspec.json.encode([3, _MESSAGE_ID, {}])]


@pytest.mark.parametrize("observer", ["metrics", "none"])
def test_metrics_overhead(benchmark: Any, observer: str) -> None:
    """received() + sent() of one MeterValues CALL and its CALLRESULT (two frames)."""
    subject = Metrics(process=False) if observer == "metrics" else ConnectionObserver()
    received, sent = subject.received, subject.sent
    connection: Any = None  # Metrics does not look at it
    data, frames = _METER_VALUES, _RESULT

    def exchange() -> None:
        received(connection, data)
        sent(connection, frames)

    benchmark.group = "metrics observer: received + sent, 2 frames"
    benchmark.extra_info.update(observer=observer, frames=2)
    iterations = max(REPEAT, 1) * 50
    benchmark.pedantic(exchange, rounds=max(ROUNDS, 1) * 4, iterations=iterations, warmup_rounds=1)
    if isinstance(subject, Metrics):  # every frame was counted, under its action
        body = subject.render()[0].decode()
        assert 'action="MeterValues",direction="in",type="CALL"}' in body
        assert 'action="",direction="out",type="CALLRESULT"}' in body
