"""RFC 3261 section 17 transactions (RFC 6026 amended), two peers in memory, fake clock.

``Net`` carries serialised messages between ``Peer``s (each a TransactionLayer) with
an optional one-way delay and a loss predicate; ``run(until)`` steps the fake clock
to the next delivery or timer deadline.
"""
from __future__ import annotations

import ast
import heapq
import itertools
import math
import pathlib
from typing import Callable, Union

import pytest

from sipctl.sip.errors import LocalProtocolError, TransactionTimeout, TransportError
from sipctl.sip.message import Request, Response, make_response, parse_message
from sipctl.sip.transaction import (AckReceived, RequestReceived, ResponseReceived, SendMessage,
                                    Terminated, TransactionKey, TransactionLayer,
                                    TransactionTimedOut, TransportFailed, make_cancel,
                                    response_destination)
from sipctl.sip.transaction import client_invite, client_non_invite, server_invite, server_non_invite
from sipctl.sip.timers import Timers
from sipctl.sip.via import Via

Message = Union[Request, Response]
A = ("192.0.2.1", 5060)
B = ("192.0.2.2", 5060)


def counter_random(start: int = 0) -> Callable[[int], bytes]:
    c = itertools.count(start)
    return lambda n: next(c).to_bytes(n, "big")


class Peer:
    def __init__(self, net: "Net", addr: tuple[str, int], seed: int, **kw: object) -> None:
        self.net, self.addr = net, addr
        self.layer = TransactionLayer(counter_random(seed), **kw)  # type: ignore[arg-type]
        self.sent: list[tuple[float, Message]] = []
        self.events: list[tuple[float, object]] = []

    def of(self, kind: type) -> list:
        return [e for _, e in self.events if isinstance(e, kind)]

    def times(self, pred: Callable[[Message], bool]) -> list[float]:
        return [t for t, m in self.sent if pred(m)]


class Net:
    def __init__(self, delay: float = 0.0, reliable: bool = False) -> None:
        self.now = 0.0
        self.delay = delay
        self.reliable = reliable
        self.peers: dict[tuple[str, int], Peer] = {}
        self.flight: list[tuple[float, int, tuple, tuple, bytes, bool]] = []
        self.seq = itertools.count()
        self.drop: Callable[[Message, float], bool] = lambda m, t: False

    def peer(self, addr: tuple[str, int], **kw: object) -> Peer:
        p = self.peers[addr] = Peer(self, addr, seed=len(self.peers) * 1000, **kw)
        return p

    def pump(self) -> None:
        for p in self.peers.values():
            while (ev := p.layer.next_event()) is not None:
                if isinstance(ev, SendMessage):
                    p.sent.append((self.now, ev.message))
                    if ev.destination in self.peers and not self.drop(ev.message, self.now):
                        heapq.heappush(self.flight, (self.now + self.delay, next(self.seq), p.addr,
                                                     ev.destination, ev.message.serialize(), ev.reliable))
                else:
                    p.events.append((self.now, ev))

    def run(self, until: float) -> None:
        self.pump()
        while True:
            deadlines = [d for p in self.peers.values() if (d := p.layer.get_timer()) is not None]
            t_timer = min(deadlines) if deadlines else math.inf
            t_msg = self.flight[0][0] if self.flight else math.inf
            t = min(t_timer, t_msg)
            if t > until:
                break
            self.now = t
            if t_msg <= t_timer:
                _, _, src, dst, data, reliable = heapq.heappop(self.flight)
                self.peers[dst].layer.receive(parse_message(data), src, reliable, t)
            else:
                for p in self.peers.values():
                    p.layer.handle_timer(t)
            self.pump()
        self.now = max(self.now, until)


