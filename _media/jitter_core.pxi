# The jitter buffer's C state machine, included by _media/jitter.pyx (declarations
# in _media/jitter.pxd). Pure C over one jb_t: callable without the GIL, no Python
# objects, no reference counting (released payloads are appended to j.grave).
# _media/reference/jitter.py is the same algorithm in plain Python.

# --------------------------------------------------------------------------- C helpers

@cython.cdivision(True)
cdef inline int64_t fdiv(int64_t a, int64_t b) noexcept nogil:
    cdef int64_t q = a / b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


cdef inline int64_t _abs64(int64_t x) noexcept nogil:
    return -x if x < 0 else x


cdef int64_t jb_ts_us(const jb_t* j, int64_t ext) noexcept nogil:
    return fdiv(ext * 1000000, j.clock_rate)


cdef inline jb_entry_t* _at(jb_t* j, int32_t i) noexcept nogil:
    return &j.ring[(j.rhead + i) & j.rmask]


cdef inline void _bury(jb_t* j, void* p) noexcept nogil:
    if p != NULL:
        j.grave[j.ngrave] = p
        j.ngrave += 1

# --------------------------------------------------------------------------- transit estimator

cdef inline int32_t _k(const jb_transit_t* e, int i) noexcept nogil:
    return e.n * e.late[i] // 10000 + 1


cdef inline int32_t _clampbin(const jb_transit_t* e, int64_t a) noexcept nogil:
    cdef int64_t b = a - e.anchor
    return <int32_t>(0 if b < 0 else (JB_NBINS - 1 if b >= JB_NBINS else b))


cdef void _est_reset(jb_transit_t* e) noexcept nogil:
    memset(e.hist, 0, sizeof(e.hist))
    e.n = e.head = 0
    e.anchor = 0
    e.qb[0] = e.qb[1] = 0
    e.above[0] = e.above[1] = 0


cdef void _est_rebuild(jb_transit_t* e) noexcept nogil:
    cdef int32_t i, b, acc, k
    memset(e.hist, 0, sizeof(e.hist))
    for i in range(e.n):
        e.hist[_clampbin(e, e.ring[(e.head - 1 - i) & (JB_WINDOW - 1)])] += 1
    for i in range(2):
        k = _k(e, i)
        acc = 0
        b = JB_NBINS - 1
        while b > 0 and acc + e.hist[b] < k:
            acc += e.hist[b]
            b -= 1
        e.qb[i] = b
        e.above[i] = acc


cdef void _est_add(jb_transit_t* e, int64_t t_us) noexcept nogil:
    cdef int64_t a = fdiv(t_us, JB_BIN_US)
    cdef int64_t b64
    cdef int32_t b, old, i, k
    if e.n == 0:
        e.anchor = a - JB_NBINS // 4
        e.qb[0] = e.qb[1] = <int32_t>(a - e.anchor)
        e.above[0] = e.above[1] = 0
    if e.n == JB_WINDOW:
        old = _clampbin(e, e.ring[e.head])
        e.hist[old] -= 1
        for i in range(2):
            if old > e.qb[i]:
                e.above[i] -= 1
    else:
        e.n += 1
    e.ring[e.head] = a
    e.head = (e.head + 1) & (JB_WINDOW - 1)
    b64 = a - e.anchor
    if b64 < 0 or b64 >= JB_NBINS:
        # drift or a timeline step left the range: re-centre and rebuild (rare)
        e.anchor = a - JB_NBINS // 2
        _est_rebuild(e)
        return
    b = <int32_t>b64
    e.hist[b] += 1
    for i in range(2):
        if b > e.qb[i]:
            e.above[i] += 1
        k = _k(e, i)
        while e.above[i] >= k:
            e.qb[i] += 1
            e.above[i] -= e.hist[e.qb[i]]
        while e.qb[i] > 0 and e.above[i] + e.hist[e.qb[i]] < k:
            e.above[i] += e.hist[e.qb[i]]
            e.qb[i] -= 1


cdef int64_t jb_target(const jb_t* j) noexcept nogil:
    return (j.est.anchor + j.est.qb[0]) * JB_BIN_US + j.margin_us


cdef int64_t jb_delay_error(const jb_t* j) noexcept nogil:
    return j.last_p - jb_target(j) if j.has_p else 0


cdef inline int64_t _target_down(const jb_t* j) noexcept nogil:
    return (j.est.anchor + j.est.qb[1]) * JB_BIN_US + j.margin_us


cdef int64_t jb_min_transit(const jb_t* j) noexcept nogil:
    cdef int32_t b
    for b in range(JB_NBINS):
        if j.est.hist[b]:
            return (j.est.anchor + b) * JB_BIN_US
    return 0

