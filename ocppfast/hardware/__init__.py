"""What a charger touches, behind one interface: `Hardware` (see `base`), with the simulated
backend `SimulatedHardware` as the default. Station features use the interface, never a backend
directly."""

from __future__ import annotations

from .base import DisplayedMessage, FirmwareInstallError, Hardware
from .sim import SimulatedHardware

__all__ = ["DisplayedMessage", "FirmwareInstallError", "Hardware", "SimulatedHardware"]
