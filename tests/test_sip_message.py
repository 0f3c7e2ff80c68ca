"""Messages: reading, typed views, writing, bounds, responses and the stream framer."""
import pytest

from sipctl.sip.addr import NameAddr
from sipctl.sip.errors import ParseError
from sipctl.sip.framing import InvalidMessage, KeepAlivePing, KeepAlivePong, StreamFramer
from sipctl.sip.headers import (COMPACT_FORMS, CSeq, Headers, MediaType, canonical_name, compact_name,
                                is_list_header, split_list)
from sipctl.sip.message import (MAX_HEADERS, MessageError, Request, Response, check_request, make_400,
                                make_response, parse_message)
from sipctl.sip.uri import SipUri
from sipctl.sip.via import Via

SDP = (b"v=0\r\no=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\ns=-\r\n"
       b"c=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
INVITE = (b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;rport\r\n"
          b"Max-Forwards: 70\r\n"
          b"From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
          b"To: Bob <sip:bob@biloxi.example.com>\r\n"
          b"Call-ID: 3848276298220188511@atlanta.example.com\r\n"
          b"CSeq: 1 INVITE\r\n"
          b"Contact: <sip:alice@client.atlanta.example.com;transport=udp>\r\n"
          b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE\r\n"
          b"Supported: replaces, 100rel\r\n"
          b"Content-Type: application/sdp\r\n"
          b"Content-Length: %d\r\n\r\n" % len(SDP)) + SDP


def test_parse_invite_typed_views():
    m = parse_message(INVITE)
    assert isinstance(m, Request) and m.method == "INVITE"
    assert m.uri == SipUri("biloxi.example.com", user="bob")
    assert [str(v) for v in m.via] == ["SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;rport"]
    assert m.via[0].branch == "z9hG4bK74bf9" and m.via[0].rport is True and m.via[0].port == 5060
    assert m.from_.display_name == "Alice" and m.from_.tag == "9fxced76sl"
    assert m.to.tag is None and m.to.uri.user == "bob"
    assert m.call_id == "3848276298220188511@atlanta.example.com"
    assert m.cseq == CSeq(1, "INVITE")
    assert m.max_forwards == 70
    assert [str(c.uri) for c in m.contact] == ["sip:alice@client.atlanta.example.com;transport=udp"]
    assert m.allow == ["INVITE", "ACK", "CANCEL", "OPTIONS", "BYE"]
    assert m.supported == ["replaces", "100rel"]
    assert m.content_type == MediaType("application", "sdp") and m.content_type.mime == "application/sdp"
    assert m.body == SDP and m.content_length == len(SDP)


def test_round_trip_is_byte_exact_for_canonical_input():
    assert parse_message(INVITE).serialize() == INVITE


def test_content_length_always_right():
    m = parse_message(INVITE)
    m.body = b"hello"
    out = m.serialize()
    assert b"\r\nContent-Length: 5\r\n\r\nhello" in out and out.count(b"Content-Length") == 1
    m.headers.remove("Content-Length")
    assert parse_message(m.serialize()).body == b"hello"


def test_compact_serialisation_and_forms():
    out = parse_message(INVITE).serialize(compact=True)
    assert b"\r\nv: SIP/2.0" in out and b"\r\nf: Alice" in out and b"\r\nl: " in out
    assert parse_message(out) == parse_message(INVITE)
    for c, name in {"i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length",
                    "c": "Content-Type", "f": "From", "s": "Subject", "k": "Supported", "t": "To",
                    "v": "Via", "o": "Event", "u": "Allow-Events", "r": "Refer-To", "b": "Referred-By",
                    "x": "Session-Expires", "y": "Identity", "a": "Accept-Contact"}.items():
        assert COMPACT_FORMS[c] == name and canonical_name(c.upper()) == name and compact_name(name) == c
    assert canonical_name("cAlL-iD") == "Call-ID" and canonical_name("X-Custom") == "X-Custom"


def test_list_headers_and_raw_headers():
    assert is_list_header("Via") and is_list_header("contact") and is_list_header("Allow")
    for name in ("WWW-Authenticate", "Authorization", "Proxy-Authenticate", "Proxy-Authorization", "Date",
                 "Call-ID", "Subject"):
        assert not is_list_header(name)
    assert split_list('"a, b" <sip:x@y>;q=1, <sip:c,d@e>,') == ['"a, b" <sip:x@y>;q=1', "<sip:c,d@e>", ""]
    data = INVITE.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\nAuthorization: Digest username=\"a\","
                          b" realm=\"b\", nonce=\"c\", uri=\"sip:b\", response=\"d\"\r\n")
    m = parse_message(data)
    assert m.headers.get_all("authorization") == ['Digest username="a", realm="b", nonce="c", uri="sip:b", response="d"']


