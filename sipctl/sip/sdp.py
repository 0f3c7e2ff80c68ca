"""SDP session descriptions (RFC 4566): a mutable model, a strict-enough parser and a writer.

Parsing checks every line's syntax and the fields we rely on (``v=0`` first,
one ``o=`` and ``s=``, numeric ports/versions/payload types, well-formed
``rtpmap``/``fmtp``/``ptime``/``rtcp`` values, session-only lines not inside a
media section) and raises :class:`ParseError` naming the line. Everything else
is kept: attributes in their original order (unknown ones and ``a=crypto``
included) and lines of unknown type, so ``parse(x).serialize() == x`` for any
description already in canonical order (CRLF line ends, RFC 4566 section 5 line
order; unknown line types are written just before the section's ``a=`` lines).
``s=`` may be empty or a single space as in RFC 4317's examples.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from .codecs import STATIC_PAYLOAD_TYPES
from .errors import ParseError

__all__ = [
    "Attribute",
    "Bandwidth",
    "Connection",
    "Direction",
    "MediaDescription",
    "Origin",
    "RtpMap",
    "SessionDescription",
    "Timing",
]


class Direction(str, Enum):
    """RFC 4566 section 6 / RFC 3264 direction attributes (absent means sendrecv)."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @classmethod
    def from_flags(cls, send: bool, receive: bool) -> "Direction":
        """The direction that sends/receives as given."""
        if send:
            return cls.SENDRECV if receive else cls.SENDONLY
        return cls.RECVONLY if receive else cls.INACTIVE

    def reversed(self) -> "Direction":
        """The same stream seen from the other end (sendonly <-> recvonly)."""
        return Direction.from_flags(self.receives, self.sends)


_DIRECTIONS = {d.value for d in Direction}
_HOLD_ADDRESSES = ("0.0.0.0", "::")
_RTP_PROTOS = ("RTP/AVP", "RTP/SAVP", "RTP/AVPF", "RTP/SAVPF")


@dataclass
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>``."""

    username: str = "-"
    session_id: int = 0
    session_version: int = 0
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"

    def __str__(self) -> str:
        return (f"{self.username} {self.session_id} {self.session_version} {self.nettype} "
                f"{self.addrtype} {self.address}")


@dataclass
class Connection:
    """``c=<nettype> <addrtype> <address>[/<ttl>][/<count>]``."""

    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"
    ttl: int | None = None     #: IPv4 multicast only
    count: int | None = None   #: multicast address count

    @classmethod
    def for_address(cls, address: str) -> "Connection":
        """``IN IP4 a.b.c.d`` or ``IN IP6 ...`` depending on the address."""
        return cls(address, addrtype="IP6" if ":" in address else "IP4")

    @property
    def is_hold(self) -> bool:
        """RFC 2543 style hold address (0.0.0.0; also ``::``): send nothing there."""
        return self.address in _HOLD_ADDRESSES

    def __str__(self) -> str:
        addr = self.address
        if self.ttl is not None:
            addr += f"/{self.ttl}"
        if self.count is not None:
            addr += f"/{self.count}"
        return f"{self.nettype} {self.addrtype} {addr}"


@dataclass
class Bandwidth:
    """``b=<bwtype>:<bandwidth>`` (kbit/s for CT and AS)."""

    bwtype: str
    value: int

    def __str__(self) -> str:
        return f"{self.bwtype}:{self.value}"


@dataclass
class Timing:
    """``t=<start> <stop>`` and its ``r=`` lines (kept verbatim)."""

    start: int = 0
    stop: int = 0
    repeats: list[str] = field(default_factory=list)


@dataclass
class Attribute:
    """``a=<name>`` or ``a=<name>:<value>``."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


