"""``TransportManager``: the transports one UA uses, opened from its parameters.

The ``transport`` parameter picks what is opened: -1 auto (UDP, TCP and TLS), 0 UDP,
1 TCP, 2 TLS (3..5, the HTTP tunnels, are not supported here). Every socket binds to
``localip`` (empty: all IPv4 addresses, plus all IPv6 addresses with ``ipv6=True``) and
``signalingport`` (0: ephemeral, chosen by the kernel). UDP and TCP share a port number
when they can. A TLS transport listens only when a certificate is configured; otherwise
it only connects out.

All transports put their events on :attr:`TransportManager.events`; :meth:`next_event`
pulls them (and hands keep-alive pongs to the matching :class:`KeepAlive`).
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

from ..sip.errors import TransportError
from .base import Address, BindError, EventQueue, Transport, format_address, normalize_address
from .dns import TRANSPORT_NAMES, Target
from .events import KeepAlivePong, TransportEvent
from .keepalive import DEFAULT_INTERVAL_MS, KEEPALIVE_DOUBLE_CRLF, KeepAlive
from .stream import DEFAULT_IDLE_TIMEOUT, StreamTransport
from .udp import UdpTransport

__all__ = ["TransportConfig", "TransportManager"]


@dataclass
class TransportConfig:
    """The parameters the transports are opened from (names as in the reference)."""

    transport: int = -1
    signalingport: int = 0
    localip: str = ""
    udptos: int = 1
    keepalivetype: int = KEEPALIVE_DOUBLE_CRLF
    keepaliveival: int = DEFAULT_INTERVAL_MS
    #: Also open IPv6 sockets when ``localip`` is empty.
    ipv6: bool = False
    #: CA bundle to verify TLS servers with (None: the system store).
    tls_ca_file: str | None = None
    #: False disables TLS certificate and host name checks (testing only).
    tls_verify: bool = True
    #: Certificate/key to accept TLS connections with (None: TLS is client-only).
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    connect_timeout: float = 10.0


def _wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::")


class TransportManager:
    """Opens, picks and closes the transports; ``async with`` or :meth:`start`/:meth:`close`."""

    def __init__(self, config: TransportConfig | None = None,
                 events: EventQueue | None = None) -> None:
        self.config = config or TransportConfig()
        if self.config.transport not in (-1, 0, 1, 2):
            raise ValueError(f"transport={self.config.transport} (HTTP tunnelling) is not "
                             "supported; use -1, 0 (UDP), 1 (TCP) or 2 (TLS)")
        #: Where every transport's events go.
        self.events: EventQueue = events if events is not None else asyncio.Queue()
        self._transports: dict[tuple[str, bool], Transport] = {}
        self._keepalives: list[KeepAlive] = []

    # -- lifecycle --------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """The transport names the ``transport`` parameter asks for."""
        t = self.config.transport
        return ("UDP", "TCP", "TLS") if t == -1 else (TRANSPORT_NAMES[t],)

    async def start(self) -> "TransportManager":
        """Open every transport; raises :class:`BindError` (nothing left open then)."""
        cfg = self.config
        hosts = [cfg.localip] if not _wildcard(cfg.localip) else (
            ["0.0.0.0", "::"] if cfg.ipv6 else ["0.0.0.0"])
        try:
            for host in hosts:
                await self._open_family(host)
        except BaseException:
            await self.close()
            raise
        return self

    async def _open_family(self, host: str) -> None:
        cfg = self.config
        v6 = ":" in host
        port = cfg.signalingport
        if "UDP" in self.names:
            udp = await UdpTransport.open(self.events, host, port, udptos=cfg.udptos)
            self._transports[("UDP", v6)] = udp
            port = udp.local_address[1]
        stream_kw = dict(idle_timeout=cfg.idle_timeout, connect_timeout=cfg.connect_timeout)
        if "TCP" in self.names:
            try:
                tcp = await StreamTransport.open(self.events, host, port, **stream_kw)
            except BindError:
                if cfg.signalingport:  # the configured port is taken for TCP
                    raise
                tcp = await StreamTransport.open(self.events, host, 0, **stream_kw)
            self._transports[("TCP", v6)] = tcp
        if "TLS" in self.names:
            tls_port = cfg.signalingport if self.names == ("TLS",) else 0
            tls = await StreamTransport.open(
                self.events, host, tls_port, tls=True, ca_file=cfg.tls_ca_file,
                verify=cfg.tls_verify, cert_file=cfg.tls_cert_file,
                key_file=cfg.tls_key_file, **stream_kw)
            self._transports[("TLS", v6)] = tls

    async def close(self) -> None:
        """Stop keep-alives and close every transport."""
        for ka in self._keepalives:
            await ka.stop()
        self._keepalives.clear()
        transports, self._transports = list(self._transports.values()), {}
        for t in transports:
            await t.close()

    async def __aenter__(self) -> "TransportManager":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- picking and sending ----------------------------------------------------------
    @property
    def transports(self) -> list[Transport]:
        """Every open transport."""
        return list(self._transports.values())

    def pick(self, target: Target | tuple[str, str]) -> Transport:
        """The transport for a :class:`Target` or ``(transport name, ip)``.

        Raises :class:`TransportError` if that transport/family is not open.
        """
        name, host = ((target.transport, target.host) if isinstance(target, Target)
                      else (target[0].upper(), target[1]))
        t = self._transports.get((name, ":" in host))
        if t is None:
            fam = "IPv6" if ":" in host else "IPv4"
            raise TransportError(f"no {name} transport open for {fam} destination {host}")
        return t

    async def send(self, message_bytes: bytes, target: Target) -> Transport:
        """Send to ``target`` on the transport :meth:`pick` chooses; returns that transport."""
        t = self.pick(target)
        await t.send(message_bytes, target.address, server_name=target.server_name)
        return t

    def contact_address(self, transport: str = "UDP", destination: Address | None = None,
                        ipv6: bool | None = None) -> Address:
        """``(ip, port)`` for Via sent-by / Contact on ``transport``.

        When bound to a wildcard address the IP is the one the kernel would route
        ``destination`` from (a connected UDP socket: nothing is sent).
        """
        if ipv6 is None:
            ipv6 = destination is not None and ":" in destination[0]
        t = self._transports.get((transport.upper(), ipv6))
        if t is None:
            raise TransportError(f"no {transport} transport open "
                                 f"({'IPv6' if ipv6 else 'IPv4'})")
        host, port = t.local_address
        if _wildcard(host) or ipaddress.ip_address(host).is_unspecified:
            host = self._route_source(destination, ipv6) if destination else host
        return (host, port)

    @staticmethod
    def _route_source(destination: Address, ipv6: bool) -> str:
        fam = socket.AF_INET6 if ipv6 else socket.AF_INET
        with socket.socket(fam, socket.SOCK_DGRAM) as s:
            try:
                s.connect((destination[0], destination[1] or 9))
            except OSError as e:
                raise TransportError(f"no route to {format_address(destination)}: "
                                     f"{e.strerror or e}") from None
            return normalize_address(s.getsockname())[0]

    # -- keep-alives and events ---------------------------------------------------------
    def start_keepalive(self, target: Target) -> KeepAlive:
        """Start ``keepalivetype`` keep-alives every ``keepaliveival`` ms towards ``target``."""
        ka = KeepAlive(self.pick(target), target.address, self.events,
                       keepalivetype=self.config.keepalivetype,
                       interval_ms=self.config.keepaliveival, server_name=target.server_name)
        ka.start()
        self._keepalives.append(ka)
        return ka

    async def stop_keepalive(self, ka: KeepAlive) -> None:
        """Stop and forget one keep-alive."""
        await ka.stop()
        if ka in self._keepalives:
            self._keepalives.remove(ka)

    async def next_event(self) -> TransportEvent:
        """The next transport event (pongs are also given to the matching keep-alives)."""
        event = await self.events.get()
        if isinstance(event, KeepAlivePong):
            for ka in self._keepalives:
                if ka.transport is event.transport:
                    ka.pong_received(event.peer)
        return event
