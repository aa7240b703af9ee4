"""`ocppfast bench core` (ocppfast.bench.core): the in-process pipeline benchmarks run from the
installed package, measure the backends they name, and fail clearly when one is missing."""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import re
import statistics
import sys
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from ocppfast._core import Backend, pure_backend
from ocppfast._core.types import MESSAGE_MODULES
from ocppfast.bench import core as bench_core
from ocppfast.bench.core import BACKENDS, VERSIONS, run_core
from ocppfast.bench.mixes import MIXES, call_frames
from ocppfast.bench.peer_pipeline import ocpp_pipeline, require_ocpp
from ocppfast.bench.pipeline import pipeline

from .conftest import COMPILED_BACKEND, REQUIRE_COMPILED

BUILD_HINT = "OCPPFAST_BUILD_EXTENSIONS=yes pip install -e ."
INSTALL_HINT = "pip install 'ocppfast[bench]'"


@pytest.fixture
def compiled() -> Backend:
    """The compiled core; fails or skips as tests/conftest.py's `core` fixture does."""
    if COMPILED_BACKEND is None:
        if REQUIRE_COMPILED:
            pytest.fail("the compiled core was not built (OCPPFAST_REQUIRE_COMPILED=1)")
        pytest.skip("the compiled core is not built here")
    return COMPILED_BACKEND


