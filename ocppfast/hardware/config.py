"""The hardware configuration file: which devices a charger has and how to reach them.

A TOML file (parsed with tomllib, or tomli on Python 3.10) mapping each connector to its
devices, validated into frozen dataclasses. Every error names the exact key it is about, e.g.
``connectors.1.meter.baudrate: expected an integer, got "fast"``, so an installer can fix the
file without reading this code. Unknown keys are refused with the known ones listed: a typo
(``buadrate``) silently falling back to a default would be a wiring fault found much later.

What is supported now: per connector, a Modbus RTU energy meter (``meter``), an RFID reader
(``rfid``) and GPIO lines (``plug`` input, ``contactor`` output with its ``feedback`` input,
``leds`` outputs) and the current-limit output of an EVSE controller board over Modbus RTU
(``current_limit``, modbus_evse.py); station-wide, one RFID reader shared by all connectors
(``rfid`` at the top), the ``emergency_stop`` input and the default GPIO chip (``[gpio] chip``).
``pwm`` is refused with what to do instead, so that a file written for it fails loudly rather
than running a charger without its current limit.

See docs/hardware.md for the format with a complete example.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

from .gpio import BIASES, MAX_DEBOUNCE, LineConfig
from .modbus_meter import SDM120, SDM630, ModbusMeter, RegisterMap, generic_map
from .rfid import RfidConfig

if TYPE_CHECKING:
    from .modbus_evse import CurrentLimitConfig

__all__ = [
    "GPIO_KEYS",
    "LED_NAMES",
    "METER_MODELS",
    "ConnectorConfig",
    "HardwareConfig",
    "HardwareConfigError",
    "MeterConfig",
    "load_config",
    "parse_config",
]

#: Meter models with a built-in register map; "generic" takes its map from `registers`.
METER_MODELS: Mapping[str, RegisterMap | None] = {
    "SDM630": SDM630,
    "SDM120": SDM120,
    "generic": None,
}

#: The keys of GPIO lines (ocppfast.hardware.gpio), and of their default chip ("gpio").
GPIO_KEYS = frozenset(
    ["plug", "contactor", "pwm", "current_limit", "leds", "emergency_stop", "gpio"]
)
#: GPIO keys refused, with what to do instead.
_REFUSED = {
    "pwm": "a PWM output is not supported; use current_limit",
}
#: The status LEDs a connector can have (outputs, active = lit).
LED_NAMES = ("available", "occupied", "charging", "fault")

_TOP_KEYS = ("connectors", "rfid", "gpio", "emergency_stop")
_CONNECTOR_KEYS = ("meter", "rfid", "plug", "contactor", "leds", "current_limit")
_GPIO_TABLE_KEYS = ("chip",)
_LINE_KEYS = ("line", "chip", "active_low", "bias", "debounce")
_METER_KEYS = (
    "port",
    "model",
    "unit_id",
    "baudrate",
    "parity",
    "stopbits",
    "timeout",
    "interval",
    "registers",
)
_RFID_KEYS = ("port", "format", "baudrate", "prefix", "base", "max_line", "hold_time")


class HardwareConfigError(ValueError):
    """The configuration file is wrong. `key` is the dotted path of the offending key
    (e.g. ``connectors.1.meter.baudrate``; empty for the file as a whole); the message
    starts with it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


@dataclass(frozen=True)
class MeterConfig:
    """A Modbus RTU energy meter (see `ModbusMeter` for the meaning of each field).
    `model`: "SDM630", "SDM120" or "generic"; `registers`: the map in use (the model's, or
    the file's `registers` table for "generic"); `interval`: seconds between readings."""

    port: str
    model: str
    registers: RegisterMap
    unit_id: int = 1
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: int = 1
    timeout: float = 1.0
    interval: float = 1.0

    def build(self, **kwargs: Any) -> ModbusMeter:
        """A `ModbusMeter` for this meter; `kwargs` go to it (callbacks, back-off)."""
        return ModbusMeter(
            self.port,
            self.registers,
            unit_id=self.unit_id,
            baudrate=self.baudrate,
            parity=self.parity,
            stopbits=self.stopbits,
            timeout=self.timeout,
            **kwargs,
        )


def _no_leds() -> Mapping[str, LineConfig]:
    return MappingProxyType({})


