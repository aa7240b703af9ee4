"""The charging station role: a simulated station for every version, the behaviour a real
charger's firmware builds on (see docs/station.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._core.types import OCPP16, check_version
from .config import StationConfig, StationError
from .store import DataFileLocked, StationData, StationStore

if TYPE_CHECKING:
    from ..asyncio import Handlers
    from ..hardware import Hardware

__all__ = [
    "DataFileLocked",
    "StationConfig",
    "StationData",
    "StationError",
    "StationStore",
    "station_handlers",
]


def station_handlers(
    config: StationConfig,
    version: str,
    password: str | None = None,
    data: StationData | None = None,
    hardware: Hardware | None = None,
    security_profile: int | None = None,
) -> Handlers:
    """The simulated station for `version`: `Station16` (1.6) or `StationV2` (2.0.1, 2.1).
    `password` is the Basic auth password it connects with (1.6: its AuthorizationKey); `data`
    what it keeps across restarts (`StationStore.load`; default: in memory); `hardware`
    the charger's electronics (default: simulated); `security_profile` what it reports as its
    security profile (1.6 SecurityProfile, 2.x SecurityCtrlr.SecurityProfile): 2 or 3 with
    TLS (SW 2.4, 2.5); None leaves the default (1.6: 1 with a password, else 0; 2.x: 1)."""
    if check_version(version) == OCPP16:
        from .v16 import Station16

        return Station16(
            config,
            authorization_key=password,
            security_profile=security_profile,
            data=data,
            hardware=hardware,
        )
    from .v2 import StationV2

    station = StationV2(config, version, data=data, hardware=hardware)
    station.basic_auth_password = password
    if security_profile is not None:
        station.device_model.set_actual("SecurityCtrlr", "SecurityProfile", str(security_profile))
    return station
