"""Every core test runs on both backends: the compiled core and its pure-Python twin.

Tests take the `core` fixture (a `ocppfast._core.Backend`). When the compiled build is expected
(OCPPFAST_REQUIRE_COMPILED=1, as CI sets it) and missing, the compiled half fails instead of
being skipped; tests/test_build.py fails as well.

Storage tests take the `database_url` fixture: each runs once on SQLite and once on a real
PostgreSQL server (tests/postgres.py), which fails, never skips, when PostgreSQL is missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocppfast._core import Backend, compiled_backend, pure_backend

REQUIRE_COMPILED = os.environ.get("OCPPFAST_REQUIRE_COMPILED", "") not in ("", "0")


def _compiled() -> Backend | None:
    try:
        return compiled_backend()
    except ImportError:
        return None


COMPILED_BACKEND = _compiled()


@pytest.fixture(params=["compiled", "pure"])
def core(request: pytest.FixtureRequest) -> Backend:
    """The core backend under test: each test runs once per backend."""
    if request.param == "pure":
        return pure_backend()
    if COMPILED_BACKEND is None:
        if REQUIRE_COMPILED:
            pytest.fail("the compiled core was not built (OCPPFAST_REQUIRE_COMPILED=1)")
        pytest.skip("the compiled core is not built here")
    return COMPILED_BACKEND


@pytest.fixture(params=["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
def version(request: pytest.FixtureRequest) -> str:
    """Each OCPP version."""
    return str(request.param)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The PostgreSQL server of the session (tests/postgres.py): OCPPFAST_TEST_POSTGRES, or a
    private cluster started here and stopped at the end of the session. Fails (never skips)
    when there is none, saying what to install."""
    from tests import postgres  # imported here: tests without PostgreSQL never start it

    try:
        server: postgres.Server | None = postgres.server()
    except postgres.PostgresUnavailable as exc:
        server, why = None, str(exc)
    if server is None:
        pytest.fail(why, pytrace=False)
    try:
        yield server.admin_url
    finally:
        postgres.stop()


def _new_database(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database of `kind`: SQLite, a file in the test's temporary
    directory (sqlite:////abs/path); PostgreSQL, a database of its own, dropped after the test."""
    if kind == "sqlite":
        yield "sqlite:///" + str(tmp_path / "ocppfast.sqlite3")
        return
    request.getfixturevalue("postgres_server")
    from tests import postgres

    url = postgres.new_database_url()
    try:
        yield url
    finally:
        postgres.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database (`_new_database`); each test runs once per storage
    backend."""
    yield from _new_database(request, request.param, tmp_path)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where a CSMS keeps its state (`ocppfast.csms.store.open_state`): "memory" (a plain
    `CsmsState`), or the URL of a new, empty database as `database_url` gives it."""
    if request.param == "memory":
        yield "memory"
    else:
        yield from _new_database(request, request.param, tmp_path)
