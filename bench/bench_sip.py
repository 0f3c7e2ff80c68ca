"""SIP message parse+serialize of a typical INVITE with SDP: ours vs a naive regex parser.

The peer ("naive regex") is the parser many small SIP tools start with, written here so
that both run on the same input in the same process: split the datagram at the empty
line, split the header section into lines, one regex per header line for name and
value, a dict of lists, Content-Length taken at face value, and a join to serialise.
It does no unfolding, no validation, no typed views, no bounds. Ours validates every
known header (Via, From, To, Contact, CSeq, ...) and enforces the RFC 3261 rules, so a
ratio below 1 is expected; the absolute target is >= 20,000 INVITE parses/s on one core
(reported in ``extra``).
"""
from __future__ import annotations

import re


from bench.core import Case, _per_op
from sipctl.sip.message import parse_message

SDP = (b"v=0\r\no=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\ns=-\r\n"
       b"c=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n"
       b"a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n")
INVITE = (b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;rport\r\n"
          b"Max-Forwards: 70\r\n"
          b"From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
          b"To: Bob <sip:bob@biloxi.example.com>\r\n"
          b"Call-ID: 3848276298220188511@atlanta.example.com\r\n"
          b"CSeq: 1 INVITE\r\n"
          b"Contact: <sip:alice@client.atlanta.example.com;transport=udp>\r\n"
          b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO\r\n"
          b"Supported: replaces, timer, 100rel\r\n"
          b"User-Agent: sipctl/0.1\r\n"
          b"Content-Type: application/sdp\r\n"
          b"Content-Length: %d\r\n\r\n" % len(SDP)) + SDP

_NAIVE_HEADER = re.compile(r"([^:\s]+)\s*:\s*(.*)")


def naive_parse(data: bytes) -> tuple[str, dict[str, list[str]], bytes]:
    """The peer: split lines, one regex per header line, no validation."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        m = _NAIVE_HEADER.match(line)
        if m:
            headers.setdefault(m.group(1).lower(), []).append(m.group(2))
    length = int(headers.get("content-length", ["0"])[0])
    return lines[0], headers, body[:length]


def naive_serialize(msg: tuple[str, dict[str, list[str]], bytes]) -> bytes:
    start, headers, body = msg
    out = [start] + [f"{k}: {v}" for k, vs in headers.items() for v in vs]
    return ("\r\n".join(out) + "\r\n\r\n").encode() + body


def ours() -> bytes:
    return parse_message(INVITE).serialize()


def peer() -> bytes:
    return naive_serialize(naive_parse(INVITE))


def _rate() -> dict[str, str]:
    per = _per_op(lambda: parse_message(INVITE), 0.2)
    rate = 1.0 / per
    return {"INVITE parses/s": f"{rate:,.0f}",
            "target 20,000/s": "met" if rate >= 20000 else "MISSED"}


CASES: list[Case] = [
    Case("sip parse+serialize INVITE with SDP", ours, peer, peer_name="naive regex", unit="us/op",
         target=None, extra=_rate()),
]


def test_same_content():
    start, headers, body = naive_parse(INVITE)
    msg = parse_message(INVITE)
    assert msg.start_line() == start and msg.body == body
    assert len(msg.headers) == sum(len(v) for v in headers.values())
