"""Metrics at /metrics (issue 6 part 4): `ocppfast.metrics`.

- The bounded prefix scan that gives each frame its type and action (or error code): every
  frame type, whitespace, escapes, bytes and str, malformed and cut frames, huge frames; and
  the compact path that `Metrics` inlines agrees with the full scan on any input.
- The caps on label values, the histograms' bucket math, and the rendered text parsed back with
  prometheus_client's own parser.
- A CSMS `Server` on 127.0.0.1 observed by `Metrics`, on both core backends: stations connected
  by version, messages by action and direction, CALLERRORs by code, the CSMS's own CALLs in the
  latency histogram and their failures; and the storage's group commits (`GroupCommit`'s
  `on_commit` / `on_failure`), through `StoredState` and through a bare `GroupCommit`.
"""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from types import SimpleNamespace
from typing import Any

import prometheus_client
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from ocppfast import v16, v201
from ocppfast._core import Backend
from ocppfast.asyncio import Connection, Handlers, Server, on
from ocppfast.csms import CsmsState, default_csms
from ocppfast.csms.store import StoredState
from ocppfast.exceptions import (
    ActionNotSupportedError,
    CallTimeoutError,
    SessionClosedError,
)
from ocppfast.metrics import (
    METRIC_NAMES,
    SCAN_BYTES,
    Histogram,
    Metrics,
    _scan,
    _scan_slowly,
    scan,
)
from ocppfast.storage import GroupCommit, StorageError, open_database
from ocppfast.transport.websocket import WebSocketTransport
from tests.aio import run, until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(metrics: Metrics) -> Samples:
    """Every sample of `metrics.render()`, parsed back: (sample name, labels) -> value."""
    body, content_type = metrics.render()
    assert content_type == prometheus_client.CONTENT_TYPE_LATEST
    found: Samples = {}
    for family in text_string_to_metric_families(body.decode("utf-8")):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in found, f"duplicate series {key}"
            found[key] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    """The value of one series, 0 when it is absent (as PromQL's `or vector(0)`)."""
    return found.get((name, frozenset(labels.items())), 0.0)


def messages(found: Samples) -> dict[tuple[str, str, str], float]:
    """ocppfast_messages_total as (direction, type, action) -> count."""
    return {
        (dict(labels)["direction"], dict(labels)["type"], dict(labels)["action"]): count
        for (name, labels), count in found.items()
        if name == "ocppfast_messages_total"
    }


