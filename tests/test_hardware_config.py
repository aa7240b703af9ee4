"""The hardware configuration file (ocppfast.hardware.config) and `ocppfast hardware probe`.

The loader: valid files, each error naming its key, unknown keys, the GPIO lines and their
keys. The probe:
a real `python -m ocppfast.cli hardware probe` process against a pty-backed SDM630 (pymodbus's
own RTU server, through the meter tests' Cable) and a fake EM4100 reader on a pty (the RFID
tests' FakeDevice), a silent meter and a missing port; Ctrl-C (SIGINT) ends it with a summary.
No core involved: no `core` fixture."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from ocppfast.hardware.config import HardwareConfigError, load_config, parse_config
from ocppfast.hardware.modbus_meter import SDM120, SDM630, Register
from tests.aio import run
from tests.test_hardware_modbus_meter import (
    SDM630_VALUES,
    Cable,
    Pty,
    float_registers,
    simulated_meter,
)
from tests.test_hardware_rfid import CARD_FRAME, FakeDevice

FULL = """
# A two-connector charger: an SDM630 and a generic meter, one shared RFID reader.
[rfid]
port = "/dev/serial/by-id/usb-rfid"
format = "em4100"
hold_time = 2

[connectors.2.meter]
port = "/dev/ttyUSB2"
model = "generic"
unit_id = 3
baudrate = 19200
parity = "E"
stopbits = 1
timeout = 0.5
interval = 5
[connectors.2.meter.registers]
voltage_l1 = ["holding", 10, "uint16", 0.25]
energy_import = ["input", 72, "float32", 1000]

[connectors.1.meter]
port = "/dev/ttyUSB1"
model = "SDM630"

[connectors.1.rfid]
port = "/dev/ttyUSB3"
format = "line"
prefix = "UID:"
base = 10
baudrate = 115200
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "hardware.toml"
    path.write_text(textwrap.dedent(text))
    return load_config(path)


def test_a_complete_file(tmp_path: Path) -> None:
    config = load(tmp_path, FULL)
    from ocppfast.hardware.config import HardwareConfig

    assert isinstance(config, HardwareConfig)
    assert [c.id for c in config.connectors] == [1, 2]
    one, two = config.connectors
    assert one.meter is not None and one.meter.registers == SDM630
    assert (one.meter.unit_id, one.meter.baudrate, one.meter.parity) == (1, 9600, "N")
    assert one.rfid is not None
    assert (one.rfid.format, one.rfid.line_prefix, one.rfid.line_base) == ("line", "UID:", 10)
    assert one.rfid.baudrate == 115200
    assert two.meter is not None and two.rfid is None
    assert two.meter.registers == {
        "voltage_l1": Register(3, 10, "uint16", 0.25),
        "energy_import": Register(4, 72, "float32", 1000.0),
    }
    assert (two.meter.unit_id, two.meter.baudrate, two.meter.parity) == (3, 19200, "E")
    assert (two.meter.timeout, two.meter.interval) == (0.5, 5.0)
    assert config.rfid is not None and config.rfid.hold_time == 2.0
    assert [key for key, _ in config.devices()] == [
        "rfid",
        "connectors.1.meter",
        "connectors.1.rfid",
        "connectors.2.meter",
    ]
    meter = two.meter.build()
    assert (meter.port, meter.unit_id, meter.line.baudrate) == ("/dev/ttyUSB2", 3, 19200)


def test_defaults_and_an_empty_file() -> None:
    config = parse_config({"connectors": {"1": {"meter": {"port": "/dev/x", "model": "SDM120"}}}})
    meter = config.connectors[0].meter
    assert meter is not None
    assert meter.registers == SDM120
    assert (meter.baudrate, meter.parity, meter.stopbits, meter.timeout) == (9600, "N", 1, 1.0)
    assert parse_config({}).devices() == []


