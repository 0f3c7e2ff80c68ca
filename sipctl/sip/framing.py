"""Incremental framing of SIP messages on a stream transport (TCP, TLS, WebSocket-less).

Sans-IO: feed received bytes with :meth:`StreamFramer.feed`, then call
:meth:`StreamFramer.next_event` until it returns None (more data needed). Events:

* a :class:`~sipctl.sip.message.Request` / :class:`~sipctl.sip.message.Response`;
* :class:`InvalidMessage` - one message was framed correctly (its Content-Length was
  readable) but does not parse; the stream stays usable and a UAS can answer it with
  :func:`~sipctl.sip.message.make_400`;
* :class:`KeepAlivePing` / :class:`KeepAlivePong` - RFC 5626 3.5.1 keep-alives between
  messages: a double CRLF ping and a single CRLF pong.

Framing errors (no Content-Length on a stream, header section or message over the
bounds) raise :class:`~sipctl.sip.errors.ParseError`; framing is lost, the connection
must be closed, and every later call raises the same error.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from .errors import ParseError
from .message import MAX_MESSAGE_SIZE, MessageError, Request, Response, parse_message

__all__ = ["StreamFramer", "KeepAlivePing", "KeepAlivePong", "InvalidMessage", "StreamEvent",
           "MAX_HEADER_SECTION"]

#: Largest header section (start line and headers) waited for before giving up.
MAX_HEADER_SECTION = 16384


@dataclass(frozen=True)
class KeepAlivePing:
    """A ``CRLF CRLF`` keep-alive ping between messages (RFC 5626 3.5.1); answer with a pong."""


@dataclass(frozen=True)
class KeepAlivePong:
    """A ``CRLF`` keep-alive pong between messages (RFC 5626 3.5.1)."""


@dataclass(frozen=True)
class InvalidMessage:
    """A correctly framed message that does not parse; ``error.data`` holds its bytes."""

    error: MessageError


StreamEvent = Union[Request, Response, KeepAlivePing, KeepAlivePong, InvalidMessage]

_CONTENT_LENGTH_RE = re.compile(rb"\r\n(?:[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Ll][Ee][Nn][Gg][Tt][Hh]|[Ll])"
                                rb"[ \t]*:[ \t]*(?:\r\n[ \t]+)?([^\r\n]*)")


class StreamFramer:
    """Cuts a byte stream into SIP messages using Content-Length (RFC 3261 18.3)."""

    def __init__(self, max_message_size: int = MAX_MESSAGE_SIZE,
                 max_header_section: int = MAX_HEADER_SECTION, pings: bool = False) -> None:
        """``pings``: this side receives keep-alive pings (a server/edge proxy side), so a
        CRLF at the end of the buffered data waits for a possible second CRLF instead of
        being reported as a pong straight away (a client side expects lone pongs)."""
        self.pings = pings
        self.max_message_size = max_message_size
        self.max_header_section = max_header_section
        self._buf = bytearray()
        self._error: ParseError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as an event."""
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        """Append received bytes (empty ``data`` is allowed and does nothing)."""
        if self._error is None:
            self._buf += data

    def _fail(self, detail: str, status: int = 400, reason: str = "Bad Request") -> ParseError:
        self._error = ParseError(detail, status, reason)
        self._buf.clear()
        return self._error

    def next_event(self) -> StreamEvent | None:
        """The next complete event, or None until more data arrives."""
        if self._error is not None:
            raise self._error
        buf = self._buf
        if buf[:1] == b"\r":
            if buf[:4] == b"\r\n\r\n":
                del buf[:4]
                return KeepAlivePing()
            if buf[:2] == b"\r\n":
                if len(buf) == 2 and self.pings:
                    return None  # maybe the first half of a ping
                if len(buf) == 2 or buf[2:3] != b"\r":
                    del buf[:2]
                    return KeepAlivePong()
                return None  # "\r\n\r" - wait for the rest of a ping
            if len(buf) == 1:
                return None
            raise self._fail("bare CR between messages")
        if buf[:1] == b"\n":
            raise self._fail("bare LF between messages")
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > self.max_header_section:
                raise self._fail(f"header section larger than {self.max_header_section} bytes",
                                 513, "Message Too Large")
            return None
        if end > self.max_header_section:
            raise self._fail(f"header section larger than {self.max_header_section} bytes",
                             513, "Message Too Large")
        head = bytes(buf[:end + 2])
        lengths = _CONTENT_LENGTH_RE.findall(head)
        if not lengths:
            raise self._fail("missing Content-Length on a stream transport")
        if len(lengths) > 1:
            raise self._fail("multiple Content-Length header fields on a stream transport")
        value = lengths[0].strip(b" \t")
        if not value.isdigit():
            raise self._fail("malformed Content-Length on a stream transport")
        total = end + 4 + int(value)
        if total > self.max_message_size:
            raise self._fail(f"message larger than {self.max_message_size} bytes", 513,
                             "Message Too Large")
        if len(buf) < total:
            return None
        data = bytes(buf[:total])
        del buf[:total]
        try:
            return parse_message(data, max_size=self.max_message_size)
        except MessageError as e:
            return InvalidMessage(e)
