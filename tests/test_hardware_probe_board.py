"""`ocppfast hardware probe` and the EVSE controller board (`connectors.N.current_limit`).

A real `python -m ocppfast.cli hardware probe` process (the config tests' `Probe`) against
boards played by pymodbus's RTU server on pty pairs (the current-limit tests'
`simulated_board`, through the meter tests' `Cable`): an EVSE-WB's configured current and
vehicle state as they change, a generic board's register, the registers unchanged afterwards
(a probe must never change what the charger offers the EV), and a board that never answers.
"""

from __future__ import annotations

import re
from pathlib import Path

from ocppfast.hardware.modbus_evse import EVSE_WB_VEHICLE_STATE_REGISTER
from tests.aio import run
from tests.test_hardware_config import Probe
from tests.test_hardware_modbus_evse import BOOT, held, simulated_board
from tests.test_hardware_modbus_meter import Cable, Pty

# Function 3 (read holding registers): pymodbus's simulator applies a value given with any
# function code to the datastore, and `simulated_board` records only function 16 as a write,
# so the test can change the board's state without it counting as a write by the probe.
_SILENT_SET = 3


def test_probe_reads_the_boards_and_writes_nothing(tmp_path: Path) -> None:
    # An EVSE-WB with 16 A configured and an EV plugged in (state 2), and a generic board that
    # holds 0.1 A units in register 300 (16.0 A).
    wb_words = [16, 0, 2, *BOOT[3:]]

    async def main() -> tuple[int, list[str], list[int], list[int], int, int]:
        (tmp_path / "wb").mkdir()
        (tmp_path / "generic").mkdir()
        wb, generic = Cable(tmp_path / "wb"), Cable(tmp_path / "generic")
        config = tmp_path / "hardware.toml"
        config.write_text(
            f'[connectors.1.current_limit]\nport = "{wb.link}"\nmax_amps = 32\ntimeout = 2\n\n'
            f'[connectors.2.current_limit]\nport = "{generic.link}"\nmodel = "generic"\n'
            "unit_id = 2\nregister = 300\nscale = 10\nmax_amps = 20\ntimeout = 2\n"
        )
        wb_writes: list[int] = []
        generic_writes: list[int] = []
        try:
            async with (
                simulated_board(wb.device.path, words=wb_words, writes=wb_writes) as wb_server,
                simulated_board(
                    generic.device.path,
                    unit_id=2,
                    start=300,
                    words=[160],
                    writes=generic_writes,
                ) as generic_server,
            ):
                probe = await Probe.start(config)
                try:
                    wb_key = rf"connectors\.1\.current_limit: EVSE-WB on {re.escape(str(wb.link))}"
                    await probe.wait_for(
                        rf"{wb_key} unit 1: 16 A configured, vehicle state 2 \(EV present\)$"
                    )
                    await probe.wait_for(
                        rf"connectors\.2\.current_limit: generic on {re.escape(str(generic.link))}"
                        r" unit 2: 16 A configured \(register 300 = 160\)$"
                    )
                    # The probe reads again every second: the EV starts charging...
                    await wb_server.context.async_setValues(
                        1, _SILENT_SET, EVSE_WB_VEHICLE_STATE_REGISTER, [3]
                    )
                    await probe.wait_for(
                        rf"{wb_key} unit 1: 16 A configured, vehicle state 3 \(charging\)$"
                    )
                    # ... a value that is no vehicle state: the current still shows, the fault
                    # once with what to check ...
                    await wb_server.context.async_setValues(
                        1, _SILENT_SET, EVSE_WB_VEHICLE_STATE_REGISTER, [9]
                    )
                    await probe.wait_for(
                        rf"{wb_key} unit 1: 16 A configured, vehicle state unknown$"
                    )
                    await probe.wait_for(
                        r"connectors\.1\.current_limit: FAULT \(invalid_value\) .* vehicle state 9 "
                        r"\(register 1002\) is not 1\.\.5; check: model matches the board"
                    )
                    # ... and a valid state again.
                    await wb_server.context.async_setValues(
                        1, _SILENT_SET, EVSE_WB_VEHICLE_STATE_REGISTER, [4]
                    )
                    await probe.wait_for(
                        rf"{wb_key} unit 1: 16 A configured, "
                        r"vehicle state 4 \(charging with ventilation\)$"
                    )
                    code = await probe.interrupt()
                finally:
                    await probe.kill()
                return (
                    code,
                    probe.lines,
                    wb_writes,
                    generic_writes,
                    await held(wb_server, 1000),
                    await held(generic_server, 300, unit_id=2),
                )
        finally:
            wb.close()
            generic.close()

    code, lines, wb_writes, generic_writes, wb_current, generic_current = run(main(), timeout=60)
    output = "\n".join(lines)
    assert code == 0, output
    # Nothing written: no function 16 request reached either board, and the registers that
    # set the current the EV is offered still hold what they held before the probe.
    assert wb_writes == [] and generic_writes == [], output
    assert (wb_current, generic_current) == (16, 160)
    assert any(
        re.fullmatch(r"  connectors\.1\.current_limit \(.*\): ok, \d+ reading\(s\)", x)
        for x in lines
    ), output
    assert any(
        re.fullmatch(r"  connectors\.2\.current_limit \(.*\): ok, \d+ reading\(s\)", x)
        for x in lines
    ), output
    assert sum("FAULT" in line for line in lines) == 1, output


def test_probe_reports_a_silent_board(tmp_path: Path) -> None:
    silent = Pty()  # a board that is wired but never answers (no server on the far end)

    async def main() -> tuple[int, list[str]]:
        config = tmp_path / "hardware.toml"
        config.write_text(
            f'[connectors.1.current_limit]\nport = "{silent.path}"\nmax_amps = 16\ntimeout = 0.2\n'
        )
        probe = await Probe.start(config)
        try:
            await probe.wait_for(
                rf"connectors\.1\.current_limit: EVSE-WB board on {re.escape(silent.path)}, "
                r"unit 1, 9600 baud N1 \(read only: the probe writes nothing\)$"
            )
            await probe.wait_for(
                rf"connectors\.1\.current_limit: FAULT \(timeout\) no answer in 0\.2 s from "
                rf"{re.escape(silent.path)} unit 1, registers 1000\+1; check: unit_id, baudrate, "
                r"parity and stopbits match the board's settings; Modbus is enabled on the board"
            )
            return await probe.interrupt(), probe.lines
        finally:
            await probe.kill()

    try:
        code, lines = run(main(), timeout=60)
    finally:
        silent.close()
    output = "\n".join(lines)
    assert code == 1, output
    assert f"  connectors.1.current_limit ({silent.path}): NO ANSWER" in lines, output
    # The same fault on every reading is printed once.
    assert sum("FAULT" in line for line in lines) == 1, output
