"""The servers `ocppfast bench` measures `ocppfast serve` against, each run as its own process.

- `ocpp`: a CSMS built the way users of the PyPI package `ocpp` (mobilityhouse) build one: the
  websockets asyncio server negotiates ocpp2.0.1 or ocpp1.6, and each connection gets an
  `ocpp.v16.ChargePoint` or `ocpp.v201.ChargePoint` subclass whose `@on` handlers take the
  package's snake_case keyword arguments and return its `call_result` dataclasses. The package
  runs as shipped: every request and response is validated against its JSON schema (in the
  loop's default executor: `ASYNC_VALIDATION`). The handlers record what `DefaultCSMS` records
  for the messages of the benchmark (boot, heartbeat, connector status, meter samples with
  parsed values, transactions) in one in-memory `State` of plain dataclasses shared by all
  connections, so that both servers do the same work per message.
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
import collections
import contextlib
import dataclasses
import datetime
import functools
import itertools
import logging
import math
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from .._system import raise_file_limit

__all__ = [
    "SERVERS",
    "Sample",
    "State",
    "Station",
    "Transaction",
    "command",
    "echo",
    "main",
    "ocpp_central_systems",
    "ocpp_handler",
]

SERVERS = ("ocpp", "websockets")
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

# The measurand of a sampled value that names none (C16 7.43; 2.0.1 SampledValueType).
ENERGY_REGISTER = "Energy.Active.Import.Register"
_WH_PER_UNIT = {"Wh": 1.0, "kWh": 1000.0}
_METER_LOCATIONS = (None, "Outlet", "Inlet")
_DEFAULT_STOP_REASON = "Local"

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
# The state the `ocpp` peer keeps: what ocppfast's CsmsState keeps for the same messages.


def now() -> datetime.datetime:
    """The current UTC time in whole seconds, as `DefaultCSMS` answers it."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def iso(at: datetime.datetime) -> str:
    """`at` (UTC) as OCPP writes date-times: ISO 8601 with Z."""
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime.datetime | None:
    """An OCPP date-time as an aware UTC datetime; None when it is not one (the package does
    not check the "date-time" format, so a handler may get any string)."""
    if text.endswith(("Z", "z")):  # fromisoformat takes Z only from Python 3.11 on
        text = text[:-1] + "+00:00"
    try:
        at = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if at.tzinfo is None:
        return at.replace(tzinfo=datetime.timezone.utc)
    return at.astimezone(datetime.timezone.utc)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    """One sampled value: `text` as sent, `value` the number (2.0.1: with the unit's multiplier
    applied), None when not a number."""

    timestamp: datetime.datetime | None
    text: str
    value: float | None
    measurand: str = ENERGY_REGISTER
    unit: str | None = None
    phase: str | None = None
    location: str | None = None
    context: str | None = None
    signed: bool = False

    @property
    def energy_wh(self) -> float | None:
        """The energy register reading in Wh, when this is an overall one at a meter."""
        if (
            self.value is None
            or self.measurand != ENERGY_REGISTER
            or self.phase is not None
            or self.location not in _METER_LOCATIONS
        ):
            return None
        factor = _WH_PER_UNIT.get(self.unit or "Wh")
        return None if factor is None else self.value * factor


