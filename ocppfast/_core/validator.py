"""Validator: payload bytes <-> typed, schema-checked messages, for one version.

The hot path is msgspec decoding straight into the generated Structs of `ocppfast.v16`,
`v201` or `v21`, which checks every schema constraint in the same pass in C. Only a payload it
refuses takes the slow path (`schema_check`): the exact list of violations, repaired by the quirk
profile where it allows, else turned into the CALLERROR the spec names (docs/validation.md):

- wrong JSON type (`null` included), not a date-time, no UTC offset, string too long:
  TypeConstraintViolation;
- required field missing, too few or too many array items: OccurrenceConstraintViolation (1.6
  spells it OccurenceConstraintViolation);
- value not in the enumeration, out of range, not a multiple of the step:
  PropertyConstraintViolation;
- a field the message does not have: 1.6 FormationViolation, 2.x ProtocolError.

Outgoing messages are encoded and, unless `check_outgoing=False`, decoded again by the same fast
path, so nothing invalid leaves; a fault raises `OutgoingMessageError`.

Compiled by Cython as `_validator_c` (see `_validator_c.pxd`); this file is also the pure twin.
"""

from __future__ import annotations

import importlib
from typing import Any

import msgspec

from ..exceptions import (
    ActionNotImplementedError,
    ActionNotSupportedError,
    FormatViolationError,
    OccurrenceConstraintViolationError,
    OCPPError,
    OutgoingMessageError,
    PropertyConstraintViolationError,
    ProtocolError,
    TypeConstraintViolationError,
)
from . import schema_check
from .message import dec_hook
from .quirks import Quirk, QuirkProfile, repair
from .types import MESSAGE_MODULES, OCPP16, Tolerated, check_version

# The CALLERROR for each kind of violation, decided from J16 4.2.3 Table 7 and J201 4.3 Table 8
# in docs/validation.md. 1.6 spells some codes differently; OCPPError.code_for() does that.
_ERRORS: dict[str, type[OCPPError]] = {
    schema_check.TYPE: TypeConstraintViolationError,
    schema_check.DATE_TIME: TypeConstraintViolationError,
    schema_check.TIMEZONE: TypeConstraintViolationError,
    schema_check.MAX_LENGTH: TypeConstraintViolationError,
    schema_check.REQUIRED: OccurrenceConstraintViolationError,
    schema_check.MIN_ITEMS: OccurrenceConstraintViolationError,
    schema_check.MAX_ITEMS: OccurrenceConstraintViolationError,
    schema_check.ENUM: PropertyConstraintViolationError,
    schema_check.MINIMUM: PropertyConstraintViolationError,
    schema_check.MAXIMUM: PropertyConstraintViolationError,
    schema_check.MULTIPLE_OF: PropertyConstraintViolationError,
    schema_check.UNKNOWN_FIELD: ProtocolError,
}

# Repair rounds: one check lists the violations, every one the profile tolerates is repaired in
# one pass, and one more check confirms, so a payload costs two checks however many violations
# it has. A further round is needed only when a repaired value breaks the schema again (a
# `replace` value that a quirk tolerates too); after this many the payload is refused.
_MAX_ROUNDS = 4
# `tolerated` is keyed by field paths, some of which the peer chooses (unknown field names):
# at most this many distinct (quirk, action, field) keys per validator, each field at most this
# long; further fields are counted together under `OTHER_FIELDS`.
_MAX_TOLERATED_KEYS = 64
_MAX_FIELD_CHARS = 200
OTHER_FIELDS = "(other fields)"


class _Tables:
    """The decoders of one version, built once per process on first use."""

    def __init__(self, version: str) -> None:
        module = importlib.import_module(MESSAGE_MODULES[version])
        self.requests: dict[str, type] = module.REQUESTS
        self.responses: dict[str, type] = module.RESPONSES
        # The decoders' bound `decode` methods: one attribute lookup less per message.
        self.request_decoders: dict[str, Any] = {
            action: msgspec.json.Decoder(cls, dec_hook=dec_hook).decode
            for action, cls in self.requests.items()
        }
        self.response_decoders: dict[str, Any] = {
            action: msgspec.json.Decoder(cls, dec_hook=dec_hook).decode
            for action, cls in self.responses.items()
        }


_TABLES: dict[str, _Tables] = {}


def _tables(version: str) -> _Tables:
    tables = _TABLES.get(version)
    if tables is None:
        tables = _TABLES[version] = _Tables(version)
    return tables


_encode = msgspec.json.Encoder().encode
_decode_any = msgspec.json.Decoder().decode


