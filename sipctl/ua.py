"""``UserAgent``: the thin asyncio adapter around the sans-IO SIP machines.

It owns a :class:`~sipctl.transport.TransportManager`, a
:class:`~sipctl.sip.transaction.TransactionLayer` and a
:class:`~sipctl.registration.Registrar`, and is the only code of the stack that reads
the loop clock (``loop.time()``) and arms a timer (one ``loop.call_at`` handle,
re-armed at the earliest deadline of the sans-IO parts after every input). Randomness
(``secrets`` for tokens and branches, ``random.SystemRandom`` for backoff jitter) is
drawn here and injected.

One task pulls transport events and feeds them in; what the machines emit is sent
(``SendMessage`` -> transport, ``SendRegister`` -> a new client transaction) or routed
(transaction events -> the Registrar; registration events -> :meth:`UserAgent.events`).
Malformed requests get :func:`~sipctl.sip.message.make_400`; requests not handled yet
get 405/501 (OPTIONS gets 200). No exception escapes into the loop: each is logged.

Server names are resolved per RFC 3263 (:class:`SipResolver`); each account walks its
ordered targets with a :class:`Failover`: a REGISTER transaction that times out, fails in
the transport or gets a 503 moves the account to the next target for its next attempt
(after the last target, back to the first). Once an account is registered, keep-alives
(``keepalivetype``/``keepaliveival`` of the :class:`TransportConfig`) run towards its
registrar target (one per flow); a :class:`ConnectionLost` of that stream connection or a
:class:`KeepAliveFailed` on that flow re-registers the accounts using it at once.
"""
from __future__ import annotations

import asyncio
import logging
import random
import secrets
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterable, Mapping

from .accounts import Account, RegistrationSettings
from .call import Call
from .call_settings import CallSettings
from .registrar import Registrar
from .registration import State
from .registration_events import Registered, RegistrationEvent, SendRegister, Unregistered
from .sip.errors import ParseError
from .sip.message import MessageError, Request, check_request, make_400, make_response
from .sip.timers import DEFAULT_TIMER
from .sip.transaction import (AckReceived, RequestReceived, ResponseReceived, SendMessage, Terminated,
                              TransactionKey, TransactionLayer, TransactionTimedOut,
                              TransportFailed)
from .transport import (ConnectionLost, Failover, KeepAliveFailed, MessageReceived,
                        ParseFailed, SipResolver, Target, Transport, TransportConfig,
                        TransportManager)
from .transport.base import normalize_address
from .transport.dns import should_failover
from .transport.keepalive import KeepAlive
from .ua_calls import CALL_METHODS, CallControl

__all__ = ["UserAgent", "ALLOWED_METHODS"]

_log = logging.getLogger(__name__)

#: Methods this UA answers (others get 405 if known, 501 if not).
ALLOWED_METHODS = ("OPTIONS", *CALL_METHODS)
_KNOWN_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "PRACK",
                            "SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE",
                            "UPDATE"})


@dataclass(frozen=True)
class _SendFailed:
    """Internal: sending a message of client transaction ``key`` failed."""

    key: TransactionKey
    reason: str


