"""CPU use of other processes, read from /proc (Linux), for the load benchmarks.

    meter = CpuMeter([target.pid, *sipp_pids])      # each pid counts with its descendants
    meter.start(); time.sleep(5); usage = meter.stop()
    usage.percent(target.pid)                      # % of one core over the window

A process's ``utime + stime`` in ``/proc/<pid>/stat`` already sums all its threads, the live
ones and those that have exited, so one read per process covers a multi-threaded target
(baresip's per-call audio threads, an asyncio loop plus its executor threads).
Processes forked by a target (``descendants``) are added to it at ``start()``; one that
appears later is not counted, one that exits inside the window is counted up to its last
read. Only counters are read: no signals, no ptrace.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

__all__ = ["CLK_TCK", "cpu_seconds", "thread_cpu_seconds", "descendants", "CpuMeter",
           "CpuUsage", "udp_counters", "udp_socket_drops", "cpu_count"]

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(path: str) -> list[str] | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: split after its last ')'
    return text.rsplit(")", 1)[-1].split()


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of ``pid`` (all its threads), in seconds; None if it is gone."""
    f = _stat_fields(f"/proc/{pid}/stat")
    if f is None or len(f) < 13:
        return None
    # fields after the name: state(0) ppid(1) ... utime(11) stime(12)  [proc(5) 14, 15]
    return (int(f[11]) + int(f[12])) / CLK_TCK


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """utime + stime per live thread of ``pid`` (tid -> seconds): where the time goes."""
    out: dict[int, float] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        f = _stat_fields(f"/proc/{pid}/task/{tid}/stat")
        if f is not None and len(f) >= 13:
            out[int(tid)] = (int(f[11]) + int(f[12])) / CLK_TCK
    return out


def descendants(pid: int) -> list[int]:
    """Live descendants of ``pid`` (children, grandchildren, ...), from /proc ppid links."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        f = _stat_fields(f"/proc/{d}/stat")
        if f is not None and len(f) > 1 and f[0] != "Z":
            children.setdefault(int(f[1]), []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def udp_counters() -> dict[str, int]:
    """The ``Udp:`` counters of /proc/net/snmp (this network namespace): InDatagrams,
    OutDatagrams, RcvbufErrors (datagrams dropped on a full socket buffer), ..."""
    lines = [ln.split() for ln in Path("/proc/net/snmp").read_text().splitlines()
             if ln.startswith("Udp:")]
    if len(lines) < 2:
        return {}
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:])}


def _socket_inodes(pid: int) -> set[int]:
    out: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(int(link[8:-1]))
    return out


def udp_sockets(pids: Iterable[int]) -> list[tuple[int, int]]:
    """(receive queue bytes, datagrams dropped so far) of each UDP socket the processes
    ``pids`` hold open, from /proc/net/udp{,6} (drops: full receive buffer)."""
    inodes: set[int] = set()
    for p in pids:
        inodes |= _socket_inodes(p)
    out: list[tuple[int, int]] = []
    for name in ("udp", "udp6"):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 12 and int(f[9]) in inodes:
                out.append((int(f[4].split(":")[1], 16), int(f[12])))
    return out


def udp_socket_drops(pids: Iterable[int]) -> tuple[int, int]:
    """(UDP sockets, datagrams dropped on them so far) for the sockets ``pids`` hold."""
    socks = udp_sockets(pids)
    return len(socks), sum(d for _, d in socks)


@dataclass
class CpuUsage:
    """CPU seconds used by each watched pid (with its descendants) over ``wall`` seconds."""

    wall: float
    seconds: dict[int, float] = field(default_factory=dict)

    def percent(self, pid: int) -> float:
        """Percent of one core (100 = one core busy for the whole window)."""
        return 100.0 * self.seconds.get(pid, 0.0) / self.wall if self.wall > 0 else 0.0

    def total_percent(self, pids: Iterable[int]) -> float:
        return sum(self.percent(p) for p in pids)


class CpuMeter:
    """CPU time of some processes between ``start()`` and ``stop()``."""

    def __init__(self, pids: Iterable[int], with_descendants: bool = True):
        self.pids = list(pids)
        self.with_descendants = with_descendants
        self._members: dict[int, list[int]] = {}
        self._t0 = 0.0
        self._c0: dict[int, float] = {}
        self._last: dict[int, float] = {}

    def _read(self) -> dict[int, float]:
        now: dict[int, float] = {}
        for members in self._members.values():
            for p in members:
                s = cpu_seconds(p)
                if s is not None:
                    now[p] = s
                elif p in self._last:      # exited inside the window: keep its last read
                    now[p] = self._last[p]
        self._last.update(now)
        return now

    def start(self) -> "CpuMeter":
        self._members = {p: [p, *(descendants(p) if self.with_descendants else [])]
                         for p in self.pids}
        self._last = {}
        self._c0 = self._read()
        self._t0 = time.monotonic()
        return self

    def stop(self) -> CpuUsage:
        c1 = self._read()
        wall = time.monotonic() - self._t0
        usage = CpuUsage(wall)
        for pid, members in self._members.items():
            usage.seconds[pid] = sum(c1.get(m, 0.0) - self._c0.get(m, c1.get(m, 0.0))
                                     for m in members)
        return usage

    def measure(self, seconds: float) -> CpuUsage:
        self.start()
        time.sleep(seconds)
        return self.stop()
