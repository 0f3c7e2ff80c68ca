"""pytest-benchmark suites over every ``CASES`` row of the ``bench_*`` modules.

``python -m pytest bench/test_suites.py --benchmark-enable`` times ours and the peer
of each row in pytest-benchmark's own harness (grouped per row); by default
(``--benchmark-disable`` in pyproject) each runs once as a smoke test.
"""
import pytest

from bench.__main__ import load_cases

CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_ours(benchmark, case):
    benchmark.group = case.name
    benchmark(case.ours)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_peer(benchmark, case):
    benchmark.group = case.name
    benchmark(case.peer)
