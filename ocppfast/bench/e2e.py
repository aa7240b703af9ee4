"""`ocppfast bench e2e` and `ocppfast bench idle`: real servers under load, each in its own process.

For every point measured (a version mix, a number N of station connections, a server), a fresh
server process is started, so that the memory it holds per connection is measured from a clean
start, and pinned to one CPU; the load generator (`ocppfast.bench.loadgen`) runs as another
process pinned to another CPU, opens the N connections, boots them and loads them, reading the
server's CPU time and memory from /proc itself (`--server-pid`). The servers:

- `ocppfast`: `ocppfast serve`, the CSMS this package ships, at log level warning;
- `ocpp`: a CSMS on the PyPI `ocpp` package doing the same work (`ocppfast.bench.peers`);
- `websockets`: a bare websockets echo server on the same event loop, the transport's ceiling.

Servers write their output to log files, never to a pipe nobody reads; when one fails, the error
quotes the end of its log and the run goes on with the next point. With fewer than two CPUs the
server and the generator share one, which the result says ("pinning").
"""

from __future__ import annotations

import collections
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from .._system import raise_file_limit
from . import peers
from .names import SERVERS, VERSIONS

__all__ = [
    "CONNECTIONS",
    "GENERATOR_BOUND_SHARE",
    "IDLE_CONNECTIONS",
    "SERVERS",
    "VERSIONS",
    "BenchError",
    "Pinning",
    "ServerProcess",
    "git_commit",
    "loadgen_command",
    "machine_info",
    "measure_point",
    "pinning",
    "require",
    "result_header",
    "run_e2e",
    "run_idle",
    "run_loadgen",
    "server_command",
]

Progress = Callable[[str], None]

CONNECTIONS = (1, 100, 1000, 10_000)
IDLE_CONNECTIONS = (1000, 10_000)

HOST = "127.0.0.1"
INSTALL_BENCH = "pip install 'ocppfast[bench]'"
# Seconds for a server to accept TCP connections: the `ocpp` package alone takes a second or
# two to import on a slow machine.
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
# The servers' own descriptors (listening socket, logs, the loop's) on top of one per connection.
FILE_MARGIN = 256
# The same ping interval for every server in the e2e runs, so that only the OCPP stack differs.
E2E_PING_INTERVAL = peers.DEFAULT_PING_INTERVAL
# Above this share of its CPU the load generator may be what limits the rate.
GENERATOR_BOUND_SHARE = 0.9
# Ports a failed start is retried on when the port picked turned out to be taken.
PORT_ATTEMPTS = 3
_IN_USE = re.compile(r"address already in use|errno 98", re.IGNORECASE)


class BenchError(RuntimeError):
    """A server or the load generator failed; the message says what happened."""


def _say(progress: Progress | None, text: str) -> None:
    if progress is not None:
        progress(text)


# ---------------------------------------------------------------------------------------------
# The machine


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    return platform.processor() or None


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _available_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))  # pragma: no cover - Linux has sched_getaffinity


def git_commit(start: str | os.PathLike[str] | None = None) -> str | None:
    """The short commit hash of the git checkout the package sits in, None when there is none.

    Read from the repository's files (HEAD, the loose ref or packed-refs), without running git:
    the benchmark may run where git is not installed."""
    here = Path(start) if start is not None else Path(__file__).resolve().parent
    for directory in (here, *here.parents):
        dot_git = directory / ".git"
        if dot_git.is_dir():
            git_dir = dot_git
        elif dot_git.is_file():  # a worktree or submodule: "gitdir: PATH"
            text = dot_git.read_text(errors="replace").strip()
            if not text.startswith("gitdir:"):
                return None
            git_dir = (directory / text.removeprefix("gitdir:").strip()).resolve()
        else:
            continue
        try:
            return _resolve_head(git_dir)
        except OSError:
            return None
    return None


def _resolve_head(git_dir: Path) -> str | None:
    head = (git_dir / "HEAD").read_text().strip()
    if not head.startswith("ref:"):
        return head[:7] or None  # a detached HEAD holds the hash itself
    ref = head.removeprefix("ref:").strip()
    # Refs live in the common directory of all worktrees; HEAD in each one's own.
    common = git_dir
    if (git_dir / "commondir").is_file():
        common = (git_dir / (git_dir / "commondir").read_text().strip()).resolve()
    for base in (git_dir, common):
        loose = base / ref
        if loose.is_file():
            return loose.read_text().strip()[:7] or None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == ref:
                return parts[0][:7]
    return None  # a branch without commits yet


