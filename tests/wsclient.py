"""A tiny raw WebSocket client over an asyncio socket, for tests that look at the wire itself:
the exact HTTP response of a handshake, a handshake sent by halves, hand-made (compressed)
frames, a client that never answers pings."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import zlib
from dataclasses import dataclass, field

__all__ = ["RawClient", "deflate", "encode_frame"]

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """One masked client frame (RFC 6455 5.2, 5.3)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return header + mask + masked


def deflate(data: bytes) -> bytes:
    """A permessage-deflate message body (RFC 7692 7.2.1): raw DEFLATE, minus the final empty
    block's 00 00 ff ff."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert body.endswith(b"\x00\x00\xff\xff")
    return body[:-4]


@dataclass
class RawClient:
    """A raw connection: `handshake()` sends the upgrade request and reads the response."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    raw_response: bytes = b""

    @classmethod
    async def connect(cls, host: str, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    @staticmethod
    def request(
        path: str,
        host: str,
        *,
        subprotocols: list[str] | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> bytes:
        """The bytes of an upgrade request (RFC 6455 4.1)."""
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        if subprotocols is not None:
            lines.append(f"Sec-WebSocket-Protocol: {', '.join(subprotocols)}")
        for name, value in extra or []:
            lines.append(f"{name}: {value}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def handshake(
        self,
        path: str,
        *,
        subprotocols: list[str] | None = None,
        extra: list[tuple[str, str]] | None = None,
        timeout: float = 10.0,
    ) -> int:
        """Send the request, read the response head; return its status code."""
        self.writer.write(self.request(path, "127.0.0.1", subprotocols=subprotocols, extra=extra))
        await self.writer.drain()
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        self.raw_response = head
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split(" ", 2)[1])
        self.headers = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()
        return self.status

    async def body(self, timeout: float = 10.0) -> bytes:
        """The body of a non-101 response (Content-Length)."""
        length = int(self.headers.get("content-length", "0"))
        return await asyncio.wait_for(self.reader.readexactly(length), timeout)

    async def send_frame(
        self, opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False
    ) -> None:
        self.writer.write(encode_frame(opcode, payload, fin=fin, rsv1=rsv1))
        await self.writer.drain()

    async def send_text(self, text: str | bytes) -> None:
        await self.send_frame(OP_TEXT, text.encode() if isinstance(text, str) else text)

    async def read_frame(self, timeout: float = 10.0) -> tuple[int, bytes]:
        """(opcode, payload) of the next server frame (unmasked, RFC 6455 5.1)."""

        async def read() -> tuple[int, bytes]:
            first, second = await self.reader.readexactly(2)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            return first & 0x0F, await self.reader.readexactly(length)

        return await asyncio.wait_for(read(), timeout)

    async def read_close(self, timeout: float = 10.0) -> tuple[int, str]:
        """Skip frames until a close frame; return its code and reason."""
        while True:
            opcode, payload = await self.read_frame(timeout)
            if opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return code, payload[2:].decode("utf-8", "replace")

    async def at_eof(self, timeout: float = 10.0) -> bool:
        """Wait until the server has closed the TCP connection (reading and dropping data)."""

        async def drain() -> bool:
            while True:
                try:
                    chunk = await self.reader.read(65536)
                except ConnectionError:
                    return True
                if not chunk:
                    return True

        return await asyncio.wait_for(drain(), timeout)

    def close(self) -> None:
        self.writer.close()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (RST)."""
        transport = self.writer.transport
        transport.abort()