# -- the prefix scan --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        # J16 4.2.1 / J201 4.2.1: [<MessageTypeId>, "<MessageId>", "<Action>", {<Payload>}]
        (b'[2,"19223201","BootNotification",{"chargePointVendor":"V"}]', "BootNotification"),
        (b'[2,"1","Heartbeat",{}]', "Heartbeat"),
        (b'[2,"","Heartbeat",{}]', "Heartbeat"),  # an empty id: the session's business
        # J16 4.2.2: [3, "<MessageId>", {<Payload>}]
        (b'[3,"19223201",{"status":"Accepted"}]', ""),
        (b'[3,"1",{}]', ""),
        # J16 4.2.3: [4, "<MessageId>", "<errorCode>", "<errorDescription>", {<errorDetails>}]
        (b'[4,"1","NotImplemented","no such action",{}]', "NotImplemented"),
        (b'[4,"1","FormationViolation","",{}]', "FormationViolation"),
        # J21 4.2.4/4.2.5: CALLRESULTERROR [5, ...] like a CALLERROR; SEND [6, id, action, {}]
        (b'[5,"1","InternalError","",{}]', "InternalError"),
        (b'[6,"1","NotifyPeriodicEventStream",{"id":1}]', "NotifyPeriodicEventStream"),
    ],
)
def test_scan_reads_each_message_type(frame: bytes, expected: str) -> None:
    kind = {b"2": "CALL", b"3": "CALLRESULT", b"4": "CALLERROR", b"5": "CALLRESULTERROR"}.get(
        frame[1:2], "SEND"
    )
    assert scan(frame) == (kind, expected.encode())
    assert scan(frame.decode()) == (kind, expected.encode())  # str frames too
    assert scan(bytearray(frame)) == (kind, expected.encode())
    assert scan(memoryview(frame)) == (kind, expected.encode())


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        # RFC 8259 2: whitespace around every structural character
        (b' \t\r\n[ 2 ,\n "1" ,\t"Heartbeat" , {} ] ', ("CALL", b"Heartbeat")),
        (b'[\n3\n,\n"1"\n,\n{}\n]', ("CALLRESULT", b"")),
        (b'[4 , "1" , "GenericError" , "" , {}]', ("CALLERROR", b"GenericError")),
        # escapes: a quote, a backslash at the end of the id, a unicode escape in the action
        (b'[2,"a\\"b","Heartbeat",{}]', ("CALL", b"Heartbeat")),
        (b'[2,"a\\",\\"b","Heartbeat",{}]', ("CALL", b"Heartbeat")),
        (b'[2,"a\\\\","Heartbeat",{}]', ("CALL", b"Heartbeat")),
        (b'[3,"a\\"",{}]', ("CALLRESULT", b"")),
        (b'[2,"1","Heart\\u0062eat",{}]', ("CALL", b"Heartbeat")),
        (b'[4,"1","Not\\u0049mplemented","",{}]', ("CALLERROR", b"NotImplemented")),
        (b'[2,"1","Caf\\u00e9",{}]', ("CALL", "Café".encode())),
        # the payload is never looked at: broken after the name, still the same name
        (b'[2,"1","Heartbeat",{', ("CALL", b"Heartbeat")),
        (b'[2,"1","Heartbeat"', ("CALL", b"Heartbeat")),
        (b'[3,"1",', ("CALLRESULT", b"")),
    ],
)
def test_scan_whitespace_and_escapes(frame: bytes, expected: tuple[str, bytes]) -> None:
    assert scan(frame) == expected
    assert scan(frame.decode()) == expected


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"[",
        b"[]",
        b"{}",
        b"null",
        b"not json at all",
        b'"[2,"1","Heartbeat",{}]"',
        b'[1,"1","Heartbeat",{}]',  # no such message type
        b'[7,"1","Heartbeat",{}]',
        b'[02,"1","Heartbeat",{}]',
        b'[2.0,"1","Heartbeat",{}]',
        b'["2","1","Heartbeat",{}]',
        b'[2,1,"Heartbeat",{}]',  # the id is not a string
        b'[2,"1",5,{}]',  # the action is not a string
        b'[4,"1",null,"",{}]',
        b'[2,"1",{}]',  # a CALL without its action
        b'[3,"1"]',
        b'[3,"1"{}]',
        # cut short
        b"[2",
        b"[2,",
        b'[2,"',
        b'[2,"1',
        b'[2,"1"',
        b'[2,"1",',
        b'[2,"1","',
        b'[2,"1","Heartb',
        b'[3,"1',
        b'[3,"1"',
        b'[4,"1","NotImpl',
        b'[2,"1\\',
        b'[2,"1\\"',
        # an escape JSON does not have
        b'[2,"1","Heart\\qbeat",{}]',
    ],
)
def test_scan_malformed(frame: bytes) -> None:
    assert scan(frame) == ("malformed", b"")
    assert scan(frame.decode()) == ("malformed", b"")


