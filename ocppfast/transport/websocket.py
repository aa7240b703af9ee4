"""The default transport: a `websockets` asyncio connection (client or server side).

Two ways to receive. `recv()` awaits websockets' message queue, as any websockets application
does. A connection of class `DirectServerConnection` or `DirectClientConnection` (what
`Server` and `Client` use) instead hands each complete message to a callback from the
socket's `data_received`, and `send_now()` writes an answer from that same callback: a CALL is
read, handled and answered in one step of the event loop, without the queue, futures and task
switches per message of the awaiting API, which cost about as much as our whole core pipeline
(docs/performance.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.connection import Connection as _WSConnection
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from . import TransportClosed, may_carry_credential

__all__ = [
    "DirectClientConnection",
    "DirectServerConnection",
    "RedactingLogger",
    "WebSocketTransport",
]

_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
_OPEN = State.OPEN


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
    cannot make us buffer answers without bound."""

    __slots__ = ("_early", "_fragments", "_receiver")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._receiver: Callable[[bytes], None] | None = None
        self._early: list[bytes] | None = None
        self._fragments: list[bytes] | None = None

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

    __slots__ = ("_address", "direct", "ws")

    def __init__(self, ws: _WSConnection) -> None:
        self.ws = ws
        self._address = _address(ws.remote_address)
        self.direct = isinstance(ws, DirectFrames)

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
        """Send one text frame at once (what `send()` does, without awaiting: the bytes go to
        the socket's buffer, flow control pauses reading instead). Raises `TransportClosed`
        when the connection is no longer open."""
        ws = self.ws
        protocol = ws.protocol
        if protocol.state is not _OPEN:
            # CLOSING (a close frame came in the same read as the CALL answered here) has no
            # close_exc yet: websockets asserts CLOSED for it. Take the close frames themselves.
            close = protocol.close_rcvd or protocol.close_sent
            raise TransportClosed(*((close.code, close.reason) if close else (1006, "")))
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
