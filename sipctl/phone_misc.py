"""The rest of the reference's API on :class:`~sipctl.Phone` (mixed into it):
registration, audio devices and volumes, VAD, blacklist, raw SIP, diagnostics — and the
functions whose feature has not landed yet or that need a GUI (they raise a clear
:class:`~sipctl.errors.ApiError`)."""
from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import _version
from .errors import ApiError, BadArgument, HeadlessOnly, NotImplementedFeature
from .media.vad_meter import SPEECH_LEVEL, VadMeter
from .phone_events import Notice, VadStats
from .sip.errors import ParseError
from .sip.message import Request, parse_message

if TYPE_CHECKING:  # pragma: no cover
    from .phone import Phone

__all__ = ["MiscMixin"]

_log = logging.getLogger("sipctl.phone")
_app_log = logging.getLogger("sipctl.app")
_DEVICE_PARAMS = {0: ("audiodevicein", "volumein"), 1: ("audiodeviceout", "volumeout"),
                  2: ("audiodevicering", "volumering")}


def _dev(dev: int) -> int:
    if dev not in (0, 1, 2):
        raise BadArgument(f"dev must be 0 (recording), 1 (playback) or 2 (ringer), not {dev}")
    return dev


class MiscMixin:
    """Registration, devices, diagnostics (part of :class:`~sipctl.Phone`)."""

    # -- registration ---------------------------------------------------------------------------
    def set_credentials(self: "Phone", server: str = "", username: str = "", password: str = "",
                        authname: str = "", displayname: str = "") -> bool:
        """``API_SetCredentials``: set the non-empty ones of server, user, password,
        auth name and display name."""
        pairs = [("serveraddress", server), ("username", username), ("password", password),
                 ("sipusername", authname), ("displayname", displayname)]
        return self._set_nonempty(pairs)

    def set_credentials_md5(self: "Phone", server: str = "", username: str = "", md5: str = "",
                            realm: str = "") -> bool:
        """``API_SetCredentialsMD5``: like :meth:`set_credentials` with
        MD5(username:realm:password) instead of the password."""
        return self._set_nonempty([("serveraddress", server), ("username", username),
                                   ("md5", md5), ("realm", realm)])

    def _set_nonempty(self: "Phone", pairs: list[tuple[str, str]]) -> bool:
        names = []
        for name, value in pairs:
            if value.strip():
                self.params.set(name, value.strip(), source="api")
                names.append(name)
        self._changed(names)
        return True

    async def register(self: "Phone", server: str = "", username: str = "", password: str = "",
                       authname: str = "", displayname: str = "") -> bool:
        """``API_Register``: register with these credentials (empty: as set before).
        A registration already running is replaced (new Call-ID)."""
        self.set_credentials(server, username, password, authname, displayname)
        if not self._has_account():
            raise BadArgument("no account to register: set serveraddress and username "
                              "(API_SetCredentials or the parameters) first")
        self._force_register = True
        self._accounts_dirty = True
        if self.ua is not None and any(c.active for c in self.ua.lines or ()):
            # calls are up: the new registration is made when they end (a rebuild)
            _log.info("API_Register during a call: the account is re-registered when the "
                      "calls end")
            return True
        if self.ua is not None:
            await self._rebuild_stack()
        await self._ensure_stack()
        return True

    async def register_ex(self: "Phone", accounts: str = "") -> bool:
        """``API_RegisterEx``: secondary accounts ``server,user,password,interval;...``
        (the ``extraregisteraccounts`` parameter)."""
        if not accounts.strip():
            raise BadArgument("no accounts given (server,usr,pwd,ival;server2,...)")
        self.params.set("extraregisteraccounts", accounts.strip(), source="api")
        self._changed(["extraregisteraccounts"])
        if self.ua is not None and not any(c.active for c in self.ua.lines or ()):
            await self._rebuild_stack()
        await self._ensure_stack()
        return True

    async def unregister(self: "Phone") -> bool:
        """``API_Unregister``: hang up every call and unregister (stops the SIP stack)."""
        await self._stop_ua()
        return True

    def is_registered(self: "Phone") -> bool:
        """``API_IsRegistered``: the primary account is registered."""
        ua = self.ua
        return bool(ua is not None and ua.registrar is not None and ua.accounts
                    and ua.registrar.is_registered(ua.accounts[0].index))

    def get_reg_fail_reason(self: "Phone", extended: bool = False) -> str:
        """``API_GetRegFailReason``: why the last registration failed ("" if none)."""
        return self.reg_fail_detail if extended else self.reg_fail_reason

    def is_online(self: "Phone") -> bool:
        """``API_IsOnline``: a network interface other than loopback is up."""
        for iface in Path("/sys/class/net").glob("*"):
            if iface.name == "lo":
                continue
            try:
                if (iface / "operstate").read_text().strip() in ("up", "unknown"):
                    return True
            except OSError:
                continue
        return False

    async def capability_request(self: "Phone", server: str = "", username: str = "") -> bool:
        """``API_CapabilityRequest``: send OPTIONS to ``server`` (default: serveraddress)."""
        server = server.strip() or str(self.params.get("serveraddress") or "")
        if not server:
            raise BadArgument("no server: pass one or set serveraddress")
        ua = await self._ensure_stack()
        host, port = ua.local_address("UDP")
        uri = server if server.startswith(("sip:", "sips:")) else f"sip:{server}"
        user = username.strip() or "unknown"
        tok = secrets.token_hex(8)
        text = (f"OPTIONS {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{tok};"
                f"rport\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@{host}>;tag={tok[:8]}\r\n"
                f"To: <{uri}>\r\nCall-ID: {tok}@{host}\r\nCSeq: 1 OPTIONS\r\n"
                f"Contact: <sip:{user}@{host}:{port}>\r\nAccept: application/sdp\r\n"
                f"User-Agent: sipctl/{_version.__version__}\r\nContent-Length: 0\r\n\r\n")
        self._send_request(ua, text)
        return True

    async def send_sip(self: "Phone", msg: str = "") -> bool:
        """``API_SendSIP``: send a SIP request given as text (line breaks ``\\r\\n`` or
        ``\\n``) to its Route or Request-URI."""
        if not msg.strip():
            raise BadArgument("no SIP message given")
        ua = await self._ensure_stack()
        head, sep, body = msg.replace("\r\n", "\n").partition("\n\n")
        text = head.strip("\n").replace("\n", "\r\n") + "\r\n\r\n" + body.replace("\n", "\r\n")
        self._send_request(ua, text)
        return True

    def _send_request(self: "Phone", ua: Any, text: str) -> None:
        try:
            req = parse_message(text.encode("utf-8"))
        except ParseError as e:
            raise BadArgument(f"not a valid SIP message: {e}") from None
        if not isinstance(req, Request):
            raise BadArgument("API_SendSIP sends requests only (this is a response)")
        if not req.via:
            host, port = ua.local_address("UDP")
            req.add("Via", f"SIP/2.0/UDP {host}:{port};branch=z9hG4bK{secrets.token_hex(8)}"
                           ";rport", first=True)
        target = ua.calls._target_now(req, in_dialog=False)
        if target is None:
            ua.calls._spawn_resolved(req, None)
        else:
            ua.calls._start_transaction(req, target, ua._now())
        ua._pump()

    # -- custom headers, blacklist -------------------------------------------------------------
    def set_sip_header(self: "Phone", line: int = -1, hdr: str = "") -> bool:
        """``API_SetSIPHeader``: a ``Name: value`` header added to what we send (every
        line: the ``customsipheader`` parameter)."""
        hdr = hdr.strip()
        if hdr and ":" not in hdr:
            raise BadArgument(f"not a SIP header (Name: value): {hdr!r}")
        return self.set_parameter("customsipheader", hdr or "NULL")

    def get_blacklist(self: "Phone") -> str:
        """``API_GetBlacklist``: the blocked users/numbers, comma separated."""
        return str(self.params.get("blacklist") or "")

    def set_blacklist(self: "Phone", str_: str = "") -> bool:
        """``API_SetBlacklist``: replace the blacklist (comma separated)."""
        items = [s.strip() for s in str_.split(",") if s.strip()]
        return self.set_parameter("blacklist", ",".join(items) if items else "NULL")

    def add_to_blacklist(self: "Phone", str_: str = "") -> bool:
        """``API_AddToBlacklist``: add users/numbers (comma separated)."""
        items = [s for s in self.get_blacklist().split(",") if s]
        for s in str_.split(","):
            if s.strip() and s.strip() not in items:
                items.append(s.strip())
        if not str_.strip():
            raise BadArgument("nothing to add to the blacklist")
        return self.set_parameter("blacklist", ",".join(items))

    # -- audio devices ----------------------------------------------------------------------------
    def get_audio_device_list(self: "Phone", dev: int = 0) -> str:
        """``API_GetAudioDeviceList``: device names separated by ``\\r\\n`` ("Null": no
        sound card; audio then runs on the null device)."""
        try:
            names = self.devices.list(_dev(dev))
        except ValueError as e:
            raise BadArgument(str(e)) from None
        return names or "Null"

    def get_audio_device(self: "Phone", dev: int = 0) -> str:
        """``API_GetAudioDevice``: the selected device (``Default`` or a name)."""
        return self.devices.get(_dev(dev))

    async def set_audio_device(self: "Phone", dev: int = 0, devicename: str = "",
                               immediate: int = 0) -> bool:
        """``API_SetAudioDevice``: select by name, or by number (1..9 in the list order,
        0 the system default). ``immediate`` 2 switches the running calls to it now; 1
        (and 0 with ``changeaudiodevimmediate`` 0/1) applies it once no call is up (at
        once when idle). The ringer (dev 2) is a selection only: sipctl rings on the
        playback device."""
        _dev(dev)
        if immediate not in (0, 1, 2):
            raise BadArgument(f"immediate must be 0, 1 or 2, not {immediate}")
        name = devicename.strip()
        if name.lower() == "null" and not self.devices.devices(dev):
            name = "Default"
        try:
            self.devices.select(dev, name, immediate)
        except ValueError as e:
            raise BadArgument(str(e)) from None
        self.params.set(_DEVICE_PARAMS[dev][0], self.devices.get(dev), source="api")
        self._changed([_DEVICE_PARAMS[dev][0]])
        mode = immediate or int(self.params.get("changeaudiodevimmediate")) or 1
        if self.engine is not None and dev in (0, 1):
            lines = self.ua.lines if self.ua is not None else None
            busy = any(c.active for c in lines) if lines is not None else False
            if mode == 2 or not busy:
                await self._switch_device()
            else:
                self._device_pending = True     # applied when the calls have ended
        return True

    async def _switch_device_later(self: "Phone") -> None:
        """The switch deferred until the calls ended (errors become a notice)."""
        try:
            await self._switch_device()
        except ApiError as e:
            self.emit(Notice("ERROR", str(e)))

    async def _switch_device(self: "Phone") -> None:
        """Open the selected devices and put them under the running media engine."""
        from .media.devices import AudioFormat
        engine = self.engine
        if engine is None:
            return
        self._device_pending = False
        st = engine.settings
        device = self.devices.open(AudioFormat(st.rate, 1, st.frame_ms))
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, engine.switch_device, device)
        except (ValueError, RuntimeError, OSError) as e:
            raise ApiError(f"cannot switch the audio device: {e}") from None
        self._device = None             # from now on the registry's selection is used
        _log.info("audio device switched to %s", getattr(device, "name", device))

    def set_volume(self: "Phone", dev: int, volume: int) -> bool:
        """``API_SetVolume``: 0..100 % for recording (0), playback (1) or ringer (2)."""
        try:
            self.devices.set_volume(_dev(dev), volume)
        except ValueError as e:
            raise BadArgument(str(e)) from None
        self.params.set(_DEVICE_PARAMS[dev][1], str(volume), source="api")
        self._changed([_DEVICE_PARAMS[dev][1]])
        device = getattr(self.engine, "device", None)
        if device is not None and dev in (0, 1):
            setattr(device, "volume_in" if dev == 0 else "volume_out", volume)
        return True

    def get_volume(self: "Phone", dev: int = 0) -> int:
        """``API_GetVolume``: the volume (0..100 %) of ``dev``."""
        return self.devices.get_volume(_dev(dev))

    # -- VAD ------------------------------------------------------------------------------------
    def vad_stats(self: "Phone") -> VadStats:
        """Microphone and speaker levels since the previous report (typed)."""
        meter = self._meter()
        lv = meter.read()
        on = self.engine is not None
        return VadStats(on, lv.local_avg, lv.local_max, lv.local_avg > SPEECH_LEVEL,
                        on, lv.remote_avg, lv.remote_max, lv.remote_avg > SPEECH_LEVEL)

    def vad(self: "Phone") -> str:
        """``API_VAD``: the VAD statistics text; from now on they are no longer sent
        automatically (as the reference)."""
        self._vad_polled = True
        return self.vad_stats().text()

    def _meter(self: "Phone") -> VadMeter:
        meter = getattr(self, "_vad_meter", None)
        if meter is None:
            meter = self._vad_meter = VadMeter()
        if self.engine is not None and self.engine.vad_meter is not meter:
            self.engine.vad_meter = meter
        return meter

    async def _vad_loop(self: "Phone") -> None:
        """``vadstat`` 3: a VAD event every ``vadstat_ival`` ms (until API_VAD is used)."""
        self._meter()
        while True:
            await asyncio.sleep(max(0.1, int(self.params.get("vadstat_ival")) / 1000))
            if getattr(self, "_vad_polled", False) or self.params.get("vadstat") != 3:
                return
            self.emit(self.vad_stats())

    # -- small ones --------------------------------------------------------------------------------
    def test(self: "Phone") -> bool:
        """``API_Test``: True (the API answers)."""
        return True

    def test_ex(self: "Phone") -> int:
        """``API_TestEx``: 42 (the API answers)."""
        return 42

    def get_version(self: "Phone") -> str:
        """``API_GetVersion``: sipctl's version."""
        return _version.__version__

    def add_log(self: "Phone", msg: str = "") -> None:
        """``API_AddLog``: write ``msg`` to the log (logger ``sipctl.app``)."""
        _app_log.info("%s", msg)

    def http_keep_alive(self: "Phone") -> bool:
        """``API_HTTPKeepAlive``: accepted; sipctl serve has no idle session timeout
        (it runs until API_Exit or SIGTERM), so there is nothing to refresh."""
        return True

    def server_init(self: "Phone", address: str = "") -> bool:
        """``API_ServerInit`` (deprecated in the reference: not needed): True."""
        return True


