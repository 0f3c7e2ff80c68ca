"""The transaction layer of a UA: owns every client and server transaction (RFC 3261 17).

Sans-IO: the transport adapter calls :meth:`TransactionLayer.receive` with each parsed
message, :meth:`~TransactionLayer.handle_timer` when :meth:`~TransactionLayer.get_timer`
says, and :meth:`~TransactionLayer.transport_error` when a send failed; the TU calls
:meth:`~TransactionLayer.send_request` / :meth:`~TransactionLayer.send_response`. Both
pull :mod:`.events` with :meth:`~TransactionLayer.next_event`: ``SendMessage`` for the
transport, the others for the TU. The current time is always passed in; branch
randomness comes from the injected ``random_source``.

Matching (17.1.3, 17.2.3): a response matches the client transaction with its top Via
branch and CSeq method. A request matches the server transaction with its top Via
branch (magic cookie), sent-by and method (INVITE for an ACK); a CANCEL creates its
own transaction and names the INVITE transaction it matches (9.2). Requests whose
branch lacks the cookie fall back to RFC 2543 matching (Request-URI, From tag,
Call-ID, CSeq number, top Via, and the To tag: the request's, or for an ACK the tag of
the response sent).
"""
from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections import deque
from typing import Callable, Union

from ..errors import LocalProtocolError, ParseError
from ..message import Request, Response, make_response
from ..timers import DEFAULT_TIMER, Timers
from ..via import MAGIC_COOKIE, Via
from ._base import Transaction
from .client_invite import ClientInviteTransaction
from .client_non_invite import ClientNonInviteTransaction
from .events import (AckReceived, Address, Event, SendMessage, Terminated, TransactionKey)
from .server_invite import ServerInviteTransaction
from .server_non_invite import ServerNonInviteTransaction

__all__ = ["TransactionLayer", "make_cancel", "response_destination", "server_key",
           "client_key", "RFC2543_PREFIX"]

#: Prefix of the composite ``branch`` of server keys built by RFC 2543 matching.
RFC2543_PREFIX = "rfc2543|"
_ServerTransaction = Union[ServerInviteTransaction, ServerNonInviteTransaction]


def _sent_by(via: Via) -> str:
    return via.host.lower() if via.port is None else f"{via.host.lower()}:{via.port}"


def server_key(request: Request) -> TransactionKey:
    """The server transaction key of ``request`` (17.2.3; RFC 2543 fallback)."""
    via = request.via[0]
    method = "INVITE" if request.method == "ACK" else request.method
    if via.has_rfc3261_branch:
        return TransactionKey(str(via.branch), method, _sent_by(via), True)
    from_ = request.from_
    cseq = request.cseq
    parts = (request.uri_text, (from_.tag if from_ is not None else None) or "",
             request.call_id or "", str(cseq.seq if cseq is not None else ""),
             request.headers.get_all("Via")[0])
    return TransactionKey(RFC2543_PREFIX + "|".join(parts), method, _sent_by(via), True)


def client_key(message: Union[Request, Response]) -> TransactionKey | None:
    """The client transaction key of a request we send or a response to it (17.1.3)."""
    vias = message.via
    cseq = message.cseq
    if not vias or cseq is None or not vias[0].branch:
        return None
    method = "INVITE" if cseq.method == "ACK" else cseq.method
    return TransactionKey(str(vias[0].branch), method)


def response_destination(via: Via, source: Address, reliable: bool) -> Address:
    """Where a server transaction sends responses (RFC 3261 18.2.2, RFC 3581).

    Reliable: back to ``source`` (the connection). Otherwise ``maddr`` if present;
    ``source`` when the Via has ``rport``; else the ``received`` address (or the
    source address) at the sent-by port (5060, 5061 for TLS, by default).
    """
    if reliable and source is not None:
        return source
    port = via.port or (5061 if via.transport == "TLS" else 5060)
    if via.maddr:
        return (via.maddr, port)
    if via.rport is not None and source is not None:
        return source
    if via.received:
        return (via.received, port)
    if isinstance(source, tuple) and source:
        return (source[0], port)
    return (via.host, port)


def make_cancel(invite: Request) -> Request:
    """A CANCEL for ``invite`` (RFC 3261 9.1): same Request-URI, Call-ID, To, From, CSeq
    number and top Via (so the same branch) as the INVITE, its Route header fields, and
    CSeq method CANCEL. Send it with :meth:`TransactionLayer.send_request` once a
    provisional response has arrived."""
    if invite.method != "INVITE":
        raise LocalProtocolError(f"CANCEL is only for INVITE, not {invite.method}")
    vias = invite.headers.get_all("Via")
    if not vias or not invite.via[0].branch:
        raise LocalProtocolError("the INVITE has no Via branch yet: send it first")
    cancel = Request("CANCEL", invite.uri_text)
    h = cancel.headers
    h.add("Via", vias[0])
    h.add("Max-Forwards", "70")
    for line in invite.headers.lines("Route"):
        h.add("Route", line)
    for name in ("From", "To", "Call-ID"):
        value = invite.headers.get(name)
        if value is not None:
            h.add(name, value)
    cseq = invite.cseq
    h.add("CSeq", f"{cseq.seq if cseq is not None else 1} CANCEL")
    return cancel


