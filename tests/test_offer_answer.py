"""Codec preferences (sipctl.sip.codecs) and the RFC 3264 offer/answer model
(sipctl.sip.offer_answer) against RFC 4317 / RFC 3264 section 10 golden examples, hold and
unhold both ways, 488 cases and the reference's use_* parameter examples."""
import dataclasses

import pytest

from sipctl.sip.codecs import (
    CATALOGUE,
    IMPLEMENTED,
    TIE_ORDER,
    acceptable_codecs,
    codec_preferences,
    dtmf_uses_rfc2833,
    find_codec,
)
from sipctl.sip.errors import LocalProtocolError, ParseError
from sipctl.sip.offer_answer import (
    MediaConfig,
    NotAcceptable,
    OfferAnswer,
    answer_direction,
    hold_direction,
)
from sipctl.sip.sdp import Direction, SessionDescription

ALL = frozenset(TIE_ORDER)
C = CATALOGUE


def keys(codecs):
    return [c.key for c in codecs]


def rfc(text):
    """RFC example text -> SDP: CRLF line ends; RFC 4317's s= holds a single space."""
    return text.strip("\n").replace("s=\n", "s= \n").replace("\n", "\r\n") + "\r\n"


def bob(*codecs, port=49174, **kw):
    """Bob's side of RFC 4317: host.biloxi.example.com, RFC-style output (no ptime/sendrecv)."""
    cfg = MediaConfig("host.biloxi.example.com", port, tuple(C[k] for k in codecs), username="bob",
                      session_name=" ", write_ptime=False, write_sendrecv=False,
                      telephone_event=kw.pop("telephone_event", False), **kw)
    return OfferAnswer(cfg, 2808844564)


def alice(*codecs, port=49170, **kw):
    cfg = MediaConfig("host.atlanta.example.com", port, tuple(C[k] for k in codecs), username="alice",
                      session_name=" ", write_ptime=False, write_sendrecv=False,
                      telephone_event=kw.pop("telephone_event", False), **kw)
    return OfferAnswer(cfg, 2890844526)


# =========================================================================== codec preferences


def test_default_priorities():
    # parameter defaults: use_g729=2, use_pcma=2, others 1; auto alwaysallowlowcodec adds PCMU
    assert keys(codec_preferences({}, ALL)) == ["g729", "pcma", "pcmu"]
    assert keys(codec_preferences()) == ["pcma", "pcmu"]  # restricted to what _media runs
    assert keys(acceptable_codecs({}, ALL)) == [
        "g729", "pcma", "pcmu", "opus", "speexuwb", "speexwb", "g722", "gsm", "speex", "ilbc"]
    assert keys(acceptable_codecs()) == ["pcma", "pcmu"]


def test_faq_prefer_g729():
    params = {"use_g729": 3, "use_pcmu": 2, "use_pcma": 1, "use_gsm": 2, "use_speex": 1,
              "use_speexwb": 1, "usespeexwb": 1, "use_ilbc": 0}
    assert keys(codec_preferences(params, ALL)) == ["g729", "pcmu", "gsm"]
    acc = keys(acceptable_codecs(params, ALL))
    assert acc[:3] == ["g729", "pcmu", "gsm"] and "pcma" in acc and "ilbc" not in acc
    # with what sipctl runs today G.729 and GSM drop out; PCMA is still accepted, not offered
    assert keys(codec_preferences(params)) == ["pcmu"]
    assert keys(acceptable_codecs(params)) == ["pcmu", "pcma"]


def test_faq_force_only_pcmu():
    params = {"use_pcmu": 3, "use_pcma": 1, "use_g729": 1, "use_gsm": 1, "use_speex": 1,
              "use_speexwb": 1, "use_speexuwb": 1, "use_ilbc": 1}
    assert keys(codec_preferences(params, ALL)) == ["pcmu"]
    assert keys(codec_preferences(params)) == ["pcmu"]
    # "1 = don't offer" still accepts a peer's offer; 0 refuses outright
    assert keys(acceptable_codecs(params)) == ["pcmu", "pcma"]
    assert keys(acceptable_codecs({**params, "use_pcma": 0})) == ["pcmu"]


def test_use_myfavoritecodec_3_goes_first():
    assert keys(codec_preferences({"use_speex": 3}, ALL)) == ["speex", "g729", "pcma"]
    assert keys(codec_preferences({"use_pcmu": "3"})) == ["pcmu", "pcma"]


