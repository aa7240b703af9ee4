"""The sans-I/O core: frame codec, strict JSON scanner, validator, session (RPC rules),
dispatcher, and the WebSocket data frames the transport reads and writes itself.

Two backends with identical behaviour: the Cython-compiled modules (`_*_c`) and their
pure-Python twins. The compiled one is used unless it is missing or OCPPFAST_NO_EXTENSIONS=1 is
set before the first import; `COMPILED` says which is in use. Value types (frames, events,
exceptions) are shared by both.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NamedTuple

from . import types
from .types import *  # noqa: F403  (the value types are part of the core's API)


class Backend(NamedTuple):
    """The modules of one backend."""

    compiled: bool
    jsonscan: ModuleType
    frame: ModuleType
    session: ModuleType
    dispatcher: ModuleType
    validator: ModuleType
    wsframe: ModuleType


def pure_backend() -> Backend:
    """The pure-Python twin, always available."""
    from . import dispatcher, frame, jsonscan, session, validator, wsframe

    return Backend(False, jsonscan, frame, session, dispatcher, validator, wsframe)


_COMPILED_MODULES = tuple(
    f"ocppfast._core.{name}"
    for name in (
        "_jsonscan_c",
        "_frame_c",
        "_session_c",
        "_dispatcher_c",
        "_validator_c",
        "_wsframe_c",
    )
)


def compiled_backend() -> Backend:
    """The compiled backend; raises ModuleNotFoundError if it was not built."""
    # import_module, not `from . import`: only then does a missing extension raise an error
    # whose .name is the extension's, which _select() relies on.
    jsonscan, frame, session, dispatcher, validator, wsframe = map(
        importlib.import_module, _COMPILED_MODULES
    )
    return Backend(True, jsonscan, frame, session, dispatcher, validator, wsframe)


def _select() -> Backend:
    if os.environ.get("OCPPFAST_NO_EXTENSIONS", "").strip() not in ("", "0"):
        return pure_backend()
    try:
        return compiled_backend()
    except ImportError as exc:
        # Fall back only when an extension itself is missing, never to hide a broken import.
        if exc.name not in _COMPILED_MODULES:
            raise
        return pure_backend()


BACKEND = _select()
COMPILED: bool = BACKEND.compiled

scan = BACKEND.jsonscan.scan
decode_frame = BACKEND.frame.decode_frame
encode_call = BACKEND.frame.encode_call
encode_call_result = BACKEND.frame.encode_call_result
encode_call_error = BACKEND.frame.encode_call_error
encode_send = BACKEND.frame.encode_send
Session = BACKEND.session.Session
Dispatcher = BACKEND.dispatcher.Dispatcher
Validator = BACKEND.validator.Validator
DEFAULT_MAX_FRAME_BYTES: int = BACKEND.frame.DEFAULT_MAX_FRAME_BYTES
DEFAULT_MAX_DEPTH: int = BACKEND.frame.DEFAULT_MAX_DEPTH

__all__ = [
    "BACKEND",
    "COMPILED",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_FRAME_BYTES",
    "Backend",
    "Dispatcher",
    "Session",
    "Validator",
    "compiled_backend",
    "decode_frame",
    "encode_call",
    "encode_call_error",
    "encode_call_result",
    "encode_send",
    "pure_backend",
    "scan",
    *types.__all__,
]
