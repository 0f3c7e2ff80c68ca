"""In-dialog features of a :class:`~sipctl.call.Call`: hold, re-INVITE, UPDATE, INFO,
mute, session refreshes and the media timeout.

A mixin of :class:`~sipctl.call.Call` (the state lives there).

* re-INVITE and UPDATE (RFC 3311, early or confirmed dialog) from the peer are
  answered like offers (hold detection: :attr:`hold_state`); an UPDATE without SDP
  gets a plain 200. A new offer while ours is unanswered gets 491, one while the
  INVITE's offer is unanswered gets 500 with Retry-After (RFC 3311 5.2). Every
  re-INVITE/UPDATE refreshes the session timer; our answers carry Session-Expires.
* Our session refresh (RFC 4028 7.4) is an UPDATE without SDP when the peer's Allow
  lists UPDATE, else a re-INVITE with our current SDP (a new o= version only when it
  changed, RFC 3264 8).
* INFO in the dialog: 200 and :class:`InfoReceived`; DTMF bodies
  (``application/dtmf-relay``, ``application/dtmf``) also give :class:`DtmfReceived`,
  a malformed one a 400 and no event.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .call_common import SDP, Phase, supported_tags
from .call_events import DtmfReceived, InfoReceived, MuteChanged, SendAck
from .call_timers import IntervalTooSmall, request_headers, session_expires_of, uas_negotiate
from .call_uac import _allow_of
from .media.dtmf import DTMF_RELAY, DtmfReceiver
from .sip.dialog import CONFIRMED
from .sip.errors import LocalProtocolError, SipError
from .sip.message import Request, Response
from .sip.offer_answer import NegotiatedMedia
from .sip.sdp import SessionDescription

if TYPE_CHECKING:
    from .call import Call

__all__ = ["InDialogMixin", "MUTE_DIRECTIONS"]

#: API_MuteEx direction -> (microphone, speaker); 4 reads ``defmute`` (5: mute disabled).
MUTE_DIRECTIONS: dict[int, tuple[bool, bool] | None] = {
    0: (True, True), 1: (False, True), 2: (True, False), 3: (True, True), 4: (True, True),
    5: None}
_DTMF_TYPES = (DTMF_RELAY, "application/dtmf")


class InDialogMixin:
    """Requests within an established (or early) dialog (mixed into :class:`~sipctl.call.Call`)."""

    # -- mute and hold state ------------------------------------------------------------------
    def mute(self: Call, mute: bool, direction: int = 4, now: float = 0.0) -> bool:
        """API_MuteEx: mute (or un-mute) 0/3 both, 1 out (speaker), 2 in (microphone),
        4 what ``defmute`` says. False when ``defmute`` 5 disables muting."""
        if not self.active:
            raise LocalProtocolError(f"line {self.line} has no call to mute")
        if direction not in (0, 1, 2, 3, 4):
            raise LocalProtocolError(f"mute direction must be 0..4, got {direction}")
        which = MUTE_DIRECTIONS[self.settings.defmute if direction == 4 else direction]
        if which is None:
            return False
        mic, speaker = self.mic_muted, self.speaker_muted
        if which[0]:
            mic = mute
        if which[1]:
            speaker = mute
        if (mic, speaker) != (self.mic_muted, self.speaker_muted):
            self.mic_muted, self.speaker_muted = mic, speaker
            self._emit(MuteChanged(self.line, mic, speaker))
        return True

    @property
    def is_muted(self: Call) -> int:
        """API_IsMuted: 0 not muted, 1 both, 2 out (speaker), 3 in (microphone)."""
        if self.mic_muted and self.speaker_muted:
            return 1
        return 2 if self.speaker_muted else 3 if self.mic_muted else 0

    @property
    def hold_state(self: Call) -> int:
        """API_IsOnHold: 0 no, 2 we hold, 3 the other party holds us, 4 both."""
        if self.local_hold and self.remote_hold:
            return 4
        return 2 if self.local_hold else 3 if self.remote_hold else 0

    def _hold_status(self: Call) -> None:
        if self.phase is Phase.CONNECTED:
            self._status("Hold" if self.hold_state else "Speaking")

    def media_timeout(self: Call, now: float) -> bool:
        """The media layer saw no RTP for ``mediatimeout``: end a connected call with BYE
        (reason "media timeout", disparty 1: we end it). False when not connected."""
        if self.phase is not Phase.CONNECTED:
            return False
        self._local_disconnect(now, "media timeout")
        return True

    # -- hold (re-INVITE) ---------------------------------------------------------------------
    @property
    def reoffer_pending(self: Call) -> bool:
        """Our re-INVITE (hold/unhold) is not answered yet: a new one has to wait."""
        return self._reinvite is not None

    def hold(self: Call, now: float, holdtypeonhold: int | None = None) -> None:
        """Put the call on hold (re-INVITE per ``holdtypeonhold``; none for 0/-2)."""
        self._reoffer(True, holdtypeonhold)

    def unhold(self: Call, now: float) -> None:
        """Take the call off hold (re-INVITE sendrecv)."""
        self._reoffer(False, None)

    def _reoffer(self: Call, hold: bool, holdtype: int | None) -> None:
        if self.phase is not Phase.CONNECTED or self.dialog is None or self.oa is None:
            raise LocalProtocolError(f"line {self.line} has no connected call")
        if self._reinvite is not None:
            raise LocalProtocolError("a re-INVITE is already in progress")
        sdp = self.oa.hold(holdtype) if hold else self.oa.unhold()
        if sdp is not None:
            self._send_reinvite(sdp)
        self.local_hold = hold
        self._hold_status()

    def _send_reinvite(self: Call, sdp: SessionDescription) -> None:
        headers = [("Content-Type", SDP), *self._ok_headers(), *self._timer_request_headers(),
                   *self.settings.custom_headers()]
        self._send_in_dialog("INVITE", headers, sdp.serialize().encode())

    def _on_reinvite_response(self: Call, response: Response, now: float) -> None:
        if response.status < 200:
            return
        assert self.dialog is not None and self.oa is not None and self._reinvite is not None
        request, self._reinvite = self._reinvite, None
        st = response.status
        if st in (401, 407) and self._auth_retry(request, response, now) is None:
            return
        if st == 422 and self._retry_422(request, response, now):
            return
        self._auth_done("INVITE")
        if st >= 300:
            return
        self.dialog.receive_response(response)
        self._ack = self.dialog.create_ack(via=self._via())
        self._emit(SendAck(self.line, self._ack))
        try:
            self._media(self.oa.receive_answer(response.body))
        except (SipError, ValueError) as e:
            self._local_disconnect(now, f"488 Not Acceptable Here ({e})")
            return
        self._session_from_2xx(response, now)

    # -- offers from the peer (re-INVITE, UPDATE) ---------------------------------------------
    def _on_reinvite(self: Call, request: Request, now: float) -> None:
        assert self.oa is not None
        if self._reinvite is not None:          # glare (RFC 3261 14.2)
            self._reply(request, 491)
            return
        timer = self._refresh_received(request, now)
        if timer is None:
            return
        self._peer_allow = _allow_of(request) or self._peer_allow
        try:
            if request.body:
                sdp, neg = self.oa.receive_offer(request.body)
            else:
                sdp, neg = self.oa.create_offer(), None
                self._late_offer = self._awaiting_ack = True
        except (SipError, ValueError):
            self._reply(request, 488)
            return
        headers = [("Contact", self.contact), ("Content-Type", SDP), *self._ok_headers(), *timer]
        self._reply(request, 200, headers, sdp.serialize().encode())
        if neg is not None:
            self._offer_applied(neg)

    def _on_update(self: Call, request: Request, now: float) -> None:
        assert self.oa is not None
        if request.body:
            if self._reinvite is not None or (self.phase is Phase.CALLING
                                              and self.oa.negotiated is None):
                self._reply(request, 491)       # our offer is unanswered
                return
            if self.phase is Phase.RINGING:     # the INVITE's offer is not answered yet
                self._reply(request, 500, [("Retry-After", "1")])
                return
        timer = self._refresh_received(request, now) if self.phase is Phase.CONNECTED else []
        if timer is None:
            return
        if not request.body:
            self._reply(request, 200, [("Contact", self.contact), *timer])
            return
        try:
            sdp, neg = self.oa.receive_offer(request.body)
        except (SipError, ValueError):
            self._reply(request, 488)
            return
        headers = [("Contact", self.contact), ("Content-Type", SDP), *timer]
        self._reply(request, 200, headers, sdp.serialize().encode())
        if neg is not None:
            self._offer_applied(neg, early=self.phase is not Phase.CONNECTED)

    def _offer_applied(self: Call, neg: NegotiatedMedia, early: bool = False) -> None:
        self._media(neg, early)
        if self.phase is Phase.CONNECTED:
            self.remote_hold = neg.remote_hold
            self._hold_status()

    # -- INFO ---------------------------------------------------------------------------------
    def send_info(self: Call, body: str, content_type: str, now: float) -> Request:
        """Send an INFO with ``body`` in the confirmed dialog (SendRequest)."""
        if self.phase is not Phase.CONNECTED or self.dialog is None \
                or self.dialog.state != CONFIRMED:
            raise LocalProtocolError(f"line {self.line} has no confirmed dialog for INFO")
        headers = [("Content-Type", content_type), *self.settings.custom_headers()]
        return self._send_in_dialog("INFO", headers, body.encode())

    def _on_info(self: Call, request: Request) -> None:
        ctype = (request.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        body = request.body.decode("utf-8", "replace")
        digit = None
        if ctype in _DTMF_TYPES:
            try:
                digit = DtmfReceiver().receive_info(body, ctype).digit
            except ValueError:
                self._reply(request, 400)
                return
        self._reply(request, 200)
        self._emit(InfoReceived(self.line, ctype, body))
        if digit is not None:
            self._emit(DtmfReceived(self.line, digit, "info"))

    # -- session timers (RFC 4028) ------------------------------------------------------------
    def _timer_request_headers(self: Call) -> list[tuple[str, str]]:
        """Session-Expires for a re-INVITE/UPDATE we send while a timer runs."""
        if not self._session.running:
            return []
        refresher = "uac" if self._session.we_refresh else "uas"
        return request_headers(self.settings, self._session.interval, refresher)

    def _session_from_2xx(self: Call, response: Response, now: float) -> None:
        """A 2xx to our INVITE/re-INVITE/UPDATE sets the timer (no Session-Expires: none)."""
        se = session_expires_of(response)
        if se is None or not self.settings.session_expires:
            self._session.stop()
        else:
            self._session.start(se[0], se[1] != "uas", now)   # we sent it: uac is us

    def _refresh_received(self: Call, request: Request, now: float) -> list[tuple[str, str]] | None:
        """A re-INVITE/UPDATE from the peer: restart the timer and return the headers
        for our 2xx; None when it was answered with 422."""
        try:
            decision = uas_negotiate(request, self.settings)
        except IntervalTooSmall as e:
            self._reply(request, 422, [("Min-SE", str(e.min_se))])
            return None
        if decision is None:
            if not self._session.running:
                return []
            interval, refresher = self._session.interval, "uas" if self._session.we_refresh else "uac"
            self._session.start(interval, self._session.we_refresh, now)
            return [("Session-Expires", f"{interval};refresher={refresher}")]
        self._session.start(decision.interval, decision.refresher == "uas", now)
        return decision.headers()

    def _refresh_session(self: Call, now: float) -> None:
        """Our turn to refresh: UPDATE without SDP if the peer allows it, else re-INVITE."""
        if self.dialog is None or self.oa is None:
            return
        if self._reinvite is not None or any(r.method == "UPDATE" for r in self._pending.values()):
            self._session.refresh_at = now + 1.0     # after the transaction in progress
            return
        tags = supported_tags(self.settings)
        headers = [("Supported", ", ".join(tags))] + request_headers(
            self.settings, self._session.interval, "uac")
        if "UPDATE" in self._peer_allow:
            self._send_in_dialog("UPDATE", headers + self.settings.custom_headers())
            return
        self._send_reinvite(self._refresh_offer())

    def _refresh_offer(self: Call) -> SessionDescription:
        """Our current SDP as a new offer; same o= version when nothing changed (RFC 3264 8)."""
        assert self.oa is not None
        previous = self.oa.local
        pinned = [self.oa.negotiated.codec] if self.oa.negotiated is not None else None
        sdp = self.oa.create_offer(codecs=pinned)
        if previous is not None:
            bumped = sdp.origin.session_version
            sdp.origin.session_version = previous.origin.session_version
            if sdp.serialize() == previous.serialize():
                self.oa.session_version = previous.origin.session_version
            else:
                sdp.origin.session_version = bumped
        return sdp
