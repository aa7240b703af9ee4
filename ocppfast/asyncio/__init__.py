"""The asyncio layer: a `Connection` drives one core session over a transport; `Handlers`
with `@on` / `@after` answer the peer's CALLs, the same way for both roles; `Server` (CSMS) and
`Client` (station) put them on WebSockets."""

from .auth import Credentials
from .client import (
    BackOff,
    Client,
    ClientStopped,
    ConnectError,
    HandshakeRefused,
    NoCommonVersion,
    PasswordRefused,
)
from .connection import DEFAULT_CALL_TIMEOUT, Connection, ConnectionObserver, ConnectionObservers
from .handlers import Handlers, after, on
from .server import Server, ServerLimits

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "BackOff",
    "Client",
    "ClientStopped",
    "ConnectError",
    "Connection",
    "ConnectionObserver",
    "ConnectionObservers",
    "Credentials",
    "Handlers",
    "HandshakeRefused",
    "NoCommonVersion",
    "PasswordRefused",
    "Server",
    "ServerLimits",
    "after",
    "on",
]
