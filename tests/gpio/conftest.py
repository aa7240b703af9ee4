"""Simulated GPIO chips for the GPIO tests: the kernel's gpio-sim, driven through configfs.

The tests need a kernel with gpio-sim (CONFIG_GPIO_SIM, or the module tests/vm builds), configfs
mounted and root: they run in the VM (python3 tests/vm/vm.py run -- python3 -m pytest tests/gpio).
Elsewhere the test modules skip with that reason (`SKIP_REASON`).

How the simulator works (Documentation/admin-guide/gpio/gpio-sim.rst): a directory made under
``<configfs>/gpio-sim/`` is a device; its ``gpio-bank0/`` holds ``num_lines``, ``label`` and
``lineN/name``; writing 1 to the device's ``live`` creates the chip, and the read-only
``gpio-bank0/chip_name`` and ``dev_name`` say which gpiochip it became (never assume gpiochip0:
on aarch64's virt machine QEMU's own controller is gpiochip0). Each line then has
``/sys/devices/platform/<dev_name>/<chip_name>/sim_gpio<N>/`` with ``pull`` (the outside world
pulling an input up or down) and ``value`` (the level now, driven by user space for an output).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SKIP_REASON = (
    "needs gpio-sim: run in the VM (python3 tests/vm/vm.py run -- python3 -m pytest tests/gpio)"
)

# configfs is mounted at /sys/kernel/config by systemd; some minimal systems use /config.
_CONFIGFS = [Path("/sys/kernel/config"), Path("/config")]


def _gpio_sim_root() -> Path | None:
    for root in _CONFIGFS:
        if (root / "gpio-sim").is_dir():
            return root / "gpio-sim"
    return None


GPIO_SIM = _gpio_sim_root()
HAVE_GPIO_SIM = GPIO_SIM is not None and os.geteuid() == 0

#: The named lines of the simulated chip (offset: name); offsets 5-7 stay unnamed.
LINE_NAMES = {0: "PLUG", 1: "CONTACTOR", 2: "FEEDBACK", 3: "ESTOP", 4: "LED_FAULT"}
NUM_LINES = 8

_serial = itertools.count()


def _wait_for(path: Path, timeout: float = 10.0) -> None:
    # devtmpfs creates /dev/gpiochipN as the device registers; give it a moment.
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.01)


class SimChip:
    """One live gpio-sim chip: its gpiochip name, /dev path and label, and the sysfs controls
    of its lines."""

    def __init__(self, names: dict[int, str], num_lines: int = NUM_LINES) -> None:
        assert GPIO_SIM is not None
        n = next(_serial)
        self.label = f"ocppfast-sim-{os.getpid()}-{n}"
        self.device = GPIO_SIM / f"ocppfast-{os.getpid()}-{n}"
        self.bank = self.device / "gpio-bank0"
        self.names = dict(names)
        self.device.mkdir()
        self.bank.mkdir()
        (self.bank / "num_lines").write_text(f"{num_lines}\n")
        (self.bank / "label").write_text(f"{self.label}\n")
        for offset, name in names.items():
            (self.bank / f"line{offset}").mkdir()
            (self.bank / f"line{offset}" / "name").write_text(f"{name}\n")
        (self.device / "live").write_text("1\n")
        self.chip_name = (self.bank / "chip_name").read_text().strip()
        self.dev_name = (self.device / "dev_name").read_text().strip()
        self.path = f"/dev/{self.chip_name}"
        _wait_for(Path(self.path))
        self._sysfs = Path("/sys/devices/platform") / self.dev_name / self.chip_name

    def offset(self, line: int | str) -> int:
        if isinstance(line, int):
            return line
        return next(o for o, n in self.names.items() if n == line)

    def _attr(self, line: int | str, attr: str) -> Path:
        return self._sysfs / f"sim_gpio{self.offset(line)}" / attr

    def pull(self, line: int | str, pull: str) -> None:
        """Pull `line` "pull-up" or "pull-down" from outside: what a switch or a sensor does to
        an input (the level changes unless user space drives the line as an output)."""
        assert pull in ("pull-up", "pull-down")
        self._attr(line, "pull").write_text(pull)

    def level(self, line: int | str) -> int:
        """The electrical level of `line` now (0 or 1): for an output, what it is driven to."""
        return int(self._attr(line, "value").read_text().strip())

    def remove(self) -> None:
        (self.device / "live").write_text("0\n")
        for offset in self.names:
            (self.bank / f"line{offset}").rmdir()
        self.bank.rmdir()
        self.device.rmdir()


@pytest.fixture
def sim() -> Iterator[SimChip]:
    """A fresh simulated chip with `LINE_NAMES`, removed after the test."""
    if not HAVE_GPIO_SIM:
        pytest.skip(SKIP_REASON)
    chip = SimChip(LINE_NAMES)
    try:
        yield chip
    finally:
        chip.remove()
