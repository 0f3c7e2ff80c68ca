"""TCP API round trip on loopback: ``API_TestEx`` -> ``42``, idle and while calls carry RTP.

    python3 -m bench.api_rtt [-n 5000] [--calls 4] [--chunk 50] [--json] [--gate] [--profile FILE]
    python3 -m bench.api_rtt --echo-only          # the echo peer alone (harness dry run)

One persistent connection, one command at a time: ``perf_counter_ns`` around
``sendall(b"API_TestEx\\r\\n")`` .. the ``42`` line (notification lines, ``WPNOTIFICATION,..``,
may interleave on the socket: they are skipped and counted). Reported in microseconds:
p50, p99 (nearest rank), max.

Same-run peer: a minimal asyncio line server (``asyncio.start_server`` + ``readuntil`` +
``write`` + ``drain``, answering ``42\\r\\n`` to every line) in its own process on loopback:
the floor for a Python asyncio line server on this machine. After a warm-up the two are
measured interleaved in alternating order, ``--chunk`` (50) round trips at a time (a few
ms: back-to-back traffic as a real client sends it, yet both servers see the same machine
state: other processes, CPU frequency); the ratio is p99(sipctl) / p99(echo peer). Also
reported: CPU time per round trip of each server process (user + system, from /proc), a
figure the machine's noise hardly moves.

Phases, on one ``python3 -m sipctl serve --port 0 --workdir DIR`` process (preset
``signalingport``, ``startsipstack=2``, ``autoaccept=true``, then ``API_Start``):

* **idle**: the SIP stack started, no call;
* **calls**: one SIPp UAC (``tests/peers/scenarios/uac_pcmu_load.xml``) places ``--calls``
  PCMU calls (50 packets/s each way: SIPp streams a tone, sipctl sends from its null audio
  device) held for the whole window. Checked before and after the window:
  ``API_GetCurrentConnectedCallCount`` and SIPp's ``CurrentCall``. RTP flow: the
  service -> SIPp direction from the drops on SIPp's RTP socket (SIPp does not read it: it
  fills, then every datagram is dropped), both directions from the host's UDP counters
  (datagrams delivered + dropped per second, ~100 per call on an otherwise quiet machine);
  the CDR notifications at the end are shown too.

Diagnostics for a bad tail: CPU per thread of the service over the window (its main/asyncio
thread and the media thread share the GIL), notifications received during the window, and
the phase of the slow samples against the 20 ms media clock (``phase_r``: 0 = spread
evenly over the 20 ms, 1 = every slow sample at the same phase, i.e. they collide with the
media tick). ``--profile FILE`` runs the service under cProfile (main thread only) and writes
its stats there.

Target: p99 <= 1 ms with the calls up (and, as a sanity margin against the machine,
p99 <= 10 x the echo peer's). The 1 ms is judged only when the echo peer's own p99 is
under 0.5 ms (otherwise other processes set the tail: "not judged"). ``--gate`` exits 1
when a target is missed, 2 when the service could not be measured. Every process started
here (service, echo peer, SIPp) is stopped in ``finally`` blocks.
"""
from __future__ import annotations

import argparse
import asyncio
import cmath
import gc
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from bench.cpu import cpu_seconds, thread_cpu_seconds, udp_counters

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:   # the peers package lives with the tests
    sys.path.insert(0, str(ROOT / "tests"))

__all__ = ["ApiClient", "ApiError", "Server", "start_echo_peer", "start_service", "Stats",
           "Phase", "Result", "run", "main", "TARGET_P99_US", "TARGET_RATIO"]

TARGET_P99_US = 1000.0     # p99 with the calls up
TARGET_RATIO = 10.0        # p99(sipctl) / p99(echo peer), a generous sanity margin
COMMAND = b"API_TestEx\r\n"
ANSWER = b"42"
NOTIFY = b"WPNOTIFICATION,"
NEOL = b",NEOL"
MEDIA_PERIOD_NS = 20_000_000   # the media clock (20 ms frames) the slow samples are folded on
LISTENING = re.compile(r"API listening on (?:127\.0\.0\.1|\[::1\]|localhost):(\d+)")


