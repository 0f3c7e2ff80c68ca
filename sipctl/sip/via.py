"""The Via header field value (RFC 3261 20.42, RFC 3581 ``rport``).

``Via.parse`` reads one via-parm; a header line with several comma-separated
via-parms is split by the header registry first.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from . import grammar as g
from .addr import SIMPLE_PARAMS, format_params, parse_params
from .errors import ParseError

__all__ = ["Via", "MAGIC_COOKIE", "FAST_VIA"]

#: RFC 3261 8.1.1.7: branch IDs of RFC 3261 elements start with this.
MAGIC_COOKIE = "z9hG4bK"

_VIA_RE = re.compile(
    r"(?P<proto>" + g.TOKEN + ")" + g.SLASH + "(?P<version>" + g.TOKEN + ")" + g.SLASH
    + "(?P<transport>" + g.TOKEN + ")" + g.LWS + "(?P<host>" + g.HOST + ")"
    + r"(?:" + g.SWS + ":" + g.SWS + "(?P<port>" + g.PORT + "))?(?P<params>.*)", re.S)
_IPV4_RE = re.compile(g.IPV4ADDRESS)
#: ``SIP/2.0/UDP host:port;branch=...`` without extra whitespace or quoted values.
#: Anything it matches parses (the fast path of :meth:`Via.parse` re-checks nothing costly).
_TRANSPORT = r"[A-Za-z0-9\-.!%*_+`'~]+"
_SENT_HOST = "(?:" + g.HOSTNAME_FAST + "|" + g.IPV4_STRICT + ")"
FAST_VIA = "SIP/2\\.0/" + _TRANSPORT + " " + _SENT_HOST + "(?::" + g.PORT_STRICT + ")?" + SIMPLE_PARAMS
_FAST_VIA_CAPTURE = ("SIP/2\\.0/(" + _TRANSPORT + ") (" + _SENT_HOST + ")(?::(" + g.PORT_STRICT + "))?("
                     + SIMPLE_PARAMS + ")")
_FAST_VIA_RE = re.compile(_FAST_VIA_CAPTURE)
_SPECIAL = frozenset({"received", "rport", "ttl", "maddr"})


def _check_address(value: str, what: str) -> None:
    host = value[1:-1] if value.startswith("[") else value
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ParseError(f"Via {what} is not an IP address") from None


@dataclass(eq=False)
class Via:
    """One via-parm: ``SIP/2.0/UDP host:port;branch=...;received=...;rport``.

    ``transport`` is upper-cased; ``params`` keeps via-params in order (valueless -> None).
    """

    host: str
    port: int | None = None
    transport: str = "UDP"
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP"
    version: str = "2.0"

    @classmethod
    def parse(cls, value: str) -> Via:
        """Parse one via-parm (raises :class:`ParseError`)."""
        value = value.strip(" \t")
        f = _FAST_VIA_RE.fullmatch(value)
        if f is not None:
            transport, host, port, rest = f.groups()
            via = cls(host, int(port) if port is not None else None, transport.upper(), parse_params(rest, "Via") if rest else {})
            if len(via.params) != 1 or via.params.get("branch") is None:
                via._check_params()
            return via
        if not value:
            raise ParseError("empty element in Via header")
        m = _VIA_RE.fullmatch(value)
        if m is None:
            if value.count("/") < 2:
                raise ParseError("Via without sent-protocol")
            raise ParseError("malformed Via sent-by")
        port = m.group("port")
        port_num = int(port) if port is not None else None
        if port_num is not None and port_num > 65535:
            raise ParseError("Via port out of range")
        host = m.group("host")
        if host[0] == "[" or (host[-1].isdigit() and _IPV4_RE.fullmatch(host)):
            _check_address(host, "sent-by host")
        params = parse_params(m.group("params"), "Via")
        via = cls(host, port_num, m.group("transport").upper(), params,
                  m.group("proto"), m.group("version"))
        via._check_params()
        return via

    def _check_params(self) -> None:
        for name, value in self.params.items():
            key = name.lower()
            if key == "received":
                if value is None:
                    raise ParseError("Via received parameter without value")
                _check_address(value, "received parameter")
            elif key == "rport":
                if value is not None and (not value.isdigit() or int(value) > 65535):
                    raise ParseError("Via rport parameter is not a port number")
            elif key == "ttl":
                if value is None or not value.isdigit() or int(value) > 255:
                    raise ParseError("Via ttl parameter out of range")
            elif key == "branch":
                if not value or not g.TOKEN_RE.fullmatch(value):
                    raise ParseError("Via branch parameter is not a token")
            elif key == "maddr":
                if not value or not g.HOST_RE.fullmatch(value):
                    raise ParseError("Via maddr parameter is not a host")

    def param(self, name: str, default: str | None = None) -> str | None:
        """Via parameter ``name`` (case-insensitive) or ``default``."""
        return g.find_param(self.params, name, default)

    @property
    def branch(self) -> str | None:
        """The ``branch`` parameter or None."""
        return self.param("branch")

    @property
    def has_rfc3261_branch(self) -> bool:
        """True if the branch starts with the magic cookie and has something after it.

        A branch that is only ``z9hG4bK`` (RFC 4475 3.2.1) cannot identify a transaction,
        so the transaction layer must fall back to RFC 2543 matching.
        """
        b = self.branch
        return b is not None and b.startswith(MAGIC_COOKIE) and len(b) > len(MAGIC_COOKIE)

    @property
    def received(self) -> str | None:
        """The ``received`` parameter or None."""
        return self.param("received")

    @property
    def rport(self) -> int | bool | None:
        """``rport``: None if absent, True if present without value, else the port."""
        if not any(k.lower() == "rport" for k in self.params):
            return None
        v = self.param("rport")
        return True if v is None else int(v)

    @property
    def maddr(self) -> str | None:
        """The ``maddr`` parameter or None."""
        return self.param("maddr")

    @property
    def ttl(self) -> int | None:
        """The ``ttl`` parameter or None."""
        v = self.param("ttl")
        return int(v) if v is not None else None

    @property
    def sent_by(self) -> str:
        """``host[:port]``."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return (f"{self.protocol}/{self.version}/{self.transport} {self.sent_by}"
                f"{format_params(self.params)}")

    def __repr__(self) -> str:
        return f"Via({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Via):
            return NotImplemented
        return (self.host.lower(), self.port, self.transport, self.protocol.upper(), self.version,
                {k.lower(): v for k, v in self.params.items()}) == (
            other.host.lower(), other.port, other.transport, other.protocol.upper(), other.version,
            {k.lower(): v for k, v in other.params.items()})

    __hash__ = None  # type: ignore[assignment]
