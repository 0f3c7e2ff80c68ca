"""Interop: UserAgent registration against the real Kamailio fixture (UDP, TCP, TLS)."""
from __future__ import annotations

import asyncio
import time

import pytest

from peers import make_kamailio  # noqa: F401  (pytest fixture)
from sipctl.accounts import Account, RegistrationSettings
from sipctl.registration_events import RegisterFailed, Registered, Unregistered
from sipctl.transport import TransportConfig
from sipctl.ua import UserAgent

TRANSPORTS = {"udp": 0, "tcp": 1, "tls": 2}


def account(kam, transport: str = "udp", password: str = "alice-secret",
            user: str = "alice") -> Account:
    host, port = kam.addr(transport)
    return Account(server=f"{host}:{port}", username=user, password=password,
                   register_interval=10, transport=TRANSPORTS[transport])


def make_ua(kam, acc: Account, **kw) -> UserAgent:
    cfg = TransportConfig(localip="127.0.0.1", tls_ca_file=str(kam.certs.ca_cert),
                          tls_cert_file=str(kam.certs.cert), tls_key_file=str(kam.certs.key))
    kw.setdefault("settings", RegistrationSettings(backoff_min=1.0, backoff_max=2.0,
                                                   backoff_jitter=0.0))
    ua = UserAgent([acc], transport_config=cfg, timer=kw.pop("timer", 1), **kw)
    sent: list = []
    orig = ua.transactions.send_request

    def record(request, destination, reliable, now):
        sent.append((time.monotonic(), request))
        return orig(request, destination, reliable, now)
    ua.transactions.send_request = record  # type: ignore[method-assign]
    ua.sent = sent  # type: ignore[attr-defined]
    return ua


async def wait_for(ua: UserAgent, kind: type, timeout: float):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        ev = await ua.next_event(max(left, 0.001))
        if isinstance(ev, kind):
            return ev


def bindings(kam, ua: UserAgent, transport: str = "udp") -> list:
    port = ua.registrar[1].contact.port  # type: ignore[index]
    return [r for r in kam.registrations() if r[0] == "alice" and f":{port}" in r[1]]


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_register_refresh_unregister(make_kamailio, transport):  # noqa: F811
    kam = make_kamailio(min_expires=10)

    async def main():
        ua = make_ua(kam, account(kam, transport))
        await ua.start()
        try:
            ev = await wait_for(ua, Registered, 5)
            assert ev.expires == 10
            assert len(bindings(kam, ua, transport)) == 1
            first = ua.sent[-1][1].cseq.seq
            ev = await wait_for(ua, Registered, 9)  # refresh at 5 s
            assert ua.sent[-1][1].cseq.seq > first
            assert ua.sent[-1][1].call_id == ua.sent[0][1].call_id
            assert len(bindings(kam, ua, transport)) == 1
        finally:
            await ua.stop()
        assert bindings(kam, ua, transport) == []

    asyncio.run(asyncio.wait_for(main(), 30))


def test_wrong_password_fails_without_hammering(make_kamailio):  # noqa: F811
    kam = make_kamailio(min_expires=10)

    async def main():
        ua = make_ua(kam, account(kam, password="wrong"),
                     settings=RegistrationSettings(backoff_min=30.0))
        await ua.start()
        try:
            ev = await wait_for(ua, RegisterFailed, 5)
            assert ev.status in (401, 403, 407)
            assert ev.reason
            assert ev.retry_in is not None and ev.retry_in >= 20
            await asyncio.sleep(2.0)
            assert len(ua.sent) <= 3  # initial + credentials (+ nothing in the window)
            assert ua.registrar is not None and not ua.registrar.is_registered()
        finally:
            await ua.stop()

    asyncio.run(asyncio.wait_for(main(), 20))


def test_server_killed_then_recovers(make_kamailio):  # noqa: F811
    kam = make_kamailio(min_expires=10)

    async def main():
        ua = make_ua(kam, account(kam, "udp"))
        await ua.start()
        try:
            await wait_for(ua, Registered, 5)
            await asyncio.to_thread(kam.kill)
            ev = await wait_for(ua, RegisterFailed, 12)  # refresh at 5 s, Timer F 3.2 s
            assert ev.status is None or ev.status >= 500
            await asyncio.to_thread(kam.restart)
            await wait_for(ua, Registered, 10)
            assert len(bindings(kam, ua)) == 1
        finally:
            await ua.stop()

    asyncio.run(asyncio.wait_for(main(), 40))
