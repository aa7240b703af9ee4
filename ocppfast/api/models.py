"""The bodies of the operator API: what it takes and what it answers, as msgspec Structs.

camelCase on the wire, like OCPP (`rename="camel"`); request bodies refuse fields they do not
have (a typo is an error, not a silently ignored field). The same Structs decode the requests,
encode the answers and make the OpenAPI document (`ocppfast.api.openapi`), so the document
cannot drift from what the API does.

Absent optional request fields are `UNSET`; a field that may be removed takes `null`
(`StationPatch.password`). Answers carry every field, `null` when unknown.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

__all__ = [
    "AvailabilityBody",
    "BootView",
    "CallBody",
    "CallErrorView",
    "CallOutcome",
    "ConfigurationBody",
    "ConnectorView",
    "ErrorBody",
    "ErrorDetail",
    "MessageList",
    "MessageView",
    "RemoteStartBody",
    "RemoteStopBody",
    "ResetBody",
    "SampleView",
    "StationCreate",
    "StationList",
    "StationPatch",
    "StationView",
    "TokenBody",
    "TokenCreate",
    "TokenList",
    "TokenView",
    "TransactionDetail",
    "TransactionList",
    "TransactionView",
    "TriggerBody",
    "UnlockBody",
]

# What a station's boots are answered (C16 7.38 RegistrationStatus, 2.x RegistrationStatusEnumType).
Approval = Literal["Accepted", "Pending", "Rejected"]

# The authorization statuses an id token may have: 2.0.1/2.1 AuthorizationStatusEnumType (a
# test checks they are the same), of which the 1.6 ones (C16 7.2: Accepted, Blocked, Expired,
# Invalid, ConcurrentTx) are a part; a 1.6 station is told Invalid for the others
# (`CsmsState.authorize`).
AuthorizationStatus = Literal[
    "Accepted",
    "Blocked",
    "ConcurrentTx",
    "Expired",
    "Invalid",
    "NoCredit",
    "NotAllowedTypeEVSE",
    "NotAtThisLocation",
    "NotAtThisTime",
    "Unknown",
]

# J201 3.1.1 / J21 3.1.1: "The maximum length of the Charging Station identity is: 48".
Identity = Annotated[str, Meta(min_length=1, max_length=48, description="Station identity.")]
# The longest id token of any version: 2.1 IdTokenType.idToken (1.6 IdToken: 20; 2.0.1: 36).
IdTokenText = Annotated[str, Meta(min_length=1, max_length=255)]
# RFC 3339 with an offset: a naive time is refused (which zone would it be in?).
AwareTime = Annotated[datetime.datetime, Meta(tz=True)]
# Seconds to wait for the station's answer: more than five minutes is no longer a request.
Timeout = Annotated[float, Meta(gt=0, le=300, description="Seconds to wait for the answer.")]
PositiveInt = Annotated[int, Meta(ge=0, le=2**31 - 1)]


class _In(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies."""


class _Out(msgspec.Struct, rename="camel", kw_only=True):
    """Base of answers."""


# -- errors -------------------------------------------------------------------------------------


class ErrorDetail(_Out, kw_only=True):
    """What went wrong: a short machine-readable `code`, a `description` saying what to do,
    and for an invalid field or query parameter its `path` (e.g. `payload.connectorId`)."""

    code: str
    description: str
    path: str | UnsetType = UNSET
    stations: list[str] | UnsetType = UNSET


class ErrorBody(_Out, kw_only=True):
    """Every error answer (4xx, 5xx)."""

    error: ErrorDetail


# -- stations -----------------------------------------------------------------------------------


class StationCreate(_In, kw_only=True):
    """Register a station: its boots are answered `approval`; with `password`, it must
    authenticate with HTTP Basic auth (security profile 1/2): a 2.x BasicAuthPassword of 16 to
    40 characters, or a 1.6 AuthorizationKey as 32 to 40 hex digits."""

    identity: Identity
    password: Annotated[str, Meta(min_length=1, max_length=1000)] | UnsetType = UNSET
    approval: Approval = "Accepted"


class StationPatch(_In, kw_only=True):
    """Change a registered station: `approval`, and `password` (null removes it)."""

    approval: Approval | UnsetType = UNSET
    password: Annotated[str, Meta(min_length=1, max_length=1000)] | UnsetType | None = UNSET


class BootView(_Out, kw_only=True):
    """What the last BootNotification said."""

    vendor: str
    model: str
    serial_number: str | None
    firmware_version: str | None
    reason: str | None
    extra: dict[str, str]


