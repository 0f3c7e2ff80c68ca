"""The SDP offer/answer model (RFC 3264) for one call's audio stream, sans-IO.

:class:`OfferAnswer` holds one call's state: our origin line (session id
injected, version bumped on each new offer and on each answer that differs from
our previous SDP, RFC 3264 section 8), the payload type numbers bound so far
(never re-bound in a session, section 8.3.2), our hold wish, and the last
negotiated result, a frozen :class:`NegotiatedMedia`.

Choices (where the RFCs leave them to us):

* We run one audio stream. Answering, we accept the offered ``audio`` stream
  whose best codec ranks highest for us (the first such stream on ties, or the
  first acceptable stream with ``prefer_remote_order``) and reject every other
  stream with port 0, echoing its first format (as RFC 4317 does). Separate
  telephone-event-only streams are rejected too.
* The answer carries one codec (``single_codec_answer``; the peer must not
  switch codecs under us) plus telephone-event when both sides do RFC 4733,
  keeping the offer's payload type numbers. The codec is the best of ours
  among the offered ones (the reference picks "the first in this list from the
  list of codec's sent by the other peer"), or the offer's first acceptable one
  with ``prefer_remote_order``.
* A received answer must be a subset of our offer (by codec; dynamic payload
  numbers may differ, RFC 4317 2.3), else :class:`NotAcceptable`.
* Hold (:func:`hold_direction`, the reference's ``holdtypeonhold``): -1 auto and
  1 (unused) act as 2; 2 hold = sendonly (inactive if we were only receiving,
  RFC 3264 8.4); 3 "other party hold" = recvonly; 4 both = inactive; 0 and -2 =
  no hold re-offer (mute locally). Hold and unhold re-offers keep the
  negotiated codec only; :meth:`OfferAnswer.create_offer` offers everything.
* Remote hold is a stream the peer marks sendonly/inactive or whose address is
  0.0.0.0 (RFC 2543 style; we then answer normally but do not send).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from .codecs import (IMPLEMENTED, TELEPHONE_EVENT, Codec, acceptable_codecs, codec_preferences,
                     dtmf_uses_rfc2833, find_codec)
from .errors import LocalProtocolError, ParseError
from .sdp import (Attribute, Connection, Direction, MediaDescription, Origin, SessionDescription,
                  Timing)

__all__ = [
    "MediaConfig",
    "NegotiatedMedia",
    "NotAcceptable",
    "OfferAnswer",
    "answer_direction",
    "hold_direction",
]

_DTMF_EVENTS = frozenset(range(17))   # 0-9 * # A-D and flash (RFC 4733 section 3.2)


class NotAcceptable(ParseError):
    """Nothing in the session description can be used: answer 488 Not Acceptable Here."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, 488, "Not Acceptable Here")


def answer_direction(offered: Direction, wish: Direction = Direction.SENDRECV) -> Direction:
    """RFC 3264 section 6.1: the answer's direction for an offered one, given what we want."""
    return Direction.from_flags(wish.sends and offered.receives, wish.receives and offered.sends)


def hold_direction(holdtypeonhold: int, previous: Direction = Direction.SENDRECV
                   ) -> Direction | None:
    """Our direction when holding per ``holdtypeonhold`` (None: no hold re-offer)."""
    if holdtypeonhold in (0, -2):
        return None
    if holdtypeonhold in (-1, 1, 2):
        return Direction.from_flags(previous.sends, False)
    if holdtypeonhold == 3:
        return Direction.RECVONLY
    if holdtypeonhold == 4:
        return Direction.INACTIVE
    raise LocalProtocolError(f"holdtypeonhold must be -2..4, got {holdtypeonhold}")


