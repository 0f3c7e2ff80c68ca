"""The table-driven machine every transaction kind shares.

A machine module declares ``TABLE``: ``(state, input) -> (next state, actions)`` and
``TIMERS``: the timers that may run in each state. Entering a state cancels every
timer not listed for it. Actions are method names, ``"name:arg"`` passing one
argument (``"arm:B"``, ``"timeout:B"``). Inputs are ``"timer_X"`` for Timer X, response
classes (``"1xx"``, ``"2xx"``...), ``"request"``, ``"ack"``, ``"tu_..."`` and
``"transport_error"``. An input the table does not list for the current state is
ignored (absorbed), as the RFC figures do.
"""
from __future__ import annotations

import logging
from typing import Callable, ClassVar, Mapping, Union

from ..message import Request, Response
from ..timers import Timers
from .events import (Address, Event, SendMessage, Terminated, TransactionKey,
                     TransactionTimedOut, TransportFailed)

__all__ = ["Transaction", "Table", "TERMINATED"]

#: ``(state, input) -> (next state, actions)``.
Table = Mapping[tuple[str, str], tuple[str, tuple[str, ...]]]
TERMINATED = "Terminated"

_log = logging.getLogger("sipctl.sip.transaction")


class Transaction:
    """One transaction: its state, timers and the message(s) it (re)sends."""

    TABLE: ClassVar[Table]
    TIMERS: ClassVar[Mapping[str, frozenset[str]]]
    INITIAL: ClassVar[str]
    START: ClassVar[tuple[str, ...]]
    #: Timers whose retransmit interval doubles without the T2 cap (Timer A).
    UNCAPPED: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, key: TransactionKey, request: Request, peer: Address, reliable: bool,
                 timers: Timers, emit: Callable[[Event], None]) -> None:
        self.key = key
        self.request = request
        self.peer = peer
        self.reliable = reliable
        self.timers = timers.for_transport(reliable)
        self.state = self.INITIAL
        self.deadlines: dict[str, float] = {}
        self.intervals: dict[str, float] = {}
        self.last_response: Response | None = None
        self._emit = emit
        self.log = logging.LoggerAdapter(_log, {"key": str(key)})

    # -- driving ----------------------------------------------------------------------------
    def start(self, now: float, message: Union[Request, Response, None] = None) -> None:
        """Run the initial state's entry actions (send the request / pass it to the TU)."""
        self._run(self.START, now, message)
        self._fire_due(now)

    def deliver(self, event: str, now: float, message: Union[Request, Response, str, None] = None) -> bool:
        """Feed one input; False when the current state ignores it."""
        entry = self.TABLE.get((self.state, event))
        if entry is None:
            return False
        new_state, actions = entry
        if new_state != self.state:
            self.log.debug("%s: %s -> %s on %s", self.key, self.state, new_state, event)
        self.state = new_state
        allowed = self.TIMERS.get(new_state, frozenset())
        for name in [n for n in self.deadlines if n not in allowed]:
            del self.deadlines[name]
        self._run(actions, now, message)
        if new_state == TERMINATED:
            self.deadlines.clear()
            self._emit(Terminated(self.key))
        else:
            self._fire_due(now)
        return True

    def deadline(self) -> float | None:
        """The earliest running timer's deadline, or None."""
        return min(self.deadlines.values()) if self.deadlines else None

    def fire_next(self, now: float) -> bool:
        """Fire the earliest timer due at ``now`` (at its own deadline); False if none."""
        due = [(t, n) for n, t in self.deadlines.items() if t <= now]
        if not due or self.state == TERMINATED:
            return False
        at, name = min(due)
        del self.deadlines[name]
        self.deliver("timer_" + name, at)
        return True

    @property
    def terminated(self) -> bool:
        """True once the Terminated state is reached."""
        return self.state == TERMINATED

    def _fire_due(self, now: float) -> None:
        while self.state != TERMINATED and self.fire_next(now):
            pass

    def _run(self, actions: tuple[str, ...], now: float, message: Union[Request, Response, str, None]) -> None:
        for action in actions:
            name, _, arg = action.partition(":")
            getattr(self, "_" + name)(now, message, arg)

    # -- actions shared by all machines -----------------------------------------------------
    def _arm(self, now: float, message: object, name: str) -> None:
        value = self.timers.value(name)
        if value is None:  # a retransmission timer on a reliable transport
            return
        self.intervals[name] = value
        self.deadlines[name] = now + value

    def _backoff(self, now: float, message: object, name: str) -> None:
        interval = self.intervals.get(name, self.timers.t1) * 2
        if name not in self.UNCAPPED:
            interval = min(interval, self.timers.t2)
        self.intervals[name] = interval
        self.deadlines[name] = now + interval

    def _rearm_t2(self, now: float, message: object, name: str) -> None:
        self.intervals[name] = self.timers.t2
        self.deadlines[name] = now + self.timers.t2

    def _send(self, message: Union[Request, Response]) -> None:
        self._emit(SendMessage(message, self.peer, self.reliable, self.key))

    def _timeout(self, now: float, message: object, timer: str) -> None:
        self._emit(TransactionTimedOut(self.key, timer, self.request))

    def _transport_failed(self, now: float, message: object, arg: str) -> None:
        reason = message if isinstance(message, str) else ""
        self._emit(TransportFailed(self.key, self.request, reason))