class ConnectorView(_Out, kw_only=True):
    """The last status of a connector (1.6: `evseId` null; connector 0 is the whole station)."""

    evse_id: int | None
    connector_id: int
    status: str
    error_code: str | None
    info: str | None
    vendor_id: str | None
    vendor_error_code: str | None
    timestamp: datetime.datetime


class StationView(_Out, kw_only=True):
    """A registered station: the operator's decision (`approval`), the answer to its last boot
    (`registrationStatus`), its connection, what it said at boot, its connectors and its
    transactions in progress."""

    identity: str
    registered: bool
    approval: str | None
    registration_status: str | None
    connected: bool
    ocpp_version: str | None
    boot: BootView | None
    booted_at: datetime.datetime | None
    connected_at: datetime.datetime | None
    disconnected_at: datetime.datetime | None
    last_seen: datetime.datetime | None
    last_heartbeat: datetime.datetime | None
    has_password: bool
    connectors: list[ConnectorView]
    active_transactions: list[int | str]


class StationList(_Out, kw_only=True):
    """A page of stations, by identity; `next` is the URL of the next page, or null."""

    stations: list[StationView]
    total: int
    next: str | None


# -- id tokens ----------------------------------------------------------------------------------


class TokenBody(_In, kw_only=True):
    """An id token as `PUT /api/tokens/{idToken}` takes it (`idToken`, if given, must be the
    one of the URL). `status` is what stations are told when it is presented (Expired once
    `expiresAt` has passed); `parentId` (1.6 parentIdTag) and `groupId` (2.x groupIdToken) let
    tokens of one group stop each other's transactions; `type` is the 2.x IdTokenEnumType."""

    id_token: IdTokenText | UnsetType = UNSET
    status: AuthorizationStatus = "Accepted"
    expires_at: AwareTime | None = None
    parent_id: IdTokenText | None = None
    group_id: IdTokenText | None = None
    type: Annotated[str, Meta(min_length=1, max_length=20)] | None = None


class TokenCreate(TokenBody, kw_only=True):
    """An id token as `POST /api/tokens` takes it (`idToken` required); see `TokenBody`."""

    id_token: IdTokenText


class TokenView(_Out, kw_only=True):
    """A known id token."""

    id_token: str
    status: str
    expires_at: datetime.datetime | None
    parent_id: str | None
    group_id: str | None
    type: str | None


class TokenList(_Out, kw_only=True):
    """A page of id tokens, in case-insensitive order."""

    tokens: list[TokenView]
    total: int
    next: str | None


# -- transactions -------------------------------------------------------------------------------


class SampleView(_Out, kw_only=True):
    """One sampled value: `text` as sent, `value` the number (2.x multiplier applied), the rest
    as the station named them (null: the spec's default, e.g. Wh)."""

    timestamp: datetime.datetime
    value: float | None
    text: str
    measurand: str
    unit: str | None
    phase: str | None
    location: str | None
    context: str | None
    signed: bool


class TransactionView(_Out, kw_only=True):
    """A transaction. `transactionId`: 1.6 the integer the CSMS gave, 2.x the station's text;
    `energyWh`: delivered so far (stop or latest reading minus start); `missingSeqNos`: 2.x
    TransactionEvent seqNos not received (yet)."""

    station: str
    transaction_id: int | str
    version: str
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    stop_id_token: str | None
    started_at: datetime.datetime | None
    ended_at: datetime.datetime | None
    active: bool
    meter_start: float | None
    meter_stop: float | None
    energy_wh: float | None
    stop_reason: str | None
    charging_state: str | None
    offline: bool
    missing_seq_nos: list[int]
    remote_start_id: int | None
    reservation_id: int | None


class TransactionDetail(TransactionView, kw_only=True):
    """A transaction with a page of its meter values, in order of arrival; `meterValuesNext`
    is the URL of the next page of them, or null."""

    meter_values: list[SampleView]
    meter_values_next: str | None


class TransactionList(_Out, kw_only=True):
    """A page of transactions, most recently started first."""

    transactions: list[TransactionView]
    next: str | None


# -- the traffic log ----------------------------------------------------------------------------


class MessageView(_Out, kw_only=True):
    """A frame of the traffic log: `direction` "in" (from the station) or "out"."""

    id: int
    at: datetime.datetime
    direction: str
    frame: str


class MessageList(_Out, kw_only=True):
    """A page of the traffic log, newest first."""

    messages: list[MessageView]
    next: str | None


# -- calls to stations --------------------------------------------------------------------------


