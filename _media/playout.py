"""The receive path of one RTP stream: jitter buffer -> decoder -> concealment -> time-scaling.

:class:`Playout` is what the media engine runs once per tick (every
``frame_samples / clock_rate`` seconds) for each received stream::

    po = Playout()                       # G.711 u-law, 8 kHz, 20 ms, WaveformPlc
    po.put_rtp(packet, arrival)          # for every packet, as it arrives
    pcm = po.tick(now)                   # every tick: exactly frame_samples int16 samples

It owns a :class:`~_media.jitter.JitterBuffer` in ``adapt="tsm"`` mode, a decoder
(``payload -> int16 pcm``), a :class:`~_media.concealment.Concealer` and a PCM FIFO
of decoded audio not yet played (with each sample's RTP timestamp).

Timing: a frame is taken from the jitter buffer at the tick that plays its first
sample (its deadline), so the buffer's playout offset P decides lateness exactly
and moves in whole frames; the delay heard is P plus the *lead*, the samples queued
ahead of the newest frame.

Adaptation is WebRTC NetEq's: no arrived frame is dropped and no silence is
inserted to move the delay. When :attr:`~_media.jitter.JitterBuffer.delay_error_ms`
is below ``expand_ms`` the audio is *expanded* by one pitch period
(:func:`_media.tsm.expand`, after the audio already played: no lookahead); once the
lead passes a frame, P grows by a frame. Above the target, the lead is
*accelerated* away (:func:`_media.tsm.accelerate`), and P shrinks by a frame only
while P - frame stays at or above the target. Errors under ``voiced_ms`` wait for
quiet audio (P.862 and listeners notice time-warps in speech more than in pauses).
A stall's or spike's backlog (60 ms of frames skipped unplayed) rewinds the
buffer's playout point and is played, then accelerated away: up to
``max_tsm_per_tick`` periods a tick while the excess is above ``fast_ms``. A lone
straggler is late (skipped). A backlog more than ``max_excess_ms`` above the target
is cut: its oldest frames are discarded (they count as late).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from _media import g711, tsm
from _media.concealment import Concealer
from _media.jitter import JitterBuffer, JitterStats, Kind, PutResult

__all__ = ["Playout", "PlayoutStats"]

_NO_TS = -1                 # FIFO samples with no media timestamp (silence)
_BAD = (PutResult.BAD_SIZE, PutResult.BAD_TIMESTAMP, PutResult.BAD_PACKET)


@dataclass(frozen=True)
class PlayoutStats:
    """A snapshot of :attr:`Playout.stats` (counters since construction).

    ``frames``: frames decoded and played; ``concealed``: frames synthesised for missing
    ones; ``silence``: silent frames (before the stream, after a hangover);
    ``discarded``: frames dropped to cut a backlog (beyond ``max_excess_ms``);
    ``decode_errors``: payloads the decoder rejected (concealed instead);
    ``bad``: packets rejected by the jitter buffer as malformed;
    ``accelerated`` / ``expanded``: time-scale operations done, removing / adding
    ``removed_samples`` / ``added_samples``; ``fifo_max``: most samples ever queued.
    """
    ticks: int
    frames: int
    concealed: int
    silence: int
    discarded: int
    decode_errors: int
    bad: int
    accelerated: int
    expanded: int
    removed_samples: int
    added_samples: int
    fifo_max: int
    jitter: JitterStats


def _int(v, name: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an int, not {type(v).__name__}")
    if not lo <= v <= hi:
        raise ValueError(f"{name} {v} out of range {lo}..{hi}")
    return int(v)


def _ulaw(payload: bytes) -> np.ndarray:
    return np.frombuffer(g711.ulaw_decode(payload), np.int16)


class Playout:
    """Per-stream receive path: put packets in, take one frame of PCM out per tick.

    Args:
        clock_rate: RTP clock = sample rate in Hz (4000..96000).
        frame_samples: samples per tick (and per codec frame).
        decoder: ``payload -> int16 array of frame_samples``; default G.711 u-law.
        frame_bytes: constant payload bytes per frame (0: one frame per packet);
            default ``frame_samples`` for the default decoder, else 0.
        concealer: a :class:`~_media.concealment.Concealer`; default
            :class:`~_media.plc.WaveformPlc`.
        jittersize, maxjitterpackets: passed to the :class:`JitterBuffer`.
        max_excess_ms: cut a backlog beyond this much delay over the target
            (None: never, every arrived frame plays).
        headroom_ms: extra playout offset kept above the buffer's target.
        expand_ms: expand while the delay error is below this (ms; 0: only below target).
        settle_ticks: ticks after an expand during which accelerate leaves the extra
            samples alone (and after an accelerate before a small expand): no ping-pong.
        voiced_ms: errors smaller than this wait for quiet audio; larger ones also
            time-scale voiced audio (unvoiced loud audio is never touched).
        fast_ms, max_tsm_per_tick: above fast_ms of excess, up to max_tsm_per_tick
            accelerations a tick (catching up after a stall or a delay spike).

    TypeError / ValueError for bad arguments; malformed packets are counted
    (``stats.bad``) and dropped, never raised. Not thread-safe.
    """

    def __init__(self, clock_rate: int = 8000, frame_samples: int = 160,
                 decoder: Callable[[bytes], np.ndarray] | None = None, frame_bytes: int | None = None,
                 concealer: Concealer | None = None, jittersize: int = 3, maxjitterpackets: int = 512,
                 max_excess_ms: float | None = None, headroom_ms: float = 0.0,
                 expand_ms: float = 0.0, keep_ms: float = 0.0,
                 settle_ticks: int = 50, voiced_ms: float = 40.0, fast_ms: float = 60.0,
                 max_tsm_per_tick: int = 2) -> None:
        self.rate = _int(clock_rate, "clock_rate", 4000, 96000)
        self.frame_samples = F = _int(frame_samples, "frame_samples", 1, self.rate)
        if decoder is not None and not callable(decoder):
            raise TypeError(f"decoder must be callable, not {type(decoder).__name__}")
        if frame_bytes is None:
            frame_bytes = F if decoder is None else 0
        self.decoder = decoder or _ulaw
        if concealer is None:
            from _media.plc import WaveformPlc
            concealer = WaveformPlc(self.rate, F)
        if not isinstance(concealer, Concealer):
            raise TypeError(f"concealer must implement Concealer, not {type(concealer).__name__}")
        if concealer.frame_samples != F:
            raise ValueError(f"concealer frame_samples {concealer.frame_samples} != {F}")
        self.concealer = concealer
        self.jb = JitterBuffer(self.rate, F, frame_bytes, jittersize, maxjitterpackets, adapt="tsm")
        for name, v in (("max_excess_ms", max_excess_ms), ("voiced_ms", voiced_ms),
                        ("fast_ms", fast_ms), ("headroom_ms", headroom_ms), ("expand_ms", expand_ms)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise TypeError(f"{name} must be a number, not {type(v).__name__}")
            if v is not None and not v >= 0:
                raise ValueError(f"{name} must be >= 0, got {v}")
        self.max_excess_ms = max_excess_ms
        self.fast_ms = float(fast_ms)
        self.voiced_ms = float(voiced_ms)
        self.headroom_ms = float(headroom_ms)
        self.expand_ms = float(expand_ms)
        self.keep_ms = float(keep_ms)
        self.settle = _int(settle_ticks, "settle_ticks", 0, 1 << 20)
        self._expanded_at = self._accelerated_at = -self.settle
        self.max_tsm_per_tick = _int(max_tsm_per_tick, "max_tsm_per_tick", 1, 8)
        self.pmin, self.pmax = tsm.pitch_range(self.rate)
        # FIFO of audio not yet played and each sample's RTP timestamp (+ offset; _NO_TS)
        cap = 8 * F + 4 * self.pmax
        self._pcm = np.zeros(cap, np.int16)
        self._src = np.full(cap, _NO_TS, np.int64)
        self._n = 0
        self._ramp = np.arange(F, dtype=np.int64)
        self._silence = np.zeros(F, np.int16)
        self._hist = np.zeros(2 * self.pmax, np.int16)     # the last samples played
        self._started = False
        self._stale = 0.0
        self.pulled: list[tuple[Kind, int]] = []
        """The (kind, RTP timestamp) of every frame taken from the jitter buffer during
        the last :meth:`tick`; kind FRAME for played ones, None for discarded ones."""
        self.playout_ts: int | None = None
        """RTP timestamp of the first sample returned by the last :meth:`tick` (None: silence)."""
        self._c = dict(ticks=0, frames=0, concealed=0, silence=0, discarded=0, decode_errors=0,
                       bad=0, accelerated=0, expanded=0, removed_samples=0, added_samples=0,
                       fifo_max=0)

    # ----------------------------------------------------------------- input

    def put(self, seq: int, timestamp: int, marker: bool, payload, arrival: float) -> PutResult:
        """Queue one packet's payload (see :meth:`JitterBuffer.put`); returns its PutResult."""
        r = self.jb.put(seq, timestamp, marker, payload, arrival)
        if r in _BAD:
            self._c["bad"] += 1
        return r

    def put_rtp(self, packet, arrival: float) -> PutResult:
        """Parse and queue an RTP packet; malformed ones are counted in ``stats.bad``."""
        r = self.jb.put_rtp(packet, arrival)
        if r in _BAD:
            self._c["bad"] += 1
        return r

    # ----------------------------------------------------------------- output

    def tick(self, now: float) -> np.ndarray:
        """Return the next ``frame_samples`` int16 samples to play, starting at ``now`` (s)."""
        F = self.frame_samples
        self.pulled = []
        while self._n < F:
            self._pull(now)
        self._adapt(now)
        while self._n < F:          # accelerate may have eaten into this tick's frame
            self._pull(now)
        out = self._pcm[:F].copy()
        H = len(self._hist)
        if F >= H:
            self._hist[:] = out[F - H:]
        else:
            self._hist[:H - F] = self._hist[F:]
            self._hist[H - F:] = out
        s0 = int(self._src[0])
        self.playout_ts = None if s0 == _NO_TS else s0 & 0xFFFFFFFF
        self._pop(F)
        c = self._c
        c["ticks"] += 1
        return out

    def _error_ms(self) -> float:
        # _stale: frames of offset given up since the buffer last measured it
        return self.jb.delay_error_ms - self.headroom_ms - self._stale

    def _adapt(self, now: float) -> None:
        # Timing model: a frame is pulled at the tick that first plays one of its samples
        # (its deadline), so the buffer's playout offset P is exact for lateness and moves
        # in whole frames; the played delay is P + lead, lead = samples queued ahead of the
        # newest frame's tick. Accelerate removes lead for free and crosses a frame (P - F)
        # only while P - F stays >= the target; expand grows P when it is below the target.
        F = self.frame_samples
        rate = self.rate
        frame_ms = 1000.0 * F / rate
        for _ in range(self.max_tsm_per_tick):
            err = self._error_ms()
            if self.max_excess_ms is not None and err > self.max_excess_ms:
                self._cut(now, err)
                err = self._error_ms()
            # removable without moving a frame's deadline; kept while the offset is close to
            # the target, where expand is building it up to move the next deadline later
            lead = (self._n - F) % F
            if err < self.expand_ms + self.keep_ms or self._c["ticks"] - self._expanded_at < self.settle:
                lead = 0
            allowed = lead + (F if err >= frame_ms else 0)
            if not (err < self.expand_ms or min(allowed, self.pmax) >= self.pmin):
                return
            if err < self.expand_ms:
                if err < 0 or self._c["ticks"] - self._accelerated_at >= self.settle:
                    self._expand(err)
                return                      # one expand a tick is plenty
            if self._n < 2 * self.pmax:
                if not self.jb.ready:
                    return
                self._pull(now)
                if self._n < 2 * self.pmax:
                    return
            x = self._pcm[:self._n]
            if err < self.voiced_ms:
                # small errors wait for a quiet moment: cutting or stretching a pause is
                # inaudible (and PESQ aligns on pauses), a voiced period only nearly so
                kind, _ = tsm.analyse(x, rate, max(0, allowed))
                if kind != 2:
                    return
            y, k = tsm.accelerate(x, rate, min(allowed, self.pmax))
            if not k:
                return
            n = self._n - k
            self._pcm[:n] = y
            self._src[:n] = self._src[k:self._n]
            self._n = n
            if k > lead:
                self._stale += frame_ms
            self._accelerated_at = self._c["ticks"]
            self._c["accelerated"] += 1
            self._c["removed_samples"] += k
            if err < self.fast_ms:
                return

    def _expand(self, err: float) -> None:
        # insert one period at the FIFO's head, continuing the audio already played (the
        # history is analysed backwards), so no lookahead beyond pmax is needed
        n, H = self._n, len(self._hist)
        if n < self.pmax or n + self.pmax > len(self._pcm):
            return
        if err > -self.voiced_ms and tsm.analyse(self._hist[::-1].copy(), self.rate)[0] != 2:
            return
        y, k = tsm.expand(np.concatenate([self._hist, self._pcm[:n]]), self.rate, history=H)
        if not k:
            return
        self._pcm[:n + k] = y
        # the inserted period carries the timestamps of the samples it fades out of
        self._src[k:n + k] = self._src[:n].copy()
        self._n = n + k
        self._expanded_at = self._c["ticks"]
        self._c["expanded"] += 1
        self._c["added_samples"] += k
        self._c["fifo_max"] = max(self._c["fifo_max"], self._n)

    def _cut(self, now: float, err: float) -> None:
        # discard whole frames of a backlog beyond max_excess_ms: the oldest go first
        F = self.frame_samples
        frame_ms = 1000.0 * F / self.rate
        while err - frame_ms >= self.max_excess_ms and self.jb.ready:
            self.jb.get(self._deadline(now))
            self.pulled.append((None, 0))
            self._c["discarded"] += 1
            err -= frame_ms

    def _deadline(self, now: float) -> float:
        # the tick that will play the first sample of the next frame pulled
        F = self.frame_samples
        return now + (self._n // F) * F / self.rate

    def _pull(self, now: float) -> None:
        F = self.frame_samples
        kind, payload, ts = self.jb.get(self._deadline(now))
        self._stale = 0.0
        src = ts + self._ramp
        if kind == Kind.FRAME:
            self.pulled.append((kind, ts))
            frame = None
            try:
                pcm = self.decoder(payload)
                if len(pcm) == F:
                    frame = self.concealer.good(pcm)
            except (ValueError, TypeError):
                pass
            if frame is None:
                self._c["decode_errors"] += 1
                frame = self.concealer.conceal()
            else:
                self._c["frames"] += 1
            self._started = True
        elif kind == Kind.MISSING and self._started:
            self.pulled.append((kind, ts))
            frame = self.concealer.conceal()
            self._c["concealed"] += 1
        else:
            # silence: before the stream, or past the hangover (the concealer fades out)
            frame = self.concealer.conceal() if self._started else self._silence
            src = _NO_TS
            self._c["silence"] += 1
        n = self._n
        self._pcm[n:n + F] = frame
        self._src[n:n + F] = src
        self._n = n + F
        self._c["fifo_max"] = max(self._c["fifo_max"], self._n)

    def _pop(self, k: int) -> None:
        n = self._n - k
        self._pcm[:n] = self._pcm[k:self._n]
        self._src[:n] = self._src[k:self._n]
        self._n = n

    # ----------------------------------------------------------------- state

    @property
    def fifo_samples(self) -> int:
        """Decoded samples queued for the next ticks."""
        return self._n

    @property
    def delay_error_ms(self) -> float:
        """The jitter buffer's delay error (ms) minus ``headroom_ms``: < 0 expands."""
        return self._error_ms()

    @property
    def stats(self) -> PlayoutStats:
        """A :class:`PlayoutStats` snapshot."""
        return PlayoutStats(**self._c, jitter=self.jb.stats)

    def reset(self) -> None:
        """Forget the stream: jitter buffer, concealer and queued audio (counters kept)."""
        self.jb.reset()
        self.concealer.reset()
        self._n = 0
        self._hist[:] = 0
        self._started = False
        self._stale = 0.0
        self.playout_ts = None
