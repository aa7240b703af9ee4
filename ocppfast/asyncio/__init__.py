"""The asyncio layer: a `Connection` drives one core session over a transport; `Handlers`
with `@on` / `@after` answer the peer's CALLs, the same way for both roles."""

from .connection import DEFAULT_CALL_TIMEOUT, Connection
from .handlers import Handlers, after, on

__all__ = ["DEFAULT_CALL_TIMEOUT", "Connection", "Handlers", "after", "on"]
