"""Interop: UserAgent REGISTER against SIPp UAS scenarios (digest challenges, Timer E/F)."""
from __future__ import annotations

import asyncio

import pytest

from peers import sipp_runner  # noqa: F401  (pytest fixture)
from sipctl.accounts import Account, RegistrationSettings
from sipctl.registration_events import RegisterFailed, Registered
from sipctl.transport import TransportConfig
from sipctl.ua import UserAgent

SETTINGS = RegistrationSettings(needunregister=False, backoff_min=30.0)


def make_ua(addr, timer: float = 10) -> UserAgent:
    acc = Account(server=f"{addr[0]}:{addr[1]}", username="alice", password="secret",
                  register_interval=60, transport=0)
    return UserAgent([acc], transport_config=TransportConfig(transport=0, localip="127.0.0.1"),
                     settings=SETTINGS, timer=timer)


async def wait_for(ua: UserAgent, kind: type, timeout: float):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        ev = await ua.next_event(max(deadline - loop.time(), 0.001))
        if isinstance(ev, kind):
            return ev


@pytest.mark.parametrize("scenario,header", [("uas_401", "Authorization"),
                                             ("uas_407", "Proxy-Authorization")])
def test_challenge_answered(sipp_runner, scenario, header):  # noqa: F811
    sp = sipp_runner.background(scenario, transport="udp", timeout=10)

    async def main():
        ua = make_ua(sp.addr)
        await ua.start()
        try:
            ev = await wait_for(ua, Registered, 5)
            assert ev.expires == 60
        finally:
            await ua.stop()

    asyncio.run(asyncio.wait_for(main(), 15))
    result = sp.wait(5)
    regs = result.received("REGISTER")
    assert len(regs) == 2
    assert regs[0].header(header) is None
    assert regs[1].header(header) is not None and "Digest" in regs[1].header(header)
    assert regs[0].header("Call-ID") == regs[1].header("Call-ID")
    assert result.ok, result.describe()


def test_silent_server_timer_e_and_f(sipp_runner):  # noqa: F811
    sp = sipp_runner.background("uas_silent", transport="udp", timeout=8, duration_ms=6000)
    t1, t2 = 0.05, 0.4  # timer=1: RFC values / 10

    async def main():
        ua = make_ua(sp.addr, timer=1)
        loop = asyncio.get_running_loop()
        await ua.start()
        t0 = loop.time()
        try:
            ev = await wait_for(ua, RegisterFailed, 5)
            assert ev.status is None and ev.reason == "timeout"
            assert 64 * t1 - 0.1 <= loop.time() - t0 <= 64 * t1 + 0.5
        finally:
            await ua.stop()

    asyncio.run(asyncio.wait_for(main(), 10))
    result = sp.stop()
    times = [m.time for m in result.received("REGISTER")]
    expected, at, interval = [], 0.0, t1
    while at < 64 * t1 - 1e-9:
        expected.append(at)
        at += interval
        interval = min(2 * interval, t2)
    assert len(times) in (len(expected), len(expected) - 1), (times, expected)
    for got, want in zip(times, expected):
        assert abs((got - times[0]) - want) <= 0.1, (times, expected)