def _later(feature: str, name: str) -> Callable[..., Any]:
    def method(self: Any, *args: Any) -> Any:
        raise NotImplementedFeature(feature)
    method.__name__ = name
    method.__doc__ = f"Not implemented yet ({feature}): raises NotImplementedFeature."
    return method


def _headless(name: str, instead: str) -> Callable[..., Any]:
    api = "API_" + "".join(w.capitalize() for w in name.split("_"))

    def method(self: Any, *args: Any) -> Any:
        raise HeadlessOnly(f"{api} opens a window in the reference; sipctl is headless: "
                           f"{instead}")
    method.__name__ = name
    method.__doc__ = f"GUI-only in the reference: raises HeadlessOnly ({instead})."
    return method


_LATER = {
    "call transfer": ("transfer",),
    "conference": ("conf",),
    "chat (SIP MESSAGE)": ("send_chat",),
    "voice recording": ("voice_record",),
    "sound playback": ("play_sound",),
    "media streaming": ("stream_sound_buff", "stream_sound_stream", "get_media",
                        "get_media_end"),
    "video (not on sipctl's roadmap: a voice SDK)": ("add_video", "stop_video",
                                                     "send_video_rtp"),
    "voicemail (MWI)": ("check_voicemail",),
    "contacts": ("set_contacts", "get_contacts", "del_contact", "add_contact", "set_contact",
                 "get_contact", "set_contact_name", "set_contact_sip", "set_contact_phone",
                 "set_contact_speed_dial", "get_contact_name", "get_contact_sip",
                 "get_contact_phone", "get_contact_speed_dial"),
    "presence": ("push_contactlist", "num_exists", "check_presence", "set_presence_status",
                 "new_user"),
    "file storage": ("save_file", "save_file_raw", "load_file", "save_file_remote",
                     "load_file_remote", "load_file_remote_sync"),
    "HTTP requests": ("http_get", "http_post", "http_req", "http_req_async"),
}
_HEADLESS = {
    "show_log": "read the log file in the work directory, or set jsscriptevent=3 to get "
                "LOG notifications",
    "transfer_dialog": "call API_Transfer with the target",
    "chat": "call API_SendChat with the peer and the message",
    "audio_device": "list devices with API_GetAudioDeviceList and pick one with "
                    "API_SetAudioDevice",
}
for _feature, _names in _LATER.items():
    for _name in _names:
        setattr(MiscMixin, _name, _later(_feature, _name))
for _name, _instead in _HEADLESS.items():
    setattr(MiscMixin, _name, _headless(_name, _instead))
