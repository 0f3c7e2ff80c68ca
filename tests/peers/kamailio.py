"""Kamailio as a throw-away registrar + proxy on loopback, for interop tests.

    with Kamailio(users={"alice": "secret", "bob": "hunter2"}) as kam:
        kam.udp_addr          # ("127.0.0.1", port)   (UDP and TCP share this port)
        kam.tls_addr          # ("127.0.0.1", tls_port)
        kam.registrations()   # [("alice", "sip:alice@127.0.0.1:5072", 3598), ...]

Everything lives in a temp dir (kamailio.cfg, tls.cfg, db_text tables, certs, ctl socket, pid
file, log). Nothing under /etc or /run is read or written and the system service is not
touched. Ports are chosen free at ``start()`` and kept by ``restart()``.

What the generated config does (see ``_CFG`` below):
- listens on udp+tcp ``port`` and tls ``tls_port`` on 127.0.0.1 (and ``[::1]`` with ipv6=True);
  aliases are given *with* their ports (a bare ``127.0.0.1`` alias would make every loopback UA
  look like the proxy and loop in-dialog requests);
- "to us" = R-URI host in {realm, localhost, 127.0.0.1, ::1} and port unset or one of ours;
  other loopback targets (e.g. a SIPp UAS on its own port) are relayed as they are;
- OPTIONS to us without a user -> 200 (no auth; used for readiness and keepalive tests);
- REGISTER -> digest (401 ``www_challenge``, qop=auth unless qop=False), auth user must equal
  the To user (else 403), ``fix_nated_register`` then ``save("location")`` with
  min/max/default expires (``min_expires_mode=1``: too short -> 423 with Min-Expires);
- initial requests whose From host is local -> 407 ``proxy_challenge``, auth user must equal
  the From user; then ``lookup("location")`` (404 if not registered) and ``t_relay``;
- INVITE/SUBSCRIBE/REFER are record-routed (double RR across transports); in-dialog requests
  are loose-routed; TCP/TLS UAs get ``add_contact_alias`` on their requests and replies and
  ``handle_ruri_alias`` routes back over their own connection.
- users live in a db_text ``subscriber`` table, ``calculate_ha1=yes``; usrloc is in memory.
"""
from __future__ import annotations

import atexit
import ctypes
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Mapping, Sequence

from .certs import CertPaths, make_test_certs

__all__ = [
    "Kamailio", "KamailioError", "free_port", "sip_options", "sip_request",
    "port_is_listening",
]

KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
KAMCMD = shutil.which("kamcmd") or "/usr/sbin/kamcmd"

# --------------------------------------------------------------------------------------------
# small helpers shared with sipp.py: free ports, listening checks, process groups, raw SIP
# --------------------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1", kinds: Sequence[str] = ("udp", "tcp"),
              extra_hosts: Sequence[str] = (), avoid: Sequence[int] = ()) -> int:
    """A port that was free a moment ago for every kind in ``kinds`` on ``host`` (+extra_hosts).

    The kernel picks the candidate; the other kinds/hosts are then probed on the same number.
    """
    for _ in range(200):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        first = socket.SOCK_DGRAM if kinds[0] == "udp" else socket.SOCK_STREAM
        with socket.socket(fam, first) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port in avoid:
            continue
        if all(_can_bind(h, port, k) for h in (host, *extra_hosts) for k in kinds):
            return port
    raise RuntimeError(f"no free port for {kinds} on {host}")


def _can_bind(host: str, port: int, kind: str) -> bool:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    typ = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    try:
        with socket.socket(fam, typ) as s:
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((host, port))
    except OSError:
        return False
    return True


def port_is_listening(port: int, kind: str = "udp") -> bool:
    """True if some socket is bound to ``port`` (udp) or listening on it (tcp), from /proc/net.

    Read-only: probing by binding would race the process that is about to bind.
    """
    files = ("udp", "udp6") if kind == "udp" else ("tcp", "tcp6")
    want = f":{port:04X}"
    for name in files:
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 3 and f[1].endswith(want) and (kind == "udp" or f[3] == "0A"):
                return True
    return False


