"""Time-scale modification of int16 audio: remove or insert one pitch period (NetEq style).

A playout loop adapts its delay with these instead of dropping or inserting whole
frames: :func:`accelerate` shortens the not-yet-played audio by one pitch period,
:func:`expand` ("preemptive expand") lengthens it by one, both cross-faded over
the period so the result has no click and keeps its pitch.

``x`` is the caller's buffer of audio not yet played (``x[0]`` is the next sample
out); it needs ``2 * pmax`` samples (30 ms) of lookahead. Analysis of the first
``2 * pmax`` samples:

* pitch period ``P`` in ``pmin..pmax`` (2.5..15 ms; accelerate caps it at
  ``max_remove``): the lag maximising ``c(P) / sqrt(e(P))`` with
  ``c(P) = sum x[i] x[i+P]``, ``e(P) = sum x[i+P]^2`` over ``i < pmax`` (the smallest
  lag on ties);
* **quiet** when the mean square of the ``2 * pmax`` samples is below 100^2
  (about -50 dBFS): a chunk of ``min(pmax, max_remove)`` samples is removed or
  inserted whatever the correlation;
* **voiced** when ``c(P) >= 0.9 sqrt(e(0) e(P))``: exactly ``P`` samples go;
* otherwise nothing is done this time (returns 0, ``y == x``): cutting unvoiced,
  loud audio would be audible.

Accelerate: ``y = xfade(x[0:P] -> x[P:2P]) + x[2P:]``. Expand:
``y = x[0:P] + xfade(x[P:2P] -> x[0:P]) + x[P:]``. The cross-fade weights are
Q15 integers, the decision is taken in double from exact 64-bit sums, so the
NumPy reference :mod:`_media.reference.tsm` is bit-exact.
"""
from libc.math cimport sqrt
from libc.string cimport memcpy

import operator

import numpy as np
cimport numpy as cnp

from _media._types cimport int16_t, int64_t

cnp.import_array()

__all__ = ["accelerate", "expand", "analyse", "pitch_range"]

cdef enum:
    ONE = 32768
    HALF = 16384
    QUIET_RMS = 100

cdef double VOICED = 0.9

TUNING = dict(QUIET_RMS=QUIET_RMS, VOICED=VOICED)


cdef int tsm_pmin(int rate) noexcept nogil:
    return (rate * 5 + 1999) // 2000


cdef int tsm_pmax(int rate) noexcept nogil:
    return rate * 15 // 1000


cdef int tsm_analyse(const int16_t* x, int n, int rate, int maxlag, int* lag) noexcept nogil:
    cdef int pmin = tsm_pmin(rate), pmax = tsm_pmax(rate)
    cdef int hi = pmax if maxlag > pmax else maxlag
    cdef int L = pmax, p, i, best_p
    cdef int64_t e0 = 0, ep = 0, etot = 0, c, best_c = 0, best_e = 0, emin = 4 * pmax
    cdef double score, best = 0.0
    lag[0] = 0
    if n < 2 * pmax:
        return TSM_SHORT
    for i in range(2 * pmax):
        etot += <int>x[i] * <int>x[i]
    if etot < <int64_t>(2 * pmax) * QUIET_RMS * QUIET_RMS:
        if hi < pmin:
            return TSM_NONE
        lag[0] = hi
        return TSM_QUIET
    if hi < pmin:
        return TSM_NONE
    for i in range(L):
        e0 += <int>x[i] * <int>x[i]
        ep += <int>x[i + pmin] * <int>x[i + pmin]
    best_p = pmin
    for p in range(pmin, hi + 1):
        if p > pmin:
            # slide the energy window by one: exact integers
            ep += <int>x[p + L - 1] * <int>x[p + L - 1] - <int>x[p - 1] * <int>x[p - 1]
        c = 0
        for i in range(L):
            c += <int>x[i] * <int>x[i + p]
        score = <double>c / sqrt(<double>(ep if ep > emin else emin))
        if p == pmin or score > best:
            best = score
            best_p = p
            best_c = c
            best_e = ep
    if best_c > 0 and <double>best_c >= VOICED * sqrt(<double>e0 * <double>best_e):
        lag[0] = best_p
        return TSM_VOICED
    return TSM_NONE


cdef inline int16_t _mix(int a, int b, int k, int n) noexcept nogil:
    # step k of an n-step cross-fade from a to b (Q15 weight never 0 or 1)
    cdef int w = ((k + 1) << 15) // (n + 1)
    return <int16_t>((a * (ONE - w) + b * w + HALF) >> 15)


cdef int tsm_accelerate(const int16_t* x, int n, int rate, int max_remove, int16_t* y) noexcept nogil:
    cdef int P = 0, k
    cdef int kind = tsm_analyse(x, n, rate, max_remove, &P)
    if kind == TSM_SHORT:
        return TSM_SHORT
    if kind == TSM_NONE or P == 0:
        memcpy(y, x, n * sizeof(int16_t))
        return 0
    for k in range(P):
        y[k] = _mix(x[k], x[k + P], k, P)
    memcpy(y + P, x + 2 * P, (n - 2 * P) * sizeof(int16_t))
    return P


cdef int tsm_expand(const int16_t* x, int n, int rate, int16_t* y) noexcept nogil:
    cdef int P = 0, k
    cdef int kind = tsm_analyse(x, n, rate, tsm_pmax(rate), &P)
    if kind == TSM_SHORT:
        return TSM_SHORT
    if kind == TSM_NONE or P == 0:
        memcpy(y, x, n * sizeof(int16_t))
        return 0
    memcpy(y, x, P * sizeof(int16_t))
    for k in range(P):
        y[P + k] = _mix(x[P + k], x[k], k, P)
    memcpy(y + 2 * P, x + P, (n - P) * sizeof(int16_t))
    return P


