"""Speech-like test audio made with espeak-ng at run time (no downloads).

espeak-ng writes 22050 Hz WAV; it is resampled to 8/16 kHz with SciPy's polyphase
filter (22.05 kHz is not one of the project resampler's rates). Results are cached
in the temp directory, keyed by text, voice and rate.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np

SENTENCES = (
    "The quick brown fox jumps over the lazy dog. "
    "Please call me back tomorrow morning at nine thirty. "
    "Our conference bridge mixes every caller except yourself. "
    "Packets that arrive too late are concealed by repeating the last pitch period. "
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells. "
    "Seven hundred and forty two thousand, one hundred and sixty eight. "
)


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def speech(rate: int = 8000, seconds: float = 30.0, voice: str = "en-us", text: str = SENTENCES) -> np.ndarray:
    """int16 mono speech at ``rate`` Hz, ``seconds`` long (the text repeats as needed).

    Raises RuntimeError naming the Debian package when espeak-ng is missing.
    """
    if not have_espeak():
        raise RuntimeError("espeak-ng not found: install the Debian package 'espeak-ng' (ci/install-deps does)")
    key = hashlib.sha1(f"{voice}|{rate}|{text}".encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"sipctl-speech-{key}.npy"
    if cache.exists():
        base = np.load(cache)
    else:
        with tempfile.TemporaryDirectory() as d:
            wav = Path(d) / "s.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text],
                           check=True, capture_output=True, timeout=120)
            with wave.open(str(wav)) as w:
                src_rate = w.getframerate()
                x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float64)
        from scipy.signal import resample_poly

        fr = Fraction(rate, src_rate)
        y = resample_poly(x, fr.numerator, fr.denominator)
        y *= 0.5 * 32767 / max(1.0, np.max(np.abs(y)))  # -6 dBFS peak: headroom for codecs
        base = np.round(y).astype(np.int16)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, base)
        tmp.replace(cache)
    n = int(rate * seconds)
    reps = -(-n // len(base))
    return np.tile(base, reps)[:n].copy()
