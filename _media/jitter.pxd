# C-level adaptive jitter buffer (see _media/jitter.pyx for the algorithm).
#
# The state machine is pure C over one jb_t: no allocation after jb_alloc(), no
# Python calls, no reference counting. Payloads are opaque pointers the caller
# owns a reference to: jb_put() always takes that reference over, and whatever
# the buffer lets go of (played, dropped, replaced, reset) is appended to
# j.grave for the caller to release after the call.
from _media._types cimport int32_t, int64_t, uint16_t, uint32_t
from _media.rtp cimport rtp_jitter_t

cdef enum:
    # jb_put() results; the same values are _media.jitter.PutResult
    JB_OK = 0
    JB_DUPLICATE = 1
    JB_LATE = 2
    JB_BAD_SIZE = 3
    JB_BAD_TIMESTAMP = 4
    JB_BAD_PACKET = 5
    JB_OVERFLOW = 6
    JB_RESET = 7
    # jb_get() kinds; the same values are _media.jitter.Kind
    JB_FRAME = 0
    JB_MISSING = 1
    JB_SILENCE = 2
    # tuning (the reference, _media/reference/jitter.py, has the same numbers)
    JB_WINDOW = 512             # packets in the transit-time window
    JB_NBINS = 16384            # histogram bins ...
    JB_BIN_US = 250             # ... of 0.25 ms: a 4 s range
    JB_SEEN = 512               # (seq, ts) pairs remembered for duplicate detection
    JB_MAX_SKEW_US = 10000000   # a transit change beyond this is an absurd timestamp
    JB_CAND_TOL_US = 1000000    # a repeat confirms a new timeline if this consistent ...
    JB_CAND_SEQ = 100           # ... and at most this many sequence numbers ahead
    JB_HANGOVER = 2             # empty-buffer ticks reported MISSING before SILENCE
    JB_DROP_LOUD = 2            # extra frames of excess delay before a non-quiet drop
    JB_CLIP_US = 60000          # transit this far above the target is a burst sample ...
    JB_BURST_MAX = 8            # ... of which one burst records at most this many
    JB_RUN_US = 300000          # unless it lasts this long: a real step in the path delay
    JB_CLIP_MIN_N = 64          # bursts are recognised once the window has this many
    JB_MAX_FRAMES = 65535       # frames per packet (frame_bytes > 0)
    JB_REWIND_US = 4000000      # adapt="tsm": a late packet rewinds the playout point this far,
    JB_REWIND_MIN_US = 60000    # once this much was skipped (a stall or spike, not one late packet)

ctypedef struct jb_entry_t:
    int64_t ts                  # extended timestamp of the first frame
    int64_t seq                 # extended sequence number
    int32_t n                   # frames in the packet
    int32_t used                # frames already played or skipped
    int32_t marker
    void* payload               # owned reference

ctypedef struct jb_transit_t:
    # windowed histogram of transit times; for j in (grow, shrink) qb[j] is the bin of
    # the k-th largest sample, k = n * late[j] // 10000 + 1, above[j] the count above it
    int64_t ring[JB_WINDOW]     # absolute bin of each sample, oldest at head when full
    uint16_t hist[JB_NBINS]
    int32_t n
    int32_t head
    int64_t anchor              # absolute bin of hist[0]
    int32_t late[2]
    int32_t qb[2]
    int32_t above[2]

ctypedef struct jb_counters_t:
    int64_t received
    int64_t played
    int64_t late
    int64_t duplicates
    int64_t discarded
    int64_t bad
    int64_t concealed
    int64_t dropped
    int64_t inserted
    int64_t resets

ctypedef struct jb_frame_t:
    int kind                    # JB_FRAME / JB_MISSING / JB_SILENCE
    uint32_t ts                 # RTP timestamp of the frame (or of the tick's slot)
    void* payload               # JB_FRAME: the packet's payload (alive until grave is drained)
    int32_t index               # JB_FRAME: frame index inside the payload
    int32_t whole               # JB_FRAME: 1 if the payload is exactly this frame

