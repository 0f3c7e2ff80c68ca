"""Audio devices (:mod:`sipctl.media.devices`): the timer media clock, WAV mic/recording,
the volume curve, the per-UA device registry and the optional PortAudio backend."""
from __future__ import annotations

import sys
import time
import types
import wave

import numpy as np
import pytest

from sipctl.media.devices import (
    MAX_GAIN_DB, AudioDevice, AudioFormat, DeviceRegistry, NullDevice, PortAudioBackend,
    PortAudioDevice, WavDevice, apply_volume, volume_gain,
)


def write_wav(path, samples, rate, width=2, channels=1):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 2:
            w.writeframes(np.asarray(samples, "<i2").tobytes())
        else:
            w.writeframes(bytes(len(samples) * width * channels))


def read_wav(path):
    with wave.open(str(path), "rb") as r:
        assert (r.getnchannels(), r.getsampwidth()) == (1, 2)
        return r.getframerate(), np.frombuffer(r.readframes(r.getnframes()), "<i2")


def tone(freq, rate, seconds, amp=10000):
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def wait_for(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


# --- AudioFormat -------------------------------------------------------------------

def test_audio_format():
    f = AudioFormat(8000)
    assert (f.frame_len, f.frame_size, f.period) == (160, 160, 0.02)
    assert AudioFormat(44100, 2, 10).frame_size == 882
    with pytest.raises(ValueError):
        AudioFormat(8000, frame_ms=0)
    with pytest.raises(ValueError):
        AudioFormat(11025, frame_ms=3)  # not a whole number of samples


# --- NullDevice: the timer clock -----------------------------------------------------

def test_null_device_ticks_at_frame_rate_without_drift():
    dev = NullDevice(AudioFormat(16000, frame_ms=20))
    assert isinstance(dev, AudioDevice)
    times, mics = [], []

    def on_frame(mic):
        times.append(time.monotonic())
        mics.append(mic)
        return mic

    dev.start(on_frame)
    t_start = dev.start_time
    time.sleep(1.0)
    dev.stop()
    n_1s = sum(1 for t in times if t - t_start < 1.0)
    assert 50 * 0.95 <= n_1s <= 50 * 1.05
    assert all(m.dtype == np.int16 and m.shape == (320,) and not m.any() for m in mics)
    lag = np.array([t - (t_start + k * 0.02) for k, t in enumerate(times)])
    assert lag.min() > -1e-4  # never early
    assert np.median(lag) < 0.003  # on time ("a few ms")
    assert np.percentile(lag, 90) < 0.005
    # absolute deadlines: the lag does not grow with k (a relative sleep drifts)
    slope = np.polyfit(np.arange(lag.size), lag, 1)[0]
    assert abs(slope) < 5e-5  # < 50 us per tick
    assert dev.overruns == 0


def test_null_device_stop_joins_thread_and_is_idempotent():
    dev = NullDevice(AudioFormat(8000, frame_ms=10))
    calls = []
    dev.start(lambda mic: calls.append(1))  # None -> silence, counted as underrun
    wait_for(lambda: len(calls) >= 3)
    thread = dev._thread
    dev.stop()
    assert not thread.is_alive() and not dev.running
    n = len(calls)
    time.sleep(0.05)
    assert len(calls) == n  # no tick after stop returned
    assert dev.underruns == n
    dev.stop()  # idempotent
    with pytest.raises(TypeError):
        dev.start(None)


def test_null_device_catches_up_and_reports_late_and_dropped_ticks():
    dev = NullDevice(AudioFormat(8000, frame_ms=10), max_catchup=2)
    ticks = []

    def on_frame(mic):
        ticks.append(time.monotonic())
        if len(ticks) == 3:
            time.sleep(0.1)  # the media thread stalls for 10 periods
        return mic

    dev.start(on_frame)
    wait_for(lambda: len(ticks) >= 8)
    dev.stop()
    assert dev.late_ticks >= 1
    assert dev.overruns >= 5  # the stalled periods were dropped, not replayed in a burst
    k = (ticks[-1] - dev.start_time) / 0.01  # still on the original grid
    assert abs(k - round(k)) < 0.4


# --- WavDevice ---------------------------------------------------------------------

def run_until_eof(dev, on_frame, extra=0):
    out = []

    def cb(mic):
        out.append(mic.copy())
        return on_frame(mic)

    dev.start(cb)
    assert dev.eof.wait(5.0)
    wait_for(lambda: len(out) >= extra)
    dev.stop()
    return out


def test_wav_device_plays_file_as_mic_exactly_and_in_order(tmp_path):
    fmt = AudioFormat(8000, frame_ms=20)
    x = tone(1000, 8000, 0.5)[:3950]  # not a whole number of frames
    x[::160] = np.arange(x[::160].size)  # frame markers: order is checked too
    write_wav(tmp_path / "mic.wav", x, 8000)
    dev = WavDevice(fmt, play=tmp_path / "mic.wav", realtime=False)
    frames = run_until_eof(dev, lambda mic: mic)
    got = np.concatenate(frames)
    assert np.array_equal(got[:x.size], x)
    assert len(frames) >= 25 and not got[x.size:].any()  # silence after the end
    assert dev.error is None


def test_wav_device_loop(tmp_path):
    x = np.arange(1, 401, dtype=np.int16)
    write_wav(tmp_path / "mic.wav", x, 8000)
    dev = WavDevice(AudioFormat(8000, frame_ms=10), play=tmp_path / "mic.wav", loop=True,
                    realtime=False)
    frames = []
    dev.start(lambda mic: frames.append(mic) or mic)
    wait_for(lambda: len(frames) >= 10)
    dev.stop()
    got = np.concatenate(frames[:10])
    assert np.array_equal(got, np.tile(x, 2)) and not dev.eof.is_set()


def test_wav_device_resamples_mic_to_format_rate(tmp_path):
    write_wav(tmp_path / "mic.wav", tone(1000, 44100, 1.0), 44100)
    dev = WavDevice(AudioFormat(16000, frame_ms=20), play=tmp_path / "mic.wav",
                    realtime=False)
    got = np.concatenate(run_until_eof(dev, lambda mic: mic)).astype(np.float64)
    assert 15950 <= np.flatnonzero(got)[-1] <= 16100  # ~1 s of audio at 16 kHz
    seg = got[1000:15000]
    spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size), 16 * 16000))
    f = np.argmax(spec) * 16000 / (16 * 16000)
    assert abs(f - 1000) < 1.0
    assert 9000 < np.abs(seg).max() < 11000  # passband gain ~ 1


