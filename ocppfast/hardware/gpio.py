"""GPIO lines through the Linux GPIO character device, with libgpiod v2 (PyPI ``gpiod``).

A charger's GPIO lines: inputs (the plug detection switch, the contactor's auxiliary contact, the
emergency stop button) reported as they change, and outputs (the contactor, status LEDs) driven
by the station. `GpioBank` requests them all, one request per chip, under the consumer name
"ocppfast" (what ``gpioinfo`` shows as the holder).

Values are logical: True means active, and `LineConfig.active_low` says which electrical level
that is. The kernel does the inversion (uAPI v2: an active-low line's value and its edge events
are logical; Documentation/userspace-api/gpio/gpio-v2-line-get-values-ioctl.rst), so a pull-up
input switched to ground reads True when the switch is closed.

Inputs are watched with edge detection on both edges; the kernel timestamps and queues each
edge on the request's file descriptor, and `GpioBank` reads them with ``loop.add_reader``: no
polling loop, no thread. Debounce is done by the kernel too (in the GPIO controller when it
supports it, otherwise in software by gpiolib-cdev), so a bouncing switch gives one event.

Safe state. Outputs start inactive (contactor open) and `GpioBank.close` drives them inactive
before releasing them. What the kernel does with an output line once it is released (a `close`
that did not run: the process was killed, or crashed past every handler) is up to the GPIO
controller's driver, not the GPIO core: gpiolib's ``gpiod_free_commit()`` clears the request
flags and calls the driver's ``free`` hook, and nothing else. gpio-sim's hook puts the line
back to its simulated pull (so an active-low output reads as its pull, not as inactive); the
mainline Raspberry Pi driver (pinctrl-bcm2835) turns the pin into an input, unless its
``persist_gpio_outputs`` parameter is set, which Raspberry Pi OS kernels do by default: there
the line keeps the level last driven, and a contactor that was closed stays closed. So the
software cannot be the last line of defence: the contactor must be wired to fail open (a relay
that needs the line actively driven to close, with a pull that holds it open otherwise) behind
a hardware watchdog, since a SIGKILL, an out-of-memory kill or a kernel panic runs no code.
See docs/hardware.md, "GPIO lines".
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import errno
import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import gpiod

__all__ = [
    "BIASES",
    "CONSUMER",
    "MAX_DEBOUNCE",
    "Bias",
    "GpioBank",
    "GpioError",
    "LineConfig",
    "list_chips",
]

_log = logging.getLogger("ocppfast.hardware")

#: The consumer name of every request: what ``gpioinfo`` shows as the holder of a line.
CONSUMER = "ocppfast"

Bias = Literal["as-is", "disabled", "pull-up", "pull-down"]
BIASES: tuple[Bias, ...] = ("as-is", "disabled", "pull-up", "pull-down")

#: The longest debounce accepted, in seconds. The uAPI takes microseconds in a u32 (about 71
#: minutes); a switch bounces for a few milliseconds, so anything near a second is a typo.
MAX_DEBOUNCE = 1.0

_INSTALL_HINT = (
    "the GPIO backend needs the gpiod package (libgpiod v2 bindings): pip install 'gpiod>=2.1'"
)


@dataclass(frozen=True)
class LineConfig:
    """One GPIO line: on `chip` (a name "gpiochip0", a path "/dev/gpiochip0", or the chip's
    label, e.g. "pinctrl-bcm2711"), the line `line` (its name, e.g. "GPIO17", or its offset).
    `active_low`: the line is active at a low level (a pull-up input switched to ground, a relay
    board driven low). `bias`: input pull. `debounce`: seconds, applied by the kernel (0: none)."""

    chip: str
    line: str | int
    active_low: bool = False
    bias: Bias = "as-is"
    debounce: float = 0.0

    def describe(self) -> str:
        """The line as an operator reads it: ``gpiochip0 GPIO17 (active-low, pull-up,
        debounce 50 ms)``."""
        extras = []
        if self.active_low:
            extras.append("active-low")
        if self.bias != "as-is":
            extras.append(f"bias {self.bias}" if self.bias == "disabled" else self.bias)
        if self.debounce:
            extras.append(f"debounce {self.debounce * 1000:g} ms")
        where = f"{self.chip} {'offset ' if isinstance(self.line, int) else ''}{self.line}"
        return f"{where} ({', '.join(extras)})" if extras else where


class GpioError(RuntimeError):
    """A chip or line cannot be opened or requested; the message names it and says what to
    check."""


def _gpiod() -> ModuleType:
    # Imported when lines are opened, not with this module: the configuration (LineConfig)
    # must load on a machine without the gpiod package, e.g. to validate a file.
    try:
        import gpiod
    except ImportError as exc:
        raise GpioError(f"{_INSTALL_HINT} ({exc})") from None
    return gpiod


def _chip_number(path: str) -> int:
    match = re.search(r"(\d+)$", path)
    return int(match.group(1)) if match else -1


def _chip_paths() -> list[str]:
    try:
        names = os.listdir("/dev")
    except OSError:
        return []
    paths = [f"/dev/{n}" for n in names if re.fullmatch(r"gpiochip\d+", n)]
    return sorted(paths, key=_chip_number)


def list_chips() -> list[str]:
    """The GPIO chips of this machine as ``gpiodetect`` shows them: "gpiochip0 [pinctrl-bcm2711]
    (58 lines)", or "gpiochip0 (cannot open: Permission denied)"."""
    gpiod = _gpiod()
    found = []
    for path in _chip_paths():
        name = os.path.basename(path)
        try:
            with gpiod.Chip(path) as chip:
                info = chip.get_info()
            found.append(f"{name} [{info.label}] ({info.num_lines} lines)")
        except OSError as exc:
            found.append(f"{name} (cannot open: {exc.strerror or exc})")
    return found


