"""Pure-Python reference for :mod:`_media.rtp`, written from RFC 3550 (5.1, A.1,
A.8) and RFC 4733 with :mod:`struct`; it never imports the kernel.

Same semantics and result codes as the kernel, kept deliberately plain (one
check per RFC rule, in the order the header is read) so the tests can compare
the two field by field.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

OK = 0
EMPTY = -1
TRUNCATED = -2
BAD_VERSION = -3
CSRC_OVERRUN = -4
EXTENSION_OVERRUN = -5
BAD_PADDING = -6

_FIXED = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC


class RtpParseError(ValueError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class RtpPacket:
    version: int
    padding: bool
    extension: bool
    csrc_count: int
    marker: bool
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    csrcs: tuple[int, ...]
    ext_profile: int
    ext_offset: int
    ext_length: int
    extension_data: bytes | None
    payload_offset: int
    payload_length: int
    padding_length: int
    payload: bytes


def _parse(data) -> tuple[int, RtpPacket | None]:
    buf = data if isinstance(data, bytes) else bytes(data)
    n = len(buf)
    if n == 0:
        return EMPTY, None
    if n < 12:
        return TRUNCATED, None
    b0, b1, seq, ts, ssrc = _FIXED.unpack_from(buf, 0)
    version, p, x, cc = b0 >> 6, bool(b0 & 0x20), bool(b0 & 0x10), b0 & 0x0F
    if version != 2:
        return BAD_VERSION, None
    pos = 12 + 4 * cc
    if pos > n:
        return CSRC_OVERRUN, None
    csrcs = struct.unpack_from(f"!{cc}I", buf, 12)
    ext_profile = ext_offset = ext_length = 0
    ext_data = None
    if x:
        if pos + 4 > n:
            return EXTENSION_OVERRUN, None
        ext_profile, words = struct.unpack_from("!HH", buf, pos)
        ext_offset, ext_length = pos + 4, 4 * words
        if ext_offset + ext_length > n:
            return EXTENSION_OVERRUN, None
        ext_data = buf[ext_offset:ext_offset + ext_length]
        pos = ext_offset + ext_length
    pad = 0
    if p:
        pad = buf[-1]  # RFC 3550 5.1: the last octet counts the padding, itself included
        if pad == 0 or pad > n - pos:
            return BAD_PADDING, None
    payload = buf[pos:n - pad]
    return OK, RtpPacket(version, p, x, cc, bool(b1 & 0x80), b1 & 0x7F, seq, ts, ssrc,
                         tuple(csrcs), ext_profile, ext_offset, ext_length, ext_data,
                         pos, len(payload), pad, payload)


def validate(data) -> int:
    """0 or the negative error code."""
    return _parse(data)[0]


def parse(data) -> RtpPacket:
    code, pkt = _parse(data)
    if pkt is None:
        raise RtpParseError(code, f"RTP parse error {code}")
    return pkt


def build(payload_type: int, sequence: int, timestamp: int, ssrc: int, payload=b"", *,
          marker: bool = False, csrcs=(), extension=None, padding: int = 0) -> bytes:
    csrcs = tuple(csrcs)
    if not (0 <= payload_type <= 127 and 0 <= sequence <= 0xFFFF and 0 <= timestamp <= 0xFFFFFFFF
            and 0 <= ssrc <= 0xFFFFFFFF and len(csrcs) <= 15 and 0 <= padding <= 255):
        raise ValueError("field out of range")
    b0 = 0x80 | (0x20 if padding else 0) | (0x10 if extension is not None else 0) | len(csrcs)
    out = bytearray(_FIXED.pack(b0, (0x80 if marker else 0) | payload_type, sequence, timestamp, ssrc))
    out += struct.pack(f"!{len(csrcs)}I", *csrcs)
    if extension is not None:
        profile, data = extension
        data = bytes(data)
        if len(data) % 4:
            raise ValueError("extension data must be a multiple of 4 bytes")
        out += struct.pack("!HH", profile, len(data) // 4) + data
    out += bytes(payload)
    if padding:
        out += bytes(padding - 1) + bytes((padding,))
    return bytes(out)


class SequenceTracker:
    """RFC 3550 A.1 update_seq() without initial probation; returns extended seqs or -1."""

    MAX_DROPOUT = 3000
    MAX_MISORDER = 100
    SEQ_MOD = 1 << 16

    def __init__(self) -> None:
        self.restarts = 0
        self.reset()

    def reset(self) -> None:
        self.started = False
        self.max_seq = 0
        self.bad_seq = self.SEQ_MOD + 1
        self.cycles = 0
        self.base = 0
        self.received = 0

    def _init_seq(self, seq: int) -> None:
        self.started = True
        self.max_seq = seq
        self.bad_seq = self.SEQ_MOD + 1
        self.cycles = 0
        self.base = seq
        self.received = 1

    @property
    def highest(self) -> int:
        return self.cycles * self.SEQ_MOD + self.max_seq if self.started else -1

    @property
    def expected(self) -> int:
        return self.highest - self.base + 1 if self.started else 0

    def update(self, seq: int) -> int:
        if not 0 <= seq <= 0xFFFF:
            raise ValueError("seq out of range")
        if not self.started:
            self._init_seq(seq)
            return seq
        udelta = (seq - self.max_seq) % self.SEQ_MOD
        if udelta < self.MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += 1
            self.max_seq = seq
            self.received += 1
            return self.cycles * self.SEQ_MOD + seq
        if udelta <= self.SEQ_MOD - self.MAX_MISORDER:
            if seq == self.bad_seq:
                self._init_seq(seq)
                self.restarts += 1
                return seq
            self.bad_seq = (seq + 1) % self.SEQ_MOD
            return -1
        # duplicate or reordered: the cycle it belongs to is the current one if it
        # is numerically <= max_seq, else the one before the last wrap
        cycle = self.cycles if seq <= self.max_seq else self.cycles - 1
        if cycle < 0:
            return -1
        self.received += 1
        return cycle * self.SEQ_MOD + seq


class TelephoneEvent(NamedTuple):
    event: int
    end: bool
    volume: int
    duration: int


_DTMF = "0123456789*#ABCD"


def telephone_event_build(event: int, end: bool, volume: int, duration: int) -> bytes:
    if not (0 <= event <= 255 and 0 <= volume <= 63 and 0 <= duration <= 0xFFFF):
        raise ValueError("field out of range")
    return struct.pack("!BBH", event, (0x80 if end else 0) | volume, duration)


def telephone_event_parse(data) -> TelephoneEvent:
    data = bytes(data)
    if len(data) < 4:
        raise ValueError("telephone-event payload shorter than 4 bytes")
    event, flags, duration = struct.unpack_from("!BBH", data, 0)
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


def dtmf_to_event(ch: str) -> int:
    i = _DTMF.find(ch.upper()) if len(ch) == 1 else -1
    if i < 0:
        raise ValueError(f"{ch!r} is not a DTMF digit")
    return i


def event_to_dtmf(ev: int) -> str:
    if not 0 <= ev <= 15:
        raise ValueError(f"event {ev} is not a DTMF event")
    return _DTMF[ev]


class JitterEstimator:
    """RFC 3550 A.8 in floating point: J += (|D| - J) / 16, D in timestamp units."""

    def __init__(self, clock_rate: int) -> None:
        if clock_rate <= 0:
            raise ValueError("clock_rate must be > 0")
        self.clock_rate = clock_rate
        self.reset()

    def reset(self) -> None:
        self.jitter = 0.0
        self._last = None  # (timestamp, arrival)

    @property
    def jitter_ms(self) -> float:
        return self.jitter / self.clock_rate * 1000.0

    def update(self, rtp_timestamp: int, arrival_time: float) -> float:
        if self._last is not None:
            last_ts, last_arrival = self._last
            step = (rtp_timestamp - last_ts) & 0xFFFFFFFF
            if step >= 1 << 31:
                step -= 1 << 32  # signed 32-bit difference
            d = (arrival_time - last_arrival) * self.clock_rate - step
            self.jitter += (abs(d) - self.jitter) / 16.0
        self._last = (rtp_timestamp, arrival_time)
        return self.jitter
