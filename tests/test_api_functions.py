"""Every function of the reference's API section, over the ``sipctl serve`` TCP API.

The function list is parsed from the reference text itself (the Mizu VoIP SDK document in
/work/shared/seeds) at collection time, so a function the service misses fails here. Each is
called once with valid arguments and its answer checked against its documented return type:

- boolean: ``OK: API_X succeed`` / ``ERROR: API_X failed[: reason]``
- int: an integer; string: a line (several for list results); void: ``OK: API_X succeed``

Functions whose feature has not landed answer an ``ERROR:`` line containing
``not implemented yet``; the GUI-only ones an ``ERROR:`` naming the headless equivalent.
Then the behaviour the contract lists: line selection, blacklist round trip, registration
state, a call to baresip (status, in-call counters, DTMF, hold, mute, last call details),
an incoming call's caller id, API_Poll, parameters, logs and the device list.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import time
from pathlib import Path

import pytest

from api_client import (LINE_STATUS_TEXTS, ApiClient, bool_answer_re, encap_result, kind,
                        is_general_status_text, status_general, status_line)
from api_service import ApiService, make_service, module_service  # noqa: F401
from api_service import bob, dave, kam  # noqa: F401  (fixtures)
from peers import DEFAULT_USERS

pytestmark = pytest.mark.skipif(
    not all(shutil.which(b) for b in ("baresip", "kamailio", "kamcmd")),
    reason="baresip/kamailio not installed")

SEED = Path("/work/shared/seeds/000_69854ef2a0edcf4b.txt")

# ---- the reference's function list -----------------------------------------------------------

_SIG_RE = re.compile(r"\b(boolean|int|String|string|byte\[\]|void) (API_[A-Za-z0-9]+)\(([^)]*)\)")
# named in the text without a signature line of their own (the grep in the brief misses them)
EXTRA = ("API_SetCredentialsMD5", "API_CheckPresence", "API_SetPresenceStatus", "API_NewUser",
         "API_NumExists", "API_PushContactlist", "API_GetMediaEnd", "API_SaveFileRaw",
         "API_AudioDevice", "API_GetLineStatusText")


def _api_section(text: str) -> str:
    start = text.index("\nFunctions\n\nThe MVoIPSDK exposes")
    end = text.index("\nNotifications\n\nNotifications are received")
    return text[start:end]


def reference_functions() -> dict[str, tuple[str | None, list[tuple[str, str]]]]:
    """name -> (return type or None when undocumented, [(param type, param name)])."""
    section = _api_section(SEED.read_text(errors="replace"))
    funcs: dict[str, tuple[str | None, list[tuple[str, str]]]] = {}
    for rtype, name, params in _SIG_RE.findall(section):
        ps = [tuple(p.strip().rsplit(" ", 1)) for p in params.split(",") if p.strip()]
        funcs.setdefault(name, (rtype.lower(), ps))  # type: ignore[arg-type]
    for name in EXTRA:
        if name in section and name not in funcs:
            funcs[name] = (None, [])
    return funcs


FUNCS = reference_functions() if SEED.exists() else {}

# features not landed yet: an ERROR line with "not implemented yet"
NOT_IMPLEMENTED = {
    "API_Transfer", "API_Conf",                                            # transfer, conference
    "API_SendChat",                                                        # chat/IM
    "API_CheckPresence", "API_SetPresenceStatus", "API_NewUser", "API_NumExists",
    "API_PushContactlist",                                                 # presence
    "API_VoiceRecord", "API_PlaySound",                                    # recording, playback
    "API_StreamSoundBuff", "API_GetMedia", "API_GetMediaEnd",              # media streaming
    "API_AddVideo", "API_StopVideo",                                       # video
    "API_SetContacts", "API_GetContacts", "API_DelContact", "API_AddContact", "API_SetContact",
    "API_GetContact", "API_SetContactName", "API_SetContactSIP", "API_SetContactPhone",
    "API_SetContactSpeedDial", "API_GetContactName", "API_GetContactSIP",
    "API_GetContactPhone", "API_GetContactSpeedDial",                      # contacts
    "API_SaveFile", "API_LoadFile", "API_SaveFileRemote", "API_LoadFileRemote",
    "API_LoadFileRemoteSync", "API_SaveFileRaw",                           # files
    "API_HTTPGet", "API_HTTPPost", "API_HTTPReq", "API_HTTPReqAsync",      # HTTP
    "API_CheckVoicemail",                                                  # voicemail
}
# GUI-only: an ERROR line naming the headless equivalent (any of these)
GUI_ONLY = {
    "API_ShowLog": ("log",),                  # the log file / LOG notifications / loglevel
    "API_TransferDialog": ("API_Transfer",),
    "API_Chat": ("API_SendChat",),
    "API_AudioDevice": ("API_SetAudioDevice", "API_GetAudioDeviceList"),
}
# keep-alive of an HTTP session: either a real boolean or "not implemented yet"
EITHER = {"API_HTTPKeepAlive"}
# run on a service of their own
ISOLATED = {"API_Stop", "API_Exit"}

MD5 = hashlib.md5(b"carol:sipctl.test:carol-secret").hexdigest()

# valid arguments per function; "{peer}" = a baresip's URI, "{peer_hp}" its host:port,
# "{kam}" = Kamailio's host:port. A tuple value means: send it in the encapsulated
# (positional) framing, because a parameter contains commas.
ARGS: dict[str, list[str] | tuple[str, ...]] = {
    "API_SetParameter": ["mediatimeout", "0"],
    "API_SetParameters": ["loglevel=1 CRLF mediatimeout=0"],
    "API_SetCredentials": ["", "carol", "carol-secret", "", ""],
    "API_SetCredentialsMD5": ["", "carol", MD5, "sipctl.test"],
    "API_Start": [], "API_StartStack": [],
    "API_Register": ["", "", "", "", ""],
    "API_RegisterEx": ("{kam},carol,carol-secret,3600;",),
    "API_Unregister": [],
    "API_CheckVoicemail": ["-1"],
    "API_SetLine": ["1"], "API_GetLine": [],
    "API_GetLineStatus": ["-1"], "API_GetLineStatusText": ["-1"],
    "API_Call": ["-1", "{peer}"], "API_CallEx": ["-1", "{peer}", "0"],
    "API_Hangup": ["-1"], "API_Accept": ["-1"], "API_Reject": ["-1"],
    "API_Forward": ["-1", "{peer}"], "API_Transfer": ["-1", "{peer}"],
    "API_TransferDialog": [],
    "API_AddVideo": ["-1", "1"], "API_StopVideo": ["-1"],
    "API_MuteEx": ["-1", "true", "0"], "API_IsMuted": ["-1"], "API_IsOnHold": ["-1"],
    "API_Hold": ["-1", "true"], "API_HoldChange": ["-1"],
    "API_Conf": ["{peer}"], "API_Dtmf": ["-1", "1"],
    "API_SendChat": ["-1", "{peer}", "hello"], "API_Chat": ["{peer}"],
    "API_VoiceRecord": ["1", "0", ""],
    "API_PlaySound": ["1", "mysound.wav", "0", "false", "true", "false", "-1", "", "false"],
    "API_StreamSoundBuff": ["1", "-1", "AAAAAAAA", "6"], "API_GetMedia": ["0"],
    "API_GetMediaEnd": [],
    "API_GetAudioDeviceList": ["0"], "API_GetAudioDevice": ["0"],
    "API_SetAudioDevice": ["0", "Default", "0"], "API_AudioDevice": [],
    "API_SetVolume": ["1", "50"], "API_GetVolume": ["1"],
    "API_VAD": [], "API_GetVersion": [], "API_GetStatus": ["-2", "0"], "API_Poll": [],
    "API_SetContacts": (",John,john,,,,,,,,,,,",), "API_GetContacts": [],
    "API_DelContact": ["John"], "API_AddContact": (",John,john,",),
    "API_SetContact": ("John", ",John,john,"), "API_GetContact": ["John"],
    "API_SetContactName": ["John", "Johnny"], "API_SetContactSIP": ["John", "john"],
    "API_SetContactPhone": ["John", "123"], "API_SetContactSpeedDial": ["John", "1"],
    "API_GetContactName": ["John"], "API_GetContactSIP": ["John"],
    "API_GetContactPhone": ["John"], "API_GetContactSpeedDial": ["John"],
    "API_CheckPresence": ["bob"], "API_SetPresenceStatus": ["Online"],
    "API_NewUser": ["bob"], "API_NumExists": [], "API_PushContactlist": ["bob"],
    "API_Test": [], "API_TestEx": [], "API_HTTPKeepAlive": [],
    "API_ServerInit": ["127.0.0.1"], "API_Stop": [], "API_Exit": [],
    "API_CapabilityRequest": ["{peer_hp}", ""],
    "API_SetSIPHeader": ["-1", "X-Conformance: 1"], "API_GetSIPHeader": ["-1", "X-Conformance"],
    "API_SendSIP": ("OPTIONS {peer} SIP/2.0\r\nMax-Forwards: 70\r\nTo: <{peer}>\r\n"
                    "From: <sip:conformance@127.0.0.1>;tag=c1\r\nCall-ID: conformance-1\r\n"
                    "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",),
    "API_GetLastRecSIPMessage": ["-1"],
    "API_IsOnline": [], "API_IsRegistered": [], "API_IsInCall": [],
    "API_GetCurrentConnectedCallCount": [], "API_GetRegFailReason": ["false"],
    "API_GetCallerID": ["-1"], "API_GetIncomingDisplay": ["-1"],
    "API_GetLastCallDetails": [], "API_ShowLog": [], "API_AddLog": ["conformance test line"],
    "API_HTTPGet": ["http://127.0.0.1:9/"], "API_HTTPPost": ["http://127.0.0.1:9/", "x"],
    "API_HTTPReq": ["http://127.0.0.1:9/", ""], "API_HTTPReqAsync": ["http://127.0.0.1:9/", ""],
    "API_SaveFile": ["conformance.txt", "x"], "API_LoadFile": ["conformance.txt"],
    "API_SaveFileRemote": ["conformance.txt", "x"], "API_LoadFileRemote": ["conformance.txt"],
    "API_LoadFileRemoteSync": ["conformance.txt"], "API_SaveFileRaw": ["conformance.txt", "x"],
    "API_GetBlacklist": [], "API_SetBlacklist": ["111"], "API_AddToBlacklist": ["222"],
}


def _default_args(params: list[tuple[str, str]]) -> list[str]:
    """Arguments from the signature, for a function not in ARGS."""
    out = []
    for typ, name in params:
        if typ == "int":
            out.append("-1" if name == "line" else "0")
        elif typ == "boolean":
            out.append("false")
        else:
            out.append("x")
    return out


# ---- peers and services ----------------------------------------------------------------------







@pytest.fixture(scope="module")
def svc(request, tmp_path_factory) -> ApiService:
    """A service with no SIP server configured (functions called one by one)."""
    return module_service(request, tmp_path_factory, name="functions")


@pytest.fixture(scope="module")
def fc(svc) -> ApiClient:
    c = svc.client("functions")
    assert c.call("API_Start") == "OK: API_Start succeed", c.transcript()
    c.wait_notification(kind("START", "api"), 5)
    return c


@pytest.fixture(scope="module")
def phone(request, tmp_path_factory, kam, bob):
    """A service registered at Kamailio as alice; its client."""
    s = module_service(request, tmp_path_factory, name="alice",
                       params={"serveraddress": f"127.0.0.1:{kam.port}", "username": "alice",
                               "password": DEFAULT_USERS["alice"], "mediatimeout": 0})
    c = s.client("alice")
    assert c.call("API_Start") == "OK: API_Start succeed", c.transcript()
    c.wait_notification(status_general("Registered"), 10)
    return c


def _idle(c: ApiClient, timeout: float = 5.0) -> None:
    """Hang up everything on the service and wait until API_IsInCall is 0."""
    if c.call("API_IsInCall") != "0":
        c.call("API_Hangup,-2")
        deadline = time.monotonic() + timeout
        while c.call("API_IsInCall") != "0":
            assert time.monotonic() < deadline, f"calls not ended\n{c.transcript()}"
            time.sleep(0.1)


# ---- the list itself -------------------------------------------------------------------------

def test_reference_function_list_parsed():
    assert len(FUNCS) >= 95, sorted(FUNCS)
    for name in EXTRA + ("API_Call", "API_Poll", "API_AddToBlacklist", "API_GetMedia"):
        assert name in FUNCS, name
    assert FUNCS["API_TestEx"][0] == "int" and FUNCS["API_AddLog"][0] == "void"
    assert FUNCS["API_GetLineStatusText"][0] == "string"
    assert FUNCS["API_SetCredentialsMD5"][0] == "boolean"
    assert FUNCS["API_GetMedia"][0] == "byte[]"


# ---- every function answers in its documented format -----------------------------------------

def _format_problem(name: str, rtype: str | None, lines: list[str]) -> str | None:
    """None if ``lines`` (the answer) fits ``name``'s documented answer, else why not."""
    if not lines:
        return "no answer line at all"
    first = lines[0]
    if name in NOT_IMPLEMENTED or (name in EITHER and "not implemented" in first):
        if len(lines) != 1 or not first.startswith("ERROR:") or "not implemented yet" not in first:
            return "expected one ERROR: line containing 'not implemented yet'"
        return None
    if name in GUI_ONLY:
        rest = first.replace(name, "")
        if len(lines) != 1 or not first.startswith("ERROR:") or \
                not any(re.search(re.escape(eq), rest, re.I) for eq in GUI_ONLY[name]):
            return f"expected one ERROR: line naming the headless equivalent {GUI_ONLY[name]}"
        return None
    if re.search(r"(?i)unknown (function|command)|not implemented|not supported", first):
        return "a documented function must not be unknown/unimplemented"
    if rtype == "boolean":
        if len(lines) != 1 or not bool_answer_re(name).match(first):
            return f"boolean: expected 'OK: {name} succeed' or 'ERROR: {name} failed[: why]'"
    elif rtype == "int":
        if len(lines) != 1 or not re.fullmatch(r"-?\d+", first):
            return "int: expected one integer line"
    elif rtype == "void":
        if lines != [f"OK: {name} succeed"]:
            return f"void: expected 'OK: {name} succeed'"
    elif rtype in ("string",):
        pass   # any line(s); an "ERROR: ..." string is a documented result for some
    else:
        return f"undocumented return type {rtype!r} and not in a known category"
    return None


