"""Issue 9 end to end: a real charger's software on simulated electronics, against the CSMS.

`ocppfast serve` and `ocppfast station --hardware-config FILE` run as real processes; the
station's hardware is the kernel's gpio-sim chip (the plug switch, the contactor and its
auxiliary contact, the emergency stop, the status LEDs) and serial lines (pty cables) to
pymodbus's RTU server playing an Eastron SDM630 energy meter and another playing an EVSE-WB
controller board (the current-limit output), and an EM4100 RFID reader writing its frames.
The test acts as the outside world: it pulls the plug line, holds a card to the reader, closes
the contactor's auxiliary contact when the contactor line goes active (the relay following its
coil), moves the meter's registers; and reads what the operator sees through the API.

Runs in the VM (tests/vm); elsewhere it skips with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ocppfast._core import Backend
from tests.cli_process import CliProcess
from tests.gpio.conftest import HAVE_GPIO_SIM, SKIP_REASON, SimChip

if not HAVE_GPIO_SIM:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from ocppfast.hardware.rfid import em4100_frame
from tests.test_hardware_modbus_evse import BOOT, held, simulated_board
from tests.test_hardware_modbus_meter import Cable, Pty, float_registers, simulated_meter
from tests.test_serve_station_operations import Serve

T = TypeVar("T")

# Emulated (TCG) machines are slow: what takes a second on the host takes several here.
DEADLINE = 90.0

LINES = {
    0: "PLUG",
    1: "CONTACTOR",
    2: "FEEDBACK",
    3: "ESTOP",
    4: "LED_AVAILABLE",
    5: "LED_CHARGING",
    6: "LED_FAULT",
}

# SDM630 input registers (float32, high word first): energy import (kWh) at 0x0048, total
# power (W) at 0x0034, L1-L3 voltage at 0x0000.., current at 0x0006..
SDM630_ENERGY = 0x0048


def meter_image(energy_kwh: float, watts: float) -> list[int]:
    return float_registers(
        {
            0x0000: 230.0,
            0x0002: 231.0,
            0x0004: 229.0,
            0x0006: watts / 690,
            0x0008: watts / 690,
            0x000A: watts / 690,
            0x0034: watts,
            SDM630_ENERGY: energy_kwh,
        },
        0x50,
    )


class Devices:
    """The serial devices, simulated in a thread with an event loop of its own (the test's
    own code is synchronous: it polls the API)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._exits = contextlib.AsyncExitStack()
        self.call(self._start())

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    async def _start(self) -> None:
        for name in ("meter", "board"):
            (self.root / name).mkdir()
        self.meter_cable = Cable(self.root / "meter")
        self.meter = await self._exits.enter_async_context(
            simulated_meter(self.meter_cable.device.path, 1, meter_image(1234.5, 0.0))
        )
        self.board_cable = Cable(self.root / "board")
        self.board = await self._exits.enter_async_context(
            simulated_board(self.board_cable.device.path, words=list(BOOT))
        )
        self.reader = Pty()

    def set_meter(self, energy_kwh: float, watts: float) -> None:
        async def write() -> None:
            await self.meter.context.async_setValues(1, 4, 0, meter_image(energy_kwh, watts))

        self.call(write())

    def board_current(self) -> int:
        return self.call(held(self.board, 1000))

    def show_card(self, card: bytes) -> None:
        import os

        os.write(self.reader.master, em4100_frame(card))

    def close(self) -> None:
        async def stop() -> None:
            await self._exits.aclose()
            self.meter_cable.close()
            self.board_cable.close()
            self.reader.close()

        self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def config_file(path: Path, chip: SimChip, devices: Devices) -> Path:
    path.write_text(
        f"""
[gpio]
chip = "{chip.chip_name}"

[emergency_stop]
line = "ESTOP"

[connectors.1]
plug = {{ line = "PLUG", debounce = 0.01 }}
contactor = {{ line = "CONTACTOR", feedback = {{ line = "FEEDBACK" }} }}
leds = {{ available = "LED_AVAILABLE", charging = "LED_CHARGING", fault = "LED_FAULT" }}
meter = {{ port = "{devices.meter_cable.link}", model = "SDM630", interval = 1 }}
rfid = {{ port = "{devices.reader.path}", format = "em4100" }}
current_limit = {{ port = "{devices.board_cable.link}", model = "EVSE-WB", max_amps = 32 }}
"""
    )
    return path


def poll(what: str, fetch: Callable[[], T], done: Callable[[T], bool], *logs: Any) -> T:
    deadline = time.monotonic() + DEADLINE
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            shown = "\n".join(f"--- {p.args[0]} log:\n{p.log}" for p in logs)
            raise AssertionError(f"{what}: not within {DEADLINE} s; last: {value!r}\n{shown}")
        time.sleep(0.2)