class CallBody(_In, kw_only=True):
    """Any message the CSMS may send to the station, in the station's OCPP version: `payload`
    as OCPP's JSON (camelCase)."""

    action: Annotated[str, Meta(min_length=1, max_length=100)]
    payload: dict[str, Any] = msgspec.field(default_factory=dict)
    timeout: Timeout | UnsetType = UNSET


class CallErrorView(_Out, kw_only=True):
    """The station's CALLERROR: its code (in the station's version's spelling), description
    and details."""

    code: str
    description: str
    details: dict[str, Any]


class CallOutcome(_Out, kw_only=True):
    """The station's answer: `result` (its CALLRESULT payload, as OCPP's JSON) or `error` (its
    CALLERROR). `remoteStartId`: the one sent with a 2.x RequestStartTransaction."""

    result: dict[str, Any] | UnsetType = UNSET
    error: CallErrorView | UnsetType = UNSET
    remote_start_id: int | UnsetType = UNSET


class _Timed(_In, kw_only=True):
    timeout: Timeout | UnsetType = UNSET


class RemoteStartBody(_Timed, kw_only=True):
    """Start a transaction: 1.6 RemoteStartTransaction (`connectorId`), 2.x
    RequestStartTransaction (`evseId`, `type` of the id token, default Central, and
    `remoteStartId`, generated when absent). `chargingProfile` as OCPP's JSON."""

    id_token: IdTokenText
    type: Annotated[str, Meta(min_length=1, max_length=20)] | UnsetType = UNSET
    connector_id: PositiveInt | UnsetType = UNSET
    evse_id: PositiveInt | UnsetType = UNSET
    remote_start_id: int | UnsetType = UNSET
    charging_profile: dict[str, Any] | UnsetType = UNSET


class RemoteStopBody(_Timed, kw_only=True):
    """Stop a transaction: 1.6 RemoteStopTransaction (an integer id), 2.x
    RequestStopTransaction (the station's text)."""

    transaction_id: int | Annotated[str, Meta(min_length=1, max_length=36)]


class ResetBody(_Timed, kw_only=True):
    """Reset the station (or, 2.x, one EVSE). 1.6 Hard/Soft; 2.x Immediate/OnIdle (2.1 also
    ImmediateAndResume); Hard and Immediate, Soft and OnIdle stand for each other."""

    type: Literal["Hard", "Soft", "Immediate", "OnIdle", "ImmediateAndResume"]
    evse_id: PositiveInt | UnsetType = UNSET


class TriggerBody(_Timed, kw_only=True):
    """Ask the station to send a message (TriggerMessage): `message` a MessageTrigger value of
    its version; 1.6 `connectorId`, 2.x `evseId` (and `connectorId` within it)."""

    message: Annotated[str, Meta(min_length=1, max_length=100)]
    connector_id: PositiveInt | UnsetType = UNSET
    evse_id: PositiveInt | UnsetType = UNSET


class AvailabilityBody(_Timed, kw_only=True):
    """Make the station, an EVSE (2.x) or a connector operative or inoperative
    (ChangeAvailability). Without `connectorId`/`evseId`: the whole station."""

    operative: bool
    connector_id: PositiveInt | UnsetType = UNSET
    evse_id: PositiveInt | UnsetType = UNSET


class UnlockBody(_Timed, kw_only=True):
    """Unlock a connector (UnlockConnector): 1.6 `connectorId`; 2.x `evseId` and
    `connectorId`."""

    connector_id: PositiveInt
    evse_id: PositiveInt | UnsetType = UNSET


class ConfigurationBody(_Timed, kw_only=True):
    """Set one configuration value: 1.6 ChangeConfiguration (`key` a configuration key);
    2.x SetVariables (`key` "Component.Variable", with "[instance]" after either name where
    needed; `attribute` default Actual)."""

    key: Annotated[str, Meta(min_length=1, max_length=200)]
    value: Annotated[str, Meta(max_length=1000)]
    attribute: Literal["Actual", "Target", "MinSet", "MaxSet"] | UnsetType = UNSET


REQUEST_BODIES: tuple[type, ...] = (
    StationCreate,
    StationPatch,
    TokenCreate,
    TokenBody,
    CallBody,
    RemoteStartBody,
    RemoteStopBody,
    ResetBody,
    TriggerBody,
    AvailabilityBody,
    UnlockBody,
    ConfigurationBody,
)
RESPONSE_BODIES: tuple[type, ...] = (
    ErrorBody,
    StationView,
    StationList,
    TokenView,
    TokenList,
    TransactionDetail,
    TransactionList,
    MessageList,
    CallOutcome,
)
