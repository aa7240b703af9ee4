"""The default transport: a `websockets` asyncio connection (client or server side).

Two ways to receive. `recv()` awaits websockets' message queue, as any websockets application
does. A connection of class `DirectServerConnection` or `DirectClientConnection` (what
`Server` and `Client` use) instead hands each complete message to a callback from the
socket's `data_received`, and `send_now()` queues an answer from that same callback: a CALL is
read, handled and answered in one step of the event loop, without the queue, futures and task
switches per message of the awaiting API, which cost about as much as our whole core pipeline
(docs/performance.md).

On such a connection the common frames skip websockets' frame objects too. A final text frame
that arrives whole at a frame boundary is read by `ocppfast._core.wsframe` (compiled), and
answers are framed there; everything else (the handshake, control frames, fragments, bad
frames, compression, debug logging) goes through websockets as before. Answers are written at
the end of the event loop's turn, all of a turn's at once (`_WriteBatch`): the same bytes in
the same order, with fewer wake-ups of whoever reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.connection import Connection as _WSConnection
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import CLIENT, Protocol, State
from websockets.streams import StreamReader

from .. import _core
from . import TransportClosed, may_carry_credential

__all__ = [
    "DirectClientConnection",
    "DirectServerConnection",
    "RedactingLogger",
    "WebSocketTransport",
]

_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
_OPEN = State.OPEN

# websockets' frame parser is a generator: `Protocol.parse` delegating to the reader's `at_eof`
# while it waits for the next frame's first byte with nothing buffered.
_PARSE_CODE = Protocol.parse.__code__
_AT_EOF_CODE = StreamReader.at_eof.__code__
_NO_LIMIT = (1 << 63) - 1


def _at_frame_start(protocol: Protocol) -> bool:
    """Whether websockets' frame parser waits for the first byte of a frame, with nothing
    buffered: only there may frames be read without it and its state stay right. (Should a
    websockets release parse differently, this says False and websockets reads everything.)"""
    if protocol.reader.buffer:
        return False
    generator: Any = protocol.parser
    parsing = False
    while True:
        code = generator.gi_code
        parsing = parsing or code is _PARSE_CODE
        inner = generator.gi_yieldfrom
        if inner is None:
            return parsing and code is _AT_EOF_CODE
        generator = inner


class _WriteBatch:
    """The connections of one event loop with frames waiting to be written: written together
    by one callback at the end of the loop's turn. Answers that go out together reach a busy
    peer while it is still awake, where one write after each read wakes it for every answer
    (on loopback, that wake-up was most of the cost of an answer: docs/performance.md)."""

    __slots__ = ("_connections",)

    # One per loop; the batch holds no reference to its loop, so a closed loop goes away.
    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _WriteBatch] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self) -> None:
        self._connections: list[DirectFrames] = []

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _WriteBatch:
        """The batch of `loop`."""
        batch = cls._by_loop.get(loop)
        if batch is None:
            batch = cls._by_loop[loop] = cls()
        return batch

    def add(self, connection: DirectFrames, loop: asyncio.AbstractEventLoop) -> None:
        """Write `connection`'s queued frames at the end of this turn of `loop` (its own)."""
        if not self._connections:
            loop.call_soon(self._write)
        self._connections.append(connection)

    def _write(self) -> None:
        connections, self._connections = self._connections, []
        for connection in connections:
            connection.write_queued()


_SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


if TYPE_CHECKING:
    _LoggerAdapter = logging.LoggerAdapter[logging.Logger]
else:  # not subscriptable at run time before Python 3.11
    _LoggerAdapter = logging.LoggerAdapter


