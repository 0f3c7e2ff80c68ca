"""``python -m bench``: time our kernels and their peers in the same run.

Prints a table (ratio = peer time / our time; > 1 means we are faster) or, with
``--json``, one JSON object per row: ``{"name", "ours", "peer", "peer_name",
"unit", "ratio"}`` (plus ``target`` and ``extra`` when a row has them).
``--gate`` exits non-zero when a row with a target falls below
``target * --margin`` (CI uses a generous margin: shared machines are noisy).

Modules may also define ``REPORTS``: callables returning ``(title, headers, rows)``
for tables that are not timings (e.g. jitter buffer quality on network traces);
they are printed after the timing table (``--json``: one object per table).
"""
from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys

import bench
from bench.core import Case, measure


def load_cases(only: str | None = None) -> list[Case]:
    cases: list[Case] = []
    for mod in sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")):
        cases += importlib.import_module(f"bench.{mod}").CASES
    if only:
        cases = [c for c in cases if only in c.name]
    return cases


def load_reports(only: str | None = None):
    reports = []
    for mod in sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")):
        reports += getattr(importlib.import_module(f"bench.{mod}"), "REPORTS", [])
    return [r for r in reports if not only or only in r.__name__ or only in (r.__doc__ or "")]


def print_report(title: str, headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("-k", dest="only", help="only rows whose name contains this")
    ap.add_argument("--budget", type=float, default=0.6, help="CPU seconds per row and side (default 0.6)")
    ap.add_argument("--gate", action="store_true", help="fail if a row misses target * margin")
    ap.add_argument("--margin", type=float, default=0.5, help="fraction of the target the gate demands")
    ap.add_argument("--no-reports", action="store_true", help="timings only")
    args = ap.parse_args(argv)

    failed = []
    cases = load_cases(args.only)
    w = max([len(c.name) for c in cases] + [9])
    if not args.json:
        print(f"{'benchmark':<{w}} {'ours':>9} {'peer':>9}  {'peer name':<12} {'unit':<6} {'ratio':>6} {'target':>6}  notes")
    for case in cases:
        ours, peer = measure(case, args.budget)
        scale = 1e6 if case.unit.startswith("us") else 1.0
        ratio = peer / ours
        row = {"name": case.name, "ours": round(ours * scale, 4), "peer": round(peer * scale, 4),
               "peer_name": case.peer_name, "unit": case.unit, "ratio": round(ratio, 3)}
        if case.target is not None:
            row["target"] = case.target
            if ratio < case.target * args.margin:
                failed.append(row)
        if case.extra:
            row["extra"] = case.extra
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            tgt = f"{case.target:.1f}" if case.target is not None else "-"
            mark = "" if case.target is None or ratio >= case.target else "  MISSED"
            notes = "; ".join(f"{k}: {v}" for k, v in case.extra.items())
            print(f"{case.name:<{w}} {row['ours']:>9.3f} {row['peer']:>9.3f}  {case.peer_name:<12} "
                  f"{case.unit:<6} {ratio:>6.2f} {tgt:>6}{mark}  {notes}", flush=True)
    if not args.no_reports:
        for rep in load_reports(args.only):
            title, headers, rows = rep()
            if args.json:
                print(json.dumps({"report": title, "headers": headers, "rows": rows}), flush=True)
            else:
                print_report(title, headers, rows)
    if args.gate and failed:
        for row in failed:
            print(f"bench gate: {row['name']} ratio {row['ratio']} < {args.margin} x target {row['target']}",
                  file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
