"""Calls on a :class:`~sipctl.ua.UserAgent`: the glue between the transaction layer,
the sans-IO :class:`~sipctl.call_lines.Lines`, the :class:`~sipctl.media.engine.MediaEngine`
and the application.

Routing (all on the asyncio loop):

* a new INVITE (no To tag) -> :meth:`Lines.incoming`; other requests and 2xx ACKs ->
  :meth:`Lines.receive_request` (False: the UA answers 481/405 as before);
* responses and failures of client transactions the calls started -> ``Lines``;
* call events: :class:`SendRequest` -> a client transaction to the request's next hop,
  :class:`SendResponse` -> its server transaction, :class:`SendAck` -> stateless to the
  next hop, :class:`MediaReady`/:class:`MediaStop`/mute/ringback -> the media engine,
  everything else (status, CDR, DTMF, INFO ...) -> the application queue;
* media events arrive on the media thread and are handed to the loop with
  ``call_soon_threadsafe`` (media timeout -> :meth:`Call.media_timeout`, DTMF to send by
  INFO -> :meth:`Call.send_info`).

Next hop of a request: its first Route, else its Request-URI. Out-of-dialog requests
whose Request-URI host is an account's domain (or every one, when the account has an
outbound ``proxy``) go to that account's server target, as registrations do; other
destinations are resolved per RFC 3263 (IP literals without DNS).
"""
from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import itertools
import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from .call import Call
from .call_events import (Cdr, LocalRingback, MediaReady, MediaStop, MuteChanged, SendAck,
                          SendRequest, SendResponse)
from .call_common import target_uri
from .call_lines import Lines
from .call_settings import CallSettings
from .media.dtmf import DTMF_RELAY
from .media.media_events import MediaTimeout, SendDtmfInfo
from .sip.addr import NameAddr
from .sip.errors import LocalProtocolError, TransportError
from .sip.message import Request
from .sip.offer_answer import MediaConfig
from .sip.sdp import Direction
from .sip.transaction import (AckReceived, RequestReceived, ResponseReceived,
                              TransactionTimedOut, TransportFailed)
from .sip.uri import SipUri, Uri, parse_uri
from .transport import SipResolver, Target
from .transport.dns import ResolveError

if TYPE_CHECKING:
    from .media.engine import MediaEngine
    from .ua import UserAgent

__all__ = ["CallControl", "CALL_METHODS"]

_log = logging.getLogger(__name__)

#: Methods the calls handle (added to the UA's Allow).
CALL_METHODS = ("INVITE", "ACK", "CANCEL", "BYE", "INFO", "UPDATE", "PRACK")