def test_wav_device_rejects_bad_files(tmp_path):
    fmt = AudioFormat(8000)
    write_wav(tmp_path / "u8.wav", np.zeros(100), 8000, width=1)
    with pytest.raises(ValueError, match="16-bit"):
        WavDevice(fmt, play=tmp_path / "u8.wav")
    write_wav(tmp_path / "st.wav", np.zeros(200), 8000, channels=2)
    with pytest.raises(ValueError, match="mono"):
        WavDevice(fmt, play=tmp_path / "st.wav")
    write_wav(tmp_path / "odd.wav", np.zeros(100), 11025)
    with pytest.raises(ValueError, match="resample 11025"):
        WavDevice(fmt, play=tmp_path / "odd.wav")
    with pytest.raises(FileNotFoundError):
        WavDevice(fmt, play=tmp_path / "missing.wav")
    with pytest.raises(ValueError, match="mono"):
        WavDevice(AudioFormat(8000, channels=2))


def test_wav_device_records_speaker_output(tmp_path):
    rng = np.random.default_rng(1)
    fmt = AudioFormat(16000, frame_ms=10)
    sent = []

    def on_frame(mic):
        out = rng.integers(-32768, 32768, fmt.frame_size, dtype=np.int16)
        sent.append(out)
        return out

    dev = WavDevice(fmt, record=tmp_path / "spk.wav", realtime=False)
    dev.start(on_frame)
    wait_for(lambda: len(sent) >= 50)
    dev.stop()
    rate, data = read_wav(tmp_path / "spk.wav")
    assert rate == 16000
    assert np.array_equal(data, np.concatenate(sent))


