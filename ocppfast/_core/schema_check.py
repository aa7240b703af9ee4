"""The precise slow path of the validator: every violation of a payload, named and located.

The fast path (msgspec decoding straight into the generated Structs, in C) says only "valid" or
"not valid". When it says "not valid", this module walks the generic JSON value against the same
types (read through `msgspec.inspect`) and lists each violation with its JSON path and kind. The
kinds map to the OCPP-J error codes (docs/validation.md), and quirk profiles repair the ones a
station is known for. Runs only on invalid payloads, so it is plain Python in both backends.

Two points where the JSON schemas and msgspec differ are decided here, by the schema:
- draft-06 (2.0.1, 2.1, the 1.6 security extension) counts `1.0` as an integer; draft-04 (the
  rest of 1.6) does not. msgspec never does, so such payloads land here and are accepted.
- `DateTime` is checked by `DATE_TIME` below, which accepts what msgspec's parser accepts.
"""

from __future__ import annotations

import calendar
import re
from typing import Any, NamedTuple

import msgspec
import msgspec.inspect as mi

from .message import VENDOR_ID_MAX_LENGTH, CustomData, is_multiple_of

# Violation kinds.
TYPE = "type"
DATE_TIME = "date_time"
TIMEZONE = "timezone"
MAX_LENGTH = "max_length"
REQUIRED = "required"
MIN_ITEMS = "min_items"
MAX_ITEMS = "max_items"
ENUM = "enum"
MINIMUM = "minimum"
MAXIMUM = "maximum"
MULTIPLE_OF = "multiple_of"
UNKNOWN_FIELD = "unknown_field"

KINDS = (
    TYPE,
    DATE_TIME,
    TIMEZONE,
    MAX_LENGTH,
    REQUIRED,
    MIN_ITEMS,
    MAX_ITEMS,
    ENUM,
    MINIMUM,
    MAXIMUM,
    MULTIPLE_OF,
    UNKNOWN_FIELD,
)

# RFC 3339 date-time, as msgspec reads it: `T`, `t` or a space between date and time (RFC 3339
# 5.6 NOTE allows the space), any number of fraction digits, `Z`/`z` or a +hh:mm offset, also
# written +hhmm (ISO 8601's basic format, which C16 3.15 makes 1.6's notation); the offset may be
# missing only to be reported as TIMEZONE.
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?",
    re.ASCII,
)

_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


class Violation(NamedTuple):
    """One way a payload breaks its schema."""

    kind: str
    path: tuple[str | int, ...]
    message: str
    limit: Any = None  # the bound that was broken, for repairs (max length, minimum, ...)

    @property
    def where(self) -> str:
        """The JSON path in the payload, as `meterValue[0].sampledValue[3].unit`."""
        return format_path(self.path)


def format_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if type(part) is int else (f".{part}" if out else str(part))
    return out or "(payload)"


def field_pattern(path: tuple[str | int, ...]) -> str:
    """The path with array indexes left out: `meterValue[].sampledValue[].unit`."""
    out = ""
    for part in path:
        out += "[]" if type(part) is int else (f".{part}" if out else str(part))
    return out


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


_INFO: dict[type, Any] = {}


def _info(cls: type) -> Any:
    info = _INFO.get(cls)
    if info is None:
        info = _INFO[cls] = mi.type_info(cls)
    return info


# Per Struct class: its fields by JSON name, and its DECIMAL_STEPS (None if it has none).
_FIELDS: dict[type, tuple[dict[str, Any], dict[str, Any] | None]] = {}


