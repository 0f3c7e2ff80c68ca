"""A small conformance client for the ``sipctl serve`` TCP API (Mizu VoIP SDK wire format).

Written from the reference (the Mizu VoIP SDK document in /work/shared/seeds), not from
sipctl's own API code, so that the tests built on it judge the service by the spec:

- commands go out in either framing: simple (``API_Call,-1, bob\\r\\n``) or encapsulated
  (``BOFCOMMAND BOFLINE function=API_Call EOFLINE ... EOFCOMMAND``, named or positional);
- the incoming stream is split into lines; a line starting ``WPNOTIFICATION,`` is a
  notification (prefix and ``,NEOL`` suffix removed), anything else is an answer, and
  answers come in the order of the commands;
- everything seen and sent is kept (``transcript()``) for assertion messages.

    with ApiClient(port) as c:
        assert c.call("API_TestEx") == "42"
        c.send("API_Call,-1, bob")
        assert c.answer() == "OK: API_Call succeed"
        c.wait_notification(status_line(text="CallConnect"))
"""
from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

__all__ = [
    "ApiClient", "ApiTimeout", "Notification", "encap", "encap_result",
    "GENERAL_STATUS_TEXTS", "LINE_STATUS_TEXTS", "is_general_status_text", "status_general",
    "status_line", "kind", "bool_answer_ok", "bool_answer_re",
]

NOTIF_PREFIX = "WPNOTIFICATION,"

# The reference's status texts (Notifications section).
GENERAL_STATUS_TEXTS = (
    "Ready", "Register...", "Registering...", "Register Failed", "Registered", "Accept",
    "Starting Call", "Call", "Call Initiated", "Calling...", "Ringing...", "Incoming...",
    "In Call (xxx sec)", "Hangup", "Call Finished", "Chat",
)
LINE_STATUS_TEXTS = (
    "Unknown", "Init", "Ready", "Outband", "Register", "Subscribe", "Chat", "CallSetup", "Setup",
    "InProgress", "Routed", "Ringing", "CallConnect", "InCall", "Muted", "Hold", "Speaking",
    "Midcall", "CallDisconnect", "Finishing", "Finished", "Deletable", "Error",
)
_IN_CALL_RE = re.compile(r"^In Call \(\d+ sec\)\.?$")


def is_general_status_text(text: str) -> bool:
    """A general (line -1) status text from the reference's list; a trailing "." is accepted
    (the Usage example shows ``Registered.``)."""
    if _IN_CALL_RE.match(text):
        return True
    t = text[:-1] if text.endswith(".") and not text.endswith("...") else text
    return t in GENERAL_STATUS_TEXTS and t != "In Call (xxx sec)"


class ApiTimeout(AssertionError):
    """Nothing matching arrived in time (an AssertionError so pytest shows the message)."""


@dataclass
class Notification:
    raw: str                    # the full line as received (without \r\n)
    body: str                   # without the WPNOTIFICATION, prefix and the NEOL suffix
    t: float = field(default_factory=time.monotonic)
    index: int = 0              # position in ApiClient.notifications

    @property
    def fields(self) -> list[str]:
        return self.body.split(",")

    @property
    def kind(self) -> str:
        return self.fields[0]

    def __repr__(self) -> str:
        return f"<N#{self.index} {self.body!r}>"


def _strip_notification(line: str) -> str:
    body = line[len(NOTIF_PREFIX):]
    # the reference shows both ",NEOL" and " NEOL" (the EVENT example: "any text NEOL")
    for suffix in (",NEOL", " NEOL", "NEOL"):
        if body.endswith(suffix):
            return body[: -len(suffix)]
    return body


# ---- predicates for wait_notification ----------------------------------------------------

def kind(name: str, *starts: str) -> Callable[[Notification], bool]:
    """Notifications of type ``name`` (START, CDR, EVENT, LOG, VAD...) whose following fields
    start with ``starts`` (compared field by field)."""
    def pred(n: Notification) -> bool:
        f = n.fields
        return f[0] == name and all(i + 1 < len(f) and f[i + 1] == s
                                    for i, s in enumerate(starts))
    pred.__name__ = f"kind({name!r}, {', '.join(map(repr, starts))})"
    return pred


def status_general(text: str | re.Pattern | None = None) -> Callable[[Notification], bool]:
    """``STATUS,-1,<text>`` (text compared without a trailing "."; a regex is searched)."""
    def pred(n: Notification) -> bool:
        f = n.fields
        if len(f) < 3 or f[0] != "STATUS" or f[1] != "-1":
            return False
        got = ",".join(f[2:])
        if text is None:
            return True
        if isinstance(text, re.Pattern):
            return bool(text.search(got))
        return got == text or got == text + "."
    pred.__name__ = f"status_general({text!r})"
    return pred


