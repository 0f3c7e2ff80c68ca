# C-level ITU-T G.711 kernels, for other kernels to cimport (e.g. a mixer that
# decodes straight into its int32 accumulator's input frame).
#
# Each converts n samples with a table lookup; no state, no delay, no errors.
# src and dst must not overlap. Tables are built when _media.g711 is imported,
# which cimporting it guarantees.
from _media._types cimport int16_t, uint8_t

cdef void ulaw_encode_buf(const int16_t* src, uint8_t* dst, Py_ssize_t n) noexcept nogil
cdef void alaw_encode_buf(const int16_t* src, uint8_t* dst, Py_ssize_t n) noexcept nogil
cdef void ulaw_decode_buf(const uint8_t* src, int16_t* dst, Py_ssize_t n) noexcept nogil
cdef void alaw_decode_buf(const uint8_t* src, int16_t* dst, Py_ssize_t n) noexcept nogil
