"""Exactness: our validator accepts exactly the payloads the official OCPP JSON schemas accept.

Every message of every version (each action's request and response, and the 2.1 SEND
NotifyPeriodicEventStream) goes through our validator (on both core backends) and through
`jsonschema` with the schema's own draft and its format checker (tests/schema_strategies.py):

1. the hand-written corpus (tests/messages/<version>.json), which must cover every message;
2. hypothesis-generated valid instances, a few per schema, derandomized;
3. the mutations of each of those (near-misses: wrong types, missing fields, bad enums, bounds,
   bad date-times, multipleOf traps, ...);
4. edge values (EDGE_VALUES: year 0000 and 9999, sub-microsecond fractions, integral floats,
   huge integers, ...) put in the date-time, integer, number and free-form fields of the corpus:
   all of them in a message's first field of each kind, a share in each other field.

Accept/reject must agree, with no tolerance but the disagreements the spec decides, each listed
in SPEC_EXCEPTIONS below with its reason and reference. Such an exception is not a blanket
pass: a disagreement counts as one only if `jsonschema` with exactly that one rule read the
spec's way (one keyword or one format replaced, nothing else) reaches our verdict, in a direction
the table states, and every error that separates the two readings is one of that rule. Each
exception's own examples are checked too, so that one that stops happening fails instead of
lingering in the table.

When both reject, our error must be an OCPPError (which one is tests/test_validator.py's
business). When both accept, the typed message must re-encode (msgspec.json.encode) to JSON that
`jsonschema` accepts and that equals the input but for these normalisations (NORMALISATIONS):

- an integral float in an integer field (`1.0`, valid from draft-06 on) becomes the int;
- a number in a `number` field becomes a float (an integer beyond 2**53 the nearest double);
- a date-time is rewritten in canonical RFC 3339 (`T`, `Z`, 0 or 6 fraction digits); it
  compares as the same instant with the same UTC offset, a fraction beyond the microsecond
  rounded half up to the microsecond (Python's datetime resolution);
- `customData` keeps every vendor property, and free-form values (`data`) stay exactly as given.

Checked and found not to be a disagreement: year 0000 (`0000-01-01T00:00:00Z`): Python's
datetime cannot hold it and we reject it, and so does `jsonschema` (rfc3339-validator refuses year
0). Format `uri` (1.6 GetDiagnostics and UpdateFirmware `location`) is checked by neither: we
take it as a plain string, and `jsonschema` checks it only when rfc3987 is installed, which it is
not here.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import jsonschema
import jsonschema.validators
import msgspec
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from ocppfast._core import Backend
from ocppfast.exceptions import OCPPError
from tests.payloads import corpus
from tests.schema_strategies import (
    KINDS,
    VERSIONS,
    Schema,
    actions,
    format_path,
    instances,
    load_schema,
    mutations,
    reference_errors,
    reference_valid,
    resolve,
    schema_types,
    sends,
)

OCPP = {"v16": "ocpp1.6", "v201": "ocpp2.0.1", "v21": "ocpp2.1"}

ACCEPTS_MORE = "we accept, jsonschema rejects"
REJECTS_MORE = "we reject, jsonschema accepts"

Keyword = Callable[[Any, Any, Any, Schema], Iterator[jsonschema.ValidationError]]


@dataclass(frozen=True)
class SpecException:
    """A documented disagreement with `jsonschema`, decided by the spec.

    `format_check` (for `format_name`) or `keyword` (for `keyword_name`) is the spec's reading
    of that one rule, given the reference's own implementation to fall back on: `jsonschema` with
    it swapped in must give our verdict. `examples` are (version, action, kind, payload, our
    verdict): each must disagree with plain `jsonschema` and agree with the spec's reading.
    `kept_by_encoding` says whether our re-encoded message still carries the disputed value (a
    number does; a date-time is rewritten in canonical form, which plain `jsonschema` accepts).
    """

    rule: str
    reason: str
    spec: str
    directions: frozenset[str]
    examples: tuple[tuple[str, str, str, Any, bool], ...]
    kept_by_encoding: bool
    format_name: str = ""
    format_check: Callable[[Callable[[object], bool], object], bool] | None = None
    keyword_name: str = ""
    keyword: (
        Callable[[Keyword, Any, Any, Any, Schema], Iterator[jsonschema.ValidationError]] | None
    ) = None

    def explains(self, error: jsonschema.ValidationError) -> bool:
        """Whether `error` is one of this rule's (and so may separate the two readings)."""
        if self.format_name:
            return bool(error.validator == "format" and error.validator_value == self.format_name)
        return bool(error.validator == self.keyword_name)


def _date_time_with_space(original: Callable[[object], bool], instance: object) -> bool:
    if isinstance(instance, str) and len(instance) > 10 and instance[10] == " ":
        instance = instance[:10] + "T" + instance[11:]
    return original(instance)


