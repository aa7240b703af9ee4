"""A real PostgreSQL server for the storage tests, started by the tests themselves.

`new_database_url()` creates a new, empty database and returns its URL; `drop_database(url)`
drops it again. The server behind them is, once per test session (per process):

- the one named by OCPPFAST_TEST_POSTGRES, a DSN such as postgresql://user:pw@host:5432/postgres
  of a server where that user may CREATE DATABASE; or else
- a private throwaway cluster: `initdb` into a new temporary directory, then `postgres` as a
  child of this process on a free port of 127.0.0.1 only (its Unix socket inside that
  directory), tuned for tests (no fsync: its data is thrown away). At the end of the session
  (`stop()`, called by the conftest's session fixture and at exit) it gets SIGQUIT, an immediate
  shutdown like `pg_ctl stop -m immediate`, and its directory is deleted; should this process
  die without that (SIGKILL, a CI timeout), Linux sends the postmaster that SIGQUIT itself.
  The binaries come from PATH or else the newest /usr/lib/postgresql/*/bin. As root, they run as
  the user `postgres` (initdb and postgres refuse to run as root). Being our child, it is reaped
  by us: no zombie is left even where init does not reap orphans.

Nothing here skips: when there is no server to be had, `PostgresUnavailable` says what to
install, and the tests that need PostgreSQL fail with that message.

Fixtures must hand out URLs, not connections: every async test runs on its own event loop
(tests/aio.py `run`).
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import glob
import itertools
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from tests.aio import free_port

ENV_VAR = "OCPPFAST_TEST_POSTGRES"
INSTALL_HINT = (
    "PostgreSQL is needed for the storage tests: apt-get install postgresql (Debian) "
    f"or set {ENV_VAR}=postgresql://..."
)
SUPERUSER = "postgres"
# The settings of the throwaway cluster: its data is deleted at the end of the session, so
# durability is not wanted, speed is.
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": "200",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    # Checkpoint every ~100 MB of WAL (each CREATE DATABASE writes ~8 MB), not 1 GB: the WAL
    # may be in memory (/dev/shm).
    "max_wal_size": "128MB",
    "min_wal_size": "32MB",
    "log_min_messages": "warning",
    "log_checkpoints": "off",
}
SHM = "/dev/shm"
SHM_MIN_FREE = 1 << 30  # a container's default /dev/shm (64 MB) is too small: use the disk
START_ATTEMPTS = 5  # a free port can be taken between choosing it and binding it
START_TIMEOUT = 60  # seconds
DDL_TIMEOUT = 60.0  # seconds, for CREATE/DROP DATABASE

T = TypeVar("T")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be had for the tests; the message says why and what to do."""


@dataclass
class _Cluster:
    """The private cluster this process started."""

    bindir: str
    base: str  # the temporary directory: data/, the socket, the log
    owner: tuple[int, int] | None  # (uid, gid) to run the binaries as, when we are root
    owner_pid: int  # the process that started it; only that one stops it
    process: subprocess.Popen[bytes] | None = None  # the postmaster, our child

    @property
    def data(self) -> str:
        return os.path.join(self.base, "data")

    @property
    def log(self) -> str:
        return os.path.join(self.base, "postgres.log")


@dataclass(frozen=True)
class Server:
    """The server the tests use: `admin_url` connects to a database there that is never dropped,
    as a user that may CREATE DATABASE."""

    admin_url: str
    external: bool  # True: OCPPFAST_TEST_POSTGRES; False: our private cluster
    startup_seconds: float  # how long starting the private cluster took (0 for external)


_lock = threading.RLock()  # stop() may run inside server() when starting fails
_server: Server | None = None
_cluster: _Cluster | None = None
_failure: str | None = None  # why the server could not be had: every later call fails at once
_counter = itertools.count(1)


def server() -> Server:
    """The server for this session: started on the first call, reused afterwards."""
    global _server, _failure
    with _lock:
        if _server is not None:
            return _server
        if _failure is not None:
            raise PostgresUnavailable(_failure)
        try:
            dsn = os.environ.get(ENV_VAR, "").strip()
            _server = Server(_normalize(dsn), True, 0.0) if dsn else _start_cluster()
        except PostgresUnavailable as exc:
            _failure = str(exc)
            raise
        return _server


