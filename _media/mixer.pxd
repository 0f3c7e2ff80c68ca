from _media._types cimport int16_t, int32_t, int64_t, uint8_t

# C-level pieces of the conference mixer, for other kernels to cimport.
#
# select_loudest: indices of the k eligible rows of largest energy (ties to the
# lower index) into heap[0..m), unordered; returns m = min(k, #eligible).
# O(n log k), no allocation, cannot fail.
cdef Py_ssize_t select_loudest(const int64_t* energy, const uint8_t* eligible, Py_ssize_t n,
                               Py_ssize_t k, int32_t* heap) noexcept nogil


cdef class Mixer:
    cdef readonly Py_ssize_t n_participants
    cdef readonly Py_ssize_t frame_samples
    # settings as the setters leave them (applied at the start of the next tick)
    cdef int32_t* p_gin
    cdef int32_t* p_gout
    cdef uint8_t* p_muted
    cdef uint8_t* p_deaf
    cdef Py_ssize_t p_loudest
    cdef bint dirty
    # settings in use by the running tick
    cdef int32_t* gin
    cdef int32_t* gout
    cdef int32_t* bound       # per-row clamp of y >> 12 (see sipctl_mix_kernel.h)
    cdef uint8_t* eligible    # unmuted
    cdef uint8_t* deaf
    cdef uint8_t* contrib     # rows in this tick's sum
    cdef int32_t* rows        # their indices, ascending
    cdef Py_ssize_t n_rows
    cdef Py_ssize_t loudest
    cdef int64_t* energy
    cdef int32_t* heap
    cdef int32_t* acc         # the int32 mix bus, frame_samples long
    cdef bint busy
    cdef bint ticked

    cdef int _apply_settings(self) except -1
    cdef Py_ssize_t _index(self, object i) except -1
    # One tick on raw pointers: x and out are n_participants x frame_samples int16,
    # C order; out may be x itself but must not otherwise overlap it.
    cdef void _tick(self, const int16_t* x, int16_t* out) noexcept nogil