def machine_info() -> dict[str, Any]:
    """The result's "machine" section: CPU model, cores (and how many this process may use),
    Python, platform, the versions of the libraries that shape the figures, ocppfast's version,
    its commit when it runs from a git checkout, and which core backend it loads."""
    from ocppfast import __version__, _core

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "available_cpus": len(_available_cpus()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "uvloop": _dist_version("uvloop"),
        "websockets": _dist_version("websockets"),
        "ocpp": _dist_version("ocpp"),
        "msgspec": _dist_version("msgspec"),
        "ocppfast": __version__,
        "commit": git_commit(),
        "core": "compiled" if _core.COMPILED else "pure",
    }


def result_header() -> dict[str, Any]:
    """The head of every result: ocppfast's version and commit, when, and `machine_info()`."""
    machine = machine_info()
    return {
        "ocppfast": machine.pop("ocppfast"),
        "commit": machine.pop("commit"),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine,
    }


# ---------------------------------------------------------------------------------------------
# CPUs


@dataclass(frozen=True)
class Pinning:
    """The CPU the server runs on and the one the load generator runs on."""

    server_cpu: int
    generator_cpu: int
    available_cpus: int

    @property
    def shared(self) -> bool:
        """Whether both run on the same CPU (fewer than two available, or asked for)."""
        return self.server_cpu == self.generator_cpu

    def as_dict(self) -> dict[str, Any]:
        """The result's "pinning" entry."""
        out: dict[str, Any] = {
            "server_cpu": self.server_cpu,
            "generator_cpu": self.generator_cpu,
            "shared": self.shared,
            "available_cpus": self.available_cpus,
        }
        if self.shared:
            out["note"] = self.note
        return out

    @property
    def note(self) -> str:
        """What pinning means for the figures."""
        if self.shared:
            return (
                f"the server and the load generator share CPU {self.server_cpu}: calls per "
                "second are not the server's alone (calls per server CPU-second still are)"
            )
        return f"server on CPU {self.server_cpu}, load generator on CPU {self.generator_cpu}"


def pinning(server_cpu: int | None = None, generator_cpu: int | None = None) -> Pinning:
    """Where the server and the generator run: by default the last CPU this process may use for
    the server (CPU 0 tends to take more of the kernel's housekeeping) and the one before it for
    the generator; the same CPU for both when only one is available. Raises ValueError for a CPU
    this process may not use."""
    available = _available_cpus()
    for name, cpu in (("server", server_cpu), ("generator", generator_cpu)):
        if cpu is not None and cpu not in available:
            cpus = ", ".join(map(str, available))
            raise ValueError(f"{name} CPU {cpu} is not available to this process (CPUs: {cpus})")
    if server_cpu is None:
        server_cpu = next((c for c in reversed(available) if c != generator_cpu), available[-1])
    if generator_cpu is None:
        generator_cpu = next((c for c in reversed(available) if c != server_cpu), server_cpu)
    return Pinning(server_cpu, generator_cpu, len(available))


def _pin(pid: int, cpu: int) -> None:
    # Right after the start: threads the process creates later (the `ocpp` peer's validation
    # pool) inherit the affinity. A process that already exited is reported by its caller.
    with contextlib.suppress(ProcessLookupError):
        os.sched_setaffinity(pid, {cpu})


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"  # a server's log file is complete when we quote it
    return env


# ---------------------------------------------------------------------------------------------
# Requirements


def _ephemeral_ports() -> int | None:
    with contextlib.suppress(OSError, ValueError):
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[:2]
        return int(high) - int(low) + 1
    return None


def require(servers: Sequence[str], connections: int) -> None:
    """Check, before anything starts, that `servers` can be run with `connections` connections
    at once: the `ocpp` package when its peer is measured, enough open files (the soft limit is
    raised to the hard one here, and inherited by the servers; `ocppfast serve` admits as many
    connections as that limit allows), and enough ephemeral ports. Raises RuntimeError saying
    what to do."""
    unknown = [s for s in servers if s not in SERVERS]
    if unknown or not servers:
        raise ValueError(
            f"unknown servers {', '.join(unknown) or '(none)'}; choose from {', '.join(SERVERS)}"
        )
    if "ocpp" in servers and importlib.util.find_spec("ocpp") is None:
        raise RuntimeError(
            "the `ocpp` peer needs the `ocpp` package (mobilityhouse): "
            f"{INSTALL_BENCH}, or leave it out (--servers ocppfast,websockets)"
        )
    limit = raise_file_limit()
    need = connections + FILE_MARGIN
    if limit < need:
        raise RuntimeError(
            f"{connections:,} connections need about {need:,} open files in the server and in "
            f"the load generator, but the limit is {limit:,}: raise it (`ulimit -n {need}`; the "
            "hard limit is in /etc/security/limits.conf or the service's LimitNOFILE) or "
            "measure fewer connections"
        )
    ports = _ephemeral_ports()
    if ports is not None and connections > ports:
        raise RuntimeError(
            f"{connections:,} connections from one address need as many local ports, but only "
            f"{ports:,} are configured: widen net.ipv4.ip_local_port_range or measure fewer "
            "connections"
        )