def new_database_url() -> str:
    """Create a new, empty database with a unique name and return its postgresql:// URL."""
    admin_url = server().admin_url
    while True:
        name = f"ocppfast_test_{os.getpid()}_{next(_counter)}"
        try:
            _sync(_execute(admin_url, f"CREATE DATABASE {_ident(name)} TEMPLATE template0"))
        except asyncpg.DuplicateDatabaseError:
            continue  # left over from an earlier run with the same pid (an external server)
        return _with_database(admin_url, name)


def drop_database(url: str) -> None:
    """Drop the database of `url` (made by `new_database_url`), closing its connections."""
    name = unquote(urlsplit(url).path.lstrip("/"))
    if not name:
        raise ValueError(f"no database in {url!r}")
    admin_url = server().admin_url
    if name == unquote(urlsplit(admin_url).path.lstrip("/")):
        raise ValueError(f"will not drop the admin database {name!r}")
    sql = f"DROP DATABASE IF EXISTS {_ident(name)}"
    try:
        _sync(_execute(admin_url, sql + " WITH (FORCE)"))
    except asyncpg.PostgresSyntaxError:  # a server older than 13: no FORCE
        _sync(_execute(admin_url, sql))


def stop() -> None:
    """Stop the private cluster (if this process started one) and delete its directory."""
    global _server, _cluster
    with _lock:
        cluster, _cluster = _cluster, None
        if cluster is None or cluster.owner_pid != os.getpid():
            return  # nothing started, or a forked child: the parent's cluster is not ours
        _server = None
        process = cluster.process
        try:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGQUIT)  # immediate shutdown (pg_ctl -m immediate)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        finally:
            shutil.rmtree(cluster.base, ignore_errors=True)


atexit.register(stop)


# -- the private cluster ----------------------------------------------------------------------


