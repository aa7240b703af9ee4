"""Both station classes on the hardware interface (ocppfast/hardware/base.py,
ocppfast/station/hardware_link.py), played by the scripted `SimulatedHardware`: a plug, a card
read, the meter's readings, faults of each part and the emergency stop come in as events, and
the contactor, the indicator and the current limit go out. Over loopback pairs with the test
Central Systems of tests/test_station_v16.py and tests/test_station_v2.py; the same flow on
real GPIO lines and serial devices runs in the VM (tests/gpio)."""

from __future__ import annotations

import logging
from datetime import timezone
from typing import Any

import pytest

from ocppfast import v16
from ocppfast._core import Backend
from ocppfast.hardware import MeterReading, SimulatedHardware
from ocppfast.station.config import StationConfig
from ocppfast.station.v2 import StationV2
from ocppfast.station.v16 import Station16
from tests import aio
from tests import test_station_v2 as t2
from tests import test_station_v16 as t16
from tests.test_station_v2 import v2  # noqa: F401  (the fixture: 2.0.1 and 2.1)

_Status = v16.ChargePointStatus
_Error = v16.ChargePointErrorCode


def reading(energy_wh: float, power_w: float = 7360.0) -> MeterReading:
    return MeterReading(
        energy_wh=energy_wh,
        power_w=power_w,
        current_a=(10.5, 10.6, 10.9),
        voltage_v=(231.5, 229.0, 230.2),
        time=t16.NOW.astimezone(timezone.utc),
        power_phase_w=(2430.0, 2420.0, 2510.0),
    )


def station16(**options: Any) -> tuple[Station16, SimulatedHardware]:
    options.setdefault("connectors", 2)
    hardware = SimulatedHardware()
    config = StationConfig("CP1", serial_number="SN-0042", **options)
    return Station16(config, clock=t16.Clock(), hardware=hardware), hardware


def statuses(csms: t16.Csms, connector: int) -> list[tuple[str, str]]:
    return [
        (r.status.value, r.error_code.value)
        for r in csms.of("StatusNotification")
        if r.connector_id == connector
    ]


async def status16(csms: t16.Csms, connector: int, status: _Status, error: _Error) -> Any:
    found = await csms.wait_for(
        "StatusNotification",
        lambda r: (r.connector_id, r.status, r.error_code) == (connector, status, error),
    )
    return found[0]


# -- 1.6 ---------------------------------------------------------------------------------------


def test_v16_card_then_plug_starts_unplug_stops(core: Backend) -> None:
    """C16 4.9 (Preparing when a user presents a tag, Charging, Finishing), 4.1, 4.8, 4.10:
    a card read before the EV comes is authorized and the connector waits Preparing; the plug
    starts the transaction, the contactor closes and the indicator shows charging; unplugging
    ends it (StopTransactionOnEVSideDisconnect: EVDisconnected) and the contactor opens."""

    async def main() -> None:
        station, hw = station16()
        link = t16.Link(core, station, t16.Csms())
        await link.booted()
        assert hw.indicators == {1: "available", 2: "available"}
        hw.read_token("04A2B3C4")
        await status16(link.csms, 1, _Status.Preparing, _Error.NoError)
        (authorize,) = await link.csms.wait_for("Authorize")
        assert authorize.id_tag == "04A2B3C4"
        assert link.csms.of("StartTransaction") == []
        hw.plug(1)
        (start,) = await link.csms.wait_for("StartTransaction")
        assert (start.connector_id, start.id_tag) == (1, "04A2B3C4")
        await status16(link.csms, 1, _Status.Charging, _Error.NoError)
        assert hw.contactors[1] is True and hw.indicators[1] == "charging"
        assert hw.contactors.get(2, False) is False
        hw.unplug(1)
        (stop,) = await link.csms.wait_for("StopTransaction")
        assert stop.reason == v16.Reason.EVDisconnected
        await status16(link.csms, 1, _Status.Available, _Error.NoError)
        assert hw.contactors[1] is False and hw.indicators[1] == "available"
        await link.close()

    aio.run(main())


