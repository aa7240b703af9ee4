"""Run `ocppfast serve` / `ocppfast station` as real processes in tests, on a chosen core
backend, and wait for what they log."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

from ocppfast._core import Backend


def backend_env(core: Backend) -> dict[str, str]:
    """The environment that makes a child process use `core`'s backend."""
    env = dict(os.environ)
    env.pop("OCPPFAST_NO_EXTENSIONS", None)
    if not core.compiled:
        env["OCPPFAST_NO_EXTENSIONS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


class CliProcess:
    """`python -m ocppfast.cli ARGS...`, its stderr (the log) collected line by line."""

    def __init__(
        self,
        core: Backend,
        *args: str,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """`cwd`: the working directory (where `ocppfast serve` keeps its data by default);
        a new temporary one, removed at exit, when not given. `env`: variables to add."""
        self.args = args
        if cwd is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ocppfast-cli-")
            cwd = self._tmp.name
        self.cwd = cwd
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ocppfast.cli", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**backend_env(core), **(env or {})},
            cwd=cwd,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._new.put(line)
        self._new.put(None)

    def wait_for(self, pattern: str, timeout: float = 15.0, after: int = 0) -> re.Match[str]:
        """The first log line from index `after` on that matches `pattern` (a regex)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = after
        while True:
            while seen < len(self.lines):
                match = regex.search(self.lines[seen])
                seen += 1
                if match:
                    return match
            left = deadline - time.monotonic()
            if left <= 0 or (self.process.poll() is not None and self._new.empty()):
                raise AssertionError(
                    f"no log line matching {pattern!r} within {timeout} s "
                    f"(exit code {self.process.poll()}); log:\n" + self.log
                )
            with contextlib.suppress(queue.Empty):
                self._new.get(timeout=min(left, 0.1))

    def count(self, pattern: str) -> int:
        regex = re.compile(pattern)
        return sum(1 for line in self.lines if regex.search(line))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Signal the process and wait for it to exit; return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"{self.args[0]} did not stop on {sig}; log:\n{self.log}"
            ) from None
        self._reader.join(5)
        return code

    def __enter__(self) -> CliProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def serve(core: Backend, *args: str) -> tuple[CliProcess, str]:
    """Start `ocppfast serve --port 0 --api-port 0 ARGS` and return it with its URL once it
    listens."""
    process = CliProcess(core, "serve", "--port", "0", "--api-port", "0", *args)
    url = process.wait_for(r"ready: point stations at (ws://\S+)/<identity>").group(1)
    return process, url
