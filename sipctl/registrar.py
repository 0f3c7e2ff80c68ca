"""Several accounts' registrations behind one interface (the UA core's view).

:class:`Registrar` holds one :class:`~sipctl.registration.Registration` per
account and merges their timers and events; sans-IO like them.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable, Iterable

from .accounts import Account, RegistrationSettings
from .registration import Registration, State
from .registration_events import RegistrationEvent
from .sip.errors import LocalProtocolError
from .sip.message import Request, Response
from .sip.uri import SipUri

__all__ = ["Registrar"]


class Registrar:
    """One :class:`Registration` per account, with merged timers and events.

    ``contact`` is one Contact URI for all accounts or a callable giving each
    account's. Responses are routed by Call-ID; events keep their order per
    registration and come out in the order the calls produced them.
    """

    def __init__(self, accounts: Iterable[Account],
                 contact: SipUri | str | Callable[[Account], SipUri | str], *,
                 new_token: Callable[[], str], rand: Callable[[], float] = lambda: 0.0,
                 settings: RegistrationSettings | None = None, sent_by: str | None = None,
                 transport: str | None = None) -> None:
        self.settings = settings or RegistrationSettings()
        self._contact = contact
        self._kw: dict[str, Any] = dict(new_token=new_token, rand=rand, settings=self.settings,
                                        sent_by=sent_by, transport=transport)
        self._regs: dict[int, Registration] = {}
        self._removing: set[int] = set()
        self._events: deque[RegistrationEvent] = deque()
        for account in accounts:
            self.add(account)

    def add(self, account: Account) -> Registration:
        """Add (not start) a Registration for ``account``; its index must be new."""
        if account.index in self._regs:
            raise LocalProtocolError(f"account {account.index} is already registered here")
        contact = self._contact(account) if callable(self._contact) else self._contact
        reg = Registration(account, contact, **self._kw)
        self._regs[account.index] = reg
        return reg

    def remove(self, index: int, now: float) -> None:
        """Stop account ``index``'s registration and drop it once it is stopped."""
        reg = self._regs[index]
        self._removing.add(index)
        reg.stop(now)
        self._drain()

    def __getitem__(self, index: int) -> Registration:
        return self._regs[index]

    @property
    def registrations(self) -> list[Registration]:
        """The registrations, by account index."""
        return [self._regs[i] for i in sorted(self._regs)]

    def is_registered(self, index: int = 1) -> bool:
        """Whether account ``index`` (default: the primary) is registered."""
        reg = self._regs.get(index)
        return reg is not None and reg.is_registered

    def start(self, now: float, index: int | None = None) -> None:
        """Start account ``index``, or every account the ``register`` setting wants."""
        for reg in self._select(index):
            if index is not None or self.settings.wants_registration(reg.account):
                reg.start(now)
        self._drain()

    def stop(self, now: float, index: int | None = None) -> None:
        """Unregister account ``index``, or all of them."""
        for reg in self._select(index):
            reg.stop(now)
        self._drain()

    def refresh_now(self, now: float, index: int | None = None) -> list[int]:
        """:meth:`Registration.refresh_now` for ``index`` or all; the indices refreshed."""
        done = [reg.account.index for reg in self._select(index) if reg.refresh_now(now)]
        self._drain()
        return done

    def by_call_id(self, call_id: str | None) -> Registration | None:
        """The registration whose current Call-ID is ``call_id``, or None."""
        return next((r for r in self._regs.values() if r.call_id == call_id), None)

    def receive_response(self, response: Response, now: float) -> bool:
        """Route a REGISTER response by Call-ID; False when no registration owns it."""
        for reg in self._regs.values():
            if reg.call_id == response.call_id and reg.receive_response(response, now):
                self._drain()
                return True
        return False

    def transaction_failed(self, request: Request, reason: str | BaseException,
                           now: float) -> bool:
        """Report the failed transaction of ``request`` to its registration."""
        for reg in self._regs.values():
            if reg.call_id == request.call_id and reg.transaction_failed(reason, now, request):
                self._drain()
                return True
        return False

    def get_timer(self) -> float | None:
        """The earliest timer of all registrations."""
        return min((t for r in self._regs.values() if (t := r.get_timer()) is not None),
                   default=None)

    def handle_timer(self, now: float) -> None:
        """Run every registration's due timer."""
        for reg in self.registrations:
            reg.handle_timer(now)
        self._drain()

    def next_event(self) -> RegistrationEvent | None:
        """The next event of any registration, or None."""
        return self._events.popleft() if self._events else None

    def _select(self, index: int | None) -> list[Registration]:
        return self.registrations if index is None else [self._regs[index]]

    def _drain(self) -> None:
        for i, reg in sorted(self._regs.items()):
            while (event := reg.next_event()) is not None:
                self._events.append(event)
            if i in self._removing and reg.state in (State.STOPPED, State.IDLE):
                del self._regs[i]
                self._removing.discard(i)
