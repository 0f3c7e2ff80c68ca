"""The ``sipctl serve`` process itself: start-up line, loopback-only binding, token auth,
notification fan-out, wpcfg.ini persistence, and ``sipctl params --check``."""
from __future__ import annotations

import re
import time

from api_client import ApiClient, encap, encap_result, kind
from api_service import LISTEN_RE, ApiService, make_service, run_sipctl  # noqa: F401


def test_port_0_prints_real_port_and_sigterm_stops_with_0(make_service):
    svc = make_service()
    assert svc.host == "127.0.0.1", svc.describe()
    assert 0 < svc.port < 65536, svc.describe()
    with ApiClient(svc.port) as c:
        assert c.call("API_TestEx") == "42", c.transcript()
    rc = svc.terminate(10)
    assert rc == 0, f"SIGTERM -> exit code {rc}\n{svc.describe()}"
    assert "sipctl: stopped" in svc.stdout_text.splitlines(), svc.describe()


def test_listening_line_is_flushed_to_a_pipe(make_service):
    """A launcher reads stdout through a pipe: the line must come without PYTHONUNBUFFERED."""
    svc = make_service(unbuffered=False)
    assert svc.port, svc.describe()
    rc = svc.terminate(10)
    assert rc == 0 and "sipctl: stopped" in svc.stdout_text, svc.describe()


def test_two_services_get_different_ports(make_service):
    a, b = make_service(name="a"), make_service(name="b")
    assert a.port != b.port
    with ApiClient(a.port) as ca, ApiClient(b.port) as cb:
        assert ca.call("API_TestEx") == cb.call("API_TestEx") == "42"


def test_non_loopback_host_refused_exit_2(make_service):
    svc = make_service(start=False, host="0.0.0.0")
    rc = svc.wait(15)
    out = svc.stdout_text + "\n" + svc.stderr_text
    assert rc == 2, f"--host 0.0.0.0 without --allow-remote: exit code {rc}\n{svc.describe()}"
    assert "--allow-remote" in out, f"the refusal should name --allow-remote:\n{out}"
    assert not LISTEN_RE.search(out), out


def test_allow_remote_without_token_refused_exit_2(make_service):
    svc = make_service(start=False, host="0.0.0.0", allow_remote=True)
    rc = svc.wait(15)
    out = svc.stdout_text + "\n" + svc.stderr_text
    assert rc == 2, f"--allow-remote without --token: exit code {rc}\n{svc.describe()}"
    assert "--token" in out, f"the refusal should name --token:\n{out}"


def _token_service(make_service) -> ApiService:
    return make_service(host="127.0.0.1", allow_remote=True, token="s3cret-t0ken")


def test_token_good(make_service):
    svc = _token_service(make_service)
    c = svc.client(auth=False)
    assert c.call("AUTH s3cret-t0ken") == "OK: authenticated", c.transcript()
    assert c.call("API_TestEx") == "42", c.transcript()


def test_token_bad(make_service):
    svc = _token_service(make_service)
    c = svc.client(auth=False)
    a = c.call("AUTH wrong-token")
    assert a.startswith("ERROR: authentication required"), a
    assert c.wait_closed(5), f"connection not closed after a bad token\n{c.transcript()}"


def test_token_missing(make_service):
    svc = _token_service(make_service)
    c = svc.client(auth=False)
    c.send("API_TestEx")
    a = c.answer()
    assert a.startswith("ERROR: authentication required"), a
    assert c.wait_closed(5), f"connection not closed without AUTH\n{c.transcript()}"
    assert "42" not in [x for _, x in c.answers], "a command ran without authentication"
    # the service is still fine for an authenticated client
    good = svc.client()
    assert good.call("API_TestEx") == "42"


def test_notifications_fan_out_to_all_clients(make_service):
    svc = make_service()
    a, b = svc.client("a"), svc.client("b")
    assert a.call("API_TestEx") == b.call("API_TestEx") == "42"   # both connected and served
    assert a.call("API_Start") == "OK: API_Start succeed"
    a.wait_notification(kind("START", "api"), 5)
    b.wait_notification(kind("START", "api"), 5)
    time.sleep(0.3)
    assert b.pending_answers() == [], f"answers go only to the sender: {b.pending_answers()}"
    assert a.call("API_AddLog,fan-out") == "OK: API_AddLog succeed"
    assert b.pending_answers() == [], b.transcript()


