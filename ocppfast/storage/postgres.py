"""PostgreSQL through asyncpg (the `postgres` extra: `pip install ocppfast[postgres]`).

The same SQL as SQLite: `?` placeholders become `$1, $2, ...` here, once per statement. A batch
is one transaction on one pooled connection, each statement one `executemany` (a round trip
per statement, not per row).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from .base import Database, Statement, StorageError

__all__ = ["PostgresDatabase"]

_POOL_SIZE = 4  # the writer, and readers for the operator API


@functools.lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """`sql` with its `?` placeholders numbered as PostgreSQL wants them ($1, $2, ...)."""
    parts = sql.split("?")
    out = [parts[0]]
    for index, part in enumerate(parts[1:], 1):
        out.append(f"${index}{part}")
    return "".join(out)


class PostgresDatabase(Database):
    """A PostgreSQL database (`postgresql://user:password@host:port/name`)."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._pool: Any = None

    async def open(self) -> None:
        try:
            import asyncpg
        except ImportError as exc:
            raise StorageError(
                "PostgreSQL needs asyncpg: pip install 'ocppfast[postgres]'"
            ) from exc
        try:
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=_POOL_SIZE)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StorageError(
                f"cannot connect to {self.display_url}: {exc} (is the server running, and the "
                "database created? createdb NAME)"
            ) from exc

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def fetch(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self._pool is None:
            raise StorageError("the database is not open")
        rows = await self._pool.fetch(numbered(sql), *params)
        return [tuple(row) for row in rows]

    async def write(self, statements: Sequence[Statement]) -> None:
        if self._pool is None:
            raise StorageError("the database is not open")
        import asyncpg

        try:
            async with self._pool.acquire() as connection, connection.transaction():
                for sql, rows in statements:
                    if len(rows) == 1:
                        await connection.execute(numbered(sql), *rows[0])
                    else:
                        await connection.executemany(numbered(sql), rows)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StorageError(f"{self.display_url}: {exc}") from exc