def request(method: str = "INVITE", *, branch: str | None = None, seq: int = 1, to_tag: str = "",
            route: str = "", via_host: str = "192.0.2.1:5060", transport: str = "UDP",
            call_id: str = "c1@a") -> Request:
    via = f"SIP/2.0/{transport} {via_host}" + (f";branch={branch}" if branch else "")
    text = (f"{method} sip:bob@192.0.2.2 SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
            + (f"Route: {route}\r\n" if route else "")
            + "From: Alice <sip:alice@a.example>;tag=ft\r\nTo: <sip:bob@b.example>"
            + (f";tag={to_tag}" if to_tag else "")
            + f"\r\nCall-ID: {call_id}\r\nCSeq: {seq} {method}\r\nContact: <sip:alice@192.0.2.1>\r\n\r\n")
    return parse_message(text.encode())  # type: ignore[return-value]


def pair(delay: float = 0.0, reliable: bool = False, timer: float = 10, **kw: object) -> tuple[Net, Peer, Peer]:
    net = Net(delay, reliable)
    return net, net.peer(A, timer=timer, **kw), net.peer(B, timer=timer, **kw)


def is_req(method: str) -> Callable[[Message], bool]:
    return lambda m: isinstance(m, Request) and m.method == method


def is_status(status: int) -> Callable[[Message], bool]:
    return lambda m: isinstance(m, Response) and m.status == status


def start_invite(net: Net, a: Peer, b: Peer, reliable: bool = False, **kw: object) -> tuple[TransactionKey, TransactionKey, Request]:
    inv = request("INVITE", transport="TCP" if reliable else "UDP", **kw)  # type: ignore[arg-type]
    ck = a.layer.send_request(inv, B, reliable, net.now)
    net.run(net.now)
    sk = b.of(RequestReceived)[-1].key
    return ck, sk, b.of(RequestReceived)[-1].request


# --- client INVITE ----------------------------------------------------------------------------
@pytest.mark.parametrize("timer", [10, 20, 5])
def test_invite_retransmissions_and_timer_b_over_udp(timer: float) -> None:
    net = Net()
    a = net.peer(A, timer=timer)
    k = a.layer.send_request(request(), ("198.51.100.9", 5060), False, 0.0)
    assert a.layer.state(k) == client_invite.CALLING
    net.run(100)
    s = timer / 10
    assert a.times(is_req("INVITE")) == pytest.approx([x * s for x in (0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5)])
    kinds = [(t, type(e).__name__) for t, e in a.events]
    assert kinds == [(pytest.approx(32 * s), "TransactionTimedOut"), (pytest.approx(32 * s), "Terminated")]
    ev = a.of(TransactionTimedOut)[0]
    assert ev.timer == "B" and ev.key == k and isinstance(ev.error, TransactionTimeout)
    assert a.layer.get_timer() is None and len(a.layer) == 0


def test_invite_over_reliable_no_retransmission() -> None:
    net = Net()
    a = net.peer(A)
    a.layer.send_request(request(transport="TCP"), ("198.51.100.9", 5060), True, 0.0)
    net.run(100)
    assert a.times(is_req("INVITE")) == [0.0]
    assert [(t, type(e).__name__) for t, e in a.events] == [(32.0, "TransactionTimedOut"), (32.0, "Terminated")]


def test_branch_generated_from_random_source() -> None:
    layer = TransactionLayer(counter_random(0x0102))
    inv = request()
    k = layer.send_request(inv, B, False, 0.0)
    assert inv.via[0].branch == "z9hG4bK0000000000000102" == k.branch
    assert layer.new_branch() == "z9hG4bK0000000000000103"


def test_provisional_stops_timer_a_and_trying_absorbs_retransmission() -> None:
    net, a, b = pair()
    net.drop = lambda m, t: is_status(100)(m) and t == 0.0  # the first 100 Trying is lost
    ck, sk, _ = start_invite(net, a, b)
    net.run(10)
    assert a.times(is_req("INVITE")) == [0.0, 0.5]     # A stopped by the resent 100
    assert b.times(is_status(100)) == [0.0, 0.5]       # retransmission answered with last response
    assert len(b.of(RequestReceived)) == 1             # and absorbed: the TU saw one INVITE
    assert a.layer.state(ck) == client_invite.PROCEEDING
    assert b.layer.state(sk) == server_invite.PROCEEDING
    assert [e.response.status for e in a.of(ResponseReceived)] == [100]
    net.run(200)                                       # Proceeding: no Timer B
    assert a.layer.state(ck) == client_invite.PROCEEDING


