"""Early media and local ringback/ringtone, malformed 2xx, Lines media_for/redial."""
from __future__ import annotations

import pytest

from sipctl.call import CallSettings, Lines, Phase
from sipctl.call_events import (LocalRingback, LocalRingtone, MediaReady, MediaStop, SendAck,
                                SendRequest, SendResponse)
from sipctl.sip.errors import LocalProtocolError
from sipctl.sip.message import make_response

from test_call import (cdrs, dial, drain, kwargs, lines, media, of, peer_answer, peer_invite,
                       statuses)


def ring_events(ev):
    return [(type(e).__name__, e.on) for e in ev if isinstance(e, (LocalRingback, LocalRingtone))]


@pytest.mark.parametrize("cpr,status,early,ringback", [
    (0, "Setup", False, []),
    (1, "Ringing", False, [True]),
    (2, "Ringing", True, []),
    (3, "Setup", True, []),
    (4, "Ringing", True, []),
])
def test_183_with_sdp_per_changesptoring(cpr, status, early, ringback):
    ls = lines(changesptoring=cpr)
    call, invite, _ = dial(ls)
    ls.receive_response(peer_answer(invite, 183), 0.5)
    ev = drain(ls)
    assert call.status == status
    assert [m.early for m in of(ev, MediaReady)] == ([True] if early else [])
    assert [e.on for e in of(ev, LocalRingback)] == ringback
    ls.receive_response(peer_answer(invite, 200, sdp=False), 1.0)   # the answer came in the 183
    ev = drain(ls)
    [ready] = of(ev, MediaReady)
    assert not ready.early and ready.negotiated.remote_port == 6000
    assert [e.on for e in of(ev, LocalRingback)] == ([False] if ringback else [])
    assert call.phase is Phase.CONNECTED


def test_ringback_then_early_media_stops_it():
    ls = lines()
    call, invite, _ = dial(ls)
    ls.receive_response(peer_answer(invite, 180), 0.5)
    assert ring_events(drain(ls)) == [("LocalRingback", True)]
    ls.receive_response(peer_answer(invite, 183), 0.6)
    ev = drain(ls)
    assert ring_events(ev) == [("LocalRingback", False)] and of(ev, MediaReady)[0].early
    ls.receive_response(peer_answer(invite, 486), 1.0)
    ev = drain(ls)
    assert ring_events(ev) == [] and of(ev, MediaStop)


def test_no_ringback_with_playing_1_and_off_on_disconnect():
    ls = lines(playing=1)
    call, invite, _ = dial(ls)
    ls.receive_response(peer_answer(invite, 180), 0.5)
    assert ring_events(drain(ls)) == []
    ls = lines()
    call, invite, _ = dial(ls)
    ls.receive_response(peer_answer(invite, 180), 0.5)
    drain(ls)
    ls.hangup(1.0)
    assert ring_events(drain(ls)) == [("LocalRingback", False)]


@pytest.mark.parametrize("playing,expect", [(0, []), (1, [True, False]), (2, [True, False])])
def test_local_ringtone_incoming(playing, expect):
    ls = lines(playing=playing)
    call = ls.incoming(peer_invite(), 0.0)
    ev = drain(ls)
    call.accept(1.0)
    ev += drain(ls)
    assert [e.on for e in of(ev, LocalRingtone)] == expect
    ls = lines(playing=playing)
    call = ls.incoming(peer_invite(), 0.0)
    call.reject(1.0)
    assert [e.on for e in of(drain(ls), LocalRingtone)] == expect


# --- malformed 2xx -------------------------------------------------------------------------------
def bad_ok(invite, *, tag="peer1", contact=True, body=None):
    headers = [("Contact", "<sip:2222@192.0.2.9>")] if contact else []
    if body is not None:
        headers.append(("Content-Type", "application/sdp"))
    ok = make_response(invite, 200, to_tag=tag, headers=headers,
                       body=body if body is not None else peer_answer(invite, 200).body)
    if body is None:
        ok.add("Content-Type", "application/sdp")
    return ok


@pytest.mark.parametrize("case,reason,sent", [
    ("no-contact", "malformed 200 OK: no Contact", ["ACK", "BYE"]),
    ("no-tag", "malformed 200 OK: no To tag", ["ACK"]),
    ("bad-sdp", "malformed 200 OK: bad SDP", ["ACK", "BYE"]),
    ("no-tag-no-contact", "malformed 200 OK: no To tag", []),
])
def test_malformed_200(case, reason, sent):
    ls = lines()
    call, invite, _ = dial(ls)
    if case == "no-contact":
        ok = bad_ok(invite, contact=False)
    elif case == "no-tag":
        ok = bad_ok(invite, tag=None)
    elif case == "bad-sdp":
        ok = bad_ok(invite, body=b"v=0\r\nthis is not sdp\r\n")
    else:
        ok = bad_ok(invite, tag=None, contact=False)
    assert ls.receive_response(ok, 1.0)
    ev = drain(ls)
    msgs = [e.request for e in ev if isinstance(e, (SendAck, SendRequest))]
    assert [m.method for m in msgs] == sent
    if sent:
        assert msgs[0].cseq.seq == 1 and str(msgs[0].uri) == (
            "sip:2222@pbx.example" if case == "no-contact" else "sip:2222@192.0.2.9")
    assert statuses(ev) == ["CallDisconnect", "Finished"]
    [cdr] = cdrs(ev)
    assert cdr.reason.startswith(reason) and cdr.disparty == 1
    assert not call.active and ls.free_line() == 1
    ls.receive_response(ok, 1.1)
    assert cdrs(drain(ls)) == []


# --- lines ---------------------------------------------------------------------------------------
def test_media_for_and_redial():
    kw = kwargs()
    del kw["media"]
    ports = []

    def media_for(line):
        ports.append(line)
        return media(port=4000 + 2 * line)
    ls = Lines(2, settings=CallSettings(maxlines=2), media_for=media_for, **kw)
    with pytest.raises(LocalProtocolError):
        ls.redial(0.0)
    a = ls.dial("2222", 0.0)
    b = ls.dial("", 0.0)
    ev = drain(ls)
    invites = {e.line: e.request for e in of(ev, SendRequest)}
    assert b"m=audio 4002" in invites[1].body and b"m=audio 4004" in invites[2].body
    assert str(invites[2].uri) == "sip:2222@pbx.example" and ports == [1, 2]
    ls.hangup(1.0, line=-2)
    for inv in invites.values():
        ls.receive_response(make_response(inv, 487, to_tag="x"), 1.1)
    drain(ls)
    c = ls.redial(2.0, line=2)
    assert c.line == 2 and str(c.invite.uri) == "sip:2222@pbx.example"
    with pytest.raises(ValueError):
        Lines(2, **kwargs(), media_for=media_for)


def test_lines_route_prack_update_info_responses():
    ls = lines(prack=True)
    call, invite, _ = dial(ls)
    r = peer_answer(invite, 183, sdp=False)
    r.add("Require", "100rel")
    r.add("RSeq", "1")
    ls.receive_response(r, 0.5)
    prack = of(drain(ls), SendRequest)[0].request
    assert ls.find(make_response(prack, 200)) is call
    assert ls.receive_response(make_response(prack, 200), 0.6)
    assert of(drain(ls), SendResponse) == []
    import test_call
    info = test_call.in_dialog(call, "INFO", 3)      # the peer, in the early dialog
    assert ls.find(info) is call
    info.set("To", f"<sip:1111@pbx.example>;tag=nottheirs")
    assert ls.find(info) is None