def _encap_problem(name: str, rtype: str | None, answer: str) -> str | None:
    try:
        r = encap_result(answer)
    except AssertionError as e:
        return str(e)
    if name in NOT_IMPLEMENTED:
        return None if r.startswith("ERROR:") and "not implemented yet" in r else \
            "expected APIRESULT:ERROR: ... not implemented yet"
    if r.startswith("ERROR:"):   # the contract's encapsulated error: APIRESULT:ERROR: <reason>
        return None if not re.search(r"(?i)unknown (function|command)|not implemented", r) \
            else "a documented function must not be unknown/unimplemented"
    if rtype == "boolean" and r not in ("true", "false"):
        return "boolean: expected APIRESULT:true/false (or APIRESULT:ERROR: reason)"
    if rtype == "int" and not re.fullmatch(r"-?\d+", r):
        return "int: expected APIRESULT:<integer>"
    return None


def _subst(a: str, dave, kam) -> str:
    return (a.replace("{peer}", dave.uri).replace("{peer_hp}", f"127.0.0.1:{dave.sip_port}")
            .replace("{kam}", f"127.0.0.1:{kam.port}"))


@pytest.mark.parametrize("name", [n for n in FUNCS if n not in ISOLATED])
def test_function_answers_in_documented_format(name, fc, dave, kam):
    rtype, params = FUNCS[name]
    spec = ARGS.get(name, _default_args(params))
    try:
        if isinstance(spec, tuple):   # encapsulated: a parameter contains commas or CRLF
            args = [_subst(a, dave, kam) for a in spec]
            answer = fc.call_encap(name, args)
            problem = _encap_problem(name, rtype, answer)
            sent, got = f"BOFCOMMAND ... {name} ... {args!r}", [answer]
        else:
            args = [_subst(a, dave, kam) for a in spec]
            sent = ",".join([name, *args])
            got = fc.call_multi(sent)
            problem = _format_problem(name, rtype, got)
        assert problem is None, (f"{name} ({rtype or 'no documented type'}): {problem}\n"
                                 f"  sent: {sent!r}\n  got:  {got!r}\n{fc.transcript(20)}")
    finally:
        if name in ("API_Call", "API_CallEx"):
            time.sleep(0.5)
        _idle(fc)


