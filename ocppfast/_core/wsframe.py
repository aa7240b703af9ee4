"""WebSocket data frames (RFC 6455 5.2): the common case, read and written without websockets.

OCPP-J sends each message as one final text frame (J16 4.1, J201 4.1). The transport reads such
frames here, straight from the bytes the socket gave, and writes its own the same way; anything
else (a control frame, a fragment, a reserved bit, a bad mask bit, a frame cut off by the end of
the data) is left to websockets, which owns the connection's protocol state. What is read here
never changes that state: a whole final data frame is what websockets' parser would have read
and forgotten, had it been handed the same bytes at a frame boundary.

The compiled twin is `_wsframe_c.pyx`; both give the same result for every input (tests compare
them, and both with websockets' own parser and serializer).
"""

from __future__ import annotations

__all__ = ["read_data_frame", "text_frame", "unmask"]

_FIN_TEXT = 0x81
_FIN_BINARY = 0x82
_MASK_BIT = 0x80


def unmask(data: bytes, mask: bytes) -> bytes:
    """`data` XOR the repeated 4-byte `mask` (RFC 6455 5.3); masking and unmasking are one."""
    if len(mask) != 4:
        raise ValueError("a mask is 4 bytes")
    size = len(data)
    if not size:
        return b""
    key = (mask * (size // 4 + 1))[:size]
    value = int.from_bytes(data, "little") ^ int.from_bytes(key, "little")
    return value.to_bytes(size, "little")


def read_data_frame(data: bytes, pos: int, masked: bool, limit: int) -> tuple[bytes, int] | None:
    """The frame that starts at `data[pos]`, as (payload, offset after it), when it is whole
    and one this module reads: final (FIN), text or binary, no reserved bit, masked if and only
    if `masked` (a server reads masked frames, a client unmasked ones, RFC 6455 5.1), and a
    payload of at most `limit` bytes. None otherwise: websockets reads it (and refuses it with
    the close code the RFC names, where it is wrong)."""
    size = len(data)
    if pos < 0 or size - pos < 2:
        return None
    head = data[pos]
    if head != _FIN_TEXT and head != _FIN_BINARY:
        return None
    second = data[pos + 1]
    if (second & _MASK_BIT != 0) != masked:
        return None
    length = second & 0x7F
    start = pos + 2
    if length == 126:
        if size - start < 2:
            return None
        length = (data[start] << 8) | data[start + 1]
        start += 2
    elif length == 127:
        if size - start < 8:
            return None
        length = int.from_bytes(data[start : start + 8], "big")
        start += 8
    if length > limit:
        return None
    if masked:
        end = start + 4 + length
        if end > size:
            return None
        return unmask(data[start + 4 : end], data[start : start + 4]), end
    end = start + length
    if end > size:
        return None
    return data[start:end], end


def text_frame(payload: bytes, mask: bytes | None = None) -> bytes:
    """A final text frame carrying `payload`, masked with the 4 bytes of `mask` when given (a
    client masks every frame, RFC 6455 5.3; a server never does)."""
    if mask is not None and len(mask) != 4:
        raise ValueError("a mask is 4 bytes")
    size = len(payload)
    mask_bit = 0 if mask is None else _MASK_BIT
    if size < 126:
        header = bytes((_FIN_TEXT, mask_bit | size))
    elif size < 65536:
        header = bytes((_FIN_TEXT, mask_bit | 126, size >> 8, size & 0xFF))
    else:
        header = bytes((_FIN_TEXT, mask_bit | 127)) + size.to_bytes(8, "big")
    if mask is None:
        return header + payload
    return header + mask + unmask(payload, mask)
