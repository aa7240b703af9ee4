"""Smart charging in both station classes: the 1.6 Smart Charging profile (C16 3.13, 5.5, 5.7,
5.11, 5.16, 9.4) and 2.x functional block K (K01, K05, K08, K09, K10), driven by the test
Central Systems of tests/test_station_v16.py and tests/test_station_v2.py over loopback pairs
with an injected clock. The P6 text we have lists no TC_K_*_CS case (its Smart Charging part is
"available in a later version"): the tests name the use cases and requirements instead."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from ocppfast import v16
from ocppfast._core import Backend
from ocppfast._core.message import UNSET
from ocppfast.asyncio import on
from ocppfast.hardware import SimulatedHardware
from ocppfast.station.config import StationConfig
from ocppfast.station.store import StationData
from ocppfast.station.v2 import StationV2
from ocppfast.station.v16 import Station16
from tests import aio
from tests import test_station_v2 as t2
from tests import test_station_v16 as t16
from tests.test_station_v2 import v2  # noqa: F401  (the fixture: 2.0.1 and 2.1)

NOW = t16.NOW


def profile16(
    profile_id: int,
    purpose: str,
    limit: float,
    *,
    stack: int = 0,
    kind: str = "Absolute",
    periods: list[tuple[int, float]] | None = None,
    transaction_id: int | None = None,
    unit: str = "A",
    duration: int | None = None,
) -> v16.ChargingProfile:
    return v16.ChargingProfile(
        charging_profile_id=profile_id,
        stack_level=stack,
        charging_profile_purpose=v16.ChargingProfilePurposeType(purpose),
        charging_profile_kind=v16.ChargingProfileKindType(kind),
        transaction_id=UNSET if transaction_id is None else transaction_id,
        charging_schedule=v16.ChargingSchedule(
            start_schedule=NOW if kind == "Absolute" else UNSET,
            duration=UNSET if duration is None else duration,
            charging_rate_unit=v16.ChargingRateUnitType(unit),
            charging_schedule_period=[
                v16.ChargingSchedulePeriod(start_period=start, limit=value)
                for start, value in (periods or [(0, limit)])
            ],
        ),
    )


async def set16(link: t16.Link, connector: int, profile: v16.ChargingProfile) -> str:
    response = await link.call(
        v16.SetChargingProfileRequest(connector_id=connector, cs_charging_profiles=profile)
    )
    return str(response.status.value)


def station16(clock: t16.Clock, data: StationData | None = None, **options: Any) -> Station16:
    options.setdefault("connectors", 2)
    config = StationConfig("CP1", serial_number="SN-0042", **options)
    return Station16(config, clock=clock, data=data, hardware=SimulatedHardware())


def hardware(station: Station16 | StationV2) -> SimulatedHardware:
    assert isinstance(station.hardware, SimulatedHardware)
    return station.hardware


# -- 1.6 ---------------------------------------------------------------------------------------


def test_v16_set_charging_profile_rules(core: Backend) -> None:
    """C16 5.16, 3.13.1: ChargePointMaxProfile only on connector 0; a TxProfile needs a
    transaction on its connector and its transactionId; TxDefaultProfile on 0 or a connector;
    C16 9.4 limits (ChargeProfileMaxStackLevel, ChargingScheduleMaxPeriods); C16E 3.45: the
    first period starts at 0. Reported keys: C16 3.13.5, SupportedFeatureProfiles."""

    async def main() -> None:
        link = t16.Link(core, station16(t16.Clock()), t16.Csms())
        await link.booted()
        keys = await link.call(v16.GetConfigurationRequest())
        values = {k.key: k.value for k in keys.configuration_key}
        assert "SmartCharging" in values["SupportedFeatureProfiles"].split(",")
        assert values["ChargeProfileMaxStackLevel"] == "8"
        assert values["ChargingScheduleAllowedChargingRateUnit"] == "Current,Power"
        assert values["ChargingScheduleMaxPeriods"] == "48"
        assert values["MaxChargingProfilesInstalled"] == "64"
        assert await set16(link, 1, profile16(1, "ChargePointMaxProfile", 16)) == "Rejected"
        assert await set16(link, 0, profile16(1, "ChargePointMaxProfile", 16)) == "Accepted"
        assert await set16(link, 1, profile16(2, "TxProfile", 10)) == "Rejected"
        assert await set16(link, 0, profile16(3, "TxDefaultProfile", 10)) == "Accepted"
        assert await set16(link, 2, profile16(4, "TxDefaultProfile", 12)) == "Accepted"
        assert await set16(link, 3, profile16(5, "TxDefaultProfile", 12)) == "Rejected"
        assert await set16(link, 0, profile16(6, "TxDefaultProfile", 8, stack=9)) == "Rejected"
        many = [(i * 60, 10.0) for i in range(49)]
        assert await set16(link, 0, profile16(7, "TxDefaultProfile", 8, periods=many)) == "Rejected"
        late = profile16(8, "TxDefaultProfile", 8, periods=[(10, 8)])
        assert await set16(link, 0, late) == "Rejected"
        await link.call(v16.RemoteStartTransactionRequest(id_tag="TAG1", connector_id=1))
        await link.csms.wait_for("StartTransaction")
        await asyncio.sleep(0)
        wrong = profile16(9, "TxProfile", 6, kind="Relative", transaction_id=999)
        assert await set16(link, 1, wrong) == "Rejected"
        right = profile16(9, "TxProfile", 6, kind="Relative", transaction_id=1001)
        assert await set16(link, 1, right) == "Accepted"
        assert hardware(link.station).limits[1] == 6
        await link.close()

    aio.run(main())


def test_v16_stacked_profiles_drive_the_ev_power_and_meter_values(core: Backend) -> None:
    """C16 3.13.2 (the highest stack level in force prevails, a lower one when its duration
    ends), 3.13.3 (at most the ChargePointMaxProfile), 4.9 (a limit of 0: SuspendedEVSE): the
    simulated EV draws min(its power, the limit x 230 V x 3 phases), the hardware gets the
    limit in amps, and MeterValues show the power and the energy it delivers."""

    async def main() -> None:
        clock = t16.Clock()
        station = station16(clock, meter_interval=0)
        link = t16.Link(core, station, t16.Csms())
        await link.booted()
        assert await set16(link, 0, profile16(1, "ChargePointMaxProfile", 32)) == "Accepted"
        assert await set16(link, 0, profile16(2, "TxDefaultProfile", 10)) == "Accepted"
        # Stack level 1 for the first 2 s: 6 A, then 0 A for 1 s (suspended), then it ends.
        on_top = profile16(
            3, "TxDefaultProfile", 6, stack=1, kind="Relative", periods=[(0, 6), (2, 0)],
            duration=3,
        )  # fmt: skip
        assert await set16(link, 0, on_top) == "Accepted"
        await station.start_transaction(1, "TAG1")
        assert hardware(station).limits[1] == 6
        clock.advance(seconds=2)  # 6 A x 230 V x 3 for 2 s
        await station.sample_now(1)
        (meter,) = await link.csms.wait_for("MeterValues")
        assert t16.value_of(meter.meter_value[0], "Power.Active.Import") == "4140"
        await aio.until(lambda: hardware(station).limits[1] == 0, timeout=10)
        await link.csms.wait_for("StatusNotification", lambda r: r.status == "SuspendedEVSE")
        clock.advance(seconds=1)
        await aio.until(lambda: hardware(station).limits[1] == 10, timeout=10)
        await link.csms.wait_for("StatusNotification", lambda r: r.status == "Charging", count=2)
        clock.advance(seconds=3600)  # 10 A x 230 V x 3 for an hour
        await station.sample_now(1)
        meters = await link.csms.wait_for("MeterValues", count=2)
        last = meters[1].meter_value[0]
        assert t16.value_of(last, "Power.Active.Import") == "6900"
        assert t16.value_of(last, "Energy.Active.Import.Register") == str(
            round(4140 * 2 / 3600 + 6900)
        )
        await link.close()

    aio.run(main())


def test_v16_station_maximum_is_shared_by_the_charging_connectors_c16_3_13_1(
    core: Backend,
) -> None:
    """C16 3.13.1: ChargePointMaxProfile limits the overall Charge Point: connectors charging
    together share it (one whose own limit is lower keeps that, and leaves the rest to the
    others); alone, a connector gets all of it. The meter values show each EV's power."""

    async def main() -> None:
        clock = t16.Clock()
        station = station16(clock, meter_interval=0)
        link = t16.Link(core, station, t16.Csms())
        await link.booted()
        assert await set16(link, 0, profile16(1, "ChargePointMaxProfile", 16)) == "Accepted"
        await station.start_transaction(1, "TAG1")
        assert hardware(station).limits[1] == 16
        await station.start_transaction(2, "TAG2")
        assert (hardware(station).limits[1], hardware(station).limits[2]) == (8, 8)
        await station.sample_now(2)
        (meter,) = await link.csms.wait_for("MeterValues")
        assert t16.value_of(meter.meter_value[0], "Power.Active.Import") == str(8 * 230 * 3)
        assert await set16(link, 1, profile16(2, "TxDefaultProfile", 5)) == "Accepted"
        assert (hardware(station).limits[1], hardware(station).limits[2]) == (5, 11)
        await station.stop_transaction(1)
        assert hardware(station).limits[2] == 16
        await link.close()

    aio.run(main())


