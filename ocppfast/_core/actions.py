"""Which side initiates each OCPP action, per version (C16 4-5, SW 5, P6, A201, A21, J21 4.2.4)."""

from __future__ import annotations

from typing import Final

# The action names of a version are exactly its schema file names: schemas/v16/<Action>.json,
# schemas/v201/ and schemas/v21/<Action>Request.json, and the SEND message
# schemas/v21/NotifyPeriodicEventStream.json (no Response schema, J21 4.2.4). Names are sorted in
# code-point order, as sorted() sorts them: "AFRRSignal" before "AdjustPeriodicEventStream".
#
# Where each direction comes from:
# - ocpp1.6: C16 chapter 4 "Operations Initiated by Charge Point" and chapter 5 "Operations
#   Initiated by Central System"; for the security extension, the PDU definitions of SW chapter 5
#   ("... PDU sent by the Central System to the Charge Point", "Used by the Central System to
#   request ...", "Sent by the Charge Point to the Central System ..."). Nothing from knowledge.
# - ocpp2.0.1: the P6 test scenarios, whose two columns show which side sends each Request or
#   answers with each Response (Charging Station left, CSMS right; the OCTT plays the side that is
#   not under test), and A201 appendix 3 for NotifyChargingLimit (LimitChangeSignificance: "the
#   Charging Station MAY skip sending a NotifyChargingLimitRequest ... to the CSMS") and
#   SetDisplayMessage (DisplayMessages: "configured in this Charging Station, via
#   SetDisplayMessageRequest"). Part 2 (use cases) is not in text/: the actions that P6 and A201
#   do not show are decided from knowledge of OCPP 2.0.1 Part 2, and listed as such below.
# - ocpp2.1: the 2.0.1 actions keep their direction, 2.1 Part 0 chapter 2: "The application logic
#   for OCPP 2.0.1 remains valid". Of the 26 CALL actions new in 2.1, only AFRRSignal has text (A21
#   chapter 5, reason code NoSignalWattCurve: a signal-watt curve missing "in a charging schedule
#   period when an AFRRSignalRequest is received", i.e. received by the Charging Station); the other
#   new ones are decided from knowledge of OCPP 2.1 Part 2, and listed as such below.
#
# DataTransfer is the one action that both sides initiate, in every version: C16 4.3 and 5.6;
# 2.0.1 and 2.1 Part 0 use cases P01 "Data Transfer to the Charging Station" and P02 "Data
# Transfer to the CSMS"; P6 TC_P_01_CS (CSMS sends it) and TC_P_02_CSMS (Charging Station sends
# it). No text gives any other 2.1 action both directions, and from knowledge none has one: the
# new 2.1 messages come in one-way pairs instead (the CSMS asks for a battery swap with
# RequestBatterySwap, the station reports one with BatterySwap; UsePriorityCharging and
# NotifyPriorityCharging; UpdateDynamicSchedule and PullDynamicScheduleUpdate).

_STATION_INITIATED_201: Final = frozenset(
    {
        "Authorize",
        "BootNotification",
        "ClearedChargingLimit",
        "DataTransfer",
        "FirmwareStatusNotification",
        "Get15118EVCertificate",
        "GetCertificateStatus",
        "Heartbeat",
        "LogStatusNotification",
        "MeterValues",
        "NotifyChargingLimit",
        "NotifyCustomerInformation",
        "NotifyDisplayMessages",
        "NotifyEVChargingNeeds",
        "NotifyEVChargingSchedule",
        "NotifyEvent",
        "NotifyMonitoringReport",
        "NotifyReport",
        "PublishFirmwareStatusNotification",
        "ReportChargingProfiles",
        "ReservationStatusUpdate",
        "SecurityEventNotification",
        "SignCertificate",
        "StatusNotification",
        "TransactionEvent",
    }
)

# Actions whose CALL a Charging Station sends to the CSMS.
STATION_INITIATED: Final[dict[str, frozenset[str]]] = {
    "ocpp1.6": frozenset(
        {
            "Authorize",
            "BootNotification",
            "DataTransfer",
            "DiagnosticsStatusNotification",
            "FirmwareStatusNotification",
            "Heartbeat",
            "LogStatusNotification",
            "MeterValues",
            "SecurityEventNotification",
            "SignCertificate",
            "SignedFirmwareStatusNotification",
            "StartTransaction",
            "StatusNotification",
            "StopTransaction",
        }
    ),
    # From knowledge: ClearedChargingLimit, Get15118EVCertificate, NotifyDisplayMessages,
    #   NotifyMonitoringReport, PublishFirmwareStatusNotification, ReportChargingProfiles,
    #   ReservationStatusUpdate.
    "ocpp2.0.1": _STATION_INITIATED_201,
    # New in 2.1, from knowledge: BatterySwap, ClosePeriodicEventStream, GetCertificateChainStatus,
    #   NotifyDERAlarm, NotifyDERStartStop, NotifyPriorityCharging, NotifySettlement,
    #   OpenPeriodicEventStream, PullDynamicScheduleUpdate, ReportDERControl, VatNumberValidation.
    "ocpp2.1": _STATION_INITIATED_201
    | frozenset(
        {
            "BatterySwap",
            "ClosePeriodicEventStream",
            "GetCertificateChainStatus",
            "NotifyDERAlarm",
            "NotifyDERStartStop",
            "NotifyPriorityCharging",
            "NotifySettlement",
            "OpenPeriodicEventStream",
            "PullDynamicScheduleUpdate",
            "ReportDERControl",
            "VatNumberValidation",
        }
    ),
}

