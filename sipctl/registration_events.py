"""Events of the registration state machine (:mod:`sipctl.registration`).

Pulled with ``next_event()``; one shape for the Python API and the TCP API (which maps
:class:`Registering` to ``STATUS,-1,Registering...``, :class:`Registered` to
``Registered.`` and :class:`RegisterFailed` to ``Register Failed``, for the primary
account only: "STATUS is not reported from secondary accounts").
"""
from __future__ import annotations

from dataclasses import dataclass

from .accounts import Account
from .sip.message import Request
from .sip.uri import SipUri

__all__ = ["RegistrationEvent", "SendRegister", "Registering", "Registered", "RegisterFailed",
           "Unregistered"]


class RegistrationEvent:
    """Base class of every registration event (each has an ``account``)."""

    __slots__ = ()
    account: Account


@dataclass(frozen=True)
class SendRegister(RegistrationEvent):
    """Send ``request`` in a new non-INVITE client transaction.

    Report its outcome back with ``receive_response`` (every response, provisional
    ones included) or ``transaction_failed`` (Timer F or a transport error).
    """

    request: Request
    account: Account


@dataclass(frozen=True)
class Registering(RegistrationEvent):
    """A registration attempt started (start, restart, or a retry after a failure).

    Silent refreshes of a live registration do not emit it.
    """

    account: Account


@dataclass(frozen=True)
class Registered(RegistrationEvent):
    """A 2xx arrived: ``contact`` is bound for ``expires`` seconds (also on every refresh)."""

    account: Account
    expires: int
    contact: SipUri


@dataclass(frozen=True)
class RegisterFailed(RegistrationEvent):
    """The attempt failed; it is retried after ``retry_in`` seconds.

    ``status``/``reason`` are the server's final response (e.g. 403 Forbidden), or
    ``status`` None with ``reason`` "timeout" / "transport error"; a rejected password
    gives the challenge's status (401/407) with ``reason`` "wrong credentials".
    """

    account: Account
    status: int | None
    reason: str
    retry_in: float | None = None


@dataclass(frozen=True)
class Unregistered(RegistrationEvent):
    """The registration stopped.

    ``confirmed`` is True when the registrar acknowledged the removal (or there was
    no binding to remove); False when it was not sent (``needunregister=false``), not
    waited for (``waitforunregister=0``), not answered in time, or refused
    (``reason`` says which).
    """

    account: Account
    confirmed: bool = True
    reason: str = ""