def test_v16_composite_schedule_over_the_wire(core: Backend) -> None:
    """C16 5.7: the composite from the moment of the request for `duration`, in the unit
    asked; connector 0 the total of the Charge Point (the connectors' sum, at most its
    ChargePointMaxProfile); an unknown connector: Rejected."""

    async def main() -> None:
        link = t16.Link(core, station16(t16.Clock()), t16.Csms())
        await link.booted()
        assert await set16(link, 0, profile16(1, "ChargePointMaxProfile", 20)) == "Accepted"
        stepped = profile16(2, "TxDefaultProfile", 0, periods=[(0, 12), (600, 8)], stack=1)
        assert await set16(link, 1, stepped) == "Accepted"
        answer = await link.call(
            v16.GetCompositeScheduleRequest(
                connector_id=1, duration=1200, charging_rate_unit=v16.ChargingRateUnitType.A
            )
        )
        assert answer.status == "Accepted"
        assert (answer.connector_id, answer.schedule_start) == (1, NOW)
        schedule = answer.charging_schedule
        assert schedule.duration == 1200 and schedule.charging_rate_unit == "A"
        assert [(p.start_period, p.limit) for p in schedule.charging_schedule_period] == [
            (0, 12.0),
            (600, 8.0),
        ]
        total = await link.call(
            v16.GetCompositeScheduleRequest(
                connector_id=0, duration=1200, charging_rate_unit=v16.ChargingRateUnitType.W
            )
        )
        # Connector 1: 12 A x 690 V then 8 A x 690 V; connector 2: its rating (11 kW); the sum
        # (19.3 kW, then 16.5 kW) at most the station maximum (20 A x 690 V).
        periods = [
            (p.start_period, p.limit) for p in total.charging_schedule.charging_schedule_period
        ]
        assert periods == [(0, 13800.0)]
        unknown = await link.call(v16.GetCompositeScheduleRequest(connector_id=3, duration=60))
        assert unknown.status == "Rejected"
        await link.close()

    aio.run(main())


def test_v16_clear_charging_profile(core: Backend) -> None:
    """C16 5.5, C16E 3.25: by id, or every profile matching all the criteria given
    (connector, purpose, stack level); Unknown when none matches; the limit is lifted."""

    async def main() -> None:
        link = t16.Link(core, station16(t16.Clock()), t16.Csms())
        await link.booted()
        station = link.station
        await set16(link, 0, profile16(1, "ChargePointMaxProfile", 16))
        await set16(link, 1, profile16(2, "TxDefaultProfile", 10))
        await set16(link, 2, profile16(3, "TxDefaultProfile", 12, stack=2))
        assert hardware(station).limits == {1: 10, 2: 12}

        async def clear(**fields: Any) -> str:
            response = await link.call(v16.ClearChargingProfileRequest(**fields))
            return str(response.status.value)

        assert await clear(id=42) == "Unknown"
        assert await clear(connector_id=2, stack_level=1) == "Unknown"
        assert await clear(connector_id=2, stack_level=2) == "Accepted"
        assert hardware(station).limits[2] == 16
        assert await clear(id=2) == "Accepted"
        assert (
            await clear(
                charging_profile_purpose=v16.ChargingProfilePurposeType.ChargePointMaxProfile
            )
            == "Accepted"
        )
        assert hardware(station).limits == {1: None, 2: None}
        assert await clear() == "Unknown"
        await link.close()

    aio.run(main())


