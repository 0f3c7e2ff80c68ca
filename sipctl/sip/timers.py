"""RFC 3261 timer values (section 17 and table 4, RFC 6026 Timers L and M), scaled.

T1 (an RTT estimate), T2 (the cap on non-INVITE request and INVITE response
retransmission intervals) and T4 (how long a message stays in the network) are the
base values; Timers A..M derive from them. The reference parameter ``timer``
("You can slow down or speed up the SIP protocol timers with this setting",
default 10) scales every one of them by ``timer / 10``.

On a reliable transport (TCP, TLS, SCTP, WS) the retransmission timers A, E and G are
not used (``None``) and the wait timers D, I, J and K are 0 (table 4).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "T1", "T2", "T4", "TIMER_A", "TIMER_B", "TIMER_C", "TIMER_D", "TIMER_E", "TIMER_F",
    "TIMER_G", "TIMER_H", "TIMER_I", "TIMER_J", "TIMER_K", "TIMER_L", "TIMER_M",
    "DEFAULT_TIMER", "MIN_TIMER", "MAX_TIMER", "RELIABLE_TRANSPORTS", "is_reliable", "Timers",
]

#: RTT estimate (seconds).
T1 = 0.5
#: Maximum retransmit interval for non-INVITE requests and INVITE responses.
T2 = 4.0
#: Maximum duration a message will remain in the network.
T4 = 5.0

#: INVITE request retransmit interval (initial; doubles, UDP only).
TIMER_A = T1
#: INVITE transaction timeout.
TIMER_B = 64 * T1
#: Proxy INVITE transaction timeout (more than 3 minutes; proxies only).
TIMER_C = 180.0
#: Wait time for response retransmits (client INVITE, Completed), unreliable transports.
TIMER_D = 32.0
#: Non-INVITE request retransmit interval (initial; doubles up to T2, UDP only).
TIMER_E = T1
#: Non-INVITE transaction timeout.
TIMER_F = 64 * T1
#: INVITE response retransmit interval (initial; doubles up to T2, UDP only).
TIMER_G = T1
#: Wait time for ACK receipt.
TIMER_H = 64 * T1
#: Wait time for ACK retransmits (server INVITE, Confirmed), unreliable transports.
TIMER_I = T4
#: Wait time for non-INVITE request retransmits, unreliable transports.
TIMER_J = 64 * T1
#: Wait time for non-INVITE response retransmits, unreliable transports.
TIMER_K = T4
#: RFC 6026: wait time for INVITE request retransmits after a 2xx (server, Accepted).
TIMER_L = 64 * T1
#: RFC 6026: wait time for 2xx retransmissions from other branches (client, Accepted).
TIMER_M = 64 * T1

#: The reference default of the ``timer`` parameter (scale 1).
DEFAULT_TIMER = 10.0
#: Smallest accepted ``timer`` (ten times faster than the RFC).
MIN_TIMER = 1.0
#: Largest accepted ``timer`` (ten times slower than the RFC).
MAX_TIMER = 100.0

#: Transports on which the transaction layer does not retransmit.
RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS"})

_RETRANSMIT = frozenset({"A", "E", "G"})
_ZERO_WHEN_RELIABLE = frozenset({"D", "I", "J", "K"})
_BASE = {"A": TIMER_A, "B": TIMER_B, "C": TIMER_C, "D": TIMER_D, "E": TIMER_E, "F": TIMER_F,
         "G": TIMER_G, "H": TIMER_H, "I": TIMER_I, "J": TIMER_J, "K": TIMER_K, "L": TIMER_L,
         "M": TIMER_M}


def is_reliable(transport: str) -> bool:
    """True for a Via/URI transport name that is reliable (``TCP``, ``tls``, ``WSS``...)."""
    return transport.upper() in RELIABLE_TRANSPORTS


@dataclass(frozen=True)
class Timers:
    """The timer values for one transport kind at one ``timer`` setting.

    ``timer`` is the reference parameter (10 = the RFC values); ``reliable`` selects
    table 4's reliable-transport column. Read the values as attributes ``t1``, ``t2``,
    ``t4`` and ``a`` .. ``m``, or by RFC name with :meth:`value`.
    """

    timer: float = DEFAULT_TIMER
    reliable: bool = False

    def __post_init__(self) -> None:
        t = self.timer
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise TypeError(f"timer must be a number, not {type(t).__name__}")
        if not math.isfinite(t) or not MIN_TIMER <= t <= MAX_TIMER:
            raise ValueError(f"timer must be between {MIN_TIMER:g} and {MAX_TIMER:g}, got {t!r}")

    @property
    def scale(self) -> float:
        """``timer / 10``: the factor applied to every RFC value."""
        return self.timer / DEFAULT_TIMER

    def for_transport(self, reliable: bool) -> Timers:
        """The same setting for a reliable or unreliable transport."""
        return self if reliable == self.reliable else Timers(self.timer, reliable)

    def value(self, name: str) -> float | None:
        """Timer ``name`` ("A".."M") in seconds; None for A/E/G on a reliable transport."""
        key = name.upper()
        if key not in _BASE:
            raise KeyError(f"no SIP timer {name!r}")
        if self.reliable:
            if key in _RETRANSMIT:
                return None
            if key in _ZERO_WHEN_RELIABLE:
                return 0.0
        return _BASE[key] * self.scale

    @property
    def t1(self) -> float:
        """T1, scaled."""
        return T1 * self.scale

    @property
    def t2(self) -> float:
        """T2, scaled."""
        return T2 * self.scale

    @property
    def t4(self) -> float:
        """T4, scaled."""
        return T4 * self.scale

    a = property(lambda self: self.value("A"), doc="Timer A (None when reliable).")
    b = property(lambda self: self.value("B"), doc="Timer B.")
    c = property(lambda self: self.value("C"), doc="Timer C (proxies).")
    d = property(lambda self: self.value("D"), doc="Timer D (0 when reliable).")
    e = property(lambda self: self.value("E"), doc="Timer E (None when reliable).")
    f = property(lambda self: self.value("F"), doc="Timer F.")
    g = property(lambda self: self.value("G"), doc="Timer G (None when reliable).")
    h = property(lambda self: self.value("H"), doc="Timer H.")
    i = property(lambda self: self.value("I"), doc="Timer I (0 when reliable).")
    j = property(lambda self: self.value("J"), doc="Timer J (0 when reliable).")
    k = property(lambda self: self.value("K"), doc="Timer K (0 when reliable).")
    l = property(lambda self: self.value("L"), doc="Timer L (RFC 6026).")  # noqa: E741
    m = property(lambda self: self.value("M"), doc="Timer M (RFC 6026).")
