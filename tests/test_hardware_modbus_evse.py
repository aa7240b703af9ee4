"""The current limit over Modbus RTU, on real serial lines: pty pairs with pymodbus's own RTU
server holding an EVSE-WB board's registers on the other end (or a generic board's), a board
that goes silent and comes back, a cable pulled and plugged back, a fake board answering with
corrupt frames, and the configuration's errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymodbus import FramerType
from pymodbus.framer import FramerRTU
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from ocppfast.hardware.config import HardwareConfigError
from ocppfast.hardware.modbus_evse import (
    CurrentLimitConfig,
    ModbusCurrentLimit,
    VehicleState,
    parse_current_limit,
)
from ocppfast.hardware.modbus_meter import FaultKind, MeterFault, MeterFaultError
from tests.aio import run, until
from tests.test_hardware_modbus_meter import Cable, Pty

# An EVSE-WB's registers 1000..1007 after boot: 32 A configured (its default current), 0 A
# offered, vehicle state 1 (ready, no EV), 32 A cable, firmware 18.
BOOT = [32, 0, 1, 32, 0, 18, 1, 0]


@contextlib.asynccontextmanager
async def simulated_board(
    path: str,
    *,
    unit_id: int = 1,
    start: int = 1000,
    words: list[int] | None = None,
    writes: list[int] | None = None,
) -> AsyncIterator[ModbusSerialServer]:
    """pymodbus's RTU server on `path`, answering as `unit_id` with holding registers
    `start`.. = `words`; each value written with function 16 is appended to `writes`."""

    async def action(
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> None:
        if writes is not None and function_code == 16 and values:
            writes.append(int(values[0]))

    device = SimDevice(
        id=unit_id,
        simdata=[SimData(start, values=list(words or BOOT), datatype=DataType.REGISTERS)],
        action=action,
    )
    server = ModbusSerialServer([device], framer=FramerType.RTU, port=path, baudrate=9600)
    await server.serve_forever(background=True)
    try:
        yield server
    finally:
        await server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus leaves it untyped


async def held(server: ModbusSerialServer, address: int = 1000, unit_id: int = 1) -> int:
    """The value of holding register `address` in the server's datastore."""
    values = await server.context.async_getValues(unit_id, 3, address, 1)
    assert isinstance(values, list), values
    return int(values[0])


def evse_wb(port: str, timeout: float = 2.0) -> CurrentLimitConfig:
    return CurrentLimitConfig(port=port, model="EVSE-WB", max_amps=20, timeout=timeout)


def test_apply_writes_the_register_and_reads_it_back(tmp_path: Path) -> None:
    async def main() -> list[int]:
        cable = Cable(tmp_path)
        writes: list[int] = []
        try:
            async with simulated_board(cable.device.path, writes=writes) as server:
                limit = ModbusCurrentLimit(evse_wb(str(cable.link)))
                try:
                    assert await limit.apply(16) == 16.0
                    assert await held(server) == 16
                    assert limit.last_applied == 16.0
                    assert not limit.pending
                    # Rounded down: the EV must never be offered more than the limit.
                    assert await limit.apply(10.9) == 10.0
                    assert await held(server) == 10
                finally:
                    await limit.close()
        finally:
            cable.close()
        return writes

    assert run(main()) == [16, 10]


def test_none_is_the_rating_and_under_6_amps_is_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> list[tuple[float | None, float, int]]:
        cable = Cable(tmp_path)
        results = []
        try:
            async with simulated_board(cable.device.path) as server:
                limit = ModbusCurrentLimit(evse_wb(str(cable.link)))
                try:
                    for amps in (None, 5.9, 12, 0, 99, -3, math.nan, 6):
                        applied = await limit.apply(amps)
                        results.append((amps, applied, await held(server)))
                finally:
                    await limit.close()
        finally:
            cable.close()
        return results

    with caplog.at_level(logging.INFO, logger="ocppfast.hardware"):
        results = run(main())
    assert [(applied, raw) for _, applied, raw in results] == [
        (20.0, 20),  # None: the charger's rating (max_amps)
        (0.0, 0),  # under 6 A an AC EV cannot be offered anything: off
        (12.0, 12),
        (0.0, 0),
        (20.0, 20),  # never more than the rating
        (0.0, 0),
        (0.0, 0),  # not a number: off, never the rating
        (6.0, 6),
    ]
    messages = [r.getMessage() for r in caplog.records]
    assert any("5.9 A is below the 6 A" in m and "charging paused" in m for m in messages)
    assert any(
        "not a number" in m and r.levelno == logging.ERROR
        for m, r in zip(messages, caplog.records, strict=True)
    )


