"""The audio codec catalogue and the reference's ``use_<codec>`` priority rules.

A :class:`Codec` describes a payload format as SDP sees it (encoding name, RTP
clock rate, channels, static or default dynamic payload type, fmtp) and how we
packetise it (codec frame length, frames per packet). It says nothing about how
the codec is run: that is ``_media``'s business, and the caller passes the set of
codecs the media engine can actually run as ``available`` (:data:`IMPLEMENTED`
by default: PCMU and PCMA today).

Reference parameters (``use_pcmu``, ``use_g729``, ... each 0..3):

* 0 = never: not offered and refused when the peer offers it;
* 1 = don't offer: left out of our offers, but *accepted* when the peer offers it
  (the reference distinguishes "never" from "don't offer"; use 0 to refuse);
* 2 = offer with low priority, 3 = offer with high priority.

Defaults are those of the parameter entries ("Default is N"): ``use_g729`` and
``use_pcma`` 2, everything else 1. (The FAQ's "default codec priority" list
disagrees in places, e.g. it shows PCMU enabled and PCMA disabled; the parameter
table is the single source of truth, see DESIGN.md.) ``alwaysallowlowcodec``
(default 1 = auto) reconciles the two for PCMU: in auto mode, when no codec is
set to 3, PCMU (if not 0) is appended to the offer at the lowest priority, which
gives the "PCMU, PCMA, G.729" default offer the reference's troubleshooting notes
describe; 2 always appends PCMU and GSM (if not 0); 0 never appends.

Ties are broken by the reference's "if you set all codec with the same priority"
order (speex uwb, speex wb, G729, G711, GSM, speex nb, iLBC), with the codecs it
does not rank placed by the same rule (wider band first): opus first, G.722 after
speex wb, PCMU before PCMA.

The four ``use_opus*`` parameters (8, 16, 24, 48 kHz) map to one
``opus/48000/2`` rtpmap (RFC 7587): its level is the highest of the four, and
``maxplaybackrate`` is the widest band set to that level. G.722 has no reference
parameter; ``use_g722`` (default 1) is a sipctl extension.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Mapping

from .errors import LocalProtocolError

__all__ = [
    "CATALOGUE",
    "DEFAULT_USE",
    "IMPLEMENTED",
    "STATIC_PAYLOAD_TYPES",
    "TELEPHONE_EVENT",
    "TIE_ORDER",
    "Codec",
    "acceptable_codecs",
    "codec_preferences",
    "dtmf_uses_rfc2833",
    "find_codec",
]


@dataclass(frozen=True)
class Codec:
    """One RTP payload format we know (RFC 3551 / the codec's RTP payload RFC)."""

    key: str                 #: catalogue key: "pcmu", "speexwb", "opus", "telephone-event"...
    name: str                #: encoding name in a=rtpmap (matched case-insensitively)
    clock_rate: int          #: RTP clock rate (G.722: 8000 by RFC 3551's historical error)
    channels: int = 1
    static_pt: int | None = None   #: RFC 3551 static payload type
    default_pt: int = 0      #: the payload type we offer it with
    frame_ms: int = 20       #: one codec frame (for G.711: our packetisation unit)
    default_frames: int = 1  #: frames per packet when codeccodecframecount is 0
    fmtp: str | None = None  #: the a=fmtp value we send
    params: tuple[str, ...] = ()   #: reference parameters controlling it

    @property
    def rtpmap(self) -> str:
        """The a=rtpmap value without payload type, e.g. ``opus/48000/2``."""
        return f"{self.name}/{self.clock_rate}" + (f"/{self.channels}" if self.channels != 1 else "")

    def ptime(self, framecount: int = 0) -> int:
        """Packet duration in ms for ``codeccodecframecount`` (0: the reference's default)."""
        if framecount < 0:
            raise LocalProtocolError(f"codeccodecframecount must be >= 0, got {framecount}")
        return self.frame_ms * (framecount or self.default_frames)

    def matches(self, name: str, clock_rate: int, channels: int | None = None) -> bool:
        """Does an rtpmap ``name/clock_rate[/channels]`` describe this format?"""
        return (name.lower() == self.name.lower() and clock_rate == self.clock_rate
                and (channels or 1) == self.channels)


_C = Codec
#: Every codec we can describe, keyed by :attr:`Codec.key`.
CATALOGUE: dict[str, Codec] = {c.key: c for c in (
    _C("opus", "opus", 48000, 2, None, 102, fmtp="maxplaybackrate=48000",
       params=("use_opus", "use_opuswb", "use_opusswb", "use_opusuwb")),
    _C("speexuwb", "speex", 32000, 1, None, 100, params=("use_speexuwb",)),
    _C("speexwb", "speex", 16000, 1, None, 99, params=("use_speexwb",)),
    _C("g722", "G722", 8000, 1, 9, 9, params=("use_g722",)),
    _C("g729", "G729", 8000, 1, 18, 18, frame_ms=10, default_frames=2, params=("use_g729",)),
    _C("pcmu", "PCMU", 8000, 1, 0, 0, params=("use_pcmu",)),
    _C("pcma", "PCMA", 8000, 1, 8, 8, params=("use_pcma",)),
    _C("gsm", "GSM", 8000, 1, 3, 3, params=("use_gsm",)),
    _C("speex", "speex", 8000, 1, None, 98, params=("use_speex",)),
    _C("ilbc", "iLBC", 8000, 1, None, 97, frame_ms=30, params=("use_ilbc",)),
    _C("telephone-event", "telephone-event", 8000, 1, None, 101, fmtp="0-16"),
)}
#: RFC 4733 DTMF events, offered with events 0-16.
TELEPHONE_EVENT = CATALOGUE["telephone-event"]
#: Voice codecs in tie order (all at the same level).
TIE_ORDER: tuple[str, ...] = ("opus", "speexuwb", "speexwb", "g722", "g729", "pcmu", "pcma",
                              "gsm", "speex", "ilbc")
#: Codecs the media engine runs today.
IMPLEMENTED: frozenset[str] = frozenset({"pcmu", "pcma"})
#: Parameter defaults (the reference's parameter entries; use_g722 is ours).
DEFAULT_USE: dict[str, int] = {
    "use_pcmu": 1, "use_pcma": 2, "use_g729": 2, "use_gsm": 1, "use_ilbc": 1, "use_speex": 1,
    "use_speexwb": 1, "use_speexuwb": 1, "use_opus": 1, "use_opuswb": 1, "use_opusswb": 1,
    "use_opusuwb": 1, "use_g722": 1, "alwaysallowlowcodec": 1,
}
_OPUS_BANDS = (("use_opusuwb", 48000), ("use_opusswb", 24000), ("use_opuswb", 16000),
               ("use_opus", 8000))
#: RFC 3551 static audio/video payload types: pt -> (encoding, clock rate, channels).
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("PCMU", 8000, 1), 3: ("GSM", 8000, 1), 4: ("G723", 8000, 1), 5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1), 7: ("LPC", 8000, 1), 8: ("PCMA", 8000, 1), 9: ("G722", 8000, 1),
    10: ("L16", 44100, 2), 11: ("L16", 44100, 1), 12: ("QCELP", 8000, 1), 13: ("CN", 8000, 1),
    14: ("MPA", 90000, 1), 15: ("G728", 8000, 1), 16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1), 18: ("G729", 8000, 1), 25: ("CelB", 90000, 1),
    26: ("JPEG", 90000, 1), 28: ("nv", 90000, 1), 31: ("H261", 90000, 1),
    32: ("MPV", 90000, 1), 33: ("MP2T", 90000, 1), 34: ("H263", 90000, 1),
}


