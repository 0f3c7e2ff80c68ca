"""``sipctl.Phone``, the asyncio API: a real call to a SIPp UAS (audio measured), the
reference's line/status queries, parameters and wpcfg.ini, polling, and the clear errors
of functions that are headless-only or not implemented yet. Plus the pure pieces: the
general status and the notification fields per ``jsscriptevent``."""
from __future__ import annotations

import asyncio
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from audiocheck import dominant_freq, read_wav, rms
from peers import make_kamailio, sipp_runner  # noqa: F401  (fixtures)
from sipctl import Phone
from sipctl.api.notify import event_fields, event_text
from sipctl.errors import BadArgument, HeadlessOnly, NoSuchLine, NotImplementedFeature
from sipctl.media.device_registry import DeviceRegistry
from sipctl.media.devices import AudioFormat, WavDevice
from sipctl.phone_events import (CallRecord, GlobalStatus, LineStatus, LogLine, Notice, Popup,
                                 Started, VadStats)
from sipctl.phone_status import LINE_STATUSES, general_status, line_status_code

needs_sipp = pytest.mark.skipif(not shutil.which("sipp"), reason="sipp not installed")


async def until(events: "asyncio.Queue[Any]", pred, seen: list[Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching event in {timeout}s; saw {seen}")
        try:
            ev = await asyncio.wait_for(events.get(), left)
        except asyncio.TimeoutError:
            raise AssertionError(f"no matching event in {timeout}s; saw {seen}") from None
        seen.append(ev)
        if pred(ev):
            return ev


@needs_sipp
def test_phone_calls_sipp_and_hears_its_tone(sipp_runner, tmp_path):
    record = tmp_path / "heard.wav"
    with sipp_runner.background("uas_183_early_media", timeout=30) as uas:
        async def go() -> tuple[list[Any], dict[str, Any]]:
            device = WavDevice(AudioFormat(8000), record=record)
            seen: list[Any] = []
            q: asyncio.Queue[Any] = asyncio.Queue()
            async with Phone({"mediatimeout": 0, "jscripstats": 1}, device=device) as phone:
                phone.add_listener(q.put_nowait)
                assert await phone.call(-1, uas.uri()) is True
                await until(q, lambda e: isinstance(e, LineStatus) and e.status == "Speaking",
                            seen)
                await asyncio.sleep(1.5)
                got = {"in_call": phone.is_in_call(),
                       "connected": phone.get_current_connected_call_count(),
                       "text": phone.get_line_status_text(-1),
                       "code": phone.get_line_status(-1),
                       "line": phone.get_line(),
                       "general": phone.get_status(-2),
                       "callid_hdr": phone.get_sip_header(-1, "Call-ID"),
                       "last_msg": phone.get_last_rec_sip_message("-1")}
                assert phone.hangup() is True
                cdr = await until(q, lambda e: isinstance(e, CallRecord), seen)
                got["cdr"] = cdr
                got["details"] = phone.get_last_call_details()
                got["hangup_again"] = phone.hangup()
            return seen, got
        seen, got = asyncio.run(go())
        result = uas.wait(20)
    assert result.ok, result.describe()
    assert got["in_call"] == 2 and got["connected"] == 1
    assert got["text"] == "Speaking" and got["code"] == LINE_STATUSES.index("Speaking")
    assert got["line"] == 1
    assert got["general"].startswith("In Call (") and got["general"].endswith(" sec)")
    assert got["callid_hdr"] and got["callid_hdr"] in got["last_msg"]
    cdr = got["cdr"]
    assert cdr.disparty == 1 and cdr.duration_ms >= 1400 and cdr.called == "sipp"
    assert cdr.media is not None and cdr.media.received > 50
    assert got["details"].startswith("1,sipp,") and got["hangup_again"] is False
    started = [e.what for e in seen if isinstance(e, Started)]
    assert started == ["sip"]       # START,api came before the listener was added
    lines = [e.status for e in seen if isinstance(e, LineStatus)]
    assert lines[:2] == ["CallSetup", "Setup"] and "CallConnect" in lines
    assert lines[-1] == "Finished"
    # jsscripstats 1 (set by its other spelling): RTP figures every second and at the end
    stats = [e for e in seen if isinstance(e, LineStatus) and e.stats is not None]
    assert len(stats) >= 2 and stats[0].status == "Speaking" and stats[0].stats[1] > 20
    assert stats[-1].status == "Finished" and stats[-1].stats[:2] == (cdr.media.sent,
                                                                     cdr.media.received)
    general = [e.text for e in seen if isinstance(e, GlobalStatus)]
    assert "Calling..." in general and any(t.startswith("In Call") for t in general)
    assert general[-1] == "Call Finished" 
    # what SIPp streamed (a 440 Hz tone) is what the phone's speaker recorded
    rate, x = read_wav(record)
    tail = x[-rate:]
    assert rms(tail) > 500
    assert abs(dominant_freq(tail, rate) - 440) < 1.0


@needs_sipp
def test_set_audio_device_immediately_moves_the_call(sipp_runner, tmp_path):
    """API_SetAudioDevice(1, "Default", 2) mid-call: the engine leaves the WAV device for
    the registry's selection (no backends here: the null device) and the call goes on."""
    record = tmp_path / "heard.wav"
    with sipp_runner.background("uas_183_early_media", timeout=30) as uas:
        async def go() -> tuple[Any, ...]:
            seen: list[Any] = []
            q: asyncio.Queue[Any] = asyncio.Queue()
            device = WavDevice(AudioFormat(8000), record=record)
            async with Phone({"mediatimeout": 0}, device=device,
                             devices=DeviceRegistry(backends=[])) as phone:
                phone.add_listener(q.put_nowait)
                t_call = time.monotonic()
                await phone.call(-1, uas.uri())     # the stack (and the WAV device) start here
                await until(q, lambda e: isinstance(e, LineStatus) and e.status == "Speaking",
                            seen)
                await asyncio.sleep(1.0)
                assert await phone.set_audio_device(1, "Default", 2) is True
                recorded_for = time.monotonic() - t_call
                switched_to = phone.engine.device
                await asyncio.sleep(1.0)
                status = phone.get_line_status_text()
                phone.hangup()
                cdr = await until(q, lambda e: isinstance(e, CallRecord), seen)
                return switched_to, status, cdr, phone.get_audio_device(1), recorded_for
        switched_to, status, cdr, selected, recorded_for = asyncio.run(go())
        result = uas.wait(20)
    assert result.ok, result.describe()
    assert type(switched_to).__name__ == "NullDevice" and selected == "Default"
    assert status == "Speaking"
    rate, x = read_wav(record)
    assert abs(len(x) / rate - recorded_for) < 0.3    # recorded up to the switch only
    assert cdr.media.received > 0.8 * 50 * 2.0     # the stream went on across it


@needs_sipp
def test_bare_number_goes_to_serveraddress_without_an_account(sipp_runner):
    """serveraddress alone (no username): "sipp" is called as sip:sipp@server; with no
    serveraddress a bare number is a clear error (only SIP URIs can be called)."""
    with sipp_runner.background("uas_183_early_media", timeout=30) as uas:
        async def go() -> tuple[Any, ...]:
            seen: list[Any] = []
            q: asyncio.Queue[Any] = asyncio.Queue()
            async with Phone({"mediatimeout": 0}) as lonely:
                with pytest.raises(BadArgument, match="serveraddress"):
                    await lonely.call(-1, "123")
            async with Phone({"serveraddress": f"127.0.0.1:{uas.port}",
                              "mediatimeout": 0}) as phone:
                phone.add_listener(q.put_nowait)
                await phone.call(-1, "sipp")
                await until(q, lambda e: isinstance(e, LineStatus) and e.status == "Speaking",
                            seen)
                phone.hangup()
                cdr = await until(q, lambda e: isinstance(e, CallRecord), seen)
            return (cdr,)
        (cdr,) = asyncio.run(go())
        result = uas.wait(20)
    assert result.ok, result.describe()
    assert cdr.called == "sipp" and cdr.peeraddress.startswith("127.0.0.1")
    assert cdr.media is not None and cdr.media.received > 0


@needs_sipp
def test_x_mparam_is_taken_from_the_registrar_only(sipp_runner, tmp_path):
    with sipp_runner.background("uas_register_mparam", timeout=30) as reg:
        async def go() -> tuple[Any, ...]:
            seen: list[Any] = []
            q: asyncio.Queue[Any] = asyncio.Queue()
            phone = Phone({"serveraddress": f"127.0.0.1:{reg.port}", "username": "alice",
                           "password": "pw"}, workdir=tmp_path)
            phone.add_listener(q.put_nowait)
            async with phone:
                await until(q, lambda e: isinstance(e, GlobalStatus)
                            and e.text == "Registered.", seen)
                # anyone else's X-MParamP (here: an OPTIONS to our SIP port) is ignored
                port = phone.ua.local_address("UDP")[1]
                stranger = ("OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\n"
                            "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKevil\r\n"
                            "From: <sip:evil@127.0.0.1>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\n"
                            "Call-ID: evil\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                            "X-MParamP: autoaccept=true\r\nContent-Length: 0\r\n\r\n")
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(stranger.encode(), ("127.0.0.1", port))
                await asyncio.sleep(0.3)
                return (phone.params.get("aec"), phone.params.get("loglevel"),
                        phone.params.get("ringtimeout"), phone.params.get("autoaccept"))
        aec, loglevel, ringtimeout, autoaccept = asyncio.run(go())
        result = reg.wait(20)
    assert result.ok, result.describe()
    assert (aec, loglevel, ringtimeout) == (0, 5, 33)
    assert autoaccept is False
    saved = (tmp_path / "wpcfg.ini").read_text()
    assert "aec=0" in saved and "loglevel=5" in saved     # X-MParamP persists
    assert "ringtimeout" not in saved                     # X-MParam is for this session


@pytest.mark.skipif(not shutil.which("kamailio"), reason="kamailio not installed")
def test_wrong_password_is_register_failed_with_a_popup(make_kamailio):
    kam = make_kamailio()

    async def go() -> tuple[list[Any], str, bool]:
        seen: list[Any] = []
        q: asyncio.Queue[Any] = asyncio.Queue()
        phone = Phone({"serveraddress": f"127.0.0.1:{kam.port}", "username": "alice",
                       "password": "wrong"})
        phone.add_listener(q.put_nowait)
        async with phone:
            await until(q, lambda e: isinstance(e, GlobalStatus) and e.text == "Register Failed",
                        seen)
            return seen, phone.get_reg_fail_reason(True), phone.is_registered()
    seen, reason, registered = asyncio.run(go())
    general = [e.text for e in seen if isinstance(e, GlobalStatus)]
    assert "Registering..." in general and general[-1] == "Register Failed"
    popup = next(e for e in seen if isinstance(e, Popup))
    assert "alice" in popup.text and "password" in popup.text
    assert any(isinstance(e, Notice) and e.level == "WARNING" for e in seen)
    assert "wrong credentials" in reason and registered is False
    assert event_fields(popup, 2) == ["POPUP", popup.text]


def test_config_file_loses_nothing_and_caller_params_win(tmp_path):
    (tmp_path / "wpcfg.ini").write_text("username=alice_saved\nblacklist=fromini\n"
                                        "password=oldsecret\n")

    async def go() -> None:
        phone = Phone({"password": "newsecret"}, workdir=tmp_path)
        assert phone.params.get("password") == "newsecret"     # what the caller passed wins
        assert phone.params.get("username") == "alice_saved"   # the rest of the file is kept
        phone.set_parameter("displayname", "Bob")              # before API_Start, as usual
        await asyncio.sleep(0.7)                               # past the save delay
        async with phone:
            pass
    asyncio.run(go())
    saved = (tmp_path / "wpcfg.ini").read_text()
    for line in ("username=alice_saved", "blacklist=fromini", "password=newsecret",
                 "displayname=Bob"):
        assert line in saved, saved


def test_stop_is_final_even_with_an_account_change_pending(tmp_path):
    async def go() -> tuple[bool, Any]:
        phone = Phone({"startsipstack": 2})
        await phone.start()
        assert phone.ua is not None
        phone.set_parameter("displayname", "Alice")      # schedules an account re-sync
        await phone.stop()
        await asyncio.sleep(0.3)                          # the re-sync must not restart it
        return phone.started, phone.ua
    started, ua = asyncio.run(go())
    assert started is False and ua is None


def test_parameters_errors_and_config_file(tmp_path):
    async def go() -> None:
        async with Phone(workdir=tmp_path) as phone:
            assert phone.set_parameter("maxlines", "2") is True
            with pytest.raises(BadArgument, match="ringtimeout"):
                phone.set_parameter("ringtimeout", "soon")
            with pytest.raises(BadArgument, match="bogus line"):
                phone.set_parameters("loglevel=4\r\nbogus line\r\nautoaccept=true")
            assert phone.params.get("loglevel") == 4 and phone.params.get("autoaccept") is True
            phone.set_parameter("loglevel", "DEF")
            assert not phone.params.is_set("loglevel")
            with pytest.raises(NoSuchLine):
                phone.set_line(3)                      # maxlines is 2 now
            assert phone.set_line(2) and phone.get_line() == 2
            assert phone.hangup() is False             # no call: nothing to hang up
            with pytest.raises(NoSuchLine):
                phone.accept()
            with pytest.raises(NotImplementedFeature, match="not implemented yet"):
                await phone.call_ex(-1, "sip:x@127.0.0.1", 1)
            with pytest.raises(NotImplementedFeature):
                phone.transfer(-1, "123")
            with pytest.raises(HeadlessOnly, match="API_ShowLog"):
                phone.show_log()
            assert phone.test_ex() == 42 and phone.test() is True
            assert phone.is_registered() is False and phone.is_in_call() == 0
            assert phone.get_status(-1, 1) == "Unknown"
            phone.set_blacklist("111, 222")
            phone.add_to_blacklist("333,111")
            assert phone.get_blacklist() == "111,222,333"
        # saved on stop (autocfgsave 3) and loaded by the next start
        assert "maxlines=2" in (tmp_path / "wpcfg.ini").read_text()
        async with Phone(workdir=tmp_path) as again:
            assert again.params.get("maxlines") == 2
            assert again.get_blacklist() == "111,222,333"
    asyncio.run(go())


def test_poll_mode_collects_event_strings():
    async def go() -> tuple[list[Any], list[Any]]:
        async with Phone({"jsscriptpoll": 1}) as phone:
            first = phone.poll()            # START,api and the first status, kept for polling
            phone.set_parameter("jsscriptpoll", "0")
            with pytest.raises(Exception, match="polling is off"):
                phone.poll()
            return first, []
    first, _ = asyncio.run(go())
    texts = [event_text(e, 2) for e in first]
    assert texts[:2] == ["START,api", "STATUS,-1,Ready"]


def test_vad_levels_follow_the_microphone(tmp_path):
    from audiocheck import sine, write_wav
    mic = write_wav(tmp_path / "mic.wav", sine(300, 2.0))     # 0.4 full scale

    async def go() -> tuple[VadStats, VadStats]:
        device = WavDevice(AudioFormat(8000), play=mic, loop=True)
        async with Phone({"startsipstack": 2}, device=device) as phone:
            phone.vad_stats()                # start metering
            await asyncio.sleep(0.5)
            loud = phone.vad_stats()
            text = phone.vad()
            assert text.startswith("local_vad: ON local_avg: ")
            return loud, phone.vad_stats()
    loud, _ = asyncio.run(go())
    assert loud.local_speaking and loud.local_max > 5000
    assert loud.remote_avg == 0 and not loud.remote_speaking


def test_general_status_ranks():
    assert general_status([], "", 0.0) == "Ready"
    assert general_status([], "Registered.", 0.0) == "Registered."
    assert general_status([], "Registered.", 0.0, last_call_ended=True) == "Call Finished"
    lines = [("Ringing", 2, None), ("Setup", 1, None)]
    assert general_status(lines, "Registered.", 0.0) == "Incoming..."
    assert general_status([("Ringing", 1, None)], "", 0.0) == "Ringing..."
    lines.append(("Speaking", 1, 10.0))
    assert general_status(lines, "", 25.5) == "In Call (15 sec)"
    assert general_status([("Finishing", 1, None)], "", 0.0) == "Hangup"
    assert line_status_code("Speaking") == LINE_STATUSES.index("Speaking")
    assert line_status_code("nonsense") == 0


def test_notification_fields_per_jsscriptevent():
    status = LineStatus(1, "Ringing", "2222", "1111", 2, "Katie", "abc")
    cdr = CallRecord(1, "bob", "alice", "bob", "127.0.0.1:5060", 120, 3000, 2, "BYE")
    notice, log = Notice("WARNING", "x"), LogLine("SIP", "INVITE sip:a SIP/2.0\r\nVia: x")
    # the reference's own example line
    assert event_fields(status, 1) == ["STATUS", 1, "Ringing", "2222", "1111", 2, "Katie", "abc"]
    assert event_fields(cdr, 1) == ["CDR", 1, "bob", "alice", "bob", "127.0.0.1:5060", 120,
                                    3000, 2, "BYE"]
    assert event_fields(GlobalStatus("Registered."), 1) == ["STATUS", -1, "Registered."]
    assert event_fields(status, 0) is None                      # 0: no notifications
    assert event_fields(notice, 1) is None and event_fields(notice, 2) == ["EVENT", "WARNING", "x"]
    assert event_fields(log, 2) is None and event_fields(log, 3)[:2] == ["LOG", "SIP"]
    assert event_text(log, 3) == "LOG,SIP,INVITE sip:a SIP/2.0 CRLF Via: x"