def test_generic_board_with_its_own_register_scale_and_off_value(tmp_path: Path) -> None:
    config = parse_current_limit(
        "connectors.2.current_limit",
        {
            "port": "/dev/null",
            "model": "generic",
            "unit_id": 5,
            "register": 300,
            "scale": 10,
            "off_value": 1,
            "max_amps": 32,
        },
    )

    async def main() -> list[int]:
        cable = Cable(tmp_path)
        seen = []
        try:
            async with simulated_board(
                cable.device.path, unit_id=5, start=300, words=[0, 0]
            ) as server:
                limit = ModbusCurrentLimit(
                    CurrentLimitConfig(**{**config.__dict__, "port": str(cable.link)})
                )
                try:
                    for amps in (7.25, 3, None):
                        await limit.apply(amps)
                        seen.append(await held(server, 300, unit_id=5))
                finally:
                    await limit.close()
        finally:
            cable.close()
        return seen

    # 0.1 A units, rounded down; the off value below 6 A; the rating for no limit.
    assert run(main()) == [72, 1, 320]


def test_a_burst_of_sets_is_written_once_with_the_last_value(tmp_path: Path) -> None:
    async def main() -> tuple[list[int], int]:
        cable = Cable(tmp_path)
        writes: list[int] = []
        try:
            async with simulated_board(cable.device.path, writes=writes) as server:
                limit = ModbusCurrentLimit(evse_wb(str(cable.link)))
                limit.set(8)  # before open: applied once the writer runs
                await limit.open()
                try:
                    await until(lambda: limit.last_applied == 8 and not limit.pending)
                    del writes[:]
                    for amps in range(6, 16):  # the station calls this synchronously
                        limit.set(amps)
                    await until(lambda: limit.last_applied == 15 and not limit.pending)
                    return writes, await held(server)
                finally:
                    await limit.close()
        finally:
            cable.close()

    writes, value = run(main())
    assert writes == [15]
    assert value == 15


def test_silent_board_is_a_fault_and_gets_the_limit_once_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> tuple[list[MeterFault | None], int]:
        cable = Cable(tmp_path)
        faults: list[MeterFault | None] = []
        limit = ModbusCurrentLimit(
            evse_wb(str(cable.link), timeout=0.2),
            on_fault=faults.append,
            reconnect_delay=0.05,
            reconnect_delay_max=0.2,
        )
        try:
            async with simulated_board(cable.device.path):
                await limit.open()
                limit.set(16)
                await until(lambda: limit.last_applied == 16 and not limit.pending)
            # The board is off: a lower limit cannot be applied.
            limit.set(8)
            await until(lambda: any(f is not None for f in faults))
            assert limit.pending
            assert limit.last_applied == 16  # what the board may still offer
            # Back, with its boot default (32 A) instead of either limit.
            async with simulated_board(cable.device.path) as server:
                await until(lambda: faults[-1] is None)
                value = await held(server)
                assert limit.last_applied == 8 and not limit.pending
        finally:
            await limit.close()
            cable.close()
        return faults, value

    with caplog.at_level(logging.INFO, logger="ocppfast.hardware"):
        faults, value = run(main())
    assert value == 8
    kinds = {f.kind for f in faults if f is not None}
    assert FaultKind.TIMEOUT in kinds
    assert kinds <= {FaultKind.TIMEOUT, FaultKind.CRC, FaultKind.DISCONNECTED}
    errors = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and r.name == "ocppfast.hardware"
    ]
    assert errors and "current limit 8 A NOT applied" in errors[0]
    assert "last confirmed: 16 A" in errors[0]
    assert any("in force again after" in r.getMessage() for r in caplog.records)


