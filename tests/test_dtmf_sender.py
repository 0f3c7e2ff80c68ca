"""DTMF (sipctl.media.dtmf): RFC 4733 event packets, SIP INFO dtmf-relay, dtmfmode 0..4,
the reference's " 12 345 #" pause semantics, and receiver de-duplication. Fake clock only."""
import pytest

from _media.rtp import telephone_event_build
from sipctl.media.dtmf import (
    DtmfDigit, DtmfReceiver, DtmfSender, SendInfo, SendRtpEvent, dtmf_relay_body,
    parse_dtmf_relay,
)

RATE = 8000


def run(sender, until_ms, step_ms=10, ts0=1000):
    """Poll every step_ms from 0; returns [(ms, event)]. RTP clock = ts0 + t * 8000."""
    out = []
    for ms in range(0, until_ms + 1, step_ms):
        for ev in sender.poll(ms / 1000, ts0 + ms * RATE // 1000):
            out.append((ms, ev))
    return out


def starts(events):
    """Start time of each digit: the marker packet or the INFO."""
    return [(ms, ev.digit) for ms, ev in events
            if isinstance(ev, SendInfo) or (isinstance(ev, SendRtpEvent) and ev.marker)]


def test_one_digit_packet_sequence():
    s = DtmfSender(mode=4)
    assert s.send("5", 0.0) is True
    evs = run(s, 300, step_ms=20)
    assert all(isinstance(e, SendRtpEvent) for _, e in evs)
    assert [ms for ms, _ in evs] == [0, 20, 40, 60, 80, 100, 120]
    assert [e.marker for _, e in evs] == [True] + [False] * 6
    assert {e.timestamp for _, e in evs} == {1000}           # event start, whole event
    assert [e.duration for _, e in evs] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for _, e in evs] == [False] * 4 + [True] * 3
    assert all(e.payload_type == 101 and e.digit == "5" for _, e in evs)
    assert [e.payload for _, e in evs] == [
        telephone_event_build(5, e.end, 10, e.duration) for _, e in evs]
    assert evs[-1][1].payload == bytes.fromhex("058a0320")   # E=1, volume 10, 800
    assert s.get_timer() is None and not s.in_event


def test_packet_interval_and_duration_configurable():
    s = DtmfSender(mode=4, duration_ms=90, packet_interval_ms=30, payload_type=96, volume=7)
    s.send("#", 0.0)
    evs = run(s, 300, step_ms=10)
    assert [ms for ms, _ in evs] == [0, 30, 60, 90, 120]
    assert [e.duration for _, e in evs] == [240, 480, 720, 720, 720]
    assert [e.end for _, e in evs] == [False, False, True, True, True]
    assert evs[0][1].payload == telephone_event_build(11, False, 7, 240)


def test_late_poll_emits_backlog_with_start_timestamp():
    s = DtmfSender(mode=4)
    s.send("1", 0.0)
    evs = s.poll(0.050, 5000)                 # first poll 50 ms late
    assert [e.duration for e in evs] == [160, 320, 480]
    assert {e.timestamp for e in evs} == {5000 - 400}
    assert evs[0].marker and s.in_event
    assert s.get_timer() == pytest.approx(0.060)


def test_reference_example_timing_with_pauses():
    """" 12 345 #": each space is a 250 ms pause; digits are 100 ms + 50 ms apart."""
    s = DtmfSender(mode=4)
    s.send(" 12 345 #", 0.0)
    evs = run(s, 2000)
    assert starts(evs) == [(250, "1"), (400, "2"), (800, "3"), (950, "4"), (1100, "5"),
                           (1500, "#")]
    assert sum(1 for _, e in evs if e.end) == 18
    # no event overlaps the next: all packets of a digit are sent before the next marker
    last_end = {}
    for ms, e in evs:
        last_end[e.digit] = ms
    assert last_end["1"] < 400 and last_end["5"] < 1500
    assert s.pending == "" and s.get_timer() is None


def test_send_while_busy_appends_and_idle_restarts_now():
    s = DtmfSender(mode=1, pause_ms=100)
    s.send("1", 0.0)
    assert s.get_timer() == 0.0
    assert [e.digit for e in s.poll(0.0, 0)] == ["1"]
    s.send("2", 0.01)                         # queued behind 1: starts at 150 ms
    assert s.poll(0.1, 0) == [] and s.get_timer() == pytest.approx(0.15)
    assert [e.digit for e in s.poll(0.15, 0)] == ["2"]
    s.send("3", 5.0)                          # idle: starts at once
    assert [e.digit for e in s.poll(5.0, 0)] == ["3"]


def test_mode_1_info_only():
    s = DtmfSender(mode=1)
    s.send("5*", 0.0)
    evs = run(s, 500)
    assert [e for _, e in evs] == [SendInfo("Signal=5\r\nDuration=100\r\n", "5"),
                                   SendInfo("Signal=*\r\nDuration=100\r\n", "*")]
    assert [ms for ms, _ in evs] == [0, 150]
    assert evs[0][1].content_type == "application/dtmf-relay"


def test_mode_2_rfc4733_or_info_fallback():
    s = DtmfSender(mode=2)
    s.send("1", 0.0)
    assert {type(e) for _, e in run(s, 300)} == {SendRtpEvent}
    s = DtmfSender(mode=2, rtp_available=False)
    s.send("1", 0.0)
    assert [type(e) for _, e in run(s, 300)] == [SendInfo]
    # the decision is taken per digit when it starts
    s = DtmfSender(mode=2)
    s.send("12", 0.0)
    first = s.poll(0.0, 0)
    s.rtp_available = False
    rest = [e for _, e in run(s, 500)]
    assert isinstance(first[0], SendRtpEvent)
    assert [e for e in rest if isinstance(e, SendInfo)] == [SendInfo(dtmf_relay_body("2", 100), "2")]


