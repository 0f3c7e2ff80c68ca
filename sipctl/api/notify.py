"""Phone events -> the reference's notification fields (``STATUS,...``, ``CDR,...``).

Which events a client gets depends on ``jsscriptevent`` (0 none, 1 status and CDR,
2 + important events, 3 + logs including SIP messages); formatting only — the events
themselves are :mod:`sipctl.phone_events`.
"""
from __future__ import annotations

from typing import Any

from sipctl.api.framing import format_notification
from sipctl.phone_events import (CallRecord, DtmfDigit, GlobalStatus, LineStatus, LogLine,
                                 Notice, Popup, PhoneEvent, Started, VadStats)

__all__ = ["event_fields", "format_event", "event_text"]


def event_fields(ev: PhoneEvent, level: int) -> list[Any] | None:
    """The notification fields of ``ev`` at ``jsscriptevent`` = ``level`` (None: not sent)."""
    if level <= 0:
        return None
    if isinstance(ev, GlobalStatus):
        return ["STATUS", -1, ev.text]
    if isinstance(ev, LineStatus):
        fields: list[Any] = ["STATUS", ev.line, ev.status, ev.peername, ev.localname,
                             ev.endpointtype, ev.peerdisplayname]
        if ev.stats is not None:
            sent, rec, lost, pct = ev.stats
            fields += [sent, rec, lost, f"{pct:.1f}", ""]
        return fields + [ev.callid]
    if isinstance(ev, CallRecord):
        return ["CDR", ev.line, ev.peername, ev.caller, ev.called, ev.peeraddress,
                ev.connecttime_ms, ev.duration_ms, ev.disparty, ev.reason]
    if isinstance(ev, Started):
        return ["START", ev.what]
    if isinstance(ev, VadStats):
        return ["VAD", ev.text()]
    if level < 2:
        return None
    if isinstance(ev, Notice):
        return ["EVENT", ev.level, ev.text]
    if isinstance(ev, DtmfDigit):
        return ["EVENT", "EVENT", f"DTMF {ev.digit} received on line {ev.line}"]
    if isinstance(ev, Popup):
        return ["POPUP", ev.text]
    if level < 3:
        return None
    if isinstance(ev, LogLine):
        return ["LOG", ev.level, ev.text]
    return None


def format_event(ev: PhoneEvent, level: int) -> bytes | None:
    """The ``WPNOTIFICATION,...,NEOL\\r\\n`` line of ``ev`` (None: not sent at ``level``)."""
    fields = event_fields(ev, level)
    return None if fields is None else format_notification(fields)


def event_text(ev: PhoneEvent, level: int) -> str | None:
    """The event's string as ``API_Poll`` returns it (``STATUS,-1,Registered.``): the
    notification without the ``WPNOTIFICATION,``/``,NEOL`` envelope."""
    data = format_event(ev, level)
    if data is None:
        return None
    return data.decode("utf-8")[len("WPNOTIFICATION,"):-len(",NEOL\r\n")]