def test_unplugged_port_is_reopened_and_the_limit_applied(tmp_path: Path) -> None:
    async def main() -> tuple[list[MeterFault | None], int]:
        cable = Cable(tmp_path)
        faults: list[MeterFault | None] = []
        limit = ModbusCurrentLimit(
            evse_wb(str(cable.link), timeout=0.5),
            on_fault=faults.append,
            reconnect_delay=0.05,
            reconnect_delay_max=0.2,
        )
        try:
            async with simulated_board(cable.device.path) as server:
                await limit.open()
                limit.set(16)
                await until(lambda: limit.last_applied == 16 and not limit.pending)
                cable.unplug()
                limit.set(10)
                await until(
                    lambda: any(f is not None and f.kind is FaultKind.DISCONNECTED for f in faults)
                )
                assert await held(server) == 16
                cable.plug()
                await until(lambda: limit.last_applied == 10 and not limit.pending)
                assert faults[-1] is None
                return faults, await held(server)
        finally:
            await limit.close()
            cable.close()

    faults, value = run(main())
    assert value == 10
    assert {f.kind for f in faults if f is not None} <= {
        FaultKind.DISCONNECTED,
        FaultKind.TIMEOUT,
    }


def test_a_board_that_lost_its_limit_gets_it_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> int:
        cable = Cable(tmp_path)
        limit = ModbusCurrentLimit(evse_wb(str(cable.link)), verify_interval=0.05)
        try:
            async with simulated_board(cable.device.path) as server:
                await limit.open()
                limit.set(12)
                await until(lambda: limit.last_applied == 12 and not limit.pending)
                # The board restarted and came up with its default current.
                await server.context.async_setValues(1, 16, 1000, [32])
                await until(
                    lambda: any("board restarted?" in r.getMessage() for r in caplog.records)
                )
                await until(lambda: not limit.pending)
                return await held(server)
        finally:
            await limit.close()
            cable.close()

    with caplog.at_level(logging.INFO, logger="ocppfast.hardware"):
        assert run(main()) == 12


def crc(body: bytes) -> bytes:
    # Modbus over Serial Line V1.02, 2.5.1.2: CRC low byte first (compute_CRC swaps it).
    return FramerRTU.compute_CRC(body).to_bytes(2, "big")


class FakeBoard:
    """A board on a pty answering "write register" (function 16) and "read register"
    (function 3) for one register, whose first `corrupt` answers have a garbled CRC."""

    def __init__(self, wire: Pty, corrupt: int) -> None:
        self.wire = wire
        self.corrupt = corrupt
        self.value = 0
        self.requests: list[int] = []
        self.buffer = b""
        asyncio.get_running_loop().add_reader(wire.master, self._receive)

    def _receive(self) -> None:
        self.buffer += os.read(self.wire.master, 256)
        while len(self.buffer) >= 8:
            function = self.buffer[1]
            size = 9 + self.buffer[6] if function == 16 else 8
            if len(self.buffer) < size:
                return
            request, self.buffer = self.buffer[:size], self.buffer[size:]
            self.requests.append(function)
            if function == 16:
                self.value = struct.unpack(">H", request[7:9])[0]
                body = request[:6]
            else:
                body = bytes([request[0], 3, 2]) + struct.pack(">H", self.value)
            check = crc(body)
            if self.corrupt > 0:
                self.corrupt -= 1
                check = bytes([check[0] ^ 0xFF, check[1]])
            os.write(self.wire.master, body + check)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.wire.master)


def test_a_corrupt_answer_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> tuple[float, list[int], list[MeterFault | None]]:
        wire = Pty()
        board = FakeBoard(wire, corrupt=1)
        faults: list[MeterFault | None] = []
        limit = ModbusCurrentLimit(evse_wb(wire.path, timeout=0.3), on_fault=faults.append)
        try:
            applied = await limit.apply(13)
        finally:
            await limit.close()
            board.close()
            wire.close()
        assert board.value == 13
        return applied, board.requests, faults

    with caplog.at_level(logging.DEBUG, logger="ocppfast.hardware"):
        applied, requests, faults = run(main())
    assert applied == 13.0
    # The write whose answer was garbled, the write again, the read-back.
    assert requests == [16, 16, 3]
    assert faults == []  # recovered within the retries: nothing for the station to show
    assert any("CRC error" in r.getMessage() for r in caplog.records)


