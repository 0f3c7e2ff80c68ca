"""The adaptive jitter buffer (:mod:`_media.jitter`).

* behaviour on scripted network conditions, asserted on the output stream (order,
  no duplicate playout, concealment counts, delay bounds): reordering, duplicates,
  loss, late packets, sequence/timestamp wraps, SSRC change, talkspurts and DTX,
  a stall burst, clock drift, jittersize and maxjitterpackets, bad input;
* the Cython kernel against the pure-Python reference (:mod:`_media.reference.jitter`)
  on random traces: identical output streams and counters.
"""
from __future__ import annotations

import dataclasses
import random
import sys

import numpy as np
import pytest

from _media import jitter as K
from _media.reference import jitter as R
from _media.rtp import build as rtp_build
from _media.jitter import JitterBuffer, Kind, PutResult

FS = 160            # 20 ms at 8 kHz
FRAME_S = 0.02
TS0 = 1000
SEQ0 = 100


def payload(i: int, n: int = FS) -> bytes:
    """A frame whose bytes say which frame it is."""
    return (i & 0xFFFFFFFF).to_bytes(4, "big") * (n // 4)


def index_of(data: bytes) -> int:
    return int.from_bytes(data[:4], "big")


def packets(n, *, seq0=SEQ0, ts0=TS0, transit=0.04, jitter=None, ssrc=0, t0=0.0):
    """n packets of one frame: (arrival, seq, ts, marker, payload, ssrc), sent every 20 ms."""
    out = []
    for i in range(n):
        d = transit + (jitter[i] if jitter is not None else 0.0)
        out.append([t0 + i * FRAME_S + d, (seq0 + i) & 0xFFFF, (ts0 + i * FS) & 0xFFFFFFFF,
                    i == 0, payload(i), ssrc])
    return out


def play(jb, pkts, *, ticks=None, t0=0.0101, quiet=lambda tick: False, results=None):
    """Feed ``pkts`` (sorted by arrival) and tick every 20 ms; returns [(now, kind, data, ts)]."""
    pkts = sorted(pkts, key=lambda p: p[0])
    if ticks is None:
        ticks = int((pkts[-1][0] - t0) / FRAME_S) + 40
    out, k = [], 0
    for tick in range(ticks):
        now = t0 + tick * FRAME_S
        while k < len(pkts) and pkts[k][0] <= now:
            a, seq, ts, m, data, ssrc = pkts[k]
            r = jb.put(seq, ts, m, data, a, ssrc)
            if results is not None:
                results.append(r)
            k += 1
        kind, data, ts = jb.get(now, quiet(tick))
        out.append((now, kind, data, ts))
    return out


def frames(out):
    return [index_of(d) for _, k, d, _ in out if k == Kind.FRAME]


def inner(out):
    """The ticks from the first to the last frame played (the tail after the stream ends
    holds HANGOVER MISSING ticks, as any buffer that cannot know the stream has ended)."""
    f = [i for i, o in enumerate(out) if o[1] == Kind.FRAME]
    return out[f[0]:f[-1] + 1]


def concealed(out):
    return sum(1 for o in inner(out) if o[1] == Kind.MISSING)


def assert_in_order(idx):
    assert idx == sorted(idx), "frames played out of order"
    assert len(idx) == len(set(idx)), "a frame played twice"


# --------------------------------------------------------------------------- API

def test_enums_and_defaults():
    assert [int(r) for r in PutResult] == list(range(8))
    assert [r.name for r in PutResult] == ["OK", "DUPLICATE", "LATE", "BAD_SIZE", "BAD_TIMESTAMP",
                                           "BAD_PACKET", "OVERFLOW", "RESET"]
    assert [k.name for k in Kind] == ["FRAME", "MISSING", "SILENCE"]
    jb = JitterBuffer()
    assert (jb.clock_rate, jb.frame_samples, jb.frame_bytes, jb.jittersize, jb.maxjitterpackets) == \
        (8000, 160, 0, 3, 99)
    assert K.PARAMS == R.PARAMS
    assert K._TUNING == {name: getattr(R, name) for name in K._TUNING}
    assert jb.get(1.0) == (Kind.SILENCE, None, 0)     # before the first packet
    s = jb.stats
    assert dataclasses.asdict(s) == R.JitterBuffer().stats


@pytest.mark.parametrize("kw,exc", [
    (dict(clock_rate="8000"), TypeError), (dict(clock_rate=8000.0), TypeError),
    (dict(clock_rate=0), ValueError), (dict(frame_samples=0), ValueError),
    (dict(frame_samples=80000), ValueError), (dict(jittersize=7), ValueError),
    (dict(jittersize=-1), ValueError), (dict(maxjitterpackets=0), ValueError),
    (dict(maxjitterpackets=5000), ValueError), (dict(frame_bytes=-1), ValueError),
    (dict(jittersize=None), TypeError), (dict(adapt=1), TypeError), (dict(adapt="drop"), ValueError),
])
def test_constructor_errors(kw, exc):
    for cls in (JitterBuffer, R.JitterBuffer):
        with pytest.raises(exc):
            cls(**kw)


@pytest.mark.parametrize("args,exc", [
    (("1", 0, False, b"x", 0.0), TypeError), ((1.0, 0, False, b"x", 0.0), TypeError),
    ((1, None, False, b"x", 0.0), TypeError), ((1, 0, None, b"x", 0.0), TypeError),
    ((1, 0, 1.5, b"x", 0.0), TypeError), ((1, 0, False, "text", 0.0), TypeError),
    ((1, 0, False, 12, 0.0), TypeError), ((1, 0, False, None, 0.0), TypeError),
    ((1, 0, False, b"x", "0.0"), TypeError), ((1, 0, False, b"x", None), TypeError),
    ((70000, 0, False, b"x", 0.0), ValueError), ((-1, 0, False, b"x", 0.0), ValueError),
    ((1, 2**32, False, b"x", 0.0), ValueError), ((1, 2**80, False, b"x", 0.0), ValueError),
    ((1, 0, False, b"x", float("nan")), ValueError), ((1, 0, False, b"x", float("inf")), ValueError),
])
def test_put_argument_errors(args, exc):
    for cls in (JitterBuffer, R.JitterBuffer):
        jb = cls()
        with pytest.raises(exc):
            jb.put(*args)
        with pytest.raises(exc):
            jb.put(1, 0, False, b"x", 0.0, *(("s",) if exc is TypeError else (2**32,)))
    jb = JitterBuffer()
    with pytest.raises(TypeError):
        jb.get("now")
    with pytest.raises(TypeError):
        jb.get(0.0, quiet="yes")
    with pytest.raises(TypeError):
        jb.put_rtp("not bytes", 0.0)
    with pytest.raises(ValueError):
        jb.get(float("nan"))


def test_payload_types_accepted():
    jb = JitterBuffer(frame_bytes=4)
    arr = np.frombuffer(b"abcdefgh", np.uint8)
    assert jb.put(1, 0, True, bytearray(b"abcd"), 0.0) == PutResult.OK
    assert jb.put(2, FS, False, memoryview(b"efgh"), 0.0) == PutResult.OK
    assert jb.put(3, 2 * FS, np.True_, arr[::2], 0.0) == PutResult.OK   # non-contiguous: copied
    outs = [jb.get(i * FRAME_S) for i in range(3)]
    assert [o[1] for o in outs] == [b"abcd", b"efgh", b"aceg"]


# --------------------------------------------------------------------------- behaviour

def test_clean_stream_minimal_delay():
    jb = JitterBuffer()
    out = play(jb, packets(200))
    idx = frames(out)
    assert idx == list(range(200))
    st = jb.stats
    assert concealed(out) == 0 and st.late == 0 and st.played == 200
    assert st.concealed == R.HANGOVER     # after the last frame
    delays = [now - (i * FRAME_S) for (now, k, d, _), i in zip([o for o in out if o[1] == Kind.FRAME], idx)]
    # constant 40 ms transit: played at the first tick after arrival
    assert max(delays) == pytest.approx(min(delays)) and 0.04 <= min(delays) < 0.04 + FRAME_S


def test_reordering_plays_in_order():
    # every 5th packet is 30 ms slow, so it arrives after its successor
    pk = packets(600)
    for i in range(0, 600, 5):
        pk[i][0] += 0.03
    jb = JitterBuffer()
    out = play(jb, pk)
    idx = frames(out)
    assert_in_order(idx)
    # the first slow packets teach the buffer to wait (they may be late); then all play
    assert [i for i in range(600) if i not in idx] == [i for i in range(0, 600, 5) if i < 50][:len(
        [i for i in range(600) if i not in idx])]
    assert set(range(50, 600)) <= set(idx)
    assert jb.stats.late <= 3
    assert sum(1 for o in inner(out)[60:] if o[1] != Kind.FRAME) == 0


def test_duplicates_counted_never_played_twice():
    pk = packets(200)
    dups = [list(p) for p in pk[::3]]
    for p in dups:
        p[0] += 0.005
    res = []
    jb = JitterBuffer()
    out = play(jb, pk + dups, results=res)
    idx = frames(out)
    assert idx == list(range(200))
    assert res.count(PutResult.DUPLICATE) == len(dups) == jb.stats.duplicates
    # a duplicate arriving long after its frame was played is a duplicate too, not late
    assert jb.put(pk[0][1], pk[0][2], False, pk[0][4], 10.0) == PutResult.DUPLICATE


def test_loss_conceals_at_the_right_ticks():
    rng = np.random.default_rng(5)
    pk = packets(500, jitter=list(rng.uniform(0, 0.015, 500)))
    lost = set(range(40, 500, 23)) | {100, 101, 102}
    jb = JitterBuffer()
    out = play(jb, [p for i, p in enumerate(pk) if i not in lost])
    idx = frames(out)
    assert_in_order(idx)
    assert set(idx) == set(range(500)) - lost
    missing_ts = [ts for _, k, _, ts in inner(out) if k == Kind.MISSING]
    assert sorted((t - TS0) // FS for t in missing_ts) == sorted(lost)
    assert jb.stats.concealed == len(lost) + R.HANGOVER and jb.stats.late == 0


def test_late_packets_dropped_never_out_of_order():
    pk = packets(400)
    late_ones = [50, 120, 121, 300]
    for i in late_ones:
        pk[i][0] += 0.5                 # arrives long after its playout time
    res = []
    jb = JitterBuffer()
    out = play(jb, pk, results=res)
    idx = frames(out)
    assert_in_order(idx)
    assert set(idx) == set(range(400)) - set(late_ones)
    assert res.count(PutResult.LATE) == len(late_ones) == jb.stats.late
    # the gaps were concealed (a burst of late packets ends in SILENCE after the hangover)
    assert jb.stats.concealed >= 3


def test_sequence_and_timestamp_wrap():
    pk = packets(300, seq0=65500, ts0=2**32 - 100 * FS + 7, jitter=list(np.random.default_rng(1).uniform(0, 0.01, 300)))
    jb = JitterBuffer()
    out = play(jb, pk)
    played = [(index_of(d), ts) for _, k, d, ts in out if k == Kind.FRAME]
    assert [i for i, _ in played] == list(range(300))
    assert all(ts == (2**32 - 100 * FS + 7 + i * FS) & 0xFFFFFFFF for i, ts in played)
    assert concealed(out) == 0 and jb.stats.late == 0


def test_ssrc_change_resets_and_new_stream_plays_from_first_packet():
    a = packets(100, ssrc=1)
    b = packets(100, seq0=7, ts0=99999, ssrc=2, t0=3.0)
    for i, p in enumerate(b):
        p[4] = payload(1000 + i)
    res = []
    jb = JitterBuffer()
    out = play(jb, a + b, results=res)
    idx = frames(out)
    assert idx == list(range(100)) + list(range(1000, 1100))
    assert res[100] == PutResult.RESET and res.count(PutResult.RESET) == 1
    assert jb.stats.resets == 1


def test_dtx_gap_is_silence_and_talkspurt_rechooses_delay():
    # spurt 1: 100 frames; 2 s of DTX (timestamps jump, no sequence gap, marker); spurt 2
    # arrives 60 ms later than spurt 1 did (a slower path): its delay is chosen afresh
    s1 = packets(100, transit=0.04)
    s2 = packets(100, seq0=SEQ0 + 100, ts0=TS0 + 200 * FS, transit=0.10, t0=4.0)
    for i, p in enumerate(s2):
        p[3] = i == 0
        p[4] = payload(200 + i)
    res = []
    jb = JitterBuffer()
    out = play(jb, s1 + s2, results=res)
    assert frames(out) == list(range(100)) + list(range(200, 300))
    assert PutResult.LATE not in res
    gap = [k for now, k, _, _ in out if 2.1 < now < 4.0]
    assert gap.count(Kind.MISSING) <= R.HANGOVER and gap.count(Kind.SILENCE) >= len(gap) - R.HANGOVER
    assert concealed(out) <= R.HANGOVER
    d2 = [now - (4.0 + (index_of(d) - 200) * FRAME_S) for now, k, d, _ in out
          if k == Kind.FRAME and index_of(d) >= 200]
    assert 0.10 <= min(d2) and max(d2) < 0.10 + FRAME_S


def test_talkspurt_start_behind_the_playout_point_is_not_late():
    # the first packet of spurt 2 is slower than the playout point (which ran on through
    # the DTX gap): it is a talkspurt start, so it plays (its delay is re-chosen)
    s1 = packets(50, transit=0.04)
    s2 = packets(50, seq0=SEQ0 + 50, ts0=TS0 + 100 * FS, transit=0.30, t0=2.0)
    for i, p in enumerate(s2):
        p[3] = i == 0
        p[4] = payload(100 + i)
    res = []
    jb = JitterBuffer()
    out = play(jb, s1 + s2, results=res)
    assert frames(out) == list(range(50)) + list(range(100, 150))
    assert jb.stats.late == 0


def test_stall_burst_resynchronises():
    # 2 s with no packets, then the whole backlog at once (0.1 ms apart)
    rng = np.random.default_rng(3)
    n = 1500
    pk = sorted(packets(n, jitter=list(rng.uniform(0, 0.01, n))), key=lambda p: p[0])
    stall0, stall1 = 10.0, 12.0
    k = 0
    for p in pk:
        if stall0 <= p[0] < stall1:
            p[0] = stall1 + k * 1e-4
            k += 1
    jb = JitterBuffer()
    res, out, target = [], [], {}
    j = 0
    for tick in range(n + 40):
        now = 0.0101 + tick * FRAME_S
        while j < n and pk[j][0] <= now:
            res.append(jb.put(*pk[j][1:5], pk[j][0]))
            j += 1
        out.append((now,) + jb.get(now))
        target[tick] = jb.stats.target_delay_ms
    st = jb.stats
    # the stale part of the backlog is late and dropped; what is still in time plays
    assert 80 <= st.late <= k and st.late == res.count(PutResult.LATE)
    idx = frames(out)
    assert_in_order(idx)
    after = [kind for now, kind, _, _ in out if now >= stall1]
    first_frame = after.index(Kind.FRAME)
    assert first_frame <= 3, "playout did not resynchronise within a few frames"
    assert after[first_frame:first_frame + 200].count(Kind.FRAME) >= 195
    # the delay after the stall is the delay before it, and the target hardly moved
    delay = {index_of(d): now - (index_of(d) * FRAME_S) for now, kk, d, _ in out if kk == Kind.FRAME}
    pre = np.mean([delay[i] for i in range(300, 480) if i in delay])
    post = np.mean([delay[i] for i in range(700, 900) if i in delay])
    assert abs(post - pre) <= FRAME_S + 1e-9
    t_before, t_after = target[int(stall0 / FRAME_S) - 1], target[int(stall1 / FRAME_S) + 50]
    assert t_after <= t_before + 10.0, (t_before, t_after)
    assert max(target[t] for t in range(int(stall1 / FRAME_S), n)) < t_before + 40.0


@pytest.mark.parametrize("ppm", [200, -200])
def test_clock_drift_bounded_by_quiet_adaptation(ppm):
    # 10 minutes of continuous speech, sender clock off by ppm; every 25th tick is quiet
    n = 30000
    rng = np.random.default_rng(7)
    rate = 1 + ppm * 1e-6
    jb = JitterBuffer()
    jit = rng.uniform(0, 0.01, n)
    arrivals = np.arange(n) * FRAME_S / rate + 0.04 + jit
    order = np.argsort(arrivals, kind="stable")
    k = 0
    delays, events = [], []
    last = (0, 0)
    for tick in range(n + 50):
        now = 0.0101 + tick * FRAME_S
        while k < n and arrivals[order[k]] <= now:
            i = int(order[k])
            jb.put((SEQ0 + i) & 0xFFFF, (TS0 + i * FS) & 0xFFFFFFFF, i == 0, payload(i), float(arrivals[i]))
            k += 1
        quiet = tick % 25 == 0
        kind, data, ts = jb.get(now, quiet)
        st = jb.stats
        if (st.dropped_for_adaptation, st.inserted_for_adaptation) != last:
            events.append((tick, quiet, kind))
            last = (st.dropped_for_adaptation, st.inserted_for_adaptation)
        if kind == Kind.FRAME:
            i = index_of(data)
            delays.append(now - i * FRAME_S / rate)
    st = jb.stats
    # the grow target tolerates 3% late over the window; drift keeps nudging it up
    assert st.late <= 0.01 * n and st.played + st.late + st.dropped_for_adaptation == n
    # 120 ms of drift was absorbed, one frame at a time, at quiet ticks
    assert (st.dropped_for_adaptation if ppm > 0 else st.inserted_for_adaptation) >= 4
    assert all(q for t, q, kk in events if t > 500 and kk != Kind.MISSING)
    d = np.array(delays[3000:])
    assert d.max() - d.min() <= 3 * FRAME_S
    assert np.mean(d) < 0.04 + 0.01 + 2 * FRAME_S


def _jittery(n, sigma, seed):
    rng = np.random.default_rng(seed)
    return packets(n, jitter=list(np.abs(rng.normal(0, sigma, n))))


@pytest.mark.parametrize("sigma", [0.01, 0.03])
def test_jittersize_orders_delay_and_late_loss(sigma):
    res = {}
    for js in range(7):
        jb = JitterBuffer(jittersize=js)
        out = play(jb, _jittery(3000, sigma, 11))
        idx = frames(out)
        assert_in_order(idx)
        d = [now - i * FRAME_S for (now, k, dd, _), i in zip([o for o in out if o[1] == Kind.FRAME], idx)]
        res[js] = (np.mean(d), jb.stats.late)
    delays = [res[js][0] for js in range(7)]
    lates = [res[js][1] for js in range(7)]
    assert delays[0] < delays[3] < delays[6]
    assert lates[0] > lates[3] >= lates[6]
    assert lates[3] <= 0.03 * 3000
    assert all(delays[i] <= delays[i + 1] + 0.005 for i in range(6))
    # jittersize 0: about the median transit (no buffering beyond it)
    assert delays[0] < 0.04 + sigma + FRAME_S


def test_maxjitterpackets_drops_oldest():
    jb = JitterBuffer(maxjitterpackets=3)
    res = [jb.put(SEQ0 + i, TS0 + i * FS, i == 0, payload(i), 0.0) for i in range(10)]
    assert res[:3] == [PutResult.OK] * 3 and res[3:] == [PutResult.OVERFLOW] * 7
    assert jb.stats.buffered_packets == 3 and jb.stats.discarded == 7
    got = [jb.get(0.0101 + t * FRAME_S) for t in range(20)]
    assert [index_of(d) for k, d, _ in got if k == Kind.FRAME] == [7, 8, 9]
    # an incoming packet older than everything buffered is the one dropped
    jb = JitterBuffer(maxjitterpackets=2)
    jb.put(10, 10 * FS, True, payload(10), 0.0)
    jb.put(11, 11 * FS, False, payload(11), 0.0)
    assert jb.put(9, 9 * FS, False, payload(9), 0.0) == PutResult.OVERFLOW
    got = [jb.get(0.0101 + t * FRAME_S) for t in range(5)]
    assert [index_of(d) for k, d, _ in got if k == Kind.FRAME] == [10, 11]


def test_maxjitterpackets_bounds_buffer_under_jitter():
    for cap in (2, 5):
        jb = JitterBuffer(maxjitterpackets=cap, jittersize=6)
        seen = []
        pk = sorted(_jittery(1000, 0.05, 2), key=lambda p: p[0])
        k = 0
        for tick in range(1100):
            now = 0.0101 + tick * FRAME_S
            while k < len(pk) and pk[k][0] <= now:
                jb.put(*pk[k][1:4], pk[k][4], pk[k][0])
                seen.append(jb.stats.buffered_packets)
                k += 1
            jb.get(now)
        assert max(seen) <= cap


def test_bad_input_counted_never_raised():
    jb = JitterBuffer(frame_bytes=160)
    good = packets(50)
    for p in good[:10]:
        jb.put(p[1], p[2], p[3], p[4], p[0])
    assert jb.put(500, 10 * FS + TS0, False, b"", 0.3) == PutResult.BAD_SIZE
    assert jb.put(500, 10 * FS + TS0, False, b"x" * 161, 0.3) == PutResult.BAD_SIZE
    for junk in (b"", b"\x80", b"\x00" * 12, b"\x80\x00" + b"\x00" * 5, b"\x8f" + b"\x00" * 20,
                 bytes(range(256))):
        assert jb.put_rtp(junk, 0.3) == PutResult.BAD_PACKET
    rnd = random.Random(9)
    for _ in range(2000):
        r = jb.put_rtp(bytes(rnd.randrange(256) for _ in range(rnd.randrange(40))), rnd.uniform(0, 1))
        assert isinstance(r, PutResult)
        jb.get(rnd.uniform(0, 1), rnd.random() < 0.5)
    st = jb.stats
    assert st.bad >= 8 and st.discarded >= st.bad


def test_absurd_timestamp_then_consistent_repeat_is_a_new_stream():
    jb = JitterBuffer()
    pk = packets(100)
    play(jb, pk[:50], ticks=50)
    hours = 3 * 3600 * 8000
    # one packet jumps by three hours without a marker: rejected
    assert jb.put(SEQ0 + 50, (TS0 + 50 * FS + hours) & 0xFFFFFFFF, False, payload(50), 1.05) \
        == PutResult.BAD_TIMESTAMP
    # the stream goes on normally: the candidate is forgotten
    assert jb.put(SEQ0 + 51, TS0 + 51 * FS, False, payload(51), 1.07) == PutResult.OK
    assert jb.put(SEQ0 + 52, (TS0 + 52 * FS + hours) & 0xFFFFFFFF, False, payload(52), 1.09) \
        == PutResult.BAD_TIMESTAMP
    # the jump repeats consistently: a new timeline starting at the candidate
    assert jb.put(SEQ0 + 53, (TS0 + 53 * FS + hours) & 0xFFFFFFFF, False, payload(53), 1.11) \
        == PutResult.RESET
    got = [jb.get(1.12 + t * FRAME_S) for t in range(4)]
    assert [index_of(d) for k, d, _ in got if k == Kind.FRAME][:2] == [52, 53]
    # a marked jump is a new timeline at once
    assert jb.put(SEQ0 + 54, 12345, True, payload(54), 1.2) == PutResult.RESET
    st = jb.stats
    assert st.bad == 2 and st.resets == 2


def test_put_rtp_equals_put():
    a, b = JitterBuffer(frame_bytes=160), JitterBuffer(frame_bytes=160)
    pk = _jittery(300, 0.02, 4)
    pk.sort(key=lambda p: p[0])
    k = 0
    for tick in range(340):
        now = 0.0101 + tick * FRAME_S
        while k < len(pk) and pk[k][0] <= now:
            t, seq, ts, m, data, ssrc = pk[k]
            ra = a.put(seq, ts, m, data, t, 0x1234)
            rb = b.put_rtp(rtp_build(0, seq, ts, 0x1234, data, marker=m, csrcs=[5], padding=3), t)
            assert ra == rb
            k += 1
        assert a.get(now) == b.get(now)
    assert a.stats == b.stats


def test_multi_frame_packets_split():
    jb = JitterBuffer(frame_bytes=160)
    for i in range(0, 60, 3):   # 60 ms packets of three 20 ms frames
        data = b"".join(payload(i + f) for f in range(3))
        assert jb.put(SEQ0 + i // 3, TS0 + i * FS, i == 0, data, i * FRAME_S + 0.06) == PutResult.OK
    out = [jb.get(0.0601 + t * FRAME_S) for t in range(70)]
    got = [(index_of(d), ts) for k, d, ts in out if k == Kind.FRAME]
    assert got == [(i, TS0 + i * FS) for i in range(60)]
    assert all(len(d) == 160 for k, d, _ in out if k == Kind.FRAME)


def test_overlapping_media_is_a_duplicate():
    for cls in (JitterBuffer, R.JitterBuffer):
        jb = cls(frame_bytes=160)
        assert jb.put(10, 2 * FS, True, payload(2), 0.0) == PutResult.OK
        # a 3-frame packet ending inside the buffered one, and one starting inside it
        assert jb.put(9, 0, False, payload(0) * 3, 0.0) == PutResult.DUPLICATE
        assert jb.put(11, 2 * FS, False, payload(7), 0.0) == PutResult.DUPLICATE
        assert jb.put(12, 3 * FS, False, payload(3), 0.0) == PutResult.OK
        st = jb.stats
        assert (st["duplicates"] if isinstance(st, dict) else st.duplicates) == 2


def test_reset_keeps_counters_and_releases_payloads():
    data = bytes(bytearray(b"\x11" * 160))
    base = sys.getrefcount(data)
    jb = JitterBuffer()
    for i in range(20):
        jb.put(i, i * FS, False, data, 0.0)
    assert sys.getrefcount(data) == base + 20
    jb.reset()
    assert sys.getrefcount(data) == base
    assert jb.stats.received == 20 and jb.stats.resets == 1 and jb.stats.buffered_packets == 0
    assert jb.get(1.0) == (Kind.SILENCE, None, 0)
    for i in range(20):
        jb.put(i, i * FS, False, data, 0.0)
    del jb
    assert sys.getrefcount(data) == base


# --------------------------------------------------------------------------- kernel == reference

def random_trace(seed):
    """A hostile mix: jitter, loss, reorder, duplicates and overlapping resends, DTX gaps,
    SSRC and timeline jumps, bad sizes, RTP and junk bytes through put_rtp, multi-frame
    packets; returns (kwargs, events sorted by arrival, rng)."""
    rng = random.Random(seed)
    fb = rng.choice([0, 0, 160, 80])
    kw = dict(clock_rate=8000, frame_samples=160, frame_bytes=fb, jittersize=rng.randrange(7),
              maxjitterpackets=rng.choice([99, 99, 4, 16, 1]))
    ev = []
    t, seq, ts, ssrc = 0.0, rng.randrange(65536), rng.randrange(2**32), rng.randrange(2**32)
    sigma = rng.choice([0.0, 0.005, 0.02, 0.06])
    for i in range(rng.randrange(300, 1500)):
        nfr = rng.choice([1, 1, 1, 2, 3]) if fb else 1
        marker = False
        if rng.random() < 0.01:     # DTX gap
            ts += rng.randrange(5, 100) * 160
            t += rng.uniform(0.1, 2.0)
            marker = rng.random() < 0.8
        if rng.random() < 0.002:
            ssrc = rng.randrange(2**32)
            seq, ts = rng.randrange(65536), rng.randrange(2**32)
        jump = rng.random() < 0.003
        pts = (ts + rng.randrange(2**20, 2**31)) & 0xFFFFFFFF if jump else ts
        size = (fb * nfr if fb else rng.randrange(1, 200))
        if rng.random() < 0.01:
            size = rng.choice([0, max(1, size - 1), size + 1])
        arr = t + 0.03 + abs(rng.gauss(0, sigma)) + (rng.uniform(0.5, 2.5) if rng.random() < 0.002 else 0)
        data = bytes([i & 0xFF]) * size
        pkt = (seq & 0xFFFF, pts, marker, data, ssrc)
        if rng.random() > 0.03:     # not lost
            ev.append((arr, "rtp" if rng.random() < 0.1 else "put", pkt))
            if rng.random() < 0.02:     # a duplicate
                ev.append((arr + rng.uniform(0, 0.1), "put", pkt))
            if rng.random() < 0.01:     # the same media resent under another sequence number
                ev.append((arr + rng.uniform(0, 0.1), "put", ((seq + 7) & 0xFFFF,) + pkt[1:]))
        if rng.random() < 0.005:
            ev.append((arr, "rtp", None))
        seq += 1
        ts += 160 * nfr
        t += 0.02 * nfr
    ev.sort(key=lambda e: e[0])
    out = []
    for arr, kind, pkt in ev:
        if kind == "rtp":
            if pkt is None:
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(30)))
            else:
                s_, ts_, m_, d_, ssrc_ = pkt
                data = rtp_build(8, s_, ts_, ssrc_, d_, marker=m_, padding=rng.choice([0, 0, 4]))
            out.append((arr, kind, data))
        else:
            out.append((arr, kind, pkt))
    return kw, out, rng


@pytest.mark.parametrize("adapt", ["frame", "tsm"])
@pytest.mark.parametrize("seed", range(40))
def test_kernel_equals_reference(seed, adapt):
    kw, ev, rng = random_trace(seed)
    kw["adapt"] = adapt
    a, b = JitterBuffer(**kw), R.JitterBuffer(**kw)
    k = 0
    now = ev[0][0] + rng.uniform(-0.05, 0.05)
    end = ev[-1][0] + 1.0
    while now < end:
        while k < len(ev) and ev[k][0] <= now:
            arr, kind, x = ev[k]
            if kind == "rtp":
                ra, rb = a.put_rtp(x, arr), b.put_rtp(x, arr)
            else:
                ra, rb = a.put(*x[:4], arr, x[4]), b.put(*x[:4], arr, x[4])
            assert ra == rb, (seed, k)
            k += 1
        q = rng.random() < 0.1
        assert a.ready == b.ready, (seed, now)
        ga, gb = a.get(now, q), b.get(now, q)
        assert ga == gb, (seed, now)
        assert a.delay_error_ms == b.delay_error_ms, (seed, now)
        if rng.random() < 0.002:
            a.reset()
            b.reset()
        now += 0.02 + rng.uniform(-0.002, 0.002)
    assert dataclasses.asdict(a.stats) == b.stats


# --------------------------------------------------------------------------- adapt="tsm"

def test_tsm_mode_never_drops_or_inserts_silence_to_adapt():
    # a stream whose delay first needs to grow, then could shrink a lot: frame mode drops
    # frames and inserts silence; tsm mode only reports the error
    rng = np.random.default_rng(5)
    jit = np.concatenate([np.abs(rng.normal(0, 0.04, 300)), np.abs(rng.normal(0, 0.002, 700))])
    pk = packets(1000, jitter=list(jit))
    jb = JitterBuffer(8000, FS, adapt="tsm")
    out = play(jb, pk, quiet=lambda t: True)
    idx = frames(out)
    assert_in_order(idx)
    # every frame either played or arrived after it was given up (late): none dropped
    assert len(idx) + jb.stats.late == 1000
    assert jb.stats.dropped_for_adaptation == 0
    assert jb.delay_error_ms > 20                   # the jitter went away: shrink by TSM
    ref = JitterBuffer(8000, FS)
    play(ref, pk, quiet=lambda t: True)
    assert ref.stats.dropped_for_adaptation > 0


def test_tsm_delay_error_sign_and_ready():
    jb = JitterBuffer(8000, FS, adapt="tsm")
    assert jb.delay_error_ms == 0.0 and not jb.ready
    for a, seq, ts, m, data, ssrc in packets(50):
        jb.put(seq, ts, m, data, a)
    assert not jb.ready                             # a talkspurt start waits for the target
    kind, _, _ = jb.get(0.04)
    assert kind == Kind.FRAME and jb.ready
    # pulled late (a larger playout offset) the error grows by that much
    e0 = jb.delay_error_ms
    jb.get(0.04 + FRAME_S + 0.1)
    assert jb.delay_error_ms == pytest.approx(e0 + 100, abs=0.01)
    jb.get(0.04 + 2 * FRAME_S - 0.01)
    assert jb.delay_error_ms == pytest.approx(e0 - 10, abs=0.01)


def test_tsm_stall_backlog_rewinds_and_plays():
    # 1 s stall: frame mode drops the backlog as late, tsm mode rewinds and plays it all
    pk = packets(200)
    for p in pk[50:100]:
        p[0] = 1.0 + 0.04 + 50 * FRAME_S + (p[2] - pk[50][2]) * 1e-7
    for adapt, want_late in (("frame", True), ("tsm", False)):
        jb = JitterBuffer(8000, FS, adapt=adapt)
        idx = frames(play(jb, pk, ticks=320))
        assert_in_order(idx)
        assert (jb.stats.late > 40) == want_late, adapt
        if adapt == "tsm":
            assert idx == list(range(200))


def test_tsm_single_late_packet_is_late_not_rewound():
    # one frame concealed and skipped then arriving: no rewind for a lone straggler
    pk = packets(100)
    pk[40][0] += 0.2
    jb = JitterBuffer(8000, FS, adapt="tsm")
    out = play(jb, pk)
    idx = frames(out)
    assert_in_order(idx)
    assert 40 not in idx and jb.stats.late == 1