def _date_time_to_the_end(original: Callable[[object], bool], instance: object) -> bool:
    if isinstance(instance, str) and instance.endswith("\n"):
        return False
    return original(instance)


_COLONLESS_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def _date_time_colonless_offset(original: Callable[[object], bool], instance: object) -> bool:
    if isinstance(instance, str):
        instance = _COLONLESS_OFFSET.sub(r"\1:\2", instance)
    return original(instance)


def _date_time_within_datetime(original: Callable[[object], bool], instance: object) -> bool:
    """Refuse what rounds (to the microsecond, half up) past 9999-12-31T23:59:59.999999."""
    if isinstance(instance, str):
        last = re.match(r"9999-12-31[Tt ]23:59:59\.(\d{7,})", instance)
        if last is not None and int(last.group(1)[:7]) >= 9999995:
            return False
    return original(instance)


def _one_fraction_digit(
    original: Keyword, validator: Any, divisor: Any, instance: Any, schema: Schema
) -> Iterator[jsonschema.ValidationError]:
    if divisor != 0.1 or type(divisor) is not float or not validator.is_type(instance, "number"):
        yield from original(validator, divisor, instance, schema)
        return
    # The shortest decimal text of the double, the text the peer wrote for any number with at
    # most 17 significant digits: 1.2, 1e+30 (exponent 30) have at most one fraction digit.
    exponent = Decimal(repr(instance)).as_tuple().exponent if type(instance) is float else 0
    if isinstance(exponent, int) and exponent < -1:  # (a finite number has an int exponent)
        yield jsonschema.ValidationError(f"{instance!r} has more than one fraction digit")


def _number_is_a_double(
    original: Keyword, validator: Any, types: Any, instance: Any, schema: Schema
) -> Iterator[jsonschema.ValidationError]:
    yield from original(validator, types, instance, schema)
    declared = [types] if isinstance(types, str) else types
    if type(instance) is int and "number" in declared and "integer" not in declared:
        try:
            float(instance)
        except OverflowError:
            yield jsonschema.ValidationError(f"{instance} is beyond the range of a double")


