"""Locating SIP servers (RFC 3263) with dnspython's asyncio resolver.

``await SipResolver(...).resolve("sip:example.com")`` returns an ordered list of
:class:`Target` ``(transport, ip, port)`` to try in turn; :class:`Failover` walks it when
the transaction layer reports a timeout or transport error (RFC 3263 4.3).

Rules applied, in order:

* Transport (RFC 3263 4.1): a ``;transport=`` URI parameter, else TLS for ``sips:``, else
  the ``transport`` parameter (-1 auto, 0 UDP, 1 TCP, 2 TLS); in auto mode it comes from
  NAPTR (``SIP+D2U``, ``SIP+D2T``, ``SIPS+D2T``), then from which SRV names exist, else UDP
  (TLS for ``sips:``).
* A numeric IP or an explicit port skips NAPTR/SRV (RFC 3263 4.2); default ports 5060/5061.
* ``checksrvrecords``: -1 auto (NAPTR/SRV first; a domain whose SRV lookup found nothing
  is remembered and goes straight to A/AAAA next time); 0 A/AAAA only; 1 A/AAAA first, then
  NAPTR/SRV; 2 and 3 NAPTR/SRV first, then A/AAAA (RFC behaviour, nothing remembered);
  4 like 3, and also an SRV query on the bare domain (no ``_sip._udp.`` prefix).
* SRV records are ordered by priority, then weighted random order within a priority
  (RFC 2782); the randomness is the injected ``rng``. Each SRV target's A then AAAA
  addresses follow in order (``prefer_ipv6`` swaps that).
* ``dnslookup`` (cache): 1 never caches, 5 disables lookups of names, others cache.

A server that does not answer raises :class:`ResolveTimeout` after ``timeout`` seconds;
a name with no usable address raises :class:`ResolveError`. Both are
:class:`~sipctl.sip.errors.TransportError`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable, Sequence

import dns.asyncresolver
import dns.exception
import dns.name
import dns.resolver

from ..sip.errors import ParseError, TransactionError, TransactionTimeout, TransportError
from ..sip.message import Response
from ..sip.uri import SipUri, parse_uri
from .base import Address, is_ip_literal, normalize_address

__all__ = ["Target", "SipResolver", "Failover", "ResolveError", "ResolveTimeout",
           "order_srv", "should_failover", "parse_destination", "TRANSPORT_NAMES"]

#: ``transport`` parameter value -> transport name.
TRANSPORT_NAMES = {0: "UDP", 1: "TCP", 2: "TLS"}
_DEFAULT_PORT = {"UDP": 5060, "TCP": 5060, "TLS": 5061}
_SRV_PREFIX = {"UDP": "_sip._udp.", "TCP": "_sip._tcp.", "TLS": "_sips._tcp."}
_NAPTR_SERVICE = {"SIP+D2U": "UDP", "SIP+D2T": "TCP", "SIPS+D2T": "TLS"}
_URI_TRANSPORT = {"udp": "UDP", "tcp": "TCP", "tls": "TLS"}


class ResolveError(TransportError):
    """No usable address for a SIP destination."""


class ResolveTimeout(ResolveError):
    """The DNS server did not answer in time."""


@dataclass(frozen=True)
class Target:
    """One place to send to: ``transport`` (UDP/TCP/TLS), ``host`` (an IP), ``port``.

    ``server_name`` is the domain a TLS certificate must match (RFC 5922: the host of
    the URI, not the SRV target), None for numeric destinations.
    """

    transport: str
    host: str
    port: int
    server_name: str | None = None

    @property
    def address(self) -> Address:
        """``(host, port)``."""
        return (self.host, self.port)


@dataclass(frozen=True)
class _Dest:
    host: str
    port: int | None
    secure: bool
    transport: str | None  # from the URI


def parse_destination(text: str | SipUri) -> _Dest:
    """Read ``sip:``/``sips:`` URIs (``maddr``, ``transport``) or ``host[:port]`` strings."""
    if isinstance(text, str):
        s = text.strip()
        if s[:4].lower() == "sip:" or s[:5].lower() == "sips:":
            try:
                uri = parse_uri(s)
            except ParseError as e:
                raise ResolveError(f"bad SIP URI {text!r}: {e.detail}") from None
            assert isinstance(uri, SipUri)
            text = uri
        else:
            host, port = _split_hostport(s)
            return _Dest(host, port, False, None)
    uri = text
    t = uri.transport
    transport = None
    if t is not None:
        transport = _URI_TRANSPORT.get(t)
        if transport is None:
            raise ResolveError(f"unsupported transport {t!r} in {uri}")
        if transport == "TCP" and uri.secure:
            transport = "TLS"
    host = uri.maddr or uri.host
    return _Dest(host.strip("[]"), uri.port, uri.secure, transport)


def _split_hostport(s: str) -> tuple[str, int | None]:
    if not s:
        raise ResolveError("empty server address")
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif s.count(":") == 1:
        host, port = s.split(":")
    else:
        host, port = s, ""  # a name, IPv4, or a bare IPv6 literal
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise ResolveError(f"bad port in server address {s!r}")
    return host, int(port) if port else None


def order_srv(records: Iterable[tuple[int, int, int, str]], rng: random.Random
              ) -> list[tuple[int, int, int, str]]:
    """``(priority, weight, port, target)`` in RFC 2782 order (``rng`` picks by weight)."""
    out: list[tuple[int, int, int, str]] = []
    recs = list(records)
    for prio in sorted({r[0] for r in recs}):
        # zero weights first (RFC 2782), then a fixed order so that the answer's record
        # order does not matter and ``rng`` alone decides
        group = sorted((r for r in recs if r[0] == prio), key=lambda r: (r[1] != 0, r[3], r[2]))
        while group:
            total = sum(r[1] for r in group)
            pick = rng.randint(0, total) if total else 0
            running = 0
            for i, r in enumerate(group):
                running += r[1]
                if running >= pick:
                    out.append(group.pop(i))
                    break
    return out


class SipResolver:
    """RFC 3263 resolution with the ``checksrvrecords``/``transport``/``dnslookup`` rules.

    ``resolver``: a configured :class:`dns.asyncresolver.Resolver` (default: the system
    one). ``supported``: transports we can use (NAPTR/SRV results for others are skipped).
    ``rng``: the randomness for SRV weights. ``timeout``: seconds for each lookup.
    """

    def __init__(self, resolver: dns.asyncresolver.Resolver | None = None, *,
                 checksrvrecords: int = -1, transport: int = -1,
                 supported: Sequence[str] = ("UDP", "TCP", "TLS"),
                 rng: random.Random | None = None, timeout: float = 5.0,
                 dnslookup: int = 0, prefer_ipv6: bool = False) -> None:
        if checksrvrecords not in (-1, 0, 1, 2, 3, 4):
            raise ValueError(f"checksrvrecords must be -1..4, got {checksrvrecords}")
        if transport not in (-1, 0, 1, 2):
            raise ValueError(f"transport must be -1..2 for DNS resolution, got {transport}")
        if resolver is None:
            resolver = dns.asyncresolver.Resolver()
        if dnslookup != 1 and resolver.cache is None:
            resolver.cache = dns.resolver.LRUCache()
        elif dnslookup == 1:
            resolver.cache = None
        resolver.lifetime = timeout
        self.resolver = resolver
        self.checksrvrecords = checksrvrecords
        self.transport = transport
        self.supported = tuple(supported)
        self.rng = rng or random.Random()
        self.timeout = timeout
        self.dnslookup = dnslookup
        self.prefer_ipv6 = prefer_ipv6
        self._srv_failed: set[str] = set()

    def resolve_literal(self, destination: str | SipUri) -> list[Target] | None:
        """The target of an IP-literal ``destination`` without any DNS (same rules as
        :meth:`resolve`); None when the host is a name that needs resolving."""
        dest = parse_destination(destination)
        if not is_ip_literal(dest.host):
            return None
        return self._literal(dest, destination)

    async def resolve(self, destination: str | SipUri) -> list[Target]:
        """The ordered targets for ``destination`` (a SIP URI or ``host[:port]``)."""
        dest = parse_destination(destination)
        if is_ip_literal(dest.host):
            return self._literal(dest, destination)
        return await self._resolve_name(dest, destination)

    def _transport_for(self, dest: _Dest, destination: object) -> tuple[str | None, str]:
        """(forced transport or None, the transport to use without SRV)."""
        forced = dest.transport
        if forced is None and dest.secure:
            forced = "TLS"
        if forced is None and self.transport in TRANSPORT_NAMES:
            forced = TRANSPORT_NAMES[self.transport]
        if dest.secure and forced != "TLS":
            raise ResolveError(f"sips: needs TLS, not {forced} ({destination})")
        if forced is not None and forced not in self.supported:
            raise ResolveError(f"transport {forced} is not enabled ({destination})")
        fallback_transport = forced or ("TLS" if dest.secure else "UDP")
        if fallback_transport not in self.supported:
            fallback_transport = self.supported[0]
        return forced, fallback_transport

    def _literal(self, dest: _Dest, destination: object) -> list[Target]:
        _, transport = self._transport_for(dest, destination)
        host = normalize_address((dest.host, 0))[0]
        return [Target(transport, host, dest.port or _DEFAULT_PORT[transport], None)]

    async def _resolve_name(self, dest: _Dest, destination: object) -> list[Target]:
        forced, fallback_transport = self._transport_for(dest, destination)
        if self.dnslookup == 5:
            raise ResolveError(f"DNS lookups are disabled (dnslookup=5): {dest.host}")
        name = dest.host.rstrip(".").lower()
        if dest.port is not None:
            return self._need(await self._addresses(name, dest.port, fallback_transport, name),
                              name)
        mode = self.checksrvrecords
        a_phase = lambda: self._addresses(name, _DEFAULT_PORT[fallback_transport],  # noqa: E731
                                          fallback_transport, name)
        if mode == 0 or (mode == -1 and name in self._srv_failed):
            return self._need(await a_phase(), name)
        if mode == 1:
            targets = await a_phase()
            if not targets:
                targets = await self._srv_phase(name, forced, dest.secure, bare=False)
            return self._need(targets, name)
        targets = await self._srv_phase(name, forced, dest.secure, bare=(mode == 4))
        if targets:
            return targets
        if mode == -1:
            self._srv_failed.add(name)
        return self._need(await a_phase(), name)

    def forget_failures(self) -> None:
        """Forget the domains ``checksrvrecords=-1`` remembered as having no SRV records."""
        self._srv_failed.clear()

    @staticmethod
    def _need(targets: list[Target], name: str) -> list[Target]:
        if not targets:
            raise ResolveError(f"no address found for {name}")
        return targets

    # -- lookups ------------------------------------------------------------------------
    async def _query(self, qname: str, rdtype: str) -> list:
        try:
            answer = await self.resolver.resolve(qname, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers,
                dns.name.EmptyLabel, dns.name.LabelTooLong):
            return []
        except dns.exception.Timeout:
            raise ResolveTimeout(f"DNS lookup of {qname} {rdtype} timed out after "
                                 f"{self.timeout:g}s") from None
        return list(answer)

    async def _addresses(self, host: str, port: int, transport: str,
                         server_name: str | None) -> list[Target]:
        kinds = ("AAAA", "A") if self.prefer_ipv6 else ("A", "AAAA")
        out: list[Target] = []
        for kind in kinds:
            for rr in await self._query(host, kind):
                out.append(Target(transport, normalize_address((rr.address, 0))[0], port,
                                  server_name))
        return out

    async def _srv(self, qname: str, transport: str, server_name: str) -> list[Target]:
        records = [(rr.priority, rr.weight, rr.port, rr.target.to_text(omit_final_dot=True))
                   for rr in await self._query(qname, "SRV")]
        out: list[Target] = []
        for _prio, _weight, port, target in order_srv(records, self.rng):
            if target in ("", "."):
                continue  # "service decidedly not available" (RFC 2782)
            if is_ip_literal(target):
                out.append(Target(transport, normalize_address((target, 0))[0], port,
                                  server_name))
                continue
            for t in await self._addresses(target.lower(), port, transport, server_name):
                if t not in out:
                    out.append(t)
        return out

    async def _srv_phase(self, name: str, forced: str | None, secure: bool,
                         bare: bool) -> list[Target]:
        targets: list[Target] = []
        if forced is None:
            for transport, replacement in await self._naptr(name, secure):
                for t in await self._srv(replacement, transport, name):
                    if t not in targets:
                        targets.append(t)
            if targets:
                return targets
        order = [forced] if forced else (["TLS"] if secure else
                                         [t for t in ("UDP", "TCP", "TLS")
                                          if t in self.supported])
        for transport in order:
            targets += [t for t in await self._srv(_SRV_PREFIX[transport] + name, transport,
                                                   name) if t not in targets]
        if not targets and bare:
            transport = forced or ("TLS" if secure else "UDP")
            targets = await self._srv(name, transport, name)
        return targets

    async def _naptr(self, name: str, secure: bool) -> list[tuple[str, str]]:
        """``(transport, SRV name)`` from NAPTR records, by order then preference."""
        rows = []
        for rr in await self._query(name, "NAPTR"):
            service = rr.service.decode("ascii", "replace").upper()
            transport = _NAPTR_SERVICE.get(service)
            if transport is None or rr.flags.decode("ascii", "replace").lower() != "s":
                continue
            if transport not in self.supported or (secure and transport != "TLS"):
                continue
            rows.append((rr.order, rr.preference, transport,
                         rr.replacement.to_text(omit_final_dot=True)))
        rows.sort(key=lambda r: (r[0], r[1]))
        return [(r[2], r[3]) for r in rows]


def should_failover(error: BaseException | Response | int | None) -> bool:
    """True for what RFC 3263 4.3 fails over on: timeouts, transport errors, 503."""
    if error is None:
        return True
    if isinstance(error, Response):
        return error.status == 503
    if isinstance(error, int):
        return error == 503
    return isinstance(error, (TransactionTimeout, TransportError, TransactionError, OSError,
                              TimeoutError))


class Failover:
    """Walks an ordered target list: :attr:`current`, then :meth:`failover` on errors."""

    def __init__(self, targets: Sequence[Target]) -> None:
        self.targets = list(targets)
        self.index = 0
        #: Targets given up on, with the error each one failed with.
        self.failed: list[tuple[Target, BaseException | Response | int | None]] = []

    @property
    def current(self) -> Target | None:
        """The target to use now, or None when every target failed."""
        return self.targets[self.index] if self.index < len(self.targets) else None

    @property
    def exhausted(self) -> bool:
        """True when no target is left."""
        return self.index >= len(self.targets)

    def failover(self, error: BaseException | Response | int | None = None) -> Target | None:
        """The current target failed with ``error``: move on and return the next one.

        Returns None when the list is exhausted, and also (without moving) when ``error``
        is not a reason to fail over (:func:`should_failover`), e.g. a 404.
        """
        if not should_failover(error) or self.exhausted:
            return None
        self.failed.append((self.targets[self.index], error))
        self.index += 1
        return self.current
