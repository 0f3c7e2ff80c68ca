"""The reference's Usage section, end to end over the ``sipctl serve`` TCP API.

The Mizu VoIP SDK document's pseudocode (connect, ``API_Start`` without a line end,
``API_SetParameters`` with ``CRLF`` separators, ``API_SetParameter``, ``API_Call,-1, DEST``,
``API_Hangup``, ``API_Stop``) is replayed against real peers: a Kamailio registrar and a
baresip "bob" registered there and auto-answering. The same flow runs in the encapsulated
framing (named and positional), then an incoming call and the clean-shutdown paths.
Expected answers and notifications are the reference's (see tests/api_client.py).
"""
from __future__ import annotations

import re
import shutil
import time

import pytest

from api_client import (LINE_STATUS_TEXTS, ApiClient, encap, encap_result,
                        is_general_status_text, kind, status_general, status_line)
from api_service import bob, kam  # noqa: F401  (fixtures)
from api_service import (check_cdr, make_service, registered_contacts,  # noqa: F401
                         wait_contacts_gone, wait_new_contacts)
from peers import DEFAULT_USERS

pytestmark = pytest.mark.skipif(
    not all(shutil.which(b) for b in ("baresip", "kamailio", "kamcmd")),
    reason="baresip/kamailio not installed")

IN_CALL = re.compile(r"^In Call \(\d+ sec\)\.?$")
SPEAKING = ("Speaking", "InCall")
ALICE_PW = DEFAULT_USERS["alice"]






@pytest.fixture
def peers_ok(bob, kam):
    """Hang up whatever call a failed test left at bob."""
    yield
    try:
        bob.hangup()   # whatever a failed test left up
    except Exception:
        pass


CALL_TEXTS = {"CallSetup", "Setup", "InProgress", "Routed", "Ringing", "CallConnect", "InCall",
              "Muted", "Hold", "Speaking", "Midcall", "CallDisconnect", "Finishing", "Finished"}


def assert_notifications_well_formed(c: ApiClient) -> None:
    """Every notification so far: WPNOTIFICATION,...,NEOL; STATUS texts from the reference's
    lists; per-line call statuses with all 8 fields (line,status,peername,localname,
    endpointtype,peerdisplayname,callid)."""
    problems = []
    for n in c.notifications:
        f = n.fields
        if not n.raw.endswith(",NEOL"):
            problems.append(f"no ',NEOL' suffix: {n.raw!r}")
        if f[0] != "STATUS":
            continue
        if len(f) < 3:
            problems.append(f"STATUS without text: {n.body!r}")
        elif f[1] == "-1":
            if not is_general_status_text(",".join(f[2:])):
                problems.append(f"general status text not in the reference's list: {n.body!r}")
        elif f[2] not in LINE_STATUS_TEXTS:
            problems.append(f"per-line status not in the reference's list: {n.body!r}")
        elif f[2] in CALL_TEXTS and (len(f) < 8 or f[5] not in ("1", "2") or not f[7]):
            problems.append(f"per-line call STATUS needs line,status,peername,localname,"
                            f"endpointtype(1/2),peerdisplayname,callid: {n.body!r}")
    assert not problems, "\n".join(problems[:20])


def _creds(kam) -> dict:
    return {"serveraddress": f"127.0.0.1:{kam.port}", "username": "alice",
            "password": ALICE_PW}


def _start_registered(make_service, kam, **kw):
    """A service with alice's credentials as --param, API_Start sent, registered."""
    before = registered_contacts(kam, "alice")
    svc = make_service(params={**_creds(kam), **kw})
    c = svc.client("main")
    assert c.call("API_Start") == "OK: API_Start succeed", c.transcript()
    c.wait_notification(kind("START", "api"), 5)
    c.wait_notification(status_general("Registered"), 10)
    new = wait_new_contacts(kam, "alice", before)
    assert new, f"no new alice binding at Kamailio: {kam.registrations()}"
    return svc, c, new


def _call_bob_connected(c: ApiClient, bob, cmd: str = "API_Call,-1, bob") -> str:
    """Dial bob, wait for CallConnect and bob's CALL_ESTABLISHED; returns the line."""
    n0, m = len(bob.events), c.mark()
    assert c.call(cmd) == "OK: API_Call succeed", c.transcript()
    setup = c.wait_notification(status_line("CallSetup", peer="bob"), 5, since=m)
    line = setup.fields[1]
    c.wait_notification(status_line("CallConnect", line=line), 10, since=m)
    bob.wait_event("CALL_ESTABLISHED", 5, since=n0)
    return line


# ---- the Usage pseudocode, simple framing ----------------------------------------------------

