"""Smoke tests for the call-flow SIPp scenarios in tests/peers/scenarios.

Each scenario is run once against a tiny raw-socket peer written here (a UDP UAC for the
``uas_*`` scenarios, a UDP UAS for the ``uac_*`` ones) that plays the other side by the book,
so every XML is proven to load and to pass (sipp exit 0) when the UA behaves -- and, where
the scenario checks something (hold answer direction), to fail when it does not. Streaming
scenarios are measured on the socket: PCMU packets at ~50/s, from the port in sipp's SDP.
"""
from __future__ import annotations

import re
import secrets
import shutil
import socket
import threading
import time
from dataclasses import dataclass

import pytest

from peers import sipp_runner  # noqa: F401  (pytest fixture)

pytestmark = pytest.mark.skipif(not shutil.which("sipp"), reason="sipp not installed")

HOST = "127.0.0.1"


# ---- a few lines of SIP ----------------------------------------------------------------------
@dataclass
class Msg:
    first: str
    headers: list[tuple[str, str]]
    body: str

    @classmethod
    def parse(cls, data: bytes) -> "Msg":
        text = data.decode(errors="replace")
        head, _, body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        hdrs = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            hdrs.append((name.strip().lower(), value.strip()))
        return cls(lines[0], hdrs, body)

    def h(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name.lower()), None)

    @property
    def status(self) -> int | None:
        return int(self.first.split()[1]) if self.first.startswith("SIP/2.0") else None

    @property
    def method(self) -> str:
        if self.status is None:
            return self.first.split()[0]
        return (self.h("cseq") or "0 ?").split()[1]

    def sdp_port(self) -> int:
        m = re.search(r"(?m)^m=audio (\d+) ", self.body)
        assert m, f"no m=audio line in\n{self.body}"
        return int(m.group(1))


def sdp(port: int, direction: str = "sendrecv", version: int = 1) -> str:
    return (f"v=0\r\no=raw 1 {version} IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={direction}\r\n")


def build(first: str, headers: list[str], body: str = "") -> bytes:
    ct = ["Content-Type: application/sdp"] if body else []
    return ("\r\n".join([first, *headers, *ct, f"Content-Length: {len(body.encode())}", "", ""])
            + body).encode()


class RtpSink(threading.Thread):
    """Counts RTP packets arriving on its own UDP port (arrival times, sources, sizes)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.packets: list[tuple[float, tuple[str, int], int, int]] = []  # t, src, pt, len
        self._halt = threading.Event()
        self.start()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                data, src = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) >= 12 and data[0] >> 6 == 2:
                self.packets.append((time.monotonic(), src, data[1] & 0x7F, len(data)))

    def between(self, t0: float, t1: float) -> list:
        return [p for p in self.packets if t0 <= p[0] < t1]

    def close(self) -> None:
        self._halt.set()
        self.join(1)
        self.sock.close()


class RawUac:
    """One INVITE dialog from a UDP socket, driven step by step by the test."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.port = self.sock.getsockname()[1]
        self.rtp = RtpSink()
        self.call_id = secrets.token_hex(8) + "@raw"
        self.tag = secrets.token_hex(4)
        self.ruri = f"sip:sipp@{target[0]}:{target[1]}"
        self.to_tag = ""
        self.invite_branch = ""
        self.cseq = 1

    def _common(self, branch: str, cseq: int, method: str) -> list[str]:
        to = f"<{self.ruri}>" + (f";tag={self.to_tag}" if self.to_tag else "")
        return [f"Via: SIP/2.0/UDP {HOST}:{self.port};branch={branch};rport",
                "Max-Forwards: 70", f"From: <sip:raw@{HOST}>;tag={self.tag}", f"To: {to}",
                f"Call-ID: {self.call_id}", f"CSeq: {cseq} {method}"]

    def invite(self) -> None:
        self.invite_branch = "z9hG4bK" + secrets.token_hex(6)
        self.sock.sendto(build(f"INVITE {self.ruri} SIP/2.0",
                               self._common(self.invite_branch, 1, "INVITE")
                               + [f"Contact: <sip:raw@{HOST}:{self.port}>"],
                               sdp(self.rtp.port)), self.target)

    def recv(self, timeout: float = 5.0) -> Msg:
        self.sock.settimeout(timeout)
        data, _ = self.sock.recvfrom(65535)
        msg = Msg.parse(data)
        if msg.status is not None and msg.status > 100:
            m = re.search(r";\s*tag=([^;>\s]+)", msg.h("to") or "")
            if m:
                self.to_tag = m.group(1)
        return msg

    def expect(self, *statuses: int, method: str = "INVITE", timeout: float = 5.0) -> Msg:
        """The next response to ``method`` (others of the list in order)."""
        msg = self.recv(timeout)
        assert msg.status in statuses and msg.method == method, msg.first + " " + method
        return msg

    def cancel(self) -> None:  # same branch, CSeq number and To (no tag) as the INVITE
        to_tag, self.to_tag = self.to_tag, ""
        self.sock.sendto(build(f"CANCEL {self.ruri} SIP/2.0",
                               self._common(self.invite_branch, 1, "CANCEL")), self.target)
        self.to_tag = to_tag

    def ack(self, final: Msg) -> None:
        # non-2xx ACK: the INVITE's branch; 2xx ACK: a new transaction
        branch = self.invite_branch if final.status >= 300 else "z9hG4bK" + secrets.token_hex(6)
        self.sock.sendto(build(f"ACK {self.ruri} SIP/2.0", self._common(branch, 1, "ACK")),
                         self.target)

    def bye(self) -> None:
        self.cseq += 1
        self.sock.sendto(build(f"BYE {self.ruri} SIP/2.0",
                               self._common("z9hG4bK" + secrets.token_hex(6), self.cseq, "BYE")),
                         self.target)

    def close(self) -> None:
        self.rtp.close()
        self.sock.close()


