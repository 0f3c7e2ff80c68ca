"""Media settings with the reference's parameter names (``seeds/...``), and sipctl extras.

| field | reference meaning | default |
|---|---|---|
| ``rtpport`` | local RTP port base; 0: random 20000..21000 remembered ("stable rtp port") | 0 |
| ``natopenpackets`` | at stream start: 0 none, 1 one empty UDP packet, 2 one normal RTP packet, N>=3 N RTP packets | 2 |
| ``rtpkeepaliveival`` | ms between keep-alive RTP packets while we send no audio (hold/muted); 0 off | 0 |
| ``mediatimeout`` | s without received RTP (while we expect it) before a MediaTimeout event; 0 off | 300 |
| ``sendrtponmuted`` | send zeroed (silence) packets while the microphone is muted | False |
| ``dtmfmode`` | 0 off, 1 INFO, 2 RFC 4733 if RTP works else INFO, 3 both, 4 RFC 4733 only | 2 |
| ``jittersize`` | jitter buffer behaviour 0 (none) .. 6 (max) | 3 |
| ``maxjitterpackets`` | cap on buffered packets (99: no limitation) | 99 |
| ``rtcp`` | enable RTCP | True |
| ``localip`` -> ``bind_address`` | local address the RTP/RTCP sockets bind to (empty in the reference: autodetect; sipctl default loopback) | ``127.0.0.1`` |
| ``rate`` (sipctl) | engine (device) sample rate: 8000, 16000 or 48000 | 8000 |
| ``frame_ms`` (sipctl) | engine tick / device frame | 20 |
| ``rtcp_interval`` (sipctl) | RTCP minimum report interval, s (RFC 3550: 5) | 5.0 |
| ``decode`` (sipctl) | decode received audio: None = auto (not when the device is a NullDevice, whose speaker is discarded) | None |
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Mapping, Optional

__all__ = ["MediaSettings", "ENGINE_RATES"]

ENGINE_RATES = (8000, 16000, 48000)
_ALIASES = {"localip": "bind_address", "samplerate": "rate"}


def _parse_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v != 0
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {v!r}")


@dataclass(frozen=True)
class MediaSettings:
    """See the module docstring for every field."""
    rtpport: int = 0
    natopenpackets: int = 2
    rtpkeepaliveival: int = 0
    mediatimeout: float = 300
    sendrtponmuted: bool = False
    dtmfmode: int = 2
    jittersize: int = 3
    maxjitterpackets: int = 99
    rtcp: bool = True
    bind_address: str = "127.0.0.1"
    rate: int = 8000
    frame_ms: int = 20
    rtcp_interval: float = 5.0
    decode: Optional[bool] = None

    def __post_init__(self) -> None:
        def rng(name: str, lo: float, hi: float) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                raise ValueError(f"{name} must be a number in {lo}..{hi}, not {v!r}")
        rng("rtpport", 0, 65534)
        rng("natopenpackets", 0, 1000)
        rng("rtpkeepaliveival", 0, 3600_000)
        rng("mediatimeout", 0, 1e7)
        rng("dtmfmode", 0, 4)
        rng("jittersize", 0, 6)
        rng("maxjitterpackets", 1, 4096)
        rng("rtcp_interval", 0.01, 3600)
        if self.rate not in ENGINE_RATES:
            raise ValueError(f"rate must be one of {ENGINE_RATES}, not {self.rate!r}")
        if self.frame_ms not in (10, 20):
            raise ValueError(f"frame_ms must be 10 or 20, not {self.frame_ms!r}")
        if not isinstance(self.bind_address, str) or not self.bind_address:
            raise ValueError("bind_address must be a non-empty address string")

    @classmethod
    def from_params(cls, params: Mapping[str, Any], base: Optional["MediaSettings"] = None
                    ) -> "MediaSettings":
        """Settings from reference parameters (names case-insensitive, values as strings or
        typed). Unknown names are ignored; an empty ``localip`` keeps the default."""
        base = base or cls()
        types = {f.name: f.type for f in fields(cls)}
        changes: dict[str, Any] = {}
        for key, value in params.items():
            name = _ALIASES.get(str(key).lower(), str(key).lower())
            if name not in types:
                continue
            t = types[name]
            if name == "bind_address":
                if str(value).strip():
                    changes[name] = str(value).strip()
            elif name == "decode":
                changes[name] = None if value in (None, "", "auto") else _parse_bool(value)
            elif t in ("bool",):
                changes[name] = _parse_bool(value)
            elif t in ("float",):
                changes[name] = float(value)
            else:
                changes[name] = int(str(value).strip()) if not isinstance(value, int) else value
        return replace(base, **changes)
