"""RFC 3581 symmetric response routing per the ``use_rport`` parameter (sans-IO).

``use_rport``: 0 don't ask; 1 ask, use the learned address only once it is confirmed
(the same ``received``/``rport`` seen in ``confirmations`` responses in a row); 2 ask and
use it, unless our local address is already public; 3 ask and use it even on a public
address; 9 ask but never use it. Modes 1 and 2 do not ask from a public local address.

:func:`add_rport` puts ``;rport`` on the top Via of an outgoing request;
:class:`RportTracker` reads ``received``/``rport`` from responses (RFC 3581 4) and reports
the public address to put in Via/Contact (for example to re-register when it changes).
"""
from __future__ import annotations

import ipaddress

from ..sip.headers import split_list
from ..sip.message import Request, Response
from ..sip.via import Via
from .base import Address, normalize_address

__all__ = ["add_rport", "should_request_rport", "public_address_from", "RportTracker",
           "is_public_ip", "USE_RPORT_MODES"]

USE_RPORT_MODES = (0, 1, 2, 3, 9)


def is_public_ip(host: str) -> bool:
    """True for a globally routable IP address (False for private, loopback, names...)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_global
    except ValueError:
        return False


def _check_mode(use_rport: int) -> None:
    if use_rport not in USE_RPORT_MODES:
        raise ValueError(f"use_rport must be one of {USE_RPORT_MODES}, got {use_rport}")


def should_request_rport(use_rport: int, local_ip: str) -> bool:
    """Whether requests sent from ``local_ip`` carry ``;rport`` in mode ``use_rport``."""
    _check_mode(use_rport)
    if use_rport == 0:
        return False
    if use_rport in (3, 9):
        return True
    return not is_public_ip(local_ip)


def add_rport(request: Request, use_rport: int, local_ip: str | None = None) -> bool:
    """Add a valueless ``rport`` to the top Via of ``request`` if the mode asks for it.

    ``local_ip`` defaults to the Via's sent-by host. Returns True if the Via carries
    ``rport`` afterwards. Raises ValueError when the request has no Via.
    """
    vias = request.via
    if not vias:
        raise ValueError("request has no Via header")
    top = vias[0]
    if not should_request_rport(use_rport, local_ip or top.host):
        return top.rport is not None
    if top.rport is not None:
        return True
    lines = request.headers.lines("Via")
    first = split_list(lines[0])
    new = Via(top.host, top.port, top.transport, {**top.params, "rport": None},
              top.protocol, top.version)
    lines[0] = ", ".join([str(new), *first[1:]])
    # Rewrite every Via line (public Headers API), keeping their order at the top.
    request.headers.remove("Via")
    for line in reversed(lines):
        request.headers.add("Via", line, first=True)
    return True


def public_address_from(response: Response) -> Address | None:
    """``(received or sent-by host, rport)`` from the top Via, or None without ``rport``.

    RFC 3581 4: the server adds ``received`` (when the source differs from sent-by) and
    fills ``rport`` with the source port; a valueless ``rport`` means nothing was learned.
    """
    vias = response.via
    if not vias:
        return None
    top = vias[0]
    rport = top.rport
    if not isinstance(rport, int) or isinstance(rport, bool):
        return None
    host = top.received or top.host
    return normalize_address((host, rport))


class RportTracker:
    """Learns our public address from responses and decides when to use it.

    ``local`` is the address we send from. :meth:`on_response` returns True when
    :attr:`public_address` changed (time to re-register / rewrite Contact).
    """

    def __init__(self, use_rport: int, local: Address, confirmations: int = 2) -> None:
        _check_mode(use_rport)
        self.use_rport = use_rport
        self.local = normalize_address(local)
        self.confirmations = max(1, confirmations)
        #: The last address a response reported (whether used or not).
        self.learned: Address | None = None
        self._seen = 0
        self._public: Address | None = None

    @property
    def requests_rport(self) -> bool:
        """Whether outgoing requests should carry ``;rport``."""
        return should_request_rport(self.use_rport, self.local[0])

    @property
    def public_address(self) -> Address | None:
        """The address to advertise instead of :attr:`local`, or None (use local)."""
        return self._public

    @property
    def contact_address(self) -> Address:
        """What to put in Via sent-by / Contact: the public address if used, else local."""
        return self._public or self.local

    def on_response(self, response: Response) -> bool:
        """Read the top Via of a response to one of our requests; True if the address changed."""
        learned = public_address_from(response)
        if learned is None:
            return False
        self._seen = self._seen + 1 if learned == self.learned else 1
        self.learned = learned
        mode = self.use_rport
        if mode in (0, 9) or learned == self.local:
            use = None
        elif mode == 3:
            use = learned
        elif is_public_ip(self.local[0]):
            use = None
        elif mode == 2:
            use = learned
        else:  # 1: only once confirmed
            use = learned if self._seen >= self.confirmations else self._public
        if use != self._public:
            self._public = use
            return True
        return False