def test_answers_that_stay_corrupt_are_a_crc_fault() -> None:
    async def main() -> tuple[MeterFault, list[MeterFault | None]]:
        wire = Pty()
        board = FakeBoard(wire, corrupt=100)
        faults: list[MeterFault | None] = []
        limit = ModbusCurrentLimit(
            evse_wb(wire.path, timeout=0.3), on_fault=faults.append, retries=1
        )
        try:
            with pytest.raises(MeterFaultError) as caught:
                await limit.apply(13)
            assert limit.pending and limit.last_applied is None
        finally:
            await limit.close()
            board.close()
            wire.close()
        return caught.value.fault, faults

    fault, faults = run(main())
    assert fault.kind is FaultKind.CRC
    assert "CRC error" in fault.message
    assert faults == [fault]


def test_exception_response_is_a_fault(tmp_path: Path) -> None:
    async def main() -> MeterFault:
        cable = Cable(tmp_path)
        try:
            async with simulated_board(cable.device.path):
                config = CurrentLimitConfig(
                    port=str(cable.link), model="generic", register=500, max_amps=16, timeout=2
                )
                limit = ModbusCurrentLimit(config)
                try:
                    with pytest.raises(MeterFaultError) as caught:
                        await limit.apply(10)
                finally:
                    await limit.close()
        finally:
            cable.close()
        return caught.value.fault

    fault = run(main())
    assert fault.kind is FaultKind.EXCEPTION
    assert "exception 2 (illegal data address)" in fault.message


def test_vehicle_state_of_an_evse_wb(tmp_path: Path) -> None:
    async def main() -> tuple[VehicleState, MeterFault]:
        cable = Cable(tmp_path)
        try:
            async with simulated_board(cable.device.path) as server:
                limit = ModbusCurrentLimit(evse_wb(str(cable.link)))
                try:
                    assert await limit.vehicle_state() is VehicleState.READY
                    await server.context.async_setValues(1, 16, 1002, [3])
                    state = await limit.vehicle_state()
                    await server.context.async_setValues(1, 16, 1002, [9])
                    with pytest.raises(MeterFaultError) as caught:
                        await limit.vehicle_state()
                finally:
                    await limit.close()
        finally:
            cable.close()
        return state, caught.value.fault

    state, fault = run(main())
    assert state is VehicleState.CHARGING and state.plugged is True
    assert VehicleState.READY.plugged is False and VehicleState.FAILURE.plugged is None
    assert fault.kind is FaultKind.INVALID_VALUE

    generic = ModbusCurrentLimit(
        CurrentLimitConfig(port="/dev/null", model="generic", register=1, max_amps=16)
    )
    with pytest.raises(ValueError, match="EVSE-WB"):
        run(generic.vehicle_state())


def test_a_missing_port_is_reported_and_retried(tmp_path: Path) -> None:
    async def main() -> list[MeterFault | None]:
        faults: list[MeterFault | None] = []
        limit = ModbusCurrentLimit(
            evse_wb(str(tmp_path / "ttyGONE")), on_fault=faults.append, reconnect_delay=0.02
        )
        await limit.open()
        try:
            await until(lambda: len(faults) >= 2)
        finally:
            await limit.close()
        return faults

    faults = run(main())
    assert all(f is not None and f.kind is FaultKind.DISCONNECTED for f in faults)
    assert faults[0] is not None and "cannot open" in faults[0].message


# -- configuration -----------------------------------------------------------------------------

KEY = "connectors.1.current_limit"