def test_api_stop_keeps_service_running(make_service):
    svc = make_service()
    c = svc.client()
    assert c.call("API_Start") == "OK: API_Start succeed"
    assert c.call("API_Stop") == "OK: API_Stop succeed", c.transcript()
    assert c.call("API_TestEx") == "42", c.transcript()
    assert svc.alive()


def test_api_exit_ends_service_with_0(make_service):
    svc = make_service()
    c = svc.client()
    assert c.call("API_Exit") == "OK: API_Exit succeed", c.transcript()
    assert svc.wait(10) == 0, svc.describe()
    assert c.wait_closed(5), c.transcript()


# ---- behaviour --------------------------------------------------------------------------------

def test_test_and_testex(fc):
    assert fc.call("API_Test") == "OK: API_Test succeed"
    assert fc.call("API_TestEx") == "42"


def test_setline_getline(fc):
    assert fc.call("API_SetLine,2") == "OK: API_SetLine succeed"
    assert fc.call("API_GetLine") == "2", fc.transcript()
    # the reference's simple-format example has spaces around the values: "API_Call,-1, 123456 "
    assert fc.call("API_SetLine, 3 ") == "OK: API_SetLine succeed"
    assert fc.call("API_GetLine") == "3", fc.transcript()
    assert fc.call("API_SetLine,1") == "OK: API_SetLine succeed"
    assert fc.call("API_GetLine") == "1", fc.transcript()


