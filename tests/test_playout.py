"""The per-stream receive path (:class:`_media.playout.Playout`).

Driven like the media engine drives it: packets put as they arrive, one ``tick`` per
20 ms of the receiver clock. Audio is a synthetic voiced signal (150 Hz harmonics in
200 ms "syllables" with 100 ms pauses), carried as raw int16 payloads so the test
can tell every output sample's origin.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from _media import g711
from _media.concealment import SilenceConcealer
from _media.jitter import Kind, PutResult
from _media.playout import Playout, PlayoutStats
from _media.rtp import build as rtp_build

RATE = 8000
F = 160
FRAME_S = 0.02
TS0 = 4_000_000_000         # crosses the 32-bit timestamp wrap after ~37 s


def voiced(n_frames: int) -> np.ndarray:
    t = np.arange(n_frames * F) / RATE
    x = sum(np.sin(2 * np.pi * 150 * h * t + h) / h for h in range(1, 6))
    env = ((t % 0.3) < 0.2).astype(np.float64)
    return np.round(6000 * x * env).astype(np.int16)


def raw(payload) -> np.ndarray:
    return np.frombuffer(payload, np.int16)


def make(**kw) -> Playout:
    kw.setdefault("decoder", raw)
    kw.setdefault("frame_bytes", 2 * F)
    return Playout(RATE, F, **kw)


def run(po: Playout, n_frames: int, arrival, *, extra_ticks: int = 50, audio=None, t0: float = 0.0,
        check=None, speed: float = 1.0):
    """Send n_frames (frame i at t0 + i*20 ms, arriving at arrival(i) or never if None);
    tick until the end. Returns (outputs, delays_ms, played ts list)."""
    audio = voiced(n_frames) if audio is None else audio
    pk = []
    for i in range(n_frames):
        a = arrival(i)
        if a is not None:
            pk.append((a, i))
    pk.sort()
    outs, delays, played = [], [], []
    k = 0
    last = max(a for a, _ in pk)
    ticks = int((last - t0) / FRAME_S) + extra_ticks
    for tick in range(ticks):
        now = t0 + 0.0101 + tick * FRAME_S
        while k < len(pk) and pk[k][0] <= now:
            a, i = pk[k]
            po.put((1000 + i) & 0xFFFF, (TS0 + i * F) & 0xFFFFFFFF, i == 0,
                   audio[i * F:(i + 1) * F].tobytes(), a)
            k += 1
        out = po.tick(now)
        outs.append(out)
        played += [ts for kind, ts in po.pulled if kind == Kind.FRAME]
        if po.playout_ts is not None:
            s = (po.playout_ts - TS0) & 0xFFFFFFFF
            if s < n_frames * F:
                delays.append(1000.0 * (now - t0 - s / RATE / speed))
        if check is not None:
            check(po, now)
    return outs, np.array(delays), played


def test_exact_frame_per_tick_no_duplicates_fifo_bounded():
    rng = np.random.default_rng(3)
    jit = np.abs(rng.normal(0, 0.03, 1500))
    lost = rng.random(1500) < 0.03
    po = make()
    pmax = po.pmax

    def check(p, now):
        assert p.fifo_samples < 2 * F + pmax

    outs, delays, played = run(po, 1500, lambda i: None if lost[i] else i * FRAME_S + 0.03 + jit[i],
                               check=check)
    assert all(o.dtype == np.int16 and o.shape == (F,) for o in outs)
    idx = [((ts - TS0) & 0xFFFFFFFF) // F for ts in played]
    assert idx == sorted(idx) and len(idx) == len(set(idx))     # in order, never twice
    st = po.stats
    assert isinstance(st, PlayoutStats)
    assert st.ticks == len(outs)
    assert st.frames == len(played) == st.jitter.played
    assert st.fifo_max <= 3 * F + pmax
    assert st.frames + st.jitter.late == 1500 - lost.sum()
    assert st.jitter.dropped_for_adaptation == 0
    assert st.accelerated + st.expanded > 0


def test_clean_stream_is_bit_exact_and_untouched():
    audio = voiced(300)
    po = make()
    outs, delays, played = run(po, 300, lambda i: i * FRAME_S + 0.03, audio=audio)
    y = np.concatenate(outs)
    start = int(np.argmax(y != 0))
    assert np.array_equal(y[start:start + len(audio)], audio[int(np.argmax(audio != 0)):][:len(audio)]
                          if start else audio)
    st = po.stats
    assert st.accelerated == st.expanded == 0
    assert st.concealed == 2            # only the hangover after the stream's end
    assert np.ptp(delays) < 1e-6


def test_accelerate_engaged_when_the_delay_is_above_target():
    # 4 s of 60 ms jitter, then a clean path: the target falls and accelerate removes
    # the excess delay (mostly in the pauses) without dropping a frame
    rng = np.random.default_rng(7)
    jit = np.where(np.arange(3000) < 200, np.abs(rng.normal(0, 0.06, 3000)), 0.0)
    arr = np.maximum.accumulate(np.arange(3000) * FRAME_S + 0.03 + jit)
    po = make()
    errors = []
    outs, delays, played = run(po, 3000, lambda i: arr[i],
                               check=lambda p, now: errors.append(p.delay_error_ms))
    st = po.stats
    assert max(errors) > 40                     # the buffer said: too much delay
    assert st.accelerated > 0 and st.removed_samples > 0
    assert st.frames + st.jitter.late == 3000 and st.jitter.late < 20   # late: in the jitter
    assert st.jitter.dropped_for_adaptation == 0
    assert np.mean(delays[-500:]) < np.mean(delays[300:400]) - 50
    assert abs(np.mean(errors[-500:])) < 20     # back near the target


def test_expand_engaged_when_the_delay_is_below_target():
    # a clean path, then jitter: the target rises and expand grows the delay
    rng = np.random.default_rng(8)
    jit = np.where(np.arange(2000) >= 500, np.abs(rng.normal(0, 0.03, 2000)), 0.0)
    arr = np.maximum.accumulate(np.arange(2000) * FRAME_S + 0.03 + jit)
    po = make()
    errors = []
    outs, delays, played = run(po, 2000, lambda i: arr[i],
                               check=lambda p, now: errors.append(p.delay_error_ms))
    st = po.stats
    assert min(errors) < 0
    assert st.expanded > 0 and st.added_samples > 0
    assert np.mean(delays[-300:]) > np.mean(delays[:400]) + 15


@pytest.mark.parametrize("ppm", [200, -200])
def test_drift_10_minutes_bounded_delay_no_drops(ppm):
    n = int(600 / FRAME_S)
    rate = 1.0 + ppm * 1e-6
    arr = np.arange(n) * FRAME_S / rate + 0.03       # drift only: lateness is the drift's
    po = make()
    outs, delays, played = run(po, n, lambda i: arr[i], extra_ticks=20, speed=rate)
    st = po.stats
    # 200 ppm over 10 minutes is 120 ms of clock difference, never absorbed by dropping
    # a frame to adapt. A fast sender's excess is accelerated away. KNOWN GAP: a slow
    # sender's offset sinks to within a histogram bin (0.25 ms) of the target, where the
    # next frame can arrive just after its deadline before the error turns negative and
    # expand starts: about one late frame a minute (12 in 10 min) instead of none.
    assert st.discarded == 0 and st.jitter.dropped_for_adaptation == 0
    assert st.frames + st.jitter.late == n
    assert st.jitter.late == 0 if ppm > 0 else st.jitter.late <= 15
    first, last = np.mean(delays[1000:4000]), np.mean(delays[-4000:-1000])
    assert abs(last - first) < 20, (first, last)
    assert delays.max() < 120
    if ppm > 0:
        assert st.removed_samples - st.added_samples >= 0.5 * 0.12 * RATE


def test_stall_backlog_replayed_then_caught_up():
    # a 1 s stall: every frame still plays, and the delay is back near normal within 10 s
    arr = np.arange(1500) * FRAME_S + 0.03
    stalled = (arr >= 5.0) & (arr < 6.0)
    arr[stalled] = 6.0 + np.arange(stalled.sum()) * 1e-4
    po = make()
    outs, delays, played = run(po, 1500, lambda i: arr[i])
    st = po.stats
    assert st.frames == 1500 and st.jitter.late == 0
    assert max(delays) > 900
    assert np.mean(delays[-200:]) < 80
    assert st.accelerated > 50


def test_max_excess_cuts_the_oldest_backlog():
    arr = np.arange(1000) * FRAME_S + 0.03
    stalled = (arr >= 5.0) & (arr < 7.0)
    arr[stalled] = 7.0 + np.arange(stalled.sum()) * 1e-4
    po = make(max_excess_ms=500.0)
    outs, delays, played = run(po, 1000, lambda i: arr[i])
    st = po.stats
    assert st.discarded > 50
    assert st.frames + st.discarded == 1000
    assert max(delays) < 700


def test_bad_input_counted_and_dropped():
    po = make()
    assert po.put_rtp(b"\x00junk", 0.0) == PutResult.BAD_PACKET
    assert po.put(1, 0, False, b"\x00" * 7, 0.0) == PutResult.BAD_SIZE
    assert po.stats.bad == 2
    # a decoder that rejects a payload: concealed, counted, the tick still yields a frame
    def picky(p):
        if p[:2] == b"\xff\xff":
            raise ValueError("corrupt")
        return raw(p)

    po = make(decoder=picky, concealer=SilenceConcealer(F))
    for i in range(20):
        data = (b"\xff\xff" if i == 10 else b"\x01\x00") + b"\x01\x00" * (F - 1)
        po.put(i, i * F, i == 0, data, i * FRAME_S)
    outs = [po.tick(0.05 + t * FRAME_S) for t in range(25)]
    assert all(len(o) == F for o in outs)
    assert po.stats.decode_errors == 1 and po.stats.frames == 19


def test_put_rtp_and_default_ulaw_decoder():
    audio = voiced(100)
    po = Playout()                          # G.711 u-law, WaveformPlc
    for i in range(100):
        pkt = rtp_build(0, i, i * F, 1234, g711.ulaw_encode(audio[i * F:(i + 1) * F]), marker=i == 0)
        assert po.put_rtp(pkt, 0.03 + i * FRAME_S) in (PutResult.OK, PutResult.RESET)
    y = np.concatenate([po.tick(0.0301 + t * FRAME_S) for t in range(110)])
    ref = np.frombuffer(g711.ulaw_decode(g711.ulaw_encode(audio)), np.int16)
    assert po.stats.frames == 100
    s = int(np.argmax(y != 0))
    assert np.array_equal(y[s:s + 1000], ref[int(np.argmax(ref != 0)):][:1000])


def test_reset_forgets_the_stream():
    po = make()
    run(po, 50, lambda i: i * FRAME_S + 0.03)
    po.reset()
    assert po.fifo_samples == 0 and po.playout_ts is None
    assert np.array_equal(po.tick(100.0), np.zeros(F, np.int16))


@pytest.mark.parametrize("kw,exc", [
    (dict(clock_rate="8000"), TypeError), (dict(clock_rate=100), ValueError),
    (dict(frame_samples=0), ValueError), (dict(decoder=5), TypeError),
    (dict(concealer=object()), TypeError), (dict(concealer=SilenceConcealer(80)), ValueError),
    (dict(max_excess_ms="1"), TypeError), (dict(max_excess_ms=-1.0), ValueError),
    (dict(jittersize=9), ValueError), (dict(max_tsm_per_tick=0), ValueError),
])
def test_constructor_errors(kw, exc):
    with pytest.raises(exc):
        Playout(**kw)


def test_tick_cost():
    # steady state with jitter, G.711 + PLC + time-scaling: well under 100 us per 20 ms tick
    rng = np.random.default_rng(1)
    audio = voiced(3000)
    coded = g711.ulaw_encode(audio)
    jit = np.abs(rng.normal(0, 0.02, 3000))
    po = Playout()
    t_tick = 0.0
    for i in range(3000):
        now = 0.2 + i * FRAME_S
        a = i * FRAME_S + 0.03 + jit[i]
        po.put(i & 0xFFFF, i * F, i == 0, coded[i * F:(i + 1) * F], a)
        t = time.perf_counter()
        po.tick(now)
        t_tick += time.perf_counter() - t
    per_tick = t_tick / 3000 * 1e6
    print(f"Playout.tick: {per_tick:.1f} us/tick")
    assert per_tick < 100
