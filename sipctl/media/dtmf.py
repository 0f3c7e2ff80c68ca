"""DTMF for one call: RFC 4733 telephone-events in RTP and/or SIP INFO ``application/dtmf-relay``.

Sans-IO: :class:`DtmfSender` is fed ``send(digits, now)`` and polled with
``poll(now, rtp_timestamp)``; it returns typed events saying what to send now
(:class:`SendRtpEvent`: an RFC 4733 payload plus marker/timestamp for the RTP stream;
:class:`SendInfo`: a SIP INFO body). :class:`DtmfReceiver` turns received telephone-event
payloads and INFO bodies into one :class:`DtmfDigit` per key press.

Semantics follow the reference ``API_Dtmf(line, " 12 345 #")``: a string of digits
``0-9 * # A-D`` (either case) sent one after the other, a space inserting a pause
(:attr:`DtmfSender.pause_ms`, default 250 ms, added to the normal inter-digit gap);
any other character raises ValueError before anything is queued. ``dtmfmode``:

* 0 disabled (``send`` returns False, nothing queued),
* 1 SIP INFO only,
* 2 RFC 4733 when the RTP stream works (``rtp_available``), SIP INFO otherwise (default),
* 3 both,
* 4 RFC 4733 only, even without a working RTP stream.

Timing per digit (defaults: tone 100 ms, packets every 20 ms, gap 50 ms): RFC 4733 2.5 —
every packet of an event carries the RTP timestamp of the event start, the first has the
marker bit, packet *k* (sent at start + k*interval) has duration (k+1)*interval, capped at
the tone duration; the packet reaching the full duration has the E bit and is sent three
times, one interval apart. The next digit starts ``duration + gap`` after this one (later if
the end retransmissions are still running).
"""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from _media.rtp import dtmf_to_event, event_to_dtmf, telephone_event_build, telephone_event_parse

__all__ = [
    "DTMF_DISABLED", "DTMF_INFO", "DTMF_RFC4733_OR_INFO", "DTMF_BOTH", "DTMF_RFC4733",
    "DTMF_RELAY", "SendRtpEvent", "SendInfo", "DtmfDigit", "DtmfSender", "DtmfReceiver",
    "dtmf_relay_body", "parse_dtmf_relay",
]

DTMF_DISABLED, DTMF_INFO, DTMF_RFC4733_OR_INFO, DTMF_BOTH, DTMF_RFC4733 = 0, 1, 2, 3, 4
DTMF_RELAY = "application/dtmf-relay"
_VALID = frozenset("0123456789*#ABCDabcd ")
_TS_MASK = 0xFFFFFFFF


@dataclass(frozen=True)
class SendRtpEvent:
    """Send one RTP packet with this RFC 4733 payload on the call's RTP stream (same SSRC
    and sequence space as the audio; the caller assigns the sequence number)."""
    payload: bytes
    payload_type: int
    timestamp: int
    marker: bool
    digit: str
    end: bool
    duration: int          # timestamp units


@dataclass(frozen=True)
class SendInfo:
    """Send a SIP INFO in the call's dialog with this body."""
    body: str
    digit: str
    content_type: str = DTMF_RELAY


@dataclass(frozen=True)
class DtmfDigit:
    """A received key press."""
    digit: str
    method: str                     # "rfc4733" or "info"
    duration_ms: int | None = None
    timestamp: int | None = None    # RTP timestamp of the event (rfc4733 only)


def dtmf_relay_body(digit: str, duration_ms: int) -> str:
    """``application/dtmf-relay`` body: ``Signal=5\\r\\nDuration=160\\r\\n``."""
    dtmf_to_event(digit)
    return f"Signal={digit.upper()}\r\nDuration={int(duration_ms)}\r\n"


_LINE = re.compile(r"^\s*([A-Za-z]+)\s*=\s*(\S*)\s*$")


