"""ocppfast.station.smart_charging: the limit in force and the composite schedule.

Worked examples from the spec text, each naming its source, then properties checked with
hypothesis over random profile stacks. The module is pure Python with no core involved, so these
tests do not take the `core` fixture.
"""

from __future__ import annotations

import datetime
from dataclasses import replace
from itertools import pairwise

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocppfast import v16, v201
from ocppfast.station.smart_charging import (
    UNLIMITED,
    Kind,
    Limit,
    Period,
    Profile,
    Purpose,
    Recurrency,
    Schedule,
    Unit,
    composite_schedule,
    from_v16,
    from_v201,
    limit_at,
)

UTC = datetime.timezone.utc
MONDAY = datetime.datetime(2024, 1, 1, tzinfo=UTC)  # 2024-01-01 was a Monday
HOUR = 3600
DAY = 86_400


def at(day: int, hour: int = 0, minute: int = 0) -> datetime.datetime:
    """An instant in the week of MONDAY (day 0 is Monday)."""
    return MONDAY + datetime.timedelta(days=day, hours=hour, minutes=minute)


def profile(
    purpose: Purpose,
    periods: list[tuple[int, float]],
    *,
    unit: Unit = "A",
    stack_level: int = 0,
    kind: Kind = "Absolute",
    start: datetime.datetime | None = MONDAY,
    duration: int | None = None,
    recurrency: Recurrency | None = None,
    valid_from: datetime.datetime | None = None,
    valid_to: datetime.datetime | None = None,
    profile_id: int = 1,
) -> Profile:
    """A profile from (startPeriod, limit) pairs."""
    return Profile(
        id=profile_id,
        stack_level=stack_level,
        purpose=purpose,
        kind=kind,
        schedule=Schedule(
            tuple(Period(s, limit) for s, limit in periods),
            unit,
            duration,
            None if kind == "Relative" else start,
        ),
        recurrency=recurrency,
        valid_from=valid_from,
        valid_to=valid_to,
    )


def pairs(schedule: Schedule) -> list[tuple[int, float]]:
    return [(p.start, p.limit) for p in schedule.periods]


# The C16 3.13.7 example: a daily default profile that limits the power to 6 kW from 08:00 to 20:00.
C16_3_13_7 = Profile(
    id=100,
    stack_level=0,
    purpose="TxDefault",
    kind="Recurring",
    recurrency="Daily",
    schedule=Schedule(
        (Period(0, 11000, 3), Period(28800, 6000, 3), Period(72000, 11000, 3)),
        "W",
        86400,
        datetime.datetime(2013, 1, 1, tzinfo=UTC),
    ),
)


def test_daily_recurring_default_profile_c16_3_13_7() -> None:
    """C16 3.13.7 (and C16 7.9 Recurring): the 2013 daily profile still repeats every day."""
    composite = composite_schedule([C16_3_13_7], at(1, 6), DAY, "W")
    assert pairs(composite) == [(0, 11000), (2 * HOUR, 6000), (14 * HOUR, 11000)]
    assert {p.number_phases for p in composite.periods} == {3}
    assert composite.start == at(1, 6)
    assert composite.duration == DAY
    assert composite.unit == "W"


def test_daily_profile_in_amperes_c16_7_12() -> None:
    """C16 7.12: current per phase = power / (line voltage x numberPhases), rounded down to the
    one decimal a limit has (C16 7.14) so the composite stays within the profile."""
    composite = composite_schedule([C16_3_13_7], at(1, 6), DAY, "A", voltage=230)
    # 11000 / 690 = 15.94..., 6000 / 690 = 8.69...
    assert pairs(composite) == [(0, 15.9), (2 * HOUR, 8.6), (14 * HOUR, 15.9)]


def test_limit_at_the_c16_3_13_7_profile() -> None:
    """C16 3.13.7: 6 kW between 08:00 and 20:00, 11 kW otherwise."""
    assert limit_at([C16_3_13_7], at(3, 12), unit="W") == Limit(6000, 3)
    assert limit_at([C16_3_13_7], at(3, 20), unit="W") == Limit(11000, 3)
    assert limit_at([C16_3_13_7], at(3, 7, 59), unit="W") == Limit(11000, 3)