def test_blacklist_round_trip(fc):
    # the list is comma separated, so it goes in the encapsulated framing
    assert encap_result(fc.call_encap("API_SetBlacklist", ["111,222"])) == "true"
    got = fc.call("API_GetBlacklist")
    assert sorted(x.strip() for x in got.split(",") if x.strip()) == ["111", "222"], got
    assert fc.call("API_AddToBlacklist,333") == "OK: API_AddToBlacklist succeed"
    got = fc.call("API_GetBlacklist")
    assert sorted(x.strip() for x in got.split(",") if x.strip()) == ["111", "222", "333"], got
    assert fc.call("API_SetBlacklist,") == "OK: API_SetBlacklist succeed"
    assert fc.call("API_GetBlacklist") == "", fc.transcript()


def test_getversion(fc):
    v = fc.call("API_GetVersion")
    assert v.strip() and not v.startswith("ERROR"), v


def test_getstatus_general_and_strict(fc):
    s = fc.call("API_GetStatus,-2,0")
    assert is_general_status_text(s), f"API_GetStatus,-2,0 -> {s!r}: not a general status text"
    s = fc.call("API_GetStatus,3,1")
    assert s == "Unknown", f"API_GetStatus,3,1 (strict, no such line) -> {s!r}"


def test_setparameter_bad_int_names_parameter(fc):
    a = fc.call("API_SetParameter,mediatimeout,abc")
    assert a.startswith("ERROR: API_SetParameter failed") and "mediatimeout" in a, a
    assert fc.call("API_SetParameter,mediatimeout,0") == "OK: API_SetParameter succeed"


