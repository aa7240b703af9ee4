"""Board (ocppfast.hardware.board) on gpio-sim lines, without a CSMS: what a station attached
after `open` learns, and the contactor check's "does not close" direction (the welded one is
in test_charger_end_to_end.py).

Runs in the VM (tests/gpio/conftest.py); skipped elsewhere with the reason."""

from __future__ import annotations

import pytest

from tests.aio import run, until
from tests.gpio.conftest import HAVE_GPIO_SIM, SKIP_REASON, SimChip

if not HAVE_GPIO_SIM:  # (and gpiod may be missing too)
    pytest.skip(SKIP_REASON, allow_module_level=True)

from ocppfast.hardware.base import (
    EmergencyStopChanged,
    FaultChanged,
    HardwareEvent,
    PlugChanged,
)
from ocppfast.hardware.board import Board
from ocppfast.hardware.config import parse_config


def _board(sim: SimChip) -> Board:
    config = parse_config(
        {
            "gpio": {"chip": sim.chip_name},
            "emergency_stop": {"line": "ESTOP"},
            "connectors": {
                "1": {
                    "plug": {"line": "PLUG"},
                    "contactor": {"line": "CONTACTOR", "feedback": {"line": "FEEDBACK"}},
                }
            },
        }
    )
    # A short delay: the simulator's auxiliary contact is a pull the test sets (or not).
    return Board(config, feedback_delay=0.1)


def test_a_station_attached_after_open_learns_the_plug_and_the_emergency_stop(
    sim: SimChip,
) -> None:
    """An EV plugged in and the emergency stop pressed before the station attached (the
    station process restarted, or attached late) are reported at attach, once."""
    sim.pull("PLUG", "pull-up")
    sim.pull("ESTOP", "pull-up")

    async def main() -> None:
        board = _board(sim)
        await board.open()
        try:
            seen: list[HardwareEvent] = []
            board.attach(seen.append)
            assert seen == [EmergencyStopChanged(True), PlugChanged(1, True)]
            sim.pull("PLUG", "pull-down")
            await until(lambda: PlugChanged(1, False) in seen)
        finally:
            await board.close()

    run(main())


def test_a_contactor_that_does_not_close_is_a_fault_until_its_contact_follows(
    sim: SimChip,
) -> None:
    """Commanded closed, the auxiliary contact stays open: a contactor fault (coil or supply);
    once the contact follows, the fault is over."""

    async def main() -> None:
        board = _board(sim)
        seen: list[HardwareEvent] = []
        board.attach(seen.append)
        await board.open()
        try:
            board.set_contactor(1, True)
            assert sim.level("CONTACTOR") == 1
            await until(lambda: any(isinstance(e, FaultChanged) for e in seen))
            (fault,) = [e for e in seen if isinstance(e, FaultChanged)]
            assert (fault.evse_id, fault.component) == (1, "contactor")
            assert fault.problem is not None and "does not close" in fault.problem

            sim.pull("FEEDBACK", "pull-up")  # the contact follows at last
            await until(lambda: FaultChanged(1, "contactor", None) in seen)
        finally:
            await board.close()
        assert sim.level("CONTACTOR") == 0  # closed safe

    run(main())
