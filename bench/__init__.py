"""Benchmarks that compare sipctl's kernels with a peer measured in the same run.

Each ``bench/bench_*.py`` module exposes ``CASES`` (a list of :class:`bench.core.Case`);
the pytest-benchmark suites in those modules and ``python -m bench`` both read it.
"""
