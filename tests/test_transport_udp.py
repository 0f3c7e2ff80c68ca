"""UDP transport: loopback IPv4/IPv6, parse failures, keep-alive datagrams, bind errors."""
from __future__ import annotations

import asyncio
import socket

import pytest

from sipctl.sip.errors import TransportError
from sipctl.sip.message import Request, Response, make_400
from sipctl.transport.base import BindError
from sipctl.transport.events import MessageReceived, ParseFailed
from sipctl.transport.manager import TransportConfig, TransportManager
from sipctl.transport.udp import UdpTransport, tos_value

TIMEOUT = 5.0


def options(host: str, port: int, transport: str = "UDP", branch: str = "z9hG4bKudp1") -> bytes:
    h = f"[{host}]" if ":" in host else host
    return (f"OPTIONS sip:{h}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} {h}:{port};branch={branch}\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:alice@example.com>;tag=1\r\n"
            "To: <sip:bob@example.com>\r\n"
            "Call-ID: call-1@example.com\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


def has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("host", ["127.0.0.1", pytest.param("::1", marks=pytest.mark.skipif(
    not has_ipv6(), reason="no IPv6 loopback"))])
def test_request_and_response_between_two_transports(host):
    async def main():
        qa, qb = asyncio.Queue(), asyncio.Queue()
        a = await UdpTransport.open(qa, host, 0)
        b = await UdpTransport.open(qb, host, 0)
        try:
            assert a.local_address[0] == host and a.local_address[1] > 0
            assert not a.reliable and a.name == "UDP"
            await a.send(options(host, a.local_address[1]), b.local_address)
            ev = await qb.get()
            assert isinstance(ev, MessageReceived)
            assert isinstance(ev.data, Request) and ev.data.method == "OPTIONS"
            assert ev.source == a.local_address and ev.transport is b
            # answer to the source
            from sipctl.sip.message import make_response
            resp = make_response(ev.data, 200, to_tag="t1")
            await b.send(resp.serialize(), ev.source)
            ev2 = await qa.get()
            assert isinstance(ev2, MessageReceived) and isinstance(ev2.message, Response)
            assert ev2.message.status == 200 and ev2.source == b.local_address
        finally:
            await a.close()
            await b.close()
    run(main())


def test_bad_datagrams_give_parse_failed_and_transport_survives():
    async def main():
        q = asyncio.Queue()
        t = await UdpTransport.open(q, "127.0.0.1", 0)
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        raw.bind(("127.0.0.1", 0))
        try:
            dest = t.local_address
            bad = options("127.0.0.1", 1).replace(b"Max-Forwards: 70", b"Max-Forwards: lots")
            for payload in (b"\r\n\r\n", b" \r\n", b"\x00\xff garbage", bad, b"\r\n"):
                raw.sendto(payload, dest)
            raw.sendto(options("127.0.0.1", raw.getsockname()[1]), dest)
            e1 = await q.get()
            assert isinstance(e1, ParseFailed) and e1.raw == b"\x00\xff garbage"
            assert e1.source == raw.getsockname()
            e2 = await q.get()
            assert isinstance(e2, ParseFailed) and e2.error.status == 400
            answer = make_400(e2.error)
            assert answer is not None and answer.status == 400
            e3 = await q.get()  # keep-alive datagrams were dropped silently
            assert isinstance(e3, MessageReceived)
            assert q.empty()
        finally:
            raw.close()
            await t.close()
    run(main())


def test_bind_in_use_gives_clear_error():
    async def main():
        q = asyncio.Queue()
        a = await UdpTransport.open(q, "127.0.0.1", 0)
        try:
            port = a.local_address[1]
            with pytest.raises(BindError, match=f"cannot bind UDP 127.0.0.1:{port}: address in use"):
                await UdpTransport.open(q, "127.0.0.1", port)
        finally:
            await a.close()
    run(main())


def test_send_errors():
    async def main():
        q = asyncio.Queue()
        a = await UdpTransport.open(q, "127.0.0.1", 0, udptos=1)
        with pytest.raises(TransportError, match="address family"):
            await a.send(b"x", ("::1", 5060))
        with pytest.raises(TransportError, match="too large"):
            await a.send(b"x" * 70000, ("127.0.0.1", 9))
        await a.close()
        with pytest.raises(TransportError, match="closed"):
            await a.send(b"x", ("127.0.0.1", 9))
    run(main())
    assert tos_value(0) == 0 and tos_value(1) == 0x10 and tos_value(8) == 8
    with pytest.raises(ValueError):
        tos_value(300)


def test_manager_opens_transports_and_picks():
    async def main():
        cfg = TransportConfig(transport=-1, localip="127.0.0.1", signalingport=0)
        async with TransportManager(cfg) as m:
            names = sorted(t.name for t in m.transports)
            assert names == ["TCP", "TLS", "UDP"]
            udp = m.pick(("udp", "127.0.0.1"))
            tcp = m.pick(("TCP", "127.0.0.1"))
            assert udp.local_address[1] == tcp.local_address[1]  # shared port number
            assert m.contact_address("UDP") == udp.local_address
            with pytest.raises(TransportError, match="no UDP transport open for IPv6"):
                m.pick(("UDP", "::1"))
            from sipctl.transport.dns import Target
            peer_q = asyncio.Queue()
            peer = await UdpTransport.open(peer_q, "127.0.0.1", 0)
            try:
                used = await m.send(options("127.0.0.1", 1), Target("UDP", *peer.local_address))
                assert used is udp
                ev = await peer_q.get()
                assert isinstance(ev, MessageReceived) and ev.source == udp.local_address
            finally:
                await peer.close()
        cfg = TransportConfig(transport=0, localip="", signalingport=0)
        async with TransportManager(cfg) as m:
            assert [t.name for t in m.transports] == ["UDP"]
            host, port = m.contact_address("UDP", ("127.0.0.1", 5060))
            assert host == "127.0.0.1" and port == m.transports[0].local_address[1]
        with pytest.raises(ValueError, match="not supported"):
            TransportManager(TransportConfig(transport=3))
    run(main())
