"""Calls under load: sipctl against baresip, same SIPp load, same run (``bench.load``).

Not a timing: ``REPORTS`` adds one table. (a) concurrent PCMU calls with RTP at 50
packets/s each way: CPU of the target in % of one core per N, the N at which it uses
50 % (target: >= 500) and whether its media clock ran late; (b) answered calls per second
without RTP (target: >= 300/s; Sippy B2BUA, a Python stack, publishes 150-400/s). Takes
about 4 minutes (``python -m bench -k load``); SIPp, baresip and the sipctl UAS
(``bench.sipctl_uas``) all run on this machine, on loopback.
"""
from __future__ import annotations

from bench import load

CASES: list = []

PLAN = load.Plan(ladder=(100, 300, 500, 700), ramp_s=5.0, window_s=5.0,
                 rates=(100, 200, 300, 400, 600, 800), step_s=4.0)


def _row(rep: load.Report) -> list[str]:
    cpu = {s.calls: s.cpu for s in rep.calls}
    n50 = "-" if rep.n_at_50 is None else f"{rep.n_at_50:.0f} ({rep.n_at_50_how})"
    ladder = ", ".join(f"{n}: {cpu[n]:.0f} %" if n in cpu else f"{n}: -" for n in PLAN.ladder)
    steps = [st for st in rep.calls if st.media_ticks is not None]
    late = "-" if not steps else ", ".join(
        f"{st.calls}: {st.media_late}/{st.media_ticks}"
        + (f" ({st.media_dropped} dropped)" if st.media_dropped else "") for st in steps)
    best = "-" if rep.best is None else \
        f"{rep.best.rate:g}/s ({100 * rep.best.answered_fraction:.1f} %, cpu {rep.best.cpu:.0f} %)"
    return [rep.target, ladder, n50, late, best]


def load_report():
    """calls load: concurrent calls and set-up rate, sipctl vs baresip"""
    rows = [_row(load.run(name, PLAN)) for name in ("sipctl", "baresip")]
    return ("Calls under SIPp load on loopback (CPU in % of one core; targets: N at 50 % "
            ">= 500, set-up >= 300/s with >= 99 % answered)",
            ["target", "CPU at N concurrent calls", "N at 50 %", "late/all media ticks in the window",
             "set-up rate"], rows)


REPORTS = [load_report]
