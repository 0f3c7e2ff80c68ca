"""Digest access authentication for SIP (RFC 3261 section 22, RFC 2617, RFC 7616, RFC 8760).

Sans-IO: no clock, no random source; the client nonce comes from an injected
``new_cnonce`` callable. :func:`parse_challenges` / :func:`parse_authorization`
read header values (non-Digest schemes are skipped), :func:`compute_response`
is the RFC 7616 formula (MD5, SHA-256, SHA-512-256 and ``-sess`` variants; qop
absent (RFC 2069), ``auth``, ``auth-int``), :class:`DigestClient` is the
per-account state (challenge choice, ``nc`` per nonce, ``stale`` retries,
rejection detection) and :func:`verify` is the server-side check.

Choices: among several challenges for one realm we answer the *strongest*
supported algorithm (RFC 8760 section 2.4: "topmost supported, unless a local
policy dictates otherwise"; strength is our policy, server order breaks ties);
with both ``auth`` and ``auth-int`` offered we use ``auth`` unless
``prefer_auth_int``.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import KW_ONLY, dataclass, field
from typing import Callable, Hashable, Iterable, Mapping, Sequence

from .errors import LocalProtocolError, ParseError, SipError

__all__ = [
    "ALGORITHMS", "AUTHTYPE_NORMAL", "AUTHTYPE_PROXY_ONLY", "AUTHTYPE_WWW_ONLY",
    "AuthenticationFailed", "ChallengeNotAllowed", "CredentialsRejected", "DigestChallenge",
    "DigestClient", "DigestCredentials", "RealmMismatch", "UnsupportedChallenge",
    "compute_response", "digest_ha1", "parse_authorization", "parse_challenges",
    "select_challenge", "verify",
]

# --------------------------------------------------------------------------- errors


class AuthenticationFailed(SipError):
    """We cannot (or must not) authenticate: the request fails with the challenge's status."""

    def __init__(self, detail: str, realm: str | None = None, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.realm = realm
        self.status = status


class CredentialsRejected(AuthenticationFailed):
    """The server challenged again (``stale`` not true) after we answered: wrong credentials."""


class ChallengeNotAllowed(AuthenticationFailed):
    """``authtype`` forbids answering this kind of challenge (401 or 407)."""


class RealmMismatch(AuthenticationFailed, LocalProtocolError):
    """The configured ``realm`` (or the realm the ``md5`` HA1 was made with) is not the server's."""


class UnsupportedChallenge(ParseError):
    """The challenges parse, but none is a Digest challenge we can answer (algorithm, qop)."""


# --------------------------------------------------------------------------- algorithms

AUTHTYPE_NORMAL = 0       #: answer 401 (WWW-Authenticate) and 407 (Proxy-Authenticate)
AUTHTYPE_PROXY_ONLY = 1   #: answer only 407
AUTHTYPE_WWW_ONLY = 2     #: answer only 401 ("simple" auth)


# algorithm token (RFC 7616 section 6.1 registry) -> hashlib name; strongest first
_BASE_HASH = {"SHA-512-256": "sha512_256", "SHA-256": "sha256", "MD5": "md5"}
_STRENGTH = {"SHA-512-256": 3, "SHA-256": 2, "MD5": 1}
#: Every algorithm token this build can answer, canonical spelling.
ALGORITHMS: tuple[str, ...] = tuple(
    name + sess for name, h in _BASE_HASH.items() if h in hashlib.algorithms_available
    for sess in ("", "-sess"))
_CANONICAL = {a.upper(): a for a in ALGORITHMS}
_CANONICAL["SHA-512/256"] = "SHA-512-256"
_CANONICAL["SHA-512/256-SESS"] = "SHA-512-256-sess"


def _canonical_algorithm(token: str) -> str:
    return _CANONICAL.get(token.upper(), token)


def _base(algorithm: str) -> str:
    return algorithm[:-5] if algorithm.endswith("-sess") else algorithm


def _h(algorithm: str, data: bytes) -> str:
    return hashlib.new(_BASE_HASH[_base(algorithm)], data).hexdigest()


def _utf8(s: str) -> bytes:
    return s.encode("utf-8")


def digest_ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """``H(username:realm:password)`` (what the reference's ``md5`` parameter holds for MD5)."""
    algorithm = _canonical_algorithm(algorithm)
    if algorithm not in ALGORITHMS:
        raise LocalProtocolError(f"unsupported digest algorithm {algorithm!r}")
    return _h(algorithm, _utf8(f"{username}:{realm}:{password}"))


def compute_response(*, algorithm: str, ha1: str, nonce: str, method: str, uri: str,
                     qop: str | None = None, nc: int | None = None, cnonce: str | None = None,
                     body: bytes = b"") -> str:
    """The ``response`` value (RFC 7616 section 3.4.1; RFC 2069 when ``qop`` is None).

    ``ha1`` is ``H(username:realm:password)``; for ``-sess`` algorithms the session
    key ``H(ha1:nonce:cnonce)`` is derived here.
    """
    algorithm = _canonical_algorithm(algorithm)
    if algorithm not in ALGORITHMS:
        raise LocalProtocolError(f"unsupported digest algorithm {algorithm!r}")
    if algorithm.endswith("-sess"):
        if cnonce is None:
            raise LocalProtocolError(f"{algorithm} needs a cnonce")
        ha1 = _h(algorithm, _utf8(f"{ha1}:{nonce}:{cnonce}"))
    if qop == "auth-int":
        ha2 = _h(algorithm, _utf8(f"{method}:{uri}:") + _h(algorithm, body).encode())
    elif qop in (None, "auth"):
        ha2 = _h(algorithm, _utf8(f"{method}:{uri}"))
    else:
        raise LocalProtocolError(f"unsupported qop {qop!r}")
    if qop is None:
        return _h(algorithm, _utf8(f"{ha1}:{nonce}:{ha2}"))
    if nc is None or cnonce is None:
        raise LocalProtocolError("qop needs nc and cnonce")
    return _h(algorithm, _utf8(f"{ha1}:{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}"))


# --------------------------------------------------------------------------- grammar
# RFC 3261 section 25.1 / RFC 7235 section 2.1:
#   challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
#   auth-param = token BWS "=" BWS ( token / quoted-string )
#   quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE ; quoted-pair = "\" CHAR
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")
_BARE_VALUE = re.compile(r'[^\s,"]+')   # tokens, plus the odd unquoted nonce/URI seen in the wild
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_WS = " \t\r\n"

_Param = tuple[str, str]


def _skip_ws(s: str, i: int) -> int:
    while i < len(s) and s[i] in _WS:
        i += 1
    return i


_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)


