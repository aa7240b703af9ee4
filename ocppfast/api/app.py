"""The operator HTTP API of `ocppfast serve`, on aiohttp: `create_app()` and `ApiServer`.

    api = ApiServer(state, server, token=token, port=9001)
    await api.start()          # http://127.0.0.1:9001/api/...
    ...
    await api.stop()

What it serves (docs/api.md; the OpenAPI 3.1 document at `GET /api/openapi.json`):

- stations: list, show, register (`POST`), change approval and password (`PATCH`), unregister
  (`DELETE`, which also closes the station's connection);
- id tokens: list, show, add, replace, delete;
- transactions: list, show with their meter values;
- the traffic log of a station, newest first; the security events it reported, newest first;
- messages to a station: any the CSMS may send in the station's version (`POST .../calls`),
  and typed commands (remote start and stop, reset, trigger, availability, unlock,
  configuration) that pick the right message for the version;
- `GET /metrics` when a metrics object is given.

Every request needs `Authorization: Bearer <token>` (compared in constant time); the token is
never logged, nor are passwords or payloads. Bodies are JSON in and out, with camelCase names
like OCPP's; every error is `{"error": {"code", "description", "path"?}}` with its HTTP status,
and no input makes a 500 (a bug that does is logged with its traceback, and answered without).

Logger "ocppfast.api": one DEBUG line per request; operator actions (registrations, passwords,
id tokens, messages to stations) at INFO, saying what was done and never with a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import hmac
import logging
import secrets
import ssl as _ssl
import string
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import msgspec
from aiohttp import BodyPartReader, web
from cryptography import x509
from msgspec import UNSET

from .._core import BACKEND
from .._core.actions import CSMS_INITIATED
from .._core.types import OCPP16, OCPP201
from ..asyncio.connection import Connection, shared_validator
from ..asyncio.server import InvalidIdentity, Server, identity_from_path, is_loopback
from ..csms.certificates import CertificateServices, pem_certificates
from ..csms.operations import Operation, Reservation, Upload
from ..csms.state import (
    SECURITY_EVENTS,
    ConnectorStatus,
    CsmsState,
    FrameRecord,
    IdTokenRecord,
    Sample,
    StationRecord,
    TransactionRecord,
)
from ..exceptions import (
    CallNotAllowedError,
    CallTimeoutError,
    OCPPError,
    SessionClosedError,
)
from . import commands
from .commands import Command
from .errors import STATUS_CODES, ApiError, body_error, payload_path
from .files import LINK_LIFETIME, FileStore, TooLarge, body_chunks, safe_name
from .models import (
    BootView,
    CallBody,
    CallErrorView,
    CallOutcome,
    CertificateInstallBody,
    ChargingProfileBody,
    ClearProfilesBody,
    ConnectorView,
    DisplayMessageList,
    FileList,
    FileView,
    FirmwareBody,
    ItemOutcome,
    LogBody,
    MessageList,
    MessageView,
    OperationList,
    OperationView,
    PasswordRotation,
    PasswordRotationView,
    ProfileList,
    ProfileView,
    ReservationBody,
    ReservationList,
    ReservationView,
    SampleView,
    SecurityEventList,
    SecurityEventView,
    SigningRequestList,
    SigningRequestView,
    StationCreate,
    StationList,
    StationPatch,
    StationView,
    StatusView,
    TokenBody,
    TokenCreate,
    TokenList,
    TokenView,
    TransactionDetail,
    TransactionList,
    TransactionView,
    TriggerBody,
    UploadView,
)
from .openapi import Query, Route, openapi_document
from .routes import DEFAULT_LIMIT, MAX_LIMIT, METRICS_ROUTE, ROUTES

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_PORT",
    "MAX_BODY_BYTES",
    "MAX_LIMIT",
    "REALM",
    "ROUTES",
    "ApiServer",
    "create_app",
]

log = logging.getLogger("ocppfast.api")

DEFAULT_PORT = 9001
# The largest request body taken (aiohttp's client_max_size): a CALL payload is far smaller
# (stations' own limit is typically 64 KiB); beyond it the answer is 413.
MAX_BODY_BYTES = 1 << 20
# The protection space named in WWW-Authenticate (RFC 6750 3).
REALM = "ocppfast"
# Seconds a DELETE waits for the station's connection to close.
_CLOSE_WAIT = 5.0
# The id of a token in a URL: 2.1 IdTokenType.idToken has at most 255 characters.
_MAX_TOKEN_CHARS = 255

S = TypeVar("S")
T = TypeVar("T")


# -- views ------------------------------------------------------------------------------------


def _connector_view(
    key: tuple[int, int], status: ConnectorStatus, v16_station: bool
) -> ConnectorView:
    return ConnectorView(
        evse_id=None if v16_station else key[0],
        connector_id=key[1],
        status=status.status,
        error_code=status.error_code,
        info=status.info,
        vendor_id=status.vendor_id,
        vendor_error_code=status.vendor_error_code,
        timestamp=status.timestamp,
    )


def _sample_view(sample: Sample) -> SampleView:
    return SampleView(
        timestamp=sample.timestamp,
        value=sample.value,
        text=sample.text,
        measurand=sample.measurand,
        unit=sample.unit,
        phase=sample.phase,
        location=sample.location,
        context=sample.context,
        signed=sample.signed,
    )


def _transaction_fields(record: TransactionRecord) -> dict[str, Any]:
    return {
        "station": record.identity,
        "transaction_id": record.transaction_id,
        "version": record.version,
        "evse_id": record.evse_id,
        "connector_id": record.connector_id,
        "id_token": record.id_token,
        "stop_id_token": record.stop_id_token,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "active": record.active,
        "meter_start": record.meter_start,
        "meter_stop": record.meter_stop,
        "energy_wh": record.energy_wh,
        "stop_reason": record.stop_reason,
        "charging_state": record.charging_state,
        "offline": record.offline,
        "missing_seq_nos": record.missing_seq_nos(),
        "remote_start_id": record.remote_start_id,
        "reservation_id": record.reservation_id,
    }


def _token_view(record: IdTokenRecord) -> TokenView:
    return TokenView(
        id_token=record.id_token,
        status=record.status,
        expires_at=record.expires_at,
        parent_id=record.parent_id,
        group_id=record.group_id,
        type=record.type,
    )


def _token_record(id_token: str, body: TokenCreate | TokenBody) -> IdTokenRecord:
    # Times are kept in UTC, as OCPP sends them (the operator may write any offset).
    expires = body.expires_at
    return IdTokenRecord(
        id_token,
        body.status,
        None if expires is None else expires.astimezone(datetime.timezone.utc),
        body.parent_id,
        body.group_id,
        body.type,
    )


def _message_view(frame: FrameRecord) -> MessageView:
    return MessageView(id=frame.id, at=frame.at, direction=frame.direction, frame=frame.frame)


def _masked(id_token: str) -> str:
    """An id token for an INFO line: id tokens are personal data (DefaultCSMS logs them at
    DEBUG only), so at most its last four characters show (as on a card receipt), and never
    more than half of it."""
    shown = min(4, len(id_token) // 2)
    return "****" + id_token[len(id_token) - shown :]


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _reservation_view(record: Reservation, now: datetime.datetime) -> ReservationView:
    return ReservationView(
        id=record.id,
        id_token=record.id_token,
        expires_at=record.expires_at,
        status=record.status_at(now),
        connector_id=record.connector_id,
        evse_id=record.evse_id,
        connector_type=record.connector_type,
        parent_id_token=record.parent_id_token,
        group_id_token=record.group_id_token,
        transaction_id=record.transaction_id,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _operation_view(record: Operation) -> OperationView:
    base = f"/api/stations/{_quoted(record.identity)}/operations/{record.id}/files/"
    return OperationView(
        id=record.id,
        kind=record.kind,
        action=record.action,
        request_id=record.request_id,
        created_at=record.created_at,
        location=record.location,
        firmware=record.firmware,
        log_type=record.log_type,
        expires_at=record.expires_at,
        answer=record.answer,
        file_name=record.file_name,
        status=record.statuses[-1].status if record.statuses else None,
        statuses=[StatusView(status=entry.status, at=entry.at) for entry in record.statuses],
        uploads=[
            UploadView(
                name=upload.name,
                size=upload.size,
                received_at=upload.received_at,
                download=base + _quoted(upload.name),
            )
            for upload in record.uploads
        ],
    )


def _answer(outcome: CallOutcome) -> str | None:
    """The station's answer status ("Accepted", ...; "Accepted" for an empty CALLRESULT, as
    1.6 UpdateFirmware's), or its CALLERROR code; None when it did not answer."""
    if outcome.error is not UNSET:
        return outcome.error.code
    if isinstance(outcome.result, dict):
        status = outcome.result.get("status")
        return status if isinstance(status, str) else "Accepted"
    return None


