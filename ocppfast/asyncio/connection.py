"""Connection: one OCPP-J connection, driving one core `Session` over one `Transport`.

The same class serves both roles. It reads frames from the transport and feeds them to the
session, whose dispatcher hands the peer's CALLs to the `Handlers`; it sends what the session
produces, in order; it turns the session's events into results for `call()`, log lines and
after-hooks; and it owns the one clock the core is given (`loop.time()`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._core import BACKEND, Backend
from .._core.dispatcher import internal_error
from .._core.message import Request
from .._core.quirks import QuirkProfile
from .._core.types import (
    MESSAGE_MODULES,
    OCPP21,
    CallCompleted,
    CallDispatched,
    CallFailed,
    CallRefused,
    DuplicateCallRejected,
    FrameIgnored,
    FrameRejected,
    ResultDropped,
    ResultRejectedByPeer,
    SendReceived,
    check_version,
)
from ..exceptions import OCPPError, OutgoingMessageError, SessionClosedError
from ..transport import Transport, TransportClosed, shown
from .handlers import Handlers, maybe_await

__all__ = ["DEFAULT_CALL_TIMEOUT", "Connection", "ConnectionObserver", "ConnectionObservers"]

DEFAULT_CALL_TIMEOUT = 30.0
_log = logging.getLogger("ocppfast.connection")
# "ocppfast.v201." and so on: one string per version, not one per connection.
_MODULE_PREFIXES = {version: module + "." for version, module in MESSAGE_MODULES.items()}


@functools.cache
def shared_validator(core: Backend, version: str, check_outgoing: bool = True) -> Any:
    """The validator of every connection without quirks (and of anyone else who needs one):
    without quirks it keeps no state, so one per backend and version serves all."""
    return core.validator.Validator(version, check_outgoing=check_outgoing)


def _call_method(owner: Any, name: str, request: Any) -> Any:
    return getattr(owner, name)(request)


class ConnectionObserver:
    """Told of what passes through the connections it is given to: a CSMS's traffic log and
    metrics. Its methods run inline on the event loop, for every frame: keep them cheap. The
    base class ignores everything; override what you need."""

    def received(self, connection: Connection, data: bytes | str) -> None:
        """A frame came from the peer (before it is handled)."""

    def sent(self, connection: Connection, frames: list[bytes]) -> None:
        """Frames are about to be written to the peer, in this order."""

    def call_finished(
        self, connection: Connection, action: str, seconds: float, error: BaseException | None
    ) -> None:
        """One of our CALLs ended after `seconds`: answered (`error` None), or with the
        `OCPPError` of its CALLERROR, or a timeout or close."""

    def tolerated(self, connection: Connection, quirk: str) -> None:
        """A quirk of the peer's profile let through a violation of the schema."""


class ConnectionObservers(ConnectionObserver):
    """Several observers as one (a server takes one): each is told everything, in order."""

    __slots__ = ("observers",)

    def __init__(self, observers: Sequence[ConnectionObserver]) -> None:
        self.observers = tuple(observers)

    def received(self, connection: Connection, data: bytes | str) -> None:
        for observer in self.observers:
            observer.received(connection, data)

    def sent(self, connection: Connection, frames: list[bytes]) -> None:
        for observer in self.observers:
            observer.sent(connection, frames)

    def call_finished(
        self, connection: Connection, action: str, seconds: float, error: BaseException | None
    ) -> None:
        for observer in self.observers:
            observer.call_finished(connection, action, seconds, error)

    def tolerated(self, connection: Connection, quirk: str) -> None:
        for observer in self.observers:
            observer.tolerated(connection, quirk)


