"""Type stubs for :mod:`_media.speexdsp_peer` (libspeexdsp resampler; benchmark/reference peer)."""
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["SpeexResampler"]

class SpeexResampler:
    """Mono streaming speexdsp resampler ``in_rate -> out_rate``."""

    @property
    def in_rate(self) -> int: ...
    @property
    def out_rate(self) -> int: ...
    @property
    def quality(self) -> int: ...
    def __init__(self, in_rate: int, out_rate: int, quality: int = 5,
                 dtype: npt.DTypeLike = "int16") -> None: ...
    @property
    def dtype(self) -> np.dtype[Any]: ...
    @property
    def input_latency(self) -> int:
        """Latency in input samples."""
    @property
    def output_latency(self) -> int:
        """Latency in output samples."""
    @property
    def delay_ms(self) -> float:
        """Output latency in milliseconds."""
    def reset(self) -> None: ...
    def skip_zeros(self) -> None: ...
    def process(self, x: npt.NDArray[np.int16] | npt.NDArray[np.float32]) -> npt.NDArray[Any]:
        """Resample a mono chunk; returns every output sample it produced."""
