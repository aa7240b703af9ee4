"""The default transport: a `websockets` asyncio connection (client or server side)."""

from __future__ import annotations

from typing import Any

from websockets.asyncio.connection import Connection as _WSConnection
from websockets.exceptions import ConnectionClosed

from . import TransportClosed

__all__ = ["WebSocketTransport"]


def _address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


class WebSocketTransport:
    """Adapts a websockets connection to `Transport`. Frames are received as UTF-8 bytes
    (`decode=False`: the core scans bytes, so the text is never decoded twice) and sent as text
    frames without re-encoding (OCPP-J uses text frames only, J201 4.1)."""

    __slots__ = ("_address", "ws")

    def __init__(self, ws: _WSConnection) -> None:
        self.ws = ws
        self._address = _address(ws.remote_address)

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


def _closed(exc: ConnectionClosed) -> tuple[int, str]:
    """The close code and reason the peer sent (or 1006 when none came)."""
    frame = exc.rcvd or exc.sent
    return (frame.code, frame.reason) if frame is not None else (1006, "")