def test_v16_plug_then_card_and_the_same_card_stops(core: Backend) -> None:
    """The card goes to the connector whose EV waits (connector 2 here, not the first free
    one); the same card, or another of its group (parentIdTag, from the Authorization Cache),
    stops it with reason Local (C16 4.10); another card starts on the free connector."""

    async def main() -> None:
        station, hw = station16()
        link = t16.Link(core, station, t16.Csms())
        await link.booted()
        hw.plug(2)
        await status16(link.csms, 2, _Status.Preparing, _Error.NoError)
        hw.read_token("CARD-A")
        (start,) = await link.csms.wait_for("StartTransaction")
        assert start.connector_id == 2
        await status16(link.csms, 2, _Status.Charging, _Error.NoError)
        hw.read_token("card-a")  # an IdToken is case-insensitive (C16 7.28)
        (stop,) = await link.csms.wait_for("StopTransaction")
        assert stop.reason == v16.Reason.Local
        await status16(link.csms, 2, _Status.Finishing, _Error.NoError)
        assert hw.contactors[2] is False
        await link.close()

    aio.run(main())


def test_v16_refused_card_leaves_the_connector_free(core: Backend) -> None:
    """A card the Central System refuses starts nothing: the connector goes back from
    Preparing to Available, with a log line saying why."""

    async def main() -> None:
        station, hw = station16(connectors=1)
        link = t16.Link(core, station, t16.Csms(authorize="Invalid"))
        await link.booted()
        hw.read_token("STOLEN")
        await status16(link.csms, 1, _Status.Preparing, _Error.NoError)
        await link.csms.wait_for(
            "StatusNotification",
            lambda r: r.status == _Status.Available,
            count=2,  # the one of the boot, then the one after Preparing
        )
        assert link.csms.of("StartTransaction") == []
        await link.close()

    aio.run(main())


def test_v16_card_again_or_no_ev_in_time_cancels_the_wait(core: Backend) -> None:
    """A card read before the EV: presented again, the connector stops waiting for the EV;
    no EV within ConnectionTimeOut (C16 9.1.6), the same. Preparing, then Available, and no
    StartTransaction."""

    async def main() -> None:
        station, hw = station16(connectors=1)
        link = t16.Link(core, station, t16.Csms())
        await link.booted()
        hw.read_token("CARD")
        await status16(link.csms, 1, _Status.Preparing, _Error.NoError)
        await link.csms.wait_for("Authorize")
        hw.read_token("CARD")
        await link.csms.wait_for(
            "StatusNotification", lambda r: r.status == _Status.Available, count=2
        )
        assert station.change_configuration("ConnectionTimeOut", "1") == "Accepted"
        hw.read_token("CARD")
        await link.csms.wait_for(
            "StatusNotification", lambda r: r.status == _Status.Preparing, count=2
        )
        await link.csms.wait_for(
            "StatusNotification", lambda r: r.status == _Status.Available, count=3
        )
        assert link.csms.of("StartTransaction") == []
        await link.close()

    aio.run(main())


def test_v16_meter_values_come_from_the_hardware_meter(core: Backend) -> None:
    """With a hardware meter, the transaction's meterStart/meterStop and the sampled values
    (energy, power, and current, voltage and power per phase, C16 9.1.17) are its readings,
    not the simulated EV's."""

    async def main() -> None:
        station, hw = station16(connectors=1, meter_interval=0)
        hw.meters[1] = reading(12_345.4)
        link = t16.Link(core, station, t16.Csms())
        await link.booted()
        station.change_configuration(
            "MeterValuesSampledData",
            "Energy.Active.Import.Register,Current.Import,Voltage,Power.Active.Import.L3",
        )
        hw.plug(1)
        hw.read_token("TAG")
        (start,) = await link.csms.wait_for("StartTransaction")
        assert start.meter_start == 12_345
        hw.meters[1] = reading(13_000.0, power_w=7_360.0)
        await station.sample_now(1)
        (values,) = await link.csms.wait_for("MeterValues")
        sampled = {
            (v.measurand.value, v.phase.value if v.phase else None): v.value
            for v in values.meter_value[0].sampled_value
        }
        assert sampled[("Energy.Active.Import.Register", None)] == "13000"
        assert sampled[("Current.Import", "L2")] == "10.6"
        assert sampled[("Voltage", "L1-N")] == "231.5"
        assert sampled[("Power.Active.Import", "L3")] == "2510"
        hw.meters[1] = reading(13_500.0, power_w=0.0)
        hw.unplug(1)
        (stop,) = await link.csms.wait_for("StopTransaction")
        assert stop.meter_stop == 13_500
        await link.close()

    aio.run(main())


