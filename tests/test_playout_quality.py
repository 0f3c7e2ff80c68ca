"""Receive path quality on the standard network traces (bench/netsim.py), measured.

[G.711 encode -> network trace -> jitter buffer -> decode -> PLC] is scored with
PESQ against the clean espeak-ng source, and compared with libspeexdsp's jitter
buffer fed the same packets at the same ticks with the same PLC.
"""
import functools

import pytest

from bench import playout
from bench.netsim import TRACES
from bench.speech import have_espeak
from _media.concealment import SilenceConcealer

pytestmark = pytest.mark.skipif(not have_espeak(), reason="espeak-ng not installed (ci/install-deps installs it)")


@functools.lru_cache(maxsize=None)
def result(name: str, jb: str, concealer: str = "plc") -> playout.Result:
    spec = next(t for t in TRACES if t.name == name)
    conc = (lambda: SilenceConcealer(playout.FRAME)) if concealer == "silence" else None
    return playout.run(spec, jb, concealer=conc)


@pytest.mark.parametrize("jb", ["ours", "ours-tsm"])
def test_plc_beats_silence_insertion_on_5pct_loss(jb):
    plc = result("loss 5% (GE)", jb)
    sil = result("loss 5% (GE)", jb, "silence")
    print(f"{jb}: PESQ with PLC {plc.pesq:.2f}, with silence insertion {sil.pesq:.2f}")
    assert plc.pesq >= sil.pesq + 0.3


# Frame mode ("ours": JitterBuffer dropping/inserting whole frames at quiet ticks).
# Both it and speexdsp adapt in whole 20 ms frames, so on most traces they pick the
# same playout step; the README has the full table and where we lose.
@pytest.mark.parametrize("name", [t.name for t in TRACES])
def test_frame_mode_vs_speexdsp(name):
    ours, peer = result(name, "ours"), result(name, "speexdsp")
    print(f"{name}: delay {ours.mean_delay_ms:.1f}/{peer.mean_delay_ms:.1f} ms, "
          f"late {ours.late_loss_pct:.2f}/{peer.late_loss_pct:.2f} %, PESQ {ours.pesq:.2f}/{peer.pesq:.2f}")
    # never more than one 20 ms playout step behind speexdsp on delay
    assert ours.mean_delay_ms <= peer.mean_delay_ms + 20.0
    # speech quality within PESQ's run-to-run noise of speexdsp, or better
    assert ours.pesq >= peer.pesq - 0.1
    if name == "stall 2 s":
        # frame mode drops the stale backlog: a tenth of speexdsp's delay afterwards
        assert ours.mean_delay_ms <= 0.1 * peer.mean_delay_ms
        assert ours.pesq > peer.pesq
    elif name != "jitter 30 ms + spikes":
        assert ours.late_loss_pct <= peer.late_loss_pct


# The project target, on every trace: our mean playout delay <= speexdsp's, our late-loss
# <= speexdsp's and our PESQ >= speexdsp's, on the same packets and ticks. "ours-tsm" is
# _media.playout.Playout: NetEq-style accelerate / preemptive expand, a stall's backlog
# replayed and accelerated away. Where the target is not met yet, SHORTFALL holds the
# measured gap (delay ms, late-loss percentage points, PESQ) plus a little slack; the
# reason is in the comment. Nothing else may get worse than this.
SHORTFALL = {
    # +0.5 ms, +0.13 pp (2 frames), -0.23 PESQ: 7 expands + 7 accelerates. P.862 scores
    # any time-warp inside an utterance hard (see tests/test_tsm.py), and these traces
    # leave little to gain from it; speexdsp adapts only by whole frames here.
    "loss 1% (GE)": (1.0, 0.2, 0.28),
    # -0.06 PESQ: 3 accelerates after delay spikes of the GE loss run
    "loss 5% (GE)": (0.0, 0.0, 0.1),
    # -0.01 PESQ: same packets, same late-loss, same delay; PLC transitions differ
    "loss 10% (GE)": (0.0, 0.0, 0.05),
    # +0.67 pp late-loss (10 frames), -0.11 PESQ at 3 ms less delay: single late packets
    # are skipped (a rewind per straggler costs more PESQ than the loss)
    "jitter 30 ms": (0.0, 0.8, 0.15),
    # -0.18 PESQ: late-loss 0.33 % against 3.07 % because spike backlogs are replayed,
    # then accelerated (voiced periods too: 99 accelerations), which P.862 penalises
    "jitter 30 ms + spikes": (0.0, 0.0, 0.22),
    # +1.87 pp late-loss, -0.17 PESQ at 17 ms less delay: a held-back packet that misses
    # its deadline is skipped; speexdsp waits longer for reordered packets
    "reorder 5%": (0.0, 2.0, 0.22),
}


@pytest.mark.parametrize("name", [t.name for t in TRACES])
def test_time_scaling_vs_speexdsp(name):
    ours, peer = result(name, "ours-tsm"), result(name, "speexdsp")
    print(f"{name}: delay {ours.mean_delay_ms:.1f}/{peer.mean_delay_ms:.1f} ms, "
          f"late {ours.late_loss_pct:.2f}/{peer.late_loss_pct:.2f} %, PESQ {ours.pesq:.2f}/{peer.pesq:.2f}")
    d_ms, late_pp, pesq = SHORTFALL.get(name, (0.0, 0.0, 0.0))
    assert ours.mean_delay_ms <= peer.mean_delay_ms + d_ms
    assert ours.late_loss_pct <= peer.late_loss_pct + late_pp
    assert ours.pesq >= peer.pesq - pesq
    if name == "stall 2 s":
        # the backlog is replayed, not dropped, and accelerated away: under a third of
        # speexdsp's delay (it replays and keeps ~1 s extra for the rest of the call)
        assert ours.mean_delay_ms <= 0.33 * peer.mean_delay_ms
        assert ours.late_loss_pct < 0.5


@pytest.mark.parametrize("name", [t.name for t in TRACES])
def test_every_arrived_frame_accounted_for(name):
    r = result(name, "ours-tsm")
    # played + late == arrived; playout.run itself fails on a frame played twice
    assert r.played + r.late == r.sent - r.net_lost
    assert r.played > 0.8 * r.sent
    st = r.stats
    # time-scaling adapts: no frame is dropped or silence inserted for adaptation
    assert st.jitter.dropped_for_adaptation == 0 and st.discarded == 0
    assert st.frames == r.played