class Connection:
    """One OCPP-J connection over `transport`, for `role` ("csms" or "station").

    - `version`: the OCPP version, by default the transport's negotiated subprotocol.
    - `handlers`: a `Handlers` instance (or class, instantiated with no arguments) answering the
      peer's CALLs; without one, every CALL is answered NotSupported.
    - `identity`: the station's identity, for the log.
    - `call_timeout`: default seconds to wait for the answer to one of our CALLs.
    - `quirks`: a quirk profile tolerating named schema violations of this peer.
    - `check_outgoing`: validate what we send (default True).
    - `core`: the core backend (default: the compiled one when built).
    - `observer`: a `ConnectionObserver` told of every frame (e.g. a traffic log).

    Run it with `await connection.run()` (returns when the connection has closed); meanwhile,
    `await connection.call(request)` sends a CALL and returns its typed response.
    """

    # A big CSMS holds one per station: slots keep each small (docs/performance.md).
    __slots__ = (
        "__weakref__",
        "_answered",
        "_deadline",
        "_direct",
        "_ended",
        "_ended_waiter",
        "_held",
        "_held_until",
        "_lock",
        "_loop",
        "_module",
        "_tasks",
        "_timer",
        "_tolerating",
        "_waiting",
        "close_code",
        "close_reason",
        "dispatcher",
        "handlers",
        "identity",
        "log",
        "observer",
        "role",
        "session",
        "transport",
        "version",
    )

    def __init__(
        self,
        transport: Transport,
        *,
        role: str,
        version: str | None = None,
        handlers: Handlers | type[Handlers] | None = None,
        identity: str = "",
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        quirks: QuirkProfile | None = None,
        check_outgoing: bool = True,
        max_frame_bytes: int | None = None,
        core: Backend | None = None,
        logger: logging.Logger | None = None,
        observer: ConnectionObserver | None = None,
    ) -> None:
        self.transport = transport
        self.observer = observer
        self.role = role
        self.version: str = check_version(version or transport.subprotocol or "")
        self.identity = identity
        self.log = logger or _log
        core = core or BACKEND
        if quirks is None:  # no quirks, nothing tolerated to count: one per version will do
            validator = shared_validator(core, self.version, check_outgoing)
        else:
            validator = core.validator.Validator(
                self.version, quirks=quirks, check_outgoing=check_outgoing
            )
        options: dict[str, Any] = {"call_timeout": call_timeout, "validator": validator}
        if max_frame_bytes is not None:
            options["max_frame_bytes"] = max_frame_bytes
        self.session: Any = core.session.Session(self.version, **options)
        if isinstance(handlers, type):
            handlers = handlers()
        self.handlers: Handlers = handlers if handlers is not None else Handlers()
        self.handlers.connection = self
        hooks = self.handlers.after_hooks_for(self.version)
        owner: Any = None
        routes: Mapping[str, Any]
        if type(self.handlers).handlers_for is Handlers.handlers_for:
            # The class's table of method names, shared by its connections; the dispatcher
            # looks each up on this instance when its message comes.
            routes, owner = self.handlers.handler_names(self.version), self.handlers
        else:  # a class that wraps its handlers (e.g. Station16's boot guard)
            routes = self.handlers.handlers_for(self.version)
        if hooks:
            routes = dict(routes)
            for action, hook in hooks.items():
                if action in routes:
                    handler = routes[action]
                    if type(handler) is str:
                        # Looked up on the instance at each message, as the dispatcher does
                        # without a hook: an instance may shadow it (DefaultCSMS's guard).
                        handler = functools.partial(_call_method, owner, handler)
                    routes[action] = self._with_hook(handler, hook)
        self.dispatcher: Any = core.dispatcher.Dispatcher(
            self.version, role, routes, validator, owner
        )
        self.session.attach(self.dispatcher)
        self._tolerating = quirks is not None
        self._module = _MODULE_PREFIXES[self.version]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._answered: tuple[Callable[[Any, Any], Any], Any, Any] | None = None
        # Created when first needed (most connections of a big CSMS are idle: their memory
        # is what counts, docs/performance.md).
        self._tasks: set[asyncio.Task[Any]] | None = None
        self._lock: asyncio.Lock | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._ended = False
        self._ended_waiter: asyncio.Future[None] | None = None
        # Frames held until the handlers' write barrier (a storage commit) is done.
        self._held: list[bytes] | None = None
        self._held_until: asyncio.Future[None] | None = None
        self._direct: bool = getattr(transport, "direct", False)
        self.close_code: int | None = None
        self.close_reason = ""

    def __repr__(self) -> str:
        return f"<Connection {self.name} {self.version} {self.role}>"

    @property
    def name(self) -> str:
        """How the log names this connection: the identity, else the peer's address."""
        return self.identity or self.transport.remote_address

    @property
    def closed(self) -> bool:
        """Whether the connection has ended."""
        return self._ended

    # -- public API ------------------------------------------------------------------------

    async def call(self, request: Request, *, timeout: float | None = None) -> Any:
        """Send `request` as a CALL and return the peer's typed response.

        Raises the `OCPPError` subclass of a CALLERROR answer (or of an answer that breaks its
        schema), `CallTimeoutError` when no answer comes within `timeout` (default: the
        connection's call timeout), `SessionClosedError` when the connection closes first, and
        `OutgoingMessageError` (nothing sent) when `request` does not conform to its schema.
        CALLs are sent one at a time, in order (J16 4.1.1, J201 4.1.1)."""
        action = self._action_of(request)
        self.handlers.calling(request)
        loop = self._loop or asyncio.get_running_loop()
        started = loop.time()
        message_id = self.session.call(action, request, started, timeout)
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting[message_id] = future
        self._arm_timer()
        await self._flush()
        observer = self.observer
        if observer is None:
            return await future
        try:
            response = await future
        except BaseException as error:
            observer.call_finished(self, action, loop.time() - started, error)
            raise
        observer.call_finished(self, action, loop.time() - started, None)
        return response

    async def send(self, request: Request) -> None:
        """Send `request` as a SEND (OCPP 2.1 only): it is never answered (J21 4.2.4)."""
        if self.version != OCPP21:
            raise ValueError(f"SEND messages exist in ocpp2.1 only, not in {self.version}")
        self.handlers.calling(request)
        self.session.send(self._action_of(request), request)
        await self._flush()

    async def calls_answered(self, timeout: float) -> bool:
        """Wait, at most `timeout` seconds, until every CALL made so far has its answer (or
        failed). Before closing the connection on purpose (to reconnect with a new password
        or security profile): the peer gets to answer what it received, and its CALLRESULT
        reader is not cut off in the middle. True when none is left."""
        pending = [future for future in self._waiting.values() if not future.done()]
        if not pending:
            return True
        _, left = await asyncio.wait(pending, timeout=timeout)
        return not left

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (pending CALLs fail with SessionClosedError) and wait for it."""
        with contextlib.suppress(TransportClosed, OSError):
            await self.transport.close(code, reason)
        if self._loop is None:  # never ran: nothing will notice the close
            self._finish(code, reason)
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the connection has ended."""
        if self._ended:
            return
        if self._ended_waiter is None:
            self._ended_waiter = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._ended_waiter)

    async def run(self) -> None:
        """Read and handle frames until the connection closes; then fail what is pending, call
        `handlers.disconnected()` and return."""
        self._loop = loop = asyncio.get_running_loop()
        try:
            started = self.handlers.connected()
        except Exception:
            self.log.error("%s: connected() failed", self.name, exc_info=True)
        else:
            if started is not None:
                self._spawn(maybe_await(started), "connected()")
        code: int | None = None
        reason = ""
        transport: Any = self.transport
        try:
            if self._direct:
                # Each message is handled, and answered, inside the socket's data callback.
                transport.start(self._receive_direct)
                await transport.wait_closed()  # _finish reads the close from the transport
            else:
                receive = self._receive
                while True:
                    receive(await transport.recv(), loop.time())
                    await self._flush()
        except TransportClosed as exc:
            code, reason = exc.code, exc.reason
        finally:
            self._finish(code if code is not None else 1006, reason)
        try:
            await maybe_await(self.handlers.disconnected())
        except Exception:
            self.log.error("%s: disconnected() failed", self.name, exc_info=True)

    # -- internals -------------------------------------------------------------------------

    def _action_of(self, request: Request) -> str:
        cls = type(request)
        if not isinstance(request, Request) or not cls.__module__.startswith(self._module):
            raise TypeError(
                f"expected an {self.version} request type (from {self._module[:-1]}), "
                f"got {cls.__module__}.{cls.__qualname__}"
            )
        return cls.ACTION

    def _with_hook(
        self, handler: Callable[[Any], Any], hook: Callable[[Any, Any], Any]
    ) -> Callable[[Any], Any]:
        def handle(request: Any) -> Any:
            result = handler(request)
            self._answered = (hook, request, result)
            return result

        return handle

    def _receive_direct(self, data: bytes) -> None:
        """A message from a direct transport: handle it and send what it produced, at once."""
        assert self._loop is not None
        try:
            self._receive(data, self._loop.time())
            self._send_now()
        except Exception:  # never into the socket's callback: end this connection instead
            self.log.exception("%s: failed to handle a frame; closing with 1011", self.name)
            self._spawn(self.close(1011, "internal error"), "close")

    def _frames_to_send(self) -> list[bytes]:
        """What the session has to send, each logged at debug level (credentials never)."""
        frames: list[bytes] = self.session.data_to_send()
        if frames and self.observer is not None:
            self.observer.sent(self, frames)
        log = self.log
        if frames and log.isEnabledFor(logging.DEBUG):
            for frame in frames:
                log.debug("%s > %s", self.name, shown(frame))
        return frames

    def _send_now(self) -> None:
        frames = self._frames_to_send()
        if frames and not self._hold(frames):
            self._write_now(frames)

    def _write_now(self, frames: list[bytes]) -> None:
        send_now = self.transport.send_now  # type: ignore[attr-defined]
        try:
            for frame in frames:
                send_now(frame)
        except TransportClosed:
            pass  # the close ends run(), which fails what is pending

    def _hold(self, frames: list[bytes]) -> bool:
        """Keep `frames` back while the handlers' write barrier stands (a commit of what the
        messages answered changed: an answer never acknowledges what is not stored), or while
        earlier frames are held (order is kept). Return whether they were held."""
        barrier = self.handlers.write_barrier()
        if barrier is None and self._held is None:
            return False
        if self._held is None:
            self._held = frames
        else:
            self._held.extend(frames)
        if barrier is not None and barrier is not self._held_until:
            # Commits complete in order: the latest barrier's release frees all held frames.
            self._held_until = barrier
            barrier.add_done_callback(self._release)
        return True

    def _release(self, barrier: asyncio.Future[None]) -> None:
        if barrier is not self._held_until:
            return  # a later barrier holds the frames now
        frames, self._held, self._held_until = self._held or [], None, None
        if self._ended:
            return
        if barrier.cancelled() or barrier.exception() is not None:
            # Not stored, so not acknowledged: the peer sends it again after it reconnects
            # (C16 3.7, E201 E12: transaction messages are retried), whichever role we are.
            self.log.error(
                "%s: storage failed (%s); closing with 1011 so that the %s retries"
                " what was not acknowledged",
                self.name,
                "cancelled" if barrier.cancelled() else barrier.exception(),
                "station" if self.role == "csms" else "CSMS",
            )
            self._spawn(self.close(1011, "storage failed"), "close")
            return
        if self._direct:
            self._write_now(frames)
        else:
            self._held = []  # what comes while these are written waits behind them
            self._spawn(self._write_held(frames), "flush")

    async def _write_held(self, frames: list[bytes]) -> None:
        await self._write(frames)
        while self._held_until is None and self._held:
            frames, self._held = self._held, []
            await self._write(frames)
        if self._held_until is None:
            self._held = None

    def _flush_soon(self) -> None:
        """Send what the session produced: at once over a direct transport, else in a task."""
        if self._direct:
            self._send_now()
        else:
            self._spawn(self._flush(), "flush")

    def _receive(self, data: bytes | str, now: float) -> None:
        log = self.log
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s < %s", self.name, shown(data))
        if self.observer is not None:
            self.observer.received(self, data)
        self._answered = None
        events = self.session.receive(data, now)
        answered = self._answered
        for event in events:
            if type(event) is CallDispatched or type(event) is CallRefused:
                answered_later, answered = answered, None  # hook runs after the async answer
                self._handle_event(event, answered_later)
            else:
                self._handle_event(event, None)
        if answered is not None:  # a sync handler's response is in the outbox
            self._answered = None
            self._spawn(self._after_sent(*answered), "after-hook")
        if self._tolerating:
            for seen in self.session.validator.take_tolerated():
                if self.observer is not None:
                    self.observer.tolerated(self, seen.quirk)
                log.warning(
                    "%s: tolerated by quirk %s: %s %s field %s: %s",
                    self.name,
                    seen.quirk,
                    seen.action,
                    seen.kind,
                    seen.field,
                    seen.message,
                )
        self._arm_timer()

    def _handle_event(self, event: Any, answered: Any) -> None:
        kind = type(event)
        if kind is CallCompleted:
            self._resolve(event.message_id, event.response, None)
        elif kind is CallDispatched:
            hook = answered[0] if answered is not None else None
            request = answered[1] if answered is not None else None
            pending = event.pending
            task = self._spawn(
                self._answer(event.call.message_id, event.call.action, pending, hook, request),
                event.call.action,
            )
            if inspect.iscoroutine(pending):
                # A task cancelled before its first step (the connection ended at once) never
                # awaits the handler's coroutine: close it, as awaiting it would have.
                task.add_done_callback(lambda _: pending.close())
        elif kind is CallFailed:
            self._resolve(event.message_id, None, event.error)
        elif kind is CallRefused:
            self._log_refused(event.call.action, event.call.message_id, event.error)
        elif kind is SendReceived:
            self._handle_send(event.send)
        elif kind is FrameRejected:
            error = event.error
            self.log.warning(
                "%s: malformed frame (%s: %s)%s",
                self.name,
                error.code,
                error.description,
                ", answered with an error" if event.answered else ", dropped",
            )
        elif kind is ResultDropped:
            self.log.warning(
                "%s: dropped %s answer to message id %s: %s",
                self.name,
                "a late" if event.late else "an unexpected",
                event.message_id,
                "its CALL had timed out" if event.late else "no CALL of ours has that id",
            )
        elif kind is DuplicateCallRejected:
            self.log.warning(
                "%s: refused %s with message id %s: one with that id is still being handled",
                self.name,
                event.action,
                event.message_id,
            )
        elif kind is ResultRejectedByPeer:
            self.log.warning(
                "%s: the peer rejected our answer to %s: %s %s",
                self.name,
                event.message_id,
                event.error_code,
                event.error_description,
            )
        elif kind is FrameIgnored:
            self.log.info(
                "%s: ignored a frame of unknown message type %s", self.name, event.message_type
            )

    def _resolve(self, message_id: str, response: Any, error: BaseException | None) -> None:
        future = self._waiting.pop(message_id, None)
        if future is None or future.done():
            if error is not None and not isinstance(error, SessionClosedError):
                self.log.info("%s: %s (nobody was waiting any more)", self.name, error)
            return
        if error is None:
            future.set_result(response)
        else:
            future.set_exception(error)

    async def _answer(
        self,
        message_id: str,
        action: str,
        pending: Any,
        hook: Callable[[Any, Any], Any] | None,
        request: Any,
    ) -> None:
        """Await an async handler, answer its CALL, then run the after-hook."""
        try:
            response = await pending
        except OCPPError as error:
            self._refuse(message_id, action, error)
            return
        except Exception as exc:
            crash = internal_error(action)
            crash.__cause__ = exc
            self._refuse(message_id, action, crash)
            return
        if self.session.closed:
            return
        try:
            self.session.respond(message_id, response)
        except OutgoingMessageError as error:
            self._log_refused(action, message_id, error)
            await self._flush()
            return
        await self._flush()
        if hook is not None:
            await self._released()
            await maybe_await(hook(request, response))

    async def _released(self) -> None:
        """Wait until no frame is held for a commit (`_hold`): an answer held so is written
        when the commit is done, and an after-hook must not overtake it (a follow-up CALL, or
        closing the connection to reconnect, would reach the peer before the answer)."""
        while self._held_until is not None and not self._ended:
            await asyncio.wait([self._held_until])  # its outcome is `_release`'s business
            await asyncio.sleep(0)  # `_release`, a done callback of the barrier, has run

    def _refuse(self, message_id: str, action: str, error: OCPPError) -> None:
        if not self.session.closed:
            self.session.respond_error(message_id, error)
            self._flush_soon()
        self._log_refused(action, message_id, error)

    async def _after_sent(
        self, hook: Callable[[Any, Any], Any], request: Any, response: Any
    ) -> None:
        # Over a direct transport the answer is written (or held: `_released`). Otherwise the
        # reader flushes it right after the handler returned; waiting for the send lock puts
        # the hook after it, so a follow-up CALL never overtakes the answer.
        await self._released()
        if not self._direct:
            async with self._send_lock():
                pass
            await self._flush()
        await maybe_await(hook(request, response))

    def _handle_send(self, send: Any) -> None:
        try:
            result = self.dispatcher.dispatch(send)
        except OCPPError as error:  # never answered (J21 4.2.4): only logged
            self.log.warning("%s: ignored SEND %s: %s", self.name, send.action, error)
            return
        if hasattr(result, "__await__"):
            self._spawn(maybe_await(result), send.action)

    def _log_refused(self, action: str, message_id: str, error: BaseException) -> None:
        cause = error.__cause__
        if isinstance(error, OutgoingMessageError):
            self.log.error(
                "%s: our response to %s (%s) broke its schema; answered InternalError: %s",
                self.name,
                action,
                message_id,
                cause or error,
            )
        elif cause is not None:
            self.log.error(
                "%s: handler of %s (%s) failed; answered InternalError",
                self.name,
                action,
                message_id,
                exc_info=cause,
            )
        else:
            code = error.code_for(self.version) if isinstance(error, OCPPError) else "?"
            self.log.info(
                "%s: answered %s (%s) with %s: %s", self.name, action, message_id, code, error
            )

    async def _flush(self) -> None:
        if self._direct:  # written at once, in the order the session produced them
            self._send_now()
            return
        frames = self._frames_to_send()
        if frames and not self._hold(frames):
            await self._write(frames)

    async def _write(self, frames: list[bytes]) -> None:
        async with self._send_lock():
            try:
                for frame in frames:
                    await self.transport.send(frame)
            except TransportClosed:
                pass  # the reader sees the close too and fails what is pending

    def _arm_timer(self) -> None:
        deadline = self.session.next_deadline()
        if deadline == self._deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadline = deadline
        if deadline is not None and self._loop is not None:
            self._timer = self._loop.call_at(deadline, self._on_deadline)

    def _on_deadline(self) -> None:
        self._timer = None
        self._deadline = None
        assert self._loop is not None
        for event in self.session.expire(self._loop.time()):
            self._handle_event(event, None)
        self._arm_timer()
        self._flush_soon()  # the next queued CALL, if any

    def _spawn(self, coro: Any, what: str) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(f"{self.name}: {what}")
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _send_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if self._tasks is not None:
            self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("%s: %s failed", self.name, task.get_name(), exc_info=task.exception())

    def _finish(self, code: int, reason: str) -> None:
        if self._ended:
            return
        self.close_code = self.transport.close_code or code
        self.close_reason = self.transport.close_reason or reason
        for event in self.session.close(reason or f"close code {self.close_code}"):
            self._handle_event(event, None)
        if self._timer is not None:
            self._timer.cancel()
        current = asyncio.current_task() if self._loop is not None else None
        for task in list(self._tasks or ()):
            if task is not current:
                task.cancel()
        self._ended = True
        if self._ended_waiter is not None and not self._ended_waiter.done():
            self._ended_waiter.set_result(None)