def _fields(info: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    fields = _FIELDS.get(info.cls)
    if fields is None:
        fields = _FIELDS[info.cls] = (
            {f.encode_name: f for f in info.fields},
            getattr(info.cls, "DECIMAL_STEPS", None) or None,
        )
    return fields


def check(value: Any, message_type: type, draft: int | None = None) -> list[Violation]:
    """Every violation of `value` (a decoded JSON value) against a generated message type.
    Integral floats accepted as integers are turned into ints in place, ready for `convert`."""
    if draft is None:
        draft = getattr(message_type, "JSON_SCHEMA_DRAFT", 6)
    out: list[Violation] = []
    _check(value, _info(message_type), (), draft, out)
    return out


def _check(
    value: Any, info: Any, path: tuple[str | int, ...], draft: int, out: list[Violation]
) -> None:
    kind = type(info)
    if kind is mi.StructType:
        _check_struct(value, info, path, draft, out)
    elif kind is mi.StrType:
        if type(value) is not str:
            out.append(Violation(TYPE, path, f"expected a string, got {_json_type(value)}"))
        elif info.max_length is not None and len(value) > info.max_length:
            out.append(
                Violation(
                    MAX_LENGTH,
                    path,
                    f"{len(value)} characters, at most {info.max_length} allowed",
                    info.max_length,
                )
            )
    elif kind is mi.IntType:
        if type(value) is int or (draft >= 6 and type(value) is float and value.is_integer()):
            _check_bounds(value, info, path, out)
        else:
            out.append(Violation(TYPE, path, f"expected an integer, got {_json_type(value)}"))
    elif kind is mi.FloatType:
        if type(value) is int or type(value) is float:
            _check_bounds(value, info, path, out)
        else:
            out.append(Violation(TYPE, path, f"expected a number, got {_json_type(value)}"))
    elif kind is mi.BoolType:
        if type(value) is not bool:
            out.append(Violation(TYPE, path, f"expected a boolean, got {_json_type(value)}"))
    elif kind is mi.EnumType:
        if type(value) is not str:
            out.append(Violation(TYPE, path, f"expected a string, got {_json_type(value)}"))
        elif value not in info.cls._value2member_map_:
            out.append(Violation(ENUM, path, f"{value[:40]!r} is not a {info.cls.__name__}"))
    elif kind is mi.DateTimeType:
        _check_date_time(value, path, out)
    elif kind is mi.ListType:
        if type(value) is not list:
            out.append(Violation(TYPE, path, f"expected an array, got {_json_type(value)}"))
            return
        n = len(value)
        if info.min_length is not None and n < info.min_length:
            out.append(
                Violation(
                    MIN_ITEMS,
                    path,
                    f"{n} items, at least {info.min_length} required",
                    info.min_length,
                )
            )
        if info.max_length is not None and n > info.max_length:
            out.append(
                Violation(
                    MAX_ITEMS,
                    path,
                    f"{n} items, at most {info.max_length} allowed",
                    info.max_length,
                )
            )
        integers = type(info.item_type) is mi.IntType
        for i, item in enumerate(value):
            before = len(out)
            _check(item, info.item_type, (*path, i), draft, out)
            if integers and type(item) is float and len(out) == before:
                value[i] = int(item)  # 1.0 passed as an integer (draft-06)
    elif kind is mi.CustomType and info.cls is CustomData:
        _check_custom_data(value, path, out)
    elif kind is mi.AnyType:
        pass
    else:  # pragma: no cover - the generator emits no other types
        raise TypeError(f"unexpected type {info!r} at {format_path(path)}")


def _check_struct(
    value: Any, info: Any, path: tuple[str | int, ...], draft: int, out: list[Violation]
) -> None:
    if type(value) is not dict:
        out.append(Violation(TYPE, path, f"expected an object, got {_json_type(value)}"))
        return
    fields, steps = _fields(info)
    if info.forbid_unknown_fields:
        for key in value:
            if key not in fields:
                out.append(Violation(UNKNOWN_FIELD, (*path, key), "not a field of this message"))
    for name, f in fields.items():
        if name not in value:
            if f.required:
                out.append(Violation(REQUIRED, (*path, name), "required field missing"))
            continue
        before = len(out)
        field_value = value[name]
        _check(field_value, f.type, (*path, name), draft, out)
        if len(out) != before:
            continue
        if type(field_value) is float and type(f.type) is mi.IntType:
            value[name] = int(field_value)  # 1.0 passed as an integer (draft-06)
        step = steps.get(f.name) if steps else None
        if step is not None and not is_multiple_of(field_value, step):
            out.append(
                Violation(
                    MULTIPLE_OF, (*path, name), f"{value[name]!r} is not a multiple of {step}"
                )
            )


def _check_bounds(
    value: float, info: Any, path: tuple[str | int, ...], out: list[Violation]
) -> None:
    if info.ge is not None and value < info.ge:
        out.append(Violation(MINIMUM, path, f"{value!r} is below the minimum {info.ge}", info.ge))
    if info.le is not None and value > info.le:
        out.append(Violation(MAXIMUM, path, f"{value!r} is above the maximum {info.le}", info.le))


def _check_date_time(value: Any, path: tuple[str | int, ...], out: list[Violation]) -> None:
    if type(value) is not str:
        out.append(Violation(TYPE, path, f"expected a date-time string, got {_json_type(value)}"))
        return
    m = _DATE_TIME.fullmatch(value)
    if m is None or not _valid_fields(m):
        out.append(Violation(DATE_TIME, path, f"{value[:40]!r} is not an RFC 3339 date-time"))
    elif m.group(7) is None and m.group(8) is None:
        out.append(Violation(TIMEZONE, path, f"{value[:40]!r} has no UTC offset"))


def _valid_fields(m: re.Match[str]) -> bool:
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    if not (1 <= month <= 12 and hour <= 23 and minute <= 59 and second <= 59):
        return False
    if not 1 <= day <= calendar.monthrange(year, month)[1] or year == 0:
        return False
    if m.group(8) is not None:
        return int(m.group(9)) <= 23 and int(m.group(10)) <= 59
    return True


def _check_custom_data(value: Any, path: tuple[str | int, ...], out: list[Violation]) -> None:
    if type(value) is not dict:
        out.append(Violation(TYPE, path, f"expected an object, got {_json_type(value)}"))
        return
    if "vendorId" not in value:
        out.append(Violation(REQUIRED, (*path, "vendorId"), "required field missing"))
        return
    vendor_id = value["vendorId"]
    if type(vendor_id) is not str:
        out.append(
            Violation(TYPE, (*path, "vendorId"), f"expected a string, got {_json_type(vendor_id)}")
        )
    elif len(vendor_id) > VENDOR_ID_MAX_LENGTH:
        out.append(
            Violation(
                MAX_LENGTH,
                (*path, "vendorId"),
                f"{len(vendor_id)} characters, at most {VENDOR_ID_MAX_LENGTH} allowed",
                VENDOR_ID_MAX_LENGTH,
            )
        )


def convert(value: Any, message_type: type, dec_hook: Any) -> Any:
    """Build the typed message from a value `check` found no fault with (lax: `1.0` becomes the
    integer 1, date-time strings are parsed)."""
    return msgspec.convert(value, message_type, strict=False, dec_hook=dec_hook)
