"""SQLite, the embedded default: one file, WAL, a writer thread and a reader thread.

Why threads of our own rather than aiosqlite: aiosqlite hands every statement to its thread
and back, where a group commit wants one hand-over for a whole batch (many statements, one
transaction, one fsync). A single-thread executor per connection does exactly that, with the
standard library's sqlite3, which releases the GIL while SQLite works.

Durability: WAL with `synchronous=FULL`, so a commit is on disk (its log fsynced) before
`write()` returns: an acknowledged message survives a crash of the process and of the machine.
Readers never block the writer (WAL), so the operator API's queries do not hold up commits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import os
import sqlite3
from collections.abc import Sequence
from typing import Any

from .base import Database, Statement, StorageError, sqlite_timestamp

__all__ = ["SQLiteDatabase"]

# Seconds a statement waits for a lock another process holds (a second `ocppfast serve` on the
# same file, a backup) before it fails.
_BUSY_TIMEOUT_MS = 5000


def _param(value: Any) -> Any:
    return sqlite_timestamp(value) if isinstance(value, datetime.datetime) else value


def _params(row: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(_param(value) for value in row)


class SQLiteDatabase(Database):
    """A SQLite database file: `sqlite:////absolute/path` or `sqlite:///relative/path` (as
    SQLAlchemy spells them); `sqlite://:memory:` for one that lives as long as the object."""

    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        # SQLAlchemy's spelling: sqlite:///relative/path, sqlite:////absolute/path.
        path = url.removeprefix("sqlite:")
        path = path[3:] if path.startswith("///") else path.removeprefix("//")
        if not path:
            raise StorageError(f"no file in {url!r}: use sqlite:///absolute/path.sqlite3")
        self.path = path
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._read_thread: concurrent.futures.ThreadPoolExecutor | None = None

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=_BUSY_TIMEOUT_MS / 1000,
        )
        connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA foreign_keys = ON")
        return connection

    def _open(self) -> None:
        if self.path != ":memory:":
            folder = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(folder, exist_ok=True)
        writer = self._connect()
        mode = writer.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if self.path != ":memory:" and mode.lower() != "wal":
            raise StorageError(f"{self.path}: SQLite refused WAL mode (got {mode})")
        writer.execute("PRAGMA synchronous = FULL")
        self._writer = writer
        # An in-memory database is private to its connection: the writer reads it too.
        self._reader = writer if self.path == ":memory:" else self._connect()

    async def open(self) -> None:
        self._write_thread = concurrent.futures.ThreadPoolExecutor(1, "ocppfast-sqlite-write")
        self._read_thread = (
            self._write_thread
            if self.path == ":memory:"
            else concurrent.futures.ThreadPoolExecutor(1, "ocppfast-sqlite-read")
        )
        try:
            await asyncio.get_running_loop().run_in_executor(self._write_thread, self._open)
        except (sqlite3.Error, OSError) as exc:
            await self.close()
            raise StorageError(
                f"cannot open the SQLite database {self.path}: {exc} (check that its folder is "
                "writable, or give another with --data-dir or --database)"
            ) from exc

    async def close(self) -> None:
        for pool in {self._write_thread, self._read_thread} - {None}:
            assert pool is not None
            pool.shutdown(wait=True)  # writes in progress complete
        for connection in {self._writer, self._reader} - {None}:
            assert connection is not None
            connection.close()
        self._writer = self._reader = None
        self._write_thread = self._read_thread = None

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        assert self._reader is not None
        return self._reader.execute(sql, params).fetchall()

    async def fetch(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self._read_thread is None:
            raise StorageError("the database is not open")
        return await asyncio.get_running_loop().run_in_executor(
            self._read_thread, self._fetch, sql, _params(params)
        )

    def _write(self, statements: Sequence[Statement]) -> None:
        connection = self._writer
        assert connection is not None
        connection.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in statements:
                connection.executemany(sql, [_params(row) for row in rows])
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    async def write(self, statements: Sequence[Statement]) -> None:
        if self._write_thread is None:
            raise StorageError("the database is not open")
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._write_thread, self._write, statements
            )
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: {exc}") from exc
