"""`ocppfast hardware`: check a charger's hardware configuration file and the devices it names.

`ocppfast hardware probe FILE` opens every configured device and prints, one line at a time,
what it sees: each meter reading or fault, "waiting for a tag" then each tag of an RFID reader,
each EVSE controller board's configured current (and vehicle state) or fault, read without
writing anything, each GPIO input's value then its changes (outputs are held inactive), and for
a port or line that cannot be opened the error with what to check. It is the installer's tool
for wiring a charger; the station itself does not read the file yet (docs/hardware.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import math
import os
import sys
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

if TYPE_CHECKING:
    from ocppfast.hardware.gpio import LineConfig

import typer

__all__ = ["hardware_app"]

hardware_app = typer.Typer(
    name="hardware",
    help="Check a charger's hardware: the configuration file (docs/hardware.md) and the devices "
    "it names (energy meters and EVSE controller boards over Modbus RTU, RFID readers, GPIO "
    "lines). Needs the `serial` extra: pip install 'ocppfast[serial]', and for GPIO lines the "
    "gpiod package.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

# Exit codes of `probe`.
EXIT_OK = 0
EXIT_NO_ANSWER = 1
EXIT_BAD_CONFIG = 2


def port_hint(port: str) -> str:
    """What to check when `port` cannot be opened or has gone away."""
    if not os.path.exists(port):
        return (
            "check: the path is wrong or the device is unplugged (ls -l /dev/serial/by-id/; "
            "the cable and the USB adapter)"
        )
    if not os.access(port, os.R_OK | os.W_OK):
        return (
            "check: permissions: add the user to the dialout group (sudo usermod -aG dialout "
            "$USER, then log in again)"
        )
    return "check: another program using the port (fuser -v PORT), the cable"


# What to check after each kind of meter fault (FaultKind values).
_METER_HINTS = {
    "timeout": "check: unit_id, baudrate, parity and stopbits match the meter's menu; "
    "RS-485 A/B wiring; the meter is powered",
    "crc": "check: baudrate and parity match the meter's menu; RS-485 A/B wiring, 120 ohm "
    "termination and the ground",
    "exception": "check: model (or the registers table) matches the meter",
    "invalid_value": "check: model (or the registers table: type, word order) matches the meter",
}


# What to check after each kind of fault of an EVSE controller board (current_limit).
_BOARD_HINTS = {
    "timeout": "check: unit_id, baudrate, parity and stopbits match the board's settings; "
    "Modbus is enabled on the board (it is off on a new EVSE-WB: enable it with the vendor's "
    "tool); RS-485 A/B wiring; the board is powered",
    "crc": _METER_HINTS["crc"].replace("meter's menu", "board's settings"),
    "exception": "check: model, register and unit_id match the board",
    "invalid_value": "check: model matches the board (an EVSE-WB has its vehicle state 1..5 "
    "in register 1002)",
}

# The EVSE-WB's vehicle states (register 1002; modbus_evse.VehicleState), as the vendor's
# manual names them: the control pilot states A-D of IEC 61851-1 and the board's own failure.
_VEHICLE_STATES = {
    1: "ready, no EV",
    2: "EV present",
    3: "charging",
    4: "charging with ventilation",
    5: "failure: diode check or RCD",
}

# A USB RS-485 adapter that went silent often needs its port reopened (ModbusMeter and
# ModbusCurrentLimit do the same after 3 timeouts in a row).
_REOPEN_AFTER_TIMEOUTS = 3


def _now() -> str:
    return datetime.datetime.now().strftime("%H:%M:%S")


def _say(key: str, text: str) -> None:
    # One line per event, flushed at once: the probe is read live while wiring.
    print(f"{_now()} {key}: {text}", flush=True)


def _phases(values: tuple[float, ...], unit: str, digits: int) -> str | None:
    if not values:
        return None
    return "/".join("?" if math.isnan(v) else f"{v:.{digits}f}" for v in values) + f" {unit}"


@dataclass
class _Device:
    key: str
    port: str
    answered: bool = False
    seen: int = 0
    last: str = ""


async def _probe_meter(device: _Device, config: object) -> None:
    from ocppfast.hardware.config import MeterConfig
    from ocppfast.hardware.modbus_meter import FaultKind, MeterFault, MeterReading

    assert isinstance(config, MeterConfig)

    def on_reading(reading: MeterReading) -> None:
        device.answered = True
        device.seen += 1
        device.last = ""
        parts = [
            _phases(reading.voltage_v, "V", 1),
            _phases(reading.current_a, "A", 2),
            None if reading.power_w is None else f"{reading.power_w:.1f} W",
            None if reading.energy_wh is None else f"{reading.energy_wh / 1000:.3f} kWh",
        ]
        _say(device.key, ", ".join(p for p in parts if p) or "answered (no values mapped)")

    def on_fault(fault: MeterFault) -> None:
        # The meter reports every failed poll; print a fault once until something changes.
        if fault.message == device.last:
            return
        device.last = fault.message
        if fault.kind is FaultKind.DISCONNECTED:
            hint = port_hint(config.port)
        else:
            hint = _METER_HINTS.get(fault.kind.value, "")
        _say(device.key, f"FAULT ({fault.kind.value}) {fault.message}; {hint}")

    meter = config.build(
        on_reading=on_reading, on_fault=on_fault, reconnect_delay=0.5, reconnect_delay_max=5.0
    )
    _say(
        device.key,
        f"{config.model} meter on {config.port}, unit {config.unit_id}, {config.baudrate} baud "
        f"{config.parity}{config.stopbits}",
    )
    await meter.poll(config.interval)


async def _probe_rfid(device: _Device, config: object) -> None:
    from ocppfast.hardware.rfid import RfidConfig, RfidReader

    assert isinstance(config, RfidConfig)

    def on_tag(token: str) -> None:
        device.seen += 1
        _say(device.key, f"tag {token}")

    def on_fault(fault: str | None) -> None:
        if fault is not None:
            _say(device.key, f"FAULT {config.port}: {fault}; {port_hint(config.port)}")

    _say(device.key, f"{config.format} RFID reader on {config.port}, {config.baudrate} baud")
    async with RfidReader(config, on_tag=on_tag, on_fault=on_fault) as reader:
        while True:
            await reader.connected.wait()
            device.answered = True
            _say(device.key, "open, waiting for a tag")
            # RfidReader has no "lost" event to await; its fault callback reports the loss.
            while reader.connected.is_set():
                await asyncio.sleep(0.1)


def _configured(raw: int, config: object) -> str:
    from ocppfast.hardware.modbus_evse import CurrentLimitConfig

    assert isinstance(config, CurrentLimitConfig)
    if raw == config.off_value:
        # IEC 61851-1 annex A: no PWM on the pilot, the EV may not charge.
        text = "off (no charging allowed)"
    else:
        text = f"{raw / config.scale:g} A configured"
    if config.model != "EVSE-WB":
        text += f" (register {config.register} = {raw})"
    return text


async def _probe_board(device: _Device, config: object) -> None:
    """Read an EVSE controller board's current register (and an EVSE-WB's vehicle state)
    every second. Never writes: `set`, `apply` and `open` (the writer task) are not called, so
    the board keeps offering the EV whatever it offered before."""
    from ocppfast.hardware.modbus_evse import CurrentLimitConfig, ModbusCurrentLimit
    from ocppfast.hardware.modbus_meter import FaultKind, MeterFault, MeterFaultError

    assert isinstance(config, CurrentLimitConfig)
    where = f"{config.model} on {config.port} unit {config.unit_id}"

    def on_fault(fault: MeterFault) -> None:
        # Print a fault once until something changes (a reading or another fault).
        if fault.message == device.last:
            return
        device.last = fault.message
        if fault.kind is FaultKind.DISCONNECTED:
            hint = port_hint(config.port)
        elif "check" in fault.message:
            hint = ""  # modbus_evse's message says what to check already
        else:
            hint = _BOARD_HINTS.get(fault.kind.value, "")
        _say(
            device.key,
            f"FAULT ({fault.kind.value}) {fault.message}; {hint}"
            if hint
            else f"FAULT ({fault.kind.value}) {fault.message}",
        )

    limit = ModbusCurrentLimit(config)
    _say(
        device.key,
        f"{config.model} board on {config.port}, unit {config.unit_id}, {config.baudrate} baud "
        f"{config.parity}{config.stopbits} (read only: the probe writes nothing)",
    )
    timeouts = 0
    try:
        while True:
            fault: MeterFault | None = None
            try:
                raw = await limit.read_current_register()
            except MeterFaultError as exc:
                fault = exc.fault
            else:
                device.answered = True
                text = f"{where}: {_configured(raw, config)}"
                if config.model == "EVSE-WB":
                    try:
                        state = await limit.vehicle_state()
                    except MeterFaultError as exc:
                        # The current was read: print it, and the state's fault after it.
                        fault = exc.fault
                        text += ", vehicle state unknown"
                    else:
                        text += f", vehicle state {int(state)} ({_VEHICLE_STATES[int(state)]})"
                device.seen += 1
                _say(device.key, text)
            if fault is None:
                device.last = ""
                timeouts = 0
            else:
                on_fault(fault)
                timeouts = timeouts + 1 if fault.kind is FaultKind.TIMEOUT else 0
                if fault.kind is FaultKind.DISCONNECTED or timeouts >= _REOPEN_AFTER_TIMEOUTS:
                    timeouts = 0
                    await limit.close()  # reopened by the next reading
            await asyncio.sleep(1.0)
    finally:
        await limit.close()


@dataclass
class _Gpio:
    """The GPIO lines of the file, and what the probe saw of them."""

    inputs: dict[str, LineConfig]
    outputs: dict[str, LineConfig]
    opened: bool = False
    values: dict[str, bool] = field(default_factory=dict)
    changes: dict[str, int] = field(default_factory=dict)


async def _probe_gpio(gpio: _Gpio) -> None:
    from ocppfast.hardware.gpio import GpioBank, GpioError

    def on_change(name: str, active: bool) -> None:
        gpio.values[name] = active
        gpio.changes[name] = gpio.changes.get(name, 0) + 1
        _say(name, "active" if active else "inactive")

    bank = GpioBank(gpio.inputs, gpio.outputs, on_change)
    try:
        await bank.open()
    except GpioError as exc:
        _say("gpio", f"FAULT {exc}")
        return
    gpio.opened = True
    try:
        for name, config in gpio.inputs.items():
            gpio.values[name] = bank.value(name)
            state = "active" if gpio.values[name] else "inactive"
            _say(name, f"input {config.describe()}: {state}")
        for name, config in gpio.outputs.items():
            # Outputs are requested inactive and stay so: the probe never closes a contactor.
            state = "active" if bank.value(name) else "inactive"
            _say(name, f"output {config.describe()}: {state} (held inactive while probing)")
        await asyncio.Event().wait()  # the inputs' changes come through on_change
    finally:
        bank.close()


async def _probe(
    devices: Sequence[tuple[_Device, object]], seconds: float, gpio: _Gpio | None = None
) -> None:
    from ocppfast.hardware.config import MeterConfig
    from ocppfast.hardware.modbus_evse import CurrentLimitConfig

    def probe_of(device: _Device, config: object) -> Coroutine[object, object, None]:
        if isinstance(config, MeterConfig):
            return _probe_meter(device, config)
        if isinstance(config, CurrentLimitConfig):
            return _probe_board(device, config)
        return _probe_rfid(device, config)

    tasks = [asyncio.create_task(probe_of(d, c), name=d.key) for d, c in devices]
    if gpio is not None:
        tasks.append(asyncio.create_task(_probe_gpio(gpio), name="gpio"))
    try:
        done, _ = await asyncio.wait(tasks, timeout=seconds)
        for task in done:
            # The probes run until cancelled; one that ended has crashed: say so, go on.
            if not task.cancelled() and task.exception() is not None:
                _say(task.get_name(), f"probe failed: {task.exception()!r}")
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _quiet_logs(verbose: bool) -> None:
    if verbose:
        logging.basicConfig(
            level=logging.INFO,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        return
    # The probe prints its own line for each fault; the backends' log lines (and pymodbus's)
    # would say the same again on stderr.
    for name in ("ocppfast.hardware", "pymodbus"):
        logger = logging.getLogger(name)
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


@hardware_app.command()
def probe(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="The hardware configuration file (TOML, see docs/hardware.md)."
        ),
    ],
    seconds: Annotated[
        float,
        typer.Option(
            "--seconds", min=0.1, help="How long to watch the devices (Ctrl-C ends sooner)."
        ),
    ] = 10.0,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Also show the backends' log on stderr."),
    ] = False,
) -> None:
    """Open every device FILE configures and print what each one sees, one line per event:
    meter readings or faults, "waiting for a tag" then each RFID tag presented, each EVSE
    controller board's configured current and vehicle state (read only: nothing is written),
    each GPIO input's value then its changes (GPIO outputs are held inactive), and for a port
    or line that cannot be opened the error and what to check (path, dialout group, wiring, the
    line's name and holder). Runs for --seconds or until Ctrl-C, then prints a summary. Exit
    code: 0 when every device answered (a meter or board gave a reading, an RFID reader's port
    opened, the GPIO lines were requested), 1 when one did not, 2 when FILE is invalid."""
    try:
        from ocppfast.hardware.config import (
            HardwareConfigError,
            MeterConfig,
            load_config,
        )
        from ocppfast.hardware.modbus_evse import CurrentLimitConfig
        from ocppfast.hardware.rfid import RfidConfig
    except ImportError as exc:
        typer.echo(
            f"error: {exc}; the hardware backends need: pip install 'ocppfast[serial]'", err=True
        )
        raise typer.Exit(EXIT_BAD_CONFIG) from None
    try:
        config = load_config(file)
    except HardwareConfigError as exc:
        typer.echo(f"error: {file}: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_CONFIG) from None
    configured: list[tuple[str, MeterConfig | RfidConfig | CurrentLimitConfig]]
    configured = list(config.devices())
    # HardwareConfig.devices() lists meters and readers; the boards are probed the same way.
    configured += [
        (f"connectors.{c.id}.current_limit", c.current_limit)
        for c in config.connectors
        if c.current_limit is not None
    ]
    devices = [(_Device(key, c.port), c) for key, c in configured]
    inputs, outputs = config.gpio_lines()
    gpio = _Gpio(inputs, outputs) if inputs or outputs else None
    if not devices and gpio is None:
        typer.echo(f"{file}: no devices configured; nothing to probe", err=True)
        raise typer.Exit(EXIT_NO_ANSWER)
    _quiet_logs(verbose)
    parts = [f"{len(devices)} device(s)"] if devices else []
    if gpio is not None:
        parts.append(f"{len(inputs) + len(outputs)} GPIO line(s)")
    what = " and ".join(parts)
    print(f"probing {what} for {seconds:g} s (Ctrl-C to stop)", flush=True)
    try:
        asyncio.run(_probe(devices, seconds, gpio))
    except KeyboardInterrupt:
        print("", flush=True)
    print("summary:", flush=True)
    for device, c in devices:
        if not device.answered:
            state = "NO ANSWER"
        elif isinstance(c, RfidConfig):
            state = f"ok, {device.seen} tag(s)"
        else:  # a meter or an EVSE controller board
            state = f"ok, {device.seen} reading(s)"
        print(f"  {device.key} ({device.port}): {state}", flush=True)
    if gpio is not None:
        for name, line in {**gpio.inputs, **gpio.outputs}.items():
            if not gpio.opened:
                state = "NOT OPENED"
            elif name in gpio.outputs:
                state = "ok, output held inactive"
            else:
                value = "active" if gpio.values.get(name) else "inactive"
                state = f"ok, {value}, {gpio.changes.get(name, 0)} change(s)"
            print(f"  {name} ({line.describe()}): {state}", flush=True)
    answered = all(d.answered for d, _ in devices) and (gpio is None or gpio.opened)
    raise typer.Exit(EXIT_OK if answered else EXIT_NO_ANSWER)
