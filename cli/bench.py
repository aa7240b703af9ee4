"""`ocppfast bench`: the benchmarks, from the installed package.

Progress goes to stderr as it happens, the tables to stdout at the end, and with --json FILE the
whole result to FILE and its plot to FILE with the .png suffix. The benchmark modules (and the
`ocpp` package they compare against) are imported only by the command that runs them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ocppfast.bench.names import BACKENDS, SERVERS, VERSIONS

from ._run import parse_versions

__all__ = ["bench_app"]

_T = TypeVar("_T")

bench_app = typer.Typer(
    name="bench",
    help="Measure ocppfast: its core pipeline in this process, and `ocppfast serve` end to end "
    "against N station connections, each next to a CSMS built on the `ocpp` package and a bare "
    "websockets echo server. Progress goes to stderr, the tables to stdout, the result to "
    "--json FILE (with a PNG plot next to it). Needs the `bench` extra: "
    "pip install 'ocppfast[bench]'.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

DEFAULT_BASELINE = Path("bench/baseline.json")
ALL_SERVERS = ",".join(SERVERS)
ALL_BACKENDS = ",".join(BACKENDS)

# -- options shared by several commands --------------------------------------------------------

JsonFile = Annotated[
    Path | None,
    typer.Option(
        "--json",
        help="Write the result to this JSON file, and its plot next to it (the same name with "
        ".png; needs matplotlib).",
        dir_okay=False,
    ),
]
Versions = Annotated[
    str,
    typer.Option(
        help="Version mixes, comma-separated: 1.6, 2.0.1. End to end, each station sends "
        "Heartbeat, StatusNotification and MeterValues (1.6) or TransactionEvent (2.0.1) with "
        "10 sampled values in turn; the core pipeline runs the larger mixes of "
        "ocppfast/bench/mixes.py (docs/performance.md)."
    ),
]
Servers = Annotated[
    str,
    typer.Option(
        help="Servers to measure, comma-separated: ocppfast (`ocppfast serve`), ocpp (a CSMS on "
        "the `ocpp` package doing the same work), websockets (a bare echo server: the ceiling)."
    ),
]
Connections = Annotated[
    str, typer.Option(help="Numbers of station connections, comma-separated: one run each.")
]
InFlight = Annotated[
    int, typer.Option(help="CALLs each station keeps outstanding (a closed loop).", min=1)
]
Windows = Annotated[
    int, typer.Option(help="Measured windows per run (the figures are over all of them).", min=1)
]
WindowSeconds = Annotated[float, typer.Option(help="Seconds per measured window.", min=0.01)]
Warmup = Annotated[float, typer.Option(help="Seconds of load before the first window.", min=0)]
Rounds = Annotated[int, typer.Option(help="Timed rounds per core benchmark (median).", min=1)]
Repeat = Annotated[
    int,
    typer.Option(
        help="Times one core round runs the version's mix (the `ocpp` package: 1/20 of it).",
        min=1,
    ),
]
Backends = Annotated[
    str,
    typer.Option(
        help="Core backends, comma-separated: compiled, pure (its Python twin), ocpp (the "
        "`ocpp` package, validating in its thread pool), ocpp-in-thread (validating inline)."
    ),
]
IdleConnections = Annotated[
    str, typer.Option(help="Numbers of idle connections, comma-separated: one run each.")
]
Hold = Annotated[float, typer.Option(help="Seconds the idle connections are held open.", min=0)]
PingInterval = Annotated[
    float,
    typer.Option(help="Seconds between the servers' WebSocket pings while idle.", min=0.01),
]
ServerCpu = Annotated[
    int | None,
    typer.Option(help="CPU to pin the server to (default: the last one available).", min=0),
]
GeneratorCpu = Annotated[
    int | None,
    typer.Option(
        help="CPU to pin the load generator to (default: another one than the server's).", min=0
    ),
]
Baseline = Annotated[
    Path,
    typer.Option(
        help="The baseline of guarded ratios (`ocppfast bench check RESULT --update` writes one).",
        dir_okay=False,
    ),
]
Check = Annotated[
    bool,
    typer.Option(
        "--check",
        help="Fail (exit 1) when a guarded ratio is below half of its value in --baseline.",
    ),
]


# -- parsing -----------------------------------------------------------------------------------


def _names(text: str, known: tuple[str, ...], hint: str) -> list[str]:
    names: list[str] = []
    for item in text.split(","):
        name = item.strip()
        if not name:
            continue
        if name not in known:
            raise typer.BadParameter(
                f"unknown {name!r}; choose from {', '.join(known)}", param_hint=hint
            )
        if name not in names:
            names.append(name)
    if not names:
        raise typer.BadParameter(f"give at least one of {', '.join(known)}", param_hint=hint)
    return names


def _versions(text: str, hint: str = "--versions") -> list[str]:
    try:
        versions = parse_versions(text)
    except typer.BadParameter as exc:
        raise typer.BadParameter(exc.message, param_hint=hint) from None
    missing = [v for v in versions if v not in VERSIONS]
    if missing:
        known = ", ".join(v.removeprefix("ocpp") for v in VERSIONS)
        raise typer.BadParameter(
            f"no benchmark mix for {', '.join(v.removeprefix('ocpp') for v in missing)}; "
            f"use {known}",
            param_hint=hint,
        )
    return versions


def _counts(text: str, hint: str) -> list[int]:
    counts: list[int] = []
    for item in text.split(","):
        if not item.strip():
            continue
        try:
            n = int(item.strip())
        except ValueError:
            raise typer.BadParameter(
                f"{item.strip()!r} is not a whole number", param_hint=hint
            ) from None
        if n < 1:
            raise typer.BadParameter(f"{n} connections: give 1 or more", param_hint=hint)
        if n not in counts:
            counts.append(n)
    if not counts:
        raise typer.BadParameter("give at least one number of connections", param_hint=hint)
    return counts


# -- running -----------------------------------------------------------------------------------


def _progress(line: str) -> None:
    typer.echo(line, err=True)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _run(step: Callable[[], _T]) -> _T:
    """Run one benchmark (or its checks); a missing requirement (RuntimeError, ValueError, which
    say what to do) ends the command with its message instead of a traceback."""
    try:
        return step()
    except (RuntimeError, ValueError) as exc:
        raise _fail(str(exc)) from None


def _require_compiled() -> None:
    """`ocppfast serve` must run the compiled core, unless the pure one was chosen on purpose."""
    from ocppfast import _core
    from ocppfast.bench.pipeline import BUILD_COMPILED

    if _core.COMPILED:
        return
    if os.environ.get("OCPPFAST_NO_EXTENSIONS", "").strip() not in ("", "0"):
        _progress("note: OCPPFAST_NO_EXTENSIONS is set: measuring the pure-Python core")
        return
    raise _fail(
        "the compiled core is not built, so `ocppfast serve` would run its pure-Python twin: "
        f"build it with `{BUILD_COMPILED}` (or set OCPPFAST_NO_EXTENSIONS=1 to measure the "
        "pure-Python core on purpose)"
    )


def _new_result() -> dict[str, Any]:
    from ocppfast.bench.e2e import result_header

    return result_header()


def _problems(result: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(failures, notes) of a result: points that failed or lost work; caveats on figures."""
    failures: list[str] = []
    notes: list[str] = []
    for name in ("e2e", "idle"):
        section = result.get(name) or {}
        pinning = section.get("pinning") or {}
        if pinning.get("note"):
            notes.append(f"{name}: {pinning['note']}")
        for row in section.get("results", ()):
            where = (
                f"{name} {row.get('version', '')} N={row.get('connections', 0):,} {row['server']}"
            )
            if row.get("error"):
                failures.append(f"{where}: {row['error'].splitlines()[0]}")
                continue
            lost = [
                f"{row[k]:,} {k.replace('_', ' ')}" for k in ("errors", "dropped") if row.get(k)
            ]
            if row.get("connect_failed"):
                lost.append(f"{row['connect_failed']:,} stations failed to connect")
            if lost:
                failures.append(f"{where}: {', '.join(lost)}")
            if row.get("generator_bound"):
                notes.append(
                    f"{where}: the load generator used {row['generator_cpu_share']:.0%} of its "
                    "CPU and may be what limits the rate"
                )
    soak = result.get("soak")
    if soak and not soak.get("passed"):
        failures.append("soak: " + "; ".join(soak.get("problems") or ["did not pass"]))
    return failures, notes