try:  # make children die with us even if pytest itself is SIGKILLed (atexit would not run)
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover
    _prctl = None
_PR_SET_PDEATHSIG = 1


def _preexec_parent_death(sig: int):
    # PDEATHSIG fires when the *thread* that forked dies, so only arm it from the main thread.
    if _prctl is None or threading.current_thread() is not threading.main_thread():
        return None

    def fn() -> None:
        _prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    return fn


def _group_members(pgid: int) -> list[int]:
    """Pids of live (non-zombie) processes in process group ``pgid``."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(d))
    return pids


class ProcessGroup:
    """A child started in its own session; stopped as a group (only processes we started)."""

    def __init__(self, argv: Sequence[str], *, cwd: os.PathLike[str] | str | None = None,
                 stdout: IO | int | None = subprocess.DEVNULL,
                 stderr: IO | int | None = subprocess.DEVNULL,
                 env: Mapping[str, str] | None = None, death_signal: int = signal.SIGTERM):
        self.argv = list(argv)
        self.popen = subprocess.Popen(
            self.argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
            env=None if env is None else dict(env), start_new_session=True, close_fds=True,
            preexec_fn=_preexec_parent_death(death_signal))
        self.pid = self.pgid = self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout)

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _wait_group_gone(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            self.popen.poll()
            if not _group_members(self.pgid):
                return True
            time.sleep(0.02)
        return not _group_members(self.pgid)

    def stop(self, timeout: float = 5.0, sig: int = signal.SIGTERM) -> int | None:
        """``sig`` to the leader, then SIGKILL to whatever of the group is left after timeout."""
        if self.alive():
            try:
                self.popen.send_signal(sig)
            except ProcessLookupError:
                pass
        if not self._wait_group_gone(time.monotonic() + timeout):
            self.kill()
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # pragma: no cover - unkillable
            return None

    def kill(self) -> int | None:
        """SIGKILL the whole group at once (the leader and every child it forked)."""
        if self.alive() or _group_members(self.pgid):
            self._signal_group(signal.SIGKILL)
        self._wait_group_gone(time.monotonic() + 5.0)
        try:
            return self.popen.wait(timeout=5.0)
        except subprocess.TimeoutExpired:  # pragma: no cover
            return None


def sip_request(method: str, host: str, port: int, *, transport: str = "udp",
                ssl_context: ssl.SSLContext | None = None, server_hostname: str | None = None,
                ruri: str | None = None, from_uri: str = "sip:probe@invalid",
                headers: Sequence[str] = (), body: str = "", timeout: float = 2.0,
                source: tuple[str, int] | None = None, call_id: str | None = None,
                cseq: int = 1) -> bytes | None:
    """Send one SIP request over udp/tcp/tls and return the first reply (raw bytes).

    None on timeout. Over UDP the request is sent again once after 0.5 s (T1).
    ``headers`` are extra header lines; Via/From/To/Call-ID/CSeq/Content-Length are made here.
    """
    transport = transport.lower()
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    ruri = ruri or ("sips:" if transport == "tls" else "sip:") + hostport
    branch = "z9hG4bK" + secrets.token_hex(8)
    call_id = call_id or f"{secrets.token_hex(8)}@sipctl.test"

    def build(local: tuple) -> bytes:
        lh = f"[{local[0]}]" if ":" in local[0] else local[0]
        lines = [
            f"{method} {ruri} SIP/2.0",
            f"Via: SIP/2.0/{transport.upper()} {lh}:{local[1]};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <{from_uri}>;tag={secrets.token_hex(4)}",
            f"To: <{ruri}>",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} {method}",
            *headers,
            f"Content-Length: {len(body.encode())}",
            "", body,
        ]
        return "\r\n".join(lines).encode()

    deadline = time.monotonic() + timeout
    if transport == "udp":
        with socket.socket(fam, socket.SOCK_DGRAM) as s:
            s.bind(source or (host, 0))
            msg = build(s.getsockname())
            resend_at = time.monotonic() + 0.5
            s.sendto(msg, (host, port))
            while (now := time.monotonic()) < deadline:
                s.settimeout(max(0.01, min(deadline, resend_at) - now))
                try:
                    data, _ = s.recvfrom(65535)
                    return data
                except socket.timeout:
                    if time.monotonic() >= resend_at:
                        s.sendto(msg, (host, port))
                        resend_at = float("inf")
                except ConnectionRefusedError:
                    return None
            return None
    try:
        raw = socket.create_connection((host, port), timeout=timeout,
                                       source_address=source)
    except OSError:
        return None
    with raw:
        conn: socket.socket = raw
        if transport == "tls":
            ctx = ssl_context
            if ctx is None:  # probe only: accept any certificate
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            conn = ctx.wrap_socket(raw, server_hostname=server_hostname or host)
        conn.settimeout(max(0.01, deadline - time.monotonic()))
        conn.sendall(build(conn.getsockname()))
        buf = b""
        try:
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65535)
                if not chunk:
                    return buf or None
                buf += chunk
        except (socket.timeout, ssl.SSLError, OSError):
            return buf or None
        head, _, rest = buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
        need = int(m.group(1)) if m else 0
        try:
            while len(rest) < need:
                chunk = conn.recv(65535)
                if not chunk:
                    break
                rest += chunk
        except (socket.timeout, ssl.SSLError, OSError):
            pass
        return head + b"\r\n\r\n" + rest


def sip_options(host: str, port: int, **kw) -> bytes | None:
    """An OPTIONS ping; see ``sip_request``."""
    return sip_request("OPTIONS", host, port, **kw)


# --------------------------------------------------------------------------------------------
# Kamailio
# --------------------------------------------------------------------------------------------

_CFG = r"""#!KAMAILIO
# generated by tests/peers/kamailio.py for one test run -- not a production config

