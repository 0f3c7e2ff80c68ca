"""The baresip peer itself works (no sipctl code involved): direct calls, registration at
Kamailio, and calls through Kamailio, with the audio checked from baresip's sndfile dumps."""
import re
import shutil
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from peers import DEFAULT_USERS, Baresip, make_baresip, make_kamailio  # noqa: F401
from peers.baresip import read_wav

pytestmark = pytest.mark.skipif(
    not all(shutil.which(b) for b in ("baresip", "kamailio", "kamcmd")),
    reason="baresip/kamailio/kamcmd not installed")

RATE = 8000
CALL_SECONDS = 2.0


def sine_wav(path: Path, freq: float, seconds: float = 3.0, rate: int = RATE) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    x = np.round(0.4 * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(x.tobytes())
    return path


def dominant_freq(path: Path) -> tuple[float, float]:
    """(dominant frequency in Hz, RMS) of a recording, ignoring its first 0.2 s."""
    rate, x = read_wav(path)
    x = x[int(0.2 * rate):].astype(np.float64)
    assert len(x) >= rate, f"{path.name}: only {len(x)} samples"
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    spec[0] = 0.0
    k = int(np.argmax(spec))
    if 0 < k < len(spec) - 1:  # parabolic interpolation between bins
        a, b, c = np.log(spec[k - 1:k + 2] + 1e-9)
        k = k + 0.5 * (a - c) / (a - 2 * b + c)
    return k * rate / len(x), float(np.sqrt(np.mean(x ** 2)))


def talk_and_hang_up(caller: Baresip, callee: Baresip) -> None:
    """Dial callee (auto-answer), let audio flow ~2 s, hang up; files are closed on return."""
    n_caller, n_callee = len(caller.events), len(callee.events)
    assert caller.dial(callee.uri)["ok"]
    caller.wait_event("CALL_ESTABLISHED", 10, since=n_caller)
    callee.wait_event("CALL_ESTABLISHED", 10, since=n_callee)
    stat = caller.callstat()
    assert "ESTABLISHED" in stat, stat
    time.sleep(CALL_SECONDS)
    assert caller.hangup()["ok"]
    caller.wait_event("CALL_CLOSED", 10, since=n_caller)
    callee.wait_event("CALL_CLOSED", 10, since=n_callee)
    caller.stop()  # the sndfile dumps are finalised when the call (at the latest, the
    callee.stop()  # process) ends


def assert_received(b: Baresip, freq: float) -> None:
    dec = b.recordings("dec")
    assert len(dec) == 1, f"{b.user}: recordings {b.recordings()}"
    got, rms = dominant_freq(dec[0])
    assert rms > 1000, f"{b.user} received near silence (rms {rms:.0f})"
    assert abs(got - freq) < 2.0, f"{b.user} received {got:.1f} Hz, expected {freq} Hz"


def test_direct_call_between_two_baresips(make_baresip, tmp_path):
    alice = make_baresip("alice", auto_answer=True,
                         source_wav=sine_wav(tmp_path / "440.wav", 440))
    bob = make_baresip("bob", source_wav=sine_wav(tmp_path / "1000.wav", 1000))
    assert alice.uri == f"sip:alice@127.0.0.1:{alice.sip_port}"
    talk_and_hang_up(bob, alice)
    assert_received(alice, 1000)
    assert_received(bob, 440)


def bindings_of(kam, user: str, port: int) -> list:
    return [r for r in kam.registrations()
            if r[0] == user and re.search(rf"@127\.0\.0\.1:{port}\b", r[1])]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_baresip_registers_at_kamailio(make_kamailio, make_baresip, transport):
    kam = make_kamailio()
    alice = make_baresip("alice", password=DEFAULT_USERS["alice"],
                         registrar=kam.addr(transport), transport=transport)
    assert alice.wait_registered(10), alice.reginfo()
    assert alice.uri == f"sip:alice@127.0.0.1:{kam.port}"
    regs = bindings_of(kam, "alice", alice.sip_port)
    assert len(regs) == 1, kam.registrations()
    assert (";transport=tcp" in regs[0][1]) == (transport == "tcp")
    assert 0 < regs[0][2] <= 600
    alice.stop()  # TERM: baresip unregisters on the way out
    deadline = time.monotonic() + 5
    while bindings_of(kam, "alice", alice.sip_port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not bindings_of(kam, "alice", alice.sip_port)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_call_through_kamailio(make_kamailio, make_baresip, tmp_path, transport):
    kam = make_kamailio()
    alice = make_baresip("alice", password=DEFAULT_USERS["alice"], registrar=kam.addr(transport),
                         transport=transport, auto_answer=True,
                         source_wav=sine_wav(tmp_path / "440.wav", 440))
    bob = make_baresip("bob", password=DEFAULT_USERS["bob"], registrar=kam.addr(transport),
                       transport=transport, source_wav=sine_wav(tmp_path / "1000.wav", 1000))
    assert alice.wait_registered(10) and bob.wait_registered(10)
    assert bindings_of(kam, "alice", alice.sip_port)
    talk_and_hang_up(bob, alice)
    assert_received(alice, 1000)
    assert_received(bob, 440)