def test_addlog_reaches_the_log(make_service):
    # the reference: with loglevel > 3 the log goes to a file (canlogtofile: 2 or more);
    # loglevel is preset at start ("some parameters take effect only when reinitialized")
    svc = make_service(params={"loglevel": 4})
    fc = svc.client()
    marker = f"conformance-marker-{time.time_ns()}"
    assert fc.call(f"API_AddLog,{marker}") == "OK: API_AddLog succeed"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for p in svc.files():
            try:
                if marker in p.read_text(errors="replace"):
                    return
            except OSError:
                pass
        time.sleep(0.2)
    raise AssertionError(f"API_AddLog text (--param loglevel=4) not found in the workdir "
                         f"files {[str(p) for p in svc.files()]}")


def test_audio_device_list_has_null_device(fc):
    lines = fc.call_multi("API_GetAudioDeviceList,0")
    assert lines and any("null" in x.lower() for x in lines), lines
    assert not lines[0].startswith("ERROR"), lines


def test_poll_returns_accumulated_notifications(make_service):
    svc = make_service(params={"jsscriptpoll": 1})
    c = svc.client()
    assert c.call("API_Start") == "OK: API_Start succeed"
    time.sleep(1.0)
    lines = c.call_multi("API_Poll")
    assert any(re.fullmatch(r"START,api(,NEOL)?", x) for x in lines), \
        f"API_Poll with jsscriptpoll=1 should return START,api: {lines!r}\n{c.transcript()}"
    again = c.call_multi("API_Poll")
    assert not any(x.startswith("START,api") for x in again), \
        f"a second API_Poll returns only what accumulated since the first: {again!r}"


