"""Metrics of a CSMS (or a station) in the Prometheus text format, for `/metrics`.

    metrics = Metrics()
    server = Server(handlers, observer=metrics)
    metrics.server = server                            # stations connected, by version
    state.committer.on_commit = metrics.commit         # storage write latency (GroupCommit)
    state.committer.on_failure = metrics.commit_failed
    body, content_type = metrics.render()              # the answer to GET /metrics

`Metrics` is a `ConnectionObserver`: the connections call it inline for every frame, so what it
does there is a few dict increments on plain Python counters, and nothing else. The type and
action of a frame come from a bounded scan of its first `SCAN_BYTES` bytes (`scan()`), never
from parsing the whole frame. prometheus_client is touched only at scrape time: a collector
turns the counters into metric families in a registry of this object's own (never the global
one), so that two `Metrics` never share series.

What is measured (every metric has a HELP text; the names are in `METRIC_NAMES`):

- `ocppfast_stations_connected{version}`: counted from `server.connections` at scrape time.
- `ocppfast_messages_total{direction, type, action}`: frames received (in) and sent (out).
  CALLRESULT and CALLERROR frames do not carry the action: their `action` is "". Frames whose
  start is not an OCPP-J message count as `type="malformed"`.
- `ocppfast_call_errors_total{direction, code}`: CALLERROR and CALLRESULTERROR frames by code.
- `ocppfast_call_duration_seconds{action}`: how long our own CALLs took to be answered.
- `ocppfast_calls_failed_total{action, reason}`: our CALLs that failed, and why.
- `ocppfast_quirks_tolerated_total{quirk}`: schema violations a quirk profile let through.
- `ocppfast_storage_commit_seconds`, `ocppfast_storage_rows_written_total`,
  `ocppfast_storage_commit_failures_total`: the group commits of the storage.

Label values a peer chooses (action names, error codes) are capped: every action and error
code of the specification is always its own value, and at most `max_label_values` values in
all are kept per label; what comes beyond is counted under "other", so a peer sending random
names cannot make the series (nor this process's memory) grow without bound.
"""

from __future__ import annotations

import bisect
import json
import operator
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector

from ._core.dispatcher import KNOWN_ACTIONS
from .asyncio.connection import Connection, ConnectionObserver
from .exceptions import (
    ERROR_CLASSES,
    CallTimeoutError,
    OCPPError,
    SessionClosedError,
)

if TYPE_CHECKING:
    from .asyncio.server import Server

__all__ = [
    "CALL_DURATION_BUCKETS",
    "COMMIT_BUCKETS",
    "MALFORMED",
    "MAX_LABEL_VALUES",
    "METRIC_NAMES",
    "OTHER",
    "SCAN_BYTES",
    "Histogram",
    "Metrics",
    "scan",
]

SCAN_BYTES = 200
"""How much of a frame `scan()` reads: message type, id and action fit in it (ids are at most
36 characters, action names about 40); a frame whose action ends beyond it is "malformed"."""

MAX_LABEL_VALUES = 256
"""The default cap on the values of the `action` label, and of the `code` label."""

CALL_DURATION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
"""Upper bounds (seconds) of the buckets of `ocppfast_call_duration_seconds`."""

COMMIT_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Upper bounds (seconds) of the buckets of `ocppfast_storage_commit_seconds`."""

MALFORMED = "malformed"
"""The message type of a frame `scan()` cannot read."""

OTHER = "other"
"""The label value of what comes beyond the cap on a label's values."""

METRIC_NAMES = (
    "ocppfast_stations_connected",
    "ocppfast_messages_total",
    "ocppfast_call_errors_total",
    "ocppfast_call_duration_seconds",
    "ocppfast_calls_failed_total",
    "ocppfast_quirks_tolerated_total",
    "ocppfast_storage_commit_seconds",
    "ocppfast_storage_rows_written_total",
    "ocppfast_storage_commit_failures_total",
)

# -- reading a frame's start -------------------------------------------------------------------

