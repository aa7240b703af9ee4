"""The servers `ocppfast bench` measures `ocppfast serve` against, each run as its own process.

- `ocpp`: a CSMS built the way users of the PyPI package `ocpp` (mobilityhouse) build one: the
  websockets asyncio server negotiates ocpp2.0.1 or ocpp1.6, and each connection gets an
  `ocpp.v16.ChargePoint` or `ocpp.v201.ChargePoint` subclass whose `@on` handlers take the
  package's snake_case keyword arguments and return its `call_result` dataclasses. The package
  runs as shipped: every request and response is validated against its JSON schema (in the
  loop's default executor: `ASYNC_VALIDATION`). The handlers turn the package's arguments
  (plain dicts and lists) into the values of `ocppfast.csms.state` (parsed date-times, samples
  with parsed numbers, `BootInfo`, `TransactionEventData`, ...) and record them in one
  `CsmsState` shared by all connections: the very bookkeeping `ocppfast serve` does, so that
  the two servers differ only in their OCPP stack.
- `websockets`: the transport ceiling, a bare echo server.

Both run on uvloop, like `ocppfast serve`, with the same websockets settings (1 MiB messages,
permessage-deflate as websockets offers by default, backlog 1024, pings), log at WARNING only,
print `ready ws://HOST:PORT` once listening, and exit with 0 on SIGTERM or SIGINT:

    python -m ocppfast.bench.peers ocpp --host 127.0.0.1 --port 9100 [--ping-interval 20]
        [--heartbeat-interval 300]
    python -m ocppfast.bench.peers websockets --host 127.0.0.1 --port 9101 [--ping-interval 20]

The `ocpp` package is imported only by the process that serves it: `command()` and the echo
server work without it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import functools
import logging
import math
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from .._system import raise_file_limit
from ..asyncio.server import InvalidIdentity, identity_from_path
from ..csms.state import (
    ENERGY_REGISTER,
    BootInfo,
    ConnectorStatus,
    CsmsState,
    Sample,
    TransactionEventData,
)
from .names import PEER_SERVERS

__all__ = [
    "SERVERS",
    "command",
    "echo",
    "main",
    "ocpp_central_systems",
    "ocpp_handler",
    "refuse_invalid_identity",
    "samples_v16",
    "samples_v201",
]

SERVERS = PEER_SERVERS
"""The peers, as `command()` and the command line name them."""

# The same limits as `ocppfast serve` (ServerLimits), so that only the OCPP stack differs.
MAX_MESSAGE_BYTES = 1 << 20
PING_TIMEOUT = 30.0
LISTEN_BACKLOG = 1024
DEFAULT_PING_INTERVAL = 20.0
DEFAULT_HEARTBEAT_INTERVAL = 300

# The `ocpp` package has a ChargePoint class for these two; the first one a client offers, in
# this order, is chosen (websockets' default selection, the server's preference as with ours).
OCPP_SUBPROTOCOLS = (Subprotocol("ocpp2.0.1"), Subprotocol("ocpp1.6"))
ECHO_SUBPROTOCOLS = (Subprotocol("ocpp1.6"), Subprotocol("ocpp2.0.1"), Subprotocol("ocpp2.1"))

_Handler = Callable[..., Any]


def command(server: str, host: str, port: int, ping_interval: float | None = None) -> list[str]:
    """The argv that runs peer `server` (one of `SERVERS`) on `host`:`port` with this Python;
    `ping_interval` in seconds (0: no pings), the server's default (20) when None."""
    if server not in SERVERS:
        raise ValueError(f"unknown peer server {server!r}; use one of {', '.join(SERVERS)}")
    argv = [sys.executable, "-m", "ocppfast.bench.peers", server, "--host", host]
    argv += ["--port", str(port)]
    if ping_interval is not None:
        argv += ["--ping-interval", str(ping_interval)]
    return argv


# --------------------------------------------------------------------------------------------
# What a user of the `ocpp` package writes to turn its arguments into the values to record:
# the package hands over date-times as strings and meter values as lists of snake_case dicts.


