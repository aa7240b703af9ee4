"""What a simulated (or real) charging station is: the settings and the error shared by every
version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .._version import __version__

__all__ = [
    "BOOT_RETRY_DEFAULT",
    "NOMINAL_VOLTAGE",
    "RECONNECT_GRACE",
    "StationConfig",
    "StationError",
    "parse_time",
    "utc_now",
]

NOMINAL_VOLTAGE = 230.0
"""The simulated installation's voltage, phase to neutral, in V (both versions' meters)."""

BOOT_RETRY_DEFAULT = 30.0
"""Seconds before the next BootNotification when the CSMS answers Pending or Rejected with
interval 0, or does not answer at all: the station "chooses a waiting interval on its own, in a
way that avoids flooding" the CSMS (C16 4.2; 2.x B02, B03)."""


RECONNECT_GRACE = 5.0
"""Seconds a station closing its connection on purpose (to reconnect with a new password or
security profile) waits for the answers to what it sent meanwhile."""


def utc_now() -> datetime:
    """The station's default clock: the system's time, in UTC."""
    return datetime.now(timezone.utc)


def parse_time(text: Any) -> datetime | None:
    """A time a station kept in its data as ISO 8601 text (a trailing Z for UTC), or None when
    `text` is absent or not a time with its offset (a damaged store)."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


@dataclass
class StationConfig:
    """The station's identity and build, and the defaults it runs with until the CSMS says
    otherwise (a BootNotification interval, ChangeConfiguration, SetVariables).

    `connectors` is the number of connectors: in 1.6 connector ids 1..N (0 is the whole
    station); in 2.x EVSEs 1..N with one connector (id 1) each.
    """

    identity: str
    vendor: str = "ocppfast"
    model: str = "Simulated"
    serial_number: str | None = None
    firmware_version: str = __version__
    connectors: int = 1
    # Seconds between Heartbeats until the BootNotification response gives an interval.
    heartbeat_interval: int = 60
    # Seconds between sampled meter values during a transaction (1.6 MeterValueSampleInterval,
    # 2.x SampledDataTxUpdatedInterval).
    meter_interval: int = 60
    # The power the simulated EV draws while charging, in W.
    power_w: float = 11_000.0


class StationError(RuntimeError):
    """The station cannot do what was asked now: it is offline or not (yet) accepted by the
    CSMS, the connector or EVSE is unknown, busy or unavailable, the id token was refused, no
    transaction runs there, or a transaction message could not be delivered. The message says
    which."""
