"""The INVITE server transaction (RFC 3261 17.2.1, figure 7, as amended by RFC 6026).

::

    Proceeding --300-699 from TU--> Completed --ACK--> Confirmed --Timer I--> Terminated
        |    \\                          +-- Timer H (inform TU) / transport error --> Terminated
        |     \\--2xx from TU--> Accepted --Timer L--> Terminated
        +-- transport error (inform TU) --> Terminated

Retransmitted INVITEs are answered with the last response (absorbed without one in
Accepted: RFC 6026 leaves 2xx retransmission to the TU, and the transaction passes
every 2xx the TU hands it to the transport). Timer G retransmits a 3xx-6xx over
unreliable transports (T1, doubling up to T2) until the ACK arrives; an ACK that
matches the transaction in Accepted is passed to the TU.
"""
from __future__ import annotations

from ..message import Request, Response
from ._base import TERMINATED, Transaction
from .events import AckReceived, Address, RequestReceived, TransactionKey

__all__ = ["ServerInviteTransaction", "PROCEEDING", "COMPLETED", "CONFIRMED", "ACCEPTED",
           "TERMINATED", "TABLE", "TIMERS"]

PROCEEDING = "Proceeding"
COMPLETED = "Completed"
CONFIRMED = "Confirmed"
ACCEPTED = "Accepted"

#: ``(state, input) -> (next state, actions)``; inputs: request (a retransmitted
#: INVITE), ack, tu_1xx, tu_2xx, tu_3xx-6xx, timer_X, transport_error.
TABLE = {
    (PROCEEDING, "request"): (PROCEEDING, ("resend",)),
    (PROCEEDING, "tu_1xx"): (PROCEEDING, ("send_response",)),
    (PROCEEDING, "tu_2xx"): (ACCEPTED, ("send_response", "arm:L")),
    (PROCEEDING, "tu_3xx-6xx"): (COMPLETED, ("send_response", "arm:G", "arm:H")),
    (PROCEEDING, "transport_error"): (TERMINATED, ("transport_failed",)),
    (COMPLETED, "request"): (COMPLETED, ("resend",)),
    (COMPLETED, "timer_G"): (COMPLETED, ("resend", "backoff:G")),
    (COMPLETED, "timer_H"): (TERMINATED, ("timeout:H",)),
    (COMPLETED, "ack"): (CONFIRMED, ("arm:I",)),
    (COMPLETED, "transport_error"): (TERMINATED, ("transport_failed",)),
    (CONFIRMED, "request"): (CONFIRMED, ()),
    (CONFIRMED, "ack"): (CONFIRMED, ()),
    (CONFIRMED, "timer_I"): (TERMINATED, ()),
    (ACCEPTED, "request"): (ACCEPTED, ()),
    (ACCEPTED, "ack"): (ACCEPTED, ("pass_ack",)),
    (ACCEPTED, "tu_2xx"): (ACCEPTED, ("send_response",)),
    (ACCEPTED, "timer_L"): (TERMINATED, ()),
    (ACCEPTED, "transport_error"): (TERMINATED, ("transport_failed",)),
}

#: Timers that may run in each state.
TIMERS = {
    COMPLETED: frozenset({"G", "H"}),
    CONFIRMED: frozenset({"I"}),
    ACCEPTED: frozenset({"L"}),
}


class ServerInviteTransaction(Transaction):
    """Receives an INVITE, sends the TU's responses, absorbs retransmissions and the ACK."""

    TABLE = TABLE
    TIMERS = TIMERS
    INITIAL = PROCEEDING
    START = ("pass_request",)

    source: Address = None
    cancels: TransactionKey | None = None

    @staticmethod
    def classify(response: Response) -> str:
        """The table input for a response from the TU."""
        if response.status < 200:
            return "tu_1xx"
        return "tu_2xx" if response.status < 300 else "tu_3xx-6xx"

    def _pass_request(self, now: float, message: object, arg: str) -> None:
        self._emit(RequestReceived(self.key, self.request, self.source, self.cancels))

    def _send_response(self, now: float, message: object, arg: str) -> None:
        assert isinstance(message, Response)
        self.last_response = message
        self._send(message)

    def _resend(self, now: float, message: object, arg: str) -> None:
        if self.last_response is not None:
            self._send(self.last_response)

    def _pass_ack(self, now: float, message: object, arg: str) -> None:
        assert isinstance(message, Request)
        self._emit(AckReceived(message, self.source, self.key))
