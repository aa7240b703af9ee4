"""Tests of tests/schema_strategies.py: the schema-driven generators behind the differential tests.

For every request and response schema of every OCPP version, generated instances must be valid
per jsonschema (the reference), and mutations must be well formed. Every kind of mutation must
be invalid somewhere, and the kinds that are invalid by construction (a missing required field,
a wrong type, ...) must always be. A last group pins the jsonschema behaviours that a validator
written from the specification could easily get "wrong": the differential tests inherit them.

Sized to run in well under a minute on a slow 2-core machine.
"""

from __future__ import annotations

import functools
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from tests.schema_strategies import (
    BAD_DATE_TIMES,
    KINDS,
    MUTATION_KINDS,
    VALID_KINDS,
    VERSIONS,
    actions,
    date_times,
    format_path,
    instances,
    is_multiple_of,
    load_schema,
    mutation_kind,
    mutations,
    reference_errors,
    reference_valid,
)

SETTINGS = settings(
    max_examples=5,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# For find(): generate only, no shrinking (the first hit is as good as the smallest).
SEARCH = settings(SETTINGS, max_examples=30, phases=[Phase.generate])

SCHEMAS = [
    (version, action, kind) for version in VERSIONS for action in actions(version) for kind in KINDS
]
SCHEMA_IDS = [f"{version}-{action}-{kind}" for version, action, kind in SCHEMAS]

# Mutation kinds whose result jsonschema rejects whatever the instance, by their construction.
ALWAYS_INVALID = frozenset(
    {
        "wrong type",
        "missing required",
        "bad enum",
        "too long",
        "below minimum",
        "above maximum",
        "too few items",
        "too many items",
        "null optional",
        "null required",
        "not multiple",
    }
)


@functools.cache
def _schema(version: str, action: str, kind: str) -> dict[str, Any]:
    return load_schema(version, action, kind)


@functools.cache
def _instances(version: str, action: str, kind: str) -> st.SearchStrategy[Any]:
    return instances(_schema(version, action, kind))


def _messages(errors: list[Any]) -> list[str]:
    return [f"{format_path(tuple(error.absolute_path))}: {error.message}" for error in errors[:5]]


# --------------------------------------------------------------------------------------------
# Finding the schemas


def test_every_version_has_its_actions() -> None:
    expected = {
        "v16": ("BootNotification", "MeterValues", "SetChargingProfile", "SignedUpdateFirmware"),
        "v201": ("BootNotification", "TransactionEvent", "SetVariables", "Get15118EVCertificate"),
        "v21": ("BootNotification", "TransactionEvent", "AFRRSignal", "NotifyDERAlarm"),
    }
    for version, some in expected.items():
        found = actions(version)
        assert found == sorted(set(found))
        assert set(some) <= set(found), version
    assert len(actions("v16")) == 39
    assert len(actions("v201")) == 64
    # NotifyPeriodicEventStream is a SEND message: a request schema with no response.
    assert "NotifyPeriodicEventStream" not in actions("v21")
    assert actions("ocpp2.1") == actions("v21")


def test_load_schema() -> None:
    assert load_schema("v16", "Authorize", "request")["title"] == "AuthorizeRequest"
    assert load_schema("ocpp2.1", "NotifyPeriodicEventStream", "request")["type"] == "object"
    with pytest.raises(ValueError, match="no response schema"):
        load_schema("v21", "NotifyPeriodicEventStream", "response")
    with pytest.raises(ValueError):
        load_schema("v16", "Authorize", "call")
    with pytest.raises(ValueError):
        load_schema("v3", "Authorize", "request")
    schema = load_schema("v201", "Authorize", "request")
    assert schema["comment"] == "OCPP 2.0.1 FINAL"
    assert "idToken" in schema["required"]
    schema["mutated"] = True
    assert "mutated" not in load_schema("v201", "Authorize", "request")  # a fresh dict each call


# --------------------------------------------------------------------------------------------
# Every schema: valid instances, well-formed mutations


@pytest.mark.parametrize(("version", "action", "kind"), SCHEMAS, ids=SCHEMA_IDS)
@SETTINGS
@given(data=st.data())
def test_instances_are_valid_and_mutations_well_formed(
    version: str, action: str, kind: str, data: st.DataObject
) -> None:
    schema = _schema(version, action, kind)
    instance = data.draw(_instances(version, action, kind), label="instance")
    errors = reference_errors(schema, instance)
    assert not errors, _messages(errors)
    text = json.dumps(instance, allow_nan=False, ensure_ascii=False)
    assert json.loads(text) == instance

    mutated = mutations(schema, instance)
    assert mutated, "the root object can always be mutated"
    assert len(mutated) <= 64
    assert json.dumps(instance, allow_nan=False, ensure_ascii=False) == text, "original changed"
    descriptions = [description for description, _ in mutated]
    assert len(set(descriptions)) == len(descriptions), descriptions
    for description, value in mutated:
        kind_of = mutation_kind(description)
        assert kind_of in MUTATION_KINDS, description
        assert json.dumps(value, allow_nan=False, ensure_ascii=False) != text, description
    # Validating is the slow part: check the verdict of a deterministic half of them.
    for description, value in mutated[::2]:
        kind_of = mutation_kind(description)
        if kind_of in ALWAYS_INVALID:
            assert not reference_valid(schema, value), description
        elif kind_of in VALID_KINDS:
            assert reference_valid(schema, value), (
                description,
                _messages(reference_errors(schema, value)),
            )


# --------------------------------------------------------------------------------------------
# Every kind of mutation is invalid somewhere

# The keyword that makes a kind of mutation possible: schemas using it are searched first.
_KIND_KEYWORD = {
    "integer as float": '"integer"',
    "missing required": '"required"',
    "null required": '"required"',
    "bad enum": '"enum"',
    "too long": '"maxLength"',
    "below minimum": '"minimum"',
    "above maximum": '"maximum"',
    "too few items": '"minItems"',
    "too many items": '"maxItems"',
    "bad date-time": '"date-time"',
    "not multiple": '"multipleOf"',
    "float multiple": '"multipleOf"',
}


def _candidates(mutation: str) -> list[tuple[str, str, str]]:
    """The schemas where `mutation` can occur, draft-04 first, then smallest first."""
    keyword = _KIND_KEYWORD.get(mutation, "")
    found = []
    for key in SCHEMAS:
        text = json.dumps(_schema(*key))
        if keyword in text:
            found.append((("draft-04" not in text), len(text), key))
    return [key for _, _, key in sorted(found)]


def _invalid_mutation(mutation: str, key: tuple[str, str, str]) -> str | None:
    """The description of an invalid `mutation` of some instance of schema `key`, if found."""
    schema = _schema(*key)
    hits: list[str] = []

    def has_invalid(instance: Any) -> bool:
        for description, value in mutations(schema, instance, limit=10_000):
            if mutation_kind(description) == mutation and not reference_valid(schema, value):
                hits.append(description)
                return True
        return False

    try:
        find(_instances(*key), has_invalid, settings=SEARCH)
    except NoSuchExample:
        return None
    return hits[-1]


@pytest.mark.parametrize("mutation", [kind for kind in MUTATION_KINDS if kind not in VALID_KINDS])
def test_every_kind_of_mutation_is_sometimes_invalid(mutation: str) -> None:
    for key in _candidates(mutation)[:12]:
        if _invalid_mutation(mutation, key) is not None:
            return
    pytest.fail(f"no invalid {mutation!r} mutation found")


def test_mutations_cover_nested_fields_and_are_capped() -> None:
    schema = _schema("v16", "MeterValues", "request")
    instance = {
        "connectorId": 1,
        "transactionId": 7,
        "meterValue": [
            {
                "timestamp": "2026-11-21T09:30:00Z",
                "sampledValue": [
                    {"value": "12.5", "measurand": "Energy.Active.Import.Register"},
                    {"value": "3", "unit": "kWh", "phase": "L1"},
                ],
            },
            {"timestamp": "2026-11-21T09:31:00.5+01:00", "sampledValue": [{"value": "1"}]},
        ],
    }
    everything = dict(mutations(schema, instance, limit=10_000))
    assert len(everything) > 64
    for description in (
        "wrong type at meterValue[0].timestamp (string -> 123)",
        "wrong type at meterValue[1].sampledValue (array -> {})",
        "integer as float at connectorId (1 -> 1.0)",
        "missing required at meterValue[0].sampledValue[1].value",
        "unknown field at meterValue[0].sampledValue[0].unknownField",
        "bad enum at meterValue[0].sampledValue[1].phase (case 'l1')",
        "null optional at transactionId",
        "null optional at meterValue[0].sampledValue[1].location (absent)",
        "null required at meterValue[1].timestamp",
        "too few items at meterValue (0 items)",
        "bad date-time at meterValue[1].timestamp (leap second '2016-12-31T23:59:60Z')",
    ):
        assert description in everything, description
    moved = everything["wrong type at meterValue[0].timestamp (string -> 123)"]
    assert moved["meterValue"][0]["timestamp"] == 123
    assert instance["meterValue"][0]["timestamp"] == "2026-11-21T09:30:00Z"
    assert (
        "value"
        not in everything["missing required at meterValue[0].sampledValue[1].value"]["meterValue"][
            0
        ]["sampledValue"][1]
    )

    capped = mutations(schema, instance)
    assert len(capped) == 64
    assert capped == mutations(schema, instance), "the spread is deterministic"
    kinds = {mutation_kind(description) for description, _ in capped}
    assert kinds == {mutation_kind(description) for description in everything}
    paths = {description.split(" at ")[1].split(" (")[0] for description, _ in capped}
    assert any(path.startswith("meterValue[1]") for path in paths), "spread to the last places"


def test_mutations_of_bounded_fields() -> None:
    schema = _schema("v16", "SetChargingProfile", "request")
    instance = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.1}],
                "minChargingRate": 6,
            },
        },
    }
    assert not reference_errors(schema, instance)
    everything = dict(mutations(schema, instance, limit=10_000))
    path = "csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0].limit"
    assert everything[f"not multiple at {path} (7.55 of 0.1)"]["csChargingProfiles"][
        "chargingSchedule"
    ]["chargingSchedulePeriod"][0]["limit"] == pytest.approx(7.55)
    for number in ("0.3", "1.3", "0.7"):
        assert f"float multiple at {path} ({number} of 0.1)" in everything

    schema = _schema("v201", "GetReport", "request")
    instance = {"requestId": 5, "componentCriteria": ["Active", "Problem"]}
    everything = dict(mutations(schema, instance, limit=10_000))
    assert everything["too many items at componentCriteria (5 items)"]["componentCriteria"] == [
        "Active",
        "Problem",
        "Active",
        "Problem",
        "Active",
    ]
    assert everything["too few items at componentCriteria (0 items)"]["componentCriteria"] == []
    assert everything["bad enum at componentCriteria[1] (case 'problem')"]

    schema = _schema("v201", "GetVariables", "request")
    name = "getVariableData[0].component.name"
    instance = {"getVariableData": [{"component": {"name": "EVSE"}, "variable": {"name": "x"}}]}
    everything = dict(mutations(schema, instance, limit=10_000))
    assert (
        everything[f"too long at {name} (51 astral code points)"]["getVariableData"][0][
            "component"
        ]["name"]
        == "\U0001f600" * 51
    )
    assert f"at max length at {name} (50 mixed code points)" in everything
    custom = dict(mutations(schema, {**instance, "customData": {"vendorId": "v"}}, limit=10_000))
    extended = custom["unknown field at customData.unknownField"]
    assert not reference_errors(schema, extended), "CustomDataType takes extra fields"
    assert reference_errors(schema, custom["unknown field at unknownField"])


