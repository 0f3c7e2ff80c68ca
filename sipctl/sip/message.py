"""SIP requests and responses: reading a datagram, typed header views, writing bytes.

``parse_message(data)`` reads one complete message (a UDP datagram, or one message cut
out of a stream by :mod:`sipctl.sip.framing`). It checks the start line, unfolds and
splits the header section, validates every header the registry knows (one precompiled
pattern for the common shapes, the full reader otherwise), enforces the bounds and the
RFC 3261 rules a UAS relies on (required headers, single-instance headers, CSeq method,
Content-Length) and raises :class:`MessageError` (a :class:`ParseError` carrying the
datagram) with a specific ``detail`` otherwise. Header values are kept raw; typed views
(``via``, ``from_``, ``cseq``...) are built on first access and cached.

``serialize()`` writes the message back (unfolded, canonical header names) with a
Content-Length that always matches the body. ``make_response`` builds a response to a
request; ``make_400`` builds the error response a UAS sends for an unparseable request,
or returns None when too little of it was readable to answer (or it must not be
answered: responses, ACK).
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from . import grammar as g
from .addr import STAR, NameAddr, quote
from .errors import ParseError
from .headers import (REGISTRY, CSeq, Event, Headers, MediaType, RAck, SubscriptionState,
                      canonical_name, compact_name, split_list)
from .uri import FAST_SIP_URI, SipUri, Uri, parse_uri
from .via import Via

__all__ = [
    "Message", "Request", "Response", "MessageError", "parse_message", "make_response",
    "make_400", "check_request", "REASON_PHRASES", "MAX_MESSAGE_SIZE", "MAX_HEADERS",
    "MAX_HEADER_LINE", "REQUIRED_HEADERS",
]

#: Largest message accepted (a UDP datagram cannot be larger).
MAX_MESSAGE_SIZE = 65535
#: Most header field lines accepted in one message.
MAX_HEADERS = 256
#: Longest header field line (after unfolding) accepted.
MAX_HEADER_LINE = 8192
#: Header fields every request and response must carry (RFC 3261 8.1.1; Max-Forwards is
#: not required so that RFC 2543 requests are accepted, RFC 4475 3.4.1).
REQUIRED_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq")

REASON_PHRASES = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 300: "Multiple Choices",
    301: "Moved Permanently", 302: "Moved Temporarily", 305: "Use Proxy", 380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    413: "Request Entity Too Large", 414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    423: "Interval Too Brief", 480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here", 489: "Bad Event",
    491: "Request Pending", 493: "Undecipherable", 500: "Server Internal Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Server Time-out",
    505: "Version Not Supported", 513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline",
    604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}


class MessageError(ParseError):
    """A :class:`ParseError` raised by :func:`parse_message`; ``data`` is the message read."""

    def __init__(self, detail: str, status: int = 400, reason: str = "Bad Request", *,
                 data: bytes = b"") -> None:
        super().__init__(detail, status, reason)
        self.data = data


class Message:
    """What requests and responses share: ordered headers, body bytes, typed views."""

    __slots__ = ("headers", "body", "_cache", "_cache_version")

    def __init__(self, headers: Headers | list[tuple[str, str]] | None = None, body: bytes = b"") -> None:
        self.headers = headers if isinstance(headers, Headers) else Headers(
            [(canonical_name(n), v) for n, v in headers] if headers else None)
        self.body = bytes(body)
        self._cache: dict[str, list[Any]] = {}
        self._cache_version = -1

    # -- typed access -------------------------------------------------------------------
    def typed_all(self, name: str) -> list[Any]:
        """Every element of header ``name`` as its registry type (cached until headers change).

        Unknown headers give their raw values. Raises :class:`ParseError` for a value that
        does not parse (never for a message that came out of :func:`parse_message`).
        """
        if self._cache_version != self.headers._version:
            self._cache.clear()
            self._cache_version = self.headers._version
        key = canonical_name(name)
        got = self._cache.get(key)
        if got is None:
            spec = REGISTRY.get(key)
            values = self.headers.get_all(key)
            if key in _MAY_BE_EMPTY:
                values = [v for v in values if v.strip()]
            got = [spec.parse(v) for v in values] if spec is not None else values
            self._cache[key] = got
        return got

    def typed(self, name: str) -> Any:
        """The first element of header ``name`` as its registry type, or None."""
        got = self.typed_all(name)
        return got[0] if got else None

    def set(self, name: str, value: Any) -> None:
        """Replace header ``name`` by ``value`` (a string, or a typed value / list of them)."""
        spec = REGISTRY.get(canonical_name(name))
        if isinstance(value, list):
            text = ", ".join(str(v) if spec is None else spec.serialize(v) for v in value)
        elif isinstance(value, str):
            text = value
        else:
            text = spec.serialize(value) if spec is not None else str(value)
        self.headers.set(name, text)

    def add(self, name: str, value: Any, first: bool = False) -> None:
        """Add a header field line (``first`` puts it before the others, e.g. a new Via)."""
        spec = REGISTRY.get(canonical_name(name))
        text = value if isinstance(value, str) else (
            spec.serialize(value) if spec is not None else str(value))
        self.headers.add(name, text, first=first)

    @property
    def via(self) -> list[Via]:
        """Every via-parm, topmost first."""
        return self.typed_all("Via")

    @property
    def from_(self) -> NameAddr | None:
        """The From header."""
        return self.typed("From")

    @property
    def to(self) -> NameAddr | None:
        """The To header."""
        return self.typed("To")

    @property
    def call_id(self) -> str | None:
        """The Call-ID."""
        return self.typed("Call-ID")

    @property
    def cseq(self) -> CSeq | None:
        """The CSeq (sequence number and method)."""
        return self.typed("CSeq")

    @property
    def contact(self) -> list[NameAddr]:
        """Contact addresses (empty for ``Contact: *``, see :attr:`contact_is_star`)."""
        return [c for c in self.typed_all("Contact") if c is not STAR]

    @property
    def contact_is_star(self) -> bool:
        """True for ``Contact: *``."""
        return any(c is STAR for c in self.typed_all("Contact"))

    @property
    def route(self) -> list[NameAddr]:
        """Route set, in order."""
        return self.typed_all("Route")

    @property
    def record_route(self) -> list[NameAddr]:
        """Record-Route entries, in order."""
        return self.typed_all("Record-Route")

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards, or None when absent."""
        return self.typed("Max-Forwards")

    @property
    def expires(self) -> int | None:
        """Expires (seconds, clamped to 2**32-1), or None."""
        return self.typed("Expires")

    @property
    def content_type(self) -> MediaType | None:
        """Content-Type of the body, or None."""
        return self.typed("Content-Type")

    @property
    def content_length(self) -> int:
        """Length of the body (what serialisation writes as Content-Length)."""
        return len(self.body)

    @property
    def allow(self) -> list[str]:
        """Methods listed in Allow."""
        return self.typed_all("Allow")

    @property
    def supported(self) -> list[str]:
        """Option tags in Supported."""
        return self.typed_all("Supported")

    @property
    def require(self) -> list[str]:
        """Option tags in Require."""
        return self.typed_all("Require")

    @property
    def proxy_require(self) -> list[str]:
        """Option tags in Proxy-Require."""
        return self.typed_all("Proxy-Require")

    @property
    def event(self) -> Event | None:
        """The Event header (RFC 6665), or None."""
        return self.typed("Event")

    @property
    def subscription_state(self) -> SubscriptionState | None:
        """The Subscription-State header, or None."""
        return self.typed("Subscription-State")

    @property
    def rseq(self) -> int | None:
        """RSeq (RFC 3262), or None."""
        return self.typed("RSeq")

    @property
    def rack(self) -> RAck | None:
        """RAck (RFC 3262), or None."""
        return self.typed("RAck")

    @property
    def date(self) -> datetime | None:
        """The Date header as an aware UTC datetime, or None."""
        return self.typed("Date")

    def body_text(self) -> str:
        """The body decoded with its ``charset`` parameter (UTF-8 when none)."""
        ct = self.content_type
        charset = (ct.param("charset") if ct is not None else None) or "utf-8"
        try:
            return self.body.decode(charset, "replace")
        except LookupError:
            return self.body.decode("utf-8", "replace")

    # -- writing -------------------------------------------------------------------------
    def start_line(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def serialize(self, compact: bool = False) -> bytes:
        """The message as bytes; Content-Length is always ``len(body)`` (one header).

        ``compact`` writes compact header names (``v:``, ``f:``...) where they exist.
        """
        body = self.body
        parts = [self.start_line()]
        have_cl = False
        for name, value in self.headers._items:
            if name == "Content-Length":
                if have_cl:
                    continue
                have_cl = True
                value = str(len(body))
            parts.append(f"{compact_name(name) if compact else name}: {value}")
        if not have_cl:
            parts.append(f"{'l' if compact else 'Content-Length'}: {len(body)}")
        parts.append("\r\n")
        return "\r\n".join(parts).encode("utf-8", "surrogateescape") + body

    def __bytes__(self) -> bytes:
        return self.serialize()

    def _comparable(self) -> tuple[Any, ...]:
        return ([(n, v) for n, v in self.headers._items if n != "Content-Length"], self.body)


class Request(Message):
    """A SIP request: ``method``, ``uri`` (typed; ``uri_text`` as written), headers, body."""

    __slots__ = ("method", "_uri", "uri_text")

    def __init__(self, method: str, uri: Uri | str, headers: Headers | list[tuple[str, str]] | None = None,
                 body: bytes = b"") -> None:
        super().__init__(headers, body)
        self.method = method
        if isinstance(uri, str):
            self.uri_text = uri
            self._uri: Uri | None = None
        else:
            self.uri_text = str(uri)
            self._uri = uri

    @property
    def uri(self) -> Uri:
        """The Request-URI (parsed on first access)."""
        if self._uri is None:
            self._uri = parse_uri(self.uri_text)
        return self._uri

    @uri.setter
    def uri(self, value: Uri | str) -> None:
        self.uri_text = str(value)
        self._uri = None if isinstance(value, str) else value

    def start_line(self) -> str:
        """``METHOD uri SIP/2.0``."""
        return f"{self.method} {self.uri_text} SIP/2.0"

    def __eq__(self, other: object) -> bool:
        """Same method, Request-URI text, header fields and body (Content-Length ignored)."""
        if not isinstance(other, Request):
            return NotImplemented
        return (self.method == other.method and self.uri_text == other.uri_text
                and self._comparable() == other._comparable())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri_text} ({len(self.headers)} headers, {len(self.body)} bytes)>"


