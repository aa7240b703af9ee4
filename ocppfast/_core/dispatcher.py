"""Dispatcher: action -> handler, per version and role.

`dispatch(call)` finds the handler for a CALL (or a 2.1 SEND), decodes its payload into the typed
request through the validator and calls the handler, returning what the handler returns: the
response, or an awaitable of it for the asyncio layer to await. It raises the OCPPError the CALL
must be answered with:

- an action the version does not define -> NotImplemented ("not known by receiver");
- an action the version defines but that the peer's role does not send, or that has no handler
  here -> NotSupported ("recognized but not supported") (J16 4.2.3, J201 4.3);
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

# A handler takes the typed request; with a dispatcher's `owner`, the owner and the request.
Handler = Callable[..., Any]
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
    a CSMS sends. `handlers` maps action names to callables taking the typed request; with an
    `owner`, to callables taking the owner and the typed request (plain functions of a class,
    called on the instance `owner`), so that one mapping serves every connection. The mapping
    is not copied until `register()` changes it. Share the session's `validator`, so that one
    connection counts its tolerated quirks in one place.
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
        self._incoming_calls: frozenset[str] = peer_calls[version]
        self._incoming_sends: frozenset[str] = peer_sends[version]
        self._known: frozenset[str] = KNOWN_ACTIONS[self.version]
        self._owner: Any = owner
        self._shared: bool = False
        self._handlers: dict[str, Handler] = {}
        if handlers:
            for action in handlers:
                self._check(action)
            self._handlers = handlers if type(handlers) is dict else dict(handlers)
            self._shared = True

    def _check(self, action: str) -> None:
        if action not in self._incoming_calls and action not in self._incoming_sends:
            if action in self._known:
                raise ValueError(
                    f"{action} is never sent to a {'CSMS' if self.role == 'csms' else 'station'}"
                    f" in {self.version}"
                )
            raise ValueError(f"{self.version} has no action {action!r}")

    def register(self, action: str, handler: Handler) -> None:
        """Handle `action` with `handler` (called with the owner first when there is one). The
        action must be one the peer can send."""
        self._check(action)
        if self._shared:  # copy on write: the mapping given may serve other dispatchers
            self._handlers = dict(self._handlers)
            self._shared = False
        self._handlers[action] = handler

    @property
    def actions(self) -> frozenset[str]:
        """The actions that have a handler."""
        return frozenset(self._handlers)

    def dispatch(self, message: Call | Send) -> Any:
        """Decode `message`'s payload and call its handler; return what the handler returns.
        Raises the OCPPError to answer with (see the module docstring)."""
        action = message.action
        handler = self._handlers.get(action)
        if handler is None:
            raise self._unhandled(action, type(message) is Send)
        request = self.validator.decode_request(action, message.payload)
        owner = self._owner
        try:
            if owner is None:
                return handler(request)
            return handler(owner, request)
        except OCPPError:
            raise
        except Exception as exc:
            raise internal_error(action) from exc

    def _unhandled(self, action: str, is_send: bool) -> OCPPError:
        if action not in self._known:
            return ActionNotImplementedError(f"{action[:64]} is not a known {self.version} action")
        if action not in (self._incoming_sends if is_send else self._incoming_calls):
            sender, receiver = (
                ("a Charging Station", "a CSMS")
                if self.role == "csms"
                else ("a CSMS", "a Charging Station")
            )
            return ActionNotSupportedError(f"{action} is not sent by {sender} to {receiver}")
        return ActionNotSupportedError(f"{action} is not supported")
