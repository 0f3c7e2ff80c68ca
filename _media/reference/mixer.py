"""NumPy reference for :mod:`_media.mixer` (tests and benchmarks only).

:func:`mix_reference` computes, in int64 and vectorised over the whole
(N, F) block, exactly what ``Mixer.mix`` computes with int32 SIMD loops; the
tests compare them bit for bit. Definition (Q12 fixed point, ``>>`` floors):

1. gained input ``c[i] = (x[i] * gin[i] + 2048) >> 12`` (0 for a muted row);
2. contributors: every unmuted row, or with ``loudest=k`` the k unmuted rows of
   largest energy ``sum(c[i]**2)``, ties to the lower index;
3. ``y[i] = sum(c[j] for contributing j) - (c[i] if i contributes else 0)``;
4. ``v[i] = (y[i] * gout[i] + 2048) >> 12``;
5. ``out[i] = soft_limit(v[i])``, or 0 for a deaf row.

:func:`mix_minus_simple` is the plain baseline (int32 sum, subtract own,
``np.clip``): the benchmark peer, not the same computation.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["Q", "ONE", "MAX_GAIN", "KNEE", "WIDTH", "LIMIT_IN", "gain_to_q12", "soft_limit",
           "gained_input", "frame_energy", "select_loudest", "mix_reference",
           "mix_minus_simple"]

Q = 12
ONE = 1 << Q                 # unit gain in Q12
MAX_GAIN = 8.0
KNEE = 24575                 # limiter is the identity up to here (0.75 full scale)
WIDTH = 16384                # soft region: KNEE < |v| < KNEE + WIDTH
LIMIT_IN = KNEE + WIDTH      # |v| from which the limiter gives 32767


def gain_to_q12(gain: float) -> int:
    """Linear gain in [0, 8] to Q12 (round half up): ``floor(gain * 4096 + 0.5)``."""
    if isinstance(gain, bool) or not isinstance(gain, numbers.Real):
        raise TypeError(f"gain must be a real number, got {type(gain).__name__}")
    g = float(gain)
    if not (0.0 <= g <= MAX_GAIN):     # also rejects NaN
        raise ValueError(f"gain must be in [0, {MAX_GAIN}], got {gain!r}")
    return math.floor(g * ONE + 0.5)


def soft_limit(v: np.ndarray) -> np.ndarray:
    """The mixer's limiter on integers of any magnitude; returns int16 in [-32767, 32767].

    Quadratic soft knee, odd, monotonic, continuous with a continuous slope:
    identity for ``|v| <= KNEE``; for ``u = |v| - KNEE`` in ``(0, WIDTH)``,
    ``sign(v) * (KNEE + u - ((u*u + 16384) >> 15))`` (``u**2 / 2**15`` rounded;
    slope ``1 - u/WIDTH``); from ``|v| >= KNEE + WIDTH = 40959`` (1.25 full
    scale), ``sign(v) * 32767``.
    """
    v = np.asarray(v, dtype=np.int64)
    a = np.abs(v)
    u = np.clip(a - KNEE, 0, WIDTH)
    m = np.minimum(a, KNEE) + u - ((u * u + 16384) >> 15)
    return np.where(v < 0, -m, m).astype(np.int16)


def _params(n: int, input_gain_q12, output_gain_q12, muted, deaf):
    def vec(a, fill, dtype):
        if a is None:
            return np.full(n, fill, dtype)
        a = np.asarray(a, dtype)
        if a.shape != (n,):
            raise ValueError(f"per-participant array of shape {a.shape}, expected ({n},)")
        return a
    gin = vec(input_gain_q12, ONE, np.int64)
    gout = vec(output_gain_q12, ONE, np.int64)
    for g in (gin, gout):
        if g.size and (g.min() < 0 or g.max() > MAX_GAIN * ONE):
            raise ValueError("Q12 gains must be in [0, 32768]")
    return gin, gout, vec(muted, False, bool), vec(deaf, False, bool)


def gained_input(frames: np.ndarray, input_gain_q12=None) -> np.ndarray:
    """``(x * gin + 2048) >> 12`` per row, int64 (N, F)."""
    x = np.asarray(frames, dtype=np.int64)
    gin, _, _, _ = _params(x.shape[0], input_gain_q12, None, None, None)
    return (x * gin[:, None] + 2048) >> Q


def frame_energy(frames: np.ndarray, input_gain_q12=None) -> np.ndarray:
    """Energy ``sum(c**2)`` of each row's gained input, int64 (N,)."""
    c = gained_input(frames, input_gain_q12)
    return np.einsum("ij,ij->i", c, c)


def select_loudest(energy: np.ndarray, muted: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` unmuted rows of largest energy, ties to the lower index."""
    energy = np.asarray(energy, np.int64)
    idx = np.flatnonzero(~np.asarray(muted, bool))
    order = idx[np.lexsort((idx, -energy[idx]))]      # energy desc, then index asc
    mask = np.zeros(energy.shape[0], bool)
    mask[order[:k]] = True
    return mask


def mix_reference(frames: np.ndarray, input_gain_q12=None, output_gain_q12=None,
                  muted=None, deaf=None, loudest: int = 0) -> np.ndarray:
    """What ``Mixer.mix(frames)`` returns for these settings (see the module docstring).

    ``frames``: int16 (N, F). Gains as Q12 integers (see :func:`gain_to_q12`);
    ``muted``/``deaf``: booleans per row; ``loudest``: k, 0 = everyone unmuted.
    """
    x = np.asarray(frames)
    if x.dtype != np.int16 or x.ndim != 2:
        raise TypeError(f"expected int16 frames of shape (N, F), got {x.dtype} {x.shape}")
    n = x.shape[0]
    gin, gout, muted, deaf = _params(n, input_gain_q12, output_gain_q12, muted, deaf)
    c = gained_input(x, gin)
    contrib = ~muted
    if loudest:
        contrib = select_loudest(frame_energy(x, gin), muted, loudest)
    c = np.where(contrib[:, None], c, 0)
    y = c.sum(axis=0)[None, :] - c
    v = (y * gout[:, None] + 2048) >> Q
    out = soft_limit(v)
    out[deaf] = 0
    return out


def mix_minus_simple(frames: np.ndarray) -> np.ndarray:
    """Baseline mix-minus: int32 sum once, subtract each row's own frame, clip to int16."""
    x = frames.astype(np.int32)
    s = x.sum(axis=0, dtype=np.int32)
    np.subtract(s, x, out=x)            # in place: one int32 temporary in all
    np.clip(x, -32768, 32767, out=x)
    return x.astype(np.int16)