def test_all_same_priority_uses_tie_order():
    params = {f"use_{k}": 2 for k in ("pcmu", "pcma", "g729", "gsm", "ilbc", "speex", "speexwb",
                                      "speexuwb", "opus", "g722")}
    order = keys(codec_preferences(params, ALL))
    assert order == ["opus", "speexuwb", "speexwb", "g722", "g729", "pcmu", "pcma", "gsm", "speex", "ilbc"]
    # the reference's own list: speex uwb, speex wb, G729, G711, GSM, speex nb, iLBC
    ref = ["speexuwb", "speexwb", "g729", "pcmu", "gsm", "speex", "ilbc"]
    assert [k for k in order if k in ref] == ref
    assert keys(codec_preferences({**params, "use_opus": 3}, ALL))[0] == "opus"


def test_alwaysallowlowcodec():
    assert keys(codec_preferences({"alwaysallowlowcodec": 0}, ALL)) == ["g729", "pcma"]
    assert keys(codec_preferences({"alwaysallowlowcodec": 2}, ALL)) == ["g729", "pcma", "pcmu", "gsm"]
    assert keys(codec_preferences({"alwaysallowlowcodec": 2, "use_pcmu": 0, "use_gsm": 0}, ALL)) == [
        "g729", "pcma"]
    assert "pcmu" not in keys(acceptable_codecs({"use_pcmu": 0}, ALL))
    # auto never adds PCMU when a codec is forced with 3
    assert keys(codec_preferences({"use_pcma": 3, "use_g729": 1}, ALL)) == ["pcma"]


def test_unavailable_codecs_are_never_offered_or_accepted():
    params = {"use_g729": 3, "use_opusuwb": 3, "use_pcma": 0, "use_pcmu": 2}
    assert keys(codec_preferences(params)) == ["pcmu"]
    assert keys(acceptable_codecs(params, {"pcmu", "nonexistent"})) == ["pcmu"]
    assert codec_preferences({"use_pcmu": 0, "use_pcma": 0}) == []


def test_opus_parameters_map_to_one_rtpmap():
    [opus] = codec_preferences({"use_opuswb": 2, "use_pcma": 1, "use_pcmu": 0}, {"opus", "pcma"})
    assert opus.rtpmap == "opus/48000/2" and opus.fmtp == "maxplaybackrate=16000"
    [opus] = codec_preferences({"use_opus": 3, "use_opusuwb": 2}, {"opus"})
    assert opus.fmtp == "maxplaybackrate=8000"  # the band set to the top level
    [opus] = acceptable_codecs({"use_pcma": 0, "use_pcmu": 0, "use_g729": 0}, {"opus"})
    assert opus.fmtp == "maxplaybackrate=48000"
    assert acceptable_codecs({f"use_{b}": 0 for b in ("opus", "opuswb", "opusswb", "opusuwb")},
                             {"opus"}) == []


def test_bad_parameter_values():
    for bad in ({"use_pcmu": 4}, {"use_pcmu": "x"}, {"use_pcmu": -1}, {"alwaysallowlowcodec": 3}):
        with pytest.raises(LocalProtocolError):
            codec_preferences(bad)


def test_ptime_and_framecount():
    assert (C["g729"].ptime(), C["pcmu"].ptime(), C["ilbc"].ptime()) == (20, 20, 30)
    assert (C["g729"].ptime(3), C["pcma"].ptime(2)) == (30, 40)
    with pytest.raises(LocalProtocolError):
        C["pcma"].ptime(-1)
    assert [dtmf_uses_rfc2833(m) for m in range(5)] == [False, False, True, True, True]


def test_catalogue_lookup():
    assert find_codec("pcmu", 8000) is C["pcmu"]
    assert find_codec("SPEEX", 16000).key == "speexwb"
    assert find_codec("opus", 48000, 2).key == "opus" and find_codec("opus", 48000) is None
    assert find_codec("telephone-event", 8000).key == "telephone-event"
    assert find_codec("G723", 8000) is None
    assert C["g722"].rtpmap == "G722/8000" and C["g722"].static_pt == 9


# =========================================================================== RFC 4317 golden


OFFER_2_1 = rfc("""
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0 8 97
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:97 iLBC/8000
m=video 51372 RTP/AVP 31 32
a=rtpmap:31 H261/90000
a=rtpmap:32 MPV/90000
""")