class RawUas(threading.Thread):
    """Answers every INVITE (and re-INVITE) with 200 + SDP mirroring the offer's direction
    (``hold_answer`` to a sendonly offer), ACKs are noted, BYE gets 200."""

    def __init__(self, hold_answer: str = "recvonly") -> None:
        super().__init__(daemon=True)
        self.hold_answer = hold_answer
        self.requests: list[Msg] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.1)
        self.addr = self.sock.getsockname()
        self.rtp = RtpSink()
        self.offers: dict[str, int] = {}   # call-id -> sipp's SDP port
        self._halt = threading.Event()
        self._version = 0
        self.start()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                data, src = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            msg = Msg.parse(data)
            if msg.status is not None:
                continue
            self.requests.append(msg)
            if msg.method == "ACK":
                continue
            to = msg.h("to") or ""
            if "tag=" not in to:
                to += ";tag=" + secrets.token_hex(4)
            hdrs = [f"Via: {msg.h('via')}", f"From: {msg.h('from')}", f"To: {to}",
                    f"Call-ID: {msg.h('call-id')}", f"CSeq: {msg.h('cseq')}"]
            body = ""
            if msg.method == "INVITE":
                self.offers[msg.h("call-id") or ""] = msg.sdp_port()
                offer = re.search(r"a=(sendrecv|sendonly|recvonly|inactive)", msg.body)
                direction = {"sendonly": self.hold_answer, "recvonly": "sendonly",
                             "inactive": "inactive"}.get(offer.group(1) if offer else "",
                                                         "sendrecv")
                self._version += 1
                body = sdp(self.rtp.port, direction, self._version)
                hdrs.append(f"Contact: <sip:raw@{HOST}:{self.addr[1]}>")
            self.sock.sendto(build("SIP/2.0 200 OK", hdrs, body), src)

    def methods(self) -> list[str]:
        return [m.method for m in self.requests]

    def close(self) -> None:
        self._halt.set()
        self.join(1)
        self.sock.close()
        self.rtp.close()


