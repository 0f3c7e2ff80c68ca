"""sans-IO call state machine: scripted peer, fake clock (sipctl.call / call_lines)."""
from __future__ import annotations

import itertools

import pytest

from sipctl.call import CallSettings, Lines, Phase
from sipctl.call_events import (Cdr, MediaReady, MediaStop, SendAck, SendRequest, SendResponse,
                                StatusChanged)
from sipctl.sip.codecs import CATALOGUE
from sipctl.sip.message import Request, make_response
from sipctl.sip.offer_answer import MediaConfig, OfferAnswer

C = CATALOGUE


def media(*codecs, port=4000, addr="192.0.2.1"):
    return MediaConfig(addr, port, tuple(C[k] for k in (codecs or ("pcmu", "pcma"))))


def tokens():
    counter = itertools.count(1)
    return lambda: f"t{next(counter):04d}"


def kwargs(**kw):
    return dict(local_uri="Alice <sip:1111@pbx.example>", contact="sip:1111@192.0.2.1:5060",
                media=media(), new_token=tokens(), session_id=1, **kw)


def lines(maxlines=4, **settings):
    return Lines(maxlines, settings=CallSettings(maxlines=maxlines, **settings), **kwargs())


def drain(src):
    out = []
    while (e := src.next_event()) is not None:
        out.append(e)
    return out


def statuses(events):
    return [e.status for e in events if isinstance(e, StatusChanged)]


def of(events, cls):
    return [e for e in events if isinstance(e, cls)]


def peer_answer(req, status, *, sdp=True, tag="peer1", codecs=("pcmu",)):
    body = b""
    headers = [("Contact", "<sip:2222@192.0.2.9>")]
    if sdp and 200 <= status < 300 or (sdp and status == 183):
        oa = OfferAnswer(media(*codecs, port=6000, addr="192.0.2.9"), 77)
        answer, _ = oa.receive_offer(req.body)
        body = answer.serialize().encode()
        headers.append(("Content-Type", "application/sdp"))
    return make_response(req, status, to_tag=tag, headers=headers, body=body)


def peer_invite(*, user="2222", codecs=("pcmu",), extra=(), sdp=True, call_id="in-1"):
    req = Request("INVITE", "sip:1111@192.0.2.1")
    req.add("Via", "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKpeer" + call_id)
    req.add("Max-Forwards", "70")
    req.add("From", f"Bob <sip:{user}@pbx.example>;tag=bobtag")
    req.add("To", "<sip:1111@pbx.example>")
    req.add("Call-ID", call_id)
    req.add("CSeq", "10 INVITE")
    req.add("Contact", "<sip:2222@192.0.2.9>")
    for name, value in extra:
        req.add(name, value)
    if sdp:
        oa = OfferAnswer(media(*codecs, port=6000, addr="192.0.2.9"), 77)
        req.add("Content-Type", "application/sdp")
        req.body = oa.create_offer().serialize().encode()
    return req


def in_dialog(call, method, cseq=11):
    """A request from the peer within the call's dialog."""
    d = call.dialog
    req = Request(method, str(d.local_contact.uri) if d.local_contact else "sip:1111@192.0.2.1")
    req.add("Via", f"SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK{method}{cseq}")
    req.add("From", d.remote_uri.with_tag(d.remote_tag))
    req.add("To", d.local_uri.with_tag(d.local_tag))
    req.add("Call-ID", d.call_id)
    req.add("CSeq", f"{cseq} {method}")
    return req


def cdrs(events):
    return of(events, Cdr)


# --- outgoing ------------------------------------------------------------------------------------
def dial(ls, target="2222", now=0.0):
    call = ls.dial(target, now)
    ev = drain(ls)
    invite = of(ev, SendRequest)[0].request
    return call, invite, ev


def answered(ls, now=1.0):
    call, invite, ev = dial(ls)
    ls.receive_response(peer_answer(invite, 100), 0.1)
    ls.receive_response(peer_answer(invite, 180), 0.5)
    ls.receive_response(peer_answer(invite, 200), now)
    return call, invite, ev + drain(ls)


