"""Dispatcher: action -> handler, per version and role.

`dispatch(call)` finds the handler for a CALL (or a 2.1 SEND), decodes its payload into the typed
request through the validator and calls the handler, returning what the handler returns: the
response, or an awaitable of it for the asyncio layer to await. It raises the OCPPError the CALL
must be answered with:

- an action the version does not define -> NotImplemented ("not known by receiver");
- an action the version defines but that the peer's role does not send, that has no handler
  here, or that came as the wrong kind of message (a CALL of a SEND message, a SEND of a CALL
  action, J21 4.2.4) -> NotSupported ("recognized but not supported") (J16 4.2.3, J201 4.3);
- a payload that breaks its schema -> the error the validator names (see validator.py);
- a handler that raises an OCPPError -> that error, as the handler meant it;
- a handler that raises anything else -> InternalError with a short description that names the
  action only; the original exception is chained (`__cause__`) for the log, never sent.

Compiled by Cython as `_dispatcher_c` (see `_dispatcher_c.pxd`); this file is also the pure twin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

try:
    import cython
except ModuleNotFoundError:  # Cython is a build dependency only
    from . import _cython_shim as cython

if cython.compiled:
    from ._validator_c import Validator
else:
    from .validator import Validator

from ..exceptions import (
    ActionNotImplementedError,
    ActionNotSupportedError,
    InternalError,
    OCPPError,
)
from .actions import CSMS_INITIATED, CSMS_SENDS, STATION_INITIATED, STATION_SENDS
from .types import Call, Send, check_version

ROLES = ("csms", "station")

# A callable taking the typed request, or the name of the dispatcher's owner's method.
Handler = Callable[[Any], Any] | str
# Every action of a version, whoever sends it: one shared set per version, not one per
# dispatcher (a connection's memory is mostly what it does not share: docs/performance.md).
KNOWN_ACTIONS: dict[str, frozenset[str]] = {
    version: STATION_INITIATED[version]
    | CSMS_INITIATED[version]
    | STATION_SENDS[version]
    | CSMS_SENDS[version]
    for version in STATION_INITIATED
}


def internal_error(action: str) -> InternalError:
    """The InternalError a CALL gets when its handler failed unexpectedly."""
    return InternalError(f"an internal error occurred while processing {action}")


class Dispatcher:
    """Routes the CALLs and SENDs of one version to the handlers of one role.

    `role` is the side this dispatcher serves: "csms" handles what stations send, "station" what
    a CSMS sends. `handlers` maps action names to callables taking the typed request, or to the
    names of `owner`'s methods, looked up on it for each message: so one mapping of names (a
    Handlers class's) serves every connection, and an instance or a patched class answers as
    it says at the time. The mapping is not copied until `register()` changes it. A CALL finds
    only the handlers of CALL actions, a SEND only those of SEND messages. Share the session's
    `validator`, so that one connection counts its tolerated quirks in one place.
    """

    def __init__(
        self,
        version: str,
        role: str,
        handlers: Mapping[str, Handler] | None = None,
        validator: Any = None,
        owner: Any = None,
    ) -> None:
        self.version: str = check_version(version)
        self.validator: Any = Validator(self.version) if validator is None else validator
        if role not in ROLES:
            raise ValueError(f"role must be 'csms' or 'station', not {role!r}")
        self.role: str = role
        peer_calls, peer_sends = (
            (STATION_INITIATED, STATION_SENDS) if role == "csms" else (CSMS_INITIATED, CSMS_SENDS)
        )
        self._incoming_calls: frozenset[str] = peer_calls[self.version]
        self._incoming_sends: frozenset[str] = peer_sends[self.version]
        self._known: frozenset[str] = KNOWN_ACTIONS[self.version]
        self._owner: Any = owner
        # Taken as given (a class's table may serve every connection) until register() copies
        # it. CALL and SEND actions share it: dispatch() checks the message's kind.
        self._handlers: dict[str, Handler] = {}
        self._copied: bool = True
        if handlers:
            for action in handlers:
                self._check(action)
            self._handlers = handlers if type(handlers) is dict else dict(handlers)
            self._copied = False

    def _check(self, action: str) -> None:
        if action not in self._incoming_calls and action not in self._incoming_sends:
            if action in self._known:
                raise ValueError(
                    f"{action} is never sent to a {'CSMS' if self.role == 'csms' else 'station'}"
                    f" in {self.version}"
                )
            raise ValueError(f"{self.version} has no action {action!r}")

    def register(self, action: str, handler: Handler) -> None:
        """Handle `action` with `handler`. The action must be one the peer can send."""
        self._check(action)
        if not self._copied:  # the table given may serve other dispatchers
            self._handlers = dict(self._handlers)
            self._copied = True
        self._handlers[action] = handler

    @property
    def actions(self) -> frozenset[str]:
        """The actions that have a handler."""
        return frozenset(self._handlers)

    def dispatch(self, message: Call | Send) -> Any:
        """Decode `message`'s payload and call its handler; return what the handler returns.
        Raises the OCPPError to answer with (see the module docstring)."""
        action = message.action
        is_send = type(message) is Send
        handler = self._handlers.get(action)
        # A SEND of a CALL action, or a CALL of a SEND message, is not handled (J21 4.2.4).
        if handler is None or is_send != (action in self._incoming_sends):
            raise self._unhandled(action, is_send)
        request = self.validator.decode_request(action, message.payload)
        try:
            if isinstance(handler, str):  # a method name: the owner's method, looked up now
                return getattr(self._owner, handler)(request)
            return handler(request)
        except OCPPError:
            raise
        except Exception as exc:
            raise internal_error(action) from exc

    def _unhandled(self, action: str, is_send: bool) -> OCPPError:
        if action not in self._known:
            return ActionNotImplementedError(f"{action[:64]} is not a known {self.version} action")
        if is_send and action in self._incoming_calls:
            return ActionNotSupportedError(f"{action} is a CALL action, not a SEND message")
        if not is_send and action in self._incoming_sends:
            return ActionNotSupportedError(f"{action} is a SEND message, not a CALL action")
        if action not in (self._incoming_sends if is_send else self._incoming_calls):
            sender, receiver = (
                ("a Charging Station", "a CSMS")
                if self.role == "csms"
                else ("a CSMS", "a Charging Station")
            )
            return ActionNotSupportedError(f"{action} is not sent by {sender} to {receiver}")
        return ActionNotSupportedError(f"{action} is not supported")
