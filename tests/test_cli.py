"""The console script, ``python -m sipctl`` and the foundation ``serve`` process."""
import os
import signal
import socket
import subprocess
import sys
import time


import sipctl

PY = sys.executable


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "sipctl", *args], capture_output=True, text=True, timeout=60)


def test_version():
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"sipctl {sipctl.__version__}"


def test_help_lists_serve():
    r = run("--help")
    assert r.returncode == 0
    assert "serve" in r.stdout and "18620" in r.stdout


def test_unknown_command_is_a_clear_error():
    r = run("dance")
    assert r.returncode == 2
    assert "invalid choice" in r.stderr


def _start_serve(port: int) -> subprocess.Popen:
    p = subprocess.Popen([PY, "-m", "sipctl", "serve", "--port", str(port)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert f"listening on 127.0.0.1:{port}" in line, line
    return p


def _recv_line(s: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_serve_answers_and_survives_garbage(free_tcp_port):
    p = _start_serve(free_tcp_port)
    try:
        with socket.create_connection(("127.0.0.1", free_tcp_port), timeout=5) as s:
            s.sendall(b"API_Call,-1,123\r\n")
            assert _recv_line(s).startswith(b"ERROR: ")
        # garbage bytes and an over-long line: answered, connection closed, service alive
        garbage = bytes(b for b in os.urandom(400) if b not in b"\r\n")[:200]
        with socket.create_connection(("127.0.0.1", free_tcp_port), timeout=5) as s:
            s.sendall(garbage + b"\r\n")
            assert _recv_line(s).startswith(b"ERROR: ")
            s.sendall(b"A" * 100_000)
            assert b"longer than" in _recv_line(s)
        # command without CRLF at EOF (as in the reference's tcp.Send("API_Start"))
        with socket.create_connection(("127.0.0.1", free_tcp_port), timeout=5) as s:
            s.sendall(b"API_Start")
            s.shutdown(socket.SHUT_WR)
            assert _recv_line(s).startswith(b"ERROR: ")
        assert p.poll() is None
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
    assert p.returncode == 0, err
    assert "stopped" in out


def test_serve_refuses_non_loopback(free_tcp_port):
    r = run("serve", "--host", "0.0.0.0", "--port", str(free_tcp_port))
    assert r.returncode == 2
    assert "non-loopback" in r.stdout


def test_serve_port_in_use_is_a_clear_error(free_tcp_port):
    with socket.socket() as s:
        s.bind(("127.0.0.1", free_tcp_port))
        s.listen()
        t0 = time.monotonic()
        r = run("serve", "--port", str(free_tcp_port))
    assert r.returncode == 1
    assert "cannot listen" in r.stdout
    assert time.monotonic() - t0 < 30