_CSMS_INITIATED_201: Final = frozenset(
    {
        "CancelReservation",
        "CertificateSigned",
        "ChangeAvailability",
        "ClearCache",
        "ClearChargingProfile",
        "ClearDisplayMessage",
        "ClearVariableMonitoring",
        "CostUpdated",
        "CustomerInformation",
        "DataTransfer",
        "DeleteCertificate",
        "GetBaseReport",
        "GetChargingProfiles",
        "GetCompositeSchedule",
        "GetDisplayMessages",
        "GetInstalledCertificateIds",
        "GetLocalListVersion",
        "GetLog",
        "GetMonitoringReport",
        "GetReport",
        "GetTransactionStatus",
        "GetVariables",
        "InstallCertificate",
        "PublishFirmware",
        "RequestStartTransaction",
        "RequestStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "SetDisplayMessage",
        "SetMonitoringBase",
        "SetMonitoringLevel",
        "SetNetworkProfile",
        "SetVariableMonitoring",
        "SetVariables",
        "TriggerMessage",
        "UnlockConnector",
        "UnpublishFirmware",
        "UpdateFirmware",
    }
)

# Actions whose CALL the CSMS sends to a Charging Station.
CSMS_INITIATED: Final[dict[str, frozenset[str]]] = {
    "ocpp1.6": frozenset(
        {
            "CancelReservation",
            "CertificateSigned",
            "ChangeAvailability",
            "ChangeConfiguration",
            "ClearCache",
            "ClearChargingProfile",
            "DataTransfer",
            "DeleteCertificate",
            "ExtendedTriggerMessage",
            "GetCompositeSchedule",
            "GetConfiguration",
            "GetDiagnostics",
            "GetInstalledCertificateIds",
            "GetLocalListVersion",
            "GetLog",
            "InstallCertificate",
            "RemoteStartTransaction",
            "RemoteStopTransaction",
            "ReserveNow",
            "Reset",
            "SendLocalList",
            "SetChargingProfile",
            "SignedUpdateFirmware",
            "TriggerMessage",
            "UnlockConnector",
            "UpdateFirmware",
        }
    ),
    # From knowledge: CancelReservation, ClearChargingProfile, ClearDisplayMessage,
    #   ClearVariableMonitoring, CostUpdated, GetChargingProfiles, GetCompositeSchedule,
    #   GetDisplayMessages, GetLocalListVersion, GetMonitoringReport, GetReport, PublishFirmware,
    #   SetMonitoringBase, SetMonitoringLevel, SetVariableMonitoring, UnpublishFirmware.
    "ocpp2.0.1": _CSMS_INITIATED_201,
    # New in 2.1, from knowledge: AdjustPeriodicEventStream, ChangeTransactionTariff,
    #   ClearDERControl, ClearTariffs, GetDERControl, GetPeriodicEventStream, GetTariffs,
    #   NotifyAllowedEnergyTransfer, NotifyWebPaymentStarted, RequestBatterySwap, SetDERControl,
    #   SetDefaultTariff, UpdateDynamicSchedule, UsePriorityCharging.
    "ocpp2.1": _CSMS_INITIATED_201
    | frozenset(
        {
            "AFRRSignal",
            "AdjustPeriodicEventStream",
            "ChangeTransactionTariff",
            "ClearDERControl",
            "ClearTariffs",
            "GetDERControl",
            "GetPeriodicEventStream",
            "GetTariffs",
            "NotifyAllowedEnergyTransfer",
            "NotifyWebPaymentStarted",
            "RequestBatterySwap",
            "SetDERControl",
            "SetDefaultTariff",
            "UpdateDynamicSchedule",
            "UsePriorityCharging",
        }
    ),
}

# OCPP 2.1 SEND messages (J21 4.2.4), by sender. NotifyPeriodicEventStream carries the values of a
# periodic event stream that the Charging Station opened with OpenPeriodicEventStream (2.1 Part 0
# N11-N15: "frequent periodic variable monitoring via an event stream. This utilizes the new
# unconfirmed message type: SEND"); that the station is its sender is from knowledge.
STATION_SENDS: Final[dict[str, frozenset[str]]] = {
    "ocpp1.6": frozenset(),
    "ocpp2.0.1": frozenset(),
    "ocpp2.1": frozenset({"NotifyPeriodicEventStream"}),
}
# No version defines a SEND message of the CSMS.
CSMS_SENDS: Final[dict[str, frozenset[str]]] = {
    "ocpp1.6": frozenset(),
    "ocpp2.0.1": frozenset(),
    "ocpp2.1": frozenset(),
}
