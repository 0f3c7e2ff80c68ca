"""name-addr / addr-spec header values: From, To, Contact, Route, Record-Route, ...

``NameAddr.parse`` reads one element (``"Display" <uri>;p=v`` or ``uri;p=v``) of such a
header (RFC 3261 20.10, 20.20, 20.39): quoted display names with ``\\`` escapes, token
display names, parameters after an addr-spec that is not in angle brackets (header
parameters, never uri-parameters). ``str()`` writes the canonical form: display name
always quoted, URI always in ``<>``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import grammar as g
from .errors import ParseError
from .uri import FAST_SIP_URI, FAST_SIP_URI_BARE_NO_COMMA, Uri, parse_uri

__all__ = ["NameAddr", "FAST_NAME_ADDR", "SIMPLE_PARAMS", "parse_params", "format_params", "quote", "unquote", "STAR"]

_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.S)
_TOKEN_RE = re.compile(g.TOKEN)
_HOST_OR_TOKEN_RE = re.compile(r"(?:" + g.TOKEN + "|" + g.HOST + "|" + g.IPV6ADDRESS + ")")
_NEEDS_ESCAPE_RE = re.compile('["\\\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')

#: The ``*`` Contact value (REGISTER removing all bindings).
STAR = "*"


def unquote(text: str) -> str:
    """Strip the quotes of a quoted-string and resolve its quoted-pairs."""
    inner = text[1:-1]
    return _QUOTED_PAIR_RE.sub(r"\1", inner) if "\\" in inner else inner


def quote(text: str) -> str:
    """Make a quoted-string of ``text`` (CR and LF cannot be carried and become SP)."""
    text = text.replace("\r", " ").replace("\n", " ")
    if _NEEDS_ESCAPE_RE.search(text):
        text = _NEEDS_ESCAPE_RE.sub(lambda m: "\\" + m.group(), text)
    return f'"{text}"'


_PARAMS_RE = re.compile(r"(?:" + g.SEMI + g.GENERIC_PARAM + r")*" + g.SWS)
_PARAM_ITER_RE = re.compile(g.SEMI + "(" + g.TOKEN + ")(?:" + g.EQUAL + "(" + g.GEN_VALUE + "))?"
                            + "(?=" + g.SWS + "(?:;|$))")


_TOKEN_CHARS = r"[A-Za-z0-9\-.!%*_+`'~]+"
#: Parameters without whitespace, quotes or IPv6 values: split without the full grammar.
SIMPLE_PARAMS = r"(?:;" + _TOKEN_CHARS + "(?:=" + _TOKEN_CHARS + ")?)*"
_SIMPLE_PARAMS_RE = re.compile(SIMPLE_PARAMS)


def parse_params(text: str, what: str) -> dict[str, str | None]:
    """Parse ``*( SEMI generic-param )``; quoted values are returned unquoted."""
    if not text:
        return {}
    if _SIMPLE_PARAMS_RE.fullmatch(text):
        params: dict[str, str | None] = {}
        for item in text[1:].split(";"):
            name, eq, value = item.partition("=")
            params[name] = value if eq else None
        return params
    if _PARAMS_RE.fullmatch(text) is None:
        if re.search(r";" + g.SWS + r"(?:;|$)", text):
            raise ParseError(f"empty parameter in {what}")
        if '"' in text and not re.search(g.QUOTED_STRING, text):
            raise ParseError(f"unterminated quoted string in {what} parameter")
        raise ParseError(f"malformed parameters in {what}")
    params = {}
    for m in _PARAM_ITER_RE.finditer(text):
        value = m.group(2)
        if value is not None and value.startswith('"'):
            value = unquote(value)
        params[m.group(1)] = value
    return params


def format_params(params: dict[str, str | None]) -> str:
    """Serialise parameters as ``;name=value`` (values quoted unless token or host)."""
    out = []
    for k, v in params.items():
        if v is None:
            out.append(f";{k}")
        elif v and _HOST_OR_TOKEN_RE.fullmatch(v):
            out.append(f";{k}={v}")
        else:
            out.append(f";{k}={quote(v)}")
    return "".join(out)


_NAME_ADDR_RE = re.compile(
    r"(?:(?P<q>" + g.QUOTED_STRING + r")|(?P<t>" + g.TOKEN + r"(?:" + g.LWS + g.TOKEN + r")*))?"
    + g.LAQUOT + r"(?P<uri>[^<>]*)>(?P<rest>.*)", re.S)
#: ``Display Name <sip:user@host;p>;tag=x`` or ``sip:user@host;tag=x`` in their plain
#: shapes (no escapes, no extra whitespace): anything this matches parses.
_QUOTED_PLAIN = r'"[^"\\\x00-\x1f\x7f]*"'
_TOKENS_PLAIN = _TOKEN_CHARS + "(?: " + _TOKEN_CHARS + ")*"
#: The same shape without capturing groups (for list checks).
FAST_NAME_ADDR = ("(?:(?:" + _QUOTED_PLAIN + " ?|" + _TOKENS_PLAIN + " ?)?<" + FAST_SIP_URI + ">|"
                  + FAST_SIP_URI_BARE_NO_COMMA + ")" + SIMPLE_PARAMS)
_FAST_NAME_ADDR_CAPTURE = ('(?:(?:"([^"\\\x00-\x1f\x7f]*)" ?|(' + _TOKENS_PLAIN + ") ?)?<(" + FAST_SIP_URI
                           + ")>|(" + FAST_SIP_URI_BARE_NO_COMMA + "))(" + SIMPLE_PARAMS + ")")
_FAST_NAME_ADDR_RE = re.compile(_FAST_NAME_ADDR_CAPTURE)
_ADDR_SPEC_RE = re.compile(r"(?P<uri>[^;]*)(?P<rest>.*)", re.S)


def _diagnose(value: str, what: str) -> ParseError:
    if value.startswith('"') and not g.QUOTED_STRING_RE.match(value):
        return ParseError(f"unterminated quoted string in display name of {what}")
    if "<" in value and ">" not in value:
        return ParseError(f"missing '>' after addr-spec in {what}")
    lt = value.find("<")
    if lt > 0:
        name = value[:lt].strip(" \t")
        if name and not name.startswith('"'):
            return ParseError(f"display name of {what} has non-token characters and is not quoted")
    return ParseError(f"malformed {what} header value")


@dataclass(eq=False)
class NameAddr:
    """An address with optional display name and header parameters.

    ``display_name`` is None when absent, else the unquoted, unescaped text.
    ``params`` maps header-parameter names (as written) to values (None if valueless).
    """

    uri: Uri
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: str, what: str = "address", require_brackets: bool = False) -> NameAddr:
        """Parse one ``( name-addr / addr-spec ) *( SEMI generic-param )`` element."""
        value = value.strip(" \t")
        f = _FAST_NAME_ADDR_RE.fullmatch(value)
        if f is not None:
            quoted, tokens, uri_text, bare, rest = f.groups()
            return cls(parse_uri(uri_text or bare), quoted if quoted is not None else tokens,
                       parse_params(rest, what) if rest else {})
        m = _NAME_ADDR_RE.fullmatch(value)
        if m is not None:
            uri_text = m.group("uri")
            if uri_text != uri_text.strip(" \t"):
                raise ParseError(f"whitespace inside <> around the addr-spec of {what}")
            q = m.group("q")
            if q is not None:
                display: str | None = unquote(q)
            else:
                t = m.group("t")
                display = " ".join(t.split()) if t else None
        else:
            if "<" in value or value.startswith('"') or require_brackets:
                raise _diagnose(value, what)
            m = _ADDR_SPEC_RE.fullmatch(value)
            assert m is not None
            uri_text = m.group("uri").rstrip(" \t")
            if any(c in uri_text for c in "?, \t"):
                if "?" in uri_text:
                    raise ParseError(f"URI with headers in {what} must be enclosed in <>")
                raise _diagnose(value, what)
            display = None
        if not uri_text:
            raise ParseError(f"empty URI in {what}")
        uri = parse_uri(uri_text)
        rest = m.group("rest")
        params = parse_params(rest, what) if rest else {}
        return cls(uri, display, params)

    def param(self, name: str, default: str | None = None) -> str | None:
        """Header parameter ``name`` (case-insensitive) or ``default``."""
        return g.find_param(self.params, name, default)

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter (From/To) or None."""
        return self.param("tag")

    @property
    def expires(self) -> int | None:
        """The Contact ``expires`` parameter (clamped to 2**32-1), or None."""
        v = self.param("expires")
        if v is None or not v.isdigit():
            return None
        return min(int(v), 2**32 - 1)

    @property
    def q(self) -> float | None:
        """The Contact ``q`` parameter or None."""
        v = self.param("q")
        try:
            return float(v) if v is not None else None
        except ValueError:
            return None

    def with_tag(self, tag: str) -> NameAddr:
        """A copy with the ``tag`` parameter set."""
        params = {k: v for k, v in self.params.items() if k.lower() != "tag"}
        params["tag"] = tag
        return NameAddr(self.uri, self.display_name, params)

    def __str__(self) -> str:
        head = f"{quote(self.display_name)} " if self.display_name is not None else ""
        return f"{head}<{self.uri}>{format_params(self.params)}"

    def __repr__(self) -> str:
        return f"NameAddr({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NameAddr):
            return NotImplemented
        return (self.uri == other.uri and self.display_name == other.display_name
                and {k.lower(): v for k, v in self.params.items()}
                == {k.lower(): v for k, v in other.params.items()})

    __hash__ = None  # type: ignore[assignment]
