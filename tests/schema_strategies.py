"""Hypothesis strategies, mutations and a reference validator driven by the official OCPP schemas.

The OCPP JSON schemas (1.6: draft-04, a few draft-06; 2.0.1 and 2.1: draft-06) use a small set of
keywords: type, properties, required, additionalProperties, enum, maxLength, minItems, maxItems,
items, minimum, maximum, multipleOf, format and $ref into the root schema's definitions. This
module turns such a schema into:

- `instances(schema)`: a Hypothesis strategy for JSON-compatible values valid against it;
- `mutations(schema, instance)`: interesting near-misses of a valid instance (mostly invalid, but
  validity is for `reference_errors` to decide: jsonschema is the reference of the differential
  tests);
- `reference_errors(schema, instance)`: jsonschema's verdict, with its format checker on.

`load_schema(version, action, kind)`, `actions(version)` and `sends(version)` find the schema
files.

Keywords this module does not understand (pattern, oneOf, const, ...) raise NotImplementedError
instead of being silently ignored, so that a future schema cannot make the strategies generate
values that only look valid.
"""

from __future__ import annotations

import calendar
import functools
import json
import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema.validators
from hypothesis import strategies as st

from ocppfast.schemas import generate

Schema = dict[str, Any]
JsonPath = tuple[str | int, ...]

VERSIONS = ("v16", "v201", "v21")
KINDS = ("request", "response")
_VERSION_ALIASES = {
    "v16": "v16",
    "1.6": "v16",
    "ocpp1.6": "v16",
    "v201": "v201",
    "2.0.1": "v201",
    "ocpp2.0.1": "v201",
    "v21": "v21",
    "2.1": "v21",
    "ocpp2.1": "v21",
}

# Keywords that only annotate: ignored by generation and by mutations.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "id", "title", "description", "comment", "$comment", "javaType", "default"}
)
_UNDERSTOOD = _ANNOTATIONS | {
    "$ref",
    "definitions",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "maxLength",
    "minLength",
    "minItems",
    "maxItems",
    "items",
    "additionalItems",  # only meaningful with a list-form "items", which the schemas never use
    "minimum",
    "maximum",
    "multipleOf",
    "format",
}

# Size limits, so that generation stays fast for the deeply nested 2.1 schemas.
_UNBOUNDED_STRING = 24  # longest string drawn char by char
_ARRAY_CAP_BY_DEPTH = (4, 3, 2, 1)  # largest array drawn at a given object depth
_OPTIONAL_DEPTH = 5  # beyond this object depth, optional properties are left out
_INT64 = (-(2**63), 2**63 - 1)


# --------------------------------------------------------------------------------------------
# Locating and loading schemas


def _version(version: str) -> str:
    try:
        return _VERSION_ALIASES[version]
    except KeyError:
        raise ValueError(f"unknown OCPP version {version!r}; expected one of {VERSIONS}") from None


@functools.cache
def _stems(version: str) -> dict[str, tuple[str, str | None]]:
    """{action: (request schema stem, response schema stem or None)}, as the generator reads
    the packaged schemas (ocppfast/schemas/json)."""
    return {action: (request, response) for action, request, response in generate.actions(version)}