def find_codec(name: str, clock_rate: int, channels: int | None = None) -> Codec | None:
    """The catalogue codec an rtpmap describes, or None."""
    for codec in CATALOGUE.values():
        if codec.matches(name, clock_rate, channels):
            return codec
    return None


def dtmf_uses_rfc2833(dtmfmode: int) -> bool:
    """Whether the reference's ``dtmfmode`` (2, 3 or 4) sends RFC 2833/4733 events in RTP."""
    return int(dtmfmode) in (2, 3, 4)


def _level(params: Mapping[str, object], name: str, top: int = 3) -> int:
    raw = params.get(name, DEFAULT_USE[name])
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise LocalProtocolError(f"{name} must be a number 0..{top}, got {raw!r}") from None
    if not 0 <= value <= top:
        raise LocalProtocolError(f"{name} must be 0..{top}, got {value}")
    return value


def _levels(params: Mapping[str, object]) -> dict[str, tuple[int, Codec]]:
    """Catalogue key -> (level, codec as we would offer it)."""
    out: dict[str, tuple[int, Codec]] = {}
    for key in TIE_ORDER:
        codec = CATALOGUE[key]
        if key == "opus":
            bands = [(_level(params, p), rate) for p, rate in _OPUS_BANDS]
            level = max(lvl for lvl, _ in bands)
            rate = next(r for lvl, r in bands if lvl == level)
            codec = replace(codec, fmtp=f"maxplaybackrate={rate}")
        else:
            level = _level(params, codec.params[0])
        out[key] = (level, codec)
    return out


def _ordered(levels: dict[str, tuple[int, Codec]], wanted: Iterable[int],
             available: frozenset[str]) -> list[Codec]:
    out = []
    for lvl in wanted:
        out += [c for k, (level, c) in levels.items() if level == lvl and k in available]
    return out


def codec_preferences(params: Mapping[str, object] | None = None,
                      available: Iterable[str] = IMPLEMENTED) -> list[Codec]:
    """The codecs to offer, best first, from the reference's ``use_<codec>`` parameters.

    ``params`` maps parameter names to 0..3 (strings accepted; missing ones take
    :data:`DEFAULT_USE`). Only codecs in ``available`` (catalogue keys) are ever
    returned. See the module docstring for the level and tie rules.
    """
    params = params or {}
    avail = frozenset(available)
    levels = _levels(params)
    offer = _ordered(levels, (3, 2), avail)
    low = _level(params, "alwaysallowlowcodec", top=2)
    extra = []
    if low == 2:
        extra = ["pcmu", "gsm"]
    elif low == 1 and not any(level == 3 for level, _ in levels.values()):
        extra = ["pcmu"]
    for key in extra:
        level, codec = levels[key]
        if level != 0 and key in avail and codec not in offer:
            offer.append(codec)
    return offer


def acceptable_codecs(params: Mapping[str, object] | None = None,
                      available: Iterable[str] = IMPLEMENTED) -> list[Codec]:
    """What we accept in an answer, best first: the offer list, then the "don't offer" (1) codecs."""
    params = params or {}
    avail = frozenset(available)
    out = codec_preferences(params, avail)
    out += [c for c in _ordered(_levels(params), (1,), avail) if c not in out]
    return out
