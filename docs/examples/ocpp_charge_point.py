"""A charge point built on the `ocpp` package (mobilityhouse), a peer nobody here wrote, against
`ocppfast serve`: it boots as CP2 (OCPP 2.0.1), reports its connector Available, and heartbeats
until stopped with Ctrl-C.

    python docs/examples/ocpp_charge_point.py [ws://127.0.0.1:9000] [CP2]

(`pip install ocpp`: it comes with ocppfast's test and bench extras.)
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import datetime, timezone

import websockets
from ocpp.v201 import ChargePoint, call


async def main(url: str, identity: str) -> None:
    async with websockets.connect(f"{url}/{identity}", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        charge_point = ChargePoint(identity, ws)
        reader = asyncio.create_task(charge_point.start())
        boot = await charge_point.call(
            call.BootNotification(
                charging_station={"model": "Example", "vendor_name": "ocpp-package"},
                reason="PowerUp",
            )
        )
        print(f"{identity}: boot {boot.status}, heartbeat every {boot.interval} s", flush=True)
        await charge_point.call(
            call.StatusNotification(
                timestamp=datetime.now(timezone.utc).isoformat(),
                connector_status="Available",
                evse_id=1,
                connector_id=1,
            )
        )
        while not reader.done():
            await asyncio.sleep(boot.interval)
            await charge_point.call(call.Heartbeat())


if __name__ == "__main__":
    arguments = sys.argv[1:]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(*(arguments + ["ws://127.0.0.1:9000", "CP2"][len(arguments) :])))
