"""The TCP API command table and binding: every reference function is present with its
documented signature, arguments bind in all three request forms, and dispatch formats
results and errors (a unit test of the adapter; the real Phone is tested elsewhere)."""
import asyncio
import logging
import re
from pathlib import Path

import pytest

from sipctl.api.commands import (COMMANDS, REQUIRED, ApiFunction, Param, bind, dispatch, find,
                                 is_known)
from sipctl.api.framing import ApiDecoder, ApiRequest, encode_bytes
from sipctl.errors import BadArgument, NoSuchLine

SEED = Path("/work/shared/seeds/000_69854ef2a0edcf4b.txt")

# the Phone method names, as agreed with the Phone's authors
METHODS = """set_parameter set_parameters set_credentials set_credentials_md5 start start_stack
register register_ex unregister check_voicemail set_line get_line get_line_status
get_line_status_text call call_ex hangup accept reject forward transfer transfer_dialog
add_video stop_video mute_ex is_muted is_on_hold hold hold_change conf dtmf send_chat chat
voice_record play_sound stream_sound_buff stream_sound_stream get_media get_media_end
send_video_rtp get_audio_device_list get_audio_device set_audio_device set_volume get_volume
audio_device vad get_version get_status poll set_contacts get_contacts del_contact add_contact
set_contact get_contact set_contact_name set_contact_sip set_contact_phone
set_contact_speed_dial get_contact_name get_contact_sip get_contact_phone
get_contact_speed_dial push_contactlist num_exists check_presence set_presence_status new_user
test test_ex http_keep_alive server_init stop exit capability_request set_sip_header
get_sip_header send_sip get_last_rec_sip_message is_online is_registered is_in_call
get_current_connected_call_count get_reg_fail_reason get_caller_id get_incoming_display
get_last_call_details show_log add_log http_get http_post http_req http_req_async save_file
save_file_raw load_file save_file_remote load_file_remote load_file_remote_sync get_blacklist
set_blacklist add_to_blacklist""".split()

TYPES = {"boolean": "bool", "int": "int", "String": "str", "string": "str", "byte[]": "bytes",
         "void": "void"}


def req(name, *args, form="simple", named=False):
    return ApiRequest(form, name, tuple(args), named, name)


def parse(data: bytes) -> ApiRequest:
    d = ApiDecoder(known=is_known)
    (r,) = d.feed(data) + d.eof()
    return r


# -- the table -------------------------------------------------------------------------------

def reference_signatures():
    text = SEED.read_text()
    sigs = re.findall(r"^(boolean|int|String|string|byte\[\]|void) (API_[A-Za-z]+)\(([^)]*)\)",
                      text, re.M)
    assert len(sigs) > 80
    return sigs


@pytest.mark.skipif(not SEED.exists(), reason="reference text not available")
def test_every_documented_signature_is_in_the_table():
    for ret, name, plist in reference_signatures():
        fn = COMMANDS[name]
        assert fn.returns == TYPES[ret], name
        want = [(TYPES[t], n) for t, n in (p.split() for p in plist.split(",") if p.strip())]
        if name == "API_GetLastRecSIPMessage":
            assert want == [("str", "line")]
        assert [(p.type, p.name) for p in fn.params] == want, name


def test_functions_mentioned_without_signature():
    sig = {n: [(p.type, p.name) for p in COMMANDS[n].params] for n in COMMANDS}
    assert sig["API_AudioDevice"] == []
    assert sig["API_CheckPresence"] == [("str", "userlist")]
    assert sig["API_GetMediaEnd"] == []
    assert sig["API_NewUser"] == [("str", "username")]
    assert sig["API_NumExists"] == [("str", "userlist")]
    assert sig["API_PushContactlist"] == [("str", "list")]
    assert sig["API_SaveFileRaw"] == [("str", "filename"), ("str", "content")]
    assert sig["API_SendVideoRTP"] == [("int", "line"), ("bytes", "buff"), ("int", "len")]
    assert sig["API_SetCredentialsMD5"] == [("str", "server"), ("str", "username"),
                                            ("str", "md5"), ("str", "realm")]
    assert sig["API_SetPresenceStatus"] == [("str", "status")]
    assert sig["API_StreamSoundStream"] == [("int", "start"), ("int", "line"), ("str", "stream")]
    assert sig["API_GetLineStatusText"] == [("int", "line")]
    assert COMMANDS["API_GetLineStatusText"].returns == "str"
    assert COMMANDS["API_GetLineStatus"].returns == "int"


