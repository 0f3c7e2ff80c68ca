"""RFC 3261 section 17 transactions (with RFC 6026), sans-IO.

:class:`TransactionLayer` owns the transactions of one UA; the four state machines
live in one module each (``client_invite``, ``client_non_invite``, ``server_invite``,
``server_non_invite``) and the events it hands back in :mod:`.events`.
"""
from __future__ import annotations

from .client_invite import make_ack
from .events import (AckReceived, Address, Event, RequestReceived, ResponseReceived, SendMessage,
                     Terminated, TransactionKey, TransactionTimedOut, TransportFailed)
from .layer import TransactionLayer, client_key, make_cancel, response_destination, server_key

__all__ = [
    "TransactionLayer", "make_cancel", "make_ack", "response_destination", "server_key",
    "client_key", "TransactionKey", "Address", "Event", "SendMessage", "RequestReceived",
    "ResponseReceived", "AckReceived", "TransactionTimedOut", "TransportFailed", "Terminated",
]
