"""Session timers (RFC 4028) in sipctl.call: negotiation, refresh, expiry, 422."""
from __future__ import annotations

import pytest

from sipctl.call import CallSettings, Phase
from sipctl.call_events import SendAck, SendRequest, SendResponse
from sipctl.call_timers import parse_session_expires
from sipctl.sip.message import make_response

from test_call import cdrs, dial, drain, in_dialog, lines, of, peer_answer, peer_invite


def answer_with(invite, se=None, allow=None, now=1.0, ls=None):
    ok = peer_answer(invite, 200)
    if se:
        ok.add("Session-Expires", se)
        ok.add("Require", "timer")
    if allow:
        ok.add("Allow", allow)
    ls.receive_response(ok, now)
    return drain(ls)


def test_invite_offers_timer_and_min_se():
    ls = lines(session_expires=600, min_se=120)
    call, invite, _ = dial(ls)
    assert invite.headers.get("Session-Expires") == "600"
    assert invite.headers.get("Min-SE") == "120" and "timer" in invite.supported
    ls = lines(session_expires=0)
    call, invite, _ = dial(ls)
    assert invite.headers.get("Session-Expires") is None and invite.headers.get("Supported") is None
    assert lines().dial("2222", 0).invite.headers.get("Min-SE") is None     # 90: not sent


def test_422_retried_with_min_se():
    ls = lines()
    call, invite, _ = dial(ls)
    resp = make_response(invite, 422, "Session Interval Too Small", to_tag="x",
                         headers=[("Min-SE", "3600")])
    ls.receive_response(resp, 0.2)
    [again] = [e.request for e in of(drain(ls), SendRequest)]
    assert again.method == "INVITE" and again.cseq.seq == 2 and again.call_id == invite.call_id
    assert again.via[0].branch != invite.via[0].branch
    assert again.headers.get("Session-Expires") == "3600" and again.headers.get("Min-SE") == "3600"
    assert call.invite is again
    ls.receive_response(make_response(again, 422, "Session Interval Too Small", to_tag="x",
                                      headers=[("Min-SE", "3600")]), 0.3)
    [cdr] = cdrs(drain(ls))                     # no bigger Min-SE: give up
    assert cdr.reason == "422 Session Interval Too Small"


def test_uac_refresher_updates_when_allowed():
    ls = lines()
    call, invite, _ = dial(ls)
    answer_with(invite, "1800;refresher=uac", "INVITE, ACK, BYE, UPDATE", now=10.0, ls=ls)
    assert call.session_timer.we_refresh and ls.get_timer() == 910.0
    ls.handle_timer(910.0)
    [upd] = [e.request for e in of(drain(ls), SendRequest)]
    assert upd.method == "UPDATE" and upd.body == b""
    assert upd.headers.get("Session-Expires") == "1800;refresher=uac"
    ok = make_response(upd, 200, headers=[("Session-Expires", "1800;refresher=uac")])
    ls.receive_response(ok, 911.0)
    assert drain(ls) == [] and ls.get_timer() == 911.0 + 900


def test_uac_refresher_reinvite_keeps_sdp_version():
    ls = lines()
    call, invite, _ = dial(ls)
    answer_with(invite, "180;refresher=uac", now=0.0, ls=ls)
    versions = []
    for expected in (90.0, 180.1):
        now = ls.get_timer()
        assert now == expected
        ls.handle_timer(now)
        [re] = [e.request for e in of(drain(ls), SendRequest)]
        assert re.method == "INVITE" and re.headers.get("Session-Expires") == "180;refresher=uac"
        versions.append(int(re.body.decode().split("o=")[1].split()[2]))
        assert b"a=sendrecv" in re.body or b"sendonly" not in re.body
        ok = peer_answer(re, 200)
        ok.add("Session-Expires", "180;refresher=uac")
        ls.receive_response(ok, now + 0.1)
        assert of(drain(ls), SendAck)
    assert versions[1] == versions[0]          # unchanged SDP keeps its o= version


