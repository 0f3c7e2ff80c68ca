"""The TCP API framing codec: golden vectors from the reference (Mizu VoIP SDK), chunking,
limits, bad input and resynchronisation, answers and notifications."""
import pytest

from sipctl.api.framing import (ApiDecoder, ApiRequest, FramingError, decode_bytes,
                                encode_bytes, format_answer, format_error,
                                format_notification)

KNOWN = {"api_start", "api_setparameters", "api_setparameter", "api_call", "api_hangup",
         "api_sendchat", "api_stop"}


def known(name):
    return name.lower() in KNOWN


def decode(data: bytes, **kw):
    d = ApiDecoder(**kw)
    return d.feed(data) + d.eof()


def simple(name, *args, raw=None):
    return ApiRequest("simple", name, tuple(args), False, raw if raw is not None else
                      ",".join((name,) + args))


# -- golden vectors: every example string of the reference's Usage/API sections -----------

USAGE_STREAM = (
    b"API_SetParameters,serveraddress=YOURSIPSERVER CRLF username=SIPUSERNAME CRLF "
    b"password=SIPPASSWORD CRLF loglevel=5 \r\n"
    b"API_SetParameter,mediatimeout,0\r\n"
    b"API_Call,-1, DESTINATION\r\n"
    b"API_Hangup\r\n"
    b"API_SendChat,-1,DESTINATION,MESSAGE\r\n"
    b"API_Stop\r\n")

USAGE_EXPECTED = [
    ("API_SetParameters", ("serveraddress=YOURSIPSERVER CRLF username=SIPUSERNAME CRLF "
                           "password=SIPPASSWORD CRLF loglevel=5",)),
    ("API_SetParameter", ("mediatimeout", "0")),
    ("API_Call", ("-1", " DESTINATION")),
    ("API_Hangup", ()),
    ("API_SendChat", ("-1", "DESTINATION", "MESSAGE")),
    ("API_Stop", ()),
]


def test_usage_pseudocode_stream():
    got = decode(USAGE_STREAM)
    assert [(r.form, r.name, r.args) for r in got] == [("simple", n, a) for n, a in USAGE_EXPECTED]


def test_simple_example_keeps_untrimmed_pieces():
    assert decode(b"API_Call,-1, 123456 \r\n") == [
        ApiRequest("simple", "API_Call", ("-1", " 123456"), False, "API_Call,-1, 123456")]


def test_api_section_setparameters_example_without_trailing_space():
    (r,) = decode(b"API_SetParameters,serveraddress=YOURSIPSERVER CRLF username=SIPUSERNAME "
                  b"CRLF password=SIPPASSWORD CRLF loglevel=5\r\n")
    assert r.args == ("serveraddress=YOURSIPSERVER CRLF username=SIPUSERNAME CRLF "
                      "password=SIPPASSWORD CRLF loglevel=5",)


NAMED = (b"BOFCOMMAND BOFLINE function=API_Call EOFLINE BOFLINE line=-1 EOFLINE "
         b"BOFLINE peer=123456 EOFLINE EOFCOMMAND")
POSITIONAL = (b"BOFCOMMAND BOFLINE API_Call EOFLINE BOFLINE -1 EOFLINE BOFLINE 123456 "
              b"EOFLINE EOFCOMMAND \r\n")


def test_encapsulated_named_example():
    (r,) = decode(NAMED)
    assert (r.form, r.name, r.args, r.named) == ("encapsulated", "API_Call",
                                                 ("line=-1", "peer=123456"), True)


def test_encapsulated_positional_example():
    (r,) = decode(POSITIONAL)
    assert (r.form, r.name, r.args, r.named) == ("encapsulated", "API_Call", ("-1", "123456"),
                                                 False)


