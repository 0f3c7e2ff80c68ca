"""RFC 3581 rport per use_rport."""
from __future__ import annotations

import pytest

from sipctl.sip.message import Request, Response, parse_message
from sipctl.transport.rport import (RportTracker, add_rport, is_public_ip,
                                    public_address_from, should_request_rport)


def request(via: str = "SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1",
            extra_via: str | None = None) -> Request:
    headers = [("Via", via)]
    if extra_via:
        headers.append(("Via", extra_via))
    headers += [("From", "<sip:a@example.com>;tag=1"), ("To", "<sip:b@example.com>"),
                ("Call-ID", "c1"), ("CSeq", "1 OPTIONS"), ("Max-Forwards", "70")]
    return Request("OPTIONS", "sip:b@example.com", headers)


def response(via: str) -> Response:
    return Response(200, None, [("Via", via), ("From", "<sip:a@example.com>;tag=1"),
                                ("To", "<sip:b@example.com>;tag=2"), ("Call-ID", "c1"),
                                ("CSeq", "1 OPTIONS")])


def test_should_request():
    assert not should_request_rport(0, "192.168.1.10")
    for mode in (1, 2, 3, 9):
        assert should_request_rport(mode, "192.168.1.10")
    assert not should_request_rport(1, "8.8.8.8") and not should_request_rport(2, "8.8.8.8")
    assert should_request_rport(3, "8.8.8.8") and should_request_rport(9, "8.8.8.8")
    assert is_public_ip("8.8.8.8") and not is_public_ip("10.0.0.1")
    assert not is_public_ip("example.com") and not is_public_ip("::1")
    with pytest.raises(ValueError, match="use_rport"):
        should_request_rport(5, "1.2.3.4")


def test_add_rport_to_top_via_only():
    req = request(extra_via="SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0")
    assert add_rport(req, 2)
    vias = req.via
    assert vias[0].rport is True and vias[0].branch == "z9hG4bK1"
    assert vias[1].rport is None
    data = req.serialize()
    assert b"Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1;rport\r\n" in data
    assert parse_message(data).via[0].rport is True
    assert add_rport(req, 2)  # idempotent
    assert req.serialize().count(b"rport") == 1
    plain = request()
    assert not add_rport(plain, 0) and plain.via[0].rport is None
    # comma-separated Vias on one line
    both = request(via="SIP/2.0/UDP 192.168.1.10;branch=z9hG4bKa, SIP/2.0/TCP 10.0.0.2;branch=z9hG4bKb")
    add_rport(both, 1)
    assert [v.rport for v in both.via] == [True, None]
    assert [v.branch for v in both.via] == ["z9hG4bKa", "z9hG4bKb"]


def test_public_address_from_response():
    r = response("SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1;received=203.0.113.7;rport=40000")
    assert public_address_from(r) == ("203.0.113.7", 40000)
    assert public_address_from(response("SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1;rport")) is None
    r2 = response("SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1;rport=5062")
    assert public_address_from(r2) == ("192.168.1.10", 5062)
    r6 = response("SIP/2.0/UDP [fd00::1]:5060;branch=z9hG4bK1;received=2001:db8::7;rport=1")
    assert public_address_from(r6) == ("2001:db8::7", 1)


NAT = "SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1;received=203.0.113.7;rport=40000"
NAT2 = "SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1;received=203.0.113.7;rport=40001"


def test_tracker_modes():
    local = ("192.168.1.10", 5060)
    t2 = RportTracker(2, local)
    assert t2.requests_rport and t2.contact_address == local
    assert t2.on_response(response(NAT)) is True
    assert t2.public_address == ("203.0.113.7", 40000)
    assert t2.on_response(response(NAT)) is False
    assert t2.on_response(response(NAT2)) is True and t2.contact_address[1] == 40001

    t1 = RportTracker(1, local, confirmations=2)
    assert t1.on_response(response(NAT)) is False and t1.public_address is None
    assert t1.learned == ("203.0.113.7", 40000)
    assert t1.on_response(response(NAT)) is True
    assert t1.public_address == ("203.0.113.7", 40000)

    t9 = RportTracker(9, local)
    assert t9.requests_rport
    assert t9.on_response(response(NAT)) is False and t9.public_address is None
    assert t9.learned == ("203.0.113.7", 40000)

    t0 = RportTracker(0, local)
    assert not t0.requests_rport and not t0.on_response(response(NAT))

    public = ("8.8.4.4", 5060)  # a global address (no traffic is sent)
    assert not RportTracker(2, public).on_response(response(NAT))
    t3 = RportTracker(3, public)
    assert t3.requests_rport and t3.on_response(response(NAT))

    same = response("SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1;rport=5060")
    assert not RportTracker(2, local).on_response(same)  # not behind a NAT
