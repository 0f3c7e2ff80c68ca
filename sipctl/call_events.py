"""Events of the call state machine (:mod:`sipctl.call`), pulled with ``next_event()``.

One shape for the Python API and the TCP API: :class:`StatusChanged` maps to
``STATUS,line,status,peername,localname,endpointtype,peerdisplayname,callid`` and
:class:`Cdr` to ``CDR,line,peername,caller,called,peeraddress,connecttime,duration,
disparty,reason``. :class:`SendRequest`, :class:`SendResponse` and :class:`SendAck`
are for the UA core (transaction layer / transport); :class:`MediaReady` and
:class:`MediaStop` for the media engine.
"""
from __future__ import annotations

from dataclasses import dataclass

from .sip.message import Request, Response
from .sip.offer_answer import NegotiatedMedia

__all__ = ["CallEvent", "StatusChanged", "SendRequest", "SendResponse", "SendAck",
           "MediaReady", "MediaStop", "Cdr", "OUTGOING", "INCOMING",
           "DISPARTY_NOT_SET", "DISPARTY_LOCAL", "DISPARTY_PEER", "DISPARTY_UNDEFINED"]

#: ``endpointtype`` values.
OUTGOING = 1
INCOMING = 2

#: ``disparty``: who initiated the disconnect.
DISPARTY_NOT_SET = 0
DISPARTY_LOCAL = 1
DISPARTY_PEER = 2
DISPARTY_UNDEFINED = 3


class CallEvent:
    """Base class of every call event (each has a ``line``; 0 = no line was allocated)."""

    __slots__ = ()
    line: int


@dataclass(frozen=True)
class StatusChanged(CallEvent):
    """A line changed status (the reference's per-line texts: CallSetup, Ringing, ...)."""

    line: int
    status: str
    peername: str
    localname: str
    endpointtype: int
    peerdisplayname: str
    callid: str


@dataclass(frozen=True)
class SendRequest(CallEvent):
    """Send ``request`` in a new client transaction (INVITE, BYE, CANCEL).

    Report responses back with ``receive_response`` and failures (Timer B/F,
    transport error) with ``transaction_failed``.
    """

    line: int
    request: Request


@dataclass(frozen=True)
class SendResponse(CallEvent):
    """Send ``response`` through the server transaction of the request it answers."""

    line: int
    response: Response


@dataclass(frozen=True)
class SendAck(CallEvent):
    """Send the ACK for a 2xx (no transaction: straight to the transport)."""

    line: int
    request: Request


@dataclass(frozen=True)
class MediaReady(CallEvent):
    """Offer/answer completed (or changed, e.g. hold): start or update the RTP stream."""

    line: int
    negotiated: NegotiatedMedia


@dataclass(frozen=True)
class MediaStop(CallEvent):
    """Stop the call's RTP stream."""

    line: int


@dataclass(frozen=True)
class Cdr(CallEvent):
    """Call detail record, exactly once at the end of every call (also failed ones)."""

    line: int
    peername: str
    caller: str
    called: str
    peeraddress: str
    connecttime_ms: int
    duration_ms: int
    disparty: int
    reason: str
