"""The station's side of the hardware interface, for both station classes.

`HardwareLink` sits between a station and its `Hardware` backend:

- inputs: it takes the backend's events in the order they happen and hands them, one at a
  time, to the station (an EV plugged in, a card read, a fault, the emergency stop), so that a
  plug-in and the card read right after it are never handled out of order;
- a card read goes to the station's `hardware_token` in a task of its own (it may wait for
  the EV, whose plug-in is the next event), which routes it as at a real charger: the card of
  a running transaction stops it (C16 4.10 / E07), otherwise it starts one on the EVSE whose
  EV waits, or authorizes first and waits for the EV (C16 4.9 Preparing / E03);
- faults: it keeps which parts are faulty, and says whether an EVSE may deliver energy;
- outputs: it drives the contactor, the current limit and the status indicator, only on change,
  and a backend that raises is logged, never fatal to the station.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from ..hardware.base import (
    Component,
    EmergencyStopChanged,
    FaultChanged,
    Hardware,
    HardwareEvent,
    Indicator,
    MeterReading,
    PlugChanged,
    TokenRead,
)

__all__ = ["BLOCKING", "HardwareLink", "LinkedStation"]

#: Faults after which an EVSE must not deliver energy: the contactor may not open, or the EV
#: may draw more than allowed. Its transaction ends and it is Faulted until repaired. A meter
#: or reader fault is a warning: charging goes on (C16 4.9: "When the 'status' field is not
#: Faulted, the condition should be considered a warning since charging operations are still
#: possible").
BLOCKING: frozenset[Component] = frozenset({"contactor", "current_limit"})


class LinkedStation(Protocol):
    """What the link asks of a station (Station16 and StationV2 have it)."""

    async def plug_in(self, connector_id: int) -> None: ...

    async def unplug(self, connector_id: int) -> None: ...

    async def hardware_token(self, token: str, evse_id: int | None) -> None: ...

    async def hardware_fault(self, evse_id: int | None, component: Component) -> None: ...

    async def hardware_emergency_stop(self, pressed: bool) -> None: ...


class HardwareLink:
    """One station's link to its hardware; see the module docstring. `log`: the station's log
    (a `StationLog` or a logger); `prefix`: what its lines start with (the station's name)."""

    def __init__(
        self, hardware: Hardware, station: LinkedStation, log: Any, prefix: str = ""
    ) -> None:
        self.hardware = hardware
        self._station = station
        self.log = log
        self._prefix = prefix
        self._events: asyncio.Queue[HardwareEvent] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._tokens: set[asyncio.Task[None]] = set()
        self._faults: dict[tuple[int | None, Component], str] = {}
        self.emergency_stop = False
        self._contactors: dict[int, bool] = {}
        self._indicators: dict[int, Indicator] = {}
        hardware.attach(self._received)

    # -- inputs ------------------------------------------------------------------------------

    def _received(self, event: HardwareEvent) -> None:
        # The fault state is kept at once, so that a status computed right after (before the
        # worker runs) already sees it; the station's reaction runs in order in the worker.
        if isinstance(event, FaultChanged):
            key = (event.evse_id, event.component)
            if event.problem is None:
                if self._faults.pop(key, None) is None:
                    return
            elif self._faults.get(key) == event.problem:
                return
            else:
                self._faults[key] = event.problem
        elif isinstance(event, EmergencyStopChanged):
            if event.pressed == self.emergency_stop:
                return
            self.emergency_stop = event.pressed
        if self._events is None:
            self._events = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(
                self._work(self._events), name=f"{self._prefix}hardware events"
            )
        self._events.put_nowait(event)

    async def _work(self, events: asyncio.Queue[HardwareEvent]) -> None:
        while True:
            event = await events.get()
            try:
                await self._handle(event)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # one event's failure never stops the others
                self.log.warning("%s%s not handled: %s", self._prefix, event, error)

    async def _handle(self, event: HardwareEvent) -> None:
        station = self._station
        if isinstance(event, PlugChanged):
            self.log.info(
                "%sEVSE %d: cable %s",
                self._prefix,
                event.evse_id,
                "plugged in" if event.plugged else "unplugged",
            )
            if event.plugged:
                await station.plug_in(event.evse_id)
            else:
                await station.unplug(event.evse_id)
        elif isinstance(event, TokenRead):
            self.log.info("%scard %s read", self._prefix, event.token)
            # In a task of its own: a card read before the EV comes waits for the plug-in,
            # which is the next event.
            task = asyncio.get_running_loop().create_task(
                self._token(event), name=f"{self._prefix}card {event.token}"
            )
            self._tokens.add(task)
            task.add_done_callback(self._tokens.discard)
        elif isinstance(event, FaultChanged):
            where = "station" if event.evse_id is None else f"EVSE {event.evse_id}"
            if event.problem is None:
                self.log.info("%s%s %s works again", self._prefix, where, event.component)
            else:
                self.log.warning(
                    "%s%s %s fault: %s", self._prefix, where, event.component, event.problem
                )
            await station.hardware_fault(event.evse_id, event.component)
        else:
            self.log.warning(
                "%semergency stop %s",
                self._prefix,
                "pressed" if event.pressed else "released",
            )
            await station.hardware_emergency_stop(event.pressed)

    async def _token(self, event: TokenRead) -> None:
        try:
            await self._station.hardware_token(event.token, event.evse_id)
        except Exception as error:
            self.log.warning("%scard %s not handled: %s", self._prefix, event.token, error)

    def stop(self) -> None:
        """Stop handling events (the station is shutting down)."""
        if self._worker is not None:
            self._worker.cancel()
        for task in self._tokens:
            task.cancel()

    # -- faults ------------------------------------------------------------------------------

    def fault(self, evse_id: int | None, component: Component) -> str | None:
        """The problem of `component` of `evse_id` (None: the station's), if it has one."""
        return self._faults.get((evse_id, component))

    def blocked(self, evse_id: int) -> str | None:
        """Why EVSE `evse_id` may not deliver energy now (it is Faulted), None when it may."""
        if self.emergency_stop:
            return "emergency stop pressed"
        for (where, component), problem in self._faults.items():
            if component in BLOCKING and where in (None, evse_id):
                return f"{component}: {problem}"
        return None

    # -- outputs -----------------------------------------------------------------------------

    def drive(self, evse_id: int, *, energy: bool, indicator: Indicator) -> None:
        """The EVSE delivers energy (`energy`: its contactor closes) or not, and shows
        `indicator`. Nothing is asked of the hardware when nothing changed."""
        if self.blocked(evse_id):
            energy = False
        if self._contactors.get(evse_id) != energy:
            self._contactors[evse_id] = energy
            self._safely(self.hardware.set_contactor, evse_id, energy)
        if self._indicators.get(evse_id) != indicator:
            self._indicators[evse_id] = indicator
            self._safely(self.hardware.set_indicator, evse_id, indicator)

    def current_limit(self, evse_id: int, amps: float | None) -> None:
        """Apply the charging limit in force on `evse_id` (None: none)."""
        self._safely(self.hardware.set_current_limit, evse_id, amps)

    def reading(self, evse_id: int) -> MeterReading | None:
        """The hardware meter's latest reading on `evse_id`; None without one."""
        try:
            return self.hardware.meter_reading(evse_id)
        except Exception as error:
            self.log.warning("%sthe meter of EVSE %d failed: %s", self._prefix, evse_id, error)
            return None

    def _safely(self, output: Callable[..., None], *args: Any) -> None:
        try:
            output(*args)
        except Exception as error:
            self.log.error(
                "%shardware output %s%s failed: %s",
                self._prefix,
                getattr(output, "__name__", output),
                args,
                error,
            )
