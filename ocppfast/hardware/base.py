"""The hardware interface a station talks to.

A station calls these when OCPP decides something the charger's electronics must carry out:
the current limit in force on an EVSE (smart charging), a firmware image to install (firmware
management), the messages to show on the display (2.x display messages). Each backend
implements them for its hardware; `SimulatedHardware` records them for tests and simulations.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["DisplayedMessage", "FirmwareInstallError", "Hardware"]


class FirmwareInstallError(RuntimeError):
    """The firmware could not be installed; the message says why (it goes into the log and the
    station reports InstallationFailed)."""


@dataclass(frozen=True)
class DisplayedMessage:
    """A message on the station's display (2.x MessageInfoType, O01-O06): what to show, on
    which EVSE (None: the whole station), in which language and format."""

    id: int
    content: str
    priority: str
    format: str = "UTF8"
    language: str | None = None
    evse_id: int | None = None
    transaction_id: str | None = None
    start: datetime.datetime | None = None
    end: datetime.datetime | None = None


@runtime_checkable
class Hardware(Protocol):
    """What a station asks of its charger's electronics."""

    def set_current_limit(self, evse_id: int, amps: float | None) -> None:
        """Limit what the EV on `evse_id` may draw to `amps` per phase (None: no limit but the
        charger's own rating). For an AC charger this sets the PWM duty cycle of the control
        pilot (IEC 61851-1); it must take effect at once and never fail: a backend that cannot
        apply it opens the contactor instead."""
        ...

    async def install_firmware(self, image: Path) -> None:
        """Install the downloaded firmware `image`. Raises `FirmwareInstallError` when it could
        not; returning means installed (the station then reboots into it)."""
        ...

    def show_messages(self, messages: list[DisplayedMessage]) -> None:
        """Show `messages` (those in force now, highest priority first) on the display,
        replacing what it showed; an empty list clears it."""
        ...