def test_weekly_calendar_with_holiday_exception_c16_3_13_2() -> None:
    """C16 3.13.2: a weekly TxDefaultProfile allowing full current on weekdays from 23:00 to
    06:00 and all weekend, reduced current otherwise; on top a TxDefaultProfile with a higher
    stackLevel valid for one holiday (validFrom/validTo) allows full current all day. The
    prevailing profile is the valid one with the highest stackLevel."""
    full, reduced = 32.0, 10.0
    week: list[tuple[int, float]] = []
    for day in range(5):
        week += [(day * DAY + 6 * HOUR, reduced), (day * DAY + 23 * HOUR, full)]
    calendar = profile(
        "TxDefault",
        [(0, full), *week],
        kind="Recurring",
        recurrency="Weekly",
        duration=7 * DAY,
    )
    holiday = profile(
        "TxDefault",
        [(0, full)],
        stack_level=1,
        valid_from=at(2),
        valid_to=at(3),
        profile_id=2,
    )
    # Tuesday 00:00 for three days: Tuesday as usual, Wednesday the holiday (its 00:00-06:00
    # window merges with it), Thursday as usual again.
    composite = composite_schedule([calendar, holiday], at(1), 3 * DAY, "A")
    assert pairs(composite) == [
        (0, full),
        (6 * HOUR, reduced),
        (23 * HOUR, full),
        (2 * DAY + 6 * HOUR, reduced),
        (2 * DAY + 23 * HOUR, full),
    ]
    # The weekend (Saturday and Sunday) is full current.
    weekend = composite_schedule([calendar], at(5), 2 * DAY, "A")
    assert pairs(weekend) == [(0, full)]


def test_connector_default_replaces_connector_zero_default_c16_3_13_1() -> None:
    """C16 3.13.1: a TxDefaultProfile sent for a connector replaces, for that connector only,
    the one installed on connector 0 at the same stack level. The caller lists connector 0's
    profiles first; a higher stack level on connector 0 still prevails (C16 3.13.2)."""
    station_wide = profile("TxDefault", [(0, 32)])
    own = profile("TxDefault", [(0, 16)], profile_id=2)
    assert limit_at([station_wide, own], MONDAY) == Limit(16, None)
    assert limit_at([station_wide], MONDAY) == Limit(32, None)  # the other connectors
    higher = replace(station_wide, stack_level=1)
    assert limit_at([higher, own], MONDAY) == Limit(32, None)


def test_lower_stack_level_prevails_after_duration_c16e_3_43() -> None:
    """C16E 3.43 / C16 5.16.4: when a schedule's duration ends, the profile with the next lower
    stackLevel applies; C16 3.13.2: without a duration the highest level never falls back."""
    base = profile("TxDefault", [(0, 16)])
    one_hour = profile("TxDefault", [(0, 6)], stack_level=1, duration=HOUR, profile_id=2)
    assert pairs(composite_schedule([base, one_hour], MONDAY, 2 * HOUR, "A")) == [
        (0, 6),
        (HOUR, 16),
    ]
    forever = replace(one_hour, schedule=replace(one_hour.schedule, duration=None))
    assert pairs(composite_schedule([base, forever], MONDAY, 2 * HOUR, "A")) == [(0, 6)]


def test_no_profile_left_charges_unconstrained_c16e_3_43_c16_3_13_6() -> None:
    """C16E 3.43: with no lower profile, charge as if no profile is installed; C16 3.13.6:
    without profiles no constraints apply (UNLIMITED, or the station's local limit)."""
    only = profile("TxDefault", [(0, 6)], duration=HOUR)
    assert pairs(composite_schedule([only], MONDAY, 2 * HOUR, "A")) == [(0, 6), (HOUR, UNLIMITED)]
    assert pairs(composite_schedule([], MONDAY, HOUR, "A")) == [(0, UNLIMITED)]
    assert pairs(composite_schedule([], MONDAY, HOUR, "A", local_limit=32)) == [(0, 32)]
    assert limit_at([], MONDAY) is None


