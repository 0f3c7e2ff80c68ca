"""The SIP core's exception hierarchy.

Local errors are misuse of the API by our own code or the application; remote
errors are bad input from the network and carry the status code (and reason
phrase) a UAS answers with, so a malformed request gets e.g. ``400 Bad Request``
with a specific reason rather than an exception escaping.
"""
from __future__ import annotations


class SipError(Exception):
    """Base class of every error raised by :mod:`sipctl.sip`."""


class LocalProtocolError(SipError):
    """We (or the application) tried to do something the protocol does not allow."""


class RemoteProtocolError(SipError, ValueError):
    """The peer sent something malformed or unacceptable.

    ``status``/``reason`` are what a UAS answers with (400 for syntax errors,
    420/488/... for semantic ones); ``detail`` says exactly what was wrong.
    """

    def __init__(self, detail: str, status: int = 400, reason: str = "Bad Request") -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.reason = reason


class ParseError(RemoteProtocolError):
    """A message, header, URI or body could not be parsed."""


class TransactionError(SipError):
    """A transaction ended without a final response (timeout or transport failure)."""


class TransactionTimeout(TransactionError):
    """Timer B/F/H fired: no (final) response or ACK in time."""


class TransportError(TransactionError):
    """The transport reported a failure for this transaction's message."""
