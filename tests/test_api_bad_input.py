"""Bad input on the ``sipctl serve`` TCP API.

Each bad input gets a clear ``ERROR:`` line (or the connection is closed after a line giving
the reason); the service stays up; another client's answers keep coming while the garbage
flows; and a call in progress (to a baresip) keeps its state: API_IsInCall stays 2, no
CallDisconnect, baresip does not see the call close.
"""
from __future__ import annotations

import random
import shutil
import socket
import threading
import time

import pytest

from api_client import ApiClient, kind, status_line
from api_service import ApiService, module_service
from api_service import dave  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(not shutil.which("baresip"), reason="baresip not installed")




@pytest.fixture(scope="module")
def svc(request, tmp_path_factory) -> ApiService:
    return module_service(request, tmp_path_factory, name="bad-input",
                          params={"mediatimeout": 0})


@pytest.fixture(scope="module")
def watch(svc, dave):
    """A well-behaved client with a call to baresip up; ``watch.events0`` marks baresip's
    events and ``watch.n0`` the client's notifications when the call was up."""
    c = svc.client("watch")
    assert c.call("API_Start") == "OK: API_Start succeed", c.transcript()
    m, n0 = c.mark(), len(dave.events)
    assert c.call(f"API_Call,-1,{dave.uri}") == "OK: API_Call succeed", c.transcript()
    c.wait_notification(status_line("CallConnect"), 10, since=m)
    dave.wait_event("CALL_ESTABLISHED", 5, since=n0)
    c.events0 = n0  # type: ignore[attr-defined]
    c.n0 = c.mark()  # type: ignore[attr-defined]
    return c


def _assert_healthy(svc: ApiService, watch: ApiClient, dave, what: str) -> None:
    assert svc.alive(), f"service died after {what}\n{svc.describe()}"
    assert watch.call("API_TestEx", timeout=3) == "42", f"after {what}\n{watch.transcript()}"
    assert watch.call("API_IsInCall", timeout=3) == "2", \
        f"the call changed state after {what}\n{watch.transcript()}"
    gone = watch.find(status_line(("CallDisconnect", "Finishing", "Finished")), watch.n0)
    assert not gone, f"the call was disconnected after {what}: {gone}"
    closed = [e for e in dave.events[watch.events0:] if e.get("type") == "CALL_CLOSED"]
    assert not closed, f"baresip saw the call close after {what}: {closed}"
    with svc.client("fresh") as fresh:
        assert fresh.call("API_TestEx", timeout=3) == "42", fresh.transcript()


def _while_pinging(watch: ApiClient, fn, what: str, max_gap: float = 2.0) -> None:
    """Run ``fn`` in a thread while the watch client keeps asking API_TestEx; every answer
    must come within ``max_gap`` seconds."""
    err: list[BaseException] = []

    def run():
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - reported below
            err.append(e)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    pings = 0
    while t.is_alive() or pings < 3:
        t0 = time.monotonic()
        assert watch.call("API_TestEx", timeout=max_gap) == "42", \
            f"watch client during {what}\n{watch.transcript()}"
        assert time.monotonic() - t0 < max_gap
        pings += 1
        time.sleep(0.02)
    t.join(10)
    if err:
        raise err[0]


def _error_or_closed_with_reason(c: ApiClient, what: str, timeout: float = 5.0) -> list[str]:
    """The answers to a bad input: at least one, every one an ERROR: line (the connection may
    then be closed). Returns them."""
    first = c.answer(timeout, what=what)
    time.sleep(0.3)
    answers = [first] + c.take_pending()
    bad = [a for a in answers if not a.startswith("ERROR:")]
    assert not bad, f"{what}: non-ERROR answers {bad!r}\n{c.transcript()}"
    return answers


def _still_usable_if_open(c: ApiClient, what: str) -> None:
    if not c.closed:
        assert c.call("API_TestEx") == "42", f"connection left unusable after {what}\n" \
                                             f"{c.transcript()}"


# ---- cases ------------------------------------------------------------------------------------

def test_unknown_function(svc, watch, dave):
    c = svc.client("unknown")
    a = c.call("API_NoSuchFunction,1")
    assert a.startswith("ERROR:") and "API_NoSuchFunction" in a, a
    assert c.call("API_TestEx") == "42", c.transcript()
    a = c.call("hello there")
    assert a.startswith("ERROR:"), a
    assert c.call("API_TestEx") == "42", c.transcript()
    _assert_healthy(svc, watch, dave, "an unknown function")


@pytest.mark.parametrize("cmd,name", [
    ("API_SetVolume,0", "API_SetVolume"),             # volume missing
    ("API_SetLine", "API_SetLine"),                   # line missing
    ("API_Dtmf", "API_Dtmf"),                         # line and digits missing
    ("API_SetLine,1,2,3,4", "API_SetLine"),           # three extra
    ("API_GetVolume,1,2,3", "API_GetVolume"),
])
def test_wrong_argument_count(svc, watch, dave, cmd, name):
    c = svc.client("argc")
    a = c.call(cmd)
    assert a.startswith(f"ERROR: {name} failed"), \
        f"sent {cmd!r}: expected 'ERROR: {name} failed: <reason>', got {a!r}"
    assert c.call("API_TestEx") == "42", c.transcript()
    _assert_healthy(svc, watch, dave, f"{cmd!r}")