@pytest.mark.parametrize("status", [302, 404, 486, 603])
def test_non_2xx_final_generates_ack_udp(status: int) -> None:
    net, a, b = pair()
    inv = request(route="<sip:p1.example;lr>, <sip:p2.example;lr>")
    ck = a.layer.send_request(inv, B, False, 0.0)
    net.run(0)
    req = b.of(RequestReceived)[0].request
    sk = b.of(RequestReceived)[0].key
    net.run(1.0)
    b.layer.send_response(make_response(req, 180, to_tag="tt"), 1.0)
    net.run(2.0)
    b.layer.send_response(make_response(req, status, to_tag="tt"), 2.0)
    net.run(2.0)
    acks = [m for _, m in a.sent if is_req("ACK")(m)]
    assert len(acks) == 1
    ack = acks[0]
    assert isinstance(ack, Request)
    assert ack.uri_text == inv.uri_text and ack.via[0].branch == inv.via[0].branch and len(ack.via) == 1
    assert ack.to.tag == "tt" and ack.from_.tag == "ft" and ack.call_id == inv.call_id
    assert (ack.cseq.seq, ack.cseq.method) == (1, "ACK")
    assert [str(r.uri) for r in ack.route] == ["sip:p1.example;lr", "sip:p2.example;lr"]
    assert [e.response.status for e in a.of(ResponseReceived)] == [100, 180, status]
    assert a.layer.state(ck) == client_invite.COMPLETED
    assert b.layer.state(sk) == server_invite.CONFIRMED      # the ACK was absorbed
    assert not b.of(AckReceived)
    net.run(6.999)
    assert b.layer.state(sk) == server_invite.CONFIRMED
    net.run(7.0)                                             # Timer I = T4 after the ACK
    assert sk not in b.layer and b.events[-1] == (7.0, Terminated(sk))
    net.run(33.999)
    assert a.layer.state(ck) == client_invite.COMPLETED
    net.run(34.0)                                            # Timer D = 32 s
    assert ck not in a.layer and a.events[-1] == (34.0, Terminated(ck))


def test_lost_ack_retransmits_final_response_and_ack() -> None:
    net, a, b = pair()
    net.drop = lambda m, t: is_req("ACK")(m) and t == 0.0  # the first ACK is lost
    ck, sk, req = start_invite(net, a, b)
    b.layer.send_response(make_response(req, 486, to_tag="tt"), 0.0)
    net.run(0.49)
    assert b.layer.state(sk) == server_invite.COMPLETED
    net.run(10)
    assert b.times(is_status(486)) == [0.0, 0.5]            # Timer G
    assert a.times(is_req("ACK")) == [0.0, 0.5]             # the same ACK again
    assert a.sent[-1][1] is [m for _, m in a.sent if is_req("ACK")(m)][0]
    assert [e.response.status for e in a.of(ResponseReceived)] == [100, 486]  # retransmission absorbed
    assert b.layer.state(sk) is None                         # Confirmed at 0.5, Timer I at 5.5
    assert b.events[-1] == (5.5, Terminated(sk))


def test_timer_g_schedule_capped_at_t2_and_timer_h() -> None:
    net, a, b = pair()
    net.drop = lambda m, t: is_req("ACK")(m)
    ck, sk, req = start_invite(net, a, b)
    b.layer.send_response(make_response(req, 404, to_tag="tt"), 0.0)
    net.run(100)
    assert b.times(is_status(404)) == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    t = b.of(TransactionTimedOut)
    assert len(t) == 1 and t[0].timer == "H" and t[0].key == sk
    assert b.events[-2:] == [(32.0, t[0]), (32.0, Terminated(sk))]


