"""The audio device selection of one UA/phone object (never a module global).

Reference semantics (``API_GetAudioDeviceList``, ``API_GetAudioDevice``,
``API_SetAudioDevice``, ``API_SetVolume``/``API_GetVolume``, parameters
``audiodevicein``/``audiodeviceout``/``audiodevicering`` and
``volumein``/``volumeout``/``volumering``):

* ``dev`` is 0 = recording (microphone), 1 = playback (speaker), 2 = ringer; the ringer
  is chosen among the playback devices;
* :meth:`DeviceRegistry.list` is the names joined by ``"\\r\\n"``;
* :meth:`DeviceRegistry.select` takes a listed name (exact, else case-insensitive),
  ``"Default"`` (the system default), ``"All"`` (ringer only: ring on every device), or a
  number 1..9 (position in the list) / 0 (the system default), as int or digit string;
  ``immediate`` is 0 (after ``changeaudiodevimmediate``), 1 (next call) or 2 (now);
* volumes are ints 0..100 % (default 50 = unchanged), :class:`ValueError` outside.

Every bad argument raises :class:`ValueError` (the API layer turns it into ``ERROR: ...``).
"""
from __future__ import annotations

import logging
from typing import Mapping, Optional, Protocol, Sequence, Union, runtime_checkable

from .device_portaudio import PortAudioBackend
from .devices import AudioDevice, AudioFormat, NullDevice, _check_volume

__all__ = ["DeviceBackend", "DeviceRegistry", "RECORDING", "PLAYBACK", "RINGER"]

_log = logging.getLogger(__name__)

RECORDING, PLAYBACK, RINGER = 0, 1, 2
_DIRECTION = {RECORDING: "in", PLAYBACK: "out", RINGER: "out"}
_PARAMS = {RECORDING: ("audiodevicein", "volumein"), PLAYBACK: ("audiodeviceout", "volumeout"),
           RINGER: ("audiodevicering", "volumering")}


@runtime_checkable
class DeviceBackend(Protocol):
    """A source of sound-card devices (PortAudio, a test fake, ...)."""

    name: str

    def available(self) -> bool: ...
    def list_devices(self, direction: str) -> list[str]: ...
    def open(self, format: AudioFormat, input: Union[None, str],
             output: Union[None, str]) -> AudioDevice: ...


def _check_dev(dev: int) -> int:
    if isinstance(dev, bool) or dev not in (RECORDING, PLAYBACK, RINGER):
        raise ValueError(f"dev must be 0 (recording), 1 (playback) or 2 (ringer), not {dev!r}")
    return int(dev)