debug={debug}
log_stderror=yes
memdbg=5
memlog=5
fork=yes
children={children}
auto_aliases=no
{aliases}
enable_tls=yes
tcp_accept_no_cl=yes
tcp_connection_lifetime=3605
tcp_connect_timeout=2
dns=no
rev_dns=no
dns_try_naptr=no
dns_srv_lb=no
use_dns_failover=no
server_header="Server: sipctl-test-kamailio"
user_agent_header="User-Agent: sipctl-test-kamailio"
sip_warning=0

loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "ctl.so"
loadmodule "db_text.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "nathelper.so"
loadmodule "tls.so"

modparam("ctl", "binrpc", "unix:{ctl_socket}")
modparam("tm", "failure_reply_mode", 3)
modparam("tm", "fr_timer", 30000)
modparam("tm", "fr_inv_timer", 120000)
modparam("rr", "enable_full_lr", 0)
modparam("rr", "append_fromtag", 0)
modparam("usrloc", "db_mode", 0)
modparam("usrloc", "use_domain", 0)
modparam("registrar", "method_filtering", 1)
modparam("registrar", "max_contacts", 10)
modparam("registrar", "min_expires", {min_expires})
modparam("registrar", "max_expires", {max_expires})
modparam("registrar", "default_expires", {default_expires})
modparam("registrar", "min_expires_mode", 1)
modparam("registrar", "received_avp", "$avp(RECEIVED)")
modparam("nathelper", "received_avp", "$avp(RECEIVED)")
modparam("nathelper", "natping_interval", 0)
modparam("auth_db", "db_url", "text://{db_dir}")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
modparam("auth_db", "use_domain", 0)
modparam("tls", "config", "{tls_cfg}")

request_route {{
	xlog("L_INFO", "req $rm $ru from $si:$sp/$pr cseq=$cs\n");
	route(REQINIT);

	if (is_method("OPTIONS") && $rU == $null && route(TO_ME)) {{
		sl_send_reply("200", "OK");
		exit;
	}}

	route(NATDETECT);

	if (is_method("CANCEL")) {{
		if (t_check_trans()) {{
			route(RELAY);
		}}
		exit;
	}}
	if (!is_method("ACK")) {{
		if (t_precheck_trans()) {{
			t_check_trans();
			exit;
		}}
		t_check_trans();
	}}

	route(WITHINDLG);

	remove_hf("Route");
	if (is_method("INVITE|SUBSCRIBE|REFER")) {{
		record_route();
	}}

	route(AUTH);
	route(REGISTRAR);
	route(LOCATION);
}}

