"""SIP accounts and registration settings read from the reference's parameters.

:func:`accounts_from_params` turns the parameter mapping (as the TCP API, the INI file
or the Python API hold it) into :class:`Account` objects:

* the primary account (``index`` 1) from ``serveraddress``, ``username``, ``password``
  or ``md5``, ``sipusername``, ``realm``, ``displayname``, ``registerinterval``,
  ``proxyaddress`` and ``transport``;
* secondary accounts from ``serveraddressN``/``usernameN``/``passwordN``/
  ``registerintervalN`` (N = 2..100, ``index`` N);
* secondary accounts from the ``extraregisteraccounts`` string (the ``API_RegisterEx``
  format ``server,usr,pwd,ival;server2,usr2,pwd2, ival;``), numbered after the highest
  ``serveraddressN`` index.

Reference rules kept: ``registerinterval`` is valid in 1..30000, values below 10 mean
120, default 120 (primary) and 3600 (secondary accounts, "ival is optional, default
3600"); at most 99 secondary accounts; ``proxyaddress`` applies to the primary account
only; "all other parameters are applied globally", so ``transport`` and ``displayname``
apply to every account, while the credential-bound ``md5``, ``sipusername`` and
``realm`` stay with the primary account (an HA1 or auth name made for one server
cannot authenticate another). The value ``DEF`` or ``NULL`` counts as unset.

:class:`RegistrationSettings` holds the global parameters the registration state
machine needs (``register``, ``acceptsrvexpire``, ``needunregister``,
``waitforunregister``, ``use_rport``, ``authtype``).

Every problem raises :class:`ValueError` naming the parameter.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

from .sip.auth import DigestClient
from .sip.errors import ParseError
from .sip.uri import SipUri, parse_uri

__all__ = [
    "Account", "RegistrationSettings", "accounts_from_params", "parse_extra_accounts",
    "register_interval", "DEFAULT_REGISTER_INTERVAL", "DEFAULT_SECONDARY_INTERVAL",
    "MAX_SECONDARY_ACCOUNTS", "TRANSPORTS",
]

#: ``registerinterval`` default (seconds) for the primary account.
DEFAULT_REGISTER_INTERVAL = 120
#: Default interval of secondary accounts ("ival ... default is 3600").
DEFAULT_SECONDARY_INTERVAL = 3600
#: "Up to 99 secondary accounts".
MAX_SECONDARY_ACCOUNTS = 99
#: The reference's ``transport`` values.
TRANSPORTS = {-1: "auto", 0: "UDP", 1: "TCP", 2: "TLS", 3: "HTTP tunnel", 4: "HTTP proxy",
              5: "auto (UDP, HTTP failover)"}

_UNSET = {"", "def", "null"}
_HA1 = re.compile(r"[0-9a-fA-F]{32}")
_BAD_USER = re.compile(r"[\s\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Account:
    """One SIP account as the reference configures it.

    ``server`` is ``host[:port]`` of the registrar/domain; ``password`` or ``ha1``
    (the ``md5`` parameter, MD5(authname:realm:password)) authenticate; ``authname``
    is ``sipusername`` (None: ``username`` is used); ``realm`` None means "the
    server's"; ``register_interval`` is the normalised interval in seconds;
    ``proxy`` is the outbound proxy ``host[:port]``; ``transport`` is the reference's
    number (-1 auto, 0 UDP, 1 TCP, 2 TLS, ...); ``index`` 1 is the primary account.
    """

    server: str
    username: str
    password: str | None = field(default=None, repr=False)
    ha1: str | None = field(default=None, repr=False)
    authname: str | None = None
    realm: str | None = None
    displayname: str | None = None
    register_interval: int = DEFAULT_REGISTER_INTERVAL
    proxy: str | None = None
    transport: int = -1
    index: int = 1

    @property
    def is_primary(self) -> bool:
        """True for the primary account (the one that reports STATUS)."""
        return self.index == 1

    @property
    def server_uri(self) -> SipUri:
        """The registrar's URI, ``sip:host[:port]`` (the REGISTER Request-URI)."""
        return _hostport_uri(self.server)

    @property
    def domain(self) -> str:
        """The server's host (the AoR's domain), without port."""
        return self.server_uri.host

    @property
    def aor(self) -> SipUri:
        """The address-of-record ``sip:username@domain`` (From and To of REGISTER)."""
        return SipUri(host=self.domain, user=self.username)

    @property
    def proxy_uri(self) -> SipUri | None:
        """``sip:proxy;lr`` for the Route header, or None without an outbound proxy."""
        if self.proxy is None:
            return None
        return _hostport_uri(self.proxy).copy(params={"lr": None})

    @property
    def transport_name(self) -> str:
        """Via transport token: TCP (1), TLS (2), else UDP."""
        return {1: "TCP", 2: "TLS"}.get(self.transport, "UDP")

    @property
    def has_credentials(self) -> bool:
        """True when a password or an HA1 is set."""
        return self.password is not None or self.ha1 is not None

    def digest_client(self, new_cnonce: Callable[[], str], authtype: int = 0) -> DigestClient:
        """A :class:`DigestClient` for this account (needs :attr:`has_credentials`)."""
        return DigestClient(self.username, self.password, ha1=self.ha1, realm=self.realm,
                            authname=self.authname, authtype=authtype, new_cnonce=new_cnonce)