def _item_outcome(outcome: CallOutcome, **item: Any) -> ItemOutcome:
    return ItemOutcome(result=outcome.result, error=outcome.error, **item)


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(value),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _page_url(request: web.Request, **params: Any) -> str:
    """The URL (path and query, relative to the API's host) of another page of `request`."""
    return str(request.rel_url.update_query({k: str(v) for k, v in params.items()}))


def _offset_page(
    request: web.Request, query: dict[str, Any], fetched: Sequence[T], **keep: Any
) -> tuple[Sequence[T], str | None]:
    """A page of a route paged by `offset` and `limit`: `fetched` holds the items from
    `offset` on, up to one more than `limit`; that one, when there, means a next page, whose
    URL is returned (carrying the query parameters `keep` besides offset and limit)."""
    limit = query["limit"]
    if len(fetched) <= limit:
        return fetched, None
    return fetched[:limit], _page_url(request, **keep, offset=query["offset"] + limit, limit=limit)


def _quoted(text: str) -> str:
    return urllib.parse.quote(text, safe="")


# Seconds to wait for the parts of a report (ReportChargingProfiles, NotifyDisplayMessages)
# once the request was accepted, unless the request says.
_REPORT_WAIT = 30.0


def _timeout(body: Any) -> float | None:
    value = getattr(body, "timeout", UNSET)
    return None if value is UNSET else value


def _opt(value: Any) -> Any:
    return None if value is UNSET else value


def _enum_text(value: Any) -> str | None:
    if value is UNSET or value is None:
        return None
    text: str = getattr(value, "value", value)
    return text


def _path_int(request: web.Request, name: str) -> int:
    """A path parameter that is an id: 404 when it is not a positive 31-bit integer (no such
    item can exist)."""
    text = request.match_info[name]
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) < 2**31:
        raise ApiError(404, "not_found", f"no such {name[:-2]}: {text!r} is not an id")
    return int(text)


def _link_expiry(
    now: datetime.datetime, start: datetime.datetime, retries: Any, interval: Any
) -> datetime.datetime:
    """When a station's URL expires: `LINK_LIFETIME` after the last moment it may use it (the
    retrieve or upload time, plus its retries at their interval)."""
    tries = (0 if retries is UNSET else retries) * (0 if interval is UNSET else interval)
    return max(now, start) + datetime.timedelta(seconds=tries) + LINK_LIFETIME


# -- query parameters -------------------------------------------------------------------------


def _bad_query(name: str, why: str) -> ApiError:
    return ApiError(400, "bad_query", f"query parameter {name}: {why}", path=name)


def _parse_query(request: web.Request, route: Route) -> dict[str, Any]:
    """The query parameters of `request`, checked against the route's: an unknown one, one
    given twice (unless `multiple`) or one of the wrong form is 400 naming it."""
    known = {query.name: query for query in route.query}
    for name in request.query:
        if name not in known:
            allowed = ", ".join(known) or "none"
            raise _bad_query(name, f"not a parameter of this route (it takes: {allowed})")
    values: dict[str, Any] = {}
    for query in route.query:
        given = request.query.getall(query.name, [])
        if not given:
            values[query.name] = [] if query.multiple else query.default
            continue
        if query.multiple:
            values[query.name] = [
                part.strip() for text in given for part in text.split(",") if part.strip()
            ]
            continue
        if len(given) > 1:
            raise _bad_query(query.name, "given more than once")
        values[query.name] = _query_value(query, given[0])
    return values


def _query_value(query: Query, text: str) -> Any:
    if query.kind == "bool":
        lowered = text.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise _bad_query(query.name, "use true or false")
    if query.kind in ("int", "float"):
        number: int | float
        try:
            number = int(text) if query.kind == "int" else float(text)
        except ValueError:
            raise _bad_query(
                query.name, f"not {'an integer' if query.kind == 'int' else 'a number'}"
            ) from None
        if number != number:  # NaN
            raise _bad_query(query.name, "not a number")
        if query.minimum is not None and number < query.minimum:
            raise _bad_query(query.name, f"at least {query.minimum:g}")
        if query.maximum is not None and number > query.maximum:
            raise _bad_query(query.name, f"at most {query.maximum:g}")
        return number
    if query.kind == "enum" and text not in query.choices:
        raise _bad_query(query.name, f"one of {', '.join(query.choices)}")
    if not text or len(text) > 1000:
        raise _bad_query(query.name, "empty or too long")
    return text


# -- the API ----------------------------------------------------------------------------------


