"""Framing of the TCP API (sans-IO): bytes in -> requests, answers/notifications -> bytes.

The wire format is the Mizu VoIP SDK's (MVoIPSDK) TCP API, port 18620. Two request forms:

* **simple**: ``API_Call,-1, 123456 \\r\\n`` -- the name and the arguments separated by
  commas, one command per line. The arguments are handed on *untrimmed*: the command layer
  trims them and re-joins a last string argument that itself contains commas.
* **encapsulated**: ``BOFCOMMAND BOFLINE API_Call EOFLINE BOFLINE -1 EOFLINE ... EOFCOMMAND``
  (positional) or ``BOFCOMMAND BOFLINE function=API_Call EOFLINE BOFLINE line=-1 EOFLINE
  ... EOFCOMMAND`` (named). It may span lines; one whitespace character (or one CRLF) on each
  side of an item is a separator, anything else is kept verbatim.

Choices where the reference is loose:

* A simple command without a line terminator is legal (the reference's own pseudocode sends
  ``API_Start`` bare and then waits for the answer). The server calls
  :meth:`ApiDecoder.flush_idle` after ~50 ms without bytes; :meth:`ApiDecoder.eof` ends one
  too. If the client did not wait and the next command was glued on
  (``API_StartAPI_SetParameters,...``), the decoder splits the glued name on known names.
  A bare name glued to a following ``BOFCOMMAND`` is split as well.
* The markers (``BOFCOMMAND``, ``BOFLINE``, ``EOFLINE``, ``EOFCOMMAND``) are upper case and
  cannot occur inside an item.
* Encapsulated answers are written ``APIREQUEST: API_Call RPARAM1:-1 RPARAM2:123456
  APIRESULT:true``, the spaced form of the Usage section (the API section also shows
  ``APIREQUEST:API_SetParametersAPIRESULT:true``; a parser reading "between ``APIRESULT:``
  and ``\\r``", as the reference advises, reads both). Line breaks inside an RPARAM are written
  as the token `` CRLF `` so the echo stays on one line; the APIRESULT string itself keeps its
  ``\\r\\n`` separators (``API_GetAudioDeviceList``).
* A ``void`` function, and a boolean one whose implementation returned ``None``, answer
  success (``OK: API_X succeed`` / ``APIRESULT:true``).
* Notifications are always one line: a field holding line breaks (a SIP message in a ``LOG``
  notification) has each ``\\r\\n``/``\\n``/``\\r`` written as `` CRLF ``, the token this
  socket already uses for line breaks in the simple request form. Commas inside fields are
  not escaped (as in the reference: the free-text field is the last one).
* Limits: a command may be at most ``max_command`` bytes *including* its terminator
  (``\\n`` or ``EOFCOMMAND``); the decoder never holds more than that, and the rest of an
  overlong command is skipped without being buffered.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Callable, Sequence

__all__ = ["ApiRequest", "FramingError", "ApiDecoder", "format_answer", "format_error",
           "format_notification", "encode_bytes", "decode_bytes"]

BOF = b"BOFCOMMAND"
EOF = b"EOFCOMMAND"
_WS = b" \t\r\n"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_GLUE = re.compile(r"(?=API_)", re.I)
_LINEBREAK = re.compile(r"\r\n|\n|\r")
_LONE_LF = re.compile(r"(?<!\r)\n")
_PREVIEW = 80

NOT_A_COMMAND = "not an API command: expected API_Name,arg,... or BOFCOMMAND ... EOFCOMMAND"


@dataclass(frozen=True)
class ApiRequest:
    """One decoded request.

    ``form`` is ``"simple"`` or ``"encapsulated"``; ``args`` are the raw argument strings
    (simple form: the untrimmed comma-separated pieces; encapsulated: the BOFLINE items
    after the first, e.g. ``"line=-1"`` in the named form); ``named`` marks the encapsulated
    ``function=`` form; ``raw`` is the request text as received (for logs).
    """

    form: str
    name: str
    args: tuple[str, ...]
    named: bool
    raw: str


@dataclass(frozen=True)
class FramingError:
    """Input that is not a request; answer it with :func:`format_error` (``ERROR: ...``).

    ``raw`` is a printable preview of the offending bytes (at most ~80 characters)."""

    message: str
    raw: str



def _preview(data: bytes | str) -> str:
    if isinstance(data, bytes):
        data = data[:_PREVIEW].decode("utf-8", "replace")
    return data[:_PREVIEW].encode("unicode_escape").decode("ascii")[:_PREVIEW]


def _strip_one(item: str) -> str:
    """Remove one separating whitespace character (or one CRLF) on each side."""
    if item.startswith("\r\n"):
        item = item[2:]
    elif item[:1].isspace():
        item = item[1:]
    if item.endswith("\r\n"):
        item = item[:-2]
    elif item[-1:].isspace():
        item = item[:-1]
    return item


class ApiDecoder:
    """Incremental decoder of the TCP API byte stream (no I/O).

    ``feed(data)`` returns the requests (and :class:`FramingError` s) completed by ``data``;
    ``flush_idle()`` ends a pending unterminated simple command (call it when the peer has
    been silent for ~50 ms with bytes pending); ``eof()`` ends whatever is pending when the
    peer closes. ``known(name)`` (optional) tells whether a function name exists; it lets the
    decoder split names glued together by a client that omitted a terminator.
    """

    def __init__(self, max_command: int = 256 * 1024,
                 known: Callable[[str], bool] | None = None) -> None:
        if max_command < 2 * len(BOF):
            raise ValueError("max_command is too small")
        self._max = max_command
        self._known = known
        self._buf = bytearray()
        self._scan = 0  # bytes of _buf already searched for a terminator
        self._discard: str | None = None  # "line" | "encap": skipping an overlong command
        self._tail = b""  # last bytes seen while skipping, for an EOFCOMMAND split by a chunk

    @property
    def pending(self) -> int:
        """Bytes buffered for an incomplete command (never more than ``max_command``)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[ApiRequest | FramingError]:
        """Add received bytes; return what they completed, in order."""
        out: list[ApiRequest | FramingError] = []
        pos, n = 0, len(data)
        keep = len(EOF) - 1
        while pos < n:
            if self._discard == "line":
                j = data.find(b"\n", pos)
                if j < 0:
                    break
                pos, self._discard = j + 1, None
                continue
            if self._discard == "encap":
                probe = self._tail + data[pos:pos + keep]
                k = probe.find(EOF)
                if k >= 0:
                    pos += k + len(EOF) - len(self._tail)
                else:
                    j = data.find(EOF, pos)
                    if j < 0:
                        self._tail = (self._tail + data[max(pos, n - keep):])[-keep:]
                        break
                    pos = j + len(EOF)
                self._discard, self._tail = None, b""
                continue
            # never buffer more than one command's worth: a 1 MB line is cut at max_command
            room = self._max - len(self._buf)
            self._buf += data[pos:pos + room]
            pos += min(room, n - pos)
            self._drain(out)
        return out

    def flush_idle(self) -> list[ApiRequest | FramingError]:
        """The peer went quiet: a pending simple command without terminator is complete.

        A pending ``BOFCOMMAND`` keeps waiting for its ``EOFCOMMAND``."""
        out: list[ApiRequest | FramingError] = []
        if self._discard == "line":
            self._discard = None  # the overlong unterminated command is over
        if self._discard is None:
            self._drain(out)
            if self._buf and not BOF.startswith(bytes(self._buf[:len(BOF)])):
                out.extend(self._take_simple(len(self._buf), len(self._buf)))
        return out

    def eof(self) -> list[ApiRequest | FramingError]:
        """The peer closed: end what is pending and reset."""
        out = self.flush_idle()
        if self._buf:
            if self._buf.startswith(BOF):
                out.append(FramingError("connection closed inside BOFCOMMAND (no EOFCOMMAND)",
                                        _preview(bytes(self._buf))))
            else:
                out.extend(self._take_simple(len(self._buf), len(self._buf)))
        self._buf.clear()
        self._scan, self._discard, self._tail = 0, None, b""
        return out

    # -- internals ---------------------------------------------------------------------

    def _drain(self, out: list[ApiRequest | FramingError]) -> None:
        buf = self._buf
        while True:
            i, n = 0, len(buf)
            while i < n and buf[i] in _WS:
                i += 1
            if i:
                del buf[:i]
                self._scan = max(0, self._scan - i)
            if not buf:
                return
            if buf.startswith(BOF):
                j = buf.find(EOF, max(len(BOF), self._scan - len(EOF) + 1))
                if j < 0:
                    self._scan = len(buf)
                    if len(buf) >= self._max:
                        self._overflow(out, "encap")
                    return
                end = j + len(EOF)
                cmd = bytes(buf[:end])
                del buf[:end]
                self._scan = 0
                out.append(self._decode_encap(cmd))
                continue
            if len(buf) < len(BOF) and BOF.startswith(bytes(buf)):
                return  # maybe the start of a BOFCOMMAND: wait for more
            # a bare name glued to a following BOFCOMMAND ("API_StartBOFCOMMAND ...")
            k = buf.find(BOF, 1, 64 + len(BOF))
            if k > 0 and _IDENT.fullmatch(buf[:k].decode("latin-1")):
                out.extend(self._take_simple(k, k))
                continue
            j = buf.find(b"\n", self._scan)
            if j < 0:
                self._scan = len(buf)
                if len(buf) >= self._max:
                    self._overflow(out, "line")
                return
            out.extend(self._take_simple(j, j + 1))

    def _overflow(self, out: list[ApiRequest | FramingError], mode: str) -> None:
        out.append(FramingError(f"command longer than {self._max} bytes: dropped",
                                _preview(bytes(self._buf[:_PREVIEW]))))
        self._tail = bytes(self._buf[-(len(EOF) - 1):]) if mode == "encap" else b""
        self._buf.clear()
        self._scan = 0
        self._discard = mode

    def _take_simple(self, end: int, consume: int) -> list[ApiRequest | FramingError]:
        line = bytes(self._buf[:end])
        del self._buf[:consume]
        self._scan = 0
        return self._decode_simple(line)

    def _decode_simple(self, line: bytes) -> list[ApiRequest | FramingError]:
        line = line.rstrip(b" \t\r").lstrip(_WS)
        if not line:
            return []
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return [FramingError("command is not valid UTF-8", _preview(line))]
        if _CONTROL.search(text):
            return [FramingError("binary data is not a command", _preview(line))]
        name, *args = text.split(",")
        name = name.strip()
        if not _IDENT.fullmatch(name):
            return [FramingError(NOT_A_COMMAND, _preview(text))]
        names = self._unglue(name)
        out: list[ApiRequest | FramingError] = [
            ApiRequest("simple", n, (), False, n) for n in names[:-1]]
        skip = sum(len(n) for n in names[:-1])
        out.append(ApiRequest("simple", names[-1], tuple(args), False, text[skip:]))
        return out

    def _unglue(self, name: str) -> list[str]:
        known = self._known
        if known is None or known(name) or len(name) > 1024:
            return [name]
        parts = [p for p in _GLUE.split(name) if p]
        if len(parts) > 1 and all(known(p) for p in parts):
            return parts
        return [name]

    def _decode_encap(self, cmd: bytes) -> ApiRequest | FramingError:
        try:
            text = cmd.decode("utf-8")
        except UnicodeDecodeError:
            return FramingError("command is not valid UTF-8", _preview(cmd))
        if _CONTROL.search(text):
            return FramingError("binary data is not a command", _preview(cmd))
        body = text[len(BOF):-len(EOF)]
        items: list[str] = []
        pos = 0
        while True:
            while pos < len(body) and body[pos].isspace():
                pos += 1
            if pos == len(body):
                break
            if not body.startswith("BOFLINE", pos):
                return FramingError("malformed BOFCOMMAND: expected BOFLINE ... EOFLINE, got "
                                    f"{body[pos:pos + 20]!r}", _preview(text))
            start = pos + len("BOFLINE")
            end = body.find("EOFLINE", start)
            if end < 0:
                return FramingError("malformed BOFCOMMAND: BOFLINE without EOFLINE",
                                    _preview(text))
            content = body[start:end]
            if "BOFLINE" in content:
                return FramingError("malformed BOFCOMMAND: BOFLINE inside BOFLINE (missing "
                                    "EOFLINE)", _preview(text))
            items.append(_strip_one(content))
            pos = end + len("EOFLINE")
        if not items:
            return FramingError("malformed BOFCOMMAND: no BOFLINE items", _preview(text))
        first = items[0]
        named = first[:9].lower() == "function="
        name = (first[9:] if named else first).strip()
        if not _IDENT.fullmatch(name):
            return FramingError(NOT_A_COMMAND, _preview(text))
        return ApiRequest("encapsulated", name, tuple(items[1:]), named, text)