class Response(Message):
    """A SIP response: ``status``, ``reason``, headers, body."""

    __slots__ = ("status", "reason")

    def __init__(self, status: int, reason: str | None = None,
                 headers: Headers | list[tuple[str, str]] | None = None, body: bytes = b"") -> None:
        super().__init__(headers, body)
        self.status = status
        self.reason = REASON_PHRASES.get(status, "") if reason is None else reason

    def start_line(self) -> str:
        """``SIP/2.0 status reason``."""
        return f"SIP/2.0 {self.status} {self.reason}"

    def __eq__(self, other: object) -> bool:
        """Same status, reason, header fields and body (Content-Length ignored)."""
        if not isinstance(other, Response):
            return NotImplemented
        return (self.status == other.status and self.reason == other.reason
                and self._comparable() == other._comparable())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason} ({len(self.headers)} headers, {len(self.body)} bytes)>"


# --- reading ------------------------------------------------------------------------------------
_FOLD_RE = re.compile(r"[ \t]*\r\n[ \t]+")
_REQUEST_LINE_RE = re.compile("(" + g.TOKEN + ") ([!-~]+) [Ss][Ii][Pp]/([0-9]+)\\.([0-9]+)")
_STATUS_LINE_RE = re.compile("[Ss][Ii][Pp]/([0-9]+)\\.([0-9]+) ([0-9]+)(?: (" + g.REASON_PHRASE + "))?")
_FAST_URI_RE = re.compile(FAST_SIP_URI)
_EXACT_NAMES = {name: name for name in REGISTRY}
for _n, _s in REGISTRY.items():
    _EXACT_NAMES[_n.lower()] = _n
    if _s.compact:
        _EXACT_NAMES[_s.compact] = _n
        _EXACT_NAMES[_s.compact.upper()] = _n