def _chips_found() -> str:
    chips = list_chips()
    if not chips:
        return (
            "no GPIO chips found (/dev/gpiochip*): this kernel has no GPIO driver for the board, "
            "or /dev is not populated"
        )
    return "the chips found: " + "; ".join(chips)


def _open_error(path: str, exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"cannot open {path}: permission denied; check: add the user to the group owning it "
            f"(ls -l {path}; often 'gpio': sudo usermod -aG gpio $USER, then log in again) or a "
            "udev rule giving access"
        )
    return f"cannot open {path}: {exc.strerror or exc}"


def _resolve_chip(spec: str) -> str:
    """The device path of the chip `spec` names (path, name or label)."""
    if spec.startswith("/"):
        if os.path.exists(spec):
            return spec
        raise GpioError(f"GPIO chip {spec!r} not found; {_chips_found()}")
    if re.fullmatch(r"gpiochip\d+", spec) and os.path.exists(f"/dev/{spec}"):
        return f"/dev/{spec}"
    gpiod = _gpiod()
    for path in _chip_paths():
        try:
            with gpiod.Chip(path) as chip:
                if chip.get_info().label == spec:
                    return path
        except OSError:
            continue
    raise GpioError(f"GPIO chip {spec!r} not found (by name, path or label); {_chips_found()}")


_BIAS_NAMES = {
    "as-is": "AS_IS",
    "disabled": "DISABLED",
    "pull-up": "PULL_UP",
    "pull-down": "PULL_DOWN",
}


@dataclass
class _Line:
    name: str
    config: LineConfig
    output: bool
    offset: int = -1
    last: bool = False  # inputs: the last value reported (or read at open)


@dataclass
class _Request:
    """One line request on one chip, with the lines it holds by offset."""

    path: str
    label: str
    request: Any  # gpiod.LineRequest
    lines: dict[int, _Line]
    fd: int = -1
    watching: bool = False