class RedactingLogger(_LoggerAdapter):
    """websockets' logger (server or client side), minus secrets: its debug log prints every
    handshake header and the start of every frame. Authorization headers and frames that may
    carry a credential (or are fragments, whose beginning may be elsewhere) are replaced by a
    placeholder."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if args and isinstance(msg, str):
            args = self._redact(msg, args)
        super().log(level, msg, *args, **kwargs)

    @staticmethod
    def _redact(msg: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if msg in ("< %s: %s", "> %s: %s") and len(args) == 2:
            if str(args[0]).lower() in _SENSITIVE_HEADERS:
                return (args[0], "<redacted>")
        elif msg in ("< %s", "> %s") and len(args) == 1 and isinstance(args[0], Frame):
            frame = args[0]
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT) and (
                not frame.fin
                or frame.opcode is Opcode.CONT
                or may_carry_credential(bytes(frame.data))
            ):
                return (f"{frame.opcode.name} <{len(frame.data)} bytes, not shown>",)
        return args


class DirectFrames:
    """Mixed into a websockets asyncio connection: complete data messages go to a receiver
    callback as soon as they are parsed, instead of websockets' message queue.

    Until a receiver is set (the first moments after the handshake) messages are kept, and
    handed over in order when it is. websockets still does everything else: the handshake,
    limits (a message over `max_size` closes with 1009 before it is assembled), decompression,
    pings, pongs and the closing handshake. When the socket's send buffer fills up (a peer that
    does not read its answers), reading from it pauses until the buffer drains, so that a peer
    cannot make us buffer answers without bound.

    The fast path (module docstring): `data_received` reads whole final data frames itself
    with `wsframe` while websockets' parser is at a frame boundary (`_fast`), and hands the
    rest, from the first frame it does not read, to websockets; `queue()` takes framed bytes
    to write at the end of the loop's turn, and whatever websockets writes itself (a pong, a
    close frame) goes after them."""

    __slots__ = ("_batch", "_early", "_fast", "_fragments", "_limit", "_queued", "_receiver")

    #: The frame codec: the core backend's (`WebSocketTransport` sets the connection's own).
    wsframe: Any = _core.BACKEND.wsframe

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._receiver: Callable[[bytes], None] | None = None
        self._early: list[bytes] | None = None
        self._fragments: list[bytes] | None = None
        self._fast = False
        self._limit = _NO_LIMIT
        self._queued: list[bytes] | None = None
        self._batch = _WriteBatch.of(self.loop)  # type: ignore[attr-defined]

    # -- receiving -----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._fast or self._may_read_frames():
            data = self._read_frames(data)
            if not data:
                return
            self._fast = False  # websockets takes it from here; _may_read_frames() looks again
        super().data_received(data)  # type: ignore[misc]

    def _may_read_frames(self) -> bool:
        """Whether the fast path may read the next bytes: the connection is open, with no
        extension (compression) and no debug log (websockets logs every frame), no fragmented
        message under way, and websockets' parser at a frame boundary."""
        protocol: Protocol = self.protocol  # type: ignore[attr-defined]
        if (
            protocol.state is not _OPEN
            or protocol.extensions
            or protocol.debug
            or protocol.current_size is not None
            or not _at_frame_start(protocol)
        ):
            return False
        # What websockets' parser would accept for a whole message: its size limits.
        limits = [n for n in (protocol.max_message_size, protocol.max_fragment_size) if n]
        self._limit = min(limits) if limits else _NO_LIMIT
        self._fast = True
        return True

    def _read_frames(self, data: bytes) -> bytes:
        """Deliver the whole final data frames at the start of `data`; return what is left
        (from the first frame `wsframe` does not read), for websockets."""
        protocol: Protocol = self.protocol  # type: ignore[attr-defined]
        read = self.wsframe.read_data_frame
        masked = protocol.side is not CLIENT
        limit = self._limit
        pos = 0
        # Open: a close frame sent or received since (the receiver may close) hands the rest
        # to websockets, which knows what a closing connection does with it.
        while protocol.state is _OPEN:
            frame = read(data, pos, masked, limit)
            if frame is None:
                break
            payload, pos = frame
            self._deliver(payload)
        return data[pos:] if pos else data

    def set_receiver(self, receiver: Callable[[bytes], None]) -> None:
        """Deliver every message, those received so far first, to `receiver`."""
        early, self._early = self._early, None
        self._receiver = receiver
        for message in early or ():
            receiver(message)

    def _deliver(self, message: bytes) -> None:
        receiver = self._receiver
        if receiver is not None:
            receiver(message)
        elif self._early is None:
            self._early = [message]
        else:
            self._early.append(message)

    def process_event(self, event: Any) -> None:
        if type(event) is Frame:
            opcode = event.opcode
            if opcode is _TEXT or opcode is _BINARY:
                if event.fin:
                    self._deliver(bytes(event.data))
                else:
                    self._fragments = [bytes(event.data)]
                return
            if opcode is _CONT:
                fragments = self._fragments
                if fragments is not None:
                    fragments.append(bytes(event.data))
                    if event.fin:
                        self._fragments = None
                        self._deliver(b"".join(fragments))
                return
        super().process_event(event)  # type: ignore[misc]  # the handshake, pings, close

    # -- sending -------------------------------------------------------------------------------

    def queue(self, data: bytes) -> None:
        """Write the framed `data` at the end of the event loop's turn (`_WriteBatch`)."""
        queued = self._queued
        if queued is None:
            self._queued = [data]
            self._batch.add(self, self.loop)  # type: ignore[attr-defined]
        else:
            queued.append(data)

    def write_queued(self) -> None:
        """Write what `queue()` took, now (a socket that fails is aborted, as websockets'
        `send()` does)."""
        queued, self._queued = self._queued, None
        if not queued:
            return
        transport = self.transport  # type: ignore[attr-defined]
        if transport.is_closing():
            return  # closed since: what was queued goes nowhere, as a write would
        try:
            transport.write(queued[0] if len(queued) == 1 else b"".join(queued))
        except Exception as exc:
            self.set_connection_exc(exc)  # type: ignore[attr-defined]
            transport.abort()

    def send_data(self) -> None:
        # websockets writes here (pongs, pings, the close frame): after what was queued.
        if self._queued:
            self.write_queued()
        super().send_data()  # type: ignore[misc]

    def pause_writing(self) -> None:
        super().pause_writing()  # type: ignore[misc]
        with contextlib.suppress(Exception):
            self.transport.pause_reading()  # type: ignore[attr-defined]

    def resume_writing(self) -> None:
        super().resume_writing()  # type: ignore[misc]
        with contextlib.suppress(Exception):
            self.transport.resume_reading()  # type: ignore[attr-defined]


