"""GpioBank (ocppfast.hardware.gpio) against the kernel's gpio-sim: real line requests through the
GPIO character device, inputs moved with the simulator's pulls, outputs read back from its values.

Runs in the VM (tests/gpio/conftest.py); skipped elsewhere with the reason."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.aio import run, until
from tests.gpio.conftest import HAVE_GPIO_SIM, SKIP_REASON, SimChip

if not HAVE_GPIO_SIM:  # (and gpiod may be missing too)
    pytest.skip(SKIP_REASON, allow_module_level=True)

import gpiod

from ocppfast.hardware.gpio import CONSUMER, GpioBank, GpioError, LineConfig

REPO = Path(__file__).resolve().parents[2]


class Changes:
    """on_change's calls, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    def __call__(self, name: str, active: bool) -> None:
        self.seen.append((name, active))


def info(sim: SimChip, line: int | str) -> gpiod.LineInfo:
    with gpiod.Chip(sim.path) as chip:
        return chip.get_line_info(sim.offset(line))


def test_lines_by_name_and_by_offset(sim: SimChip) -> None:
    async def main() -> None:
        bank = GpioBank(
            inputs={"plug": LineConfig(sim.chip_name, "PLUG"), "spare": LineConfig(sim.path, 6)},
            outputs={
                "contactor": LineConfig(sim.label, "CONTACTOR"),
                "led": LineConfig(sim.chip_name, 4),
            },
            on_change=Changes(),
        )
        await bank.open()
        try:
            # Chip by name, path and label; lines by name and offset: each is the right line,
            # held by "ocppfast" in the right direction.
            for line, direction in ((0, "INPUT"), (6, "INPUT"), (1, "OUTPUT"), (4, "OUTPUT")):
                line_info = info(sim, line)
                assert line_info.used and line_info.consumer == CONSUMER
                assert line_info.direction is getattr(gpiod.line.Direction, direction)
            assert info(sim, "PLUG").edge_detection is gpiod.line.Edge.BOTH
            assert not info(sim, 2).used  # not configured, not requested
            sim.pull(6, "pull-up")
            await until(lambda: bank.value("spare"))
            assert bank.value("plug") is False
        finally:
            bank.close()
        assert not info(sim, "PLUG").used and not info(sim, "CONTACTOR").used

    run(main())


def test_active_low_and_bias(sim: SimChip) -> None:
    async def main() -> None:
        bank = GpioBank(
            inputs={
                # A button to ground with the internal pull-up: pressed = low = active.
                "estop": LineConfig(sim.chip_name, "ESTOP", active_low=True, bias="pull-up"),
                "plug": LineConfig(sim.chip_name, "PLUG", bias="pull-down"),
                "spare": LineConfig(sim.chip_name, 5, bias="disabled"),
            },
            outputs={},
            on_change=Changes(),
        )
        await bank.open()
        try:
            assert info(sim, "ESTOP").bias is gpiod.line.Bias.PULL_UP
            assert info(sim, "ESTOP").active_low
            assert info(sim, "PLUG").bias is gpiod.line.Bias.PULL_DOWN
            # gpio-sim applies the requested bias as its pull: the released button reads high,
            # which is inactive for an active-low line.
            assert sim.level("ESTOP") == 1
            assert bank.value("estop") is False
            assert sim.level("PLUG") == 0 and bank.value("plug") is False
            sim.pull("ESTOP", "pull-down")  # the button pressed: the line to ground
            assert bank.value("estop") is True
            sim.pull("ESTOP", "pull-up")
            assert bank.value("estop") is False
        finally:
            bank.close()

    run(main())


def test_edge_events_arrive_in_the_event_loop(sim: SimChip) -> None:
    changes = Changes()
    threads = threading.active_count()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        called_in: list[object] = []

        def on_change(name: str, active: bool) -> None:
            called_in.append(asyncio.get_running_loop())
            changes(name, active)

        bank = GpioBank(
            inputs={
                "plug": LineConfig(sim.chip_name, "PLUG", active_low=True, bias="pull-up"),
                "feedback": LineConfig(sim.chip_name, "FEEDBACK"),
            },
            outputs={"contactor": LineConfig(sim.chip_name, "CONTACTOR")},
            on_change=on_change,
        )
        await bank.open()
        try:
            assert threading.active_count() == threads  # no thread: the loop reads the fd
            sim.pull("PLUG", "pull-down")  # an EV plugged in: the switch pulls to ground
            await until(lambda: changes.seen == [("plug", True)])
            sim.pull("FEEDBACK", "pull-up")
            await until(lambda: ("feedback", True) in changes.seen)
            sim.pull("PLUG", "pull-up")
            await until(lambda: changes.seen[-1] == ("plug", False))
            # A pull that changes nothing gives no event and no report.
            sim.pull("PLUG", "pull-up")
            bank.set("contactor", True)  # driving an output is no input event either
            sim.pull("FEEDBACK", "pull-down")
            await until(lambda: changes.seen[-1] == ("feedback", False))
            assert changes.seen == [
                ("plug", True),
                ("feedback", True),
                ("plug", False),
                ("feedback", False),
            ]
            assert called_in and all(c is loop for c in called_in)
        finally:
            bank.close()

    run(main())