def test_outgoing_answered_we_hang_up():
    ls = lines(techprefix="9")
    call, invite, ev = answered(ls, now=2.0)
    assert invite.method == "INVITE" and str(invite.uri) == "sip:92222@pbx.example"
    assert invite.headers.get("Content-Type") == "application/sdp" and b"m=audio 4000" in invite.body
    assert statuses(ev) == ["CallSetup", "Setup", "InProgress", "Ringing", "CallConnect", "Speaking"]
    st = of(ev, StatusChanged)[-1]
    assert (st.line, st.endpointtype, st.peername, st.localname, st.callid) == (
        1, 1, "92222", "1111", invite.call_id)
    acks = of(ev, SendAck)
    assert len(acks) == 1 and acks[0].request.method == "ACK"
    assert acks[0].request.cseq.seq == 1 and acks[0].request.to.tag == "peer1"
    [ready] = of(ev, MediaReady)
    assert ready.negotiated.codec.key == "pcmu" and ready.negotiated.remote_port == 6000
    # a retransmitted 2xx is ACKed again, no new status
    ls.receive_response(peer_answer(invite, 200), 2.1)
    ev = drain(ls)
    assert [type(e) for e in ev] == [SendAck]
    ls.hangup(12.0)
    ev = drain(ls)
    assert statuses(ev) == ["CallDisconnect", "Finishing"] and of(ev, MediaStop)
    [bye] = of(ev, SendRequest)
    assert bye.request.method == "BYE" and bye.request.cseq.seq == 2
    ls.receive_response(make_response(bye.request, 200), 12.1)
    ev = drain(ls)
    assert statuses(ev) == ["Finished"]
    [cdr] = cdrs(ev)
    assert cdr == Cdr(1, "92222", "1111", "92222", "pbx.example", 2000, 10100, 1, "BYE")
    ls.receive_response(make_response(bye.request, 200), 12.2)
    assert cdrs(drain(ls)) == [] and ls.free_line() == 1


def test_remote_bye():
    ls = lines()
    call, invite, _ = answered(ls)
    bye = in_dialog(call, "BYE", 5)
    assert ls.receive_request(bye, 31.0)
    ev = drain(ls)
    [resp] = of(ev, SendResponse)
    assert resp.response.status == 200
    assert statuses(ev) == ["CallDisconnect", "Finished"]
    [cdr] = cdrs(ev)
    assert (cdr.disparty, cdr.reason, cdr.duration_ms) == (2, "BYE", 30000)


def test_busy_486():
    ls = lines()
    call, invite, _ = dial(ls)
    ls.receive_response(peer_answer(invite, 486), 1.0)
    ev = drain(ls)
    assert statuses(ev) == ["CallDisconnect", "Finished"]
    [cdr] = cdrs(ev)
    assert (cdr.disparty, cdr.reason, cdr.connecttime_ms, cdr.duration_ms) == (2, "486 Busy Here", 0, 0)
    assert not call.active


def test_cancel_during_ringing_then_487():
    ls = lines()
    call, invite, _ = dial(ls)
    ls.receive_response(peer_answer(invite, 180), 0.5)
    drain(ls)
    ls.hangup(3.0)
    ev = drain(ls)
    assert statuses(ev) == ["CallDisconnect", "Finishing"]
    [cancel] = of(ev, SendRequest)
    assert cancel.request.method == "CANCEL" and cancel.request.via[0].branch == invite.via[0].branch
    ls.receive_response(make_response(cancel.request, 200), 3.1)
    assert cdrs(drain(ls)) == []
    ls.receive_response(peer_answer(invite, 487), 3.2)
    ev = drain(ls)
    assert statuses(ev) == ["Finished"]
    [cdr] = cdrs(ev)
    assert (cdr.disparty, cdr.reason) == (1, "CANCEL")


