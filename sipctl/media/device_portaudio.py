"""Sound cards through PortAudio (PyAudio), imported lazily.

``pyaudio`` is optional: nothing here imports it until a device is listed or opened, and
then a missing module raises :class:`ImportError` saying how to install it. PortAudio's
callback thread is the media clock: it calls ``on_frame`` once per frame
(``frames_per_buffer = format.frame_len``). Input overflows count in ``overruns``, output
underflows (and ``None`` speaker frames) in ``underruns``.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Optional, Union

import numpy as np

from .devices import AudioFormat, FrameCallback, _DeviceBase, apply_volume

__all__ = ["PortAudioDevice", "PortAudioBackend", "import_pyaudio"]

_log = logging.getLogger(__name__)

INSTALL_HINT = ("PyAudio is not installed: `pip install pyaudio` (on Debian/Ubuntu first "
                "`apt install portaudio19-dev` to build it), or use NullDevice/WavDevice")


def import_pyaudio() -> Any:
    """Import ``pyaudio`` or raise :class:`ImportError` with the install hint."""
    try:
        import pyaudio
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return pyaudio


DeviceSpec = Union[None, int, str]


def _list(pa: Any, direction: str) -> list[dict]:
    key = "maxInputChannels" if direction == "in" else "maxOutputChannels"
    out = []
    for i in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(i)
        if info.get(key, 0) > 0:
            out.append(info)
    return out


def _resolve(pa: Any, spec: DeviceSpec, direction: str) -> Optional[int]:
    """PortAudio index for ``None``/"Default"/0 (system default: ``None``), a 1-based
    position in this direction's list, or a device name."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "default"):
        return None
    devs = _list(pa, direction)
    if isinstance(spec, int) and not isinstance(spec, bool):
        if spec == 0:
            return None
        if not 1 <= spec <= len(devs):
            raise ValueError(f"no {direction}put device #{spec} ({len(devs)} listed)")
        return int(devs[spec - 1]["index"])
    for info in devs:
        if info["name"] == spec:
            return int(info["index"])
    for info in devs:
        if str(info["name"]).lower() == str(spec).lower():
            return int(info["index"])
    raise ValueError(f"no {direction}put device named {spec!r}; have "
                     f"{[d['name'] for d in devs]}")


class PortAudioDevice(_DeviceBase):
    """A full-duplex PortAudio stream; ``input``/``output`` as in :func:`_resolve`."""

    def __init__(self, format: AudioFormat, input: DeviceSpec = None,
                 output: DeviceSpec = None, *, use_input: bool = True,
                 use_output: bool = True) -> None:
        self._pyaudio = import_pyaudio()
        super().__init__(format, "PortAudio")
        self._pa = self._pyaudio.PyAudio()
        try:
            self._in = _resolve(self._pa, input, "in") if use_input else None
            self._out = _resolve(self._pa, output, "out") if use_output else None
        except BaseException:
            self._pa.terminate()
            raise
        self._use_in, self._use_out = use_input, use_output
        self.name = f"PortAudio in={input or 'Default'} out={output or 'Default'}"
        self._stream: Any = None
        self._on_frame: Optional[FrameCallback] = None
        self._lock = threading.Lock()

    def _callback(self, in_data: Optional[bytes], frame_count: int, time_info: Any,
                  status: int) -> tuple[bytes, int]:
        pa = self._pyaudio
        if status & getattr(pa, "paInputOverflow", 2):
            self.overruns += 1
        if status & getattr(pa, "paOutputUnderflow", 4):
            self.underruns += 1
        n = self.format.frame_size
        try:
            if in_data:
                mic = np.frombuffer(in_data, "<i2").astype(np.int16)
                if mic.size != n:  # PortAudio may hand a short buffer; pad it
                    mic = np.resize(mic, n) if mic.size > n else \
                        np.concatenate([mic, np.zeros(n - mic.size, np.int16)])
            else:
                mic = self.format.silence()
            assert self._on_frame is not None
            spk = self._speaker(self._on_frame(apply_volume(mic, self._volume_in)))
            self.frames += 1
            return spk.astype("<i2").tobytes(), pa.paContinue
        except BaseException as e:  # noqa: BLE001 - never raise into PortAudio's thread
            self.error = e
            _log.error("%r stopped: on_frame failed: %r", self, e, exc_info=e)
            return bytes(2 * frame_count * self.format.channels), pa.paAbort

    def start(self, on_frame: FrameCallback) -> None:
        with self._lock:
            if self._stream is not None:
                raise RuntimeError(f"{self!r} already started")
            if self._pa is None:
                raise RuntimeError(f"{self!r} was stopped; open a new device")
            self._on_frame = on_frame
            f = self.format
            self._stream = self._pa.open(
                format=self._pyaudio.paInt16, channels=f.channels, rate=f.rate,
                input=self._use_in, output=self._use_out,
                input_device_index=self._in, output_device_index=self._out,
                frames_per_buffer=f.frame_len, stream_callback=self._callback, start=False)
            self._stream.start_stream()

    def stop(self) -> None:
        with self._lock:
            s, self._stream = self._stream, None
            try:
                if s is not None:
                    s.stop_stream()
                    s.close()
            finally:
                if self._pa is not None:
                    self._pa.terminate()
                    self._pa = None


class PortAudioBackend:
    """:class:`~sipctl.media.device_registry.DeviceBackend` for PyAudio."""

    name = "portaudio"

    def available(self) -> bool:
        try:
            import_pyaudio()
        except ImportError:
            return False
        return True

    def list_devices(self, direction: str) -> list[str]:
        """Device names for ``"in"`` or ``"out"`` ([] when PyAudio is missing)."""
        if not self.available():
            return []
        pa = import_pyaudio().PyAudio()
        try:
            return [str(d["name"]) for d in _list(pa, direction)]
        finally:
            pa.terminate()

    def open(self, format: AudioFormat, input: DeviceSpec, output: DeviceSpec
             ) -> PortAudioDevice:
        return PortAudioDevice(format, input, output)
