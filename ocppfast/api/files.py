"""The file server of `ocppfast serve`: firmware images for stations to download, and an upload
endpoint for their logs and diagnostics.

Stations have no API token, so the URLs given to them carry a capability instead: a token that
names what it grants (a download of one file, or uploads for one operation), the station and
the operation, and when it expires, signed with HMAC-SHA256 under a secret the CSMS keeps with
its data (`CsmsState.file_secret`). It is checked in constant time; a wrong, expired or
mismatched one is answered 404, as a path that does not exist (nothing to learn from it).

    GET  /station-files/{capability}/{name}        a firmware image (Range requests work)
    PUT  /station-uploads/{capability}/{filename}  an upload, the raw body
    POST /station-uploads/{capability}             an upload, multipart/form-data, field "file"

Files live in one folder (`root`): the operator's firmware images at its top, and what stations
upload in `uploads/<identity>/`. Names are sanitized (`safe_name`): no path from a request can
leave the folder. Uploads are streamed to disk and bounded (`max_upload`, 413 beyond).

Signed firmware (SW L01.FR.09/11, 2.x L01): with a `firmware_signer` (`ocppfast serve
--firmware-signer-cert/--firmware-signer-key`), `sign_firmware(name)` signs a firmware file over
its exact bytes (SHA-256 in chunks, RSA-PSS or ECDSA: `ocppfast.security.firmware`) for the
API's signed updates; the signature of an unchanged file is computed once.

Logger "ocppfast.api": one INFO line per download and upload, without the capability.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from ..security.firmware import FirmwareSigner

__all__ = [
    "DEFAULT_MAX_UPLOAD",
    "LINK_LIFETIME",
    "Capability",
    "FileStore",
    "TooLarge",
    "safe_name",
]

log = logging.getLogger("ocppfast.api")

# The largest upload taken by default: a station's diagnostics archive is typically a few MiB.
DEFAULT_MAX_UPLOAD = 256 << 20
# How long a station's URL stays valid beyond the last moment it may need it (the retrieve or
# upload time plus its retries): long enough for a station that retries late, not forever.
LINK_LIFETIME = datetime.timedelta(hours=24)
# Characters kept in a stored file name; any other becomes "_".
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
_MAX_NAME = 120
_CHUNK = 1 << 16
_SEPARATOR = "\n"  # never in an identity (J201 3.1.1: no control characters) nor a kind


class TooLarge(Exception):
    """An upload over the limit."""


def safe_name(name: str, default: str = "upload") -> str:
    """`name` as a plain file name inside a folder: its last path component (either slash),
    characters other than letters, digits and ._+- replaced by "_", no leading dot (no hidden
    file, no ".."), at most 120 characters; `default` when nothing is left."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).lstrip(".")[-_MAX_NAME:]
    return cleaned or default


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Capability:
    """What a capability grants: `kind` "download" (of `name`) or "upload", for station
    `identity` and its operation `operation`, until `expires` (seconds since the epoch)."""

    kind: str
    identity: str
    operation: int
    expires: int
    name: str = ""

    def _message(self) -> bytes:
        fields = (self.kind, self.identity, str(self.operation), str(self.expires), self.name)
        return _SEPARATOR.join(fields).encode("utf-8")

    def token(self, secret: bytes) -> str:
        """The URL-safe token: the fields (base64url) and their HMAC-SHA256."""
        mac = hmac.new(secret, self._message(), hashlib.sha256).digest()
        return f"{_b64(self._message())}.{_b64(mac)}"

    @classmethod
    def parse(cls, token: str, secret: bytes, now: float) -> Capability | None:
        """The capability of `token` if its MAC is right and it has not expired, else None."""
        head, _, tail = token.partition(".")
        try:
            message, mac = _unb64(head), _unb64(tail)
        except (ValueError, TypeError):
            return None
        expected = hmac.new(secret, message, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            return None
        kind, identity, operation, expires, name = message.decode("utf-8").split(_SEPARATOR)
        capability = cls(kind, identity, int(operation), int(expires), name)
        return capability if now < capability.expires else None


class FileStore:
    """The file server's folder and keys: `root` (created), `secret` (the HMAC key),
    `base_url` (how stations reach this server: `--public-url`, else the API's address, set
    when the API starts), `max_upload` (bytes), `firmware_signer` (what signs firmware for
    signed updates, if any)."""

    def __init__(
        self,
        root: Path,
        *,
        base_url: str | None = None,
        max_upload: int = DEFAULT_MAX_UPLOAD,
        clock: Callable[[], float] | None = None,
        firmware_signer: FirmwareSigner | None = None,
    ) -> None:
        self.root = Path(root).absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self.uploads = self.root / "uploads"
        self.base_url = base_url.rstrip("/") if base_url else None
        self.max_upload = max_upload
        self.secret = b""  # set by the API from the state: CsmsState.file_secret
        self._clock = clock or (lambda: datetime.datetime.now(datetime.timezone.utc).timestamp())
        self.firmware_signer = firmware_signer
        # name -> ((size, mtime_ns), signature): a file signed once while it does not change.
        self._signatures: dict[str, tuple[tuple[int, int], str]] = {}

    def now(self) -> float:
        return self._clock()

    # -- capabilities ---------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if self.base_url is None:
            raise RuntimeError("the file server's base URL is not known before the API starts")
        return self.base_url + path

    def download_url(
        self, identity: str, operation: int, name: str, expires: datetime.datetime
    ) -> str:
        """The URL a station downloads firmware `name` from, for its `operation`."""
        capability = Capability("download", identity, operation, int(expires.timestamp()), name)
        return self._url(f"/station-files/{capability.token(self.secret)}/{name}")

    def upload_url(self, identity: str, operation: int, expires: datetime.datetime) -> str:
        """The URL (a folder: PUT a file name under it, or POST multipart to it) a station
        uploads to, for its `operation`."""
        capability = Capability("upload", identity, operation, int(expires.timestamp()))
        return self._url(f"/station-uploads/{capability.token(self.secret)}")

    def check(self, token: str, kind: str, name: str = "") -> Capability | None:
        """The capability of `token` if it grants `kind` (of `name`, for a download) now."""
        capability = Capability.parse(token, self.secret, self.now())
        if capability is None or capability.kind != kind:
            return None
        if kind == "download" and capability.name != name:
            return None
        return capability

    # -- the operator's files ---------------------------------------------------------------

    def firmware(self, name: str) -> Path | None:
        """The firmware file `name` (a plain file at the top of the folder), if it exists."""
        if name != safe_name(name, ""):
            return None
        path = self.root / name
        return path if path.is_file() else None

    def firmware_files(self) -> list[tuple[str, os.stat_result]]:
        """(name, stat) of each firmware file, by name."""
        found: list[tuple[str, os.stat_result]] = []
        for path in sorted(self.root.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                found.append((path.name, path.stat()))
        return found

    async def sign_firmware(self, name: str) -> tuple[str, str]:
        """(signing certificate PEM, base64 signature) of the firmware file `name` over its
        exact bytes (SW L01.FR.04/09/11), hashed in a thread. Raises LookupError when there is
        no such file, RuntimeError without a `firmware_signer`."""
        signer = self.firmware_signer
        if signer is None:
            raise RuntimeError("no firmware signer")
        path = self.firmware(name)
        if path is None:
            raise LookupError(name)
        stat = path.stat()
        version = (stat.st_size, stat.st_mtime_ns)
        known = self._signatures.get(name)
        if known is not None and known[0] == version:
            return signer.certificate_pem, known[1]
        signature = await asyncio.to_thread(signer.sign, path)
        self._signatures[name] = (version, signature)
        log.info("signed firmware file %s (%d bytes) for a signed update", name, stat.st_size)
        return signer.certificate_pem, signature

    def upload_path(self, identity: str, name: str) -> Path:
        """A new file in `uploads/<identity>/` for an upload named `name` (sanitized; a
        number added when the name is taken)."""
        folder = self.uploads / safe_name(identity, "station")
        folder.mkdir(parents=True, exist_ok=True)
        cleaned = safe_name(name)
        stem, dot, suffix = cleaned.partition(".")
        candidate = folder / cleaned
        number = 1
        while candidate.exists():
            candidate = folder / f"{stem}-{number}{dot}{suffix}"
            number += 1
        return candidate

    def stored(self, relative: str) -> Path | None:
        """The stored upload at `relative` (as an `Upload.path` holds it), if it exists."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.uploads.resolve()) or not path.is_file():
            return None
        return path

    async def save(self, chunks: AsyncIterator[bytes], target: Path) -> int:
        """Write `chunks` to `target` (through a temporary file, renamed once complete);
        return its size. TooLarge, with nothing left behind, beyond `max_upload`."""
        partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        size = 0
        try:
            with partial.open("wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_upload:
                        raise TooLarge
                    out.write(chunk)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return size


async def body_chunks(request: web.Request) -> AsyncIterator[bytes]:
    """The request's raw body, in chunks."""
    while True:
        chunk = await request.content.read(_CHUNK)
        if not chunk:
            return
        yield chunk
