"""A real charger's hardware, as its configuration file describes it (config.py): GPIO lines
(plug detection, contactor with its auxiliary contact, status LEDs, emergency stop), Modbus
RTU energy meters, RFID readers, and the current-limit output of an EVSE controller board.

`Board` implements the `Hardware` interface over those devices, so that a station drives a
real charger exactly as it drives the simulated one:

- a plug line's edges are `PlugChanged`, the emergency stop's `EmergencyStopChanged`, a card
  read `TokenRead`; the plug state at `open` is reported as events too;
- a meter's, a reader's or the controller's faults are `FaultChanged` (and their end);
- the contactor is checked against its auxiliary contact when one is wired: a contact that
  disagrees with the command once the relay had time to switch (a welded or stuck contactor,
  a broken coil) is a contactor fault, which makes the station end the transaction and open
  the contactor (IEC 61851-1 requires the supply to be switched off on such a fault);
- `close` drives every output to its safe state: contactors open, LEDs off.

Firmware installs run the configured install command (as the simulated backend does); there is
no display driver yet, so display messages are logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import (
    Component,
    DisplayedMessage,
    EmergencyStopChanged,
    FaultChanged,
    HardwareEvent,
    Indicator,
    MeterReading,
    PlugChanged,
    TokenRead,
)
from .config import HardwareConfig
from .sim import SimulatedHardware

__all__ = ["Board"]

_log = logging.getLogger("ocppfast.hardware")

#: Seconds a contactor takes to switch and its auxiliary contact to follow, before a
#: disagreement is a fault (contactors switch in tens of milliseconds; the margin covers the
#: kernel's debounce of the feedback line).
FEEDBACK_DELAY = 0.5

_LEDS: tuple[Indicator, ...] = ("available", "occupied", "charging", "fault")


class Board:
    """The hardware of `config` (a validated `HardwareConfig`).

    `install_command`: the program that installs a firmware image (its path as the last
    argument), as `SimulatedHardware`'s. `feedback_delay`: see `FEEDBACK_DELAY`. The serial
    devices need the ``[serial]`` extra and the GPIO lines the ``gpiod`` package; a missing one
    is reported by `open` with what to install."""

    def __init__(
        self,
        config: HardwareConfig,
        *,
        install_command: list[str] | None = None,
        feedback_delay: float = FEEDBACK_DELAY,
    ) -> None:
        self.config = config
        self.feedback_delay = feedback_delay
        self._listener: Callable[[HardwareEvent], None] | None = None
        self._files = SimulatedHardware(install_command=install_command)
        self._readings: dict[int, MeterReading] = {}
        self._commanded: dict[int, bool] = {}
        self._checks: dict[int, asyncio.TimerHandle] = {}
        self._faults: dict[tuple[int | None, Component], str] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._closers: list[Callable[[], Any]] = []
        self._gpio: Any = None
        self._limits: dict[int, Any] = {}
        self._no_limit_warned: set[int] = set()
        self._inputs, self._outputs = config.gpio_lines()

    # -- life cycle --------------------------------------------------------------------------

    def attach(self, listener: Callable[[HardwareEvent], None]) -> None:
        self._listener = listener
        # A station attached after `open` learns what it missed: the inputs, and the faults
        # found meanwhile (a reader's port that did not open reports it once).
        if self._gpio is not None:
            self._report_inputs()
        for (evse_id, component), problem in self._faults.items():
            self._report(FaultChanged(evse_id, component, problem))

    async def open(self) -> None:
        """Request the GPIO lines (outputs inactive: contactors open), open the serial devices
        (each keeps reopening its port when it fails), and report the plug and emergency-stop
        state found. Raises `GpioError` (a chip or line that cannot be had) or `ImportError`
        (a missing package) with what to do; the serial devices report their faults as
        events instead, as they recover by themselves."""
        try:
            if self._inputs or self._outputs:
                from .gpio import GpioBank

                self._gpio = GpioBank(self._inputs, self._outputs, self._line_changed)
                await self._gpio.open()
                self._closers.append(self._gpio.close)
            await self._open_serial()
        except BaseException:
            await self.close()
            raise
        if self._gpio is not None:
            self._report_inputs()

    def _report_inputs(self) -> None:
        """Report the emergency stop when pressed and the EVs plugged in now."""
        if "emergency_stop" in self._inputs and self._gpio.value("emergency_stop"):
            self._report(EmergencyStopChanged(True))
        for connector in self.config.connectors:
            name = f"connectors.{connector.id}.plug"
            if name in self._inputs and self._gpio.value(name):
                self._report(PlugChanged(connector.id, True))

    async def _open_serial(self) -> None:
        config = self.config
        if config.rfid is not None:
            self._reader(config.rfid, None)
        for connector in config.connectors:
            evse = connector.id
            if connector.rfid is not None:
                self._reader(connector.rfid, evse)
            if connector.meter is not None:
                meter = connector.meter.build(
                    on_reading=lambda reading, evse=evse: self._metered(evse, reading),
                    on_fault=lambda fault, evse=evse: self._fault(evse, "meter", fault.message),
                )
                interval = connector.meter.interval
                self._tasks.append(asyncio.create_task(meter.poll(interval), name=repr(meter)))
            if connector.current_limit is not None:
                limit = connector.current_limit.build(
                    on_fault=lambda fault, evse=evse: self._fault(
                        evse, "current_limit", None if fault is None else fault.message
                    )
                )
                await limit.open()
                self._limits[evse] = limit
                self._closers.append(limit.close)

    def _reader(self, config: Any, evse: int | None) -> None:
        from .rfid import RfidReader

        reader = RfidReader(
            config,
            on_tag=lambda token: self._report(TokenRead(token, evse)),
            on_fault=lambda problem: self._fault(evse, "token_reader", problem),
        )
        reader.start()
        self._closers.append(reader.close)

    async def close(self) -> None:
        """Contactors open and LEDs off (`GpioBank.close`), then every device closed."""
        for handle in self._checks.values():
            handle.cancel()
        self._checks.clear()
        closers, self._closers = self._closers, []
        for close in closers:  # the GPIO bank first: the contactors open before anything else
            try:
                result = close()
                if asyncio.iscoroutine(result):
                    await result
            except Exception as error:
                _log.error("closing %s failed: %s", close, error)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- outputs -----------------------------------------------------------------------------

    def set_contactor(self, evse_id: int, closed: bool) -> None:
        name = f"connectors.{evse_id}.contactor"
        if name not in self._outputs:
            if closed:
                _log.warning("EVSE %d has no contactor line configured: nothing switches", evse_id)
            return
        self._commanded[evse_id] = closed
        self._gpio.set(name, closed)
        _log.info("EVSE %d: contactor %s", evse_id, "closed" if closed else "open")
        self._check_later(evse_id)

    def set_current_limit(self, evse_id: int, amps: float | None) -> None:
        limit = self._limits.get(evse_id)
        if limit is not None:
            limit.set(amps)
        elif amps is not None and evse_id not in self._no_limit_warned:
            self._no_limit_warned.add(evse_id)
            _log.warning(
                "EVSE %d: a charging limit of %g A is in force, but no current_limit output is "
                "configured: the EV is not told (docs/hardware.md)",
                evse_id,
                amps,
            )

    def set_indicator(self, evse_id: int, state: Indicator) -> None:
        for led in _LEDS:
            name = f"connectors.{evse_id}.leds.{led}"
            if name in self._outputs:
                self._gpio.set(name, led == state)

    def meter_reading(self, evse_id: int) -> MeterReading | None:
        return self._readings.get(evse_id)

    async def install_firmware(self, image: Path) -> None:
        await self._files.install_firmware(image)

    def show_messages(self, messages: list[DisplayedMessage]) -> None:
        self._files.show_messages(messages)

    # -- inputs ------------------------------------------------------------------------------

    def _line_changed(self, name: str, active: bool) -> None:
        if name == "emergency_stop":
            self._report(EmergencyStopChanged(active))
            return
        _, evse, role = name.split(".", 2)
        if role == "plug":
            self._report(PlugChanged(int(evse), active))
        elif role == "contactor.feedback":
            self._check_later(int(evse))

    def _check_later(self, evse_id: int) -> None:
        """Compare the contactor's auxiliary contact with the command once it had time to
        follow (`feedback_delay`), from now."""
        if f"connectors.{evse_id}.contactor.feedback" not in self._inputs:
            return
        previous = self._checks.pop(evse_id, None)
        if previous is not None:
            previous.cancel()
        loop = asyncio.get_running_loop()
        self._checks[evse_id] = loop.call_later(self.feedback_delay, self._check, evse_id)

    def _check(self, evse_id: int) -> None:
        self._checks.pop(evse_id, None)
        commanded = self._commanded.get(evse_id, False)
        closed = self._gpio.value(f"connectors.{evse_id}.contactor.feedback")
        if closed == commanded:
            if (evse_id, "contactor") in self._faults:
                self._fault(evse_id, "contactor", None)
            return
        problem = (
            "contactor stays closed while commanded open (welded?)"
            if closed
            else "contactor does not close when commanded (coil or supply?)"
        )
        _log.error("EVSE %d: %s", evse_id, problem)
        self._fault(evse_id, "contactor", problem)

    def _metered(self, evse_id: int, reading: MeterReading) -> None:
        self._readings[evse_id] = reading
        self._fault(evse_id, "meter", None)

    def _fault(self, evse_id: int | None, component: Component, problem: str | None) -> None:
        if problem is None:
            self._faults.pop((evse_id, component), None)
        else:
            self._faults[(evse_id, component)] = problem
        self._report(FaultChanged(evse_id, component, problem))

    def _report(self, event: HardwareEvent) -> None:
        if self._listener is None:
            return
        try:
            self._listener(event)
        except Exception:
            _log.exception("the station failed to take %s", event)