@dataclass(frozen=True)
class MediaConfig:
    """What we can do and how we write it (see :meth:`from_params` for the reference mapping)."""

    address: str                      #: our RTP address (c=)
    port: int                         #: our RTP port
    offer_codecs: tuple[Codec, ...]   #: codecs we offer, best first
    answer_codecs: tuple[Codec, ...] = ()  #: codecs we accept, best first (default: offer_codecs)
    telephone_event: bool = True      #: RFC 4733 DTMF (dtmfmode 2, 3, 4)
    framecount: int = 0               #: codeccodecframecount
    rtcp_port: int | None = None      #: written as a=rtcp when not port + 1
    username: str = "-"               #: o= username
    session_name: str = "-"
    prefer_remote_order: bool = False
    single_codec_answer: bool = True
    write_ptime: bool = True
    write_sendrecv: bool = True       #: write a=sendrecv although it is the default
    holdtypeonhold: int = -1
    protocols: tuple[str, ...] = ("RTP/AVP",)

    @classmethod
    def from_params(cls, params: Mapping[str, object], address: str, port: int,
                    available: Iterable[str] = IMPLEMENTED, **overrides: object) -> "MediaConfig":
        """From reference parameters: use_*, alwaysallowlowcodec, dtmfmode,
        codeccodecframecount, holdtypeonhold."""
        avail = frozenset(available)
        kw: dict[str, object] = dict(
            offer_codecs=tuple(codec_preferences(params, avail)),
            answer_codecs=tuple(acceptable_codecs(params, avail)),
            telephone_event=dtmf_uses_rfc2833(int(str(params.get("dtmfmode", 2)))),
            framecount=int(str(params.get("codeccodecframecount", 0))),
            holdtypeonhold=int(str(params.get("holdtypeonhold", -1))))
        kw.update(overrides)
        return cls(address, port, **kw)  # type: ignore[arg-type]

    @property
    def accepted(self) -> tuple[Codec, ...]:
        return self.answer_codecs or self.offer_codecs


@dataclass(frozen=True)
class NegotiatedMedia:
    """The outcome of one offer/answer exchange for our audio stream."""

    codec: Codec
    payload_type: int                 #: PT we send the codec with (the peer's numbering)
    receive_payload_type: int         #: PT we expect it with (our SDP's numbering)
    remote_address: str
    remote_port: int
    remote_rtcp_address: str
    remote_rtcp_port: int
    ptime: int                        #: ms of audio per packet we send
    telephone_event_pt: int | None    #: PT for RFC 4733 events we send (None: not negotiated)
    telephone_event_receive_pt: int | None
    local_direction: Direction        #: as written in our SDP
    remote_direction: Direction       #: as written in theirs (effective)
    remote_hold: bool                 #: the peer holds us (sendonly/inactive or 0.0.0.0)
    media_index: int = 0              #: which m= line
    fmtp: str | None = None           #: the peer's fmtp for the codec

    @property
    def send(self) -> bool:
        """Should we send RTP?"""
        return (self.local_direction.sends and self.remote_direction.receives
                and self.remote_port != 0 and self.remote_address not in ("0.0.0.0", "::"))

    @property
    def receive(self) -> bool:
        """Should we expect (and play) RTP?"""
        return self.local_direction.receives and self.remote_direction.sends


@dataclass
class _Format:
    pt: int
    codec: Codec
    rtpmap: str      # as the peer wrote it (encoding/rate[/channels])
    fmtp: str | None


def _formats(m: MediaDescription) -> list[_Format]:
    """The formats of a stream we recognise, in the stream's order."""
    out = []
    fmtps = m.fmtps
    for f in m.formats:
        if not f.isdigit():
            continue
        rm = m.rtpmap(int(f))
        if rm is None:
            continue
        if rm.encoding.lower() == TELEPHONE_EVENT.name:   # at any clock rate (RFC 4733 2.1)
            codec: Codec | None = TELEPHONE_EVENT
        else:
            codec = find_codec(rm.encoding, rm.clock_rate, rm.channels)
        if codec is not None:
            text = f"{rm.encoding}/{rm.clock_rate}" + (f"/{rm.channels}" if rm.channels else "")
            out.append(_Format(int(f), codec, text, fmtps.get(f)))
    return out


def _parse_events(fmtp: str | None) -> set[int]:
    if fmtp is None:
        return set(range(16))   # RFC 4733 section 2.4.1: no fmtp means 0-15
    events: set[int] = set()
    for part in fmtp.replace(" ", "").split(","):
        lo, _, hi = part.partition("-")
        if lo.isdigit() and (hi.isdigit() or not hi):
            events.update(range(int(lo), int(hi or lo) + 1))
    return events