SPEC_EXCEPTIONS: dict[str, SpecException] = {
    "date-time-space-separator": SpecException(
        rule="a date-time may have a space instead of 'T' between date and time",
        reason=(
            "msgspec's RFC 3339 parser, our hot path, reads the space; rfc3339-validator, "
            "jsonschema's date-time check, requires 'T'. We keep the parser's reading, which the "
            "RFC allows, and write 'T' ourselves."
        ),
        spec=(
            "RFC 3339 5.6 NOTE: 'Applications using this syntax may choose, for the sake of "
            "readability, to specify a full-date and full-time separated by (say) a space "
            "character.' OCPP's dateTime is RFC 3339 (2.0.1 and 2.1 Part 2 Appendices, "
            "DateTime: '[RFC3339] datetime format'; the 1.6 schemas say format date-time)."
        ),
        directions=frozenset({ACCEPTS_MORE}),
        examples=(
            ("v16", "Heartbeat", "response", {"currentTime": "2026-11-21 09:30:00Z"}, True),
            (
                "v201",
                "Heartbeat",
                "response",
                {"currentTime": "2026-11-21 09:30:00.250+01:00"},
                True,
            ),
        ),
        kept_by_encoding=False,
        format_name="date-time",
        format_check=_date_time_with_space,
    ),
    "date-time-trailing-newline": SpecException(
        rule="a date-time ends at its offset: a trailing newline makes it invalid",
        reason=(
            "rfc3339-validator anchors its pattern with '$', which also matches before a final "
            "newline, so jsonschema accepts '2026-11-21T09:30:00Z\\n'. We read the whole string."
        ),
        spec=(
            "RFC 3339 5.6: date-time = full-date 'T' full-time, and full-time ends with "
            "time-offset; the grammar has nothing after it."
        ),
        directions=frozenset({REJECTS_MORE}),
        examples=(
            ("v16", "Heartbeat", "response", {"currentTime": "2026-11-21T09:30:00Z\n"}, False),
            (
                "v21",
                "Heartbeat",
                "response",
                {"currentTime": "2026-11-21T09:30:00.5-05:00\n"},
                False,
            ),
        ),
        kept_by_encoding=False,
        format_name="date-time",
        format_check=_date_time_to_the_end,
    ),
    "date-time-colonless-offset": SpecException(
        rule="a date-time offset may be written +hhmm as well as +hh:mm",
        reason=(
            "msgspec's RFC 3339 parser, our hot path, reads '+0100' (it never sees the text "
            "again, so the slow path reads it the same way); rfc3339-validator requires the "
            "colon. The instant is unambiguous, and what we send always has the colon."
        ),
        spec=(
            "C16 3.15 makes ISO 8601 the 1.6 notation, whose basic format writes the offset "
            "+hhmm, and 'message receivers must be able to handle ... time zone offsets'. For "
            "2.0.1 and 2.1 (RFC 3339) this is a leniency on input, not a reading of the text: "
            "listed here so that it is deliberate and visible."
        ),
        directions=frozenset({ACCEPTS_MORE}),
        examples=(
            ("v16", "Heartbeat", "response", {"currentTime": "2026-11-21T09:30:00+0100"}, True),
            ("v201", "Heartbeat", "response", {"currentTime": "2026-11-21T09:30:00-0000"}, True),
        ),
        kept_by_encoding=False,
        format_name="date-time",
        format_check=_date_time_colonless_offset,
    ),
    "date-time-beyond-datetime": SpecException(
        rule="a date-time must fit Python's datetime after rounding to the microsecond",
        reason=(
            "times are handed to handlers as datetime, which ends at 9999-12-31T23:59:59.999999; "
            "a fraction that rounds past it cannot be represented, so it is refused."
        ),
        spec=(
            "RFC 3339 allows any number of fraction digits but does not require a receiver to "
            "keep them; OCPP times are at most millisecond-precise in practice, and a year "
            "10000 instant is not an OCPP time."
        ),
        directions=frozenset({REJECTS_MORE}),
        examples=(
            (
                "v16",
                "Heartbeat",
                "response",
                {"currentTime": "9999-12-31T23:59:59.9999999Z"},
                False,
            ),
        ),
        kept_by_encoding=False,
        format_name="date-time",
        format_check=_date_time_within_datetime,
    ),
    "multiple-of-0.1-in-decimal": SpecException(
        rule=(
            "1.6 multipleOf 0.1 (ChargingSchedulePeriod.limit, ChargingSchedule.minChargingRate) "
            "means at most one fraction digit in the number's shortest decimal text"
        ),
        reason=(
            "jsonschema divides binary doubles: 1.2 / 0.1 == 11.999999999999998, so it rejects "
            "0.3, 0.7, 1.2 and thousands more one-decimal values, while "
            "0.7000000000000001 / 0.1 == 7.0, so it accepts that 16-decimal value. We check the "
            "decimal text, as the spec words it."
        ),
        spec=(
            "OCPP 1.6 7.13 ChargingSchedule.minChargingRate and 7.14 "
            "ChargingSchedulePeriod.limit: 'Accepts at most one digit fraction (e.g. 8.1)'; "
            "1.6 errata 3.70 keeps that sentence."
        ),
        directions=frozenset({ACCEPTS_MORE, REJECTS_MORE}),
        examples=(
            (
                "v16",
                "SetChargingProfile",
                "request",
                {
                    "connectorId": 1,
                    "csChargingProfiles": {
                        "chargingProfileId": 7,
                        "stackLevel": 0,
                        "chargingProfilePurpose": "TxDefaultProfile",
                        "chargingProfileKind": "Absolute",
                        "chargingSchedule": {
                            "chargingRateUnit": "A",
                            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 1.2}],
                            "minChargingRate": 0.3,
                        },
                    },
                },
                True,
            ),
            (
                "v16",
                "GetCompositeSchedule",
                "response",
                {
                    "status": "Accepted",
                    "chargingSchedule": {
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0.7000000000000001}],
                    },
                },
                False,
            ),
        ),
        kept_by_encoding=True,
        keyword_name="multipleOf",
        keyword=_one_fraction_digit,
    ),
    "number-beyond-a-double": SpecException(
        rule=(
            "a value of a `number` field (OCPP decimal) is a double: one beyond its range "
            "(about 1.8e308) is refused with FormatViolation"
        ),
        reason=(
            "msgspec decodes a `number` field into a float and refuses a literal that overflows "
            "it ('Number out of range'); jsonschema keeps Python's unbounded int. Integer and "
            "free-form fields keep Python ints of any size, and agree with jsonschema."
        ),
        spec=(
            "RFC 8259 6: 'This specification allows implementations to set limits on the range "
            "and precision of numbers accepted', and names IEEE 754 binary64 as the widely "
            "interoperable range; docs/validation.md: a number beyond a double is a "
            "FormatViolation."
        ),
        directions=frozenset({REJECTS_MORE}),
        examples=(
            (
                "v201",
                "CostUpdated",
                "request",
                {"totalCost": 10**400, "transactionId": "t1"},
                False,
            ),
            (
                "v21",
                "MeterValues",
                "request",
                {
                    "evseId": 1,
                    "meterValue": [
                        {
                            "timestamp": "2026-11-21T09:45:00Z",
                            "sampledValue": [{"value": -(10**309)}],
                        }
                    ],
                },
                False,
            ),
        ),
        kept_by_encoding=False,
        keyword_name="type",
        keyword=_number_is_a_double,
    ),
}
"""The disagreements with jsonschema that the spec decides, by name. Nothing else may differ."""

