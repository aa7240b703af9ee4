"""The e2e benchmark's load generator: many charging station connections from one lean process.

Run as its own process (`python -m ocppfast.bench.loadgen --help`), pinned to a core of its
own, against any server that speaks OCPP-J over WebSocket: `ocppfast serve`, the `ocpp`-package
server and the bare websockets echo server of `ocppfast.bench.peers`.

It must never be the bottleneck, so it does the least a client can. The opening handshake goes
through websockets' sans-I/O `ClientProtocol` (it validates the server's answer); after it, each
connection is a plain `asyncio.Protocol`: CALL frames are assembled from pre-encoded JSON pieces
(only the message id, and the seqNo of a TransactionEvent, change) and masked with websockets'
C `apply_mask`; answers are split into frames by their 2-to-10-byte headers, and only their
message type and id are read, never the JSON around them. Its CPU use per window is reported
next to the server's (`generator_cpu_seconds`): while it stays well under one core, the server
is what limits the rate.

Modes:
- `closed`: every connection keeps `--in-flight` CALLs outstanding, sending the next as soon as
  an answer arrives (a closed loop), through a warm-up and then `--windows` measured windows.
- `rate`: every connection sends one CALL (Heartbeat and StatusNotification in turn) every
  `--interval` seconds, spread evenly, for `--duration` seconds (the soak test).
- `idle`: the connections boot, then stay idle for `--hold` seconds, answering the server's
  pings; the server's memory is read at the end.

Progress goes to stderr, one line at a time; the result is one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson
from websockets.client import ClientProtocol
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri
from websockets.utils import apply_mask

from .._system import raise_file_limit
from .mixes import MIXES
from .procstat import cpu_seconds, rss_bytes

__all__ = ["main", "run"]

# One mask for every frame of this process. RFC 6455 5.3 wants masks unpredictable so that a
# page's script cannot steer the bytes an intermediary sees; on loopback there is none.
_MASK = os.urandom(4)
_TS = b'"2026-11-21T12:00:00.000Z"'
_ID_TAG = "04A2B3C4D5E6F7"


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


def _mix_payload(version: str, action: str) -> dict[str, Any]:
    for name, request, _ in MIXES[version]:
        if name == action:
            return dict(request)
    raise KeyError(action)


def _frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked, final client frame (RFC 6455 5.2) carrying `payload`."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0xFE)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0xFF)) + n.to_bytes(8, "big")
    return header + _MASK + apply_mask(payload, _MASK)


class _Calls:
    """The CALLs one station sends, as pre-encoded pieces: `next()` returns the payload of the
    next CALL of the mix, `setup` the CALLs sent once after connecting."""

    def __init__(self, version: str, mode: str, index: int) -> None:
        self.version = version
        self.mode = mode
        self.index = index
        self.position = 0
        self.seq_no = 1
        self.heartbeat = (b"Heartbeat", b"{}")
        self.status = (b"StatusNotification", _json(_mix_payload(version, "StatusNotification")))
        self.meter: tuple[bytes, bytes] | None = None
        self.event_head = b""
        self.event_tail = b""

    def setup(self) -> list[tuple[str, dict[str, Any]]]:
        """The CALLs sent in order before the load: BootNotification, then the transaction
        the meter values belong to (not in idle or rate mode)."""
        calls: list[tuple[str, dict[str, Any]]] = [
            ("BootNotification", _mix_payload(self.version, "BootNotification"))
        ]
        if self.mode != "closed":
            return calls
        if self.version == "ocpp1.6":
            calls.append(("StartTransaction", _mix_payload(self.version, "StartTransaction")))
        else:
            started = _mix_payload(self.version, "TransactionEvent")
            started.update(
                eventType="Started",
                triggerReason="Authorized",
                seqNo=0,
                transactionInfo={"transactionId": self.transaction_id, "chargingState": "Charging"},
                idToken={"idToken": _ID_TAG, "type": "ISO14443"},
            )
            started.pop("meterValue", None)
            calls.append(("TransactionEvent", started))
        return calls

    @property
    def transaction_id(self) -> str:
        return f"bench-{self.index}"

    def started(self, answer: Any) -> None:
        """Take the StartTransaction answer (1.6: the CSMS gives the transaction id) and
        pre-encode the meter values of that transaction."""
        if self.version == "ocpp1.6":
            meter = _mix_payload(self.version, "MeterValues")
            # The echo server answers with our own CALL: keep the mix's transaction id then.
            if isinstance(answer, dict) and isinstance(answer.get("transactionId"), int):
                meter["transactionId"] = answer["transactionId"]
            self.meter = (b"MeterValues", _json(meter))
        else:
            event = _mix_payload(self.version, "TransactionEvent")
            event["transactionInfo"] = {
                "transactionId": self.transaction_id,
                "chargingState": "Charging",
            }
            event["seqNo"] = 1
            head, tail = _json(event).split(b'"seqNo":1', 1)
            self.event_head, self.event_tail = head + b'"seqNo":', tail

    def next(self) -> tuple[bytes, bytes]:
        """The action and payload of the next CALL of the load."""
        position = self.position
        self.position = position + 1
        if self.mode == "rate":  # the soak: Heartbeat and StatusNotification in turn
            return self.heartbeat if position % 2 == 0 else self.status
        kind = position % 3
        if kind == 0:
            return self.heartbeat
        if kind == 1:
            return self.status
        if self.meter is not None:
            return self.meter
        seq_no = self.seq_no
        self.seq_no = seq_no + 1
        return b"TransactionEvent", self.event_head + b"%d" % seq_no + self.event_tail


class _Station(asyncio.Protocol):
    """One station connection."""

    def __init__(self, gen: _Generator, index: int) -> None:
        self.gen = gen
        self.index = index
        self.calls = _Calls(gen.version, gen.mode, index)
        self.transport: asyncio.Transport | None = None
        self.handshake: ClientProtocol | None = ClientProtocol(
            parse_uri(f"{gen.url}/{gen.identity_prefix}{index}"),
            subprotocols=[Subprotocol(gen.version)],
        )
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.answer: asyncio.Future[list[Any]] | None = None
        self.buffer = b""
        self.next_id = 0
        self.sent_at: dict[bytes, float] = {}
        self.closing = False
        self.lost = False

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        assert self.handshake is not None
        self.handshake.send_request(self.handshake.connect())
        for data in self.handshake.data_to_send():
            self._write(data)

    def data_received(self, data: bytes) -> None:
        if self.handshake is not None:
            self._handshake_data(data)
            return
        buffer = self.buffer + data if self.buffer else data
        size = len(buffer)
        position = 0
        while size - position >= 2:
            length = buffer[position + 1] & 0x7F
            start = position + 2
            if length == 126:
                if size - start < 2:
                    break
                length = int.from_bytes(buffer[start : start + 2], "big")
                start += 2
            elif length == 127:
                if size - start < 8:
                    break
                length = int.from_bytes(buffer[start : start + 8], "big")
                start += 8
            end = start + length
            if end > size:
                break
            opcode = buffer[position] & 0x0F
            position = end
            if opcode == 0x1:
                self._message(buffer[start:end])
            elif opcode == 0x9:  # ping: answer with a pong carrying its payload
                self.gen.pings += 1
                self._write(_frame(buffer[start:end], 0xA))
            elif opcode == 0x8:
                self._closed_by_server(buffer[start:end])
                return
            # pong (0xA) and anything else: nothing to do
        self.buffer = buffer[position:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        # Its CALLs in flight will never be answered: counted once, not waited for.
        self.gen.lost_calls += len(self.sent_at)
        self.sent_at.clear()
        if not self.closing:
            self.gen.dropped += 1
            self.gen.note(f"connection {self.index} lost: {exc or 'closed by the server'}")
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost: {exc}"))
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionError("connection lost"))

    # -- handshake and setup -----------------------------------------------------------------

    def _handshake_data(self, data: bytes) -> None:
        handshake = self.handshake
        assert handshake is not None and self.transport is not None
        handshake.receive_data(data)
        for event in handshake.events_received():
            if not isinstance(event, Response) or self.opened.done():
                continue
            self.handshake = None
            if handshake.handshake_exc is not None:
                self.opened.set_exception(handshake.handshake_exc)
            elif event.headers.get("Sec-WebSocket-Protocol") != self.gen.version:
                self.opened.set_exception(
                    ConnectionError(f"the server did not accept {self.gen.version}")
                )
            else:
                self.opened.set_result(None)

    async def request(self, action: str, payload: dict[str, Any]) -> list[Any]:
        """Send one CALL and wait for its answer, decoded (setup only)."""
        loop = asyncio.get_running_loop()
        self.answer = loop.create_future()
        self._call(action.encode(), _json(payload))
        return await asyncio.wait_for(self.answer, self.gen.call_timeout)

    async def setup(self) -> None:
        for action, payload in self.calls.setup():
            answer = await self.request(action, payload)
            if answer[0] == 4:
                raise ConnectionError(f"{action} refused: {answer[2]} {answer[3]}")
            body = answer[2] if answer[0] == 3 else answer[3]
            if action == "BootNotification" and body.get("status", "Accepted") != "Accepted":
                raise ConnectionError(f"BootNotification answered {body.get('status')}")
            if action in ("StartTransaction", "TransactionEvent"):
                self.calls.started(body)

    # -- the load ----------------------------------------------------------------------------

    def _call(self, action: bytes, payload: bytes) -> None:
        message_id = b"%d" % self.next_id
        self.next_id += 1
        self.sent_at[message_id] = time.perf_counter()
        self._write(_frame(b'[2,"' + message_id + b'","' + action + b'",' + payload + b"]"))

    def send_next(self) -> None:
        if not self.lost:
            action, payload = self.calls.next()
            self.gen.sent += 1
            self._call(action, payload)

    def _message(self, message: bytes) -> None:
        # Only the message type and id are read: [3,"<id>",...] (the echo server: [2,...]).
        quote = message.find(b'"')
        message_id = message[quote + 1 : message.find(b'"', quote + 1)]
        sent = self.sent_at.pop(message_id, None)
        gen = self.gen
        if sent is None:
            gen.unexpected += 1
            return
        if self.answer is not None:  # setup: hand the whole answer over
            answer, self.answer = self.answer, None
            if not answer.done():
                answer.set_result(orjson.loads(message))
            return
        gen.latencies.append(time.perf_counter() - sent)
        if message[1] == 0x34:  # b"4": a CALLERROR
            gen.errors += 1
            if gen.errors <= 3:
                gen.note(f"CALLERROR: {message[:200]!r}")
        if gen.sending and gen.mode == "closed":
            self.send_next()

    def _write(self, data: bytes) -> None:
        if data and self.transport is not None and not self.lost:
            self.transport.write(data)

    def _closed_by_server(self, payload: bytes) -> None:
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        if not self.closing:
            self.gen.note(f"connection {self.index} closed by the server: {code} {payload[2:]!r}")
            self.gen.dropped += 1
            self.closing = True
        self._write(_frame(payload[:2], 0x8))
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        """Close politely: a close frame (1000), then the TCP connection."""
        self.closing = True
        if self.transport is not None and not self.lost:
            self._write(_frame((1000).to_bytes(2, "big"), 0x8))
            self.transport.close()


class _Generator:
    """The whole load: the stations, counters and the measured windows."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.url = args.url.rstrip("/")
        self.identity_prefix = args.identity_prefix
        self.version: str = args.version
        self.mode: str = args.mode
        self.connections: int = args.connections
        self.call_timeout: float = args.call_timeout
        self.args = args
        self.stations: list[_Station] = []
        self.latencies: list[float] = []
        self.errors = 0
        self.unexpected = 0
        self.dropped = 0
        self.connect_failed = 0
        self.sending = False
        self.sent = 0
        self.lost_calls = 0  # CALLs in flight on connections that were lost
        self.pings = 0  # pings received from the server (each answered with a pong)
        self._notes = 0

    def note(self, text: str) -> None:
        """A progress or problem line on stderr (at most 20 problems, then quiet)."""
        self._notes += 1
        if self._notes <= 20:
            print(f"loadgen: {text}", file=sys.stderr, flush=True)

    def progress(self, text: str) -> None:
        print(f"loadgen: {text}", file=sys.stderr, flush=True)

    async def connect_all(self) -> None:
        loop = asyncio.get_running_loop()
        uri = parse_uri(self.url)
        host, port = uri.host, uri.port
        gate = asyncio.Semaphore(self.args.connect_concurrency)
        started = time.perf_counter()
        done = 0

        async def connect(index: int) -> None:
            nonlocal done
            async with gate:
                station = _Station(self, index)
                try:
                    await asyncio.wait_for(
                        loop.create_connection(lambda: station, host, port), self.call_timeout
                    )
                    await asyncio.wait_for(station.opened, self.call_timeout)
                    await station.setup()
                except Exception as exc:  # refused, timed out, boot rejected: counted
                    station.close()
                    self.connect_failed += 1
                    self.note(f"station {index} failed to connect and boot: {exc!r}")
                    return
                self.stations.append(station)
                done += 1

        tasks = [asyncio.ensure_future(connect(i)) for i in range(self.connections)]
        waiting = asyncio.gather(*tasks)
        while not waiting.done():
            await asyncio.wait([waiting], timeout=2.0)
            self.progress(  # every 2 s, and once when all are done
                f"connected and booted {done:,}/{self.connections:,} "
                f"({time.perf_counter() - started:.1f} s)"
            )
        self.connect_seconds = time.perf_counter() - started

    def close_all(self) -> None:
        for station in self.stations:
            station.close()

    def in_flight(self) -> int:
        return sum(len(s.sent_at) for s in self.stations)


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000.0, 3)