def test_reliable_invite_non_2xx_timers_d_and_i_are_zero() -> None:
    net, a, b = pair(reliable=True)
    ck, sk, req = start_invite(net, a, b, reliable=True)
    net.run(1.0)
    b.layer.send_response(make_response(req, 486, to_tag="tt"), 1.0)
    net.run(1.0)
    assert a.times(is_req("ACK")) == [1.0]
    assert ck not in a.layer and a.events[-1] == (1.0, Terminated(ck))   # D = 0
    assert sk not in b.layer and b.events[-1] == (1.0, Terminated(sk))   # ACK -> I = 0
    assert b.times(is_status(486)) == [1.0]                            # no Timer G
    net.run(100)
    assert a.layer.get_timer() is None and b.layer.get_timer() is None


def test_reliable_invite_timer_h_without_ack() -> None:
    net, a, b = pair(reliable=True)
    net.drop = lambda m, t: is_req("ACK")(m)
    ck, sk, req = start_invite(net, a, b, reliable=True)
    b.layer.send_response(make_response(req, 486, to_tag="tt"), 0.0)
    net.run(100)
    assert b.times(is_status(486)) == [0.0]
    assert [(t, type(e).__name__) for t, e in b.events[-2:]] == [(32.0, "TransactionTimedOut"), (32.0, "Terminated")]


@pytest.mark.parametrize("reliable", [False, True])
def test_2xx_accepted_states_timers_l_and_m(reliable: bool) -> None:
    net, a, b = pair(reliable=reliable)
    ck, sk, req = start_invite(net, a, b, reliable=reliable)
    ok = make_response(req, 200, to_tag="tt")
    net.run(1.0)
    b.layer.send_response(ok, 1.0)
    net.run(1.0)
    assert a.layer.state(ck) == client_invite.ACCEPTED
    assert b.layer.state(sk) == server_invite.ACCEPTED
    assert b.times(is_status(200)) == [1.0]      # no 2xx retransmission by the transaction
    # the TU retransmits the 2xx (13.3.1.4): each one reaches the UAC's TU
    for t in (1.5, 2.5):
        net.run(t)
        b.layer.send_response(ok, t)
        net.run(t)
    assert [e.response.status for e in a.of(ResponseReceived)] == [100, 200, 200, 200]
    # a retransmitted INVITE is absorbed in Accepted: no response, nothing to the TU
    net.run(3.0)
    a.layer.send_stateless(req, B, reliable)
    net.run(3.0)
    assert b.times(is_status(200)) == [1.0, 1.5, 2.5] and len(b.of(RequestReceived)) == 1
    # the ACK for the 2xx (a new branch) matches no transaction and goes to the TU
    ack = request("ACK", branch="z9hG4bKack1", to_tag="tt")
    net.run(4.0)
    a.layer.send_stateless(ack, B, reliable)
    net.run(4.0)
    assert [e.key for e in b.of(AckReceived)] == [None]
    # an ACK with the INVITE's branch matches the Accepted transaction: passed to the TU (6026)
    ack2 = request("ACK", branch=req.via[0].branch, to_tag="tt")
    net.run(5.0)
    a.layer.send_stateless(ack2, B, reliable)
    net.run(5.0)
    assert [e.key for e in b.of(AckReceived)] == [None, sk]
    net.run(32.999)
    assert ck in a.layer and sk in b.layer
    net.run(33.0)                                  # Timers L and M: 64*T1 after the 2xx
    assert a.events[-1] == (33.0, Terminated(ck)) and b.events[-1] == (33.0, Terminated(sk))
    # after termination, a late 2xx is a stray response: dropped, no event
    n = len(a.events)
    net.run(34.0)
    b.layer.send_stateless(ok, A, reliable)
    net.run(34.0)
    assert len(a.events) == n and a.layer.stray_responses == 1