def _format_events(events: set[int]) -> str:
    runs: list[list[int]] = []
    for e in sorted(events):
        if runs and runs[-1][1] == e - 1:
            runs[-1][1] = e
        else:
            runs.append([e, e])
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in runs)


def _as_sdp(sdp: SessionDescription | str | bytes) -> SessionDescription:
    return sdp if isinstance(sdp, SessionDescription) else SessionDescription.parse(sdp)


@dataclass
class OfferAnswer:
    """One call's offer/answer state. ``session_id`` is injected (no randomness here)."""

    config: MediaConfig
    session_id: int
    session_version: int | None = None
    local: SessionDescription | None = field(default=None, init=False)
    remote: SessionDescription | None = field(default=None, init=False)
    negotiated: NegotiatedMedia | None = field(default=None, init=False)
    wish: Direction = field(default=Direction.SENDRECV, init=False)
    _offer: SessionDescription | None = field(default=None, init=False, repr=False)
    _pts: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _offered: dict[str, Codec] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.session_version is None:
            self.session_version = self.session_id

    # ------------------------------------------------------------------ building

    def _new_sdp(self) -> SessionDescription:
        c = self.config
        conn = Connection.for_address(c.address)
        return SessionDescription(
            origin=Origin(c.username, self.session_id, 0, conn.nettype, conn.addrtype, c.address),
            session_name=c.session_name, connection=conn, timings=[Timing()])

    def _finish(self, sd: SessionDescription, is_offer: bool) -> SessionDescription:
        assert self.session_version is not None
        if self.local is not None:
            sd.origin.session_version = self.local.origin.session_version
            if is_offer or sd.serialize() != self.local.serialize():
                sd.origin.session_version += 1
        else:
            sd.origin.session_version = self.session_version
        self.session_version = sd.origin.session_version
        self.local = sd
        return sd

    def _pt_for(self, codec: Codec, taken: set[int]) -> int:
        pt = self._pts.get(codec.key)
        if pt is None:
            pt = codec.static_pt if codec.static_pt is not None else codec.default_pt
            bound = set(self._pts.values()) | taken
            if codec.static_pt is None and pt in bound:
                pt = next(p for p in range(96, 128) if p not in bound)
        return pt

    def _common_attrs(self, m: MediaDescription, direction: Direction, ptime: int) -> None:
        c = self.config
        if c.write_ptime:
            m.attributes.append(Attribute("ptime", str(ptime)))
        if c.rtcp_port is not None and c.rtcp_port != c.port + 1:
            m.attributes.append(Attribute("rtcp", str(c.rtcp_port)))
        if direction is not Direction.SENDRECV or c.write_sendrecv:
            m.attributes.append(Attribute(direction.value))

    def create_offer(self, direction: Direction | None = None,
                     codecs: Sequence[Codec] | None = None) -> SessionDescription:
        """A new offer (initial or re-offer) with our codecs in priority order.

        ``direction`` defaults to our current wish (sendrecv unless holding);
        ``codecs`` defaults to ``config.offer_codecs``.
        """
        c = self.config
        codecs = list(c.offer_codecs if codecs is None else codecs)
        if not codecs:
            raise LocalProtocolError("no codec to offer (check the use_* parameters and the "
                                     "codecs the media engine provides)")
        direction = self.wish if direction is None else direction
        sd = self._new_sdp()
        m = MediaDescription("audio", c.port, "RTP/AVP", [])
        taken: set[int] = set()
        self._offered = {}
        if c.telephone_event:
            codecs.append(TELEPHONE_EVENT)
        for codec in codecs:
            pt = self._pt_for(codec, taken)
            taken.add(pt)
            self._pts[codec.key] = pt
            self._offered[codec.key] = codec
            m.formats.append(str(pt))
            m.attributes.append(Attribute("rtpmap", f"{pt} {codec.rtpmap}"))
            if codec.fmtp:
                m.attributes.append(Attribute("fmtp", f"{pt} {codec.fmtp}"))
        self._common_attrs(m, direction, codecs[0].ptime(c.framecount))
        sd.media.append(m)
        self._offer = self._finish(sd, is_offer=True)
        return sd

    def hold(self, holdtypeonhold: int | None = None) -> SessionDescription | None:
        """A hold re-offer per ``holdtypeonhold`` (config default); None: hold without re-offer."""
        ht = self.config.holdtypeonhold if holdtypeonhold is None else holdtypeonhold
        d = hold_direction(ht)
        if d is None:
            return None
        self.wish = d
        return self.create_offer(codecs=self._pinned())

    def unhold(self) -> SessionDescription:
        """The re-offer taking the call off hold (sendrecv)."""
        self.wish = Direction.SENDRECV
        return self.create_offer(codecs=self._pinned())

    def _pinned(self) -> list[Codec] | None:
        return [self.negotiated.codec] if self.negotiated is not None else None

    # ------------------------------------------------------------------ answering

    def receive_offer(self, offer: SessionDescription | str | bytes
                      ) -> tuple[SessionDescription, NegotiatedMedia | None]:
        """Answer a remote offer. Returns (answer, result); result is None when the offer
        has no active stream. Raises :class:`NotAcceptable` (488) when it has active
        streams but none we can use, :class:`ParseError` when it is malformed."""
        offer = _as_sdp(offer)
        c = self.config
        rank = {codec.key: (i, codec) for i, codec in enumerate(c.accepted)}
        protos = {p.upper() for p in c.protocols}
        best: tuple[tuple[int, int], int, list[_Format]] | None = None
        reasons = []
        for idx, om in enumerate(offer.media):
            if om.port == 0:
                continue
            if om.media.lower() != "audio" or om.proto.upper() not in protos:
                reasons.append(f"m={om.media} {om.proto} (unsupported)")
                continue
            usable = [f for f in _formats(om) if f.codec.key in rank]
            if not usable:
                reasons.append(f"m=audio with formats {' '.join(om.formats)} (no common codec)")
                continue
            if c.prefer_remote_order:
                key = (0, idx)
            else:
                usable.sort(key=lambda f: rank[f.codec.key][0])
                key = (rank[usable[0].codec.key][0], idx)
            if best is None or key < best[0]:
                best = (key, idx, usable)
        if best is None and reasons:
            raise NotAcceptable("no acceptable stream in the offer: " + "; ".join(reasons)
                                + f"; we accept {', '.join(x.rtpmap for x in c.accepted)}")
        sd = self._new_sdp()
        result = None
        for idx, om in enumerate(offer.media):
            if best is not None and idx == best[1]:
                m, result = self._accept(offer, om, idx, best[2])
            else:   # rejected: port 0, the first offered format (RFC 3264 section 6)
                first = om.formats[0] if om.formats else "0"
                m = MediaDescription(om.media, 0, om.proto, [first])
                rm = om.rtpmaps.get(int(first)) if first.isdigit() else None
                if rm is not None:
                    m.attributes.append(Attribute("rtpmap", str(rm)))
            sd.media.append(m)
        self.remote = offer
        self._offer = None
        self.negotiated = result
        return self._finish(sd, is_offer=False), result

    def _accept(self, offer: SessionDescription, om: MediaDescription, idx: int,
                usable: list[_Format]) -> tuple[MediaDescription, NegotiatedMedia]:
        c = self.config
        accepted = {codec.key: codec for codec in c.accepted}
        chosen = usable[0]
        voice = usable if not c.single_codec_answer else [chosen]
        te = None
        if c.telephone_event:
            tes = [f for f in _formats(om) if f.codec.key == TELEPHONE_EVENT.key]
            tes = [f for f in tes if _parse_events(f.fmtp) & _DTMF_EVENTS]
            te = next((f for f in tes if f.rtpmap.split("/")[1] == str(chosen.codec.clock_rate)),
                      tes[0] if tes else None)
        conn = offer.media_connection(om)
        if conn is None:
            raise ParseError(f"offer stream {idx} has no c= line (media or session level)")
        offered_dir = offer.media_direction(om)
        direction = answer_direction(offered_dir, self.wish)
        m = MediaDescription("audio", c.port, om.proto, [])
        for f in voice + ([te] if te else []):
            m.formats.append(str(f.pt))
            m.attributes.append(Attribute("rtpmap", f"{f.pt} {f.rtpmap}"))
            if f is te:
                events = _parse_events(f.fmtp) & _DTMF_EVENTS
                m.attributes.append(Attribute("fmtp", f"{f.pt} {_format_events(events)}"))
            elif accepted[f.codec.key].fmtp:
                m.attributes.append(Attribute("fmtp", f"{f.pt} {accepted[f.codec.key].fmtp}"))
            self._pts.setdefault(f.codec.key, f.pt)
        codec = accepted[chosen.codec.key]
        self._common_attrs(m, direction, codec.ptime(c.framecount))
        rtcp = om.rtcp
        result = NegotiatedMedia(
            codec=codec, payload_type=chosen.pt, receive_payload_type=chosen.pt,
            remote_address=conn.address, remote_port=om.port,
            remote_rtcp_address=rtcp[1].address if rtcp and rtcp[1] else conn.address,
            remote_rtcp_port=rtcp[0] if rtcp else om.port + 1,
            ptime=om.ptime or codec.ptime(c.framecount),
            telephone_event_pt=te.pt if te else None,
            telephone_event_receive_pt=te.pt if te else None,
            local_direction=direction, remote_direction=offered_dir,
            remote_hold=not offered_dir.receives or conn.is_hold, media_index=idx,
            fmtp=chosen.fmtp)
        return m, result

    # ------------------------------------------------------------------ our offer answered

    def receive_answer(self, answer: SessionDescription | str | bytes) -> NegotiatedMedia:
        """Process the answer to our outstanding offer (must be a subset of it)."""
        if self._offer is None:
            raise LocalProtocolError("no offer outstanding: call create_offer() first")
        answer = _as_sdp(answer)
        offer = self._offer
        if len(answer.media) != len(offer.media):
            raise ParseError(f"the answer has {len(answer.media)} m= lines, our offer had "
                             f"{len(offer.media)} (RFC 3264 section 6)")
        om, am = offer.media[0], answer.media[0]
        if am.port == 0:
            raise NotAcceptable("the answer rejected our audio stream (port 0)")
        ours = {f.codec.key: f for f in _formats(om)}
        theirs = {f.pt: f for f in _formats(am)}
        for text in am.formats:
            fmt = theirs.get(int(text)) if text.isdigit() else None
            if fmt is None or fmt.codec.key not in ours:
                rm = am.rtpmap(int(text)) if text.isdigit() else None
                raise NotAcceptable(f"the answer's format {text} ({rm or 'unknown'}) was not "
                                    "in our offer")
        voice = [f for f in theirs.values() if f.codec.key != TELEPHONE_EVENT.key]
        if not voice:
            raise NotAcceptable("the answer has no audio codec, only telephone-event")
        chosen = voice[0]
        te = next((f for f in theirs.values() if f.codec.key == TELEPHONE_EVENT.key), None)
        conn = answer.media_connection(am)
        if conn is None:
            raise ParseError("the answer's audio stream has no c= line")
        codec = self._offered[chosen.codec.key]
        local_dir = offer.media_direction(om)
        remote_dir = answer.media_direction(am)
        rtcp = am.rtcp
        result = NegotiatedMedia(
            codec=codec, payload_type=chosen.pt,
            receive_payload_type=ours[chosen.codec.key].pt,
            remote_address=conn.address, remote_port=am.port,
            remote_rtcp_address=rtcp[1].address if rtcp and rtcp[1] else conn.address,
            remote_rtcp_port=rtcp[0] if rtcp else am.port + 1,
            ptime=am.ptime or codec.ptime(self.config.framecount),
            telephone_event_pt=te.pt if te else None,
            telephone_event_receive_pt=ours[TELEPHONE_EVENT.key].pt
            if te and TELEPHONE_EVENT.key in ours else None,
            local_direction=local_dir, remote_direction=remote_dir,
            remote_hold=(local_dir.sends and not remote_dir.receives) or conn.is_hold,
            fmtp=chosen.fmtp)
        self.remote = answer
        self._offer = None
        self.negotiated = result
        return result
