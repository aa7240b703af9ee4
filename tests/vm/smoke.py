"""Self-test of the test VM: gpio-sim and the gpiod package work together (run inside the VM).

Run by ``python3 tests/vm/vm.py selftest``. It creates a simulated GPIO chip through configfs
(the kernel's Documentation/admin-guide/gpio/gpio-sim.rst), drives an input line through the
simulator's ``pull`` sysfs attribute and expects the edge events and values through the GPIO
character device (libgpiod v2's Python binding), then drives an output line and reads it back
through the simulator's ``value`` attribute, and removes the chip. Exit status 0 on success.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import gpiod
from gpiod.line import Direction, Edge, Value

CONFIGFS = Path("/sys/kernel/config/gpio-sim")
DEVICE = f"ocppfast-smoke-{os.getpid()}"
LINE_NAMES = {0: "smoke-in", 1: "smoke-out"}
EVENT_TIMEOUT = 10.0  # seconds; generous, as TCG emulation is slow


class SmokeError(Exception):
    pass


def log(message: str) -> None:
    print(f"smoke: {message}", flush=True)


def write(path: Path, value: str) -> None:
    path.write_text(value)


def create_chip() -> tuple[Path, str, Path]:
    """Create and enable a gpio-sim device with one bank; returns (config dir, chip, sysfs dir)."""
    if not CONFIGFS.is_dir():
        raise SmokeError(f"{CONFIGFS} missing: is configfs mounted and gpio-sim loaded?")
    device = CONFIGFS / DEVICE
    device.mkdir()
    bank = device / "bank0"
    bank.mkdir()
    write(bank / "num_lines", "4")
    for offset, name in LINE_NAMES.items():
        (bank / f"line{offset}").mkdir()
        write(bank / f"line{offset}" / "name", name)
    write(device / "live", "1")
    dev_name = (device / "dev_name").read_text().strip()
    chip_name = (bank / "chip_name").read_text().strip()
    sysfs = Path("/sys/devices/platform") / dev_name / chip_name
    log(f"created {chip_name} (device {dev_name}) with lines {LINE_NAMES}")
    return device, chip_name, sysfs


def remove_chip(device: Path) -> None:
    """Disable and delete the gpio-sim device (the reverse of create_chip)."""
    if not device.exists():
        return
    if (device / "live").read_text().strip() == "1":
        write(device / "live", "0")
    bank = device / "bank0"
    for offset in LINE_NAMES:
        line = bank / f"line{offset}"
        if line.exists():
            line.rmdir()
    if bank.exists():
        bank.rmdir()
    device.rmdir()
    log(f"removed {device.name}")


def expect_edge(request: gpiod.LineRequest, wanted: gpiod.EdgeEvent.Type) -> None:
    deadline = time.monotonic() + EVENT_TIMEOUT
    while time.monotonic() < deadline:
        if request.wait_edge_events(timeout=deadline - time.monotonic()):
            events = request.read_edge_events()
            kinds = [event.event_type for event in events]
            if kinds != [wanted]:
                raise SmokeError(f"expected one {wanted.name}, got {kinds}")
            log(f"edge event: {wanted.name} on offset {events[0].line_offset}")
            return
    raise SmokeError(f"no {wanted.name} event within {EVENT_TIMEOUT} s")


def check(chip_name: str, sysfs: Path) -> None:
    in_offset, out_offset = 0, 1
    pull = sysfs / f"sim_gpio{in_offset}" / "pull"
    value = sysfs / f"sim_gpio{out_offset}" / "value"
    with gpiod.Chip(f"/dev/{chip_name}") as chip:
        info = chip.get_info()
        log(f"opened /dev/{chip_name}: {info.label}, {info.num_lines} lines")
        settings = gpiod.LineSettings(direction=Direction.INPUT, edge_detection=Edge.BOTH)
        with chip.request_lines({LINE_NAMES[in_offset]: settings}, consumer="smoke") as request:
            name = LINE_NAMES[in_offset]
            write(pull, "pull-down")
            if request.get_value(name) != Value.INACTIVE:
                raise SmokeError(f"{name} is not inactive with the sim pulling it down")
            write(pull, "pull-up")
            expect_edge(request, gpiod.EdgeEvent.Type.RISING_EDGE)
            if request.get_value(name) != Value.ACTIVE:
                raise SmokeError(f"{name} does not read active after pull-up")
            log(f"{name}: pull-up -> rising edge, reads active")
            write(pull, "pull-down")
            expect_edge(request, gpiod.EdgeEvent.Type.FALLING_EDGE)
            if request.get_value(name) != Value.INACTIVE:
                raise SmokeError(f"{name} does not read inactive after pull-down")
            log(f"{name}: pull-down -> falling edge, reads inactive")
        out = gpiod.LineSettings(direction=Direction.OUTPUT, output_value=Value.INACTIVE)
        with chip.request_lines({LINE_NAMES[out_offset]: out}, consumer="smoke") as request:
            name = LINE_NAMES[out_offset]
            if value.read_text().strip() != "0":
                raise SmokeError(f"{value} is not 0 with {name} requested inactive")
            request.set_value(name, Value.ACTIVE)
            if value.read_text().strip() != "1":
                raise SmokeError(f"{value} is not 1 after setting {name} active")
            log(f"{name}: set active -> {value.relative_to(sysfs.parent)} reads 1")


def main() -> int:
    log(f"kernel {os.uname().release}, gpiod {gpiod.__version__}")
    device: Path | None = None
    try:
        device, chip_name, sysfs = create_chip()
        check(chip_name, sysfs)
    except (SmokeError, OSError, ValueError) as exc:
        log(f"FAILED: {exc}")
        return 1
    finally:
        if device is not None:
            try:
                remove_chip(device)
            except OSError as exc:
                log(f"could not remove {device}: {exc}")
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
