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
    "CertificateDeleteBody",
    "CertificateInstallBody",
    "CertificateRenewBody",
    "ChargingProfileBody",
    "ClearProfilesBody",
    "CompositeScheduleBody",
    "ConfigurationBody",
    "ConnectorView",
    "DisplayMessageBody",
    "DisplayMessageList",
    "ErrorBody",
    "ErrorDetail",
    "FileList",
    "FileView",
    "FirmwareBody",
    "ItemOutcome",
    "LogBody",
    "MessageList",
    "MessageView",
    "OperationList",
    "OperationView",
    "PeriodBody",
    "ProfileList",
    "ProfileView",
    "RemoteStartBody",
    "RemoteStopBody",
    "ReservationBody",
    "ReservationList",
    "ReservationView",
    "ResetBody",
    "SampleView",
    "ScheduleBody",
    "SigningRequestList",
    "SigningRequestView",
    "StationCreate",
    "StationList",
    "StationPatch",
    "StationView",
    "StatusView",
    "TokenBody",
    "TokenCreate",
    "TokenList",
    "TokenView",
    "TransactionDetail",
    "TransactionList",
    "TransactionView",
    "TriggerBody",
    "UnlockBody",
    "UploadView",
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
    #: The lowest security profile it may connect with (SW A05.FR.09); unknown until its first
    #: connection when not given.
    security_profile: Annotated[int, Meta(ge=0, le=3)] | UnsetType = UNSET


class StationPatch(_In, kw_only=True):
    """Change a registered station: `approval`, and `password` (null removes it)."""

    approval: Approval | UnsetType = UNSET
    password: Annotated[str, Meta(min_length=1, max_length=1000)] | UnsetType | None = UNSET
    #: The lowest security profile it may connect with; lowering it is only done here, never
    #: through OCPP (SW A00.FR.005); null: unknown again (its next connection sets it).
    security_profile: Annotated[int, Meta(ge=0, le=3)] | UnsetType | None = UNSET


class PasswordRotation(_In, kw_only=True):
    """Rotate a connected station's Basic auth password (SW A01): `password`, else a random
    one (A01.FR.07): 40 hex digits for 1.6, 40 letters and digits for 2.x."""

    password: Annotated[str, Meta(min_length=1, max_length=1000)] | UnsetType = UNSET
    timeout: Annotated[float, Meta(gt=0, le=300)] | UnsetType = UNSET


class PasswordRotationView(_Out, kw_only=True):
    """What became of a rotation (never the password): `status` is the station's answer
    ("Accepted", "RebootRequired", "Rejected", ..., a CALLERROR code, or "NoAnswer");
    `accepted` lists which passwords the CSMS accepts now: ["new"] after Accepted (A01.FR.03),
    ["old"] after a refusal (A01.FR.04), ["old", "new"] without an answer, until the station
    connects with the new one."""

    identity: str
    status: str
    generated: bool
    accepted: list[str]
    description: str


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
    security_profile: int | None
    password_rotation_pending: bool
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


# -- security events ----------------------------------------------------------------------------


class SecurityEventView(_Out, kw_only=True):
    """A security event a station reported (SecurityEventNotification): `type`, `timestamp`
    (the station's), `techInfo`, `critical` as the spec's list of the station's version says
    (null: a type the list does not have), `receivedAt`."""

    type: str
    timestamp: datetime.datetime
    tech_info: str | None
    critical: bool | None
    received_at: datetime.datetime


class SecurityEventList(_Out, kw_only=True):
    """A page of a station's security events, newest first."""

    events: list[SecurityEventView]
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


# -- smart charging, reservations, firmware and logs, display messages ---------------------------

ChargingRateUnit = Literal["A", "W"]
Seconds = Annotated[int, Meta(ge=0, le=2**31 - 1)]


class PeriodBody(_In, kw_only=True):
    """A period of a charging schedule: from `startPeriod` (seconds from the schedule's
    start) on, at most `limit` (in the schedule's unit); `numberPhases`, 2.x `phaseToUse`."""

    start_period: Seconds
    limit: float
    number_phases: Annotated[int, Meta(ge=1, le=3)] | UnsetType = UNSET
    phase_to_use: Annotated[int, Meta(ge=1, le=3)] | UnsetType = UNSET


