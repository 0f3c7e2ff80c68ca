"""RtpStream, sans-IO: two streams wired in memory with a stepped clock (no sockets)."""
from __future__ import annotations

import random
import time

import numpy as np
import pytest

from _media import g711, rtp
from sipctl.media.media_events import (DtmfReceived, MediaStarted, MediaTimeout, RtpLatched,
                                       SendDtmfInfo)
from sipctl.media.media_settings import MediaSettings
from sipctl.media.stream import RtpStream
from sipctl.sip.codecs import CATALOGUE
from sipctl.sip.offer_answer import NegotiatedMedia
from sipctl.sip.sdp import Direction

SR = Direction.SENDRECV
A_ADDR, B_ADDR = ("10.0.0.1", 4000), ("10.0.0.2", 6000)


def neg(addr, codec="pcmu", ptime=20, remote=SR, te=101) -> NegotiatedMedia:
    c = CATALOGUE[codec]
    return NegotiatedMedia(c, c.static_pt, c.static_pt, addr[0], addr[1], addr[0], addr[1] + 1,
                           ptime, te, te, SR, remote, not remote.sends)


def stream(line="a", seed=1, **kw) -> RtpStream:
    r = random.Random(seed)
    s = MediaSettings(**{"natopenpackets": 0, **kw})
    return RtpStream(line, s, ssrc=r.getrandbits(32), sequence=r.getrandbits(16),
                     timestamp=r.getrandbits(32), rand=r.random, now=0.0)


def tone(freq, n, rate=8000, amp=8000):
    return np.rint(amp * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.int16)


