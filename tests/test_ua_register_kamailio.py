"""Interop: UserAgent registration against the real Kamailio fixture (UDP, TCP, TLS)."""
from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from peers import make_kamailio  # noqa: F401  (pytest fixture)
from sipctl.accounts import Account, RegistrationSettings, accounts_from_params
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


def user_bindings(kam, user: str) -> list:
    return [r for r in kam.registrations() if r[0] == user]


async def collect(ua: UserAgent, kind: type, count: int, timeout: float) -> list:
    """The next ``count`` events of ``kind`` (others are skipped)."""
    out: list = []
    while len(out) < count:
        out.append(await wait_for(ua, kind, timeout))
    return out


def test_mixed_udp_and_tcp_accounts_unregister_cleanly(make_kamailio):  # noqa: F811
    """One UA, alice over UDP and bob over TCP: the TCP Contact keeps the listening port (not
    the rport of the ephemeral connection), and both bindings are removed by stop()."""
    kam = make_kamailio(min_expires=10)

    async def main():
        alice = account(kam, "udp")
        bob = dataclasses.replace(account(kam, "tcp", "bob-secret", "bob"), index=2)
        ua = make_ua(kam, alice)
        ua.accounts.append(bob)
        await ua.start()
        try:
            evs = {ev.account.index: ev for ev in await collect(ua, Registered, 2, 5)}
            udp_port, tcp_port = ua.local_address("UDP")[1], ua.local_address("TCP")[1]
            assert (evs[1].contact.port, evs[1].contact.transport) == (udp_port, None)
            assert (evs[2].contact.port, evs[2].contact.transport) == (tcp_port, "tcp")
            assert ua.registrar[2].public_address is not None       # rport was answered...
            assert ua.registrar[2].current_contact.port == tcp_port  # ...and not applied
            [(_, a_contact, _)] = user_bindings(kam, "alice")
            [(_, b_contact, _)] = user_bindings(kam, "bob")
            assert f":{udp_port}" in a_contact and f":{tcp_port};transport=tcp" in b_contact
        finally:
            await ua.stop()
        unreg = {ev.account.index: ev for ev in await collect(ua, Unregistered, 2, 1)}
        assert unreg[1].confirmed and unreg[2].confirmed, unreg
        assert user_bindings(kam, "alice") == [] and user_bindings(kam, "bob") == []

    asyncio.run(asyncio.wait_for(main(), 30))


def test_three_accounts_from_params_register_concurrently(make_kamailio):  # noqa: F811
    kam = make_kamailio(min_expires=10)
    host, port = kam.addr("udp")
    server = f"{host}:{port}"
    accounts = accounts_from_params({
        "serveraddress": server, "username": "alice", "password": "alice-secret",
        "registerinterval": "60",
        "serveraddress2": server, "username2": "bob", "password2": "bob-secret",
        "registerinterval2": "120",
        "extraregisteraccounts": f"{server},carol,carol-secret,180;"})
    assert [(a.index, a.username) for a in accounts] == [(1, "alice"), (2, "bob"), (3, "carol")]
    names = {a.index: a.username for a in accounts}

    async def main():
        ua = make_ua(kam, accounts[0])
        ua.accounts[1:] = accounts[1:]
        await ua.start()
        try:
            evs = await collect(ua, Registered, 3, 5)
            assert sorted(ev.account.index for ev in evs) == [1, 2, 3]
            for ev in evs:
                assert ev.contact.user == names[ev.account.index]
                assert ev.expires == {1: 60, 2: 120, 3: 180}[ev.account.index]
            # concurrently: the three first REGISTERs left before any answer was handled
            first_three = [r.from_.uri.user for _, r in ua.sent[:3]]
            assert sorted(first_three) == ["alice", "bob", "carol"]
            assert len({r.call_id for _, r in ua.sent}) == 3
            ua_port = ua.local_address("UDP")[1]
            for user in names.values():
                [(_, contact, expires)] = user_bindings(kam, user)
                assert contact.startswith(f"sip:{user}@") and f":{ua_port}" in contact
                assert expires > 0
        finally:
            await ua.stop()
        unreg = await collect(ua, Unregistered, 3, 1)
        assert sorted(ev.account.index for ev in unreg) == [1, 2, 3]
        assert all(ev.confirmed for ev in unreg), unreg
        assert all(user_bindings(kam, u) == [] for u in names.values())

    asyncio.run(asyncio.wait_for(main(), 30))