# Split at its first four quotes, a compact frame (as our encoder and most stations write it) is
# [b'[2,', b'<id>', b',', b'<name>', b'<the rest>']: its first part, the head, names its type.
# The counters are keyed by (head, raw name); b"" is the head of a malformed frame.
_HEADS: dict[bytes, str] = {
    b"[2,": "CALL",
    b"[3,": "CALLRESULT",
    b"[4,": "CALLERROR",
    b"[5,": "CALLRESULTERROR",
    b"[6,": "SEND",
}
_RESULT = b"[3,"
_ACTION_HEADS = frozenset((b"[2,", b"[6,"))  # the third element is the action
_ERROR_HEADS = frozenset((b"[4,", b"[5,"))  # the third element is the error code
_MALFORMED_HEAD = b""
_TYPE_OF = {**_HEADS, _MALFORMED_HEAD: MALFORMED}
_MALFORMED_KEY = (_MALFORMED_HEAD, b"")
_RESULT_KEY = (_RESULT, b"")
_COMMA = b","
_BACKSLASH = 92
# Any start, with JSON whitespace wherever it may be and escapes in the strings: message type,
# message id, and the third element when it is a string. DOTALL: a backslash escapes anything,
# as the compact path assumes too (whether an escape is valid is the session's business).
_W = rb"[ \t\r\n]*"
_STRING = rb'"((?:[^"\\]|\\.)*)"'
_START = re.compile(
    _W
    + rb"\["
    + _W
    + rb"([2-6])"
    + _W
    + rb","
    + _W
    + _STRING
    + _W
    + rb"(,"
    + _W
    + rb"(?:"
    + _STRING
    + rb")?)?",
    re.DOTALL,
)


def scan(frame: bytes | bytearray | memoryview | str) -> tuple[str, bytes]:
    """The message type of an OCPP-J frame ("CALL", "CALLRESULT", "CALLERROR",
    "CALLRESULTERROR", "SEND") and the name its third element carries (the action of a CALL or
    SEND, the error code of a CALLERROR or CALLRESULTERROR; b"" for a CALLRESULT), as UTF-8.

    Only the first `SCAN_BYTES` bytes are read: the work is bounded whatever the frame's size,
    and the payload is never looked at. ("malformed", b"") when they do not start a frame of
    one of those types with a string message id: cut short, not JSON, another message type, or
    a name that is not a string or does not end within `SCAN_BYTES`."""
    head, name = _scan(frame)
    return _TYPE_OF[head], name


def _scan(frame: bytes | bytearray | memoryview | str) -> tuple[bytes, bytes]:
    """`scan()` with the type as its head (a key of `_HEADS`, or b"" when malformed)."""
    if type(frame) is not bytes:  # str, or another bytes-like object
        if isinstance(frame, str):
            frame = frame[:SCAN_BYTES].encode("utf-8", "replace")
        else:
            frame = bytes(frame[:SCAN_BYTES])
    parts = frame[:SCAN_BYTES].split(b'"', 4)
    if len(parts) > 2 and parts[0] in _HEADS and _BACKSLASH not in parts[1]:
        if parts[0] == _RESULT:
            if parts[2][:1] == _COMMA:
                return _RESULT_KEY
        elif len(parts) == 5 and parts[2] == _COMMA and _BACKSLASH not in parts[3]:
            return parts[0], parts[3]
    return _scan_slowly(frame)


def _scan_slowly(frame: bytes) -> tuple[bytes, bytes]:
    """`_scan()` of a frame with whitespace or escapes in its start, or that is malformed."""
    match = _START.match(frame, 0, SCAN_BYTES)
    if match is None:
        return _MALFORMED_KEY
    head = b"[" + match.group(1) + b","
    if head == _RESULT:
        return _RESULT_KEY if match.group(3) is not None else _MALFORMED_KEY
    name = match.group(4)
    if name is None:
        return _MALFORMED_KEY
    if _BACKSLASH in name:  # as JSON decodes it: "Heart\u0062eat" is Heartbeat
        try:
            name = json.loads(b'"' + name + b'"').encode("utf-8", "replace")
        except ValueError:
            return _MALFORMED_KEY
    return head, name


