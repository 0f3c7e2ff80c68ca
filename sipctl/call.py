"""One call on one line (RFC 3261 INVITE dialogs, RFC 3264 offer/answer), sans-IO.

A :class:`Call` is fed what the UA core's transaction layer reports
(:meth:`Call.receive_response`, :meth:`Call.receive_request`,
:meth:`Call.transaction_failed`), wakes up at :meth:`Call.get_timer`
(:meth:`Call.handle_timer`) and hands back typed events (:mod:`sipctl.call_events`)
through :meth:`Call.next_event`. No clock, no randomness: ``now`` (seconds) is passed
in, Call-ID, tags and branches come from an injected ``new_token``.
:class:`~sipctl.call_lines.Lines` runs up to ``maxlines`` calls and applies the
incoming call policy.

Choices (where the reference leaves one):

* Status texts per line follow the reference: CallSetup, Setup, InProgress (100),
  Ringing (180-183), CallConnect, Speaking (connected), Hold, CallDisconnect,
  Finishing (we sent BYE/CANCEL/a 3xx-6xx), Finished. A CDR follows Finished, once.
* Hangup before a provisional response waits for one before sending CANCEL (RFC 3261
  9.1). A 2xx arriving after our CANCEL is ACKed and ended with BYE (RFC 3261 15,
  ``discmode`` 2). ``discmode`` 3/4 also send BYE in an early dialog after the CANCEL;
  ``discmode`` 1 (quick) does not wait for the answer to BYE/CANCEL.
* ``ringtimeout`` ends an unanswered call (CANCEL outgoing, 480 incoming);
  ``calltimeout`` ends a connected call with BYE. Both count as local (disparty 1).
* A failed INVITE transaction (Timer B) gives disparty 3, reason "408 Request Timeout";
  a missing ACK for our 2xx (``transaction_failed("INVITE")`` while waiting) ends the
  call with BYE, reason "ACK timeout".
* Authentication (401/407 to INVITE) and forked 2xx from several peers are not
  handled here (the first dialog wins; a 401/407 ends the call).
"""
from __future__ import annotations

import enum
from collections import deque
from typing import Any, Callable

from .call_settings import CallSettings
from .call_events import (DISPARTY_LOCAL, DISPARTY_PEER, DISPARTY_UNDEFINED, INCOMING, OUTGOING,
                          CallEvent, Cdr, MediaReady, MediaStop, SendAck, SendRequest, SendResponse,
                          StatusChanged)
from .sip.addr import NameAddr
from .sip.dialog import Dialog
from .sip.errors import LocalProtocolError, ParseError, RemoteProtocolError
from .sip.message import Request, Response, make_response
from .sip.offer_answer import MediaConfig, NegotiatedMedia, OfferAnswer
from .sip.transaction.layer import make_cancel
from .sip.uri import SipUri, Uri, parse_uri

__all__ = ["Call", "CallSettings", "Phase", "FINISH_GUARD"]

#: Seconds we wait for the answer to our BYE/CANCEL before calling the line Finished.
FINISH_GUARD = 32.0
_SDP = "application/sdp"


class Phase(enum.Enum):
    """Where a :class:`Call` is."""

    IDLE = "idle"
    CALLING = "calling"        #: outgoing INVITE sent, no final response
    RINGING = "ringing"        #: incoming INVITE, not answered yet
    CONNECTED = "connected"
    FINISHING = "finishing"    #: we sent BYE/CANCEL, waiting for the answer
    FINISHED = "finished"


def _user(addr: NameAddr | None) -> str:
    if addr is None:
        return ""
    uri = addr.uri
    return (uri.user or str(uri)) if isinstance(uri, SipUri) else str(uri)


def _host(uri: Uri | None) -> str:
    return uri.hostport if isinstance(uri, SipUri) else ""


