"""Start and stop ``python3 -m sipctl serve`` as a subprocess for the API tests.

    with ApiService(tmp_path / "svc", params={"jsscriptpoll": 1}) as svc:
        svc.port                     # from "sipctl: API listening on 127.0.0.1:PORT"
        with svc.client() as c: ...
    svc.returncode                   # 0 after SIGTERM ("sipctl: stopped")

The process runs in its own process group (tests/peers ProcessGroup: stopped as a group,
and killed if the test process dies). stdout and stderr are read by threads and kept
(``stdout_text`` / ``stderr_text``) for assertions and failure reports.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import pytest

from api_client import ApiClient
from peers import DEFAULT_USERS, Baresip, Kamailio
from peers.kamailio import ProcessGroup

__all__ = ["ApiService", "ServiceError", "make_service", "run_sipctl", "LISTEN_RE", "kam",
           "bob", "dave"]

REPO = Path(__file__).resolve().parent.parent
LISTEN_RE = re.compile(r"sipctl: API listening on (\S+):(\d+)")


class ServiceError(AssertionError):
    pass


class ApiService:
    """One ``sipctl serve`` process. ``params``: ``--param name=value`` presets;
    ``args``: extra command-line arguments; ``port``: 0 (the service picks);
    ``unbuffered``: set PYTHONUNBUFFERED (off checks the service flushes by itself)."""

    def __init__(self, workdir: os.PathLike[str] | str, *, params: Mapping[str, object] = {},
                 args: Sequence[str] = (), host: str | None = None, port: int = 0,
                 token: str | None = None, allow_remote: bool = False,
                 unbuffered: bool = True, name: str = "svc"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.params = dict(params)
        self.name, self.token = name, token
        argv = [sys.executable, "-m", "sipctl", "serve", "--port", str(port),
                "--workdir", str(self.workdir)]
        if host is not None:
            argv += ["--host", host]
        for k, v in self.params.items():
            argv += ["--param", f"{k}={v}"]
        if allow_remote:
            argv.append("--allow-remote")
        if token is not None:
            argv += ["--token", token]
        self.argv = argv + list(args)
        self.unbuffered = unbuffered
        self.host: str | None = None
        self.port: int | None = None
        self._proc: ProcessGroup | None = None
        self._out: list[str] = []
        self._err: list[str] = []
        self._cv = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._clients: list[ApiClient] = []
        self.started_at = 0.0

    # ---- lifecycle ------------------------------------------------------------------------
    def launch(self) -> "ApiService":
        """Start the process without waiting for it to be ready."""
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        if self.unbuffered:
            env["PYTHONUNBUFFERED"] = "1"
        else:
            env.pop("PYTHONUNBUFFERED", None)
        self.started_at = time.monotonic()
        self._proc = ProcessGroup(self.argv, cwd=self.workdir, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env)
        for stream, sink in ((self._proc.popen.stdout, self._out),
                             (self._proc.popen.stderr, self._err)):
            t = threading.Thread(target=self._pump, args=(stream, sink), daemon=True,
                                 name=f"{self.name}-out")
            t.start()
            self._threads.append(t)
        return self

    def start(self, timeout: float = 20.0) -> "ApiService":
        """Launch and wait for the "API listening on HOST:PORT" line."""
        self.launch()
        m = self.wait_output(LISTEN_RE, timeout)
        if m is None:
            self.stop()
            raise ServiceError(f"{self.name}: no 'sipctl: API listening on' line within "
                               f"{timeout}s\n{self.describe()}")
        self.host, self.port = m.group(1), int(m.group(2))
        return self

    def _pump(self, stream, sink: list[str]) -> None:
        for raw in iter(stream.readline, b""):
            with self._cv:
                sink.append(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
                self._cv.notify_all()
        stream.close()

    def wait_output(self, pattern: re.Pattern | str, timeout: float = 10.0,
                    stream: str = "stdout") -> re.Match | None:
        """The first line of stdout (or "stderr" / "any") matching ``pattern``."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                lines = {"stdout": self._out, "stderr": self._err,
                         "any": self._out + self._err}[stream]
                for line in lines:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (not self.alive() and self._pumps_done()):
                    return None
                self._cv.wait(min(left, 0.1))

    def _pumps_done(self) -> bool:
        return all(not t.is_alive() for t in self._threads)

    @property
    def stdout_text(self) -> str:
        with self._cv:
            return "\n".join(self._out)

    @property
    def stderr_text(self) -> str:
        with self._cv:
            return "\n".join(self._err)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.alive()

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def wait(self, timeout: float = 10.0) -> int | None:
        """Wait for the process to exit by itself; None if it did not within ``timeout``."""
        assert self._proc is not None
        try:
            rc = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self._threads:
            t.join(2.0)
        return rc

    def terminate(self, timeout: float = 10.0) -> int | None:
        """SIGTERM to the service only; returns its exit code (None if still running)."""
        assert self._proc is not None
        if self.alive():
            self._proc.popen.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def stop(self, timeout: float = 10.0) -> int | None:
        """Close our clients, SIGTERM, and SIGKILL the group if it lingers."""
        for c in self._clients:
            c.close()
        self._clients.clear()
        if self._proc is None:
            return None
        rc = self._proc.stop(timeout, sig=signal.SIGTERM)
        for t in self._threads:
            t.join(2.0)
        return rc

    def __enter__(self) -> "ApiService":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- clients --------------------------------------------------------------------------
    def client(self, name: str | None = None, timeout: float = 5.0,
               auth: bool = True) -> ApiClient:
        """A connected ApiClient (sends ``AUTH token`` first when the service has one).
        Closed by ``stop()``."""
        if self.port is None:
            raise ServiceError(f"{self.name} not started")
        c = ApiClient(self.port, timeout=timeout,
                      name=name or f"{self.name}-c{len(self._clients) + 1}")
        self._clients.append(c)
        if self.token is not None and auth:
            a = c.call(f"AUTH {self.token}")
            if a != "OK: authenticated":
                raise ServiceError(f"AUTH answered {a!r}\n{c.transcript()}")
        return c

    # ---- diagnostics ----------------------------------------------------------------------
    def files(self) -> list[Path]:
        return sorted(p for p in self.workdir.rglob("*") if p.is_file())

    def describe(self, lines: int = 40) -> str:
        with self._cv:
            out, err = self._out[-lines:], self._err[-lines:]
        return (f"{self.name}: {' '.join(self.argv)}\n  pid={self.pid} alive={self.alive()} "
                f"rc={self.returncode} port={self.port}\n--- stdout (last {lines}) ---\n"
                + "\n".join(out) + f"\n--- stderr (last {lines}) ---\n" + "\n".join(err))