def test_encapsulated_without_spaces():
    (r,) = decode(b"BOFCOMMANDBOFLINEAPI_CallEOFLINEBOFLINE-1EOFLINEBOFLINE123456EOFLINE"
                  b"EOFCOMMAND")
    assert (r.name, r.args) == ("API_Call", ("-1", "123456"))


def test_encapsulated_function_prefix_is_case_insensitive():
    (r,) = decode(b"BOFCOMMAND BOFLINE Function=API_Hangup EOFLINE EOFCOMMAND")
    assert r.named and r.name == "API_Hangup" and r.args == ()


def test_encapsulated_multiline_item_kept_verbatim():
    data = (b"BOFCOMMAND\r\nBOFLINE API_SendChat EOFLINE BOFLINE -1 EOFLINE BOFLINE bob EOFLINE"
            b"\r\nBOFLINE Hello,\r\n  world \r\nEOFLINE\r\nEOFCOMMAND\r\n")
    (r,) = decode(data)
    # one separator stripped on each side (a space at the front, the CRLF at the end)
    assert r.args == ("-1", "bob", "Hello,\r\n  world ")


def test_encapsulated_item_framed_by_crlf():
    (r,) = decode(b"BOFCOMMAND BOFLINE API_SetParameters EOFLINE BOFLINE\r\na=1\r\nb=2\r\n"
                  b"EOFLINE EOFCOMMAND")
    assert r.args == ("a=1\r\nb=2",)


def test_several_commands_in_one_chunk_mixed_forms():
    got = decode(b"API_Start\r\n" + POSITIONAL + NAMED + b"\r\nAPI_Hangup,-1\n")
    assert [r.name for r in got] == ["API_Start", "API_Call", "API_Call", "API_Hangup"]
    assert [r.form for r in got] == ["simple", "encapsulated", "encapsulated", "simple"]


def test_whitespace_and_empty_lines_ignored():
    got = decode(b"\r\n\r\n   \t API_Hangup  \r\n\n\n  API_Stop\n")
    assert [(r.name, r.args) for r in got] == [("API_Hangup", ()), ("API_Stop", ())]


def test_trailing_empty_argument_is_kept_for_the_command_layer():
    assert decode(b"API_Hangup,\r\n")[0].args == ("",)


# -- chunking ------------------------------------------------------------------------------

STREAM = USAGE_STREAM + POSITIONAL + NAMED + b"\r\n" + (
    b"BOFCOMMAND BOFLINE API_SetParameters EOFLINE BOFLINE serveraddress=x EOFLINE "
    b"BOFLINE username=y\r\nEOFLINE EOFCOMMAND\r\nAPI_SendChat,-1,bob,Hello, world\r\n")


def test_chunking_at_every_byte_boundary_gives_the_same_requests():
    whole = decode(STREAM)
    assert len(whole) == 10 and all(isinstance(r, ApiRequest) for r in whole)
    for cut in range(1, len(STREAM)):
        d = ApiDecoder()
        got = d.feed(STREAM[:cut]) + d.feed(STREAM[cut:]) + d.eof()
        assert got == whole, cut


def test_byte_by_byte():
    d = ApiDecoder()
    got = [r for b in STREAM for r in d.feed(bytes([b]))] + d.eof()
    assert got == decode(STREAM)


def test_chunk_split_inside_markers_and_utf8():
    data = "API_SendChat,-1,bob,héllo ✓\r\n".encode() + NAMED
    for cut in range(1, len(data)):
        d = ApiDecoder()
        got = d.feed(data[:cut]) + d.feed(data[cut:]) + d.eof()
        assert [r.name for r in got] == ["API_SendChat", "API_Call"], cut
        assert got[0].args[2] == "héllo ✓"


# -- unterminated commands -------------------------------------------------------------------

def test_unterminated_command_waits_then_idle_flush():
    d = ApiDecoder()
    assert d.feed(b"API_Start") == []
    assert d.flush_idle() == [simple("API_Start")]
    assert d.flush_idle() == []
    assert d.feed(b"API_SetParameter,mediatimeout,0\r\n") == [
        simple("API_SetParameter", "mediatimeout", "0")]


