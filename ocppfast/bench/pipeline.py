"""The core pipeline benchmark's workload: a CSMS connection's whole incoming path, in process.

Decode a CALL, validate it into its typed request, dispatch it to a handler that returns a typed
response, validate and encode the CALLRESULT, through Session and Dispatcher as a connection
drives them (`Session.attach(dispatcher)`), on either core backend.
"""

from __future__ import annotations

from collections.abc import Callable

from ocppfast._core import Backend, compiled_backend, pure_backend

from .mixes import call_frames, handlers
from .names import CORE_BACKENDS

BUILD_COMPILED = "OCPPFAST_BUILD_EXTENSIONS=yes pip install -e ."


def core_backend(name: str) -> Backend:
    """The core backend called `name`: "compiled" or "pure". Benchmarking a fallback under the
    compiled name would be a lie, so a missing compiled core raises RuntimeError saying how to
    build it."""
    if name == "pure":
        return pure_backend()
    if name != "compiled":
        raise ValueError(f"unknown core backend {name!r}; expected one of {CORE_BACKENDS}")
    try:
        return compiled_backend()
    except ImportError as exc:
        raise RuntimeError(
            f"the compiled core is not built ({exc}); build it with `{BUILD_COMPILED}`"
        ) from exc


def pipeline(core: Backend, version: str, repeat: int) -> tuple[Callable[[], None], int]:
    """A function that runs the mix of `version` `repeat` times through `core`, and how many
    frames one call of it processes. The session has the dispatcher attached, as a connection
    does: each CALL is decoded, validated, handed to its handler and answered inside
    `receive()`. Raises RuntimeError if the pipeline does not answer every frame with a
    CALLRESULT, so that a benchmark never measures a pipeline that does less than the work."""
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, not {repeat}")
    session = core.session.Session(version)
    session.attach(
        core.dispatcher.Dispatcher(version, "csms", handlers(version), session.validator)
    )
    frames = call_frames(version)
    # Bound methods fetched once: the loop below should measure the core, not attribute lookups.
    receive = session.receive
    data_to_send = session.data_to_send

    def run() -> None:
        for _ in range(repeat):
            for frame in frames:
                receive(frame, 0.0)
                data_to_send()

    # Check once that the pipeline does the work: every frame answered with its CALLRESULT.
    for frame in frames:
        events = receive(frame, 0.0)
        sent = data_to_send()
        if events or len(sent) != 1 or not sent[0].startswith(b"[3,"):
            raise RuntimeError(
                f"the pipeline did not answer {frame!r} with a CALLRESULT: "
                f"it sent {sent!r} and surfaced {events!r}"
            )
    return run, repeat * len(frames)
