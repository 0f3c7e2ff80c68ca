"""Calls end to end with a real peer: sipctl and baresip, both registered at Kamailio.

Audio is measured on both sides: sipctl records its speaker to a WAV (WavDevice), baresip
records what it decodes (sndfile). Tones are checked to within 1 Hz, speech with PESQ.
"""
from __future__ import annotations

import asyncio
import shutil
import time
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest

from audiocheck import aligned_reference, dominant_freq, pesq_nb, read_wav, rms, segment, sine, write_wav
from peers import DEFAULT_USERS, make_baresip, make_kamailio  # noqa: F401  (fixtures)
from sipctl.accounts import Account
from sipctl.call_events import DISPARTY_PEER, Cdr, StatusChanged
from sipctl.call_settings import CallSettings
from sipctl.media.devices import AudioFormat, WavDevice
from sipctl.media.engine import MediaEngine, MediaSettings
from sipctl.registration_events import Registered
from sipctl.ua import UserAgent

pytestmark = pytest.mark.skipif(
    not all(shutil.which(b) for b in ("baresip", "kamailio", "kamcmd")),
    reason="baresip/kamailio not installed")

RATE = 8000


@asynccontextmanager
async def phone(kam, play: Path, record: Path, **call_kw):
    """sipctl as alice at ``kam``: mic = ``play`` (looped), speaker recorded to ``record``."""
    device = WavDevice(AudioFormat(RATE), play=play, record=record, loop=True)
    engine = MediaEngine(device=device, settings=MediaSettings(mediatimeout=0))
    account = Account(server=f"127.0.0.1:{kam.port}", username="alice",
                      password=DEFAULT_USERS["alice"])
    ua = UserAgent([account], call_settings=CallSettings(**call_kw), media=engine,
                   params={"use_pcmu": 3, "use_pcma": 2})
    engine.start()
    try:
        async with ua:
            ev = await ua.next_event(10)
            while not isinstance(ev, Registered):
                ev = await ua.next_event(10)
            # start-up (transports, TLS contexts, registration) holds the GIL in bursts that can
            # make the media clock late; calls start once that is over
            await asyncio.sleep(0.5)
            yield ua, device
    finally:
        engine.stop()


async def wait_status(ua: UserAgent, status: str, timeout: float = 10.0) -> StatusChanged:
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        ev = await ua.next_call_event(max(0.01, deadline - time.monotonic()))
        seen.append(ev)
        if isinstance(ev, StatusChanged) and ev.status == status:
            return ev
        if time.monotonic() > deadline:
            raise AssertionError(f"no {status}; saw {seen}")


async def wait_cdr(ua: UserAgent, timeout: float = 10.0) -> Cdr:
    deadline = time.monotonic() + timeout
    while True:
        ev = await ua.next_call_event(max(0.01, deadline - time.monotonic()))
        if isinstance(ev, Cdr):
            return ev


def assert_tone(x: np.ndarray, freq: float, what: str) -> None:
    level = rms(x)
    assert level > 1000, f"{what}: near silence (rms {level:.0f})"
    got = dominant_freq(x, RATE)
    assert abs(got - freq) < 1.0, f"{what}: {got:.2f} Hz, expected {freq} Hz"


def since_start(device: WavDevice, t: float) -> float:
    assert device.start_time is not None
    return t - device.start_time


def test_call_baresip_through_kamailio_tone_hold_dtmf(make_kamailio, make_baresip, tmp_path):
    kam = make_kamailio()
    bob = make_baresip("bob", password=DEFAULT_USERS["bob"], registrar=kam.addr(),
                       auto_answer=True, source_wav=write_wav(tmp_path / "440.wav",
                                                              sine(440, 3.0)))
    assert bob.wait_registered(10), bob.reginfo()
    mic = write_wav(tmp_path / "1000.wav", sine(1000, 3.0))
    rec = tmp_path / "alice-speaker.wav"
    marks: dict[str, float] = {}

    sent: dict[str, int] = {}

    async def scenario() -> Cdr:
        async with phone(kam, mic, rec) as (ua, device):
            call = ua.dial("bob")
            await wait_status(ua, "Speaking")

            def mark(name: str) -> None:
                marks[name] = since_start(device, time.monotonic())
                sent[name] = ua.stream_counters(call.line).audio_sent

            mark("connect")
            await asyncio.sleep(2.0)
            ua.hold(call.line)
            mark("hold")
            await asyncio.sleep(0.3)
            mark("held")
            await asyncio.sleep(1.7)
            mark("held_end")
            ua.hold(call.line, False)
            mark("unhold")
            await asyncio.sleep(2.0)
            mark("dtmf")
            assert ua.dtmf(call.line, "123#")
            await asyncio.sleep(1.5)
            mark("end")
            ua.hangup(call.line)
            return await wait_cdr(ua)

    n0 = len(bob.events)
    cdr = asyncio.run(scenario())
    assert cdr.disparty == 1 and cdr.called == "bob" and cdr.caller == "alice", cdr
    bob.wait_event("CALL_CLOSED", 10, since=n0)
    digits = [e.get("param") for e in bob.events[n0:] if e.get("type") == "CALL_DTMF_START"]
    assert digits == ["1", "2", "3", "#"], bob.events[n0:]
    bob.stop()

    # what sipctl sent: 50 packets/s talking, none on hold, again after unhold and after DTMF
    assert sent["hold"] - sent["connect"] >= 90, sent
    assert sent["held_end"] == sent["held"], sent
    assert sent["dtmf"] - sent["unhold"] >= 90, sent
    assert sent["end"] - sent["dtmf"] >= 40, sent   # 1.5 s minus the DTMF events

    # what sipctl heard: 440 Hz while talking, silence while on hold, 440 Hz again
    _, heard = read_wav(rec)
    assert_tone(segment(heard, RATE, marks["connect"] + 0.5, marks["hold"] - 0.1), 440,
                "sipctl before hold")
    held = rms(segment(heard, RATE, marks["hold"] + 0.5, marks["unhold"] - 0.1))
    assert held < 100, f"sipctl heard audio while on hold (rms {held:.0f})"
    assert_tone(segment(heard, RATE, marks["unhold"] + 0.5, marks["dtmf"] - 0.1), 440,
                "sipctl after unhold")

    # what baresip heard: sipctl's 1000 Hz. baresip 1.0's sndfile re-opens its dump under
    # the same name whenever the stream is updated (each re-INVITE), so the file holds the
    # audio after the unhold: that the audio resumed is checked there, that it stopped by the
    # sent-packet counts above.
    dec = bob.recordings("dec")
    assert len(dec) == 1, bob.recordings()
    _, got = read_wav(dec[0])
    assert len(got) > 1.5 * RATE, len(got) / RATE
    assert_tone(got[int(0.3 * RATE):], 1000, "baresip")


