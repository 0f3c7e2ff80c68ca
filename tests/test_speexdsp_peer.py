"""The libspeexdsp resampler peer (_media.speexdsp_peer) used by bench/bench_resampler.py."""
import math

import numpy as np
import pytest

from _media.speexdsp_peer import SpeexResampler


def tone(freq, rate, seconds, amp=10000.0, dtype=np.int16):
    n = np.arange(int(rate * seconds))
    x = amp * np.sin(2 * np.pi * freq * n / rate)
    return np.round(x).astype(dtype) if dtype == np.int16 else x.astype(dtype)


def stream(rs, x, chunk):
    return np.concatenate([rs.process(x[i:i + chunk]) for i in range(0, len(x), chunk)])


@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_1khz_tone_16k_to_48k(dtype):
    rs = SpeexResampler(16000, 48000, 5, dtype)
    amp = 10000.0
    y = stream(rs, tone(1000, 16000, 2.0, amp, np.dtype(dtype).type), 320).astype(np.float64)
    assert len(y) == 96000
    lat = rs.output_latency
    w = slice(lat + 4800, lat + 4800 + 48000)       # 1 s of steady state after the latency
    seg = y[w]
    # frequency: FFT peak of a 1 s window (1 Hz bins)
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    assert int(np.argmax(spec)) == 1000
    # amplitude within 0.5 dB
    level_db = 20 * math.log10(np.sqrt(2 * np.mean(seg ** 2)) / amp)
    assert abs(level_db) < 0.5
    # and it is the input tone delayed by exactly output_latency samples
    m = np.arange(len(y))
    ideal = amp * np.sin(2 * np.pi * 1000 * (m[w] - lat) / 48000)
    err_db = 20 * math.log10(np.sqrt(np.mean((seg - ideal) ** 2)) / (amp / math.sqrt(2)))
    assert err_db < -50


def test_latency_properties():
    rs = SpeexResampler(16000, 48000, 5)
    assert rs.input_latency > 0 and rs.output_latency > 0
    assert rs.output_latency == rs.input_latency * 3
    assert rs.delay_ms == pytest.approx(1000.0 * rs.output_latency / 48000)
    assert (rs.in_rate, rs.out_rate, rs.quality) == (16000, 48000, 5)
    assert rs.dtype == np.int16
    assert SpeexResampler(8000, 48000, 5, "float32").dtype == np.float32
    assert "16000" in repr(rs)


@pytest.mark.parametrize("in_rate,out_rate,n_out", [
    (48000, 16000, 320), (16000, 48000, 960), (8000, 48000, 960), (48000, 8000, 160),
])
@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_20ms_frames_give_20ms(in_rate, out_rate, n_out, dtype):
    rs = SpeexResampler(in_rate, out_rate, 5, dtype)
    x = np.zeros(in_rate // 50, dtype)
    for _ in range(20):
        y = rs.process(x)
        assert y.dtype == np.dtype(dtype)
        assert len(y) == n_out


@pytest.mark.parametrize("in_rate,out_rate", [(44100, 48000), (48000, 44100), (48000, 8000), (8000, 48000)])
def test_all_output_returned_for_any_chunking(in_rate, out_rate):
    # process() loops until speex consumed every input sample: the cumulative output is
    # always ceil(total_in * out / in), whatever the chunk sizes (including 0 and long ones)
    rs = SpeexResampler(in_rate, out_rate, 5)
    rng = np.random.default_rng(7)
    total_in = total_out = 0
    for k in list(rng.integers(0, 700, 300)) + [0, 50000, 1, 0]:
        total_out += len(rs.process(np.zeros(int(k), np.int16)))
        total_in += int(k)
        assert total_out == -(-total_in * out_rate // in_rate)


def test_chunking_does_not_change_samples():
    x = tone(1000, 16000, 0.5) + tone(3100, 16000, 0.5, 3000)
    a = SpeexResampler(16000, 48000).process(x)
    b = stream(SpeexResampler(16000, 48000), x, 137)
    assert np.array_equal(a, b)


def test_reset_restarts_the_stream():
    x = tone(440, 48000, 0.1)
    rs = SpeexResampler(48000, 16000)
    first = rs.process(x)
    rs.process(x)
    rs.reset()
    assert np.array_equal(rs.process(x), first)


def test_skip_zeros_removes_latency():
    x = np.zeros(1600, np.int16)
    x[400] = 16000
    plain = SpeexResampler(16000, 48000)
    skipped = SpeexResampler(16000, 48000)
    skipped.skip_zeros()
    p = int(np.argmax(np.abs(plain.process(x).astype(float))))
    q = int(np.argmax(np.abs(skipped.process(x).astype(float))))
    assert p - q == plain.output_latency


def test_empty_input():
    y = SpeexResampler(16000, 48000).process(np.zeros(0, np.int16))
    assert y.dtype == np.int16 and len(y) == 0


@pytest.mark.parametrize("bad,exc", [
    (np.zeros(160, np.float32), TypeError),
    (np.zeros(160, np.int32), TypeError),
    (np.zeros(160, np.float64), TypeError),
    (np.zeros(320, np.int16)[::2], ValueError),          # non-contiguous
    (np.zeros((2, 160), np.int16), ValueError),          # not mono 1-D
    ("abc", TypeError),
    (None, TypeError),
    ([1, 2, 3], TypeError),
])
def test_bad_input_int16(bad, exc):
    rs = SpeexResampler(16000, 48000)
    with pytest.raises(exc):
        rs.process(bad)
    # still usable afterwards
    assert len(rs.process(np.zeros(320, np.int16))) == 960


@pytest.mark.parametrize("bad,exc", [
    (np.zeros(160, np.int16), TypeError),
    (np.zeros(160, np.float64), TypeError),
    (np.zeros(320, np.float32)[::2], ValueError),
])
def test_bad_input_float32(bad, exc):
    with pytest.raises(exc):
        SpeexResampler(16000, 48000, 5, "float32").process(bad)


@pytest.mark.parametrize("args,exc", [
    ((0, 48000), ValueError),
    ((16000, -1), ValueError),
    ((16000.0, 48000), TypeError),
    ((16000, 48000, 11), ValueError),
    ((16000, 48000, -1), ValueError),
    ((16000, 48000, 5, "int32"), TypeError),
    ((16000, 48000, 5, "nonsense"), TypeError),
])
def test_bad_construction(args, exc):
    with pytest.raises(exc):
        SpeexResampler(*args)
