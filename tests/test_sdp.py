"""SDP model, parser and writer (sipctl.sip.sdp): RFC 4566 examples, round trips, the
attribute views, building from scratch and specific errors for malformed lines."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipctl.sip.errors import ParseError
from sipctl.sip.sdp import (
    Attribute,
    Bandwidth,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    RtpMap,
    SessionDescription,
    Timing,
)


def crlf(text):
    return text.strip("\n").replace("\n", "\r\n") + "\r\n"


# RFC 4566 section 5, the example session description
RFC4566_EXAMPLE = crlf("""
v=0
o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5
s=SDP Seminar
i=A Seminar on the session description protocol
u=http://www.example.com/seminars/sdp.pdf
e=j.doe@example.com (Jane Doe)
c=IN IP4 224.2.17.12/127
t=2873397496 2873404696
a=recvonly
m=audio 49170 RTP/AVP 0
m=video 51372 RTP/AVP 99
a=rtpmap:99 h263-1998/90000
""")

# A typical softphone offer with SRTP, RTCP, DTMF and unknown attributes
SOFTPHONE = crlf("""
v=0
o=- 3894712 3894713 IN IP4 192.0.2.10
s=sipctl
c=IN IP4 192.0.2.10
b=AS:84
t=0 0
a=X-nat:0
m=audio 4000 RTP/SAVP 0 8 101
b=TIAS:64000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:150
a=rtcp:4005 IN IP4 192.0.2.11
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:32
a=x-unknown-thing:some value
a=sendonly
""")


def test_rfc4566_example_fields_and_round_trip():
    sd = SessionDescription.parse(RFC4566_EXAMPLE)
    assert sd.origin == Origin("jdoe", 2890844526, 2890842807, "IN", "IP4", "10.47.16.5")
    assert (sd.session_name, sd.information, sd.uri, sd.emails) == (
        "SDP Seminar", "A Seminar on the session description protocol",
        "http://www.example.com/seminars/sdp.pdf", ["j.doe@example.com (Jane Doe)"])
    assert sd.connection == Connection("224.2.17.12", "IN", "IP4", ttl=127)
    assert [(t.start, t.stop) for t in sd.timings] == [(2873397496, 2873404696)]
    assert sd.direction is Direction.RECVONLY
    audio, video = sd.media
    assert (audio.media, audio.port, audio.proto, audio.formats) == ("audio", 49170, "RTP/AVP", ["0"])
    assert audio.rtpmap(0) == RtpMap(0, "PCMU", 8000)  # static, RFC 3551
    assert video.rtpmap(99) == RtpMap(99, "h263-1998", 90000)
    assert sd.media_direction(audio) is Direction.RECVONLY  # inherited from the session
    assert sd.media_connection(video).address == "224.2.17.12"
    assert sd.serialize() == RFC4566_EXAMPLE
    assert sd.to_bytes() == RFC4566_EXAMPLE.encode()


def test_softphone_offer_views_and_round_trip():
    sd = SessionDescription.parse(SOFTPHONE.encode())
    m = sd.media[0]
    assert sd.bandwidths == [Bandwidth("AS", 84)] and m.bandwidths == [Bandwidth("TIAS", 64000)]
    assert m.proto == "RTP/SAVP" and m.formats == ["0", "8", "101"]
    assert m.rtpmaps == {0: RtpMap(0, "PCMU", 8000), 8: RtpMap(8, "PCMA", 8000),
                         101: RtpMap(101, "telephone-event", 8000)}
    assert m.fmtps == {"101": "0-16"}
    assert (m.ptime, m.maxptime) == (20, 150)
    assert m.rtcp == (4005, Connection("192.0.2.11"))
    assert m.get("crypto").startswith("1 AES_CM_128_HMAC_SHA1_80 inline:")
    assert m.get("x-unknown-thing") == "some value" and sd.get("X-nat") == "0"
    assert m.direction is Direction.SENDONLY and sd.direction is None
    assert sd.serialize() == SOFTPHONE


def test_lf_only_input_is_written_with_crlf():
    text = SOFTPHONE.replace("\r\n", "\n")
    assert SessionDescription.parse(text).serialize() == SOFTPHONE


def test_unknown_lines_are_kept_in_canonical_place():
    text = crlf("""
v=0
o=- 1 1 IN IP4 192.0.2.1
s=-
t=0 0
y=session-extension
a=tool:x
m=audio 5004 RTP/AVP 0
i=main audio
c=IN IP6 2001:db8::1
k=prompt
x=media-extension
a=rtpmap:0 PCMU/8000
""")
    sd = SessionDescription.parse(text)
    assert sd.other == [("y", "session-extension")]
    assert sd.media[0].other == [("x", "media-extension")]
    assert sd.media[0].title == "main audio" and sd.media[0].key == "prompt"
    assert sd.media[0].connection == Connection("2001:db8::1", "IN", "IP6")
    assert sd.serialize() == text
    # written in RFC 4566 order even when read out of order
    shuffled = text.replace("y=session-extension\r\na=tool:x\r\n", "a=tool:x\r\ny=session-extension\r\n")
    assert SessionDescription.parse(shuffled).serialize() == text


def test_connection_forms():
    sd = SessionDescription.parse(crlf("""
