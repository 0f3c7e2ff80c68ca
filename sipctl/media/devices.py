"""Audio devices: the media clock and the microphone/speaker of a call.

One interface, :class:`AudioDevice`, with pluggable backends (STYLE item 13):

* :class:`NullDevice` - no sound card: a monotonic timer thread is the media clock, the
  microphone is silence and the speaker output is discarded (the headless default);
* :class:`WavDevice` - a mono 16-bit WAV file as the microphone (resampled to the
  format's rate with :class:`_media.resampler.Resampler` when needed) and/or a WAV file
  recording the speaker output, clocked like :class:`NullDevice` (or as fast as possible
  with ``realtime=False``, for tests);
* :class:`~sipctl.media.device_portaudio.PortAudioDevice` - a sound card through PyAudio,
  imported lazily (only when used);

and :class:`~sipctl.media.device_registry.DeviceRegistry`, owned by a UA/phone object
(never a module global), which implements the reference's ``API_GetAudioDeviceList``,
``API_Get/SetAudioDevice`` and ``API_Get/SetVolume`` semantics.

Threading (DESIGN: "media runs in its own thread(s), clocked by the audio device or by
a monotonic timer when no device is present"): :meth:`AudioDevice.start` takes
``on_frame(mic) -> speaker``; the device's own thread calls it once per frame period with
the microphone frame (1-D ``int16``, ``format.frame_size`` values, channels interleaved)
and plays the returned frame (same shape; ``None`` plays silence and counts an underrun).
``on_frame`` must not block; it talks to signalling through thread-safe queues.

Volume (``volumein``/``volumeout``, 0..100 %, default 50 = "not changed") is applied as a
gain by :func:`volume_gain`: 0 mutes, otherwise ``gain_dB = (v - 50) * 0.24``, so
50 is unity (0 dB), 100 is +12 dB (x3.98, :data:`MAX_GAIN_DB`) and 1 is -11.76 dB.
Amplified samples saturate at the int16 limits (never wrap).

Timer clock: tick ``k`` is due at ``start_time + k * period`` (absolute deadlines, so no
drift accumulates). A tick that starts more than :data:`LATE_TOLERANCE` after its deadline
counts in ``late_ticks``; when the thread falls more than ``max_catchup`` periods behind,
the missed ticks are dropped (counted in ``overruns``) and the clock re-joins its grid.
If ``on_frame`` raises, the device stops, keeps the exception in ``error`` (logged, never
raised into another thread) and closes its files, so a recording keeps what was written.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
import wave
from dataclasses import dataclass
from typing import Callable, Optional, Protocol, Union, runtime_checkable

import numpy as np

__all__ = [
    "AudioFormat", "AudioDevice", "FrameCallback", "NullDevice", "WavDevice",
    "volume_gain", "apply_volume", "MAX_GAIN_DB", "DB_PER_STEP", "LATE_TOLERANCE",
    "PortAudioDevice", "DeviceRegistry", "DeviceBackend", "PortAudioBackend",
]

_log = logging.getLogger(__name__)

#: Gain at volume 100 (dB); 50 is unity, 0 is mute.
MAX_GAIN_DB = 12.0
#: dB per volume step: ``gain_dB = (v - 50) * DB_PER_STEP``.
DB_PER_STEP = MAX_GAIN_DB / 50.0
#: A timer tick starting later than this after its deadline counts as late (seconds).
LATE_TOLERANCE = 0.005

FrameCallback = Callable[[np.ndarray], Optional[np.ndarray]]
PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class AudioFormat:
    """Sample rate (Hz), channel count and frame duration (ms) of a device."""

    rate: int
    channels: int = 1
    frame_ms: int = 20

    def __post_init__(self) -> None:
        for name in ("rate", "channels", "frame_ms"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"AudioFormat.{name} must be a positive int, not {v!r}")
        if (self.rate * self.frame_ms) % 1000:
            raise ValueError(f"{self.frame_ms} ms at {self.rate} Hz is not a whole number "
                             "of samples")

    @property
    def frame_len(self) -> int:
        """Samples per channel in one frame."""
        return self.rate * self.frame_ms // 1000

    @property
    def frame_size(self) -> int:
        """int16 values in one (interleaved) frame."""
        return self.frame_len * self.channels

    @property
    def period(self) -> float:
        """Frame period in seconds."""
        return self.frame_ms / 1000.0

    def silence(self) -> np.ndarray:
        return np.zeros(self.frame_size, np.int16)


def _check_volume(v: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"volume must be an int 0..100, not {v!r}")
    if not 0 <= v <= 100:
        raise ValueError(f"volume must be 0..100, not {v}")
    return int(v)


def volume_gain(volume: int) -> float:
    """Linear gain of a 0..100 volume: 0 -> 0, else ``10 ** ((v - 50) * 0.24 / 20)``."""
    v = _check_volume(volume)
    if v == 0:
        return 0.0
    if v == 50:
        return 1.0
    return 10.0 ** ((v - 50) * DB_PER_STEP / 20.0)


def apply_volume(frame: np.ndarray, volume: int) -> np.ndarray:
    """``frame`` (int16) scaled by :func:`volume_gain`, rounded and saturated to int16."""
    g = volume_gain(volume)
    if g == 1.0:
        return frame
    if g == 0.0:
        return np.zeros_like(frame)
    y = np.rint(frame.astype(np.float64) * g)
    return np.clip(y, -32768, 32767).astype(np.int16)


@runtime_checkable
class AudioDevice(Protocol):
    """A full-duplex audio device that is the media clock of the calls using it."""

    name: str
    format: AudioFormat
    underruns: int
    overruns: int

    @property
    def volume_in(self) -> int: ...
    @volume_in.setter
    def volume_in(self, v: int) -> None: ...
    @property
    def volume_out(self) -> int: ...
    @volume_out.setter
    def volume_out(self, v: int) -> None: ...
    def start(self, on_frame: FrameCallback) -> None: ...
    def stop(self) -> None: ...


class _DeviceBase:
    """Volume, counters and the mic/speaker frame checks shared by the backends."""

    def __init__(self, fmt: AudioFormat, name: str) -> None:
        if not isinstance(fmt, AudioFormat):
            raise TypeError(f"format must be an AudioFormat, not {fmt!r}")
        self.format = fmt
        self.name = name
        self.underruns = 0
        self.overruns = 0
        self.late_ticks = 0
        self.frames = 0
        self.error: Optional[BaseException] = None
        self._volume_in = 50
        self._volume_out = 50

    @property
    def volume_in(self) -> int:
        return self._volume_in

    @volume_in.setter
    def volume_in(self, v: int) -> None:
        self._volume_in = _check_volume(v)

    @property
    def volume_out(self) -> int:
        return self._volume_out

    @volume_out.setter
    def volume_out(self, v: int) -> None:
        self._volume_out = _check_volume(v)

    def _speaker(self, out: Optional[np.ndarray]) -> np.ndarray:
        """Validate ``on_frame``'s result; ``None`` is silence (an underrun)."""
        if out is None:
            self.underruns += 1
            return self.format.silence()
        out = np.asarray(out)
        if out.dtype != np.int16 or out.shape != (self.format.frame_size,):
            raise ValueError(f"on_frame must return int16[{self.format.frame_size}], "
                             f"got {out.dtype}{list(out.shape)}")
        return apply_volume(out, self._volume_out)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.format}>"


