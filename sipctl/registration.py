"""Registration with a SIP registrar (RFC 3261 section 10, RFC 3581 rport), sans-IO.

A :class:`Registration` keeps one account registered: it hands out REGISTER requests
(:class:`~sipctl.registration_events.SendRegister`, sent by the UA core in a new
non-INVITE client transaction), is fed the transaction's responses
(:meth:`Registration.receive_response`) or failure (:meth:`Registration.transaction_failed`),
wakes up at :meth:`Registration.get_timer` (:meth:`Registration.handle_timer`) and
reports what happened through :meth:`Registration.next_event`. It reads no clock and
draws no randomness: ``now`` is passed in, Call-ID/tag/branch/cnonce come from an
injected ``new_token`` callable and backoff jitter from an injected ``rand`` callable.
:class:`Registrar` runs one Registration per account and merges their timers and events.

Rules (choices where the reference leaves one):

* REGISTER: Request-URI ``sip:server``, From/To the AoR ``sip:user@domain`` (display
  name from ``displayname``), one Call-ID and From tag per registration (a new one
  when (re)started, as ``API_Register`` says), CSeq +1 per request, ``Contact:
  <contact>;expires=N`` and ``Expires: N``, ``Route: <sip:proxy;lr>`` with an outbound
  proxy, ``;rport`` in Via unless ``use_rport=0``; cached credentials are sent
  pre-emptively on refreshes.
* 401/407 are answered with :class:`~sipctl.sip.auth.DigestClient` (``stale=true``
  retried); a second non-stale challenge ends the attempt with RegisterFailed "wrong
  credentials". 423 is retried once per larger ``Min-Expires``. An attempt makes at
  most :data:`MAX_RESENDS` immediate resends (no loop with a misbehaving server).
* 2xx: the granted interval is the Contact ``expires`` that matches our contact or the
  ``Expires`` header (``acceptsrvexpire`` 1 prefers the first, 2 the second, 0 ignores
  both), never more than we asked. The refresh runs at :func:`refresh_delay`.
* Failures (final non-2xx, timeout, transport error) back off with :func:`backoff_delay`
  (30 s doubling up to 30 min, jittered downwards, at least ``Retry-After``) and retry
  forever while started. No timer-driven REGISTER follows the previous one by less
  than :data:`MIN_SPACING`.
* rport: the top Via of each response gives :attr:`Registration.public_address`; the
  Contact of the next REGISTER uses it with ``use_rport`` 2/3 at once, with 1 once two
  consecutive answers agree, never with 0/9, and only for UDP registrations: over TCP/TLS
  the address seen is our ephemeral outbound connection, not a reachable address.
* :meth:`Registration.refresh_now` re-registers at once while registered (the UA calls it
  when the registrar's connection or keep-alive flow fails); :meth:`Registration.set_contact`
  moves a registration to another contact/transport (DNS failover to another target).
* Unregister (:meth:`Registration.stop`): REGISTER with ``Expires: 0`` (``Contact: *``
  with ``unregister_all``), waiting at most ``waitforunregister``; an in-flight
  REGISTER is let finish first (RFC 3261 10.2: one REGISTER at a time), except with
  ``waitforunregister=0`` (fire and forget). ``needunregister=false`` sends nothing.
"""
from __future__ import annotations

import enum
import logging
from collections import deque
from typing import Any, Callable, MutableMapping

from .accounts import Account, RegistrationSettings
from .registration_events import (RegisterFailed, Registered, Registering, RegistrationEvent,
                                  SendRegister, Unregistered)
from .sip.addr import NameAddr
from .sip.auth import (AuthenticationFailed, ChallengeNotAllowed, CredentialsRejected,
                       DigestClient, RealmMismatch, parse_authorization)
from .sip.errors import LocalProtocolError, SipError, TransactionTimeout, TransportError
from .sip.message import Request, Response
from .sip.uri import SipUri, parse_uri

__all__ = ["Registration", "State", "refresh_delay", "backoff_delay",
           "MAX_RESENDS", "MIN_SPACING"]

