"""Packet loss concealment (:mod:`_media.plc`, :mod:`_media.concealment`).

* the Cython kernel against the NumPy reference (:mod:`_media.reference.plc`), bit
  for bit, on speech-like input with single losses and bursts of 2..10 frames;
* tones concealed over 3 frames keep their frequency, with no step at the start
  of the loss or at the merge; the level holds for 10 ms, then falls 20 % per
  10 ms to exact silence at 60 ms; the output equals the input after the merge ramp;
* counters, the :class:`Concealer` protocol, clear errors for bad input;
* quality: PESQ (narrowband) of espeak-ng speech through G.711 mu-law with 5 %
  Gilbert-Elliott burst loss, WaveformPlc against silence insertion
  (run with ``-s`` to see the scores).
"""
from __future__ import annotations

import array

import numpy as np
import pytest
from scipy.signal import lfilter

from _media import g711
from _media.concealment import Concealer, SilenceConcealer
from _media.plc import WaveformPlc
from _media.reference.plc import WaveformPlcReference, plc_params

RATES = (8000, 16000)
AMP = 10000.0


# ---------------------------------------------------------------- helpers

def speech_like(rate: int, seconds: float, seed: int) -> np.ndarray:
    """Voiced syllables (gliding-pitch sawtooth through three formants) and noise bursts."""
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    t = np.arange(n) / rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t) + 20 * np.sin(2 * np.pi * 2.3 * t + 1)
    src = np.mod(2 * np.pi * np.cumsum(f0) / rate, 2 * np.pi) / np.pi - 1
    env = np.sin(2 * np.pi * 3.1 * t + rng.uniform(0, 6))
    x = src * np.maximum(env, 0) + 0.3 * rng.normal(0, 1, n) * np.maximum(-env, 0) ** 4
    for fc, bw in ((500, 80), (1500, 120), (2500, 200)):
        r = np.exp(-np.pi * bw / rate)
        x = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * fc / rate), r * r], x)
    x *= 12000 / np.max(np.abs(x))
    return np.round(x + rng.normal(0, 30, n)).astype(np.int16)


def tone(rate: int, freq: float, n: int) -> np.ndarray:
    return np.round(AMP * np.sin(2 * np.pi * freq * np.arange(n) / rate + 0.3)).astype(np.int16)


def loss_pattern(rng: np.random.Generator, n: int) -> np.ndarray:
    """Losses of 1..10 frames (each length at least once), 1..5 good frames apart."""
    bursts = list(rng.permutation(np.arange(1, 11))) + list(rng.integers(1, 11, 40))
    lost = np.zeros(n, bool)
    i = 4
    while i < n and bursts:
        b = int(bursts.pop(0))
        lost[i:i + b] = True
        i += b + int(rng.integers(1, 6))
    return lost


def play(plc, x: np.ndarray, lost, n: int) -> np.ndarray:
    return np.concatenate([plc.conceal() if l else plc.good(x[i * n:(i + 1) * n])
                           for i, l in enumerate(lost)])


def frequency(y: np.ndarray, rate: int) -> float:
    """Mean frequency from the first to the last rising zero crossing (interpolated)."""
    y = y.astype(np.float64)
    i = np.flatnonzero((y[:-1] < 0) & (y[1:] >= 0))
    z = i + y[i] / (y[i] - y[i + 1])
    return rate * (len(z) - 1) / (z[-1] - z[0])


def gilbert_elliott(seed: int, n: int, loss: float = 0.05, burst: float = 2.0) -> np.ndarray:
    """Seeded two-state burst loss: mean loss ``loss``, mean burst ``burst`` frames."""
    u = np.random.default_rng(seed).random(n)
    p_bg = 1.0 / burst
    p_gb = loss * p_bg / (1.0 - loss)
    lost = np.zeros(n, bool)
    bad = False
    for i in range(n):
        bad = bool(u[i] >= p_bg) if bad else bool(u[i] < p_gb)
        lost[i] = bad
    return lost


# ---------------------------------------------------------------- kernel == reference