def test_v16_contactor_fault_ends_the_transaction_and_faults_the_connector(
    core: Backend,
) -> None:
    """A contactor that fails (e.g. its feedback contact says it did not open): the
    transaction ends (reason Other), the connector is Faulted with errorCode PowerSwitchFailure
    and the problem as info (C16 4.9, 7.6), the contactor is commanded open and new starts are
    refused; once repaired the connector is usable again (NoError)."""

    async def main() -> None:
        station, hw = station16()
        link = t16.Link(core, station, t16.Csms())
        await link.booted()
        hw.plug(1)
        hw.read_token("TAG")
        await status16(link.csms, 1, _Status.Charging, _Error.NoError)
        hw.fault("contactor", "feedback says closed while commanded open", evse_id=1)
        (stop,) = await link.csms.wait_for("StopTransaction")
        assert stop.reason == v16.Reason.Other
        faulted = await status16(link.csms, 1, _Status.Faulted, _Error.PowerSwitchFailure)
        assert faulted.info == "feedback says closed while commanded open"[:50]
        assert hw.contactors[1] is False and hw.indicators[1] == "fault"
        assert statuses(link.csms, 2)[-1] == ("Available", "NoError")
        with pytest.raises(Exception, match="faulted"):
            await station.start_transaction(1, "TAG2")
        hw.repair("contactor", evse_id=1)
        await status16(link.csms, 1, _Status.Preparing, _Error.NoError)  # the EV is still in
        await link.close()

    aio.run(main())


def test_v16_meter_and_reader_faults_are_warnings(core: Backend) -> None:
    """C16 4.9: "When the 'status' field is not Faulted, the condition should be considered a
    warning since charging operations are still possible": a meter fault is reported on its
    connector (PowerMeterFailure) and the station's card reader on connector 0
    (ReaderFailure), with the status unchanged and the transaction going on."""

    async def main() -> None:
        station, hw = station16(connectors=1)
        link = t16.Link(core, station, t16.Csms())
        await link.booted()
        hw.plug(1)
        hw.read_token("TAG")
        await status16(link.csms, 1, _Status.Charging, _Error.NoError)
        hw.fault("meter", "no answer from unit 1 on /dev/ttyUSB0", evse_id=1)
        warning = await status16(link.csms, 1, _Status.Charging, _Error.PowerMeterFailure)
        assert "no answer" in warning.info
        hw.fault("token_reader", "/dev/ttyAMA0 unplugged")
        await status16(link.csms, 0, _Status.Available, _Error.ReaderFailure)
        hw.repair("meter", evse_id=1)
        await link.csms.wait_for(
            "StatusNotification",
            lambda r: r.connector_id == 1 and r.status == _Status.Charging,
            count=3,  # NoError, PowerMeterFailure, NoError again
        )
        assert statuses(link.csms, 1)[-1] == ("Charging", "NoError")
        assert station.transactions[1].transaction_id is not None
        assert hw.contactors[1] is True
        await link.close()

    aio.run(main())


def test_v16_emergency_stop(core: Backend) -> None:
    """The emergency stop ends every transaction (reason EmergencyStop, C16 7.36), opens every
    contactor and makes the charge point and its connectors Faulted until it is released."""

    async def main() -> None:
        station, hw = station16()
        link = t16.Link(core, station, t16.Csms())
        await link.booted()
        for connector in (1, 2):
            hw.plug(connector)
            hw.read_token(f"TAG{connector}", connector)
        await link.csms.wait_for("StartTransaction", count=2)
        hw.press_emergency_stop()
        stops = await link.csms.wait_for("StopTransaction", count=2)
        assert {s.reason for s in stops} == {v16.Reason.EmergencyStop}
        for connector in (0, 1, 2):
            await status16(link.csms, connector, _Status.Faulted, _Error.OtherError)
        assert hw.contactors == {1: False, 2: False}
        hw.release_emergency_stop()
        await status16(link.csms, 0, _Status.Available, _Error.NoError)
        await status16(link.csms, 1, _Status.Finishing, _Error.NoError)
        await link.close()

    aio.run(main())