@functools.cache
def _schema_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def load_schema(version: str, action: str, kind: str) -> Schema:
    """The parsed schema of `action`'s request or response in `version` (a fresh dict each call).

    version is "v16", "v201" or "v21" (or "ocpp1.6", "ocpp2.0.1", "ocpp2.1"); kind is
    "request" or "response".
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be 'request' or 'response', not {kind!r}")
    version = _version(version)
    request, response = _stems(version)[action]
    stem = request if kind == "request" else response
    if stem is None:
        raise ValueError(f"{action} is a SEND: it has no response schema")
    schema: Schema = json.loads(_schema_text(generate.SCHEMA_DIR / version / f"{stem}.json"))
    return schema


def actions(version: str) -> list[str]:
    """Every action of `version` that has both a request and a response schema, sorted."""
    return sorted(a for a, (_, response) in _stems(_version(version)).items() if response)


def sends(version: str) -> list[str]:
    """The SEND messages of `version` (J21 4.2.4: only 2.1's NotifyPeriodicEventStream), sorted.
    A SEND has one schema and no response; `load_schema(version, action, "request")` loads it."""
    return sorted(a for a, (_, response) in _stems(_version(version)).items() if not response)


# --------------------------------------------------------------------------------------------
# The reference validator


_VALIDATORS: dict[int, tuple[Schema, Any]] = {}


def reference_validator(schema: Schema) -> Any:
    """jsonschema's validator for `schema` (draft from its $schema), checking formats."""
    cached = _VALIDATORS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    if len(_VALIDATORS) > 4096:
        _VALIDATORS.clear()
    _VALIDATORS[id(schema)] = (schema, validator)  # holding the schema keeps its id unique
    return validator


def reference_valid(schema: Schema, instance: Any) -> bool:
    """jsonschema's verdict alone; faster than reference_errors as it stops at the first error."""
    return bool(reference_validator(schema).is_valid(instance))


def reference_errors(schema: Schema, instance: Any) -> list[jsonschema.ValidationError]:
    """All of jsonschema's errors for `instance` against `schema`: empty if and only if valid."""
    return list(reference_validator(schema).iter_errors(instance))


# --------------------------------------------------------------------------------------------
# Schema helpers


def _resolve(root: Schema, schema: Schema) -> Schema:
    """`schema` with $refs into `root` followed."""
    seen = 0
    while "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#"):
            raise NotImplementedError(f"only local $refs are supported, not {ref!r}")
        target: Any = root
        for part in ref[1:].split("/")[1:]:
            target = target[part.replace("~1", "/").replace("~0", "~")]
        schema = target
        seen += 1
        if seen > 64:
            raise ValueError(f"$ref loop at {ref!r}")
    _check_keywords(schema)
    return schema


def resolve(root: Schema, schema: Schema) -> Schema:
    """`schema` (a part of the root schema `root`) with its $refs followed."""
    return _resolve(root, schema)


def schema_types(schema: Schema) -> list[str]:
    """The JSON types a resolved schema allows ("number" does not include "integer" here); an
    empty list means any JSON value."""
    return _types(schema)


def _check_keywords(schema: Schema) -> None:
    unknown = set(schema) - _UNDERSTOOD
    if unknown:
        raise NotImplementedError(f"schema keywords not supported: {sorted(unknown)}")
    if isinstance(schema.get("items"), list):
        raise NotImplementedError("list-form 'items' is not supported")


def _types(schema: Schema) -> list[str]:
    """The JSON types a (resolved) schema allows; an empty list means any."""
    declared = schema.get("type")
    if declared is None:
        if "properties" in schema or "required" in schema:
            return ["object"]
        return []
    return [declared] if isinstance(declared, str) else list(declared)


# --------------------------------------------------------------------------------------------
# Generation


_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
# Characters that tend to find bugs: JSON escapes, controls, BOM, line separators, non-ASCII in
# one, two, three and four UTF-8 bytes, combining marks, astral (surrogate pairs in UTF-16).
_SPECIAL = (
    '"\\/\b\f\n\r\t\x00\x1f\x7f\x80\u00e9\u00fc\u00df\u0301\u20ac\u2028\u2029\u4e2d\ufeff\ufffd'
    "\U0001f600\U0001f1e9\U0001d11e\U0010fffd"
)
_MIXED = st.one_of(_ASCII, st.sampled_from(_SPECIAL), st.characters(codec="utf-8"))


def _strings(max_length: int | None, min_length: int = 0) -> st.SearchStrategy[str]:
    """Strings of min_length..max_length code points, ASCII or varied unicode."""
    if max_length is not None and max_length < min_length:
        return st.nothing()
    cap = _UNBOUNDED_STRING if max_length is None else min(max_length, _UNBOUNDED_STRING)
    cap = max(cap, min_length)
    drawn = st.one_of(
        st.text(_ASCII, min_size=min_length, max_size=cap),
        st.text(_MIXED, min_size=min_length, max_size=cap),
    )
    if max_length is None or max_length == 0:
        return drawn
    # Exactly max_length code points, built cheaply by repeating a short unicode seed.
    at_limit = st.text(_MIXED, min_size=1, max_size=4).map(
        lambda seed: (seed * (max_length // len(seed) + 1))[:max_length]
    )
    return st.one_of(drawn, at_limit)


_FRACTIONS = st.one_of(
    st.just(""),
    st.integers(1, 9)
    .flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n))
    .map(lambda digits: "." + digits),
)
_OFFSETS = st.one_of(
    st.just("Z"),
    st.builds(
        lambda sign, hours, minutes: f"{sign}{hours:02d}:{minutes:02d}",
        st.sampled_from("+-"),
        st.integers(0, 23),
        st.integers(0, 59),
    ),
)