def _read_quoted(s: str, i: int, what: str) -> tuple[str, int]:
    """Read the quoted-string starting at ``s[i] == '"'``; returns (unescaped, index after)."""
    m = _QUOTED.match(s, i)
    if not m:
        raise ParseError(f"unterminated quoted-string in {what} (opened at offset {i})")
    return _QUOTED_PAIR.sub(r"\1", m.group(1)), m.end()


def _split_auth_header(value: str, what: str) -> list[tuple[str, list[_Param]]]:
    """Split one header value into ``[(scheme, [(name_lower, value), ...]), ...]``.

    Several challenges may share one value (``Digest ..., Basic ...``): a token
    after a comma that is not followed by ``=`` starts the next challenge.
    """
    out: list[tuple[str, list[_Param]]] = []
    s, i, n = value, 0, len(value)
    while True:
        while i < n and (s[i] in _WS or s[i] == ","):
            i += 1
        if i >= n:
            return out
        m = _TOKEN.match(s, i)
        if not m:
            raise ParseError(f"{what}: expected an auth scheme at offset {i}, got {s[i:i + 10]!r}")
        scheme, i = m.group(), m.end()
        params: list[_Param] = []
        comma_seen = False      # a comma since the scheme
        expect_param = True     # right after the scheme or after a comma
        while True:
            i = _skip_ws(s, i)
            if i >= n:
                break
            if s[i] == ",":
                i, comma_seen, expect_param = i + 1, True, True
                continue
            m = _TOKEN.match(s, i)
            if m:
                eq = _skip_ws(s, m.end())
                j = _skip_ws(s, eq + 1)
                if eq < n and s[eq] == "=" and j < n and s[j] not in ",=":
                    if not expect_param:
                        raise ParseError(f"{what}: missing ',' before parameter {m.group()!r} "
                                         f"at offset {i}")
                    name = m.group().lower()
                    if s[j] == '"':
                        val, i = _read_quoted(s, j, what)
                    else:
                        mv = _BARE_VALUE.match(s, j)
                        if not mv:
                            raise ParseError(f"{what}: parameter {name!r} has a malformed value")
                        val, i = mv.group(), mv.end()
                    params.append((name, val))
                    expect_param = False
                    continue
                if comma_seen or params:
                    if eq < n and s[eq] == "=" and (j >= n or s[j] == ","):
                        raise ParseError(f"{what}: parameter {m.group()!r} has no value")
                    if not expect_param:
                        raise ParseError(f"{what}: unexpected {s[i:i + 10]!r} at offset {i}")
                    break  # the next challenge starts at i
            m68 = _TOKEN68.match(s, i)
            if m68 and not params and not comma_seen:
                params.append(("", m68.group()))  # token68 credentials of a non-Digest scheme
                i, expect_param = m68.end(), False
                continue
            raise ParseError(f"{what}: unexpected {s[i:i + 10]!r} at offset {i}")
        out.append((scheme, params))


