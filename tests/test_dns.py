"""RFC 3263 resolution against a tiny authoritative DNS server on 127.0.0.1."""
from __future__ import annotations

import asyncio
import random
import socket
import threading

import dns.asyncresolver
import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest

from sipctl.sip.errors import TransactionTimeout, TransportError
from sipctl.sip.message import Response
from sipctl.transport.dns import (Failover, ResolveError, ResolveTimeout, SipResolver, Target,
                                  order_srv, parse_destination, should_failover)
from sipctl.transport.events import MessageReceived
from sipctl.transport.stream import StreamTransport

ZONE = """
$ORIGIN sip.test.
$TTL 300
@                 IN SOA ns hostmaster 1 3600 600 86400 60
@                 IN NS  ns
ns                IN A   127.0.0.1
; NAPTR: TLS preferred, then TCP, then UDP; a non-SIP service is skipped
naptr             IN NAPTR 20 50 "s" "SIP+D2T" "" _sip._tcp.naptr.sip.test.
naptr             IN NAPTR 10 50 "s" "SIPS+D2T" "" _sips._tcp.naptr.sip.test.
naptr             IN NAPTR 30 50 "s" "SIP+D2U" "" _sip._udp.naptr.sip.test.
naptr             IN NAPTR 5 50 "s" "E2U+sip" "" _x._tcp.naptr.sip.test.
_sips._tcp.naptr  IN SRV 0 0 5061 tls.naptr
_sip._tcp.naptr   IN SRV 0 0 5060 tcp.naptr
_sip._udp.naptr   IN SRV 0 0 5060 udp.naptr
tls.naptr         IN A 127.0.1.1
tcp.naptr         IN A 127.0.1.2
udp.naptr         IN A 127.0.1.3
; SRV only (no NAPTR), priorities and weights, A for the domain too
_sip._udp.srv     IN SRV 10 60 5060 a1.srv
_sip._udp.srv     IN SRV 10 40 5062 a2.srv
_sip._udp.srv     IN SRV 20 0  5064 a3.srv
_sip._tcp.srv     IN SRV 10 0  5070 t1.srv
_sips._tcp.srv    IN SRV 10 0  5071 t1.srv
srv               IN A 127.0.2.9
a1.srv            IN A 127.0.2.1
a2.srv            IN A 127.0.2.2
a2.srv            IN AAAA ::1
a3.srv            IN A 127.0.2.3
t1.srv            IN A 127.0.2.4
; A/AAAA only
aonly             IN A 127.0.3.1
aonly             IN AAAA ::1
; SRV at the bare domain (checksrvrecords=4)
bare              IN SRV 0 0 5080 host.bare
host.bare         IN A 127.0.4.1
; SRV and no A at the name itself (checksrvrecords=1 falls back to SRV)
srvonly           IN TXT "no address here"
_sip._udp.srvonly IN SRV 0 0 5090 host.srvonly
host.srvonly      IN A 127.0.5.1
; "." target: service not available
_sip._udp.none    IN SRV 0 0 0 .
none              IN A 127.0.6.1
"""


class TinyDns:
    """An authoritative UDP DNS server for one zone, in a thread; records every query."""

    def __init__(self, zone_text: str, origin: str = "sip.test.") -> None:
        self.origin = origin
        self.set_zone(zone_text)
        self.queries: list[tuple[str, str]] = []
        self.mute = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def set_zone(self, zone_text: str) -> None:
        self.zone = dns.zone.from_text(zone_text, self.origin, relativize=False)

    def resolver(self) -> dns.asyncresolver.Resolver:
        r = dns.asyncresolver.Resolver(configure=False)
        r.nameservers = ["127.0.0.1"]
        r.port = self.port
        return r

    def asked(self, rdtype: str | None = None) -> list[str]:
        return [n for n, t in self.queries if rdtype is None or t == rdtype]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                query = dns.message.from_wire(data)
            except Exception:  # noqa: BLE001
                continue
            q = query.question[0]
            self.queries.append((q.name.to_text(omit_final_dot=True).lower(),
                                 dns.rdatatype.to_text(q.rdtype)))
            if self.mute:
                continue
            resp = dns.message.make_response(query)
            resp.flags |= dns.flags.AA
            node = self.zone.get_node(q.name)
            if node is None:
                resp.set_rcode(dns.rcode.NXDOMAIN)
            else:
                rds = node.get_rdataset(dns.rdataclass.IN, q.rdtype)
                if rds is not None:
                    resp.answer.append(dns.rrset.from_rdata_list(q.name, rds.ttl, list(rds)))
            self.sock.sendto(resp.to_wire(), addr)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def dns_server():
    server = TinyDns(ZONE)
    yield server
    server.close()


class FixedRng(random.Random):
    """randint always returns the top of the range (picks the last by running weight)."""

    def randint(self, a: int, b: int) -> int:  # type: ignore[override]
        return b


def resolve(server: TinyDns, dest, **kw) -> list[Target]:
    kw.setdefault("rng", random.Random(1))
    kw.setdefault("timeout", 2.0)
    res = SipResolver(server.resolver(), **kw)
    return asyncio.run(asyncio.wait_for(res.resolve(dest), 10))


