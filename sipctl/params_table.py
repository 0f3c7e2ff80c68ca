"""The parameter table: every parameter of the reference (``seeds/000_...txt``, the
"Parameters" section, the API text and the FAQ) plus the few that are sipctl's own.

One source of truth (DESIGN.md): the TCP API, ``wpcfg.ini``, ``x-mparam`` headers and the
Python API all go through :class:`sipctl.params.Parameters`, which reads this table.
Media, audio, codec, recording and streaming parameters live in
:mod:`sipctl.params_table_media` and are merged into :data:`PARAMS` here.

Defaults are the documented ones; where the reference gives none, the entry says so in
its doc ("default not documented") and uses the neutral value of its type.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ParamSpec", "PARAMS", "ALIASES", "NUMBERED_MAX"]

#: Highest N of a numbered family (serveraddress2 .. serveraddress100).
NUMBERED_MAX = 100


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: its name (lower case), type ("str" | "int" | "bool"), documented
    default, a one-line doc, whether a change takes effect at once (``live``) or only
    when the SIP stack/engine restarts, the documented allowed ints (``choices``),
    whether it is a numbered family (``usernameN``) and whether it is sipctl's own."""

    name: str
    type: str
    default: str | int | bool
    doc: str
    live: bool
    choices: tuple[int, ...] | None = None
    numbered: bool = False
    ours: bool = False


def S(name: str, default: str, doc: str, live: bool = True, **kw: object) -> ParamSpec:
    """A string parameter."""
    return ParamSpec(name, "str", default, doc, live, **kw)  # type: ignore[arg-type]


def I(name: str, default: int, doc: str, choices: tuple[int, ...] | None = None,  # noqa: E743
      live: bool = True, **kw: object) -> ParamSpec:
    """An integer parameter."""
    return ParamSpec(name, "int", default, doc, live, choices, **kw)  # type: ignore[arg-type]


def B(name: str, default: bool, doc: str, live: bool = True, **kw: object) -> ParamSpec:
    """A boolean parameter."""
    return ParamSpec(name, "bool", default, doc, live, **kw)  # type: ignore[arg-type]


_R = False  # live=False: read when the SIP stack / engine starts

