"""Realistic OCPP frames for the core benchmarks: what a charging station sends most.

The mixes are the ones issue 3 names: 1.6 Heartbeat, BootNotification, StatusNotification,
Authorize, StartTransaction, MeterValues with one meterValue of 10 sampledValues; 2.0.1
Heartbeat, BootNotification, StatusNotification, TransactionEvent with 10 sampled values.
Each entry is (action, request payload, a sensible response payload).
"""

from __future__ import annotations

import importlib
from typing import Any, TypeAlias

import msgspec

from ocppfast._core.types import MESSAGE_MODULES

# One entry of a mix: (action, request payload, response payload).
Mix: TypeAlias = list[tuple[str, dict[str, Any], dict[str, Any]]]

TS = "2026-11-21T12:00:00.000Z"

_MEASURANDS_16 = [
    ("Energy.Active.Import.Register", "Wh", "12345.6", None),
    ("Power.Active.Import", "W", "7360.0", None),
    ("Current.Import", "A", "32.0", "L1"),
    ("Current.Import", "A", "31.8", "L2"),
    ("Current.Import", "A", "32.1", "L3"),
    ("Voltage", "V", "230.1", "L1-N"),
    ("Voltage", "V", "229.8", "L2-N"),
    ("Voltage", "V", "230.4", "L3-N"),
    ("SoC", "Percent", "54", None),
    ("Temperature", "Celsius", "31.5", None),
]


def _sampled_16() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for measurand, unit, value, phase in _MEASURANDS_16:
        sv = {
            "value": value,
            "context": "Sample.Periodic",
            "format": "Raw",
            "measurand": measurand,
            "location": "EV" if measurand == "SoC" else "Outlet",
            "unit": unit,
        }
        if phase:
            sv["phase"] = phase
        out.append(sv)
    return out


# 2.0.1 has no Temperature measurand (MeasurandEnumType); it has Frequency.
_MEASURANDS_201 = [*_MEASURANDS_16[:-1], ("Frequency", "Hz", "50.0", None)]


def _sampled_201() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for measurand, unit, value, phase in _MEASURANDS_201:
        sv: dict[str, Any] = {
            "value": float(value),
            "context": "Sample.Periodic",
            "measurand": measurand,
            "location": "EV" if measurand == "SoC" else "Outlet",
            "unitOfMeasure": {"unit": unit},
        }
        if phase:
            sv["phase"] = phase
        out.append(sv)
    return out


MIX_16: Mix = [
    ("Heartbeat", {}, {"currentTime": TS}),
    (
        "BootNotification",
        {
            "chargePointVendor": "VendorX",
            "chargePointModel": "SingleSocketCharger",
            "chargePointSerialNumber": "SN-0001234",
            "firmwareVersion": "1.4.2",
            "meterType": "ABB B23",
        },
        {"status": "Accepted", "currentTime": TS, "interval": 300},
    ),
    (
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": TS},
        {},
    ),
    ("Authorize", {"idTag": "04A2B3C4D5E6F7"}, {"idTagInfo": {"status": "Accepted"}}),
    (
        "StartTransaction",
        {"connectorId": 1, "idTag": "04A2B3C4D5E6F7", "meterStart": 12345, "timestamp": TS},
        {"transactionId": 4711, "idTagInfo": {"status": "Accepted"}},
    ),
    (
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": 4711,
            "meterValue": [{"timestamp": TS, "sampledValue": _sampled_16()}],
        },
        {},
    ),
]

MIX_201: Mix = [
    ("Heartbeat", {}, {"currentTime": TS}),
    (
        "BootNotification",
        {
            "reason": "PowerUp",
            "chargingStation": {
                "model": "SingleSocketCharger",
                "vendorName": "VendorX",
                "serialNumber": "SN-0001234",
                "firmwareVersion": "1.4.2",
            },
        },
        {"currentTime": TS, "interval": 300, "status": "Accepted"},
    ),
    (
        "StatusNotification",
        {"timestamp": TS, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
        {},
    ),
    (
        "TransactionEvent",
        {
            "eventType": "Updated",
            "timestamp": TS,
            "triggerReason": "MeterValuePeriodic",
            "seqNo": 3,
            "transactionInfo": {"transactionId": "f3b1c2d4-0001", "chargingState": "Charging"},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [{"timestamp": TS, "sampledValue": _sampled_201()}],
        },
        {},
    ),
]

MIXES: dict[str, Mix] = {"ocpp1.6": MIX_16, "ocpp2.0.1": MIX_201}


def call_frames(version: str) -> list[bytes]:
    """The mix of `version` as CALL frames, as a station would send them."""
    return [
        msgspec.json.encode([2, f"{i:08d}-bench", action, request])
        for i, (action, request, _) in enumerate(MIXES[version])
    ]


def handlers(version: str) -> dict[str, Any]:
    """Trivial handlers that return each action's canned response, as its typed message."""
    responses = importlib.import_module(MESSAGE_MODULES[version]).RESPONSES
    typed = {action: msgspec.convert(r, responses[action]) for action, _, r in MIXES[version]}
    return {action: (lambda request, answer=answer: answer) for action, answer in typed.items()}
