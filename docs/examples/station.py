"""A charging station of your own on ocppfast (OCPP 2.0.1): the firmware side.

It boots, reports its one connector, heartbeats, and answers the CSMS's Reset and GetVariables.
Run `ocppfast serve` (or `python docs/examples/csms.py`), then `python docs/examples/station.py`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from ocppfast import UNSET, v201
from ocppfast.asyncio import Client, Handlers, after, on


def now() -> datetime:
    return datetime.now(timezone.utc)


class MyStation(Handlers):
    """One instance for the station's life: it survives reconnections; `self.connection` is
    the live connection, and `connected()` runs on each new one."""

    def __init__(self) -> None:
        self.heartbeat_interval = 60
        self.accepted = asyncio.Event()
        self._heartbeats: asyncio.Task[None] | None = None

    async def connected(self) -> None:
        response = await self.connection.call(
            v201.BootNotificationRequest(
                charging_station=v201.ChargingStation(model="Example", vendor_name="ocppfast"),
                reason=v201.BootReasonEnum.PowerUp,
            )
        )
        if response.status != v201.RegistrationStatusEnum.Accepted:
            return  # a real station retries after response.interval (B02, B03)
        self.heartbeat_interval = response.interval or self.heartbeat_interval
        await self.connection.call(
            v201.StatusNotificationRequest(
                timestamp=now(),
                connector_status=v201.ConnectorStatusEnum.Available,
                evse_id=1,
                connector_id=1,
            )
        )
        self._heartbeats = asyncio.create_task(self._heartbeat())
        self.accepted.set()

    def disconnected(self) -> None:
        if self._heartbeats is not None:
            self._heartbeats.cancel()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            await self.connection.call(v201.HeartbeatRequest())

    @on(v201.GetVariablesRequest)
    def get_variables(self, request: v201.GetVariablesRequest) -> v201.GetVariablesResponse:
        results = []
        for item in request.get_variable_data:
            known = (item.component.name, item.variable.name) == (
                "OCPPCommCtrlr",
                "HeartbeatInterval",
            )
            results.append(
                v201.GetVariableResult(
                    attribute_status=v201.GetVariableStatusEnum.Accepted
                    if known
                    else v201.GetVariableStatusEnum.UnknownVariable,
                    attribute_value=str(self.heartbeat_interval) if known else UNSET,
                    component=item.component,
                    variable=item.variable,
                )
            )
        return v201.GetVariablesResponse(get_variable_result=results)

    @on(v201.ResetRequest)
    def reset(self, request: v201.ResetRequest) -> v201.ResetResponse:
        return v201.ResetResponse(status=v201.ResetStatusEnum.Accepted)

    @after(v201.ResetRequest)
    async def do_reset(self, request: v201.ResetRequest, response: v201.ResetResponse) -> None:
        await self.connection.close()  # the Client reconnects with back-off and boots again


async def main(url: str = "ws://127.0.0.1:9000") -> None:
    client = Client(url, "CP1", MyStation, versions=["ocpp2.0.1"])
    await client.run()  # connects, reconnects with the spec's back-off, until client.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