def test_multiple_vias_in_one_line_and_many_lines():
    data = INVITE.replace(b"Via: SIP/2.0/UDP client", b"Via: SIP/2.0/TCP p1.example.com;branch=z9hG4bKa;received=192.0.2.9, "
                          b"SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKb;ttl=16;maddr=239.1.1.1\r\nv: SIP/2.0/UDP client")
    vias = parse_message(data).via
    assert [v.host for v in vias] == ["p1.example.com", "[2001:db8::1]", "client.atlanta.example.com"]
    assert vias[0].received == "192.0.2.9" and vias[1].ttl == 16 and vias[1].maddr == "239.1.1.1"
    assert vias[1].port == 5062 and vias[0].transport == "TCP"


@pytest.mark.parametrize("via,detail", [
    ("SIP/2.0/UDP host;received=not-an-ip", "received"),
    ("SIP/2.0/UDP host;ttl=300", "ttl"),
    ("SIP/2.0/UDP host;branch", "branch"),
    ("SIP/2.0/UDP host;rport=99999", "rport"),
    ("SIP/2.0/UDP", "sent"),
])
def test_bad_via_params(via, detail):
    with pytest.raises(MessageError) as e:
        parse_message(INVITE.replace(b"SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;rport",
                                     via.encode()))
    assert detail in e.value.detail


def test_folding_is_unfolded():
    data = INVITE.replace(b"Subject", b"").replace(b"Allow: INVITE, ACK,", b"Allow: INVITE,\r\n  ACK,\r\n\t")
    assert parse_message(data).headers.get_all("Allow")[:3] == ["INVITE", "ACK", "CANCEL"]
    assert b"Allow: INVITE, ACK, CANCEL" in parse_message(data).serialize()


def test_contact_star_and_name_addr_forms():
    data = (b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h.example.com;branch=z9hG4bKx\r\n"
            b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c1\r\nCSeq: 2 REGISTER\r\n"
            b"Contact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n")
    m = parse_message(data)
    assert m.contact_is_star and m.contact == [] and m.expires == 0
    na = NameAddr.parse('"Quoted \\"x\\"" <sip:a@b;lr>;expires=60;q=0.5', "Contact")
    assert na.display_name == 'Quoted "x"' and na.expires == 60 and na.q == 0.5 and na.uri.lr
    assert NameAddr.parse(str(na)) == na


def test_response_and_make_response():
    req = parse_message(INVITE)
    resp = make_response(req, 180, to_tag="as83kd")
    assert isinstance(resp, Response) and resp.reason == "Ringing"
    assert resp.to.tag == "as83kd" and resp.from_.tag == "9fxced76sl"
    assert resp.call_id == req.call_id and resp.cseq == req.cseq and resp.via == req.via
    parsed = parse_message(resp.serialize())
    assert parsed == resp and parsed.status == 180
    trying = make_response(req, 100, to_tag="zz")
    assert trying.to.tag is None
    ok = make_response(req, 200, to_tag="t", body=SDP, headers=[("Content-Type", MediaType("application", "sdp"))])
    assert parse_message(ok.serialize()).content_type.mime == "application/sdp"