def test_hangup_before_provisional_waits_for_it():
    ls = lines()
    call, invite, _ = dial(ls)
    ls.hangup(0.1)
    assert of(drain(ls), SendRequest) == []
    ls.receive_response(peer_answer(invite, 100), 0.2)
    [cancel] = of(drain(ls), SendRequest)
    assert cancel.request.method == "CANCEL"


@pytest.mark.parametrize("discmode,extra_bye", [(2, False), (3, True)])
def test_2xx_after_cancel_is_acked_and_byed(discmode, extra_bye):
    ls = lines(discmode=discmode)
    call, invite, _ = dial(ls)
    ls.receive_response(peer_answer(invite, 180), 0.5)
    drain(ls)
    ls.hangup(1.0)
    sent = [e.request.method for e in of(drain(ls), SendRequest)]
    assert sent == (["CANCEL", "BYE"] if extra_bye else ["CANCEL"])
    ls.receive_response(peer_answer(invite, 200), 1.1)
    ev = drain(ls)
    assert [type(e) for e in ev if isinstance(e, (SendAck, SendRequest))] == [SendAck, SendRequest]
    bye = of(ev, SendRequest)[0].request
    assert bye.method == "BYE" and statuses(ev) == [] and of(ev, MediaReady) == []
    ls.receive_response(make_response(bye, 200), 1.2)
    [cdr] = cdrs(drain(ls))
    assert (cdr.disparty, cdr.reason) == (1, "CANCEL")


def test_ring_timeout_cancels():
    ls = lines(ringtimeout=5000)
    call, invite, _ = dial(ls, now=10.0)
    ls.receive_response(peer_answer(invite, 180), 10.5)
    drain(ls)
    assert ls.get_timer() == 15.0
    ls.handle_timer(14.9)
    assert drain(ls) == []
    ls.handle_timer(15.0)
    ev = drain(ls)
    assert [e.request.method for e in of(ev, SendRequest)] == ["CANCEL"]
    assert call.reason == "ring timeout"
    ls.handle_timer(15.0 + 32.0)           # no answer to the CANCEL at all
    [cdr] = cdrs(drain(ls))
    assert (cdr.disparty, cdr.reason) == (1, "ring timeout")


def test_call_timeout_byes():
    ls = lines(calltimeout=60000)
    call, invite, _ = answered(ls, now=1.0)
    assert ls.get_timer() == 61.0
    ls.handle_timer(61.0)
    ev = drain(ls)
    assert [e.request.method for e in of(ev, SendRequest)] == ["BYE"]
    ls.transaction_failed(of(ev, SendRequest)[0].request, 93.0)
    [cdr] = cdrs(drain(ls))
    assert (cdr.disparty, cdr.reason, cdr.duration_ms) == (1, "call timeout", 92000)


def test_invite_timeout_and_bad_answer():
    ls = lines()
    call, invite, _ = dial(ls)
    call.transaction_failed("INVITE", 32.0)
    [cdr] = cdrs(drain(ls))
    assert cdr.disparty == 3 and cdr.reason.startswith("408")
    # a 2xx whose SDP is missing: ACK + BYE, 488 reason
    call, invite, _ = dial(ls)
    ok = make_response(invite, 200, to_tag="x", headers=[("Contact", "<sip:2222@192.0.2.9>")])
    ls.receive_response(ok, 1.0)
    ev = drain(ls)
    assert [type(e) for e in ev if isinstance(e, (SendAck, SendRequest))] == [SendAck, SendRequest]
    assert call.reason.startswith("488")


# --- incoming ------------------------------------------------------------------------------------
def ring(ls, **kw):
    call = ls.incoming(peer_invite(**kw), 0.0)
    return call, drain(ls)


