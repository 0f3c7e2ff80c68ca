"""RTP/RTCP port pairs (reference parameter ``rtpport``).

RFC 3550 11: RTP on an even port, RTCP on the next (odd) one. :class:`PortAllocator`
binds both non-blocking UDP sockets on one local address (IPv4 or IPv6, default
``127.0.0.1``; ``::1`` works) and hands them over as a :class:`PortPair`:

* ``rtpport`` > 0: try the base (rounded up to even), then the next even port upward
  while either port of the pair is busy (up to 65534);
* ``rtpport`` = 0 (default): the reference's "random between 20000 and 21000, remembered
  at the first successful call and reused next time (stable rtp port)": the first pair
  starts at a random even port of that range; once a pair was bound there, that port is
  the *stable port* and every later allocation starts from it (moving upward while busy,
  wrapping inside the range). The stable port lives in the allocator (owned by the
  engine/UA, never a module global).

Randomness is injected (``rand``: a :class:`random.Random`-like object with ``randrange``).
"""
from __future__ import annotations

import errno
import itertools
import random
import socket
from dataclasses import dataclass
from typing import Callable, Optional

__all__ = ["PortPair", "PortAllocator", "RANDOM_RANGE", "bind_pair", "family_of"]

#: ``rtpport`` 0: the random range (inclusive) of the reference.
RANDOM_RANGE = (20000, 21000)
_BUSY = (errno.EADDRINUSE, errno.EACCES)


def family_of(address: str) -> int:
    """AF_INET6 for an IPv6 literal, else AF_INET."""
    return socket.AF_INET6 if ":" in address else socket.AF_INET


@dataclass
class PortPair:
    """Two bound, non-blocking UDP sockets: RTP on ``port`` (even), RTCP on ``port + 1``."""
    address: str
    port: int
    rtp: socket.socket
    rtcp: socket.socket

    @property
    def rtcp_port(self) -> int:
        return self.port + 1

    on_close: Optional[Callable[[int], None]] = None

    def close(self) -> None:
        self.rtp.close()
        self.rtcp.close()
        cb, self.on_close = self.on_close, None
        if cb is not None:
            cb(self.port)


def _bind(address: str, port: int, rcvbuf: int) -> socket.socket:
    s = socket.socket(family_of(address), socket.SOCK_DGRAM)
    try:
        if family_of(address) == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.bind((address, port))
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


def bind_pair(address: str, port: int, rcvbuf: int = 0) -> Optional[PortPair]:
    """Bind ``port`` and ``port + 1``; None if either is busy (other OSErrors raise)."""
    try:
        rtp = _bind(address, port, rcvbuf)
    except OSError as e:
        if e.errno in _BUSY:
            return None
        raise
    try:
        rtcp = _bind(address, port + 1, rcvbuf)
    except OSError as e:
        rtp.close()
        if e.errno in _BUSY:
            return None
        raise
    return PortPair(address, port, rtp, rtcp)


class PortAllocator:
    """Allocates RTP/RTCP pairs per the ``rtpport`` rules (see the module docstring)."""

    def __init__(self, rtpport: int = 0, *, rand: Optional[random.Random] = None,
                 random_range: tuple[int, int] = RANDOM_RANGE, rcvbuf: int = 0,
                 max_tries: int = 1000) -> None:
        if isinstance(rtpport, bool) or not isinstance(rtpport, int) or not 0 <= rtpport <= 65534:
            raise ValueError(f"rtpport must be 0..65534, not {rtpport!r}")
        lo, hi = random_range
        if not 1024 <= lo < hi <= 65535:
            raise ValueError(f"bad random range {random_range!r}")
        self.rtpport = rtpport
        self.rand = rand or random.Random()
        self.lo, self.hi = lo + (lo & 1), hi - 1 - ((hi - 1) & 1)   # even RTP ports, RTCP <= hi
        self.rcvbuf = rcvbuf
        self.max_tries = max_tries
        #: The remembered port of ``rtpport`` 0 (None until the first success).
        self.stable_port: Optional[int] = None
        #: RTP ports of pairs handed out and not closed yet (skipped without a bind).
        self.in_use: set[int] = set()
        self._cursor: Optional[int] = None

    def _candidates(self):
        if self.rtpport:
            # while calls are up, start after the last pair handed out (rescanning the busy
            # ports from the base would be O(calls) per call); with none up, at the base
            base = self.rtpport + (self.rtpport & 1)
            p = base if self._cursor is None or not self.in_use else self._cursor
            yield from itertools.chain(range(p, 65535, 2), range(base, p, 2))
            return
        if self.stable_port is None:
            start = self.lo + 2 * self.rand.randrange((self.hi - self.lo) // 2 + 1)
        else:
            start = self.stable_port if self._cursor is None or not self.in_use else self._cursor
        n = (self.hi - self.lo) // 2 + 1
        for i in range(n):
            yield self.lo + (start - self.lo + 2 * i) % (2 * n)

    def allocate(self, address: str = "127.0.0.1") -> PortPair:
        """Bind the next free pair on ``address``; OSError (EADDRINUSE) if none is free."""
        tries = 0
        for port in self._candidates():
            if port in self.in_use:
                continue
            tries += 1
            if tries > self.max_tries:
                break
            pair = bind_pair(address, port, self.rcvbuf)
            if pair is not None:
                if not self.rtpport and self.stable_port is None:
                    self.stable_port = port
                self.in_use.add(port)
                self._cursor = port + 2 if port + 2 <= (65534 if self.rtpport else self.hi) \
                    else None
                pair.on_close = self.in_use.discard
                return pair
        raise OSError(errno.EADDRINUSE, f"no free RTP port pair on {address} "
                      f"(rtpport={self.rtpport})")
