"""The transport interface the UA core uses, and what every transport shares.

Delivery model: the owner creates one ``asyncio.Queue`` (:data:`EventQueue`) and passes it
to every transport it opens; transports put :mod:`~sipctl.transport.events` on it from the
event loop thread only. The owner pulls them (``await queue.get()`` or
:func:`iter_events`). Nothing in this package calls into the core.

Sending: ``await transport.send(message_bytes, destination)``. On a datagram transport it
returns once the datagram is handed to the kernel; on a stream transport it connects first
if no connection to ``destination`` is pooled. Failures raise
:class:`~sipctl.sip.errors.TransportError` (the transaction layer treats it like a timeout
and fails over, RFC 3263 4.3).
"""
from __future__ import annotations

import abc
import asyncio
import errno
import ipaddress
from typing import AsyncIterator

from ..sip.errors import TransportError
from .events import Address, TransportEvent

__all__ = ["Transport", "EventQueue", "BindError", "TransportError", "iter_events",
           "normalize_address", "format_address", "is_ip_literal", "bind_error"]

#: The queue every transport of one owner puts its events on.
EventQueue = asyncio.Queue  # asyncio.Queue[TransportEvent]


class BindError(OSError):
    """A listening socket could not be opened, e.g. ``cannot bind 127.0.0.1:5060: address in use``."""


def format_address(addr: Address) -> str:
    """``host:port`` with IPv6 hosts in brackets."""
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def normalize_address(addr: tuple) -> Address:
    """``(host, port)`` from a socket address (drops IPv6 flowinfo/scope, brackets)."""
    host = str(addr[0])
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        host = str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        pass
    return (host, int(addr[1]))


def is_ip_literal(host: str) -> bool:
    """True for an IPv4 or IPv6 address literal (IPv6 with or without brackets)."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def bind_error(kind: str, addr: Address, exc: OSError) -> BindError:
    """A :class:`BindError` with a readable reason for ``exc``."""
    reasons = {errno.EADDRINUSE: "address in use", errno.EADDRNOTAVAIL: "address not available",
               errno.EACCES: "permission denied", errno.EAFNOSUPPORT: "address family not supported"}
    reason = reasons.get(exc.errno or 0, exc.strerror or str(exc))
    err = BindError(exc.errno or 0, f"cannot bind {kind} {format_address(addr)}: {reason}")
    err.__cause__ = exc
    return err


class Transport(abc.ABC):
    """One local SIP transport (a UDP socket, or a TCP/TLS listener plus its connections)."""

    #: ``"UDP"``, ``"TCP"`` or ``"TLS"`` (as written in a Via sent-protocol).
    name: str = ""
    #: True for stream transports (no retransmissions of requests, RFC 3261 17.1.1.2).
    reliable: bool = False

    @property
    @abc.abstractmethod
    def local_address(self) -> Address:
        """The bound ``(ip, port)`` (the listening one for streams)."""

    @abc.abstractmethod
    async def send(self, message_bytes: bytes, destination: Address, *,
                   server_name: str | None = None) -> None:
        """Send one message (or keep-alive bytes) to ``destination``.

        ``server_name`` is the host name a TLS certificate must match (and the SNI sent);
        it defaults to ``destination``'s host; other transports ignore it.
        Raises :class:`TransportError`.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Close every socket; idempotent."""

    @property
    def family_is_ipv6(self) -> bool:
        """True when bound to an IPv6 address."""
        return ":" in self.local_address[0]

    def __repr__(self) -> str:
        try:
            where = format_address(self.local_address)
        except Exception:  # noqa: BLE001 - not started
            where = "unbound"
        return f"<{type(self).__name__} {self.name} {where}>"


async def iter_events(queue: "asyncio.Queue[TransportEvent]") -> AsyncIterator[TransportEvent]:
    """The events of ``queue`` as an async iterator (runs until cancelled)."""
    while True:
        yield await queue.get()