def test_build_request_from_parts():
    req = Request("OPTIONS", SipUri("example.com", user="bob"))
    req.add("Via", Via("client.example.com", 5060, "TCP", {"branch": "z9hG4bKnew"}))
    req.set("From", NameAddr(SipUri("example.com", user="a"), "A", {"tag": "x"}))
    req.set("To", NameAddr(SipUri("example.com", user="bob")))
    req.set("Call-ID", "abc@h")
    req.set("CSeq", CSeq(1, "OPTIONS"))
    req.set("Max-Forwards", "70")
    again = parse_message(req.serialize())
    assert again == req and again.via[0].branch == "z9hG4bKnew" and again.from_.display_name == "A"
    req.set("CSeq", CSeq(2, "OPTIONS"))
    assert req.cseq.seq == 2  # typed cache follows header changes


def test_headers_container():
    h = Headers()
    h.add("v", "SIP/2.0/UDP a;branch=z9hG4bK1")
    h.add("Via", "SIP/2.0/UDP b;branch=z9hG4bK2", first=True)
    assert h.get("VIA").endswith("b;branch=z9hG4bK2") and len(h.get_all("via")) == 2
    assert "via" in h and "Route" not in h
    h.set("X-Foo", "1")
    h.set("x-foo", "2")
    assert h.lines("X-FOO") == ["2"]
    assert h.remove("Via") == 2 and len(h) == 1
    with pytest.raises(ValueError):
        h.add("X", "a\r\nInjected: 1")


