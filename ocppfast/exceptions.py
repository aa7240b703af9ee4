"""OCPP-J RPC errors: one exception class per error code (J16 4.2.3 Table 7, J201 4.3 Table 8,
J21 4.3 Table 9).

Raise one of these from a handler to answer the CALL with that CALLERROR; `Connection.call()`
raises one when the peer answers with a CALLERROR. Codes are named as OCPP 2.x names them;
`code_for(version)` gives the spelling a version uses on the wire, since OCPP 1.6 keeps its
historical `FormationViolation` and `OccurenceConstraintViolation` (J16E 5.1, 5.2).
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ERROR_CLASSES",
    "ActionNotImplementedError",
    "ActionNotSupportedError",
    "CallNotAllowedError",
    "CallTimeoutError",
    "FormatViolationError",
    "GenericError",
    "InternalError",
    "MessageTypeNotSupportedError",
    "OCPPError",
    "OccurrenceConstraintViolationError",
    "OutgoingMessageError",
    "PropertyConstraintViolationError",
    "ProtocolError",
    "RpcFrameworkError",
    "SecurityError",
    "SessionClosedError",
    "TypeConstraintViolationError",
    "error_from_code",
]

# Spellings OCPP 1.6 uses where they differ from 2.x, and the 1.6 code used for 2.x-only codes.
_OCPP16_SPELLING = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    "RpcFrameworkError": "ProtocolError",  # 1.6 has no RpcFrameworkError; ProtocolError is closest
    "MessageTypeNotSupported": "GenericError",  # never sent in 1.6: unknown types are ignored
}


class OCPPError(Exception):
    """Base of every OCPP-J RPC error. `description` becomes the CALLERROR's errorDescription
    (cut to 255 characters on the wire), `details` its errorDetails object."""

    code: ClassVar[str] = "GenericError"

    def __init__(self, description: str = "", details: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.details: dict[str, Any] = details if details is not None else {}

    @classmethod
    def code_for(cls, version: str) -> str:
        """The error code as `version` ("ocpp1.6", "ocpp2.0.1", "ocpp2.1") spells it."""
        if version == "ocpp1.6":
            return _OCPP16_SPELLING.get(cls.code, cls.code)
        return cls.code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r}, details={self.details!r})"

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, OCPPError)
            and (self.description, self.details) == (other.description, other.details)
        )

    __hash__ = Exception.__hash__


class FormatViolationError(OCPPError):
    """Payload for Action is syntactically incorrect (1.6: FormationViolation)."""

    code = "FormatViolation"


class GenericError(OCPPError):
    """Any other error not covered by the more specific error codes."""

    code = "GenericError"


class InternalError(OCPPError):
    """An internal error occurred and the receiver could not process the requested Action."""

    code = "InternalError"


class MessageTypeNotSupportedError(OCPPError):
    """A message with a Message Type Number this implementation does not support (2.0.1)."""

    code = "MessageTypeNotSupported"


class ActionNotImplementedError(OCPPError):
    """Requested Action is not known by receiver (code NotImplemented)."""

    code = "NotImplemented"


class ActionNotSupportedError(OCPPError):
    """Requested Action is recognized but not supported by the receiver (code NotSupported)."""

    code = "NotSupported"


class OccurrenceConstraintViolationError(OCPPError):
    """A field violates occurrence constraints (1.6: OccurenceConstraintViolation)."""

    code = "OccurrenceConstraintViolation"


class PropertyConstraintViolationError(OCPPError):
    """Payload is syntactically correct but at least one field contains an invalid value."""

    code = "PropertyConstraintViolation"


class ProtocolError(OCPPError):
    """Payload for Action is incomplete (1.6) / does not conform to the PDU structure (2.x)."""

    code = "ProtocolError"


class RpcFrameworkError(OCPPError):
    """Content of the call is not a valid RPC request, e.g. the message id could not be read."""

    code = "RpcFrameworkError"


class SecurityError(OCPPError):
    """A security issue prevented the receiver from completing the Action."""

    code = "SecurityError"


class TypeConstraintViolationError(OCPPError):
    """A field violates data type constraints (e.g. "somestring": 12)."""

    code = "TypeConstraintViolation"


ERROR_CLASSES: dict[str, type[OCPPError]] = {
    cls.code: cls
    for cls in (
        FormatViolationError,
        GenericError,
        InternalError,
        MessageTypeNotSupportedError,
        ActionNotImplementedError,
        ActionNotSupportedError,
        OccurrenceConstraintViolationError,
        PropertyConstraintViolationError,
        ProtocolError,
        RpcFrameworkError,
        SecurityError,
        TypeConstraintViolationError,
    )
}
ERROR_CLASSES["FormationViolation"] = FormatViolationError
ERROR_CLASSES["OccurenceConstraintViolation"] = OccurrenceConstraintViolationError


def error_from_code(
    code: str, description: str = "", details: dict[str, Any] | None = None
) -> OCPPError:
    """The exception for an error code received on the wire, in either version's spelling.
    An unknown code becomes a GenericError whose `received_code` keeps what was sent."""
    cls = ERROR_CLASSES.get(code)
    if cls is not None:
        return cls(description, details)
    error = GenericError(description, details)
    error.received_code = code  # type: ignore[attr-defined]
    return error


class CallNotAllowedError(RuntimeError):
    """Our role may not send this message to the peer now, so it was not sent: e.g. a CSMS to a
    station whose boot it rejected ("The CSMS SHALL NOT initiate any messages", B03.FR.03)."""


class CallTimeoutError(TimeoutError):
    """No CALLRESULT or CALLERROR came for a CALL within its timeout (J16 4.1.1, J201 4.1.1)."""

    def __init__(self, action: str, message_id: str, timeout: float) -> None:
        super().__init__(
            f"no answer to {action} (message id {message_id}) within {timeout:g} seconds"
        )
        self.action = action
        self.message_id = message_id
        self.timeout = timeout


class SessionClosedError(ConnectionError):
    """The session closed while a CALL was pending or queued, or before one could be sent."""

    def __init__(self, action: str, message_id: str, reason: str = "") -> None:
        suffix = f": {reason}" if reason else ""
        if message_id:
            text = f"connection closed before {action} (message id {message_id}) was answered"
        else:
            text = f"cannot send {action}: the connection is closed"
        super().__init__(text + suffix)
        self.action = action
        self.message_id = message_id
        self.reason = reason


class OutgoingMessageError(ValueError):
    """A message we were about to send does not conform to its schema; it was not sent. The
    OCPPError that describes the fault (as the peer would have reported it) is `__cause__`."""