def test_method_names_are_the_agreed_ones_valid_and_unique():
    methods = [fn.method for fn in COMMANDS.values()]
    assert all(m.isidentifier() and m == m.lower() for m in methods)
    assert len(set(methods)) == len(methods) == len(COMMANDS)
    assert sorted(methods) == sorted(METHODS)
    assert COMMANDS["API_GetLastRecSIPMessage"].method == "get_last_rec_sip_message"
    assert COMMANDS["API_SetCredentialsMD5"].method == "set_credentials_md5"
    assert COMMANDS["API_HTTPKeepAlive"].method == "http_keep_alive"


def test_table_keys_and_types():
    assert len(COMMANDS) == 103
    for name, fn in COMMANDS.items():
        assert isinstance(fn, ApiFunction) and fn.name == name and name.startswith("API_")
        assert fn.returns in {"bool", "int", "str", "void", "bytes"}
        for p in fn.params:
            assert isinstance(p, Param) and p.type in {"int", "str", "bool", "bytes"}
        if fn.multiline:
            assert fn.params[-1].type == "str"


def test_multiline_functions():
    assert {n for n, f in COMMANDS.items() if f.multiline} == {
        "API_SetParameters", "API_SetContacts", "API_SetSIPHeader", "API_SendChat",
        "API_SendSIP", "API_SaveFile", "API_SaveFileRemote", "API_SaveFileRaw"}


def test_find_is_case_insensitive():
    assert find("api_call") is COMMANDS["API_Call"]
    assert find("API_CALL") is COMMANDS["API_Call"]
    assert find("API_Nope") is None and find("Call") is None
    assert is_known("api_setparameters") and not is_known("API_StartAPI_Stop")


def test_defaults():
    def defaults(name):
        return {p.name: p.default for p in COMMANDS[name].params}
    assert defaults("API_Call") == {"line": -1, "peer": ""}
    assert defaults("API_MuteEx") == {"line": -1, "mute": True, "direction": 4}
    assert defaults("API_Hold") == {"line": -1, "hold": True}
    assert defaults("API_GetStatus") == {"line": -1, "strict": 0}
    assert defaults("API_SetAudioDevice") == {"dev": 0, "devicename": REQUIRED, "immediate": 0}
    assert defaults("API_SetVolume") == {"dev": 0, "volume": REQUIRED}
    assert defaults("API_AddVideo") == {"line": -1, "calltype": 1}
    assert defaults("API_PlaySound")["line"] == -1
    assert defaults("API_GetRegFailReason") == {"extended": False}
    assert defaults("API_StreamSoundBuff")["buff"] == b""


# -- bind -------------------------------------------------------------------------------------

SAMPLE = {"int": "7", "str": "abc", "bool": "true", "bytes": encode_bytes(b"\x01\x02")}
VALUE = {"int": 7, "str": "abc", "bool": True, "bytes": b"\x01\x02"}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_bind_every_function_with_no_arguments(name):
    fn = COMMANDS[name]
    required = [p.name for p in fn.params if p.default is REQUIRED]
    if required:    # omitting one is a clear error naming it, in every form
        for kw in ({}, {"form": "encapsulated"}, {"form": "encapsulated", "named": True}):
            with pytest.raises(BadArgument, match=f"needs its argument '{required[0]}'"):
                bind(fn, req(name, **kw))
        return
    assert bind(fn, req(name)) == [p.default for p in fn.params]
    assert bind(fn, req(name, form="encapsulated")) == [p.default for p in fn.params]
    assert bind(fn, req(name, form="encapsulated", named=True)) == [p.default for p in fn.params]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_bind_every_function_with_full_arguments(name):
    fn = COMMANDS[name]
    want = [VALUE[p.type] for p in fn.params]
    args = [SAMPLE[p.type] for p in fn.params]
    assert bind(fn, req(name, *args)) == want
    assert bind(fn, req(name, *(f" {a} " for a in args))) == want
    assert bind(fn, req(name, *args, form="encapsulated")) == want
    named = [f"{p.name}={a}" for p, a in zip(fn.params, args)]
    assert bind(fn, req(name, *reversed(named), form="encapsulated", named=True)) == want


