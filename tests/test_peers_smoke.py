"""The interop peers themselves work (no sipctl code involved): Kamailio + SIPp on loopback."""
import re
import secrets
import shutil
import socket
import ssl
import time

import pytest

from peers import (Kamailio, kamailio_proxy, make_kamailio, sip_options,  # noqa: F401
                   sipp_runner)

pytestmark = pytest.mark.skipif(
    not all(shutil.which(b) for b in ("kamailio", "kamcmd", "sipp")),
    reason="kamailio/kamcmd/sipp not installed")

ALICE = ("alice", "alice-secret")


def raw_options(host: str, port: int, transport: str) -> bytes:
    branch, tag = secrets.token_hex(6), secrets.token_hex(4)
    return (f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} {host}:9;branch=z9hG4bK{branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:smoke@invalid>;tag={tag}\r\n"
            f"To: <sip:{host}:{port}>\r\n"
            f"Call-ID: {branch}@smoke\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def bindings_of(kam: Kamailio, user: str, local_addr: tuple[str, int]) -> list:
    host, port = local_addr
    return [r for r in kam.registrations()
            if r[0] == user and re.search(rf"@{re.escape(host)}:{port}\b", r[1])]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_registers_through_kamailio(kamailio_proxy, sipp_runner, transport):
    r = sipp_runner.uac("uac_register_auth", kamailio_proxy.udp_addr, transport=transport,
                        service="alice", auth=ALICE, timeout=5)
    assert r.returncode == 0, r.describe()
    statuses = [m.status for m in r.received()]
    assert statuses[-2:] == [401, 200], statuses
    regs = bindings_of(kamailio_proxy, "alice", r.local_addr)
    assert len(regs) == 1, kamailio_proxy.registrations()
    aor, contact, expires = regs[0]
    assert f"transport={transport}" in contact.lower()
    assert 3500 < expires <= 3600


def test_wrong_password_is_refused(kamailio_proxy, sipp_runner):
    r = sipp_runner.uac("uac_register_auth", kamailio_proxy.udp_addr, service="alice",
                        auth=("alice", "not-the-password"), timeout=5)
    assert r.returncode != 0 and not r.timed_out, r.describe()
    finals = [m.status for m in r.received() if m.method == "REGISTER"]
    assert finals and finals[-1] in (401, 403), finals
    assert 200 not in finals
    assert bindings_of(kamailio_proxy, "alice", r.local_addr) == []


def test_raw_udp_options_gets_a_response(kamailio_proxy):
    host, port = kamailio_proxy.udp_addr
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(2.0)
        s.sendto(raw_options(host, port, "UDP"), (host, port))
        data, src = s.recvfrom(65535)
    assert src == (host, port)
    assert data.startswith(b"SIP/2.0 200 "), data[:200]
    assert b"CSeq: 1 OPTIONS" in data


def test_tls_handshake_verifies_against_test_ca(kamailio_proxy):
    host, port = kamailio_proxy.tls_addr
    ctx = ssl.create_default_context(cafile=str(kamailio_proxy.certs.ca_cert))
    with socket.create_connection((host, port), timeout=3) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            sans = tls.getpeercert()["subjectAltName"]
            assert ("IP Address", "127.0.0.1") in sans
            tls.settimeout(3)
            tls.sendall(raw_options(host, port, "TLS"))
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = tls.recv(65535)
                assert chunk, f"connection closed after {data!r}"
                data += chunk
    assert data.startswith(b"SIP/2.0 200 "), data[:200]
    # and the verification is real: without the test CA the handshake must fail
    with socket.create_connection((host, port), timeout=3) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ssl.create_default_context().wrap_socket(raw, server_hostname=host)


def test_kill_then_restart_on_same_ports(make_kamailio, sipp_runner):
    kam = make_kamailio(users={"alice": ALICE[1]})
    ports, old_pid = (kam.port, kam.tls_port), kam.pid
    assert sip_options(*kam.udp_addr, timeout=2)

    kam.kill()
    assert not kam.running
    assert sip_options(*kam.udp_addr, timeout=0.7) is None
    assert sip_options(*kam.tcp_addr, transport="tcp", timeout=0.7) is None

    t0 = time.monotonic()
    kam.restart()
    assert time.monotonic() - t0 < 10
    assert kam.running and kam.pid != old_pid
    assert (kam.port, kam.tls_port) == ports
    assert sip_options(*kam.udp_addr, timeout=2).startswith(b"SIP/2.0 200 ")
    assert sip_options(*kam.tcp_addr, transport="tcp", timeout=2).startswith(b"SIP/2.0 200 ")
    assert kam.registrations() == []          # usrloc is in memory: gone with the process
    r = sipp_runner.uac("uac_register_auth", kam.udp_addr, service="alice", auth=ALICE,
                        timeout=5)
    assert r.returncode == 0, r.describe()
    assert len(bindings_of(kam, "alice", r.local_addr)) == 1


def test_min_expires_gives_423(make_kamailio, sipp_runner):
    kam = make_kamailio(users={"alice": ALICE[1]}, min_expires=7200, max_expires=9000)
    r = sipp_runner.uac("uac_register_auth", kam.udp_addr, service="alice", auth=ALICE,
                        timeout=5)
    assert r.returncode != 0
    last = [m for m in r.received() if m.method == "REGISTER"][-1]
    assert last.status == 423 and last.header("Min-Expires") == "7200", last.text


def test_sipp_uas_scenarios(sipp_runner):
    # uac_register_auth against uas_401: challenge, authenticated retry, 200
    with sipp_runner.background("uas_401", timeout=5) as uas:
        uac = sipp_runner.uac("uac_register_auth", uas.addr, service="alice", auth=ALICE,
                              timeout=5)
        res = uas.wait()
    assert uac.returncode == 0, uac.describe()
    assert res.returncode == 0, res.describe()
    assert "Authorization seen: Digest" in res.actions_log.read_text()

    # uas_silent never answers; each UDP retransmission is in -trace_msg with its time
    with sipp_runner.background("uas_silent", duration_ms=2000, timeout=5) as uas:
        assert sip_options(*uas.addr, timeout=0.8) is None   # sends at 0 and 0.5 s
        res = uas.wait()
    got = res.received("OPTIONS")
    assert len(got) == 2, res.describe()
    assert not any(m.direction == "sent" for m in res.messages())
    assert 0.4 < got[1].time - got[0].time < 0.7


def _have_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _have_ipv6_loopback(), reason="no ::1 on this host")
def test_ipv6_listener(make_kamailio):
    kam = make_kamailio(ipv6=True)
    for transport in ("udp", "tcp", "tls"):
        host, port = kam.addr(transport, ipv6=True)
        reply = sip_options(host, port, transport=transport, timeout=2)
        assert reply and reply.startswith(b"SIP/2.0 200 "), (transport, reply)
