"""The station's `StationStore` itself: how a failed group commit reaches the station's writes.
The stations' use of it (what survives a restart, the queue) is tested in
test_station_v16_durable.py and test_station_v2_durable.py."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ocppfast._core import Backend
from ocppfast.station.store import StationData, StationStore
from ocppfast.storage import StorageError
from tests.aio import run


def test_a_failed_commit_is_logged_once_and_raises_only_to_its_waiters(
    core: Backend, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that fails (disk full) is one log line, not one per write: the writes nobody
    awaits (most of them: a station awaits only what the spec needs on disk first) never log
    "Future exception was never retrieved", while one that is awaited raises StorageError. What
    failed is written by the next commit once the disk works again."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        unhandled: list[str] = []
        loop.set_exception_handler(lambda _loop, context: unhandled.append(context["message"]))
        path = tmp_path / "station.sqlite3"
        store = await StationStore.open(path)
        data = await store.load("CP1")
        working = store.database.write

        async def disk_full(statements: Sequence[Any]) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(store.database, "write", disk_full)
        for n in range(100):
            data.set_state(f"counter.{n}", n)  # not awaited, as a station does
        awaited = data.set_setting("HeartbeatInterval", "123")
        with caplog.at_level(logging.ERROR, logger="ocppfast.storage"), pytest.raises(StorageError):
            await awaited
        gc.collect()  # the unawaited futures go: none may complain
        assert unhandled == []
        assert [r.getMessage() for r in caplog.records if "commit failed" in r.getMessage()] == [
            f"{store.database.display_url}: commit failed (disk full); unacknowledged messages"
            " are not answered"
        ]
        monkeypatch.setattr(store.database, "write", working)
        await store.close()
        reader = await StationStore.open(path)
        kept = await reader.load("CP1")
        assert kept.settings == {"HeartbeatInterval": "123"}
        assert kept.state == {f"counter.{n}": n for n in range(100)}
        await reader.close()

    run(main())


def test_a_cancelled_waiter_does_not_cancel_the_commit(core: Backend, tmp_path: Path) -> None:
    """The commit is shared by every write of a loop turn: a waiter cancelled (its connection
    closed) leaves the other writes' futures to complete."""

    async def main() -> None:
        store = await StationStore.open(tmp_path / "station.sqlite3")
        data = await store.load("CP1")
        first = data.set_state("a", 1)
        second = data.set_state("b", 2)
        waiter = asyncio.ensure_future(first)
        await asyncio.sleep(0)
        waiter.cancel()
        await second
        assert first.cancelled() and second.result() is None
        await store.close()

    run(main())


def test_in_memory_writes_are_done_at_once(core: Backend) -> None:
    """Without a store there is nothing to wait for: every write's future is already done."""

    async def main() -> None:
        data = StationData.in_memory("CP1")
        written = [data.set_setting("A", "1"), data.set_state("s", {"x": 1}), data.clear_queue()]
        assert all(future.done() and future.result() is None for future in written)
        assert not data.persistent and data.settings == {"A": "1"}

    run(main())
