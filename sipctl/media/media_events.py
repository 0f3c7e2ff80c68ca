"""Events of the media layer (one :class:`~sipctl.media.stream.RtpStream` per line).

Frozen dataclasses, each carrying the ``line`` it concerns (whatever hashable key the
caller passed to :meth:`MediaEngine.open_line <sipctl.media.engine.MediaEngine.open_line>`).
:class:`~sipctl.media.stream.RtpStream` appends them to its ``events`` list (sans-IO);
:class:`~sipctl.media.engine.MediaEngine` hands them to its ``on_event`` callable **on the
media thread** -- the asyncio side wraps that callable with ``loop.call_soon_threadsafe``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Optional, Tuple, Union

__all__ = [
    "MediaEvent", "DtmfReceived", "MediaTimeout", "SendDtmfInfo", "RtpLatched",
    "MediaStarted", "MediaError",
]

Address = Tuple[str, int]


@dataclass(frozen=True)
class DtmfReceived:
    """A key press from the peer: ``method`` is ``"rfc4733"`` (RTP telephone-event).

    (INFO digits arrive on the SIP side; :class:`~sipctl.media.dtmf.DtmfReceiver` parses
    them there.) ``duration_ms`` is known only when the end packet was the first seen."""
    line: Hashable
    digit: str
    method: str
    duration_ms: Optional[int] = None


@dataclass(frozen=True)
class MediaTimeout:
    """No RTP arrived for ``seconds`` (``mediatimeout``) while we expected it. Reported
    once per silent period (again only after RTP flowed and stopped again)."""
    line: Hashable
    seconds: float


@dataclass(frozen=True)
class SendDtmfInfo:
    """Send this SIP INFO in the line's dialog (``dtmfmode`` 1, 3, or 2 without RTP)."""
    line: Hashable
    body: str
    digit: str
    content_type: str = "application/dtmf-relay"


@dataclass(frozen=True)
class RtpLatched:
    """Symmetric RTP: from now on the line sends ``kind`` (``"rtp"`` or ``"rtcp"``) to
    ``address``, the source of the peer's packets (SSRC ``ssrc``)."""
    line: Hashable
    address: Address
    ssrc: int
    kind: str = "rtp"


@dataclass(frozen=True)
class MediaStarted:
    """The first audio RTP packet of the line arrived (e.g. stop a local ringback)."""
    line: Hashable
    address: Address


@dataclass(frozen=True)
class MediaError:
    """Something failed for this line only (a send error, an internal error); the media
    thread and the other lines carry on."""
    line: Hashable
    message: str


MediaEvent = Union[DtmfReceived, MediaTimeout, SendDtmfInfo, RtpLatched, MediaStarted, MediaError]
