"""RFC 3261 section 12 dialogs: creation (UAC/UAS), routing, CSeq, target refresh, matching."""
from __future__ import annotations

import itertools

import pytest

from sipctl.sip.dialog import CONFIRMED, EARLY, TERMINATED, Dialog, DialogId, DialogSet
from sipctl.sip.errors import LocalProtocolError, RemoteProtocolError
from sipctl.sip.message import Request, Response, make_response, parse_message
from sipctl.sip.via import Via
from sipctl.sip.transaction import (AckReceived, RequestReceived, ResponseReceived, SendMessage,
                                    TransactionLayer)


def msg(text: str) -> Request | Response:
    return parse_message(text.replace("\n", "\r\n").encode())


INVITE = """INVITE sips:bob@biloxi.example SIP/2.0
Via: SIP/2.0/TLS pc33.atlanta.example;branch=z9hG4bK776asdhds
Max-Forwards: 70
To: Bob <sips:bob@biloxi.example>
From: Alice <sips:alice@atlanta.example>;tag=1928301774
Call-ID: a84b4c76e66710
CSeq: 314159 INVITE
Contact: <sips:alice@pc33.atlanta.example>
{extra}
"""


def invite(extra: str = "") -> Request:
    return msg(INVITE.format(extra=extra + "\n" if extra else ""))  # type: ignore[return-value]


def answer(req: Request, status: int, tag: str | None = "a6c85cf", rr: tuple[str, ...] = (),
           contact: str | None = "<sips:bob@192.0.2.4>") -> Response:
    headers = [("Contact", contact)] if contact else []
    resp = make_response(req, status, to_tag=tag, headers=headers, copy_record_route=False)
    for r in rr:
        resp.add("Record-Route", r)
    return resp


RR_LOOSE = ("<sip:p2.example;lr>", "<sip:p1.example;lr>")


# --- UAC ---------------------------------------------------------------------------------------
def test_uac_early_dialog_from_180_then_confirmed_by_200() -> None:
    req = invite()
    d = Dialog.from_uac(req, answer(req, 180, rr=("<sip:early.example;lr>",)))
    assert d.state == EARLY and d.is_uac and d.secure
    assert d.id == DialogId("a84b4c76e66710", "1928301774", "a6c85cf")
    assert str(d.remote_target) == "sips:bob@192.0.2.4" and d.local_seq == 314159 and d.remote_seq is None
    assert [str(r.uri) for r in d.route_set] == ["sip:early.example;lr"]
    d.receive_response(answer(req, 200, rr=RR_LOOSE, contact="<sips:bob@192.0.2.5>"))
    assert d.state == CONFIRMED
    assert [str(r.uri) for r in d.route_set] == ["sip:p1.example;lr", "sip:p2.example;lr"]  # reversed
    assert str(d.remote_target) == "sips:bob@192.0.2.5"


def test_180_without_tag_or_100_creates_no_dialog() -> None:
    req = invite()
    for resp in (answer(req, 180, tag=None), answer(req, 100, tag=None), answer(req, 486)):
        with pytest.raises(LocalProtocolError):
            Dialog.from_uac(req, resp)
    ds = DialogSet()
    assert ds.process_response(req, answer(req, 180, tag=None)) is None and len(ds) == 0


def test_uac_bye_and_ack_loose_routing() -> None:
    req = invite()
    d = Dialog.from_uac(req, answer(req, 200, rr=RR_LOOSE))
    ack = d.create_ack(via="SIP/2.0/TLS pc33.atlanta.example;branch=z9hG4bKack")
    assert ack.method == "ACK" and (ack.cseq.seq, ack.cseq.method) == (314159, "ACK")
    assert ack.uri_text == "sips:bob@192.0.2.4"
    assert [str(r.uri) for r in ack.route] == ["sip:p1.example;lr", "sip:p2.example;lr"]
    assert ack.from_.tag == "1928301774" and ack.to.tag == "a6c85cf" and ack.call_id == "a84b4c76e66710"
    assert not ack.contact and ack.via[0].branch == "z9hG4bKack"
    bye = d.create_request("BYE", via=Via("pc33.atlanta.example", transport="TLS"))
    assert (bye.cseq.seq, bye.cseq.method) == (314160, "BYE") and d.local_seq == 314160
    assert bye.uri_text == "sips:bob@192.0.2.4" and len(bye.route) == 2 and not bye.contact
    assert bye.max_forwards == 70 and bye.via[0].branch is None
    assert not d.create_request("INFO").via
    # round trip through the parser
    again = parse_message(bye.serialize())
    assert isinstance(again, Request) and again.cseq.seq == 314160
    assert again.to.tag == "a6c85cf" and again.from_.display_name == "Alice"
    d.receive_response(make_response(bye, 200))
    assert d.state == TERMINATED
    with pytest.raises(LocalProtocolError):
        d.create_request("INFO")