v=0
o=- 1 1 IN IP4 192.0.2.1
s=-
t=0 0
m=audio 5004/2 RTP/AVP 0
c=IN IP4 224.2.1.1/127/3
m=audio 5008 RTP/AVP 0
c=IN IP6 FF15::101/3
m=audio 5010 RTP/AVP 0
c=IN IP4 0.0.0.0
"""))
    a, b, c = sd.media
    assert (a.port, a.port_count) == (5004, 2)
    assert a.connection == Connection("224.2.1.1", "IN", "IP4", 127, 3)
    assert b.connection == Connection("FF15::101", "IN", "IP6", None, 3)
    assert c.connection.is_hold and not a.connection.is_hold
    assert str(a.connection) == "IN IP4 224.2.1.1/127/3" and str(b.connection) == "IN IP6 FF15::101/3"
    assert Connection.for_address("::1").addrtype == "IP6"


def test_empty_and_space_session_names():
    for name in ("", " "):
        text = crlf(f"v=0\no=- 1 1 IN IP4 h\ns={name}\nt=0 0")
        sd = SessionDescription.parse(text)
        assert sd.session_name == name and sd.serialize() == text


def test_build_from_scratch():
    sd = SessionDescription(origin=Origin("-", 42, 1, address="192.0.2.5"), session_name="call",
                            connection=Connection.for_address("192.0.2.5"))
    m = MediaDescription("audio", 30000, "RTP/AVP", ["0", "101"])
    m.attributes += [Attribute("rtpmap", "0 PCMU/8000"), Attribute("rtpmap", "101 telephone-event/8000"),
                     Attribute("fmtp", "101 0-16"), Attribute("ptime", "20")]
    m.set_direction(Direction.SENDRECV)
    sd.media.append(m)
    text = crlf("""
v=0
o=- 42 1 IN IP4 192.0.2.5
s=call
c=IN IP4 192.0.2.5
t=0 0
m=audio 30000 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv
""")
    assert sd.serialize() == text
    m.set_direction(Direction.INACTIVE)
    assert sd.serialize() == text.replace("a=sendrecv", "a=inactive")
    m.set_direction(None)
    assert m.direction is None and sd.media_direction(m) is Direction.SENDRECV
    m.remove("ptime")
    assert m.ptime is None and not m.has("ptime") and m.has("fmtp")
    assert SessionDescription.parse(sd.serialize()).serialize() == sd.serialize()


def test_timing_repeats_and_zones_round_trip():
    text = crlf("""