def test_isregistered_false_then_true_regfailreason(make_service, kam):
    svc = make_service()
    c = svc.client()
    assert c.call("API_Start") == "OK: API_Start succeed"
    assert c.call("API_IsRegistered") == "ERROR: API_IsRegistered failed", c.transcript()
    m = c.mark()
    a = c.call(f"API_Register,127.0.0.1:{kam.port},carol,wrong-password,,")
    assert bool_answer_re("API_Register").match(a), a
    c.wait_notification(status_general("Register Failed"), 10, since=m)
    assert c.call("API_IsRegistered") == "ERROR: API_IsRegistered failed"
    why = c.call("API_GetRegFailReason,true")
    assert why.strip(), "API_GetRegFailReason after a failed registration is empty"
    m = c.mark()
    a = c.call(f"API_Register,127.0.0.1:{kam.port},carol,{DEFAULT_USERS['carol']},,")
    assert a == "OK: API_Register succeed", c.transcript()
    c.wait_notification(status_general("Registered"), 10, since=m)
    assert c.call("API_IsRegistered") == "OK: API_IsRegistered succeed", c.transcript()
    assert c.call("API_Unregister") == "OK: API_Unregister succeed"
    deadline = time.monotonic() + 5
    while c.call("API_IsRegistered") != "ERROR: API_IsRegistered failed":
        assert time.monotonic() < deadline, c.transcript()
        time.sleep(0.1)


