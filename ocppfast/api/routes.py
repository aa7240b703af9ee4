"""The routes of the operator API: one table, which `ocppfast.api.app` serves and
`ocppfast.api.openapi` documents, so that the document lists every route there is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import commands
from .models import (
    AvailabilityBody,
    CallBody,
    CallOutcome,
    CertificateDeleteBody,
    CertificateInstallBody,
    CertificateRenewBody,
    ChargingProfileBody,
    ClearProfilesBody,
    CompositeScheduleBody,
    ConfigurationBody,
    DisplayMessageBody,
    DisplayMessageList,
    FileList,
    FileView,
    FirmwareBody,
    ItemOutcome,
    LogBody,
    MessageList,
    OperationList,
    OperationView,
    PasswordRotation,
    PasswordRotationView,
    ProfileList,
    RemoteStartBody,
    RemoteStopBody,
    ReservationBody,
    ReservationList,
    ResetBody,
    SecurityEventList,
    SigningRequestList,
    StationCreate,
    StationList,
    StationPatch,
    StationView,
    TokenBody,
    TokenCreate,
    TokenList,
    TokenView,
    TransactionDetail,
    TransactionList,
    TriggerBody,
    UnlockBody,
)
from .openapi import Query, Route

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "METRICS_ROUTE", "ROUTES"]

# Paging: a page has `limit` items, 100 unless asked, at most 1000.
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# The largest `offset` taken: beyond any real number of items, and a bound on the work.
_MAX_OFFSET = 10**9


def _limit(default: int = DEFAULT_LIMIT) -> Query:
    return Query(
        "limit", "int", f"Items per page (at most {MAX_LIMIT}).", 1, MAX_LIMIT, default=default
    )


_OFFSET = Query("offset", "int", "Items to skip.", 0, _MAX_OFFSET, default=0)
_TIMEOUT = Query("timeout", "float", "Seconds to wait for the station's answer.", 0.001, 300)
_COMMAND_ERRORS = (404, 409, 422, 503, 504)


def _command(
    method: str,
    name: str,
    handler: str,
    summary: str,
    body: type,
    build: Callable[[str, Any], commands.Command],
) -> Route:
    """A typed command's route, /api/stations/{identity}/`name`: its body decoded as `body`,
    `build` makes the message of the station's version."""
    return Route(
        method,
        "/api/stations/{identity}/" + name,
        handler,
        summary,
        body=body,
        response=CallOutcome,
        errors=_COMMAND_ERRORS,
        command=build,
    )


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/api/stations",
        "list_stations",
        "List registered stations, by identity.",
        response=StationList,
        query=(
            Query("connected", "bool", "Only those connected (true) or not (false)."),
            _limit(),
            _OFFSET,
        ),
    ),
    Route(
        "POST",
        "/api/stations",
        "create_station",
        "Register a station.",
        status=201,
        body=StationCreate,
        response=StationView,
        errors=(409, 422, 503),
    ),
    Route(
        "GET",
        "/api/stations/{identity}",
        "get_station",
        "Show a registered station.",
        response=StationView,
        errors=(404,),
    ),
    Route(
        "PATCH",
        "/api/stations/{identity}",
        "patch_station",
        "Change a station's approval or password (null removes it).",
        body=StationPatch,
        response=StationView,
        errors=(404, 422, 503),
    ),
    Route(
        "DELETE",
        "/api/stations/{identity}",
        "delete_station",
        "Unregister a station and close its connection.",
        status=204,
        errors=(404, 503),
    ),
    Route(
        "POST",
        "/api/stations/{identity}/password",
        "rotate_password",
        "Rotate a connected station's Basic auth password (SW A01; never echoed).",
        body=PasswordRotation,
        response=PasswordRotationView,
        errors=(404, 409, 422, 503),
    ),
    Route(
        "GET",
        "/api/stations/{identity}/messages",
        "list_messages",
        "The station's traffic log, newest first.",
        response=MessageList,
        query=(
            Query("before", "int", "Only frames with a smaller id (the next page).", 1),
            _limit(),
        ),
        errors=(404,),
    ),
    Route(
        "GET",
        "/api/stations/{identity}/security-events",
        "list_security_events",
        "The security events the station reported (SecurityEventNotification), newest first.",
        response=SecurityEventList,
        query=(_limit(), _OFFSET),
        errors=(404,),
    ),
    Route(
        "POST",
        "/api/stations/{identity}/calls",
        "post_call",
        "Send the station any message the CSMS may send in its version.",
        body=CallBody,
        response=CallOutcome,
        errors=_COMMAND_ERRORS,
    ),
    _command(
        "POST",
        "remote-start",
        "remote_start",
        "Start a transaction (RemoteStartTransaction / RequestStartTransaction).",
        RemoteStartBody,
        commands.remote_start,
    ),
    _command(
        "POST",
        "remote-stop",
        "remote_stop",
        "Stop a transaction (RemoteStopTransaction / RequestStopTransaction).",
        RemoteStopBody,
        commands.remote_stop,
    ),
    _command(
        "POST",
        "reset",
        "reset",
        "Reset the station (Reset).",
        ResetBody,
        commands.reset,
    ),
    _command(
        "POST",
        "trigger",
        "trigger",
        "Ask the station to send a message (TriggerMessage).",
        TriggerBody,
        commands.trigger,
    ),
    _command(
        "POST",
        "availability",
        "availability",
        "Make the station, an EVSE or a connector (in)operative (ChangeAvailability).",
        AvailabilityBody,
        commands.availability,
    ),
    _command(
        "POST",
        "unlock",
        "unlock",
        "Unlock a connector (UnlockConnector).",
        UnlockBody,
        commands.unlock,
    ),
    # -- certificates on the station (SW A02, M03-M05; 2.x A02, M03-M05)
    Route(
        "POST",
        "/api/stations/{identity}/certificates",
        "install_certificate",
        "Install a root certificate, given as PEM or this CSMS's own CA (InstallCertificate).",
        body=CertificateInstallBody,
        response=CallOutcome,
        errors=_COMMAND_ERRORS,
    ),
    Route(
        "GET",
        "/api/stations/{identity}/certificates",
        "list_certificates",
        "The certificates installed on the station (GetInstalledCertificateIds).",
        response=CallOutcome,
        query=(
            Query(
                "type",
                "str",
                "The certificate types to list (1.6: exactly one; 2.x: none lists all). Repeat "
                "it or separate types with commas.",
                multiple=True,
            ),
            _TIMEOUT,
        ),
        errors=_COMMAND_ERRORS,
    ),
    _command(
        "POST",
        "certificates/delete",
        "delete_certificate",
        "Delete an installed certificate by the hash data the list gave (DeleteCertificate).",
        CertificateDeleteBody,
        commands.delete_certificate,
    ),
    _command(
        "POST",
        "certificates/renew",
        "renew_certificate",
        "Have the station renew its certificate (ExtendedTriggerMessage / TriggerMessage "
        "Sign...Certificate): the CSMS signs the CSR it then sends.",
        CertificateRenewBody,
        commands.renew_certificate,
    ),
    Route(
        "GET",
        "/api/stations/{identity}/certificate-requests",
        "list_certificate_requests",
        "The station's certificate signing requests (SignCertificate) and what became of "
        "them, newest first.",
        response=SigningRequestList,
        errors=(404,),
    ),
    Route(
        "GET",
        "/api/stations/{identity}/configuration",
        "get_configuration",
        "Read configuration (GetConfiguration / GetVariables).",
        response=CallOutcome,
        query=(
            Query(
                "key",
                "str",
                "1.6: configuration keys (none: all); 2.x: Component[instance].Variable[instance]"
                " keys, at least one. Repeat it or separate keys with commas.",
                multiple=True,
            ),
            Query(
                "attribute",
                "enum",
                "2.x: the attribute to read (default Actual).",
                choices=("Actual", "Target", "MinSet", "MaxSet"),
            ),
            _TIMEOUT,
        ),
        errors=(404, 409, 503, 504),
    ),
    _command(
        "PUT",
        "configuration",
        "put_configuration",
        "Set a configuration value (ChangeConfiguration / SetVariables).",
        ConfigurationBody,
        commands.change_configuration,
    ),
    # -- smart charging
    Route(
        "POST",
        "/api/stations/{identity}/charging-profiles",
        "set_charging_profile",
        "Set a charging profile (SetChargingProfile); the answer's result adds its id.",
        body=ChargingProfileBody,
        response=CallOutcome,
        errors=_COMMAND_ERRORS,
    ),
    Route(
        "GET",
        "/api/stations/{identity}/charging-profiles",
        "list_charging_profiles",
        "A station's charging profiles: 2.x GetChargingProfiles (its reports collected); "
        "1.6: those the CSMS set and the station accepted.",
        response=ProfileList,
        query=(Query("evseId", "int", "2.x: only this EVSE's.", 0, 2**31 - 1), _TIMEOUT),
        errors=_COMMAND_ERRORS,
    ),
    Route(
        "POST",
        "/api/stations/{identity}/charging-profiles/clear",
        "clear_charging_profiles",
        "Clear charging profiles by id or criteria (ClearChargingProfile).",
        body=ClearProfilesBody,
        response=CallOutcome,
        errors=_COMMAND_ERRORS,
    ),
    Route(
        "DELETE",
        "/api/stations/{identity}/charging-profiles/{profileId}",
        "delete_charging_profile",
        "Clear one charging profile (ClearChargingProfile by id).",
        response=CallOutcome,
        query=(_TIMEOUT,),
        errors=_COMMAND_ERRORS,
    ),
    _command(
        "POST",
        "composite-schedule",
        "composite_schedule",
        "The composite schedule of a connector / EVSE (GetCompositeSchedule).",
        CompositeScheduleBody,
        commands.composite_schedule,
    ),
    # -- reservations
    Route(
        "POST",
        "/api/stations/{identity}/reservations",
        "reserve",
        "Reserve a connector / EVSE, or any (ReserveNow); the answer adds the reservation.",
        body=ReservationBody,
        response=ItemOutcome,
        errors=_COMMAND_ERRORS,
    ),
    Route(
        "GET",
        "/api/stations/{identity}/reservations",
        "list_reservations",
        "The reservations the CSMS made at a station, with their state, most recent first.",
        response=ReservationList,
        errors=(404,),
    ),
    Route(
        "DELETE",
        "/api/stations/{identity}/reservations/{reservationId}",
        "cancel_reservation",
        "Cancel a reservation (CancelReservation).",
        response=ItemOutcome,
        query=(_TIMEOUT,),
        errors=_COMMAND_ERRORS,
    ),
    # -- firmware and logs
    Route(
        "POST",
        "/api/stations/{identity}/firmware-updates",
        "update_firmware",
        "Update the firmware (UpdateFirmware, 1.6 SignedUpdateFirmware): a file of the file "
        "server, or a URL. The answer adds the operation, followed at .../operations/{id}.",
        status=201,
        body=FirmwareBody,
        response=ItemOutcome,
        errors=_COMMAND_ERRORS,
    ),
    Route(
        "POST",
        "/api/stations/{identity}/log-uploads",
        "upload_logs",
        "Have the station upload its logs (1.6 GetDiagnostics or GetLog, 2.x GetLog), to "
        "this server's upload endpoint unless a location is given.",
        status=201,
        body=LogBody,
        response=ItemOutcome,
        errors=_COMMAND_ERRORS,
    ),
    Route(
        "GET",
        "/api/stations/{identity}/operations",
        "list_operations",
        "A station's firmware updates and log uploads, most recent first.",
        response=OperationList,
        query=(
            Query(
                "kind", "enum", "Only firmware updates or log uploads.", choices=("firmware", "log")
            ),
        ),
        errors=(404,),
    ),
    Route(
        "GET",
        "/api/stations/{identity}/operations/{operationId}",
        "get_operation",
        "An operation: the statuses the station reported, in order, and the files it uploaded.",
        response=OperationView,
        errors=(404,),
    ),
    Route(
        "GET",
        "/api/stations/{identity}/operations/{operationId}/files/{name}",
        "get_operation_file",
        "Download a file the station uploaded.",
        media_type="application/octet-stream",
        errors=(404,),
    ),
    # -- display messages (2.x)
    _command(
        "POST",
        "display-messages",
        "set_display_message",
        "Show a message on the station's display (SetDisplayMessage, 2.x).",
        DisplayMessageBody,
        commands.set_display_message,
    ),
    Route(
        "GET",
        "/api/stations/{identity}/display-messages",
        "list_display_messages",
        "The station's display messages (GetDisplayMessages, its reports collected; 2.x).",
        response=DisplayMessageList,
        query=(_TIMEOUT,),
        errors=_COMMAND_ERRORS,
    ),
    Route(
        "DELETE",
        "/api/stations/{identity}/display-messages/{messageId}",
        "clear_display_message",
        "Remove a display message (ClearDisplayMessage, 2.x).",
        response=CallOutcome,
        query=(_TIMEOUT,),
        errors=_COMMAND_ERRORS,
    ),
    # -- the file server
    Route(
        "GET",
        "/api/files",
        "list_files",
        "The files of the file server (firmware images), by name.",
        response=FileList,
        errors=(422,),
    ),
    Route(
        "PUT",
        "/api/files/{name}",
        "put_file",
        "Add or replace a file of the file server: the raw body (201 added, 200 replaced).",
        status=201,
        response=FileView,
        raw_body="application/octet-stream",
        errors=(413, 422),
    ),
    Route(
        "DELETE",
        "/api/files/{name}",
        "delete_file",
        "Delete a file of the file server.",
        status=204,
        errors=(404, 422),
    ),
    Route(
        "GET",
        "/station-files/{capability}/{name}",
        "station_download",
        "For stations: download a file (the URL given in UpdateFirmware; Range supported).",
        media_type="application/octet-stream",
        errors=(404,),
        public=True,
    ),
    Route(
        "PUT",
        "/station-uploads/{capability}/{filename}",
        "station_upload",
        "For stations: upload a file, the raw body (the location given in GetLog / "
        "GetDiagnostics, with a file name after it).",
        status=201,
        raw_body="application/octet-stream",
        errors=(404, 413),
        public=True,
    ),
    Route(
        "POST",
        "/station-uploads/{capability}",
        "station_upload_form",
        "For stations: upload a file as multipart/form-data, field file (the location given "
        "in GetLog / GetDiagnostics).",
        status=201,
        raw_body="multipart/form-data",
        errors=(400, 404, 413),
        public=True,
    ),
    Route(
        "GET",
        "/api/tokens",
        "list_tokens",
        "List id tokens.",
        response=TokenList,
        query=(_limit(), _OFFSET),
    ),
    Route(
        "POST",
        "/api/tokens",
        "create_token",
        "Add an id token.",
        status=201,
        body=TokenCreate,
        response=TokenView,
        errors=(409, 422, 503),
    ),
    Route(
        "GET",
        "/api/tokens/{idToken}",
        "get_token",
        "Show an id token.",
        response=TokenView,
        errors=(404,),
    ),
    Route(
        "PUT",
        "/api/tokens/{idToken}",
        "put_token",
        "Add or replace an id token (201 when added).",
        body=TokenBody,
        response=TokenView,
        errors=(422, 503),
    ),
    Route(
        "DELETE",
        "/api/tokens/{idToken}",
        "delete_token",
        "Delete an id token.",
        status=204,
        errors=(404, 503),
    ),
    Route(
        "GET",
        "/api/transactions",
        "list_transactions",
        "List transactions, most recently started first.",
        response=TransactionList,
        query=(
            Query("station", "str", "Only this station's."),
            Query("active", "bool", "Only those in progress (true) or ended (false)."),
            _limit(),
            _OFFSET,
        ),
    ),
    Route(
        "GET",
        "/api/transactions/{transactionId}",
        "get_transaction",
        "Show a transaction and a page of its meter values.",
        response=TransactionDetail,
        query=(
            Query("station", "str", "The station (2.x ids are unique only per station)."),
            _limit(),
            _OFFSET,
        ),
        errors=(404, 409),
    ),
    Route(
        "GET",
        "/api/openapi.json",
        "openapi",
        "This API's OpenAPI 3.1 document.",
    ),
)
METRICS_ROUTE = Route(
    "GET",
    "/metrics",
    "metrics",
    "Metrics, in the format of the metrics object (e.g. Prometheus text).",
    media_type="text/plain",
)
