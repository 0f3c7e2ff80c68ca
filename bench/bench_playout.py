"""Jitter buffer quality on network traces: ours vs libspeexdsp's, same PLC, same ticks.

Not a timing: ``REPORTS`` adds the side-by-side table (mean/p95 playout delay,
late-loss, PESQ per trace) to ``python -m bench``. See :mod:`bench.playout`.
"""
from bench.playout import report

CASES: list = []
REPORTS = [report]