def test_v16_remote_start_tx_profile_removed_at_transaction_end(core: Backend) -> None:
    """C16 5.11 / 5.16.2: RemoteStartTransaction's TxProfile (no transactionId) applies to the
    transaction it starts; C16 3.13.1: it is deleted when the transaction stops. A profile with
    another purpose is Rejected."""

    async def main() -> None:
        link = t16.Link(core, station16(t16.Clock()), t16.Csms())
        await link.booted()
        station = link.station
        wrong = profile16(5, "TxDefaultProfile", 8, kind="Relative")
        answer = await link.call(
            v16.RemoteStartTransactionRequest(id_tag="TAG1", connector_id=1, charging_profile=wrong)
        )
        assert answer.status == "Rejected"
        tx_profile = profile16(5, "TxProfile", 8, kind="Relative")
        answer = await link.call(
            v16.RemoteStartTransactionRequest(
                id_tag="TAG1", connector_id=1, charging_profile=tx_profile
            )
        )
        assert answer.status == "Accepted"
        await link.csms.wait_for("StatusNotification", lambda r: r.status == "Charging")
        assert hardware(station).limits[1] == 8
        await link.call(v16.RemoteStopTransactionRequest(transaction_id=1001))
        await link.csms.wait_for("StopTransaction")
        assert hardware(station).limits[1] is None
        cleared = await link.call(v16.ClearChargingProfileRequest(id=5))
        assert cleared.status == "Unknown"
        await link.close()

    aio.run(main())


def test_v16_profiles_survive_a_restart(core: Backend, tmp_path: Any) -> None:
    """C16 3.13.6: the profiles received stay in force after a restart (StationStore file);
    the SetChargingProfile.conf left only once the profile was on disk."""
    from ocppfast.station.store import StationStore

    async def main() -> None:
        store = await StationStore.open(tmp_path / "station.sqlite3")
        data = await store.load("CP1")
        link = t16.Link(core, station16(t16.Clock(), data), t16.Csms())
        await link.booted()
        assert await set16(link, 0, profile16(1, "TxDefaultProfile", 13)) == "Accepted"
        await link.close()
        await data.flush()
        again = station16(t16.Clock(), await store.load("CP1"))
        assert hardware(again).limits[1] == 13  # in force before any connection
        link = t16.Link(core, again, t16.Csms())
        await link.booted()
        answer = await link.call(v16.GetCompositeScheduleRequest(connector_id=2, duration=60))
        assert answer.charging_schedule.charging_schedule_period[0].limit == 13
        await link.close()
        await store.close()

    aio.run(main())


# -- 2.x ---------------------------------------------------------------------------------------


class Csms2(t2.Csms):
    """tests/test_station_v2.py's CSMS, recording ReportChargingProfiles (K09) too."""

    @on("ReportChargingProfiles", versions=t2.V2)
    def report(self, request: Any) -> Any:
        self._got(request)
        return self.m.ReportChargingProfilesResponse()


def profile2(
    m: Any,
    profile_id: int,
    purpose: str,
    limit: float,
    *,
    stack: int = 0,
    kind: str = "Absolute",
    periods: list[tuple[int, float] | tuple[int, float, int]] | None = None,
    unit: str = "A",
    start: datetime | None = NOW,
    duration: int | None = None,
    **fields: Any,
) -> Any:
    """A 2.x ChargingProfileType with one schedule: `periods` as (startPeriod, limit) or
    (startPeriod, limit, numberPhases), one period of `limit` by default; `start`:
    startSchedule (None: absent, as for Relative); `fields`: the profile's other fields."""
    schedule = m.ChargingSchedule(
        id=1,
        start_schedule=UNSET if start is None or kind == "Relative" else start,
        duration=UNSET if duration is None else duration,
        charging_rate_unit=unit,
        charging_schedule_period=[
            m.ChargingSchedulePeriod(
                start_period=period[0],
                limit=period[1],
                number_phases=period[2] if len(period) > 2 else UNSET,
            )
            for period in (periods or [(0, limit)])
        ],
    )
    return m.ChargingProfile(
        id=profile_id,
        stack_level=stack,
        charging_profile_purpose=purpose,
        charging_profile_kind=kind,
        charging_schedule=[schedule],
        **fields,
    )