@st.composite
def date_times(draw: st.DrawFn) -> str:
    """RFC 3339 date-times: Z or +hh:mm/-hh:mm, with or without 1-9 fraction digits."""
    year = draw(st.one_of(st.integers(1970, 2099), st.integers(1, 9999)))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, calendar.monthrange(year, month)[1]))
    hour = draw(st.integers(0, 23))
    minute = draw(st.integers(0, 59))
    second = draw(st.integers(0, 59))
    fraction = draw(_FRACTIONS)
    offset = draw(_OFFSETS)
    return (
        f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}{offset}"
    )


def _uris(max_length: int | None) -> st.SearchStrategy[str]:
    uris = st.builds(
        lambda scheme, host, path: f"{scheme}://{host}/{path}",
        st.sampled_from(["https", "http", "ftp", "sftp"]),
        st.sampled_from(["example.com", "192.0.2.1", "[2001:db8::1]:8443", "fw.example.org"]),
        st.text("abcdefghijklmnopqrstuvwxyz0123456789-._~%/", max_size=16),
    )
    if max_length is not None:
        uris = uris.filter(lambda uri: len(uri) <= max_length)
    return uris


def is_multiple_of(value: int | float, divisor: int | float) -> bool:
    """Whether `value` is a multiple of `divisor` both in decimal and by jsonschema's float test.

    jsonschema divides in binary floating point (0.3 / 0.1 == 2.9999999999999996 is rejected)
    while a decimal reading (Decimal("0.3") % Decimal("0.1") == 0) accepts; generated values
    satisfy both, so that no validator can disagree on them.
    """
    if Decimal(repr(value)) % Decimal(repr(divisor)) != 0:
        return False
    if isinstance(divisor, float):
        quotient = value / divisor
        try:
            return int(quotient) == quotient
        except OverflowError:
            return (Fraction(value) / Fraction(divisor)).denominator == 1
    return value % divisor == 0


def _integer_bounds(schema: Schema) -> tuple[int, int]:
    low, high = _INT64
    if "minimum" in schema:
        low = max(low, math.ceil(schema["minimum"]))
    if "maximum" in schema:
        high = min(high, math.floor(schema["maximum"]))
    return low, high


def _favour_small(low: int, high: int) -> st.SearchStrategy[int]:
    """Integers in [low, high], often small."""
    small_low, small_high = max(low, -1000), min(high, 1000)
    if small_low <= small_high:
        return st.one_of(st.integers(small_low, small_high), st.integers(low, high))
    return st.integers(low, high)


