"""The charging profiles a station has installed, and the limit they put on each connector/EVSE.

Shared by `Station16` (connectors) and `StationV2` (EVSEs); "EVSE" below means either, with 0
the station as a whole. Two parts:

- `ProfileBook`: the installed profiles, kept in `StationData.state` (they survive a restart:
  C16 3.13.6 and 2.x K01 have the station go on with the profiles it received), with the rules
  of installing (`refusal`, `install`: C16 5.16, 3.13.1, 3.13.2; 2.x K01), clearing (`clear`:
  C16 5.5; 2.x K10), what applies to an EVSE (`applying_to`) and the end of a transaction
  (`end_transaction`: its TxProfiles go, C16 3.13.1, 2.x K01).
- `LimitKeeper`: applies the limit in force on every EVSE (`smart_charging.limit_at`)
  whenever it may change: after a change of the book or of a transaction (`refresh`), and at
  the next boundary of a schedule in force, with a timer on the event loop that reads the
  station's clock when it fires (as the meter timers do).

The book keeps each profile as it came on the wire (JSON builtins, what GetChargingProfiles
reports and what a restart reads back) next to its `smart_charging.Profile`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .smart_charging import (
    UNLIMITED,
    Limit,
    Profile,
    Purpose,
    Schedule,
    Unit,
    composite_schedule,
    limit_at,
    station_schedule,
)
from .store import StationData

__all__ = [
    "PROFILES_STATE",
    "Installed",
    "LimitKeeper",
    "ProfileBook",
    "ProfileLimits",
]

PROFILES_STATE = "charging_profiles"
"""The name of the book in `StationData.state`: a list of {"evse": id, "profile": wire}."""

# How far ahead the timer looks for the next change of a limit; with none in that time it
# looks again then (a profile without end has no next change at all).
_HORIZON = 86_400
# The purposes that limit the station as a whole (C16 3.13.1; K01).
_STATION_PURPOSES = ("ChargePointMax", "ExternalConstraints")


@dataclass(frozen=True)
class ProfileLimits:
    """What the station accepts (1.6 ChargeProfileMaxStackLevel, ChargingScheduleMaxPeriods,
    ChargingScheduleAllowedChargingRateUnit, MaxChargingProfilesInstalled: C16 9.4; 2.x
    SmartChargingCtrlr.ProfileStackLevel, PeriodsPerSchedule, RateUnit, Entries maxLimit)."""

    max_stack_level: int = 8
    max_periods: int = 48
    units: tuple[Unit, ...] = ("A", "W")
    max_installed: int = 64


@dataclass(frozen=True)
class Installed:
    """One installed profile: where (`evse`, 0: the station), what (`profile`) and how it
    came (`wire`: the charging profile's JSON builtins)."""

    evse: int
    profile: Profile
    wire: dict[str, Any]


class ProfileBook:
    """The installed charging profiles of one station, in `data.state[PROFILES_STATE]`.

    `parse` builds a `Profile` and the wire builtins back from what the book kept (a
    version's message type: see the stations); `track` is told of every write's commit (the
    station's `write_barrier`: an answer never leaves before what it acknowledges is on disk).
    `duplicates`: what a profile with the stackLevel and purpose of another one on the same
    EVSE does: "replace" it (C16 3.13.2) or be "refused" when their validity overlaps (2.x:
    reason DuplicateProfile, A201 appendix 5)."""

    def __init__(
        self,
        data: StationData,
        parse: Callable[[Any], Profile],
        track: Callable[[asyncio.Future[None]], object],
        log: logging.Logger | logging.LoggerAdapter[logging.Logger],
        *,
        name: str = "",
        duplicates: str = "replace",
    ) -> None:
        self._data = data
        self._track = track
        self._log = log
        self._name = f"{name}: " if name else ""
        self.duplicates = duplicates
        self._entries: list[Installed] = []
        stored = data.state.get(PROFILES_STATE)
        for item in stored if isinstance(stored, list) else []:
            try:
                evse, wire = int(item["evse"]), item["profile"]
                self._entries.append(Installed(evse, parse(wire), wire))
            except (KeyError, TypeError, ValueError) as error:
                self._log.error("%sstored charging profile ignored: %s", self._name, error)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> list[Installed]:
        """The installed profiles, in the order they were installed."""
        return list(self._entries)

    def refusal(
        self,
        evse: int,
        profile: Profile,
        limits: ProfileLimits,
        *,
        evses: int,
        transaction: str | None,
    ) -> tuple[str, str]:
        """Why `profile` cannot be installed on `evse` of a station with EVSEs 1..`evses`,
        as (A201 reason code, explanation), or ("", "") when it can. `transaction`: the id of
        the transaction running on `evse` (None: none; "" for one whose id the Central
        System has not given yet)."""
        if not 0 <= evse <= evses:
            return "UnknownEvse", f"no EVSE/connector {evse}"
        purpose = profile.purpose
        # C16 3.13.1 (ChargePointMaxProfile only at connector 0, TxProfile only > 0); K01.
        if purpose == "ChargePointMax" and evse != 0:
            return "InvalidProfile", "a station maximum profile goes on EVSE/connector 0 only"
        if purpose == "ExternalConstraints":
            return "InvalidProfile", "external constraints are set by an external system"
        if purpose == "Tx":
            if evse == 0:
                return "InvalidProfile", "a TxProfile goes on an EVSE/connector, not 0"
            # C16 3.13.1, 5.16.4: no TxProfile without a transaction on its connector; the
            # transactionId, when given, must be that transaction's (C16 5.16; K01).
            if transaction is None:
                return "TxNotFound", f"no transaction runs on {evse}"
            if profile.transaction_id is not None and profile.transaction_id != transaction:
                return "TxNotFound", (
                    f"transaction {profile.transaction_id} does not run on {evse}"
                    f" ({transaction or 'its id not known yet'} does)"
                )
        elif profile.transaction_id is not None:
            return "InvalidProfile", "only a TxProfile names a transaction"
        if profile.stack_level > limits.max_stack_level:
            return "InvalidStackLevel", (
                f"stackLevel {profile.stack_level} above {limits.max_stack_level}"
            )
        schedule = profile.schedule
        if len(schedule.periods) > limits.max_periods:
            return "InvalidSchedule", (
                f"{len(schedule.periods)} periods, at most {limits.max_periods}"
            )
        if schedule.unit not in limits.units:
            return "UnsupportedRateUnit", f"chargingRateUnit {schedule.unit}"
        replaced = self._replaced(evse, profile)
        if self.duplicates == "refused":
            clash = [e for e in replaced if e.profile.id != profile.id and _overlap(e, profile)]
            if clash:
                return "DuplicateProfile", (
                    f"profile {clash[0].profile.id} has the same stackLevel and purpose"
                )
        if len(self._entries) - len(replaced) + 1 > limits.max_installed:
            return "InvalidProfile", f"{limits.max_installed} profiles are installed already"
        return "", ""

    def install(self, evse: int, profile: Profile, wire: dict[str, Any]) -> list[Installed]:
        """Install `profile` on `evse` (checked with `refusal` first): it replaces the profile
        with its id (C16 5.16.3/5.16.4; K01) and, with `duplicates` "replace", the one with its
        stackLevel and purpose on the same EVSE (C16 3.13.2; C16 3.13.1: a TxDefaultProfile
        on a connector replaces connector 0's only for that connector, so that one stays).
        Returns the profiles it replaced."""
        replaced = self._replaced(evse, profile)
        if self.duplicates == "refused":
            replaced = [e for e in replaced if e.profile.id == profile.id]
        self._entries = [e for e in self._entries if e not in replaced]
        self._entries.append(Installed(evse, profile, wire))
        self._save()
        for entry in replaced:
            self._log.info(
                "%scharging profile %d on %d replaced", self._name, entry.profile.id, entry.evse
            )
        self._log.info(
            "%scharging profile %d installed on %d (%s, stack level %d)",
            self._name,
            profile.id,
            evse,
            profile.purpose,
            profile.stack_level,
        )
        return replaced

    def select(
        self,
        *,
        profile_ids: Iterable[int] | None = None,
        evse: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
    ) -> list[Installed]:
        """The installed profiles that match every criterion given (C16 5.5; K09, K10)."""
        ids = None if profile_ids is None else set(profile_ids)
        return [
            e
            for e in self._entries
            if (ids is None or e.profile.id in ids)
            and (evse is None or e.evse == evse)
            and (purpose is None or e.profile.purpose == purpose)
            and (stack_level is None or e.profile.stack_level == stack_level)
        ]

    def clear(self, entries: Sequence[Installed], why: str) -> None:
        """Remove `entries` (from `select`)."""
        if not entries:
            return
        self._entries = [e for e in self._entries if e not in entries]
        self._save()
        for entry in entries:
            self._log.info(
                "%scharging profile %d on %d cleared (%s)",
                self._name,
                entry.profile.id,
                entry.evse,
                why,
            )

    def end_transaction(self, evse: int) -> None:
        """The transaction on `evse` ended: its TxProfiles go (C16 3.13.1; K01)."""
        self.clear(self.select(evse=evse, purpose="Tx"), "its transaction ended")

    def applying_to(self, evse: int) -> list[Profile]:
        """The profiles that apply to `evse`: the station's (on 0) first, then its own, in
        the order `smart_charging` expects. For 0 itself: the station's only."""
        station = [e.profile for e in self._entries if e.evse == 0]
        own = [e.profile for e in self._entries if e.evse == evse] if evse else []
        return station + own

    def _replaced(self, evse: int, profile: Profile) -> list[Installed]:
        return [
            e
            for e in self._entries
            if e.profile.id == profile.id
            or (
                e.evse == evse
                and e.profile.purpose == profile.purpose
                and e.profile.stack_level == profile.stack_level
            )
        ]

    def _save(self) -> None:
        stored = [{"evse": e.evse, "profile": e.wire} for e in self._entries]
        self._track(self._data.set_state(PROFILES_STATE, stored))


def _overlap(entry: Installed, profile: Profile) -> bool:
    """Whether the validity periods of two profiles overlap (A201 DuplicateProfile)."""
    lo = max(_bound(entry.profile.valid_from, -math.inf), _bound(profile.valid_from, -math.inf))
    hi = min(_bound(entry.profile.valid_to, math.inf), _bound(profile.valid_to, math.inf))
    return lo < hi


def _value(limit: Limit | None) -> float:
    return math.inf if limit is None else limit.value


def _bound(instant: datetime | None, default: float) -> float:
    return default if instant is None else instant.timestamp()


class LimitKeeper:
    """Applies the limit in force to every EVSE of a station, now and at each boundary.

    - `book`, `evses`: the profiles, and the EVSE/connector ids (1..N) to limit.
    - `clock`: the station's clock; `tx_start(evse)`: when the transaction on it started
      (None: none runs; Relative profiles start then, C16 7.9).
    - `apply(evse, limit)`: carry out the limit in force (amps per phase; None: none).
    - `spawn(coro, what)`: run the timer as one of the station's tasks.
    - `voltage`, `phases`: to convert a W limit into amps per phase."""

    def __init__(
        self,
        book: ProfileBook,
        evses: Sequence[int],
        clock: Callable[[], datetime],
        tx_start: Callable[[int], datetime | None],
        apply: Callable[[int, Limit | None], None],
        spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[Any]],
        *,
        voltage: float,
        phases: int,
    ) -> None:
        self._book = book
        self._evses = tuple(evses)
        self._clock = clock
        self._tx_start = tx_start
        self._apply = apply
        self._spawn = spawn
        self._voltage = voltage
        self._phases = phases
        self._timer: asyncio.Task[Any] | None = None
        self.limits: dict[int, Limit | None] = {}

    def limit(self, evse: int) -> Limit | None:
        """The limit in force on `evse` now, in amps per phase (None: none)."""
        return limit_at(
            self._book.applying_to(evse),
            self._clock(),
            self._tx_start(evse),
            unit="A",
            voltage=self._voltage,
            phases=self._phases,
        )

    def refresh(self) -> None:
        """Compute the limit of every EVSE now, apply it, and set the timer for the next
        change. Outside a running event loop (a station being built) the limits apply and
        the timer waits for the next refresh."""
        limits = self._shared({evse: self.limit(evse) for evse in self._evses})
        for evse, limit in limits.items():
            self.limits[evse] = limit
            self._apply(evse, limit)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._timer is not None and self._timer is not asyncio.current_task():
            self._timer.cancel()
        self._timer = None
        seconds = self._next_change()
        if seconds is not None:
            self._timer = self._spawn(self._wait(seconds), "charging limits")

    def _shared(self, limits: dict[int, Limit | None]) -> dict[int, Limit | None]:
        """`limits` with the station's maximum shared among the EVSEs whose transaction runs.

        C16 3.13.1: ChargePointMaxProfile (2.x ChargingStationMaxProfile) limits "the overall
        Charge Point", so the EVSEs charging together get no more than it in total (C16 5.7:
        connector 0's composite is what the station "expects to consume from the grid"). It
        is shared by water-filling: an EVSE whose own limit is below an equal share keeps it,
        and what it leaves goes to the others."""
        maxima = [p for p in self._book.applying_to(0) if p.purpose in _STATION_PURPOSES]
        active = [e for e in self._evses if self._tx_start(e) is not None]
        if not maxima or len(active) < 2:
            return limits  # one EVSE alone already gets at most the maximum (limit_at)
        station = limit_at(
            maxima, self._clock(), unit="A", voltage=self._voltage, phases=self._phases
        )
        if station is None:
            return limits
        shared = dict(limits)
        remaining = station.value
        own = {e: _value(limits[e]) for e in active}
        for index, evse in enumerate(sorted(active, key=own.__getitem__)):
            share = remaining / (len(active) - index)
            if own[evse] <= share:
                remaining -= own[evse]
                continue
            before = limits[evse]
            shared[evse] = Limit(
                math.floor(share * 10) / 10,  # to the wire's precision, down (C16 7.14)
                station.number_phases if before is None else before.number_phases,
                None if before is None else before.min_rate,
            )
            remaining -= share
        return shared

    def stop(self) -> None:
        """Cancel the timer (the station shuts down)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _wait(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.refresh()

    def _next_change(self) -> float | None:
        """Seconds from now until the limit of some EVSE may change, or None: never."""
        if not len(self._book):
            return None
        now = self._clock()
        nearest = _HORIZON
        for evse in self._evses:
            schedule = composite_schedule(
                self._book.applying_to(evse),
                now,
                _HORIZON,
                "A",
                tx_start=self._tx_start(evse),
                voltage=self._voltage,
                phases=self._phases,
            )
            if len(schedule.periods) > 1:
                nearest = min(nearest, schedule.periods[1].start)
        # The composite starts at `now` to the second: the change is that far from it.
        due = now.replace(microsecond=0) + timedelta(seconds=nearest)
        return max(0.0, (due - now).total_seconds())

    def composite(self, evse: int, duration: int, unit: Unit, rating: float) -> Schedule:
        """The composite schedule of `evse` from now for `duration` seconds in `unit` (C16
        5.7; K08), at most the EVSE's `rating` (in `unit`: C16 5.7, local limits). For 0, the
        whole station: the sum of its EVSEs' composites, at most its station-wide maximum
        profiles (C16 5.7: what it "expects to consume from the grid")."""
        now = self._clock()

        def of(evse: int, profiles: Sequence[Profile], local: float) -> Schedule:
            return composite_schedule(
                profiles,
                now,
                duration,
                unit,
                tx_start=self._tx_start(evse),
                voltage=self._voltage,
                phases=self._phases,
                local_limit=local,
            )

        if evse:
            return of(evse, self._book.applying_to(evse), rating)
        parts = [of(e, self._book.applying_to(e), rating) for e in self._evses]
        maxima = [p for p in self._book.applying_to(0) if p.purpose in _STATION_PURPOSES]
        return station_schedule(parts, of(0, maxima, UNLIMITED))