def _params_dict(params: list[_Param], what: str) -> dict[str, str]:
    d: dict[str, str] = {}
    for name, val in params:
        if not name:
            raise ParseError(f"{what}: expected name=value parameters, got {val!r}")
        if name in d:
            raise ParseError(f"{what}: duplicate parameter {name!r}")
        d[name] = val
    return d


def _bool(v: str | None) -> bool:
    return v is not None and v.strip().lower() == "true"


# --------------------------------------------------------------------------- challenges


@dataclass(frozen=True)
class DigestChallenge:
    """One Digest challenge (RFC 7616 section 3.3 fields)."""

    realm: str
    nonce: str
    algorithm: str = "MD5"            #: canonical spelling when known, else as sent
    algorithm_given: bool = False     #: whether the server sent ``algorithm=``
    opaque: str | None = None
    qop: tuple[str, ...] = ()         #: lower-case qop options; () = RFC 2069 mode
    stale: bool = False
    domain: tuple[str, ...] = ()
    userhash: bool = False
    charset: str | None = None
    extra: tuple[tuple[str, str], ...] = ()  #: unknown auth-params, in order

    @property
    def supported(self) -> bool:
        """True if we implement the algorithm and (when qop is present) one of its qops."""
        if self.algorithm not in ALGORITHMS:
            return False
        return not self.qop or any(q in ("auth", "auth-int") for q in self.qop)

    @property
    def strength(self) -> int:
        """Hash strength rank (higher is stronger); 0 when unsupported."""
        return _STRENGTH.get(_base(self.algorithm), 0) if self.supported else 0


def _challenge_from(params: dict[str, str], what: str) -> DigestChallenge:
    if "realm" not in params:
        raise ParseError(f"{what}: Digest challenge without realm")
    if "nonce" not in params:
        raise ParseError(f"{what}: Digest challenge without nonce")
    known = {"realm", "nonce", "algorithm", "opaque", "qop", "stale", "domain", "userhash",
             "charset"}
    alg = params.get("algorithm")
    return DigestChallenge(
        realm=params["realm"], nonce=params["nonce"],
        algorithm=_canonical_algorithm(alg.strip()) if alg is not None else "MD5",
        algorithm_given=alg is not None, opaque=params.get("opaque"),
        qop=tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()),
        stale=_bool(params.get("stale")),
        domain=tuple(params.get("domain", "").split()),
        userhash=_bool(params.get("userhash")), charset=params.get("charset"),
        extra=tuple((k, v) for k, v in params.items() if k not in known))