def assert_pcmu_stream(sink: RtpSink, t0: float, t1: float, src_port: int) -> None:
    """~50 packets/s of PCMU (PT 0, 12 + 160 bytes) from sipp's SDP port in [t0, t1)."""
    pkts = sink.between(t0, t1)
    rate = len(pkts) / (t1 - t0)
    assert 40 <= rate <= 60, f"{len(pkts)} packets in {t1 - t0:.2f}s"
    assert {p[2] for p in pkts} == {0} and {p[3] for p in pkts} == {172}
    assert {p[1] for p in pkts} == {(HOST, src_port)}, "RTP not from the SDP port (symmetric)"


@pytest.fixture
def uac():
    made: list[RawUac] = []

    def make(target) -> RawUac:
        made.append(RawUac(target))
        return made[-1]
    yield make
    for u in made:
        u.close()


# ---- uas_* scenarios against the raw UAC ------------------------------------------------------
@pytest.mark.parametrize("scenario", ["uas_ring_cancel", "uas_never_answer"])
def test_ring_then_cancel(sipp_runner, uac, scenario):  # noqa: F811
    with sipp_runner.background(scenario, timeout=15) as sp:
        u = uac(sp.addr)
        u.invite()
        u.expect(100)
        u.expect(180)
        time.sleep(0.3)
        u.cancel()
        first, second = u.recv(), u.recv()
        by = {(m.status, m.method): m for m in (first, second)}
        assert set(by) == {(200, "CANCEL"), (487, "INVITE")}, [first.first, second.first]
        u.ack(by[(487, "INVITE")])
        result = sp.wait(5)
    assert result.ok, result.describe()
    assert [m.method for m in result.received()] == ["INVITE", "CANCEL", "ACK"]


def test_486(sipp_runner, uac):  # noqa: F811
    with sipp_runner.background("uas_486", timeout=10) as sp:
        u = uac(sp.addr)
        u.invite()
        u.expect(100)
        busy = u.expect(486)
        u.ack(busy)
        result = sp.wait(5)
    assert result.ok, result.describe()


def test_183_early_media(sipp_runner, uac):  # noqa: F811
    with sipp_runner.background("uas_183_early_media", timeout=20) as sp:
        u = uac(sp.addr)
        u.invite()
        u.expect(100)
        early = u.expect(183)
        t183 = time.monotonic()
        assert early.sdp_port() == sp.media_port and "a=sendrecv" in early.body
        ok = u.expect(200, timeout=5)
        t200 = time.monotonic()
        assert 1.3 < t200 - t183 < 2.5
        assert ok.body == early.body          # the same SDP: no new offer/answer
        u.ack(ok)
        time.sleep(1.0)
        u.bye()
        assert u.expect(200, method="BYE").status == 200
        t_end = time.monotonic()
        result = sp.wait(5)
    assert result.ok, result.describe()
    assert_pcmu_stream(u.rtp, t183 + 0.2, t200, sp.media_port)    # early media
    assert_pcmu_stream(u.rtp, t200, t_end - 0.1, sp.media_port)    # and after the answer


def test_media_stops(sipp_runner, uac):  # noqa: F811
    with sipp_runner.background("uas_media_stops", timeout=20) as sp:
        u = uac(sp.addr)
        u.invite()
        u.expect(100)
        ok = u.expect(200)
        assert ok.sdp_port() == sp.media_port
        u.ack(ok)
        t_ack = time.monotonic()
        time.sleep(2.0)
        u.bye()
        u.expect(200, method="BYE")
        result = sp.wait(5)
    assert result.ok, result.describe()
    assert_pcmu_stream(u.rtp, t_ack + 0.1, t_ack + 0.9, sp.media_port)
    assert len(u.rtp.packets) < 65, len(u.rtp.packets)                 # ~1 s worth
    assert not u.rtp.between(t_ack + 1.3, t_ack + 2.0), "RTP did not stop"


@pytest.mark.parametrize("ack", [True, False], ids=["ack-bye", "bye-only"])
def test_malformed_200(sipp_runner, uac, ack):  # noqa: F811
    with sipp_runner.background("uas_malformed_200", timeout=20) as sp:
        u = uac(sp.addr)
        u.invite()
        u.expect(100)
        bad = u.expect(200)
        assert bad.h("contact") is None
        assert bad.h("content-type") == "application/sdp" and "v=0" not in bad.body
        if ack:
            u.ack(bad)
        u.bye()
        u.expect(200, method="BYE")
        result = sp.wait(5)
    assert result.ok, result.describe()