def test_strict_routing() -> None:
    req = invite()
    d = Dialog.from_uac(req, answer(req, 200, rr=("<sip:p2.example;lr>", "<sip:strict.example;method=INVITE;foo=1>")))
    assert not d.route_set[0].uri.lr
    r = d.create_request("INFO", body=b"x", headers=[("Content-Type", "text/plain")])
    assert r.uri_text == "sip:strict.example;foo=1"      # method is not allowed in a Request-URI
    assert [str(x.uri) for x in r.route] == ["sip:p2.example;lr", "sips:bob@192.0.2.4"]
    assert r.body == b"x" and r.content_type.mime == "text/plain"


def test_no_route_set() -> None:
    req = invite()
    d = Dialog.from_uac(req, answer(req, 200))
    r = d.create_request("UPDATE")
    assert r.uri_text == "sips:bob@192.0.2.4" and not r.route
    assert [str(c.uri) for c in r.contact] == ["sips:alice@pc33.atlanta.example"]  # target refresh


def test_reinvite_target_refresh_and_ack_cseq() -> None:
    req = invite()
    d = Dialog.from_uac(req, answer(req, 200))
    re = d.create_request("INVITE", body=b"v=0\r\n")
    assert re.cseq.seq == 314160 and d.invite_seq == 314160 and re.contact
    d.receive_response(answer(re, 200, contact="<sips:bob@198.51.100.7>"))
    assert str(d.remote_target) == "sips:bob@198.51.100.7"
    assert d.create_ack().cseq.seq == 314160 and d.local_seq == 314160
    up = d.create_request("UPDATE")
    d.receive_response(answer(up, 200, contact="<sips:bob@198.51.100.8>"))
    assert str(d.remote_target) == "sips:bob@198.51.100.8"
    info = d.create_request("INFO")
    d.receive_response(answer(info, 200, contact="<sips:bob@198.51.100.9>"))   # not a target refresh
    assert str(d.remote_target) == "sips:bob@198.51.100.8"


@pytest.mark.parametrize("status", [481, 408])
def test_481_and_408_terminate(status: int) -> None:
    req = invite()
    d = Dialog.from_uac(req, answer(req, 200))
    d.receive_response(make_response(d.create_request("INFO"), status))
    assert d.state == TERMINATED


def test_explicit_cseq_and_misuse() -> None:
    req = invite()
    d = Dialog.from_uac(req, answer(req, 200))
    assert d.create_request("NOTIFY", cseq=400000).cseq.seq == 400000
    with pytest.raises(LocalProtocolError):
        d.create_request("INFO", cseq=5)
    with pytest.raises(LocalProtocolError):
        d.create_request("CANCEL")
    sub = Dialog.from_uac(msg(INVITE.format(extra="").replace("INVITE", "SUBSCRIBE")),  # type: ignore[arg-type]
                          answer(req, 200))
    with pytest.raises(LocalProtocolError):
        sub.create_ack()                                # no INVITE to acknowledge


# --- UAS ---------------------------------------------------------------------------------------
def uas_dialog(status: int = 200) -> tuple[Request, Dialog]:
    req = invite("Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>")
    resp = make_response(req, status, to_tag="uas1", headers=[("Contact", "<sip:bob@192.0.2.4>")])
    return req, Dialog.from_uas(req, resp)