def tuples(targets: list[Target]) -> list[tuple[str, str, int]]:
    return [(t.transport, t.host, t.port) for t in targets]


def test_naptr_then_srv_then_a(dns_server):
    got = resolve(dns_server, "sip:naptr.sip.test")
    assert tuples(got) == [("TLS", "127.0.1.1", 5061), ("TCP", "127.0.1.2", 5060),
                           ("UDP", "127.0.1.3", 5060)]
    assert got[0].server_name == "naptr.sip.test"  # RFC 5922: the domain, not the SRV target
    assert dns_server.asked("NAPTR") == ["naptr.sip.test"]
    # sips: only SIPS+D2T
    assert tuples(resolve(dns_server, "sips:naptr.sip.test")) == [("TLS", "127.0.1.1", 5061)]
    # supported transports filter NAPTR results
    assert tuples(resolve(dns_server, "sip:naptr.sip.test", supported=("UDP",))) == [
        ("UDP", "127.0.1.3", 5060)]


def test_srv_priority_and_weight_order(dns_server):
    got = resolve(dns_server, "srv.sip.test", rng=FixedRng(), supported=("UDP",))
    # priority 10 first (weighted: the fixed rng picks a2 before a1), then priority 20;
    # each SRV target's A then AAAA
    assert tuples(got) == [("UDP", "127.0.2.2", 5062), ("UDP", "::1", 5062),
                           ("UDP", "127.0.2.1", 5060), ("UDP", "127.0.2.3", 5064)]
    # auto transport without NAPTR: every SRV found, UDP then TCP then TLS
    got = resolve(dns_server, "srv.sip.test", rng=FixedRng())
    assert [t.transport for t in got] == ["UDP"] * 4 + ["TCP", "TLS"]
    assert tuples(got)[4:] == [("TCP", "127.0.2.4", 5070), ("TLS", "127.0.2.4", 5071)]
    assert tuples(resolve(dns_server, "srv.sip.test", prefer_ipv6=True, rng=FixedRng(),
                          supported=("UDP",)))[:2] == [("UDP", "::1", 5062),
                                                       ("UDP", "127.0.2.2", 5062)]


def test_order_srv_weights():
    recs = [(10, 60, 1, "a"), (10, 40, 2, "b"), (20, 0, 3, "c"), (10, 0, 4, "z"), (5, 1, 5, "p")]
    assert [r[3] for r in order_srv(recs, FixedRng())] == ["p", "b", "a", "z", "c"]

    class LowRng(random.Random):
        def randint(self, a, b):
            return a
    assert [r[3] for r in order_srv(recs, LowRng())] == ["p", "z", "a", "b", "c"]
    firsts = [order_srv(recs[:2], random.Random(i))[0][3] for i in range(2000)]
    assert 0.5 < firsts.count("a") / len(firsts) < 0.7  # weight 60 of 100


def test_transport_selection(dns_server):
    # transport=1 (TCP): only the TCP SRV, no NAPTR
    assert tuples(resolve(dns_server, "srv.sip.test", transport=1)) == [("TCP", "127.0.2.4", 5070)]
    assert dns_server.asked("NAPTR") == []
    assert tuples(resolve(dns_server, "sip:srv.sip.test;transport=tcp")) == [
        ("TCP", "127.0.2.4", 5070)]
    assert tuples(resolve(dns_server, "sips:srv.sip.test")) == [("TLS", "127.0.2.4", 5071)]
    # the URI parameter wins over the setting
    assert tuples(resolve(dns_server, "sip:naptr.sip.test;transport=udp", transport=2)) == [
        ("UDP", "127.0.1.3", 5060)]
    with pytest.raises(ResolveError, match="sips: needs TLS"):
        resolve(dns_server, "sips:srv.sip.test;transport=udp")
    with pytest.raises(ResolveError, match="TLS is not enabled"):
        resolve(dns_server, "sips:srv.sip.test", supported=("UDP", "TCP"))


def test_numeric_and_explicit_port_skip_srv(dns_server):
    assert tuples(resolve(dns_server, "10.20.30.40:5065")) == [("UDP", "10.20.30.40", 5065)]
    assert tuples(resolve(dns_server, "sips:[::1]")) == [("TLS", "::1", 5061)]
    assert tuples(resolve(dns_server, "sip:127.0.0.1;transport=tcp")) == [
        ("TCP", "127.0.0.1", 5060)]
    assert tuples(resolve(dns_server, "[::1]:5070", transport=1)) == [("TCP", "::1", 5070)]
    assert dns_server.queries == []
    got = resolve(dns_server, "srv.sip.test:5099")
    assert tuples(got) == [("UDP", "127.0.2.9", 5099)]
    assert dns_server.asked("SRV") == [] and dns_server.asked("NAPTR") == []
    assert parse_destination("sip:x@h.example;maddr=127.0.0.9").host == "127.0.0.9"