route[REQINIT] {{
	if (!mf_process_maxfwd_header("10")) {{
		sl_send_reply("483", "Too Many Hops");
		exit;
	}}
	if (!sanity_check("17895", "7")) {{
		xlog("L_WARN", "malformed SIP request from $si:$sp\n");
		exit;
	}}
}}

# R-URI points at this proxy: a local host name and no port or one of ours
route[TO_ME] {{
	if ({rd_is_local} && ($rp == 5060 || $rp == 5061 || $rp == {port} || $rp == {tls_port})) {{
		return 1;
	}}
	return -1;
}}

route[FROM_LOCAL] {{
	if ({fd_is_local}) {{
		return 1;
	}}
	return -1;
}}

route[NATDETECT] {{
	force_rport();
	if (is_method("REGISTER")) {{
		fix_nated_register();
	}} else if ($pr == "tcp" || $pr == "tls") {{
		if (is_present_hf("Contact")) {{
			add_contact_alias();
		}}
	}}
}}

route[WITHINDLG] {{
	if (!has_totag()) {{
		return;
	}}
	if (loose_route()) {{
		if ($ru =~ ";alias=") {{
			handle_ruri_alias();
		}}
		if (is_method("NOTIFY")) {{
			record_route();
		}}
		route(RELAY);
		exit;
	}}
	if (is_method("ACK")) {{
		if (t_check_trans()) {{
			route(RELAY);
		}}
		exit;
	}}
	sl_send_reply("404", "Not here");
	exit;
}}

route[AUTH] {{
	if (is_method("REGISTER")) {{
		if (!www_authorize("{realm}", "subscriber")) {{
			www_challenge("{realm}", "{challenge_flags}");
			exit;
		}}
		if ($au != $tU) {{
			sl_send_reply("403", "Forbidden auth ID");
			exit;
		}}
		consume_credentials();
		return;
	}}
	if (route(FROM_LOCAL)) {{
		if (!proxy_authorize("{realm}", "subscriber")) {{
			proxy_challenge("{realm}", "{challenge_flags}");
			exit;
		}}
		if ($au != $fU) {{
			sl_send_reply("403", "Forbidden auth ID");
			exit;
		}}
		consume_credentials();
	}}
}}

route[REGISTRAR] {{
	if (!is_method("REGISTER")) {{
		return;
	}}
	if (!save("location")) {{
		sl_reply_error();
	}}
	exit;
}}

route[LOCATION] {{
	if (!route(TO_ME)) {{
		route(RELAY);
		exit;
	}}
	if ($rU == $null) {{
		sl_send_reply("484", "Address Incomplete");
		exit;
	}}
	if (!lookup("location")) {{
		$var(rc) = $rc;
		t_newtran();
		switch ($var(rc)) {{
			case -1:
			case -3:
				send_reply("404", "Not Found");
				exit;
			case -2:
				send_reply("405", "Method Not Allowed");
				exit;
		}}
	}}
	route(RELAY);
}}

route[RELAY] {{
	if (!t_is_set("onreply_route")) {{
		t_on_reply("MANAGE_REPLY");
	}}
	if (is_method("INVITE") && !t_is_set("failure_route")) {{
		t_on_failure("MANAGE_FAILURE");
	}}
	if (!t_relay()) {{
		sl_reply_error();
	}}
	exit;
}}

onreply_route[MANAGE_REPLY] {{
	if (status =~ "[12][0-9][0-9]" && ($pr == "tcp" || $pr == "tls") && is_present_hf("Contact")) {{
		add_contact_alias();
	}}
}}

