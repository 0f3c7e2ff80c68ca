"""The streaming polyphase resampler (:mod:`_media.resampler`).

* the Cython kernel against the NumPy reference (:mod:`_media.reference.resampler`),
  and the reference against an independent formulation (``scipy.signal.upfirdn``);
* streaming == one-shot, bit for bit, with chunk sizes that do not divide the frame;
* the specification, measured on the kernel output for every ordered rate pair:
  passband ripple <= 0.1 dB up to 0.43 x f_low, stopband >= 80 dB from 0.5 x f_low
  (tones and a sweep), group delay == ``Resampler.delay``;
* flush/reset, and clear errors for bad input.

Run with ``-s`` to see the measured worst ripple / attenuation per rate pair
(the table printed at the end of the module).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.signal import upfirdn
from scipy.signal.windows import kaiser

from _media.reference.resampler import output_length_reference, resample_reference
from _media.resampler import RATES, Resampler, resample
from _media.resampler_design import design, prototype, regenerate_prototype

PAIRS = [(a, b) for a, b in itertools.permutations(RATES, 2)]
PAIR_IDS = [f"{a}-{b}" for a, b in PAIRS]
every_pair = pytest.mark.parametrize("in_rate,out_rate", PAIRS, ids=PAIR_IDS)
DOWN_PAIRS = [(a, b) for a, b in PAIRS if b < a]
every_down_pair = pytest.mark.parametrize("in_rate,out_rate", DOWN_PAIRS,
                                          ids=[f"{a}-{b}" for a, b in DOWN_PAIRS])
both_dtypes = pytest.mark.parametrize("dtype", ["int16", "float32"])

EDGE_LENGTHS = (0, 1, 2, 159, 160, 161, 441, 882, 3000)
CHUNK_PATTERN = (1, 7, 13, 160, 97, 0, 333)

RIPPLE_DB = 0.1
PASS_EDGE = 0.43
STOP_EDGE = 0.5
STOP_DB = 80.0
KAISER_BETA = 20.0

# Measured figures, printed at the end of the module (pytest -s).
_REPORT: dict[tuple[int, int], dict[str, float]] = {}


def _record(in_rate: int, out_rate: int, key: str, value: float, worst=max) -> None:
    row = _REPORT.setdefault((in_rate, out_rate), {})
    row[key] = worst(row[key], value) if key in row else value


@pytest.fixture(scope="module", autouse=True)
def _print_report():
    yield
    if not _REPORT:
        return
    cols = [("ripple_db", "ripple f32"), ("ripple_i16_db", "ripple i16"),
            ("stop_tone_db", "stop tones"), ("stop_sweep_db", "stop sweep"),
            ("alias_total_db", "alias total"), ("spur_db", "spurs"), ("delay_err", "delay err")]
    print("\n\nresampler: worst measured figures per pair (ripple dB pk-pk, attenuation dB, "
          "group delay error in output samples)")
    print(f"{'pair':>13} " + " ".join(f"{title:>11}" for _, title in cols))
    for pair in PAIRS:
        row = _REPORT.get(pair, {})
        cells = [f"{row[k]:11.4f}" if k in row else f"{'-':>11}" for k, _ in cols]
        print(f"{pair[0]:>6}>{pair[1]:<6} " + " ".join(cells))


# ---------------------------------------------------------------- helpers

def f_low(in_rate: int, out_rate: int) -> int:
    return min(in_rate, out_rate)


def settle(rs: Resampler) -> int:
    """Outputs whose taps still reach into the zero history (at least 2 x delay)."""
    up, down = rs.ratio
    return max(2 * rs.delay, -(-rs.taps * up // down) + 1)


def tone(freq: float, rate: int, n: int, amp: float, dtype: str, phase: float = 0.3) -> np.ndarray:
    x = amp * np.sin(2 * np.pi * freq / rate * np.arange(n) + phase)
    if dtype == "int16":
        return np.rint(x).astype(np.int16)
    return x.astype(np.float32)


def ls_sine(y: np.ndarray, freq: float, rate: int, offset: int = 0) -> tuple[float, float]:
    """Least-squares fit ``y[i] ~ A sin(w (i + offset) + phi)`` at the known frequency.

    Returns ``(A, phi)``. With the frequency known, amplitude and phase are the
    linear least-squares solution on a sin/cos basis: exact for a pure sinusoid
    whatever the segment length (no window, no scalloping, no bin alignment), and
    anything else in ``y`` (stopband residue at -80 dB, int16 rounding) enters
    only through its small correlation with the basis over many periods. That
    makes it accurate to far below 0.001 dB, which a 0.1 dB ripple bound needs.
    """
    w = 2 * np.pi * freq / rate
    t = w * (np.arange(y.size) + offset)
    basis = np.stack([np.sin(t), np.cos(t)], axis=1)
    (a, b), *_ = np.linalg.lstsq(basis, y.astype(np.float64), rcond=None)
    return math.hypot(a, b), math.atan2(b, a)


def kaiser_spectrum(y: np.ndarray, pad: int = 4) -> np.ndarray:
    """Amplitude spectrum (a sinusoid of amplitude A reads ~A at its peak), Kaiser beta=20.

    beta=20 puts the window's sidelobes ~150 dB down, so a full-scale tone cannot
    leak into the bins being checked for an -80 dB floor; zero-padding x4 keeps
    the peak-picking scalloping loss well under 0.01 dB (the main lobe is wide).
    """
    w = kaiser(y.size, KAISER_BETA)
    spec = np.abs(np.fft.rfft(y.astype(np.float64) * w, pad * y.size))
    return 2.0 * spec / w.sum()


def kaiser_level_at(y: np.ndarray, freq: float, rate: int) -> float:
    """Amplitude of the component at exactly ``freq`` (windowed DTFT, same window)."""
    w = kaiser(y.size, KAISER_BETA)
    e = np.exp(-2j * np.pi * freq / rate * np.arange(y.size))
    return 2.0 * abs(np.sum(y.astype(np.float64) * w * e)) / w.sum()


def db(ratio: float) -> float:
    return 20.0 * math.log10(max(ratio, 1e-300))


def as_int16(y: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(y), -32768, 32767)


def noise(n: int, dtype: str, seed: int, full_scale: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "int16":
        if full_scale:  # overshoots through the filter: exercises saturation
            return rng.integers(-32768, 32768, n).astype(np.int16)
        return np.clip(rng.normal(0, 6000, n), -32768, 32767).astype(np.int16)
    return rng.uniform(-1.0, 1.0, n).astype(np.float32)


def feed(rs: Resampler, x: np.ndarray, sizes) -> list[np.ndarray]:
    outs, i = [], 0
    for size in itertools.cycle(sizes):
        if i >= x.size:
            break
        outs.append(rs.process(x[i:i + size]))
        i += size
    return outs


# ---------------------------------------------------------------- reference

@every_pair
def test_reference_matches_upfirdn(in_rate, out_rate):
    """The vectorised reference == scipy's upfirdn with the table unrolled into one FIR."""
    d = design(in_rate, out_rate)
    # coef[p, k] is the full-rate filter at lag m = p + (taps-1-k)*up
    h = np.zeros(d.up * d.taps)
    for k in range(d.taps):
        h[np.arange(d.up) + (d.taps - 1 - k) * d.up] = d.coef[:, k]
    x = noise(1000, "float32", seed=in_rate + out_rate).astype(np.float64)
    want = upfirdn(h, x, d.up, d.down)[:output_length_reference(x.size, in_rate, out_rate)]
    got = resample_reference(x, in_rate, out_rate)
    assert got.shape == want.shape == (-(-1000 * out_rate // in_rate),)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_stored_prototype_matches_its_design():
    np.testing.assert_allclose(prototype(), regenerate_prototype(), rtol=0, atol=1e-12)


@every_pair
@both_dtypes
def test_kernel_matches_reference(in_rate, out_rate, dtype):
    for n in EDGE_LENGTHS:
        for full_scale in ((False, True) if dtype == "int16" else (False,)):
            x = noise(n, dtype, seed=n * 7 + in_rate // 1000, full_scale=full_scale)
            rs = Resampler(in_rate, out_rate, dtype)
            assert rs.output_length(n) == -(-n * out_rate // in_rate)
            y = rs.process(x)
            want = resample_reference(x, in_rate, out_rate)
            assert y.dtype == np.dtype(dtype)
            assert y.shape == want.shape == (-(-n * out_rate // in_rate),), n
            if dtype == "int16":
                err = np.abs(y.astype(np.float64) - as_int16(want))
                assert err.max(initial=0) <= 1, (n, full_scale)
            else:
                assert np.abs(y - want).max(initial=0) <= 1e-5, n


@pytest.mark.parametrize("rate", RATES)
@both_dtypes
def test_same_rate_passes_through(rate, dtype):
    x = noise(500, dtype, seed=4)
    rs = Resampler(rate, rate, dtype)
    assert rs.delay == 0
    np.testing.assert_array_equal(rs.process(x[:123]), x[:123])
    np.testing.assert_array_equal(rs.process(x[123:]), x[123:])
    np.testing.assert_array_equal(resample_reference(x, rate, rate), x.astype(np.float64))


# ---------------------------------------------------------------- streaming

@every_pair
@both_dtypes
def test_streaming_equals_one_shot(in_rate, out_rate, dtype):
    frame_in, frame_out = in_rate // 50, out_rate // 50      # 20 ms
    n = 25 * frame_in
    x = noise(n, dtype, seed=3)
    whole = Resampler(in_rate, out_rate, dtype).process(x)
    assert whole.size == -(-n * out_rate // in_rate)

    # 20 ms frames: exactly 20 ms out per frame
    outs = feed(Resampler(in_rate, out_rate, dtype), x, [frame_in])
    assert [o.size for o in outs] == [frame_out] * 25
    np.testing.assert_array_equal(np.concatenate(outs), whole)

    # chunks that do not divide the frame (and empty ones); odd total length
    m = n - 37
    outs = feed(Resampler(in_rate, out_rate, dtype), x[:m], CHUNK_PATTERN)
    got = np.concatenate(outs)
    assert got.size == -(-m * out_rate // in_rate)
    np.testing.assert_array_equal(got, whole[:got.size])

    # process_into, with the sizes announced by output_length
    rs = Resampler(in_rate, out_rate, dtype)
    buf = np.full(whole.size + 16, 7, dtype)
    pos = i = 0
    for size in itertools.cycle(CHUNK_PATTERN[::-1]):
        if i >= n:
            break
        chunk = x[i:i + size]
        expect = rs.output_length(chunk.size)
        assert rs.process_into(chunk, buf[pos:]) == expect
        pos += expect
        i += size
    assert pos == whole.size
    np.testing.assert_array_equal(buf[:pos], whole)
    assert np.all(buf[pos:] == 7)


def test_int16_bytes_and_array_input_agree():
    x = noise(1234, "int16", seed=5)
    a = Resampler(8000, 44100).process(x)
    b = Resampler(8000, 44100).process(x.tobytes())
    c = Resampler(8000, 44100).process(bytearray(x.tobytes()))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------- passband

@every_pair
def test_passband_ripple(in_rate, out_rate):
    lo = f_low(in_rate, out_rate)
    freqs = np.linspace(50.0, PASS_EDGE * lo, 25)
    for dtype, amp, key in (("float32", 0.5, "ripple_db"), ("int16", 16000.0, "ripple_i16_db")):
        gains = []
        for f in freqs:
            rs = Resampler(in_rate, out_rate, dtype)
            s = settle(rs)
            n_out = s + 4000 + 2 * rs.delay
            n_in = -(-n_out * in_rate // out_rate)
            x = tone(f, in_rate, n_in, amp, dtype)
            y = rs.process(x)
            y = y[s:y.size - 2 * rs.delay]                        # steady state only
            a_in, _ = ls_sine(x, f, in_rate)
            a_out, _ = ls_sine(y, f, out_rate)
            gains.append(db(a_out / a_in))
        ripple = max(gains) - min(gains)
        _record(in_rate, out_rate, key, ripple)
        assert ripple <= RIPPLE_DB, (dtype, dict(zip(freqs.round(1), np.round(gains, 4))))
        # and the passband really passes (not an all-zero output with no "ripple")
        assert abs(np.mean(gains)) < 0.1, (dtype, gains)


# ---------------------------------------------------------------- stopband

def steady_tone_output(in_rate: int, out_rate: int, f: float, n_steady: int = 4096):
    """A float32 tone of amplitude 1 through a fresh resampler: (input, steady-state output)."""
    rs = Resampler(in_rate, out_rate, "float32")
    s = settle(rs)
    x = tone(f, in_rate, -(-(s + n_steady) * in_rate // out_rate), 1.0, "float32")
    return x, rs.process(x)[s:]


@every_pair
def test_stopband_tones(in_rate, out_rate):
    """Tones: >= 80 dB from 0.5 x f_low, measured per spectral component.

    Levels are read from Kaiser(beta=20) spectra of the steady-state output and
    compared with the input tone read the same way (see kaiser_spectrum).
    """
    lo = f_low(in_rate, out_rate)
    worst = math.inf
    if out_rate < in_rate:
        # down-sampling: stopband tones in the input; all that reaches the output is aliasing
        freqs = np.linspace(STOP_EDGE * out_rate, 0.49 * in_rate, 15)
        assert freqs[0] == STOP_EDGE * out_rate
        for f in freqs:
            x, y = steady_tone_output(in_rate, out_rate, f)
            worst = min(worst, db(kaiser_level_at(x, f, in_rate) / kaiser_spectrum(y).max()))
    else:
        # up-sampling: passband tones; their images are all the output holds at >= 0.5 x f_in
        for f in np.linspace(50.0, PASS_EDGE * in_rate, 15):
            x, y = steady_tone_output(in_rate, out_rate, f)
            spec = kaiser_spectrum(y)
            bins = np.fft.rfftfreq(4 * y.size, 1.0 / out_rate)
            level_in = kaiser_level_at(x, f, in_rate)
            # the tone itself got through (so the image check is not vacuous)
            assert abs(db(kaiser_level_at(y, f, out_rate) / level_in)) < 0.1
            worst = min(worst, db(level_in / spec[bins >= STOP_EDGE * lo].max()))
    _record(in_rate, out_rate, "stop_tone_db", worst, worst=min)
    assert worst >= STOP_DB


@every_pair
def test_passband_tones_are_spur_free(in_rate, out_rate):
    """Passband tones: everything in the output away from the tone is >= 80 dB down.

    This covers images (up-sampling) and, for ratios with both up > 1 and down > 1,
    images that the final decimation folds back below 0.5 x f_in.
    """
    lo = f_low(in_rate, out_rate)
    worst = math.inf
    for f in np.linspace(50.0, PASS_EDGE * lo, 9):
        x, y = steady_tone_output(in_rate, out_rate, f)
        spec = kaiser_spectrum(y)
        bins = np.fft.rfftfreq(4 * y.size, 1.0 / out_rate)
        lobe = 8.0 * out_rate / y.size            # beyond beta=20's main lobe (6.4 bins)
        away = np.abs(bins - f) > lobe
        worst = min(worst, db(kaiser_level_at(x, f, in_rate) / spec[away].max()))
    _record(in_rate, out_rate, "spur_db", worst, worst=min)
    assert worst >= STOP_DB


SWEEP_F0 = 20.0
SWEEP_RATE = 2000.0    # Hz per second: slow enough for 0.1 s frames to resolve the sweep
TAPER_S = 0.02


def chirp(rate: int, f0: float, f1: float, seconds: float, taper: float = TAPER_S) -> np.ndarray:
    """Linear chirp f0 -> f1 (float32, amplitude 1, raised-cosine tapered ends)."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    x = np.sin(2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / seconds * t * t))
    m = int(taper * rate)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(m) / m)
    x[:m] *= ramp
    x[n - m:] *= ramp[::-1]
    return x.astype(np.float32)


def sweep_frames(y: np.ndarray, rate: int, frame_s: float, lag_s: float, span_s: float,
                 f0: float, f1: float, seconds: float):
    """Short-time Kaiser spectra of a chirp's resampled output.

    Yields ``(bins, spectrum, f_lo, f_hi, t0, t1)`` per frame (hop = half a
    frame), where [f_lo, f_hi] is the range of the chirp's instantaneous frequency
    over the input times [t0, t1] that can reach the frame (frame span shifted by
    the group delay ``lag_s``, widened by the filter half-span ``span_s``).
    Linear chirp: every frame sees the same sweep rate, so the same smearing.
    """
    L = int(round(frame_s * rate))
    bins = np.fft.rfftfreq(4 * L, 1.0 / rate)
    k = (f1 - f0) / seconds
    for s in range(0, y.size - L + 1, L // 2):
        t0 = s / rate - lag_s - span_s
        t1 = (s + L) / rate - lag_s + span_s
        if t1 <= 0 or t0 >= seconds:
            continue
        f_lo = f0 + k * max(t0, 0.0)
        f_hi = f0 + k * min(t1, seconds)
        yield bins, kaiser_spectrum(y[s:s + L]), f_lo, f_hi, t0, t1


@every_pair
def test_stopband_sweep(in_rate, out_rate):
    """A linear chirp 20 Hz -> 0.49 x f_in, read with short-time Kaiser(beta=20) spectra.

    Down-sampling: in frames where the chirp is above 0.5 x f_out (with the
    window's main lobe as margin), every output component is aliasing and must be
    >= 80 dB below the chirp's passband level. Up-sampling: every component at or
    above 0.5 x f_in (outside the chirp's own local band) must be >= 80 dB down.
    The reference level is the chirp read the same way in passband frames, so the
    sweep's smearing within a frame cancels out of the ratio.
    A spectrum of the whole output would not do: it adds up, coherently,
    components that different parts of the sweep put at one output frequency at
    different times (e.g. 16k->24k: input 3.7 and 4.3 kHz both reach 11.7 kHz),
    which no single input does.
    """
    lo = f_low(in_rate, out_rate)
    f1 = 0.49 * in_rate
    seconds = (f1 - SWEEP_F0) / SWEEP_RATE
    x = chirp(in_rate, SWEEP_F0, f1, seconds)
    rs = Resampler(in_rate, out_rate, "float32")
    y = rs.process(np.concatenate([x, np.zeros(2 * rs.taps, np.float32)])).astype(np.float64)
    frame_s = 0.1
    margin = 8.0 / frame_s                       # beyond the main lobe (6.4 bins at beta=20)
    span_s = (rs.taps / 2 + 1) / in_rate
    lag_s = rs.delay / out_rate
    ref, leaks = [], []
    for bins, spec, f_lo, f_hi, t0, t1 in sweep_frames(y, out_rate, frame_s, lag_s, span_s,
                                                       SWEEP_F0, f1, seconds):
        if (f_lo - margin >= 0.05 * lo and f_hi + margin <= 0.4 * lo
                and t0 >= TAPER_S and t1 <= seconds - TAPER_S):
            ref.append(spec.max())
        if out_rate < in_rate:
            if f_lo - margin >= STOP_EDGE * out_rate:
                leaks.append(spec.max())
        else:
            mask = (bins >= STOP_EDGE * lo) & (bins > f_hi + margin)
            leaks.append(spec[mask].max())
    assert len(ref) >= 5 and len(leaks) >= 5
    level = float(np.median(ref))
    # the passband part comes through at the chirp's level (read the same way on the input)
    in_frame = int(round(frame_s * in_rate))
    mid = x.size // 2 - in_frame // 2
    in_level = kaiser_spectrum(x[mid:mid + in_frame].astype(np.float64)).max()
    assert abs(db(level / in_level)) < 0.2
    atten = db(level / max(leaks))
    _record(in_rate, out_rate, "stop_sweep_db", atten, worst=min)
    assert atten >= STOP_DB


@every_down_pair
def test_sweep_total_alias_level(in_rate, out_rate):
    """Down-sampling, in the time domain: while the chirp is above 0.5 x f_out, the
    output sample peaks (all aliases together) stay >= 80 dB below the input amplitude.
    (Up-sampling has no aliasing band; its images are checked by test_stopband_sweep.)"""
    f1 = 0.49 * in_rate
    seconds = (f1 - SWEEP_F0) / SWEEP_RATE
    x = chirp(in_rate, SWEEP_F0, f1, seconds)
    rs = Resampler(in_rate, out_rate, "float32")
    y = np.concatenate([rs.process(x), rs.flush()]).astype(np.float64)
    # Output j shows the input around time (j - delay)/f_out, +- the filter's
    # half-span: gate on outputs whose whole span sees the chirp above 0.5 x f_out.
    span_s = (rs.taps / 2 + 1) / in_rate
    k = SWEEP_RATE
    t_out = (np.arange(y.size) - rs.delay) / out_rate
    t_edge = (STOP_EDGE * out_rate - SWEEP_F0) / k
    t_pass = (PASS_EDGE * out_rate - SWEEP_F0) / k
    stop = (t_out >= t_edge + span_s) & (t_out <= seconds - TAPER_S - span_s)
    passing = (t_out >= TAPER_S + span_s) & (t_out <= t_pass - span_s)
    # the slice of the sweep skipped just above the edge is < 1% of f_out
    assert k * span_s < 0.01 * out_rate
    assert stop.sum() > 0.1 * out_rate and passing.sum() > 0.1 * out_rate
    assert abs(db(math.sqrt(2.0 * np.mean(y[passing] ** 2)))) < 0.2   # the passband comes through
    atten = db(1.0 / np.abs(y[stop]).max())
    _record(in_rate, out_rate, "alias_total_db", atten, worst=min)
    assert atten >= STOP_DB


# ---------------------------------------------------------------- group delay

@every_pair
def test_group_delay(in_rate, out_rate):
    lo = f_low(in_rate, out_rate)
    rs = Resampler(in_rate, out_rate, "float32")
    assert rs.delay_ms == pytest.approx(1000.0 * rs.delay / out_rate)
    assert rs.delay == design(in_rate, out_rate).delay
    s = settle(rs)
    # Tones: y[j] ~ A sin(w_out (j - D) + phi0) for input sin(w_in n + phi0).
    # 50 Hz first (its period, >= 160 output samples, exceeds 2 x any delay, so
    # the phase gives D unambiguously); the others are unwrapped around it:
    # linear phase means the same D across the passband.
    estimates = []
    for f in (50.0, 0.1 * lo, 0.2 * lo, 0.3 * lo, 0.4 * lo):
        n_out = s + 8000
        x = tone(f, in_rate, -(-n_out * in_rate // out_rate), 0.5, "float32", phase=0.3)
        y = rs.process(x)[s:]
        rs.reset()
        _, phi = ls_sine(y, f, out_rate, offset=s)
        period = out_rate / f
        d = ((0.3 - phi) / (2 * np.pi) * period)
        ref = estimates[0] if estimates else 0.0
        d = ref + ((d - ref + period / 2) % period - period / 2)
        estimates.append(d)
    err = max(abs(d - rs.delay) for d in estimates)
    _record(in_rate, out_rate, "delay_err", err)
    assert err < 0.01, estimates

    # Impulse through the float path: the peak lands exactly `delay` outputs late.
    up, down = rs.ratio
    i0 = 10 * down                      # input index on the output grid: output 10*up
    x = np.zeros(i0 + 4 * rs.taps * down // up + 8 * down, np.float32)
    x[i0] = 1.0
    y = np.concatenate([rs.process(x), rs.flush()])
    c = 10 * up + rs.delay
    assert int(np.argmax(y)) == c
    half = rs.delay
    # symmetric around the peak: the table is designed exactly linear phase (each output
    # here is one coefficient times 1.0, so only float32 storage could break the tie)
    np.testing.assert_allclose(y[c + 1:c + half], y[c - 1:c - half:-1], rtol=0, atol=1e-7 * y[c])


@every_pair
def test_resample_helper_is_time_aligned(in_rate, out_rate):
    lo = f_low(in_rate, out_rate)
    f = 0.05 * lo
    n = in_rate // 2
    x = tone(f, in_rate, n, 0.5, "float32", phase=0.0)
    y = resample(x, in_rate, out_rate)
    assert y.dtype == np.float32 and y.size == -(-n * out_rate // in_rate)
    y = y.astype(np.float64)
    ideal = 0.5 * np.sin(2 * np.pi * f / out_rate * np.arange(y.size))
    mid = slice(y.size // 4, 3 * y.size // 4)
    lags = range(-5, 6)
    corr = [np.dot(y[mid], np.roll(ideal, lag)[mid]) for lag in lags]
    assert lags[int(np.argmax(corr))] == 0
    _, phi = ls_sine(y[mid], f, out_rate, offset=mid.start)
    frac = -phi / (2 * np.pi * f / out_rate)
    assert abs(frac) < 0.01
    # sample by sample: equal within the passband ripple (0.1 dB of 0.5 is 0.0058)
    np.testing.assert_allclose(y[mid], ideal[mid], rtol=0, atol=0.006)

    # int16 too, and the same samples as process + flush with the delay cut off
    xi = tone(f, in_rate, n, 16000, "int16", phase=0.0)
    yi = resample(xi, in_rate, out_rate)
    rs = Resampler(in_rate, out_rate)
    full = np.concatenate([rs.process(xi), rs.flush()])
    assert yi.dtype == np.int16
    np.testing.assert_array_equal(yi, full[rs.delay:rs.delay + yi.size])


# ---------------------------------------------------------------- flush / reset

@every_pair
def test_flush_and_reset(in_rate, out_rate):
    n = 3 * in_rate // 50 + 11
    x = noise(n, "float32", seed=11)
    rs = Resampler(in_rate, out_rate, "float32")
    head = rs.process(x)
    tail = rs.flush()
    got = np.concatenate([head, tail])
    n_out = -(-n * out_rate // in_rate)
    # the whole delayed signal: up to the output aligned with the last input sample
    assert got.size >= n_out + rs.delay
    want = resample_reference(np.concatenate([x, np.zeros(4 * rs.taps)]), in_rate, out_rate)
    np.testing.assert_allclose(got, want[:got.size], rtol=0, atol=1e-5)
    assert np.abs(tail[-rs.delay:]).max() > 1e-3       # the tail carries signal, not padding
    resample_out = resample(x, in_rate, out_rate)
    np.testing.assert_array_equal(resample_out, got[rs.delay:rs.delay + n_out])

    # after flush the state is a fresh resampler's
    nxt = noise(777, "float32", seed=12)
    fresh = Resampler(in_rate, out_rate, "float32")
    np.testing.assert_array_equal(rs.process(nxt), fresh.process(nxt))

    # reset mid-stream (mid-phase) too, int16
    xi = noise(n, "int16", seed=13)
    rsi = Resampler(in_rate, out_rate)
    rsi.process(xi[:97])
    rsi.reset()
    np.testing.assert_array_equal(rsi.process(xi), Resampler(in_rate, out_rate).process(xi))


def test_flush_on_fresh_resampler_is_silence_of_the_right_length():
    rs = Resampler(48000, 8000)
    tail = rs.flush()
    assert tail.dtype == np.int16 and np.all(tail == 0) and tail.size >= rs.delay


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("rate", [11025, 0, -8000, 96000])
def test_unsupported_rate(rate):
    with pytest.raises(ValueError, match=r"unsupported in_rate"):
        Resampler(rate, 8000)
    with pytest.raises(ValueError, match=r"unsupported out_rate"):
        Resampler(8000, rate)
    with pytest.raises(ValueError, match=r"unsupported"):
        resample(np.zeros(10, np.int16), rate, 8000)


@pytest.mark.parametrize("rate", [8000.0, "8000", None, True])
def test_non_int_rate(rate):
    with pytest.raises(TypeError, match=r"in_rate must be an int"):
        Resampler(rate, 16000)
    with pytest.raises(TypeError, match=r"out_rate must be an int"):
        Resampler(16000, rate)


def test_numpy_int_rate_is_accepted():
    rs = Resampler(np.int64(8000), np.int32(16000))
    assert (rs.in_rate, rs.out_rate) == (8000, 16000)


@pytest.mark.parametrize("dtype", ["int32", "float64", np.int32, np.float64, "uint8"])
def test_bad_constructor_dtype(dtype):
    with pytest.raises(TypeError, match=r"dtype must be int16 or float32"):
        Resampler(8000, 16000, dtype)


@pytest.mark.parametrize("dtype,x", [
    ("int16", np.zeros(10, np.float64)),
    ("int16", np.zeros(10, np.int32)),
    ("int16", np.zeros(10, np.float32)),
    ("float32", np.zeros(10, np.float64)),
    ("float32", np.zeros(10, np.int16)),
    ("float32", b"\x00\x00\x00\x00"),
    ("int16", np.zeros(10, ">u2")),
], ids=["f64->i16", "i32->i16", "f32->i16", "f64->f32", "i16->f32", "bytes->f32", "u16-bigendian"])
def test_wrong_input_dtype(dtype, x):
    rs = Resampler(8000, 16000, dtype)
    with pytest.raises(TypeError, match=rf"expected native-endian {dtype} samples"):
        rs.process(x)
    with pytest.raises(TypeError, match=rf"expected native-endian {dtype} samples"):
        rs.process_into(x, np.zeros(100, dtype))


# Regressions: byte order, shape and argument types found by review.
@pytest.mark.parametrize("dtype,swapped", [("int16", ">i2"), ("float32", ">f4")])
def test_non_native_byte_order_is_rejected(dtype, swapped):
    rs = Resampler(8000, 16000, dtype)
    with pytest.raises(TypeError, match=rf"expected native-endian {dtype} samples"):
        rs.process(np.full(200, 100, swapped))


def test_process_into_rejects_byte_swapped_out():
    rs = Resampler(8000, 16000)
    with pytest.raises(TypeError, match=r"expected native-endian int16 samples"):
        rs.process_into(np.zeros(160, np.int16), np.zeros(320, ">i2"))


def test_two_d_byte_array_is_rejected():
    with pytest.raises(ValueError, match=r"1-D"):
        Resampler(8000, 16000).process(np.zeros((4, 2), np.uint8))


def test_resample_helper_rejects_float_rate():
    with pytest.raises(TypeError):
        resample(np.zeros(10, np.int16), 8000.0, 16000)


@pytest.mark.parametrize("x", ["abc", None, 5, 1.5, [1, 2, 3]])
def test_non_buffer_input(x):
    rs = Resampler(8000, 16000)
    with pytest.raises(TypeError, match=r"expected a buffer of int16 samples"):
        rs.process(x)


def test_odd_byte_length():
    rs = Resampler(8000, 16000)
    with pytest.raises(ValueError, match=r"odd byte length 3"):
        rs.process(b"\x00\x01\x02")
    with pytest.raises(ValueError, match=r"odd byte length"):
        rs.process(bytearray(5))


@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_shape_and_contiguity(dtype):
    rs = Resampler(8000, 16000, dtype)
    with pytest.raises(ValueError, match=r"expected 1-D mono samples, got 2-D"):
        rs.process(np.zeros((10, 2), dtype))
    with pytest.raises(ValueError, match=r"expected 1-D mono samples, got 0-D"):
        rs.process(np.zeros((), dtype))
    with pytest.raises(ValueError, match=r"C-contiguous"):
        rs.process(np.zeros(20, dtype)[::2])
    # state untouched by the failed calls
    x = noise(300, dtype, seed=2)
    np.testing.assert_array_equal(rs.process(x), Resampler(8000, 16000, dtype).process(x))


@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_process_into_bad_out(dtype):
    rs = Resampler(8000, 16000, dtype)
    x = np.zeros(160, dtype)
    with pytest.raises(ValueError, match=r"out holds 319 samples, 320 needed"):
        rs.process_into(x, np.zeros(319, dtype))
    ro = np.zeros(400, dtype)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match=r"read-only"):
        rs.process_into(x, ro)
    with pytest.raises(TypeError, match=rf"expected native-endian {dtype} samples"):
        rs.process_into(x, np.zeros(400, np.float64))
    with pytest.raises(ValueError, match=r"C-contiguous"):
        rs.process_into(x, np.zeros(800, dtype)[::2])
    # nothing consumed by the failed calls
    out = np.zeros(320, dtype)
    assert rs.process_into(x, out) == 320


def test_output_length_negative():
    rs = Resampler(8000, 16000)
    with pytest.raises(ValueError, match=r"n must be >= 0"):
        rs.output_length(-1)
    assert rs.output_length(0) == 0 and rs.output_length(160) == 320


def test_resample_helper_bad_dtype():
    with pytest.raises(TypeError, match=r"expected an int16 or float32 array, got dtype float64"):
        resample(np.zeros(10), 8000, 16000)


# The portable (non-AVX2) build of the inner loops, forced in a subprocess.
BASELINE_CHECK = r"""
import numpy as np
from _media.resampler import Resampler, KERNEL_ISA
from _media.reference.resampler import resample_reference
assert KERNEL_ISA == "baseline", KERNEL_ISA
rng = np.random.default_rng(7)
for fi, fo in [(16000, 48000), (48000, 16000), (8000, 44100), (24000, 32000)]:
    for dtype in ("int16", "float32"):
        x = (rng.standard_normal(3000) * (3000 if dtype == "int16" else 0.1)).astype(dtype)
        y = Resampler(fi, fo, dtype).process(x)
        rs = Resampler(fi, fo, dtype)
        chunks = np.concatenate([rs.process(x[i:i + 97]) for i in range(0, len(x), 97)])
        assert np.array_equal(y, chunks), (fi, fo, dtype)
        ref = resample_reference(x, fi, fo)
        if dtype == "int16":
            ref = np.clip(np.rint(ref), -32768, 32767)
            assert np.max(np.abs(y - ref)) <= 1, (fi, fo)
        else:
            assert np.max(np.abs(y - ref)) <= 1e-5, (fi, fo)
print("baseline ok")
"""


def test_baseline_isa_kernel_matches_reference():
    import os
    import subprocess
    import sys

    env = dict(os.environ, SIPCTL_KERNEL_ISA="baseline")
    r = subprocess.run([sys.executable, "-c", BASELINE_CHECK], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "baseline ok" in r.stdout