def test_reference_call_example():
    assert bind(COMMANDS["API_Call"], parse(b"API_Call,-1, 123456 \r\n")) == [-1, "123456"]
    assert bind(COMMANDS["API_Call"], parse(b"API_Call,-1, DESTINATION\r\n")) == [
        -1, "DESTINATION"]


def test_trailing_arguments_may_be_omitted():
    assert bind(COMMANDS["API_Hangup"], parse(b"API_Hangup\r\n")) == [-1, ""]
    assert bind(COMMANDS["API_Hangup"], parse(b"API_Hangup,2\r\n")) == [2, ""]
    assert bind(COMMANDS["API_Hangup"], parse(b"API_Hangup,\r\n")) == [-1, ""]
    assert bind(COMMANDS["API_Call"], parse(b"API_Call,,555\r\n")) == [-1, "555"]


def test_too_many_arguments():
    with pytest.raises(BadArgument) as e:
        bind(COMMANDS["API_Call"], req("API_Call", "-1", "1", "2", "3", "4", form="encapsulated"))
    assert str(e.value) == "API_Call takes at most 2 arguments (line, peer), got 5"
    with pytest.raises(BadArgument, match="API_Start takes no arguments, got 1"):
        bind(COMMANDS["API_Start"], req("API_Start", "x"))
    with pytest.raises(BadArgument, match=r"API_SetVolume takes at most 2 arguments \(dev, "
                                          r"volume\), got 3"):
        bind(COMMANDS["API_SetVolume"], req("API_SetVolume", "1", "50", "3"))
    # blank extra pieces are tolerated
    assert bind(COMMANDS["API_SetVolume"], req("API_SetVolume", "1", "50", " ")) == [1, 50]


def test_type_errors():
    with pytest.raises(BadArgument) as e:
        bind(COMMANDS["API_Call"], req("API_Call", "abc", "5"))
    assert str(e.value) == "argument 'line' of API_Call must be an integer, got 'abc'"
    with pytest.raises(BadArgument, match="argument 'hold' of API_Hold must be true or false"):
        bind(COMMANDS["API_Hold"], req("API_Hold", "-1", "maybe"))
    with pytest.raises(BadArgument, match="argument 'buff' of API_StreamSoundBuff must be "
                                          "base64"):
        bind(COMMANDS["API_StreamSoundBuff"], req("API_StreamSoundBuff", "1", "-1", "!!!"))


@pytest.mark.parametrize("text,value", [("true", True), ("TRUE", True), ("1", True),
                                        ("Yes", True), ("false", False), ("0", False),
                                        ("no", False), (" False ", False)])
def test_bool_spellings(text, value):
    assert bind(COMMANDS["API_Hold"], req("API_Hold", "-1", text)) == [-1, value]


def test_crlf_token_in_setparameters():
    r = parse(b"API_SetParameters,serveraddress=YOURSIPSERVER CRLF username=SIPUSERNAME CRLF "
              b"password=SIPPASSWORD CRLF loglevel=5 \r\n")
    assert bind(COMMANDS["API_SetParameters"], r) == [
        "serveraddress=YOURSIPSERVER\r\nusername=SIPUSERNAME\r\npassword=SIPPASSWORD\r\n"
        "loglevel=5"]


def test_crlf_token_is_a_whole_word_and_only_in_multiline_params():
    r = parse(b"API_SendChat,-1,bob,line one CRLF line two, CRLFX stays\r\n")
    assert bind(COMMANDS["API_SendChat"], r) == [-1, "bob", "line one\r\nline two, CRLFX stays"]
    r = parse(b"API_SetParameter,useragent,a CRLF b\r\n")
    assert bind(COMMANDS["API_SetParameter"], r) == ["useragent", "a CRLF b"]