# --------------------------------------------------------------------------------------------
# The generators reach the interesting corners


def test_date_times_vary() -> None:
    assert find(date_times(), lambda s: "." in s and s.endswith("Z"), settings=SEARCH)
    assert find(date_times(), lambda s: s[-6] in "+-" and s[-3] == ":", settings=SEARCH)
    assert find(date_times(), lambda s: len(s.split(".")[-1]) > 4, settings=SEARCH)


def test_strings_reach_non_ascii_and_astral_characters_and_the_limit() -> None:
    strings = instances({"type": "string", "maxLength": 20})
    search = settings(SEARCH, max_examples=200)
    assert find(strings, lambda s: any(0x7F < ord(c) <= 0xFFFF for c in s), settings=search)
    assert find(strings, lambda s: any(ord(c) > 0xFFFF for c in s), settings=search)
    assert find(strings, lambda s: len(s) == 20 and not s.isascii(), settings=search)


def test_custom_data_gets_vendor_fields() -> None:
    schema = _schema("v201", "Heartbeat", "request")
    search = settings(SEARCH, max_examples=200)
    found = find(instances(schema), lambda x: len(x.get("customData", {})) > 1, settings=search)
    assert isinstance(found["customData"]["vendorId"], str)


@settings(SETTINGS, max_examples=200)
@given(instances({"type": "number", "multipleOf": 0.1, "minimum": 0.0}))
def test_multiples_of_a_tenth(value: int | float) -> None:
    assert value >= 0
    assert Decimal(repr(value)) % Decimal("0.1") == 0
    assert is_multiple_of(value, 0.1)
    assert not reference_errors({"type": "number", "multipleOf": 0.1}, value)