def now() -> datetime.datetime:
    """The current UTC time in whole seconds, as `DefaultCSMS` answers it."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def iso(at: datetime.datetime) -> str:
    """`at` (UTC) as OCPP writes date-times: ISO 8601 with Z."""
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime.datetime:
    """An OCPP date-time as an aware UTC datetime. The package does not check the "date-time"
    format, so a handler may get any string: one that is not a date-time is answered with a
    TypeConstraintViolation CALLERROR, as `ocppfast serve` answers it."""
    if text.endswith(("Z", "z")):  # fromisoformat takes Z only from Python 3.11 on
        text = text[:-1] + "+00:00"
    try:
        at = datetime.datetime.fromisoformat(text)
    except ValueError:
        from ocpp.exceptions import TypeConstraintViolationError  # type: ignore[import-untyped]

        raise TypeConstraintViolationError(description=f"{text!r} is not a date-time") from None
    if at.tzinfo is None:
        return at.replace(tzinfo=datetime.timezone.utc)
    return at.astimezone(datetime.timezone.utc)


def samples_v16(meter_values: Iterable[dict[str, Any]]) -> list[Sample]:
    """The samples of 1.6 meterValue items as the package hands them over: the value is a
    string, a number unless its format is SignedData (kept as text only when it is not a
    finite number)."""
    samples = []
    for meter_value in meter_values:
        at = parse_time(meter_value["timestamp"])
        for sampled in meter_value["sampled_value"]:
            text = sampled["value"]
            signed = sampled.get("format") == "SignedData"
            number: float | None = None
            if not signed:
                try:
                    number = float(text)
                except ValueError:
                    pass
                else:
                    if not math.isfinite(number):
                        number = None
            samples.append(
                Sample(
                    at,
                    text,
                    number,
                    sampled.get("measurand", ENERGY_REGISTER),
                    sampled.get("unit"),
                    sampled.get("phase"),
                    sampled.get("location"),
                    sampled.get("context"),
                    signed,
                )
            )
    return samples


def samples_v201(meter_values: Iterable[dict[str, Any]]) -> list[Sample]:
    """The samples of 2.0.1 meterValue items (the value a JSON number), with each unit's
    multiplier applied: the value times 10 to the multiplier."""
    samples = []
    for meter_value in meter_values:
        at = parse_time(meter_value["timestamp"])
        for sampled in meter_value["sampled_value"]:
            number = float(sampled["value"])  # JSON may give an int
            value = number
            unit = None
            measure = sampled.get("unit_of_measure")
            if measure is not None:
                unit = measure.get("unit")
                multiplier = measure.get("multiplier")
                if multiplier:
                    try:
                        value = number * 10.0**multiplier
                    except OverflowError:  # the schema bounds no multiplier
                        value = math.inf
            samples.append(
                Sample(
                    at,
                    repr(number),
                    value if math.isfinite(value) else None,
                    sampled.get("measurand", ENERGY_REGISTER),
                    unit,
                    sampled.get("phase"),
                    sampled.get("location"),
                    sampled.get("context"),
                    "signed_meter_value" in sampled,
                )
            )
    return samples


# --------------------------------------------------------------------------------------------
# The `ocpp` package CSMS


@functools.cache
def ocpp_central_systems() -> dict[str, type]:
    """The `ocpp` package's ChargePoint subclasses of the peer CSMS, by subprotocol; each is
    made as `cls(identity, websocket, state)` with a `CsmsState`. Imports the package on first
    use."""
    from ocpp.routing import on as route  # type: ignore[import-untyped]
    from ocpp.v16 import ChargePoint as ChargePoint16  # type: ignore[import-untyped]
    from ocpp.v16 import call_result as result16
    from ocpp.v16.datatypes import IdTagInfo  # type: ignore[import-untyped]
    from ocpp.v16.enums import Action as Action16  # type: ignore[import-untyped]
    from ocpp.v16.enums import AuthorizationStatus, RegistrationStatus
    from ocpp.v201 import ChargePoint as ChargePoint201  # type: ignore[import-untyped]
    from ocpp.v201 import call_result as result201
    from ocpp.v201.datatypes import IdTokenInfoType  # type: ignore[import-untyped]
    from ocpp.v201.enums import Action as Action201  # type: ignore[import-untyped]
    from ocpp.v201.enums import AuthorizationStatusEnumType, RegistrationStatusEnumType

    # `@on(action)` marks a handler and returns it as it is; the package has no type hints.
    on: Callable[[str], Callable[[_Handler], _Handler]] = route

    class CentralSystem16(ChargePoint16):  # type: ignore[misc]
        """A 1.6 station's connection."""

        def __init__(self, identity: str, connection: ServerConnection, state: CsmsState) -> None:
            super().__init__(identity, connection)
            self.state = state

        def _id_tag_info(self, id_tag: str) -> Any:
            status = self.state.authorize(self.id, id_tag, None, "ocpp1.6")
            return IdTagInfo(status=AuthorizationStatus(status))

        @on(Action16.boot_notification)
        def on_boot_notification(
            self,
            charge_point_vendor: str,
            charge_point_model: str,
            charge_point_serial_number: str | None = None,
            charge_box_serial_number: str | None = None,
            firmware_version: str | None = None,
            iccid: str | None = None,
            imsi: str | None = None,
            meter_type: str | None = None,
            meter_serial_number: str | None = None,
        ) -> Any:
            extra = {
                name: value
                for name, value in (
                    ("chargeBoxSerialNumber", charge_box_serial_number),
                    ("iccid", iccid),
                    ("imsi", imsi),
                    ("meterType", meter_type),
                    ("meterSerialNumber", meter_serial_number),
                )
                if value is not None
            }
            boot = BootInfo(
                charge_point_vendor,
                charge_point_model,
                charge_point_serial_number or charge_box_serial_number,
                firmware_version,
                None,
                extra,
            )
            at = now()
            status, interval = self.state.boot(self.id, "ocpp1.6", boot, at)
            return result16.BootNotification(
                current_time=iso(at), interval=interval, status=RegistrationStatus(status)
            )

        @on(Action16.heartbeat)
        def on_heartbeat(self) -> Any:
            at = now()
            self.state.heartbeat(self.id, at)
            return result16.Heartbeat(current_time=iso(at))

        @on(Action16.status_notification)
        def on_status_notification(
            self,
            connector_id: int,
            error_code: str,
            status: str,
            timestamp: str | None = None,
            info: str | None = None,
            vendor_id: str | None = None,
            vendor_error_code: str | None = None,
        ) -> Any:
            at = now()
            self.state.seen(self.id, at)
            connector = ConnectorStatus(
                status,
                parse_time(timestamp) if timestamp is not None else at,
                error_code,
                info,
                vendor_id,
                vendor_error_code,
            )
            self.state.connector_status(self.id, 0, connector_id, connector)
            return result16.StatusNotification()

        @on(Action16.meter_values)
        def on_meter_values(
            self,
            connector_id: int,
            meter_value: list[dict[str, Any]],
            transaction_id: int | None = None,
        ) -> Any:
            self.state.seen(self.id, now())
            samples = samples_v16(meter_value)
            self.state.meter_values(self.id, connector_id, transaction_id, samples)
            return result16.MeterValues()

        @on(Action16.start_transaction)
        def on_start_transaction(
            self,
            connector_id: int,
            id_tag: str,
            meter_start: int,
            timestamp: str,
            reservation_id: int | None = None,
        ) -> Any:
            self.state.seen(self.id, now())
            record, _ = self.state.start_transaction(
                self.id, connector_id, id_tag, meter_start, parse_time(timestamp), reservation_id
            )
            return result16.StartTransaction(
                transaction_id=record.transaction_id, id_tag_info=self._id_tag_info(id_tag)
            )

        @on(Action16.stop_transaction)
        def on_stop_transaction(
            self,
            meter_stop: int,
            timestamp: str,
            transaction_id: int,
            reason: str | None = None,
            id_tag: str | None = None,
            transaction_data: list[dict[str, Any]] | None = None,
        ) -> Any:
            self.state.seen(self.id, now())
            self.state.stop_transaction(
                self.id,
                transaction_id,
                meter_stop,
                parse_time(timestamp),
                reason,
                id_tag,
                samples_v16(transaction_data or ()),
            )
            if id_tag is None:
                return result16.StopTransaction()
            return result16.StopTransaction(id_tag_info=self._id_tag_info(id_tag))

        @on(Action16.authorize)
        def on_authorize(self, id_tag: str) -> Any:
            self.state.seen(self.id, now())
            return result16.Authorize(id_tag_info=self._id_tag_info(id_tag))

    class CentralSystem201(ChargePoint201):  # type: ignore[misc]
        """A 2.0.1 station's connection."""

        def __init__(self, identity: str, connection: ServerConnection, state: CsmsState) -> None:
            super().__init__(identity, connection)
            self.state = state

        def _id_token_info(self, id_token: dict[str, Any]) -> Any:
            status = self.state.authorize(
                self.id, id_token["id_token"], id_token["type"], "ocpp2.0.1"
            )
            return IdTokenInfoType(status=AuthorizationStatusEnumType(status))

        @on(Action201.boot_notification)
        def on_boot_notification(
            self, charging_station: dict[str, Any], reason: str, **kwargs: Any
        ) -> Any:
            modem = charging_station.get("modem", {})
            boot = BootInfo(
                charging_station["vendor_name"],
                charging_station["model"],
                charging_station.get("serial_number"),
                charging_station.get("firmware_version"),
                reason,
                {name: modem[name] for name in ("iccid", "imsi") if name in modem},
            )
            at = now()
            status, interval = self.state.boot(self.id, "ocpp2.0.1", boot, at)
            return result201.BootNotification(
                current_time=iso(at),
                interval=interval,
                status=RegistrationStatusEnumType(status),
            )

        @on(Action201.heartbeat)
        def on_heartbeat(self, **kwargs: Any) -> Any:
            at = now()
            self.state.heartbeat(self.id, at)
            return result201.Heartbeat(current_time=iso(at))

        @on(Action201.status_notification)
        def on_status_notification(
            self,
            timestamp: str,
            connector_status: str,
            evse_id: int,
            connector_id: int,
            **kwargs: Any,
        ) -> Any:
            self.state.seen(self.id, now())
            connector = ConnectorStatus(connector_status, parse_time(timestamp))
            self.state.connector_status(self.id, evse_id, connector_id, connector)
            return result201.StatusNotification()

        @on(Action201.meter_values)
        def on_meter_values(
            self, evse_id: int, meter_value: list[dict[str, Any]], **kwargs: Any
        ) -> Any:
            self.state.seen(self.id, now())
            self.state.meter_values(self.id, evse_id, None, samples_v201(meter_value))
            return result201.MeterValues()

        @on(Action201.transaction_event)
        def on_transaction_event(
            self,
            event_type: str,
            timestamp: str,
            trigger_reason: str,
            seq_no: int,
            transaction_info: dict[str, Any],
            offline: bool = False,
            evse: dict[str, Any] | None = None,
            id_token: dict[str, Any] | None = None,
            meter_value: list[dict[str, Any]] | None = None,
            reservation_id: int | None = None,
            **kwargs: Any,
        ) -> Any:
            self.state.seen(self.id, now())
            event = TransactionEventData(
                event_type,
                transaction_info["transaction_id"],
                seq_no,
                parse_time(timestamp),
                trigger_reason,
                offline,
                evse["id"] if evse is not None else None,
                evse.get("connector_id") if evse is not None else None,
                id_token["id_token"] if id_token is not None else None,
                id_token["type"] if id_token is not None else None,
                transaction_info.get("charging_state"),
                transaction_info.get("stopped_reason"),
                transaction_info.get("remote_start_id"),
                reservation_id,
                tuple(samples_v201(meter_value)) if meter_value is not None else (),
            )
            self.state.transaction_event(self.id, "ocpp2.0.1", event)
            if id_token is None:
                return result201.TransactionEvent()
            return result201.TransactionEvent(id_token_info=self._id_token_info(id_token))

        @on(Action201.authorize)
        def on_authorize(self, id_token: dict[str, Any], **kwargs: Any) -> Any:
            self.state.seen(self.id, now())
            return result201.Authorize(id_token_info=self._id_token_info(id_token))

    return {"ocpp1.6": CentralSystem16, "ocpp2.0.1": CentralSystem201}


