"""`ocppfast station` keeps its data and runs many stations with simulated drivers (issue 7,
items 1 and 6): the drivers' loop in-process (deterministic with a seed, errors counted, never
fatal), and the command as real processes against `ocppfast serve` on 127.0.0.1 (20 stations
charging, seen by the CSMS's API; the data dir created and reused; one process per data file)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import logging
import os
import re
import signal
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ocppfast._core import Backend
from ocppfast.exceptions import CallTimeoutError, GenericError
from ocppfast.station import StationConfig, StationError
from ocppfast.station.fleet import (
    ChargingLoop,
    ChargingPlan,
    Fleet,
    FleetStats,
    Progress,
    ProgressLine,
    Span,
)
from ocppfast.station.store import DataFileLocked, StationStore
from tests.aio import run, until
from tests.cli_process import CliProcess, serve

TOKEN = "fleet-test-token-0123456789abcdef"

# --------------------------------------------------------------------------------------------
# The drivers' loop, in-process, against a station that records what it is asked


class RecordingStation:
    """What a ChargingLoop uses of a Station16 / StationV2, recording each call; `refuse` is
    raised by start_transaction when set."""

    def __init__(self, identity: str = "CP-T") -> None:
        self.config = StationConfig(identity=identity)
        self.booted = asyncio.Event()
        self.booted.set()
        self.transactions: dict[int, Any] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.refuse: Exception | None = None
        self._next = 0

    async def plug_in(self, connector: int) -> None:
        self.calls.append(("plug_in", connector))

    async def unplug(self, connector: int) -> None:
        self.calls.append(("unplug", connector))
        self.transactions.pop(connector, None)

    async def start_transaction(self, connector: int, token: str) -> str:
        self.calls.append(("start", connector, token))
        if self.refuse is not None:
            raise self.refuse
        self._next += 1
        self.transactions[connector] = SimpleNamespace(id=f"T{self._next}")
        return f"T{self._next}"

    async def stop_transaction(self, connector: int, reason: str) -> None:
        self.calls.append(("stop", connector, reason))
        del self.transactions[connector]


async def drive(
    station: RecordingStation,
    plan: ChargingPlan,
    waits: int,
    *,
    online: bool = True,
    stats: FleetStats | None = None,
) -> tuple[list[float], FleetStats]:
    """Run a driver at connector 1 until it has waited `waits` times (no real time passes:
    its sleep records the seconds), then stop it; return the waits and the counters."""
    stats = stats if stats is not None else FleetStats()
    recorded: list[float] = []
    driver: ChargingLoop

    async def sleep(seconds: float) -> None:
        recorded.append(seconds)
        if len(recorded) >= waits:
            driver.stop()  # idle: cancels the driver's task
        await asyncio.sleep(0)

    driver = ChargingLoop(station, 1, plan, stats, online=lambda: online, sleep=sleep)
    with contextlib.suppress(asyncio.CancelledError):
        await driver.start()
    return recorded, stats


PLAN = ChargingPlan(charge_time=Span(10, 20), pause=Span(1, 3), seed=42)


def test_span_reads_min_max_seconds(core: Backend) -> None:
    """--charge-time / --pause: MIN-MAX in seconds, or one number; anything else is refused."""
    assert Span.parse("120-600") == Span(120.0, 600.0)
    assert Span.parse(" 0.5-2 ") == Span(0.5, 2.0)
    assert Span.parse("60") == Span(60.0, 60.0)
    for bad in ("", "a-b", "10-5", "-3", "1-", "nan", "1-inf"):
        with pytest.raises(ValueError, match="MIN-MAX"):
            Span.parse(bad)


def test_the_driver_cycles_plug_start_charge_stop_unplug_pause(core: Backend) -> None:
    """Each cycle: plug in, present a token (the station authorizes and starts), charge for a
    time within --charge-time, stop with reason Local, unplug, pause within --pause; the first
    visit comes after a random part of a pause."""
    station = RecordingStation()
    waits, stats = run(drive(station, PLAN, waits=7))
    assert 0 <= waits[0] <= PLAN.pause.high
    charges, pauses = waits[1::2], waits[2::2]
    assert len(charges) == 3 and all(10 <= w <= 20 for w in charges)
    assert len(pauses) == 3 and all(1 <= w <= 3 for w in pauses)
    tokens = [call[2] for call in station.calls if call[0] == "start"]
    assert len(tokens) == 3 and all(re.fullmatch(r"[0-9A-F]{8}", t) for t in tokens)
    assert station.calls == [
        step
        for token in tokens
        for step in (("plug_in", 1), ("start", 1, token), ("stop", 1, "Local"), ("unplug", 1))
    ]
    assert (stats.started, stats.completed, stats.error_count) == (3, 3, 0)


def test_the_driver_is_deterministic_with_a_seed(core: Backend) -> None:
    """--seed: the same seed gives the same tokens and durations for the same station and
    connector, whatever the CSMS answers; another seed or another station, others."""
    first, again, refused = RecordingStation(), RecordingStation(), RecordingStation()
    refused.refuse = StationError("id token is not authorized")
    waits1, _ = run(drive(first, PLAN, waits=9))
    waits2, _ = run(drive(again, PLAN, waits=9))
    assert waits1 == waits2 and first.calls == again.calls
    # A refused start draws the same charge time it would have used: the sequence holds.
    waits3, _ = run(drive(refused, PLAN, waits=5))
    tokens = [c[2] for c in first.calls if c[0] == "start"]
    assert [c[2] for c in refused.calls if c[0] == "start"] == tokens[:4]
    assert waits3 == [waits1[0], *waits1[2::2][:4]]
    other_seed, _ = run(drive(RecordingStation(), dataclasses.replace(PLAN, seed=43), waits=9))
    other_station, _ = run(drive(RecordingStation("CP-U"), PLAN, waits=9))
    assert other_seed != waits1 and other_station != waits1
    # Given tokens: one of them each time.
    listed = RecordingStation()
    run(drive(listed, dataclasses.replace(PLAN, id_tokens=("TAG-1", "TAG-2")), waits=21))
    chosen = {c[2] for c in listed.calls if c[0] == "start"}
    assert chosen == {"TAG-1", "TAG-2"}


def test_errors_are_counted_and_the_driver_goes_on(core: Backend) -> None:
    """A refused start (token not accepted, connector unavailable) and one tried offline are
    counted by kind, the EV is taken away, and the next driver comes after the pause; a fault
    of the station's own never ends the loop either."""
    station = RecordingStation()
    station.refuse = StationError("id token 0A1B2C3D is not authorized")
    waits, stats = run(drive(station, PLAN, waits=4))
    assert stats.errors == {"start refused": 3} and stats.started == 0
    assert station.calls[:3] == [("plug_in", 1), station.calls[1], ("unplug", 1)]
    assert all(1 <= w <= 3 for w in waits[1:])  # a pause after each failure, no spinning
    _, stats = run(drive(station, PLAN, waits=3, online=False))
    assert stats.errors == {"start offline": 2}
    station.refuse = RuntimeError("a bug in the station")
    _, stats = run(drive(station, PLAN, waits=3))
    assert stats.errors == {"unexpected": 2}


