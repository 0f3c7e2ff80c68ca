# C-level time-scale modification (WebRTC NetEq style "accelerate" / "preemptive
# expand") for other kernels to cimport. The algorithm is described in tsm.pyx and,
# step for step, in _media/reference/tsm.py.
#
# All functions work on the caller's buffers: x[0:n] is the audio not yet played
# (x[0] is the next sample out), y must hold n (accelerate) or n + pmax (expand)
# samples. They return the samples removed / added (0: nothing done, y = x), or
# TSM_SHORT when n < 2 * pmax. No allocation, no failure otherwise.
from _media._types cimport int16_t

cdef enum:
    TSM_SHORT = -1      # fewer than 2 * pmax samples given
    TSM_NONE = 0        # unvoiced and loud: leave it alone
    TSM_VOICED = 1      # a pitch period repeats: remove / insert exactly one
    TSM_QUIET = 2       # low energy: remove / insert a chunk freely

cdef int tsm_pmin(int rate) noexcept nogil
cdef int tsm_pmax(int rate) noexcept nogil
# Classify x[0:n] and find the period (lags pmin..min(pmax, maxlag)); *lag gets the chunk.
cdef int tsm_analyse(const int16_t* x, int n, int rate, int maxlag, int* lag) noexcept nogil
cdef int tsm_accelerate(const int16_t* x, int n, int rate, int max_remove, int16_t* y) noexcept nogil
cdef int tsm_expand(const int16_t* x, int n, int rate, int16_t* y) noexcept nogil
# x[0:history] already played: insert one period at x[history]; y gets x[history:] expanded
cdef int tsm_expand_after(const int16_t* x, int n, int history, int rate, int16_t* y) noexcept nogil
