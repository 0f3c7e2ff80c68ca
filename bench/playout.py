"""Receive-side playout of a network trace: jitter buffer -> G.711 decode -> concealment.

:func:`run` plays one :class:`bench.netsim.TraceSpec` through either sipctl's
jitter buffer (``"ours"``) or libspeexdsp's (``"speexdsp"``), with the same
concealer and the same tick loop, and reports late-loss, playout delay and PESQ
against the clean source. :func:`report` is the side-by-side table that
``python -m bench`` prints.

The tick loop is what a softphone's media thread does every 20 ms: hand the
jitter buffer every packet that arrived since the last tick, take one frame,
decode it or conceal it. Both buffers see identical packets at identical ticks.
"ours" is :class:`_media.jitter.JitterBuffer` in its default frame mode in the plain
loop (it drops/inserts whole frames at quiet ticks); "ours-tsm" is
:class:`_media.playout.Playout` (jitter buffer in ``adapt="tsm"`` mode, decode,
concealment and NetEq-style accelerate / preemptive expand); "speexdsp" is
libspeexdsp's buffer in the plain loop (its INSERTION ticks play concealment).
The delay of a tick is ``now`` minus the send time of the first sample it plays.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from _media import g711
from bench.netsim import FRAME_S, TRACES, TraceSpec, make_trace
from bench.speech import speech

RATE = 8000
FRAME = 160
TS0 = 2**32 - 40 * FRAME           # must match make_trace's default
QUIET_RMS = 100.0                  # below this a played frame counts as quiet (about -50 dBFS)


@dataclass
class Result:
    """What one trace did through one jitter buffer."""

    trace: str
    jb: str
    sent: int
    net_lost: int
    late: int
    played: int
    concealed: int
    delays_ms: np.ndarray  # playout-point delay at each tick that played or concealed a frame
    audio: np.ndarray = field(repr=False)
    pesq: float = float("nan")
    stats: object = field(default=None, repr=False)  # "ours": the Playout's PlayoutStats

    @property
    def late_loss_pct(self) -> float:
        """Packets that arrived but were never played, as % of packets sent."""
        return 100.0 * self.late / self.sent

    @property
    def mean_delay_ms(self) -> float:
        return float(np.mean(self.delays_ms)) if len(self.delays_ms) else float("nan")

    @property
    def p95_delay_ms(self) -> float:
        return float(np.percentile(self.delays_ms, 95)) if len(self.delays_ms) else float("nan")


PLAYOUT_OPTIONS: dict = {}       # keyword arguments of Playout for "ours-tsm" (tuning runs)


class _Ours:
    name = "ours"

    def __init__(self, jittersize: int = 3) -> None:
        from _media.jitter import JitterBuffer, Kind

        self.jb = JitterBuffer(RATE, FRAME, frame_bytes=FRAME, jittersize=jittersize)
        self.kinds = (Kind.FRAME, Kind.MISSING)

    def put(self, p, payload: bytes, first: bool) -> None:
        self.jb.put(p.seq, p.timestamp, first, payload, p.arrival)

    def get(self, now: float, quiet: bool):
        kind, payload, ts = self.jb.get(now, quiet)
        return (0 if kind == self.kinds[0] else 1 if kind == self.kinds[1] else 2), payload, ts


class _Speex:
    name = "speexdsp"

    def __init__(self) -> None:
        from _media.speexdsp_peer import SpeexJitterBuffer

        self.jb = SpeexJitterBuffer(FRAME)

    def put(self, p, payload: bytes, first: bool) -> None:
        self.jb.put(p.seq, p.timestamp, payload)

    def get(self, now: float, quiet: bool):
        return self.jb.get()


# buffers played through the plain tick loop; "ours-tsm" is _media.playout.Playout (_run_playout)
JITTER_BUFFERS: dict[str, Callable[[], object]] = {"ours": _Ours, "speexdsp": _Speex}


def _default_concealer():
    from _media.plc import WaveformPlc

    return WaveformPlc(RATE, FRAME)


def run(spec: TraceSpec, jb: str = "ours", concealer: Callable[[], object] | None = None,
        source: np.ndarray | None = None, with_pesq: bool = True) -> Result:
    """Play ``spec`` through jitter buffer ``jb`` ("ours", "ours-tsm" or "speexdsp")."""
    if jb != "ours-tsm" and jb not in JITTER_BUFFERS:
        raise ValueError(f"unknown jitter buffer {jb!r}")
    src = speech(RATE, spec.seconds) if source is None else source
    pkts = make_trace(spec)
    n = len(pkts)
    src = np.resize(src, n * FRAME)
    coded = g711.ulaw_encode(src)
    send = np.empty(n)
    for p in pkts:
        send[p.index] = p.send
    arrivals = [p for p in pkts if p.arrival is not None]
    conc = (concealer or _default_concealer)()
    if jb == "ours-tsm":
        res = _run_playout(spec, src, coded, send, arrivals, n, conc)
        if with_pesq:
            res.pesq = pesq_nb(src, res.audio)
        return res
    buf = JITTER_BUFFERS[jb]()
    out = []
    delays = []
    played: set[int] = set()
    concealed = 0
    concealed_at_last_frame = 0
    started = False
    quiet = False
    t0 = arrivals[0].arrival
    k_next = 0
    n_ticks = n + int(3.0 / FRAME_S)
    silence = np.zeros(FRAME, np.int16)
    for tick in range(n_ticks):
        now = t0 + tick * FRAME_S
        while k_next < len(arrivals) and arrivals[k_next].arrival <= now:
            p = arrivals[k_next]
            buf.put(p, coded[p.index * FRAME:(p.index + 1) * FRAME], k_next == 0)
            k_next += 1
        kind, payload, ts = buf.get(now, quiet)
        idx = ((ts - TS0) & 0xFFFFFFFF) // FRAME
        if kind in (0, 1) and idx < n:
            # the playout point's delay: how long ago the frame due now was sent,
            # whether it is played or concealed (late frames don't skew it)
            delays.append(1000.0 * (now - send[idx]))
        if kind == 0:
            if idx in played:
                raise AssertionError(f"{buf.name}: frame {idx} played twice")
            played.add(idx)
            pcm = np.frombuffer(g711.ulaw_decode(payload), np.int16)
            frame = conc.good(pcm)
            started = True
            concealed_at_last_frame = concealed
        elif started:
            frame = conc.conceal()
            concealed += 1
        else:
            frame = silence
        out.append(frame)
        quiet = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) < QUIET_RMS
    arrived = {p.index for p in arrivals}
    # concealment after the stream's last frame is just the tail of the loop
    res = Result(spec.name, buf.name, n, n - len(arrivals), len(arrived - played), len(played),
                 concealed_at_last_frame, np.array(delays), np.concatenate(out))
    if with_pesq:
        res.pesq = pesq_nb(src, res.audio)
    return res


def _run_playout(spec: TraceSpec, src, coded, send, arrivals, n: int, conc) -> Result:
    from _media.jitter import Kind
    from _media.playout import Playout

    po = Playout(RATE, FRAME, concealer=conc, **PLAYOUT_OPTIONS)
    out = []
    delays = []
    played: set[int] = set()
    concealed = concealed_at_last_frame = 0
    t0 = arrivals[0].arrival
    k_next = 0
    for tick in range(n + int(3.0 / FRAME_S)):
        now = t0 + tick * FRAME_S
        while k_next < len(arrivals) and arrivals[k_next].arrival <= now:
            p = arrivals[k_next]
            po.put(p.seq, p.timestamp, k_next == 0, coded[p.index * FRAME:(p.index + 1) * FRAME],
                   p.arrival)
            k_next += 1
        out.append(po.tick(now))
        for kind, ts in po.pulled:
            idx = ((ts - TS0) & 0xFFFFFFFF) // FRAME
            if kind == Kind.FRAME:
                if idx in played:
                    raise AssertionError(f"ours-tsm: frame {idx} played twice")
                played.add(idx)
                concealed_at_last_frame = concealed
            elif kind == Kind.MISSING:
                concealed += 1
        if po.playout_ts is not None:
            s = (po.playout_ts - TS0) & 0xFFFFFFFF
            if s // FRAME < n:
                delays.append(1000.0 * (now - send[s // FRAME] - (s % FRAME) / RATE))
    arrived = {p.index for p in arrivals}
    res = Result(spec.name, "ours-tsm", n, n - len(arrivals), len(arrived - played), len(played),
                 concealed_at_last_frame, np.array(delays), np.concatenate(out))
    res.stats = po.stats
    return res


def pesq_nb(ref: np.ndarray, deg: np.ndarray) -> float:
    """Narrowband PESQ (P.862, MOS-LQO) of ``deg`` against ``ref`` at 8 kHz.

    Scored on 10 s segments aligned on the reference and averaged: P.862 is
    specified for short recordings and its alignment copes with delay changes
    better inside a segment than over a long call.
    """
    from pesq import pesq

    ref = ref.astype(np.float64)
    deg = deg.astype(np.float64)
    seg = 10 * RATE
    scores = []
    for start in range(0, len(ref) - seg // 2, seg):
        r = ref[start:start + seg]
        # the degraded stream lags: take a window covering the segment plus its playout delay
        d = deg[start:start + seg + RATE // 2]
        scores.append(pesq(RATE, r, d, "nb"))
    return float(np.mean(scores))


def report(traces: list[TraceSpec] = TRACES) -> tuple[str, list[str], list[list[str]]]:
    """The ours (frame mode) / ours (time-scaling) / speexdsp table: (title, headers, rows)."""
    rows = []
    for spec in traces:
        r = [run(spec, jb) for jb in ("ours", "ours-tsm", "speexdsp")]
        rows.append([spec.name,
                     " / ".join(f"{x.mean_delay_ms:.1f}" for x in r),
                     " / ".join(f"{x.p95_delay_ms:.1f}" for x in r),
                     " / ".join(f"{x.late_loss_pct:.2f}" for x in r),
                     " / ".join(f"{x.pesq:.2f}" for x in r)])
    return ("Jitter buffer + PLC on network traces (ours frames / ours time-scaling / speexdsp; "
            "G.711 u-law, 20 ms)",
            ["trace", "mean delay ms", "p95 delay ms", "late-loss %", "PESQ"], rows)