class _Snapshot:
    def __init__(self, gen: _Generator, server_pid: int | None) -> None:
        self.wall = time.perf_counter()
        self.generator_cpu = time.process_time()
        self.server_cpu = cpu_seconds(server_pid) if server_pid else None
        self.answered = len(gen.latencies)
        self.errors = gen.errors


def _window(gen: _Generator, a: _Snapshot, b: _Snapshot) -> dict[str, Any]:
    window = gen.latencies[a.answered : b.answered]
    seconds = b.wall - a.wall
    result: dict[str, Any] = {
        "calls": b.answered - a.answered,
        "errors": b.errors - a.errors,
        "seconds": round(seconds, 4),
        "generator_cpu_seconds": round(b.generator_cpu - a.generator_cpu, 4),
        "p50_ms": _ms(_percentile(window, 0.50)),
        "p99_ms": _ms(_percentile(window, 0.99)),
    }
    if a.server_cpu is not None and b.server_cpu is not None:
        result["server_cpu_seconds"] = round(b.server_cpu - a.server_cpu, 4)
    return result


def _figures(whole: dict[str, Any]) -> dict[str, Any]:
    """The figures the benchmark reports, over all the measured windows together: rates are
    total calls over total seconds, latencies percentiles of every call. (A median of
    per-window rates would not do: with thousands of stations a round trip can outlast a
    window, and answers then come in bursts that leave some windows nearly empty.)"""
    seconds, cpu = whole["seconds"], whole.get("server_cpu_seconds")
    return {
        "calls_per_second": whole["calls"] / seconds if seconds else None,
        "calls_per_cpu_second": whole["calls"] / cpu if cpu else None,
        "p50_ms": whole["p50_ms"],
        "p99_ms": whole["p99_ms"],
        "server_cpu_share": cpu / seconds if cpu is not None and seconds else None,
        "generator_cpu_share": whole["generator_cpu_seconds"] / seconds if seconds else None,
    }


