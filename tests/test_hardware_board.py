"""`Board`, the hardware of a real charger from its configuration file, driving a station: its
serial devices on real pty lines (pymodbus's RTU server as the SDM630 meter and as the EVSE-WB
board, a fake EM4100 reader writing frames), a Station16 on a loopback pair with the test
Central System. The GPIO lines and the whole charger as real processes run in the VM
(tests/gpio/test_charger_end_to_end.py); `ocppfast station --hardware-config` refusals here."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cli import app
from ocppfast import v16
from ocppfast._core import Backend
from ocppfast.hardware.board import Board
from ocppfast.hardware.config import parse_config
from ocppfast.hardware.rfid import em4100_frame
from ocppfast.station.config import StationConfig
from ocppfast.station.v16 import Station16
from tests import aio
from tests import test_station_v16 as t16
from tests.test_hardware_modbus_evse import BOOT, held, simulated_board
from tests.test_hardware_modbus_meter import Cable, Pty, float_registers, simulated_meter
from tests.test_station_smart_charging import profile16, set16

_Status = v16.ChargePointStatus


@contextlib.asynccontextmanager
async def charger(root: Path) -> AsyncIterator[tuple[Board, Any, Any, Pty, Cable]]:
    """A Board with connector 1's meter, reader and current-limit board on pty lines; yields
    (board, the meter's server, the board's server, the reader's pty, the meter's cable)."""
    for name in ("meter", "board"):
        (root / name).mkdir()
    meter_cable, board_cable, reader = Cable(root / "meter"), Cable(root / "board"), Pty()
    image = float_registers({0x0034: 3600.0, 0x0048: 42.5}, 0x50)  # 3.6 kW, 42.5 kWh
    async with contextlib.AsyncExitStack() as stack:
        meter = await stack.enter_async_context(simulated_meter(meter_cable.device.path, 1, image))
        evse = await stack.enter_async_context(
            simulated_board(board_cable.device.path, words=list(BOOT))
        )
        config = parse_config(
            {
                "connectors": {
                    "1": {
                        "meter": {"port": str(meter_cable.link), "interval": 0.2},
                        "rfid": {"port": reader.path},
                        "current_limit": {"port": str(board_cable.link), "max_amps": 32},
                    }
                }
            }
        )
        board = Board(config)
        try:
            yield board, meter, evse, reader, meter_cable
        finally:
            await board.close()
            meter_cable.close()
            board_cable.close()
            reader.close()


def test_board_drives_a_station(core: Backend, tmp_path: Path) -> None:
    """A card on the reader starts the transaction with the meter's register as meterStart
    (C16 4.8); a TxDefaultProfile of 10 A reaches the EVSE board's current register; the meter's
    cable pulled is a PowerMeterFailure warning (C16 4.9), plugged back it clears; the
    board's current goes back to its rating when the profile is cleared."""

    async def main() -> None:
        async with charger(tmp_path) as (board, _, evse, reader, meter_cable):
            station = Station16(
                StationConfig("PI", connectors=1), clock=t16.Clock(), hardware=board
            )
            await board.open()
            link = t16.Link(core, station, t16.Csms())
            await link.booted()
            await aio.until(lambda: board.meter_reading(1) is not None)
            await station.plug_in(1)  # this charger has no plug line: the simulated EV
            os.write(reader.master, em4100_frame(bytes.fromhex("1122334455")))
            (start,) = await link.csms.wait_for("StartTransaction")
            assert (start.id_tag, start.meter_start) == ("1122334455", 42_500)
            assert await set16(link, 1, profile16(1, "TxDefaultProfile", 10)) == "Accepted"
            for _ in range(500):  # the board's writer applies it within a few requests
                if await held(evse, 1000) == 10:
                    break
                await asyncio.sleep(0.02)
            assert await held(evse, 1000) == 10
            meter_cable.unplug()
            await link.csms.wait_for(
                "StatusNotification",
                lambda r: r.error_code == v16.ChargePointErrorCode.PowerMeterFailure,
                timeout=15,
            )
            meter_cable.plug()
            await link.csms.wait_for(
                "StatusNotification",
                lambda r: (
                    r.status == _Status.Charging
                    and r.error_code == v16.ChargePointErrorCode.NoError
                ),
                count=2,  # before the fault, and once it is over
                timeout=15,
            )
            await link.close()

    aio.run(main(), timeout=60)


def test_station_refuses_a_bad_hardware_config(tmp_path: Path) -> None:
    """--hardware-config is checked before anything starts: the error names the key (exit 2,
    a usage error), and a real charger is one station."""
    bad = tmp_path / "charger.toml"
    bad.write_text('[connectors.1.meter]\nport = "/dev/ttyUSB0"\nbuadrate = 9600\n')
    runner = CliRunner()
    result = runner.invoke(app, ["station", "--hardware-config", str(bad)])
    assert result.exit_code == 2
    assert "connectors.1.meter.buadrate: unknown key" in result.output
    good = tmp_path / "good.toml"
    good.write_text('[connectors.1.meter]\nport = "/dev/ttyUSB0"\n')
    result = runner.invoke(app, ["station", "--hardware-config", str(good), "--count", "2"])
    assert result.exit_code == 2
    assert "a real charger is one station" in result.output


def test_faults_found_before_the_station_are_reported_to_it(core: Backend, tmp_path: Path) -> None:
    """A reader whose port does not open while the board opens (before the station exists) is
    reported once the station attaches: 1.6 StatusNotification ReaderFailure on connector 0
    (C16 4.9, 7.6)."""

    async def main() -> None:
        config = parse_config({"rfid": {"port": str(tmp_path / "no-such-tty")}})
        board = Board(config)
        await board.open()
        try:
            await aio.until(lambda: bool(board._faults))
            station = Station16(
                StationConfig("PI", connectors=1), clock=t16.Clock(), hardware=board
            )
            link = t16.Link(core, station, t16.Csms())
            await link.booted()
            await link.csms.wait_for(
                "StatusNotification",
                lambda r: (
                    r.connector_id == 0 and r.error_code == v16.ChargePointErrorCode.ReaderFailure
                ),
            )
            await link.close()
        finally:
            await board.close()

    aio.run(main())
