"""An in-memory transport pair: two connected ends, for tests and for embedding a station and a
CSMS in one process. Frames pass as they are, in order; closing one end closes both."""

from __future__ import annotations

import asyncio

from . import TransportClosed

__all__ = ["LoopbackTransport", "loopback_pair"]

_CLOSED = object()


class LoopbackTransport:
    """One end of a `loopback_pair()`."""

    def __init__(self, subprotocol: str | None, name: str) -> None:
        self._subprotocol = subprotocol
        self._name = name
        self._inbox: asyncio.Queue[object] = asyncio.Queue()
        self._peer: LoopbackTransport | None = None
        self._close_code: int | None = None
        self._close_reason = ""

    @property
    def subprotocol(self) -> str | None:
        return self._subprotocol

    @property
    def remote_address(self) -> str:
        return f"loopback:{self._peer._name if self._peer else '?'}"

    @property
    def close_code(self) -> int | None:
        return self._close_code

    @property
    def close_reason(self) -> str:
        return self._close_reason

    async def recv(self) -> bytes | str:
        if self._close_code is not None and self._inbox.empty():
            raise TransportClosed(self._close_code, self._close_reason)
        item = await self._inbox.get()
        if item is _CLOSED:
            self._inbox.put_nowait(_CLOSED)  # every later recv() sees the close too
            raise TransportClosed(self._close_code, self._close_reason)
        assert isinstance(item, (bytes, str))
        return item

    async def send(self, frame: bytes) -> None:
        if self._close_code is not None or self._peer is None:
            raise TransportClosed(self._close_code, self._close_reason)
        self._peer._inbox.put_nowait(frame)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        for end in (self, self._peer):
            if end is not None and end._close_code is None:
                end._close_code = code
                end._close_reason = reason
                end._inbox.put_nowait(_CLOSED)


def loopback_pair(
    subprotocol: str | None = "ocpp1.6",
) -> tuple[LoopbackTransport, LoopbackTransport]:
    """Two connected ends (CSMS side, station side) negotiated on `subprotocol`."""
    csms, station = (
        LoopbackTransport(subprotocol, "csms"),
        LoopbackTransport(subprotocol, "station"),
    )
    csms._peer, station._peer = station, csms
    return csms, station