# --------------------------------------------------------------------------------------------
# jsonschema's behaviours that the differential tests inherit

DRAFT4 = "http://json-schema.org/draft-04/schema#"
DRAFT6 = "http://json-schema.org/draft-06/schema#"


def test_reference_date_time_verdicts() -> None:
    """jsonschema (via rfc3339-validator) upper-cases before matching: lowercase t/z pass."""
    schema = {"$schema": DRAFT6, "type": "string", "format": "date-time"}
    accepted = {name for name, text in BAD_DATE_TIMES if not reference_errors(schema, text)}
    assert accepted == {"lowercase"}
    for good in (
        "2026-11-21T09:30:00Z",
        "2026-11-21T09:30:00.123456789-23:59",
        "0001-01-01T00:00:00Z",
    ):
        assert not reference_errors(schema, good), good
    assert reference_errors(schema, "0000-01-01T00:00:00Z")  # year 0 is refused
    draft4 = {"$schema": DRAFT4, "type": "string", "format": "date-time"}
    assert reference_errors(draft4, "2026-11-21T09:30:00")  # draft-04 checks formats too


def test_reference_integer_written_as_float() -> None:
    """1.0 is an integer since draft-06 but not in draft-04 (OCPP 1.6)."""
    assert reference_errors({"$schema": DRAFT4, "type": "integer"}, 1.0)
    assert not reference_errors({"$schema": DRAFT6, "type": "integer"}, 1.0)
    assert reference_errors({"$schema": DRAFT6, "type": "integer"}, 1.5)
    assert reference_errors({"$schema": DRAFT6, "type": "integer"}, True)


def test_reference_multiple_of_a_tenth_is_float_division() -> None:
    """jsonschema tests multipleOf 0.1 as int(x / 0.1) == x / 0.1, in binary floating point."""
    schema = {"$schema": DRAFT4, "type": "number", "multipleOf": 0.1}
    verdicts = {value: not reference_errors(schema, value) for value in (0.3, 0.7, 1.3, 7.55, 16.1)}
    assert verdicts == {0.3: False, 0.7: False, 1.3: True, 7.55: False, 16.1: True}
    assert all(Decimal(repr(value)) % Decimal("0.1") == 0 for value in (0.3, 0.7, 1.3))


def test_reference_max_length_counts_code_points() -> None:
    schema = {"$schema": DRAFT6, "type": "string", "maxLength": 2}
    assert not reference_errors(schema, "\U0001f600\U0001f600")  # 4 UTF-16 units, 8 bytes
    assert reference_errors(schema, "\U0001f600" * 3)
