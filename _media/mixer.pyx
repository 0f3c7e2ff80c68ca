"""Conference mixer: mix-minus for N participants, one GIL-free call per tick.

Every participant sends one int16 frame of ``frame_samples`` samples per tick
(320 for 16 kHz / 20 ms); :meth:`Mixer.mix` takes all of them as one (N, F)
array and returns what each one hears: everybody else's contribution, never
its own (mix-minus), in O(N x F): the gained inputs are summed once into an
int32 bus, then each row subtracts its own contribution (STYLE item 14).

All arithmetic is integer, so :func:`_media.reference.mixer.mix_reference`
reproduces it bit for bit (``>>`` is an arithmetic shift, i.e. it floors):

* gains are Q12 (4096 = 1.0, 0.0 .. 8.0), from ``floor(gain * 4096 + 0.5)``;
* input gain ``c = (x * gin + 2048) >> 12``; a muted participant adds nothing;
* output gain ``v = (y * gout + 2048) >> 12`` on ``y = bus - own``;
* soft limiter instead of clipping: a quadratic soft knee, identity up to
  ``|v| <= 24575`` (0.75 full scale), then ``sign(v) * (24575 + u - ((u*u + 16384) >> 15))``
  for ``u = |v| - 24575 < 16384`` (slope ``1 - u/16384``, so slope and level are
  continuous), and ``sign(v) * 32767`` from ``|v| >= 40959`` (1.25 full scale).
  It is odd and monotonic; outputs lie in [-32767, 32767] and keep the sign of
  the true sum (nothing wraps).

Loudest-K mode (:meth:`Mixer.set_loudest`): only the k unmuted participants of
largest frame energy ``sum(c**2)`` this tick contribute (ties to the lower
index), chosen with a size-k heap inside the same GIL-free call.

Limits: ``n_participants <= 8191`` (the int32 bus cannot overflow even with
every input at 8x gain and full scale), ``frame_samples <= 2**20``. The inner
loops (``include/sipctl_mix_kernel.h``) exist in a baseline and an AVX2 build,
picked at import (:data:`KERNEL_ISA`); both give identical results.
"""
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from libc.string cimport memcpy, memset
from libc.stdint cimport uintptr_t

import numbers
import os

import numpy as np
cimport numpy as cnp

cnp.import_array()

__all__ = ["Mixer", "KERNEL_ISA", "MAX_PARTICIPANTS", "MAX_FRAME_SAMPLES", "MAX_GAIN"]


cdef extern from "sipctl_mix_kernel.h" nogil:
    int SIPCTL_MIX_ONE
    int SIPCTL_MIX_LIMIT_IN       # |v| from which the limiter outputs +-32767
    ctypedef void (*sipctl_mix_sum_fn)(const int16_t*, Py_ssize_t, const int32_t*, Py_ssize_t,
                                       const int32_t*, int32_t*)
    ctypedef void (*sipctl_mix_rows_fn)(const int16_t*, Py_ssize_t, Py_ssize_t, const int32_t*,
                                        const int32_t*, const int32_t*, const uint8_t*,
                                        const uint8_t*, const int32_t*, int16_t*)
    ctypedef void (*sipctl_mix_energy_fn)(const int16_t*, Py_ssize_t, Py_ssize_t, const int32_t*,
                                          const uint8_t*, int64_t*)
    void sipctl_mix_sum_base(const int16_t*, Py_ssize_t, const int32_t*, Py_ssize_t,
                             const int32_t*, int32_t*)
    void sipctl_mix_sum_avx2(const int16_t*, Py_ssize_t, const int32_t*, Py_ssize_t,
                             const int32_t*, int32_t*)
    void sipctl_mix_rows_base(const int16_t*, Py_ssize_t, Py_ssize_t, const int32_t*,
                              const int32_t*, const int32_t*, const uint8_t*,
                              const uint8_t*, const int32_t*, int16_t*)
    void sipctl_mix_rows_avx2(const int16_t*, Py_ssize_t, Py_ssize_t, const int32_t*,
                              const int32_t*, const int32_t*, const uint8_t*,
                              const uint8_t*, const int32_t*, int16_t*)
    void sipctl_mix_energy_base(const int16_t*, Py_ssize_t, Py_ssize_t, const int32_t*,
                                const uint8_t*, int64_t*)
    void sipctl_mix_energy_avx2(const int16_t*, Py_ssize_t, Py_ssize_t, const int32_t*,
                                const uint8_t*, int64_t*)
    int sipctl_mix_have_avx2()