def test_scan_reads_only_the_first_bytes() -> None:
    """An id or an action that ends beyond SCAN_BYTES makes the frame malformed; one that ends
    within is read."""

    def call(id_length: int) -> bytes:
        return b'[2,"' + b"i" * id_length + b'","Heartbeat",{}]'

    # the action's closing quote is byte 16 + id_length: the last one read is SCAN_BYTES - 1
    assert call(SCAN_BYTES - 17).index(b'",{}]') == SCAN_BYTES - 1
    assert scan(call(SCAN_BYTES - 17)) == ("CALL", b"Heartbeat")
    assert scan(call(SCAN_BYTES - 16)) == ("malformed", b"")
    assert scan(call(SCAN_BYTES - 17).decode()) == ("CALL", b"Heartbeat")
    assert scan(call(SCAN_BYTES - 16).decode()) == ("malformed", b"")
    assert scan(b'[2,"' + b"i" * 1000 + b'","Heartbeat",{}]') == ("malformed", b"")
    assert scan(b'[3,"' + b"i" * 1000 + b'",{}]') == ("malformed", b"")


def _frames(size: int) -> list[bytes | str]:
    return [
        b'[2,"1","DataTransfer",{"data":"' + b"x" * size + b'"}]',
        b'[3,"1",{"data":"' + b"x" * size + b'"}]',
        b"[" + b" " * size,  # malformed: whitespace, which the slow path's regex skips
        b'[2,"' + b"\\" * size,  # malformed: escapes
        '[2,"1","DataTransfer",{"data":"' + "\u00e9" * size + '"}]',
    ]


def test_scan_of_huge_frames_is_bounded() -> None:
    """16 MiB frames are scanned without reading or copying beyond SCAN_BYTES: scanning and
    counting them allocates a few KiB at the most (one copy of one frame would be 16 MiB)."""
    metrics = Metrics(process=False)
    frames = _frames(16 << 20)
    tracemalloc.start()
    try:
        for _ in range(100):
            for frame in frames:
                scan(frame)
                metrics.received(None, frame)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak
    found = messages(samples(metrics))
    assert found[("in", "CALL", "DataTransfer")] == 200
    assert found[("in", "CALLRESULT", "")] == 100
    assert found[("in", "malformed", "")] == 200


# Pieces that make frames the fast and slow paths both have an opinion on.
_PIECES = [
    b"[",
    b"]",
    b"2",
    b"3",
    b"4",
    b"5",
    b"6",
    b"7",
    b",",
    b'"',
    b"\\",
    b" ",
    b"\n",
    b"{}",
    b"id",
    b"Heartbeat",
    b"NotImplemented",
    b"\\u0041",
    b"\xff",
    b'[2,"',
    b'[3,"',
    b'[4,"',
    b'","',
    b'",',
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14), st.binary(max_size=8))
def test_compact_paths_agree_with_the_full_scan(pieces: list[bytes], tail: bytes) -> None:
    """`_scan()`'s compact path and `Metrics`' inlined copy of it never disagree with the full
    (regex) scan: each frame is counted as `scan()` reads it."""
    frame = b"".join(pieces) + tail
    assert _scan(frame) == _scan_slowly(frame)
    metrics = Metrics(process=False)
    for _ in range(2):  # the second time through the compact path's table
        metrics.received(None, frame)  # type: ignore[arg-type]
        metrics.sent(None, [frame])  # type: ignore[arg-type]
    kind, name = scan(frame)
    action = name.decode("utf-8", "replace") if kind in ("CALL", "SEND") else ""
    found = samples(metrics)
    assert messages(found) == {("in", kind, action): 2, ("out", kind, action): 2}
    if kind in ("CALLERROR", "CALLRESULTERROR"):
        code = name.decode("utf-8", "replace")
        assert value(found, "ocppfast_call_errors_total", direction="in", code=code) == 2


def test_frames_of_any_type_are_counted() -> None:
    """bytes, str, bytearray and memoryview frames, received and sent."""
    metrics = Metrics(process=False)
    frame = b'[2,"1","Heartbeat",{}]'
    for each in (frame, frame.decode(), bytearray(frame), memoryview(frame)):
        metrics.received(None, each)  # type: ignore[arg-type]
        metrics.sent(None, [each])  # type: ignore[arg-type, list-item]
    assert messages(samples(metrics)) == {
        ("in", "CALL", "Heartbeat"): 4,
        ("out", "CALL", "Heartbeat"): 4,
    }


