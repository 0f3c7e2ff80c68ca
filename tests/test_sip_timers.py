"""RFC 3261 timer values, table 4 (reliable transports) and the ``timer`` scale."""
from __future__ import annotations

import math

import pytest

from sipctl.sip import timers as tm
from sipctl.sip.timers import Timers, is_reliable


def test_base_values() -> None:
    assert (tm.T1, tm.T2, tm.T4) == (0.5, 4.0, 5.0)
    assert tm.TIMER_A == tm.TIMER_E == tm.TIMER_G == tm.T1
    assert tm.TIMER_B == tm.TIMER_F == tm.TIMER_H == tm.TIMER_J == 32.0
    assert tm.TIMER_L == tm.TIMER_M == 64 * tm.T1
    assert tm.TIMER_D == 32.0 and tm.TIMER_I == tm.TIMER_K == tm.T4
    assert tm.TIMER_C > 180 - 1


def test_default_unreliable() -> None:
    t = Timers()
    assert t.scale == 1.0 and (t.t1, t.t2, t.t4) == (0.5, 4.0, 5.0)
    assert [t.a, t.b, t.d, t.e, t.f, t.g, t.h, t.i, t.j, t.k, t.l, t.m] == [
        0.5, 32.0, 32.0, 0.5, 32.0, 0.5, 32.0, 5.0, 32.0, 5.0, 32.0, 32.0]
    assert t.value("b") == 32.0


def test_reliable_column_of_table_4() -> None:
    t = Timers(reliable=True)
    assert t.a is None and t.e is None and t.g is None  # no retransmissions
    assert t.d == t.i == t.j == t.k == 0.0
    assert t.b == t.f == t.h == t.l == t.m == 32.0
    assert Timers().for_transport(True) == t
    assert t.for_transport(True) is t


@pytest.mark.parametrize("timer,scale", [(10, 1.0), (15, 1.5), (5, 0.5), (20, 2.0), (1, 0.1), (100, 10.0)])
def test_scale(timer: float, scale: float) -> None:
    t = Timers(timer)
    assert t.scale == scale
    assert math.isclose(t.t1, 0.5 * scale) and math.isclose(t.t2, 4 * scale)
    assert math.isclose(t.b, 32 * scale) and math.isclose(t.d, 32 * scale)
    assert math.isclose(t.i, 5 * scale) and math.isclose(t.m, 32 * scale)
    assert Timers(timer, reliable=True).d == 0.0


@pytest.mark.parametrize("bad", [0, -1, 0.5, 101, float("nan"), float("inf")])
def test_invalid_values(bad: float) -> None:
    with pytest.raises(ValueError):
        Timers(bad)


@pytest.mark.parametrize("bad", ["10", None, True])
def test_invalid_types(bad: object) -> None:
    with pytest.raises(TypeError):
        Timers(bad)  # type: ignore[arg-type]


def test_unknown_timer_name() -> None:
    with pytest.raises(KeyError):
        Timers().value("Z")


def test_is_reliable() -> None:
    assert not is_reliable("UDP") and not is_reliable("udp")
    assert all(is_reliable(x) for x in ("TCP", "tls", "WS", "WSS", "SCTP"))