def test_a_connector_busy_with_another_transaction_is_left_alone(core: Backend) -> None:
    """A transaction the driver did not start (a remote start by the CSMS) is not touched: no
    plug, no unplug (which would end it)."""
    station = RecordingStation()
    station.transactions[1] = SimpleNamespace(id="REMOTE-1")
    waits, stats = run(drive(station, PLAN, waits=3))
    assert station.calls == [] and stats.error_count == 0 and len(waits) == 3


def test_a_transaction_ended_by_someone_else_is_not_stopped_again(core: Backend) -> None:
    """When the CSMS (a remote stop) or the station ended the transaction during the charge,
    the driver only unplugs, and counts it completed."""
    station = RecordingStation()
    stats = FleetStats()

    async def main() -> None:
        async def sleep(seconds: float) -> None:
            station.transactions.pop(1, None)  # ended meanwhile
            await asyncio.sleep(0)

        driver = ChargingLoop(station, 1, PLAN, stats, online=lambda: True, sleep=sleep)
        await driver.cycle()

    run(main())
    assert [c[0] for c in station.calls] == ["plug_in", "start", "unplug"]
    assert (stats.started, stats.completed, stats.error_count) == (1, 1, 0)


def test_the_driver_waits_for_the_boot_and_stops_at_once_while_waiting(core: Backend) -> None:
    """No visit before the station is accepted (it could not start anything); stop() ends a
    wait at once."""

    async def main() -> list[tuple[Any, ...]]:
        station = RecordingStation()
        station.booted.clear()
        driver = ChargingLoop(station, 1, PLAN, FleetStats(), online=lambda: True)
        task = driver.start()
        for _ in range(20):  # let it run as far as it would
            await asyncio.sleep(0)
        assert not task.done()
        driver.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return station.calls

    assert run(main()) == []


