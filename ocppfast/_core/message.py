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
from decimal import Decimal, localcontext
from typing import Annotated, Any, ClassVar

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "UNSET",
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


class CustomData(dict[str, Any]):
    """`customData` (2.0.1, 2.1): `vendorId` (at most 255 characters) plus any vendor
    properties, which are kept. Build one as `CustomData(vendorId="com.example", level=3)`."""

    __slots__ = ()


def _custom_data(obj: Any) -> CustomData:
    if type(obj) is not dict:
        raise TypeError("Expected `object`")
    vendor_id = obj.get("vendorId", UNSET)
    if vendor_id is UNSET:
        raise ValueError("Object missing required field `vendorId`")
    if type(vendor_id) is not str:
        raise TypeError("Expected `str` for `vendorId`")
    if len(vendor_id) > 255:
        raise ValueError("Expected `str` of length <= 255 for `vendorId`")
    return CustomData(obj)


def dec_hook(type_: type, obj: Any) -> Any:
    """msgspec's hook for the field types it does not know: `CustomData`."""
    if type_ is CustomData:
        return _custom_data(obj)
    raise NotImplementedError(f"no decoder for {type_!r}")


def is_multiple_of(value: float, step: str) -> bool:
    """Whether `value` is a whole multiple of the decimal `step`, taken at its shortest decimal
    text (`repr`), which is the text the peer wrote for any number with at most 17 significant
    digits: 0.3 is a multiple of 0.1 here, as a reader of the spec expects, though not in binary
    floating point. A power-of-ten step compares exponents, so 1e300 needs no division."""
    exact = Decimal(repr(value))
    unit = Decimal(step)
    step_exponent = unit.as_tuple().exponent
    if unit.as_tuple().digits == (1,) and isinstance(step_exponent, int):
        exponent = exact.normalize().as_tuple().exponent
        return isinstance(exponent, int) and exponent >= step_exponent
    with localcontext() as context:
        context.prec = 1000
        return exact % unit == 0


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
