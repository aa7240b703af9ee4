"""Firmware updates and log uploads of a charging station, for every OCPP version.

What a station's firmware and diagnostics management does, apart from the messages of its
version (which `Station16` and `StationV2` build):

- `download` and `upload`: file transfer over HTTP(S) with aiohttp (the only protocols this
  station offers: 1.6 C16 5.9 / 5.19 leave them to the implementation, 2.x lists them in
  OCPPCommCtrlr.FileTransferProtocols). A download streams to a file in a temporary directory,
  bounded in size and time. An upload PUTs the file to the location joined with its name (the
  location is a directory, C16 5.9) and, when the server answers 405 Method Not Allowed, POSTs
  it as multipart/form-data (field "file") to the location itself.
- `StationLog` and `TrafficCapture`: what the station keeps for a diagnostics upload, in bounded
  in-memory rings: its own log lines (the `log` of the station, wrapped) and the OCPP frames it
  sent and received (a `ConnectionObserver` the station puts on each connection), each with
  the station's time.
- `write_archive`: the tar.gz a GetDiagnostics / GetLog uploads, with the log lines and frames
  of the time window asked for (or the security events for a 2.x / SW SecurityLog).
- `Maintenance`: the jobs themselves, one firmware update and one upload at a time: wait for
  the retrieve date, download with retries, wait for the transactions to end, install through
  `Hardware.install_firmware`, reboot; collect, archive and upload with retries. It reports
  every step through the `Reporter` the station gives it (the status notifications), and keeps
  the state of a firmware update in `StationData.state` so that a restart reports the right
  status (after the install reboot: Installed).
- Signed firmware (SW L01, 2.x L01; `ocppfast.security.firmware`): the station checks the
  signing certificate against its manufacturer roots when the request comes
  (`signing_certificate_problem`: InvalidCertificate, L01.FR.23/24), and the signature over the
  whole downloaded file before installing: SignatureVerified, or InvalidSignature with the
  security event InvalidFirmwareSignature and no install (L01.FR.03/04, TC_L_01/06_CS).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
import shutil
import tarfile
import tempfile
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

import aiohttp
from cryptography import x509

from ..asyncio.connection import Connection, ConnectionObserver
from ..hardware import FirmwareInstallError, Hardware
from ..security.firmware import (
    FirmwareCertificateError,
    FirmwareVerificationError,
    check_signing_certificate,
    verify_firmware,
)
from ..transport import shown
from .config import parse_time
from .store import StationData

__all__ = [
    "DOWNLOAD_MAX_BYTES",
    "FIRMWARE_STATE",
    "FirmwareUpdate",
    "LogUpload",
    "Maintenance",
    "Reporter",
    "StationLog",
    "TrafficCapture",
    "TransferError",
    "download",
    "manufacturer_roots_of",
    "nonnegative",
    "optional_time",
    "upload",
    "write_archive",
]

# The largest firmware image the station accepts: a charger's update partition.
DOWNLOAD_MAX_BYTES = 256 * 1024 * 1024
# Seconds a whole transfer may take, and without a byte moving.
TRANSFER_TIMEOUT = 600.0
TRANSFER_IDLE_TIMEOUT = 60.0
# Seconds between two looks at whether the transactions have ended (install waits for them).
IDLE_POLL = 1.0
# What the rings keep by default, in bytes of text: a few thousand lines and frames.
LOG_RING_BYTES = 256 * 1024
TRAFFIC_RING_BYTES = 512 * 1024
# The name of the firmware update's record in StationData.state.
FIRMWARE_STATE = "firmware_update"
_SCHEMES = ("http", "https")
_CHUNK = 64 * 1024


def manufacturer_roots_of(station: Any) -> list[x509.Certificate]:
    """The manufacturer root certificates a firmware signing certificate of `station` may be
    issued by (L01.FR.12): those of its certificate store
    (`station.certificates.roots("ManufacturerRootCertificate")`, installed through
    InstallCertificate) when it has one, and those in its `manufacturer_roots` list (set by
    the code that builds the station, e.g. `ocppfast station --manufacturer-root`)."""
    roots: list[x509.Certificate] = list(getattr(station, "manufacturer_roots", None) or ())
    store = getattr(station, "certificates", None)
    if store is not None and hasattr(store, "roots"):
        roots.extend(store.roots("ManufacturerRootCertificate"))
    return roots


def nonnegative(value: Any) -> int:
    """A request's optional retries / retryInterval: absent (UNSET) or negative counts as 0."""
    return value if isinstance(value, int) and value > 0 else 0


