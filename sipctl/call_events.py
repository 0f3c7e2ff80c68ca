"""Events of the call state machine (:mod:`sipctl.call`), pulled with ``next_event()``.

One shape for the Python API and the TCP API: :class:`StatusChanged` maps to
``STATUS,line,status,peername,localname,endpointtype,peerdisplayname,callid`` and
:class:`Cdr` to ``CDR,line,peername,caller,called,peeraddress,connecttime,duration,
disparty,reason``. :class:`SendRequest`, :class:`SendResponse` and :class:`SendAck`
are for the UA core (transaction layer / transport); :class:`MediaReady`,
:class:`MediaStop`, :class:`LocalRingback`, :class:`LocalRingtone` and
:class:`MuteChanged` for the media engine; :class:`InfoReceived` and
:class:`DtmfReceived` for the application.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .sip.message import Request, Response
from .sip.offer_answer import NegotiatedMedia

__all__ = ["CallEvent", "StatusChanged", "SendRequest", "SendResponse", "SendAck",
           "MediaReady", "MediaStop", "Cdr", "InfoReceived", "DtmfReceived",
           "LocalRingback", "LocalRingtone", "MuteChanged", "OUTGOING", "INCOMING",
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
    """A line changed status (the reference's per-line texts: CallSetup, Ringing, ...).

    ``endpointtype`` 1: we called, 2: we are called. ``stats`` is set only on the copies
    the Phone sends per ``jsscripstats``: the RTP figures (sent, received, lost, loss %).
    """

    line: int
    status: str
    peername: str
    localname: str
    endpointtype: int
    peerdisplayname: str
    callid: str
    stats: tuple[int, int, int, float] | None = None


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
    """Offer/answer completed (or changed, e.g. hold): start or update the RTP stream.

    ``early``: the SDP came in a 18x (early media, before the call is answered);
    a later MediaReady with ``early=False`` confirms it at connect.
    """

    line: int
    negotiated: NegotiatedMedia
    early: bool = False


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
    #: The call's RTP/RTCP statistics (:class:`~sipctl.media.rtcp.RtcpSummary`: packets
    #: sent/received/lost, jitter, RTT), filled in by the UA when the call had media.
    media: Any = None


@dataclass(frozen=True)
class InfoReceived(CallEvent):
    """The peer sent an INFO in the call's dialog (answered 200 already)."""

    line: int
    content_type: str
    body: str


@dataclass(frozen=True)
class DtmfReceived(CallEvent):
    """The peer pressed a key; ``method`` is "info" (SIP INFO) or "rfc4733"."""

    line: int
    digit: str
    method: str


@dataclass(frozen=True)
class LocalRingback(CallEvent):
    """Start (``on``) or stop the locally generated ringback tone of an outgoing call."""

    line: int
    on: bool


@dataclass(frozen=True)
class LocalRingtone(CallEvent):
    """Start (``on``) or stop the local ringtone of an incoming call."""

    line: int
    on: bool


@dataclass(frozen=True)
class MuteChanged(CallEvent):
    """The call's mute state: ``mic`` (we send silence), ``speaker`` (we play nothing)."""

    line: int
    mic: bool
    speaker: bool