def test_call_state_functions_during_call_to_baresip(phone, bob):
    c = phone
    _idle(c)
    n0, m = len(bob.events), c.mark()
    assert c.call("API_Call,-1,bob") == "OK: API_Call succeed", c.transcript()
    c.wait_notification(status_line("CallConnect"), 10, since=m)
    bob.wait_event("CALL_ESTABLISHED", 5, since=n0)
    try:
        assert c.call("API_IsInCall") == "2", c.transcript()
        assert c.call("API_GetCurrentConnectedCallCount") == "1", c.transcript()
        text = c.call("API_GetLineStatusText,-1")
        assert text in ("Speaking", "InCall", "CallConnect", "Midcall"), \
            f"API_GetLineStatusText,-1 during a call -> {text!r}"
        assert re.fullmatch(r"\d+", c.call("API_GetLineStatus,-1")), c.transcript()
        s = c.call("API_GetStatus,-1,1")
        assert s in LINE_STATUS_TEXTS and s in ("Speaking", "InCall", "CallConnect", "Midcall"), s
        g = c.call("API_GetStatus,-2,0")
        assert re.fullmatch(r"In Call \(\d+ sec\)\.?", g), f"API_GetStatus,-2,0 -> {g!r}"
        assert "bob" in c.call("API_GetCallerID,-1"), c.transcript()

        # DTMF: baresip reports each digit it receives
        n1 = len(bob.events)
        assert c.call("API_Dtmf,-1,12#") == "OK: API_Dtmf succeed", c.transcript()
        deadline = time.monotonic() + 5
        while True:
            digits = [e.get("param") for e in bob.events[n1:]
                      if e.get("type") == "CALL_DTMF_START"]
            if len(digits) >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert digits == ["1", "2", "#"], f"baresip received DTMF {digits}"

        # mute: direction 2 = mute in (microphone) -> API_IsMuted 3
        assert c.call("API_MuteEx,-1,true,2") == "OK: API_MuteEx succeed", c.transcript()
        assert c.call("API_IsMuted,-1") == "3", c.transcript()
        assert c.call("API_MuteEx,-1,false,0") == "OK: API_MuteEx succeed"
        assert c.call("API_IsMuted,-1") == "0", c.transcript()

        # hold / reload
        m = c.mark()
        assert c.call("API_Hold,-1,true") == "OK: API_Hold succeed", c.transcript()
        c.wait_notification(status_line("Hold"), 5, since=m)
        _wait_answer(c, "API_IsOnHold,-1", "2")
        # at once: a hold change still under way is waited for, not refused
        m = c.mark()
        assert c.call("API_HoldChange,-1") == "OK: API_HoldChange succeed", c.transcript()
        c.wait_notification(status_line(("Speaking", "InCall")), 5, since=m)
        _wait_answer(c, "API_IsOnHold,-1", "0")
        assert c.call("API_IsInCall") == "2"
    finally:
        m = c.mark()
        c.call("API_Hangup,-1")
    c.wait_notification(kind("CDR"), 5, since=m)
    details = c.call("API_GetLastCallDetails")
    assert details.strip() and "bob" in details and not details.startswith("ERROR"), \
        f"API_GetLastCallDetails after the call -> {details!r}"
    assert c.call("API_IsInCall") == "0"
    assert c.call("API_GetCurrentConnectedCallCount") == "0"


