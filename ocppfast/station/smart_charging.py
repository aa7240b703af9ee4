"""Smart charging: the limit in force and the composite charging schedule, as pure functions.

This is the computation behind OCPP smart charging (C16 3.13, 5.7, 5.16; 2.x use cases K01/K08,
SetChargingProfileRequest and GetCompositeScheduleResponse), shared by both station classes. It
does no I/O and reads no clock: callers pass the instants (`now`, the transaction's start).

The model is version-neutral: `Profile`, `Schedule` and `Period` are plain frozen dataclasses;
`from_v16` and `from_v201` build a `Profile` from the generated message types. The caller
passes, for one connector/EVSE, the profiles that apply to it: those installed on connector/EVSE
0 first, then its own (TxProfiles only while their transaction runs); this module then decides
which profile prevails at each instant and combines the purposes:

- within a purpose the prevailing profile is the one with the highest stackLevel among those in
  force at that instant: inside validFrom/validTo and inside their schedule's duration, so when
  a schedule ends the next lower stack level prevails again (C16 3.13.2; C16E 3.43); at the same
  stack level the later in the list, so a connector's own TxDefaultProfile replaces connector
  0's for that connector (C16 3.13.1);
- a TxProfile overrules the TxDefaultProfile (C16 3.13.1);
- the composite is the minimum of that and of the ChargePointMax/ChargingStationMax (and 2.x
  ChargingStationExternalConstraints) limits (C16 3.13.3);
- without any profile, charging is not constrained (C16 3.13.6): `UNLIMITED`.

Instants are whole seconds (OCPP's startPeriod and duration are integer seconds): fractions of a
second are dropped from every datetime.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from .._core.message import UNSET
from ..v16 import ChargingProfile as V16ChargingProfile
from ..v16 import ChargingSchedule as V16ChargingSchedule
from ..v201 import ChargingProfile as V201ChargingProfile
from ..v201 import ChargingSchedule as V201ChargingSchedule
from .config import NOMINAL_VOLTAGE

_WireSchedule = V16ChargingSchedule | V201ChargingSchedule

__all__ = [
    "UNLIMITED",
    "Kind",
    "Limit",
    "Period",
    "Profile",
    "Purpose",
    "Recurrency",
    "Schedule",
    "Unit",
    "Unsupported",
    "composite_schedule",
    "from_v16",
    "from_v201",
    "limit_at",
    "station_schedule",
]

Unit = Literal["A", "W"]
"""ChargingRateUnit: A is the current per phase, W the total power (C16 7.12)."""
Purpose = Literal["ChargePointMax", "TxDefault", "Tx", "ExternalConstraints"]
"""ChargePointMax is 1.6 ChargePointMaxProfile and 2.x ChargingStationMaxProfile;
ExternalConstraints is 2.x ChargingStationExternalConstraints (a limit set by an external
system, combined like the station maximum)."""
Kind = Literal["Absolute", "Recurring", "Relative"]
Recurrency = Literal["Daily", "Weekly"]

UNLIMITED = math.inf
"""The limit of a composite period where nothing constrains charging (C16 3.13.6). A message
needs a number there: the station reports its own rating instead."""

_RECURRENCE_SECONDS: dict[Recurrency, int] = {"Daily": 86_400, "Weekly": 7 * 86_400}
_DEFAULT_PHASES = 3
"""C16 7.12/7.14: when numberPhases is absent, 3 SHALL be assumed."""
# The purposes whose limits are combined by taking their minimum with the transaction's limit.
_MAX_PURPOSES: tuple[Purpose, ...] = ("ChargePointMax", "ExternalConstraints")


@dataclass(frozen=True)
class Period:
    """ChargingSchedulePeriod: from `start` seconds after the schedule's start until the next
    period's start (C16 7.14)."""

    start: int
    limit: float
    number_phases: int | None = None


