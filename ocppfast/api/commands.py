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
    ConfigurationBody,
    RemoteStartBody,
    RemoteStopBody,
    ResetBody,
    TriggerBody,
    UnlockBody,
)

__all__ = [
    "Command",
    "availability",
    "change_configuration",
    "get_configuration",
    "remote_start",
    "remote_stop",
    "reset",
    "trigger",
    "unlock",
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
