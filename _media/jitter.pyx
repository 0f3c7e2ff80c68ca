"""Adaptive jitter buffer for one RTP stream: reorder, time and pace received frames.

The receiver calls :meth:`JitterBuffer.put` for every packet as it arrives and
:meth:`JitterBuffer.get` once per playout tick (every ``frame_samples /
clock_rate`` seconds of its own clock). Each tick yields one frame to decode, a
MISSING frame to conceal, or SILENCE.

Adaptation. Every accepted packet's transit time (arrival - timestamp /
clock_rate, receiver microseconds) goes into a histogram over the last 512
packets (0.25 ms bins), and two of its upper quantiles are tracked incrementally:
the *grow* target, a playout offset with at most ``late_grow`` of the window late,
and the *shrink* target (``late_shrink`` < ``late_grow``). A tick's playout offset
P is its receiver time minus the media time of the frame it plays; a packet is on
time iff its transit <= P. The delay grows by one frame whenever P < grow target
(a MISSING that holds the playout point when the due frame has not arrived, or a
SILENCE inserted at a quiet tick), so it grows exactly when a packet would
otherwise be late. It shrinks by one frame when P minus a frame is still >= the
shrink target: by skipping a lost frame, or dropping a frame at a quiet tick (at a
loud tick only with two more frames of excess). The gap between the two quantiles
is the hysteresis. Talkspurt starts (the first packet, a marker bit, or a
timestamp jump that the sequence gap does not explain) play at the first tick
with P >= grow target: the delay is chosen afresh there. ``jittersize`` 0..6
selects ``PARAMS[jittersize]`` = (late_grow, late_shrink per 10 000, margin us):
from 50%/25% (0: no buffering beyond the median transit) through 3.3%/1% (3) to
0.2%/0.05% + 20 ms (6).

A stall's backlog (packets arriving together far above the target) records at
most 8 clipped samples per burst, so one stall barely moves the target; a burst
lasting over 300 ms of arrival time is a real step in the path delay and counts in
full. The playout clock runs on through a stall: the stale packets are late.

``adapt="tsm"`` (used by :class:`_media.playout.Playout`): the buffer never drops a
frame or inserts SILENCE to adapt; it holds or skips exactly as above when a frame
is missing and reports :attr:`JitterBuffer.delay_error_ms` for the caller to
time-scale the audio. Once 60 ms of frames were skipped unplayed (a stall or a
spike), a packet from that gap rewinds the playout point (up to 4 s) instead of
being late: the backlog is played and the caller accelerates it away.

Overflow (``maxjitterpackets`` packets buffered) drops the *oldest* packet (the
incoming one if it is the oldest) and moves the playout point past it, so the
buffer stays current. The pure-Python twin :mod:`_media.reference.jitter` makes
the same decisions; the tests compare them.
"""
import enum
import operator
from dataclasses import dataclass

import numpy as np

cimport cython
from cpython.buffer cimport PyObject_CheckBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport PyObject, Py_DECREF, Py_INCREF
from libc.math cimport floor, isfinite
from libc.stdlib cimport free, malloc
from libc.string cimport memset

from _media._types cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t
from _media.rtp cimport rtp_header_t, rtp_jitter_reset, rtp_jitter_update, rtp_parse, RTP_OK

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object, int*) except? -1

__all__ = ["JitterBuffer", "JitterStats", "PutResult", "Kind", "PARAMS"]

# Per jittersize 0..6: late fraction (per 10 000) above which the delay grows, late
# fraction one frame less delay must stay under before it shrinks, margin in us.
PARAMS = (
    (5000, 2500, 0),
    (800, 300, 0),
    (500, 150, 0),
    (330, 100, 0),
    (150, 50, 5000),
    (60, 20, 10000),
    (20, 5, 20000),
)

cdef extern from *:
    """
    #define JB_SEEN_EMPTY (-0x7FFFFFFFFFFFFFFFLL)
    #define JB_EXT_LIMIT (1LL << 40)
    """
    int64_t JB_SEEN_EMPTY       # free slot of the duplicate table
    int64_t JB_EXT_LIMIT        # extended timestamps stay far from int64 overflow

include "jitter_core.pxi"


# --------------------------------------------------------------------------- Python facade

class PutResult(enum.IntEnum):
    """What :meth:`JitterBuffer.put` did with a packet."""
    OK = JB_OK                          # queued
    DUPLICATE = JB_DUPLICATE            # seen before (same seq and timestamp) or overlapping media
    LATE = JB_LATE                      # its frames were already played or concealed: dropped
    BAD_SIZE = JB_BAD_SIZE              # empty, or not a multiple of frame_bytes
    BAD_TIMESTAMP = JB_BAD_TIMESTAMP    # absurd timestamp jump (unless repeated: then RESET)
    BAD_PACKET = JB_BAD_PACKET          # put_rtp(): not a valid RTP packet
    OVERFLOW = JB_OVERFLOW              # maxjitterpackets reached: the oldest packet was dropped
    RESET = JB_RESET                    # new SSRC or timeline: buffer reset, packet queued