def test_checksrvrecords_modes(dns_server):
    # 0: A only
    assert tuples(resolve(dns_server, "srv.sip.test", checksrvrecords=0)) == [
        ("UDP", "127.0.2.9", 5060)]
    assert dns_server.asked("SRV") == []
    # 1: A first (found), SRV not asked
    assert tuples(resolve(dns_server, "srv.sip.test", checksrvrecords=1,
                          supported=("UDP",)))[0] == ("UDP", "127.0.2.9", 5060)
    assert dns_server.asked("SRV") == []
    # 1: no A -> SRV
    assert tuples(resolve(dns_server, "srvonly.sip.test", checksrvrecords=1)) == [
        ("UDP", "127.0.5.1", 5090)]
    # 2 and 3: SRV first, then A
    for mode in (2, 3):
        assert tuples(resolve(dns_server, "srv.sip.test", checksrvrecords=mode,
                              supported=("UDP",), rng=FixedRng()))[0] == ("UDP", "127.0.2.2", 5062)
        assert tuples(resolve(dns_server, "aonly.sip.test", checksrvrecords=mode)) == [
            ("UDP", "127.0.3.1", 5060), ("UDP", "::1", 5060)]
    # 4: also SRV without the _sip._udp prefix
    with pytest.raises(ResolveError, match="no address found for bare.sip.test"):
        resolve(dns_server, "bare.sip.test", checksrvrecords=3)
    assert tuples(resolve(dns_server, "bare.sip.test", checksrvrecords=4)) == [
        ("UDP", "127.0.4.1", 5080)]
    # "." SRV target means no service there: fall back to A
    assert tuples(resolve(dns_server, "none.sip.test", checksrvrecords=2)) == [
        ("UDP", "127.0.6.1", 5060)]


def test_auto_mode_remembers_srv_failure(dns_server):
    async def main():
        res = SipResolver(dns_server.resolver(), checksrvrecords=-1, dnslookup=1)
        first = await res.resolve("aonly.sip.test")
        srv_asked = len(dns_server.asked("SRV"))
        assert srv_asked == 3 and len(dns_server.asked("NAPTR")) == 1
        second = await res.resolve("aonly.sip.test")
        assert first == second
        assert len(dns_server.asked("SRV")) == srv_asked  # not asked again
        res.forget_failures()
        await res.resolve("aonly.sip.test")
        assert len(dns_server.asked("SRV")) == 2 * srv_asked
    asyncio.run(asyncio.wait_for(main(), 10))


def test_unknown_name_and_timeout(dns_server):
    with pytest.raises(ResolveError, match="no address found for nothing.sip.test"):
        resolve(dns_server, "nothing.sip.test")
    dns_server.mute = True
    loop_time = []

    async def main():
        res = SipResolver(dns_server.resolver(), timeout=0.5)
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            await res.resolve("srv.sip.test")
        finally:
            loop_time.append(loop.time() - start)
    with pytest.raises(ResolveTimeout, match="timed out after 0.5s") as info:
        asyncio.run(asyncio.wait_for(main(), 10))
    assert isinstance(info.value, TransportError)
    assert loop_time[0] < 2.0
    with pytest.raises(ResolveError, match="dnslookup=5"):
        resolve(dns_server, "srv.sip.test", dnslookup=5)


def test_failover_helper():
    targets = [Target("UDP", "127.0.0.1", p) for p in (1, 2, 3)]
    fo = Failover(targets)
    assert fo.current == targets[0]
    assert fo.failover(TransactionTimeout("timer B")) == targets[1]
    assert fo.failover(Response(404)) is None and fo.current == targets[1]  # final answer
    assert fo.failover(Response(503)) == targets[2]
    assert fo.failover(TransportError("refused")) is None and fo.exhausted
    assert [f[0] for f in fo.failed] == targets
    assert should_failover(503) and not should_failover(486)


def test_failover_to_next_srv_target_on_transport_error(dns_server):
    async def main():
        q = asyncio.Queue()
        live = await StreamTransport.open(q, "127.0.0.1", 0)
        client = await StreamTransport.open(asyncio.Queue(), "127.0.0.1", 0, listen=False)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead_port = s.getsockname()[1]
        dns_server.set_zone(ZONE + f"""
_sip._tcp.fo IN SRV 10 0 {dead_port} dead.fo
_sip._tcp.fo IN SRV 20 0 {live.local_address[1]} live.fo
dead.fo      IN A 127.0.0.1
live.fo      IN A 127.0.0.1
""")
        try:
            res = SipResolver(dns_server.resolver(), transport=1)
            fo = Failover(await res.resolve("fo.sip.test"))
            assert [t.port for t in fo.targets] == [dead_port, live.local_address[1]]
            msg = (b"OPTIONS sip:fo.sip.test SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKf"
                   b"\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:fo.sip.test>\r\nCall-ID: f1\r\n"
                   b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
            target = fo.current
            while target is not None:
                try:
                    await client.send(msg, target.address, server_name=target.server_name)
                    break
                except TransportError as e:
                    target = fo.failover(e)
            assert target is not None and target.port == live.local_address[1]
            ev = await asyncio.wait_for(q.get(), 5)
            assert isinstance(ev, MessageReceived) and ev.data.call_id == "f1"
        finally:
            await client.close()
            await live.close()
    asyncio.run(asyncio.wait_for(main(), 10))
