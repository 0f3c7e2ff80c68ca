"""UPDATE, INFO, mute, hold state and media timeout of sipctl.call."""
from __future__ import annotations

import pytest

from sipctl.call_events import (DtmfReceived, InfoReceived, MediaReady, MuteChanged, SendRequest,
                                SendResponse)
from sipctl.sip.errors import LocalProtocolError
from sipctl.sip.offer_answer import OfferAnswer

from test_call import (answered, cdrs, dial, drain, in_dialog, lines, media, of, peer_answer,
                       peer_invite, statuses)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, MESSAGE, NOTIFY, REFER"


def peer_offer(direction="sendrecv"):
    oa = OfferAnswer(media("pcmu", port=6000, addr="192.0.2.9"), 77)
    sdp = oa.create_offer().serialize()
    return sdp.replace("a=sendrecv", f"a={direction}").encode() if direction != "sendrecv" \
        else sdp.encode()


def with_sdp(req, body):
    req.add("Content-Type", "application/sdp")
    req.body = body
    return req


def test_allow_header_on_invite_and_2xx():
    ls = lines()
    call, invite, _ = dial(ls)
    assert ", ".join(invite.headers.get_all("Allow")) == ALLOW
    ls = lines(prack=True)
    call = ls.incoming(peer_invite(), 0.0)
    call.accept(1.0)
    ok = of(drain(ls), SendResponse)[-1].response
    assert ", ".join(ok.headers.get_all("Allow")) == ALLOW.replace("UPDATE", "UPDATE, PRACK")


def test_update_with_sdp_holds_us_and_without_sdp_200():
    ls = lines()
    call, invite, _ = answered(ls)
    upd = with_sdp(in_dialog(call, "UPDATE", 20), peer_offer("sendonly"))
    assert ls.receive_request(upd, 3.0)
    ev = drain(ls)
    [resp] = of(ev, SendResponse)
    assert resp.response.status == 200 and b"a=recvonly" in resp.response.body
    assert resp.response.headers.get("Content-Type") == "application/sdp"
    assert of(ev, MediaReady)[0].negotiated.remote_hold and statuses(ev) == ["Hold"]
    assert call.hold_state == 3
    call.hold(4.0)
    re = of(drain(ls), SendRequest)[0].request
    assert call.hold_state == 4
    ls.receive_request(with_sdp(in_dialog(call, "UPDATE", 21), peer_offer()), 4.1)
    assert [e.response.status for e in of(drain(ls), SendResponse)] == [491]  # ours is pending
    ls.receive_response(peer_answer(re, 200), 4.2)
    drain(ls)
    ls.receive_request(with_sdp(in_dialog(call, "UPDATE", 22), peer_offer()), 5.0)
    assert [e.response.status for e in of(drain(ls), SendResponse)] == [200]
    assert call.hold_state == 2 and call.status == "Hold"
    ls.receive_request(in_dialog(call, "UPDATE", 23), 6.0)
    [resp] = of(drain(ls), SendResponse)
    assert resp.response.status == 200 and resp.response.body == b""


def test_update_in_early_dialog():
    ls = lines()
    call, invite, _ = dial(ls)
    ls.receive_response(peer_answer(invite, 180), 0.5)
    drain(ls)
    upd = with_sdp(in_dialog(call, "UPDATE", 5), peer_offer())
    assert ls.receive_request(upd, 0.6)             # our offer is unanswered: 491
    assert [e.response.status for e in of(drain(ls), SendResponse)] == [491]
    ls.receive_response(peer_answer(invite, 183), 0.7)
    drain(ls)
    upd = with_sdp(in_dialog(call, "UPDATE", 6), peer_offer())
    assert ls.receive_request(upd, 0.8)
    ev = drain(ls)
    assert [e.response.status for e in of(ev, SendResponse)] == [200]
    assert of(ev, MediaReady)[0].early


def test_update_while_ringing_incoming_500():
    ls = lines()
    call = ls.incoming(peer_invite(), 0.0)
    drain(ls)
    ls.receive_request(with_sdp(in_dialog(call, "UPDATE", 11), peer_offer()), 1.0)
    [resp] = of(drain(ls), SendResponse)
    assert resp.response.status == 500 and resp.response.headers.get("Retry-After") == "1"
    ls.receive_request(in_dialog(call, "UPDATE", 12), 1.1)
    assert of(drain(ls), SendResponse)[0].response.status == 200


