"""Validator: the CALLERROR each schema violation becomes, per version (J16 4.2.3 Table 7,
J201 4.3 Table 8, J21 4.3 Table 9; decided in docs/validation.md), quirk profiles, outgoing
checks, and typed CALLRESULTs through the session, on both backends."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from ocppfast._core import Backend
from ocppfast._core.quirks import PROFILES, Quirk, QuirkProfile, profile
from ocppfast._core.types import CallCompleted, CallFailed, Tolerated
from ocppfast.exceptions import (
    ActionNotImplementedError,
    ActionNotSupportedError,
    FormatViolationError,
    InternalError,
    OccurrenceConstraintViolationError,
    OCPPError,
    OutgoingMessageError,
    PropertyConstraintViolationError,
    ProtocolError,
    TypeConstraintViolationError,
)

from .payloads import HEARTBEAT_RESULT, TS, corpus

# One mutation of a valid message per kind of violation, for each version: (action, payload,
# the error class, the code on the wire in 1.6, in 2.x, and the field the description names).
BOOT_16 = {"chargePointVendor": "VendorX", "chargePointModel": "M1"}
BOOT_2X = {"reason": "PowerUp", "chargingStation": {"model": "M1", "vendorName": "VendorX"}}


def _boot(version: str, **changes: Any) -> dict[str, Any]:
    payload = dict(BOOT_16 if version == "ocpp1.6" else BOOT_2X)
    payload.update(changes)
    return payload


def _cases(version: str) -> list[tuple[str, str, dict[str, Any], type[OCPPError], str]]:
    """(name, action, payload, error class, field named in the description) per violation."""
    if version == "ocpp1.6":
        long_model = _boot(version, chargePointModel="M" * 21)
        missing = {"chargePointModel": "M1"}
        optional_null = _boot(version, chargePointSerialNumber=None)
        bad_enum = (
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Zz"},
        )
        out_of_range = None  # 1.6 schemas have no bounds; see test_decimal_steps_16
        meter: dict[str, Any] = {"connectorId": 1, "meterValue": []}
        unknown: type[OCPPError] = FormatViolationError
        fields = ("chargePointVendor", "chargePointSerialNumber", "chargePointModel", "status")
    else:
        long_model = _boot(version, chargingStation={"model": "M" * 21, "vendorName": "V"})
        missing = {"chargingStation": BOOT_2X["chargingStation"]}
        optional_null = _boot(version, customData=None)
        bad_enum = ("BootNotification", _boot(version, reason="Reboot"))
        out_of_range = (
            "NotifyEVChargingNeeds",
            {
                "evseId": 1,
                "chargingNeeds": {
                    "requestedEnergyTransfer": "DC",
                    "dcChargingParameters": {
                        "evMaxCurrent": 100,
                        "evMaxVoltage": 400,
                        "stateOfCharge": 101,
                    },
                },
            },
            "chargingNeeds.dcChargingParameters.stateOfCharge",
        )
        meter = {"evseId": 1, "meterValue": []}
        unknown = ProtocolError
        fields = ("reason", "customData", "chargingStation.model", "reason")
    vendor, optional, model, enum_field = fields
    cases = [
        (
            "wrong type",
            "BootNotification",
            _boot(version, **{vendor: 5}),
            TypeConstraintViolationError,
            vendor,
        ),
        (
            "null for an optional field",
            "BootNotification",
            optional_null,
            TypeConstraintViolationError,
            optional,
        ),
        (
            "not a date-time",
            "Heartbeat",
            {"currentTime": "yesterday"},
            TypeConstraintViolationError,
            "currentTime",
        ),
        (
            "no UTC offset",
            "Heartbeat",
            {"currentTime": "2026-11-21T12:00:00"},
            TypeConstraintViolationError,
            "currentTime",
        ),
        ("string too long", "BootNotification", long_model, TypeConstraintViolationError, model),
        (
            "missing required field",
            "BootNotification",
            missing,
            OccurrenceConstraintViolationError,
            vendor if version == "ocpp1.6" else "reason",
        ),
        ("too few items", "MeterValues", meter, OccurrenceConstraintViolationError, "meterValue"),
        (
            "not in the enumeration",
            bad_enum[0],
            bad_enum[1],
            PropertyConstraintViolationError,
            enum_field,
        ),
        ("unknown field", "BootNotification", _boot(version, firmware="1.0"), unknown, "firmware"),
    ]
    if out_of_range is not None:
        action, payload, field = out_of_range
        cases.append(("out of range", action, payload, PropertyConstraintViolationError, field))
    return cases


CODES_16 = {
    TypeConstraintViolationError: "TypeConstraintViolation",
    OccurrenceConstraintViolationError: "OccurenceConstraintViolation",
    PropertyConstraintViolationError: "PropertyConstraintViolation",
    FormatViolationError: "FormationViolation",
}
CODES_2X = {
    TypeConstraintViolationError: "TypeConstraintViolation",
    OccurrenceConstraintViolationError: "OccurrenceConstraintViolation",
    PropertyConstraintViolationError: "PropertyConstraintViolation",
    ProtocolError: "ProtocolError",
}


def _decode(core: Backend, version: str, action: str, payload: Any, kind: str = "request") -> Any:
    validator = core.validator.Validator(version)
    data = msgspec.json.encode(payload)
    if action == "Heartbeat":
        kind = "response"  # the time field lives in HeartbeatResponse
    decode = validator.decode_request if kind == "request" else validator.decode_response
    return decode(action, data)


def test_each_violation_gets_its_code_per_version(core: Backend, version: str) -> None:
    """Every row of the mapping in docs/validation.md, in the version's spelling on the wire,
    with a description that names the field."""
    codes = CODES_16 if version == "ocpp1.6" else CODES_2X
    for name, action, payload, error, field in _cases(version):
        with pytest.raises(OCPPError) as info:
            _decode(core, version, action, payload)
        assert type(info.value) is error, (name, info.value)
        assert info.value.code_for(version) == codes[error], name
        assert f": {field}: " in info.value.description, (name, info.value.description)


def test_decimal_steps_16(core: Backend) -> None:
    """C16 7.13, 7.14 and C16E 3.70: a limit "accepts at most one digit fraction (e.g. 8.1)";
    checked on the decimal text, so 0.3 passes (binary floating point would refuse it)."""
    validator = core.validator.Validator("ocpp1.6")
    profile_ = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0.3}],
        },
    }
    payload = {"connectorId": 1, "csChargingProfiles": profile_}
    request = validator.decode_request("SetChargingProfile", msgspec.json.encode(payload))
    assert request.cs_charging_profiles.charging_schedule.charging_schedule_period[0].limit == 0.3
    profile_["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = 7.55  # type: ignore[index]
    with pytest.raises(PropertyConstraintViolationError, match=r"limit: 7\.55 is not a multiple"):
        validator.decode_request("SetChargingProfile", msgspec.json.encode(payload))


def test_integer_written_as_float_follows_the_schema_draft(core: Backend) -> None:
    """draft-06 (2.x, the 1.6 security extension) counts 1.0 as an integer; draft-04 (1.6)
    does not."""
    v201 = core.validator.Validator("ocpp2.0.1")
    status = {"timestamp": TS, "connectorStatus": "Available", "evseId": 1.0, "connectorId": 1}
    request = v201.decode_request("StatusNotification", msgspec.json.encode(status))
    assert request.evse_id == 1 and type(request.evse_id) is int
    v16 = core.validator.Validator("ocpp1.6")
    with pytest.raises(TypeConstraintViolationError, match="connectorId: expected an integer"):
        v16.decode_request(
            "StatusNotification",
            b'{"connectorId":1.0,"errorCode":"NoError","status":"Available"}',
        )


def test_several_violations_are_counted_in_the_description(core: Backend) -> None:
    with pytest.raises(FormatViolationError) as info:
        core.validator.Validator("ocpp1.6").decode_request("BootNotification", b'{"x":1}')
    # The unknown field is reported first (PDU structure), then what is missing.
    assert info.value.description.endswith("(and 2 more)")


def test_numbers_beyond_a_double_are_a_format_violation(core: Backend, version: str) -> None:
    with pytest.raises(FormatViolationError, match="out of range"):
        core.validator.Validator(version).decode_response("Heartbeat", b'{"currentTime":1e999}')


def test_customdata_keeps_vendor_fields_and_checks_vendor_id(core: Backend) -> None:
    validator = core.validator.Validator("ocpp2.1")
    request = validator.decode_request(
        "Heartbeat", b'{"customData":{"vendorId":"com.example","x":[1,{"y":null}]}}'
    )
    assert request.custom_data == {"vendorId": "com.example", "x": [1, {"y": None}]}
    with pytest.raises(OccurrenceConstraintViolationError, match=r"customData\.vendorId"):
        validator.decode_request("Heartbeat", b'{"customData":{"x":1}}')
    with pytest.raises(TypeConstraintViolationError, match=r"customData\.vendorId"):
        validator.decode_request("Heartbeat", b'{"customData":{"vendorId":"' + b"v" * 256 + b'"}}')


# -- quirk profiles ------------------------------------------------------------------------


def test_quirk_profile_repairs_and_reports_once(core: Backend) -> None:
    """Named per-field leniency: a long serial number is cut to its limit, a time without an
    offset is read as UTC, a sample with a vendor measurand is dropped; each is reported the
    first time it is seen and counted every time. Other violations are still refused."""
    validator = core.validator.Validator(
        "ocpp1.6", quirks=profile("long-serial-numbers", "naive-timestamps", "unknown-measurands")
    )
    boot = {**BOOT_16, "chargePointSerialNumber": "S" * 30}
    for _ in range(3):
        request = validator.decode_request("BootNotification", msgspec.json.encode(boot))
        assert request.charge_point_serial_number == "S" * 25
    meter = {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": "2026-11-21T12:00:00",
                "sampledValue": [{"value": "1", "measurand": "Power.Vendor"}, {"value": "2"}],
            }
        ],
    }
    request = validator.decode_request("MeterValues", msgspec.json.encode(meter))
    assert request.meter_value[0].timestamp.isoformat() == "2026-11-21T12:00:00+00:00"
    assert [s.value for s in request.meter_value[0].sampled_value] == ["2"]
    reported = validator.take_tolerated()
    assert [(t.quirk, t.action, t.field, t.violation) for t in reported] == [
        ("long-serial-number", "BootNotification", "chargePointSerialNumber", "max_length"),
        ("naive-timestamp", "MeterValues", "meterValue[0].timestamp", "timezone"),
        ("unknown-measurand", "MeterValues", "meterValue[0].sampledValue[0].measurand", "enum"),
    ]
    assert all(isinstance(t, Tolerated) for t in reported)
    assert validator.take_tolerated() == []
    assert (
        validator.tolerated[("long-serial-number", "BootNotification", "chargePointSerialNumber")]
        == 3
    )
    # Not in the profile: still refused.
    with pytest.raises(TypeConstraintViolationError):
        validator.decode_request(
            "BootNotification", msgspec.json.encode({**BOOT_16, "chargePointModel": "M" * 21})
        )


def test_quirks_are_per_field_and_per_action(core: Backend) -> None:
    quirk = Quirk("long-model", "max_length", "chargePointModel", "BootNotification")
    validator = core.validator.Validator("ocpp1.6", quirks=QuirkProfile("mine", [quirk]))
    long_model = {**BOOT_16, "chargePointModel": "M" * 21}
    assert (
        validator.decode_request(
            "BootNotification", msgspec.json.encode(long_model)
        ).charge_point_model
        == "M" * 20
    )
    with pytest.raises(TypeConstraintViolationError):  # the vendor field is not covered
        validator.decode_request(
            "BootNotification", msgspec.json.encode({**BOOT_16, "chargePointVendor": "V" * 21})
        )


def test_quirk_replace_and_bad_configuration() -> None:
    replace = Quirk("old-error-code", "enum", "errorCode", repair="replace", value="OtherError")
    from ocppfast._core.validator import Validator

    validator = Validator("ocpp1.6", quirks=QuirkProfile("p", [replace]))
    request = validator.decode_request(
        "StatusNotification", b'{"connectorId":1,"errorCode":"Overheat","status":"Faulted"}'
    )
    assert request.error_code == "OtherError"
    with pytest.raises(ValueError, match="unknown violation kind"):
        Quirk("x", "typo", "*")
    with pytest.raises(ValueError, match="give a repair"):
        Quirk("x", "required", "*")
    with pytest.raises(ValueError, match="no quirk profile 'nope'"):
        profile("nope")
    assert set(PROFILES) >= {"long-serial-numbers", "naive-timestamps", "unknown-measurands"}


def _meter_values_16(n: int, timestamp: str = "2026-11-21T12:00:00") -> bytes:
    return msgspec.json.encode(
        {
            "connectorId": 1,
            "meterValue": [
                {"timestamp": timestamp, "sampledValue": [{"value": str(i)}]} for i in range(n)
            ],
        }
    )


def test_quirks_repair_thousands_of_violations_in_one_pass(core: Backend) -> None:
    """A payload with 3000 naive timestamps, every one tolerated, is accepted (it used to be
    refused: one repair and one whole check per violation, capped at 1000), each counted."""
    validator = core.validator.Validator("ocpp1.6", quirks=profile("naive-timestamps"))
    request = validator.decode_request("MeterValues", _meter_values_16(3000))
    assert len(request.meter_value) == 3000
    assert {m.timestamp.isoformat() for m in request.meter_value} == {"2026-11-21T12:00:00+00:00"}
    assert [s.value for m in request.meter_value[2997:] for s in m.sampled_value] == [
        "2997",
        "2998",
        "2999",
    ]
    assert validator.tolerated == {
        ("naive-timestamp", "MeterValues", "meterValue[].timestamp"): 3000
    }
    [reported] = validator.take_tolerated()
    assert reported.field == "meterValue[0].timestamp"


def test_repair_takes_a_bounded_number_of_schema_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """However many violations a payload has, the quirk repair checks it a fixed number of
    times: the first check lists them all, one pass repairs them, one more check confirms. A
    repair that does not hold is given up after a few rounds, not a thousand."""
    from ocppfast._core import pure_backend, schema_check

    core = pure_backend()
    checks: list[type] = []
    original = schema_check.check

    def counting(value: Any, message_type: type, draft: int | None = None) -> Any:
        checks.append(message_type)
        return original(value, message_type, draft)

    monkeypatch.setattr(schema_check, "check", counting)
    validator = core.validator.Validator("ocpp1.6", quirks=profile("naive-timestamps"))
    for n in (1, 100, 3000):
        checks.clear()
        validator.decode_request("MeterValues", _meter_values_16(n))
        assert len(checks) == 2, n
    # A `replace` whose value breaks the enum again: repaired and found again each round, then
    # refused with the violation.
    bad = Quirk("bad-fix", "enum", "errorCode", repair="replace", value="StillNotAnErrorCode")
    stubborn = core.validator.Validator("ocpp1.6", quirks=QuirkProfile("p", [bad]))
    checks.clear()
    with pytest.raises(PropertyConstraintViolationError, match="errorCode"):
        stubborn.decode_request(
            "StatusNotification", b'{"connectorId":1,"errorCode":"Overheat","status":"Faulted"}'
        )
    assert len(checks) == 1 + core.validator._MAX_ROUNDS


def test_repairs_in_one_pass_drop_the_right_items(core: Backend) -> None:
    """Repairs done together must not disturb each other: array items are removed last index
    first, an item two quirks want dropped is dropped once (counted for the first violation in
    it), and nothing inside a dropped item or past a truncated array's limit is repaired."""
    quirks = QuirkProfile(
        "p",
        [
            Quirk("vendor-measurand", "enum", "measurand"),
            Quirk("vendor-unit", "enum", "unit"),
            Quirk("extra", "unknown_field", "*"),
            Quirk("naive", "timezone", "*"),
        ],
    )
    validator = core.validator.Validator("ocpp1.6", quirks=quirks)
    samples = [
        {"value": "0"},
        {"value": "1", "measurand": "Vendor.X", "unit": "Vendor.Y", "extra": 1},
        {"value": "2", "unit": "Vendor.Y"},
        {"value": "3", "extra": 2},
        {"value": "4", "measurand": "Vendor.X"},
        {"value": "5"},
    ]
    meter = {
        "connectorId": 1,
        "meterValue": [{"timestamp": "2026-11-21T12:00:00", "sampledValue": samples}],
    }
    request = validator.decode_request("MeterValues", msgspec.json.encode(meter))
    assert [s.value for s in request.meter_value[0].sampled_value] == ["0", "3", "5"]
    assert validator.tolerated == {
        ("naive", "MeterValues", "meterValue[].timestamp"): 1,
        ("vendor-measurand", "MeterValues", "meterValue[].sampledValue[].measurand"): 2,
        ("vendor-unit", "MeterValues", "meterValue[].sampledValue[].unit"): 1,
        ("extra", "MeterValues", "meterValue[].sampledValue[].extra"): 1,
    }
    # An array cut to its limit: the items past it are gone, not repaired.
    many = Quirk("many-hashes", "max_items", "iso15118CertificateHashData")
    long = Quirk("long", "max_length", "*")
    validator = core.validator.Validator("ocpp2.0.1", quirks=QuirkProfile("q", [many, long]))
    hash_data = {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": "a",
        "issuerKeyHash": "b",
        "serialNumber": "c",
        "responderURL": "u",
    }
    hashes = [hash_data] * 4 + [{**hash_data, "serialNumber": "s" * 41}] * 2
    authorize = {
        "idToken": {"idToken": "x", "type": "ISO14443"},
        "iso15118CertificateHashData": hashes,
    }
    request = validator.decode_request("Authorize", msgspec.json.encode(authorize))
    assert len(request.iso15118_certificate_hash_data) == 4
    assert validator.tolerated == {("many-hashes", "Authorize", "iso15118CertificateHashData"): 1}