class ApiError(RuntimeError):
    pass


# ---- the echo peer (run in its own process) -----------------------------------------------
async def _echo_main(host: str, port: int) -> None:
    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\n")
                writer.write(b"42\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(client, host, port, limit=64 * 1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await stop.wait()


# ---- the client -----------------------------------------------------------------------------
class ApiClient:
    """A blocking TCP client of the line API: one command, one answer line; notification
    lines in between are kept in ``notifications`` (as text, without the prefix)."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self._buf = b""
        self.notifications: list[str] = []

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "ApiClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _line(self) -> bytes:
        """The next answer line (notifications skipped and kept), without CRLF."""
        buf = self._buf
        while True:
            i = buf.find(b"\n")
            if i < 0:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ApiError(f"connection closed by the server (pending {buf[:200]!r})")
                buf += chunk
                continue
            line, buf = buf[:i].rstrip(b"\r"), buf[i + 1:]
            if line.startswith(NOTIFY):
                self._notification(line)
                continue
            if not line:
                continue
            self._buf = buf
            return line

    def _notification(self, line: bytes) -> None:
        body = line[len(NOTIFY):]
        if body.endswith(NEOL):
            body = body[:-len(NEOL)]
        self.notifications.append(body.decode(errors="replace"))

    def command(self, cmd: str) -> str:
        self.sock.sendall(cmd.encode() + b"\r\n")
        return self._line().decode(errors="replace")

    def drain(self, seconds: float, until: Callable[[list[str]], bool] | None = None) -> None:
        """Read notifications for ``seconds`` (or until ``until(notifications)``)."""
        end = time.monotonic() + seconds
        try:
            while (left := end - time.monotonic()) > 0:
                if until is not None and until(self.notifications):
                    return
                self.sock.settimeout(min(left, 0.2))
                try:
                    chunk = self.sock.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    return
                self._buf += chunk
                while (i := self._buf.find(b"\n")) >= 0:
                    line, self._buf = self._buf[:i].rstrip(b"\r"), self._buf[i + 1:]
                    if line.startswith(NOTIFY):
                        self._notification(line)
        finally:
            self.sock.settimeout(self.timeout)

    def round_trips(self, n: int) -> tuple[list[int], list[int]]:
        """``n`` sequential ``API_TestEx`` round trips: (start times, durations) in ns."""
        sock, pc, line = self.sock, time.perf_counter_ns, self._line
        starts = [0] * n
        rtts = [0] * n
        for i in range(n):
            t0 = pc()
            sock.sendall(COMMAND)
            ans = line()
            t1 = pc()
            if ans != ANSWER:
                raise ApiError(f"API_TestEx answered {ans[:200]!r}, expected {ANSWER!r}")
            starts[i] = t0
            rtts[i] = t1 - t0
        return starts, rtts


# ---- statistics ------------------------------------------------------------------------------
@dataclass
class Stats:
    n: int
    p50_us: float
    p99_us: float
    max_us: float
    mean_us: float
    #: slow samples (> p99) folded on the 20 ms media clock, one per burst (slow samples less
    #: than 1 ms apart count once): mean resultant length (0: evenly spread, 1: all at one
    #: phase; uniform phases give about 1/sqrt(bursts)) and the number of bursts
    phase_r: float
    slow: int

    @classmethod
    def of(cls, starts: Sequence[int], rtts: Sequence[int]) -> "Stats":
        s = sorted(rtts)
        n = len(s)

        def rank(q: float) -> float:
            return s[max(0, math.ceil(q * n) - 1)] / 1000.0
        p99 = s[max(0, math.ceil(0.99 * n) - 1)]
        slow: list[int] = []        # the first slow sample of each burst
        last = -(1 << 62)
        for t, d in sorted(zip(starts, rtts)):
            if d > p99:
                if t - last > 1_000_000:
                    slow.append(t)
                last = t + d
        r = abs(sum(cmath.exp(2j * math.pi * (t % MEDIA_PERIOD_NS) / MEDIA_PERIOD_NS)
                    for t in slow)) / len(slow) if slow else 0.0
        return cls(n, round(rank(0.5), 1), round(rank(0.99), 1), round(s[-1] / 1000.0, 1),
                   round(sum(s) / n / 1000.0, 1), round(r, 2), len(slow))


# ---- processes ------------------------------------------------------------------------------
@dataclass
class Server:
    name: str
    proc: object            # peers.kamailio.ProcessGroup
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid   # type: ignore[attr-defined]

    def stop(self) -> int | None:
        return self.proc.stop(timeout=5.0)   # type: ignore[attr-defined]

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def _last_line(text: str) -> str:
    return next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), "")[:200]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _start(name: str, argv: list[str], ready: re.Pattern[str], workdir: Path,
           timeout: float = 20.0) -> Server:
    from peers.kamailio import ProcessGroup

    log = workdir / f"{name}.log"
    with open(log, "wb") as out:
        proc = ProcessGroup(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=_env())
    srv = Server(name, proc, 0, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            m = ready.search(srv.tail(1 << 20))
            if m:
                srv.port = int(m.group(1))
                return srv
            if not proc.alive():
                raise ApiError(f"{name} exited ({proc.returncode}): {_last_line(srv.tail())}"
                               f"\n{srv.tail()}")
            if time.monotonic() > deadline:
                raise ApiError(f"{name} not ready after {timeout}s: {_last_line(srv.tail())}"
                               f"\n{srv.tail()}")
            time.sleep(0.02)
    except BaseException:
        srv.stop()
        raise


def start_echo_peer(workdir: Path) -> Server:
    return _start("echo", [sys.executable, "-m", "bench.api_rtt", "--serve-echo"],
                  re.compile(r"READY (\d+)"), workdir)


def start_service(workdir: Path, params: dict[str, str], profile: Path | None = None) -> Server:
    argv = [sys.executable]
    if profile is not None:
        argv += ["-m", "cProfile", "-o", str(profile)]
    argv += ["-m", "sipctl", "serve", "--port", "0", "--workdir", str(workdir / "service")]
    for k, v in params.items():
        argv += ["--param", f"{k}={v}"]
    (workdir / "service").mkdir(exist_ok=True)
    return _start("sipctl", argv, LISTENING, workdir)


# ---- one measurement --------------------------------------------------------------------------
@dataclass
class Phase:
    name: str                          # "idle" / "calls"
    sipctl: Stats | None = None
    echo: Stats | None = None
    notifications: int = 0             # received on the measuring connection in the window
    notification_kinds: dict[str, int] = field(default_factory=dict)
    window_s: float = 0.0
    service_cpu: dict[str, float] = field(default_factory=dict)   # % of one core: main, other
    cpu_per_rt_us: dict[str, float] = field(default_factory=dict)  # server -> CPU us/round trip
    held: bool = True                  # the calls were up for the whole window
    info: dict[str, str] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.sipctl is None or self.echo is None or not self.echo.p99_us:
            return None
        return round(self.sipctl.p99_us / self.echo.p99_us, 2)


@dataclass
class Result:
    phases: list[Phase] = field(default_factory=list)
    calls: int = 0
    error: str | None = None          # why the sipctl side could not be measured
    seconds: float = 0.0
    cdrs: list[str] = field(default_factory=list)

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)

    def verdict(self) -> tuple[bool | None, str]:
        """(True: met, False: missed, None: not measured or inconclusive, why). The absolute
        target is judged only on a quiet machine: when the echo peer's own p99 is above half
        of it, other processes set the tail and a p99 over 1 ms is inconclusive (the ratio,
        measured interleaved, is still judged)."""
        ph = self.phase("calls")
        if ph is None or ph.sipctl is None or ph.echo is None:
            return None, "not measured" + (f": {self.error}" if self.error else "")
        if not ph.held:
            return None, "the calls were not up for the whole window"
        ok_abs = ph.sipctl.p99_us <= TARGET_P99_US
        ok_ratio = ph.ratio is not None and ph.ratio <= TARGET_RATIO
        why = (f"p99 {ph.sipctl.p99_us:.0f} us {'<=' if ok_abs else '>'} {TARGET_P99_US:.0f} us, "
               f"ratio {ph.ratio} {'<=' if ok_ratio else '>'} {TARGET_RATIO:g}")
        if not ok_ratio:
            return False, why
        if not ok_abs and ph.echo.p99_us > TARGET_P99_US / 2:
            return None, (f"{why}; inconclusive: the echo peer's own p99 is {ph.echo.p99_us:.0f} "
                          "us, the machine is busy")
        return ok_abs, why

    def as_dict(self) -> dict:
        d = asdict(self)
        for p, ph in zip(d["phases"], self.phases):
            p["ratio"] = ph.ratio
        d["ok"], d["verdict"] = self.verdict()
        return d


def _thread_cpu(pid: int) -> tuple[float, dict[int, float]]:
    return time.monotonic(), thread_cpu_seconds(pid)


def _cpu_split(pid: int, a: tuple[float, dict[int, float]],
               b: tuple[float, dict[int, float]]) -> dict[str, float]:
    """% of one core per thread between two ``_thread_cpu`` reads: the main thread (the
    asyncio loop: tid == pid) and the busiest other thread (the media clock, in sipctl)."""
    wall = b[0] - a[0]
    if wall <= 0:
        return {}
    d = {tid: b[1][tid] - a[1].get(tid, 0.0) for tid in b[1]}
    main = d.pop(pid, 0.0)
    top = max(d.values(), default=0.0)
    return {"main": round(100 * main / wall, 1), "busiest_other": round(100 * top / wall, 1),
            "all_others": round(100 * sum(d.values()) / wall, 1), "threads": len(d) + 1}


def _measure(clients: dict[str, ApiClient], n: int, warmup: int, chunk: int = 1
             ) -> dict[str, Stats]:
    """Warm up every client, then ``n`` round trips each, alternating between the clients
    every ``chunk`` round trips (1: request by request, the order swapped every time), so
    that every server sees the same machine state (other processes, CPU frequency)."""
    for c in clients.values():
        c.round_trips(warmup)
    names = list(clients)
    acc: dict[str, tuple[list[int], list[int]]] = {k: ([], []) for k in names}
    gc_was = gc.isenabled()
    gc.disable()
    try:
        if chunk <= 1:
            pc = time.perf_counter_ns
            cs = [clients[k] for k in names]
            orders = [list(zip(cs, (acc[k] for k in names)))]
            orders.append(orders[0][::-1])
            for i in range(n):
                for c, (starts, rtts) in orders[i & 1]:
                    t0 = pc()
                    c.sock.sendall(COMMAND)
                    ans = c._line()
                    t1 = pc()
                    if ans != ANSWER:
                        raise ApiError(f"API_TestEx answered {ans[:200]!r}, expected {ANSWER!r}")
                    starts.append(t0)
                    rtts.append(t1 - t0)
        else:
            done = r = 0
            while done < n:
                k = min(chunk, n - done)
                for name in (names if r % 2 == 0 else names[::-1]):
                    s, d = clients[name].round_trips(k)
                    acc[name][0].extend(s)
                    acc[name][1].extend(d)
                done += k
                r += 1
    finally:
        if gc_was:
            gc.enable()
    return {k: Stats.of(*v) for k, v in acc.items()}


def _timed(clients: dict[str, ApiClient], pids: dict[str, int], n: int, warmup: int,
           chunk: int) -> tuple[dict[str, Stats], dict[str, float]]:
    """``_measure`` plus each server process's CPU time per round trip (warm-up included)."""
    c0 = {k: cpu_seconds(p) for k, p in pids.items()}
    st = _measure(clients, n, warmup, chunk)
    c1 = {k: cpu_seconds(p) for k, p in pids.items()}
    cpu = {k: round(1e6 * (c1[k] - c0[k]) / (n + warmup), 1) for k in pids
           if c0[k] is not None and c1[k] is not None}
    return st, cpu


def _kinds(notes: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in notes:
        k = s.split(",", 1)[0]
        out[k] = out.get(k, 0) + 1
    return out


def _sipp_rtp_socket(pid: int) -> tuple[int, int] | None:
    """(rx_queue bytes, drops) of the UDP sockets of SIPp process ``pid``: SIPp does not
    read its RTP socket, so what the service sends piles up there, then is dropped."""
    from bench.cpu import udp_sockets

    socks = udp_sockets([pid])
    if not socks:
        return None
    return sum(q for q, _ in socks), sum(d for _, d in socks)


def _count(c: ApiClient) -> int | None:
    ans = c.command("API_GetCurrentConnectedCallCount")
    try:
        return int(ans.strip())
    except ValueError:
        return None


def run(n: int = 5000, calls: int = 4, warmup: int = 500, chunk: int = 50,
        profile: Path | None = None, echo_only: bool = False,
        log: Callable[[str], None] = lambda s: None) -> Result:
    """The whole benchmark (about 10-20 s); see the module docstring."""
    from peers.kamailio import free_port
    from peers.sipp import Sipp

    res = Result(calls=calls)
    t_start = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="sipctl-api-rtt-", dir="/tmp"))
    keep = os.environ.get("SIPCTL_KEEP_PEERS") == "1"
    servers: list[Server] = []
    clients: list[ApiClient] = []
    sipp: Sipp | None = None
    try:
        echo = start_echo_peer(workdir)
        servers.append(echo)
        ec = ApiClient(echo.port)
        clients.append(ec)
        if echo_only:
            st = _measure({"echo": ec}, n, warmup, chunk)
            res.phases.append(Phase("idle", echo=st["echo"]))
            res.error = "echo peer only (--echo-only)"
            return res

        sigport = free_port("127.0.0.1", ("udp", "tcp"))
        params = {"signalingport": str(sigport), "startsipstack": "2", "autoaccept": "true"}
        if calls > 4:     # the reference's default maxlines is 4 (then 486 Busy Here)
            params["maxlines"] = str(calls)
        try:
            svc = start_service(workdir, params, profile)
        except ApiError as e:
            res.error = f"service did not start: {str(e).splitlines()[0]}"
            log(str(e))
            st = _measure({"echo": ec}, n, warmup, chunk)
            res.phases.append(Phase("idle", echo=st["echo"]))
            return res
        servers.append(svc)
        sc = ApiClient(svc.port, timeout=10.0)
        clients.append(sc)
        ans = sc.command("API_TestEx")
        if ans != "42":
            res.error = f"API_TestEx answered {ans[:120]!r}"
            st = _measure({"echo": ec}, n, warmup, chunk)
            res.phases.append(Phase("idle", echo=st["echo"]))
            return res
        started = sc.command("API_Start")
        log(f"API_Start -> {started}")
        from peers.kamailio import port_is_listening
        deadline = time.monotonic() + 10.0
        while not port_is_listening(sigport, "udp"):
            if time.monotonic() > deadline:
                raise ApiError(f"SIP UDP port {sigport} not bound 10 s after API_Start "
                               f"({started!r}):\n{svc.tail()}")
            time.sleep(0.05)

        # idle: stack up, no call
        pids = {"sipctl": svc.pid, "echo": echo.pid}
        sc.drain(0.5)
        n0 = len(sc.notifications)
        c0 = _thread_cpu(svc.pid)
        t0 = time.monotonic()
        st, cpu = _timed({"sipctl": sc, "echo": ec}, pids, n, warmup, chunk)
        idle = Phase("idle", st["sipctl"], st["echo"], window_s=round(time.monotonic() - t0, 2),
                     cpu_per_rt_us=cpu)
        idle.service_cpu = _cpu_split(svc.pid, c0, _thread_cpu(svc.pid))
        idle.notifications = len(sc.notifications) - n0
        idle.notification_kinds = _kinds(sc.notifications[n0:])
        res.phases.append(idle)
        log(f"idle: sipctl {idle.sipctl}  echo {idle.echo}")
        if calls <= 0:
            return res

        # calls: SIPp holds them for the window (sized from the idle timings, x4 headroom)
        per_rt = (idle.sipctl.p50_us + idle.echo.p50_us) * 1e-6
        hold_s = min(120.0, 3.0 + 4 * (n + warmup) * per_rt + 1.0)
        sipp = Sipp()
        proc = sipp.background("uac_pcmu_load", remote=("127.0.0.1", sigport), service="bench",
                               calls=calls, limit=calls, rate=20, duration_ms=int(hold_s * 1000),
                               timeout=hold_s + 30, recv_timeout_ms=10000, stat_period_s=1,
                               trace_messages=False)
        ph = Phase("calls")
        deadline = time.monotonic() + 10.0
        up_api = best = None
        while time.monotonic() < deadline and proc.running:
            up_api = _count(sc)
            if up_api is not None:
                best = max(best or 0, up_api)
            if up_api is not None and up_api >= calls:
                break
            time.sleep(0.1)
        if best is not None and best < calls:
            raise ApiError(f"at most {best} of {calls} calls were up at once (API)\n"
                           f"{proc.result.describe()}\n{svc.tail()}")
        time.sleep(1.2)   # RTP steady, SIPp's stat file written (-fd 1)
        up_sipp = proc.result.counter("CurrentCall")
        up_api = _count(sc)
        if (up_api is not None and up_api < calls) or (up_api is None and up_sipp < calls):
            raise ApiError(f"only {up_api} (API) / {up_sipp} (SIPp) of {calls} calls up\n"
                           f"{proc.result.describe()}\n{svc.tail()}")
        q0 = _sipp_rtp_socket(proc.pid)
        u0 = udp_counters()
        n0 = len(sc.notifications)
        c0 = _thread_cpu(svc.pid)
        t0 = time.monotonic()
        st, ph.cpu_per_rt_us = _timed({"sipctl": sc, "echo": ec}, pids, n, warmup, chunk)
        ph.sipctl, ph.echo = st["sipctl"], st["echo"]
        c1 = _thread_cpu(svc.pid)
        ph.window_s = round(time.monotonic() - t0, 2)
        u1 = udp_counters()
        q1 = _sipp_rtp_socket(proc.pid)
        ph.notifications = len(sc.notifications) - n0
        ph.notification_kinds = _kinds(sc.notifications[n0:])
        ph.service_cpu = _cpu_split(svc.pid, c0, c1)
        up_after = _count(sc)
        left = hold_s - (time.monotonic() - t0) - 1.2
        ph.info["calls up (API before/after, SIPp)"] = f"{up_api}/{up_after}, {up_sipp}"
        ph.info["window left"] = f"{left:.1f} s"
        ph.held = left > 0 and (up_after is None or up_after >= calls)
        udp_in = (u1.get("InDatagrams", 0) - u0.get("InDatagrams", 0)
                  + u1.get("RcvbufErrors", 0) - u0.get("RcvbufErrors", 0))
        ph.info["host UDP in/s"] = f"{udp_in / ph.window_s:.0f} (expect ~{100 * calls})"
        if q0 is not None and q1 is not None:
            ph.info["service->SIPp RTP"] = (f"SIPp socket queue {q1[0]} B, "
                                             f"+{q1[1] - q0[1]} dropped in the window")
        res.phases.append(ph)
        log(f"calls: sipctl {ph.sipctl}  echo {ph.echo}  {ph.info}")
        if not ph.held:
            log("warning: the calls may have ended inside the window (hold too short)")
        # the calls end (SIPp's BYE); their CDRs are shown
        r = proc.wait()
        sc.drain(5.0, until=lambda ns: sum(s.startswith("CDR,") for s in ns) >= calls)
        res.cdrs = [s for s in sc.notifications if s.startswith("CDR,")]
        ph.info["SIPp calls ok/failed"] = f"{r.successful}/{r.failed}"
        return res
    except ApiError as e:
        res.error = str(e).splitlines()[0]
        log(str(e))
        return res
    finally:
        for c in clients:
            c.close()
        if sipp is not None:
            sipp.close()
        for s in servers[::-1]:
            rc = s.stop()
            if s.name == "sipctl" and rc not in (0, None):
                log(f"sipctl exited {rc}:\n{s.tail()}")
        res.seconds = round(time.monotonic() - t_start, 1)
        if keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# ---- presentation ------------------------------------------------------------------------------