def _wait_answer(c: ApiClient, cmd: str, want: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        got = c.call(cmd)
        if got == want:
            return
        assert time.monotonic() < deadline, f"{cmd} -> {got!r}, expected {want!r}\n" \
                                            f"{c.transcript(30)}"
        time.sleep(0.1)


def test_incoming_call_caller_id_and_reject(phone, bob, kam):
    c = phone
    _idle(c)
    n0, m = len(bob.events), c.mark()
    assert bob.dial(kam.uri(user="alice"))["ok"]
    ring = c.wait_notification(status_line("Ringing", endpointtype="2"), 10, since=m)
    line = ring.fields[1]
    assert c.call("API_IsInCall") == "1", c.transcript()
    assert "bob" in c.call(f"API_GetCallerID,{line}"), c.transcript()
    disp = c.call_multi(f"API_GetIncomingDisplay,{line}")
    assert disp and "bob" in disp[0], disp
    assert c.call(f"API_Reject,{line}") == "OK: API_Reject succeed", c.transcript()
    bob.wait_event("CALL_CLOSED", 5, since=n0)
    cdr = c.wait_notification(kind("CDR"), 5, since=m)
    f = cdr.fields
    assert len(f) >= 10 and f[7] == "0" and f[8] == "1", \
        f"CDR of a rejected call: duration 0 (not connected), disparty 1 (us): {cdr.body!r}"


def test_call_to_unknown_user_fails_with_cdr(phone):
    """Kamailio answers 404 for a user with no binding: the call ends, CDR duration 0,
    disconnected by the peer side, the reason naming the failure."""
    c = phone
    _idle(c)
    m = c.mark()
    assert c.call("API_Call,-1,nobody") == "OK: API_Call succeed", c.transcript()
    c.wait_notification(status_line("CallDisconnect", peer="nobody"), 10, since=m)
    cdr = c.wait_notification(kind("CDR"), 5, since=m)
    f = cdr.fields
    assert len(f) >= 10 and f[7] == "0" and f[8] == "2" and "404" in ",".join(f[9:]), \
        f"CDR of a call answered 404: duration 0, disparty 2, reason with 404: {cdr.body!r}"
    assert c.call("API_IsInCall") == "0"


def test_vad_function_format(fc):
    v = fc.call("API_VAD")
    assert re.search(r"local_vad: (ON|OFF) local_avg: \d+ .*remote_speaking: (yes|no)", v), v


def test_registerex_registers_a_secondary_account(make_service, kam):
    from api_service import registered_contacts, wait_contacts_gone, wait_new_contacts
    before = registered_contacts(kam, "carol")
    svc = make_service()
    c = svc.client()
    assert c.call("API_Start") == "OK: API_Start succeed"
    a = c.call_encap("API_RegisterEx",
                     [f"127.0.0.1:{kam.port},carol,{DEFAULT_USERS['carol']},300;"])
    assert encap_result(a) == "true", c.transcript()
    new = wait_new_contacts(kam, "carol", before, timeout=10)
    assert new, f"API_RegisterEx: no carol binding at Kamailio {kam.registrations()}\n" \
                f"{c.transcript()}"
    assert svc.terminate(10) == 0
    assert not wait_contacts_gone(kam, "carol", new), "carol still registered after SIGTERM"


def test_two_calls_on_two_lines_hangup_all(phone, bob, dave):
    """A second call while the first is up goes to a new line (the reference: the active line
    switches to a free one); API_IsOnHold,-2 looks at every line; API_Hangup,-2 ends both."""
    c = phone
    _idle(c)
    nb, nd, m = len(bob.events), len(dave.events), c.mark()
    assert c.call("API_Call,-1,bob") == "OK: API_Call succeed", c.transcript()
    first = c.wait_notification(status_line("CallConnect", peer="bob"), 10, since=m)
    bob.wait_event("CALL_ESTABLISHED", 5, since=nb)
    try:
        assert c.call(f"API_Call,-1,{dave.uri}") == "OK: API_Call succeed", c.transcript()
        second = c.wait_notification(status_line("CallConnect", peer="dave"), 10, since=m)
        dave.wait_event("CALL_ESTABLISHED", 5, since=nd)
        assert first.fields[1] != second.fields[1], f"same line: {first} {second}"
        assert c.call("API_GetLine") == second.fields[1], c.transcript()
        assert c.call("API_GetCurrentConnectedCallCount") == "2", c.transcript()
        assert c.call("API_IsOnHold,-2") == "0", c.transcript()
        assert c.call(f"API_Hold,{first.fields[1]},true") == "OK: API_Hold succeed"
        _wait_answer(c, "API_IsOnHold,-2", "2")
        assert c.call(f"API_IsOnHold,{second.fields[1]}") == "0", c.transcript()
        time.sleep(0.5)
    finally:
        m2 = c.mark()
        assert c.call("API_Hangup,-2") == "OK: API_Hangup succeed", c.transcript()
    c.wait_notification(kind("CDR", first.fields[1]), 5, since=m2)
    c.wait_notification(kind("CDR", second.fields[1]), 5, since=m2)
    bob.wait_event("CALL_CLOSED", 5, since=nb)
    dave.wait_event("CALL_CLOSED", 5, since=nd)
    assert c.call("API_GetCurrentConnectedCallCount") == "0", c.transcript()