@dataclass(frozen=True)
class Schedule:
    """ChargingSchedule (C16 7.13). `start` is startSchedule (absent: relative to the start of
    charging); `duration` absent: the last period goes on indefinitely. Raises ValueError for a
    schedule the spec does not allow, so a handler can refuse it."""

    periods: tuple[Period, ...]
    unit: Unit
    duration: int | None = None
    start: datetime.datetime | None = None
    min_rate: float | None = None

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("a charging schedule needs at least one period")
        # C16E 3.45: the startPeriod of the first period SHALL always be 0; P6 general notes:
        # the periods are in chronological order.
        if self.periods[0].start != 0:
            raise ValueError("the first charging schedule period must start at 0")
        for before, after in pairwise(self.periods):
            if after.start <= before.start:
                raise ValueError("charging schedule periods must have increasing startPeriod")
        for period in self.periods:
            if math.isnan(period.limit) or period.limit < 0:
                raise ValueError(f"invalid charging limit {period.limit!r}")
            if period.number_phases is not None and not 1 <= period.number_phases <= 3:
                raise ValueError(f"invalid numberPhases {period.number_phases!r}")
        if self.duration is not None and self.duration < 0:
            raise ValueError("a charging schedule duration cannot be negative")
        if self.start is not None and self.start.tzinfo is None:
            raise ValueError("startSchedule must carry a time zone")


@dataclass(frozen=True)
class Profile:
    """ChargingProfile (C16 7.8; 2.x ChargingProfileType with its first schedule)."""

    id: int
    stack_level: int
    purpose: Purpose
    kind: Kind
    schedule: Schedule
    recurrency: Recurrency | None = None
    valid_from: datetime.datetime | None = None
    valid_to: datetime.datetime | None = None
    transaction_id: str | None = None

    def __post_init__(self) -> None:
        if self.stack_level < 0:
            raise ValueError("stackLevel cannot be negative")
        # C16E 3.56: recurrencyKind goes with chargingProfileKind Recurring (and it needs one).
        if (self.kind == "Recurring") != (self.recurrency is not None):
            raise ValueError("recurrencyKind is required with, and only with, kind Recurring")
        for bound in (self.valid_from, self.valid_to):
            if bound is not None and bound.tzinfo is None:
                raise ValueError("validFrom/validTo must carry a time zone")


@dataclass(frozen=True)
class Limit:
    """The limit in force at one instant, in the unit asked for. `min_rate`: the
    minChargingRate of the prevailing TxProfile/TxDefaultProfile's schedule, in the same unit
    (None: not given): below it the EV cannot charge, so the charger suspends instead."""

    value: float
    number_phases: int | None
    min_rate: float | None = None


def _seconds(instant: datetime.datetime) -> int:
    """POSIX seconds, fractions dropped (see the module docstring)."""
    return math.floor(instant.timestamp())