def test_forked_2xx_in_accepted_reach_tu() -> None:
    net, a, b = pair()
    ck, sk, req = start_invite(net, a, b)
    b.layer.send_response(make_response(req, 200, to_tag="fork1"), 0.0)
    b.layer.send_stateless(make_response(req, 200, to_tag="fork2"), A, False)
    net.run(1)
    assert [e.response.to.tag for e in a.of(ResponseReceived) if e.response.status == 200] == ["fork1", "fork2"]


# --- non-INVITE -------------------------------------------------------------------------------
@pytest.mark.parametrize("timer", [10, 15])
def test_non_invite_timer_e_capped_and_timer_f(timer: float) -> None:
    net = Net()
    a = net.peer(A, timer=timer)
    a.layer.send_request(request("OPTIONS"), ("198.51.100.9", 5060), False, 0.0)
    net.run(100)
    s = timer / 10
    expected = [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert a.times(is_req("OPTIONS")) == pytest.approx([x * s for x in expected])
    ev = a.of(TransactionTimedOut)
    assert ev[0].timer == "F" and a.events[-1][0] == pytest.approx(32 * s)


def test_non_invite_full_udp() -> None:
    net, a, b = pair()
    ck = a.layer.send_request(request("BYE", to_tag="tt"), B, False, 0.0)
    net.run(2.0)
    sk = b.of(RequestReceived)[0].key
    req = b.of(RequestReceived)[0].request
    # Trying: retransmissions absorbed without any response
    assert a.times(is_req("BYE")) == [0.0, 0.5, 1.5] and not b.sent
    assert len(b.of(RequestReceived)) == 1 and b.layer.state(sk) == server_non_invite.TRYING
    b.layer.send_response(make_response(req, 100), 2.0)
    net.run(2.0)
    assert a.layer.state(ck) == client_non_invite.PROCEEDING
    assert b.layer.state(sk) == server_non_invite.PROCEEDING
    net.run(12.0)
    # Proceeding: Timer E continues with T2 (3.5 was armed while Trying)
    assert a.times(is_req("BYE")) == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5]
    assert b.times(is_status(100)) == [2.0, 3.5, 7.5, 11.5]     # each answered with the 100
    b.layer.send_response(make_response(req, 200), 12.0)
    net.run(12.0)
    assert a.layer.state(ck) == client_non_invite.COMPLETED
    assert b.layer.state(sk) == server_non_invite.COMPLETED
    net.run(12.5)
    b.layer.send_response(make_response(req, 500), 12.5)         # discarded in Completed
    net.run(13.0)
    a.layer.send_stateless(req, B, False)                         # a retransmission: last response
    net.run(13.0)
    assert b.times(is_status(500)) == []
    assert b.times(is_status(200)) == [12.0, 13.0]
    # every 1xx is passed up in Proceeding; the retransmitted 200 is absorbed in Completed
    assert [e.response.status for e in a.of(ResponseReceived)] == [100] * 4 + [200]
    net.run(16.999)
    assert ck in a.layer
    net.run(17.0)                                                 # Timer K = T4
    assert a.events[-1] == (17.0, Terminated(ck))
    net.run(43.999)
    assert sk in b.layer
    net.run(44.0)                                                 # Timer J = 64*T1
    assert b.events[-1] == (44.0, Terminated(sk))


def test_non_invite_reliable_timers_j_k_zero() -> None:
    net, a, b = pair(reliable=True)
    ck = a.layer.send_request(request("MESSAGE", transport="TCP"), B, True, 0.0)
    net.run(0)
    ev = b.of(RequestReceived)[0]
    b.layer.send_response(make_response(ev.request, 200), 0.0)
    net.run(0)
    assert a.events[-1] == (0.0, Terminated(ck)) and b.events[-1] == (0.0, Terminated(ev.key))
    assert a.times(is_req("MESSAGE")) == [0.0] and a.layer.get_timer() is None


