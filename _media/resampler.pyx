"""Streaming polyphase resampler between 8, 16, 24, 32, 44.1 and 48 kHz.

Exact rational L/M polyphase filtering with one equiripple prototype designed
relative to the lower rate of the pair (see :mod:`_media.resampler_design`):

* passband flat to 0.43 x f_low (ripple < 0.07 dB as designed),
* stopband >= 84 dB (worst pair as designed) from 0.5 x f_low,
* linear phase, group delay 31 samples of the lower rate rounded up to a whole
  output sample: 1.94 ms for 16k<->48k, 3.88 ms for 8k<->48k, 0.70 ms for
  44.1k<->48k; read it from :attr:`Resampler.delay` / :attr:`Resampler.delay_ms`.

Output sample j is computed from exactly the same inputs and coefficients in
the same order whatever the chunking, so streaming equals one-shot bit for bit.
Arithmetic is float32 with sixteen independent accumulators (SIMD-friendly and
deterministic); int16 output is saturated and rounded to nearest (ties to even). The inner loops
(``include/sipctl_rs_kernel.h``) exist in a baseline and an AVX2+FMA build, picked
at import (:data:`KERNEL_ISA`); the two differ only in float rounding (FMA).
"""
from cpython.mem cimport PyMem_Malloc, PyMem_Realloc, PyMem_Free
from libc.string cimport memcpy, memmove, memset
from libc.stdint cimport int16_t

import os
import sys

import numpy as np
cimport numpy as cnp

cnp.import_array()

from _media.resampler_design import RATES, design, check_rate

__all__ = ["Resampler", "resample", "RATES", "KERNEL_ISA"]


cdef extern from "sipctl_rs_kernel.h" nogil:
    ctypedef void (*sipctl_rs_f32_fn)(const float*, int, int, int, int, const float*,
                                      Py_ssize_t*, int*, float*, Py_ssize_t)
    ctypedef void (*sipctl_rs_i16_fn)(const float*, int, int, int, int, const float*,
                                      Py_ssize_t*, int*, int16_t*, Py_ssize_t)
    void sipctl_rs_f32_base(const float*, int, int, int, int, const float*,
                            Py_ssize_t*, int*, float*, Py_ssize_t)
    void sipctl_rs_i16_base(const float*, int, int, int, int, const float*,
                            Py_ssize_t*, int*, int16_t*, Py_ssize_t)
    void sipctl_rs_f32_avx2(const float*, int, int, int, int, const float*,
                            Py_ssize_t*, int*, float*, Py_ssize_t)
    void sipctl_rs_i16_avx2(const float*, int, int, int, int, const float*,
                            Py_ssize_t*, int*, int16_t*, Py_ssize_t)
    int sipctl_rs_have_avx2()
    ctypedef void (*sipctl_fir_fn)(const float*, int, int, const float*, Py_ssize_t, Py_ssize_t, float*)
    void sipctl_fir_base(const float*, int, int, const float*, Py_ssize_t, Py_ssize_t, float*)
    void sipctl_fir_avx2(const float*, int, int, const float*, Py_ssize_t, Py_ssize_t, float*)
    void sipctl_store_i16(const float*, Py_ssize_t, int16_t*, Py_ssize_t)

# Picked once at import: the AVX2+FMA build of the loops where the CPU has them
# (SIPCTL_KERNEL_ISA=baseline forces the portable build, e.g. to test it).
cdef sipctl_rs_f32_fn _run_f32 = sipctl_rs_f32_base
cdef sipctl_rs_i16_fn _run_i16 = sipctl_rs_i16_base
cdef sipctl_fir_fn _fir = sipctl_fir_base
cdef bint _use_avx2 = sipctl_rs_have_avx2() and os.environ.get("SIPCTL_KERNEL_ISA") != "baseline"
if _use_avx2:
    _run_f32 = sipctl_rs_f32_avx2
    _run_i16 = sipctl_rs_i16_avx2
    _fir = sipctl_fir_avx2

# Kernel shapes: integer up-sampling and integer down-sampling run an
# output-parallel FIR (32 outputs per pass); other ratios run one dot product per output.
cdef enum:
    MODE_DOT = 0
    MODE_UP = 1
    MODE_DOWN = 2
    BLOCK = 32   # outputs per pass of the output-parallel FIR

#: Name of the inner-loop variant in use ("avx2+fma" or "baseline").
KERNEL_ISA = "avx2+fma" if _use_avx2 else "baseline"


cdef void rs_run_float(const float* coef, int taps, int up, int q, int r,
                       const float* buf, Py_ssize_t* b, int* phase,
                       float* out, Py_ssize_t n_out) noexcept nogil:
    _run_f32(coef, taps, up, q, r, buf, b, phase, out, n_out)


