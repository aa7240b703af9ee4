"""OCPP-J frame codec: text <-> frames, for OCPP 1.6J, 2.0.1 and 2.1 (J16 4, J201 4, J21 4).

Decoding checks the whole text with the strict scanner, then reads the envelope; the payload is
handed on as raw JSON bytes for the dispatcher to decode with the type its action calls for.
Every fault becomes a FrameError carrying the error code the version answers with, the message
id when it could be read ("-1" otherwise, J201 4.2.3) and the Message Type Number when that
could be read. Which code each fault gets, per version, is written down in docs/protocol.md.

Compiled by Cython as `_frame_c` (see `_frame_c.pxd`); this file is also the pure-Python twin.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import msgspec

try:
    import cython
except ModuleNotFoundError:  # Cython is a build dependency only
    from . import _cython_shim as cython

if cython.compiled:
    from ._jsonscan_c import scan
else:
    from .jsonscan import scan

from .jsonscan import scan_string
from .types import (
    CALL,
    CALLERROR,
    CALLRESULT,
    CALLRESULTERROR,
    MAX_ERROR_DESCRIPTION_LENGTH,
    MAX_MESSAGE_ID_LENGTH,
    MESSAGE_TYPES,
    OCPP16,
    OCPP21,
    OCPP201,
    SCAN_DUPLICATE_KEY,
    SEND,
    Call,
    CallError,
    CallResult,
    CallResultError,
    FrameError,
    ScanError,
    Send,
    UnknownFrame,
)

# Frames larger than this are refused unread. 1 MiB is what websockets accepts by default and
# holds any OCPP message in practice (a 2.0.1 certificate chain is ~6 kB, a 10,000-entry
# SendLocalList ~1 MB); raise it per connection where a deployment needs more.
DEFAULT_MAX_FRAME_BYTES = 1 << 20
# Deepest nesting accepted, counting the frame's own array. OCPP schemas nest about 10 levels;
# customData is open-ended, so leave room, but never let depth be unbounded.
DEFAULT_MAX_DEPTH = 64

_ELEMENTS = {CALL: 4, CALLRESULT: 3, CALLERROR: 5, CALLRESULTERROR: 5, SEND: 4}
_TYPE_NAMES = {
    CALL: "CALL",
    CALLRESULT: "CALLRESULT",
    CALLERROR: "CALLERROR",
    CALLRESULTERROR: "CALLRESULTERROR",
    SEND: "SEND",
}


class _FaultCodes(NamedTuple):
    """The codes a version answers framing faults with (docs/protocol.md has the table)."""

    unreadable: str  # not JSON we accept, and no message id can be read
    not_a_frame: str  # a JSON array that is not a valid RPC frame
    too_few: str  # a frame with fewer elements than its type has ("incomplete")
    bad_payload: str  # the id is readable but the payload is not an object or not JSON


_FAULT_CODES = {
    OCPP16: _FaultCodes(
        "FormationViolation", "FormationViolation", "ProtocolError", "FormationViolation"
    ),
    OCPP201: _FaultCodes(
        "RpcFrameworkError", "RpcFrameworkError", "RpcFrameworkError", "FormatViolation"
    ),
}
_FAULT_CODES[OCPP21] = _FAULT_CODES[OCPP201]

# Reads the Message Type Number and a plain message id off the front of a frame that failed to
# decode, so that the error can still be addressed (J201 4.2.3). Error path only. The number must
# be a whole JSON integer (not the front of 2.5, 2e0, 02 or a 5,000-digit literal).
_PREFIX = re.compile(
    rb"[ \t\n\r]*\[[ \t\n\r]*(0|[1-9][0-9]{0,8})(?![0-9.eE])"
    rb'[ \t\n\r]*(?:,[ \t\n\r]*"([^"\\\x00-\x1f]*)")?'
)

_encode = msgspec.json.Encoder().encode
_decode_str = msgspec.json.Decoder(str).decode
_EMPTY_OBJECT = b"{}"


def _prefix(data: bytes) -> tuple[int | None, str]:
    """(message type, message id) read off the front of a broken frame, or (None, "-1")."""
    m = _PREFIX.match(data, 0, 200)
    if m is None:
        return None, "-1"
    message_type = int(m.group(1))
    raw_id = m.group(2)
    if raw_id is None:
        return message_type, "-1"
    try:
        message_id = raw_id.decode("utf-8")
    except UnicodeDecodeError:
        return message_type, "-1"
    if len(message_id) > MAX_MESSAGE_ID_LENGTH:
        return message_type, "-1"
    return message_type, message_id


def _malformed(data: bytes, version: str, description: str) -> FrameError:
    message_type, message_id = _prefix(data)
    codes = _FAULT_CODES[version]
    code = codes.unreadable if message_id == "-1" else codes.bad_payload
    return FrameError(code, description, message_id, message_type)


def _scan_fault(data: bytes, version: str, error: ScanError) -> FrameError:
    description = f"invalid JSON: {error}"
    if error.kind == SCAN_DUPLICATE_KEY:
        key: str = _decode_str(data[error.offset : scan_string(data, error.offset, len(data))[0]])
        description = f"invalid JSON: duplicate key {key[:40]!r} at byte {error.offset}"
    return _malformed(data, version, description)


def _string(data: bytes, start: int, end: int) -> str | None:
    """The JSON string token data[start:end], decoded; None if the element is not a string."""
    if data[start] != 0x22:
        return None
    raw = data[start + 1 : end - 1]
    if b"\\" in raw:
        text: str = _decode_str(data[start:end])
        return text
    return raw.decode("utf-8")


def _to_bytes(data: bytes | str, version: str, max_size: int) -> bytes:
    """The frame as UTF-8 bytes, checked for size and for being UTF-8 at all (J16 4.1.2)."""
    if isinstance(data, str):
        if len(data) > max_size:
            raise _too_large(_head(data), len(data), version, max_size)
        try:
            encoded = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _malformed(
                _head(data), version, f"text is not valid UTF-8: {exc.reason}"
            ) from None
        data = encoded
    elif not isinstance(data, bytes):
        data = bytes(data)
    if len(data) > max_size:
        raise _too_large(data, len(data), version, max_size)
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _malformed(
                data, version, f"text is not valid UTF-8: {exc.reason} at byte {exc.start}"
            ) from None
    return data


def _head(text: str) -> bytes:
    """The front of a str frame as bytes for _prefix. Lone surrogates pass through as the
    (invalid) UTF-8 they would be, so a message id holding one is not readable ("-1"): replacing
    them would invent an id the peer never sent."""
    return text[:200].encode("utf-8", "surrogatepass")


def _too_large(head: bytes, size: int, version: str, max_size: int) -> FrameError:
    return _malformed(head, version, f"frame of {size} bytes exceeds the limit of {max_size} bytes")


def decode_frame(
    data: bytes | str,
    version: str,
    max_size: int = DEFAULT_MAX_FRAME_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Call | CallResult | CallError | CallResultError | Send | UnknownFrame:
    """Decode one OCPP-J frame of `version` ("ocpp1.6", "ocpp2.0.1" or "ocpp2.1").

    Returns a Call, CallResult, CallError, CallResultError or Send (the last two on 2.1 only), or
    an UnknownFrame for a Message Type Number the version tells us to ignore (1.6 and 2.1).
    Raises FrameError for everything else, including an unknown type on 2.0.1
    (MessageTypeNotSupported, J201 4.4).
    """
    buf = _to_bytes(data, version, max_size)
    try:
        top, count, b = scan(buf, max_depth)
    except ScanError as error:
        raise _scan_fault(buf, version, error) from None
    # Fast path for the frames that make up the traffic: a well-formed CALL or CALLRESULT (types
    # every version has). Anything else, valid or not, takes the general path below.
    # (`b` is indexed unchecked in the compiled twin: test `count` first.)
    if top == 0x5B and (count == 3 or count == 4) and b[1] - b[0] == 1:
        first = buf[b[0]]
        if (first == 0x32 and count == 4) or (first == 0x33 and count == 3):
            message_id = _string(buf, b[2], b[3])
            if message_id is not None and len(message_id) <= MAX_MESSAGE_ID_LENGTH:
                if first == 0x33:
                    if buf[b[4]] == 0x7B:
                        return CallResult(message_id, buf[b[4] : b[5]])
                else:
                    action = _string(buf, b[4], b[5])
                    if action is not None and buf[b[6]] == 0x7B:
                        return Call(message_id, action, buf[b[6] : b[7]])
    codes = _FAULT_CODES[version]
    if top != 0x5B:
        raise FrameError(codes.not_a_frame, "frame is not a JSON array")
    type_token = buf[b[0] : b[1]] if count else b""
    if not type_token.isdigit():
        if count < 2:
            raise FrameError(codes.too_few, "frame has fewer than 2 elements")
        raise FrameError(codes.not_a_frame, "Message Type Number is not an integer")
    message_type = int(type_token)
    message_id = _string(buf, b[2], b[3]) if count >= 2 else None
    if message_type not in MESSAGE_TYPES[version]:
        # An unknown type is judged by its number alone: the rest of the frame is its business.
        if message_id is not None and len(message_id) > MAX_MESSAGE_ID_LENGTH:
            message_id = None
        if version == OCPP201:  # J201 4.4
            raise FrameError(
                "MessageTypeNotSupported",
                f"Message Type Number {message_type} is not supported",
                "-1" if message_id is None else message_id,
                message_type,
            )
        return UnknownFrame(message_type, message_id)  # ignored: J16 4.1.3, J21 4.4
    if count < 2:
        raise FrameError(codes.too_few, "frame has fewer than 2 elements", "-1", message_type)
    if message_id is None:
        raise FrameError(codes.not_a_frame, "message id is not a string", "-1", message_type)
    if len(message_id) > MAX_MESSAGE_ID_LENGTH:
        raise FrameError(
            codes.not_a_frame,
            f"message id is {len(message_id)} characters long, more than {MAX_MESSAGE_ID_LENGTH}",
            "-1",
            message_type,
        )
    expected = _ELEMENTS[message_type]
    if count != expected:
        raise FrameError(
            codes.too_few if count < expected else codes.not_a_frame,
            f"{_TYPE_NAMES[message_type]} has {count} elements, not {expected}",
            message_id,
            message_type,
        )
    if message_type == CALLRESULT:
        return CallResult(
            message_id, _payload(buf, b[4], b[5], codes.bad_payload, message_id, message_type)
        )
    if message_type == CALL or message_type == SEND:
        action = _string(buf, b[4], b[5])
        if action is None:
            raise FrameError(codes.not_a_frame, "action is not a string", message_id, message_type)
        payload = _payload(buf, b[6], b[7], codes.bad_payload, message_id, message_type)
        if message_type == CALL:
            return Call(message_id, action, payload)
        return Send(message_id, action, payload)
    # CALLERROR, CALLRESULTERROR
    error_code = _string(buf, b[4], b[5])
    description = _string(buf, b[6], b[7])
    if error_code is None or description is None:
        raise FrameError(
            codes.not_a_frame,
            "errorCode and errorDescription must be strings",
            message_id,
            message_type,
        )
    details = _payload(buf, b[8], b[9], codes.bad_payload, message_id, message_type)
    if message_type == CALLERROR:
        return CallError(message_id, error_code, description, details)
    return CallResultError(message_id, error_code, description, details)


def _payload(
    buf: bytes, start: int, end: int, fault_code: str, message_id: str, message_type: int
) -> bytes:
    """The payload element as raw JSON: an object, or `null` read as the empty object (J16 4.2.1,
    J201 4.1.5 allow both notations for "no payload")."""
    first = buf[start]
    if first == 0x7B:
        return buf[start:end]
    if first == 0x6E:  # null
        return _EMPTY_OBJECT
    raise FrameError(fault_code, "payload is not a JSON object", message_id, message_type)


# ------------------------------------------------------------------------------------------
# Encoding. Payloads are anything msgspec encodes: dicts, msgspec Structs, msgspec.Raw.


def encode_call(message_id: str, action: str, payload: Any) -> bytes:
    """`[2, messageId, action, payload]`."""
    return _encode((CALL, message_id, action, payload))


def encode_call_result(message_id: str, payload: Any) -> bytes:
    """`[3, messageId, payload]`."""
    return _encode((CALLRESULT, message_id, payload))


def encode_send(message_id: str, action: str, payload: Any) -> bytes:
    """`[6, messageId, action, payload]` (2.1)."""
    return _encode((SEND, message_id, action, payload))


def encode_call_error(
    message_id: str,
    code: str,
    description: str = "",
    details: Any = None,
    message_type: int = CALLERROR,
) -> bytes:
    """`[4, messageId, errorCode, errorDescription, errorDetails]`, or with message_type=5 a
    CALLRESULTERROR (2.1). The description is cut to 255 characters (J201 4.2.3: string[255];
    Python strings index code points, so the cut never splits one) and made encodable."""
    if len(description) > MAX_ERROR_DESCRIPTION_LENGTH:
        description = description[:MAX_ERROR_DESCRIPTION_LENGTH]
    frame = (message_type, message_id, code, description, {} if details is None else details)
    try:
        return _encode(frame)
    except (UnicodeEncodeError, TypeError, msgspec.EncodeError):
        # Strings with lone surrogates, or details that are not JSON: never let an error report
        # itself fail. Keep what can be said.
        return _encode((message_type, _clean(message_id), _clean(code), _clean(description), {}))


def _clean(text: str) -> str:
    """`text` with anything UTF-8 cannot carry (lone surrogates) replaced."""
    return text.encode("utf-8", "replace").decode("utf-8")
