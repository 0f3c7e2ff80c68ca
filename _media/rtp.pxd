# C-level RTP kernels (RFC 3550), for other kernels to cimport (e.g. a jitter
# buffer that parses, sequences and times packets without touching Python).
#
# Everything here is pure C over caller-owned memory: no allocation, no state
# outside the structs, never reads or writes outside [buf, buf + n).
from _media._types cimport int64_t, uint8_t, uint16_t, uint32_t

cdef enum:
    RTP_HEADER_SIZE = 12
    RTP_MAX_CSRC = 15
    # rtp_parse() results; the same values are _media.rtp.RtpError.
    RTP_OK = 0
    RTP_EMPTY = -1              # zero-length input
    RTP_TRUNCATED = -2          # shorter than the 12-byte fixed header
    RTP_BAD_VERSION = -3        # version field != 2
    RTP_CSRC_OVERRUN = -4       # CSRC list runs past the end
    RTP_EXTENSION_OVERRUN = -5  # extension header or its data runs past the end
    RTP_BAD_PADDING = -6        # P bit set, count 0 or > bytes after the header
    # rtp_build_*() failures (callers validate first, so these mean a bug).
    RTP_BUILD_EINVAL = -16      # a field out of range
    RTP_BUILD_ENOSPC = -17      # caller buffer too small
    # RFC 3550 appendix A.1
    RTP_MAX_DROPOUT = 3000
    RTP_MAX_MISORDER = 100

ctypedef struct rtp_header_t:
    uint8_t version
    uint8_t padding             # P bit
    uint8_t extension           # X bit
    uint8_t csrc_count          # CC, 0..15
    uint8_t marker              # M bit
    uint8_t payload_type        # 0..127
    uint16_t sequence
    uint32_t timestamp
    uint32_t ssrc
    uint32_t csrc[15]           # first csrc_count entries valid
    uint16_t ext_profile        # "defined by profile" field; 0 without extension
    Py_ssize_t ext_offset       # offset of the extension data (after its 4-byte header); 0 without
    Py_ssize_t ext_length       # bytes of extension data (4 * length field)
    Py_ssize_t payload_offset   # first byte after the header (and extension)
    Py_ssize_t payload_length   # payload bytes, excluding padding
    Py_ssize_t padding_length   # padding bytes including the count byte; 0 without P

# Parse buf[0:n]. Returns RTP_OK or a negative RTP_* code. out is zeroed first;
# on error the fields decoded before the failing check are left filled in
# (used to word error messages). buf may be NULL when n == 0.
cdef int rtp_parse(const uint8_t* buf, Py_ssize_t n, rtp_header_t* out) noexcept nogil

# Bytes rtp_build_header() writes for h: 12 + 4*CC [+ 4 + ext_length].
cdef Py_ssize_t rtp_header_size(const rtp_header_t* h) noexcept nogil

# Write the fixed header, CSRCs and (if h.extension) the extension header and
# ext_data[0:h.ext_length] to out. Version is always 2 and the P bit is set iff
# h.padding_length > 0 (h.version, h.padding and the offsets are ignored).
# Returns the bytes written (the payload offset) or RTP_BUILD_EINVAL/ENOSPC.
cdef Py_ssize_t rtp_build_header(uint8_t* out, Py_ssize_t cap, const rtp_header_t* h,
                                 const uint8_t* ext_data) noexcept nogil

# rtp_build_header() followed by payload[0:h.payload_length] and
# h.padding_length bytes of padding (zeros, then the count). Returns the
# packet length or RTP_BUILD_EINVAL/ENOSPC.
cdef Py_ssize_t rtp_build_packet(uint8_t* out, Py_ssize_t cap, const rtp_header_t* h,
                                 const uint8_t* ext_data, const uint8_t* payload) noexcept nogil


# Extended sequence numbers (RFC 3550 appendix A.1 without the initial probation).
ctypedef struct rtp_seq_t:
    int started
    uint16_t max_seq            # highest 16-bit seq (by modular order)
    uint32_t bad_seq            # seq that would confirm a large jump; 65537 = none
    int64_t cycles              # wraps of max_seq
    int64_t base                # extended seq of the first packet (since a restart)
    int64_t received
    int64_t restarts

cdef void rtp_seq_reset(rtp_seq_t* s) noexcept nogil
# Extended seq (cycles * 65536 + seq) of a received packet, or -1 if it is not
# accepted (unconfirmed large jump, or older than the first packet).
cdef int64_t rtp_seq_update(rtp_seq_t* s, uint16_t seq) noexcept nogil


# Interarrival jitter (RFC 3550 appendix A.8), in timestamp units.
ctypedef struct rtp_jitter_t:
    double clock_rate
    double jitter
    double last_arrival         # seconds
    uint32_t last_ts
    int started

cdef void rtp_jitter_reset(rtp_jitter_t* j) noexcept nogil
cdef double rtp_jitter_update(rtp_jitter_t* j, uint32_t ts, double arrival) noexcept nogil


cdef class RtpPacket:
    cdef readonly int version
    cdef readonly bint padding
    cdef readonly bint extension
    cdef readonly int csrc_count
    cdef readonly bint marker
    cdef readonly int payload_type
    cdef readonly int sequence
    cdef readonly uint32_t timestamp
    cdef readonly uint32_t ssrc
    cdef readonly tuple csrcs
    cdef readonly int ext_profile
    cdef readonly Py_ssize_t ext_offset
    cdef readonly Py_ssize_t ext_length
    cdef readonly object extension_data
    cdef readonly Py_ssize_t payload_offset
    cdef readonly Py_ssize_t payload_length
    cdef readonly Py_ssize_t padding_length
    cdef readonly bytes payload

cdef class SequenceTracker:
    cdef rtp_seq_t st

cdef class JitterEstimator:
    cdef rtp_jitter_t st