def test_fleet_stats_count_frames_and_failed_calls(core: Backend) -> None:
    """The progress line's messages/s and errors: every frame each way; a CALLERROR or a
    timeout answer to a station's own CALL."""
    stats = FleetStats()
    connection: Any = None
    stats.sent(connection, [b"a", b"b"])
    stats.received(connection, b"c")
    stats.call_finished(connection, "Authorize", 0.1, None)
    stats.call_finished(connection, "Authorize", 0.1, GenericError("x"))
    stats.call_finished(connection, "Heartbeat", 30.0, CallTimeoutError("Heartbeat", "7", 30.0))
    assert (stats.messages_sent, stats.messages_received, stats.messages) == (2, 1, 3)
    assert stats.errors == {"CALLERROR": 1, "timeout": 1} and stats.error_count == 2


def test_the_progress_line_is_rewritten_in_place_on_a_terminal(core: Backend) -> None:
    """Issue 7 item 6: on a terminal one line, rewritten in place each tick; a log line written
    meanwhile erases it first (the next tick draws it again below)."""
    stream = io.StringIO()
    samples = iter(range(1, 1000))

    class Sampled:
        def progress(self) -> Progress:
            n = next(samples)
            return Progress(
                stations=2, started=2, connected=2, booted=1, charging=1, completed=3,
                messages=10 * n, errors=0, elapsed=65,
            )  # fmt: skip

    fleet: Any = Sampled()
    line = ProgressLine(fleet, 10, stream=stream, tty=True)
    line._TICK = 0.001
    handler = logging.StreamHandler(stream)
    line.interleave(handler)

    async def main() -> None:
        task = asyncio.ensure_future(line.run())
        await until(lambda: stream.getvalue().count("\r[") >= 2)
        handler.emit(logging.LogRecord("t", logging.INFO, "", 0, "a log line", None, None))
        task.cancel()
        await asyncio.wait({task})

    run(main())
    text = stream.getvalue()
    shown = "[1:05] stations 2/2 connected, 1 booted | transactions 1 charging, 3 completed | "
    assert text.startswith("\r" + shown) and "\x1b[K\r" + shown in text, text
    assert "\r\x1b[Ka log line\n" in text, text


def test_fleet_identities_and_their_limit(core: Backend) -> None:
    """--count N: <id>-1 .. <id>-N (one keeps <id>); none longer than 48 characters."""
    assert Fleet.identities_for("CP", 1) == ["CP"]
    assert Fleet.identities_for("CP", 3) == ["CP-1", "CP-2", "CP-3"]
    with pytest.raises(ValueError, match="longer than 48"):
        Fleet.identities_for("X" * 46, 100)


def test_a_data_file_is_locked_for_one_process(core: Backend, tmp_path: Path) -> None:
    """Two holders of one station data file would write the same stations' data: a second
    `StationStore.open` is refused at once, told which process holds it (a failed open leaves
    the lock as it was); closed, the file is free again. `lock=False` only looks."""

    async def main() -> None:
        path = tmp_path / "data" / "station.sqlite3"
        store = await StationStore.open(path)
        for _ in range(2):
            with pytest.raises(DataFileLocked) as refused:
                await StationStore.open(path)
            assert refused.value.holder == os.getpid() and str(path) in str(refused.value)
        await (await StationStore.open(path, lock=False)).close()
        with pytest.raises(DataFileLocked):  # closing the look released nothing
            await StationStore.open(path)
        await store.close()
        await (await StationStore.open(path)).close()

    run(main())