cdef void rs_run_int16(const float* coef, int taps, int up, int q, int r,
                       const float* buf, Py_ssize_t* b, int* phase,
                       int16_t* out, Py_ssize_t n_out) noexcept nogil:
    _run_i16(coef, taps, up, q, r, buf, b, phase, out, n_out)


_NATIVE = "<" if sys.byteorder == "little" else ">"


cdef object _samples(object x, bint is_float):
    """A 1-D C-contiguous native-endian memoryview of int16 ('h') or float32 ('f') samples.

    For int16, raw PCM bytes (format 'B'/'c': bytes, bytearray, byte memoryviews)
    are accepted and reinterpreted as native-endian samples. Anything else is a
    clear TypeError (wrong type) or ValueError (wrong shape/layout).
    """
    want = "float32" if is_float else "int16"
    try:
        mv = memoryview(x)
    except TypeError:
        raise TypeError(f"expected a buffer of {want} samples (e.g. a numpy {want} array), "
                        f"got {type(x).__name__}") from None
    if mv.ndim != 1:
        raise ValueError(f"expected 1-D mono samples, got {mv.ndim}-D buffer")
    if not mv.c_contiguous:
        raise ValueError("sample buffer must be C-contiguous")
    fmt = mv.format
    if fmt[:1] in ("@", "=", _NATIVE):
        fmt = fmt[1:]
    if not is_float and fmt in ("B", "c"):
        if mv.nbytes % 2:
            raise ValueError(f"odd byte length {mv.nbytes} for 16-bit PCM")
        return mv.cast("B").cast("h")
    if fmt != ("f" if is_float else "h"):
        raise TypeError(f"expected native-endian {want} samples, got buffer format {mv.format!r}"
                        + (f" (numpy dtype {x.dtype.str})" if hasattr(x, "dtype") else ""))
    return mv