NORMALISATIONS = (
    "integral float in an integer field -> int",
    "number in a number field -> float",
    "date-time -> canonical RFC 3339, same instant and offset, rounded to the microsecond",
)
"""How a message we accept may differ from the input once re-encoded (see _differences)."""

EDGE_VALUES: dict[str, tuple[Any, ...]] = {
    "date-time": (
        "0000-01-01T00:00:00Z",  # year zero: no datetime holds it
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:30:00+01:00",  # in UTC, still year zero
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59.999999Z",
        "9999-12-31T23:59:59.9999999Z",  # rounds past year 9999
        "9999-12-31T23:00:00-01:00",  # in UTC, year 10000
        "2026-11-21T09:30:59.9999996Z",  # rounds up to the next minute
        "2026-11-21T09:30:00.1234565Z",  # a tie at the microsecond
        "2026-11-21T09:30:00.123456789012345678901Z",
        "2026-11-21T09:30:00.000000Z",
        "2026-11-21t09:30:00z",
        "2026-11-21T09:30:00-00:00",
        "2026-11-21T09:30:00+23:59",
        "2026-11-21T09:30:00+24:00",
        "2024-02-29T12:00:00Z",
        "2026-02-29T12:00:00Z",
        "2100-02-29T12:00:00Z",
        "2026-11-21T09:30Z",
        "2026-11-21T09:30:00.Z",
        "20261121T093000Z",
        "2026-11-21T09:30:00Z\n",
        " 2026-11-21T09:30:00Z",
        "2026-11-21 09:30:00+01:00",
        "\uff12026-11-21T09:30:00Z",  # a fullwidth digit
    ),
    "integer": (
        0,
        -0.0,
        7.0,
        1e-300,
        2**31,
        -(2**31) - 1,
        9007199254740992.0,  # 2**53, the last double with every integer below it
        9007199254740994.0,
        1e16,
        -1e16,
        1e300,
        2**63,
        2**64,
        -(2**63) - 1,
        10**30,
        10**400,
        True,
    ),
    "number": (
        0,
        -0.0,
        1.0,
        5e-324,
        1e300,
        -1e300,
        2**63 + 1,
        10**30,
        10**400,
        0.30000000000000004,
        0.7000000000000001,
        1.2,
        123456789.1,
        1e26,
        1e27,
        -1e27,
        True,
    ),
    "any": (None, True, "", {}, [], 2**64, -(2**63) - 1, 10**400, 1e300, {"a": [1, 2.5, None]}),
}
"""Values put in each field of the corpus, by the field's kind; validity is for jsonschema."""

# jsonschema 4.26 raises OverflowError for an integer beyond a double under a float multipleOf
# (it divides the integer by 0.1), so the 1.6 charging limits get the other number values only.
EDGE_VALUES["number with multipleOf"] = tuple(
    value for value in EDGE_VALUES["number"] if not (type(value) is int and value > 2**1024)
)

# Sized for the whole file (both backends) to take about a minute on a slow 2-core machine.
GENERATED_PER_SCHEMA = 5
CORPUS_MUTATIONS = 64  # per corpus example
GENERATED_MUTATIONS = 16  # per generated instance
EDGE_SHARES = 4  # a message's first field of a kind gets all EDGE_VALUES, the others 1/4
REPORTED = 12  # disagreements described per failing message

# --------------------------------------------------------------------------------------------
# The messages


def _messages() -> list[tuple[str, str, str]]:
    out = [(v, action, kind) for v in VERSIONS for action in actions(v) for kind in KINDS]
    out += [(v, action, "request") for v in VERSIONS for action in sends(v)]
    return out


MESSAGES = _messages()
IDS = [f"{OCPP[v]}-{action}-{kind}" for v, action, kind in MESSAGES]


@functools.cache
def _schema(version: str, action: str, kind: str) -> Schema:
    return load_schema(version, action, kind)  # shared, never modified


def _examples(version: str, action: str, kind: str) -> list[Any]:
    """The corpus examples of a message; fails the test if there are none."""
    examples = corpus(OCPP[version]).get(action, {}).get(kind)
    if not examples:
        pytest.fail(
            f"tests/messages/{version}.json has no {kind} example of {action}: every message "
            "must have at least one hand-written example"
        )
    return list(examples)


@functools.cache
def _validator(core: Backend, version: str) -> Any:
    return core.validator.Validator(OCPP[version])


