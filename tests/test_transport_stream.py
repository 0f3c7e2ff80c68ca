"""TCP and TLS transports between two of our own transports on loopback."""
from __future__ import annotations

import asyncio
import socket

import pytest

from peers import make_test_certs
from sipctl.sip.errors import TransportError
from sipctl.sip.message import Request, Response, make_response
from sipctl.transport.events import ConnectionLost, KeepAlivePong, MessageReceived, ParseFailed
from sipctl.transport.stream import StreamTransport

TIMEOUT = 10.0


def has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HOSTS = ["127.0.0.1", pytest.param("::1", marks=pytest.mark.skipif(not has_ipv6(),
                                                                   reason="no IPv6 loopback"))]


def options(branch: str = "z9hG4bKs1", body: bytes = b"", transport: str = "TCP",
            cseq: int = 1) -> bytes:
    return (f"OPTIONS sip:bob@example.com SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} client.example.com;branch={branch}\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:alice@example.com>;tag=1\r\n"
            "To: <sip:bob@example.com>\r\n"
            f"Call-ID: {branch}@example.com\r\n"
            f"CSeq: {cseq} OPTIONS\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


async def get(q: asyncio.Queue, kind: type, skip: tuple = ()):
    """The next event of ``kind`` (events of types in ``skip`` are ignored)."""
    while True:
        ev = await asyncio.wait_for(q.get(), 5)
        if isinstance(ev, kind):
            return ev
        assert isinstance(ev, skip), f"unexpected {ev!r}"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_test_certs(tmp_path_factory.mktemp("certs"))


async def pair(host: str, tls: bool, certs, **kw):
    qa, qb = asyncio.Queue(), asyncio.Queue()
    extra = dict(tls=True, ca_file=str(certs.ca_cert), cert_file=str(certs.cert),
                 key_file=str(certs.key)) if tls else {}
    a = await StreamTransport.open(qa, host, 0, **extra, **kw)
    b = await StreamTransport.open(qb, host, 0, **extra, **kw)
    return qa, a, qb, b


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
@pytest.mark.parametrize("host", HOSTS)
def test_request_response_reuses_connection(host, tls, certs):
    async def main():
        qa, a, qb, b = await pair(host, tls, certs)
        try:
            assert a.reliable and a.name == ("TLS" if tls else "TCP") and a.listening
            await a.send(options(transport=a.name), b.local_address)
            ev = await get(qb, MessageReceived)
            assert isinstance(ev.data, Request) and ev.transport is b
            assert ev.source[0] == host and ev.source != a.local_address  # ephemeral port
            # RFC 3261 18.2.2: the response goes back on the inbound connection
            await b.send(make_response(ev.data, 200, to_tag="x").serialize(), ev.source)
            ev2 = await get(qa, MessageReceived)
            assert isinstance(ev2.data, Response) and ev2.data.status == 200
            assert ev2.source == b.local_address
            assert len(a.connections) == 1 and len(b.connections) == 1
            assert b.connections[0] == (*ev.source, b.name)
            # a second request reuses the pooled outbound connection
            await a.send(options("z9hG4bKs2", transport=a.name, cseq=2), b.local_address)
            ev3 = await get(qb, MessageReceived)
            assert ev3.source == ev.source and len(b.connections) == 1
        finally:
            await a.close()
            await b.close()
    run(main())


def test_split_and_coalesced_messages_and_keepalive_ping():
    async def main():
        q = asyncio.Queue()
        t = await StreamTransport.open(q, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(*t.local_address)
        try:
            m1 = options("z9hG4bKa", body=b"hello body")
            for i in range(0, len(m1), 7):  # split in 7-byte pieces
                writer.write(m1[i:i + 7])
                await writer.drain()
                await asyncio.sleep(0.001)
            ev = await get(q, MessageReceived)
            assert ev.data.body == b"hello body"
            # two messages + a ping + a pong + a third message in one write
            writer.write(options("z9hG4bKb") + b"\r\n\r\n" + b"\r\n" + options("z9hG4bKc"))
            await writer.drain()
            got = [await asyncio.wait_for(q.get(), 5) for _ in range(3)]
            assert [type(e) for e in got] == [MessageReceived, KeepAlivePong, MessageReceived]
            assert got[0].data.via[0].branch == "z9hG4bKb"
            assert got[2].data.via[0].branch == "z9hG4bKc"
            assert await asyncio.wait_for(reader.readexactly(2), 5) == b"\r\n"  # the pong
            # a framed but invalid message: ParseFailed, connection kept
            bad = options("z9hG4bKd").replace(b"Max-Forwards: 70", b"Max-Forwards: many")
            writer.write(bad + options("z9hG4bKe"))
            await writer.drain()
            pf = await get(q, ParseFailed)
            assert pf.error.status == 400 and pf.raw == bad
            ok = await get(q, MessageReceived)
            assert ok.data.via[0].branch == "z9hG4bKe"
        finally:
            writer.close()
            await t.close()
    run(main())


def test_oversize_message_closes_connection():
    async def main():
        q = asyncio.Queue()
        t = await StreamTransport.open(q, "127.0.0.1", 0, max_message_size=2000,
                                       max_header_section=1000)
        reader, writer = await asyncio.open_connection(*t.local_address)
        try:
            writer.write(options("z9hG4bKbig", body=b"x" * 3000))
            await writer.drain()
            pf = await get(q, ParseFailed)
            assert pf.error.status == 513 and pf.raw == b""
            lost = await get(q, ConnectionLost)
            assert lost.peer == writer.get_extra_info("sockname")
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the transport
            assert t.connections == []
            # an endless header section is bounded too
            reader2, writer2 = await asyncio.open_connection(*t.local_address)
            writer2.write(b"OPTIONS sip:x SIP/2.0\r\n" + b"X-Long: " + b"y" * 1500)
            await writer2.drain()
            pf2 = await get(q, ParseFailed)
            assert pf2.error.status == 513
            assert await asyncio.wait_for(reader2.read(), 5) == b""
            writer2.close()
        finally:
            writer.close()
            await t.close()
    run(main())


def test_tls_verification(certs):
    async def main():
        qs = asyncio.Queue()
        server = await StreamTransport.open(qs, "127.0.0.1", 0, tls=True,
                                            cert_file=str(certs.cert), key_file=str(certs.key))
        ok = await StreamTransport.open(asyncio.Queue(), "127.0.0.1", 0, tls=True,
                                        listen=False, ca_file=str(certs.ca_cert))
        no_ca = await StreamTransport.open(asyncio.Queue(), "127.0.0.1", 0, tls=True,
                                           listen=False)
        try:
            assert not ok.listening
            await ok.send(options(transport="TLS"), server.local_address)
            assert isinstance(await get(qs, MessageReceived), MessageReceived)
            # SNI/host name from server_name: "localhost" is in the certificate
            ok2 = await StreamTransport.open(asyncio.Queue(), "127.0.0.1", 0, tls=True,
                                             listen=False, ca_file=str(certs.ca_cert))
            await ok2.send(options("z9hG4bKsni", transport="TLS"), server.local_address,
                           server_name="localhost")
            assert isinstance(await get(qs, MessageReceived, (ConnectionLost,)),
                              MessageReceived)
            await ok2.close()
            with pytest.raises(TransportError, match="TLS handshake .* failed: .*certificate"):
                await no_ca.send(options(transport="TLS"), server.local_address)
            with pytest.raises(TransportError, match="wrong.example.*(mismatch|match)"):
                await ok.send(options(transport="TLS"), server.local_address,
                              server_name="wrong.example")
            assert no_ca.connections == []
        finally:
            for t in (ok, no_ca, server):
                await t.close()
    run(main())


def test_idle_close_and_connect_errors():
    async def main():
        qa, qb = asyncio.Queue(), asyncio.Queue()
        a = await StreamTransport.open(qa, "127.0.0.1", 0, idle_timeout=0.3)
        b = await StreamTransport.open(qb, "127.0.0.1", 0)
        try:
            await a.send(options(), b.local_address)
            await get(qb, MessageReceived)
            assert len(a.connections) == 1
            lost = await get(qa, ConnectionLost)
            assert lost.peer == b.local_address and lost.error is None
            assert a.connections == []
            await get(qb, ConnectionLost)
            # the next send reconnects
            await a.send(options("z9hG4bKagain"), b.local_address)
            await get(qb, MessageReceived)
            with socket.socket() as s:  # a port nobody listens on
                s.bind(("127.0.0.1", 0))
                dead = s.getsockname()
            with pytest.raises(TransportError, match="cannot connect to TCP 127.0.0.1:"):
                await a.send(options(), dead)
        finally:
            await a.close()
            await b.close()
        with pytest.raises(TransportError, match="closed"):
            await a.send(options(), b.local_address)
    run(main())


def test_concurrent_sends_share_one_connection():
    async def main():
        qa, qb = asyncio.Queue(), asyncio.Queue()
        a = await StreamTransport.open(qa, "127.0.0.1", 0, listen=False)
        b = await StreamTransport.open(qb, "127.0.0.1", 0)
        try:
            await asyncio.gather(*(a.send(options(f"z9hG4bKc{i}", cseq=i + 1), b.local_address)
                                   for i in range(5)))
            got = [await get(qb, MessageReceived) for _ in range(5)]
            assert len({e.source for e in got}) == 1 and len(a.connections) == 1
        finally:
            await a.close()
            await b.close()
    run(main())
