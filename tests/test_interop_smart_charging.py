"""Smart charging against a peer nobody here wrote: the `ocpp` package's (mobilityhouse)
central system drives `ocppfast station` (a real process) over a real socket on 127.0.0.1, with
the helpers of tests/test_interop_ocpp.py.

- 1.6 (C16 3.13, 5.5, 5.7, 5.11, 5.16): SetChargingProfile with a ChargePointMaxProfile and a
  TxDefaultProfile, GetCompositeSchedule, ClearChargingProfile; RemoteStartTransaction with a
  TxProfile that limits the power the EV draws (MeterValues) and goes with its transaction.
- 2.0.1 (K01, K08, K09, K10): SetChargingProfile with a ChargingStationMaxProfile and a
  TxDefaultProfile, GetCompositeSchedule, GetChargingProfiles answered with
  ReportChargingProfiles, ClearChargingProfile.

Both sides validate every message against the official schemas (the `ocpp` package with its own
jsonschema validation). The station runs on the real clock, so profiles start a minute before
the test and a composite's later period starts within a few seconds of where it is expected.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta, timezone
from typing import Any

from ocpp.routing import on
from websockets.asyncio.server import ServerConnection

from ocppfast._core import Backend
from tests.aio import run
from tests.cli_process import CliProcess
from tests.test_interop_ocpp import PACKAGES, CentralSystem, make_central_system, station_args

# The station's rating (`ocppfast station`: 11 kW, three phases at 230 V): 15.9 A per phase.
RATING_A = 15.9


class SmartCentralSystem(CentralSystem):
    """tests/test_interop_ocpp.py's central system, answering ReportChargingProfiles (K09)
    too: the `ocpp` package's recorder there does not handle it."""

    async def _serve(self, ws: ServerConnection) -> None:
        identity = ws.request.path.rsplit("/", 1)[-1] if ws.request else "?"
        self.connections += 1
        base = make_central_system(self, self.version)
        result = PACKAGES[self.version].call_result
        cs = self

        class Recorder(base):  # type: ignore[misc,valid-type]
            @on("ReportChargingProfiles")
            def report_charging_profiles(self, **payload: Any) -> Any:
                cs.record("ReportChargingProfiles", payload)
                return result.ReportChargingProfiles()

        self.charge_point = Recorder(identity, ws)
        self.connected.set()
        with contextlib.suppress(Exception):  # the station went away
            await self.charge_point.start()


def started_a_minute_ago() -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=60)).isoformat()


def periods(schedule: dict[str, Any]) -> list[tuple[int, float]]:
    # The `ocpp` package reads decimals as Decimal.
    return [(p["start_period"], float(p["limit"])) for p in schedule["charging_schedule_period"]]


def near(actual: list[tuple[int, float]], expected: list[tuple[int, float]]) -> bool:
    """The same limits, each period starting within 30 s of where expected (the real clock
    moved between setting the profile and asking)."""
    return len(actual) == len(expected) and all(
        limit == want and abs(start - at) <= 30
        for (start, limit), (at, want) in zip(actual, expected, strict=True)
    )


def profile16(profile_id: int, purpose: str, stack: int, steps: list[tuple[int, float]],
              **fields: Any) -> dict[str, Any]:  # fmt: skip
    """A 1.6 csChargingProfiles in the `ocpp` package's snake_case form, Absolute from a minute
    ago unless `fields` say otherwise."""
    schedule = {
        "charging_rate_unit": "A",
        "charging_schedule_period": [{"start_period": s, "limit": v} for s, v in steps],
    }
    profile = {
        "charging_profile_id": profile_id,
        "stack_level": stack,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": "Absolute",
        "charging_schedule": schedule,
        **fields,
    }
    if profile["charging_profile_kind"] == "Absolute":
        schedule["start_schedule"] = started_a_minute_ago()
    return profile


