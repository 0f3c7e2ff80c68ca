"""Shared shape of a benchmark case and the same-run timing used by ``python -m bench``."""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Case:
    """One operation timed for us and for a peer on identical input.

    ``ours`` and ``peer`` are zero-argument callables doing one operation each
    (e.g. encode one 20 ms frame). ``target`` is the minimum ratio
    (peer time / our time) the project aims at, or None for report-only rows.
    ``extra`` carries report-only figures (e.g. group delays) printed beside the row.
    """

    name: str
    ours: Callable[[], Any]
    peer: Callable[[], Any]
    peer_name: str
    unit: str = "us/op"
    target: float | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _per_op(fn: Callable[[], Any], budget_s: float) -> float:
    """CPU seconds per call: calibrate a batch size, then take the best of several batches."""
    n = 1
    while True:
        t0 = time.process_time()
        for _ in range(n):
            fn()
        dt = time.process_time() - t0
        if dt >= 0.01:
            break
        n *= 4
    batches = max(3, int(budget_s / max(dt, 1e-6)))
    best = dt / n
    for _ in range(min(batches, 25)):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - t0) / n)
    return best


def measure(case: Case, budget_s: float = 0.3, rounds: int = 3) -> tuple[float, float]:
    """Time ours and peer alternately (same run, same machine state); returns seconds/op."""
    gc_was = gc.isenabled()
    gc.disable()
    try:
        ours = peer = float("inf")
        for _ in range(rounds):
            ours = min(ours, _per_op(case.ours, budget_s / rounds))
            peer = min(peer, _per_op(case.peer, budget_s / rounds))
    finally:
        if gc_was:
            gc.enable()
    return ours, peer