def samples_v16(meter_values: Iterable[dict[str, Any]]) -> list[Sample]:
    """The samples of 1.6 meterValue items, as the package hands them (snake_case dicts)."""
    samples = []
    for meter_value in meter_values:
        at = parse_time(meter_value["timestamp"])
        for sampled in meter_value["sampled_value"]:
            text = sampled["value"]
            signed = sampled.get("format") == "SignedData"
            samples.append(
                Sample(
                    at,
                    text,
                    None if signed else _number(text),
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
    """The samples of 2.0.1 meterValue items, with each unit's multiplier applied."""
    samples = []
    for meter_value in meter_values:
        at = parse_time(meter_value["timestamp"])
        for sampled in meter_value["sampled_value"]:
            value = float(sampled["value"])
            unit = None
            measure = sampled.get("unit_of_measure")
            if measure is not None:
                unit = measure.get("unit")
                if measure.get("multiplier"):
                    value *= 10.0 ** measure["multiplier"]
            samples.append(
                Sample(
                    at,
                    repr(sampled["value"]),
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


@dataclasses.dataclass(slots=True, eq=False)
class Station:
    """What one station told us; `connectors` by (evse, connector), 1.6 under EVSE 0; samples of
    no known transaction in `meter_values` as (1.6 connectorId or 2.0.1 evseId, sample)."""

    identity: str
    version: str
    meter_values: collections.deque[tuple[int, Sample]]
    connections: int = 0
    connected_at: datetime.datetime | None = None
    disconnected_at: datetime.datetime | None = None
    last_seen: datetime.datetime | None = None
    last_heartbeat: datetime.datetime | None = None
    booted_at: datetime.datetime | None = None
    boot: dict[str, Any] | None = None
    registration_status: str | None = None
    connectors: dict[tuple[int, int], dict[str, Any]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(slots=True, eq=False)
class Transaction:
    """One transaction: 1.6 ids are ours (int), 2.0.1 ids the station's (str)."""

    identity: str
    transaction_id: int | str
    version: str
    samples: collections.deque[Sample]
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    id_token_type: str | None = None
    stop_id_token: str | None = None
    started_at: datetime.datetime | None = None
    ended_at: datetime.datetime | None = None
    ended: bool = False
    meter_start: float | None = None
    meter_stop: float | None = None
    stop_reason: str | None = None
    charging_state: str | None = None
    last_event: str | None = None
    remote_start_id: int | None = None
    reservation_id: int | None = None
    offline: bool = False
    seq_nos: set[int] = dataclasses.field(default_factory=set)
    last_seq_no: int | None = None
    first_reading: tuple[datetime.datetime, float] | None = None
    last_reading: tuple[datetime.datetime, float] | None = None

    def add_samples(self, samples: Iterable[Sample]) -> None:
        """Keep `samples` and follow the energy register readings among them."""
        for sample in samples:
            self.samples.append(sample)
            energy = sample.energy_wh
            at = sample.timestamp
            if energy is None or at is None:
                continue
            if self.first_reading is None or at < self.first_reading[0]:
                self.first_reading = (at, energy)
            if self.last_reading is None or at >= self.last_reading[0]:
                self.last_reading = (at, energy)
            if sample.context == "Transaction.Begin" and self.meter_start is None:
                self.meter_start = energy
            elif sample.context == "Transaction.End":
                self.meter_stop = energy


class State:
    """What the `ocpp` peer knows, shared by all its connections: stations by case-folded
    identity, transactions by (case-folded identity, id). Samples are kept in deques of
    `max_samples` per transaction and per station; finished transactions beyond
    `max_finished_transactions` are dropped, oldest first (the bounds of `CsmsState`)."""

    def __init__(
        self,
        heartbeat_interval: int = DEFAULT_HEARTBEAT_INTERVAL,
        *,
        max_samples: int = 10_000,
        max_finished_transactions: int = 10_000,
    ) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.max_samples = max_samples
        self.max_finished_transactions = max_finished_transactions
        self.token_status: dict[str, str] = {}
        self.stations: dict[str, Station] = {}
        self.transactions: dict[tuple[str, int | str], Transaction] = {}
        self._transaction_ids = itertools.count(1)
        self._active: dict[str, set[tuple[str, int | str]]] = {}
        self._finished: collections.deque[tuple[tuple[str, int | str], Transaction]] = (
            collections.deque()
        )

    def station(self, identity: str, version: str | None = None) -> Station:
        """The record of `identity`, created on first sight."""
        key = identity.casefold()
        record = self.stations.get(key)
        if record is None:
            record = self.stations[key] = Station(
                identity, version or "", collections.deque(maxlen=self.max_samples)
            )
        elif version:
            record.version = version
        return record

    def connected(self, identity: str, version: str) -> None:
        """A connection of `identity` opened."""
        record = self.station(identity, version)
        record.connections += 1
        record.connected_at = record.last_seen = now()

    def disconnected(self, identity: str) -> None:
        """A connection of `identity` ended."""
        record = self.station(identity)
        record.connections = max(0, record.connections - 1)
        record.disconnected_at = now()

    def seen(self, identity: str) -> datetime.datetime:
        """`identity` sent something; return the time."""
        at = now()
        self.station(identity).last_seen = at
        return at

    def boot(self, identity: str, version: str, boot: dict[str, Any]) -> datetime.datetime:
        """Record a BootNotification (every station is accepted); return the time."""
        record = self.station(identity, version)
        record.boot = boot
        record.booted_at = record.last_seen = at = now()
        record.registration_status = "Accepted"
        return at

    def heartbeat(self, identity: str) -> datetime.datetime:
        """Record a Heartbeat; return the time."""
        record = self.station(identity)
        record.last_heartbeat = record.last_seen = at = now()
        return at

    def connector_status(
        self, identity: str, evse_id: int, connector_id: int, status: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Record a connector's status; return the one it replaces."""
        connectors = self.station(identity).connectors
        previous = connectors.get((evse_id, connector_id))
        connectors[(evse_id, connector_id)] = status
        return previous

    def authorize(self, id_token: str) -> str:
        """The status of `id_token`: Accepted unless configured otherwise."""
        return self.token_status.get(id_token.casefold(), "Accepted")

    def _transaction(
        self, identity: str, transaction_id: int | str, version: str
    ) -> tuple[Transaction, bool]:
        station = self.station(identity)
        key = (identity.casefold(), transaction_id)
        record = self.transactions.get(key)
        if record is not None:
            return record, False
        record = self.transactions[key] = Transaction(
            station.identity,
            transaction_id,
            version,
            collections.deque(maxlen=self.max_samples),
        )
        self._active.setdefault(key[0], set()).add(key)
        return record, True

    def _end(self, record: Transaction) -> None:
        if record.ended:
            return
        record.ended = True
        key = (record.identity.casefold(), record.transaction_id)
        self._active.get(key[0], set()).discard(key)
        self._finished.append((key, record))
        while len(self._finished) > self.max_finished_transactions:
            old, dropped = self._finished.popleft()
            if self.transactions.get(old) is dropped:
                del self.transactions[old]

    def start_transaction(
        self,
        identity: str,
        connector_id: int,
        id_tag: str,
        meter_start: int,
        timestamp: datetime.datetime | None,
        reservation_id: int | None,
    ) -> Transaction:
        """1.6 StartTransaction: a new transaction id, or the same one for a repeated request."""
        key = identity.casefold()
        for active in self._active.get(key, ()):
            record = self.transactions[active]
            if (
                record.version == "ocpp1.6"
                and record.connector_id == connector_id
                and record.started_at == timestamp
                and record.meter_start == meter_start
                and record.id_token is not None
                and record.id_token.casefold() == id_tag.casefold()
            ):
                return record
        record, _ = self._transaction(identity, next(self._transaction_ids), "ocpp1.6")
        record.connector_id = connector_id
        record.id_token = id_tag
        record.meter_start = float(meter_start)
        record.started_at = timestamp
        record.reservation_id = reservation_id
        return record

    def stop_transaction(
        self,
        identity: str,
        transaction_id: int,
        meter_stop: int,
        timestamp: datetime.datetime | None,
        reason: str | None,
        id_tag: str | None,
        samples: Iterable[Sample],
    ) -> Transaction:
        """1.6 StopTransaction: end the transaction (recorded as reported when unknown)."""
        record, _ = self._transaction(identity, transaction_id, "ocpp1.6")
        if record.ended:
            return record
        record.add_samples(samples)
        record.meter_stop = float(meter_stop)
        record.ended_at = timestamp
        record.stop_reason = reason or _DEFAULT_STOP_REASON
        if id_tag is not None and (
            record.id_token is None or id_tag.casefold() != record.id_token.casefold()
        ):
            record.stop_id_token = id_tag
        self._end(record)
        return record

    def transaction_event(
        self,
        identity: str,
        *,
        event_type: str,
        transaction_id: str,
        seq_no: int,
        timestamp: datetime.datetime | None,
        trigger_reason: str,
        offline: bool,
        evse_id: int | None,
        connector_id: int | None,
        id_token: str | None,
        id_token_type: str | None,
        charging_state: str | None,
        stopped_reason: str | None,
        remote_start_id: int | None,
        reservation_id: int | None,
        samples: Iterable[Sample],
    ) -> tuple[Transaction, bool]:
        """2.0.1 TransactionEvent; return the transaction and whether the event is new (a
        repeated seqNo is not recorded twice)."""
        key = (identity.casefold(), transaction_id)
        old = self.transactions.get(key)
        if (
            old is not None
            and old.ended
            and event_type == "Started"
            and old.started_at is not None
            and old.started_at != timestamp
        ):
            del self.transactions[key]  # a new transaction under a finished one's id
        record, _ = self._transaction(identity, transaction_id, "ocpp2.0.1")
        if seq_no in record.seq_nos:
            return record, False
        newest = record.last_seq_no is None or seq_no > record.last_seq_no
        if newest:
            record.last_seq_no = seq_no
            record.last_event = event_type
        record.seq_nos.add(seq_no)
        if event_type == "Started":
            record.started_at = timestamp
        if evse_id is not None:
            record.evse_id = evse_id
        if connector_id is not None:
            record.connector_id = connector_id
        if id_token is not None:
            if record.id_token is None:
                record.id_token, record.id_token_type = id_token, id_token_type
            elif (
                trigger_reason == "StopAuthorized" or event_type == "Ended"
            ) and id_token.casefold() != record.id_token.casefold():
                record.stop_id_token = id_token
        if charging_state is not None and newest:
            record.charging_state = charging_state
        if remote_start_id is not None:
            record.remote_start_id = remote_start_id
        if reservation_id is not None:
            record.reservation_id = reservation_id
        record.offline = record.offline or offline
        record.add_samples(samples)
        if event_type == "Ended":
            record.ended_at = timestamp
            record.stop_reason = stopped_reason or _DEFAULT_STOP_REASON
            self._end(record)
        return record, True

    def meter_values(
        self,
        identity: str,
        location_id: int,
        transaction_id: int | str | None,
        samples: Iterable[Sample],
    ) -> Transaction | None:
        """MeterValues: keep the samples with their transaction when known, else with the
        station; return the transaction."""
        record = None
        if transaction_id is not None:
            record = self.transactions.get((identity.casefold(), transaction_id))
        if record is not None:
            record.add_samples(samples)
            return record
        self.station(identity).meter_values.extend((location_id, sample) for sample in samples)
        return None


# --------------------------------------------------------------------------------------------
# The `ocpp` package CSMS


@functools.cache
def ocpp_central_systems() -> dict[str, type]:
    """The `ocpp` package's ChargePoint subclasses of the peer CSMS, by subprotocol; each is
    made as `cls(identity, websocket, state)`. Imports the package on first use."""
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

        def __init__(self, identity: str, connection: ServerConnection, state: State) -> None:
            super().__init__(identity, connection)
            self.state = state

        @on(Action16.boot_notification)
        def on_boot_notification(
            self,
            charge_point_vendor: str,
            charge_point_model: str,
            charge_point_serial_number: str | None = None,
            charge_box_serial_number: str | None = None,
            firmware_version: str | None = None,
            **extra: str,
        ) -> Any:
            boot = {
                "vendor": charge_point_vendor,
                "model": charge_point_model,
                "serial_number": charge_point_serial_number or charge_box_serial_number,
                "firmware_version": firmware_version,
                "extra": extra,
            }
            at = self.state.boot(self.id, "ocpp1.6", boot)
            return result16.BootNotification(
                current_time=iso(at),
                interval=self.state.heartbeat_interval,
                status=RegistrationStatus.accepted,
            )

        @on(Action16.heartbeat)
        def on_heartbeat(self) -> Any:
            return result16.Heartbeat(current_time=iso(self.state.heartbeat(self.id)))

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
            at = self.state.seen(self.id)
            self.state.connector_status(
                self.id,
                0,
                connector_id,
                {
                    "status": status,
                    "timestamp": parse_time(timestamp) if timestamp is not None else at,
                    "error_code": error_code,
                    "info": info,
                    "vendor_id": vendor_id,
                    "vendor_error_code": vendor_error_code,
                },
            )
            return result16.StatusNotification()

        @on(Action16.meter_values)
        def on_meter_values(
            self,
            connector_id: int,
            meter_value: list[dict[str, Any]],
            transaction_id: int | None = None,
        ) -> Any:
            self.state.seen(self.id)
            self.state.meter_values(self.id, connector_id, transaction_id, samples_v16(meter_value))
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
            self.state.seen(self.id)
            record = self.state.start_transaction(
                self.id, connector_id, id_tag, meter_start, parse_time(timestamp), reservation_id
            )
            return result16.StartTransaction(
                transaction_id=record.transaction_id,
                id_tag_info=IdTagInfo(status=AuthorizationStatus(self.state.authorize(id_tag))),
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
            self.state.seen(self.id)
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
            return result16.StopTransaction(
                id_tag_info=IdTagInfo(status=AuthorizationStatus(self.state.authorize(id_tag)))
            )

        @on(Action16.authorize)
        def on_authorize(self, id_tag: str) -> Any:
            self.state.seen(self.id)
            return result16.Authorize(
                id_tag_info=IdTagInfo(status=AuthorizationStatus(self.state.authorize(id_tag)))
            )

    class CentralSystem201(ChargePoint201):  # type: ignore[misc]
        """A 2.0.1 station's connection."""

        def __init__(self, identity: str, connection: ServerConnection, state: State) -> None:
            super().__init__(identity, connection)
            self.state = state

        def _id_token_info(self, id_token: dict[str, Any]) -> Any:
            status = self.state.authorize(id_token["id_token"])
            return IdTokenInfoType(status=AuthorizationStatusEnumType(status))

        @on(Action201.boot_notification)
        def on_boot_notification(
            self, charging_station: dict[str, Any], reason: str, **kwargs: Any
        ) -> Any:
            modem = charging_station.get("modem", {})
            boot = {
                "vendor": charging_station["vendor_name"],
                "model": charging_station["model"],
                "serial_number": charging_station.get("serial_number"),
                "firmware_version": charging_station.get("firmware_version"),
                "reason": reason,
                "extra": {name: modem[name] for name in ("iccid", "imsi") if name in modem},
            }
            at = self.state.boot(self.id, "ocpp2.0.1", boot)
            return result201.BootNotification(
                current_time=iso(at),
                interval=self.state.heartbeat_interval,
                status=RegistrationStatusEnumType.accepted,
            )

        @on(Action201.heartbeat)
        def on_heartbeat(self, **kwargs: Any) -> Any:
            return result201.Heartbeat(current_time=iso(self.state.heartbeat(self.id)))

        @on(Action201.status_notification)
        def on_status_notification(
            self,
            timestamp: str,
            connector_status: str,
            evse_id: int,
            connector_id: int,
            **kwargs: Any,
        ) -> Any:
            self.state.seen(self.id)
            self.state.connector_status(
                self.id,
                evse_id,
                connector_id,
                {"status": connector_status, "timestamp": parse_time(timestamp)},
            )
            return result201.StatusNotification()

        @on(Action201.meter_values)
        def on_meter_values(
            self, evse_id: int, meter_value: list[dict[str, Any]], **kwargs: Any
        ) -> Any:
            self.state.seen(self.id)
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
            self.state.seen(self.id)
            self.state.transaction_event(
                self.id,
                event_type=event_type,
                transaction_id=transaction_info["transaction_id"],
                seq_no=seq_no,
                timestamp=parse_time(timestamp),
                trigger_reason=trigger_reason,
                offline=offline,
                evse_id=evse["id"] if evse is not None else None,
                connector_id=evse.get("connector_id") if evse is not None else None,
                id_token=id_token["id_token"] if id_token is not None else None,
                id_token_type=id_token["type"] if id_token is not None else None,
                charging_state=transaction_info.get("charging_state"),
                stopped_reason=transaction_info.get("stopped_reason"),
                remote_start_id=transaction_info.get("remote_start_id"),
                reservation_id=reservation_id,
                samples=samples_v201(meter_value or ()),
            )
            if id_token is None:
                return result201.TransactionEvent()
            return result201.TransactionEvent(id_token_info=self._id_token_info(id_token))

        @on(Action201.authorize)
        def on_authorize(self, id_token: dict[str, Any], **kwargs: Any) -> Any:
            self.state.seen(self.id)
            return result201.Authorize(id_token_info=self._id_token_info(id_token))

    return {"ocpp1.6": CentralSystem16, "ocpp2.0.1": CentralSystem201}


def identity_from_path(path: str) -> str:
    """The station identity: the request path's last segment, percent-decoded."""
    return unquote(path.split("?", 1)[0].rsplit("/", 1)[-1])


def ocpp_handler(state: State) -> Callable[[ServerConnection], Awaitable[None]]:
    """The websockets connection handler of the `ocpp` peer: one ChargePoint per connection,
    of the negotiated version, recording into `state`."""
    central_systems = ocpp_central_systems()

    async def on_connect(websocket: ServerConnection) -> None:
        assert websocket.request is not None and websocket.subprotocol is not None
        identity = identity_from_path(websocket.request.path)
        version = str(websocket.subprotocol)
        charge_point = central_systems[version](identity, websocket, state)
        state.connected(identity, version)
        try:
            await charge_point.start()
        except ConnectionClosed:  # start() reads until the connection ends
            pass
        finally:
            state.disconnected(identity)

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
        handler = ocpp_handler(State(args.heartbeat_interval))
        subprotocols: Sequence[Subprotocol] = OCPP_SUBPROTOCOLS
    else:
        handler = echo
        subprotocols = ECHO_SUBPROTOCOLS
    try:
        server = await serve(
            handler,
            args.host,
            args.port,
            subprotocols=subprotocols,
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
