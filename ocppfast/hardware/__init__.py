"""What a charger touches, behind one interface: `Hardware` (see `base`), with the simulated
backend `SimulatedHardware` as the default. Station features use the interface, never a backend
directly."""

from __future__ import annotations

from .base import (
    DisplayedMessage,
    EmergencyStopChanged,
    FaultChanged,
    FirmwareInstallError,
    Hardware,
    HardwareEvent,
    MeterReading,
    PlugChanged,
    TokenRead,
)
from .sim import SimulatedHardware

__all__ = [
    "DisplayedMessage",
    "EmergencyStopChanged",
    "FaultChanged",
    "FirmwareInstallError",
    "Hardware",
    "HardwareEvent",
    "MeterReading",
    "PlugChanged",
    "SimulatedHardware",
    "TokenRead",
]