# --------------------------------------------------------------------------- state

cdef jb_t* jb_alloc(int64_t clock_rate, int64_t frame_samples, int64_t frame_bytes, int32_t cap,
                    int32_t late_grow, int32_t late_shrink, int64_t margin_us) noexcept nogil:
    cdef jb_t* j = <jb_t*>malloc(sizeof(jb_t))
    cdef int32_t size = 1
    if j == NULL:
        return NULL
    memset(j, 0, sizeof(jb_t))
    while size < cap + 1:
        size <<= 1
    j.ring = <jb_entry_t*>malloc(size * sizeof(jb_entry_t))
    # a call releases at most every buffered packet, the candidate and its own payload
    j.grave = <void**>malloc((size + 8) * sizeof(void*))
    if j.ring == NULL or j.grave == NULL:
        jb_free(j)
        return NULL
    j.rmask = size - 1
    j.clock_rate = clock_rate
    j.fs = frame_samples
    j.frame_us = frame_samples * 1000000 // clock_rate
    j.frame_bytes = frame_bytes
    j.cap = cap
    j.margin_us = margin_us
    j.est.late[0] = late_grow
    j.est.late[1] = late_shrink
    j.jit.clock_rate = <double>clock_rate
    _clear(j)
    return j


cdef void jb_free(jb_t* j) noexcept nogil:
    if j != NULL:
        free(j.ring)
        free(j.grave)
        free(j)


cdef void _clear(jb_t* j) noexcept nogil:
    cdef int32_t i
    for i in range(j.rcount):
        _bury(j, _at(j, i).payload)
    if j.cand_valid:
        _bury(j, j.cand_payload)
    j.started = 0
    j.ssrc = j.origin = 0
    j.hi_ts = j.hi_seq = j.ref_transit = 0
    j.rhead = j.rcount = 0
    for i in range(JB_SEEN):
        j.seen_seq[i] = JB_SEEN_EMPTY
        j.seen_ts[i] = 0
    j.play_ts = 0
    j.playing = 0
    j.lp_seq = j.lp_end = j.lp_span = 0
    j.idle = 0
    j.has_p = 0
    j.last_p = 0
    j.gap_valid = 0
    j.gap_ts = 0
    j.cand_valid = 0
    j.cand_payload = NULL
    j.burst = 0
    j.burst_start = 0
    _est_reset(&j.est)
    rtp_jitter_reset(&j.jit)


cdef void jb_reset(jb_t* j) noexcept nogil:
    _clear(j)
    j.c.resets += 1


cdef void _start(jb_t* j, uint16_t seq, uint32_t ts, int64_t arr_us, uint32_t ssrc) noexcept nogil:
    j.started = 1
    j.ssrc = ssrc
    j.origin = ts
    j.hi_ts = 0
    j.hi_seq = seq
    j.ref_transit = arr_us
    if j.cand_valid:
        _bury(j, j.cand_payload)
    j.cand_valid = 0
    j.cand_payload = NULL


cdef inline int64_t _ext_ts(const jb_t* j, uint32_t ts) noexcept nogil:
    return j.hi_ts + <int32_t>(ts - <uint32_t>(j.hi_ts + j.origin))


cdef inline int _is_start(const jb_t* j, int64_t sext, int64_t ext, int marker) noexcept nogil:
    # a talkspurt start relative to the last played packet: marker, or a timestamp
    # jump of at least a frame that the sequence gap does not explain
    if sext <= j.lp_seq:
        return 0
    if marker:
        return 1
    return ext - (j.lp_end + (sext - j.lp_seq - 1) * j.lp_span) >= j.fs

# --------------------------------------------------------------------------- put

cdef void _record(jb_t* j, int64_t transit, int64_t arr) noexcept nogil:
    cdef int64_t top
    if j.est.n >= JB_CLIP_MIN_N:
        top = jb_target(j) + JB_CLIP_US
        if transit > top:
            # a stall's backlog arrives at once: it must not dominate the window
            if j.burst == 0:
                j.burst_start = arr
            if arr - j.burst_start <= JB_RUN_US:
                if j.burst < JB_BURST_MAX:
                    j.burst += 1
                    _est_add(&j.est, top)
                return
        else:
            j.burst = 0
    _est_add(&j.est, transit)


