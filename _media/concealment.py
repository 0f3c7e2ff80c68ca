"""Packet loss concealment: one interface, pluggable backends.

The playout loop (jitter buffer -> decoder -> concealer, one 20 ms tick at a
time) talks to a :class:`Concealer` only:

* ``good(frame)`` for every frame that arrived and was decoded; it returns the
  frame to play (a concealer may cross-fade it with its synthetic signal);
* ``conceal()`` for every frame that is missing at its playout time;
* ``reset()`` on a new stream (SSRC change, re-INVITE with another codec);
* ``delay``: samples the concealer holds output back (the playout delay adds it);
* ``frame_samples``: the frame size it was built for.

Backends:

* :class:`SilenceConcealer` plays zeros: the baseline every other backend must beat.
* :class:`_media.plc.WaveformPlc` repeats pitch periods (G.711 Appendix I style,
  zero delay) for codecs without their own PLC: G.711, G.722, L16.
* Codecs with native PLC plug in by implementing the same protocol around their
  decoder instead of a waveform model. For Opus: the concealer holds the stream's
  ``OpusDecoder`` (the same one the decode path uses, so its state stays
  continuous); ``conceal()`` returns ``opus_decode(dec, NULL, 0, pcm,
  frame_samples, 0)``, the decoder's own extrapolation; when the jitter buffer
  already holds the *next* packet and it carries in-band FEC, ``conceal()`` may
  instead decode that packet with ``decode_fec=1`` to recover the lost frame
  (the concealer then needs a way to peek at the next payload, e.g. a
  ``conceal(next_payload=None)`` keyword, which the protocol allows as long as
  the no-argument call works). ``good(frame)`` returns the decoded frame
  unchanged, because the decoder already smooths the transition internally;
  ``delay`` is 0.

Which backend serves which codec is chosen by the codec registry owned by the
UA object (no module-level registry here, so two UAs can run in one process).
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc.Buffer needs 3.12

__all__ = ["Concealer", "SilenceConcealer"]

_NATIVE = "<" if sys.byteorder == "little" else ">"


@runtime_checkable
class Concealer(Protocol):
    """What the playout loop needs from a packet loss concealer (see the module docstring)."""

    delay: int
    frame_samples: int

    def good(self, frame: Buffer) -> np.ndarray:
        """Take a received, decoded int16 frame; return the int16 frame to play."""
        ...

    def conceal(self) -> np.ndarray:
        """Return an int16 frame to play in place of a missing one."""
        ...

    def reset(self) -> None:
        """Forget all stream state."""
        ...


def _as_frame(frame: Buffer, n: int) -> np.ndarray:
    """``frame`` as a 1-D native int16 array of exactly ``n`` samples, or a clear error."""
    try:
        mv = memoryview(frame)
    except TypeError:
        raise TypeError(f"frame must be a buffer of int16 samples (e.g. a numpy int16 array), "
                        f"got {type(frame).__name__}") from None
    if mv.ndim != 1:
        raise ValueError(f"frame must be 1-D mono samples, got a {mv.ndim}-D buffer")
    if not mv.c_contiguous:
        raise ValueError("frame must be C-contiguous")
    fmt = mv.format[1:] if mv.format[:1] in ("@", "=", _NATIVE) else mv.format
    if fmt not in ("h", "B", "c"):
        raise TypeError(f"frame must hold native-endian int16 samples, got buffer format {mv.format!r}")
    if mv.nbytes != 2 * n:
        raise ValueError(f"frame must hold exactly {n} samples, got {mv.nbytes / 2:g}")
    return np.frombuffer(mv.cast("B"), np.int16)


class SilenceConcealer:
    """Plays silence for missing frames and good frames unchanged (the baseline).

    Args:
        frame_samples: samples per frame (default 160: 20 ms at 8 kHz).
    """

    delay = 0

    def __init__(self, frame_samples: int = 160) -> None:
        if isinstance(frame_samples, bool) or not isinstance(frame_samples, (int, np.integer)):
            raise TypeError(f"frame_samples must be an int, got {type(frame_samples).__name__}")
        if frame_samples < 1:
            raise ValueError(f"frame_samples must be >= 1, got {frame_samples}")
        self.frame_samples = int(frame_samples)
        self.concealed_frames = 0
        self.erasure_frames = 0

    def good(self, frame: Buffer) -> np.ndarray:
        """Return a copy of ``frame`` (validated like :meth:`WaveformPlc.good`)."""
        out = _as_frame(frame, self.frame_samples).copy()
        self.erasure_frames = 0
        return out

    def conceal(self) -> np.ndarray:
        """Return a frame of zeros."""
        self.concealed_frames += 1
        self.erasure_frames += 1
        return np.zeros(self.frame_samples, np.int16)

    def reset(self) -> None:
        """Reset the counters."""
        self.concealed_frames = 0
        self.erasure_frames = 0

    def __repr__(self) -> str:
        return f"SilenceConcealer(frame_samples={self.frame_samples})"
