"""What a 2.x charging station shows on its display: `DisplayBook`.

Two kinds of messages share the display:

- The messages the CSMS set with SetDisplayMessage (block O: O01 Set DisplayMessage, O02 for a
  transaction, O03 / O04 Get, O05 Clear, O06 Replace). The book keeps them in
  `StationData.state` (they survive a restart, as the station's other configuration does), and
  decides which are in force now: from startDateTime (absent: at once) until endDateTime (then
  the message is removed), while its transaction runs (then it is removed), and while the
  display's EVSE - or the station, for a station-wide message - is in its state (absent: in
  any state). Of the AlwaysFront messages of one display only the newest is shown: "when a
  newer message with this priority is received, this message is replaced" (2.0.1 part 2
  MessagePriorityEnumType); the older one stays set, and shows again when the newer one goes.
- What the station itself shows of a driver's session (block I, tariff and cost): the driver's
  personal message (IdTokenInfo.personalMessage of an AuthorizeResponse or a
  TransactionEventResponse, TransactionEventResponse.updatedPersonalMessage: I01, I06) or,
  without one, TariffCostCtrlr.TariffFallbackMessage (I04); the running cost (CostUpdated,
  TransactionEventResponse.totalCost: I02) while the transaction runs; then its final cost
  (I03), or TariffCostCtrlr.TotalCostFallbackMessage when it cannot have it (I05), for
  `FINAL_COST_SECONDS`. These have negative ids (a MessageInfo id is >= 0) and priority
  InFront: below AlwaysFront, which "no Charging Station own message may override".

Whenever what is in force changes - a message set, replaced or cleared, a start or end time
passing on the station's clock (a timer on the event loop), a transaction starting or ending, an
EVSE changing state - the book hands the messages in force, highest priority first, to the
hardware (`Hardware.show_messages`).

The book is version-neutral: it takes MessageInfo and MessageContent as their wire JSON
(`msgspec.to_builtins`) and the station's situation as `Situation`; the station converts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..hardware import DisplayedMessage
from .config import parse_time
from .store import StationData

__all__ = [
    "CAPACITY",
    "FINAL_COST_SECONDS",
    "MESSAGES_PER_NOTIFY",
    "DisplayBook",
    "DisplaySettings",
    "EvseView",
    "Situation",
]

CAPACITY = 50
"""Messages the station holds (DisplayMessageCtrlr.DisplayMessages maxLimit)."""
MESSAGES_PER_NOTIFY = 10
"""MessageInfo entries per NotifyDisplayMessagesRequest (O03, O04: the answer goes out in parts,
tbc true on all but the last)."""
FINAL_COST_SECONDS = 60.0
"""How long the final cost of a transaction (or the fallback message) stays on the display."""
# The timer wakes at least this often while a message waits for its start or end time, so that
# a clock set forward or back (ClockCtrlr.TimeSource Heartbeat) takes effect within it.
_RECHECK_SECONDS = 60.0
# Personal messages of authorized tokens whose transaction has not started yet.
_TOKEN_MESSAGES = 16
_STATE = "display_messages"
_RANK = {"AlwaysFront": 0, "InFront": 1, "NormalCycle": 2}

_log = logging.getLogger("ocppfast.station")


@dataclass(frozen=True)
class EvseView:
    """An EVSE as the display sees it: its MessageStateEnumType state (Charging, Suspended,
    Idle, Unavailable, Faulted), and the transaction running on it with its id token."""

    state: str
    transaction_id: str | None = None
    id_token: str | None = None


@dataclass(frozen=True)
class Situation:
    """The station now: whether it is operative (G04), and its EVSEs by id."""

    operative: bool
    evses: dict[int, EvseView]

    def state(self, evse_id: int | None) -> str:
        """The state of EVSE `evse_id`, or of the station (None): Unavailable when it is
        inoperative or every EVSE is; else Charging, Suspended or Faulted when an EVSE is (in
        that order); else Idle."""
        if evse_id is not None:
            view = self.evses.get(evse_id)
            return view.state if view is not None else "Unavailable"
        states = {view.state for view in self.evses.values()}
        if not self.operative or states == {"Unavailable"}:
            return "Unavailable"
        return next((s for s in ("Charging", "Suspended", "Faulted") if s in states), "Idle")


@dataclass(frozen=True)
class DisplaySettings:
    """The DisplayMessageCtrlr and TariffCostCtrlr variables the book follows (A201 3.1.8,
    3.1.17; 2.1: Language, A21 3.1.8). `languages`: the languages the display can show (None:
    any); `language`: the station's language, chosen among a message's translations (2.1
    messageExtra)."""

    enabled: bool = True
    formats: tuple[str, ...] = ("ASCII", "UTF8", "URI")
    priorities: tuple[str, ...] = ("AlwaysFront", "InFront", "NormalCycle")
    states: tuple[str, ...] = ("Charging", "Idle", "Unavailable")
    languages: tuple[str, ...] | None = None
    language: str | None = None
    personal_message_size: int = 512
    tariff_enabled: bool = True
    currency: str = "EUR"
    tariff_fallback: str = ""
    total_cost_fallback: str = ""


@dataclass(frozen=True)
class _Entry:
    """A message the CSMS set: its MessageInfo as received (`info`), what the book reads of it,
    and `order`: when it was set (the newest AlwaysFront message wins)."""

    id: int
    priority: str
    state: str | None
    start: datetime | None
    end: datetime | None
    transaction_id: str | None
    evse_id: int | None
    contents: tuple[dict[str, Any], ...]
    order: int
    info: dict[str, Any] = field(repr=False)


@dataclass
class _Session:
    """What the display shows of the transaction on one EVSE, or after it ended."""

    transaction_id: str
    personal: list[dict[str, Any]] | None = None  # the message and its translations
    cost: float | None = None
    final: str | None = None  # after the transaction: the final cost or the fallback message
    until: datetime | None = None


def _entry(info: dict[str, Any], order: int) -> _Entry:
    """Read a MessageInfo's wire JSON (raises KeyError, TypeError or ValueError when it is not
    one: a damaged store)."""
    display = info.get("display")
    evse = display.get("evse") if isinstance(display, dict) else None
    contents = [info["message"], *info.get("messageExtra", ())]
    if not all(isinstance(c, dict) and isinstance(c.get("content"), str) for c in contents):
        raise TypeError("message content is not text")
    start, end = info.get("startDateTime"), info.get("endDateTime")
    entry = _Entry(
        id=int(info["id"]),
        priority=str(info["priority"]),
        state=None if info.get("state") is None else str(info["state"]),
        start=parse_time(start),
        end=parse_time(end),
        transaction_id=info.get("transactionId"),
        evse_id=int(evse["id"]) if isinstance(evse, dict) else None,
        contents=tuple(contents),
        order=order,
        info=info,
    )
    if (start is not None and entry.start is None) or (end is not None and entry.end is None):
        raise ValueError("start or end time unreadable")
    if entry.priority not in _RANK:
        raise ValueError(f"priority {entry.priority}")
    return entry


def _matches_language(content: dict[str, Any], language: str) -> bool:
    # RFC 5646 tags: "de" matches "de-CH" and the other way round.
    tag = str(content.get("language", "")).casefold()
    wanted = language.casefold()
    return tag == wanted or tag.split("-")[0] == wanted.split("-")[0] != ""


def _translated(contents: Sequence[dict[str, Any]], language: str | None) -> dict[str, Any]:
    """Of a message and its translations (2.1 messageExtra), the one in the station's
    `language`, else the message itself."""
    if language is not None:
        return next((c for c in contents if _matches_language(c, language)), contents[0])
    return contents[0]


class DisplayBook:
    """The display messages of one station and what its display shows (see the module
    docstring).

    - `data`: where the messages are kept; `track`: told of every write's commit (the station's
      `write_barrier` holds the answer until it is on disk).
    - `now`: the station's clock; `situation`: the station now; `settings`: the display's
      variables now.
    - `show`: the hardware's `show_messages`."""

    def __init__(
        self,
        data: StationData,
        *,
        now: Callable[[], datetime],
        situation: Callable[[], Situation],
        settings: Callable[[], DisplaySettings],
        show: Callable[[list[DisplayedMessage]], None],
        track: Callable[[asyncio.Future[None] | None], None],
        log: logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        self._data = data
        self._now = now
        self._situation = situation
        self._settings = settings
        self._show = show
        self._track = track
        self.log: logging.Logger | logging.LoggerAdapter[logging.Logger] = log or _log
        self._entries: dict[int, _Entry] = {}
        self._sessions: dict[int, _Session] = {}  # by EVSE id
        self._token_messages: dict[str, list[dict[str, Any]]] = {}
        self._shown: list[DisplayedMessage] = []
        self._timer: asyncio.TimerHandle | None = None
        self._unsaved = False  # a change made outside the event loop, not written yet
        self._load()

    def __len__(self) -> int:
        """The messages set (DisplayMessageCtrlr.DisplayMessages)."""
        return len(self._entries)

    @property
    def shown(self) -> list[DisplayedMessage]:
        """What the display shows now, highest priority first."""
        return list(self._shown)

    # -- the CSMS's messages (O01-O06) ---------------------------------------------------------

    def set(self, info: dict[str, Any]) -> tuple[str, str, str]:
        """SetDisplayMessage (O01, O02, O06) with the wire JSON of its MessageInfo: (the
        DisplayMessageStatusEnumType value, the StatusInfo reason code or "", what the log and
        additionalInfo say). Accepted: kept (a message with the same id replaced, O06) and
        shown when in force."""
        settings = self._settings()
        try:
            entry = _entry(info, self._next_order())
        except (KeyError, TypeError, ValueError) as exc:
            return "Rejected", "InvalidValue", f"unreadable message: {exc}"
        refusal = self._refusal(entry, settings)
        if refusal is not None:
            return refusal
        replaced = entry.id in self._entries
        self._entries[entry.id] = entry
        self._save()
        self.log.info(
            "display message %d %s (%s%s): %s",
            entry.id,
            "replaced" if replaced else "set",
            entry.priority,
            f", transaction {entry.transaction_id}" if entry.transaction_id else "",
            entry.contents[0]["content"],
        )
        self.refresh()
        return "Accepted", "", ""

    def _refusal(self, entry: _Entry, settings: DisplaySettings) -> tuple[str, str, str] | None:
        if not settings.enabled:
            return "Rejected", "NotEnabled", "DisplayMessageCtrlr.Enabled is false"
        if entry.priority not in settings.priorities:
            return "NotSupportedPriority", "UnsupportedParam", f"priority {entry.priority}"
        formats = {str(content.get("format")) for content in entry.contents}
        unsupported = sorted(formats - set(settings.formats))
        if unsupported:
            return "NotSupportedMessageFormat", "UnsupportedParam", f"format {unsupported[0]}"
        if entry.state is not None and entry.state not in settings.states:
            return "NotSupportedState", "UnsupportedParam", f"state {entry.state}"
        if settings.languages is not None:
            tagged = [c for c in entry.contents if c.get("language")]
            if tagged and not any(
                _matches_language(c, language) for c in tagged for language in settings.languages
            ):
                return "LanguageNotSupported", "UnsupportedParam", "no language it can show"
        situation = self._situation()
        if entry.evse_id is not None and entry.evse_id not in situation.evses:
            return "Rejected", "UnknownEvse", f"no EVSE {entry.evse_id} to display it on"
        if entry.transaction_id is not None and not any(
            view.transaction_id == entry.transaction_id for view in situation.evses.values()
        ):
            return "UnknownTransaction", "TxNotFound", f"no transaction {entry.transaction_id}"
        now = self._now()
        earliest = now if entry.start is None else max(now, entry.start)
        if entry.end is not None and entry.end <= earliest:
            return "Rejected", "InvalidValue", "its endDateTime has passed or precedes its start"
        if entry.id not in self._entries and len(self._entries) >= CAPACITY:
            return "Rejected", "OutOfStorage", f"{CAPACITY} messages set already"
        return None

    def find(
        self,
        ids: Iterable[int] | None = None,
        priority: str | None = None,
        state: str | None = None,
    ) -> list[dict[str, Any]]:
        """GetDisplayMessages (O03, O04): the MessageInfo (wire JSON) of every message set that
        meets all the criteria given, in the order they were set."""
        wanted = None if ids is None else set(ids)
        return [
            entry.info
            for entry in sorted(self._entries.values(), key=lambda e: e.order)
            if (wanted is None or entry.id in wanted)
            and (priority is None or entry.priority == priority)
            and (state is None or entry.state == state)
        ]

    def clear(self, message_id: int) -> bool:
        """ClearDisplayMessage (O05): whether a message with this id was set (and is gone)."""
        entry = self._entries.pop(message_id, None)
        if entry is None:
            return False
        self._save()
        self.log.info("display message %d cleared", message_id)
        self.refresh()
        return True

    # -- the driver's session (I01-I06) ---------------------------------------------------------

    def token_message(self, token: str, content: dict[str, Any] | None) -> None:
        """The personal message the CSMS gave with `token`'s IdTokenInfo (AuthorizeResponse,
        I01): shown on the EVSE whose transaction that token authorizes."""
        self._token_messages.pop(token, None)
        contents = self._showable([content] if content is not None else [])
        if not contents:
            return
        self._token_messages[token] = contents
        while len(self._token_messages) > _TOKEN_MESSAGES:
            del self._token_messages[next(iter(self._token_messages))]
        self.refresh()

    def transaction_message(self, transaction_id: str, contents: list[dict[str, Any]]) -> None:
        """A personal message for the driver of a running transaction
        (TransactionEventResponse.updatedPersonalMessage or idTokenInfo.personalMessage: I01,
        I06), with its translations (2.1 updatedPersonalMessageExtra); the latest replaces the
        one shown."""
        contents = self._showable(contents)
        session = self._session(transaction_id) if contents else None
        if session is not None:
            session.personal = contents
            self.refresh()

    def cost(self, transaction_id: str, total: float) -> None:
        """The running cost of a transaction (CostUpdated, TransactionEventResponse.totalCost
        of a Started or Updated event: I02)."""
        session = self._session(transaction_id)
        if session is not None:
            session.cost = total
            self.refresh()

    def transaction_ended(self, transaction_id: str, evse_id: int, *, offline: bool) -> None:
        """The transaction ended: its messages are removed (O02: "Message SHALL be removed by the
        Charging Station after transaction has ended"), and what was shown of it goes. Ended
        `offline`, the station cannot have its final cost: TotalCostFallbackMessage (I05)."""
        bound = [e.id for e in self._entries.values() if e.transaction_id == transaction_id]
        for message_id in bound:
            del self._entries[message_id]
        if bound:
            self._save()
            self.log.info(
                "display message(s) %s removed: transaction %s ended",
                ", ".join(map(str, bound)),
                transaction_id,
            )
        self._sessions.pop(evse_id, None)
        if offline:
            self.final_cost(transaction_id, evse_id, None)
        else:
            self.refresh()

    def final_cost(self, transaction_id: str, evse_id: int, total: float | None) -> None:
        """The final cost of an ended transaction (TransactionEventResponse.totalCost of its
        Ended event, I03), None when there is none: TotalCostFallbackMessage (I05). Shown for
        FINAL_COST_SECONDS, or until the next transaction on the EVSE."""
        settings = self._settings()
        if not settings.tariff_enabled:
            return
        if total is not None:
            text = f"Total cost: {total:.2f} {settings.currency}"
        else:
            text = settings.total_cost_fallback
        if not text:
            return
        until = self._now() + timedelta(seconds=FINAL_COST_SECONDS)
        self._sessions[evse_id] = _Session(transaction_id, final=text, until=until)
        self.refresh()

    def _session(self, transaction_id: str) -> _Session | None:
        for evse_id, view in self._situation().evses.items():
            if view.transaction_id == transaction_id:
                session = self._sessions.get(evse_id)
                if session is None or session.transaction_id != transaction_id:
                    session = self._sessions[evse_id] = _Session(transaction_id)
                return session
        self.log.info("display: transaction %s does not run here", transaction_id)
        return None

    # -- what is shown -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Work out what is in force now; show it when it changed; set the timer for the next
        start or end time. Called whenever something it depends on may have changed."""
        idle = not (self._entries or self._sessions or self._shown or self._token_messages)
        if idle and not self._settings().tariff_fallback:
            return  # nothing to show (the common case: checked at every transaction event)
        now = self._now()
        expired = [e.id for e in self._entries.values() if e.end is not None and e.end <= now]
        for message_id in expired:
            del self._entries[message_id]
            self.log.info("display message %d removed: its endDateTime passed", message_id)
        situation = self._situation()
        running = {
            view.transaction_id: evse_id
            for evse_id, view in situation.evses.items()
            if view.transaction_id is not None
        }
        # A message of a transaction that is not running (it ended while the station was down)
        # goes as it would have gone at its end (O02).
        orphans = [
            e.id
            for e in self._entries.values()
            if e.transaction_id is not None and e.transaction_id not in running
        ]
        for message_id in orphans:
            del self._entries[message_id]
            self.log.info("display message %d removed: its transaction is over", message_id)
        if expired or orphans or self._unsaved:
            self._save()
        settings = self._settings()
        shown = self._in_force(now, situation, running, settings) if settings.enabled else []
        shown += self._session_messages(now, situation, settings)
        shown.sort(key=lambda m: _RANK.get(m.priority, 3))
        if shown != self._shown:
            self._shown = shown
            try:
                self._show(list(shown))
            except Exception:  # a display fault must not stop the station: logged
                self.log.exception("the display failed to show %d message(s)", len(shown))
        self._arm(now)

    def _in_force(
        self,
        now: datetime,
        situation: Situation,
        running: dict[str, int],
        settings: DisplaySettings,
    ) -> list[DisplayedMessage]:
        newest_front: dict[int | None, _Entry] = {}
        candidates = []
        for entry in sorted(self._entries.values(), key=lambda e: e.order):
            if entry.start is not None and entry.start > now:
                continue
            evse_id = entry.evse_id
            if entry.transaction_id is not None:
                evse_id = running[entry.transaction_id]
            if entry.state is not None and situation.state(evse_id) != entry.state:
                continue
            candidates.append((entry, evse_id))
            if entry.priority == "AlwaysFront":
                newest_front[evse_id] = entry
        return [
            self._displayed(entry, evse_id, settings)
            for entry, evse_id in candidates
            if entry.priority != "AlwaysFront" or newest_front[evse_id] is entry
        ]

    def _displayed(
        self, entry: _Entry, evse_id: int | None, settings: DisplaySettings
    ) -> DisplayedMessage:
        content = _translated(entry.contents, settings.language)
        return DisplayedMessage(
            id=entry.id,
            content=content["content"],
            priority=entry.priority,
            format=str(content.get("format", "UTF8")),
            language=content.get("language"),
            evse_id=evse_id,
            transaction_id=entry.transaction_id,
            start=entry.start,
            end=entry.end,
        )

    def _session_messages(
        self, now: datetime, situation: Situation, settings: DisplaySettings
    ) -> list[DisplayedMessage]:
        shown = []
        for evse_id, view in situation.evses.items():
            session = self._sessions.get(evse_id)
            if session is not None and session.final is not None:
                # After its transaction: until the next one, for FINAL_COST_SECONDS at most.
                until = session.until or now
                if view.transaction_id is None and until > now:
                    shown.append(self._own(evse_id, 1, session.final, settings, until))
                    continue
                del self._sessions[evse_id]
                session = None
            elif session is not None and session.transaction_id != view.transaction_id:
                del self._sessions[evse_id]  # of a transaction that is over
                session = None
            if view.transaction_id is None:
                continue
            personal = session.personal if session is not None else None
            if personal is None and view.id_token is not None:
                personal = self._token_messages.get(view.id_token)
            text = self._personal_text(personal, settings)
            if text is None and settings.tariff_enabled and settings.tariff_fallback:
                text = settings.tariff_fallback  # I04
            if text is not None:
                content = _translated(personal, settings.language) if personal else None
                shown.append(self._own(evse_id, 0, text, settings, None, content))
            if session is not None and session.cost is not None and settings.tariff_enabled:
                cost = f"Cost so far: {session.cost:.2f} {settings.currency}"
                shown.append(self._own(evse_id, 1, cost, settings, None))
        return shown

    def _personal_text(
        self, contents: list[dict[str, Any]] | None, settings: DisplaySettings
    ) -> str | None:
        # A201 3.1.8 PersonalMessageSize: at most that many characters; 0: none kept.
        size = settings.personal_message_size
        if not contents or size <= 0:
            return None
        return str(_translated(contents, settings.language).get("content", ""))[:size]

    def _showable(self, contents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Of a personal message and its translations, those in a format the display shows
        (the others are logged and dropped)."""
        formats = self._settings().formats
        kept = [content for content in contents if str(content.get("format")) in formats]
        if len(kept) < len(contents):
            self.log.warning(
                "personal message in a format the display cannot show (it shows %s): dropped",
                ", ".join(formats),
            )
        return kept

    @staticmethod
    def _own(
        evse_id: int,
        slot: int,
        text: str,
        settings: DisplaySettings,
        until: datetime | None,
        content: dict[str, Any] | None = None,
    ) -> DisplayedMessage:
        # The station's own messages: negative ids, two per EVSE (personal / tariff, cost).
        return DisplayedMessage(
            id=-(2 * evse_id + slot),
            content=text,
            priority="InFront",
            format=str(content.get("format", "UTF8")) if content else "UTF8",
            language=content.get("language") if content else settings.language,
            evse_id=evse_id,
            end=until,
        )

    def _arm(self, now: datetime) -> None:
        """The timer for the next moment what is in force may change on the clock."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        moments = [
            moment
            for entry in self._entries.values()
            for moment in (entry.start, entry.end)
            if moment is not None and moment > now
        ]
        moments += [s.until for s in self._sessions.values() if s.until is not None]
        if not moments:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # built outside the event loop: the station refreshes once it runs
        delay = min((min(moments) - now).total_seconds(), _RECHECK_SECONDS)
        self._timer = loop.call_later(max(delay, 0.0), self.refresh)

    def close(self) -> None:
        """Stop the timer (the station shuts down)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- persistence ---------------------------------------------------------------------------

    def _next_order(self) -> int:
        return max((entry.order for entry in self._entries.values()), default=0) + 1

    def _load(self) -> None:
        saved = self._data.state.get(_STATE)
        items = saved.get("messages") if isinstance(saved, dict) else None
        for item in items if isinstance(items, list) else ():
            try:
                entry = _entry(item["info"], int(item["order"]))
            except (KeyError, TypeError, ValueError) as exc:
                self.log.error("stored display message unreadable, dropped: %s", exc)
                continue
            self._entries[entry.id] = entry

    def _save(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # built outside the event loop: written at the next refresh in it
            self._unsaved = True
            return
        self._unsaved = False
        messages = [
            {"order": entry.order, "info": entry.info}
            for entry in sorted(self._entries.values(), key=lambda e: e.order)
        ]
        self._track(self._data.set_state(_STATE, {"messages": messages} if messages else None))
