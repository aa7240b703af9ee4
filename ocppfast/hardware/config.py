"""The hardware configuration file: which devices a charger has and how to reach them.

A TOML file (parsed with tomllib, or tomli on Python 3.10) mapping each connector to its
devices, validated into frozen dataclasses. Every error names the exact key it is about, e.g.
``connectors.1.meter.baudrate: expected an integer, got "fast"``, so an installer can fix the
file without reading this code. Unknown keys are refused with the known ones listed: a typo
(``buadrate``) silently falling back to a default would be a wiring fault found much later.

What is supported now: per connector, a Modbus RTU energy meter (``meter``) and an RFID reader
(``rfid``); station-wide, one RFID reader shared by all connectors (``rfid`` at the top). The
GPIO lines of issue 9 (``plug``, ``contactor``, ``pwm``, ``current_limit``, ``leds``,
``emergency_stop``; ``gpio`` for the chip) have their keys reserved and are refused with
"gpio lines are not supported yet (issue 9)" until the libgpiod backend exists, so that a file
written for them fails loudly rather than running a charger without its contactor.

See docs/hardware.md for the format with a complete example.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

from .modbus_meter import SDM120, SDM630, ModbusMeter, RegisterMap, generic_map
from .rfid import RfidConfig

__all__ = [
    "GPIO_KEYS",
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

#: Keys reserved for the GPIO lines of issue 9 (libgpiod backend, not built yet).
GPIO_KEYS = frozenset(
    ["plug", "contactor", "pwm", "current_limit", "leds", "emergency_stop", "gpio"]
)
_GPIO_MESSAGE = "gpio lines are not supported yet (issue 9)"

_TOP_KEYS = ("connectors", "rfid")
_CONNECTOR_KEYS = ("meter", "rfid")
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


@dataclass(frozen=True)
class ConnectorConfig:
    """The devices of one connector (ids from 1, as OCPP numbers connectors)."""

    id: int
    meter: MeterConfig | None = None
    rfid: RfidConfig | None = None


@dataclass(frozen=True)
class HardwareConfig:
    """A whole configuration file: the connectors in id order, and the station-wide RFID
    reader shared by all connectors (None when there is none)."""

    connectors: tuple[ConnectorConfig, ...] = ()
    rfid: RfidConfig | None = None

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
    _check_keys("", data, _TOP_KEYS)
    rfid = _rfid("rfid", data["rfid"]) if "rfid" in data else None
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
        connectors.append(
            ConnectorConfig(
                id=int(name),
                meter=_meter(f"{key}.meter", connector["meter"]) if "meter" in connector else None,
                rfid=_rfid(f"{key}.rfid", connector["rfid"]) if "rfid" in connector else None,
            )
        )
    connectors.sort(key=lambda c: c.id)
    config = HardwareConfig(tuple(connectors), rfid)
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
        if name in GPIO_KEYS:
            raise HardwareConfigError(where, _GPIO_MESSAGE)
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
    parity = _str(f"{key}.parity", table.get("parity", "N"), ("N", "E", "O"))
    return MeterConfig(
        port=port,
        model=model,
        registers=registers,
        # Modbus over Serial Line V1.02, 2.2: 1-247 address individual devices.
        unit_id=_int(f"{key}.unit_id", table.get("unit_id", 1), 1, 247),
        baudrate=_baudrate(f"{key}.baudrate", table.get("baudrate", 9600)),
        parity=parity,  # type: ignore[arg-type]  # checked against the choices just above
        stopbits=_int(f"{key}.stopbits", table.get("stopbits", 1), 1, 2),
        timeout=_seconds(f"{key}.timeout", table.get("timeout", 1.0)),
        interval=_seconds(f"{key}.interval", table.get("interval", 1.0)),
    )


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
    for key, device in config.devices():
        previous = seen.setdefault(device.port, key)
        if previous != key:
            raise HardwareConfigError(
                f"{key}.port",
                f"{_show(device.port)} is already used by {previous}; each device needs its "
                "own port (meters sharing one RS-485 bus are not supported yet)",
            )