class Relay:
    """The contactor's auxiliary contact follows its coil, as a real relay's does: a thread
    copies the CONTACTOR line's level to the FEEDBACK line's pull."""

    def __init__(self, chip: SimChip) -> None:
        self.chip = chip
        self.stuck = False  # True: the contact stays where it is (a welded contactor)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        shown = None
        while not self._stop.wait(0.02):
            level = self.chip.level("CONTACTOR")
            if level != shown and not self.stuck:
                self.chip.pull("FEEDBACK", "pull-up" if level else "pull-down")
                shown = level

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def charger(tmp_path: Path) -> Iterator[tuple[SimChip, Devices, Relay]]:
    """The charger's simulated electronics: a gpio-sim chip with its lines, the serial devices
    and the relay's auxiliary contact."""
    chip = SimChip(LINES)
    for line in ("PLUG", "ESTOP", "FEEDBACK"):
        chip.pull(line, "pull-down")
    devices = Devices(tmp_path)
    relay = Relay(chip)
    try:
        yield chip, devices, relay
    finally:
        relay.close()
        devices.close()
        chip.remove()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_charging_session_on_real_lines(
    core: Backend, tmp_path: Path, charger: tuple[SimChip, Devices, Relay], version: str
) -> None:
    """Plug in -> Preparing (1.6) / Occupied (2.x); a card on the reader -> authorized, the
    transaction starts and the contactor line goes active; the meter values are the Modbus
    meter's; a charging profile from the operator API sets the EVSE board's current; a welded
    contactor (its contact stuck closed after the command to open) is a fault; unplugging ends
    the transaction; stopping the station leaves every output inactive."""
    chip, devices, relay = charger
    v16 = version == "1.6"
    serve = Serve(core, tmp_path / "serve", timeout=DEADLINE)
    with serve.process:
        hardware = config_file(tmp_path / "charger.toml", chip, devices)
        station = CliProcess(
            core, "station", "--url", serve.url, "--id", "PI-1", "--ocpp", version,
            "--hardware-config", str(hardware), "--meter-interval", "2", "--in-memory",
            "--log-level", "debug", cwd=str(tmp_path),
        )  # fmt: skip
        with station:
            station.wait_for(r"all 1 stations connected and booted", timeout=DEADLINE)
            logs = (station, serve.process)
            path = "/api/stations/PI-1"

            def status() -> str | None:
                for c in serve.ok("GET", path)["connectors"]:
                    if (c["connectorId"] if v16 else c["evseId"]) == 1:
                        return str(c["status"])
                return None

            poll("Available", status, lambda s: s == "Available", *logs)
            assert chip.level("LED_AVAILABLE") == 1 and chip.level("CONTACTOR") == 0

            chip.pull("PLUG", "pull-up")
            plugged = "Preparing" if v16 else "Occupied"
            poll(plugged, status, lambda s: s == plugged, *logs)

            devices.show_card(bytes.fromhex("0A0B0C0D0E"))

            def active() -> list[Any]:
                listed = serve.ok("GET", "/api/transactions?station=PI-1&active=true")
                return list(listed["transactions"])

            (transaction,) = poll("the transaction", active, bool, *logs)
            assert transaction["idToken"] == "0A0B0C0D0E"
            poll("the contactor", lambda: chip.level("CONTACTOR"), lambda v: v == 1, *logs)
            assert chip.level("LED_CHARGING") == 1 and chip.level("LED_AVAILABLE") == 0
            if v16:
                poll("Charging", status, lambda s: s == "Charging", *logs)

            # The meter's register, not a simulation: 1234.5 kWh at the start.
            tid = transaction["transactionId"]

            def energies() -> list[float]:
                detail = serve.ok("GET", f"/api/transactions/{tid}?station=PI-1&limit=1000")
                return [
                    float(v["value"])
                    for v in detail["meterValues"]
                    if v["measurand"] in (None, "Energy.Active.Import.Register")
                ]

            devices.set_meter(1236.0, 7000.0)
            poll("the meter's reading", energies, lambda e: 1_236_000.0 in e, *logs)

            # Smart charging: the operator limits the connector to 10 A.
            body = {
                **({"connectorId": 1} if v16 else {"evseId": 1}),
                "stackLevel": 1,
                "purpose": "TxDefaultProfile",
                "kind": "Relative",
                "schedule": {"unit": "A", "periods": [{"startPeriod": 0, "limit": 10}]},
            }
            answer = serve.ok("POST", f"{path}/charging-profiles", body)
            assert answer["result"]["status"] == "Accepted", answer
            poll("the board's current", devices.board_current, lambda a: a == 10, *logs)

            # Unplugging ends the transaction and opens the contactor.
            devices.set_meter(1237.25, 0.0)
            poll("the last reading", energies, lambda e: 1_237_250.0 in e, *logs)
            chip.pull("PLUG", "pull-down")
            poll("the end", active, lambda t: not t, *logs)
            poll("the contactor open", lambda: chip.level("CONTACTOR"), lambda v: v == 0, *logs)
            poll("Available again", status, lambda s: s == "Available", *logs)
            detail = serve.ok("GET", f"/api/transactions/{tid}?station=PI-1")
            assert (detail["meterStart"], detail["meterStop"]) == (1_234_500, 1_237_250), detail

            # A welded contactor: the contact stays closed after the command to open.
            chip.pull("PLUG", "pull-up")
            devices.show_card(bytes.fromhex("0A0B0C0D0E"))
            poll("charging again", lambda: chip.level("CONTACTOR"), lambda v: v == 1, *logs)
            # Once the contact has followed the coil (closed), it sticks there.
            poll("the contact closed", lambda: chip.level("FEEDBACK"), lambda v: v == 1, *logs)
            relay.stuck = True
            chip.pull("PLUG", "pull-down")
            poll("Faulted", status, lambda s: s == "Faulted", *logs)
            assert chip.level("LED_FAULT") == 1 and chip.level("CONTACTOR") == 0
            relay.stuck = False
            chip.pull("FEEDBACK", "pull-down")  # the contact opens at last
            poll("repaired", status, lambda s: s == "Available", *logs)
            assert station.count(r"Traceback") == 0, station.log
        # Stopped (SIGTERM): every output inactive.
        assert [chip.level(line) for line in ("CONTACTOR", "LED_AVAILABLE", "LED_CHARGING")] == [
            0,
            0,
            0,
        ]