@dataclass(frozen=True)
class RtpMap:
    """``a=rtpmap:<pt> <encoding>/<clock rate>[/<encoding parameters>]``."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    def __str__(self) -> str:
        tail = f"/{self.channels}" if self.channels is not None else ""
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{tail}"


class _Attrs:
    """Attribute helpers shared by the session and media levels."""

    attributes: list[Attribute]

    def get(self, name: str) -> str | None:
        """Value of the first ``a=name`` (None if absent or valueless)."""
        for a in self.attributes:
            if a.name.lower() == name.lower():
                return a.value
        return None

    def get_all(self, name: str) -> list[str | None]:
        """Values of every ``a=name``, in order."""
        return [a.value for a in self.attributes if a.name.lower() == name.lower()]

    def has(self, name: str) -> bool:
        return any(a.name.lower() == name.lower() for a in self.attributes)

    def remove(self, name: str) -> None:
        """Drop every ``a=name``."""
        self.attributes = [a for a in self.attributes if a.name.lower() != name.lower()]

    @property
    def direction(self) -> Direction | None:
        """The direction attribute at this level (None if none)."""
        for a in self.attributes:
            if a.name.lower() in _DIRECTIONS:
                return Direction(a.name.lower())
        return None

    def set_direction(self, direction: Direction | None) -> None:
        """Replace the direction attribute (None removes it, meaning sendrecv)."""
        self.attributes = [a for a in self.attributes if a.name.lower() not in _DIRECTIONS]
        if direction is not None:
            self.attributes.append(Attribute(direction.value))


@dataclass
class MediaDescription(_Attrs):
    """One ``m=`` section."""

    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    title: str | None = None
    connections: list[Connection] = field(default_factory=list)
    bandwidths: list[Bandwidth] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)

    @property
    def connection(self) -> Connection | None:
        """The media-level ``c=`` (the first, if several)."""
        return self.connections[0] if self.connections else None

    @property
    def rtpmaps(self) -> dict[int, RtpMap]:
        """Payload type -> explicit ``a=rtpmap``."""
        out = {}
        for v in self.get_all("rtpmap"):
            rm = _parse_rtpmap(v or "")
            if rm is not None:
                out[rm.payload_type] = rm
        return out

    def rtpmap(self, payload_type: int) -> RtpMap | None:
        """The rtpmap for a format: explicit, else the RFC 3551 static assignment."""
        rm = self.rtpmaps.get(payload_type)
        if rm is None and payload_type in STATIC_PAYLOAD_TYPES:
            name, rate, channels = STATIC_PAYLOAD_TYPES[payload_type]
            rm = RtpMap(payload_type, name, rate, channels if channels != 1 else None)
        return rm

    @property
    def fmtps(self) -> dict[str, str]:
        """Format -> ``a=fmtp`` parameters."""
        out = {}
        for v in self.get_all("fmtp"):
            fmt, _, params = (v or "").partition(" ")
            out[fmt] = params.strip()
        return out

    @property
    def ptime(self) -> int | None:
        v = self.get("ptime")
        return round(float(v)) if v else None

    @property
    def maxptime(self) -> int | None:
        v = self.get("maxptime")
        return round(float(v)) if v else None

    @property
    def rtcp(self) -> tuple[int, Connection | None] | None:
        """``a=rtcp`` (RFC 3605): port and optional address."""
        v = self.get("rtcp")
        if not v:
            return None
        parts = v.split()
        conn = Connection(parts[3], parts[1], parts[2]) if len(parts) == 4 else None
        return int(parts[0]), conn


@dataclass
class SessionDescription(_Attrs):
    """A whole SDP body."""

    origin: Origin = field(default_factory=Origin)
    session_name: str = "-"
    version: int = 0
    information: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=lambda: [Timing()])
    time_zones: str | None = None
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)

    # ------------------------------------------------------------------ derived views

    def media_direction(self, m: MediaDescription) -> Direction:
        """Effective direction of a stream: media level, else session level, else sendrecv."""
        return m.direction or self.direction or Direction.SENDRECV

    def media_connection(self, m: MediaDescription) -> Connection | None:
        """Effective connection of a stream: media ``c=``, else the session's."""
        return m.connection or self.connection

    # ------------------------------------------------------------------ reading

    @classmethod
    def parse(cls, data: str | bytes) -> "SessionDescription":
        """Parse an SDP body (CRLF or LF line ends). Raises :class:`ParseError`."""
        return _Parser(data).parse()

    # ------------------------------------------------------------------ writing

    def serialize(self) -> str:
        """The SDP text, CRLF line ends, RFC 4566 line order."""
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        if self.information is not None:
            out.append(f"i={self.information}")
        if self.uri is not None:
            out.append(f"u={self.uri}")
        out += [f"e={e}" for e in self.emails] + [f"p={p}" for p in self.phones]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"b={b}" for b in self.bandwidths]
        for t in self.timings:
            out.append(f"t={t.start} {t.stop}")
            out += [f"r={r}" for r in t.repeats]
        if self.time_zones is not None:
            out.append(f"z={self.time_zones}")
        if self.key is not None:
            out.append(f"k={self.key}")
        out += [f"{t}={v}" for t, v in self.other] + [f"a={a}" for a in self.attributes]
        for m in self.media:
            port = f"{m.port}/{m.port_count}" if m.port_count is not None else str(m.port)
            out.append(" ".join([f"m={m.media}", port, m.proto, *m.formats]))
            if m.title is not None:
                out.append(f"i={m.title}")
            out += [f"c={c}" for c in m.connections] + [f"b={b}" for b in m.bandwidths]
            if m.key is not None:
                out.append(f"k={m.key}")
            out += [f"{t}={v}" for t, v in m.other] + [f"a={a}" for a in m.attributes]
        return "\r\n".join(out) + "\r\n"

    def to_bytes(self) -> bytes:
        """:meth:`serialize` encoded as UTF-8 (a SIP body)."""
        return self.serialize().encode("utf-8")


