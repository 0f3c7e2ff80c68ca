"""Keep-alives per keepalivetype / keepaliveival, on loopback."""
from __future__ import annotations

import asyncio
import socket

import pytest

from sipctl.transport.events import KeepAliveDue, KeepAliveFailed, KeepAlivePong
from sipctl.transport.keepalive import DEFAULT_INTERVAL_MS, KeepAlive, keepalive_payload
from sipctl.transport.stream import StreamTransport
from sipctl.transport.udp import UdpTransport


def run(coro, timeout: float = 10.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_payloads_and_defaults():
    assert [keepalive_payload(t) for t in range(5)] == [None, b" \r\n", None, b"\r\n",
                                                         b"\r\n\r\n"]
    assert DEFAULT_INTERVAL_MS == 28000
    with pytest.raises(ValueError, match="keepalivetype must be 0..4"):
        keepalive_payload(5)


@pytest.mark.parametrize("kind,payload", [(1, b" \r\n"), (3, b"\r\n"), (4, b"\r\n\r\n")])
def test_udp_keepalive_bytes_at_interval(kind, payload):
    async def main():
        q = asyncio.Queue()
        t = await UdpTransport.open(q, "127.0.0.1", 0)
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        loop = asyncio.get_running_loop()
        ka = KeepAlive(t, peer.getsockname(), q, keepalivetype=kind, interval_ms=50)
        try:
            start = loop.time()
            ka.start()
            got = [await loop.sock_recv(peer, 100) for _ in range(3)]
            elapsed = loop.time() - start
            assert got == [payload] * 3
            assert elapsed >= 0.14  # three intervals of 50 ms
            assert not ka.expects_pong and ka.sent >= 3
        finally:
            await ka.stop()
            assert not ka.running
            peer.close()
            await t.close()
        assert q.empty()  # no pong expected on UDP, so no failure either
    run(main())


def test_notify_type_asks_the_core():
    async def main():
        q = asyncio.Queue()
        t = await UdpTransport.open(q, "127.0.0.1", 0)
        ka = KeepAlive(t, ("127.0.0.1", 5060), q, keepalivetype=2, interval_ms=30)
        ka.start()
        ev = await asyncio.wait_for(q.get(), 2)
        await ka.stop()
        await t.close()
        assert isinstance(ev, KeepAliveDue) and ev.destination == ("127.0.0.1", 5060)
        assert ev.transport is t
    run(main())


def test_disabled():
    async def main():
        q = asyncio.Queue()
        t = await UdpTransport.open(q, "127.0.0.1", 0)
        for ka in (KeepAlive(t, ("127.0.0.1", 9), q, keepalivetype=0),
                   KeepAlive(t, ("127.0.0.1", 9), q, keepalivetype=4, interval_ms=0)):
            assert not ka.enabled
            ka.start()
            assert not ka.running
        await t.close()
    run(main())


def test_stream_ping_gets_pong_from_our_own_transport():
    async def main():
        qa, qb = asyncio.Queue(), asyncio.Queue()
        a = await StreamTransport.open(qa, "127.0.0.1", 0, listen=False)
        b = await StreamTransport.open(qb, "127.0.0.1", 0)
        ka = KeepAlive(a, b.local_address, qa, keepalivetype=4, interval_ms=50,
                       pong_timeout=0.5)
        try:
            assert ka.expects_pong
            ka.start()
            for _ in range(2):
                ev = await asyncio.wait_for(qa.get(), 2)
                assert isinstance(ev, KeepAlivePong) and ev.peer == b.local_address
                ka.pong_received(ev.peer)
            assert ka.pongs >= 2
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 0.7  # longer than pong_timeout: pongs keep it alive
            while (left := deadline - loop.time()) > 0:
                try:
                    ev = await asyncio.wait_for(qa.get(), left)
                except asyncio.TimeoutError:
                    break
                assert not isinstance(ev, KeepAliveFailed)
                ka.pong_received(ev.peer)
        finally:
            await ka.stop()
            await a.close()
            await b.close()
    run(main())


def test_missing_pong_reports_failure():
    async def main():
        # a TCP server that reads and never answers
        async def silent(reader, writer):
            try:
                await reader.read(100)
                await asyncio.sleep(5)
            finally:
                writer.close()
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        addr = server.sockets[0].getsockname()
        q = asyncio.Queue()
        a = await StreamTransport.open(q, "127.0.0.1", 0, listen=False)
        ka = KeepAlive(a, addr, q, keepalivetype=4, interval_ms=20, pong_timeout=0.2)
        try:
            ka.start()
            ev = await asyncio.wait_for(q.get(), 2)
            assert isinstance(ev, KeepAliveFailed) and ev.peer == addr and ev.transport is a
        finally:
            await ka.stop()
            await a.close()
            server.close()
    run(main())


def test_send_failure_reports_failure():
    async def main():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()
        q = asyncio.Queue()
        a = await StreamTransport.open(q, "127.0.0.1", 0, listen=False)
        ka = KeepAlive(a, dead, q, keepalivetype=3)
        await ka.send_now()
        ev = await asyncio.wait_for(q.get(), 2)
        assert isinstance(ev, KeepAliveFailed) and ev.peer == dead
        await a.close()
    run(main())