def test_wav_device_recording_survives_on_frame_exception(tmp_path):
    fmt = AudioFormat(8000, frame_ms=20)
    sent = []

    def on_frame(mic):
        if len(sent) == 7:
            raise RuntimeError("boom")
        out = np.full(fmt.frame_size, len(sent) + 1, np.int16)
        sent.append(out)
        return out

    dev = WavDevice(fmt, record=tmp_path / "spk.wav", realtime=False)
    dev.start(on_frame)
    wait_for(lambda: not dev.running)
    assert isinstance(dev.error, RuntimeError)
    dev.stop()
    _, data = read_wav(tmp_path / "spk.wav")
    assert np.array_equal(data, np.concatenate(sent)) and len(sent) == 7


def test_wav_device_bad_speaker_frame_stops_with_error(tmp_path):
    dev = WavDevice(AudioFormat(8000), record=tmp_path / "spk.wav", realtime=False)
    dev.start(lambda mic: np.zeros(10, np.float32))
    wait_for(lambda: not dev.running)
    dev.stop()
    assert isinstance(dev.error, ValueError) and "int16[160]" in str(dev.error)
    assert read_wav(tmp_path / "spk.wav")[1].size == 0


# --- volume ------------------------------------------------------------------------

def test_volume_curve():
    assert volume_gain(50) == 1.0 and volume_gain(0) == 0.0
    assert volume_gain(100) == pytest.approx(10 ** (MAX_GAIN_DB / 20))
    assert volume_gain(25) == pytest.approx(10 ** (-6 / 20))
    g = [volume_gain(v) for v in range(101)]
    assert all(a < b for a, b in zip(g, g[1:]))  # monotonic
    for bad in (-1, 101):
        with pytest.raises(ValueError):
            volume_gain(bad)
    with pytest.raises(TypeError):
        volume_gain(50.5)
    x = np.array([0, 1000, -1000, 20000, -20000, 32767, -32768], np.int16)
    assert np.array_equal(apply_volume(x, 50), x)
    assert not apply_volume(x, 0).any()
    y = apply_volume(x, 100)
    assert y.dtype == np.int16
    assert np.array_equal(y, [0, 3981, -3981, 32767, -32768, 32767, -32768])  # saturated
    assert np.array_equal(apply_volume(x, 25)[:3], np.rint(x[:3] * 10 ** (-6 / 20)))


def test_device_applies_volumes(tmp_path):
    x = np.full(160, 1000, np.int16)
    write_wav(tmp_path / "mic.wav", x, 8000)
    dev = WavDevice(AudioFormat(8000), play=tmp_path / "mic.wav",
                    record=tmp_path / "spk.wav", realtime=False)
    dev.volume_in, dev.volume_out = 0, 100
    with pytest.raises(ValueError):
        dev.volume_out = 101
    mics = []
    dev.start(lambda mic: mics.append(mic) or np.full(160, 10000, np.int16))
    wait_for(lambda: len(mics) >= 2)
    dev.stop()
    assert not mics[0].any()  # muted microphone
    _, data = read_wav(tmp_path / "spk.wav")
    assert (data == 32767).all()  # +12 dB, saturated


# --- registry ----------------------------------------------------------------------

class FakeBackend:
    name = "fake"

    def __init__(self, inputs, outputs, fail=None):
        self.inputs, self.outputs, self.fail = inputs, outputs, fail
        self.opened = []

    def available(self):
        return True

    def list_devices(self, direction):
        return list(self.inputs if direction == "in" else self.outputs)

    def open(self, format, input, output):
        if self.fail:
            raise self.fail
        self.opened.append((input, output))
        return NullDevice(format, name=f"fake {input}/{output}")