async def _closed_loop(gen: _Generator, args: argparse.Namespace) -> dict[str, Any]:
    gen.sending = True
    for station in gen.stations:
        for _ in range(args.in_flight):
            station.send_next()
    await asyncio.sleep(args.warmup)
    windows = []
    first = start = _Snapshot(gen, args.server_pid)
    for number in range(args.windows):
        await asyncio.sleep(args.window_seconds)
        end = _Snapshot(gen, args.server_pid)
        window = _window(gen, start, end)
        start = end
        windows.append(window)
        rate = window["calls"] / window["seconds"]
        gen.progress(
            f"window {number + 1}/{args.windows}: {rate:,.0f} calls/s, p99 {window['p99_ms']} ms"
        )
    gen.sending = False
    return {"windows": windows, **_figures(_window(gen, first, start))}


async def _rate(gen: _Generator, args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    interval = args.interval
    begin = loop.time()

    def tick(station: _Station, at: float) -> None:
        # On a fixed schedule (call_at, not call_later: no drift when the loop runs late).
        if gen.sending:
            station.send_next()
            loop.call_at(at + interval, tick, station, at + interval)

    start = _Snapshot(gen, args.server_pid)
    for index, station in enumerate(gen.stations):  # spread the stations evenly
        at = begin + interval * index / len(gen.stations)
        loop.call_at(at, tick, station, at)
    gen.sending = True
    deadline = loop.time() + args.duration
    while loop.time() < deadline:
        await asyncio.sleep(min(10.0, max(0.0, deadline - loop.time())))
        gen.progress(
            f"{len(gen.latencies):,} calls answered, {gen.errors} errors, {gen.dropped} "
            f"dropped, {gen.in_flight()} in flight, {args.duration - (deadline - loop.time()):.0f}"
            f"/{args.duration:.0f} s"
        )
    gen.sending = False
    # Wait for the last answers: every CALL sent gets one, or counts as unanswered.
    drain_until = loop.time() + gen.call_timeout
    while gen.in_flight() and loop.time() < drain_until:
        await asyncio.sleep(0.1)
    end = _Snapshot(gen, args.server_pid)
    window = _window(gen, start, end)
    return {
        "calls": gen.sent,
        "answered": window["calls"],
        "unanswered": gen.in_flight() + gen.lost_calls,
        "p50_ms": window["p50_ms"],
        "p99_ms": window["p99_ms"],
        "max_ms": _ms(max(gen.latencies[start.answered :], default=None)),
        "seconds": window["seconds"],
        "server_cpu_seconds": window.get("server_cpu_seconds"),
        "generator_cpu_seconds": window["generator_cpu_seconds"],
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the load `args` describes and return its result (see the module docstring)."""
    raise_file_limit()
    gen = _Generator(args)
    server_pid = args.server_pid
    rss_before = rss_bytes(server_pid) if server_pid else None
    await gen.connect_all()
    rss_connected = rss_bytes(server_pid) if server_pid else None
    result: dict[str, Any] = {
        "mode": gen.mode,
        "version": gen.version,
        "connections": gen.connections,
        "connected": len(gen.stations),
        "connect_failed": gen.connect_failed,
        "connect_seconds": round(gen.connect_seconds, 3),
    }
    if gen.mode == "closed" and gen.stations:
        result["in_flight"] = args.in_flight
        result.update(await _closed_loop(gen, args))
    elif gen.mode == "rate" and gen.stations:
        result["interval_seconds"] = args.interval
        result["duration_seconds"] = args.duration
        result.update(await _rate(gen, args))
    elif gen.mode == "idle":
        if args.hold:
            gen.progress(f"holding {len(gen.stations):,} idle connections for {args.hold:g} s")
        await asyncio.sleep(args.hold)
        result["hold_seconds"] = args.hold
    if server_pid and rss_before is not None and rss_connected is not None:
        rss_after = rss_bytes(server_pid)
        result["rss_before_bytes"] = rss_before
        result["rss_after_bytes"] = rss_after
        # What the connections themselves cost: read once all are booted, before any load
        # (what a CSMS keeps of the calls, meter samples above all, grows it afterwards), or
        # at the end of an idle hold, while pings flow.
        held = rss_after if gen.mode == "idle" else rss_connected
        if gen.stations:
            result["rss_per_connection_bytes"] = round((held - rss_before) / len(gen.stations))
    result["errors"] = gen.errors
    result["unexpected_answers"] = gen.unexpected
    result["pings"] = gen.pings
    result["dropped"] = gen.dropped
    gen.close_all()
    await asyncio.sleep(0.2)  # let the close frames leave
    return result


def parser() -> argparse.ArgumentParser:
    """The command line of the generator process."""
    p = argparse.ArgumentParser(
        prog="python -m ocppfast.bench.loadgen",
        description="Open many OCPP station connections to a server and load it.",
    )
    p.add_argument("url", help="server URL without the identity, e.g. ws://127.0.0.1:9000")
    p.add_argument("--version", default="ocpp1.6", choices=sorted(MIXES))
    p.add_argument("--mode", default="closed", choices=["closed", "rate", "idle"])
    p.add_argument("--connections", type=int, default=100)
    p.add_argument("--in-flight", type=int, default=1, help="closed mode: CALLs per connection")
    p.add_argument("--warmup", type=float, default=1.0, help="closed mode: seconds before windows")
    p.add_argument("--windows", type=int, default=5, help="closed mode: measured windows")
    p.add_argument("--window-seconds", type=float, default=3.0)
    p.add_argument("--interval", type=float, default=10.0, help="rate mode: seconds between CALLs")
    p.add_argument("--duration", type=float, default=300.0, help="rate mode: seconds of load")
    p.add_argument("--hold", type=float, default=10.0, help="idle mode: seconds to hold")
    p.add_argument("--server-pid", type=int, default=None, help="read this process's CPU and RSS")
    p.add_argument("--connect-concurrency", type=int, default=200)
    p.add_argument("--call-timeout", type=float, default=60.0)
    p.add_argument("--identity-prefix", default="BENCH-")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        result = asyncio.run(run(args))
    else:
        result = uvloop.run(run(args))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
