"""SIP, SIPS and tel URIs: parsing, canonical serialisation, RFC 3261 19.1.4 comparison.

``parse_uri(text)`` returns a :class:`SipUri` for ``sip:``/``sips:``, a :class:`TelUri`
for ``tel:`` (RFC 3966) and an :class:`AbsoluteUri` for any other scheme (so a
Request-URI such as ``soap.beep://...`` parses, and the application decides to
answer 416). Components are stored *unescaped* (``%75se%72`` is ``user``);
``str()`` re-escapes canonically, so ``parse_uri(str(u)) == u`` always holds.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Union

from . import grammar as g
from .errors import ParseError

__all__ = [
    "SipUri", "TelUri", "AbsoluteUri", "Uri", "parse_uri", "parse_sip_uri",
    "escape", "unescape", "FAST_SIP_URI", "FAST_SIP_URI_BARE", "FAST_SIP_URI_BARE_NO_COMMA", "USER_SAFE", "PASSWORD_SAFE", "PARAM_SAFE", "HEADER_SAFE",
]

_UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()"
#: Characters left as they are in each component when serialising (RFC 3261 25.1).
USER_SAFE = frozenset(_UNRESERVED + "&=+$,;?/")
PASSWORD_SAFE = frozenset(_UNRESERVED + "&=+$,")
PARAM_SAFE = frozenset(_UNRESERVED + "[]/:&+$")
HEADER_SAFE = frozenset(_UNRESERVED + "[]/?:+$")

_ESCAPE_RE = re.compile(r"%([0-9A-Fa-f]{2})")


def unescape(text: str) -> str:
    """Undo ``% HEX HEX`` escapes once (never recursively, RFC 3986 2.4).

    Octets are decoded as UTF-8; invalid sequences are kept as surrogate escapes so
    that :func:`escape` restores the exact octets.
    """
    if "%" not in text:
        return text
    out = bytearray()
    pos = 0
    for m in _ESCAPE_RE.finditer(text):
        out += text[pos:m.start()].encode("utf-8", "surrogateescape")
        out.append(int(m.group(1), 16))
        pos = m.end()
    out += text[pos:].encode("utf-8", "surrogateescape")
    return out.decode("utf-8", "surrogateescape")


def escape(text: str, safe: frozenset[str]) -> str:
    """Percent-escape every character of ``text`` not in ``safe`` (UTF-8 octets)."""
    for ch in text:
        if ch not in safe:
            break
    else:
        return text
    out = []
    for ch in text:
        if ch in safe:
            out.append(ch)
        else:
            out.extend("%%%02X" % b for b in ch.encode("utf-8", "surrogateescape"))
    return "".join(out)


def _host_key(host: str) -> str:
    """Comparison key of a host: case-folded; IPv6 references in compressed form."""
    if host.startswith("["):
        try:
            return "[" + ipaddress.IPv6Address(host[1:-1]).compressed + "]"
        except ValueError:
            pass
    return host.lower()


_CASELESS_PARAMS = frozenset({"transport", "user", "method", "ttl", "maddr", "lr"})


@dataclass(eq=False)
class SipUri:
    """A ``sip:`` or ``sips:`` URI (RFC 3261 19.1).

    ``params`` keeps uri-parameters in order with their names as written (look them
    up case-insensitively with :meth:`param`); a parameter without value maps to
    None. ``headers`` is the ordered list of ``?name=value`` pairs.
    """

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: list[tuple[str, str]] = field(default_factory=list)
    scheme: str = "sip"

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse a SIP or SIPS URI; raises :class:`ParseError` on bad syntax."""
        return parse_sip_uri(text)

    def param(self, name: str, default: str | None = None) -> str | None:
        """Value of uri-parameter ``name`` (case-insensitive); ``default`` if absent."""
        return g.find_param(self.params, name, default)

    def has_param(self, name: str) -> bool:
        """True if uri-parameter ``name`` is present (with or without a value)."""
        name = name.lower()
        return any(k.lower() == name for k in self.params)

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter, lower-cased, or None."""
        v = self.param("transport")
        return v.lower() if v else None

    @property
    def lr(self) -> bool:
        """True for a loose-routing URI (``;lr``)."""
        return self.has_param("lr")

    @property
    def maddr(self) -> str | None:
        """The ``maddr`` parameter or None."""
        return self.param("maddr")

    @property
    def secure(self) -> bool:
        """True for ``sips:``."""
        return self.scheme == "sips"

    @property
    def hostport(self) -> str:
        """``host[:port]`` as it would be serialised."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def copy(self, **changes: object) -> SipUri:
        """A copy with some fields replaced (params/headers copied, not shared)."""
        fields = dict(host=self.host, user=self.user, password=self.password, port=self.port,
                      params=dict(self.params), headers=list(self.headers), scheme=self.scheme)
        fields.update(changes)
        return SipUri(**fields)  # type: ignore[arg-type]

    def __str__(self) -> str:
        parts = [self.scheme, ":"]
        if self.user:
            parts.append(escape(self.user, USER_SAFE))
            if self.password is not None:
                parts += [":", escape(self.password, PASSWORD_SAFE)]
            parts.append("@")
        parts.append(self.host)
        if self.port is not None:
            parts.append(f":{self.port}")
        for k, v in self.params.items():
            parts += [";", escape(k, PARAM_SAFE)]
            if v is not None:
                parts += ["=", escape(v, PARAM_SAFE)]
        if self.headers:
            parts.append("?")
            parts.append("&".join(escape(n, HEADER_SAFE) + "=" + escape(v, HEADER_SAFE)
                                  for n, v in self.headers))
        return "".join(parts)

    def __repr__(self) -> str:
        return f"SipUri({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        """URI equivalence per RFC 3261 19.1.4."""
        if not isinstance(other, SipUri):
            return NotImplemented
        if (self.scheme != other.scheme or (self.user or None) != (other.user or None)
                or self.password != other.password or self.port != other.port
                or _host_key(self.host) != _host_key(other.host)):
            return False
        mine = {k.lower(): v for k, v in self.params.items()}
        theirs = {k.lower(): v for k, v in other.params.items()}
        for k in mine.keys() & theirs.keys():
            a, b = mine[k], theirs[k]
            if k in _CASELESS_PARAMS and a is not None and b is not None:
                a, b = a.lower(), b.lower()
            if a != b:
                return False
        for k in ("user", "ttl", "method", "maddr", "transport"):
            if (k in mine) != (k in theirs):
                return False
        return ({(n.lower(), v) for n, v in self.headers}
                == {(n.lower(), v) for n, v in other.headers})

    def __hash__(self) -> int:
        return hash((self.scheme, self.user or None, self.password, self.port,
                     _host_key(self.host)))


@dataclass(eq=False)
class TelUri:
    """A ``tel:`` URI (RFC 3966): ``number`` as written (``+1-201-555-0123`` or a local
    number) and its parameters in order (``phone-context``, ``ext``, ``isub``, ...)."""

    number: str
    params: dict[str, str | None] = field(default_factory=dict)
    scheme: str = "tel"

    @property
    def is_global(self) -> bool:
        """True for a global number (starts with ``+``)."""
        return self.number.startswith("+")

    @property
    def phone_context(self) -> str | None:
        """The ``phone-context`` parameter of a local number, or None."""
        return self.param("phone-context")

    @property
    def digits(self) -> str:
        """The number without visual separators (``-``, ``.``, ``(``, ``)``)."""
        return re.sub(r"[\-.()]", "", self.number)

    def param(self, name: str, default: str | None = None) -> str | None:
        """Value of parameter ``name`` (case-insensitive)."""
        return g.find_param(self.params, name, default)

    def __str__(self) -> str:
        out = ["tel:", self.number]
        for k, v in self.params.items():
            out += [";", k]
            if v is not None:
                out += ["=", escape(v, PARAM_SAFE)]
        return "".join(out)

    def __repr__(self) -> str:
        return f"TelUri({str(self)!r})"

    def _key(self) -> tuple[str, frozenset[tuple[str, str | None]]]:
        return (self.digits.lower(),
                frozenset((k.lower(), v.lower() if v is not None else None)
                          for k, v in self.params.items()))

    def __eq__(self, other: object) -> bool:
        """Equivalence per RFC 3966 section 4 (separators ignored, parameters unordered)."""
        if not isinstance(other, TelUri):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass(frozen=True)
class AbsoluteUri:
    """A URI of a scheme this stack does not interpret (``http:``, ``urn:``, ``isbn:``...).

    ``scheme`` is lower-cased; ``rest`` is everything after the first colon, verbatim.
    """

    scheme: str
    rest: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


Uri = Union[SipUri, TelUri, AbsoluteUri]

_SIP_URI_RE = re.compile(
    r"(?P<scheme>[Ss][Ii][Pp][Ss]?):"
    r"(?:(?P<user>" + g.USER + r")(?::(?P<password>" + g.PASSWORD + r"))?@)?"
    r"(?P<host>" + g.HOST + r")(?::(?P<port>" + g.PORT + r"))?"
    r"(?P<params>(?:;" + g.URI_PARAMETER + r")*)"
    r"(?:\?(?P<headers>" + g.HNAME + "=" + g.HVALUE + "(?:&" + g.HNAME + "=" + g.HVALUE + r")*))?")
_TEL_URI_RE = re.compile(
    r"[Tt][Ee][Ll]:(?P<number>" + g.TEL_GLOBAL_NUMBER_DIGITS + "|" + g.TEL_LOCAL_NUMBER_DIGITS + ")"
    r"(?P<params>(?:;" + g.TEL_PNAME + "(?:=" + g.TEL_PVALUE + r")?)*)")
_ABS_URI_RE = re.compile(r"(?P<scheme>" + g.SCHEME + r"):(?P<rest>[A-Za-z0-9\-_.!~*'();/?:@&=+$,%#\[\]]+)")
#: The common shape (plain user, host name or IPv4 address, plain parameters): one quick
#: match before the full grammar, which also handles escapes, passwords, IPv6, headers.
#: Whatever it matches is a valid SIP URI (octets and port range-checked), so header
#: readers use it as a cheap validity check.
FAST_SIP_URI_BARE = (r"[Ss][Ii][Pp][Ss]?:(?:[A-Za-z0-9\-_.!~*'()&=+$,]++@)?(?:" + g.HOSTNAME_FAST + "|"
                     + g.IPV4_STRICT + r")(?::" + g.PORT_STRICT + r")?")
#: The same outside angle brackets, where a comma separates list elements (RFC 3261 20.10:
#: a URI containing a comma must be enclosed in <>), so the user part may not contain one.
FAST_SIP_URI_BARE_NO_COMMA = (r"[Ss][Ii][Pp][Ss]?:(?:[A-Za-z0-9\-_.!~*'()&=+$]++@)?(?:" + g.HOSTNAME_FAST + "|"
                              + g.IPV4_STRICT + r")(?::" + g.PORT_STRICT + r")?")
FAST_SIP_URI = (FAST_SIP_URI_BARE + r"(?:;[A-Za-z0-9\-_.!~*'()\[\]/:&+$]+(?:=[A-Za-z0-9\-_.!~*'()\[\]/:&+$]+)?)*")
_FAST_SIP_URI_RE = re.compile(
    r"([Ss][Ii][Pp][Ss]?):(?:([A-Za-z0-9\-_.!~*'()&=+$,]++)@)?(" + g.HOSTNAME_FAST + "|" + g.IPV4_STRICT
    + r")(?::(" + g.PORT_STRICT + r"))?((?:;[A-Za-z0-9\-_.!~*'()\[\]/:&+$]+(?:=[A-Za-z0-9\-_.!~*'()\[\]/:&+$]+)?)*)")
_IPV4_RE = re.compile(g.IPV4ADDRESS)


def _split_params(text: str) -> dict[str, str | None]:
    """``;a=b;c`` -> {"a": "b", "c": None}, names and values unescaped."""
    params: dict[str, str | None] = {}
    if "%" not in text:
        for item in text[1:].split(";"):
            name, eq, value = item.partition("=")
            params[name] = value if eq else None
        return params
    for item in text[1:].split(";"):
        name, eq, value = item.partition("=")
        params[unescape(name)] = unescape(value) if eq else None
    return params


def _check_host(host: str) -> None:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ParseError(f"invalid IPv6 reference {host!r}") from None
    elif _IPV4_RE.fullmatch(host) and any(int(o) > 255 for o in host.split(".")):
        raise ParseError(f"invalid IPv4 address {host!r}")


def _diagnose_sip_uri(text: str) -> ParseError:
    """A specific error for a SIP URI the grammar rejected."""
    if any(c in text for c in " \t"):
        return ParseError("whitespace inside SIP URI")
    if text.startswith("<"):
        return ParseError("URI enclosed in <> where an addr-spec is required")
    rest = text.partition(":")[2]
    if "@" in rest.partition(";")[0] and not re.match(g.USER + "@", rest) and not re.match(
            g.USER + ":" + g.PASSWORD + "@", rest):
        return ParseError("invalid characters in user part of SIP URI")
    return ParseError(f"malformed SIP URI {text[:80]!r}")


def parse_sip_uri(text: str) -> SipUri:
    """Parse ``sip:``/``sips:`` text into a :class:`SipUri` (raises :class:`ParseError`)."""
    m = _FAST_SIP_URI_RE.fullmatch(text)
    if m is not None:
        scheme, user, host, port, params = m.groups()
        return SipUri(host, user, None, int(port) if port is not None else None, _split_params(params) if params else {}, [],
                      scheme.lower())
    m = _SIP_URI_RE.fullmatch(text)
    if m is None:
        raise _diagnose_sip_uri(text)
    scheme, user, password, host, port, params, headers = m.group(
        "scheme", "user", "password", "host", "port", "params", "headers")
    if host[0] in "[0123456789":
        _check_host(host)
    port_num = None
    if port is not None:
        port_num = int(port)
        if port_num > 65535:
            raise ParseError(f"port {port} out of range in SIP URI")
    hdrs: list[tuple[str, str]] = []
    if headers:
        for item in headers.split("&"):
            n, _, v = item.partition("=")
            hdrs.append((unescape(n), unescape(v)))
    return SipUri(host=host, user=unescape(user) if user is not None else None,
                  password=unescape(password) if password is not None else None,
                  port=port_num, params=_split_params(params) if params else {},
                  headers=hdrs, scheme=scheme.lower())


def parse_tel_uri(text: str) -> TelUri:
    """Parse a ``tel:`` URI (RFC 3966); a local number needs ``phone-context``."""
    m = _TEL_URI_RE.fullmatch(text)
    if m is None:
        raise ParseError(f"malformed tel URI {text[:80]!r}")
    params = _split_params(m.group("params")) if m.group("params") else {}
    uri = TelUri(number=m.group("number"), params=params)
    if not uri.is_global and uri.phone_context is None:
        raise ParseError("local tel URI without phone-context")
    return uri


def parse_uri(text: str) -> Uri:
    """Parse any URI: :class:`SipUri`, :class:`TelUri` or :class:`AbsoluteUri`.

    Raises :class:`ParseError` when ``text`` is not a URI at all (no scheme, spaces,
    ``<...>`` around it) or when a ``sip``/``sips``/``tel`` URI breaks its grammar.
    """
    head = text[:5].lower()
    if head.startswith("sip:") or head == "sips:":
        return parse_sip_uri(text)
    if head.startswith("tel:"):
        return parse_tel_uri(text)
    m = _ABS_URI_RE.fullmatch(text)
    if m is None:
        if text.startswith("<") and text.endswith(">"):
            raise ParseError("URI enclosed in <> where an addr-spec is required")
        if any(c in text for c in " \t"):
            raise ParseError("whitespace inside URI")
        raise ParseError(f"malformed URI {text[:80]!r}")
    return AbsoluteUri(m.group("scheme").lower(), m.group("rest"))