# --- CANCEL -------------------------------------------------------------------------------------
def test_cancel_matches_invite_transaction() -> None:
    net, a, b = pair()
    inv = request()
    ck = a.layer.send_request(inv, B, False, 0.0)
    net.run(0)
    sreq = b.of(RequestReceived)[0]
    b.layer.send_response(make_response(sreq.request, 180, to_tag="tt"), 0.0)
    net.run(0.1)
    cancel = make_cancel(inv)
    assert cancel.via[0].branch == inv.via[0].branch and cancel.cseq.method == "CANCEL"
    assert cancel.cseq.seq == inv.cseq.seq and cancel.to.tag is None
    kc = a.layer.send_request(cancel, B, False, 0.1)
    assert kc != ck and kc.method == "CANCEL"
    net.run(0.1)
    got = b.of(RequestReceived)[1]
    assert got.request.method == "CANCEL" and got.cancels == sreq.key and got.key != sreq.key
    b.layer.send_response(make_response(got.request, 200, to_tag="tt"), 0.1)
    b.layer.send_response(make_response(sreq.request, 487, to_tag="tt"), 0.1)
    net.run(0.1)
    by_key = [(e.key.method, e.response.status) for e in a.of(ResponseReceived)]
    assert by_key == [("INVITE", 100), ("INVITE", 180), ("CANCEL", 200), ("INVITE", 487)]
    assert a.times(is_req("ACK")) == [0.1]


def test_cancel_without_invite_names_nothing() -> None:
    net, a, b = pair()
    a.layer.send_request(make_cancel(request(branch="z9hG4bKnone")), B, False, 0.0)
    net.run(0)
    assert b.of(RequestReceived)[0].cancels is None


def test_make_cancel_only_for_invite() -> None:
    with pytest.raises(LocalProtocolError):
        make_cancel(request("OPTIONS", branch="z9hG4bKx"))
    with pytest.raises(LocalProtocolError):
        make_cancel(request("INVITE"))   # no branch yet


# --- stray, errors, transport failures ----------------------------------------------------------
def test_stray_responses_dropped() -> None:
    layer = TransactionLayer(counter_random())
    req = request(branch="z9hG4bKnobody")
    layer.receive(make_response(req, 200, to_tag="x"), B, False, 0.0)
    k = layer.send_request(request(), B, False, 0.0)
    layer.events()
    other = request(branch=k.branch)
    two_vias = make_response(other, 180, to_tag="x")
    two_vias.add("Via", "SIP/2.0/UDP 203.0.113.1;branch=z9hG4bKp")  # more than one Via: discard
    layer.receive(two_vias, B, False, 0.1)
    opts = make_response(request("OPTIONS", branch=k.branch), 200, to_tag="x")  # method differs
    layer.receive(opts, B, False, 0.1)
    assert layer.events() == [] and layer.stray_responses == 3
    assert layer.state(k) == client_invite.CALLING


@pytest.mark.parametrize("method,state", [("INVITE", "Calling"), ("OPTIONS", "Trying")])
def test_client_transport_error(method: str, state: str) -> None:
    layer = TransactionLayer(counter_random())
    k = layer.send_request(request(method), B, False, 0.0)
    layer.events()
    assert layer.state(k) == state
    layer.transport_error(k, 0.2, "ECONNREFUSED")
    ev = layer.events()
    assert isinstance(ev[0], TransportFailed) and ev[0].reason == "ECONNREFUSED" and ev[1] == Terminated(k)
    assert isinstance(ev[0].error, TransportError)
    assert layer.get_timer() is None and k not in layer
    layer.receive(make_response(request(method, branch=k.branch), 200, to_tag="x"), B, False, 0.3)
    layer.handle_timer(100)
    layer.transport_error(k, 100)
    assert layer.events() == []                                  # nothing after termination


@pytest.mark.parametrize("method,status", [("INVITE", 180), ("INVITE", 486), ("INVITE", 200),
                                           ("OPTIONS", 100), ("OPTIONS", 200)])
