"""The conference mixer (:mod:`_media.mixer`).

* bit-exact against the NumPy reference (:mod:`_media.reference.mixer`) over random
  frames, gains, mutes, deaf flags and loudest-K, for N in {1, 2, 3, 10, 100, 1000}
  and F in {1, 160, 320, 961} (F not a multiple of the SIMD block included), in the
  build picked at import and in the portable build;
* mix-minus itself: with unit gains and no limiting, ``out[i] == sum - frames[i]``;
* the limiter: identity below the knee, odd, monotonic, never past +-32767, and
  no wrap at full scale (the sign always follows the true sum);
* loudest-K selection (energy order, ties to the lower index, muted excluded);
* settings, in-place mixing and clear errors for bad input.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from _media.mixer import KERNEL_ISA, MAX_PARTICIPANTS, Mixer
from _media.reference.mixer import (KNEE, LIMIT_IN, ONE, frame_energy, gain_to_q12,
                                    mix_minus_simple, mix_reference, select_loudest, soft_limit)

NS = [1, 2, 3, 10, 100, 1000]
FS = [1, 160, 320, 961]


def reference(m: Mixer, frames: np.ndarray) -> np.ndarray:
    """What the reference computes for ``m``'s current settings."""
    return mix_reference(frames, m.input_gains_q12, m.output_gains_q12, m.muted, m.deafened,
                         m.loudest)


def noise(rng, n: int, f: int, scale: float) -> np.ndarray:
    x = rng.standard_normal((n, f)) * scale
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def randomise(m: Mixer, rng) -> None:
    """Random gains (some unit, some 0, some 8), mutes, deaf flags and loudest-K."""
    n = m.n_participants
    for i in range(n):
        for setter in (m.set_input_gain, m.set_output_gain):
            r = rng.random()
            setter(i, 1.0 if r < 0.4 else 0.0 if r < 0.45 else 8.0 if r < 0.5
                   else float(rng.uniform(0, 8)))
        m.set_mute(i, bool(rng.random() < 0.15))
        m.set_deaf(i, bool(rng.random() < 0.1))
    m.set_loudest(int(rng.choice([0, 1, min(3, n), int(rng.integers(0, n + 1))])))


# ---------------------------------------------------------------- bit-exactness

@pytest.mark.parametrize("f", FS)
@pytest.mark.parametrize("n", NS)
def test_matches_reference_bit_exact(n, f):
    rng = np.random.default_rng(1000 * n + f)
    m = Mixer(n, f)
    out = np.empty((n, f), np.int16)
    # unit gains first, then random settings; quiet, speech-level and full-scale frames
    for tick, scale in enumerate([300.0, 3000.0, 30000.0, 3000.0, 300.0, 30000.0]):
        if tick >= 1:
            randomise(m, rng)
        x = noise(rng, n, f, scale)
        expect = reference(m, x)
        assert np.array_equal(m.mix(x), expect), (tick, m.loudest)
        assert m.mix(x, out) is out
        assert np.array_equal(out, expect)


def test_extreme_settings_bit_exact():
    """Every input at 8x gain and full scale, every output at 8x: the int32 bus headroom."""
    rng = np.random.default_rng(5)
    for n, f in [(3, 33), (257, 48)]:
        m = Mixer(n, f)
        for i in range(n):
            m.set_input_gain(i, 8.0)
            m.set_output_gain(i, [8.0, 1.0, 1 / 4096, 0.3][i % 4])
        for x in (np.full((n, f), 32767, np.int16), np.full((n, f), -32768, np.int16),
                  rng.choice(np.array([-32768, 32767], np.int16), (n, f))):
            assert np.array_equal(m.mix(x), reference(m, x))