def _payload(instance: Any) -> bytes:
    return json.dumps(instance, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Case:
    """One payload to compare, with jsonschema's verdict (computed once for both backends)."""

    label: str
    instance: Any
    payload: bytes
    reference: bool
    disputable: bool = True  # see _disputable; True when unknown


def _case(schema: Schema, label: str, instance: Any, numbers: bool) -> Case:
    """A Case; `numbers`: the schema has a multipleOf, so that any number is disputable."""
    return Case(
        label,
        instance,
        _payload(instance),
        reference_valid(schema, instance),
        _disputable(instance, numbers),
    )


def _generated(schema: Schema) -> list[Any]:
    """GENERATED_PER_SCHEMA valid instances from hypothesis, the same on every run."""
    found: list[Any] = []

    @settings(
        max_examples=GENERATED_PER_SCHEMA,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(instances(schema))
    def collect(instance: Any) -> None:
        found.append(instance)

    collect()
    return found


@functools.cache
def _cases(version: str, action: str, kind: str) -> tuple[Case, ...]:
    """Corpus examples, generated instances and their mutations."""
    schema = _schema(version, action, kind)
    numbers = _has_multiple_of(version, action, kind)
    cases = []
    for i, example in enumerate(_examples(version, action, kind)):
        cases.append(_case(schema, f"corpus[{i}]", example, numbers))
        for description, mutated in mutations(schema, example, CORPUS_MUTATIONS):
            cases.append(_case(schema, f"corpus[{i}] with {description}", mutated, numbers))
    for i, instance in enumerate(_generated(schema)):
        cases.append(_case(schema, f"generated[{i}]", instance, numbers))
        for description, mutated in mutations(schema, instance, GENERATED_MUTATIONS):
            cases.append(_case(schema, f"generated[{i}] with {description}", mutated, numbers))
    return tuple(cases)


def _sites(
    root: Schema, schema: Schema, value: Any, path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str, int]]:
    """(path, kind, field) of each date-time, integer, number and free-form value in `value`.

    `field` identifies the field's schema (the property in its definition), so that a
    definition reached by several paths counts once."""
    field = id(schema)
    schema = resolve(root, schema)
    types = schema_types(schema)
    if schema.get("format") == "date-time":
        yield path, "date-time", field
    elif not types:
        yield path, "any", field
    elif type(value) is dict and "object" in types:
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                yield from _sites(root, sub, value[key], (*path, key))
        if schema.get("additionalProperties", True) is True:  # customData's vendor properties
            yield (*path, "edgeVendorField"), "any", id(schema)
    elif type(value) is list and "array" in types:
        for index, item in enumerate(value):
            yield from _sites(root, schema.get("items", {}), item, (*path, index))
    elif type(value) in (int, float):
        if "number" not in types:
            yield path, "integer", field
        else:
            yield path, "number with multipleOf" if "multipleOf" in schema else "number", field


def _replaced(instance: Any, path: tuple[str | int, ...], value: Any) -> Any:
    root = json.loads(json.dumps(instance))
    parent = root
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return root


@functools.cache
def _edge_cases(version: str, action: str, kind: str) -> tuple[Case, ...]:
    """EDGE_VALUES in the fields of the corpus, each field at its first place in the first
    example that has it: all values of its kind in the first field, a share in the others."""
    schema = _schema(version, action, kind)
    numbers = _has_multiple_of(version, action, kind)
    first: dict[tuple[int, str], tuple[int, tuple[str | int, ...]]] = {}
    examples = _examples(version, action, kind)
    for i, example in enumerate(examples):
        for path, field_kind, field in _sites(schema, schema, example, ()):
            first.setdefault((field, field_kind), (i, path))
    cases = []
    seen: dict[str, int] = {}
    for (_field, field_kind), (i, path) in first.items():
        # The first field of each kind gets every value, each further one a share in turn.
        n = seen[field_kind] = seen.get(field_kind, -1) + 1
        values = EDGE_VALUES[field_kind]
        if n:
            values = values[(n - 1) % EDGE_SHARES :: EDGE_SHARES]
        for value in values:
            mutated = _replaced(examples[i], path, value)
            text = repr(value) if len(repr(value)) < 40 else repr(value)[:37] + "..."
            label = f"corpus[{i}] with {format_path(path)} = {text}"
            cases.append(_case(schema, label, mutated, numbers))
    return tuple(cases)


# --------------------------------------------------------------------------------------------
# The spec's reading of jsonschema


_ADJUSTED: dict[tuple[int, tuple[str, ...]], tuple[Schema, Any]] = {}


def adjusted_validator(schema: Schema, names: tuple[str, ...]) -> Any:
    """jsonschema's validator for `schema` with the rules of SPEC_EXCEPTIONS `names` read the
    spec's way; with no names, the plain reference."""
    key = (id(schema), names)
    cached = _ADJUSTED.get(key)
    if cached is not None and cached[0] is schema:
        return cached[1]
    cls = jsonschema.validators.validator_for(schema)
    checker = jsonschema.FormatChecker(formats=())
    checker.checkers = dict(cls.FORMAT_CHECKER.checkers)
    keywords: dict[str, Any] = {}
    for name in names:
        exception = SPEC_EXCEPTIONS[name]
        if exception.format_check is not None:
            original_check, raises = checker.checkers[exception.format_name]
            checker.checkers[exception.format_name] = (
                functools.partial(exception.format_check, original_check),
                raises,
            )
        if exception.keyword is not None:
            original = keywords.get(exception.keyword_name, cls.VALIDATORS[exception.keyword_name])
            keywords[exception.keyword_name] = functools.partial(exception.keyword, original)
    if keywords:
        cls = jsonschema.validators.extend(cls, keywords)
    validator = cls(schema, format_checker=checker)
    _ADJUSTED[key] = (schema, validator)
    return validator


_SPEC_VALID: dict[tuple[int, bytes], tuple[Schema, bool]] = {}


def _spec_valid(schema: Schema, case: Case) -> bool:
    """jsonschema's verdict with every rule of SPEC_EXCEPTIONS read the spec's way, computed
    once for both backends."""
    if not case.disputable:
        return case.reference
    key = (id(schema), case.payload)
    cached = _SPEC_VALID.get(key)
    if cached is None or cached[0] is not schema:
        valid = adjusted_validator(schema, tuple(SPEC_EXCEPTIONS)).is_valid(case.instance)
        cached = _SPEC_VALID[key] = (schema, bool(valid))
    return cached[1]


@functools.cache
def _has_multiple_of(version: str, action: str, kind: str) -> bool:
    return "multipleOf" in json.dumps(_schema(version, action, kind))


def _disputable(value: Any, numbers: bool) -> bool:
    """Whether `value` holds anything a SPEC_EXCEPTIONS rule reads differently: a string with a
    space at index 10 or a final newline, an integer beyond a double, or (`numbers`) any number
    at all. A cheap, conservative test: without any, the spec's reading is jsonschema's."""
    kind = type(value)
    if kind is str:
        return value.endswith("\n") or (len(value) > 10 and value[10] == " ")
    if kind is int:
        return numbers or value > 2**1023 or value < -(2**1023)
    if kind is float:
        return numbers
    if kind is dict:
        return any(_disputable(item, numbers) for item in value.values())
    if kind is list:
        return any(_disputable(item, numbers) for item in value)
    return False


_EXPLAINED: dict[tuple[int, bytes, bool], tuple[Schema, tuple[tuple[str, ...], str]]] = {}


def _explained(schema: Schema, case: Case, ours: bool) -> tuple[tuple[str, ...], str]:
    """_explain, computed once for both backends."""
    key = (id(schema), case.payload, ours)
    cached = _EXPLAINED.get(key)
    if cached is None or cached[0] is not schema:
        cached = _EXPLAINED[key] = (schema, _explain(schema, case.instance, ours))
    return cached[1]


def _explain(schema: Schema, instance: Any, ours: bool) -> tuple[tuple[str, ...], str]:
    """The SPEC_EXCEPTIONS that account for our verdict `ours` differing from jsonschema's on
    `instance`, or ((), why not)."""
    plain = reference_errors(schema, instance)
    direction = ACCEPTS_MORE if ours else REJECTS_MORE
    candidates = [(name,) for name in SPEC_EXCEPTIONS] + [tuple(SPEC_EXCEPTIONS)]
    for names in candidates:
        adjusted = list(adjusted_validator(schema, names).iter_errors(instance))
        if (not adjusted) != ours:
            continue
        exceptions = [SPEC_EXCEPTIONS[name] for name in names]
        if not any(direction in e.directions for e in exceptions):
            return (), f"{names} never makes us {direction.split(',')[0][3:]}"
        # Precisely those rules: the errors of one reading and not of the other are theirs.
        separating = plain if ours else adjusted
        stray = [e for e in separating if not any(x.explains(e) for x in exceptions)]
        if stray:
            return (), f"{names} reaches our verdict, but also differs on {stray[0].message}"
        return names, ""
    why = "; ".join(f"{e.validator} at {format_path(tuple(e.path))}: {e.message}" for e in plain)
    return (), f"no documented exception explains it (jsonschema: {why or 'valid'})"


# --------------------------------------------------------------------------------------------
# Normalisations


# What we accept (SPEC_EXCEPTIONS: a space for 'T', an offset without its colon).
_DATE_TIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:[Zz]|([+-])(\d\d):?(\d\d))",
    re.ASCII,
)
_CANONICAL_DATE_TIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{6}))?(?:Z|([+-])(\d\d):(\d\d))",
    re.ASCII,
)