def test_bounds():
    with pytest.raises(MessageError) as e:
        parse_message(INVITE + b"x" * 70000)
    assert e.value.status == 513
    many = INVITE.replace(b"Max-Forwards: 70\r\n", b"X-A: 1\r\n" * (MAX_HEADERS + 1) + b"Max-Forwards: 70\r\n")
    with pytest.raises(MessageError, match="header fields"):
        parse_message(many)
    long_line = INVITE.replace(b"Max-Forwards: 70\r\n", b"X-Long: " + b"a" * 9000 + b"\r\nMax-Forwards: 70\r\n")
    with pytest.raises(MessageError, match="longer than"):
        parse_message(long_line)
    with pytest.raises(MessageError, match="empty line"):
        parse_message(INVITE.split(b"\r\n\r\n")[0])
    with pytest.raises(MessageError, match="bare CR or LF"):
        parse_message(INVITE.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\nX: y\r\n"))


def test_bodies_kept_as_bytes():
    for ctype, body in [("text/plain;charset=utf-8", "h\u00e9llo".encode()),
                        ("application/pidf+xml", b"<?xml version='1.0'?><presence/>"),
                        ("application/simple-message-summary", b"Messages-Waiting: yes\r\nVoice-Message: 2/8\r\n"),
                        ("message/sipfrag", b"SIP/2.0 200 OK\r\n")]:
        data = INVITE.replace(b"application/sdp", ctype.encode()).replace(
            b"Content-Length: %d\r\n\r\n" % len(SDP) + SDP, b"Content-Length: %d\r\n\r\n" % len(body) + body)
        m = parse_message(data)
        assert m.body == body and m.content_type.mime == ctype.split(";")[0]
    assert m.body_text() == "SIP/2.0 200 OK\r\n"


def test_make_400_and_check_request():
    bad = INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE")
    resp = make_400(bad, to_tag="t1")
    assert resp.status == 400 and resp.reason == "CSeq method does not match request method"
    assert resp.to.tag == "t1" and resp.headers.get("Warning").startswith('399 sipctl "CSeq method')
    assert parse_message(resp.serialize()).status == 400
    assert make_400(INVITE) is None                                   # nothing wrong
    assert make_400(bad.replace(b"INVITE sip", b"ACK sip").replace(b"1 BYE", b"1 FOO")) is None  # never answer ACK
    assert make_400(b"garbage") is None
    with pytest.raises(MessageError) as e:
        parse_message(bad)
    assert make_400(e.value, to_tag="t1") == resp
    assert make_400(ParseError("no data")) is None
    req = parse_message(INVITE.replace(b"INVITE sip:bob@biloxi.example.com", b"INVITE urn:service:sos"))
    with pytest.raises(ParseError) as e:
        check_request(req)
    assert e.value.status == 416
    check_request(parse_message(INVITE))


# --- stream framing -------------------------------------------------------------------------
def _drain(f):
    out = []
    while (ev := f.next_event()) is not None:
        out.append(ev)
    return out


def test_framer_any_chunking():
    stream = b"\r\n\r\n" + INVITE + b"\r\n" + INVITE + INVITE
    for size in (1, 2, 3, 7, 100, len(stream)):
        f = StreamFramer(pings=True)
        events = []
        for i in range(0, len(stream), size):
            f.feed(stream[i:i + size])
            events += _drain(f)
        kinds = [type(e).__name__ for e in events]
        assert kinds == ["KeepAlivePing", "Request", "KeepAlivePong", "Request", "Request"], (size, kinds)
        assert all(e == parse_message(INVITE) for e in events if isinstance(e, Request))
        assert f.buffered == 0


def test_framer_pong_alone_and_invalid_message():
    f = StreamFramer()
    f.feed(b"\r\n")
    assert isinstance(f.next_event(), KeepAlivePong)
    f.feed(INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE") + INVITE)
    ev = f.next_event()
    assert isinstance(ev, InvalidMessage) and make_400(ev.error).status == 400
    assert isinstance(f.next_event(), Request)


def test_framer_errors_are_sticky():
    f = StreamFramer()
    f.feed(INVITE.replace(b"Content-Length: %d\r\n" % len(SDP), b""))
    with pytest.raises(ParseError, match="missing Content-Length"):
        f.next_event()
    with pytest.raises(ParseError):
        f.next_event()
    f = StreamFramer(max_header_section=100)
    f.feed(b"INVITE " + b"a" * 200)
    with pytest.raises(ParseError, match="header section"):
        f.next_event()
    f = StreamFramer(max_message_size=1000)
    f.feed(INVITE.replace(b"Content-Length: %d" % len(SDP), b"Content-Length: 5000"))
    with pytest.raises(ParseError, match="larger than"):
        f.next_event()
    assert isinstance(KeepAlivePing(), KeepAlivePing)


# Found by the fuzz test: a comma in a bare (unbracketed) Contact URI separates list
# elements (RFC 3261 20.10), so the parse-time check must not accept it as one URI.
@pytest.mark.parametrize("contact", [b"sip:j,.user@host.example.com", b"sip:,j.user@host.example.com"])
def test_comma_in_bare_contact_is_rejected_at_parse_time(contact):
    data = (b"REGISTER sip:example.com SIP/2.0\r\nTo: sip:j.user@example.com\r\n"
            b"From: sip:j.user@example.com;tag=4325\r\nMax-Forwards: 8\r\nCSeq: 8 REGISTER\r\n"
            b"Contact: " + contact + b"\r\nCall-ID: abc\r\n"
            b"Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(ParseError, match="malformed"):
        parse_message(data)


def test_empty_supported_and_allow_are_legal():
    # RFC 3261 25.1: Supported/Allow/Accept may be empty (baresip sends "Supported: ")
    from sipctl.sip.message import parse_message, check_request
    m = parse_message(b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                      b"From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\n"
                      b"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nSupported: \r\nAllow:\r\n"
                      b"Content-Length: 0\r\n\r\n")
    check_request(m)
    assert m.supported == [] and m.allow == []
    with pytest.raises(ParseError, match="empty element in Allow"):
        parse_message(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                      b"From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\n"
                      b"CSeq: 1 OPTIONS\r\nAllow: INVITE, ,BYE\r\nContent-Length: 0\r\n\r\n")