def status_line(text: str | Sequence[str] | None = None, line: str | None = None,
                peer: str | None = None, endpointtype: str | None = None
                ) -> Callable[[Notification], bool]:
    """Per-line ``STATUS,line,status,peername,localname,endpointtype,...`` (line > 0)."""
    texts = (text,) if isinstance(text, str) else (tuple(text) if text else None)

    def pred(n: Notification) -> bool:
        f = n.fields
        if len(f) < 3 or f[0] != "STATUS" or not f[1].isdigit() or int(f[1]) <= 0:
            return False
        if texts is not None and f[2] not in texts:
            return False
        if line is not None and f[1] != str(line):
            return False
        if peer is not None and (len(f) < 4 or peer not in f[3]):
            return False
        if endpointtype is not None and (len(f) < 6 or f[5] != str(endpointtype)):
            return False
        return True
    pred.__name__ = (f"status_line(text={text!r}, line={line!r}, peer={peer!r}, "
                     f"endpointtype={endpointtype!r})")
    return pred


def bool_answer_re(name: str) -> re.Pattern:
    """The reference's boolean answers: ``OK: NAME succeed`` / ``ERROR: NAME failed[: why]``."""
    return re.compile(rf"^(OK: {re.escape(name)} succeed|ERROR: {re.escape(name)} failed"
                      rf"(: .*)?)$")


def bool_answer_ok(name: str, answer: str) -> bool:
    return answer == f"OK: {name} succeed"


# ---- encapsulated framing -----------------------------------------------------------------

def encap(function: str, params: Iterable[str | tuple[str, str]] = (), named: bool = False,
          crlf: bool = True) -> bytes:
    """``BOFCOMMAND BOFLINE ... EOFLINE ... EOFCOMMAND`` for ``function`` with ``params``:
    plain strings are sent as-is in their BOFLINE (positional form; with ``named`` the
    function line is ``function=NAME``); (key, value) pairs are sent as ``key=value``."""
    parts = ["BOFCOMMAND", "BOFLINE", f"function={function}" if named else function, "EOFLINE"]
    for p in params:
        parts += ["BOFLINE", f"{p[0]}={p[1]}" if isinstance(p, tuple) else p, "EOFLINE"]
    parts.append("EOFCOMMAND")
    return (" ".join(parts) + (" \r\n" if crlf else "")).encode()


def encap_result(answer: str) -> str:
    """The value of an encapsulated answer: between ``APIRESULT:`` and the end of the line
    (the reference's ``GetStringBetween("APIRESULT:", "\\r")``), so both
    ``APIREQUEST: API_Call ... APIRESULT:true`` and ``APIREQUEST:API_XAPIRESULT:true`` read."""
    i = answer.find("APIRESULT:")
    if not answer.startswith("APIREQUEST:") or i < 0:
        raise AssertionError(f"not an encapsulated answer: {answer!r}")
    return answer[i + len("APIRESULT:"):].strip()


# ---- the client ---------------------------------------------------------------------------

