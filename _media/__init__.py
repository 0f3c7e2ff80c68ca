"""sipctl's compiled media kernels.

Every per-sample and per-packet operation lives here as a Cython extension with a
typed Python facade; each kernel has a NumPy/pure-Python twin in
:mod:`_media.reference` that the tests compare it against.

Modules:
    g711        ITU-T G.711 mu-law / A-law encode and decode (lookup tables).
    rtp         RTP header parse/build, extended sequence numbers, RFC 4733
                telephone events, RFC 3550 interarrival jitter.
    resampler   Streaming polyphase resampler (8/16/24/32/44.1/48 kHz, int16/float32).
    plc         Waveform/pitch-based packet loss concealment (G.711 Appendix I style).
    concealment The pluggable ``Concealer`` interface (PLC, silence, codec-native PLC).
    mixer       Conference mix-minus for N participants in one nogil call per tick.
    jitter      Adaptive jitter buffer (one per received stream).
    tsm         Pitch-synchronous time-scale modification (accelerate / preemptive expand).
    playout     Receive path per stream: jitter buffer + decode + concealment + time-scaling.
    udpio       Batched non-blocking UDP I/O: recvmmsg over epoll-ready fds with the RTP
                header parsed, sendto/sendmmsg for a list of datagrams, GIL released.
"""
__all__ = ["g711", "rtp", "resampler", "plc", "concealment", "mixer", "jitter", "tsm", "playout", "udpio"]
