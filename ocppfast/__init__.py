"""ocppfast: a fast, complete OCPP 1.6J / 2.0.1 / 2.1 stack for both roles.

The public API is re-exported here; the layers live in subpackages (see docs/architecture.md).
"""

from ._core import COMPILED, Dispatcher, FrameError, Session, decode_frame
from ._core.types import OCPP16, OCPP21, OCPP201, VERSIONS
from ._version import __version__
from .exceptions import OCPPError

__all__ = [
    "COMPILED",
    "OCPP16",
    "OCPP21",
    "OCPP201",
    "VERSIONS",
    "Dispatcher",
    "FrameError",
    "OCPPError",
    "Session",
    "__version__",
    "decode_frame",
]
