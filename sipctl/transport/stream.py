"""SIP over TCP and TLS: one listener plus a pool of connections (RFC 3261 18.1.2, 18.2.2).

The pool is keyed by ``(peer ip, peer port, "TCP"|"TLS")``. Outbound connections are made
on the first send to a destination; inbound ones are pooled under the peer's source
address, so a response sent to the request's source reuses the connection the request came
on (RFC 3261 18.2.2). Framing is :class:`~sipctl.sip.framing.StreamFramer` (bounded header
section and message size): an unparseable but framed message gives :class:`ParseFailed`
and the connection stays; lost framing gives :class:`ParseFailed` (``raw=b""``) and the
connection is closed. RFC 5626 keep-alives: a CRLFCRLF ping is answered with a CRLF pong,
a pong becomes :class:`KeepAlivePong`. Connections idle for ``idle_timeout`` seconds are
closed by one re-armed timer.

TLS clients use ``ssl.create_default_context()`` (certificate and host name verified) with
an optional CA file; the TLS host name (and SNI) is ``server_name`` or the destination.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import Any

from ..sip.errors import ParseError, TransportError
from ..sip.framing import (MAX_HEADER_SECTION, InvalidMessage, KeepAlivePing, StreamFramer)
from ..sip.framing import KeepAlivePong as _FramerPong
from ..sip.message import MAX_MESSAGE_SIZE
from .base import Address, EventQueue, Transport, bind_error, format_address, normalize_address
from .events import ConnectionLost, KeepAlivePong, MessageReceived, ParseFailed

__all__ = ["StreamTransport", "client_ssl_context", "server_ssl_context", "PoolKey"]

log = logging.getLogger(__name__)

#: ``(peer ip, peer port, "TCP" | "TLS")``.
PoolKey = tuple[str, int, str]

DEFAULT_IDLE_TIMEOUT = 3600.0  # seconds; longer than a registration refresh
DEFAULT_CONNECT_TIMEOUT = 10.0
MAX_WRITE_BUFFER = 1 << 20


def client_ssl_context(ca_file: str | None = None, *, verify: bool = True) -> ssl.SSLContext:
    """``ssl.create_default_context()`` (+ ``ca_file``); ``verify=False`` turns checks off."""
    ctx = ssl.create_default_context(cafile=ca_file)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def server_ssl_context(cert_file: str, key_file: str | None = None) -> ssl.SSLContext:
    """A server context serving ``cert_file``/``key_file`` (no client certificates asked)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