def test_comma_rejoin_in_last_string_argument():
    r = parse(b"API_SendChat,-1,DESTINATION,Hello, world\r\n")
    assert bind(COMMANDS["API_SendChat"], r) == [-1, "DESTINATION", "Hello, world"]
    r = parse(b"API_SetParameter,codecs, PCMU,PCMA ,G729 \r\n")
    assert bind(COMMANDS["API_SetParameter"], r) == ["codecs", "PCMU,PCMA ,G729"]
    r = parse(b"API_Hangup,-1,busy, call later\r\n")
    assert bind(COMMANDS["API_Hangup"], r) == [-1, "busy, call later"]


def test_no_rejoin_into_a_non_string_last_parameter():
    with pytest.raises(BadArgument, match="at most 2 arguments"):
        bind(COMMANDS["API_Hold"], parse(b"API_Hold,-1,true,extra\r\n"))


def test_encapsulated_positional_reference_example():
    r = parse(b"BOFCOMMAND BOFLINE API_Call EOFLINE BOFLINE -1 EOFLINE BOFLINE 123456 EOFLINE "
              b"EOFCOMMAND \r\n")
    assert bind(COMMANDS["API_Call"], r) == [-1, "123456"]


def test_encapsulated_named_reference_example():
    r = parse(b"BOFCOMMAND BOFLINE function=API_Call EOFLINE BOFLINE line=-1 EOFLINE "
              b"BOFLINE peer=123456 EOFLINE EOFCOMMAND")
    assert bind(COMMANDS["API_Call"], r) == [-1, "123456"]
    r = parse(b"BOFCOMMAND BOFLINE function=API_Call EOFLINE BOFLINE PEER=42 EOFLINE EOFCOMMAND")
    assert bind(COMMANDS["API_Call"], r) == [-1, "42"]


def test_encapsulated_positional_setparameters_one_item_per_parameter():
    r = parse(b"BOFCOMMAND BOFLINE API_SetParameters EOFLINE BOFLINE serveraddress=x EOFLINE "
              b"BOFLINE username=y EOFLINE BOFLINE password=p,q EOFLINE EOFCOMMAND")
    assert bind(COMMANDS["API_SetParameters"], r) == [
        "serveraddress=x\r\nusername=y\r\npassword=p,q"]


def test_encapsulated_named_setparameters():
    r = parse(b"BOFCOMMAND BOFLINE function=API_SetParameters EOFLINE BOFLINE serveraddress=x "
              b"EOFLINE BOFLINE username=y EOFLINE EOFCOMMAND")
    assert bind(COMMANDS["API_SetParameters"], r) == ["serveraddress=x\r\nusername=y"]
    r = parse(b"BOFCOMMAND BOFLINE function=API_SetParameters EOFLINE BOFLINE parameters=a=1"
              b"\r\nb=2 EOFLINE BOFLINE c=3 EOFLINE EOFCOMMAND")
    assert bind(COMMANDS["API_SetParameters"], r) == ["a=1\r\nb=2\r\nc=3"]


def test_encapsulated_multiline_chat_is_verbatim_and_crlf_word_is_literal():
    r = parse(b"BOFCOMMAND BOFLINE function=API_SendChat EOFLINE BOFLINE line=-1 EOFLINE "
              b"BOFLINE peer=bob EOFLINE BOFLINE message=Hi,\r\nsay CRLF twice EOFLINE "
              b"BOFLINE  and bye EOFLINE EOFCOMMAND")
    assert bind(COMMANDS["API_SendChat"], r) == [-1, "bob", "Hi,\r\nsay CRLF twice\r\n and bye"]


def test_encapsulated_errors():
    with pytest.raises(BadArgument, match="API_Call takes at most 2 arguments"):
        bind(COMMANDS["API_Call"], parse(b"BOFCOMMAND BOFLINE API_Call EOFLINE BOFLINE -1 "
                                         b"EOFLINE BOFLINE 1 EOFLINE BOFLINE 2 EOFLINE "
                                         b"EOFCOMMAND"))
    with pytest.raises(BadArgument, match="API_Call has no argument 'number'"):
        bind(COMMANDS["API_Call"], parse(b"BOFCOMMAND BOFLINE function=API_Call EOFLINE "
                                         b"BOFLINE number=5 EOFLINE EOFCOMMAND"))
    with pytest.raises(BadArgument, match="given twice"):
        bind(COMMANDS["API_Call"], parse(b"BOFCOMMAND BOFLINE function=API_Call EOFLINE "
                                         b"BOFLINE peer=5 EOFLINE BOFLINE peer=6 EOFLINE "
                                         b"EOFCOMMAND"))
    with pytest.raises(BadArgument, match="expected name=value"):
        bind(COMMANDS["API_Call"], parse(b"BOFCOMMAND BOFLINE function=API_Call EOFLINE "
                                         b"BOFLINE 5 EOFLINE EOFCOMMAND"))


