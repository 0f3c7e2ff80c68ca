"""Pure-Python reference of :mod:`_media.jitter` (tests only; not for production use).

Same algorithm, same integer arithmetic and the same decisions as the Cython
kernel, written plainly: the tests feed both the same random traces and require
identical output streams and counters. The algorithm is described in the
docstring of :mod:`_media.jitter`; the comments here say why each rule exists.

All decisions use integers: arrival and playout times are converted once to
whole microseconds (``floor(t * 1e6)``) and RTP timestamps to microseconds by
floor division, so Python and C agree exactly.
"""
from __future__ import annotations

import enum
import math
import operator
from bisect import bisect_right

import numpy as np

from _media.reference.rtp import JitterEstimator, RtpParseError, parse as rtp_parse

__all__ = ["PutResult", "Kind", "JitterBuffer", "PARAMS"]


class PutResult(enum.IntEnum):
    OK = 0
    DUPLICATE = 1
    LATE = 2
    BAD_SIZE = 3
    BAD_TIMESTAMP = 4
    BAD_PACKET = 5
    OVERFLOW = 6
    RESET = 7


class Kind(enum.IntEnum):
    FRAME = 0
    MISSING = 1
    SILENCE = 2


# Tuning constants (the kernel's .pxd holds the same numbers).
WINDOW = 512            # packets in the transit-time window
NBINS = 16384           # histogram bins ...
BIN_US = 250            # ... of 0.25 ms: a 4 s range around the stream's transit times
SEEN = 512              # (seq, ts) pairs remembered for duplicate detection
MAX_SKEW_US = 10_000_000    # transit change beyond this is an absurd timestamp
CAND_TOL_US = 1_000_000     # a repeat confirms a new timeline if this consistent
CAND_SEQ = 100              # ... and at most this many sequence numbers ahead
HANGOVER = 2            # empty-buffer ticks reported MISSING before SILENCE
DROP_LOUD = 2           # extra frames of excess delay before a non-quiet frame is dropped
CLIP_US = 60_000        # transit this far above the target is a "burst" sample (spike, stall) ...
BURST_MAX = 8           # ... of which one burst records at most this many, clipped
RUN_US = 300_000        # unless it lasts longer than this (arrival time): a real delay step
CLIP_MIN_N = 64         # bursts are only recognised once the window has this many samples

MAX_FRAMES = 65535      # frames per packet (frame_bytes > 0)
REWIND_US = 4_000_000  # adapt="tsm": a late packet rewinds the playout point this far,
REWIND_MIN_US = 60_000  # once this much was skipped (a stall or spike, not one late packet)
EXT_LIMIT = 1 << 40     # extended timestamps stay far from int64 overflow (the kernel's)

# Per jittersize 0..6: late fraction (per 10 000 packets) above which the delay grows,
# late fraction one frame less delay must stay under before it shrinks, margin (us).
PARAMS = (
    (5000, 2500, 0),
    (800, 300, 0),
    (500, 150, 0),
    (330, 100, 0),
    (150, 50, 5000),
    (60, 20, 10000),
    (20, 5, 20000),
)


def _fdiv(a: int, b: int) -> int:
    return a // b  # Python floors; the kernel's fdiv() does the same in C


