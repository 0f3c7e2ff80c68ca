"""NumPy reference for :mod:`_media.g711`: ITU-T G.711 mu-law and A-law, vectorised.

Written from the segment/quantisation description of G.711 as given in Sun's
public-domain ``g711.c`` (what ``audioop`` implements): mu-law works on 14-bit
magnitudes with bias 33 (0x84 >> 2) and clip 8159; A-law on 13-bit magnitudes
with even-bit inversion (XOR 0x55). Slow but obviously correct; the tests
compare the kernel against it.
"""
from __future__ import annotations

import numpy as np

__all__ = ["ulaw_encode", "ulaw_decode", "alaw_encode", "alaw_decode"]

# Upper end of each of the 8 segments (chords), in the law's magnitude units.
_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _as_int16(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.int16:
        raise TypeError(f"expected int16 samples, got {x.dtype}")
    return x.astype(np.int32)


def _as_codes(codes: np.ndarray) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.dtype != np.uint8:
        raise TypeError(f"expected uint8 codes, got {codes.dtype}")
    return codes.astype(np.int32)


def ulaw_encode(x: np.ndarray) -> np.ndarray:
    """int16 samples -> uint8 mu-law codes (same shape)."""
    v = _as_int16(x) >> 2  # 14-bit, floor
    negative = v < 0
    mag = np.minimum(np.abs(v), 8159) + 33
    seg = np.searchsorted(_ULAW_SEG_END, mag, side="left")  # first end >= mag
    code = (seg << 4) | ((mag >> (seg + 1)) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)  # only mag == 8192 (clipped) lands here
    mask = np.where(negative, 0x7F, 0xFF)  # mu-law transmits all bits inverted
    return (code ^ mask).astype(np.uint8)


def ulaw_decode(codes: np.ndarray) -> np.ndarray:
    """uint8 mu-law codes -> int16 samples (same shape)."""
    u = ~_as_codes(codes) & 0xFF
    seg = (u >> 4) & 0x07
    t = (((u & 0x0F) << 3) + 0x84) << seg
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def alaw_encode(x: np.ndarray) -> np.ndarray:
    """int16 samples -> uint8 A-law codes (same shape)."""
    v = _as_int16(x) >> 3  # 13-bit, floor
    negative = v < 0
    mag = np.where(negative, -v - 1, v)  # one's complement magnitude
    seg = np.searchsorted(_ALAW_SEG_END, mag, side="left")
    shift = np.maximum(seg, 1)  # segments 0 and 1 share the same step size
    code = (np.minimum(seg, 7) << 4) | ((mag >> shift) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    mask = np.where(negative, 0x55, 0xD5)  # sign bit, then even bits inverted
    return (code ^ mask).astype(np.uint8)


def alaw_decode(codes: np.ndarray) -> np.ndarray:
    """uint8 A-law codes -> int16 samples (same shape)."""
    a = _as_codes(codes) ^ 0x55
    seg = (a >> 4) & 0x07
    t = ((a & 0x0F) << 4) + 8  # mid-point of the quantisation step
    t = np.where(seg > 0, (t + 0x100) << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)
