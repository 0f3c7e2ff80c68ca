"""The API service process (``sipctl serve``).

Foundation release: it binds the API port on loopback and answers every command
with a clear ``ERROR:`` line saying the command set is not implemented yet; the
MVoIPSDK-compatible command table and notifications land with the TCP API issue.
Non-loopback addresses are refused until that issue adds token authentication.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal

log = logging.getLogger("sipctl.service")

MAX_LINE = 64 * 1024  # longest accepted command line; longer input is answered and dropped
NOT_READY = b"ERROR: sipctl 0.1 has no API commands yet (the TCP API is not implemented in this release)\r\n"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    peer = writer.get_extra_info("peername")
    log.info("API client connected: %s", peer)
    try:
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as e:
                line = e.partial  # command without CRLF at EOF still gets an answer
                if line.strip():
                    writer.write(NOT_READY)
                    await writer.drain()
                break
            except asyncio.LimitOverrunError:
                writer.write(b"ERROR: command line longer than %d bytes\r\n" % MAX_LINE)
                await writer.drain()
                break
            if line.strip():
                writer.write(NOT_READY)
                await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
        log.info("API client gone: %s", peer)


async def _serve(host: str, port: int) -> None:
    server = await asyncio.start_server(_client, host, port, limit=MAX_LINE, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    addrs = ", ".join(f"{s.getsockname()[0]}:{s.getsockname()[1]}" for s in server.sockets)
    print(f"sipctl: API listening on {addrs}", flush=True)
    async with server:
        await stop.wait()
    print("sipctl: stopped", flush=True)


def serve(host: str = "127.0.0.1", port: int = 18620) -> int:
    """Listen on ``host:port`` until SIGTERM/SIGINT; returns an exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not _is_loopback(host):
        print(f"sipctl: refusing to listen on non-loopback address {host!r}: the API has no "
              "access control yet", flush=True)
        return 2
    try:
        asyncio.run(_serve(host, port))
    except OSError as e:
        print(f"sipctl: cannot listen on {host}:{port}: {e.strerror or e}", flush=True)
        return 1
    return 0
