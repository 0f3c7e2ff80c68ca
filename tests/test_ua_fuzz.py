"""Fuzz: random and mutated datagrams to a running UserAgent; it answers or drops, never dies."""
from __future__ import annotations

import asyncio
import secrets
import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipctl.sip.message import make_400
from sipctl.transport import TransportConfig
from sipctl.ua import UserAgent


@pytest.fixture(scope="module")
def running_ua():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    ua = UserAgent([], transport_config=TransportConfig(transport=0, localip="127.0.0.1"))
    asyncio.run_coroutine_threadsafe(ua.start(), loop).result(5)
    try:
        yield ua
    finally:
        asyncio.run_coroutine_threadsafe(ua.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.fixture(scope="module")
def client():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    yield s
    s.close()


def valid_request(port: int, method: str = "OPTIONS") -> bytes:
    return (f"{method} sip:ua@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:fuzz@127.0.0.1>;tag={secrets.token_hex(4)}\r\n"
            "To: <sip:ua@127.0.0.1>\r\n"
            f"Call-ID: {secrets.token_hex(8)}\r\n"
            f"CSeq: 1 {method}\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def drain(sock: socket.socket, wait: float) -> list[bytes]:
    out = []
    sock.settimeout(wait)
    try:
        while True:
            out.append(sock.recv(65535))
            sock.settimeout(0.01)
    except (socket.timeout, BlockingIOError):
        pass
    return out


mutation = st.tuples(st.integers(0, 400), st.integers(0, 20), st.binary(max_size=20))


@st.composite
def datagrams(draw):
    if draw(st.booleans()):
        return draw(st.binary(min_size=1, max_size=300)), None
    return None, draw(st.lists(mutation, min_size=1, max_size=4))


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(datagrams())
def test_fuzz_datagrams(running_ua, client, case):
    raw, mutations = case
    port = running_ua.local_address("UDP")[1]
    if raw is None:
        data = bytearray(valid_request(client.getsockname()[1]))
        for pos, cut, insert in mutations:
            pos = min(pos, len(data))
            data[pos:pos + cut] = insert
        raw = bytes(data)
    drain(client, 0.0)
    client.sendto(raw, ("127.0.0.1", port))
    expected = make_400(raw)
    replies = drain(client, 0.5 if expected is not None else 0.03)
    if expected is not None:
        assert replies, raw
        assert replies[0].startswith(f"SIP/2.0 {expected.status} ".encode()), replies[0]
    assert running_ua._task is not None and not running_ua._task.done()


def test_still_answers_options(running_ua, client):
    port = running_ua.local_address("UDP")[1]
    drain(client, 0.0)
    client.sendto(valid_request(client.getsockname()[1]), ("127.0.0.1", port))
    replies = drain(client, 2.0)
    assert any(r.startswith(b"SIP/2.0 200 ") for r in replies), replies
    assert not running_ua._task.done()


# --------------------------------------------------------------------------- TCP


@pytest.fixture(scope="module")
def running_tcp_ua():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    ua = UserAgent([], transport_config=TransportConfig(transport=1, localip="127.0.0.1"))
    asyncio.run_coroutine_threadsafe(ua.start(), loop).result(5)
    try:
        yield ua
    finally:
        asyncio.run_coroutine_threadsafe(ua.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def tcp_request(port: int, method: str = "OPTIONS") -> bytes:
    return valid_request(port, method).replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")


def tcp_exchange(port: int, data: bytes, wait: float) -> tuple[bytes, bool]:
    """Send ``data`` on a new connection; (bytes read, whether the UA closed it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(data)
        out, closed = b"", False
        s.settimeout(wait)
        try:
            while True:
                chunk = s.recv(65535)
                if not chunk:
                    closed = True
                    break
                out += chunk
                s.settimeout(0.05)
        except (socket.timeout, ConnectionResetError):
            pass
        return out, closed


@st.composite
def stream_data(draw):
    if draw(st.booleans()):
        return draw(st.binary(min_size=1, max_size=300))
    data = bytearray(tcp_request(5060))
    for pos, cut, insert in draw(st.lists(mutation, min_size=1, max_size=4)):
        pos = min(pos, len(data))
        data[pos:pos + cut] = insert
    return bytes(data)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(stream_data())
def test_fuzz_tcp_stream(running_tcp_ua, raw):
    port = running_tcp_ua.local_address("TCP")[1]
    out, closed = tcp_exchange(port, raw, 0.2)
    out = out.lstrip(b"\r\n")  # CRLF pongs answer CRLFCRLF pings (RFC 5626)
    if out:
        # whatever comes back is a SIP response: 400-class for garbage, or an answer
        # (200/405/501...) when the mutation left a valid request
        assert out.startswith(b"SIP/2.0 "), out
        status = int(out[8:11])
        assert 200 <= status < 600, out
    assert running_tcp_ua._task is not None and not running_tcp_ua._task.done()


def test_tcp_garbage_is_answered_400_or_closed(running_tcp_ua):
    port = running_tcp_ua.local_address("TCP")[1]
    # a framed request with a broken header: 400 on the same connection
    for old, new in [(b"Max-Forwards: 70", b"Max-Forwards: abc"),
                     (b"To: <sip:ua@127.0.0.1>", b"To: <<bad")]:
        bad = tcp_request(port).replace(old, new)
        assert make_400(bad) is not None
        out, _closed = tcp_exchange(port, bad, 2.0)
        assert out.startswith(b"SIP/2.0 400 "), out
    # unframeable bytes (a huge Content-Length, binary junk): 400 or the connection closed
    out, closed = tcp_exchange(port, b"\x00\xff" * 600 + b"\r\n\r\n", 2.0)
    assert closed or out.startswith(b"SIP/2.0 4"), (out, closed)
    assert not running_tcp_ua._task.done()


def test_tcp_still_serves_a_new_connection(running_tcp_ua):
    port = running_tcp_ua.local_address("TCP")[1]
    out, _closed = tcp_exchange(port, tcp_request(port), 2.0)
    assert out.startswith(b"SIP/2.0 200 "), out
    assert running_tcp_ua.errors == 0
    assert not running_tcp_ua._task.done()
