"""The phone lines: up to ``maxlines`` :class:`~sipctl.call.Call` objects, sans-IO.

Line numbers run 1..maxlines; -1 means the current line, -2 all lines (hangup).
A new call takes the current line when it is free, else the first free line.
Incoming calls go through the reference's policy, in this order: ``blacklist``
(403), ``autoignore`` (1: no answer at all, 2: 603 Decline), ``callforwardalways``
(302), then busy handling when a call is already up: ``callforwardonbusy`` (302),
``rejectonbusy`` or no free line (486 Busy Here). Those calls take no line: their
events (:class:`SendResponse`, :class:`Cdr`) carry line 0. An accepted one rings on
a free line and is answered at once with ``autoaccept`` or ``P-Auto-Answer: normal``.

Each line needs its own RTP port: pass ``media_for(line) -> MediaConfig`` instead of
a fixed ``media=``. ``auth=`` (a DigestClient) and the other ``call_kwargs`` reach
every :class:`Call`. :meth:`Lines.dial` with an empty target redials the last one
(as the reference's API_Call does).
"""
from __future__ import annotations

import dataclasses
import heapq
import ipaddress
import itertools
from collections import deque
from typing import Any, Callable, Iterator

from .call import Call, CallSettings
from .call_common import host_of, target_uri, user_of
from .call_events import DISPARTY_LOCAL, CallEvent, Cdr, SendResponse
from .sip.addr import NameAddr
from .sip.errors import LocalProtocolError
from .sip.message import Request, Response, make_response
from .sip.offer_answer import MediaConfig

__all__ = ["Lines", "CURRENT", "ALL"]

CURRENT = -1
ALL = -2


