"""MediaEngine over real loopback sockets: two engines, or an engine and a raw-socket peer.

Audio is measured (FFT peak with parabolic interpolation on recorded WAV files), packets
are counted on raw sockets. Timing-dependent tests run realtime devices for about a second.
"""
from __future__ import annotations

import random
import socket
import time
import wave

import numpy as np
import pytest

from _media import rtp
from sipctl.media.devices import AudioFormat, NullDevice, WavDevice
from sipctl.media.engine import MediaEngine
from sipctl.media.media_events import (DtmfReceived, MediaStarted, MediaTimeout, RtpLatched,
                                       SendDtmfInfo)
from sipctl.media.media_settings import MediaSettings
from sipctl.media.ports import PortAllocator
from sipctl.media.rtcp import ReceiverReport, SenderReport, parse_compound
from sipctl.sip.codecs import CATALOGUE
from sipctl.sip.offer_answer import NegotiatedMedia
from sipctl.sip.sdp import Direction

SR = Direction.SENDRECV


def neg(port: int, codec: str = "pcmu", *, ptime: int = 20, local: Direction = SR,
        remote: Direction = SR, rtcp_port: int | None = None, te: int | None = 101,
        address: str = "127.0.0.1") -> NegotiatedMedia:
    c = CATALOGUE[codec]
    return NegotiatedMedia(c, c.static_pt, c.static_pt, address, port, address,
                           port + 1 if rtcp_port is None else rtcp_port, ptime, te, te,
                           local, remote, not remote.sends)