cdef class Resampler:
    """Streaming mono resampler ``in_rate -> out_rate``.

    Args:
        in_rate, out_rate: one of 8000, 16000, 24000, 32000, 44100, 48000 Hz.
        dtype: ``"int16"`` (default) or ``"float32"``; input and output use it.

    :meth:`process` takes any number of samples and returns every output sample
    whose inputs have arrived (``ceil(total_in * out_rate / in_rate)`` in all, so a
    20 ms frame in gives exactly 20 ms out). The output lags the input by
    :attr:`delay` output samples (group delay, constant over the passband).
    :meth:`flush` pushes out the delayed tail and resets.
    """

    def __cinit__(self, *args, **kwargs):
        self.coef = NULL
        self.buf = NULL
        self.cm = NULL
        self.scratch = NULL
        self.cap = self.scratch_cap = 0

    def __init__(self, in_rate, out_rate, dtype="int16"):
        in_rate = check_rate(in_rate, "in_rate")
        out_rate = check_rate(out_rate, "out_rate")
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
        self.in_rate, self.out_rate = in_rate, out_rate
        if in_rate == out_rate:
            self.up = self.down = 1
            self.taps = 16
            self.delay = 0
            c = np.zeros((1, 16), np.float32)
            c[0, 15] = 1.0
            self._design = None
        else:
            d = design(in_rate, out_rate)
            self._design = d
            self.up, self.down, self.taps, self.delay = d.up, d.down, d.taps, d.delay
            c = d.coef
        self.q, self.r = divmod(self.down, self.up)
        cdef const float[:, ::1] cv = c
        self.coef = <float*>PyMem_Malloc(self.up * self.taps * sizeof(float))
        if self.coef == NULL:
            raise MemoryError()
        memcpy(self.coef, &cv[0, 0], self.up * self.taps * sizeof(float))
        self.hist = self.taps - 1
        if self.down == 1:
            self.mode = MODE_UP
        elif self.up == 1:
            self.mode = MODE_DOWN
            self._init_down()
        else:
            self.mode = MODE_DOT
        self._ensure(960)
        self.reset()

    cdef int _init_down(self) except -1:
        # cm[m, s] = coef[s*M + m]: the filter split by input phase (see sipctl_fir_*)
        cdef int m, s_, k, M = self.down
        self.S = (self.taps + M - 1) // M
        self.cm = <float*>PyMem_Malloc(M * self.S * sizeof(float))
        if self.cm == NULL:
            raise MemoryError()
        for m in range(M):
            for s_ in range(self.S):
                k = s_ * M + m
                self.cm[m * self.S + s_] = self.coef[k] if k < self.taps else 0.0
        return 0

    def __dealloc__(self):
        PyMem_Free(self.coef)
        PyMem_Free(self.buf)
        PyMem_Free(self.cm)
        PyMem_Free(self.scratch)

    cdef int _ensure(self, Py_ssize_t n) except -1:
        # buf: history + n inputs + BLOCK slack (read by lanes whose outputs are discarded)
        cdef Py_ssize_t need = self.hist + n + BLOCK
        cdef Py_ssize_t old = self.cap
        cdef float* p
        if need > self.cap:
            p = <float*>PyMem_Realloc(self.buf, need * sizeof(float))
            if p == NULL:
                raise MemoryError()
            memset(p + old, 0, (need - old) * sizeof(float))
            self.buf = p
            self.cap = need
        return 0

    cdef int _ensure_scratch(self, Py_ssize_t n) except -1:
        cdef float* p
        if n > self.scratch_cap:
            p = <float*>PyMem_Realloc(self.scratch, n * sizeof(float))
            if p == NULL:
                raise MemoryError()
            self.scratch = p
            self.scratch_cap = n
        return 0

    cdef Py_ssize_t _count(self, Py_ssize_t n) noexcept nogil:
        # outputs whose newest tap lies inside the buffer of hist + n samples
        cdef long long pos = <long long>self.b * self.up + self.phase
        cdef long long limit = <long long>(self.hist + n) * self.up
        if limit <= pos:
            return 0
        return <Py_ssize_t>((limit - pos + self.down - 1) // self.down)

    def reset(self):
        """Forget all history (as after construction)."""
        memset(self.buf, 0, self.hist * sizeof(float))
        self.b = self.hist
        self.phase = 0

    @property
    def dtype(self):
        """numpy dtype of input and output samples."""
        return np.dtype(np.float32 if self.is_float else np.int16)

    @property
    def delay_ms(self):
        """Group delay in milliseconds."""
        return 1000.0 * self.delay / self.out_rate

    @property
    def ratio(self):
        """(up, down): output samples per input samples, reduced."""
        return (self.up, self.down)

    cdef object _as_array(self, object x):
        """x as a 1-D C-contiguous ndarray of our dtype (no copy), or a clear error."""
        cdef int want = cnp.NPY_FLOAT32 if self.is_float else cnp.NPY_INT16
        if (cnp.PyArray_Check(x) and cnp.PyArray_TYPE(<cnp.ndarray>x) == want
                and cnp.PyArray_NDIM(<cnp.ndarray>x) == 1
                and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>x)
                and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>x)
                and cnp.PyArray_ISALIGNED(<cnp.ndarray>x)):
            return x  # the per-frame fast path: no Python-level checks
        mv = _samples(x, self.is_float)
        return np.frombuffer(mv, np.float32 if self.is_float else np.int16)

    def process(self, x):
        """Resample a chunk; returns a new numpy array (int16 or float32).

        ``x``: 1-D C-contiguous samples of this resampler's dtype (numpy array,
        ``array('h')``/``array('f')``, or for int16 native-endian PCM bytes).
        """
        cdef cnp.ndarray a = self._as_array(x)
        cdef Py_ssize_t n = cnp.PyArray_SIZE(a)
        cdef cnp.npy_intp n_out = self._count(n)
        cdef cnp.ndarray out = cnp.PyArray_EMPTY(1, &n_out,
                                                 cnp.NPY_FLOAT32 if self.is_float else cnp.NPY_INT16, 0)
        self._run(cnp.PyArray_DATA(a), n, cnp.PyArray_DATA(out), n_out)
        return out

    def process_into(self, x, out):
        """Resample a chunk into ``out`` (numpy array of the dtype); returns samples written.

        ``out`` must hold at least ``output_length(len(x))`` samples.
        """
        cdef cnp.ndarray a = self._as_array(x)
        cdef Py_ssize_t n = cnp.PyArray_SIZE(a)
        cdef Py_ssize_t n_out = self._count(n)
        cdef cnp.ndarray o = self._as_array(out)
        if not cnp.PyArray_ISWRITEABLE(o):
            raise ValueError("out buffer is read-only")
        if cnp.PyArray_SIZE(o) < n_out:
            raise ValueError(f"out holds {cnp.PyArray_SIZE(o)} samples, {n_out} needed")
        self._run(cnp.PyArray_DATA(a), n, cnp.PyArray_DATA(o), n_out)
        return n_out

    def output_length(self, Py_ssize_t n):
        """Number of samples :meth:`process` will return for ``n`` more input samples."""
        if n < 0:
            raise ValueError("n must be >= 0")
        return self._count(n)

    cdef int _run(self, const void* x, Py_ssize_t n, void* out, Py_ssize_t n_out) except -1:
        cdef Py_ssize_t i
        cdef float* dst
        cdef const int16_t* xi = <const int16_t*>x
        cdef int16_t* oi_p = NULL
        cdef float* of_p = NULL
        self._ensure(n)
        if self.mode == MODE_UP:
            self._ensure_scratch(n + BLOCK)
        elif self.mode == MODE_DOWN:
            self._ensure_scratch((n_out + BLOCK) * (1 + self.down) + self.down * self.S)
        if self.is_float:
            of_p = <float*>out
        else:
            oi_p = <int16_t*>out
        with nogil:
            dst = self.buf + self.hist
            if self.is_float:
                if n:
                    memcpy(dst, x, n * sizeof(float))
            else:
                for i in range(n):
                    dst[i] = xi[i]
            if n_out:
                if self.mode == MODE_UP:
                    self._run_up(n_out, of_p, oi_p)
                elif self.mode == MODE_DOWN:
                    self._run_down(n, n_out, of_p, oi_p)
                elif self.is_float:
                    rs_run_float(self.coef, self.taps, self.up, self.q, self.r,
                                 self.buf, &self.b, &self.phase, of_p, n_out)
                else:
                    rs_run_int16(self.coef, self.taps, self.up, self.q, self.r,
                                 self.buf, &self.b, &self.phase, oi_p, n_out)
            # keep the newest hist samples as the next call's history
            memmove(self.buf, self.buf + n, self.hist * sizeof(float))
            self.b -= n
        return 0

    cdef void _run_up(self, Py_ssize_t n_out, float* of_p, int16_t* oi_p) noexcept nogil:
        # integer up-sampling: every call ends on a whole input sample, so phase == 0 here
        cdef Py_ssize_t nb = n_out // self.up, nb_pad = (nb + BLOCK - 1) // BLOCK * BLOCK, i
        cdef int p
        cdef const float* xs = self.buf + self.b - (self.taps - 1)
        for p in range(self.up):
            _fir(self.coef + p * self.taps, 1, self.taps, xs, 0, nb_pad, self.scratch)
            if of_p != NULL:
                for i in range(nb):
                    of_p[i * self.up + p] = self.scratch[i]
            else:
                sipctl_store_i16(self.scratch, nb, oi_p + p, self.up)
        self.b += nb

    cdef void _run_down(self, Py_ssize_t n, Py_ssize_t n_out, float* of_p, int16_t* oi_p) noexcept nogil:
        # integer down-sampling: deinterleave the taps' span by M, then one FIR pass
        cdef int M = self.down, m
        cdef Py_ssize_t n_pad = (n_out + BLOCK - 1) // BLOCK * BLOCK
        cdef Py_ssize_t stride = n_pad + self.S, j, idx
        cdef Py_ssize_t start = self.b - (self.taps - 1), valid = self.hist + n
        cdef float* xs = self.scratch + n_pad
        for m in range(M):
            for j in range(stride):
                idx = start + j * M + m
                xs[m * stride + j] = self.buf[idx] if idx < valid else 0.0
        _fir(self.cm, M, self.S, xs, stride, n_pad, self.scratch)
        if of_p != NULL:
            memcpy(of_p, self.scratch, n_out * sizeof(float))
        else:
            sipctl_store_i16(self.scratch, n_out, oi_p, 1)
        self.b += n_out * M

    def flush(self):
        """Return the delayed tail (input followed by silence), then reset."""
        cdef Py_ssize_t k = (self.delay * self.down + self.up - 1) // self.up + 1
        out = self.process(np.zeros(k, self.dtype))
        self.reset()
        return out

    def __repr__(self):
        return (f"Resampler({self.in_rate}, {self.out_rate}, dtype={self.dtype.name!r}, "
                f"taps={self.taps}, delay={self.delay})")


def resample(x, in_rate, out_rate):
    """One-shot resampling with the group delay removed.

    ``x`` is a 1-D int16 or float32 numpy array; returns ``ceil(len(x) * out_rate /
    in_rate)`` samples of the same dtype, time-aligned with the input.
    """
    arr = np.asarray(x)
    if arr.dtype not in (np.int16, np.float32):
        raise TypeError(f"expected an int16 or float32 array, got dtype {arr.dtype}")
    rs = Resampler(in_rate, out_rate, arr.dtype)
    n_want = rs.output_length(len(arr))
    y = np.concatenate([rs.process(np.ascontiguousarray(arr)), rs.flush()])
    return y[rs.delay:rs.delay + n_want]