class GpioBank:
    """All the GPIO lines a charger uses: `inputs` reported with edge events, `outputs` driven.
    Logical values: True = active.

    `on_change(name, active)` is called in the event loop for each change of an input; an
    exception it raises is logged, not propagated. Initial values are not reported: read them
    with `value` after `open`.

    The caller also calls `close` in a ``finally`` around the station loop (`open` registers an
    ``atexit`` hook as a second net; SIGTERM reaches neither unless a signal handler turns it
    into an exit or calls `close`). Nothing runs on SIGKILL or a kernel panic, and what a
    released output line does then depends on the GPIO controller's driver (on gpio-sim it falls
    back to its pull, measured in tests/gpio; on Raspberry Pi OS it keeps its level): the
    contactor must be wired to fail open, behind a hardware watchdog (module docstring,
    docs/hardware.md)."""

    def __init__(
        self,
        inputs: Mapping[str, LineConfig],
        outputs: Mapping[str, LineConfig],
        on_change: Callable[[str, bool], None],
    ) -> None:
        self._on_change = on_change
        self._lines: dict[str, _Line] = {}
        for mapping, output in ((inputs, False), (outputs, True)):
            for name, config in mapping.items():
                if name in self._lines:
                    raise ValueError(f"GPIO line name {name!r} is both an input and an output")
                _check_config(name, config, output)
                self._lines[name] = _Line(name, config, output)
        self._requests: list[_Request] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def is_open(self) -> bool:
        """True between a successful `open` and `close`."""
        return bool(self._requests)

    async def open(self) -> None:
        """Request every line (one request per chip); outputs start inactive (the safe state:
        contactor open). Inputs get edge detection on both edges, the bias and the kernel
        debounce. Edge events are read with `loop.add_reader` on the request's file descriptor
        (no polling loop, no thread) and reported as `on_change(name, active)` in the event
        loop, only when the logical value changed. Raises GpioError naming the chip/line
        (unknown chip: list the chips found; unknown line name: say so; line busy: say which
        consumer holds it)."""
        if self._requests:
            raise GpioError("the GPIO lines are already open")
        gpiod = _gpiod()
        self._loop = asyncio.get_running_loop()
        by_chip: dict[str, list[_Line]] = {}
        for line in self._lines.values():
            try:
                path = _resolve_chip(line.config.chip)
            except GpioError as exc:
                raise GpioError(f"{line.name}: {exc}") from None
            by_chip.setdefault(path, []).append(line)
        try:
            for path, lines in by_chip.items():
                request = self._request(gpiod, path, lines)
                self._requests.append(request)
                for line in request.lines.values():
                    if not line.output:
                        line.last = bool(request.request.get_value(line.offset))
                request.fd = request.request.fd
                if any(not line.output for line in lines):
                    self._loop.add_reader(request.fd, self._on_readable, request)
                    request.watching = True
        except BaseException:
            self.close()
            raise
        atexit.register(self.close)
        for request in self._requests:
            _log.info(
                "GPIO %s [%s]: requested %s",
                os.path.basename(request.path),
                request.label,
                ", ".join(
                    f"{line.name}={line.config.line}"
                    + ("" if isinstance(line.config.line, int) else f"({line.offset})")
                    + (" out" if line.output else " in")
                    for line in request.lines.values()
                ),
            )

    def _request(self, gpiod: ModuleType, path: str, lines: list[_Line]) -> _Request:
        chip_name = os.path.basename(path)
        try:
            chip = gpiod.Chip(path)
        except OSError as exc:
            raise GpioError(f"{lines[0].name}: {_open_error(path, exc)}") from None
        with chip:
            info = chip.get_info()
            where = f"{chip_name} [{info.label}] ({info.num_lines} lines)"
            by_offset: dict[int, _Line] = {}
            settings: dict[int | str, Any] = {}
            for line in lines:
                line.offset = _offset(chip, line, where, chip_name)
                other = by_offset.get(line.offset)
                if other is not None:
                    raise GpioError(
                        f"{line.name}: {line.config.describe()} is line {line.offset} of "
                        f"{chip_name}, already used by {other.name}; each GPIO line has one use"
                    )
                by_offset[line.offset] = line
                settings[line.offset] = _settings(gpiod, line)
            try:
                request = chip.request_lines(settings, consumer=CONSUMER)
            except OSError as exc:
                raise GpioError(_request_error(chip, lines, where, exc)) from None
        return _Request(path, info.label, request, by_offset)

    def _on_readable(self, request: _Request) -> None:
        # Called by the event loop when the request's fd has edge events queued.
        try:
            events = request.request.read_edge_events()
        except Exception as exc:
            # The chip went away (a USB GPIO expander unplugged: ENODEV) or was released:
            # stop watching rather than spin on a dead descriptor.
            _log.error(
                "GPIO %s: cannot read edge events any more (%s); inputs on it are no longer "
                "watched: check the GPIO controller (dmesg)",
                os.path.basename(request.path),
                exc,
            )
            self._unwatch(request)
            return
        rising = _gpiod().EdgeEvent.Type.RISING_EDGE
        for event in events:
            line = request.lines.get(event.line_offset)
            if line is None or line.output:
                continue
            # Rising = inactive to active: the kernel reports edges in logical terms.
            active = event.event_type == rising
            if active == line.last:
                continue
            line.last = active
            _log.debug("GPIO %s: %s", line.name, "active" if active else "inactive")
            try:
                self._on_change(line.name, active)
            except Exception:
                _log.exception("GPIO %s: the on_change callback failed", line.name)

    def _unwatch(self, request: _Request) -> None:
        if request.watching and self._loop is not None:
            request.watching = False
            # The loop may be closed already (close() from atexit): nothing to remove then.
            with contextlib.suppress(Exception):
                self._loop.remove_reader(request.fd)

    def _line(self, name: str) -> tuple[_Line, _Request]:
        line = self._lines.get(name)
        if line is None:
            raise KeyError(f"no GPIO line named {name!r}; the lines are: {', '.join(self._lines)}")
        for request in self._requests:
            if request.lines.get(line.offset) is line:
                return line, request
        raise GpioError(f"{name}: the GPIO lines are not open (call open() first)")

    def value(self, name: str) -> bool:
        """An input's (or output's) logical value now."""
        line, request = self._line(name)
        try:
            return bool(request.request.get_value(line.offset))
        except OSError as exc:
            raise GpioError(f"{name}: cannot read {line.config.describe()}: {exc}") from None

    def set(self, name: str, active: bool) -> None:
        """Drive an output."""
        line, request = self._line(name)
        if not line.output:
            raise ValueError(f"{name} is an input; only outputs can be driven")
        gpiod = _gpiod()
        value = gpiod.line.Value.ACTIVE if active else gpiod.line.Value.INACTIVE
        try:
            request.request.set_value(line.offset, value)
        except OSError as exc:
            raise GpioError(f"{name}: cannot drive {line.config.describe()}: {exc}") from None

    def close(self) -> None:
        """Drive every output inactive, then release the requests. Synchronous and idempotent,
        so that it can run from a `finally`, an `atexit` hook or a signal handler."""
        requests, self._requests = self._requests, []
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)
        if not requests:
            return
        inactive: Any = None
        with contextlib.suppress(Exception):
            inactive = _gpiod().line.Value.INACTIVE
        for request in requests:
            outputs = {o: inactive for o, line in request.lines.items() if line.output}
            if outputs and inactive is not None:
                try:
                    request.request.set_values(outputs)
                except Exception as exc:
                    _log.error(
                        "GPIO %s: could not drive the outputs inactive before releasing them "
                        "(%s); the contactor's fail-open wiring must open it",
                        os.path.basename(request.path),
                        exc,
                    )
        for request in requests:
            self._unwatch(request)
            try:
                request.request.release()
            except Exception as exc:
                _log.error("GPIO %s: release failed: %s", os.path.basename(request.path), exc)
        _log.info("GPIO: outputs driven inactive, lines released")


