"""Reliable provisional responses (RFC 3262, 100rel/PRACK), sans-IO.

:class:`ReliableProvisional` is the UAS side: one reliable provisional at a time,
retransmitted every T1, 2*T1, 4*T1 ... until a PRACK with a matching RAck arrives;
after 64*T1 without one it gives up (RFC 3262 3: reject the INVITE with a 5xx).
:class:`PrackTracker` is the UAC side: which reliable provisionals to PRACK (the
first of each early dialog, then exactly RSeq+1; retransmissions and out-of-order
ones are neither PRACKed nor processed, RFC 3262 4).
"""
from __future__ import annotations

import hashlib

from .call_common import T1
from .sip.errors import SipError
from .sip.headers import RAck
from .sip.message import Response

__all__ = ["ReliableProvisional", "PrackTracker", "initial_rseq", "is_reliable", "RSEQ_MAX"]

RSEQ_MAX = 2**31 - 1


def initial_rseq(token: str) -> int:
    """A first RSeq in 1..2**31-1 derived from an injected random token (RFC 3262 3)."""
    digest = hashlib.sha256(token.encode()).digest()
    return int.from_bytes(digest[:4], "big") % RSEQ_MAX + 1


def is_reliable(response: Response) -> bool:
    """A 101-199 sent reliably: ``Require: 100rel`` and an RSeq."""
    if not 100 < response.status < 200:
        return False
    try:
        return response.rseq is not None and any(
            t.lower() == "100rel" for t in response.require)
    except (SipError, ValueError):
        return False


class ReliableProvisional:
    """UAS: the pending reliable provisional response and its retransmission timer."""

    def __init__(self) -> None:
        self.response: Response | None = None
        self.rseq: int | None = None
        self._resend_at: float | None = None
        self._interval = T1
        self._give_up_at: float | None = None

    @property
    def pending(self) -> bool:
        """A reliable provisional has not been PRACKed yet."""
        return self.response is not None

    @property
    def next_timer(self) -> float | None:
        return self._resend_at if self.response is not None else None

    def next_rseq(self, token: str) -> int:
        """The RSeq for the next reliable provisional (the first from ``token``)."""
        return initial_rseq(token) if self.rseq is None else self.rseq + 1

    def sent(self, response: Response, rseq: int, now: float) -> None:
        """``response`` (carrying RSeq ``rseq``) was sent: retransmit until PRACKed."""
        self.response, self.rseq = response, rseq
        self._interval = T1
        self._resend_at = now + T1
        self._give_up_at = now + 64 * T1

    def poll(self, now: float) -> str | None:
        """``"resend"`` (send :attr:`response` again), ``"timeout"`` (give up) or None."""
        if self.response is None or self._resend_at is None or now < self._resend_at:
            return None
        assert self._give_up_at is not None
        if now >= self._give_up_at:
            self.stop()
            return "timeout"
        self._interval *= 2
        self._resend_at = min(now + self._interval, self._give_up_at)
        return "resend"

    def acknowledge(self, rack: RAck | None, invite_seq: int) -> bool:
        """A PRACK with this RAck arrived: True when it acknowledges the pending response."""
        if self.response is None or rack is None:
            return False
        if (rack.rseq, rack.cseq, rack.method.upper()) != (self.rseq, invite_seq, "INVITE"):
            return False
        self.stop()
        return True

    def stop(self) -> None:
        self.response = None
        self._resend_at = self._give_up_at = None


class PrackTracker:
    """UAC: the last RSeq PRACKed per early dialog (To tag)."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def accept(self, to_tag: str, rseq: int) -> bool:
        """True when this reliable provisional is new and in order (PRACK and process it)."""
        last = self._last.get(to_tag)
        if last is not None and rseq != last + 1:
            return False
        self._last[to_tag] = rseq
        return True

    def clear(self) -> None:
        self._last.clear()
