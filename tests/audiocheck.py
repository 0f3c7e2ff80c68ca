"""Audio measurements for end-to-end tests: tone frequency, level, WAV I/O, PESQ."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

__all__ = ["sine", "write_wav", "read_wav", "dominant_freq", "rms", "segment", "pesq_nb", "aligned_reference"]


def sine(freq: float, seconds: float, rate: int = 8000, amplitude: float = 0.4) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.round(amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def write_wav(path: Path, x: np.ndarray, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(x, "<i2").tobytes())
    return path


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2, path
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2").copy()


def dominant_freq(x: np.ndarray, rate: int) -> float:
    """The strongest frequency (Hz) of ``x``: Hann window, FFT peak, parabolic interpolation
    of the log magnitudes (accurate to a small fraction of a bin for a steady tone)."""
    x = np.asarray(x, np.float64)
    assert len(x) >= rate // 4, f"only {len(x)} samples"
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    spec[0] = 0.0
    k = int(np.argmax(spec))
    if 0 < k < len(spec) - 1:
        a, b, c = np.log(spec[k - 1:k + 2] + 1e-9)
        k = k + 0.5 * (a - c) / (a - 2 * b + c)
    return float(k * rate / len(x))


def rms(x: np.ndarray) -> float:
    x = np.asarray(x, np.float64)
    return float(np.sqrt(np.mean(x ** 2))) if len(x) else 0.0


def segment(x: np.ndarray, rate: int, start: float, end: float) -> np.ndarray:
    """Samples from ``start`` to ``end`` seconds."""
    return x[max(0, int(start * rate)):max(0, int(end * rate))]


def pesq_nb(reference: np.ndarray, degraded: np.ndarray, rate: int = 8000) -> float:
    """ITU-T P.862 narrowband MOS-LQO (the ``pesq`` package; it aligns the delay itself)."""
    from pesq import pesq
    n = min(len(reference), len(degraded))
    return float(pesq(rate, reference[:n].astype(np.float64), degraded[:n].astype(np.float64),
                      "nb"))


def aligned_reference(loop: np.ndarray, degraded: np.ndarray) -> np.ndarray:
    """The stretch of ``loop`` (a signal played in a loop) that ``degraded`` is a copy of:
    the lag is found by FFT cross-correlation against the loop repeated."""
    reps = len(degraded) // len(loop) + 2
    ref = np.tile(np.asarray(loop, np.float64), reps)
    deg = np.asarray(degraded, np.float64)
    n = 1 << int(np.ceil(np.log2(len(ref) + len(deg))))
    corr = np.fft.irfft(np.fft.rfft(ref, n) * np.conj(np.fft.rfft(deg, n)), n)
    lag = int(np.argmax(corr[:len(loop)]))
    return np.tile(loop, reps)[lag:lag + len(deg)]
