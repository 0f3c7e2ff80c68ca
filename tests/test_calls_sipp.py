"""Call flows against SIPp scenarios (tests/peers/scenarios): CANCEL, busy, early media,
a peer that holds us, ring timeout, media timeout and a malformed 200 OK.

sipctl runs with no account (direct SIP URI calls) and media on a NullDevice; SIPp's exit
code says whether our side followed its script, our events say what we made of it.
"""
from __future__ import annotations

import asyncio
import shutil
import time
from typing import Any

import pytest

from peers import sipp_runner  # noqa: F401  (fixture)
from sipctl.call_events import DISPARTY_LOCAL, DISPARTY_PEER, Cdr, StatusChanged
from sipctl.call_settings import CallSettings
from sipctl.ua import UserAgent
from sipctl.ua_calls import MediaSummary

pytestmark = pytest.mark.skipif(not shutil.which("sipp"), reason="sipp not installed")


def make_ua(params: dict[str, Any] | None = None, **call_kw: Any) -> UserAgent:
    return UserAgent(call_settings=CallSettings(**call_kw), params=params or {})


async def collect(ua: UserAgent, until: type, timeout: float = 15.0) -> list[Any]:
    """Call events up to and including the first ``until`` instance."""
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {until.__name__} within {timeout}s: {out}")
        ev = await ua.next_call_event(left)
        out.append(ev)
        if isinstance(ev, until):
            return out