# -- answers and notifications ----------------------------------------------------------

def encode_bytes(data: bytes) -> str:
    """Bytes as the reference sends them (``API_GetMedia``): base64 with ``=`` -> ``.``
    and ``+`` -> ``_``."""
    return base64.b64encode(data).decode("ascii").replace("=", ".").replace("+", "_")


def decode_bytes(text: str) -> bytes:
    """Inverse of :func:`encode_bytes`; plain base64 is accepted too. Raises ValueError."""
    text = "".join(text.split()).replace(".", "=").replace("_", "+")
    return base64.b64decode(text, validate=True)


def _one_line(text: str) -> str:
    return _LINEBREAK.sub(" CRLF ", text)


def _result_text(value: object, returns: str) -> str:
    if returns in ("bool", "void"):
        return "false" if value is not None and not value else "true"
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return encode_bytes(bytes(value))
    if isinstance(value, bool):
        return str(int(value)) if returns == "int" else ("true" if value else "false")
    return str(value)


def _end(text: str) -> bytes:
    text = _LONE_LF.sub("\r\n", text)
    if not text.endswith("\r\n"):
        text += "\r\n"
    return text.encode("utf-8")


def _echo(req: ApiRequest) -> str:
    parts = [f"APIREQUEST: {req.name}"]
    for i, item in enumerate(req.args, 1):
        if req.named:
            key, eq, val = item.partition("=")
            if eq and _IDENT.fullmatch(key.strip()):
                item = val
        parts.append(f"RPARAM{i}:{_one_line(item)}")
    return " ".join(parts)