def test_rfc4317_sdps_round_trip():
    for text in [OFFER_2_1, ANSWER_2_2, SECOND_OFFER_2_2, SECOND_ANSWER_2_2, OFFER_2_6, OFFER_3_1,
                 ANSWER_3_1, OFFER_5_2, ANSWER_5_3]:
        assert SessionDescription.parse(text).serialize() == text


def test_rfc4317_2_1_audio_and_video_1():
    oa = bob("pcmu")
    answer, res = oa.receive_offer(OFFER_2_1)
    # RFC: Bob answers PCMU and MPV; we accept the audio and, having no video, reject it
    assert answer.serialize() == rfc("""
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49174 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
""")
    assert (res.codec.key, res.payload_type, res.remote_address, res.remote_port, res.remote_rtcp_port) == (
        "pcmu", 0, "host.atlanta.example.com", 49170, 49171)
    assert res.send and res.receive and not res.remote_hold and res.ptime == 20


ANSWER_2_2 = rfc("""
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 0 8
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
""")
SECOND_OFFER_2_2 = rfc("""
v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 51372 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
""")
SECOND_ANSWER_2_2 = rfc("""
v=0
o=bob 2808844564 2808844565 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
""")


def test_rfc4317_2_2_audio_and_video_2_exact():
    oa = bob("pcmu", "pcma", port=49172, single_codec_answer=False)
    answer, res = oa.receive_offer(OFFER_2_1)
    assert answer.serialize() == ANSWER_2_2
    assert res.codec.key == "pcmu"
    answer2, res2 = oa.receive_offer(SECOND_OFFER_2_2)
    assert answer2.serialize() == SECOND_ANSWER_2_2  # version bumped: the SDP changed
    assert (res2.codec.key, res2.remote_port) == ("pcmu", 51372)


def test_rfc4317_2_3_dynamic_payload_type_renumbered_by_answerer():
    """Alice's view of 2.3 (audio part): Bob answers iLBC as 99 although offered as 97."""
    oa = alice("pcmu", "pcma", "ilbc")
    offer = oa.create_offer()
    assert offer.serialize() == rfc("""
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0 8 97
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:97 iLBC/8000
""")
    res = oa.receive_answer(rfc("""
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 99
a=rtpmap:99 iLBC/8000
"""))
    assert (res.codec.key, res.payload_type, res.receive_payload_type) == ("ilbc", 99, 97)
    assert (res.remote_address, res.remote_port, res.ptime) == ("host.biloxi.example.com", 49172, 30)


def test_rfc4317_2_4_two_audio_streams():
    offer = rfc("""
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0 97
a=rtpmap:0 PCMU/8000
a=rtpmap:97 iLBC/8000
m=audio 49172 RTP/AVP 98
a=rtpmap:98 telephone-event/8000
a=sendonly
""")
    answer, res = bob("ilbc", "pcmu", port=49172).receive_offer(offer)
    # RFC: Bob chooses iLBC and accepts the tone stream; we do one audio stream, so the
    # separate telephone-event stream is declined
    a, tones = answer.media
    assert (a.port, a.formats, a.get("rtpmap")) == (49172, ["97"], "97 iLBC/8000")
    assert (tones.port, tones.formats, tones.get("rtpmap")) == (0, ["98"], "98 telephone-event/8000")
    assert res.codec.key == "ilbc" and res.telephone_event_pt is None


OFFER_2_6 = rfc("""
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=audio 51372 RTP/AVP 97 101
a=rtpmap:97 iLBC/8000
a=rtpmap:101 telephone-event/8000
""")


def test_rfc4317_2_6_audio_only_1():
    oa = bob("ilbc", "pcmu", port=49170, telephone_event=True)
    answer, res = oa.receive_offer(OFFER_2_6)
    # as the RFC: the PCMU stream declined, iLBC + telephone-event accepted (we add the fmtp)
    assert answer.serialize() == rfc("""
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 0 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=audio 49170 RTP/AVP 97 101
a=rtpmap:97 iLBC/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
""")
    assert (res.media_index, res.codec.key, res.telephone_event_pt, res.remote_port) == (1, "ilbc", 101, 51372)
    # preferring PCMU we take the first stream instead
    answer, res = bob("pcmu", "ilbc", port=49170, telephone_event=True).receive_offer(OFFER_2_6)
    assert [m.port for m in answer.media] == [49170, 0] and res.codec.key == "pcmu"
    assert res.telephone_event_pt is None  # not offered in that stream