def test_registry_listing_and_selection():
    b = FakeBackend(["Mic A", "USB Headset"], ["Speakers", "USB Headset", "HDMI"])
    reg = DeviceRegistry([b])
    assert reg.list(0) == "Mic A\r\nUSB Headset"
    assert reg.list(1) == reg.list(2) == "Speakers\r\nUSB Headset\r\nHDMI"
    assert [reg.get(d) for d in (0, 1, 2)] == ["Default"] * 3
    assert reg.select(0, 2) is True and reg.get(0) == "USB Headset"
    assert reg.select(1, "3", 2) and reg.get(1) == "HDMI" and reg.immediate(1) == 2
    assert reg.select(1, "usb headset") and reg.get(1) == "USB Headset"  # case-insensitive
    assert reg.select(2, "All") and reg.get(2) == "All"
    assert reg.select(2, "default") and reg.get(2) == "Default"
    assert reg.select(0, 0) and reg.get(0) == "Default"
    for dev, arg, msg in [(0, "All", "ringer"), (0, 3, "no device #3"), (1, 10, "1..9"),
                          (1, -1, "1..9"), (1, "Nope", "unknown audio device"),
                          (3, "Default", "dev must be"), (1, "", "empty"),
                          (1, None, "name or a number")]:
        with pytest.raises(ValueError, match=msg):
            reg.select(dev, arg)
    with pytest.raises(ValueError, match="immediate"):
        reg.select(1, 1, 3)
    assert reg.get(1) == "USB Headset"  # failed selects change nothing


def test_registry_volumes_and_parameters():
    reg = DeviceRegistry([FakeBackend(["Mic"], ["Spk"])])
    assert [reg.get_volume(d) for d in (0, 1, 2)] == [50, 50, 50]
    assert reg.set_volume(1, 80) and reg.get_volume(1) == 80
    for bad in (-1, 101):
        with pytest.raises(ValueError):
            reg.set_volume(0, bad)
    with pytest.raises(ValueError):
        reg.get_volume(5)
    reg.apply_parameters({"audiodevicein": "Mic", "audiodevicering": "All",
                          "volumein": "0", "volumering": 100, "volumeout": ""})
    assert (reg.get(0), reg.get(2)) == ("Mic", "All")
    assert [reg.get_volume(d) for d in (0, 1, 2)] == [0, 80, 100]
    with pytest.raises(ValueError, match="volumeout"):
        reg.apply_parameters({"volumeout": "loud"})


def test_registries_are_per_ua():
    a, b = DeviceRegistry([FakeBackend(["M"], ["S"])]), DeviceRegistry([FakeBackend([], [])])
    a.select(0, 1)
    a.set_volume(1, 10)
    assert (b.get(0), b.get_volume(1)) == ("Default", 50)


def test_registry_open():
    fmt = AudioFormat(8000)
    b = FakeBackend(["Mic"], ["Spk", "Phones"])
    reg = DeviceRegistry([b])
    reg.select(1, "Phones")
    reg.set_volume(0, 30)
    dev = reg.open(fmt)
    assert b.opened == [(None, "Phones")] and dev.name == "fake None/Phones"
    assert (dev.volume_in, dev.volume_out) == (30, 50)
    reg.set_volume(2, 90)
    reg.select(2, "All")
    ring = reg.open(fmt, ringer=True)
    assert b.opened[-1] == (None, None) and ring.volume_out == 90
    # headless: no backend, no sound card, or a failing backend -> NullDevice
    for r in (DeviceRegistry([]), DeviceRegistry([FakeBackend([], [])]),
              DeviceRegistry([FakeBackend(["M"], ["S"], fail=OSError("busy"))])):
        d = r.open(fmt)
        assert type(d) is NullDevice and d.format == fmt
    assert isinstance(r.last_open_error, OSError)