def test_v2_set_get_clear_and_composite(core: Backend, v2: str) -> None:  # noqa: F811
    """K01: ChargingStationMaxProfile only on EVSE 0, a TxProfile needs a running transaction
    (TxNotFound), same stackLevel and purpose with an overlapping validity: DuplicateProfile
    (A201 appendix 5); K09: GetChargingProfiles Accepted then ReportChargingProfiles, or
    NoProfiles; K08: GetCompositeSchedule; K10: ClearChargingProfile Accepted / Unknown;
    A201 3.1.16: SmartChargingCtrlr.Entries counts the profiles."""

    async def main() -> None:
        async with t2.booted(core, v2, Csms2()) as (station, csms, connection, m):

            async def set_profile(evse: int, profile: Any) -> Any:
                return await connection.call(
                    m.SetChargingProfileRequest(evse_id=evse, charging_profile=profile)
                )

            bad = await set_profile(1, profile2(m, 1, "ChargingStationMaxProfile", 16))
            assert t2.wire(bad.status) == "Rejected"
            assert (
                await set_profile(0, profile2(m, 1, "ChargingStationMaxProfile", 16))
            ).status == "Accepted"
            tx = await set_profile(1, profile2(m, 2, "TxProfile", 8, transaction_id="nope"))
            assert t2.wire(tx.status_info.reason_code) == "TxNotFound"
            assert (
                t2.wire((await set_profile(1, profile2(m, 3, "TxDefaultProfile", 10))).status)
                == "Accepted"
            )
            duplicate = await set_profile(1, profile2(m, 4, "TxDefaultProfile", 12))
            assert t2.wire(duplicate.status_info.reason_code) == "DuplicateProfile"
            assert hardware(station).limits == {1: 10, 2: 16}
            entries = await connection.call(
                m.GetVariablesRequest(
                    get_variable_data=[
                        t2.get(
                            m, "SmartChargingCtrlr", "Entries", variable_instance="ChargingProfiles"
                        )
                    ]
                )
            )
            assert entries.get_variable_result[0].attribute_value == "2"
            asked = await connection.call(
                m.GetChargingProfilesRequest(
                    request_id=7, charging_profile=m.ChargingProfileCriterion()
                )
            )
            assert t2.wire(asked.status) == "Accepted"
            # One report per EVSE, the last with tbc false (absent).
            first, last = await csms.wait("ReportChargingProfiles", 2)
            assert (first.request_id, first.evse_id, first.tbc) == (7, 0, True)
            assert [p.id for p in first.charging_profile] == [1]
            assert (last.evse_id, last.tbc, [p.id for p in last.charging_profile]) == (
                1,
                UNSET,
                [3],
            )
            composite = await connection.call(
                m.GetCompositeScheduleRequest(duration=600, evse_id=1, charging_rate_unit="A")
            )
            assert t2.wire(composite.status) == "Accepted"
            periods = composite.schedule.charging_schedule_period
            assert [(p.start_period, p.limit) for p in periods] == [(0, 10.0)]
            cleared = await connection.call(m.ClearChargingProfileRequest(charging_profile_id=3))
            assert t2.wire(cleared.status) == "Accepted"
            assert hardware(station).limits[1] == 16
            again = await connection.call(m.ClearChargingProfileRequest(charging_profile_id=3))
            assert t2.wire(again.status) == "Unknown"
            none = await connection.call(
                m.GetChargingProfilesRequest(
                    request_id=8, evse_id=1, charging_profile=m.ChargingProfileCriterion()
                )
            )
            assert t2.wire(none.status) == "NoProfiles"

    t2.run(main())


async def set2(connection: Any, evse: int, profile: Any) -> tuple[str, str]:
    """SetChargingProfile on `evse`: (status, reasonCode or "")."""
    m = t2.MODULES[connection.version]
    response = await connection.call(
        m.SetChargingProfileRequest(evse_id=evse, charging_profile=profile)
    )
    info = response.status_info
    return t2.wire(response.status), "" if info is UNSET else t2.wire(info.reason_code)


async def trigger_power(connection: Any, csms: Csms2, evse: int = 1) -> float:
    """The Power.Active.Import of a TransactionEvent Updated the CSMS triggers now (F06.FR.07:
    triggerReason Trigger, meter values with context Trigger)."""
    m = t2.MODULES[connection.version]

    def triggered(event: Any) -> bool:
        return bool(event.trigger_reason == "Trigger")

    before = len([e for e in csms.of("TransactionEvent") if triggered(e)])
    answer = await connection.call(
        m.TriggerMessageRequest(requested_message="TransactionEvent", evse=m.EVSE(id=evse))
    )
    assert t2.wire(answer.status) == "Accepted"
    events = await csms.wait("TransactionEvent", before + 1, triggered)
    return t2.measured(events[-1], "Power.Active.Import")


