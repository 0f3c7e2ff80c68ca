"""Locally generated call-progress tones (int16 frames, phase-continuous).

:class:`RingbackTone` is the North American ringback (ITU-T E.180 / ATIS-0300011): the
sum of 440 Hz and 480 Hz, each at -19 dBFS peak (about -16 dBm0 each), cadence 2 s on /
4 s off. (The European 425 Hz 1 s on / 4 s off tone is ``RingbackTone(rate,
freqs=(425,), on_ms=1000, off_ms=4000)``.)

The waveform is precomputed for one second (a whole number of periods of every tone
with integer frequencies), so a frame is a slice of a table: no per-sample Python.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["RingbackTone", "US_RINGBACK", "EU_RINGBACK"]

US_RINGBACK = ((440, 480), 2000, 4000)
EU_RINGBACK = ((425,), 1000, 4000)


class RingbackTone:
    """Endless ringback: :meth:`frame` returns the next ``n`` samples (cadence included)."""

    def __init__(self, rate: int, freqs: Sequence[int] = US_RINGBACK[0],
                 on_ms: int = US_RINGBACK[1], off_ms: int = US_RINGBACK[2],
                 level: float = 0.112) -> None:
        if rate <= 0 or on_ms <= 0 or off_ms < 0 or not freqs:
            raise ValueError("bad tone parameters")
        if any(int(f) != f or f <= 0 for f in freqs):
            raise ValueError("tone frequencies must be positive integers (Hz)")
        self.rate = rate
        self.freqs = tuple(int(f) for f in freqs)
        t = np.arange(rate) / rate
        wave = sum(np.sin(2 * np.pi * f * t) for f in self.freqs) * (level * 32767)
        self._table = np.clip(np.rint(wave), -32768, 32767).astype(np.int16)
        self._table2 = np.concatenate([self._table, self._table])
        self.on = on_ms * rate // 1000
        self.cycle = self.on + off_ms * rate // 1000
        self._pos = 0          # samples since the start of the tone

    def reset(self) -> None:
        """Restart at the beginning of an "on" period."""
        self._pos = 0

    def frame(self, n: int) -> np.ndarray:
        """The next ``n`` samples (a new array)."""
        out = np.zeros(n, np.int16)
        self.add_into(out, None)
        return out

    def add_into(self, acc: np.ndarray, gain: float | None = 1.0) -> None:
        """Add the next ``len(acc)`` samples into ``acc`` (int32 accumulator; with
        ``gain=None``, ``acc`` is int16 and is overwritten)."""
        n = len(acc)
        if n > self.rate:
            raise ValueError("frame longer than one second")
        pos, rate = self._pos, self.rate
        c = pos % self.cycle
        self._pos = pos + n
        if c >= self.on and c + n <= self.cycle:
            if gain is None:
                acc[:] = 0
            return                                  # wholly in the silent part
        s = pos % rate
        seg = self._table2[s:s + n]
        if c + n > self.on or c + n > self.cycle:   # crosses an on/off edge: mask it
            idx = (np.arange(pos, pos + n) % self.cycle) < self.on
            seg = np.where(idx, seg, 0).astype(np.int16)
        if gain is None:
            acc[:] = seg
        else:
            acc += seg