def test_uas_refresher_peer_byes_us_at_expiry():
    ls = lines()
    call, invite, _ = dial(ls)
    answer_with(invite, "90;refresher=uas", now=0.0, ls=ls)
    assert not call.session_timer.we_refresh and ls.get_timer() == 60.0     # 90 - 90/3
    upd = in_dialog(call, "UPDATE", 20)
    upd.add("Session-Expires", "90;refresher=uac")
    ls.receive_request(upd, 50.0)                 # the peer refreshes: timer restarts
    [resp] = of(drain(ls), SendResponse)
    assert resp.response.status == 200
    assert resp.response.headers.get("Session-Expires") == "90;refresher=uac"
    assert ls.get_timer() == 110.0
    ls.handle_timer(110.0)
    ev = drain(ls)
    assert [e.request.method for e in of(ev, SendRequest)] == ["BYE"]
    assert call.reason == "session timer expired"


def test_no_session_expires_in_2xx_no_timer():
    ls = lines()
    call, invite, _ = dial(ls)
    answer_with(invite, ls=ls)
    assert not call.session_timer.running and ls.get_timer() == 1.0 + 10800


@pytest.mark.parametrize("extra,se,require", [
    ((("Session-Expires", "1000"), ("Supported", "timer")), "1000;refresher=uac", "timer"),
    ((("Session-Expires", "1000;refresher=uas"), ("Supported", "timer")), "1000;refresher=uas",
     "timer"),
    ((("Session-Expires", "4000"),), "1800;refresher=uas", None),
    ((("Supported", "timer"),), "1800;refresher=uac", "timer"),
    ((), None, None),
])
def test_uas_200_session_expires(extra, se, require):
    ls = lines()
    call = ls.incoming(peer_invite(extra=extra), 0.0)
    call.accept(1.0)
    ok = of(drain(ls), SendResponse)[-1].response
    assert ok.status == 200 and ok.headers.get("Session-Expires") == se
    assert ok.headers.get("Require") == require
    assert "UPDATE" in ok.headers.get_all("Allow")
    if se:
        n, refresher = parse_session_expires(se)
        assert call.session_timer.we_refresh == (refresher == "uas")
        assert call.session_timer.expire_at == 1.0 + n - min(32, n / 3)


def test_uas_422_below_min_se():
    ls = lines(min_se=300)
    call = ls.incoming(peer_invite(extra=[("Session-Expires", "120")]), 0.0)
    ev = drain(ls)
    [resp] = of(ev, SendResponse)
    assert resp.response.status == 422 and resp.response.headers.get("Min-SE") == "300"
    assert resp.response.reason == "Session Interval Too Small"
    assert not call.active and len(cdrs(ev)) == 1


def test_uas_reinvite_refresh_resets_timer():
    ls = lines()
    call = ls.incoming(peer_invite(extra=[("Session-Expires", "600"), ("Supported", "timer")]),
                       0.0)
    call.accept(0.0)
    drain(ls)
    ls.receive_request(in_dialog(call, "ACK", 10), 0.1)
    assert call.session_timer.expire_at == 600 - 32
    re = peer_invite(extra=[("Session-Expires", "600;refresher=uac")])
    re.set("To", f"<sip:1111@pbx.example>;tag={call.local_tag}")
    re.set("CSeq", "11 INVITE")
    ls.receive_request(re, 500.0)
    [ok] = of(drain(ls), SendResponse)
    assert ok.response.status == 200 and ok.response.headers.get("Session-Expires") == \
        "600;refresher=uac"
    assert call.session_timer.expire_at == 500 + 600 - 32 and call.phase is Phase.CONNECTED


def test_settings_validate():
    with pytest.raises(ValueError):
        CallSettings(min_se=60)
    with pytest.raises(ValueError):
        CallSettings(session_expires=100, min_se=120)
    s = CallSettings.from_params({"prack": "1", "changesptoring": "3", "session_expires": "0"})
    assert (s.prack, s.changesptoring, s.session_expires, s.earlymedia, s.playing,
            s.defmute) == (True, 3, 0, 2, 2, 2)
