"""``Phone``: the asyncio facade of the SDK — the reference's API in snake_case.

One :class:`Phone` owns the parameters (:class:`~sipctl.params.Parameters`), the audio
devices, the media engine and, while the SIP stack runs, a
:class:`~sipctl.ua.UserAgent`. Its methods are the reference's API functions
(``API_SetParameter`` -> :meth:`Phone.set_parameter`, ``API_Call`` ->
:meth:`~sipctl.phone_calls.CallsMixin.call` ...) with the same arguments, defaults and
return values; failures raise :class:`~sipctl.errors.ApiError` with a reason. What
happens is reported as typed events (:mod:`sipctl.phone_events`) from :meth:`events`.

The TCP API (:mod:`sipctl.api`) is a thin adapter over this class: no second code path.

Lifecycle (as the reference): :meth:`start` (``API_Start``) makes the engine ready
(``START,api``); the SIP stack starts per ``startsipstack`` — at once (2), once a server
and user are configured (1, the default), or at the first register/call (0) — and
reports ``START,sip``. Parameters that name the account re-register it (the stack is
rebuilt when no call is up). :meth:`stop` hangs up, unregisters and stops the stack;
:meth:`exit` does that and asks the service to terminate.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Mapping

from . import _version
from .accounts import RegistrationSettings, accounts_from_params
from .call_events import Cdr, DtmfReceived, StatusChanged
from .call_settings import CallSettings
from .errors import ApiError, BadArgument, NotStarted
from .media.device_registry import DeviceRegistry
from .param_crypto import decode_value
from .params import Parameters, autocfg_can_load, autocfg_can_save
from .phone_calls import CallsMixin
from .media.media_events import DtmfReceived as MediaDtmf
from .media.media_events import MediaError, MediaTimeout
from .phone_events import (CallRecord, GlobalStatus, LogLine, Notice, PhoneEvent, Popup,
                           Started)
from .phone_misc import MiscMixin
from .phone_status import IN_CALL, general_status
from .sip.errors import LocalProtocolError
from .registration_events import Registered, RegisterFailed, Registering, Unregistered
from .sip.errors import TransportError
from .transport import TransportConfig

__all__ = ["Phone"]

_log = logging.getLogger("sipctl.phone")

#: Parameters that define the accounts: changing one re-registers.
_ACCOUNT_PARAMS = frozenset({"serveraddress", "username", "password", "md5", "realm",
                             "sipusername", "displayname", "proxyaddress", "transport",
                             "registerinterval", "extraregisteraccounts", "register", "authtype"})
_NUMBERED_ACCOUNT = ("serveraddress", "username", "password", "registerinterval")
CONFIG_NAME = "wpcfg.ini"
#: Seconds before the SIP stack is tried again after its server could not be reached.
STACK_RETRY = 30.0


def _is_account_param(name: str) -> bool:
    if name in _ACCOUNT_PARAMS:
        return True
    base = name.rstrip("0123456789")
    return base != name and base in _NUMBERED_ACCOUNT


class Phone(CallsMixin, MiscMixin):
    """A softphone: parameters, accounts, lines and events.

    ``params``: initial parameters (name -> value, as strings or plain values);
    ``workdir``: where ``wpcfg.ini`` is loaded from and saved to (None: no file);
    ``device``: an :class:`~sipctl.media.devices.AudioDevice` to use instead of the
    one the device registry opens (e.g. a :class:`~sipctl.media.devices.WavDevice`);
    ``devices``: the device registry (default: PortAudio when a sound card exists,
    else the null device).

    Use as ``async with Phone(...) as phone:`` (start/stop) and iterate
    ``async for ev in phone.events():``.
    """

    def __init__(self, params: Mapping[str, Any] | None = None, *,
                 workdir: str | Path | None = None, device: Any = None,
                 devices: DeviceRegistry | None = None) -> None:
        self.params = Parameters()
        self.workdir = Path(workdir) if workdir is not None else None
        self.devices = devices if devices is not None else DeviceRegistry()
        self._device = device
        self.ua: Any = None
        self.engine: Any = None
        self.started = False
        #: Set by :meth:`exit`: the service stops when it is set.
        self.exit_requested = asyncio.Event()
        self._listeners: list[Callable[[PhoneEvent], None]] = []
        #: ``fn(names)`` after parameters changed (the service re-reads its log settings).
        self.param_listeners: list[Callable[[list[str]], None]] = []
        self._pumps: list[asyncio.Task[None]] = []
        self._stack_lock = asyncio.Lock()
        self._current = 1
        # per line with a call: its last status event and its connect time (until its CDR)
        self._line_state: dict[int, tuple[StatusChanged, float | None]] = {}
        self._last_call_ended = False
        self._reg_text = ""
        self._last_global = ""
        self.reg_fail_reason = ""
        self.reg_fail_detail = ""
        self.last_cdr: CallRecord | None = None
        self._last_rx: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._accounts_dirty = False
        self._resync: asyncio.TimerHandle | None = None
        self._save: asyncio.TimerHandle | None = None
        self._dirty = False         # parameters changed since wpcfg.ini was read/written
        self._force_register = False
        self._stopping = False
        self._timers: list[asyncio.TimerHandle] = []       # delayed stack starts, retries
        self._background: set[asyncio.Task[Any]] = set()   # account re-syncs
        self._stack_error = ""
        self._device_pending = False
        self._poll: collections.deque[PhoneEvent] = collections.deque(maxlen=2000)
        for name, value in (params or {}).items():
            self.params.set(name, _text(value), source="init")
        # the saved settings first, then what the caller passed wins over them (and the
        # file is never saved before it was read, so nothing in it is lost)
        if self._load_config():
            for name, value in (params or {}).items():
                self.params.set(name, _text(value), source="init")
        self.devices.apply_parameters(self.params.explicit())

    # -- events -------------------------------------------------------------------------------
    def add_listener(self, fn: Callable[[PhoneEvent], None]) -> None:
        """Call ``fn(event)`` on the loop for every event (the TCP API's hook)."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[PhoneEvent], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    async def events(self) -> AsyncIterator[PhoneEvent]:
        """Every event from now on: :class:`Started`, :class:`LineStatus`,
        :class:`GlobalStatus`, :class:`CallRecord`, :class:`Notice`, :class:`LogLine`,
        :class:`VadStats`, :class:`DtmfDigit`, :class:`Popup`."""
        queue: asyncio.Queue[PhoneEvent] = asyncio.Queue()
        self.add_listener(queue.put_nowait)
        try:
            while True:
                yield await queue.get()
        finally:
            self.remove_listener(queue.put_nowait)

    def emit(self, event: PhoneEvent) -> None:
        """Hand ``event`` to every listener (a failing listener is logged and skipped)."""
        if self.polling:
            self._poll.append(event)
        for fn in list(self._listeners):
            try:
                fn(event)
            except Exception:  # noqa: BLE001
                _log.exception("event listener failed on %r", event)

    @property
    def polling(self) -> bool:
        """Events are kept for :meth:`poll` (``jsscriptpoll`` 1, 2 or 3)."""
        return self.params.get("jsscriptpoll") in (1, 2, 3)

    def poll(self) -> list[PhoneEvent]:
        """``API_Poll``: the events since the previous call (``jsscriptpoll`` -1 turns
        into 2 at the first call, so events are kept from then on)."""
        mode = self.params.get("jsscriptpoll")
        if mode == 0:
            raise ApiError("polling is off (jsscriptpoll=0); set jsscriptpoll to 1, 2 or 3")
        if mode == -1:
            self.params.set("jsscriptpoll", "2", source="api")
        out = list(self._poll)
        self._poll.clear()
        return out

    # -- lifecycle ------------------------------------------------------------------------------
    async def __aenter__(self) -> "Phone":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> bool:
        """``API_Start``: report ``START,api`` and start the SIP stack when
        ``startsipstack`` says so (``wpcfg.ini`` was read when the Phone was made)."""
        if self._stopping:
            raise NotStarted("the engine is stopping")
        if self.started:
            self.emit(Started("api"))       # a client that connects late waits for it too
            return True
        self.started = True
        self.emit(Started("api"))
        self._global(force=True)
        self._vad_autostart()
        self._stats_autostart()
        policy = self.params.get("startsipstack")
        if policy == 2 or (policy == 1 and self._has_account()):
            await self.start_stack()
        elif policy > 2:
            self._timers.append(asyncio.get_running_loop().call_later(policy, self._spawn_stack))
        return True

    async def start_stack(self) -> bool:
        """``API_StartStack``: open the SIP transports, start media and register."""
        if not self.started:
            await self.start()
        async with self._stack_lock:
            if self._stopping or not self.started:
                raise NotStarted("the engine is stopping")
            if self.ua is None:
                await self._start_ua()
        return True

    async def stop(self) -> bool:
        """``API_Stop``: hang up every call, unregister, stop the SIP stack and media."""
        self._stopping = True
        try:
            for t in self._timers:
                t.cancel()
            self._timers.clear()
            if self._resync is not None:
                self._resync.cancel()
                self._resync = None
            for task in [*self._background, getattr(self, "_vad_task", None),
                         getattr(self, "_stats_task", None)]:
                if task is not None:
                    task.cancel()
            await self._stop_ua()
            self._flush_config()
            self.started = False
        finally:
            self._stopping = False
        return True

    async def exit(self) -> bool:
        """``API_Exit``: :meth:`stop`, then ask the service to terminate."""
        await self.stop()
        self.exit_requested.set()
        return True

    async def _ensure_stack(self) -> Any:
        """The running UserAgent (starting it, or rebuilding it for new account settings,
        as needed); NotStarted with the reason when it cannot run."""
        await self.start_stack()
        if self._accounts_dirty:
            await self._apply_accounts(raise_errors=True)
        if self.ua is None:
            raise NotStarted(f"the SIP stack is not running: {self._stack_error or 'stopped'}")
        return self.ua

    def _background_task(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _spawn_stack(self) -> None:
        if self.started and not self._stopping and self.ua is None:
            self._background_task(self._apply_accounts(start=True))

    def _has_account(self) -> bool:
        e = self.params.explicit()
        return bool(e.get("serveraddress") and e.get("username"))

    async def _start_ua(self) -> None:
        from .media.engine import MediaEngine, MediaSettings
        from .media.devices import AudioFormat
        from .ua import UserAgent
        explicit = self.params.explicit()
        try:
            accounts = accounts_from_params(explicit)
            reg = RegistrationSettings.from_params(
                explicit, user_agent=f"sipctl/{_version.__version__}")
            if self._force_register and reg.register == 0:
                reg = RegistrationSettings.from_params(
                    {**explicit, "register": "2"}, user_agent=f"sipctl/{_version.__version__}")
            call_settings = CallSettings.from_params(explicit)
            media_settings = MediaSettings.from_params(explicit)
            if not self.params.get("localip"):
                # no localip: SIP and RTP listen on every interface; each call's Contact
                # and SDP carry the address routed to its peer
                media_settings = dataclasses.replace(media_settings, bind_address="0.0.0.0")
        except ValueError as e:
            raise BadArgument(str(e)) from None
        p = self.params
        tcfg = TransportConfig(transport=p.get("transport"), signalingport=p.get("signalingport"),
                               localip=p.get("localip") or "", udptos=p.get("udptos"),
                               keepalivetype=p.get("keepalivetype"),
                               keepaliveival=p.get("keepaliveival"))
        device = self._device
        if device is None:
            device = self.devices.open(AudioFormat(media_settings.rate, 1, media_settings.frame_ms))
        engine = MediaEngine(settings=media_settings, device=device)
        engine.vad_meter = getattr(self, "_vad_meter", None)
        ua = UserAgent(accounts, transport_config=tcfg, settings=reg, call_settings=call_settings,
                       params=explicit, media=engine, user_agent=f"sipctl/{_version.__version__}")
        ua.trace = self._on_trace
        engine.start()
        try:
            await ua.start()
        except BaseException as e:
            await asyncio.get_running_loop().run_in_executor(None, engine.stop)
            if isinstance(e, (OSError, TransportError)):
                why = getattr(e, "strerror", None) or str(e)
                self._stack_error = why
                if accounts:        # as a failed registration: reported, retried
                    self.reg_fail_reason = why
                    self.reg_fail_detail = f"{why} (retry in {STACK_RETRY:.0f} s)"
                    self._reg_text = "Register Failed"
                    self._global()
                    self._timers.append(asyncio.get_running_loop().call_later(
                        STACK_RETRY, self._spawn_stack))
                self.emit(Notice("ERROR", f"cannot start the SIP stack: {why}"))
                raise ApiError(f"cannot start the SIP stack: {why}") from None
            raise
        self._stack_error = ""
        self.ua, self.engine = ua, engine
        self._accounts_dirty = False
        if ua.lines is not None:
            ua.lines.current = self._current
        loop = asyncio.get_running_loop()
        self._pumps = [loop.create_task(self._reg_pump(ua), name="sipctl-phone-reg"),
                       loop.create_task(self._call_pump(ua), name="sipctl-phone-calls")]
        addrs = ", ".join(f"{t.name} {t.local_address[0]}:{t.local_address[1]}"
                          for t in ua.manager.transports)
        _log.info("SIP stack started (%s); %d account(s)", addrs, len(accounts))
        self.emit(Started("sip"))
        self._global()

    async def _stop_ua(self) -> None:
        async with self._stack_lock:
            ua, engine = self.ua, self.engine
            if ua is None:
                return
            try:
                await ua.stop()
                # the CDRs of the calls just hung up are in the queue: report them
                await asyncio.sleep(0)
                reg_events, call_events = ua.drain_events()
                for ev in call_events:
                    self._on_call_event(ev)
                for ev in reg_events:
                    self._on_registration(ev)
            finally:
                for t in self._pumps:
                    t.cancel()
                self._pumps = []
                self.ua = self.engine = None
                if engine is not None:
                    await asyncio.get_running_loop().run_in_executor(None, engine.stop)
                self._line_state.clear()
                self._reg_text = ""
                self._global()
                _log.info("SIP stack stopped")

    # -- parameters -------------------------------------------------------------------------------
    def set_parameter(self, param: str, value: str) -> bool:
        """``API_SetParameter``: set one parameter (``DEF``/``NULL``/``encrypted__X__``
        values as the reference); a bad value raises :class:`BadArgument`."""
        if not param.strip():
            raise BadArgument("empty parameter name")
        self.params.set(param, value, source="api")
        self._changed([param.strip().lower()])
        return True

    def set_parameters(self, parameters: str) -> bool:
        """``API_SetParameters``: ``name=value`` lines; the good ones are applied, the
        bad ones reported in the raised :class:`BadArgument`."""
        names = [ln.split("=", 1)[0].strip().lower() for ln in parameters.splitlines()
                 if "=" in ln]
        errors = self.params.set_many(parameters, source="api")
        self._changed(names)
        if errors:
            raise BadArgument("; ".join(errors))
        return True

    def decode_argument(self, text: str) -> str:
        """A string argument given as ``encrypted__X__...`` in clear."""
        return decode_value(text, str(self.params.get("encryptionkey")))

    def apply_mparam(self, value: str, persist: bool) -> None:
        """Parameters from a server's ``X-MParam``/``X-MParamP`` header."""
        try:
            names = self.params.apply_mparam(value, persist)
        except ApiError as e:
            _log.warning("x-mparam %r: %s", value, e)
            return
        self._changed([n.lower() for n in names])

    def _changed(self, names: list[str]) -> None:
        if not names:
            return
        names = [spec.name if (spec := self.params.lookup(n)) is not None and not spec.numbered
                 else n for n in names]
        if "register" in names:
            self._force_register = False     # the parameter decides again
        for fn in list(self.param_listeners):
            try:
                fn(names)
            except Exception:  # noqa: BLE001
                _log.exception("parameter listener failed")
        loop = asyncio.get_running_loop()
        if any(_is_account_param(n) for n in names):
            self._accounts_dirty = True
            if self._resync is None:    # several settings in a row: act once
                self._resync = loop.call_later(0.05, self._resync_now)
        if self.ua is not None:
            self._apply_live(names)
        self._dirty = True
        if self._save is None and autocfg_can_save(self.params.get("autocfgsave")):
            self._save = loop.call_later(0.5, self._flush_config)
        if "vadstat" in names:
            self._vad_autostart()
        if "jsscripstats" in names:
            self._stats_autostart()
        if any(n in ("audiodevicein", "audiodeviceout", "audiodevicering", "volumein",
                     "volumeout", "volumering") for n in names):
            try:
                self.devices.apply_parameters(self.params.explicit())
            except ValueError as e:
                _log.warning("audio device parameters: %s", e)

    def _apply_live(self, names: list[str]) -> None:
        ua = self.ua
        explicit = self.params.explicit()
        try:
            cs = CallSettings.from_params(explicit)
        except ValueError as e:
            _log.warning("call parameters: %s", e)
            return
        ua.calls.settings = cs
        ua.calls.params = dict(explicit)
        if ua.lines is not None:
            ua.lines.settings = cs
        for n in names:
            spec = self.params.lookup(n)
            if spec is not None and not spec.live and not _is_account_param(n):
                _log.info("parameter %s takes effect when the SIP stack restarts "
                          "(API_Stop, then API_Start)", n)

    def _stats_autostart(self) -> None:
        task = getattr(self, "_stats_task", None)
        if self.started and self.params.get("jsscripstats") > 0 and (task is None or task.done()):
            self._stats_task = asyncio.get_running_loop().create_task(self._stats_loop())

    async def _stats_loop(self) -> None:
        """``jsscripstats`` N > 0: every N seconds a STATUS with the RTP figures of each
        connected call."""
        loop = asyncio.get_running_loop()
        while self.started and (period := self.params.get("jsscripstats")) > 0:
            await asyncio.sleep(period)
            ua, engine = self.ua, self.engine
            if ua is None or engine is None or ua.lines is None:
                continue
            for call in [c for c in ua.lines if c.active and c.status in IN_CALL]:
                try:
                    key = ua.media_key(call.line)
                    m = await loop.run_in_executor(None, engine.summary, key)
                except (KeyError, LocalProtocolError, RuntimeError):
                    continue
                state = self._line_state.get(call.line)
                if m is not None and state is not None:
                    self.emit(dataclasses.replace(state[0], stats=(m.sent, m.received, m.lost,
                                                                   m.loss_percent)))

    def _vad_autostart(self) -> None:
        task = getattr(self, "_vad_task", None)
        if self.started and self.params.get("vadstat") == 3 and (task is None or task.done()):
            self._vad_polled = False
            self._vad_task = asyncio.get_running_loop().create_task(self._vad_loop())

    def _resync_now(self) -> None:
        self._resync = None
        if self.started and not self._stopping:
            self._background_task(self._apply_accounts())

    async def _apply_accounts(self, *, start: bool = False, raise_errors: bool = False) -> None:
        """Accounts changed: start the stack (``startsipstack`` 1, or ``start``) or rebuild
        it when no call is up. Never brings a stopped engine back up."""
        try:
            if not self.started or self._stopping:
                return
            if self.ua is None:
                if start or (self.params.get("startsipstack") == 1 and self._has_account()):
                    await self.start_stack()
                return
            if not self._accounts_dirty:
                return
            if any(c.active for c in self.ua.lines or ()):
                _log.info("account parameters changed: applied when the calls end")
                return
            await self._rebuild_stack()
        except ApiError as e:
            self._stack_error = str(e)
            if raise_errors:
                raise
            self.emit(Notice("ERROR", f"cannot apply the account settings: {e}"))
        except Exception as e:  # noqa: BLE001
            _log.exception("applying account settings failed")
            self._stack_error = str(e)
            if raise_errors:
                raise ApiError(f"cannot apply the account settings: {e}") from None
            self.emit(Notice("ERROR", f"cannot apply the account settings: {e}"))

    async def _rebuild_stack(self) -> None:
        """Stop the SIP stack (unregistering) and start it with the current parameters."""
        self._accounts_dirty = False
        await self._stop_ua()
        await self.start_stack()

    def _load_config(self) -> bool:
        """Read ``wpcfg.ini`` per ``autocfgsave``; True when a file was read."""
        if self.workdir is None or not autocfg_can_load(self.params.get("autocfgsave")):
            return False
        path = self.workdir / CONFIG_NAME
        if not path.exists():
            return False
        try:
            problems = self.params.load_ini(path)
        except OSError as e:
            _log.warning("cannot read %s: %s", path, e)
            return False
        for problem in problems:
            _log.warning("%s: %s", path, problem)
        return True

    def _flush_config(self) -> None:
        if self._save is not None:
            self._save.cancel()
            self._save = None
        if not self._dirty or self.workdir is None or \
                not autocfg_can_save(self.params.get("autocfgsave")):
            return
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.params.save_ini(self.workdir / CONFIG_NAME)
            self._dirty = False
        except OSError as e:
            _log.warning("cannot save %s: %s", CONFIG_NAME, e)

    # -- what the stack reports --------------------------------------------------------------------
    async def _reg_pump(self, ua: Any) -> None:
        async for ev in ua.events():
            try:
                self._on_registration(ev)
            except Exception:  # noqa: BLE001
                _log.exception("registration event %r", ev)

    async def _call_pump(self, ua: Any) -> None:
        async for ev in ua.call_events():
            try:
                self._on_call_event(ev)
            except Exception:  # noqa: BLE001
                _log.exception("call event %r", ev)

    def _on_registration(self, ev: Any) -> None:
        primary = getattr(ev, "account", None) is None or ev.account.index == 1
        if isinstance(ev, Registering):
            if primary:
                self._reg_text = "Registering..."
        elif isinstance(ev, Registered):
            if primary:
                self._reg_text = "Registered."
            self.emit(Notice("EVENT", f"registered as {ev.account.username} at "
                                      f"{ev.account.server} (expires {ev.expires} s)"))
        elif isinstance(ev, RegisterFailed):
            why = f"{ev.status} {ev.reason}" if ev.status else ev.reason
            if primary:
                self._reg_text = "Register Failed"
                self.reg_fail_reason = ev.reason
                self.reg_fail_detail = (f"{why} (account {ev.account.username}@"
                                        f"{ev.account.server}; retry in "
                                        f"{ev.retry_in or 0:.0f} s)")
            self.emit(Notice("WARNING", f"registration of {ev.account.username} failed: {why}"))
            if primary and ev.status in (401, 403, 407):
                # the user has to act (fix the credentials): the reference's POPUP
                self.emit(Popup(f"{ev.account.username}@{ev.account.server}: registration "
                                f"refused ({why}); check the username and password"))
        elif isinstance(ev, Unregistered):
            if primary:
                self._reg_text = ""
        self._global()

    def _on_call_event(self, ev: Any) -> None:
        if isinstance(ev, StatusChanged):
            if ev.status == "CallSetup":
                self._current = ev.line
                self._last_call_ended = False
            elif ev.status == "Finished":
                self._last_call_ended = True
            call = self.ua.lines.get(ev.line) if self.ua is not None and \
                self.ua.lines is not None else None
            self._line_state[ev.line] = (ev, getattr(call, "connect_time", None))
            self.emit(ev)
            self._global(force=True)
            if ev.status == "Finished" and not self._calls_up():
                if self._accounts_dirty:
                    self._resync_now()
                if self._device_pending:
                    self._background_task(self._switch_device_later())
        elif isinstance(ev, Cdr):
            self.last_cdr = ev
            state = self._line_state.pop(ev.line, None)
            if ev.media is not None and state is not None and self.params.get("jsscripstats") > 0:
                m = ev.media     # jsscripstats: the RTP figures at the end of the call
                self.emit(dataclasses.replace(state[0], stats=(m.sent, m.received, m.lost,
                                                               m.loss_percent)))
            self.emit(ev)
        elif isinstance(ev, (DtmfReceived, MediaDtmf)):
            self.emit(DtmfReceived(ev.line, ev.digit, ev.method))
        elif isinstance(ev, MediaTimeout):
            self.emit(Notice("WARNING", f"line {ev.line}: no RTP for {ev.seconds:g} s "
                                        "(media timeout)"))
        elif isinstance(ev, MediaError):
            self.emit(Notice("WARNING", f"line {ev.line}: media error: {ev.message}"))

    def _calls_up(self) -> bool:
        """A line has a call that is not finished."""
        return any(ev.status != "Finished" for ev, _ in self._line_state.values())

    def line_status(self, line: int) -> str | None:
        """The last status of ``line``'s call (kept until its CDR), or None."""
        state = self._line_state.get(line)
        return state[0].status if state is not None else None

    def _global(self, force: bool = False) -> None:
        text = self.general_status()
        if force or text != self._last_global:
            self._last_global = text
            self.emit(GlobalStatus(text))

    def general_status(self) -> str:
        """The current general status text (as in ``STATUS,-1,...``)."""
        now = asyncio.get_running_loop().time()
        lines = [(ev.status, ev.endpointtype, connected)
                 for ev, connected in self._line_state.values()]
        return general_status(lines, self._reg_text, now, self._last_call_ended)

    def _on_trace(self, direction: str, message: Any, peer: Any) -> None:
        if direction == "received":
            cid = getattr(message, "call_id", None)
            if cid:
                self._last_rx[cid] = message
                self._last_rx.move_to_end(cid)
                while len(self._last_rx) > 256:
                    self._last_rx.popitem(last=False)
                if self._from_registrar(message, peer):
                    for name, persist in (("X-MParam", False), ("X-MParamP", True)):
                        value = message.headers.get(name)
                        if value:
                            self.apply_mparam(value, persist)
        if self._listeners and self.params.get("jsscriptevent") >= 3 \
                and self.params.get("loglevel") >= 3:
            data = message if isinstance(message, bytes) else message.serialize()
            where = "to" if direction == "sent" else "from"
            self.emit(LogLine("EVENT", f"SIP {direction} {where} {peer}:\r\n"
                                     + data.decode("utf-8", "replace")))

    def _from_registrar(self, message: Any, peer: Any) -> bool:
        """``message`` answers one of our REGISTERs and comes from that account's server:
        the only source trusted with X-MParam (parameters "sent from the server")."""
        ua = self.ua
        cseq = getattr(message, "cseq", None)
        if ua is None or ua.registrar is None or getattr(message, "status", None) is None \
                or cseq is None or cseq.method != "REGISTER":
            return False
        reg = ua.registrar.by_call_id(message.call_id)
        if reg is None:
            return False
        try:
            target = ua.target(reg.account.index)
        except KeyError:
            return False
        return tuple(peer)[:2] == tuple(target.address)[:2]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
