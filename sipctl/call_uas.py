"""The incoming side of a :class:`~sipctl.call.Call`: INVITE, 180, accept, PRACK.

A mixin of :class:`~sipctl.call.Call` (the state lives there). An INVITE that
requires an extension we do not support (100rel with ``prack`` off, timer with
session timers off, anything else) gets 420 Bad Extension with ``Unsupported``; a
Session-Expires below our ``min_se`` gets 422 with ``Min-SE`` (RFC 4028 9). With
``prack`` on and a caller supporting 100rel our 180 is reliable (RFC 3262 3): it
is retransmitted until PRACKed, and :meth:`accept` holds the 200 until then.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .call_common import SDP, Phase, allow_value, option_tags, supported_tags
from .call_events import INCOMING, SendResponse
from .call_timers import IntervalTooSmall, TimerDecision, uas_negotiate
from .call_uac import _allow_of
from .sip.addr import NameAddr
from .sip.dialog import Dialog
from .sip.errors import LocalProtocolError, ParseError, RemoteProtocolError, SipError
from .sip.message import Request
from .sip.offer_answer import OfferAnswer
from .sip.uri import Uri

if TYPE_CHECKING:
    from .call import Call

__all__ = ["UasMixin"]


class UasMixin:
    """Incoming calls (mixed into :class:`~sipctl.call.Call`)."""

    _uas_timer: TimerDecision | None = None

    def incoming(self: Call, invite: Request, now: float) -> None:
        """Take an incoming INVITE: 180 Ringing (SendResponse), status Ringing.

        Refuses it at once (420, 422, 400) when it cannot be taken.
        """
        if self.phase is not Phase.IDLE:
            raise LocalProtocolError(f"line {self.line} is not idle")
        self.endpointtype = INCOMING
        self.invite = invite
        self.call_id = invite.call_id or ""
        self.local_tag = self._new_token()
        self.remote = invite.from_
        self.remote_tag = self.remote.tag if self.remote is not None else None
        self.start_time = now
        self.phase = Phase.RINGING
        self._ring_at = now + self.settings.ringtimeout / 1000.0
        self.oa = OfferAnswer(self.media_config, self._sid())
        self._peer_allow = _allow_of(invite)
        self._status("CallSetup")
        unsupported = sorted(option_tags(invite, "Require") - set(supported_tags(self.settings)))
        if unsupported:
            self._final(now, 420, headers=[("Unsupported", ", ".join(unsupported))])
            return
        try:
            self._uas_timer = uas_negotiate(invite, self.settings)
        except IntervalTooSmall as e:
            self._final(now, 422, headers=[("Min-SE", str(e.min_se))])
            return
        headers: list[tuple[str, object]] = [("Contact", self.contact)]
        peer_tags = option_tags(invite, "Supported") | option_tags(invite, "Require")
        rseq = None
        if self.settings.prack and "100rel" in peer_tags:
            rseq = self._rel.next_rseq(self._new_token())
            headers += [("Require", "100rel"), ("RSeq", str(rseq))]
        ringing = self._response(180, headers=headers)
        try:
            self.dialog = Dialog.from_uas(invite, ringing, self.contact)
        except (RemoteProtocolError, LocalProtocolError):
            self._final(now, 400, reason="400 Bad Request (no Contact)")
            return
        self._emit(SendResponse(self.line, ringing))
        if rseq is not None:
            self._rel.sent(ringing, rseq, now)
        self._status("Ringing")
        if self.settings.playing >= 1:
            self._ringtone_set(True)

    def accept(self: Call, now: float) -> None:
        """Answer: 200 with our SDP answer (488 when no codec matches).

        While our reliable 180 waits for its PRACK the 200 is held and sent when the
        PRACK arrives (RFC 3262 3).
        """
        if self.phase is not Phase.RINGING:
            raise LocalProtocolError(f"line {self.line} has no call to accept")
        if self._rel.pending:
            self._accept_waiting = True
            return
        self._answer(now)

    def _answer(self: Call, now: float) -> None:
        assert self.invite is not None and self.oa is not None and self.dialog is not None
        self._accept_waiting = False
        neg = None
        try:
            if self.invite.body:
                sdp, neg = self.oa.receive_offer(self.invite.body)
                if neg is None:
                    raise ParseError("the offer has no active stream")
            else:                       # late offer: ours in the 200, the answer in the ACK
                sdp = self.oa.create_offer()
                self._late_offer = True
        except ParseError:
            self._final(now, 488)
            return
        headers: list[tuple[str, object]] = [("Contact", self.contact), ("Content-Type", SDP)]
        headers += self._ok_headers()
        if self._uas_timer is not None:
            headers += self._uas_timer.headers()
        ok = self._response(200, body=sdp.serialize().encode(), headers=headers)
        self.dialog.response_sent(ok)
        self._emit(SendResponse(self.line, ok))
        self._awaiting_ack = True
        if neg is not None:
            self.remote_hold = neg.remote_hold
        self._connected(now)
        if neg is not None:
            self._media(neg)
        if self._uas_timer is not None:
            self._session.start(self._uas_timer.interval, self._uas_timer.refresher == "uas", now)

    def _ok_headers(self: Call) -> list[tuple[str, object]]:
        """Allow and Supported for our 2xx to INVITE and re-INVITE."""
        tags = supported_tags(self.settings)
        return [("Allow", allow_value(self.settings.prack))] + (
            [("Supported", ", ".join(tags))] if tags else [])

    def _on_prack(self: Call, request: Request, now: float) -> None:
        assert self.invite is not None
        try:
            rack = request.rack
        except SipError:
            self._reply(request, 400)
            return
        invite_seq = self.invite.cseq.seq if self.invite.cseq is not None else -1
        if self.endpointtype != INCOMING or not self._rel.acknowledge(rack, invite_seq):
            self._reply(request, 481)           # RFC 3262 3: no such reliable provisional
            return
        self._reply(request, 200)
        if self._accept_waiting and self.phase is Phase.RINGING:
            self._answer(now)

    def _on_ack(self: Call, request: Request, now: float) -> None:
        if not self._awaiting_ack:
            return
        self._awaiting_ack = False
        if self._late_offer and self.oa is not None:
            self._late_offer = False
            try:
                self._media(self.oa.receive_answer(request.body))
            except (SipError, ValueError) as e:
                self._local_disconnect(now, f"488 Not Acceptable Here ({e})")

    def reject(self: Call, now: float, status: int = 486) -> None:
        """Refuse the incoming call (486 Busy Here; 603 Decline and others on request)."""
        if self.phase is not Phase.RINGING:
            raise LocalProtocolError(f"line {self.line} has no call to reject")
        self._final(now, status)

    def forward(self: Call, target: str | Uri, now: float) -> None:
        """Redirect the incoming call: 302 Moved Temporarily with ``Contact: <target>``."""
        if self.phase is not Phase.RINGING:
            raise LocalProtocolError(f"line {self.line} has no call to forward")
        uri = self.target_uri(target) if isinstance(target, str) else target
        self._final(now, 302, headers=[("Contact", NameAddr(uri))])
