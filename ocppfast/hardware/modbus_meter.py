"""An energy meter on a Modbus RTU serial line (RS-485 through a UART or a USB adapter).

`ModbusMeter` opens the serial port with pymodbus's asyncio RTU client, reads the registers a
`RegisterMap` names (per-phase voltage, current and active power, total power, total import
energy) and returns them as a `MeterReading` in SI units. `ModbusMeter.poll` reads at an
interval and reports readings and faults through callbacks; a fault never ends the loop: a
timeout, a corrupt frame (CRC error) or an exception response is reported and the next poll
tries again, and a port that fails (the cable or USB adapter unplugged) is closed and reopened
with an exponential back-off until the device is back.

Register maps: `SDM630` and `SDM120` (Eastron, input registers holding IEEE 754 float32 values,
high word first), and `generic_map`, which builds one from a config file's table.
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import logging
import math
import os
import struct
import termios
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerRTU

from .base import MeterReading

__all__ = [
    "EXCEPTION_CODES",
    "PHASE_NAMES",
    "REGISTER_NAMES",
    "SDM120",
    "SDM630",
    "FaultKind",
    "MeterFault",
    "MeterFaultError",
    "MeterReading",
    "ModbusLine",
    "ModbusMeter",
    "Register",
    "RegisterMap",
    "exception_name",
    "generic_map",
]

_log = logging.getLogger("ocppfast.hardware")

# Modbus function codes (Modbus Application Protocol Specification V1.1b3, 6.3 and 6.4).
READ_HOLDING_REGISTERS = 3
READ_INPUT_REGISTERS = 4

# Register types and how many 16-bit registers each spans. Multi-register values are read
# high word first ("big-endian word order"), as the Eastron datasheets give their floats.
_TYPES: dict[str, tuple[str, int]] = {
    "int16": (">h", 1),
    "uint16": (">H", 1),
    "int32": (">i", 2),
    "uint32": (">I", 2),
    "float32": (">f", 2),
}

#: Per-phase quantities, L1 to L3; a single-phase meter maps only the `_l1` ones.
PHASE_NAMES = ("voltage", "current", "power")

#: The names a register map may use, with their units once scaled: `voltage_lN` in V,
#: `current_lN` in A, `power_lN` and `power_total` in W, `energy_import` in Wh.
REGISTER_NAMES = frozenset(
    [f"{q}_l{n}" for q in PHASE_NAMES for n in (1, 2, 3)] + ["power_total", "energy_import"]
)

# Modbus Application Protocol V1.1b3, 6.3/6.4: a read asks for at most 125 registers.
_MAX_SPAN = 125

# Exception codes (Modbus Application Protocol V1.1b3, 7), for the log.
EXCEPTION_CODES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


def exception_name(code: int) -> str:
    """The name of a Modbus exception code, for a log line ("illegal data address")."""
    return EXCEPTION_CODES.get(code, "unknown")


@dataclass(frozen=True)
class Register:
    """Where one quantity lives: function code (3: holding, 4: input registers), the register
    address as sent on the wire (0-based: "30001" in a datasheet is address 0), the value's
    type (int16, uint16, int32, uint32, float32) and the factor that turns it into SI units."""

    function: int
    address: int
    type: str
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.function not in (READ_HOLDING_REGISTERS, READ_INPUT_REGISTERS):
            raise ValueError(f"function must be 3 (holding) or 4 (input), not {self.function!r}")
        if not 0 <= self.address <= 0xFFFF:
            raise ValueError(f"register address {self.address!r} is not 0..65535")
        if self.type not in _TYPES:
            raise ValueError(f"register type {self.type!r} is not one of {sorted(_TYPES)}")
        if not math.isfinite(self.scale):
            raise ValueError(f"scale {self.scale!r} is not a finite number")

    @property
    def count(self) -> int:
        """How many 16-bit registers the value spans."""
        return _TYPES[self.type][1]

    def decode(self, words: Sequence[int]) -> float:
        """The scaled value from its registers (high word first)."""
        raw = b"".join(w.to_bytes(2, "big") for w in words)
        value: float = struct.unpack(_TYPES[self.type][0], raw)[0]
        return value * self.scale


#: A register map: quantity name (one of `REGISTER_NAMES`) -> where to read it.
RegisterMap = Mapping[str, Register]


def _sdm(address: int, scale: float = 1.0) -> Register:
    return Register(READ_INPUT_REGISTERS, address, "float32", scale)


#: Eastron SDM630 (three-phase), "SDM630 Modbus Protocol" input registers, float32:
#: 30001/03/05 (0x0000/02/04) phase 1-3 line-to-neutral voltage V; 30007/09/11 (0x0006/08/0A)
#: phase 1-3 current A; 30013/15/17 (0x000C/0E/10) phase 1-3 active power W; 30053 (0x0034)
#: total system power W; 30073 (0x0048) total import active energy kWh (scaled to Wh).
SDM630: RegisterMap = {
    "voltage_l1": _sdm(0x0000),
    "voltage_l2": _sdm(0x0002),
    "voltage_l3": _sdm(0x0004),
    "current_l1": _sdm(0x0006),
    "current_l2": _sdm(0x0008),
    "current_l3": _sdm(0x000A),
    "power_l1": _sdm(0x000C),
    "power_l2": _sdm(0x000E),
    "power_l3": _sdm(0x0010),
    "power_total": _sdm(0x0034),
    "energy_import": _sdm(0x0048, 1000.0),
}

#: Eastron SDM120 (single-phase), "SDM120 Modbus Protocol" input registers, float32:
#: 30001 (0x0000) voltage V; 30007 (0x0006) current A; 30013 (0x000C) active power W;
#: 30073 (0x0048) import active energy kWh (scaled to Wh).
SDM120: RegisterMap = {
    "voltage_l1": _sdm(0x0000),
    "current_l1": _sdm(0x0006),
    "power_l1": _sdm(0x000C),
    "energy_import": _sdm(0x0048, 1000.0),
}

_FUNCTION_NAMES = {
    "holding": READ_HOLDING_REGISTERS,
    "input": READ_INPUT_REGISTERS,
    3: READ_HOLDING_REGISTERS,
    4: READ_INPUT_REGISTERS,
}


def generic_map(config: Mapping[str, Any]) -> dict[str, Register]:
    """A register map from a config file's table: name -> (function, address, type, scale),
    function being 3 / "holding" or 4 / "input", e.g. ``energy_import = ["input", 72,
    "float32", 1000]``. Raises ValueError naming the entry when one is wrong."""
    registers: dict[str, Register] = {}
    for name, entry in config.items():
        if name not in REGISTER_NAMES:
            raise ValueError(
                f"meter register {name!r}: unknown, use one of {sorted(REGISTER_NAMES)}"
            )
        if isinstance(entry, (str, bytes)) or not isinstance(entry, Sequence) or len(entry) != 4:
            raise ValueError(f"meter register {name!r}: expected [function, address, type, scale]")
        function, address, type_, scale = entry
        if isinstance(function, str):
            function = function.lower()
        if function not in _FUNCTION_NAMES or isinstance(function, bool):
            raise ValueError(
                f"meter register {name!r}: function {function!r} is not 3/4/holding/input"
            )
        if not isinstance(address, int) or isinstance(address, bool):
            raise ValueError(f"meter register {name!r}: address {address!r} is not an integer")
        if not isinstance(scale, (int, float)) or isinstance(scale, bool):
            raise ValueError(f"meter register {name!r}: scale {scale!r} is not a number")
        try:
            registers[name] = Register(_FUNCTION_NAMES[function], address, str(type_), float(scale))
        except ValueError as exc:
            raise ValueError(f"meter register {name!r}: {exc}") from None
    if not registers:
        raise ValueError("the meter register map is empty")
    return registers


class FaultKind(enum.Enum):
    """What went wrong talking to the meter."""

    #: The meter did not answer within the timeout (wrong unit id, baud rate, wiring, or off).
    TIMEOUT = "timeout"
    #: An answer came but was corrupt (CRC mismatch or truncated: noise, termination, baud).
    CRC = "crc"
    #: The meter answered with a Modbus exception (e.g. a register it does not have).
    EXCEPTION = "exception"
    #: The answer decoded to a value that is not a finite number.
    INVALID_VALUE = "invalid_value"
    #: The serial port failed or could not be opened (cable or USB adapter unplugged).
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class MeterFault:
    """A fault: its kind, a message an operator can act on, and when (UTC)."""

    kind: FaultKind
    message: str
    time: datetime.datetime = field(
        default_factory=lambda: datetime.datetime.now(datetime.timezone.utc)
    )


class MeterFaultError(Exception):
    """Raised by `ModbusMeter.read` and `open`; `fault` says what went wrong."""

    def __init__(self, fault: MeterFault) -> None:
        super().__init__(fault.message)
        self.fault = fault


@dataclass(frozen=True)
class _Span:
    function: int
    address: int
    count: int
    registers: tuple[tuple[str, Register], ...]


def _spans(register_map: RegisterMap) -> list[_Span]:
    """Group the registers into as few reads as possible: contiguous registers of one function
    share a request. Gaps are never read across, since a meter may answer "illegal data
    address" for a register it does not implement."""
    spans: list[_Span] = []
    ordered = sorted(register_map.items(), key=lambda kv: (kv[1].function, kv[1].address))
    for name, reg in ordered:
        last = spans[-1] if spans else None
        if (
            last is not None
            and last.function == reg.function
            and last.address + last.count == reg.address
            and last.count + reg.count <= _MAX_SPAN
        ):
            spans[-1] = _Span(
                last.function, last.address, last.count + reg.count, (*last.registers, (name, reg))
            )
        elif (
            last is not None
            and last.function == reg.function
            and reg.address < last.address + last.count
        ):
            # Holding and input registers are separate address spaces (Modbus Application
            # Protocol V1.1b3, 4.3): only registers of one function can overlap.
            raise ValueError(f"meter register {name!r} overlaps another register")
        else:
            spans.append(_Span(reg.function, reg.address, reg.count, ((name, reg),)))
    return spans


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class ModbusLine:
    """A Modbus RTU serial line to one device: the port, its settings and the unit id.

    Opens the port with pymodbus's asyncio client, with pymodbus's own retries and
    reconnecting off (the users retry and reopen at their own pace, and report each failure),
    and tells what a request that got no usable answer met: a timeout, a corrupt answer (CRC
    error) or a port that failed. `ModbusMeter` and the EVSE board's `ModbusCurrentLimit`
    (modbus_evse.py) each talk through one.

    `port`: the serial device (e.g. /dev/ttyUSB0, or a stable /dev/serial/by-id/ link, which
    survives the adapter being re-plugged). `unit_id`: the device's Modbus address (1-247).
    `baudrate`, `parity` ("N", "E", "O"), `stopbits` (1, 2): as configured on the device.
    `timeout`: seconds to wait for an answer. `timeouts` counts the timeouts in a row
    (`no_answer` adds one; the user resets it after an answer).
    """

    def __init__(
        self,
        port: str,
        *,
        unit_id: int = 1,
        baudrate: int = 9600,
        parity: str = "N",
        stopbits: int = 1,
        timeout: float = 1.0,
    ) -> None:
        # Modbus over Serial Line V1.02, 2.2: addresses 1-247 are individual devices.
        if not 1 <= unit_id <= 247:
            raise ValueError(f"Modbus unit id {unit_id!r} is not 1..247")
        if parity not in ("N", "E", "O"):
            raise ValueError(f"parity {parity!r} is not N, E or O")
        if stopbits not in (1, 2):
            raise ValueError(f"stop bits {stopbits!r} is not 1 or 2")
        if baudrate <= 0 or timeout <= 0:
            raise ValueError("baudrate and timeout must be positive")
        self.port = port
        self.unit_id = unit_id
        self.baudrate = baudrate
        self.parity = parity
        self.stopbits = stopbits
        self.timeout = timeout
        self.timeouts = 0
        self._client: AsyncModbusSerialClient | None = None
        self._lost = False
        self._received = b""

    def __repr__(self) -> str:
        return f"ModbusLine({self.port!r}, unit {self.unit_id})"

    @property
    def connected(self) -> bool:
        """True while the port is open and has not failed."""
        return self._client is not None and not self._lost and self._client.connected

    @property
    def failed(self) -> bool:
        """True when the port was opened and has failed since (pyserial saw EIO / HUP)."""
        return self._client is not None and not self.connected

    async def open(self) -> None:
        """Open the serial port. Raises MeterFaultError (DISCONNECTED) when it cannot."""
        await self.close()
        self._lost = False
        client = AsyncModbusSerialClient(
            self.port,
            baudrate=self.baudrate,
            bytesize=8,
            parity=self.parity,
            stopbits=self.stopbits,
            timeout=self.timeout,
            # One attempt per request: the users retry at their own pace, and reporting each
            # failure beats hiding it behind pymodbus's retries.
            retries=0,
            # 0 turns pymodbus's own reconnecting off: reopening is the users' business, with
            # back-off and a fault report, so that a gone device is visible to the station.
            reconnect_delay=0,
            trace_packet=self._trace_packet,
            trace_connect=self._trace_connect,
        )
        try:
            ok = await client.connect()
        except (OSError, ModbusException, termios.error, ValueError) as exc:
            # termios.error: the driver refused the line settings (e.g. a parity it lacks).
            ok = False
            reason = str(exc)
        else:
            # pymodbus logs the OS error itself; name the common cause here.
            reason = (
                "no such device (unplugged?)"
                if not os.path.exists(self.port)
                else "the port could not be opened (busy or no permission?)"
            )
        if not ok:
            client.close()
            raise MeterFaultError(
                MeterFault(FaultKind.DISCONNECTED, f"cannot open {self.port}: {reason}")
            )
        self._client = client
        self.timeouts = 0

    async def close(self) -> None:
        """Close the serial port (idempotent)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def client(self) -> AsyncModbusSerialClient:
        """The open client, for one request. Raises MeterFaultError (DISCONNECTED) when the
        port is not open or has failed."""
        client = self._client
        if client is None or not self.connected:
            raise MeterFaultError(
                MeterFault(FaultKind.DISCONNECTED, f"{self.port} is not open (device unplugged?)")
            )
        self._received = b""
        return client

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        # Keep the raw bytes of the answer in progress: a request that times out with bytes
        # received got a corrupt answer (CRC error), not none at all.
        if sending:
            self._received = b""
        else:
            self._received = bytes(data)
        return data

    def _trace_connect(self, connected: bool) -> None:
        if not connected:
            self._lost = True

    def no_answer(self, what: str) -> MeterFault:
        """What the request for `what` (e.g. "registers 0+6"), which got no usable answer,
        met; a timeout counts in `timeouts`."""
        where = f"{self.port} unit {self.unit_id}, {what}"
        if self._lost:
            return MeterFault(FaultKind.DISCONNECTED, f"{self.port} failed (device unplugged?)")
        data = self._received
        if data:
            # Modbus over Serial Line V1.02, 2.5.1.2: the CRC is the last two bytes, low
            # byte first (FramerRTU.compute_CRC returns it byte-swapped accordingly).
            if len(data) >= 4 and not FramerRTU.check_CRC(
                data[:-2], int.from_bytes(data[-2:], "big")
            ):
                what = "CRC error"
            else:
                what = "unusable answer"
            return MeterFault(FaultKind.CRC, f"{what} from {where}: {data[:64].hex(' ')}")
        self.timeouts += 1
        return MeterFault(FaultKind.TIMEOUT, f"no answer in {self.timeout:g} s from {where}")


class ModbusMeter:
    """An energy meter on a Modbus RTU serial line.

    `port`: the serial device (e.g. /dev/ttyUSB0, or a stable /dev/serial/by-id/ link, which
    survives the adapter being re-plugged). `register_map`: `SDM630`, `SDM120` or a
    `generic_map`. `unit_id`: the meter's Modbus address (1-247). `baudrate`, `parity` ("N",
    "E", "O"), `stopbits` (1, 2): as configured on the meter. `timeout`: seconds to wait for an
    answer. `on_reading` / `on_fault`: called by `poll` for each reading and each fault.
    `reconnect_delay` / `reconnect_delay_max`: the back-off between attempts to reopen a port
    that failed (doubling from the first to the second). After `reopen_after_timeouts`
    timeouts in a row the port is reopened too (an adapter can stop working without an error).
    `line` is the `ModbusLine` it talks through.
    """

    def __init__(
        self,
        port: str,
        register_map: RegisterMap,
        *,
        unit_id: int = 1,
        baudrate: int = 9600,
        parity: str = "N",
        stopbits: int = 1,
        timeout: float = 1.0,
        on_reading: Callable[[MeterReading], object] | None = None,
        on_fault: Callable[[MeterFault], object] | None = None,
        reconnect_delay: float = 1.0,
        reconnect_delay_max: float = 30.0,
        reopen_after_timeouts: int = 3,
    ) -> None:
        if reconnect_delay <= 0:
            raise ValueError("reconnect_delay must be positive")
        if not register_map:
            raise ValueError("the meter register map is empty")
        for name in register_map:
            if name not in REGISTER_NAMES:
                raise ValueError(f"meter register {name!r}: unknown name")
        self.line = ModbusLine(
            port,
            unit_id=unit_id,
            baudrate=baudrate,
            parity=parity,
            stopbits=stopbits,
            timeout=timeout,
        )
        self.register_map = dict(register_map)
        self.on_reading = on_reading
        self.on_fault = on_fault
        self.reconnect_delay = reconnect_delay
        self.reconnect_delay_max = max(reconnect_delay, reconnect_delay_max)
        self.reopen_after_timeouts = reopen_after_timeouts
        self._spans = _spans(self.register_map)
        self._faults_since_ok = 0
        self._last_fault_kind: FaultKind | None = None

    def __repr__(self) -> str:
        return f"ModbusMeter({self.port!r}, unit {self.unit_id})"

    @property
    def port(self) -> str:
        """The serial device."""
        return self.line.port

    @property
    def unit_id(self) -> int:
        """The meter's Modbus address."""
        return self.line.unit_id

    @property
    def connected(self) -> bool:
        """True while the port is open and has not failed."""
        return self.line.connected

    async def open(self) -> None:
        """Open the serial port. Raises MeterFaultError (DISCONNECTED) when it cannot."""
        await self.line.open()

    async def close(self) -> None:
        """Close the serial port (idempotent)."""
        await self.line.close()

    async def read(self) -> MeterReading:
        """Read every register of the map once. Raises MeterFaultError on a fault; the port
        stays open (reopening is `poll`'s business)."""
        line = self.line
        values: dict[str, float] = {}
        for span in self._spans:
            client = line.client()
            read = (
                client.read_input_registers
                if span.function == READ_INPUT_REGISTERS
                else client.read_holding_registers
            )
            try:
                response = await read(span.address, count=span.count, device_id=self.unit_id)
            except (ModbusException, OSError, asyncio.TimeoutError) as exc:
                fault = line.no_answer(f"registers {span.address}+{span.count}")
                _log.debug("meter %s: %s (%s)", self.port, fault.message, exc)
                raise MeterFaultError(fault) from None
            if response.isError():
                code = getattr(response, "exception_code", 0)
                raise MeterFaultError(
                    MeterFault(
                        FaultKind.EXCEPTION,
                        f"{self.port} unit {self.unit_id} refused registers {span.address}+"
                        f"{span.count} (function {span.function}): exception {code} "
                        f"({exception_name(code)})",
                    )
                )
            words = list(response.registers)
            if len(words) != span.count:
                raise MeterFaultError(
                    MeterFault(
                        FaultKind.CRC,
                        f"{self.port} unit {self.unit_id} sent {len(words)} registers for "
                        f"{span.address}+{span.count}",
                    )
                )
            offset = 0
            for name, reg in span.registers:
                value = reg.decode(words[offset : offset + reg.count])
                offset += reg.count
                if not math.isfinite(value):
                    raise MeterFaultError(
                        MeterFault(
                            FaultKind.INVALID_VALUE,
                            f"{self.port} unit {self.unit_id}: {name} is {value} "
                            f"(register {reg.address})",
                        )
                    )
                values[name] = value
        line.timeouts = 0
        return self._reading(values)

    def _reading(self, values: dict[str, float]) -> MeterReading:
        def phases(quantity: str) -> tuple[float, ...]:
            found = [values.get(f"{quantity}_l{n}") for n in (1, 2, 3)]
            # Keep L1..Ln up to the last phase mapped; a gap (unmapped L2 of a 3-phase map)
            # would misplace phases, so a map either has L1 only or L1-L3.
            while found and found[-1] is None:
                found.pop()
            return tuple(v if v is not None else math.nan for v in found)

        power_phase = phases("power")
        power = values.get("power_total")
        if power is None and power_phase:
            power = sum(power_phase)
        return MeterReading(
            energy_wh=values.get("energy_import"),
            power_w=power,
            current_a=phases("current"),
            voltage_v=phases("voltage"),
            time=_now(),
            power_phase_w=power_phase,
        )

    def _report(self, fault: MeterFault) -> None:
        # The first fault of a run (or a new kind) is a warning; repeats go to debug so a
        # meter that is off for a night does not flood the log.
        if fault.kind is not self._last_fault_kind:
            _log.warning("energy meter: %s", fault.message)
        else:
            _log.debug("energy meter: %s", fault.message)
        self._last_fault_kind = fault.kind
        self._faults_since_ok += 1
        if self.on_fault is not None:
            try:
                self.on_fault(fault)
            except Exception:
                _log.exception("energy meter: the fault callback failed")

    def _deliver(self, reading: MeterReading) -> None:
        if self._faults_since_ok:
            _log.info(
                "energy meter on %s answering again after %d faults",
                self.port,
                self._faults_since_ok,
            )
        self._faults_since_ok = 0
        self._last_fault_kind = None
        if self.on_reading is not None:
            try:
                self.on_reading(reading)
            except Exception:
                _log.exception("energy meter: the reading callback failed")

    async def poll(self, interval: float = 1.0) -> None:
        """Read every `interval` seconds until cancelled, reporting each reading and fault
        through the callbacks; open the port first and reopen it with back-off when it fails.
        Never returns by itself; the port is closed when cancelled."""
        delay = self.reconnect_delay
        try:
            while True:
                if self.line.failed:
                    # The port failed between two reads (pyserial saw EIO / HUP): report
                    # it now rather than as a mere failure to reopen.
                    self._report(
                        MeterFault(
                            FaultKind.DISCONNECTED, f"{self.port} failed (device unplugged?)"
                        )
                    )
                    await self.close()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.reconnect_delay_max)
                if not self.connected:
                    try:
                        await self.open()
                    except MeterFaultError as exc:
                        self._report(exc.fault)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, self.reconnect_delay_max)
                        continue
                    # Info when first opened or back after a failure; a reopen after timeouts
                    # is routine (the timeouts were already reported) and goes to debug.
                    _log.log(
                        logging.DEBUG
                        if self._faults_since_ok and self._last_fault_kind is FaultKind.TIMEOUT
                        else logging.INFO,
                        "energy meter: opened %s (unit %d)",
                        self.port,
                        self.unit_id,
                    )
                    delay = self.reconnect_delay
                try:
                    reading = await self.read()
                except MeterFaultError as exc:
                    self._report(exc.fault)
                    if exc.fault.kind is FaultKind.DISCONNECTED or (
                        self.line.timeouts >= self.reopen_after_timeouts > 0
                    ):
                        await self.close()
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, self.reconnect_delay_max)
                        continue
                else:
                    self._deliver(reading)
                await asyncio.sleep(interval)
        finally:
            await self.close()