ERRORS = [
    # (the file, the key named, the message)
    (
        '[connectors.1.meter]\nport = "/dev/x"\nbaudrate = "fast"',
        "connectors.1.meter.baudrate",
        'connectors.1.meter.baudrate: expected an integer, got "fast"',
    ),
    (
        '[connectors.1.meter]\nport = "/dev/x"\nbaudrate = 96000',
        "connectors.1.meter.baudrate",
        "connectors.1.meter.baudrate: expected one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, "
        "115200, got 96000",
    ),
    (
        "[connectors.1.meter]\nbaudrate = 9600",
        "connectors.1.meter.port",
        "connectors.1.meter.port: missing: the serial device, e.g. /dev/serial/by-id/usb-...-port0",
    ),
    (
        '[connectors.1.meter]\nport = ""',
        "connectors.1.meter.port",
        "connectors.1.meter.port: expected a device path, got an empty string",
    ),
    (
        "[connectors.1.meter]\nport = 3",
        "connectors.1.meter.port",
        "connectors.1.meter.port: expected a string, got 3",
    ),
    (
        '[connectors.1.meter]\nport = "/dev/x"\nmodel = "SDM72"',
        "connectors.1.meter.model",
        'connectors.1.meter.model: expected one of "SDM630", "SDM120", "generic", got "SDM72"',
    ),
    (
        '[connectors.1.meter]\nport = "/dev/x"\nunit_id = 0',
        "connectors.1.meter.unit_id",
        "connectors.1.meter.unit_id: expected 1..247, got 0",
    ),
    (
        '[connectors.1.meter]\nport = "/dev/x"\nunit_id = true',
        "connectors.1.meter.unit_id",
        "connectors.1.meter.unit_id: expected an integer, got true",
    ),
    (
        '[connectors.1.meter]\nport = "/dev/x"\nparity = "X"',
        "connectors.1.meter.parity",
        'connectors.1.meter.parity: expected one of "N", "E", "O", got "X"',
    ),
    (
        '[connectors.1.meter]\nport = "/dev/x"\nstopbits = 3',
        "connectors.1.meter.stopbits",
        "connectors.1.meter.stopbits: expected 1..2, got 3",
    ),
    (
        '[connectors.1.meter]\nport = "/dev/x"\ntimeout = 0',
        "connectors.1.meter.timeout",
        "connectors.1.meter.timeout: expected a positive number of seconds, got 0",
    ),
    (
        '[connectors.1.meter]\nport = "/dev/x"\ninterval = "1s"',
        "connectors.1.meter.interval",
        'connectors.1.meter.interval: expected a number of seconds, got "1s"',
    ),
    (
        '[connectors.1.meter]\nport = "/dev/x"\nbuadrate = 9600',
        "connectors.1.meter.buadrate",
        "connectors.1.meter.buadrate: unknown key; the known keys here are: port, model, unit_id, "
        "baudrate, parity, stopbits, timeout, interval, registers",
    ),
    (
        '[connectors.1.meter]\nport = "/dev/x"\nmodel = "generic"',
        "connectors.1.meter.registers",
        'connectors.1.meter.registers: missing: a "generic" meter needs a registers table, e.g. '
        'energy_import = ["input", 72, "float32", 1000]',
    ),
    (
        '[connectors.1.meter]\nport = "/dev/x"\n[connectors.1.meter.registers]\n'
        'power_total = [4, 52, "float32", 1]',
        "connectors.1.meter.registers",
        'connectors.1.meter.registers: only for model = "generic"; the SDM630 map is built in',
    ),
    (
        '[connectors.1.meter]\nport = "/dev/x"\nmodel = "generic"\n[connectors.1.meter.registers]\n'
        'energy_import = ["input", 72, "float64", 1000]',
        "connectors.1.meter.registers.energy_import",
        "connectors.1.meter.registers.energy_import: register type 'float64' is not one of "
        "['float32', 'int16', 'int32', 'uint16', 'uint32']",
    ),
    (
        '[connectors.1.meter]\nport = "/dev/x"\nmodel = "generic"\n[connectors.1.meter.registers]\n'
        'energy = ["input", 72, "float32", 1000]',
        "connectors.1.meter.registers.energy",
        "connectors.1.meter.registers.energy: unknown, use one of ['current_l1', 'current_l2', "
        "'current_l3', 'energy_import', 'power_l1', 'power_l2', 'power_l3', 'power_total', "
        "'voltage_l1', 'voltage_l2', 'voltage_l3']",
    ),
    (
        '[connectors.1.meter]\nport = "/dev/x"\nmodel = "generic"\n[connectors.1.meter.registers]\n'
        'power_total = ["input", 72, "float32", 1]\nenergy_import = ["input", 73, "float32", 1]',
        "connectors.1.meter.registers",
        "connectors.1.meter.registers: meter register 'energy_import' overlaps another register",
    ),
    (
        '[connectors.0.meter]\nport = "/dev/x"',
        "connectors.0",
        "connectors.0: a connector id is a whole number from 1 ([connectors.1])",
    ),
    (
        '[connectors.first.meter]\nport = "/dev/x"',
        "connectors.first",
        "connectors.first: a connector id is a whole number from 1 ([connectors.1])",
    ),
    ("connectors = 1", "connectors", "connectors: expected a table, got 1"),
    (
        '[connectors.1]\nmeter = "/dev/x"',
        "connectors.1.meter",
        'connectors.1.meter: expected a table, got "/dev/x"',
    ),
    (
        "[connectors.1]\nlcd = 1",
        "connectors.1.lcd",
        "connectors.1.lcd: unknown key; the known keys here are: meter, rfid, plug, contactor, "
        "leds, current_limit",
    ),
    (
        '[station]\nid = "CP1"',
        "station",
        "station: unknown key; the known keys here are: connectors, rfid, gpio, emergency_stop",
    ),
    (
        '[rfid]\nport = "/dev/x"\nformat = "wiegand"',
        "rfid.format",
        'rfid.format: expected one of "em4100", "line", got "wiegand"',
    ),
    (
        '[rfid]\nport = "/dev/x"\nprefix = "UID:"',
        "rfid.prefix",
        'rfid.prefix: only for format = "line"',
    ),
    (
        '[rfid]\nport = "/dev/x"\nformat = "line"\nbase = 12',
        "rfid.base",
        "rfid.base: expected 10 or 16, got 12",
    ),
    (
        '[rfid]\nport = "/dev/x"\nhold_time = -1',
        "rfid.hold_time",
        "rfid.hold_time: expected a positive number of seconds, got -1",
    ),
    (
        '[rfid]\nport = "/dev/x"\n[connectors.2.meter]\nport = "/dev/x"',
        "connectors.2.meter.port",
        'connectors.2.meter.port: "/dev/x" is already used by rfid; each device needs its own port '
        "(meters sharing one RS-485 bus are not supported yet)",
    ),
    # GPIO lines (ocppfast.hardware.gpio).
    (
        "[connectors.1]\npwm = 18",
        "connectors.1.pwm",
        "connectors.1.pwm: a PWM output is not supported; use current_limit",
    ),
    (
        "[connectors.1]\ncurrent_limit = 18",
        "connectors.1.current_limit",
        "connectors.1.current_limit: expected a table, got 18",
    ),
    (
        "[connectors.1]\nplug = 17",
        "connectors.1.plug",
        'connectors.1.plug: no chip: add chip = "gpiochip0" to this line or a [gpio] table with '
        "the default chip (gpiodetect lists the chips)",
    ),
    ("gpio = 0", "gpio", "gpio: expected a table, got 0"),
    (
        "[gpio]\nlabel = 1",
        "gpio.label",
        "gpio.label: unknown key; the known keys here are: chip",
    ),
    (
        '[gpio]\nchip = ""',
        "gpio.chip",
        'gpio.chip: expected a chip: a name ("gpiochip0"), a path or a label, got an empty string',
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[connectors.1]\nplug = { line = 17, bias = "up" }',
        "connectors.1.plug.bias",
        'connectors.1.plug.bias: expected one of "as-is", "disabled", "pull-up", "pull-down", '
        'got "up"',
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[emergency_stop]\nline = "GPIO5"\ndebounce = 2',
        "emergency_stop.debounce",
        "emergency_stop.debounce: expected 0..1 seconds (e.g. 0.02), got 2",
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[emergency_stop]\nline = "GPIO5"\ndebounce = -0.1',
        "emergency_stop.debounce",
        "emergency_stop.debounce: expected 0..1 seconds (e.g. 0.02), got -0.1",
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[emergency_stop]\nline = "GPIO5"\ndebounce = "20ms"',
        "emergency_stop.debounce",
        'emergency_stop.debounce: expected a number of seconds, got "20ms"',
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[emergency_stop]\nline = "GPIO5"\nactive_low = 1',
        "emergency_stop.active_low",
        "emergency_stop.active_low: expected true or false, got 1",
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[emergency_stop]\nactive_low = true',
        "emergency_stop.line",
        'emergency_stop.line: missing: the line\'s name ("GPIO17") or offset (17)',
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[emergency_stop]\nline = "GPIO5"\npull = "up"',
        "emergency_stop.pull",
        "emergency_stop.pull: unknown key; the known keys here are: line, chip, active_low, bias, "
        "debounce",
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[connectors.1]\ncontactor = { line = 27, bias = "pull-up" }',
        "connectors.1.contactor.bias",
        "connectors.1.contactor.bias: only for inputs; an output drives its line",
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[connectors.1]\n'
        "leds = { fault = { line = 5, debounce = 0.1 } }",
        "connectors.1.leds.fault.debounce",
        "connectors.1.leds.fault.debounce: only for inputs; an output drives its line",
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[connectors.1]\nleds = { error = 5 }',
        "connectors.1.leds.error",
        "connectors.1.leds.error: unknown key; the known keys here are: available, occupied, "
        "charging, fault",
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[connectors.1]\nleds = [5, 6]',
        "connectors.1.leds",
        "connectors.1.leds: expected a table, got an array",
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[connectors.1]\nplug = { line = 17, feedback = 18 }',
        "connectors.1.plug.feedback",
        "connectors.1.plug.feedback: only under contactor (its auxiliary contact)",
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[connectors.1]\nplug = true',
        "connectors.1.plug",
        'connectors.1.plug: expected a line name ("GPIO17"), an offset (17) or a table with '
        "line = ..., got true",
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[connectors.1]\nplug = -1',
        "connectors.1.plug",
        "connectors.1.plug: expected 0..65535, got -1",
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[connectors.1]\nplug = ""',
        "connectors.1.plug",
        'connectors.1.plug: expected a line name ("GPIO17") or offset (17), got an empty string',
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[connectors.1]\nplug = { line = 17, chip = 0 }',
        "connectors.1.plug.chip",
        "connectors.1.plug.chip: expected a string, got 0",
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[emergency_stop]\nline = "GPIO5"\n'
        '[connectors.2]\nleds = { fault = "GPIO5" }',
        "connectors.2.leds.fault",
        'connectors.2.leds.fault: line "GPIO5" of "gpiochip0" is already used by emergency_stop; '
        "each GPIO line has one use",
    ),
    (
        '[gpio]\nchip = "gpiochip0"\n[connectors.1]\ncontactor = { line = 27, feedback = 27 }',
        "connectors.1.contactor.feedback",
        'connectors.1.contactor.feedback: line 27 of "gpiochip0" is already used by '
        "connectors.1.contactor; each GPIO line has one use",
    ),
]