def test_a_failing_callback_is_logged_not_raised(
    sim: SimChip, caplog: pytest.LogCaptureFixture
) -> None:
    changes = Changes()

    def on_change(name: str, active: bool) -> None:
        changes(name, active)
        raise RuntimeError("station bug")

    async def main() -> None:
        bank = GpioBank({"plug": LineConfig(sim.chip_name, "PLUG")}, {}, on_change)
        await bank.open()
        try:
            sim.pull("PLUG", "pull-up")
            await until(lambda: changes.seen == [("plug", True)])
            sim.pull("PLUG", "pull-down")
            await until(lambda: changes.seen[-1] == ("plug", False))
        finally:
            bank.close()

    run(main())
    assert "GPIO plug: the on_change callback failed" in caplog.text


def test_debounce_is_set_on_the_request(sim: SimChip) -> None:
    changes = Changes()

    async def main() -> None:
        bank = GpioBank(
            inputs={
                "plug": LineConfig(sim.chip_name, "PLUG", debounce=0.05),
                "estop": LineConfig(sim.chip_name, "ESTOP", debounce=1.0),
                "spare": LineConfig(sim.chip_name, 5),
            },
            outputs={},
            on_change=changes,
        )
        await bank.open()
        try:
            assert info(sim, "PLUG").debounced
            assert info(sim, "PLUG").debounce_period == timedelta(milliseconds=50)
            assert info(sim, "ESTOP").debounce_period == timedelta(seconds=1)
            assert not info(sim, 5).debounced
            # A debounced input still reports its changes (gpio-sim has no hardware debounce:
            # the kernel debounces in software, gpiolib-cdev).
            sim.pull("PLUG", "pull-up")
            await until(lambda: changes.seen == [("plug", True)])
            # Bounces shorter than the debounce period give one event for the settled level.
            # (1 s of debounce: the toggles take far less, even under emulation; if not, the
            # test says so rather than fail on the machine's speed.)
            start = time.monotonic()
            for pull in ["pull-up", "pull-down"] * 4 + ["pull-up"]:
                sim.pull("ESTOP", pull)
            if time.monotonic() - start > 0.5:
                pytest.skip("the machine was too slow to bounce the line within 0.5 s")
            await until(lambda: ("estop", True) in changes.seen)
            assert bank.value("estop") is True
            assert changes.seen == [("plug", True), ("estop", True)]
        finally:
            bank.close()

    run(main())


def test_outputs_are_inactive_at_open_and_after_close(sim: SimChip) -> None:
    async def main() -> None:
        bank = GpioBank(
            inputs={},
            outputs={
                "contactor": LineConfig(sim.chip_name, "CONTACTOR"),
                # A relay board switched by a low level: inactive is high.
                "led": LineConfig(sim.chip_name, "LED_FAULT", active_low=True),
            },
            on_change=Changes(),
        )
        await bank.open()
        assert (sim.level("CONTACTOR"), sim.level("LED_FAULT")) == (0, 1)
        assert (bank.value("contactor"), bank.value("led")) == (False, False)
        bank.set("contactor", True)
        bank.set("led", True)
        assert (sim.level("CONTACTOR"), sim.level("LED_FAULT")) == (1, 0)
        assert (bank.value("contactor"), bank.value("led")) == (True, True)
        # What the lines are driven to the moment before the kernel releases them.
        at_release: list[tuple[int, int]] = []
        for request in bank._requests:
            release = request.request.release

            def recording_release(release=release) -> None:  # type: ignore[no-untyped-def]
                at_release.append((sim.level("CONTACTOR"), sim.level("LED_FAULT")))
                release()

            request.request.release = recording_release  # type: ignore[method-assign]
        bank.close()
        assert at_release == [(0, 1)]  # both inactive before the release
        assert not info(sim, "CONTACTOR").used
        # After the release gpio-sim puts each line back to its pull (pull-down by default):
        # the active-low output now reads low, i.e. what would be *active* for it. Released
        # lines are not a safe state by themselves (docs/hardware.md, "GPIO lines").
        assert (sim.level("CONTACTOR"), sim.level("LED_FAULT")) == (0, 0)
        bank.close()  # idempotent
        with pytest.raises(GpioError, match="not open"):
            bank.set("contactor", True)

    run(main())