class Call:
    """One call (outgoing with :meth:`dial`, incoming with :meth:`incoming`) on ``line``."""

    def __init__(self, line: int, *, local_uri: NameAddr | str, contact: SipUri | str,
                 media: MediaConfig, new_token: Callable[[], str],
                 settings: CallSettings | None = None, sent_by: str = "127.0.0.1:5060",
                 transport: str = "UDP", session_id: int | None = None) -> None:
        self.line = line
        self.local_uri = NameAddr.parse(local_uri) if isinstance(local_uri, str) else local_uri
        self.contact = NameAddr(parse_uri(contact) if isinstance(contact, str) else contact)
        self.media_config = media
        self.settings = settings or CallSettings()
        self.sent_by = sent_by
        self.transport = transport
        self._new_token = new_token
        self._session_id = session_id
        self.phase = Phase.IDLE
        self.status = "Init"
        self.endpointtype = 0
        self.call_id = ""
        self.local_tag = ""
        self.remote: NameAddr | None = None
        self.remote_tag: str | None = None
        self.dialog: Dialog | None = None
        self.invite: Request | None = None
        self.oa: OfferAnswer | None = None
        self.negotiated: NegotiatedMedia | None = None
        self.disparty = 0
        self.reason = ""
        self.start_time: float | None = None
        self.connect_time: float | None = None
        self.end_time: float | None = None
        self._events: deque[CallEvent] = deque()
        self._ring_at: float | None = None
        self._call_at: float | None = None
        self._finish_at: float | None = None
        self._provisional = False
        self._cancel_pending = False
        self._ack: Request | None = None
        self._awaiting_ack = False
        self._late_offer = False
        self._reinvite: Request | None = None
        self._media_on = False
        self._cdr_sent = False

    def __repr__(self) -> str:
        return f"<Call line={self.line} {self.phase.value} {self.status} {self.call_id}>"

    # -- public state -------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """The line is busy (from dial/incoming until Finished)."""
        return self.phase not in (Phase.IDLE, Phase.FINISHED)

    @property
    def peername(self) -> str:
        return _user(self.remote)

    @property
    def peerdisplayname(self) -> str:
        return (self.remote.display_name or "") if self.remote is not None else ""

    @property
    def localname(self) -> str:
        return _user(self.local_uri)

    # -- the sans-IO interface ----------------------------------------------------------------
    def next_event(self) -> CallEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        times = [t for t in (self._ring_at, self._call_at, self._finish_at) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        if self._ring_at is not None and now >= self._ring_at:
            self._ring_at = None
            if self.phase is Phase.CALLING:
                self._local_disconnect(now, "ring timeout")
            elif self.phase is Phase.RINGING:
                self._final(now, 480, reason="ring timeout")
        if self._call_at is not None and now >= self._call_at:
            self._call_at = None
            if self.phase is Phase.CONNECTED:
                self._local_disconnect(now, "call timeout")
        if self._finish_at is not None and now >= self._finish_at:
            self._finish_at = None
            if self.phase is Phase.FINISHING:
                self._finished(now)

    # -- outgoing -----------------------------------------------------------------------------
    def target_uri(self, target: str) -> Uri:
        """``target`` (user, number, user@host or a URI) as a Request-URI, with ``techprefix``."""
        t = target.strip()
        prefix = self.settings.techprefix
        scheme = t.split(":", 1)[0].lower() if ":" in t else ""
        if scheme in ("sip", "sips", "tel"):
            uri = parse_uri(t)
            if prefix and isinstance(uri, SipUri) and uri.user:
                uri = uri.copy(user=prefix + uri.user)
            return uri
        user, _, host = t.partition("@")
        local = self.local_uri.uri
        return SipUri(host=host or _host(local), user=prefix + user)

    def dial(self, target: str | Uri, now: float) -> Request:
        """Start an outgoing call: build the INVITE with our SDP offer (SendRequest)."""
        if self.phase is not Phase.IDLE:
            raise LocalProtocolError(f"line {self.line} is not idle")
        uri = self.target_uri(target) if isinstance(target, str) else target
        self.endpointtype = OUTGOING
        self.call_id = self._new_token()
        self.local_tag = self._new_token()
        self.remote = NameAddr(uri)
        self.oa = OfferAnswer(self.media_config, self._sid())
        offer = self.oa.create_offer()
        req = Request("INVITE", uri)
        req.add("Via", self._via())
        req.add("Max-Forwards", "70")
        req.add("From", self.local_uri.with_tag(self.local_tag))
        req.add("To", self.remote)
        req.add("Call-ID", self.call_id)
        req.add("CSeq", "1 INVITE")
        req.add("Contact", self.contact)
        req.add("Content-Type", _SDP)
        for name, value in self.settings.custom_headers():
            req.add(name, value)
        req.body = offer.serialize().encode()
        self.invite = req
        self.start_time = now
        self.phase = Phase.CALLING
        self._ring_at = now + self.settings.ringtimeout / 1000.0
        self._status("CallSetup")
        self._status("Setup")
        self._emit(SendRequest(self.line, req))
        return req

    def receive_response(self, response: Response, now: float) -> bool:
        """A response to a request of this call (False: not ours)."""
        cseq = response.cseq
        if cseq is None or self.phase in (Phase.IDLE, Phase.FINISHED):
            return False
        if cseq.method == "INVITE":
            if self._reinvite is not None and cseq.seq == self._reinvite.cseq.seq:  # type: ignore[union-attr]
                self._on_reinvite_response(response, now)
            elif self.endpointtype == OUTGOING and self.invite is not None \
                    and cseq.seq == self.invite.cseq.seq:  # type: ignore[union-attr]
                self._on_invite_response(response, now)
            elif 200 <= response.status < 300 and self._ack is not None:
                self._emit(SendAck(self.line, self._ack))
            return True
        if cseq.method == "BYE":
            if response.status >= 200 and self.phase is Phase.FINISHING:
                self._finished(now)
            return True
        return cseq.method == "CANCEL"   # the INVITE's 487 (or 2xx) ends it, not this

    def _on_invite_response(self, response: Response, now: float) -> None:
        st = response.status
        assert self.invite is not None and self.oa is not None
        to_tag = response.to.tag if response.to is not None else None
        if st < 200:
            if self.connect_time is not None:
                return
            self._provisional = True
            if st > 100 and to_tag:
                if self.dialog is None:
                    self.dialog = Dialog.from_uac(self.invite, response, self.contact)
                elif self.dialog.remote_tag == to_tag:
                    self.dialog.receive_response(response)
            if self._cancel_pending:
                self._cancel_pending = False
                self._send_cancel(now)
                return
            if self.phase is not Phase.CALLING:
                return
            if st == 100:
                if self.status != "Ringing":
                    self._status("InProgress")
            elif self.status != "Ringing":
                self._status("Ringing")
            if response.body and self.oa.negotiated is None:   # early media (183)
                try:
                    self._media(self.oa.receive_answer(response.body))
                except ParseError:
                    pass
            return
        if st < 300:
            if self._ack is not None:       # a retransmitted 2xx
                self._emit(SendAck(self.line, self._ack))
                return
            if self.dialog is None or self.dialog.remote_tag != to_tag:
                self.dialog = Dialog.from_uac(self.invite, response, self.contact)
            else:
                self.dialog.receive_response(response)
            self._ack = self.dialog.create_ack(via=self._via())
            self._emit(SendAck(self.line, self._ack))
            if self.phase is not Phase.CALLING:      # 2xx after our CANCEL: ACK + BYE
                self._send_bye(now)
                return
            try:
                if response.body and self.oa.negotiated is None:
                    self._media(self.oa.receive_answer(response.body))
                elif self.oa.negotiated is None:
                    raise ParseError("the 2xx carries no SDP answer")
            except ParseError as e:
                self._connected(now)
                self._local_disconnect(now, f"488 Not Acceptable Here ({e})")
                return
            self._connected(now)
            return
        if self.dialog is not None:
            self.dialog.receive_response(response)
        if self.phase is Phase.CALLING:
            self._disconnect(DISPARTY_PEER, f"{st} {response.reason}")
        self._finished(now)

    def _send_cancel(self, now: float) -> None:
        assert self.invite is not None
        self._emit(SendRequest(self.line, make_cancel(self.invite)))
        if self.settings.discmode >= 3 and self.dialog is not None:
            self._send_bye(now)

    # -- incoming -----------------------------------------------------------------------------
    def incoming(self, invite: Request, now: float) -> None:
        """Take an incoming INVITE: 180 Ringing (SendResponse), status Ringing."""
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
        self._status("CallSetup")
        ringing = self._response(180, headers=[("Contact", self.contact)])
        try:
            self.dialog = Dialog.from_uas(invite, ringing, self.contact)
        except (RemoteProtocolError, LocalProtocolError):
            self._final(now, 400, reason="400 Bad Request (no Contact)")
            return
        self._emit(SendResponse(self.line, ringing))
        self._status("Ringing")

    def accept(self, now: float) -> None:
        """Answer: 200 with our SDP answer (488 when no codec matches)."""
        if self.phase is not Phase.RINGING:
            raise LocalProtocolError(f"line {self.line} has no call to accept")
        assert self.invite is not None and self.oa is not None and self.dialog is not None
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
        ok = self._response(200, body=sdp.serialize().encode(),
                            headers=[("Contact", self.contact), ("Content-Type", _SDP)])
        self.dialog.response_sent(ok)
        self._emit(SendResponse(self.line, ok))
        self._awaiting_ack = True
        self._connected(now)
        if neg is not None:
            self._media(neg)

    def reject(self, now: float, status: int = 486) -> None:
        """Refuse the incoming call (486 Busy Here; 603 Decline and others on request)."""
        if self.phase is not Phase.RINGING:
            raise LocalProtocolError(f"line {self.line} has no call to reject")
        self._final(now, status)

    def forward(self, target: str | Uri, now: float) -> None:
        """Redirect the incoming call: 302 Moved Temporarily with ``Contact: <target>``."""
        if self.phase is not Phase.RINGING:
            raise LocalProtocolError(f"line {self.line} has no call to forward")
        uri = self.target_uri(target) if isinstance(target, str) else target
        self._final(now, 302, headers=[("Contact", NameAddr(uri))])

    def receive_request(self, request: Request, now: float) -> bool:
        """A request for this call: CANCEL, ACK, BYE, re-INVITE (False: not handled)."""
        m = request.method
        if self.phase in (Phase.IDLE, Phase.FINISHED):
            return False
        if m == "CANCEL":
            self._emit(SendResponse(self.line, make_response(request, 200, to_tag=self.local_tag)))
            if self.phase is Phase.RINGING:
                self._emit(SendResponse(self.line, self._response(487)))
                self._disconnect(DISPARTY_PEER, "CANCEL")
                self._finished(now)
            return True
        if m == "ACK":
            if self._awaiting_ack:
                self._awaiting_ack = False
                if self._late_offer and self.oa is not None:
                    self._late_offer = False
                    try:
                        self._media(self.oa.receive_answer(request.body))
                    except ParseError as e:
                        self._local_disconnect(now, f"488 Not Acceptable Here ({e})")
            return True
        if self.dialog is not None:
            try:
                self.dialog.receive_request(request)
            except RemoteProtocolError as e:
                self._emit(SendResponse(self.line, make_response(request, e.status, e.reason)))
                return True
        if m == "BYE":
            self._emit(SendResponse(self.line, make_response(request, 200)))
            if self.phase is not Phase.FINISHING:
                self._disconnect(DISPARTY_PEER, "BYE")
            self._finished(now)
            return True
        if m == "INVITE" and self.phase is Phase.CONNECTED:
            self._on_reinvite(request)
            return True
        return False

    def _on_reinvite(self, request: Request) -> None:
        assert self.oa is not None
        try:
            if request.body:
                sdp, neg = self.oa.receive_offer(request.body)
            else:
                sdp, neg = self.oa.create_offer(), None
                self._late_offer = self._awaiting_ack = True
        except ParseError:
            self._emit(SendResponse(self.line, make_response(request, 488)))
            return
        self._emit(SendResponse(self.line, make_response(
            request, 200, body=sdp.serialize().encode(),
            headers=[("Contact", self.contact), ("Content-Type", _SDP)])))
        if neg is not None:
            self._media(neg)
            self._status("Hold" if neg.remote_hold else "Speaking")

    # -- hold (re-INVITE) ---------------------------------------------------------------------
    def hold(self, now: float, holdtypeonhold: int | None = None) -> None:
        """Put the call on hold (re-INVITE per ``holdtypeonhold``; none for 0/-2)."""
        self._reoffer(True, holdtypeonhold)

    def unhold(self, now: float) -> None:
        """Take the call off hold (re-INVITE sendrecv)."""
        self._reoffer(False, None)

    def _reoffer(self, hold: bool, holdtype: int | None) -> None:
        if self.phase is not Phase.CONNECTED or self.dialog is None or self.oa is None:
            raise LocalProtocolError(f"line {self.line} has no connected call")
        if self._reinvite is not None:
            raise LocalProtocolError("a re-INVITE is already in progress")
        sdp = self.oa.hold(holdtype) if hold else self.oa.unhold()
        if sdp is not None:
            req = self.dialog.create_request("INVITE", via=self._via(), body=sdp.serialize().encode(),
                                             headers=[("Content-Type", _SDP),
                                                      *self.settings.custom_headers()])
            self._reinvite = req
            self._emit(SendRequest(self.line, req))
        self._status("Hold" if hold else "Speaking")

    def _on_reinvite_response(self, response: Response, now: float) -> None:
        if response.status < 200:
            return
        assert self.dialog is not None and self.oa is not None
        self._reinvite = None
        if response.status >= 300:
            return
        self.dialog.receive_response(response)
        self._ack = self.dialog.create_ack(via=self._via())
        self._emit(SendAck(self.line, self._ack))
        try:
            self._media(self.oa.receive_answer(response.body))
        except ParseError as e:
            self._local_disconnect(now, f"488 Not Acceptable Here ({e})")

    # -- ending -------------------------------------------------------------------------------
    def hangup(self, now: float) -> None:
        """Hang up: CANCEL before the answer, BYE after, reject (486) an incoming ringing call."""
        if self.phase is Phase.RINGING:
            self._final(now, 486)
        elif self.phase in (Phase.CALLING, Phase.CONNECTED):
            self._local_disconnect(now, "CANCEL" if self.phase is Phase.CALLING else "BYE")

    def transaction_failed(self, method: str, now: float, reason: str = "timeout") -> None:
        """A client transaction of ours (or our INVITE server transaction) failed."""
        if self.phase in (Phase.IDLE, Phase.FINISHED):
            return
        if method == "INVITE":
            if self._reinvite is not None:
                self._reinvite = None
                self._local_disconnect(now, f"re-INVITE {reason}")
            elif self.endpointtype == OUTGOING and self.phase is Phase.CALLING:
                self._disconnect(DISPARTY_UNDEFINED, f"408 Request Timeout ({reason})")
                self._finished(now)
            elif self.endpointtype == INCOMING and self._awaiting_ack:
                self._awaiting_ack = False
                self._local_disconnect(now, "ACK timeout")
            elif self.phase is Phase.FINISHING:
                self._finished(now)
        elif method in ("BYE", "CANCEL") and self.phase is Phase.FINISHING:
            self._finished(now)

    def _local_disconnect(self, now: float, reason: str) -> None:
        """We end a CALLING (CANCEL) or CONNECTED (BYE) call."""
        calling = self.phase is Phase.CALLING
        self._disconnect(DISPARTY_LOCAL, reason)
        self.phase = Phase.FINISHING
        self._status("Finishing")
        self._ring_at = self._call_at = None
        if calling and not self._provisional:
            self._cancel_pending = True        # RFC 3261 9.1: CANCEL after a provisional
        elif calling:
            self._send_cancel(now)
        else:
            self._send_bye(now)
        if self.settings.discmode == 1 and not self._cancel_pending:
            self._finished(now)
        else:
            self._finish_at = now + FINISH_GUARD

    def _send_bye(self, now: float) -> None:
        assert self.dialog is not None
        bye = self.dialog.create_request("BYE", via=self._via(),
                                         headers=self.settings.custom_headers())
        self._emit(SendRequest(self.line, bye))
        if self.phase is Phase.FINISHING and self._finish_at is None:
            self._finish_at = now + FINISH_GUARD

    def _final(self, now: float, status: int, reason: str | None = None,
               headers: list[tuple[str, Any]] | None = None) -> None:
        """Answer the incoming INVITE with a 3xx-6xx and end the call (disparty 1)."""
        resp = self._response(status, headers=headers)
        if self.dialog is not None:
            self.dialog.response_sent(resp)
        self._disconnect(DISPARTY_LOCAL, reason or f"{status} {resp.reason}")
        self._emit(SendResponse(self.line, resp))
        self._status("Finishing")
        self._finished(now)

    def _disconnect(self, disparty: int, reason: str) -> None:
        if self.disparty:
            return
        self.disparty, self.reason = disparty, reason
        self._status("CallDisconnect")
        if self._media_on:
            self._media_on = False
            self._emit(MediaStop(self.line))

    def _finished(self, now: float) -> None:
        if self.phase is Phase.FINISHED:
            return
        if not self.disparty:
            self._disconnect(DISPARTY_UNDEFINED, "unknown")
        self.phase = Phase.FINISHED
        self.end_time = now
        self._ring_at = self._call_at = self._finish_at = None
        if self.dialog is not None:
            self.dialog.terminate()
        self._status("Finished")
        if not self._cdr_sent:
            self._cdr_sent = True
            self._emit(self._cdr())

    def _cdr(self) -> Cdr:
        start = self.start_time if self.start_time is not None else 0.0
        end = self.end_time if self.end_time is not None else start
        if self.connect_time is not None:
            connect_ms = round((self.connect_time - start) * 1000)
            duration_ms = round((end - self.connect_time) * 1000)
        else:
            connect_ms = duration_ms = 0
        me, peer = self.localname, self.peername
        caller, called = (me, peer) if self.endpointtype == OUTGOING else (peer, me)
        address = _host(self.invite.uri if self.endpointtype == OUTGOING and self.invite
                        else (self.remote.uri if self.remote else None))
        return Cdr(self.line, peer, caller, called, address, connect_ms, duration_ms,
                   self.disparty, self.reason)

    # -- helpers ------------------------------------------------------------------------------
    def _connected(self, now: float) -> None:
        self.phase = Phase.CONNECTED
        self.connect_time = now
        self._ring_at = None
        self._call_at = now + self.settings.calltimeout / 1000.0
        self._status("CallConnect")
        self._status("Speaking")

    def _media(self, neg: NegotiatedMedia) -> None:
        self.negotiated = neg
        self._media_on = True
        self._emit(MediaReady(self.line, neg))

    def _response(self, status: int, body: bytes = b"",
                  headers: list[tuple[str, Any]] | None = None) -> Response:
        assert self.invite is not None
        extra = list(headers or []) + self.settings.custom_headers()
        return make_response(self.invite, status, to_tag=self.local_tag, body=body, headers=extra)

    def _via(self) -> str:
        return f"SIP/2.0/{self.transport} {self.sent_by};branch=z9hG4bK{self._new_token()}"

    def _sid(self) -> int:
        if self._session_id is not None:
            return self._session_id
        return int.from_bytes(self._new_token().encode()[:6], "big") % 10**9 + 1

    def _status(self, status: str) -> None:
        self.status = status
        self._emit(StatusChanged(self.line, status, self.peername, self.localname,
                                 self.endpointtype, self.peerdisplayname, self.call_id))

    def _emit(self, event: CallEvent) -> None:
        self._events.append(event)


from .call_lines import Lines  # noqa: E402  (re-exported; call_lines imports this module)

__all__ += ["Lines"]
