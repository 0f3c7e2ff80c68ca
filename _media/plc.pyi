"""Type stubs for :mod:`_media.plc` (see plc.pyx for the algorithm and the delay choice)."""
import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer  # stub-only import; collections.abc.Buffer needs 3.12

__all__ = ["WaveformPlc"]

# Frames are checked at run time: 1-D C-contiguous native-endian int16 items (numpy int16
# array, array('h')) or raw PCM bytes, exactly frame_samples long; ``out`` buffers must be
# writable, 2-byte aligned and hold at least frame_samples samples.

class WaveformPlc:
    """Pitch-repetition concealment of lost frames (G.711 Appendix I style, no delay)."""

    rate: int
    frame_samples: int
    delay: int
    """Added algorithmic delay in samples: always 0."""
    def __init__(self, rate: int = 8000, frame_samples: int = 160) -> None: ...
    @property
    def concealed_frames(self) -> int:
        """Frames concealed since construction or :meth:`reset`."""
    @property
    def erasure_frames(self) -> int:
        """Length in frames of the current erasure (0 once a good frame arrives)."""
    @property
    def pitch(self) -> int:
        """Pitch period (samples) estimated at the start of the last erasure; 0 before any."""
    def good(self, frame: Buffer) -> npt.NDArray[np.int16]:
        """Take a received, decoded frame; return the frame to play."""
    def good_into(self, frame: Buffer, out: Buffer) -> int:
        """:meth:`good` into ``out``; returns ``frame_samples``."""
    def conceal(self) -> npt.NDArray[np.int16]:
        """Return a synthetic frame in place of a missing one."""
    def conceal_into(self, out: Buffer) -> int:
        """:meth:`conceal` into ``out``; returns ``frame_samples``."""
    def reset(self) -> None:
        """Forget history, any erasure in progress and the counters."""