_CORE: tuple[ParamSpec, ...] = (
    # --- accounts and registration
    S("serveraddress", "", "SIP server host[:port] (registrar and default call domain)"),
    S("username", "", "SIP user name: the From/Contact user and caller id"),
    S("password", "", "SIP digest password (may be given encrypted__X__)"),
    S("serveraddressN", "", "server of secondary account N (2..100)", numbered=True),
    S("usernameN", "", "user name of secondary account N (2..100)", numbered=True),
    S("passwordN", "", "password of secondary account N (2..100)", numbered=True),
    I("registerintervalN", 3600, "re-register interval of secondary account N, seconds",
      numbered=True),
    S("extraregisteraccounts", "",
      "more accounts as server,usr,pwd[,ival];... (API_RegisterEx form)"),
    I("register", 1, "whether to register: 0 never, 1 when credentials are set, 2 always",
      (0, 1, 2)),
    I("registerinterval", 120, "re-register interval in seconds (1..30000; below 10 means 120)"),
    B("needunregister", True, "send an unregister when stopping"),
    I("acceptsrvexpire", 1,
      "take the server's expires: 0 no, 1 Contact first, 2 Expires header first",
      (0, 1, 2)),
    I("waitforunregister", 2000, "ms to wait for the unregister answer on stop (0: do not wait)"),
    S("md5", "", "HA1 = MD5(username:realm:password), used instead of the password"),
    S("realm", "", "digest realm when it differs from the server address"),
    S("sipusername", "", "authentication name when it differs from username"),
    S("displayname", "", "display name put in From and Contact"),
    I("authtype", 0, "which challenges to answer: 0 any, 1 proxy only, 2 www only "
      "(default not documented)", (0, 1, 2)),
    I("pwdencrypted", 0, "legacy: how passwords are encrypted (0 plain, 1 xor, 2 des+base64, "
      "3 xor+base64, 4 base64)", (0, 1, 2, 3, 4)),
    S("proxyaddress", "", "outbound proxy host[:port] (primary account only)"),
    S("serveraddressfirst", "", "server tried first when failing over to serveraddress"),
    B("enablefallback", False,
      "fail over to the next server on no answer (default not documented)"),
    B("autotransportdetect", False, "probe the transport to use (default not documented)"),
    B("mustconnect", False, "refuse calls until registered"),
    B("capabilityrequest", False, "send an OPTIONS to the server at start"),
    B("natkeepalive", False, "deprecated: send a CRLF to the server at start"),
    # --- transport, NAT, DNS
    I("transport", -1, "signalling transport: -1 auto, 0 UDP, 1 TCP, 2 TLS, 3 HTTP tunnel, "
      "4 HTTP proxy, 5 UDP with HTTP failover", (-1, 0, 1, 2, 3, 4, 5), live=_R),
    I("signalingport", 0, "local SIP port (0: random, then kept)", live=_R),
    S("localip", "", "local address to bind and advertise (empty: detect)", live=_R),
    I("use_rport", 1, "Via rport: 0 off, 1 symmetric NAT only, 2 always, 3 even on public IP, "
      "9 request but ignore", (0, 1, 2, 3, 9)),
    I("use_fast_ice", 1, "quick ICE for peer-to-peer media: 0 no, 1 auto, 2 yes, 3 always",
      (0, 1, 2, 3)),
    I("use_fast_stun", 1, "STUN at start: -1 force private address, 0 no, 1 stable symmetric NAT, "
      "2 symmetric NAT, 3 always, 4 even on public IP", (-1, 0, 1, 2, 3, 4), live=_R),
    S("stunserver", "", "STUN server host[:port] (empty: built-in choice)", live=_R),
    I("udpconnect", 0, "connect() the UDP socket: 0 no, 1 at init, 2 at first send, 3 both",
      (0, 1, 2, 3), live=_R),
    I("keepalivetype", 4, "NAT keep-alive: 0 none, 1 space+CRLF, 2 NOTIFY, 3 CRLF, 4 CRLFCRLF",
      (0, 1, 2, 3, 4)),
    I("keepaliveival", 28000, "NAT keep-alive interval in ms (0 off)"),
    I("checksrvrecords", -1, "SRV lookup: -1 auto, 0 A only, 1 A then SRV, 2 SRV then A, "
      "3 always SRV first, 4 also without the _sip._udp prefix", (-1, 0, 1, 2, 3, 4)),
    I("dnslookup", 0, "DNS cache use: 0 auto, 1 always query, 2 cache if needed, 3 cache first, "
      "4 cache only, 5 off", (0, 1, 2, 3, 4, 5)),
    I("usehttpproxy", 4, "HTTP tunnel proxy: 0 no, 1 proxyaddress, 2 system, 3 manual, 4 auto",
      (0, 1, 2, 3, 4)),
    S("httpproxyurl", "", "deprecated: manual HTTP proxy for usehttpproxy=3"),
    S("httpserveraddress", "", "HTTP tunnel gateway (empty: serveraddress)"),
    B("encrypted", False, "encrypt signalling and media (Mizu servers only)"),
    B("useencryption", False, "encrypted transport with Mizu servers (default not documented)"),
    I("udptos", 1, "IP TOS/traffic class of UDP packets (0 off, 1 auto, else the byte)", live=_R),
    S("charset", "", "character set of SIP text (empty: system default)", live=_R),
    # --- SIP behaviour
    I("setfinalcodec", 1, "repeat the chosen codec in the ACK: 0 never, 1 auto, 2 on several, "
      "3 always", (0, 1, 2, 3)),
    B("prack", False, "offer and use 100rel (PRACK)"),
    B("sendmac", False, "send our MAC address in an X-MAC header"),
    S("customsipheader", "", "extra header line sent with every request"),
    I("ackforauthrequest", 1, "send ACK for 401/407 answers to INVITE: 0 no, 1 yes", (0, 1)),
    I("favorizecontactaddr", 3, "target the Contact address: 0 never, 1 no, 2 per RFC, 3 yes, "
      "4 always", (0, 1, 2, 3, 4)),
    B("invrecorderoute", False, "reverse the Record-Route order (default not documented)"),
    I("timer", 10, "scale of the SIP protocol timers (10 = normal)"),
    I("timer2", 10, "scale of the idle, ring and call duration timers (10 = normal)"),
    I("startsipstack", 1, "start the SIP stack: 0 on first use, 1 at start when configured, "
      "2 at start always, N>2 after N seconds", live=_R),
    I("separatechatdiag", 0, "send each chat message in its own dialog (default not documented)"),
    # --- calls
    I("maxlines", 4, "number of lines (channels)", live=_R),
    B("autocall", False, "call callto as soon as the phone starts"),
    S("callto", "", "number or URI to call for autocall"),
    B("compact", False, "headless mode needing username/password/callto preset "
      "(default not documented)"),
    I("changesptoring", 2, "183 handling: 0 nothing, 1 ringing, 2 ringing + early media, "
      "3 early media, 4 ringing and early media", (0, 1, 2, 3, 4)),
    I("earlymedia", 2, "send media on 183: 0 no, 1 reserved, 2 auto, 3 open audio, "
      "4 null packets on SDP, 5 on SDP, 6 always", (0, 1, 2, 3, 4, 5, 6)),
    I("ringtimeout", 90000, "longest ringing time in ms"),
    I("calltimeout", 10800000, "longest call time in ms"),
    I("discmode", 2, "hang-up style: 1 quick, 2 per RFC, 3 BYE after CANCEL, 4 repeat both",
      (1, 2, 3, 4)),
    B("rejectonbusy", False, "reject new calls while in a call"),
    S("callforwardonbusy", "", "forward calls here while in a call"),
    S("callforwardalways", "", "forward every call here"),
    S("calltransferralways", "", "transfer every answered call here"),
    I("autoignore", 0, "incoming calls: 0 handle, 1 ignore silently, 2 reject", (0, 1, 2)),
    B("autoaccept", False, "answer incoming calls automatically"),
    S("blacklist", "", "comma separated users whose requests are refused"),
    I("rejectcallto", 0, "check the called target: 0 accept all, 1 user, 2 rinstance, "
      "3 rinstance strict, 4 all strict", (0, 1, 2, 3, 4)),
    I("hideautocall", 0, "1: no STATUS/CDR for calls handled automatically", (0, 1)),
    S("techprefix", "", "prefix added to dialled numbers"),
    I("automute", 0, "mute other lines on a new call: 0 no, 1 incoming, 2 outgoing, 3 both, "
      "4 on line switch", (0, 1, 2, 3, 4)),
    I("autohold", 0, "hold other lines on a new call: 0 no, 1 incoming, 2 outgoing, 3 both, "
      "4 on line switch", (0, 1, 2, 3, 4)),
    I("holdtypeonhold", -1, "hold SDP: -2/0 no, -1 auto (2), 1 unused, 2 hold, 3 peer hold, "
      "4 both", (-2, -1, 0, 1, 2, 3, 4)),
    I("defmute", 2, "what a default mute mutes: 0/3/4 both, 1 speaker, 2 microphone, 5 disabled "
      "(default from API_Mute text)", (0, 1, 2, 3, 4, 5)),
    # --- transfer
    I("transfertype", -1, "transfer mode: -1 default (6), 0 off, 1 blind, 2..5 attended variants, "
      "6 blind with hold", (-1, 0, 1, 2, 3, 4, 5, 6)),
    I("transfwithreplace", -1, "use Replaces when transferring: -1 auto, 0 no, 1 yes", (-1, 0, 1)),
    I("allowreplace", 2, "accept incoming Replaces: 0 no, 1 and drop the old call, 2 unless in "
      "transfer, 3 never drop", (0, 1, 2, 3)),
    I("discontransfer", -1, "hang up after transfer: -1 auto, 0 never, 1 C connected, 2 timeout, "
      "3 either, 4 REFER accepted", (-1, 0, 1, 2, 3, 4)),
    I("disconincomingrefer", -1, "hang up after an incoming REFER: -1 auto, 0 no, 1 yes",
      (-1, 0, 1)),
    I("transferdelay", 400, "ms to wait before the REFER/INVITE of a transfer"),
    I("checksubscriptionstate", -1, "act on the refer subscription state: -1 auto, 0 no, "
      "1 hang up, 2 unhold", (-1, 0, 1, 2)),
    I("subscribefortransfer", -1, "subscribe to transfer progress: -1 auto, 0 never, "
      "1 without NOTIFY, 2 always", (-1, 0, 1, 2)),
    I("holdontransfer", -1, "hold before transfer: -1 auto, 0 no, 1 yes, 2 hold and unhold",
      (-1, 0, 1, 2)),
    # --- voicemail, presence
    I("voicemail", 2, "MWI: 0 off, 1 unsolicited only, 2 auto, 3 subscribe after register, "
      "4 subscribe at start", (0, 1, 2, 3, 4)),
    S("voicemailnum", "", "voicemail number (usually the server sends it)"),
    I("enablepresence", 0, "presence support: 0 off, 1 on (default not documented)", (0, 1)),
    S("email", "", "our e-mail address sent with contact details"),
    I("presenceexpiresec", 3600, "presence subscription expiry in seconds"),
    I("autoacceptpresencerequests", -1, "presence requests: -1 unset (1), 0 reject, "
      "1 ask for new users, 2 accept", (-1, 0, 1, 2)),
    # --- logging, API, storage
    I("loglevel", 1, "log detail 0..6 (4: with SIP messages)", (0, 1, 2, 3, 4, 5, 6)),
    B("logtoconsole", False, "also log to the console"),
    B("canlogtofile", True, "write logs to a file when loglevel >= 2"),
    I("jsscriptevent", 2, "notifications: 0 none, 1 status and CDR, 2 important, 3 all logs",
      (0, 1, 2, 3)),
    I("jsscripstats", 0, "seconds between per-line statistics notifications (0 off)"),
    I("jsscriptpoll", -1, "polling: -1 on first API_Poll, 0 no, 1 yes, 2 poll or push, "
      "3 poll only", (-1, 0, 1, 2, 3)),
    I("httpsessiontimeout", 3, "minutes without API_HTTPKeepAlive before exit (0 off)"),
    I("wpapilistenport", 18522, "internal TCP/HTTP listen port", live=_R),
    I("wpapiudplistenport", 18522, "internal UDP listen port", live=_R),
    I("wpapiconnectport", 19521, "port internal UDP messages are sent to", live=_R),
    I("exitmethod", 0, "how API_Exit terminates (default not documented)"),
    I("autocfgsave", 3, "settings file: -2 no writes (forced), -1 no writes, 0 no storage, "
      "1 save only, 2 load only, 3 save and load", (-2, -1, 0, 1, 2, 3)),
    B("resetsettings", False, "forget stored settings at start", live=_R),
    S("ftp_addr", "", "FTP URL for general storage"),
    S("http_addr", "", "HTTP URL for general storage"),
    B("increasepriority", False, "raise the priority of all threads", live=_R),
    I("aqtest", 0, "1: audio quality test mode (default not documented)"),
    S("language", "en", "user interface language (en, de, fr, ...)", live=_R),
    S("locale", "ENGLISH", "locale name (ENGLISH, GERMAN, US, ...)", live=_R),
    I("translatemode", 1, "0: translate status texts too (default not documented)"),
    B("has_video", False, "enable video features (default not documented)", live=_R),
    # --- sipctl's own
    I("session_expires", 1800, "RFC 4028 session interval we ask for, s (0: no session timer)",
      ours=True),
    I("min_se", 90, "RFC 4028 smallest session interval we accept, s (>= 90)", ours=True),
    S("encryptionkey", "h39idbfqw7116ghh", "key for encrypted__1__ and encrypted__3__ values "
      "(default: Mizu's public demo key)", ours=True),
)

from .params_table_media import MEDIA  # noqa: E402

#: Every parameter by lower-case name; numbered families are keyed ``<base>N``
#: (``usernameN`` stands for username2 .. username100).
PARAMS: dict[str, ParamSpec] = {p.name: p for p in _CORE + MEDIA}

#: Other spellings -> canonical name: those the reference itself uses (jssevent and
#: jscriptpoll in the API text, authusername, usgsm and usespeexwb in the FAQ) and
#: MediaSettings' samplerate.
ALIASES: dict[str, str] = {
    "jssevent": "jsscriptevent",
    "jscriptpoll": "jsscriptpoll",
    "jscripstats": "jsscripstats",
    "sendmedia_in_to": "sendmediain_to",
    "authusername": "sipusername",
    "usgsm": "use_gsm",
    "usespeexwb": "use_speexwb",
    "samplerate": "rate",
}
