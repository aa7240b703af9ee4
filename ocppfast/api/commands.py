"""The typed operator commands (remote start, reset, ...), as the message each version sends.

Each builder takes the station's OCPP version and the operator's body, and returns a `Command`:
the action and its payload as OCPP's JSON (camelCase), which then goes through the core's
validator like any `POST /calls` payload, so that a value the schema refuses is reported with
the field it breaks. `fields` maps the payload's paths back to the body's field names, so that
the operator is told about the field they wrote (`idToken`, not `idToken.idToken`).

A field that the station's version does not have is refused (422) rather than dropped: sending
a 1.6 station a command for "EVSE 2" that it would read as the whole station is worse than
saying so.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from msgspec import UNSET

from .._core.types import OCPP16
from .errors import ApiError
from .models import (
    AvailabilityBody,
    ChargingProfileBody,
    ClearProfilesBody,
    CompositeScheduleBody,
    ConfigurationBody,
    DisplayMessageBody,
    FirmwareBody,
    LogBody,
    RemoteStartBody,
    RemoteStopBody,
    ReservationBody,
    ResetBody,
    TriggerBody,
    UnlockBody,
)

__all__ = [
    "Command",
    "availability",
    "cancel_reservation",
    "certificate_type",
    "change_configuration",
    "clear_charging_profile",
    "clear_display_message",
    "composite_schedule",
    "delete_certificate",
    "get_charging_profiles",
    "get_configuration",
    "get_display_messages",
    "get_installed_certificate_ids",
    "get_log",
    "install_certificate",
    "random_id",
    "remote_start",
    "remote_stop",
    "renew_certificate",
    "reserve_now",
    "reset",
    "set_charging_profile",
    "set_display_message",
    "trigger",
    "unlock",
    "update_firmware",
    "variable_key",
]

# 1.6 Reset types (C16 5.14: Hard, Soft) and 2.x ResetEnumType (Immediate, OnIdle; 2.1 adds
# ImmediateAndResume) stand for each other: C16 5.14 "At receipt of a soft reset, the Charge
# Point SHALL stop ongoing transactions gracefully", while a hard one restarts at once ("it is
# not required to gracefully stop ongoing transaction"); 2.x OnIdle waits until no transaction is
# ongoing and Immediate does not (2.0.1 part 2 B11/B12, not in the texts here: from knowledge).
_RESET_V16 = {"Hard": "Hard", "Soft": "Soft", "Immediate": "Hard", "OnIdle": "Soft"}
_RESET_V2 = {"Hard": "Immediate", "Soft": "OnIdle"}
# A 2.x key of the device model: "Component.Variable", each name optionally followed by
# "[instance]" (2.0.1 part 2 appendix: components and variables are identified by name and
# optional instance; names are at most 50 characters, checked by the schema).
_KEY = re.compile(r"([^.\[\]]+)(?:\[([^\[\]]+)\])?\.([^.\[\]]+)(?:\[([^\[\]]+)\])?")


@dataclass
class Command:
    """A message to send: `action`, `payload` (OCPP JSON), `fields` (payload path prefix ->
    the body field it came from), and what to add to the answer (`remote_start_id`)."""

    action: str
    payload: dict[str, Any]
    fields: Mapping[str, str] = field(default_factory=dict)
    remote_start_id: int | None = None


def _not_in(version: str, name: str, instead: str) -> ApiError:
    return ApiError(
        422,
        "invalid",
        f"{name} is not used with an {version} station: {instead}",
        path=name,
    )


# The body fields of a 2.x payload's `evse` (EVSEType), as `_with_evse` writes it.
_EVSE_FIELDS = {"evse.id": "evseId", "evse.connectorId": "connectorId"}


def _with_evse(payload: dict[str, Any], evse_id: Any, connector_id: Any) -> dict[str, Any]:
    """`payload` with the 2.x `evse` (EVSEType) of an evseId and an optional connectorId
    (which needs the evseId); without either, as it is (the whole station)."""
    if evse_id is UNSET:
        if connector_id is not UNSET:
            raise ApiError(
                422,
                "invalid",
                "give evseId with connectorId: a 2.x connector is numbered within its EVSE",
                path="connectorId",
            )
        return payload
    evse: dict[str, Any] = {"id": evse_id}
    if connector_id is not UNSET:
        evse["connectorId"] = connector_id
    return {**payload, "evse": evse}


def remote_start(version: str, body: RemoteStartBody) -> Command:
    """C16 5.11 RemoteStartTransaction; 2.0.1/2.1 F01/F02 RequestStartTransaction."""
    if version == OCPP16:
        for name in ("evse_id", "remote_start_id", "type"):
            if getattr(body, name) is not UNSET:
                camel = _camel(name)
                raise _not_in(version, camel, "1.6 has connectorId and idToken only")
        payload: dict[str, Any] = {"idTag": body.id_token}
        if body.connector_id is not UNSET:
            payload["connectorId"] = body.connector_id
        if body.charging_profile is not UNSET:
            payload["chargingProfile"] = body.charging_profile
        return Command(
            "RemoteStartTransaction",
            payload,
            {
                "idTag": "idToken",
                "connectorId": "connectorId",
                "chargingProfile": "chargingProfile",
            },
        )
    if body.connector_id is not UNSET:
        raise _not_in(version, "connectorId", "RequestStartTransaction names an evseId")
    # remoteStartId: "Id given by the server to this start request" (RequestStartTransaction
    # schema), which the station echoes in transactionInfo.remoteStartId of the transaction it
    # starts (P6 general tool rules): a random positive one tells this request's transaction
    # apart from any other's; the answer gives it to the operator.
    remote_start_id = (
        body.remote_start_id
        if body.remote_start_id is not UNSET
        else secrets.randbelow(2**31 - 1) + 1
    )
    payload = {
        "idToken": {
            "idToken": body.id_token,
            # A token the CSMS itself vouches for: IdTokenEnumType Central ("A centrally, in
            # the CSMS (or other server) generated id", 2.1 part 2 appendix).
            "type": body.type if body.type is not UNSET else "Central",
        },
        "remoteStartId": remote_start_id,
    }
    if body.evse_id is not UNSET:
        payload["evseId"] = body.evse_id
    if body.charging_profile is not UNSET:
        payload["chargingProfile"] = body.charging_profile
    return Command(
        "RequestStartTransaction",
        payload,
        {
            "idToken.idToken": "idToken",
            "idToken.type": "type",
            "idToken": "idToken",
            "remoteStartId": "remoteStartId",
            "evseId": "evseId",
            "chargingProfile": "chargingProfile",
        },
        remote_start_id=remote_start_id,
    )


def remote_stop(version: str, body: RemoteStopBody) -> Command:
    """C16 5.12 RemoteStopTransaction (transactionId an integer, as the CSMS gave it, C16
    4.8); 2.0.1/2.1 F03 RequestStopTransaction (the station's identifierString)."""
    tx = body.transaction_id
    if version == OCPP16:
        if isinstance(tx, str):
            if not tx.isdigit() or not tx.isascii():
                raise ApiError(
                    422,
                    "invalid",
                    "a 1.6 transactionId is an integer (the one the CSMS gave at StartTransaction)",
                    path="transactionId",
                )
            tx = int(tx)
        return Command(
            "RemoteStopTransaction", {"transactionId": tx}, {"transactionId": "transactionId"}
        )
    return Command(
        "RequestStopTransaction", {"transactionId": str(tx)}, {"transactionId": "transactionId"}
    )


def reset(version: str, body: ResetBody) -> Command:
    """C16 5.14 Reset (Hard, Soft); 2.0.1/2.1 B11/B12 Reset (Immediate, OnIdle, an EVSE)."""
    if version == OCPP16:
        if body.evse_id is not UNSET:
            raise _not_in(version, "evseId", "a 1.6 Reset resets the whole Charge Point")
        kind = _RESET_V16.get(body.type)
        if kind is None:
            raise ApiError(
                422, "invalid", "a 1.6 Reset is Hard or Soft (C16 7.42 ResetType)", path="type"
            )
        return Command("Reset", {"type": kind}, {"type": "type"})
    payload: dict[str, Any] = {"type": _RESET_V2.get(body.type, body.type)}
    if body.evse_id is not UNSET:
        payload["evseId"] = body.evse_id
    return Command("Reset", payload, {"type": "type", "evseId": "evseId"})


def trigger(version: str, body: TriggerBody) -> Command:
    """C16 5.17 TriggerMessage (connectorId); 2.0.1/2.1 F06 TriggerMessage (evse)."""
    if version == OCPP16:
        if body.evse_id is not UNSET:
            raise _not_in(version, "evseId", "1.6 TriggerMessage names a connectorId")
        payload: dict[str, Any] = {"requestedMessage": body.message}
        if body.connector_id is not UNSET:
            payload["connectorId"] = body.connector_id
        return Command(
            "TriggerMessage",
            payload,
            {"requestedMessage": "message", "connectorId": "connectorId"},
        )
    return Command(
        "TriggerMessage",
        _with_evse({"requestedMessage": body.message}, body.evse_id, body.connector_id),
        {"requestedMessage": "message", **_EVSE_FIELDS},
    )


def availability(version: str, body: AvailabilityBody) -> Command:
    """C16 5.2 ChangeAvailability (connectorId 0: "the status change applies to the Charge
    Point and all Connectors"); 2.0.1/2.1 G03/G04 ChangeAvailability (no evse: the whole
    station)."""
    status = "Operative" if body.operative else "Inoperative"
    if version == OCPP16:
        if body.evse_id is not UNSET:
            raise _not_in(version, "evseId", "1.6 ChangeAvailability names a connectorId")
        connector = body.connector_id if body.connector_id is not UNSET else 0
        return Command(
            "ChangeAvailability",
            {"connectorId": connector, "type": status},
            {"connectorId": "connectorId", "type": "operative"},
        )
    return Command(
        "ChangeAvailability",
        _with_evse({"operationalStatus": status}, body.evse_id, body.connector_id),
        {"operationalStatus": "operative", **_EVSE_FIELDS},
    )


def unlock(version: str, body: UnlockBody) -> Command:
    """C16 5.18 UnlockConnector (connectorId); 2.0.1/2.1 F05 UnlockConnector (evseId and
    connectorId, both required)."""
    if version == OCPP16:
        if body.evse_id is not UNSET:
            raise _not_in(version, "evseId", "1.6 UnlockConnector names a connectorId")
        return Command(
            "UnlockConnector", {"connectorId": body.connector_id}, {"connectorId": "connectorId"}
        )
    if body.evse_id is UNSET:
        raise ApiError(
            422,
            "invalid",
            "a 2.x UnlockConnector needs evseId (and connectorId within that EVSE)",
            path="evseId",
        )
    return Command(
        "UnlockConnector",
        {"evseId": body.evse_id, "connectorId": body.connector_id},
        {"evseId": "evseId", "connectorId": "connectorId"},
    )


def variable_key(key: str, path: str = "key") -> tuple[dict[str, Any], dict[str, Any]]:
    """The 2.x (component, variable) of a key written "Component[instance].Variable[instance]"
    (both instances optional); ApiError(422) when it is not one."""
    match = _KEY.fullmatch(key)
    if match is None:
        raise ApiError(
            422,
            "invalid",
            "a 2.x configuration key is Component.Variable, with an optional [instance] after "
            "either name (e.g. OCPPCommCtrlr.HeartbeatInterval, EVSE[1].AvailabilityState)",
            path=path,
        )
    component: dict[str, Any] = {"name": match.group(1)}
    if match.group(2) is not None:
        component["instance"] = match.group(2)
    variable: dict[str, Any] = {"name": match.group(3)}
    if match.group(4) is not None:
        variable["instance"] = match.group(4)
    return component, variable


def get_configuration(version: str, keys: list[str], attribute: str | None) -> Command:
    """C16 5.8 GetConfiguration (no key: every key); 2.0.1/2.1 B06 GetVariables (at least one
    key: a full report is GetBaseReport, through `POST /calls`)."""
    if version == OCPP16:
        if attribute is not None:
            raise ApiError(
                400, "bad_query", "1.6 configuration keys have no attribute", path="attribute"
            )
        payload: dict[str, Any] = {"key": keys} if keys else {}
        return Command("GetConfiguration", payload, {"key": "key"})
    if not keys:
        raise ApiError(
            400,
            "bad_query",
            "name at least one key (Component.Variable) for a 2.x station; its whole device "
            "model comes with GetBaseReport (POST /calls) as NotifyReport messages",
            path="key",
        )
    data = []
    for key in keys:
        component, variable = variable_key(key)
        entry: dict[str, Any] = {"component": component, "variable": variable}
        if attribute is not None:
            entry["attributeType"] = attribute
        data.append(entry)
    return Command("GetVariables", {"getVariableData": data}, {"getVariableData": "key"})


def change_configuration(version: str, body: ConfigurationBody) -> Command:
    """C16 5.3 ChangeConfiguration; 2.0.1/2.1 B05 SetVariables (one variable)."""
    if version == OCPP16:
        if body.attribute is not UNSET:
            raise _not_in(version, "attribute", "1.6 configuration keys have one value")
        return Command(
            "ChangeConfiguration",
            {"key": body.key, "value": body.value},
            {"key": "key", "value": "value"},
        )
    component, variable = variable_key(body.key)
    entry: dict[str, Any] = {
        "attributeValue": body.value,
        "component": component,
        "variable": variable,
    }
    if body.attribute is not UNSET:
        entry["attributeType"] = body.attribute
    return Command(
        "SetVariables",
        {"setVariableData": [entry]},
        {
            "setVariableData[0].attributeValue": "value",
            "setVariableData[0].attributeType": "attribute",
            "setVariableData[0]": "key",
        },
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def requested_security_profile(action: str, payload: Any) -> int | None:
    """The lowest security profile that a message to a station would make it use, or None when
    it sets none: ChangeConfiguration SecurityProfile (SW 7.6), SetVariables
    SecurityCtrlr.SecurityProfile, SetNetworkProfile's connectionData.securityProfile (2.x B09).
    The API refuses one below the station's stored profile (SW A00.FR.005: lowering it "MUST be
    done through another method, not via OCPP"). A value that is not a number: None (the
    station rejects it itself)."""
    if not isinstance(payload, Mapping):
        return None
    found: list[Any] = []
    if action == "ChangeConfiguration" and str(payload.get("key", "")).casefold() == (
        "securityprofile"
    ):
        found.append(payload.get("value"))
    elif action == "SetVariables":
        for entry in payload.get("setVariableData") or ():
            if not isinstance(entry, Mapping):
                continue
            component = entry.get("component") or {}
            variable = entry.get("variable") or {}
            if (
                isinstance(component, Mapping)
                and isinstance(variable, Mapping)
                and str(component.get("name", "")).casefold() == "securityctrlr"
                and str(variable.get("name", "")).casefold() == "securityprofile"
                and entry.get("attributeType", "Actual") == "Actual"
            ):
                found.append(entry.get("attributeValue"))
    elif action == "SetNetworkProfile":
        data = payload.get("connectionData")
        if isinstance(data, Mapping):
            found.append(data.get("securityProfile"))
    profiles = []
    for value in found:
        try:
            profiles.append(int(str(value).strip()))
        except ValueError:
            continue
    return min(profiles) if profiles else None


def random_id() -> int:
    """A random positive 31-bit id (a charging profile's, a display message's, a requestId):
    one the station has not seen yet, without asking it."""
    return secrets.randbelow(2**31 - 1) + 1


def _only_v2(version: str, path: str, what: str) -> ApiError:
    return ApiError(
        422,
        "invalid",
        f"an {version} station has no {what} (OCPP 2.0.1 and 2.1 have)",
        path=path,
    )


def _set(payload: dict[str, Any], name: str, value: Any) -> None:
    if value is not UNSET:
        payload[name] = value


# 1.6 ChargingProfilePurposeType ChargePointMaxProfile is 2.x ChargingStationMaxProfile (the
# maximum of the whole station: C16 3.13.1, K01); the others are named alike.
_PURPOSE_V16 = {"ChargingStationMaxProfile": "ChargePointMaxProfile"}
_PURPOSE_V2 = {"ChargePointMaxProfile": "ChargingStationMaxProfile"}


def _purpose(version: str, purpose: str) -> str:
    return (_PURPOSE_V16 if version == OCPP16 else _PURPOSE_V2).get(purpose, purpose)


def _where(version: str, body: Any, default: int | None = 0) -> tuple[str, Any]:
    """The payload name and value of a connector (1.6 `connectorId`) or EVSE (2.x `evseId`)
    a body names: the other version's field is refused."""
    if version == OCPP16:
        if body.evse_id is not UNSET:
            raise _not_in(version, "evseId", "1.6 names a connectorId (0: the Charge Point)")
        value = body.connector_id
        return "connectorId", default if value is UNSET else value
    if body.connector_id is not UNSET:
        raise _not_in(version, "connectorId", "2.x names an evseId (0: the whole station)")
    value = body.evse_id
    return "evseId", default if value is UNSET else value


def charging_profile(version: str, body: ChargingProfileBody, profile_id: int) -> dict[str, Any]:
    """The OCPP JSON of the profile of `body` (1.6 csChargingProfiles, 2.x ChargingProfileType)."""
    schedule = body.schedule
    periods = []
    for period in schedule.periods:
        item: dict[str, Any] = {"startPeriod": period.start_period, "limit": period.limit}
        _set(item, "numberPhases", period.number_phases)
        if period.phase_to_use is not UNSET:
            if version == OCPP16:
                raise _not_in(version, "schedule.periods.phaseToUse", "1.6 has numberPhases only")
            item["phaseToUse"] = period.phase_to_use
        periods.append(item)
    chargingschedule: dict[str, Any] = {
        "chargingRateUnit": schedule.unit,
        "chargingSchedulePeriod": periods,
    }
    _set(chargingschedule, "startSchedule", schedule.start_schedule)
    _set(chargingschedule, "duration", schedule.duration)
    _set(chargingschedule, "minChargingRate", schedule.min_charging_rate)
    profile: dict[str, Any] = {
        "stackLevel": body.stack_level,
        "chargingProfilePurpose": _purpose(version, body.purpose),
        "chargingProfileKind": body.kind,
    }
    _set(profile, "recurrencyKind", body.recurrency)
    _set(profile, "validFrom", body.valid_from)
    _set(profile, "validTo", body.valid_to)
    tx = body.transaction_id
    if version == OCPP16:
        if schedule.id is not UNSET:
            raise _not_in(version, "schedule.id", "a 1.6 profile has one schedule, without id")
        if isinstance(tx, str):
            if not (tx.isascii() and tx.isdigit()):
                raise ApiError(
                    422, "invalid", "a 1.6 transactionId is an integer", path="transactionId"
                )
            tx = int(tx)
        profile = {"chargingProfileId": profile_id, **profile, "chargingSchedule": chargingschedule}
    else:
        # 2.x: a list of schedules (2.0.1 one, 2.1 up to three), each with its id (K01).
        chargingschedule = {"id": 1 if schedule.id is UNSET else schedule.id, **chargingschedule}
        tx = tx if tx is UNSET else str(tx)
        profile = {"id": profile_id, **profile, "chargingSchedule": [chargingschedule]}
    _set(profile, "transactionId", tx)
    return profile


_PROFILE_FIELDS = {
    "stackLevel": "stackLevel",
    "chargingProfilePurpose": "purpose",
    "chargingProfileKind": "kind",
    "recurrencyKind": "recurrency",
    "validFrom": "validFrom",
    "validTo": "validTo",
    "transactionId": "transactionId",
    "chargingProfileId": "id",
    "id": "id",
}
_SCHEDULE_FIELDS = {
    "chargingRateUnit": "schedule.unit",
    "chargingSchedulePeriod": "schedule.periods",
    "startSchedule": "schedule.startSchedule",
    "duration": "schedule.duration",
    "minChargingRate": "schedule.minChargingRate",
    "id": "schedule.id",
}


def set_charging_profile(version: str, body: ChargingProfileBody) -> Command:
    """C16 5.16 SetChargingProfile (connectorId, csChargingProfiles); 2.0.1/2.1 K01
    SetChargingProfile (evseId, chargingProfile). The profile's id is generated when absent."""
    profile_id = body.id if body.id is not UNSET else random_id()
    name, where = _where(version, body)
    profile = charging_profile(version, body, profile_id)
    key = "csChargingProfiles" if version == OCPP16 else "chargingProfile"
    schedule = f"{key}.chargingSchedule" + ("" if version == OCPP16 else "[0]")
    fields = {name: name}
    fields.update({f"{key}.{k}": v for k, v in _PROFILE_FIELDS.items()})
    fields.update({f"{schedule}.{k}": v for k, v in _SCHEDULE_FIELDS.items()})
    fields[key] = "schedule"
    return Command("SetChargingProfile", {name: where, key: profile}, fields)


def clear_charging_profile(version: str, body: ClearProfilesBody) -> Command:
    """C16 5.5 ClearChargingProfile (id, connectorId, chargingProfilePurpose, stackLevel);
    2.0.1/2.1 K10 (chargingProfileId, or chargingProfileCriteria)."""
    _, where = _where(version, body, None)
    purpose = body.purpose if body.purpose is UNSET else _purpose(version, body.purpose)
    if version == OCPP16:
        payload: dict[str, Any] = {}
        _set(payload, "id", body.id)
        if where is not None:
            payload["connectorId"] = where
        _set(payload, "chargingProfilePurpose", purpose)
        _set(payload, "stackLevel", body.stack_level)
        fields = {
            "id": "id",
            "connectorId": "connectorId",
            "chargingProfilePurpose": "purpose",
            "stackLevel": "stackLevel",
        }
        return Command("ClearChargingProfile", payload, fields)
    criteria: dict[str, Any] = {}
    if where is not None:
        criteria["evseId"] = where
    _set(criteria, "chargingProfilePurpose", purpose)
    _set(criteria, "stackLevel", body.stack_level)
    payload = {}
    _set(payload, "chargingProfileId", body.id)
    if criteria:
        payload["chargingProfileCriteria"] = criteria
    fields = {
        "chargingProfileId": "id",
        "chargingProfileCriteria.evseId": "evseId",
        "chargingProfileCriteria.chargingProfilePurpose": "purpose",
        "chargingProfileCriteria.stackLevel": "stackLevel",
    }
    return Command("ClearChargingProfile", payload, fields)


def composite_schedule(version: str, body: CompositeScheduleBody) -> Command:
    """C16 5.7 GetCompositeSchedule (connectorId, duration, chargingRateUnit); 2.0.1/2.1 K08
    (evseId, duration, chargingRateUnit)."""
    name, where = _where(version, body)
    payload: dict[str, Any] = {name: where, "duration": body.duration}
    _set(payload, "chargingRateUnit", body.unit)
    return Command(
        "GetCompositeSchedule",
        payload,
        {name: name, "duration": "duration", "chargingRateUnit": "unit"},
    )


def get_charging_profiles(version: str, request_id: int, evse_id: int | None) -> Command:
    """2.0.1/2.1 K09 GetChargingProfiles: every profile (of one EVSE when given); the station
    reports them with ReportChargingProfiles of `request_id`."""
    payload: dict[str, Any] = {"requestId": request_id, "chargingProfile": {}}
    if evse_id is not None:
        payload["evseId"] = evse_id
    return Command("GetChargingProfiles", payload, {"evseId": "evseId"})


def reserve_now(version: str, body: ReservationBody, reservation_id: int) -> Command:
    """C16 5.13 ReserveNow (connectorId, default 0: any; idTag, parentIdTag); 2.0.1/2.1 H01
    ReserveNow (evseId, none: any; connectorType, idToken, groupIdToken)."""
    if version == OCPP16:
        for name in ("evse_id", "connector_type", "type", "group_id_token"):
            if getattr(body, name) is not UNSET:
                raise _not_in(
                    version, _camel(name), "1.6 has connectorId, idToken and parentIdToken"
                )
        payload: dict[str, Any] = {
            "connectorId": 0 if body.connector_id is UNSET else body.connector_id,
            "expiryDate": body.expires_at,
            "idTag": body.id_token,
            "reservationId": reservation_id,
        }
        _set(payload, "parentIdTag", body.parent_id_token)
        fields = {
            "connectorId": "connectorId",
            "expiryDate": "expiresAt",
            "idTag": "idToken",
            "parentIdTag": "parentIdToken",
            "reservationId": "id",
        }
        return Command("ReserveNow", payload, fields)
    for name in ("connector_id", "parent_id_token"):
        if getattr(body, name) is not UNSET:
            raise _not_in(version, _camel(name), "2.x has evseId, connectorType, groupIdToken")
    token_type = "Central" if body.type is UNSET else body.type
    payload = {
        "id": reservation_id,
        "expiryDateTime": body.expires_at,
        "idToken": {"idToken": body.id_token, "type": token_type},
    }
    _set(payload, "evseId", body.evse_id)
    _set(payload, "connectorType", body.connector_type)
    if body.group_id_token is not UNSET:
        payload["groupIdToken"] = {"idToken": body.group_id_token, "type": token_type}
    fields = {
        "id": "id",
        "expiryDateTime": "expiresAt",
        "idToken.type": "type",
        "idToken": "idToken",
        "evseId": "evseId",
        "connectorType": "connectorType",
        "groupIdToken": "groupIdToken",
    }
    return Command("ReserveNow", payload, fields)


def cancel_reservation(version: str, reservation_id: int) -> Command:
    """C16 5.1, H02 CancelReservation."""
    return Command("CancelReservation", {"reservationId": reservation_id}, {})


def update_firmware(
    version: str, body: FirmwareBody, location: str, request_id: int, retrieve_at: Any
) -> Command:
    """C16 5.19 UpdateFirmware (location, retrieveDate, retries, retryInterval), SW 5
    SignedUpdateFirmware when a signature is given; 2.0.1/2.1 L01 UpdateFirmware (requestId,
    firmware with installDateTime, signingCertificate, signature)."""
    signed = body.signature is not UNSET or body.signing_certificate is not UNSET
    firmware: dict[str, Any] = {"location": location, "retrieveDateTime": retrieve_at}
    _set(firmware, "installDateTime", body.install_at)
    _set(firmware, "signingCertificate", body.signing_certificate)
    _set(firmware, "signature", body.signature)
    fields = {
        "retries": "retries",
        "retryInterval": "retryInterval",
        "firmware.location": "location",
        "firmware.retrieveDateTime": "retrieveAt",
        "firmware.installDateTime": "installAt",
        "firmware.signingCertificate": "signingCertificate",
        "firmware.signature": "signature",
        "firmware": "signature",
        "location": "location",
        "retrieveDate": "retrieveAt",
    }
    if version == OCPP16 and not signed:
        if body.install_at is not UNSET:
            raise _not_in(
                version, "installAt", "1.6 UpdateFirmware installs once retrieved (or sign it)"
            )
        payload: dict[str, Any] = {"location": location, "retrieveDate": retrieve_at}
        _set(payload, "retries", body.retries)
        _set(payload, "retryInterval", body.retry_interval)
        return Command("UpdateFirmware", payload, fields)
    payload = {"requestId": request_id, "firmware": firmware}
    _set(payload, "retries", body.retries)
    _set(payload, "retryInterval", body.retry_interval)
    return Command(
        "SignedUpdateFirmware" if version == OCPP16 else "UpdateFirmware", payload, fields
    )


def get_log(version: str, body: LogBody, location: str, request_id: int) -> Command:
    """C16 5.9 GetDiagnostics (location, startTime, stopTime); GetLog (SW 5 for 1.6 when a
    logType is given; 2.0.1/2.1 N01): logType, requestId, log with remoteLocation and the
    time window."""
    fields = {
        "location": "location",
        "startTime": "since",
        "stopTime": "until",
        "retries": "retries",
        "retryInterval": "retryInterval",
        "logType": "logType",
        "log.remoteLocation": "location",
        "log.oldestTimestamp": "since",
        "log.latestTimestamp": "until",
    }
    if version == OCPP16 and body.log_type is UNSET:
        payload: dict[str, Any] = {"location": location}
        _set(payload, "startTime", body.since)
        _set(payload, "stopTime", body.until)
        _set(payload, "retries", body.retries)
        _set(payload, "retryInterval", body.retry_interval)
        return Command("GetDiagnostics", payload, fields)
    log: dict[str, Any] = {"remoteLocation": location}
    _set(log, "oldestTimestamp", body.since)
    _set(log, "latestTimestamp", body.until)
    payload = {
        "logType": "DiagnosticsLog" if body.log_type is UNSET else body.log_type,
        "requestId": request_id,
        "log": log,
    }
    _set(payload, "retries", body.retries)
    _set(payload, "retryInterval", body.retry_interval)
    return Command("GetLog", payload, fields)


def set_display_message(version: str, body: DisplayMessageBody) -> Command:
    """2.0.1/2.1 O01/O02 SetDisplayMessage (the message's id generated when absent)."""
    if version == OCPP16:
        raise _only_v2(version, "content", "display messages (SetDisplayMessage)")
    content: dict[str, Any] = {"format": body.format, "content": body.content}
    _set(content, "language", body.language)
    message: dict[str, Any] = {
        "id": body.id if body.id is not UNSET else random_id(),
        "priority": body.priority,
        "message": content,
    }
    _set(message, "state", body.state)
    _set(message, "startDateTime", body.start_at)
    _set(message, "endDateTime", body.end_at)
    _set(message, "transactionId", body.transaction_id)
    if body.evse_id is not UNSET:
        # The display of an EVSE: its Display component (A201 appendix: DisplayMessageCtrlr,
        # a Display per EVSE where each has its own).
        message["display"] = {"name": "Display", "evse": {"id": body.evse_id}}
    fields = {
        "message.id": "id",
        "message.priority": "priority",
        "message.state": "state",
        "message.startDateTime": "startAt",
        "message.endDateTime": "endAt",
        "message.transactionId": "transactionId",
        "message.message.format": "format",
        "message.message.language": "language",
        "message.message.content": "content",
        "message.display": "evseId",
    }
    return Command("SetDisplayMessage", {"message": message}, fields)


def get_display_messages(version: str, request_id: int) -> Command:
    """2.0.1/2.1 O03/O04 GetDisplayMessages: every message, reported with
    NotifyDisplayMessages of `request_id`."""
    return Command("GetDisplayMessages", {"requestId": request_id}, {})


def clear_display_message(version: str, message_id: int) -> Command:
    """2.0.1/2.1 O05 ClearDisplayMessage."""
    return Command("ClearDisplayMessage", {"id": message_id}, {"id": "id"})


# -- certificates (SW 5 security extension for 1.6; 2.0.1/2.1 A02, M03-M05) -------------------

# The CSMS's root certificate is CentralSystemRootCertificate in 1.6 (SW CertificateUseEnumType)
# and CSMSRootCertificate in 2.x (InstallCertificateUseEnumType, GetCertificateIdUseEnumType):
# either spelling is taken in every version and sent as the station's version spells it.
_CSMS_ROOT = {"CentralSystemRootCertificate", "CSMSRootCertificate"}
# Renew a certificate: the message the station is asked to send (A02: 1.6 ExtendedTriggerMessage,
# SW 5.8 MessageTriggerEnumType; 2.x TriggerMessage, MessageTriggerEnumType).
_RENEW_V2 = {
    "ChargingStationCertificate": "SignChargingStationCertificate",
    "V2GCertificate": "SignV2GCertificate",
    "V2G20Certificate": "SignV2G20Certificate",
}


def certificate_type(version: str, name: str) -> str:
    """`name` as the station's version spells the CSMS's root certificate type; other names
    as they are (the schema then says whether the version has them)."""
    if name in _CSMS_ROOT:
        return "CentralSystemRootCertificate" if version == OCPP16 else "CSMSRootCertificate"
    return name


def install_certificate(version: str, kind: str, pem: str) -> Command:
    """SW 5.10 / M05 InstallCertificate: a root (or sub-CA) certificate of `kind`, PEM."""
    return Command(
        "InstallCertificate",
        {"certificateType": certificate_type(version, kind), "certificate": pem},
        {"certificateType": "type", "certificate": "certificate"},
    )


def get_installed_certificate_ids(version: str, kinds: list[str]) -> Command:
    """SW 5.9 / M03 GetInstalledCertificateIds: 1.6 asks for one certificateType (required);
    2.x for a list of them, or every certificate when none is given (TC_M_18_CSMS)."""
    if version == OCPP16:
        if len(kinds) != 1:
            raise ApiError(
                400,
                "bad_query",
                "a 1.6 station lists one certificate type at a time: give type="
                "CentralSystemRootCertificate or type=ManufacturerRootCertificate",
                path="type",
            )
        return Command(
            "GetInstalledCertificateIds",
            {"certificateType": certificate_type(version, kinds[0])},
            {"certificateType": "type"},
        )
    payload: dict[str, Any] = {}
    if kinds:
        payload["certificateType"] = [certificate_type(version, kind) for kind in kinds]
    return Command("GetInstalledCertificateIds", payload, {"certificateType": "type"})


def delete_certificate(version: str, body: Any) -> Command:
    """SW 5.6 / M04 DeleteCertificate: the certificateHashData as the list gave it."""
    return Command(
        "DeleteCertificate",
        {"certificateHashData": body.hash_data},
        {"certificateHashData": "hashData"},
    )


def renew_certificate(version: str, body: Any) -> Command:
    """Start A02 (renew the station's certificate at the CSMS's request): 1.6
    ExtendedTriggerMessage SignChargePointCertificate (SW 5.8); 2.x TriggerMessage
    SignChargingStationCertificate, SignV2GCertificate or (2.1) SignV2G20Certificate. The
    station then sends SignCertificate, which the CSMS's certificate authority signs."""
    kind = "ChargingStationCertificate" if body.type is UNSET else body.type
    if version == OCPP16:
        if kind != "ChargingStationCertificate":
            raise _not_in(version, "type", "a 1.6 station has one certificate to renew")
        return Command(
            "ExtendedTriggerMessage",
            {"requestedMessage": "SignChargePointCertificate"},
            {"requestedMessage": "type"},
        )
    return Command(
        "TriggerMessage", {"requestedMessage": _RENEW_V2[kind]}, {"requestedMessage": "type"}
    )
