"""The simulated backend: it records what the station asked, for tests and simulations, logs it
as an operator would see it on a real charger, and is scripted to play the inputs (an EV plugs
in, a card is read, a part fails, the emergency stop is pressed)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .base import (
    Component,
    DisplayedMessage,
    EmergencyStopChanged,
    FaultChanged,
    FirmwareInstallError,
    HardwareEvent,
    Indicator,
    MeterReading,
    PlugChanged,
    TokenRead,
)

__all__ = ["InstalledFirmware", "SimulatedHardware"]

_log = logging.getLogger("ocppfast.hardware")


@dataclass(frozen=True)
class InstalledFirmware:
    """A firmware image the simulated charger "installed": its name and content."""

    name: str
    content: bytes


@dataclass
class SimulatedHardware:
    """Records the outputs: `contactors` (per EVSE: closed or not), `limits` (per EVSE, in A;
    absent or None: unlimited), `indicators` (per EVSE), the firmware images installed
    (`installed`) and what the display shows (`displayed`).

    Plays the inputs when a test or a simulation calls `plug`, `unplug`, `read_token`,
    `fault`, `repair`, `press_emergency_stop` and `release_emergency_stop`; each reports its
    event to the attached station at once (synchronously: deterministic). `meters` holds the
    reading `meter_reading` returns per EVSE: none by default, the station then meters its
    simulated EV itself.

    `install_command`: when set, installing runs this program with the image's path as its last
    argument (what a real charger's update script does); a non-zero exit fails the install.
    `fail_install`: make the next installs fail, to test InstallationFailed."""

    install_command: list[str] | None = None
    fail_install: bool = False
    contactors: dict[int, bool] = field(default_factory=dict)
    limits: dict[int, float | None] = field(default_factory=dict)
    indicators: dict[int, Indicator] = field(default_factory=dict)
    meters: dict[int, MeterReading] = field(default_factory=dict)
    installed: list[InstalledFirmware] = field(default_factory=list)
    displayed: list[DisplayedMessage] = field(default_factory=list)
    opened: bool = False
    _listener: Callable[[HardwareEvent], None] | None = field(default=None, init=False, repr=False)

    # -- the interface ---------------------------------------------------------------------

    def attach(self, listener: Callable[[HardwareEvent], None]) -> None:
        self._listener = listener

    async def open(self) -> None:
        self.opened = True

    async def close(self) -> None:
        for evse_id, closed in self.contactors.items():
            if closed:
                self.set_contactor(evse_id, False)
        self.opened = False

    def set_contactor(self, evse_id: int, closed: bool) -> None:
        if self.contactors.get(evse_id, False) != closed:
            _log.info("EVSE %d: contactor %s", evse_id, "closed" if closed else "open")
        self.contactors[evse_id] = closed

    def set_current_limit(self, evse_id: int, amps: float | None) -> None:
        if evse_id not in self.limits or self.limits[evse_id] != amps:
            _log.info(
                "EVSE %d: current limit %s",
                evse_id,
                "none" if amps is None else f"{amps:g} A per phase",
            )
        self.limits[evse_id] = amps

    def set_indicator(self, evse_id: int, state: Indicator) -> None:
        self.indicators[evse_id] = state

    def meter_reading(self, evse_id: int) -> MeterReading | None:
        return self.meters.get(evse_id)

    async def install_firmware(self, image: Path) -> None:
        if self.fail_install:
            raise FirmwareInstallError("the simulated installation was set to fail")
        if self.install_command:
            process = await asyncio.create_subprocess_exec(
                *self.install_command,
                str(image),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            output, _ = await process.communicate()
            if process.returncode != 0:
                tail = output.decode(errors="replace").strip()[-500:]
                raise FirmwareInstallError(
                    f"{self.install_command[0]} exited with status {process.returncode}: {tail}"
                )
        content = await asyncio.to_thread(image.read_bytes)
        self.installed.append(InstalledFirmware(image.name, content))
        _log.info("installed firmware %s (%d bytes)", image.name, len(content))

    def show_messages(self, messages: list[DisplayedMessage]) -> None:
        self.displayed = list(messages)
        if not messages:
            _log.info("display cleared")
        for message in messages:
            where = "station" if message.evse_id is None else f"EVSE {message.evse_id}"
            _log.info("display (%s, %s): %s", where, message.priority, message.content)

    # -- scripting the inputs ----------------------------------------------------------------

    def plug(self, evse_id: int) -> None:
        """An EV plugs into `evse_id`."""
        self._report(PlugChanged(evse_id, True))

    def unplug(self, evse_id: int) -> None:
        """The EV on `evse_id` is unplugged."""
        self._report(PlugChanged(evse_id, False))

    def read_token(self, token: str, evse_id: int | None = None) -> None:
        """A card is held to the reader of `evse_id` (None: the station's reader)."""
        self._report(TokenRead(token, evse_id))

    def fault(self, component: Component, problem: str, evse_id: int | None = None) -> None:
        """`component` of `evse_id` (None: the station's) fails with `problem`."""
        self._report(FaultChanged(evse_id, component, problem))

    def repair(self, component: Component, evse_id: int | None = None) -> None:
        """The fault of `component` of `evse_id` is over."""
        self._report(FaultChanged(evse_id, component, None))

    def press_emergency_stop(self) -> None:
        """The emergency stop is pressed."""
        self._report(EmergencyStopChanged(True))

    def release_emergency_stop(self) -> None:
        """The emergency stop is released (reset)."""
        self._report(EmergencyStopChanged(False))

    def _report(self, event: HardwareEvent) -> None:
        if self._listener is None:
            raise RuntimeError("no station is attached to this simulated hardware")
        self._listener(event)