def test_v2_set_charging_profile_refusals_name_the_reason(core: Backend, v2: str) -> None:  # noqa: F811
    """K01 and the reason codes of A201 appendix 5: UnknownEvse; InvalidProfile (a
    ChargingStationMaxProfile off EVSE 0, a TxProfile on EVSE 0, ChargingStationExternalConstraints
    from the CSMS, more profiles than SmartChargingCtrlr.Entries' maxLimit); TxNotFound (a
    TxProfile without a transaction, or naming another one); InvalidStackLevel (above
    SmartChargingCtrlr.ProfileStackLevel); InvalidSchedule (more periods than PeriodsPerSchedule,
    a first period not at 0, periods out of order); DuplicateProfile (same stackLevel and purpose
    on the EVSE with an overlapping validity; without overlap, or with the same id, it is
    installed); UnsupportedRequest while SmartChargingCtrlr.Enabled is false; 2.1: the purposes
    and kinds this charger cannot execute (UnsupportedPurpose, UnsupportedKind). Nothing
    refused is installed."""

    async def main() -> None:
        async with t2.booted(core, v2, Csms2()) as (station, csms, connection, m):
            day = timedelta(days=1)

            async def refused(evse: int, profile: Any) -> str:
                status, reason = await set2(connection, evse, profile)
                assert status == "Rejected", (profile, reason)
                return reason

            assert await refused(3, profile2(m, 1, "TxDefaultProfile", 10)) == "UnknownEvse"
            assert await refused(1, profile2(m, 1, "ChargingStationMaxProfile", 10)) == (
                "InvalidProfile"
            )
            assert await refused(0, profile2(m, 1, "TxProfile", 10, transaction_id="t")) == (
                "InvalidProfile"
            )
            external = profile2(m, 1, "ChargingStationExternalConstraints", 10)
            assert await refused(0, external) == "InvalidProfile"
            assert await refused(1, profile2(m, 1, "TxProfile", 10, transaction_id="t")) == (
                "TxNotFound"
            )
            assert await refused(1, profile2(m, 1, "TxDefaultProfile", 10, stack=9)) == (
                "InvalidStackLevel"
            )
            many = [(i * 60, 10.0) for i in range(49)]
            assert await refused(1, profile2(m, 1, "TxDefaultProfile", 0, periods=many)) == (
                "InvalidSchedule"
            )
            late = profile2(m, 1, "TxDefaultProfile", 0, periods=[(10, 8)])
            assert await refused(1, late) == "InvalidSchedule"
            disorder = profile2(m, 1, "TxDefaultProfile", 0, periods=[(0, 8), (60, 6), (30, 4)])
            assert await refused(1, disorder) == "InvalidSchedule"
            assert len(station._profiles) == 0
            # Same stackLevel and purpose on EVSE 1: refused while the validity overlaps.
            today = profile2(m, 10, "TxDefaultProfile", 10, valid_to=NOW + day)
            assert await set2(connection, 1, today) == ("Accepted", "")
            overlapping = profile2(m, 11, "TxDefaultProfile", 12, valid_from=NOW + day / 2)
            assert await refused(1, overlapping) == "DuplicateProfile"
            tomorrow = profile2(m, 11, "TxDefaultProfile", 12, valid_from=NOW + day)
            assert await set2(connection, 1, tomorrow) == ("Accepted", "")
            # Another EVSE, or another stack level, is no duplicate; the same id replaces.
            assert await set2(connection, 2, profile2(m, 12, "TxDefaultProfile", 10)) == (
                "Accepted",
                "",
            )
            same = profile2(m, 10, "TxDefaultProfile", 7, valid_to=NOW + day)
            assert await set2(connection, 1, same) == ("Accepted", "")
            # ... but not when the new version overlaps another one.
            forever = profile2(m, 10, "TxDefaultProfile", 7)
            assert await refused(1, forever) == "DuplicateProfile"
            assert [(e.evse, e.profile.id) for e in station._profiles.entries] == [
                (1, 11),
                (2, 12),
                (1, 10),
            ]
            assert hardware(station).limits == {1: 7, 2: 10}
            # A transaction runs on EVSE 1: a TxProfile must name it.
            assert (await t2.remote_start(connection, "TAG-1", evse=1)).status == "Accepted"
            (started,) = await csms.wait("TransactionEvent")
            running = started.transaction_info.transaction_id
            other = profile2(m, 13, "TxProfile", 6, transaction_id="another")
            assert await refused(1, other) == "TxNotFound"
            assert await refused(1, profile2(m, 13, "TxProfile", 6)) == "TxNotFound"
            assert await refused(2, profile2(m, 13, "TxProfile", 6, transaction_id=running)) == (
                "TxNotFound"
            )
            mine = profile2(m, 13, "TxProfile", 6, transaction_id=running)
            assert await set2(connection, 1, mine) == ("Accepted", "")
            assert hardware(station).limits[1] == 6
            if v2 == "ocpp2.1":
                priority = profile2(m, 14, "PriorityCharging", 32)
                assert await refused(1, priority) == "UnsupportedPurpose"
                dynamic = profile2(m, 14, "TxDefaultProfile", 32, kind="Dynamic")
                assert await refused(1, dynamic) == "UnsupportedKind"
            # SmartChargingCtrlr.Entries maxLimit: no more than that many installed.
            for number in range(60):
                window = NOW + (number + 2) * day
                spare = profile2(m, 100 + number, "TxDefaultProfile", 10, stack=3,
                                 valid_from=window, valid_to=window + day)  # fmt: skip
                assert await set2(connection, 2, spare) == ("Accepted", "")
            assert len(station._profiles) == 64
            full = profile2(m, 200, "ChargingStationMaxProfile", 30)
            assert await refused(0, full) == "InvalidProfile"
            # Replacing one by its id needs no room.
            assert await set2(connection, 2, profile2(m, 12, "TxDefaultProfile", 9)) == (
                "Accepted",
                "",
            )
            disabled = await t2.set_variables(
                connection, t2.put(m, "SmartChargingCtrlr", "Enabled", "false")
            )
            assert disabled == ["Accepted"]
            assert await refused(2, profile2(m, 12, "TxDefaultProfile", 8)) == (
                "UnsupportedRequest"
            )
            assert hardware(station).limits == {1: 6, 2: 9}

    t2.run(main())


def test_v2_request_start_with_tx_profile_k05(core: Backend, v2: str) -> None:  # noqa: F811
    """K05 (RequestStartTransaction with a chargingProfile): a TxProfile (Relative, no
    transactionId) is used for the transaction it starts from its first moment: the hardware
    gets its limit and the EV draws at most that (8 A x 230 V x 3); GetChargingProfiles (K09)
    reports it on the EVSE; K01: it goes when the transaction ends. Another purpose is
    Rejected with InvalidProfile, a transactionId of no running transaction with TxNotFound;
    nothing starts then. An authorization that expires without an EV (E03,
    EVConnectionTimeOut) takes its TxProfile with it: it never applies to a later
    transaction."""

    async def main() -> None:
        async with t2.booted(core, v2, Csms2()) as (station, csms, connection, m):

            async def start(profile: Any, remote_id: int) -> Any:
                return await connection.call(
                    m.RequestStartTransactionRequest(
                        id_token=m.IdToken(id_token="TAG-1", type="ISO14443"),
                        remote_start_id=remote_id,
                        evse_id=1,
                        charging_profile=profile,
                    )
                )

            wrong = await start(profile2(m, 5, "TxDefaultProfile", 8, kind="Relative"), 1)
            assert t2.wire(wrong.status) == "Rejected"
            assert t2.wire(wrong.status_info.reason_code) == "InvalidProfile"
            named = await start(profile2(m, 5, "TxProfile", 8, kind="Relative",
                                         transaction_id="nope"), 2)  # fmt: skip
            assert t2.wire(named.status_info.reason_code) == "TxNotFound"
            assert station.transactions == {} and len(station._profiles) == 0

            tx_profile = profile2(m, 5, "TxProfile", 8, kind="Relative")
            assert t2.wire((await start(tx_profile, 3)).status) == "Accepted"
            (started,) = await csms.wait("TransactionEvent")
            assert started.transaction_info.remote_start_id == 3
            await csms.wait(
                "TransactionEvent", where=lambda e: e.transaction_info.charging_state == "Charging"
            )
            assert hardware(station).limits[1] == 8
            assert await trigger_power(connection, csms) == 8 * 230 * 3
            asked = await connection.call(
                m.GetChargingProfilesRequest(
                    request_id=1,
                    evse_id=1,
                    charging_profile=m.ChargingProfileCriterion(
                        charging_profile_purpose="TxProfile"
                    ),
                )
            )
            assert t2.wire(asked.status) == "Accepted"
            (report,) = await csms.wait("ReportChargingProfiles")
            assert [
                (p.id, t2.wire(p.charging_profile_purpose)) for p in report.charging_profile
            ] == [(5, "TxProfile")]
            transaction_id = started.transaction_info.transaction_id
            stop = await connection.call(
                m.RequestStopTransactionRequest(transaction_id=transaction_id)
            )
            assert t2.wire(stop.status) == "Accepted"
            await csms.wait("TransactionEvent", where=t2.is_ended)
            assert hardware(station).limits[1] is None
            assert len(station._profiles) == 0
            cleared = await connection.call(m.ClearChargingProfileRequest(charging_profile_id=5))
            assert t2.wire(cleared.status) == "Unknown"

            # No EV comes: the authorization expires after EVConnectionTimeOut, and the
            # TxProfile of the transaction that never started goes with it.
            await station.unplug(1)
            station.auto_plug = False
            timeout = t2.put(m, "TxCtrlr", "EVConnectionTimeOut", "1")
            assert await t2.set_variables(connection, timeout) == ["Accepted"]
            later = profile2(m, 6, "TxProfile", 6, kind="Relative")
            assert t2.wire((await start(later, 4)).status) == "Accepted"
            await aio.until(lambda: hardware(station).limits[1] == 6)
            await aio.until(lambda: hardware(station).limits[1] is None, timeout=10)
            assert len(station._profiles) == 0 and station.transactions == {}

    t2.run(main())


