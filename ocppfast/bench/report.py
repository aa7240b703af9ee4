"""Reading a benchmark result: ratios, terminal tables, a PNG plot, and the CI baseline guard.

Everything here is a pure function of the result dict that `ocppfast bench ... --json FILE`
writes (see `ocppfast.bench`): a dict with optional sections "core", "e2e", "idle" and "soak",
plus "machine", "created", "commit" and "ocppfast". Any section, row or figure may be missing
(a short CI run measures fewer points, a run may skip the `ocpp` peer): what is absent is shown
as "-" in the tables, left out of the ratios and of the plot, and never raises.

Ratios have stable, readable names, used both in the report and in `bench/baseline.json`:

    core ocpp1.6 compiled/pure                    (of messages_per_second)
    e2e ocpp1.6 n=100 ocppfast/ocpp calls_per_cpu_second
    e2e ocpp1.6 n=100 ocppfast/websockets calls_per_second
    idle n=1000 ocppfast/websockets rss_per_connection

The baseline guard keeps only the throughput ratios (higher is better) that say whether ocppfast
is still fast relative to its peers on the same machine, so that CI on a different machine can
compare them: see `GUARDED`, `baseline_from()` and `check_baseline()`.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .names import BACKENDS, CEILING, OURS, PEER, SERVERS

__all__ = [
    "CORE_RATIOS",
    "E2E_METRICS",
    "GUARDED",
    "SERVERS",
    "baseline_from",
    "check_baseline",
    "format_report",
    "is_guarded",
    "load_json",
    "plot",
    "ratios",
    "write_json",
]

# Core ratios (numerator, denominator) of messages_per_second.
CORE_RATIOS = (
    ("compiled", "pure"),
    ("compiled", "ocpp"),
    ("pure", "ocpp"),
    ("compiled", "ocpp-in-thread"),
)
# e2e figures compared between servers; both are higher-is-better.
E2E_METRICS = ("calls_per_cpu_second", "calls_per_second")
# The ratios the CI guard checks: throughput relative to a peer on the same machine, higher is
# better. Per-CPU-second rather than per-wall-second for e2e, since a shared CI runner's wall
# clock depends on its neighbours while the CPU a call costs mostly does not.
GUARDED = (
    re.compile(r"core \S+ compiled/pure"),
    re.compile(r"core \S+ compiled/ocpp"),
    re.compile(r"e2e \S+ n=\d+ ocppfast/ocpp calls_per_cpu_second"),
    re.compile(r"e2e \S+ n=\d+ ocppfast/websockets calls_per_cpu_second"),
)

_PNG_INSTALL_HINT = "plotting needs matplotlib: pip install 'ocppfast[bench]'"


# ---------------------------------------------------------------------------------------------
# Reading the result dict defensively


def _num(value: Any) -> float | None:
    """A finite number, or None for anything else (missing, null, NaN, a string, a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _section(result: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = result.get(name)
    return section if isinstance(section, Mapping) else {}


def _rows(result: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    rows = _section(result, name).get("results")
    if not isinstance(rows, list):
        return []
    return [row for row in rows if isinstance(row, Mapping)]


def _connections(row: Mapping[str, Any]) -> int | None:
    n = row.get("connections")
    if isinstance(n, bool) or not isinstance(n, int):
        return None
    return n


def _version_key(version: str) -> tuple[tuple[int, ...], str]:
    """Orders "ocpp1.6" < "ocpp2.0.1" < "ocpp2.1" < "ocpp2.10" by the numbers in the name."""
    digits = re.findall(r"\d+", version)
    return (tuple(int(d) for d in digits), version)


def _server_key(server: str) -> tuple[int, str]:
    return (SERVERS.index(server) if server in SERVERS else len(SERVERS), server)


def _backend_key(backend: str) -> tuple[int, str]:
    if backend in BACKENDS:
        return (BACKENDS.index(backend), backend)
    return (len(BACKENDS), backend)


def _core_rates(result: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """{version: {backend: messages_per_second}} for the rows that have a rate."""
    rates: dict[str, dict[str, float]] = {}
    for row in _rows(result, "core"):
        version, backend = row.get("version"), row.get("backend")
        rate = _num(row.get("messages_per_second"))
        if isinstance(version, str) and isinstance(backend, str) and rate is not None:
            rates.setdefault(version, {})[backend] = rate
    return dict(sorted(rates.items(), key=lambda item: _version_key(item[0])))


def _e2e_grid(
    result: Mapping[str, Any],
) -> dict[tuple[str, int], dict[str, Mapping[str, Any]]]:
    """{(version, connections): {server: row}}, sorted by version then connections."""
    grid: dict[tuple[str, int], dict[str, Mapping[str, Any]]] = {}
    for row in _rows(result, "e2e"):
        version, server, n = row.get("version"), row.get("server"), _connections(row)
        if isinstance(version, str) and isinstance(server, str) and n is not None:
            grid.setdefault((version, n), {})[server] = row
    return dict(sorted(grid.items(), key=lambda item: (_version_key(item[0][0]), item[0][1])))


def _idle_grid(result: Mapping[str, Any]) -> dict[int, dict[str, Mapping[str, Any]]]:
    """{connections: {server: row}}, sorted by connections."""
    grid: dict[int, dict[str, Mapping[str, Any]]] = {}
    for row in _rows(result, "idle"):
        server, n = row.get("server"), _connections(row)
        if isinstance(server, str) and n is not None:
            grid.setdefault(n, {})[server] = row
    return dict(sorted(grid.items()))


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


# ---------------------------------------------------------------------------------------------
# Ratios


def _core_key(version: str, a: str, b: str) -> str:
    return f"core {version} {a}/{b}"


def _e2e_key(version: str, n: int, a: str, b: str, metric: str) -> str:
    return f"e2e {version} n={n} {a}/{b} {metric}"


def _idle_key(n: int, a: str, b: str) -> str:
    return f"idle n={n} {a}/{b} rss_per_connection"


def ratios(result: Mapping[str, Any]) -> dict[str, float]:
    """The named ratios of a result, in report order (core, e2e, idle; by version and N).

    - "core {version} {a}/{b}": messages_per_second of core backend a over b, for the pairs
      of `CORE_RATIOS`;
    - "e2e {version} n={N} ocppfast/{ocpp|websockets} {metric}": ours over the peer and over
      the ceiling, for each metric of `E2E_METRICS`;
    - "idle n={N} {ocppfast|ocpp}/websockets rss_per_connection": memory per idle connection
      over the bare websockets server's (here lower is better).

    A ratio is present only when both figures are numbers and the denominator is positive.
    """
    out: dict[str, float] = {}
    for version, rates in _core_rates(result).items():
        for a, b in CORE_RATIOS:
            value = _ratio(rates.get(a), rates.get(b))
            if value is not None:
                out[_core_key(version, a, b)] = value
    for (version, n), servers in _e2e_grid(result).items():
        ours = servers.get(OURS)
        if ours is None:
            continue
        for other in (PEER, CEILING):
            theirs = servers.get(other)
            if theirs is None:
                continue
            for metric in E2E_METRICS:
                value = _ratio(_num(ours.get(metric)), _num(theirs.get(metric)))
                if value is not None:
                    out[_e2e_key(version, n, OURS, other, metric)] = value
    for n, servers in _idle_grid(result).items():
        ceiling = servers.get(CEILING)
        if ceiling is None:
            continue
        for server in (OURS, PEER):
            row = servers.get(server)
            if row is None:
                continue
            value = _ratio(
                _num(row.get("rss_per_connection_bytes")),
                _num(ceiling.get("rss_per_connection_bytes")),
            )
            if value is not None:
                out[_idle_key(n, server, CEILING)] = value
    return out


def is_guarded(key: str) -> bool:
    """Whether the ratio named `key` is one the CI baseline guard checks (see `GUARDED`)."""
    return any(pattern.fullmatch(key) for pattern in GUARDED)


# ---------------------------------------------------------------------------------------------
# Number formatting

_MISSING = "-"
# Legends wrap at the width the project's code and most CI logs use.
_WIDTH = 100


def _fmt_int(value: float | None) -> str:
    return _MISSING if value is None else f"{value:,.0f}"


def _fmt_ratio(value: float | None) -> str:
    """15.3x, 1,234.5x, 0.45x, 0.0031x: enough digits to tell small ratios apart."""
    if value is None:
        return _MISSING
    if value >= 1 or value == 0:
        return f"{value:,.1f}x"
    if value >= 0.01:
        return f"{value:.2f}x"
    return f"{value:.2g}x"


def _fmt_ms(value: float | None) -> str:
    if value is None:
        return _MISSING
    if value < 10:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def _fmt_share(value: float | None) -> str:
    return _MISSING if value is None else f"{value * 100:.0f}%"


def _fmt_kib(value: float | None) -> str:
    return _MISSING if value is None else f"{value / 1024:,.1f}"


def _fmt_count(value: Any) -> str:
    number = _num(value)
    return _MISSING if number is None else f"{number:,.0f}"


def _legend(text: str) -> list[str]:
    """A table's legend, wrapped to the width of a terminal."""
    return textwrap.wrap(text, width=_WIDTH, subsequent_indent="  ", break_on_hyphens=False)


def _table(headers: list[str], rows: list[list[str]], left: tuple[int, ...] = (0,)) -> list[str]:
    """Columns two spaces apart, with a rule under the headers; the columns whose index is in
    `left` (labels) are left-aligned, the others (figures) right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: list[str]) -> str:
        parts = [
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(row) for row in rows)]


# ---------------------------------------------------------------------------------------------
# The text report


def _header(result: Mapping[str, Any]) -> list[str]:
    version = result.get("ocppfast")
    commit = result.get("commit")
    created = result.get("created")
    title = f"ocppfast {version}" if version else "ocppfast"
    if commit:
        title += f" (commit {commit})"
    if created:
        title += f", {created}"
    lines = [f"benchmark: {title}"]
    machine = _section(result, "machine")
    if machine:
        cpu = machine.get("cpu") or "unknown CPU"
        cores = machine.get("cores")
        described = f"{cpu}, {cores} cores" if cores else str(cpu)
        for key in ("python", "platform"):
            if machine.get(key):
                described += f"; {key} {machine[key]}"
        lines.append(f"machine: {described}")
        libraries = [
            f"{name} {machine[name]}"
            for name in ("uvloop", "websockets", "ocpp")
            if machine.get(name)
        ]
        if libraries:
            lines.append(f"libraries: {', '.join(libraries)}")
    return lines


def _core_report(result: Mapping[str, Any]) -> list[str]:
    rates = _core_rates(result)
    if not rates:
        return []
    backends = sorted({b for per in rates.values() for b in per}, key=_backend_key)
    columns = [b for b in BACKENDS if b in backends] + [b for b in backends if b not in BACKENDS]
    pairs = [(a, b) for a, b in CORE_RATIOS if a in backends and b in backends]
    headers = ["version", *columns, *(f"{a}/{b}" for a, b in pairs)]
    rows = [
        [
            version,
            *(_fmt_int(per.get(b)) for b in columns),
            *(_fmt_ratio(_ratio(per.get(a), per.get(b))) for a, b in pairs),
        ]
        for version, per in rates.items()
    ]
    section = _section(result, "core")
    rounds = _num(section.get("rounds"))
    title = "core pipeline: messages per second on one core"
    if rounds is not None:
        title += f" (median of {rounds:,.0f} rounds)"
    return [
        title,
        *_legend(
            "legend: columns are msg/s, messages through the in-process pipeline per second per"
            " backend; ocpp: the `ocpp` package with its default thread-pool validation;"
            " ocpp-in-thread: the same validating in the calling thread; a/b: msg/s of a over b"
        ),
        *_table(headers, rows),
    ]


def _e2e_report(result: Mapping[str, Any]) -> list[str]:
    grid = _e2e_grid(result)
    if not grid:
        return []
    section = _section(result, "e2e")
    title = "end to end: `ocppfast serve` on one core against N stations"
    in_flight = _num(section.get("in_flight"))
    if in_flight is not None:
        title += f", {in_flight:,.0f} call(s) in flight per station"
    windows, seconds = _num(section.get("windows")), _num(section.get("window_seconds"))
    if windows is not None and seconds is not None:
        title += f" (over {windows:,.0f} windows of {seconds:g} s)"
    headers = [
        "version",
        "N",
        "server",
        "calls/s",
        "calls/CPU-s",
        "p50 ms",
        "p99 ms",
        "server CPU",
        "gen CPU",
        "RSS/conn KiB",
        "errors",
        "dropped",
    ]
    rows: list[list[str]] = []
    for (version, n), servers in grid.items():
        for server in sorted(servers, key=_server_key):
            row = servers[server]
            rows.append(
                [
                    version,
                    f"{n:,}",
                    server,
                    _fmt_int(_num(row.get("calls_per_second"))),
                    _fmt_int(_num(row.get("calls_per_cpu_second"))),
                    _fmt_ms(_num(row.get("p50_ms"))),
                    _fmt_ms(_num(row.get("p99_ms"))),
                    _fmt_share(_num(row.get("server_cpu_share"))),
                    _fmt_share(_num(row.get("generator_cpu_share"))),
                    _fmt_kib(_num(row.get("rss_per_connection_bytes"))),
                    _fmt_count(row.get("errors")),
                    _fmt_count(row.get("dropped")),
                ]
            )
    lines = [
        title,
        *_legend(
            "legend: calls/s: calls answered per wall-clock second; calls/CPU-s: calls answered per"
            " second of server CPU (user+sys); p50/p99 ms: call latency seen by the load generator;"
            " server/gen CPU: CPU-seconds per wall-second of the server / the load generator"
            " (100% = one core busy); RSS/conn KiB: server resident memory per connection;"
            " errors: failed calls; dropped: connections lost"
        ),
        *_table(headers, rows, left=(0, 2)),
    ]
    ratio_rows: list[list[str]] = []
    for (version, n), servers in grid.items():
        ours = servers.get(OURS)
        if ours is None:
            continue
        cells = [version, f"{n:,}"]
        for other in (PEER, CEILING):
            theirs = servers.get(other, {})
            for metric in ("calls_per_second", "calls_per_cpu_second"):
                cells.append(_fmt_ratio(_ratio(_num(ours.get(metric)), _num(theirs.get(metric)))))
        if any(cell != _MISSING for cell in cells[2:]):
            ratio_rows.append(cells)
    if ratio_rows:
        ratio_headers = [
            "version",
            "N",
            "vs ocpp calls/s",
            "vs ocpp calls/CPU-s",
            "vs websockets calls/s",
            "vs websockets calls/CPU-s",
        ]
        lines += [
            "",
            "end to end ratios: ocppfast's figure over another server's",
            *_legend(
                "legend: vs ocpp: ours over the server built on the `ocpp` package doing the"
                " same work (above 1x: ours is faster); vs websockets: ours over a bare"
                " websockets echo server on the same event loop, the ceiling (1x: OCPP costs"
                " nothing above the transport)"
            ),
            *_table(ratio_headers, ratio_rows),
        ]
    return lines


def _idle_report(result: Mapping[str, Any]) -> list[str]:
    grid = _idle_grid(result)
    if not grid:
        return []
    servers = sorted({s for per in grid.values() for s in per}, key=_server_key)
    compared = [s for s in (OURS, PEER) if s in servers] if CEILING in servers else []
    headers = [
        "N",
        *(f"{s} KiB" for s in servers),
        *(f"{s}/{CEILING}" for s in compared),
    ]
    rows: list[list[str]] = []
    for n, per in grid.items():
        ceiling = _num(per.get(CEILING, {}).get("rss_per_connection_bytes"))
        rows.append(
            [
                f"{n:,}",
                *(_fmt_kib(_num(per.get(s, {}).get("rss_per_connection_bytes"))) for s in servers),
                *(
                    _fmt_ratio(
                        _ratio(_num(per.get(s, {}).get("rss_per_connection_bytes")), ceiling)
                    )
                    for s in compared
                ),
            ]
        )
    title = "idle: N stations held open with pings; server RSS per connection"
    hold = _num(_section(result, "idle").get("hold_seconds"))
    if hold is not None:
        title += f" (held {hold:g} s)"
    return [
        title,
        *_legend(
            "legend: <server> KiB: growth of the server's resident memory per open connection;"
            " <server>/websockets: that over the bare websockets server's (lower is better;"
            " 1x: nothing kept per connection above the transport)"
        ),
        *_table(headers, rows, left=()),
    ]


def _soak_report(result: Mapping[str, Any]) -> list[str]:
    soak = _section(result, "soak")
    if not soak:
        return []
    stations, interval = _num(soak.get("stations")), _num(soak.get("interval_seconds"))
    duration = _num(soak.get("duration_seconds"))
    calls, answered = _num(soak.get("calls")), _num(soak.get("answered"))
    rss, cpu = _num(soak.get("rss_bytes")), _num(soak.get("server_cpu_seconds"))
    title = "soak:"
    if stations is not None:
        title += f" {stations:,.0f} stations"
    if interval is not None:
        title += f", one call every {interval:g} s each"
    if duration is not None:
        title += f", for {duration:,.0f} s"
    answered_share = _ratio(answered, calls)
    cpu_share = _ratio(cpu, duration)
    rss_per_station = _num(soak.get("rss_per_station_bytes"))
    rows = [
        ["calls", _fmt_count(soak.get("calls"))],
        [
            "answered",
            _fmt_count(soak.get("answered"))
            + (f" ({answered_share * 100:.3f}%)" if answered_share is not None else ""),
        ],
        ["unanswered", _fmt_count(soak.get("unanswered"))],
        ["errors", _fmt_count(soak.get("errors"))],
        ["dropped", _fmt_count(soak.get("dropped"))],
        ["p50 ms", _fmt_ms(_num(soak.get("p50_ms")))],
        ["p99 ms", _fmt_ms(_num(soak.get("p99_ms")))],
        [
            "server RSS MiB",
            _MISSING if rss is None else f"{rss / 2**20:,.1f}",
        ],
        ["server RSS growth/station KiB", _fmt_kib(rss_per_station)],
        ["server CPU", _fmt_share(cpu_share)],
    ]
    return [
        title,
        *_legend(
            "legend: answered: calls with a response (share of calls); unanswered: calls still"
            " waiting at the end; server CPU: server CPU-seconds per wall-second over the run"
        ),
        *_table(["figure", "value"], rows, left=(0, 1)),
    ]


def format_report(result: Mapping[str, Any]) -> str:
    """The result as plain-text tables for a terminal or a CI log: a header naming the build and
    the machine, then core, end-to-end (with its ratios), idle and soak tables, each only when
    measured. Missing figures show as "-". Ends with a newline."""
    blocks = [_header(result)]
    for part in (_core_report, _e2e_report, _idle_report, _soak_report):
        lines = part(result)
        if lines:
            blocks.append(lines)
    if len(blocks) == 1:
        blocks.append(["(no measurements in this result)"])
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


# ---------------------------------------------------------------------------------------------
# The plot

_SERVER_COLOURS = {OURS: "tab:blue", PEER: "tab:orange", CEILING: "tab:green"}
_VERSION_STYLES = ("-", "--", ":", "-.")
_CORE_COLOURS = {
    "compiled": "tab:blue",
    "pure": "tab:cyan",
    "ocpp": "tab:orange",
    "ocpp-in-thread": "tab:red",
}


def _fmt_tick(value: float) -> str:
    """An axis label: 20,000 or 0.5, never 2e+04."""
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def _plot_title(result: Mapping[str, Any]) -> str:
    machine = _section(result, "machine")
    created = result.get("created")
    date = (
        created[:10]
        if isinstance(created, str) and created
        else _dt.datetime.now(_dt.timezone.utc).date().isoformat()
    )
    parts = [f"ocppfast {result.get('ocppfast')}" if result.get("ocppfast") else "ocppfast"]
    cpu = machine.get("cpu")
    cores = machine.get("cores")
    if cpu:
        parts.append(str(cpu))
    if cores:
        parts.append(f"{cores} cores")
    parts.append(date)
    return " \u2014 ".join(parts)


def plot(result: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Draws the result to a PNG at `path` (parent directories are created) and returns its path.

    Panels, each only when measured: end-to-end calls per second and p99 latency (ms) against
    the number of connections (log axes), one colour per server and one line style per version
    mix; idle server RSS per connection (KiB) against connections; core messages per second per
    backend and version. The title names the machine's CPU, its cores and the run's date.

    Raises RuntimeError when matplotlib (the `bench` extra) is not installed, and ValueError
    when the result holds nothing to draw.
    """
    try:
        # Lazy: matplotlib is an optional dependency (the `bench` extra). The object-oriented
        # API over the Agg canvas touches no global backend state, unlike pyplot.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator
    except ImportError as exc:
        raise RuntimeError(_PNG_INSTALL_HINT) from exc

    e2e = _e2e_grid(result)
    idle = _idle_grid(result)
    core = _core_rates(result)
    panels = (2 if e2e else 0) + (1 if idle else 0) + (1 if core else 0)
    if panels == 0:
        raise ValueError("the result has no e2e, idle or core measurements to plot")

    ncols = 2 if panels == 4 else panels
    nrows = 2 if panels == 4 else 1
    figure = Figure(figsize=(6.4 * ncols, 4.8 * nrows + 0.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = list(figure.subplots(nrows, ncols, squeeze=False).flat)
    figure.suptitle(_plot_title(result))
    plain = FuncFormatter(lambda value, _pos: _fmt_tick(value))

    def connections_axis(ax: Any, ns: Iterable[int]) -> None:
        # Ticks at the measured N only: the series is 1, 100, 1000, 10000, not every decade.
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(sorted(set(ns))))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(plain)
        ax.set_xlabel("connections")

    def finish(ax: Any) -> None:
        if ax.has_data():
            ax.legend(fontsize="small")
        else:  # every figure of this panel was missing (null, zero on a log axis)
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", va="center")

    def log_y(ax: Any) -> None:
        # Log y so that a peer 20x slower is still a readable line, not a smear along zero;
        # labels at 1, 2 and 5 per decade, written as plain numbers.
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.yaxis.set_minor_formatter(plain)

    if e2e:
        throughput, latency = axes.pop(0), axes.pop(0)
        versions = sorted({v for v, _ in e2e}, key=_version_key)
        servers = sorted({s for per in e2e.values() for s in per}, key=_server_key)
        for index, version in enumerate(versions):
            style = _VERSION_STYLES[index % len(_VERSION_STYLES)]
            for server in servers:
                points = [
                    (n, per[server])
                    for (v, n), per in e2e.items()
                    if v == version and server in per
                ]
                label = f"{server} {version}"
                colour = _SERVER_COLOURS.get(server)
                for ax, metric in ((throughput, "calls_per_second"), (latency, "p99_ms")):
                    xy = [(n, _num(row.get(metric))) for n, row in points]
                    xs = [n for n, y in xy if y is not None and y > 0]
                    ys = [y for _, y in xy if y is not None and y > 0]
                    if xs:
                        ax.plot(xs, ys, linestyle=style, marker="o", color=colour, label=label)
        throughput.set_title("end to end: calls per second")
        throughput.set_ylabel("calls/s")
        latency.set_title("end to end: p99 latency")
        latency.set_ylabel("p99 ms")
        for ax in (throughput, latency):
            connections_axis(ax, (n for _, n in e2e))
            log_y(ax)
            ax.grid(True, which="both", alpha=0.3)
            finish(ax)

    if idle:
        ax = axes.pop(0)
        servers = sorted({s for per in idle.values() for s in per}, key=_server_key)
        for server in servers:
            xy = [
                (n, _num(per[server].get("rss_per_connection_bytes")))
                for n, per in idle.items()
                if server in per
            ]
            xs = [n for n, y in xy if y is not None]
            ys = [y / 1024 for _, y in xy if y is not None]
            if xs:
                ax.plot(xs, ys, marker="o", color=_SERVER_COLOURS.get(server), label=server)
        ax.set_title("idle: server RSS per connection")
        connections_axis(ax, idle)
        ax.set_ylabel("KiB per connection")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        finish(ax)

    if core:
        ax = axes.pop(0)
        versions = list(core)
        backends = sorted({b for per in core.values() for b in per}, key=_backend_key)
        width = 0.8 / len(backends)
        for index, backend in enumerate(backends):
            positions = [
                i + (index - (len(backends) - 1) / 2) * width
                for i, version in enumerate(versions)
                if backend in core[version]
            ]
            heights = [core[version][backend] for version in versions if backend in core[version]]
            ax.bar(positions, heights, width=width, color=_CORE_COLOURS.get(backend), label=backend)
        ax.set_xticks(range(len(versions)), versions)
        ax.set_title("core pipeline: messages per second, one core")
        ax.set_ylabel("msg/s")
        ax.yaxis.set_major_formatter(plain)
        ax.grid(True, axis="y", alpha=0.3)
        finish(ax)

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, format="png")
    return target


# ---------------------------------------------------------------------------------------------
# The baseline guard

_BASELINE_COMMENT = (
    "Ratios from a full `ocppfast bench` run (see ocppfast.bench.report.baseline_from). CI runs"
    " a short benchmark and fails when one of these ratios, measured now, falls below half of"
    " its value here (check_baseline). Ratios compare ocppfast with peers on the same machine,"
    " so they travel between machines better than raw rates; regenerate after a deliberate"
    " change of performance or of the benchmark, on a quiet machine."
)


def baseline_from(result: Mapping[str, Any]) -> dict[str, Any]:
    """The content of `bench/baseline.json` for a result: its guarded ratios (see `GUARDED`),
    rounded to 3 decimals, with where they came from (created, commit, machine)."""
    guarded = {key: round(value, 3) for key, value in ratios(result).items() if is_guarded(key)}
    machine = _section(result, "machine")
    return {
        "comment": _BASELINE_COMMENT,
        "created": result.get("created"),
        "commit": result.get("commit"),
        "machine": dict(machine),
        "ratios": guarded,
    }


def _fraction_text(factor: float) -> str:
    return "half of" if factor == 0.5 else f"{factor:g} \u00d7"


def check_baseline(
    result: Mapping[str, Any], baseline: Mapping[str, Any], factor: float = 0.5
) -> list[str]:
    """The guard CI runs: one human-readable failure line per problem, none when all is well.

    A failure is a guarded ratio present in both `result` and `baseline` whose current value is
    below `factor` times the baseline's. Ratios the current run did not measure are skipped (a
    short CI run measures fewer points), but a baseline none of whose ratios was measured fails,
    as the guard would check nothing; so does a malformed baseline, or one naming a ratio that
    is not guarded (the check assumes higher is better).
    """
    expected = baseline.get("ratios")
    if not isinstance(expected, Mapping) or not expected:
        return ["the baseline has no ratios: the guard would check nothing"]
    current = ratios(result)
    failures: list[str] = []
    checked = 0
    for key, raw in expected.items():
        value = _num(raw)
        if not is_guarded(str(key)):
            failures.append(f"{key}: not a guarded ratio; remove it from the baseline")
            continue
        if value is None or value <= 0:
            failures.append(f"{key}: the baseline value {raw!r} is not a positive number")
            continue
        now = current.get(key)
        if now is None:
            continue
        checked += 1
        if now < factor * value:
            failures.append(
                f"{key}: {_fmt_ratio(now)}, below {_fraction_text(factor)} the baseline"
                f" {_fmt_ratio(value)}"
            )
    if checked == 0:
        failures.append(
            f"none of the baseline's {len(expected)} ratios was measured in this run:"
            " the guard would check nothing"
        )
    return failures


# ---------------------------------------------------------------------------------------------
# JSON files


def _finite(value: Any) -> Any:
    """A copy with NaN and infinities replaced by null: strict JSON has no such numbers, and the
    report reads null as "not measured"."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def load_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A result or baseline file as a dict. Raises ValueError when the file does not hold a
    JSON object, OSError when it cannot be read."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{os.fspath(path)}: expected a JSON object, found {type(data).__name__}")
    return data


def write_json(data: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Writes `data` as pretty JSON (2-space indent, sorted keys, trailing newline) and returns
    the path. Parent directories are created; NaN and infinities become null."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_finite(data), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    target.write_text(text, encoding="utf-8")
    return target