async def wait_status(ua: UserAgent, status: str, seen: list[Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        ev = await ua.next_call_event(max(0.01, deadline - time.monotonic()))
        seen.append(ev)
        if isinstance(ev, StatusChanged) and ev.status == status:
            return


def statuses(events: list[Any]) -> list[str]:
    return [e.status for e in events if isinstance(e, StatusChanged)]


def test_cancel_while_ringing(sipp_runner):
    with sipp_runner.background("uas_ring_cancel", timeout=20) as uas:
        async def go() -> list[Any]:
            async with make_ua() as ua:
                seen: list[Any] = []
                call = ua.dial(uas.uri())
                await wait_status(ua, "Ringing", seen)
                ua.hangup(call.line)
                seen += await collect(ua, Cdr)
                assert not call.active and ua.lines.free_line() == 1
                return seen
        events = asyncio.run(go())
        result = uas.wait(15)
    assert result.ok, result.describe()
    cdr = events[-1]
    assert cdr.disparty == DISPARTY_LOCAL and cdr.reason == "CANCEL", cdr
    assert statuses(events)[-2:] == ["Finishing", "Finished"] or "Finished" in statuses(events)
    assert [m.method for m in result.received()][:2] == ["INVITE", "CANCEL"]


def test_busy_486(sipp_runner):
    with sipp_runner.background("uas_486", timeout=20) as uas:
        async def go() -> list[Any]:
            async with make_ua() as ua:
                call = ua.dial(uas.uri())
                events = await collect(ua, Cdr)
                assert not call.active
                return events
        events = asyncio.run(go())
        result = uas.wait(15)
    assert result.ok, result.describe()
    cdr = events[-1]
    assert cdr.disparty == DISPARTY_PEER and cdr.reason == "486 Busy Here", cdr
    assert cdr.connecttime_ms == 0 and cdr.duration_ms == 0


@pytest.mark.parametrize("earlymedia", [2, 5])
def test_183_early_media_then_answer(sipp_runner, earlymedia):
    sent_early: list[int] = []
    with sipp_runner.background("uas_183_early_media", timeout=30) as uas:
        async def go() -> list[Any]:
            async with make_ua(earlymedia=earlymedia) as ua:
                seen: list[Any] = []
                call = ua.dial(uas.uri())
                await wait_status(ua, "Ringing", seen)
                await asyncio.sleep(0.6)        # the 200 comes ~1.5 s after the 183
                assert call.status == "Ringing"
                sent_early.append(ua.stream_counters(call.line).audio_sent)
                await wait_status(ua, "Speaking", seen)
                await asyncio.sleep(1.0)
                ua.hangup(call.line)
                seen += await collect(ua, Cdr)
                return seen
        events = asyncio.run(go())
        result = uas.wait(20)
    assert result.ok, result.describe()
    names = [type(e).__name__ for e in events]
    speaking = next(i for i, e in enumerate(events)
                    if isinstance(e, StatusChanged) and e.status == "Speaking")
    # the 183's SDP started media: its RTP was latched before the call was answered
    assert "RtpLatched" in names[:speaking], names
    assert "Ringing" in statuses(events[:speaking]), names
    summary = next(e for e in events if isinstance(e, MediaSummary))
    assert summary.summary.received > 100 and summary.summary.lost == 0, summary
    assert events[-1].media == summary.summary      # the CDR carries the RTP statistics
    # earlymedia 2 (default): early media is received only; 5: our audio goes out too
    if earlymedia == 5:
        assert sent_early[0] >= 20, sent_early
    else:
        assert sent_early[0] == 0, sent_early
    assert events[-1].disparty == DISPARTY_LOCAL


def test_peer_holds_and_resumes(sipp_runner):
    async def go() -> list[Any]:
        async with make_ua(autoaccept=True) as ua:
            host, port = ua.local_address("UDP")
            uac = sipp_runner.background("uac_call_reinvite_hold", remote=(host, port),
                                         service="alice", timeout=30)
            with uac:
                events = await collect(ua, Cdr, timeout=25)
                result = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 20)
            assert result.ok, result.describe()
            return events
    events = asyncio.run(go())
    st = statuses(events)
    assert "Hold" in st and st.index("Hold") > st.index("Speaking"), st
    assert "Speaking" in st[st.index("Hold"):], st
    cdr = events[-1]
    assert cdr.disparty == DISPARTY_PEER and cdr.reason == "BYE", cdr


def test_ring_timeout_cancels(sipp_runner):
    with sipp_runner.background("uas_never_answer", timeout=20) as uas:
        async def go() -> list[Any]:
            async with make_ua(ringtimeout=1500) as ua:
                t0 = time.monotonic()
                ua.dial(uas.uri())
                events = await collect(ua, Cdr)
                assert 1.4 < time.monotonic() - t0 < 5
                return events
        events = asyncio.run(go())
        result = uas.wait(15)
    assert result.ok, result.describe()
    assert events[-1].reason == "ring timeout" and events[-1].disparty == DISPARTY_LOCAL


def test_media_timeout_hangs_up(sipp_runner):
    with sipp_runner.background("uas_media_stops", timeout=40) as uas:
        async def go() -> list[Any]:
            async with make_ua(params={"mediatimeout": 2}) as ua:
                ua.dial(uas.uri())
                return await collect(ua, Cdr, timeout=25)
        events = asyncio.run(go())
        result = uas.wait(15)
    assert result.ok, result.describe()
    assert any(type(e).__name__ == "MediaTimeout" for e in events), events
    cdr = events[-1]
    assert cdr.reason == "media timeout" and cdr.duration_ms >= 2000, cdr
    assert [m.method for m in result.received()][-1] == "BYE"


def test_malformed_200_fails_cleanly(sipp_runner):
    with sipp_runner.background("uas_malformed_200", timeout=20) as uas:
        async def go() -> tuple[list[Any], int]:
            async with make_ua() as ua:
                call = ua.dial(uas.uri())
                events = await collect(ua, Cdr)
                assert not call.active and ua.lines.free_line() == 1
                # the line works again: the next call reaches SIPp's INVITE handling too
                return events, ua.errors
        events, errors = asyncio.run(go())
        uas.stop()
    assert errors == 0
    cdr = events[-1]
    assert "malformed 200 OK" in cdr.reason or cdr.reason.startswith("488"), cdr
    assert "Finished" in statuses(events)


def test_call_to_ourselves_two_lines_one_call_id():
    """Line 1 calls our own address; the INVITE rings on line 2 with the same Call-ID (only
    the tags tell the two dialogs apart). Both connect, and the hangup ends both."""
    async def go() -> list[Any]:
        async with make_ua() as ua:
            host, port = ua.local_address("UDP")
            seen: list[Any] = []
            out = ua.dial(f"sip:me@{host}:{port}")
            await wait_status(ua, "Ringing", seen)
            ringing = [e for e in seen if isinstance(e, StatusChanged) and e.line == 2]
            assert ringing and ringing[-1].status == "Ringing", seen
            ua.accept(2)
            deadline = time.monotonic() + 10
            while not (out.status == "Speaking" and ua.lines.get(2).status == "Speaking"):
                assert time.monotonic() < deadline, (out, ua.lines.get(2))
                seen.append(await ua.next_call_event(5))
            assert ua.lines.get(2).call_id == out.call_id
            ua.hangup(1)
            cdrs: list[Cdr] = []
            while len(cdrs) < 2:
                ev = await ua.next_call_event(10)
                if isinstance(ev, Cdr):
                    cdrs.append(ev)
            return cdrs
    cdrs = sorted(asyncio.run(go()), key=lambda c: c.line)
    assert [c.line for c in cdrs] == [1, 2]
    assert cdrs[0].disparty == DISPARTY_LOCAL and cdrs[1].disparty == DISPARTY_PEER, cdrs
