"""The OpenAPI 3.1 document of the operator API, made from its routes table and its Structs.

The routes table (`Route`, `Query`) is what `ocppfast.api.app` registers with aiohttp, so every
route served is in the document; the schemas of the bodies come from
`msgspec.json.schema_components` (JSON Schema 2020-12, which OpenAPI 3.1 uses as it is).
"""

from __future__ import annotations

import http
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from .._version import __version__
from .models import REQUEST_BODIES, RESPONSE_BODIES, ErrorBody

if TYPE_CHECKING:
    from .commands import Command

__all__ = ["Query", "Route", "openapi_document"]

_REF = "#/components/schemas/{name}"
_PARAMETER = re.compile(r"\{([^}]+)\}")


@dataclass(frozen=True)
class Query:
    """A query parameter: `kind` "int", "float", "bool", "str" or "enum" (`choices`);
    `multiple` takes it more than once (and comma-separated)."""

    name: str
    kind: str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    default: Any = None
    choices: tuple[str, ...] = ()
    multiple: bool = False

    def schema(self) -> dict[str, Any]:
        types = {"int": "integer", "float": "number", "bool": "boolean"}
        schema: dict[str, Any] = {"type": types.get(self.kind, "string")}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.default is not None:
            schema["default"] = self.default
        if self.multiple:
            schema = {"type": "array", "items": schema}
        return schema


@dataclass(frozen=True)
class Route:
    """One route: `handler` is its operationId and names the method of the API that serves
    it, unless `command` is given (a typed command: the builder of `ocppfast.api.commands`
    that makes its message); `status` is its success status; `body` and `response` its
    Structs (None: no body / no JSON answer); `errors` the error statuses it may answer
    besides 400 and 401. `public` routes (the stations' side of the file server) take no
    bearer token: a capability in their URL authorizes them. `raw_body` is the media type of
    a body that is not JSON (a file)."""

    method: str
    path: str
    handler: str
    summary: str
    status: int = 200
    body: type | None = None
    response: type | None = None
    query: tuple[Query, ...] = ()
    errors: tuple[int, ...] = ()
    media_type: str = "application/json"
    command: Callable[[str, Any], Command] | None = None
    public: bool = False
    raw_body: str | None = None

    @property
    def parameters(self) -> list[str]:
        """The names of the path's parameters."""
        return _PARAMETER.findall(self.path)


def _raw_schema(media_type: str) -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    if media_type == "multipart/form-data":
        return {"type": "object", "properties": {"file": binary}, "required": ["file"]}
    return binary


def _ref(cls: type) -> dict[str, str]:
    return {"$ref": _REF.format(name=cls.__name__)}


def _response(status: int, cls: type | None, media_type: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": http.HTTPStatus(status).phrase}
    if cls is not None:
        answer["content"] = {media_type: {"schema": _ref(cls)}}
    elif status != 204:  # a document of its own kind (this one, the metrics)
        kind = "object" if media_type == "application/json" else "string"
        answer["content"] = {media_type: {"schema": {"type": kind}}}
    return answer


def openapi_document(routes: Sequence[Route], *, title: str = "ocppfast operator API") -> Any:
    """The OpenAPI 3.1 document (a JSON-ready dict) describing `routes`."""
    _, schemas = msgspec.json.schema_components(REQUEST_BODIES + RESPONSE_BODIES, ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in route.parameters
        ]
        for query in route.query:
            parameter: dict[str, Any] = {
                "name": query.name,
                "in": "query",
                "required": False,
                "description": query.description,
                "schema": query.schema(),
            }
            if query.multiple:
                parameter["explode"] = True
            parameters.append(parameter)
        responses: dict[str, Any] = {
            str(route.status): _response(route.status, route.response, route.media_type)
        }
        for status in sorted({400, *(() if route.public else (401,)), *route.errors}):
            responses[str(status)] = _response(status, ErrorBody, "application/json")
        operation: dict[str, Any] = {
            "operationId": route.handler,
            "summary": route.summary,
            "responses": responses,
        }
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(route.body)}},
            }
        elif route.raw_body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {route.raw_body: {"schema": _raw_schema(route.raw_body)}},
            }
        if route.public:
            operation["security"] = []
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": __version__,
            "description": (
                "Operate an ocppfast CSMS: stations, id tokens, transactions, the traffic log, "
                "and messages to stations. Every request needs 'Authorization: Bearer <token>'."
            ),
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
