"""Status texts of the reference: per-line statuses, their numeric codes, and the
general ("best") status over every line and the registration.

Pure functions over plain values (no I/O): the Phone feeds them what it knows.
"""
from __future__ import annotations

from typing import Iterable

__all__ = ["LINE_STATUSES", "line_status_code", "general_status", "IN_CALL", "RINGING",
           "SETUP", "ENDING"]

#: The per-line statuses in the reference's order; ``API_GetLineStatus`` answers the
#: index (the reference gives no numbers; the order of its list is the natural one).
LINE_STATUSES = ("Unknown", "Init", "Ready", "Outband", "Register", "Subscribe", "Chat",
                 "CallSetup", "Setup", "InProgress", "Routed", "Ringing", "CallConnect",
                 "InCall", "Muted", "Hold", "Speaking", "Midcall", "CallDisconnect",
                 "Finishing", "Finished", "Deletable", "Error")
_CODES = {s.lower(): i for i, s in enumerate(LINE_STATUSES)}

IN_CALL = frozenset({"CallConnect", "InCall", "Muted", "Hold", "Speaking", "Midcall"})
RINGING = frozenset({"Ringing"})
SETUP = frozenset({"CallSetup", "Setup", "InProgress", "Routed"})
ENDING = frozenset({"CallDisconnect", "Finishing"})


def line_status_code(status: str) -> int:
    """The numeric code of a per-line status (0, Unknown, for texts not in the list)."""
    return _CODES.get(status.lower(), 0)


def general_status(lines: Iterable[tuple[str, int, float | None]], registration: str,
                   now: float, last_call_ended: bool = False) -> str:
    """The "best" status: a call in progress beats ringing beats set-up beats hang-up,
    then the registration's state, then Ready.

    ``lines``: (status, endpointtype, connect time or None) per line with a call;
    ``registration``: "" / "Registering..." / "Registered." / "Register Failed";
    ``last_call_ended``: a call finished since (shown as "Call Finished" until the
    next change).
    """
    best = 0
    text = ""
    for status, endpointtype, connected in lines:
        if status in IN_CALL:
            secs = 0 if connected is None else max(0, int(now - connected))
            rank, t = 5, f"In Call ({secs} sec)"
        elif status in RINGING:
            rank, t = 4, "Incoming..." if endpointtype == 2 else "Ringing..."
        elif status in SETUP:
            rank, t = 3, "Incoming..." if endpointtype == 2 else "Calling..."
        elif status in ENDING:
            rank, t = 2, "Hangup"
        else:
            continue
        if rank > best:
            best, text = rank, t
    if text:
        return text
    if last_call_ended:
        return "Call Finished"
    return registration or "Ready"