def test_v2_stacked_profiles_drive_the_ev_power_over_time(core: Backend, v2: str) -> None:  # noqa: F811
    """K01 / K08 composite (C16 3.13.3 alike): a ChargingStationMaxProfile (12 A) on EVSE 0 and
    a TxDefaultProfile with four periods (10, 6, 0, 20 A, one second each) on EVSE 0; the
    clock moves across each period boundary and the limit follows: the hardware gets
    min(TxDefault, station maximum) in amps (SimulatedHardware.limits), the EV draws that x
    230 V x 3 phases (Power.Active.Import of a triggered TransactionEvent Updated), the change
    of the power is reported with triggerReason ChargingRateChanged (more than
    SmartChargingCtrlr.LimitChangeSignificance), a limit of 0 with ChargingStateChanged
    chargingState SuspendedEVSE and the way back with ChargingStateChanged Charging; the energy
    register integrates it."""

    async def main() -> None:
        async with t2.booted(core, v2, Csms2()) as (station, csms, connection, m):
            clock = t2.clock_of(station)
            maximum = profile2(m, 1, "ChargingStationMaxProfile", 12)
            assert await set2(connection, 0, maximum) == ("Accepted", "")
            steps = profile2(m, 2, "TxDefaultProfile", 0,
                             periods=[(0, 10), (1, 6), (2, 0), (3, 20)])  # fmt: skip
            assert await set2(connection, 0, steps) == ("Accepted", "")
            assert hardware(station).limits == {1: 10, 2: 10}
            assert (await t2.remote_start(connection, "TAG-1", evse=1)).status == "Accepted"

            def state_events(state: str, trigger: str = "ChargingStateChanged") -> Any:
                return lambda e: (
                    (e.trigger_reason, e.transaction_info.charging_state)
                    == (
                        trigger,
                        state,
                    )
                )

            await csms.wait("TransactionEvent", where=state_events("Charging"))
            assert await trigger_power(connection, csms) == 10 * 690
            clock.advance(1)
            await aio.until(lambda: hardware(station).limits[1] == 6)
            (rate,) = await csms.wait(
                "TransactionEvent", where=state_events("Charging", "ChargingRateChanged")
            )
            assert rate.event_type == "Updated"
            assert await trigger_power(connection, csms) == 6 * 690
            clock.advance(1)
            await aio.until(lambda: hardware(station).limits[1] == 0)
            await csms.wait("TransactionEvent", where=state_events("SuspendedEVSE"))
            assert await trigger_power(connection, csms) == 0
            clock.advance(1)
            await aio.until(lambda: hardware(station).limits[1] == 12)
            await csms.wait("TransactionEvent", where=state_events("Charging"), count=2)
            clock.advance(3600)
            events = csms.of("TransactionEvent")
            assert await trigger_power(connection, csms) == 12 * 690
            last = csms.of("TransactionEvent")[len(events)]
            # 10 A, then 6 A for a second each, none for one, then 12 A for an hour.
            assert t2.energy(last) == round((6900 + 4140) / 3600 + 8280, 1)
            assert hardware(station).limits[2] == 12  # no transaction there: the same limits
            assert len(csms.of("ReportChargingProfiles")) == 0

    t2.run(main())


