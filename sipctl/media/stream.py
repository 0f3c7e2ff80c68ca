"""One call's RTP stream, sans-IO: packetise the microphone, play what arrives, RTCP, DTMF.

:class:`RtpStream` is fed received datagrams (:meth:`~RtpStream.receive_rtp`,
:meth:`~RtpStream.receive_rtcp`, with their source address and arrival time) and is
ticked once per media frame (:meth:`~RtpStream.tick`, with the microphone frame at the
codec rate); it returns the speaker frame and leaves what to send in
:attr:`~RtpStream.out` (RTP socket) and :attr:`~RtpStream.out_rtcp` (RTCP socket) as
``(datagram, (host, port))`` pairs, and what happened in :attr:`~RtpStream.events`
(:mod:`sipctl.media.media_events`). The caller empties the three lists. No sockets,
clocks or ``random`` here: SSRC, first sequence number and timestamp, and the RTCP
interval randomisation are injected.

Rules (reference parameters in :class:`~sipctl.media.media_settings.MediaSettings`):

* **Codec / packetisation**: G.711 (PCMU/PCMA) at the negotiated ``payload_type`` and
  ``ptime`` (10..120 ms: a packet every ptime, independent of the 10/20 ms tick; the
  RTP timestamp runs with the sample clock even while nothing is sent, so a resume
  keeps the timeline; the first packet of a talkspurt has the marker bit).
* **Receive**: audio PTs are the negotiated ``receive_payload_type`` and
  ``payload_type`` (some peers use their own numbering); ``telephone_event_receive_pt``
  (and ``telephone_event_pt``) go to :class:`~sipctl.media.dtmf.DtmfReceiver` and are
  never played; CN (13) and empty payloads count as media (keep-alive) but are not
  played; any other PT is counted (``wrong_pt``) and dropped. Garbage (not RTP v2,
  truncated, RTCP on the RTP port) is counted (``garbage``) and dropped.
* **SSRC**: one source plays at a time. A packet with another SSRC (and an accepted PT)
  takes over only when the current source has been silent for ``ssrc_switch_ms``
  (60 ms): a restarted or re-routed stream switches within a few packets, while a
  stray second stream interleaved with the current one is dropped (``foreign_ssrc``).
  A switch resets the jitter buffer and the decoder state.
* **Symmetric RTP / latching**: we send to the SDP address until the first valid RTP
  packet (parsed, audio or telephone-event PT) of the peer arrives; then to its source
  address and port (:class:`~sipctl.media.media_events.RtpLatched`). Only an SSRC
  switch (above) re-latches; packets of the latched SSRC from elsewhere are played but
  do not move the destination (no hijack by a spoofed source). RTCP latches the same
  way to the source of the first valid compound RTCP packet whose sender is the latched
  RTP SSRC (any sender before RTP latched). A new SDP address (re-INVITE) unlatches.
* **Direction**: ``negotiated.send`` / ``negotiated.receive`` (hold). ``early=True``
  (early media): receive and play, send NAT-open and keep-alive packets but not the
  microphone.
* **Mute**: microphone muted -> no audio packets (zeroed/silence packets with
  ``sendrtponmuted``); speaker muted -> :meth:`tick` returns None (the jitter buffer
  keeps running).
* ``natopenpackets`` at stream start (first :meth:`update` with a usable remote
  address, and again when the SDP address changes): 0 none, 1 one empty UDP datagram,
  2 one RTP packet, N >= 3 N RTP packets (silence, audio PT, consecutive seq/timestamps).
* ``rtpkeepaliveival`` (ms, 0 off): while we send no audio (hold, mute, early media) an
  RTP packet with the audio PT and an empty payload every interval (counted by RTCP).
* ``mediatimeout`` (s, 0 off): while we expect RTP (``receive``), no RTP for that long
  -> one :class:`~sipctl.media.media_events.MediaTimeout` per silent period.
* **DTMF**: :class:`~sipctl.media.dtmf.DtmfSender` (``dtmfmode``); RFC 4733 packets use
  our SSRC and sequence space with ``telephone_event_pt`` (101 if not negotiated and
  mode 4); audio packets are held while an event is sent; INFO digits become
  :class:`~sipctl.media.media_events.SendDtmfInfo` events for the SIP side.
* **RTCP**: :class:`~sipctl.media.rtcp.RtcpSession` (SR/RR + SDES at RFC 3550
  intervals, BYE on :meth:`close`); :meth:`summary` is its CDR summary.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from math import gcd
from typing import Callable, Hashable, Optional

import numpy as np

from _media import g711
from _media.rtp import build as _build, parse as _parse
from _media.playout import Playout

from .dtmf import DTMF_RFC4733, DtmfReceiver, DtmfSender, SendInfo, SendRtpEvent
from .media_events import (DtmfReceived, MediaError, MediaStarted, MediaTimeout, RtpLatched,
                           SendDtmfInfo)
from .media_settings import MediaSettings
from .rtcp import Bye, ReceiverReport, RtcpParseError, RtcpSession, RtcpSummary, SenderReport

__all__ = ["RtpStream", "StreamCounters", "G711", "CODECS"]

PT_CN = 13
_RTP_HEADER = struct.Struct("!BBHII")      # V=2 P=0 X=0 CC=0 | M PT | seq | ts | ssrc
_HOLD = ("0.0.0.0", "::", "")
_MASK32 = 0xFFFFFFFF


@dataclass(frozen=True)
class G711:
    """How the stream runs one codec: per-sample encode, payload decode, silence code."""
    key: str
    rate: int
    encode: Callable[[object], bytes]
    decode: Callable[[bytes], bytes]
    silence: int

    def decoder(self) -> Callable[[bytes], np.ndarray]:
        dec = self.decode
        return lambda payload: np.frombuffer(dec(payload), np.int16)


#: Codecs the stream can run, by :attr:`sipctl.sip.codecs.Codec.key`.
CODECS = {
    "pcmu": G711("pcmu", 8000, g711.ulaw_encode, g711.ulaw_decode, 0xFF),
    "pcma": G711("pcma", 8000, g711.alaw_encode, g711.alaw_decode, 0xD5),
}


@dataclass
class StreamCounters:
    """Per-stream counters beyond RTCP's (all cumulative)."""
    garbage: int = 0            # RTP socket datagrams that are not RTP v2 (or huge)
    wrong_pt: int = 0           # RTP with a payload type not negotiated
    foreign_ssrc: int = 0       # RTP from a second source while the current one plays
    ssrc_switches: int = 0
    rtcp_garbage: int = 0       # RTCP socket datagrams that failed validation
    rtcp_sent: int = 0
    rtcp_received: int = 0
    natopen_sent: int = 0
    keepalives_sent: int = 0
    dtmf_packets_sent: int = 0
    audio_sent: int = 0
    audio_received: int = 0
    send_errors: int = 0        # filled in by the I/O layer