cdef int _accept(jb_t* j, uint16_t seq, uint32_t ts, int marker, void* payload, int64_t nbytes,
                 int64_t arr) noexcept nogil:
    # takes over the payload reference (stored or buried)
    cdef int64_t n = nbytes // j.frame_bytes if j.frame_bytes else 1
    cdef int64_t F = j.fs
    cdef int64_t ext = _ext_ts(j, ts)
    cdef int64_t sext = j.hi_seq + <int16_t>(<uint16_t>(seq - <uint16_t>j.hi_seq))
    cdef int64_t transit, end, used = 0
    cdef int32_t slot = <int32_t>(sext & (JB_SEEN - 1))
    cdef int32_t i, k
    cdef jb_entry_t* e
    cdef jb_entry_t* prev
    cdef jb_entry_t old
    cdef int result = JB_OK
    j.c.received += 1
    if j.seen_seq[slot] == sext and j.seen_ts[slot] == ext:
        j.c.duplicates += 1
        _bury(j, payload)
        return JB_DUPLICATE
    j.seen_seq[slot] = sext
    j.seen_ts[slot] = ext
    if ext > j.hi_ts:
        j.hi_ts = ext
    if sext > j.hi_seq:
        j.hi_seq = sext
    transit = arr - jb_ts_us(j, ext)
    j.ref_transit = transit
    if j.cand_valid:
        _bury(j, j.cand_payload)
        j.cand_valid = 0
        j.cand_payload = NULL
    rtp_jitter_update(&j.jit, ts, <double>arr / 1000000.0)
    _record(j, transit, arr)
    end = ext + n * F
    if (j.tsm and j.playing and j.gap_valid and j.gap_ts <= ext < j.play_ts
            and jb_ts_us(j, j.play_ts - ext) <= JB_REWIND_US
            and jb_ts_us(j, j.play_ts - j.gap_ts) >= JB_REWIND_MIN_US):
        # nothing was played since its frame was skipped: rewind the playout point and
        # play it late rather than never (the caller accelerates the delay away)
        j.play_ts = ext
    if j.playing and ext < j.play_ts:
        if end <= j.play_ts:
            if _is_start(j, sext, ext, marker) and _first_pending(j, sext):
                # a new talkspurt after a silent gap is never late: its delay is chosen afresh
                j.play_ts = ext
            else:
                j.c.late += 1
                _bury(j, payload)
                return JB_LATE
        else:
            used = (j.play_ts - ext + F - 1) // F   # frames already covered by playout
    # sorted insert (after equal timestamps); overlapping media is a duplicate
    i = j.rcount
    while i > 0 and _at(j, i - 1).ts > ext:
        i -= 1
    if i > 0:
        prev = _at(j, i - 1)
        if prev.ts + prev.n * F > ext:
            j.c.duplicates += 1
            _bury(j, payload)
            return JB_DUPLICATE
    if i < j.rcount and _at(j, i).ts < end:
        j.c.duplicates += 1
        _bury(j, payload)
        return JB_DUPLICATE
    if j.rcount >= j.cap:
        # full: drop the oldest packet (the incoming one if it is the oldest)
        j.c.discarded += 1
        if i == 0:
            _bury(j, payload)
            return JB_OVERFLOW
        old = _at(j, 0)[0]
        _bury(j, old.payload)
        j.rhead = (j.rhead + 1) & j.rmask
        j.rcount -= 1
        i -= 1
        if j.play_ts < old.ts + old.n * F:
            j.play_ts = old.ts + old.n * F
        result = JB_OVERFLOW
    k = j.rcount
    while k > i:
        _at(j, k)[0] = _at(j, k - 1)[0]
        k -= 1
    e = _at(j, i)
    e.ts = ext
    e.seq = sext
    e.n = <int32_t>n
    e.used = <int32_t>used
    e.marker = marker
    e.payload = payload
    j.rcount += 1
    return result


cdef int _first_pending(const jb_t* j, int64_t sext) noexcept nogil:
    # no buffered packet comes between the last played one and sext
    cdef int32_t i
    cdef int64_t q
    for i in range(j.rcount):
        q = j.ring[(j.rhead + i) & j.rmask].seq
        if j.lp_seq < q < sext:
            return 0
    return 1