def test_v2_profiles_survive_a_restart(core: Backend, v2: str, tmp_path: Any) -> None:  # noqa: F811
    """K01 (the station goes on with the profiles it received): the profiles are kept in the
    StationStore file, the SetChargingProfileResponse left once they were on disk; started
    again on that file, the station limits its EVSEs at once, before any connection to the
    CSMS (a charger that restarts offline keeps to its limits), reports them (K09), counts them
    (SmartChargingCtrlr.Entries), still refuses a DuplicateProfile of a restored one and
    clears them (K10)."""
    from ocppfast.station.store import StationStore

    async def main() -> None:
        store = await StationStore.open(tmp_path / "station.sqlite3")
        m = t2.MODULES[v2]
        first = t2.make_station(v2, data=await store.load("CP1"))
        csms = Csms2()
        async with t2.connect(core, first, csms, v2) as connection:
            await t2.ready(first, csms)
            maximum = profile2(m, 1, "ChargingStationMaxProfile", 20)
            assert await set2(connection, 0, maximum) == ("Accepted", "")
            stepped = profile2(m, 2, "TxDefaultProfile", 0, periods=[(0, 13), (600, 8)],
                               valid_to=NOW + timedelta(days=1))  # fmt: skip
            assert await set2(connection, 1, stepped) == ("Accepted", "")
        await first.shutdown()
        again = t2.make_station(v2, data=await store.load("CP1"))
        assert hardware(again).limits == {1: 13, 2: 20}
        csms = Csms2()
        async with t2.connect(core, again, csms, v2) as connection:
            await t2.ready(again, csms)
            entries = await connection.call(
                m.GetVariablesRequest(
                    get_variable_data=[
                        t2.get(
                            m, "SmartChargingCtrlr", "Entries", variable_instance="ChargingProfiles"
                        )
                    ]
                )
            )
            assert entries.get_variable_result[0].attribute_value == "2"
            asked = await connection.call(
                m.GetChargingProfilesRequest(
                    request_id=3, charging_profile=m.ChargingProfileCriterion()
                )
            )
            assert t2.wire(asked.status) == "Accepted"
            reports = await csms.wait("ReportChargingProfiles", 2)
            assert [p for r in reports for p in r.charging_profile] == [maximum, stepped]
            composite = await connection.call(
                m.GetCompositeScheduleRequest(duration=1200, evse_id=1, charging_rate_unit="A")
            )
            periods = composite.schedule.charging_schedule_period
            assert [(p.start_period, p.limit) for p in periods] == [(0, 13.0), (600, 8.0)]
            duplicate = profile2(m, 3, "TxDefaultProfile", 10, valid_from=NOW)
            assert await set2(connection, 1, duplicate) == ("Rejected", "DuplicateProfile")
            cleared = await connection.call(m.ClearChargingProfileRequest())
            assert t2.wire(cleared.status) == "Accepted"
            assert hardware(again).limits == {1: None, 2: None}
        await again.shutdown()
        third = t2.make_station(v2, data=await store.load("CP1"))
        assert len(third._profiles) == 0 and hardware(third).limits == {1: None, 2: None}
        await store.close()

    t2.run(main())


def test_v2_clear_charging_profile_by_criteria(core: Backend, v2: str) -> None:  # noqa: F811
    """K10: ClearChargingProfile clears the profile with chargingProfileId, or every profile
    matching all the chargingProfileCriteria given (evseId, 0 the station itself;
    chargingProfilePurpose; stackLevel), all of them with neither; Unknown when nothing
    matches, and then nothing is cleared; the limits are lifted at once."""

    async def main() -> None:
        async with t2.booted(core, v2, Csms2()) as (station, _csms, connection, m):
            installed = [
                (0, profile2(m, 1, "ChargingStationMaxProfile", 20)),
                (0, profile2(m, 2, "TxDefaultProfile", 16)),
                (1, profile2(m, 3, "TxDefaultProfile", 10, stack=1)),
                (1, profile2(m, 4, "TxDefaultProfile", 8, stack=2)),
                (2, profile2(m, 5, "TxDefaultProfile", 12, stack=2)),
            ]
            for evse, profile in installed:
                assert await set2(connection, evse, profile) == ("Accepted", "")
            assert hardware(station).limits == {1: 8, 2: 12}

            async def clear(profile_id: int | None = None, **criteria: Any) -> str:
                response = await connection.call(
                    m.ClearChargingProfileRequest(
                        charging_profile_id=UNSET if profile_id is None else profile_id,
                        charging_profile_criteria=m.ClearChargingProfile(**criteria)
                        if criteria
                        else UNSET,
                    )
                )
                return t2.wire(response.status)

            def left() -> list[int]:
                return sorted(e.profile.id for e in station._profiles.entries)

            assert await clear(42) == "Unknown"
            assert await clear(evse_id=2, stack_level=1) == "Unknown"
            assert await clear(evse_id=0, charging_profile_purpose="TxProfile") == "Unknown"
            assert left() == [1, 2, 3, 4, 5]
            # stackLevel 2 on every EVSE: profiles 4 and 5.
            assert await clear(stack_level=2) == "Accepted"
            assert left() == [1, 2, 3]
            assert hardware(station).limits == {1: 10, 2: 16}
            # EVSE 0 means the station's own profiles, not every EVSE's.
            assert await clear(evse_id=0, charging_profile_purpose="TxDefaultProfile") == (
                "Accepted"
            )
            assert left() == [1, 3]
            assert hardware(station).limits == {1: 10, 2: 20}
            assert await clear(3) == "Accepted"
            assert hardware(station).limits == {1: 20, 2: 20}
            assert await clear() == "Accepted"
            assert left() == [] and hardware(station).limits == {1: None, 2: None}
            assert await clear() == "Unknown"

    t2.run(main())