_log = logging.getLogger(__name__)

#: Immediate resends (auth answers, 423 retries) allowed within one attempt.
MAX_RESENDS = 4
#: Smallest gap (seconds) between a REGISTER and the next timer-driven one.
MIN_SPACING = 1.0
#: Timer F (64*T1) plus a margin: how long before expiry a refresh must start at the latest.
_REFRESH_MARGIN = 33.0


class State(enum.Enum):
    """Where a :class:`Registration` is."""

    IDLE = "idle"                    #: never started
    REGISTERING = "registering"      #: a REGISTER transaction is in flight
    REGISTERED = "registered"        #: bound; refresh timer armed
    RETRY_WAIT = "retry-wait"        #: the last attempt failed; backoff timer armed
    UNREGISTERING = "unregistering"  #: stopping: waiting for the registrar (deadline armed)
    STOPPED = "stopped"              #: stopped (or unregistered)


_S = State
#: Allowed transitions (start() may restart from any state).
_TRANSITIONS: dict[State, frozenset[State]] = {
    _S.IDLE: frozenset({_S.REGISTERING, _S.STOPPED}),
    _S.REGISTERING: frozenset({_S.REGISTERING, _S.REGISTERED, _S.RETRY_WAIT, _S.UNREGISTERING,
                               _S.STOPPED}),
    _S.REGISTERED: frozenset({_S.REGISTERING, _S.UNREGISTERING, _S.STOPPED}),
    _S.RETRY_WAIT: frozenset({_S.REGISTERING, _S.UNREGISTERING, _S.STOPPED}),
    _S.UNREGISTERING: frozenset({_S.REGISTERING, _S.UNREGISTERING, _S.STOPPED}),
    _S.STOPPED: frozenset({_S.REGISTERING, _S.STOPPED}),
}


def refresh_delay(expires: float) -> float:
    """Seconds after a 2xx at which to refresh a binding granted for ``expires`` seconds.

    The earlier of 90% of the interval (libre/baresip ``sipreg``) and 33 s before
    expiry (Timer F is 32 s, so a refresh whose transaction times out still ends
    before the binding lapses), but no earlier than half the interval and never
    sooner than 1 s. 120 -> 87, 3600 -> 3240, 60 -> 30, 1 -> 1.
    """
    return max(MIN_SPACING, 0.5 * expires, min(0.9 * expires, expires - _REFRESH_MARGIN))


def backoff_delay(failures: int, settings: RegistrationSettings, u: float = 0.0) -> float:
    """Wait before the next attempt after ``failures`` consecutive failures (1 = first).

    ``backoff_min`` doubling per failure up to ``backoff_max`` (30 s, 60 s, ... 30 min),
    reduced by up to ``backoff_jitter`` of itself with ``u`` in [0, 1) so a crowd of
    clients does not retry in step (never later than the nominal value, never
    earlier than ``(1 - backoff_jitter)`` of it).
    """
    base = min(settings.backoff_max, settings.backoff_min * 2.0 ** min(max(failures, 1) - 1, 40))
    u = min(max(u, 0.0), 1.0)
    return max(MIN_SPACING, base * (1.0 - settings.backoff_jitter * u))


class _Prefixed(logging.LoggerAdapter):  # type: ignore[type-arg]
    """``[call-id] message``."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]
                ) -> tuple[Any, MutableMapping[str, Any]]:
        return (f"[{self.extra['call_id']}] {msg}" if self.extra else msg), kwargs


def _uri_transport(uri: SipUri) -> str | None:
    """The Via transport a contact's ``transport`` parameter implies (sips: means TLS)."""
    t = (uri.transport or "").upper()
    if uri.secure and t in ("", "TCP"):
        return "TLS"
    return t or None


def _failure_reason(reason: str | BaseException) -> str:
    if isinstance(reason, TransactionTimeout):
        return "timeout"
    if isinstance(reason, TransportError):
        return "transport error"
    if isinstance(reason, BaseException):
        return str(reason) or type(reason).__name__
    return reason


