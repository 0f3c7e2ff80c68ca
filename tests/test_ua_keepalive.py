"""UserAgent keep-alives toward the registrar (``keepalivetype``/``keepaliveival``) and the
immediate re-register when the registrar's stream connection is lost."""
from __future__ import annotations

import asyncio

import pytest

from peers import make_kamailio  # noqa: F401  (pytest fixture)
from sipctl.accounts import Account, RegistrationSettings
from sipctl.registration_events import Registered
from sipctl.sip.message import Request, make_response, parse_message
from sipctl.transport import TransportConfig
from sipctl.ua import UserAgent

SETTINGS = RegistrationSettings(backoff_min=1.0, backoff_max=2.0, backoff_jitter=0.0)


async def wait_for(ua: UserAgent, kind: type, timeout: float):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        ev = await ua.next_event(max(deadline - asyncio.get_running_loop().time(), 0.001))
        if isinstance(ev, kind):
            return ev


class UdpRegistrar(asyncio.DatagramProtocol):
    """A local UDP socket standing in for the registrar: 200 to every REGISTER, records
    every other datagram (the keep-alives)."""

    def __init__(self) -> None:
        self.registers: list[Request] = []
        self.other: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[override]
        if not data.startswith(b"REGISTER "):
            self.other.append(data)
            return
        req = parse_message(data)
        assert isinstance(req, Request)
        self.registers.append(req)
        contact = req.headers.lines("Contact")[0]
        resp = make_response(req, 200, to_tag="reg", headers=[("Contact", contact),
                                                               ("Expires", req.expires)])
        assert self.transport is not None
        self.transport.sendto(resp.serialize(), addr)


@pytest.mark.parametrize("kind, payload", [(1, b" \r\n"), (3, b"\r\n"), (4, b"\r\n\r\n")])
def test_udp_keepalives_after_registered(kind, payload):
    async def main():
        loop = asyncio.get_running_loop()
        sock, reg = await loop.create_datagram_endpoint(UdpRegistrar,
                                                        local_addr=("127.0.0.1", 0))
        port = sock.get_extra_info("sockname")[1]
        acc = Account(server=f"127.0.0.1:{port}", username="alice", password="x",
                      register_interval=60, transport=0)
        cfg = TransportConfig(transport=0, localip="127.0.0.1", keepalivetype=kind,
                              keepaliveival=200)
        ua = UserAgent([acc], transport_config=cfg, timer=1, settings=SETTINGS)
        try:
            await ua.start()
            await wait_for(ua, Registered, 3)
            assert reg.other == []          # the first one comes one interval after Registered
            await asyncio.sleep(0.7)
            assert len(reg.other) >= 2, reg.other
            assert set(reg.other) == {payload}
            [ka] = ua.keepalives.values()
            assert ka.sent >= 2 and ka.pongs == 0 and not ka.expects_pong
            await ua.stop()
            n = len(reg.other)
            await asyncio.sleep(0.5)
            assert len(reg.other) == n      # stopped with the UA
            assert reg.registers[-1].expires == 0
        finally:
            await ua.stop()
            sock.close()

    asyncio.run(asyncio.wait_for(main(), 20))


def test_udp_keepalives_disabled():
    async def main():
        loop = asyncio.get_running_loop()
        sock, reg = await loop.create_datagram_endpoint(UdpRegistrar,
                                                        local_addr=("127.0.0.1", 0))
        port = sock.get_extra_info("sockname")[1]
        acc = Account(server=f"127.0.0.1:{port}", username="alice", password="x",
                      register_interval=60, transport=0)
        cfg = TransportConfig(transport=0, localip="127.0.0.1", keepalivetype=0,
                              keepaliveival=100)
        ua = UserAgent([acc], transport_config=cfg, timer=1, settings=SETTINGS)
        try:
            await ua.start()
            await wait_for(ua, Registered, 3)
            await asyncio.sleep(0.5)
            assert reg.other == [] and ua.keepalives == {}
        finally:
            await ua.stop()
            sock.close()

    asyncio.run(asyncio.wait_for(main(), 20))


def tcp_ua(kam, interval: int, keepaliveival: int) -> UserAgent:
    host, port = kam.addr("tcp")
    acc = Account(server=f"{host}:{port}", username="alice", password="alice-secret",
                  register_interval=interval, transport=1)
    cfg = TransportConfig(localip="127.0.0.1", keepalivetype=4, keepaliveival=keepaliveival)
    return UserAgent([acc], transport_config=cfg, timer=1, settings=SETTINGS)


def test_tcp_crlf_ping_gets_kamailio_pong(make_kamailio):  # noqa: F811
    kam = make_kamailio(min_expires=10)

    async def main():
        ua = tcp_ua(kam, 60, 300)
        await ua.start()
        try:
            await wait_for(ua, Registered, 5)
            [(target, ka)] = ua.keepalives.items()
            assert target == ua.target(1) and ka.expects_pong
            await asyncio.sleep(1.3)
            assert ka.sent >= 2 and ka.pongs >= 2, (ka.sent, ka.pongs)
            assert ua.registrar is not None and ua.registrar.is_registered()
        finally:
            await ua.stop()
        assert [r for r in kam.registrations() if r[0] == "alice"] == []

    asyncio.run(asyncio.wait_for(main(), 30))


def test_tcp_connection_lost_reregisters_at_once(make_kamailio):  # noqa: F811
    kam = make_kamailio(min_expires=10)

    async def main():
        ua = tcp_ua(kam, 600, 0)  # refresh would come after 540 s; no keep-alives
        await ua.start()
        try:
            first = await wait_for(ua, Registered, 5)
            call_id = ua.registrar[1].call_id  # type: ignore[index]
            await asyncio.to_thread(kam.restart)   # the bindings are in memory: gone now
            assert [r for r in kam.registrations() if r[0] == "alice"] == []
            ev = await wait_for(ua, Registered, 15)
            assert ev.contact == first.contact
            assert ua.registrar[1].call_id == call_id  # type: ignore[index]
            assert len([r for r in kam.registrations() if r[0] == "alice"]) == 1
        finally:
            await ua.stop()
        assert [r for r in kam.registrations() if r[0] == "alice"] == []

    asyncio.run(asyncio.wait_for(main(), 40))