def write_tone(path, freq: float, seconds: float, rate: int, amp: float = 8000.0) -> None:
    t = np.arange(int(seconds * rate)) / rate
    x = np.rint(amp * np.sin(2 * np.pi * freq * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(x.tobytes())


def read_wav(path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as r:
        return np.frombuffer(r.readframes(r.getnframes()), "<i2").astype(np.float64), \
            r.getframerate()


def peak_hz(x: np.ndarray, rate: int) -> float:
    """Dominant frequency: Hann-windowed FFT peak refined by parabolic interpolation."""
    n = len(x)
    spec = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(n))) + 1e-12
    k = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[k - 1:k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / n


class Events(list):
    def of(self, cls):
        return [e for e in self if isinstance(e, cls)]


def engine(settings=None, device=None, seed=1) -> tuple[MediaEngine, Events]:
    ev = Events()
    return MediaEngine(settings or MediaSettings(), device, ev.append,
                       rand=random.Random(seed)), ev


class RawPeer:
    """An RTP/RTCP socket pair on loopback that records what it receives."""

    def __init__(self) -> None:
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtcp.bind(("127.0.0.1", 0))
        self.port = self.rtp.getsockname()[1]
        self.rtcp_port = self.rtcp.getsockname()[1]
        self.seq = 1000
        self.ts = 5000

    def drain(self, sock=None, wait: float = 0.0) -> list[bytes]:
        sock = sock or self.rtp
        out = []
        end = time.monotonic() + wait
        while True:
            sock.settimeout(max(0.001, end - time.monotonic()))
            try:
                out.append(sock.recv(4096))
            except (socket.timeout, BlockingIOError):
                return out
            if time.monotonic() >= end and wait:
                return out

    def send_audio(self, dest, n: int = 1, pt: int = 0, ssrc: int = 0x1234, sock=None,
                   skip=lambda seq: False) -> None:
        for _ in range(n):
            if not skip(self.seq):
                (sock or self.rtp).sendto(rtp.build(pt, self.seq & 0xFFFF, self.ts, ssrc,
                                                    b"\xff" * 160), dest)
            self.seq += 1
            self.ts += 160

    def close(self) -> None:
        self.rtp.close()
        self.rtcp.close()


@pytest.fixture
def peer():
    p = RawPeer()
    yield p
    p.close()


# --------------------------------------------------------------------------- audio


@pytest.mark.parametrize("codec,rate_a,rate_b", [("pcmu", 8000, 8000), ("pcma", 16000, 48000)])
def test_tone_both_ways(tmp_path, codec, rate_a, rate_b):
    fa, fb = 1004.0, 1503.0
    write_tone(tmp_path / "a.wav", fa, 3, rate_a)
    write_tone(tmp_path / "b.wav", fb, 3, rate_b)
    da = WavDevice(AudioFormat(rate_a), tmp_path / "a.wav", tmp_path / "ra.wav")
    db = WavDevice(AudioFormat(rate_b), tmp_path / "b.wav", tmp_path / "rb.wav")
    a, ea = engine(MediaSettings(rate=rate_a), da, 1)
    b, eb = engine(MediaSettings(rate=rate_b), db, 2)
    try:
        _, pa = a.open_line(1)
        _, pb = b.open_line(7)
        a.update(1, neg(pb, codec))
        b.update(7, neg(pa, codec, ptime=30))
        a.start()
        b.start()
        time.sleep(1.4)
    finally:
        sa = a.close_line(1)
        sb = b.close_line(7)
        a.stop()
        b.stop()
    xa, ra = read_wav(tmp_path / "ra.wav")
    xb, rb = read_wav(tmp_path / "rb.wav")
    assert abs(peak_hz(xb[int(0.5 * rb):int(1.3 * rb)], rb) - fa) < 1.0
    assert abs(peak_hz(xa[int(0.5 * ra):int(1.3 * ra)], ra) - fb) < 1.0
    assert np.abs(xb[int(0.5 * rb):int(1.3 * rb)]).max() > 4000   # not just leakage
    assert sa.sent > 40 and sa.received > 30 and sb.sent > 30 and sb.received > 40
    assert ea.of(MediaStarted) and eb.of(MediaStarted)


def test_switch_device_mid_call(tmp_path):
    """API_SetAudioDevice immediate 2: the call moves to the new device without a gap in
    its stream; what it hears from then on is in the new device's recording."""
    fb = 1004.0
    write_tone(tmp_path / "b.wav", fb, 3, 8000)
    db = WavDevice(AudioFormat(8000), tmp_path / "b.wav", loop=True)
    a, _ = engine(MediaSettings(), NullDevice(AudioFormat(8000)), 1)
    b, _ = engine(MediaSettings(), db, 2)
    try:
        _, pa = a.open_line(1)
        _, pb = b.open_line(2)
        a.update(1, neg(pb))
        b.update(2, neg(pa))
        a.start()
        b.start()
        time.sleep(0.6)
        with pytest.raises(ValueError, match="format"):
            a.switch_device(NullDevice(AudioFormat(16000)))
        new = WavDevice(AudioFormat(8000), record=tmp_path / "ra.wav")
        old = a.switch_device(new)
        assert a.device is new and isinstance(old, NullDevice)
        time.sleep(1.0)
    finally:
        sa = a.close_line(1)
        b.close_line(2)
        a.stop()
        b.stop()
    x, rate = read_wav(tmp_path / "ra.wav")
    assert len(x) >= 0.8 * rate                       # the new device clocked the engine
    seg = x[int(0.3 * rate):int(0.8 * rate)]
    assert abs(peak_hz(seg, rate) - fb) < 1.0 and np.abs(seg).max() > 4000
    # no gap: about 50 packets a second over the whole 1.6 s, across the switch
    assert sa.received > 0.85 * 1.6 * 50, sa


def test_ringback_tone(tmp_path):
    dev = WavDevice(AudioFormat(8000), record=tmp_path / "r.wav", realtime=False)
    e, _ = engine(device=dev)
    e.open_line(1)
    e.set_ringback(1, True)
    e.start()
    time.sleep(0.3)
    e.stop()
    x, rate = read_wav(tmp_path / "r.wav")
    x = x[:8000]        # the first second: all "on"
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    top = sorted(np.argsort(spec)[-2:] * rate / len(x))
    assert top == pytest.approx([440, 480], abs=2)


# --------------------------------------------------------------------------- RTP rules


def rtp_packets(datagrams):
    return [rtp.parse(d) for d in datagrams if len(d) >= 12]


def test_latching_to_source(peer):
    e, ev = engine(MediaSettings(natopenpackets=0))
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    try:
        addr, port = e.open_line(1)
        e.update(1, neg(peer.port))
        e.start()
        assert len(peer.drain(wait=0.2)) >= 5              # to the SDP address first
        peer.send_audio((addr, port), 3, sock=other, pt=8)  # wrong PT: no latching
        time.sleep(0.1)
        assert not ev.of(RtpLatched)
        peer.send_audio((addr, port), 3, sock=other)
        time.sleep(0.1)
        peer.drain()
        other.settimeout(0.3)
        got = [other.recv(2048) for _ in range(5)]
        assert all(rtp.parse(g).payload_type == 0 for g in got)
        assert not peer.drain(wait=0.1)                    # nothing to the SDP port any more
        lat = ev.of(RtpLatched)
        assert lat and lat[0].address == other.getsockname() and lat[0].ssrc == 0x1234
        assert e.counters(1).wrong_pt == 3
    finally:
        e.stop()
        other.close()


def test_hold_sends_nothing_then_resumes(peer):
    e, _ = engine(MediaSettings(natopenpackets=0))
    try:
        _, port = e.open_line(1)
        e.update(1, neg(peer.port, remote=Direction.SENDONLY))    # the peer holds us
        e.start()
        assert peer.drain(wait=0.4) == []
        e.update(1, neg(peer.port))
        got = peer.drain(wait=0.4)
        assert len(got) >= 12
        assert rtp_packets(got)[0].marker
    finally:
        e.stop()


@pytest.mark.parametrize("sendrtponmuted", [False, True])
def test_mute_mic(peer, sendrtponmuted):
    e, _ = engine(MediaSettings(natopenpackets=0, sendrtponmuted=sendrtponmuted))
    try:
        e.open_line(1)
        e.update(1, neg(peer.port))
        e.set_mute(1, mic=True, speaker=False)
        e.start()
        got = rtp_packets(peer.drain(wait=0.4))
        if sendrtponmuted:
            assert len(got) >= 15
            assert all(p.payload == b"\xff" * 160 for p in got)     # mu-law silence
        else:
            assert got == []
        e.set_mute(1, mic=False, speaker=False)
        assert len(peer.drain(wait=0.2)) >= 5
    finally:
        e.stop()


@pytest.mark.parametrize("n,expect", [(0, []), (1, ["empty"]), (2, ["rtp"]), (5, ["rtp"] * 5)])
def test_natopenpackets(peer, n, expect):
    e, _ = engine(MediaSettings(natopenpackets=n))
    try:
        e.open_line(1)
        e.update(1, neg(peer.port))         # not started: only the NAT-open packets go out
        got = peer.drain(wait=0.15)
        assert ["empty" if not d else "rtp" for d in got] == expect
        ps = rtp_packets(got)
        assert [p.sequence for p in ps] == [(ps[0].sequence + i) & 0xFFFF for i in range(len(ps))] \
            if ps else True
    finally:
        e.stop()


def test_rtp_keepalive_on_hold(peer):
    e, _ = engine(MediaSettings(natopenpackets=0, rtpkeepaliveival=100))
    try:
        e.open_line(1)
        e.update(1, neg(peer.port, remote=Direction.INACTIVE))
        e.start()
        got = rtp_packets(peer.drain(wait=0.55))
        assert 4 <= len(got) <= 6
        assert all(p.payload_type == 0 and p.payload_length == 0 for p in got)
        assert e.counters(1).keepalives_sent == len(got)
    finally:
        e.stop()


def test_media_timeout_once(peer):
    e, ev = engine(MediaSettings(natopenpackets=0, mediatimeout=0.3))
    try:
        e.open_line(1)
        e.open_line(2)
        e.update(1, neg(peer.port))
        e.update(2, neg(peer.port))
        e.start()
        for _ in range(25):                      # line 2 gets RTP: no timeout there
            peer.send_audio(e_addr(e, 2))
            time.sleep(0.02)
        time.sleep(0.2)
        t = ev.of(MediaTimeout)
        assert [x.line for x in t] == [1]
    finally:
        e.stop()


def e_addr(e: MediaEngine, line) -> tuple[str, int]:
    pair = e._open[line]
    return pair.address, pair.port


# --------------------------------------------------------------------------- DTMF


def test_dtmf_rfc4733_between_engines():
    a, ea = engine(MediaSettings(natopenpackets=0), seed=3)
    b, eb = engine(MediaSettings(natopenpackets=0), seed=4)
    try:
        _, pa = a.open_line(1)
        _, pb = b.open_line(1)
        a.update(1, neg(pb))
        b.update(1, neg(pa))
        a.start()
        b.start()
        with pytest.raises(ValueError):
            a.send_dtmf(1, "12x")
        assert a.send_dtmf(1, "123#")
        deadline = time.monotonic() + 2
        while len(eb.of(DtmfReceived)) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        got = eb.of(DtmfReceived)
        assert "".join(d.digit for d in got) == "123#"
        assert {d.method for d in got} == {"rfc4733"}
        assert not ea.of(SendDtmfInfo)
    finally:
        a.stop()
        b.stop()


def test_dtmf_info_mode(peer):
    e, ev = engine(MediaSettings(natopenpackets=0, dtmfmode=1))
    try:
        e.open_line(1)
        e.update(1, neg(peer.port))
        e.start()
        assert e.send_dtmf(1, "5*")
        time.sleep(0.5)
        info = ev.of(SendDtmfInfo)
        assert [i.digit for i in info] == ["5", "*"]
        assert info[0].body == "Signal=5\r\nDuration=100\r\n" and info[0].line == 1
        assert all(p.payload_type == 0 for p in rtp_packets(peer.drain()))
    finally:
        e.stop()
    off, _ = engine(MediaSettings(dtmfmode=0))
    off.open_line(1)
    assert off.send_dtmf(1, "1") is False
    off.stop()


# --------------------------------------------------------------------------- RTCP


def test_rtcp_between_engines():
    s = MediaSettings(natopenpackets=0, rtcp_interval=0.2)
    a, _ = engine(s, seed=5)
    b, _ = engine(s, seed=6)
    try:
        _, pa = a.open_line(1)
        _, pb = b.open_line(1)
        a.update(1, neg(pb))
        b.update(1, neg(pa))
        a.start()
        b.start()
        time.sleep(1.3)
        sa = a.summary(1)
        assert sa.sent > 50 and sa.received > 50 and sa.lost == 0
        assert sa.rtt_ms is not None and 0 <= sa.rtt_ms < 50
        assert sa.remote_lost == 0 and sa.jitter_ms < 20
        assert a.counters(1).rtcp_received >= 2 and b.counters(1).rtcp_sent >= 2
    finally:
        a.stop()
        b.stop()


def test_rtcp_loss_reported_to_raw_peer(peer):
    e, _ = engine(MediaSettings(natopenpackets=0, rtcp_interval=0.2))
    try:
        addr, port = e.open_line(1)
        e.update(1, neg(peer.port, rtcp_port=peer.rtcp_port))
        e.start()
        for _ in range(50):          # every 10th packet lost
            peer.send_audio((addr, port), skip=lambda q: q % 10 == 3)
            time.sleep(0.02)
        summary = e.summary(1)
        assert summary.received == 45 and summary.lost == 5
        assert summary.loss_percent == pytest.approx(10.0)
        reports = [p for d in peer.drain(peer.rtcp, 0.3) for p in parse_compound(d)
                   if isinstance(p, (SenderReport, ReceiverReport))]
        assert reports and any(b.ssrc == 0x1234 and b.cumulative_lost == 5
                               for r in reports for b in r.reports)
        final = e.close_line(1)
        assert final.lost == 5
        bye = peer.drain(peer.rtcp, 0.2)
        assert bye and any(p.__class__.__name__ == "Bye" for p in parse_compound(bye[-1]))
    finally:
        e.stop()


def test_garbage_counted_and_call_continues(peer):
    e, ev = engine(MediaSettings(natopenpackets=0))
    try:
        addr, port = e.open_line(1)
        e.update(1, neg(peer.port))
        e.start()
        peer.send_audio((addr, port), 5)
        time.sleep(0.1)
        before = e.summary(1).received
        junk = [b"hello", b"\x80\x00\x01", b"\x40" * 40, b"\x80\x00" + b"\x00" * 5000,
                b"\x80\xc8\x00\x09" + b"\x00" * 24, b""]
        for j in junk:
            peer.rtp.sendto(j, (addr, port))
            peer.rtp.sendto(j, (addr, port + 1))
        peer.send_audio((addr, port), 5)
        time.sleep(0.15)
        c = e.counters(1)
        assert c.garbage == len(junk) and c.rtcp_garbage == len(junk)
        assert e.summary(1).received == before + 5
        assert len(peer.drain()) > 5            # still sending
    finally:
        e.stop()


# --------------------------------------------------------------------------- ports


def test_ports_busy_base_goes_to_next_even():
    base = 47000
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        blocker.bind(("127.0.0.1", base + 1))          # the RTCP port of the base pair
    except OSError:
        pytest.skip("test port in use")
    alloc = PortAllocator(base)
    try:
        p = alloc.allocate()
        assert p.port == base + 2 and p.rtcp.getsockname()[1] == base + 3
        q = alloc.allocate()
        assert q.port == base + 4
        p.close()
        q.close()
        odd = PortAllocator(base + 5).allocate()
        assert odd.port % 2 == 0 and odd.port >= base + 6
        odd.close()
    finally:
        blocker.close()


def test_ports_random_range_and_stable_port():
    alloc = PortAllocator(0, rand=random.Random(7))
    p = alloc.allocate()
    assert 20000 <= p.port <= 20998 and p.port % 2 == 0
    assert alloc.stable_port == p.port
    q = alloc.allocate()            # stable port busy: next even port
    assert q.port == p.port + 2 or (p.port == 20998 and q.port == 20000)
    p.close()
    q.close()
    r = alloc.allocate()            # reused next time
    assert r.port == alloc.stable_port == p.port
    r.close()
    firsts = set()
    for i in range(6):
        x = PortAllocator(0, rand=random.Random(i)).allocate()
        firsts.add(x.port)
        x.close()
    assert len(firsts) > 1 and all(20000 <= f <= 20998 and f % 2 == 0 for f in firsts)


def test_ports_ipv6_and_engine_line():
    alloc = PortAllocator(0, rand=random.Random(3))
    try:
        p = alloc.allocate("::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    assert p.rtp.getsockname()[0] == "::1" and p.rtp.getblocking() is False
    p.close()
    e, _ = engine(MediaSettings(bind_address="::1", natopenpackets=0))
    try:
        addr, port = e.open_line("x")
        assert addr == "::1" and port % 2 == 0
        assert e.open_line("x") == (addr, port)
        with pytest.raises(KeyError):
            e.update("nope", neg(4000))
    finally:
        e.stop()
    e.stop()        # idempotent


def test_ipv6_call(tmp_path):
    s = MediaSettings(bind_address="::1", natopenpackets=0)
    try:
        a, _ = engine(s, seed=8)
        b, eb = engine(s, seed=9)
        _, pa = a.open_line(1)
        _, pb = b.open_line(1)
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        a.update(1, neg(pb, address="::1"))
        b.update(1, neg(pa, address="::1"))
        a.start()
        b.start()
        time.sleep(0.3)
        assert b.summary(1).received > 5
        assert eb.of(RtpLatched)[0].address[0] == "::1"
    finally:
        a.stop()
        b.stop()


def test_settings_from_params():
    s = MediaSettings.from_params({"RTPPORT": "30000", "natopenpackets": "10",
                                   "sendrtponmuted": "true", "mediatimeout": "0",
                                   "localip": "", "dtmfmode": 4, "unknown": "x"})
    assert (s.rtpport, s.natopenpackets, s.sendrtponmuted, s.mediatimeout, s.dtmfmode,
            s.bind_address) == (30000, 10, True, 0, 4, "127.0.0.1")
    d = MediaSettings()
    assert (d.rtpport, d.natopenpackets, d.rtpkeepaliveival, d.mediatimeout, d.sendrtponmuted,
            d.dtmfmode, d.jittersize, d.maxjitterpackets, d.rate) == (0, 2, 0, 300, False, 2, 3, 99,
                                                                        8000)
    with pytest.raises(ValueError):
        MediaSettings(rate=11025)
    with pytest.raises(ValueError):
        MediaEngine(device=NullDevice(AudioFormat(44100)))