def _s32(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x >= 1 << 31 else x


def _s16(x: int) -> int:
    x &= 0xFFFF
    return x - (1 << 16) if x >= 1 << 15 else x


def _us(t, name: str) -> int:
    if isinstance(t, (str, bytes, bytearray)) or t is None:
        raise TypeError(f"{name} must be a number, not {type(t).__name__}")
    t = float(t)
    if not math.isfinite(t) or abs(t) > 1e12:
        raise ValueError(f"{name} must be finite (|t| <= 1e12 s), got {t}")
    return math.floor(t * 1000000.0)


def _int(v, name: str, hi: int) -> int:
    if type(v) is not int:
        if isinstance(v, (bool, np.bool_)):
            raise TypeError(f"{name} must be an int, not {type(v).__name__}")
        try:
            v = operator.index(v)
        except TypeError:
            raise TypeError(f"{name} must be an int, not {type(v).__name__}") from None
    if v < 0 or v > hi:
        raise ValueError(f"{name} {v} out of range 0..{hi}")
    return v


def _flag(v, name: str) -> bool:
    if v is True or v is False:
        return v
    if isinstance(v, np.bool_):
        return bool(v)
    try:
        return bool(operator.index(v))
    except TypeError:
        raise TypeError(f"{name} must be a bool, not {type(v).__name__}") from None


def _bytes(v, name: str) -> bytes:
    if type(v) is bytes:
        return v
    try:
        return memoryview(v).tobytes()
    except TypeError:
        raise TypeError(f"{name} must be a bytes-like object, not {type(v).__name__}") from None


class _Entry:
    __slots__ = ("ts", "seq", "n", "used", "marker", "payload")

    def __init__(self, ts, seq, n, used, marker, payload):
        self.ts, self.seq, self.n, self.used, self.marker, self.payload = ts, seq, n, used, marker, payload


class _Transit:
    """Windowed histogram of transit times with incrementally tracked upper quantiles.

    For each tolerated late fraction ``late[j]`` (per 10 000) ``qb[j]`` is the bin of
    the k-th largest sample, k = n * late[j] // 10000 + 1, and ``above[j]`` counts the
    samples in bins above it: a playout offset in a bin >= qb[j] has at most that
    fraction of the window late.
    """

    def __init__(self, late: tuple[int, int]) -> None:
        self.late = late
        self.ring = [0] * WINDOW
        self.hist = [0] * NBINS
        self.n = 0
        self.head = 0
        self.anchor = 0
        self.qb = [0, 0]
        self.above = [0, 0]

    def k(self, j: int) -> int:
        return self.n * self.late[j] // 10000 + 1

    def _rebuild(self) -> None:
        self.hist = [0] * NBINS
        for i in range(self.n):
            self.hist[min(max(self.ring[(self.head - 1 - i) % WINDOW] - self.anchor, 0), NBINS - 1)] += 1
        for j in range(2):
            k, acc, b = self.k(j), 0, NBINS - 1
            while b > 0 and acc + self.hist[b] < k:
                acc += self.hist[b]
                b -= 1
            self.qb[j], self.above[j] = b, acc

    def add(self, t_us: int) -> None:
        a = _fdiv(t_us, BIN_US)
        if self.n == 0:
            self.anchor = a - NBINS // 4
            self.qb = [a - self.anchor] * 2
            self.above = [0, 0]
        if self.n == WINDOW:
            old = min(max(self.ring[self.head] - self.anchor, 0), NBINS - 1)
            self.hist[old] -= 1
            for j in range(2):
                if old > self.qb[j]:
                    self.above[j] -= 1
        else:
            self.n += 1
        self.ring[self.head] = a
        self.head = (self.head + 1) % WINDOW
        b = a - self.anchor
        if b < 0 or b >= NBINS:
            # drift or a timeline step left the range: re-centre and rebuild (rare)
            self.anchor = a - NBINS // 2
            self._rebuild()
            return
        self.hist[b] += 1
        for j in range(2):
            if b > self.qb[j]:
                self.above[j] += 1
            k = self.k(j)
            while self.above[j] >= k:
                self.qb[j] += 1
                self.above[j] -= self.hist[self.qb[j]]
            while self.qb[j] > 0 and self.above[j] + self.hist[self.qb[j]] < k:
                self.above[j] += self.hist[self.qb[j]]
                self.qb[j] -= 1

    def quantile_us(self, j: int) -> int:
        """Lower edge of the quantile's bin (samples in that bin count as on time)."""
        return (self.anchor + self.qb[j]) * BIN_US

    def min_us(self) -> int:
        for b in range(NBINS):
            if self.hist[b]:
                return (self.anchor + b) * BIN_US
        return 0


class JitterBuffer:
    """Reference twin of :class:`_media.jitter.JitterBuffer` (same arguments, same results)."""

    def __init__(self, clock_rate=8000, frame_samples=160, frame_bytes=0, jittersize=3,
                 maxjitterpackets=99, adapt="frame"):
        self.clock_rate = _int(clock_rate, "clock_rate", 1 << 20)
        self.frame_samples = _int(frame_samples, "frame_samples", 1 << 20)
        self.frame_bytes = _int(frame_bytes, "frame_bytes", 1 << 20)
        self.jittersize = _int(jittersize, "jittersize", 6)
        self.maxjitterpackets = _int(maxjitterpackets, "maxjitterpackets", 4096)
        if self.clock_rate < 1000:
            raise ValueError(f"clock_rate {self.clock_rate} out of range 1000..{1 << 20}")
        if self.frame_samples < 1:
            raise ValueError("frame_samples must be >= 1")
        if self.maxjitterpackets < 1:
            raise ValueError("maxjitterpackets must be >= 1")
        self.frame_us = self.frame_samples * 1000000 // self.clock_rate
        if self.frame_us < 1000 or self.frame_us > 1000000:
            raise ValueError("frame duration must be 1 ms .. 1 s")
        if not isinstance(adapt, str):
            raise TypeError(f"adapt must be a str, not {type(adapt).__name__}")
        if adapt not in ("frame", "tsm"):
            raise ValueError(f"adapt must be 'frame' or 'tsm', got {adapt!r}")
        self.adapt = adapt
        self.late_up, self.late_down, self.margin_us = PARAMS[self.jittersize]
        self.c = dict(received=0, played=0, late=0, duplicates=0, discarded=0, bad=0,
                      concealed=0, dropped_for_adaptation=0, inserted_for_adaptation=0, resets=0)
        self.jitter = JitterEstimator(self.clock_rate)
        self._clear()

    # ----------------------------------------------------------------- state

    def _clear(self) -> None:
        self.started = False
        self.ssrc = 0
        self.origin = 0          # RTP timestamp of extended timestamp 0
        self.hi_ts = 0           # highest extended timestamp accepted (for unwrapping)
        self.hi_seq = 0          # highest extended sequence number
        self.ref_transit = 0     # transit of the last accepted packet (absurd-timestamp check)
        self.buf: list[_Entry] = []
        self.seen = [(-1, 0)] * SEEN
        self.play_ts = 0
        self.playing = False
        self.lp_seq = 0
        self.lp_end = 0
        self.lp_span = 0
        self.idle = 0
        self.last_p = None       # playout offset of the last FRAME/MISSING tick (adapt="tsm")
        self.gap_ts = None       # adapt="tsm": first frame skipped unplayed since the last played
        self.cand = None
        self.burst = 0           # samples recorded in the current burst
        self.burst_start = 0
        self.est = _Transit((self.late_up, self.late_down))
        self.jitter.reset()

    def reset(self) -> None:
        """Forget the stream (buffer, timing, adaptation); counters are kept, ``resets`` + 1."""
        for e in self.buf:
            e.payload = None
        self._clear()
        self.c["resets"] += 1

    def _ts_us(self, ext: int) -> int:
        return _fdiv(ext * 1000000, self.clock_rate)

    def _target(self) -> int:
        """Lowest acceptable playout offset (receiver time - media time, us)."""
        return self.est.quantile_us(0) + self.margin_us

    def _target_down(self) -> int:
        """Playout offset that one frame less delay must stay at or above to shrink."""
        return self.est.quantile_us(1) + self.margin_us

    # ----------------------------------------------------------------- put

    def put(self, seq, timestamp, marker, payload, arrival, ssrc=0):
        seq = _int(seq, "seq", 0xFFFF)
        ts32 = _int(timestamp, "timestamp", 0xFFFFFFFF)
        marker = _flag(marker, "marker")
        ssrc = _int(ssrc, "ssrc", 0xFFFFFFFF)
        arr = _us(arrival, "arrival")
        return self._put(seq, ts32, marker, _bytes(payload, "payload"), arr, ssrc)

    def put_rtp(self, packet, arrival):
        data = _bytes(packet, "packet")
        arr = _us(arrival, "arrival")
        try:
            p = rtp_parse(data)
        except RtpParseError:
            self.c["bad"] += 1
            self.c["discarded"] += 1
            return PutResult.BAD_PACKET
        return self._put(p.sequence, p.timestamp, p.marker, p.payload, arr, p.ssrc)

    def _put(self, seq, ts32, marker, payload, arr, ssrc):
        c = self.c
        nb = len(payload)
        if self.frame_bytes:
            n = nb // self.frame_bytes
            if nb == 0 or nb % self.frame_bytes or n > MAX_FRAMES:
                c["bad"] += 1
                c["discarded"] += 1
                return PutResult.BAD_SIZE
        else:
            n = 1
            if nb == 0:
                c["bad"] += 1
                c["discarded"] += 1
                return PutResult.BAD_SIZE
        result = PutResult.OK
        if self.started and ssrc != self.ssrc:
            self.reset()
            result = PutResult.RESET
        if not self.started:
            self._start(seq, ts32, arr, ssrc)
        ext = self.hi_ts + _s32(ts32 - (self.hi_ts + self.origin))
        transit = arr - self._ts_us(ext)
        if abs(transit - self.ref_transit) > MAX_SKEW_US or abs(ext) > EXT_LIMIT:
            cd = self.cand
            if not marker and cd is not None:
                dts = _s32(ts32 - cd[1])
                dseq = _s16(seq - cd[0])
                if 0 < dseq <= CAND_SEQ and abs(arr - cd[4] - self._ts_us(dts)) <= CAND_TOL_US:
                    # the jump repeated consistently: a new timeline starting at the candidate
                    self.reset()
                    self._start(cd[0], cd[1], cd[4], ssrc)
                    self._accept(cd[0], cd[1], cd[2], cd[3], cd[4])
                    self._accept(seq, ts32, marker, payload, arr)
                    return PutResult.RESET
            if marker:
                # a marked jump: the sender restarted its timeline (e.g. a source change)
                self.reset()
                self._start(seq, ts32, arr, ssrc)
                self._accept(seq, ts32, marker, payload, arr)
                return PutResult.RESET
            self.cand = (seq, ts32, marker, payload, arr)
            c["bad"] += 1
            c["discarded"] += 1
            return PutResult.BAD_TIMESTAMP
        r = self._accept(seq, ts32, marker, payload, arr)
        return result if result == PutResult.RESET else r

    def _start(self, seq, ts32, arr, ssrc):
        self.started = True
        self.ssrc = ssrc
        self.origin = ts32
        self.hi_ts = 0
        self.hi_seq = seq
        self.ref_transit = arr
        self.cand = None

    def _accept(self, seq, ts32, marker, payload, arr):
        c = self.c
        n = len(payload) // self.frame_bytes if self.frame_bytes else 1
        F = self.frame_samples
        ext = self.hi_ts + _s32(ts32 - (self.hi_ts + self.origin))
        sext = self.hi_seq + _s16(seq - self.hi_seq)
        c["received"] += 1
        slot = sext % SEEN
        if self.seen[slot] == (sext, ext):
            c["duplicates"] += 1
            return PutResult.DUPLICATE
        self.seen[slot] = (sext, ext)
        if ext > self.hi_ts:
            self.hi_ts = ext
        if sext > self.hi_seq:
            self.hi_seq = sext
        transit = arr - self._ts_us(ext)
        self.ref_transit = transit
        self.cand = None
        self.jitter.update(ts32, arr / 1000000.0)
        self._record(transit, arr)
        end = ext + n * F
        used = 0
        if (self.adapt == "tsm" and self.playing and self.gap_ts is not None
                and self.gap_ts <= ext < self.play_ts
                and self._ts_us(self.play_ts - ext) <= REWIND_US
                and self._ts_us(self.play_ts - self.gap_ts) >= REWIND_MIN_US):
            # nothing was played since its frame was skipped: rewind and play it late
            self.play_ts = ext
        if self.playing and ext < self.play_ts:
            if end <= self.play_ts:
                if self._is_start(sext, ext, marker) and self._first_pending(sext):
                    # first packet of a new talkspurt after a silent gap: never late, its
                    # playout time is chosen afresh
                    self.play_ts = ext
                else:
                    c["late"] += 1
                    return PutResult.LATE
            else:
                used = -(-(self.play_ts - ext) // F)   # frames already covered by playout
        # sorted insert; overlapping media is a duplicate (e.g. a resend with a new seq)
        buf = self.buf
        i = bisect_right([e.ts for e in buf], ext)
        if i > 0 and buf[i - 1].ts + buf[i - 1].n * F > ext:
            c["duplicates"] += 1
            return PutResult.DUPLICATE
        if i < len(buf) and buf[i].ts < end:
            c["duplicates"] += 1
            return PutResult.DUPLICATE
        if len(buf) >= self.maxjitterpackets:
            # full: drop the oldest packet (the incoming one if it is the oldest)
            c["discarded"] += 1
            if i == 0:
                return PutResult.OVERFLOW
            old = buf.pop(0)
            i -= 1
            if self.play_ts < old.ts + old.n * F:
                self.play_ts = old.ts + old.n * F
            buf.insert(i, _Entry(ext, sext, n, used, marker, payload))
            return PutResult.OVERFLOW
        buf.insert(i, _Entry(ext, sext, n, used, marker, payload))
        return PutResult.OK

    def _first_pending(self, sext):
        for e in self.buf:
            if self.lp_seq < e.seq < sext:
                return False
        return True

    def _record(self, transit, arr):
        est = self.est
        if est.n >= CLIP_MIN_N:
            top = self._target() + CLIP_US
            if transit > top:
                # a stall's backlog arrives at once: it must not dominate the window, so a
                # burst records a few clipped samples, unless it lasts (in arrival time)
                # like a real step in the path delay
                if self.burst == 0:
                    self.burst_start = arr
                if arr - self.burst_start <= RUN_US:
                    if self.burst < BURST_MAX:
                        self.burst += 1
                        est.add(top)
                    return
            else:
                self.burst = 0
        est.add(transit)

    def _is_start(self, sext, ext, marker):
        if sext <= self.lp_seq:
            return False
        if marker:
            return True
        return ext - (self.lp_end + (sext - self.lp_seq - 1) * self.lp_span) >= self.frame_samples

    # ----------------------------------------------------------------- get

    def get(self, now, quiet=False):
        now_us = _us(now, "now")
        return self._get(now_us, _flag(quiet, "quiet"))

    def _out_ts(self, ext):
        return (ext + self.origin) & 0xFFFFFFFF

    def _get(self, now_us, quiet):
        c = self.c
        F = self.frame_samples
        Fus = self.frame_us
        if not self.started:
            return (Kind.SILENCE, None, 0)
        if self.adapt == "tsm":
            return self._get_tsm(now_us)
        buf = self.buf
        ts = self.play_ts
        if not buf:
            if not self.playing:
                return (Kind.SILENCE, None, self._out_ts(ts))
            self.idle += 1
            if self.idle > HANGOVER:
                self.play_ts += F    # the sender has probably gone quiet
                return (Kind.SILENCE, None, self._out_ts(ts))
            c["concealed"] += 1
            if now_us - self._ts_us(ts) < self._target():
                c["inserted_for_adaptation"] += 1   # hold: the frame may still come
            else:
                self.play_ts += F
            return (Kind.MISSING, None, self._out_ts(ts))
        h = buf[0]
        fts = h.ts + h.used * F
        if not self.playing or (h.used == 0 and self._is_start(h.seq, h.ts, h.marker)):
            # talkspurt start: the head plays at the first tick at or above the target
            if now_us - self._ts_us(fts) >= self._target():
                return self._play(h, fts)
            self.idle += 1
            self.play_ts = min(ts + F, fts)
            return (Kind.SILENCE, None, self._out_ts(ts))
        p = now_us - self._ts_us(ts)
        shrink = p - Fus >= self._target_down() + (0 if quiet else DROP_LOUD * Fus)
        if fts < ts + F:
            if shrink:
                nxt = self._next_frame(h, fts)
                if nxt is not None:
                    # one frame less delay stays safe: drop the due frame, play the next
                    c["dropped_for_adaptation"] += 1
                    self._consume(h)
                    return self._play(nxt[0], nxt[1])
            if quiet and p < self._target() and len(buf) < self.maxjitterpackets:
                c["inserted_for_adaptation"] += 1
                self.idle += 1
                return (Kind.SILENCE, None, self._out_ts(ts))
            return self._play(h, fts)
        # the frame at play_ts is missing but later ones are here
        if p < self._target():
            # hold: it may be reordered, still in flight
            c["concealed"] += 1
            c["inserted_for_adaptation"] += 1
            self.idle += 1
            return (Kind.MISSING, None, self._out_ts(ts))
        if fts < ts + 2 * F and p - Fus >= self._target_down():
            # skip a lost frame instead of concealing it when one frame less delay is safe
            c["dropped_for_adaptation"] += 1
            self.play_ts = ts + F
            return self._play(h, fts)
        c["concealed"] += 1
        self.idle += 1
        self.play_ts = ts + F
        return (Kind.MISSING, None, self._out_ts(ts))

    def _get_tsm(self, now_us):
        # never drop or insert to adapt: the caller time-scales the audio instead
        c = self.c
        F = self.frame_samples
        buf = self.buf
        ts = self.play_ts
        if not buf:
            if not self.playing:
                return (Kind.SILENCE, None, self._out_ts(ts))
            self.idle += 1
            if self.idle > HANGOVER:
                self._skip()
                return (Kind.SILENCE, None, self._out_ts(ts))
            c["concealed"] += 1
            self.last_p = now_us - self._ts_us(ts)
            if self.last_p < self._target():
                c["inserted_for_adaptation"] += 1   # hold: the frame may still come
            else:
                self._skip()
            return (Kind.MISSING, None, self._out_ts(ts))
        h = buf[0]
        fts = h.ts + h.used * F
        if not self.playing or (h.used == 0 and self._is_start(h.seq, h.ts, h.marker)):
            if now_us - self._ts_us(fts) >= self._target():
                self.last_p = now_us - self._ts_us(fts)
                return self._play(h, fts)
            self.idle += 1
            self.play_ts = min(ts + F, fts)
            return (Kind.SILENCE, None, self._out_ts(ts))
        self.last_p = p = now_us - self._ts_us(ts)
        if fts < ts + F:
            return self._play(h, fts)
        c["concealed"] += 1
        self.idle += 1
        if p < self._target():
            c["inserted_for_adaptation"] += 1   # hold: it may be reordered, still in flight
        else:
            self._skip()
        return (Kind.MISSING, None, self._out_ts(ts))

    def _skip(self):
        # the frame at play_ts goes unplayed; a late packet from gap_ts on rewinds (_accept)
        if self.gap_ts is None:
            self.gap_ts = self.play_ts
        self.play_ts += self.frame_samples

    @property
    def delay_error_ms(self) -> float:
        return 0.0 if self.last_p is None else (self.last_p - self._target()) / 1000.0

    @property
    def ready(self) -> bool:
        if not self.started or not self.playing or not self.buf:
            return False
        h = self.buf[0]
        if h.used == 0 and self._is_start(h.seq, h.ts, h.marker):
            return False
        return h.ts + h.used * self.frame_samples < self.play_ts + self.frame_samples

    def _next_frame(self, h, fts):
        if h.used + 1 < h.n:
            return (h, fts + self.frame_samples)
        if len(self.buf) > 1 and self.buf[1].ts == fts + self.frame_samples:
            return (self.buf[1], self.buf[1].ts)
        return None

    def _consume(self, h):
        h.used += 1
        if h.used == h.n:
            self.buf.pop(0)
            h.payload = None
        self.lp_seq = h.seq
        self.lp_end = h.ts + h.n * self.frame_samples
        self.lp_span = h.n * self.frame_samples

    def _play(self, h, fts):
        fb = self.frame_bytes
        if h.n == 1:
            data = h.payload
        else:
            k = (fts - h.ts) // self.frame_samples
            data = h.payload[k * fb:(k + 1) * fb]
        self._consume(h)
        self.play_ts = fts + self.frame_samples
        self.playing = True
        self.idle = 0
        self.gap_ts = None
        self.c["played"] += 1
        return (Kind.FRAME, data, self._out_ts(fts))

    # ----------------------------------------------------------------- stats

    @property
    def stats(self) -> dict:
        d = dict(self.c)
        buf = self.buf
        F = self.frame_samples
        if buf:
            d["current_delay_ms"] = max(0, self._ts_us(buf[-1].ts + buf[-1].n * F) - self._ts_us(
                max(self.play_ts, buf[0].ts))) / 1000.0
        else:
            d["current_delay_ms"] = 0.0
        if self.est.n:
            d["target_delay_ms"] = (self._target() - self.est.min_us()) / 1000.0
        else:
            d["target_delay_ms"] = 0.0
        d["jitter_ms"] = self.jitter.jitter_ms
        d["buffered_packets"] = len(buf)
        return d
