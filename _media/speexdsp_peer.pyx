"""libspeexdsp's resampler and jitter buffer behind small Python facades: benchmark peers.

Used only by ``bench/`` and the tests to compare :class:`_media.resampler.Resampler`
and :class:`_media.jitter.JitterBuffer` with widely deployed VoIP components on
the same input, in the same run. Not part of sipctl's public API.

Streaming semantics match speexdsp's own: the state starts with a zeroed
history (no :c:func:`speex_resampler_skip_zeros`), so the output lags the input
by :attr:`SpeexResampler.output_latency` output samples; :meth:`process`
returns every output sample produced for the given input.
"""
from libc.stdint cimport int16_t, uint32_t

from speexdsp cimport (
    SpeexResamplerState, spx_uint32_t, spx_int16_t,
    speex_resampler_init, speex_resampler_destroy,
    speex_resampler_process_int, speex_resampler_process_float,
    speex_resampler_get_input_latency, speex_resampler_get_output_latency,
    speex_resampler_reset_mem, speex_resampler_skip_zeros, speex_resampler_strerror,
    RESAMPLER_ERR_SUCCESS, SPEEX_RESAMPLER_QUALITY_MIN, SPEEX_RESAMPLER_QUALITY_MAX,
    JitterBuffer, JitterBufferPacket, jitter_buffer_init, jitter_buffer_destroy,
    jitter_buffer_reset, jitter_buffer_put, jitter_buffer_get, jitter_buffer_tick,
    jitter_buffer_ctl, JITTER_BUFFER_OK, JITTER_BUFFER_MISSING, JITTER_BUFFER_INSERTION,
    JITTER_BUFFER_GET_AVAILABLE_COUNT, spx_int32_t,
)
from libc.string cimport memcpy

import numpy as np

__all__ = ["SpeexResampler", "SpeexJitterBuffer"]


cdef int check(int rc, str fn) except -1:
    """Raise RuntimeError for a non-zero speexdsp resampler return code."""
    if rc != RESAMPLER_ERR_SUCCESS:
        msg = speex_resampler_strerror(rc)
        raise RuntimeError(f"{fn} failed: {msg.decode('ascii', 'replace')} (error {rc})")
    return 0


cdef object _samples(object x, bint is_float):
    """A 1-D C-contiguous memoryview of int16 ('h') or float32 ('f') samples, or a clear error."""
    want = "float32" if is_float else "int16"
    try:
        mv = memoryview(x)
    except TypeError:
        raise TypeError(f"expected a numpy {want} array, got {type(x).__name__}") from None
    if mv.format.lstrip("@=") != ("f" if is_float else "h"):
        raise TypeError(f"expected {want} samples, got buffer format {mv.format!r}"
                        + (f" (numpy dtype {x.dtype})" if hasattr(x, "dtype") else ""))
    if mv.ndim != 1:
        raise ValueError(f"expected 1-D mono samples, got a {mv.ndim}-D buffer")
    if not mv.c_contiguous:
        raise ValueError("sample buffer must be C-contiguous")
    return mv


