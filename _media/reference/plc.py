"""Pure-Python/NumPy reference for :mod:`_media.plc` (tests only; not for production use).

:class:`WaveformPlcReference` runs the same algorithm as the Cython kernel step
for step, in the same integer (Q15 fixed-point) arithmetic, so the two agree bit
for bit; the pitch search scores ``corr / sqrt(energy)`` in float64 from exact
integer sums, which IEEE-754 makes identical in C and NumPy. It is written for
reading, one sample at a time, and is much slower than the kernel.

The algorithm (durations scale with the rate; see :func:`plc_params`):

1. History: the last 48.75 ms of *output* (3 x 15 ms + 3.75 ms).
2. First lost sample: pitch ``P`` = the lag in 2.5..15 ms maximising
   ``sum(l * r_P) / sqrt(sum(r_P**2))`` between the newest 20 ms ``l`` and the
   segment ``r_P`` P samples earlier (full search, smallest lag on ties). The
   pitch buffer is a copy of the history whose last ``L = P // 4`` samples are
   cross-faded into the ``L`` samples that precede the repeated period, so the
   period wraps without a step (G.711 Appendix I).
3. Synthesis repeats the last ``blen`` samples of the pitch buffer (``blen`` =
   P, then 2P from 10 ms, 3P from 20 ms; each switch cross-fades the old and the
   new continuation over ``L`` samples). Zero added delay: instead of rewriting
   unplayed history (Appendix I delays output by 3.75 ms for that), the first
   ``L`` synthetic samples are cross-faded from a predicted continuation, the
   synthetic signal shifted by ``e0 = h[-1] - h[-1 - P]`` so that it starts where
   the played signal stopped, i.e. ``out[t] = syn[t] + e0 * (L - t) / (L + 1)``.
4. Gain: 1 for the first 10 ms, then down linearly by 20 % per 10 ms: exactly 0
   from 60 ms on.
5. First good frame after a loss: the synthetic signal keeps running and is
   cross-faded into the good samples over 4 ms (erasure <= 10 ms), 8 ms
   (<= 20 ms) or 10 ms (longer); the merge may span several short frames.

Cross-fades use Q15 weights ``w = ((k + 1) << 15) // (n + 1)`` for step ``k`` of
``n`` and ``(a * (32768 - w) + b * w + 16384) >> 15`` (floor shifts, as the
kernel's arithmetic shifts on gcc/clang).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["PlcParams", "plc_params", "find_pitch", "WaveformPlcReference"]

ONE = 1 << 15
HALF = 1 << 14


@dataclass(frozen=True)
class PlcParams:
    """Sample counts derived from the rate (and the frame size)."""

    rate: int
    frame: int
    pmin: int        # shortest pitch period, ceil(2.5 ms)
    pmax: int        # longest pitch period, floor(15 ms)
    hist: int        # history length, 3 * pmax + pmax // 4 (48.75 ms at 8 kHz)
    corr: int        # pitch correlation window, 20 ms
    emin: int        # energy floor of the normalised correlation
    t4: int          # 4 ms: merge ramp step
    t10: int         # 10 ms
    t60: int         # 60 ms: silence from here on


def plc_params(rate: int, frame: int) -> PlcParams:
    if not 8000 <= rate <= 48000:
        raise ValueError(f"rate must be 8000..48000 Hz, got {rate}")
    if not 1 <= frame <= rate:
        raise ValueError(f"frame_samples must be 1..{rate}, got {frame}")
    pmax = rate * 15 // 1000
    corr = rate // 50
    return PlcParams(rate, frame, (rate * 5 + 1999) // 2000, pmax, 3 * pmax + pmax // 4,
                     corr, 4 * corr, rate // 250, rate // 100, 6 * (rate // 100))


def _w(k: int, n: int) -> int:
    """Q15 fade-in weight of step k of an n-step cross-fade (never 0 or 1)."""
    return ((k + 1) << 15) // (n + 1)


def _mix(a: int, b: int, w: int) -> int:
    """a fading out, b fading in with weight w (Q15)."""
    return (a * (ONE - w) + b * w + HALF) >> 15


def _sat16(v: int) -> int:
    return -32768 if v < -32768 else 32767 if v > 32767 else v


def find_pitch(hist: np.ndarray, pmin: int, pmax: int, corr: int, emin: int) -> int:
    """Pitch period in samples of the newest part of ``hist`` (see the module docstring)."""
    x = np.asarray(hist, np.int64)
    n = x.size
    lags = np.arange(pmin, pmax + 1)
    r = sliding_window_view(x, corr)[n - corr - lags]      # r[i] = x[n-corr-P_i : n-P_i]
    c = r @ x[n - corr:]                                   # exact int64 sums
    e = np.einsum("ij,ij->i", r, r)
    score = c.astype(np.float64) / np.sqrt(np.maximum(e, emin).astype(np.float64))
    return int(lags[int(np.argmax(score))])                # first maximum: smallest lag


class WaveformPlcReference:
    """Reference twin of :class:`_media.plc.WaveformPlc` (same API, lists of ints inside)."""

    delay = 0

    def __init__(self, rate: int = 8000, frame_samples: int = 160) -> None:
        self.p = plc_params(rate, frame_samples)
        self.rate = rate
        self.frame_samples = frame_samples
        self.reset()

    def reset(self) -> None:
        self.hist = [0] * self.p.hist
        self.pb: list[int] = []
        self.lastq: list[int] = []
        self.ola: list[int] = []
        self.erasing = self.merging = False
        self.pitch = self.L = self.blen = self.off = self.ola_pos = self.t = self.e0 = 0
        self.merge_len = self.merge_pos = 0
        self.concealed_frames = self.erasure_frames = 0

    # -- synthesis -----------------------------------------------------------

    def _blend_tail(self) -> None:
        H, L, b = self.p.hist, self.L, self.blen
        for j in range(L):
            self.pb[H - L + j] = _mix(self.lastq[j], self.pb[H - b - L + j], _w(j, L))

    def _start_erasure(self) -> None:
        p, H = self.p, self.p.hist
        P = find_pitch(np.array(self.hist), p.pmin, p.pmax, p.corr, p.emin)
        self.pitch, self.L = P, P >> 2
        self.pb = list(self.hist)
        self.lastq = self.hist[H - self.L:]
        self.blen, self.off, self.t = P, 0, 0
        self.ola_pos = self.L                                # no period switch in progress
        self._blend_tail()
        self.e0 = self.hist[H - 1] - self.hist[H - 1 - P]

    def _raw(self) -> int:
        v = self.pb[self.p.hist - self.blen + self.off]
        self.off += 1
        if self.off == self.blen:
            self.off = 0
        return v

    def _add_period(self) -> None:
        save = self.off
        self.ola = [self._raw() for _ in range(self.L)]     # old continuation
        self.off = save
        self.blen += self.pitch
        self._blend_tail()
        self.off %= self.pitch
        self.ola_pos = 0

    def _synth(self) -> int:
        p, t, L = self.p, self.t, self.L
        if t >= p.t60:
            return 0
        if t == p.t10 or t == 2 * p.t10:
            self._add_period()
        if self.ola_pos < L:
            v = _mix(self.ola[self.ola_pos], self._raw(), _w(self.ola_pos, L))
            self.ola_pos += 1
        else:
            v = self._raw()
        if t < L:
            v += (self.e0 * (((L - t) << 15) // (L + 1)) + HALF) >> 15
        v = _sat16(v)
        g = ONE if t < p.t10 else ((p.t60 - t) << 15) // (p.t60 - p.t10)
        self.t = t + 1
        return (v * g + HALF) >> 15

    def _push(self, out: list[int]) -> None:
        self.hist = (self.hist + out)[-self.p.hist:]

    # -- API -----------------------------------------------------------------

    def _check(self, frame) -> list[int]:
        a = np.asarray(frame)
        if a.dtype != np.int16 or a.ndim != 1:
            raise TypeError("expected a 1-D int16 frame")
        if a.size != self.frame_samples:
            raise ValueError(f"frame must hold exactly {self.frame_samples} samples, got {a.size}")
        return a.tolist()

    def good(self, frame) -> np.ndarray:
        x = self._check(frame)
        p = self.p
        if self.erasing:
            self.erasing = False
            self.merging = True
            self.merge_len = min(p.t4 * (1 + (self.t - 1) // p.t10), p.t10)
            self.merge_pos = 0
        self.erasure_frames = 0
        out = list(x)
        k = 0
        while self.merging and k < len(out):
            w = _w(self.merge_pos, self.merge_len)
            out[k] = _mix(self._synth(), x[k], w)
            k += 1
            self.merge_pos += 1
            if self.merge_pos == self.merge_len:
                self.merging = False
        self._push(out)
        return np.array(out, np.int16)

    def conceal(self) -> np.ndarray:
        if not self.erasing:
            self.merging = False                             # a new loss ends any merge
            self.erasing = True
            self._start_erasure()
        out = [self._synth() for _ in range(self.frame_samples)]
        self.erasure_frames += 1
        self.concealed_frames += 1
        self._push(out)
        return np.array(out, np.int16)