failure_route[MANAGE_FAILURE] {{
	if (t_is_canceled()) {{
		exit;
	}}
}}
"""

_TLS_CFG = """# generated by tests/peers/kamailio.py
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = {key}
certificate = {cert}

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
"""

_HOST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")

_live: set["Kamailio"] = set()


@atexit.register
def _stop_all() -> None:
    for k in list(_live):
        try:
            k.stop(timeout=2.0)
        except Exception:  # pragma: no cover - best effort at interpreter exit
            pass


class KamailioError(RuntimeError):
    pass


def _dbtext_escape(value: str) -> str:
    if not value:
        return "-"  # db_text rejects empty columns
    return (value.replace("\\", "\\\\").replace(":", "\\:")
            .replace("\n", "\\n").replace("\r", "\\r"))


class Kamailio:
    """A Kamailio registrar/proxy on loopback with digest auth; a context manager.

    ``users``: {username: password}. ``realm``: digest realm (also a local domain name).
    ``ipv6``: also listen on [::1] (same port numbers). ``qop``: challenge with qop=auth.
    ``min_expires``/``max_expires``/``default_expires``: registrar limits (a REGISTER asking for
    less than min_expires gets 423 Interval Too Brief).
    ``debug``: Kamailio log level (default 2 = info, or ``SIPCTL_KAMAILIO_DEBUG``).
    Files go to a fresh ``/tmp/sipctl-kam-*`` dir unless ``workdir`` is given; it is removed by
    ``close()`` unless ``keep_files`` (or ``SIPCTL_KEEP_PEERS=1``).
    """

    def __init__(self, users: Mapping[str, str] | None = None, *, realm: str = "sipctl.test",
                 ipv6: bool = False, min_expires: int = 60, max_expires: int = 3600,
                 default_expires: int = 3600, qop: bool = True, debug: int | None = None,
                 children: int = 2, workdir: os.PathLike[str] | str | None = None,
                 startup_timeout: float = 10.0, stop_timeout: float = 5.0,
                 keep_files: bool | None = None):
        if not _HOST_RE.match(realm):
            raise ValueError(f"realm must be a host-like token, got {realm!r}")
        self.users = dict(users or {})
        for u in self.users:
            if not re.match(r"^[A-Za-z0-9._+~-]+$", u):
                raise ValueError(f"unsupported user name {u!r}")
        self.realm = realm
        self.ipv6 = ipv6
        self.host = "127.0.0.1"
        self.host6 = "::1"
        self.min_expires, self.max_expires = int(min_expires), int(max_expires)
        self.default_expires = int(default_expires)
        if debug is None:  # SIPCTL_KAMAILIO_DEBUG=3 logs every module's debug output
            debug = int(os.environ.get("SIPCTL_KAMAILIO_DEBUG", "2"))
        self.qop, self.debug, self.children = qop, int(debug), int(children)
        self.startup_timeout, self.stop_timeout = startup_timeout, stop_timeout
        self.keep_files = (os.environ.get("SIPCTL_KEEP_PEERS") == "1"
                           if keep_files is None else keep_files)
        self._own_dir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(
            tempfile.mkdtemp(prefix="sipctl-kam-", dir="/tmp"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cfg_path = self.workdir / "kamailio.cfg"
        self.tls_cfg_path = self.workdir / "tls.cfg"
        self.db_dir = self.workdir / "db"
        self.run_dir = self.workdir / "run"
        self.log_path = self.workdir / "kamailio.log"
        self.pid_path = self.run_dir / "kamailio.pid"
        self.ctl_socket = self.run_dir / "ctl.sock"
        self.port: int | None = None
        self.tls_port: int | None = None
        self.certs: CertPaths | None = None
        self._proc: ProcessGroup | None = None
        self._starts = 0

    # ---- addresses -------------------------------------------------------------------------
    @property
    def udp_addr(self) -> tuple[str, int]:
        return (self.host, self._need(self.port))

    tcp_addr = udp_addr

    @property
    def tls_addr(self) -> tuple[str, int]:
        return (self.host, self._need(self.tls_port))

    def addr(self, transport: str = "udp", ipv6: bool = False) -> tuple[str, int]:
        """(host, port) to send to for ``transport`` in udp/tcp/tls."""
        host = self.host6 if ipv6 else self.host
        if ipv6 and not self.ipv6:
            raise KamailioError("started without ipv6=True")
        port = self.tls_port if transport.lower() == "tls" else self.port
        return (host, self._need(port))

    def uri(self, transport: str = "udp", user: str | None = None, ipv6: bool = False) -> str:
        """A SIP URI for the proxy (e.g. an outbound proxy / registrar URI)."""
        host, port = self.addr(transport, ipv6)
        h = f"[{host}]" if ":" in host else host
        t = transport.lower()
        scheme = "sips" if t == "tls" else "sip"
        u = f"{user}@" if user else ""
        param = "" if t in ("udp", "tls") else f";transport={t}"
        return f"{scheme}:{u}{h}:{port}{param}"

    @staticmethod
    def _need(port: int | None) -> int:
        if port is None:
            raise KamailioError("Kamailio has not been started")
        return port

    # ---- lifecycle -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.alive()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> "Kamailio":
        if self.running:
            return self
        if self.port is None:
            hosts6 = (self.host6,) if self.ipv6 else ()
            self.port = free_port(self.host, ("udp", "tcp"), hosts6)
            self.tls_port = free_port(self.host, ("tcp",), hosts6, avoid=(self.port,))
        if self.certs is None:
            self.certs = make_test_certs(self.workdir / "certs")
        self._write_files()
        self._launch()
        return self

    def restart(self) -> "Kamailio":
        """Stop (if running) and start again on the same ports (in-memory state is lost)."""
        if self._proc is not None:
            self.stop()
        return self.start()

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM, then SIGKILL to the whole process group after ``timeout`` seconds."""
        rc = None
        if self._proc is not None:
            rc = self._proc.stop(self.stop_timeout if timeout is None else timeout)
        _live.discard(self)
        return rc

    def kill(self) -> None:
        """SIGKILL every Kamailio process at once (simulates the server dying)."""
        if self._proc is not None:
            self._proc.kill()
        _live.discard(self)

    def close(self) -> None:
        """Stop and remove the temp dir (kept if keep_files / SIPCTL_KEEP_PEERS=1)."""
        self.stop()
        if self._own_dir and not self.keep_files:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Kamailio":
        try:
            return self.start()
        except BaseException:
            self.keep_files = True
            self.close()
            raise

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.keep_files = True
            print(self.describe())
        self.close()

    def __repr__(self) -> str:
        return (f"<Kamailio udp/tcp={self.port} tls={self.tls_port} "
                f"running={self.running} log={self.log_path}>")

    # ---- files and process -----------------------------------------------------------------
    def _local_test(self, var: str) -> str:
        names = (self.realm, *_LOCAL_HOSTS)
        return "(" + " || ".join(f'{var} == "{n}"' for n in names) + ")"

    def _write_files(self) -> None:
        assert self.port is not None and self.tls_port is not None and self.certs is not None
        self.db_dir.mkdir(exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        aliases = []
        for name in dict.fromkeys(("localhost", self.realm)):
            for p in (self.port, self.tls_port):
                aliases.append(f'alias="{name}":{p}')
        cfg = _CFG.format(
            debug=self.debug, children=self.children, aliases="\n".join(aliases),
            ctl_socket=self.ctl_socket, min_expires=self.min_expires,
            max_expires=self.max_expires, default_expires=self.default_expires,
            db_dir=self.db_dir, tls_cfg=self.tls_cfg_path, realm=self.realm,
            challenge_flags="1" if self.qop else "0", port=self.port, tls_port=self.tls_port,
            rd_is_local=self._local_test("$rd"), fd_is_local=self._local_test("$fd"),
        )
        self.cfg_path.write_text(cfg)
        self.tls_cfg_path.write_text(_TLS_CFG.format(key=self.certs.key, cert=self.certs.cert))
        rows = [f"{i}:{_dbtext_escape(u)}:{_dbtext_escape(self.realm)}:{_dbtext_escape(p)}:-:-"
                for i, (u, p) in enumerate(sorted(self.users.items()), 1)]
        (self.db_dir / "subscriber").write_text(
            "id(int,auto) username(string) domain(string) password(string) "
            "ha1(string) ha1b(string) \n" + "".join(r + "\n" for r in rows))
        (self.db_dir / "version").write_text(
            "id(int,auto) table_name(string) table_version(int) \n0:subscriber:7\n")

    def _argv(self) -> list[str]:
        listen = []
        hosts = [self.host] + ([f"[{self.host6}]"] if self.ipv6 else [])
        for h in hosts:
            listen += ["-l", f"udp:{h}:{self.port}", "-l", f"tcp:{h}:{self.port}",
                       "-l", f"tls:{h}:{self.tls_port}"]
        # -DD: do not daemonize, so the Popen child *is* the main process (children share its
        # process group); -E: log to stderr, which goes to self.log_path.
        return [KAMAILIO, "-f", str(self.cfg_path), "-P", str(self.pid_path),
                "-Y", str(self.run_dir), "-w", str(self.run_dir), "-DD", "-E",
                "-m", "64", "-M", "8", *listen]

    def _launch(self) -> None:
        self.ctl_socket.unlink(missing_ok=True)
        self._starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"==== sipctl test: start #{self._starts} {time.strftime('%H:%M:%S')}: "
                      f"{' '.join(self._argv())}\n".encode())
            log.flush()
            self._proc = ProcessGroup(self._argv(), cwd=self.run_dir, stdout=log, stderr=log)
        _live.add(self)
        try:
            self.wait_ready(self.startup_timeout)
        except BaseException:
            self.kill()
            raise

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Poll until the ctl socket and a UDP OPTIONS both answer."""
        deadline = time.monotonic() + timeout
        ctl_ok = False
        while time.monotonic() < deadline:
            if not self.running:
                raise KamailioError(f"kamailio exited with {self._proc and self._proc.returncode}"
                                    f" during startup\n{self.describe()}")
            if not ctl_ok and self.ctl_socket.exists():
                ctl_ok = self._kamcmd_rc("core.uptime") == 0
            if ctl_ok:
                reply = sip_options(self.host, self._need(self.port), timeout=0.3)
                if reply and reply.startswith(b"SIP/2.0 "):
                    return
            time.sleep(0.05)
        raise KamailioError(f"kamailio not ready after {timeout}s\n{self.describe()}")

    # ---- control socket ----------------------------------------------------------------------
    def _kamcmd_rc(self, *args: str) -> int:
        try:
            return subprocess.run([KAMCMD, "-s", f"unix:{self.ctl_socket}", *args],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=2).returncode
        except subprocess.TimeoutExpired:
            return -1

    def kamcmd(self, *args: str, timeout: float = 5.0) -> str:
        """Run an RPC command on the ctl socket (``kamcmd -s unix:<sock> ...``); return stdout."""
        r = subprocess.run([KAMCMD, "-s", f"unix:{self.ctl_socket}", *args],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise KamailioError(f"kamcmd {' '.join(args)} failed ({r.returncode}): "
                                f"{r.stderr.strip() or r.stdout.strip()}")
        return r.stdout

    def registrations(self) -> list[tuple[str, str, int]]:
        """(aor, contact, expires-in-seconds) for every binding, from ``ul.dump``.

        usrloc runs with use_domain=0, so the AoR is the bare user name ("alice").
        """
        out = self.kamcmd("ul.dump")
        regs: list[tuple[str, str, int]] = []
        aor = contact = None
        for line in out.splitlines():
            key, _, value = line.strip().partition(":")
            value = value.strip()
            if key == "AoR":
                aor, contact = value, None
            elif key == "Address" and aor is not None:
                contact = value
            elif key == "Expires" and aor is not None and contact is not None:
                try:
                    exp = int(value)
                except ValueError:  # "permanent" / "deleted"
                    exp = -1
                regs.append((aor, contact, exp))
                contact = None
        return regs

    # ---- diagnostics ---------------------------------------------------------------------
    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def describe(self, lines: int = 60) -> str:
        return (f"{self!r}\nworkdir: {self.workdir}\n--- last {lines} lines of "
                f"{self.log_path} ---\n{self.log_tail(lines)}")