def _finish(
    result: dict[str, Any],
    json_file: Path | None,
    *,
    baseline: Path | None = None,
    check: bool = False,
) -> None:
    """Save the result and its plot, print the tables, check the baseline; exit 1 when a point
    failed or the check did."""
    from ocppfast.bench import report

    if json_file is not None:
        report.write_json(result, json_file)
        _progress(f"result: {json_file}")
        png = json_file.with_suffix(".png")
        try:
            report.plot(result, png)
        except RuntimeError as exc:  # matplotlib is not installed
            _progress(f"note: no plot: {exc}")
        except ValueError:  # nothing to draw (a soak result)
            pass
        else:
            _progress(f"plot: {png}")
    typer.echo(report.format_report(result), nl=False)
    failures, notes = _problems(result)
    for note in notes:
        typer.echo(f"note: {note}")
    soak = result.get("soak")
    if soak and soak.get("passed"):
        typer.echo(
            f"soak passed: all {soak['stations']:,} stations connected, none dropped, "
            f"all {soak['calls']:,} calls answered without error"
        )
    for failure in failures:
        typer.echo(f"FAILED: {failure}")
    if check:
        assert baseline is not None
        if not _check_baseline(result, baseline):
            raise typer.Exit(1)
    if failures:
        raise typer.Exit(1)


