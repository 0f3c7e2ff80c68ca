"""G.711 encode/decode against the stdlib audioop, per 20 ms frame and per 1 s block at 8 kHz."""
from __future__ import annotations

import warnings
from functools import partial

import numpy as np

from _media import g711
from bench.core import Case

with warnings.catch_warnings():
    # Deprecated in 3.11/3.12; the audioop-lts package provides it on 3.13+.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

RATE = 8000


def _cases(label: str, n: int, encode_target: float | None,
           decode_target: float | None) -> list[Case]:
    # Bytes on both sides: that is what audioop takes and what an RTP payload is.
    pcm = np.random.default_rng(711).integers(-32768, 32768, n, dtype=np.int16).tobytes()
    cases = []
    for law, lin2law, law2lin in (("ulaw", audioop.lin2ulaw, audioop.ulaw2lin),
                                  ("alaw", audioop.lin2alaw, audioop.alaw2lin)):
        codes = lin2law(pcm, 2)
        cases.append(Case(f"g711 {law} encode {label}", partial(getattr(g711, f"{law}_encode"), pcm),
                          partial(lin2law, pcm, 2), peer_name="audioop", unit="us/op",
                          target=encode_target))
        cases.append(Case(f"g711 {law} decode {label}", partial(getattr(g711, f"{law}_decode"), codes),
                          partial(law2lin, codes, 2), peer_name="audioop", unit="us/op",
                          target=decode_target))
    return cases


CASES: list[Case] = (_cases("20ms", RATE // 50, 2.0, 1.0)
                     + _cases("1s", RATE, None, None))
