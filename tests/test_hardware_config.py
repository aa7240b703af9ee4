"""The hardware configuration file (ocppfast.hardware.config) and `ocppfast hardware probe`.

The loader: valid files, each error naming its key, unknown keys, GPIO keys refused. The probe:
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
    assert (meter.port, meter.unit_id, meter.baudrate) == ("/dev/ttyUSB2", 3, 19200)


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
        "connectors.1.lcd: unknown key; the known keys here are: meter, rfid",
    ),
    (
        '[station]\nid = "CP1"',
        "station",
        "station: unknown key; the known keys here are: connectors, rfid",
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
    # The GPIO lines of issue 9: reserved, refused until the libgpiod backend exists.
    (
        "[connectors.1.plug]\nline = 17",
        "connectors.1.plug",
        "connectors.1.plug: gpio lines are not supported yet (issue 9)",
    ),
    (
        "[connectors.1.contactor]\nline = 22\nfeedback = 23",
        "connectors.1.contactor",
        "connectors.1.contactor: gpio lines are not supported yet (issue 9)",
    ),
    (
        "[connectors.1]\npwm = 18",
        "connectors.1.pwm",
        "connectors.1.pwm: gpio lines are not supported yet (issue 9)",
    ),
    (
        "[connectors.1]\nleds = [5, 6]",
        "connectors.1.leds",
        "connectors.1.leds: gpio lines are not supported yet (issue 9)",
    ),
    (
        "[emergency_stop]\nline = 4",
        "emergency_stop",
        "emergency_stop: gpio lines are not supported yet (issue 9)",
    ),
    ('gpio = "/dev/gpiochip0"', "gpio", "gpio: gpio lines are not supported yet (issue 9)"),
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
