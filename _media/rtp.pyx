"""RTP kernels: header parse/build (RFC 3550 5.1), extended sequence numbers
(appendix A.1), interarrival jitter (A.8) and RFC 4733 telephone events.

Every function accepts any bytes-like object (bytes, bytearray, memoryview,
uint8 NumPy array); ``str``, ``int`` and ``None`` raise TypeError. The pure-Python
twin in :mod:`_media.reference.rtp` is what the tests compare against.
"""
import collections
import enum
import operator

import numpy as np

from cpython.buffer cimport PyObject_CheckBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.math cimport fabs, isfinite
from libc.string cimport memcpy, memset

from _media._types cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t

__all__ = [
    "RtpError", "RtpParseError", "RtpPacket", "parse", "validate", "build",
    "SequenceTracker", "JitterEstimator", "TelephoneEvent", "telephone_event_build",
    "telephone_event_parse", "dtmf_to_event", "event_to_dtmf",
]

# --------------------------------------------------------------------------- C kernels

cdef inline uint16_t _be16(const uint8_t* p) noexcept nogil:
    return <uint16_t>((<uint16_t>p[0] << 8) | p[1])

cdef inline uint32_t _be32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]

cdef inline void _put16(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = <uint8_t>(v >> 8)
    p[1] = <uint8_t>v

cdef inline void _put32(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = <uint8_t>(v >> 24)
    p[1] = <uint8_t>(v >> 16)
    p[2] = <uint8_t>(v >> 8)
    p[3] = <uint8_t>v


cdef int rtp_parse(const uint8_t* buf, Py_ssize_t n, rtp_header_t* out) noexcept nogil:
    cdef Py_ssize_t pos
    cdef int i
    memset(out, 0, sizeof(rtp_header_t))
    if n <= 0:
        return RTP_EMPTY
    if n < RTP_HEADER_SIZE:
        return RTP_TRUNCATED
    out.version = buf[0] >> 6
    out.padding = (buf[0] >> 5) & 1
    out.extension = (buf[0] >> 4) & 1
    out.csrc_count = buf[0] & 0x0F
    out.marker = buf[1] >> 7
    out.payload_type = buf[1] & 0x7F
    out.sequence = _be16(buf + 2)
    out.timestamp = _be32(buf + 4)
    out.ssrc = _be32(buf + 8)
    if out.version != 2:
        return RTP_BAD_VERSION
    pos = RTP_HEADER_SIZE + 4 * <Py_ssize_t>out.csrc_count
    if pos > n:
        return RTP_CSRC_OVERRUN
    for i in range(out.csrc_count):
        out.csrc[i] = _be32(buf + RTP_HEADER_SIZE + 4 * i)
    if out.extension:
        if n - pos < 4:
            return RTP_EXTENSION_OVERRUN
        out.ext_profile = _be16(buf + pos)
        out.ext_length = 4 * <Py_ssize_t>_be16(buf + pos + 2)
        pos += 4
        out.ext_offset = pos
        if out.ext_length > n - pos:
            return RTP_EXTENSION_OVERRUN
        pos += out.ext_length
    out.payload_offset = pos
    if out.padding:
        # the count includes itself, so it can never be 0
        out.padding_length = buf[n - 1]
        if out.padding_length == 0 or out.padding_length > n - pos:
            return RTP_BAD_PADDING
    out.payload_length = n - pos - out.padding_length
    return RTP_OK


cdef Py_ssize_t rtp_header_size(const rtp_header_t* h) noexcept nogil:
    cdef Py_ssize_t size = RTP_HEADER_SIZE + 4 * <Py_ssize_t>h.csrc_count
    if h.extension:
        size += 4 + h.ext_length
    return size


cdef Py_ssize_t rtp_build_header(uint8_t* out, Py_ssize_t cap, const rtp_header_t* h,
                                 const uint8_t* ext_data) noexcept nogil:
    cdef Py_ssize_t size, pos
    cdef int i
    if (h.csrc_count > RTP_MAX_CSRC or h.payload_type > 127 or h.marker > 1
            or h.padding_length < 0 or h.padding_length > 255):
        return RTP_BUILD_EINVAL
    if h.extension and (h.ext_length < 0 or h.ext_length % 4 != 0 or h.ext_length > 4 * 0xFFFF
                        or (h.ext_length > 0 and ext_data == NULL)):
        return RTP_BUILD_EINVAL
    size = rtp_header_size(h)
    if cap < size:
        return RTP_BUILD_ENOSPC
    out[0] = 0x80 | (0x20 if h.padding_length > 0 else 0) | (0x10 if h.extension else 0) | h.csrc_count
    out[1] = (h.marker << 7) | h.payload_type
    _put16(out + 2, h.sequence)
    _put32(out + 4, h.timestamp)
    _put32(out + 8, h.ssrc)
    pos = RTP_HEADER_SIZE
    for i in range(h.csrc_count):
        _put32(out + pos, h.csrc[i])
        pos += 4
    if h.extension:
        _put16(out + pos, h.ext_profile)
        _put16(out + pos + 2, <uint32_t>(h.ext_length // 4))
        pos += 4
        if h.ext_length > 0:
            memcpy(out + pos, ext_data, h.ext_length)
        pos += h.ext_length
    return pos


cdef Py_ssize_t rtp_build_packet(uint8_t* out, Py_ssize_t cap, const rtp_header_t* h,
                                 const uint8_t* ext_data, const uint8_t* payload) noexcept nogil:
    cdef Py_ssize_t pos
    if h.payload_length < 0 or (h.payload_length > 0 and payload == NULL):
        return RTP_BUILD_EINVAL
    pos = rtp_build_header(out, cap, h, ext_data)
    if pos < 0:
        return pos
    if cap - pos < h.payload_length + h.padding_length:
        return RTP_BUILD_ENOSPC
    if h.payload_length > 0:
        memcpy(out + pos, payload, h.payload_length)
    pos += h.payload_length
    if h.padding_length > 0:
        memset(out + pos, 0, h.padding_length - 1)
        pos += h.padding_length
        out[pos - 1] = <uint8_t>h.padding_length
    return pos


cdef void rtp_seq_reset(rtp_seq_t* s) noexcept nogil:
    memset(s, 0, sizeof(rtp_seq_t))
    s.bad_seq = 0x10001


cdef inline void _seq_start(rtp_seq_t* s, uint16_t seq) noexcept nogil:
    # A.1 init_seq(): the stream (re)starts at seq, which counts as received
    s.started = 1
    s.max_seq = seq
    s.bad_seq = 0x10001
    s.cycles = 0
    s.base = seq
    s.received = 1


cdef int64_t rtp_seq_update(rtp_seq_t* s, uint16_t seq) noexcept nogil:
    cdef uint16_t udelta
    if not s.started:
        _seq_start(s, seq)
        return seq
    udelta = <uint16_t>(seq - s.max_seq)
    if udelta < RTP_MAX_DROPOUT:
        # in order (or a duplicate of the highest), with a permissible gap
        if seq < s.max_seq:
            s.cycles += 1
        s.max_seq = seq
        s.received += 1
        return s.cycles * 65536 + seq
    if udelta <= 65536 - RTP_MAX_MISORDER:
        # a very large jump: only the next sequential packet confirms a restart
        if seq == s.bad_seq:
            _seq_start(s, seq)
            s.restarts += 1
            return seq
        s.bad_seq = (seq + 1) & 0xFFFF
        return -1
    # late (reordered) or duplicate, at most MAX_MISORDER behind the highest
    if seq <= s.max_seq:
        s.received += 1
        return s.cycles * 65536 + seq
    if s.cycles == 0:
        return -1  # from before the first packet: no non-negative number fits
    s.received += 1
    return (s.cycles - 1) * 65536 + seq


cdef void rtp_jitter_reset(rtp_jitter_t* j) noexcept nogil:
    j.jitter = 0.0
    j.last_arrival = 0.0
    j.last_ts = 0
    j.started = 0


cdef double rtp_jitter_update(rtp_jitter_t* j, uint32_t ts, double arrival) noexcept nogil:
    cdef double d
    if j.started:
        # (Rj - Ri) - (Sj - Si); the timestamp step is signed so a 2**32 wrap is a small step
        d = (arrival - j.last_arrival) * j.clock_rate - <double><int32_t>(ts - j.last_ts)
        j.jitter += (fabs(d) - j.jitter) / 16.0
    j.started = 1
    j.last_arrival = arrival
    j.last_ts = ts
    return j.jitter

# --------------------------------------------------------------------------- argument checks

cdef const uint8_t[::1] _byte_view(object data, str name):
    """A contiguous byte view of any bytes-like object (non-contiguous ones are copied)."""
    if not PyObject_CheckBuffer(data):
        raise TypeError(f"{name} must be a bytes-like object, not {type(data).__name__}")
    try:
        return data
    except (ValueError, TypeError, BufferError):
        pass  # wrong format/ndim/strides for a uint8[::1] view
    mv = memoryview(data)
    if mv.itemsize != 1:
        raise TypeError(f"{name} must be a buffer of bytes, not of format {mv.format!r}")
    return mv.tobytes()


cdef object _int_arg(object v, str name, object hi):
    """v as a Python int in 0..hi: TypeError if it is not an integer, ValueError if out of range."""
    if type(v) is not int:
        try:
            v = operator.index(v)
        except TypeError:
            raise TypeError(f"{name} must be an int, not {type(v).__name__}") from None
    if v < 0 or v > hi:
        raise ValueError(f"{name} {v} out of range 0..{hi}")
    return v


cdef bint _flag_arg(object v, str name) except -1:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    return _int_arg(v, name, 1)

# --------------------------------------------------------------------------- header parse/build

class RtpError(enum.IntEnum):
    """Result codes of :func:`validate` (and ``RtpParseError.code``); OK is 0, errors negative."""
    OK = RTP_OK
    EMPTY = RTP_EMPTY
    TRUNCATED = RTP_TRUNCATED
    BAD_VERSION = RTP_BAD_VERSION
    CSRC_OVERRUN = RTP_CSRC_OVERRUN
    EXTENSION_OVERRUN = RTP_EXTENSION_OVERRUN
    BAD_PADDING = RTP_BAD_PADDING


class RtpParseError(ValueError):
    """A malformed RTP packet; ``code`` is the :class:`RtpError` that :func:`validate` returns."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = RtpError(code)


cdef str _parse_message(int rc, const rtp_header_t* h, Py_ssize_t n):
    cdef Py_ssize_t start
    if rc == RTP_EMPTY:
        return "empty RTP packet (0 bytes)"
    if rc == RTP_TRUNCATED:
        return f"truncated RTP packet: {n} bytes < 12-byte fixed header"
    if rc == RTP_BAD_VERSION:
        return f"RTP version {h.version} != 2"
    if rc == RTP_CSRC_OVERRUN:
        return (f"CSRC count {h.csrc_count} runs past end of {n}-byte packet "
                f"(header needs {RTP_HEADER_SIZE + 4 * h.csrc_count} bytes)")
    if rc == RTP_EXTENSION_OVERRUN:
        start = RTP_HEADER_SIZE + 4 * h.csrc_count
        if h.ext_offset == 0:
            return f"header extension at offset {start} (4-byte header) runs past end of {n}-byte packet"
        return (f"header extension length {h.ext_length // 4} words ({h.ext_length} bytes at offset "
                f"{h.ext_offset}) runs past end of {n}-byte packet")
    if rc == RTP_BAD_PADDING:
        if h.padding_length == 0:
            return "padding bit set but padding count is 0"
        return (f"padding count {h.padding_length} exceeds the {n - h.payload_offset} bytes after "
                f"the {h.payload_offset}-byte header")
    return f"RTP parse error {rc}"


_FIELDS = ("version", "padding", "extension", "csrc_count", "marker", "payload_type", "sequence",
           "timestamp", "ssrc", "csrcs", "ext_profile", "ext_offset", "ext_length", "extension_data",
           "payload_offset", "payload_length", "padding_length", "payload")


cdef class RtpPacket:
    """One parsed RTP packet (immutable; made by :func:`parse`).

    Fields mirror the header (RFC 3550 5.1): ``version``, ``padding`` (P bit),
    ``extension`` (X bit), ``csrc_count``, ``marker``, ``payload_type``,
    ``sequence``, ``timestamp``, ``ssrc``, ``csrcs`` (tuple of ints); the header
    extension as ``ext_profile`` (0 without one), ``ext_offset``/``ext_length``
    (offset and byte length of its data; 0 without one) and ``extension_data``
    (bytes, or None without an extension); ``payload_offset``,
    ``payload_length`` and ``payload`` (bytes, padding excluded), and
    ``padding_length`` (padding bytes including the count byte; 0 without P).
    """

    def __init__(self, *args, **kwargs):
        raise TypeError("RtpPacket objects are made by parse()")

    def _astuple(self):
        return tuple([getattr(self, f) for f in _FIELDS])

    def __eq__(self, other):
        if not isinstance(other, RtpPacket):
            return NotImplemented
        return self._astuple() == other._astuple()

    def __hash__(self):
        return hash(self._astuple())

    def __repr__(self):
        return "RtpPacket(" + ", ".join([f"{f}={getattr(self, f)!r}" for f in _FIELDS]) + ")"


cdef RtpPacket _make_packet(const uint8_t* p, const rtp_header_t* h):
    cdef RtpPacket pk = RtpPacket.__new__(RtpPacket)
    pk.version = h.version
    pk.padding = h.padding
    pk.extension = h.extension
    pk.csrc_count = h.csrc_count
    pk.marker = h.marker
    pk.payload_type = h.payload_type
    pk.sequence = h.sequence
    pk.timestamp = h.timestamp
    pk.ssrc = h.ssrc
    pk.csrcs = tuple([h.csrc[i] for i in range(h.csrc_count)])
    pk.ext_profile = h.ext_profile
    pk.ext_offset = h.ext_offset
    pk.ext_length = h.ext_length
    pk.extension_data = (PyBytes_FromStringAndSize(<const char*>p + h.ext_offset, h.ext_length)
                         if h.extension else None)
    pk.payload_offset = h.payload_offset
    pk.payload_length = h.payload_length
    pk.padding_length = h.padding_length
    pk.payload = PyBytes_FromStringAndSize(<const char*>p + h.payload_offset, h.payload_length)
    return pk

# Single-packet calls keep the GIL: a header parse is a few ns of work, less than
# releasing and re-taking the GIL costs. Batch loops below run nogil.

def parse(data):
    """Parse one RTP packet; returns an :class:`RtpPacket`.

    Raises :class:`RtpParseError` (a ValueError) with ``.code`` set and a message
    naming the defect if the packet is malformed, TypeError if ``data`` is not
    bytes-like. Payload and extension data are copied out of ``data``.
    """
    cdef const uint8_t[::1] v
    cdef const uint8_t* p
    cdef Py_ssize_t n
    cdef rtp_header_t h
    if type(data) is bytes:  # fast path: no buffer acquisition
        p = <const uint8_t*>PyBytes_AS_STRING(data)
        n = PyBytes_GET_SIZE(data)
    else:
        v = _byte_view(data, "data")
        n = v.shape[0]
        p = &v[0] if n > 0 else NULL
    cdef int rc = rtp_parse(p, n, &h)
    if rc != RTP_OK:
        raise RtpParseError(rc, _parse_message(rc, &h, n))
    return _make_packet(p, &h)


def validate(data):
    """0 if ``data`` is a well-formed RTP packet, else the negative :class:`RtpError` code.

    Never raises for malformed packets (TypeError only for non-bytes-like input);
    the result is a plain int, comparable with ``RtpError`` members.
    """
    cdef const uint8_t[::1] v
    cdef Py_ssize_t n
    cdef rtp_header_t h
    if type(data) is bytes:
        return rtp_parse(<const uint8_t*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), &h)
    v = _byte_view(data, "data")
    n = v.shape[0]
    return rtp_parse(&v[0] if n > 0 else NULL, n, &h)


cdef int _check(Py_ssize_t rc, str fn) except -1:
    if rc < 0:
        raise RuntimeError(f"{fn} failed with {rc} (arguments were validated: a kernel bug)")
    return 0


def build(payload_type, sequence, timestamp, ssrc, payload=b"", *, marker=False, csrcs=(),
          extension=None, padding=0):
    """Build an RTP packet (version 2) and return it as bytes.

    ``payload_type`` 0..127, ``sequence`` 0..65535, ``timestamp`` and ``ssrc``
    0..2**32-1, ``payload`` bytes-like, ``marker`` a bool, ``csrcs`` up to 15
    ints in 0..2**32-1, ``extension`` None or ``(profile, data)`` with profile
    0..65535 and ``len(data)`` a multiple of 4 (at most 4*65535), ``padding``
    0..255 total padding bytes (the last one holds the count; >0 sets the P bit).
    TypeError for a wrong type, ValueError for a value out of range.
    """
    cdef rtp_header_t h
    cdef const uint8_t[::1] pl
    cdef const uint8_t[::1] ext_view
    cdef const uint8_t* ext_ptr = NULL
    cdef const uint8_t* pl_ptr = NULL
    cdef Py_ssize_t total
    cdef bytes out
    memset(&h, 0, sizeof(h))
    h.version = 2
    h.payload_type = _int_arg(payload_type, "payload_type", 127)
    h.sequence = _int_arg(sequence, "sequence", 0xFFFF)
    h.timestamp = _int_arg(timestamp, "timestamp", 0xFFFFFFFF)
    h.ssrc = _int_arg(ssrc, "ssrc", 0xFFFFFFFF)
    h.marker = _flag_arg(marker, "marker")
    h.padding_length = _int_arg(padding, "padding", 255)
    if isinstance(csrcs, (str, bytes, bytearray, memoryview)) or not hasattr(csrcs, "__iter__"):
        raise TypeError(f"csrcs must be an iterable of ints, not {type(csrcs).__name__}")
    csrc_list = list(csrcs)
    if len(csrc_list) > RTP_MAX_CSRC:
        raise ValueError(f"at most 15 CSRCs fit in an RTP header, got {len(csrc_list)}")
    h.csrc_count = len(csrc_list)
    for i, c in enumerate(csrc_list):
        h.csrc[i] = _int_arg(c, f"csrcs[{i}]", 0xFFFFFFFF)
    if extension is not None:
        if not isinstance(extension, tuple) or len(extension) != 2:
            raise TypeError("extension must be None or a (profile, data) tuple")
        h.extension = 1
        h.ext_profile = _int_arg(extension[0], "extension profile", 0xFFFF)
        ext_view = _byte_view(extension[1], "extension data")
        h.ext_length = ext_view.shape[0]
        if h.ext_length % 4 != 0 or h.ext_length > 4 * 0xFFFF:
            raise ValueError(f"extension data must be a multiple of 4 bytes, at most {4 * 0xFFFF}; "
                             f"got {h.ext_length}")
        if h.ext_length > 0:
            ext_ptr = &ext_view[0]
    if type(payload) is bytes:
        pl_ptr = <const uint8_t*>PyBytes_AS_STRING(payload)
        h.payload_length = PyBytes_GET_SIZE(payload)
    else:
        pl = _byte_view(payload, "payload")
        h.payload_length = pl.shape[0]
        if h.payload_length > 0:
            pl_ptr = &pl[0]
    total = rtp_header_size(&h) + h.payload_length + h.padding_length
    out = PyBytes_FromStringAndSize(NULL, total)
    _check(rtp_build_packet(<uint8_t*>PyBytes_AS_STRING(out), total, &h, ext_ptr, pl_ptr),
           "rtp_build_packet()")
    return out

# --------------------------------------------------------------------------- sequence numbers

cdef class SequenceTracker:
    """Extended (64-bit) sequence numbers for one RTP source, after RFC 3550 appendix A.1.

    ``update(seq)`` returns, for each received 16-bit ``seq``:

    * first packet (or first after :meth:`reset`): ``seq`` itself (cycles = 0);
    * in order, or ahead of the highest by less than MAX_DROPOUT (3000), including
      across a wrap: ``cycles * 65536 + seq``, with ``cycles`` incremented on the wrap;
    * a duplicate, or a late packet at most MAX_MISORDER (100) behind the highest:
      the extended number it had when first due; a late packet from before the
      last wrap gets the previous cycle (``(cycles - 1) * 65536 + seq``);
    * a larger jump (forward >= 3000 or backward > 100): ``-1`` (out of range, not
      counted). If the next packet is the sequential successor of the rejected
      one, the source is taken to have restarted: the tracker re-initialises at
      that packet as if it were the first (returns ``seq``, cycles = 0,
      ``received`` = 1, ``restarts`` + 1);
    * a late packet from before the very first packet while cycles == 0 (its
      number would be negative): ``-1``, not counted.

    Unlike A.1 the first packet is accepted at once (no probation). Only
    packets for which update() returned >= 0 count in ``received``.
    """

    def __cinit__(self):
        rtp_seq_reset(&self.st)

    def update(self, seq):
        """Extended sequence number of a received packet, or -1 (see the class docstring)."""
        cdef uint16_t s = _int_arg(seq, "seq", 0xFFFF)
        return rtp_seq_update(&self.st, s)

    def update_array(self, const uint16_t[::1] seqs not None):
        """``update()`` for each element in order; returns an int64 array of the results.

        Runs without the GIL: do not share one tracker between threads.
        """
        cdef Py_ssize_t i, n = seqs.shape[0]
        out = np.empty(n, dtype=np.int64)
        cdef int64_t[::1] o = out
        with nogil:
            for i in range(n):
                o[i] = rtp_seq_update(&self.st, seqs[i])
        return out

    def reset(self):
        """Forget the source: the next packet starts a new numbering (restarts is kept)."""
        cdef int64_t restarts = self.st.restarts
        rtp_seq_reset(&self.st)
        self.st.restarts = restarts

    @property
    def highest(self):
        """Highest extended sequence number accepted so far; -1 before the first packet."""
        return self.st.cycles * 65536 + self.st.max_seq if self.st.started else -1

    @property
    def cycles(self):
        """Number of times the 16-bit sequence number has wrapped (since the start/restart)."""
        return self.st.cycles

    @property
    def received(self):
        """Packets accepted (update() >= 0) since the start/restart, duplicates included."""
        return self.st.received

    @property
    def expected(self):
        """``highest - first + 1`` since the start/restart (A.3); 0 before the first packet."""
        return self.st.cycles * 65536 + self.st.max_seq - self.st.base + 1 if self.st.started else 0

    @property
    def restarts(self):
        """Number of confirmed large jumps (source restarts) seen."""
        return self.st.restarts

# --------------------------------------------------------------------------- jitter

cdef class JitterEstimator:
    """RFC 3550 appendix A.8 interarrival jitter for one source at ``clock_rate`` Hz.

    ``update(rtp_timestamp, arrival_time)`` takes the packet's RTP timestamp
    (0..2**32-1) and its arrival time in seconds on a monotonic clock. With
    ``D = (Rj - Ri) * clock_rate - (Sj - Si)``, the timestamp step taken as a
    signed 32-bit difference (so a wrap at 2**32 is a small step), it does
    ``J += (|D| - J) / 16`` and returns J in timestamp units. The first packet
    (and the first after :meth:`reset`) only records its times and returns the
    current J (0.0 after construction/reset).
    """

    def __cinit__(self, clock_rate):
        if type(clock_rate) is not int:
            try:
                clock_rate = operator.index(clock_rate)
            except TypeError:
                raise TypeError(f"clock_rate must be an int, not {type(clock_rate).__name__}") from None
        if clock_rate <= 0:
            raise ValueError(f"clock_rate must be > 0, got {clock_rate}")
        rtp_jitter_reset(&self.st)
        self.st.clock_rate = clock_rate

    def update(self, rtp_timestamp, double arrival_time):
        """Feed one packet; returns the jitter in timestamp units (see the class docstring)."""
        cdef uint32_t ts = _int_arg(rtp_timestamp, "rtp_timestamp", 0xFFFFFFFF)
        if not isfinite(arrival_time):
            raise ValueError(f"arrival_time must be finite, got {arrival_time}")
        return rtp_jitter_update(&self.st, ts, arrival_time)

    def update_array(self, const uint32_t[::1] timestamps not None,
                     const double[::1] arrival_times not None):
        """``update()`` for each (timestamp, arrival) pair; returns a float64 array of J after each.

        Runs without the GIL: do not share one estimator between threads.
        """
        cdef Py_ssize_t i, n = timestamps.shape[0]
        if arrival_times.shape[0] != n:
            raise ValueError(f"{n} timestamps but {arrival_times.shape[0]} arrival times")
        for i in range(n):
            if not isfinite(arrival_times[i]):
                raise ValueError(f"arrival_times[{i}] must be finite, got {arrival_times[i]}")
        out = np.empty(n, dtype=np.float64)
        cdef double[::1] o = out
        with nogil:
            for i in range(n):
                o[i] = rtp_jitter_update(&self.st, timestamps[i], arrival_times[i])
        return out

    def reset(self):
        """Forget all packets: J = 0 and the next packet is treated as the first."""
        rtp_jitter_reset(&self.st)

    @property
    def clock_rate(self):
        """The RTP clock rate in Hz."""
        return int(self.st.clock_rate)

    @property
    def jitter(self):
        """Current jitter estimate J in timestamp units."""
        return self.st.jitter

    @property
    def jitter_ms(self):
        """Current jitter estimate in milliseconds (J / clock_rate * 1000)."""
        return self.st.jitter / self.st.clock_rate * 1000.0

# --------------------------------------------------------------------------- RFC 4733 events

TelephoneEvent = collections.namedtuple("TelephoneEvent", ["event", "end", "volume", "duration"])
TelephoneEvent.__module__ = __name__
TelephoneEvent.__doc__ = ("One RFC 4733 telephone-event: event code 0..255, end (E bit), "
                          "volume 0..63 (-dBm0), duration 0..65535 in timestamp units.")

_DTMF = "0123456789*#ABCD"


def telephone_event_build(event, end, volume, duration):
    """The 4-byte RFC 4733 payload: event, E bit | R=0 | volume, 16-bit duration (big-endian)."""
    e = _int_arg(event, "event", 255)
    f = _flag_arg(end, "end")
    vol = _int_arg(volume, "volume", 63)
    d = _int_arg(duration, "duration", 0xFFFF)
    return bytes((e, (0x80 if f else 0) | vol, d >> 8, d & 0xFF))


def telephone_event_parse(data):
    """Decode the first 4 bytes of an RFC 4733 payload into a :class:`TelephoneEvent`.

    The R bit is ignored (RFC 4733 2.3.4). ValueError if ``data`` is shorter than 4 bytes.
    """
    cdef const uint8_t[::1] v = _byte_view(data, "data")
    if v.shape[0] < 4:
        raise ValueError(f"telephone-event payload of {v.shape[0]} bytes is shorter than 4")
    return TelephoneEvent(v[0], bool(v[1] & 0x80), v[1] & 0x3F, (v[2] << 8) | v[3])


def dtmf_to_event(ch):
    """RFC 4733 event code of a DTMF character: '0'-'9' -> 0-9, '*' -> 10, '#' -> 11,
    'A'-'D' (either case) -> 12-15. TypeError if not a str, ValueError otherwise."""
    if not isinstance(ch, str):
        raise TypeError(f"DTMF digit must be a str, not {type(ch).__name__}")
    i = _DTMF.find(ch.upper()) if len(ch) == 1 else -1
    if i < 0:
        raise ValueError(f"{ch!r} is not a DTMF digit (0-9, *, #, A-D)")
    return i


def event_to_dtmf(ev):
    """DTMF character ('0'-'9', '*', '#', 'A'-'D') of event code 0..15; ValueError otherwise."""
    e = _int_arg(ev, "event", 255)
    if e > 15:
        raise ValueError(f"event {e} is not a DTMF event (0..15)")
    return _DTMF[e]
