"""Typed events the transports hand to their owner (the UA core).

Every transport puts these frozen dataclasses on one ``asyncio.Queue`` owned by its owner
(see :class:`~sipctl.transport.base.EventQueue`); they are only ever produced on the event
loop thread, so the core never gets a call from a foreign thread.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from ..sip.errors import ParseError
from ..sip.message import Request, Response

if TYPE_CHECKING:  # pragma: no cover
    from .base import Transport

__all__ = ["Address", "MessageReceived", "ParseFailed", "ConnectionLost", "KeepAlivePong",
           "KeepAliveDue", "KeepAliveFailed", "TransportEvent"]

#: ``(host, port)``: an IP address literal (IPv6 without brackets) and a port.
Address = tuple[str, int]


@dataclass(frozen=True)
class MessageReceived:
    """A complete, parsed SIP message arrived.

    ``data`` is the parsed :class:`Request` or :class:`Response`; ``source`` the peer it
    came from (answer there: for a stream the pooled inbound connection is reused);
    ``transport`` the transport that received it.
    """

    data: Request | Response
    source: Address
    transport: "Transport"

    @property
    def message(self) -> Request | Response:
        """Alias of ``data``."""
        return self.data


@dataclass(frozen=True)
class ParseFailed:
    """Bytes arrived that are not a valid SIP message.

    ``error`` carries the status to answer with (400, 505, 513...); ``raw`` the bytes read
    (empty when framing of a stream was lost, in which case the connection is closed after
    this event). The core can answer a request with :func:`sipctl.sip.message.make_400`.
    """

    error: ParseError
    source: Address
    raw: bytes
    transport: "Transport | None" = None


@dataclass(frozen=True)
class ConnectionLost:
    """A stream connection closed (``error`` None for an orderly close) or a UDP error.

    ``peer`` is None when the socket could not say which peer an error was about.
    """

    peer: Address | None
    error: BaseException | None
    transport: "Transport | None" = None


@dataclass(frozen=True)
class KeepAlivePong:
    """A CRLF pong (RFC 5626 4.4.1) arrived from ``peer`` on a stream connection."""

    peer: Address
    transport: "Transport | None" = None


@dataclass(frozen=True)
class KeepAliveDue:
    """``keepalivetype`` 2: the core should send a keep-alive NOTIFY to ``destination`` now."""

    destination: Address
    transport: "Transport"


@dataclass(frozen=True)
class KeepAliveFailed:
    """No pong came back from ``peer`` in time (RFC 5626 4.4.1): treat the flow as failed."""

    peer: Address
    transport: "Transport"


TransportEvent = Union[MessageReceived, ParseFailed, ConnectionLost, KeepAlivePong,
                       KeepAliveDue, KeepAliveFailed]
