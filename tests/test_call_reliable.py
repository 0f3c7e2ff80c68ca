"""100rel / PRACK (RFC 3262) in sipctl.call, both sides, with a fake clock."""
from __future__ import annotations

from sipctl.call import Phase
from sipctl.call_events import SendRequest, SendResponse
from sipctl.call_reliable import PrackTracker, initial_rseq
from sipctl.sip.message import make_response

from test_call import cdrs, dial, drain, in_dialog, lines, of, peer_answer, peer_invite, statuses


def reliable(req, status=180, rseq=7, tag="peer1", sdp=False):
    resp = peer_answer(req, status, sdp=sdp, tag=tag)
    resp.add("Require", "100rel")
    resp.add("RSeq", str(rseq))
    return resp


def test_uac_prack_offered_and_sent_once():
    ls = lines(prack=True)
    call, invite, _ = dial(ls)
    assert "100rel" in invite.supported and "PRACK" in invite.headers.get_all("Allow")
    ls.receive_response(reliable(invite), 0.5)
    ev = drain(ls)
    [prack] = [e.request for e in of(ev, SendRequest)]
    assert prack.method == "PRACK" and prack.headers.get("RAck") == "7 1 INVITE"
    assert prack.to.tag == "peer1" and prack.from_.tag == invite.from_.tag
    assert prack.call_id == invite.call_id and prack.cseq.seq == 2
    assert str(prack.uri) == "sip:2222@192.0.2.9" and statuses(ev) == ["Ringing"]
    # a retransmission (same RSeq) and an out-of-order one are neither PRACKed nor processed
    ls.receive_response(reliable(invite), 0.6)
    ls.receive_response(reliable(invite, rseq=9), 0.7)
    assert drain(ls) == []
    ls.receive_response(reliable(invite, 183, rseq=8), 0.8)
    [p2] = [e.request for e in of(drain(ls), SendRequest)]
    assert p2.headers.get("RAck") == "8 1 INVITE" and p2.cseq.seq == 3
    ls.receive_response(make_response(p2, 200), 0.9)
    ls.receive_response(peer_answer(invite, 200), 1.0)
    assert call.phase is Phase.CONNECTED


def test_uac_pracks_even_with_prack_off_and_not_offered():
    ls = lines()
    call, invite, _ = dial(ls)
    assert invite.headers.get("Supported") == "timer"
    assert "PRACK" not in invite.headers.get_all("Allow")
    ls.receive_response(reliable(invite, 183), 0.5)
    assert [e.request.method for e in of(drain(ls), SendRequest)] == ["PRACK"]


def test_uac_unreliable_180_not_pracked():
    ls = lines(prack=True)
    call, invite, _ = dial(ls)
    ls.receive_response(peer_answer(invite, 180), 0.5)
    assert of(drain(ls), SendRequest) == []


def test_uas_420_when_100rel_required_and_prack_off():
    ls = lines()
    call = ls.incoming(peer_invite(extra=[("Require", "100rel")]), 0.0)
    ev = drain(ls)
    [resp] = of(ev, SendResponse)
    assert resp.response.status == 420 and resp.response.headers.get("Unsupported") == "100rel"
    assert cdrs(ev)[0].reason == "420 Bad Extension" and not call.active


def test_uas_reliable_180_retransmitted_then_prack_releases_200():
    ls = lines(prack=True)
    call = ls.incoming(peer_invite(extra=[("Supported", "100rel, timer")]), 10.0)
    ev = drain(ls)
    [r180] = [e.response for e in of(ev, SendResponse)]
    rseq = int(r180.headers.get("RSeq"))
    assert r180.status == 180 and r180.headers.get("Require") == "100rel"
    assert 1 <= rseq <= 2**31 - 1 and rseq == initial_rseq("t0002")
    assert ls.get_timer() == 10.5
    resent = []
    for now in (10.5, 11.5, 13.5):              # T1, then 2*T1, 4*T1 apart
        assert ls.get_timer() == now
        ls.handle_timer(now)
        resent += [e.response for e in of(drain(ls), SendResponse)]
    assert resent == [r180, r180, r180]
    call.accept(14.0)                           # held until the PRACK
    assert drain(ls) == [] and call.phase is Phase.RINGING
    bad = in_dialog(call, "PRACK", 11)
    bad.add("RAck", f"{rseq + 1} 10 INVITE")
    ls.receive_request(bad, 14.1)
    assert [e.response.status for e in of(drain(ls), SendResponse)] == [481]
    prack = in_dialog(call, "PRACK", 12)
    prack.add("RAck", f"{rseq} 10 INVITE")
    assert ls.receive_request(prack, 14.2)
    ev = drain(ls)
    got = [(e.response.status, e.response.cseq.method) for e in of(ev, SendResponse)]
    assert got == [(200, "PRACK"), (200, "INVITE")]
    assert statuses(ev) == ["CallConnect", "Speaking"] and ls.get_timer() != 17.5


def test_uas_prack_timeout_ends_call():
    ls = lines(prack=True)
    call = ls.incoming(peer_invite(extra=[("Require", "100rel")]), 0.0)
    drain(ls)
    n = 0
    while call.active:
        ls.handle_timer(ls.get_timer())
        n += 1
    ev = drain(ls)
    assert of(ev, SendResponse)[-1].response.status == 504
    assert cdrs(ev)[0].reason == "PRACK timeout" and n == 7    # 0.5+1+2+4+8+16 then 32 s


def test_uas_unreliable_180_when_peer_has_no_100rel():
    ls = lines(prack=True)
    ls.incoming(peer_invite(), 0.0)
    [r180] = [e.response for e in of(drain(ls), SendResponse)]
    assert r180.headers.get("RSeq") is None and ls.get_timer() == 90.0


def test_prack_tracker():
    t = PrackTracker()
    assert t.accept("a", 5) and not t.accept("a", 5) and not t.accept("a", 7)
    assert t.accept("a", 6) and t.accept("b", 100)
