"""RTCP (sipctl.media.rtcp): golden SR/RR bytes built by hand from RFC 3550 6.4, round trips,
compound validation (A.2), reception statistics (A.3), RTT (6.4.1), report intervals (A.7)."""
import random

import pytest

from _media.rtp import JitterEstimator
from sipctl.media import rtcp
from sipctl.media.rtcp import (
    Bye, ReceiverReport, ReceiverStats, ReportBlock, RtcpParseError, RtcpSession, SdesChunk,
    SenderReport, SenderStats, SourceDescription, UnknownPacket,
)

# --------------------------------------------------------------------------- golden vectors

# RFC 3550 6.4.1 figure: V=2 P=0 RC=1 | PT=200 | length=12 (52 octets)
SR_GOLDEN = bytes.fromhex(
    "81 c8 000c"
    "01020304"              # SSRC of sender
    "e1a2b3c4 80000000"     # NTP timestamp msw / lsw
    "00001f40"              # RTP timestamp 8000
    "00000064"              # sender's packet count 100
    "00003e80"              # sender's octet count 16000
    # report block: SSRC_1 | fraction 0x40 | cumulative -3 | ext highest seq | jitter | LSR | DLSR
    "deadbeef 40fffffd 00010005 00000010 b3c48000 00018000")
SR_OBJ = SenderReport(0x01020304, 0xE1A2B3C4_80000000, 8000, 100, 16000, (
    ReportBlock(0xDEADBEEF, 0x40, -3, 0x10005, 16, 0xB3C48000, 0x18000),))

# RFC 3550 6.4.2: V=2 P=0 RC=0 | PT=201 | length=1
RR_EMPTY = bytes.fromhex("80 c9 0001 cafebabe")
# RR with one block, cumulative lost 0x012345, fraction 255
RR_ONE = bytes.fromhex("81 c9 0007 cafebabe 00000001 ff012345 0000ffff 00000000 00000000 00000000")
# SDES (6.5): SC=1, CNAME "ab" -> item 01 02 'a' 'b' fills a word, so END 00 + 3 pad octets
# take one more word; length 3
SDES_CNAME = bytes.fromhex("81 ca 0003 cafebabe 0102 6162 00000000")
# BYE (6.6): SC=1, reason "bye" -> 03 'b' 'y' 'e'
BYE_REASON = bytes.fromhex("81 cb 0002 cafebabe 03 627965")


def test_golden_sender_report():
    assert SR_OBJ.serialize() == SR_GOLDEN
    assert rtcp.parse_packet(SR_GOLDEN) == SR_OBJ
    assert rtcp.parse_compound(SR_GOLDEN) == [SR_OBJ]


def test_golden_receiver_reports():
    assert ReceiverReport(0xCAFEBABE).serialize() == RR_EMPTY
    assert rtcp.parse_packet(RR_EMPTY) == ReceiverReport(0xCAFEBABE)
    rr = ReceiverReport(0xCAFEBABE, (ReportBlock(1, 255, 0x012345, 0xFFFF, 0),))
    assert rr.serialize() == RR_ONE
    assert rtcp.parse_packet(RR_ONE) == rr


def test_golden_sdes_and_bye():
    sdes = SourceDescription.cname(0xCAFEBABE, "ab")
    assert sdes.serialize() == SDES_CNAME
    parsed = rtcp.parse_packet(SDES_CNAME)
    assert parsed == sdes and parsed.chunks[0].cname == "ab"
    bye = Bye((0xCAFEBABE,), "bye")
    assert bye.serialize() == BYE_REASON
    assert rtcp.parse_packet(BYE_REASON) == bye
    assert Bye((1, 2)).serialize() == bytes.fromhex("82 cb 0002 00000001 00000002")


@pytest.mark.parametrize("name", ["", "a", "abc", "abcd", "user@host.example"])
def test_sdes_padding_round_trip(name):
    pkt = SourceDescription((SdesChunk(7, ((rtcp.SDES_CNAME, name.encode()),
                                           (rtcp.SDES_TOOL, b"sipctl"))),
                             SourceDescription.cname(8, name).chunks[0]))
    data = pkt.serialize()
    assert len(data) % 4 == 0
    assert rtcp.parse_packet(data) == pkt


def test_compound_round_trip_and_unknown_packets():
    app = UnknownPacket(rtcp.PT_APP, 1, b"\x00\x00\x00\x01name")
    pkts = [SR_OBJ, SourceDescription.cname(0x01020304, "me@host"), app, Bye((0x01020304,))]
    data = rtcp.build_compound(pkts)
    assert rtcp.parse_compound(data) == pkts
    with pytest.raises(ValueError):
        rtcp.build_compound([SourceDescription.cname(1, "x")])
    with pytest.raises(ValueError):
        rtcp.build_compound([])


