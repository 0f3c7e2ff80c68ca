"""Digest credentials for a challenged request of a call (RFC 3261 22.2, 22.3)."""
from __future__ import annotations

from typing import Hashable

from .sip.auth import AuthenticationFailed, DigestClient
from .sip.message import Request, Response

__all__ = ["credentials_for", "challenge_header"]


def challenge_header(status: int) -> str:
    """The challenge header of a 401 (WWW-Authenticate) or 407 (Proxy-Authenticate)."""
    return "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"


def credentials_for(auth: DigestClient, request: Request, response: Response,
                    flow: Hashable) -> list[tuple[str, str]]:
    """The ``(Authorization|Proxy-Authorization, value)`` headers answering ``response``.

    Raises :class:`~sipctl.sip.auth.CredentialsRejected` on a second non-stale
    challenge in ``flow``, another :class:`AuthenticationFailed` or a ParseError
    when the challenge cannot be answered.
    """
    name = challenge_header(response.status)
    values = response.headers.lines(name)
    if not values:
        raise AuthenticationFailed(f"{response.status} without {name}", status=response.status)
    return auth.answer_all(name, values, request.method, request.uri_text, request.body, flow=flow)