OFFER_3_1 = rfc("""
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0 97
a=rtpmap:0 PCMU/8000
a=rtpmap:97 iLBC/8000
""")
ANSWER_3_1 = rfc("""
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 placeholder.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 97
a=rtpmap:97 iLBC/8000
a=sendonly
""")


def test_rfc4317_3_1_hold_and_unhold_1_alice_side():
    oa = alice("pcmu", "ilbc")
    assert oa.create_offer().serialize() == OFFER_3_1
    res = oa.receive_answer(ANSWER_3_1)
    # Bob answered on hold: he sends, we only receive
    assert res.remote_hold and res.remote_direction is Direction.SENDONLY
    assert res.receive and not res.send
    assert (res.codec.key, res.remote_address) == ("ilbc", "placeholder.biloxi.example.com")
    # Bob's second offer takes us off hold; Alice moves to port 49178
    oa.config = dataclasses.replace(oa.config, port=49178)
    answer, res2 = oa.receive_offer(rfc("""
v=0
o=bob 2808844564 2808844565 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
"""))
    assert answer.serialize() == rfc("""
v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49178 RTP/AVP 97
a=rtpmap:97 iLBC/8000
""")
    assert res2.send and res2.receive and not res2.remote_hold


def test_rfc4317_4_3_video_deleted():
    oa = OfferAnswer(alice("ilbc").config, 2890844526, session_version=2890844527)
    answer, res = oa.receive_offer(rfc("""
v=0
o=bob 2808844564 2808844565 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49174 RTP/AVP 97
a=rtpmap:97 iLBC/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
"""))
    assert answer.serialize() == rfc("""
v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
""")


def test_rfc4317_5_1_no_media_then_audio_added():
    oa = bob("ilbc", port=49172)
    answer, res = oa.receive_offer(rfc("""
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
"""))
    assert res is None and answer.serialize() == rfc("""
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
""")
    answer, res = oa.receive_offer(rfc("""
v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
"""))
    assert answer.serialize() == rfc("""
v=0
o=bob 2808844564 2808844565 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 97
a=rtpmap:97 iLBC/8000
""")
    assert res.codec.key == "ilbc"


OFFER_5_2 = rfc("""
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 0.0.0.0
t=0 0
m=audio 23442 RTP/AVP 97
a=rtpmap:97 iLBC/8000
""")
ANSWER_5_3 = rfc("""
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 0.0.0.0
t=0 0
m=audio 9322 RTP/AVP 97
a=rtpmap:97 iLBC/8000
""")


def test_rfc4317_5_2_offer_with_0000_is_answered_normally_but_we_do_not_send():
    answer, res = bob("ilbc", port=49170).receive_offer(OFFER_5_2)
    assert answer.serialize() == rfc("""
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
""")
    assert res.remote_hold and not res.send and res.receive
    assert res.local_direction is Direction.SENDRECV


def test_rfc4317_5_3_answer_with_0000_holds_us():
    oa = alice("ilbc")
    oa.create_offer()
    res = oa.receive_answer(ANSWER_5_3)
    assert res.remote_hold and not res.send and res.receive and res.remote_port == 9322


# =========================================================================== RFC 3264 section 10


def test_rfc3264_10_1_basic_exchange():
    offer = rfc("""
v=0
o=alice 2890844526 2890844526 IN IP4 host.anywhere.com
s=
c=IN IP4 host.anywhere.com
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 51372 RTP/AVP 31
a=rtpmap:31 H261/90000
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
""")
    cfg = MediaConfig("host.example.com", 49920, (C["pcmu"],), username="bob", write_ptime=False,
                      write_sendrecv=False, telephone_event=False)
    oa = OfferAnswer(cfg, 2890844730)
    answer, res = oa.receive_offer(offer)
    # RFC: Bob declines the first video stream; we have no video so we decline both
    assert [(m.media, m.port, m.formats) for m in answer.media] == [
        ("audio", 49920, ["0"]), ("video", 0, ["31"]), ("video", 0, ["32"])]
    assert answer.origin.session_version == 2890844730 and res.codec.key == "pcmu"
    # Alice's view of Bob's re-offer adding a recvonly "telephone-events" stream
    a_cfg = MediaConfig("host.anywhere.com", 49170, (C["pcmu"],), username="alice", telephone_event=True)
    answer2, res2 = OfferAnswer(a_cfg, 2890844526).receive_offer(rfc("""
v=0
o=bob 2890844730 2890844731 IN IP4 host.example.com
s=
c=IN IP4 host.example.com
t=0 0
m=audio 65422 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
m=audio 51434 RTP/AVP 110
a=rtpmap:110 telephone-events/8000
a=recvonly
"""))
    assert [m.port for m in answer2.media] == [49170, 0, 0, 0]
    assert (res2.remote_port, res2.media_index) == (65422, 0)


