"""Session media glue: audio devices (the media clock), on top of the ``_media`` kernels."""
from .devices import (
    AudioDevice, AudioFormat, DeviceBackend, DeviceRegistry, NullDevice, PortAudioBackend,
    PortAudioDevice, WavDevice, apply_volume, volume_gain,
)

__all__ = [
    "AudioDevice", "AudioFormat", "DeviceBackend", "DeviceRegistry", "NullDevice",
    "PortAudioBackend", "PortAudioDevice", "WavDevice", "apply_volume", "volume_gain",
]
