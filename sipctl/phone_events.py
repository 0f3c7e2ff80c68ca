"""Events of :class:`sipctl.Phone` — one shape for the Python API and the TCP API.

The TCP API (:mod:`sipctl.api.notify`) only formats these as the reference's
``WPNOTIFICATION,...,NEOL`` lines; Python code gets them from :meth:`Phone.events`.
"""
from __future__ import annotations

from dataclasses import dataclass

from .call_events import Cdr, DtmfReceived, StatusChanged

__all__ = ["PhoneEvent", "Started", "LineStatus", "GlobalStatus", "CallRecord", "Notice",
           "LogLine", "VadStats", "Popup", "DtmfDigit"]


class PhoneEvent:
    """Base class of every :class:`~sipctl.Phone` event."""

    __slots__ = ()


@dataclass(frozen=True)
class Started(PhoneEvent):
    """``START,api`` (the engine accepts commands) or ``START,sip`` (the SIP stack runs)."""

    what: str


#: A line changed status: the call layer's :class:`~sipctl.call_events.StatusChanged` as it
#: is (per-line texts of the reference: CallSetup, Ringing, CallConnect, Speaking, Hold,
#: CallDisconnect, Finishing, Finished ...; ``stats`` per ``jsscripstats``).
LineStatus = StatusChanged


@dataclass(frozen=True)
class GlobalStatus(PhoneEvent):
    """The "best" status over every line and the registration (``STATUS,-1,...``):
    Ready, Registering..., Registered., Register Failed, Calling..., Ringing...,
    Incoming..., In Call (N sec), Hangup, Call Finished."""

    text: str


#: Call detail record at the end of each call: the call layer's
#: :class:`~sipctl.call_events.Cdr` as it is (caller, called, peer address, connect time and
#: duration in ms, ``disparty`` 0 not set / 1 we hung up / 2 the peer / 3 undefined, reason,
#: and ``media``: the RTP/RTCP summary when the call had media).
CallRecord = Cdr


@dataclass(frozen=True)
class Notice(PhoneEvent):
    """Something the user should see: ``level`` is EVENT, WARNING or ERROR."""

    level: str
    text: str


@dataclass(frozen=True)
class LogLine(PhoneEvent):
    """A log record (``jsscriptevent`` 3): ``level`` EVENT/WARNING/ERROR, or SIP for a
    SIP message sent or received (``text`` holds it, line breaks included)."""

    level: str
    text: str


@dataclass(frozen=True)
class VadStats(PhoneEvent):
    """Voice activity since the previous report: levels are 0..32767 (16-bit PCM
    magnitudes); ``*_speaking`` is True above the speech threshold."""

    local_vad: bool
    local_avg: int
    local_max: int
    local_speaking: bool
    remote_vad: bool
    remote_avg: int
    remote_max: int
    remote_speaking: bool

    def text(self) -> str:
        """The reference's text: ``local_vad: ON local_avg: 0 ... remote_speaking: no``."""
        def on(b: bool) -> str:
            return "ON" if b else "OFF"

        def yes(b: bool) -> str:
            return "yes" if b else "no"
        return (f"local_vad: {on(self.local_vad)} local_avg: {self.local_avg} "
                f"local_max: {self.local_max} local_speaking: {yes(self.local_speaking)} "
                f"remote_vad: {on(self.remote_vad)} remote_avg: {self.remote_avg} "
                f"remote_max: {self.remote_max} remote_speaking: {yes(self.remote_speaking)}")


@dataclass(frozen=True)
class Popup(PhoneEvent):
    """A message to show the user (``POPUP,text``)."""

    text: str


#: The peer sent a DTMF digit on ``line`` (``method`` "rfc4733" or "info"): the call
#: layer's :class:`~sipctl.call_events.DtmfReceived`.
DtmfDigit = DtmfReceived