def test_rfc3264_10_2_one_of_n_codec_selection():
    offer = rfc("""
v=0
o=alice 2890844526 2890844526 IN IP4 host.anywhere.com
s=
c=IN IP4 host.anywhere.com
t=0 0
m=audio 62986 RTP/AVP 0 4 18
a=rtpmap:0 PCMU/8000
a=rtpmap:4 G723/8000
a=rtpmap:18 G729/8000
a=inactive
""")
    cfg = MediaConfig("host.example.com", 54344, (C["pcmu"], C["g729"]), username="bob",
                      session_name=" ", write_ptime=False, telephone_event=False,
                      single_codec_answer=False)
    oa = OfferAnswer(cfg, 2890844730, session_version=2890844731)
    answer, res = oa.receive_offer(offer)
    # RFC: Bob answers PCMU and G.723 inactive; G.723 is not ours, G.729 is
    assert answer.serialize() == rfc("""
v=0
o=bob 2890844730 2890844731 IN IP4 host.example.com
s=
c=IN IP4 host.example.com
t=0 0
m=audio 54344 RTP/AVP 0 18
a=rtpmap:0 PCMU/8000
a=rtpmap:18 G729/8000
a=inactive
""")
    assert res.local_direction is Direction.INACTIVE and not res.send and not res.receive
    # Alice then locks down G.723 only: nothing we can do -> 488
    with pytest.raises(NotAcceptable) as ei:
        oa.receive_offer(rfc("""
v=0
o=alice 2890844526 2890844527 IN IP4 host.anywhere.com
s=
c=IN IP4 host.anywhere.com
t=0 0
m=audio 62986 RTP/AVP 4
a=rtpmap:4 G723/8000
a=sendrecv
"""))
    assert (ei.value.status, ei.value.reason) == (488, "Not Acceptable Here")
    assert "4" in str(ei.value) and "PCMU/8000" in str(ei.value)


# =========================================================================== 488 and answers


def softphone(codecs=("pcmu", "pcma"), **kw):
    return OfferAnswer(MediaConfig("192.0.2.10", 4000, tuple(C[k] for k in codecs), **kw), 777)


def remote_offer(formats="0 8 101", extra="", conn="198.51.100.7", port=5004, proto="RTP/AVP",
                 media="audio", version=1):
    rtpmaps = {"0": "PCMU/8000", "8": "PCMA/8000", "101": "telephone-event/8000", "18": "G729/8000",
               "96": "opus/48000/2", "9": "G722/8000", "4": "G723/8000", "102": "telephone-event/48000",
               "31": "H261/90000"}
    lines = [f"a=rtpmap:{f} {rtpmaps[f]}" for f in formats.split()]
    return "\r\n".join(["v=0", f"o=peer 99 {version} IN IP4 {conn}", "s=-", f"c=IN IP4 {conn}",
                        "t=0 0", f"m={media} {port} {proto} {formats}", *lines, *extra.split("|")]
                       ).rstrip("\r\n|") + "\r\n"


@pytest.mark.parametrize("offer,words", [
    (remote_offer("4"), ["no common codec", "4"]),
    (remote_offer("31", media="video"), ["m=video"]),
    (remote_offer("0 8", proto="RTP/SAVP"), ["RTP/SAVP", "unsupported"]),
])
def test_488_when_nothing_matches(offer, words):
    with pytest.raises(NotAcceptable) as ei:
        softphone().receive_offer(offer)
    assert ei.value.status == 488 and isinstance(ei.value, ParseError)
    for w in words:
        assert w in str(ei.value)


def test_all_streams_disabled_is_not_488():
    answer, res = softphone().receive_offer(remote_offer("0", port=0))
    assert res is None and answer.media[0].port == 0


