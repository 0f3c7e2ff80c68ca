"""RFC 4475 torture messages (tests/data/rfc4475, byte-exact): parse, check, re-serialise.

Valid messages must parse and keep the fields the RFC points at; invalid ones must be
rejected with a ParseError naming the problem, and ``make_400`` must answer requests
with that reason (or return None where no response can or may be sent).
"""
from pathlib import Path

import pytest

from sipctl.sip.errors import ParseError
from sipctl.sip.headers import CSeq
from sipctl.sip.message import MessageError, Response, check_request, make_400, parse_message
from sipctl.sip.uri import AbsoluteUri

DATA = Path(__file__).parent / "data" / "rfc4475"

VALID = ["wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "dblreq", "semiuri",
         "transports", "mpart01", "unreason", "noreason", "badbranch", "unkscm", "novelsc", "unksm2",
         "bext01", "invut", "regaut01", "bcast", "zeromf", "cparam01", "cparam02", "regescrt", "sdp01",
         "inv2543"]
#: message -> (detail substring, status make_400 answers with, or None: must not answer)
INVALID = {
    "badinv01": ("empty parameter in Via", 400),
    "clerr": ("Content-Length larger than body", 400),
    "ncl": ("negative Content-Length", 400),
    "scalar02": ("CSeq sequence number 36893488147419103232 out of range", 400),
    "scalarlg": ("CSeq sequence number 9292394834772304023312 out of range", None),  # a response
    "quotbal": ("unterminated quoted string in display name of To", 400),
    "ltgtruri": ("Request-URI enclosed in <>", 400),
    "lwsruri": ("whitespace inside the Request-URI", 400),
    "lwsstart": ("Request-Line elements separated by more than one SP", 400),
    "trws": ("whitespace at the end of the Request-Line", 400),
    "escruri": ("escaped headers not allowed in a SIP Request-URI", 400),
    "baddate": ("invalid time zone in Date (must be GMT)", 400),
    "regbadct": ("URI with headers in Contact must be enclosed in <>", 400),
    "badaspec": ("whitespace inside <> around the addr-spec of To", 400),
    "baddn": ("display name of From has non-token characters and is not quoted", 400),
    "badvers": ("SIP version 7.0 not supported", 505),
    "mismatch01": ("CSeq method does not match request method", 400),
    "mismatch02": ("CSeq method does not match request method", 400),
    "bigcode": ("status code 4294967301 out of range", None),                     # a response
    "insuf": ("missing required header fields: From, To, Call-ID", None),      # nothing to answer with
    "multi01": ("multiple CSeq header fields", 400),
    "mcl01": ("multiple Content-Length header fields", 400),
}


def load(name: str) -> bytes:
    return (DATA / f"{name}.dat").read_bytes()


def test_corpus_complete():
    assert sorted(p.stem for p in DATA.glob("*.dat")) == sorted(VALID + list(INVALID))


@pytest.mark.parametrize("name", VALID)
def test_valid_round_trip(name):
    m = parse_message(load(name))
    again = parse_message(m.serialize())
    assert again == m
    assert again.serialize() == m.serialize()
    for attr in ("via", "from_", "to", "call_id", "cseq", "contact", "route", "record_route", "max_forwards",
                 "content_type", "expires", "allow", "supported", "require", "proxy_require"):
        getattr(m, attr)  # every typed view of a parsed message works


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_rejected(name):
    detail, status = INVALID[name]
    data = load(name)
    with pytest.raises(MessageError) as e:
        parse_message(data)
    assert detail in e.value.detail
    assert e.value.data == data
    resp = make_400(e.value, to_tag="t0rture")
    if status is None:
        assert resp is None
        return
    assert resp is not None and resp.status == status
    if status == 400:
        assert resp.reason == e.value.detail
    assert detail in resp.headers.get("Warning")
    out = resp.serialize()
    assert out.startswith(b"SIP/2.0 %d " % status) and out.endswith(b"\r\nContent-Length: 0\r\n\r\n")
    request = parse_headers_loosely(data)
    for header in ("Call-ID", "CSeq", "From"):  # echoed as received (even when they are the culprit)
        assert resp.headers.get(header) == request[header]
    assert resp.headers.lines("Via") == request["Via*"]


