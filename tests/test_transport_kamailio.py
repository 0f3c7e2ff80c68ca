"""Interop: OPTIONS to the Kamailio fixture over UDP, TCP and TLS; CRLF keep-alive on TCP."""
from __future__ import annotations

import asyncio
import secrets

import pytest

from peers import kamailio_proxy  # noqa: F401  (pytest fixture)
from sipctl.sip.message import Response
from sipctl.transport.dns import Target
from sipctl.transport.events import KeepAlivePong, MessageReceived
from sipctl.transport.manager import TransportConfig, TransportManager
from sipctl.transport.rport import RportTracker, add_rport
from sipctl.sip.message import Request

TIMEOUT = 15.0


def options_request(ruri: str, transport: str, local: tuple[str, int]) -> Request:
    branch = "z9hG4bK" + secrets.token_hex(6)
    req = Request("OPTIONS", ruri, [
        ("Via", f"SIP/2.0/{transport} {local[0]}:{local[1]};branch={branch}"),
        ("Max-Forwards", "70"),
        ("From", f"<sip:probe@127.0.0.1>;tag={secrets.token_hex(4)}"),
        ("To", f"<{ruri}>"),
        ("Call-ID", secrets.token_hex(8)),
        ("CSeq", "1 OPTIONS"),
    ])
    return req


async def wait_response(m: TransportManager, call_id: str) -> MessageReceived:
    while True:
        ev = await asyncio.wait_for(m.next_event(), 5)
        if isinstance(ev, MessageReceived) and isinstance(ev.data, Response) \
                and ev.data.call_id == call_id:
            return ev


@pytest.mark.parametrize("transport", ["UDP", "TCP", "TLS"])
def test_options_to_kamailio(kamailio_proxy, transport):  # noqa: F811
    kam = kamailio_proxy

    async def main():
        cfg = TransportConfig(transport=-1, localip="127.0.0.1",
                              tls_ca_file=str(kam.certs.ca_cert))
        async with TransportManager(cfg) as m:
            host, port = kam.addr(transport.lower())
            target = Target(transport, host, port, server_name="127.0.0.1")
            local = m.contact_address(transport, target.address)
            req = options_request(f"sip:{host}:{port}", transport, local)
            add_rport(req, use_rport=3)
            used = await m.send(req.serialize(), target)
            ev = await wait_response(m, req.call_id)
            assert ev.data.status == 200 and ev.transport is used
            assert ev.source == (host, port)
            if transport == "UDP":
                tracker = RportTracker(3, local)
                tracker.on_response(ev.data)
                assert tracker.learned == local  # Kamailio filled rport with our port
    asyncio.run(asyncio.wait_for(main(), TIMEOUT))


def test_crlf_keepalive_pong_from_kamailio(kamailio_proxy):  # noqa: F811
    kam = kamailio_proxy

    async def main():
        cfg = TransportConfig(transport=1, localip="127.0.0.1", keepalivetype=4,
                              keepaliveival=200)
        async with TransportManager(cfg) as m:
            target = Target("TCP", *kam.tcp_addr)
            ka = m.start_keepalive(target)
            while True:
                ev = await asyncio.wait_for(m.next_event(), 5)
                if isinstance(ev, KeepAlivePong):
                    break
            assert ev.peer == kam.tcp_addr
            assert ka.sent >= 1 and ka.pongs >= 1
            # the flow still carries SIP after the ping/pong
            local = m.contact_address("TCP")
            req = options_request(f"sip:{kam.tcp_addr[0]}:{kam.tcp_addr[1]}", "TCP", local)
            await m.send(req.serialize(), target)
            assert (await wait_response(m, req.call_id)).data.status == 200
    asyncio.run(asyncio.wait_for(main(), TIMEOUT))
