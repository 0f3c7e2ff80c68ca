# C-level waveform packet loss concealment (G.711 Appendix I style, zero delay),
# for other kernels to cimport (e.g. a playout loop that conceals straight into
# its mix buffer). The algorithm and its fixed-point arithmetic are described in
# plc.pyx and, step for step, in _media/reference/plc.py.
#
# A PlcState is set up by plc_setup() (libc malloc; returns -1 when out of
# memory, leaving nothing to free) and released by plc_free() (idempotent).
# plc_good/plc_conceal process exactly s.frame samples and cannot fail; x and
# out may be the same buffer. One state per stream; not thread-safe.
from _media._types cimport int16_t

cdef struct PlcState:
    # configuration, in samples at the configured rate
    int rate, frame
    int pmin, pmax          # pitch search range, 2.5..15 ms
    int hist_len            # 3 * pmax + pmax // 4 (48.75 ms)
    int corr_len            # pitch correlation window, 20 ms
    long long emin          # energy floor of the normalised correlation
    int t4, t10, t60        # 4, 10 and 60 ms
    # buffers
    int16_t* hist           # last hist_len output samples, oldest first
    int16_t* pb             # pitch buffer: hist at erasure start, tail cross-faded
    int16_t* lastq          # original last pmax // 4 samples of hist
    int16_t* ola            # old continuation while the period count changes
    int16_t* xin            # copy of the input frame (so x may alias out)
    # erasure and merge state
    bint erasing, merging
    int pitch, L, blen, off, ola_pos, t, e0
    int merge_len, merge_pos
    long long concealed_frames, erasure_frames

cdef int plc_setup(PlcState* s, int rate, int frame) noexcept nogil
cdef void plc_free(PlcState* s) noexcept nogil
cdef void plc_reset(PlcState* s) noexcept nogil
cdef void plc_good(PlcState* s, const int16_t* x, int16_t* out) noexcept nogil
cdef void plc_conceal(PlcState* s, int16_t* out) noexcept nogil
cdef int plc_find_pitch(const int16_t* x, int n, int pmin, int pmax, int corr_len,
                        long long emin) noexcept nogil


cdef class WaveformPlc:
    cdef PlcState st
    cdef readonly int rate
    cdef readonly int frame_samples
    cdef readonly int delay

    cdef object _frame(self, object x, str what)
    cdef object _out(self, object out)
