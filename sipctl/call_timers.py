"""Session timers (RFC 4028): negotiation helpers and the per-call timer, sans-IO.

The reference has no session timer parameters; ``session_expires`` (seconds, 0
disables) and ``min_se`` of :class:`~sipctl.call_settings.CallSettings` are ours.
Roles: ``refresher=uac`` names the UAC of the transaction that negotiated the
interval, so "do we refresh" depends on which side sent that request.

The refresher refreshes at half the interval; both sides keep an expiry deadline
at ``interval - min(32, interval/3)`` (RFC 4028 10), at which the call is ended
with BYE, so a refresher whose refreshes keep failing also gives up.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .call_common import option_tags
from .sip.errors import ParseError, SipError
from .sip.message import Message

if TYPE_CHECKING:
    from .call_settings import CallSettings

__all__ = ["SessionTimer", "TimerDecision", "IntervalTooSmall", "MIN_SE_FLOOR",
           "parse_session_expires", "session_expires_of", "min_se_of", "uas_negotiate",
           "request_headers"]

#: RFC 4028 4: Min-SE is never below 90 seconds.
MIN_SE_FLOOR = 90


class IntervalTooSmall(Exception):
    """The request's Session-Expires is below our Min-SE: answer 422 with ``min_se``."""

    def __init__(self, min_se: int) -> None:
        super().__init__(f"Session-Expires below Min-SE {min_se}")
        self.min_se = min_se


def parse_session_expires(value: str) -> tuple[int, str | None]:
    """``"1800;refresher=uac"`` -> ``(1800, "uac")`` (RFC 4028 4); ParseError if bad."""
    head, *params = value.split(";")
    if not head.strip().isdigit():
        raise ParseError(f"malformed Session-Expires {value!r}")
    refresher = None
    for p in params:
        name, _, v = p.partition("=")
        if name.strip().lower() == "refresher":
            refresher = v.strip().lower() or None
    return int(head.strip()), refresher


def session_expires_of(message: Message) -> tuple[int, str | None] | None:
    """The message's Session-Expires, or None (absent or malformed)."""
    value = message.headers.get("Session-Expires")
    if value is None:
        return None
    try:
        return parse_session_expires(value)
    except SipError:
        return None


def min_se_of(message: Message) -> int | None:
    """The message's Min-SE in seconds, or None."""
    value = (message.headers.get("Min-SE") or "").split(";", 1)[0].strip()
    return int(value) if value.isdigit() else None


def request_headers(settings: CallSettings, interval: int | None = None,
                    refresher: str | None = None) -> list[tuple[str, str]]:
    """Session-Expires (and Min-SE when not 90) for a request we send."""
    if not settings.session_expires:
        return []
    n = interval or settings.session_expires
    value = f"{n};refresher={refresher}" if refresher else str(n)
    out = [("Session-Expires", value)]
    if settings.min_se != MIN_SE_FLOOR:
        out.append(("Min-SE", str(settings.min_se)))
    return out


@dataclass(frozen=True)
class TimerDecision:
    """What a UAS answers to a request's session timer: interval, refresher, Require."""

    interval: int
    refresher: str          #: "uac" or "uas"
    require: bool           #: the UAC supports timer: ``Require: timer`` in our 2xx

    def headers(self) -> list[tuple[str, str]]:
        out = [("Session-Expires", f"{self.interval};refresher={self.refresher}")]
        return out + ([("Require", "timer")] if self.require else [])


def uas_negotiate(request: Message, settings: CallSettings) -> TimerDecision | None:
    """RFC 4028 9: our answer to an INVITE/UPDATE's session timer (None: no timer).

    No timer when ours are disabled or the request neither carries Session-Expires
    nor supports timer; raises :class:`IntervalTooSmall` below our ``min_se``.
    """
    if not settings.session_expires:
        return None
    se = session_expires_of(request)
    supported = "timer" in option_tags(request, "Supported") | option_tags(request, "Require")
    if se is None and not supported:
        return None
    if se is not None and se[0] < settings.min_se:
        raise IntervalTooSmall(settings.min_se)
    floor = max(settings.min_se, min_se_of(request) or MIN_SE_FLOOR)
    interval = max(min(se[0], settings.session_expires) if se else settings.session_expires, floor)
    chosen = se[1] if se is not None else None
    # RFC 4028 9: a UAC that supports timer and did not choose refreshes itself
    refresher = chosen if chosen in ("uac", "uas") else ("uac" if supported else "uas")
    return TimerDecision(interval, refresher, supported)


class SessionTimer:
    """The running session timer of one call (see the module docstring)."""

    def __init__(self) -> None:
        self.interval = 0
        self.we_refresh = False
        self.refresh_at: float | None = None
        self.expire_at: float | None = None

    @property
    def running(self) -> bool:
        return self.interval > 0

    @property
    def next_timer(self) -> float | None:
        times = [t for t in (self.refresh_at, self.expire_at) if t is not None]
        return min(times) if times else None

    def start(self, interval: int, we_refresh: bool, now: float) -> None:
        """(Re)start after a successful refresh (or the initial 2xx)."""
        self.interval, self.we_refresh = interval, we_refresh
        self.refresh_at = now + interval / 2 if we_refresh else None
        self.expire_at = now + interval - min(32, interval / 3)

    def stop(self) -> None:
        self.interval = 0
        self.we_refresh = False
        self.refresh_at = self.expire_at = None

    def due(self, now: float) -> str | None:
        """``"refresh"`` (send one now), ``"expire"`` (end the call) or None."""
        if self.expire_at is not None and now >= self.expire_at:
            self.stop()
            return "expire"
        if self.refresh_at is not None and now >= self.refresh_at:
            self.refresh_at = None
            return "refresh"
        return None
