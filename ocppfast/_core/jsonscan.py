"""Strict JSON scanner, pure-Python twin of `_jsonscan_c.pyx`.

`scan(data, max_depth)` checks that `data` (UTF-8 bytes, already known to be valid UTF-8) is one
JSON text as RFC 8259 defines it, and rejects what a frame must never carry even though JSON
allows or tolerates it:

- nesting deeper than `max_depth` (an explicit stack: depth costs no recursion);
- duplicate keys in an object, compared after unescaping (`"a"` and `"\\u0061"` are the same key);
- number literals longer than MAX_NUMBER_LENGTH characters;
- `\\u` escapes of unpaired UTF-16 surrogates.

It builds no objects: it returns where the elements of a top-level array begin and end, so the
frame codec reads the envelope and hands the payload on as raw bytes.

Both backends scan left to right and report the first fault as (kind, byte offset), decided at
the same points; the property tests hold them to that. This twin tokenizes with regular
expressions (C speed per token); the compiled one walks bytes.
"""

from __future__ import annotations

import re

import msgspec

from .types import (
    MAX_NUMBER_LENGTH,
    MAX_TOP_ELEMENTS,
    SCAN_BAD_ESCAPE,
    SCAN_CONTROL_CHARACTER,
    SCAN_DUPLICATE_KEY,
    SCAN_LONE_SURROGATE,
    SCAN_NUMBER_TOO_LONG,
    SCAN_TOO_DEEP,
    SCAN_TRAILING_DATA,
    SCAN_UNEXPECTED,
    ScanError,
)

_WS = re.compile(rb"[ \t\n\r]*")
_PLAIN_STRING = re.compile(rb'"[^"\\\x00-\x1f]*"')
_STRING_RUN = re.compile(rb'[^"\\\x00-\x1f]*')
_HEX4 = re.compile(rb"[0-9a-fA-F]{4}")
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_SIMPLE_ESCAPES = frozenset(b'"\\/bfnrt')

_QUOTE, _BACKSLASH = 0x22, 0x5C
_LBRACKET, _RBRACKET, _LBRACE, _RBRACE = 0x5B, 0x5D, 0x7B, 0x7D
_COMMA, _COLON, _MINUS = 0x2C, 0x3A, 0x2D


def key_bytes(data: bytes, start: int, end: int, escaped: bool) -> bytes:
    """The UTF-8 of the key whose string token spans data[start:end], unescaped.

    Never raises, so that both backends agree even on input that breaks the "valid UTF-8"
    precondition (the compiled scanner unescapes keys only when it must compare them): an escaped
    key that is not valid UTF-8 is keyed by its raw token behind a 0xFF byte, which no UTF-8 key
    can start with.
    """
    if not escaped:
        return data[start + 1 : end - 1]
    try:
        text: str = msgspec.json.decode(data[start:end])
    except UnicodeDecodeError:
        return b"\xff" + data[start:end]
    return text.encode("utf-8")


def scan_string(data: bytes, pos: int, n: int) -> tuple[int, bool]:
    """Scan the string token starting at data[pos] == '"'; return (end, has_escapes)."""
    m = _PLAIN_STRING.match(data, pos)
    if m is not None:
        return m.end(), False
    i = pos + 1
    while True:
        i = _STRING_RUN.match(data, i).end()  # type: ignore[union-attr]  # [^...]* always matches
        if i >= n:
            raise ScanError(SCAN_UNEXPECTED, n)
        c = data[i]
        if c == _QUOTE:
            return i + 1, True
        if c != _BACKSLASH:
            raise ScanError(SCAN_CONTROL_CHARACTER, i)
        if i + 1 >= n:
            raise ScanError(SCAN_BAD_ESCAPE, i)
        e = data[i + 1]
        if e in _SIMPLE_ESCAPES:
            i += 2
            continue
        if e != 0x75 or _HEX4.match(data, i + 2) is None:  # 'u'
            raise ScanError(SCAN_BAD_ESCAPE, i)
        unit = int(data[i + 2 : i + 6], 16)
        if 0xDC00 <= unit <= 0xDFFF:
            raise ScanError(SCAN_LONE_SURROGATE, i)
        if 0xD800 <= unit <= 0xDBFF:
            # A high surrogate must be followed at once by an escaped low surrogate.
            if (
                data[i + 6 : i + 8] != b"\\u"
                or _HEX4.match(data, i + 8) is None
                or not 0xDC00 <= int(data[i + 8 : i + 12], 16) <= 0xDFFF
            ):
                raise ScanError(SCAN_LONE_SURROGATE, i)
            i += 12
        else:
            i += 6


