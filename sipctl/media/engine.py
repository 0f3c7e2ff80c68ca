"""The media engine: every line's RTP stream on one media thread clocked by the audio device.

:class:`MediaEngine` owns the audio device (a :class:`~sipctl.media.devices.NullDevice` at
the engine rate when none is given), a :class:`~sipctl.media.ports.PortAllocator`, and per
line a bound RTP/RTCP socket pair and a sans-IO :class:`~sipctl.media.stream.RtpStream`.
Every device frame (``frame_ms``, 20 ms by default) the media thread:

1. runs the commands queued by the public methods (a thread-safe deque; the media
   thread is the only one touching the streams while the engine runs);
2. reads every readable RTP/RTCP socket until it is empty in one call to
   :class:`_media.udpio.Receiver` (``epoll_wait`` + ``recvmmsg`` per ready socket, GIL
   released, RTP headers parsed in C; no syscall for a line with nothing to read),
   stamping arrivals with the monotonic clock; the steady state (audio of the latched
   source) goes to :meth:`~sipctl.media.stream.RtpStream.receive_fast` without building
   the datagram or its source address; datagrams over 2048 bytes and anything that fails
   RTP/RTCP validation are counted and dropped
   (:class:`~sipctl.media.stream.StreamCounters`);
3. ticks every stream with the microphone frame (resampled once per codec rate and
   encoded once per codec for all lines; :meth:`~sipctl.media.stream.RtpStream.tick_send`
   appends the RTP straight to one send batch), then sends it in one
   :func:`_media.udpio.send_many` call (RTCP and command output go out at once);
4. mixes the speaker output of the lines that receive and are not speaker-muted
   (int32 sum per codec rate, one resampler per codec rate to the engine rate,
   saturated to int16), plus local ringback tones, and returns it to the device.

With a :class:`~sipctl.media.devices.NullDevice` nobody hears the speaker, so by default
(``MediaSettings.decode`` None) received audio is not decoded and nothing is mixed: the
streams keep statistics, latching, DTMF and timeouts only.

Threading: the public methods may be called from any thread (the asyncio thread). They
validate their arguments synchronously (ValueError / KeyError), then queue the work;
:meth:`open_line` binds the sockets at once (the SDP needs the port); :meth:`close_line`,
:meth:`summary` and :meth:`counters` wait for the media thread's answer (at most one
frame). Before :meth:`start` and after :meth:`stop` the work runs in the caller's thread.
Events (:mod:`sipctl.media.media_events`) go to ``on_event`` **on the media thread**; the
asyncio side wraps it with ``loop.call_soon_threadsafe``. An exception in ``on_event``
or in one line's processing is logged (a :class:`MediaError` for the line) and never
stops the thread or the other lines.
"""
from __future__ import annotations

import logging
import os
import random
import select
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import replace
from typing import Any, Callable, Hashable, Optional

import numpy as np

from _media.udpio import Receiver, send_many

from .devices import AudioDevice, AudioFormat, NullDevice
from .dtmf import _VALID as _DTMF_VALID
from .media_events import MediaError
from .media_settings import ENGINE_RATES, MediaSettings
from .ports import PortAllocator, PortPair
from .rtcp import RtcpSummary
from .stream import CODECS, RtpStream, StreamCounters
from .tones import RingbackTone

__all__ = ["MediaEngine", "MediaSettings", "MAX_DATAGRAM"]

_log = logging.getLogger(__name__)

#: Datagrams longer than this are garbage (G.711 60 ms is 480 + 12 bytes).
MAX_DATAGRAM = 2048
_MAX_ROUNDS = 32            # receive rounds per tick (a flood cannot starve the sender)
_WAIT = 5.0                 # s to wait for a synchronous answer from the media thread


class _Line:
    __slots__ = ("key", "pair", "fd", "stream", "ringback", "send_failed", "errors")

    def __init__(self, key: Hashable, pair: PortPair, stream: RtpStream) -> None:
        self.key = key
        self.pair = pair
        self.fd = pair.rtp.fileno()
        self.stream = stream
        self.ringback: Optional[RingbackTone] = None
        self.send_failed = False
        self.errors = 0