def _read_date_time(
    match: re.Match[str],
) -> tuple[datetime.datetime, datetime.timedelta, Fraction]:
    """(local date and time to the second, UTC offset, fraction of a second) of a match of
    _DATE_TIME or _CANONICAL_DATE_TIME. Parsed by hand: datetime.fromisoformat reads `Z` only
    from Python 3.11 on."""
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    local = datetime.datetime(year, month, day, hour, minute, second)
    offset = datetime.timedelta(0)
    if match.group(8):
        offset = datetime.timedelta(hours=int(match.group(9)), minutes=int(match.group(10)))
        offset = -offset if match.group(8) == "-" else offset
    digits = match.group(7) or ""
    return local, offset, Fraction(int(digits or "0"), 10 ** len(digits))


def _date_time_difference(given: str, got: Any) -> str:
    """Why `got` (our re-encoded date-time) is not the instant `given`, or ''."""
    match = _DATE_TIME.fullmatch(given)
    if match is None:
        return f"we accepted {given!r}, which is no RFC 3339 date-time"
    canonical = _CANONICAL_DATE_TIME.fullmatch(got) if type(got) is str else None
    if canonical is None:
        return f"{given!r} came back as {got!r}, not in canonical RFC 3339 form"
    local, offset, fraction = _read_date_time(match)
    back, back_offset, back_fraction = _read_date_time(canonical)
    if back_offset != offset:
        return f"{given!r} came back as {got!r}: UTC offset changed"
    microseconds = math.floor(fraction * 10**6 + Fraction(1, 2))  # rounded half up
    moved = back - local + datetime.timedelta(microseconds=int(back_fraction * 10**6))
    if moved != datetime.timedelta(microseconds=microseconds):
        return f"{given!r} came back as {got!r}: another instant"
    return ""