def scan(data: bytes, max_depth: int) -> tuple[int, int, list[int]]:
    """Validate one strict JSON text; see the module docstring.

    Returns `(top, count, bounds)`: `top` is the first byte of the top-level value; when that
    value is an array, `count` is its number of elements and `bounds` holds start and end offsets
    of its first MAX_TOP_ELEMENTS elements, flattened. Raises ScanError on the first fault.
    """
    n = len(data)
    ws = _WS.match
    pos = ws(data, 0).end()  # type: ignore[union-attr]
    top = data[pos] if pos < n else -1
    count = 0
    bounds: list[int] = []
    # One entry per open container: None for an array, the set of its keys for an object.
    stack: list[set[bytes] | None] = []
    element_start = 0

    while True:
        # ---- a value starts at pos
        if pos >= n:
            raise ScanError(SCAN_UNEXPECTED, n)
        if len(stack) == 1 and stack[0] is None:
            element_start = pos
        c = data[pos]
        if c == _LBRACKET or c == _LBRACE:
            if len(stack) >= max_depth:
                raise ScanError(SCAN_TOO_DEEP, pos)
            pos = ws(data, pos + 1).end()  # type: ignore[union-attr]
            if c == _LBRACKET:
                stack.append(None)
                if pos < n and data[pos] == _RBRACKET:
                    pos += 1
                    stack.pop()
                    # fall through to "after a value"
                else:
                    continue
            else:
                keys: set[bytes] = set()
                stack.append(keys)
                if pos < n and data[pos] == _RBRACE:
                    pos += 1
                    stack.pop()
                else:
                    pos = _scan_key(data, pos, n, keys)
                    continue
        elif c == _QUOTE:
            pos, _ = scan_string(data, pos, n)
        elif c == _MINUS or 0x30 <= c <= 0x39:
            m = _NUMBER.match(data, pos)
            if m is None:
                raise ScanError(SCAN_UNEXPECTED, pos)
            if m.end() - pos > MAX_NUMBER_LENGTH:
                raise ScanError(SCAN_NUMBER_TOO_LONG, pos)
            pos = m.end()
        elif c == 0x74 and data.startswith(b"true", pos):
            pos += 4
        elif c == 0x66 and data.startswith(b"false", pos):
            pos += 5
        elif c == 0x6E and data.startswith(b"null", pos):
            pos += 4
        else:
            raise ScanError(SCAN_UNEXPECTED, pos)

        # ---- after a value: close containers or move to the next element
        while True:
            if not stack:
                pos = ws(data, pos).end()  # type: ignore[union-attr]
                if pos != n:
                    raise ScanError(SCAN_TRAILING_DATA, pos)
                return top, count, bounds
            if len(stack) == 1 and stack[0] is None:
                if count < MAX_TOP_ELEMENTS:
                    bounds.append(element_start)
                    bounds.append(pos)
                count += 1
            pos = ws(data, pos).end()  # type: ignore[union-attr]
            if pos >= n:
                raise ScanError(SCAN_UNEXPECTED, n)
            c = data[pos]
            inner = stack[-1]
            if c == _COMMA:
                pos = ws(data, pos + 1).end()  # type: ignore[union-attr]
                if inner is not None:
                    pos = _scan_key(data, pos, n, inner)
                break
            if c == (_RBRACKET if inner is None else _RBRACE):
                pos += 1
                stack.pop()
                continue
            raise ScanError(SCAN_UNEXPECTED, pos)


def _scan_key(data: bytes, pos: int, n: int, keys: set[bytes]) -> int:
    """Scan `"key" :` at pos inside an object; return where its value starts."""
    if pos >= n or data[pos] != _QUOTE:
        raise ScanError(SCAN_UNEXPECTED, pos)
    end, escaped = scan_string(data, pos, n)
    key = key_bytes(data, pos, end, escaped)
    if key in keys:
        raise ScanError(SCAN_DUPLICATE_KEY, pos)
    keys.add(key)
    pos = _WS.match(data, end).end()  # type: ignore[union-attr]
    if pos >= n or data[pos] != _COLON:
        raise ScanError(SCAN_UNEXPECTED, pos)
    return _WS.match(data, pos + 1).end()  # type: ignore[union-attr]