def test_non_numeric_line(svc, watch, dave):
    c = svc.client("nonnumeric")
    m = watch.mark()
    a = c.call("API_Call,abc,123")
    assert a.startswith("ERROR: API_Call failed"), \
        f"sent 'API_Call,abc,123': expected 'ERROR: API_Call failed: <reason>', got {a!r}"
    assert "line" in a.lower() or "abc" in a, f"the reason should name the bad line: {a!r}"
    time.sleep(0.5)
    assert not watch.find(status_line("CallSetup", peer="123"), m), "a call was started"
    _assert_healthy(svc, watch, dave, "API_Call,abc,123")


def test_one_megabyte_line(svc, watch, dave):
    c = svc.client("megabyte", timeout=10)
    data = b"API_AddLog," + b"x" * (1024 * 1024) + b"\r\n"
    def send():
        try:
            c.send_raw(data)
        except OSError:
            pass    # closed by the service: allowed, with a reason line first
    _while_pinging(watch, send, "a 1 MB line")
    answers = _error_or_closed_with_reason(c, "a 1 MB line", timeout=10)
    assert answers, c.transcript()
    _still_usable_if_open(c, "a 1 MB line")
    _assert_healthy(svc, watch, dave, "a 1 MB line")


def test_binary_garbage_with_nuls(svc, watch, dave):
    rnd = random.Random(1234)
    c = svc.client("garbage")

    def flood():
        for _ in range(20):
            blob = bytes(rnd.randrange(256) for _ in range(4096)) + b"\x00\x00\r\n"
            try:
                c.send_raw(blob)
            except OSError:
                return      # the service closed us: allowed, with a reason line first
            time.sleep(0.02)
    _while_pinging(watch, flood, "binary garbage")
    if not c.closed:
        c.send_raw(b"\r\n\x00\x01\x02garbage\r\n")
    _error_or_closed_with_reason(c, "binary garbage")
    _still_usable_if_open(c, "binary garbage")
    _assert_healthy(svc, watch, dave, "binary garbage")


@pytest.mark.parametrize("data", [
    b"\xff\xfe\xfd\r\n",
    b"API_SetLine,\xc3\x28\r\n",
    b"API_\xc3Test\xa0Ex\r\n",
], ids=["bytes", "bad-arg", "bad-name"])
def test_invalid_utf8(svc, watch, dave, data):
    c = svc.client("utf8")
    c.send_raw(data)
    _error_or_closed_with_reason(c, f"invalid UTF-8 {data!r}")
    _still_usable_if_open(c, f"invalid UTF-8 {data!r}")
    _assert_healthy(svc, watch, dave, f"invalid UTF-8 {data!r}")


def test_disconnect_mid_command(svc, watch, dave):
    m = watch.mark()
    for data in (b"BOFCOMMAND BOFLINE API_Call EOFLINE BOFLINE -1",
                 b"BOFCOMMAND BOFLINE API_Call EOFLINE BOFLINE -1 EOFLINE BOFLINE 1234 EOFLINE",
                 b"API_Hangup,-"):
        with socket.create_connection(("127.0.0.1", svc.port), timeout=3) as s:
            s.sendall(data)
        time.sleep(0.2)
    time.sleep(1.0)
    started = watch.find(status_line("CallSetup"), m)
    assert not started, f"a half command from a closed connection started a call: {started}"
    _assert_healthy(svc, watch, dave, "clients closing mid-command")


def test_fifty_clients_at_once(svc, watch, dave):
    results: dict[int, str] = {}
    barrier = threading.Barrier(50)

    def one(i: int) -> None:
        try:
            barrier.wait(5)
            with ApiClient(svc.port, name=f"c{i}", timeout=10) as c:
                results[i] = c.call("API_TestEx", timeout=10)
        except BaseException as e:  # noqa: BLE001
            results[i] = f"{type(e).__name__}: {str(e)[:300]}"
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    bad = {i: r for i, r in sorted(results.items()) if r != "42"}
    assert len(results) == 50 and not bad, f"{50 - len(results)} without result; bad: {bad}"
    _assert_healthy(svc, watch, dave, "50 clients at once")


def test_call_survives_everything(svc, watch, dave):
    """Last: after all of the above the call is still the same call, and ends cleanly."""
    _assert_healthy(svc, watch, dave, "the whole module")
    m = watch.mark()
    assert watch.call("API_Hangup") == "OK: API_Hangup succeed"
    watch.wait_notification(kind("CDR"), 5, since=m)
    dave.wait_event("CALL_CLOSED", 5, since=watch.events0)