cdef int jb_put(jb_t* j, uint16_t seq, uint32_t ts, int marker, void* payload,
                int64_t nbytes, int64_t arr_us, uint32_t ssrc) noexcept nogil:
    cdef int64_t n, ext, transit, dts
    cdef int result = JB_OK
    cdef int32_t dseq
    cdef void* payload_c
    j.ngrave = 0
    if j.frame_bytes:
        n = nbytes // j.frame_bytes
        if nbytes == 0 or nbytes % j.frame_bytes or n > JB_MAX_FRAMES:
            j.c.bad += 1
            j.c.discarded += 1
            _bury(j, payload)
            return JB_BAD_SIZE
    elif nbytes == 0:
        j.c.bad += 1
        j.c.discarded += 1
        _bury(j, payload)
        return JB_BAD_SIZE
    if j.started and ssrc != j.ssrc:
        jb_reset(j)
        result = JB_RESET
    if not j.started:
        _start(j, seq, ts, arr_us, ssrc)
    ext = _ext_ts(j, ts)
    transit = arr_us - jb_ts_us(j, ext)
    if _abs64(transit - j.ref_transit) > JB_MAX_SKEW_US or _abs64(ext) > JB_EXT_LIMIT:
        if not marker and j.cand_valid:
            dts = <int32_t>(ts - j.cand_ts)
            dseq = <int16_t>(<uint16_t>(seq - j.cand_seq))
            if (0 < dseq <= JB_CAND_SEQ
                    and _abs64(arr_us - j.cand_arr - jb_ts_us(j, dts)) <= JB_CAND_TOL_US):
                # the jump repeated consistently: a new timeline from the candidate on
                payload_c = j.cand_payload
                j.cand_valid = 0
                j.cand_payload = NULL
                jb_reset(j)
                _start(j, j.cand_seq, j.cand_ts, j.cand_arr, ssrc)
                _accept(j, j.cand_seq, j.cand_ts, j.cand_marker, payload_c, j.cand_nbytes, j.cand_arr)
                _accept(j, seq, ts, marker, payload, nbytes, arr_us)
                return JB_RESET
        if marker:
            # a marked jump: the sender restarted its timeline (e.g. a source change)
            jb_reset(j)
            _start(j, seq, ts, arr_us, ssrc)
            _accept(j, seq, ts, marker, payload, nbytes, arr_us)
            return JB_RESET
        if j.cand_valid:
            _bury(j, j.cand_payload)
        j.cand_valid = 1
        j.cand_seq = seq
        j.cand_ts = ts
        j.cand_marker = marker
        j.cand_payload = payload
        j.cand_nbytes = nbytes
        j.cand_arr = arr_us
        j.c.bad += 1
        j.c.discarded += 1
        return JB_BAD_TIMESTAMP
    n = _accept(j, seq, ts, marker, payload, nbytes, arr_us)
    return result if result == JB_RESET else <int>n

# --------------------------------------------------------------------------- get

cdef inline void _consume(jb_t* j, jb_entry_t* h) noexcept nogil:
    # h is the head entry: one frame of it is used up
    h.used += 1
    j.lp_seq = h.seq
    j.lp_end = h.ts + h.n * j.fs
    j.lp_span = h.n * j.fs
    if h.used == h.n:
        _bury(j, h.payload)
        j.rhead = (j.rhead + 1) & j.rmask
        j.rcount -= 1


