"""SIPp (3.6.1, Debian ``sip-tester``) as a scripted UAC or UAS on loopback, for interop tests.

    sipp = Sipp()
    r = sipp.uac("uac_register_auth", kam.udp_addr, service="alice", auth=("alice", "secret"))
    assert r.returncode == 0, r.describe()

    with sipp.background("uas_200") as uas:        # a UAS our stack then talks to
        ... send to uas.addr / uas.uri() ...
    uas.result.messages()                          # what it saw, with timestamps

Scenarios are looked up in ``tests/peers/scenarios/`` (name with or without ``.xml``) unless a
path is given. Every run gets its own directory with the ``-trace_msg`` (``message_log``),
``-trace_stat`` (``stat_file``), ``-trace_err`` (``error_log``), ``-trace_logs``
(``actions_log``) files and sipp's stdout/stderr; sipp never holds the caller's stdout.
Each run is bounded by ``-m`` (calls) and ``-timeout`` (with ``-timeout_error``), and by a
hard kill a few seconds later.

Media: scenarios that ``rtp_stream`` a file name it without a path (``tone.ulaw``): rtp_stream
takes no ``-key``/``-set`` values, so the file is written into the run directory (sipp's cwd)
at start: ``files={"name": bytes}``, and ``tone.ulaw`` (a 440 Hz headerless mu-law tone, see
``ulaw_tone``) automatically when a scenario streams it. SIPp 3.6.1 streams from its ``-mp``
port, the ``[media_port]`` of its SDP, so a peer that latches symmetric RTP answers there;
``SippProcess.media_port`` / ``SippResult.media_port`` give it.

    with sipp.many("uac_noraudio_load", 3, remote=uas_addr, rate=900, calls=4500) as group:
        results = group.wait()                     # 3 processes, 300 calls/s each
    SippGroup.totals(results)                      # summed stat-file counters

Notes (PEERS-NOTES.md): this SIPp build has no TLS; a variable assigned but never used makes
sipp abort (the auth scenarios "use" theirs in a ``<log>`` action).
Exit codes: 0 all calls succeeded, 1 some call failed, 97 internal exit, 99 no call processed,
255 fatal error (-2 -> 254: could not bind).
"""
from __future__ import annotations

import datetime
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from .kamailio import ProcessGroup, _can_bind, free_port, port_is_listening

__all__ = ["Sipp", "SippProcess", "SippResult", "SippGroup", "TracedMessage", "SCENARIOS",
           "SippError", "ulaw_tone"]

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
TONE_FILE = "tone.ulaw"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
_TRANSPORTS = {"udp": "u1", "tcp": "t1"}


class SippError(RuntimeError):
    pass