def _check_config(name: str, config: LineConfig, output: bool) -> None:
    if config.bias not in BIASES:
        raise ValueError(f"{name}: bias {config.bias!r} is not one of {', '.join(BIASES)}")
    if not (math.isfinite(config.debounce) and 0 <= config.debounce <= MAX_DEBOUNCE):
        raise ValueError(f"{name}: debounce {config.debounce} is not 0..{MAX_DEBOUNCE:g} s")
    if output and (config.bias != "as-is" or config.debounce):
        raise ValueError(f"{name}: an output line takes no bias or debounce")


def _offset(chip: gpiod.Chip, line: _Line, where: str, chip_name: str) -> int:
    spec = line.config.line
    try:
        return int(chip.line_offset_from_id(spec))
    except (OSError, ValueError):
        pass
    if isinstance(spec, int):
        raise GpioError(
            f"{line.name}: no line at offset {spec} on {where}: offsets run from 0; check "
            f"with gpioinfo {chip_name}"
        )
    raise GpioError(
        f"{line.name}: no line named {spec!r} on {where}; check the name with gpioinfo "
        f"{chip_name} (names are case-sensitive), or give the offset as a number"
    )


def _settings(gpiod: ModuleType, line: _Line) -> Any:
    config = line.config
    if line.output:
        return gpiod.LineSettings(
            direction=gpiod.line.Direction.OUTPUT,
            active_low=config.active_low,
            # Requested straight into the inactive state: the line never glitches active.
            output_value=gpiod.line.Value.INACTIVE,
        )
    return gpiod.LineSettings(
        direction=gpiod.line.Direction.INPUT,
        edge_detection=gpiod.line.Edge.BOTH,
        active_low=config.active_low,
        bias=getattr(gpiod.line.Bias, _BIAS_NAMES[config.bias]),
        debounce_period=timedelta(seconds=config.debounce),
    )


def _request_error(chip: gpiod.Chip, lines: list[_Line], where: str, exc: OSError) -> str:
    chip_name = where.split(" ", 1)[0]
    if exc.errno == errno.EBUSY:
        # The kernel says only "busy"; the line info says who holds it.
        for line in lines:
            try:
                info = chip.get_line_info(line.offset)
            except OSError:
                continue
            if info.used:
                holder = f"consumer {info.consumer!r}" if info.consumer else "an unnamed consumer"
                return (
                    f"{line.name}: {line.config.describe()} is busy: held by {holder}; check: "
                    f"another program using it (gpioinfo {chip_name} shows the holders), or a "
                    "kernel driver, overlay or hog claiming that pin"
                )
        return f"{chip_name}: a requested line is busy; check gpioinfo {chip_name}"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{lines[0].name}: {_open_error('/dev/' + chip_name, exc)}"
    names = ", ".join(line.name for line in lines)
    return f"{names}: cannot request the lines on {where}: {exc.strerror or exc}"
