"""Media, audio device, codec, recording and streaming parameters (part of the table in
:mod:`sipctl.params_table`, split off to keep each file readable)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .params_table import ParamSpec

__all__ = ["MEDIA"]


def _build() -> tuple["ParamSpec", ...]:
    from .params_table import B, I, S
    R = False  # live=False: read when the media engine / audio devices (re)start
    lvl = (0, 1, 2, 3)
    codec = "codec level 0 never, 1 accept only, 2 offer low, 3 offer high"
    return (
        # --- audio devices and volumes
        S("audiodevicein", "", "microphone device name or Default (default not documented)",
          live=R),
        S("audiodeviceout", "", "speaker device name or Default (default not documented)",
          live=R),
        S("audiodevicering", "", "ringer device name, Default or All (default not documented)",
          live=R),
        I("changeaudiodevimmediate", 0, "when a device change applies: 0 default, 1 next call, "
          "2 at once (default not documented)", (0, 1, 2)),
        B("useaudiodevicerecord", True, "open a microphone (false: streaming without a "
          "recorder; default not documented)", live=R),
        I("volumein", 50, "microphone volume percent (0 mutes)"),
        I("volumeout", 50, "speaker volume percent (0 mutes)"),
        I("volumering", 50, "ringer volume percent (0 mutes)"),
        I("checkvolumesettings", 2, "raise a muted/low system volume: 0 no, 1 first run, "
          "2 always", (0, 1, 2)),
        B("stereomode", False, "two-channel audio output", live=R),
        I("recaudiobuffers", 7, "number of audio capture buffers", live=R),
        I("recaudiomode", 0, "capture mode: 0 default, 1 event driven, 2 polling", (0, 1, 2),
          live=R),
        I("cancloseaudioline", 0, "audio line close policy, FAQ workaround value 3 "
          "(default not documented)", live=R),
        I("singleaudiostream", 0, "single audio stream mode, FAQ workaround value 5 "
          "(default not documented)", live=R),
        # --- ringing and tones
        I("playing", 2, "local ringtone: 0 none, 1 incoming, 2 incoming and outgoing", (0, 1, 2)),
        S("ringtone", "", "ringtone WAV file, 8 kHz 16-bit mono (empty: built-in)"),
        I("ringincall", 1, "ring while in a call: 0 no, 1 a beep, 2 full ring", (0, 1, 2)),
        I("beepconnect", 0, "beep on connect: 0 off, 1 auto-answered, 2 incoming, 3 outgoing, "
          "4 all", (0, 1, 2, 3, 4)),
        # --- audio processing
        I("agc", 3, "automatic gain: 0 off, 1 capture, 2 capture and playback, 3 auto", lvl),
        I("aec", 1, "echo canceller: 0 off, 1 unless a headset, 2 if supported, 3 forced", lvl),
        I("aec2", 1, "second echo canceller: 0 off, 1 auto, 2 on, 3 on with extra", lvl),
        I("denoise", 3, "noise suppression: 0 off, 1 capture, 2 capture and playback, 3 auto",
          lvl),
        B("plc", True, "packet loss concealment"),
        I("vad", 2, "voice activity detection: 0 auto, 1 no, 2 playback, 3 capture, 4 both",
          (0, 1, 2, 3, 4)),
        I("vadstat", 1, "VAD statistics: 0 no, 1 auto, 2 detect a silent mic, "
          "3 send VAD notifications", (0, 1, 2, 3)),
        I("vadstat_ival", 2000, "ms between VAD notifications"),
        I("silencesuppress", -1, "silence suppression: -1 auto, 0 no, 1 yes", (-1, 0, 1)),
        # --- codecs (the list is fixed when the engine starts)
        I("use_pcmu", 1, "G.711 u-law " + codec, lvl, live=R),
        I("use_pcma", 2, "G.711 A-law " + codec, lvl, live=R),
        I("use_g729", 2, "G.729 " + codec, lvl, live=R),
        I("use_gsm", 1, "GSM " + codec, lvl, live=R),
        I("use_ilbc", 1, "iLBC " + codec, lvl, live=R),
        I("use_speex", 1, "speex 8 kHz " + codec, lvl, live=R),
        I("use_speexwb", 1, "speex 16 kHz " + codec, lvl, live=R),
        I("use_speexuwb", 1, "speex 32 kHz " + codec, lvl, live=R),
        I("use_opus", 1, "opus 8 kHz " + codec, lvl, live=R),
        I("use_opuswb", 1, "opus 16 kHz " + codec, lvl, live=R),
        I("use_opusswb", 1, "opus 24 kHz " + codec, lvl, live=R),
        I("use_opusuwb", 1, "opus 48 kHz " + codec, lvl, live=R),
        I("use_g722", 1, "G.722 " + codec, lvl, live=R, ours=True),
        I("alwaysallowlowcodec", 1, "offer low-cost codecs too: 0 no, 1 auto, 2 always",
          (0, 1, 2), live=R),
        B("disablewbbonmac", True, "no wideband codecs on macOS", live=R),
        I("disablewbforpstn", 1, "no wideband toward phone numbers: 0 never, 1 check the first "
          "call, 2 check every call", (0, 1, 2)),
        I("codeccodecframecount", 0, "frames per RTP packet (0: 2 for G.729, 1 otherwise)"),
        # --- RTP
        I("rtpport", 0, "local RTP port base (0: random 20000..21000, then kept)", live=R),
        I("natopenpackets", 2, "packets sent to open NAT: 0 none, 1 empty UDP, 2 one RTP, "
          "N RTP packets"),
        I("natopenpackettype", 1, "NAT opening packet: 1 short CRLF, 2 zeroed RTP", (1, 2)),
        I("rtpkeepaliveival", 0, "ms between RTP keep-alives while silent (0 off)"),
        B("sendrtponmuted", False, "keep sending (zeroed) RTP while muted"),
        I("mediatimeout", 300, "seconds without RTP before hanging up (0 off)"),
        I("mediatimeout_notify", 0, "seconds without RTP before a warning notification (0 off)"),
        I("jittersize", 3, "jitter buffer size 0 (none) .. 6 (max)", (0, 1, 2, 3, 4, 5, 6)),
        I("maxjitterpackets", 99, "cap on buffered packets (99: no cap)"),
        B("rtcp", True, "send and receive RTCP (default not documented; sipctl enables it)"),
        I("dtmfmode", 2, "DTMF: 0 off, 1 INFO, 2 RFC 2833 else INFO, 3 both, 4 RFC 2833 only",
          (0, 1, 2, 3, 4)),
        I("mediaencryption", 0, "media encryption: 0 none, 1 if the peer starts it, 2 SRTP, "
          "3 ZRTP", (0, 1, 2, 3), live=R),
        I("strictsrtp", 1, "SRTP strictness: 0 lenient, 1 auto, 2 strict, 3 SRTP calls only",
          (0, 1, 2, 3)),
        # --- sending sound into a call (API_StreamSoundBuff)
        I("realtimeplayback", 0, "1: streamed buffers arrive in real time "
          "(default not documented)", (0, 1)),
        I("playbacksteamformat", 0, "streamed PCM format: 0 8 kHz, 1 16 kHz "
          "(default not documented)", (0, 1)),
        I("streamsoundisrtp", -1, "streamed buffers are: -1 guess, 0 raw PCM, 1 RTP packets",
          (-1, 0, 1)),
        # --- recording
        I("voicerecording", 0, "record calls: 0 no, 1 local, 2 FTP, 3 both", (0, 1, 2, 3)),
        I("voicerecfilename", 0, "recording file name: 0 time+peer, 1 time+call-id, 2 call-id, "
          "3 time+user, 4 time+user+peer", (0, 1, 2, 3, 4)),
        S("voicerecfilenameprefix", "", "prefix for recording file names"),
        S("voicerecftp_addr", "", "FTP URL recordings are uploaded to (FILENAME is replaced)"),
        I("voicerecformat", 0, "recording format: 0 stereo WAV, 1 raw GSM, 2 ogg/vorbis",
          (0, 1, 2)),
        I("voicerecordingbuff", -1, "longest recording in minutes (-1: no limit)"),
        I("syncvoicerec", 2, "align recorded sides: -1 auto, 0 no, 1 fill with noise, "
          "2 wait for both", (-1, 0, 1, 2)),
        # --- streaming call audio to a local UDP port
        I("sendmedia_type", 0, "streamed format: 0 PCM, 1 RTP, 2 PCM 8 kHz, 3 PCM 16 kHz, "
          "4 RTP payload only", (0, 1, 2, 3, 4)),
        I("sendmediain_to", 0, "local UDP port that receives the peer's audio (0 off)"),
        I("sendmediaout_to", 0, "local UDP port that receives our microphone audio (0 off)"),
        I("sendmedia_line", 0, "packet prefix: 0 none, 1 line text, 2 line+call-id, 3 line byte, "
          "4 line and VAD bytes", (0, 1, 2, 3, 4)),
        I("sendmedia_marks", 0, "1: send BOF/EOF marker packets", (0, 1)),
        I("sendmedia_mode", 0, "queue media for API_GetMedia when 2 or 3 "
          "(default not documented)"),
        # --- sipctl's own engine settings
        I("rate", 8000, "engine sample rate in Hz", (8000, 16000, 48000), live=R, ours=True),
        I("frame_ms", 20, "engine tick / device frame in ms", (10, 20), live=R, ours=True),
        S("rtcp_interval", "5.0", "minimum RTCP report interval in seconds (a number)",
          ours=True),
        S("decode", "auto", "decode received audio: auto, true or false", ours=True),
    )


MEDIA: tuple["ParamSpec", ...] = _build()
