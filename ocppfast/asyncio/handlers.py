"""Declarative, typed handlers: the same mechanism for the CSMS and the station role.

Subclass `Handlers` and mark methods with `@on(...)`; one instance serves one connection and
reaches it as `self.connection`:

    class MyCSMS(Handlers):
        @on("BootNotification")
        def boot(self, request: v201.BootNotificationRequest) -> v201.BootNotificationResponse:
            return v201.BootNotificationResponse(...)

        @after("BootNotification")
        async def configure(self, request, response) -> None:
            await self.connection.call(v201.GetVariablesRequest(...))

- `@on(action)` handles the peer's CALL (or 2.1 SEND) `action`: the method takes the typed,
  validated request and returns the typed response, directly or as a coroutine. Raise an
  `OCPPError` to answer with that CALLERROR. A SEND handler returns None: SENDs are never answered.
- `@after(action)` runs once the response to `action` was handed to the transport, with the
  request and the response: the place for follow-up CALLs (the peer expects the answer first,
  e.g. E201 B01.FR.xx: nothing before the BootNotification is answered).
- The action is named by its string, valid for every version that has it, or by a request type
  (`@on(v16.BootNotificationRequest)`), valid for that type's version only; `versions=` narrows
  a string to some versions. A class can so serve several versions, a method per version where
  the types differ.
- `connected()` and `disconnected()` are called when the connection starts and ends.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .._core.dispatcher import KNOWN_ACTIONS
from .._core.message import Request
from .._core.types import MESSAGE_MODULES, VERSIONS, check_version

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["Handlers", "after", "on"]

F = TypeVar("F", bound=Callable[..., Any])

_HANDLE = "on"
_AFTER = "after"
_MODULE_VERSIONS = {module: version for version, module in MESSAGE_MODULES.items()}


class _Route:
    """What `@on` / `@after` attach to a method: which action, in which versions."""

    __slots__ = ("action", "kind", "versions")

    def __init__(self, kind: str, action: str, versions: frozenset[str]) -> None:
        self.kind = kind
        self.action = action
        self.versions = versions


def _route(kind: str, action: str | type[Request], versions: Iterable[str] | None) -> _Route:
    if isinstance(action, type):
        if not issubclass(action, Request) or not action.ACTION:
            raise TypeError(f"@{kind} takes an action name or a request type, not {action!r}")
        module = action.__module__.rsplit(".", 1)[0]
        version = _MODULE_VERSIONS.get(module)
        if version is None:
            raise TypeError(f"{action.__name__} is not a generated OCPP request type")
        if versions is not None and set(versions) != {version}:
            raise ValueError(f"{action.__name__} is an {version} type; versions= contradicts it")
        return _Route(kind, action.ACTION, frozenset({version}))
    chosen = frozenset(check_version(v) for v in (VERSIONS if versions is None else versions))
    if not any(action in KNOWN_ACTIONS[v] for v in chosen):
        raise ValueError(f"no OCPP action {action!r} in {', '.join(sorted(chosen))}")
    return _Route(kind, action, frozenset(v for v in chosen if action in KNOWN_ACTIONS[v]))


def on(action: str | type[Request], *, versions: Iterable[str] | None = None) -> Callable[[F], F]:
    """Mark a method as the handler of the peer's CALL (or 2.1 SEND) `action`."""
    route = _route(_HANDLE, action, versions)

    def mark(method: F) -> F:
        method.__dict__.setdefault("_ocppfast_routes", []).append(route)
        return method

    return mark


def after(
    action: str | type[Request], *, versions: Iterable[str] | None = None
) -> Callable[[F], F]:
    """Mark a method as the hook run after the response to `action` was sent:
    `method(request, response)`, sync or async."""
    route = _route(_AFTER, action, versions)

    def mark(method: F) -> F:
        method.__dict__.setdefault("_ocppfast_routes", []).append(route)
        return method

    return mark


_NO_ROUTES: Mapping[str, str] = MappingProxyType({})


class Handlers:
    """Base class of a role's handlers; see the module docstring. One instance per connection.

    The tables of routes are built once per class, when it is defined: a class that marks two
    methods for the same action and version is refused there, not at the first message.
    """

    # `connection` in a slot, and `__dict__` only once a subclass sets an attribute of its own:
    # a CSMS holds one instance per station (docs/performance.md).
    __slots__ = ("__dict__", "__weakref__", "connection")
    connection: Connection
    # (kind, version) -> {action: method name}
    _routes: ClassVar[dict[tuple[str, str], dict[str, str]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        routes: dict[tuple[str, str], dict[str, str]] = {}
        claimed: dict[tuple[str, str, str], tuple[str, str]] = {}
        # Walk the MRO base-first so that a subclass's method overrides its base's route.
        for klass in reversed(cls.__mro__):
            for name, member in vars(klass).items():
                for route in getattr(member, "_ocppfast_routes", ()):
                    for version in route.versions:
                        key = (route.kind, version, route.action)
                        owner = claimed.get(key)
                        if owner is not None and owner[0] == klass.__qualname__:
                            raise TypeError(
                                f"{klass.__qualname__}: both {owner[1]} and {name} are "
                                f"@{route.kind}({route.action!r}) in {version}"
                            )
                        claimed[key] = (klass.__qualname__, name)
                        routes.setdefault((route.kind, version), {})[route.action] = name
        cls._routes = routes

    def handled_actions(self, version: str) -> frozenset[str]:
        """The actions this class handles in `version`."""
        return frozenset(self._routes.get((_HANDLE, version), ()))

    def handler_names(self, version: str) -> Mapping[str, str]:
        """The name of each action's handler method in `version`: one table per class, shared
        by its instances (read only). A Connection's dispatcher looks each name up on the
        instance when a message comes, so an instance's or a patched class's method answers,
        and no connection holds a table of bound methods of its own."""
        return self._routes.get((_HANDLE, version), _NO_ROUTES)

    def handlers_for(self, version: str) -> dict[str, Callable[[Any], Any]]:
        """The bound handler of each action, for `version`."""
        names = self._routes.get((_HANDLE, version), {})
        return {action: getattr(self, name) for action, name in names.items()}

    def after_hooks_for(self, version: str) -> dict[str, Callable[[Any, Any], Any]]:
        """The bound after-hook of each action, for `version`."""
        names = self._routes.get((_AFTER, version), {})
        return {action: getattr(self, name) for action, name in names.items()}

    def write_barrier(self) -> asyncio.Future[None] | None:
        """What the frames produced until now must wait for before they are sent, or None.
        A role that stores what messages change returns the commit of those writes here, so
        that no answer acknowledges what is not stored yet (`ocppfast.csms.store`). Called
        after every message: keep it cheap."""
        return None

    def calling(self, request: Request) -> None:
        """Called before our `request` is sent (a CALL, or a 2.1 SEND): a role may refuse to
        send it by raising (e.g. a CSMS to a station it rejected, B03.FR.03), or take note of
        it (a TriggerMessage, whose triggered message it then expects)."""

    def connected(self) -> Awaitable[None] | None:
        """Called once the connection runs, before the first message is read."""
        return None

    def disconnected(self) -> Awaitable[None] | None:
        """Called once the connection has ended (`self.connection.close_code` says how)."""
        return None


async def maybe_await(result: Any) -> Any:
    """`await result` if it is awaitable, else `result`: for hooks that may be sync or async."""
    if inspect.isawaitable(result):
        return await result
    return result
