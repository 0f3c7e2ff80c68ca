"""CI benchmark gate: every row with a target must reach ``GATE_MARGIN`` x its target.

Ratios (peer time / our time) are measured in the same process, alternating ours
and the peer, with a fixed CPU-time budget per row; the margin is generous because
CI machines are shared and noisy. The full table comes from ``python -m bench``.
Set SIPCTL_BENCH_GATE=0 to skip (e.g. under valgrind or a debug build).
"""
import os

import pytest

from bench.__main__ import load_cases
from bench.core import measure

GATE_MARGIN = 0.5
BUDGET_S = 0.2

GATED = [c for c in load_cases() if c.target is not None]


@pytest.mark.skipif(os.environ.get("SIPCTL_BENCH_GATE") == "0", reason="SIPCTL_BENCH_GATE=0")
@pytest.mark.parametrize("case", GATED, ids=[c.name for c in GATED])
def test_gate(case):
    ours, peer = measure(case, BUDGET_S)
    ratio = peer / ours
    print(f"{case.name}: ours {ours * 1e6:.3f} us, {case.peer_name} {peer * 1e6:.3f} us, ratio {ratio:.2f}")
    assert ratio >= GATE_MARGIN * case.target, (
        f"{case.name}: ratio {ratio:.2f} below {GATE_MARGIN} x target {case.target}")