def test_mode_3_both_and_mode_4_rtp_only():
    s = DtmfSender(mode=3)
    s.send("9", 0.0)
    evs = [e for _, e in run(s, 300)]
    assert isinstance(evs[0], SendInfo) and evs[0].body == "Signal=9\r\nDuration=100\r\n"
    assert sum(isinstance(e, SendRtpEvent) for e in evs) == 7
    s = DtmfSender(mode=4, rtp_available=False)
    s.send("9", 0.0)
    assert {type(e) for _, e in run(s, 300)} == {SendRtpEvent}


def test_mode_0_disabled():
    s = DtmfSender(mode=0)
    assert s.send("123", 0.0) is False
    assert s.poll(1.0, 0) == [] and s.get_timer() is None and s.pending == ""


@pytest.mark.parametrize("bad", ["12x", "1,2", "E", "\t", "1\n", "½"])
def test_bad_input_queues_nothing(bad):
    s = DtmfSender(mode=1)
    with pytest.raises(ValueError):
        s.send(bad, 0.0)
    assert s.pending == "" and s.poll(10.0, 0) == []
    with pytest.raises(ValueError):
        DtmfSender(mode=0).send(bad, 0.0)


def test_bad_construction():
    for kw in ({"mode": 5}, {"mode": -1}, {"payload_type": 128}, {"duration_ms": 0},
               {"duration_ms": 9000}, {"volume": 64}, {"end_packets": 0}):
        with pytest.raises(ValueError):
            DtmfSender(**kw)
    with pytest.raises(TypeError):
        DtmfSender().send(5, 0.0)


def test_lowercase_letters_are_sent_uppercase():
    s = DtmfSender(mode=1)
    s.send("a d", 0.0)
    assert [e.body for _, e in run(s, 1000)] == ["Signal=A\r\nDuration=100\r\n",
                                                "Signal=D\r\nDuration=100\r\n"]


# --------------------------------------------------------------------------- receiver

def test_receiver_one_digit_per_event_with_duplicates():
    s = DtmfSender(mode=4)
    s.send("55", 0.0)
    pkts = [e for _, e in run(s, 600, step_ms=20)]
    r = DtmfReceiver()
    got = []
    for p in pkts + pkts[-3:] + pkts[:2]:      # retransmissions and late duplicates
        d = r.receive_rtp(p.payload, p.timestamp)
        if d is not None:
            got.append(d)
    assert [d.digit for d in got] == ["5", "5"]
    assert got[0].timestamp != got[1].timestamp and got[0].method == "rfc4733"


def test_receiver_only_end_packets_arrive():
    r = DtmfReceiver()
    end = telephone_event_build(11, True, 10, 800)
    assert r.receive_rtp(end, 4242) == DtmfDigit("#", "rfc4733", 100, 4242)
    assert r.receive_rtp(end, 4242) is None
    assert r.receive_rtp(telephone_event_build(16, False, 10, 160), 5000) is None  # flash
    with pytest.raises(ValueError):
        r.receive_rtp(b"\x05\x8a", 6000)


def test_sender_to_receiver_reference_example():
    s = DtmfSender(mode=3)
    s.send(" 12 345 #", 0.0)
    r_rtp, r_info = DtmfReceiver(), DtmfReceiver()
    rtp_digits, info_digits = [], []
    for _, e in run(s, 2000):
        if isinstance(e, SendRtpEvent):
            d = r_rtp.receive_rtp(e.payload, e.timestamp)
            if d:
                rtp_digits.append(d.digit)
        else:
            info_digits.append(r_info.receive_info(e.body, e.content_type).digit)
    assert "".join(rtp_digits) == "".join(info_digits) == "12345#"


def test_dtmf_relay_bodies():
    assert dtmf_relay_body("5", 160) == "Signal=5\r\nDuration=160\r\n"
    assert parse_dtmf_relay("Signal=5\r\nDuration=160\r\n") == ("5", 160)
    assert parse_dtmf_relay("signal= #\nduration=250\n") == ("#", 250)
    assert parse_dtmf_relay("Signal=10\r\n") == ("*", None)
    assert parse_dtmf_relay("Signal=11\r\nDuration=100") == ("#", 100)
    assert parse_dtmf_relay("Signal=b\r\nDuration=100") == ("B", 100)
    for bad in ("", "Duration=100\r\n", "Signal=X\r\n", "Signal=12\r\n",
                "Signal=5\r\nDuration=abc\r\n"):
        with pytest.raises(ValueError):
            parse_dtmf_relay(bad)
    with pytest.raises(ValueError):
        dtmf_relay_body("x", 100)


def test_receive_info_content_types():
    r = DtmfReceiver()
    assert r.receive_info("Signal=7\r\nDuration=160\r\n") == DtmfDigit("7", "info", 160)
    assert r.receive_info("Signal=7\r\n", "Application/DTMF-Relay; charset=x").digit == "7"
    assert r.receive_info("#\r\n", "application/dtmf") == DtmfDigit("#", "info")
    with pytest.raises(ValueError):
        r.receive_info("Signal=7", "text/plain")
    with pytest.raises(ValueError):
        r.receive_info("55", "application/dtmf")