# --------------------------------------------------------------------------------------------
# The command, as real processes


def _api(base: str, path: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _serve(core: Backend) -> tuple[CliProcess, str, str]:
    server, url = serve(core, "--api-token", TOKEN, "--database", "memory")
    api = server.wait_for(r"operator API on (http://\S+)/api ").group(1)
    return server, url, api


@pytest.mark.parametrize("ocpp", ["1.6", "2.0.1"])
def test_twenty_stations_charge_against_serve(core: Backend, ocpp: str) -> None:
    """Issue 7 item 6: `--count 20 --transactions` with short charges: all 20 connect and boot,
    transactions start and complete and the CSMS has them (ended, reason Local), the progress
    line is logged, and SIGINT stops everything cleanly (code 0, a summary, no traceback)."""
    server, url, api = _serve(core)
    with server:
        with CliProcess(
            core, "station", "--url", url, "--id", "FLEET", "--ocpp", ocpp, "--count", "20",
            "--connect-rate", "50", "--transactions", "--charge-time", "0.5-1.5",
            "--pause", "0.2-0.5", "--meter-interval", "1", "--progress-interval", "1",
            "--seed", "7",
        ) as fleet:  # fmt: skip
            fleet.wait_for(r"all 20 stations connected and booted", timeout=30)
            fleet.wait_for(r"stations 20/20 connected, 20 booted \|.* [1-9]\d* completed")
            stations = _api(api, "/api/stations?connected=true&limit=100")
            assert {s["identity"] for s in stations["stations"]} == {
                f"FLEET-{n}" for n in range(1, 21)
            }
            ended = _api(api, "/api/transactions?active=false&limit=1000")["transactions"]
            assert ended and all(t["stopReason"] == "Local" for t in ended), ended
            assert {t["station"] for t in ended} <= {f"FLEET-{n}" for n in range(1, 21)}
            assert fleet.stop(signal.SIGINT, timeout=30) == 0
        summary = fleet.wait_for(rf"summary: 20 station\(s\), ocpp{re.escape(ocpp)}, all connected")
        assert "errors: none" in summary.string, fleet.log
        fleet.wait_for(r"stopped$")
        assert fleet.count(r"Traceback|ERROR") == 0, fleet.log
        # The transactions running at SIGINT were ended too, before the connections closed.
        assert not _api(api, "/api/transactions?active=true")["transactions"]
        assert server.stop() == 0
    assert server.count(r"Traceback|ERROR") == 0, server.log


@pytest.mark.parametrize(
    ("ocpp", "key", "value"),
    [
        ("1.6", "MeterValueSampleInterval", "17"),
        ("2.0.1", "SampledDataCtrlr.TxUpdatedInterval", "17"),
    ],
)
def test_a_restarted_station_keeps_what_the_csms_configured(
    core: Backend, tmp_path: Path, ocpp: str, key: str, value: str
) -> None:
    """Issue 7 item 1: the data dir (default ./ocppfast-station-data) is created, logged, and
    used again at the next start: a setting the CSMS changed (ChangeConfiguration /
    SetVariables through the API) is still there after a restart."""
    server, url, api = _serve(core)
    identity = "KEEP-" + ocpp.replace(".", "")
    args = ("station", "--url", url, "--id", identity, "--ocpp", ocpp)
    with server:
        with CliProcess(core, *args, cwd=str(tmp_path)) as first:
            shown = first.wait_for(r"station data kept in (\S+)").group(1)
            assert Path(shown) == tmp_path / "ocppfast-station-data" / "station.sqlite3"
            server.wait_for(rf"{identity}: boot .*Accepted")
            answer = _api(
                api,
                f"/api/stations/{identity}/configuration",
                "PUT",
                {"key": key, "value": value},
            )
            assert "error" not in answer, answer
            assert first.stop(signal.SIGINT) == 0
        assert Path(shown).is_file()
        restarted = len(server.lines)
        with CliProcess(core, *args, cwd=str(tmp_path)) as second:
            server.wait_for(rf"{identity}: boot .*Accepted", after=restarted)
            second.wait_for(r"station data kept in")
            read = _api(api, f"/api/stations/{identity}/configuration?key={key}")
            result = read["result"]
            kept = (
                result["configurationKey"][0]["value"]
                if ocpp == "1.6"
                else result["getVariableResult"][0]["attributeValue"]
            )
            assert kept == value, read
            assert second.stop(signal.SIGINT) == 0
        assert server.stop() == 0
    assert second.count(r"Traceback|ERROR") == 0, second.log


def test_a_second_process_on_the_same_data_fails_fast(core: Backend, tmp_path: Path) -> None:
    """SQLite would let two processes share the file (and overwrite each other's stations):
    the second `ocppfast station` on one data dir exits at once with code 1, saying which
    process holds it and what to do; --in-memory keeps nothing on disk."""
    args = ("station", "--url", "ws://127.0.0.1:9", "--data-dir", str(tmp_path / "data"))
    with CliProcess(core, *args) as first:
        first.wait_for(r"station data kept in")
        with CliProcess(core, *args) as second:
            assert second.process.wait(30) == 1, second.log
        pid = first.process.pid
        assert re.search(
            rf"ERROR .*station\.sqlite3 is in use by process {pid}: .*stop that one, or give "
            r"this one another --data-dir \(or --in-memory\)",
            second.log,
        ), second.log
        assert second.count("Traceback") == 0, second.log
        assert first.stop(signal.SIGINT) == 0
    with CliProcess(core, "station", "--url", "ws://127.0.0.1:9", "--in-memory") as memory:
        memory.wait_for(r"--in-memory: nothing is kept")
        assert memory.stop(signal.SIGINT) == 0
        assert not (Path(memory.cwd) / "ocppfast-station-data").exists()


def test_a_library_fleet_notes_when_all_were_booted(core: Backend) -> None:
    """Without a progress line (library use), the summary still says when every station was
    connected and booted."""
    from ocppfast.asyncio.server import Server
    from ocppfast.csms import CsmsState, default_csms

    async def main() -> str:
        server = Server(default_csms(CsmsState()), host="127.0.0.1", port=0, core=core)
        await server.start()
        try:
            fleet = Fleet(
                server.url, StationConfig(identity="LIB"), "ocpp2.0.1", count=3, core=core
            )
            stop = asyncio.Event()
            running = asyncio.ensure_future(fleet.run(stop))
            await until(lambda: fleet.all_booted_after is not None)
            stop.set()
            await asyncio.wait_for(running, 20)
            return fleet.summary()
        finally:
            await server.stop()

    summary = run(main())
    assert "3 station(s)" in summary and "all connected and booted after" in summary, summary


def test_a_fleet_gives_each_station_its_hardware_and_small_diagnostics_rings(
    core: Backend,
) -> None:
    """`hardware=` makes each station's backend (the CLI's --firmware-install-command); each
    station of a fleet keeps a few KiB of log lines and frames for a diagnostics upload, not
    the 768 KiB of a station alone."""
    from ocppfast.asyncio.server import Server
    from ocppfast.csms import CsmsState, default_csms
    from ocppfast.hardware import SimulatedHardware

    made: list[SimulatedHardware] = []

    def hardware() -> SimulatedHardware:
        made.append(SimulatedHardware(install_command=["true"]))
        return made[-1]

    async def main() -> None:
        server = Server(default_csms(CsmsState()), host="127.0.0.1", port=0, core=core)
        await server.start()
        try:
            fleet = Fleet(
                server.url,
                StationConfig(identity="HW"),
                "ocpp1.6",
                count=2,
                core=core,
                hardware=hardware,
            )
            stop = asyncio.Event()
            running = asyncio.ensure_future(fleet.run(stop))
            await until(lambda: fleet.all_booted_after is not None)
            stations = [member.station for member in fleet.members]
            assert [s.hardware for s in stations] == made and len(made) == 2
            assert {(s.traffic.limit, s.log.ring.limit) for s in stations} == {(4096, 2048)}
            stop.set()
            await asyncio.wait_for(running, 20)
        finally:
            await server.stop()

    run(main())
