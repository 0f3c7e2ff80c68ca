"""The API service process (``sipctl serve``): a :class:`~sipctl.Phone` served over the
TCP API (:class:`~sipctl.api.server.ApiServer`) until SIGTERM/SIGINT or ``API_Exit``.

Shutdown is clean: calls are hung up (BYE/CANCEL), registrations removed, the
configuration saved (per ``autocfgsave``), then the process exits 0.

Logging follows the parameters: ``loglevel`` (0-1 warnings, 2-3 info, 4+ debug),
``logtoconsole`` (to stderr), ``canlogtofile`` (``sipctl.log`` in the work directory when
``loglevel`` >= 2); with ``jsscriptevent`` 3 the records also go to the clients as
``LOG`` notifications.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import logging.handlers
import os
import signal
import sys
from pathlib import Path
from typing import Mapping

from sipctl.phone import Phone
from sipctl.phone_events import LogLine

__all__ = ["serve", "default_workdir", "is_loopback"]

log = logging.getLogger("sipctl.service")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_workdir() -> Path:
    """``$XDG_DATA_HOME/sipctl`` (default ``~/.local/share/sipctl``)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "sipctl"


class _NotifyHandler(logging.Handler):
    """Log records -> ``LOG`` notifications (``jsscriptevent`` 3)."""

    def __init__(self, phone: Phone, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.INFO)
        self.phone, self.loop = phone, loop
        self._busy = False

    def emit(self, record: logging.LogRecord) -> None:
        if self._busy or self.phone.params.get("jsscriptevent") < 3:
            return
        kind = "ERROR" if record.levelno >= logging.ERROR else \
            "WARNING" if record.levelno >= logging.WARNING else "EVENT"
        ev = LogLine(kind, f"{record.name}: {record.getMessage()}")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self._busy = True       # a listener that logs must not loop back here
            try:
                self.phone.emit(ev)
            finally:
                self._busy = False
        else:
            self.loop.call_soon_threadsafe(self.phone.emit, ev)


def _configure_logging(phone: Phone, workdir: Path) -> None:
    level = int(phone.params.get("loglevel"))
    py_level = logging.WARNING if level <= 1 else logging.INFO if level <= 3 else logging.DEBUG
    root = logging.getLogger("sipctl")
    root.setLevel(py_level)
    root.propagate = False
    for h in list(root.handlers):
        if not isinstance(h, _NotifyHandler):
            root.removeHandler(h)
    fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    console = logging.StreamHandler(sys.stderr)
    # warnings always reach the console; everything per logtoconsole
    console.setLevel(py_level if phone.params.get("logtoconsole") else logging.WARNING)
    console.setFormatter(fmt)
    root.addHandler(console)
    # autocfgsave -1/-2: no file writes at all
    if phone.params.get("canlogtofile") and level >= 2 and phone.params.get("autocfgsave") >= 0:
        try:
            workdir.mkdir(parents=True, exist_ok=True)
            path = workdir / "sipctl.log"
            os.close(os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600))
            os.chmod(path, 0o600)       # logs may carry SIP messages (users, call data)
            fh = logging.handlers.RotatingFileHandler(path, maxBytes=10_000_000, backupCount=3)
            fh.setFormatter(fmt)
            root.addHandler(fh)
        except OSError as e:
            log.warning("cannot write the log file in %s: %s", workdir, e)


async def _serve(host: str, port: int, workdir: Path, params: Mapping[str, str],
                 token: str | None) -> int:
    from sipctl.api.server import ApiServer
    loop = asyncio.get_running_loop()
    phone = Phone(params, workdir=workdir)
    _configure_logging(phone, workdir)
    logging.getLogger("sipctl").addHandler(_NotifyHandler(phone, loop))
    phone.param_listeners.append(lambda names: _on_params(phone, workdir, names))
    server = ApiServer(phone, host, port, token=token)
    try:
        await server.start()
    except OSError as e:
        print(f"sipctl: cannot listen on {host}:{port}: {e.strerror or e}", flush=True)
        return 1
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"sipctl: API listening on {', '.join(server.addresses)}", flush=True)
    waiters = [loop.create_task(stop.wait()), loop.create_task(phone.exit_requested.wait())]
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for w in waiters:
        w.cancel()
    log.info("shutting down: hanging up, unregistering")
    try:
        await asyncio.wait_for(phone.stop(), 15)
    except Exception as e:  # noqa: BLE001
        log.warning("clean stop failed: %s", e)
    await server.close()
    print("sipctl: stopped", flush=True)
    return 0


def _on_params(phone: Phone, workdir: Path, names: list[str]) -> None:
    """The logging parameters changed: reconfigure the handlers."""
    if any(n in ("loglevel", "logtoconsole", "canlogtofile") for n in names):
        _configure_logging(phone, workdir)


def serve(host: str = "127.0.0.1", port: int = 18620, *, workdir: str | Path | None = None,
          params: Mapping[str, str] | None = None, allow_remote: bool = False,
          token: str | None = None) -> int:
    """Run the service until SIGTERM/SIGINT/``API_Exit``; returns the exit code.

    A non-loopback ``host`` needs ``allow_remote`` and a ``token`` (clients then send
    ``AUTH <token>`` first); a token may also be required on loopback.
    """
    if not is_loopback(host) and not (allow_remote and token):
        print(f"sipctl: refusing to listen on non-loopback address {host!r}: pass "
              "--allow-remote and --token TOKEN (clients must then send 'AUTH TOKEN' first)",
              file=sys.stderr, flush=True)
        return 2
    wd = Path(workdir) if workdir is not None else default_workdir()
    try:
        return asyncio.run(_serve(host, port, wd, dict(params or {}), token))
    except OSError as e:
        print(f"sipctl: {e.strerror or e}", file=sys.stderr, flush=True)
        return 1
