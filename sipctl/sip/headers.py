"""The header registry: names, compact forms, list syntax and a parse/serialise pair per header.

Every known header has a :class:`HeaderSpec`: its canonical name, compact form,
whether its value is a comma-separated list (Via, Contact, Allow, ...) or must not be
split at commas (WWW-Authenticate, Authorization, Date, ...), whether it may appear
only once (Call-ID, CSeq, From, To, Content-Length, ...), a ``parse`` function from
one element's text to a typed value and a ``serialize`` function back. ``check`` is
an optional precompiled pattern: a raw value it fully matches is known to parse, so
the message reader validates the common shapes with one regex and builds typed values
only when they are asked for.

Digest credentials/challenges stay raw strings here; ``sipctl.sip.auth`` parses them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from . import grammar as g
from .addr import FAST_NAME_ADDR, STAR, NameAddr, format_params, parse_params
from .errors import ParseError
from .via import FAST_VIA, Via

__all__ = [
    "HeaderSpec", "REGISTRY", "COMPACT_FORMS", "canonical_name", "compact_name", "get_spec",
    "split_list", "is_list_header", "CSeq", "MediaType", "Event", "SubscriptionState", "RAck",
    "Warning", "Headers", "MAX_UINT32",
]

MAX_UINT32 = 2**32 - 1


# --- typed values ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CSeq:
    """``CSeq: 4711 INVITE``."""

    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


@dataclass(eq=False)
class MediaType:
    """``type/subtype;param=value`` (Content-Type, Accept ranges); type/subtype lower-cased."""

    type: str
    subtype: str
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def mime(self) -> str:
        """``type/subtype``."""
        return f"{self.type}/{self.subtype}"

    def param(self, name: str, default: str | None = None) -> str | None:
        """Parameter ``name`` (case-insensitive)."""
        return g.find_param(self.params, name, default)

    def __str__(self) -> str:
        return f"{self.type}/{self.subtype}{format_params(self.params)}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MediaType):
            return NotImplemented
        return (self.mime, {k.lower(): v for k, v in self.params.items()}) == (
            other.mime, {k.lower(): v for k, v in other.params.items()})

    __hash__ = None  # type: ignore[assignment]


@dataclass(eq=False)
class Event:
    """``Event: presence;id=7`` (RFC 6665): package name and parameters."""

    package: str
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def id(self) -> str | None:
        """The ``id`` parameter or None."""
        return self.params.get("id")

    def __str__(self) -> str:
        return f"{self.package}{format_params(self.params)}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self.package.lower(), self.params) == (other.package.lower(), other.params)

    __hash__ = None  # type: ignore[assignment]


@dataclass(eq=False)
class SubscriptionState:
    """``Subscription-State: active;expires=600`` (RFC 6665)."""

    state: str
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def expires(self) -> int | None:
        """The ``expires`` parameter (clamped to 2**32-1) or None."""
        v = self.params.get("expires")
        return min(int(v), MAX_UINT32) if v is not None and v.isdigit() else None

    @property
    def reason(self) -> str | None:
        """The ``reason`` parameter or None."""
        return self.params.get("reason")

    @property
    def retry_after(self) -> int | None:
        """The ``retry-after`` parameter or None."""
        v = self.params.get("retry-after")
        return min(int(v), MAX_UINT32) if v is not None and v.isdigit() else None

    def __str__(self) -> str:
        return f"{self.state}{format_params(self.params)}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SubscriptionState):
            return NotImplemented
        return (self.state.lower(), self.params) == (other.state.lower(), other.params)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class RAck:
    """``RAck: 776656 1 INVITE`` (RFC 3262)."""

    rseq: int
    cseq: int
    method: str

    def __str__(self) -> str:
        return f"{self.rseq} {self.cseq} {self.method}"


@dataclass(frozen=True)
class Warning:  # noqa: A001 - the SIP header's name
    """One warning-value: ``399 host "text"``."""

    code: int
    agent: str
    text: str

    def __str__(self) -> str:
        from .addr import quote
        return f"{self.code} {self.agent} {quote(self.text)}"


# --- element parsers ----------------------------------------------------------------------
def _uint(value: str, what: str, limit: int = MAX_UINT32, clamp: bool = False) -> int:
    v = value.strip(" \t")
    if not v.isdigit() or not v.isascii():
        if v.startswith("-") and v[1:].isdigit():
            raise ParseError(f"negative {what}")
        raise ParseError(f"malformed {what}")
    n = int(v)
    if n > limit:
        if clamp:
            return limit
        raise ParseError(f"{what} {v} out of range")
    return n


def _parse_cseq(value: str) -> CSeq:
    parts = value.split()
    if len(parts) != 2:
        raise ParseError("malformed CSeq")
    seq, method = parts
    if not g.TOKEN_RE.fullmatch(method):
        raise ParseError("malformed CSeq method")
    return CSeq(_uint(seq, "CSeq sequence number"), method)


def _parse_call_id(value: str) -> str:
    value = value.strip(" \t")
    if not g.CALLID_RE.fullmatch(value):
        raise ParseError("malformed Call-ID")
    return value


_MEDIA_RE = re.compile("(" + g.TOKEN + ")" + g.SLASH + "(" + g.TOKEN + ")(.*)", re.S)


def _parse_media_type(value: str) -> MediaType:
    m = _MEDIA_RE.fullmatch(value.strip(" \t"))
    if m is None:
        raise ParseError("malformed media type")
    return MediaType(m.group(1).lower(), m.group(2).lower(), parse_params(m.group(3), "media type"))


def _parse_token(value: str) -> str:
    value = value.strip(" \t")
    if not g.TOKEN_RE.fullmatch(value):
        raise ParseError(f"malformed token {value[:40]!r}")
    return value


def _parse_token_params(value: str, what: str) -> tuple[str, dict[str, str | None]]:
    value = value.strip(" \t")
    m = re.match(g.TOKEN, value)
    if m is None:
        raise ParseError(f"malformed {what}")
    return m.group(), parse_params(value[m.end():], what)


def _parse_event(value: str) -> Event:
    return Event(*_parse_token_params(value, "Event"))


def _parse_substate(value: str) -> SubscriptionState:
    return SubscriptionState(*_parse_token_params(value, "Subscription-State"))


def _parse_rack(value: str) -> RAck:
    parts = value.split()
    if len(parts) != 3 or not g.TOKEN_RE.fullmatch(parts[2]):
        raise ParseError("malformed RAck")
    return RAck(_uint(parts[0], "RAck response number"), _uint(parts[1], "RAck CSeq number"),
                parts[2])


_WKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DATE_RE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug"
                      r"|Sep|Oct|Nov|Dec) ([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) (\S+)")


def _parse_date(value: str) -> datetime:
    m = _DATE_RE.fullmatch(value.strip(" \t"))
    if m is None:
        raise ParseError("malformed Date")
    if m.group(8) != "GMT":
        raise ParseError("invalid time zone in Date (must be GMT)")
    try:
        return datetime(int(m.group(4)), _MONTHS.index(m.group(3)) + 1, int(m.group(2)),
                        int(m.group(5)), int(m.group(6)), int(m.group(7)), tzinfo=timezone.utc)
    except ValueError:
        raise ParseError("invalid Date") from None


def _format_date(value: datetime) -> str:
    v = value.astimezone(timezone.utc)
    return (f"{_WKDAYS[v.weekday()]}, {v.day:02d} {_MONTHS[v.month - 1]} {v.year:04d} "
            f"{v.hour:02d}:{v.minute:02d}:{v.second:02d} GMT")


_WARNING_RE = re.compile(r"([0-9]{3}) (" + g.HOSTPORT + "|" + g.TOKEN + ") (" + g.QUOTED_STRING + ")")


def _parse_warning(value: str) -> Warning:
    m = _WARNING_RE.fullmatch(value.strip(" \t"))
    if m is None:
        raise ParseError("malformed Warning")
    from .addr import unquote
    return Warning(int(m.group(1)), m.group(2), unquote(m.group(3)))


def _parse_retry_after(value: str) -> int:
    head = value.strip(" \t")
    m = re.match(r"[0-9]+", head)
    if m is None:
        raise ParseError("malformed Retry-After")
    rest = head[m.end():].strip(" \t")
    if rest and not rest.startswith(("(", ";")):
        raise ParseError("malformed Retry-After")
    return _uint(m.group(), "Retry-After", clamp=True)


def _parse_contact(value: str) -> NameAddr | str:
    if value.strip(" \t") == STAR:
        return STAR
    return NameAddr.parse(value, "Contact")


def _parse_raw(value: str) -> str:
    return value


def _na(what: str, brackets: bool = False) -> Callable[[str], NameAddr]:
    return lambda value: NameAddr.parse(value, what, require_brackets=brackets)


# --- the registry ---------------------------------------------------------------------------
@dataclass(frozen=True)
class HeaderSpec:
    """How one header is read and written (see the module docstring)."""

    name: str
    parse: Callable[[str], Any] = _parse_raw
    serialize: Callable[[Any], str] = str
    compact: str | None = None
    multi: bool = False
    single: bool = False
    check: re.Pattern[str] | None = None


def _list_check(element: str) -> re.Pattern[str]:
    return re.compile(element + r"(?:[ \t]*,[ \t]*" + element + ")*")


_TOKEN_LIST = _list_check(g.TOKEN)
_UINT = re.compile(r"[0-9]{1,9}")
_NAME_ADDR_CHECK = re.compile(FAST_NAME_ADDR)
_NAME_ADDR_LIST_CHECK = _list_check(FAST_NAME_ADDR)
#: Via params whose values need more than a token check, and a valueless branch, send the
#: value to the full reader.
_VIA_LIST_CHECK = re.compile(r"(?!.*;[ \t]*(?:(?i:received|ttl|maddr)|(?i:rport)[ \t]*=|(?i:branch)"
                             r"[ \t]*(?:[;,]|$)))" + _list_check(FAST_VIA).pattern)
_CALLID_CHECK = re.compile(g.CALLID)
_CSEQ_CHECK = re.compile(r"[0-9]{1,9} " + g.TOKEN)
_MEDIA_CHECK = re.compile(r"[A-Za-z0-9\-.+_]+/[A-Za-z0-9\-.+_]+(?:;[A-Za-z0-9\-._]+=[A-Za-z0-9\-._]+)*")


def _spec(name: str, parse: Callable[[str], Any] = _parse_raw, serialize: Callable[[Any], str] = str,
          compact: str | None = None, multi: bool = False, single: bool = False,
          check: re.Pattern[str] | None = None) -> HeaderSpec:
    return HeaderSpec(name, parse, serialize, compact, multi, single, check)


_SPECS = [
    _spec("Via", Via.parse, compact="v", multi=True, check=_VIA_LIST_CHECK),
    _spec("From", _na("From"), compact="f", single=True, check=_NAME_ADDR_CHECK),
    _spec("To", _na("To"), compact="t", single=True, check=_NAME_ADDR_CHECK),
    _spec("Call-ID", _parse_call_id, compact="i", single=True, check=_CALLID_CHECK),
    _spec("CSeq", _parse_cseq, single=True, check=_CSEQ_CHECK),
    _spec("Max-Forwards", lambda v: _uint(v, "Max-Forwards", 255), single=True),
    _spec("Content-Length", lambda v: _uint(v, "Content-Length"), compact="l", single=True,
          check=_UINT),
    _spec("Content-Type", _parse_media_type, compact="c", single=True, check=_MEDIA_CHECK),
    _spec("Contact", _parse_contact, compact="m", multi=True, check=_NAME_ADDR_LIST_CHECK),
    _spec("Route", _na("Route", True), multi=True, check=_NAME_ADDR_LIST_CHECK),
    _spec("Record-Route", _na("Record-Route", True), multi=True, check=_NAME_ADDR_LIST_CHECK),
    _spec("Path", _na("Path", True), multi=True),
    _spec("Service-Route", _na("Service-Route", True), multi=True),
    _spec("Reply-To", _na("Reply-To"), single=True),
    _spec("Refer-To", _na("Refer-To"), compact="r", single=True),
    _spec("Referred-By", _na("Referred-By"), compact="b", single=True),
    _spec("P-Asserted-Identity", _na("P-Asserted-Identity"), multi=True),
    _spec("P-Preferred-Identity", _na("P-Preferred-Identity"), multi=True),
    _spec("Expires", lambda v: _uint(v, "Expires", clamp=True), single=True),
    _spec("Min-Expires", lambda v: _uint(v, "Min-Expires", clamp=True), single=True),
    _spec("Allow", _parse_token, multi=True, check=_TOKEN_LIST),
    _spec("Supported", _parse_token, compact="k", multi=True, check=_TOKEN_LIST),
    _spec("Require", _parse_token, multi=True, check=_TOKEN_LIST),
    _spec("Proxy-Require", _parse_token, multi=True, check=_TOKEN_LIST),
    _spec("Unsupported", _parse_token, multi=True, check=_TOKEN_LIST),
    _spec("Allow-Events", _parse_token, compact="u", multi=True, check=_TOKEN_LIST),
    _spec("Accept", _parse_media_type, multi=True),
    _spec("Accept-Encoding", multi=True),
    _spec("Accept-Language", multi=True),
    _spec("Content-Encoding", multi=True, compact="e"),
    _spec("Content-Language", multi=True),
    _spec("Content-Disposition", single=True),
    _spec("Event", _parse_event, compact="o", single=True),
    _spec("Subscription-State", _parse_substate, single=True),
    _spec("RSeq", lambda v: _uint(v, "RSeq", 2**31 - 1), single=True),
    _spec("RAck", _parse_rack, single=True),
    _spec("Date", _parse_date, _format_date, single=True),
    _spec("Warning", _parse_warning, multi=True),
    _spec("Retry-After", _parse_retry_after, single=True),
    _spec("Call-Info", multi=True),
    _spec("Alert-Info", multi=True),
    _spec("Error-Info", multi=True),
    _spec("In-Reply-To", multi=True),
    _spec("Reason", multi=True),
    _spec("Authorization"),
    _spec("Proxy-Authorization"),
    _spec("WWW-Authenticate"),
    _spec("Proxy-Authenticate"),
    _spec("Authentication-Info"),
    _spec("Subject", compact="s"),
    _spec("User-Agent"),
    _spec("Server"),
    _spec("Organization"),
    _spec("Priority"),
    _spec("Timestamp"),
    _spec("MIME-Version"),
    _spec("Session-Expires", compact="x"),
    _spec("Identity", compact="y"),
    _spec("Identity-Info", compact="n"),
    _spec("Accept-Contact", compact="a"),
    _spec("Reject-Contact", compact="j"),
    _spec("Request-Disposition", compact="d"),
    _spec("Content-Transfer-Encoding"),
]

#: Canonical name -> spec.
REGISTRY: dict[str, HeaderSpec] = {s.name: s for s in _SPECS}
#: Compact form -> canonical name (RFC 3261 7.3.3 and the extensions that define one).
COMPACT_FORMS: dict[str, str] = {s.compact: s.name for s in _SPECS if s.compact}
_BY_LOWER: dict[str, str] = {s.name.lower(): s.name for s in _SPECS}
_BY_LOWER.update(COMPACT_FORMS)
_BY_LOWER.update({k.upper(): v for k, v in COMPACT_FORMS.items()})
#: Exact spellings seen on the wire -> canonical name (no lower() on the common path).
_EXACT: dict[str, str] = dict(_BY_LOWER)
_EXACT.update({s.name: s.name for s in _SPECS})
_EXACT.update({s.name.lower(): s.name for s in _SPECS})


def canonical_name(name: str) -> str:
    """Canonical spelling of a header name: compact forms expanded, known names in their
    RFC capitalisation, unknown names as given."""
    c = _EXACT.get(name)
    if c is not None:
        return c
    return _BY_LOWER.get(name.lower(), name)


def compact_name(name: str) -> str:
    """The compact form of ``name`` if it has one, else its canonical name."""
    spec = REGISTRY.get(canonical_name(name))
    return spec.compact if spec is not None and spec.compact else canonical_name(name)


def get_spec(name: str) -> HeaderSpec | None:
    """The registry entry for ``name`` (any spelling), or None for unknown headers."""
    return REGISTRY.get(canonical_name(name))


def is_list_header(name: str) -> bool:
    """True if the header's value is a comma-separated list of elements."""
    spec = REGISTRY.get(canonical_name(name))
    return spec is not None and spec.multi


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value into elements (quotes and ``<>`` respected).

    Empty elements are kept (as ``""``) so that readers can reject them.
    """
    if "," not in value:
        return [value.strip(" \t")]
    out = []
    pos, n = 0, len(value)
    match = g.LIST_ELEMENT_RE.match
    while True:
        end = match(value, pos).end()
        if end < n and value[end] != ",":
            out.append(value[pos:].strip(" \t"))  # unterminated quote or '<': one element
            break
        out.append(value[pos:end].strip(" \t"))
        if end >= n:
            break
        pos = end + 1
    return out


# --- the ordered, case-insensitive multi-dict ---------------------------------------------------
class Headers:
    """Header fields in order, with case-insensitive lookup keeping every value.

    Items are ``(canonical name, raw value)`` pairs, one per header field line as
    received (or as added). :meth:`get_all` splits list headers at commas, so
    ``get_all("Via")`` gives every via-parm whether they came on one line or several.
    """

    __slots__ = ("_items", "_version")

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = items if items is not None else []
        self._version = 0

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = canonical_name(name).lower()
        return any(n.lower() == key for n, _ in self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def items(self) -> list[tuple[str, str]]:
        """A copy of the ``(name, value)`` list."""
        return list(self._items)

    def lines(self, name: str) -> list[str]:
        """The raw value of every header field line called ``name`` (no comma splitting)."""
        key = canonical_name(name)
        if key in REGISTRY:
            return [v for n, v in self._items if n == key]
        low = key.lower()
        return [v for n, v in self._items if n.lower() == low]

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``: list headers split into their elements."""
        lines = self.lines(name)
        if lines and is_list_header(name):
            out: list[str] = []
            for v in lines:
                out += split_list(v)
            return out
        return lines

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` (first element for list headers) or ``default``."""
        values = self.get_all(name)
        return values[0] if values else default

    def add(self, name: str, value: str, first: bool = False) -> None:
        """Append (or with ``first``, prepend) a header field line."""
        _check_value(value)
        item = (canonical_name(name), value)
        if first:
            self._items.insert(0, item)
        else:
            self._items.append(item)
        self._version += 1

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` line by one line (in place of the first, else appended)."""
        _check_value(value)
        key = canonical_name(name)
        low = key.lower()
        out: list[tuple[str, str]] = []
        done = False
        for n, v in self._items:
            if n.lower() == low:
                if not done:
                    out.append((key, value))
                    done = True
            else:
                out.append((n, v))
        if not done:
            out.append((key, value))
        self._items = out
        self._version += 1

    def remove(self, name: str) -> int:
        """Remove every ``name`` line; returns how many were removed."""
        low = canonical_name(name).lower()
        before = len(self._items)
        self._items = [(n, v) for n, v in self._items if n.lower() != low]
        self._version += 1
        return before - len(self._items)

    def copy(self) -> Headers:
        """An independent copy."""
        return Headers(list(self._items))


def _check_value(value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError("header values must not contain CR or LF")
