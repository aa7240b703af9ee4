"""Core pipeline benchmark (issue 3): decode a CALL, validate it into its typed request, dispatch
it to a handler that returns a typed response, validate and encode the CALLRESULT, through
Session and Dispatcher, for the 1.6 and 2.0.1 mixes, on both backends.

One benchmark round processes the whole mix REPEAT times; messages per second per core is
frames processed / round time (a single thread: one core). bench/conftest.py prints the table
and the compiled/pure ratios at the end of the run.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from ocppfast._core import Backend, compiled_backend, pure_backend

from .frames import call_frames, handlers

ROUNDS = int(os.environ.get("OCPPFAST_BENCH_ROUNDS", "5"))
REPEAT = int(os.environ.get("OCPPFAST_BENCH_REPEAT", "200"))


def _backend(name: str) -> Backend:
    if name == "pure":
        return pure_backend()
    try:
        return compiled_backend()
    except ImportError:
        pytest.fail("the compiled core is not built")


def pipeline(core: Backend, version: str) -> tuple[Any, int]:
    """A function that runs the mix REPEAT times, and how many frames it processes. The session
    has the dispatcher attached, as a connection does: each CALL is decoded, validated, handed
    to its handler and answered inside `receive()`."""
    session = core.session.Session(version)
    session.attach(
        core.dispatcher.Dispatcher(version, "csms", handlers(version), session.validator)
    )
    frames = call_frames(version)
    receive = session.receive
    data_to_send = session.data_to_send

    def run() -> None:
        for _ in range(REPEAT):
            for frame in frames:
                receive(frame, 0.0)
                data_to_send()

    # Check once that the pipeline does the work: every frame answered with its CALLRESULT.
    answers = []
    for frame in frames:
        assert receive(frame, 0.0) == []
        answers.extend(data_to_send())
    assert len(answers) == len(frames) and all(a.startswith(b"[3,") for a in answers), answers
    return run, REPEAT * len(frames)


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
@pytest.mark.parametrize("backend", ["compiled", "pure"])
def test_core_pipeline(benchmark: Any, backend: str, version: str) -> None:
    run, messages = pipeline(_backend(backend), version)
    benchmark.group = f"core pipeline {version}"
    benchmark.extra_info.update(backend=backend, version=version, messages=messages)
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