def optional_time(value: Any) -> datetime | None:
    """A request's optional time (startTime, oldestTimestamp, ...): None when absent."""
    return value if isinstance(value, datetime) else None


class TransferError(RuntimeError):
    """A download or upload failed; the message says why, for the log."""


def _check_scheme(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in _SCHEMES:
        raise TransferError(
            f"the {scheme or 'missing'} scheme of {url!r} is not supported: this station "
            "transfers files over http and https only"
        )


def _timeout(total: float, idle: float) -> aiohttp.ClientTimeout:
    # sock_read: the longest wait for the next bytes of the answer (its head or its body).
    return aiohttp.ClientTimeout(total=total, sock_connect=min(30.0, total), sock_read=idle)


def _file_name(url: str, default: str) -> str:
    """The last path segment of `url`, safe as a file name (`default` when there is none)."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return name[:100] or default


async def download(
    url: str,
    directory: Path,
    *,
    max_bytes: int = DOWNLOAD_MAX_BYTES,
    timeout: float = TRANSFER_TIMEOUT,
    idle_timeout: float = TRANSFER_IDLE_TIMEOUT,
) -> Path:
    """GET `url` into a new file in `directory` and return its path. Raises `TransferError`
    for a scheme other than http(s), an answer other than 200, a body larger than `max_bytes`,
    a body cut short, a transfer that takes longer than `timeout` seconds, or one that stalls:
    no byte for `idle_timeout` seconds (a slow server whose bytes keep coming is waited for)."""
    _check_scheme(url)
    target = directory / _file_name(url, "firmware.bin")
    try:
        async with (
            aiohttp.ClientSession(timeout=_timeout(timeout, idle_timeout)) as session,
            session.get(url) as response,
        ):
            if response.status != 200:
                raise TransferError(f"GET {url} answered {response.status} {response.reason}")
            if response.content_length is not None and response.content_length > max_bytes:
                raise TransferError(
                    f"{url} is {response.content_length} bytes, more than the {max_bytes} "
                    "this station accepts"
                )
            size = 0
            with target.open("wb") as file:
                async for chunk in response.content.iter_chunked(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TransferError(f"{url} is larger than {max_bytes} bytes")
                    file.write(chunk)
    except TransferError:
        target.unlink(missing_ok=True)
        raise
    except asyncio.TimeoutError:
        target.unlink(missing_ok=True)
        raise TransferError(f"GET {url} timed out") from None
    except (aiohttp.ClientError, OSError, ValueError) as error:
        target.unlink(missing_ok=True)
        raise TransferError(f"GET {url} failed: {error or type(error).__name__}") from error
    return target


async def upload(
    location: str,
    path: Path,
    *,
    timeout: float = TRANSFER_TIMEOUT,
    idle_timeout: float = TRANSFER_IDLE_TIMEOUT,
) -> str:
    """Upload the file `path` to the directory `location`: PUT to `location`/<file name>; when
    the server answers 405, POST it as multipart/form-data (field "file") to `location`.
    Returns the URL it went to. Raises `TransferError` (FTP and other schemes than http(s)
    are not supported; `timeout` and `idle_timeout` as for `download`)."""
    _check_scheme(location)
    # The file goes into the location's path; a query (an upload token) stays the query.
    parts = urlsplit(location)
    target = parts._replace(path=parts.path.rstrip("/") + "/" + quote(path.name)).geturl()
    try:
        async with aiohttp.ClientSession(timeout=_timeout(timeout, idle_timeout)) as session:
            with path.open("rb") as file:
                async with session.put(target, data=file) as response:
                    status, reason = response.status, response.reason
            if status == 405:
                target = location
                with path.open("rb") as file:
                    form = aiohttp.FormData()
                    form.add_field(
                        "file", file, filename=path.name, content_type="application/gzip"
                    )
                    async with session.post(location, data=form) as response:
                        status, reason = response.status, response.reason
    except asyncio.TimeoutError:
        raise TransferError(f"upload to {target} timed out") from None
    except (aiohttp.ClientError, OSError, ValueError) as error:
        raise TransferError(
            f"upload to {target} failed: {error or type(error).__name__}"
        ) from error
    if not 200 <= status < 300:
        raise TransferError(f"upload to {target} answered {status} {reason}")
    return target


# -- what a diagnostics upload holds -----------------------------------------------------------


class _Ring:
    """The newest entries (time, text) whose texts add up to at most `limit` characters."""

    __slots__ = ("entries", "limit", "size")

    def __init__(self, limit: int) -> None:
        self.entries: deque[tuple[datetime, str]] = deque()
        self.limit = limit
        self.size = 0

    def add(self, moment: datetime, text: str) -> None:
        entries = self.entries
        entries.append((moment, text))
        self.size += len(text)
        while self.size > self.limit and entries:
            self.size -= len(entries.popleft()[1])

    def between(self, start: datetime | None, stop: datetime | None) -> list[tuple[datetime, str]]:
        return [
            (moment, text)
            for moment, text in self.entries
            if (start is None or moment >= start) and (stop is None or moment <= stop)
        ]


class StationLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A station's log: logs through `logger` (a Logger or a LoggerAdapter) as before, and keeps
    every line of `level` and above in a ring of `limit` characters, with the station's time,
    for diagnostics uploads. It keeps them whatever the logger's level, as a charger's own log
    file does, and only this station's: what the station logs itself."""

    def __init__(
        self,
        logger: Any,
        clock: Callable[[], datetime],
        *,
        limit: int = LOG_RING_BYTES,
        level: int = logging.INFO,
    ) -> None:
        super().__init__(logger, {})
        self.clock = clock
        self.ring = _Ring(limit)
        self.level = level

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level >= self.level:
            try:
                text = str(msg) % args if args else str(msg)
            except (TypeError, ValueError):
                text = f"{msg} {args}"
            if kwargs.get("exc_info"):
                error = kwargs["exc_info"]
                if isinstance(error, BaseException):
                    text += f" ({type(error).__name__}: {error})"
            self.ring.add(self.clock(), f"{logging.getLevelName(level)} {text}")
        self.logger.log(level, msg, *args, **kwargs)

    def lines(self, start: datetime | None = None, stop: datetime | None = None) -> list[str]:
        """The kept lines between `start` and `stop`, each with its time."""
        return [f"{_iso(moment)} {text}" for moment, text in self.ring.between(start, stop)]


class TrafficCapture(ConnectionObserver):
    """The OCPP frames a station sent (">") and received ("<"), with its time, in a ring of
    `limit` characters. Cheap on the hot path: it keeps the frame objects as they are and
    formats them only for an upload, where frames that may carry a credential are left out
    (`ocppfast.transport.shown`)."""

    __slots__ = ("clock", "frames", "limit", "size")

    def __init__(self, clock: Callable[[], datetime], *, limit: int = TRAFFIC_RING_BYTES) -> None:
        self.clock = clock
        self.frames: deque[tuple[datetime, str, bytes | str]] = deque()
        self.limit = limit
        self.size = 0

    def attach(self, connection: Any) -> None:
        """Observe `connection` (alongside the observer it has, if any)."""
        current = getattr(connection, "observer", None)
        if current is self:
            return
        if current is None:
            connection.observer = self
        else:
            from ..asyncio.connection import ConnectionObservers

            connection.observer = ConnectionObservers([current, self])

    def _add(self, direction: str, data: bytes | str) -> None:
        frames = self.frames
        frames.append((self.clock(), direction, data))
        self.size += len(data)
        while self.size > self.limit and frames:
            self.size -= len(frames.popleft()[2])

    def received(self, connection: Connection, data: bytes | str) -> None:
        self._add("<", data)

    def sent(self, connection: Connection, frames: list[bytes]) -> None:
        for frame in frames:
            self._add(">", frame)

    def lines(self, start: datetime | None = None, stop: datetime | None = None) -> list[str]:
        """The kept frames between `start` and `stop`: time, direction, text."""
        return [
            f"{_iso(moment)} {direction} {shown(data)}"
            for moment, direction, data in self.frames
            if (start is None or moment >= start) and (stop is None or moment <= stop)
        ]


def write_archive(path: Path, members: dict[str, Iterable[str]]) -> Path:
    """Write the tar.gz `path` with one text member per entry of `members` (name -> lines)
    under a folder named after the archive, and return `path`."""
    folder = path.name.removesuffix(".tar.gz")
    with tarfile.open(path, "w:gz") as archive:
        for name, lines in members.items():
            content = "".join(line + "\n" for line in lines).encode("utf-8", "replace")
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(content)
            info.mtime = int(time.time())
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(content))
    return path


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- the jobs ----------------------------------------------------------------------------------


