"""Errors of the operator API: `ApiError` carries the HTTP status and the JSON error body, and
the helpers here turn what msgspec and the core say about an invalid body or payload into the
path of the field at fault."""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from .models import ErrorBody, ErrorDetail

__all__ = ["ApiError", "body_error", "field_path", "payload_path"]

# The short codes of the statuses the API answers with (the `code` of the error body, unless
# the error names a more precise one).
STATUS_CODES: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    500: "internal",
    503: "unavailable",
    504: "timeout",
}

# msgspec's ValidationError messages end with " - at `$.a.b[0]`" when the fault is not at the
# top; unknown and missing fields are named in the message itself.
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_NAMED = re.compile(r"(?:unknown|missing required) field `(?P<name>[^`]*)`")


class ApiError(Exception):
    """An error answer: HTTP `status`, a short `code`, a `description` saying what to do,
    the `path` of the field or query parameter at fault, and `extra` fields of the body."""

    def __init__(
        self,
        status: int,
        code: str,
        description: str,
        *,
        path: str | None = None,
        headers: Mapping[str, str] | None = None,
        stations: list[str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.path = path
        self.headers = dict(headers or {})
        self.stations = stations

    def body(self) -> ErrorBody:
        detail = ErrorDetail(code=self.code, description=self.description)
        if self.path is not None:
            detail.path = self.path
        if self.stations is not None:
            detail.stations = self.stations
        return ErrorBody(error=detail)


def field_path(message: str) -> str:
    """The field path (`a.b[0].c`, "" for the whole body) that a msgspec ValidationError
    message names."""
    match = _AT.search(message)
    path = match.group("path") if match else ""
    named = _NAMED.search(message)
    if named:
        path = f"{path}.{named.group('name')}"
    return path[1:] if path.startswith(".") else path


def body_error(error: msgspec.ValidationError, prefix: str = "") -> ApiError:
    """422 for a body that does not fit its Struct, with the path of the field at fault."""
    message = str(error)
    path = field_path(message)
    where = f"{prefix}.{path}" if prefix and path else (path or prefix)
    clean = _AT.sub("", message)
    return ApiError(422, "invalid", f"{clean} ({where or 'the body'})", path=where)


def payload_path(action: str, description: str, fields: Mapping[str, str] | None = None) -> str:
    """The body path of the payload field that a core validation error names.

    The validator describes a violation as "<Action> request: <path>: <what>" (see
    `ocppfast._core.validator.violation_error`); `fields` maps payload path prefixes to body
    fields (a typed command's), else the path is given under `payload.`."""
    head = f"{action} request: "
    where = ""
    if description.startswith(head):
        where = description[len(head) :].partition(": ")[0]
    if where in ("", "(payload)"):
        return "payload" if fields is None else ""
    if fields:
        best = ""
        for prefix in fields:
            if (where == prefix or where.startswith((prefix + ".", prefix + "["))) and len(
                prefix
            ) > len(best):
                best = prefix
        if best:
            name = fields[best]
            # The rest of the path is kept where the body field is the same object
            # (chargingProfile.chargingSchedule...), dropped where a field became a structure.
            return name + where[len(best) :] if name == best else name
        return where
    return f"payload.{where}"
