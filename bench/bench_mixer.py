"""Conference mixer: ours (``Mixer.mix`` into a preallocated out) vs plain NumPy mix-minus.

One op = one 20 ms tick at 16 kHz (F = 320) for N participants, all talking:
seeded Gaussian noise at a speech-like level (RMS 1650, about -26 dBFS), unit
gains. The peer, :func:`_media.reference.mixer.mix_minus_simple`, is the obvious
vectorised baseline (int32 sum once, subtract own, ``np.clip``); it hard-clips where
ours soft-limits, so the outputs agree only where nothing is limited.

Targets: at least 3x the peer for N = 100 and N = 1000, and for N = 1000 at most
0.5 ms of CPU per 20 ms tick on one core (read it from the ``ours`` column: us/op).
With this many talkers most sums exceed full scale, so the limiter runs on nearly
every sample. A report-only row times loudest-3 mode at N = 1000.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from bench.core import Case
from _media.mixer import Mixer
from _media.reference.mixer import KNEE, mix_minus_simple, mix_reference

FRAME = 320                 # 16 kHz x 20 ms
SPEECH_RMS = 1650.0
TICK_BUDGET_MS = 0.5        # CPU per 20 ms tick, N = 1000


@lru_cache(maxsize=None)
def talking(n: int, f: int = FRAME) -> np.ndarray:
    """(n, f) int16 frames: every participant talking (seeded speech-level noise)."""
    rng = np.random.default_rng(20240612 + n)
    x = np.rint(rng.standard_normal((n, f)) * SPEECH_RMS)
    return np.clip(x, -32768, 32767).astype(np.int16)


def _case(n: int, target: float | None, loudest: int = 0) -> Case:
    x = talking(n)
    m = Mixer(n, FRAME)
    m.set_loudest(loudest)
    out = np.empty_like(x)
    extra = {"tick": f"N={n} x {FRAME} samples (16 kHz, 20 ms), all talking"}
    if n == 1000 and not loudest:
        extra["per tick"] = f"target <= {TICK_BUDGET_MS} ms CPU per 20 ms tick for N=1000 (ours = us/tick)"
    if loudest:
        extra["note"] = f"loudest-{loudest}: energy pass + {loudest}-row bus; peer mixes everyone"
    mode = f" loudest-{loudest}" if loudest else ""
    return Case(
        name=f"mix-minus{mode} N={n} F={FRAME}",
        ours=lambda m=m, x=x, out=out: m.mix(x, out),
        peer=lambda x=x: mix_minus_simple(x),
        peer_name="numpy mix-minus", unit="us/op", target=target, extra=extra,
    )


CASES: list[Case] = [
    _case(10, None),
    _case(100, 3.0),
    _case(1000, 3.0),
    _case(1000, None, loudest=3),
]


# ---------------------------------------------------------------------------
# checks on the benchmark inputs (the timing suites are in bench/test_suites.py)


@pytest.mark.parametrize("n", [10, 100, 1000])
def test_bench_input_is_what_we_time(n):
    """Not a timing: the timed tick computes the reference mix on the benchmark frames,
    and for N >= 100 the limiter really is exercised (sums beyond full scale)."""
    x = talking(n)
    out = Mixer(n, FRAME).mix(x)
    assert np.array_equal(out, mix_reference(x))
    total = x.sum(axis=0, dtype=np.int64)[None, :] - x
    limited = np.mean(np.abs(total) > KNEE)
    assert limited > {10: -1, 100: 0.05, 1000: 0.5}[n], limited
    assert np.all(np.abs(out) <= 32767)