# -- label caps -------------------------------------------------------------------------------


def test_action_and_code_labels_are_capped() -> None:
    """A peer sending random action names and error codes cannot make the series grow: beyond
    the cap they count as "other"; the specification's actions and codes keep their own."""
    metrics = Metrics(process=False)
    for i in range(2000):
        metrics.received(None, b'[2,"%d","Random%d",{}]' % (i, i))  # type: ignore[arg-type]
        metrics.received(None, b'[4,"%d","Code%d","",{}]' % (i, i))  # type: ignore[arg-type]
    metrics.received(None, b'[2,"x","Heartbeat",{}]')  # type: ignore[arg-type]
    metrics.received(None, b'[4,"x","SecurityError","",{}]')  # type: ignore[arg-type]
    found = samples(metrics)
    calls = {action: n for (_, kind, action), n in messages(found).items() if kind == "CALL"}
    assert sum(calls.values()) == 2001
    assert len(calls) <= metrics.max_label_values + 1
    assert calls["other"] > 1000 and calls["Heartbeat"] == 1
    codes = {
        dict(labels)["code"]: n
        for (name, labels), n in found.items()
        if name == "ocppfast_call_errors_total"
    }
    assert sum(codes.values()) == 2001
    assert len(codes) <= metrics.max_label_values + 1
    assert codes["other"] > 1000 and codes["SecurityError"] == 1
    # and the memory stays bounded too
    assert len(metrics._actions) <= metrics.max_label_values
    assert all(len(table) <= metrics.max_label_values + 1 for table in metrics._received.values())


def test_small_cap_keeps_the_specifications_names() -> None:
    metrics = Metrics(max_label_values=1, process=False)
    for frame in (b'[2,"1","Heartbeat",{}]', b'[2,"2","Vendor",{}]', b'[6,"3","Other2",{}]'):
        metrics.received(None, frame)  # type: ignore[arg-type]
    assert messages(samples(metrics)) == {
        ("in", "CALL", "Heartbeat"): 1,
        ("in", "CALL", "other"): 1,
        ("in", "SEND", "other"): 1,
    }


def test_a_name_other_and_the_overflow_are_one_series() -> None:
    """An action literally named "other" and the actions beyond the cap share one series,
    never two series with the same labels (which Prometheus would refuse)."""
    metrics = Metrics(max_label_values=1, process=False)
    metrics.received(None, b'[2,"1","Spill",{}]')  # type: ignore[arg-type]
    metrics.received(None, b'[2,"1","other",{}]')  # type: ignore[arg-type]
    assert messages(samples(metrics)) == {("in", "CALL", "other"): 2}


def test_undecodable_names_are_replaced() -> None:
    metrics = Metrics(process=False)
    metrics.received(None, b'[2,"1","Bad\xff",{}]')  # type: ignore[arg-type]
    assert messages(samples(metrics)) == {("in", "CALL", "Bad\ufffd"): 1}


# -- histograms -------------------------------------------------------------------------------


def test_histogram_buckets() -> None:
    """Prometheus buckets are "less than or equal" (le) and cumulative, +Inf last."""
    histogram = Histogram([1, 2, 5])
    for observed in (0.5, 1, 1.5, 2, 5, 7, 0):
        histogram.observe(observed)
    assert histogram.counts == [3, 2, 1, 1]
    assert histogram.buckets() == [("1.0", 3), ("2.0", 5), ("5.0", 6), ("+Inf", 7)]
    assert histogram.count == 7 and histogram.sum == 17.0
    with pytest.raises(ValueError):
        Histogram([2, 1])
    with pytest.raises(ValueError):
        Histogram([1, 1])
    with pytest.raises(ValueError):
        Histogram([])
    with pytest.raises(ValueError):
        Metrics(call_buckets=[5, 1])