def test_cumulative_lost_sign_and_range():
    for v in (-0x800000, -1, 0, 1, 0x7FFFFF):
        b = ReportBlock(1, 0, v, 0, 0)
        assert ReportBlock.parse(b.serialize()) == b
    with pytest.raises(ValueError):
        ReportBlock(1, 0, 0x800000, 0, 0).serialize()
    with pytest.raises(ValueError):
        ReportBlock(1, 256, 0, 0, 0).serialize()


def test_padding_on_last_packet():
    # RR with 4 octets of padding (P=1, last octet = 4)
    data = bytes.fromhex("a0 c9 0002 cafebabe 00000004")
    assert rtcp.parse_compound(data) == [ReceiverReport(0xCAFEBABE)]


# --------------------------------------------------------------------------- validation (A.2)

BAD = {
    "empty": b"",
    "short header": b"\x80\xc9\x00",
    "version 1": bytes.fromhex("40 c9 0001 cafebabe"),
    "length overruns": bytes.fromhex("80 c9 0005 cafebabe"),
    "trailing octets": RR_EMPTY + b"\x81",
    "first is SDES": SDES_CNAME,
    "padding not last": bytes.fromhex("a0 c9 0002 cafebabe 00000004") + SDES_CNAME,
    "zero padding count": bytes.fromhex("a0 c9 0002 cafebabe 00000000"),
    "padding too large": bytes.fromhex("a0 c9 0001 cafebabe"),
    "SR blocks missing": bytes.fromhex("81 c8 0006 01020304 e1a2b3c4 80000000 00001f40 "
                                       "00000064 00003e80"),
    "RR block truncated": bytes.fromhex("81 c9 0002 cafebabe 00000001"),
    "SDES item overruns": RR_EMPTY + bytes.fromhex("81 ca 0002 cafebabe 0109 6162"),
    "SDES without END": RR_EMPTY + bytes.fromhex("81 ca 0002 cafebabe 0102 6162"),
    "SDES count too big": RR_EMPTY + bytes.fromhex("82 ca 0003 cafebabe 0102 6162 00000000"),
    "BYE count too big": RR_EMPTY + bytes.fromhex("82 cb 0001 cafebabe"),
    "BYE reason overruns": RR_EMPTY + bytes.fromhex("81 cb 0002 cafebabe 09 627965"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_malformed_compound_raises_value_error(name):
    with pytest.raises(RtcpParseError):
        rtcp.parse_compound(BAD[name])
    assert issubclass(RtcpParseError, ValueError)


def test_non_strict_accepts_sdes_first():
    assert rtcp.parse_compound(SDES_CNAME, strict=False)[0].chunks[0].cname == "ab"


def test_mutations_only_raise_value_error():
    good = rtcp.build_compound([SR_OBJ, SourceDescription.cname(0x01020304, "me@host"),
                                Bye((0x01020304,), "done")])
    rng = random.Random(1234)
    cases = [good[:n] for n in range(len(good))]
    for _ in range(3000):
        b = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        cases.append(bytes(b))
    for c in cases:
        try:
            rtcp.parse_compound(c)
        except ValueError:
            pass


# --------------------------------------------------------------------------- receiver stats

def feed(stats, seqs, t0=0.0, base_ts=0):
    for i, s in enumerate(seqs):
        stats.on_rtp(s & 0xFFFF, (base_ts + (s - 1000) * 160) & 0xFFFFFFFF, t0 + i * 0.02, 160)


def test_fraction_and_cumulative_loss_with_reorder_and_duplicates():
    st = ReceiverStats(0xAAAA, 8000)
    # 1000..1019: 1005 and 1006 lost, 1010 duplicated, 1012/1013 swapped
    seqs = [s for s in range(1000, 1020) if s not in (1005, 1006)]
    i = seqs.index(1012)
    seqs[i], seqs[i + 1] = seqs[i + 1], seqs[i]
    seqs.insert(seqs.index(1010) + 1, 1010)
    feed(st, seqs)
    assert (st.expected, st.received, st.lost) == (20, 19, 1)   # a duplicate masks a loss
    b = st.report_block(now=1.0)
    assert b.ssrc == 0xAAAA and b.highest_seq == 1019
    assert b.cumulative_lost == 1 and b.fraction_lost == (1 << 8) // 20
    assert (b.lsr, b.dlsr) == (0, 0)
    # next interval: 1020..1029 with 1021-1023 lost
    feed(st, [1020] + list(range(1024, 1030)), t0=1.0)
    b = st.report_block(now=2.0)
    assert b.highest_seq == 1029 and b.cumulative_lost == 4
    assert b.fraction_lost == (3 << 8) // 10
    # empty interval: nothing expected, nothing lost
    assert st.report_block(now=3.0).fraction_lost == 0


def test_duplicates_give_zero_fraction_and_negative_cumulative():
    st = ReceiverStats(1, 8000)
    feed(st, [1000, 1001, 1001, 1002, 1002, 1002])
    b = st.report_block(0.0)
    assert b.fraction_lost == 0 and b.cumulative_lost == -3


def test_extended_sequence_across_wrap():
    st = ReceiverStats(1, 8000)
    for i, s in enumerate([65533, 65534, 65535, 0, 2, 3]):
        st.on_rtp(s, i * 160, i * 0.02)
    b = st.report_block(0.2)
    assert b.highest_seq == 65536 + 3
    assert b.cumulative_lost == 1 and b.fraction_lost == 256 // 7


def test_cumulative_lost_clamped_to_24_bits():
    st = ReceiverStats(1, 8000)
    seq = 0
    for i in range(3000):           # jumps just below MAX_DROPOUT: ~2998 lost per packet
        st.on_rtp(seq, i * 160, i * 0.02)
        seq = (seq + 2999) & 0xFFFF
    assert st.lost > 0x7FFFFF
    b = st.report_block(100.0)
    assert b.cumulative_lost == 0x7FFFFF
    assert ReportBlock.parse(b.serialize()) == b


def test_jitter_passthrough():
    st = ReceiverStats(1, 8000)
    ref = JitterEstimator(8000)
    rng = random.Random(7)
    for i in range(200):
        t = i * 0.02 + rng.uniform(0, 0.015)
        st.on_rtp(i, i * 160, t)
        ref.update(i * 160, t)
    assert st.jitter == ref.jitter and st.jitter_ms == ref.jitter_ms
    assert st.report_block(5.0).jitter == int(ref.jitter) > 0


def test_lsr_dlsr_and_rtt():
    wall_sr = 1_700_000_000.25
    sr = SenderReport(9, rtcp.unix_to_ntp(wall_sr), 0, 1, 160)
    st = ReceiverStats(9, 8000)
    st.on_rtp(1, 0, 0.0)
    st.on_sender_report(sr, now=10.0)
    b = st.report_block(now=10.75)                    # held 0.75 s before reporting
    assert b.lsr == rtcp.ntp_middle32(sr.ntp_timestamp)
    assert b.dlsr == int(0.75 * 65536)
    # the report reaches the SR sender 0.75 s + 2 * 40 ms after it sent the SR
    arrival = rtcp.unix_to_ntp(wall_sr + 0.75 + 0.080)
    assert rtcp.round_trip_time(b, arrival) == pytest.approx(0.080, abs=2 / 65536)
    assert rtcp.round_trip_time(ReportBlock(9, 0, 0, 0, 0), arrival) is None
    assert rtcp.round_trip_time(b, rtcp.unix_to_ntp(wall_sr)) == 0.0   # negative -> 0


def test_ntp_helpers():
    assert rtcp.unix_to_ntp(0.0) == rtcp.NTP_UNIX_OFFSET << 32
    assert rtcp.unix_to_ntp(1.5) & 0xFFFFFFFF == 0x80000000
    assert rtcp.ntp_to_unix(rtcp.unix_to_ntp(1234.5678)) == pytest.approx(1234.5678, abs=1e-6)
    assert rtcp.ntp_middle32(0xE1A2B3C4_80000000) == 0xB3C48000
    assert rtcp.ntp_short_to_seconds(rtcp.seconds_to_ntp_short(1.5)) == 1.5


def test_sender_stats():
    s = SenderStats(8000)
    for i in range(50):
        s.on_rtp(160, 1000 + i * 160, i * 0.02)
    sr = s.sender_report(0x1234, now=49 * 0.02 + 0.01, wallclock=1000.0)
    assert (sr.packet_count, sr.octet_count) == (50, 8000)
    assert sr.rtp_timestamp == 1000 + 49 * 160 + 80
    assert sr.ntp_timestamp == rtcp.unix_to_ntp(1000.0)


# --------------------------------------------------------------------------- intervals (6.3)

def test_rtcp_interval_minimum_and_randomisation():
    c = rtcp.COMPENSATION
    bw = 64000 * 0.05 / 8
    assert rtcp.rtcp_interval(2, 1, bw, True, 100, True, lambda: 0.5) == pytest.approx(2.5 / c)
    assert rtcp.rtcp_interval(2, 1, bw, True, 100, False, lambda: 0.5) == pytest.approx(5 / c)
    assert rtcp.rtcp_interval(2, 1, bw, True, 100, False, lambda: 0.0) == pytest.approx(2.5 / c)
    assert rtcp.rtcp_interval(2, 1, bw, True, 100, False, lambda: 1.0) == pytest.approx(7.5 / c)
    with pytest.raises(ValueError):
        rtcp.rtcp_interval(2, 1, bw, True, 100, False, lambda: 2.0)


def test_rtcp_interval_scales_with_members():
    bw = 400.0
    # 1000 members, 1 sender, we are a receiver: 75 % of the bandwidth shared by 999
    t = rtcp.rtcp_interval(1000, 1, bw, False, 100, False, lambda: 0.5)
    assert t == pytest.approx(100 * 999 / (0.75 * bw) / rtcp.COMPENSATION)
    # we are the only sender: 25 % of the bandwidth for 1 sender -> the 5 s minimum
    t = rtcp.rtcp_interval(1000, 1, bw, True, 100, False, lambda: 0.5)
    assert t == pytest.approx(5 / rtcp.COMPENSATION)
    # senders above a quarter of the members: everyone shares the whole bandwidth
    t = rtcp.rtcp_interval(100, 50, bw, True, 100, False, lambda: 0.5)
    assert t == pytest.approx(100 * 100 / bw / rtcp.COMPENSATION)


def test_session_schedule_rr_then_sr():
    s = RtcpSession(0x1111, "a@host", 8000, now=0.0, rand=lambda: 0.5)
    first = s.get_timer()
    assert first == pytest.approx(2.5 / rtcp.COMPENSATION)
    assert s.handle_timer(first - 0.01) is None
    pkts = rtcp.parse_compound(s.handle_timer(first))
    assert isinstance(pkts[0], ReceiverReport) and pkts[1].chunks[0].cname == "a@host"
    assert s.get_timer() == pytest.approx(first + 5 / rtcp.COMPENSATION)
    s.on_rtp_sent(160, 0, first + 1)
    pkts = rtcp.parse_compound(s.handle_timer(s.get_timer()))
    assert isinstance(pkts[0], SenderReport) and pkts[0].packet_count == 1


def test_session_timer_reconsideration_when_members_grow():
    s = RtcpSession(0x1111, "a@host", 8000, now=0.0, rand=lambda: 0.5)
    tn = s.get_timer()
    for ssrc in range(1, 501):
        s.receive(ReceiverReport(ssrc).serialize(), now=1.0)
    assert s.member_count == 501
    assert s.handle_timer(tn) is None
    assert s.get_timer() > tn + 10
    assert s.handle_timer(s.get_timer()) is not None    # sent: pmembers = 501 (A.7)
    # everybody leaves: reverse reconsideration pulls the timer back in
    later = s.get_timer()
    byes = [Bye(tuple(range(i, min(i + 31, 501)))) for i in range(1, 501, 31)]
    s.receive(rtcp.build_compound([ReceiverReport(1), *byes]), now=2.0)
    assert s.member_count == 1 and s.get_timer() < later


def test_two_sessions_in_memory_rtt_and_summary():
    """A sends 20 ms packets to B (40 ms one way, 1 in 10 lost); both exchange RTCP."""
    delay = 0.040
    a = RtcpSession(0xA, "a@x", 8000, now=0.0, rand=lambda: 0.5, wallclock_offset=1e9)
    b = RtcpSession(0xB, "b@x", 8000, now=0.0, rand=lambda: 0.5, wallclock_offset=1e9)
    inflight = []                                      # (deliver_at, dst, data)
    t = 0.0
    seq = 0
    for step in range(1500):                           # 30 s
        t = step * 0.02
        a.on_rtp_sent(160, seq * 160, t)
        if seq % 10 != 9:
            b.on_rtp_received(0xA, seq, seq * 160, t + delay, 160)
        seq += 1
        for src, dst in ((a, b), (b, a)):
            data = src.handle_timer(t)
            if data is not None:
                inflight.append((t + delay, dst, data))
        for item in [i for i in inflight if i[0] <= t]:
            inflight.remove(item)
            item[1].receive(item[2], item[0])
    assert a.rtt is not None and a.rtt == pytest.approx(2 * delay, abs=0.002)
    sb = b.summary()
    # seqs 0..1499 sent, every seq % 10 == 9 lost: 1350 received, highest 1498 -> 1499 expected
    assert (sb.received, sb.lost) == (1350, 149)
    assert sb.loss_percent == pytest.approx(100 * 149 / 1499)
    sa = a.summary()
    assert sa.sent == 1500 and sa.received == 0 and sa.rtt_ms == pytest.approx(80, abs=2)
    assert sa.remote_fraction_lost == pytest.approx(0.1, abs=0.02)
    assert sa.remote_lost > 0
    line = sb.stats_line()
    assert line.startswith("rtp stat: sent 0 rec ") and line.endswith(" 10%.")
    bye = rtcp.parse_compound(a.bye(t, "hangup"))
    assert isinstance(bye[-1], Bye) and bye[-1].reason == "hangup"