def test_send_info():
    ls = lines()
    call, invite, _ = dial(ls)
    with pytest.raises(LocalProtocolError):
        call.send_info("x", "text/plain", 0.1)
    ls.receive_response(peer_answer(invite, 200), 1.0)
    drain(ls)
    req = call.send_info("Signal=5\r\nDuration=160\r\n", "application/dtmf-relay", 2.0)
    [sent] = [e.request for e in of(drain(ls), SendRequest)]
    assert sent is req and req.method == "INFO" and req.cseq.seq == 2
    assert req.to.tag == "peer1" and req.headers.get("Content-Type") == "application/dtmf-relay"
    assert req.body == b"Signal=5\r\nDuration=160\r\n"


@pytest.mark.parametrize("ctype,body,status,digit", [
    ("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", 200, "5"),
    ("application/dtmf-relay", "Signal=11\r\n", 200, "#"),
    ("application/dtmf", "*", 200, "*"),
    ("application/dtmf-relay", "Signal=x\r\n", 400, None),
    ("text/plain", "hello", 200, None),
])
def test_receive_info(ctype, body, status, digit):
    ls = lines()
    call, invite, _ = answered(ls)
    info = in_dialog(call, "INFO", 30)
    info.add("Content-Type", ctype)
    info.body = body.encode()
    assert ls.receive_request(info, 3.0)
    ev = drain(ls)
    assert [e.response.status for e in of(ev, SendResponse)] == [status]
    if status == 200:
        assert of(ev, InfoReceived) == [InfoReceived(1, ctype, body)]
    else:
        assert of(ev, InfoReceived) == []
    assert of(ev, DtmfReceived) == ([DtmfReceived(1, digit, "info")] if digit else [])


@pytest.mark.parametrize("direction,defmute,code,event", [
    (0, 2, 1, (True, True)), (3, 2, 1, (True, True)), (1, 2, 2, (False, True)),
    (2, 2, 3, (True, False)), (4, 2, 3, (True, False)), (4, 1, 2, (False, True)),
    (4, 0, 1, (True, True)), (4, 5, 0, None),
])
def test_mute(direction, defmute, code, event):
    ls = lines(defmute=defmute)
    call, invite, _ = answered(ls)
    assert call.is_muted == 0
    assert call.mute(True, direction, 2.0) == (event is not None)
    assert call.is_muted == code
    assert of(drain(ls), MuteChanged) == ([MuteChanged(1, *event)] if event else [])
    call.mute(False, 0, 3.0)
    assert call.is_muted == 0
    assert of(drain(ls), MuteChanged) == ([MuteChanged(1, False, False)] if event else [])


def test_peer_reinvite_hold_and_glare():
    ls = lines()
    call, invite, _ = answered(ls)
    re = with_sdp(in_dialog(call, "INVITE", 40), peer_offer("inactive"))
    re.add("Contact", "<sip:2222@192.0.2.9>")
    ls.receive_request(re, 3.0)
    ev = drain(ls)
    assert of(ev, SendResponse)[0].response.status == 200 and call.hold_state == 3
    assert "UPDATE" in of(ev, SendResponse)[0].response.headers.get_all("Allow")
    call.unhold(4.0)                     # our re-INVITE is pending: theirs gets 491
    drain(ls)
    re = with_sdp(in_dialog(call, "INVITE", 41), peer_offer())
    ls.receive_request(re, 4.1)
    assert of(drain(ls), SendResponse)[0].response.status == 491


def test_media_timeout():
    ls = lines()
    call, invite, _ = dial(ls)
    assert not call.media_timeout(0.5)
    ls.receive_response(peer_answer(invite, 200), 1.0)
    drain(ls)
    assert call.media_timeout(301.0)
    ev = drain(ls)
    assert [e.request.method for e in of(ev, SendRequest)] == ["BYE"]
    ls.handle_timer(301.0 + 32)
    [cdr] = cdrs(drain(ls))
    assert (cdr.disparty, cdr.reason) == (1, "media timeout")
