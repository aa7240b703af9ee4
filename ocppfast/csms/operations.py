"""What the CSMS follows of what an operator asked stations to do: firmware updates and log
uploads (`Operation`), reservations (`Reservation`) and, for 1.6 stations, which have no
GetChargingProfiles, the charging profiles they accepted (`ProfileRecord`).

`CsmsState` keeps them per station (`CsmsState.operations`, `.reservations`, `.profiles`) and
updates them from what stations send: the status notifications of an operation, a
reservation's use or end, a transaction's end (which ends its TxProfile). A `StoredState`
writes each change (one row per item). Version-neutral: the API names the version's fields.
"""

from __future__ import annotations

import datetime
from typing import Any

import msgspec

__all__ = [
    "OPERATION_KINDS",
    "RESERVATION_ENDED",
    "Operation",
    "ProfileRecord",
    "Reservation",
    "StatusEntry",
    "Upload",
]

# "firmware": UpdateFirmware / SignedUpdateFirmware (followed with FirmwareStatusNotification);
# "log": GetDiagnostics (DiagnosticsStatusNotification) or GetLog (LogStatusNotification).
OPERATION_KINDS = ("firmware", "log")
# The statuses of `CsmsState.operation_status`'s operations that an operation's kind takes.
OPERATION_OF = {"firmware": "firmware", "diagnostics": "log", "log": "log"}
# Reservation states after which nothing changes it any more (but a reuse of its id).
RESERVATION_ENDED = frozenset(
    {"Cancelled", "Expired", "Removed", "Used", "Rejected", "Faulted", "Occupied", "Unavailable"}
)


class StatusEntry(msgspec.Struct, frozen=True):
    """One status a station reported for an operation, and when it was received."""

    status: str
    at: datetime.datetime


class Upload(msgspec.Struct, frozen=True):
    """A file a station uploaded for an operation: `name` as stored (sanitized), `size` in
    bytes, `path` relative to the file server's folder."""

    name: str
    size: int
    path: str
    received_at: datetime.datetime


class Operation(msgspec.Struct, kw_only=True):
    """A firmware update or a log upload an operator started.

    - `id`: unique per station; for 2.x (and 1.6 signed update / GetLog) also the requestId
      sent, which the station's status notifications carry.
    - `action`: the message sent (UpdateFirmware, SignedUpdateFirmware, GetDiagnostics, GetLog).
    - `answer`: the station's answer status (1.6 UpdateFirmware and GetDiagnostics have none:
      "Accepted" once answered), or the CALLERROR code; `file_name`: the file a 1.6
      GetDiagnostics or a GetLog answer named.
    - `statuses`: the status notifications received, in order of arrival.
    - `uploads`: the files received on the upload endpoint.
    """

    id: int
    identity: str
    kind: str
    action: str
    created_at: datetime.datetime
    location: str
    request_id: int | None = None
    firmware: str | None = None
    log_type: str | None = None
    expires_at: datetime.datetime | None = None
    answer: str | None = None
    file_name: str | None = None
    statuses: list[StatusEntry] = msgspec.field(default_factory=list)
    uploads: list[Upload] = msgspec.field(default_factory=list)


class Reservation(msgspec.Struct, kw_only=True):
    """A reservation an operator made (ReserveNow) and what became of it: `status` is the
    station's answer (Accepted, Faulted, Occupied, Rejected, Unavailable), then Cancelled
    (CancelReservation accepted), Used (a transaction named it), Expired or Removed (2.x
    ReservationStatusUpdate), or Expired once `expires_at` has passed unused."""

    id: int
    identity: str
    id_token: str
    expires_at: datetime.datetime
    created_at: datetime.datetime
    updated_at: datetime.datetime
    status: str = "Requested"
    connector_id: int | None = None
    evse_id: int | None = None
    connector_type: str | None = None
    parent_id_token: str | None = None
    group_id_token: str | None = None
    transaction_id: int | str | None = None

    def status_at(self, now: datetime.datetime) -> str:
        """The status at `now`: Expired once an Accepted reservation's expiry has passed
        unused (C16 5.13: "the reservation SHALL be terminated"; H01: the station then ends it,
        telling a 2.x CSMS with ReservationStatusUpdate Expired)."""
        if self.status == "Accepted" and now >= self.expires_at:
            return "Expired"
        return self.status


class ProfileRecord(msgspec.Struct, kw_only=True):
    """A 1.6 charging profile a station accepted (SetChargingProfile), as sent: `profile` is
    the csChargingProfiles JSON, `connector_id` the connector it was set on (0: the whole
    Charge Point)."""

    connector_id: int
    profile: dict[str, Any]
    set_at: datetime.datetime

    @property
    def id(self) -> int:
        """Its chargingProfileId."""
        return int(self.profile["chargingProfileId"])

    def matches(
        self,
        profile_id: int | None,
        connector_id: int | None,
        purpose: str | None,
        stack_level: int | None,
    ) -> bool:
        """Whether a ClearChargingProfile with these fields clears it (C16 5.5: by id, else
        every profile matching all the criteria given; connectorId 0 "the Charge Point")."""
        if profile_id is not None:
            return self.id == profile_id
        return (
            (connector_id is None or self.connector_id == connector_id)
            and (purpose is None or self.profile.get("chargingProfilePurpose") == purpose)
            and (stack_level is None or self.profile.get("stackLevel") == stack_level)
        )

    def replaced_by(self, connector_id: int, profile: dict[str, Any]) -> bool:
        """Whether setting `profile` on `connector_id` replaces this one (C16 3.13.2: "If a
        charging profile with the same chargingProfileId, or the same combination of
        stackLevel / ChargingProfilePurpose, exists on the Charge Point, the new charging
        profile SHALL replace the existing one")."""
        if self.id == profile["chargingProfileId"]:
            return True
        return (
            self.connector_id == connector_id
            and self.profile.get("stackLevel") == profile.get("stackLevel")
            and self.profile.get("chargingProfilePurpose") == profile.get("chargingProfilePurpose")
        )