# Picked once at import (SIPCTL_KERNEL_ISA=baseline forces the portable build).
cdef sipctl_mix_sum_fn _sum = sipctl_mix_sum_base
cdef sipctl_mix_rows_fn _rows = sipctl_mix_rows_base
cdef sipctl_mix_energy_fn _energy = sipctl_mix_energy_base
cdef bint _use_avx2 = sipctl_mix_have_avx2() and os.environ.get("SIPCTL_KERNEL_ISA") != "baseline"
if _use_avx2:
    _sum = sipctl_mix_sum_avx2
    _rows = sipctl_mix_rows_avx2
    _energy = sipctl_mix_energy_avx2

#: Name of the inner-loop variant in use ("avx2" or "baseline").
KERNEL_ISA = "avx2" if _use_avx2 else "baseline"
#: Largest participant count: 8191 x 2**18 (8x gain, full scale) still fits the int32 bus.
MAX_PARTICIPANTS = 8191
#: Largest frame: keeps sum(c**2) (loudest-K energy) far inside int64.
MAX_FRAME_SAMPLES = 1 << 20
#: Largest input/output gain (Q12 32768).
MAX_GAIN = 8.0

cdef int32_t ONE = SIPCTL_MIX_ONE   # unit gain in Q12


# ---------------------------------------------------------------- loudest-K

cdef inline bint _quieter(const int64_t* e, int32_t a, int32_t b) noexcept nogil:
    # strict total order: less energy, or equal energy and higher index
    return e[a] < e[b] or (e[a] == e[b] and a > b)