def test_usage_pseudocode_simple_framing(kam, bob, peers_ok, make_service):
    before = registered_contacts(kam, "alice")
    svc = make_service()
    c = svc.client("usage")
    # tcp.Send("API_Start");   -- no line end at all, then wait for START,api
    c.send_raw(b"API_Start")
    c.wait_notification(kind("START", "api"), 5)
    assert c.answer(5, "API_Start (sent without CRLF)") == "OK: API_Start succeed"
    # all parameters in one line, separated by " CRLF " (with the trailing space of the example)
    a = c.call(f"API_SetParameters,serveraddress=127.0.0.1:{kam.port} CRLF username=alice CRLF "
               f"password={ALICE_PW} CRLF loglevel=5 ")
    assert a == "OK: API_SetParameters succeed", c.transcript()
    assert c.call("API_SetParameter,mediatimeout,0") == "OK: API_SetParameter succeed"
    c.wait_notification(kind("START", "sip"), 10)
    reg = c.wait_notification(status_general("Registered"), 10)
    assert reg.fields[:3] in (["STATUS", "-1", "Registered"], ["STATUS", "-1", "Registered."])
    assert c.call("API_IsRegistered") == "OK: API_IsRegistered succeed", c.transcript()
    new = wait_new_contacts(kam, "alice", before)
    assert new, f"Registered notified but Kamailio has no new alice binding: " \
                f"{kam.registrations()}"

    # tcp.end("API_Call,-1, DESTINATION\r\n");   -- note the space before the destination
    n0, m = len(bob.events), c.mark()
    assert c.call("API_Call,-1, bob") == "OK: API_Call succeed", c.transcript()
    setup = c.wait_notification(status_line("CallSetup", peer="bob"), 5, since=m)
    f = setup.fields
    line = f[1]
    assert len(f) >= 6 and f[4] == "alice" and f[5] == "1", \
        f"per-line STATUS must be line,status,peername,localname,endpointtype(1 = outgoing)," \
        f"...: {setup.body!r}"
    c.wait_notification(status_line("CallConnect", line=line), 10, since=m)
    c.wait_notification(status_line(SPEAKING, line=line), 5, since=m)
    c.wait_notification(status_general(IN_CALL), 5, since=m)
    bob.wait_event("CALL_ESTABLISHED", 5, since=n0)   # baresip really answered
    assert c.call("API_IsInCall") == "2", c.transcript()
    time.sleep(1.0)

    m2 = c.mark()
    assert c.call("API_Hangup") == "OK: API_Hangup succeed", c.transcript()
    c.wait_notification(status_line("CallDisconnect", line=line), 5, since=m2)
    cdr = c.wait_notification(kind("CDR"), 5, since=m2)
    check_cdr(cdr, line=line, peer="bob", caller="alice", called="bob", disparty="1",
              min_duration_ms=500)
    bob.wait_event("CALL_CLOSED", 5, since=n0)

    assert c.call("API_Stop") == "OK: API_Stop succeed", c.transcript()
    left = wait_contacts_gone(kam, "alice", new)
    assert not left, f"after API_Stop alice is still registered: {left}"
    assert c.bare_lf == 0, f"lines not ended by \\r\\n: {c.bare_lf}\n{c.transcript()}"
    assert svc.alive(), "API_Stop must not end the service (API_Exit does)"
    assert_notifications_well_formed(c)


# ---- the same flow, encapsulated framing ----------------------------------------------------

