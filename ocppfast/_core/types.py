"""Value types of the core: frames, session events, scanner errors.

These are never compiled, so the compiled core and its pure-Python twin hand out the very same
classes. Frames and events are msgspec Structs: creating one costs about as much as a tuple.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

import msgspec

if TYPE_CHECKING:
    from ocppfast.exceptions import OCPPError

# OCPP-J versions, named as their WebSocket subprotocols (J201 3.1.2, J21 3.1.2) name them.
OCPP16: Final = "ocpp1.6"
OCPP201: Final = "ocpp2.0.1"
OCPP21: Final = "ocpp2.1"
VERSIONS: Final = (OCPP16, OCPP201, OCPP21)
# The generated message types of each version (REQUESTS and RESPONSES by action).
MESSAGE_MODULES: Final = {OCPP16: "ocppfast.v16", OCPP201: "ocppfast.v201", OCPP21: "ocppfast.v21"}
Version = Literal["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]

# Message Type Numbers (J16 4.1.3, J201 4.1.3, J21 4.1.3).
CALL: Final = 2
CALLRESULT: Final = 3
CALLERROR: Final = 4
CALLRESULTERROR: Final = 5  # OCPP 2.1 only
SEND: Final = 6  # OCPP 2.1 only

MESSAGE_TYPES: Final = {
    OCPP16: frozenset({CALL, CALLRESULT, CALLERROR}),
    OCPP201: frozenset({CALL, CALLRESULT, CALLERROR}),
    OCPP21: frozenset({CALL, CALLRESULT, CALLERROR, CALLRESULTERROR, SEND}),
}

MAX_MESSAGE_ID_LENGTH: Final = 36  # J16 4.1.4, J201 4.1.4: string[36]
MAX_ERROR_DESCRIPTION_LENGTH: Final = 255  # J201 4.2.3: ErrorDescription string[255]


def check_version(version: str) -> Version:
    """Return `version` if it is one of VERSIONS, else raise ValueError naming the choices."""
    if version not in VERSIONS:
        raise ValueError(f"unknown OCPP version {version!r}; expected one of {', '.join(VERSIONS)}")
    return version  # type: ignore[return-value]


def check_versions(versions: Sequence[str]) -> tuple[str, ...]:
    """`versions` as a tuple of known OCPP versions, each once, in the order given (a server's
    preference, or the subprotocols a station offers: J201 3.1.2, J21 3.1.2)."""
    if isinstance(versions, str):
        raise TypeError("versions is a sequence of versions, e.g. ('ocpp2.0.1',)")
    checked = tuple(check_version(v) for v in versions)
    if not checked:
        raise ValueError(f"give at least one OCPP version of {', '.join(VERSIONS)}")
    if len(set(checked)) != len(checked):
        raise ValueError(f"a version is given twice: {', '.join(checked)}")
    return checked


# --------------------------------------------------------------------------------------------
# Frames: what the codec decodes text into. Payloads stay raw JSON (bytes) until the dispatcher
# decodes them with the type the action calls for, so the codec never builds objects it would
# throw away.


class Call(msgspec.Struct, frozen=True, gc=False):
    """CALL `[2, messageId, action, payload]`: a request."""

    message_id: str
    action: str
    payload: bytes


class CallResult(msgspec.Struct, frozen=True, gc=False):
    """CALLRESULT `[3, messageId, payload]`: the answer to a CALL."""

    message_id: str
    payload: bytes


class CallError(msgspec.Struct, frozen=True, gc=False):
    """CALLERROR `[4, messageId, errorCode, errorDescription, errorDetails]`."""

    message_id: str
    error_code: str
    error_description: str
    error_details: bytes


class CallResultError(msgspec.Struct, frozen=True, gc=False):
    """CALLRESULTERROR `[5, ...]` (OCPP 2.1): the peer could not process our CALLRESULT."""

    message_id: str
    error_code: str
    error_description: str
    error_details: bytes


class Send(msgspec.Struct, frozen=True, gc=False):
    """SEND `[6, messageId, action, payload]` (OCPP 2.1): an unconfirmed message."""

    message_id: str
    action: str
    payload: bytes


class UnknownFrame(msgspec.Struct, frozen=True, gc=False):
    """A frame with a Message Type Number this version does not define; its payload is ignored
    (J16 4.1.3, J21 4.4)."""

    message_type: int
    message_id: str | None


Frame = Call | CallResult | CallError | CallResultError | Send | UnknownFrame


# --------------------------------------------------------------------------------------------
# Decoding errors


class FrameError(Exception):
    """A frame that could not be decoded.

    `code` is the OCPP-J error code to answer with, spelled as `version` spells it; `message_id`
    is the frame's message id, or "-1" when it could not be read (J201 4.2.3); `message_type` is
    the Message Type Number when it could be read, which tells the session whether (and how) to
    answer: a CALL gets a CALLERROR, a CALLRESULT in 2.1 a CALLRESULTERROR, a SEND nothing.
    """

    def __init__(
        self, code: str, description: str, message_id: str = "-1", message_type: int | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.message_id = message_id
        self.message_type = message_type

    def __repr__(self) -> str:
        return (
            f"FrameError(code={self.code!r}, description={self.description!r}, "
            f"message_id={self.message_id!r}, message_type={self.message_type!r})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FrameError) and (
            (self.code, self.description, self.message_id, self.message_type)
            == (other.code, other.description, other.message_id, other.message_type)
        )

    __hash__ = Exception.__hash__


# The strict JSON scanner reports the first fault it finds as a kind and a byte offset; both
# scanner backends scan left to right and decide at the same points, so they agree on both.
SCAN_UNEXPECTED: Final = 1
SCAN_BAD_ESCAPE: Final = 2
SCAN_LONE_SURROGATE: Final = 3
SCAN_CONTROL_CHARACTER: Final = 4
SCAN_NUMBER_TOO_LONG: Final = 5
SCAN_TOO_DEEP: Final = 6
SCAN_DUPLICATE_KEY: Final = 7
SCAN_TRAILING_DATA: Final = 8

SCAN_FAULTS: Final = {
    SCAN_UNEXPECTED: "unexpected character",
    SCAN_BAD_ESCAPE: "invalid escape sequence",
    SCAN_LONE_SURROGATE: "unpaired UTF-16 surrogate escape",
    SCAN_CONTROL_CHARACTER: "unescaped control character in string",
    SCAN_NUMBER_TOO_LONG: "number literal too long",
    SCAN_TOO_DEEP: "nesting too deep",
    SCAN_DUPLICATE_KEY: "duplicate key in object",
    SCAN_TRAILING_DATA: "data after the JSON value",
}

# Longest number literal accepted: a double needs 17 significant digits plus sign and exponent;
# a 5,000-digit integer is an attack on the decoder, not a meter reading.
MAX_NUMBER_LENGTH: Final = 64
# How many top-level array elements the scanner records bounds for; frames have at most 5.
MAX_TOP_ELEMENTS: Final = 6


class ScanError(ValueError):
    """The first fault the strict JSON scanner found: `kind` (a SCAN_* constant) at `offset`."""

    def __init__(self, kind: int, offset: int) -> None:
        super().__init__(kind, offset)
        self.kind = kind
        self.offset = offset

    def __str__(self) -> str:
        return f"{SCAN_FAULTS.get(self.kind, 'invalid JSON')} at byte {self.offset}"


# --------------------------------------------------------------------------------------------
# Session events: what Session.receive() and friends report to the layer that drives them.


class CallReceived(msgspec.Struct, frozen=True, gc=False):
    """The peer sent a CALL; answer it with Session.respond() or Session.respond_error()."""

    call: Call


class CallDispatched(msgspec.Struct, frozen=True):
    """The session's dispatcher handed a CALL to an async handler: `pending` is its awaitable.
    Await it, then answer with Session.respond() (or respond_error() if it raised)."""

    call: Call
    pending: Any


class CallRefused(msgspec.Struct, frozen=True):
    """A CALL the session's dispatcher handled was answered with a CALLERROR, for the log:
    `error` is the OCPPError sent (a handler's crash is chained as its `__cause__`), or the
    OutgoingMessageError of a response that broke its schema (answered InternalError)."""

    call: Call
    error: Exception


class SendReceived(msgspec.Struct, frozen=True, gc=False):
    """The peer sent a SEND (2.1); it is never answered (J21 4.2.4)."""

    send: Send


class CallCompleted(msgspec.Struct, frozen=True, gc=False):
    """One of our CALLs got its CALLRESULT. `response` is the typed, validated payload."""

    message_id: str
    action: str
    response: Any


class CallFailed(msgspec.Struct, frozen=True):
    """One of our CALLs ended without a result: a CALLERROR, a malformed answer, a timeout, or
    the session closing. `error` is the exception to hand to whoever is waiting."""

    message_id: str
    action: str
    error: OCPPError | Exception


class FrameRejected(msgspec.Struct, frozen=True):
    """An incoming frame could not be decoded. `answered` says whether an error frame went back."""

    error: FrameError
    answered: bool


class FrameIgnored(msgspec.Struct, frozen=True, gc=False):
    """An incoming frame with a Message Type Number this version does not know, ignored as the
    spec says (J16 4.1.3, J21 4.4)."""

    message_type: int
    message_id: str | None


class ResultDropped(msgspec.Struct, frozen=True, gc=False):
    """A CALLRESULT or CALLERROR that matches no pending CALL: unknown, or late (its CALL had
    already timed out). Dropped, never taken as the answer to another CALL."""

    message_id: str
    message_type: int
    late: bool


class DuplicateCallRejected(msgspec.Struct, frozen=True, gc=False):
    """The peer sent a CALL with the message id of one still being handled; it was answered with
    a CALLERROR and not handled again."""

    message_id: str
    action: str


class Tolerated(msgspec.Struct, frozen=True, gc=False):
    """A quirk profile tolerated (and repaired) a schema violation: reported the first time each
    (quirk, action, field) is seen on a validator, for the log."""

    quirk: str
    action: str
    kind: str  # "request" or "response"
    field: str
    violation: str
    message: str


class ResultRejectedByPeer(msgspec.Struct, frozen=True, gc=False):
    """The peer answered one of our CALLRESULTs with a CALLRESULTERROR (2.1)."""

    message_id: str
    error_code: str
    error_description: str


Event = (
    CallReceived
    | CallDispatched
    | CallRefused
    | SendReceived
    | CallCompleted
    | CallFailed
    | FrameRejected
    | FrameIgnored
    | ResultDropped
    | DuplicateCallRejected
    | ResultRejectedByPeer
)

__all__ = [
    "CALL",
    "CALLERROR",
    "CALLRESULT",
    "CALLRESULTERROR",
    "MAX_ERROR_DESCRIPTION_LENGTH",
    "MAX_MESSAGE_ID_LENGTH",
    "MAX_NUMBER_LENGTH",
    "MAX_TOP_ELEMENTS",
    "MESSAGE_MODULES",
    "MESSAGE_TYPES",
    "OCPP16",
    "OCPP21",
    "OCPP201",
    "SCAN_BAD_ESCAPE",
    "SCAN_CONTROL_CHARACTER",
    "SCAN_DUPLICATE_KEY",
    "SCAN_FAULTS",
    "SCAN_LONE_SURROGATE",
    "SCAN_NUMBER_TOO_LONG",
    "SCAN_TOO_DEEP",
    "SCAN_TRAILING_DATA",
    "SCAN_UNEXPECTED",
    "SEND",
    "VERSIONS",
    "Call",
    "CallCompleted",
    "CallDispatched",
    "CallError",
    "CallFailed",
    "CallReceived",
    "CallRefused",
    "CallResult",
    "CallResultError",
    "DuplicateCallRejected",
    "Event",
    "Frame",
    "FrameError",
    "FrameIgnored",
    "FrameRejected",
    "ResultDropped",
    "ResultRejectedByPeer",
    "ScanError",
    "Send",
    "SendReceived",
    "Tolerated",
    "UnknownFrame",
    "Version",
    "check_version",
    "check_versions",
]