@pytest.fixture
def without_ocpp(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The `ocpp` package as if it were not installed: a None entry in sys.modules makes its
    import raise ModuleNotFoundError, for the package and every submodule already loaded."""
    names = [name for name in sys.modules if name == "ocpp" or name.startswith("ocpp.")]
    for name in {"ocpp", *names}:
        monkeypatch.setitem(sys.modules, name, None)
    yield


def test_run_core_returns_the_core_section(compiled: Backend) -> None:
    lines: list[str] = []
    section = run_core(rounds=1, repeat=1, progress=lines.append)

    assert section["rounds"] == 1 and section["repeat"] == 1
    assert set(section) == {"rounds", "repeat", "results"}
    results = section["results"]
    assert [(r["version"], r["backend"]) for r in results] == [
        (version, backend) for version in ("ocpp1.6", "ocpp2.0.1") for backend in BACKENDS
    ]
    assert set(BACKENDS) == {"compiled", "pure", "ocpp", "ocpp-in-thread"}
    for result in results:
        assert set(result) == {"version", "backend", "messages_per_second", "rounds"}
        assert len(result["rounds"]) == 1
        assert all(isinstance(rate, float) and rate > 0 for rate in result["rounds"])
        assert result["messages_per_second"] == result["rounds"][0]
    # The section goes into the result JSON as it is.
    assert json.loads(json.dumps(section)) == section

    assert len(lines) == len(results)
    for line, result in zip(lines, results, strict=True):
        match = re.fullmatch(r"core (\S+) (\S+): ([\d,]+) msg/s", line)
        assert match, line
        assert match.groups()[:2] == (result["version"], result["backend"])
        assert int(match[3].replace(",", "")) == round(result["messages_per_second"])


def test_run_core_reports_the_median_of_its_rounds() -> None:
    section = run_core(versions=("ocpp2.0.1",), backends=("pure",), rounds=3, repeat=2)
    (result,) = section["results"]
    assert (result["version"], result["backend"]) == ("ocpp2.0.1", "pure")
    assert len(result["rounds"]) == 3
    assert result["messages_per_second"] == statistics.median(result["rounds"])


def test_run_core_takes_the_backends_rounds_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def workload(backend: str, version: str, repeat: int, core: Any = None) -> Any:
        return (lambda: calls.append(f"{version} {backend}")), 10

    monkeypatch.setattr(bench_core, "workload", workload)
    section = run_core(backends=("pure", "ocpp"), rounds=3, repeat=1)
    # Per version: a warmup round of each backend, then round after round of each in turn.
    assert calls == [
        f"{version} {backend}"
        for version in VERSIONS
        for _ in range(4)
        for backend in ("pure", "ocpp")
    ]
    assert [(r["version"], r["backend"], len(r["rounds"])) for r in section["results"]] == [
        (version, backend, 3) for version in VERSIONS for backend in ("pure", "ocpp")
    ]


def test_run_core_measures_the_compiled_core_as_compiled(
    compiled: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: dict[bool, Backend] = {}
    real_pipeline = bench_core.pipeline

    def spy(core: Backend, version: str, repeat: int) -> Any:
        used[core.compiled] = core
        return real_pipeline(core, version, repeat)

    monkeypatch.setattr(bench_core, "pipeline", spy)
    run_core(versions=("ocpp1.6",), backends=("compiled", "pure"), rounds=1, repeat=1)

    modules = ("jsonscan", "frame", "session", "dispatcher", "validator")
    extension = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    # Every module of the compiled run is a built extension, none of the pure run's is.
    assert all(getattr(used[True], name).__file__.endswith(extension) for name in modules)
    assert all(getattr(used[False], name).__file__.endswith(".py") for name in modules)
    assert used[True].session.__name__ == "ocppfast._core._session_c"


def test_a_missing_compiled_core_fails_with_how_to_build_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As if the extension had not been built: its import raises ModuleNotFoundError.
    monkeypatch.setitem(sys.modules, "ocppfast._core._session_c", None)
    lines: list[str] = []
    with pytest.raises(RuntimeError, match="compiled core is not built") as raised:
        run_core(backends=("pure", "compiled"), rounds=1, repeat=1, progress=lines.append)
    assert BUILD_HINT in str(raised.value)
    assert lines == []  # refused before measuring anything


@pytest.mark.usefixtures("without_ocpp")
def test_a_missing_ocpp_package_fails_with_how_to_install_it() -> None:
    lines: list[str] = []
    for backend in ("ocpp", "ocpp-in-thread"):
        with pytest.raises(RuntimeError, match="`ocpp` package") as raised:
            run_core(backends=("pure", backend), rounds=1, repeat=1, progress=lines.append)
        assert INSTALL_HINT in str(raised.value)
        assert isinstance(raised.value.__cause__, ImportError)
    assert lines == []  # refused before measuring anything
    with pytest.raises(RuntimeError, match=re.escape(INSTALL_HINT)):
        ocpp_pipeline("ocpp1.6", 1)
    # Our own backends need no `ocpp`.
    section = run_core(backends=("pure",), rounds=1, repeat=1)
    assert [r["backend"] for r in section["results"]] == ["pure", "pure"]


def test_the_ocpp_package_imports_when_installed() -> None:
    package = require_ocpp()
    assert set(package.versions) == set(VERSIONS)
    assert package.versions["ocpp1.6"].__name__ == "ocpp.v16"


class RecordingSession:
    """A session that records everything the pipeline takes from data_to_send()."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.sent: list[bytes] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)

    def data_to_send(self) -> list[bytes]:
        out: list[bytes] = self.session.data_to_send()
        self.sent.extend(out)
        return out


@pytest.mark.parametrize("version", VERSIONS)
def test_the_pipeline_answers_every_frame_with_its_callresult(core: Backend, version: str) -> None:
    sessions: list[RecordingSession] = []

    def session(version: str) -> RecordingSession:
        sessions.append(RecordingSession(core.session.Session(version)))
        return sessions[-1]

    recording = core._replace(session=type("SessionModule", (), {"Session": staticmethod(session)}))
    run, messages = pipeline(recording, version, 3)
    frames = call_frames(version)
    assert messages == 3 * len(frames) == 3 * len(MIXES[version])
    run()

    responses = importlib.import_module(MESSAGE_MODULES[version]).RESPONSES
    expected = [
        [3, json.loads(frame)[1], msgspec.to_builtins(msgspec.convert(r, responses[action]))]
        for frame, (action, _, r) in zip(frames, MIXES[version], strict=True)
    ]
    # Once for the pipeline's own check, then three times in the run.
    (recorder,) = sessions
    assert [json.loads(answer) for answer in recorder.sent] == expected * 4


def test_the_pipeline_refuses_to_measure_a_pipeline_that_does_not_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def failing(version: str) -> dict[str, Any]:
        def handler(request: Any) -> Any:
            raise RuntimeError("handler down")

        return {action: handler for action, _, _ in MIXES[version]}

    monkeypatch.setattr("ocppfast.bench.pipeline.handlers", failing)
    with pytest.raises(RuntimeError, match=r"did not answer .* with a CALLRESULT"):
        pipeline(pure_backend(), "ocpp1.6", 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"versions": ("ocpp2.1",)},
        {"backends": ("cython",)},
        {"versions": ()},
        {"rounds": 0},
        {"repeat": 0},
    ],
)
def test_run_core_rejects_what_it_cannot_measure(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        run_core(**{"backends": ("pure",), **kwargs})