# -- histograms --------------------------------------------------------------------------------


class Histogram:
    """Observations counted in fixed buckets: `counts[i]` counts the values `v` with
    `bounds[i-1] < v <= bounds[i]`, the last one those above every bound (+Inf)."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ValueError("bucket bounds must be given in increasing order, without repeats")
        self.bounds: tuple[float, ...] = tuple(float(bound) for bound in bounds)
        self.counts: list[int] = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        """Count `value` in its bucket."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def buckets(self) -> list[tuple[str, int]]:
        """The cumulative buckets as Prometheus has them: (upper bound "le", values <= it),
        ending with ("+Inf", count)."""
        counts = list(self.counts)  # a copy: a scrape from another thread sees one moment
        total = 0
        cumulative = []
        for bound, count in zip(self.bounds, counts, strict=False):
            total += count
            cumulative.append((repr(bound), total))  # as prometheus_client writes floats
        cumulative.append(("+Inf", sum(counts)))
        return cumulative


# -- the observer ------------------------------------------------------------------------------

# Every action and error code of every version: always a label value of its own.
_KNOWN_ACTIONS: frozenset[str] = frozenset().union(*KNOWN_ACTIONS.values())
_KNOWN_CODES: frozenset[str] = frozenset(ERROR_CLASSES)

_version_of = operator.attrgetter("version")

# head -> raw name -> frames; the name None counts those beyond the cap of their label.
_Counts = dict[bytes, dict[bytes | None, int]]