def _encap_flow(kam, bob, svc, named: bool) -> None:
    before = registered_contacts(kam, "alice")
    c = svc.client("encap-named" if named else "encap-positional")
    crlf = not named   # the Usage example has no line end after EOFCOMMAND, the API one has

    def req(function, params=()):
        a = c.call_encap(function, params, named=named, crlf=crlf)
        assert a.startswith("APIREQUEST:") and function in a.split("APIRESULT:")[0], \
            f"answer must echo the request: {a!r}\n{c.transcript()}"
        return a, encap_result(a)

    a, r = req("API_Start")
    assert r == "true", a
    c.wait_notification(kind("START", "api"), 5)
    # API_SetParameters: one BOFLINE per parameter
    a, r = req("API_SetParameters", [f"serveraddress=127.0.0.1:{kam.port}", "username=alice",
                                     f"password={ALICE_PW}", "loglevel=5"])
    assert r == "true", a
    a, r = req("API_SetParameter",
               [("param", "mediatimeout"), ("value", "0")] if named else ["mediatimeout", "0"])
    assert r == "true", a
    c.wait_notification(status_general("Registered"), 10)
    a, r = req("API_IsRegistered")
    assert r == "true", a
    new = wait_new_contacts(kam, "alice", before)
    assert new, kam.registrations()

    n0, m = len(bob.events), c.mark()
    a, r = req("API_Call", [("line", "-1"), ("peer", "bob")] if named else ["-1", "bob"])
    assert r == "true", a
    # APIREQUEST: API_Call RPARAM1:-1 RPARAM2:123456 APIRESULT:true
    assert re.search(r"RPARAM1:\s*-1\b", a) and re.search(r"RPARAM2:\s*bob\b", a), \
        f"the reference echoes the parameters as RPARAM1:-1 RPARAM2:<peer>: {a!r}"
    setup = c.wait_notification(status_line("CallSetup", peer="bob"), 5, since=m)
    line = setup.fields[1]
    c.wait_notification(status_line("CallConnect", line=line), 10, since=m)
    c.wait_notification(status_line(SPEAKING, line=line), 5, since=m)
    bob.wait_event("CALL_ESTABLISHED", 5, since=n0)
    a, r = req("API_IsInCall")
    assert r == "2", a
    time.sleep(1.0)

    m2 = c.mark()
    a, r = req("API_Hangup", [("line", "-1")] if named else [])
    assert r == "true", a
    c.wait_notification(status_line("CallDisconnect", line=line), 5, since=m2)
    cdr = c.wait_notification(kind("CDR"), 5, since=m2)
    check_cdr(cdr, line=line, peer="bob", caller="alice", called="bob", disparty="1",
              min_duration_ms=500)
    bob.wait_event("CALL_CLOSED", 5, since=n0)
    a, r = req("API_Stop")
    assert r == "true", a
    left = wait_contacts_gone(kam, "alice", new)
    assert not left, f"after API_Stop alice is still registered: {left}"
    assert c.bare_lf == 0, c.transcript()
    assert_notifications_well_formed(c)


def test_usage_flow_encapsulated_named(kam, bob, peers_ok, make_service):
    _encap_flow(kam, bob, make_service(), named=True)


def test_usage_flow_encapsulated_positional(kam, bob, peers_ok, make_service):
    _encap_flow(kam, bob, make_service(), named=False)


def test_encapsulated_answer_shape_for_int_and_string(make_service):
    """APIRESULT carries a number for int functions and the string for string functions."""
    svc = make_service()
    c = svc.client()
    a = c.call_encap("API_TestEx")
    assert encap_result(a) == "42", a
    a = c.call_encap("API_Test")
    assert encap_result(a) == "true", a
    a = c.call_encap("API_GetVersion")
    assert encap_result(a) and not encap_result(a).startswith("ERROR"), a
    # the API section's example: positional, no function= key, " \r\n" after EOFCOMMAND
    c.send_raw(b"BOFCOMMAND BOFLINE API_SetLine EOFLINE BOFLINE 2 EOFLINE EOFCOMMAND \r\n")
    assert encap_result(c.answer()) == "true"
    c.send_raw(encap("API_GetLine"))
    assert encap_result(c.answer()) == "2"


# ---- incoming call ---------------------------------------------------------------------------

def test_incoming_call_accept_remote_hangup(kam, bob, peers_ok, make_service):
    svc, c, new = _start_registered(make_service, kam)
    n0, m = len(bob.events), c.mark()
    assert bob.dial(kam.uri(user="alice"))["ok"]
    ring = c.wait_notification(status_line("Ringing", endpointtype="2"), 10, since=m)
    f = ring.fields
    line = f[1]
    assert "bob" in f[3] and f[4] == "alice", \
        f"incoming Ringing must carry peername bob, localname alice: {ring.body!r}"
    c.wait_notification(status_general("Incoming..."), 5, since=m)
    assert c.call("API_IsInCall") == "1", c.transcript()

    assert c.call("API_Accept,-1") == "OK: API_Accept succeed", c.transcript()
    c.wait_notification(status_line("CallConnect", line=line), 5, since=m)
    bob.wait_event("CALL_ESTABLISHED", 5, since=n0)
    c.wait_notification(status_general(IN_CALL), 5, since=m)
    assert c.call("API_IsInCall") == "2", c.transcript()
    time.sleep(1.0)

    m2 = c.mark()
    assert bob.hangup()["ok"]
    c.wait_notification(status_line("CallDisconnect", line=line), 5, since=m2)
    cdr = c.wait_notification(kind("CDR"), 5, since=m2)
    check_cdr(cdr, line=line, peer="bob", caller="bob", called="alice", disparty="2",
              min_duration_ms=500)
    assert c.call("API_IsInCall") == "0", c.transcript()
    assert_notifications_well_formed(c)


# ---- clean shutdown with a call up -----------------------------------------------------------

