"""Call parameters of the reference (``ringtimeout``, ``autoaccept``, ``blacklist`` ...)."""
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