def ulaw_tone(seconds: float = 2.0, freq: float = 440.0, level: float = 0.25,
              rate: int = 8000) -> bytes:
    """A headerless mu-law (G.711 PCMU) sine tone for ``rtp_stream`` (160 bytes = 20 ms).

    ``seconds`` is rounded to whole 20 ms packets; the tone has a whole number of periods per
    file when ``freq * seconds`` is an integer, so looping it does not click."""
    import numpy as np

    n = max(160, int(round(seconds * 50)) * 160 * rate // 8000)
    t = np.arange(n) / rate
    pcm = np.round(level * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    try:
        from _media import g711
        return bytes(g711.ulaw_encode(pcm))
    except ImportError:  # not built: the G.711 formula (same codes as audioop.lin2ulaw)
        x = pcm.astype(np.int32) >> 2            # 14-bit, floor (as audioop)
        mask = np.where(x < 0, 0x7F, 0xFF)
        mag = np.minimum(np.abs(x), 8158) + 33    # clip, bias
        exp = np.floor(np.log2(mag)).astype(np.int32) - 5
        mant = (mag >> (exp + 1)) & 0x0F
        return (((exp << 4) | mant) ^ mask).astype(np.uint8).tobytes()


@dataclass(frozen=True)
class TracedMessage:
    """One message from a ``-trace_msg`` file."""

    time: float          # seconds since the epoch (sipp writes local wall-clock time, in us)
    direction: str       # "received" or "sent"
    transport: str       # "UDP" / "TCP"
    text: str            # the SIP message

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def is_request(self) -> bool:
        return not self.first_line.startswith("SIP/2.0")

    @property
    def method(self) -> str | None:
        """Request method, or for a response the CSeq method."""
        if self.is_request:
            return self.first_line.split(" ", 1)[0]
        m = re.search(r"(?im)^CSeq\s*:\s*\d+\s+(\S+)", self.text)
        return m.group(1) if m else None

    @property
    def status(self) -> int | None:
        return None if self.is_request else int(self.first_line.split()[1])

    def header(self, name: str) -> str | None:
        m = re.search(rf"(?im)^{re.escape(name)}\s*:\s*(.*?)\s*$", self.text)
        return m.group(1) if m else None


_TRACE_SEP = re.compile(
    r"^-{20,} (\d{4}-\d\d-\d\d[ \t]\d\d:\d\d:\d\d\.\d+)[^\n]*\n"
    r"(\w+) message (received|sent)[^\n]*\n", re.M)


def parse_message_log(text: str) -> list[TracedMessage]:
    """Parse sipp's ``-trace_msg`` format into messages (in file order)."""
    out: list[TracedMessage] = []
    matches = list(_TRACE_SEP.finditer(text))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        stamp = datetime.datetime.strptime(m.group(1).replace("\t", " "),
                                           "%Y-%m-%d %H:%M:%S.%f")
        body = text[m.end():end].strip("\r\n")
        out.append(TracedMessage(stamp.timestamp(), m.group(3), m.group(2), body + "\n"))
    return out


@dataclass(repr=False)
class SippResult:
    """What one sipp run left behind."""

    returncode: int | None     # None: still running / could not be reaped
    cmd: list[str]
    rundir: Path
    local_addr: tuple[str, int]  # sipp's SIP socket (-i, -p): its Contact/Via address
    transport: str               # "udp" / "tcp"
    media_port: int = 0          # -mp: sipp's RTP port (in its SDP, source of rtp_stream)
    timed_out: bool = False      # hit the hard (Python-side) deadline and was killed
    stdout_path: Path = field(init=False)
    stderr_path: Path = field(init=False)
    message_log: Path = field(init=False)   # -trace_msg
    stat_file: Path = field(init=False)     # -trace_stat (CSV)
    error_log: Path = field(init=False)     # -trace_err
    actions_log: Path = field(init=False)   # -trace_logs (<log> actions)

    def __post_init__(self) -> None:
        for name, fname in _FILES.items():
            setattr(self, name, self.rundir / fname)

    def __repr__(self) -> str:
        return (f"<SippResult exit={self.returncode} timed_out={self.timed_out} "
                f"rundir={self.rundir}>")

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def stdout(self) -> str:
        return _read(self.stdout_path)

    @property
    def stderr(self) -> str:
        return _read(self.stderr_path)

    def messages(self) -> list[TracedMessage]:
        return parse_message_log(_read(self.message_log))

    def received(self, method: str | None = None) -> list[TracedMessage]:
        """Received messages (requests of ``method`` only, if given)."""
        return [m for m in self.messages() if m.direction == "received"
                and (method is None or (m.is_request and m.method == method))]

    def stats(self) -> dict[str, str]:
        """The last row of the ``-trace_stat`` CSV (sipp writes it again at exit), by column
        name, e.g. ``SuccessfulCall(C)``, ``FailedCall(C)``, ``OutgoingCall(C)``,
        ``ResponseTime1(C)``; {} if sipp wrote none."""
        rows = [r for r in _read(self.stat_file).splitlines() if r.strip()]
        if len(rows) < 2:
            return {}
        head = rows[0].rstrip(";").split(";")
        return dict(zip(head, rows[-1].rstrip(";").split(";")))

    def counter(self, name: str) -> int:
        """An integer stat column, e.g. ``counter("SuccessfulCall(C)")`` (0 if missing)."""
        try:
            return int(self.stats().get(name, "0") or 0)
        except ValueError:
            return 0

    @property
    def successful(self) -> int:
        return self.counter("SuccessfulCall(C)")

    @property
    def failed(self) -> int:
        return self.counter("FailedCall(C)")

    @property
    def created(self) -> int:
        return self.counter("TotalCallCreated")

    def describe(self, lines: int = 40) -> str:
        def tail(p: Path) -> str:
            return "\n".join(_read(p).splitlines()[-lines:])
        return (f"sipp exit={self.returncode} timed_out={self.timed_out}\n"
                f"cmd: {' '.join(self.cmd)}\nrundir: {self.rundir}\n"
                f"--- stderr ---\n{tail(self.stderr_path)}\n"
                f"--- errors ---\n{tail(self.error_log)}\n"
                f"--- messages (tail) ---\n{tail(self.message_log)}")


_FILES = {
    "stdout_path": "stdout.txt", "stderr_path": "stderr.txt", "message_log": "messages.log",
    "stat_file": "stat.csv", "error_log": "errors.log", "actions_log": "actions.log",
}


def _read(p: Path) -> str:
    try:
        return p.read_text(errors="replace")
    except OSError:
        return ""


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class SippProcess:
    """A sipp running in the background (a context manager); ``result`` once finished."""

    def __init__(self, proc: ProcessGroup, result: SippResult, host: str, port: int,
                 transport: str, deadline: float):
        self._proc = proc
        self.result = result
        self.host, self.port, self.transport = host, port, transport
        self._deadline = deadline

    @property
    def addr(self) -> tuple[str, int]:
        return (self.host, self.port)

    def uri(self, user: str = "sipp") -> str:
        t = "" if self.transport == "udp" else f";transport={self.transport}"
        return f"sip:{user}@{_hostport(self.host, self.port)}{t}"

    @property
    def media_port(self) -> int:
        """sipp's -mp port: the ``[media_port]`` in its SDP and the source of its RTP."""
        return self.result.media_port

    @property
    def running(self) -> bool:
        return self._proc.alive()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def wait_ready(self, timeout: float = 5.0) -> None:
        """Until sipp's SIP socket is bound (udp) / listening (tcp), read from /proc/net."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise SippError(f"sipp exited during startup\n{self._finish().describe()}")
            if port_is_listening(self.port, "tcp" if self.transport == "tcp" else "udp"):
                return
            time.sleep(0.02)
        self.stop()
        raise SippError(f"sipp did not bind {self.port} in {timeout}s\n{self.result.describe()}")

    def wait(self, timeout: float | None = None) -> SippResult:
        """Wait for sipp to end by itself (-m / -timeout); kill it at the hard deadline."""
        deadline = self._deadline if timeout is None else time.monotonic() + timeout
        try:
            self._proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.result.timed_out = True
            self._proc.stop(timeout=2.0)
        return self._finish()

    def stop(self, grace: float = 1.0) -> SippResult:
        """Soft exit (SIGUSR1: no new calls, end when calls end), then TERM/KILL after grace."""
        if self.running:
            try:
                self._proc.popen.send_signal(signal.SIGUSR1)
            except ProcessLookupError:
                pass
            try:
                self._proc.wait(grace)
            except subprocess.TimeoutExpired:
                self._proc.stop(timeout=grace)
        return self._finish()

    def _finish(self) -> SippResult:
        if self.running:
            self._proc.kill()
        self.result.returncode = self._proc.returncode
        return self.result

    def __enter__(self) -> "SippProcess":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()
        if exc_type is not None:
            print(self.result.describe())


class Sipp:
    """Runs sipp with scenarios from ``tests/peers/scenarios`` on loopback, each run in its own
    directory under ``workdir`` (a temp dir, removed by ``close()`` unless keep_files or
    ``SIPCTL_KEEP_PEERS=1``)."""

    def __init__(self, workdir: os.PathLike[str] | str | None = None, host: str = "127.0.0.1",
                 keep_files: bool | None = None):
        self.host = host
        self._own_dir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(
            tempfile.mkdtemp(prefix="sipctl-sipp-", dir="/tmp"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.keep_files = (os.environ.get("SIPCTL_KEEP_PEERS") == "1"
                           if keep_files is None else keep_files)
        self._runs = 0
        self._live: list[SippProcess] = []

    # ---- public API -----------------------------------------------------------------------
    def uac(self, scenario: str | os.PathLike[str], remote: tuple[str, int] | str,
            **kw) -> SippResult:
        """Run a UAC scenario against ``remote`` ((host, port) or "host:port"); block; return."""
        proc = self.background(scenario, remote=remote, wait_ready=False, **kw)
        return proc.wait()

    def uas(self, scenario: str | os.PathLike[str], **kw) -> SippResult:
        """Run a UAS scenario in the foreground until -m calls or -timeout; return."""
        proc = self.background(scenario, wait_ready=False, **kw)
        return proc.wait()

    def background(self, scenario: str | os.PathLike[str], *,
                   remote: tuple[str, int] | str | None = None, transport: str = "udp",
                   port: int | None = None, calls: int = 1, timeout: float = 10.0,
                   service: str | None = None, auth: tuple[str, str] | None = None,
                   keys: Mapping[str, str] | None = None,
                   variables: Mapping[str, str] | None = None,
                   duration_ms: int | None = None, rate: float | None = None,
                   limit: int | None = None, media_port: int | None = None,
                   rtp_echo: bool = False, recv_timeout_ms: int | None = None,
                   files: Mapping[str, bytes | os.PathLike[str] | str] | None = None,
                   stat_period_s: int | None = None, trace_messages: bool = True,
                   extra_args: Sequence[str] = (), wait_ready: bool = True) -> SippProcess:
        """Start sipp and return at once (after its socket is bound, if wait_ready).

        remote: target for a UAC (None for a UAS). transport: "udp" or "tcp" (no TLS here).
        calls: -m. timeout: -timeout seconds (sipp fails with -timeout_error when reached).
        service: -s (R-URI user). auth: (-au, -ap). keys: -key k v (``[k]`` in scenarios).
        variables: -set k v (``[$k]``). duration_ms: -d (length of ``<pause/>``).
        rate: -r calls/s. limit: -l (max simultaneous calls). media_port: -mp (default: a free
        port with the next 3 free too). rtp_echo: -rtp_echo (echo RTP back from -mp / -mp+2).
        recv_timeout_ms: -recv_timeout (a call waiting longer in a ``<recv>`` fails).
        files: written into the run directory (sipp's cwd) before start, name -> bytes or a
        path to copy; ``tone.ulaw`` is made by ``ulaw_tone()`` when the scenario streams it
        and it is not given. stat_period_s: -fd (stat file rows; the final row is always
        written at exit). trace_messages=False: no -trace_msg file (load runs: logging
        every message costs sipp more than the calls do); ``messages()`` is then empty.
        """
        transport = transport.lower()
        if transport not in _TRANSPORTS:
            raise SippError(f"transport {transport!r} not supported by this sipp (udp, tcp)")
        path = self.scenario_path(scenario)
        self._runs += 1
        rundir = self.workdir / f"{self._runs:03d}-{path.stem}"
        rundir.mkdir()
        self._write_files(path, rundir, files)
        kinds = ("udp", "tcp") if transport == "tcp" else ("udp",)
        port = port or free_port(self.host, kinds)
        media_port = media_port or self._media_port(avoid=port)
        argv = [SIPP]
        if remote is not None:
            argv.append(remote if isinstance(remote, str) else _hostport(*remote))
        argv += [
            "-sf", str(path), "-i", self.host, "-p", str(port), "-t", _TRANSPORTS[transport],
            "-m", str(calls), "-timeout", f"{max(1, int(round(timeout)))}s", "-timeout_error",
            "-nostdin", "-cp", str(free_port("0.0.0.0", ("udp",), avoid=(port,))),
            "-mp", str(media_port),
            "-trace_stat", "-stf", str(rundir / _FILES["stat_file"]),
            "-trace_err", "-error_file", str(rundir / _FILES["error_log"]),
            "-trace_logs", "-log_file", str(rundir / _FILES["actions_log"]),
        ]
        if trace_messages:
            argv += ["-trace_msg", "-message_file", str(rundir / _FILES["message_log"])]
        if service is not None:
            argv += ["-s", service]
        if auth is not None:
            argv += ["-au", auth[0], "-ap", auth[1]]
        for k, v in (keys or {}).items():
            argv += ["-key", k, str(v)]
        for k, v in (variables or {}).items():
            argv += ["-set", k, str(v)]
        if duration_ms is not None:
            argv += ["-d", str(int(duration_ms))]
        if rate is not None:
            argv += ["-r", f"{rate:g}"]
        if limit is not None:
            argv += ["-l", str(int(limit))]
        if rtp_echo:
            argv.append("-rtp_echo")
        if recv_timeout_ms is not None:
            argv += ["-recv_timeout", str(int(recv_timeout_ms))]
        if stat_period_s is not None:
            argv += ["-fd", str(int(stat_period_s))]
        argv += list(extra_args)
        result = SippResult(None, argv, rundir, (self.host, port), transport, media_port)
        with open(result.stdout_path, "wb") as out, open(result.stderr_path, "wb") as err:
            proc = ProcessGroup(argv, cwd=rundir, stdout=out, stderr=err,
                                death_signal=signal.SIGKILL)
        sp = SippProcess(proc, result, self.host, port, transport,
                         deadline=time.monotonic() + timeout + 5.0)
        self._live.append(sp)
        if wait_ready:
            sp.wait_ready()
        return sp

    def many(self, scenario: str | os.PathLike[str], processes: int, *,
             rate: float | None = None, calls: int = 1, limit: int | None = None,
             services: Sequence[str] | None = None, **kw) -> "SippGroup":
        """``processes`` sipp runs of one scenario side by side (one sipp saturates around
        1,000 calls/s): ``rate``, ``calls`` and ``limit`` are totals, split evenly (the first
        processes take the remainder of ``calls``). Other arguments as ``background``; each
        process gets its own SIP and media ports; ``services``: -s per process (round robin),
        e.g. to spread calls over several accounts of the target. Returns a started
        ``SippGroup``."""
        if processes < 1:
            raise ValueError("processes must be >= 1")
        group = SippGroup([])
        try:
            for i in range(processes):
                n = calls // processes + (1 if i < calls % processes else 0)
                if services:
                    kw["service"] = services[i % len(services)]
                group.procs.append(self.background(
                    scenario, calls=max(n, 1),
                    rate=None if rate is None else rate / processes,
                    limit=None if limit is None else max(1, -(-limit // processes)), **kw))
        except BaseException:
            group.stop()
            raise
        return group

    @staticmethod
    def scenario_path(scenario: str | os.PathLike[str]) -> Path:
        p = Path(scenario)
        if not p.suffix:
            p = p.with_suffix(".xml")
        if not p.is_absolute() and not p.exists():
            p = SCENARIOS / p
        if not p.exists():
            raise SippError(f"no scenario {scenario!r} (looked in {SCENARIOS})")
        return p.resolve()

    def close(self) -> None:
        """Stop every background sipp and remove the work dir (unless keep_files)."""
        for sp in self._live:
            if sp.running:
                sp.stop(grace=1.0)
        self._live.clear()
        if self._own_dir and not self.keep_files:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Sipp":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.keep_files = True
        self.close()

    # ---- internals --------------------------------------------------------------------------
    @staticmethod
    def _write_files(scenario: Path, rundir: Path,
                     files: Mapping[str, bytes | os.PathLike[str] | str] | None) -> None:
        files = dict(files or {})
        if TONE_FILE not in files and f'rtp_stream="{TONE_FILE}' in scenario.read_text(
                errors="replace"):
            files[TONE_FILE] = ulaw_tone()
        for name, data in files.items():
            if Path(name).name != name:
                raise SippError(f"file name {name!r}: no directories (sipp's cwd is the rundir)")
            if isinstance(data, (bytes, bytearray, memoryview)):
                (rundir / name).write_bytes(bytes(data))
            else:
                shutil.copyfile(data, rundir / name)

    def _media_port(self, avoid: int) -> int:
        # sipp binds -mp (audio) and -mp+2 (video) at start, whether the scenario has media
        for _ in range(100):
            p = free_port(self.host, ("udp",), avoid=(avoid, avoid - 2))
            if p + 3 < 65536 and all(_can_bind(self.host, q, "udp") for q in (p + 1, p + 2, p + 3)):
                return p
        raise SippError("no free media port range")


class SippGroup:
    """Several background sipp processes run as one (``Sipp.many``); a context manager that
    stops every one of them on exit."""

    def __init__(self, procs: list[SippProcess]):
        self.procs = procs

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    @property
    def running(self) -> bool:
        return any(p.running for p in self.procs)

    def wait(self, timeout: float | None = None) -> list[SippResult]:
        """Wait for all (each to its own hard deadline, or ``timeout`` overall)."""
        end = None if timeout is None else time.monotonic() + timeout
        return [p.wait(None if end is None else max(0.0, end - time.monotonic()))
                for p in self.procs]

    def stop(self, grace: float = 1.0) -> list[SippResult]:
        for p in self.procs:   # ask all first, so they wind down in parallel
            if p.running:
                try:
                    p._proc.popen.send_signal(signal.SIGUSR1)
                except ProcessLookupError:
                    pass
        return [p.stop(grace) for p in self.procs]

    def kill(self) -> list[SippResult]:
        return [p._finish() for p in self.procs]

    @staticmethod
    def totals(results: Sequence[SippResult]) -> dict[str, int]:
        """Summed counters: created, successful, failed (from each run's final stat row)."""
        return {"created": sum(r.created for r in results),
                "successful": sum(r.successful for r in results),
                "failed": sum(r.failed for r in results)}

    def __enter__(self) -> "SippGroup":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()