def _poll_until(c: ApiClient, prefix: str, timeout: float = 5.0) -> list[str]:
    """API_Poll (jsscriptpoll mode may hold notifications back from the socket) until a line
    starts with ``prefix``; returns every polled line."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += c.call_multi("API_Poll")
        if any(x.startswith(prefix) for x in seen):
            break
        time.sleep(0.2)
    return seen


def _ini_value(path, name: str) -> str | None:
    if not path.exists():
        return None
    for line in path.read_text(errors="replace").splitlines():
        m = re.match(rf"^\s*{re.escape(name)}\s*=\s*(.*?)\s*$", line, re.I)
        if m:
            return m.group(1)
    return None


def test_parameter_set_through_api_survives_restart_and_def_resets(make_service, tmp_path):
    wd = tmp_path / "wd"
    ini = wd / "wpcfg.ini"
    svc = make_service(workdir=wd, name="first")
    c = svc.client()
    assert c.call("API_SetParameter,jsscriptpoll,1") == "OK: API_SetParameter succeed"
    assert c.call("API_SetParameter,mediatimeout,17") == "OK: API_SetParameter succeed"
    assert svc.terminate(10) == 0, svc.describe()
    assert _ini_value(ini, "mediatimeout") == "17", \
        f"wpcfg.ini after restart:\n{ini.read_text() if ini.exists() else '(missing)'}"

    svc2 = make_service(workdir=wd, name="second")
    c2 = svc2.client()
    # its effect: API_Poll works (jsscriptpoll=1 was kept)
    assert c2.call("API_Start") == "OK: API_Start succeed"
    lines = _poll_until(c2, "START,api")
    assert any(x.startswith("START,api") for x in lines), \
        f"jsscriptpoll=1 from wpcfg.ini: API_Poll -> {lines!r}\n{ini.read_text()}"
    assert c2.call("API_SetParameter,mediatimeout,DEF") == "OK: API_SetParameter succeed"
    assert c2.call("API_SetParameter,jsscriptpoll,DEF") == "OK: API_SetParameter succeed"
    assert svc2.terminate(10) == 0, svc2.describe()
    assert _ini_value(ini, "mediatimeout") in (None, ""), \
        f"DEF should reset mediatimeout:\n{ini.read_text()}"
    assert _ini_value(ini, "jsscriptpoll") in (None, "", "0"), ini.read_text()


def test_param_flag_presets_parameter(make_service):
    svc = make_service(params={"jsscriptpoll": 1})
    c = svc.client()
    assert c.call("API_Start") == "OK: API_Start succeed"
    lines = _poll_until(c, "START,api")
    assert any(x.startswith("START,api") for x in lines), lines


def test_params_check_reports_typo_with_line_number(tmp_path):
    bad = tmp_path / "bad.ini"
    bad.write_text("username=alice\npassword=x\nloglevel=5\nserveradress=127.0.0.1:5060\n")
    r = run_sipctl("params", "--check", str(bad))
    out = r.stdout + r.stderr
    assert r.returncode != 0, f"typo'd parameter not reported (rc 0):\n{out}"
    assert "serveradress" in out and re.search(r"(line\s*4\b|:4\b)", out), \
        f"the report should name serveradress and line 4:\n{out}"


def test_params_check_clean_file(tmp_path):
    good = tmp_path / "good.ini"
    good.write_text("serveraddress=127.0.0.1:5060\nusername=alice\npassword=x\nloglevel=5\n")
    r = run_sipctl("params", "--check", str(good))
    assert r.returncode == 0, f"clean file rejected (rc {r.returncode}):\n{r.stdout}{r.stderr}"


def test_api_port_only_on_loopback(make_service):
    svc = make_service()
    found = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(name).read().splitlines()[1:]:
            f = line.split()
            if f[1].endswith(f":{svc.port:04X}") and f[3] == "0A":
                found.append(f[1])
    assert found and all(a.startswith("0100007F") for a in found), \
        f"API listening sockets on port {svc.port}: {found} (expected only 127.0.0.1)"


def test_pipelined_commands_answered_in_order(make_service):
    svc = make_service()
    c = svc.client()
    c.send_raw(b"API_SetLine,2\r\nAPI_GetLine\r\nAPI_TestEx\r\nAPI_SetLine,3\r\n"
               b"API_GetLine\r\n" + encap("API_GetLine") + b"API_Test\r\n")
    got = [c.answer() for _ in range(7)]
    assert got[:5] == ["OK: API_SetLine succeed", "2", "42", "OK: API_SetLine succeed", "3"], got
    assert encap_result(got[5]) == "3" and got[6] == "OK: API_Test succeed", got


def test_command_split_across_many_writes(make_service):
    svc = make_service()
    c = svc.client()
    for b in b"API_TestEx\r\n":
        c.send_raw(bytes([b]))
        time.sleep(0.01)
    assert c.answer() == "42", c.transcript()
    data = encap("API_TestEx")
    c.send_raw(data[:7])
    time.sleep(0.3)
    c.send_raw(data[7:])
    assert encap_result(c.answer()) == "42", c.transcript()
    time.sleep(0.3)
    assert c.pending_answers() == [], f"one command, one answer: {c.pending_answers()}"