ctypedef struct jb_t:
    # configuration
    int64_t clock_rate
    int64_t fs                  # frame_samples
    int64_t frame_us
    int64_t frame_bytes
    int32_t cap                 # maxjitterpackets
    int64_t margin_us
    int tsm                     # adapt="tsm": never drop/insert for adaptation, hold instead
    # stream
    int started
    uint32_t ssrc
    uint32_t origin             # RTP timestamp of extended timestamp 0
    int64_t hi_ts               # highest extended timestamp accepted
    int64_t hi_seq              # highest extended sequence number accepted
    int64_t ref_transit         # transit of the last accepted packet (us)
    # packets, sorted by timestamp: ring[(rhead + i) & rmask], i < rcount
    jb_entry_t* ring
    int32_t rmask
    int32_t rhead
    int32_t rcount
    int64_t seen_seq[JB_SEEN]
    int64_t seen_ts[JB_SEEN]
    # playout
    int64_t play_ts             # extended timestamp of the next frame to play
    int playing                 # a frame has been played since the (re)start
    int64_t lp_seq              # last played packet: sequence, end timestamp, span
    int64_t lp_end
    int64_t lp_span
    int32_t idle                # ticks since the last frame played
    int has_p                   # last_p is valid
    int64_t last_p              # playout offset of the last FRAME/MISSING tick (us)
    int gap_valid               # adapt="tsm": frames skipped unplayed since the last played one,
    int64_t gap_ts              # the first of them: a late packet from there on rewinds
    # absurd-timestamp candidate
    int cand_valid
    uint16_t cand_seq
    uint32_t cand_ts
    int cand_marker
    int64_t cand_arr
    int64_t cand_nbytes
    void* cand_payload
    # burst (stall backlog) detection
    int32_t burst
    int64_t burst_start
    jb_transit_t est
    rtp_jitter_t jit
    jb_counters_t c
    # references the caller must release after each call
    void** grave
    int32_t ngrave

# Allocate a buffer (NULL on failure). late_grow/late_shrink per 10 000.
cdef jb_t* jb_alloc(int64_t clock_rate, int64_t frame_samples, int64_t frame_bytes, int32_t cap,
                    int32_t late_grow, int32_t late_shrink, int64_t margin_us) noexcept nogil
# Free it; its payload references must have been moved to the grave and released.
cdef void jb_free(jb_t* j) noexcept nogil
# Forget the stream (payloads go to the grave); counters are kept, resets + 1.
cdef void jb_reset(jb_t* j) noexcept nogil
# Queue a packet; arr_us = floor(arrival * 1e6). Takes over the payload reference.
cdef int jb_put(jb_t* j, uint16_t seq, uint32_t ts, int marker, void* payload,
                int64_t nbytes, int64_t arr_us, uint32_t ssrc) noexcept nogil
# One playout tick at now_us; fills out.
cdef void jb_get(jb_t* j, int64_t now_us, int quiet, jb_frame_t* out) noexcept nogil
# Grow / shrink targets: playout offsets (receiver us - media us).
cdef int64_t jb_target(const jb_t* j) noexcept nogil
cdef int64_t jb_min_transit(const jb_t* j) noexcept nogil
cdef int64_t jb_ts_us(const jb_t* j, int64_t ext) noexcept nogil
# adapt="tsm": the last playout offset minus the grow target (us; 0 before any)
cdef int64_t jb_delay_error(const jb_t* j) noexcept nogil
# 1 if the frame due next is buffered (a get() now would return it)
cdef int jb_ready(jb_t* j) noexcept nogil


cdef class JitterBuffer:
    cdef jb_t* j
    cdef readonly int clock_rate
    cdef readonly int frame_samples
    cdef readonly int frame_bytes
    cdef readonly int jittersize
    cdef readonly int maxjitterpackets
    cdef readonly str adapt

    cdef object _put(self, int seq, uint32_t ts, int marker, object payload, double arrival,
                     uint32_t ssrc)
    cdef void _bury(self) noexcept
    cdef void _free(self) noexcept