def _strictly_equal(given: Any, got: Any) -> bool:
    """Equal as JSON values: same types all the way down (1 is not 1.0, nor True)."""
    if type(given) is not type(got):
        return False
    if type(given) is dict:
        return given.keys() == got.keys() and all(
            _strictly_equal(item, got[key]) for key, item in given.items()
        )
    if type(given) is list:
        return len(given) == len(got) and all(map(_strictly_equal, given, got))
    return bool(given == got)


def _differences(
    root: Schema, schema: Any, given: Any, got: Any, path: tuple[str | int, ...] = ()
) -> Iterator[str]:
    """How our re-encoded `got` differs from the accepted input `given`, beyond
    NORMALISATIONS."""
    where = format_path(path)
    if schema is True or schema == {}:  # free-form: kept exactly
        if not _strictly_equal(given, got):
            yield f"{where}: {given!r} came back as {got!r}"
        return
    schema = resolve(root, schema)
    types = schema_types(schema)
    if not types:
        yield from _differences(root, True, given, got, path)
    elif type(given) is str and schema.get("format") == "date-time":
        difference = _date_time_difference(given, got)
        if difference:
            yield f"{where}: {difference}"
    elif type(given) in (int, float) and "number" in types:
        if type(got) is not float or got != float(given):
            yield f"{where}: number {given!r} came back as {got!r}"
    elif type(given) in (int, float) and "integer" in types:
        if type(got) is not int or got != given:
            yield f"{where}: integer {given!r} came back as {got!r}"
    elif type(given) is dict and type(got) is dict:
        if given.keys() != got.keys():
            yield f"{where}: fields {sorted(given)} came back as {sorted(got)}"
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in given.items():
            if key in got:
                sub = properties.get(key, extra)
                yield from _differences(root, sub, item, got[key], (*path, key))
    elif type(given) is list and type(got) is list:
        if len(given) != len(got):
            yield f"{where}: {len(given)} items came back as {len(got)}"
        for index, (item, back) in enumerate(zip(given, got, strict=False)):
            yield from _differences(root, schema.get("items", {}), item, back, (*path, index))
    elif not _strictly_equal(given, got):
        yield f"{where}: {given!r} came back as {got!r}"


# --------------------------------------------------------------------------------------------
# The comparison


def _decode(validator: Any, action: str, kind: str, payload: bytes) -> tuple[bool | None, Any]:
    """(True, message), (False, OCPPError) or (None, anything else raised)."""
    decode = validator.decode_request if kind == "request" else validator.decode_response
    try:
        return True, decode(action, payload)
    except OCPPError as error:
        return False, error
    except Exception as error:  # reported as a crash
        return None, error


def _verdict(ok: bool) -> str:
    return "accept" if ok else "reject"


_OUTPUT_ERRORS: dict[tuple[int, tuple[str, ...], bytes], tuple[Schema, str]] = {}


def _output_error(schema: Schema, kept: tuple[str, ...], encoded: bytes, back: Any) -> str:
    """jsonschema's first error (with the `kept` rules read the spec's way) for our re-encoded
    message, or ''; computed once for both backends, which encode alike."""
    key = (id(schema), kept, encoded)
    cached = _OUTPUT_ERRORS.get(key)
    if cached is None or cached[0] is not schema:
        errors = adjusted_validator(schema, kept).iter_errors(back)
        cached = _OUTPUT_ERRORS[key] = (schema, next((e.message for e in errors), ""))
    return cached[1]