class ScheduleBody(_In, kw_only=True):
    """A charging schedule: `unit` A or W, its `periods`, optional `startSchedule`,
    `duration` (seconds), `minChargingRate`; 2.x `id` (default 1)."""

    unit: ChargingRateUnit
    periods: Annotated[list[PeriodBody], Meta(min_length=1, max_length=1024)]
    id: int | UnsetType = UNSET
    start_schedule: AwareTime | UnsetType = UNSET
    duration: Seconds | UnsetType = UNSET
    min_charging_rate: float | UnsetType = UNSET


class ChargingProfileBody(_Timed, kw_only=True):
    """Set a charging profile (SetChargingProfile): on 1.6 `connectorId` or 2.x `evseId` (0,
    the default: the whole station); `id` (chargingProfileId, generated when absent),
    `stackLevel`, `purpose` (ChargePointMaxProfile and ChargingStationMaxProfile stand for each
    other), `kind` (Absolute, Recurring, Relative), `recurrency` (Daily, Weekly), `validFrom`,
    `validTo`, `transactionId` (TxProfile), and the `schedule`."""

    stack_level: Seconds
    purpose: Annotated[str, Meta(min_length=1, max_length=50)]
    kind: Annotated[str, Meta(min_length=1, max_length=50)]
    schedule: ScheduleBody
    id: int | UnsetType = UNSET
    connector_id: PositiveInt | UnsetType = UNSET
    evse_id: PositiveInt | UnsetType = UNSET
    recurrency: Annotated[str, Meta(min_length=1, max_length=50)] | UnsetType = UNSET
    valid_from: AwareTime | UnsetType = UNSET
    valid_to: AwareTime | UnsetType = UNSET
    transaction_id: int | Annotated[str, Meta(min_length=1, max_length=36)] | UnsetType = UNSET


class ClearProfilesBody(_Timed, kw_only=True):
    """Clear charging profiles (ClearChargingProfile): the one of `id`, or every one that
    matches all the criteria given (`connectorId` 1.6 / `evseId` 2.x, `purpose`,
    `stackLevel`); nothing given clears them all."""

    id: int | UnsetType = UNSET
    connector_id: PositiveInt | UnsetType = UNSET
    evse_id: PositiveInt | UnsetType = UNSET
    purpose: Annotated[str, Meta(min_length=1, max_length=50)] | UnsetType = UNSET
    stack_level: Seconds | UnsetType = UNSET


class CompositeScheduleBody(_Timed, kw_only=True):
    """Ask for the composite schedule (GetCompositeSchedule) of 1.6 `connectorId` or 2.x
    `evseId` (0, the default: the whole station) for `duration` seconds, in `unit`."""

    duration: Seconds
    connector_id: PositiveInt | UnsetType = UNSET
    evse_id: PositiveInt | UnsetType = UNSET
    unit: ChargingRateUnit | UnsetType = UNSET


class ProfileView(_Out, kw_only=True):
    """A charging profile a station has: where (`connectorId` 1.6, `evseId` 2.x), its
    `chargingProfile` as OCPP's JSON of the station's version, `chargingLimitSource` (2.x) and
    `setAt` (1.6: when the CSMS set it)."""

    connector_id: int | None
    evse_id: int | None
    charging_limit_source: str | None
    set_at: datetime.datetime | None
    charging_profile: dict[str, Any]


class ProfileList(_Out, kw_only=True):
    """A station's charging profiles: `source` "station" (2.x GetChargingProfiles, its
    ReportChargingProfiles collected; `status` its answer) or "csms" (1.6, which has no such
    message: those this CSMS set and the station accepted, minus those cleared or ended)."""

    source: str
    status: str | None
    profiles: list[ProfileView]


class ReservationBody(_Timed, kw_only=True):
    """Reserve (ReserveNow) for `idToken` until `expiresAt`: 1.6 `connectorId` (default 0:
    any connector) and `parentIdToken`; 2.x `evseId` (none: any EVSE), `connectorType`,
    `type` of the token (default Central) and `groupIdToken`. `id` (the reservationId) is
    chosen by the CSMS when absent."""

    id_token: IdTokenText
    expires_at: AwareTime
    id: PositiveInt | UnsetType = UNSET
    connector_id: PositiveInt | UnsetType = UNSET
    evse_id: PositiveInt | UnsetType = UNSET
    connector_type: Annotated[str, Meta(min_length=1, max_length=20)] | UnsetType = UNSET
    type: Annotated[str, Meta(min_length=1, max_length=20)] | UnsetType = UNSET
    parent_id_token: IdTokenText | UnsetType = UNSET
    group_id_token: IdTokenText | UnsetType = UNSET