def test_unterminated_command_at_eof():
    d = ApiDecoder()
    d.feed(b"API_Hangup,-1")
    assert d.eof() == [simple("API_Hangup", "-1")]


def test_idle_flush_does_not_cut_an_encapsulated_command():
    d = ApiDecoder()
    assert d.feed(b"BOFCOMMAND BOFLINE API_Call EOFLINE BOFLI") == []
    assert d.flush_idle() == []
    assert [r.args for r in d.feed(b"NE 5 EOFLINE EOFCOMMAND")] == [("5",)]


def test_idle_flush_waits_on_a_bofcommand_prefix():
    d = ApiDecoder()
    assert d.feed(b"BOFCOMM") == [] and d.flush_idle() == []
    assert [r.name for r in d.feed(b"AND BOFLINE API_Stop EOFLINE EOFCOMMAND")] == ["API_Stop"]


def test_eof_inside_bofcommand_is_an_error():
    d = ApiDecoder()
    d.feed(b"BOFCOMMAND BOFLINE API_Call EOFLINE")
    (e,) = d.eof()
    assert isinstance(e, FramingError) and "EOFCOMMAND" in e.message


def test_glued_commands_are_split_on_known_names():
    got = decode(b"API_StartAPI_SetParameters,serveraddress=x CRLF username=y\r\n",
                 known=known)
    assert got == [simple("API_Start"),
                   ApiRequest("simple", "API_SetParameters",
                              ("serveraddress=x CRLF username=y",), False,
                              "API_SetParameters,serveraddress=x CRLF username=y")]


def test_three_glued_names():
    got = decode(b"API_StartAPI_HangupAPI_Call,-1,5\r\n", known=known)
    assert [(r.name, r.args) for r in got] == [("API_Start", ()), ("API_Hangup", ()),
                                              ("API_Call", ("-1", "5"))]


def test_glued_unknown_names_are_not_split():
    got = decode(b"API_StartAPI_Nonsense,1\r\n", known=known)
    assert [r.name for r in got] == ["API_StartAPI_Nonsense"]
    # without a known() callback nothing is split
    assert [r.name for r in decode(b"API_StartAPI_Call\r\n")] == ["API_StartAPI_Call"]


def test_bare_name_glued_to_bofcommand():
    got = decode(b"API_Start" + POSITIONAL)
    assert [(r.form, r.name) for r in got] == [("simple", "API_Start"),
                                              ("encapsulated", "API_Call")]


# -- limits and bad input ------------------------------------------------------------------

class TrackingDecoder(ApiDecoder):
    """Records the largest internal buffer seen."""
    peak = 0

    def _drain(self, out):
        self.peak = max(self.peak, len(self._buf))
        super()._drain(out)


@pytest.mark.parametrize("chunk", [1 << 20, 65536, 4099])
def test_one_megabyte_line_is_dropped_with_bounded_memory(chunk):
    limit = 4096
    data = b"API_SendChat,-1,bob," + b"x" * (1 << 20) + b"\r\nAPI_Hangup\r\n"
    d = TrackingDecoder(max_command=limit)
    got = []
    for i in range(0, len(data), chunk):
        got += d.feed(data[i:i + chunk])
        assert d.pending <= limit
    got += d.eof()
    assert d.peak <= limit
    assert got == [FramingError(f"command longer than {limit} bytes: dropped", got[0].raw),
                   simple("API_Hangup")]
    assert len(got[0].raw) <= 80