def test_uas_dialog_fields_and_route_order() -> None:
    req, d = uas_dialog()
    assert not d.is_uac and d.state == CONFIRMED
    assert d.id == DialogId("a84b4c76e66710", "uas1", "1928301774")
    assert [str(r.uri) for r in d.route_set] == ["sip:p1.example;lr", "sip:p2.example;lr"]  # not reversed
    assert str(d.remote_target) == "sips:alice@pc33.atlanta.example"
    assert d.remote_seq == 314159 and d.local_seq is None
    bye = d.create_request("BYE")
    assert bye.cseq.seq == 1 and bye.from_.tag == "uas1" and bye.to.tag == "1928301774"
    assert bye.from_.uri == req.to.uri and bye.to.uri == req.from_.uri
    assert [str(r.uri) for r in bye.route] == ["sip:p1.example;lr", "sip:p2.example;lr"]


def in_dialog(method: str, seq: int, contact: str | None = None) -> Request:
    text = (f"{method} sips:bob@192.0.2.4 SIP/2.0\nVia: SIP/2.0/TLS pc33.atlanta.example;branch=z9hG4bK{method}{seq}\n"
            "To: <sips:bob@biloxi.example>;tag=uas1\nFrom: <sips:alice@atlanta.example>;tag=1928301774\n"
            f"Call-ID: a84b4c76e66710\nCSeq: {seq} {method}\n" + (f"Contact: {contact}\n" if contact else "") + "\n")
    return msg(text)  # type: ignore[return-value]


def test_uas_cseq_rules() -> None:
    _, d = uas_dialog()
    d.receive_request(in_dialog("ACK", 314159))
    d.receive_request(in_dialog("INFO", 314160))
    assert d.remote_seq == 314160
    with pytest.raises(RemoteProtocolError) as e:
        d.receive_request(in_dialog("INFO", 314158))
    assert e.value.status == 500 and d.remote_seq == 314160
    d.receive_request(in_dialog("INFO", 314200))                 # gaps are fine
    d.receive_request(in_dialog("ACK", 314160))                  # ACK not checked
    assert d.remote_seq == 314200


def test_uas_target_refresh_and_bye() -> None:
    _, d = uas_dialog()
    d.receive_request(in_dialog("INVITE", 314160, "<sips:alice@203.0.113.9>"))
    assert str(d.remote_target) == "sips:alice@203.0.113.9"
    d.receive_request(in_dialog("UPDATE", 314161, "<sips:alice@203.0.113.10>"))
    assert str(d.remote_target) == "sips:alice@203.0.113.10"
    d.receive_request(in_dialog("INFO", 314162, "<sips:alice@203.0.113.11>"))
    assert str(d.remote_target) == "sips:alice@203.0.113.10"
    d.receive_request(in_dialog("BYE", 314163))
    assert d.state == TERMINATED
    with pytest.raises(RemoteProtocolError) as e:
        d.receive_request(in_dialog("INFO", 314164))
    assert e.value.status == 481


def test_uas_early_then_confirmed_or_terminated() -> None:
    req, d = uas_dialog(180)
    assert d.state == EARLY
    d.response_sent(make_response(req, 200, to_tag="uas1"))
    assert d.state == CONFIRMED
    req, d = uas_dialog(183)
    d.response_sent(make_response(req, 486, to_tag="uas1"))
    assert d.state == TERMINATED


def test_uas_needs_contact_and_tag() -> None:
    req = msg(INVITE.format(extra="").replace("Contact: <sips:alice@pc33.atlanta.example>\n", ""))
    with pytest.raises(RemoteProtocolError):
        Dialog.from_uas(req, make_response(req, 200, to_tag="x"))  # type: ignore[arg-type]
    req = invite()
    with pytest.raises(LocalProtocolError):
        Dialog.from_uas(req, make_response(req, 200))