v=0
o=- 1 1 IN IP4 h
s=-
t=3034423619 3042462419
r=7d 1h 0 25h
r=604800 3600 0 90000
t=0 0
z=2882844526 -1h 2898848070 0
""")
    sd = SessionDescription.parse(text)
    assert sd.timings[0].repeats == ["7d 1h 0 25h", "604800 3600 0 90000"]
    assert sd.time_zones.startswith("2882844526") and len(sd.timings) == 2
    assert sd.serialize() == text


def test_direction_algebra():
    assert Direction.SENDONLY.reversed() is Direction.RECVONLY
    assert Direction.INACTIVE.reversed() is Direction.INACTIVE
    assert Direction.SENDRECV.reversed() is Direction.SENDRECV
    assert Direction.from_flags(True, False) is Direction.SENDONLY
    assert Direction.RECVONLY.receives and not Direction.RECVONLY.sends


HEAD = "v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\n"


@pytest.mark.parametrize("text,line,words", [
    ("o=- 1 1 IN IP4 h\nv=0\ns=-\n", 1, ["first line must be v="]),
    ("v=1\no=- 1 1 IN IP4 h\ns=-\n", 1, ["version"]),
    ("v=0\ns=-\nt=0 0\n", None, ["no o= line"]),
    ("v=0\no=- 1 1 IN IP4 h\nt=0 0\n", None, ["no s= line"]),
    ("v=0\no=- 1 1 IN IP4 h\ns=-\ns=again\n", 4, ["duplicate s="]),
    ("v=0\no=- 1 IN IP4 h\ns=-\n", 2, ["o= needs 6 fields"]),
    ("v=0\no=- 1 x IN IP4 h\ns=-\n", 2, ["session version", "'x'"]),
    (HEAD + "c=IN IP4\n", 5, ["c= needs"]),
    (HEAD + "c=IN IP4 h/x\n", 5, ["ttl/count"]),
    (HEAD + "c=IN IP4 a\nc=IN IP4 b\n", 6, ["more than one session-level c="]),
    (HEAD + "b=AS\n", 5, ["b= needs"]),
    (HEAD + "b=AS:fast\n", 5, ["bandwidth"]),
    ("v=0\no=- 1 1 IN IP4 h\ns=-\nt=0\n", 4, ["t= needs"]),
    ("v=0\no=- 1 1 IN IP4 h\ns=-\nr=7d 1h 0\n", 4, ["r= without"]),
    (HEAD + "m=audio 70000 RTP/AVP 0\n", 5, ["m= port", "0..65535"]),
    (HEAD + "m=audio x RTP/AVP 0\n", 5, ["m= port"]),
    (HEAD + "m=audio 5004 RTP/AVP\n", 5, ["without formats"]),
    (HEAD + "m=audio 5004\n", 5, ["m= needs"]),
    (HEAD + "m=audio 5004 RTP/AVP 0 PCMU\n", 5, ["RTP/AVP format", "'PCMU'"]),
    (HEAD + "m=audio 5004 RTP/AVP 200\n", 5, ["0..127"]),
    (HEAD + "m=audio 5004 RTP/AVP 0\nt=0 0\n", 6, ["t= is not allowed in a media description"]),
    (HEAD + "m=audio 5004 RTP/AVP 0\na=rtpmap:0 PCMU\n", 6, ["malformed rtpmap"]),
    (HEAD + "m=audio 5004 RTP/AVP 0\na=rtpmap:300 X/8000\n", 6, ["malformed rtpmap"]),
    (HEAD + "m=audio 5004 RTP/AVP 0\na=rtpmap:0 PCMU/fast\n", 6, ["malformed rtpmap"]),
    (HEAD + "m=audio 5004 RTP/AVP 101\na=fmtp:101\n", 6, ["malformed fmtp"]),
    (HEAD + "m=audio 5004 RTP/AVP 0\na=ptime:twenty\n", 6, ["ptime must be a number"]),
    (HEAD + "m=audio 5004 RTP/AVP 0\na=maxptime:\n", 6, ["maxptime must be a number"]),
    (HEAD + "m=audio 5004 RTP/AVP 0\na=rtcp:x\n", 6, ["malformed rtcp"]),
    (HEAD + "m=audio 5004 RTP/AVP 0\na=rtcp:5005 IN IP4\n", 6, ["malformed rtcp"]),
    (HEAD + "m=audio 5004 RTP/AVP 0\na=sendonly:yes\n", 6, ["takes no value"]),
    (HEAD + "a=\n", 5, ["bad attribute"]),
    (HEAD + "a=bad name:x\n", 5, ["bad attribute"]),
    (HEAD + "m=audio 5004 RTP/AVP 0\nA=rtpmap:0 PCMU/8000\n", 6, ["expected '<type>=<value>'"]),
    (HEAD + "garbage\n", 5, ["expected '<type>=<value>'"]),
    (HEAD + "a =x\n", 5, ["expected '<type>=<value>'"]),
    ("", None, ["empty"]),
])
def test_malformed(text, line, words):
    with pytest.raises(ParseError) as ei:
        SessionDescription.parse(text)
    msg = str(ei.value)
    if line is not None:
        assert f"SDP line {line}:" in msg
    for w in words:
        assert w in msg
    assert ei.value.status == 400


def test_not_utf8():
    with pytest.raises(ParseError, match="UTF-8"):
        SessionDescription.parse(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=\xff\r\n")


def test_tolerated_oddities():
    # m= port 0 without formats (some UAs reject streams so), non-RTP formats, trailing blank lines
    sd = SessionDescription.parse(HEAD + "m=audio 0 RTP/AVP\nm=application 9 TCP/BFCP *\n\n\n")
    assert sd.media[0].formats == [] and sd.media[1].formats == ["*"]
    assert sd.media[1].fmtps == {} and sd.media[1].rtpmaps == {}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["v=0", "o=- 1 1 IN IP4 h", "s=-", "t=0 0", "c=IN IP4 1.2.3.4",
                                 "m=audio 5004 RTP/AVP 0 8", "a=rtpmap:0 PCMU/8000", "a=sendonly",
                                 "a=ptime:20", "b=AS:64", "a=rtcp:9", "x=y", "m=video 0 RTP/AVP 31",
                                 "c=IN IP6 ::", "garbage", "a=fmtp:8 x", "r=1 2 3", "k=clear:x"]),
                max_size=14))
def test_fuzz_only_parse_errors_and_stable_round_trip(lines):
    try:
        sd = SessionDescription.parse("\r\n".join(lines))
    except ParseError:
        return
    text = sd.serialize()
    assert SessionDescription.parse(text).serialize() == text