async def drive_smart_charging_16(cs: SmartCentralSystem) -> None:
    from ocpp.v16 import call

    await cs.wait_for("BootNotification")
    await cs.wait_for("StatusNotification", connector_id=1, status="Available")
    cp = cs.charge_point

    async def composite(connector: int = 1) -> list[tuple[int, float]]:
        answer = await cp.call(
            call.GetCompositeSchedule(connector_id=connector, duration=3600, charging_rate_unit="A")
        )
        assert answer.status == "Accepted" and answer.connector_id == connector
        assert answer.charging_schedule["duration"] == 3600
        return periods(answer.charging_schedule)

    # C16 5.16: the station maximum on connector 0, a TxDefaultProfile stepping down after
    # 30 minutes (from its start a minute ago) on top of it.
    maximum = profile16(1, "ChargePointMaxProfile", 0, [(0, 14)])
    assert (await cp.call(call.SetChargingProfile(connector_id=0, cs_charging_profiles=maximum))
            ).status == "Accepted"  # fmt: skip
    default = profile16(2, "TxDefaultProfile", 1, [(0, 10), (1800, 8)])
    assert (await cp.call(call.SetChargingProfile(connector_id=0, cs_charging_profiles=default))
            ).status == "Accepted"  # fmt: skip
    misplaced = profile16(3, "ChargePointMaxProfile", 0, [(0, 6)])
    assert (await cp.call(call.SetChargingProfile(connector_id=1, cs_charging_profiles=misplaced))
            ).status == "Rejected"  # fmt: skip
    # C16 5.7, 3.13.3: the TxDefaultProfile under the maximum; connector 0, the station's total.
    assert near(await composite(), [(0, 10.0), (1740, 8.0)])
    assert near(await composite(0), [(0, 10.0), (1740, 8.0)])
    # C16 5.5: cleared by purpose and stack level, then the rest.
    cleared = await cp.call(
        call.ClearChargingProfile(charging_profile_purpose="TxDefaultProfile", stack_level=1)
    )
    assert cleared.status == "Accepted"
    assert await composite() == [(0, 14.0)]
    assert (await cp.call(call.ClearChargingProfile())).status == "Accepted"
    assert (await cp.call(call.ClearChargingProfile(id=1))).status == "Unknown"
    assert await composite() == [(0, RATING_A)]

    # C16 5.11 / 5.16.2: RemoteStartTransaction with a TxProfile: 6 A for the transaction,
    # 6 A x 230 V x 3 drawn; C16 3.13.1: it goes when the transaction stops.
    mark = len(cs.received)
    tx_profile = profile16(4, "TxProfile", 0, [(0, 6)], charging_profile_kind="Relative")
    started = await cp.call(
        call.RemoteStartTransaction(id_tag="SMART-1", connector_id=1, charging_profile=tx_profile)
    )
    assert started.status == "Accepted"
    start = await cs.wait_for("StartTransaction", start=mark)
    assert start["id_tag"] == "SMART-1"

    def power(payload: dict[str, Any]) -> float | None:
        values = payload["meter_value"][-1]["sampled_value"]
        found = [v["value"] for v in values if v.get("measurand") == "Power.Active.Import"]
        return float(found[0]) if found else None

    await cs.wait_for("MeterValues", start=mark, where=lambda p: power(p) == 4140)
    assert await composite() == [(0, 6.0)]
    transaction_id = cs.transaction_ids[-1]
    assert (await cp.call(call.RemoteStopTransaction(transaction_id=transaction_id))
            ).status == "Accepted"  # fmt: skip
    await cs.wait_for("StopTransaction", start=mark, transaction_id=transaction_id)
    assert await composite() == [(0, RATING_A)]
    assert (await cp.call(call.ClearChargingProfile(id=4))).status == "Unknown"


def profile2(profile_id: int, purpose: str, stack: int, steps: list[tuple[int, float]],
             **fields: Any) -> dict[str, Any]:  # fmt: skip
    """A 2.0.1 ChargingProfileType in the `ocpp` package's snake_case form, Absolute from a
    minute ago."""
    return {
        "id": profile_id,
        "stack_level": stack,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": "Absolute",
        "charging_schedule": [
            {
                "id": 1,
                "start_schedule": started_a_minute_ago(),
                "charging_rate_unit": "A",
                "charging_schedule_period": [{"start_period": s, "limit": v} for s, v in steps],
            }
        ],
        **fields,
    }