# --- PortAudio (optional) ----------------------------------------------------------

def test_portaudio_missing_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyaudio", None)  # makes `import pyaudio` fail
    with pytest.raises(ImportError) as ei:
        PortAudioDevice(AudioFormat(8000))
    assert "pip install pyaudio" in str(ei.value) and "portaudio19-dev" in str(ei.value)
    backend = PortAudioBackend()
    assert not backend.available() and backend.list_devices("in") == []
    reg = DeviceRegistry()  # the default backend list: PortAudio
    assert reg.list(0) == "" and type(reg.open(AudioFormat(8000))) is NullDevice


def fake_pyaudio():
    devs = [{"index": 0, "name": "Mic", "maxInputChannels": 1, "maxOutputChannels": 0},
            {"index": 1, "name": "Speakers", "maxInputChannels": 0, "maxOutputChannels": 2},
            {"index": 2, "name": "Headset", "maxInputChannels": 1, "maxOutputChannels": 2}]
    mod = types.ModuleType("pyaudio")
    mod.paInt16, mod.paContinue, mod.paAbort = 8, 0, 2
    mod.paInputOverflow, mod.paOutputUnderflow = 2, 4
    mod.streams = []

    class Stream:
        def __init__(self, **kw):
            self.kw, self.state = kw, "open"

        def start_stream(self):
            self.state = "started"

        def stop_stream(self):
            self.state = "stopped"

        def close(self):
            self.state = "closed"

    class PyAudio:
        def get_device_count(self):
            return len(devs)

        def get_device_info_by_index(self, i):
            return dict(devs[i])

        def open(self, **kw):
            mod.streams.append(Stream(**kw))
            return mod.streams[-1]

        def terminate(self):
            pass

    mod.PyAudio = PyAudio
    return mod


def test_portaudio_backend_with_fake_pyaudio(monkeypatch):
    pa = fake_pyaudio()
    monkeypatch.setitem(sys.modules, "pyaudio", pa)
    reg = DeviceRegistry()
    assert reg.list(0) == "Mic\r\nHeadset" and reg.list(1) == "Speakers\r\nHeadset"
    reg.select(0, 2)
    reg.select(1, "Speakers")
    reg.set_volume(1, 0)
    fmt = AudioFormat(16000, frame_ms=10)
    dev = reg.open(fmt)
    assert isinstance(dev, PortAudioDevice) and isinstance(dev, AudioDevice)
    seen = []
    dev.start(lambda mic: seen.append(mic) or np.full(160, 5, np.int16))
    s = pa.streams[-1]
    assert s.state == "started"
    assert (s.kw["input_device_index"], s.kw["output_device_index"]) == (2, 1)
    assert (s.kw["rate"], s.kw["frames_per_buffer"], s.kw["format"]) == (16000, 160, 8)
    out, flag = s.kw["stream_callback"](np.arange(160, dtype="<i2").tobytes(), 160, {}, 2 | 4)
    assert flag == pa.paContinue and np.array_equal(seen[0], np.arange(160))
    assert out == bytes(320)  # volume_out 0 = muted
    assert (dev.overruns, dev.underruns) == (1, 1)
    dev.stop()
    assert s.state == "closed"
    with pytest.raises(ValueError, match="no input device named"):
        PortAudioDevice(fmt, input="Nope")
    with pytest.raises(ValueError, match="#3"):
        PortAudioDevice(fmt, output=3)


def test_portaudio_callback_exception_aborts_stream(monkeypatch):
    pa = fake_pyaudio()
    monkeypatch.setitem(sys.modules, "pyaudio", pa)
    dev = PortAudioDevice(AudioFormat(8000))

    def boom(mic):
        raise KeyError("x")

    dev.start(boom)
    out, flag = pa.streams[-1].kw["stream_callback"](bytes(320), 160, {}, 0)
    assert flag == pa.paAbort and out == bytes(320) and isinstance(dev.error, KeyError)
    dev.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        dev.start(boom)
