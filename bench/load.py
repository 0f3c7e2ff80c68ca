"""Call load on a SIP UAS over loopback: CPU per concurrent call, and call set-up rate.

    python3 -m bench.load [--quick] [--target baresip] [--part calls|rate] [--json]

(a) **Concurrent calls** (``concurrent_calls``): for each N of a ladder, one SIPp UAC
    (``tests/peers/scenarios/uac_pcmu_load.xml``) ramps N calls at a fixed rate; each call
    sends PCMU at 50 packets/s and lasts until the ramp is over plus a settle time plus the
    measurement window; over that window (all N calls up) the target's CPU is read from
    /proc (``bench.cpu``): percent of one core. The ladder stops early once the target
    saturates (85 % of every core) or fails calls. Reported: CPU % per N, and the N at which the target
    uses 50 % of a core (linear between steps).
(b) **Set-up rate** (``setup_rate``): several SIPp processes (one saturates around 1,000
    calls/s) drive ``uac_noraudio_load.xml`` (INVITE/200/ACK, a short call, BYE/200; no
    RTP from SIPp) at increasing offered rates for a few seconds each. Reported: answered
    fraction and CPU per rate, and the highest rate with >= 99 % of the calls answered.

Targets are pluggable: ``TARGETS[name](media=..., max_calls=...)`` starts an auto-answering
UAS on 127.0.0.1 and returns a ``Target`` (``pid`` whose CPU is measured, with its
descendants; ``sip_addr``; ``user`` for the Request-URI; ``stop()``). ``baresip`` (1.0.0,
headless, the tests' configuration from ``tests/peers/baresip.py`` with room for many calls)
is implemented; ``sipctl`` runs ``python3 -m bench.sipctl_uas`` (a sipctl auto-answer UAS
that prints ``READY <port>``) -- fill it in / adjust it there.

Everything runs on loopback on one machine: the load generator (SIPp) competes with the
target for the same few cores, so its CPU is reported too (``gen cpu``), and the UDP
datagram counters of /proc/net/snmp show that RTP really flows (both directions) and
whether any socket buffer overflowed. A full run takes about 3-5 minutes, ``--quick`` about
a minute. Every process started here is stopped in ``finally`` blocks (process groups).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from bench.cpu import CpuMeter, cpu_count, descendants, udp_counters, udp_socket_drops

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:   # the peers package lives with the tests
    sys.path.insert(0, str(ROOT / "tests"))

from peers.baresip import Baresip  # noqa: E402
from peers.kamailio import ProcessGroup, free_port  # noqa: E402
from peers.sipp import Sipp, SippGroup, SippResult  # noqa: E402

__all__ = ["Target", "TARGETS", "start_baresip", "start_sipctl", "start_command_target",
           "CallsStep", "RateStep", "concurrent_calls", "setup_rate", "crossing",
           "best_rate", "run", "main", "FULL", "QUICK"]

LOAD_SCENARIO = "uac_pcmu_load"
SETUP_SCENARIO = "uac_noraudio_load"
SIPP_MAX_RATE = 500.0      # calls/s per SIPp process (it saturates around 1,000 on one core)
SATURATED = 85.0           # % per core: the ladder stops when the target uses this much of all
CALL_MS = 500              # call length in the set-up rate test


# ---- targets ------------------------------------------------------------------------------
@dataclass
class Target:
    """A running UAS under test. ``pid``: the process whose CPU counts (its descendants are
    added); ``sip_addr``: where to send INVITEs (UDP); ``user``: Request-URI user;
    ``stop``: ends it (and everything it started), idempotent."""

    name: str
    pid: int
    sip_addr: tuple[str, int]
    stop: Callable[[], None]
    user: str = "load"
    info: dict[str, str] = field(default_factory=dict)   # shown in the report
    users: tuple[str, ...] = ()       # more R-URI users (accounts) to spread calls over
    calls_per_user: int | None = None  # the target's limit of concurrent calls per user

    def spread(self, calls: int, min_procs: int = 1) -> tuple[int, list[str]]:
        """(SIPp processes, their R-URI users) so that no user gets more calls than
        ``calls_per_user`` (with 10 % headroom)."""
        users = list(self.users or (self.user,))
        procs = min_procs
        if self.calls_per_user:
            procs = max(procs, math.ceil(calls / (0.9 * self.calls_per_user)))
            if procs > len(users):
                raise ValueError(f"{self.name}: {calls} calls need {procs} users, "
                                 f"has {len(users)}")
        return procs, users

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


TargetFactory = Callable[..., Target]   # (media: bool = True, max_calls: int = 1000) -> Target


BARESIP_CALLS_PER_UA = 255   # baresip 1.0.0: line numbers 1..255 per UA, then ENOENT


class _LoadBaresip(Baresip):
    """The tests' headless baresip, with room for a load: ``call_max_calls`` and the RTP
    port range sized for ``max_calls``, no ``sndfile`` recording of every call, and enough
    accounts (users ``load0``, ``load1``, ...: one UA each) for ``max_calls``, since one
    baresip UA holds at most 255 calls (its line numbers; call_alloc fails with ENOENT)."""

    def __init__(self, *args, max_calls: int = 1000, **kw):
        super().__init__(*args, **kw)
        self.max_calls = max_calls
        self.users = tuple(f"{self.user}{i}" for i in
                           range(max(1, math.ceil(max_calls / (0.9 * BARESIP_CALLS_PER_UA)))))

    def _write_files(self) -> None:
        super()._write_files()
        cfg = self.config_dir / "config"
        text = cfg.read_text()
        lo = 10000 + 2 * random.randrange(0, 3000)   # below the ephemeral port range
        span = min(4 * self.max_calls + 400, 32000 - lo)   # RTP + RTCP per call, headroom
        text = re.sub(r"(?m)^call_max_calls\s.*$", f"call_max_calls\t\t{self.max_calls + 50}",
                      text)
        text = re.sub(r"(?m)^rtp_ports\s.*$", f"rtp_ports\t\t{lo}-{lo + span}", text)
        text = re.sub(r"(?m)^module\s+sndfile\.so\s*$", "", text)
        cfg.write_text(text)
        line = self._account_line()
        (self.config_dir / "accounts").write_text("".join(
            line.replace(f"sip:{self.user}@", f"sip:{u}@") + "\n" for u in self.users))


def start_baresip(media: bool = True, max_calls: int = 1000) -> Target:
    """baresip 1.0.0 answering every call at once (answermode auto), PCMU only, sending
    silence from aufile (a 60 s WAV at 8 kHz; ``media`` is ignored: baresip always sends
    RTP once a call is up), no sound card, no recordings."""
    b = _LoadBaresip("load", auto_answer=True, codecs=("PCMU/8000/1",),
                     source_seconds=60.0, max_calls=max_calls, keep_files=False)
    try:
        b.start()
    except BaseException:
        b.close()
        raise
    assert b._proc is not None and b.sip_port is not None

    def stop() -> None:
        b.close()
    return Target("baresip", b._proc.pid, ("127.0.0.1", b.sip_port), stop, user=b.users[0],
                  info={"version": "1.0.0", "workdir": str(b.workdir)}, users=b.users,
                  calls_per_user=BARESIP_CALLS_PER_UA)


def start_command_target(name: str, argv: Sequence[str], *, ready: str = r"READY (\d+)",
                         port: int | None = None, timeout: float = 15.0,
                         env: dict[str, str] | None = None, user: str = "load") -> Target:
    """Start any UAS command in its own process group; it must print a line matching
    ``ready`` (group 1: its SIP UDP port) on stdout once it listens, unless ``port`` is
    given (then: once that UDP port is bound). stdout/stderr go to a temp log file."""
    import tempfile
    from peers.kamailio import port_is_listening

    workdir = Path(tempfile.mkdtemp(prefix=f"sipctl-load-{name}-", dir="/tmp"))
    log = workdir / "target.log"
    with open(log, "wb") as out:
        proc = ProcessGroup(list(argv), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                            env=env)

    def stop() -> None:
        proc.stop(timeout=5.0)

    try:
        deadline = time.monotonic() + timeout
        while True:
            if not proc.alive():
                raise RuntimeError(f"{name} exited ({proc.returncode}):\n"
                                   f"{log.read_text(errors='replace')[-3000:]}")
            if port is not None and port_is_listening(port, "udp"):
                break
            m = re.search(ready, log.read_text(errors="replace")) if port is None else None
            if m:
                port = int(m.group(1))
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {timeout}s:\n"
                                   f"{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)
    except BaseException:
        stop()
        raise
    return Target(name, proc.pid, ("127.0.0.1", port), stop, user=user,
                  info={"log": str(log), "argv": " ".join(argv)})


def start_sipctl(media: bool = True, max_calls: int = 1000) -> Target:
    """HOOK for the sipctl target: an auto-answer sipctl UAS on loopback.

    Runs ``python3 -m bench.sipctl_uas --port P --lines N [--no-media]`` (owned by the
    sipctl engineers; it prints ``READY <port>``). Change the command here if that
    entry point changes; the rest of the harness only needs the returned ``Target``."""
    port = free_port("127.0.0.1", ("udp",))
    argv = [sys.executable, "-m", "bench.sipctl_uas", "--port", str(port),
            "--lines", str(max_calls + 50)]
    if not media:
        argv.append("--no-media")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return start_command_target("sipctl", argv, env=env)


TARGETS: dict[str, TargetFactory] = {
    "baresip": start_baresip,
    "sipctl": start_sipctl,   # hook: see start_sipctl
}


# ---- results ------------------------------------------------------------------------------
@dataclass
class CallsStep:
    calls: int                 # N offered (concurrent once ramped)
    rate: float                # ramp, calls/s
    up: int                    # calls up at the start of the window (SIPp CurrentCall)
    answered: int              # calls that completed INVITE..BYE successfully
    failed: int
    cpu: float                 # target, % of one core over the window
    gen_cpu: float             # SIPp, % of one core
    udp_in_per_s: float        # UDP datagrams delivered on the host per second (RTP to the
                               # target ~ 50 x calls; SIPp does not read the target's RTP)
    target_drops: int          # datagrams dropped on the target's full UDP sockets (window)
    window: float              # seconds
    #: media clock ticks run / late (> 5 ms) / dropped during the window, from the target's
    #: once-a-second MEDIA log lines (so +-1 s at the edges); None for targets without them
    media_ticks: int | None = None
    media_late: int | None = None
    media_dropped: int | None = None


@dataclass
class RateStep:
    rate: float                # offered calls/s (all SIPp processes)
    processes: int
    calls: int                 # calls created
    answered: int              # successful calls
    failed: int
    cpu: float                 # target, % of one core over the generation period
    gen_cpu: float             # all SIPp processes together
    seconds: float             # generation period

    @property
    def answered_fraction(self) -> float:
        return self.answered / self.calls if self.calls else 0.0


def crossing(steps: Sequence[CallsStep], level: float = 50.0) -> tuple[float | None, str]:
    """N at which the target's CPU reaches ``level`` %: interpolated between the two steps
    around it, or (estimate, "extrapolated") from the highest step when never reached
    (CPU taken as proportional to N), (None, "none") without data."""
    pts = sorted((s.calls, s.cpu) for s in steps if s.answered >= 0.99 * s.calls)
    if not pts:
        return None, "none"
    prev = (0, 0.0)
    for n, c in pts:
        if c >= level:
            n0, c0 = prev
            return n0 + (level - c0) * (n - n0) / (c - c0) if c > c0 else float(n), \
                "interpolated"
        prev = (n, c)
    n, c = pts[-1]
    return (n * level / c if c > 0 else None), "extrapolated"


def best_rate(steps: Sequence[RateStep], min_answered: float = 0.99) -> RateStep | None:
    ok = [s for s in steps if s.answered_fraction >= min_answered]
    return max(ok, key=lambda s: s.rate) if ok else None


# ---- the two measurements ----------------------------------------------------------------
def _current_calls(result: SippResult) -> int:
    return result.counter("CurrentCall")


def _wait_until(t: float) -> None:
    while (left := t - time.monotonic()) > 0:
        time.sleep(min(left, 0.2))


def concurrent_calls(target: Target, ladder: Sequence[int], *, ramp_s: float = 5.0,
                     settle_s: float = 1.5, window_s: float = 5.0, min_rate: float = 20.0,
                     max_rate: float = 150.0, sipp: Sipp | None = None,
                     log: Callable[[str], None] = lambda s: None) -> list[CallsStep]:
    """CPU of ``target`` with N concurrent PCMU calls, for each N of ``ladder``."""
    own = sipp is None
    sipp = sipp or Sipp()
    steps: list[CallsStep] = []
    try:
        for n in ladder:
            rate = min(max(n / ramp_s, min_rate), max_rate)
            ramp = n / rate
            call_s = ramp + settle_s + window_s + 0.5
            procs, users = target.spread(n, math.ceil(rate / SIPP_MAX_RATE))
            group = sipp.many(LOAD_SCENARIO, procs, services=users,
                              remote=target.sip_addr, calls=n,
                              limit=n, rate=rate, duration_ms=int(call_s * 1000),
                              timeout=ramp + call_s + 20, recv_timeout_ms=10000,
                              stat_period_s=1, trace_messages=False)
            with group:
                t0 = time.monotonic()
                _wait_until(t0 + ramp + settle_s)
                up = sum(_current_calls(p.result) for p in group.procs)
                meter = CpuMeter([target.pid, *group.pids])
                tpids = [target.pid, *descendants(target.pid)]
                u0, d0 = udp_counters(), udp_socket_drops(tpids)[1]
                m0 = media_clock(target)
                meter.start()
                _wait_until(t0 + ramp + settle_s + window_s)
                usage = meter.stop()
                m1 = media_clock(target)
                u1, d1 = udp_counters(), udp_socket_drops(tpids)[1]
                results = group.wait()
            tot = SippGroup.totals(results)
            step = CallsStep(
                calls=n, rate=round(rate, 1), up=up, answered=tot["successful"],
                failed=tot["failed"], cpu=round(usage.percent(target.pid), 1),
                gen_cpu=round(usage.total_percent(group.pids), 1),
                udp_in_per_s=round((u1.get("InDatagrams", 0) - u0.get("InDatagrams", 0))
                                   / usage.wall),
                target_drops=d1 - d0,
                window=round(usage.wall, 2))
            if m0 is not None and m1 is not None:
                step.media_ticks = m1["ticks"] - m0["ticks"]
                step.media_late = m1["late"] - m0["late"]
                step.media_dropped = m1["overruns"] - m0["overruns"]
            steps.append(step)
            log(f"  calls={n:<5d} up={up:<5d} answered={step.answered}/{n} cpu={step.cpu:5.1f}%"
                f"  sipp={step.gen_cpu:5.1f}%  udp in/s={step.udp_in_per_s:.0f}"
                f"  target drops={step.target_drops}"
                + ("" if step.media_ticks is None else
                   f"  media ticks={step.media_ticks} late={step.media_late}"
                   f" dropped={step.media_dropped}"))
            if step.cpu >= SATURATED * cpu_count() or step.answered < 0.99 * n:
                log("  (target saturated or failing calls: ladder stopped)")
                break
            time.sleep(1.0)   # let the last BYEs settle on the target
    finally:
        if own:
            sipp.close()
    return steps


def setup_rate(target: Target, rates: Sequence[float], *, step_s: float = 4.0,
               call_ms: int = CALL_MS, sipp: Sipp | None = None, min_answered: float = 0.99,
               log: Callable[[str], None] = lambda s: None) -> list[RateStep]:
    """Answered fraction and CPU of ``target`` at each offered call rate (short calls,
    no RTP from SIPp); stops after the first rate below ``min_answered``."""
    own = sipp is None
    sipp = sipp or Sipp()
    steps: list[RateStep] = []
    try:
        for rate in rates:
            calls = int(round(rate * step_s))
            # calls up at once ~ rate x (call length + set-up); 0.5 s set-up allowance
            procs, users = target.spread(int(rate * (call_ms / 1000 + 0.5)),
                                         math.ceil(rate / SIPP_MAX_RATE))
            group = sipp.many(SETUP_SCENARIO, procs, remote=target.sip_addr,
                              services=users, calls=calls, rate=rate,
                              duration_ms=call_ms, timeout=step_s + call_ms / 1000 + 20,
                              recv_timeout_ms=5000, trace_messages=False)
            with group:
                meter = CpuMeter([target.pid, *group.pids]).start()
                t0 = time.monotonic()
                _wait_until(t0 + step_s)
                usage = meter.stop()
                results = group.wait()
            tot = SippGroup.totals(results)
            step = RateStep(rate=rate, processes=procs, calls=tot["created"],
                            answered=tot["successful"], failed=tot["failed"],
                            cpu=round(usage.percent(target.pid), 1),
                            gen_cpu=round(usage.total_percent(group.pids), 1),
                            seconds=round(usage.wall, 2))
            steps.append(step)
            log(f"  rate={rate:<6g} sipp x{procs}  calls={step.calls:<6d} answered="
                f"{100 * step.answered_fraction:6.2f}%  cpu={step.cpu:5.1f}%"
                f"  sipp={step.gen_cpu:5.1f}%")
            if step.answered_fraction < min_answered or step.calls < 0.9 * calls:
                break
            time.sleep(1.0)
    finally:
        if own:
            sipp.close()
    return steps


# ---- the whole run ------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    ladder: tuple[int, ...]
    ramp_s: float
    window_s: float
    rates: tuple[float, ...]
    step_s: float


FULL = Plan(ladder=(50, 100, 200, 300, 500, 700), ramp_s=5.0, window_s=5.0,
            rates=(50, 100, 150, 200, 300, 400, 600, 800, 1000, 1500, 2000), step_s=4.0)
QUICK = Plan(ladder=(50, 150, 300), ramp_s=3.0, window_s=3.0,
             rates=(50, 100, 200, 400, 800), step_s=3.0)


@dataclass
class Report:
    target: str
    cores: int
    calls: list[CallsStep] = field(default_factory=list)
    rates: list[RateStep] = field(default_factory=list)
    n_at_50: float | None = None
    n_at_50_how: str = "none"
    best: RateStep | None = None
    seconds: float = 0.0
    #: the target's media clock over the concurrent-calls run, when it reports one
    #: (``MEDIA ticks=.. late=.. overruns=..`` lines in its log: sipctl)
    media: dict[str, int] | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["best"] = asdict(self.best) if self.best else None
        return d

    def summary(self) -> str:
        lines = [f"target {self.target} ({self.cores} cores, loopback, "
                 f"{self.seconds:.0f} s)"]
        if self.calls:
            n = "-" if self.n_at_50 is None else f"{self.n_at_50:.0f}"
            lines.append(f"  concurrent PCMU calls at 50 % of one core: {n} ({self.n_at_50_how})")
            if self.media:
                m = self.media
                lines.append(f"  media clock: {m['ticks']} ticks, {m['late']} late (> 5 ms), "
                             f"{m['overruns']} dropped")
        if self.rates:
            if self.best:
                lines.append(f"  call set-up: {self.best.rate:g} calls/s with "
                             f"{100 * self.best.answered_fraction:.2f} % answered "
                             f"(cpu {self.best.cpu:.0f} %, sipp {self.best.gen_cpu:.0f} %)")
            else:
                lines.append("  call set-up: no rate reached 99 % answered")
            top = self.rates[-1]
            if self.best is top:
                lines.append("  (highest rate tried: the limit may be higher)")
        return "\n".join(lines)


def _target(name: str, media: bool, max_calls: int) -> Target:
    try:
        factory = TARGETS[name]
    except KeyError:
        raise SystemExit(f"unknown target {name!r}; known: {', '.join(TARGETS)}") from None
    return factory(media=media, max_calls=max_calls)


def media_clock(target: Target) -> dict[str, int] | None:
    """The last ``MEDIA ticks= late= overruns=`` line the target logged, or None."""
    path = target.info.get("log")
    if not path:
        return None
    found = re.findall(r"MEDIA ticks=(\d+) late=(\d+) overruns=(\d+)",
                       Path(path).read_text(errors="replace"))
    if not found:
        return None
    ticks, late, overruns = (int(x) for x in found[-1])
    return {"ticks": ticks, "late": late, "overruns": overruns}


def run(target: str = "baresip", plan: Plan = FULL, parts: Sequence[str] = ("calls", "rate"),
        log: Callable[[str], None] = lambda s: None) -> Report:
    """Both measurements, each against a fresh target process."""
    rep = Report(target, cpu_count())
    t0 = time.monotonic()
    with Sipp() as sipp:
        if "calls" in parts:
            log(f"[{target}] concurrent calls, PCMU 50 packets/s each, ladder {plan.ladder}")
            with _target(target, True, max(plan.ladder)) as t:
                rep.calls = concurrent_calls(t, plan.ladder, ramp_s=plan.ramp_s,
                                             window_s=plan.window_s, sipp=sipp, log=log)
                rep.media = media_clock(t)
            rep.n_at_50, rep.n_at_50_how = crossing(rep.calls)
        if "rate" in parts:
            log(f"[{target}] call set-up rate (no RTP from SIPp), rates {plan.rates}")
            with _target(target, False, int(max(plan.rates) * (CALL_MS / 1000 + 0.5)) + 100) as t:
                rep.rates = setup_rate(t, plan.rates, step_s=plan.step_s, sipp=sipp, log=log)
            rep.best = best_rate(rep.rates)
    rep.seconds = time.monotonic() - t0
    return rep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m bench.load",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--target", action="append", choices=sorted(TARGETS),
                    help="target UAS (repeatable; default baresip)")
    ap.add_argument("--quick", action="store_true", help="short ladders (~1 minute)")
    ap.add_argument("--part", choices=("calls", "rate"), action="append",
                    help="only this measurement (repeatable; default both)")
    ap.add_argument("--ladder", help="concurrent-call ladder, e.g. 50,100,200")
    ap.add_argument("--rates", help="set-up rates (calls/s), e.g. 100,200,400")
    ap.add_argument("--json", action="store_true", help="one JSON object per target")
    args = ap.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.ladder:
        plan = Plan(tuple(int(x) for x in args.ladder.split(",")), plan.ramp_s,
                    plan.window_s, plan.rates, plan.step_s)
    if args.rates:
        plan = Plan(plan.ladder, plan.ramp_s, plan.window_s,
                    tuple(float(x) for x in args.rates.split(",")), plan.step_s)
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.json else \
        (lambda s: print(s, flush=True))
    for name in args.target or ["baresip"]:
        rep = run(name, plan, args.part or ("calls", "rate"), log=log)
        if args.json:
            print(json.dumps(rep.as_dict()), flush=True)
        else:
            print(rep.summary(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
