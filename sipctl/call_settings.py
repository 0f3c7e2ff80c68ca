"""Call parameters of the reference (``ringtimeout``, ``autoaccept``, ``blacklist`` ...).

``session_expires`` and ``min_se`` (RFC 4028 session timers) are ours: the reference
has no session timer parameters.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

__all__ = ["CallSettings"]


@dataclass
class CallSettings:
    """The reference's call parameters (times in milliseconds)."""

    ringtimeout: int = 90000
    calltimeout: int = 10800000
    autoaccept: bool = False
    autoignore: int = 0
    rejectonbusy: bool = False
    callforwardonbusy: str = ""
    callforwardalways: str = ""
    blacklist: str = ""
    techprefix: str = ""
    customsipheader: str = ""
    discmode: int = 2
    maxlines: int = 4
    #: Enable 100rel (PRACK): offer it, send our 180 reliably when the caller supports it.
    prack: bool = False
    #: 183 handling: 0 nothing, 1 status Ringing, 2 Ringing + early media (default),
    #: 3 early media only, 4 Ringing + early media (and recording).
    changesptoring: int = 2
    #: Early media sending policy for the media layer (0..6 as in the reference; default 2 auto).
    earlymedia: int = 2
    #: Local ringtone: 0 none, 1 incoming calls, 2 incoming and outgoing (ringback) calls.
    playing: int = 2
    #: What ``mute(direction=4)`` mutes: 0 both, 1 out (speaker), 2 in (microphone),
    #: 3 both, 4 both, 5 mute disabled.
    defmute: int = 2
    #: Ours (RFC 4028): session interval in seconds we ask for; 0 disables session timers.
    session_expires: int = 1800
    #: Ours (RFC 4028): the smallest session interval we accept (at least 90).
    min_se: int = 90

    def __post_init__(self) -> None:
        checks = (("changesptoring", 0, 4), ("earlymedia", 0, 6), ("playing", 0, 2),
                  ("defmute", 0, 5))
        for name, lo, hi in checks:
            if not lo <= getattr(self, name) <= hi:
                raise ValueError(f"{name} must be {lo}..{hi}, got {getattr(self, name)!r}")
        if self.min_se < 90:
            raise ValueError(f"min_se must be at least 90 (RFC 4028 4), got {self.min_se}")
        if self.session_expires and self.session_expires < self.min_se:
            raise ValueError(f"session_expires ({self.session_expires}) must be 0 or at least "
                             f"min_se ({self.min_se})")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> CallSettings:
        """Settings from a parameter mapping (names as in the reference, case-insensitive)."""
        low = {str(k).lower(): v for k, v in params.items()}
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in low:
                continue
            v = low[f.name]
            default = getattr(cls, f.name)
            if isinstance(default, bool):
                kw[f.name] = str(v).strip().lower() in ("1", "true", "yes", "on")
            elif isinstance(default, int):
                kw[f.name] = int(v)
            else:
                kw[f.name] = "" if v is None else str(v)
        return cls(**kw)

    def blacklisted(self, *names: str) -> bool:
        """Whether any of ``names`` (user, URI, display name) is on the blacklist."""
        banned = {b.strip().lower() for b in self.blacklist.split(",") if b.strip()}
        return any(n and n.lower() in banned for n in names)

    def custom_headers(self) -> list[tuple[str, str]]:
        """``customsipheader`` ("Name: value") as a header list."""
        name, sep, value = self.customsipheader.partition(":")
        return [(name.strip(), value.strip())] if sep and name.strip() else []