cdef void _play(jb_t* j, int64_t fts, jb_frame_t* out) noexcept nogil:
    cdef jb_entry_t* h = _at(j, 0)
    out.kind = JB_FRAME
    out.ts = <uint32_t>(fts + j.origin)
    out.payload = h.payload
    out.index = <int32_t>((fts - h.ts) // j.fs)
    out.whole = h.n == 1
    _consume(j, h)
    j.play_ts = fts + j.fs
    j.playing = 1
    j.idle = 0
    j.gap_valid = 0
    j.c.played += 1


cdef inline void _out(jb_t* j, jb_frame_t* out, int kind, int64_t ts) noexcept nogil:
    out.kind = kind
    out.ts = <uint32_t>(ts + j.origin)
    out.payload = NULL


cdef int jb_ready(jb_t* j) noexcept nogil:
    cdef jb_entry_t* h
    if not j.started or not j.playing or j.rcount == 0:
        return 0
    h = _at(j, 0)
    if h.used == 0 and _is_start(j, h.seq, h.ts, h.marker):
        return 0
    return h.ts + h.used * j.fs < j.play_ts + j.fs


cdef inline void _skip(jb_t* j) noexcept nogil:
    # adapt="tsm": the frame at play_ts goes unplayed; remember where the skipping began
    if not j.gap_valid:
        j.gap_valid = 1
        j.gap_ts = j.play_ts
    j.play_ts += j.fs


cdef void _get_tsm(jb_t* j, int64_t now_us, jb_frame_t* out) noexcept nogil:
    # adapt="tsm": no frame dropped, no SILENCE inserted to adapt (the caller time-scales
    # the audio towards the target); skipped frames that still arrive rewind (jb_put)
    cdef int64_t F = j.fs, ts = j.play_ts, fts
    cdef jb_entry_t* h
    if j.rcount == 0:
        if not j.playing:
            _out(j, out, JB_SILENCE, ts)
            return
        j.idle += 1
        if j.idle > JB_HANGOVER:
            _skip(j)
            _out(j, out, JB_SILENCE, ts)
            return
        j.c.concealed += 1
        j.has_p = 1
        j.last_p = now_us - jb_ts_us(j, ts)
        if j.last_p < jb_target(j):
            j.c.inserted += 1   # hold: the frame may still come
        else:
            _skip(j)
        _out(j, out, JB_MISSING, ts)
        return
    h = _at(j, 0)
    fts = h.ts + h.used * F
    if not j.playing or (h.used == 0 and _is_start(j, h.seq, h.ts, h.marker)):
        if now_us - jb_ts_us(j, fts) >= jb_target(j):
            j.has_p = 1
            j.last_p = now_us - jb_ts_us(j, fts)
            _play(j, fts, out)
            return
        j.idle += 1
        j.play_ts = ts + F if ts + F < fts else fts
        _out(j, out, JB_SILENCE, ts)
        return
    j.has_p = 1
    j.last_p = now_us - jb_ts_us(j, ts)
    if fts < ts + F:
        _play(j, fts, out)
        return
    j.c.concealed += 1
    j.idle += 1
    if j.last_p < jb_target(j):
        j.c.inserted += 1   # hold: it may be reordered, still in flight
    else:
        _skip(j)
    _out(j, out, JB_MISSING, ts)


cdef void jb_get(jb_t* j, int64_t now_us, int quiet, jb_frame_t* out) noexcept nogil:
    cdef int64_t F = j.fs, Fus = j.frame_us
    cdef int64_t ts = j.play_ts, fts, p, target
    cdef jb_entry_t* h
    cdef jb_entry_t* h2
    cdef int shrink
    j.ngrave = 0
    if not j.started:
        out.kind = JB_SILENCE
        out.ts = 0
        out.payload = NULL
        return
    if j.tsm:
        _get_tsm(j, now_us, out)
        return
    if j.rcount == 0:
        if not j.playing:
            _out(j, out, JB_SILENCE, ts)
            return
        j.idle += 1
        if j.idle > JB_HANGOVER:
            j.play_ts += F      # the sender has probably gone quiet
            _out(j, out, JB_SILENCE, ts)
            return
        j.c.concealed += 1
        if now_us - jb_ts_us(j, ts) < jb_target(j):
            j.c.inserted += 1   # hold: the frame may still come
        else:
            j.play_ts += F
        _out(j, out, JB_MISSING, ts)
        return
    h = _at(j, 0)
    fts = h.ts + h.used * F
    target = jb_target(j)
    if not j.playing or (h.used == 0 and _is_start(j, h.seq, h.ts, h.marker)):
        # talkspurt start: the head plays at the first tick at or above the target
        if now_us - jb_ts_us(j, fts) >= target:
            _play(j, fts, out)
            return
        j.idle += 1
        j.play_ts = ts + F if ts + F < fts else fts
        _out(j, out, JB_SILENCE, ts)
        return
    p = now_us - jb_ts_us(j, ts)
    shrink = p - Fus >= _target_down(j) + (0 if quiet else JB_DROP_LOUD * Fus)
    if fts < ts + F:
        if shrink:
            # one frame less delay stays safe: drop the due frame, play the next
            if h.used + 1 < h.n:
                j.c.dropped += 1
                _consume(j, h)
                _play(j, fts + F, out)
                return
            if j.rcount > 1:
                h2 = _at(j, 1)
                if h2.ts == fts + F:
                    j.c.dropped += 1
                    _consume(j, h)
                    _play(j, fts + F, out)
                    return
        if quiet and p < target and j.rcount < j.cap:
            j.c.inserted += 1
            j.idle += 1
            _out(j, out, JB_SILENCE, ts)
            return
        _play(j, fts, out)
        return
    # the frame at play_ts is missing but later ones are here
    if p < target:
        # hold: it may be reordered, still in flight
        j.c.concealed += 1
        j.c.inserted += 1
        j.idle += 1
        _out(j, out, JB_MISSING, ts)
        return
    if fts < ts + 2 * F and p - Fus >= _target_down(j):
        # skip a lost frame instead of concealing it when one frame less delay is safe
        j.c.dropped += 1
        j.play_ts = ts + F
        _play(j, fts, out)
        return
    j.c.concealed += 1
    j.idle += 1
    j.play_ts = ts + F
    _out(j, out, JB_MISSING, ts)