def _address(host: str, port: int) -> Optional[tuple[str, int]]:
    if host in _HOLD or not port:
        return None
    return (host, port)


class RtpStream:
    """The media of one line (see the module docstring).

    Args:
        line: the caller's key for the line (copied into every event).
        settings: :class:`MediaSettings` (natopenpackets, keep-alive, timeout, DTMF mode,
            jitter buffer, RTCP interval; ``frame_ms`` is the tick).
        ssrc, sequence, timestamp: random initial values (RFC 3550 5.1).
        rand: ``() -> float`` in [0, 1) for the RTCP interval.
        now: creation time (s, the caller's monotonic clock).
        decode: run the receive path (jitter buffer, decoder, PLC); False keeps only the
            statistics, DTMF and latching (nobody listens, e.g. a NullDevice).
        cname: RTCP CNAME.
    """

    def __init__(self, line: Hashable, settings: MediaSettings, *, ssrc: int, sequence: int,
                 timestamp: int, rand: Callable[[], float], now: float, decode: bool = True,
                 cname: Optional[str] = None, ssrc_switch_ms: float = 60.0) -> None:
        self.line = line
        self.settings = settings
        self.ssrc = ssrc & _MASK32
        self.seq = sequence & 0xFFFF
        self.ts = timestamp & _MASK32
        self.decode = decode
        self.cname = cname or f"{self.ssrc:08x}@sipctl"
        self._rand = rand
        self._created = now
        self.switch_s = ssrc_switch_ms / 1000.0
        self.out: list[tuple[bytes, tuple[str, int]]] = []
        self.out_rtcp: list[tuple[bytes, tuple[str, int]]] = []
        self.events: list = []
        self.counters = StreamCounters()
        self.negotiated = None
        self.codec: Optional[G711] = None
        self.rate = 8000
        self.rtcp: Optional[RtcpSession] = None
        self.playout: Optional[Playout] = None
        self.dtmf_tx: Optional[DtmfSender] = None
        self.dtmf_rx = DtmfReceiver()
        self.mic_muted = False
        self.speaker_muted = False
        self._dtmf_busy = False
        self.early = False
        self.closed = False
        # destinations
        self.sdp_dest: Optional[tuple[str, int]] = None
        self.dest: Optional[tuple[str, int]] = None
        self.rtcp_dest: Optional[tuple[str, int]] = None
        self.latched = False
        self.rtcp_latched = False
        # receive state
        self.remote_ssrc: Optional[int] = None
        self._rx_stats = None           # fast path: the current source's ReceiverStats
        self._departed: list = []      # ReceiverStats of sources that sent an RTCP BYE
        self.started = False            # an audio packet was received
        self._last_rx = now             # last accepted RTP (any accepted PT) or timeout start
        self._timed_out = False
        self._audio_pts: tuple[int, ...] = ()
        self._te_pts: tuple[int, ...] = ()
        self._pf = 0                    # playout frame samples (divides the tick)
        # send state
        self._send = False
        self._receiving = False
        self._sending_audio = False
        self._marker = True
        self._txbuf = bytearray()
        self._last_tx = now
        self._tick_samples = 160
        self._P = 160                   # samples (= G.711 bytes) per packet
        self._silence_tick = b""
        self._silence_packet = b""
        self._pt = 0
        self._ka = settings.rtpkeepaliveival / 1000.0
        # tick_send's audio packets not yet given to RtcpSession.on_rtp_sent (_sync_tx):
        # count, payload octets, and the last one's timestamp and send time
        self._tx_n = 0
        self._tx_octets = 0
        self._tx_ts = 0
        self._tx_now = 0.0
        self._rtcp_tn = float("inf")    # rtcp.tn or earlier: tick_send's RTCP timer check
        self._timeout = float(settings.mediatimeout)

    # ------------------------------------------------------------------ control

    def update(self, negotiated, now: float, early: bool = False) -> None:
        """Start the stream or apply a new offer/answer outcome (a ``NegotiatedMedia``)."""
        codec = CODECS.get(negotiated.codec.key)
        if codec is None:
            raise ValueError(f"codec {negotiated.codec.key!r} is not implemented by the stream")
        ptime = int(negotiated.ptime)
        if not 10 <= ptime <= 120 or (codec.rate * ptime) % 1000:
            raise ValueError(f"unsupported ptime {ptime}")
        s = self.settings
        prev = self.negotiated
        self.negotiated = negotiated
        self.early = early
        if self.rtcp is None:
            self.rtcp = RtcpSession(self.ssrc, self.cname, codec.rate, now, self._rand,
                                    min_interval=s.rtcp_interval) if s.rtcp else None
            if self.rtcp is not None:
                self._rtcp_tn = self.rtcp.tn
        if self.codec is not codec:
            self.codec = codec
            self.rate = codec.rate
            self._tick_samples = codec.rate * s.frame_ms // 1000
            self._silence_tick = bytes([codec.silence]) * self._tick_samples
            self._txbuf.clear()
            self._pf = self._tick_samples
            if self.decode:
                self._new_playout(self._tick_samples)
        self._P = codec.rate * ptime // 1000
        self._silence_packet = bytes([codec.silence]) * self._P
        pt = negotiated.payload_type
        if not isinstance(pt, int) or not 0 <= pt <= 127:
            raise ValueError(f"payload type {pt!r} not in 0..127")
        self._pt = pt
        self._audio_pts = tuple({negotiated.receive_payload_type, negotiated.payload_type})
        te = {negotiated.telephone_event_receive_pt, negotiated.telephone_event_pt} - {None}
        self._te_pts = tuple(te)
        receiving = bool(negotiated.receive)
        self._rx_stats = None
        if receiving and not self._receiving:
            self._last_rx = now                 # the timeout counts from here
            self._timed_out = False
        self._receiving = receiving
        self._send = bool(negotiated.send)
        # destinations: a new SDP address unlatches
        sdp = _address(negotiated.remote_address, negotiated.remote_port)
        rtcp_sdp = _address(negotiated.remote_rtcp_address, negotiated.remote_rtcp_port)
        if prev is None or sdp != self.sdp_dest:
            self.sdp_dest = sdp
            self.dest = sdp
            self.latched = False
            self.rtcp_dest = rtcp_sdp
            self.rtcp_latched = False
            if sdp is not None:
                self._nat_open(now)
        elif not self.rtcp_latched:
            self.rtcp_dest = rtcp_sdp
        # DTMF
        te_pt = negotiated.telephone_event_pt
        mode = s.dtmfmode
        if self.dtmf_tx is None:
            self.dtmf_tx = DtmfSender(mode, payload_type=te_pt if te_pt is not None else 101,
                                      clock_rate=codec.rate)
        elif te_pt is not None:
            self.dtmf_tx.payload_type = te_pt
        self.dtmf_tx.rtp_available = self._send and not early and (
            te_pt is not None or mode == DTMF_RFC4733)
        self._sending_audio = self._send and not early

    def set_decode(self, on: bool) -> None:
        """Run the receive path or not (the engine's device changed to or from a null
        device); turning it on starts a fresh jitter buffer."""
        self.decode = on
        if not on:
            self.playout = None
        elif self.codec is not None and self.playout is None:
            self._new_playout(self._tick_samples)

    def _new_playout(self, frame: int) -> None:
        s = self.settings
        codec = self.codec
        assert codec is not None
        self._pf = frame
        # The engine reads the sockets once per tick, so arrival times are quantized to the
        # tick and the measured delay sits on a whole-tick step, jittering by ~0.1 ms. A dead
        # band around it (expand below 0.25 tick, no lead trimming under 0.75 + 0.5 tick)
        # keeps the time-scaler from chasing that noise: on loopback without it, ~70
        # expand/accelerate operations in 10 s took PESQ from 3.83 down to 2.8-3.7.
        tick_ms = float(s.frame_ms)
        self.playout = Playout(codec.rate, frame, decoder=codec.decoder(), frame_bytes=frame,
                               jittersize=s.jittersize, maxjitterpackets=s.maxjitterpackets,
                               headroom_ms=0.75 * tick_ms, keep_ms=0.5 * tick_ms)

    def set_mute(self, mic: bool, speaker: bool) -> None:
        self.mic_muted = bool(mic)
        self.speaker_muted = bool(speaker)

    def send_dtmf(self, digits: str, now: float) -> bool:
        """Queue digits (reference ``API_Dtmf`` string); ValueError on a bad character."""
        if self.dtmf_tx is None:
            self.dtmf_tx = DtmfSender(self.settings.dtmfmode, rtp_available=False)
        queued = self.dtmf_tx.send(digits, now)
        self._dtmf_busy = self._dtmf_busy or queued
        return queued

    # ------------------------------------------------------------------ send helpers

    def _rtp(self, pt: int, payload: bytes, ts: int, marker: bool, now: float) -> None:
        seq = self.seq
        self.out.append((_build(pt, seq, ts, self.ssrc, payload, marker=marker), self.dest))
        self.seq = (seq + 1) & 0xFFFF
        if self.rtcp is not None:
            if self._tx_n:
                self._sync_tx()
            self.rtcp.on_rtp_sent(len(payload), ts, now)
        self._last_tx = now

    def _nat_open(self, now: float) -> None:
        n = self.settings.natopenpackets
        if n == 1:
            self.out.append((b"", self.dest))
            self.counters.natopen_sent += 1
            return
        if n == 2:
            n = 1
        for i in range(n):
            self._rtp(self._pt, self._silence_packet, self.ts, i == 0, now)
            self.ts = (self.ts + self._P) & _MASK32
        self.counters.natopen_sent += n
        self._marker = True

    # ------------------------------------------------------------------ tick

    def tick(self, now: float, mic: Optional[np.ndarray] = None,
             encoded: Optional[bytes] = None) -> Optional[np.ndarray]:
        """One media frame: send what is due, return the speaker frame (codec rate) or None.

        ``mic``: int16 frame of ``frame_ms`` at the codec rate (None: silence);
        ``encoded``: the same frame already encoded with this stream's codec (the engine
        encodes the shared microphone once per codec per tick)."""
        if self.negotiated is None or self.closed:
            return None
        dest = self.dest
        if self._sending_audio and dest is not None:
            dtx = self.dtmf_tx
            if self._dtmf_busy:
                self._dtmf(now)
            if not self.mic_muted:
                if encoded is None:
                    encoded = self._silence_tick if mic is None else self.codec.encode(mic)
            elif self.settings.sendrtponmuted:
                encoded = self._silence_tick
            else:
                encoded = None
            if encoded is not None and not (dtx is not None and dtx._active is not None):
                self._packetize(encoded, now)
            else:
                self._skip(now)
        else:
            if self._dtmf_busy:
                self._dtmf(now)
            self._skip(now)
        return self._tick_end(now)

    def tick_send(self, now: float, encoded: bytes, sends: list, fd: int) -> Optional[np.ndarray]:
        """:meth:`tick` for the engine: ``encoded`` is this tick's microphone frame in the
        stream's codec; the RTP datagrams to send are appended to ``sends`` as ``(fd,
        datagram, address)`` (:attr:`out` is left empty). The steady state (one whole
        packet of audio per tick, nothing pending) runs without the general path."""
        dest = self.dest
        P = self._P
        if (dest is None or not self._sending_audio or self._dtmf_busy or self.mic_muted
                or self._txbuf or self.out or self.closed or len(encoded) != P):
            sp = self.tick(now, None, encoded)
            out = self.out
            if out:
                for data, addr in out:
                    sends.append((fd, data, addr))
                out.clear()
            return sp
        ts = self.ts
        seq = self.seq
        pt = self._pt
        sends.append((fd, _RTP_HEADER.pack(0x80, pt | 0x80 if self._marker else pt, seq, ts,
                                           self.ssrc) + encoded, dest))
        self.seq = (seq + 1) & 0xFFFF
        self.ts = (ts + P) & _MASK32
        self._marker = False
        self._last_tx = now
        self.counters.audio_sent += 1
        if self.rtcp is not None:          # RtcpSession.on_rtp_sent, deferred (_sync_tx)
            self._tx_n += 1
            self._tx_octets += P
            self._tx_ts = ts
            self._tx_now = now
            if now >= self._rtcp_tn:
                return self._tick_end(now)
        # nothing due and nothing to play: the rest of _tick_end is a no-op
        if self.playout is not None or (self._timeout and now - self._last_rx >= self._timeout):
            return self._tick_end(now)
        return None

    def _tick_end(self, now: float) -> Optional[np.ndarray]:
        """The end of a tick: RTCP and media timeout timers, then the speaker frame."""
        rtcp = self.rtcp
        if rtcp is not None and now >= rtcp.tn and self.rtcp_dest is not None:
            if self._tx_n:
                self._sync_tx()
            data = rtcp.handle_timer(now)
            self._rtcp_tn = rtcp.tn
            if data is not None:
                self.out_rtcp.append((data, self.rtcp_dest))
                self.counters.rtcp_sent += 1
        if self._timeout and self._receiving and not self._timed_out \
                and now - self._last_rx >= self._timeout:
            self._timed_out = True
            self.events.append(MediaTimeout(self.line, self._timeout))
        # receive
        if not self.started or not self._receiving or self.playout is None:
            return None
        po = self.playout
        if self._pf == self._tick_samples:
            frame = po.tick(now)
        else:
            n = self._tick_samples // self._pf
            dt = self._pf / self.rate
            frame = np.concatenate([po.tick(now + i * dt) for i in range(n)])
        return None if self.speaker_muted else frame

    def _sync_tx(self) -> None:
        """Give RtcpSession the audio packets tick_send counted: one on_rtp_sent with the
        last packet's timestamp and time (and all the octets), the rest as a count."""
        n = self._tx_n
        self._tx_n = 0
        rtcp = self.rtcp
        if rtcp is not None and n:
            rtcp.on_rtp_sent(self._tx_octets, self._tx_ts, self._tx_now)
            rtcp.sender.packet_count += n - 1
        self._tx_octets = 0

    def _packetize(self, payload: bytes, now: float) -> None:
        P = self._P
        buf = self._txbuf
        if not buf and len(payload) == P:
            ts, seq = self.ts, self.seq
            self.out.append((_RTP_HEADER.pack(0x80, self._pt | 0x80 if self._marker else self._pt,
                                              seq, ts, self.ssrc) + payload, self.dest))
            self.seq = (seq + 1) & 0xFFFF
            if self.rtcp is not None:
                if self._tx_n:
                    self._sync_tx()
                self.rtcp.on_rtp_sent(P, ts, now)
            self._last_tx = now
            self.ts = (ts + P) & _MASK32
            self._marker = False
            self.counters.audio_sent += 1
            return
        buf += payload
        while len(buf) >= P:
            self._rtp(self._pt, bytes(buf[:P]), self.ts, self._marker, now)
            del buf[:P]
            self.ts = (self.ts + P) & _MASK32
            self._marker = False
            self.counters.audio_sent += 1

    def _skip(self, now: float) -> None:
        """No audio this tick: the timestamp runs on; keep-alive if due."""
        buf = self._txbuf
        self.ts = (self.ts + len(buf) + self._tick_samples) & _MASK32
        buf.clear()
        self._marker = True
        if self._ka and self.dest is not None and now - self._last_tx >= self._ka - 1e-6:
            self._rtp(self._pt, b"", self.ts, False, now)
            self.counters.keepalives_sent += 1

    def _dtmf(self, now: float) -> None:
        dtx = self.dtmf_tx
        if dtx is None or not self._dtmf_busy:
            return
        t = dtx.get_timer()
        if t is None:
            self._dtmf_busy = False
            return
        if t > now + 1e-9:
            return
        for ev in dtx.poll(now, (self.ts + len(self._txbuf)) & _MASK32):
            if isinstance(ev, SendRtpEvent):
                if self.dest is not None:
                    self._rtp(ev.payload_type, ev.payload, ev.timestamp, ev.marker, now)
                    self.counters.dtmf_packets_sent += 1
            elif isinstance(ev, SendInfo):
                self.events.append(SendDtmfInfo(self.line, ev.body, ev.digit, ev.content_type))

    # ------------------------------------------------------------------ receive

    def receive_fast(self, pt: int, seq: int, ts: int, ssrc: int, plen: int, now: float,
                     data: Optional[bytes] = None) -> bool:
        """The steady-state case of :meth:`receive_rtp`, from a header parsed by the I/O
        layer (a valid RTP v2 packet): audio of the latched source while receiving.
        Returns False (nothing done) for anything else, and when the packet is to be
        played but ``data`` is None: the caller then calls :meth:`receive_rtp`."""
        if ssrc != self.remote_ssrc or pt not in self._audio_pts or not plen:
            return False
        rx = self._rx_stats
        if rx is None:
            return False
        po = self.playout
        if po is None:
            self._last_rx = now
            self._timed_out = False
            rx.on_rtp(seq, ts, now, plen)
            self.counters.audio_received += 1
            return True
        if data is None or plen % self._pf:
            return False
        self._last_rx = now
        self._timed_out = False
        rx.on_rtp(seq, ts, now, plen)
        self.counters.audio_received += 1
        po.put_rtp(data, now)
        return True

    def receive_rtp(self, data: bytes, source: tuple, now: float) -> None:
        """A datagram arrived on the RTP socket from ``source`` at ``now``."""
        try:
            p = _parse(data)
        except (ValueError, TypeError):
            self.counters.garbage += 1
            return
        pt = p.payload_type
        rx = self._rx_stats
        if rx is not None and p.ssrc == self.remote_ssrc and pt in self._audio_pts:
            # fast path: the latched source's audio while receiving
            plen = p.payload_length
            if plen and (not plen % self._pf or self.playout is None):
                self._last_rx = now
                self._timed_out = False
                rx.on_rtp(p.sequence, p.timestamp, now, plen)
                self.counters.audio_received += 1
                po = self.playout
                if po is not None:
                    po.put_rtp(data, now)
                return
        if p.version != 2 or 72 <= pt <= 76:        # RTCP SR..APP on the RTP port
            self.counters.garbage += 1
            return
        if self.negotiated is None or self.closed:
            return
        audio = pt in self._audio_pts
        if not audio and pt not in self._te_pts and pt != PT_CN:
            self.counters.wrong_pt += 1
            return
        ssrc = p.ssrc
        if ssrc != self.remote_ssrc:
            if self.remote_ssrc is not None:
                if now - self._last_rx < self.switch_s:
                    self.counters.foreign_ssrc += 1
                    return
                self.counters.ssrc_switches += 1
                self._rx_stats = None
                if self.playout is not None:
                    self.playout.reset()
                self.latched = False
                self.rtcp_latched = False
            self.remote_ssrc = ssrc
        if not self.latched and pt != PT_CN:
            src = (source[0], source[1])
            self.latched = True
            self.dest = src
            self.events.append(RtpLatched(self.line, src, ssrc))
        self._last_rx = now
        self._timed_out = False
        plen = p.payload_length
        if self.rtcp is not None:
            self.rtcp.on_rtp_received(ssrc, p.sequence, p.timestamp, now, plen)
        if not self._receiving:
            return
        if audio:
            if not plen:
                return                          # keep-alive
            self.counters.audio_received += 1
            if not self.started:
                self.started = True
                self.events.append(MediaStarted(self.line, (source[0], source[1])))
            if self.rtcp is not None and self.latched:
                m = self.rtcp.members.get(ssrc)
                self._rx_stats = None if m is None else m.stats
            po = self.playout
            if po is not None:
                if plen % self._pf:
                    f = gcd(plen, self._pf)
                    if f * 1000 < self.rate:    # below 1 ms: not a G.711 framing we play
                        return
                    self._new_playout(f)
                    po = self.playout
                po.put_rtp(data, now)
        elif pt != PT_CN:
            try:
                d = self.dtmf_rx.receive_rtp(p.payload, p.timestamp)
            except ValueError:
                self.counters.garbage += 1
                return
            if d is not None:
                self.events.append(DtmfReceived(self.line, d.digit, d.method, d.duration_ms))

    def receive_rtcp(self, data: bytes, source: tuple, now: float) -> None:
        """A datagram arrived on the RTCP socket from ``source`` at ``now``."""
        if self.rtcp is None or self.closed:
            return
        if self._tx_n:
            self._sync_tx()
        members = dict(self.rtcp.members)
        try:
            packets = self.rtcp.receive(data, now)
        except (RtcpParseError, ValueError, TypeError):
            self.counters.rtcp_garbage += 1
            return
        finally:
            self._rtcp_tn = self.rtcp.tn        # a BYE may bring the timer forward
        if len(self.rtcp.members) < len(members):       # BYE: keep their statistics
            self._rx_stats = None
            for ssrc, m in members.items():
                if ssrc not in self.rtcp.members and m.stats is not None:
                    self._departed.append(m.stats)
        self.counters.rtcp_received += 1
        if self.rtcp_latched:
            return
        for pk in packets:
            if isinstance(pk, (SenderReport, ReceiverReport)):
                if self.remote_ssrc is None or pk.ssrc == self.remote_ssrc:
                    src = (source[0], source[1])
                    self.rtcp_latched = True
                    self.rtcp_dest = src
                    self.events.append(RtpLatched(self.line, src, pk.ssrc, "rtcp"))
                return
            if isinstance(pk, Bye):
                return

    # ------------------------------------------------------------------ end

    def close(self, now: float, reason: Optional[str] = None) -> Optional[RtcpSummary]:
        """Stop the stream: queue the RTCP BYE and return the summary (None if never started)."""
        if self.closed:
            return self.summary()
        self.closed = True
        self._rx_stats = None
        if self.rtcp is None:
            return None
        if self._tx_n:
            self._sync_tx()
        if self.rtcp_dest is not None:
            self.out_rtcp.append((self.rtcp.bye(now, reason), self.rtcp_dest))
            self.counters.rtcp_sent += 1
        return self.summary()

    def summary(self) -> Optional[RtcpSummary]:
        """Packets sent/received/lost, loss %, jitter (ms), RTT (ms) so far (None: no stream).

        :meth:`RtcpSession.summary` plus the sources that left with an RTCP BYE."""
        rtcp = self.rtcp
        if rtcp is None:
            return None
        if self._tx_n:
            self._sync_tx()
        s = rtcp.summary()
        if not self._departed:
            return s
        received, lost, jitter = s.received, s.lost, s.jitter_ms
        expected = sum(m.stats.expected for m in rtcp.members.values() if m.stats is not None)
        for st in self._departed:
            received += st.received
            expected += st.expected
            lost += max(0, st.lost)
            jitter = max(jitter, st.jitter_ms)
        pct = 100.0 * lost / expected if expected > 0 else 0.0
        return replace(s, received=received, lost=lost, loss_percent=pct, jitter_ms=jitter)

    def error(self, message: str) -> None:
        """Report a per-line failure (used by the I/O layer)."""
        self.events.append(MediaError(self.line, message))