def test_valid_from_in_future_reverts_to_default_c16_3_13_2() -> None:
    """C16 3.13.2: a profile whose validFrom lies in the future does not apply until then; the
    lower level (here: none, so unconstrained) applies meanwhile. validTo ends it again."""
    later = profile("TxDefault", [(0, 8)], valid_from=at(0, 1), valid_to=at(0, 2))
    composite = composite_schedule([later], MONDAY, 3 * HOUR, "A", local_limit=32)
    assert pairs(composite) == [(0, 32), (HOUR, 8), (2 * HOUR, 32)]


def test_periods_beyond_duration_not_executed_c16_5_16_4() -> None:
    """C16 5.16.4: periods beyond the duration are not executed; a duration longer than the
    periods keeps the last period's limit until it ends."""
    cut = profile("TxDefault", [(0, 10), (2 * HOUR, 20)], duration=HOUR)
    assert pairs(composite_schedule([cut], MONDAY, 3 * HOUR, "A", local_limit=32)) == [
        (0, 10),
        (HOUR, 32),
    ]
    kept = profile("TxDefault", [(0, 10), (HOUR, 20)], duration=2 * HOUR)
    assert pairs(composite_schedule([kept], MONDAY, 3 * HOUR, "A", local_limit=32)) == [
        (0, 10),
        (HOUR, 20),
        (2 * HOUR, 32),
    ]


def test_recurring_beyond_recurrence_period_not_executed_c16e_3_44() -> None:
    """C16E 3.44: with recurrencyKind, periods and duration beyond the recurrence period are
    not executed: the schedule restarts at its first period every day."""
    daily = profile(
        "TxDefault",
        [(0, 10), (DAY + HOUR, 20)],
        kind="Recurring",
        recurrency="Daily",
        duration=2 * DAY,
    )
    assert pairs(composite_schedule([daily], MONDAY, 3 * DAY, "A")) == [(0, 10)]


def test_recurring_shorter_duration_falls_back_each_day_c16e_3_43() -> None:
    """C16E 3.43: a recurring schedule shorter than its recurrence falls back to the lower
    stack level after its duration, every day."""
    base = profile("TxDefault", [(0, 16)])
    nights = profile(
        "TxDefault",
        [(0, 6)],
        stack_level=1,
        kind="Recurring",
        recurrency="Daily",
        duration=6 * HOUR,
        profile_id=2,
    )
    composite = composite_schedule([base, nights], at(0, 12), DAY, "A")
    assert pairs(composite) == [(0, 16), (12 * HOUR, 6), (18 * HOUR, 16)]


def test_tx_profile_overrules_default_and_max_caps_it_c16_3_13_1_3_13_3() -> None:
    """C16 3.13.1: a TxProfile overrules the TxDefaultProfile (whatever their stack levels);
    C16 3.13.3: the composite is the minimum of it and the ChargePointMaxProfile."""
    default = profile("TxDefault", [(0, 32)], stack_level=5)
    tx = profile("Tx", [(0, 20), (HOUR, 12)], kind="Relative", profile_id=2)
    cap = profile("ChargePointMax", [(0, 40), (600, 16)], start=at(0, 1), profile_id=3)
    tx_start = at(0, 0, 30)
    composite = composite_schedule([default, tx, cap], at(0, 1), 2 * HOUR, "A", tx_start=tx_start)
    # Tx: 20 until 01:30, then 12; max: 40 until 01:10, then 16.
    assert pairs(composite) == [(0, 20), (600, 16), (1800, 12)]
    # Before the transaction's TxProfile starts nothing overrules the default.
    assert limit_at([default, tx], at(0, 0, 10), at(0, 0, 30)) == Limit(32, None)
    assert limit_at([default, tx], at(0, 0, 40), at(0, 0, 30)) == Limit(20, None)