def test_server_transport_error(method: str, status: int) -> None:
    layer = TransactionLayer(counter_random())
    req = request(method, branch="z9hG4bKsrv")
    layer.receive(req, A, False, 0.0)
    key = layer.events()[0].key
    layer.send_response(make_response(req, status, to_tag="t"), 0.0)
    layer.events()
    layer.transport_error(key, 0.1)
    ev = layer.events()
    assert [type(e) for e in ev] == [TransportFailed, Terminated]
    assert layer.get_timer() is None


def test_client_invite_transport_error_in_completed() -> None:
    layer = TransactionLayer(counter_random())
    k = layer.send_request(request(), B, False, 0.0)
    layer.receive(make_response(request(branch=k.branch), 486, to_tag="x"), B, False, 0.1)
    layer.events()
    layer.transport_error(k, 0.1)
    assert [type(e) for e in layer.events()] == [TransportFailed, Terminated]


def test_send_request_misuse() -> None:
    layer = TransactionLayer(counter_random())
    with pytest.raises(LocalProtocolError):
        layer.send_request(request("ACK", branch="z9hG4bKa"), B, False, 0.0)
    r = request(branch="z9hG4bKdup")
    layer.send_request(r, B, False, 0.0)
    with pytest.raises(LocalProtocolError):
        layer.send_request(request(branch="z9hG4bKdup"), B, False, 0.0)
    with pytest.raises(LocalProtocolError):
        layer.send_request(request(branch="old2543branch"), B, False, 0.0)
    no_via = Request("OPTIONS", "sip:b@b", [("CSeq", "1 OPTIONS"), ("Call-ID", "x")])
    with pytest.raises(LocalProtocolError):
        layer.send_request(no_via, B, False, 0.0)
    with pytest.raises(LocalProtocolError):
        layer.send_response(make_response(request(branch="z9hG4bKnone"), 200), 0.0)


def test_server_final_after_final_discarded() -> None:
    layer = TransactionLayer(counter_random(), send_trying=False)
    req = request(branch="z9hG4bKs")
    layer.receive(req, A, False, 0.0)
    layer.send_response(make_response(req, 486, to_tag="t"), 0.0)
    layer.send_response(make_response(req, 200, to_tag="t"), 0.0)
    sent = [e.message.status for e in layer.events() if isinstance(e, SendMessage)]
    assert sent == [486]


# --- RFC 2543 matching, destinations -----------------------------------------------------------
def test_rfc2543_matching_without_magic_cookie() -> None:
    layer = TransactionLayer(counter_random(), send_trying=False)
    inv = request(branch=None)
    layer.receive(inv, A, False, 0.0)
    key = layer.events()[0].key
    assert key.branch.startswith("rfc2543|")
    layer.send_response(make_response(inv, 404, to_tag="t404"), 0.0)
    layer.events()
    layer.receive(request(branch=None), A, False, 0.1)            # retransmission: resend 404
    ev = layer.events()
    assert len(ev) == 1 and ev[0].message.status == 404
    layer.receive(request("ACK", to_tag="other"), A, False, 0.2)  # wrong To tag: not ours
    ev = layer.events()
    assert isinstance(ev[0], AckReceived) and ev[0].key is None
    layer.receive(request("ACK", to_tag="t404"), A, False, 0.3)   # matching ACK: absorbed
    assert layer.events() == [] and layer.state(key) == server_invite.CONFIRMED


def test_response_destination() -> None:
    v = Via.parse("SIP/2.0/UDP host.example:5070;branch=z9hG4bKa")
    assert response_destination(v, ("10.0.0.1", 4000), False) == ("10.0.0.1", 5070)
    assert response_destination(v, ("10.0.0.1", 4000), True) == ("10.0.0.1", 4000)
    rport = Via.parse("SIP/2.0/UDP host.example;branch=z9hG4bKa;rport")
    assert response_destination(rport, ("10.0.0.1", 4000), False) == ("10.0.0.1", 4000)
    maddr = Via.parse("SIP/2.0/UDP host.example;branch=z9hG4bKa;maddr=239.1.1.1")
    assert response_destination(maddr, ("10.0.0.1", 4000), False) == ("239.1.1.1", 5060)
    rec = Via.parse("SIP/2.0/UDP host.example;branch=z9hG4bKa;received=10.9.9.9")
    assert response_destination(rec, ("10.0.0.1", 4000), False) == ("10.9.9.9", 5060)


