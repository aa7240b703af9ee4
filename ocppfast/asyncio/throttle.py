"""Brute-force throttling of HTTP Basic authentication on the CSMS's WebSocket endpoint.

A password guesser gets a small budget of failed authentications, counted separately per
source address and per station identity, within a sliding window. Past the budget, further
handshakes from that address, or for that identity, are answered HTTP 429 Too Many Requests
with a Retry-After header (RFC 6585 4) *before* the password is checked, so that a throttled
guess teaches nothing; each failure while over budget doubles the wait, up to a cap.

Why both keys: per address alone lets a botnet guess one station's password from many
addresses; per identity alone would let anyone lock a station out by failing on its identity.
So the identity's throttle does not apply to the address from which that identity last
authenticated successfully (its "home" address): an attacker elsewhere can make the identity
throttled for everyone else, but the real station, reconnecting from where it was, still gets
in. The address throttle applies to everyone at that address (the real station behind the same
NAT as an attacker is slowed too: the cost of not letting one address guess without limit).

Memory is bounded: each table keeps at most `max_entries` keys, dropping the least recently
touched, so an attacker rotating identities or addresses cannot grow it; an entry dropped that
way loses its count, which costs the attacker `failures` new attempts for the eviction of every
entry, i.e. more guesses spent than gained.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DEFAULT_THROTTLE", "AuthThrottle", "ThrottleLimits"]


@dataclass(frozen=True)
class ThrottleLimits:
    """The budget of failed authentications (`AuthThrottle`); each has a safe default.

    - `failures`: failed password checks allowed per identity within `window` seconds; the
      attempts that follow are throttled. 0 turns throttling off (both budgets).
    - `address_failures`: the same per source address: larger, because many stations may
      share one address (a carrier-grade NAT on a mobile network), and one misconfigured
      station there must not lock the others out at once.
    - `window`: seconds over which failures are counted; a key whose last failure is older
      is forgotten.
    - `delay`: the first wait (seconds) once the budget is spent; it doubles with each
      further failure, up to `max_delay`.
    - `max_entries`: keys kept per table (addresses, identities, home addresses).
    """

    failures: int = 5
    address_failures: int = 20
    window: float = 60.0
    delay: float = 1.0
    max_delay: float = 300.0
    max_entries: int = 10_000

    def __post_init__(self) -> None:
        if self.failures < 0 or self.address_failures < 1:
            raise ValueError("failures is at least 0 (0: no throttling), address_failures 1")
        if self.window <= 0 or self.delay <= 0 or self.max_delay < self.delay:
            raise ValueError("window and delay are positive, max_delay at least delay")
        if self.max_entries < 1:
            raise ValueError("max_entries is positive")


#: The defaults (frozen: one shared instance is safe).
DEFAULT_THROTTLE = ThrottleLimits()


class _Entry:
    __slots__ = ("count", "last", "until")

    def __init__(self) -> None:
        self.count = 0  # failures in the current window
        self.last = 0.0  # time of the last failure
        self.until = 0.0  # throttled until then


class _Table:
    """Failure counts per key, least recently touched first, at most `size` keys."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: collections.OrderedDict[str, _Entry] = collections.OrderedDict()

    def get(self, key: str, now: float, window: float) -> _Entry | None:
        entry = self.entries.get(key)
        if entry is not None and now - entry.last > window and now >= entry.until:
            del self.entries[key]  # forgotten: its failures are out of the window
            return None
        return entry

    def touch(self, key: str) -> _Entry:
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = _Entry()
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        else:
            self.entries.move_to_end(key)
        return entry


class AuthThrottle:
    """Counts failed Basic authentications per address and per identity (module docstring).

    The server calls `wait(address, identity)` before checking a password: a number of
    seconds means "answer 429 with this Retry-After"; then `failed()` or `succeeded()` with the
    outcome. Identities are compared case-insensitively. Runs on the event loop thread only.
    `clock` is for tests.
    """

    def __init__(
        self,
        limits: ThrottleLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        limits = limits if limits is not None else DEFAULT_THROTTLE
        self.limits = limits
        self._clock = clock
        self._addresses = _Table(limits.max_entries)
        self._identities = _Table(limits.max_entries)
        self._home: collections.OrderedDict[str, str] = collections.OrderedDict()

    def __len__(self) -> int:
        """How many keys are tracked (for tests of the memory bound)."""
        return len(self._addresses.entries) + len(self._identities.entries) + len(self._home)

    def _blocked(self, table: _Table, key: str, now: float) -> float | None:
        entry = table.get(key, now, self.limits.window)
        if entry is not None and entry.until > now:
            return entry.until - now
        return None

    def wait(self, address: str, identity: str) -> tuple[int, str] | None:
        """None when an authentication attempt from `address` for `identity` may be checked
        now; else (seconds to wait, rounded up, for Retry-After; which key is throttled:
        "address" or "identity")."""
        if not self.limits.failures:
            return None
        now = self._clock()
        left = self._blocked(self._addresses, address, now)
        if left is not None:
            return max(1, math.ceil(left)), "address"
        folded = identity.casefold()
        if self._home.get(folded) != address:
            left = self._blocked(self._identities, folded, now)
            if left is not None:
                return max(1, math.ceil(left)), "identity"
        return None

    def failed(self, address: str, identity: str) -> bool:
        """Count a failed authentication; return whether it spent a budget (from now on that
        address or identity is throttled: worth a log line)."""
        if not self.limits.failures:
            return False
        now = self._clock()
        limits = self.limits
        spent = self._count(self._addresses, address, now, limits.address_failures)
        folded = identity.casefold()
        if self._home.get(folded) != address:
            # A failure from the identity's home address counts against the address only: it
            # must not throttle the identity where the real station connects from.
            spent = self._count(self._identities, folded, now, limits.failures) or spent
        return spent

    def _count(self, table: _Table, key: str, now: float, budget: int) -> bool:
        limits = self.limits
        table.get(key, now, limits.window)  # drops the entry when its failures are stale
        entry = table.touch(key)
        entry.count += 1
        entry.last = now
        # `budget` failures are allowed; the one that reaches the budget throttles what
        # follows.
        over = entry.count - budget + 1
        if over <= 0:
            return False
        # The wait doubles with each failure past the budget, capped (no overflow: the
        # exponent stops growing once the cap is reached).
        delay = min(limits.max_delay, limits.delay * 2 ** min(over - 1, 32))
        entry.until = now + delay
        return over == 1

    def succeeded(self, address: str, identity: str) -> None:
        """A successful authentication: the identity's failures are forgotten and `address`
        becomes its home address (exempt from the identity's throttle). The address's own
        count stays: a guesser holding one valid password must not reset it."""
        folded = identity.casefold()
        self._identities.entries.pop(folded, None)
        self._home[folded] = address
        self._home.move_to_end(folded)
        while len(self._home) > self.limits.max_entries:
            self._home.popitem(last=False)