class Reporter(Protocol):
    """How the station tells the CSMS of a job's progress, in the messages of its version."""

    async def firmware_status(self, status: str, request_id: int | None) -> None:
        """Send a FirmwareStatusNotification with `status` (a 2.x FirmwareStatusEnumType name;
        only those of the station's version are asked for)."""
        ...

    async def upload_status(self, upload: LogUpload, status: str) -> None:
        """Send the status notification of `upload` (1.6 DiagnosticsStatusNotification, else
        LogStatusNotification) with `status`."""
        ...

    def transactions_running(self) -> bool:
        """Whether a transaction runs: the install waits until none does."""
        ...

    def installation_pending(self, pending: bool) -> None:
        """The installation waits for the transactions to end (True: C16 5.19 recommends, 2.x
        L01.FR.07 requires, that the station set its connectors not in use Unavailable until
        the firmware is installed), or no longer does because the update ended without the
        reboot (False: it failed or was canceled; the connectors come back). The reboot into
        the new firmware ends it as any reboot does."""
        ...

    async def reboot(self) -> None:
        """Reboot into the installed firmware (2.x: the next boot reason is FirmwareUpdate)."""
        ...

    def security_event(self, kind: str, info: str) -> None:
        """Record (and, when critical, push) a security event (2.x, SW)."""
        ...