def _load(path: Path, what: str) -> dict[str, Any]:
    from ocppfast.bench.report import load_json

    try:
        return load_json(path)
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot read the {what} {path}: {exc}") from None


def _check_baseline(result: Mapping[str, Any], baseline_path: Path, factor: float = 0.5) -> bool:
    """Print the guarded ratios next to the baseline's; False (after printing why) on failure.
    Every verdict is `check_baseline`'s: each row's is its check of that one ratio."""
    from ocppfast.bench.report import check_baseline, is_guarded, ratios

    baseline = _load(baseline_path, "baseline")
    expected = baseline.get("ratios")
    current = ratios(result)
    if isinstance(expected, Mapping):
        typer.echo(f"baseline {baseline_path}: guarded ratios now / baseline (floor {factor:g}x)")
        for key, value in expected.items():
            now = current.get(key)
            if is_guarded(key) and now is not None and isinstance(value, (int, float)):
                low = check_baseline(result, {"ratios": {key: value}}, factor)
                typer.echo(f"  {key}: {now:.3g} / {value:.3g}  {'LOW' if low else 'ok'}")
    failures = check_baseline(result, baseline, factor)
    for failure in failures:
        typer.echo(f"baseline check failed: {failure}", err=True)
    if not failures:
        typer.echo("baseline check passed")
    return not failures


def _core(versions: list[str], backends: list[str], rounds: int, repeat: int) -> dict[str, Any]:
    from ocppfast.bench.core import run_core

    return _run(
        lambda: run_core(
            versions=versions, backends=backends, rounds=rounds, repeat=repeat, progress=_progress
        )
    )


# -- commands ----------------------------------------------------------------------------------


@bench_app.command()
def core(
    json_file: JsonFile = None,
    versions: Versions = "1.6,2.0.1",
    backends: Backends = ALL_BACKENDS,
    rounds: Rounds = 5,
    repeat: Repeat = 200,
    baseline: Baseline = DEFAULT_BASELINE,
    check: Check = False,
) -> None:
    """Core pipeline speed in this process, per backend and version mix.

    Messages per second through the whole incoming path of a CSMS connection (decode, validate,
    handle, answer) on one core: the compiled core, its pure-Python twin, and the `ocpp`
    package doing the same work; median of --rounds rounds."""
    result = _new_result()
    result["core"] = _core(
        _versions(versions), _names(backends, BACKENDS, "--backends"), rounds, repeat
    )
    _finish(result, json_file, baseline=baseline, check=check)