@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("frame_ms", [5, 10, 20])
def test_kernel_matches_reference(rate, frame_ms):
    n = rate * frame_ms // 1000
    rng = np.random.default_rng(rate + frame_ms)
    x = speech_like(rate, 6.0, seed=frame_ms)
    lost = loss_pattern(rng, len(x) // n)
    k, r = WaveformPlc(rate, n), WaveformPlcReference(rate, n)
    out = np.empty(n, np.int16)
    for i, l in enumerate(lost):
        f = x[i * n:(i + 1) * n]
        if l:
            ref = r.conceal()
            got = k.conceal() if i % 2 else (k.conceal_into(out), out.copy())[1]
        else:
            ref = r.good(f)
            got = k.good(f) if i % 2 else (k.good_into(f, out), out.copy())[1]
        assert got.dtype == np.int16
        np.testing.assert_array_equal(got, ref, err_msg=f"frame {i} (lost={l})")
        assert (k.concealed_frames, k.erasure_frames, k.pitch) == \
               (r.concealed_frames, r.erasure_frames, r.pitch)
    assert k.concealed_frames == lost.sum() > 100


@pytest.mark.parametrize("rate,n", [(8000, 1), (8000, 7), (8000, 79), (8000, 81), (16000, 161),
                                    (11025, 220), (44100, 441), (48000, 960)])
def test_kernel_matches_reference_odd_frames_and_rates(rate, n):
    # frames shorter than the merge ramp (it spans frames), odd sizes, other rates
    frames = max(60, 4 * rate // n // 10)
    x = speech_like(rate, frames * n / rate + 0.01, seed=n)
    lost = loss_pattern(np.random.default_rng(n), frames)
    np.testing.assert_array_equal(play(WaveformPlc(rate, n), x, lost, n),
                                  play(WaveformPlcReference(rate, n), x, lost, n))


def test_kernel_matches_reference_full_scale():
    # full-scale square waves and clipped noise: the start correction saturates
    rng = np.random.default_rng(5)
    n = 80
    x = np.where(np.sin(np.arange(200 * n) * 0.09) >= 0, 32767, -32768).astype(np.int16)
    x[8000:] = np.clip(rng.normal(0, 30000, 8000), -32768, 32767).astype(np.int16)
    lost = loss_pattern(rng, 200)
    np.testing.assert_array_equal(play(WaveformPlc(8000, n), x, lost, n),
                                  play(WaveformPlcReference(8000, n), x, lost, n))


def test_into_in_place_and_bytes_input():
    x = speech_like(8000, 1.0, seed=3)
    a, b = WaveformPlc(), WaveformPlc()
    buf = np.empty(160, np.int16)
    for i in range(40):
        f = x[i * 160:(i + 1) * 160]
        if i % 7 in (3, 4):
            np.testing.assert_array_equal(a.conceal(), (b.conceal_into(buf), buf)[1])
        else:
            g = f.copy()
            assert b.good_into(g, g) == 160                       # in place
            np.testing.assert_array_equal(a.good(f.tobytes()), g)  # raw PCM bytes


# ---------------------------------------------------------------- tones

@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("freq", [300.0, 440.0, 1000.0])
def test_tone_continues_without_discontinuity(rate, freq):
    n = rate // 100                                  # 10 ms frames, 3 of them lost
    x = tone(rate, freq, 40 * n)
    lost = np.zeros(40, bool)
    lost[20:23] = True
    plc = WaveformPlc(rate, n)
    y = play(plc, x, lost, n)
    s, e = 20 * n, 23 * n
    assert frequency(y[s:e], rate) == pytest.approx(freq, rel=0.02)
    own = np.max(np.abs(np.diff(x.astype(np.int32))))
    steps = np.abs(np.diff(y.astype(np.int32)))
    merge = plc_params(rate, n).t10
    assert steps[s - 1:s + n].max() <= 1.5 * own, "step at the start of the loss"
    assert steps[e - 1:e + merge + 1].max() <= 1.5 * own, "step at the merge"
    assert steps.max() <= 1.5 * own
    np.testing.assert_array_equal(y[e + merge:], x[e + merge:])


@pytest.mark.parametrize("rate,frame_ms", [(8000, 10), (8000, 5), (16000, 10), (16000, 20)])
def test_level_holds_then_fades_to_exact_silence(rate, frame_ms):
    n = rate * frame_ms // 1000
    p = plc_params(rate, n)
    plc = WaveformPlc(rate, n)
    x = tone(rate, 200.0, 30 * n)                              # whole periods per frame
    for i in range(30):
        plc.good(x[i * n:(i + 1) * n])
    y = np.concatenate([plc.conceal() for _ in range(100 // frame_ms)]).astype(np.float64)
    level = AMP / np.sqrt(2)
    t = np.arange(len(y))
    ideal = np.clip((p.t60 - t) / (p.t60 - p.t10), 0, 1) * tone(rate, 200.0, 30 * n + len(y))[30 * n:]
    rms = [np.sqrt(np.mean(y[i:i + n] ** 2)) for i in range(0, len(y), n)]
    for j, i in enumerate(range(0, len(y), n)):
        expect = np.sqrt(np.mean(ideal[i:i + n] ** 2))            # the tone, faded linearly
        assert rms[j] == pytest.approx(expect, rel=0.02, abs=1.0), f"frame {j}"
        if i + n <= p.t10:
            assert rms[j] >= 0.95 * level                        # full level for 10 ms
        elif j and i < p.t60:
            assert rms[j] < rms[j - 1]                           # then strictly fading
    assert np.all(y[p.t60:] == 0) and np.any(y[p.t60 - n:p.t60] != 0)


# ---------------------------------------------------------------- merge

@pytest.mark.parametrize("frame_ms,burst,ramp_ms", [(10, 1, 4), (10, 2, 8), (10, 4, 10),
                                                    (20, 1, 8), (20, 2, 10), (5, 3, 8)])
def test_merge_converges_to_good_input(frame_ms, burst, ramp_ms):
    rate = 8000
    n = rate * frame_ms // 1000
    x = speech_like(rate, 1.0, seed=burst)
    frames = len(x) // n
    s = frames // 2
    lost = np.zeros(frames, bool)
    lost[s:s + burst] = True
    y = play(WaveformPlc(rate, n), x, lost, n)
    e, m = (s + burst) * n, rate * ramp_ms // 1000
    np.testing.assert_array_equal(y[e + m:], x[e + m:frames * n])
    np.testing.assert_array_equal(y[:s * n], x[:s * n])
    d = np.abs(y[e:e + m].astype(np.int32) - x[e:e + m])
    assert d[:m // 2].mean() > d[m // 2:].mean()                 # converging
    assert d[0] > 0


@pytest.mark.parametrize("rate", RATES)
def test_merge_after_silence_is_a_fade_in(rate):
    n = rate // 50
    x = speech_like(rate, 1.0, seed=9)
    lost = np.zeros(50, bool)
    lost[10:14] = True                                           # 80 ms: silent by then
    y = play(WaveformPlc(rate, n), x, lost, n).astype(np.int64)
    e, m = 14 * n, rate // 100
    k = np.arange(m)
    w = ((k + 1) << 15) // (m + 1)
    np.testing.assert_array_equal(y[e:e + m], (x[e:e + m] * w + (1 << 14)) >> 15)
    np.testing.assert_array_equal(y[e + m:], x[e + m:50 * n])


# ---------------------------------------------------------------- counters, protocol, errors

def test_counters_and_reset():
    plc = WaveformPlc(16000, 320)
    x = tone(16000, 200.0, 320)
    assert (plc.concealed_frames, plc.erasure_frames, plc.pitch, plc.delay) == (0, 0, 0, 0)
    plc.good(x)
    plc.conceal()
    plc.conceal()
    assert (plc.concealed_frames, plc.erasure_frames) == (2, 2)
    assert plc.pitch == 80                                       # 200 Hz at 16 kHz
    plc.good(x)
    assert (plc.concealed_frames, plc.erasure_frames) == (2, 0)
    plc.conceal()
    assert (plc.concealed_frames, plc.erasure_frames) == (3, 1)
    plc.reset()
    assert (plc.concealed_frames, plc.erasure_frames) == (0, 0)
    assert not plc.conceal().any()                               # history forgotten
    with pytest.raises(AttributeError):
        plc.delay = 5


def test_protocol():
    for c in (WaveformPlc(), SilenceConcealer(160)):
        assert isinstance(c, Concealer)
        assert c.delay == 0 and c.frame_samples == 160
    assert not isinstance(object(), Concealer)
    s = SilenceConcealer(80)
    f = tone(8000, 300.0, 80)
    np.testing.assert_array_equal(s.good(f), f)
    assert not s.conceal().any() and s.conceal().dtype == np.int16
    with pytest.raises(ValueError, match="exactly 80"):
        s.good(f[:79])
    with pytest.raises(TypeError, match="int16"):
        s.good(f.astype(np.float32))


def test_bad_frames_are_clear_errors():
    plc = WaveformPlc(8000, 160)
    f = np.zeros(160, np.int16)
    with pytest.raises(ValueError, match="exactly 160 samples, got 159"):
        plc.good(f[:159])
    with pytest.raises(ValueError, match="exactly 160 samples, got 161"):
        plc.good(np.zeros(161, np.int16))
    with pytest.raises(TypeError, match="int16.*float32|<f4"):
        plc.good(f.astype(np.float32))
    with pytest.raises(TypeError, match="native-endian int16"):
        plc.good(f.astype(">i2" if np.little_endian else "<i2"))
    with pytest.raises(ValueError, match="1-D"):
        plc.good(np.zeros((2, 80), np.int16))
    with pytest.raises(ValueError, match="C-contiguous"):
        plc.good(np.zeros(320, np.int16)[::2])
    with pytest.raises(TypeError, match="buffer of int16"):
        plc.good([0] * 160)
    with pytest.raises(ValueError, match="odd byte length"):
        plc.good(b"\0" * 321)
    with pytest.raises(ValueError, match="read-only"):
        ro = np.zeros(160, np.int16)
        ro.flags.writeable = False
        plc.conceal_into(ro)
    with pytest.raises(ValueError, match="read-only"):
        plc.good_into(f, b"\0" * 320)
    with pytest.raises(ValueError, match="159 samples, 160 needed"):
        plc.conceal_into(np.zeros(159, np.int16))
    assert plc.good(array.array("h", bytes(320))).shape == (160,)
    assert plc.concealed_frames == 0                             # nothing ran on errors


@pytest.mark.parametrize("args,exc,match", [
    ((7999,), ValueError, "8000..48000"), ((48001,), ValueError, "8000..48000"),
    ((8000, 0), ValueError, "frame_samples must be 1..8000"),
    ((8000, 8001), ValueError, "frame_samples"),
    (("8000",), TypeError, "must be ints"), ((8000, 160.0), TypeError, "must be ints"),
    ((True,), TypeError, "not bool"),
])
def test_bad_construction(args, exc, match):
    with pytest.raises(exc, match=match):
        WaveformPlc(*args)


# ---------------------------------------------------------------- quality

def test_pesq_plc_beats_silence_on_speech_with_burst_loss():
    from bench.speech import have_espeak, speech

    if not have_espeak():
        pytest.skip("espeak-ng not installed (Debian package espeak-ng; ci/install-deps installs it)")
    from pesq import pesq

    n, seg = 160, 80000
    src = speech(8000, 30.0)                                     # espeak-ng, resample_poly to 8 kHz
    x = np.frombuffer(g711.ulaw_decode(g711.ulaw_encode(src)), np.int16)
    lost = gilbert_elliott(seed=8, n=len(x) // n)           # 5.0 % loss
    lost[:3] = False
    assert 0.03 <= lost.mean() <= 0.07 and lost.sum() > 40
    ys = play(WaveformPlc(8000, n), x, lost, n)
    yr = play(WaveformPlcReference(8000, n), x, lost, n)
    np.testing.assert_array_equal(ys, yr)                        # real speech: still bit-exact
    sil = play(SilenceConcealer(n), x, lost, n)

    def score(y):
        return float(np.mean([pesq(8000, src[i:i + seg].astype(float), y[i:i + seg].astype(float), "nb")
                              for i in range(0, len(y) - seg + 1, seg)]))

    p_plc, p_sil, p_clean = score(ys), score(sil), score(x)
    print(f"\nPESQ nb, G.711 mu-law, {100 * lost.mean():.1f}% GE loss: "
          f"WaveformPlc {p_plc:.2f}, silence {p_sil:.2f} (no loss {p_clean:.2f})")
    assert p_plc >= p_sil + 0.3
    assert p_plc <= p_clean
