"""The non-INVITE server transaction (RFC 3261 17.2.2, figure 8).

::

    Trying --1xx from TU--> Proceeding --200-699 from TU--> Completed --Timer J--> Terminated
      \\--200-699 from TU------------------------------->/
    transport error in Proceeding or Completed (inform TU) --> Terminated

Retransmitted requests are absorbed while Trying and answered with the last response
afterwards; further final responses from the TU in Completed are discarded.
"""
from __future__ import annotations

from ..message import Response
from ._base import TERMINATED, Transaction
from .events import Address, RequestReceived, TransactionKey

__all__ = ["ServerNonInviteTransaction", "TRYING", "PROCEEDING", "COMPLETED", "TERMINATED",
           "TABLE", "TIMERS"]

TRYING = "Trying"
PROCEEDING = "Proceeding"
COMPLETED = "Completed"

#: ``(state, input) -> (next state, actions)``; inputs: request (a retransmission),
#: tu_1xx, tu_final, timer_J, transport_error.
TABLE = {
    (TRYING, "request"): (TRYING, ()),
    (TRYING, "tu_1xx"): (PROCEEDING, ("send_response",)),
    (TRYING, "tu_final"): (COMPLETED, ("send_response", "arm:J")),
    (PROCEEDING, "request"): (PROCEEDING, ("resend",)),
    (PROCEEDING, "tu_1xx"): (PROCEEDING, ("send_response",)),
    (PROCEEDING, "tu_final"): (COMPLETED, ("send_response", "arm:J")),
    (PROCEEDING, "transport_error"): (TERMINATED, ("transport_failed",)),
    (COMPLETED, "request"): (COMPLETED, ("resend",)),
    (COMPLETED, "timer_J"): (TERMINATED, ()),
    (COMPLETED, "transport_error"): (TERMINATED, ("transport_failed",)),
}

#: Timers that may run in each state.
TIMERS = {COMPLETED: frozenset({"J"})}


class ServerNonInviteTransaction(Transaction):
    """Receives a non-INVITE request and sends the TU's responses to it."""

    TABLE = TABLE
    TIMERS = TIMERS
    INITIAL = TRYING
    START = ("pass_request",)

    source: Address = None
    cancels: TransactionKey | None = None

    @staticmethod
    def classify(response: Response) -> str:
        """The table input for a response from the TU."""
        return "tu_1xx" if response.status < 200 else "tu_final"

    def _pass_request(self, now: float, message: object, arg: str) -> None:
        self._emit(RequestReceived(self.key, self.request, self.source, self.cancels))

    def _send_response(self, now: float, message: object, arg: str) -> None:
        assert isinstance(message, Response)
        self.last_response = message
        self._send(message)

    def _resend(self, now: float, message: object, arg: str) -> None:
        if self.last_response is not None:
            self._send(self.last_response)