def _integers(schema: Schema) -> st.SearchStrategy[int]:
    low, high = _integer_bounds(schema)
    if low > high:
        return st.nothing()
    divisor = schema.get("multipleOf")
    if divisor is None:
        return _favour_small(low, high)
    if not (isinstance(divisor, int) or float(divisor).is_integer()):
        return _multiples(schema, integral_only=True)
    divisor = int(divisor)
    k_low, k_high = -(-low // divisor), high // divisor
    if k_low > k_high:
        return st.nothing()
    return _favour_small(k_low, k_high).map(lambda k: k * divisor)


def _multiples(schema: Schema, integral_only: bool = False) -> st.SearchStrategy[int | float]:
    """Multiples of a non-integral multipleOf (0.1 in OCPP 1.6) within the bounds.

    Values have as many decimals as the divisor, are multiples both in decimal and by
    jsonschema's float division, and integral values come as int or float.
    """
    divisor = schema["multipleOf"]
    step = Decimal(repr(divisor))
    low = Decimal(repr(schema.get("minimum", -(10**9))))
    high = Decimal(repr(schema.get("maximum", 10**9)))
    k_low = math.ceil(low / step)
    k_high = math.floor(high / step)
    if k_low > k_high:
        return st.nothing()

    def value(k: int, as_float: bool) -> int | float:
        exact = k * step
        if exact == exact.to_integral_value():
            return float(exact) if as_float else int(exact)
        return float(str(exact))

    def nearest(drawn: tuple[int, bool]) -> int | float:
        k, as_float = drawn
        for delta in range(64):
            for candidate in (k + delta, k - delta):
                if not k_low <= candidate <= k_high:
                    continue
                number = value(candidate, as_float)
                if integral_only and not float(number).is_integer():
                    continue
                if is_multiple_of(number, divisor):
                    return number
        raise ValueError(f"no multiple of {divisor} near {k * step}")

    return st.tuples(_favour_small(k_low, k_high), st.booleans()).map(nearest)


def _numbers(schema: Schema) -> st.SearchStrategy[int | float]:
    if "multipleOf" in schema:
        return _multiples(schema)
    low = schema.get("minimum")
    high = schema.get("maximum")
    floats = st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)
    # Short decimals ("12.5"), as a meter or a charging rate would have them.
    k_low = -(10**6) if low is None else max(-(10**6), math.ceil(Decimal(repr(low)) * 10))
    k_high = 10**6 if high is None else min(10**6, math.floor(Decimal(repr(high)) * 10))
    decimals = st.integers(k_low, k_high).map(lambda k: k / 10) if k_low <= k_high else st.nothing()
    return st.one_of(_integers(schema), decimals, floats)


_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    _strings(None),
)
_ANY_JSON = st.recursive(
    _JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(_strings(12), children, max_size=3)
    ),
    max_leaves=6,
)


class _Generator:
    """Compiles the subschemas of one root schema into strategies, memoised per depth."""

    def __init__(self, root: Schema) -> None:
        self.root = root
        self.memo: dict[tuple[int, int], st.SearchStrategy[Any]] = {}

    def strategy(self, schema: Schema, depth: int) -> st.SearchStrategy[Any]:
        resolved = _resolve(self.root, schema)
        key = (id(resolved), min(depth, _OPTIONAL_DEPTH + 1))
        strategy = self.memo.get(key)
        if strategy is None:
            strategy = self._compile(resolved, depth)
            self.memo[key] = strategy
        return strategy

    def _compile(self, schema: Schema, depth: int) -> st.SearchStrategy[Any]:
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        types = _types(schema)
        if not types:
            return _ANY_JSON
        return st.one_of(*(self._compile_type(schema, name, depth) for name in types))

    def _compile_type(self, schema: Schema, name: str, depth: int) -> st.SearchStrategy[Any]:
        if name == "object":
            return self._object(schema, depth)
        if name == "array":
            return self._array(schema, depth)
        if name == "string":
            max_length = schema.get("maxLength")
            fmt = schema.get("format")
            if fmt == "date-time":
                strings = date_times()
                if max_length is not None:
                    strings = strings.filter(lambda s: len(s) <= max_length)
                return strings
            if fmt == "uri":
                return _uris(max_length)
            return _strings(max_length, schema.get("minLength", 0))
        if name == "integer":
            return _integers(schema)
        if name == "number":
            return _numbers(schema)
        if name == "boolean":
            return st.booleans()
        if name == "null":
            return st.none()
        raise NotImplementedError(f"type {name!r} is not supported")

    def _object(self, schema: Schema, depth: int) -> st.SearchStrategy[dict[str, Any]]:
        properties: dict[str, Schema] = schema.get("properties", {})
        required = list(schema.get("required", []))
        mandatory = {
            name: self.strategy(properties[name], depth + 1) if name in properties else _ANY_JSON
            for name in required
        }
        optional = {}
        if depth < _OPTIONAL_DEPTH:
            optional = {
                name: self.strategy(sub, depth + 1)
                for name, sub in properties.items()
                if name not in mandatory
            }
        fixed = st.fixed_dictionaries(mandatory, optional=optional)
        extra = schema.get("additionalProperties", True)
        if extra is False:
            return fixed
        # Objects open to extension (2.x CustomDataType): sometimes add vendor fields.
        values = _ANY_JSON if extra is True else self.strategy(extra, depth + 1)
        vendor = st.dictionaries(
            _strings(16).filter(lambda key: key not in properties), values, max_size=3
        )
        return st.tuples(fixed, vendor).map(lambda parts: {**parts[0], **parts[1]})

    def _array(self, schema: Schema, depth: int) -> st.SearchStrategy[list[Any]]:
        items = schema.get("items", {})
        min_items = schema.get("minItems", 0)
        cap = _ARRAY_CAP_BY_DEPTH[min(depth, len(_ARRAY_CAP_BY_DEPTH) - 1)]
        max_items = max(min_items, min(schema.get("maxItems", cap), cap))
        if "maxItems" in schema and schema["maxItems"] < min_items:
            return st.nothing()
        return st.lists(self.strategy(items, depth), min_size=min_items, max_size=max_items)