# -- dispatch ---------------------------------------------------------------------------------

class TinyPhone:
    """Just enough of a Phone to see the adapter format results and errors."""

    def __init__(self):
        self.calls = []

    async def call(self, line, peer):
        self.calls.append(("call", line, peer))
        return True

    def hangup(self, line, reasontext):
        return False

    def get_version(self):
        return "1.2.3"

    async def get_line(self):
        return 2

    def add_log(self, msg):
        self.calls.append(("add_log", msg))

    def get_audio_device_list(self, dev):
        return "Mic A\r\nMic B"

    def get_media(self, timeout):
        return b"\xfb\xff\x01"

    def accept(self, line):
        raise NoSuchLine(f"no call on line {line}")

    def reject(self, line):
        raise RuntimeError("boom")

    def decode_argument(self, text):
        return text[len("encrypted__"):][::-1]


def run(phone, data):
    return asyncio.run(dispatch(phone, parse(data)))


def test_dispatch_formats_results():
    p = TinyPhone()
    assert run(p, b"API_Call,-1, 123456 \r\n") == b"OK: API_Call succeed\r\n"
    assert p.calls == [("call", -1, "123456")]
    assert run(p, b"api_hangup\r\n") == b"ERROR: api_hangup failed\r\n"
    assert run(p, b"API_GetVersion") == b"1.2.3\r\n"
    assert run(p, b"API_GetLine\r\n") == b"2\r\n"
    assert run(p, b"API_AddLog,hello\r\n") == b"OK: API_AddLog succeed\r\n"
    assert run(p, b"API_GetAudioDeviceList,0\r\n") == b"Mic A\r\nMic B\r\n"
    assert run(p, b"API_GetMedia,10\r\n") == b"_/8B\r\n"
    assert run(p, b"BOFCOMMAND BOFLINE function=API_Call EOFLINE BOFLINE line=-1 EOFLINE "
                  b"BOFLINE peer=123456 EOFLINE EOFCOMMAND") == (
        b"APIREQUEST: API_Call RPARAM1:-1 RPARAM2:123456 APIRESULT:true\r\n")


def test_dispatch_errors_never_raise(caplog):
    p = TinyPhone()
    assert run(p, b"API_Foo,1\r\n") == (
        b"ERROR: API_Foo failed: unknown function 'API_Foo'; see the reference's API list\r\n")
    assert run(p, b"Call,1\r\n").startswith(b"ERROR: Call failed: unknown function 'Call'")
    assert run(p, b"API_Call,abc\r\n") == (
        b"ERROR: API_Call failed: argument 'line' of API_Call must be an integer, got 'abc'\r\n")
    assert run(p, b"API_Accept,3\r\n") == b"ERROR: API_Accept failed: no call on line 3\r\n"
    with caplog.at_level(logging.ERROR, logger="sipctl.api"):
        assert run(p, b"API_Reject\r\n") == (
            b"ERROR: API_Reject failed: internal error (RuntimeError: boom)\r\n")
    assert any(r.exc_info for r in caplog.records)
    assert run(p, b"API_Stop\r\n").startswith(b"ERROR: API_Stop failed: not implemented yet")
    assert run(p, b"BOFCOMMAND BOFLINE API_Accept EOFLINE BOFLINE 3 EOFLINE EOFCOMMAND") == (
        b"APIREQUEST: API_Accept RPARAM1:3 APIRESULT:ERROR: no call on line 3\r\n")


def test_dispatch_decodes_encrypted_string_arguments():
    p = TinyPhone()
    assert run(p, b"API_Call,-1,encrypted__321\r\n") == b"OK: API_Call succeed\r\n"
    assert p.calls == [("call", -1, "123")]