def test_broken_hardware_output_is_logged_not_fatal(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """A backend whose contactor output raises never crashes the station: the error is
    logged and the transaction runs."""

    class Broken(SimulatedHardware):
        def set_contactor(self, evse_id: int, closed: bool) -> None:
            raise OSError("relay board not answering")

    async def main() -> None:
        hw = Broken()
        station = Station16(StationConfig("CP1", connectors=1), clock=t16.Clock(), hardware=hw)
        link = t16.Link(core, station, t16.Csms())
        await link.booted()
        hw.plug(1)
        hw.read_token("TAG")
        await status16(link.csms, 1, _Status.Charging, _Error.NoError)
        await link.close()

    with caplog.at_level(logging.ERROR):
        aio.run(main())
    assert "relay board not answering" in caplog.text


# -- 2.0.1 and 2.1 -----------------------------------------------------------------------------


def station2(version: str, **config: Any) -> tuple[StationV2, SimulatedHardware]:
    options: dict[str, Any] = {"connectors": 2, "serial_number": "SN-0001"}
    options.update(config)
    hardware = SimulatedHardware()
    station = StationV2(
        StationConfig("CP1", **options), version, clock=t2.Clock(), hardware=hardware
    )
    t2.STATIONS.append(station)
    return station, hardware


def events(csms: t2.Csms, kind: str) -> list[str]:
    return [r.event_type for r in csms.of("TransactionEvent") if r.event_type == kind]


def test_v2_card_plug_card(core: Backend, v2: str) -> None:  # noqa: F811
    """E03 (authorization first) then the plug: the transaction starts, the contactor closes
    when the energy flows (chargingState Charging) and the indicator shows it; the same card
    stops it (E07, stoppedReason Local) and the contactor opens."""

    async def main() -> None:
        station, hw = station2(v2)
        csms = t2.Csms()
        async with t2.connect(core, station, csms, v2):
            await t2.ready(station, csms)
            assert hw.indicators == {1: "available", 2: "available"}
            hw.read_token("04A2B3C4")
            await csms.wait("Authorize")
            await aio.until(lambda: station.connector_status(1) == "Occupied")
            assert hw.contactors.get(1, False) is False
            hw.plug(1)
            await csms.wait(
                "TransactionEvent",
                where=lambda r: r.transaction_info.charging_state == "Charging",
            )
            assert hw.contactors[1] is True and hw.indicators[1] == "charging"
            hw.read_token("04A2B3C4")
            (ended,) = await csms.wait("TransactionEvent", where=lambda r: r.event_type == "Ended")
            assert ended.transaction_info.stopped_reason == "Local"
            assert hw.contactors[1] is False

    t2.run(main())


def test_v2_card_again_cancels_the_wait(core: Backend, v2: str) -> None:  # noqa: F811
    """A card read before the EV (E03: the EVSE waits for it, Occupied), presented again: the
    EVSE stops waiting and is Available; a card on the EVSE's own reader goes to that EVSE."""

    async def main() -> None:
        station, hw = station2(v2)
        csms = t2.Csms()
        async with t2.connect(core, station, csms, v2):
            await t2.ready(station, csms)
            hw.read_token("CARD")
            await aio.until(lambda: station.connector_status(1) == "Occupied")
            hw.read_token("CARD")
            await aio.until(lambda: station.connector_status(1) == "Available")
            hw.read_token("OTHER", 2)
            await aio.until(lambda: station.connector_status(2) == "Occupied")
            assert station.connector_status(1) == "Available"

    t2.run(main())


def test_v2_faults_notify_events_and_fault_the_evse(core: Backend, v2: str) -> None:  # noqa: F811
    """Part 2 appendix 3.2: a meter fault is a NotifyEvent of FiscalMetering.Problem (the
    transaction goes on); a contactor fault of PowerContactor.Problem, the transaction ends
    (AbnormalCondition, stoppedReason Other) and the EVSE is Faulted until repaired."""

    async def main() -> None:
        station, hw = station2(v2)
        csms = t2.Csms()
        async with t2.connect(core, station, csms, v2):
            await t2.ready(station, csms)
            hw.plug(1)
            hw.read_token("TAG")
            await csms.wait(
                "TransactionEvent", where=lambda r: r.transaction_info.charging_state == "Charging"
            )
            hw.fault("meter", "CRC errors from unit 1", evse_id=1)
            (meter,) = await csms.wait("NotifyEvent")
            data = meter.event_data[0]
            assert (data.component.name, data.component.evse.id) == ("FiscalMetering", 1)
            assert (data.variable.name, data.actual_value) == ("Problem", "true")
            assert data.trigger == "Delta"
            assert events(csms, "Ended") == []
            hw.fault("contactor", "did not close", evse_id=1)
            (ended,) = await csms.wait("TransactionEvent", where=lambda r: r.event_type == "Ended")
            assert ended.trigger_reason == "AbnormalCondition"
            assert ended.transaction_info.stopped_reason == "Other"
            await csms.wait(
                "StatusNotification",
                where=lambda r: (r.evse_id, r.connector_status) == (1, "Faulted"),
            )
            assert hw.contactors[1] is False and hw.indicators[1] == "fault"
            hw.repair("contactor", evse_id=1)
            await csms.wait(
                "StatusNotification",
                where=lambda r: (r.evse_id, r.connector_status) == (1, "Occupied"),
                count=2,
            )
            cleared = await csms.wait("NotifyEvent", count=3)
            assert cleared[2].event_data[0].actual_value == "false"

    t2.run(main())


def test_v2_emergency_stop(core: Backend, v2: str) -> None:  # noqa: F811
    """EmergencyStopSensor.Active true (NotifyEvent); every transaction ends with stoppedReason
    EmergencyStop; every EVSE is Faulted until the stop is released."""

    async def main() -> None:
        station, hw = station2(v2)
        csms = t2.Csms()
        async with t2.connect(core, station, csms, v2):
            await t2.ready(station, csms)
            hw.plug(2)
            hw.read_token("TAG")
            await csms.wait("TransactionEvent", where=lambda r: r.event_type == "Started")
            hw.press_emergency_stop()
            (ended,) = await csms.wait("TransactionEvent", where=lambda r: r.event_type == "Ended")
            assert ended.transaction_info.stopped_reason == "EmergencyStop"
            (event,) = await csms.wait("NotifyEvent")
            assert event.event_data[0].component.name == "EmergencyStopSensor"
            assert event.event_data[0].variable.name == "Active"
            for evse in (1, 2):
                await csms.wait(
                    "StatusNotification",
                    where=lambda r, evse=evse: (r.evse_id, r.connector_status) == (evse, "Faulted"),
                )
            hw.release_emergency_stop()
            await csms.wait(
                "StatusNotification",
                where=lambda r: (r.evse_id, r.connector_status) == (1, "Available"),
                count=2,
            )

    t2.run(main())


def test_v2_meter_values_come_from_the_hardware_meter(core: Backend, v2: str) -> None:  # noqa: F811
    """With a hardware meter the transaction's meter values are its readings."""

    async def main() -> None:
        station, hw = station2(v2, connectors=1)
        hw.meters[1] = reading(50_000.0)
        csms = t2.Csms()
        async with t2.connect(core, station, csms, v2):
            await t2.ready(station, csms)
            hw.plug(1)
            hw.read_token("TAG")
            (started,) = await csms.wait(
                "TransactionEvent", where=lambda r: r.event_type == "Started"
            )
            values = {v.measurand: v.value for v in started.meter_value[0].sampled_value}
            assert values["Energy.Active.Import.Register"] == 50_000.0

    t2.run(main())
