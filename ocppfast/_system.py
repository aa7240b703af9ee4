"""What a process of ocppfast asks of the operating system: open files for its connections.

Used by `ocppfast serve` and by the benchmark's processes (each connection is a file
descriptor). A program embedding the library decides about its own limits.
"""

from __future__ import annotations

import resource

__all__ = ["connections_allowed", "raise_file_limit"]


def raise_file_limit() -> int:
    """Raise this process's soft limit of open files as far as the hard limit allows and return
    the soft limit now in force. An unlimited hard limit still has a ceiling (Linux:
    fs.nr_open; macOS: OPEN_MAX), so smaller targets are tried until one is granted."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    while target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            target //= 2
        else:
            return target
    return soft


def connections_allowed(files: int) -> int:
    """How many connections `files` open files leave room for: all but a reserve for the
    listening socket, logs, a database and the like (256, or a quarter of a small limit)."""
    return max(1, files - min(256, files // 4))