def test_calls_commits_and_quirks_render() -> None:
    metrics = Metrics(process=False)
    connection: Any = None
    metrics.call_finished(connection, "Reset", 0.004, None)
    metrics.call_finished(connection, "Reset", 0.2, ActionNotSupportedError("no"))
    metrics.call_finished(connection, "Reset", 30.0, CallTimeoutError("Reset", "1", 30.0))
    metrics.call_finished(connection, "Reset", 1.0, SessionClosedError("Reset", "1"))
    metrics.call_finished(connection, "Reset", 1.0, asyncio.CancelledError())
    metrics.call_finished(connection, "NoSuchAction", 1.0, None)
    metrics.tolerated(connection, "serial_number_too_long")
    metrics.tolerated(connection, "serial_number_too_long")
    metrics.commit(0.003, 10)
    metrics.commit(2.0, 5)
    metrics.commit_failed()
    found = samples(metrics)
    duration = "ocppfast_call_duration_seconds"
    assert value(found, duration + "_count", action="Reset") == 2  # the answered ones
    assert value(found, duration + "_sum", action="Reset") == pytest.approx(0.204)
    assert value(found, duration + "_bucket", action="Reset", le="0.005") == 1
    assert value(found, duration + "_bucket", action="Reset", le="0.1") == 1
    assert value(found, duration + "_bucket", action="Reset", le="0.25") == 2
    assert value(found, duration + "_bucket", action="Reset", le="+Inf") == 2
    assert value(found, duration + "_count", action="other") == 1
    failed = "ocppfast_calls_failed_total"
    for reason in ("callerror", "timeout", "closed", "other"):
        assert value(found, failed, action="Reset", reason=reason) == 1
    assert value(found, "ocppfast_quirks_tolerated_total", quirk="serial_number_too_long") == 2
    assert value(found, "ocppfast_storage_commit_seconds_count") == 2
    assert value(found, "ocppfast_storage_commit_seconds_bucket", le="0.005") == 1
    assert value(found, "ocppfast_storage_commit_seconds_bucket", le="2.5") == 2
    assert value(found, "ocppfast_storage_commit_seconds_sum") == pytest.approx(2.003)
    assert value(found, "ocppfast_storage_rows_written_total") == 15
    assert value(found, "ocppfast_storage_commit_failures_total") == 1


def test_every_metric_has_help_and_the_registry_is_private() -> None:
    metrics = Metrics()
    metrics.server = SimpleNamespace(  # type: ignore[assignment]
        versions=("ocpp2.1", "ocpp1.6"),
        connections={"a": SimpleNamespace(version="ocpp1.6")},
    )
    body, _ = metrics.render()
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    for name in METRIC_NAMES:
        family = families[name.removesuffix("_total")]
        assert len(family.documentation) > 30, name
    assert any(name.startswith("process_") for name in families)  # process=True (Linux)
    found = samples(metrics)
    assert value(found, "ocppfast_stations_connected", version="ocpp1.6") == 1
    assert value(found, "ocppfast_stations_connected", version="ocpp2.1") == 0
    assert ("ocppfast_stations_connected", frozenset({("version", "ocpp2.1")})) in found
    # nothing in prometheus_client's global registry, nor shared between two Metrics
    assert (
        prometheus_client.REGISTRY.get_sample_value("ocppfast_storage_rows_written_total") is None
    )
    other = Metrics(process=False)
    metrics.commit(0.1, 3)
    assert other.registry.get_sample_value("ocppfast_storage_rows_written_total") == 0
    assert metrics.registry.get_sample_value("ocppfast_storage_rows_written_total") == 3


# -- a CSMS over real sockets -----------------------------------------------------------------


class _Station201(Handlers):
    @on("ClearCache")
    def clear_cache(self, request: v201.ClearCacheRequest) -> v201.ClearCacheResponse:
        return v201.ClearCacheResponse(status=v201.ClearCacheStatusEnum.Accepted)


async def _raw(ws: Any, frame: str) -> list[Any]:
    """Send a frame over a bare WebSocket and return the answer, parsed."""
    await ws.send(frame)
    answer: list[Any] = json.loads(await ws.recv())
    return answer


