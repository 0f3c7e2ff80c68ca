from libc.stdint cimport int16_t

# C-level kernel (cimport-able by other _media modules, e.g. the mixer):
# runs n_out outputs of a polyphase table over a float history+input buffer.
# b/phase: buffer index of the newest input tap and the phase of the first output;
# both are advanced in place. Returns nothing; cannot fail.
cdef void rs_run_float(const float* coef, int taps, int up, int q, int r,
                       const float* buf, Py_ssize_t* b, int* phase,
                       float* out, Py_ssize_t n_out) noexcept nogil
cdef void rs_run_int16(const float* coef, int taps, int up, int q, int r,
                       const float* buf, Py_ssize_t* b, int* phase,
                       int16_t* out, Py_ssize_t n_out) noexcept nogil


cdef class Resampler:
    cdef readonly int in_rate
    cdef readonly int out_rate
    cdef readonly int taps
    cdef readonly int delay
    cdef int up, down, q, r, phase, mode, S
    cdef bint is_float
    cdef float* coef        # up x taps polyphase table
    cdef float* cm          # down-sampling: the table split by input phase (M x S)
    cdef float* buf         # history + input (+ slack)
    cdef float* scratch     # FIR outputs / deinterleaved input
    cdef Py_ssize_t cap, scratch_cap, hist, b
    cdef object _design

    cdef int _init_down(self) except -1
    cdef object _as_array(self, object x)
    cdef int _run(self, const void* x, Py_ssize_t n, void* out, Py_ssize_t n_out) except -1
    cdef int _ensure(self, Py_ssize_t n) except -1
    cdef int _ensure_scratch(self, Py_ssize_t n) except -1
    cdef Py_ssize_t _count(self, Py_ssize_t n) noexcept nogil
    cdef void _run_up(self, Py_ssize_t n_out, float* of_p, int16_t* oi_p) noexcept nogil
    cdef void _run_down(self, Py_ssize_t n, Py_ssize_t n_out, float* of_p, int16_t* oi_p) noexcept nogil