def instances(schema: Schema) -> st.SearchStrategy[Any]:
    """JSON-compatible values valid against the root `schema` ($refs resolved in it).

    Optional properties come and go at random; strings respect maxLength in code points and mix
    ASCII with non-ASCII and astral characters; date-times are RFC 3339 (Z or numeric offsets,
    0-9 fraction digits); numbers respect their bounds, are ints or floats, never NaN or
    infinite, and multiples of 0.1 have one decimal and pass both decimal and float division
    tests. Arrays hold at most 4 items (fewer when nested), and optional properties are left out
    below a nesting depth, so that even the 2.1 schemas generate quickly.
    """
    return _Generator(schema).strategy(schema, 0)


# --------------------------------------------------------------------------------------------
# Mutations

MUTATION_KINDS = (
    "wrong type",
    "integer as float",
    "missing required",
    "unknown field",
    "bad enum",
    "too long",
    "at max length",
    "below minimum",
    "above maximum",
    "at bound",
    "too few items",
    "too many items",
    "null optional",
    "null required",
    "bad date-time",
    "not multiple",
    "float multiple",
)
"""The kinds of mutation; a description starts with its kind followed by " at "."""

# Kinds that keep the instance valid by construction: boundary values, meant to catch a
# validator that rejects too much.
VALID_KINDS = frozenset({"at max length", "at bound"})

_WRONG_TYPES: dict[str, tuple[Any, ...]] = {
    "string": (123,),
    "integer": ("1", 1.5),
    "number": ("1.0",),
    "boolean": ("true", 1),
    "object": ([],),
    "array": ({},),
    "null": (0,),
}

BAD_DATE_TIMES = (
    ("no timezone", "2026-11-21T09:30:00"),
    ("space separator", "2026-11-21 09:30:00Z"),
    ("lowercase", "2026-11-21t09:30:00z"),
    ("date only", "2026-11-21"),
    ("invalid day", "2026-02-30T00:00:00Z"),
    ("hour 24", "2026-11-21T24:00:00Z"),
    ("leap second", "2016-12-31T23:59:60Z"),
    ("offset without colon", "2026-11-21T09:30:00+0100"),
    ("garbage", "yesterday"),
)

_DELETE = object()  # a transform's result meaning "remove this key"
_ABSENT = object()  # a transform's argument when the key is not there


def format_path(path: JsonPath) -> str:
    """A JSON path as text: `meterValue[0].timestamp`; the root is `<root>`."""
    if not path:
        return "<root>"
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def mutation_kind(description: str) -> str:
    """The kind a mutation description starts with (one of MUTATION_KINDS)."""
    return description.split(" at ", 1)[0]


class _Site:
    """One mutation, not yet applied: replace the value at `path` by `transform(value)`."""

    __slots__ = ("detail", "kind", "path", "transform")

    def __init__(
        self, kind: str, path: JsonPath, detail: str, transform: Callable[[Any], Any]
    ) -> None:
        self.kind = kind
        self.path = path
        self.detail = detail
        self.transform = transform

    def describe(self) -> str:
        text = f"{self.kind} at {format_path(self.path)}"
        return f"{text} ({self.detail})" if self.detail else text


def _const(value: Any) -> Callable[[Any], Any]:
    return lambda _old: _json_copy(value)


def _json_copy(value: Any) -> Any:
    """A deep copy of a JSON-like value (much faster than copy.deepcopy)."""
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    return value