@dataclass(frozen=True)
class ConnectorConfig:
    """The devices of one connector (ids from 1, as OCPP numbers connectors). GPIO lines:
    `plug` (input, active = an EV is plugged in), `contactor` (output, active = closed) and
    `contactor_feedback` (input: its auxiliary contact, active = closed), `leds` (outputs, by
    name: "available", "occupied", "charging", "fault"; active = lit)."""

    id: int
    meter: MeterConfig | None = None
    rfid: RfidConfig | None = None
    plug: LineConfig | None = None
    contactor: LineConfig | None = None
    contactor_feedback: LineConfig | None = None
    leds: Mapping[str, LineConfig] = field(default_factory=_no_leds)
    #: The EVSE controller board that sets the current the EV may draw (smart charging).
    current_limit: CurrentLimitConfig | None = None


@dataclass(frozen=True)
class HardwareConfig:
    """A whole configuration file: the connectors in id order, the station-wide RFID reader
    shared by all connectors (None when there is none) and the emergency stop input (active =
    pressed)."""

    connectors: tuple[ConnectorConfig, ...] = ()
    rfid: RfidConfig | None = None
    emergency_stop: LineConfig | None = None

    def gpio_lines(self) -> tuple[dict[str, LineConfig], dict[str, LineConfig]]:
        """Every GPIO line, as (inputs, outputs) for `GpioBank`, keyed by a stable name:
        "emergency_stop", "connectors.N.plug", "connectors.N.contactor.feedback" (inputs);
        "connectors.N.contactor", "connectors.N.leds.<name>" (outputs). In file order."""
        inputs: dict[str, LineConfig] = {}
        outputs: dict[str, LineConfig] = {}
        if self.emergency_stop is not None:
            inputs["emergency_stop"] = self.emergency_stop
        for connector in self.connectors:
            key = f"connectors.{connector.id}"
            if connector.plug is not None:
                inputs[f"{key}.plug"] = connector.plug
            if connector.contactor is not None:
                outputs[f"{key}.contactor"] = connector.contactor
            if connector.contactor_feedback is not None:
                inputs[f"{key}.contactor.feedback"] = connector.contactor_feedback
            for name, led in connector.leds.items():
                outputs[f"{key}.leds.{name}"] = led
        return inputs, outputs

    def devices(self) -> list[tuple[str, MeterConfig | RfidConfig]]:
        """Every configured device with the key it was configured under, in file order:
        ("rfid", ...), ("connectors.1.meter", ...), ("connectors.1.rfid", ...), ..."""
        found: list[tuple[str, MeterConfig | RfidConfig]] = []
        if self.rfid is not None:
            found.append(("rfid", self.rfid))
        for connector in self.connectors:
            if connector.meter is not None:
                found.append((f"connectors.{connector.id}.meter", connector.meter))
            if connector.rfid is not None:
                found.append((f"connectors.{connector.id}.rfid", connector.rfid))
        return found


