"""NumPy reference for :mod:`_media.resampler` (tests only; not for production use).

:func:`resample_reference` computes, in float64, the same output samples as
``Resampler(in_rate, out_rate, dtype).process(x)`` called once on a whole signal:
it reads the polyphase table from :func:`_media.resampler_design.design` and
applies it directly, without the kernel's buffering, chunking or float32
accumulation. It exists so the tests can check the Cython kernel against an
independent, obviously-correct formulation of the same filter (and so a failing
equivalence test points at the kernel, not at the design).

Definition (see :class:`_media.resampler_design.Design`): output ``j`` has
``base = (j*down) // up`` and ``phase = (j*down) % up``, and is
``sum_k coef[phase, k] * x[base - taps + 1 + k]`` with zeros before the first
input sample. A call with ``n`` input samples yields the
``ceil(n * up / down)`` outputs whose newest tap (``base``) is an input sample.
"""
from __future__ import annotations

import numpy as np

from _media.resampler_design import check_rate, design

__all__ = ["resample_reference", "output_length_reference"]

_BLOCK = 1 << 14  # outputs per vectorised block


def output_length_reference(n_in: int, in_rate: int, out_rate: int) -> int:
    """Number of outputs for ``n_in`` inputs: ``ceil(n_in * out_rate / in_rate)``."""
    in_rate = check_rate(in_rate, "in_rate")
    out_rate = check_rate(out_rate, "out_rate")
    if n_in < 0:
        raise ValueError("n_in must be >= 0")
    return -(-n_in * out_rate // in_rate)


def resample_reference(x: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Resample a whole signal ``x`` (1-D, any real dtype) from ``in_rate`` to ``out_rate``.

    Returns float64, unrounded and unclipped (int16 comparisons round and
    saturate on the caller's side). Same rate returns a float64 copy (the kernel
    passes samples through unchanged, delay 0).
    """
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D signal, got {x.ndim}-D")
    in_rate = check_rate(in_rate, "in_rate")
    out_rate = check_rate(out_rate, "out_rate")
    xf = x.astype(np.float64)                            # always a copy
    if in_rate == out_rate:
        return xf
    d = design(in_rate, out_rate)
    n_out = output_length_reference(xf.size, in_rate, out_rate)
    if n_out == 0:
        return np.zeros(0, np.float64)
    coef = d.coef.astype(np.float64)                     # (up, taps)
    # zero history in front: padded index i + (taps - 1) holds x[i]
    xp = np.concatenate([np.zeros(d.taps - 1), xf])
    k = np.arange(d.taps, dtype=np.int64)[None, :]
    out = np.empty(n_out, np.float64)
    # vectorised over blocks of outputs (bounds the (block, taps) gather)
    for start in range(0, n_out, _BLOCK):
        j = np.arange(start, min(start + _BLOCK, n_out), dtype=np.int64)
        base = (j * d.down) // d.up
        phase = (j * d.down) % d.up
        # x[base - taps + 1 + k] == xp[base + k]
        out[start:start + j.size] = np.einsum("jk,jk->j", xp[base[:, None] + k], coef[phase])
    return out