def test_relative_profile_without_transaction_starts_at_start_c16_7_9() -> None:
    """C16 7.9 Relative: relative to the transaction's start; without one, the composite shows
    what a transaction starting at `start` would get."""
    relative = profile("TxDefault", [(0, 6), (HOUR, 16)], kind="Relative")
    assert pairs(composite_schedule([relative], at(2, 9), 2 * HOUR, "A")) == [(0, 6), (HOUR, 16)]
    assert limit_at([relative], at(2, 9)) == Limit(6, None)
    started = composite_schedule([relative], at(2, 9), 2 * HOUR, "A", tx_start=at(2, 8, 30))
    assert pairs(started) == [(0, 6), (HOUR // 2, 16)]


def test_units_converted_with_number_phases_c16_7_12() -> None:
    """C16 7.12: W is the total power, A the current per phase: W = A x voltage x phases, with
    numberPhases of the period (3 assumed when absent)."""
    cap = Profile(
        id=1,
        stack_level=0,
        purpose="ChargePointMax",
        kind="Absolute",
        schedule=Schedule((Period(0, 7360, 1),), "W", None, MONDAY),
    )
    tx = profile("Tx", [(0, 16)], profile_id=2)
    # 7360 W on one phase is 32 A; the TxProfile's 16 A (3 phases assumed) is 11040 W.
    assert limit_at([cap], MONDAY, unit="A") == Limit(32, 1)
    assert limit_at([tx], MONDAY, unit="W") == Limit(11040, None)
    # The charger may use no more phases than the max profile allows.
    assert limit_at([cap, tx], MONDAY, unit="A") == Limit(16, 1)


def test_invalid_schedules_rejected_c16e_3_45() -> None:
    """C16E 3.45: the first period SHALL start at 0; P6: periods in chronological order. A
    recurring profile needs its recurrencyKind (C16E 3.56). Bad input raises ValueError, which
    a handler turns into a refusal."""
    with pytest.raises(ValueError, match="start at 0"):
        Schedule((Period(10, 6),), "A")
    with pytest.raises(ValueError, match="increasing"):
        Schedule((Period(0, 6), Period(0, 8)), "A")
    with pytest.raises(ValueError, match="limit"):
        Schedule((Period(0, -1),), "A")
    with pytest.raises(ValueError, match="recurrencyKind"):
        profile("TxDefault", [(0, 6)], kind="Recurring")
    with pytest.raises(ValueError, match="positive duration"):
        composite_schedule([], MONDAY, 0, "A")


def test_from_v16_reads_the_c16_3_13_7_example() -> None:
    """C16 3.13.7 as 1.6 JSON (csChargingProfiles) reads back as the same profile."""
    wire = msgspec.json.decode(
        b"""{"chargingProfileId": 100, "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Recurring",
        "recurrencyKind": "Daily", "chargingSchedule": {"duration": 86400,
        "startSchedule": "2013-01-01T00:00:00Z", "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000, "numberPhases": 3},
        {"startPeriod": 28800, "limit": 6000, "numberPhases": 3},
        {"startPeriod": 72000, "limit": 11000, "numberPhases": 3}]}}""",
        type=v16.ChargingProfile,
    )
    assert from_v16(wire) == C16_3_13_7


def test_from_v201_station_max_and_tx_profile() -> None:
    """2.x SetChargingProfileRequest: ChargingStationMaxProfile combines like 1.6's
    ChargePointMaxProfile; a TxProfile keeps its transactionId; the first schedule is used."""
    request = msgspec.json.decode(
        b"""{"evseId": 1, "chargingProfile": {"id": 7, "stackLevel": 2,
        "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
        "transactionId": "tx-1", "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
        "minChargingRate": 6.0, "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}]}]}}""",
        type=v201.SetChargingProfileRequest,
    )
    tx = from_v201(request.charging_profile)
    assert tx == Profile(
        id=7,
        stack_level=2,
        purpose="Tx",
        kind="Relative",
        schedule=Schedule((Period(0, 10),), "A", min_rate=6.0),
        transaction_id="tx-1",
    )
    station_max = msgspec.json.decode(
        b"""{"id": 8, "stackLevel": 0, "chargingProfilePurpose": "ChargingStationMaxProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": [{"id": 1,
        "startSchedule": "2024-01-01T00:00:00Z", "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8}]}]}""",
        type=v201.ChargingProfile,
    )
    cap = from_v201(station_max)
    assert cap.purpose == "ChargePointMax"
    assert limit_at([tx, cap], at(0, 1), at(0, 0, 30)) == Limit(8, None, 6.0)


# Property tests: random stacks of profiles around a fixed instant.

WINDOW = 2 * DAY
ORIGIN = MONDAY + datetime.timedelta(days=3)
KINDS: tuple[Kind, ...] = ("Absolute", "Recurring", "Relative")
RECURRENCIES: tuple[Recurrency, ...] = ("Daily", "Weekly")
units: st.SearchStrategy[Unit] = st.sampled_from(("A", "W"))
# Rounding a converted limit down to one decimal tolerates a float error this small (6.3 stays
# 6.3 though 6.3 x 10 is 62.99...).
EPSILON = 1e-6


@st.composite
def schedules(draw: st.DrawFn, *, kind: Kind) -> Schedule:
    starts = draw(st.lists(st.integers(1, WINDOW), max_size=4, unique=True))
    periods = tuple(
        Period(s, draw(st.integers(0, 640)) / 10, draw(st.sampled_from([None, 1, 3])))
        for s in [0, *sorted(starts)]
    )
    offset = draw(st.integers(-WINDOW, WINDOW))
    return Schedule(
        periods,
        draw(units),
        draw(st.none() | st.integers(1, 2 * WINDOW)),
        None if kind == "Relative" else ORIGIN + datetime.timedelta(seconds=offset),
    )


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    kind = draw(st.sampled_from(KINDS))
    purposes: tuple[Purpose, ...] = ("ChargePointMax", "TxDefault", "Tx")
    bounds = st.none() | st.integers(-WINDOW, 2 * WINDOW).map(
        lambda s: ORIGIN + datetime.timedelta(seconds=s)
    )
    return Profile(
        id=draw(st.integers(1, 1000)),
        stack_level=draw(st.integers(0, 3)),
        purpose=draw(st.sampled_from(purposes)),
        kind=kind,
        schedule=draw(schedules(kind=kind)),
        recurrency=draw(st.sampled_from(RECURRENCIES)) if kind == "Recurring" else None,
        valid_from=draw(bounds),
        valid_to=draw(bounds),
    )


stacks = st.lists(profiles(), max_size=6)
tx_starts = st.none() | st.integers(-WINDOW, 0).map(
    lambda s: ORIGIN + datetime.timedelta(seconds=s)
)


def limit_in(schedule: Schedule, offset: int) -> Period:
    """The composite's period in force `offset` seconds after its start."""
    return [p for p in schedule.periods if p.start <= offset][-1]


@settings(max_examples=150, deadline=None)
@given(stacks, tx_starts, units, st.integers(0, WINDOW - 1))
def test_composite_never_above_the_max_profiles_c16_3_13_3(
    stack: list[Profile],
    tx_start: datetime.datetime | None,
    unit: Unit,
    offset: int,
) -> None:
    """C16 3.13.3: at any instant the composite is at most the prevailing ChargePointMax limit
    and the Tx/TxDefault limit; it is exactly their minimum rounded down to one decimal."""
    composite = composite_schedule(stack, ORIGIN, WINDOW, unit, tx_start=tx_start)
    got = limit_in(composite, offset).limit
    t = ORIGIN + datetime.timedelta(seconds=offset)
    relative = ORIGIN if tx_start is None else tx_start
    maxes = [p for p in stack if p.purpose == "ChargePointMax"]
    cap = limit_at(maxes, t, relative, unit=unit)
    if cap is not None:
        assert got <= cap.value + EPSILON
    everything = limit_at(stack, t, relative, unit=unit)
    if everything is None:
        assert got == UNLIMITED
    else:
        assert everything.value - 0.1 < got <= everything.value + EPSILON


@settings(max_examples=150, deadline=None)
@given(stacks, tx_starts, units, st.integers(1, WINDOW))
def test_composite_periods_are_merged_and_ordered(
    stack: list[Profile], tx_start: datetime.datetime | None, unit: Unit, duration: int
) -> None:
    """GetCompositeSchedule: the periods start at 0, in increasing order within the duration
    (P6 general notes), and no two consecutive periods are equal (merged)."""
    composite = composite_schedule(stack, ORIGIN, duration, unit, tx_start=tx_start)
    starts = [p.start for p in composite.periods]
    assert starts[0] == 0
    assert all(a < b for a, b in pairwise(starts))
    assert starts[-1] < duration
    for before, after in pairwise(composite.periods):
        assert (before.limit, before.number_phases) != (after.limit, after.number_phases)


@settings(max_examples=150, deadline=None)
@given(stacks, tx_starts, units)
def test_composite_is_idempotent(
    stack: list[Profile], tx_start: datetime.datetime | None, unit: Unit
) -> None:
    """The same input gives the same composite, and the composite installed as the only
    profile gives itself back."""
    first = composite_schedule(stack, ORIGIN, WINDOW, unit, tx_start=tx_start, local_limit=500)
    assert (
        composite_schedule(stack, ORIGIN, WINDOW, unit, tx_start=tx_start, local_limit=500) == first
    )
    again = Profile(id=1, stack_level=0, purpose="TxDefault", kind="Absolute", schedule=first)
    assert composite_schedule([again], ORIGIN, WINDOW, unit) == first


@settings(max_examples=150, deadline=None)
@given(schedules(kind="Relative"), st.integers(1, WINDOW))
def test_single_profile_composite_is_its_schedule(schedule: Schedule, duration: int) -> None:
    """One profile alone, in its own unit, starting with the transaction: the composite is its
    schedule, cut at the requested duration (and at its own, after which nothing applies)."""
    only = Profile(id=1, stack_level=0, purpose="Tx", kind="Relative", schedule=schedule)
    composite = composite_schedule([only], ORIGIN, duration, schedule.unit, tx_start=ORIGIN)
    end = duration if schedule.duration is None else min(duration, schedule.duration)
    expected = [p for p in schedule.periods if p.start < end]
    if end < duration:
        expected.append(Period(end, UNLIMITED))
    merged = [
        p
        for i, p in enumerate(expected)
        if i == 0
        or (expected[i - 1].limit, expected[i - 1].number_phases) != (p.limit, p.number_phases)
    ]
    assert composite.periods == tuple(merged)


def shifted(p: Profile, delta: datetime.timedelta) -> Profile:
    def move(instant: datetime.datetime | None) -> datetime.datetime | None:
        return None if instant is None else instant + delta

    return replace(
        p,
        valid_from=move(p.valid_from),
        valid_to=move(p.valid_to),
        schedule=replace(p.schedule, start=move(p.schedule.start)),
    )


@settings(max_examples=150, deadline=None)
@given(stacks, tx_starts, units, st.integers(-10 * DAY, 10 * DAY))
def test_composite_is_time_shift_invariant(
    stack: list[Profile], tx_start: datetime.datetime | None, unit: Unit, seconds: int
) -> None:
    """Shifting `start`, the transaction's start and every absolute time of the profiles by the
    same amount changes nothing in the composite's periods (C16 7.9: Relative schedules follow
    the transaction's start; Absolute and Recurring their startSchedule)."""
    delta = datetime.timedelta(seconds=seconds)
    before = composite_schedule(stack, ORIGIN, WINDOW, unit, tx_start=tx_start)
    after = composite_schedule(
        [shifted(p, delta) for p in stack],
        ORIGIN + delta,
        WINDOW,
        unit,
        tx_start=None if tx_start is None else tx_start + delta,
    )
    assert after.periods == before.periods
    assert (before.start, after.start) == (ORIGIN, ORIGIN + delta)
