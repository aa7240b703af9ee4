"""The current limit of an AC charger, set on its EVSE controller board over Modbus RTU.

On an AC charger the limit OCPP smart charging decides reaches the EV as the duty cycle of the
control pilot's 1 kHz PWM (IEC 61851-1:2017, annex A, the table of the duty cycle the EVSE
provides): 10 % to 85 % offers duty x 0.6 A (6 A to 51 A), 85 % to 96 % offers (duty - 64) x
2.5 A (up to 80 A), and no PWM at all (a steady +12 V / 100 %) means "not allowed to charge".
Nothing below 6 A can be offered, so a limit under 6 A pauses charging: the EV sees no PWM and
the station reports SuspendedEVSE. A Raspberry Pi charger rarely makes that PWM itself: a small
EVSE controller board does (CP/PP, the contactor, the RCD test), and the Pi sets its current
over Modbus RTU on an RS-485 line. `ModbusCurrentLimit` does that.

Models:

- "EVSE-WB": the EVSE-WB / EVSE-DIN boards by EV Racing (sold as SimpleEVSE, used by openWB,
  evcc and EVSE-WiFi). Holding registers, read with function 3 and written with function 16
  (write multiple registers), as all three projects do:

  ======  ===  ==============================================================================
  1000    R/W  configured current in whole A; 0 = off (no PWM: charging not allowed)
  1001    R    current offered on the pilot now, A
  1002    R    vehicle state: 1 ready (no EV), 2 EV present, 3 charging, 4 charging with
               ventilation, 5 failure (e.g. diode check or RCD)
  1003    R    the cable's limit from the PP resistor, A
  1005    R    firmware revision
  ======  ===  ==============================================================================

  Sources: the vendor's "EVSE WB/DIN manual" (evcc cites it as
  files.ev-power.eu/inc/_doc/attach/StoItem/4418/evse-wb-din_Manual.pdf in
  charger/simpleevse.go, whose comments give the state values above), openWB's
  modules/common/evse.py (registers 1000-1002 and 1005, the same state values), and
  EVSE-WiFi's src/main.cpp (names 1000-1007). Modbus is off on a new board: enable it (the
  installer's job, with the vendor's tool; 9600 8N1, unit id 1 are the usual settings).
  Firmware 17 and later can take register 1000 in hundredths of an ampere when bit 7 of
  register 2005 is set (openWB does so); this module leaves that bit alone and writes whole
  amperes, rounding down so the EV never gets more than the limit.

- "generic": any board with a holding register for the current: `register`, `scale`
  (register units per ampere: 10 for 0.1 A) and `off_value` (what means "no charging").

The board is reached through a `ModbusLine` (modbus_meter.py), as the energy meter is: the same
fault kinds (`FaultKind`, `MeterFault`, `MeterFaultError`), the same reopening with back-off
when the port fails. Each RS-485 device has its own port for now (config.py refuses two
devices on one port).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pymodbus.exceptions import ModbusException

from .config import (
    HardwareConfigError,
    _check_keys,
    _int,
    _modbus_line,
    _port,
    _show,
    _str,
    _table,
)
from .modbus_meter import (
    FaultKind,
    MeterFault,
    MeterFaultError,
    ModbusLine,
    exception_name,
)

__all__ = [
    "EVSE_WB_CURRENT_REGISTER",
    "EVSE_WB_VEHICLE_STATE_REGISTER",
    "IEC_MAX_AMPS",
    "IEC_MIN_AMPS",
    "MODELS",
    "CurrentLimitConfig",
    "ModbusCurrentLimit",
    "VehicleState",
    "parse_current_limit",
]

_log = logging.getLogger("ocppfast.hardware")

#: IEC 61851-1:2017 annex A: the least current a PWM pilot can offer (10 % duty cycle) and the
#: most (96 % to 97 %).
IEC_MIN_AMPS = 6.0
IEC_MAX_AMPS = 80.0

#: EVSE-WB / EVSE-DIN holding registers (see the module docstring for the sources).
EVSE_WB_CURRENT_REGISTER = 1000
EVSE_WB_VEHICLE_STATE_REGISTER = 1002

#: The models `parse_current_limit` knows.
MODELS = ("EVSE-WB", "generic")

_KEYS = (
    "port",
    "model",
    "unit_id",
    "baudrate",
    "parity",
    "stopbits",
    "timeout",
    "register",
    "scale",
    "min_amps",
    "max_amps",
    "off_value",
)
_GENERIC_KEYS = ("register", "scale", "off_value")

# Modbus Application Protocol V1.1b3, 4.2: a register holds 16 bits.
_REGISTER_MAX = 0xFFFF
# Floating-point slack when turning amperes into register units (16.1 * 10 is 161.00000000003).
_EPSILON = 1e-9


class VehicleState(enum.IntEnum):
    """The EVSE-WB's vehicle state (holding register 1002), i.e. the control pilot state of
    IEC 61851-1 the board measures."""

    #: State A: no EV connected.
    READY = 1
    #: State B: an EV is connected, not asking for energy (or not allowed to charge).
    EV_PRESENT = 2
    #: State C: the EV is charging.
    CHARGING = 3
    #: State D: charging, the EV asks for ventilation.
    CHARGING_WITH_VENTILATION = 4
    #: The board found a fault (e.g. diode check or RCD test failed): no charging.
    FAILURE = 5

    @property
    def plugged(self) -> bool | None:
        """True when an EV is connected, False when none is, None when unknown (failure)."""
        if self is VehicleState.FAILURE:
            return None
        return self is not VehicleState.READY


@dataclass(frozen=True)
class CurrentLimitConfig:
    """A board that sets the charging current (see `ModbusCurrentLimit`).

    `port`, `unit_id`, `baudrate`, `parity`, `stopbits`, `timeout`: the serial line and the
    board's Modbus address, as for the energy meter. `model`: "EVSE-WB" (its register map is
    built in) or "generic". `register`: the holding register of the current; `scale`: register
    units per ampere; `off_value`: the value that means "no charging allowed". `min_amps`: below
    this the board is switched off (6 A, IEC 61851-1); `max_amps`: the charger's rating per
    phase, used when there is no limit.
    """

    port: str
    model: str = "EVSE-WB"
    unit_id: int = 1
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: int = 1
    timeout: float = 1.0
    register: int = EVSE_WB_CURRENT_REGISTER
    scale: float = 1.0
    min_amps: float = IEC_MIN_AMPS
    max_amps: float = 16.0
    off_value: int = 0

    def __post_init__(self) -> None:
        # parse_current_limit names the key of each of these; this guards direct use.
        if self.model not in MODELS:
            raise ValueError(f"model {self.model!r} is not one of {', '.join(MODELS)}")
        if not 0 <= self.register <= _REGISTER_MAX:
            raise ValueError(f"register {self.register!r} is not 0..65535")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"scale {self.scale!r} is not a positive number")
        if not IEC_MIN_AMPS <= self.min_amps <= self.max_amps <= IEC_MAX_AMPS:
            raise ValueError(
                f"expected {IEC_MIN_AMPS:g} <= min_amps <= max_amps <= {IEC_MAX_AMPS:g} A, got "
                f"min_amps {self.min_amps!r}, max_amps {self.max_amps!r}"
            )
        if self.max_raw > _REGISTER_MAX:
            raise ValueError(f"max_amps x scale = {self.max_raw} does not fit a 16-bit register")
        if not 0 <= self.off_value < self.min_raw:
            raise ValueError(
                f"off_value {self.off_value!r} must be 0..{self.min_raw - 1} (below min_amps x "
                "scale), or the board would read it as a current it may offer"
            )

    @property
    def min_raw(self) -> int:
        """The least register value that allows charging: `min_amps` in register units."""
        return math.ceil(self.min_amps * self.scale - _EPSILON)

    @property
    def max_raw(self) -> int:
        """The register value of `max_amps`."""
        return math.floor(self.max_amps * self.scale + _EPSILON)

    def build(self, **kwargs: Any) -> ModbusCurrentLimit:
        """A `ModbusCurrentLimit` for this board; `kwargs` go to it (callbacks, back-off)."""
        return ModbusCurrentLimit(self, **kwargs)


# -- configuration -----------------------------------------------------------------------------


def _amps(key: str, value: object, low: float, high: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise HardwareConfigError(key, f"expected a number of amperes, got {_show(value)}")
    if not math.isfinite(value) or not low <= value <= high:
        raise HardwareConfigError(key, f"expected {low:g}..{high:g} A, got {value}")
    return float(value)


def parse_current_limit(key: str, value: object) -> CurrentLimitConfig:
    """Validate the TOML table at `key` (e.g. "connectors.1.current_limit") into a
    `CurrentLimitConfig`. Raises `HardwareConfigError` naming the offending key, e.g.
    ``connectors.1.current_limit.max_amps: missing: the charger's rated current per phase``.

    Keys: port (required), model ("EVSE-WB", the default, or "generic"), unit_id, baudrate,
    parity, stopbits, timeout (as for a meter), min_amps (default 6), max_amps (required);
    for "generic" only: register (required), scale (default 1), off_value (default 0)."""
    table = _table(key, value)
    _check_keys(key, table, _KEYS)
    port = _port(key, table)
    model = _str(f"{key}.model", table.get("model", "EVSE-WB"), MODELS)
    if model == "generic":
        if "register" not in table:
            raise HardwareConfigError(
                f"{key}.register",
                'missing: a "generic" board needs the holding register of its current, '
                "e.g. register = 1000",
            )
        register = _int(f"{key}.register", table["register"], 0, _REGISTER_MAX)
        scale_value = table.get("scale", 1)
        if not isinstance(scale_value, (int, float)) or isinstance(scale_value, bool):
            raise HardwareConfigError(
                f"{key}.scale",
                f"expected register units per ampere (10 for 0.1 A), got {_show(scale_value)}",
            )
        if not math.isfinite(scale_value) or scale_value <= 0:
            raise HardwareConfigError(
                f"{key}.scale", f"expected a positive number, got {scale_value}"
            )
        scale = float(scale_value)
        off_value = _int(f"{key}.off_value", table.get("off_value", 0), 0, _REGISTER_MAX)
    else:
        for name in _GENERIC_KEYS:
            if name in table:
                raise HardwareConfigError(
                    f"{key}.{name}", f'only for model = "generic"; the {model} map is built in'
                )
        register, scale, off_value = EVSE_WB_CURRENT_REGISTER, 1.0, 0
    min_amps = _amps(f"{key}.min_amps", table.get("min_amps", IEC_MIN_AMPS), 0, IEC_MAX_AMPS)
    if min_amps < IEC_MIN_AMPS:
        # IEC 61851-1 annex A: 10 % duty cycle (6 A) is the least a PWM pilot offers.
        raise HardwareConfigError(
            f"{key}.min_amps",
            f"expected at least {IEC_MIN_AMPS:g} A (an AC EV cannot be offered less, "
            f"IEC 61851-1), got {min_amps:g}",
        )
    if "max_amps" not in table:
        raise HardwareConfigError(
            f"{key}.max_amps",
            "missing: the charger's rated current per phase in A (its cable, contactor and "
            "circuit breaker), e.g. max_amps = 16",
        )
    max_amps = _amps(f"{key}.max_amps", table["max_amps"], min_amps, IEC_MAX_AMPS)
    if math.floor(max_amps * scale + _EPSILON) > _REGISTER_MAX:
        raise HardwareConfigError(
            f"{key}.scale",
            f"max_amps x scale = {max_amps * scale:g} does not fit a 16-bit register (0..65535)",
        )
    if off_value >= math.ceil(min_amps * scale - _EPSILON):
        raise HardwareConfigError(
            f"{key}.off_value",
            f"{off_value} reads as {off_value / scale:g} A, a current the board may offer; use a "
            "value below min_amps x scale (usually 0)",
        )
    return CurrentLimitConfig(
        port=port,
        model=model,
        **_modbus_line(key, table),
        register=register,
        scale=scale,
        min_amps=min_amps,
        max_amps=max_amps,
        off_value=off_value,
    )


# -- the current limit -------------------------------------------------------------------------


class ModbusCurrentLimit:
    """Sets the charging current on an EVSE controller board over Modbus RTU.

    Two ways in: `set` (synchronous, never fails: what `Hardware.set_current_limit` calls) records
    the target and wakes the writer task that `open` starts, which applies the latest target
    (a burst of targets is written once, the last one); `apply` (async) writes a target now and
    raises `MeterFaultError` when it could not.

    A limit is written to the holding register and read back to check it took. A timeout or a
    corrupt answer is retried at once (`retries` times); a limit that still cannot be applied is
    reported to `on_fault` and logged as an error, and the writer keeps trying with back-off
    (`reconnect_delay` doubling to `reconnect_delay_max`), reopening the port when it failed or
    after `reopen_after_timeouts` timeouts in a row, until the board has it: the board must not
    keep an older, maybe higher limit unnoticed. `on_fault(None)` tells the fault is over. Every
    `verify_interval` seconds the writer reads the register back, and writes the limit again if
    the board lost it (a board that rebooted starts with its own default current).
    """

    def __init__(
        self,
        config: CurrentLimitConfig,
        *,
        on_fault: Callable[[MeterFault | None], object] | None = None,
        retries: int = 2,
        reconnect_delay: float = 1.0,
        reconnect_delay_max: float = 30.0,
        reopen_after_timeouts: int = 3,
        verify_interval: float = 10.0,
    ) -> None:
        if retries < 0 or reconnect_delay <= 0 or verify_interval <= 0:
            raise ValueError("retries must be >= 0, reconnect_delay and verify_interval > 0")
        self.config = config
        self.on_fault = on_fault
        self.retries = retries
        self.reconnect_delay = reconnect_delay
        self.reconnect_delay_max = max(reconnect_delay, reconnect_delay_max)
        self.reopen_after_timeouts = reopen_after_timeouts
        self.verify_interval = verify_interval
        self._line = ModbusLine(
            config.port,
            unit_id=config.unit_id,
            baudrate=config.baudrate,
            parity=config.parity,
            stopbits=config.stopbits,
            timeout=config.timeout,
        )
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._target: float | None = None
        self._generation = 0
        self._pending = False
        self._applied_raw: int | None = None
        self._last_applied: float | None = None
        self._faults = 0
        self._failing_since: float | None = None
        self._last_fault_kind: FaultKind | None = None

    def __repr__(self) -> str:
        return f"ModbusCurrentLimit({self.config.port!r}, unit {self.config.unit_id})"

    @property
    def last_applied(self) -> float | None:
        """The limit the board last confirmed, in A (0.0: charging not allowed); None before
        the first. While a newer target cannot be applied this is what the board still has."""
        return self._last_applied

    @property
    def pending(self) -> bool:
        """True while the latest target is not yet confirmed by the board."""
        return self._pending

    @property
    def connected(self) -> bool:
        """True while the serial port is open and has not failed."""
        return self._line.connected

    # -- targets ---------------------------------------------------------------------------

    def register_value(self, amps: float | None) -> int:
        """The register value for a limit of `amps` (None: `max_amps`): at most `max_amps`,
        rounded down to the register's unit so the EV never gets more than the limit, and
        `off_value` below `min_amps` (IEC 61851-1: no PWM under 6 A; the EV pauses)."""
        config = self.config
        if amps is None:
            return config.max_raw
        if math.isnan(amps):
            return config.off_value
        raw = math.floor(min(amps, config.max_amps) * config.scale + _EPSILON)
        return raw if raw >= config.min_raw else config.off_value

    def _amps_of(self, raw: int) -> float:
        return 0.0 if raw == self.config.off_value else raw / self.config.scale

    def _set_target(self, amps: float | None) -> None:
        if amps is not None and not isinstance(amps, (int, float)):
            _log.error("current limit %r on %s is not a number: charging paused", amps, self)
            amps = math.nan
        if amps is not None and math.isnan(amps):
            _log.error("current limit on %s is not a number: charging paused", self.config.port)
        elif amps is not None and 0 < amps < self.config.min_amps:
            _log.info(
                "current limit %.4g A is below the %g A an AC EV can be offered (IEC 61851-1): "
                "charging paused on %s",
                amps,
                self.config.min_amps,
                self.config.port,
            )
        self._target = amps
        self._generation += 1
        self._pending = True

    def set(self, amps: float | None) -> None:
        """Make `amps` (None: `max_amps`) the limit; the writer task applies it as soon as it
        can (call `open` to start it). Never raises and never blocks."""
        try:
            self._set_target(amps)
            self._wake.set()
            if self._task is None:
                _log.debug("current limit on %s set before open: applied when opened", self)
        except Exception:  # never fail the station's synchronous call
            _log.exception("current limit: set(%r) failed", amps)

    async def apply(self, amps: float | None) -> float:
        """Make `amps` (None: `max_amps`) the limit and write it now; returns the limit the
        board confirmed, in A (0.0: charging not allowed). Raises `MeterFaultError` when it
        could not be applied; the writer task (if `open`) keeps trying."""
        self._set_target(amps)
        try:
            return await self._apply_latest()
        except MeterFaultError as exc:
            self._report(exc.fault)
            await self._after_fault(exc.fault)
            self._wake.set()
            raise

    # -- bus transactions (under the lock) ----------------------------------------------------

    async def _ensure_open(self) -> None:
        if not self._line.connected:
            await self._line.open()
            _log.info("current limit: opened %s (unit %d)", self.config.port, self.config.unit_id)

    async def _read_register(self, address: int) -> int:
        client = self._line.client()
        try:
            response = await client.read_holding_registers(
                address, count=1, device_id=self.config.unit_id
            )
        except (ModbusException, OSError, asyncio.TimeoutError):
            raise MeterFaultError(self._line.no_answer(f"registers {address}+1")) from None
        self._check_response(response, address, "read")
        words = list(response.registers)
        if len(words) != 1:
            raise MeterFaultError(
                MeterFault(
                    FaultKind.CRC,
                    f"{self.config.port} unit {self.config.unit_id} sent {len(words)} registers "
                    f"for register {address}",
                )
            )
        self._line.timeouts = 0
        return int(words[0])

    def _check_response(self, response: Any, address: int, what: str) -> None:
        if response.isError():
            code = getattr(response, "exception_code", 0)
            raise MeterFaultError(
                MeterFault(
                    FaultKind.EXCEPTION,
                    f"{self.config.port} unit {self.config.unit_id} refused to {what} register "
                    f"{address}: exception {code} ({exception_name(code)}); "
                    "check the model, register and unit id",
                )
            )

    async def _write_and_verify(self, raw: int) -> None:
        register = self.config.register
        client = self._line.client()
        try:
            # Function 16 (write multiple registers): what the EVSE-WB takes, and any board.
            response = await client.write_registers(register, [raw], device_id=self.config.unit_id)
        except (ModbusException, OSError, asyncio.TimeoutError):
            raise MeterFaultError(self._line.no_answer(f"registers {register}+1")) from None
        self._check_response(response, register, "write")
        self._line.timeouts = 0
        held = await self._read_register(register)
        if held != raw:
            raise MeterFaultError(
                MeterFault(
                    FaultKind.INVALID_VALUE,
                    f"{self.config.port} unit {self.config.unit_id} holds {held} in register "
                    f"{register} after {raw} was written: check the board's own minimum and "
                    "maximum current settings",
                )
            )

    async def _apply_latest(self) -> float:
        async with self._lock:
            generation = self._generation
            raw = self.register_value(self._target)
            await self._ensure_open()
            for attempt in range(self.retries + 1):
                try:
                    await self._write_and_verify(raw)
                    break
                except MeterFaultError as exc:
                    retry = exc.fault.kind in (FaultKind.TIMEOUT, FaultKind.CRC)
                    if not retry or attempt == self.retries:
                        raise
                    _log.debug("current limit: %s; trying again", exc.fault.message)
            self._applied_raw = raw
            self._last_applied = self._amps_of(raw)
            if generation == self._generation:
                self._pending = False
        self._recovered()
        return self._last_applied

    async def _verify(self) -> None:
        async with self._lock:
            if self._pending:
                return
            # Opened even before the first limit, so that a missing board shows at start.
            await self._ensure_open()
            applied = self._applied_raw
            held = applied if applied is None else await self._read_register(self.config.register)
            if held != applied:
                _log.warning(
                    "current limit: %s unit %d holds %d in register %d, not the %d written "
                    "(board restarted?); writing it again",
                    self.config.port,
                    self.config.unit_id,
                    held,
                    self.config.register,
                    self._applied_raw,
                )
                self._pending = True
                return
        self._recovered()

    async def read_current_register(self) -> int:
        """The current register's value as the board holds it (register units: `scale` per
        A, `off_value` for off), read and never written: what `ocppfast hardware probe`
        shows. Raises `MeterFaultError` when it cannot be read."""
        async with self._lock:
            await self._ensure_open()
            return await self._read_register(self.config.register)

    async def vehicle_state(self) -> VehicleState:
        """The EVSE-WB's vehicle state (register 1002; see `VehicleState`): READY (state A,
        no EV), EV_PRESENT (B), CHARGING (C), CHARGING_WITH_VENTILATION (D), FAILURE (diode
        check or RCD). Raises `MeterFaultError` when it cannot be read, and ValueError for a
        "generic" board (no known state register)."""
        if self.config.model != "EVSE-WB":
            raise ValueError(f"the vehicle state is known for EVSE-WB boards, not {self}")
        async with self._lock:
            await self._ensure_open()
            value = await self._read_register(EVSE_WB_VEHICLE_STATE_REGISTER)
        try:
            return VehicleState(value)
        except ValueError:
            raise MeterFaultError(
                MeterFault(
                    FaultKind.INVALID_VALUE,
                    f"{self.config.port} unit {self.config.unit_id}: vehicle state {value} "
                    f"(register {EVSE_WB_VEHICLE_STATE_REGISTER}) is not 1..5",
                )
            ) from None

    # -- faults ----------------------------------------------------------------------------

    def _report(self, fault: MeterFault) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        first = fault.kind is not self._last_fault_kind
        if self._pending:
            # The board may still offer an older, higher current: loud, on every attempt
            # (the back-off keeps that to one line per reconnect_delay_max at most).
            amps = self._amps_of(self.register_value(self._target))
            wanted = f"{amps:g} A" if amps else "off (no charging)"
            had = "unknown" if self._last_applied is None else f"{self._last_applied:g} A"
            _log.log(
                logging.ERROR if first else logging.WARNING,
                "current limit %s NOT applied on %s (failing for %.0f s): %s; the board keeps "
                "its previous limit (last confirmed: %s); retrying",
                wanted,
                self.config.port,
                now - self._failing_since,
                fault.message,
                had,
            )
        else:
            _log.log(
                logging.WARNING if first else logging.DEBUG,
                "current limit: cannot check the board: %s",
                fault.message,
            )
        self._last_fault_kind = fault.kind
        self._faults += 1
        self._notify(fault)

    async def _after_fault(self, fault: MeterFault) -> None:
        # A failed port, or an adapter that went silent (ModbusMeter does the same), is
        # closed here and reopened by the next attempt.
        if fault.kind is FaultKind.DISCONNECTED or (
            self._line.timeouts >= self.reopen_after_timeouts > 0
        ):
            self._line.timeouts = 0
            async with self._lock:
                await self._line.close()

    def _recovered(self) -> None:
        if not self._faults:
            return
        if self._last_applied is None:
            _log.info(
                "current limit: the board on %s answers again after %d faults",
                self.config.port,
                self._faults,
            )
        else:
            _log.info(
                "current limit on %s in force again after %d faults: %g A",
                self.config.port,
                self._faults,
                self._last_applied,
            )
        self._faults = 0
        self._failing_since = None
        self._last_fault_kind = None
        self._notify(None)

    def _notify(self, fault: MeterFault | None) -> None:
        if self.on_fault is not None:
            try:
                self.on_fault(fault)
            except Exception:
                _log.exception("current limit: the fault callback failed")

    # -- the writer task -------------------------------------------------------------------

    async def open(self) -> None:
        """Start the writer task: it opens the port (retrying with back-off while it cannot,
        each failure reported) and applies each target given to `set`. Returns at once."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop the writer task and close the port (idempotent). The board keeps the last
        limit it was given."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._lock:
            await self._line.close()

    async def _run(self) -> None:
        delay = self.reconnect_delay
        while True:
            self._wake.clear()
            try:
                if self._pending:
                    await self._apply_latest()
                else:
                    await self._verify()
            except MeterFaultError as exc:
                self._report(exc.fault)
                await self._after_fault(exc.fault)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.reconnect_delay_max)
                continue
            except Exception:
                # A bug must not end the task that keeps the board's limit right.
                _log.exception("current limit: the writer failed; trying again")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.reconnect_delay_max)
                continue
            delay = self.reconnect_delay
            if self._pending:
                continue  # a newer target came while writing, or the board lost the limit
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.verify_interval)