class _TimerClocked(_DeviceBase):
    """A device whose media clock is a thread sleeping to absolute monotonic deadlines."""

    def __init__(self, fmt: AudioFormat, name: str, *, realtime: bool = True,
                 max_catchup: int = 5) -> None:
        super().__init__(fmt, name)
        self.realtime = realtime
        self.max_catchup = max_catchup
        self.start_time: Optional[float] = None
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    # hooks --------------------------------------------------------------------------
    def _open(self) -> None: ...
    def _read_mic(self) -> np.ndarray:
        return self.format.silence()
    def _write_speaker(self, frame: np.ndarray) -> None: ...
    def _close(self) -> None: ...

    # AudioDevice --------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, on_frame: FrameCallback) -> None:
        if not callable(on_frame):
            raise TypeError("on_frame must be callable")
        with self._lock:
            if self._thread is not None:
                raise RuntimeError(f"{self!r} already started")
            self._open()
            self._stop.clear()
            self.start_time = time.monotonic()
            self._thread = threading.Thread(target=self._run, args=(on_frame,),
                                            name=f"media-{self.name}", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the clock and join its thread (idempotent)."""
        with self._lock:
            t = self._thread
            self._stop.set()
            if t is not None and t is not threading.current_thread():
                t.join(timeout)
                if t.is_alive():
                    raise RuntimeError(f"{self!r}: media thread did not stop in {timeout}s")
            self._thread = None

    def __enter__(self) -> "_TimerClocked":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, on_frame: FrameCallback) -> None:
        period = self.format.period
        t0 = self.start_time
        assert t0 is not None
        k = 0
        try:
            while not self._stop.is_set():
                if self.realtime:
                    deadline = t0 + k * period
                    now = time.monotonic()
                    if deadline > now:
                        if self._stop.wait(deadline - now):
                            break
                    else:
                        behind = now - deadline
                        if behind > LATE_TOLERANCE:
                            self.late_ticks += 1
                        if behind > self.max_catchup * period:
                            skip = int(behind // period)
                            self.overruns += skip
                            k += skip
                            continue
                mic = apply_volume(self._read_mic(), self._volume_in)
                self._write_speaker(self._speaker(on_frame(mic)))
                self.frames += 1
                k += 1
        except BaseException as e:  # noqa: BLE001 - never raise into another thread
            self.error = e
            _log.error("%r stopped: on_frame failed: %r", self, e, exc_info=e)
        finally:
            try:
                self._close()
            except Exception as e:  # pragma: no cover - I/O error on close
                self.error = self.error or e
                _log.error("%r: close failed: %r", self, e)


class NullDevice(_TimerClocked):
    """No sound card: timer-clocked, silent microphone, discarded speaker output."""

    def __init__(self, format: AudioFormat, *, name: str = "Null",
                 realtime: bool = True, max_catchup: int = 5) -> None:
        super().__init__(format, name, realtime=realtime, max_catchup=max_catchup)


class WavDevice(_TimerClocked):
    """A mono 16-bit WAV file as the microphone and/or a WAV recording of the speaker.

    ``play``: read as the microphone, resampled to ``format.rate`` when its rate differs
    (both rates must be in :data:`_media.resampler.RATES`); after its end the microphone
    is silence (``eof`` is set) unless ``loop``. ``record``: the speaker output, written
    as mono 16-bit at ``format.rate``; closed on :meth:`stop` and also when ``on_frame``
    raises. Errors about the files are raised by the constructor / :meth:`start`.
    """

    def __init__(self, format: AudioFormat, play: Optional[PathLike] = None,
                 record: Optional[PathLike] = None, loop: bool = False, *,
                 realtime: bool = True, max_catchup: int = 5,
                 name: Optional[str] = None) -> None:
        if format.channels != 1:
            raise ValueError("WavDevice supports mono formats only")
        label = name or f"WAV {os.fspath(play) if play else '-'} -> " \
                        f"{os.fspath(record) if record else '-'}"
        super().__init__(format, label, realtime=realtime, max_catchup=max_catchup)
        self.play = os.fspath(play) if play is not None else None
        self.record = os.fspath(record) if record is not None else None
        self.loop = loop
        #: Set once the whole play file (including the resampler tail) was delivered.
        self.eof = threading.Event()
        self.play_rate: Optional[int] = None
        self._reader: Optional[wave.Wave_read] = None
        self._writer: Optional[wave.Wave_write] = None
        self._resampler = None
        self._pending = np.zeros(0, np.int16)
        if self.play is not None:
            self._check_play()

    def _check_play(self) -> None:
        with wave.open(self.play, "rb") as r:
            width, ch, rate = r.getsampwidth(), r.getnchannels(), r.getframerate()
        if width != 2:
            raise ValueError(f"{self.play}: {8 * width}-bit WAV; only 16-bit PCM is supported")
        if ch != 1:
            raise ValueError(f"{self.play}: {ch} channels; only mono WAV is supported")
        if rate != self.format.rate:
            from _media.resampler import RATES
            if rate not in RATES or self.format.rate not in RATES:
                raise ValueError(f"{self.play}: cannot resample {rate} Hz to "
                                 f"{self.format.rate} Hz (supported rates: {RATES})")
        self.play_rate = rate

    def _open(self) -> None:
        self.eof.clear()
        self._pending = np.zeros(0, np.int16)
        if self.play is not None:
            self._reader = wave.open(self.play, "rb")
            if self.play_rate != self.format.rate:
                from _media.resampler import Resampler
                self._resampler = Resampler(self.play_rate, self.format.rate)
        if self.record is not None:
            try:
                w = wave.open(self.record, "wb")
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(self.format.rate)
            except BaseException:
                self._close()
                raise
            self._writer = w

    def _read_mic(self) -> np.ndarray:
        n = self.format.frame_len
        r = self._reader
        while r is not None and self._pending.size < n:
            want = n if self._resampler is None else \
                max(1, math.ceil((n - self._pending.size) * self.play_rate / self.format.rate))
            raw = np.frombuffer(r.readframes(want), "<i2").astype(np.int16)
            if raw.size:
                chunk = raw if self._resampler is None else self._resampler.process(raw)
            elif self.loop and r.getnframes() > 0:
                r.rewind()
                continue
            else:
                chunk = self._resampler.flush() if self._resampler is not None else raw
                r.close()
                self._reader = r = None
            self._pending = np.concatenate([self._pending, chunk.astype(np.int16)])
        if self._pending.size >= n:
            frame, self._pending = self._pending[:n].copy(), self._pending[n:]
            if self._reader is None and self._pending.size == 0 and self.play is not None:
                self.eof.set()
            return frame
        frame = self.format.silence()
        frame[:self._pending.size] = self._pending
        self._pending = np.zeros(0, np.int16)
        if self.play is not None:
            self.eof.set()
        return frame

    def _write_speaker(self, frame: np.ndarray) -> None:
        if self._writer is not None:
            self._writer.writeframes(frame.astype("<i2").tobytes())

    def _close(self) -> None:
        r, self._reader = self._reader, None
        w, self._writer = self._writer, None
        self._resampler = None
        try:
            if r is not None:
                r.close()
        finally:
            if w is not None:
                w.close()


# Re-exports (the backends and the registry live in their own modules).
from .device_portaudio import PortAudioBackend, PortAudioDevice  # noqa: E402
from .device_registry import DeviceBackend, DeviceRegistry  # noqa: E402