def test_tolerated_keys_are_bounded(core: Backend) -> None:
    """Field names are the peer's choice where unknown fields are tolerated: the counts keep
    at most a fixed number of distinct fields, the rest are counted together."""
    quirks = QuirkProfile("p", [Quirk("extra", "unknown_field", "*")])
    validator = core.validator.Validator("ocpp1.6", quirks=quirks)
    limit = core.validator._MAX_TOLERATED_KEYS
    for start in range(0, 3 * limit, limit // 2):
        payload = {f"f{i}": i for i in range(start, start + limit // 2)}
        assert validator.decode_request("Heartbeat", msgspec.json.encode(payload)) is not None
    other = ("extra", "Heartbeat", core.validator.OTHER_FIELDS)
    assert len(validator.tolerated) == limit + 1
    assert validator.tolerated[other] == 2 * limit
    assert sum(validator.tolerated.values()) == 3 * limit
    assert len(validator.take_tolerated()) == limit + 1
    validator.decode_request("Heartbeat", msgspec.json.encode({"x" * 10_000: 1}))
    assert validator.tolerated[other] == 2 * limit + 1


def test_unknown_action_is_an_ocpp_error_not_a_key_error(core: Backend, version: str) -> None:
    """An action the version does not have, or a 2.1 SEND message, which has no response
    (J21 4.2.4), is refused with the OCPPError to answer with, never a KeyError."""
    validator = core.validator.Validator(version)
    with pytest.raises(ActionNotImplementedError, match="FlyToTheMoon"):
        validator.decode_request("FlyToTheMoon", b"{}")
    with pytest.raises(ActionNotImplementedError, match="FlyToTheMoon"):
        validator.decode_response("FlyToTheMoon", b"{}")
    assert validator.has_response("Heartbeat") and not validator.has_response("FlyToTheMoon")
    if version == "ocpp2.1":
        assert not validator.has_response("NotifyPeriodicEventStream")
        with pytest.raises(ActionNotSupportedError, match="SEND message and has no response"):
            validator.decode_response("NotifyPeriodicEventStream", b"{}")


# -- outgoing and through the session --------------------------------------------------------


def test_outgoing_messages_are_checked_unless_switched_off(core: Backend, version: str) -> None:
    session = core.session.Session(version)
    with pytest.raises(OutgoingMessageError, match="BootNotification request") as info:
        session.call("BootNotification", {"bad": 1}, now=0.0)
    assert isinstance(info.value.__cause__, OCPPError)
    assert session.data_to_send() == []
    fast = core.session.Session(
        version, validator=core.validator.Validator(version, check_outgoing=False)
    )
    fast.call("BootNotification", {"bad": 1}, now=0.0)
    assert len(fast.data_to_send()) == 1


def test_invalid_response_from_a_handler_becomes_internal_error(
    core: Backend, version: str
) -> None:
    """A response that breaks its schema never leaves: the CALL is answered InternalError and
    the caller learns of its fault."""
    session = core.session.Session(version)
    session.receive('[2,"m1","Heartbeat",{}]', now=0.0)
    with pytest.raises(OutgoingMessageError, match="currentTime"):
        session.respond("m1", {"currentTime": "not a time"})
    [frame] = [msgspec.json.decode(f) for f in session.data_to_send()]
    assert frame[:3] == [4, "m1", InternalError.code_for(version)]


def test_callresult_arrives_typed_or_fails_the_call(core: Backend, version: str) -> None:
    """The session decodes a CALLRESULT into the action's response type; one that breaks its
    schema fails the CALL with the violation, and on 2.1 gets a CALLRESULTERROR (J21 4.2.3)."""
    session = core.session.Session(version, id_prefix="t")
    first = session.call("Heartbeat", {}, now=0.0)
    session.data_to_send()
    [done] = session.receive(msgspec.json.encode([3, first, HEARTBEAT_RESULT]), now=0.0)
    assert isinstance(done, CallCompleted)
    assert type(done.response).__name__ == "HeartbeatResponse"
    second = session.call("Heartbeat", {}, now=0.0)
    session.data_to_send()
    [failed] = session.receive(msgspec.json.encode([3, second, {"currentTime": 5}]), now=0.0)
    assert isinstance(failed, CallFailed)
    assert isinstance(failed.error, TypeConstraintViolationError)
    frames = [msgspec.json.decode(f) for f in session.data_to_send()]
    if version == "ocpp2.1":
        assert frames == [[5, second, "TypeConstraintViolation", failed.error.description, {}]]
    else:
        assert frames == []


def test_every_corpus_message_round_trips(core: Backend, version: str) -> None:
    """Each hand-written example decodes to its type, and the typed message encodes to JSON
    that decodes to the same message."""
    validator = core.validator.Validator(version)
    for action, examples in corpus(version).items():
        for kind, decode in (
            ("request", validator.decode_request),
            ("response", validator.decode_response),
        ):
            for payload in examples[kind]:
                message = decode(action, msgspec.json.encode(payload))
                assert decode(action, msgspec.json.encode(message)) == message, (action, kind)
