"""Quirk profiles: named, per-field leniency for real chargers that break the schema.

A `Quirk` tolerates one kind of violation in one field and says how to repair it, so the handler
still gets a valid typed message:

    Quirk("long-serial-number", "max_length", "chargePointSerialNumber")        # truncate
    Quirk("naive-timestamp", "timezone", "*")                                    # read as UTC
    Quirk("vendor-measurand", "enum", "meterValue[].sampledValue[].measurand")  # drop the sample

A `QuirkProfile` is a named set of them; `PROFILES` holds the built-in ones, which a
configuration names per station or globally. There is deliberately no "validation off": every
other violation is still refused with its CALLERROR. Each tolerated violation is reported to the
validator's owner (`Validator.take_tolerated()`) the first time it is seen on that validator,
which is one per connection, and counted every time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .schema_check import (
    ENUM,
    KINDS,
    MAX_ITEMS,
    MAX_LENGTH,
    MAXIMUM,
    MINIMUM,
    TIMEZONE,
    UNKNOWN_FIELD,
    Violation,
    field_pattern,
)

__all__ = ["PROFILES", "REPAIRS", "Quirk", "QuirkProfile", "profile"]

# How a tolerated violation is repaired.
REPAIRS = ("truncate", "assume_utc", "clamp", "drop_field", "drop_item", "replace")

_DEFAULT_REPAIR = {
    MAX_LENGTH: "truncate",
    TIMEZONE: "assume_utc",
    MINIMUM: "clamp",
    MAXIMUM: "clamp",
    MAX_ITEMS: "truncate",
    UNKNOWN_FIELD: "drop_field",
    ENUM: "drop_item",
}


@dataclass(frozen=True)
class Quirk:
    """Tolerate `violation` (a kind from `schema_check.KINDS`) at `field` and repair it.

    `field` is a path with array indexes left out (`meterValue[].sampledValue[].measurand`), a
    bare field name that matches at any depth (`measurand`), or `*` for any field. `action`
    limits it to one action (`*`: any). `repair` defaults by kind: truncate a long string or
    array, read a time without offset as UTC, clamp a number into range, drop an unknown field,
    drop the array item holding an unknown enum value; `replace` puts `value` instead.
    """

    name: str
    violation: str
    field: str
    action: str = "*"
    repair: str = ""
    value: Any = None

    def __post_init__(self) -> None:
        if self.violation not in KINDS:
            raise ValueError(f"unknown violation kind {self.violation!r}; one of {KINDS}")
        repair = self.repair or _DEFAULT_REPAIR.get(self.violation, "")
        if repair not in REPAIRS:
            raise ValueError(
                f"quirk {self.name!r}: give a repair for {self.violation!r}, one of {REPAIRS}"
            )
        object.__setattr__(self, "repair", repair)

    def matches(self, action: str, violation: Violation) -> bool:
        if violation.kind != self.violation or self.action not in ("*", action):
            return False
        if self.field == "*":
            return True
        pattern = field_pattern(violation.path)
        return pattern == self.field or (
            "." not in self.field
            and "[" not in self.field
            and bool(violation.path)
            and violation.path[-1] == self.field
        )


@dataclass(frozen=True)
class QuirkProfile:
    """A named set of quirks, as configured for a station or a fleet."""

    name: str
    quirks: tuple[Quirk, ...]

    def __init__(self, name: str, quirks: Iterable[Quirk]) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "quirks", tuple(quirks))

    def __add__(self, other: QuirkProfile) -> QuirkProfile:
        return QuirkProfile(f"{self.name}+{other.name}", self.quirks + other.quirks)

    def find(self, action: str, violation: Violation) -> Quirk | None:
        for quirk in self.quirks:
            if quirk.matches(action, violation):
                return quirk
        return None


_SERIALS = (
    "chargePointSerialNumber",
    "chargeBoxSerialNumber",
    "meterSerialNumber",
    "firmwareVersion",
    "serialNumber",
    "iccid",
    "imsi",
)

PROFILES: dict[str, QuirkProfile] = {
    p.name: p
    for p in (
        QuirkProfile(
            "long-serial-numbers",
            [Quirk("long-serial-number", MAX_LENGTH, f, "BootNotification") for f in _SERIALS],
        ),
        QuirkProfile("naive-timestamps", [Quirk("naive-timestamp", TIMEZONE, "*")]),
        QuirkProfile(
            "unknown-measurands",
            [
                Quirk("unknown-measurand", ENUM, "measurand", action)
                for action in ("MeterValues", "StopTransaction", "TransactionEvent")
            ],
        ),
    )
}
"""Built-in profiles, by name: what real chargers are known to send."""


def profile(*names: str) -> QuirkProfile:
    """The built-in profiles `names`, combined into one."""
    try:
        profiles = [PROFILES[n] for n in names]
    except KeyError as exc:
        raise ValueError(f"no quirk profile {exc.args[0]!r}; known: {sorted(PROFILES)}") from None
    return QuirkProfile("+".join(names), [q for p in profiles for q in p.quirks])


def repair(value: Any, violation: Violation, quirk: Quirk) -> bool:
    """Repair `violation` inside the JSON value `value` in place; False if it cannot be."""
    path = violation.path
    if not path:
        return False
    parent = value
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    how = quirk.repair
    if how == "drop_item":
        # Remove the innermost array item that holds the field.
        for i in range(len(path) - 1, -1, -1):
            if type(path[i]) is int:
                container = value
                for part in path[:i]:
                    container = container[part]
                del container[path[i]]
                return True
        return False
    if how == "drop_field":
        if type(key) is int:
            return False
        del parent[key]
        return True
    if how == "replace":
        parent[key] = quirk.value
        return True
    current = parent[key]
    if how == "truncate" and violation.limit is not None and hasattr(current, "__getitem__"):
        parent[key] = current[: violation.limit]
        return True
    if how == "assume_utc" and type(current) is str:
        parent[key] = current + "Z"
        return True
    if how == "clamp" and violation.limit is not None:
        parent[key] = violation.limit
        return True
    return False