class TransactionLayer:
    """Every transaction of one UA, fed messages, timers and transport errors.

    ``random_source(n)`` returns ``n`` random bytes (``os.urandom`` in production, a
    seeded generator in tests); ``timer`` is the reference parameter scaling every
    timer by ``timer/10``; ``send_trying`` makes INVITE server transactions send
    ``100 Trying`` at once (RFC 3261 17.2.1 requires one within 200 ms).
    """

    def __init__(self, random_source: Callable[[int], bytes], *, timer: float = DEFAULT_TIMER,
                 send_trying: bool = True) -> None:
        self.timers = Timers(timer)
        self.send_trying = send_trying
        self._random = random_source
        self._transactions: dict[TransactionKey, Transaction] = {}
        # lazy min-heap of (deadline, seq, key): an entry is live while the transaction
        # exists and still has that deadline (O(log n) timers with thousands of calls)
        self._heap: list[tuple[float, int, TransactionKey]] = []
        self._seq = itertools.count()
        self._events: deque[Event] = deque()
        #: Responses that matched no client transaction (dropped).
        self.stray_responses = 0

    # -- introspection ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._transactions)

    def __contains__(self, key: object) -> bool:
        return key in self._transactions

    def state(self, key: TransactionKey) -> str | None:
        """The state name of transaction ``key`` ("Calling", "Proceeding"...), or None."""
        t = self._transactions.get(key)
        return None if t is None else t.state

    def new_branch(self) -> str:
        """A fresh RFC 3261 branch: the magic cookie and 16 random hex digits."""
        data = self._random(8)
        if len(data) != 8:
            raise LocalProtocolError("random_source returned the wrong number of bytes")
        return MAGIC_COOKIE + bytes(data).hex()

    # -- the TU side ------------------------------------------------------------------------
    def send_request(self, request: Request, destination: Address, reliable: bool,
                     now: float) -> TransactionKey:
        """Start a client transaction for ``request`` (not ACK) and return its key.

        The request needs a top Via; a missing branch is filled in with
        :meth:`new_branch`. A CANCEL from :func:`make_cancel` keeps the INVITE's branch.
        """
        if request.method == "ACK":
            raise LocalProtocolError("an ACK is not a transaction: use send_stateless()")
        try:
            vias = request.via
            cseq = request.cseq
        except ParseError as e:
            raise LocalProtocolError(f"unusable request: {e.detail}") from None
        if not vias:
            raise LocalProtocolError("request has no Via header")
        if cseq is None or cseq.method != request.method:
            raise LocalProtocolError("request needs a CSeq with its method")
        top = vias[0]
        if top.branch is None:
            top = dataclasses.replace(top, params={**top.params, "branch": self.new_branch()})
            request.set("Via", [top, *vias[1:]])
        elif not top.has_rfc3261_branch:
            raise LocalProtocolError("our branch must start with the magic cookie z9hG4bK")
        key = TransactionKey(str(top.branch), request.method)
        if key in self._transactions:
            raise LocalProtocolError(f"transaction {key} already exists")
        cls = ClientInviteTransaction if request.method == "INVITE" else ClientNonInviteTransaction
        t = cls(key, request, destination, reliable, self.timers, self._emit)
        self._transactions[key] = t
        t.start(now)
        self._touch(t)
        return key

    def send_response(self, response: Response, now: float,
                      key: TransactionKey | None = None) -> TransactionKey:
        """Hand ``response`` to its server transaction (found from its Via/CSeq or ``key``).

        Responses the state machine does not accept (a second final response) are
        discarded, as RFC 3261 17.2 says. Raises :class:`LocalProtocolError` when no
        server transaction matches.
        """
        t = self._transactions.get(key) if key is not None else self._find_server(response)
        if not isinstance(t, (ServerInviteTransaction, ServerNonInviteTransaction)):
            raise LocalProtocolError("no server transaction for this response")
        t.deliver(t.classify(response), now, response)
        self._touch(t)
        self._touch(t)
        return t.key

    def send_stateless(self, message: Union[Request, Response], destination: Address,
                       reliable: bool) -> None:
        """Send without a transaction (the ACK for a 2xx and its retransmissions)."""
        self._events.append(SendMessage(message, destination, reliable, None))

    # -- the transport side -----------------------------------------------------------------
    def receive(self, message: Union[Request, Response], source: Address, reliable: bool,
                now: float) -> None:
        """Process one parsed message received from ``source``."""
        try:
            vias = message.via
            cseq = message.cseq
        except ParseError:
            return
        if not vias or cseq is None:
            return
        if isinstance(message, Response):
            self._receive_response(message, now)
        else:
            self._receive_request(message, source, reliable, now)

    def transport_error(self, key: TransactionKey, now: float, reason: str = "") -> None:
        """The transport failed to send a message of transaction ``key``."""
        t = self._transactions.get(key)
        if t is not None:
            t.deliver("transport_error", now, reason)
            self._touch(t)

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``, in deadline order."""
        heap = self._heap
        while True:
            t = self._top()
            if t is None or heap[0][0] > now:
                return
            heapq.heappop(heap)
            if t.fire_next(now):
                self._touch(t)

    def get_timer(self) -> float | None:
        """The earliest deadline of any transaction, or None."""
        return self._heap[0][0] if self._top() is not None else None

    def _touch(self, t: Transaction) -> None:
        """Record ``t``'s (possibly new) earliest deadline."""
        d = t.deadline()
        if d is not None and t.key in self._transactions:
            heapq.heappush(self._heap, (d, next(self._seq), t.key))

    def _top(self) -> Transaction | None:
        """The transaction of the earliest live heap entry (stale entries are dropped)."""
        heap = self._heap
        while heap:
            d, _, key = heap[0]
            t = self._transactions.get(key)
            if t is not None and t.deadline() == d:
                return t
            heapq.heappop(heap)
        return None

    def next_event(self) -> Event | None:
        """The oldest pending event, or None."""
        return self._events.popleft() if self._events else None

    def events(self) -> list[Event]:
        """Every pending event, oldest first (drains the queue)."""
        out = list(self._events)
        self._events.clear()
        return out

    # -- internals --------------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        if isinstance(event, Terminated):
            self._transactions.pop(event.key, None)
        self._events.append(event)

    def _receive_response(self, response: Response, now: float) -> None:
        key = client_key(response)
        t = self._transactions.get(key) if key is not None and len(response.via) == 1 else None
        if not isinstance(t, (ClientInviteTransaction, ClientNonInviteTransaction)):
            self.stray_responses += 1
            return
        t.deliver(t.classify(response), now, response)
        self._touch(t)

    def _receive_request(self, request: Request, source: Address, reliable: bool,
                         now: float) -> None:
        key = server_key(request)
        t = self._transactions.get(key)
        if t is not None and not _to_tag_matches(t, request):
            t = None
        if request.method == "ACK":
            if isinstance(t, ServerInviteTransaction):
                t.deliver("ack", now, request)
                self._touch(t)
            else:
                self._events.append(AckReceived(request, source, None))
            return
        if t is not None:
            t.deliver("request", now, request)
            self._touch(t)
            return
        cancels = None
        if request.method == "CANCEL":
            invite_key = dataclasses.replace(key, method="INVITE")
            invite = self._transactions.get(invite_key)
            if invite is not None and _to_tag_matches(invite, request):
                cancels = invite_key
        cls = ServerInviteTransaction if request.method == "INVITE" else ServerNonInviteTransaction
        peer = response_destination(request.via[0], source, reliable)
        server: _ServerTransaction = cls(key, request, peer, reliable, self.timers, self._emit)
        server.source = source
        server.cancels = cancels
        self._transactions[key] = server
        server.start(now)
        if self.send_trying and isinstance(server, ServerInviteTransaction):
            server.deliver("tu_1xx", now, make_response(request, 100))
        self._touch(server)

    def _find_server(self, response: Response) -> Transaction | None:
        try:
            via = response.via[0]
            cseq = response.cseq
        except (ParseError, IndexError):
            return None
        if cseq is None:
            return None
        if via.has_rfc3261_branch:
            key = TransactionKey(str(via.branch), cseq.method, _sent_by(via), True)
            return self._transactions.get(key)
        top = response.headers.get_all("Via")[0]
        from_tag = response.from_.tag if response.from_ is not None else None
        for t in self._transactions.values():
            r = t.request
            if (t.key.server and t.key.branch.startswith(RFC2543_PREFIX) and t.key.method == cseq.method
                    and r.call_id == response.call_id and r.cseq == cseq
                    and r.headers.get_all("Via")[0] == top
                    and (r.from_.tag if r.from_ is not None else None) == from_tag):
                return t
        return None


def _to_tag_matches(t: Transaction, request: Request) -> bool:
    """RFC 2543 matching also compares To tags (17.2.3); RFC 3261 keys need not."""
    if not t.key.branch.startswith(RFC2543_PREFIX):
        return True
    to = request.to
    tag = to.tag if to is not None else None
    if request.method == "ACK":
        last = t.last_response
        expected = last.to.tag if last is not None and last.to is not None else None
    else:
        expected = t.request.to.tag if t.request.to is not None else None
    return tag == expected