def format_answer(req: ApiRequest, value: object, returns: str) -> bytes:
    """The answer line(s) for ``req`` whose function returned ``value`` (declared type
    ``returns``: ``bool``/``int``/``str``/``void``/``bytes``)."""
    if req.form == "encapsulated":
        return _end(f"{_echo(req)} APIRESULT:{_result_text(value, returns)}")
    if returns in ("bool", "void"):
        ok = _result_text(value, returns) == "true"
        return _end(f"OK: {req.name} succeed" if ok else f"ERROR: {req.name} failed")
    return _end(_result_text(value, returns))


def format_error(req: ApiRequest | None, message: str) -> bytes:
    """An error answer: ``ERROR: API_X failed: reason`` (``ERROR: reason`` without a
    request), or ``... APIRESULT:ERROR: reason`` for an encapsulated request."""
    message = _LINEBREAK.sub(" ", message)
    if req is None:
        return _end(f"ERROR: {message}")
    if req.form == "encapsulated":
        return _end(f"{_echo(req)} APIRESULT:ERROR: {message}")
    return _end(f"ERROR: {req.name} failed: {message}")


def format_notification(fields: Sequence[str | int]) -> bytes:
    """``WPNOTIFICATION,f1,f2,...,NEOL\\r\\n``, always one line (line breaks inside a field
    are written as the token `` CRLF ``)."""
    body = ",".join(_one_line(str(f)) for f in fields)
    return f"WPNOTIFICATION,{body},NEOL\r\n".encode("utf-8")
