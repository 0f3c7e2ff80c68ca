"""The console script, ``python -m sipctl``, the ``serve`` process and ``params --check``."""
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


def _start_serve(port: int, workdir) -> subprocess.Popen:
    p = subprocess.Popen([PY, "-m", "sipctl", "serve", "--port", str(port), "--workdir",
                          str(workdir)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert f"listening on 127.0.0.1:{port}" in line, line
    return p


def _recv_line(s: socket.socket) -> bytes:
    """The next line that is not a notification."""
    data = b""
    while True:
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return data
            data += chunk
        line, _, data = data.partition(b"\r\n")
        if not line.startswith(b"WPNOTIFICATION,"):
            return line + b"\r\n"


def test_serve_answers_and_survives_garbage(free_tcp_port, tmp_path):
    p = _start_serve(free_tcp_port, tmp_path)
    try:
        with socket.create_connection(("127.0.0.1", free_tcp_port), timeout=5) as s:
            s.sendall(b"API_TestEx\r\n")
            assert _recv_line(s) == b"42\r\n"
        # garbage bytes and an over-long line: answered, connection closed, service alive
        garbage = bytes(b for b in os.urandom(400) if b not in b"\r\n")[:200]
        with socket.create_connection(("127.0.0.1", free_tcp_port), timeout=5) as s:
            s.sendall(garbage + b"\r\n")
            assert _recv_line(s).startswith(b"ERROR: ")
            s.sendall(b"A" * 300_000 + b"\r\n")
            assert b"longer than" in _recv_line(s)
            s.sendall(b"API_Test\r\n")       # the connection is still good
            assert _recv_line(s) == b"OK: API_Test succeed\r\n"
        # command without CRLF at EOF (as in the reference's tcp.Send("API_Start"))
        with socket.create_connection(("127.0.0.1", free_tcp_port), timeout=5) as s:
            s.sendall(b"API_Start")
            s.shutdown(socket.SHUT_WR)
            assert _recv_line(s) == b"OK: API_Start succeed\r\n"
        assert p.poll() is None
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
    assert p.returncode == 0, err
    assert "stopped" in out


def test_serve_refuses_non_loopback(free_tcp_port):
    r = run("serve", "--host", "0.0.0.0", "--port", str(free_tcp_port))
    assert r.returncode == 2
    assert "non-loopback" in r.stderr and "--allow-remote" in r.stderr


def test_serve_port_in_use_is_a_clear_error(free_tcp_port, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", free_tcp_port))
        s.listen()
        t0 = time.monotonic()
        r = run("serve", "--port", str(free_tcp_port), "--workdir", str(tmp_path))
    assert r.returncode == 1
    assert "cannot listen" in r.stdout
    assert time.monotonic() - t0 < 30


def test_params_check(tmp_path):
    good = tmp_path / "good.ini"
    good.write_text("serveraddress=127.0.0.1:5060\nusername=alice\n")
    r = run("params", "--check", str(good))
    assert r.returncode == 0, r.stdout + r.stderr
    bad = tmp_path / "bad.ini"
    bad.write_text("username=alice\nserveradress=127.0.0.1\nmaxlines=many\n")
    r = run("params", "--check", str(bad))
    assert r.returncode == 1
    assert f"{bad}:2: serveradress" in r.stdout and "serveraddress" in r.stdout
    assert f"{bad}:3: maxlines" in r.stdout
