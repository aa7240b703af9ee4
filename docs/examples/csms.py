"""A CSMS of your own on ocppfast: stations of OCPP 2.0.1 and 1.6 on one endpoint.

It accepts every station, asks each 2.0.1 station for its heartbeat interval once its boot was
answered, and prints what the stations report. Run it with `python docs/examples/csms.py`, then
`ocppfast station --ocpp 2.0.1` (or `--ocpp 1.6`) in another terminal.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

from ocppfast import v16, v201
from ocppfast.asyncio import Handlers, Server, after, on


def now() -> datetime:
    return datetime.now(timezone.utc)


class MyCSMS(Handlers):
    """One instance per station connection; `self.connection` is that connection."""

    booted: list[str] = []  # shared by every connection, for the example's test

    # A request type names the action and its version; a name alone ("Heartbeat") covers every
    # version that has the action.
    @on(v201.BootNotificationRequest)
    def boot(self, request: v201.BootNotificationRequest) -> v201.BootNotificationResponse:
        station = request.charging_station
        print(f"{self.connection.identity}: {station.vendor_name} {station.model} booted")
        self.booted.append(self.connection.identity)
        return v201.BootNotificationResponse(
            current_time=now(), interval=300, status=v201.RegistrationStatusEnum.Accepted
        )

    @after(v201.BootNotificationRequest)
    async def ask_interval(
        self, request: v201.BootNotificationRequest, response: v201.BootNotificationResponse
    ) -> None:
        # Runs once the BootNotification response was sent: a CALL from here never overtakes it.
        result = await self.connection.call(
            v201.GetVariablesRequest(
                get_variable_data=[
                    v201.GetVariableData(
                        component=v201.Component(name="OCPPCommCtrlr"),
                        variable=v201.Variable(name="HeartbeatInterval"),
                    )
                ]
            )
        )
        print(f"{self.connection.identity}: HeartbeatInterval = {result.get_variable_result[0]}")

    @on(v16.BootNotificationRequest)
    def boot16(self, request: v16.BootNotificationRequest) -> v16.BootNotificationResponse:
        print(f"{self.connection.identity}: {request.charge_point_vendor} booted (OCPP 1.6)")
        self.booted.append(self.connection.identity)
        return v16.BootNotificationResponse(
            current_time=now(), interval=300, status=v16.RegistrationStatus.Accepted
        )

    @on("Heartbeat")
    def heartbeat(self, request: Any) -> Any:
        messages = v16 if self.connection.version == "ocpp1.6" else v201
        return messages.HeartbeatResponse(current_time=now())

    @on(v201.StatusNotificationRequest)
    async def status(self, request: v201.StatusNotificationRequest) -> Any:
        # A handler may be a coroutine: look something up, write to a database, ...
        print(f"{self.connection.identity}: EVSE {request.evse_id} {request.connector_status}")
        return v201.StatusNotificationResponse()

    @on(v16.StatusNotificationRequest)
    def status16(self, request: v16.StatusNotificationRequest) -> v16.StatusNotificationResponse:
        print(f"{self.connection.identity}: connector {request.connector_id} {request.status}")
        return v16.StatusNotificationResponse()

    # Anything else a station sends is answered NotSupported (J201 4.3): add @on methods for
    # the actions your CSMS handles, or subclass ocppfast.csms.DefaultCSMS, which answers them all.


async def main(port: int = 9000) -> None:
    async with Server(MyCSMS, port=port, versions=["ocpp2.0.1", "ocpp1.6"]) as server:
        print(f"listening on {server.url}/<identity>")
        await server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
