"""The INVITE client transaction (RFC 3261 17.1.1, figure 5, as amended by RFC 6026).

::

    Calling --1xx--> Proceeding --300-699 (send ACK)--> Completed --Timer D--> Terminated
       |  \\--2xx----------------------------------> Accepted --Timer M--> Terminated
       +-- Timer B / transport error (inform TU) --> Terminated

Timer A retransmits the INVITE over unreliable transports (T1, doubling, no cap).
RFC 6026: a 2xx moves to Accepted, where further 2xx responses (retransmissions and
other forks) are passed to the TU until Timer M; the TU sends the ACK for a 2xx.
The ACK for a 3xx-6xx is built here (17.1.1.3) and resent for each retransmitted
final response.
"""
from __future__ import annotations

from ..message import Request, Response
from ._base import TERMINATED, Transaction
from .events import ResponseReceived

__all__ = ["ClientInviteTransaction", "make_ack", "CALLING", "PROCEEDING", "COMPLETED",
           "ACCEPTED", "TERMINATED", "TABLE", "TIMERS"]

CALLING = "Calling"
PROCEEDING = "Proceeding"
COMPLETED = "Completed"
ACCEPTED = "Accepted"

_FINAL_NON_2XX = ("send_ack", "pass", "arm:D")

#: ``(state, input) -> (next state, actions)``; inputs: 1xx, 2xx, 3xx-6xx, timer_X,
#: transport_error.
TABLE = {
    (CALLING, "timer_A"): (CALLING, ("retransmit", "backoff:A")),
    (CALLING, "timer_B"): (TERMINATED, ("timeout:B",)),
    (CALLING, "1xx"): (PROCEEDING, ("pass",)),
    (CALLING, "2xx"): (ACCEPTED, ("pass", "arm:M")),
    (CALLING, "3xx-6xx"): (COMPLETED, _FINAL_NON_2XX),
    (CALLING, "transport_error"): (TERMINATED, ("transport_failed",)),
    (PROCEEDING, "1xx"): (PROCEEDING, ("pass",)),
    (PROCEEDING, "2xx"): (ACCEPTED, ("pass", "arm:M")),
    (PROCEEDING, "3xx-6xx"): (COMPLETED, _FINAL_NON_2XX),
    (PROCEEDING, "transport_error"): (TERMINATED, ("transport_failed",)),
    (COMPLETED, "3xx-6xx"): (COMPLETED, ("send_ack",)),
    (COMPLETED, "timer_D"): (TERMINATED, ()),
    (COMPLETED, "transport_error"): (TERMINATED, ("transport_failed",)),
    (ACCEPTED, "2xx"): (ACCEPTED, ("pass",)),
    (ACCEPTED, "timer_M"): (TERMINATED, ()),
}

#: Timers that may run in each state (entering a state cancels the others).
TIMERS = {
    CALLING: frozenset({"A", "B"}),
    COMPLETED: frozenset({"D"}),
    ACCEPTED: frozenset({"M"}),
}


def make_ack(invite: Request, response: Response) -> Request:
    """The ACK for a 3xx-6xx ``response`` to ``invite`` (RFC 3261 17.1.1.3).

    Same Request-URI, Call-ID, From and CSeq number as the INVITE, the To of the
    response (with its tag), a single Via equal to the INVITE's top Via (so the same
    branch) and the INVITE's Route header fields.
    """
    ack = Request("ACK", invite.uri_text)
    h = ack.headers
    h.add("Via", invite.headers.get_all("Via")[0])
    h.add("Max-Forwards", invite.headers.get("Max-Forwards") or "70")
    for line in invite.headers.lines("Route"):
        h.add("Route", line)
    for name, source in (("From", invite), ("To", response), ("Call-ID", invite)):
        value = source.headers.get(name)
        if value is not None:
            h.add(name, value)
    cseq = invite.cseq
    h.add("CSeq", f"{cseq.seq if cseq is not None else 1} ACK")
    return ack


class ClientInviteTransaction(Transaction):
    """Sends an INVITE, passes responses to the TU, ACKs 3xx-6xx responses."""

    TABLE = TABLE
    TIMERS = TIMERS
    INITIAL = CALLING
    START = ("retransmit", "arm:A", "arm:B")
    UNCAPPED = frozenset({"A"})

    ack: Request | None = None

    @staticmethod
    def classify(response: Response) -> str:
        """The table input for ``response``."""
        if response.status < 200:
            return "1xx"
        return "2xx" if response.status < 300 else "3xx-6xx"

    def _retransmit(self, now: float, message: object, arg: str) -> None:
        self._send(self.request)

    def _pass(self, now: float, message: object, arg: str) -> None:
        assert isinstance(message, Response)
        self._emit(ResponseReceived(self.key, message))

    def _send_ack(self, now: float, message: object, arg: str) -> None:
        if self.ack is None:
            assert isinstance(message, Response)
            self.ack = make_ack(self.request, message)
        self._send(self.ack)