def parse_challenges(values: str | Iterable[str], header_name: str = "WWW-Authenticate"
                     ) -> list[DigestChallenge]:
    """Parse challenge header values (one or several headers) into Digest challenges.

    Non-Digest schemes (Basic, Bearer, ...) are skipped; a malformed value raises
    :class:`ParseError` naming what was wrong. Order is preserved (topmost first).
    """
    if isinstance(values, str):
        values = [values]
    out: list[DigestChallenge] = []
    for value in values:
        for scheme, params in _split_auth_header(value, header_name):
            if scheme.lower() == "digest":
                out.append(_challenge_from(_params_dict(params, header_name), header_name))
    return out


def select_challenge(challenges: Sequence[DigestChallenge], realm: str | None = None,
                     algorithms: Iterable[str] = ALGORITHMS) -> DigestChallenge:
    """Pick the challenge to answer: strongest supported algorithm, server order on ties.

    With ``realm`` only that realm's challenges count. Raises
    :class:`UnsupportedChallenge` when no challenge can be answered.
    """
    usable = set(algorithms)
    pool = [c for c in challenges if realm is None or c.realm == realm]
    best = None
    for c in pool:
        if c.supported and c.algorithm in usable and (best is None or c.strength > best.strength):
            best = c
    if best is None:
        offered = ", ".join(f"{c.algorithm}" + (f" qop={','.join(c.qop)}" if c.qop else "")
                            for c in pool) or "none"
        raise UnsupportedChallenge(f"no supported Digest challenge (offered: {offered}; "
                                   f"we support {', '.join(sorted(usable))})")
    return best


