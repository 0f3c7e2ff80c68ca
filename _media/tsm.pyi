"""Type stubs for :mod:`_media.tsm` (pitch-period time-scale modification, NetEq style)."""
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer

__all__ = ["accelerate", "expand", "analyse", "pitch_range"]

TUNING: Final[dict[str, Any]]

def pitch_range(rate: int = 8000) -> tuple[int, int]: ...
def analyse(x: Buffer, rate: int = 8000, maxlag: int | None = None) -> tuple[int, int]: ...
def accelerate(x: Buffer, rate: int = 8000,
               max_remove: int | None = None) -> tuple[npt.NDArray[np.int16], int]: ...
def expand(x: Buffer, rate: int = 8000, history: int = 0) -> tuple[npt.NDArray[np.int16], int]: ...