def _diagnose_request_line(line: str) -> ParseError:
    if line != line.rstrip(" \t"):
        return ParseError("whitespace at the end of the Request-Line")
    if line != line.lstrip(" \t"):
        return ParseError("whitespace before the Request-Line")
    parts = line.split(" ")
    if "" in parts:
        return ParseError("Request-Line elements separated by more than one SP")
    if len(parts) > 3:
        return ParseError("whitespace inside the Request-URI")
    if len(parts) < 3:
        return ParseError("Request-Line is not 'Method SP Request-URI SP SIP-Version'")
    if not g.TOKEN_RE.fullmatch(parts[0]):
        return ParseError("method is not a token")
    if "\t" in line:
        return ParseError("TAB inside the Request-Line")
    return ParseError("malformed SIP version in the Request-Line")


def _check_version(major: str, minor: str) -> None:
    if major != "2" or minor != "0":
        raise ParseError(f"SIP version {int(major)}.{int(minor)} not supported", 505,
                         "Version Not Supported")


def _read_start_line(line: str) -> Request | Response:
    if line[:4].upper() == "SIP/":
        m = _STATUS_LINE_RE.fullmatch(line)
        if m is None:
            if re.match(r"[Ss][Ii][Pp]/[0-9]+\.[0-9]+ [0-9]+", line):
                raise ParseError("control character in reason phrase")
            raise ParseError("malformed Status-Line")
        _check_version(m.group(1), m.group(2))
        code = m.group(3)
        if len(code) != 3 or code[0] == "0":
            raise ParseError(f"status code {code[:20]} out of range (100-699)")
        return Response(int(code), m.group(4) or "")
    m = _REQUEST_LINE_RE.fullmatch(line)
    if m is None:
        raise _diagnose_request_line(line)
    _check_version(m.group(3), m.group(4))
    method, uri_text = m.group(1), m.group(2)
    req = Request(method, uri_text)
    if _FAST_URI_RE.fullmatch(uri_text) is not None:
        return req  # parses (lazily, on first access to .uri)
    if uri_text.startswith("<"):
        raise ParseError("Request-URI enclosed in <>")
    try:
        uri = parse_uri(uri_text)
    except ParseError as e:
        raise ParseError(f"invalid Request-URI: {e.detail}") from None
    if isinstance(uri, SipUri) and uri.headers:
        raise ParseError("escaped headers not allowed in a SIP Request-URI")
    req._uri = uri
    return req