@dataclass
class FirmwareUpdate:
    """What an UpdateFirmware asked for (1.6 C16 5.19; 2.x L01 / L02; SW SignedUpdateFirmware).
    `request_id` is None in a 1.6 UpdateFirmware; `install_at` only 2.x and SW (installDateTime);
    `signing_certificate` (PEM) and `signature` (base64) for signed firmware (L01)."""

    location: str
    retrieve_at: datetime
    retries: int = 0
    retry_interval: float = 0.0
    request_id: int | None = None
    install_at: datetime | None = None
    signing_certificate: str | None = None
    signature: str | None = None

    @property
    def signed(self) -> bool:
        """Whether the update is signed firmware (L01): verified before it is installed."""
        return self.signing_certificate is not None or self.signature is not None

    def to_state(self, phase: str, status: str) -> dict[str, Any]:
        return {
            "location": self.location,
            "retrieve_at": _iso(self.retrieve_at),
            "install_at": None if self.install_at is None else _iso(self.install_at),
            "retries": self.retries,
            "retry_interval": self.retry_interval,
            "request_id": self.request_id,
            "signing_certificate": self.signing_certificate,
            "signature": self.signature,
            "phase": phase,
            "status": status,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FirmwareUpdate | None:
        retrieve = parse_time(state.get("retrieve_at"))
        location = state.get("location")
        if retrieve is None or not isinstance(location, str):
            return None
        request_id = state.get("request_id")
        certificate, signature = state.get("signing_certificate"), state.get("signature")
        return cls(
            location=location,
            retrieve_at=retrieve,
            retries=int(state.get("retries") or 0),
            retry_interval=float(state.get("retry_interval") or 0),
            request_id=request_id if isinstance(request_id, int) else None,
            install_at=parse_time(state.get("install_at")),
            signing_certificate=certificate if isinstance(certificate, str) else None,
            signature=signature if isinstance(signature, str) else None,
        )


@dataclass
class LogUpload:
    """What a GetDiagnostics (1.6, `kind` "Diagnostics") or GetLog (`kind` "DiagnosticsLog"
    or "SecurityLog") asked for: where to, with how many retries, the time window."""

    kind: str
    location: str
    file_name: str
    retries: int = 0
    retry_interval: float = 0.0
    request_id: int | None = None
    start: datetime | None = None
    stop: datetime | None = None


# The firmware update's phases as StationData.state keeps them.
_WAITING = "waiting"
_DOWNLOADING = "downloading"
_INSTALLING = "installing"
_INSTALLED = "installed"


class Maintenance:
    """The firmware update and the log upload of one station (see the module docstring).

    - `name`: the station's identity (file names); `log`: its `StationLog`; `traffic`: its
      `TrafficCapture`; `clock`: its time; `data`: its `StationData` (the firmware update's
      state); `hardware`: what installs; `reporter`: the station's messages.
    - `firmware_statuses`: the FirmwareStatus values of the station's version: the others are
      not reported (1.6 has no DownloadScheduled, InstallScheduled, InstallRebooting).
      `signed_firmware_statuses`: those of a signed update (1.6: SW FirmwareStatusEnumType,
      sent as SignedFirmwareStatusNotification); default `firmware_statuses`.
    - `manufacturer_roots`: the station's manufacturer root certificates (its certificate
      store's ManufacturerRootCertificate), which a firmware signing certificate must be
      issued by (L01.FR.12); none: every signed update is InvalidCertificate.
    - `security_log`: the station's security events (time, type, tech info), for SecurityLog.
    - `name_in_lines`: start log lines with `name` (for a log that does not add it itself).
    - `transfer_timeout`, `idle_timeout`: the seconds a download or upload may take, and may
      go without a byte moving (attributes: a station on a slow link, or a test, changes them).
    """

    def __init__(
        self,
        *,
        name: str,
        log: StationLog,
        traffic: TrafficCapture,
        clock: Callable[[], datetime],
        data: StationData,
        hardware: Hardware,
        reporter: Reporter,
        firmware_statuses: frozenset[str],
        signed_firmware_statuses: frozenset[str] | None = None,
        manufacturer_roots: Callable[[], Sequence[x509.Certificate]] = tuple,
        security_log: Iterable[tuple[datetime, str, str]] = (),
        name_in_lines: bool = False,
        transfer_timeout: float = TRANSFER_TIMEOUT,
        idle_timeout: float = TRANSFER_IDLE_TIMEOUT,
    ) -> None:
        self.name = name
        # Whether log lines start with the identity (1.6's log does not add it; 2.x's does).
        self._prefix = f"{name}: " if name_in_lines else ""
        self.log = log
        self.traffic = traffic
        self.clock = clock
        self.data = data
        self.hardware = hardware
        self.reporter = reporter
        self.firmware_statuses = firmware_statuses
        self.signed_firmware_statuses = signed_firmware_statuses or firmware_statuses
        self.manufacturer_roots = manufacturer_roots
        self.security_log = security_log
        self.transfer_timeout = transfer_timeout
        self.idle_timeout = idle_timeout
        self.firmware: FirmwareUpdate | None = None
        # The last FirmwareStatus reported for the update in progress (TriggerMessage).
        self.firmware_status = "Idle"
        self.upload: LogUpload | None = None
        self.upload_status = "Idle"
        # What a handler accepted, for its after-hook to start (by id of the request).
        self.prepared: dict[int, Any] = {}
        self._firmware_task: asyncio.Task[None] | None = None
        self._upload_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        state = data.state.get(FIRMWARE_STATE)
        self._restored: dict[str, Any] | None = state if isinstance(state, dict) else None
        self._stored: asyncio.Future[None] | None = None

    def _say(self, level: int, message: str, *args: Any, **kwargs: Any) -> None:
        self.log.log(level, self._prefix + message, *args, **kwargs)

    # -- firmware --------------------------------------------------------------------------

    @property
    def firmware_busy(self) -> bool:
        """Whether a firmware update is in progress (between UpdateFirmware and its end)."""
        return self._firmware_task is not None and not self._firmware_task.done()

    def signing_certificate_problem(self, certificate: Any) -> str | None:
        """Why the signing certificate (PEM) of a signed update is not valid, or None when it
        is (L01.FR.23: checked when the request comes, before accepting it; L01.FR.12:
        issued by a manufacturer root, the X.509 rules). The handler answers InvalidCertificate
        with the security event InvalidFirmwareSigningCertificate otherwise (L01.FR.02/24)."""
        if not isinstance(certificate, str):
            return "the request has no signing certificate"
        try:
            check_signing_certificate(certificate, self._roots(), now=self._now())
        except FirmwareCertificateError as error:
            return str(error)
        return None

    def _roots(self) -> Sequence[x509.Certificate]:
        try:
            return self.manufacturer_roots()
        except Exception as error:  # a broken certificate store must not break the station
            self._say(logging.ERROR, "cannot read the manufacturer root certificates: %s", error)
            return ()

    def _now(self) -> datetime:
        # Certificates are valid in real time; the station's clock may be simulated, but a
        # test clock far from the real time would make every certificate look expired.
        return datetime.now(timezone.utc)

    def update_firmware(self, update: FirmwareUpdate) -> bool:
        """Start `update`; returns whether it replaced one in progress (2.x L01.FR.24: the
        answer is then AcceptedCanceled and the old one stops)."""
        canceled = self.firmware_busy
        if canceled:
            assert self._firmware_task is not None
            self._firmware_task.cancel()
            self._say(
                logging.INFO,
                "firmware update %s canceled by a new UpdateFirmware",
                _shown_id(self.firmware),
            )
        self.firmware = update
        self.firmware_status = "Idle"
        self._keep(update, _WAITING, "Idle")
        self._firmware_task = self._spawn(self._run_firmware(update), "firmware update")
        return canceled

    async def after_boot(self) -> None:
        """After an accepted BootNotification: carry on with a firmware update a restart
        interrupted. Installed before the reboot: report Installed (2.x: with the
        FirmwareUpdated security event first, TC_L_01_CS step 15); cut short while installing:
        InstallationFailed; earlier: start it again from the download."""
        state, self._restored = self._restored, None
        if state is None:
            return
        update = FirmwareUpdate.from_state(state)
        phase = state.get("phase")
        if update is None:
            self._forget()
            return
        self.firmware = update
        if phase == _INSTALLED:
            self.reporter.security_event("FirmwareUpdated", f"installed from {update.location}")
            self._say(logging.INFO, "rebooted into the new firmware: Installed")
            await self._report("Installed")
            self._end_firmware()
        elif phase == _INSTALLING:
            self._say(
                logging.ERROR,
                "the firmware installation was cut short by a restart: InstallationFailed",
            )
            await self._report("InstallationFailed")
            self._end_firmware()
        else:
            self._say(
                logging.INFO,
                "resuming the firmware update from %s after a restart",
                update.location,
            )
            self.update_firmware(update)

    async def _run_firmware(self, update: FirmwareUpdate) -> None:
        directory = Path(tempfile.mkdtemp(prefix="ocppfast-firmware-"))
        pending = [False]  # whether the connectors were closed for the installation
        try:
            await self._firmware_steps(update, directory, pending)
        finally:
            if pending[0]:
                self.reporter.installation_pending(False)
            await asyncio.to_thread(shutil.rmtree, directory, True)

    async def _firmware_steps(
        self, update: FirmwareUpdate, directory: Path, pending: list[bool]
    ) -> None:
        """The update's steps; `pending[0]` is True while the connectors are closed for the
        installation (until the reboot, which reopens them itself)."""
        wait = (update.retrieve_at - self.clock()).total_seconds()
        if wait > 0:
            # L01.FR.13 / L02: DownloadScheduled while waiting for retrieveDateTime.
            self._say(logging.INFO, "firmware download scheduled at %s", _iso(update.retrieve_at))
            await self._report("DownloadScheduled")
            await asyncio.sleep(wait)
        image = await self._download_firmware(update, directory)
        if image is None:
            return
        if update.signed and not await self._verify_firmware(update, image):
            return
        install_at = update.install_at
        wait = 0.0 if install_at is None else (install_at - self.clock()).total_seconds()
        if install_at is not None and wait > 0:
            # L01.FR.16: InstallScheduled until installDateTime.
            self._say(logging.INFO, "firmware installation scheduled at %s", _iso(install_at))
            await self._report("InstallScheduled")
            await asyncio.sleep(wait)
        if self.reporter.transactions_running():
            # C16 5.19 / L01.FR.06: the installation waits until the transactions have ended;
            # L01.FR.07 (TC_L_15_CS step 11): the connectors not in use close meanwhile.
            self._say(logging.INFO, "firmware installation waits for the transactions to end")
            if wait <= 0:
                await self._report("InstallScheduled")
            pending[0] = True
            self.reporter.installation_pending(True)
            while self.reporter.transactions_running():
                await asyncio.sleep(IDLE_POLL)
        self._keep(update, _INSTALLING, "Installing")
        await self._report("Installing")
        self._say(logging.INFO, "installing firmware %s", image.name)
        try:
            await self.hardware.install_firmware(image)
        except FirmwareInstallError as error:
            self._say(logging.ERROR, "firmware installation failed: %s", error)
            await self._report("InstallationFailed")
            self._end_firmware()
            return
        self._keep(update, _INSTALLED, "InstallRebooting")
        await self._wrote()
        await self._report("InstallRebooting")
        self._say(logging.INFO, "firmware installed; rebooting into it")
        # After the reboot, `after_boot` reports Installed: the state says so.
        self._restored = update.to_state(_INSTALLED, "InstallRebooting")
        pending[0] = False  # the reboot reopens the connectors (TC_L_15_CS step 21)
        await self.reporter.reboot()

    async def _download_firmware(self, update: FirmwareUpdate, directory: Path) -> Path | None:
        self._keep(update, _DOWNLOADING, "Downloading")
        attempts = update.retries + 1
        for attempt in range(1, attempts + 1):
            await self._report("Downloading")
            self._say(
                logging.INFO,
                "downloading firmware from %s (attempt %d of %d)",
                update.location,
                attempt,
                attempts,
            )
            try:
                image = await download(
                    update.location,
                    directory,
                    timeout=self.transfer_timeout,
                    idle_timeout=self.idle_timeout,
                )
            except TransferError as error:
                self._say(logging.WARNING, "firmware download failed: %s", error)
                if attempt < attempts:
                    await asyncio.sleep(update.retry_interval)
                    continue
                await self._report("DownloadFailed")
                self._end_firmware()
                return None
            size = image.stat().st_size
            self._say(logging.INFO, "firmware downloaded (%d bytes)", size)
            await self._report("Downloaded")
            return image
        return None  # pragma: no cover - the loop returns

    async def _verify_firmware(self, update: FirmwareUpdate, image: Path) -> bool:
        """L01.FR.04: verify the signature over the whole downloaded file before installing:
        SignatureVerified, or InvalidSignature with the security event InvalidFirmwareSignature
        (L01.FR.03, TC_L_06_CS) and the update ends without installing. A signing certificate
        that no longer verifies (expired since the request, roots changed, a restart): the
        InvalidCertificate state where the version has it (SW), else InvalidSignature, with
        the event InvalidFirmwareSigningCertificate (L01.FR.02)."""
        roots = self._roots()
        try:
            await asyncio.to_thread(
                verify_firmware,
                image,
                update.signature or "",
                update.signing_certificate or "",
                roots,
                now=self._now(),
            )
        except FirmwareVerificationError as error:
            certificate = isinstance(error, FirmwareCertificateError)
            event = (
                "InvalidFirmwareSigningCertificate" if certificate else "InvalidFirmwareSignature"
            )
            status = (
                "InvalidCertificate"
                if certificate and "InvalidCertificate" in self.signed_firmware_statuses
                else "InvalidSignature"
            )
            self._say(logging.ERROR, "firmware %s not installed: %s: %s", image.name, status, error)
            await self._report(status)
            self.reporter.security_event(event, str(error)[:255])
            self._end_firmware()
            return False
        except OSError as error:
            self._say(logging.ERROR, "cannot read the downloaded firmware: %s", error)
            await self._report("InvalidSignature")
            self.reporter.security_event("InvalidFirmwareSignature", f"unreadable: {error}"[:255])
            self._end_firmware()
            return False
        self._say(logging.INFO, "firmware signature verified (%s)", image.name)
        await self._report("SignatureVerified")
        return True

    async def _report(self, status: str) -> None:
        update = self.firmware
        signed = update is not None and update.signed
        if status not in (self.signed_firmware_statuses if signed else self.firmware_statuses):
            return
        self.firmware_status = status
        await self.reporter.firmware_status(status, None if update is None else update.request_id)

    def _keep(self, update: FirmwareUpdate, phase: str, status: str) -> None:
        state = update.to_state(phase, status)
        self._stored = self._written(self.data.set_state(FIRMWARE_STATE, state))

    def _written(self, stored: asyncio.Future[None]) -> asyncio.Future[None]:
        def done(future: asyncio.Future[None]) -> None:
            if not future.cancelled() and future.exception() is not None:
                self._say(
                    logging.ERROR,
                    "could not keep the firmware update's state: %s",
                    future.exception(),
                )

        stored.add_done_callback(done)
        return stored

    async def _wrote(self) -> None:
        stored = self._stored
        if stored is not None:
            with contextlib.suppress(Exception):
                await stored

    def _forget(self) -> None:
        self._stored = self._written(self.data.set_state(FIRMWARE_STATE, None))

    def _end_firmware(self) -> None:
        self._forget()
        self.firmware = None
        self.firmware_status = "Idle"

    # -- uploads ---------------------------------------------------------------------------

    @property
    def upload_busy(self) -> bool:
        """Whether an upload is in progress."""
        return self._upload_task is not None and not self._upload_task.done()

    def uploading(self) -> LogUpload | None:
        """The upload in progress, if any (a triggered status notification reports it)."""
        return self.upload if self.upload_busy else None

    def firmware_in_progress(self) -> tuple[str, int | None]:
        """The last FirmwareStatus reported for the update in progress and its request id;
        ("Idle", None) when none is (a triggered FirmwareStatusNotification reports it)."""
        if not self.firmware_busy or self.firmware is None:
            return "Idle", None
        return self.firmware_status, self.firmware.request_id

    def file_name(self, kind: str) -> str:
        """The name of the archive an upload of `kind` sends: identity, kind, station time."""
        stamp = self.clock().astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", self.name)
        return f"{safe}-{kind}-{stamp}.tar.gz"

    def log_request(self, request: Any, kind: str) -> LogUpload:
        """The upload a GetLog request (SW 1.6 and 2.x share its fields) asks for."""
        return LogUpload(
            kind=kind,
            location=request.log.remote_location,
            file_name=self.file_name(kind),
            retries=nonnegative(request.retries),
            retry_interval=nonnegative(request.retry_interval),
            request_id=request.request_id,
            start=optional_time(request.log.oldest_timestamp),
            stop=optional_time(request.log.latest_timestamp),
        )

    def start_upload(self, job: LogUpload) -> LogUpload | None:
        """Start `job`; returns the upload it canceled, if one was in progress (GetLog:
        AcceptedCanceled, N01.FR.12, TC_N_36_CS)."""
        previous = self.upload if self.upload_busy else None
        if previous is not None:
            assert self._upload_task is not None
            self._upload_task.cancel()
            self._say(logging.INFO, "upload of %s canceled by a new request", previous.file_name)
        self.upload = job
        self._upload_task = self._spawn(self._run_upload(job, previous), "log upload")
        return previous

    async def _run_upload(self, job: LogUpload, canceled: LogUpload | None) -> None:
        if canceled is not None:
            await self.reporter.upload_status(canceled, "AcceptedCanceled")
        directory = Path(tempfile.mkdtemp(prefix="ocppfast-logs-"))
        try:
            path = await asyncio.to_thread(
                write_archive, directory / job.file_name, self._members(job)
            )
            await self._upload_steps(job, path)
        finally:
            if self.upload is job:
                self.upload_status = "Idle"
            await asyncio.to_thread(shutil.rmtree, directory, True)

    def _members(self, job: LogUpload) -> dict[str, Iterable[str]]:
        if job.kind == "SecurityLog":
            return {
                "security.log": [
                    f"{_iso(moment)} {kind} {info}".rstrip()
                    for moment, kind, info in list(self.security_log)
                    if (job.start is None or moment >= job.start)
                    and (job.stop is None or moment <= job.stop)
                ]
            }
        return {
            "station.log": self.log.lines(job.start, job.stop),
            "traffic.log": self.traffic.lines(job.start, job.stop),
        }

    async def _upload_steps(self, job: LogUpload, path: Path) -> None:
        attempts = job.retries + 1
        failed = "UploadFailed" if job.kind == "Diagnostics" else "UploadFailure"
        for attempt in range(1, attempts + 1):
            self.upload_status = "Uploading"
            await self.reporter.upload_status(job, "Uploading")
            self._say(
                logging.INFO,
                "uploading %s (%d bytes) to %s (attempt %d of %d)",
                job.file_name,
                path.stat().st_size,
                job.location,
                attempt,
                attempts,
            )
            try:
                target = await upload(
                    job.location,
                    path,
                    timeout=self.transfer_timeout,
                    idle_timeout=self.idle_timeout,
                )
            except TransferError as error:
                self._say(logging.WARNING, "upload failed: %s", error)
                if attempt < attempts:
                    await asyncio.sleep(job.retry_interval)
                    continue
                self.upload_status = failed
                await self.reporter.upload_status(job, failed)
                return
            self._say(logging.INFO, "uploaded %s to %s", job.file_name, target)
            self.upload_status = "Uploaded"
            await self.reporter.upload_status(job, "Uploaded")
            return

    # -- tasks -----------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        task.set_name(f"{self.name}: {what}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            what = task.get_name().removeprefix(f"{self.name}: ")
            self._say(logging.ERROR, "%s failed", what, exc_info=task.exception())

    def cancel(self) -> None:
        """Stop every job (the station shuts down)."""
        for task in list(self._tasks):
            task.cancel()


def _shown_id(update: FirmwareUpdate | None) -> str:
    if update is None or update.request_id is None:
        return ""
    return f"(request {update.request_id})"
