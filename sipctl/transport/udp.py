"""SIP over UDP: one asyncio datagram endpoint per bound address (RFC 3261 18.1.1, 18.2.1).

Every datagram is parsed with :func:`~sipctl.sip.message.parse_message`; valid ones become
:class:`MessageReceived`, bad ones :class:`ParseFailed` (nothing raised, the socket stays
up). Keep-alive datagrams made only of whitespace (``CRLF``, ``SP CRLF``, ``CRLFCRLF``)
are dropped silently.
"""
from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from ..sip.errors import TransportError
from ..sip.message import MessageError, parse_message
from .base import Address, EventQueue, Transport, bind_error, format_address, normalize_address
from .events import ConnectionLost, MessageReceived, ParseFailed

__all__ = ["UdpTransport", "tos_value"]

log = logging.getLogger(__name__)

_TOS_AUTO = 0x10  # "1: automatic": low delay


def tos_value(udptos: int) -> int:
    """The TOS / traffic-class octet for the ``udptos`` parameter (0 = leave the default)."""
    if not 0 <= udptos <= 255:
        raise ValueError(f"udptos must be 0..255, got {udptos}")
    return _TOS_AUTO if udptos == 1 else udptos


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: "UdpTransport") -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.owner._datagram(data, normalize_address(addr))

    def error_received(self, exc: Exception) -> None:
        self.owner._emit(ConnectionLost(None, exc, self.owner))


class UdpTransport(Transport):
    """A UDP socket bound to ``host:port`` (port 0 = ephemeral); IPv4 or IPv6 by ``host``.

    Create with ``await UdpTransport.open(events, host, port)``.
    """

    name = "UDP"
    reliable = False

    def __init__(self, events: EventQueue, max_size: int = 65535) -> None:
        self._events = events
        self._max_size = max_size
        self._transport: asyncio.DatagramTransport | None = None
        self._local: Address | None = None

    @classmethod
    async def open(cls, events: EventQueue, host: str = "0.0.0.0", port: int = 0, *,
                   udptos: int = 0, max_size: int = 65535) -> "UdpTransport":
        """Bind and start receiving; raises :class:`~sipctl.transport.base.BindError`."""
        self = cls(events, max_size)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            tos = tos_value(udptos)
            if tos:
                try:
                    if family == socket.AF_INET6:
                        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, tos)
                    else:
                        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
                except OSError as e:  # a hint only
                    log.debug("cannot set TOS %d: %s", tos, e)
            try:
                sock.bind((host, port))
            except OSError as e:
                raise bind_error("UDP", (host, port), e) from None
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self._transport = transport
        self._local = normalize_address(sock.getsockname())
        return self

    @property
    def local_address(self) -> Address:
        if self._local is None:
            raise RuntimeError("UDP transport is not open")
        return self._local

    def _emit(self, event: Any) -> None:
        self._events.put_nowait(event)

    def _datagram(self, data: bytes, source: Address) -> None:
        if not data.strip(b" \t\r\n"):
            return  # keep-alive
        try:
            msg = parse_message(data, max_size=self._max_size)
        except MessageError as e:
            log.debug("bad datagram from %s: %s", format_address(source), e.detail)
            self._emit(ParseFailed(e, source, bytes(data), self))
            return
        self._emit(MessageReceived(msg, source, self))

    async def send(self, message_bytes: bytes, destination: Address, *,
                   server_name: str | None = None) -> None:
        if self._transport is None or self._transport.is_closing():
            raise TransportError(f"UDP transport {self!r} is closed")
        if len(message_bytes) > self._max_size:
            raise TransportError(f"message of {len(message_bytes)} bytes too large for UDP")
        if (":" in destination[0]) != (":" in self.local_address[0]):
            raise TransportError(f"cannot send to UDP {format_address(destination)} from "
                                 f"{format_address(self.local_address)}: address family mismatch")
        try:
            self._transport.sendto(message_bytes, (destination[0], destination[1]))
        except OSError as e:
            raise TransportError(
                f"cannot send to UDP {format_address(destination)}: {e.strerror or e}") from e

    async def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()
            await asyncio.sleep(0)
