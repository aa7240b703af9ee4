"""The operator HTTP API of `ocppfast serve` (docs/api.md): `ApiServer` serves it,
`create_app` builds its aiohttp application (to mount or test), `ROUTES` lists its routes."""

from .app import DEFAULT_PORT, ApiServer, create_app
from .openapi import openapi_document
from .routes import ROUTES

__all__ = ["DEFAULT_PORT", "ROUTES", "ApiServer", "create_app", "openapi_document"]