@pytest.mark.parametrize(("text", "key", "message"), ERRORS)
def test_errors_name_their_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    with pytest.raises(HardwareConfigError) as info:
        load(tmp_path, text)
    assert info.value.key == key
    assert str(info.value) == message


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(HardwareConfigError, match=r"cannot read .*missing\.toml: No such file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(HardwareConfigError, match=r"is not valid TOML: .*line 1") as info:
        load(tmp_path, "[connectors.1\n")
    assert info.value.key == ""


# -- the probe ---------------------------------------------------------------------------------


def test_probe_help_and_a_bad_file(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["hardware", "probe", "--help"])
    assert result.exit_code == 0
    assert "--seconds" in result.output and "dialout" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[connectors.1.meter]\nport = "/dev/x"\nbaudrate = "fast"\n')
    result = runner.invoke(app, ["hardware", "probe", str(bad)])
    assert result.exit_code == 2
    assert 'connectors.1.meter.baudrate: expected an integer, got "fast"' in result.output
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    result = runner.invoke(app, ["hardware", "probe", str(empty)])
    assert result.exit_code == 1
    assert "no devices configured" in result.output


class Probe:
    """`python -m ocppfast.cli hardware probe FILE` as a real process, read line by line from
    the test's event loop (which also runs the fake devices)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    @classmethod
    async def start(cls, config: Path) -> Probe:
        # --seconds far beyond the test: the test ends it with SIGINT (Ctrl-C) once it has
        # seen what it waits for, so nothing depends on how fast the machine is.
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ocppfast.cli", "hardware", "probe", str(config),
            "--seconds", "600",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        return cls(process)

    async def wait_for(self, pattern: str) -> str:
        """A line matching `pattern` (a regex), read already or next; the devices run
        concurrently, so their lines come in any order. Fails if the process ends first."""
        assert self.process.stdout is not None
        regex = re.compile(pattern)
        for line in self.lines:
            if regex.search(line):
                return line
        while True:
            raw = await self.process.stdout.readline()
            assert raw, f"probe ended without {pattern!r}:\n" + "\n".join(self.lines)
            line = raw.decode().rstrip("\n")
            self.lines.append(line)
            if regex.search(line):
                return line

    async def interrupt(self) -> int:
        """Ctrl-C; the exit code, with the rest of the output read."""
        self.process.send_signal(signal.SIGINT)
        assert self.process.stdout is not None
        rest = await self.process.stdout.read()
        self.lines += rest.decode().splitlines()
        return await self.process.wait()

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


def test_probe_sees_a_meter_and_a_tag(tmp_path: Path) -> None:
    reader = FakeDevice(tmp_path / "ttyRFID")

    async def main() -> tuple[int, list[str]]:
        cable = Cable(tmp_path)
        config = tmp_path / "hardware.toml"
        config.write_text(
            f'[rfid]\nport = "{reader.link}"\n\n'
            f'[connectors.1.meter]\nport = "{cable.link}"\nmodel = "SDM630"\ntimeout = 2\n'
        )
        try:
            async with simulated_meter(cable.device.path, 1, float_registers(SDM630_VALUES, 0x50)):
                probe = await Probe.start(config)
                try:
                    await probe.wait_for(r"rfid: open, waiting for a tag")
                    reader.write(CARD_FRAME)
                    await probe.wait_for(r"rfid: tag 62E3086CED$")
                    await probe.wait_for(
                        r"connectors\.1\.meter: 230\.5/231\.2/229\.8 V, 15\.50/16\.00/14\.25 A, "
                        r"10546\.8 W, 1234\.500 kWh$"
                    )
                    return await probe.interrupt(), probe.lines
                finally:
                    await probe.kill()
        finally:
            cable.close()
            reader.close()

    code, lines = run(main(), timeout=60)
    assert code == 0, "\n".join(lines)
    assert f"  rfid ({reader.link}): ok, 1 tag(s)" in lines
    assert any(
        re.fullmatch(r"  connectors\.1\.meter \(.*\): ok, \d+ reading\(s\)", x) for x in lines
    )


def test_probe_reports_a_silent_meter_and_a_missing_port(tmp_path: Path) -> None:
    silent = Pty()  # a meter that is wired but never answers
    missing = tmp_path / "ttyUSB9"

    async def main() -> tuple[int, list[str]]:
        config = tmp_path / "hardware.toml"
        config.write_text(
            f'[connectors.1.meter]\nport = "{silent.path}"\ntimeout = 0.2\n\n'
            f'[connectors.2.rfid]\nport = "{missing}"\n'
        )
        probe = await Probe.start(config)
        try:
            await probe.wait_for(
                r"connectors\.1\.meter: FAULT \(timeout\) no answer in 0\.2 s from .* unit 1.*; "
                r"check: unit_id, baudrate"
            )
            await probe.wait_for(
                rf"connectors\.2\.rfid: FAULT {missing}: cannot open .*; check: the path is wrong"
            )
            return await probe.interrupt(), probe.lines
        finally:
            await probe.kill()

    try:
        code, lines = run(main(), timeout=60)
    finally:
        silent.close()
    assert code == 1
    assert f"  connectors.1.meter ({silent.path}): NO ANSWER" in lines
    assert f"  connectors.2.rfid ({missing}): NO ANSWER" in lines


def test_the_config_error_type_is_a_value_error() -> None:
    # Callers that validate many inputs catch ValueError; the key stays available.
    error = HardwareConfigError("rfid.port", "missing")
    assert isinstance(error, ValueError) and error.key == "rfid.port"


def test_the_example_of_docs_hardware_md_loads(tmp_path: Path) -> None:
    doc = (Path(__file__).parent.parent / "docs" / "hardware.md").read_text()
    (tmp_path / "example.toml").write_text(doc.split("```toml\n", 1)[1].split("```", 1)[0])
    config = load_config(tmp_path / "example.toml")
    assert [key for key, _ in config.devices()] == [
        "rfid",
        "connectors.1.meter",
        "connectors.2.meter",
        "connectors.2.rfid",
    ]


GPIO = """
[gpio]
chip = "gpiochip0"

[emergency_stop]
line = "GPIO5"
active_low = true
bias = "pull-up"
debounce = 0.02

[connectors.2]
plug = 6
contactor = { line = "GPIO12", chip = "pinctrl-rp1" }

[connectors.1]
plug = { line = "GPIO17", active_low = true, bias = "pull-up", debounce = 0.05 }
contactor = { line = "GPIO27", feedback = { line = "GPIO22", active_low = true, bias = "pull-up" } }
leds = { charging = "GPIO24", available = "GPIO23", fault = 25 }
"""


def test_gpio_lines(tmp_path: Path) -> None:
    from ocppfast.hardware.config import HardwareConfig
    from ocppfast.hardware.gpio import LineConfig

    config = load(tmp_path, GPIO)
    assert isinstance(config, HardwareConfig)
    assert config.emergency_stop == LineConfig("gpiochip0", "GPIO5", True, "pull-up", 0.02)
    one, two = config.connectors
    assert one.plug == LineConfig("gpiochip0", "GPIO17", True, "pull-up", 0.05)
    assert one.contactor == LineConfig("gpiochip0", "GPIO27")
    assert one.contactor_feedback == LineConfig("gpiochip0", "GPIO22", True, "pull-up")
    assert dict(one.leds) == {
        "available": LineConfig("gpiochip0", "GPIO23"),
        "charging": LineConfig("gpiochip0", "GPIO24"),
        "fault": LineConfig("gpiochip0", 25),
    }
    assert two.plug == LineConfig("gpiochip0", 6)
    assert two.contactor == LineConfig("pinctrl-rp1", "GPIO12")
    assert two.contactor_feedback is None and dict(two.leds) == {}
    with pytest.raises(TypeError):
        one.leds["occupied"] = LineConfig("gpiochip0", 26)  # type: ignore[index]
    inputs, outputs = config.gpio_lines()
    assert list(inputs) == [
        "emergency_stop",
        "connectors.1.plug",
        "connectors.1.contactor.feedback",
        "connectors.2.plug",
    ]
    assert list(outputs) == [
        "connectors.1.contactor",
        "connectors.1.leds.available",
        "connectors.1.leds.charging",
        "connectors.1.leds.fault",
        "connectors.2.contactor",
    ]
    assert inputs["connectors.1.contactor.feedback"] == one.contactor_feedback
    assert config.devices() == []  # serial devices only
    # The same line number on another chip is another line.
    parse_config(
        {
            "gpio": {"chip": "gpiochip0"},
            "connectors": {"1": {"plug": 6}, "2": {"plug": {"line": 6, "chip": "gpiochip1"}}},
        }
    )


def test_no_gpio_lines() -> None:
    config = parse_config({})
    assert config.gpio_lines() == ({}, {}) and config.emergency_stop is None
    connector = parse_config({"connectors": {"1": {"meter": {"port": "/dev/x"}}}}).connectors[0]
    assert connector.plug is None and dict(connector.leds) == {}


def test_gpio_bank_refuses_what_the_loader_refuses() -> None:
    # GpioBank checks its LineConfigs too: the lead (and tests) build them without a file.
    from ocppfast.hardware.gpio import GpioBank, LineConfig

    def bank(inputs: dict[str, LineConfig], outputs: dict[str, LineConfig]) -> GpioBank:
        return GpioBank(inputs, outputs, lambda name, active: None)

    line = LineConfig("gpiochip0", 5)
    with pytest.raises(ValueError, match="'x' is both an input and an output"):
        bank({"x": line}, {"x": LineConfig("gpiochip0", 6)})
    with pytest.raises(ValueError, match="x: an output line takes no bias or debounce"):
        bank({}, {"x": LineConfig("gpiochip0", 6, bias="pull-up")})
    with pytest.raises(ValueError, match=r"x: debounce 2 is not 0\.\.1 s"):
        bank({"x": LineConfig("gpiochip0", 6, debounce=2)}, {})
    with pytest.raises(ValueError, match="x: bias 'up' is not one of"):
        bank({"x": LineConfig("gpiochip0", 6, bias="up")}, {})  # type: ignore[arg-type]
    assert LineConfig("gpiochip0", "GPIO17", True, "pull-up", 0.05).describe() == (
        "gpiochip0 GPIO17 (active-low, pull-up, debounce 50 ms)"
    )
    assert LineConfig("gpiochip0", 4).describe() == "gpiochip0 offset 4"


def test_the_gpio_example_of_docs_hardware_md_loads(tmp_path: Path) -> None:
    doc = (Path(__file__).parent.parent / "docs" / "hardware.md").read_text()
    section = doc.split("\n## GPIO lines\n", 1)[1]
    (tmp_path / "gpio.toml").write_text(section.split("```toml\n", 1)[1].split("```", 1)[0])
    inputs, outputs = load_config(tmp_path / "gpio.toml").gpio_lines()
    assert list(inputs) == [
        "emergency_stop",
        "connectors.1.plug",
        "connectors.1.contactor.feedback",
    ]
    assert list(outputs) == [
        "connectors.1.contactor",
        "connectors.1.leds.available",
        "connectors.1.leds.charging",
        "connectors.1.leds.fault",
    ]


def test_current_limit_board_and_its_port() -> None:
    """`connectors.N.current_limit` is the EVSE controller board (modbus_evse.py), on a port of
    its own: one a meter uses is refused naming both keys."""
    board_table = {"port": "/dev/ttyUSB2", "max_amps": 32}
    config = parse_config(
        {"connectors": {"1": {"current_limit": board_table, "meter": {"port": "/dev/ttyUSB1"}}}}
    )
    board = config.connectors[0].current_limit
    assert board is not None
    assert (board.port, board.model, board.max_amps) == ("/dev/ttyUSB2", "EVSE-WB", 32)
    shared = {**board_table, "port": "/dev/ttyUSB1"}
    with pytest.raises(HardwareConfigError) as error:
        parse_config(
            {"connectors": {"1": {"current_limit": shared, "meter": {"port": "/dev/ttyUSB1"}}}}
        )
    assert error.value.key == "connectors.1.current_limit.port"
    assert "already used by connectors.1.meter" in str(error.value)
