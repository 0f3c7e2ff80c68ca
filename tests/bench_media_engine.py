"""Hand-run micro-benchmark: per-line cost of one MediaEngine tick with N G.711 calls.

    python3 tests/bench_media_engine.py [lines] [ticks]

Each line gets one 20 ms PCMU packet per tick from a loopback raw socket (built and sent
outside the timed region) and sends one packet per tick to a sink socket. The engine's
frame callback is called directly with a stepped clock (no device thread), so the figure
is the media thread's CPU per tick: receive (``_media.udpio``: epoll + recvmmsg, RTP
header parsed in C, ``RtpStream.receive_fast``), stream tick (``RtpStream.tick_send``:
the steady-state packet straight into the send batch, RTCP sender accounting deferred to
the report), one ``send_many`` for all lines and, in the "decode" rows, jitter buffer +
decode + PLC + mixing. 500 calls at 50 ticks/s need < 20 us per line-tick for < 50 % of
a core (receive and send side together; one recv and one send syscall per line-tick
remain, ~9 us of the ~16 us on this VM).
"""
from __future__ import annotations

import random
import socket
import sys
import time

import numpy as np

from _media import rtp
from sipctl.media.devices import AudioFormat, NullDevice, WavDevice
from sipctl.media.engine import MediaEngine
from sipctl.media.media_settings import MediaSettings
from sipctl.sip.codecs import CATALOGUE
from sipctl.sip.offer_answer import NegotiatedMedia
from sipctl.sip.sdp import Direction


def run(lines: int, ticks: int, mode: str) -> float:
    t = [1000.0]
    settings = MediaSettings(natopenpackets=0, rtpport=30000, decode=(mode != "stats"))
    device = NullDevice(AudioFormat(8000)) if mode != "mix" else WavDevice(AudioFormat(8000))
    e = MediaEngine(settings, device, None, rand=random.Random(1), clock=lambda: t[0])
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    src = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    src.bind(("127.0.0.1", 0))
    src.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    c = CATALOGUE["pcmu"]
    dests = []
    for i in range(lines):
        addr, port = e.open_line(i)
        e.update(i, NegotiatedMedia(c, 0, 0, "127.0.0.1", sink.getsockname()[1], "127.0.0.1",
                                    sink.getsockname()[1], 20, 101, 101, Direction.SENDRECV,
                                    Direction.SENDRECV, False))
        dests.append((addr, port))
    payload = bytes(np.random.default_rng(1).integers(0, 256, 160, dtype=np.uint8))
    mic = np.zeros(160, np.int16)
    busy = 0.0
    for k in range(ticks):
        pkts = [rtp.build(0, k & 0xFFFF, (k * 160) & 0xFFFFFFFF, 1000 + i, payload)
                for i in range(lines)]
        for p, d in zip(pkts, dests):
            src.sendto(p, d)
        while True:                                   # drain the sink (not timed)
            try:
                sink.recv(2048, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
        t[0] += 0.01                  # packets arrive half-way between two ticks
        t0 = time.perf_counter()
        e._receive()
        t[0] += 0.01
        e._on_frame(mic)
        if k >= 10:
            busy += time.perf_counter() - t0
    s = e.summary(0)
    e.stop()
    sink.close()
    src.close()
    assert s.received >= ticks - 2, s
    return busy / (ticks - 10) / lines * 1e6


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    ticks = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    for mode in ("stats", "decode", "mix"):
        us = run(n, ticks, mode)
        print(f"{mode:7s} {n} lines: {us:6.1f} us per line-tick -> "
              f"{us * n * 50 / 1e4:5.1f} % of a core at 50 ticks/s")