def _e2e(
    names: list[str],
    mixes: list[str],
    counts: list[int],
    in_flight: int,
    windows: int,
    window_seconds: float,
    warmup: float,
    server_cpu: int | None,
    generator_cpu: int | None,
) -> dict[str, Any]:
    from ocppfast.bench.e2e import run_e2e

    return _run(
        lambda: run_e2e(
            servers=names,
            versions=mixes,
            connections=counts,
            in_flight=in_flight,
            windows=windows,
            window_seconds=window_seconds,
            warmup_seconds=warmup,
            progress=_progress,
            server_cpu=server_cpu,
            generator_cpu=generator_cpu,
        )
    )


def _idle(
    names: list[str],
    counts: list[int],
    hold: float,
    ping_interval: float,
    server_cpu: int | None,
    generator_cpu: int | None,
) -> dict[str, Any]:
    from ocppfast.bench.e2e import run_idle

    return _run(
        lambda: run_idle(
            servers=names,
            connections=counts,
            hold_seconds=hold,
            ping_interval=ping_interval,
            progress=_progress,
            server_cpu=server_cpu,
            generator_cpu=generator_cpu,
        )
    )


@bench_app.command()
def e2e(
    json_file: JsonFile = None,
    versions: Versions = "1.6,2.0.1",
    connections: Connections = "1,100,1000,10000",
    servers: Servers = ALL_SERVERS,
    in_flight: InFlight = 1,
    windows: Windows = 5,
    window_seconds: WindowSeconds = 3.0,
    warmup: Warmup = 1.0,
    server_cpu: ServerCpu = None,
    generator_cpu: GeneratorCpu = None,
    baseline: Baseline = DEFAULT_BASELINE,
    check: Check = False,
) -> None:
    """End to end: `ocppfast serve` and its peers under N stations.

    Each server runs in its own process pinned to one CPU (a fresh one per run), loaded by N
    station connections from a lean load generator on another CPU, each keeping --in-flight
    CALLs of the version's mix outstanding. Reports calls per second, calls per server
    CPU-second, p50/p99 latency, server memory per connection, and ocppfast's ratios to the
    other servers, over --windows windows."""
    names = _names(servers, SERVERS, "--servers")
    mixes = _versions(versions)
    counts = _counts(connections, "--connections")
    if "ocppfast" in names:
        _require_compiled()
    result = _new_result()
    result["e2e"] = _e2e(
        names,
        mixes,
        counts,
        in_flight,
        windows,
        window_seconds,
        warmup,
        server_cpu,
        generator_cpu,
    )
    _finish(result, json_file, baseline=baseline, check=check)


@bench_app.command()
def idle(
    json_file: JsonFile = None,
    connections: IdleConnections = "1000,10000",
    servers: Servers = ALL_SERVERS,
    hold: Hold = 10.0,
    ping_interval: PingInterval = 5.0,
    server_cpu: ServerCpu = None,
    generator_cpu: GeneratorCpu = None,
) -> None:
    """Memory per idle connection, per server.

    N stations boot, then stay connected for --hold seconds while the server pings them every
    --ping-interval seconds; reports each server's resident memory growth per connection (a
    fresh server per run)."""
    names = _names(servers, SERVERS, "--servers")
    counts = _counts(connections, "--connections")
    if "ocppfast" in names:
        _require_compiled()
    result = _new_result()
    result["idle"] = _idle(names, counts, hold, ping_interval, server_cpu, generator_cpu)
    _finish(result, json_file)