def refuse_invalid_identity(connection: ServerConnection, request: Request) -> Response | None:
    """The `process_request` of the `ocpp` peer: a path that names no valid station identity
    is refused before the upgrade, with the status `ocppfast serve` answers (400 or 404)."""
    try:
        identity_from_path(request.path)
    except InvalidIdentity as exc:
        return connection.respond(exc.status, f"{exc.why}\n")
    return None


def ocpp_handler(state: CsmsState) -> Callable[[ServerConnection], Awaitable[None]]:
    """The websockets connection handler of the `ocpp` peer: one ChargePoint per connection,
    of the negotiated version, recording into `state`."""
    central_systems = ocpp_central_systems()

    async def on_connect(websocket: ServerConnection) -> None:
        assert websocket.request is not None and websocket.subprotocol is not None
        identity = identity_from_path(websocket.request.path)  # checked by the handshake
        version = str(websocket.subprotocol)
        charge_point = central_systems[version](identity, websocket, state)
        state.station_connected(identity, version, now())
        try:
            await charge_point.start()
        except ConnectionClosed:  # start() reads until the connection ends
            pass
        finally:
            state.station_disconnected(identity, now())

    return on_connect


# --------------------------------------------------------------------------------------------
# The websockets echo server


async def echo(websocket: ServerConnection) -> None:
    """Send every message back as it came."""
    # A connection that ends without a closing handshake ends the loop with ConnectionClosed,
    # which websockets would log with a traceback: that is the client's doing, not an error here.
    with contextlib.suppress(ConnectionClosed):
        async for message in websocket:
            await websocket.send(message)


