"""RTCP (RFC 3550 section 6): packets, reception statistics, report scheduling. Sans-IO.

Pure Python (``struct``). No sockets, clocks or ``random``: every time is passed in as
``now`` (seconds, any monotonic origin, except where a wall-clock Unix time is asked for
to build NTP timestamps) and the report-interval randomisation is an injected callable.

* Packets: :class:`SenderReport`, :class:`ReceiverReport`, :class:`SourceDescription`,
  :class:`Bye` (plus :class:`UnknownPacket` for APP/feedback/XR). ``serialize()`` on each,
  :func:`build_compound` / :func:`parse_compound` for compound packets, validated after
  RFC 3550 appendix A.2. Malformed input always raises :class:`RtcpParseError`
  (a ``ValueError``).
* Statistics: :class:`ReceiverStats` (one remote source: report block, appendix A.3),
  :class:`SenderStats` (SR packet/octet counts), :func:`round_trip_time` (6.4.1).
* :class:`RtcpSession`: the per-stream machine: when to send the next report (6.3 /
  appendix A.7, 5 s minimum, halved for the first report, randomised over [0.5, 1.5]
  and divided by e - 3/2), what to send, and a :meth:`RtcpSession.summary` for the
  CDR / ``jscripstats`` fields (rtpsent, rtprec, rtploss, rtplosspercent) and the
  reference's "rtp stat: sent X rec X loss X X%." log line.
"""
from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from _media.rtp import JitterEstimator, SequenceTracker

__all__ = [
    "RtcpParseError", "PT_SR", "PT_RR", "PT_SDES", "PT_BYE", "PT_APP",
    "SDES_END", "SDES_CNAME", "SDES_NAME", "SDES_EMAIL", "SDES_PHONE", "SDES_LOC",
    "SDES_TOOL", "SDES_NOTE", "SDES_PRIV",
    "ReportBlock", "SenderReport", "ReceiverReport", "SdesChunk", "SourceDescription", "Bye",
    "UnknownPacket", "RtcpPacket", "parse_packet", "parse_compound", "build_compound",
    "NTP_UNIX_OFFSET", "unix_to_ntp", "ntp_to_unix", "ntp_middle32", "ntp_short_to_seconds",
    "seconds_to_ntp_short", "round_trip_time", "ReceiverStats", "SenderStats",
    "rtcp_interval", "RtcpSummary", "RtcpSession",
]

PT_SR, PT_RR, PT_SDES, PT_BYE, PT_APP = 200, 201, 202, 203, 204
SDES_END, SDES_CNAME, SDES_NAME, SDES_EMAIL, SDES_PHONE = 0, 1, 2, 3, 4
SDES_LOC, SDES_TOOL, SDES_NOTE, SDES_PRIV = 5, 6, 7, 8

_HDR = struct.Struct("!BBH")
_RB = struct.Struct("!IIIIII")          # ssrc, fraction<<24 | cumulative, ehsn, jitter, lsr, dlsr
_SR_INFO = struct.Struct("!IIIIII")     # ssrc, ntp msw, ntp lsw, rtp ts, packets, octets
_U32 = 0xFFFFFFFF
_CUM_MAX, _CUM_MIN = 0x7FFFFF, -0x800000


class RtcpParseError(ValueError):
    """Malformed RTCP input (bad version, lengths, padding, counts, compound rules)."""


def _u32(name: str, v: int) -> int:
    if not isinstance(v, int) or not 0 <= v <= _U32:
        raise ValueError(f"{name} must be an int in 0..2**32-1, got {v!r}")
    return v


