"""The simulated backend: it records what the station asked, for tests and simulations, and
logs it as an operator would see it on a real charger."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from .base import DisplayedMessage, FirmwareInstallError

__all__ = ["InstalledFirmware", "SimulatedHardware"]

_log = logging.getLogger("ocppfast.hardware")


@dataclass(frozen=True)
class InstalledFirmware:
    """A firmware image the simulated charger "installed": its name and content."""

    name: str
    content: bytes


@dataclass
class SimulatedHardware:
    """Records the current limits (`limits`, per EVSE; absent or None: unlimited), the firmware
    images installed (`installed`) and what the display shows (`displayed`).

    `install_command`: when set, installing runs this program with the image's path as its last
    argument (what a real charger's update script does); a non-zero exit fails the install.
    `fail_install`: make the next installs fail, to test InstallationFailed."""

    install_command: list[str] | None = None
    fail_install: bool = False
    limits: dict[int, float | None] = field(default_factory=dict)
    installed: list[InstalledFirmware] = field(default_factory=list)
    displayed: list[DisplayedMessage] = field(default_factory=list)

    def set_current_limit(self, evse_id: int, amps: float | None) -> None:
        if evse_id not in self.limits or self.limits[evse_id] != amps:
            _log.info(
                "EVSE %d: current limit %s",
                evse_id,
                "none" if amps is None else f"{amps:g} A per phase",
            )
        self.limits[evse_id] = amps

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
