"""Deterministic network traces for 20 ms RTP streams (seeded; no sockets).

A trace is the list of packets a sender emitted with, for each, the receiver-clock
time it arrived (or ``None`` when the network lost it). Impairments, each from a
seeded ``numpy.random.Generator`` so every run sees the same trace:

* Gilbert-Elliott burst loss (good/bad states; mean loss and mean burst length),
* jitter: a normal delay variation of sigma ms on a base transit time, kept FIFO
  (a packet never overtakes the previous one) unless reordering is asked for,
* Pareto delay spikes (heavy-tailed, occasional),
* reordering: a fraction of packets held back behind their successors,
* a stall: nothing arrives for a while, then everything queued arrives at once,
* clock drift: the sender's clock runs ``drift_ppm`` fast or slow against the receiver's.

``TRACES`` is the standard set used by the quality report (``bench/playout.py``)
and by the tests.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_S = 0.020


@dataclass(frozen=True)
class TraceSpec:
    """Parameters of one trace. Times in seconds unless the name says ms."""

    name: str
    seconds: float = 30.0
    loss: float = 0.0            # Gilbert-Elliott mean loss probability
    burst: float = 2.0           # mean loss burst length in packets
    base_ms: float = 30.0        # one-way transit without jitter
    jitter_ms: float = 0.0       # sigma of the normal delay variation
    spike_prob: float = 0.0      # chance of a Pareto delay spike per packet
    spike_ms: float = 40.0       # Pareto scale of the spikes
    reorder: float = 0.0         # fraction of packets held back behind the next ones
    stall_at: float | None = None
    stall_s: float = 2.0
    drift_ppm: float = 0.0       # sender clock rate error (+ = sender fast)
    seed: int = 1


@dataclass(frozen=True)
class Packet:
    """One emitted packet. ``arrival`` is None when lost in the network."""

    seq: int          # 16-bit RTP sequence number
    timestamp: int    # 32-bit RTP timestamp
    index: int        # frame index in the source audio
    send: float       # send time on the receiver's clock
    arrival: float | None


def _gilbert_elliott(rng: np.random.Generator, n: int, loss: float, burst: float) -> np.ndarray:
    """Boolean lost[] with mean loss ``loss`` and mean burst length ``burst`` (bad state loses all)."""
    if loss <= 0:
        return np.zeros(n, bool)
    p_bg = 1.0 / burst                       # bad -> good
    p_gb = loss * p_bg / (1.0 - loss)        # good -> bad, so that P(bad) = loss
    lost = np.zeros(n, bool)
    bad = False
    u = rng.random(n)
    for i in range(n):
        bad = (u[i] >= p_bg) if bad else (u[i] < p_gb)
        lost[i] = bad
    return lost


def make_trace(spec: TraceSpec, clock_rate: int = 8000, seq0: int = 65000,
               ts0: int = 2**32 - 40 * 160) -> list[Packet]:
    """Packets of ``spec`` (one 20 ms frame each), in arrival order, lost ones last.

    Sequence numbers and timestamps start close to their wrap points so every trace
    also crosses a 16-bit sequence wrap and a 32-bit timestamp wrap.
    """
    rng = np.random.default_rng(spec.seed)
    n = int(round(spec.seconds / FRAME_S))
    rate = 1.0 + spec.drift_ppm * 1e-6
    send = np.arange(n) * FRAME_S / rate     # sender's 20 ms ticks seen on the receiver clock
    delay = np.full(n, spec.base_ms / 1000.0)
    if spec.jitter_ms:
        delay += np.abs(rng.normal(0.0, spec.jitter_ms / 1000.0, n))
    if spec.spike_prob:
        spikes = rng.random(n) < spec.spike_prob
        delay[spikes] += np.minimum((rng.pareto(1.5, spikes.sum()) + 1.0) * spec.spike_ms / 1000.0, 1.0)
    arrival = send + delay
    if spec.reorder:
        held = rng.random(n) < spec.reorder
        arrival[held] += rng.uniform(FRAME_S, 3 * FRAME_S, held.sum())
    else:
        arrival = np.maximum.accumulate(arrival)   # FIFO: no overtaking
    if spec.stall_at is not None:
        in_stall = (arrival >= spec.stall_at) & (arrival < spec.stall_at + spec.stall_s)
        # released back to back at the end of the stall
        arrival[in_stall] = spec.stall_at + spec.stall_s + np.arange(in_stall.sum()) * 1e-4
    lost = _gilbert_elliott(rng, n, spec.loss, spec.burst)
    pkts = [Packet((seq0 + i) & 0xFFFF, (ts0 + i * clock_rate // 50) & 0xFFFFFFFF, i,
                   float(send[i]), None if lost[i] else float(arrival[i])) for i in range(n)]
    pkts.sort(key=lambda p: (p.arrival is None, p.arrival if p.arrival is not None else 0.0, p.index))
    return pkts


TRACES: list[TraceSpec] = [
    TraceSpec("loss 1% (GE)", loss=0.01, jitter_ms=10, seed=11),
    TraceSpec("loss 5% (GE)", loss=0.05, jitter_ms=10, seed=12),
    TraceSpec("loss 10% (GE)", loss=0.10, jitter_ms=10, seed=13),
    TraceSpec("jitter 10 ms", jitter_ms=10, seed=21),
    TraceSpec("jitter 30 ms", jitter_ms=30, seed=22),
    TraceSpec("jitter 60 ms", jitter_ms=60, seed=23),
    TraceSpec("jitter 30 ms + spikes", jitter_ms=30, spike_prob=0.02, seed=24),
    TraceSpec("reorder 5%", jitter_ms=10, reorder=0.05, seed=31),
    TraceSpec("stall 2 s", jitter_ms=10, stall_at=12.0, seed=41),
    TraceSpec("drift +100 ppm", jitter_ms=10, drift_ppm=100, seconds=60.0, seed=51),
    TraceSpec("drift -100 ppm", jitter_ms=10, drift_ppm=-100, seconds=60.0, seed=52),
]
