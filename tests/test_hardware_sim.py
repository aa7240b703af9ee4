"""ocppfast.hardware.SimulatedHardware: what it records, and its install command.

The backend involves no core, so these tests do not take the `core` fixture."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from ocppfast.hardware import DisplayedMessage, FirmwareInstallError, Hardware, SimulatedHardware
from tests.aio import run


def test_it_implements_the_hardware_protocol() -> None:
    assert isinstance(SimulatedHardware(), Hardware)


def test_current_limits_recorded_and_logged_on_change(caplog: pytest.LogCaptureFixture) -> None:
    hardware = SimulatedHardware()
    with caplog.at_level(logging.INFO, "ocppfast.hardware"):
        hardware.set_current_limit(1, 16.0)
        hardware.set_current_limit(1, 16.0)
        hardware.set_current_limit(2, None)
    assert hardware.limits == {1: 16.0, 2: None}
    assert [r.getMessage() for r in caplog.records] == [
        "EVSE 1: current limit 16 A per phase",
        "EVSE 2: current limit none",
    ]


def test_install_records_the_image(tmp_path: Path) -> None:
    image = tmp_path / "fw-2.0.bin"
    image.write_bytes(b"\x7fELF firmware")
    hardware = SimulatedHardware()
    run(hardware.install_firmware(image))
    assert [(i.name, i.content) for i in hardware.installed] == [
        ("fw-2.0.bin", b"\x7fELF firmware")
    ]


def _script(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "install.sh"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_install_command_gets_the_image_path(tmp_path: Path) -> None:
    image = tmp_path / "fw.bin"
    image.write_bytes(b"new")
    seen = tmp_path / "seen"
    hardware = SimulatedHardware(install_command=[str(_script(tmp_path, f'cp "$1" {seen}\n'))])
    run(hardware.install_firmware(image))
    assert seen.read_bytes() == b"new"
    assert [i.name for i in hardware.installed] == ["fw.bin"]


def test_failing_install_command_raises_with_its_output(tmp_path: Path) -> None:
    image = tmp_path / "fw.bin"
    image.write_bytes(b"new")
    script = _script(tmp_path, "echo 'flash: bad magic'\nexit 3\n")
    hardware = SimulatedHardware(install_command=[str(script)])
    with pytest.raises(FirmwareInstallError, match=r"exited with status 3: flash: bad magic"):
        run(hardware.install_firmware(image))
    assert hardware.installed == []


def test_fail_install_switch(tmp_path: Path) -> None:
    image = tmp_path / "fw.bin"
    image.write_bytes(b"new")
    with pytest.raises(FirmwareInstallError):
        run(SimulatedHardware(fail_install=True).install_firmware(image))


def test_display_replaced_and_cleared(caplog: pytest.LogCaptureFixture) -> None:
    hardware = SimulatedHardware()
    message = DisplayedMessage(id=1, content="Welcome", priority="NormalCycle", evse_id=2)
    with caplog.at_level(logging.INFO, "ocppfast.hardware"):
        hardware.show_messages([message])
        hardware.show_messages([])
    assert hardware.displayed == []
    assert [r.getMessage() for r in caplog.records] == [
        "display (EVSE 2, NormalCycle): Welcome",
        "display cleared",
    ]
