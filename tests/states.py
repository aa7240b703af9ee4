"""CSMS states for tests: in memory or kept in a database, by the URL the `state_url` fixture
gives ("memory", or a database URL)."""

from __future__ import annotations

from typing import Any

from ocppfast.csms import CsmsState
from ocppfast.csms.store import StoredState
from ocppfast.storage import open_database


async def open_state(url: str, **options: Any) -> CsmsState:
    """A `CsmsState` for "memory", else a `StoredState` on `url`, opened; `options` are
    CsmsState's."""
    if url == "memory":
        return CsmsState(**options)
    state = StoredState(open_database(url), **options)
    await state.open()
    return state


async def close_state(state: CsmsState) -> None:
    """Close what `open_state` opened (commits what is pending)."""
    if isinstance(state, StoredState):
        await state.close()