def violation_error(
    version: str, action: str, kind: str, violations: list[schema_check.Violation]
) -> OCPPError:
    """The OCPPError for a payload's violations: the code of the first, a description that
    names its field, and how many more there are."""
    first = violations[0]
    cls: type[OCPPError] = _ERRORS[first.kind]
    if cls is ProtocolError and version == OCPP16:
        # 1.6 has "not conform the PDU structure" under FormationViolation (J16 4.2.3).
        cls = FormatViolationError
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    return cls(f"{action} {kind}: {first.where}: {first.message}{more}")


def _path_key(path: tuple[str | int, ...]) -> tuple[tuple[int, int, str], ...]:
    """A sort key for JSON paths that never compares an index with a name."""
    return tuple((0, part, "") if type(part) is int else (1, 0, str(part)) for part in path)


def _removed(violation: schema_check.Violation, quirk: Quirk) -> tuple[str | int, ...] | None:
    """What a repair removes from the payload: the array item (`drop_item`: the innermost
    one holding the field) or the field (`drop_field`); None for one that changes a value."""
    path = violation.path
    n = len(path)  # no negative indexes in this module: it is compiled with wraparound off
    if quirk.repair == "drop_item":
        for i in range(n - 1, -1, -1):
            if type(path[i]) is int:
                return path[: i + 1]
    elif quirk.repair == "drop_field" and n and type(path[n - 1]) is not int:
        return path
    return None


def _independent(
    plan: list[tuple[schema_check.Violation, Quirk]],
) -> list[tuple[schema_check.Violation, Quirk]]:
    """The repairs of `plan` that touch nothing another one removes, so that all of them can
    be done in one pass: none inside an item or field that another drops (two in one array
    item drop it once), none in the items an array truncation cuts off. What is left out is gone
    after the pass, or found again by the next check."""
    gone: dict[tuple[str | int, ...], int] = {}  # removed path -> the repair that removes it
    cuts: dict[tuple[str | int, ...], int] = {}  # truncated array -> items it keeps
    for i, (violation, quirk) in enumerate(plan):
        removed = _removed(violation, quirk)
        if removed is not None:
            gone.setdefault(removed, i)
        elif violation.kind == schema_check.MAX_ITEMS and quirk.repair == "truncate":
            cuts.setdefault(violation.path, violation.limit)
    if not gone and not cuts:
        return plan
    kept = []
    for i, (violation, quirk) in enumerate(plan):
        path = violation.path
        for n in range(1, len(path) + 1):
            prefix = path[:n]
            owner = gone.get(prefix)
            if owner is not None and owner != i:
                break
            index = path[n - 1]
            if type(index) is int and path[: n - 1] in cuts and index >= cuts[path[: n - 1]]:
                break
        else:
            kept.append((violation, quirk))
    return kept


