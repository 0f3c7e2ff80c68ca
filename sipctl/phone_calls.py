"""Calls and lines of :class:`~sipctl.Phone` (mixed into it): the reference's call
functions (``API_Call`` ... ``API_Dtmf``) and line queries.

Line numbers as the reference: -1 the current line (``API_SetLine``; a new call makes
its line current), -2 every line, 1..``maxlines`` a line.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any, Iterator

from .errors import ApiError, BadArgument, NoSuchLine, NotImplementedFeature
from .phone_status import IN_CALL, RINGING, SETUP, line_status_code
from .sip.errors import SipError

if TYPE_CHECKING:  # pragma: no cover
    from .phone import Phone

__all__ = ["CallsMixin"]

_log = logging.getLogger("sipctl.phone")

ALL, CURRENT = -2, -1


@contextlib.contextmanager
def _as_api_error() -> Iterator[None]:
    try:
        yield
    except (SipError, KeyError) as e:
        raise ApiError(str(e).strip("'\"")) from None
    except ValueError as e:
        raise BadArgument(str(e)) from None


class CallsMixin:
    """Call control (part of :class:`~sipctl.Phone`)."""

    # -- lines ---------------------------------------------------------------------------------
    def _line_no(self: "Phone", line: int) -> int:
        if line == CURRENT:
            return self._current
        maxlines = int(self.params.get("maxlines"))
        if line < 1 or line > max(maxlines, 1):
            raise NoSuchLine(f"line {line} does not exist (lines are 1..{maxlines}, -1 the "
                             "current one, -2 all)")
        return line

    def _calls(self: "Phone", line: int) -> list[Any]:
        """The live calls ``line`` names (-2: all)."""
        ua = self.ua
        if ua is None or ua.lines is None:
            return []
        if line == ALL:
            return [c for c in ua.lines if c.active]
        call = ua.lines.get(self._line_no(line))
        return [call] if call is not None and call.active else []

    def _one_call(self: "Phone", line: int) -> Any:
        calls = self._calls(line)
        if not calls:
            where = "any line" if line == ALL else f"line {self._line_no(line)}"
            raise NoSuchLine(f"no call on {where}")
        return calls[0]

    def set_line(self: "Phone", line: int) -> bool:
        """``API_SetLine``: make ``line`` the current one."""
        self._current = self._line_no(line)
        if self.ua is not None and self.ua.lines is not None:
            self.ua.lines.current = self._current
        return True

    def get_line(self: "Phone") -> int:
        """``API_GetLine``: the current line."""
        return self._current

    def _status_of(self: "Phone", line: int) -> str:
        calls = self._calls(line)
        if calls:
            return str(calls[0].status)
        n = self._line_no(line) if line != ALL else 0
        known = self.line_status(n)
        if known is not None:
            return known
        return "Ready" if self.ua is not None else "Init" if self.started else "Unknown"

    def get_line_status(self: "Phone", line: int = CURRENT) -> int:
        """``API_GetLineStatus``: the index of the status text in the reference's list of
        per-line statuses (:data:`~sipctl.phone_status.LINE_STATUSES`)."""
        return line_status_code(self._status_of(line))

    def get_line_status_text(self: "Phone", line: int = CURRENT) -> str:
        """``API_GetLineStatusText``: the line's status text (Ready, Ringing, Speaking...)."""
        return self._status_of(line)

    def get_status(self: "Phone", line: int = CURRENT, strict: int = 0) -> str:
        """``API_GetStatus``: -2 the general status; else the line's status (``strict``
        1: "Unknown" for a line with no call; 0: the current line's status then)."""
        if line == ALL:
            return self.general_status()
        try:
            n = self._line_no(line)
        except NoSuchLine:
            if strict:
                return "Unknown"
            n = self._current
        if strict and not self._calls(n) and self.line_status(n) is None:
            return "Unknown"
        return self._status_of(n)

    # -- calls ---------------------------------------------------------------------------------
    async def call(self: "Phone", line: int = CURRENT, peer: str = "") -> bool:
        """``API_Call``: call ``peer`` (number/user on the account's server, or a SIP URI;
        empty: redial). Progress is reported by STATUS events."""
        target = peer.strip()
        if target and not self.params.get("serveraddress") and "@" not in target \
                and not target.lower().startswith(("sip:", "sips:", "tel:")):
            raise BadArgument(f"{target!r} needs a server: set serveraddress, or call a SIP "
                              "URI (sip:user@host[:port])")
        ua = await self._ensure_stack()
        n = CURRENT if line == CURRENT else self._line_no(line)
        with _as_api_error():
            call = ua.dial(target, n)
        self._current = call.line
        return True

    async def call_ex(self: "Phone", line: int = CURRENT, peer: str = "",
                      calltype: int = 0) -> bool:
        """``API_CallEx``: calltype 0 voice (1 video, 2 screen sharing: not supported)."""
        if calltype != 0:
            raise NotImplementedFeature("video and screen sharing calls (not on sipctl's "
                                        "roadmap: a voice SDK)")
        return await self.call(line, peer)

    def hangup(self: "Phone", line: int = CURRENT, reasontext: str = "") -> bool:
        """``API_Hangup``: end the call on ``line`` (-2: every call). False: no call.
        ``reasontext`` is logged (it is not sent: BYE/CANCEL carry no free text)."""
        calls = self._calls(line)
        if not calls:
            return False
        if reasontext.strip():
            _log.info("hangup line %s: %s", line, reasontext.strip())
        with _as_api_error():
            if line == ALL:
                self.ua.hangup(ALL)
            else:
                self.ua.hangup(calls[0].line)
        return True

    def accept(self: "Phone", line: int = CURRENT) -> bool:
        """``API_Accept``: answer the incoming call ringing on ``line``."""
        call = self._ringing(line)
        with _as_api_error():
            self.ua.accept(call.line)
        return True

    def reject(self: "Phone", line: int = CURRENT) -> bool:
        """``API_Reject``: refuse the incoming call on ``line`` (486 Busy Here)."""
        call = self._ringing(line)
        with _as_api_error():
            self.ua.reject(call.line, 486)
        return True

    def forward(self: "Phone", line: int = CURRENT, peer: str = "") -> bool:
        """``API_Forward``: redirect the incoming call to ``peer`` (302)."""
        if not peer.strip():
            raise BadArgument("API_Forward needs the peer to forward to")
        call = self._ringing(line)
        with _as_api_error():
            self.ua.forward(call.line, peer.strip())
        return True

    def _ringing(self: "Phone", line: int) -> Any:
        calls = self._calls(line)
        if line == CURRENT and not calls:   # the ringing call, wherever it is
            calls = [c for c in self._calls(ALL) if c.endpointtype == 2
                     and c.status in ("CallSetup", "Ringing")]
        if not calls or calls[0].endpointtype != 2 or calls[0].status not in (
                "CallSetup", "Ringing"):
            raise NoSuchLine("no incoming call ringing" + ("" if line in (ALL, CURRENT)
                                                            else f" on line {line}"))
        return calls[0]

    async def hold(self: "Phone", line: int = CURRENT, hold: bool = True) -> bool:
        """``API_Hold``: put the call on hold (True) or resume it (False). A hold change
        still under way (its re-INVITE not answered yet) is waited for, up to 5 s."""
        for call in self._calls(line) or [self._one_call(line)]:
            await self._reinvite_done(call)
            with _as_api_error():
                self.ua.hold(call.line, hold)
        return True

    async def hold_change(self: "Phone", line: int = CURRENT) -> bool:
        """``API_HoldChange``: toggle hold."""
        call = self._one_call(line)
        return await self.hold(call.line, not call.local_hold)

    @staticmethod
    async def _reinvite_done(call: Any, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while call.reoffer_pending and loop.time() < deadline:
            await asyncio.sleep(0.02)

    def mute_ex(self: "Phone", line: int = CURRENT, mute: bool = True,
                direction: int = 4) -> bool:
        """``API_MuteEx``: mute/unmute; direction 0/3 both, 1 speaker, 2 microphone,
        4 per ``defmute``."""
        if direction not in (0, 1, 2, 3, 4):
            raise BadArgument(f"mute direction must be 0..4, got {direction}")
        for call in self._calls(line) or [self._one_call(line)]:
            with _as_api_error():
                self.ua.mute(call.line, mute, direction)
        return True

    def is_muted(self: "Phone", line: int = CURRENT) -> int:
        """``API_IsMuted``: -1 unknown (no call), 0 no, 1 both, 2 speaker, 3 microphone."""
        calls = self._calls(line)
        return int(calls[0].is_muted) if calls else -1

    def is_on_hold(self: "Phone", line: int = CURRENT) -> int:
        """``API_IsOnHold``: -1 unknown, 0 no, 2 we hold, 3 the peer holds, 4 both
        (-2: the highest over every call)."""
        calls = self._calls(line)
        if not calls:
            return -1
        return max(int(c.hold_state) for c in calls)

    def dtmf(self: "Phone", line: int = CURRENT, dtmf: str = "") -> bool:
        """``API_Dtmf``: send ``dtmf`` (digits 0-9*#A-D; a space is a pause) per
        ``dtmfmode``. False when ``dtmfmode`` disables DTMF."""
        if not dtmf:
            raise BadArgument("no DTMF digits given")
        bad = sorted({ch for ch in dtmf if ch not in "0123456789*#ABCDabcd ,"})
        if bad:
            raise BadArgument(f"not DTMF digits: {''.join(bad)!r} (0-9 * # A-D, space = pause)")
        ok = False
        for call in self._calls(line) or [self._one_call(line)]:
            with _as_api_error():
                ok = bool(self.ua.dtmf(call.line, dtmf)) or ok
        return ok

    # -- queries ---------------------------------------------------------------------------------
    def is_in_call(self: "Phone") -> int:
        """``API_IsInCall``: 0 no, 1 ringing/setting up, 2 speaking."""
        statuses = [c.status for c in self._calls(ALL)]
        if any(s in IN_CALL for s in statuses):
            return 2
        return 1 if any(s in RINGING or s in SETUP for s in statuses) else 0

    def get_current_connected_call_count(self: "Phone") -> int:
        """``API_GetCurrentConnectedCallCount``: calls connected now."""
        return sum(1 for c in self._calls(ALL) if c.status in IN_CALL)

    def get_caller_id(self: "Phone", line: int = CURRENT) -> str:
        """``API_GetCallerID``: the remote party's name (display name, else user)."""
        calls = self._calls(line)
        if not calls:
            return ""
        return calls[0].peerdisplayname or calls[0].peername

    def get_incoming_display(self: "Phone", line: int = CURRENT) -> str:
        """``API_GetIncomingDisplay``: caller id, then (after a ``\\n``) the caller's
        display name when it has one."""
        calls = self._calls(line)
        if not calls:
            return ""
        c = calls[0]
        return f"{c.peername}\n{c.peerdisplayname}" if c.peerdisplayname else c.peername

    def get_last_call_details(self: "Phone") -> str:
        """``API_GetLastCallDetails``: the last finished call as its CDR fields."""
        r = self.last_cdr
        if r is None:
            return ""
        return ",".join(str(v) for v in (r.line, r.peername, r.caller, r.called,
                                         r.peeraddress, r.connecttime_ms, r.duration_ms,
                                         r.disparty, r.reason))

    def _message_of(self: "Phone", line: str | int) -> Any:
        key = str(line).strip()
        if key.lstrip("-").isdigit():
            calls = self._calls(int(key))
            # no call now: the current line's last message (the call just ended) if any
            cid = calls[0].call_id if calls else (
                next(reversed(self._last_rx), None) if int(key) == CURRENT else None)
        else:
            cid = key
        return self._last_rx.get(cid) if cid else None

    def get_sip_header(self: "Phone", line: int = CURRENT, hdr: str = "") -> str:
        """``API_GetSIPHeader``: a header of the last SIP message received for the
        line's call; ``ERROR: ...`` text when there is none (as the reference)."""
        if not hdr.strip():
            raise BadArgument("API_GetSIPHeader needs a header name")
        msg = self._message_of(line)
        if msg is None:
            return "ERROR: no such line"
        value = msg.headers.get(hdr.strip())
        return value if value is not None else f"ERROR: no {hdr.strip()} header"

    def get_last_rec_sip_message(self: "Phone", line: str = "-1") -> str:
        """``API_GetLastRecSIPMessage``: the last SIP message received for a line (or a
        Call-ID), as text."""
        msg = self._message_of(line)
        return msg.serialize().decode("utf-8", "replace") if msg is not None else ""