# ---- uac_* scenarios against the raw UAS --------------------------------------------------------
@pytest.mark.parametrize("hold_answer,ok", [("recvonly", True), ("sendrecv", False)])
def test_reinvite_hold(sipp_runner, hold_answer, ok):  # noqa: F811
    uas = RawUas(hold_answer=hold_answer)
    try:
        t0 = time.monotonic()
        result = sipp_runner.uac("uac_call_reinvite_hold", uas.addr, service="alice",
                                 timeout=15)
        t1 = time.monotonic()
    finally:
        uas.close()
    if not ok:   # a 200 that does not say recvonly to the hold fails the call
        assert result.returncode == 1, result.describe()
        errors = result.error_log.read_text(errors="replace")
        assert "Failed regexp match" in errors and "'a=recvonly'" in errors, errors
        return
    assert result.ok, result.describe()
    assert uas.methods() == ["INVITE", "ACK", "INVITE", "ACK", "INVITE", "ACK", "BYE"]
    sends = [m.body for m in uas.requests if m.method == "INVITE"]
    assert ["a=sendrecv" in sends[0], "a=sendonly" in sends[1], "a=sendrecv" in sends[2]] \
        == [True] * 3
    port = uas.offers[uas.requests[0].h("call-id")]
    t_first = uas.rtp.packets[0][0]
    assert_pcmu_stream(uas.rtp, t_first + 0.1, min(t1, t_first + 2.4), port)
    assert t1 - t0 < 6


@pytest.mark.parametrize("scenario,media", [("uac_pcmu_load", True),
                                            ("uac_noraudio_load", False)])
def test_load_scenarios(sipp_runner, scenario, media):  # noqa: F811
    uas = RawUas()
    try:
        result = sipp_runner.uac(scenario, uas.addr, service="load", calls=4, rate=20,
                                 limit=4, duration_ms=1200, timeout=15)
    finally:
        uas.close()
    assert result.ok, result.describe()
    assert (result.successful, result.failed, result.created) == (4, 0, 4), result.stats()
    assert uas.methods().count("BYE") == 4 and uas.methods().count("ACK") == 4
    ports = set(uas.offers.values())
    if not media:
        assert not uas.rtp.packets
        return
    # 4 overlapping calls x 50 packets/s, all to our one port, from sipp's -mp port
    assert ports == {uas.rtp.packets[0][1][1]}
    t_first, t_last = uas.rtp.packets[0][0], uas.rtp.packets[-1][0]
    mid = (t_first + t_last) / 2
    per_s = len(uas.rtp.between(mid - 0.3, mid + 0.3)) / 0.6
    assert 150 <= per_s <= 240, per_s            # 4 calls overlap mid-run (rate 20/s)
    assert 4 * 50 * 1.0 <= len(uas.rtp.packets) <= 4 * 50 * 1.5, len(uas.rtp.packets)


def test_many_processes_share_the_calls(sipp_runner):  # noqa: F811
    """Sipp.many: calls, rate and users spread over processes; the stat totals add up."""
    from peers.sipp import SippGroup

    uas = RawUas()
    try:
        with sipp_runner.many("uac_noraudio_load", 3, remote=uas.addr, calls=10, rate=30,
                              services=["u0", "u1"], duration_ms=200, timeout=10,
                              trace_messages=False) as group:
            results = group.wait()
    finally:
        uas.close()
    assert all(r.ok for r in results), [r.describe() for r in results]
    assert [r.created for r in results] == [4, 3, 3]
    assert SippGroup.totals(results) == {"created": 10, "successful": 10, "failed": 0}
    users = [re.match(r"INVITE sip:(\w+)@", m.first).group(1)
             for m in uas.requests if m.method == "INVITE"]
    assert sorted(set(users)) == ["u0", "u1"] and len(users) == 10
    assert len({p.media_port for p in group.procs}) == 3