def _hostport_uri(text: str) -> SipUri:
    uri = parse_uri("sip:" + text)
    assert isinstance(uri, SipUri)
    return uri


# --------------------------------------------------------------------------- values

def _get(params: Mapping[str, object], name: str) -> str | None:
    """The parameter's value stripped, or None when absent, empty, DEF or NULL."""
    v = params.get(name)
    if v is None:
        return None
    s = str(v).strip()
    return None if s.lower() in _UNSET else s


def _int(value: str, name: str) -> int:
    try:
        return int(value, 10)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def _choice(params: Mapping[str, object], name: str, allowed: tuple[int, ...],
            default: int) -> int:
    v = _get(params, name)
    if v is None:
        return default
    n = _int(v, name)
    if n not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}, got {n}")
    return n


def _bool(params: Mapping[str, object], name: str, default: bool) -> bool:
    v = _get(params, name)
    if v is None:
        return default
    low = v.lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {v!r}")


def register_interval(value: str | int | None, name: str = "registerinterval",
                      default: int = DEFAULT_REGISTER_INTERVAL) -> int:
    """Normalise a ``registerinterval``: valid 1..30000 s, below 10 means 120, None -> default."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _UNSET):
        return default
    n = value if isinstance(value, int) else _int(value.strip(), name)
    if not 1 <= n <= 30000:
        raise ValueError(f"{name} must be between 1 and 30000 seconds, got {n}")
    return DEFAULT_REGISTER_INTERVAL if n < 10 else n


def _check_hostport(value: str, name: str) -> str:
    """Validate ``host[:port]`` (hostname, IPv4 or [IPv6], port 1..65535)."""
    try:
        uri = _hostport_uri(value)
    except ParseError as e:
        raise ValueError(f"{name} must be host[:port], got {value!r} ({e.detail})") from None
    if uri.user or uri.params or uri.headers or uri.password is not None:
        raise ValueError(f"{name} must be host[:port] without user or parameters, got {value!r}")
    if uri.port is not None and not 1 <= uri.port <= 65535:
        raise ValueError(f"{name}: port {uri.port} out of range 1..65535")
    return value


def _check_user(value: str, name: str) -> str:
    if _BAD_USER.search(value):
        raise ValueError(f"{name} must not contain whitespace or control characters")
    return value


def _check_ha1(value: str | None, name: str) -> str | None:
    if value is not None and not _HA1.fullmatch(value):
        raise ValueError(f"{name} must be 32 hex digits: MD5(username:realm:password)")
    return value


# --------------------------------------------------------------------------- accounts

def parse_extra_accounts(text: str, first_index: int = 2, *, displayname: str | None = None,
                         transport: int = -1, name: str = "extraregisteraccounts"
                         ) -> list[Account]:
    """Parse ``server,usr,pwd[,ival];...`` (``API_RegisterEx``, ``extraregisteraccounts``).

    Spaces around items are ignored, empty entries (e.g. after a trailing ``;``) are
    skipped, ``ival`` is optional (3600). Indices count up from ``first_index``. Note that
    this format cannot carry a password containing ``,`` or ``;``.
    """
    out: list[Account] = []
    for n, entry in enumerate((e for e in text.split(";") if e.strip()), 1):
        parts = [p.strip() for p in entry.split(",")]
        where = f"{name}: account {n} ({parts[0]!r})"
        if len(parts) < 3 or len(parts) > 4:
            raise ValueError(f"{where}: expected server,usr,pwd[,ival], got {len(parts)} fields")
        server, user, pwd = parts[:3]
        if not server:
            raise ValueError(f"{where}: empty server")
        if not user:
            raise ValueError(f"{where}: empty username")
        ival = parts[3] if len(parts) == 4 else None
        out.append(Account(
            server=_check_hostport(server, f"{where}: server"),
            username=_check_user(user, f"{where}: username"), password=pwd or None,
            displayname=displayname, transport=transport,
            register_interval=register_interval(ival or None, f"{where}: ival",
                                                DEFAULT_SECONDARY_INTERVAL),
            index=first_index + n - 1))
    return out


def accounts_from_params(params: Mapping[str, str]) -> list[Account]:
    """All accounts configured by ``params``, primary (index 1) first, then by index.

    The primary account exists when ``username`` is set (``serveraddress`` is then
    required); ``serveraddress`` alone configures calls by URI, no account. Raises
    :class:`ValueError` naming the offending parameter.
    """
    transport = _choice(params, "transport", tuple(TRANSPORTS), -1)
    displayname = _get(params, "displayname")
    accounts: list[Account] = []
    server, user = _get(params, "serveraddress"), _get(params, "username")
    if user is not None:
        if server is None:
            raise ValueError("username is set but serveraddress is empty")
        proxy = _get(params, "proxyaddress")
        accounts.append(Account(
            server=_check_hostport(server, "serveraddress"),
            username=_check_user(user, "username"),
            password=_get(params, "password"), ha1=_check_ha1(_get(params, "md5"), "md5"),
            authname=_check_user(a, "sipusername") if (a := _get(params, "sipusername")) else None,
            realm=_get(params, "realm"), displayname=displayname,
            register_interval=register_interval(_get(params, "registerinterval")),
            proxy=_check_hostport(proxy, "proxyaddress") if proxy is not None else None,
            transport=transport, index=1))
    for n in range(2, MAX_SECONDARY_ACCOUNTS + 2):
        server, user = _get(params, f"serveraddress{n}"), _get(params, f"username{n}")
        if server is None and user is None:
            continue
        if server is None:
            raise ValueError(f"username{n} is set but serveraddress{n} is empty")
        if user is None:
            raise ValueError(f"serveraddress{n} is set but username{n} is empty")
        accounts.append(Account(
            server=_check_hostport(server, f"serveraddress{n}"),
            username=_check_user(user, f"username{n}"), password=_get(params, f"password{n}"),
            displayname=displayname, transport=transport, index=n,
            register_interval=register_interval(_get(params, f"registerinterval{n}"),
                                                f"registerinterval{n}",
                                                DEFAULT_SECONDARY_INTERVAL)))
    extra = _get(params, "extraregisteraccounts")
    if extra is not None:
        first = max((a.index for a in accounts), default=1) + 1
        accounts += parse_extra_accounts(extra, first, displayname=displayname,
                                         transport=transport)
    secondary = sum(1 for a in accounts if a.index != 1)
    if secondary > MAX_SECONDARY_ACCOUNTS:
        raise ValueError(f"too many secondary accounts ({secondary}; serveraddressN and "
                         f"extraregisteraccounts together allow {MAX_SECONDARY_ACCOUNTS})")
    return accounts


# --------------------------------------------------------------------------- settings

@dataclass(frozen=True)
class RegistrationSettings:
    """Global registration parameters (the same for every account).

    ``register``: 0 never, 1 when credentials are set, 2 always. ``acceptsrvexpire``:
    0 keep our interval, 1 prefer the server's Contact ``expires``, 2 prefer its
    ``Expires`` header. ``needunregister`` False: stop without sending. ``wait_for_
    unregister`` is ``waitforunregister`` in seconds (0: send and do not wait).
    ``use_rport``: 0 do not request, 1 use the public address once two answers agree,
    2/3 use it at once, 9 request but never use. ``unregister_all`` unregisters with
    ``Contact: *``. Backoff after failures: ``backoff_min`` doubling to ``backoff_max``
    seconds, minus up to ``backoff_jitter`` of it (random fraction).
    """

    register: int = 1
    acceptsrvexpire: int = 1
    needunregister: bool = True
    wait_for_unregister: float = 2.0
    use_rport: int = 1
    authtype: int = 0
    unregister_all: bool = False
    user_agent: str | None = None
    backoff_min: float = 30.0
    backoff_max: float = 1800.0
    backoff_jitter: float = 0.25

    @classmethod
    def from_params(cls, params: Mapping[str, str], **overrides: object) -> RegistrationSettings:
        """Read ``register``, ``acceptsrvexpire``, ``needunregister``, ``waitforunregister``
        (ms), ``use_rport`` and ``authtype``; ``overrides`` set the other fields."""
        wait = _get(params, "waitforunregister")
        wait_ms = 2000 if wait is None else _int(wait, "waitforunregister")
        if wait_ms < 0:
            raise ValueError(f"waitforunregister must be >= 0 ms, got {wait_ms}")
        return cls(register=_choice(params, "register", (0, 1, 2), 1),
                   acceptsrvexpire=_choice(params, "acceptsrvexpire", (0, 1, 2), 1),
                   needunregister=_bool(params, "needunregister", True),
                   wait_for_unregister=wait_ms / 1000.0,
                   use_rport=_choice(params, "use_rport", (0, 1, 2, 3, 9), 1),
                   authtype=_choice(params, "authtype", (0, 1, 2), 0),
                   **overrides)  # type: ignore[arg-type]

    def wants_registration(self, account: Account) -> bool:
        """Whether ``account`` registers per ``register`` (1: auto, yes with credentials)."""
        return self.register == 2 or (self.register == 1 and account.has_credentials)
