"""The hardware interface a station talks to.

A charger's electronics, as OCPP sees them, per EVSE (one connector each, numbered from 1 as
OCPP numbers them):

- in: the plug (an EV connected or not), the id-token reader, the energy meter, faults of any
  part, and the station-wide emergency stop. The backend reports these as `HardwareEvent`s to
  the listener the station attaches, and answers `meter_reading` when the station samples.
- out: the contactor (the power path to the EV), the current limit (smart charging), the status
  indicator (LEDs), the firmware installation and the display.

A station calls the outputs when OCPP decides something the electronics must carry out, and
reacts to the events as a charger does (a plug-in starts a session, a token read authorizes or
stops one, a contactor fault ends the transaction and makes the connector Faulted). Each
backend implements this for its hardware: `SimulatedHardware` (sim.py) records and scripts it
for tests and simulations, `Board` (board.py) drives GPIO lines and serial devices.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

__all__ = [
    "COMPONENTS",
    "Component",
    "DisplayedMessage",
    "EmergencyStopChanged",
    "FaultChanged",
    "FirmwareInstallError",
    "Hardware",
    "HardwareEvent",
    "Indicator",
    "MeterReading",
    "PlugChanged",
    "TokenRead",
]


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


@dataclass(frozen=True)
class MeterReading:
    """One reading, in SI units: `energy_wh` total import energy (Wh), `power_w` total active
    power (W: the meter's total, else the sum of the phases), `current_a` and `voltage_v` per
    phase (L1 first; one entry for a single-phase meter), `time` when it was read (UTC). A
    quantity the meter does not give is None (an empty tuple for the per-phase ones)."""

    energy_wh: float | None
    power_w: float | None
    current_a: tuple[float, ...]
    voltage_v: tuple[float, ...]
    time: datetime.datetime
    power_phase_w: tuple[float, ...] = ()


#: The parts of a charger that can fail, as `FaultChanged.component` names them.
#: - "meter": the energy meter cannot be read (1.6 PowerMeterFailure; 2.x FiscalMetering);
#: - "token_reader": the id-token reader is gone (ReaderFailure; TokenReader);
#: - "contactor": the contactor did not switch, or its feedback contact disagrees
#:   (PowerSwitchFailure; PowerContactor);
#: - "current_limit": the current limit cannot be applied, e.g. the control pilot's controller
#:   does not answer (OtherError; CPPWMController).
Component = Literal["meter", "token_reader", "contactor", "current_limit"]
COMPONENTS: tuple[Component, ...] = ("meter", "token_reader", "contactor", "current_limit")

#: What the status indicator (LEDs) of an EVSE shows.
Indicator = Literal["off", "available", "occupied", "charging", "fault"]


@dataclass(frozen=True)
class PlugChanged:
    """An EV was plugged into EVSE `evse_id` (`plugged`), or unplugged."""

    evse_id: int
    plugged: bool


@dataclass(frozen=True)
class TokenRead:
    """An id token was read: `token` as OCPP carries it (an RFID card's UID in upper-case hex),
    by the reader of EVSE `evse_id`, or by a reader for the whole station (None)."""

    token: str
    evse_id: int | None = None


@dataclass(frozen=True)
class FaultChanged:
    """`component` of EVSE `evse_id` (None: of the whole station) has a fault, `problem`
    saying what in words an operator can act on, or the fault is over (`problem` None)."""

    evse_id: int | None
    component: Component
    problem: str | None


@dataclass(frozen=True)
class EmergencyStopChanged:
    """The emergency stop was pressed (`pressed`), or released."""

    pressed: bool


HardwareEvent = PlugChanged | TokenRead | FaultChanged | EmergencyStopChanged


@runtime_checkable
class Hardware(Protocol):
    """What a station asks of its charger's electronics, and how they tell it what happens.

    The station calls `attach` once, when it is built; the owner of the hardware calls `open`
    before the station connects and `close` when it stops, in a `finally` (outputs go to their
    safe state: contactors open). Outputs are synchronous and never raise: a backend that cannot
    carry one out reports a `FaultChanged` instead (and opens the contactor if it can)."""

    def attach(self, listener: Callable[[HardwareEvent], None]) -> None:
        """Report events to `listener`, called in the event loop's thread. Events of the state
        at `open` (an EV already plugged in) come after `open`."""
        ...

    async def open(self) -> None:
        """Open the devices and start reporting events; outputs start in their safe state."""
        ...

    async def close(self) -> None:
        """Put every output in its safe state (contactors open, no current offered) and
        release the devices. Idempotent."""
        ...

    def set_contactor(self, evse_id: int, closed: bool) -> None:
        """Close the contactor of `evse_id` (energy may flow to the EV) or open it."""
        ...

    def set_current_limit(self, evse_id: int, amps: float | None) -> None:
        """Limit what the EV on `evse_id` may draw to `amps` per phase (None: no limit but the
        charger's own rating). For an AC charger this sets the PWM duty cycle of the control
        pilot (IEC 61851-1); it must take effect at once and never fail: a backend that cannot
        apply it reports a fault and opens the contactor instead."""
        ...

    def set_indicator(self, evse_id: int, state: Indicator) -> None:
        """Show `state` on the status indicator (LEDs) of `evse_id`."""
        ...

    def meter_reading(self, evse_id: int) -> MeterReading | None:
        """The latest reading of the energy meter of `evse_id`, None when it has none (the
        station then meters the simulated EV itself) or no reading yet."""
        ...

    async def install_firmware(self, image: Path) -> None:
        """Install the downloaded firmware `image`. Raises `FirmwareInstallError` when it could
        not; returning means installed (the station then reboots into it)."""
        ...

    def show_messages(self, messages: list[DisplayedMessage]) -> None:
        """Show `messages` (those in force now, highest priority first) on the display,
        replacing what it showed; an empty list clears it."""
        ...
