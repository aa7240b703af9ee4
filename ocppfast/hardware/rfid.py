"""Serial RFID readers: the id tokens a driver presents, read from a reader on a UART.

Two wire formats:

- ``"em4100"``: the common 125 kHz EM4100 UART modules (RDM6300/RDM630 and their clones). At
  9600 baud 8N1 they send, for each read of a card, 14 bytes: STX (0x02), 10 ASCII hex digits
  of data (the version/customer byte then the 4-byte tag number), 2 ASCII hex digits of
  checksum (the XOR of the 5 data bytes) and ETX (0x03). Sources: the vendor's protocol sheet
  as reproduced for the HX530 reader (card 62E3086CED: checksum 62^E3^08^6C^ED = 08, sent as
  ``02 36 32 45 33 30 38 36 43 45 44 30 38 03``) and ESPHome's rdm6300 component
  (esphome/components/rdm6300/rdm6300.cpp: start 0x02, 12 hex digits, end 0x03, XOR of
  bytes 0-4 against byte 5). The module repeats the frame about every 100 ms while the card
  stays in the field.
- ``"line"``: readers that print one UID per line (CR, LF or CRLF), optionally after a fixed
  prefix, in hex or in decimal (most 13.56 MHz USB/UART "keyboard-style" readers).

`RfidReader` opens the port, decodes frames, suppresses the repeats of a card that stays on
the reader (`hold_time`), and hands each presentation to a callback and/or an async iterator
(`RfidReader.tags`). Bad checksums, garbage and overlong lines are discarded, counted
(`RfidStats`) and logged; the parser resynchronises on the next STX or line end. An unplugged
reader (a USB adapter pulled, the device node gone) is reported as a fault (`RfidReader.fault`,
`on_fault`) and reopened with exponential back-off; nothing here raises into the station.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import string
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Literal

import serial
import serial_asyncio_fast

__all__ = [
    "Em4100Parser",
    "LineParser",
    "RfidConfig",
    "RfidReader",
    "RfidStats",
    "em4100_frame",
]

_log = logging.getLogger("ocppfast.hardware")

STX = 0x02
ETX = 0x03
# 10 data digits + 2 checksum digits between STX and ETX (see the module docstring).
_EM4100_BODY = 12
_HEX = frozenset(string.hexdigits.encode())
# Separators some line readers put between the bytes of a hex UID ("04:A2:..", "04 A2 ..").
_UID_SEPARATORS = str.maketrans("", "", ": -")


@dataclass
class RfidStats:
    """What a reader has seen since it was made: frames decoded, tags reported, and what was
    discarded (each discard also logs one line)."""

    frames: int = 0
    """Valid frames/lines decoded, repeats included."""
    presented: int = 0
    """Presentations reported (to the callback and the iterator)."""
    repeats: int = 0
    """Valid frames suppressed as the same card still on the reader."""
    bad_checksum: int = 0
    garbage: int = 0
    """Runs of bytes outside a frame, malformed frames, unparsable lines."""
    overlong: int = 0
    disconnects: int = 0
    opens: int = 0


class _DiscardLog:
    """Warning lines for discarded input, at most `burst` per `window` seconds: a reader at the
    wrong baud rate, or a noisy cable, would otherwise log every few milliseconds. The lines
    held back are counted and the count goes into the next line logged."""

    def __init__(self, name: str, burst: int = 10, window: float = 10.0) -> None:
        self._name = name
        self._burst = burst
        self._window = window
        self._start = -window
        self._logged = 0
        self._held = 0

    def __call__(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._start >= self._window:
            self._start, self._logged = now, 0
        if self._logged >= self._burst:
            self._held += 1
            return
        self._logged += 1
        held, self._held = self._held, 0
        suffix = f" ({held} more discarded lines not logged)" if held else ""
        _log.warning("%s: " + message + suffix, self._name, *args)


def _short(data: bytes | bytearray) -> str:
    """`data` for a log line: printable, at most 40 bytes."""
    text = repr(bytes(data[:40]))
    return text + ("..." if len(data) > 40 else "")


def em4100_frame(data: bytes, checksum: int | None = None) -> bytes:
    """The 14-byte EM4100 UART frame for the 5 bytes `data` (version + tag number), with the
    correct checksum unless `checksum` is given (tests use this to send a bad one)."""
    if len(data) != 5:
        raise ValueError("EM4100 data is 5 bytes")
    if checksum is None:
        checksum = 0
        for byte in data:
            checksum ^= byte
    return bytes([STX]) + (data.hex() + f"{checksum:02x}").upper().encode() + bytes([ETX])


class Em4100Parser:
    """Decodes the EM4100 UART byte stream (STX, 10 hex data, 2 hex checksum, ETX) into id
    tokens: the 5 data bytes as 10 upper-case hex digits. Sans I/O: feed it what the port
    reads, in any slicing; it never raises on bad input."""

    def __init__(self, stats: RfidStats, name: str = "RFID reader") -> None:
        self._stats = stats
        self._warn = _DiscardLog(name)
        self._frame: bytearray | None = None  # None: outside a frame, waiting for STX
        self._junk = bytearray()

    def feed(self, data: bytes) -> list[str]:
        """Consume `data`; return the tokens of the valid frames it completed."""
        tokens: list[str] = []
        for byte in data:
            if byte == STX:
                self._flush_junk()
                if self._frame is not None:
                    # A new STX inside a frame: the previous one was cut short (a byte lost
                    # on the line); resynchronise on this one.
                    self._discard("garbage", "frame cut short", self._frame)
                self._frame = bytearray()
            elif self._frame is None:
                # CR/LF after ETX is what some clones add; it is not worth a log line.
                if byte not in (0x0A, 0x0D):
                    self._junk.append(byte)
            elif byte == ETX:
                frame, self._frame = self._frame, None
                token = self._decode(frame)
                if token is not None:
                    tokens.append(token)
            else:
                self._frame.append(byte)
                if len(self._frame) > _EM4100_BODY:
                    # No ETX where it belongs: drop the frame and wait for the next STX.
                    self._discard("overlong", "no ETX after 12 digits", self._frame)
                    self._frame = None
        if len(self._junk) >= 64:
            self._flush_junk()
        return tokens

    def flush(self) -> None:
        """Forget a partial frame (the port was closed) and log pending garbage."""
        self._flush_junk()
        self._frame = None

    def _decode(self, body: bytearray) -> str | None:
        if len(body) != _EM4100_BODY or not all(b in _HEX for b in body):
            self._discard("garbage", "malformed frame", body)
            return None
        raw = bytes.fromhex(body.decode("ascii"))
        checksum = 0
        for byte in raw[:5]:
            checksum ^= byte
        if checksum != raw[5]:
            self._stats.bad_checksum += 1
            self._warn(
                "bad checksum in frame %s (computed %02X, sent %02X): discarded",
                body.decode("ascii"),
                checksum,
                raw[5],
            )
            return None
        self._stats.frames += 1
        return raw[:5].hex().upper()

    def _flush_junk(self) -> None:
        if self._junk:
            self._discard("garbage", "bytes outside a frame", self._junk)
            self._junk = bytearray()

    def _discard(self, kind: Literal["garbage", "overlong"], why: str, data: bytearray) -> None:
        if kind == "garbage":
            self._stats.garbage += 1
        else:
            self._stats.overlong += 1
        self._warn("%s discarded: %s", why, _short(data))


class LineParser:
    """Decodes a line-per-UID reader: lines ended by CR and/or LF, each `prefix` (if set) then
    the UID in hex (`base=16`; ':', '-' and ' ' between bytes are dropped) or decimal
    (`base=10`). The token is the UID in upper-case hex, padded to whole bytes. Lines longer
    than `max_line` are discarded up to the next line end. Never raises on bad input."""

    def __init__(
        self,
        stats: RfidStats,
        name: str = "RFID reader",
        *,
        prefix: str = "",
        base: Literal[10, 16] = 16,
        max_line: int = 64,
    ) -> None:
        self._stats = stats
        self._warn = _DiscardLog(name)
        self._prefix = prefix
        self._base = base
        self._max_line = max_line
        self._line = bytearray()
        self._skipping = False  # inside an overlong line: drop up to its end

    def feed(self, data: bytes) -> list[str]:
        """Consume `data`; return the tokens of the valid lines it completed."""
        tokens: list[str] = []
        for byte in data:
            if byte in (0x0A, 0x0D):
                if self._skipping:
                    self._skipping = False
                elif self._line:
                    token = self._decode(bytes(self._line))
                    if token is not None:
                        tokens.append(token)
                self._line.clear()
            elif not self._skipping:
                self._line.append(byte)
                if len(self._line) > self._max_line:
                    self._stats.overlong += 1
                    self._warn(
                        "line longer than %d bytes discarded: %s",
                        self._max_line,
                        _short(self._line),
                    )
                    self._line.clear()
                    self._skipping = True
        return tokens

    def flush(self) -> None:
        """Forget a partial line (the port was closed)."""
        self._line.clear()
        self._skipping = False

    def _decode(self, line: bytes) -> str | None:
        text = line.decode("ascii", errors="replace").strip()
        if not text:
            return None
        if self._prefix:
            if not text.startswith(self._prefix):
                self._bad(line, f"no prefix {self._prefix!r}")
                return None
            text = text[len(self._prefix) :].strip()
        if self._base == 16:
            digits = text.translate(_UID_SEPARATORS)
            if not digits or not all(c in string.hexdigits for c in digits):
                self._bad(line, "not a hex UID")
                return None
            token = digits.upper()
            if len(token) % 2:
                token = "0" + token
        else:
            if not text.isdigit() or not text.isascii():
                self._bad(line, "not a decimal UID")
                return None
            value = int(text)
            token = f"{value:X}"
            # Whole bytes, as the card's UID is bytes: 0x0A1B2C -> "0A1B2C".
            if len(token) % 2:
                token = "0" + token
        self._stats.frames += 1
        return token

    def _bad(self, line: bytes, why: str) -> None:
        self._stats.garbage += 1
        self._warn("line discarded (%s): %s", why, _short(line))


@dataclass(frozen=True)
class RfidConfig:
    """How to reach and read one RFID reader.

    `port`: the device path (best a stable /dev/serial/by-id/... link: it survives the adapter
    being replugged). `format`: ``"em4100"`` or ``"line"`` (see the module docstring).
    `baudrate`: 9600 for the EM4100 modules (their fixed rate). `line_prefix`, `line_base`,
    `max_line`: the line format. `hold_time`: seconds without a frame of a card after which the
    card counts as removed, so its next frame is a new presentation (the EM4100 modules repeat
    every ~100 ms, so 1 s rides over a few lost frames). `reconnect_min`/`reconnect_max`: the
    back-off between attempts to reopen a lost port."""

    port: str
    format: Literal["em4100", "line"] = "em4100"
    baudrate: int = 9600
    line_prefix: str = ""
    line_base: Literal[10, 16] = 16
    max_line: int = 64
    hold_time: float = 1.0
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0


class _PortProtocol(asyncio.Protocol):
    """Hands what the port reads to the reader; `lost` resolves when the port goes away."""

    def __init__(self, on_data: Callable[[bytes], None]) -> None:
        self._on_data = on_data
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


class RfidReader:
    """An RFID reader on a serial port: each card presentation, once, as its id token.

    Tokens go to `on_tag` (called in the event loop; an exception it raises is logged, not
    propagated) and to every `tags()` iterator. `on_fault` is called with a description when
    the port is lost or cannot be opened, and with None when it is open again; `fault` holds
    the current one. `clock` (monotonic seconds) times the hold; tests inject their own.

    Use ``async with RfidReader(config) as reader:`` or `start()` / `close()`."""

    def __init__(
        self,
        config: RfidConfig,
        *,
        on_tag: Callable[[str], object] | None = None,
        on_fault: Callable[[str | None], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.stats = RfidStats()
        self.fault: str | None = None
        self._on_tag = on_tag
        self._on_fault = on_fault
        self._clock = clock
        self._name = f"RFID reader {config.port}"
        self._parser: Em4100Parser | LineParser
        if config.format == "em4100":
            self._parser = Em4100Parser(self.stats, self._name)
        else:
            self._parser = LineParser(
                self.stats,
                self._name,
                prefix=config.line_prefix,
                base=config.line_base,
                max_line=config.max_line,
            )
        self._last_token: str | None = None
        self._last_seen = 0.0
        self._queues: list[asyncio.Queue[str]] = []
        self._task: asyncio.Task[None] | None = None
        self._transport: asyncio.Transport | None = None
        self.connected = asyncio.Event()

    async def __aenter__(self) -> RfidReader:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def start(self) -> None:
        """Open the port and keep it open (reopening it when lost) until `close()`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def close(self) -> None:
        """Close the port and stop reopening it; `tags()` iterators end."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for queue in self._queues:
            queue.put_nowait("")  # the end marker: no token is empty

    async def tags(self) -> AsyncIterator[str]:
        """Each presentation's token from now on, until `close()`."""
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._queues.append(queue)
        try:
            while token := await queue.get():
                yield token
        finally:
            self._queues.remove(queue)

    async def _run(self) -> None:
        delay = self.config.reconnect_min
        try:
            while True:
                protocol = _PortProtocol(self._received)
                try:
                    transport, _ = await serial_asyncio_fast.create_serial_connection(
                        asyncio.get_running_loop(),
                        lambda p=protocol: p,  # type: ignore[misc]
                        self.config.port,
                        baudrate=self.config.baudrate,
                        bytesize=serial.EIGHTBITS,
                        parity=serial.PARITY_NONE,
                        stopbits=serial.STOPBITS_ONE,
                    )
                except (OSError, serial.SerialException, ValueError) as exc:
                    self._set_fault(f"cannot open ({exc}); retrying in {delay:g} s")
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.config.reconnect_max)
                    continue
                self._transport = transport
                self.stats.opens += 1
                delay = self.config.reconnect_min
                self._set_fault(None)
                _log.info(
                    "%s: open (%s, %d baud)", self._name, self.config.format, self.config.baudrate
                )
                self.connected.set()
                try:
                    reason = await protocol.lost
                finally:
                    self.connected.clear()
                    self._transport = None
                    transport.close()
                    self._parser.flush()
                    # The card may have been read again by the time the port is back; it is a
                    # new presentation only if the hold has passed, as without the outage.
                self.stats.disconnects += 1
                self._set_fault(f"lost ({reason or 'closed'}); reopening")
        finally:
            if self._transport is not None:
                self._transport.close()
                self._transport = None

    def _set_fault(self, fault: str | None) -> None:
        if fault is not None:
            _log.error("%s: %s", self._name, fault)
        elif self.fault is not None:
            _log.info("%s: fault cleared", self._name)
        changed = (fault is None) != (self.fault is None)
        self.fault = fault
        if changed and self._on_fault is not None:
            try:
                self._on_fault(fault)
            except Exception:
                _log.exception("%s: the fault callback failed", self._name)

    def _received(self, data: bytes) -> None:
        for token in self._parser.feed(data):
            now = self._clock()
            repeat = token == self._last_token and now - self._last_seen < self.config.hold_time
            self._last_token = token
            self._last_seen = now
            if repeat:
                self.stats.repeats += 1
                continue
            self.stats.presented += 1
            _log.info("%s: card %s presented", self._name, token)
            for queue in self._queues:
                queue.put_nowait(token)
            if self._on_tag is not None:
                try:
                    self._on_tag(token)
                except Exception:
                    _log.exception("%s: the tag callback failed for %s", self._name, token)