class Kind(enum.IntEnum):
    """What a tick of :meth:`JitterBuffer.get` yields."""
    FRAME = JB_FRAME        # a frame to decode
    MISSING = JB_MISSING    # conceal (lost, late, or the delay grows)
    SILENCE = JB_SILENCE    # nothing to play: before the stream, in a DTX gap, or an insertion


@dataclass(frozen=True)
class JitterStats:
    """A snapshot of :attr:`JitterBuffer.stats`; counters run since construction.

    * ``received``: valid packets put (duplicates, late and overflowed ones included);
    * ``played``: FRAME ticks; ``late``: packets dropped because their frames had
      already been played or concealed; ``duplicates``: repeats and overlapping media;
    * ``discarded``: packets dropped for overflow or bad input; ``bad``: BAD_SIZE,
      BAD_TIMESTAMP and BAD_PACKET ones;
    * ``concealed``: MISSING ticks (holds included);
    * ``dropped_for_adaptation``: frames skipped to shrink the delay (a due frame at a
      quiet tick, or a lost one instead of concealing it);
    * ``inserted_for_adaptation``: ticks that did not advance the playout point to grow
      the delay (a MISSING hold for a frame still in flight, a SILENCE at a quiet tick);
    * ``resets``: SSRC or timeline changes and :meth:`JitterBuffer.reset` calls;
    * ``current_delay_ms``: buffered media ahead of the playout point;
      ``target_delay_ms``: the grow target above the fastest transit in the window;
      ``jitter_ms``: RFC 3550 interarrival jitter; ``buffered_packets``: packets queued.
    """
    received: int
    played: int
    late: int
    duplicates: int
    discarded: int
    bad: int
    concealed: int
    dropped_for_adaptation: int
    inserted_for_adaptation: int
    resets: int
    current_delay_ms: float
    target_delay_ms: float
    jitter_ms: float
    buffered_packets: int


# The tuning constants, for the tests to hold the reference to the same numbers.
_TUNING = dict(WINDOW=JB_WINDOW, NBINS=JB_NBINS, BIN_US=JB_BIN_US, SEEN=JB_SEEN,
               MAX_SKEW_US=JB_MAX_SKEW_US, CAND_TOL_US=JB_CAND_TOL_US, CAND_SEQ=JB_CAND_SEQ,
               HANGOVER=JB_HANGOVER, DROP_LOUD=JB_DROP_LOUD, CLIP_US=JB_CLIP_US,
               BURST_MAX=JB_BURST_MAX, RUN_US=JB_RUN_US, CLIP_MIN_N=JB_CLIP_MIN_N,
               MAX_FRAMES=JB_MAX_FRAMES, EXT_LIMIT=JB_EXT_LIMIT,
               REWIND_US=JB_REWIND_US, REWIND_MIN_US=JB_REWIND_MIN_US)

cdef tuple _RESULTS = tuple(PutResult)
cdef tuple _KINDS = tuple(Kind)


cdef inline int64_t _uint(object v, str name, int64_t hi) except -1:
    cdef int overflow = 0
    cdef long long x
    if type(v) is not int:
        if isinstance(v, (bool, np.bool_)):
            raise TypeError(f"{name} must be an int, not {type(v).__name__}")
        try:
            v = operator.index(v)
        except TypeError:
            raise TypeError(f"{name} must be an int, not {type(v).__name__}") from None
    x = PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow or x < 0 or x > hi:
        raise ValueError(f"{name} {v} out of range 0..{hi}")
    return x


cdef inline int _flag(object v, str name) except -1:
    if v is True:
        return 1
    if v is False:
        return 0
    if isinstance(v, np.bool_):
        return 1 if v else 0
    try:
        return 1 if operator.index(v) else 0
    except TypeError:
        raise TypeError(f"{name} must be a bool, not {type(v).__name__}") from None


cdef inline int64_t _time_us(double t, str name) except? -1:
    if not isfinite(t) or t > 1e12 or t < -1e12:
        raise ValueError(f"{name} must be finite (|t| <= 1e12 s), got {t}")
    return <int64_t>floor(t * 1000000.0)