class Validator:
    """Decodes and checks the payloads of one OCPP version, in both directions.

    `quirks` tolerates the listed violations of incoming messages (see `quirks.py`);
    `check_outgoing=False` skips the check of what we send, for speed, when the code that builds
    the messages is trusted.
    """

    def __init__(
        self,
        version: str,
        *,
        quirks: QuirkProfile | None = None,
        check_outgoing: bool = True,
    ) -> None:
        self.version: str = check_version(version)
        self.quirks: QuirkProfile | None = quirks
        self.check_outgoing: bool = check_outgoing
        tables = _tables(self.version)
        self._requests: dict[str, type] = tables.requests
        self._responses: dict[str, type] = tables.responses
        self._request_decoders: dict[str, Any] = tables.request_decoders
        self._response_decoders: dict[str, Any] = tables.response_decoders
        self.tolerated: dict[tuple[str, str, str], int] = {}
        self._new_tolerated: list[Tolerated] = []

    # -- incoming -----------------------------------------------------------------------

    def decode_request(self, action: str, payload: bytes) -> Any:
        """The typed request (or 2.1 SEND payload) of `action`; raises the OCPPError to answer
        with. `action` must be one of the version's actions."""
        decode = self._request_decoders.get(action)
        if decode is None:
            raise ActionNotImplementedError(f"{action[:64]} is not a known {self.version} action")
        try:
            return decode(payload)
        except msgspec.ValidationError:
            return self._slow(action, "request", self._requests[action], payload)

    def decode_response(self, action: str, payload: bytes) -> Any:
        """The typed response to our CALL of `action`; raises the OCPPError it violates, or
        NotImplemented / NotSupported for an action that has no response."""
        decode = self._response_decoders.get(action)
        if decode is None:
            raise self._no_response(action)
        try:
            return decode(payload)
        except msgspec.ValidationError:
            return self._slow(action, "response", self._responses[action], payload)

    def has_response(self, action: str) -> bool:
        """Whether `action` is a CALL of this version: one answered with a response."""
        return action in self._response_decoders

    def _no_response(self, action: str) -> OCPPError:
        if action in self._requests:  # a 2.1 SEND message: never answered (J21 4.2.4)
            return ActionNotSupportedError(f"{action} is a SEND message and has no response")
        return ActionNotImplementedError(f"{action[:64]} is not a known {self.version} action")

    def take_tolerated(self) -> list[Tolerated]:
        """The tolerated violations seen for the first time since the last call, for the log.
        Every occurrence is counted in `tolerated`, by (quirk, action, field)."""
        new = self._new_tolerated
        self._new_tolerated = []
        return new

    def _slow(self, action: str, kind: str, cls: type, payload: bytes) -> Any:
        """The precise path for a payload the fast path refused."""
        try:
            value = _decode_any(payload)
        except msgspec.DecodeError as exc:
            # The frame scanner accepted the JSON; what is left is a number beyond a double.
            raise FormatViolationError(f"{action} {kind}: {exc}") from None
        violations = schema_check.check(value, cls)
        if violations and self.quirks is not None:
            violations = self._repair(action, kind, cls, value, violations)
        if violations:
            raise violation_error(self.version, action, kind, violations)
        try:
            return schema_check.convert(value, cls, dec_hook)
        except msgspec.ValidationError as exc:
            # Valid by the schema but not representable: a time that rounds past year 9999.
            raise FormatViolationError(f"{action} {kind}: {exc}") from None

    def _repair(
        self,
        action: str,
        kind: str,
        cls: type,
        value: Any,
        violations: list[schema_check.Violation],
    ) -> list[schema_check.Violation]:
        """Repair, in place, every violation the profile tolerates, a whole check's worth at a
        time; return what is left (nothing: the payload is valid now). Each repair done is
        counted once; a violation inside an item or field that another repair removes goes
        with it, unrepaired and uncounted."""
        quirks = self.quirks
        assert quirks is not None
        for _ in range(_MAX_ROUNDS):
            plan = []
            for violation in violations:
                quirk = quirks.find(action, violation)
                if quirk is not None:
                    plan.append((violation, quirk))
            if not plan:
                return violations  # nothing left that a quirk allows
            plan = _independent(plan)
            # Deepest and last first: removing an array item then shifts no index still to come.
            keys = [_path_key(violation.path) for violation, _quirk in plan]
            done = [False] * len(plan)
            for i in sorted(range(len(plan)), key=keys.__getitem__, reverse=True):
                violation, quirk = plan[i]
                done[i] = repair(value, violation, quirk)
            repaired = False
            for i, (violation, quirk) in enumerate(plan):  # counted in the order of the check
                if done[i]:
                    self._count(quirk.name, action, kind, violation)
                    repaired = True
            if not repaired:
                return violations
            violations = schema_check.check(value, cls)
            if not violations:
                return violations
        return violations

    def _count(self, quirk: str, action: str, kind: str, violation: schema_check.Violation) -> None:
        tolerated = self.tolerated
        key = (quirk, action, schema_check.field_pattern(violation.path)[:_MAX_FIELD_CHARS])
        seen = tolerated.get(key, 0)
        if not seen and len(tolerated) >= _MAX_TOLERATED_KEYS:
            key = (quirk, action, OTHER_FIELDS)
            seen = tolerated.get(key, 0)
        tolerated[key] = seen + 1
        if not seen:
            self._new_tolerated.append(
                Tolerated(quirk, action, kind, violation.where, violation.kind, violation.message)
            )

    # -- outgoing -----------------------------------------------------------------------

    def encode_request(self, action: str, message: Any) -> bytes:
        """JSON for the payload of our CALL (or SEND) of `action`; checked unless
        `check_outgoing` is off. Raises OutgoingMessageError if it is not valid."""
        data: bytes = _encode(message)
        if self.check_outgoing:
            decode = self._request_decoders.get(action)
            if decode is None:
                raise OutgoingMessageError(f"{self.version} has no action {action!r}")
            try:
                decode(data)
            except msgspec.ValidationError:
                self._outgoing_fault(action, "request", self._requests[action], data)
        return data

    def encode_response(self, action: str, message: Any) -> bytes:
        """JSON for our CALLRESULT to the peer's `action`; checked unless `check_outgoing` is
        off. Raises OutgoingMessageError if it is not valid."""
        data: bytes = _encode(message)
        if self.check_outgoing:
            decode = self._response_decoders.get(action)
            if decode is None:
                raise OutgoingMessageError(f"{self.version} has no response to {action!r}")
            try:
                decode(data)
            except msgspec.ValidationError:
                self._outgoing_fault(action, "response", self._responses[action], data)
        return data

    def _outgoing_fault(self, action: str, kind: str, cls: type, data: bytes) -> None:
        violations = schema_check.check(_decode_any(data), cls)
        if violations:
            error = violation_error(self.version, action, kind, violations)
            raise OutgoingMessageError(f"invalid outgoing {error.description}") from error
