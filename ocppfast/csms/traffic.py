"""The traffic log of a CSMS: every frame in and out of every station, kept by its `CsmsState`
(`log_frame`; the operator API reads it with `traffic()`), for a configurable time.

`TrafficLog` is the `ConnectionObserver` a `Server` is given; `keep_for()` drops what is older
than the retention, periodically. A frame that may carry a credential (a password, a key: see
`ocppfast.transport.may_carry_credential`) is kept as a note saying so, never as it was:
secrets are never logged.
"""

from __future__ import annotations

import asyncio
import datetime
import logging

from ..asyncio.connection import Connection, ConnectionObserver
from ..storage import StorageError
from ..transport import shown
from .state import CsmsState

__all__ = ["TrafficLog"]

log = logging.getLogger("ocppfast.csms")


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class TrafficLog(ConnectionObserver):
    """Writes every frame of the connections it observes to `state`'s traffic log."""

    __slots__ = ("state",)

    def __init__(self, state: CsmsState) -> None:
        self.state = state

    def received(self, connection: Connection, data: bytes | str) -> None:
        self.state.log_frame(connection.name, "in", shown(data), _utcnow())

    def sent(self, connection: Connection, frames: list[bytes]) -> None:
        now = _utcnow()
        log_frame = self.state.log_frame
        for frame in frames:
            log_frame(connection.name, "out", shown(frame), now)

    async def keep_for(self, retention: datetime.timedelta, every: float = 600.0) -> None:
        """Every `every` seconds (and at once), drop the frames older than `retention`; runs
        until cancelled. A failure is logged and tried again next time."""
        while True:
            try:
                dropped = await self.state.purge_traffic(_utcnow() - retention)
            except StorageError as exc:
                log.error("could not drop old frames of the traffic log: %s", exc)
            else:
                if dropped:
                    log.info(
                        "dropped %d frames older than %s from the traffic log", dropped, retention
                    )
            await asyncio.sleep(every)