def test_incoming_accept_then_we_hang_up():
    ls = lines()
    call, ev = ring(ls)
    assert statuses(ev) == ["CallSetup", "Ringing"]
    st = of(ev, StatusChanged)[-1]
    assert (st.endpointtype, st.peername, st.peerdisplayname, st.callid) == (2, "2222", "Bob", "in-1")
    [r180] = of(ev, SendResponse)
    assert r180.response.status == 180 and r180.response.to.tag == call.local_tag
    call.accept(4.0)
    ev = drain(ls)
    [ok] = of(ev, SendResponse)
    assert ok.response.status == 200 and b"PCMU" in ok.response.body
    assert statuses(ev) == ["CallConnect", "Speaking"] and of(ev, MediaReady)
    assert ls.receive_request(in_dialog(call, "ACK", 10), 4.1)
    ls.hangup(10.0)
    ev = drain(ls)
    [bye] = of(ev, SendRequest)
    assert bye.request.method == "BYE" and bye.request.to.tag == "bobtag"
    ls.receive_response(make_response(bye.request, 200), 10.2)
    [cdr] = cdrs(drain(ls))
    assert cdr == Cdr(1, "2222", "2222", "1111", "pbx.example", 4000, 6200, 1, "BYE")


@pytest.mark.parametrize("action,status", [("reject", 486), ("forward", 302), ("hangup", 486)])
def test_incoming_reject_forward(action, status):
    ls = lines()
    call, _ = ring(ls)
    if action == "forward":
        call.forward("3333", 1.0)
    else:
        getattr(call, action)(1.0)
    ev = drain(ls)
    [resp] = of(ev, SendResponse)
    assert resp.response.status == status
    if status == 302:
        assert str(resp.response.contact[0].uri) == "sip:3333@pbx.example"
    assert statuses(ev) == ["CallDisconnect", "Finishing", "Finished"]
    [cdr] = cdrs(ev)
    assert cdr.disparty == 1 and cdr.reason.startswith(str(status))


def test_reject_603():
    ls = lines()
    call, _ = ring(ls)
    call.reject(1.0, 603)
    assert of(drain(ls), SendResponse)[0].response.status == 603


def test_incoming_cancel_487():
    ls = lines()
    call, _ = ring(ls)
    cancel = peer_invite()
    cancel.method = "CANCEL"
    cancel.set("CSeq", "10 CANCEL")
    cancel.body = b""
    assert ls.receive_request(cancel, 2.0)
    ev = drain(ls)
    assert [(e.response.status, e.response.cseq.method) for e in of(ev, SendResponse)] == [
        (200, "CANCEL"), (487, "INVITE")]
    [cdr] = cdrs(ev)
    assert (cdr.disparty, cdr.reason) == (2, "CANCEL")


def test_488_no_common_codec():
    ls = lines()
    call, _ = ring(ls, codecs=("g722",))
    call.accept(1.0)
    ev = drain(ls)
    assert of(ev, SendResponse)[0].response.status == 488
    assert len(cdrs(ev)) == 1 and not call.active


def test_ack_timeout_sends_bye():
    ls = lines()
    call, _ = ring(ls)
    call.accept(1.0)
    drain(ls)
    call.transaction_failed("INVITE", 33.0)
    ev = drain(ls)
    assert [e.request.method for e in of(ev, SendRequest)] == ["BYE"] and call.reason == "ACK timeout"


def test_busy_on_second_call_and_rejectonbusy():
    ls = lines(maxlines=1)
    first, _ = ring(ls)
    assert ls.incoming(peer_invite(call_id="in-2"), 1.0) is None
    ev = drain(ls)
    assert of(ev, SendResponse)[0].response.status == 486
    [cdr] = cdrs(ev)
    assert cdr.line == 0 and cdr.reason == "486 Busy Here"
    ls = lines(maxlines=4, rejectonbusy=True)
    ring(ls)
    assert ls.incoming(peer_invite(call_id="in-2"), 1.0) is None
    assert of(drain(ls), SendResponse)[0].response.status == 486