class CallControl:
    """The calls of one :class:`UserAgent` (created by it; not used on its own)."""

    def __init__(self, ua: "UserAgent", *, settings: CallSettings,
                 media: "MediaEngine | None", params: Mapping[str, Any]) -> None:
        self.ua = ua
        self.settings = settings
        self.media = media
        self.params = dict(params)
        self.lines: Lines | None = None
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        # media streams are keyed per call, (line, n), so a new call on a line never meets
        # the previous call's stream while that one is still closing
        self._media_key: dict[int, tuple[int, int]] = {}
        self._key_line: dict[tuple[int, int], int] = {}
        self._keys = itertools.count(1)
        #: lines whose stream is closing -> events held until its summary is in (the CDR)
        self._closing: dict[int, list[Any]] = {}
        # summaries of streams that closed before their call's CDR was emitted (the stream
        # closes at BYE, the CDR follows the BYE's answer): line -> summary
        self._summaries: dict[int, Any] = {}
        self._resolver: SipResolver | None = None
        self._local_domain = False      # From: carries the serveraddress (no account)

    # -- setup --------------------------------------------------------------------------------
    def start(self) -> None:
        """Create the lines (after the transports are open)."""
        ua = self.ua
        acc = ua.accounts[0] if ua.accounts else None
        local_for = None
        names = ua.manager.names
        transport = acc.transport_name if acc is not None else "UDP"
        if transport not in names:
            transport = "UDP" if "UDP" in names or not names else names[0]
        if acc is not None:
            target = ua.target(acc.index)
            host, port = ua.manager.contact_address(target.transport, target.address)
            transport = target.transport
            local = NameAddr(acc.aor, acc.displayname or None)
            user = acc.username
        else:
            host, port = ua.local_address(transport)
            user = str(self.params.get("username") or "sipctl")
            if ipaddress.ip_address(host).is_unspecified:
                # listening on every interface: each call gets the address the kernel
                # routes to its peer (_local_for); this one is the fallback
                local_for = self._local_for
                host = "::1" if ":" in host else "127.0.0.1"
            h = f"[{host}]" if ":" in host else host
            local = NameAddr(SipUri(host=h, port=port, user=user))
            server = str(self.params.get("serveraddress") or "").strip()
            if server:
                # a server but no account: bare numbers/users are called at the server
                # (From: user@server), per the reference's serveraddress
                su = parse_uri("sip:" + server)
                if isinstance(su, SipUri):
                    local = NameAddr(SipUri(host=su.host, port=su.port, user=user))
                    self._local_domain = True
        h = f"[{host}]" if ":" in host else host
        param = "" if transport == "UDP" else f";transport={transport.lower()}"
        contact = f"sip:{user}@{h}:{port}{param}"
        self._local_user, self._local_transport = user, transport
        auth = None
        if acc is not None and acc.has_credentials:
            auth = acc.digest_client(lambda: secrets.token_hex(8))
        self.lines = Lines(self.settings.maxlines, settings=self.settings, local_uri=local,
                           contact=contact, media_for=self._media_for,
                           new_token=lambda: secrets.token_hex(8), sent_by=f"{h}:{port}",
                           transport=transport, auth=auth, local_for=local_for)

    def _local_for(self, about: str | Request) -> dict[str, Any] | None:
        """Our address for a call to/from ``about`` (a dialled target or an INVITE) when
        listening on a wildcard address: the source address the kernel routes to the peer
        (None: keep the default, e.g. for a host name not resolved yet)."""
        assert self.lines is not None
        try:
            if isinstance(about, Request):
                via = about.via[0]
                host = str(via.params.get("received") or via.host)
            else:
                local = self.lines._kwargs["local_uri"]
                host = str(target_uri(about, local, self.settings.techprefix).host)
            host = host.strip("[]")
            ipaddress.ip_address(host)
            ip, port = self.ua.manager.contact_address(self._local_transport, (host, 0))
        except (ValueError, IndexError, LocalProtocolError, OSError, TransportError):
            return None
        h = f"[{ip}]" if ":" in ip else ip
        param = "" if self._local_transport == "UDP" else \
            f";transport={self._local_transport.lower()}"
        user = self._local_user
        out: dict[str, Any] = {"contact": f"sip:{user}@{h}:{port}{param}",
                               "sent_by": f"{h}:{port}"}
        if not self._local_domain:
            out["local_uri"] = NameAddr(SipUri(host=h, port=port, user=user))
        return out

    def _media_for(self, line: int) -> MediaConfig:
        if self.media is None or line < 1:
            return MediaConfig.from_params(self.params, "127.0.0.1", 0)
        old = self._media_key.pop(line, None)
        if old is not None:
            self._close_async(line, old)
        self._summaries.pop(line, None)         # a previous call's, never claimed
        key = (line, next(self._keys))
        address, port = self.media.open_line(key)
        self._media_key[line] = key
        self._key_line[key] = line
        return MediaConfig.from_params(self.params, address, port)

    def stop(self) -> None:
        """Hang up every call (the caller pumps and waits)."""
        if self.lines is not None:
            self.lines.hangup(self.ua._now(), -2)

    def close_media(self) -> None:
        """Close every stream still open (at stop; blocking)."""
        if self.media is None:
            return
        for line, key in list(self._media_key.items()):
            del self._media_key[line]
            self._key_line.pop(key, None)
            try:
                self.media.close_line(key)
            except Exception as e:  # noqa: BLE001
                _log.warning("line %d: closing media failed: %s", line, e)

    def media_key(self, line: int) -> Any:
        """The media engine key of ``line``'s current stream (KeyError: none open)."""
        return self._media_key[line]

    # -- commands (from the application; the UA pumps after each) --------------------------------
    def call(self, line: int) -> Call | None:
        assert self.lines is not None, "the UserAgent is not started"
        return self.lines.get(line)

    def require(self, line: int) -> Call:
        call = self.call(line)
        if call is None or not call.active:
            raise LocalProtocolError(f"no call on line {line}")
        return call

    # -- transaction events -----------------------------------------------------------------
    def on_request(self, event: RequestReceived, now: float) -> bool:
        """A new server transaction: True when a call took it."""
        lines = self.lines
        if lines is None:
            return False
        req = event.request
        to_tag = req.to.tag if req.to is not None else None
        if req.method == "INVITE" and not to_tag and lines.find(req) is None:
            lines.incoming(req, now)
            return True
        return lines.receive_request(req, now)

    def on_ack(self, event: AckReceived, now: float) -> None:
        if self.lines is not None:
            self.lines.receive_request(event.request, now)

    def on_response(self, event: ResponseReceived, now: float) -> bool:
        return self.lines is not None and self.lines.receive_response(event.response, now)

    def on_failed(self, event: TransactionTimedOut | TransportFailed, now: float) -> bool:
        if self.lines is None:
            return False
        reason = "timeout" if isinstance(event, TransactionTimedOut) else "transport error"
        return self.lines.transaction_failed(event.request, now, reason)

    # -- timers -----------------------------------------------------------------------------------
    def get_timer(self) -> float | None:
        return self.lines.get_timer() if self.lines is not None else None

    def handle_timer(self, now: float) -> None:
        if self.lines is not None:
            self.lines.handle_timer(now)

    # -- what the calls emit ------------------------------------------------------------------
    def pump(self) -> bool:
        """Act on every pending call event; True when there was any."""
        lines = self.lines
        if lines is None:
            return False
        progressed = False
        while (ev := lines.next_event()) is not None:
            progressed = True
            try:
                self._on_call_event(ev)
            except Exception:  # noqa: BLE001 - one bad call never stops the others
                self.ua.errors += 1
                _log.exception("error handling %r", ev)
        return progressed

    def _on_call_event(self, ev: Any) -> None:
        ua = self.ua
        now = ua._now()
        if isinstance(ev, SendRequest):
            self._send_request(ev.line, ev.request, now)
        elif isinstance(ev, SendResponse):
            try:
                ua.transactions.send_response(ev.response, now)
            except LocalProtocolError as e:
                _log.info("line %d: response %d not sent: %s", ev.line, ev.response.status, e)
        elif isinstance(ev, SendAck):
            target = self._target_now(ev.request, in_dialog=True)
            if target is not None:
                ua.transactions.send_stateless(ev.request, target, target.transport != "UDP")
            else:
                self._spawn_resolved(ev.request, None)
        elif isinstance(ev, MediaReady):
            if self.media is not None:
                neg = ev.negotiated
                call = self.lines.get(ev.line) if self.lines is not None else None
                if call is not None and call.local_hold:
                    # we hold: no audio either way (no music on hold); keep-alives only
                    neg = dataclasses.replace(neg, local_direction=Direction.INACTIVE)
                key = self._media_key.get(ev.line)
                if key is not None:
                    # earlymedia 3 ("just early open the audio") and 5 ("yes when sdp
                    # received") send our audio during early media; the others only receive
                    # (plus natopenpackets/keep-alives)
                    early = ev.early and self.settings.earlymedia not in (3, 5)
                    self.media.update(key, neg, early=early)
        elif isinstance(ev, MediaStop):
            key = self._media_key.pop(ev.line, None)
            if key is not None:
                self._close_async(ev.line, key)
        else:
            key = self._media_key.get(ev.line)
            if isinstance(ev, MuteChanged) and key is not None:
                self.media.set_mute(key, ev.mic, ev.speaker)   # type: ignore[union-attr]
            elif isinstance(ev, LocalRingback) and key is not None:
                self.media.set_ringback(key, ev.on)            # type: ignore[union-attr]
            if isinstance(ev, Cdr):
                summary = self._summaries.pop(ev.line, None)
                key = self._media_key.pop(ev.line, None)
                if key is not None:
                    self._close_async(ev.line, key)
                held = self._closing.get(ev.line)
                if held is not None:       # the CDR follows the stream's summary
                    held.append(ev)
                    return
                if summary is not None:
                    ev = dataclasses.replace(ev, media=summary)
            self.events.put_nowait(ev)

    def _close_async(self, line: int, key: tuple[int, int]) -> None:
        """Close a stream without blocking the loop (the media thread answers within a
        tick); its summary, then the events held for the line, go to the application."""
        assert self.media is not None
        self._closing.setdefault(line, [])
        fut = asyncio.wrap_future(self.media.close_line_nowait(key), loop=self.ua._loop)

        def done(f: "asyncio.Future[Any]") -> None:
            self._key_line.pop(key, None)
            held = self._closing.pop(line, [])
            try:
                summary = f.result()
            except Exception as e:  # noqa: BLE001
                _log.warning("line %d: closing media failed: %s", line, e)
                summary = None
            if summary is not None:
                self.events.put_nowait(MediaSummary(line, summary))
                if not any(isinstance(ev, Cdr) for ev in held):
                    self._summaries[line] = summary     # for the CDR still to come
            for ev in held:
                if isinstance(ev, Cdr) and summary is not None:
                    ev = dataclasses.replace(ev, media=summary)
                self.events.put_nowait(ev)

        fut.add_done_callback(done)

    # -- media events (called on the loop via call_soon_threadsafe) ------------------------------
    def on_media_event(self, ev: Any) -> None:
        line = self._key_line.get(ev.line)
        if line is None or self.lines is None:
            return                          # the stream of a call that has ended
        ev = dataclasses.replace(ev, line=line)
        now = self.ua._now()
        call = self.lines.get(line) if self._media_key.get(line) is not None else None
        try:
            if isinstance(ev, MediaTimeout):
                if call is not None and call.active:
                    _log.info("line %d: media timeout", ev.line)
                    call.media_timeout(now)
            elif isinstance(ev, SendDtmfInfo):
                if call is not None and call.active:
                    call.send_info(ev.body, DTMF_RELAY, now)
            self.events.put_nowait(ev)
        except Exception:  # noqa: BLE001
            self.ua.errors += 1
            _log.exception("error handling media event %r", ev)
        self.ua._pump()

    # -- sending requests ------------------------------------------------------------------------
    def _send_request(self, line: int, req: Request, now: float) -> None:
        in_dialog = bool(req.to is not None and req.to.tag) or req.method in ("CANCEL",)
        target = self._target_now(req, in_dialog=in_dialog)
        if target is None:
            self._spawn_resolved(req, line)
            return
        self._start_transaction(req, target, now)

    def _start_transaction(self, req: Request, target: Target, now: float) -> None:
        try:
            self.ua.transactions.send_request(req, target, target.transport != "UDP", now)
        except Exception as e:  # noqa: BLE001
            _log.warning("cannot send %s: %s", req.method, e)
            if self.lines is not None:
                self.lines.transaction_failed(req, now, f"transport error ({e})")

    def _target_now(self, req: Request, *, in_dialog: bool) -> Target | None:
        """The next hop when known without DNS (None: resolve it)."""
        routes = req.route
        uri: Uri = routes[0].uri if routes else req.uri
        if not routes and not in_dialog:
            acc_target = self._account_target(uri)
            if acc_target is not None:
                return acc_target
        if not isinstance(uri, SipUri):
            return None
        try:
            literal = self._resolver_().resolve_literal(uri)
        except ResolveError:
            return None                 # the resolving path reports it to the call
        if literal is None:
            return self._account_target(uri, by_host_only=True)
        return literal[0]

    def _resolver_(self) -> SipResolver:
        if self._resolver is None:
            self._resolver = SipResolver(supported=self.ua.manager.names)
        return self._resolver

    def _account_target(self, uri: Uri, by_host_only: bool = False) -> Target | None:
        ua = self.ua
        for acc in ua.accounts:
            target = ua._targets.get(acc.index)
            if target is None:
                continue
            if acc.proxy and not by_host_only:
                return target
            if isinstance(uri, SipUri) and uri.host.strip("[]").lower() == acc.domain.lower():
                server_port = acc.server_uri.port
                if uri.port is None or uri.port == (server_port or target.port):
                    return target
        return None

    def _spawn_resolved(self, req: Request, line: int | None) -> None:
        self.ua._spawn(self._resolve_and_send(req, line))

    async def _resolve_and_send(self, req: Request, line: int | None) -> None:
        routes = req.route
        uri = routes[0].uri if routes else req.uri
        try:
            targets = await self._resolver_().resolve(uri)  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001
            _log.warning("cannot resolve %s for %s: %s", uri, req.method, e)
            if line is not None and self.lines is not None:
                self.lines.transaction_failed(req, self.ua._now(), f"DNS: {e}")
                self.ua._pump()
            return
        target = targets[0]
        if req.method == "ACK":
            self.ua.transactions.send_stateless(req, target, target.transport != "UDP")
        else:
            self._start_transaction(req, target, self.ua._now())
        self.ua._pump()


@dataclass(frozen=True)
class MediaSummary:
    """The RTP/RTCP statistics of a line's stream when it stopped (before its CDR)."""

    line: int
    summary: Any