async def drive_smart_charging_201(cs: SmartCentralSystem) -> None:
    call = PACKAGES["ocpp2.0.1"].call

    await cs.wait_for("BootNotification")
    await cs.wait_for("StatusNotification", connector_status="Available")
    cp = cs.charge_point

    async def composite(evse: int = 1) -> list[tuple[int, float]]:
        answer = await cp.call(
            call.GetCompositeSchedule(duration=3600, evse_id=evse, charging_rate_unit="A")
        )
        assert answer.status == "Accepted"
        assert answer.schedule["evse_id"] == evse and answer.schedule["duration"] == 3600
        return periods(answer.schedule)

    # K01: the station maximum on EVSE 0, a TxDefaultProfile stepping down after 30 minutes.
    maximum = profile2(1, "ChargingStationMaxProfile", 0, [(0, 14)])
    assert (await cp.call(call.SetChargingProfile(evse_id=0, charging_profile=maximum))
            ).status == "Accepted"  # fmt: skip
    default = profile2(2, "TxDefaultProfile", 1, [(0, 10), (1800, 8)])
    assert (await cp.call(call.SetChargingProfile(evse_id=1, charging_profile=default))
            ).status == "Accepted"  # fmt: skip
    duplicate = profile2(3, "TxDefaultProfile", 1, [(0, 6)])
    refused = await cp.call(call.SetChargingProfile(evse_id=1, charging_profile=duplicate))
    assert refused.status == "Rejected"
    assert refused.status_info["reason_code"] == "DuplicateProfile"
    # K08: the TxDefaultProfile under the maximum.
    assert near(await composite(), [(0, 10.0), (1740, 8.0)])
    # K09: Accepted, then the profiles in ReportChargingProfiles (one per EVSE), as set.
    mark = len(cs.received)
    asked = await cp.call(call.GetChargingProfiles(request_id=11, charging_profile={}))
    assert asked.status == "Accepted"
    await cs.wait_for("ReportChargingProfiles", start=mark, where=lambda p: not p.get("tbc"))
    reports = [p for a, p in cs.received[mark:] if a == "ReportChargingProfiles"]
    assert [(r["request_id"], r["evse_id"], r["charging_limit_source"]) for r in reports] == [
        (11, 0, "CSO"),
        (11, 1, "CSO"),
    ]
    assert [p["id"] for r in reports for p in r["charging_profile"]] == [1, 2]
    assert (
        reports[1]["charging_profile"][0]["charging_schedule"][0]["charging_schedule_period"]
        == default["charging_schedule"][0]["charging_schedule_period"]
    )
    # K10: by criteria, then the rest.
    cleared = await cp.call(
        call.ClearChargingProfile(
            charging_profile_criteria={"evse_id": 1, "charging_profile_purpose": "TxDefaultProfile"}
        )
    )
    assert cleared.status == "Accepted"
    assert await composite() == [(0, 14.0)]
    assert (await cp.call(call.ClearChargingProfile(charging_profile_id=1))).status == "Accepted"
    assert await composite() == [(0, RATING_A)]
    none = await cp.call(call.GetChargingProfiles(request_id=12, charging_profile={}))
    assert none.status == "NoProfiles"


async def drive(core: Backend, version: str) -> CliProcess:
    cs = SmartCentralSystem(version)
    async with cs:
        options = ("--meter-interval", "1") if version == "ocpp1.6" else ()
        station = CliProcess(core, *station_args(cs, "CP-smart", version, "--in-memory", *options))
        try:
            await asyncio.wait_for(cs.connected.wait(), 15)
            if version == "ocpp1.6":
                await drive_smart_charging_16(cs)
            else:
                await drive_smart_charging_201(cs)
            # In a thread: the central system answers what the station sends while it stops.
            assert await asyncio.to_thread(station.stop) == 0
        except BaseException:
            station.__exit__()
            print(station.log)
            raise
        return station


def test_ocpp_central_system_smart_charging_16(core: Backend) -> None:
    """C16 3.13, 5.5, 5.7, 5.11, 5.16 against the `ocpp` package's 1.6 central system: profiles
    set, the composite schedule they make, cleared; a remote start's TxProfile limits the EV and
    goes with its transaction."""
    station = run(drive(core, "ocpp1.6"), 90)
    assert station.count(r"Traceback|InternalError|ERROR") == 0, station.log


def test_ocpp_central_system_smart_charging_201(core: Backend) -> None:
    """K01, K08, K09, K10 against the `ocpp` package's 2.0.1 central system: profiles set (a
    DuplicateProfile refused), the composite schedule, ReportChargingProfiles after
    GetChargingProfiles, cleared by criteria and by id."""
    station = run(drive(core, "ocpp2.0.1"), 90)
    assert station.count(r"Traceback|InternalError|ERROR") == 0, station.log
