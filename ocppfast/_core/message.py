"""Base classes and field types of the generated message types (`ocppfast.v16`, `v201`, `v21`).

Every OCPP payload is a msgspec `Struct`: attributes in snake_case, the wire in the schema's
camelCase, optional fields `UNSET` (and so absent on the wire: the specs forbid `null` for them),
unknown fields refused (every schema object says `additionalProperties: false`). Decoding a
payload into its type checks every constraint of the schema in one pass in C; the few the
msgspec constraints cannot say are here:

- `DateTime`: an RFC 3339 date-time with its offset (OCPP times are UTC; a time without one is
  refused unless a quirk profile tolerates it).
- `CustomData` (2.0.1, 2.1): the one schema object that admits any vendor property besides its
  required `vendorId`, kept whole rather than cut down to the declared fields.
- `check_multiple_of`: 1.6's `multipleOf: 0.1` means "at most one decimal" (C16 7.13: "Accepts
  at most one digit fraction (e.g. 8.1)"); compared on the decimal text, not as binary floats.

Value types are never compiled: both core backends share these classes.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "UNSET",
    "VENDOR_ID_MAX_LENGTH",
    "CustomData",
    "DateTime",
    "Message",
    "Request",
    "Response",
    "UnsetType",
    "check_multiple_of",
    "dec_hook",
    "is_multiple_of",
]

DateTime = Annotated[datetime.datetime, msgspec.Meta(tz=True)]
"""An RFC 3339 date-time with an offset, such as `2026-11-21T09:30:00Z`."""


# customData.vendorId: "maxLength": 255 in every 2.0.1 and 2.1 schema (CustomDataType).
VENDOR_ID_MAX_LENGTH = 255


class CustomData(dict[str, Any]):
    """`customData` (2.0.1, 2.1): `vendorId` (at most 255 characters) plus any vendor
    properties, which are kept. Build one as `CustomData(vendorId="com.example", level=3)`."""

    __slots__ = ()


def dec_hook(type_: type, obj: Any) -> Any:
    """msgspec's hook for the field types it does not know: `CustomData`. It only accepts or
    refuses; a refused payload goes to the validator's slow path, which says what is wrong."""
    if type_ is CustomData:
        if type(obj) is dict:
            vendor_id = obj.get("vendorId")
            if type(vendor_id) is str and len(vendor_id) <= VENDOR_ID_MAX_LENGTH:
                return CustomData(obj)
        raise ValueError("invalid customData")
    raise NotImplementedError(f"no decoder for {type_!r}")


def is_multiple_of(value: float, step: str) -> bool:
    """Whether `value` is a whole multiple of `step`, a power of ten such as "0.1": whether the
    value's shortest decimal text (`repr`, the text the peer wrote for any number with at most 17
    significant digits) has no more fraction digits than the step. So 0.3 is a multiple of 0.1,
    as a reader of the spec expects, though not in binary floating point; 1e300 is too."""
    exponent = Decimal(repr(value)).normalize().as_tuple().exponent
    step_exponent = Decimal(step).as_tuple().exponent
    return (
        isinstance(exponent, int) and isinstance(step_exponent, int) and exponent >= step_exponent
    )


def check_multiple_of(value: float, step: str, name: str) -> None:
    """Raise ValueError unless `value` is a whole multiple of `step` (see `is_multiple_of`)."""
    if not is_multiple_of(value, step):
        raise ValueError(f"Expected `{name}` to be a multiple of {step}, got {value!r}")


class Message(
    msgspec.Struct,
    forbid_unknown_fields=True,
    rename="camel",
    repr_omit_defaults=True,
    gc=False,
):
    """Base of every generated OCPP payload type."""


class Request(Message):
    """The payload of a CALL (or a 2.1 SEND). `ACTION` is the action it belongs to."""

    ACTION: ClassVar[str] = ""


class Response(Message):
    """The payload of a CALLRESULT. `ACTION` is the action it answers."""

    ACTION: ClassVar[str] = ""
