"""Filter design for :mod:`_media.resampler` (NumPy only; runs once per rate pair).

One low-pass prototype serves every rate pair because the specification is
relative to the lower of the two rates: flat to 0.43 x f_low (ripple < 0.1 dB),
>= 80 dB down from 0.5 x f_low. The prototype is an equiripple (Parks-McClellan)
design of ``TAPS`` taps at f_low, stored oversampled ``OVERSAMPLE`` times in
``resampler_prototype.npy``; :func:`regenerate_prototype` rebuilds it with
SciPy (a test checks the stored file against it).

A rate pair L/M (reduced) needs the prototype at L x f_in. The polyphase table is
sampled from the stored prototype by band-limited (Kaiser-windowed sinc)
interpolation, centred so the delay is a whole number of output samples and the
table is symmetric (exactly linear phase).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

RATES = (8000, 16000, 24000, 32000, 44100, 48000)

TAPS = 60          # prototype length in samples of the lower rate
OVERSAMPLE = 8     # stored prototype grid: OVERSAMPLE points per low-rate sample
PASS_EDGE = 0.435  # design passband edge (x f_low); spec is 0.43
STOP_EDGE = 0.5    # design stopband edge (x f_low)
STOP_WEIGHT = 100.0
FAR_WEIGHT = 2000.0
LANES = 16         # taps per phase are padded to a multiple of this (accumulator lanes)

# Interpolator used to read the stored prototype at arbitrary points.
_INTERP_HALF = 8
_INTERP_BETA = 10.0


def regenerate_prototype() -> np.ndarray:
    """Design the stored prototype (needs SciPy; used by the tests and to refresh the file)."""
    from scipy.signal import remez

    n = TAPS * OVERSAMPLE
    # The far stopband is weighted up so that, when a rate pair samples the
    # prototype at only 2-6 points per low-rate sample, the folded-back far
    # stopband stays well under the near one.
    p = OVERSAMPLE
    h = remez(n, [0.0, PASS_EDGE / p, STOP_EDGE / p, 1.0 / p, 1.0 / p + 1e-3, 0.5], [1.0, 0.0, 0.0],
              weight=[1.0, STOP_WEIGHT, FAR_WEIGHT], fs=1.0, maxiter=500)
    return (h * (OVERSAMPLE / h.sum())).astype(np.float64)


@lru_cache(maxsize=1)
def prototype() -> np.ndarray:
    """The stored prototype: ``TAPS*OVERSAMPLE`` samples, DC gain ``OVERSAMPLE``."""
    with resources.files("_media").joinpath("resampler_prototype.npy").open("rb") as f:
        h = np.load(f)
    h.setflags(write=False)
    return h


def _prototype_at(t: np.ndarray) -> np.ndarray:
    """Prototype value at times ``t`` (units: low-rate samples, 0 = its centre).

    Kaiser-windowed sinc interpolation on the stored grid: the prototype holds no
    energy above 0.5/OVERSAMPLE of the grid rate (>80 dB down), so a short kernel
    with a wide transition band reads it to well below the stopband level.
    """
    h = prototype()
    n = h.size
    g = t * OVERSAMPLE + (n - 1) / 2.0           # position on the stored grid
    base = np.floor(g).astype(np.int64)
    frac = g - base
    out = np.zeros(t.shape, dtype=np.float64)
    beta_norm = np.i0(_INTERP_BETA)
    for k in range(-_INTERP_HALF + 1, _INTERP_HALF + 1):
        idx = base + k
        d = k - frac                             # distance grid point - target
        w = np.i0(_INTERP_BETA * np.sqrt(np.clip(1.0 - (d / _INTERP_HALF) ** 2, 0.0, 1.0))) / beta_norm
        val = np.where((idx >= 0) & (idx < n), h[np.clip(idx, 0, n - 1)], 0.0)
        out += val * np.sinc(d) * w
    return out


@dataclass(frozen=True)
class Design:
    """A polyphase table for ``in_rate -> out_rate``.

    ``coef[p, k]`` multiplies ``x[base - taps + 1 + k]`` for an output of phase p
    (k = taps-1 is the newest input sample). Output j sits at input time
    ``j*down/up``; ``delay`` is the group delay in output samples (an integer).
    """

    in_rate: int
    out_rate: int
    up: int
    down: int
    taps: int
    delay: int
    coef: np.ndarray  # float32, shape (up, taps), C-contiguous

    @property
    def delay_ms(self) -> float:
        return 1000.0 * self.delay / self.out_rate


def check_rate(rate: object, what: str) -> int:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)):
        raise TypeError(f"{what} must be an int (one of {RATES}), got {type(rate).__name__}")
    if int(rate) not in RATES:
        raise ValueError(f"unsupported {what} {rate} Hz; supported: {', '.join(map(str, RATES))}")
    return int(rate)


@lru_cache(maxsize=64)
def design(in_rate: int, out_rate: int) -> Design:
    """Polyphase table for a supported rate pair (cached: tables are immutable)."""
    in_rate = check_rate(in_rate, "in_rate")
    out_rate = check_rate(out_rate, "out_rate")
    g = math.gcd(in_rate, out_rate)
    up, down = out_rate // g, in_rate // g
    # scale: input samples per low-rate sample (1 when upsampling)
    scale = in_rate / min(in_rate, out_rate)
    # the whole support of the interpolated prototype: no truncation edge
    half = (TAPS / 2.0 + _INTERP_HALF / OVERSAMPLE) * scale
    half_m = int(math.floor(half * up))          # in units of 1/up input samples
    z = -(-half_m // down)                       # delay in output samples (ceil)
    centre_m = z * down                          # delay in 1/up input units, on the grid
    last_m = centre_m + half_m                   # newest tap position used
    taps = last_m // up + 1
    taps = -(-taps // LANES) * LANES
    # tap k of phase p sits at lag m = p + (taps-1-k)*up (1/up input units) behind "now"
    p = np.arange(up)[:, None]
    k = np.arange(taps)[None, :]
    m = p + (taps - 1 - k) * up
    t = (m - centre_m) / (up * scale)            # in low-rate samples from the centre
    inside = np.abs(m - centre_m) <= half_m
    c = np.where(inside, _prototype_at(np.where(inside, t, 0.0)), 0.0)
    c /= c.sum(axis=1, keepdims=True)            # unit DC gain in every phase
    coef = np.ascontiguousarray(c, dtype=np.float32)
    coef.setflags(write=False)
    return Design(in_rate, out_rate, up, down, taps, z, coef)