@bench_app.command()
def soak(
    json_file: JsonFile = None,
    stations: Annotated[int, typer.Option(help="Station connections.", min=1)] = 15_000,
    interval: Annotated[
        float, typer.Option(help="Seconds between two CALLs of one station.", min=0.001)
    ] = 10.0,
    duration: Annotated[float, typer.Option(help="Seconds of load.", min=0.001)] = 300.0,
    ocpp: Annotated[str, typer.Option(help="Version mix: 1.6 or 2.0.1.")] = "1.6",
    server_cpu: ServerCpu = None,
    generator_cpu: GeneratorCpu = None,
) -> None:
    """Soak: many stations at a steady rate, for minutes.

    `ocppfast serve` with --stations stations, each sending a Heartbeat or a
    StatusNotification every --interval seconds, for --duration seconds. Passes (exit 0) when
    every station connected, none was dropped, and every CALL got an answer that is no error;
    reports latency, server memory and CPU."""
    from ocppfast.bench.soak import run_soak

    versions = _versions(ocpp, "--ocpp")
    if len(versions) > 1:
        raise typer.BadParameter(
            f"a soak runs one version mix, not {len(versions)}: give 1.6 or 2.0.1",
            param_hint="--ocpp",
        )
    (version,) = versions
    _require_compiled()
    result = _new_result()
    result["soak"] = _run(
        lambda: run_soak(
            stations=stations,
            interval_seconds=interval,
            duration_seconds=duration,
            version=version,
            progress=_progress,
            server_cpu=server_cpu,
            generator_cpu=generator_cpu,
        )
    )
    _finish(result, json_file)


@bench_app.command("all")
def all_(
    json_file: JsonFile = None,
    versions: Versions = "1.6,2.0.1",
    connections: Connections = "1,100,1000,10000",
    servers: Servers = ALL_SERVERS,
    in_flight: InFlight = 1,
    windows: Windows = 5,
    window_seconds: WindowSeconds = 3.0,
    warmup: Warmup = 1.0,
    rounds: Rounds = 5,
    repeat: Repeat = 200,
    backends: Backends = ALL_BACKENDS,
    idle_connections: IdleConnections = "1000,10000",
    hold: Hold = 10.0,
    ping_interval: PingInterval = 5.0,
    server_cpu: ServerCpu = None,
    generator_cpu: GeneratorCpu = None,
    baseline: Baseline = DEFAULT_BASELINE,
    check: Check = False,
) -> None:
    """core, e2e and idle into one result.

    What bench/baseline.json is made from (`ocppfast bench check RESULT --update`). Options are
    those of the three commands; --idle-connections is idle's --connections."""
    from ocppfast.bench.e2e import require

    # Everything e2e and idle need is checked before the core benchmarks take their minutes.
    mixes = _versions(versions)
    names = _names(servers, SERVERS, "--servers")
    counts = _counts(connections, "--connections")
    idle_counts = _counts(idle_connections, "--idle-connections")
    core_backends = _names(backends, BACKENDS, "--backends")
    if "ocppfast" in names:
        _require_compiled()
    _run(lambda: require(names, max(counts + idle_counts)))
    result = _new_result()
    result["core"] = _core(mixes, core_backends, rounds, repeat)
    result["e2e"] = _e2e(
        names,
        mixes,
        counts,
        in_flight,
        windows,
        window_seconds,
        warmup,
        server_cpu,
        generator_cpu,
    )
    result["idle"] = _idle(names, idle_counts, hold, ping_interval, server_cpu, generator_cpu)
    _finish(result, json_file, baseline=baseline, check=check)


@bench_app.command("check")
def check_(
    result_file: Annotated[
        Path,
        typer.Argument(
            help="A result written by `ocppfast bench ... --json FILE`.",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    baseline: Baseline = DEFAULT_BASELINE,
    update: Annotated[
        bool,
        typer.Option(
            "--update",
            help="Instead of checking, write the result's guarded ratios to --baseline (after a "
            "deliberate change of performance, from a full run on a quiet machine).",
        ),
    ] = False,
) -> None:
    """The CI guard: a result's ratios against the baseline.

    Compares the result's guarded ratios (ocppfast over the `ocpp` package and over bare
    websockets, per CPU-second; compiled core over pure and over `ocpp`) with the baseline's,
    and fails (exit 1) when one is below half of its baseline value. Ratios the result did not
    measure are skipped."""
    from ocppfast.bench.report import baseline_from, write_json

    result = _load(result_file, "result")
    if update:
        data = baseline_from(result)
        if not data["ratios"]:
            raise _fail(f"{result_file} holds no guarded ratio to keep")
        write_json(data, baseline)
        typer.echo(f"wrote {len(data['ratios'])} ratios to {baseline}")
        return
    if not _check_baseline(result, baseline):
        raise typer.Exit(1)