def test_answer_defaults_and_telephone_event():
    oa = softphone(framecount=2)
    answer, res = oa.receive_offer(remote_offer("8 0 101", "a=fmtp:101 0-16,32|a=ptime:30"))
    m = answer.media[0]
    assert m.formats == ["0", "101"] and m.fmtps == {"101": "0-16"}
    assert (m.ptime, m.direction, answer.connection.address) == (40, Direction.SENDRECV, "192.0.2.10")
    assert (res.codec.key, res.payload_type, res.telephone_event_pt, res.ptime) == ("pcmu", 0, 101, 30)
    # the peer's order instead of ours
    _, res = softphone(prefer_remote_order=True).receive_offer(remote_offer("8 0 101"))
    assert res.codec.key == "pcma"
    # DTMF via SIP INFO only: no telephone-event in the answer
    answer, res = softphone(telephone_event=False).receive_offer(remote_offer("8 0 101"))
    assert answer.media[0].formats == ["0"] and res.telephone_event_pt is None


def test_telephone_event_rate_follows_codec_and_dynamic_pt_is_kept():
    oa = softphone(("opus", "pcmu"))
    answer, res = oa.receive_offer(remote_offer("96 0 101 102"))
    m = answer.media[0]
    assert m.formats == ["96", "102"] and m.fmtps["96"] == "maxplaybackrate=48000"
    assert (res.codec.key, res.payload_type, res.telephone_event_pt) == ("opus", 96, 102)
    # the binding 96 = opus survives into our re-offers (RFC 3264 8.3.2)
    assert oa.hold().media[0].formats == ["96", "102"]


def test_rtcp_attribute_both_ways():
    oa = softphone(rtcp_port=4009)
    answer, res = oa.receive_offer(remote_offer("0", "a=rtcp:6000 IN IP4 198.51.100.99"))
    assert answer.media[0].rtcp == (4009, None)
    assert (res.remote_rtcp_address, res.remote_rtcp_port) == ("198.51.100.99", 6000)


@pytest.mark.parametrize("offered,wish,expected", [
    ("sendrecv", "sendrecv", "sendrecv"), ("sendonly", "sendrecv", "recvonly"),
    ("recvonly", "sendrecv", "sendonly"), ("inactive", "sendrecv", "inactive"),
    ("sendrecv", "sendonly", "sendonly"), ("sendonly", "sendonly", "inactive"),
    ("recvonly", "sendonly", "sendonly"), ("sendrecv", "inactive", "inactive"),
])
def test_answer_direction_rfc3264_6_1(offered, wish, expected):
    assert answer_direction(Direction(offered), Direction(wish)) is Direction(expected)


# =========================================================================== hold / unhold


def established(**kw):
    oa = softphone(**kw)
    oa.create_offer()
    peer = OfferAnswer(MediaConfig("198.51.100.7", 5004, (C["pcma"], C["pcmu"]),
                                   prefer_remote_order=True), 55)
    answer, _ = peer.receive_offer(oa.local)
    res = oa.receive_answer(answer)
    return oa, peer, res


def test_we_hold_and_unhold():
    oa, peer, res = established()
    assert res.codec.key == "pcmu" and res.send and res.receive
    v0 = oa.local.origin.session_version
    offer = oa.hold()
    m = offer.media[0]
    assert m.direction is Direction.SENDONLY and m.formats == ["0", "101"]  # pinned codec
    assert offer.origin.session_version == v0 + 1
    answer, peer_res = peer.receive_offer(offer)
    assert answer.media[0].direction is Direction.RECVONLY and peer_res.remote_hold
    res = oa.receive_answer(answer)
    assert (res.local_direction, res.remote_direction) == (Direction.SENDONLY, Direction.RECVONLY)
    assert res.send and not res.receive and not res.remote_hold
    offer = oa.unhold()
    assert offer.media[0].direction is Direction.SENDRECV and offer.origin.session_version == v0 + 2
    res = oa.receive_answer(peer.receive_offer(offer)[0])
    assert res.send and res.receive


@pytest.mark.parametrize("holdtype,direction", [(-1, "sendonly"), (1, "sendonly"), (2, "sendonly"),
                                                (3, "recvonly"), (4, "inactive")])
def test_holdtypeonhold_mapping(holdtype, direction):
    oa, _, _ = established(holdtypeonhold=holdtype)
    assert oa.hold().media[0].direction is Direction(direction)