def test_overlong_encapsulated_is_dropped_up_to_eofcommand():
    limit = 256
    body = b"BOFCOMMAND BOFLINE API_SetParameters EOFLINE BOFLINE " + b"a=b\r\n" * 500
    data = body + b"EOFLINE EOFCOMMAND\r\nAPI_Stop\r\n"
    for cut in range(len(body) - 20, len(data)):  # EOFCOMMAND split at every byte
        d = TrackingDecoder(max_command=limit)
        got = d.feed(data[:cut]) + d.feed(data[cut:]) + d.eof()
        assert d.peak <= limit
        assert [type(r).__name__ for r in got] == ["FramingError", "ApiRequest"], cut
        assert "longer than 256 bytes" in got[0].message and got[1].name == "API_Stop"


def test_command_of_exactly_the_limit_is_accepted():
    line = b"API_Call,-1," + b"1" * 50 + b"\n"
    assert isinstance(decode(line, max_command=len(line))[0], ApiRequest)
    assert isinstance(decode(line, max_command=len(line) - 1)[0], FramingError)


def test_overlong_unterminated_command_ends_at_idle():
    d = ApiDecoder(max_command=64)
    (e,) = d.feed(b"API_Call," + b"9" * 100)
    assert isinstance(e, FramingError)
    assert d.flush_idle() == []
    assert d.feed(b"API_Hangup\n") == [simple("API_Hangup")]


def test_invalid_utf8():
    (e, ok) = decode(b"API_Call,-1,\xff\xfe\r\nAPI_Hangup\r\n")
    assert e.message == "command is not valid UTF-8" and ok == simple("API_Hangup")


def test_nul_garbage():
    (e, ok) = decode(b"\x00\x01\x02garbage\x00\r\nAPI_Hangup\r\n")
    assert e.message == "binary data is not a command" and ok == simple("API_Hangup")
    assert "\\x00" in e.raw


@pytest.mark.parametrize("text", [b"hello world", b"123,456", b"GET / HTTP/1.1",
                                  b"API_Call -1 123", b"-API_Call"])
def test_not_a_command(text):
    (e, ok) = decode(text + b"\r\nAPI_Stop\r\n")
    assert e.message.startswith("not an API command: expected API_Name,arg,...")
    assert ok == simple("API_Stop")


@pytest.mark.parametrize("bad", [
    b"BOFCOMMAND EOFCOMMAND",
    b"BOFCOMMAND API_Call EOFCOMMAND",
    b"BOFCOMMAND BOFLINE API_Call EOFCOMMAND",
    b"BOFCOMMAND BOFLINE API_Call BOFLINE -1 EOFLINE EOFCOMMAND",
    b"BOFCOMMAND BOFLINE API_Call EOFLINE stray EOFCOMMAND",
    b"BOFCOMMAND BOFLINE 12 EOFLINE EOFCOMMAND",
    b"BOFCOMMAND BOFLINE API_Call EOFLINE BOFLINE \x00 EOFLINE EOFCOMMAND",
    b"BOFCOMMAND BOFLINE API_Call\xff EOFLINE EOFCOMMAND",
])
def test_malformed_encapsulated_then_resync(bad):
    got = decode(bad + b"\r\n" + POSITIONAL + b"API_Hangup\r\n")
    assert isinstance(got[0], FramingError)
    assert [(r.name, r.form) for r in got[1:]] == [("API_Call", "encapsulated"),
                                                  ("API_Hangup", "simple")]


def test_resync_after_every_kind_of_error():
    data = (b"\x00\x00\r\n" + b"\xc3\x28\r\n" + b"??\r\n" + b"x" * 200 + b"\r\n"
            + b"BOFCOMMAND EOFCOMMAND" + b"API_Call,-1,5\r\n")
    got = decode(data, max_command=64)
    assert [type(r).__name__ for r in got] == ["FramingError"] * 5 + ["ApiRequest"]
    assert got[-1] == simple("API_Call", "-1", "5")


def test_framing_error_raw_is_short():
    (e,) = decode(b"!" * 5000 + b"\n")
    assert len(e.raw) <= 80


# -- answers ------------------------------------------------------------------------------

