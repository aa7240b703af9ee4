"""The names the benchmarks, their report and the CLI share, in report order. Importing this
costs nothing: the benchmarks themselves (and the `ocpp` package they compare against) load
only when a command runs them."""

from __future__ import annotations

__all__ = [
    "BACKENDS",
    "CEILING",
    "CORE_BACKENDS",
    "OURS",
    "PEER",
    "PEER_BACKENDS",
    "PEER_SERVERS",
    "SERVERS",
    "VERSIONS",
]

VERSIONS = ("ocpp1.6", "ocpp2.0.1")
"""The versions with a benchmark mix (`ocppfast.bench.mixes`)."""

SERVERS = ("ocppfast", "ocpp", "websockets")
"""End to end: `ocppfast serve`, a CSMS on the `ocpp` package, a bare websockets echo server."""
OURS, PEER, CEILING = SERVERS
PEER_SERVERS = (PEER, CEILING)

CORE_BACKENDS = ("compiled", "pure")
"""The core pipeline: our two backends..."""
PEER_BACKENDS = ("ocpp", "ocpp-in-thread")
"""...and the `ocpp` package's, with its default validation and with it in a thread."""
BACKENDS = (*CORE_BACKENDS, *PEER_BACKENDS)
