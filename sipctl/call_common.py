"""What the call modules share: :class:`Phase`, timing constants, header helpers."""
from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from .sip.addr import NameAddr
from .sip.errors import SipError
from .sip.message import Message, Request
from .sip.uri import SipUri, Uri, parse_uri

if TYPE_CHECKING:
    from .call_settings import CallSettings

__all__ = ["Phase", "FINISH_GUARD", "T1", "SDP", "reason_phrase", "allow_value", "supported_tags", "option_tags",
           "target_uri", "clone_request", "user_of", "host_of"]

#: Seconds we wait for the answer to our BYE/CANCEL before calling the line Finished.
FINISH_GUARD = 32.0
#: RFC 3261 T1 (RTT estimate), the base of the reliable provisional retransmissions.
T1 = 0.5
SDP = "application/sdp"


class Phase(enum.Enum):
    """Where a :class:`~sipctl.call.Call` is."""

    IDLE = "idle"
    CALLING = "calling"        #: outgoing INVITE sent, no final response
    RINGING = "ringing"        #: incoming INVITE, not answered yet
    CONNECTED = "connected"
    FINISHING = "finishing"    #: we sent BYE/CANCEL, waiting for the answer
    FINISHED = "finished"


#: Reason phrases the message module's table lacks (RFC 4028 422).
_REASONS = {422: "Session Interval Too Small"}


def reason_phrase(status: int) -> str | None:
    """Our reason phrase for ``status`` (None: the message module's default)."""
    return _REASONS.get(status)


def allow_value(prack: bool) -> str:
    """Our ``Allow`` header value (PRACK only when 100rel is enabled)."""
    methods = ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "UPDATE"]
    methods += ["PRACK"] if prack else []
    return ", ".join(methods + ["MESSAGE", "NOTIFY", "REFER"])


def supported_tags(settings: CallSettings) -> list[str]:
    """The option tags we support: 100rel (``prack``), timer (``session_expires`` > 0)."""
    return (["100rel"] if settings.prack else []) + (["timer"] if settings.session_expires else [])


def option_tags(message: Message, name: str) -> set[str]:
    """Lower-case option tags of ``Supported``/``Require`` (empty when it does not parse)."""
    try:
        return {t.lower() for t in message.typed_all(name)}
    except (SipError, ValueError):
        return set()


def user_of(addr: NameAddr | None) -> str:
    """The user part (or the whole URI) of a name-addr, for the status and CDR texts."""
    if addr is None:
        return ""
    uri = addr.uri
    return (uri.user or str(uri)) if isinstance(uri, SipUri) else str(uri)


def host_of(uri: Uri | None) -> str:
    return uri.hostport if isinstance(uri, SipUri) else ""


def target_uri(target: str, local_uri: NameAddr, techprefix: str = "") -> Uri:
    """``target`` (user, number, user@host or a URI) as a Request-URI, with ``techprefix``."""
    t = target.strip()
    scheme = t.split(":", 1)[0].lower() if ":" in t else ""
    if scheme in ("sip", "sips", "tel"):
        uri = parse_uri(t)
        if techprefix and isinstance(uri, SipUri) and uri.user:
            uri = uri.copy(user=techprefix + uri.user)
        return uri
    user, _, host = t.partition("@")
    base = parse_uri("sip:" + (host or host_of(local_uri.uri)))   # host[:port], split
    assert isinstance(base, SipUri)
    return SipUri(host=base.host, port=base.port, user=techprefix + user)


def clone_request(request: Request) -> Request:
    """An independent copy of ``request`` (to resend it with a new branch and CSeq)."""
    return Request(request.method, request.uri_text, request.headers.copy(), request.body)
