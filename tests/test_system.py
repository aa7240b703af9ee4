"""ocppfast/_system.py: the open-files limit a server raises and the connections it allows."""

from __future__ import annotations

import resource
import subprocess
import sys

from ocppfast._system import connections_allowed, raise_file_limit


def test_connections_allowed_keeps_a_reserve_and_never_drops_to_nothing() -> None:
    assert connections_allowed(20_000) == 20_000 - 256
    assert connections_allowed(1024) == 1024 - 256
    assert connections_allowed(256) == 192  # a quarter of a small limit is kept
    assert connections_allowed(1) == 1


def test_raise_file_limit_reaches_the_hard_limit_in_a_fresh_process() -> None:
    """A child starts with a soft limit below the hard one; after the call they are equal."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    code = (
        "import resource; from ocppfast._system import raise_file_limit; "
        "n = resource.RLIMIT_NOFILE; resource.setrlimit(n, (64, resource.getrlimit(n)[1])); "
        "print(raise_file_limit(), resource.getrlimit(n)[0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    granted, soft = map(int, out.stdout.split())
    expected = hard if hard != resource.RLIM_INFINITY else granted
    assert granted == soft == expected and granted > 64
    assert raise_file_limit() >= 64  # and in this process it only ever raises
