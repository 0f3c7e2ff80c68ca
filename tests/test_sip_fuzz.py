"""Fuzzing the message reader and the stream framer with hypothesis (bounded, < 20 s).

Only ParseError may come out of ``parse_message`` and ``StreamFramer``; whatever parses
round-trips (parse -> serialize -> parse gives an equal message) and every typed view of
it works.
"""
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipctl.sip.errors import ParseError
from sipctl.sip.framing import InvalidMessage, StreamFramer
from sipctl.sip.message import Request, make_400, parse_message

DATA = Path(__file__).parent / "data" / "rfc4475"
SEEDS = [p.read_bytes() for p in sorted(DATA.glob("*.dat"))]
SEEDS.append(b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
             b"Max-Forwards: 70\r\nTo: Bob <sip:bob@biloxi.example.com>\r\nFrom: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
             b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\nCSeq: 314159 INVITE\r\nContact: <sip:alice@pc33.atlanta.example.com>\r\n"
             b"Content-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n")
VIEWS = ("via", "from_", "to", "call_id", "cseq", "contact", "contact_is_star", "route", "record_route",
         "max_forwards", "expires", "content_type", "allow", "supported", "require", "proxy_require", "event",
         "subscription_state", "rseq", "rack", "date")
FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except ParseError:
        make_400(data, to_tag="x")  # must not raise either
        return
    for view in VIEWS:
        getattr(msg, view)  # a parsed message has no latent errors in its known headers
    if isinstance(msg, Request):
        msg.uri
    again = parse_message(msg.serialize())
    assert again == msg
    assert parse_message(again.serialize(compact=True)) == msg


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "duplicate", "delete", "insert", "shuffle"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[i:]
        elif op == "duplicate":
            j = draw(st.integers(i, min(len(data), i + 80)))
            data[i:i] = data[i:j]
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 20))]
        elif op == "insert":
            data[i:i] = draw(st.sampled_from([b"\r\n", b" ", b";", b",", b"\"", b"<", b">", b":", b"%", b"\x00",
                                              b"\r\n ", b"\xff", b"=", b"@", b"[", b"]", b"\t", b"\n", b"\r"]))
        else:  # shuffle header lines
            head, sep, body = bytes(data).partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            rest = draw(st.permutations(lines[1:]))
            data = bytearray(b"\r\n".join([lines[0], *rest]) + sep + body)
    return bytes(data)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(data):
    check(data)


@FUZZ
@given(mutated())
def test_mutated_messages(data):
    check(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(SEEDS), min_size=1, max_size=4), st.lists(st.integers(1, 300), min_size=1, max_size=8),
       mutated())
def test_stream_framer(seeds, cuts, junk):
    stream = b"".join(seeds) + junk + b"".join(seeds)
    f = StreamFramer()
    pos = 0
    i = 0
    try:
        while pos < len(stream):
            step = cuts[i % len(cuts)]
            f.feed(stream[pos:pos + step])
            pos += step
            i += 1
            while (ev := f.next_event()) is not None:
                if isinstance(ev, InvalidMessage):
                    make_400(ev.error)
    except ParseError:
        pass


def test_seeds_round_trip():
    for data in SEEDS:
        check(data)