class Metrics(ConnectionObserver):
    """The metrics of the connections it observes, and of the storage's commits; `render()`
    gives them in the Prometheus text format. See the module docstring.

    - `server`: the `Server` whose connected stations are counted (may be set later, since the
      server takes its observer when it is created).
    - `max_label_values`: the cap on the distinct values of the `action` label, and of the
      `code` label (the specification's own are always kept).
    - `call_buckets`, `commit_buckets`: the histograms' bucket bounds, in seconds.
    - `process`: also export the process's CPU, memory and file descriptors (`process_*`).

    The observer methods run on the event loop; `render()` may run there or in another thread.
    """

    def __init__(
        self,
        server: Server | None = None,
        *,
        max_label_values: int = MAX_LABEL_VALUES,
        call_buckets: Sequence[float] = CALL_DURATION_BUCKETS,
        commit_buckets: Sequence[float] = COMMIT_BUCKETS,
        process: bool = True,
    ) -> None:
        if max_label_values < 1:
            raise ValueError("max_label_values must be positive")
        self.server = server
        self.max_label_values = max_label_values
        self._call_buckets = tuple(call_buckets)
        Histogram(self._call_buckets)  # checks the bounds now rather than at the first call
        # Frames by head and raw name, one table per direction: the heads and names in them are
        # what `_scan()` gives, the names admitted as label values (else None): see _tally().
        self._received: _Counts = {head: {} for head in _TYPE_OF}
        self._sent: _Counts = {head: {} for head in _TYPE_OF}
        # Raw name -> label value: the names admitted as their own label value.
        self._actions: dict[bytes, str] = {name.encode(): name for name in _KNOWN_ACTIONS}
        self._codes: dict[bytes, str] = {code.encode(): code for code in _KNOWN_CODES}
        self._call_durations: dict[str, Histogram] = {}
        self._calls_failed: dict[tuple[str, str], int] = {}
        self._quirks: dict[str, int] = {}
        self.commits = Histogram(commit_buckets)
        self.rows_written = 0
        self.commit_failures = 0
        #: The registry `render()` renders: this object's own, never prometheus_client's global
        #: one. Register more collectors in it to serve them at the same address.
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # a collector: see collect()
        if process:
            ProcessCollector(registry=self.registry)

    # -- ConnectionObserver: inline, for every frame -------------------------------------------

    def received(self, connection: Connection, data: bytes | str) -> None:
        if type(data) is not bytes:
            if isinstance(data, str):
                data = data[:SCAN_BYTES].encode("utf-8", "replace")
            else:
                data = bytes(data[:SCAN_BYTES])
        self._tally(self._received, data)

    def sent(self, connection: Connection, frames: list[bytes]) -> None:
        counts, tally = self._sent, self._tally
        for frame in frames:
            tally(counts, frame)

    def _tally(self, counts: _Counts, frame: bytes) -> None:
        # _scan()'s compact path, for every frame. Only _count_new() puts a (head, name) in
        # the table, from _scan(); a frame that splits into that head and name, without a
        # backslash in its id or name, is one _scan() reads the same: finding it there is enough.
        try:
            parts = frame[:SCAN_BYTES].split(b'"', 4)
            # [2,"<id>","<name>"  (92: a backslash, which may escape a quote)
            if len(parts) == 5 and parts[2] == b"," and 92 not in parts[1] and 92 not in parts[3]:
                counts[parts[0]][parts[3]] += 1
                return
            # [3,"<id>",
            if (
                parts[0] == b"[3,"
                and len(parts) > 2
                and parts[2][:1] == b","
                and 92 not in parts[1]
            ):
                counts[b"[3,"][b""] += 1
                return
        except (KeyError, TypeError, AttributeError):  # not counted yet, or not bytes
            pass
        self._count_new(counts, frame)

    def call_finished(
        self, connection: Connection, action: str, seconds: float, error: BaseException | None
    ) -> None:
        if action not in _KNOWN_ACTIONS:  # ours are the specification's: a bounded set
            action = OTHER
        if error is None or isinstance(error, OCPPError):  # answered: its round trip
            histogram = self._call_durations.get(action)
            if histogram is None:
                histogram = self._call_durations[action] = Histogram(self._call_buckets)
            histogram.observe(seconds)
            if error is None:
                return
        if isinstance(error, OCPPError):
            reason = "callerror"
        elif isinstance(error, CallTimeoutError):
            reason = "timeout"
        elif isinstance(error, SessionClosedError):
            reason = "closed"
        else:
            reason = "other"
        key = (action, reason)
        self._calls_failed[key] = self._calls_failed.get(key, 0) + 1

    def tolerated(self, connection: Connection, quirk: str) -> None:
        # Quirk names come from our own profiles: a bounded set.
        self._quirks[quirk] = self._quirks.get(quirk, 0) + 1

    # -- storage: GroupCommit's on_commit and on_failure -------------------------------------

    def commit(self, seconds: float, rows: int) -> None:
        """A group commit wrote `rows` rows in `seconds` (`GroupCommit(on_commit=...)`)."""
        self.commits.observe(seconds)
        self.rows_written += rows

    def commit_failed(self) -> None:
        """A group commit failed (`GroupCommit(on_failure=...)`)."""
        self.commit_failures += 1

    # -- rendering ---------------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The body and the Content-Type of the answer to a scrape of `/metrics`."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    # -- internals -------------------------------------------------------------------------

    def _count_new(self, counts: _Counts, frame: bytes | bytearray | memoryview | str) -> None:
        """Count a frame that the compact path did not: the first of its head and name, one
        whose name is beyond the cap of its label (counted under None), or one not compact."""
        head, name = _scan(frame)
        key: bytes | None = name
        if head in _ACTION_HEADS:
            names: dict[bytes, str] | None = self._actions
        elif head in _ERROR_HEADS:
            names = self._codes
        else:  # CALLRESULT, malformed: no name
            names = None
        if names is not None and name not in names:
            if len(names) >= self.max_label_values:
                key = None
            else:
                names[name] = name.decode("utf-8", "replace")
        names_counted = counts[head]
        names_counted[key] = names_counted.get(key, 0) + 1

    def _label(self, head: bytes, name: bytes | None) -> str:
        if name is None:
            return OTHER
        if head in _ACTION_HEADS:
            return self._actions.get(name, OTHER)
        return self._codes.get(name, OTHER)

    def collect(self) -> Iterator[Metric]:
        """The metric families, now: what prometheus_client asks its collectors for (this
        object is one, in `registry`)."""
        stations = GaugeMetricFamily(
            "ocppfast_stations_connected",
            "Charging stations connected now, by the OCPP version their connection uses.",
            labels=["version"],
        )
        server = self.server
        if server is not None:
            # In C: a scrape of a CSMS with 50,000 stations costs milliseconds.
            versions = Counter(dict.fromkeys(server.versions, 0))
            versions.update(map(_version_of, list(server.connections.values())))
            for version, count in sorted(versions.items()):
                stations.add_metric([version], count)
        yield stations

        messages: dict[tuple[str, str, str], int] = {}
        errors: dict[tuple[str, str], int] = {}
        for direction, table in (("in", self._received), ("out", self._sent)):
            counts = [
                (head, name, count)
                for head in _TYPE_OF
                for name, count in table[head].copy().items()
            ]
            for head, name, count in counts:
                if head in _ERROR_HEADS:
                    coded = (direction, self._label(head, name))
                    errors[coded] = errors.get(coded, 0) + count
                    action = ""
                elif head in _ACTION_HEADS:
                    action = self._label(head, name)
                else:
                    action = ""
                key = (direction, _TYPE_OF[head], action)
                messages[key] = messages.get(key, 0) + count
        family = CounterMetricFamily(
            "ocppfast_messages_total",
            "OCPP-J messages received (direction in) and sent (out), by message type and action."
            ' CALLRESULT and CALLERROR frames do not carry the action: theirs is "".'
            " type malformed: a frame that does not start like an OCPP-J message."
            " action other: an action beyond the limit on distinct actions.",
            labels=["direction", "type", "action"],
        )
        for key, count in sorted(messages.items()):
            family.add_metric(key, count)
        yield family
        family = CounterMetricFamily(
            "ocppfast_call_errors_total",
            "CALLERROR (and OCPP 2.1 CALLRESULTERROR) messages received (direction in) and sent"
            " (out), by error code. code other: a code beyond the limit on distinct codes.",
            labels=["direction", "code"],
        )
        for coded, count in sorted(errors.items()):
            family.add_metric(coded, count)
        yield family

        histograms = HistogramMetricFamily(
            "ocppfast_call_duration_seconds",
            "Seconds from sending one of our CALLs to the peer until its answer (a CALLRESULT or"
            " a CALLERROR) came, by action. CALLs that timed out or that a closed connection cut"
            " are not here but in ocppfast_calls_failed_total.",
            labels=["action"],
        )
        for action, histogram in sorted(self._call_durations.copy().items()):
            histograms.add_metric([action], histogram.buckets(), histogram.sum)
        yield histograms
        family = CounterMetricFamily(
            "ocppfast_calls_failed_total",
            "Our CALLs to the peer that did not get a CALLRESULT, by action and reason:"
            " callerror (answered with a CALLERROR, or an answer breaking its schema),"
            " timeout (no answer in time), closed (the connection closed first), other.",
            labels=["action", "reason"],
        )
        for failed, count in sorted(self._calls_failed.copy().items()):
            family.add_metric(failed, count)
        yield family
        family = CounterMetricFamily(
            "ocppfast_quirks_tolerated_total",
            "Schema violations by stations that a quirk profile let through instead of"
            " refusing the message, by quirk.",
            labels=["quirk"],
        )
        for quirk, count in sorted(self._quirks.copy().items()):
            family.add_metric([quirk], count)
        yield family

        yield HistogramMetricFamily(
            "ocppfast_storage_commit_seconds",
            "Seconds each group commit took to write its batch of changes to the database (one"
            " transaction; the answers acknowledging those changes wait for it).",
            buckets=self.commits.buckets(),
            sum_value=self.commits.sum,
        )
        yield CounterMetricFamily(
            "ocppfast_storage_rows_written_total",
            "Rows written to the database by group commits (inserted or updated).",
            value=self.rows_written,
        )
        yield CounterMetricFamily(
            "ocppfast_storage_commit_failures_total",
            "Group commits that failed: their changes are retried, and the messages they"
            " acknowledge stay unanswered until a commit succeeds.",
            value=self.commit_failures,
        )