class _Connection(asyncio.Protocol):
    """One TCP/TLS connection: framing in, bytes out."""

    def __init__(self, owner: "StreamTransport", outbound: bool) -> None:
        self.owner = owner
        self.outbound = outbound
        self.framer = StreamFramer(owner.max_message_size, owner.max_header_section)
        self.transport: asyncio.Transport | None = None
        self.peer: Address = ("", 0)
        self.last_activity = 0.0
        self.closed = False
        #: The TLS host name verified when we connected out (None: inbound, TCP, IP).
        self.server_name: str | None = None

    @property
    def key(self) -> PoolKey:
        return (self.peer[0], self.peer[1], self.owner.name)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peer = normalize_address(transport.get_extra_info("peername"))
        self.last_activity = asyncio.get_running_loop().time()
        self.owner._register(self)

    def data_received(self, data: bytes) -> None:
        owner = self.owner
        self.last_activity = asyncio.get_running_loop().time()
        if self.framer.buffered == 0 and data[:1] in (b" ", b"\t"):
            stripped = data.lstrip(b" \t")  # "SP CRLF" keep-alive (keepalivetype 1)
            if stripped[:2] == b"\r\n" or not stripped:
                data = stripped
        self.framer.feed(data)
        while not self.closed:
            try:
                event = self.framer.next_event()
            except ParseError as e:
                log.debug("framing lost with %s: %s", format_address(self.peer), e.detail)
                owner._emit(ParseFailed(e, self.peer, b"", owner))
                self.abort()
                return
            if event is None:
                return
            if isinstance(event, KeepAlivePing):
                self.write(b"\r\n")
            elif isinstance(event, _FramerPong):
                owner._emit(KeepAlivePong(self.peer, owner))
            elif isinstance(event, InvalidMessage):
                owner._emit(ParseFailed(event.error, self.peer, event.error.data, owner))
            else:
                owner._emit(MessageReceived(event, self.peer, owner))

    def eof_received(self) -> bool | None:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.owner._unregister(self)
        self.owner._emit(ConnectionLost(self.peer, exc, self.owner))

    def write(self, data: bytes) -> None:
        t = self.transport
        if t is None or t.is_closing() or self.closed:
            raise TransportError(f"{self.owner.name} connection to "
                                 f"{format_address(self.peer)} is closed")
        if t.get_write_buffer_size() + len(data) > MAX_WRITE_BUFFER:
            raise TransportError(f"{self.owner.name} send buffer to "
                                 f"{format_address(self.peer)} is full")
        t.write(data)
        self.last_activity = asyncio.get_running_loop().time()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class StreamTransport(Transport):
    """A TCP or TLS transport; create with :meth:`open`."""

    reliable = True

    def __init__(self, events: EventQueue, name: str, *,
                 client_ssl: ssl.SSLContext | None = None,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 max_message_size: int = MAX_MESSAGE_SIZE,
                 max_header_section: int = MAX_HEADER_SECTION) -> None:
        if name not in ("TCP", "TLS"):
            raise ValueError(f"stream transport must be TCP or TLS, not {name!r}")
        self._events = events
        self.name = name
        self.client_ssl = client_ssl
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self.max_message_size = max_message_size
        self.max_header_section = max_header_section
        self._pool: dict[PoolKey, _Connection] = {}
        self._connecting: dict[PoolKey, asyncio.Future[_Connection]] = {}
        self._server: asyncio.base_events.Server | None = None
        self._bind_host = "0.0.0.0"
        self._local: Address | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    @classmethod
    async def open(cls, events: EventQueue, host: str = "0.0.0.0", port: int = 0, *,
                   tls: bool = False, listen: bool = True, ca_file: str | None = None,
                   verify: bool = True, cert_file: str | None = None,
                   key_file: str | None = None, client_ssl: ssl.SSLContext | None = None,
                   server_ssl: ssl.SSLContext | None = None, **kwargs: Any) -> "StreamTransport":
        """Open a TCP (``tls=False``) or TLS transport bound to ``host:port``.

        ``listen``: accept connections (a TLS listener needs ``cert_file``/``key_file`` or
        ``server_ssl``; without them a TLS transport is client-only). ``ca_file``/``verify``
        build the client context unless ``client_ssl`` is given. Other keyword arguments:
        ``idle_timeout``, ``connect_timeout``, ``max_message_size``, ``max_header_section``.
        Raises :class:`~sipctl.transport.base.BindError`.
        """
        name = "TLS" if tls else "TCP"
        if tls and client_ssl is None:
            client_ssl = client_ssl_context(ca_file, verify=verify)
        self = cls(events, name, client_ssl=client_ssl if tls else None, **kwargs)
        self._bind_host = host
        if tls and server_ssl is None and cert_file is not None:
            server_ssl = server_ssl_context(cert_file, key_file)
        if listen and (not tls or server_ssl is not None):
            await self._listen(host, port, server_ssl)
        else:
            self._local = normalize_address((host, 0))
        return self

    async def _listen(self, host: str, port: int, server_ssl: ssl.SSLContext | None) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((host, port))
            except OSError as e:
                raise bind_error(self.name, (host, port), e) from None
            sock.listen(128)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self, outbound=False), sock=sock, ssl=server_ssl,
            ssl_handshake_timeout=self.connect_timeout if server_ssl else None)
        self._local = normalize_address(sock.getsockname())

    # -- Transport ------------------------------------------------------------------------
    @property
    def local_address(self) -> Address:
        if self._local is None:
            raise RuntimeError(f"{self.name} transport is not open")
        return self._local

    @property
    def listening(self) -> bool:
        """True when accepting connections."""
        return self._server is not None

    @property
    def connections(self) -> list[PoolKey]:
        """Keys of the pooled (open) connections."""
        return list(self._pool)

    async def send(self, message_bytes: bytes, destination: Address, *,
                   server_name: str | None = None) -> None:
        if self._closed:
            raise TransportError(f"{self.name} transport is closed")
        conn = await self._get_connection(normalize_address(destination), server_name)
        conn.write(message_bytes)

    async def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for fut in list(self._connecting.values()):
            fut.cancel()
        if self._server is not None:
            self._server.close()
        for conn in list(self._pool.values()):
            conn.close()
        self._pool.clear()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            except asyncio.TimeoutError:  # pragma: no cover - lingering TLS shutdown
                pass
            self._server = None
        await asyncio.sleep(0)

    # -- the pool -------------------------------------------------------------------------
    async def _get_connection(self, dest: Address, server_name: str | None) -> _Connection:
        key = (dest[0], dest[1], self.name)
        conn = self._pool.get(key)
        if self.client_ssl is not None and server_name is None and conn is not None \
                and conn.outbound:
            server_name = dest[0]
        if conn is not None and not conn.closed and conn.transport is not None \
                and not conn.transport.is_closing() and not (
                    self.client_ssl is not None and conn.outbound and server_name is not None
                    and server_name != conn.server_name):
            return conn  # (a TLS connection verified for another name is not reused)
        pending = self._connecting.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._connect(dest, server_name))
            self._connecting[key] = pending
            pending.add_done_callback(lambda _f: self._connecting.pop(key, None))
        return await asyncio.shield(pending)

    async def _connect(self, dest: Address, server_name: str | None) -> _Connection:
        loop = asyncio.get_running_loop()
        local_addr = None
        bind = self._bind_host
        if bind not in ("0.0.0.0", "::", "") and (":" in bind) == (":" in dest[0]):
            local_addr = (bind, 0)
        kwargs: dict[str, Any] = {}
        if self.client_ssl is not None:
            sni = server_name or dest[0]
            kwargs = dict(ssl=self.client_ssl, server_hostname=sni,
                          ssl_handshake_timeout=self.connect_timeout)
        where = f"{self.name} {format_address(dest)}"
        if server_name and self.client_ssl is not None:
            where += f" ({server_name})"
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(self, outbound=True),
                                       dest[0], dest[1], local_addr=local_addr, **kwargs),
                self.connect_timeout)
        except asyncio.TimeoutError:
            raise TransportError(f"cannot connect to {where}: timed out") from None
        except ssl.SSLCertVerificationError as e:
            raise TransportError(f"TLS handshake with {where} failed: "
                                 f"{e.verify_message or e.reason or e}") from e
        except ssl.SSLError as e:
            raise TransportError(f"TLS handshake with {where} failed: {e.reason or e}") from e
        except OSError as e:
            raise TransportError(f"cannot connect to {where}: {e.strerror or e}") from e
        assert isinstance(conn, _Connection)
        if self.client_ssl is not None:
            conn.server_name = server_name or dest[0]
        if self._closed:
            conn.abort()
            raise TransportError(f"{self.name} transport is closed")
        return conn

    def _register(self, conn: _Connection) -> None:
        if self._closed:
            conn.abort()
            return
        old = self._pool.get(conn.key)
        if old is not None and old is not conn:
            old.close()
        self._pool[conn.key] = conn
        if self._timer is None and self.idle_timeout > 0:
            self._arm(conn.last_activity + self.idle_timeout)

    def _unregister(self, conn: _Connection) -> None:
        if self._pool.get(conn.key) is conn:
            del self._pool[conn.key]

    def _emit(self, event: Any) -> None:
        self._events.put_nowait(event)

    # -- idle close: one re-armed timer ---------------------------------------------------
    def _arm(self, when: float) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(when, self._check_idle)

    def _check_idle(self) -> None:
        self._timer = None
        if self._closed:
            return
        now = asyncio.get_running_loop().time()
        nxt: float | None = None
        for conn in list(self._pool.values()):
            expires = conn.last_activity + self.idle_timeout
            if expires <= now:
                log.debug("closing idle %s connection to %s", self.name,
                          format_address(conn.peer))
                conn.close()
            elif nxt is None or expires < nxt:
                nxt = expires
        if nxt is not None:
            self._arm(nxt)