# ---------------------------------------------------------------------------------------------
# Processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_command(server: str, port: int, *, ping_interval: float | None = None) -> list[str]:
    """The argv of `server` (one of `SERVERS`) listening on 127.0.0.1:`port`, pinging every
    `ping_interval` seconds (None: the server's default). `ocppfast serve` admits as many
    connections as the open-files limit allows, which `require()` checks."""
    if server != "ocppfast":
        return peers.command(server, HOST, port, ping_interval)
    argv = [sys.executable, "-m", "ocppfast.cli", "serve", "--host", HOST, "--port", str(port)]
    # The peers log at WARNING: one INFO line per connection would be work they do not do.
    argv += ["--log-level", "warning"]
    # The peers keep what stations send in memory: so does ours here, the same work. (What
    # storage costs on top is not measured by this benchmark.)
    argv += ["--database", "memory"]
    # Neither do they keep a traffic log. The operator API listens on a port of the system's
    # choosing (idle: it costs nothing); the metrics stay on, as in every deployment.
    argv += ["--traffic-retention", "0", "--api-port", "0"]
    if ping_interval is not None:
        argv += ["--ping-interval", str(ping_interval)]
    return argv


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    kept = text.rstrip("\n").splitlines()[-lines:]
    return "\n".join(kept) if kept else "(empty log)"