def test_sigterm_with_call_up_sends_bye_unregisters_exits_0(kam, bob, peers_ok, make_service):
    svc, c, new = _start_registered(make_service, kam)
    n0 = len(bob.events)
    _call_bob_connected(c, bob)
    rc = svc.terminate(10)
    assert rc == 0, f"exit code after SIGTERM: {rc}\n{svc.describe()}"
    assert "sipctl: stopped" in svc.stdout_text, svc.describe()
    bob.wait_event("CALL_CLOSED", 5, since=n0)   # got a BYE
    left = wait_contacts_gone(kam, "alice", new)
    assert not left, f"after SIGTERM alice is still registered: {left}"


def test_api_exit_with_call_up_sends_bye_unregisters_exits_0(kam, bob, peers_ok, make_service):
    svc, c, new = _start_registered(make_service, kam)
    n0 = len(bob.events)
    _call_bob_connected(c, bob)
    assert c.call("API_Exit") == "OK: API_Exit succeed", c.transcript()
    rc = svc.wait(10)
    assert rc == 0, f"exit code after API_Exit: {rc}\n{svc.describe()}"
    bob.wait_event("CALL_CLOSED", 5, since=n0)
    left = wait_contacts_gone(kam, "alice", new)
    assert not left, f"after API_Exit alice is still registered: {left}"
    assert c.wait_closed(5), "the API connection must close when the service exits"


# ---- notification classes --------------------------------------------------------------------

def test_event_notifications_by_default_and_no_log(kam, bob, peers_ok, make_service):
    """jsscriptevent defaults to 2: EVENT,TYPE,text notifications, no LOG ones."""
    svc, c, new = _start_registered(make_service, kam)
    time.sleep(0.3)
    events = c.find(kind("EVENT"))
    assert events, f"no EVENT notification during start-up and registration\n{c.transcript()}"
    for e in events:
        assert len(e.fields) >= 3 and e.fields[1] in ("EVENT", "WARNING", "ERROR"), \
            f"EVENT,TYPE,text with TYPE in EVENT/WARNING/ERROR: {e.body!r}"
    assert not c.find(kind("LOG")), f"LOG notifications need jsscriptevent=3: " \
                                    f"{c.find(kind('LOG'))[:3]}"


def test_log_notifications_carry_sip_messages_on_one_line(kam, bob, peers_ok, make_service):
    svc, c, new = _start_registered(make_service, kam, jsscriptevent=3, loglevel=3)
    time.sleep(0.3)
    logs = c.find(kind("LOG"))
    assert logs, f"jsscriptevent=3: no LOG notification\n{c.transcript()}"
    for n in logs:
        assert len(n.fields) >= 3 and re.fullmatch(r"[A-Z]+", n.fields[1]), \
            f"LOG,TYPE,text: {n.body!r}"
    sip = [n for n in logs if "REGISTER sip:" in n.body]
    assert sip, f"loglevel 3: the REGISTER should be logged: {[n.body[:80] for n in logs]}"
    assert " CRLF " in sip[0].body and "\r" not in sip[0].raw, \
        f"line breaks inside a LOG field are sent as ' CRLF ': {sip[0].raw[:300]!r}"


VAD_RE = re.compile(r"^VAD,local_vad: (ON|OFF) local_avg: \d+ local_max: \d+ "
                    r"local_speaking: (yes|no) remote_vad: (ON|OFF) remote_avg: \d+ "
                    r"remote_max: \d+ remote_speaking: (yes|no)$")


def test_vad_notifications_every_ival_during_call(kam, bob, peers_ok, make_service):
    svc, c, new = _start_registered(make_service, kam, vad=2, vadstat=3, vadstat_ival=300)
    _call_bob_connected(c, bob)
    m = c.mark()
    time.sleep(1.6)
    vads = c.find(lambda n: n.body.startswith("VAD,"), m)
    try:
        assert len(vads) >= 3, f"vadstat=3, vadstat_ival=300: {len(vads)} VAD in 1.6 s\n" \
                               f"{c.transcript()}"
        for n in vads:
            assert VAD_RE.match(n.body), f"VAD format (reference): {n.body!r}"
        gaps = sorted(b.t - a.t for a, b in zip(vads, vads[1:]))
        median = gaps[len(gaps) // 2]
        assert 0.15 < median < 0.6, f"VAD interval {median:.3f}s, expected ~0.3s: {gaps}"
        v = c.call("API_VAD")
        assert VAD_RE.match(v) or VAD_RE.match("VAD," + v), f"API_VAD -> {v!r}"
    finally:
        m2 = c.mark()
        c.call("API_Hangup")
        c.wait_notification(kind("CDR"), 5, since=m2)