def test_metrics_of_a_served_csms(core: Backend) -> None:
    """Two stations on a `Server` observed by `Metrics`: one an ocppfast station (2.0.1), one
    a bare WebSocket speaking 1.6 frames by hand; the CSMS calls both."""
    metrics = Metrics()
    state = CsmsState()

    async def main() -> None:
        server = Server(default_csms(state), host="127.0.0.1", port=0, observer=metrics, core=core)
        metrics.server = server
        await server.start()
        try:
            async with (
                connect(f"{server.url}/CP-A", subprotocols=["ocpp2.0.1"]) as ws_a,  # type: ignore[list-item]
                connect(f"{server.url}/CP-B", subprotocols=["ocpp1.6"]) as ws_b,  # type: ignore[list-item]
            ):
                a = Connection(
                    WebSocketTransport(ws_a), role="station", handlers=_Station201, core=core
                )
                task = asyncio.create_task(a.run())
                boot = await a.call(
                    v201.BootNotificationRequest(
                        reason=v201.BootReasonEnum.PowerUp,
                        charging_station=v201.ChargingStation(model="M", vendor_name="V"),
                    )
                )
                assert boot.status == v201.RegistrationStatusEnum.Accepted
                await a.call(v201.HeartbeatRequest())

                answer = await _raw(
                    ws_b,
                    '[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]',
                )
                assert answer[0] == 3 and answer[2]["status"] == "Accepted"
                assert (await _raw(ws_b, '[2, "b2", "Heartbeat", {}]'))[0] == 3
                answer = await _raw(ws_b, '[2,"b3","FooBar",{}]')
                assert answer[:3] == [4, "b3", "NotImplemented"]
                await ws_b.send("this is not JSON")

                await until(lambda: len(server.connections) == 2)
                found = samples(metrics)
                assert value(found, "ocppfast_stations_connected", version="ocpp2.0.1") == 1
                assert value(found, "ocppfast_stations_connected", version="ocpp1.6") == 1
                assert value(found, "ocppfast_stations_connected", version="ocpp2.1") == 0

                # The CSMS's own CALLs: answered, refused with a CALLERROR, timed out.
                csms_a = server.connection("cp-a")
                csms_b = server.connection("CP-B")
                assert csms_a is not None and csms_b is not None
                cleared = await csms_a.call(v201.ClearCacheRequest())
                assert cleared.status == v201.ClearCacheStatusEnum.Accepted
                refused = asyncio.create_task(csms_b.call(v16.ClearCacheRequest()))
                call = json.loads(await ws_b.recv())
                while call[0] != 2:  # the answer to the malformed frame comes first
                    call = json.loads(await ws_b.recv())
                assert call[2] == "ClearCache"
                await ws_b.send(json.dumps([4, call[1], "NotSupported", "", {}]))
                with pytest.raises(ActionNotSupportedError):
                    await refused
                with pytest.raises(CallTimeoutError):
                    await csms_b.call(v16.ClearCacheRequest(), timeout=0.2)

                await a.close()
                await task
            await until(lambda: not server.connections)
        finally:
            await server.stop()

    run(main())
    found = samples(metrics)
    assert messages(found) == {
        ("in", "CALL", "BootNotification"): 2,
        ("in", "CALL", "Heartbeat"): 2,
        ("in", "CALL", "FooBar"): 1,
        ("in", "CALLRESULT", ""): 1,  # CP-A's answer to ClearCache
        ("in", "CALLERROR", ""): 1,  # CP-B's
        ("in", "malformed", ""): 1,
        ("out", "CALLRESULT", ""): 4,
        ("out", "CALLERROR", ""): 2,
        ("out", "CALL", "ClearCache"): 3,
    }
    errors = "ocppfast_call_errors_total"
    assert value(found, errors, direction="out", code="NotImplemented") == 1  # FooBar
    assert value(found, errors, direction="out", code="FormationViolation") == 1  # not JSON
    assert value(found, errors, direction="in", code="NotSupported") == 1
    duration = "ocppfast_call_duration_seconds"
    assert value(found, duration + "_count", action="ClearCache") == 2
    assert 0 < value(found, duration + "_sum", action="ClearCache") < 5
    failed = "ocppfast_calls_failed_total"
    assert value(found, failed, action="ClearCache", reason="callerror") == 1
    assert value(found, failed, action="ClearCache", reason="timeout") == 1
    assert value(found, "ocppfast_stations_connected", version="ocpp2.0.1") == 0
    assert value(found, "ocppfast_stations_connected", version="ocpp1.6") == 0