def load_config(path: str | Path) -> HardwareConfig:
    """Read and validate the file at `path`. Raises HardwareConfigError (the key is empty
    for a file that cannot be read or is not TOML)."""
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise HardwareConfigError("", f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise HardwareConfigError("", f"{path} is not valid TOML: {exc}") from None
    return parse_config(data)


def parse_config(data: Mapping[str, Any]) -> HardwareConfig:
    """Validate an already parsed TOML document (a dict). Raises HardwareConfigError."""
    # Here, not at the top: modbus_evse validates with this module's helpers.
    from .modbus_evse import parse_current_limit

    _check_keys("", data, _TOP_KEYS)
    rfid = _rfid("rfid", data["rfid"]) if "rfid" in data else None
    chip = _gpio_chip(data["gpio"]) if "gpio" in data else None
    lines = _Lines(chip)
    emergency_stop = (
        lines.input("emergency_stop", data["emergency_stop"]) if "emergency_stop" in data else None
    )
    connectors: list[ConnectorConfig] = []
    table = _table("connectors", data.get("connectors", {}))
    for name, value in table.items():
        key = f"connectors.{name}"
        # OCPP numbers connectors (1.6) and EVSEs (2.0.1) from 1; 0 is the station itself.
        if not (name.isascii() and name.isdigit()) or int(name) < 1 or name != str(int(name)):
            raise HardwareConfigError(
                key, "a connector id is a whole number from 1 ([connectors.1])"
            )
        connector = _table(key, value)
        _check_keys(key, connector, _CONNECTOR_KEYS)
        contactor = feedback = None
        if "contactor" in connector:
            contactor, feedback = lines.contactor(f"{key}.contactor", connector["contactor"])
        connectors.append(
            ConnectorConfig(
                id=int(name),
                meter=_meter(f"{key}.meter", connector["meter"]) if "meter" in connector else None,
                rfid=_rfid(f"{key}.rfid", connector["rfid"]) if "rfid" in connector else None,
                plug=lines.input(f"{key}.plug", connector["plug"]) if "plug" in connector else None,
                contactor=contactor,
                contactor_feedback=feedback,
                leds=lines.leds(f"{key}.leds", connector["leds"])
                if "leds" in connector
                else _no_leds(),
                current_limit=parse_current_limit(
                    f"{key}.current_limit", connector["current_limit"]
                )
                if "current_limit" in connector
                else None,
            )
        )
    connectors.sort(key=lambda c: c.id)
    config = HardwareConfig(tuple(connectors), rfid, emergency_stop)
    _check_ports(config)
    return config


# -- validation helpers ------------------------------------------------------------------------


def _show(value: object) -> str:
    """`value` as an operator wrote it in TOML: strings in double quotes, true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return str(value)


def _check_keys(key: str, table: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for name in table:
        where = f"{key}.{name}" if key else name
        if name in _REFUSED:
            raise HardwareConfigError(where, _REFUSED[name])
        if name not in known:
            raise HardwareConfigError(
                where, f"unknown key; the known keys here are: {', '.join(known)}"
            )


def _table(key: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise HardwareConfigError(key, f"expected a table, got {_show(value)}")
    return value


def _int(key: str, value: object, low: int, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise HardwareConfigError(key, f"expected an integer, got {_show(value)}")
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f"at least {low}"
        raise HardwareConfigError(key, f"expected {bounds}, got {value}")
    return value


def _seconds(key: str, value: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise HardwareConfigError(key, f"expected a number of seconds, got {_show(value)}")
    if not math.isfinite(value) or value <= 0:
        raise HardwareConfigError(key, f"expected a positive number of seconds, got {value}")
    return float(value)


def _str(key: str, value: object, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str):
        raise HardwareConfigError(key, f"expected a string, got {_show(value)}")
    if choices is not None and value not in choices:
        raise HardwareConfigError(
            key, f"expected one of {', '.join(json.dumps(c) for c in choices)}, got {_show(value)}"
        )
    return value


def _port(key: str, table: Mapping[str, Any]) -> str:
    if "port" not in table:
        raise HardwareConfigError(
            f"{key}.port", "missing: the serial device, e.g. /dev/serial/by-id/usb-...-port0"
        )
    port = _str(f"{key}.port", table["port"])
    if not port.strip():
        raise HardwareConfigError(f"{key}.port", "expected a device path, got an empty string")
    return port


# Common RS-485 / UART rates; a meter's menu offers a subset (the SDM630 manual: 2400 to
# 38400). Others are refused as a likely typo (96000 for 9600).
_BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


def _baudrate(key: str, value: object) -> int:
    rate = _int(key, value, 1)
    if rate not in _BAUDRATES:
        raise HardwareConfigError(
            key, f"expected one of {', '.join(map(str, _BAUDRATES))}, got {rate}"
        )
    return rate


def _meter(key: str, value: object) -> MeterConfig:
    table = _table(key, value)
    _check_keys(key, table, _METER_KEYS)
    port = _port(key, table)
    model = _str(f"{key}.model", table.get("model", "SDM630"), tuple(METER_MODELS))
    registers: RegisterMap
    if model == "generic":
        if "registers" not in table:
            raise HardwareConfigError(
                f"{key}.registers",
                'missing: a "generic" meter needs a registers table, e.g. '
                'energy_import = ["input", 72, "float32", 1000]',
            )
        raw = _table(f"{key}.registers", table["registers"])
        for name, entry in raw.items():
            # generic_map checks the whole table; checking entry by entry names the key.
            try:
                generic_map({name: entry})
            except ValueError as exc:
                message = str(exc).removeprefix(f"meter register {name!r}: ")
                raise HardwareConfigError(f"{key}.registers.{name}", message) from None
        try:
            registers = generic_map(raw)
            # Overlapping registers are only found when grouping them into reads.
            ModbusMeter(port, registers)
        except ValueError as exc:
            raise HardwareConfigError(f"{key}.registers", str(exc)) from None
    else:
        if "registers" in table:
            raise HardwareConfigError(
                f"{key}.registers", f'only for model = "generic"; the {model} map is built in'
            )
        registers = METER_MODELS[model] or {}
    return MeterConfig(
        port=port,
        model=model,
        registers=registers,
        interval=_seconds(f"{key}.interval", table.get("interval", 1.0)),
        **_modbus_line(key, table),
    )


def _modbus_line(key: str, table: Mapping[str, Any]) -> dict[str, Any]:
    """The Modbus RTU line settings of the device at `key`: unit_id, baudrate, parity,
    stopbits, timeout (a meter's and a current-limit board's)."""
    return {
        # Modbus over Serial Line V1.02, 2.2: 1-247 address individual devices.
        "unit_id": _int(f"{key}.unit_id", table.get("unit_id", 1), 1, 247),
        "baudrate": _baudrate(f"{key}.baudrate", table.get("baudrate", 9600)),
        "parity": _str(f"{key}.parity", table.get("parity", "N"), ("N", "E", "O")),
        "stopbits": _int(f"{key}.stopbits", table.get("stopbits", 1), 1, 2),
        "timeout": _seconds(f"{key}.timeout", table.get("timeout", 1.0)),
    }


def _rfid(key: str, value: object) -> RfidConfig:
    table = _table(key, value)
    _check_keys(key, table, _RFID_KEYS)
    port = _port(key, table)
    fmt = _str(f"{key}.format", table.get("format", "em4100"), ("em4100", "line"))
    base = _int(f"{key}.base", table.get("base", 16), 10, 16)
    if base not in (10, 16):
        raise HardwareConfigError(f"{key}.base", f"expected 10 or 16, got {base}")
    if fmt == "em4100":
        for name in ("prefix", "base", "max_line"):
            if name in table:
                raise HardwareConfigError(f"{key}.{name}", 'only for format = "line"')
    return RfidConfig(
        port=port,
        format=fmt,  # type: ignore[arg-type]  # checked against the choices just above
        baudrate=_baudrate(f"{key}.baudrate", table.get("baudrate", 9600)),
        line_prefix=_str(f"{key}.prefix", table.get("prefix", "")),
        line_base=base,  # type: ignore[arg-type]  # 10 or 16, checked above
        max_line=_int(f"{key}.max_line", table.get("max_line", 64), 1, 4096),
        hold_time=_seconds(f"{key}.hold_time", table.get("hold_time", 1.0)),
    )


def _check_ports(config: HardwareConfig) -> None:
    # Each device opens its port on its own: two on one port would steal each other's bytes.
    # (Several meters on one RS-485 bus, told apart by unit id, need a shared client: not
    # supported yet.)
    seen: dict[str, str] = {}
    ports: list[tuple[str, str]] = [(key, device.port) for key, device in config.devices()]
    ports += [
        (f"connectors.{c.id}.current_limit", c.current_limit.port)
        for c in config.connectors
        if c.current_limit is not None
    ]
    for key, port in ports:
        previous = seen.setdefault(port, key)
        if previous != key:
            raise HardwareConfigError(
                f"{key}.port",
                f"{_show(port)} is already used by {previous}; each device needs its "
                "own port (meters sharing one RS-485 bus are not supported yet)",
            )


# -- GPIO lines --------------------------------------------------------------------------------


def _gpio_chip(value: object) -> str:
    table = _table("gpio", value)
    _check_keys("gpio", table, _GPIO_TABLE_KEYS)
    if "chip" not in table:
        raise HardwareConfigError(
            "gpio.chip", 'missing: the default chip of the lines, e.g. chip = "gpiochip0"'
        )
    return _chip("gpio.chip", table["chip"])


def _chip(key: str, value: object) -> str:
    chip = _str(key, value)
    if not chip.strip():
        raise HardwareConfigError(
            key, 'expected a chip: a name ("gpiochip0"), a path or a label, got an empty string'
        )
    return chip


class _Lines:
    """Parses the line specs of one file, with its default chip, and refuses a line used twice
    (two uses of one line would fight over it; the kernel would refuse the second request)."""

    def __init__(self, default_chip: str | None) -> None:
        self._chip = default_chip
        self._seen: dict[tuple[str, str | int], str] = {}

    def input(self, key: str, value: object) -> LineConfig:
        return self._line(key, value, output=False)

    def output(self, key: str, value: object) -> LineConfig:
        return self._line(key, value, output=True)

    def contactor(self, key: str, value: object) -> tuple[LineConfig, LineConfig | None]:
        """The contactor (output) and its feedback contact (input, the `feedback` key)."""
        contactor = self._line(key, value, output=True, extra=("feedback",))
        feedback = None
        if isinstance(value, dict) and "feedback" in value:
            feedback = self.input(f"{key}.feedback", value["feedback"])
        return contactor, feedback

    def leds(self, key: str, value: object) -> Mapping[str, LineConfig]:
        table = _table(key, value)
        _check_keys(key, table, LED_NAMES)
        return MappingProxyType(
            {name: self.output(f"{key}.{name}", table[name]) for name in LED_NAMES if name in table}
        )

    def _line(
        self, key: str, value: object, *, output: bool, extra: tuple[str, ...] = ()
    ) -> LineConfig:
        if isinstance(value, dict):
            table: Mapping[str, Any] = value
            if "feedback" in table and "feedback" not in extra:
                raise HardwareConfigError(
                    f"{key}.feedback", "only under contactor (its auxiliary contact)"
                )
            _check_keys(key, table, _LINE_KEYS + extra)
            if "line" not in table:
                raise HardwareConfigError(
                    f"{key}.line", 'missing: the line\'s name ("GPIO17") or offset (17)'
                )
            line = _line_id(f"{key}.line", table["line"])
        else:
            table = {}
            line = _line_id(key, value)
        if "chip" in table:
            chip = _chip(f"{key}.chip", table["chip"])
        elif self._chip is not None:
            chip = self._chip
        else:
            raise HardwareConfigError(
                key,
                'no chip: add chip = "gpiochip0" to this line or a [gpio] table with the '
                "default chip (gpiodetect lists the chips)",
            )
        if output:
            for name in ("bias", "debounce"):
                if name in table:
                    raise HardwareConfigError(
                        f"{key}.{name}", "only for inputs; an output drives its line"
                    )
        active_low = table.get("active_low", False)
        if not isinstance(active_low, bool):
            raise HardwareConfigError(
                f"{key}.active_low", f"expected true or false, got {_show(active_low)}"
            )
        bias = _str(f"{key}.bias", table.get("bias", "as-is"), BIASES)
        debounce = _debounce(f"{key}.debounce", table.get("debounce", 0.0))
        previous = self._seen.setdefault((chip, line), key)
        if previous != key:
            raise HardwareConfigError(
                key,
                f"line {_show(line)} of {_show(chip)} is already used by {previous}; each GPIO "
                "line has one use",
            )
        return LineConfig(
            chip=chip,
            line=line,
            active_low=active_low,
            bias=bias,  # type: ignore[arg-type]  # checked against BIASES just above
            debounce=debounce,
        )


def _line_id(key: str, value: object) -> str | int:
    if isinstance(value, str):
        if not value.strip():
            raise HardwareConfigError(
                key, 'expected a line name ("GPIO17") or offset (17), got an empty string'
            )
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # The uAPI's offsets are u32; no chip has more than a few hundred lines.
        return _int(key, value, 0, 65535)
    raise HardwareConfigError(
        key,
        f'expected a line name ("GPIO17"), an offset (17) or a table with line = ..., got '
        f"{_show(value)}",
    )


def _debounce(key: str, value: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise HardwareConfigError(key, f"expected a number of seconds, got {_show(value)}")
    if not math.isfinite(value) or not 0 <= value <= MAX_DEBOUNCE:
        # A switch bounces for milliseconds; a second or more would delay every event.
        raise HardwareConfigError(
            key, f"expected 0..{MAX_DEBOUNCE:g} seconds (e.g. 0.02), got {value}"
        )
    return float(value)
