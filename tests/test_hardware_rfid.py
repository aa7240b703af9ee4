"""ocppfast.hardware.rfid: serial RFID readers over a real pty pair.

The reader opens the pty's slave through a symlink, as a station opens /dev/serial/by-id/...;
the test is the reader hardware on the master end, writing real frames. "Unplugging" closes
the pty and points the link at nothing; "plugging back" makes a new pty and points the link at
it, as udev does when a USB adapter comes back. No core involved: no `core` fixture."""

from __future__ import annotations

import asyncio
import logging
import os
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocppfast.hardware.rfid import (
    Em4100Parser,
    LineParser,
    RfidConfig,
    RfidReader,
    RfidStats,
    em4100_frame,
)
from tests.aio import run, until

# The example from the EM4100 UART protocol sheet: card 62E3086CED, checksum 08.
CARD = bytes.fromhex("62E3086CED")
CARD_FRAME = b"\x02" + b"62E3086CED08" + b"\x03"
OTHER = bytes.fromhex("0A00B1C2D3")


class FakeDevice:
    """The reader hardware: the master end of a pty whose slave `link` points at."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master = -1
        self.slave = -1
        self.plug()

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tmp = self.link.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(self.slave))
        tmp.replace(self.link)

    def unplug(self) -> None:
        os.close(self.master)
        os.close(self.slave)
        self.master = self.slave = -1
        # The device node is gone: the link points at nothing until the device is back.
        tmp = self.link.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(self.link.parent / "gone")
        tmp.replace(self.link)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        if self.master >= 0:
            os.close(self.master)
            os.close(self.slave)


@pytest.fixture
def device(tmp_path: Path) -> Iterator[FakeDevice]:
    fake = FakeDevice(tmp_path / "ttyRFID")
    yield fake
    fake.close()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def config(device: FakeDevice, **kwargs: object) -> RfidConfig:
    return RfidConfig(port=str(device.link), reconnect_min=0.02, reconnect_max=0.1, **kwargs)  # type: ignore[arg-type]


def test_frame_format_matches_the_protocol_sheet() -> None:
    assert em4100_frame(CARD) == CARD_FRAME
    assert Em4100Parser(RfidStats()).feed(CARD_FRAME) == ["62E3086CED"]


def test_good_frames_and_repeats_suppressed_until_the_hold_ends(device: FakeDevice) -> None:
    clock = Clock()
    seen: list[str] = []

    async def main() -> None:
        async with RfidReader(config(device, hold_time=1.0), on_tag=seen.append, clock=clock) as r:
            await until(r.connected.is_set)
            # The card stays on the reader: the module repeats its frame every ~100 ms.
            for i in range(1, 6):
                device.write(CARD_FRAME)
                await until(lambda i=i: r.stats.frames == i)  # type: ignore[misc]
                clock.now += 0.1
            await until(lambda: r.stats.frames == 5)
            assert seen == ["62E3086CED"]
            assert r.stats.repeats == 4
            # Another card at once is a presentation of its own.
            device.write(em4100_frame(OTHER))
            await until(lambda: r.stats.frames == 6)
            # The first card back within the hold of its last read... but after OTHER: new.
            device.write(CARD_FRAME)
            await until(lambda: r.stats.frames == 7)
            assert seen == ["62E3086CED", "0A00B1C2D3", "62E3086CED"]
            # Taken away for longer than the hold, then presented again.
            clock.now += 1.5
            device.write(CARD_FRAME)
            await until(lambda: len(seen) == 4)
            assert seen[-1] == "62E3086CED"
            assert r.fault is None

    run(main())


def test_async_iterator_yields_presentations_and_ends_on_close(device: FakeDevice) -> None:
    async def main() -> list[str]:
        reader = RfidReader(config(device))
        reader.start()
        await until(reader.connected.is_set)
        got: list[str] = []

        async def consume() -> None:
            async for token in reader.tags():
                got.append(token)

        consumer = asyncio.create_task(consume())
        await until(lambda: reader._queues != [])
        device.write(CARD_FRAME + CARD_FRAME + em4100_frame(OTHER))
        await until(lambda: len(got) == 2)
        await reader.close()
        await asyncio.wait_for(consumer, 5)
        return got

    assert run(main()) == ["62E3086CED", "0A00B1C2D3"]


def test_bad_checksum_discarded_counted_and_logged(
    device: FakeDevice, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    async def main() -> RfidStats:
        async with RfidReader(config(device), on_tag=seen.append) as reader:
            await until(reader.connected.is_set)
            device.write(em4100_frame(CARD, checksum=0x09))
            device.write(em4100_frame(OTHER))
            await until(lambda: seen != [])
            return reader.stats

    with caplog.at_level(logging.WARNING, "ocppfast.hardware"):
        stats = run(main())
    assert seen == ["0A00B1C2D3"]
    assert stats.bad_checksum == 1
    assert "bad checksum in frame 62E3086CED09 (computed 08, sent 09)" in caplog.text


def test_garbage_between_frames_and_a_split_frame_resync(
    device: FakeDevice, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    async def main() -> RfidStats:
        async with RfidReader(config(device), on_tag=seen.append) as reader:
            await until(reader.connected.is_set)
            # Line noise, a frame cut short by a lost byte, a frame with no ETX, a frame with
            # non-hex digits, then a good frame split over three writes.
            device.write(b"\xff\x00noise")
            device.write(b"\x0262E308")  # cut short: the next STX resyncs
            device.write(em4100_frame(OTHER)[:-1] + b"7777")  # no ETX: overlong
            device.write(b"\x0262E3086CEDZZ\x03")  # malformed
            frame = em4100_frame(CARD)
            device.write(frame[:3])
            await until(lambda: reader.stats.garbage == 4)
            device.write(frame[3:9])
            device.write(frame[9:])
            await until(lambda: seen != [])
            return reader.stats

    with caplog.at_level(logging.WARNING, "ocppfast.hardware"):
        stats = run(main())
    assert seen == ["62E3086CED"]
    # The noise, the cut frame, the rest of the overlong one ("777", before the next STX),
    # the malformed frame.
    assert stats.garbage == 4
    assert stats.overlong == 1
    assert stats.frames == 1
    assert "bytes outside a frame discarded: b'\\xff\\x00noise'" in caplog.text
    assert "frame cut short" in caplog.text


def test_parser_survives_any_bytes() -> None:
    stats = RfidStats()
    parser = Em4100Parser(stats)
    assert parser.feed(bytes(range(256)) * 4) == []
    assert parser.feed(CARD_FRAME) == ["62E3086CED"]
    lines = LineParser(stats, base=10)
    assert lines.feed(bytes(range(256)) * 4) == []
    assert lines.feed(b"\r\n255\r\n") == ["FF"]


def test_line_mode_hex_with_prefix(device: FakeDevice, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []
    cfg = config(device, format="line", line_prefix="UID:", max_line=20, hold_time=0.0)

    async def main() -> RfidStats:
        async with RfidReader(cfg, on_tag=seen.append) as reader:
            await until(reader.connected.is_set)
            device.write(b"UID: 04a2b3c4d5e680\r\n")
            device.write(b"UID:04:A2:B3:C4\n")
            device.write(b"hello\r\n")  # no prefix
            device.write(b"UID: 04xx\r\n")  # not hex
            device.write(b"UID:" + b"A" * 40 + b"\r\nUID:1")  # overlong, then split line
            await until(lambda: reader.stats.overlong == 1)
            device.write(b"23\r")
            await until(lambda: len(seen) == 3)
            return reader.stats

    with caplog.at_level(logging.WARNING, "ocppfast.hardware"):
        stats = run(main())
    assert seen == ["04A2B3C4D5E680", "04A2B3C4", "0123"]
    assert stats.garbage == 2
    assert "line discarded (no prefix 'UID:'): b'hello'" in caplog.text
    assert "line longer than 20 bytes discarded" in caplog.text


def test_line_mode_decimal_and_repeats(device: FakeDevice) -> None:
    clock = Clock()
    seen: list[str] = []
    cfg = config(device, format="line", line_base=10, hold_time=1.0)

    async def main() -> None:
        async with RfidReader(cfg, on_tag=seen.append, clock=clock) as reader:
            await until(reader.connected.is_set)
            device.write(b"0012345678\r\n0012345678\r\n")
            await until(lambda: reader.stats.frames == 2)
            clock.now += 2
            device.write(b"0012345678\n")
            await until(lambda: reader.stats.frames == 3)
            device.write(b"12a45\n")
            await until(lambda: reader.stats.garbage == 1)

    run(main())
    # 12345678 = 0xBC614E
    assert seen == ["BC614E", "BC614E"]


def test_unplugged_reader_is_a_fault_and_is_reopened(
    device: FakeDevice, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    faults: list[str | None] = []

    async def main() -> RfidStats:
        reader = RfidReader(config(device), on_tag=seen.append, on_fault=faults.append)
        async with reader:
            await until(reader.connected.is_set)
            device.write(CARD_FRAME[:5])  # the cable is pulled mid-frame
            parser = reader._parser
            assert isinstance(parser, Em4100Parser)
            await until(lambda: parser._frame is not None)
            device.unplug()
            await until(lambda: reader.fault is not None)
            assert not reader.connected.is_set()
            # It keeps trying while the device is away, without crashing.
            await until(lambda: "cannot open" in (reader.fault or ""))
            device.plug()
            await until(reader.connected.is_set)
            assert reader.fault is None
            # The half frame from before the unplug is not glued to what comes now.
            device.write(CARD_FRAME[5:] + em4100_frame(OTHER))
            await until(lambda: seen != [])
            return reader.stats

    with caplog.at_level(logging.INFO, "ocppfast.hardware"):
        stats = run(main())
    assert seen == ["0A00B1C2D3"]
    assert stats.disconnects == 1
    assert stats.opens == 2
    assert len(faults) == 2 and faults[0] is not None and faults[1] is None
    assert "lost (" in caplog.text
    assert "cannot open" in caplog.text
    assert "fault cleared" in caplog.text


def test_a_reader_absent_at_start_is_opened_when_it_appears(tmp_path: Path) -> None:
    link = tmp_path / "ttyRFID"
    seen: list[str] = []

    async def main() -> RfidReader:
        cfg = RfidConfig(port=str(link), reconnect_min=0.02, reconnect_max=0.05)
        async with RfidReader(cfg, on_tag=seen.append) as reader:
            await until(lambda: reader.fault is not None)
            device = FakeDevice(link)
            try:
                await until(reader.connected.is_set)
                device.write(CARD_FRAME)
                await until(lambda: seen != [])
            finally:
                device.close()
            return reader

    reader = run(main())
    assert seen == ["62E3086CED"]
    assert reader.fault is None or "lost" in reader.fault


def test_a_flood_of_garbage_is_counted_but_logged_in_bursts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A reader at the wrong baud rate: every frame arrives malformed.
    stats = RfidStats()
    parser = Em4100Parser(stats)
    with caplog.at_level(logging.WARNING, "ocppfast.hardware"):
        for _ in range(100):
            assert parser.feed(b"\x02" + b"Z" * 12 + b"\x03") == []
    assert stats.garbage == 100
    assert len(caplog.records) == 10
