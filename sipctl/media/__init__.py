"""Session media glue: audio devices (the media clock), RTP streams and the media engine,
on top of the ``_media`` kernels."""
from .devices import (
    AudioDevice, AudioFormat, DeviceBackend, DeviceRegistry, NullDevice, PortAudioBackend,
    PortAudioDevice, WavDevice, apply_volume, volume_gain,
)
from .engine import MediaEngine
from .media_events import (
    DtmfReceived, MediaError, MediaEvent, MediaStarted, MediaTimeout, RtpLatched, SendDtmfInfo,
)
from .media_settings import MediaSettings
from .ports import PortAllocator, PortPair
from .stream import RtpStream, StreamCounters
from .tones import RingbackTone

__all__ = [
    "AudioDevice", "AudioFormat", "DeviceBackend", "DeviceRegistry", "NullDevice",
    "PortAudioBackend", "PortAudioDevice", "WavDevice", "apply_volume", "volume_gain",
    "MediaEngine", "MediaSettings", "RtpStream", "StreamCounters", "PortAllocator", "PortPair",
    "RingbackTone", "MediaEvent", "DtmfReceived", "MediaError", "MediaStarted", "MediaTimeout",
    "RtpLatched", "SendDtmfInfo",
]