cdef Py_ssize_t select_loudest(const int64_t* energy, const uint8_t* eligible, Py_ssize_t n,
                               Py_ssize_t k, int32_t* heap) noexcept nogil:
    # min-heap of the loudest seen so far, quietest at the root
    cdef Py_ssize_t m = 0, i, j, c
    cdef int32_t v
    if k <= 0:
        return 0
    for i in range(n):
        if not eligible[i]:
            continue
        if m < k:
            j = m
            m += 1
            while j > 0 and _quieter(energy, <int32_t>i, heap[(j - 1) // 2]):
                heap[j] = heap[(j - 1) // 2]
                j = (j - 1) // 2
            heap[j] = <int32_t>i
        elif _quieter(energy, heap[0], <int32_t>i):
            v = <int32_t>i
            j = 0
            while True:
                c = 2 * j + 1
                if c >= m:
                    break
                if c + 1 < m and _quieter(energy, heap[c + 1], heap[c]):
                    c += 1
                if not _quieter(energy, heap[c], v):
                    break
                heap[j] = heap[c]
                j = c
            heap[j] = v
    return m


# ---------------------------------------------------------------- helpers

cdef int32_t _q12(object gain) except -1:
    # same rounding as _media.reference.mixer.gain_to_q12
    if isinstance(gain, bool) or not isinstance(gain, numbers.Real):
        raise TypeError(f"gain must be a real number, got {type(gain).__name__}")
    cdef double g
    try:
        g = float(gain)
    except OverflowError:
        g = float("inf")
    if not (0.0 <= g <= MAX_GAIN):      # also rejects NaN
        raise ValueError(f"gain must be in [0, {MAX_GAIN}], got {gain!r}")
    return <int32_t>(g * ONE + 0.5)     # non-negative, so truncation == floor


cdef bint _flag(object value, str what) except -1:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be a bool, got {type(value).__name__}")
    return bool(value)


cdef Py_ssize_t _size(object value, str what, Py_ssize_t limit) except -1:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    if not 1 <= value <= limit:
        raise ValueError(f"{what} must be in 1..{limit}, got {value}")
    return value


cdef void* _alloc(Py_ssize_t n, size_t item) except NULL:
    cdef void* p = PyMem_Malloc(n * item if n > 0 else 1)
    if p == NULL:
        raise MemoryError()
    memset(p, 0, n * item)
    return p


cdef cnp.ndarray _frames(object a, str name, Py_ssize_t n, Py_ssize_t f, bint write):
    """``a`` if it is an int16 (n, f) C-contiguous array, else a clear error."""
    cdef cnp.ndarray arr
    want = f"({n}, {f})"
    if not cnp.PyArray_Check(a):
        raise TypeError(f"{name} must be a numpy int16 array of shape {want}, "
                        f"got {type(a).__name__}")
    arr = <cnp.ndarray>a
    if cnp.PyArray_TYPE(arr) != cnp.NPY_INT16 or not cnp.PyArray_ISNOTSWAPPED(arr):
        raise TypeError(f"{name} must have dtype int16 (native byte order), got {a.dtype.str}")
    if cnp.PyArray_NDIM(arr) != 2 or cnp.PyArray_DIM(arr, 0) != n or cnp.PyArray_DIM(arr, 1) != f:
        raise ValueError(f"{name} must have shape {want} (participants, samples), got {a.shape}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr) or not cnp.PyArray_ISALIGNED(arr):
        raise ValueError(f"{name} must be C-contiguous and aligned (see np.ascontiguousarray)")
    if write and not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{name} is read-only")
    return arr


cdef class Mixer:
    """Mix-minus conference mixer for ``n_participants`` int16 frames of ``frame_samples``.

    Args:
        n_participants: N, 1 .. :data:`MAX_PARTICIPANTS`.
        frame_samples: F, samples per frame and tick (e.g. 320 for 16 kHz / 20 ms).

    Every participant starts unmuted, not deaf, with unit input and output gain,
    loudest-K off. Setters may be called from any thread at any time; they take
    effect atomically at the start of the next :meth:`mix`.
    """

    def __cinit__(self, *args, **kwargs):
        self.p_gin = self.p_gout = self.gin = self.gout = self.bound = NULL
        self.rows = self.heap = self.acc = NULL
        self.p_muted = self.p_deaf = self.eligible = self.deaf = self.contrib = NULL
        self.energy = NULL

    def __init__(self, n_participants, frame_samples):
        cdef Py_ssize_t n = _size(n_participants, "n_participants", MAX_PARTICIPANTS)
        cdef Py_ssize_t f = _size(frame_samples, "frame_samples", MAX_FRAME_SAMPLES)
        cdef Py_ssize_t i
        self.n_participants, self.frame_samples = n, f
        self.p_gin = <int32_t*>_alloc(n, sizeof(int32_t))
        self.p_gout = <int32_t*>_alloc(n, sizeof(int32_t))
        self.gin = <int32_t*>_alloc(n, sizeof(int32_t))
        self.gout = <int32_t*>_alloc(n, sizeof(int32_t))
        self.bound = <int32_t*>_alloc(n, sizeof(int32_t))
        self.rows = <int32_t*>_alloc(n, sizeof(int32_t))
        self.heap = <int32_t*>_alloc(n, sizeof(int32_t))
        self.energy = <int64_t*>_alloc(n, sizeof(int64_t))
        self.p_muted = <uint8_t*>_alloc(n, 1)
        self.p_deaf = <uint8_t*>_alloc(n, 1)
        self.eligible = <uint8_t*>_alloc(n, 1)
        self.deaf = <uint8_t*>_alloc(n, 1)
        self.contrib = <uint8_t*>_alloc(n, 1)
        self.acc = <int32_t*>_alloc(f, sizeof(int32_t))
        for i in range(n):
            self.p_gin[i] = self.p_gout[i] = ONE
        self.p_loudest = 0
        self.dirty = True
        self._apply_settings()

    def __dealloc__(self):
        PyMem_Free(self.p_gin)
        PyMem_Free(self.p_gout)
        PyMem_Free(self.gin)
        PyMem_Free(self.gout)
        PyMem_Free(self.bound)
        PyMem_Free(self.rows)
        PyMem_Free(self.heap)
        PyMem_Free(self.energy)
        PyMem_Free(self.p_muted)
        PyMem_Free(self.p_deaf)
        PyMem_Free(self.eligible)
        PyMem_Free(self.deaf)
        PyMem_Free(self.contrib)
        PyMem_Free(self.acc)

    cdef int _apply_settings(self) except -1:
        # pending -> in use; runs with the GIL, never during a tick
        cdef Py_ssize_t i, n = self.n_participants
        cdef int32_t g
        memcpy(self.gin, self.p_gin, n * sizeof(int32_t))
        memcpy(self.gout, self.p_gout, n * sizeof(int32_t))
        memcpy(self.deaf, self.p_deaf, n)
        self.loudest = self.p_loudest
        self.n_rows = 0
        for i in range(n):
            g = self.gout[i]
            # bound * g >= LIMIT_IN + 32760: clamping y >> 12 to it cannot change the output
            self.bound[i] = (SIPCTL_MIX_LIMIT_IN + 32760 + g - 1) // g if g > 0 else 0
            self.eligible[i] = not self.p_muted[i]
            self.contrib[i] = self.eligible[i]
            if self.eligible[i]:
                self.rows[self.n_rows] = <int32_t>i
                self.n_rows += 1
        self.dirty = False
        return 0

    cdef void _tick(self, const int16_t* x, int16_t* out) noexcept nogil:
        cdef Py_ssize_t n = self.n_participants, f = self.frame_samples, i, m
        if self.loudest > 0:
            _energy(x, n, f, self.gin, self.eligible, self.energy)
            m = select_loudest(self.energy, self.eligible, n, self.loudest, self.heap)
            memset(self.contrib, 0, n)
            for i in range(m):
                self.contrib[self.heap[i]] = 1
            self.n_rows = 0
            for i in range(n):
                if self.contrib[i]:
                    self.rows[self.n_rows] = <int32_t>i
                    self.n_rows += 1
        _sum(x, f, self.rows, self.n_rows, self.gin, self.acc)
        _rows(x, n, f, self.gin, self.gout, self.bound, self.contrib, self.deaf, self.acc, out)

    cdef Py_ssize_t _index(self, object i) except -1:
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError(f"participant index must be an int, got {type(i).__name__}")
        if not 0 <= i < self.n_participants:
            raise IndexError(f"participant index {i} out of range 0..{self.n_participants - 1}")
        return i

    def mix(self, frames, out=None):
        """Mix one tick; returns ``out`` (a new array if None).

        ``frames``: int16 array of shape (N, F), C-contiguous, row i = participant
        i's frame. ``out``: optional int16 (N, F) C-contiguous array to write; it
        may be ``frames`` itself (in place) but must not partly overlap it.
        Row i of the result is what participant i hears. The mixing runs with the
        GIL released; one Mixer mixes one tick at a time (RuntimeError otherwise).
        """
        cdef cnp.ndarray x, o
        cdef cnp.npy_intp dims[2]
        cdef uintptr_t xb, ob, nbytes
        if cnp.PyArray_Check(frames) and cnp.PyArray_TYPE(<cnp.ndarray>frames) == cnp.NPY_INT16 \
                and cnp.PyArray_NDIM(<cnp.ndarray>frames) == 2 \
                and cnp.PyArray_DIM(<cnp.ndarray>frames, 0) == self.n_participants \
                and cnp.PyArray_DIM(<cnp.ndarray>frames, 1) == self.frame_samples \
                and cnp.PyArray_ISCARRAY_RO(<cnp.ndarray>frames) \
                and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>frames):
            x = <cnp.ndarray>frames   # the per-tick fast path
        else:
            x = _frames(frames, "frames", self.n_participants, self.frame_samples, False)
        if out is None:
            dims[0], dims[1] = self.n_participants, self.frame_samples
            o = cnp.PyArray_EMPTY(2, dims, cnp.NPY_INT16, 0)
        else:
            o = _frames(out, "out", self.n_participants, self.frame_samples, True)
            xb, ob = <uintptr_t>cnp.PyArray_DATA(x), <uintptr_t>cnp.PyArray_DATA(o)
            nbytes = <uintptr_t>cnp.PyArray_NBYTES(x)
            if xb != ob and xb < ob + nbytes and ob < xb + nbytes:
                raise ValueError("out overlaps frames without being the same array (in place)")
        if self.acc == NULL:
            raise RuntimeError("Mixer.__init__ was not called")
        if self.busy:
            raise RuntimeError("this Mixer is already mixing a tick in another thread")
        self.busy = True
        try:
            if self.dirty:
                self._apply_settings()
            with nogil:
                self._tick(<const int16_t*>cnp.PyArray_DATA(x), <int16_t*>cnp.PyArray_DATA(o))
            self.ticked = True
        finally:
            self.busy = False
        return o

    # ------------------------------------------------------------ controls

    def set_input_gain(self, i, gain):
        """Gain applied to participant ``i``'s frame before it enters the mix (0.0 .. 8.0).

        Stored as Q12 ``floor(gain * 4096 + 0.5)``; 0 keeps the participant in
        loudest-K selection with zero energy, unlike :meth:`set_mute`.
        """
        cdef Py_ssize_t k = self._index(i)
        self.p_gin[k] = _q12(gain)
        self.dirty = True

    def set_output_gain(self, i, gain):
        """Gain applied to what participant ``i`` hears, before the limiter (0.0 .. 8.0, Q12)."""
        cdef Py_ssize_t k = self._index(i)
        self.p_gout[k] = _q12(gain)
        self.dirty = True

    def set_mute(self, i, muted):
        """Muted: participant ``i`` contributes nothing (it still hears the others)."""
        cdef Py_ssize_t k = self._index(i)
        self.p_muted[k] = _flag(muted, "muted")
        self.dirty = True

    def set_deaf(self, i, deaf):
        """Deaf: participant ``i`` hears silence (it still contributes)."""
        cdef Py_ssize_t k = self._index(i)
        self.p_deaf[k] = _flag(deaf, "deaf")
        self.dirty = True

    def set_loudest(self, k):
        """Only the ``k`` loudest unmuted participants of each tick contribute; 0 = all."""
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(f"k must be an int, got {type(k).__name__}")
        if not 0 <= k <= self.n_participants:
            raise ValueError(f"k must be in 0..{self.n_participants}, got {k}")
        self.p_loudest = k
        self.dirty = True

    def input_gain(self, i):
        """Participant ``i``'s input gain as stored (a multiple of 1/4096)."""
        return self.p_gin[self._index(i)] / <double>ONE

    def output_gain(self, i):
        """Participant ``i``'s output gain as stored (a multiple of 1/4096)."""
        return self.p_gout[self._index(i)] / <double>ONE

    def is_muted(self, i):
        """Whether participant ``i`` is muted."""
        return bool(self.p_muted[self._index(i)])

    def is_deaf(self, i):
        """Whether participant ``i`` is deaf."""
        return bool(self.p_deaf[self._index(i)])

    @property
    def loudest(self):
        """k of loudest-K mode (0 = off)."""
        return self.p_loudest

    @property
    def input_gains_q12(self):
        """Copy of every participant's input gain in Q12 (int32, shape (N,))."""
        return np.array(<int32_t[:self.n_participants]>self.p_gin, dtype=np.int32)

    @property
    def output_gains_q12(self):
        """Copy of every participant's output gain in Q12 (int32, shape (N,))."""
        return np.array(<int32_t[:self.n_participants]>self.p_gout, dtype=np.int32)

    @property
    def muted(self):
        """Copy of the mute flags (bool, shape (N,))."""
        return np.array(<uint8_t[:self.n_participants]>self.p_muted, dtype=bool)

    @property
    def deafened(self):
        """Copy of the deaf flags (bool, shape (N,))."""
        return np.array(<uint8_t[:self.n_participants]>self.p_deaf, dtype=bool)

    @property
    def selected(self):
        """Indices (ascending) of the participants that contributed to the last tick.

        Empty before the first tick; with loudest-K off, every unmuted participant.
        """
        if not self.ticked:
            return np.zeros(0, np.intp)
        return np.flatnonzero(np.array(<uint8_t[:self.n_participants]>self.contrib, dtype=bool))

    def __repr__(self):
        return (f"Mixer(n_participants={self.n_participants}, frame_samples={self.frame_samples}, "
                f"loudest={self.p_loudest})")