#: Headers whose RFC 3261 grammar allows an empty value (e.g. ``Supported:`` from baresip).
_MAY_BE_EMPTY = frozenset({"Accept", "Accept-Encoding", "Accept-Language", "Allow", "Supported"})


def _validate(items: list[tuple[str, str]]) -> None:
    single: set[str] = set()
    for name, value in items:
        spec = REGISTRY.get(name)
        if spec is None:
            continue
        if spec.single:
            if name in single:
                raise ParseError(f"multiple {name} header fields")
            single.add(name)
        check = spec.check
        if check is not None and check.fullmatch(value) is not None:
            continue
        if spec.multi:
            if name in _MAY_BE_EMPTY and not value.strip():
                continue
            for element in split_list(value):
                if not element:
                    raise ParseError(f"empty element in {name} header")
                spec.parse(element)
        else:
            spec.parse(value)


def _read(data: bytes, max_size: int) -> Request | Response:
    if len(data) > max_size:
        raise ParseError(f"message larger than {max_size} bytes", 513, "Message Too Large")
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise ParseError("no empty line after the header fields")
    head = data[:end].decode("utf-8", "surrogateescape")
    body = data[end + 4:]
    if "\r\n " in head or "\r\n\t" in head:
        head = _FOLD_RE.sub(" ", head)
    lines = head.split("\r\n")
    n_crlf = len(lines) - 1
    if head.count("\n") != n_crlf or head.count("\r") != n_crlf:
        raise ParseError("bare CR or LF in the header section")
    if n_crlf > MAX_HEADERS:
        raise ParseError(f"more than {MAX_HEADERS} header fields")
    msg = _read_start_line(lines[0])
    items = msg.headers._items
    names = _EXACT_NAMES
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ParseError("header field line without ':'")
        if len(line) > MAX_HEADER_LINE:
            raise ParseError(f"header field line longer than {MAX_HEADER_LINE} characters")
        canon = names.get(name)
        if canon is None:
            stripped = name.rstrip(" \t")
            if not g.TOKEN_RE.fullmatch(stripped):
                raise ParseError("invalid header field name")
            canon = canonical_name(stripped)
        items.append((canon, value.strip(" \t")))
    _validate(items)
    present = {n for n, _ in items}
    missing = [n for n in REQUIRED_HEADERS if n not in present]
    if missing:
        raise ParseError(f"missing required header fields: {', '.join(missing)}")
    if isinstance(msg, Request):
        for name, value in items:
            if name == "CSeq":
                if value.split()[1] != msg.method:
                    raise ParseError("CSeq method does not match request method")
                break
    for name, value in items:
        if name == "Content-Length":
            length = int(value)
            if length > len(body):
                raise ParseError("Content-Length larger than body")
            body = body[:length]
            break
    msg.body = body
    return msg