def run_sipctl(*args: str, timeout: float = 30.0, cwd: os.PathLike[str] | str | None = None
               ) -> subprocess.CompletedProcess:
    """``python3 -m sipctl ARGS`` to completion (stdout/stderr captured as text)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "sipctl", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL)


def _report(request: pytest.FixtureRequest, text: str) -> None:
    from peers import _report as report
    report(request, text)


@pytest.fixture
def make_service(request: pytest.FixtureRequest, tmp_path_factory
                 ) -> Iterator:
    """Factory ``make_service(**ApiService kwargs, start=True) -> ApiService``; every service
    is stopped at teardown, and its output written to the terminal when the test failed."""
    made: list[ApiService] = []
    before = request.session.testsfailed

    def make(start: bool = True, workdir: os.PathLike[str] | str | None = None,
             **kw) -> ApiService:
        wd = workdir if workdir is not None else tmp_path_factory.mktemp("sipctl-serve")
        svc = ApiService(wd, **kw)
        made.append(svc)
        return svc.start() if start else svc.launch()

    try:
        yield make
    finally:
        failed = request.session.testsfailed > before
        for svc in made:
            svc.stop()
            if failed:
                _report(request, f"\n[{request.node.nodeid}] {svc.describe()}")


def module_service(request: pytest.FixtureRequest, tmp_path_factory, **kw) -> ApiService:
    """A started service stopped when the requesting (module-scoped) fixture is finalised;
    its output is reported if any test of the module failed."""
    before = request.session.testsfailed
    svc = ApiService(tmp_path_factory.mktemp("sipctl-serve"), **kw)

    def fin() -> None:
        svc.stop()
        if request.session.testsfailed > before:
            _report(request, f"\n[{request.node.nodeid}] {svc.describe()}")
    request.addfinalizer(fin)
    return svc.start()


# ---- helpers shared by the API test modules ------------------------------------------------

def registered_contacts(kam, user: str) -> set[str]:
    """Contacts Kamailio holds for ``user`` (its location table, ``ul.dump``)."""
    return {contact for aor, contact, _ in kam.registrations() if aor == user}


def wait_new_contacts(kam, user: str, before: set[str], timeout: float = 5.0) -> set[str]:
    """Contacts of ``user`` that were not in ``before``; waits until there is one."""
    deadline = time.monotonic() + timeout
    while True:
        new = registered_contacts(kam, user) - before
        if new or time.monotonic() > deadline:
            return new
        time.sleep(0.1)


def wait_contacts_gone(kam, user: str, contacts: set[str], timeout: float = 5.0) -> set[str]:
    """Waits until none of ``contacts`` is registered for ``user``; returns those left."""
    deadline = time.monotonic() + timeout
    while True:
        left = registered_contacts(kam, user) & contacts
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def check_cdr(n, *, line: str | None, peer: str, caller: str, called: str, disparty: str,
              min_duration_ms: int = 1) -> dict:
    """Check a ``CDR,line,peername,caller,called,peeraddress,connecttime,duration,disparty,
    reason`` notification; ``caller``/``called`` are substrings ("alice" in "sip:alice@..")
    except our own user name which the reference gives as the user name itself."""
    f = n.fields
    assert f[0] == "CDR" and len(f) >= 10, f"CDR needs 9 fields + reason: {n.body!r}"
    d = dict(zip(("line", "peername", "caller", "called", "peeraddress", "connecttime",
                  "duration", "disparty", "reason"), f[1:10]))
    if line is not None:
        assert d["line"] == str(line), f"CDR line {d['line']!r} != {line!r}: {n.body!r}"
    assert peer in d["peername"], f"CDR peername {d['peername']!r}: {n.body!r}"
    assert caller in d["caller"], f"CDR caller {d['caller']!r} (expected {caller}): {n.body!r}"
    assert called in d["called"], f"CDR called {d['called']!r} (expected {called}): {n.body!r}"
    assert d["peeraddress"], f"CDR peeraddress empty: {n.body!r}"
    assert d["connecttime"].isdigit(), f"CDR connecttime not ms: {n.body!r}"
    assert d["duration"].isdigit() and int(d["duration"]) >= min_duration_ms, \
        f"CDR duration {d['duration']!r} (expected >= {min_duration_ms} ms): {n.body!r}"
    assert d["disparty"] == disparty, f"CDR disparty {d['disparty']!r} != {disparty}: {n.body!r}"
    assert d["reason"], f"CDR reason empty: {n.body!r}"
    return d


# ---- peers shared by the API tests (module-scoped: one set per test module) ------------------

@pytest.fixture(scope="module")
def kam(request: pytest.FixtureRequest) -> Kamailio:
    """Kamailio registrar/proxy with the default users."""
    k = Kamailio(users=DEFAULT_USERS)
    request.addfinalizer(k.close)
    return k.start()


@pytest.fixture(scope="module")
def bob(request: pytest.FixtureRequest, kam: Kamailio) -> Baresip:
    """baresip registered at Kamailio as bob, auto-answering."""
    b = Baresip("bob", password=DEFAULT_USERS["bob"], registrar=kam.addr(), auto_answer=True)
    request.addfinalizer(b.close)
    b.start()
    assert b.wait_registered(10), b.reginfo()
    return b


@pytest.fixture(scope="module")
def dave(request: pytest.FixtureRequest) -> Baresip:
    """baresip without a registrar (direct URI calls), auto-answering."""
    b = Baresip("dave", auto_answer=True)
    request.addfinalizer(b.close)
    return b.start()
