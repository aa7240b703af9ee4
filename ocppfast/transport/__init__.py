"""Transports: what carries OCPP-J text frames between two peers.

A transport is a small protocol (`Transport`): receive a frame, send a frame, close, and say
how it was closed. `WebSocketTransport` adapts a `websockets` asyncio connection (the default);
`loopback_pair()` gives two connected in-memory ends for tests and embedding.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Transport", "TransportClosed", "may_carry_credential", "shown"]

# Frames that may carry a credential (1.6 AuthorizationKey, 2.x BasicAuthPassword, private
# keys) are never written to a log, whatever the action or the transport.
_SECRET_MARKERS = (b"password", b"authorizationkey", b"privatekey", b"secret")


def may_carry_credential(data: bytes) -> bool:
    """Whether a frame's text names a credential field (then no log shows it)."""
    lowered = data.lower()
    return any(marker in lowered for marker in _SECRET_MARKERS)


def shown(data: bytes | str) -> str:
    """A frame as logs show it: its text, or a note in its place when it may carry a credential
    (`may_carry_credential`)."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "replace")
    if may_carry_credential(raw):
        return f"<{len(raw)} bytes, not shown: may carry a credential>"
    return raw.decode("utf-8", "replace")


class TransportClosed(ConnectionError):
    """The transport is closed: `code` and `reason` as the WebSocket close frame gave them
    (1006 when the connection was lost without one)."""

    def __init__(self, code: int | None = None, reason: str = "") -> None:
        super().__init__(f"connection closed (code {code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


@runtime_checkable
class Transport(Protocol):
    """One connection that carries text frames. Implementations raise `TransportClosed` from
    `recv()` and `send()` once the connection is closed, by either side."""

    @property
    def subprotocol(self) -> str | None:
        """The negotiated WebSocket subprotocol: the OCPP version (e.g. "ocpp2.0.1")."""
        ...

    @property
    def remote_address(self) -> str:
        """The peer, for the log (e.g. "127.0.0.1:53210")."""
        ...

    @property
    def close_code(self) -> int | None:
        """The close code once closed (1006: lost without a close frame), else None."""
        ...

    @property
    def close_reason(self) -> str:
        """The close reason once closed, else ""."""
        ...

    async def recv(self) -> bytes | str:
        """The next text frame (UTF-8 bytes or str)."""
        ...

    async def send(self, frame: bytes) -> None:
        """Send one text frame; `frame` is UTF-8 JSON."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection with `code` and `reason`; waits for the close to complete."""
        ...
