"""ocppfast: a fast, complete OCPP 1.6J / 2.0.1 / 2.1 stack for both roles.

The public API is re-exported here; the layers live in subpackages (see docs/architecture.md).
"""

from msgspec import UNSET

from ._core import COMPILED, Dispatcher, FrameError, Session, Validator, decode_frame
from ._core.quirks import PROFILES as QUIRK_PROFILES
from ._core.quirks import Quirk, QuirkProfile
from ._core.types import OCPP16, OCPP21, OCPP201, VERSIONS
from ._version import __version__
from .exceptions import OCPPError, OutgoingMessageError

__all__ = [
    "COMPILED",
    "OCPP16",
    "OCPP21",
    "OCPP201",
    "QUIRK_PROFILES",
    "UNSET",
    "VERSIONS",
    "Dispatcher",
    "FrameError",
    "OCPPError",
    "OutgoingMessageError",
    "Quirk",
    "QuirkProfile",
    "Session",
    "Validator",
    "__version__",
    "decode_frame",
]
