"""The outgoing side of a :class:`~sipctl.call.Call`: INVITE, its responses, CANCEL.

A mixin of :class:`~sipctl.call.Call` (the state lives there). Handles:

* 401/407 (resend with credentials, see :meth:`Call._auth_retry`) and 422 (resend
  with the response's Min-SE as Session-Expires, RFC 4028 7.4);
* reliable provisionals (PRACK, RFC 3262 4), also when ``prack`` is off but the peer
  requires 100rel (RFC 3262 allows it; we log it);
* ringing and early media per ``changesptoring``: 180 always rings; 181-183 ring
  with 1/2/4; a 18x SDP starts media (``MediaReady(early=True)``) with 2/3/4.
  :class:`LocalRingback` plays while ringing with ``playing`` 2 and no early media;
* a malformed 2xx (no To tag, no Contact, bad SDP, anything the dialog refuses)
  never raises: the call ends with "malformed 200 OK: <detail>" (ACK and BYE when
  a dialog could be formed, else an ACK to the Contact when there is one).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .call_common import SDP, Phase, allow_value, supported_tags, target_uri
from .call_events import DISPARTY_LOCAL, DISPARTY_PEER, OUTGOING, SendAck, SendRequest
from .call_reliable import is_reliable
from .call_timers import min_se_of, request_headers, session_expires_of
from .sip.addr import NameAddr
from .sip.dialog import Dialog
from .sip.errors import LocalProtocolError, SipError
from .sip.message import Request, Response
from .sip.offer_answer import NegotiatedMedia, NotAcceptable, OfferAnswer
from .sip.transaction.layer import make_cancel
from .sip.uri import Uri

if TYPE_CHECKING:
    from .call import Call

__all__ = ["UacMixin"]

log = logging.getLogger(__name__)


class UacMixin:
    """Outgoing calls (mixed into :class:`~sipctl.call.Call`)."""

    def target_uri(self: Call, target: str) -> Uri:
        """``target`` (user, number, user@host or a URI) as a Request-URI, with ``techprefix``."""
        return target_uri(target, self.local_uri, self.settings.techprefix)

    def dial(self: Call, target: str | Uri, now: float) -> Request:
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
        req.add("Allow", allow_value(self.settings.prack))
        tags = supported_tags(self.settings)
        if tags:
            req.add("Supported", ", ".join(tags))
        for name, value in request_headers(self.settings) + self.settings.custom_headers():
            req.add(name, value)
        req.add("Content-Type", SDP)
        req.body = offer.serialize().encode()
        self.invite = req
        self.start_time = now
        self.phase = Phase.CALLING
        self._ring_at = now + self.settings.ringtimeout / 1000.0
        self._status("CallSetup")
        self._status("Setup")
        self._emit(SendRequest(self.line, req))
        return req

    def _on_invite_response(self: Call, response: Response, now: float) -> None:
        st = response.status
        assert self.invite is not None and self.oa is not None
        if st < 200:
            try:
                self._on_provisional(response, now)
            except (SipError, ValueError) as e:     # a broken 1xx changes nothing
                log.info("[%s] ignoring malformed %d: %s", self.call_id, st, e)
            return
        if st < 300:
            self._on_invite_2xx(response, now)
            return
        why = None
        if st in (401, 407) and self.phase is Phase.CALLING:
            why = self._auth_retry(self.invite, response, now)
            if why is None:
                return
        if st == 422 and self.phase is Phase.CALLING and self._retry_422(self.invite, response, now):
            return
        self._auth_done("INVITE")
        if self.dialog is not None:
            self.dialog.receive_response(response)
        if self.phase is Phase.CALLING:
            self._disconnect(DISPARTY_PEER, f"{st} {response.reason}" + (f" ({why})" if why else ""))
        self._finished(now)

    def _retry_422(self: Call, request: Request, response: Response, now: float) -> bool:
        """RFC 4028 7.4: resend with Session-Expires (and Min-SE) = the 422's Min-SE."""
        min_se = min_se_of(response)
        current = session_expires_of(request)
        if min_se is None or (current is not None and min_se <= current[0]) \
                or self._tries.get("422", 0) >= 2:
            return False
        self._tries["422"] = self._tries.get("422", 0) + 1
        value = str(min_se) if current is None or current[1] is None else f"{min_se};refresher={current[1]}"
        self._resend(request, now, [("Session-Expires", value), ("Min-SE", str(min_se))])
        return True

    def _on_provisional(self: Call, response: Response, now: float) -> None:
        assert self.invite is not None and self.oa is not None
        st = response.status
        if self.connect_time is not None:
            return
        to_tag = response.to.tag if response.to is not None else None
        self._provisional = True
        if st > 100 and to_tag:
            dialog = self._early_dialog(response, to_tag)
            if is_reliable(response):
                if not self._pracks.accept(to_tag, response.rseq):  # type: ignore[arg-type]
                    return          # retransmitted or out of order: not processed (RFC 3262 4)
                if not self.settings.prack:
                    log.info("[%s] peer requires 100rel although prack is off: PRACKing",
                             self.call_id)
                rack = f"{response.rseq} {self.invite.cseq.seq} INVITE"  # type: ignore[union-attr]
                self._send_in_dialog("PRACK", [("RAck", rack)], dialog=dialog)
        if self._cancel_pending:
            self._cancel_pending = False
            self._send_cancel(now)
            return
        if self.phase is not Phase.CALLING:
            return
        cpr = self.settings.changesptoring
        rings = st == 180 or (st > 100 and cpr in (1, 2, 4))
        if st == 100:
            if self.status != "Ringing":
                self._status("InProgress")
        elif rings and self.status != "Ringing":
            self._status("Ringing")
        if st > 100 and response.body:
            neg = self._early_answer(response.body)
            if neg is not None and cpr in (2, 3, 4) and not self._early_media:
                self._early_media = True
                self._ringback_set(False)
                self._media(neg, early=True)
        if rings and not self._early_media and self.settings.playing == 2:
            self._ringback_set(True)

    def _early_dialog(self: Call, response: Response, to_tag: str) -> Dialog:
        assert self.invite is not None
        if self.dialog is not None and self.dialog.remote_tag == to_tag:
            self.dialog.receive_response(response)
            return self.dialog
        if to_tag in self._early:
            self._early[to_tag].receive_response(response)
            return self._early[to_tag]
        dialog = Dialog.from_uac(self.invite, response, self.contact)
        self._early[to_tag] = dialog
        if self.dialog is None:             # the first early dialog is the call's
            self.dialog = dialog
        return dialog

    def _early_answer(self: Call, body: bytes) -> NegotiatedMedia | None:
        """The answer in a 18x (kept so a 2xx without SDP still has one)."""
        assert self.oa is not None
        if self.oa.negotiated is not None:
            return self.oa.negotiated
        try:
            return self.oa.receive_answer(body)
        except (SipError, ValueError):
            return None

    def _on_invite_2xx(self: Call, response: Response, now: float) -> None:
        assert self.invite is not None and self.oa is not None
        if self._ack is not None:       # a retransmitted 2xx
            self._emit(self._ack_event())
            return
        problem, dialog = None, None
        try:
            to_tag = response.to.tag if response.to is not None else None
            if not to_tag:
                problem = "no To tag"
            else:
                if not response.contact:
                    problem = "no Contact"
                if self.dialog is not None and self.dialog.remote_tag == to_tag:
                    self.dialog.receive_response(response)
                    dialog = self.dialog
                else:
                    dialog = Dialog.from_uac(self.invite, response, self.contact)
        except (SipError, ValueError) as e:
            problem = problem or str(e)
        self._auth_done("INVITE")
        if dialog is not None:
            self.dialog = dialog
            self._ack = dialog.create_ack(via=self._via())
            self._emit(SendAck(self.line, self._ack))
        else:
            self._bare_ack(response)
        if self.phase is not Phase.CALLING:      # 2xx after our CANCEL: ACK + BYE
            if dialog is not None:
                self._send_bye(now)
            else:
                self._finished(now)
            return
        if problem is not None:
            self._malformed_2xx(problem, now)
            return
        try:
            if response.body and self.oa.negotiated is None:
                self.oa.receive_answer(response.body)
            elif self.oa.negotiated is None:
                raise NotAcceptable("the 2xx carries no SDP answer")
        except NotAcceptable as e:
            self._connected(now)
            self._local_disconnect(now, f"488 Not Acceptable Here ({e})")
            return
        except (SipError, ValueError) as e:
            self._malformed_2xx(f"bad SDP ({e})", now)
            return
        self._peer_allow = _allow_of(response)
        self._media(self.oa.negotiated)
        self._connected(now)
        self._session_from_2xx(response, now)

    def _malformed_2xx(self: Call, problem: str, now: float) -> None:
        """End the call after an unusable 2xx: BYE when there is a dialog to end."""
        self._disconnect(DISPARTY_LOCAL, f"malformed 200 OK: {problem}")
        if self._ack is not None and self.dialog is not None:
            self._send_in_dialog("BYE", self.settings.custom_headers())
        self._finished(now)

    def _bare_ack(self: Call, response: Response) -> None:
        """ACK a 2xx no dialog could be formed from, to its Contact (if it has one)."""
        assert self.invite is not None
        try:
            contacts = response.contact
            if not contacts:
                return
            ack = Request("ACK", contacts[0].uri)
            ack.add("Via", self._via())
            ack.add("Max-Forwards", "70")
            for name in ("From", "To", "Call-ID"):
                for value in response.headers.lines(name):
                    ack.add(name, value)
            ack.add("CSeq", f"{self.invite.cseq.seq} ACK")  # type: ignore[union-attr]
        except (SipError, ValueError):
            return
        self._emit(SendAck(self.line, ack))

    def _ack_event(self: Call) -> SendAck:
        assert self._ack is not None
        return SendAck(self.line, self._ack)

    def _send_cancel(self: Call, now: float) -> None:
        assert self.invite is not None
        self._emit(SendRequest(self.line, make_cancel(self.invite)))
        if self.settings.discmode >= 3 and self.dialog is not None:
            self._send_bye(now)


def _allow_of(message: Response | Request) -> set[str]:
    try:
        return {m.upper() for m in message.allow}
    except (SipError, ValueError):
        return set()
