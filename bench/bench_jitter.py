"""Jitter buffer: put + get per packet, ours vs the pure-Python reference.

One op is one steady-state packet: ``put()`` of a 20 ms G.711 frame (bytes, with a
little arrival jitter) and the ``get()`` of one tick, through the public Python
methods, so the call overhead counts. The absolute goal is 1 us per packet on one
core (``extra["goal"]``; the row has no ratio target because the peer is the
reference implementation, not a competitor). Network behaviour is compared with
libspeexdsp's jitter buffer in ``bench/bench_playout.py``.
"""
from __future__ import annotations

import numpy as np

from _media.jitter import JitterBuffer
from _media.reference.jitter import JitterBuffer as ReferenceJitterBuffer
from bench.core import Case, _per_op

PERIOD = 1 << 14        # jitter pattern length (a power of two)


def _op(jb) -> callable:
    """One packet per call: put(seq, ts, ...) then get(now), forever (seq/ts wrap)."""
    rng = np.random.default_rng(1)
    jitter = [float(x) for x in 0.03 + np.abs(rng.normal(0.0, 0.005, PERIOD))]
    payload = bytes(range(160))
    state = [0]
    put, get = jb.put, jb.get

    def op():
        i = state[0]
        state[0] = i + 1
        t = i * 0.02
        put(i & 0xFFFF, (i * 160) & 0xFFFFFFFF, False, payload, t + jitter[i & (PERIOD - 1)])
        return get(t + 0.0701)

    return op


def _cases() -> list[Case]:
    ours = _op(JitterBuffer(8000, 160, 160))
    peer = _op(ReferenceJitterBuffer(8000, 160, 160))
    for _ in range(2000):   # warm up: steady-state buffer depth
        ours()
        peer()
    measured = _per_op(ours, 0.1) * 1e6     # import-time figure; the table row re-measures
    return [Case("jitter put+get per packet", ours, peer, peer_name="python reference",
                 unit="us/op", target=None,
                 extra={"goal": "<= 1 us/packet", "measured": f"{measured:.3f} us/packet"})]


CASES: list[Case] = _cases()