def test_callforward_and_blacklist_and_autoignore():
    ls = lines(callforwardonbusy="5555")
    ring(ls)
    ls.incoming(peer_invite(call_id="in-2"), 1.0)
    resp = of(drain(ls), SendResponse)[0].response
    assert resp.status == 302 and str(resp.contact[0].uri) == "sip:5555@pbx.example"
    ls = lines(callforwardalways="6666")
    assert ls.incoming(peer_invite(), 0.0) is None
    assert of(drain(ls), SendResponse)[0].response.status == 302
    ls = lines(blacklist="3333, 2222")
    assert ls.incoming(peer_invite(), 0.0) is None
    ev = drain(ls)
    assert of(ev, SendResponse)[0].response.status == 403 and len(cdrs(ev)) == 1
    ls = lines(autoignore=1)
    assert ls.incoming(peer_invite(), 0.0) is None
    ev = drain(ls)
    assert of(ev, SendResponse) == [] and cdrs(ev)[0].reason == "ignored"
    ls = lines(autoignore=2)
    ls.incoming(peer_invite(), 0.0)
    assert of(drain(ls), SendResponse)[0].response.status == 603


@pytest.mark.parametrize("settings,extra", [({"autoaccept": True}, ()),
                                            ({}, (("P-Auto-Answer", "normal"),))])
def test_autoaccept(settings, extra):
    ls = lines(**settings)
    call = ls.incoming(peer_invite(extra=extra), 0.0)
    ev = drain(ls)
    assert [e.response.status for e in of(ev, SendResponse)] == [180, 200]
    assert call.phase is Phase.CONNECTED


def test_incoming_ring_timeout():
    ls = lines(ringtimeout=1000)
    call, _ = ring(ls)
    ls.handle_timer(1.0)
    ev = drain(ls)
    assert of(ev, SendResponse)[0].response.status == 480
    assert cdrs(ev)[0].reason == "ring timeout"


# --- lines ---------------------------------------------------------------------------------------
def test_line_selection_and_hangup_all():
    ls = lines(maxlines=2)
    a = ls.dial("2222", 0.0)
    assert a.line == 1 and ls.current == 1
    b = ls.dial("3333", 0.0)
    assert b.line == 2 and ls.current == 2 and ls.get(-1) is b and ls.get(1) is a
    with pytest.raises(Exception):
        ls.dial("4444", 0.0)
    assert ls.incoming(peer_invite(), 0.0) is None      # no free line: 486
    ev = drain(ls)
    invites = {e.line: e.request for e in of(ev, SendRequest)}
    for line, inv in invites.items():
        ls.receive_response(peer_answer(inv, 200, tag=f"p{line}"), 1.0)
    drain(ls)
    ls.hangup(5.0, line=-2)
    ev = drain(ls)
    assert sorted(e.line for e in of(ev, SendRequest)) == [1, 2]
    for e in of(ev, SendRequest):
        ls.receive_response(make_response(e.request, 200), 5.1)
    ev = drain(ls)
    assert sorted(c.line for c in cdrs(ev)) == [1, 2]
    assert ls.free_line() == 2           # the current line is free again


def test_hold_unhold_reinvite():
    ls = lines()
    call, invite, _ = answered(ls)
    call.hold(2.0)
    ev = drain(ls)
    [re] = of(ev, SendRequest)
    assert re.request.method == "INVITE" and b"a=sendonly" in re.request.body
    assert statuses(ev) == ["Hold"]
    ok = make_response(re.request, 200, headers=[("Content-Type", "application/sdp")],
                       body=peer_answer(re.request, 200).body)
    ls.receive_response(ok, 2.1)
    ev = drain(ls)
    assert of(ev, SendAck)[0].request.cseq.seq == 2 and of(ev, MediaReady)
    call.unhold(3.0)
    assert statuses(drain(ls)) == ["Speaking"]


def test_cdr_exactly_once_everywhere():
    """Every path ends with one CDR and duplicates after the end are ignored."""
    ls = lines()
    call, invite, _ = answered(ls)
    ls.receive_request(in_dialog(call, "BYE", 5), 3.0)
    call.hangup(4.0)
    call.transaction_failed("BYE", 5.0)
    call.handle_timer(100.0)
    ls.receive_response(peer_answer(invite, 200), 6.0)
    assert len(cdrs(drain(ls))) == 1
