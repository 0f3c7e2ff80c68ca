"""The non-INVITE client transaction (RFC 3261 17.1.2, figure 6).

::

    Trying --1xx--> Proceeding --200-699--> Completed --Timer K--> Terminated
      |  \\--200-699----------------------->/
      +-- Timer F / transport error (inform TU) --> Terminated (from Trying or Proceeding)

Timer E retransmits the request over unreliable transports: T1, doubling up to T2
while Trying, every T2 once Proceeding. Retransmitted final responses are absorbed
in Completed.
"""
from __future__ import annotations

from ..message import Response
from ._base import TERMINATED, Transaction
from .events import ResponseReceived

__all__ = ["ClientNonInviteTransaction", "TRYING", "PROCEEDING", "COMPLETED", "TERMINATED",
           "TABLE", "TIMERS"]

TRYING = "Trying"
PROCEEDING = "Proceeding"
COMPLETED = "Completed"

#: ``(state, input) -> (next state, actions)``; inputs: 1xx, final, timer_X, transport_error.
TABLE = {
    (TRYING, "timer_E"): (TRYING, ("retransmit", "backoff:E")),
    (TRYING, "timer_F"): (TERMINATED, ("timeout:F",)),
    (TRYING, "1xx"): (PROCEEDING, ("pass",)),
    (TRYING, "final"): (COMPLETED, ("pass", "arm:K")),
    (TRYING, "transport_error"): (TERMINATED, ("transport_failed",)),
    (PROCEEDING, "timer_E"): (PROCEEDING, ("retransmit", "rearm_t2:E")),
    (PROCEEDING, "timer_F"): (TERMINATED, ("timeout:F",)),
    (PROCEEDING, "1xx"): (PROCEEDING, ("pass",)),
    (PROCEEDING, "final"): (COMPLETED, ("pass", "arm:K")),
    (PROCEEDING, "transport_error"): (TERMINATED, ("transport_failed",)),
    (COMPLETED, "timer_K"): (TERMINATED, ()),
}

#: Timers that may run in each state.
TIMERS = {
    TRYING: frozenset({"E", "F"}),
    PROCEEDING: frozenset({"E", "F"}),
    COMPLETED: frozenset({"K"}),
}


class ClientNonInviteTransaction(Transaction):
    """Sends a non-INVITE request (not ACK) and passes its responses to the TU."""

    TABLE = TABLE
    TIMERS = TIMERS
    INITIAL = TRYING
    START = ("retransmit", "arm:E", "arm:F")

    @staticmethod
    def classify(response: Response) -> str:
        """The table input for ``response``."""
        return "1xx" if response.status < 200 else "final"

    def _retransmit(self, now: float, message: object, arg: str) -> None:
        self._send(self.request)

    def _pass(self, now: float, message: object, arg: str) -> None:
        assert isinstance(message, Response)
        self._emit(ResponseReceived(self.key, message))