class DirectServerConnection(DirectFrames, ServerConnection):
    """websockets' server connection, delivering messages directly (see `DirectFrames`)."""


class DirectClientConnection(DirectFrames, ClientConnection):
    """websockets' client connection, delivering messages directly (see `DirectFrames`)."""


def _address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


class WebSocketTransport:
    """Adapts a websockets connection to `Transport`. Frames are received as UTF-8 bytes
    (`decode=False`: the core scans bytes, so the text is never decoded twice) and sent as text
    frames without re-encoding (OCPP-J uses text frames only, J201 4.1).

    Over a `DirectFrames` connection (`direct` is True) use `start()`, `send_now()` and
    `wait_closed()` instead of `recv()`, which would wait forever."""

    __slots__ = ("_address", "_mask", "direct", "ws")

    def __init__(self, ws: _WSConnection, core: _core.Backend | None = None) -> None:
        self.ws = ws
        self._address = _address(ws.remote_address)
        self.direct = isinstance(ws, DirectFrames)
        if self.direct and core is not None:
            ws.wsframe = core.wsframe  # type: ignore[attr-defined]
        # RFC 6455 5.3: a client masks every frame with a new, unpredictable key.
        self._mask = ws.protocol.side is CLIENT

    @property
    def subprotocol(self) -> str | None:
        return self.ws.subprotocol

    @property
    def remote_address(self) -> str:
        return self._address

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    @property
    def close_reason(self) -> str:
        return self.ws.close_reason or ""

    async def recv(self) -> bytes | str:
        try:
            return await self.ws.recv(decode=False)
        except ConnectionClosed as exc:
            raise TransportClosed(*_closed(exc)) from None

    async def send(self, frame: bytes) -> None:
        try:
            await self.ws.send(frame, text=True)
        except ConnectionClosed as exc:
            raise TransportClosed(*_closed(exc)) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.ws.close(code, reason)

    # -- direct delivery ---------------------------------------------------------------------

    def start(self, receiver: Callable[[bytes], None]) -> None:
        """Deliver every message to `receiver`, called from the socket's data callback."""
        ws = self.ws
        assert isinstance(ws, DirectFrames)
        ws.set_receiver(receiver)

    def send_now(self, frame: bytes) -> None:
        """Send one text frame without awaiting (what `send()` does): framed now, written with
        the other frames of this event-loop turn (`DirectFrames.queue`), or at once through
        websockets where it frames itself (compression, debug log); flow control pauses
        reading instead of blocking. Raises `TransportClosed` when the connection is no longer
        open."""
        ws = self.ws
        protocol = ws.protocol
        if protocol.state is not _OPEN:
            # CLOSING (a close frame came in the same read as the CALL answered here) has no
            # close_exc yet: websockets asserts CLOSED for it. Take the close frames themselves.
            close = protocol.close_rcvd or protocol.close_sent
            raise TransportClosed(*((close.code, close.reason) if close else (1006, "")))
        if ws._fast:  # type: ignore[attr-defined]  # no extension, no debug log: see DirectFrames
            text_frame = ws.wsframe.text_frame  # type: ignore[attr-defined]
            data = text_frame(frame, os.urandom(4)) if self._mask else text_frame(frame)
            ws.queue(data)  # type: ignore[attr-defined]
            return
        protocol.send_text(frame)
        try:
            ws.send_data()
        except Exception as exc:  # the socket failed: end the connection, as send() does
            ws.set_connection_exc(exc)
            ws.transport.abort()
            raise TransportClosed(1006, "") from exc

    def wait_closed(self) -> Awaitable[None]:
        """An awaitable that is done when the connection has closed (a future, not a coroutine:
        an idle connection waits on it for hours, and coroutine frames cost memory)."""
        return asyncio.shield(self.ws.connection_lost_waiter)


def _closed(exc: ConnectionClosed) -> tuple[int, str]:
    """The close code and reason the peer sent (or 1006 when none came)."""
    frame = exc.rcvd or exc.sent
    return (frame.code, frame.reason) if frame is not None else (1006, "")