def _from_seconds(seconds: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


def _anchor(profile: Profile, relative_start: int) -> int:
    """Where the profile's schedule (its first run, if recurring) starts."""
    # C16 7.9 Relative: from a start point the charge point determines (the transaction's
    # start). C16 7.13: without startSchedule a schedule is relative to the start of charging.
    if profile.kind == "Relative" or profile.schedule.start is None:
        return relative_start
    return _seconds(profile.schedule.start)


def _cycle_start(profile: Profile, t: int, relative_start: int) -> tuple[int, int | None] | None:
    """The start of the schedule run in force at `t` and how long that run lasts (None: no
    end), or None when no run has started by `t`."""
    schedule = profile.schedule
    anchor = _anchor(profile, relative_start)
    if t < anchor:
        return None
    if profile.recurrency is None:
        return anchor, schedule.duration
    # C16 7.9 Recurring: the schedule restarts every day/week at its first period. C16 5.16.4
    # and C16E 3.43/3.44: periods or duration beyond the recurrence period are not executed.
    every = _RECURRENCE_SECONDS[profile.recurrency]
    start = anchor + (t - anchor) // every * every
    return start, every if schedule.duration is None else min(schedule.duration, every)


def _in_force(profile: Profile, t: int, relative_start: int) -> Period | None:
    """The period of `profile` in force at `t`, or None when the profile is not in force."""
    if profile.valid_from is not None and t < _seconds(profile.valid_from):
        return None
    if profile.valid_to is not None and t >= _seconds(profile.valid_to):
        return None
    run = _cycle_start(profile, t, relative_start)
    if run is None:
        return None
    start, duration = run
    offset = t - start
    # C16 5.16.4: after the duration the profile is no longer in force; a duration longer than
    # the periods keeps the last period's limit until it ends.
    if duration is not None and offset >= duration:
        return None
    current = None
    for period in profile.schedule.periods:
        if period.start > offset:
            break
        current = period
    return current


def _convert(period: Period, source: Unit, target: Unit, voltage: float, phases: int) -> float:
    """The period's limit in `target`: W = A x voltage x phases (C16 7.12; numberPhases, or
    `phases` when the period has none)."""
    if source == target:
        return period.limit
    factor = voltage * (period.number_phases or phases)
    return period.limit * factor if target == "W" else period.limit / factor


def _prevailing(
    profiles: Iterable[Profile], purpose: Purpose, t: int, relative_start: int
) -> tuple[Profile, Period] | None:
    """The profile of `purpose` that prevails at `t`, with its period (C16 3.13.2)."""
    best: tuple[Profile, Period] | None = None
    for profile in profiles:
        if profile.purpose != purpose:
            continue
        if best is not None and profile.stack_level < best[0].stack_level:
            continue
        period = _in_force(profile, t, relative_start)
        if period is None:
            continue
        # At the same stack level the later profile wins: a connector's own TxDefaultProfile
        # replaces the one of connector 0 for that connector (C16 3.13.1), and the caller lists
        # connector 0's profiles first.
        best = (profile, period)
    return best


def _limit(
    profiles: Sequence[Profile],
    t: int,
    relative_start: int,
    unit: Unit,
    voltage: float,
    phases: int,
) -> Limit | None:
    found: list[tuple[Profile, Period]] = []
    # C16 3.13.1: a TxProfile overrules the TxDefaultProfile.
    tx = _prevailing(profiles, "Tx", t, relative_start) or _prevailing(
        profiles, "TxDefault", t, relative_start
    )
    if tx is not None:
        found.append(tx)
    for purpose in _MAX_PURPOSES:
        prevailing = _prevailing(profiles, purpose, t, relative_start)
        if prevailing is not None:
            found.append(prevailing)
    if not found:
        return None
    # C16 3.13.3: the minimum of the prevailing limits. A charger cannot use more phases than
    # any of them allows either.
    value = min(_convert(p, prof.schedule.unit, unit, voltage, phases) for prof, p in found)
    known = [p.number_phases for _, p in found if p.number_phases is not None]
    min_rate = None
    if tx is not None and (floor := tx[0].schedule.min_rate) is not None:
        lowest = Period(0, floor, tx[1].number_phases)
        min_rate = _convert(lowest, tx[0].schedule.unit, unit, voltage, phases)
    return Limit(value, min(known) if known else None, min_rate)


def limit_at(
    profiles: Sequence[Profile],
    t: datetime.datetime,
    tx_start: datetime.datetime | None = None,
    *,
    unit: Unit = "A",
    voltage: float = NOMINAL_VOLTAGE,
    phases: int = _DEFAULT_PHASES,
) -> Limit | None:
    """The limit in force at `t` for one connector/EVSE, in `unit`, or None when no profile
    constrains charging then (C16 3.13.6: charge as if no constraints apply).

    `profiles` are those that apply to the connector (see the module docstring). Relative
    profiles (and schedules without startSchedule) start at `tx_start`; without a transaction,
    at `t` itself: the limit a transaction starting now would get. `voltage` and `phases`
    convert between A and W where a period has no numberPhases."""
    now = _seconds(t)
    relative_start = now if tx_start is None else _seconds(tx_start)
    return _limit(profiles, now, relative_start, unit, voltage, phases)


def _breakpoints(profile: Profile, lo: int, hi: int, relative_start: int) -> Iterable[int]:
    """The instants at which `profile` may change the limit in force: all of them within
    [lo, hi), and some outside it (the caller drops those)."""
    schedule = profile.schedule
    for bound in (profile.valid_from, profile.valid_to):
        if bound is not None:
            yield _seconds(bound)
    anchor = _anchor(profile, relative_start)
    if profile.recurrency is None:
        starts = [anchor]
        duration = schedule.duration
    else:
        every = _RECURRENCE_SECONDS[profile.recurrency]
        first = max(0, (lo - anchor) // every)
        starts = [anchor + k * every for k in range(first, (hi - anchor) // every + 1)]
        duration = every if schedule.duration is None else min(schedule.duration, every)
    for start in starts:
        for period in schedule.periods:
            yield start + period.start
        if duration is not None:
            yield start + duration


def _floor_tenth(value: float) -> float:
    """Down to one decimal, the precision a limit has on the wire (C16 7.14); down, so the
    composite never exceeds a limit (C16 3.13.3). The epsilon keeps 6.3 from becoming 6.2."""
    if value == UNLIMITED:
        return value
    return math.floor(value * 10 + 1e-6) / 10


def composite_schedule(
    profiles: Sequence[Profile],
    start: datetime.datetime,
    duration: int,
    unit: Unit,
    *,
    tx_start: datetime.datetime | None = None,
    voltage: float = NOMINAL_VOLTAGE,
    phases: int = _DEFAULT_PHASES,
    local_limit: float = UNLIMITED,
) -> Schedule:
    """The composite schedule of one connector/EVSE from `start` to `start + duration` seconds,
    in `unit` (C16 5.7, 3.13.3; 2.x GetCompositeSchedule).

    At every instant the limit is that of the prevailing TxProfile, else TxDefaultProfile, at
    most that of the prevailing ChargePointMax/ChargingStationMax and external-constraints
    profiles, and at most `local_limit` (the connector's own rating or a local controller's
    share, in `unit`; C16 5.7: local limits might be taken into account); `UNLIMITED` where
    nothing constrains charging. Limits are converted between A and W with `voltage` x the
    number of phases, and rounded down to one decimal. Relative profiles start at `tx_start`,
    or at `start` without a transaction. The result's `start` is `start` to the second, its
    periods start at offsets from it, consecutive equal periods are merged, and its duration
    is `duration`."""
    if duration <= 0:
        raise ValueError("the composite schedule needs a positive duration")
    lo = _seconds(start)
    hi = lo + duration
    relative_start = lo if tx_start is None else _seconds(tx_start)
    instants = {lo}
    for profile in profiles:
        instants.update(b for b in _breakpoints(profile, lo, hi, relative_start) if lo < b < hi)
    periods: list[Period] = []
    for t in sorted(instants):
        limit = _limit(profiles, t, relative_start, unit, voltage, phases)
        value = local_limit if limit is None else min(limit.value, local_limit)
        period = Period(t - lo, _floor_tenth(value), None if limit is None else limit.number_phases)
        if periods and (periods[-1].limit, periods[-1].number_phases) == (
            period.limit,
            period.number_phases,
        ):
            continue
        periods.append(period)
    return Schedule(tuple(periods), unit, duration, _from_seconds(lo))


def _limit_in(schedule: Schedule, offset: int) -> float:
    """The limit of `schedule` at `offset` seconds from its start."""
    current = schedule.periods[0].limit
    for period in schedule.periods:
        if period.start > offset:
            break
        current = period.limit
    return current


def station_schedule(parts: Sequence[Schedule], cap: Schedule | None = None) -> Schedule:
    """The composite of the whole station (1.6 connector 0, 2.x EVSE 0: "the total expected
    power or current the Charge Point expects to consume from the grid", C16 5.7) from the
    composite schedules of its connectors/EVSEs (`parts`, from `composite_schedule` with the
    same start, duration and unit): at every instant the sum of their limits, at most `cap`
    (the composite of the station-wide maximum profiles, same start and unit) where given."""
    if not parts:
        raise ValueError("a station has at least one connector")
    first = parts[0]
    schedules = [*parts, *([] if cap is None else [cap])]
    offsets = sorted({period.start for schedule in schedules for period in schedule.periods})
    periods: list[Period] = []
    for offset in offsets:
        total = sum(_limit_in(part, offset) for part in parts)
        if cap is not None:
            total = min(total, _limit_in(cap, offset))
        value = _floor_tenth(total)
        if periods and periods[-1].limit == value:
            continue
        periods.append(Period(offset, value))
    return Schedule(tuple(periods), first.unit, first.duration, first.start)


_PURPOSES: dict[str, Purpose] = {
    "ChargePointMaxProfile": "ChargePointMax",
    "ChargingStationMaxProfile": "ChargePointMax",
    "ChargingStationExternalConstraints": "ExternalConstraints",
    "TxDefaultProfile": "TxDefault",
    "TxProfile": "Tx",
}
_KINDS: dict[str, Kind] = {"Absolute": "Absolute", "Recurring": "Recurring", "Relative": "Relative"}
_RECURRENCIES: dict[str, Recurrency] = {"Daily": "Daily", "Weekly": "Weekly"}
_UNITS: dict[str, Unit] = {"A": "A", "W": "W"}


class Unsupported(ValueError):
    """A profile valid by the schema that this charger cannot execute; `reason` is the
    ReasonCode of A21 appendix 5 that says why (UnsupportedPurpose, UnsupportedKind, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# 2.1 ChargingSchedulePeriodType fields for V2X, setpoints and per-phase limits: an AC charger
# that only limits the current it offers cannot execute a period that sets one of them.
_V21_PERIOD_FIELDS = (
    "limit_l2",
    "limit_l3",
    "discharge_limit",
    "discharge_limit_l2",
    "discharge_limit_l3",
    "setpoint",
    "setpoint_l2",
    "setpoint_l3",
    "setpoint_reactive",
    "setpoint_reactive_l2",
    "setpoint_reactive_l3",
    "v2x_baseline",
    "v2x_freq_watt_curve",
    "v2x_signal_watt_curve",
)
# 2.1 ChargingScheduleType fields that change what the schedule means (limits by state of
# charge, local time, a random start delay): refused rather than executed wrongly.
_V21_SCHEDULE_FIELDS = ("limit_at_soc", "randomized_delay")


def _unset(value: object) -> bool:
    return value is UNSET or value is None


def _check_v21(wire: _WireSchedule) -> None:
    """Refuse what a 2.1 schedule may carry beyond the 1.6/2.0.1 model (absent in those)."""
    for name in _V21_SCHEDULE_FIELDS:
        if not _unset(getattr(wire, name, UNSET)):
            raise Unsupported("InvalidSchedule", f"chargingSchedule.{name} is not supported")
    if getattr(wire, "use_local_time", False) is True:
        raise Unsupported("InvalidSchedule", "useLocalTime is not supported")
    for period in wire.charging_schedule_period:
        for name in _V21_PERIOD_FIELDS:
            if not _unset(getattr(period, name, UNSET)):
                raise Unsupported("InvalidSchedule", f"period field {name} is not supported")
        mode = getattr(period, "operation_mode", UNSET)
        if not _unset(mode) and getattr(mode, "value", mode) != "ChargingOnly":
            raise Unsupported("InvalidSchedule", f"operationMode {getattr(mode, 'value', mode)}")
        if _unset(period.limit):
            raise Unsupported("InvalidSchedule", "a period without a limit is not supported")


def _from_wire(
    profile: V16ChargingProfile | V201ChargingProfile, profile_id: int, wire: _WireSchedule
) -> Profile:
    """The fields 1.6 and 2.x share, under the same snake_case names."""
    purpose = _PURPOSES.get(profile.charging_profile_purpose.value)
    if purpose is None:
        # 2.1 PriorityCharging and LocalGeneration.
        raise Unsupported("UnsupportedPurpose", f"purpose {profile.charging_profile_purpose.value}")
    kind = _KINDS.get(profile.charging_profile_kind.value)
    if kind is None:  # 2.1 Dynamic (updated with UpdateDynamicSchedule / PullDynamicSchedule)
        raise Unsupported("UnsupportedKind", f"kind {profile.charging_profile_kind.value}")
    _check_v21(wire)
    schedule = Schedule(
        tuple(
            Period(p.start_period, p.limit, None if p.number_phases is UNSET else p.number_phases)
            for p in wire.charging_schedule_period
        ),
        _UNITS[wire.charging_rate_unit.value],
        None if wire.duration is UNSET else wire.duration,
        None if wire.start_schedule is UNSET else wire.start_schedule,
        None if wire.min_charging_rate is UNSET else wire.min_charging_rate,
    )
    return Profile(
        id=profile_id,
        stack_level=profile.stack_level,
        purpose=purpose,
        kind=kind,
        schedule=schedule,
        recurrency=(
            None
            if profile.recurrency_kind is UNSET
            else _RECURRENCIES[profile.recurrency_kind.value]
        ),
        valid_from=None if profile.valid_from is UNSET else profile.valid_from,
        valid_to=None if profile.valid_to is UNSET else profile.valid_to,
        transaction_id=None if profile.transaction_id is UNSET else str(profile.transaction_id),
    )


def from_v16(profile: V16ChargingProfile) -> Profile:
    """A `Profile` from a 1.6 csChargingProfiles (SetChargingProfile.req, RemoteStartTransaction).
    Raises ValueError for a profile the spec does not allow."""
    return _from_wire(profile, profile.charging_profile_id, profile.charging_schedule)


def from_v201(profile: V201ChargingProfile) -> Profile:
    """A `Profile` from a 2.0.1 ChargingProfileType, with its first chargingSchedule: the others
    are ISO 15118 alternatives offered to the EV, and the EV chooses among them. Raises
    ValueError for a profile the spec does not allow."""
    return _from_wire(profile, profile.id, profile.charging_schedule[0])
