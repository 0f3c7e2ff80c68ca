"""The TCP API server: the asyncio adapter between sockets and a :class:`~sipctl.Phone`.

Per client: bytes -> :class:`~sipctl.api.framing.ApiDecoder` -> :func:`dispatch` (one
command at a time, answers in order) -> answer bytes; every client also gets the
phone's events as notifications (:mod:`sipctl.api.notify`). A client that sends garbage
gets ``ERROR:`` lines and stays connected; a client that cannot keep up with its
notifications (megabytes queued) is disconnected with a reason, never the others.

Access control (the reference has none): when a token is configured, the first line a
client sends must be ``AUTH <token>``; anything else is refused and the connection closed.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from sipctl.api.commands import dispatch, is_known
from sipctl.api.framing import ApiDecoder, ApiRequest, FramingError, format_error
from sipctl.api.notify import event_text, format_event
from sipctl.phone_events import PhoneEvent

__all__ = ["ApiServer", "ApiSession", "MAX_COMMAND", "MAX_CLIENTS"]

_log = logging.getLogger("sipctl.api")

MAX_COMMAND = 256 * 1024        # longest command (bytes); a longer one is answered and dropped
MAX_CLIENTS = 256
MAX_BACKLOG = 8 * 1024 * 1024   # notification bytes queued to one client before it is dropped
IDLE_FLUSH = 0.05               # a command without CRLF is run after this much silence


class ApiSession:
    """What one client's commands run against: the phone, plus the few functions that
    belong to the TCP API itself (``API_Poll`` returns notification strings)."""

    def __init__(self, phone: Any) -> None:
        self.phone = phone

    def __getattr__(self, name: str) -> Any:
        return getattr(self.phone, name)

    def poll(self) -> str:
        """``API_Poll``: the accumulated notification strings, separated by ``\\r\\n``."""
        level = self.phone.params.get("jsscriptevent")
        texts = (event_text(ev, level) for ev in self.phone.poll())
        return "\r\n".join(t for t in texts if t is not None)


class _Client:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.peer = writer.get_extra_info("peername")
        self.closed = False

    def send(self, data: bytes) -> None:
        if self.closed:
            return
        transport = self.writer.transport
        if transport.is_closing():
            self.closed = True
            return
        if transport.get_write_buffer_size() > MAX_BACKLOG:
            _log.warning("API client %s does not read its notifications: disconnected",
                         self.peer)
            self.closed = True
            transport.write(b"ERROR: disconnected: more than 8 MB of unread notifications\r\n")
            transport.abort()
            return
        transport.write(data)


class ApiServer:
    """Serves ``phone`` on ``host:port`` (port 0: any free port, see :attr:`port`)."""

    def __init__(self, phone: Any, host: str = "127.0.0.1", port: int = 18620, *,
                 token: str | None = None, max_clients: int = MAX_CLIENTS) -> None:
        self.phone = phone
        self.host, self.requested_port = host, port
        self.token = token
        self.max_clients = max_clients
        self.clients: set[_Client] = set()
        self._server: asyncio.base_events.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def addresses(self) -> list[str]:
        assert self._server is not None
        return [f"{s.getsockname()[0]}:{s.getsockname()[1]}" for s in self._server.sockets]

    async def start(self) -> "ApiServer":
        self._server = await asyncio.start_server(self._serve_client, self.host,
                                                  self.requested_port, reuse_address=True,
                                                  limit=MAX_COMMAND)
        self.phone.add_listener(self._on_event)
        return self

    async def close(self) -> None:
        """Stop listening and close every client connection."""
        self.phone.remove_listener(self._on_event)
        if self._server is not None:
            self._server.close()
        for c in list(self.clients):
            c.closed = True
            c.writer.close()
        for t in list(self._handlers):
            t.cancel()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=2)
        if self._server is not None:
            await self._server.wait_closed()

    # -- notifications ------------------------------------------------------------------------
    def _on_event(self, ev: PhoneEvent) -> None:
        params = self.phone.params
        if not self.clients or params.get("jsscriptpoll") in (1, 3):   # polling only
            return
        data = format_event(ev, params.get("jsscriptevent"))
        if data is None:
            return
        for c in list(self.clients):
            c.send(data)

    # -- one client ------------------------------------------------------------------------------
    async def _serve_client(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        client = _Client(writer)
        try:
            if len(self.clients) >= self.max_clients:
                writer.write(b"ERROR: too many API clients (%d); try again later\r\n"
                             % self.max_clients)
                return
            if self.token is not None and not await self._authenticate(reader, writer):
                return
            _log.info("API client connected: %s", client.peer)
            self.clients.add(client)
            await self._read_commands(reader, client)
        except (ConnectionError, OSError) as e:
            _log.info("API client %s: %s", client.peer, e)
        except asyncio.CancelledError:
            pass
        finally:
            self.clients.discard(client)
            self._handlers.discard(task)
            client.closed = True
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass
            _log.info("API client gone: %s", client.peer)

    async def _authenticate(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> bool:
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
        except (asyncio.TimeoutError, asyncio.LimitOverrunError, ValueError):
            line = b""
        text = line.decode("utf-8", "replace").strip()
        word, _, given = text.partition(" ")
        assert self.token is not None
        if word.upper() == "AUTH" and hmac.compare_digest(given.strip().encode(),
                                                          self.token.encode()):
            writer.write(b"OK: authenticated\r\n")
            return True
        _log.warning("API client %s: authentication failed", writer.get_extra_info("peername"))
        writer.write(b"ERROR: authentication required: send AUTH <token> as the first line "
                     b"(sipctl serve --token); closing\r\n")
        await writer.drain()
        return False

    async def _read_commands(self, reader: asyncio.StreamReader, client: _Client) -> None:
        decoder = ApiDecoder(max_command=MAX_COMMAND, known=is_known)
        session = ApiSession(self.phone)
        while not client.closed:
            if decoder.pending:
                try:
                    data = await asyncio.wait_for(reader.read(65536), IDLE_FLUSH)
                except asyncio.TimeoutError:
                    await self._run(decoder.flush_idle(), session, client)
                    continue
            else:
                data = await reader.read(65536)
            if not data:
                await self._run(decoder.eof(), session, client)
                return
            await self._run(decoder.feed(data), session, client)
            await client.writer.drain()

    async def _run(self, items: list[ApiRequest | FramingError], session: ApiSession,
                   client: _Client) -> None:
        for item in items:
            if isinstance(item, FramingError):
                # not the bytes themselves: a mistyped command may hold a password
                _log.info("API client %s: %s", client.peer, item.message)
                client.send(format_error(None, item.message))
                continue
            # the function name only: arguments may be passwords
            _log.debug("API %s: %s (%d argument(s))", client.peer, item.name, len(item.args))
            client.send(await dispatch(session, item))
