"""Signal levels of the microphone and of the speaker mix, for the reference's VAD
statistics (``API_VAD``, the ``VAD`` notification).

The media thread adds one frame per tick (two vectorised NumPy reductions per
direction, nothing per sample in Python); the loop reads and resets. A plain energy
threshold decides "speaking": enough for a visual indicator, not a speech detector.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

__all__ = ["VadMeter", "Levels", "SPEECH_LEVEL"]

#: Mean magnitude (16-bit PCM) above which a direction counts as speaking (~ -44 dBFS).
SPEECH_LEVEL = 200


@dataclass(frozen=True)
class Levels:
    """Mean and peak magnitude per direction since the previous read (0 when no frame)."""

    local_avg: int
    local_max: int
    remote_avg: int
    remote_max: int
    frames: int


class VadMeter:
    """Accumulates levels; :meth:`add` on the media thread, :meth:`read` anywhere."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._sum_in = self._sum_out = 0.0
        self._max_in = self._max_out = 0
        self._n = 0

    def add(self, mic: np.ndarray, out: np.ndarray) -> None:
        """One tick: the microphone frame and what goes to the speaker."""
        a = np.abs(mic.astype(np.int32, copy=False))
        b = np.abs(out.astype(np.int32, copy=False))
        with self._lock:
            self._sum_in += float(a.mean()) if len(a) else 0.0
            self._sum_out += float(b.mean()) if len(b) else 0.0
            self._max_in = max(self._max_in, int(a.max()) if len(a) else 0)
            self._max_out = max(self._max_out, int(b.max()) if len(b) else 0)
            self._n += 1

    def read(self) -> Levels:
        """Levels since the previous read, then start over."""
        with self._lock:
            n = self._n
            lv = Levels(int(self._sum_in / n) if n else 0, self._max_in,
                        int(self._sum_out / n) if n else 0, self._max_out, n)
            self._reset()
        return lv
