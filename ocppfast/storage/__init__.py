"""Storage: SQLite (embedded, the default) and PostgreSQL behind one `Database` interface.

    database = open_database("sqlite:////var/lib/ocppfast/ocppfast.sqlite3")
    await database.open()
    await database.migrate("csms", MIGRATIONS)

What is stored, and when, is the business of the role that stores it (`ocppfast.csms.store`
for the CSMS); this package runs SQL written once for both dialects and commits in groups.
"""

from __future__ import annotations

from .base import (
    DIALECT_TYPES,
    Database,
    GroupCommit,
    Migration,
    Statement,
    StorageError,
    timestamp,
)

__all__ = [
    "DIALECT_TYPES",
    "Database",
    "GroupCommit",
    "Migration",
    "Statement",
    "StorageError",
    "open_database",
    "timestamp",
]


def open_database(url: str) -> Database:
    """The database at `url`, not yet opened: `sqlite:////absolute/path`,
    `sqlite:///relative/path`, or `postgresql://user:password@host:port/name` (also
    `postgres://`)."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from .sqlite import SQLiteDatabase

        return SQLiteDatabase(url)
    if scheme in ("postgresql", "postgres"):
        from .postgres import PostgresDatabase

        return PostgresDatabase(url)
    raise StorageError(
        f"unknown database {url!r}: give sqlite:///path/to/file.sqlite3 or "
        "postgresql://user:password@host:port/name"
    )