class _Api:
    """The request handlers and what they share: the state, the server, the token."""

    def __init__(
        self,
        state: CsmsState,
        server: Server,
        token: str,
        metrics: Any | None,
        files: FileStore | None = None,
        certificates: CertificateServices | None = None,
    ) -> None:
        self.state = state
        self.server = server
        self.files = files
        # The CSMS's CA and signing records (ocppfast.csms.certificates), for the certificate
        # routes: the same object the stations' handlers use (default_csms(certificates=)).
        self.certificates = certificates
        if files is not None:
            files.secret = state.file_secret
        self.metrics_source = metrics
        self._secret = token.encode("utf-8")
        self._core = server.core or BACKEND
        self._tasks: set[asyncio.Task[Any]] = set()
        self._openapi: bytes | None = None
        self.routes: tuple[Route, ...] = ROUTES + ((METRICS_ROUTE,) if metrics is not None else ())

    # -- plumbing ---------------------------------------------------------------------------

    def authorized(self, request: web.Request) -> bool:
        """Whether the request carries the token: one `Authorization: Bearer` header (RFC 6750
        2.1), compared in constant time (hmac.compare_digest) so that response times do not
        tell how much of a guess was right."""
        values = request.headers.getall("Authorization", [])
        if len(values) != 1:
            return False
        scheme, _, credentials = values[0].strip().partition(" ")
        given = credentials.strip().encode("utf-8", "replace")
        # Compared even for another scheme, so that the time taken does not say which.
        same = hmac.compare_digest(given, self._secret)
        return same and scheme.lower() == "bearer"

    def handler(self, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """The aiohttp handler of `route`: it checks the query, decodes the body as the
        route's Struct, and calls the method the route names (or `command`, for a typed
        command) with both."""
        method = (
            getattr(self, route.handler)
            if route.command is None
            else functools.partial(self.command, route.command)
        )
        body_type = route.body

        async def handle(request: web.Request) -> web.StreamResponse:
            query = _parse_query(request, route)
            body: Any = None
            if body_type is not None:
                body = await self.body(request, body_type)
            response: web.StreamResponse = await method(request, query, body)
            return response

        handle.__name__ = route.handler
        return handle

    async def body(self, request: web.Request, cls: type[S]) -> S:
        """The request's JSON body as `cls`: 400 when it is not JSON, 422 (with the field's
        path) when it does not fit."""
        raw = await request.read()
        if not raw.strip():
            raise ApiError(400, "bad_json", "this route takes a JSON object as its body")
        try:
            value = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise ApiError(400, "bad_json", f"the body is not valid JSON: {exc}") from None
        except RecursionError:  # msgspec's depth limit: no OCPP message nests that deep
            raise ApiError(400, "bad_json", "the body's JSON is nested too deeply") from None
        try:
            return msgspec.convert(value, cls)
        except msgspec.ValidationError as exc:
            raise body_error(exc) from None

    async def committed(self) -> None:
        """Wait until the changes made are stored (a `StoredState`'s commit): an answer never
        acknowledges what a restart would lose. 503 when the commit fails."""
        barrier = self.state.barrier()
        if barrier is None:
            return
        try:
            # Shielded: the commit is shared with the stations' answers, and a cancelled
            # request must not cancel it for them.
            await asyncio.shield(barrier)
        except Exception as exc:
            log.error("a change made through the API could not be stored: %s", exc)
            raise ApiError(
                503,
                "storage_failed",
                "the change is made in memory but could not be stored (see the CSMS log); "
                "it is retried with the next commit",
            ) from None

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """Cancel what runs in the background (triggers, closes)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def registered(self, identity: str) -> StationRecord:
        record = self.state.station(identity)
        if record is None or not record.registered:
            raise ApiError(
                404,
                "not_found",
                f"no registered station {identity!r}: GET /api/stations lists them",
            )
        return record

    def connection(self, identity: str) -> Connection:
        connection = self.server.connection(identity)
        if connection is not None:
            return connection
        known = self.state.station(identity)
        if known is None or not known.registered:
            raise ApiError(404, "not_found", f"no registered station {identity!r}")
        raise ApiError(
            404,
            "not_connected",
            f"station {identity!r} is not connected: messages go to connected stations only",
        )

    def station_view(self, record: StationRecord) -> StationView:
        connection = self.server.connection(record.identity)
        version = connection.version if connection is not None else (record.version or None)
        boot = record.boot
        connectors = sorted(record.connectors.items())
        active = sorted(
            (tx.transaction_id for tx in self.state.active_transactions(record.identity)),
            key=str,
        )
        return StationView(
            identity=record.identity,
            registered=record.registered,
            approval=record.approval,
            registration_status=record.registration_status,
            connected=connection is not None,
            ocpp_version=version,
            boot=None
            if boot is None
            else BootView(
                vendor=boot.vendor,
                model=boot.model,
                serial_number=boot.serial_number,
                firmware_version=boot.firmware_version,
                reason=boot.reason,
                extra=dict(boot.extra),
            ),
            booted_at=record.booted_at,
            connected_at=record.connected_at,
            disconnected_at=record.disconnected_at,
            last_seen=record.last_seen,
            last_heartbeat=record.last_heartbeat,
            has_password=self.state.credentials.known(record.identity),
            security_profile=record.security_profile,
            password_rotation_pending=self.state.credentials.pending(record.identity) is not None,
            connectors=[
                _connector_view(key, status, version == OCPP16) for key, status in connectors
            ],
            active_transactions=active,
        )

    def request(self, version: str, command: Command) -> Any:
        """`command` as the typed request of `version`, checked by the core's validator
        (OCPPError, naming the field, when the schema refuses it)."""
        validator = shared_validator(self._core, version)
        return validator.decode_request(command.action, msgspec.json.encode(command.payload))

    async def send(
        self,
        identity: str,
        connection: Connection,
        command: Command,
        timeout: float | None,
        *,
        generic: bool = False,
        invalid: tuple[int, str] = (422, "invalid"),
    ) -> web.Response:
        """Check `command`'s payload with the core's validator, send it, and answer with the
        station's result or CALLERROR (`CallOutcome`)."""
        outcome = await self.exchange(
            identity, connection, command, timeout, generic=generic, invalid=invalid
        )
        return _json(outcome)

    def check(
        self,
        version: str,
        command: Command,
        *,
        generic: bool = False,
        invalid: tuple[int, str] = (422, "invalid"),
    ) -> Any:
        """`command` as the typed request of `version`; ApiError naming the body field the
        version's schema refuses."""
        try:
            return self.request(version, command)
        except OCPPError as error:
            path = payload_path(
                command.action, error.description, None if generic else command.fields
            )
            raise ApiError(
                invalid[0],
                invalid[1],
                f"not valid in {version}: {error.description}",
                path=path or ("payload" if generic else None),
            ) from None

    def check_security_profile(self, identity: str, command: Command) -> None:
        """Refuse (409) a message that would lower the station's security profile: SW
        A00.FR.005, lowering "MUST be done through another method, not via OCPP" (PATCH the
        station's securityProfile first if that is really meant)."""
        wanted = commands.requested_security_profile(
            command.action, msgspec.to_builtins(command.payload)
        )
        stored = self.state.security_profile(identity)
        if wanted is not None and stored is not None and wanted < stored:
            raise ApiError(
                409,
                "conflict",
                f"{command.action} would lower the security profile of {identity!r} from "
                f"{stored} to {wanted}, which OCPP must not do (SW A00.FR.005); to allow it, "
                f'first PATCH /api/stations/{{identity}} with {{"securityProfile": {wanted}}}',
            )

    async def exchange(
        self,
        identity: str,
        connection: Connection,
        command: Command,
        timeout: float | None,
        *,
        generic: bool = False,
        invalid: tuple[int, str] = (422, "invalid"),
    ) -> CallOutcome:
        """`send`'s work: the station's answer as a `CallOutcome`."""
        version = connection.version
        action = command.action
        request = self.check(version, command, generic=generic, invalid=invalid)
        self.check_security_profile(identity, command)
        outcome = CallOutcome()
        if command.remote_start_id is not None:
            outcome.remote_start_id = command.remote_start_id
        try:
            response = await connection.call(request, timeout=timeout)
        except OCPPError as error:
            code = getattr(error, "received_code", None) or error.code_for(version)
            log.info("operator: %s to %r answered with CALLERROR %s", action, identity, code)
            outcome.error = CallErrorView(
                code=code, description=error.description, details=dict(error.details)
            )
            return outcome
        except CallTimeoutError as error:
            log.warning("operator: %s to %r: no answer within %gs", action, identity, error.timeout)
            raise ApiError(
                504,
                "timeout",
                f"station {identity!r} did not answer {action} within {error.timeout:g} s "
                "(it may still act on it)",
            ) from None
        except SessionClosedError:
            log.warning("operator: %s to %r: the connection closed first", action, identity)
            raise ApiError(
                503,
                "station_disconnected",
                f"the connection of station {identity!r} closed before it answered {action}; "
                "try again once it has reconnected",
            ) from None
        except CallNotAllowedError as error:
            log.info("operator: %s to %r not sent: %s", action, identity, error)
            raise ApiError(
                409, "not_allowed", f"{action} not sent to {identity!r}: {error}"
            ) from None
        outcome.result = msgspec.to_builtins(response)
        status = outcome.result.get("status") if isinstance(outcome.result, dict) else None
        log.info(
            "operator: %s to %r: %s", action, identity, status if status is not None else "answered"
        )
        return outcome

    async def trigger_boot(self, identity: str) -> None:
        """Ask a station whose boot was answered Pending to boot again now that it is accepted
        (2.0.1 TC_B_31_CSMS: TriggerMessage for BootNotification "before the interval
        expired"; C16 4.2: while Pending the Central System may send it messages)."""
        connection = self.server.connection(identity)
        if connection is None:
            return
        command = commands.trigger(connection.version, TriggerBody(message="BootNotification"))
        try:
            response = await connection.call(self.request(connection.version, command))
        except Exception as exc:
            log.warning(
                "%r is accepted; asking it to boot again (TriggerMessage BootNotification) "
                "failed: %s; it is accepted at its next BootNotification",
                identity,
                exc,
            )
            return
        log.info(
            "%r is accepted; asked it to boot again (TriggerMessage BootNotification): %s",
            identity,
            getattr(response.status, "value", response.status),
        )

    def approved(self, record: StationRecord, approval: str) -> None:
        """The operator set `approval`: if it accepts a connected station whose last boot was
        answered otherwise, have it boot again."""
        if approval != "Accepted" or self.server.connection(record.identity) is None:
            return
        if record.registration_status == "Pending":
            self.spawn(self.trigger_boot(record.identity), f"trigger boot of {record.identity}")
        elif record.registration_status == "Rejected":
            # 2.0.1 errata 2023-12 on B03.FR.03/B03.FR.08: once the CSMS has rejected a boot
            # it "SHALL NOT initiate any messages", not even TriggerMessage(BootNotification).
            log.info(
                "%r was Rejected at its last boot: it is accepted at its next BootNotification "
                "(after the interval it was given; B03.FR.03 forbids triggering it)",
                record.identity,
            )

    # -- stations ---------------------------------------------------------------------------

    async def list_stations(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        connected = query["connected"]
        records = sorted(
            (r for r in self.state.stations.values() if r.registered),
            key=lambda r: r.identity.casefold(),
        )
        if connected is not None:
            records = [
                r for r in records if (self.server.connection(r.identity) is not None) == connected
            ]
        offset = query["offset"]
        page, next_url = _offset_page(request, query, records[offset : offset + query["limit"] + 1])
        return _json(
            StationList(
                stations=[self.station_view(r) for r in page], total=len(records), next=next_url
            )
        )

    async def get_station(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        return _json(self.station_view(self.registered(request.match_info["identity"])))

    async def create_station(
        self, request: web.Request, query: dict[str, Any], body: StationCreate
    ) -> web.Response:
        try:
            identity_from_path("/" + _quoted(body.identity))
        except InvalidIdentity as exc:
            raise ApiError(
                422,
                "invalid",
                f"not a valid station identity: {exc.why} (J201 3.1.1: at most 48 characters, "
                "no ':' or '/', no control characters)",
                path="identity",
            ) from None
        existing = self.state.station(body.identity)
        if existing is not None and existing.registered:
            raise ApiError(
                409,
                "exists",
                f"station {existing.identity!r} is already registered: PATCH it to change it",
            )
        password = None
        if body.password is not UNSET:
            password = await self._hash(body.password)
            existing = self.state.station(body.identity)  # again, after the hash's await
            if existing is not None and existing.registered:
                raise ApiError(
                    409, "exists", f"station {existing.identity!r} was registered meanwhile"
                )
        record = self.state.register_station(body.identity, body.approval)
        if password is not None:
            self.state.set_password(record.identity, password)
        if body.security_profile is not UNSET:
            self.state.set_security_profile(record.identity, body.security_profile)
        await self.committed()
        log.info(
            "operator: registered %r (%s, %s)",
            record.identity,
            body.approval,
            "with a password" if password is not None else "no password",
        )
        self.approved(record, body.approval)
        location = f"/api/stations/{_quoted(record.identity)}"
        return _json(self.station_view(record), 201, {"Location": location})

    async def _hash(self, password: str) -> Any:
        # scrypt: ~40 ms of CPU, off the event loop. The 2.x rules (16 to 40 characters)
        # also admit a 1.6 AuthorizationKey as hex text (32 to 40 digits): SW 7.2.
        try:
            return await asyncio.to_thread(
                self.state.credentials.hash_password, password, version=OCPP201
            )
        except ValueError as exc:
            raise ApiError(422, "invalid", str(exc), path="password") from None

    async def patch_station(
        self, request: web.Request, query: dict[str, Any], body: StationPatch
    ) -> web.Response:
        record = self.registered(request.match_info["identity"])
        password = None
        if isinstance(body.password, str):
            password = await self._hash(body.password)
        record = self.registered(record.identity)  # still, after the hash's await
        done = []
        if body.approval is not UNSET:
            self.state.register_station(record.identity, body.approval)
            done.append(f"approval {body.approval}")
        if password is not None:
            self.state.set_password(record.identity, password)
            done.append("new password")
        elif body.password is None:
            self.state.set_password(record.identity, None)
            done.append("password removed")
        if body.security_profile is not UNSET:
            # Logged by the state, a warning when lowered (SW A00.FR.005).
            self.state.set_security_profile(record.identity, body.security_profile)
            done.append(f"security profile {body.security_profile}")
        await self.committed()
        if done:
            log.info("operator: changed %r: %s", record.identity, ", ".join(done))
        if body.approval is not UNSET:
            self.approved(record, body.approval)
        return _json(self.station_view(record))

    async def rotate_password(
        self, request: web.Request, query: dict[str, Any], body: PasswordRotation
    ) -> web.Response:
        """SW A01 / 2.x A01 (TC_A_09_CSMS, TC_A_10_CSMS): send the connected station a new Basic
        auth password (1.6 ChangeConfiguration AuthorizationKey, A01.FR.02; 2.x SetVariables
        SecurityCtrlr.BasicAuthPassword). The new password is accepted alongside the old one
        from before the message leaves, so that a station that applies it and reconnects at
        once gets in; then, on Accepted/RebootRequired only the new one is (A01.FR.03), on a
        refusal only the old one (A01.FR.04), and without an answer both, until the station
        connects with the new one. Never logged nor answered (A01.FR.09)."""
        identity = request.match_info["identity"]
        connection = self.connection(identity)
        version = connection.version
        generated = body.password is UNSET
        if isinstance(body.password, str):
            password = body.password
        elif version == OCPP16:
            # A01.FR.07: random; SW 7.2: a 20-byte key, configured as 40 hex digits.
            password = secrets.token_hex(20).upper()
        else:
            # passwordString (2.0.1 part 2 2.1.4), 40 characters: the most 2.0.1 allows.
            alphabet = string.ascii_letters + string.digits
            password = "".join(secrets.choice(alphabet) for _ in range(40))
        try:
            record = await asyncio.to_thread(
                self.state.credentials.hash_password, password, version=version
            )
        except ValueError as exc:
            raise ApiError(422, "invalid", str(exc), path="password") from None
        spelled = self._spelled(identity)
        self.state.set_pending_password(spelled, record)
        await self.committed()
        if version == OCPP16:
            command = Command("ChangeConfiguration", {"key": "AuthorizationKey", "value": password})
        else:
            command = Command(
                "SetVariables",
                {
                    "setVariableData": [
                        {
                            "attributeValue": password,
                            "component": {"name": "SecurityCtrlr"},
                            "variable": {"name": "BasicAuthPassword"},
                        }
                    ]
                },
            )
        timeout = None if body.timeout is UNSET else body.timeout
        try:
            outcome = await self.exchange(identity, connection, command, timeout)
        except ApiError as error:
            if error.code not in ("timeout", "station_disconnected"):
                self.state.set_pending_password(spelled, None)
                await self.committed()
                raise
            # The station may have applied it: both stay valid until it uses the new one.
            log.warning(
                "operator: password rotation of %r: no answer; the old and the new password "
                "are both accepted until it connects with the new one (SW A01)",
                spelled,
            )
            return _json(
                PasswordRotationView(
                    identity=spelled,
                    status="NoAnswer",
                    generated=generated,
                    accepted=["old", "new"],
                    description=f"no answer: {error.description}; the station may use either "
                    "password until it has connected with the new one",
                )
            )
        if outcome.error is not UNSET:
            status = outcome.error.code
        elif version == OCPP16:
            status = str((outcome.result or {}).get("status", ""))
        else:
            results = (outcome.result or {}).get("setVariableResult") or [{}]
            status = str(results[0].get("attributeStatus", ""))
        if status in ("Accepted", "RebootRequired"):
            # A01.FR.03: the change succeeded; the old credentials are no longer accepted.
            self.state.credentials.promote(spelled)
            accepted = ["new"]
            description = "the station took the new password; the old one is refused from now on"
            if status == "RebootRequired":
                description += " (it uses it once rebooted)"
        else:
            # A01.FR.04: it has not changed the password; the old one stays.
            self.state.set_pending_password(spelled, None)
            accepted = ["old"]
            description = f"the station answered {status}: it keeps its old password"
        await self.committed()
        log.info("operator: password rotation of %r: %s", spelled, status)
        return _json(
            PasswordRotationView(
                identity=spelled,
                status=status,
                generated=generated,
                accepted=accepted,
                description=description,
            )
        )

    async def delete_station(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        record = self.registered(request.match_info["identity"])
        self.state.unregister_station(record.identity)
        await self.committed()
        connection = self.server.connection(record.identity)
        log.info(
            "operator: unregistered %r%s",
            record.identity,
            "; closing its connection" if connection is not None else "",
        )
        if connection is not None:
            closing = self.spawn(
                connection.close(1000, "unregistered by the operator"),
                f"close {record.identity}",
            )
            await asyncio.wait([closing], timeout=_CLOSE_WAIT)
        return web.Response(status=204)

    async def list_messages(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        record = self.registered(request.match_info["identity"])
        limit = query["limit"]
        frames = await self.state.traffic(record.identity, before=query["before"], limit=limit + 1)
        more = len(frames) > limit
        frames = frames[:limit]
        return _json(
            MessageList(
                messages=[_message_view(frame) for frame in frames],
                next=_page_url(request, before=frames[-1].id, limit=limit) if more else None,
            )
        )

    async def list_security_events(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        record = self.registered(request.match_info["identity"])
        events = await self.state.security_events(
            record.identity, limit=query["limit"] + 1, offset=query["offset"]
        )
        page, next_url = _offset_page(request, query, events)
        listed = SECURITY_EVENTS.get(record.version, {})
        return _json(
            SecurityEventList(
                events=[
                    SecurityEventView(
                        type=event.type,
                        timestamp=event.timestamp,
                        tech_info=event.tech_info,
                        critical=listed.get(event.type),
                        received_at=event.received_at,
                    )
                    for event in page
                ],
                next=next_url,
            )
        )

    # -- messages to stations ---------------------------------------------------------------

    async def post_call(
        self, request: web.Request, query: dict[str, Any], body: CallBody
    ) -> web.Response:
        identity = request.match_info["identity"]
        connection = self.connection(identity)
        version = connection.version
        if body.action not in CSMS_INITIATED[version]:
            raise ApiError(
                422,
                "invalid",
                f"{body.action!r} is not a message the CSMS sends in {version} "
                f"(the station speaks {version}; actions: "
                f"{', '.join(sorted(CSMS_INITIATED[version]))})",
                path="action",
            )
        timeout = None if body.timeout is UNSET else body.timeout
        command = Command(body.action, body.payload)
        return await self.send(identity, connection, command, timeout, generic=True)

    async def command(
        self,
        build: Callable[[str, Any], Command],
        request: web.Request,
        query: dict[str, Any],
        body: Any,
    ) -> web.Response:
        """A typed command's route (`Route.command`): `build` makes the message of the
        station's version from the decoded body."""
        identity = request.match_info["identity"]
        connection = self.connection(identity)
        command = build(connection.version, body)
        timeout = getattr(body, "timeout", UNSET)
        return await self.send(identity, connection, command, None if timeout is UNSET else timeout)

    # -- certificates on a station (SW A02, M03-M05; 2.x A02, M03-M05) ----------------------

    async def install_certificate(
        self, request: web.Request, query: dict[str, Any], body: CertificateInstallBody
    ) -> web.Response:
        """InstallCertificate (M05, TC_M_01/02/05_CSMS) of one PEM CA certificate, or of this
        CSMS's own root (`csmsCa`); a PEM that does not parse is 422 and never sent."""
        identity = request.match_info["identity"]
        connection = self.connection(identity)
        if (body.certificate is UNSET) == (body.csms_ca is UNSET or body.csms_ca is False):
            raise ApiError(
                422,
                "invalid",
                "give either certificate (one PEM certificate) or csmsCa: true (this CSMS's root)",
                path="certificate",
            )
        if body.certificate is UNSET:
            pem = self.certificates.ca_pem if self.certificates is not None else None
            if not pem:
                raise ApiError(
                    422,
                    "invalid",
                    "this CSMS has no CA of its own: start ocppfast serve with --pki DIR (or "
                    "give the certificate's PEM)",
                    path="csmsCa",
                )
        else:
            pem = body.certificate
        try:
            parsed = pem_certificates(pem)
        except ValueError as error:
            raise ApiError(422, "invalid", str(error), path="certificate") from None
        if len(parsed) != 1:
            raise ApiError(
                422,
                "invalid",
                f"InstallCertificate takes one certificate; this PEM has {len(parsed)}",
                path="certificate",
            )
        constraints = None
        with contextlib.suppress(x509.ExtensionNotFound, ValueError):
            constraints = parsed[0].extensions.get_extension_for_class(x509.BasicConstraints)
        if constraints is None or not constraints.value.ca:
            raise ApiError(
                422,
                "invalid",
                "not a CA certificate (no basicConstraints CA): InstallCertificate installs "
                "root certificates; a station's own certificate comes with CertificateSigned "
                "(POST .../certificates/renew)",
                path="certificate",
            )
        command = commands.install_certificate(connection.version, body.type, pem)
        return await self.send(identity, connection, command, _timeout(body))

    async def list_certificates(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        """GetInstalledCertificateIds (M03, TC_M_13/18/19_CSMS)."""
        identity = request.match_info["identity"]
        connection = self.connection(identity)
        kinds = [kind for value in query["type"] or () for kind in value.split(",") if kind]
        command = commands.get_installed_certificate_ids(connection.version, kinds)
        return await self.send(
            identity, connection, command, query["timeout"], invalid=(400, "bad_query")
        )

    async def list_certificate_requests(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        """The station's SignCertificate requests and what became of them (in memory)."""
        identity = request.match_info["identity"]
        known = self.state.station(identity)
        if known is None and self.server.connection(identity) is None:
            raise ApiError(404, "not_found", f"no station {identity!r}")
        records = self.certificates.records(identity) if self.certificates is not None else []
        return _json(
            SigningRequestList(
                requests=[
                    SigningRequestView(
                        certificate_type=record.certificate_type,
                        received_at=record.received_at,
                        status=record.status,
                        reason=record.reason,
                        serial=record.serial,
                        not_after=record.not_after,
                        station_answer=record.station_answer,
                        updated_at=record.updated_at,
                    )
                    for record in records
                ]
            )
        )

    async def get_configuration(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        identity = request.match_info["identity"]
        connection = self.connection(identity)
        try:
            command = commands.get_configuration(
                connection.version, query["key"], query["attribute"]
            )
        except ApiError as error:
            if error.status == 422:  # a malformed key, given in the query: 400
                error.status, error.code = 400, "bad_query"
            raise
        try:
            return await self.send(
                identity, connection, command, query["timeout"], invalid=(400, "bad_query")
            )
        except ApiError as error:
            if error.code == "bad_query":  # the keys are all the payload holds of the query
                error.path = "key"
            raise

    # -- smart charging ---------------------------------------------------------------------

    def _spelled(self, identity: str) -> str:
        """The identity as the station first spelled it (the one its records keep)."""
        record = self.state.station(identity)
        return record.identity if record is not None else identity

    async def set_charging_profile(
        self, request: web.Request, query: dict[str, Any], body: ChargingProfileBody
    ) -> web.Response:
        identity = request.match_info["identity"]
        connection = self.connection(identity)
        version = connection.version
        command = commands.set_charging_profile(version, body)
        outcome = await self.exchange(identity, connection, command, _timeout(body))
        if version == OCPP16 and _answer(outcome) == "Accepted":
            # 1.6 has no GetChargingProfiles: the CSMS keeps what the station accepted.
            payload = msgspec.to_builtins(command.payload)
            self.state.profile_set(
                self._spelled(identity),
                payload["connectorId"],
                payload["csChargingProfiles"],
                _utcnow(),
            )
            await self.committed()
        if outcome.result is not UNSET:
            profile = (
                command.payload.get("csChargingProfiles") or command.payload["chargingProfile"]
            )
            outcome.result = {
                **outcome.result,
                "id": profile.get("chargingProfileId", profile.get("id")),
            }
        return _json(outcome)

    async def clear_charging_profiles(
        self, request: web.Request, query: dict[str, Any], body: ClearProfilesBody
    ) -> web.Response:
        identity = request.match_info["identity"]
        connection = self.connection(identity)
        command = commands.clear_charging_profile(connection.version, body)
        outcome = await self.exchange(identity, connection, command, _timeout(body))
        if connection.version == OCPP16 and _answer(outcome) == "Accepted":
            payload = command.payload
            self.state.profiles_cleared(
                identity,
                payload.get("id"),
                payload.get("connectorId"),
                payload.get("chargingProfilePurpose"),
                payload.get("stackLevel"),
            )
            await self.committed()
        return _json(outcome)

    async def delete_charging_profile(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        profile_id = _path_int(request, "profileId")
        clear = ClearProfilesBody(id=profile_id)
        if query["timeout"] is not None:
            clear.timeout = query["timeout"]
        return await self.clear_charging_profiles(request, query, clear)

    async def list_charging_profiles(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        identity = request.match_info["identity"]
        connection = self.server.connection(identity)
        record = self.registered(identity)
        version = connection.version if connection is not None else record.version
        if version == OCPP16:
            if query["evseId"] is not None:
                raise ApiError(400, "bad_query", "1.6 connectors have no evseId", path="evseId")
            kept = self.state.profiles.get(record.identity.casefold(), {})
            return _json(
                ProfileList(
                    source="csms",
                    status=None,
                    profiles=[
                        ProfileView(
                            connector_id=p.connector_id,
                            evse_id=None,
                            charging_limit_source=None,
                            set_at=p.set_at,
                            charging_profile=p.profile,
                        )
                        for p in sorted(kept.values(), key=lambda p: p.id)
                    ],
                )
            )
        connection = self.connection(identity)
        request_id = commands.random_id()
        command = commands.get_charging_profiles(version, request_id, query["evseId"])
        outcome, report = await self.collect(
            identity, connection, command, "ReportChargingProfiles", request_id, query["timeout"]
        )
        profiles = []
        for part in report.items if report is not None else ():
            source = _enum_text(part.charging_limit_source)
            for profile in part.charging_profile:
                profiles.append(
                    ProfileView(
                        connector_id=None,
                        evse_id=part.evse_id,
                        charging_limit_source=source,
                        set_at=None,
                        charging_profile=msgspec.to_builtins(profile),
                    )
                )
        return _json(
            ProfileList(source="station", status=_answer(outcome), profiles=profiles),
        )

    async def collect(
        self,
        identity: str,
        connection: Connection,
        command: Command,
        kind: str,
        request_id: int,
        timeout: float | None,
    ) -> tuple[CallOutcome, Any]:
        """Send a request whose answer comes in parts (`kind` messages of `request_id`, the
        last with tbc false) and wait for them all: (the station's answer, the report, or
        None unless it was Accepted). 504 when the parts do not all arrive within `timeout`."""
        waiter = self.state.wait_report(identity, kind, request_id)
        try:
            outcome = await self.exchange(identity, connection, command, timeout)
            if _answer(outcome) != "Accepted":
                return outcome, None
            wait = timeout if timeout is not None else _REPORT_WAIT
            try:
                report = await asyncio.wait_for(asyncio.shield(waiter), wait)
            except TimeoutError:
                log.warning(
                    "operator: %s to %r accepted, but its %s did not all arrive within %gs",
                    command.action,
                    identity,
                    kind,
                    wait,
                )
                raise ApiError(
                    504,
                    "timeout",
                    f"station {identity!r} accepted {command.action} but did not send all its "
                    f"{kind} (the last with tbc false) within {wait:g} s",
                ) from None
            return outcome, report
        finally:
            waiter.cancel()

    # -- reservations -----------------------------------------------------------------------

    async def reserve(
        self, request: web.Request, query: dict[str, Any], body: ReservationBody
    ) -> web.Response:
        identity = request.match_info["identity"]
        connection = self.connection(identity)
        version = connection.version
        spelled = self._spelled(identity)
        reservation_id = (
            body.id if body.id is not UNSET else self.state.new_id(identity, "reservation")
        )
        command = commands.reserve_now(version, body, reservation_id)
        self.check(version, command)
        now = _utcnow()
        self.state.add_reservation(
            Reservation(
                id=reservation_id,
                identity=spelled,
                id_token=body.id_token,
                expires_at=body.expires_at.astimezone(datetime.timezone.utc),
                created_at=now,
                updated_at=now,
                connector_id=command.payload.get("connectorId"),
                evse_id=command.payload.get("evseId"),
                connector_type=command.payload.get("connectorType"),
                parent_id_token=_opt(body.parent_id_token),
                group_id_token=_opt(body.group_id_token),
            )
        )
        outcome = await self.exchange(identity, connection, command, _timeout(body))
        answer = _answer(outcome)
        record = self.state.reservation_status(
            spelled, reservation_id, answer or "Requested", _utcnow()
        )
        await self.committed()
        assert record is not None
        return _json(_item_outcome(outcome, reservation=_reservation_view(record, _utcnow())))

    async def list_reservations(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        record = self.registered(request.match_info["identity"])
        now = _utcnow()
        kept = self.state.reservations.get(record.identity.casefold(), {})
        return _json(
            ReservationList(
                reservations=[
                    _reservation_view(r, now)
                    for r in sorted(kept.values(), key=lambda r: r.created_at, reverse=True)
                ]
            )
        )

    async def cancel_reservation(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        identity = request.match_info["identity"]
        reservation_id = _path_int(request, "reservationId")
        connection = self.connection(identity)
        command = commands.cancel_reservation(connection.version, reservation_id)
        outcome = await self.exchange(identity, connection, command, query["timeout"])
        item: dict[str, Any] = {}
        if _answer(outcome) == "Accepted":
            record = self.state.reservation_status(identity, reservation_id, "Cancelled", _utcnow())
            await self.committed()
        else:
            record = self.state.reservation(identity, reservation_id)
        if record is not None:
            item["reservation"] = _reservation_view(record, _utcnow())
        return _json(_item_outcome(outcome, **item))

    # -- firmware and logs ------------------------------------------------------------------

    def _file_server(self, path: str) -> FileStore:
        if self.files is None:
            raise ApiError(
                422,
                "invalid",
                "this CSMS runs without a file server (ocppfast serve --files DIR): give a "
                "location",
                path=path,
            )
        return self.files

    async def update_firmware(
        self, request: web.Request, query: dict[str, Any], body: FirmwareBody
    ) -> web.Response:
        identity = request.match_info["identity"]
        connection = self.connection(identity)
        version = connection.version
        spelled = self._spelled(identity)
        if (body.file is UNSET) == (body.location is UNSET):
            raise ApiError(
                422,
                "invalid",
                "give either file (a file of the file server: GET /api/files) or location (a URL)",
                path="file",
            )
        now = _utcnow()
        retrieve_at = now if body.retrieve_at is UNSET else body.retrieve_at
        operation_id = self.state.new_id(identity, "operation")
        expires = None
        if body.file is not UNSET:
            files = self._file_server("file")
            if files.firmware(body.file) is None:
                raise ApiError(
                    422,
                    "invalid",
                    f"no file {body.file!r} in the file server: GET /api/files lists them",
                    path="file",
                )
            expires = _link_expiry(now, retrieve_at, body.retries, body.retry_interval)
            location = files.download_url(spelled, operation_id, body.file, expires)
        else:
            location = body.location  # type: ignore[assignment]
        body = await self._signed_firmware(body)
        command = commands.update_firmware(version, body, location, operation_id, retrieve_at)
        return await self._operation(
            identity,
            connection,
            command,
            Operation(
                id=operation_id,
                identity=spelled,
                kind="firmware",
                action=command.action,
                created_at=now,
                location=location,
                request_id=command.payload.get("requestId"),
                firmware=_opt(body.file),
                expires_at=expires,
            ),
            _timeout(body),
        )

    async def _signed_firmware(self, body: FirmwareBody) -> FirmwareBody:
        """`body` with `signingCertificate` and `signature` (SW L01.FR.11: the CSMS includes
        the firmware signing certificate): given together, or, with `sign`, made by the file
        server's firmware signer over the exact bytes of `file` (L01.FR.04/09)."""
        given = (body.signature is not UNSET, body.signing_certificate is not UNSET)
        if not body.sign:
            if given[0] != given[1]:
                raise ApiError(
                    422,
                    "invalid",
                    "signed firmware needs both signature and signingCertificate (the station "
                    "verifies the signature with the certificate, SW L01.FR.11), or sign: true",
                    path="signature" if not given[0] else "signingCertificate",
                )
            return body
        if any(given):
            raise ApiError(
                422,
                "invalid",
                "give either sign: true (this CSMS signs the file) or signature and "
                "signingCertificate (signed elsewhere), not both",
                path="sign",
            )
        if body.file is UNSET:
            raise ApiError(
                422,
                "invalid",
                "sign: true signs a file of the file server: give file (GET /api/files), or "
                "give signature and signingCertificate with a location",
                path="file",
            )
        files = self._file_server("file")
        if files.firmware_signer is None:
            raise ApiError(
                422,
                "invalid",
                "this CSMS has no firmware signer: start ocppfast serve with "
                "--firmware-signer-cert FILE --firmware-signer-key FILE (made by ocppfast "
                "certs firmware-signer), or give signature and signingCertificate",
                path="sign",
            )
        try:
            certificate, signature = await files.sign_firmware(body.file)
        except (LookupError, OSError) as error:
            raise ApiError(
                422, "invalid", f"cannot sign firmware file {body.file!r}: {error}", path="file"
            ) from None
        return msgspec.structs.replace(
            body, signing_certificate=certificate, signature=signature, sign=UNSET
        )

    async def upload_logs(
        self, request: web.Request, query: dict[str, Any], body: LogBody
    ) -> web.Response:
        identity = request.match_info["identity"]
        connection = self.connection(identity)
        spelled = self._spelled(identity)
        now = _utcnow()
        operation_id = self.state.new_id(identity, "operation")
        expires = None
        if body.location is UNSET:
            files = self._file_server("location")
            expires = _link_expiry(now, now, body.retries, body.retry_interval)
            location = files.upload_url(spelled, operation_id, expires)
        else:
            location = body.location
        command = commands.get_log(connection.version, body, location, operation_id)
        return await self._operation(
            identity,
            connection,
            command,
            Operation(
                id=operation_id,
                identity=spelled,
                kind="log",
                action=command.action,
                created_at=now,
                location=location,
                request_id=command.payload.get("requestId"),
                log_type=command.payload.get("logType"),
                expires_at=expires,
            ),
            _timeout(body),
        )

    async def _operation(
        self,
        identity: str,
        connection: Connection,
        command: Command,
        operation: Operation,
        timeout: float | None,
    ) -> web.Response:
        """Send the command of a new `operation`, followed from before it is sent (a status
        notification may overtake the answer), and keep the station's answer with it."""
        self.check(connection.version, command)
        self.state.add_operation(operation)
        outcome = await self.exchange(identity, connection, command, timeout)
        operation.answer = _answer(outcome)
        if isinstance(outcome.result, dict):
            # 1.6 GetDiagnostics answers fileName, GetLog filename: the file to expect.
            name = outcome.result.get("fileName") or outcome.result.get("filename")
            operation.file_name = name if isinstance(name, str) else None
        self.state.operation_changed(operation)
        await self.committed()
        return _json(_item_outcome(outcome, operation=_operation_view(operation)), 201)

    async def list_operations(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        record = self.registered(request.match_info["identity"])
        kept = self.state.operations.get(record.identity.casefold(), {})
        chosen = [o for o in kept.values() if query["kind"] in (None, o.kind)]
        chosen.sort(key=lambda o: o.created_at, reverse=True)
        return _json(OperationList(operations=[_operation_view(o) for o in chosen]))

    def _find_operation(self, request: web.Request) -> Operation:
        record = self.registered(request.match_info["identity"])
        operation = self.state.operation(record.identity, _path_int(request, "operationId"))
        if operation is None:
            raise ApiError(404, "not_found", "no such operation: GET .../operations lists them")
        return operation

    async def get_operation(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        return _json(_operation_view(self._find_operation(request)))

    async def get_operation_file(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.StreamResponse:
        operation = self._find_operation(request)
        name = request.match_info["name"]
        for upload in operation.uploads:
            if upload.name == name and self.files is not None:
                path = self.files.stored(upload.path)
                if path is not None:
                    return web.FileResponse(
                        path,
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Disposition": f'attachment; filename="{upload.name}"',
                        },
                    )
        raise ApiError(404, "not_found", "no such file in this operation's uploads")

    # -- the file server: the operator's side ----------------------------------------------

    async def list_files(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        files = self._file_server("name")
        return _json(
            FileList(
                files=[
                    FileView(
                        name=name,
                        size=stat.st_size,
                        modified_at=datetime.datetime.fromtimestamp(
                            stat.st_mtime, datetime.timezone.utc
                        ),
                    )
                    for name, stat in files.firmware_files()
                ]
            )
        )

    async def put_file(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        files = self._file_server("name")
        name = request.match_info["name"]
        if name != safe_name(name, "") or name == "uploads":
            raise ApiError(
                422,
                "invalid",
                "a file name has letters, digits and ._+- only, and does not start with a dot",
                path="name",
            )
        existed = files.firmware(name) is not None
        target = files.root / name
        try:
            size = await files.save(body_chunks(request), target)
        except TooLarge:
            raise ApiError(
                413, "too_large", f"the file is larger than {files.max_upload} bytes"
            ) from None
        log.info(
            "operator: %s firmware file %s (%d bytes)",
            "replaced" if existed else "added",
            name,
            size,
        )
        stat = target.stat()
        view = FileView(
            name=name,
            size=stat.st_size,
            modified_at=datetime.datetime.fromtimestamp(stat.st_mtime, datetime.timezone.utc),
        )
        if existed:
            return _json(view)
        return _json(view, 201, {"Location": f"/api/files/{_quoted(name)}"})

    async def delete_file(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        files = self._file_server("name")
        path = files.firmware(request.match_info["name"])
        if path is None:
            raise ApiError(404, "not_found", "no such file: GET /api/files lists them")
        path.unlink()
        log.info("operator: deleted firmware file %s", path.name)
        return web.Response(status=204)

    # -- the file server: the stations' side (a capability in the URL, no bearer token) -----

    def _capability(self, request: web.Request, kind: str, name: str = "") -> Any:
        files = self.files
        capability = (
            None if files is None else files.check(request.match_info["capability"], kind, name)
        )
        if capability is None:
            log.warning(
                "station file server: %s %s from %s refused: wrong or expired capability",
                request.method,
                "download" if kind == "download" else "upload",
                _address(request),
            )
            raise ApiError(404, "not_found", "no such file")
        return capability

    async def station_download(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.StreamResponse:
        name = request.match_info["name"]
        capability = self._capability(request, "download", name)
        assert self.files is not None
        path = self.files.firmware(name)
        if path is None:
            log.warning(
                "station file server: %r asked for %s, which is gone", capability.identity, name
            )
            raise ApiError(404, "not_found", "no such file")
        log.info(
            "station file server: %r downloads %s (operation %s, %s%s)",
            capability.identity,
            name,
            capability.operation,
            _address(request),
            f", range {request.headers['Range']}" if "Range" in request.headers else "",
        )
        return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})

    async def station_upload(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        capability = self._capability(request, "upload")
        files = self.files
        assert files is not None
        operation = self.state.operation(capability.identity, capability.operation)
        if operation is None or operation.kind != "log":
            raise ApiError(404, "not_found", "no such upload location")
        if request.content_length is not None and request.content_length > files.max_upload:
            raise ApiError(413, "too_large", f"uploads are at most {files.max_upload} bytes")
        try:
            if request.method == "PUT":
                name = request.match_info["filename"]
                target = files.upload_path(capability.identity, name)
                size = await files.save(body_chunks(request), target)
            else:
                target, size = await self._multipart(request, files, capability.identity)
        except TooLarge:
            log.warning(
                "station file server: upload of %r for operation %s refused: over %d bytes",
                capability.identity,
                operation.id,
                files.max_upload,
            )
            raise ApiError(
                413, "too_large", f"uploads are at most {files.max_upload} bytes"
            ) from None
        self.state.operation_upload(
            operation,
            Upload(
                name=target.name,
                size=size,
                path=target.relative_to(files.root).as_posix(),
                received_at=_utcnow(),
            ),
        )
        await self.committed()
        log.info(
            "station file server: %r uploaded %s (%d bytes) for operation %s",
            capability.identity,
            target.name,
            size,
            operation.id,
        )
        return _json({"name": target.name, "size": size}, 201)

    # POST (multipart) and PUT (raw) uploads: one handler, two operationIds.
    station_upload_form = station_upload

    async def _multipart(
        self, request: web.Request, files: FileStore, identity: str
    ) -> tuple[Any, int]:
        """The "file" field of a multipart/form-data upload, saved: (its path, its size)."""
        if not request.content_type.startswith("multipart/"):
            raise ApiError(
                400, "bad_request", "POST a multipart/form-data body with a field named file"
            )
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name != "file":
                continue
            # A percent-encoded name (RFC 7578 4.2 allows it) is decoded before it is made
            # safe, so that "..%2F..%2Fx" ends up as "x", as "../../x" does.
            name = urllib.parse.unquote(part.filename or "upload")
            target = files.upload_path(identity, name)

            async def chunks(part: BodyPartReader = part) -> Any:
                while chunk := await part.read_chunk():
                    yield chunk

            return target, await files.save(chunks(), target)
        raise ApiError(400, "bad_request", "the multipart body has no field named file")

    # -- display messages (2.x) -------------------------------------------------------------

    async def list_display_messages(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        identity = request.match_info["identity"]
        connection = self.connection(identity)
        if connection.version == OCPP16:
            raise ApiError(
                422, "invalid", "an ocpp1.6 station has no display messages (2.0.1 and 2.1 have)"
            )
        request_id = commands.random_id()
        command = commands.get_display_messages(connection.version, request_id)
        outcome, report = await self.collect(
            identity, connection, command, "NotifyDisplayMessages", request_id, query["timeout"]
        )
        messages = [msgspec.to_builtins(m) for m in report.items] if report is not None else []
        return _json(DisplayMessageList(status=_answer(outcome), messages=messages))

    async def clear_display_message(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        identity = request.match_info["identity"]
        message_id = _path_int(request, "messageId")
        connection = self.connection(identity)
        if connection.version == OCPP16:
            raise ApiError(
                422, "invalid", "an ocpp1.6 station has no display messages (2.0.1 and 2.1 have)"
            )
        command = commands.clear_display_message(connection.version, message_id)
        return await self.send(identity, connection, command, query["timeout"])

    # -- id tokens --------------------------------------------------------------------------

    async def list_tokens(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        tokens = sorted(self.state.tokens.items())
        offset = query["offset"]
        page, next_url = _offset_page(request, query, tokens[offset : offset + query["limit"] + 1])
        return _json(
            TokenList(
                tokens=[_token_view(record) for _, record in page], total=len(tokens), next=next_url
            )
        )

    def _find_token(self, id_token: str) -> IdTokenRecord:
        record = self.state.token(id_token)
        if record is None:
            raise ApiError(404, "not_found", "no such id token: GET /api/tokens lists them")
        return record

    async def get_token(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        return _json(_token_view(self._find_token(request.match_info["idToken"])))

    async def create_token(
        self, request: web.Request, query: dict[str, Any], body: TokenCreate
    ) -> web.Response:
        if self.state.token(body.id_token) is not None:
            raise ApiError(409, "exists", "that id token exists: PUT replaces it")
        record = _token_record(body.id_token, body)
        self.state.set_token(record)
        await self.committed()
        log.info("operator: added id token %s (%s)", _masked(record.id_token), record.status)
        location = f"/api/tokens/{_quoted(record.id_token)}"
        return _json(_token_view(record), 201, {"Location": location})

    async def put_token(
        self, request: web.Request, query: dict[str, Any], body: TokenBody
    ) -> web.Response:
        id_token = request.match_info["idToken"]
        if not id_token or len(id_token) > _MAX_TOKEN_CHARS:
            raise ApiError(
                422,
                "invalid",
                f"an id token has 1 to {_MAX_TOKEN_CHARS} characters",
                path="idToken",
            )
        if body.id_token is not UNSET and body.id_token.casefold() != id_token.casefold():
            raise ApiError(
                422,
                "invalid",
                "idToken in the body is not the one of the URL (leave it out, or rename with "
                "DELETE and POST)",
                path="idToken",
            )
        existing = self.state.token(id_token)
        existed = existing is not None
        # A replaced token keeps its spelling (tokens compare case-insensitively: 1.6
        # CiString20, 2.x "case insensitive"), as a station keeps the identity it first used.
        record = _token_record(existing.id_token if existing is not None else id_token, body)
        self.state.set_token(record)
        await self.committed()
        log.info(
            "operator: %s id token %s (%s)",
            "replaced" if existed else "added",
            _masked(id_token),
            record.status,
        )
        if existed:
            return _json(_token_view(record))
        return _json(_token_view(record), 201, {"Location": f"/api/tokens/{_quoted(id_token)}"})

    async def delete_token(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        id_token = request.match_info["idToken"]
        if not self.state.delete_token(id_token):
            raise ApiError(404, "not_found", "no such id token: GET /api/tokens lists them")
        await self.committed()
        log.info("operator: deleted id token %s", _masked(id_token))
        return web.Response(status=204)

    # -- transactions -----------------------------------------------------------------------

    async def list_transactions(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        records = await self.state.transactions_page(
            identity=query["station"],
            active=query["active"],
            limit=query["limit"] + 1,
            offset=query["offset"],
        )
        page, next_url = _offset_page(request, query, records)
        return _json(
            TransactionList(
                transactions=[TransactionView(**_transaction_fields(r)) for r in page],
                next=next_url,
            )
        )

    async def get_transaction(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        transaction_id = request.match_info["transactionId"]
        station = query["station"]
        found = await self.state.find_transactions(transaction_id, station)
        if not found:
            where = f" of station {station!r}" if station is not None else ""
            raise ApiError(404, "not_found", f"no transaction {transaction_id!r}{where}")
        if len(found) > 1:
            stations = sorted({record.identity for record in found}, key=str.casefold)
            raise ApiError(
                409,
                "ambiguous",
                f"{len(stations)} stations have a transaction {transaction_id!r} (2.x ids are "
                "unique per station only): add ?station=<identity>",
                stations=stations,
            )
        record = found[0]
        samples = await self.state.transaction_samples(
            record, limit=query["limit"] + 1, offset=query["offset"]
        )
        page, next_url = _offset_page(request, query, samples, station=record.identity)
        return _json(
            TransactionDetail(
                **_transaction_fields(record),
                meter_values=[_sample_view(sample) for sample in page],
                meter_values_next=next_url,
            )
        )

    # -- documents --------------------------------------------------------------------------

    async def openapi(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        if self._openapi is None:
            self._openapi = msgspec.json.encode(openapi_document(self.routes))
        return web.Response(body=self._openapi, content_type="application/json")

    async def metrics(
        self, request: web.Request, query: dict[str, Any], body: None
    ) -> web.Response:
        source = self.metrics_source
        assert source is not None  # the route exists only with a metrics object
        body, content_type = source.render()
        return web.Response(body=body, headers={"Content-Type": content_type})


# -- the application --------------------------------------------------------------------------

API_KEY: web.AppKey[_Api] = web.AppKey("ocppfast_api", _Api)


def _error_response(error: ApiError) -> web.Response:
    return _json(error.body(), error.status, error.headers or None)


def _unauthorized(request: web.Request) -> ApiError:
    given = "Authorization" in request.headers
    # RFC 6750 3: the challenge names the realm; error="invalid_token" when a token was given.
    challenge = f'Bearer realm="{REALM}"' + (', error="invalid_token"' if given else "")
    return ApiError(
        401,
        "unauthorized",
        "send the API token as 'Authorization: Bearer <token>' (ocppfast serve --api-token, "
        "OCPPFAST_API_TOKEN, or the one it generated and printed at start)",
        headers={"WWW-Authenticate": challenge},
    )


def _from_http(exc: web.HTTPException) -> ApiError:
    status = exc.status
    headers = {}
    if status == 405:
        headers = {"Allow": exc.headers.get("Allow", "")}
    descriptions = {
        404: "no such route: GET /api/openapi.json lists them",
        405: f"method not allowed here; allowed: {headers.get('Allow', '')}",
        413: f"the body is larger than {MAX_BODY_BYTES} bytes",
    }
    return ApiError(
        status,
        STATUS_CODES.get(status, "error"),
        descriptions.get(status, exc.reason),
        headers=headers,
    )


def _address(request: web.Request) -> str:
    return request.remote or "?"


def create_app(
    state: CsmsState,
    server: Server,
    *,
    token: str,
    metrics: Any | None = None,
    files: FileStore | None = None,
    certificates: CertificateServices | None = None,
) -> web.Application:
    """The aiohttp application of the operator API (see the module docstring). `token` is the
    bearer token every request must carry (but on the stations' routes of the file server,
    which take a capability in the URL instead); `metrics`, when given, has `render() ->
    (body, content_type)` and is served at `GET /metrics`; `files`, when given, is the file
    server (`ocppfast.api.files`); `certificates`, the CSMS's certificate services (its CA
    for the install route's `csmsCa`, the stations' signing requests)."""
    if not token or not token.strip():
        raise ValueError("the API token is not empty")
    api = _Api(state, server, token.strip(), metrics, files, certificates)
    # The stations' routes: authorized by their capability, not the bearer token.
    public = tuple(route.path.partition("{")[0] for route in api.routes if route.public)

    @web.middleware
    async def middleware(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        started = time.monotonic()
        response: web.StreamResponse
        try:
            if not api.authorized(request) and not request.path.startswith(public):
                log.warning(
                    "refused %s %s from %s: %s bearer token",
                    request.method,
                    request.path,
                    _address(request),
                    "wrong" if "Authorization" in request.headers else "no",
                )
                raise _unauthorized(request)
            response = await handler(request)
        except ApiError as error:
            response = _error_response(error)
        except web.HTTPException as exc:
            response = _error_response(_from_http(exc))
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            response = _error_response(
                ApiError(500, "internal", "the CSMS failed on this request; see its log")
            )
        log.debug(
            "%s %s from %s: %d (%.1f ms)",
            request.method,
            request.path,
            _address(request),
            response.status,
            (time.monotonic() - started) * 1000,
        )
        return response

    app = web.Application(middlewares=[middleware], client_max_size=MAX_BODY_BYTES)
    app[API_KEY] = api
    for route in api.routes:
        app.router.add_route(route.method, route.path, api.handler(route))

    async def cleanup(_: web.Application) -> None:
        await api.close()

    app.on_cleanup.append(cleanup)
    return app


class ApiServer:
    """The operator API, listening on `host`:`port` (127.0.0.1:9001 by default; port 0 lets
    the OS choose, `port` then says which). `ssl` serves HTTPS. See `create_app` for the rest."""

    def __init__(
        self,
        state: CsmsState,
        server: Server,
        *,
        token: str,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        metrics: Any | None = None,
        ssl: _ssl.SSLContext | None = None,
        files: FileStore | None = None,
        certificates: CertificateServices | None = None,
    ) -> None:
        self.app = create_app(
            state, server, token=token, metrics=metrics, files=files, certificates=certificates
        )
        self.files = files
        self.host = host
        self._port = port
        self.ssl = ssl
        self._runner: web.AppRunner | None = None

    def __repr__(self) -> str:
        return f"<ApiServer {self.url} {'listening' if self._runner else 'stopped'}>"

    @property
    def port(self) -> int:
        """The port listened on (the one the OS chose for port 0, once started)."""
        if self._runner is not None:
            for address in self._runner.addresses:
                if isinstance(address, tuple) and len(address) >= 2:
                    return int(address[1])
        return self._port

    @property
    def url(self) -> str:
        """The API's base URL, e.g. http://127.0.0.1:9001."""
        host = self.host or "0.0.0.0"
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.ssl is not None else 'http'}://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and serve; OSError when the address is taken."""
        if self._runner is not None:
            raise RuntimeError("the API server is already started")
        # No access log of aiohttp's own (the middleware logs each request at DEBUG); a
        # short graceful shutdown: an operator's request is not worth a minute's wait.
        runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=5.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port, ssl_context=self.ssl)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("operator API on %s (bearer token required)", self.url)
        if self.files is not None:
            if self.files.base_url is None:
                self.files.base_url = self.url
                if not self.host or self.host in ("0.0.0.0", "::"):
                    log.warning(
                        "the file server's URLs name %s, which stations cannot reach: give "
                        "--public-url (the address stations reach this server at)",
                        self.url,
                    )
            log.info(
                "file server: %s (firmware from %s, uploads into %s)",
                self.files.base_url,
                self.files.root,
                self.files.uploads,
            )
        if self.ssl is None and not is_loopback(self.host):
            log.warning(
                "the operator API listens on %s over plain HTTP: its token crosses the network "
                "in clear; serve it on 127.0.0.1 behind a TLS proxy, or give it an SSL context",
                self.host or "all interfaces",
            )

    async def stop(self) -> None:
        """Stop serving (requests in progress get a few seconds to finish)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> ApiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