def compare(core: Backend, version: str, action: str, kind: str, case: Case) -> str:
    """Why our validator and jsonschema disagree on `case`, or '' when they do not."""
    schema = _schema(version, action, kind)
    ok, result = _decode(_validator(core, version), action, kind, case.payload)

    def head() -> str:
        return (
            f"{OCPP[version]} {action} {kind} [{case.label}]\n    payload {case.payload[:400]!r}\n"
        )

    if ok is None:
        return f"{head()}    we crash with {result!r}, not an OCPPError"

    def ours() -> str:
        return _verdict(bool(ok)) + ("" if ok else f" ({result!r})")

    names: tuple[str, ...] = ()
    if ok != case.reference:
        names, why = _explained(schema, case, ok)
        if not names:
            return f"{head()}    we {ours()}, jsonschema {_verdict(case.reference)}s: {why}"
    elif _spec_valid(schema, case) != ok:
        # Agreeing with plain jsonschema where the spec's reading differs hides a fault.
        return (
            f"{head()}    we {ours()}, as jsonschema does, but jsonschema with the rules of "
            f"SPEC_EXCEPTIONS read the spec's way would {_verdict(not ok)}"
        )
    if not ok:
        return ""  # both reject, with an OCPPError (else _decode said None)
    kept = tuple(name for name in names if SPEC_EXCEPTIONS[name].kept_by_encoding)
    encoded = msgspec.json.encode(result)
    back = json.loads(encoded)
    # The same JSON value as the input is as valid as the input: no need to ask again.
    if kept or not (case.reference and _strictly_equal(case.instance, back)):
        error = _output_error(schema, kept, encoded, back)
        if error:
            return f"{head()}    re-encoded {encoded[:400]!r} is invalid: {error}"
    differences = list(_differences(schema, schema, case.instance, back))
    if differences:
        return f"{head()}    re-encoded {encoded[:400]!r} differs: " + "; ".join(differences[:4])
    return ""


def _assert_agree(
    core: Backend, version: str, action: str, kind: str, cases: tuple[Case, ...]
) -> None:
    problems = [p for p in (compare(core, version, action, kind, case) for case in cases) if p]
    assert not problems, (
        f"{len(problems)} of {len(cases)} payloads disagree:\n"
        + "\n".join(problems[:REPORTED])
        + ("\n..." if len(problems) > REPORTED else "")
    )


# --------------------------------------------------------------------------------------------
# Tests


def test_every_message_is_compared() -> None:
    """Every request, response and SEND type of every version has its schema in MESSAGES."""
    import ocppfast.v16
    import ocppfast.v21
    import ocppfast.v201

    modules = {"v16": ocppfast.v16, "v201": ocppfast.v201, "v21": ocppfast.v21}
    for version, module in modules.items():
        requests = {action for v, action, kind in MESSAGES if v == version and kind == "request"}
        responses = {action for v, action, kind in MESSAGES if v == version and kind == "response"}
        assert requests == set(module.REQUESTS), version
        assert responses == set(module.RESPONSES), version
    assert len(MESSAGES) == 2 * 39 + 2 * 64 + 2 * 90 + 1


@pytest.mark.parametrize(("version", "action", "kind"), MESSAGES, ids=IDS)
def test_agrees_with_jsonschema(core: Backend, version: str, action: str, kind: str) -> None:
    """Corpus examples, generated instances and their mutations: the same verdict as
    jsonschema, but for SPEC_EXCEPTIONS, and accepted ones re-encode to themselves."""
    _assert_agree(core, version, action, kind, _cases(version, action, kind))


@pytest.mark.parametrize(("version", "action", "kind"), MESSAGES, ids=IDS)
def test_edge_values_agree_with_jsonschema(
    core: Backend, version: str, action: str, kind: str
) -> None:
    """EDGE_VALUES in every date-time, integer, number and free-form field of the corpus."""
    _assert_agree(core, version, action, kind, _edge_cases(version, action, kind))


SPEC_EXAMPLES = [
    (name, index)
    for name, exception in SPEC_EXCEPTIONS.items()
    for index in range(len(exception.examples))
]


@pytest.mark.parametrize(
    ("name", "index"), SPEC_EXAMPLES, ids=[f"{n}-{i}" for n, i in SPEC_EXAMPLES]
)
def test_spec_exception_is_real(core: Backend, name: str, index: int) -> None:
    """Each documented exception happens: plain jsonschema disagrees with us on its example,
    in a documented direction, and jsonschema with that one rule read the spec's way agrees."""
    exception = SPEC_EXCEPTIONS[name]
    version, action, kind, payload, ours = exception.examples[index]
    schema = _schema(version, action, kind)
    assert reference_valid(schema, payload) is not ours, "plain jsonschema agrees: not needed"
    direction = ACCEPTS_MORE if ours else REJECTS_MORE
    assert direction in exception.directions
    assert _explain(schema, payload, ours) == ((name,), "")
    ok, result = _decode(_validator(core, version), action, kind, _payload(payload))
    assert ok is ours, result
    if not ok:
        assert isinstance(result, OCPPError)
    problem = compare(
        core, version, action, kind, Case("example", payload, _payload(payload), not ours)
    )
    assert problem == ""