_CHILD = textwrap.dedent(
    """
    import asyncio, logging, sys
    from pathlib import Path
    from ocppfast.hardware.gpio import GpioBank, LineConfig

    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    chip, level = sys.argv[1], Path(sys.argv[2])

    async def main():
        bank = GpioBank({}, {"contactor": LineConfig(chip, "CONTACTOR")}, lambda n, a: None)
        await bank.open()
        for request in bank._requests:  # report the level the instant before the release
            release = request.request.release
            def recording_release(release=release):
                print("level at release:", level.read_text().strip(), flush=True)
                release()
            request.request.release = recording_release
        bank.set("contactor", True)
        print("closed", flush=True)
        sys.stdin.readline()
        raise RuntimeError("the station loop crashed")

    asyncio.run(main())
    """
)


def test_close_runs_at_exit_when_the_process_dies_of_an_exception(sim: SimChip) -> None:
    # The contactor's sim pull is up: a release alone would leave the line high (closed), so a
    # low level at release shows close() ran from the atexit hook.
    sim.pull("CONTACTOR", "pull-up")
    level = f"/sys/devices/platform/{sim.dev_name}/{sim.chip_name}/sim_gpio1/value"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, sim.chip_name, level],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        line = child.stdout.readline()
        assert line == "closed\n", line + (child.stderr.read() if child.stderr else "")
        assert sim.level("CONTACTOR") == 1
        child.stdin.write("crash\n")
        child.stdin.flush()
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 1
    assert "RuntimeError: the station loop crashed" in err
    assert "level at release: 0" in out, out + err
    assert "ocppfast.hardware: GPIO: outputs driven inactive, lines released" in err
    assert not info(sim, "CONTACTOR").used
    assert sim.level("CONTACTOR") == 1  # released: gpio-sim puts it back to its pull