cdef class SpeexResampler:
    """Mono streaming speexdsp resampler ``in_rate -> out_rate``.

    Args:
        in_rate, out_rate: sample rates in Hz (positive integers).
        quality: speexdsp quality 0..10 (5 = ``SPEEX_RESAMPLER_QUALITY_DESKTOP``).
        dtype: ``"int16"`` (uses ``speex_resampler_process_int``) or
            ``"float32"`` (``speex_resampler_process_float``).
    """

    cdef SpeexResamplerState* st
    cdef readonly int in_rate
    cdef readonly int out_rate
    cdef readonly int quality
    cdef bint is_float

    def __cinit__(self, in_rate, out_rate, quality=5, dtype="int16"):
        cdef int err = RESAMPLER_ERR_SUCCESS
        self.st = NULL
        for name, v in (("in_rate", in_rate), ("out_rate", out_rate)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise TypeError(f"{name} must be an int, got {type(v).__name__}")
            if not 0 < v <= 0x7FFFFFFF:
                raise ValueError(f"{name} must be a positive rate in Hz, got {v}")
        if not isinstance(quality, (int, np.integer)) or isinstance(quality, bool):
            raise TypeError(f"quality must be an int, got {type(quality).__name__}")
        if not SPEEX_RESAMPLER_QUALITY_MIN <= quality <= SPEEX_RESAMPLER_QUALITY_MAX:
            raise ValueError(f"quality must be in {SPEEX_RESAMPLER_QUALITY_MIN}.."
                             f"{SPEEX_RESAMPLER_QUALITY_MAX}, got {quality}")
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"dtype must be int16 or float32, got {dtype!r}") from None
        if dt == np.int16:
            self.is_float = False
        elif dt == np.float32:
            self.is_float = True
        else:
            raise TypeError(f"dtype must be int16 or float32, got {dt}")
        self.in_rate, self.out_rate, self.quality = in_rate, out_rate, quality
        self.st = speex_resampler_init(1, <spx_uint32_t>in_rate, <spx_uint32_t>out_rate,
                                       <int>quality, &err)
        if self.st == NULL and err == RESAMPLER_ERR_SUCCESS:
            raise MemoryError("speex_resampler_init returned NULL")
        check(err, "speex_resampler_init")
        if self.st == NULL:
            raise MemoryError("speex_resampler_init returned NULL")

    def __dealloc__(self):
        if self.st != NULL:
            speex_resampler_destroy(self.st)
            self.st = NULL

    @property
    def dtype(self):
        """numpy dtype of input and output samples."""
        return np.dtype(np.float32 if self.is_float else np.int16)

    @property
    def input_latency(self):
        """Latency in input samples (``speex_resampler_get_input_latency``)."""
        return speex_resampler_get_input_latency(self.st)

    @property
    def output_latency(self):
        """Latency in output samples (``speex_resampler_get_output_latency``)."""
        return speex_resampler_get_output_latency(self.st)

    @property
    def delay_ms(self):
        """Output latency in milliseconds."""
        return 1000.0 * speex_resampler_get_output_latency(self.st) / self.out_rate

    def reset(self):
        """Clear the filter memory (``speex_resampler_reset_mem``)."""
        check(speex_resampler_reset_mem(self.st), "speex_resampler_reset_mem")

    def skip_zeros(self):
        """Drop the start-up latency from the output (``speex_resampler_skip_zeros``)."""
        check(speex_resampler_skip_zeros(self.st), "speex_resampler_skip_zeros")

    def process(self, x):
        """Resample a mono chunk; returns every output sample it produced (new array).

        ``x``: 1-D C-contiguous numpy array (or buffer) of this resampler's dtype.
        """
        mv = _samples(x, self.is_float)
        cdef Py_ssize_t n = len(mv)
        if n > 0x7FFFFFFF:
            raise ValueError(f"chunk of {n} samples is too long for speexdsp")
        # ceil(n * out / in) plus slack for the fractional phase carried between calls
        cdef Py_ssize_t cap = (n * <long long>self.out_rate + self.in_rate - 1) // self.in_rate + 16
        out = np.empty(cap, self.dtype)
        cdef const int16_t[::1] xi
        cdef const float[::1] xf
        cdef int16_t[::1] oi
        cdef float[::1] of
        cdef Py_ssize_t done_in = 0, done_out = 0
        cdef spx_uint32_t ilen, olen
        cdef int rc
        if self.is_float:
            xf = mv
        else:
            xi = mv
        while done_in < n:
            if done_out == cap:
                # never expected (cap has slack) but speex may emit a little more than
                # the nominal ratio after a reset; grow instead of dropping samples
                cap = 2 * cap
                out = np.concatenate([out, np.empty(cap - len(out), self.dtype)])
            if self.is_float:
                of = out
            else:
                oi = out
            ilen = <spx_uint32_t>(n - done_in)
            olen = <spx_uint32_t>(cap - done_out)
            if self.is_float:
                with nogil:
                    rc = speex_resampler_process_float(self.st, 0, &xf[done_in], &ilen,
                                                       &of[done_out], &olen)
                check(rc, "speex_resampler_process_float")
            else:
                with nogil:
                    rc = speex_resampler_process_int(self.st, 0, <const spx_int16_t*>&xi[done_in],
                                                     &ilen, <spx_int16_t*>&oi[done_out], &olen)
                check(rc, "speex_resampler_process_int")
            if ilen == 0 and olen == 0 and done_out < cap:
                raise RuntimeError("speexdsp resampler made no progress")
            done_in += ilen
            done_out += olen
        return out[:done_out]

    def __repr__(self):
        return (f"SpeexResampler({self.in_rate}, {self.out_rate}, quality={self.quality}, "
                f"dtype={self.dtype.name!r})")