HEADERS = ["phase", "server", "N", "p50 us", "p99 us", "max us", "p99 ratio", "notes"]


def rows(res: Result) -> list[list[str]]:
    out: list[list[str]] = []
    for ph in res.phases:
        label = "idle" if ph.name == "idle" else f"{res.calls} calls + RTP"
        for who, st in (("sipctl", ph.sipctl), ("echo peer", ph.echo)):
            if st is None:
                if who == "sipctl":
                    out.append([label, who, "-", "-", "-", "-", "-", res.error or "-"])
                continue
            notes: list[str] = []
            if who == "sipctl":
                ratio = "-" if ph.ratio is None else f"{ph.ratio:.2f}"
                if ph.service_cpu:
                    c = ph.service_cpu
                    notes.append(f"service cpu: main {c['main']:.0f} %, media/other "
                                 f"{c['all_others']:.0f} %")
                notes.append(f"{ph.notifications} notifications in window")
                if "sipctl" in ph.cpu_per_rt_us:
                    notes.append(f"cpu {ph.cpu_per_rt_us['sipctl']:.0f} us/round trip")
                notes += [f"{k}: {v}" for k, v in ph.info.items()]
            else:
                ratio = "1.00"
                if "echo" in ph.cpu_per_rt_us:
                    notes.append(f"cpu {ph.cpu_per_rt_us['echo']:.0f} us/round trip")
            notes.append(f"slow bursts {st.slow}, 20 ms phase_r {st.phase_r:.2f}")
            out.append([label, who, str(st.n), f"{st.p50_us:.1f}", f"{st.p99_us:.1f}",
                        f"{st.max_us:.1f}", ratio, "; ".join(notes)])
    if res.cdrs:
        out.append(["calls end", "sipctl", str(len(res.cdrs)), "-", "-", "-", "-",
                    "CDR: " + " | ".join(res.cdrs[:res.calls])])
    return out