def peak_hz(x, rate):
    x = x.astype(np.float64)
    spec = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(len(x)))) + 1e-12
    k = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[k - 1:k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / len(x)


def wire(a, b, ticks, mic_a=None, t0=0.0, a_src=A_ADDR, b_src=B_ADDR):
    """Run both streams for ``ticks`` 20 ms ticks; returns b's speaker output."""
    heard = []
    for k in range(ticks):
        now = t0 + k * 0.02
        m = None if mic_a is None else mic_a[k * 160:(k + 1) * 160]
        a.tick(now, m)
        sp = b.tick(now, None)
        if sp is not None:
            heard.append(sp)
        for d, _ in a.out:
            b.receive_rtp(d, a_src, now + 0.005)
        for d, _ in b.out:
            a.receive_rtp(d, b_src, now + 0.005)
        for d, _ in a.out_rtcp:
            b.receive_rtcp(d, (a_src[0], a_src[1] + 1), now + 0.005)
        for d, _ in b.out_rtcp:
            a.receive_rtcp(d, (b_src[0], b_src[1] + 1), now + 0.005)
        a.out.clear(), b.out.clear(), a.out_rtcp.clear(), b.out_rtcp.clear()
    return np.concatenate(heard) if heard else np.zeros(0, np.int16)


@pytest.mark.parametrize("codec,ptime", [("pcmu", 20), ("pcma", 60), ("pcmu", 10), ("pcma", 30)])
def test_tone_through_two_streams(codec, ptime):
    a, b = stream("a", 1), stream("b", 2)
    a.update(neg(B_ADDR, codec, ptime), 0.0)
    b.update(neg(A_ADDR, codec), 0.0)
    heard = wire(a, b, 100, tone(997, 160 * 100))
    assert abs(peak_hz(heard[-8000:], 8000) - 997) < 1.0
    assert a.counters.audio_sent == 100 * 20 // ptime


@pytest.mark.parametrize("ptime", [10, 20, 30, 40, 60])
def test_packetization(ptime):
    a = stream()
    a.update(neg(B_ADDR, ptime=ptime), 0.0)
    sent = []
    for k in range(30):
        a.tick(k * 0.02, tone(500, 160))
        sent += [rtp.parse(d) for d, dest in a.out]
        assert all(dest == B_ADDR for _, dest in a.out)
        a.out.clear()
    P = 8 * ptime
    assert len(sent) == 30 * 160 // P
    assert all(p.payload_length == P and p.payload_type == 0 for p in sent)
    assert [p.marker for p in sent] == [True] + [False] * (len(sent) - 1)
    assert all((q.sequence - p.sequence) & 0xFFFF == 1 for p, q in zip(sent, sent[1:]))
    assert all((q.timestamp - p.timestamp) & 0xFFFFFFFF == P for p, q in zip(sent, sent[1:]))
    assert sent[0].ssrc == a.ssrc


def test_encoding_matches_codec():
    a = stream()
    a.update(neg(B_ADDR, "pcma"), 0.0)
    x = tone(700, 160)
    a.tick(0.0, x)
    assert rtp.parse(a.out[0][0]).payload == g711.alaw_encode(x)


def test_latching_ssrc_switch_and_wrong_pt():
    b = stream("b")
    b.update(neg(A_ADDR), 0.0)
    pk = lambda seq, ssrc=7, pt=0: rtp.build(pt, seq, seq * 160, ssrc, b"\xff" * 160)
    b.receive_rtp(pk(1, pt=8), ("1.2.3.4", 5000), 0.0)      # wrong PT: counted, no latch
    b.receive_rtp(pk(1, pt=13)[:12] + b"\x40", ("1.2.3.4", 5000), 0.0)   # CN: no latch
    assert b.dest == A_ADDR and b.counters.wrong_pt == 1
    b.receive_rtp(pk(2), ("1.2.3.4", 5000), 0.01)
    assert b.dest == ("1.2.3.4", 5000)
    b.receive_rtp(pk(3), ("6.6.6.6", 1), 0.02)             # same SSRC elsewhere: no hijack
    assert b.dest == ("1.2.3.4", 5000)
    b.receive_rtp(pk(1, ssrc=9), ("5.5.5.5", 7000), 0.03)  # interleaved second source
    assert b.counters.foreign_ssrc == 1 and b.dest == ("1.2.3.4", 5000)
    b.receive_rtp(pk(1, ssrc=9), ("5.5.5.5", 7000), 0.2)   # current source silent: switch
    assert b.dest == ("5.5.5.5", 7000) and b.remote_ssrc == 9
    assert [e.address for e in b.events if isinstance(e, RtpLatched)] == \
        [("1.2.3.4", 5000), ("5.5.5.5", 7000)]
    b.receive_rtp(b"\x00\x01garbage", ("5.5.5.5", 7000), 0.3)
    b.receive_rtp(b"\x80\x00", ("5.5.5.5", 7000), 0.3)
    assert b.counters.garbage == 2
    b.update(neg(("10.9.9.9", 8000)), 0.4)                 # new SDP address: unlatched
    assert b.dest == ("10.9.9.9", 8000) and not b.latched


def test_hold_early_and_mute():
    a = stream(rtpkeepaliveival=100)
    a.update(neg(B_ADDR, remote=Direction.SENDONLY), 0.0)        # held: nothing but keep-alives
    out = []
    for k in range(50):                                          # 1 s
        a.tick(k * 0.02, tone(500, 160))
        out += [rtp.parse(d) for d, _ in a.out]
        a.out.clear()
    assert 9 <= len(out) <= 10 and all(p.payload_length == 0 for p in out)
    a.update(neg(B_ADDR), 1.0, early=True)                       # early media: no mic either
    a.tick(1.0, tone(500, 160))
    assert all(rtp.parse(d).payload_length == 0 for d, _ in a.out)
    a.out.clear()
    a.update(neg(B_ADDR), 1.02)
    a.set_mute(True, False)
    a.tick(1.02, tone(500, 160))
    assert [rtp.parse(d).payload_length for d, _ in a.out] in ([], [0])
    a.out.clear()
    m = stream(sendrtponmuted=True)
    m.update(neg(B_ADDR), 0.0)
    m.set_mute(True, False)
    m.tick(0.0, tone(500, 160))
    assert rtp.parse(m.out[0][0]).payload == b"\xff" * 160


def test_natopenpackets_in_stream():
    for n, count in ((0, 0), (1, 1), (2, 1), (4, 4)):
        a = stream(natopenpackets=n)
        a.update(neg(B_ADDR), 0.0)
        assert len(a.out) == count
        if n == 1:
            assert a.out[0] == (b"", B_ADDR)
        a.update(neg(B_ADDR), 0.1)                 # same address: not again
        assert len(a.out) == count
    held = stream(natopenpackets=3)
    held.update(neg(("0.0.0.0", 4000)), 0.0)        # no usable address: nothing
    assert held.out == []


def test_media_timeout_once_per_silence():
    b = stream("b", mediatimeout=0.3)
    b.update(neg(A_ADDR), 0.0)
    for k in range(40):
        b.tick(k * 0.02)
    assert [e for e in b.events if isinstance(e, MediaTimeout)] == [MediaTimeout("b", 0.3)]
    b.receive_rtp(rtp.build(0, 1, 160, 5, b"\xff" * 160), A_ADDR, 0.8)
    for k in range(40, 80):
        b.tick(k * 0.02)
    assert len([e for e in b.events if isinstance(e, MediaTimeout)]) == 2
    off = stream(mediatimeout=0)
    off.update(neg(A_ADDR), 0.0)
    for k in range(100):
        off.tick(k * 0.02)
    assert not off.events


def test_dtmf_rfc4733_not_played_and_info():
    a, b = stream("a", 1), stream("b", 2)
    a.update(neg(B_ADDR), 0.0)
    b.update(neg(A_ADDR), 0.0)
    assert a.send_dtmf("1 2#", 0.1)
    with pytest.raises(ValueError):
        a.send_dtmf("1x", 0.1)
    wire(a, b, 80, tone(600, 160 * 80))
    digits = [e for e in b.events if isinstance(e, DtmfReceived)]
    assert "".join(d.digit for d in digits) == "12#"
    assert b.playout.stats.decode_errors == 0
    assert any(isinstance(e, MediaStarted) for e in b.events)
    info = stream("i", dtmfmode=1)
    info.update(neg(B_ADDR), 0.0)
    info.send_dtmf("9", 0.0)
    info.tick(0.0)
    ev = [e for e in info.events if isinstance(e, SendDtmfInfo)]
    assert ev == [SendDtmfInfo("i", "Signal=9\r\nDuration=100\r\n", "9")]
    nte = stream("n")                               # mode 2 without telephone-event: INFO
    nte.update(neg(B_ADDR, te=None), 0.0)
    nte.send_dtmf("3", 0.0)
    nte.tick(0.0)
    assert any(isinstance(e, SendDtmfInfo) for e in nte.events)


def test_rtcp_summary_and_bye():
    a = stream("a", 1, rtcp_interval=0.2)
    b = stream("b", 2, rtcp_interval=0.2)
    a.update(neg(B_ADDR), 0.0)
    b.update(neg(A_ADDR), 0.0)
    wire(a, b, 100)
    s = a.summary()
    assert s.sent == 100 and s.received == 100 and s.lost == 0 and s.rtt_ms is not None
    assert a.counters.rtcp_sent >= 3 and b.counters.rtcp_received >= 3
    a.close(2.0)
    assert a.out_rtcp                                # BYE queued
    b.receive_rtcp(a.out_rtcp[0][0], (A_ADDR[0], A_ADDR[1] + 1), 2.0)
    assert b.summary().received == 100               # kept after the BYE
    assert b.close(2.1).received == 100


def test_tick_cost():
    """One G.711 20 ms tick (send + receive + playout) stays in tens of microseconds."""
    a, b = stream("a", 1), stream("b", 2)
    a.update(neg(B_ADDR), 0.0)
    b.update(neg(A_ADDR), 0.0)
    wire(a, b, 20, tone(600, 160 * 20))
    mic = g711.ulaw_encode(tone(600, 160))
    n = 500
    t0 = time.perf_counter()
    for k in range(20, 20 + n):
        now = k * 0.02
        a.tick(now, None, mic)
        b.receive_rtp(a.out[0][0], A_ADDR, now + 0.005)
        a.out.clear()
        b.tick(now, None, mic)
        b.out.clear()
    per = (time.perf_counter() - t0) / n * 1e6
    assert per < 500, per          # generous bound for slow CI; ~30-40 us on a dev box


@pytest.mark.parametrize("ptime", [10, 20, 30])
def test_tick_send_matches_tick(ptime):
    """The engine's tick_send (steady-state shortcut) sends exactly what tick + out does,
    through mute, sendrtponmuted, DTMF, hold, keep-alives and RTCP."""
    a = stream(seed=3, rtpkeepaliveival=100, sendrtponmuted=False, rtcp_interval=0.5)
    b = stream(seed=3, rtpkeepaliveival=100, sendrtponmuted=False, rtcp_interval=0.5)
    held = neg(B_ADDR, ptime=ptime, remote=Direction.RECVONLY)
    got_a, got_b, rtcp_a, rtcp_b = [], [], [], []
    for s in (a, b):
        s.update(neg(B_ADDR, ptime=ptime), 0.0)
        s.out.clear()
    for k in range(150):
        now = k * 0.02
        if k == 20:
            a.set_mute(True, False), b.set_mute(True, False)
        if k == 30:
            a.set_mute(False, False), b.set_mute(False, False)
        if k == 40:
            assert a.send_dtmf("1#", now) and b.send_dtmf("1#", now)
        if k == 90:
            a.update(held, now), b.update(held, now)
        if k == 100:
            a.update(neg(B_ADDR, ptime=ptime), now), b.update(neg(B_ADDR, ptime=ptime), now)
        enc = g711.ulaw_encode(tone(300 + k, 160))
        a.tick(now, None, enc)
        got_a += [(7, d, dest) for d, dest in a.out]
        a.out.clear()
        sends: list = []
        assert b.tick_send(now, enc, sends, 7) is None
        assert b.out == []
        got_b += sends
        rtcp_a += a.out_rtcp
        rtcp_b += b.out_rtcp
        a.out_rtcp.clear(), b.out_rtcp.clear()
    assert len(got_a) > 80 and got_a == got_b
    assert rtcp_a and rtcp_a == rtcp_b
    assert a.counters == b.counters
    assert a.summary() == b.summary()
