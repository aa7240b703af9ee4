"""The PostgreSQL server of the storage tests (tests/postgres.py): real, reachable, and a new
empty database per call."""

from __future__ import annotations

import asyncpg
import pytest

from tests import postgres
from tests.aio import run

USER_TABLES = (
    "SELECT count(*) FROM pg_catalog.pg_tables"
    " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_database_url_is_a_real_postgresql_database(database_url: str) -> None:
    assert database_url.startswith("postgresql://")

    async def main() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            assert await connection.fetchval("SELECT 1") == 1
            assert await connection.fetchval(USER_TABLES) == 0
            await connection.execute("CREATE TABLE station (id text PRIMARY KEY, seen int)")
            await connection.executemany(
                "INSERT INTO station VALUES ($1, $2)", [("CP-1", 1), ("CP-2", 2)]
            )
            rows = await connection.fetch("SELECT id, seen FROM station ORDER BY id")
            assert [tuple(r) for r in rows] == [("CP-1", 1), ("CP-2", 2)]
        finally:
            await connection.close()

    run(main())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_database_url_is_an_absolute_path(database_url: str) -> None:
    assert database_url.startswith("sqlite:////") and database_url.endswith("/ocppfast.sqlite3")


def test_each_new_database_is_new_and_empty(postgres_server: str) -> None:
    first, second = postgres.new_database_url(), postgres.new_database_url()
    assert first != second

    async def main() -> None:
        one = await asyncpg.connect(first)
        two = await asyncpg.connect(second)
        try:
            names = {await c.fetchval("SELECT current_database()") for c in (one, two)}
            assert len(names) == 2
            await one.execute("CREATE TABLE only_here (x int)")
            assert await one.fetchval(USER_TABLES) == 1
            assert await two.fetchval(USER_TABLES) == 0
        finally:
            await one.close()
            await two.close()

    run(main())
    postgres.drop_database(first)  # drop_database closes nothing of ours: ours are closed
    postgres.drop_database(second)

    async def exists(url: str) -> bool:
        name = url.rsplit("/", 1)[1]
        admin = await asyncpg.connect(postgres_server)
        try:
            return bool(await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
        finally:
            await admin.close()

    assert not run(exists(first)) and not run(exists(second))


def test_private_cluster_is_tuned_for_tests_and_local_only(postgres_server: str) -> None:
    if postgres.server().external:
        return  # OCPPFAST_TEST_POSTGRES: a server configured by whoever runs it

    async def main() -> dict[str, str]:
        admin = await asyncpg.connect(postgres_server)
        try:
            names = ["listen_addresses", "fsync", "synchronous_commit", "max_connections"]
            return {n: await admin.fetchval(f"SHOW {n}") for n in names}
        finally:
            await admin.close()

    assert run(main()) == {
        "listen_addresses": "127.0.0.1",
        "fsync": "off",
        "synchronous_commit": "off",
        "max_connections": "200",
    }