class ReservationView(_Out, kw_only=True):
    """A reservation the CSMS made, with its `status`: Requested (no answer yet), the
    station's answer (Accepted, Faulted, Occupied, Rejected, Unavailable), then Cancelled,
    Used (by `transactionId`), Expired or Removed."""

    id: int
    id_token: str
    expires_at: datetime.datetime
    status: str
    connector_id: int | None
    evse_id: int | None
    connector_type: str | None
    parent_id_token: str | None
    group_id_token: str | None
    transaction_id: int | str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime


class ReservationList(_Out, kw_only=True):
    """A station's reservations, most recent first."""

    reservations: list[ReservationView]


class FirmwareBody(_Timed, kw_only=True):
    """Update the firmware (1.6 UpdateFirmware, or SignedUpdateFirmware with `signature` and
    `signingCertificate`; 2.x UpdateFirmware): `file` (a file of the file server, by name) or
    `location` (any URL); `retrieveAt` (default now), `installAt` (signed/2.x), `retries`,
    `retryInterval` (seconds). Signed firmware (SW L01): `sign` true has the CSMS sign `file`
    with its firmware signer (`ocppfast serve --firmware-signer-cert/-key`); or give
    `signature` and `signingCertificate` made elsewhere (both)."""

    file: Annotated[str, Meta(min_length=1, max_length=255)] | UnsetType = UNSET
    location: Annotated[str, Meta(min_length=1, max_length=512)] | UnsetType = UNSET
    retrieve_at: AwareTime | UnsetType = UNSET
    install_at: AwareTime | UnsetType = UNSET
    retries: Seconds | UnsetType = UNSET
    retry_interval: Seconds | UnsetType = UNSET
    signing_certificate: Annotated[str, Meta(min_length=1, max_length=5500)] | UnsetType = UNSET
    signature: Annotated[str, Meta(min_length=1, max_length=800)] | UnsetType = UNSET
    sign: bool | UnsetType = UNSET


class LogBody(_Timed, kw_only=True):
    """Have the station upload its logs: 1.6 GetDiagnostics, or GetLog when `logType` is
    given (DiagnosticsLog, SecurityLog; 2.x always GetLog, default DiagnosticsLog), to
    `location` (default: this server's upload endpoint), the entries from `since` to `until`,
    with `retries` and `retryInterval` (seconds)."""

    log_type: Literal["DiagnosticsLog", "SecurityLog", "DataCollectorLog"] | UnsetType = UNSET
    location: Annotated[str, Meta(min_length=1, max_length=512)] | UnsetType = UNSET
    since: AwareTime | UnsetType = UNSET
    until: AwareTime | UnsetType = UNSET
    retries: Seconds | UnsetType = UNSET
    retry_interval: Seconds | UnsetType = UNSET


class StatusView(_Out, kw_only=True):
    """A status the station reported, and when it was received."""

    status: str
    at: datetime.datetime


class UploadView(_Out, kw_only=True):
    """A file the station uploaded: `download` is its URL on this API (bearer token needed)."""

    name: str
    size: int
    received_at: datetime.datetime
    download: str


class OperationView(_Out, kw_only=True):
    """A firmware update (`kind` "firmware") or log upload ("log") and how it went: the
    message sent (`action`, `requestId`), the station's `answer`, the `statuses` it reported in
    order (FirmwareStatusNotification, DiagnosticsStatusNotification, LogStatusNotification),
    the files it uploaded. `location` is the URL the station was given (its capability
    expires at `expiresAt`)."""

    id: int
    kind: str
    action: str
    request_id: int | None
    created_at: datetime.datetime
    location: str
    firmware: str | None
    log_type: str | None
    expires_at: datetime.datetime | None
    answer: str | None
    file_name: str | None
    status: str | None
    statuses: list[StatusView]
    uploads: list[UploadView]


class OperationList(_Out, kw_only=True):
    """A station's operations, most recent first."""

    operations: list[OperationView]


class ItemOutcome(CallOutcome, kw_only=True):
    """The station's answer (`result` or `error`) and what the CSMS follows of it: the
    `reservation` or `operation` made."""

    reservation: ReservationView | UnsetType = UNSET
    operation: OperationView | UnsetType = UNSET