def parse_message(data: bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> Request | Response:
    """Read one SIP message (see the module docstring); raises :class:`MessageError`.

    Octets after Content-Length bytes of body are ignored (RFC 3261 18.3); without a
    Content-Length the body is the rest of ``data`` (datagram rules).
    """
    try:
        return _read(bytes(data), max_size)
    except MessageError:
        raise
    except ParseError as e:
        raise MessageError(e.detail, e.status, e.reason, data=bytes(data)) from None
    except (ValueError, IndexError, RecursionError) as e:  # defensive: never another exception
        raise MessageError(f"unparseable message ({type(e).__name__})", data=bytes(data)) from None


# --- writing responses --------------------------------------------------------------------------
def make_response(request: Request, status: int, reason: str | None = None, *,
                  to_tag: str | None = None, body: bytes = b"",
                  headers: list[tuple[str, Any]] | None = None,
                  copy_record_route: bool | None = None) -> Response:
    """A response to ``request`` (RFC 3261 8.2.6.2).

    Copies every Via line, From, To, Call-ID and CSeq; adds ``to_tag`` to To when the
    request's To has no tag (pass one for every response but 100; tags are the caller's
    randomness). Record-Route is copied for 101-299 unless ``copy_record_route`` says
    otherwise. ``headers`` are added after those, as ``(name, str or typed value)``.
    """
    out = Response(status, reason)
    h = out.headers
    for v in request.headers.lines("Via"):
        h.add("Via", v)
    for name in ("From", "To", "Call-ID", "CSeq"):
        for v in request.headers.lines(name):
            if name == "To" and to_tag is not None and status != 100:
                to = request.to
                if to is not None and to.tag is None:
                    v = f"{v};tag={to_tag}"
            h.add(name, v)
    if copy_record_route is None:
        copy_record_route = 100 < status < 300
    if copy_record_route:
        for v in request.headers.lines("Record-Route"):
            h.add("Record-Route", v)
    if status == 100:
        for v in request.headers.lines("Timestamp"):
            h.add("Timestamp", v)
    for name, value in headers or ():
        out.add(name, value)
    out.body = bytes(body)
    return out


_CONTROL_RE = re.compile("[\x00-\x1f\x7f]+")
_SALVAGE_VIA_RE = re.compile(r"[ \t]*" + g.TOKEN + g.SLASH + g.TOKEN + g.SLASH + g.TOKEN + g.LWS + g.HOST)


def _salvage_headers(data: bytes) -> tuple[str, dict[str, list[str]]] | None:
    end = data.find(b"\r\n\r\n")
    head = (data if end < 0 else data[:end]).decode("utf-8", "surrogateescape")
    head = _FOLD_RE.sub(" ", head)
    lines = head.split("\r\n")
    found: dict[str, list[str]] = {}
    for line in lines[1:MAX_HEADERS + 1]:
        name, sep, value = line.partition(":")
        if sep and "\n" not in line and "\r" not in line:
            canon = canonical_name(name.strip(" \t"))
            if canon in ("Via", "From", "To", "Call-ID", "CSeq"):
                found.setdefault(canon, []).append(value.strip(" \t"))
    return lines[0], found


def make_400(source: bytes | ParseError, *, to_tag: str | None = None,
             warn_agent: str = "sipctl") -> Response | None:
    """The error response for a request :func:`parse_message` rejected, or None (drop it).

    ``source`` is the request's bytes or the :class:`MessageError` raised for them. The
    response has the error's status (400 unless the error names another, e.g. 505), the
    error's detail as reason phrase for a 400, and ``Warning: 399 <warn_agent> "<detail>"``.
    It needs a request (not a response, not ACK) whose top Via, Call-ID, CSeq, From and
    To could be read; their lines are copied as received. Returns None when ``source``
    parses fine.
    """
    if isinstance(source, MessageError):
        err, data = source, source.data
    elif isinstance(source, ParseError):
        return None
    else:
        data = bytes(source)
        try:
            parse_message(data)
            return None
        except MessageError as e:
            err = e
    salvaged = _salvage_headers(data)
    if salvaged is None:
        return None
    start, found = salvaged
    m = re.match("(" + g.TOKEN + ") ", start)
    if m is None or start[:4].upper() == "SIP/" or m.group(1) == "ACK":
        return None
    if any(not found.get(n) for n in ("Via", "From", "To", "Call-ID", "CSeq")):
        return None
    if not _SALVAGE_VIA_RE.match(found["Via"][0]) or not g.CALLID_RE.fullmatch(found["Call-ID"][0]):
        return None
    cseq = found["CSeq"][0].split()
    if len(cseq) != 2 or not cseq[0].isdigit() or not g.TOKEN_RE.fullmatch(cseq[1]):
        return None
    detail = _CONTROL_RE.sub(" ", err.detail)[:160]
    reason = detail if err.status == 400 else err.reason
    out = Response(err.status, reason)
    h = out.headers
    for v in found["Via"]:
        h.add("Via", v)
    h.add("From", found["From"][0])
    to = found["To"][0]
    if to_tag is not None:
        try:
            if NameAddr.parse(to, "To").tag is None:
                to = f"{to};tag={to_tag}"
        except ParseError:
            pass
    h.add("To", to)
    h.add("Call-ID", found["Call-ID"][0])
    h.add("CSeq", found["CSeq"][0])
    h.add("Warning", f"399 {warn_agent} {quote(detail)}")
    return out


def check_request(request: Request, schemes: tuple[str, ...] = ("sip", "sips", "tel")) -> None:
    """Checks a UAS makes after parsing, beyond syntax; raises :class:`ParseError`.

    An unsupported Request-URI scheme gives 416 (RFC 3261 8.2.2.1, RFC 4475 3.3.2).
    """
    scheme = request.uri.scheme
    if scheme not in schemes:
        raise ParseError(f"unsupported URI scheme {scheme!r} in Request-URI", 416,
                         "Unsupported URI Scheme")