# --- matching ------------------------------------------------------------------------------------
def test_dialog_set_matching_and_forks() -> None:
    req = invite()
    ds = DialogSet()
    d1 = ds.process_response(req, answer(req, 180, tag="fork1"))
    d2 = ds.process_response(req, answer(req, 183, tag="fork2"))
    assert d1 is not None and d2 is not None and d1 is not d2 and len(ds) == 2
    assert ds.early("a84b4c76e66710", "1928301774") == [d1, d2]
    assert ds.process_response(req, answer(req, 180, tag="fork1")) is d1   # same dialog
    got = ds.process_response(req, answer(req, 200, tag="fork2"))
    assert got is d2 and d2.state == CONFIRMED and d1.state == EARLY
    # an in-dialog request from the peer of fork2
    incoming = msg("BYE sip:alice@pc33.atlanta.example SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKb\n"
                   "From: <sips:bob@biloxi.example>;tag=fork2\nTo: <sips:alice@atlanta.example>;tag=1928301774\n"
                   "Call-ID: a84b4c76e66710\nCSeq: 1 BYE\n\n")
    assert ds.match_request(incoming) is d2  # type: ignore[arg-type]
    assert ds.match_response(answer(req, 200, tag="fork3")) is None
    assert ds.match_request(invite()) is None                           # no To tag: not in a dialog
    d2.terminate()
    assert ds.prune() == [d2] and d2 not in ds and d1 in ds


def test_non_2xx_final_terminates_early_dialogs() -> None:
    req = invite()
    ds = DialogSet()
    d1 = ds.process_response(req, answer(req, 180, tag="fork1"))
    ds.process_response(req, answer(req, 180, tag="fork2"))
    ds.process_response(req, answer(req, 486, tag="fork9"))
    assert len(ds) == 0 and d1.state == TERMINATED


# --- over the transaction layer -------------------------------------------------------------------
def test_call_over_transaction_layers() -> None:
    c = itertools.count()
    rnd = lambda n: next(c).to_bytes(n, "big")  # noqa: E731
    alice, bob = TransactionLayer(rnd), TransactionLayer(rnd)
    A, B = ("192.0.2.1", 5061), ("192.0.2.4", 5061)

    def deliver(src: TransactionLayer, dst: TransactionLayer, src_addr: tuple, now: float) -> list:
        others = []
        for ev in src.events():
            if isinstance(ev, SendMessage):
                dst.receive(parse_message(ev.message.serialize()), src_addr, True, now)
            else:
                others.append(ev)
        return others

    req = invite()
    req.headers.set("Via", "SIP/2.0/TLS pc33.atlanta.example")
    alice.send_request(req, B, True, 0.0)
    deliver(alice, bob, A, 0.0)
    got = [e for e in bob.events() if isinstance(e, RequestReceived)][0]
    uas = Dialog.from_uas(got.request, make_response(got.request, 200, to_tag="b1",
                                                     headers=[("Contact", "<sips:bob@192.0.2.4>")]))
    ok = make_response(got.request, 200, to_tag="b1", headers=[("Contact", "<sips:bob@192.0.2.4>")])
    bob.send_response(ok, 0.1)
    uas.response_sent(ok)
    deliver(bob, alice, B, 0.1)
    evs = alice.events()
    resp = [e.response for e in evs if isinstance(e, ResponseReceived) and e.response.status == 200][0]
    uac = Dialog.from_uac(req, resp)
    alice.send_stateless(uac.create_ack(via="SIP/2.0/TLS pc33.atlanta.example;branch=z9hG4bKack"), B, True)
    deliver(alice, bob, A, 0.2)
    acks = [e for e in bob.events() if isinstance(e, AckReceived)]
    assert len(acks) == 1 and acks[0].key is None
    uas.receive_request(acks[0].request)
    bye = uac.create_request("BYE", via="SIP/2.0/TLS pc33.atlanta.example")
    alice.send_request(bye, B, True, 0.3)
    deliver(alice, bob, A, 0.3)
    got = [e for e in bob.events() if isinstance(e, RequestReceived)][0]
    ds = DialogSet()
    ds.add(uas)
    assert ds.match_request(got.request) is uas
    uas.receive_request(got.request)
    bob.send_response(make_response(got.request, 200), 0.3)
    deliver(bob, alice, B, 0.3)
    evs = alice.events()
    uac.receive_response([e.response for e in evs if isinstance(e, ResponseReceived)][0])
    assert uas.state == TERMINATED and uac.state == TERMINATED