def _unspecified(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


class Lines:
    """Calls by line number. ``call_kwargs`` are passed to every :class:`Call`."""

    def __init__(self, maxlines: int = 4, *, settings: CallSettings | None = None,
                 media_for: Callable[[int], MediaConfig] | None = None,
                 local_for: Callable[[str | Request], dict[str, Any] | None] | None = None,
                 **call_kwargs: Any) -> None:
        if maxlines < 1:
            raise ValueError("maxlines must be at least 1")
        if (media_for is None) == ("media" not in call_kwargs):
            raise ValueError("pass exactly one of media= and media_for=")
        self.maxlines = maxlines
        self.media_for = media_for
        #: Per-call overrides of the Call keywords (local_uri/contact/sent_by) from the
        #: dialled target or the incoming INVITE: the UA's address as the peer sees it
        #: when it listens on a wildcard address.
        self.local_for = local_for
        #: The last target dialled (what :meth:`redial` calls again).
        self.last_target: str | None = None
        self.settings = settings or CallSettings(maxlines=maxlines)
        self.current = 1
        self._kwargs = call_kwargs
        self._calls: dict[int, Call] = {}
        # Work is O(calls touched), not O(live calls): a call is "touched" when it emits
        # (Call.on_activity) or gets an input here; only touched calls are drained of
        # events and re-read for their next timer, kept in a lazy heap of
        # (deadline, seq, call) whose stale entries are dropped when they surface.
        self._touched: dict[int, Call] = {}       # id(call) -> call
        # Call-ID -> the calls with it not finished yet (a call to ourselves has two)
        self._ids: dict[str, list[Call]] = {}
        self._timers: list[tuple[float, int, Call]] = []
        self._seq = itertools.count()
        self._events: deque[CallEvent] = deque()

    def __iter__(self) -> Iterator[Call]:
        return iter([self._calls[n] for n in sorted(self._calls)])

    def get(self, line: int = CURRENT) -> Call | None:
        """The call on ``line`` (-1: the current line), live or finished, or None."""
        return self._calls.get(self.current if line == CURRENT else line)

    def is_free(self, line: int) -> bool:
        call = self._calls.get(line)
        return 1 <= line <= self.maxlines and (call is None or not call.active)

    def free_line(self) -> int | None:
        """The current line when free, else the lowest free line, else None."""
        if self.is_free(self.current):
            return self.current
        return next((n for n in range(1, self.maxlines + 1) if self.is_free(n)), None)

    def active_calls(self) -> list[Call]:
        self._flush_touched()
        return [c for calls in self._ids.values() for c in calls if c.active]

    def touch(self, call: Call) -> None:
        """``call`` changed: drain its events and re-read its timer at the next pump."""
        self._touched[id(call)] = call

    def _flush_touched(self) -> None:
        if not self._touched:
            return
        touched, self._touched = self._touched, {}
        for call in touched.values():
            while (event := call.next_event()) is not None:
                self._events.append(event)
            if call.call_id:
                same = self._ids.setdefault(call.call_id, [])
                if call.finished:
                    if call in same:
                        same.remove(call)
                elif call not in same:
                    same.append(call)
                if not same:
                    del self._ids[call.call_id]
            at = call.get_timer()
            if at is not None:
                heapq.heappush(self._timers, (at, next(self._seq), call))

    def _new_call(self, line: int, about: str | Request | None = None) -> Call:
        kwargs = dict(self._kwargs)
        if self.local_for is not None and about is not None:
            kwargs.update(self.local_for(about) or {})
        if self.media_for is not None:
            kwargs["media"] = self.media_for(line)
        media = kwargs.get("media")
        sent_by = kwargs.get("sent_by")
        if media is not None and _unspecified(media.address) and isinstance(sent_by, str):
            # RTP listens on every interface: the SDP names our address in the Via/Contact
            host = sent_by.rsplit(":", 1)[0].strip("[]")
            kwargs["media"] = dataclasses.replace(media, address=host)
        call = Call(line, settings=self.settings, **kwargs)
        self._calls[line] = call
        call.on_activity = self.touch
        self.touch(call)
        return call

    # -- commands -----------------------------------------------------------------------------
    def dial(self, target: str, now: float, line: int = CURRENT) -> Call:
        """Call ``target`` on ``line`` (-1: automatic free-line selection); an empty
        ``target`` redials the last one."""
        if not target.strip():
            if self.last_target is None:
                raise LocalProtocolError("nothing to redial: no call was dialled yet")
            target = self.last_target
        n = self.free_line() if line == CURRENT else line
        if n is None or not self.is_free(n):
            raise LocalProtocolError(f"no free line for a call (line {line})")
        self.current = n
        call = self._new_call(n, target)
        call.dial(target, now)
        self.last_target = target
        return call

    def redial(self, now: float, line: int = CURRENT) -> Call:
        """Call the last dialled target again (LocalProtocolError when there is none)."""
        return self.dial("", now, line)

    def hangup(self, now: float, line: int = CURRENT) -> None:
        """Hang up ``line`` (-1 current, -2 all)."""
        targets = list(self) if line == ALL else [c for c in [self.get(line)] if c is not None]
        for call in targets:
            self.touch(call)
            call.hangup(now)

    def incoming(self, invite: Request, now: float) -> Call | None:
        """Apply the incoming call policy to a new INVITE; the Call it rings on, or None."""
        s = self.settings
        caller = invite.from_
        user = caller.uri.user if caller is not None and hasattr(caller.uri, "user") else None
        names = (user or "", str(caller.uri) if caller else "",
                 (caller.display_name or "") if caller else "")
        if s.blacklisted(*names):
            return self._refuse(invite, now, 403)
        if s.autoignore == 1:
            return self._refuse(invite, now, None, "ignored")
        if s.autoignore == 2:
            return self._refuse(invite, now, 603)
        if s.callforwardalways:
            return self._refuse(invite, now, 302, forward=s.callforwardalways)
        busy = bool(self.active_calls())
        line = self.free_line()
        if busy and s.callforwardonbusy:
            return self._refuse(invite, now, 302, forward=s.callforwardonbusy)
        if line is None or (busy and s.rejectonbusy):
            return self._refuse(invite, now, 486)
        call = self._new_call(line, invite)
        self.current = line
        call.incoming(invite, now)
        auto = (invite.headers.get("P-Auto-Answer") or "").strip().lower()
        if call.active and (s.autoaccept or auto.startswith("normal")):
            call.accept(now)
        return call

    def _refuse(self, invite: Request, now: float, status: int | None, reason: str = "",
                forward: str = "") -> None:
        local = self._kwargs["local_uri"]
        local = NameAddr.parse(local) if isinstance(local, str) else local
        tag = self._kwargs["new_token"]()
        if status is not None:
            headers: list[tuple[str, Any]] = []
            if forward:
                headers.append(("Contact", NameAddr(target_uri(forward, local,
                                                               self.settings.techprefix))))
            headers += self.settings.custom_headers()
            resp = make_response(invite, status, to_tag=tag, headers=headers)
            self._events.append(SendResponse(0, resp))
            reason = reason or f"{status} {resp.reason}"
        caller = user_of(invite.from_)
        address = host_of(invite.from_.uri) if caller and invite.from_ is not None else ""
        self._events.append(Cdr(0, caller, caller, user_of(local), address, 0, 0,
                                DISPARTY_LOCAL, reason))
        return None

    # -- routing what the UA core receives ----------------------------------------------------
    def find(self, message: Request | Response) -> Call | None:
        """The live call a message belongs to (by Call-ID and our tag / the peer's tag)."""
        call_id = message.call_id
        self._flush_touched()                 # indexes calls that just got their Call-ID
        for call in self._ids.get(call_id, ()) if call_id else ():
            if not call.active:
                continue
            if isinstance(message, Response):
                if message.from_ is not None and message.from_.tag == call.local_tag:
                    return call
            else:
                to_tag = message.to.tag if message.to is not None else None
                if to_tag == call.local_tag or (to_tag is None and message.from_ is not None
                                                and message.from_.tag == call.remote_tag):
                    return call
                if call.dialog is not None and to_tag == call.dialog.local_tag:
                    return call
        return None

    def receive_request(self, request: Request, now: float) -> bool:
        call = self.find(request)
        if call is None:
            return False
        self.touch(call)
        return call.receive_request(request, now)

    def receive_response(self, response: Response, now: float) -> bool:
        call = self.find(response)
        if call is None:
            return False
        self.touch(call)
        return call.receive_response(response, now)

    def transaction_failed(self, request: Request, now: float, reason: str = "timeout") -> bool:
        """A transaction of ``request`` (ours, or the peer's INVITE we answered) failed."""
        self._flush_touched()
        call = next((c for c in self._ids.get(request.call_id or "", ()) if c.active), None)
        if call is None:
            return False
        self.touch(call)
        call.transaction_failed(request.method, now, reason)
        return True

    # -- timers and events --------------------------------------------------------------------
    def get_timer(self) -> float | None:
        self._flush_touched()
        heap = self._timers
        while heap:
            at, _, call = heap[0]
            if self._calls.get(call.line) is call and call.get_timer() == at:
                return at
            heapq.heappop(heap)
        return None

    def handle_timer(self, now: float) -> None:
        self._flush_touched()
        heap = self._timers
        while heap and heap[0][0] <= now:
            _, _, call = heapq.heappop(heap)
            if self._calls.get(call.line) is call:
                self.touch(call)
                call.handle_timer(now)
        self._flush_touched()

    def next_event(self) -> CallEvent | None:
        if not self._events:
            self._flush_touched()
        return self._events.popleft() if self._events else None

    def events(self) -> list[CallEvent]:
        out = []
        while (e := self.next_event()) is not None:
            out.append(e)
        return out