cdef class JitterBuffer:
    """Adaptive jitter buffer for one RTP stream (see the module docstring).

    Args:
        clock_rate: RTP clock rate in Hz (1000 .. 2**20).
        frame_samples: timestamp units per frame; one :meth:`get` tick plays one frame
            (its duration must be 1 ms .. 1 s).
        frame_bytes: 0: one frame per packet (any payload size). > 0: constant-bitrate
            codec (G.711: ``frame_samples`` bytes); a payload must be a non-zero multiple
            of it and is split into frames, timestamps advancing ``frame_samples`` each.
        jittersize: 0 (no jitter buffering: minimal delay) .. 6 (most conservative).
        maxjitterpackets: hard cap on buffered packets (1 .. 4096); beyond it the
            oldest packet is dropped (OVERFLOW).
        adapt: ``"frame"`` (the buffer adapts itself by whole frames, as above) or
            ``"tsm"``: it never drops a frame or inserts SILENCE to adapt. It holds the
            playout point while the due frame is missing (MISSING, SILENCE after a
            hangover) until it or a later frame arrives; a missing frame with later ones
            here is concealed and skipped once the playout offset reaches the target.
            The caller adapts by time-scale modification (:mod:`_media.tsm`) steered by
            :attr:`delay_error_ms`, passing as ``now`` the time the frame starts playing.

    TypeError for a wrong argument type, ValueError for a value out of range; bad
    packets are counted and dropped, never raised. Not thread-safe.
    """

    def __cinit__(self, *args, **kwargs):
        self.j = NULL

    def __init__(self, clock_rate=8000, frame_samples=160, frame_bytes=0, jittersize=3,
                 maxjitterpackets=99, adapt="frame"):
        cdef int64_t cr = _uint(clock_rate, "clock_rate", 1 << 20)
        cdef int64_t fs = _uint(frame_samples, "frame_samples", 1 << 20)
        cdef int64_t fb = _uint(frame_bytes, "frame_bytes", 1 << 20)
        cdef int64_t js = _uint(jittersize, "jittersize", 6)
        cdef int64_t cap = _uint(maxjitterpackets, "maxjitterpackets", 4096)
        if cr < 1000:
            raise ValueError(f"clock_rate {cr} out of range 1000..{1 << 20}")
        if fs < 1:
            raise ValueError("frame_samples must be >= 1")
        if cap < 1:
            raise ValueError("maxjitterpackets must be >= 1")
        if not 1000 <= fs * 1000000 // cr <= 1000000:
            raise ValueError("frame duration must be 1 ms .. 1 s")
        if not isinstance(adapt, str):
            raise TypeError(f"adapt must be a str, not {type(adapt).__name__}")
        if adapt not in ("frame", "tsm"):
            raise ValueError(f"adapt must be 'frame' or 'tsm', got {adapt!r}")
        if self.j != NULL:
            self._free()
        grow, shrink, margin = PARAMS[js]
        self.j = jb_alloc(cr, fs, fb, <int32_t>cap, grow, shrink, margin)
        if self.j == NULL:
            raise MemoryError()
        self.clock_rate, self.frame_samples, self.frame_bytes = cr, fs, fb
        self.jittersize, self.maxjitterpackets = js, cap
        self.adapt = adapt
        self.j.tsm = adapt == "tsm"

    def __dealloc__(self):
        self._free()

    cdef void _free(self) noexcept:
        if self.j != NULL:
            self.j.ngrave = 0
            _clear(self.j)
            self._bury()
            jb_free(self.j)
            self.j = NULL

    cdef void _bury(self) noexcept:
        cdef int32_t i
        for i in range(self.j.ngrave):
            Py_DECREF(<object>self.j.grave[i])
        self.j.ngrave = 0

    cdef object _put(self, int seq, uint32_t ts, int marker, object payload, double arrival,
                     uint32_t ssrc):
        cdef int64_t arr = _time_us(arrival, "arrival")
        cdef int r
        if type(payload) is not bytes:
            if not PyObject_CheckBuffer(payload):
                raise TypeError(f"payload must be a bytes-like object, not {type(payload).__name__}")
            payload = memoryview(payload).tobytes()
        Py_INCREF(payload)      # jb_put takes this reference over
        r = jb_put(self.j, <uint16_t>seq, ts, marker, <PyObject*>payload,
                   PyBytes_GET_SIZE(payload), arr, ssrc)
        self._bury()
        return _RESULTS[r]

    def put(self, seq, timestamp, marker, payload, arrival, ssrc=0):
        """Queue one packet; returns a :class:`PutResult`.

        ``seq``: 16-bit RTP sequence number, ``timestamp``: 32-bit RTP timestamp,
        ``marker``: the M bit, ``payload``: bytes-like, ``arrival``: receiver clock in
        seconds, ``ssrc``: a change resets the buffer (RESET; the packet is queued).
        """
        if self.j == NULL:
            raise RuntimeError("JitterBuffer not initialised")
        return self._put(<int>_uint(seq, "seq", 0xFFFF), <uint32_t>_uint(timestamp, "timestamp", 0xFFFFFFFF),
                         _flag(marker, "marker"), payload, arrival,
                         <uint32_t>_uint(ssrc, "ssrc", 0xFFFFFFFF))

    def put_rtp(self, packet, arrival):
        """Parse an RTP packet (C-level) and :meth:`put` it; malformed -> BAD_PACKET."""
        cdef const uint8_t[::1] view
        cdef const uint8_t* buf
        cdef Py_ssize_t n
        cdef rtp_header_t h
        cdef double arr = arrival
        if self.j == NULL:
            raise RuntimeError("JitterBuffer not initialised")
        if type(packet) is bytes:
            buf = <const uint8_t*>PyBytes_AS_STRING(packet)
            n = PyBytes_GET_SIZE(packet)
        else:
            if not PyObject_CheckBuffer(packet):
                raise TypeError(f"packet must be a bytes-like object, not {type(packet).__name__}")
            packet = memoryview(packet).tobytes()
            buf = <const uint8_t*>PyBytes_AS_STRING(packet)
            n = PyBytes_GET_SIZE(packet)
        _time_us(arr, "arrival")
        if rtp_parse(buf, n, &h) != RTP_OK:
            self.j.c.bad += 1
            self.j.c.discarded += 1
            return PutResult.BAD_PACKET
        payload = PyBytes_FromStringAndSize(<const char*>buf + h.payload_offset, h.payload_length)
        return self._put(h.sequence, h.timestamp, h.marker, payload, arr, h.ssrc)

    def get(self, now, quiet=False):
        """One playout tick at receiver time ``now`` (seconds).

        Returns ``(Kind.FRAME, payload_of_one_frame, rtp_timestamp)``,
        ``(Kind.MISSING, None, expected_timestamp)`` (conceal it) or
        ``(Kind.SILENCE, None, timestamp)``. ``quiet=True`` hints that the last played
        frame was silent or quiet: a good moment to drop or insert a frame.
        """
        cdef jb_frame_t f
        cdef int64_t now_us = _time_us(now, "now")
        cdef int q = _flag(quiet, "quiet")
        if self.j == NULL:
            raise RuntimeError("JitterBuffer not initialised")
        jb_get(self.j, now_us, q, &f)
        if f.kind == JB_FRAME:
            data = <object>f.payload
            if not f.whole:
                data = PyBytes_FromStringAndSize(PyBytes_AS_STRING(data) + f.index * self.frame_bytes,
                                                 self.frame_bytes)
            res = (_KINDS[JB_FRAME], data, f.ts)
        else:
            res = (_KINDS[f.kind], None, f.ts)
        self._bury()
        return res

    @property
    def delay_error_ms(self):
        """Playout offset of the last FRAME/MISSING tick minus the grow target, in ms.

        Negative: the delay should grow (expand); positive: it may shrink by that
        much (accelerate). 0.0 before the first frame and after a reset.
        """
        if self.j == NULL:
            raise RuntimeError("JitterBuffer not initialised")
        return jb_delay_error(self.j) / 1000.0

    @property
    def ready(self):
        """True if the frame due next is buffered (``get()`` would play it now)."""
        if self.j == NULL:
            raise RuntimeError("JitterBuffer not initialised")
        return jb_ready(self.j) != 0

    def reset(self):
        """Forget the stream (buffer, timing, adaptation); counters are kept, ``resets`` + 1."""
        if self.j == NULL:
            raise RuntimeError("JitterBuffer not initialised")
        self.j.ngrave = 0
        jb_reset(self.j)
        self._bury()

    @property
    def stats(self):
        """A :class:`JitterStats` snapshot."""
        cdef jb_t* j = self.j
        cdef jb_entry_t* first
        cdef jb_entry_t* last
        cdef int64_t start
        if j == NULL:
            raise RuntimeError("JitterBuffer not initialised")
        cur = 0.0
        if j.rcount:
            first = _at(j, 0)
            last = _at(j, j.rcount - 1)
            start = j.play_ts if j.play_ts > first.ts else first.ts
            cur = max(0, jb_ts_us(j, last.ts + last.n * j.fs) - jb_ts_us(j, start)) / 1000.0
        tgt = (jb_target(j) - jb_min_transit(j)) / 1000.0 if j.est.n else 0.0
        c = j.c
        return JitterStats(c.received, c.played, c.late, c.duplicates, c.discarded, c.bad,
                           c.concealed, c.dropped, c.inserted, c.resets, cur, tgt,
                           j.jit.jitter / j.jit.clock_rate * 1000.0, j.rcount)
