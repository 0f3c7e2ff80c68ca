"""NumPy reference of :mod:`_media.tsm` (same decisions, bit-exact output)."""
from __future__ import annotations

import math

import numpy as np

QUIET_RMS = 100
VOICED = 0.9


def pitch_range(rate: int = 8000) -> tuple[int, int]:
    return (rate * 5 + 1999) // 2000, rate * 15 // 1000


def analyse(x: np.ndarray, rate: int = 8000, maxlag: int | None = None) -> tuple[int, int]:
    """(kind, lag): 0 leave alone, 1 voiced, 2 quiet (see _media/tsm.pyx)."""
    pmin, pmax = pitch_range(rate)
    hi = pmax if maxlag is None else min(pmax, maxlag)
    x = np.asarray(x, np.int64)
    if len(x) < 2 * pmax:
        raise ValueError("too short")
    if int(np.dot(x[:2 * pmax], x[:2 * pmax])) < 2 * pmax * QUIET_RMS ** 2:
        return (2, hi) if hi >= pmin else (0, 0)
    if hi < pmin:
        return 0, 0
    L = pmax
    a = x[:L]
    e0 = int(np.dot(a, a))
    best = None
    for p in range(pmin, hi + 1):
        b = x[p:p + L]
        c = int(np.dot(a, b))
        ep = int(np.dot(b, b))
        score = c / math.sqrt(float(max(ep, 4 * pmax)))
        if best is None or score > best[0]:
            best = (score, p, c, ep)
    _, p, c, ep = best
    if c > 0 and float(c) >= VOICED * math.sqrt(float(e0) * float(ep)):
        return 1, p
    return 0, 0


def _xfade(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = len(a)
    w = ((np.arange(n, dtype=np.int64) + 1) << 15) // (n + 1)
    return ((a.astype(np.int64) * (32768 - w) + b.astype(np.int64) * w + 16384) >> 15).astype(np.int16)


def accelerate(x: np.ndarray, rate: int = 8000, max_remove: int | None = None) -> tuple[np.ndarray, int]:
    x = np.asarray(x, np.int16)
    pmax = pitch_range(rate)[1]
    cap = pmax if max_remove is None else max(0, min(max_remove, pmax))
    kind, P = analyse(x, rate, cap)
    if kind == 0 or P == 0:
        return x.copy(), 0
    return np.concatenate([_xfade(x[:P], x[P:2 * P]), x[2 * P:]]), P


def expand(x: np.ndarray, rate: int = 8000, history: int = 0) -> tuple[np.ndarray, int]:
    x = np.asarray(x, np.int16)
    if history:
        pmax = pitch_range(rate)[1]
        if history < 2 * pmax or len(x) - history < pmax:
            raise ValueError("history too short")
        kind, P = analyse(x[history - 2 * pmax:history][::-1], rate)
        if kind == 0 or P == 0:
            return x[history:].copy(), 0
        return np.concatenate([_xfade(x[history:history + P], x[history - P:history]), x[history:]]), P
    kind, P = analyse(x, rate)
    if kind == 0 or P == 0:
        return x.copy(), 0
    return np.concatenate([x[:P], _xfade(x[P:2 * P], x[:P]), x[P:]]), P
