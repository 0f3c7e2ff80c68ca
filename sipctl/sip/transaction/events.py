"""What the transaction layer hands back: typed, frozen events pulled with ``next_event()``.

:class:`SendMessage` asks the transport to send; the other events tell the
transaction user (the UA core) what happened. Every event of a transaction carries
its :class:`TransactionKey`; after :class:`Terminated` no event of that key follows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from ..errors import TransactionTimeout, TransportError
from ..message import Request, Response

__all__ = [
    "Address", "TransactionKey", "Event", "SendMessage", "RequestReceived", "ResponseReceived",
    "AckReceived", "TransactionTimedOut", "TransportFailed", "Terminated",
]

#: A transport address, typically ``(host, port)``; opaque to the transaction layer.
Address = Any


@dataclass(frozen=True)
class TransactionKey:
    """Identifies one transaction (RFC 3261 17.1.3 / 17.2.3).

    ``branch`` is the top Via branch (for RFC 2543 requests without the magic cookie, a
    composite of the fields 17.2.3 compares); ``method`` the request method (INVITE for
    an ACK); ``sent_by`` the top Via sent-by (server transactions only); ``server``
    tells server transactions from client ones.
    """

    branch: str
    method: str
    sent_by: str = ""
    server: bool = False

    def __str__(self) -> str:
        side = "server" if self.server else "client"
        return f"{side}:{self.method}:{self.branch}"


@dataclass(frozen=True)
class SendMessage:
    """Send ``message`` to ``destination`` (reliable: over a stream transport)."""

    message: Union[Request, Response]
    destination: Address
    reliable: bool = False
    key: TransactionKey | None = None


@dataclass(frozen=True)
class RequestReceived:
    """A new request created server transaction ``key``.

    For a CANCEL, ``cancels`` is the key of the INVITE server transaction it matches
    (RFC 3261 9.2), or None (answer 481).
    """

    key: TransactionKey
    request: Request
    source: Address = None
    cancels: TransactionKey | None = None


@dataclass(frozen=True)
class ResponseReceived:
    """A response for client transaction ``key`` (2xx retransmissions included)."""

    key: TransactionKey
    response: Response
    source: Address = None


@dataclass(frozen=True)
class AckReceived:
    """An ACK for the TU: one for a 2xx (``key`` None: it matched no transaction) or one
    matching an INVITE server transaction in the Accepted state (RFC 6026)."""

    request: Request
    source: Address = None
    key: TransactionKey | None = None


@dataclass(frozen=True)
class TransactionTimedOut:
    """Timer B, F or H fired: no final response (or no ACK) in time."""

    key: TransactionKey
    timer: str
    request: Request

    @property
    def error(self) -> TransactionTimeout:
        """This timeout as an exception, for TUs that raise."""
        return TransactionTimeout(f"timer {self.timer} fired for {self.key}")


@dataclass(frozen=True)
class TransportFailed:
    """The transport could not send a message of transaction ``key``."""

    key: TransactionKey
    request: Request
    reason: str = ""

    @property
    def error(self) -> TransportError:
        """This failure as an exception, for TUs that raise."""
        return TransportError(f"transport error for {self.key}: {self.reason}".rstrip(": "))


@dataclass(frozen=True)
class Terminated:
    """Transaction ``key`` reached the Terminated state and was removed."""

    key: TransactionKey


Event = Union[SendMessage, RequestReceived, ResponseReceived, AckReceived, TransactionTimedOut,
              TransportFailed, Terminated]