def _header(padding: bool, count: int, pt: int, body_len: int) -> bytes:
    if not 0 <= count <= 31:
        raise ValueError(f"RTCP count {count} does not fit in 5 bits (max 31)")
    total = 4 + body_len
    if total % 4:
        raise ValueError("RTCP packet length is not a multiple of 4")
    return _HDR.pack(0x80 | (0x20 if padding else 0) | count, pt, total // 4 - 1)


# --------------------------------------------------------------------------- packets

@dataclass(frozen=True)
class ReportBlock:
    """One reception report block (RFC 3550 6.4.1)."""
    ssrc: int
    fraction_lost: int          # 8-bit fixed point, lost/expected * 256 over the interval
    cumulative_lost: int        # signed 24-bit
    highest_seq: int            # extended highest sequence number received
    jitter: int                 # interarrival jitter, timestamp units
    lsr: int = 0                # middle 32 bits of the last SR's NTP timestamp (0: none)
    dlsr: int = 0               # delay since that SR, 1/65536 s

    def serialize(self) -> bytes:
        if not 0 <= self.fraction_lost <= 255:
            raise ValueError(f"fraction_lost {self.fraction_lost} not in 0..255")
        if not _CUM_MIN <= self.cumulative_lost <= _CUM_MAX:
            raise ValueError(f"cumulative_lost {self.cumulative_lost} not a signed 24-bit value")
        return _RB.pack(_u32("ssrc", self.ssrc),
                        (self.fraction_lost << 24) | (self.cumulative_lost & 0xFFFFFF),
                        _u32("highest_seq", self.highest_seq), _u32("jitter", self.jitter),
                        _u32("lsr", self.lsr), _u32("dlsr", self.dlsr))

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> ReportBlock:
        if len(data) - offset < 24:
            raise RtcpParseError("truncated report block")
        ssrc, fl, ehsn, jit, lsr, dlsr = _RB.unpack_from(data, offset)
        cum = fl & 0xFFFFFF
        if cum & 0x800000:
            cum -= 0x1000000
        return cls(ssrc, fl >> 24, cum, ehsn, jit, lsr, dlsr)


def _blocks(reports: Sequence[ReportBlock]) -> bytes:
    if len(reports) > 31:
        raise ValueError("at most 31 report blocks per SR/RR")
    return b"".join(r.serialize() for r in reports)


@dataclass(frozen=True)
class SenderReport:
    """SR, PT=200 (RFC 3550 6.4.1). ``ntp_timestamp`` is the full 64-bit NTP value."""
    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""      # profile-specific extension, kept opaque

    packet_type = PT_SR

    def serialize(self) -> bytes:
        if not 0 <= self.ntp_timestamp < 1 << 64:
            raise ValueError("ntp_timestamp must be a 64-bit unsigned value")
        body = _SR_INFO.pack(_u32("ssrc", self.ssrc), self.ntp_timestamp >> 32,
                             self.ntp_timestamp & _U32, _u32("rtp_timestamp", self.rtp_timestamp),
                             _u32("packet_count", self.packet_count),
                             _u32("octet_count", self.octet_count))
        body += _blocks(self.reports) + bytes(self.extension)
        return _header(False, len(self.reports), PT_SR, len(body)) + body


@dataclass(frozen=True)
class ReceiverReport:
    """RR, PT=201 (RFC 3550 6.4.2)."""
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    packet_type = PT_RR

    def serialize(self) -> bytes:
        body = struct.pack("!I", _u32("ssrc", self.ssrc)) + _blocks(self.reports)
        body += bytes(self.extension)
        return _header(False, len(self.reports), PT_RR, len(body)) + body


@dataclass(frozen=True)
class SdesChunk:
    """One SDES chunk: an SSRC and its (item type, value) list (RFC 3550 6.5)."""
    ssrc: int
    items: tuple[tuple[int, bytes], ...] = ()

    @property
    def cname(self) -> str | None:
        for t, v in self.items:
            if t == SDES_CNAME:
                return v.decode("utf-8", "replace")
        return None

    def serialize(self) -> bytes:
        out = bytearray(struct.pack("!I", _u32("ssrc", self.ssrc)))
        for t, v in self.items:
            v = bytes(v)
            if not 1 <= t <= 255 or len(v) > 255:
                raise ValueError(f"bad SDES item type {t} or length {len(v)}")
            out += bytes((t, len(v))) + v
        out += b"\x00" * (4 - len(out) % 4)   # END item plus padding: 1..4 null octets
        return bytes(out)


@dataclass(frozen=True)
class SourceDescription:
    """SDES, PT=202."""
    chunks: tuple[SdesChunk, ...] = ()

    packet_type = PT_SDES

    @classmethod
    def cname(cls, ssrc: int, cname: str) -> SourceDescription:
        return cls((SdesChunk(ssrc, ((SDES_CNAME, cname.encode("utf-8")),)),))

    def serialize(self) -> bytes:
        body = b"".join(c.serialize() for c in self.chunks)
        return _header(False, len(self.chunks), PT_SDES, len(body)) + body


@dataclass(frozen=True)
class Bye:
    """BYE, PT=203 (RFC 3550 6.6), with an optional reason."""
    ssrcs: tuple[int, ...]
    reason: str | None = None

    packet_type = PT_BYE

    def serialize(self) -> bytes:
        body = b"".join(struct.pack("!I", _u32("ssrc", s)) for s in self.ssrcs)
        if self.reason is not None:
            r = self.reason.encode("utf-8")
            if len(r) > 255:
                raise ValueError("BYE reason longer than 255 octets")
            body += bytes((len(r),)) + r
            body += b"\x00" * (-len(body) % 4)
        return _header(False, len(self.ssrcs), PT_BYE, len(body)) + body


@dataclass(frozen=True)
class UnknownPacket:
    """Any other packet type (APP, RTPFB/PSFB, XR...): header fields and raw body."""
    packet_type: int
    count: int
    body: bytes

    def serialize(self) -> bytes:
        return _header(False, self.count, self.packet_type, len(self.body)) + self.body


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye | UnknownPacket


def _parse_body(pt: int, count: int, body: bytes) -> RtcpPacket:
    if pt == PT_SR:
        need = 24 + 24 * count
        if len(body) < need:
            raise RtcpParseError(f"SR with {count} report blocks needs {need + 4} octets")
        ssrc, msw, lsw, rtp_ts, pc, oc = _SR_INFO.unpack_from(body, 0)
        blocks = tuple(ReportBlock.parse(body, 24 + 24 * i) for i in range(count))
        return SenderReport(ssrc, (msw << 32) | lsw, rtp_ts, pc, oc, blocks, body[need:])
    if pt == PT_RR:
        need = 4 + 24 * count
        if len(body) < need:
            raise RtcpParseError(f"RR with {count} report blocks needs {need + 4} octets")
        (ssrc,) = struct.unpack_from("!I", body, 0)
        blocks = tuple(ReportBlock.parse(body, 4 + 24 * i) for i in range(count))
        return ReceiverReport(ssrc, blocks, body[need:])
    if pt == PT_SDES:
        chunks = []
        pos = 0
        for _ in range(count):
            if len(body) - pos < 4:
                raise RtcpParseError("truncated SDES chunk")
            start = pos
            (ssrc,) = struct.unpack_from("!I", body, pos)
            pos += 4
            items = []
            while True:
                if pos >= len(body):
                    raise RtcpParseError("SDES chunk without END item")
                t = body[pos]
                if t == SDES_END:
                    pos += 1
                    pos += -(pos - start) % 4
                    if pos > len(body):
                        raise RtcpParseError("SDES chunk padding overruns the packet")
                    break
                if pos + 2 > len(body) or pos + 2 + body[pos + 1] > len(body):
                    raise RtcpParseError("SDES item overruns the packet")
                n = body[pos + 1]
                items.append((t, bytes(body[pos + 2:pos + 2 + n])))
                pos += 2 + n
            chunks.append(SdesChunk(ssrc, tuple(items)))
        return SourceDescription(tuple(chunks))
    if pt == PT_BYE:
        if len(body) < 4 * count:
            raise RtcpParseError(f"BYE with {count} SSRCs is truncated")
        ssrcs = struct.unpack_from(f"!{count}I", body, 0)
        reason = None
        rest = body[4 * count:]
        if rest:
            n = rest[0]
            if 1 + n > len(rest):
                raise RtcpParseError("BYE reason overruns the packet")
            reason = rest[1:1 + n].decode("utf-8", "replace")
        return Bye(tuple(ssrcs), reason)
    return UnknownPacket(pt, count, bytes(body))


def _split(data: bytes) -> list[tuple[int, int, bytes, bool]]:
    """(pt, count, body without padding, padding bit) for each packet; length checks."""
    out = []
    pos, n = 0, len(data)
    if n < 4:
        raise RtcpParseError(f"RTCP packet of {n} octets is shorter than a header")
    while pos < n:
        if n - pos < 4:
            raise RtcpParseError("trailing octets after the last RTCP packet")
        b0, pt, length = _HDR.unpack_from(data, pos)
        if b0 >> 6 != 2:
            raise RtcpParseError(f"RTCP version {b0 >> 6} (expected 2)")
        size = (length + 1) * 4
        if pos + size > n:
            raise RtcpParseError(f"RTCP packet length {size} overruns the datagram")
        body = data[pos + 4:pos + size]
        padded = bool(b0 & 0x20)
        if padded:
            if pos + size != n:
                raise RtcpParseError("padding bit set on a packet that is not the last")
            pad = body[-1] if body else 0
            if pad == 0 or pad > len(body):
                raise RtcpParseError(f"bad RTCP padding count {pad}")
            body = body[:-pad]
        out.append((pt, b0 & 0x1F, body, padded))
        pos += size
    return out


def _bytes(data: object) -> bytes:
    try:
        return bytes(memoryview(data))  # type: ignore[arg-type]
    except TypeError:
        raise RtcpParseError(f"RTCP data must be bytes-like, not {type(data).__name__}") from None


def parse_packet(data: bytes) -> RtcpPacket:
    """Exactly one RTCP packet (no compound rules). RtcpParseError if malformed."""
    parts = _split(_bytes(data))
    if len(parts) != 1:
        raise RtcpParseError(f"expected one RTCP packet, found {len(parts)}")
    pt, count, body, _ = parts[0]
    return _parse_body(pt, count, body)


def parse_compound(data: bytes, *, strict: bool = True) -> list[RtcpPacket]:
    """Packets of a compound RTCP datagram, validated after RFC 3550 A.2.

    Checks: version 2 everywhere; lengths add up to the datagram; padding only in the last
    packet; and, with ``strict``, the first packet is an SR or RR without padding.
    """
    parts = _split(_bytes(data))
    if strict:
        pt, _, _, padded = parts[0]
        if pt not in (PT_SR, PT_RR):
            raise RtcpParseError(f"compound RTCP must start with SR or RR, not PT {pt}")
    return [_parse_body(pt, count, body) for pt, count, body, _ in parts]


def build_compound(packets: Iterable[RtcpPacket], *, strict: bool = True) -> bytes:
    """Concatenate packets; with ``strict`` the first must be an SR or RR (RFC 3550 6.1)."""
    pkts = list(packets)
    if not pkts:
        raise ValueError("empty compound RTCP packet")
    if strict and pkts[0].packet_type not in (PT_SR, PT_RR):
        raise ValueError("compound RTCP must start with an SR or RR")
    return b"".join(p.serialize() for p in pkts)


# --------------------------------------------------------------------------- NTP time

NTP_UNIX_OFFSET = 2208988800     # seconds from 1900-01-01 to 1970-01-01


def unix_to_ntp(t: float) -> int:
    """64-bit NTP timestamp (32.32 fixed point since 1900) of a Unix time in seconds."""
    v = round((t + NTP_UNIX_OFFSET) * (1 << 32))
    return v & ((1 << 64) - 1)


def ntp_to_unix(ntp: int) -> float:
    return ntp / (1 << 32) - NTP_UNIX_OFFSET


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits (16.16 seconds) used for LSR and RTT (RFC 3550 6.4.1)."""
    return (ntp >> 16) & _U32


def ntp_short_to_seconds(v: int) -> float:
    return v / 65536.0


def seconds_to_ntp_short(s: float) -> int:
    return int(round(s * 65536)) & _U32


def round_trip_time(block: ReportBlock, arrival_ntp: int) -> float | None:
    """RTT in seconds from a report block about us (RFC 3550 6.4.1): A - LSR - DLSR.

    ``arrival_ntp`` is the 64-bit NTP time the RR/SR arrived. None if the block carries no
    LSR (no SR received yet by the peer); a negative result (clock or peer error) gives 0.0.
    """
    if block.lsr == 0:
        return None
    d = (ntp_middle32(arrival_ntp) - block.lsr - block.dlsr) & _U32
    if d & 0x80000000:
        return 0.0
    return d / 65536.0


# --------------------------------------------------------------------------- statistics

class ReceiverStats:
    """Reception statistics of one remote source, producing its report block (A.3, A.8).

    Fed once per received RTP packet with :meth:`on_rtp`; the extended sequence number comes
    from ``_media.rtp.SequenceTracker`` (duplicates count as received, packets out of range
    are not counted) and the jitter from ``_media.rtp.JitterEstimator``.
    """

    def __init__(self, ssrc: int, clock_rate: int) -> None:
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self._seq = SequenceTracker()
        self._jitter = JitterEstimator(clock_rate)
        self._restarts = 0
        self._expected_prior = 0
        self._received_prior = 0
        self.octets = 0
        self.last_sr_ntp: int | None = None
        self.last_sr_time: float | None = None
        self.last_packet_time: float | None = None

    # ---- input
    def on_rtp(self, seq: int, rtp_timestamp: int, arrival: float, payload_len: int = 0) -> int:
        """Account one received packet (arrival in seconds). Returns its extended seq or -1."""
        ext = self._seq.update(seq)
        if self._seq.restarts != self._restarts:   # source restarted: new interval baseline
            self._restarts = self._seq.restarts
            self._expected_prior = self._received_prior = 0
            self._jitter.reset()
        if ext >= 0:
            self._jitter.update(rtp_timestamp, arrival)
            self.octets += payload_len
            self.last_packet_time = arrival
        return ext

    def on_sender_report(self, sr: SenderReport, now: float) -> None:
        """Remember the SR for LSR/DLSR."""
        self.last_sr_ntp = sr.ntp_timestamp
        self.last_sr_time = now

    # ---- state
    @property
    def received(self) -> int:
        return self._seq.received

    @property
    def expected(self) -> int:
        return self._seq.expected if self._seq.received else 0

    @property
    def lost(self) -> int:
        """Cumulative lost (expected - received; negative with duplicates), unclamped."""
        return self.expected - self.received

    @property
    def highest_seq(self) -> int:
        return self._seq.highest if self._seq.received else 0

    @property
    def jitter(self) -> float:
        return self._jitter.jitter

    @property
    def jitter_ms(self) -> float:
        return self._jitter.jitter_ms

    def report_block(self, now: float) -> ReportBlock:
        """The report block for this source now; starts a new fraction-lost interval."""
        expected, received = self.expected, self.received
        exp_int = expected - self._expected_prior
        rec_int = received - self._received_prior
        self._expected_prior, self._received_prior = expected, received
        lost_int = exp_int - rec_int
        fraction = 0 if exp_int <= 0 or lost_int <= 0 else min(255, (lost_int << 8) // exp_int)
        cum = max(_CUM_MIN, min(_CUM_MAX, expected - received))
        lsr = dlsr = 0
        if self.last_sr_ntp is not None and self.last_sr_time is not None:
            lsr = ntp_middle32(self.last_sr_ntp)
            dlsr = seconds_to_ntp_short(max(0.0, now - self.last_sr_time))
        return ReportBlock(self.ssrc, fraction, cum, self.highest_seq & _U32,
                           int(self._jitter.jitter) & _U32, lsr, dlsr)


class SenderStats:
    """What we sent, for the SR sender info (payload octets only, RFC 3550 6.4.1)."""

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        self.packet_count = 0
        self.octet_count = 0
        self.last_rtp_timestamp: int | None = None
        self.last_send_time: float | None = None

    def on_rtp(self, payload_len: int, rtp_timestamp: int, now: float) -> None:
        self.packet_count += 1
        self.octet_count += payload_len
        self.last_rtp_timestamp = rtp_timestamp
        self.last_send_time = now

    def rtp_timestamp_at(self, now: float) -> int:
        """The RTP timestamp corresponding to ``now``, extrapolated from the last packet."""
        if self.last_rtp_timestamp is None or self.last_send_time is None:
            return 0
        return (self.last_rtp_timestamp
                + int(round((now - self.last_send_time) * self.clock_rate))) & _U32

    def sender_report(self, ssrc: int, now: float, wallclock: float,
                      reports: Sequence[ReportBlock] = ()) -> SenderReport:
        """SR at monotonic ``now`` (for the RTP timestamp) and Unix ``wallclock`` (for NTP)."""
        return SenderReport(ssrc, unix_to_ntp(wallclock), self.rtp_timestamp_at(now),
                            self.packet_count & _U32, self.octet_count & _U32, tuple(reports))


# --------------------------------------------------------------------------- scheduling

RTCP_MIN_TIME = 5.0
COMPENSATION = math.e - 1.5
IP_UDP_OVERHEAD = 28


def rtcp_interval(members: int, senders: int, rtcp_bw: float, we_sent: bool,
                  avg_rtcp_size: float, initial: bool, rand: Callable[[], float],
                  min_time: float = RTCP_MIN_TIME) -> float:
    """RFC 3550 appendix A.7 ``rtcp_interval()``; ``rtcp_bw`` in octets/s, ``rand`` in [0, 1).

    Deterministic interval = max(min_time (halved if initial), avg_size * n / bw), with the
    25 %/75 % sender/receiver split when senders are at most a quarter of the members; the
    result is multiplied by ``rand() + 0.5`` and divided by e - 3/2.
    """
    t_min = min_time / 2 if initial else min_time
    n = members
    if senders <= members * 0.25:
        if we_sent:
            rtcp_bw *= 0.25
            n = senders
        else:
            rtcp_bw *= 0.75
            n -= senders
    t = avg_rtcp_size * n / rtcp_bw if rtcp_bw > 0 else t_min
    t = max(t, t_min)
    r = rand()
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"rand() must return a value in [0, 1], got {r!r}")
    return t * (r + 0.5) / COMPENSATION


@dataclass(frozen=True)
class RtcpSummary:
    """End-of-call media statistics (CDR, ``jscripstats``: rtpsent, rtprec, rtploss, %)."""
    sent: int
    received: int
    lost: int
    loss_percent: float
    jitter_ms: float
    rtt_ms: float | None
    remote_lost: int | None = None          # as reported by the peer about our stream
    remote_fraction_lost: float | None = None

    def stats_line(self) -> str:
        """The reference's log text: ``rtp stat: sent X rec X loss X X%.``"""
        return (f"rtp stat: sent {self.sent} rec {self.received} loss {self.lost} "
                f"{int(round(self.loss_percent))}%.")


@dataclass
class _Member:
    ssrc: int
    stats: ReceiverStats | None = None
    sender: bool = False


class RtcpSession:
    """RTCP for one RTP session (one local SSRC): schedule, build, receive.

    Feed :meth:`on_rtp_sent` / :meth:`on_rtp_received` / :meth:`receive` and call
    :meth:`handle_timer` at :meth:`get_timer`; it returns the compound packet to send (or
    None after a timer reconsideration). ``rand`` returns floats in [0, 1) and is the only
    source of randomness; ``session_bandwidth`` is in bits/s (RTCP gets 5 % of it).
    ``wallclock_offset`` maps ``now`` to Unix time for SR NTP timestamps.
    """

    def __init__(self, ssrc: int, cname: str, clock_rate: int, now: float,
                 rand: Callable[[], float], *, session_bandwidth: float = 64000.0,
                 wallclock_offset: float = 0.0, min_interval: float = RTCP_MIN_TIME) -> None:
        self.ssrc = ssrc
        self.cname = cname
        self.clock_rate = clock_rate
        self._rand = rand
        self.rtcp_bw = session_bandwidth * 0.05 / 8.0          # octets per second
        self.min_interval = min_interval
        self.wallclock_offset = wallclock_offset
        self.sender = SenderStats(clock_rate)
        self.members: dict[int, _Member] = {}
        self.pmembers = 1
        self.initial = True
        self.avg_rtcp_size = float(IP_UDP_OVERHEAD + 8 + 24 + 4 + 4 + len(cname) + 4)
        self._sent_at: float | None = None
        self._prev_tp: float = now
        self.tp = now
        self.tn = now + self._interval()
        self.rtt: float | None = None
        self.remote_block: ReportBlock | None = None
        self.reports_sent = 0

    # ---- counts
    @property
    def member_count(self) -> int:
        return 1 + len(self.members)

    @property
    def sender_count(self) -> int:
        return sum(1 for m in self.members.values() if m.sender) + (1 if self.we_sent else 0)

    @property
    def we_sent(self) -> bool:
        """We sent RTP since the report before last (RFC 3550 6.3: last two intervals)."""
        return self._sent_at is not None and self._sent_at >= self._prev_tp

    def _interval(self) -> float:
        return rtcp_interval(self.member_count, self.sender_count, self.rtcp_bw, self.we_sent,
                             self.avg_rtcp_size, self.initial, self._rand, self.min_interval)

    def get_timer(self) -> float:
        return self.tn

    # ---- RTP accounting
    def on_rtp_sent(self, payload_len: int, rtp_timestamp: int, now: float) -> None:
        self.sender.on_rtp(payload_len, rtp_timestamp, now)
        self._sent_at = now

    def _member(self, ssrc: int) -> _Member:
        m = self.members.get(ssrc)
        if m is None:
            m = self.members[ssrc] = _Member(ssrc)
        return m

    def on_rtp_received(self, ssrc: int, seq: int, rtp_timestamp: int, arrival: float,
                        payload_len: int = 0) -> int:
        """Account a received RTP packet; returns its extended sequence number or -1."""
        m = self._member(ssrc)
        if m.stats is None:
            m.stats = ReceiverStats(ssrc, self.clock_rate)
        m.sender = True
        return m.stats.on_rtp(seq, rtp_timestamp, arrival, payload_len)

    # ---- RTCP in
    def receive(self, data: bytes, now: float) -> list[RtcpPacket]:
        """Process a received compound packet (RtcpParseError if malformed)."""
        packets = parse_compound(data)
        self.avg_rtcp_size = (len(data) + IP_UDP_OVERHEAD) / 16 + self.avg_rtcp_size * 15 / 16
        for p in packets:
            if isinstance(p, (SenderReport, ReceiverReport)):
                if p.ssrc == self.ssrc:
                    continue
                m = self._member(p.ssrc)
                if isinstance(p, SenderReport):
                    if m.stats is None:
                        m.stats = ReceiverStats(p.ssrc, self.clock_rate)
                    m.stats.on_sender_report(p, now)
                for b in p.reports:
                    if b.ssrc == self.ssrc:
                        self.remote_block = b
                        rtt = round_trip_time(b, unix_to_ntp(now + self.wallclock_offset))
                        if rtt is not None:
                            self.rtt = rtt
            elif isinstance(p, Bye):
                for s in p.ssrcs:
                    self.members.pop(s, None)
                self._reverse_reconsider(now)
        return packets

    def _reverse_reconsider(self, now: float) -> None:
        members = self.member_count
        if members < self.pmembers:
            f = members / self.pmembers
            self.tn = now + f * (self.tn - now)
            self.tp = now - f * (now - self.tp)
            self.pmembers = members

    # ---- RTCP out
    def build_report(self, now: float) -> bytes:
        """SR (if we sent since the report before last) or RR, plus SDES CNAME."""
        blocks = tuple(m.stats.report_block(now) for m in self.members.values()
                       if m.stats is not None and m.stats.received)[:31]
        first: RtcpPacket
        if self.we_sent:
            first = self.sender.sender_report(self.ssrc, now, now + self.wallclock_offset, blocks)
        else:
            first = ReceiverReport(self.ssrc, blocks)
        return build_compound([first, SourceDescription.cname(self.ssrc, self.cname)])

    def handle_timer(self, now: float) -> bytes | None:
        """A.7 OnExpire with timer reconsideration: the packet to send now, or None."""
        if now < self.tn:
            return None
        t = self._interval()
        tn = self.tp + t
        if tn > now:
            self.tn = tn
            return None
        data = self.build_report(now)
        self.avg_rtcp_size = (len(data) + IP_UDP_OVERHEAD) / 16 + self.avg_rtcp_size * 15 / 16
        self._prev_tp, self.tp = self.tp, now
        self.initial = False
        self.tn = now + self._interval()
        self.pmembers = self.member_count
        self.reports_sent += 1
        return data

    def bye(self, now: float, reason: str | None = None) -> bytes:
        """Final compound packet: report, SDES and BYE (no BYE reconsideration: unicast)."""
        report = parse_compound(self.build_report(now))
        return build_compound([*report, Bye((self.ssrc,), reason)])

    def summary(self) -> RtcpSummary:
        received = expected = lost = 0
        jitter = 0.0
        for m in self.members.values():
            if m.stats is not None:
                received += m.stats.received
                expected += m.stats.expected
                lost += max(0, m.stats.lost)
                jitter = max(jitter, m.stats.jitter_ms)
        pct = 100.0 * lost / expected if expected > 0 else 0.0
        rb = self.remote_block
        return RtcpSummary(
            self.sender.packet_count, received, lost, pct, jitter,
            None if self.rtt is None else self.rtt * 1000.0,
            None if rb is None else rb.cumulative_lost,
            None if rb is None else rb.fraction_lost / 256.0)