def title(res: Result) -> str:
    ok, why = res.verdict()
    mark = {True: "met", False: "MISSED", None: "not judged"}[ok]
    return (f"API round trip on loopback (API_TestEx -> 42, one connection, sequential; "
            f"target with {res.calls} calls: p99 <= {TARGET_P99_US:.0f} us and <= "
            f"{TARGET_RATIO:g} x echo peer): {mark} ({why})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m bench.api_rtt",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=5000, help="round trips per server and phase")
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--chunk", type=int, default=50,
                    help="round trips per server before switching to the other (default 50)")
    ap.add_argument("--calls", type=int, default=4, help="concurrent PCMU calls (0: idle only)")
    ap.add_argument("--profile", type=Path, help="run the service under cProfile, stats here")
    ap.add_argument("--echo-only", action="store_true", help="the echo peer alone (dry run)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--gate", action="store_true", help="exit 1 when the target is missed")
    ap.add_argument("--serve-echo", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve_echo:
        asyncio.run(_echo_main("127.0.0.1", 0))
        return 0
    log = (lambda s: print(s, file=sys.stderr, flush=True))
    res = run(args.n, args.calls, args.warmup, args.chunk, args.profile, args.echo_only, log)
    if args.json:
        print(json.dumps(res.as_dict()), flush=True)
    else:
        from bench.__main__ import print_report
        print_report(title(res), HEADERS, rows(res))
    if args.profile and args.profile.exists():
        import pstats
        print(f"\ncProfile of the service's main thread ({args.profile}):", file=sys.stderr)
        pstats.Stats(str(args.profile), stream=sys.stderr).sort_stats("tottime").print_stats(25)
    ok, why = res.verdict()
    if not args.gate:
        return 0
    if ok is None:
        print(f"bench.api_rtt gate: not judged ({why})", file=sys.stderr)
        return 0 if res.phase("calls") is not None else 2   # the service failed: 2
    if not ok:
        print(f"bench.api_rtt gate: MISSED ({why})", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
