"""INVITE / in-dialog digest authentication of sipctl.call (RFC 3261 22)."""
from __future__ import annotations

from sipctl.call import CallSettings, Lines
from sipctl.call_events import SendAck, SendRequest
from sipctl.sip.auth import DigestClient, verify
from sipctl.sip.message import make_response

from test_call import answered, cdrs, dial, drain, kwargs, of, peer_answer, statuses

CHALLENGE = 'Digest realm="pbx.example", nonce="n1", qop="auth", algorithm=MD5'


def auth_lines(auth=True, **settings):
    client = DigestClient("1111", "secret", new_cnonce=lambda: "c0ffee") if auth else None
    return Lines(4, settings=CallSettings(**settings), auth=client, **kwargs())


def challenge(req, status=407, nonce="n1", stale=False):
    name = "Proxy-Authenticate" if status == 407 else "WWW-Authenticate"
    value = CHALLENGE.replace("n1", nonce) + (", stale=true" if stale else "")
    return make_response(req, status, to_tag="px", headers=[(name, value)])


def test_invite_407_resent_with_credentials_then_cancel_matches_it():
    ls = auth_lines()
    call, invite, _ = dial(ls)
    assert ls.receive_response(challenge(invite), 0.2)
    ev = drain(ls)
    [again] = [e.request for e in of(ev, SendRequest)]
    assert statuses(ev) == [] and cdrs(ev) == []
    assert again.method == "INVITE" and again.call_id == invite.call_id
    assert again.from_.tag == invite.from_.tag and again.cseq.seq == 2
    assert again.via[0].branch != invite.via[0].branch and again.body == invite.body
    cred = again.headers.get("Proxy-Authorization")
    assert verify(cred, "INVITE", "secret", username="1111", realm="pbx.example",
                  uri=str(invite.uri))
    assert call.invite is again
    ls.receive_response(peer_answer(again, 180), 0.5)
    drain(ls)
    ls.hangup(1.0)
    [cancel] = [e.request for e in of(drain(ls), SendRequest)]
    assert cancel.method == "CANCEL" and cancel.cseq.seq == 2
    assert cancel.via[0].branch == again.via[0].branch


def test_invite_401_then_answered_acks_new_cseq():
    ls = auth_lines()
    call, invite, _ = dial(ls)
    ls.receive_response(challenge(invite, 401), 0.2)
    again = of(drain(ls), SendRequest)[0].request
    assert again.headers.get("Authorization") and again.headers.get("Proxy-Authorization") is None
    ls.receive_response(peer_answer(again, 200), 1.0)
    ev = drain(ls)
    assert of(ev, SendAck)[0].request.cseq.seq == 2 and call.status == "Speaking"
    # the old transaction's retransmitted challenge is ignored
    ls.receive_response(challenge(invite, 401), 1.1)
    assert drain(ls) == []


def test_second_challenge_rejects_and_frees_line():
    ls = auth_lines()
    call, invite, _ = dial(ls)
    ls.receive_response(challenge(invite), 0.2)
    again = of(drain(ls), SendRequest)[0].request
    ls.receive_response(challenge(again, nonce="n2"), 0.4)
    ev = drain(ls)
    assert of(ev, SendRequest) == []
    assert statuses(ev) == ["CallDisconnect", "Finished"]
    [cdr] = cdrs(ev)
    assert (cdr.disparty, cdr.reason) == (2, "407 Proxy Authentication Required "
                                             "(credentials rejected)")
    assert not call.active and ls.free_line() == 1


def test_stale_challenge_is_answered_again():
    ls = auth_lines()
    call, invite, _ = dial(ls)
    ls.receive_response(challenge(invite), 0.2)
    again = of(drain(ls), SendRequest)[0].request
    ls.receive_response(challenge(again, nonce="n2", stale=True), 0.4)
    third = of(drain(ls), SendRequest)[0].request
    assert third.cseq.seq == 3 and 'nonce="n2"' in third.headers.get("Proxy-Authorization")
    assert len(third.headers.lines("Proxy-Authorization")) == 1


def test_no_credentials_ends_call():
    ls = auth_lines(auth=False)
    call, invite, _ = dial(ls)
    ls.receive_response(challenge(invite, 401), 0.2)
    [cdr] = cdrs(drain(ls))
    assert cdr.reason == "401 Unauthorized (no credentials)" and cdr.disparty == 2


def test_bye_401_retried_once_with_credentials():
    ls = auth_lines()
    call, invite, _ = answered(ls)
    ls.hangup(5.0)
    bye = of(drain(ls), SendRequest)[0].request
    ls.receive_response(challenge(bye, 401), 5.1)
    ev = drain(ls)
    [bye2] = [e.request for e in of(ev, SendRequest)]
    assert cdrs(ev) == [] and bye2.method == "BYE" and bye2.cseq.seq == bye.cseq.seq + 1
    assert verify(bye2.headers.get("Authorization"), "BYE", "secret", username="1111")
    ls.receive_response(challenge(bye2, 401, nonce="n9"), 5.2)     # only once
    ev = drain(ls)
    assert of(ev, SendRequest) == [] and statuses(ev) == ["Finished"] and len(cdrs(ev)) == 1


def test_reinvite_407_retried_and_acked_with_new_cseq():
    ls = auth_lines()
    call, invite, _ = answered(ls)
    call.hold(2.0)
    re1 = of(drain(ls), SendRequest)[0].request
    ls.receive_response(challenge(re1), 2.1)
    re2 = of(drain(ls), SendRequest)[0].request
    assert re2.method == "INVITE" and re2.cseq.seq == re1.cseq.seq + 1
    assert re2.headers.get("Proxy-Authorization") and b"a=sendonly" in re2.body
    ok = make_response(re2, 200, headers=[("Content-Type", "application/sdp"),
                                          ("Contact", "<sip:2222@192.0.2.9>")],
                       body=peer_answer(re2, 200).body)
    ls.receive_response(ok, 2.2)
    [ack] = of(drain(ls), SendAck)
    assert ack.request.cseq.seq == re2.cseq.seq


def test_info_and_update_retried_with_credentials():
    ls = auth_lines()
    call, invite, _ = answered(ls)
    info = call.send_info("hello", "text/plain", 3.0)
    drain(ls)
    ls.receive_response(challenge(info), 3.1)
    info2 = of(drain(ls), SendRequest)[0].request
    assert info2.method == "INFO" and info2.body == b"hello"
    assert info2.headers.get("Proxy-Authorization") and info2.cseq.seq == info.cseq.seq + 1
    ls.receive_response(make_response(info2, 200), 3.2)
    assert drain(ls) == []