class UserAgent:
    """Registers ``accounts``, places and receives calls on up to ``maxlines`` lines.

    ``transport_config``: how the transports are opened (default: every transport on
    127.0.0.1, ephemeral port). ``settings``: registration settings. ``timer``: the
    reference's ``timer`` parameter (10: RFC timers; 1: ten times faster).
    ``resolver``: a :class:`SipResolver` for server names (IP literals need none).
    ``call_settings``: the call parameters (``autoaccept``, ``ringtimeout`` ...);
    ``params``: reference parameters for codecs/SDP/media (``use_pcmu``, ``rtpport``,
    ``mediatimeout`` ...); ``media``: the :class:`~sipctl.media.engine.MediaEngine`
    (default: one on a :class:`~sipctl.media.devices.NullDevice`, started and stopped
    with the UA; ``False``: calls without media, for signalling-only uses).
    """

    def __init__(self, accounts: Iterable[Account] = (), *,
                 transport_config: TransportConfig | None = None,
                 settings: RegistrationSettings | None = None, timer: float = DEFAULT_TIMER,
                 resolver: SipResolver | None = None,
                 random_bytes: Callable[[int], bytes] = secrets.token_bytes,
                 user_agent: str = "sipctl", call_settings: CallSettings | None = None,
                 params: Mapping[str, Any] | None = None, media: Any = None) -> None:
        self.accounts = list(accounts)
        params = dict(params or {})
        self._own_media = media is None
        if media is None:
            from .media.engine import MediaEngine, MediaSettings
            media = MediaEngine(settings=MediaSettings.from_params(params))
        self.media = media or None
        self.calls = CallControl(self, settings=call_settings or CallSettings.from_params(params),
                                 media=self.media, params=params)
        self.settings = settings or RegistrationSettings()
        self.manager = TransportManager(transport_config or TransportConfig(localip="127.0.0.1"))
        self.transactions = TransactionLayer(random_bytes, timer=timer)
        self.registrar: Registrar | None = None
        self.user_agent = user_agent
        self._resolver = resolver
        self._rng = random.SystemRandom()
        self._targets: dict[int, Target] = {}
        self._failovers: dict[int, Failover] = {}
        #: Keep-alives running, by registrar target (one per flow).
        self.keepalives: dict[Target, KeepAlive] = {}
        self._server_transport: dict[TransactionKey, Transport] = {}
        self._rx_transport: Transport | None = None
        self._reg_events: asyncio.Queue[RegistrationEvent] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Exceptions caught and logged by the loop (for tests and diagnostics).
        self.errors = 0
        #: ``trace(direction, message, peer)`` for every SIP message received ("received":
        #: a parsed Request/Response) and sent ("sent": its bytes); for logs and the API's
        #: last-received-message queries. Called on the loop; must not raise.
        self.trace: Callable[[str, Any, Any], None] | None = None

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> "UserAgent":
        """Open the transports, start the event task and register every account."""
        self._loop = asyncio.get_running_loop()
        await self.manager.start()
        try:
            for acc in self.accounts:
                failover = Failover(await self._resolve(acc))
                self._failovers[acc.index] = failover
                assert failover.current is not None
                self._targets[acc.index] = failover.current
            self.registrar = Registrar(self.accounts, self._contact_for,
                                       new_token=lambda: secrets.token_hex(8),
                                       rand=self._rng.random, settings=self.settings)
        except BaseException:
            await self.manager.close()
            raise
        loop = self._loop
        if self.media is not None:
            self.media.on_event = lambda ev: loop.call_soon_threadsafe(
                self.calls.on_media_event, ev)
            if self._own_media:
                self.media.start()
        self.calls.start()
        self._task = self._loop.create_task(self._run(), name="sipctl-ua")
        self.registrar.start(self._now())
        self._pump()
        return self

    async def stop(self) -> None:
        """Unregister (waiting at most ``waitforunregister``), then close the transports."""
        if self._loop is None:
            return
        reg = self.registrar
        if self.calls.lines is not None and self._task is not None and not self._task.done():
            self.calls.stop()
            self._pump()
            deadline = self._now() + 2.0
            while self.calls.lines.active_calls() and self._now() < deadline:
                await asyncio.sleep(0.02)
        self.calls.close_media()
        if self.media is not None and self._own_media:
            await asyncio.get_running_loop().run_in_executor(None, self.media.stop)
        if reg is not None and self._task is not None and not self._task.done():
            reg.stop(self._now())
            self._pump()
            deadline = self._now() + self.settings.wait_for_unregister + 1.0
            while any(r.state not in (State.STOPPED, State.IDLE) for r in reg.registrations):
                left = deadline - self._now()
                if left <= 0:
                    break
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except asyncio.TimeoutError:
                    break
            if self._sends:  # let the last messages (the unregister) leave
                await asyncio.wait(list(self._sends), timeout=1.0)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_at = None
        self.keepalives.clear()  # manager.close() stops them
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._task = None
        for t in list(self._sends):
            t.cancel()
        await self.manager.close()

    async def __aenter__(self) -> "UserAgent":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def events(self) -> AsyncIterator[RegistrationEvent]:
        """Registration events (Registering, Registered, RegisterFailed, Unregistered)."""
        while True:
            yield await self._reg_events.get()

    async def next_event(self, timeout: float | None = None) -> RegistrationEvent:
        """The next registration event (raises ``asyncio.TimeoutError`` after ``timeout``)."""
        return await asyncio.wait_for(self._reg_events.get(), timeout)

    def drain_events(self) -> tuple[list[RegistrationEvent], list[Any]]:
        """The registration and call events queued but not read yet (after :meth:`stop`:
        the CDRs of the calls it hung up, the final Unregistered)."""
        reg: list[RegistrationEvent] = []
        calls: list[Any] = []
        while not self._reg_events.empty():
            reg.append(self._reg_events.get_nowait())
        while not self.calls.events.empty():
            calls.append(self.calls.events.get_nowait())
        return reg, calls

    def local_address(self, transport: str = "UDP") -> tuple[str, int]:
        """The bound address of ``transport``."""
        return self.manager.pick((transport, "127.0.0.1")).local_address

    # -- calls --------------------------------------------------------------------------------
    @property
    def lines(self):  # type: ignore[no-untyped-def]
        """The :class:`~sipctl.call_lines.Lines` (None before :meth:`start`)."""
        return self.calls.lines

    def dial(self, target: str, line: int = -1) -> Call:
        """Call ``target`` (a user or number on the account's domain, ``user@host`` or a SIP
        URI; empty: redial) on ``line`` (-1: a free line). Progress comes as call events."""
        lines = self.calls.lines
        if lines is None:
            raise RuntimeError("the UserAgent is not started")
        now = self._now()
        call = lines.redial(now, line) if not target.strip() else lines.dial(target, now, line)
        self._pump()
        return call

    def _command(self, line: int, fn: Callable[[Call, float], Any]) -> Any:
        result = fn(self.calls.require(line), self._now())
        self._pump()
        return result

    def hangup(self, line: int = -1) -> None:
        """Hang up ``line`` (-1 current, -2 all): CANCEL, BYE or 486 as the call's state needs."""
        lines = self.calls.lines
        if lines is None:
            raise RuntimeError("the UserAgent is not started")
        lines.hangup(self._now(), line)
        self._pump()

    def accept(self, line: int = -1) -> None:
        """Answer the incoming call ringing on ``line``."""
        self._command(line, lambda c, now: c.accept(now))

    def reject(self, line: int = -1, status: int = 486) -> None:
        """Refuse the incoming call on ``line`` (486 Busy Here; 603 Decline ...)."""
        self._command(line, lambda c, now: c.reject(now, status))

    def forward(self, line: int, target: str) -> None:
        """Redirect the incoming call on ``line`` to ``target`` (302)."""
        self._command(line, lambda c, now: c.forward(target, now))

    def hold(self, line: int = -1, hold: bool = True) -> None:
        """Put the call on hold (re-INVITE per ``holdtypeonhold``) or take it off hold."""
        self._command(line, lambda c, now: c.hold(now) if hold else c.unhold(now))

    def mute(self, line: int = -1, mute: bool = True, direction: int = 4) -> None:
        """Mute or unmute (API_MuteEx directions: 0/3 both, 1 speaker, 2 microphone,
        4 per ``defmute``)."""
        self._command(line, lambda c, now: c.mute(mute, direction, now))

    def dtmf(self, line: int, digits: str) -> bool:
        """Send DTMF ``digits`` (spaces are pauses) per ``dtmfmode``; False when disabled."""
        call = self.calls.require(line)
        if self.media is None:
            raise RuntimeError("DTMF needs the media engine")
        return bool(self.media.send_dtmf(self.calls.media_key(call.line), digits))

    def media_key(self, line: int = -1) -> Any:
        """The media engine's key of the stream of the call on ``line`` (KeyError: none)."""
        call = self.calls.require(line)
        return self.calls.media_key(call.line)

    def stream_counters(self, line: int = -1) -> Any:
        """Packet counters of the call's RTP stream (:class:`~sipctl.media.stream.StreamCounters`)."""
        if self.media is None:
            raise RuntimeError("no media engine")
        return self.media.counters(self.media_key(line))

    async def call_events(self) -> AsyncIterator[Any]:
        """Call and media events: StatusChanged, Cdr, DtmfReceived, MediaSummary ..."""
        while True:
            yield await self.calls.events.get()

    async def next_call_event(self, timeout: float | None = None) -> Any:
        """The next call or media event (``asyncio.TimeoutError`` after ``timeout``)."""
        return await asyncio.wait_for(self.calls.events.get(), timeout)

    # -- setup helpers ----------------------------------------------------------------------
    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    async def _resolve(self, acc: Account) -> list[Target]:
        transport = acc.transport if acc.transport in (0, 1, 2) else 0
        resolver = self._resolver or SipResolver(transport=transport,
                                                 supported=self.manager.names, rng=self._rng)
        return await resolver.resolve(acc.proxy or acc.server)

    def target(self, index: int = 1) -> Target:
        """The server target account ``index`` uses now."""
        return self._targets[index]

    def _contact_for(self, acc: Account) -> str:
        target = self._targets[acc.index]
        host, port = self.manager.contact_address(target.transport, target.address)
        h = f"[{host}]" if ":" in host else host
        param = "" if target.transport == "UDP" else f";transport={target.transport.lower()}"
        return f"sip:{acc.username}@{h}:{port}{param}"

    # -- the loop ---------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            event = await self.manager.next_event()
            try:
                self._on_transport_event(event)
            except Exception:  # noqa: BLE001 - bad input never kills the loop
                self.errors += 1
                _log.exception("error handling %r", type(event).__name__)
            self._pump()

    def _pump(self) -> None:
        """Drain what the sans-IO machines emitted and re-arm the timer."""
        reg = self.registrar
        while True:
            progressed = False
            while (tev := self.transactions.next_event()) is not None:
                progressed = True
                self._guard(self._on_transaction_event, tev)
            while reg is not None and (rev := reg.next_event()) is not None:
                progressed = True
                self._guard(self._on_registration_event, rev)
            if self.calls.pump():
                progressed = True
            if not progressed:
                break
        self._rearm()

    def _guard(self, fn: Callable[[object], None], event: object) -> None:
        try:
            fn(event)
        except Exception:  # noqa: BLE001
            self.errors += 1
            _log.exception("error handling %r", type(event).__name__)

    def _rearm(self) -> None:
        if self._loop is None:
            return
        deadlines = [d for d in (self.transactions.get_timer(), self.calls.get_timer(),
                                 self.registrar.get_timer() if self.registrar else None)
                     if d is not None]
        at = min(deadlines) if deadlines else None
        if at == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = None if at is None else self._loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        at = self._timer_at
        self._timer = self._timer_at = None
        now = max(self._now(), at or 0.0)
        try:
            self.transactions.handle_timer(now)
            if self.registrar is not None:
                self.registrar.handle_timer(now)
            self.calls.handle_timer(now)
        except Exception:  # noqa: BLE001
            self.errors += 1
            _log.exception("error in timer")
        self._pump()

    # -- inputs -------------------------------------------------------------------------------
    def _on_transport_event(self, event: object) -> None:
        now = self._now()
        if isinstance(event, _SendFailed):
            self.transactions.transport_error(event.key, now, event.reason)
        elif isinstance(event, MessageReceived):
            msg, transport = event.data, event.transport
            if self.trace is not None:
                self.trace("received", msg, event.source)
            if isinstance(msg, Request) and msg.method != "ACK":
                try:
                    check_request(msg)
                except ParseError as e:
                    self._send_bytes(make_response(msg, e.status, e.reason,
                                                   to_tag=secrets.token_hex(6)).serialize(),
                                     transport, event.source, None)
                    return
            self._rx_transport = transport
            try:
                self.transactions.receive(msg, event.source, transport.reliable, now)
                self._pump()
            finally:
                self._rx_transport = None
        elif isinstance(event, ParseFailed):
            if not event.raw or event.transport is None:
                return
            source = event.error if isinstance(event.error, MessageError) and event.error.data \
                else event.raw
            response = make_400(source, to_tag=secrets.token_hex(6), warn_agent=self.user_agent)
            if response is not None:
                self._send_bytes(response.serialize(), event.transport, event.source, None)
        elif isinstance(event, ConnectionLost):
            self._flow_lost(event.peer, event.transport, "connection lost")
        elif isinstance(event, KeepAliveFailed):
            self._flow_lost(event.peer, event.transport, "keep-alive failed")
        else:
            _log.debug("transport event %r", event)

    def _flow_lost(self, peer: tuple[str, int] | None, transport: Transport | None,
                   why: str) -> None:
        """The flow to ``peer`` failed: re-register the accounts registered over it."""
        reg = self.registrar
        if reg is None or peer is None or transport is None:
            return
        if not transport.reliable and why == "connection lost":
            return  # an ICMP error on the shared UDP socket: Timer F will tell
        peer = normalize_address(peer)
        for index, target in self._targets.items():
            try:
                same = (self.manager.pick(target) is transport
                        and normalize_address(target.address) == peer)
            except Exception:  # noqa: BLE001 - transport not open
                same = False
            if same and reg.refresh_now(self._now(), index):
                _log.info("%s to %s: re-registering account %d", why, target, index)

    def _failover(self, call_id: str | None, error: object) -> None:
        """A REGISTER of the account with ``call_id`` failed: next attempt, next target."""
        assert self.registrar is not None
        registration = self.registrar.by_call_id(call_id)
        if registration is None or not should_failover(error):  # type: ignore[arg-type]
            return
        index = registration.account.index
        failover = self._failovers.get(index)
        if failover is None or len(failover.targets) < 2:
            return
        old = failover.current
        new = failover.failover(error)  # type: ignore[arg-type]
        if new is None:  # every target failed: start over with the first
            failover = self._failovers[index] = Failover(failover.targets)
            new = failover.current
        assert new is not None
        _log.info("account %d: %s failed (%s); next attempt via %s", index, old, error, new)
        self._targets[index] = new
        if old is None or new.transport != old.transport or new.host != old.host:
            registration.set_contact(self._contact_for(registration.account), new.transport)
        self._stop_keepalives()

    def _on_transaction_event(self, event: object) -> None:
        now = self._now()
        reg = self.registrar
        if isinstance(event, SendMessage):
            data = event.message.serialize()
            dest = event.destination
            if self.trace is not None:
                self.trace("sent", data, dest)
            if isinstance(dest, Target):
                self._spawn(self._send_target(data, dest, event.key))
            else:
                transport = self._server_transport.get(event.key) if event.key else None
                if transport is None:
                    transport = self.manager.pick(("TCP" if event.reliable else "UDP", dest[0]))
                self._send_bytes(data, transport, dest, event.key)
        elif isinstance(event, ResponseReceived):
            if reg is not None and event.key.method == "REGISTER":
                if event.response.status == 503:
                    self._failover(event.response.call_id, event.response.status)
                reg.receive_response(event.response, now)
            else:
                self.calls.on_response(event, now)
        elif isinstance(event, (TransactionTimedOut, TransportFailed)):
            if reg is not None and event.key.method == "REGISTER":
                self._failover(event.request.call_id, event.error)
                reg.transaction_failed(event.request, event.error, now)
            else:
                self.calls.on_failed(event, now)
        elif isinstance(event, RequestReceived):
            if self._rx_transport is not None:
                self._server_transport[event.key] = self._rx_transport
            if not self.calls.on_request(event, now):
                self._answer(event, now)
        elif isinstance(event, AckReceived):
            self.calls.on_ack(event, now)
        elif isinstance(event, Terminated):
            self._server_transport.pop(event.key, None)

    def _on_registration_event(self, event: RegistrationEvent) -> None:
        if isinstance(event, SendRegister):
            now = self._now()
            target = self._targets[event.account.index]
            try:
                self.transactions.send_request(event.request, target,
                                               target.transport != "UDP", now)
            except Exception as e:  # noqa: BLE001
                _log.warning("cannot send REGISTER: %s", e)
                assert self.registrar is not None
                self.registrar.transaction_failed(event.request, e, now)
            return
        if isinstance(event, Registered):
            self._start_keepalive(self._targets[event.account.index])
        elif isinstance(event, Unregistered):
            self._stop_keepalives()
        self._reg_events.put_nowait(event)
        self._changed.set()

    def _start_keepalive(self, target: Target) -> None:
        if target in self.keepalives:
            return
        cfg = self.manager.config
        if not cfg.keepalivetype or cfg.keepaliveival <= 0:
            return
        try:
            self.keepalives[target] = self.manager.start_keepalive(target)
        except Exception as e:  # noqa: BLE001
            _log.warning("cannot start keep-alives to %s: %s", target, e)

    def _stop_keepalives(self) -> None:
        """Stop the keep-alives no registered account uses any more."""
        reg = self.registrar
        used = {self._targets[r.account.index] for r in (reg.registrations if reg else ())
                if r.state in (State.REGISTERED, State.REGISTERING, State.RETRY_WAIT)}
        for target in [t for t in self.keepalives if t not in used]:
            self._spawn(self.manager.stop_keepalive(self.keepalives.pop(target)))

    def _answer(self, event: RequestReceived, now: float) -> None:
        request = event.request
        method = request.method
        headers: list[tuple[str, str]] = []
        if method == "OPTIONS":
            status = 200
            headers = [("Allow", ", ".join(ALLOWED_METHODS)), ("Accept", "application/sdp")]
        elif method in ("CANCEL", "BYE", "INFO", "UPDATE", "PRACK") or (
                method == "INVITE" and request.to is not None and request.to.tag):
            status = 481
        elif method in _KNOWN_METHODS:
            status = 405
            headers = [("Allow", ", ".join(ALLOWED_METHODS))]
        else:
            status = 501
        headers.append(("Server", self.user_agent))
        response = make_response(request, status, to_tag=secrets.token_hex(6), headers=headers)
        self.transactions.send_response(response, now, event.key)

    # -- output ---------------------------------------------------------------------------------
    def _spawn(self, coro) -> None:  # type: ignore[no-untyped-def]
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    def _send_bytes(self, data: bytes, transport: Transport, dest: tuple[str, int],
                    key: TransactionKey | None) -> None:
        self._spawn(self._send_on(data, transport, dest, key))

    async def _send_target(self, data: bytes, target: Target,
                           key: TransactionKey | None) -> None:
        try:
            await self.manager.send(data, target)
        except Exception as e:  # noqa: BLE001
            self._send_failed(key, e)

    async def _send_on(self, data: bytes, transport: Transport, dest: tuple[str, int],
                       key: TransactionKey | None) -> None:
        try:
            await transport.send(data, dest)
        except Exception as e:  # noqa: BLE001
            self._send_failed(key, e)

    def _send_failed(self, key: TransactionKey | None, error: BaseException) -> None:
        _log.info("send failed (%s): %s", key, error)
        if key is not None and not key.server:
            self.manager.events.put_nowait(_SendFailed(key, str(error) or type(error).__name__))
