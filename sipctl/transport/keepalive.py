"""NAT keep-alives per the ``keepalivetype`` / ``keepaliveival`` parameters.

=====  ================================================================================
type   what is sent every ``keepaliveival`` ms (default 28000; 0 disables)
=====  ================================================================================
0      nothing
1      ``SP CRLF`` (``b" \\r\\n"``)
2      nothing from here: a :class:`KeepAliveDue` event asks the core to send a NOTIFY
3      ``CRLF``
4      ``CRLF CRLF``: the RFC 5626 4.4.1 ping; on a stream transport a ``CRLF`` pong is
       expected within ``pong_timeout`` seconds, else :class:`KeepAliveFailed`
=====  ================================================================================

One :class:`KeepAlive` per flow (transport + destination). Pongs reach it through
:meth:`KeepAlive.pong_received` (the :class:`~sipctl.transport.manager.TransportManager`
forwards :class:`~sipctl.transport.events.KeepAlivePong` events to its keep-alives).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from ..sip.errors import TransportError
from .base import Address, EventQueue, Transport, normalize_address
from .events import KeepAliveDue, KeepAliveFailed

__all__ = ["KeepAlive", "keepalive_payload", "KEEPALIVE_NONE", "KEEPALIVE_SPACE_CRLF",
           "KEEPALIVE_NOTIFY", "KEEPALIVE_CRLF", "KEEPALIVE_DOUBLE_CRLF",
           "DEFAULT_INTERVAL_MS", "DEFAULT_PONG_TIMEOUT"]

log = logging.getLogger(__name__)

KEEPALIVE_NONE = 0
KEEPALIVE_SPACE_CRLF = 1
KEEPALIVE_NOTIFY = 2
KEEPALIVE_CRLF = 3
KEEPALIVE_DOUBLE_CRLF = 4
#: ``keepaliveival`` default (ms).
DEFAULT_INTERVAL_MS = 28000
#: RFC 5626 4.4.1: a pong must arrive within 10 seconds.
DEFAULT_PONG_TIMEOUT = 10.0

_PAYLOADS: dict[int, bytes | None] = {
    KEEPALIVE_NONE: None, KEEPALIVE_SPACE_CRLF: b" \r\n", KEEPALIVE_NOTIFY: None,
    KEEPALIVE_CRLF: b"\r\n", KEEPALIVE_DOUBLE_CRLF: b"\r\n\r\n",
}


def keepalive_payload(keepalivetype: int) -> bytes | None:
    """Bytes sent for ``keepalivetype`` (None for 0 and 2); ValueError outside 0..4."""
    if keepalivetype not in _PAYLOADS:
        raise ValueError(f"keepalivetype must be 0..4, got {keepalivetype}")
    return _PAYLOADS[keepalivetype]


class KeepAlive:
    """Periodic keep-alives on one flow; :meth:`start` / :meth:`stop` (idempotent).

    ``jitter`` (optional, injected randomness) returns a factor applied to each interval;
    RFC 5626 4.4.1 suggests one between 0.8 and 1.0.
    """

    def __init__(self, transport: Transport, destination: Address, events: EventQueue, *,
                 keepalivetype: int = KEEPALIVE_DOUBLE_CRLF,
                 interval_ms: int = DEFAULT_INTERVAL_MS,
                 pong_timeout: float = DEFAULT_PONG_TIMEOUT,
                 server_name: str | None = None,
                 jitter: Callable[[], float] | None = None) -> None:
        self.payload = keepalive_payload(keepalivetype)
        if interval_ms < 0:
            raise ValueError(f"keepaliveival must be >= 0 ms, got {interval_ms}")
        self.keepalivetype = keepalivetype
        self.transport = transport
        self.destination = normalize_address(destination)
        self.interval = interval_ms / 1000.0
        self.pong_timeout = pong_timeout
        self.server_name = server_name
        self._events = events
        self._jitter = jitter
        self._task: asyncio.Task[None] | None = None
        self._pong_timer: asyncio.TimerHandle | None = None
        #: Pings sent / pongs received (for tests and statistics).
        self.sent = 0
        self.pongs = 0

    @property
    def enabled(self) -> bool:
        """False for type 0 or a zero interval."""
        return self.keepalivetype != KEEPALIVE_NONE and self.interval > 0

    @property
    def expects_pong(self) -> bool:
        """True for CRLFCRLF on a stream transport (RFC 5626 4.4.1)."""
        return self.keepalivetype == KEEPALIVE_DOUBLE_CRLF and self.transport.reliable

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start sending (first keep-alive after one interval); no-op when disabled."""
        if self.enabled and not self.running:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Stop sending and forget a pending pong."""
        self._cancel_pong()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def pong_received(self, peer: Address | None = None) -> None:
        """A CRLF pong came from ``peer`` (ignored if it is not our destination)."""
        if peer is not None and normalize_address(peer) != self.destination:
            return
        if self._pong_timer is not None:
            self.pongs += 1
        self._cancel_pong()

    async def send_now(self) -> None:
        """Send one keep-alive (or emit :class:`KeepAliveDue`) immediately."""
        if self.keepalivetype == KEEPALIVE_NOTIFY:
            self._events.put_nowait(KeepAliveDue(self.destination, self.transport))
            self.sent += 1
            return
        if self.payload is None:
            return
        try:
            await self.transport.send(self.payload, self.destination,
                                      server_name=self.server_name)
        except TransportError as e:
            log.debug("keep-alive to %s failed: %s", self.destination, e)
            self._fail()
            return
        self.sent += 1
        if self.expects_pong and self._pong_timer is None:
            loop = asyncio.get_running_loop()
            self._pong_timer = loop.call_later(self.pong_timeout, self._pong_missing)

    async def _run(self) -> None:
        while True:
            factor = self._jitter() if self._jitter is not None else 1.0
            await asyncio.sleep(self.interval * factor)
            await self.send_now()

    def _pong_missing(self) -> None:
        self._pong_timer = None
        self._fail()

    def _fail(self) -> None:
        self._events.put_nowait(KeepAliveFailed(self.destination, self.transport))

    def _cancel_pong(self) -> None:
        if self._pong_timer is not None:
            self._pong_timer.cancel()
            self._pong_timer = None