class Registration:
    """Keeps one :class:`~sipctl.accounts.Account` registered (see the module docstring).

    ``contact`` is our Contact URI (e.g. ``sip:alice@192.0.2.10:5060``); ``sent_by``
    is the Via ``host[:port]`` (default: the contact's), ``transport`` the Via
    transport (default: the contact's ``transport`` parameter, else from the account:
    TCP, TLS or UDP). ``new_token`` returns a
    fresh random token (Call-ID, From tag, branch, cnonce); ``rand`` returns a float
    in [0, 1) for backoff jitter.
    """

    def __init__(self, account: Account, contact: SipUri | str, *,
                 new_token: Callable[[], str], rand: Callable[[], float] = lambda: 0.0,
                 settings: RegistrationSettings | None = None, sent_by: str | None = None,
                 transport: str | None = None) -> None:
        uri = parse_uri(contact) if isinstance(contact, str) else contact
        if not isinstance(uri, SipUri):
            raise LocalProtocolError(f"the contact must be a sip: or sips: URI, got {contact}")
        self.account = account
        self.settings = settings or RegistrationSettings()
        self.contact = uri
        self._fixed_sent_by = sent_by
        self.sent_by = sent_by or uri.hostport
        self.transport = (transport or _uri_transport(uri) or account.transport_name).upper()
        self._new_token = new_token
        self._rand = rand
        self._client: DigestClient | None = None
        self._realms: set[tuple[str, str]] = set()  # (header, realm) answered so far
        if account.has_credentials:
            self._client = account.digest_client(new_token, self.settings.authtype)
        self._events: deque[RegistrationEvent] = deque()
        self._state = State.IDLE
        self.call_id: str | None = None
        self._from_tag = ""
        self._cseq = 0
        self._pending: Request | None = None
        self._pending_unregister = False
        self._pending_contact = uri
        self._pending_expires = 0
        self._requested = account.register_interval
        self._resends = 0
        self._failures = 0
        self._timer: float | None = None
        self._last_sent: float | None = None
        self._bound_until: float | None = None
        self._contact_address: tuple[str, int] | None = None
        #: ``(host, port)`` the registrar saw us from (RFC 3581 received/rport), or None.
        self.public_address: tuple[str, int] | None = None
        self._log: logging.LoggerAdapter = _Prefixed(_log, {})  # type: ignore[type-arg]

    # -- public state ------------------------------------------------------------------
    @property
    def state(self) -> State:
        """The current :class:`State`."""
        return self._state

    @property
    def is_registered(self) -> bool:
        """True while a binding is believed to exist (registered, or refreshing it)."""
        return self._state in (State.REGISTERED, State.REGISTERING) and \
            self._bound_until is not None

    @property
    def expires_at(self) -> float | None:
        """When the current binding lapses (the ``now`` clock), or None when unbound."""
        return self._bound_until

    @property
    def requested_expires(self) -> int:
        """The interval the next REGISTER asks for (``registerinterval``, raised by 423)."""
        return self._requested

    @property
    def current_contact(self) -> SipUri:
        """The Contact URI the next REGISTER carries (public address applied per use_rport)."""
        if self._contact_address is not None:
            host, port = self._contact_address
            return self.contact.copy(host=host, port=port)
        return self.contact

    # -- the sans-IO interface ---------------------------------------------------------
    def start(self, now: float) -> None:
        """Register (again): a new Call-ID, CSeq from 1; a REGISTER is queued at once.

        Called while active, it drops the old registration without unregistering
        (the reference's ``API_Register`` "old registrar endpoint is deleted").
        """
        self.call_id = self._new_token()
        self._from_tag = self._new_token()
        self._log = _Prefixed(_log, {"call_id": self.call_id})
        self._cseq = 0
        self._pending = None
        self._realms.clear()
        self._requested = self.account.register_interval
        self._failures = 0
        self._bound_until = None
        self._log.debug("start %s as %s", self.account.server, self.account.username)
        self._begin_attempt(now)

    def stop(self, now: float) -> None:
        """Unregister (see the module docstring); :class:`Unregistered` tells when done."""
        if self._state in (State.IDLE, State.STOPPED, State.UNREGISTERING):
            return
        s = self.settings
        if not s.needunregister:
            self._finish(False, "not sent (needunregister=false)")
            return
        in_flight = self._pending is not None and not self._pending_unregister
        bound = self._bound_until is not None and self._bound_until > now
        if not in_flight and not bound:
            self._finish(True, "not registered")
            return
        if s.wait_for_unregister <= 0:
            self._send(now, unregister=True)
            self._finish(False, "not waited for (waitforunregister=0)")
            return
        self._set_state(State.UNREGISTERING)
        self._timer = now + s.wait_for_unregister
        self._resends = 0
        if not in_flight:
            self._send(now, unregister=True)

    def refresh_now(self, now: float) -> bool:
        """Re-register at once (same Call-ID, next CSeq) if registered and idle.

        For a lost registrar connection or a failed keep-alive flow: the binding may be
        gone (the registrar restarted) or unreachable. Does nothing (returns False) while a
        REGISTER is in flight, while backing off after a failure (no hammering of a dead
        server) or when not started.
        """
        if self._state is not State.REGISTERED or self._pending is not None:
            return False
        self._log.info("re-registering now (flow to the registrar lost)")
        self._timer = None
        self._resends = 0
        self._set_state(State.REGISTERING)
        self._send(now)
        return True

    def set_contact(self, contact: SipUri | str, transport: str | None = None) -> None:
        """Use ``contact`` (and Via ``transport``) from the next REGISTER on.

        For a move to another server target (DNS failover): the learned public address
        is forgotten, it belonged to the old flow.
        """
        uri = parse_uri(contact) if isinstance(contact, str) else contact
        if not isinstance(uri, SipUri):
            raise LocalProtocolError(f"the contact must be a sip: or sips: URI, got {contact}")
        self.contact = uri
        self.sent_by = self._fixed_sent_by or uri.hostport
        self.transport = (transport or _uri_transport(uri) or
                          self.account.transport_name).upper()
        self._contact_address = None
        self.public_address = None

    def receive_response(self, response: Response, now: float) -> bool:
        """Feed a response of our REGISTER transaction; False if it is not ours (ignored)."""
        req = self._pending
        cseq = response.cseq
        if (req is None or response.call_id != self.call_id or cseq is None
                or cseq.method != "REGISTER" or cseq.seq != self._cseq):
            return False
        if response.status < 200:
            return True
        self._pending = None
        self._observe_via(response)
        status = response.status
        if status in (401, 407):
            self._on_challenge(response, now)
            return True
        if self._client is not None:
            self._client.reset(self.call_id)
        ok = 200 <= status < 300
        if self._pending_unregister:
            self._finish(ok, "" if ok else f"{status} {response.reason}")
        elif self._state is State.UNREGISTERING:
            self._register_done_while_stopping(now, bound=ok)
        elif ok:
            self._on_success(response, now)
        elif status == 423:
            self._on_interval_too_brief(response, now)
        else:
            retry_after = response.typed("Retry-After") if "Retry-After" in response.headers \
                else None
            self._fail(now, status, response.reason, retry_after)
        return True

    def transaction_failed(self, reason: str | BaseException, now: float,
                           request: Request | None = None) -> bool:
        """The REGISTER transaction ended without a final response (Timer F, transport).

        ``reason`` is a :class:`~sipctl.sip.errors.TransactionError` or a text; with
        ``request`` a stale report (another CSeq or Call-ID) is ignored. Returns
        False when there was no matching transaction.
        """
        if self._pending is None or (request is not None and (
                request.call_id != self.call_id or request.cseq != self._pending.cseq)):
            return False
        self._pending = None
        text = _failure_reason(reason)
        self._log.info("REGISTER failed: %s", text)
        if self._client is not None:
            self._client.reset(self.call_id)
        if self._pending_unregister:
            self._finish(False, text)
        elif self._state is State.UNREGISTERING:
            self._register_done_while_stopping(now, bound=False)
        else:
            self._fail(now, None, text)
        return True

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must run next (refresh, retry, unregister deadline)."""
        return self._timer

    def handle_timer(self, now: float) -> None:
        """Run what is due at ``now`` (early calls do nothing)."""
        if self._timer is None or now < self._timer:
            return
        self._timer = None
        if self._state is State.UNREGISTERING:
            self._finish(False, "no answer within waitforunregister")
        elif self._state is State.REGISTERED:
            self._log.debug("refresh")
            self._resends = 0
            self._set_state(State.REGISTERING)
            self._send(now)
        elif self._state is State.RETRY_WAIT:
            self._begin_attempt(now)

    def next_event(self) -> RegistrationEvent | None:
        """The next event, or None."""
        return self._events.popleft() if self._events else None

    # -- internals -----------------------------------------------------------------------
    def _set_state(self, new: State) -> None:
        if new not in _TRANSITIONS[self._state]:
            raise LocalProtocolError(f"registration: {self._state.value} -> {new.value}")
        self._state = new

    def _begin_attempt(self, now: float) -> None:
        self._resends = 0
        self._timer = None
        self._set_state(State.REGISTERING)
        self._events.append(Registering(self.account))
        self._send(now)

    def _send(self, now: float, *, unregister: bool = False,
              auth: list[tuple[str, str]] | None = None) -> None:
        acc, s = self.account, self.settings
        ruri = acc.server_uri
        if auth is None:
            auth = self._client.authorization("REGISTER", str(ruri)) if self._client else []
        expires = 0 if unregister else self._requested
        contact = self.current_contact
        self._cseq += 1
        aor = NameAddr(acc.aor, acc.displayname)
        via = f"SIP/2.0/{self.transport} {self.sent_by};branch=z9hG4bK{self._new_token()}"
        headers = [("Via", via + (";rport" if s.use_rport != 0 else "")),
                   ("Max-Forwards", "70")]
        if acc.proxy_uri is not None:
            headers.append(("Route", f"<{acc.proxy_uri}>"))
        headers += [("From", str(aor.with_tag(self._from_tag))), ("To", str(aor)),
                    ("Call-ID", self.call_id or ""), ("CSeq", f"{self._cseq} REGISTER")]
        if unregister and s.unregister_all:
            headers.append(("Contact", "*"))
        else:
            headers.append(("Contact", str(NameAddr(contact, acc.displayname,
                                                    {"expires": str(expires)}))))
        headers.append(("Expires", str(expires)))
        headers += auth
        if s.user_agent:
            headers.append(("User-Agent", s.user_agent))
        request = Request("REGISTER", ruri, headers)
        self._pending = request
        self._pending_unregister = unregister
        self._pending_contact = contact
        self._pending_expires = expires
        self._last_sent = now
        self._log.debug("REGISTER cseq=%d expires=%d", self._cseq, expires)
        self._events.append(SendRegister(request, acc))

    def _arm(self, at: float) -> None:
        """Arm the timer at ``at``, no sooner than MIN_SPACING after the last REGISTER."""
        if self._last_sent is not None:
            at = max(at, self._last_sent + MIN_SPACING)
        self._timer = at

    def _resend(self, now: float, auth: list[tuple[str, str]] | None = None) -> bool:
        """An immediate resend within the attempt; False once MAX_RESENDS is used up."""
        if self._resends >= MAX_RESENDS:
            return False
        self._resends += 1
        self._send(now, unregister=self._pending_unregister, auth=auth)
        return True

    def _on_challenge(self, response: Response, now: float) -> None:
        status = response.status
        if self._state is State.UNREGISTERING and not self._pending_unregister:
            self._register_done_while_stopping(now, bound=False)
            return
        header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
        reason: str
        if self._client is None:
            reason = "no credentials"
        else:
            uri = str(self.account.server_uri)
            try:
                name, value = self._client.answer(header, response.headers.lines(header),
                                                  "REGISTER", uri, flow=self.call_id)
                answered = (name, parse_authorization(value, name).realm)
                self._realms.add(answered)
                auth = [(name, value)]
                if len(self._realms) > 1:  # chained proxy + registrar: credentials for all
                    auth += [(n, v) for n, v in self._client.authorization("REGISTER", uri)
                             if (n, parse_authorization(v, n).realm) != answered]
                if self._resend(now, auth):
                    return
                reason = "too many challenges"
                self._client.reset(self.call_id)
            except CredentialsRejected:
                reason = "wrong credentials"
            except RealmMismatch:
                reason = "realm mismatch"
            except ChallengeNotAllowed:
                reason = "challenge not allowed (authtype)"
            except (AuthenticationFailed, SipError) as e:
                reason = f"cannot authenticate: {e}"
        if self._pending_unregister:
            self._finish(False, f"{status} {reason}")
        else:
            self._fail(now, status, reason)

    def _on_interval_too_brief(self, response: Response, now: float) -> None:
        minimum = response.typed("Min-Expires") if "Min-Expires" in response.headers else None
        if minimum is not None and minimum > self._requested:
            self._log.info("423: asking for %d s instead of %d s", minimum, self._requested)
            self._requested = minimum
            if self._resend(now):
                return
        self._fail(now, response.status, response.reason)

    def _granted(self, response: Response) -> int:
        asked = self._pending_expires
        mode = self.settings.acceptsrvexpire
        if mode == 0:
            return asked
        mine = next((c.expires for c in response.contact if c.uri == self._pending_contact
                     and c.expires), None)
        header = response.expires or None
        for value in ((mine, header) if mode == 1 else (header, mine)):
            if value is not None:
                return min(value, asked)
        return asked

    def _on_success(self, response: Response, now: float) -> None:
        expires = self._granted(response)
        self._failures = 0
        self._bound_until = now + expires
        self._set_state(State.REGISTERED)
        self._arm(now + refresh_delay(expires))
        self._log.debug("registered for %d s", expires)
        self._events.append(Registered(self.account, expires, self._pending_contact))

    def _fail(self, now: float, status: int | None, reason: str,
              retry_after: int | None = None) -> None:
        self._failures += 1
        delay = backoff_delay(self._failures, self.settings, self._rand())
        if retry_after is not None:
            delay = max(delay, min(float(retry_after), self.settings.backoff_max))
        if self._bound_until is not None and self._bound_until <= now:
            self._bound_until = None
        self._set_state(State.RETRY_WAIT)
        self._arm(now + delay)
        self._log.info("registration failed (%s %s); retry in %.1f s", status, reason, delay)
        self._events.append(RegisterFailed(self.account, status, reason, delay))

    def _register_done_while_stopping(self, now: float, bound: bool) -> None:
        """The REGISTER in flight when stop() came has ended: unregister if a binding may exist."""
        if bound or (self._bound_until is not None and self._bound_until > now):
            self._resends = 0
            self._send(now, unregister=True)
        else:
            self._finish(True, "not registered")

    def _finish(self, confirmed: bool, reason: str) -> None:
        self._pending = None
        self._timer = None
        self._bound_until = None
        self._set_state(State.STOPPED)
        self._events.append(Unregistered(self.account, confirmed, reason))

    def _observe_via(self, response: Response) -> None:
        """RFC 3581: note received/rport of the top Via; adopt it for the Contact per use_rport."""
        vias = response.via
        if not vias:
            return
        top = vias[0]
        rport = top.rport
        port_seen = rport if isinstance(rport, int) and not isinstance(rport, bool) else None
        if top.received is None and port_seen is None:
            return
        seen = (top.received or top.host, port_seen or top.port or 5060)
        previous, self.public_address = self.public_address, seen
        if self.transport != "UDP":
            return  # a stream's rport is our ephemeral connection port: never a Contact
        mode = self.settings.use_rport
        if mode in (2, 3) or (mode == 1 and previous == seen):
            local = (self.contact.host, self.contact.port or 5060)
            self._contact_address = None if seen == local else seen