class DisplayMessageBody(_Timed, kw_only=True):
    """Set a display message (2.x SetDisplayMessage): `id` (generated when absent),
    `priority` (AlwaysFront, InFront, NormalCycle), `state`, `startAt`, `endAt`,
    `transactionId`, the `content` in `format` (default UTF8) and `language`, and the `evseId`
    whose display shows it (none: the station's)."""

    content: Annotated[str, Meta(min_length=1, max_length=1024)]
    priority: Annotated[str, Meta(min_length=1, max_length=20)]
    id: PositiveInt | UnsetType = UNSET
    state: Annotated[str, Meta(min_length=1, max_length=20)] | UnsetType = UNSET
    start_at: AwareTime | UnsetType = UNSET
    end_at: AwareTime | UnsetType = UNSET
    transaction_id: Annotated[str, Meta(min_length=1, max_length=36)] | UnsetType = UNSET
    format: Annotated[str, Meta(min_length=1, max_length=20)] = "UTF8"
    language: Annotated[str, Meta(min_length=1, max_length=8)] | UnsetType = UNSET
    evse_id: PositiveInt | UnsetType = UNSET


class DisplayMessageList(_Out, kw_only=True):
    """The display messages a station has (GetDisplayMessages, its NotifyDisplayMessages
    collected): `status` its answer, `messages` as OCPP's MessageInfoType JSON."""

    status: str | None
    messages: list[dict[str, Any]]


class FileView(_Out, kw_only=True):
    """A file of the file server (firmware images the operator put there)."""

    name: str
    size: int
    modified_at: datetime.datetime


class FileList(_Out, kw_only=True):
    """The files of the file server, by name."""

    files: list[FileView]


# -- certificates on a station (SW A02/M03-M05; 2.x A02, M03-M05) --------------------------------


class CertificateInstallBody(_Timed, kw_only=True):
    """InstallCertificate: `type` (1.6 CentralSystemRootCertificate or
    ManufacturerRootCertificate; 2.x InstallCertificateUseEnumType, e.g. CSMSRootCertificate;
    either CSMS spelling is taken in every version), and either `certificate` (one PEM
    certificate) or `csmsCa: true` (this CSMS's own root, from its --pki directory)."""

    type: Annotated[str, Meta(min_length=1, max_length=50)]
    certificate: Annotated[str, Meta(min_length=1, max_length=5500)] | UnsetType = UNSET
    csms_ca: bool | UnsetType = UNSET


class CertificateDeleteBody(_Timed, kw_only=True):
    """DeleteCertificate: `hashData`, the certificateHashData of the certificate as
    GET .../certificates listed it (hashAlgorithm, issuerNameHash, issuerKeyHash,
    serialNumber)."""

    hash_data: dict[str, Any]


class CertificateRenewBody(_Timed, kw_only=True):
    """Renew the station's certificate (SW A02, 2.x A02): `type` ChargingStationCertificate
    (the default; 1.6 has only this one), V2GCertificate or (2.1) V2G20Certificate."""

    type: (
        Literal["ChargingStationCertificate", "V2GCertificate", "V2G20Certificate"] | UnsetType
    ) = UNSET


class SigningRequestView(_Out, kw_only=True):
    """A SignCertificate the station sent and what became of it: `status` Refused (answered
    Rejected), Signing, Signed, Refused by CA, Failed (`reason` says why) or Sent (then
    `stationAnswer`: Accepted, Rejected, a CALLERROR or no answer); the new certificate's
    `serial` (hexadecimal) and `notAfter`."""

    certificate_type: str
    received_at: datetime.datetime
    status: str
    reason: str | None
    serial: str | None
    not_after: datetime.datetime | None
    station_answer: str | None
    updated_at: datetime.datetime | None


class SigningRequestList(_Out, kw_only=True):
    """A station's certificate signing requests, newest first (the last 20, in memory)."""

    requests: list[SigningRequestView]


REQUEST_BODIES: tuple[type, ...] = (
    StationCreate,
    StationPatch,
    PasswordRotation,
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
    ChargingProfileBody,
    ClearProfilesBody,
    CompositeScheduleBody,
    ReservationBody,
    FirmwareBody,
    LogBody,
    DisplayMessageBody,
    CertificateInstallBody,
    CertificateDeleteBody,
    CertificateRenewBody,
)
RESPONSE_BODIES: tuple[type, ...] = (
    ErrorBody,
    StationView,
    StationList,
    PasswordRotationView,
    TokenView,
    TokenList,
    TransactionDetail,
    TransactionList,
    MessageList,
    SecurityEventList,
    CallOutcome,
    ItemOutcome,
    ProfileList,
    ReservationView,
    ReservationList,
    OperationView,
    OperationList,
    DisplayMessageList,
    FileView,
    FileList,
    SigningRequestList,
)