def test_v2_get_charging_profiles_reported_in_parts(core: Backend, v2: str) -> None:  # noqa: F811
    """K09: GetChargingProfiles Accepted, then ReportChargingProfiles with its requestId, one
    EVSE (evseId) and limit source (CSO) per message, ten profiles at most in each, tbc true on
    every message but the last; each matching profile exactly once, as it was set. The
    criteria narrow it down: evseId (0: the station's own), chargingProfileId, stackLevel,
    chargingProfilePurpose, chargingLimitSource (none from an EMS here: NoProfiles)."""

    async def main() -> None:
        async with t2.booted(core, v2, Csms2()) as (_station, csms, connection, m):
            day = timedelta(days=1)
            wanted: dict[int, Any] = {}
            # 23 TxDefaultProfiles on EVSE 1 at one stack level, each valid for its own day
            # (no DuplicateProfile), 2 on EVSE 2, the station maximum on 0.
            for number in range(23):
                valid = NOW + number * day
                wanted[10 + number] = profile2(
                    m, 10 + number, "TxDefaultProfile", 6 + number % 10,
                    valid_from=valid, valid_to=valid + day,
                )  # fmt: skip
                assert await set2(connection, 1, wanted[10 + number]) == ("Accepted", "")
            for number in range(2):
                wanted[50 + number] = profile2(m, 50 + number, "TxDefaultProfile", 9, stack=number)
                assert await set2(connection, 2, wanted[50 + number]) == ("Accepted", "")
            wanted[1] = profile2(m, 1, "ChargingStationMaxProfile", 32)
            assert await set2(connection, 0, wanted[1]) == ("Accepted", "")

            async def reports(request_id: int, evse: int | None = None, **criteria: Any) -> Any:
                answer = await connection.call(
                    m.GetChargingProfilesRequest(
                        request_id=request_id,
                        evse_id=UNSET if evse is None else evse,
                        charging_profile=m.ChargingProfileCriterion(**criteria),
                    )
                )
                if t2.wire(answer.status) == "NoProfiles":
                    return None
                assert t2.wire(answer.status) == "Accepted"
                mine = lambda r: r.request_id == request_id  # noqa: E731
                await csms.wait(
                    "ReportChargingProfiles", where=lambda r: mine(r) and r.tbc is UNSET
                )
                return [r for r in csms.of("ReportChargingProfiles") if mine(r)]

            parts = await reports(1)
            assert [(r.evse_id, len(r.charging_profile)) for r in parts] == [
                (0, 1), (1, 10), (1, 10), (1, 3), (2, 2),
            ]  # fmt: skip
            assert [r.tbc for r in parts] == [True, True, True, True, UNSET]
            assert {t2.wire(r.charging_limit_source) for r in parts} == {"CSO"}
            got = [p for r in parts for p in r.charging_profile]
            assert len(got) == len(wanted) and {p.id: p for p in got} == wanted
            only_station = await reports(2, evse=0)
            assert [[p.id for p in r.charging_profile] for r in only_station] == [[1]]
            by_ids = await reports(3, charging_profile_id=[11, 51, 99])
            assert [(r.evse_id, [p.id for p in r.charging_profile]) for r in by_ids] == [
                (1, [11]),
                (2, [51]),
            ]
            level = await reports(4, evse=2, stack_level=1)
            assert [[p.id for p in r.charging_profile] for r in level] == [[51]]
            maximum = await reports(5, charging_profile_purpose="ChargingStationMaxProfile")
            assert [[p.id for p in r.charging_profile] for r in maximum] == [[1]]
            assert await reports(6, charging_limit_source=["EMS"]) is None
            assert await reports(7, charging_profile_purpose="TxProfile") is None

    t2.run(main())


def test_v2_weekly_recurring_profile_across_the_week_boundary(core: Backend, v2: str) -> None:  # noqa: F811
    """K01 / K08 with chargingProfileKind Recurring, recurrencyKind Weekly (C16 7.9 alike: the
    schedule restarts every week at its first period): a profile whose week began 7 days
    minus 2 s ago is in its last period (12 A); 2 s on a new week begins with 6 A for an hour.
    The composite schedule (K08) shows the boundary and the next week's; the hardware's limit
    follows the clock across it."""

    async def main() -> None:
        async with t2.booted(core, v2, Csms2()) as (station, _csms, connection, m):
            clock = t2.clock_of(station)
            week = 7 * 86_400
            weekly = profile2(m, 7, "TxDefaultProfile", 0, kind="Recurring",
                              recurrency_kind="Weekly", start=NOW + timedelta(seconds=2 - week),
                              periods=[(0, 6), (3600, 12)])  # fmt: skip
            assert await set2(connection, 1, weekly) == ("Accepted", "")
            assert hardware(station).limits[1] == 12
            composite = await connection.call(
                m.GetCompositeScheduleRequest(
                    duration=week + 7200, evse_id=1, charging_rate_unit="A"
                )
            )
            assert t2.wire(composite.status) == "Accepted"
            schedule = composite.schedule
            assert (schedule.schedule_start, schedule.duration) == (NOW, week + 7200)
            assert [(p.start_period, p.limit) for p in schedule.charging_schedule_period] == [
                (0, 12.0),
                (2, 6.0),
                (3602, 12.0),
                (week + 2, 6.0),
                (week + 3602, 12.0),
            ]
            clock.advance(2)
            await aio.until(lambda: hardware(station).limits[1] == 6)
            # EVSE 2 has none of it.
            assert hardware(station).limits[2] is None

    t2.run(main())


def test_v2_power_profile_in_an_amps_composite(core: Backend, v2: str) -> None:  # noqa: F811
    """K08 with chargingRateUnit A of a profile in W (A201 SmartChargingCtrlr.RateUnit A,W):
    W = A x 230 V x numberPhases (3 when absent): 11040 W is 16 A per phase, 2300 W on one
    phase 10 A with numberPhases 1; the other way round a profile in A in a W composite; the
    hardware gets amps; the limit is at most the EVSE's rating (11 kW: 15.9 A, floored to the
    wire's one decimal). An unknown EVSE: Rejected, UnknownEvse."""

    async def main() -> None:
        async with t2.booted(core, v2, Csms2()) as (station, _csms, connection, m):
            watts = profile2(m, 8, "TxDefaultProfile", 0, unit="W",
                             periods=[(0, 11040), (600, 2300, 1)])  # fmt: skip
            assert await set2(connection, 1, watts) == ("Accepted", "")
            assert hardware(station).limits[1] == 16
            amps = profile2(m, 9, "TxDefaultProfile", 0, periods=[(0, 10), (300, 32)])
            assert await set2(connection, 2, amps) == ("Accepted", "")

            async def composite(evse: int, unit: str) -> list[tuple[int, float, Any]]:
                answer = await connection.call(
                    m.GetCompositeScheduleRequest(
                        duration=1200, evse_id=evse, charging_rate_unit=unit
                    )
                )
                assert t2.wire(answer.status) == "Accepted"
                assert t2.wire(answer.schedule.charging_rate_unit) == unit
                return [
                    (p.start_period, p.limit, p.number_phases)
                    for p in answer.schedule.charging_schedule_period
                ]

            assert await composite(1, "A") == [(0, 15.9, UNSET), (600, 10.0, 1)]
            assert await composite(1, "W") == [(0, 11000.0, UNSET), (600, 2300.0, 1)]
            assert await composite(2, "W") == [(0, 6900.0, UNSET), (300, 11000.0, UNSET)]
            unknown = await connection.call(
                m.GetCompositeScheduleRequest(duration=60, evse_id=3, charging_rate_unit="A")
            )
            assert t2.wire(unknown.status) == "Rejected"
            assert t2.wire(unknown.status_info.reason_code) == "UnknownEvse"
            clock = t2.clock_of(station)
            clock.advance(600)
            assert (await composite(1, "A"))[0] == (0, 10.0, 1)

    t2.run(main())