class ApiClient:
    """One TCP connection to the API with a reader thread.

    ``answers`` / ``notifications`` hold everything received (in order); ``answer()`` pops the
    next answer not yet consumed. ``bare_lf`` counts lines that ended in a bare ``\\n``
    (the reference frames every line with ``\\r\\n``)."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0,
                 name: str = "client", connect: bool = True):
        self.host, self.port, self.timeout, self.name = host, port, timeout, name
        self.sock: socket.socket | None = None
        self.answers: list[tuple[float, str]] = []
        self.notifications: list[Notification] = []
        self._log: list[tuple[float, str, str]] = []   # (t, "<"/">"/"#", text)
        self._next_answer = 0
        self._cv = threading.Condition()
        self._buf = b""
        self.closed = False            # the service closed the connection (EOF or reset)
        self.close_error: str | None = None
        self.bare_lf = 0
        self.bytes_received = 0
        self._reader: threading.Thread | None = None
        self._t0 = time.monotonic()
        if connect:
            self.connect()

    # ---- connection -----------------------------------------------------------------------
    def connect(self) -> "ApiClient":
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.settimeout(None)
        self._note("#", f"connected to {self.host}:{self.port}")
        self._reader = threading.Thread(target=self._read_loop, daemon=True,
                                        name=f"api-{self.name}")
        self._reader.start()
        return self

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                self.sock.close()
            except OSError:
                pass
            self._note("#", "closed by client")
        if self._reader is not None:
            self._reader.join(2.0)

    def __enter__(self) -> "ApiClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _note(self, d: str, text: str) -> None:
        with self._cv:
            self._log.append((time.monotonic(), d, text))

    def _read_loop(self) -> None:
        assert self.sock is not None
        sock = self.sock
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError as e:
                with self._cv:
                    if not self.closed:
                        self.close_error = str(e)
                    self._finish()
                return
            if not chunk:
                with self._cv:
                    self._finish()
                return
            with self._cv:
                self.bytes_received += len(chunk)
                self._buf += chunk
                while b"\n" in self._buf:
                    raw, self._buf = self._buf.split(b"\n", 1)
                    if raw.endswith(b"\r"):
                        raw = raw[:-1]
                    else:
                        self.bare_lf += 1
                    self._line(raw.decode("utf-8", errors="replace"))
                self._cv.notify_all()

    def _finish(self) -> None:
        if self._buf:  # an unterminated last line still counts (and is noted as such)
            self._line(self._buf.decode("utf-8", errors="replace"))
            self._log.append((time.monotonic(), "#", "(last line had no line end)"))
            self._buf = b""
        self.closed = True
        self._log.append((time.monotonic(), "#", f"connection closed by service"
                          f"{' (' + self.close_error + ')' if self.close_error else ''}"))
        self._cv.notify_all()

    def _line(self, line: str) -> None:
        now = time.monotonic()
        self._log.append((now, "<", line))
        if line.startswith(NOTIF_PREFIX):
            n = Notification(line, _strip_notification(line), now, len(self.notifications))
            self.notifications.append(n)
        else:
            self.answers.append((now, line))

    # ---- sending --------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        assert self.sock is not None, "not connected"
        shown = data if len(data) <= 300 else data[:200] + b"...(%d bytes)" % len(data)
        self._note(">", repr(shown)[2:-1])
        self.sock.sendall(data)

    def send(self, line: str) -> None:
        """One simple-framed command line (``\\r\\n`` appended)."""
        self.send_raw(line.encode() + b"\r\n")

    # ---- receiving ------------------------------------------------------------------------
    def answer(self, timeout: float | None = None, what: str = "") -> str:
        """The next answer line not yet consumed."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._next_answer >= len(self.answers):
                left = deadline - time.monotonic()
                if left <= 0 or (self.closed and self._next_answer >= len(self.answers)):
                    why = "connection closed" if self.closed else f"nothing within {timeout}s"
                    raise ApiTimeout(f"{self.name}: no answer{' to ' + what if what else ''}"
                                     f" ({why})\n{self.transcript()}")
                self._cv.wait(left)
            a = self.answers[self._next_answer][1]
            self._next_answer += 1
            return a

    def pending_answers(self) -> list[str]:
        with self._cv:
            return [a for _, a in self.answers[self._next_answer:]]

    def take_pending(self) -> list[str]:
        """Consume and return the answers received but not yet taken."""
        with self._cv:
            out = [a for _, a in self.answers[self._next_answer:]]
            self._next_answer = len(self.answers)
            return out

    def call(self, line: str, timeout: float | None = None) -> str:
        """Send a simple-framed command and return its (one-line) answer."""
        self.send(line)
        return self.answer(timeout, what=repr(line))

    def call_encap(self, function: str, params: Iterable[str | tuple[str, str]] = (),
                   named: bool = False, crlf: bool = True, timeout: float | None = None) -> str:
        data = encap(function, params, named=named, crlf=crlf)
        self.send_raw(data)
        return self.answer(timeout, what=data.decode(errors="replace"))

    def call_multi(self, line: str | bytes, timeout: float | None = None) -> list[str]:
        """Send a command whose answer may span several lines (the device list, API_Poll)
        followed by a sentinel command (``API_TestEx``, or ``API_Test`` when the command is
        API_TestEx itself); the answer is every line before the sentinel's answer."""
        text = line if isinstance(line, str) else line.decode(errors="replace")
        sentinel, expect = (("API_Test", "OK: API_Test succeed")
                            if text.strip().startswith("API_TestEx") else ("API_TestEx", "42"))
        self.send_raw((line.encode() + b"\r\n") if isinstance(line, str) else line)
        self.send(sentinel)
        lines = []
        while True:
            a = self.answer(timeout, what=f"{line!r} (+ {sentinel} sentinel)")
            if a == expect:
                return lines
            lines.append(a)

    def wait_notification(self, pred: Callable[[Notification], bool] | str,
                          timeout: float | None = None, since: int = 0) -> Notification:
        """The first notification at or after index ``since`` matching ``pred`` (a predicate,
        or a string: the body must start with it)."""
        if isinstance(pred, str):
            prefix = pred
            pred = lambda n: n.body.startswith(prefix)  # noqa: E731
            pred.__name__ = f"startswith({prefix!r})"
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cv:
            i = since
            while True:
                while i < len(self.notifications):
                    n = self.notifications[i]
                    i += 1
                    if pred(n):
                        return n
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    why = "connection closed" if self.closed else f"within {timeout}s"
                    raise ApiTimeout(f"{self.name}: no notification matching "
                                     f"{getattr(pred, '__name__', pred)} since #{since} ({why})"
                                     f"\n{self.transcript()}")
                self._cv.wait(left)

    def find(self, pred: Callable[[Notification], bool], since: int = 0) -> list[Notification]:
        with self._cv:
            return [n for n in self.notifications[since:] if pred(n)]

    def mark(self) -> int:
        """Index for ``since=``: notifications from now on."""
        with self._cv:
            return len(self.notifications)

    def wait_closed(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cv:
            while not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
            return True

    def transcript(self, last: int = 60) -> str:
        """The last ``last`` lines sent (>) and received (<), with times since connect."""
        with self._cv:
            log = list(self._log[-last:])
            buf = self._buf
        rows = [f"  {t - self._t0:7.3f} {d} {text[:400]}" for t, d, text in log]
        if buf:
            rows.append(f"  (unterminated in buffer: {buf[:200]!r})")
        return f"--- {self.name} transcript (last {last}) ---\n" + "\n".join(rows)
