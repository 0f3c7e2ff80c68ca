"""asyncio I/O for SIP: UDP, TCP and TLS transports, keep-alives, rport, RFC 3263 DNS.

The only package of sipctl's SIP stack that touches sockets; everything it reads
is handed to the sans-IO core as typed events on an asyncio queue (see ``events``).
"""
from .base import BindError, Transport
from .dns import Failover, SipResolver, Target
from .events import (ConnectionLost, KeepAliveDue, KeepAliveFailed, KeepAlivePong, MessageReceived,
                     ParseFailed)
from .manager import TransportConfig, TransportManager

__all__ = [
    "BindError", "Transport", "Failover", "SipResolver", "Target", "ConnectionLost", "KeepAliveDue",
    "KeepAliveFailed", "KeepAlivePong", "MessageReceived", "ParseFailed", "TransportConfig",
    "TransportManager",
]