def find_bindir() -> str | None:
    """The directory of initdb and postgres: PATH, else the newest /usr/lib/postgresql/*/bin."""
    candidates = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(os.path.dirname(os.path.realpath(on_path)))

    def version(bindir: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", bindir.split(os.sep)[-2]))

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for bindir in candidates:
        if all(os.access(os.path.join(bindir, b), os.X_OK) for b in ("initdb", "postgres")):
            return bindir
    return None


def _start_cluster() -> Server:
    global _cluster
    started = time.monotonic()
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            f"{INSTALL_HINT} (no initdb/postgres on PATH or in /usr/lib/postgresql/*/bin)."
        )
    owner = _owner()
    base = tempfile.mkdtemp(prefix="ocppfast-pg-", dir=_temp_parent(owner is not None))
    cluster = _Cluster(bindir, base, owner, os.getpid())
    _cluster = cluster  # from here on, stop() cleans up, even when starting fails
    try:
        if owner is not None:
            os.chown(base, *owner)
        password = secrets.token_hex(16)
        pwfile = os.path.join(base, "pwfile")
        with open(os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(password + "\n")
        if owner is not None:
            os.chown(pwfile, *owner)
        initdb = _run(
            cluster,
            [
                "initdb",
                "-D",
                cluster.data,
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                # The socket is in our private directory; TCP (127.0.0.1 only) needs the password.
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            timeout=120,
        )
        os.unlink(pwfile)
        if initdb.returncode != 0:
            raise PostgresUnavailable(
                f"initdb failed ({bindir}):\n{initdb.stdout}{initdb.stderr}\n{INSTALL_HINT}"
            )
        settings = dict(SETTINGS, unix_socket_directories=base)
        with open(os.path.join(cluster.data, "postgresql.conf"), "a") as f:
            f.write("\n# ocppfast tests (tests/postgres.py)\n")
            for key, value in settings.items():
                f.write(f"{key} = '{value.replace(chr(39), chr(39) * 2)}'\n")
        port = _start_postmaster(cluster)
    except BaseException:
        stop()
        raise
    admin_url = f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}/postgres"
    return Server(admin_url, False, time.monotonic() - started)


def _start_postmaster(cluster: _Cluster) -> int:
    """Start `postgres` as our child on a free port (another one when that is taken first) and
    wait until it accepts connections."""
    for _ in range(START_ATTEMPTS):
        port = free_port()
        log_start = os.path.getsize(cluster.log) if os.path.exists(cluster.log) else 0
        with open(cluster.log, "ab") as log_file:
            cluster.process = process = subprocess.Popen(
                [os.path.join(cluster.bindir, "postgres"), "-D", cluster.data, "-p", str(port)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C at the terminal is for pytest, not for it
                preexec_fn=_die_with_parent(),
                **_as_owner(cluster),
            )
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if _ready(cluster, process.pid):
                return port
            time.sleep(0.01)
        if process.poll() is None:
            raise PostgresUnavailable(
                f"postgres did not accept connections in {START_TIMEOUT} s:\n{_log(cluster)}"
            )
        process.wait()
        log = _log(cluster, log_start)
        if "could not bind" not in log and "already in use" not in log:
            raise PostgresUnavailable(f"postgres failed to start ({cluster.bindir}):\n{log}")
    raise PostgresUnavailable(f"postgres: no free port in {START_ATTEMPTS} attempts")


def _ready(cluster: _Cluster, pid: int) -> bool:
    """Whether the postmaster says it is ready: postmaster.pid's 8th line (as pg_ctl -w reads)."""
    try:
        with open(os.path.join(cluster.data, "postmaster.pid")) as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[0].strip() == str(pid) and lines[7].strip() == "ready"


def _log(cluster: _Cluster, start: int = 0) -> str:
    try:
        with open(cluster.log, errors="replace") as f:
            f.seek(start)
            return f.read()[-4000:]
    except OSError:
        return ""


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes the postmaster shut down (SIGQUIT: immediate) when this process
    dies without running stop(): killed by a signal or a CI timeout. Linux only; and only from
    the main thread (the death signal is sent when the thread that started it ends)."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not (
        threading.main_thread()
    ):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:  # runs in the child after it became the owner: the setting stays
        prctl(pr_set_pdeathsig, int(signal.SIGQUIT), 0, 0, 0)

    return preexec


def _owner() -> tuple[int, int] | None:
    """(uid, gid) of the user `postgres` when we are root (the binaries refuse root), else None."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        user = pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, PostgreSQL must run as the user {SUPERUSER!r}, which does not "
            f"exist. {INSTALL_HINT} (the package creates that user)."
        ) from None
    return user.pw_uid, user.pw_gid


def _temp_parent(as_other_user: bool) -> str:
    """Where to make the cluster's directory: in memory (/dev/shm) when there is room, which
    makes startup and CREATE DATABASE several times faster than on a slow disk; else the
    temporary directory. Short (the socket path must stay under 108 bytes) and, when the
    binaries run as another user, reachable by that user."""
    candidates = [tempfile.gettempdir(), "/tmp"]
    try:
        shm = os.statvfs(SHM)
        if shm.f_bavail * shm.f_frsize >= SHM_MIN_FREE:
            candidates.insert(0, SHM)
    except OSError:
        pass
    for parent in candidates:
        if len(parent) > 60 or not os.path.isdir(parent) or not os.access(parent, os.W_OK):
            continue
        if as_other_user and not _world_searchable(parent):
            continue
        return parent
    return "/tmp"


def _world_searchable(path: str) -> bool:
    path = os.path.realpath(path)
    while True:
        if not os.stat(path).st_mode & 0o001:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def _as_owner(cluster: _Cluster) -> dict[str, Any]:
    """subprocess arguments to run the cluster's binaries: as its owner when we are root, with
    no PG* variables of ours (PGDATA, PGPORT... would redirect them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    kwargs: dict[str, Any] = {"cwd": cluster.base, "env": env, "stdin": subprocess.DEVNULL}
    if cluster.owner is not None:
        uid, gid = cluster.owner
        kwargs.update(user=uid, group=gid, extra_groups=[])
    return kwargs


def _run(cluster: _Cluster, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run one of the cluster's binaries to completion."""
    return subprocess.run(
        [os.path.join(cluster.bindir, argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **_as_owner(cluster),
    )


# -- SQL and URLs -----------------------------------------------------------------------------


async def _execute(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url, timeout=DDL_TIMEOUT)
    try:
        await connection.execute(sql, timeout=DDL_TIMEOUT)
    finally:
        await connection.close()


def _sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code (fixtures), on a loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:  # called inside a running loop: use another thread
        return pool.submit(asyncio.run, coro).result()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _normalize(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise PostgresUnavailable(f"{ENV_VAR} must be a postgresql:// URL, not {dsn!r}")
    return urlunsplit(parts._replace(scheme="postgresql"))


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


__all__ = [
    "ENV_VAR",
    "INSTALL_HINT",
    "PostgresUnavailable",
    "Server",
    "drop_database",
    "find_bindir",
    "new_database_url",
    "server",
    "stop",
]