cdef int tsm_expand_after(const int16_t* x, int n, int history, int rate, int16_t* y) noexcept nogil:
    # x[0:history] is already played: analyse its last 2 * pmax samples backwards (the
    # forward analysis of the time-reversed window) and insert one period at x[history]
    cdef int pmax = tsm_pmax(rate), P = 0, k, kind
    cdef int16_t rev[2 * 720]
    if history < 2 * pmax or n - history < pmax or pmax > 720:
        return TSM_SHORT
    for k in range(2 * pmax):
        rev[k] = x[history - 1 - k]
    kind = tsm_analyse(rev, 2 * pmax, rate, pmax, &P)
    if kind == TSM_NONE or P == 0:
        memcpy(y, x + history, (n - history) * sizeof(int16_t))
        return 0
    for k in range(P):
        y[k] = _mix(x[history + k], x[history - P + k], k, P)
    memcpy(y + P, x + history, (n - history) * sizeof(int16_t))
    return P


# --------------------------------------------------------------------------- Python API

cdef int _rate(object rate) except -1:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)):
        raise TypeError(f"rate must be an int, not {type(rate).__name__}")
    if not 4000 <= rate <= 96000:
        raise ValueError(f"rate {rate} out of range 4000..96000")
    return rate


cdef object _samples(object x, int rate, int check_len=1):
    try:
        mv = memoryview(x)
    except TypeError:
        raise TypeError(f"x must be a buffer of int16 samples (e.g. a numpy int16 array), "
                        f"not {type(x).__name__}") from None
    if mv.format.lstrip("@=") != "h":
        raise TypeError(f"x must hold native int16 samples, got buffer format {mv.format!r}")
    if mv.ndim != 1:
        raise ValueError(f"x must be 1-D mono samples, got a {mv.ndim}-D buffer")
    if not mv.c_contiguous:
        raise ValueError("x must be C-contiguous")
    if check_len and mv.shape[0] < 2 * tsm_pmax(rate):
        raise ValueError(f"x needs at least {2 * tsm_pmax(rate)} samples (30 ms) at {rate} Hz, "
                         f"got {mv.shape[0]}")
    return mv


def pitch_range(rate=8000):
    """``(pmin, pmax)``: the pitch period search range in samples (2.5..15 ms)."""
    cdef int r = _rate(rate)
    return tsm_pmin(r), tsm_pmax(r)


def analyse(x, rate=8000, maxlag=None):
    """``(kind, lag)``: kind 0 = leave alone, 1 = voiced (lag = pitch period), 2 = quiet."""
    cdef int r = _rate(rate)
    cdef const int16_t[::1] v = _samples(x, r)
    cdef int lag = 0, kind, ml = tsm_pmax(r) if maxlag is None else operator.index(maxlag)
    with nogil:
        kind = tsm_analyse(&v[0], <int>v.shape[0], r, ml, &lag)
    return kind, lag


def accelerate(x, rate=8000, max_remove=None):
    """Shorten ``x`` by one pitch period: returns ``(y, removed)``, ``len(y) == len(x) - removed``.

    ``max_remove`` caps the samples removed (default pmax, 15 ms); ``removed`` is 0
    (and ``y`` a copy of ``x``) when ``x`` starts with loud unvoiced audio.
    """
    cdef int r = _rate(rate)
    cdef const int16_t[::1] v = _samples(x, r)
    cdef int n = <int>v.shape[0], removed, cap
    if max_remove is None:
        cap = tsm_pmax(r)
    else:
        if isinstance(max_remove, bool):
            raise TypeError("max_remove must be an int")
        cap = max(0, min(operator.index(max_remove), tsm_pmax(r)))
    y = np.empty(n, np.int16)
    cdef int16_t[::1] out = y
    with nogil:
        removed = tsm_accelerate(&v[0], n, r, cap, &out[0])
    if removed < 0:
        raise RuntimeError(f"tsm_accelerate() failed ({removed})")
    return y[:n - removed], removed


def expand(x, rate=8000, history=0):
    """Lengthen ``x`` by one pitch period: returns ``(y, added)``, ``len(y) == len(x) + added``.

    ``added`` is 0 (and ``y`` a copy of ``x``) when ``x`` starts with loud unvoiced audio.
    ``history`` > 0: ``x[:history]`` was already played (at least ``2 * pmax`` samples,
    followed by at least ``pmax`` to play); its end is analysed backwards and the period
    is inserted at ``x[history]``; ``y`` is then only the audio to play (from ``x[history]``),
    so a short queue can be expanded without lookahead.
    """
    cdef int r = _rate(rate)
    cdef int pmax = tsm_pmax(r)
    cdef const int16_t[::1] v
    cdef int n, added, h
    if history is None or isinstance(history, bool) or not isinstance(history, (int, np.integer)):
        raise TypeError(f"history must be an int, not {type(history).__name__}")
    h = history
    if h == 0:
        v = _samples(x, r)
    else:
        v = _samples(x, r, 0)
        if h < 2 * pmax or v.shape[0] - h < pmax:
            raise ValueError(f"history needs {2 * pmax} samples and {pmax} more to play, "
                             f"got {h} of {v.shape[0]}")
    n = <int>v.shape[0]
    y = np.empty(n - h + pmax, np.int16)
    cdef int16_t[::1] out = y
    with nogil:
        if h == 0:
            added = tsm_expand(&v[0], n, r, &out[0])
        else:
            added = tsm_expand_after(&v[0], n, h, r, &out[0])
    if added < 0:
        raise RuntimeError(f"tsm_expand() failed ({added})")
    return y[:n - h + added], added
