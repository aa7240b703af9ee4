"""Reservations, as both simulated stations keep them (1.6 Reservation profile, C16 3.11 and
5.13; 2.x functional block H, H01-H04).

A `Reservation` holds a target for an id token until it expires: one connector (1.6) or one
EVSE (2.x), or any of them (target 0: 1.6 connectorId 0, 2.x a ReserveNowRequest without
evseId, possibly for one connectorType). The `ReservationBook` keeps a station's reservations
in its `StationData.state` (they survive a restart and a power cut), expires them at their
expiry time by the station's clock (a timer on the event loop, re-armed when it fires before
the clock got there), and answers the questions both stations ask:

- which targets a reservation of any target holds: the station keeps, at any time during its
  validity, a target free for each such reservation (C16 5.13 "one connector remains
  available for the reserved idTag"; H01.FR.20 / H01.FR.24: when the free EVSEs are as many as
  those reservations, they are all Reserved). With connector types this is a matching of
  reservations to free targets of their type (`ReservationBook.feasible`);
- whether an id token may use a target, and which reservation that use consumes (C16 5.13:
  "refuse charging for all incoming idTags on the reserved connector, except when the incoming
  idTag or the parent idTag match the idTag or parent idTag of the reservation"; H03: the
  idToken or its groupIdToken).

What the station does when a reservation ends (a StatusNotification, a ReservationStatusUpdate)
is the station's: the book tells it through `expired`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import msgspec

__all__ = ["Reservation", "ReservationBook"]

# The name of the reservations in StationData.state.
STATE = "reservations"
# A timer never waits longer than this: a clock the station's owner moves (a test clock, a time
# sync) is read again at least this often while a reservation is pending.
_MAX_WAIT = 60.0


class Reservation(msgspec.Struct, kw_only=True, frozen=True):
    """One reservation. `target`: the connector (1.6) or EVSE (2.x) it reserves, 0 for any;
    `group`: the 1.6 parentIdTag or the 2.x groupIdToken's idToken; `token_type`: the 2.x
    idToken's type; `connector_type`: the 2.x connectorType a reservation of any EVSE asks."""

    id: int
    expires: datetime
    id_token: str
    target: int = 0
    group: str | None = None
    token_type: str | None = None
    connector_type: str | None = None

    def matches(self, token: str, group: str | None, token_type: str | None = None) -> bool:
        """Whether an incoming id token (with the parent / group id it is known to have) may
        use this reservation: the token or its parent / group is the reservation's token or
        parent / group (C16 5.13; H03). Id tokens are case-insensitive (C16 7.15 CiString20;
        2.x IdTokenType.idToken CiString36); a reserved 2.x token's type must match too."""
        mine = {self.id_token.casefold()} | ({self.group.casefold()} if self.group else set())
        if token.casefold() == self.id_token.casefold():
            if self.token_type is None or token_type is None or token_type == self.token_type:
                return True
        elif token.casefold() in mine:
            return True
        return group is not None and group.casefold() in mine