def parse_dtmf_relay(body: str) -> tuple[str, int | None]:
    """(digit, duration ms or None) of an ``application/dtmf-relay`` body; ValueError if bad.

    Keys are case-insensitive, CRLF or LF line ends; ``Signal=10``/``11`` are read as
    ``*``/``#`` (seen in the wild)."""
    signal = duration = None
    for line in body.splitlines():
        if not line.strip():
            continue
        m = _LINE.match(line)
        if m is None:
            continue
        key, value = m.group(1).lower(), m.group(2)
        if key == "signal":
            signal = value
        elif key == "duration":
            if not value.isdigit():
                raise ValueError(f"bad dtmf-relay Duration {value!r}")
            duration = int(value)
    if signal is None:
        raise ValueError("dtmf-relay body without Signal=")
    if signal in ("10", "11"):
        signal = "*" if signal == "10" else "#"
    dtmf_to_event(signal)               # ValueError if not a DTMF digit
    return signal.upper(), duration


@dataclass
class _Active:
    digit: str
    event: int
    start: float
    timestamp: int
    dues: list[tuple[float, int, bool]]     # (due time, duration samples, end)
    index: int = 0


class DtmfSender:
    """Queues DTMF digits for one call and says, when polled, what to send (see module doc)."""

    def __init__(self, mode: int = DTMF_RFC4733_OR_INFO, *, payload_type: int = 101,
                 clock_rate: int = 8000, duration_ms: int = 100, gap_ms: int = 50,
                 pause_ms: int = 250, packet_interval_ms: int = 20, volume: int = 10,
                 end_packets: int = 3, rtp_available: bool = True) -> None:
        if mode not in (0, 1, 2, 3, 4):
            raise ValueError(f"dtmfmode must be 0..4, got {mode!r}")
        if not 0 <= payload_type <= 127:
            raise ValueError("payload_type must be 0..127")
        if duration_ms <= 0 or packet_interval_ms <= 0 or gap_ms < 0 or pause_ms < 0:
            raise ValueError("durations must be positive (gap/pause non-negative)")
        if duration_ms * clock_rate // 1000 > 0xFFFF:
            raise ValueError("tone duration does not fit the 16-bit duration field")
        if not 0 <= volume <= 63 or end_packets < 1:
            raise ValueError("volume must be 0..63 and end_packets >= 1")
        self.mode = mode
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.duration_ms = duration_ms
        self.gap_ms = gap_ms
        self.pause_ms = pause_ms
        self.packet_interval_ms = packet_interval_ms
        self.volume = volume
        self.end_packets = end_packets
        self.rtp_available = rtp_available
        self._queue: deque[str] = deque()
        self._next_start: float | None = None
        self._active: _Active | None = None

    # ---- input
    def send(self, digits: str, now: float) -> bool:
        """Queue ``digits`` (``0-9*#A-D``, space = pause). False if DTMF is disabled (mode 0).

        ValueError (nothing queued) on any other character."""
        if not isinstance(digits, str):
            raise TypeError(f"digits must be a str, not {type(digits).__name__}")
        bad = sorted(set(digits) - _VALID)
        if bad:
            raise ValueError(f"invalid DTMF characters {''.join(bad)!r} in {digits!r}")
        if self.mode == DTMF_DISABLED:
            return False
        if not self._queue and self._active is None:
            self._next_start = now if self._next_start is None else max(now, self._next_start)
        self._queue.extend(digits.upper())
        return True

    def cancel(self) -> None:
        """Drop queued digits (the tone being sent still ends properly)."""
        self._queue.clear()

    # ---- state
    @property
    def pending(self) -> str:
        return "".join(self._queue)

    @property
    def in_event(self) -> bool:
        """An RFC 4733 event is in progress (the audio stream should hold its packets)."""
        return self._active is not None

    def _methods(self) -> tuple[bool, bool]:
        """(rtp, info) for the current mode and RTP state."""
        m = self.mode
        if m == DTMF_INFO:
            return False, True
        if m == DTMF_RFC4733_OR_INFO:
            return (True, False) if self.rtp_available else (False, True)
        if m == DTMF_BOTH:
            return True, True
        if m == DTMF_RFC4733:
            return True, False
        return False, False

    def get_timer(self) -> float | None:
        """When :meth:`poll` next has something to do, or None when idle."""
        if self._active is not None:
            return self._active.dues[self._active.index][0]
        if self._queue:
            return self._next_start
        return None

    # ---- output
    def poll(self, now: float, rtp_timestamp: int) -> list[SendRtpEvent | SendInfo]:
        """Everything due at ``now``; ``rtp_timestamp`` is the stream's RTP clock at ``now``."""
        out: list[SendRtpEvent | SendInfo] = []
        while True:
            a = self._active
            if a is not None:
                while a.index < len(a.dues) and a.dues[a.index][0] <= now + 1e-9:
                    _, dur, end = a.dues[a.index]
                    out.append(SendRtpEvent(
                        telephone_event_build(a.event, end, self.volume, dur), self.payload_type,
                        a.timestamp, a.index == 0, a.digit, end, dur))
                    a.index += 1
                if a.index < len(a.dues):
                    return out
                self._active = None
            if not self._queue or self._next_start is None or self._next_start > now + 1e-9:
                return out
            start = self._next_start
            item = self._queue.popleft()
            if item == " ":
                self._next_start = start + self.pause_ms / 1000.0
                continue
            out.extend(self._start_digit(item, start, now, rtp_timestamp))

    def _start_digit(self, digit: str, start: float, now: float,
                     rtp_timestamp: int) -> list[SendInfo]:
        rtp, info = self._methods()
        d = self.duration_ms / 1000.0
        step = self.packet_interval_ms / 1000.0
        next_start = start + d + self.gap_ms / 1000.0
        out = []
        if info:
            out.append(SendInfo(dtmf_relay_body(digit, self.duration_ms), digit))
        if rtp:
            total = self.duration_ms * self.clock_rate // 1000
            per = self.packet_interval_ms * self.clock_rate // 1000
            n = -(-self.duration_ms // self.packet_interval_ms)      # ceil
            dues = [(start + k * step, min((k + 1) * per, total), False) for k in range(n - 1)]
            last = start + (n - 1) * step
            dues += [(last + i * step, total, True) for i in range(self.end_packets)]
            ts = (rtp_timestamp - round((now - start) * self.clock_rate)) & _TS_MASK
            self._active = _Active(digit, dtmf_to_event(digit), start, ts, dues)
            next_start = max(next_start, dues[-1][0] + step)
        self._next_start = next_start
        return out


class DtmfReceiver:
    """Received DTMF -> one :class:`DtmfDigit` per key press.

    RFC 4733: every packet of an event has the event's RTP timestamp; the digit is reported
    on the first packet seen for a new timestamp (so a lost start still yields the digit from
    the updates or end packets), and updates, duplicates and end retransmissions of the same
    timestamp are dropped. Events above 15 (non-DTMF) are ignored."""

    def __init__(self, clock_rate: int = 8000, history: int = 16) -> None:
        self.clock_rate = clock_rate
        self._seen: deque[int] = deque(maxlen=history)

    def receive_rtp(self, payload: bytes, timestamp: int) -> DtmfDigit | None:
        ev = telephone_event_parse(payload)          # ValueError if shorter than 4 octets
        if ev.event > 15 or timestamp in self._seen:
            return None
        self._seen.append(timestamp)
        ms = ev.duration * 1000 // self.clock_rate if ev.end else None
        return DtmfDigit(event_to_dtmf(ev.event), "rfc4733", ms, timestamp)

    def receive_info(self, body: str, content_type: str = DTMF_RELAY) -> DtmfDigit:
        """Digit of a SIP INFO body (``application/dtmf-relay`` or ``application/dtmf``)."""
        ct = content_type.split(";", 1)[0].strip().lower()
        if ct == DTMF_RELAY:
            digit, ms = parse_dtmf_relay(body)
            return DtmfDigit(digit, "info", ms)
        if ct == "application/dtmf":
            s = body.strip()
            if s in ("10", "11"):
                s = "*" if s == "10" else "#"
            dtmf_to_event(s)
            return DtmfDigit(s.upper(), "info")
        raise ValueError(f"not a DTMF INFO content type: {content_type!r}")