def test_answer_line_matches_the_reference_exactly():
    (r,) = decode(NAMED)
    assert format_answer(r, True, "bool") == (
        b"APIREQUEST: API_Call RPARAM1:-1 RPARAM2:123456 APIRESULT:true\r\n")
    (p,) = decode(POSITIONAL)
    assert format_answer(p, True, "bool") == (
        b"APIREQUEST: API_Call RPARAM1:-1 RPARAM2:123456 APIRESULT:true\r\n")


def test_encapsulated_answer_values():
    (r,) = decode(b"BOFCOMMAND BOFLINE API_SetParameters EOFLINE EOFCOMMAND")
    assert format_answer(r, False, "bool") == (
        b"APIREQUEST: API_SetParameters APIRESULT:false\r\n")
    assert format_answer(r, 42, "int").endswith(b"APIRESULT:42\r\n")
    assert format_answer(r, "x y", "str").endswith(b"APIRESULT:x y\r\n")
    assert format_answer(r, None, "void").endswith(b"APIRESULT:true\r\n")
    assert format_error(r, "no such line") == (
        b"APIREQUEST: API_SetParameters APIRESULT:ERROR: no such line\r\n")


def test_encapsulated_echo_keeps_one_line():
    (r,) = decode(b"BOFCOMMAND BOFLINE API_SetParameters EOFLINE BOFLINE a=1\r\nb=2 EOFLINE "
                  b"EOFCOMMAND")
    assert format_answer(r, True, "bool") == (
        b"APIREQUEST: API_SetParameters RPARAM1:a=1 CRLF b=2 APIRESULT:true\r\n")


def test_simple_answers():
    r = simple("API_Call", "-1", "5")
    assert format_answer(r, True, "bool") == b"OK: API_Call succeed\r\n"
    assert format_answer(r, False, "bool") == b"ERROR: API_Call failed\r\n"
    assert format_answer(r, None, "void") == b"OK: API_Call succeed\r\n"
    assert format_answer(r, 42, "int") == b"42\r\n"
    assert format_answer(r, "3.1.2", "str") == b"3.1.2\r\n"
    assert format_error(r, "bad line") == b"ERROR: API_Call failed: bad line\r\n"
    assert format_error(None, "binary data is not a command") == (
        b"ERROR: binary data is not a command\r\n")


def test_multiline_string_answer_keeps_crlf():
    r = simple("API_GetAudioDeviceList", "0")
    assert format_answer(r, "Mic A\r\nMic B", "str") == b"Mic A\r\nMic B\r\n"
    assert format_answer(r, "Mic A\nMic B\r\n", "str") == b"Mic A\r\nMic B\r\n"


def test_bytes_answer_is_reference_base64():
    r = simple("API_GetMedia", "0")
    payload = bytes([0xfb, 0xff, 0x01])  # base64 "+/8B"
    assert format_answer(r, payload, "bytes") == b"_/8B\r\n"
    assert format_answer(r, b"a", "bytes") == b"YQ..\r\n"
    assert decode_bytes(encode_bytes(payload)) == payload
    assert decode_bytes("YQ==") == b"a"


# -- notifications ---------------------------------------------------------------------------

def test_notification_reference_example():
    assert format_notification(["STATUS", -1, "Registered."]) == (
        b"WPNOTIFICATION,STATUS,-1,Registered.,NEOL\r\n")


def test_notification_with_sip_message_is_one_line():
    sip = "INVITE sip:bob@x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n"
    out = format_notification(["LOG", "SIP", sip])
    assert out == (b"WPNOTIFICATION,LOG,SIP,INVITE sip:bob@x SIP/2.0 CRLF Via: SIP/2.0/UDP h"
                   b" CRLF  CRLF ,NEOL\r\n")
    assert out.count(b"\n") == 1
    assert format_notification(["LOG", "a\nb"]) == b"WPNOTIFICATION,LOG,a CRLF b,NEOL\r\n"