# --------------------------------------------------------------------------- credentials


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class DigestCredentials:
    """The fields of an ``Authorization``/``Proxy-Authorization`` Digest value."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str | None = None
    cnonce: str | None = None
    opaque: str | None = None
    qop: str | None = None
    nc: int | None = None
    userhash: bool = False
    extra: tuple[tuple[str, str], ...] = ()

    def serialize(self) -> str:
        """The header value, ``Digest username="...", ...`` (RFC 3261 section 22.4 order)."""
        quoted = [("username", self.username), ("realm", self.realm), ("nonce", self.nonce),
                  ("uri", self.uri), ("response", self.response)]
        parts = [f"{k}={_quote(v)}" for k, v in quoted]
        for k, v, q in (("algorithm", self.algorithm, False), ("cnonce", self.cnonce, True),
                        ("opaque", self.opaque, True), ("qop", self.qop, False)):
            if v is not None:
                parts.append(f"{k}={_quote(v) if q else v}")
        if self.nc is not None:
            parts.append(f"nc={self.nc:08x}")
        if self.userhash:
            parts.append("userhash=true")
        parts.extend(f"{k}={_quote(v)}" for k, v in self.extra)
        return "Digest " + ", ".join(parts)


def parse_authorization(value: str, header_name: str = "Authorization") -> DigestCredentials:
    """Parse a Digest ``Authorization``/``Proxy-Authorization`` value."""
    parsed = _split_auth_header(value, header_name)
    if len(parsed) != 1 or parsed[0][0].lower() != "digest":
        raise ParseError(f"{header_name}: expected one Digest credentials value")
    p = _params_dict(parsed[0][1], header_name)
    for required in ("username", "realm", "nonce", "uri", "response"):
        if required not in p:
            raise ParseError(f"{header_name}: Digest credentials without {required}")
    nc = None
    if "nc" in p:
        if not re.fullmatch(r"[0-9a-fA-F]{8}", p["nc"]):
            raise ParseError(f"{header_name}: nc must be 8 hex digits, got {p['nc']!r}")
        nc = int(p["nc"], 16)
    qop = p["qop"].lower() if "qop" in p else None
    if qop is not None and (nc is None or "cnonce" not in p):
        raise ParseError(f"{header_name}: qop={qop} without nc and cnonce")
    known = {"username", "realm", "nonce", "uri", "response", "algorithm", "cnonce", "opaque",
             "qop", "nc", "userhash"}
    return DigestCredentials(
        username=p["username"], realm=p["realm"], nonce=p["nonce"], uri=p["uri"],
        response=p["response"].lower(),
        algorithm=_canonical_algorithm(p["algorithm"]) if "algorithm" in p else None,
        cnonce=p.get("cnonce"), opaque=p.get("opaque"), qop=qop, nc=nc,
        userhash=_bool(p.get("userhash")),
        extra=tuple((k, v) for k, v in p.items() if k not in known))


def verify(authorization_value: str, method: str, password_or_ha1: str, body: bytes = b"", *,
           is_ha1: bool = False, username: str | None = None, realm: str | None = None,
           nonce: str | None = None, uri: str | None = None) -> bool:
    """Server side: is ``authorization_value`` a correct Digest answer?

    ``password_or_ha1`` is the password, or with ``is_ha1=True`` the stored
    ``H(username:realm:password)`` for the algorithm the credentials name. The
    optional ``username``/``realm``/``nonce``/``uri`` must match when given
    (``username`` is the plain name; with ``userhash=true`` its hash is checked,
    and it is required to compute HA1 from a password). Malformed values raise
    :class:`ParseError`; a wrong response returns False.
    """
    cred = parse_authorization(authorization_value)
    algorithm = cred.algorithm or "MD5"
    expected_fields = ((realm, cred.realm), (nonce, cred.nonce), (uri, cred.uri))
    if algorithm not in ALGORITHMS or any(e is not None and e != got for e, got in expected_fields):
        return False
    plain = cred.username
    if cred.userhash:
        if username is None:
            raise LocalProtocolError("userhash=true credentials: pass username= to verify()")
        if not hmac.compare_digest(cred.username.lower(),
                                   _h(algorithm, _utf8(f"{username}:{cred.realm}"))):
            return False
        plain = username
    elif username is not None and cred.username != username:
        return False
    ha1 = password_or_ha1.lower() if is_ha1 else _h(algorithm, _utf8(
        f"{plain}:{cred.realm}:{password_or_ha1}"))
    try:
        expected = compute_response(algorithm=algorithm, ha1=ha1, nonce=cred.nonce, method=method,
                                    uri=cred.uri, qop=cred.qop, nc=cred.nc, cnonce=cred.cnonce,
                                    body=body)
    except LocalProtocolError:
        return False
    return hmac.compare_digest(expected, cred.response)


# --------------------------------------------------------------------------- client state

_HEADER_FOR = {"www-authenticate": "Authorization", "proxy-authenticate": "Proxy-Authorization"}
_STATUS_FOR = {"www-authenticate": 401, "proxy-authenticate": 407}


@dataclass
class _RealmState:
    challenge: DigestChallenge
    nc: int = 0


@dataclass
class DigestClient:
    """Digest state for one account: answers 401/407 challenges, counts nonces.

    Parameters map to the reference's: ``username`` (From/To user), ``authname``
    (``sipusername``: goes in ``username=``; defaults to ``username``), ``password``
    or ``ha1`` (``md5`` = MD5(authname:realm:password); usable only for MD5 and
    MD5-sess challenges; with both, the password wins), ``realm`` (when set, only
    that realm is answered and a server realm that differs raises
    :class:`RealmMismatch`), ``authtype`` (0 answer 401 and 407, 1 only 407, 2 only
    401). ``new_cnonce`` returns a fresh client nonce per answer (inject e.g.
    ``lambda: secrets.token_hex(8)``; this module never draws randomness itself).

    Failure detection: after :meth:`answer` for a realm, a new challenge for the
    same realm in the same ``flow`` (default one flow; pass e.g. the Call-ID or
    line to run requests concurrently) is a rejection unless it says
    ``stale=true``; that raises :class:`CredentialsRejected` once (then the flow
    starts fresh). Call :meth:`reset` when the answered request got its final
    non-401/407 response.
    """

    username: str
    password: str | None = None
    _: KW_ONLY
    new_cnonce: Callable[[], str]
    ha1: str | None = None
    realm: str | None = None
    authname: str | None = None
    authtype: int = AUTHTYPE_NORMAL
    prefer_auth_int: bool = False
    _realms: dict[tuple[str, str], _RealmState] = field(default_factory=dict, init=False,
                                                         repr=False)
    _answered: set[tuple[Hashable, str, str]] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.password is None and self.ha1 is None:
            raise LocalProtocolError("DigestClient needs a password or an HA1 (md5)")
        if self.ha1 is not None:
            if not re.fullmatch(r"[0-9a-fA-F]{32}", self.ha1):
                raise LocalProtocolError("ha1 (md5 parameter) must be 32 hex digits: "
                                         "MD5(username:realm:password)")
            self.ha1 = self.ha1.lower()
        if self.authtype not in (AUTHTYPE_NORMAL, AUTHTYPE_PROXY_ONLY, AUTHTYPE_WWW_ONLY):
            raise LocalProtocolError(f"authtype must be 0, 1 or 2, got {self.authtype!r}")
        if not callable(self.new_cnonce):
            raise LocalProtocolError("DigestClient needs new_cnonce (a callable returning a "
                                     "fresh client nonce)")

    @classmethod
    def from_params(cls, params: Mapping[str, object], new_cnonce: Callable[[], str]
                    ) -> "DigestClient":
        """Build from reference parameters: username, password, md5, realm, sipusername, authtype."""
        def s(name: str) -> str | None:
            v = params.get(name)
            return str(v) if v not in (None, "") else None
        username = s("username")
        if username is None:
            raise LocalProtocolError("the username parameter is required")
        return cls(username=username, password=s("password"), ha1=s("md5"), realm=s("realm"),
                   authname=s("sipusername"), authtype=int(str(params.get("authtype") or 0)),
                   new_cnonce=new_cnonce)

    @property
    def auth_username(self) -> str:
        """The name used in ``username=`` and in HA1 (``sipusername`` when set)."""
        return self.authname or self.username

    def _algorithms(self) -> tuple[str, ...]:
        if self.password is not None:
            return ALGORITHMS
        return tuple(a for a in ALGORITHMS if _base(a) == "MD5")

    def _kind(self, challenge_header_name: str) -> str:
        kind = challenge_header_name.strip().lower()
        if kind not in _HEADER_FOR:
            raise LocalProtocolError(f"not a challenge header: {challenge_header_name!r} "
                                     "(expected WWW-Authenticate or Proxy-Authenticate)")
        return kind

    def _check_authtype(self, kind: str) -> None:
        if self.authtype == AUTHTYPE_PROXY_ONLY and kind == "www-authenticate":
            raise ChallengeNotAllowed("authtype=1 (only proxy auth): not answering a 401 "
                                      "WWW-Authenticate challenge", status=401)
        if self.authtype == AUTHTYPE_WWW_ONLY and kind == "proxy-authenticate":
            raise ChallengeNotAllowed("authtype=2 (only simple auth): not answering a 407 "
                                      "Proxy-Authenticate challenge", status=407)

    def _realm_challenges(self, kind: str, challenge_values: str | Iterable[str]
                          ) -> dict[str, list[DigestChallenge]]:
        name = "WWW-Authenticate" if kind == "www-authenticate" else "Proxy-Authenticate"
        challenges = parse_challenges(challenge_values, name)
        if not challenges:
            raise UnsupportedChallenge(f"{name}: no Digest challenge")
        by_realm: dict[str, list[DigestChallenge]] = {}
        for c in challenges:
            by_realm.setdefault(c.realm, []).append(c)
        if self.realm is not None:
            if self.realm not in by_realm:
                raise RealmMismatch(
                    f"configured realm {self.realm!r} does not match the server's "
                    f"{', '.join(repr(r) for r in by_realm)}; fix the realm parameter "
                    "(and the md5 parameter, which must be computed with the server's realm)",
                    realm=next(iter(by_realm)), status=_STATUS_FOR[kind])
            return {self.realm: by_realm[self.realm]}
        if self.password is None and self.ha1 is not None:
            # An HA1 is bound to one realm; answering several realms with it cannot work.
            first = next(iter(by_realm))
            return {first: by_realm[first]}
        return by_realm

    def answer(self, challenge_header_name: str, challenge_values: str | Iterable[str],
               method: str, uri: str, body: bytes = b"", *, flow: Hashable = None
               ) -> tuple[str, str]:
        """Answer a 401/407: returns ``(header_name, header_value)`` for the retried request.

        ``challenge_values`` are all the response's values of ``challenge_header_name``.
        Answers the configured realm, or else the topmost challenge's realm (see
        :meth:`answer_all` for several realms).
        """
        return self.answer_all(challenge_header_name, challenge_values, method, uri, body,
                               flow=flow)[0]

    def answer_all(self, challenge_header_name: str, challenge_values: str | Iterable[str],
                   method: str, uri: str, body: bytes = b"", *, flow: Hashable = None
                   ) -> list[tuple[str, str]]:
        """Like :meth:`answer`, one header per challenged realm (forked/chained proxies)."""
        kind = self._kind(challenge_header_name)
        self._check_authtype(kind)
        out = []
        for realm, challenges in self._realm_challenges(kind, challenge_values).items():
            chosen = select_challenge(challenges, algorithms=self._algorithms())
            key = (flow, kind, realm)
            if key in self._answered and not chosen.stale:
                self._answered.discard(key)
                self._realms.pop((kind, realm), None)
                raise CredentialsRejected(
                    f"credentials for realm {realm!r} rejected (challenged again without "
                    f"stale=true) as user {self.auth_username!r}", realm=realm,
                    status=_STATUS_FOR[kind])
            self._answered.add(key)
            old = self._realms.get((kind, realm))
            # nc counts per nonce: a new nonce starts again at 1, a known one keeps counting
            nc = old.nc if old is not None and old.challenge.nonce == chosen.nonce else 0
            self._realms[(kind, realm)] = _RealmState(chosen, nc)
            out.append((_HEADER_FOR[kind], self._authorize(kind, realm, method, uri, body)))
        return out

    def authorization(self, method: str, uri: str, body: bytes = b"") -> list[tuple[str, str]]:
        """Credentials for a new request from the cached challenges (nc keeps counting).

        Lets re-REGISTERs and in-dialog requests carry credentials pre-emptively.
        A challenge that answers these does not count as a rejection.
        """
        return [(_HEADER_FOR[kind], self._authorize(kind, realm, method, uri, body))
                for (kind, realm) in list(self._realms)]

    def reset(self, flow: Hashable = None) -> None:
        """The answered request of ``flow`` completed: forget that we are awaiting its result."""
        self._answered = {k for k in self._answered if k[0] != flow}

    def _authorize(self, kind: str, realm: str, method: str, uri: str, body: bytes) -> str:
        state = self._realms[(kind, realm)]
        c = state.challenge
        qop = None
        if c.qop:
            if "auth-int" in c.qop and (self.prefer_auth_int or "auth" not in c.qop):
                qop = "auth-int"
            else:
                qop = "auth"
        algorithm = c.algorithm
        if self.password is not None:
            ha1 = _h(algorithm, _utf8(f"{self.auth_username}:{realm}:{self.password}"))
        else:
            assert self.ha1 is not None
            ha1 = self.ha1
        nc = cnonce = None
        if qop is not None or algorithm.endswith("-sess"):
            cnonce = self.new_cnonce()
        if qop is not None:
            state.nc += 1
            nc = state.nc
        response = compute_response(algorithm=algorithm, ha1=ha1, nonce=c.nonce, method=method,
                                    uri=uri, qop=qop, nc=nc, cnonce=cnonce, body=body)
        username = self.auth_username
        if c.userhash:
            username = _h(algorithm, _utf8(f"{username}:{realm}"))
        return DigestCredentials(
            username=username, realm=realm, nonce=c.nonce, uri=uri, response=response,
            algorithm=algorithm if c.algorithm_given else None, cnonce=cnonce, opaque=c.opaque,
            qop=qop, nc=nc, userhash=c.userhash).serialize()