# --------------------------------------------------------------------------------------------
# The process


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ocppfast.bench.peers",
        description="Run a peer server of the ocppfast benchmarks until SIGTERM or SIGINT.",
    )
    servers = parser.add_subparsers(dest="server", required=True)
    helps = {
        "ocpp": "a CSMS on the `ocpp` package (OCPP 1.6 and 2.0.1)",
        "websockets": "a bare websockets echo server",
    }
    for name in SERVERS:
        sub = servers.add_parser(name, help=helps[name])
        sub.add_argument("--host", default="127.0.0.1", help="address to listen on")
        sub.add_argument("--port", type=int, default=0, help="port (0: any free one)")
        sub.add_argument(
            "--ping-interval",
            type=float,
            default=DEFAULT_PING_INTERVAL,
            help="seconds between WebSocket pings; 0: no pings",
        )
        if name == "ocpp":
            sub.add_argument(
                "--heartbeat-interval",
                type=int,
                default=DEFAULT_HEARTBEAT_INTERVAL,
                help="heartbeat interval given at boot, in seconds",
            )
    return parser


async def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT, printing the ready line once listening; the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.server == "ocpp":
        handler = ocpp_handler(CsmsState(args.heartbeat_interval))
        subprotocols: Sequence[Subprotocol] = OCPP_SUBPROTOCOLS
        process_request: Callable[[ServerConnection, Request], Response | None] | None = (
            refuse_invalid_identity
        )
    else:
        handler = echo
        subprotocols = ECHO_SUBPROTOCOLS
        process_request = None
    try:
        server = await serve(
            handler,
            args.host,
            args.port,
            subprotocols=subprotocols,
            process_request=process_request,
            ping_interval=args.ping_interval or None,
            ping_timeout=PING_TIMEOUT,
            max_size=MAX_MESSAGE_BYTES,
            backlog=LISTEN_BACKLOG,
        )
    except OSError as exc:
        print(
            f"{args.server} peer: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        return 1
    async with server:  # on leaving: close every connection (1001), wait for their handlers
        port = server.sockets[0].getsockname()[1]
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"ready ws://{host}:{port}", flush=True)
        await stop.wait()
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """The command line: `python -m ocppfast.bench.peers {ocpp,websockets} ...`."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    raise_file_limit()  # one descriptor per connection: they must hold 10,000+
    import uvloop

    sys.exit(uvloop.run(run(args)))


if __name__ == "__main__":
    main()