def test_hold_disabled_and_invalid():
    oa, _, _ = established(holdtypeonhold=0)
    assert oa.hold() is None and oa.hold(-2) is None
    assert oa.hold(4).media[0].direction is Direction.INACTIVE
    with pytest.raises(LocalProtocolError):
        oa.hold(7)
    assert hold_direction(2, Direction.RECVONLY) is Direction.INACTIVE  # RFC 3264 8.4


def test_remote_holds_and_unholds_us():
    oa = softphone()
    _, res = oa.receive_offer(remote_offer("0"))
    assert res.send and res.receive
    answer, res = oa.receive_offer(remote_offer("0", "a=sendonly", version=2))
    assert answer.media[0].direction is Direction.RECVONLY
    assert res.remote_hold and not res.send and res.receive
    answer, res = oa.receive_offer(remote_offer("0", "a=inactive", version=3))
    assert answer.media[0].direction is Direction.INACTIVE and res.remote_hold
    answer, res = oa.receive_offer(remote_offer("0", conn="0.0.0.0", version=4))  # RFC 2543 style
    assert answer.media[0].direction is Direction.SENDRECV and res.remote_hold and not res.send
    answer, res = oa.receive_offer(remote_offer("0", version=5))
    assert not res.remote_hold and res.send and res.receive


def test_peer_reoffer_while_we_hold_keeps_our_hold():
    oa, peer, _ = established()
    oa.receive_answer(peer.receive_offer(oa.hold())[0])
    answer, res = oa.receive_offer(peer.create_offer())  # e.g. a session refresh
    assert answer.media[0].direction is Direction.SENDONLY and not res.receive


def test_session_version_rules():
    oa = softphone()
    first = oa.create_offer().origin.session_version
    assert first == 777 and oa.create_offer().origin.session_version == 778  # each new offer
    oa2 = softphone()
    a1, _ = oa2.receive_offer(remote_offer("0"))
    a2, _ = oa2.receive_offer(remote_offer("0"))
    assert a1.origin.session_version == a2.origin.session_version  # unchanged answer, same version
    a3, _ = oa2.receive_offer(remote_offer("8"))
    assert a3.origin.session_version == a1.origin.session_version + 1


def test_offer_contents_from_reference_parameters():
    cfg = MediaConfig.from_params({"use_pcmu": 3, "dtmfmode": 2, "codeccodecframecount": 2},
                                  "2001:db8::5", 4000)
    sd = OfferAnswer(cfg, 1).create_offer()
    assert sd.serialize() == (
        "v=0\r\no=- 1 1 IN IP6 2001:db8::5\r\ns=-\r\nc=IN IP6 2001:db8::5\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:40\r\na=sendrecv\r\n")
    info_only = MediaConfig.from_params({"dtmfmode": 1}, "192.0.2.1", 4000)
    assert OfferAnswer(info_only, 1).create_offer().media[0].formats == ["8", "0"]
    with pytest.raises(LocalProtocolError, match="no codec to offer"):
        OfferAnswer(MediaConfig.from_params({"use_pcmu": 0, "use_pcma": 1}, "192.0.2.1", 4000),
                    1).create_offer()


def test_received_answer_must_be_a_subset():
    oa = softphone()
    with pytest.raises(LocalProtocolError, match="no offer outstanding"):
        oa.receive_answer(remote_offer("0"))
    oa.create_offer()
    with pytest.raises(NotAcceptable, match="format 18"):
        oa.receive_answer(remote_offer("18"))
    with pytest.raises(NotAcceptable, match="rejected our audio stream"):
        oa.receive_answer(remote_offer("0", port=0))
    with pytest.raises(NotAcceptable, match="only telephone-event"):
        oa.receive_answer(remote_offer("101"))
    with pytest.raises(ParseError, match="2 m= lines"):
        oa.receive_answer(remote_offer("0") + "m=video 0 RTP/AVP 31\r\n")
    res = oa.receive_answer(remote_offer("8 101", "a=ptime:30|a=sendrecv"))
    assert (res.codec.key, res.payload_type, res.telephone_event_pt, res.ptime) == ("pcma", 8, 101, 30)
    assert IMPLEMENTED == {"pcmu", "pcma"}


def test_offer_without_connection_line_is_a_parse_error():
    no_c = "v=0\r\no=peer 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n"
    oa = softphone()
    with pytest.raises(ParseError, match="no c= line"):
        oa.receive_offer(no_c)
    assert oa.remote is None and oa.local is None  # nothing half-applied