def test_delay_and_late_timer_handling() -> None:
    net, a, b = pair(delay=0.2)
    net.drop = lambda m, t: isinstance(m, Response)              # the UAS is never heard
    k = a.layer.send_request(request(), B, False, 0.0)
    net.run(100)
    assert len(b.of(RequestReceived)) == 1 and a.of(TransactionTimedOut)[0].key == k
    # handle_timer called late fires every due timer in order, at its own deadline
    layer = TransactionLayer(counter_random())
    layer.send_request(request(), B, False, 0.0)
    layer.events()
    layer.handle_timer(40.0)
    names = [type(e).__name__ for e in layer.events()]
    assert names == ["SendMessage"] * 6 + ["TransactionTimedOut", "Terminated"]


# --- every row of every table -----------------------------------------------------------------
MACHINES = [
    (client_invite.ClientInviteTransaction, "INVITE", False),
    (client_non_invite.ClientNonInviteTransaction, "OPTIONS", False),
    (server_invite.ServerInviteTransaction, "INVITE", True),
    (server_non_invite.ServerNonInviteTransaction, "OPTIONS", True),
]


def _input_message(cls: type, event: str, req: Request) -> object:
    if event.startswith("timer_"):
        return None
    if event == "transport_error":
        return "boom"
    if event in ("request",):
        return req
    if event == "ack":
        return request("ACK", branch="z9hG4bKt", to_tag="t")
    status = {"1xx": 180, "tu_1xx": 180, "2xx": 200, "tu_2xx": 200, "final": 200,
              "tu_final": 200, "3xx-6xx": 486, "tu_3xx-6xx": 486}[event]
    return make_response(req, status, to_tag="t")


@pytest.mark.parametrize("cls,method,server", MACHINES)
@pytest.mark.parametrize("reliable", [False, True])
def test_every_transition(cls: type, method: str, server: bool, reliable: bool) -> None:
    req = request(method, branch="z9hG4bKt")
    states = {s for s, _ in cls.TABLE} | {n for n, _ in cls.TABLE.values()}
    assert cls.INITIAL in states and "Terminated" in states
    for (state, event), (target, _actions) in cls.TABLE.items():
        out: list = []
        key = TransactionKey("z9hG4bKt", method, "a", server)
        t = cls(key, req, B, reliable, Timers(), out.append)
        t.state = state
        t.last_response = make_response(req, 180, to_tag="t")
        assert t.deliver(event, 10.0, _input_message(cls, event, req)), (state, event)
        zero = {"D", "I", "J", "K"} & {a.partition(":")[2] for a in _actions if a.startswith("arm:")}
        if reliable and zero:   # table 4: these are 0 on reliable transports, firing at once
            target = "Terminated"
        assert t.state == target, (state, event)
        for name, deadline in t.deadlines.items():
            assert name in cls.TIMERS.get(target, ()), (state, event, name)
            assert deadline > 10.0
        if target == "Terminated":
            assert out[-1] == Terminated(key) and not t.deadlines
        assert not t.deliver("no-such-input", 10.0)
    # from Terminated nothing happens
    t = cls(TransactionKey("z9hG4bKt", method, "a", server), req, B, reliable, Timers(), [].append)
    t.state = "Terminated"
    assert not any(t.deliver(e, 0.0, _input_message(cls, e, req)) for _, e in cls.TABLE)


def test_no_io_or_clock_imports_in_core() -> None:
    root = pathlib.Path(__file__).resolve().parents[1] / "sipctl" / "sip"
    files = list((root / "transaction").glob("*.py")) + [root / "timers.py", root / "dialog.py"]
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                assert n.split(".")[0] not in {"random", "time", "asyncio", "socket"}, (path, n)
