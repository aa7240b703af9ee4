"""The load generator's lean client (ocppfast/bench/loadgen.py): its frame reader and writer,
checked byte by byte without a server (the e2e tests run it against real ones)."""

from __future__ import annotations

from typing import Any

import orjson

from ocppfast.bench import loadgen
from tests.aio import run


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True


def server_frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked server frame (RFC 6455 5.2), in the length form its size calls for."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big") + payload


def unmask(frame: bytes) -> tuple[int, bytes]:
    """(opcode, payload) of one masked client frame."""
    n, start = frame[1] & 0x7F, 2
    if n == 126:
        n, start = int.from_bytes(frame[2:4], "big"), 4
    elif n == 127:
        n, start = int.from_bytes(frame[2:10], "big"), 10
    assert frame[1] & 0x80, "client frames are masked (RFC 6455 5.3)"
    mask, data = frame[start : start + 4], frame[start + 4 :]
    assert len(data) == n
    return frame[0] & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def station(mode: str = "closed") -> Any:
    """A 2.0.1 station whose transaction has started, as after its setup CALLs."""
    args = loadgen.parser().parse_args(
        ["ws://127.0.0.1:1", "--mode", mode, "--version", "ocpp2.0.1"]
    )
    gen = loadgen._Generator(args)
    s = loadgen._Station(gen, 0)
    s.calls.started({})
    s.handshake = None  # as after the opening handshake
    s.transport = FakeTransport()  # type: ignore[assignment]
    gen.sending = True
    return gen, s


def test_frames_split_anywhere_are_read_and_each_length_form_is_understood() -> None:
    """Answers fed one byte at a time, in the 7-bit, 16-bit and 64-bit length forms, are each
    matched to their CALL; a ping is answered with a masked pong carrying its payload; in the
    closed loop every answer sends the next CALL."""

    async def main() -> None:
        gen, s = station()
        for _ in range(3):
            s.send_next()
        ids = [i.decode() for i in s.sent_at]
        answers = [
            orjson.dumps([3, ids[0], {}]),
            orjson.dumps([3, ids[1], {"data": "x" * 300}]),
            orjson.dumps([4, ids[2], "NotSupported", "y" * 70_000, {}]),
        ]
        stream = server_frame(0x9, b"ping!") + b"".join(server_frame(0x1, a) for a in answers)
        s.transport.written.clear()
        for i in range(len(stream)):
            s.data_received(stream[i : i + 1])
        assert len(gen.latencies) == 3 and gen.errors == 1 and gen.unexpected == 0
        assert s.buffer == b"" and s.sent_at.keys() == {b"3", b"4", b"5"}
        pong, *calls = [unmask(f) for f in s.transport.written]
        assert pong == (0xA, b"ping!")
        assert [orjson.loads(payload)[:3] for _, payload in calls] == [
            [2, "3", "Heartbeat"],
            [2, "4", "StatusNotification"],
            [2, "5", "TransactionEvent"],
        ]

    run(main())


def test_a_close_from_the_server_counts_as_a_dropped_connection() -> None:
    async def main() -> None:
        gen, s = station()
        s.data_received(server_frame(0x8, (1011).to_bytes(2, "big") + b"bye"))
        assert gen.dropped == 1 and s.transport.closed
        assert unmask(s.transport.written[-1]) == (0x8, (1011).to_bytes(2, "big"))

    run(main())


def test_rate_mode_alternates_heartbeat_and_status_and_2x_seq_numbers_rise() -> None:
    async def main() -> None:
        _, s = station("rate")
        assert [s.calls.next()[0] for _ in range(4)] == [b"Heartbeat", b"StatusNotification"] * 2
        _, s = station()
        events = [s.calls.next() for _ in range(6)][2::3]
        assert [orjson.loads(p)["seqNo"] for _, p in events] == [1, 2]

    run(main())


def test_calls_in_flight_on_a_lost_connection_are_counted_once_not_awaited() -> None:
    async def main() -> None:
        gen, s = station("rate")
        gen.stations.append(s)
        s.send_next()
        s.send_next()
        s.connection_lost(ConnectionResetError())
        assert gen.dropped == 1 and gen.lost_calls == 2 and gen.in_flight() == 0

    run(main())
