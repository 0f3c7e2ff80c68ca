"""Type stubs for :mod:`_media.jitter` (adaptive jitter buffer for one RTP stream)."""
import enum
from dataclasses import dataclass
from typing import Final, Literal, SupportsFloat, SupportsIndex

from typing_extensions import Buffer

__all__ = ["JitterBuffer", "JitterStats", "PutResult", "Kind", "PARAMS"]

PARAMS: Final[tuple[tuple[int, int, int], ...]]

class PutResult(enum.IntEnum):
    OK = 0
    DUPLICATE = 1
    LATE = 2
    BAD_SIZE = 3
    BAD_TIMESTAMP = 4
    BAD_PACKET = 5
    OVERFLOW = 6
    RESET = 7

class Kind(enum.IntEnum):
    FRAME = 0
    MISSING = 1
    SILENCE = 2

@dataclass(frozen=True)
class JitterStats:
    received: int
    played: int
    late: int
    duplicates: int
    discarded: int
    bad: int
    concealed: int
    dropped_for_adaptation: int
    inserted_for_adaptation: int
    resets: int
    current_delay_ms: float
    target_delay_ms: float
    jitter_ms: float
    buffered_packets: int

class JitterBuffer:
    """Adaptive jitter buffer: put() packets as they arrive, get() one frame per tick."""

    @property
    def clock_rate(self) -> int: ...
    @property
    def frame_samples(self) -> int: ...
    @property
    def frame_bytes(self) -> int: ...
    @property
    def jittersize(self) -> int: ...
    @property
    def maxjitterpackets(self) -> int: ...
    @property
    def adapt(self) -> Literal["frame", "tsm"]: ...
    def __init__(self, clock_rate: SupportsIndex = 8000, frame_samples: SupportsIndex = 160,
                 frame_bytes: SupportsIndex = 0, jittersize: SupportsIndex = 3,
                 maxjitterpackets: SupportsIndex = 99,
                 adapt: Literal["frame", "tsm"] = "frame") -> None: ...
    def put(self, seq: SupportsIndex, timestamp: SupportsIndex, marker: bool, payload: Buffer,
            arrival: SupportsFloat, ssrc: SupportsIndex = 0) -> PutResult: ...
    def put_rtp(self, packet: Buffer, arrival: SupportsFloat) -> PutResult: ...
    def get(self, now: SupportsFloat, quiet: bool = False) -> tuple[Kind, bytes | None, int]: ...
    @property
    def delay_error_ms(self) -> float:
        """adapt="tsm": last playout offset minus the target (< 0: expand, > 0: may accelerate)."""
    @property
    def ready(self) -> bool:
        """True if the frame due next is buffered."""
    def reset(self) -> None: ...
    @property
    def stats(self) -> JitterStats: ...
