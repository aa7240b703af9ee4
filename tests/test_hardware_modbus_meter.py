"""The Modbus RTU energy meter over real serial lines: pty pairs (termios serial semantics), with
pymodbus's own RTU server simulating an Eastron SDM630 / SDM120 on the other end, a fake device
writing corrupt frames, a silent device, and one whose cable is pulled and plugged back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import tty
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymodbus import FramerType
from pymodbus.framer import FramerRTU
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from ocppfast.hardware.modbus_meter import (
    SDM120,
    SDM630,
    FaultKind,
    MeterFault,
    MeterFaultError,
    MeterReading,
    ModbusMeter,
    Register,
    generic_map,
)
from tests.aio import run, until


class Pty:
    """A pty pair in raw mode: `path` is the device node a backend opens like a serial port;
    `master` is the far end of the wire."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class Cable:
    """A null-modem cable between two ptys, relaying bytes both ways. The meter opens `link`
    (a symlink, as /dev/serial/by-id/ gives a real adapter); the simulated meter opens
    `device.path`. `unplug` closes the meter's pty (its reads fail, as when a USB adapter is
    pulled) and leaves `link` dangling; `plug` makes a new pty and points `link` at it."""

    def __init__(self, directory: Path) -> None:
        self.link = directory / "ttyMETER"
        self.device = Pty()
        self.host: Pty | None = None
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.device.master, self._to_host)
        self.plug()

    def plug(self) -> None:
        self.host = Pty()
        tmp = self.link.with_suffix(".new")
        tmp.symlink_to(self.host.path)
        tmp.replace(self.link)
        self.loop.add_reader(self.host.master, self._to_device)

    def unplug(self) -> None:
        assert self.host is not None
        self.loop.remove_reader(self.host.master)
        self.host.close()
        self.host = None

    def _to_device(self) -> None:
        assert self.host is not None
        with contextlib.suppress(OSError):
            os.write(self.device.master, os.read(self.host.master, 4096))

    def _to_host(self) -> None:
        with contextlib.suppress(OSError):
            data = os.read(self.device.master, 4096)
            if self.host is not None:
                os.write(self.host.master, data)

    def close(self) -> None:
        self.loop.remove_reader(self.device.master)
        if self.host is not None:
            self.unplug()
        self.device.close()


def float_registers(values: dict[int, float], size: int) -> list[int]:
    """A register image `size` long with float32 `values` at their addresses, high word
    first (the Eastron layout)."""
    words = [0] * size
    for address, value in values.items():
        high, low = struct.unpack(">HH", struct.pack(">f", value))
        words[address : address + 2] = [high, low]
    return words


@contextlib.asynccontextmanager
async def simulated_meter(
    path: str, unit_id: int, words: list[int]
) -> AsyncIterator[ModbusSerialServer]:
    """pymodbus's RTU server on `path`, answering as `unit_id` with registers 0.. = `words`
    (shared mode: input and holding registers are the same image)."""
    device = SimDevice(id=unit_id, simdata=[SimData(0, values=words, datatype=DataType.REGISTERS)])
    server = ModbusSerialServer([device], framer=FramerType.RTU, port=path, baudrate=9600)
    await server.serve_forever(background=True)
    try:
        yield server
    finally:
        await server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus leaves it untyped


# Values exactly representable as float32, so they read back exactly.
SDM630_VALUES = {
    0x0000: 230.5,
    0x0002: 231.25,
    0x0004: 229.75,
    0x0006: 15.5,
    0x0008: 16.0,
    0x000A: 14.25,
    0x000C: 3572.75,
    0x000E: 3700.0,
    0x0010: 3274.0,
    0x0034: 10546.75,
    0x0048: 1234.5,
}


def test_sdm630_reads_the_datastore_back(tmp_path: Path) -> None:
    async def main() -> None:
        cable = Cable(tmp_path)
        try:
            words = float_registers(SDM630_VALUES, 0x50)
            async with simulated_meter(cable.device.path, 1, words):
                meter = ModbusMeter(str(cable.link), SDM630, unit_id=1, timeout=2)
                await meter.open()
                try:
                    reading = await meter.read()
                finally:
                    await meter.close()
        finally:
            cable.close()
        assert reading.voltage_v == (230.5, 231.25, 229.75)
        assert reading.current_a == (15.5, 16.0, 14.25)
        assert reading.power_phase_w == (3572.75, 3700.0, 3274.0)
        assert reading.power_w == 10546.75
        assert reading.energy_wh == 1234.5 * 1000
        assert reading.time.tzinfo is not None

    run(main())