class ReservationBook:
    """A station's reservations (see the module docstring).

    - `data`: the station's StationData (`state["reservations"]`); `clock`: the station's
      clock; `log`: its logger, `name`: how its log lines name it (may be "" when the logger
      prefixes them).
    - `expired`: told (synchronously, on the event loop) of the reservations that reached their
      expiry time, once they are out of the book.
    - `wrote`: given the commit future of each write, for the station's write barrier."""

    def __init__(
        self,
        data: Any,
        clock: Callable[[], datetime],
        *,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger],
        name: str,
        expired: Callable[[list[Reservation]], None],
        wrote: Callable[[asyncio.Future[None]], Any],
    ) -> None:
        self._data = data
        self._clock = clock
        self._log = log
        self._prefix = f"{name}: " if name else ""
        self._expired = expired
        self._wrote = wrote
        self._timer: asyncio.TimerHandle | None = None
        self._reservations: dict[int, Reservation] = {}
        stored = data.state.get(STATE)
        for record in stored if isinstance(stored, list) else []:
            try:
                reservation = msgspec.convert(record, Reservation)
                if reservation.expires.tzinfo is None:
                    raise ValueError("expiry time without a time zone")
            except (TypeError, ValueError, msgspec.ValidationError) as error:
                self._log.error("%sstored reservation %r ignored: %s", self._prefix, record, error)
                continue
            self._reservations[reservation.id] = reservation
        self.arm()

    # -- the book ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._reservations)

    def __iter__(self) -> Any:
        return iter(list(self._reservations.values()))

    def get(self, reservation_id: int) -> Reservation | None:
        """The reservation with this id, if any."""
        return self._reservations.get(reservation_id)

    def on(self, target: int) -> Reservation | None:
        """The reservation of this very target (not one of any target), if any."""
        return next((r for r in self._reservations.values() if r.target == target), None)

    def of_any(self) -> list[Reservation]:
        """The reservations of any target, oldest first."""
        return [r for r in self._reservations.values() if r.target == 0]

    def reserve(self, reservation: Reservation) -> None:
        """Add `reservation`, replacing the one with its id (C16 5.13, H01: same id)."""
        self._reservations.pop(reservation.id, None)
        self._reservations[reservation.id] = reservation
        self._save()
        self.arm()

    def remove(self, reservation_id: int) -> Reservation | None:
        """Take a reservation out of the book (cancelled, used, removed); None if absent."""
        reservation = self._reservations.pop(reservation_id, None)
        if reservation is not None:
            self._save()
            self.arm()
        return reservation

    def expire_due(self) -> list[Reservation]:
        """Take out the reservations whose expiry time the clock has reached, tell `expired`,
        and return them (C16 5.13 "when the time specified in expiryDate is reached"; H04)."""
        now = self._clock()
        due = [r for r in self._reservations.values() if r.expires <= now]
        for reservation in due:
            del self._reservations[reservation.id]
            self._log.info(
                "%sreservation %d of %s expired (%s)",
                self._prefix,
                reservation.id,
                reservation.id_token,
                reservation.expires.isoformat(),
            )
        if due:
            self._save()
            self._expired(due)
        self.arm()
        return due

    def arm(self) -> None:
        """(Re)arm the expiry timer for the next expiry (nothing without a running loop: the
        next call from one arms it)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._reservations:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        first = min(r.expires for r in self._reservations.values())
        wait = (first - self._clock()).total_seconds()
        self._timer = loop.call_later(min(max(wait, 0.0), _MAX_WAIT), self._fire)

    def close(self) -> None:
        """Stop the expiry timer (the reservations stay in the data)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        try:
            self.expire_due()
        except Exception:  # a station callback's fault must not stop the expiry of the rest
            self._log.exception("%sreservation expiry failed", self._prefix)
            self.arm()

    def _save(self) -> None:
        records = [msgspec.to_builtins(r) for r in self._reservations.values()]
        self._wrote(self._data.set_state(STATE, records or None))

    # -- what the reservations hold ---------------------------------------------------------

    @staticmethod
    def feasible(reservations: Iterable[Reservation], free: Mapping[int, str | None]) -> bool:
        """Whether each reservation of any target can have a free target of its own: a
        matching of `reservations` to `free` (target -> its connector type), a reservation
        with a connector type only to targets of that type."""
        wanted = list(reservations)
        if len(wanted) > len(free):
            return False
        owner: dict[int, int] = {}  # target -> index in wanted

        def place(index: int, seen: set[int]) -> bool:
            kind = wanted[index].connector_type
            for target, target_kind in free.items():
                if target in seen or (kind is not None and kind != target_kind):
                    continue
                seen.add(target)
                if target not in owner or place(owner[target], seen):
                    owner[target] = index
                    return True
            return False

        return all(place(index, set()) for index in range(len(wanted)))

    def held(self, free: Mapping[int, str | None]) -> set[int]:
        """The free targets the reservations of any target need: Reserved (H01.FR.20,
        H01.FR.24), and usable only by their tokens."""
        waiting = self.of_any()
        if not waiting:
            return set()
        return {
            target
            for target in free
            if not self.feasible(waiting, {t: k for t, k in free.items() if t != target})
        }

    def decide(
        self,
        target: int,
        kind: str | None,
        token: str,
        group: str | None,
        free: Mapping[int, str | None],
        token_type: str | None = None,
    ) -> tuple[Reservation | None, str]:
        """May `token` (with parent / group `group`) charge at `target` (of connector type
        `kind`)? Returns (the reservation this consumes, None when none; why it may not, ""
        when it may). `free`: the free targets other than `target` (target -> type)."""
        own = self.on(target)
        if own is not None:
            if own.matches(token, group, token_type):
                return own, ""
            return None, f"it is reserved for another id token (reservation {own.id})"
        for reservation in self.of_any():
            usable = reservation.connector_type is None or reservation.connector_type == kind
            if usable and reservation.matches(token, group, token_type):
                return reservation, ""
        others = {t: k for t, k in free.items() if t != target}
        if not self.feasible(self.of_any(), others):
            return None, "it is held for a reservation of any connector"
        return None, ""
