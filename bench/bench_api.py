"""TCP API round trip: ``API_TestEx`` -> ``42`` on loopback, idle and while 4 calls carry RTP.

Not a timing row: ``REPORTS`` adds one table (``python -m bench -k api``, about 15 s):
p50/p99/max in microseconds of sequential round trips on one persistent connection to
``python3 -m sipctl serve``, next to the same measurement against a minimal asyncio line
server answering ``42`` (the echo peer: the floor for a Python asyncio line server on this
machine), both measured in alternating chunks in the same run; the ratio is
p99(sipctl) / p99(echo peer). Idle (SIP stack started, no call), then with a SIPp UAC
holding 4 PCMU calls at 50 packets/s each way (calls checked up with
``API_GetCurrentConnectedCallCount`` and SIPp; RTP checked flowing). Target: p99 <= 1 ms
with the calls up, and <= 10 x the echo peer's (``python3 -m bench.api_rtt --gate`` exits 1
when missed; see :mod:`bench.api_rtt` for the options, e.g. ``--profile``).
"""
from __future__ import annotations

from bench import api_rtt

CASES: list = []


def api_report():
    """api round trip: API_TestEx p50/p99 idle and with 4 calls, sipctl vs an asyncio echo peer"""
    res = api_rtt.run(n=5000, calls=4)
    return api_rtt.title(res), api_rtt.HEADERS, api_rtt.rows(res)


REPORTS = [api_report]
