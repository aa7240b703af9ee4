"""CPU time and memory of a process, read from Linux's /proc (the benchmark's only platform).

The e2e benchmark's figures per server CPU-second are the server process's user + system time
(all its threads: the `ocpp` package validates in a thread pool) over a measured window, so they
do not depend on how busy the rest of the machine is. /proc counts CPU time in clock ticks
(usually 10 ms); windows of seconds keep that error under 1%.
"""

from __future__ import annotations

import os

__all__ = ["cpu_seconds", "rss_bytes"]

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid`, all threads included."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _TICK


def rss_bytes(pid: int) -> int:
    """The resident set size of process `pid`, in bytes."""
    with open(f"/proc/{pid}/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE
