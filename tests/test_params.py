"""The parameter table and store (sipctl.params, sipctl.params_table, sipctl.param_crypto)."""
from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path

import pytest

from sipctl.accounts import RegistrationSettings, accounts_from_params
from sipctl.call_settings import CallSettings
from sipctl.errors import BadArgument
from sipctl.media.media_settings import MediaSettings
from sipctl.param_crypto import decode_value, encode_value
from sipctl.params import (Parameters, Problem, autocfg_can_load, autocfg_can_save,
                           check_file, parse_mparam)
from sipctl.params_table import ALIASES, PARAMS

DATA = Path(__file__).parent / "data" / "params"
REFERENCE = Path(os.environ.get("SIPCTL_REFERENCE",
                                "/work/shared/seeds/000_69854ef2a0edcf4b.txt"))
KEY = "h39idbfqw7116ghh"


# ------------------------------------------------------------------ table vs reference

@pytest.fixture(scope="module")
def reference() -> str:
    if not REFERENCE.is_file():
        pytest.skip(f"reference text not found at {REFERENCE} (set SIPCTL_REFERENCE)")
    return REFERENCE.read_text(encoding="utf-8")


def _section(text: str, name: str) -> str:
    """The reference's text under the parameter heading ``name`` (up to the next
    parameter heading)."""
    lines = text.splitlines()
    start = lines.index("Parameters", lines.index("Main Parameters") - 40)
    heads = set(PARAMS) | set(ALIASES)
    i = next(i for i in range(start, len(lines)) if lines[i].strip() == name)
    j = next((k for k in range(i + 1, len(lines)) if lines[k].strip() in heads), len(lines))
    return "\n".join(lines[i + 1:j])


# (name, our default, the phrase that documents it; None: in the parameter's own section)
SECTION_DEFAULTS = [
    ("register", 1, "Default value is 1."),
    ("jsscriptevent", 2, "Default is 2."),
    ("jsscriptpoll", -1, "Default is -1"),
    ("jsscripstats", 0, "Default is 0"),
    ("autocfgsave", 3, "Default is 3."),
    ("canlogtofile", True, "Default is true."),
    ("httpsessiontimeout", 3, "Default value is 3 minute."),
    ("loglevel", 1, "Default is 1."),
    ("logtoconsole", False, "Default is false."),
    ("wpapilistenport", 18522, "Default is: 18522"),
    ("wpapiconnectport", 19521, "Default is: 19521"),
    ("keepalivetype", 4, "Default is 4."),
    ("keepaliveival", 28000, "Default value is 28000."),
    ("registerinterval", 120, "Default value is 120."),
    ("transport", -1, "Default is -1."),
    ("use_g729", 2, "Default is 2"),
    ("use_pcmu", 1, "Default is 1"),
    ("use_pcma", 2, "Default is 2"),
    ("ringtimeout", 90000, "Default is 90000"),
    ("calltimeout", 10800000, "Default is 10800000"),
    ("mediatimeout", 300, "Default value is 300"),
    ("waitforunregister", 2000, "Default value is 2000."),
    ("transferdelay", 400, "Default value is 400."),
    ("voicerecordingbuff", -1, "Default is -1."),
    ("syncvoicerec", 2, "Default: 2"),
    ("strictsrtp", 1, "Default: 1"),
    ("volumein", 50, "Default is 50%"),
    ("dnslookup", 0, "Default value is 0."),
    ("favorizecontactaddr", 3, "3= yes. Sending for both server and contact URI (default)"),
    ("language", "en", "-en: english (default)"),
    ("sendmedia_type", 0, "Default is 0."),
    ("sendmediain_to", 0, "Default is 0 which means no streaming."),
    ("needunregister", True, "Default is true"),
    ("serveraddress", "", "Default value is empty."),
]
# defaults documented outside the parameter's own section
TEXT_DEFAULTS = [
    ("maxlines", 4, "`maxlines` parameter which is set to 4 by default"),
    ("vadstat", 1, "0=no,1=auto (default)"),
    ("vadstat_ival", 2000, "every 2000 milliseconds (2 seconds) by default"),
    ("presenceexpiresec", 3600, "presenceexpiresec = 3600"),
    ("autoacceptpresencerequests", -1, "autoacceptpresencerequests = -1"),
    ("streamsoundisrtp", -1, "`-1` to auto-guess raw PCM vs RTP (this is the default value)"),
    ("locale", "ENGLISH", "The default value is ENGLISH."),
    ("natopenpackettype", 1, "1 means short CRLF packet (default)"),
    ("registerintervalN", 3600, "(default is 3600 which means one hour)"),
]


@pytest.mark.parametrize("name,default,phrase", SECTION_DEFAULTS)
def test_default_matches_its_section(reference: str, name: str, default: object,
                                     phrase: str) -> None:
    assert PARAMS[name].default == default
    assert type(PARAMS[name].default) is type(default)
    assert phrase in _section(reference, name)


@pytest.mark.parametrize("name,default,phrase", TEXT_DEFAULTS)
def test_default_matches_reference_text(reference: str, name: str, default: object,
                                        phrase: str) -> None:
    assert PARAMS[name].default == default
    assert phrase in reference


def test_every_reference_heading_is_in_the_table(reference: str) -> None:
    # a heading: a lone identifier followed by its "(type)" line
    lines = [ln.strip() for ln in reference.splitlines() if ln.strip()]
    heads = {a for a, b in zip(lines, lines[1:])
             if re.fullmatch(r"[a-z_0-9]+", a) and re.fullmatch(r"\((string|number|boolean|"
                                                                 r"int|String)\)", b)}
    assert len(heads) > 140
    assert sorted(h for h in heads if h not in PARAMS) == []


def test_parameters_named_outside_the_list_are_in_the_table() -> None:
    named_in_text = ("vadstat vadstat_ival extraregisteraccounts changeaudiodevimmediate "
                     "translatemode locale useaudiodevicerecord realtimeplayback "
                     "playbacksteamformat streamsoundisrtp sendmedia_type sendmediain_to "
                     "sendmediaout_to sendmedia_line sendmedia_marks sendmedia_mode compact "
                     "jsscripstats jsscriptpoll jsscriptevent autoacceptpresencerequests "
                     "presenceexpiresec enablepresence email maxlines exitmethod stunserver "
                     "natopenpackettype serveraddressfirst autotransportdetect enablefallback "
                     "invrecorderoute cancloseaudioline singleaudiostream separatechatdiag "
                     "voicerecfilenameprefix httpproxyurl")
    assert [n for n in named_in_text.split() if n not in PARAMS] == []


def test_table_shape() -> None:
    for key, spec in PARAMS.items():
        assert key == spec.name
        assert spec.type in ("str", "int", "bool")
        assert isinstance(spec.default, {"str": str, "int": int, "bool": bool}[spec.type])
        assert spec.numbered == key.endswith("N") and (spec.numbered or key == key.lower())
        assert spec.doc and "\n" not in spec.doc and len(spec.doc) < 140
        if spec.choices is not None:
            assert spec.type == "int" and spec.default in spec.choices, key
    for alias, target in ALIASES.items():
        assert alias not in PARAMS and target in PARAMS
    assert {n for n, s in PARAMS.items() if s.ours} >= {"session_expires", "min_se",
                                                         "encryptionkey", "use_g722"}
    assert "apitoken" not in PARAMS
    assert PARAMS["signalingport"].live is False and PARAMS["loglevel"].live is True


# ------------------------------------------------------------------ the store

def test_lookup_case_aliases_numbered() -> None:
    p = Parameters()
    assert p.lookup("ServerAddress") is PARAMS["serveraddress"]
    assert p.lookup("jssevent") is PARAMS["jsscriptevent"]
    assert p.lookup("jscriptpoll") is PARAMS["jsscriptpoll"]
    assert p.lookup("username7") is PARAMS["usernameN"]
    assert p.lookup("REGISTERINTERVAL100") is PARAMS["registerintervalN"]
    assert p.lookup("username1") is None and p.lookup("username101") is None
    assert p.lookup("timer2") is PARAMS["timer2"]
    assert p.lookup("nosuchthing") is None


def test_set_get_typed_and_canonical() -> None:
    p = Parameters()
    assert p.get("loglevel") == 1 and not p.is_set("loglevel") and p.raw("loglevel") is None
    p.set("LogLevel", "+5")
    assert p.get("loglevel") == 5 and p.raw("loglevel") == "5"
    p.set("use_fast_stun", "-1")
    assert p.get("use_fast_stun") == -1
    for text, want in (("YES", "true"), ("On", "true"), ("1", "true"), ("off", "false"),
                       ("False", "false"), ("0", "false")):
        p.set("autoaccept", text)
        assert p.raw("autoaccept") == want
    p.set("jssevent", "3")
    assert p.explicit()["jsscriptevent"] == "3" and p.get("jsscriptevent") == 3
    p.set("username7", "bob")
    assert p.get("USERNAME7") == "bob" and p.get("username8") == ""
    assert p.get("registerinterval9") == 3600


def test_def_and_null() -> None:
    p = Parameters()
    p.set("transport", "1")
    p.set("transport", "DEF")
    assert not p.is_set("transport") and p.get("transport") == -1
    p.set("displayname", "Alice")
    p.set("displayname", "NULL")
    assert p.raw("displayname") == "" and p.is_set("displayname")
    p.set("mediatimeout", "10")
    p.set("mediatimeout", "null")
    assert not p.is_set("mediatimeout") and p.get("mediatimeout") == 300


def test_bad_values_name_the_parameter_and_change_nothing() -> None:
    p = Parameters()
    p.set("rtpport", "4000")
    with pytest.raises(BadArgument, match=r"rtpport.*integer.*'abc'"):
        p.set("rtpport", "abc")
    with pytest.raises(BadArgument, match="rtpport"):
        p.set("rtpport", "1.5")
    assert p.get("rtpport") == 4000
    with pytest.raises(BadArgument, match=r"autoaccept.*boolean.*'maybe'"):
        p.set("autoaccept", "maybe")
    with pytest.raises(BadArgument, match=r"register must be one of 0, 1, 2, got 3"):
        p.set("register", "3")
    assert not p.is_set("register") and not p.is_set("autoaccept")


def test_unknown_accepted_reported_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    p = Parameters()
    with caplog.at_level(logging.INFO, logger="sipctl.params"):
        assert p.set("MyOwnThing", "x") is None
        assert p.set("myownthing", "y") is None
    assert p.get("myownthing") == "y" and p.explicit()["myownthing"] == "y"
    assert p.unknown() == ["myownthing"]
    p.set("myownthing", "NULL")
    assert p.raw("myownthing") == ""
    p.set("myownthing", "DEF")
    assert not p.is_set("myownthing") and p.unknown() == ["myownthing"]
    msgs = [r.getMessage() for r in caplog.records if r.name == "sipctl.params"]
    assert msgs == ["unknown parameter 'myownthing' stored; sipctl does not use it"]


def test_two_stores_are_independent() -> None:
    a, b = Parameters(), Parameters()
    a.set("loglevel", "4")
    assert b.get("loglevel") == 1 and b.explicit() == {}


def test_set_many_crlf_and_errors() -> None:
    p = Parameters()
    body = ("serveraddress = sip.example.com\r\nusername=alice\r\n\r\n  password= s3=cr;t \r\n"
            "register=9\r\nnot a pair\nloglevel=5\n")
    errors = p.set_many(body)
    assert p.explicit() == {"serveraddress": "sip.example.com", "username": "alice",
                            "password": "s3=cr;t", "loglevel": "5"}
    assert len(errors) == 2
    assert errors[0].startswith("line 5:") and "register" in errors[0]
    assert errors[1] == "line 6: expected key=value, got 'not a pair'"


# ------------------------------------------------------------------ INI

def test_ini_round_trip_and_mode(tmp_path: Path) -> None:
    p = Parameters()
    p.set_many("serveraddress=sip.example.com\nusername=alice\npassword=p;a#ss word\n"
               "autoaccept=yes\nregister=2\ncustomsipheader=X-A: 1\r\nX-B: 2\n"
               "displayname=NULL\nsomethingelse=kept\nusername3=carol")
    p.set("customsipheader", "X-A: 1\r\nX-B: 2")
    p.set("techprefix", " 00 ")
    path = tmp_path / "wpcfg.ini"
    p.save_ini(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    q = Parameters()
    assert q.load_ini(path) == []
    assert q.explicit() == p.explicit()
    assert q.get("customsipheader") == "X-A: 1\r\nX-B: 2" and q.get("techprefix") == " 00 "
    assert [f for f in os.listdir(tmp_path)] == ["wpcfg.ini"]   # no temp file left


def test_ini_comments_sections_problems(tmp_path: Path) -> None:
    path = tmp_path / "wpcfg.ini"
    path.write_text("; comment\n# other comment\n[general]\nloglevel = 4\n\nnonsense\n"
                    "register=abc\n")
    p = Parameters()
    problems = p.load_ini(path)
    assert p.explicit() == {"loglevel": "4"}
    assert [pr.split(":")[1] for pr in problems] == ["6", "7"]
    assert "register" in problems[1]
    assert Parameters().load_ini(tmp_path / "missing.ini") == []
    assert p.source("loglevel") == "ini"


def test_autocfgsave_helpers() -> None:
    assert [v for v in range(-2, 4) if autocfg_can_load(v)] == [2, 3]
    assert [v for v in range(-2, 4) if autocfg_can_save(v)] == [1, 3]


# ------------------------------------------------------------------ x-mparam

def test_parse_mparam() -> None:
    assert parse_mparam("loglevel=5;aec=0") == [("loglevel", "5"), ("aec", "0")]
    assert parse_mparam("x-mparam=loglevel=5;aec=0") == [("loglevel", "5"), ("aec", "0")]
    assert parse_mparam("X-MParamP: loglevel = 5 ; ;junk; aec=0;") == [("loglevel", "5"),
                                                                     ("aec", "0")]


def test_apply_mparam_persistence(tmp_path: Path) -> None:
    p = Parameters()
    assert p.apply_mparam("loglevel=5;aec=9;jssevent=3", persist=False) == ["loglevel",
                                                                            "jsscriptevent"]
    assert p.get("loglevel") == 5 and not p.is_set("aec")
    assert p.apply_mparam("x-mparamp=voicemail=3", persist=True) == ["voicemail"]
    path = tmp_path / "wpcfg.ini"
    p.save_ini(path)
    q = Parameters()
    q.load_ini(path)
    assert q.explicit() == {"voicemail": "3"}   # plain x-mparam values do not persist


# ------------------------------------------------------------------ encrypted values

@pytest.mark.parametrize("method", [1, 3, 4])
def test_encrypted_round_trip(method: int) -> None:
    for plain in ("secret", "pässwörd;=,", ""):
        enc = encode_value(plain, method, KEY)
        assert enc.startswith(f"encrypted__{method}__") and (plain == "" or plain not in enc)
        assert decode_value(enc, KEY) == plain


def test_encrypted_known_vectors() -> None:
    assert decode_value("encrypted__4__c2VjcmV0", KEY) == "secret"
    # xor: 's' ^ 'h' = 0x1b, then base64
    assert encode_value("s", 3, KEY) == "encrypted__3__Gw=="
    assert decode_value("plain", KEY) == "plain"


def test_encrypted_errors() -> None:
    with pytest.raises(BadArgument, match=r"encrypted__2__ \(DES\) is not supported"):
        decode_value("encrypted__2__abcd", KEY)
    with pytest.raises(BadArgument, match="not valid base64"):
        decode_value("encrypted__4__@@@", KEY)
    with pytest.raises(BadArgument, match="unknown encryption method"):
        decode_value("encrypted__9__abc", KEY)


def test_store_decodes_encrypted_values_with_the_key() -> None:
    p = Parameters()
    p.set("password", encode_value("hunter2", 3, KEY))
    assert p.get("password") == "hunter2"
    p.set("encryptionkey", "otherkey")
    p.set("password2", encode_value("pw2", 1, "otherkey"))
    assert p.get("password2") == "pw2"
    p.set("loglevel", encode_value("4", 4, ""))
    assert p.get("loglevel") == 4
    with pytest.raises(BadArgument, match="parameter password3.*DES"):
        p.set("password3", "encrypted__2__xyz")


# ------------------------------------------------------------------ check_file

def test_check_file_reports_typos_and_bad_values() -> None:
    problems = check_file(DATA / "typo.ini")
    assert [(p.line, p.name) for p in problems] == [(3, "serveradress"), (6, "register"),
                                                    (7, "autoaccept"), (8, "")]
    assert "did you mean 'serveraddress'?" in problems[0].message
    assert "one of 0, 1, 2" in problems[1].message
    assert isinstance(problems[3], Problem) and "key=value" in problems[3].message


# ------------------------------------------------------------------ readers

def test_explicit_feeds_the_settings_readers() -> None:
    p = Parameters()
    p.set_many("serveraddress=sip.example.com:5070\nusername=alice\n"
               f"password={encode_value('pw', 3, KEY)}\nusername2=bob\n"
               "serveraddress2=other.example.com\nregisterinterval2=600\ntransport=1\n"
               "register=2\nneedunregister=no\nautoaccept=on\nringtimeout=+30000\n"
               "prack=yes\nrtcp=off\nrtpport=4000\nlocalip=10.0.0.5\njittersize=2\n"
               "samplerate=16000\nloglevel=5\nsession_expires=600")
    params = p.explicit()
    accounts = accounts_from_params(params)
    assert [(a.index, a.username, a.password, a.transport) for a in accounts] == [
        (1, "alice", "pw", 1), (2, "bob", None, 1)]
    assert accounts[1].register_interval == 600
    reg = RegistrationSettings.from_params(params)
    assert reg.register == 2 and reg.needunregister is False
    calls = CallSettings.from_params(params)
    assert calls.autoaccept is True and calls.ringtimeout == 30000 and calls.prack is True
    assert calls.session_expires == 600
    media = MediaSettings.from_params(params)
    assert (media.rtcp, media.rtpport, media.bind_address, media.jittersize, media.rate) == (
        False, 4000, "10.0.0.5", 2, 16000)
