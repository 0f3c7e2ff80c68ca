"""UserAgent + RFC 3263: a server name resolved through a tiny DNS server on 127.0.0.1 whose
SRV records list a dead port first and Kamailio second; the UA fails over to Kamailio."""
from __future__ import annotations

import asyncio

import pytest

from peers import free_port, make_kamailio  # noqa: F401  (pytest fixture)
from sipctl.accounts import Account, RegistrationSettings
from sipctl.registration_events import RegisterFailed, Registered, Registering, Unregistered
from sipctl.transport import SipResolver, Target, TransportConfig
from sipctl.ua import UserAgent
from test_dns import TinyDns

ZONE = """
$ORIGIN sipctl.test.
$TTL 300
@                 IN SOA ns hostmaster 1 3600 600 86400 60
@                 IN NS  ns
ns                IN A   127.0.0.1
_sip._udp         IN SRV 10 0 {dead} dead
_sip._udp         IN SRV 20 0 {live} kam
_sip._tcp         IN SRV 10 0 {dead} dead
_sip._tcp         IN SRV 20 0 {live} kam
dead              IN A   127.0.0.1
kam               IN A   127.0.0.1
"""


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_fails_over_to_second_srv_target(make_kamailio, transport):  # noqa: F811
    kam = make_kamailio(min_expires=10)  # realm "sipctl.test": the SIP domain we resolve
    live = kam.addr(transport)[1]
    dead = free_port("127.0.0.1", ("udp", "tcp"))
    tiny = TinyDns(ZONE.format(dead=dead, live=live), origin="sipctl.test.")
    tnum = {"udp": 0, "tcp": 1}[transport]
    name = transport.upper()

    async def main():
        acc = Account(server="sipctl.test", username="alice", password="alice-secret",
                      register_interval=60, transport=tnum)
        ua = UserAgent([acc], transport_config=TransportConfig(localip="127.0.0.1"), timer=1,
                       resolver=SipResolver(tiny.resolver(), transport=tnum, timeout=2.0),
                       settings=RegistrationSettings(backoff_min=1.0, backoff_max=2.0,
                                                     backoff_jitter=0.0))
        dests: list = []
        orig = ua.transactions.send_request

        def record(request, destination, reliable, now):
            dests.append(destination)
            return orig(request, destination, reliable, now)
        ua.transactions.send_request = record  # type: ignore[method-assign]
        await ua.start()
        try:
            assert ua.target() == Target(name, "127.0.0.1", dead, "sipctl.test")
            seen = []
            while True:
                ev = await ua.next_event(15)
                seen.append(type(ev))
                if isinstance(ev, Registered):
                    break
            assert seen[:3] == [Registering, RegisterFailed, Registering], seen
            assert ua.target() == Target(name, "127.0.0.1", live, "sipctl.test")
            assert dests[0].port == dead and dests[-1].port == live
            assert ev.contact.port == ua.local_address(name)[1]
            assert [r for r in kam.registrations() if r[0] == "alice"]
            assert ("_sip._%s.sipctl.test" % transport, "SRV") in tiny.queries
        finally:
            await ua.stop()
        ev = await ua.next_event(1)
        assert isinstance(ev, Unregistered) and ev.confirmed
        assert [r for r in kam.registrations() if r[0] == "alice"] == []

    try:
        asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        tiny.close()