def _json_text(value: Any) -> str:
    return json.dumps(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


def _typos(value: str, enum: list[Any]) -> Iterator[tuple[str, str]]:
    """A typo of an enum value and the value in another case, when not themselves valid."""
    if len(value) >= 2:
        typo = value[:-2] + value[-1] + value[-2] if value[-1] != value[-2] else value[:-1]
    else:
        typo = value + "x"
    if typo == value or typo in enum:
        typo = value + "x"
    if typo not in enum:
        yield "typo", typo
    other_case = value.lower() if value != value.lower() else value.upper()
    if other_case != value and other_case not in enum:
        yield "case", other_case


def _unknown_name(properties: dict[str, Any], present: dict[str, Any]) -> str:
    name = "unknownField"
    while name in properties or name in present:
        name += "_"
    return name


class _Mutator:
    """Walks a valid instance along its schema, listing every applicable mutation."""

    def __init__(self, root: Schema) -> None:
        self.root = root
        self.sites: list[_Site] = []

    def add(self, kind: str, path: JsonPath, detail: str, transform: Callable[[Any], Any]) -> None:
        self.sites.append(_Site(kind, path, detail, transform))

    def walk(self, schema: Schema, value: Any, path: JsonPath) -> None:
        schema = _resolve(self.root, schema)
        types = _types(schema)
        actual = _json_type(value)
        if actual == "number" and "integer" in types and float(value).is_integer():
            actual = "integer"  # 1.0 in an integer field: valid since draft-06
        if types and actual not in types and not (actual == "integer" and "number" in types):
            return  # not where the schema expects it: nothing sensible to mutate
        if actual == "integer" and "integer" not in types and "number" in types:
            actual = "number"
        for wrong in _WRONG_TYPES.get(actual, ()) if types else ():
            self.add("wrong type", path, f"{actual} -> {_short(wrong)}", _const(wrong))
        if actual == "integer" and abs(value) <= 2**53:
            self.add("integer as float", path, f"{value} -> {float(value)!r}", _const(float(value)))
        if "enum" in schema and isinstance(value, str):
            for detail, bad in _typos(value, schema["enum"]):
                self.add("bad enum", path, f"{detail} {bad!r}", _const(bad))
        if actual == "string":
            self._string(schema, value, path)
        elif actual in ("integer", "number"):
            self._number(schema, actual, value, path)
        elif actual == "object":
            self._object(schema, value, path)
        elif actual == "array":
            self._array(schema, value, path)

    def _string(self, schema: Schema, value: str, path: JsonPath) -> None:
        max_length = schema.get("maxLength")
        if max_length is not None:
            over = max_length + 1
            self.add("too long", path, f"{over} ASCII code points", _const("x" * over))
            self.add("too long", path, f"{over} astral code points", _const("\U0001f600" * over))
            mixed = ("\u00e9\U0001f600" * max_length)[:max_length]
            if mixed != value:
                self.add("at max length", path, f"{max_length} mixed code points", _const(mixed))
        if schema.get("format") == "date-time":
            for detail, bad in BAD_DATE_TIMES:
                self.add("bad date-time", path, f"{detail} {bad!r}", _const(bad))

    def _number(self, schema: Schema, actual: str, value: float, path: JsonPath) -> None:
        steps: tuple[int | float, ...] = (1,) if actual == "integer" else (1, 0.5)
        if "minimum" in schema:
            low = schema["minimum"]
            low = int(low) if float(low).is_integer() else low
            for step in steps:
                self.add("below minimum", path, f"{low} - {step}", _const(low - step))
            if _json_text(value) != _json_text(low):
                self.add("at bound", path, f"minimum {low}", _const(low))
        if "maximum" in schema:
            high = schema["maximum"]
            high = int(high) if float(high).is_integer() else high
            for step in steps:
                self.add("above maximum", path, f"{high} + {step}", _const(high + step))
            if _json_text(value) != _json_text(high):
                self.add("at bound", path, f"maximum {high}", _const(high))
        if "multipleOf" in schema:
            divisor = schema["multipleOf"]
            if divisor == 0.1:
                bad, suspicious = (7.55, 0.05), (0.3, 1.3, 0.7)
            else:
                bad = (divisor * 1.5,)
                suspicious = (divisor * 3,)
            for number in bad:
                self.add("not multiple", path, f"{number!r} of {divisor}", _const(number))
            for number in suspicious:
                self.add("float multiple", path, f"{number!r} of {divisor}", _const(number))

    def _object(self, schema: Schema, value: dict[str, Any], path: JsonPath) -> None:
        properties: dict[str, Schema] = schema.get("properties", {})
        required = schema.get("required", [])
        name = _unknown_name(properties, value)
        self.add("unknown field", (*path, name), "", _const("surprise"))
        for key in properties:
            here = (*path, key)
            types = _types(_resolve(self.root, properties[key]))
            null_is_wrong = bool(types) and "null" not in types  # not so for DataTransfer data
            if key in required:
                if key in value:
                    self.add("missing required", here, "", lambda _old: _DELETE)
                if null_is_wrong:
                    self.add("null required", here, "", _const(None))
            elif null_is_wrong:
                self.add("null optional", here, "" if key in value else "absent", _const(None))
            if key in value:
                self.walk(properties[key], value[key], here)

    def _array(self, schema: Schema, value: list[Any], path: JsonPath) -> None:
        min_items = schema.get("minItems")
        max_items = schema.get("maxItems")
        if min_items and len(value) >= min_items:
            keep = min_items - 1
            self.add("too few items", path, f"{keep} items", lambda old: old[:keep])
        if max_items is not None and value:
            count = max_items + 1

            def grow(old: list[Any]) -> list[Any]:
                return [_json_copy(old[i % len(old)]) for i in range(count)]

            self.add("too many items", path, f"{count} items", grow)
        items = schema.get("items")
        if items is not None:
            for index, item in enumerate(value):
                self.walk(items, item, (*path, index))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _apply(instance: Any, site: _Site) -> Any:
    root = _json_copy(instance)
    if not site.path:
        return site.transform(root)
    parent = root
    for part in site.path[:-1]:
        parent = parent[part]
    last = site.path[-1]
    present = isinstance(parent, list) or last in parent
    new = site.transform(parent[last] if present else _ABSENT)
    if new is _DELETE:
        del parent[last]
    else:
        parent[last] = new
    return root


def _quotas(counts: dict[str, int], limit: int) -> dict[str, int]:
    """Share `limit` picks fairly among kinds with counts[kind] candidates each."""
    quotas = dict.fromkeys(counts, 0)
    active = [kind for kind, count in counts.items() if count]
    remaining = limit
    while remaining > 0 and active:
        share = max(1, remaining // len(active))
        for kind in list(active):
            take = min(share, counts[kind] - quotas[kind], remaining)
            quotas[kind] += take
            remaining -= take
            if quotas[kind] == counts[kind]:
                active.remove(kind)
            if remaining == 0:
                break
    return quotas


def _spread(count: int, picks: int) -> list[int]:
    """`picks` indices spread evenly over range(count), first and last included."""
    if picks >= count:
        return list(range(count))
    if picks == 1:
        return [0]
    return sorted({round(i * (count - 1) / (picks - 1)) for i in range(picks)})


def mutations(schema: Schema, instance: Any, limit: int = 64) -> list[tuple[str, Any]]:
    """Interesting near-misses of a valid `instance`: (description, mutated deep copy) pairs.

    Every kind of MUTATION_KINDS is tried at every applicable place of the instance (nested
    objects and array items too); when that makes more than `limit`, a deterministic spread
    is kept: each kind gets a fair share, spread over the instance from first to last place.
    A description reads "<kind> at <path> (<detail>)", e.g.
    "wrong type at meterValue[0].timestamp (string -> 123)". Validity is not guaranteed either
    way (see VALID_KINDS for the deliberately valid ones): let reference_errors decide.
    """
    mutator = _Mutator(schema)
    mutator.walk(schema, instance, ())
    by_kind: dict[str, list[int]] = {kind: [] for kind in MUTATION_KINDS}
    for index, site in enumerate(mutator.sites):
        by_kind[site.kind].append(index)
    quotas = _quotas({kind: len(indices) for kind, indices in by_kind.items()}, limit)
    chosen = sorted(
        indices[i] for kind, indices in by_kind.items() for i in _spread(len(indices), quotas[kind])
    )
    return [(mutator.sites[i].describe(), _apply(instance, mutator.sites[i])) for i in chosen]