BASELINE_CHECK = r"""
import numpy as np
from _media.mixer import KERNEL_ISA, Mixer
from _media.reference.mixer import mix_reference
assert KERNEL_ISA == "baseline", KERNEL_ISA
rng = np.random.default_rng(11)
for n, f in [(1, 1), (3, 17), (10, 320), (100, 161)]:
    m = Mixer(n, f)
    for tick in range(4):
        for i in range(n):
            m.set_input_gain(i, float(rng.choice([1.0, 0.0, 8.0, rng.uniform(0, 8)])))
            m.set_output_gain(i, float(rng.choice([1.0, 0.25, rng.uniform(0, 8)])))
            m.set_mute(i, bool(rng.random() < 0.2))
            m.set_deaf(i, bool(rng.random() < 0.1))
        m.set_loudest(int(rng.integers(0, n + 1)) if tick % 2 else 0)
        x = (rng.standard_normal((n, f)) * 8000).clip(-32768, 32767).astype(np.int16)
        ref = mix_reference(x, m.input_gains_q12, m.output_gains_q12, m.muted, m.deafened, m.loudest)
        assert np.array_equal(m.mix(x), ref), (n, f, tick)
print("baseline ok")
"""


def test_baseline_isa_kernel_matches_reference():
    env = dict(os.environ, SIPCTL_KERNEL_ISA="baseline")
    r = subprocess.run([sys.executable, "-c", BASELINE_CHECK], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "baseline ok" in r.stdout


# ---------------------------------------------------------------- mix-minus

@pytest.mark.parametrize("n", [2, 3, 10, 100, 1000])
def test_mix_minus_is_sum_minus_own(n):
    rng = np.random.default_rng(n)
    # |any sum| <= n * amp stays below the knee, so the limiter is the identity
    amp = min(3000, KNEE // n)
    x = rng.integers(-amp, amp + 1, (n, 320), dtype=np.int16)
    out = Mixer(n, 320).mix(x)
    s = x.sum(axis=0, dtype=np.int32)
    np.testing.assert_array_equal(out, (s[None, :] - x).astype(np.int16))
    assert np.array_equal(out, mix_minus_simple(x))   # the baseline agrees when nothing clips


def test_single_participant_hears_silence():
    x = np.full((1, 320), 20000, np.int16)
    m = Mixer(1, 320)
    assert not m.mix(x).any()
    m.set_input_gain(0, 8.0)
    m.set_output_gain(0, 8.0)
    m.set_loudest(1)
    assert not m.mix(x).any()
    np.testing.assert_array_equal(m.selected, [0])


def test_all_muted_hear_silence():
    m = Mixer(5, 160)
    for i in range(5):
        m.set_mute(i, True)
    x = np.random.default_rng(0).integers(-32768, 32768, (5, 160), dtype=np.int16)
    assert not m.mix(x).any()
    assert m.selected.size == 0
    m.set_loudest(2)
    assert not m.mix(x).any()


def test_muted_still_hears_and_deaf_still_speaks():
    x = np.array([[100], [200], [400]], np.int16)
    m = Mixer(3, 1)
    m.set_mute(0, True)
    m.set_deaf(1, True)
    np.testing.assert_array_equal(m.mix(x)[:, 0], [600, 0, 200])


def test_gains_apply_in_q12():
    x = np.array([[1000], [3000], [-2000]], np.int16)
    m = Mixer(3, 1)
    m.set_input_gain(1, 0.5)
    m.set_output_gain(0, 2.0)
    m.set_output_gain(2, 0.25)
    # 0 hears 2*(1500-2000); 1 hears 1000-2000; 2 hears (1000+1500)/4
    np.testing.assert_array_equal(m.mix(x)[:, 0], [-1000, -1000, 625])


# ---------------------------------------------------------------- limiter

def test_limiter_curve():
    v = np.arange(-200_000, 200_001, dtype=np.int64)
    y = soft_limit(v).astype(np.int64)
    lin = np.abs(v) <= KNEE
    np.testing.assert_array_equal(y[lin], v[lin])              # identity below the knee
    np.testing.assert_array_equal(y, -y[::-1])                 # odd
    assert np.all(np.diff(y) >= 0)                             # monotonic
    assert np.all(np.diff(y) <= 1)                             # slope <= 1: continuous, no jumps
    assert np.abs(y).max() == 32767
    assert np.all(np.abs(y[np.abs(v) >= LIMIT_IN]) == 32767)
    soft = (np.abs(v) > KNEE) & (np.abs(v) < LIMIT_IN)
    assert np.all(np.abs(y[soft]) <= np.abs(v[soft]))         # compressive ...
    assert np.all(np.abs(y[soft & (np.abs(v) > KNEE + 200)]) < np.abs(v[soft & (np.abs(v) > KNEE + 200)]))
    assert v[y == 32767].min() > LIMIT_IN - 256                # ... reaching 32767 only at the end
    # smooth: the slope over 256-sample steps falls from 1 towards 0 without jumps
    a = np.arange(KNEE, LIMIT_IN + 1, 256)
    slope = np.diff(soft_limit(a).astype(np.int64)) / 256
    assert slope[0] > 0.98 and slope[-1] < 0.02 and np.all(np.diff(slope) <= 0.001)


def test_kernel_limiter_monotonic_and_odd():
    """Participant 0 hears x1 + x2: sweep that sum over every value it can take."""
    s = np.arange(-65536, 65535, dtype=np.int64)
    x1 = np.clip(s, -32768, 32767)
    x = np.zeros((3, s.size), np.int16)
    x[1], x[2] = x1, s - x1
    out = Mixer(3, s.size).mix(x)[0].astype(np.int64)
    np.testing.assert_array_equal(out, soft_limit(s))
    assert np.all(np.diff(out) >= 0)
    np.testing.assert_array_equal(out[2:], -out[2:][::-1])     # s = -65534 .. 65534
    assert np.all(np.sign(out) == np.sign(s))


@pytest.mark.parametrize("n", [2, 3, 10, 1000])
@pytest.mark.parametrize("level", [32767, -32768, "mixed"])
def test_full_scale_never_wraps(n, level):
    rng = np.random.default_rng(n)
    f = 320
    if level == "mixed":
        x = rng.choice(np.array([-32768, 32767], np.int16), (n, f))
    else:
        x = np.full((n, f), level, np.int16)
    m = Mixer(n, f)
    for gains in (False, True):
        if gains:
            for i in range(n):
                m.set_input_gain(i, 8.0)
                m.set_output_gain(i, 8.0)
        out = m.mix(x).astype(np.int64)
        true = reference_sum(m, x)
        assert np.all(np.abs(out) <= 32767)
        assert np.all(np.sign(out) == np.sign(true))           # no wrap: sign follows the sum
        big = np.abs(true) >= LIMIT_IN
        assert np.all(np.abs(out[big]) == 32767)               # limited, not wrapped
        assert np.array_equal(out, reference(m, x))


def reference_sum(m: Mixer, x: np.ndarray) -> np.ndarray:
    """The exact (unlimited) value each participant's output stands for, in int64."""
    gin = m.input_gains_q12.astype(np.int64)[:, None]
    gout = m.output_gains_q12.astype(np.int64)[:, None]
    c = (x.astype(np.int64) * gin + 2048) >> 12
    return ((c.sum(axis=0) - c) * gout + 2048) >> 12


# ---------------------------------------------------------------- loudest-K

def test_loudest_k_selects_by_energy_ties_to_lower_index():
    n, f = 8, 160
    amps = [100, 900, 300, 900, 50, 700, 900, 10]       # 1, 3 and 6 tie at the top
    x = np.stack([np.full(f, a, np.int16) * np.where(np.arange(f) % 2, 1, -1).astype(np.int16)
                  for a in amps])
    m = Mixer(n, f)
    m.set_loudest(3)
    out = m.mix(x)
    np.testing.assert_array_equal(m.selected, [1, 3, 6])
    sel = x[[1, 3, 6]].astype(np.int32).sum(axis=0)
    for i in range(n):
        own = x[i].astype(np.int32) if i in (1, 3, 6) else 0
        np.testing.assert_array_equal(out[i], sel - own)   # the three, minus itself
    m.set_loudest(2)
    m.mix(x)
    np.testing.assert_array_equal(m.selected, [1, 3])
    m.set_mute(1, True)                                    # muted never selected
    m.mix(x)
    np.testing.assert_array_equal(m.selected, [3, 6])
    m.set_input_gain(5, 2.0)                               # energy of the gained input
    m.mix(x)
    np.testing.assert_array_equal(m.selected, [3, 5])
    m.set_loudest(0)
    m.mix(x)
    np.testing.assert_array_equal(m.selected, [0, 2, 3, 4, 5, 6, 7])


@pytest.mark.parametrize("k", [1, 3, 17, 500, 999, 1000])
def test_loudest_k_matches_reference_selection(k):
    rng = np.random.default_rng(k)
    n, f = 1000, 64
    x = noise(rng, n, f, 1.0) * rng.integers(0, 40, (n, 1)).astype(np.int16)  # many ties
    m = Mixer(n, f)
    for i in rng.choice(n, 50, replace=False):
        m.set_mute(int(i), True)
    m.set_loudest(k)
    out = m.mix(x)
    expect = select_loudest(frame_energy(x), m.muted, k)
    np.testing.assert_array_equal(m.selected, np.flatnonzero(expect))
    assert np.array_equal(out, reference(m, x))


# ---------------------------------------------------------------- settings

def test_setters_store_q12_and_apply_next_tick():
    m = Mixer(4, 8)
    assert (m.input_gain(0), m.output_gain(0), m.is_muted(0), m.is_deaf(0), m.loudest) == \
        (1.0, 1.0, False, False, 0)
    m.set_input_gain(1, 1 / 3)
    m.set_output_gain(2, 0.5 / ONE)              # half an LSB rounds up
    m.set_input_gain(3, np.float32(8.0))
    assert m.input_gain(1) == 1365 / ONE == gain_to_q12(1 / 3) / ONE
    assert m.output_gains_q12[2] == 1 == gain_to_q12(0.5 / ONE)
    np.testing.assert_array_equal(m.input_gains_q12, [ONE, 1365, ONE, 8 * ONE])
    m.set_mute(2, np.bool_(True))
    m.set_deaf(3, True)
    assert m.is_muted(2) and m.is_deaf(3)
    np.testing.assert_array_equal(m.muted, [False, False, True, False])
    np.testing.assert_array_equal(m.deafened, [False, False, False, True])
    m.set_mute(2, False)
    assert not m.is_muted(2)
    assert repr(m) == "Mixer(n_participants=4, frame_samples=8, loudest=0)"


@pytest.mark.parametrize("gain,exc,match", [
    (-0.001, ValueError, r"\[0, 8.0\]"), (8.001, ValueError, r"\[0, 8.0\]"),
    (float("nan"), ValueError, "gain must be in"), (float("inf"), ValueError, "gain must be in"),
    (10**400, ValueError, "gain must be in"),
    ("1", TypeError, "real number"), (None, TypeError, "real number"), (True, TypeError, "real number"),
])
def test_bad_gain(gain, exc, match):
    m = Mixer(2, 4)
    for setter in (m.set_input_gain, m.set_output_gain):
        with pytest.raises(exc, match=match):
            setter(0, gain)
    assert m.input_gain(0) == m.output_gain(0) == 1.0      # unchanged


def test_bad_index_and_flags():
    m = Mixer(3, 4)
    for bad in (3, -1, 10**20):
        with pytest.raises(IndexError, match="out of range 0..2"):
            m.set_mute(bad, True)
        with pytest.raises(IndexError, match="out of range"):
            m.input_gain(bad)
    for bad in (1.0, "0", None):
        with pytest.raises(TypeError, match="index must be an int"):
            m.set_input_gain(bad, 1.0)
    with pytest.raises(TypeError, match="muted must be a bool"):
        m.set_mute(0, 1)
    with pytest.raises(TypeError, match="deaf must be a bool"):
        m.set_deaf(0, "yes")
    with pytest.raises(ValueError, match=r"k must be in 0..3"):
        m.set_loudest(4)
    with pytest.raises(ValueError, match=r"k must be in 0..3"):
        m.set_loudest(-1)
    with pytest.raises(TypeError, match="k must be an int"):
        m.set_loudest(1.5)


@pytest.mark.parametrize("n,f,exc,match", [
    (0, 320, ValueError, "n_participants must be in 1.."), (-1, 320, ValueError, "n_participants"),
    (MAX_PARTICIPANTS + 1, 320, ValueError, "n_participants"),
    (2, 0, ValueError, "frame_samples must be in 1.."), (2, -5, ValueError, "frame_samples"),
    (2.0, 320, TypeError, "n_participants must be an int"), (2, "320", TypeError, "frame_samples"),
])
def test_bad_constructor(n, f, exc, match):
    with pytest.raises(exc, match=match):
        Mixer(n, f)


def test_uninitialised_mixer_raises_instead_of_crashing():
    m = Mixer.__new__(Mixer)
    with pytest.raises(RuntimeError, match="__init__ was not called"):
        m.mix(np.zeros((0, 0), np.int16))
    with pytest.raises(IndexError):
        m.set_mute(0, True)


# ---------------------------------------------------------------- frames and out

def test_bad_frames():
    m = Mixer(3, 8)
    good = np.zeros((3, 8), np.int16)
    with pytest.raises(TypeError, match=r"numpy int16 array of shape \(3, 8\), got list"):
        m.mix(good.tolist())
    with pytest.raises(TypeError, match="dtype int16.*got <f4"):
        m.mix(good.astype(np.float32))
    with pytest.raises(TypeError, match="dtype int16.*got <i4"):
        m.mix(good.astype(np.int32))
    with pytest.raises(TypeError, match="native byte order.*>i2"):
        m.mix(good.astype(">i2"))
    with pytest.raises(ValueError, match=r"shape \(3, 8\).*got \(3, 7\)"):
        m.mix(np.zeros((3, 7), np.int16))
    with pytest.raises(ValueError, match=r"got \(2, 8\)"):
        m.mix(np.zeros((2, 8), np.int16))
    with pytest.raises(ValueError, match=r"got \(24,\)"):
        m.mix(np.zeros(24, np.int16))
    with pytest.raises(ValueError, match="C-contiguous"):
        m.mix(np.zeros((3, 16), np.int16)[:, ::2])
    with pytest.raises(ValueError, match="C-contiguous"):
        m.mix(np.asfortranarray(np.zeros((8, 3), np.int16).T))


def test_bad_out():
    m = Mixer(3, 8)
    x = np.zeros((3, 8), np.int16)
    with pytest.raises(ValueError, match=r"out must have shape \(3, 8\)"):
        m.mix(x, np.zeros((3, 9), np.int16))
    with pytest.raises(TypeError, match="out must have dtype int16"):
        m.mix(x, np.zeros((3, 8), np.int32))
    with pytest.raises(TypeError, match="out must be a numpy int16 array"):
        m.mix(x, bytearray(48))
    ro = np.zeros((3, 8), np.int16)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        m.mix(x, ro)
    m.mix(ro)                                                   # read-only input is fine
    buf = np.zeros(40, np.int16)
    with pytest.raises(ValueError, match="overlaps frames"):
        m.mix(buf[:24].reshape(3, 8), buf[8:32].reshape(3, 8))


def test_in_place():
    rng = np.random.default_rng(3)
    for loudest in (0, 2):
        x = noise(rng, 10, 321, 8000)
        m = Mixer(10, 321)
        m.set_input_gain(4, 2.5)
        m.set_mute(7, True)
        m.set_loudest(loudest)
        expect = reference(m, x)
        assert m.mix(x, x) is x
        assert np.array_equal(x, expect)


def test_kernel_isa_reported():
    assert KERNEL_ISA in ("avx2", "baseline")