cdef class SpeexJitterBuffer:
    """libspeexdsp's adaptive jitter buffer with its default settings, one frame per tick.

    Mirrors the playout loop speexdsp documents: every tick, :meth:`put` the packets
    that arrived, then :meth:`get` one frame (which also calls ``jitter_buffer_tick``).
    Timestamps are RTP timestamps (clock-rate units); ``frame_samples`` is the step.

    :meth:`get` returns ``(kind, payload, timestamp)`` with kind 0 = frame, 1 = missing
    (conceal), 2 = insertion (speexdsp asks for an extra frame to grow its delay),
    matching :class:`_media.jitter.Kind` FRAME / MISSING / SILENCE.
    """
    cdef JitterBuffer* jb
    cdef readonly int frame_samples
    cdef char buf[4096]

    def __cinit__(self, int frame_samples=160):
        if frame_samples <= 0:
            raise ValueError("frame_samples must be > 0")
        self.frame_samples = frame_samples
        self.jb = jitter_buffer_init(frame_samples)
        if self.jb == NULL:
            raise MemoryError("jitter_buffer_init failed")

    def __dealloc__(self):
        if self.jb != NULL:
            jitter_buffer_destroy(self.jb)

    def put(self, int seq, unsigned int timestamp, const unsigned char[::1] payload):
        """Queue one packet (one frame of ``frame_samples``)."""
        cdef JitterBufferPacket p
        if payload.shape[0] > 4096:
            raise ValueError("payload longer than 4096 bytes")
        p.data = <char*>&payload[0] if payload.shape[0] else self.buf
        p.len = payload.shape[0]
        p.timestamp = timestamp
        p.span = self.frame_samples
        p.sequence = seq & 0xFFFF
        p.user_data = 0
        jitter_buffer_put(self.jb, &p)

    def get(self):
        """One playout tick: ``(kind, payload or None, timestamp)``."""
        cdef JitterBufferPacket p
        cdef spx_int32_t offset = 0
        p.data = self.buf
        p.len = 4096
        cdef int rc = jitter_buffer_get(self.jb, &p, self.frame_samples, &offset)
        jitter_buffer_tick(self.jb)
        if rc == JITTER_BUFFER_OK:
            return 0, p.data[:p.len], p.timestamp
        if rc == JITTER_BUFFER_MISSING:
            return 1, None, p.timestamp
        if rc == JITTER_BUFFER_INSERTION:
            return 2, None, p.timestamp
        raise RuntimeError(f"jitter_buffer_get failed ({rc})")

    @property
    def available(self):
        """Packets currently buffered (JITTER_BUFFER_GET_AVAILABLE_COUNT)."""
        cdef spx_int32_t n = 0
        jitter_buffer_ctl(self.jb, JITTER_BUFFER_GET_AVAILABLE_COUNT, &n)
        return n

    def reset(self):
        jitter_buffer_reset(self.jb)