# -- storage ----------------------------------------------------------------------------------


def test_storage_commits_of_a_stored_csms(core: Backend, database_url: str) -> None:
    """`StoredState`'s group commits, observed through `GroupCommit.on_commit`: opening the
    database writes the transaction id key, a station's boot its record; each commit lands in
    the histogram with the rows it wrote."""
    metrics = Metrics(process=False)

    async def main() -> None:
        state = StoredState(open_database(database_url))
        state.committer.on_commit = metrics.commit
        state.committer.on_failure = metrics.commit_failed
        await state.open()
        await state.flush()
        opened = metrics.commits.count
        assert opened >= 1 and metrics.rows_written >= 1
        server = Server(default_csms(state), host="127.0.0.1", port=0, observer=metrics, core=core)
        metrics.server = server
        await server.start()
        try:
            async with connect(f"{server.url}/CP-S", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
                answer = await _raw(
                    ws,
                    '[2,"s1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]',
                )
                assert answer[0] == 3
            # the answer waited for its commit: it is counted already
            assert metrics.commits.count > opened
        finally:
            await server.stop()
            await state.close()

    run(main())
    found = samples(metrics)
    count = value(found, "ocppfast_storage_commit_seconds_count")
    assert count == metrics.commits.count >= 2
    assert value(found, "ocppfast_storage_commit_seconds_bucket", le="+Inf") == count
    assert value(found, "ocppfast_storage_commit_seconds_sum") > 0
    assert value(found, "ocppfast_storage_rows_written_total") == metrics.rows_written >= 2
    assert value(found, "ocppfast_storage_commit_failures_total") == 0


def test_group_commit_reports_commits_and_failures(database_url: str) -> None:
    """GroupCommit's on_commit gets (seconds, rows of parameters written) after each successful
    commit, never for an empty batch; on_failure after each failed one; a callback that raises
    is logged and stops nothing."""
    reported: list[tuple[float, int]] = []
    failures: list[None] = []
    batches: list[list[Any]] = [
        [("CREATE TABLE t (x INTEGER)", [()])],
        [("INSERT INTO t (x) VALUES (?)", [(1,), (2,), (3,)]), ("DELETE FROM t", [()])],
        [("INSERT INTO no_such_table (x) VALUES (?)", [(1,)])],
        [],
    ]

    async def main() -> None:
        database = open_database(database_url)
        await database.open()
        committer = GroupCommit(
            database,
            lambda: batches.pop(0) if batches else [],
            lambda: None,
            on_commit=lambda seconds, rows: reported.append((seconds, rows)),
            on_failure=lambda: failures.append(None),
        )
        try:
            await committer.flush()
            await committer.flush()
            with pytest.raises(StorageError):
                await committer.flush()
            await committer.flush()  # an empty batch: nothing written, nothing reported

            def broken(seconds: float, rows: int) -> None:
                raise RuntimeError("a broken metrics callback")

            committer.on_commit = broken
            batches.append([("INSERT INTO t (x) VALUES (?)", [(4,)])])
            await committer.flush()  # still committed
            assert await database.fetch("SELECT x FROM t") == [(4,)]
        finally:
            await database.close()

    run(main())
    assert [rows for _, rows in reported] == [1, 4]
    assert all(seconds >= 0 for seconds, _ in reported)
    assert failures == [None]
