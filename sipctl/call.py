"""One call on one line (RFC 3261 INVITE dialogs, RFC 3264 offer/answer), sans-IO.

A :class:`Call` is fed what the UA core's transaction layer reports
(:meth:`Call.receive_response`, :meth:`Call.receive_request`,
:meth:`Call.transaction_failed`), wakes up at :meth:`Call.get_timer`
(:meth:`Call.handle_timer`) and hands back typed events (:mod:`sipctl.call_events`)
through :meth:`Call.next_event`. No clock, no randomness: ``now`` (seconds) is passed
in, Call-ID, tags, branches and the first RSeq come from an injected ``new_token``.
:class:`~sipctl.call_lines.Lines` runs up to ``maxlines`` calls and applies the
incoming call policy.

The concerns live in mixins: outgoing calls in :mod:`sipctl.call_uac`, incoming
ones in :mod:`sipctl.call_uas`, in-dialog requests (re-INVITE, UPDATE, INFO, hold,
mute, session refresh) in :mod:`sipctl.call_indialog`; RFC 3262 in
:mod:`sipctl.call_reliable`, RFC 4028 in :mod:`sipctl.call_timers`. This module
holds the state, the dispatch, authentication retries and the ending of a call.

Choices (where the reference leaves one):

* Status texts per line follow the reference: CallSetup, Setup, InProgress (100),
  Ringing (180-183), CallConnect, Speaking (connected), Hold, CallDisconnect,
  Finishing (we sent BYE/CANCEL/a 3xx-6xx), Finished. A CDR follows Finished, once.
* Hangup before a provisional response waits for one before sending CANCEL (RFC 3261
  9.1). A 2xx arriving after our CANCEL is ACKed and ended with BYE (RFC 3261 15,
  ``discmode`` 2). ``discmode`` 3/4 also send BYE in an early dialog after the CANCEL;
  ``discmode`` 1 (quick) does not wait for the answer to BYE/CANCEL.
* ``ringtimeout`` ends an unanswered call (CANCEL outgoing, 480 incoming);
  ``calltimeout`` ends a connected call with BYE. Both count as local (disparty 1),
  as do a media timeout (:meth:`Call.media_timeout`), a session timer expiry and a
  malformed 2xx ("malformed 200 OK: ..."): we decide to end those calls.
* A failed INVITE transaction (Timer B) gives disparty 3, reason "408 Request Timeout";
  a missing ACK for our 2xx (``transaction_failed("INVITE")`` while waiting) ends the
  call with BYE, reason "ACK timeout".
* 401/407: with an ``auth`` DigestClient the request is resent once with credentials
  (the INVITE up to 3 times for ``stale`` nonces). A rejected or unanswerable
  challenge to the INVITE ends the call (disparty 2, e.g. "407 Proxy Authentication
  Required (credentials rejected)"). Forked 2xx: the first dialog wins.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import Any, Callable

from .call_auth import credentials_for
from .call_common import FINISH_GUARD, Phase, clone_request, host_of, reason_phrase, user_of
from .call_events import (DISPARTY_LOCAL, DISPARTY_PEER, DISPARTY_UNDEFINED, INCOMING, OUTGOING,
                          CallEvent, Cdr, LocalRingback, LocalRingtone, MediaReady, MediaStop,
                          SendRequest, SendResponse, StatusChanged)
from .call_indialog import InDialogMixin
from .call_reliable import PrackTracker, ReliableProvisional
from .call_settings import CallSettings
from .call_timers import SessionTimer
from .call_uac import UacMixin
from .call_uas import UasMixin
from .sip.addr import NameAddr
from .sip.auth import CredentialsRejected, DigestClient
from .sip.dialog import Dialog
from .sip.errors import RemoteProtocolError, SipError
from .sip.message import Message, Request, Response, make_response
from .sip.offer_answer import MediaConfig, NegotiatedMedia, OfferAnswer
from .sip.uri import SipUri, parse_uri

__all__ = ["Call", "CallSettings", "Phase", "FINISH_GUARD"]

log = logging.getLogger(__name__)
#: Resends with credentials per request: the INVITE may meet ``stale`` nonces.
_AUTH_TRIES = {"INVITE": 3}


class Call(UacMixin, UasMixin, InDialogMixin):
    """One call (outgoing with :meth:`dial`, incoming with :meth:`incoming`) on ``line``."""

    def __init__(self, line: int, *, local_uri: NameAddr | str, contact: SipUri | str,
                 media: MediaConfig, new_token: Callable[[], str],
                 settings: CallSettings | None = None, sent_by: str = "127.0.0.1:5060",
                 transport: str = "UDP", session_id: int | None = None,
                 auth: DigestClient | None = None) -> None:
        self.line = line
        self.local_uri = NameAddr.parse(local_uri) if isinstance(local_uri, str) else local_uri
        self.contact = NameAddr(parse_uri(contact) if isinstance(contact, str) else contact)
        self.media_config = media
        self.settings = settings or CallSettings()
        self.sent_by = sent_by
        self.transport = transport
        self.auth = auth
        self._new_token = new_token
        self._session_id = session_id
        self.phase = Phase.IDLE
        #: Called with this call whenever it emits (:class:`Lines` tracks busy calls so).
        self.on_activity: Callable[["Call"], None] | None = None
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
        #: Mute state (:meth:`mute`) and hold state (:attr:`hold_state`).
        self.mic_muted = self.speaker_muted = False
        self.local_hold = self.remote_hold = False
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
        self._pending: dict[int, Request] = {}      # our non-INVITE requests by CSeq
        self._tries: dict[str, int] = {}            # auth / 422 resends per method
        self._early: dict[str, Dialog] = {}         # early dialogs by To tag (forks, PRACK)
        self._pracks = PrackTracker()
        self._rel = ReliableProvisional()
        self._accept_waiting = False                # accept() waits for a PRACK
        self._session = SessionTimer()
        self._peer_allow: set[str] = set()
        self._early_media = False
        self._ringback = self._ringtone = False
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
        return user_of(self.remote)

    @property
    def peerdisplayname(self) -> str:
        return (self.remote.display_name or "") if self.remote is not None else ""

    @property
    def localname(self) -> str:
        return user_of(self.local_uri)

    @property
    def session_timer(self) -> SessionTimer:
        """The RFC 4028 session timer (``interval`` 0: none running)."""
        return self._session

    # -- the sans-IO interface ----------------------------------------------------------------
    def next_event(self) -> CallEvent | None:
        return self._events.popleft() if self._events else None

    @property
    def finished(self) -> bool:
        """The call is over (its CDR was emitted or is queued)."""
        return self.phase is Phase.FINISHED

    @property
    def has_events(self) -> bool:
        """Events are waiting for :meth:`next_event`."""
        return bool(self._events)

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must run next (ring/call/finish guard, 100rel
        retransmission, session refresh or expiry), or None."""
        times = [t for t in (self._ring_at, self._call_at, self._finish_at,
                             self._rel.next_timer, self._session.next_timer) if t is not None]
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
        action = self._rel.poll(now)
        if action == "resend" and self._rel.response is not None:
            self._emit(SendResponse(self.line, self._rel.response))
        elif action == "timeout" and self.phase is Phase.RINGING:
            self._final(now, 504, reason="PRACK timeout")   # RFC 3262 3: a 5xx
        due = self._session.due(now)
        if due == "refresh" and self.phase is Phase.CONNECTED:
            self._refresh_session(now)
        elif due == "expire" and self.phase is Phase.CONNECTED:
            self._local_disconnect(now, "session timer expired")

    def receive_response(self, response: Response, now: float) -> bool:
        """A response to a request of this call (False: not ours)."""
        try:
            cseq = response.cseq
        except SipError:
            return False
        if cseq is None or self.phase in (Phase.IDLE, Phase.FINISHED):
            return False
        if cseq.method == "INVITE":
            if self._reinvite is not None and cseq.seq == self._reinvite.cseq.seq:  # type: ignore[union-attr]
                self._on_reinvite_response(response, now)
            elif self.endpointtype == OUTGOING and self.invite is not None \
                    and cseq.seq == self.invite.cseq.seq:  # type: ignore[union-attr]
                self._on_invite_response(response, now)
            elif 200 <= response.status < 300 and self._ack is not None:
                self._emit(self._ack_event())
            return True
        if cseq.method in ("BYE", "UPDATE", "INFO", "PRACK"):
            self._on_indialog_response(response, now)
            return True
        return cseq.method == "CANCEL"   # the INVITE's 487 (or 2xx) ends it, not this

    def _on_indialog_response(self, response: Response, now: float) -> None:
        st = response.status
        request = self._pending.get(response.cseq.seq)  # type: ignore[union-attr]
        if st < 200 or request is None:
            return
        del self._pending[response.cseq.seq]  # type: ignore[union-attr]
        method = request.method
        if st in (401, 407) and self._auth_retry(request, response, now) is None:
            return
        if st == 422 and method == "UPDATE" and self._retry_422(request, response, now):
            return
        self._auth_done(method)
        if method == "BYE":
            if self.phase is Phase.FINISHING:
                self._finished(now)
        elif method == "UPDATE" and st < 300:
            self._session_from_2xx(response, now)
        elif st == 481 and self.phase is Phase.CONNECTED:   # RFC 3261 12.2.1.2: dialog gone
            self._disconnect(DISPARTY_PEER, f"{st} {response.reason}")
            self._finished(now)

    def receive_request(self, request: Request, now: float) -> bool:
        """A request for this call: CANCEL, ACK, BYE, re-INVITE, UPDATE, INFO, PRACK
        (False: not handled)."""
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
            self._on_ack(request, now)
            return True
        dialog = self._dialog_of(request)
        if dialog is None and m in ("PRACK", "UPDATE", "INFO"):
            self._reply(request, 481)
            return True
        if dialog is not None:
            try:
                dialog.receive_request(request)
            except RemoteProtocolError as e:
                self._emit(SendResponse(self.line, make_response(request, e.status, e.reason)))
                return True
        if m == "BYE":
            self._reply(request, 200)
            if self.phase is not Phase.FINISHING:
                self._disconnect(DISPARTY_PEER, "BYE")
            self._finished(now)
            return True
        if m == "PRACK":
            self._on_prack(request, now)
            return True
        if m == "UPDATE":
            self._on_update(request, now)
            return True
        if m == "INFO":
            self._on_info(request)
            return True
        if m == "INVITE" and self.phase is Phase.CONNECTED:
            self._on_reinvite(request, now)
            return True
        return False

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

    # -- authentication and resends -----------------------------------------------------------
    def _auth_retry(self, request: Request, response: Response, now: float) -> str | None:
        """Resend ``request`` with credentials for a 401/407: None when resent, else why not."""
        method = request.method
        if self.auth is None:
            return "no credentials"
        if self._tries.get(method, 0) >= _AUTH_TRIES.get(method, 1):
            return "credentials rejected"
        try:
            headers = credentials_for(self.auth, request, response, (self.call_id, method))
        except CredentialsRejected:
            return "credentials rejected"
        except SipError as e:
            return str(e)
        self._tries[method] = self._tries.get(method, 0) + 1
        self._resend(request, now, headers)
        return None

    def _auth_done(self, method: str) -> None:
        self._tries.pop(method, None)
        if self.auth is not None:
            self.auth.reset((self.call_id, method))

    def _resend(self, request: Request, now: float, headers: list[tuple[str, str]]) -> Request:
        """``request`` again with a new branch, CSeq+1 and ``headers`` replacing theirs."""
        new = clone_request(request)
        for name in {n for n, _ in headers} | {"Via"}:
            new.headers.remove(name)
        new.add("Via", self._via(), first=True)
        initial = request is self.invite and self.endpointtype == OUTGOING
        if initial:
            seq = request.cseq.seq + 1  # type: ignore[union-attr]
            # the challenge ended that INVITE transaction and its early dialogs
            self.dialog, self._provisional = None, False
            self._early.clear()
            self._pracks.clear()
        else:
            dialog = self._dialog_of(request)
            assert dialog is not None
            seq = (dialog.local_seq or 0) + 1
            dialog.local_seq = seq
            if request.method == "INVITE":
                dialog.invite_seq = seq
        new.set("CSeq", f"{seq} {request.method}")
        for name, value in headers:
            new.add(name, value)
        if initial:
            self.invite = new
        elif request.method == "INVITE":
            self._reinvite = new
        else:
            self._pending[seq] = new
        self._emit(SendRequest(self.line, new))
        return new

    def _send_in_dialog(self, method: str, headers: list[tuple[str, Any]],
                        body: bytes = b"", dialog: Dialog | None = None) -> Request:
        d = dialog or self.dialog
        assert d is not None
        req = d.create_request(method, via=self._via(), body=body, headers=headers)
        if method == "INVITE":
            self._reinvite = req
        else:
            self._pending[req.cseq.seq] = req  # type: ignore[union-attr]
        self._emit(SendRequest(self.line, req))
        return req

    def _dialog_of(self, message: Message) -> Dialog | None:
        """The dialog (or early fork) a message names: the peer's tag is the To tag of
        ours (and their responses), the From tag of theirs."""
        try:
            from_tag = message.from_.tag if message.from_ is not None else None
            to_tag = message.to.tag if message.to is not None else None
        except SipError:
            return None
        remote = to_tag if from_tag == self.local_tag else from_tag
        if self.dialog is not None and (remote is None or self.dialog.remote_tag == remote):
            return self.dialog
        return self._early.get(remote) if remote else None

    # -- ending -------------------------------------------------------------------------------
    def hangup(self, now: float) -> None:
        """Hang up: CANCEL before the answer, BYE after, reject (486) an incoming ringing call."""
        if self.phase is Phase.RINGING:
            self._final(now, 486)
        elif self.phase in (Phase.CALLING, Phase.CONNECTED):
            self._local_disconnect(now, "CANCEL" if self.phase is Phase.CALLING else "BYE")

    def _local_disconnect(self, now: float, reason: str) -> None:
        """We end a CALLING (CANCEL) or CONNECTED (BYE) call."""
        calling = self.phase is Phase.CALLING
        self._disconnect(DISPARTY_LOCAL, reason)
        self.phase = Phase.FINISHING
        self._status("Finishing")
        self._ring_at = self._call_at = None
        self._session.stop()
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
        self._send_in_dialog("BYE", self.settings.custom_headers())
        if self.phase is Phase.FINISHING and self._finish_at is None:
            self._finish_at = now + FINISH_GUARD

    def _final(self, now: float, status: int, reason: str | None = None,
               headers: list[tuple[str, Any]] | None = None) -> None:
        """Answer the incoming INVITE with a 3xx-6xx and end the call (disparty 1)."""
        resp = self._response(status, headers=headers)
        if self.dialog is not None:
            self.dialog.response_sent(resp)
        self._rel.stop()
        self._disconnect(DISPARTY_LOCAL, reason or f"{status} {resp.reason}")
        self._emit(SendResponse(self.line, resp))
        self._status("Finishing")
        self._finished(now)

    def _disconnect(self, disparty: int, reason: str) -> None:
        if self.disparty:
            return
        self.disparty, self.reason = disparty, reason
        self._ringback_set(False)
        self._ringtone_set(False)
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
        self._rel.stop()
        self._session.stop()
        for method in list(self._tries):
            self._auth_done(method)
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
        address = host_of(self.invite.uri if self.endpointtype == OUTGOING and self.invite
                          else (self.remote.uri if self.remote else None))
        return Cdr(self.line, peer, caller, called, address, connect_ms, duration_ms,
                   self.disparty, self.reason)

    # -- helpers ------------------------------------------------------------------------------
    def _connected(self, now: float) -> None:
        self.phase = Phase.CONNECTED
        self.connect_time = now
        self._ring_at = None
        self._call_at = now + self.settings.calltimeout / 1000.0
        self._ringback_set(False)
        self._ringtone_set(False)
        self._status("CallConnect")
        self._status("Speaking")

    def _media(self, neg: NegotiatedMedia, early: bool = False) -> None:
        self.negotiated = neg
        self._media_on = True
        self._emit(MediaReady(self.line, neg, early))

    def _ringback_set(self, on: bool) -> None:
        if self._ringback != on:
            self._ringback = on
            self._emit(LocalRingback(self.line, on))

    def _ringtone_set(self, on: bool) -> None:
        if self._ringtone != on:
            self._ringtone = on
            self._emit(LocalRingtone(self.line, on))

    def _response(self, status: int, body: bytes = b"",
                  headers: list[tuple[str, Any]] | None = None) -> Response:
        assert self.invite is not None
        extra = list(headers or []) + self.settings.custom_headers()
        return make_response(self.invite, status, reason_phrase(status), to_tag=self.local_tag,
                             body=body, headers=extra)

    def _reply(self, request: Request, status: int,
               headers: list[tuple[str, Any]] | None = None, body: bytes = b"") -> None:
        """Answer an in-dialog request of the peer."""
        self._emit(SendResponse(self.line, make_response(
            request, status, reason_phrase(status), to_tag=self.local_tag, headers=headers,
            body=body)))

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
        if self.on_activity is not None:
            self.on_activity(self)


from .call_lines import Lines  # noqa: E402  (re-exported; call_lines imports this module)

__all__ += ["Lines"]