class DeviceRegistry:
    """Audio device backends, selections and volumes of one UA."""

    def __init__(self, backends: Optional[Sequence[DeviceBackend]] = None) -> None:
        self.backends: list[DeviceBackend] = \
            list(backends) if backends is not None else [PortAudioBackend()]
        self._selected = {RECORDING: "Default", PLAYBACK: "Default", RINGER: "Default"}
        self._immediate = {RECORDING: 0, PLAYBACK: 0, RINGER: 0}
        self._volume = {RECORDING: 50, PLAYBACK: 50, RINGER: 50}
        #: The error of the last backend open that fell back to a NullDevice.
        self.last_open_error: Optional[BaseException] = None

    def register(self, backend: DeviceBackend) -> None:
        self.backends.append(backend)

    def _backend(self) -> Optional[DeviceBackend]:
        for b in self.backends:
            if b.available():
                return b
        return None

    def devices(self, dev: int) -> list[str]:
        """Device names for ``dev`` (0 recording, 1 playback, 2 ringer = playback)."""
        b = self._backend()
        return b.list_devices(_DIRECTION[_check_dev(dev)]) if b is not None else []

    def list(self, dev: int) -> str:
        """``API_GetAudioDeviceList``: the names separated by ``\\r\\n``."""
        return "\r\n".join(self.devices(dev))

    def get(self, dev: int) -> str:
        """``API_GetAudioDevice``: the selected name, ``"Default"`` or ``"All"``."""
        return self._selected[_check_dev(dev)]

    def immediate(self, dev: int) -> int:
        """The ``immediate`` mode given with the last :meth:`select` for ``dev``."""
        return self._immediate[_check_dev(dev)]

    def select(self, dev: int, name_or_index: Union[str, int], immediate: int = 0) -> bool:
        """``API_SetAudioDevice``; returns True or raises :class:`ValueError`."""
        dev = _check_dev(dev)
        if isinstance(immediate, bool) or immediate not in (0, 1, 2):
            raise ValueError(f"immediate must be 0, 1 or 2, not {immediate!r}")
        v = name_or_index
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise ValueError(f"device must be a name or a number, not {v!r}")
        if isinstance(v, str):
            v = v.strip()
            if v.isdigit():
                v = int(v)
        if isinstance(v, int):
            if not 0 <= v <= 9:
                raise ValueError(f"device number must be 1..9 (0 = system default), not {v}")
            if v == 0:
                chosen = "Default"
            else:
                names = self.devices(dev)
                if v > len(names):
                    raise ValueError(f"no device #{v}: {len(names)} "
                                     f"{'recording' if dev == 0 else 'playback'} device(s)")
                chosen = names[v - 1]
        elif v.lower() == "default":
            chosen = "Default"
        elif v.lower() == "all":
            if dev != RINGER:
                raise ValueError('"All" is valid for the ringer device (dev 2) only')
            chosen = "All"
        elif not v:
            raise ValueError("empty device name")
        else:
            names = self.devices(dev)
            exact = [n for n in names if n == v]
            folded = [n for n in names if n.lower() == v.lower()]
            if exact or len(folded) == 1:
                chosen = (exact or folded)[0]
            else:
                raise ValueError(f"unknown audio device {v!r}; devices: {names}")
        self._selected[dev] = chosen
        self._immediate[dev] = immediate
        return True

    def get_volume(self, dev: int) -> int:
        """``API_GetVolume`` (0..100 %)."""
        return self._volume[_check_dev(dev)]

    def set_volume(self, dev: int, volume: int) -> bool:
        """``API_SetVolume``: 0..100 % (:class:`ValueError` outside)."""
        dev = _check_dev(dev)
        self._volume[dev] = _check_volume(volume)
        return True

    def apply_parameters(self, params: Mapping[str, object]) -> None:
        """Apply ``audiodevicein/out/ring`` and ``volumein/out/ring`` (ints or digit
        strings) from a parameter mapping; unset/empty values are skipped."""
        for dev, (pdev, pvol) in _PARAMS.items():
            name = params.get(pdev)
            if name not in (None, ""):
                self.select(dev, name)  # type: ignore[arg-type]
            vol = params.get(pvol)
            if vol not in (None, ""):
                try:
                    ivol = int(str(vol).strip())
                except ValueError:
                    raise ValueError(f"{pvol}: not a number: {vol!r}") from None
                self.set_volume(dev, ivol)

    def open(self, format: AudioFormat, *, ringer: bool = False) -> AudioDevice:
        """Open the selected devices (recording + playback, or the ringer) with the
        registry's volumes; a :class:`NullDevice` when no backend (sound card / PyAudio)
        is available or the backend fails to open (the error is logged and kept in
        :attr:`last_open_error`). A ringer selection of "All" opens the default output
        (ringing on every device is not implemented by the backends yet)."""
        out_dev = RINGER if ringer else PLAYBACK
        b = self._backend()
        device: AudioDevice
        if b is None or not (self.devices(RECORDING) or self.devices(out_dev)):
            device = NullDevice(format)
        else:
            def spec(d: int) -> Optional[str]:
                s = self._selected[d]
                return None if s in ("Default", "All") else s
            try:
                device = b.open(format, None if ringer else spec(RECORDING), spec(out_dev))
            except (OSError, RuntimeError, ValueError) as e:
                self.last_open_error = e
                _log.warning("audio backend %s failed (%r); using NullDevice", b.name, e)
                device = NullDevice(format)
        device.volume_in = 0 if ringer else self._volume[RECORDING]
        device.volume_out = self._volume[out_dev]
        return device