_KILLED = textwrap.dedent(
    """
    import asyncio, sys
    from ocppfast.hardware.gpio import GpioBank, LineConfig

    async def main():
        outputs = {
            "contactor": LineConfig(sys.argv[1], "CONTACTOR"),
            "led": LineConfig(sys.argv[1], "LED_FAULT", active_low=True),
        }
        bank = GpioBank({}, outputs, lambda n, a: None)
        await bank.open()
        bank.set("contactor", True)
        print("closed", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


def test_what_a_killed_process_leaves_on_its_outputs(sim: SimChip) -> None:
    # SIGKILL runs no code: the kernel releases the lines as the process's descriptors close,
    # and the level is then the GPIO driver's choice. gpio-sim's: the line's pull (pull-down by
    # default), whatever was driven. What real controllers do is in docs/hardware.md.
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED, sim.chip_name],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == "closed\n", line + (child.stderr.read() if child.stderr else "")
        assert (sim.level("CONTACTOR"), sim.level("LED_FAULT")) == (1, 1)
    finally:
        child.kill()
        child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert not info(sim, "CONTACTOR").used
    # The contactor falls open here only because the pull happens to be down; the active-low
    # LED, inactive (high) while held, is now low: electrically its *active* level.
    assert (sim.level("CONTACTOR"), sim.level("LED_FAULT")) == (0, 0)


def test_a_line_held_by_another_program(sim: SimChip) -> None:
    other = gpiod.request_lines(
        sim.path,
        config={"CONTACTOR": gpiod.LineSettings(direction=gpiod.line.Direction.OUTPUT)},
        consumer="other-program",
    )

    async def main() -> None:
        bank = GpioBank(
            {"plug": LineConfig(sim.chip_name, "PLUG")},
            {"contactor": LineConfig(sim.chip_name, "CONTACTOR")},
            Changes(),
        )
        with pytest.raises(GpioError) as error:
            await bank.open()
        assert str(error.value).startswith(
            f"contactor: {sim.chip_name} CONTACTOR is busy: held by consumer 'other-program'; "
            f"check: another program using it (gpioinfo {sim.chip_name} shows the holders)"
        )
        assert not bank.is_open and not info(sim, "PLUG").used

    try:
        run(main())
    finally:
        other.release()


def test_unknown_chip_line_and_offset(sim: SimChip) -> None:
    async def fails(config: LineConfig) -> str:
        bank = GpioBank({"plug": config}, {}, Changes())
        with pytest.raises(GpioError) as error:
            await bank.open()
        assert not bank.is_open
        return str(error.value)

    async def main() -> None:
        message = await fails(LineConfig("pinctrl-nowhere", "PLUG"))
        assert message.startswith(
            "plug: GPIO chip 'pinctrl-nowhere' not found (by name, path or label); "
            "the chips found: "
        )
        assert f"{sim.chip_name} [{sim.label}] (8 lines)" in message
        message = await fails(LineConfig("/dev/gpiochip99", "PLUG"))
        assert message.startswith("plug: GPIO chip '/dev/gpiochip99' not found; the chips found:")
        message = await fails(LineConfig(sim.chip_name, "GPIO17"))
        assert message == (
            f"plug: no line named 'GPIO17' on {sim.chip_name} [{sim.label}] (8 lines); check the "
            f"name with gpioinfo {sim.chip_name} (names are case-sensitive), or give the offset "
            "as a number"
        )
        message = await fails(LineConfig(sim.chip_name, 8))
        assert message == (
            f"plug: no line at offset 8 on {sim.chip_name} [{sim.label}] (8 lines): offsets run "
            f"from 0; check with gpioinfo {sim.chip_name}"
        )

    run(main())


def test_one_line_configured_twice(sim: SimChip) -> None:
    async def main() -> None:
        bank = GpioBank(
            {"plug": LineConfig(sim.chip_name, "PLUG")},
            {"led": LineConfig(sim.chip_name, 0)},
            Changes(),
        )
        with pytest.raises(GpioError, match=r"^led: .* is line 0 of .*, already used by plug"):
            await bank.open()

    run(main())


def test_misuse(sim: SimChip) -> None:
    async def main() -> None:
        bank = GpioBank(
            {"plug": LineConfig(sim.chip_name, "PLUG")},
            {"contactor": LineConfig(sim.chip_name, "CONTACTOR")},
            Changes(),
        )
        await bank.open()
        try:
            with pytest.raises(ValueError, match="plug is an input"):
                bank.set("plug", True)
            with pytest.raises(KeyError, match="no GPIO line named 'pwm'"):
                bank.value("pwm")
            with pytest.raises(GpioError, match="already open"):
                await bank.open()
        finally:
            bank.close()

    run(main())


def test_the_probe_shows_the_lines(sim: SimChip, tmp_path: Path) -> None:
    config = tmp_path / "hardware.toml"
    config.write_text(
        f'[gpio]\nchip = "{sim.label}"\n\n'
        '[emergency_stop]\nline = "ESTOP"\nactive_low = true\nbias = "pull-up"\n\n'
        "[connectors.1]\n"
        'plug = { line = "PLUG", bias = "pull-down", debounce = 0.01 }\n'
        'contactor = { line = "CONTACTOR", feedback = "FEEDBACK" }\n'
        "leds = { fault = 4 }\n"
    )

    async def main() -> tuple[int, list[str]]:
        # --seconds far beyond the test: SIGINT (Ctrl-C) ends it once the lines were seen.
        # `-m cli` from the repository: the VM runs the tree as it is, not installed (where it
        # is `ocppfast.cli`).
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli", "hardware", "probe", str(config),
            "--seconds", "600",
            cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        assert process.stdout is not None
        lines: list[str] = []

        async def wait_for(text: str) -> None:
            while not any(line.endswith(text) for line in lines):
                raw = await process.stdout.readline()  # type: ignore[union-attr]
                assert raw, f"the probe ended without {text!r}:\n" + "\n".join(lines)
                lines.append(raw.decode().rstrip("\n"))

        try:
            chip = sim.label
            await wait_for(f"emergency_stop: input {chip} ESTOP (active-low, pull-up): inactive")
            await wait_for(
                f"connectors.1.plug: input {chip} PLUG (pull-down, debounce 10 ms): inactive"
            )
            await wait_for(f"connectors.1.contactor.feedback: input {chip} FEEDBACK: inactive")
            await wait_for(
                f"connectors.1.contactor: output {chip} CONTACTOR: inactive (held inactive while "
                "probing)"
            )
            await wait_for(
                f"connectors.1.leds.fault: output {chip} offset 4: inactive (held inactive "
                "while probing)"
            )
            assert sim.level("CONTACTOR") == 0
            sim.pull("ESTOP", "pull-down")  # pressed
            await wait_for("emergency_stop: active")
            sim.pull("PLUG", "pull-up")
            await wait_for("connectors.1.plug: active")
            process.send_signal(signal.SIGINT)
            lines += (await process.stdout.read()).decode().splitlines()
            return await process.wait(), lines
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    code, lines = run(main(), timeout=120)
    assert code == 0, "\n".join(lines)
    chip = sim.label
    assert (
        f"  emergency_stop ({chip} ESTOP (active-low, pull-up)): ok, active, 1 change(s)" in lines
    )
    assert (
        f"  connectors.1.contactor.feedback ({chip} FEEDBACK): ok, inactive, 0 change(s)" in lines
    )
    assert f"  connectors.1.contactor ({chip} CONTACTOR): ok, output held inactive" in lines
    assert not info(sim, "CONTACTOR").used