def parse_headers_loosely(data: bytes) -> dict:
    head = data.split(b"\r\n\r\n")[0].decode("utf-8", "surrogateescape")
    out: dict = {"Via*": []}
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        name = {"i": "Call-ID", "f": "From", "v": "Via"}.get(name.strip(), name.strip())
        if name == "Via":
            out["Via*"].append(value.strip())
        out.setdefault(name, value.strip())
    return out


def test_wsinv():
    m = parse_message(load("wsinv"))
    assert m.method == "INVITE" and m.uri.params == {"unknownparam": None}
    assert m.to.tag == "1918181833n" and m.to.display_name is None
    assert m.from_.display_name == 'J Rosenberg \\"' and m.from_.tag == "98asjd8"
    assert m.max_forwards == 68 and m.cseq == CSeq(9, "INVITE")
    assert [(v.transport, v.host, v.branch) for v in m.via] == [
        ("UDP", "192.0.2.2", "390skdjuw"), ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239")]
    assert m.headers.get("Subject") == ""
    assert m.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert m.route[0].uri.params == {"lr": None, "unknownwith": "value", "unknown-no-value": None}
    c = m.contact[0]
    assert c.display_name == 'Quoted string ""' and c.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert m.content_type.mime == "application/sdp" and len(m.body) == 150
    assert len(m.headers) == 14


def test_intmeth():
    m = parse_message(load("intmeth"))
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~" and m.cseq.method == m.method
    assert m.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert m.via[0].branch == "z9hG4bK-.!%66*_+`'~"
    assert m.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert m.from_.param("fromParam''~+*_!.-%") == "\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439"
    assert m.from_.tag == "_token~1'+`*%!-."
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff\u5927\u505c\u96fb"
    assert m.max_forwards == 255


def test_escapes():
    m = parse_message(load("esc01"))
    assert m.uri.user == "sips:user@example.com"
    assert m.to.uri.user == "user" and m.from_.uri.user == "I have spaces"
    assert m.contact[0].uri.user == "caller" and m.contact[0].uri.params == {"lr": None, "name": "value%41"}
    m = parse_message(load("escnull"))
    assert m.to.uri.user == "null-\x00-null"
    assert [c.uri.user for c in m.contact] == ["\x00", "\x00\x00"]
    m = parse_message(load("esc02"))      # % is no escape in methods, header names, display names
    assert m.method == "RE%47IST%45R" and m.cseq.method == "RE%47IST%45R"
    assert m.to.display_name == "%Z%45" and m.via[0].branch == "z9hG4bK209%fzsnel234"
    assert [str(c.uri) for c in m.contact] == ["sip:alias1@host1.example.com", "sip:alias3@host3.example.com"]
    assert m.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"  # an unknown header


def test_misc_valid():
    assert parse_message(load("lwsdisp")).from_.display_name == "caller"
    m = parse_message(load("longreq"))
    assert len(m.via) == 34 and m.via[-1].received == "192.0.2.5"
    assert m.to.display_name == "I have a user name of " + "extreme" * 10 + " proportion"
    assert m.to.uri.port == 6000 and m.from_.tag == "12" + "982" * 50 + "424"
    assert m.call_id == "longreq.one" + "really" * 20 + "longcallid"
    m = parse_message(load("dblreq"))     # trailing octets after Content-Length 0 are ignored
    assert m.method == "REGISTER" and m.body == b"" and b"INVITE" not in m.serialize()
    m = parse_message(load("semiuri"))
    assert m.uri.user == "user;par=u@example.net" and m.uri.params == {}
    assert len(m.headers.get_all("Accept")) == 6
    m = parse_message(load("transports"))
    assert [v.transport for v in m.via] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    m = parse_message(load("mpart01"))
    assert m.content_type.mime == "multipart/mixed" and m.content_type.param("boundary") == "7a9cbec02ceef655"
    assert len(m.body) == 553 and m.body.endswith(b"--7a9cbec02ceef655--\r\n")
    m = parse_message(load("unreason"))
    assert isinstance(m, Response) and m.status == 200
    assert m.reason == "= 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e \u0434\u0435\u0432\u044f\u043d\u043e\u0441\u0442\u043e \u0434\u0435\u0432\u044f\u0442\u044c - \u043f\u0440\u043e\u0441\u0442\u043e\u0435"
    m = parse_message(load("noreason"))
    assert m.status == 100 and m.reason == ""


def test_semantics_left_to_upper_layers():
    # 3.2.1: only the magic cookie: well formed, but the transaction layer must not use it as a
    # transaction id (falls back to RFC 2543 matching).
    v = parse_message(load("badbranch")).via[0]
    assert v.branch == "z9hG4bK" and not v.has_rfc3261_branch
    # 3.3.2 / 3.3.3: syntactically fine; a UAS answers 416.
    for name, scheme in (("unkscm", "nobodyknowsthisscheme"), ("novelsc", "soap.beep")):
        req = parse_message(load(name))
        assert isinstance(req.uri, AbsoluteUri) and req.uri.scheme == scheme
        with pytest.raises(ParseError) as e:
            check_request(req)
        assert e.value.status == 416
    # 3.3.4: unknown schemes in To/From/Contact parse; the registrar decides (416).
    m = parse_message(load("unksm2"))
    assert (m.to.uri.scheme, m.from_.uri.scheme, m.contact[0].uri.scheme) == ("isbn", "http", "name")
    # 3.3.5: the UAS answers 420 with Unsupported: the option tags are readable.
    assert parse_message(load("bext01")).require == ["nothingSupportsThis", "nothingSupportsThisEither"]
    # 3.3.6: 415 for the unknown body type, decided by the UA.
    m = parse_message(load("invut"))
    assert m.content_type.mime == "application/unknownformat" and len(m.body) == 40
    # 3.3.7: unknown auth scheme kept raw for the auth module to refuse.
    assert parse_message(load("regaut01")).headers.get("Authorization") == "NoOneKnowsThisScheme opaque-data=here"
    # 3.3.10: a response; the broadcast Via is the transaction layer's to ignore.
    assert parse_message(load("bcast")).via[1].host == "255.255.255.255"
    # 3.3.11: Max-Forwards 0 is legal; a proxy answers 483, an OPTIONS UAS answers normally.
    assert parse_message(load("zeromf")).max_forwards == 0
    # 3.3.12/13: parameters after an addr-spec are header params, in <> they are URI params.
    c1 = parse_message(load("cparam01")).contact[0]
    assert c1.params == {"unknownparam": None} and c1.uri.params == {}
    c2 = parse_message(load("cparam02")).contact[0]
    assert c2.params == {} and c2.uri.params == {"unknownparam": None}
    # 3.3.14: escaped header in a Contact URI in <> is fine.
    assert parse_message(load("regescrt")).contact[0].uri.headers == [("Route", "<sip:sip.example.com>")]
    # 3.3.15: Accept with an unknown type: the UA answers 488/406.
    assert parse_message(load("sdp01")).headers.get("Accept") == "text/nobodyKnowsThis"
    # 3.4.1: RFC 2543 syntax: no Max-Forwards, no branch, no tags, no Content-Length (datagram).
    m = parse_message(load("inv2543"))
    assert m.max_forwards is None and m.via[0].branch is None and m.from_.tag is None
    assert m.to.params == {"user": "phone"} and m.record_route[0].uri.maddr == "ss1.example.com"
    assert m.body.startswith(b"v=0") and len(m.body) == 105


def test_multi01_note():
    # The RFC prints "l: 154" above a 152-octet body; duplicates are found first.
    data = load("multi01")
    assert len(data.split(b"\r\n\r\n", 1)[1]) == 152
    with pytest.raises(MessageError, match="multiple CSeq"):
        parse_message(data)


def test_stream_of_torture_messages():
    from sipctl.sip.framing import InvalidMessage, StreamFramer
    f = StreamFramer()
    names = [n for n in VALID if n not in ("dblreq", "inv2543")]  # no/short Content-Length
    for n in names:
        f.feed(load(n))
    events = []
    while (ev := f.next_event()) is not None:
        events.append(ev)
    assert [e.call_id for e in events] == [parse_message(load(n)).call_id for n in names]
    assert not any(isinstance(e, InvalidMessage) for e in events)