class ServerProcess:
    """One benchmark server: started pinned to `cpu`, its stdout and stderr going to a log file
    in `log_dir`; `start()` returns once its port accepts TCP connections. A context manager
    that stops it (SIGTERM, then SIGKILL after `STOP_TIMEOUT`) on leaving."""

    def __init__(
        self,
        name: str,
        command: Callable[[int], list[str]],
        *,
        cpu: int,
        log_dir: Path,
        progress: Progress | None = None,
    ) -> None:
        self.name = name
        self.command = command
        self.cpu = cpu
        self.log_path = log_dir / (re.sub(r"[^\w.=-]+", "_", name) + ".log")
        self.progress = progress
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the server's log."""
        return _tail(self.log_path, lines)

    def start(self, timeout: float = READY_TIMEOUT) -> None:
        """Start the server on a free port and wait until it accepts TCP connections; raises
        BenchError (quoting its log) when it exits first or is not listening in `timeout`."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.port = _free_port()
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    self.command(self.port),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=_child_env(),
                )
            _pin(self.process.pid, self.cpu)
            code = self._wait_listening(timeout)
            if code is None:
                return
            tail = self.log_tail()
            # Another process may take the port between our probe and the server's bind.
            if _IN_USE.search(tail) and attempt < PORT_ATTEMPTS:
                _say(self.progress, f"{self.name}: port {self.port} was taken; another one")
                continue
            raise BenchError(f"{self.name} exited with code {code} before listening; log:\n{tail}")

    def _wait_listening(self, timeout: float) -> int | None:
        """None once the port accepts connections; the exit code if the process ends first."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                return code
            # A bare TCP connection, closed at once: the servers take it for a client that gave
            # up before its handshake (the websockets peers log that in their log file).
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.5):
                return None
            if time.monotonic() > deadline:
                self.stop()
                raise BenchError(
                    f"{self.name} was not listening on port {self.port} after {timeout:g} s; "
                    f"log:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within `STOP_TIMEOUT`; the exit code."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _say(
                    self.progress, f"{self.name}: no exit {STOP_TIMEOUT:g} s after SIGTERM; killed"
                )
                process.kill()
                process.wait()
        return process.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def loadgen_command(url: str, **options: Any) -> list[str]:
    """The argv of the load generator against `url`: each keyword becomes its option
    (`in_flight=4` -> `--in-flight 4`); None values are left out."""
    argv = [sys.executable, "-m", "ocppfast.bench.loadgen", url]
    for key, value in options.items():
        if value is not None:
            argv += ["--" + key.replace("_", "-"), str(value)]
    return argv


def run_loadgen(
    argv: Sequence[str],
    *,
    cpu: int,
    timeout: float,
    label: str,
    log_dir: Path,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the load generator `argv` pinned to `cpu`, relaying its progress lines (stderr) to
    `progress` as "LABEL: line" while it runs, and return the JSON object it prints. Raises
    BenchError when it fails, prints no result or is still running after `timeout` seconds."""
    out_path = log_dir / (re.sub(r"[^\w.=-]+", "_", label) + ".loadgen.json")
    tail: collections.deque[str] = collections.deque(maxlen=15)
    timed_out = threading.Event()
    with open(out_path, "wb") as out:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE,
            env=_child_env(),
            text=True,
            errors="replace",
        )
    _pin(process.pid, cpu)

    def expire() -> None:
        timed_out.set()
        with contextlib.suppress(OSError):  # it may have exited meanwhile
            process.kill()

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.rstrip("\n")
            tail.append(line)
            _say(progress, f"{label}: {line.removeprefix('loadgen: ')}")
        code = process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:  # interrupted: never leave it running
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
    if timed_out.is_set():
        raise BenchError(f"the load generator was still running after {timeout:g} s; killed")
    if code != 0:
        raise BenchError(f"the load generator exited with code {code}:\n" + "\n".join(tail))
    lines = out_path.read_text(errors="replace").strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except ValueError:
        result = None
    if not isinstance(result, dict):
        raise BenchError("the load generator printed no result:\n" + "\n".join(tail))
    return result


def _loadgen_timeout(connections: int, seconds: float) -> float:
    # A hang guard, not a measurement: generous time to connect and boot every station (the
    # `ocpp` peer boots a few hundred per second) on top of the planned run.
    return 120.0 + seconds + connections * 0.05


# ---------------------------------------------------------------------------------------------
# Formatting progress


def _fmt(value: Any, spec: str, unit: str = "") -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return format(value, spec) + unit


def _e2e_line(row: dict[str, Any]) -> str:
    rss = row.get("rss_per_connection_bytes")
    return (
        f"{_fmt(row.get('calls_per_second'), ',.0f')} calls/s, "
        f"{_fmt(row.get('calls_per_cpu_second'), ',.0f')} calls/CPU-s, "
        f"p50 {_fmt(row.get('p50_ms'), '.2f')} ms, p99 {_fmt(row.get('p99_ms'), '.2f')} ms, "
        f"server CPU {_fmt(row.get('server_cpu_share'), '.0%')}, "
        f"generator CPU {_fmt(row.get('generator_cpu_share'), '.0%')}, "
        f"{_fmt(rss / 1024 if isinstance(rss, (int, float)) else None, ',.1f')} KiB/connection"
    )


# ---------------------------------------------------------------------------------------------
# The benchmarks


def _check_positive(**counts: float) -> None:
    for name, value in counts.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, not {value}")


def _check_not_negative(**counts: float) -> None:
    for name, value in counts.items():
        if not value >= 0:
            raise ValueError(f"{name} must be 0 or more, not {value}")


def _check_versions(versions: Sequence[str]) -> None:
    unknown = [v for v in versions if v not in VERSIONS]
    if unknown or not versions:
        raise ValueError(
            f"unknown versions {', '.join(unknown) or '(none)'}; choose from {', '.join(VERSIONS)}"
        )


def _check_connections(connections: Sequence[int]) -> None:
    if not connections or any(n < 1 for n in connections):
        raise ValueError(f"connections must be at least 1, not {list(connections)}")


def measure_point(
    server: str,
    label: str,
    *,
    connections: int,
    ping_interval: float | None,
    loadgen: dict[str, Any],
    seconds: float,
    pin: Pinning,
    log_dir: Path,
    progress: Progress | None,
) -> dict[str, Any]:
    """Start a fresh `server` (one of `SERVERS`, pinging every `ping_interval` seconds; None:
    its default) pinned to `pin.server_cpu`, run the load generator against it with
    `connections` stations and the options `loadgen`, then stop the server; the load
    generator's result. `seconds` is how long the run is planned to take, from which the hang
    guard is reckoned; `label` starts the progress lines and names the log files in `log_dir`.
    Raises BenchError when the server or the generator failed, the server died during the
    run, or no station could connect."""

    def command(port: int) -> list[str]:
        return server_command(server, port, ping_interval=ping_interval)

    with ServerProcess(
        f"{label} server", command, cpu=pin.server_cpu, log_dir=log_dir, progress=progress
    ) as process:
        process.start()
        argv = loadgen_command(
            process.url, connections=connections, server_pid=process.pid, **loadgen
        )
        try:
            result = run_loadgen(
                argv,
                cpu=pin.generator_cpu,
                timeout=_loadgen_timeout(connections, seconds),
                label=label,
                log_dir=log_dir,
                progress=progress,
            )
        except BenchError as exc:
            if process.alive():
                raise
            # The server's end is the likelier cause: say so, with its log.
            raise BenchError(
                f"{exc}\n{server} exited with code {process.stop()} during the run; log:\n"
                f"{process.log_tail()}"
            ) from exc
        if not process.alive():
            raise BenchError(
                f"{server} exited with code {process.stop()} during the run; log:\n"
                f"{process.log_tail()}"
            )
        code = process.stop()
        if code not in (0, None):
            _say(progress, f"{label}: the server exited with code {code} on SIGTERM")
    if not result.get("connected"):
        raise BenchError(
            f"no station could connect and boot ({result.get('connect_failed', connections)} "
            "failed); see the load generator's lines above"
        )
    if result.get("connect_failed"):
        _say(progress, f"{label}: {result['connect_failed']:,} stations failed to connect")
    return result


_E2E_FIGURES = (
    "calls_per_second",
    "calls_per_cpu_second",
    "p50_ms",
    "p99_ms",
    "server_cpu_share",
    "generator_cpu_share",
    "rss_per_connection_bytes",
    "errors",
    "dropped",
    "connect_failed",
    "connected",
    "connect_seconds",
    "unexpected_answers",
    "rss_before_bytes",
    "rss_after_bytes",
    "windows",
)


def _measured(row: dict[str, Any], server: str, label: str, **point: Any) -> dict[str, Any] | None:
    """`measure_point(server, label, **point)`; None, with the error in `row` (a point that
    fails does not stop the run), when it failed."""
    try:
        return measure_point(server, label, **point)
    except BenchError as exc:
        row["error"] = str(exc)
        _say(point.get("progress"), f"{label}: FAILED: {exc}")
        return None


def run_e2e(
    *,
    servers: Sequence[str] = SERVERS,
    versions: Sequence[str] = VERSIONS,
    connections: Sequence[int] = CONNECTIONS,
    in_flight: int = 1,
    windows: int = 5,
    window_seconds: float = 3.0,
    warmup_seconds: float = 1.0,
    progress: Progress | None = None,
    server_cpu: int | None = None,
    generator_cpu: int | None = None,
) -> dict[str, Any]:
    """Measure each server of `servers` under closed-loop load and return the result JSON's
    "e2e" section: {"window_seconds", "windows", "warmup_seconds", "in_flight", "pinning",
    "results"}, one result per version, N and server (in that order of loops).

    For each point a fresh server process runs pinned to `server_cpu`, the load generator pinned
    to `generator_cpu` (see `pinning()` for the defaults) opens N connections, boots them,
    starts a transaction on each, keeps `in_flight` CALLs of the version's mix outstanding per
    connection, and after `warmup_seconds` measures `windows` windows of `window_seconds`. A
    result holds the figures over all the windows together (calls_per_second,
    calls_per_cpu_second, p50_ms, p99_ms, server_cpu_share, generator_cpu_share),
    rss_per_connection_bytes, the counts
    (errors, dropped, connect_failed) and each window's figures; "generator_bound" is true when
    the generator used more than 90% of its CPU (it may then be what limits the rate). A point
    that fails has an "error" instead of figures, and the run goes on. `progress` gets the
    generator's lines and one summary line per point as they happen.

    Raises ValueError for unknown names or counts below 1 and RuntimeError when something the
    run needs is missing (see `require()`), before anything starts."""
    _check_versions(versions)
    _check_connections(connections)
    _check_positive(in_flight=in_flight, windows=windows, window_seconds=window_seconds)
    _check_not_negative(warmup_seconds=warmup_seconds)
    require(servers, max(connections))
    pin = pinning(server_cpu, generator_cpu)
    _say(progress, f"e2e: {pin.note}")
    loadgen = {
        "mode": "closed",
        "in_flight": in_flight,
        "warmup": float(warmup_seconds),
        "windows": windows,
        "window_seconds": float(window_seconds),
    }
    seconds = warmup_seconds + windows * window_seconds
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ocppfast-bench-") as tmp:
        for version in versions:
            for n in connections:
                for server in servers:
                    label = f"e2e {version} N={n:,} {server}"
                    row: dict[str, Any] = {"server": server, "version": version, "connections": n}
                    results.append(row)
                    result = _measured(
                        row,
                        server,
                        label,
                        connections=n,
                        ping_interval=E2E_PING_INTERVAL,
                        loadgen={"version": version, **loadgen},
                        seconds=seconds,
                        pin=pin,
                        log_dir=Path(tmp),
                        progress=progress,
                    )
                    if result is None:
                        continue
                    row.update({key: result.get(key) for key in _E2E_FIGURES})
                    share = result.get("generator_cpu_share")
                    row["generator_bound"] = (
                        isinstance(share, (int, float)) and share > GENERATOR_BOUND_SHARE
                    )
                    _say(progress, f"{label}: {_e2e_line(row)}")
                    if row["generator_bound"]:
                        _say(
                            progress,
                            f"{label}: WARNING: the load generator used {share:.0%} of its CPU; "
                            "it may be what limits the rate (calls per server CPU-second still "
                            "hold)",
                        )
                    if row["errors"] or row["dropped"]:
                        _say(
                            progress,
                            f"{label}: WARNING: {row['errors']} errors, {row['dropped']} "
                            "connections dropped",
                        )
    return {
        "window_seconds": window_seconds,
        "windows": windows,
        "warmup_seconds": warmup_seconds,
        "in_flight": in_flight,
        "pinning": pin.as_dict(),
        "results": results,
    }


_IDLE_FIGURES = (
    "connected",
    "connect_failed",
    "connect_seconds",
    "rss_before_bytes",
    "rss_after_bytes",
    "rss_per_connection_bytes",
    "errors",
    "dropped",
    "pings",
)


def run_idle(
    *,
    servers: Sequence[str] = SERVERS,
    connections: Sequence[int] = IDLE_CONNECTIONS,
    version: str = "ocpp1.6",
    hold_seconds: float = 10.0,
    ping_interval: float = 5.0,
    progress: Progress | None = None,
    server_cpu: int | None = None,
    generator_cpu: int | None = None,
) -> dict[str, Any]:
    """Hold N idle stations open on each server and return the result JSON's "idle" section:
    {"hold_seconds", "ping_interval_seconds", "version", "pinning", "results"}, one result per
    N and server with rss_before_bytes (the fresh server), rss_after_bytes (after the hold),
    rss_per_connection_bytes (their difference per station), connected, connect_failed,
    dropped and the server's ping_interval_seconds.

    Each point starts a fresh server pinging every `ping_interval` seconds, so that pings and
    pongs really flow during the hold; the stations boot (BootNotification) and then only
    answer pings for `hold_seconds`. A point that fails has an "error" and the run goes on.
    Raises as `run_e2e()` does."""
    _check_versions([version])
    _check_connections(connections)
    _check_positive(ping_interval=ping_interval)
    _check_not_negative(hold_seconds=hold_seconds)
    require(servers, max(connections))
    pin = pinning(server_cpu, generator_cpu)
    _say(progress, f"idle: {pin.note}")
    loadgen = {"version": version, "mode": "idle", "hold": float(hold_seconds)}
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ocppfast-bench-") as tmp:
        for n in connections:
            for server in servers:
                label = f"idle N={n:,} {server}"
                row: dict[str, Any] = {"server": server, "version": version, "connections": n}
                row["hold_seconds"] = hold_seconds
                row["ping_interval_seconds"] = ping_interval
                results.append(row)
                result = _measured(
                    row,
                    server,
                    label,
                    connections=n,
                    ping_interval=ping_interval,
                    loadgen=loadgen,
                    seconds=hold_seconds,
                    pin=pin,
                    log_dir=Path(tmp),
                    progress=progress,
                )
                if result is None:
                    continue
                row.update({key: result[key] for key in _IDLE_FIGURES if key in result})
                rss = row.get("rss_per_connection_bytes")
                kib = rss / 1024 if isinstance(rss, (int, float)) else None
                _say(
                    progress,
                    f"{label}: {_fmt(kib, ',.1f')} KiB/connection, {row.get('dropped', 0)} dropped",
                )
    return {
        "hold_seconds": hold_seconds,
        "ping_interval_seconds": ping_interval,
        "version": version,
        "pinning": pin.as_dict(),
        "results": results,
    }