class MediaEngine:
    """All lines' media on one thread (see the module docstring).

    Args:
        settings: :class:`MediaSettings` (reference names); default values if None.
        device: the audio device (its format's rate must be one of 8000/16000/48000,
            mono); None: a NullDevice at ``settings.rate`` / ``settings.frame_ms``.
        on_event: called on the media thread with each media event.
        rand: a :class:`random.Random` for SSRCs, sequence numbers, timestamps, ports
            and RTCP intervals (default: a fresh system-seeded one).
        clock: monotonic clock in seconds.
    """

    def __init__(self, settings: Optional[MediaSettings] = None,
                 device: Optional[AudioDevice] = None,
                 on_event: Optional[Callable[[Any], None]] = None, *,
                 rand: Optional[random.Random] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings = settings or MediaSettings()
        if device is None:
            device = NullDevice(AudioFormat(settings.rate, 1, settings.frame_ms))
        fmt = device.format
        if fmt.channels != 1 or fmt.rate not in ENGINE_RATES or fmt.frame_ms not in (10, 20):
            raise ValueError(f"device format {fmt} unsupported: mono, rate in {ENGINE_RATES}, "
                             "10 or 20 ms frames")
        if fmt.rate != settings.rate or fmt.frame_ms != settings.frame_ms:
            self.settings = settings = replace(settings, rate=fmt.rate, frame_ms=fmt.frame_ms)
        self.device = device
        self.rate = fmt.rate
        self.frame = fmt.frame_len
        self.on_event = on_event
        self._rand = rand or random.Random()
        self._clock = clock
        self.discard = isinstance(device, NullDevice)
        self.decode = (not self.discard) if settings.decode is None else settings.decode
        self.ports = PortAllocator(settings.rtpport, rand=random.Random(self._rand.random()),
                                   rcvbuf=1 << 18)
        self._lock = threading.Lock()
        self._open: dict[Hashable, PortPair] = {}      # caller-side view
        self._lines: dict[Hashable, _Line] = {}        # media-side state
        self._fds: dict[int, tuple[_Line, bool, Callable[..., bool]]] = {}
        self._ep = select.epoll()
        self._rx = Receiver(2048, MAX_DATAGRAM)
        self._queue: deque = deque()
        self._running = False
        self._stopped = False
        self._thread_id: Optional[int] = None
        self._silence = np.zeros(self.frame, np.int16)
        self._mic_resamplers: dict[int, Any] = {}
        self._spk_resamplers: dict[int, Any] = {}
        self._switch_lock = threading.Lock()
        #: A :class:`~sipctl.media.vad_meter.VadMeter` fed every tick when set (VAD stats).
        self.vad_meter: Any = None
        #: Ticks run, and the total seconds spent in them (for benchmarks).
        self.ticks = 0
        self.busy = 0.0

    # ================================================================== lifecycle

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        """Start the device (and with it the media thread)."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("MediaEngine was stopped")
            if self._running:
                return
            self._running = True
        try:
            self.device.start(self._on_frame)
        except BaseException:
            with self._lock:
                self._running = False
            raise

    def stop(self) -> None:
        """Stop the device, run queued commands, close every socket (idempotent)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            was_running, self._running = self._running, False
        if was_running:
            try:
                self.device.stop()
            except Exception as e:  # pragma: no cover - device failing to stop
                _log.error("media device stop failed: %r", e)
        self._drain()
        for ln in list(self._lines.values()):
            self._unregister(ln)
        for pair in self._open.values():
            pair.close()
        self._open.clear()
        self._ep.close()

    def switch_device(self, device: AudioDevice) -> AudioDevice:
        """Put ``device`` in place of the current one (``API_SetAudioDevice`` with
        ``immediate`` 2): the old device is stopped (its thread joined: call from a worker,
        not the event loop), the new one started with the same frame callback; the streams
        and their sockets stay, commands queued meanwhile run at the first new tick. The
        format must be the engine's. Returns the old device (stopped)."""
        fmt = device.format
        if fmt.rate != self.settings.rate or fmt.frame_ms != self.settings.frame_ms or \
                fmt.channels != 1:
            raise ValueError(f"device format {fmt} differs from the engine's "
                             f"({self.settings.rate} Hz, {self.settings.frame_ms} ms, mono)")
        with self._switch_lock:
            old = self.device
            with self._lock:
                if self._stopped:
                    raise RuntimeError("MediaEngine was stopped")
                running = self._running
            if running:
                old.stop()
            self.device = device
            # no tick runs now: the streams can be told whether to decode (a null device
            # hears nothing, so received audio is not decoded for it)
            self.discard = isinstance(device, NullDevice)
            if self.settings.decode is None:
                self.decode = not self.discard
                for ln in list(self._lines.values()):
                    ln.stream.set_decode(self.decode)
            if running:
                try:
                    device.start(self._on_frame)
                except BaseException:
                    self.device = old          # keep the calls clocked
                    old.start(self._on_frame)
                    raise
        return old

    def __enter__(self) -> "MediaEngine":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ================================================================== commands

    def _submit(self, fn: Callable[..., Any], *args: Any, wait: bool = False) -> Any:
        fut: Future = Future()
        with self._lock:
            queued = self._running and threading.get_ident() != self._thread_id
            if queued:
                self._queue.append((fn, args, fut))
        if not queued:
            if self._stopped and fn is not self._cmd_close:
                raise RuntimeError("MediaEngine was stopped")
            return fn(*args)
        if wait:
            return fut.result(_WAIT)
        return fut

    def _drain(self) -> None:
        q = self._queue
        while q:
            fn, args, fut = q.popleft()
            try:
                fut.set_result(fn(*args))
            except BaseException as e:  # noqa: BLE001 - handed to the waiting caller
                fut.set_exception(e)
                if not isinstance(e, Exception):
                    raise

    def _line(self, line: Hashable) -> PortPair:
        pair = self._open.get(line)
        if pair is None:
            raise KeyError(f"line {line!r} is not open")
        return pair

    # ================================================================== public API

    def open_line(self, line: Hashable) -> tuple[str, int]:
        """Bind the line's RTP/RTCP pair now (``rtpport`` rules); returns (address, RTP port).

        Idempotent for an open line. OSError if no port pair is free."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("MediaEngine was stopped")
            pair = self._open.get(line)
            if pair is not None:
                return pair.address, pair.port
            pair = self.ports.allocate(self.settings.bind_address)
            self._open[line] = pair
        self._submit(self._cmd_open, line, pair)
        return pair.address, pair.port

    def update(self, line: Hashable, negotiated: Any, early: bool = False) -> None:
        """Start or change the line's stream from a ``NegotiatedMedia`` (codec, remote
        address, direction, DTMF PTs). ``early``: early media (receive only; NAT-open and
        keep-alive packets are sent). ValueError for a codec or ptime the engine cannot run."""
        self._line(line)
        key = negotiated.codec.key
        if key not in CODECS:
            raise ValueError(f"codec {negotiated.codec.name} is not implemented")
        ptime = negotiated.ptime
        if not isinstance(ptime, int) or not 10 <= ptime <= 120 or (8000 * ptime) % 1000:
            raise ValueError(f"unsupported ptime {ptime!r}")
        self._submit(self._cmd_update, line, negotiated, bool(early))

    def close_line(self, line: Hashable) -> Optional[RtcpSummary]:
        """Stop the line (RTCP BYE), close its sockets; its summary (None: never started,
        or the line was not open)."""
        with self._lock:
            if line not in self._open:
                return None
        return self._submit(self._cmd_close, line, wait=True)

    def close_line_nowait(self, line: Hashable) -> "Future[Optional[RtcpSummary]]":
        """:meth:`close_line` without waiting: a future of the summary, resolved by the media
        thread at its next tick (at once when the engine is not running)."""
        with self._lock:
            if line not in self._open:
                fut: Future = Future()
                fut.set_result(None)
                return fut
        got = self._submit(self._cmd_close, line)
        if isinstance(got, Future):
            return got
        fut = Future()
        fut.set_result(got)
        return fut

    def send_dtmf(self, line: Hashable, digits: str) -> bool:
        """Send DTMF (reference ``API_Dtmf``: ``0-9 * # A-D``, space = pause) per
        ``dtmfmode``. ValueError for any other character (nothing queued); False when
        DTMF is disabled (``dtmfmode`` 0) or the line is not open."""
        if not isinstance(digits, str):
            raise TypeError(f"digits must be a str, not {type(digits).__name__}")
        bad = sorted(set(digits) - _DTMF_VALID)
        if bad:
            raise ValueError(f"invalid DTMF characters {''.join(bad)!r} in {digits!r}")
        if self.settings.dtmfmode == 0 or line not in self._open:
            return False
        self._submit(self._cmd_dtmf, line, digits)
        return True

    def set_mute(self, line: Hashable, mic: bool, speaker: bool) -> None:
        """Mute the line's microphone (no audio sent; silence with ``sendrtponmuted``)
        and/or its speaker (not mixed)."""
        self._line(line)
        self._submit(self._cmd_mute, line, bool(mic), bool(speaker))

    def set_ringback(self, line: Hashable, on: bool) -> None:
        """Play (or stop) a local ringback tone for the line: US 440+480 Hz, 2 s on /
        4 s off (:class:`~sipctl.media.tones.RingbackTone`), mixed into the speaker."""
        self._line(line)
        self._submit(self._cmd_ringback, line, bool(on))

    def summary(self, line: Hashable) -> Optional[RtcpSummary]:
        """The line's statistics so far (None: no stream yet)."""
        self._line(line)
        return self._submit(self._cmd_summary, line, wait=True)

    def counters(self, line: Hashable) -> StreamCounters:
        """A copy of the line's :class:`StreamCounters` (garbage, wrong PT, keep-alives...)."""
        self._line(line)
        return self._submit(self._cmd_counters, line, wait=True)

    @property
    def lines(self) -> list[Hashable]:
        return list(self._open)

    # ================================================================== command bodies

    def _new_stream(self, line: Hashable) -> RtpStream:
        r = self._rand
        return RtpStream(line, self.settings, ssrc=r.getrandbits(32), sequence=r.getrandbits(16),
                         timestamp=r.getrandbits(32), rand=r.random, now=self._clock(),
                         decode=self.decode)

    def _cmd_open(self, line: Hashable, pair: PortPair) -> None:
        ln = _Line(line, pair, self._new_stream(line))
        self._lines[line] = ln
        for sock, is_rtcp in ((pair.rtp, False), (pair.rtcp, True)):
            fd = sock.fileno()
            self._fds[fd] = (ln, is_rtcp, ln.stream.receive_fast)
            self._ep.register(fd, select.EPOLLIN)

    def _cmd_update(self, line: Hashable, negotiated: Any, early: bool) -> None:
        ln = self._lines.get(line)
        if ln is None:
            return
        try:
            ln.stream.update(negotiated, self._clock(), early)
        except Exception as e:  # noqa: BLE001
            ln.stream.error(f"update failed: {e}")
        self._flush(ln)

    def _cmd_close(self, line: Hashable) -> Optional[RtcpSummary]:
        ln = self._lines.pop(line, None)
        pair = self._open.pop(line, None)
        if ln is None:
            if pair is not None:
                pair.close()
            return None
        summary = ln.stream.close(self._clock())
        self._flush(ln)
        self._unregister(ln)
        return summary

    def _unregister(self, ln: _Line) -> None:
        for sock in (ln.pair.rtp, ln.pair.rtcp):
            try:
                fd = sock.fileno()
                if fd >= 0:
                    self._fds.pop(fd, None)
                    try:
                        self._ep.unregister(fd)
                    except (OSError, ValueError):
                        pass
            finally:
                sock.close()
        self._lines.pop(ln.key, None)

    def _cmd_dtmf(self, line: Hashable, digits: str) -> bool:
        ln = self._lines.get(line)
        return ln is not None and ln.stream.send_dtmf(digits, self._clock())

    def _cmd_mute(self, line: Hashable, mic: bool, speaker: bool) -> None:
        ln = self._lines.get(line)
        if ln is not None:
            ln.stream.set_mute(mic, speaker)

    def _cmd_ringback(self, line: Hashable, on: bool) -> None:
        ln = self._lines.get(line)
        if ln is not None:
            ln.ringback = RingbackTone(self.rate) if on else None

    def _cmd_summary(self, line: Hashable) -> Optional[RtcpSummary]:
        ln = self._lines.get(line)
        return None if ln is None else ln.stream.summary()

    def _cmd_counters(self, line: Hashable) -> StreamCounters:
        ln = self._lines.get(line)
        return replace(ln.stream.counters) if ln is not None else StreamCounters()

    # ================================================================== media thread

    def _emit(self, events: list) -> None:
        cb = self.on_event
        for ev in events:
            if cb is not None:
                try:
                    cb(ev)
                except Exception as e:  # noqa: BLE001 - never let a callback kill media
                    _log.error("media on_event(%r) failed: %r", ev, e, exc_info=e)
        events.clear()

    def _flush(self, ln: _Line) -> None:
        """Send the stream's queued datagrams and hand over its events."""
        st = ln.stream
        for queue, sock in ((st.out, ln.pair.rtp), (st.out_rtcp, ln.pair.rtcp)):
            if not queue:
                continue
            sendto = sock.sendto
            for data, addr in queue:
                try:
                    sendto(data, addr)
                except OSError as e:
                    self._send_failed(ln, addr, e)
            queue.clear()
        if st.events:
            self._emit(st.events)

    def _internal_error(self, ln: _Line, where: str, e: Exception) -> None:
        """A bug or an unexpected failure for one line: logged and reported once per line."""
        ln.errors += 1
        if ln.errors == 1:
            _log.error("line %r: %s failed: %r", ln.key, where, e, exc_info=e)
            self._emit([MediaError(ln.key, f"internal error in {where}: {e!r}")])

    def _send_failed(self, ln: _Line, addr: Any, e: OSError) -> None:
        st = ln.stream
        st.counters.send_errors += 1
        if not ln.send_failed:          # one MediaError per line, then only counted
            ln.send_failed = True
            st.error(f"send to {addr} failed: {e}")

    def _receive(self) -> None:
        rx = self._rx
        epfd = self._ep.fileno()
        cap = rx.capacity
        while True:
            n = rx.recv_epoll(epfd, _MAX_ROUNDS)
            if n:
                self._dispatch(n, self._clock())
            if n < cap:
                return

    def _dispatch(self, n: int, now: float) -> None:
        """Hand the ``n`` datagrams the receiver holds to their streams."""
        rx = self._rx
        fds = self._fds
        data = rx.data
        keep = self.decode
        odd = ((rx.flags[:n] != 0) | (rx.status[:n] != 0)).tolist()   # huge or not RTP
        for i, fd, bad, pt, seq, ts, ssrc, plen in zip(
                range(n), rx.fd[:n].tolist(), odd, rx.payload_type[:n].tolist(),
                rx.sequence[:n].tolist(), rx.timestamp[:n].tolist(), rx.ssrc[:n].tolist(),
                rx.payload_length[:n].tolist()):
            ent = fds.get(fd)
            if ent is None:
                continue
            ln, is_rtcp, fast = ent
            try:
                if bad or is_rtcp:
                    self._dispatch_slow(ln, i, is_rtcp, now)
                elif not (fast(pt, seq, ts, ssrc, plen, now, data(i)) if keep
                          else fast(pt, seq, ts, ssrc, plen, now)):
                    ln.stream.receive_rtp(data(i), rx.source(i), now)
            except Exception as e:  # noqa: BLE001 - one bad packet, one line
                ln.stream.counters.garbage += 1
                self._internal_error(ln, "receive", e)

    def _dispatch_slow(self, ln: _Line, i: int, is_rtcp: bool, now: float) -> None:
        """A datagram off the fast path: huge, on the RTCP socket, or not parsed as RTP."""
        st = ln.stream
        rx = self._rx
        if rx.flags[i]:                     # longer than MAX_DATAGRAM
            if is_rtcp:
                st.counters.rtcp_garbage += 1
            else:
                st.counters.garbage += 1
        elif is_rtcp:
            st.receive_rtcp(rx.data(i), rx.source(i), now)
        else:
            st.receive_rtp(rx.data(i), rx.source(i), now)

    def _send(self, sends: list) -> None:
        """Send ``(fd, datagram, address)`` items in one call; report the failures."""
        for i, err in send_many(sends):
            fd, data, addr = sends[i]
            ent = self._fds.get(fd)
            if ent is None:
                continue
            ln = ent[0]
            try:
                if err:
                    raise OSError(err, os.strerror(err))
                ln.pair.rtp.sendto(data, addr)      # not a numeric address: Python resolves
            except OSError as e:
                self._send_failed(ln, addr, e)
            if ln.stream.events:
                self._emit(ln.stream.events)

    def _on_frame(self, mic: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        self._thread_id = threading.get_ident()
        self._drain()
        self._receive()
        now = self._clock()
        mic_by_rate: dict[int, Optional[np.ndarray]] = {}
        enc_by_codec: dict[str, bytes] = {}
        mix: dict[int, np.ndarray] = {}
        discard = silent_mic = self.discard
        sends: list = []
        last_codec = last_enc = None
        for ln in tuple(self._lines.values()):
            st = ln.stream
            codec = st.codec
            try:
                if codec is None:
                    continue
                if codec is last_codec:
                    enc = last_enc
                else:
                    enc = enc_by_codec.get(codec.key)
                    if enc is None:
                        m = None if silent_mic else self._mic_at(mic, st.rate, mic_by_rate)
                        enc = st._silence_tick if m is None else codec.encode(m)
                        enc_by_codec[codec.key] = enc
                    last_codec, last_enc = codec, enc
                sp = st.tick_send(now, enc, sends, ln.fd)
                if st.out_rtcp or st.events:
                    self._flush(ln)
                if sp is not None and not discard:
                    acc = mix.get(st.rate)
                    if acc is None:
                        acc = mix[st.rate] = np.zeros(len(sp), np.int32)
                    acc += sp
            except Exception as e:  # noqa: BLE001 - isolate the line
                self._internal_error(ln, "tick", e)
        if sends:
            self._send(sends)
        out = self._mix(mix)
        meter = self.vad_meter
        if meter is not None:
            meter.add(mic, out)
        self.ticks += 1
        self.busy += time.perf_counter() - t0
        return out

    def _mic_at(self, mic: np.ndarray, rate: int, cache: dict) -> np.ndarray:
        m = cache.get(rate)
        if m is None:
            if rate == self.rate:
                m = mic
            else:
                r = self._mic_resamplers.get(rate)
                if r is None:
                    from _media.resampler import Resampler
                    r = self._mic_resamplers[rate] = Resampler(self.rate, rate)
                m = r.process(mic)
            cache[rate] = m
        return m

    def _mix(self, mix: dict[int, np.ndarray]) -> np.ndarray:
        if self.discard:
            return self._silence
        total: Optional[np.ndarray] = None
        for rate, acc in mix.items():
            if rate != self.rate:
                r = self._spk_resamplers.get(rate)
                if r is None:
                    from _media.resampler import Resampler
                    r = self._spk_resamplers[rate] = Resampler(rate, self.rate)
                acc = r.process(np.clip(acc, -32768, 32767).astype(np.int16)).astype(np.int32)
                if len(acc) != self.frame:          # resampler start-up: pad/trim
                    acc = np.resize(acc, self.frame) if len(acc) else np.zeros(self.frame, np.int32)
            total = acc if total is None else total + acc
        for ln in self._lines.values():
            if ln.ringback is not None and not ln.stream.speaker_muted:
                if total is None:
                    total = np.zeros(self.frame, np.int32)
                ln.ringback.add_into(total)
        if total is None:
            return self._silence
        return np.clip(total, -32768, 32767).astype(np.int16)