def test_config_for_an_evse_wb_and_its_defaults() -> None:
    config = parse_current_limit(KEY, {"port": "/dev/ttyUSB1", "max_amps": 16})
    assert config == CurrentLimitConfig(
        port="/dev/ttyUSB1", model="EVSE-WB", register=1000, scale=1, max_amps=16
    )
    assert (config.min_amps, config.off_value, config.unit_id, config.baudrate) == (6, 0, 1, 9600)
    assert isinstance(config.build(), ModbusCurrentLimit)


@pytest.mark.parametrize(
    ("table", "key", "complaint"),
    [
        ({"max_amps": 16}, "port", "missing"),
        ({"port": "/dev/x"}, "max_amps", "missing: the charger's rated current"),
        ({"port": "/dev/x", "max_amps": 16, "modle": "x"}, "modle", "unknown key"),
        ({"port": "/dev/x", "max_amps": 16, "model": "SDM630"}, "model", 'one of "EVSE-WB"'),
        (
            {"port": "/dev/x", "max_amps": 16, "register": 5},
            "register",
            'only for model = "generic"',
        ),
        ({"port": "/dev/x", "max_amps": 16, "scale": 10}, "scale", 'only for model = "generic"'),
        ({"port": "/dev/x", "max_amps": 16, "model": "generic"}, "register", "missing"),
        (
            {"port": "/dev/x", "max_amps": 16, "model": "generic", "register": 70000},
            "register",
            "expected 0..65535",
        ),
        (
            {"port": "/dev/x", "max_amps": 16, "model": "generic", "register": 1, "scale": 0},
            "scale",
            "positive",
        ),
        (
            {"port": "/dev/x", "max_amps": 16, "model": "generic", "register": 1, "scale": "10"},
            "scale",
            "register units per ampere",
        ),
        (
            {"port": "/dev/x", "max_amps": 80, "model": "generic", "register": 1, "scale": 1000},
            "scale",
            "16-bit",
        ),
        (
            {"port": "/dev/x", "max_amps": 16, "model": "generic", "register": 1, "off_value": 6},
            "off_value",
            "a current the board may offer",
        ),
        ({"port": "/dev/x", "max_amps": 16, "min_amps": 5}, "min_amps", "at least 6 A"),
        ({"port": "/dev/x", "max_amps": 90}, "max_amps", "6..80 A"),
        ({"port": "/dev/x", "max_amps": 10, "min_amps": 12}, "max_amps", "12..80 A"),
        ({"port": "/dev/x", "max_amps": True}, "max_amps", "number of amperes"),
        ({"port": "/dev/x", "max_amps": math.nan}, "max_amps", "6..80 A"),
        ({"port": "/dev/x", "max_amps": 16, "unit_id": 0}, "unit_id", "1..247"),
        ({"port": "/dev/x", "max_amps": 16, "baudrate": 96000}, "baudrate", "9600"),
        ({"port": "/dev/x", "max_amps": 16, "parity": "X"}, "parity", '"N"'),
        ({"port": "/dev/x", "max_amps": 16, "timeout": 0}, "timeout", "positive"),
        ({"port": "/dev/x", "max_amps": 16, "amps": 10}, "amps", "known keys here are: port"),
    ],
)
def test_config_errors_name_the_key(table: dict[str, object], key: str, complaint: str) -> None:
    with pytest.raises(HardwareConfigError) as caught:
        parse_current_limit(KEY, table)
    assert caught.value.key == f"{KEY}.{key}"
    assert complaint in str(caught.value)
    assert str(caught.value).startswith(f"{KEY}.{key}: ")


def test_config_that_is_not_a_table() -> None:
    with pytest.raises(HardwareConfigError, match="expected a table") as caught:
        parse_current_limit(KEY, "EVSE-WB")
    assert caught.value.key == KEY


def test_config_built_directly_is_checked_too() -> None:
    with pytest.raises(ValueError, match="min_amps"):
        CurrentLimitConfig(port="/dev/x", max_amps=4)
    with pytest.raises(ValueError, match="off_value"):
        CurrentLimitConfig(port="/dev/x", off_value=6)
    with pytest.raises(ValueError, match="model"):
        CurrentLimitConfig(port="/dev/x", model="SDM630")