def test_sdm120_single_phase_with_its_own_unit_id(tmp_path: Path) -> None:
    async def main() -> None:
        cable = Cable(tmp_path)
        try:
            words = float_registers({0: 229.5, 6: 7.125, 12: 1635.5, 0x48: 87.25}, 0x50)
            async with simulated_meter(cable.device.path, 7, words):
                meter = ModbusMeter(str(cable.link), SDM120, unit_id=7, timeout=2)
                await meter.open()
                try:
                    reading = await meter.read()
                finally:
                    await meter.close()
        finally:
            cable.close()
        assert reading.voltage_v == (229.5,)
        assert reading.current_a == (7.125,)
        # No total-power register on the SDM120 map: the phase's power is the total.
        assert reading.power_w == 1635.5
        assert reading.energy_wh == 87250.0

    run(main())


def test_generic_map_from_config(tmp_path: Path) -> None:
    config = {
        "voltage_l1": ["holding", 100, "uint16", 0.25],
        "current_l1": [3, 101, "int16", 0.5],
        "power_total": ["input", 102, "int32", 1],
        "energy_import": ["input", 104, "uint32", 10],
    }
    registers = generic_map(config)

    async def main() -> MeterReading:
        cable = Cable(tmp_path)
        try:
            words = [0] * 110
            words[100] = 922  # 230.5 V at 0.25 V per count
            words[101] = 27  # 13.5 A at 0.5 A per count
            words[102:104] = [0xFFFF, 0xF000]  # -4096 W: exporting
            words[104:106] = [0x0001, 0xE240]  # 123456 * 10 Wh
            async with simulated_meter(cable.device.path, 3, words):
                meter = ModbusMeter(str(cable.link), registers, unit_id=3, timeout=2)
                await meter.open()
                try:
                    return await meter.read()
                finally:
                    await meter.close()
        finally:
            cable.close()

    reading = run(main())
    assert reading.voltage_v == (230.5,)
    assert reading.current_a == (13.5,)
    assert reading.power_w == -4096
    assert reading.energy_wh == 1234560


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ({"volts": ["input", 0, "float32", 1]}, "unknown"),
        ({"voltage_l1": ["coils", 0, "float32", 1]}, "function"),
        ({"voltage_l1": ["input", -1, "float32", 1]}, "address"),
        ({"voltage_l1": ["input", 0, "float64", 1]}, "type"),
        ({"voltage_l1": ["input", 0, "float32"]}, "expected"),
        ({"voltage_l1": "input 0"}, "expected"),
        ({"voltage_l1": ["input", "0", "float32", 1]}, "integer"),
        ({"voltage_l1": ["input", 0, "float32", "x"]}, "scale"),
        ({}, "empty"),
    ],
)
def test_generic_map_rejects_bad_config_with_a_readable_error(
    config: dict[str, object], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        generic_map(config)


def test_overlapping_registers_are_refused() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        ModbusMeter(
            "/dev/null",
            {"voltage_l1": Register(4, 0, "float32"), "current_l1": Register(4, 1, "float32")},
        )
    # Holding and input registers are separate address spaces: the same addresses in both
    # do not overlap.
    ModbusMeter(
        "/dev/null",
        {"voltage_l1": Register(3, 0, "float32"), "current_l1": Register(4, 1, "float32")},
    )


def test_exception_response_is_a_fault(tmp_path: Path) -> None:
    async def main() -> MeterFault:
        cable = Cable(tmp_path)
        try:
            # Registers 0..0x4F only: the SDM630's total energy (0x48) is there but a map
            # naming register 0x200 gets "illegal data address".
            words = float_registers(SDM630_VALUES, 0x50)
            async with simulated_meter(cable.device.path, 1, words):
                registers = {**SDM630, "power_total": Register(4, 0x200, "float32")}
                meter = ModbusMeter(str(cable.link), registers, timeout=2)
                await meter.open()
                try:
                    with pytest.raises(MeterFaultError) as caught:
                        await meter.read()
                finally:
                    await meter.close()
                # The line still works for the registers the meter has.
                meter = ModbusMeter(str(cable.link), SDM120, timeout=2)
                await meter.open()
                try:
                    assert (await meter.read()).voltage_v == (230.5,)
                finally:
                    await meter.close()
        finally:
            cable.close()
        return caught.value.fault

    fault = run(main())
    assert fault.kind is FaultKind.EXCEPTION
    assert "exception 2 (illegal data address)" in fault.message


def test_silent_device_reports_timeouts_and_keeps_polling(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> list[MeterFault]:
        wire = Pty()  # nothing answers on the far end
        faults: list[MeterFault] = []
        meter = ModbusMeter(
            wire.path,
            SDM120,
            timeout=0.2,
            on_fault=faults.append,
            reconnect_delay=0.05,
            reopen_after_timeouts=2,
        )
        task = asyncio.create_task(meter.poll(0.01))
        try:
            await until(lambda: len(faults) >= 4)
            assert not task.done()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            wire.close()
        assert not meter.connected
        return faults

    with caplog.at_level(logging.DEBUG, logger="ocppfast.hardware"):
        faults = run(main())
    assert {f.kind for f in faults} == {FaultKind.TIMEOUT}
    assert "no answer in 0.2 s" in faults[0].message
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    # One warning for the run of timeouts, not one per poll.
    assert len(warnings) == 1
    assert "no answer" in warnings[0].getMessage()


def test_crc_error_is_a_fault_then_readings_recover(tmp_path: Path) -> None:
    async def main() -> tuple[list[MeterFault], list[MeterReading]]:
        wire = Pty()
        loop = asyncio.get_running_loop()
        answers = 0
        received = b""

        def fake_device() -> None:
            # An SDM120 answering "read input registers 0+2" (8-byte request), whose first
            # answer has its CRC bytes garbled (line noise), the rest intact.
            nonlocal answers, received
            received += os.read(wire.master, 256)
            while len(received) >= 8:
                request, received = received[:8], received[8:]
                assert request[:6] == bytes.fromhex("010400000002")
                body = bytes([1, 4, 4]) + struct.pack(">f", 231.5)
                crc = FramerRTU.compute_CRC(body).to_bytes(2, "big")
                if answers == 0:
                    crc = bytes([crc[0] ^ 0xFF, crc[1]])
                answers += 1
                os.write(wire.master, body + crc)

        loop.add_reader(wire.master, fake_device)
        faults: list[MeterFault] = []
        readings: list[MeterReading] = []
        meter = ModbusMeter(
            wire.path,
            {"voltage_l1": Register(4, 0, "float32")},
            timeout=0.3,
            on_fault=faults.append,
            on_reading=readings.append,
        )
        task = asyncio.create_task(meter.poll(0.01))
        try:
            await until(lambda: len(readings) >= 2)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            loop.remove_reader(wire.master)
            wire.close()
        return faults, readings

    faults, readings = run(main())
    assert [f.kind for f in faults] == [FaultKind.CRC]
    assert "CRC error" in faults[0].message
    assert readings[0].voltage_v == (231.5,)


def test_device_that_disappears_is_reported_and_reopened(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> list[object]:
        cable = Cable(tmp_path)
        events: list[object] = []
        meter = ModbusMeter(
            str(cable.link),
            SDM630,
            timeout=0.5,
            on_fault=events.append,
            on_reading=events.append,
            reconnect_delay=0.05,
            reconnect_delay_max=0.2,
        )
        words = float_registers(SDM630_VALUES, 0x50)
        try:
            async with simulated_meter(cable.device.path, 1, words) as server:
                task = asyncio.create_task(meter.poll(0.02))
                try:
                    await until(lambda: any(isinstance(e, MeterReading) for e in events))
                    cable.unplug()
                    await until(
                        lambda: any(
                            isinstance(e, MeterFault) and e.kind is FaultKind.DISCONNECTED
                            for e in events
                        )
                    )
                    assert not meter.connected
                    # The meter's counter moved on while it was unplugged.
                    await server.context.async_setValues(
                        1, 16, 0x48, float_registers({0: 1240.0}, 2)
                    )
                    cable.plug()
                    await until(
                        lambda: (
                            isinstance(events[-1], MeterReading)
                            and events[-1].energy_wh == 1240000.0
                        )
                    )
                    assert not task.done()
                finally:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        finally:
            cable.close()
        return events

    with caplog.at_level(logging.INFO, logger="ocppfast.hardware"):
        events = run(main())
    kinds = [e.kind for e in events if isinstance(e, MeterFault)]
    assert kinds[0] is FaultKind.DISCONNECTED
    assert set(kinds) <= {FaultKind.DISCONNECTED, FaultKind.TIMEOUT}
    messages = [r.getMessage() for r in caplog.records]
    assert any("answering again after" in m for m in messages)
    assert any("cannot open" in m or "device unplugged" in m for m in messages)


def test_a_failing_callback_does_not_stop_polling(tmp_path: Path) -> None:
    async def main() -> int:
        cable = Cable(tmp_path)
        calls = 0

        def broken(reading: MeterReading) -> None:
            nonlocal calls
            calls += 1
            raise RuntimeError("bug in the station")

        try:
            words = float_registers(SDM630_VALUES, 0x50)
            async with simulated_meter(cable.device.path, 1, words):
                meter = ModbusMeter(str(cable.link), SDM630, timeout=2, on_reading=broken)
                task = asyncio.create_task(meter.poll(0.01))
                try:
                    await until(lambda: calls >= 3)
                finally:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        finally:
            cable.close()
        return calls

    assert run(main()) >= 3


def test_a_port_that_refuses_the_settings_is_a_fault_not_a_crash() -> None:
    async def main() -> MeterFault:
        wire = Pty()  # Linux ptys refuse parity (tcsetattr: EINVAL)
        try:
            meter = ModbusMeter(wire.path, SDM120, parity="E")
            with pytest.raises(MeterFaultError) as caught:
                await meter.open()
            assert not meter.connected
        finally:
            wire.close()
        return caught.value.fault

    fault = run(main())
    assert fault.kind is FaultKind.DISCONNECTED
    assert "cannot open" in fault.message