# --------------------------------------------------------------------------- parsing

_RTPMAP = re.compile(r"(\d{1,3})\s+([^\s/]+)/(\d+)(?:/(\S+))?\s*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_RTCP = re.compile(r"(\d{1,5})(?:\s+(\S+)\s+(\S+)\s+(\S+))?\s*")
_TYPE = re.compile(r"[a-z]")
_SESSION_ONLY = set("vosuepztr")


def _parse_rtpmap(value: str) -> RtpMap | None:
    m = _RTPMAP.fullmatch(value)
    if not m or int(m.group(1)) > 127:
        return None
    ch = m.group(4)
    return RtpMap(int(m.group(1)), m.group(2), int(m.group(3)),
                  int(ch) if ch is not None and ch.isdigit() else None)


def _int(text: str, what: str, lineno: int, lo: int = 0, hi: int | None = None) -> int:
    if not text.isdigit() or (hi is not None and not lo <= int(text) <= hi):
        rng = f" in {lo}..{hi}" if hi is not None else ""
        raise ParseError(f"SDP line {lineno}: {what} must be a number{rng}, got {text!r}")
    return int(text)


class _Parser:
    def __init__(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ParseError(f"SDP is not valid UTF-8: {e}") from None
        self.lines = data.split("\n")

    def parse(self) -> SessionDescription:
        sd = SessionDescription(timings=[])
        seen: set[str] = set()
        media: MediaDescription | None = None
        first = True
        for lineno, raw in enumerate(self.lines, 1):
            line = raw[:-1] if raw.endswith("\r") else raw
            if not line:
                continue
            if len(line) < 2 or line[1] != "=" or not _TYPE.fullmatch(line[0]):
                raise ParseError(f"SDP line {lineno}: expected '<type>=<value>', got {line[:40]!r}")
            t, v = line[0], line[2:]
            if first:
                if t != "v":
                    raise ParseError(f"SDP line {lineno}: the first line must be v=, got {t}=")
                if v != "0":
                    raise ParseError(f"SDP line {lineno}: unsupported version v={v}")
                first = False
                seen.add("v")
                continue
            if media is None and t in "vos" and t in seen:
                raise ParseError(f"SDP line {lineno}: duplicate {t}= line")
            if media is not None and t in _SESSION_ONLY:
                raise ParseError(f"SDP line {lineno}: {t}= is not allowed in a media description")
            seen.add(t)
            target = media if media is not None else sd
            if t == "o":
                sd.origin = self._origin(v, lineno)
            elif t == "s":
                sd.session_name = v
            elif t == "i":
                if media is not None:
                    media.title = v
                else:
                    sd.information = v
            elif t == "u":
                sd.uri = v
            elif t == "e":
                sd.emails.append(v)
            elif t == "p":
                sd.phones.append(v)
            elif t == "c":
                conn = self._connection(v, lineno)
                if media is not None:
                    media.connections.append(conn)
                elif sd.connection is not None:
                    raise ParseError(f"SDP line {lineno}: more than one session-level c= line")
                else:
                    sd.connection = conn
            elif t == "b":
                target.bandwidths.append(self._bandwidth(v, lineno))
            elif t == "t":
                parts = v.split()
                if len(parts) != 2:
                    raise ParseError(f"SDP line {lineno}: t= needs '<start> <stop>', got {v!r}")
                sd.timings.append(Timing(_int(parts[0], "t= start", lineno),
                                         _int(parts[1], "t= stop", lineno)))
            elif t == "r":
                if not sd.timings:
                    raise ParseError(f"SDP line {lineno}: r= without a preceding t=")
                sd.timings[-1].repeats.append(v)
            elif t == "z":
                sd.time_zones = v
            elif t == "k":
                target.key = v
            elif t == "a":
                target.attributes.append(self._attribute(v, lineno))
            elif t == "m":
                media = self._media(v, lineno)
                sd.media.append(media)
            else:
                target.other.append((t, v))
        if first:
            raise ParseError("SDP is empty")
        for required in "os":
            if required not in seen:
                raise ParseError(f"SDP has no {required}= line")
        return sd

    @staticmethod
    def _origin(v: str, lineno: int) -> Origin:
        parts = v.split()
        if len(parts) != 6:
            raise ParseError(f"SDP line {lineno}: o= needs 6 fields, got {len(parts)}: {v!r}")
        return Origin(parts[0], _int(parts[1], "o= session id", lineno),
                      _int(parts[2], "o= session version", lineno), *parts[3:])

    @staticmethod
    def _connection(v: str, lineno: int) -> Connection:
        parts = v.split()
        if len(parts) != 3:
            raise ParseError(f"SDP line {lineno}: c= needs '<nettype> <addrtype> <address>', "
                             f"got {v!r}")
        addr, *rest = parts[2].split("/")
        if not addr or len(rest) > 2:
            raise ParseError(f"SDP line {lineno}: bad c= address {parts[2]!r}")
        nums = [_int(x, "c= ttl/count", lineno) for x in rest]
        ttl = count = None
        if parts[1].upper() == "IP6" or len(nums) == 0:
            if len(nums) > 1:
                raise ParseError(f"SDP line {lineno}: IP6 c= takes only /<count>")
            count = nums[0] if nums else None
        else:
            ttl = nums[0]
            count = nums[1] if len(nums) > 1 else None
        return Connection(addr, parts[0], parts[1], ttl, count)

    @staticmethod
    def _bandwidth(v: str, lineno: int) -> Bandwidth:
        bwtype, sep, value = v.partition(":")
        if not sep or not bwtype:
            raise ParseError(f"SDP line {lineno}: b= needs '<bwtype>:<bandwidth>', got {v!r}")
        return Bandwidth(bwtype, _int(value.strip(), "b= bandwidth", lineno))

    @staticmethod
    def _media(v: str, lineno: int) -> MediaDescription:
        parts = v.split()
        if len(parts) < 3:
            raise ParseError(f"SDP line {lineno}: m= needs '<media> <port> <proto> <fmt> ...', "
                             f"got {v!r}")
        port_text, _, count_text = parts[1].partition("/")
        port = _int(port_text, "m= port", lineno, 0, 65535)
        count = _int(count_text, "m= port count", lineno) if count_text else None
        formats = parts[3:]
        if not formats and port != 0:
            raise ParseError(f"SDP line {lineno}: m= without formats")
        if parts[2].upper() in _RTP_PROTOS:
            for f in formats:
                _int(f, f"{parts[2]} format", lineno, 0, 127)
        return MediaDescription(parts[0], port, parts[2], formats, count)

    @staticmethod
    def _attribute(v: str, lineno: int) -> Attribute:
        name, sep, value = v.partition(":")
        if not name or " " in name:
            raise ParseError(f"SDP line {lineno}: bad attribute {v[:40]!r}")
        attr = Attribute(name, value if sep else None)
        lname = name.lower()
        if lname == "rtpmap" and _parse_rtpmap(value) is None:
            raise ParseError(f"SDP line {lineno}: malformed rtpmap {value!r} "
                             "(expected '<pt> <encoding>/<clock rate>[/<channels>]')")
        if lname == "fmtp" and not re.fullmatch(r"\S+ .*", value):
            raise ParseError(f"SDP line {lineno}: malformed fmtp {value!r} "
                             "(expected '<format> <parameters>')")
        if lname in ("ptime", "maxptime") and not _NUMBER.fullmatch(value.strip()):
            raise ParseError(f"SDP line {lineno}: {name} must be a number of ms, got {value!r}")
        if lname == "rtcp":
            m = _RTCP.fullmatch(value)
            if not m or int(m.group(1)) > 65535:
                raise ParseError(f"SDP line {lineno}: malformed rtcp {value!r} "
                                 "(expected '<port> [<nettype> <addrtype> <address>]')")
        if lname in _DIRECTIONS and sep:
            raise ParseError(f"SDP line {lineno}: a={name} takes no value")
        return attr