def test_incoming_call_from_baresip_remote_hangup(make_kamailio, make_baresip, tmp_path):
    kam = make_kamailio()
    bob = make_baresip("bob", password=DEFAULT_USERS["bob"], registrar=kam.addr(),
                       source_wav=write_wav(tmp_path / "700.wav", sine(700, 3.0)))
    assert bob.wait_registered(10), bob.reginfo()
    rec = tmp_path / "alice-speaker.wav"
    marks: dict[str, float] = {}

    async def scenario() -> Cdr:
        async with phone(kam, write_wav(tmp_path / "1200.wav", sine(1200, 3.0)), rec) \
                as (ua, device):
            n0 = len(bob.events)
            assert bob.dial(kam.uri(user="alice"))["ok"]
            ringing = await wait_status(ua, "Ringing")
            assert ringing.peername == "bob" and ringing.endpointtype == 2
            ua.accept(ringing.line)
            await wait_status(ua, "Speaking")
            marks["connect"] = since_start(device, time.monotonic())
            bob.wait_event("CALL_ESTABLISHED", 10, since=n0)
            await asyncio.sleep(2.5)
            marks["hangup"] = since_start(device, time.monotonic())
            assert bob.hangup()["ok"]
            await wait_status(ua, "CallDisconnect")
            return await wait_cdr(ua)

    cdr = asyncio.run(scenario())
    assert cdr.disparty == DISPARTY_PEER and cdr.reason == "BYE", cdr
    assert cdr.caller == "bob" and cdr.called == "alice" and cdr.duration_ms > 2000, cdr
    bob.stop()
    _, heard = read_wav(rec)
    assert_tone(segment(heard, RATE, marks["connect"] + 0.5, marks["hangup"] - 0.1), 700,
                "sipctl")
    _, got = read_wav(bob.recordings("dec")[0])
    assert_tone(got[int(0.3 * RATE):], 1200, "baresip")


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng not installed")
def test_pesq_of_speech_through_a_pcmu_call(make_kamailio, make_baresip, tmp_path):
    from bench.speech import speech
    voice = speech(RATE, 8.0)
    pad = np.zeros(RATE, np.int16)
    talk = np.concatenate([pad, voice, pad])
    kam = make_kamailio()
    bob = make_baresip("bob", password=DEFAULT_USERS["bob"], registrar=kam.addr(),
                       auto_answer=True, codecs=("PCMU/8000/1",),
                       source_wav=write_wav(tmp_path / "bob-speech.wav", talk))
    assert bob.wait_registered(10), bob.reginfo()
    rec = tmp_path / "alice-speaker.wav"
    marks: dict[str, float] = {}

    async def scenario() -> None:
        async with phone(kam, write_wav(tmp_path / "alice-speech.wav", talk), rec) \
                as (ua, device):
            call = ua.dial("bob")
            await wait_status(ua, "Speaking")
            marks["connect"] = since_start(device, time.monotonic())
            await asyncio.sleep(len(talk) / RATE + 0.5)
            marks["late_ticks"] = device.late_ticks
            stream = ua.media._lines[ua.media_key(call.line)].stream   # diagnostics
            marks["playout"] = stream.playout.stats if stream.playout else None
            ua.hangup(call.line)
            await wait_cdr(ua)

    asyncio.run(scenario())
    bob.stop()
    _, got = read_wav(bob.recordings("dec")[0])
    _, heard = read_wav(rec)
    # skip the first second after the answer: the jitter buffer settles on the path's delay
    # there (a few time-scale steps); the rest is the steady state PESQ should judge
    heard = heard[int((marks["connect"] + 1.0) * RATE):]
    got = got[RATE:]
    # both sides loop the padded speech from an arbitrary point: find where each recording
    # is in the loop, then PESQ (it also aligns what remains, e.g. jitter-buffer changes)
    to_bob = pesq_nb(aligned_reference(talk, got), got)
    to_alice = pesq_nb(aligned_reference(talk, heard), heard)
    print(f"PESQ sipctl->baresip {to_bob:.2f}, baresip->sipctl {to_alice:.2f}")
    assert to_bob >= 3.8 and to_alice >= 3.8, (to_bob, to_alice, marks)
